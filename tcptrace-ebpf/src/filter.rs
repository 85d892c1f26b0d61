//! The in-kernel filter: the rule table userspace compiled from the pcap-filter expression
//! (and `--host` / `--port`), in disjunctive normal form. The packet's fields are read
//! once, then the terms are tried in order with bounded loops; the first term whose tests
//! all hold accepts the segment.
use tcptrace_common::{
    FAMILY_V4, FAMILY_V6,
    rules::{
        DIR_DST, DIR_SRC, KIND_FLAGS_EQ, KIND_FLAGS_NE, KIND_NET4, KIND_NET6, KIND_PORT, KIND_V4,
        KIND_V6, KIND_VLAN, KIND_VLAN_ID, MAX_TERMS, MAX_TESTS, Test,
    },
};

use aya_ebpf::{cty::c_void, helpers::bpf_loop, macros::map, maps::PerCpuArray};

use crate::{
    frame::{Frame, at, read},
    maps::RULES,
    parse::Layers,
};

/// What the tests look at, read from the frame once into a per-CPU scratch slot.
#[repr(C)]
pub struct Facts {
    src: [u32; 4],
    dst: [u32; 4],
    sport: u16,
    dport: u16,
    vlan_ids: [u16; 2],
    vlan_count: u8,
    family: u8,
    flags: u8,
    have_ports: u8,
    have_flags: u8,
    matched: u8,
    _pad: [u8; 2],
}

/// The packet's fields while the filter runs. In map memory, not on the stack: the
/// verifier tracks no values there, so the filter adds no states to what follows it.
#[map]
static FILTER_FACTS: PerCpuArray<Facts> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
fn word(b: &[u8], i: usize) -> u32 {
    u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Fills `x` from the frame; false when the addresses are not there.
#[inline(always)]
fn facts<F: Frame>(f: &F, l: &Layers, x: &mut Facts) -> bool {
    x.vlan_ids = l.vlan_ids;
    x.vlan_count = l.vlan_count;
    x.family = l.family;
    x.have_ports = 0;
    x.have_flags = 0;
    x.matched = 0;
    if l.family == FAMILY_V4 {
        let Some(a) = at::<F, [u8; 8]>(f, l.l3 + 12) else {
            return false;
        };
        // SAFETY: checked by `at`.
        let a = unsafe { &*a };
        x.src[0] = word(a, 0);
        x.dst[0] = word(a, 4);
    } else {
        let Some(a) = at::<F, [u8; 32]>(f, l.l3 + 8) else {
            return false;
        };
        // SAFETY: checked by `at`.
        let a = unsafe { &*a };
        x.src = [word(a, 0), word(a, 4), word(a, 8), word(a, 12)];
        x.dst = [word(a, 16), word(a, 20), word(a, 24), word(a, 28)];
    }
    if l.l4_avail >= 14
        && let Some(h) = read::<F, 14>(f, l.l4)
    {
        x.sport = u16::from_be_bytes([h[0], h[1]]);
        x.dport = u16::from_be_bytes([h[2], h[3]]);
        x.flags = h[13];
        x.have_ports = 1;
        x.have_flags = 1;
    } else if l.l4_avail >= 4
        && let Some(h) = read::<F, 4>(f, l.l4)
    {
        x.sport = u16::from_be_bytes([h[0], h[1]]);
        x.dport = u16::from_be_bytes([h[2], h[3]]);
        x.have_ports = 1;
    }
    true
}

#[inline(always)]
pub fn accept<F: Frame>(f: &F, l: &Layers) -> bool {
    let Some(table) = RULES.get(0) else {
        return true;
    };
    if table.enabled == 0 {
        return true;
    }
    let n = table.n_terms;
    let Some(x) = FILTER_FACTS.get_ptr_mut(0) else {
        return false;
    };
    // SAFETY: this CPU's slot, used only while this program runs.
    if !facts(f, l, unsafe { &mut *x }) {
        return false;
    }
    let n = if n > MAX_TERMS as u32 {
        MAX_TERMS as u32
    } else {
        n
    };
    let stride = table.stride;
    let stride = if stride == 0 || stride > MAX_TESTS as u32 {
        MAX_TESTS as u32
    } else {
        stride
    };
    // bpf_loop over every (term, test) slot: the verifier checks one test, once, instead
    // of every path through every term.
    // SAFETY: `step` has the callback signature bpf_loop expects and takes no context.
    unsafe { bpf_loop(n * stride, step as *mut c_void, core::ptr::null_mut(), 0) };
    // SAFETY: as above; volatile so that the read happens after the loop.
    unsafe { core::ptr::read_volatile(&(*x).matched) != 0 }
}

/// bpf_loop callback for slot `i` = term `i / stride`, test `i % stride`. Returns 1
/// (stop) once a term has held. `matched` is 1 while the current term's tests all held
/// so far, and stays 1 (with the loop stopped) once a whole term held.
#[inline(never)]
extern "C" fn step(i: u64, _ctx: *mut c_void) -> i64 {
    let (Some(table), Some(x)) = (RULES.get(0), FILTER_FACTS.get_ptr_mut(0)) else {
        return 1;
    };
    // Slots per term: the longest term's length (checked as in `accept`).
    let stride = table.stride;
    if stride == 0 || stride > MAX_TESTS as u32 {
        return 1;
    }
    let i = i as u32;
    // black_box: keep the bounds checks below in the code (the compiler can prove them,
    // the verifier cannot follow its proof through `i % stride`).
    let t = core::hint::black_box((i / stride) as usize);
    let j = core::hint::black_box((i % stride) as usize);
    if t >= MAX_TERMS || j >= MAX_TESTS {
        return 1;
    }
    // SAFETY: this CPU's slot, filled by `accept` in this program run.
    let x = unsafe { &mut *x };
    if j == 0 {
        x.matched = 1;
    }
    let term = &table.terms[t];
    if x.matched != 0 && (j as u32) < term.len && !test(&term.tests[j], x) {
        x.matched = 0;
    }
    if j as u32 == stride - 1 && x.matched != 0 {
        return 1;
    }
    0
}

#[inline(always)]
fn net6(a: &[u32; 4], t: &Test) -> bool {
    (a[0] & t.mask[0]) == t.addr[0]
        && (a[1] & t.mask[1]) == t.addr[1]
        && (a[2] & t.mask[2]) == t.addr[2]
        && (a[3] & t.mask[3]) == t.addr[3]
}

#[inline(always)]
fn test(t: &Test, x: &Facts) -> bool {
    let src = t.dir & DIR_SRC != 0;
    let dst = t.dir & DIR_DST != 0;
    let hit = match t.kind {
        KIND_NET4 => {
            x.family == FAMILY_V4
                && ((src && (x.src[0] & t.mask[0]) == t.addr[0])
                    || (dst && (x.dst[0] & t.mask[0]) == t.addr[0]))
        }
        KIND_NET6 => {
            x.family == FAMILY_V6 && ((src && net6(&x.src, t)) || (dst && net6(&x.dst, t)))
        }
        KIND_PORT => {
            x.have_ports != 0
                && ((src && x.sport >= t.lo && x.sport <= t.hi)
                    || (dst && x.dport >= t.lo && x.dport <= t.hi))
        }
        KIND_V4 => x.family == FAMILY_V4,
        KIND_V6 => x.family == FAMILY_V6,
        KIND_FLAGS_EQ => {
            x.family == FAMILY_V4 && x.have_flags != 0 && (x.flags & t.lo as u8) == t.hi as u8
        }
        KIND_FLAGS_NE => {
            x.family == FAMILY_V4 && x.have_flags != 0 && (x.flags & t.lo as u8) != t.hi as u8
        }
        KIND_VLAN => x.vlan_count > 0,
        KIND_VLAN_ID => {
            (x.vlan_count > 0 && x.vlan_ids[0] == t.lo)
                || (x.vlan_count > 1 && x.vlan_ids[1] == t.lo)
        }
        _ => true,
    };
    hit != (t.negate != 0)
}
