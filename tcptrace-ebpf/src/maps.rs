//! The maps shared with userspace.
use crate::parse::Layers;
use aya_ebpf::{
    macros::map,
    maps::{Array, PerCpuArray, RingBuf},
};
use tcptrace_common::{Config, RING_BYTES, counter, rules::RuleTable};

/// Records for userspace.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(RING_BYTES, 0);

/// `CONFIG[0]`: filter switches and modes.
#[map]
pub static CONFIG: Array<Config> = Array::with_max_entries(1, 0);

/// `RULES[0]`: the filter's rule table (see `tcptrace_common::rules`).
#[map]
pub static RULES: Array<RuleTable> = Array::with_max_entries(1, 0);

/// Per-CPU parking place for the parse result while the filter runs (see `trace`).
#[map]
pub static LAYERS: PerCpuArray<Layers> = PerCpuArray::with_max_entries(1, 0);

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
