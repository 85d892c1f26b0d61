//! Packet fate from userspace: the `sk_buff` layout for the drop program (from BTF,
//! frozen into its read-only data), the names of the running kernel's drop and reset
//! reasons (its BTF `enum skb_drop_reason` and `enum sk_rst_reason`: they differ from
//! kernel to kernel, so none is compiled in), the dropping function (`/proc/kallsyms`),
//! and attaching the programs: drops (`skb:kfree_skb`), resets sent
//! (`tcp:tcp_send_reset`, where it gives the reason) and retransmissions
//! (`tcp:tcp_retransmit_skb`).
use std::collections::HashMap;

use aya::programs::Program;
use tcptrace_common::fate::SkbLayout;

use super::{Kernel, KernelError, btf::Btf};

const PROG: &str = "tcptrace_drop";
const TRACEPOINT: &str = "kfree_skb";
const RESET_PROG: &str = "tcptrace_reset";
const RESET_TP: &str = "tcp_send_reset";
const RETRANSMIT_TP: &str = "tcp_retransmit_skb";
/// The retransmission program for each form of the tracepoint (2 or 3 arguments).
const RETRANSMIT_PROGS: [&str; 2] = ["tcptrace_retransmit", "tcptrace_retransmit_err"];

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
        cb_seq: skb("cb")? + at("tcp_skb_cb", "seq")?,
        cb_flags: skb("cb")? + at("tcp_skb_cb", "tcp_flags")?,
        inet_sport: at("inet_sock", "inet_sport")?,
        netns: std::os::unix::fs::MetadataExt::ino(&netns) as u32,
    })
}

/// What a drop or reset record says, in words: the reason's name and the function that
/// dropped.
pub struct Namer {
    reasons: HashMap<u32, String>,
    resets: HashMap<u32, String>,
    /// Text symbols by address (read at attach, before privileges are dropped).
    syms: Option<Vec<(u64, String)>>,
    /// Arguments of `tcp_send_reset` and `tcp_retransmit_skb` (None: not in BTF).
    reset_args: Option<usize>,
    retransmit_args: Option<usize>,
}

/// An enum's names without their common prefix.
fn names(btf: Option<&Btf>, name: &str, prefix: &str) -> HashMap<u32, String> {
    btf.and_then(|b| b.enum_names(name))
        .unwrap_or_default()
        .into_iter()
        .map(|(v, n)| (v, n.strip_prefix(prefix).unwrap_or(&n).to_string()))
        .collect()
}

impl Namer {
    /// The reasons of this kernel (an empty table without BTF: reasons are then numbers).
    pub fn new(btf: Option<&Btf>) -> Namer {
        Namer {
            reasons: names(btf, "skb_drop_reason", "SKB_DROP_REASON_"),
            resets: names(btf, "sk_rst_reason", "SK_RST_REASON_"),
            syms: None,
            reset_args: btf.and_then(|b| b.tracepoint_args(RESET_TP)),
            retransmit_args: btf.and_then(|b| b.tracepoint_args(RETRANSMIT_TP)),
        }
    }

    /// A reset reason's name as `tcp_send_reset` prints it (`NO_SOCKET`).
    pub fn reset_reason(&self, r: u32) -> String {
        self.resets
            .get(&r)
            .cloned()
            .unwrap_or_else(|| format!("reason {r}"))
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

impl Kernel {
    /// Attaches the drop program (`skb:kfree_skb`), then the reset and retransmission
    /// programs, and hands over the names for their records; None when packet fate was
    /// not asked for (`Config::drops`) or this kernel has no BTF for it (said at load).
    /// Without the reset reason or the retransmission hook, one line says so and the
    /// rest goes on.
    pub fn attach_drops(&mut self) -> Result<Option<Namer>, KernelError> {
        let Some(mut namer) = self.fate.take() else {
            return Ok(None);
        };
        self.attach_raw_tracepoint(PROG, TRACEPOINT, "drop hook")?;
        // tcp_send_reset gives its reason since 6.10 (sk, skb, reason).
        let reset = match namer.reset_args {
            Some(n) if n >= 3 && !namer.resets.is_empty() => self
                .attach_raw_tracepoint(RESET_PROG, RESET_TP, "reset hook")
                .map_err(|e| e.to_string()),
            _ => Err(format!(
                "this kernel's {RESET_TP} gives no reason (a refusal is explained by its NO_SOCKET drop)"
            )),
        };
        if let Err(e) = reset {
            eprintln!("tcptrace: reset reasons off: {e}");
        }
        // tcp_retransmit_skb has the transmit error as a third argument on newer kernels.
        let prog = RETRANSMIT_PROGS[usize::from(namer.retransmit_args.unwrap_or(2) >= 3)];
        if let Err(e) = self.attach_raw_tracepoint(prog, RETRANSMIT_TP, "retransmission hook") {
            eprintln!("tcptrace: kernel retransmissions not counted: {e}");
        }
        namer.read_symbols();
        Ok(Some(namer))
    }

    /// Detaches and unloads the drop, reset and retransmission programs.
    pub fn detach_drops(&mut self) {
        for prog in [PROG, RESET_PROG].iter().chain(&RETRANSMIT_PROGS) {
            if let Some(Program::RawTracePoint(p)) = self.ebpf.program_mut(prog) {
                let _ = p.unload();
            }
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
        assert!(l.cb_seq > 0 && l.cb_flags > l.cb_seq);
        // kfree_skb(skb, location, reason[, rx_sk]); tcp_retransmit_skb(sk, skb[, err]).
        assert!(btf.tracepoint_args("kfree_skb").unwrap() >= 3);
        assert!(matches!(
            btf.tracepoint_args("tcp_retransmit_skb"),
            Some(2 | 3)
        ));
        // Reset reasons since 6.10: the tracepoint's third argument and their names.
        if n.reset_args == Some(3) {
            assert_eq!(n.reset_reason(1), "NO_SOCKET");
            assert!(n.resets.values().any(|v| v == "TCP_ABORT_ON_CLOSE"));
        }
    }
}
