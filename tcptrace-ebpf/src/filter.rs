//! The in-kernel filter: hosts and ports from maps filled at start.
//! Both kinds given → both must hold; one kind → that one; none → every segment.
use tcptrace_common::FAMILY_V4;

use crate::{
    frame::{Frame, at, read},
    maps::{HOSTS, PORTS, config},
    parse::Layers,
};

#[inline(always)]
pub fn accept<F: Frame>(f: &F, l: &Layers) -> bool {
    let cfg = config();
    if cfg.filter_hosts != 0 && !host_match(f, l) {
        return false;
    }
    if cfg.filter_ports != 0 && !port_match(f, l) {
        return false;
    }
    true
}

#[inline(always)]
fn wanted_host(key: &[u8; 16]) -> bool {
    // SAFETY: the value is a plain u8 that is only read.
    unsafe { HOSTS.get(key).is_some() }
}

#[inline(always)]
fn host_match<F: Frame>(f: &F, l: &Layers) -> bool {
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    if l.family == FAMILY_V4 {
        let Some(a) = at::<F, [u8; 8]>(f, l.l3 + 12) else {
            return false;
        };
        // SAFETY: checked by `at`.
        let a = unsafe { *a };
        src[10] = 0xff;
        src[11] = 0xff;
        dst[10] = 0xff;
        dst[11] = 0xff;
        src[12..16].copy_from_slice(&a[0..4]);
        dst[12..16].copy_from_slice(&a[4..8]);
    } else {
        let Some(a) = at::<F, [u8; 32]>(f, l.l3 + 8) else {
            return false;
        };
        // SAFETY: checked by `at`.
        let a = unsafe { &*a };
        src.copy_from_slice(&a[0..16]);
        dst.copy_from_slice(&a[16..32]);
    }
    wanted_host(&src) || wanted_host(&dst)
}

#[inline(always)]
fn port_match<F: Frame>(f: &F, l: &Layers) -> bool {
    if l.l4_avail < 4 {
        return false;
    }
    let Some(p) = read::<F, 4>(f, l.l4) else {
        return false;
    };
    let sport = u16::from_be_bytes([p[0], p[1]]) as u32;
    let dport = u16::from_be_bytes([p[2], p[3]]) as u32;
    let want = |port: u32| matches!(PORTS.get(port), Some(v) if *v != 0);
    want(sport) || want(dport)
}
