//! The in-kernel filter: the rule table userspace compiled from the pcap-filter expression
//! (and `--host` / `--port`), in disjunctive normal form. The table is a read-only global
//! written before loading, so every term and test below is code with constant offsets:
//! the verifier reads the table's values, follows only the tests that are there, and
//! removes the rest. At run time a test is a few loads and compares on the headers.
use tcptrace_common::{
    FAMILY_V4, FAMILY_V6,
    rules::{
        DIR_DST, DIR_SRC, KIND_FLAGS_EQ, KIND_FLAGS_NE, KIND_NET4, KIND_NET6, KIND_PORT, KIND_V4,
        KIND_V6, KIND_VLAN, KIND_VLAN_ID, Test,
    },
};

use crate::{
    frame::ld,
    maps::{ro, rules},
    parse::View,
};

/// Whether the segment passes the filter.
#[inline(always)]
pub fn accept(view: &View) -> bool {
    let table = rules();
    if ro!(table.enabled) == 0 {
        return true;
    }
    let n = ro!(table.n_terms);
    macro_rules! terms {
        ($($t:literal)*) => {
            $(if $t < n && term::<$t>(view) {
                return true;
            })*
        };
    }
    terms!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
    const _: () = assert!(tcptrace_common::rules::MAX_TERMS == 16);
    false
}

/// Term `T` holds when each of its tests does.
#[inline(always)]
fn term<const T: usize>(v: &View) -> bool {
    let len = ro!(rules().terms[T].len);
    macro_rules! tests {
        ($($j:literal)*) => {
            $(if $j < len && !test(&rules().terms[T].tests[$j], v) {
                return false;
            })*
        };
    }
    tests!(0 1 2 3 4 5 6 7);
    const _: () = assert!(tcptrace_common::rules::MAX_TESTS == 8);
    true
}

/// One test. Every choice the table makes (kind, direction, negation) is a branch on a
/// value the verifier knows, so only the code for this test's choices stays.
#[inline(always)]
fn test(t: &'static Test, v: &View) -> bool {
    let hit = match ro!(t.kind) {
        KIND_PORT => v.ports && sides(t, |dst| port(t, v, dst)),
        KIND_NET4 => v.family == FAMILY_V4 && sides(t, |dst| net4(t, v, dst)),
        KIND_NET6 => v.family == FAMILY_V6 && net6(t, v.ip, ro!(t.dir)),
        KIND_V4 => v.family == FAMILY_V4,
        KIND_V6 => v.family == FAMILY_V6,
        KIND_FLAGS_EQ | KIND_FLAGS_NE => {
            let masked = ld!(u8, v.tcp, 13) & ro!(t.lo) as u8;
            v.family == FAMILY_V4
                && v.flags
                && ((masked == ro!(t.hi) as u8) == (ro!(t.kind) == KIND_FLAGS_EQ))
        }
        KIND_VLAN => v.vlan_count > 0,
        KIND_VLAN_ID => {
            let id = ro!(t.lo) as u32;
            (v.vlan_count > 0 && (v.vlan_ids & 0xffff) == id)
                || (v.vlan_count > 1 && (v.vlan_ids >> 16) == id)
        }
        _ => true,
    };
    if ro!(t.negate) != 0 { !hit } else { hit }
}

/// Whether `side(false)` (source) or `side(true)` (destination) holds, for the sides the
/// test's direction names.
#[inline(always)]
fn sides(t: &Test, side: impl Fn(bool) -> bool) -> bool {
    let dir = ro!(t.dir);
    (dir & DIR_SRC != 0 && side(false)) || (dir & DIR_DST != 0 && side(true))
}

#[inline(always)]
fn net4(t: &Test, v: &View, dst: bool) -> bool {
    let a = if dst {
        ld!(u32, v.ip, 16)
    } else {
        ld!(u32, v.ip, 12)
    };
    (a & ro!(t.mask[0])) == ro!(t.addr[0])
}

#[inline(always)]
fn port(t: &Test, v: &View, dst: bool) -> bool {
    let p = u16::from_be(if dst {
        ld!(u16, v.tcp, 2)
    } else {
        ld!(u16, v.tcp, 0)
    });
    p >= ro!(t.lo) && p <= ro!(t.hi)
}

/// IPv6 network test, out of line: the longest test, and the least common. Takes the
/// direction itself, so that testing both sides is one call.
#[inline(never)]
fn net6(t: &Test, ip: *const u8, dir: u8) -> bool {
    let side = |dst: bool| {
        let (a0, a1, a2, a3) = if dst {
            (
                ld!(u32, ip, 24),
                ld!(u32, ip, 28),
                ld!(u32, ip, 32),
                ld!(u32, ip, 36),
            )
        } else {
            (
                ld!(u32, ip, 8),
                ld!(u32, ip, 12),
                ld!(u32, ip, 16),
                ld!(u32, ip, 20),
            )
        };
        (a0 & ro!(t.mask[0])) == ro!(t.addr[0])
            && (a1 & ro!(t.mask[1])) == ro!(t.addr[1])
            && (a2 & ro!(t.mask[2])) == ro!(t.addr[2])
            && (a3 & ro!(t.mask[3])) == ro!(t.addr[3])
    };
    (dir & DIR_SRC != 0 && side(false)) || (dir & DIR_DST != 0 && side(true))
}
