//! The kernel side seen from userspace: load the object, configure the filter, attach
//! (or replay frames through BPF_PROG_TEST_RUN), read the counters.
use std::{collections::BTreeMap, io, net::IpAddr};

use aya::{
    Ebpf, EbpfError, EbpfLoader, include_bytes_aligned,
    maps::{ArrayOfMaps, Map, MapData, MapError, PerCpuArray, PerCpuHashMap, PerCpuValues},
    programs::{
        LinkOrder, ProgramError, SchedClassifier, TcAttachType, TestRun, TestRunOptions, Xdp,
        XdpMode,
        tc::{self, NlOptions, TcAttachOptions},
        xdp::XdpError,
    },
    util::KernelVersion,
};
use tcptrace_common::{
    Config, RING_BYTES,
    attrib::{ATTRIB_RING_BYTES, AttribFilter, MAX_FLOWS},
    counter,
    fate::SkbLayout,
    rules::RuleTable,
};

use crate::source::ring::Ring;
pub use crate::source::rings::Rings;

pub mod attrib;
mod btf;
pub mod caps;
pub mod fate;
pub mod features;

/// The kernel object built by build.rs from tcptrace-ebpf.
static OBJECT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tcptrace-ebpf"));

const XDP_PROG: &str = "tcptrace_xdp";
/// The same path without the XDP frags flag, for generic XDP.
const XDP_SKB_PROG: &str = "tcptrace_xdp_skb";
const TC_PROG: &str = "tcptrace_tc";
const TC_IN_PROG: &str = "tcptrace_tc_ingress";
const PROGS: [&str; 4] = [XDP_PROG, XDP_SKB_PROG, TC_PROG, TC_IN_PROG];

/// clsact priority for egress when TCX is missing: the last one, as TCX appends.
const CLSACT_EGRESS_PRIORITY: u16 = u16::MAX;

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("no such interface: {0}")]
    UnknownInterface(String),
    /// EPERM from bpf() or an attach: why, as far as this process can tell.
    #[error("{}", caps::refusal())]
    Permission,
    #[error("{}", caps::describe(.0))]
    MissingCaps(Vec<caps::Cap>),
    #[error("{}", features::refusal(*.0, &features::kernel_version()))]
    MissingFeature(features::Feature),
    #[error(
        "the verifier of this kernel ({}) refused {prog}: a tcptrace bug, please report it with the verifier's last lines: {log}",
        features::kernel_version()
    )]
    Verifier { prog: &'static str, log: String },
    #[error(
        "an XDP program is already attached to {0} (see: ip link show dev {0}; detach it with: ip link set dev {0} xdp off)"
    )]
    XdpBusy(String),
    #[error("native XDP is not supported on {iface}: {source} (try --xdp-mode off or auto)")]
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

pub use tcptrace_cli::XdpModeArg;

/// Whether `iface` is a loopback interface (ARPHRD_LOOPBACK).
fn is_loopback(iface: &str) -> bool {
    std::fs::read_to_string(
        std::path::Path::new("/sys/class/net")
            .join(iface)
            .join("type"),
    )
    .is_ok_and(|t| t.trim() == "772")
}

/// Whether `iface` is backed by a device (a NIC, virtio included), as opposed to a
/// virtual interface such as veth, a bridge or a tunnel.
fn has_device(iface: &str) -> bool {
    std::path::Path::new("/sys/class/net")
        .join(iface)
        .join("device")
        .exists()
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

/// One CPU's counters, indexed by `tcptrace_common::counter`.
type Block = [u64; counter::COUNT as usize];

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

impl Counters {
    fn sum<'a>(blocks: impl Iterator<Item = &'a Block> + Clone) -> Counters {
        let sum = |i: u32| blocks.clone().map(|b| b[i as usize]).sum();
        Counters {
            seen: sum(counter::SEEN),
            tcp: sum(counter::TCP),
            matched: sum(counter::MATCHED),
            emitted: sum(counter::EMITTED),
            lost: sum(counter::LOST),
            malformed: sum(counter::MALFORMED),
            truncated: sum(counter::TRUNCATED),
            fragments: sum(counter::FRAGMENTS),
        }
    }

    /// Adds `o` in (an interface seen under one name more than once).
    pub fn add(&mut self, o: &Counters) {
        self.seen += o.seen;
        self.tcp += o.tcp;
        self.matched += o.matched;
        self.emitted += o.emitted;
        self.lost += o.lost;
        self.malformed += o.malformed;
        self.truncated += o.truncated;
        self.fragments += o.fragments;
    }
}

/// Reads the per-CPU counters (see [`Kernel::counter_reader`]).
pub struct CounterReader {
    arr: PerCpuArray<MapData, Block>,
}

impl CounterReader {
    /// Each CPU's counters, in CPU order.
    pub fn per_cpu(&self) -> Result<Vec<Counters>, KernelError> {
        let blocks = self
            .arr
            .get(&0, 0)
            .map_err(|e| KernelError::other("reading counters", e))?;
        Ok(blocks
            .iter()
            .map(|b| Counters::sum(std::iter::once(b)))
            .collect())
    }

    /// Sums over the CPUs.
    pub fn totals(&self) -> Result<Counters, KernelError> {
        let mut t = Counters::default();
        for c in self.per_cpu()? {
            t.add(&c);
        }
        Ok(t)
    }
}

/// Where the programs ended up attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub ifindex: u32,
    pub xdp_mode: &'static str,
    /// False on loopback, where only ingress is traced.
    pub egress: bool,
}

impl Attachment {
    /// `XDP native ingress, TC egress`, as the banner says it.
    pub fn hooks(&self) -> String {
        let ingress = match self.xdp_mode {
            "off" => "TC".to_string(),
            m => format!("XDP {m}"),
        };
        if self.egress {
            format!("{ingress} ingress, TC egress")
        } else {
            format!("{ingress} ingress; loopback: each packet once, as it comes in")
        }
    }
}

/// The loaded object. Dropping it detaches everything it attached.
pub struct Kernel {
    ebpf: Ebpf,
    /// Each CPU's ring, until taken ([`Kernel::take_rings`]).
    rings: Vec<MapData>,
    /// Entries userspace put in the attribution flow map ([`Kernel::attrib_insert`]), for
    /// the eviction count.
    attrib_inserted: u64,
    /// Packet fate asked for and possible here: the names for its drop records.
    fate: Option<fate::Namer>,
}

/// TCX (BPF links on the TC hooks) arrived in 6.6; before it, clsact filters.
pub fn has_tcx() -> bool {
    KernelVersion::current().is_ok_and(|v| v >= KernelVersion::new(6, 6, 0))
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
    /// Loads the object with the filter's rule table and the modes written into it; the
    /// programs are verified when first attached or test-run.
    /// `filter` is a compiled [`RuleTable`] (see [`crate::filter::compile`]) or the
    /// `--host`/`--port` sugar [`Filter`].
    pub fn load<R: Rules + ?Sized>(filter: &R, cfg: Config) -> Result<Kernel, KernelError> {
        Kernel::load_sized(filter, cfg, RING_BYTES)
    }

    /// [`Kernel::load`] with ring buffers of `ring_bytes` in all (a power of two, at least
    /// a page), split across the CPUs (see [`ring_share`]).
    pub fn load_sized<R: Rules + ?Sized>(
        filter: &R,
        cfg: Config,
        ring_bytes: u32,
    ) -> Result<Kernel, KernelError> {
        Kernel::load_with(filter, cfg, ring_bytes, None)
    }

    /// [`Kernel::load_sized`] with process attribution: `procs` holds the process filter
    /// (`--pid`, `--comm`, `--container`) of the packet programs and which sockets the
    /// hooks record. None: attribution off, and its maps made with room for nothing (one
    /// entry each, the smallest ring) instead of several MiB of kernel memory.
    pub fn load_with<R: Rules + ?Sized>(
        filter: &R,
        cfg: Config,
        ring_bytes: u32,
        procs: Option<&AttribFilter>,
    ) -> Result<Kernel, KernelError> {
        let rules = filter.rules()?;
        if OBJECT.is_empty() {
            return Err(KernelError::NoObject);
        }
        let missing = caps::missing();
        if !missing.is_empty() {
            return Err(KernelError::MissingCaps(missing));
        }
        if let Some(f) = features::first_missing(cfg.checksums != 0) {
            return Err(KernelError::MissingFeature(f));
        }
        // Ring buffers and BPF memory are accounted by memcg on current kernels; older ones
        // need RLIMIT_MEMLOCK raised.
        let rlim = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: plain syscall with a valid pointer; failure is harmless here.
        unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &rlim) };

        // The rule table and the modes are read-only globals: written into the object
        // before the maps are made, frozen, and known to the verifier as constants.
        let (procs, flows, attrib_ring) = match procs {
            Some(p) => (*p, MAX_FLOWS, ATTRIB_RING_BYTES),
            None => (AttribFilter::OFF, 1, 4096),
        };
        // Packet fate: the sk_buff layout from BTF, or the drop program stays off.
        let (skb, fate) = match (cfg.drops != 0).then(btf::Btf::vmlinux) {
            None => (SkbLayout::OFF, None),
            Some(btf) => match btf.as_ref().and_then(fate::skb_layout) {
                Some(l) => (l, Some(fate::Namer::new(btf.as_ref()))),
                None => {
                    eprintln!(
                        "tcptrace: packet fate off: this kernel has no BTF describing sk_buff (/sys/kernel/btf/vmlinux)"
                    );
                    (SkbLayout::OFF, None)
                }
            },
        };
        let cpus = aya::util::nr_cpus()
            .map_err(|(what, e)| KernelError::other("counting CPUs", format!("{what}: {e}")))?
            as u32;
        let share = ring_share(ring_bytes, cpus);
        let cfg = Config {
            wake_bytes: (share / 16).min(WAKE_BYTES),
            ..cfg
        };
        let mut ebpf = EbpfLoader::new()
            .override_global("TCPTRACE_RULES", &rules, true)
            .override_global("TCPTRACE_SKB", &skb, true)
            .override_global("TCPTRACE_CONFIG", &cfg, true)
            .override_global("TCPTRACE_ATTRIB", &procs, true)
            .map_max_entries("RINGS", cpus)
            .map_max_entries("ATTRIB_FLOWS", flows)
            .map_max_entries("ATTRIB_SOCKS", flows)
            .map_max_entries("ATTRIB_EVENTS", attrib_ring)
            .load(OBJECT)
            .map_err(|e| match &e {
                e if is_eperm(e) => KernelError::Permission,
                EbpfError::MapError(MapError::CreateError { name, .. })
                    if name.starts_with("RINGS") =>
                {
                    KernelError::Unsupported {
                        what: "BPF ring buffer in an array of maps",
                        detail: e.to_string(),
                    }
                }
                _ => KernelError::Unsupported {
                    what: "loading the BPF object",
                    detail: e.to_string(),
                },
            })?;
        let rings = make_rings(&mut ebpf, cpus, share)?;
        Ok(Kernel {
            ebpf,
            rings,
            attrib_inserted: 0,
            fate,
        })
    }

    /// Program `name`, loaded (verified) on first use: each run verifies only the
    /// programs it attaches or test-runs.
    fn prog(&mut self, name: &'static str) -> Result<&mut aya::programs::Program, KernelError> {
        let p = self
            .ebpf
            .program_mut(name)
            .ok_or_else(|| KernelError::other("program missing from object", name))?;
        let load = match p {
            aya::programs::Program::Xdp(p) if p.fd().is_err() => p.load(),
            aya::programs::Program::SchedClassifier(p) if p.fd().is_err() => p.load(),
            _ => Ok(()),
        };
        load.map_err(|e| {
            if is_eperm(&e) {
                KernelError::Permission
            } else {
                KernelError::Verifier {
                    prog: name,
                    log: verifier_log(&e),
                }
            }
        })?;
        Ok(p)
    }

    /// Attaches the ingress program (XDP, or TC when `mode` says so) and TC on egress of
    /// `iface`.
    pub fn attach(&mut self, iface: &str, mode: XdpModeArg) -> Result<Attachment, KernelError> {
        let ifindex = if_index(iface)?;
        let xdp_mode = match mode {
            XdpModeArg::Off => self.attach_tc(iface, TC_IN_PROG, TcAttachType::Ingress)?,
            XdpModeArg::Generic => self.attach_xdp(iface, ifindex, XdpMode::Skb)?,
            XdpModeArg::Native => self.attach_xdp(iface, ifindex, XdpMode::Driver)?,
            XdpModeArg::Auto if !has_device(iface) => {
                self.attach_tc(iface, TC_IN_PROG, TcAttachType::Ingress)?
            }
            XdpModeArg::Auto => match self.attach_xdp(iface, ifindex, XdpMode::Driver) {
                Ok(m) => m,
                Err(KernelError::NativeUnsupported { source, .. }) => {
                    eprintln!(
                        "tcptrace: native XDP refused on {iface} ({source}); using TC ingress"
                    );
                    self.attach_tc(iface, TC_IN_PROG, TcAttachType::Ingress)?
                }
                Err(e) => return Err(e),
            },
        };
        // Loopback: every packet leaves and comes back on `lo`; tcpdump shows it once, as
        // it comes in, and so does tcptrace.
        let egress = !is_loopback(iface);
        if egress {
            self.attach_tc(iface, TC_PROG, TcAttachType::Egress)?;
        }
        Ok(Attachment {
            ifindex,
            xdp_mode,
            egress,
        })
    }

    fn attach_xdp(
        &mut self,
        iface: &str,
        ifindex: u32,
        mode: XdpMode,
    ) -> Result<&'static str, KernelError> {
        let name = if mode == XdpMode::Skb {
            XDP_SKB_PROG
        } else {
            XDP_PROG
        };
        let xdp: &mut Xdp = self
            .prog(name)?
            .try_into()
            .map_err(|e| KernelError::other("XDP program", e))?;
        let busy = |e: &ProgramError| {
            matches!(
                io_error(e).and_then(io::Error::raw_os_error),
                Some(libc::EBUSY) | Some(libc::EEXIST)
            )
        };
        match xdp.attach_to_if_index(ifindex, mode) {
            Ok(_) if mode == XdpMode::Skb => Ok("generic"),
            Ok(_) => Ok("native"),
            Err(e) if busy(&e) => Err(KernelError::XdpBusy(iface.to_string())),
            Err(e) if is_eperm(&e) => Err(KernelError::Permission),
            Err(e) if mode == XdpMode::Driver => Err(KernelError::NativeUnsupported {
                iface: iface.to_string(),
                source: io_error(&e)
                    .map(|io| io::Error::from_raw_os_error(io.raw_os_error().unwrap_or(0)))
                    .unwrap_or_else(|| io::Error::other(e.to_string())),
            }),
            Err(e) => Err(KernelError::other("attaching XDP", e)),
        }
    }

    /// Attaches a TC program where it changes nothing for the others on the hook: under
    /// TCX (6.6+) ingress first (it sees what tcpdump sees, before any policy) and egress
    /// last; without TCX a clsact direct-action filter (the qdisc is added when missing),
    /// ingress in front of existing filters and egress behind them. Either way the program
    /// returns "next", so every program after it still runs and decides.
    fn attach_tc(
        &mut self,
        iface: &str,
        name: &'static str,
        hook: TcAttachType,
    ) -> Result<&'static str, KernelError> {
        let tc: &mut SchedClassifier = self
            .prog(name)?
            .try_into()
            .map_err(|e| KernelError::other("TC program", e))?;
        let failed = |e: ProgramError| {
            if is_eperm(&e) {
                KernelError::Permission
            } else {
                KernelError::Unsupported {
                    what: "TC attach (TCX or clsact)",
                    detail: e.to_string(),
                }
            }
        };
        if has_tcx() {
            let order = match hook {
                TcAttachType::Ingress => LinkOrder::first(),
                _ => LinkOrder::last(),
            };
            tc.attach_with_options(iface, hook, TcAttachOptions::TcxOrder(order))
                .map_err(failed)?;
            return Ok("off");
        }
        if let Err(e) = tc::qdisc_add_clsact(iface)
            && e.source_io().and_then(io::Error::raw_os_error) != Some(libc::EEXIST)
        {
            return Err(failed(e.into()));
        }
        let priority = match hook {
            TcAttachType::Egress => CLSACT_EGRESS_PRIORITY,
            _ => 0, // the kernel picks one in front of the existing filters
        };
        let nl = |priority| {
            TcAttachOptions::Netlink(NlOptions {
                priority,
                ..NlOptions::default()
            })
        };
        // The last priority may hold another kind of filter: then in front of it.
        if let Err(e) = tc.attach_with_options(iface, hook, nl(priority)) {
            if priority == 0 {
                return Err(failed(e));
            }
            tc.attach_with_options(iface, hook, nl(0)).map_err(failed)?;
        }
        Ok("off")
    }

    /// Detaches and unloads the programs; maps (ring, counters) stay readable.
    pub fn detach(&mut self) {
        self.detach_drops();
        for name in PROGS {
            if let Some(p) = self.ebpf.program_mut(name) {
                let _ = match p {
                    aya::programs::Program::Xdp(p) => p.unload(),
                    aya::programs::Program::SchedClassifier(p) => p.unload(),
                    _ => Ok(()),
                };
            }
        }
    }

    /// The rings the items arrive in, one per CPU, read as one in time order (take them
    /// once).
    pub fn take_rings(&mut self) -> Result<Rings, KernelError> {
        if self.rings.is_empty() {
            return Err(KernelError::other("rings", "already taken"));
        }
        let rings = std::mem::take(&mut self.rings)
            .into_iter()
            .map(Ring::new)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| KernelError::other("ring buffer", e))?;
        Rings::new(rings).map_err(|e| KernelError::other("epoll", e))
    }

    /// The loaded object's map `name`.
    fn map(&self, name: &'static str) -> Result<&Map, KernelError> {
        self.ebpf
            .map(name)
            .ok_or_else(|| KernelError::other("map missing", name))
    }

    /// Slot 0 of the per-CPU array `name` (counters): its value on each CPU.
    fn per_cpu<T: aya::Pod>(&self, name: &'static str) -> Result<PerCpuValues<T>, KernelError> {
        let arr: PerCpuArray<&MapData, T> =
            PerCpuArray::try_from(self.map(name)?).map_err(|e| KernelError::other(name, e))?;
        arr.get(&0, 0)
            .map_err(|e| KernelError::other("reading counters", e))
    }

    /// Current counter totals over all CPUs.
    pub fn counters(&self) -> Result<Counters, KernelError> {
        let blocks = self.per_cpu::<Block>("COUNTERS")?;
        Ok(Counters::sum(blocks.iter()))
    }

    /// Counter totals per interface index (`-v`: [`Config::per_iface`]).
    pub fn iface_counters(&self) -> Result<BTreeMap<u32, Counters>, KernelError> {
        let map = self.map("IFACE_COUNTERS")?;
        let hash: PerCpuHashMap<&MapData, u32, Block> = PerCpuHashMap::try_from(map)
            .map_err(|e| KernelError::other("IFACE_COUNTERS map", e))?;
        let mut out = BTreeMap::new();
        for entry in hash.iter() {
            let (idx, blocks) =
                entry.map_err(|e| KernelError::other("reading interface counters", e))?;
            out.insert(idx, Counters::sum(blocks.iter()));
        }
        Ok(out)
    }

    /// Takes an interface's counters out of the map (it has gone; its index may come back
    /// for another interface).
    pub fn take_iface_counters(&mut self, ifindex: u32) -> Option<Counters> {
        let map = self.ebpf.map_mut("IFACE_COUNTERS")?;
        let mut hash: PerCpuHashMap<&mut MapData, u32, Block> =
            PerCpuHashMap::try_from(map).ok()?;
        let c = hash.get(&ifindex, 0).ok().map(|b| Counters::sum(b.iter()));
        let _ = hash.remove(&ifindex);
        c
    }

    /// A second handle on the counters (its own map descriptor), for `--stats` and
    /// `--metrics` to read while the trace runs.
    pub fn counter_reader(&self) -> Result<CounterReader, KernelError> {
        use std::os::fd::AsFd as _;
        let fd = match self.map("COUNTERS")? {
            aya::maps::Map::PerCpuArray(m) => m.fd().as_fd().try_clone_to_owned(),
            _ => return Err(KernelError::other("COUNTERS map", "not a per-CPU array")),
        }
        .map_err(|e| KernelError::other("COUNTERS map", e))?;
        let data = MapData::from_fd(fd).map_err(|e| KernelError::other("COUNTERS map", e))?;
        let arr = PerCpuArray::try_from(aya::maps::Map::PerCpuArray(data))
            .map_err(|e| KernelError::other("COUNTERS map", e))?;
        Ok(CounterReader { arr })
    }

    /// Runs `prog` once on `frame` (BPF_PROG_TEST_RUN); returns its verdict.
    pub fn run(&mut self, prog: Prog, frame: &[u8]) -> Result<u32, KernelError> {
        let opts = TestRunOptions {
            data_in: Some(frame),
            ..Default::default()
        };
        self.test_run(prog, opts).map(|r| r.return_value)
    }

    /// One BPF_PROG_TEST_RUN of `prog` (loaded first if it is not yet).
    fn test_run(
        &mut self,
        prog: Prog,
        opts: TestRunOptions,
    ) -> Result<aya::programs::TestRunResult, KernelError> {
        let p = self.prog(prog.name())?;
        let res = match prog {
            Prog::Xdp | Prog::XdpSkb => <&mut Xdp>::try_from(p)
                .map_err(|e| KernelError::other("XDP program", e))?
                .test_run(opts),
            Prog::Tc | Prog::TcIngress => <&mut SchedClassifier>::try_from(p)
                .map_err(|e| KernelError::other("TC program", e))?
                .test_run(opts),
        };
        res.map_err(|e| KernelError::other("BPF_PROG_TEST_RUN", e))
    }
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

/// Bytes a CPU's ring holds and the reader has not given back (unread, or held for the
/// merge) that wake the reader (at most once a millisecond per CPU; a sixteenth of a
/// smaller ring): about 200 segments. A busy CPU then wakes it about as
/// often as every millisecond, which keeps it scheduled promptly (waking it only once a
/// large ring was a sixteenth full lost records to native XDP on veth, where the reader
/// then ran late); a moderate one, every few milliseconds instead of every one.
const WAKE_BYTES: u32 = 16 * 1024;

/// Each CPU's ring size for `total` bytes over `cpus` CPUs (`-B` is the total, as in
/// tcpdump): a power of two, at least a page.
pub fn ring_share(total: u32, cpus: u32) -> u32 {
    // SAFETY: plain call.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u32;
    let share = (total / cpus.max(1)).max(1);
    // The largest power of two not above the share.
    (1u32 << (31 - share.leading_zeros())).max(page)
}

/// Makes one ring of `bytes` per CPU and puts it in the programs' `RINGS` (aya makes the
/// array of maps and its inner-map template from the object; the rings themselves, sized
/// at run time, are made here: the kernel does not compare a ring's size with the
/// template's).
fn make_rings(ebpf: &mut Ebpf, cpus: u32, bytes: u32) -> Result<Vec<MapData>, KernelError> {
    let mut outer: ArrayOfMaps<&mut MapData> = ebpf
        .map_mut("RINGS")
        .ok_or_else(|| KernelError::other("map missing", "RINGS"))?
        .try_into()
        .map_err(|e| KernelError::other("RINGS map", e))?;
    (0..cpus)
        .map(|cpu| {
            let def = aya_obj::Map::new_from_params(
                aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_RINGBUF as u32,
                0,
                0,
                bytes,
                0,
            );
            let ring = MapData::create(def, "tcptrace_ring", None).map_err(|e| {
                KernelError::Unsupported {
                    what: "BPF ring buffer",
                    detail: e.to_string(),
                }
            })?;
            outer
                .set(cpu, &ring, 0)
                .map_err(|e| KernelError::other("RINGS map", e))?;
            Ok(ring)
        })
        .collect()
}

/// One of the packet programs, for test runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prog {
    Xdp,
    /// Generic XDP (no frags flag).
    XdpSkb,
    /// TC egress.
    Tc,
    TcIngress,
}

impl Prog {
    fn name(self) -> &'static str {
        match self {
            Prog::Xdp => XDP_PROG,
            Prog::XdpSkb => XDP_SKB_PROG,
            Prog::Tc => TC_PROG,
            Prog::TcIngress => TC_IN_PROG,
        }
    }
}

impl Kernel {
    /// For benchmarks: `prog`, loaded, to run from several threads at once (its
    /// `TestRun::test_run` takes `&self`).
    pub fn loaded(&mut self, prog: Prog) -> Result<&aya::programs::Program, KernelError> {
        self.prog(prog.name())?;
        self.ebpf
            .program(prog.name())
            .ok_or_else(|| KernelError::other("program missing from object", prog.name()))
    }

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
        self.test_run(prog, opts).map(|r| r.duration)
    }
}
