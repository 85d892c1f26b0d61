//! The maps shared with userspace.
use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, PerCpuArray, RingBuf},
};
use tcptrace_common::{Config, MAX_HOSTS, RING_BYTES, counter};

/// Records for userspace.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(RING_BYTES, 0);

/// `CONFIG[0]`: filter switches and modes.
#[map]
pub static CONFIG: Array<Config> = Array::with_max_entries(1, 0);

/// Hosts to match (IPv4 stored IPv4-mapped); a host matches source or destination.
#[map]
pub static HOSTS: HashMap<[u8; 16], u8> = HashMap::with_max_entries(MAX_HOSTS, 0);

/// Ports to match, indexed by port number: non-zero = wanted.
#[map]
pub static PORTS: Array<u8> = Array::with_max_entries(65536, 0);

/// Per-CPU counters, indexed by `tcptrace_common::counter`.
#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::COUNT, 0);

#[inline(always)]
pub fn count(index: u32) {
    if let Some(p) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, only this CPU writes it while the program runs.
        unsafe { *p += 1 };
    }
}

#[inline(always)]
pub fn config() -> Config {
    match CONFIG.get(0) {
        Some(c) => *c,
        None => Config::default(),
    }
}
