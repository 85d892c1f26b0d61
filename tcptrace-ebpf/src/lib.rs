//! The kernel programs live in the `tcptrace-ebpf` binary (src/main.rs) and the test and
//! bench objects (src/bin/); this library holds what each of them declares alike, and lets
//! the userspace crate name this package as a build dependency.
#![no_std]

/// The panic handler (never called: the verifier rejects a program that could panic) and
/// the licence section (GPL-compatible, for the GPL-only helpers) of one program object.
#[macro_export]
macro_rules! object {
    () => {
        #[cfg(not(test))]
        #[panic_handler]
        fn panic(_info: &core::panic::PanicInfo) -> ! {
            loop {}
        }

        #[unsafe(link_section = "license")]
        #[unsafe(no_mangle)]
        static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
    };
}
