//! Builds the kernel object (tcptrace-ebpf) with the nightly toolchain and bpf-linker.
use anyhow::{Context as _, anyhow};

fn main() -> anyhow::Result<()> {
    // The static (musl) binary copies short buffers itself (src/smallcopy.rs).
    if std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("musl")
        && std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64")
    {
        println!("cargo:rustc-link-arg-bins=-Wl,--wrap=memcpy");
    }
    let cargo_metadata::Metadata { packages, .. } = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("MetadataCommand::exec")?;
    let ebpf = packages
        .into_iter()
        .find(|p| p.name.as_str() == "tcptrace-ebpf")
        .ok_or_else(|| anyhow!("tcptrace-ebpf package not found"))?;
    let root = ebpf
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("no parent for {}", ebpf.manifest_path))?;
    aya_build::build_ebpf(
        [aya_build::Package {
            name: ebpf.name.as_str(),
            root_dir: root.as_str(),
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )?;
    // With AYA_BUILD_SKIP=1 (userspace-only checks) leave empty objects: loading them fails
    // with a clear error at run time instead of the build failing here.
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").context("OUT_DIR")?);
    for name in ["tcptrace-ebpf", "bench-empty", "test-peers"] {
        let p = out.join(name);
        if !p.exists() {
            std::fs::write(&p, b"")?;
        }
    }
    // Dependents (the bench) find the objects through `links`: DEP_TCPTRACE_EBPF_OBJECTS.
    println!("cargo:objects={}", out.display());
    Ok(())
}
