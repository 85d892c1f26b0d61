//! Least privilege while tracing (`-Z`, as tcpdump's): a running tracer's
//! /proc/PID/status (Uid, CapEff, CapPrm, NoNewPrivs) in each mode — a fixed interface
//! (with and without attribution), `-i any` — then it still traces, and detaches everything
//! at exit with what it kept; the -w files (the first and a rotated one) are owned as
//! tcpdump's with the same -Z; a -Z user that does not exist is one line before anything
//! is attached.
mod common;

use std::{fs, net::IpAddr, os::unix::fs::MetadataExt as _, path::Path, process::Command};

use common::{
    netns::{NetnsPair, Proc, client_session, echo_server},
    tcpdump_bin, tcptrace_bin,
};

/// One tracer of this suite at a time: in the emulated VMs, programs verified side by side
/// can keep a tracer from listening within the helpers' event timeout.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

const CAP_NET_ADMIN: u64 = 1 << 12;
const CAP_PERFMON: u64 = 1 << 38;
const CAP_BPF: u64 = 1 << 39;

/// Without TCX (before 6.6) the egress program is a clsact filter, removed at exit over
/// netlink: CAP_NET_ADMIN stays.
fn fixed_interface_caps() -> u64 {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut v = release
        .split(['.', '-'])
        .map(|x| x.parse::<u32>().unwrap_or(0));
    let (major, minor) = (v.next().unwrap(), v.next().unwrap());
    if (major, minor) >= (6, 6) {
        0
    } else {
        CAP_NET_ADMIN
    }
}

/// uid and gid of `user` from /etc/passwd.
fn ids(user: &str) -> Option<(u32, u32)> {
    fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f[0] == user).then(|| (f[2].parse().unwrap(), f[3].parse().unwrap()))
        })
}

struct Status {
    uid: Vec<u32>,
    eff: u64,
    prm: u64,
    no_new_privs: bool,
}

fn status(pid: u32) -> Status {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in {text}"))
            .trim()
            .to_string()
    };
    Status {
        uid: field("Uid:")
            .split_whitespace()
            .map(|u| u.parse().unwrap())
            .collect(),
        eff: u64::from_str_radix(&field("CapEff:"), 16).unwrap(),
        prm: u64::from_str_radix(&field("CapPrm:"), 16).unwrap(),
        no_new_privs: field("NoNewPrivs:") == "1",
    }
}

/// Runs tcptrace with `args` on veth_b; checks its status once listening, that it still
/// traces a session, exits 0 on SIGINT and leaves nothing attached.
fn check(args: &[&str], uid: u32, caps: u64, port: u16) {
    let net = NetnsPair::new();
    let mut cmd = net.exec(&net.b, tcptrace_bin());
    let iface = if args.contains(&"any") {
        vec![]
    } else {
        vec!["-i", net.veth_b.as_str()]
    };
    let p = port.to_string();
    cmd.args(&iface)
        .args(args)
        .args(["--port", &p])
        .env("TZ", "UTC");
    let mut tt = Proc::spawn("tcptrace", cmd);
    tt.wait_stderr("listening on");
    let st = status(tt.pid());
    assert_eq!(st.uid, [uid; 4], "{args:?}: Uid");
    assert_eq!(st.eff, caps, "{args:?}: CapEff {:#x}", st.eff);
    assert_eq!(st.prm, caps, "{args:?}: CapPrm {:#x}", st.prm);
    assert!(st.no_new_privs, "{args:?}: NoNewPrivs");
    let b: IpAddr = net.b4.parse().unwrap();
    let server = echo_server(&net, b, port);
    client_session(&net, b, port);
    server.join().unwrap();
    tt.wait_stdout("Flags [F.]");
    assert_eq!(tt.interrupt(), Some(0), "{args:?}: {:?}", tt.err_lines);
    common::hooks::assert_nothing_of_ours_anywhere(&net.b);
}

#[test]
fn fixed_interface_keeps_nothing_it_no_longer_needs() {
    let _serial = serial();
    let (nobody, _) = ids("nobody").expect("the user nobody");
    check(&["-Z", "nobody"], nobody, fixed_interface_caps(), 7241);
    // Attribution on: the start-up socket scan is over before the switch.
    check(
        &["-Z", "nobody", "--process"],
        nobody,
        fixed_interface_caps(),
        7242,
    );
    // No -Z, as root: the default user when it exists, else root without capabilities.
    let uid = ids("tcptrace").map_or(0, |(u, _)| u);
    check(&[], uid, fixed_interface_caps(), 7243);
    // -Z root: no switch; the capabilities go all the same.
    check(&["-Z", "root"], 0, fixed_interface_caps(), 7244);
}

#[test]
fn any_keeps_what_attaching_new_interfaces_needs() {
    let _serial = serial();
    let (nobody, _) = ids("nobody").expect("the user nobody");
    check(
        &["-i", "any", "-Z", "nobody"],
        nobody,
        CAP_BPF | CAP_NET_ADMIN | CAP_PERFMON,
        7245,
    );
}

#[test]
fn missing_user_is_one_line_before_attaching() {
    let _serial = serial();
    let net = NetnsPair::new();
    let err = common::refused_before_attaching(&net, &["-Z", "no-such-user-tt"]);
    assert_eq!(err, "tcptrace: -Z no-such-user-tt: no such user\n");
}

/// Files in `dir` whose names start with `prefix`: (uid, gid) of each.
fn owners(dir: &Path, prefix: &str) -> Vec<(u32, u32)> {
    let mut v: Vec<(String, (u32, u32))> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| {
            let m = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                (m.uid(), m.gid()),
            )
        })
        .collect();
    v.sort();
    v.into_iter().map(|x| x.1).collect()
}

#[test]
fn written_files_are_owned_as_tcpdumps() {
    let _serial = serial();
    let net = NetnsPair::new();
    // A directory the user may write to, as /tmp.
    let dir = std::env::temp_dir().join(format!("tcptrace-own-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
    let port = 7246;
    let p = port.to_string();
    // Rotation every second: the files after the first are made after the switch.
    let mut tt = net.exec(&net.b, tcptrace_bin());
    tt.args([
        "-i",
        &net.veth_b,
        "-Z",
        "nobody",
        "--port",
        &p,
        "-G",
        "1",
        "-w",
    ])
    .arg(dir.join("tt-%s.pcapng"));
    let mut tt = Proc::spawn("tcptrace", tt);
    tt.wait_stderr("listening on");
    let mut td = net.exec(&net.b, tcpdump_bin());
    td.args(["-i", &net.veth_b, "-Z", "nobody", "-G", "1", "-w"])
        .arg(dir.join("td-%s.pcap"))
        .args(["tcp", "port", &p]);
    let mut td = Proc::spawn("tcpdump", td);
    td.wait_stderr("listening on");
    let b: IpAddr = net.b4.parse().unwrap();
    // Sessions until both have rotated at least once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while owners(&dir, "tt-").len() < 2 || owners(&dir, "td-").len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no rotation");
        let server = echo_server(&net, b, port);
        client_session(&net, b, port);
        server.join().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    assert_eq!(tt.interrupt(), Some(0), "{:?}", tt.err_lines);
    td.interrupt();
    let ours = owners(&dir, "tt-");
    let theirs = owners(&dir, "td-");
    assert!(
        ours.iter().chain(&theirs).all(|o| *o == theirs[0]),
        "tcptrace's files {ours:?}, tcpdump's {theirs:?}"
    );
    assert_eq!(Some(theirs[0]), ids("nobody"), "owned by nobody");
    let _ = Command::new("rm").arg("-rf").arg(&dir).status();
}
