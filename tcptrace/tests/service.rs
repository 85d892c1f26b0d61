//! tcptrace@.service under a real systemd: a minimal Debian bookworm root (debootstrap,
//! cached in /var/cache/tcptrace-tests, or $TCPTRACE_NSPAWN_ROOT) booted with
//! `systemd-nspawn --boot` (a throwaway overlay on it) in the test's network namespace; the
//! .deb of `cargo xtask dist` installed with dpkg, `systemctl enable --now
//! tcptrace@IFACE` with the packaged defaults; the journal holds the events of a connection
//! made by the test; `systemctl stop` leaves nothing attached; `systemd-analyze security`
//! rates the unit as docs/service.md says. Host only: the kernel-matrix VMs have no Debian root.
mod common;

use std::{
    fs,
    net::IpAddr,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{Duration, Instant},
};

use common::netns::{NetnsPair, Proc, client_session, echo_server};

/// The cached root: debootstrapped once (about a minute), never written afterwards (each
/// boot writes to a tmpfs overlay).
fn debian_root() -> PathBuf {
    let root = std::env::var_os("TCPTRACE_NSPAWN_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/tcptrace-tests/bookworm"));
    if root.join("usr/lib/systemd/systemd").exists() {
        return root;
    }
    let tmp = root.with_extension("tmp");
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(tmp.parent().unwrap()).unwrap();
    let st = Command::new("debootstrap")
        .args([
            "--variant=minbase",
            "--include=systemd,systemd-sysv,dbus",
            "bookworm",
        ])
        .arg(&tmp)
        .status()
        .expect("debootstrap (apt-get install debootstrap)");
    assert!(st.success(), "debootstrap: {st}");
    fs::rename(&tmp, &root).unwrap();
    root
}

fn deb() -> PathBuf {
    let dir = std::env::var_os("TCPTRACE_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::workspace_root().join("target/dist"));
    fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}: run `cargo xtask dist`", dir.display()))
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .unwrap_or_else(|| panic!("no .deb in {}: run `cargo xtask dist`", dir.display()))
}

/// A booted container; powered off (or killed) on drop.
struct Machine {
    nspawn: Proc,
    leader: u32,
}

impl Machine {
    fn boot(root: &Path, netns: &str, deb: &Path) -> Machine {
        let mut c = Command::new("systemd-nspawn");
        c.arg("--directory")
            .arg(root)
            .args([
                "--boot",
                "--register=no",
                "--keep-unit",
                "--volatile=overlay",
            ])
            .args(["--console=passive", "--quiet"])
            .arg(format!("--network-namespace-path=/run/netns/{netns}"))
            // What the unit's own bounding set and filter ask for must reach its systemd.
            .arg("--capability=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN")
            .arg("--system-call-filter=bpf perf_event_open")
            .arg(format!("--bind-ro={}:/tmp/tcptrace.deb", deb.display()));
        let nspawn = Proc::spawn("systemd-nspawn", c);
        // Its systemd: the child of systemd-nspawn.
        let deadline = Instant::now() + Duration::from_secs(60);
        let leader = loop {
            let found = fs::read_dir("/proc").unwrap().find_map(|e| {
                let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
                let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                let ppid: u32 = stat.rsplit(") ").next()?.split(' ').nth(1)?.parse().ok()?;
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
                (ppid == nspawn.pid() && comm.trim() == "systemd").then_some(pid)
            });
            if let Some(pid) = found {
                break pid;
            }
            assert!(
                Instant::now() < deadline,
                "the container's systemd did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let m = Machine { nspawn, leader };
        // Booted: multi-user.target reached, nothing failed.
        loop {
            let state = m.sh("systemctl is-system-running");
            let state = String::from_utf8_lossy(&state.stdout).trim().to_string();
            if state == "running" {
                break;
            }
            assert!(
                Instant::now() < deadline && state != "degraded",
                "the container's systemd is {state:?}: {}",
                String::from_utf8_lossy(&m.sh("systemctl --failed --no-pager").stdout)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        m
    }

    /// A shell command inside the container (all its namespaces).
    fn sh(&self, script: &str) -> Output {
        Command::new("nsenter")
            .args([
                "-t",
                &self.leader.to_string(),
                "-a",
                "/bin/sh",
                "-c",
                script,
            ])
            .output()
            .unwrap()
    }

    fn sh_ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "{script}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the unit's journal holds a line containing `needle`.
    fn wait_journal(&self, unit: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let j = self.sh_ok(&format!("journalctl -u {unit} -o cat --no-pager"));
            if j.contains(needle) {
                return j;
            }
            assert!(
                Instant::now() < deadline,
                "{unit}'s journal lacks '{needle}':\n{j}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        // A throwaway overlay: no need for a clean shutdown. SIGKILL to the container's PID
        // 1 ends its whole PID namespace, and so systemd-nspawn.
        // SAFETY: signalling the container's PID 1, a process this test started.
        unsafe { libc::kill(self.leader as i32, libc::SIGKILL) };
        self.nspawn.finish();
    }
}

/// The exposure the guide states (docs/service.md: `rates the unit **1.9 (OK)**`).
fn stated_exposure() -> String {
    let readme = fs::read_to_string(common::workspace_root().join("docs/service.md")).unwrap();
    let at = readme
        .find("`systemd-analyze security` rates the unit **")
        .expect("docs/service.md states the unit's exposure");
    let rest = &readme[at..];
    let from = rest.find("**").unwrap() + 2;
    let to = from + rest[from..].find("**").unwrap();
    rest[from..to].to_string()
}

#[test]
fn unit_under_systemd_traces_to_the_journal_and_stops_clean() {
    let deb = deb();
    let root = debian_root();
    let net = NetnsPair::new();
    let m = Machine::boot(&root, &net.b, &deb);
    m.sh_ok("dpkg -i /tmp/tcptrace.deb >/dev/null");
    let unit = format!("tcptrace@{}.service", net.veth_b);
    // The packaged defaults, as installed.
    let defaults = m.sh_ok("cat /etc/default/tcptrace-bpf");
    assert!(defaults.contains("TCPTRACE_OPTS="), "{defaults}");
    m.sh_ok(&format!("systemctl enable --now {unit}"));
    m.wait_journal(&unit, "tcptrace: listening on");
    assert!(
        !common::hooks::attached(&net.b, &net.veth_b).is_empty(),
        "nothing attached while the unit runs"
    );

    let b: IpAddr = net.b4.parse().unwrap();
    let port = 7331;
    let server = echo_server(&net, b, port);
    client_session(&net, b, port);
    server.join().unwrap();
    let journal = m.wait_journal(&unit, "\"kind\":\"closed\"");
    common::netns::assert_session_events(journal.lines(), port);

    // The exposure, as the README states it.
    let security = m.sh_ok(&format!("systemd-analyze security --no-pager {unit}"));
    let overall = security
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for ").map(|x| x.1))
        .unwrap_or_else(|| panic!("{security}"));
    let figure: Vec<&str> = overall.split_whitespace().skip(1).take(2).collect();
    let figure = format!("{} ({})", figure[0], figure[1]);
    assert_eq!(
        figure,
        stated_exposure(),
        "systemd-analyze security:\n{security}"
    );

    m.sh_ok(&format!("systemctl stop {unit}"));
    let status = m.sh_ok(&format!(
        "systemctl show -p ExecMainStatus -p Result --value {unit}"
    ));
    let mut status: Vec<&str> = status.split_whitespace().collect();
    status.sort();
    assert_eq!(status, ["0", "success"], "exit status and result");
    m.wait_journal(&unit, "packets dropped by kernel");
    common::hooks::assert_nothing_of_ours_anywhere(&net.b);
}
