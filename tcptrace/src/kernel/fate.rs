//! Packet fate from userspace: the `sk_buff` layout for the drop program (from BTF,
//! frozen into its read-only data), the names of the running kernel's drop reasons (its
//! BTF `enum skb_drop_reason`: they differ from kernel to kernel, so none is compiled
//! in), the dropping function (`/proc/kallsyms`), and attaching the program.
use std::collections::HashMap;

use aya::programs::Program;
use tcptrace_common::fate::{DropRecord, IcmpRecord, SkbLayout, item};

use super::{Kernel, KernelError, btf::Btf};

const PROG: &str = "tcptrace_drop";
const TRACEPOINT: &str = "kfree_skb";

/// The offsets the drop program reads, from the kernel's BTF; None when a field is not
/// there (or the BTF is missing).
pub fn skb_layout(btf: &Btf) -> Option<SkbLayout> {
    let at = |s, m| btf.member_offset(s, m).and_then(|o| u16::try_from(o).ok());
    let skb = |m| at("sk_buff", m);
    let netns = std::fs::metadata("/proc/self/ns/net").ok()?;
    Some(SkbLayout {
        enabled: 1,
        head: skb("head")?,
        network_header: skb("network_header")?,
        protocol: skb("protocol")?,
        skb_iif: skb("skb_iif")?,
        dev: skb("dev")?,
        dev_ifindex: at("net_device", "ifindex")?,
        sk: skb("sk")?,
        skc_net: at("sock_common", "skc_net")?,
        dev_net: at("net_device", "nd_net")?,
        net_inum: at("net", "ns")? + at("ns_common", "inum")?,
        netns: std::os::unix::fs::MetadataExt::ino(&netns) as u32,
    })
}

/// What a drop record says, in words: the reason's name and the function that dropped.
pub struct Namer {
    reasons: HashMap<u32, String>,
    /// Text symbols by address (read at attach, before privileges are dropped).
    syms: Option<Vec<(u64, String)>>,
}

impl Namer {
    /// The reasons of this kernel (an empty table without BTF: reasons are then numbers).
    pub fn new(btf: Option<&Btf>) -> Namer {
        let reasons = btf
            .and_then(|b| b.enum_names("skb_drop_reason"))
            .unwrap_or_default()
            .into_iter()
            .map(|(v, n)| {
                let n = n.strip_prefix("SKB_DROP_REASON_").unwrap_or(&n).to_string();
                (v, n)
            })
            .collect();
        Namer {
            reasons,
            syms: None,
        }
    }

    /// The reason's name as the kernel's tracepoint prints it (`NETFILTER_DROP`).
    pub fn reason(&self, r: u32) -> String {
        self.reasons
            .get(&r)
            .cloned()
            .unwrap_or_else(|| format!("reason {r}"))
    }

    /// Reads the kernel's text symbols now, while privileged: once tcptrace has dropped
    /// its capabilities (`-Z`), `/proc/kallsyms` shows every address as 0.
    pub fn read_symbols(&mut self) {
        let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
        self.syms = Some(kallsyms(&text));
    }

    /// The function holding `addr` (`nf_hook_slow`), or the address.
    pub fn function(&mut self, addr: u64) -> String {
        if self.syms.is_none() {
            self.read_symbols();
        }
        let syms = self.syms.as_deref().unwrap_or_default();
        lookup(syms, addr).map_or_else(|| format!("{addr:#x}"), str::to_string)
    }
}

/// Text symbols (`t`/`T`) of a `/proc/kallsyms` text, sorted by address; addresses shown
/// as 0 (no permission) leave it empty.
pub fn kallsyms(text: &str) -> Vec<(u64, String)> {
    let mut v: Vec<(u64, String)> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let addr = u64::from_str_radix(f.next()?, 16).ok()?;
            let kind = f.next()?;
            let name = f.next()?;
            (addr != 0 && (kind == "t" || kind == "T")).then(|| (addr, name.to_string()))
        })
        .collect();
    v.sort_unstable();
    v
}

/// The symbol at or before `addr`.
pub fn lookup(syms: &[(u64, String)], addr: u64) -> Option<&str> {
    let i = syms.partition_point(|(a, _)| *a <= addr);
    (i > 0).then(|| syms[i - 1].1.as_str())
}

/// One drop record from its ring bytes (None: not one).
pub fn drop_from_bytes(b: &[u8]) -> Option<DropRecord> {
    if b.len() != std::mem::size_of::<DropRecord>() {
        return None;
    }
    // SAFETY: plain data of exactly this size; read_unaligned copes with any alignment.
    let d = unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<DropRecord>()) };
    (d.kind == item::DROP).then_some(d)
}

/// One ICMP error record from its ring bytes (None: not one).
pub fn icmp_from_bytes(b: &[u8]) -> Option<IcmpRecord> {
    if b.len() != std::mem::size_of::<IcmpRecord>() {
        return None;
    }
    // SAFETY: plain data of exactly this size; read_unaligned copes with any alignment.
    let i = unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<IcmpRecord>()) };
    (i.kind == item::ICMP).then_some(i)
}

impl Kernel {
    /// Attaches the drop program (`skb:kfree_skb`) and hands over the names for its
    /// records; None when packet fate was not asked for (`Config::drops`) or this kernel
    /// has no BTF for it (said at load).
    pub fn attach_drops(&mut self) -> Result<Option<Namer>, KernelError> {
        if self.fate.is_none() {
            return Ok(None);
        }
        self.attach_raw_tracepoint(PROG, TRACEPOINT, "drop hook")?;
        let mut namer = self.fate.take();
        if let Some(n) = namer.as_mut() {
            n.read_symbols();
        }
        Ok(namer)
    }

    /// Detaches and unloads the drop program.
    pub fn detach_drops(&mut self) {
        if let Some(Program::RawTracePoint(p)) = self.ebpf.program_mut(PROG) {
            let _ = p.unload();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kallsyms_lookup() {
        let syms = kallsyms(
            "ffffffff81000000 T _stext\nffffffff81a00000 t nf_hook_slow\nffffffff81a00400 T ip_rcv\nffffffff82000000 D data\n",
        );
        assert_eq!(lookup(&syms, 0xffffffff81a00123), Some("nf_hook_slow"));
        assert_eq!(lookup(&syms, 0xffffffff81a00400), Some("ip_rcv"));
        assert_eq!(lookup(&syms, 0x1000), None);
        assert!(kallsyms("0000000000000000 T hidden\n").is_empty());
    }

    #[test]
    fn this_kernels_layout_and_reasons() {
        let Some(btf) = Btf::vmlinux() else {
            panic!("no /sys/kernel/btf/vmlinux");
        };
        let l = skb_layout(&btf).expect("sk_buff layout");
        assert!(l.head > 0 && l.dev_ifindex > 0);
        let n = Namer::new(Some(&btf));
        for r in ["NOT_SPECIFIED", "NO_SOCKET", "NETFILTER_DROP", "TCP_CSUM"] {
            assert!(n.reasons.values().any(|v| v == r), "{r}");
        }
    }
}
