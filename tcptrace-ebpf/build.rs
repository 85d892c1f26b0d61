use which::which;

/// Rebuild when bpf-linker changes (a new build of it may emit different code).
fn main() {
    if let Ok(linker) = which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
}
