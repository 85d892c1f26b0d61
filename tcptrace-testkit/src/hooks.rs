//! Other programs on tcptrace's hooks (a real drop program of the test's own, attached
//! through TCX or as a clsact filter), and what is attached to an interface.
use std::{
    fs::File,
    os::fd::AsRawFd,
    sync::mpsc,
    thread::{self, JoinHandle},
};

use aya::{
    Ebpf, include_bytes_aligned,
    maps::PerCpuArray,
    programs::{
        LinkOrder, SchedClassifier, TcAttachType,
        tc::{self, NlOptions, TcAttachOptions},
    },
};

/// tcptrace-ebpf's `test-peers` object (built with the tracer's object).
static PEERS: &[u8] = include_bytes_aligned!(concat!(env!("TCPTRACE_OBJECTS"), "/test-peers"));

/// Is this run inside the kernel matrix's VMs (set by `cargo xtask vmtest`)? There every
/// kernel module a test needs is present, so a missing one fails instead of skipping.
pub fn in_vm() -> bool {
    std::env::var_os("TCPTRACE_VM").is_some()
}

/// How a peer program is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attach {
    /// A TCX link (6.6+), appended to the chain.
    Tcx,
    /// A clsact direct-action filter (cls_bpf) at this priority (0: the kernel picks one
    /// in front of the existing filters).
    Clsact(u16),
}

type Job = Box<dyn FnOnce() + Send>;

/// A thread that lives in network namespace `ns` and runs jobs there, so that attaching
/// and detaching (netlink included) happen in that namespace, never in the host's.
struct NsThread {
    jobs: Option<mpsc::Sender<Job>>,
    handle: Option<JoinHandle<()>>,
}

impl NsThread {
    fn new(ns: &str) -> NsThread {
        let path = format!("/var/run/netns/{ns}");
        let (tx, rx) = mpsc::channel::<Job>();
        let (ok_tx, ok_rx) = mpsc::channel();
        let handle = thread::spawn(move || {
            let fd = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            // SAFETY: setns on this thread only, with a valid namespace fd.
            let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
            ok_tx
                .send(rc == 0)
                .expect("the test waits for the namespace thread");
            if rc != 0 {
                return;
            }
            for job in rx {
                job();
            }
        });
        assert!(ok_rx.recv().unwrap_or(false), "setns into {ns} failed");
        NsThread {
            jobs: Some(tx),
            handle: Some(handle),
        }
    }

    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.jobs
            .as_ref()
            .expect("running")
            .send(job)
            .expect("namespace thread alive");
        rx.recv().expect("namespace thread answered")
    }
}

impl Drop for NsThread {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The `drop_ipv4` peer program on one hook of an interface in a namespace: drops every
/// IPv4 frame it is given (recognised by the Ethernet type) and counts them. Detached
/// (in its namespace) when dropped.
pub struct DropProg {
    thread: NsThread,
    slot: std::sync::Arc<std::sync::Mutex<Option<Ebpf>>>,
}

impl DropProg {
    /// Attaches it; `Err` says why the kernel refused (e.g. no cls_bpf module).
    pub fn attach(
        ns: &str,
        iface: &str,
        hook: TcAttachType,
        how: Attach,
    ) -> Result<DropProg, String> {
        let thread = NsThread::new(ns);
        let slot = std::sync::Arc::new(std::sync::Mutex::new(None));
        let (iface, s) = (iface.to_string(), slot.clone());
        thread.run(move || -> Result<(), String> {
            let mut ebpf = Ebpf::load(PEERS).map_err(|e| format!("loading test-peers: {e}"))?;
            let prog: &mut SchedClassifier = ebpf
                .program_mut("drop_ipv4")
                .ok_or("no drop_ipv4 in test-peers")?
                .try_into()
                .map_err(|e| format!("{e}"))?;
            prog.load().map_err(|e| format!("load drop_ipv4: {e}"))?;
            let opts = match how {
                Attach::Tcx => TcAttachOptions::TcxOrder(LinkOrder::last()),
                Attach::Clsact(priority) => {
                    let _ = tc::qdisc_add_clsact(&iface);
                    TcAttachOptions::Netlink(NlOptions {
                        priority,
                        ..NlOptions::default()
                    })
                }
            };
            prog.attach_with_options(&iface, hook, opts)
                .map_err(|e| format!("attach drop_ipv4 ({how:?}, {hook:?}): {e:?}"))?;
            *s.lock().unwrap() = Some(ebpf);
            Ok(())
        })?;
        Ok(DropProg { thread, slot })
    }

    /// Frames dropped so far.
    pub fn dropped(&self) -> u64 {
        let guard = self.slot.lock().unwrap();
        let ebpf = guard.as_ref().expect("attached");
        let map: PerCpuArray<_, u64> =
            PerCpuArray::try_from(ebpf.map("DROPPED").expect("DROPPED map")).expect("per-CPU");
        map.get(&0, 0).expect("read DROPPED").iter().sum()
    }
}

impl Drop for DropProg {
    fn drop(&mut self) {
        // Detach (netlink included) inside the namespace.
        let slot = self.slot.clone();
        self.thread.run(move || drop(slot.lock().unwrap().take()));
    }
}

/// The `drop_nth` peer program (XDP) on an interface in a namespace: drops every `every`th
/// IPv4 TCP data segment to `port`, before any capture on that interface sees it.
/// Detached (in its namespace) when dropped.
pub struct NthDrop {
    thread: NsThread,
    slot: std::sync::Arc<std::sync::Mutex<Option<Ebpf>>>,
}

impl NthDrop {
    pub fn attach(ns: &str, iface: &str, every: u32, port: u16) -> Result<NthDrop, String> {
        let thread = NsThread::new(ns);
        let slot = std::sync::Arc::new(std::sync::Mutex::new(None));
        let (iface, s) = (iface.to_string(), slot.clone());
        thread.run(move || -> Result<(), String> {
            let mut ebpf = Ebpf::load(PEERS).map_err(|e| format!("loading test-peers: {e}"))?;
            let mut cfg: aya::maps::Array<_, u32> =
                aya::maps::Array::try_from(ebpf.map_mut("NTH_CONFIG").ok_or("no NTH_CONFIG")?)
                    .map_err(|e| format!("{e}"))?;
            cfg.set(0, every, 0).map_err(|e| format!("{e}"))?;
            cfg.set(1, port as u32, 0).map_err(|e| format!("{e}"))?;
            let prog: &mut aya::programs::Xdp = ebpf
                .program_mut("drop_nth")
                .ok_or("no drop_nth in test-peers")?
                .try_into()
                .map_err(|e| format!("{e}"))?;
            prog.load().map_err(|e| format!("load drop_nth: {e}"))?;
            prog.attach(&iface, aya::programs::XdpMode::Driver)
                .map_err(|e| format!("attach drop_nth: {e:?}"))?;
            *s.lock().unwrap() = Some(ebpf);
            Ok(())
        })?;
        Ok(NthDrop { thread, slot })
    }

    /// [data segments seen, dropped].
    pub fn counts(&self) -> [u64; 2] {
        let guard = self.slot.lock().unwrap();
        let ebpf = guard.as_ref().expect("attached");
        let map: aya::maps::Array<_, u64> =
            aya::maps::Array::try_from(ebpf.map("NTH_COUNT").expect("NTH_COUNT")).expect("array");
        [map.get(&0, 0).unwrap_or(0), map.get(&1, 0).unwrap_or(0)]
    }
}

impl Drop for NthDrop {
    fn drop(&mut self) {
        let slot = self.slot.clone();
        self.thread.run(move || drop(slot.lock().unwrap().take()));
    }
}

/// Names of the programs attached to `iface` in namespace `ns`: XDP, TCX on both hooks
/// (6.6+) and clsact filters.
pub fn attached(ns: &str, iface: &str) -> Vec<String> {
    let t = NsThread::new(ns);
    let iface = iface.to_string();
    t.run(move || {
        let mut names = Vec::new();
        for hook in [TcAttachType::Ingress, TcAttachType::Egress] {
            if let Ok((_, progs)) = SchedClassifier::query_tcx(&iface, hook) {
                names.extend(
                    progs
                        .iter()
                        .map(|p| format!("tcx {hook:?}: {}", p.name_as_str().unwrap_or("?"))),
                );
            }
        }
        // clsact filters (named) and XDP (bpftool gives no name: `xdp …`), as bpftool
        // lists them.
        let out = std::process::Command::new("bpftool")
            .args(["net", "show", "dev", &iface])
            .output()
            .expect("bpftool (apt-get install bpftool)");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut section = "";
        for l in text.lines() {
            if let Some(s) = l.strip_suffix(':') {
                section = if s == "xdp" { "xdp" } else { "tc" };
            } else if l.contains(" id ") {
                names.push(format!("{section} {}", l.trim()));
            }
        }
        names
    })
}

/// Fails if anything of tcptrace's is still attached to `iface` in `ns` (the tests attach
/// no XDP program of their own, so any XDP program counts).
pub fn assert_nothing_of_ours(ns: &str, iface: &str) {
    let ours: Vec<String> = attached(ns, iface)
        .into_iter()
        .filter(|l| l.contains("tcptrace") || l.starts_with("xdp "))
        .collect();
    assert!(ours.is_empty(), "still attached to {iface}: {ours:#?}");
}

/// [`assert_nothing_of_ours`] on every interface of namespace `ns`.
pub fn assert_nothing_of_ours_anywhere(ns: &str) {
    let out = std::process::Command::new("ip")
        .args(["-n", ns, "-o", "link", "show"])
        .output()
        .expect("ip link show");
    let text = String::from_utf8_lossy(&out.stdout);
    // `3: name@peer: <…` → name.
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n))
        .collect();
    assert!(
        names.contains(&"lo"),
        "no interfaces listed in {ns}: {text}"
    );
    for name in names {
        assert_nothing_of_ours(ns, name);
    }
}
