//! The capabilities tcptrace needs, and which of them this process lacks.

/// A capability and what tcptrace needs it for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap {
    pub name: &'static str,
    bit: u32,
    pub why: &'static str,
}

pub const NEEDED: [Cap; 3] = [
    Cap {
        name: "CAP_BPF",
        bit: 39,
        why: "to create BPF maps and load BPF programs",
    },
    Cap {
        name: "CAP_NET_ADMIN",
        bit: 12,
        why: "to load XDP and TC programs and attach them to interfaces",
    },
    Cap {
        name: "CAP_PERFMON",
        bit: 38,
        why: "for the verifier to accept the programs' packet pointer arithmetic",
    },
];

/// CAP_SYS_ADMIN stands in for all three.
const CAP_SYS_ADMIN: u32 = 21;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// The capabilities of [`NEEDED`] missing from this process's effective set (none when
/// they cannot be read: the kernel then has the last word).
pub fn missing() -> Vec<Cap> {
    let Some(eff) = effective() else {
        return Vec::new();
    };
    let has = |bit: u32| eff & (1u64 << bit) != 0;
    if has(CAP_SYS_ADMIN) {
        return Vec::new();
    }
    NEEDED.iter().copied().filter(|c| !has(c.bit)).collect()
}

fn effective() -> Option<u64> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut hdr = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget with a v3 header and room for two data blocks, as it requires.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &raw mut hdr, data.as_mut_ptr()) };
    (rc == 0).then(|| u64::from(data[0].effective) | (u64::from(data[1].effective) << 32))
}

/// One line naming what is missing and what each is for.
pub fn describe(missing: &[Cap]) -> String {
    let list: Vec<String> = missing
        .iter()
        .map(|c| format!("{} ({})", c.name, c.why))
        .collect();
    format!(
        "missing capabilit{} {}: run as root, or grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (see README)",
        if missing.len() == 1 { "y" } else { "ies" },
        list.join(", ")
    )
}

/// Why the kernel said EPERM: the capabilities missing when some are; else a seccomp
/// filter when one is on (a container runtime's default profile refuses bpf() even to
/// CAP_BPF holders); else something else of the kernel's (an LSM, lockdown).
pub fn refusal() -> String {
    let missing = missing();
    if !missing.is_empty() {
        return describe(&missing);
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let filtered = status.lines().any(|l| {
        l.split_once(':')
            .is_some_and(|(k, v)| k == "Seccomp" && v.trim() == "2")
    });
    if filtered {
        "a seccomp filter refused the bpf() system call (this process holds CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON): run tcptrace without it (Kubernetes: seccompProfile Unconfined; podman or docker: --security-opt seccomp=unconfined)".to_string()
    } else {
        "permission denied loading or attaching BPF programs although this process holds CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON: a security module (SELinux, AppArmor, lockdown) refuses it".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_missing_capability_and_its_use() {
        let s = describe(&[NEEDED[2]]);
        assert!(
            s.starts_with("missing capability CAP_PERFMON (for the verifier"),
            "{s}"
        );
        let s = describe(&NEEDED);
        assert!(s.starts_with("missing capabilities CAP_BPF ("), "{s}");
    }
}
