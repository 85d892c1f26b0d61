//! The maps shared with userspace, and the read-only globals it fills in before loading.
use aya_ebpf::{
    bindings::{BPF_F_NO_PREALLOC, BPF_NOEXIST},
    btf_maps::{ArrayOfMaps, RingBuf},
    helpers::{bpf_get_smp_processor_id, bpf_ringbuf_query},
    macros::{btf_map, map},
    maps::{PerCpuArray, PerCpuHashMap},
};
use tcptrace_common::{Config, MAX_IFACE_COUNTERS, counter, rules::RuleTable};

/// A ring buffer of items for userspace. The size here is the template's; userspace makes
/// each CPU's ring with its share of `-B`.
pub type Ring = RingBuf<u8, 4096>;

/// One ring per CPU, indexed by CPU number (userspace sets the number of entries to the
/// number of possible CPUs and puts the rings in): no producer ever waits for another
/// CPU's (see docs/design.md).
#[btf_map]
static RINGS: ArrayOfMaps<Ring, 1> = ArrayOfMaps::new();

/// This CPU's ring (None only if userspace left it out).
#[inline(always)]
pub fn ring() -> Option<&'static Ring> {
    // SAFETY: helper without arguments.
    RINGS.get(unsafe { bpf_get_smp_processor_id() })
}

/// Where a segment item is built before it is sent (too big for the TC programs' stack),
/// and what `record::fill` found besides.
#[repr(C)]
pub struct Scratch {
    pub seg: [u64; tcptrace_common::item::SEG_MAX / 8],
    /// Read back through memory, so that the verifier meets one state after `fill`
    /// instead of one per path through it (its checksum paths multiply them).
    pub len: u32,
    pub status: u32,
    pub tcp_caplen: u32,
    /// The datagram's length from the IP header on, as its header says.
    pub ip_total: u32,
    pub ts: u64,
}

/// Per-CPU [`Scratch`].
#[map]
pub static SEG_BUF: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU counters, one block per CPU, indexed by `tcptrace_common::counter`.
#[map]
pub static COUNTERS: PerCpuArray<[u64; counter::COUNT as usize]> =
    PerCpuArray::with_max_entries(1, 0);

/// Per-CPU counters per interface index (`-v` only; allocated as interfaces appear).
#[map]
pub static IFACE_COUNTERS: PerCpuHashMap<u32, [u64; counter::COUNT as usize]> =
    PerCpuHashMap::with_max_entries(MAX_IFACE_COUNTERS, BPF_F_NO_PREALLOC);

/// The filter's rule table (`.rodata`, written by userspace before loading; frozen).
#[unsafe(no_mangle)]
static TCPTRACE_RULES: RuleTable = RuleTable::ALL;

/// Mode settings (`.rodata`, as above).
#[unsafe(no_mangle)]
static TCPTRACE_CONFIG: Config = Config::OFF;

/// Reads a field of a read-only global. Volatile, so that the program really loads it (the
/// compiler would fold in the default value); the verifier knows the loaded value, since
/// the map is frozen and the offset constant, and skips the branches it rules out.
macro_rules! ro {
    ($place:expr) => {
        // SAFETY: a field of a static, read in place.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!($place)) }
    };
}
pub(crate) use ro;

/// The rule table global (read its fields with [`ro!`]).
#[inline(always)]
pub fn rules() -> &'static RuleTable {
    &TCPTRACE_RULES
}

/// Non-zero: compute checksums (`-v`).
#[inline(always)]
pub fn want_checksums() -> bool {
    ro!(TCPTRACE_CONFIG.checksums) != 0
}

/// Non-zero: segment items carry [`tcptrace_common::item::Csums`] (`-v`, `--json`).
#[inline(always)]
pub fn want_csum_fields() -> bool {
    ro!(TCPTRACE_CONFIG.checksums) != 0 || ro!(TCPTRACE_CONFIG.wire_csums) != 0
}

/// Non-zero: ICMP errors about traced segments are recorded too.
#[inline(always)]
pub fn want_icmp() -> bool {
    ro!(TCPTRACE_CONFIG.icmp) != 0
}

/// Per-CPU time of the last reader wakeup this CPU asked for.
#[map]
static LAST_WAKE: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// A filling ring wakes the reader at most this often per CPU.
const WAKE_NS: u64 = 1_000_000;

/// Flags for `bpf_ringbuf_submit`/`output` of an item stamped `now` into `r`, this CPU's
/// ring: wake the reader once the ring holds `Config::wake_bytes` it has not given back
/// (unread, or read and held for the merge: 16 KiB, or a sixteenth of a smaller ring), at
/// most once every `WAKE_NS` (each wakeup is an irq_work, a self-IPI); else leave the item
/// for the reader's 10 ms timer, which drains every ring anyway. So the reader wakes for a
/// filling ring, and not for a trickle (the kernel's default wakes it for nearly every item
/// once it keeps up). Never when userspace reads without waiting (`-r`).
#[inline(always)]
pub fn submit_flags(r: &Ring, now: u64) -> u64 {
    const NO_WAKEUP: u64 = aya_ebpf::bindings::BPF_RB_NO_WAKEUP as u64;
    const FORCE_WAKEUP: u64 = aya_ebpf::bindings::BPF_RB_FORCE_WAKEUP as u64;
    if ro!(TCPTRACE_CONFIG.no_wakeup) != 0 {
        return NO_WAKEUP;
    }
    // SAFETY: `r` is a ring map: its address is the map's, as aya passes it to helpers.
    let unread = unsafe {
        bpf_ringbuf_query(
            core::ptr::from_ref(r).cast_mut().cast(),
            aya_ebpf::bindings::BPF_RB_AVAIL_DATA as u64,
        )
    };
    if unread < u64::from(ro!(TCPTRACE_CONFIG.wake_bytes)) {
        return NO_WAKEUP;
    }
    let Some(last) = LAST_WAKE.get_ptr_mut(0) else {
        return NO_WAKEUP;
    };
    // SAFETY: this CPU's slot, used only while the program runs.
    unsafe {
        if now.wrapping_sub(*last) < WAKE_NS {
            return NO_WAKEUP;
        }
        *last = now;
    }
    FORCE_WAKEUP
}

/// Frame bytes to copy after each record (`-w`), 0 for plain records.
#[inline(always)]
pub fn snaplen() -> u32 {
    ro!(TCPTRACE_CONFIG.snaplen) as u32
}

type Block = [u64; counter::COUNT as usize];

/// This CPU's counter blocks (the host's, and with `-v` the interface's), looked up once
/// per program run.
#[derive(Clone, Copy)]
pub struct Counts {
    all: *mut Block,
    iface: Option<*mut Block>,
}

impl Counts {
    #[inline(always)]
    pub fn get(ifindex: u32) -> Option<Counts> {
        let all = COUNTERS.get_ptr_mut(0)?;
        let iface = if ro!(TCPTRACE_CONFIG.per_iface) != 0 {
            iface_block(ifindex)
        } else {
            None
        };
        Some(Counts { all, iface })
    }

    #[inline(always)]
    pub fn add(self, index: u32) {
        bump(self.all, index);
        if let Some(b) = self.iface {
            bump(b, index);
        }
    }
}

#[inline(always)]
fn bump(block: *mut Block, index: u32) {
    // SAFETY: this CPU's block, written only while the program runs on this CPU.
    if let Some(v) = unsafe { (*block).get_mut(index as usize) } {
        *v += 1;
    }
}

/// The interface's block, created on its first packet; none when the map is full.
#[inline(always)]
fn iface_block(ifindex: u32) -> Option<*mut Block> {
    if let Some(b) = IFACE_COUNTERS.get_ptr_mut(ifindex) {
        return Some(b);
    }
    let zero: Block = [0; counter::COUNT as usize];
    // Another CPU may have created it meanwhile: then this insert fails and the lookup
    // finds it.
    let _ = IFACE_COUNTERS.insert(ifindex, zero, BPF_NOEXIST as u64);
    IFACE_COUNTERS.get_ptr_mut(ifindex)
}
