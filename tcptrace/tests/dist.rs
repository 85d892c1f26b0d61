//! What `cargo xtask dist` made (target/dist, or $TCPTRACE_DIST), as a production host
//! gets it: the tarball's static binary run where nothing was built (a clean environment,
//! a PATH with no cargo, rustc or bpf-linker, a copy outside the repository), live and
//! `-r`, against tcpdump; as the service runs it (an unprivileged user with the three
//! capabilities); the .deb installed into a scratch root with dpkg, exactly its files,
//! then removed; the unit verified by systemd-analyze. Run in the kernel-matrix VMs too.
mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use common::{
    netns::{NetnsPair, live_matches_tcpdump, sigterm},
    stdout_ok, tcpdump,
};

/// The PATH the dist binary runs with: the system's directories only.
const CLEAN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn dist_dir() -> PathBuf {
    let dir = std::env::var_os("TCPTRACE_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::workspace_root().join("target/dist"));
    assert!(
        dir.is_dir(),
        "{} is missing: run `cargo xtask dist` first (cargo xtask test does)",
        dir.display()
    );
    dir
}

fn find(dir: &Path, ext: &str) -> PathBuf {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(ext))
        .unwrap_or_else(|| panic!("no *{ext} in {}", dir.display()))
}

/// A scratch directory of its own (tests run in parallel), removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let d = std::env::temp_dir().join(format!("tcptrace-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The tarball unpacked into a scratch directory: (scratch, the release directory).
fn unpack() -> (Scratch, PathBuf) {
    let tarball = find(&dist_dir(), "-x86_64-linux.tar.gz");
    let s = Scratch::new("dist");
    run_ok(
        Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&s.0),
    );
    let name = tarball
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_end_matches(".tar.gz")
        .to_string();
    let dir = s.0.join(name);
    (s, dir)
}

/// The ELF program headers hold no PT_INTERP: no dynamic loader, no C library needed.
fn assert_static(bin: &Path) {
    let b = fs::read(bin).unwrap();
    assert_eq!(&b[..4], b"\x7fELF");
    assert_eq!(b[4], 2, "64-bit");
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(b[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    for i in 0..phnum {
        let kind = u32::from_le_bytes(b[phoff + i * phentsize..][..4].try_into().unwrap());
        assert_ne!(kind, 3, "{} has an interpreter (PT_INTERP)", bin.display());
    }
}

/// The dist binary, in a clean environment (namespace `ns` when given).
fn clean(bin: &Path, ns: Option<&str>) -> Command {
    let mut c = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    c.env_clear().env("PATH", CLEAN_PATH).env("TZ", "UTC");
    c
}

#[test]
fn tarball_holds_the_release_files() {
    let (_s, dir) = unpack();
    let mut files: Vec<String> = Vec::new();
    for e in walk(&dir) {
        files.push(e.strip_prefix(&dir).unwrap().to_string_lossy().into_owned());
    }
    files.sort();
    // The user guide (HTML, built by mdBook): its pages, and no others in the list below.
    let guide: Vec<String> = files
        .iter()
        .filter(|f| f.starts_with("guide/"))
        .cloned()
        .collect();
    for page in [
        "index.html",
        "options.html",
        "filters.html",
        "troubleshooting.html",
    ] {
        assert!(
            guide.contains(&format!("guide/{page}")),
            "guide/{page}: {guide:?}"
        );
    }
    let options = fs::read_to_string(dir.join("guide/options.html")).unwrap();
    assert!(options.contains("--xdp-mode"), "the option reference");
    files.retain(|f| !f.starts_with("guide/"));
    assert_eq!(
        files,
        [
            "LICENSE-APACHE",
            "LICENSE-MIT",
            "README.md",
            "THIRD-PARTY.md",
            "completions/_tcptrace",
            "completions/tcptrace",
            "completions/tcptrace.fish",
            "tcptrace",
            "tcptrace-bpf.default",
            "tcptrace.8",
            "tcptrace@.service",
        ]
    );
    assert_static(&dir.join("tcptrace"));
    let page = fs::read_to_string(dir.join("tcptrace.8")).unwrap();
    for opt in ["\\-\\-metrics", "\\-\\-stats", "\\-\\-iface"] {
        assert!(page.contains(opt), "man page lacks {opt}");
    }
    let bash = fs::read_to_string(dir.join("completions/tcptrace")).unwrap();
    assert!(
        bash.contains("--xdp-mode") && bash.contains("complete "),
        "bash completion"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn static_binary_runs_where_nothing_was_built() {
    let (_s, dir) = unpack();
    let bin = dir.join("tcptrace");
    for tool in ["cargo", "rustc", "bpf-linker"] {
        for d in CLEAN_PATH.split(':') {
            assert!(
                !Path::new(d).join(tool).exists(),
                "{tool} is in {d}: the clean PATH must not hold it"
            );
        }
    }
    let out = clean(&bin, None).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("tcptrace "));

    // -r: tcpdump's lines (a capture whose payload tcpdump does not decode).
    let pcap = common::shared_dir("conformance").join("pcaps/dns_tcp_8053.pcap");
    let by_dist = stdout_ok(
        "dist tcptrace -r",
        &clean(&bin, None).arg("-r").arg(&pcap).output().unwrap(),
    );
    let by_tcpdump = stdout_ok(
        "tcpdump -r",
        &tcpdump(&["-n", "-r", pcap.to_str().unwrap(), "tcp"]),
    );
    assert!(!by_tcpdump.is_empty());
    assert!(
        by_dist == by_tcpdump,
        "-r differs from tcpdump:\n{}",
        common::diff(&by_tcpdump, &by_dist, 6)
    );

    // Live: the same lines as tcpdump on the same interface at the same time.
    let net = NetnsPair::new();
    live_matches_tcpdump(&net, clean(&bin, Some(&net.b)), 7301, sigterm);
}

#[test]
fn as_the_service_runs_it_unprivileged_with_three_capabilities() {
    // tcptrace@.service: a user of its own, CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON as
    // ambient capabilities, nothing else (setpriv does what systemd does).
    let (_s, dir) = unpack();
    let bin = dir.join("tcptrace");
    let net = NetnsPair::new();
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &net.b, "setpriv"])
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["--inh-caps=-all,+bpf,+net_admin,+perfmon"])
        .args(["--ambient-caps=+bpf,+net_admin,+perfmon"])
        .args([
            "--bounding-set=-all,+bpf,+net_admin,+perfmon",
            "--no-new-privs",
        ])
        .arg(&bin)
        .env_clear()
        .env("PATH", CLEAN_PATH)
        .env("TZ", "UTC");
    live_matches_tcpdump(&net, c, 7302, sigterm);
}

/// What the .deb holds: (files, conffiles), paths from /.
fn deb_contents(deb: &Path) -> (Vec<String>, Vec<String>) {
    let listing = run_ok(Command::new("dpkg-deb").arg("-c").arg(deb));
    let files = listing
        .lines()
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split_whitespace().last())
        .map(|p| p.trim_start_matches('.').to_string())
        .collect();
    let ctl = Scratch::new("deb-ctl");
    run_ok(Command::new("dpkg-deb").arg("-e").arg(deb).arg(&ctl.0));
    let conffiles = fs::read_to_string(ctl.0.join("conffiles"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    (files, conffiles)
}

fn files_under(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = walk(root)
        .into_iter()
        .map(|p| format!("/{}", p.strip_prefix(root).unwrap().display()))
        .filter(|p| !p.starts_with("/var/lib/dpkg/"))
        .collect();
    v.sort();
    v
}

#[test]
fn deb_installs_exactly_its_files_beside_debians_tcptrace_and_removes_them() {
    let deb = find(&dist_dir(), ".deb");
    let info = run_ok(
        Command::new("dpkg-deb")
            .args(["-f"])
            .arg(&deb)
            .args(["Package"]),
    );
    assert_eq!(info.trim(), "tcptrace-bpf");
    let (mut files, conffiles) = deb_contents(&deb);
    files.sort();
    assert!(
        files.contains(&"/usr/sbin/tcptrace".to_string()),
        "{files:?}"
    );
    assert!(files.contains(&"/usr/lib/systemd/system/tcptrace@.service".to_string()));
    assert!(files.contains(&"/usr/share/man/man8/tcptrace.8.gz".to_string()));
    for page in ["index.html", "options.html"] {
        let f = format!("/usr/share/doc/tcptrace-bpf/guide/{page}");
        assert!(files.contains(&f), "{f}: {files:?}");
    }
    // The book's style sheets (mdBook names them by content hash).
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("/usr/share/doc/tcptrace-bpf/guide/css/general")),
        "{files:?}"
    );
    assert_eq!(conffiles, ["/etc/default/tcptrace-bpf"]);

    // No path of Debian's unrelated tcptrace package (from its file list when installed).
    let theirs = Command::new("dpkg-query")
        .args(["-L", "tcptrace"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|| {
            "/usr/bin/tcptrace\n/usr/bin/xpl2gpl\n/usr/share/man/man1/tcptrace.1.gz\n".into()
        });
    for f in &files {
        assert!(
            !theirs.lines().any(|t| t == f),
            "{f} collides with Debian's tcptrace"
        );
    }

    // dpkg into a scratch root: exactly the listed files; -r leaves the conffile, -P
    // removes it too.
    let root = Scratch::new("dpkg-root");
    let r = &root.0;
    for d in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/triggers",
    ] {
        fs::create_dir_all(r.join(d)).unwrap();
    }
    fs::write(r.join("var/lib/dpkg/status"), "").unwrap();
    fs::write(r.join("var/lib/dpkg/available"), "").unwrap();
    let dpkg = |args: &[&str]| {
        run_ok(
            Command::new("dpkg")
                .arg(format!("--root={}", r.display()))
                .arg("--log=/dev/null")
                .args(args),
        )
    };
    dpkg(&["-i", deb.to_str().unwrap()]);
    assert_eq!(files_under(r), files, "installed files");
    assert_static(&r.join("usr/sbin/tcptrace"));
    let listed = dpkg(&["-L", "tcptrace-bpf"]);
    for f in &files {
        assert!(listed.lines().any(|l| l == f), "dpkg -L lacks {f}");
    }

    // The unit, as installed, verifies (with the host's own units for its dependencies).
    verify_unit(r);

    dpkg(&["-r", "tcptrace-bpf"]);
    assert_eq!(
        files_under(r),
        conffiles,
        "after dpkg -r only the conffile stays"
    );
    dpkg(&["-P", "tcptrace-bpf"]);
    assert_eq!(
        files_under(r),
        Vec::<String>::new(),
        "after dpkg -P nothing stays"
    );
}

/// systemd-analyze verify of tcptrace@eth0.service inside `root`.
fn verify_unit(root: &Path) {
    let units = root.join("usr/lib/systemd/system");
    let host_units = ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.join("sysinit.target").exists())
        .expect("the host's systemd units (Debian package systemd)");
    let mut copied = Vec::new();
    for e in fs::read_dir(host_units).unwrap() {
        let p = e.unwrap().path();
        let to = units.join(p.file_name().unwrap());
        if p.is_file() && !to.exists() {
            fs::copy(&p, &to).unwrap();
            copied.push(to);
        }
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", root.display()))
        .arg("tcptrace@eth0.service")
        .output()
        .expect("systemd-analyze (Debian package systemd)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !err.contains("tcptrace"),
        "systemd-analyze verify: {}\n{err}",
        out.status
    );
    for c in copied {
        fs::remove_file(c).unwrap();
    }
}
