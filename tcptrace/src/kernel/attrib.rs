//! The attribution programs (tcptrace-ebpf `attrib.rs`): raw tracepoints on TCP state
//! changes and receives. Raw tracepoints need neither kprobes, BTF nor tracefs, so they
//! load wherever the packet programs do (4.17+).
use aya::{
    maps::{HashMap, MapData, MapError, RingBuf},
    programs::Program,
};
use tcptrace_common::attrib::{FlowKey, Owner, counter};

use super::{Kernel, KernelError, verifier_log};

/// (program, raw tracepoint): every one must attach, or attribution is off.
pub const HOOKS: [(&str, &str); 2] = [
    ("tcptrace_attrib_state", "inet_sock_set_state"),
    ("tcptrace_attrib_recv", "tcp_rcv_space_adjust"),
];

/// Sums of the attribution counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttribCounters {
    pub recorded: u64,
    pub lost: u64,
    pub unreadable: u64,
    pub hits: u64,
    pub misses: u64,
    /// Entries the hooks added to the LRU maps and removed, and the entries there now.
    pub added: u64,
    pub removed: u64,
    pub live: u64,
}

impl AttribCounters {
    /// Entries the LRU maps evicted to make room (exact when read with the hooks detached).
    pub fn evicted(&self) -> u64 {
        self.added
            .saturating_sub(self.removed)
            .saturating_sub(self.live)
    }
}

impl Kernel {
    /// Loads and attaches the socket hooks. On an error the ones attached so far are
    /// detached again: attribution is then off, and tracing goes on without it.
    pub fn attach_attribution(&mut self) -> Result<(), KernelError> {
        let r = self.try_attach_attribution();
        if r.is_err() {
            self.detach_attribution();
        }
        r
    }

    fn try_attach_attribution(&mut self) -> Result<(), KernelError> {
        for (prog, tp) in HOOKS {
            self.attach_raw_tracepoint(prog, tp, "socket hook")?;
        }
        Ok(())
    }

    /// Loads program `prog` and attaches it to raw tracepoint `tp`; `what` names it in
    /// the error.
    pub(super) fn attach_raw_tracepoint(
        &mut self,
        prog: &'static str,
        tp: &str,
        what: &'static str,
    ) -> Result<(), KernelError> {
        let p = self
            .ebpf
            .program_mut(prog)
            .ok_or_else(|| KernelError::other("program missing from object", prog))?;
        let Program::RawTracePoint(p) = p else {
            return Err(KernelError::other("not a raw tracepoint program", prog));
        };
        p.load()
            .and_then(|()| p.attach(tp).map(drop))
            .map_err(|e| KernelError::Other {
                what,
                detail: format!("tracepoint {tp}: {}", verifier_log(&e)),
            })
    }

    /// Detaches and unloads the socket hooks.
    pub fn detach_attribution(&mut self) {
        for (prog, _) in HOOKS {
            if let Some(Program::RawTracePoint(p)) = self.ebpf.program_mut(prog) {
                let _ = p.unload();
            }
        }
    }

    /// Records `owner` for `key` in the kernel's flow map, as a socket hook would (sockets
    /// opened before the trace; tests of the packet programs' process filter), unless a
    /// hook has recorded it already. Whether it was added.
    pub fn attrib_insert(&mut self, key: &FlowKey, owner: &Owner) -> Result<bool, KernelError> {
        let map = self
            .ebpf
            .map_mut("ATTRIB_FLOWS")
            .ok_or_else(|| KernelError::other("map missing", "ATTRIB_FLOWS"))?;
        let mut flows: HashMap<&mut MapData, FlowKey, Owner> =
            HashMap::try_from(map).map_err(|e| KernelError::other("ATTRIB_FLOWS map", e))?;
        // BPF_NOEXIST: a hook's entry is newer than what userspace found.
        match flows.insert(key, owner, 1) {
            Ok(()) => {
                self.attrib_inserted += 1;
                Ok(true)
            }
            Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::EEXIST) => {
                Ok(false)
            }
            Err(e) => Err(KernelError::other("ATTRIB_FLOWS insert", e)),
        }
    }

    /// The ring the attribution events arrive in (take it once).
    pub fn take_attrib_ring(&mut self) -> Result<RingBuf<MapData>, KernelError> {
        let map = self
            .ebpf
            .take_map("ATTRIB_EVENTS")
            .ok_or_else(|| KernelError::other("map missing", "ATTRIB_EVENTS (already taken?)"))?;
        RingBuf::try_from(map).map_err(|e| KernelError::other("ATTRIB_EVENTS map", e))
    }

    /// Current attribution counter totals over all CPUs.
    pub fn attrib_counters(&self) -> Result<AttribCounters, KernelError> {
        let blocks = self.per_cpu::<[u64; counter::COUNT as usize]>("ATTRIB_COUNTERS")?;
        let sum = |i: u32| blocks.iter().map(|b| b[i as usize]).sum();
        let flows: HashMap<&MapData, FlowKey, Owner> = HashMap::try_from(self.map("ATTRIB_FLOWS")?)
            .map_err(|e| KernelError::other("ATTRIB_FLOWS map", e))?;
        let socks: HashMap<&MapData, u64, Owner> = HashMap::try_from(self.map("ATTRIB_SOCKS")?)
            .map_err(|e| KernelError::other("ATTRIB_SOCKS map", e))?;
        let live = (flows.keys().filter(Result::is_ok).count()
            + socks.keys().filter(Result::is_ok).count()) as u64;
        Ok(AttribCounters {
            added: sum(counter::ADDED) + self.attrib_inserted,
            removed: sum(counter::REMOVED),
            live,
            recorded: sum(counter::RECORDED),
            lost: sum(counter::LOST),
            unreadable: sum(counter::UNREADABLE),
            hits: sum(counter::HITS),
            misses: sum(counter::MISSES),
        })
    }
}
