//! The kernel side seen from userspace: load the object, configure the filter, attach
//! (or replay frames through BPF_PROG_TEST_RUN), read the counters.
use std::{io, net::IpAddr};

use aya::{
    Ebpf, EbpfError, include_bytes_aligned,
    maps::{Array, MapData, MapError, PerCpuArray, RingBuf},
    programs::{
        ProgramError, SchedClassifier, TcAttachType, TestRun, TestRunOptions, Xdp, XdpMode,
        xdp::XdpError,
    },
};
use tcptrace_common::{
    Config, MAX_SNAP, Record, SnapRecord, counter,
    rules::{MAX_TESTS, RuleTable},
};

/// The kernel object built by build.rs from tcptrace-ebpf.
static OBJECT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tcptrace-ebpf"));

const XDP_PROG: &str = "tcptrace_xdp";
const TC_PROG: &str = "tcptrace_tc";

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("no such interface: {0}")]
    UnknownInterface(String),
    #[error(
        "permission denied loading BPF programs: run as root, or grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (see README)"
    )]
    Permission,
    #[error(
        "an XDP program is already attached to {0} (see: ip link show dev {0}; detach it with: ip link set dev {0} xdp off)"
    )]
    XdpBusy(String),
    #[error("native XDP is not supported on {iface}: {source} (try --xdp-mode generic)")]
    NativeUnsupported { iface: String, source: io::Error },
    #[error("this kernel lacks what tcptrace needs ({what}): {detail}")]
    Unsupported { what: &'static str, detail: String },
    #[error("the kernel object is missing from this build (was it built with AYA_BUILD_SKIP?)")]
    NoObject,
    #[error(transparent)]
    Filter(#[from] crate::filter::FilterError),
    #[error("{what}: {detail}")]
    Other { what: &'static str, detail: String },
}

impl KernelError {
    fn other(what: &'static str, e: impl std::fmt::Display) -> Self {
        KernelError::Other {
            what,
            detail: e.to_string(),
        }
    }
}

fn io_error(e: &ProgramError) -> Option<&io::Error> {
    match e {
        ProgramError::SyscallError(s) => Some(&s.io_error),
        ProgramError::XdpError(XdpError::NetlinkError(e)) => e.source_io(),
        _ => None,
    }
}

trait SourceIo {
    fn source_io(&self) -> Option<&io::Error>;
}
impl<E: std::error::Error + 'static> SourceIo for E {
    fn source_io(&self) -> Option<&io::Error> {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = cur {
            if let Some(io) = e.downcast_ref::<io::Error>() {
                return Some(io);
            }
            cur = e.source();
        }
        None
    }
}

fn is_eperm(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<io::Error>()
            && io.raw_os_error() == Some(libc::EPERM)
        {
            return true;
        }
        cur = e.source();
    }
    false
}

/// How the XDP program is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum XdpModeArg {
    /// Native (driver) mode, falling back to generic when the driver refuses.
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (skb) mode, works on every interface.
    Generic,
}

/// `--host` / `--port`: a segment matches when (no hosts or a host matches source or
/// destination) and (no ports or a port matches source or destination). Sugar for the
/// expression `(host H1 or …) and (port P1 or …)`, compiled to the rule table at load.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub hosts: Vec<IpAddr>,
    pub ports: Vec<u16>,
}

/// What [`Kernel::load`] takes as its filter: something that compiles to the rule table.
pub trait Rules {
    fn rules(&self) -> Result<RuleTable, KernelError>;
}

impl Rules for RuleTable {
    fn rules(&self) -> Result<RuleTable, KernelError> {
        Ok(*self)
    }
}

impl Rules for Filter {
    fn rules(&self) -> Result<RuleTable, KernelError> {
        Ok(crate::filter::compile_with(&self.hosts, &self.ports, "")?)
    }
}

/// Sums of the per-CPU counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub seen: u64,
    pub tcp: u64,
    pub matched: u64,
    pub emitted: u64,
    pub lost: u64,
    pub malformed: u64,
    pub truncated: u64,
    pub fragments: u64,
}

/// Where the programs ended up attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub ifindex: u32,
    pub xdp_mode: &'static str,
}

/// The loaded object. Dropping it detaches everything it attached.
pub struct Kernel {
    ebpf: Ebpf,
}

pub fn if_index(iface: &str) -> Result<u32, KernelError> {
    let name = std::ffi::CString::new(iface)
        .map_err(|_| KernelError::UnknownInterface(iface.to_string()))?;
    // SAFETY: `name` is a valid C string.
    let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if idx == 0 {
        return Err(KernelError::UnknownInterface(iface.to_string()));
    }
    Ok(idx)
}

impl Kernel {
    /// Loads the object, writes the filter's rule table and loads (verifies) both programs.
    /// `filter` is a compiled [`RuleTable`] (see [`crate::filter::compile`]) or the
    /// `--host`/`--port` sugar [`Filter`].
    pub fn load<R: Rules + ?Sized>(filter: &R, cfg: Config) -> Result<Kernel, KernelError> {
        let rules = filter.rules()?;
        if OBJECT.is_empty() {
            return Err(KernelError::NoObject);
        }
        // Ring buffers and BPF memory are accounted by memcg on current kernels; older ones
        // need RLIMIT_MEMLOCK raised.
        let rlim = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: plain syscall with a valid pointer; failure is harmless here.
        unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &rlim) };

        let ebpf = Ebpf::load(OBJECT).map_err(|e| match &e {
            e if is_eperm(e) => KernelError::Permission,
            EbpfError::MapError(MapError::CreateError { name, .. }) if name == "EVENTS" => {
                KernelError::Unsupported {
                    what: "BPF ring buffer",
                    detail: e.to_string(),
                }
            }
            _ => KernelError::Unsupported {
                what: "loading the BPF object",
                detail: e.to_string(),
            },
        })?;
        let mut k = Kernel { ebpf };
        k.configure(&rules, cfg)?;
        for name in [XDP_PROG, TC_PROG] {
            let load = match k.prog(name)? {
                aya::programs::Program::Xdp(p) => p.load(),
                aya::programs::Program::SchedClassifier(p) => p.load(),
                _ => unreachable!("the object holds only XDP and TC programs"),
            };
            load.map_err(|e| {
                if is_eperm(&e) {
                    KernelError::Permission
                } else {
                    KernelError::Unsupported {
                        what: "loading the BPF programs (verifier)",
                        detail: verifier_log(&e),
                    }
                }
            })?;
        }
        Ok(k)
    }

    fn prog(&mut self, name: &'static str) -> Result<&mut aya::programs::Program, KernelError> {
        self.ebpf
            .program_mut(name)
            .ok_or_else(|| KernelError::other("program missing from object", name))
    }

    fn configure(&mut self, rules: &RuleTable, cfg: Config) -> Result<(), KernelError> {
        {
            let mut map: Array<&mut MapData, RuleTable> = Array::try_from(
                self.ebpf
                    .map_mut("RULES")
                    .ok_or_else(|| KernelError::other("map missing", "RULES"))?,
            )
            .map_err(|e| KernelError::other("RULES map", e))?;
            let mut rules = *rules;
            let used = (rules.n_terms as usize).min(rules.terms.len());
            rules.stride = rules.terms[..used]
                .iter()
                .map(|t| t.len)
                .max()
                .unwrap_or(0)
                .clamp(1, MAX_TESTS as u32);
            map.set(0, rules, 0)
                .map_err(|e| KernelError::other("writing the filter rules", e))?;
        }
        let mut config: Array<&mut MapData, Config> = Array::try_from(
            self.ebpf
                .map_mut("CONFIG")
                .ok_or_else(|| KernelError::other("map missing", "CONFIG"))?,
        )
        .map_err(|e| KernelError::other("CONFIG map", e))?;
        config
            .set(0, cfg, 0)
            .map_err(|e| KernelError::other("writing the configuration", e))
    }

    /// Attaches XDP on ingress and TC on egress of `iface`.
    pub fn attach(&mut self, iface: &str, mode: XdpModeArg) -> Result<Attachment, KernelError> {
        let ifindex = if_index(iface)?;
        let xdp: &mut Xdp = self
            .prog(XDP_PROG)?
            .try_into()
            .map_err(|e| KernelError::other("XDP program", e))?;
        let busy = |e: &ProgramError| {
            matches!(
                io_error(e).and_then(io::Error::raw_os_error),
                Some(libc::EBUSY) | Some(libc::EEXIST)
            )
        };
        let xdp_err = |e: ProgramError| {
            if busy(&e) {
                KernelError::XdpBusy(iface.to_string())
            } else if is_eperm(&e) {
                KernelError::Permission
            } else {
                KernelError::other("attaching XDP", e)
            }
        };
        let xdp_mode = match mode {
            XdpModeArg::Generic => {
                xdp.attach_to_if_index(ifindex, XdpMode::Skb)
                    .map_err(xdp_err)?;
                "generic"
            }
            XdpModeArg::Native => {
                match xdp.attach_to_if_index(ifindex, XdpMode::Driver) {
                    Ok(_) => {}
                    Err(e) if busy(&e) || is_eperm(&e) => return Err(xdp_err(e)),
                    Err(e) => {
                        return Err(KernelError::NativeUnsupported {
                            iface: iface.to_string(),
                            source: io_error(&e)
                                .map(|io| {
                                    io::Error::from_raw_os_error(io.raw_os_error().unwrap_or(0))
                                })
                                .unwrap_or_else(|| io::Error::other(e.to_string())),
                        });
                    }
                }
                "native"
            }
            XdpModeArg::Auto => match xdp.attach_to_if_index(ifindex, XdpMode::Driver) {
                Ok(_) => "native",
                Err(e) if busy(&e) || is_eperm(&e) => return Err(xdp_err(e)),
                Err(e) => {
                    eprintln!(
                        "tcptrace: native XDP refused on {iface} ({}); using generic XDP",
                        io_error(&e).map_or_else(|| e.to_string(), |io| io.to_string())
                    );
                    xdp.attach_to_if_index(ifindex, XdpMode::Skb)
                        .map_err(xdp_err)?;
                    "generic"
                }
            },
        };
        let tc: &mut SchedClassifier = self
            .prog(TC_PROG)?
            .try_into()
            .map_err(|e| KernelError::other("TC program", e))?;
        tc.attach(iface, TcAttachType::Egress).map_err(|e| {
            if is_eperm(&e) {
                KernelError::Permission
            } else {
                KernelError::Unsupported {
                    what: "TC egress attach (TCX or clsact)",
                    detail: e.to_string(),
                }
            }
        })?;
        Ok(Attachment { ifindex, xdp_mode })
    }

    /// Detaches and unloads both programs; maps (ring, counters) stay readable.
    pub fn detach(&mut self) {
        for name in [XDP_PROG, TC_PROG] {
            if let Some(p) = self.ebpf.program_mut(name) {
                let _ = match p {
                    aya::programs::Program::Xdp(p) => p.unload(),
                    aya::programs::Program::SchedClassifier(p) => p.unload(),
                    _ => Ok(()),
                };
            }
        }
    }

    /// The ring buffer the records arrive in (take it once).
    pub fn take_ring(&mut self) -> Result<RingBuf<MapData>, KernelError> {
        let map = self
            .ebpf
            .take_map("EVENTS")
            .ok_or_else(|| KernelError::other("map missing", "EVENTS (already taken?)"))?;
        RingBuf::try_from(map).map_err(|e| KernelError::other("EVENTS map", e))
    }

    /// Current counter totals over all CPUs.
    pub fn counters(&self) -> Result<Counters, KernelError> {
        let map = self
            .ebpf
            .map("COUNTERS")
            .ok_or_else(|| KernelError::other("map missing", "COUNTERS"))?;
        let arr: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(map).map_err(|e| KernelError::other("COUNTERS map", e))?;
        let sum = |i: u32| -> Result<u64, KernelError> {
            let v = arr
                .get(&i, 0)
                .map_err(|e| KernelError::other("reading counters", e))?;
            Ok(v.iter().sum())
        };
        Ok(Counters {
            seen: sum(counter::SEEN)?,
            tcp: sum(counter::TCP)?,
            matched: sum(counter::MATCHED)?,
            emitted: sum(counter::EMITTED)?,
            lost: sum(counter::LOST)?,
            malformed: sum(counter::MALFORMED)?,
            truncated: sum(counter::TRUNCATED)?,
            fragments: sum(counter::FRAGMENTS)?,
        })
    }

    /// Runs the XDP program once on `frame` (BPF_PROG_TEST_RUN); returns its verdict.
    pub fn run_xdp(&mut self, frame: &[u8]) -> Result<u32, KernelError> {
        let xdp: &mut Xdp = self
            .prog(XDP_PROG)?
            .try_into()
            .map_err(|e| KernelError::other("XDP program", e))?;
        test_run(&*xdp, frame)
    }

    /// Runs the TC program once on `frame` (BPF_PROG_TEST_RUN); returns its verdict.
    pub fn run_tc(&mut self, frame: &[u8]) -> Result<u32, KernelError> {
        let tc: &mut SchedClassifier = self
            .prog(TC_PROG)?
            .try_into()
            .map_err(|e| KernelError::other("TC program", e))?;
        test_run(&*tc, frame)
    }
}

fn test_run<
    P: for<'a> TestRun<Opts<'a> = TestRunOptions<'a>, Result = aya::programs::TestRunResult>,
>(
    p: &P,
    frame: &[u8],
) -> Result<u32, KernelError> {
    let opts = TestRunOptions {
        data_in: Some(frame),
        ..Default::default()
    };
    p.test_run(opts)
        .map(|r| r.return_value)
        .map_err(|e| KernelError::other("BPF_PROG_TEST_RUN", e))
}

/// The load error with only the verifier log's last lines (the whole log runs to
/// thousands of lines).
fn verifier_log(e: &ProgramError) -> String {
    match e {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let s = verifier_log.to_string();
            // TCPTRACE_VERIFIER_LINES=N shows more of the log (for developers).
            let n = std::env::var("TCPTRACE_VERIFIER_LINES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(6);
            let tail: Vec<&str> = s.lines().rev().take(n).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!("{io_error}; verifier: {}", tail.join(" | "))
        }
        e => e.to_string(),
    }
}

/// Decodes one ring buffer item: a [`Record`], or a [`SnapRecord`] whose frame bytes are
/// returned alongside (empty for a plain record).
pub fn record_from_bytes(b: &[u8]) -> Option<(Record, &[u8])> {
    if b.len() < std::mem::size_of::<Record>() {
        return None;
    }
    // SAFETY: Record is plain data and `b` holds enough bytes; read_unaligned copes with
    // any alignment.
    let rec = unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<Record>()) };
    let mut snap: &[u8] = &[];
    if b.len() >= std::mem::size_of::<SnapRecord>() {
        let at = std::mem::offset_of!(SnapRecord, snap_len);
        let len = u32::from_ne_bytes(b[at..at + 4].try_into().ok()?) as usize;
        let data = std::mem::offset_of!(SnapRecord, data);
        snap = &b[data..data + len.min(MAX_SNAP)];
    }
    Some((rec, snap))
}

/// One of the two loaded programs, for [`Kernel::test_run_repeat`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prog {
    Xdp,
    Tc,
}

impl Kernel {
    /// For benchmarks: runs `prog` `repeat` times on `frame` in one BPF_PROG_TEST_RUN and
    /// returns the average time of one run as the kernel reports it (whole nanoseconds).
    pub fn test_run_repeat(
        &mut self,
        prog: Prog,
        frame: &[u8],
        repeat: u32,
    ) -> Result<std::time::Duration, KernelError> {
        let opts = TestRunOptions {
            data_in: Some(frame),
            repeat,
            ..Default::default()
        };
        let res = match prog {
            Prog::Xdp => {
                let xdp: &mut Xdp = self
                    .prog(XDP_PROG)?
                    .try_into()
                    .map_err(|e| KernelError::other("XDP program", e))?;
                xdp.test_run(opts)
            }
            Prog::Tc => {
                let tc: &mut SchedClassifier = self
                    .prog(TC_PROG)?
                    .try_into()
                    .map_err(|e| KernelError::other("TC program", e))?;
                tc.test_run(opts)
            }
        };
        res.map(|r| r.duration)
            .map_err(|e| KernelError::other("BPF_PROG_TEST_RUN", e))
    }
}
