//! The `test-peers` object comes from tcptrace's build script (its `links` metadata).
fn main() {
    let dir = std::env::var("DEP_TCPTRACE_EBPF_OBJECTS")
        .expect("tcptrace's build script names its objects' folder");
    println!("cargo:rustc-env=TCPTRACE_OBJECTS={dir}");
}
