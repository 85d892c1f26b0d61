//! What tcptrace needs of the kernel, probed at start: a missing feature is one clear line
//! naming it and the version that brought it, never a verifier dump.
use aya::{
    maps::MapType,
    programs::ProgramType,
    sys::{BpfHelper, is_helper_supported, is_map_supported},
};

/// A kernel feature tcptrace needs, and since when Linux has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feature {
    /// As the error names it: "this kernel (5.4) has no {name} (needs {since})".
    pub name: &'static str,
    pub since: &'static str,
    /// For the README's table: what needs it.
    pub used_for: &'static str,
}

pub const RING_BUFFER: Feature = Feature {
    name: "BPF ring buffer",
    since: "5.8",
    used_for: "every record",
};
pub const XDP_FRAGS: Feature = Feature {
    name: "bpf_xdp_load_bytes and XDP fragments",
    since: "5.18",
    used_for: "the XDP program (live XDP modes and -r)",
};
pub const BPF_LOOP: Feature = Feature {
    name: "bpf_loop",
    since: "5.17",
    used_for: "-v (TCP checksums)",
};

/// The first feature this kernel lacks for a run with (`checksums`) or without -v.
pub fn first_missing(checksums: bool) -> Option<Feature> {
    let helper = |t, h| is_helper_supported(t, h).unwrap_or(true);
    if !is_map_supported(MapType::RingBuf).unwrap_or(true) {
        return Some(RING_BUFFER);
    }
    if !helper(ProgramType::Xdp, BpfHelper::BPF_FUNC_xdp_load_bytes) {
        return Some(XDP_FRAGS);
    }
    if checksums && !helper(ProgramType::SchedClassifier, BpfHelper::BPF_FUNC_loop) {
        return Some(BPF_LOOP);
    }
    None
}

/// `6.1.0-50-amd64` → `6.1`: the running kernel's version, as the error says it.
pub fn kernel_version() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    short_version(release.trim())
}

fn short_version(release: &str) -> String {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty());
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => format!("{a}.{b}"),
        _ => release.to_string(),
    }
}

/// The refusal: `this kernel (5.4) has no BPF ring buffer (needs 5.8)`.
pub fn refusal(f: Feature, version: &str) -> String {
    format!(
        "this kernel ({version}) has no {} (needs {})",
        f.name, f.since
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_refusals() {
        assert_eq!(short_version("6.1.0-50-amd64"), "6.1");
        assert_eq!(short_version("6.12.117+deb12-amd64"), "6.12");
        assert_eq!(short_version("5.4.0"), "5.4");
        assert_eq!(
            refusal(RING_BUFFER, "5.4"),
            "this kernel (5.4) has no BPF ring buffer (needs 5.8)"
        );
    }
}
