//! Socket attribution: which local process owns a TCP socket. Kernel hooks that run in the
//! process's own context (connect, listen, recv, close) record the current task by socket
//! (`ATTRIB_SOCKS`; by 4-tuple in `ATTRIB_FLOWS` where the packet programs need it) and
//! tell userspace on the `ATTRIB_EVENTS` ring.

/// Longest command name the kernel keeps (`TASK_COMM_LEN`).
pub const COMM_LEN: usize = 16;
/// Entries in each of the kernel's owner maps (LRU: the least recently used go first).
pub const MAX_FLOWS: u32 = 65536;
/// Size of the attribution event ring in bytes.
pub const ATTRIB_RING_BYTES: u32 = 1 << 20;
/// Most `--pid` values the kernel filter holds.
pub const MAX_PIDS: usize = 8;
/// Most cgroups (`--container`) the kernel filter holds.
pub const MAX_CGROUPS: usize = 8;
/// Most socket tests the hooks make (one per term of the rule table).
pub const MAX_SOCK_TESTS: usize = 16;

/// `SockTest::kind`.
pub mod sock_test {
    /// A port, local or remote, in `lo..=hi`.
    pub const PORT: u8 = 1;
    /// An IPv4 address, local or remote, with `addr & mask` (word 0).
    pub const NET4: u8 = 2;
    /// An IPv6 address, local or remote, with `addr & mask`.
    pub const NET6: u8 = 3;
}

/// A test on a socket's endpoints that every segment of some term of the rule table
/// passes (its narrowest port or address test). Addresses and masks as the rule table
/// holds them: wire bytes read as native-endian words.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockTest {
    pub kind: u8,
    pub _pad: [u8; 3],
    pub lo: u16,
    pub hi: u16,
    pub addr: [u32; 4],
    pub mask: [u32; 4],
}

impl SockTest {
    pub const NONE: SockTest = SockTest {
        kind: 0,
        _pad: [0; 3],
        lo: 0,
        hi: 0,
        addr: [0; 4],
        mask: [0; 4],
    };
}

/// `AttribEvent::kind`: what the kernel saw.
pub mod kind {
    /// `connect()` (the key may lack the local port), or the end of its handshake (the
    /// whole key; the owner is the connecting process).
    pub const CONNECT: u8 = 1;
    /// `listen()` (the key has only the local port).
    pub const LISTEN: u8 = 2;
    /// A `recv()` by a process other than the recorded owner (the first read of a server
    /// connection, a forked child, an inherited or passed socket, a socket opened before
    /// tracing). (3, once a server connection's establishment, is not sent: until it is
    /// read, a server connection's owner is its listener's.)
    pub const RECV: u8 = 4;
    /// `close()`/`shutdown()` by a process other than the recorded owner.
    pub const CLOSE: u8 = 5;
    /// Open before the trace: found at start in `/proc` (userspace makes these).
    pub const EXISTING: u8 = 6;
}

/// A socket's endpoints, local side first. Addresses as on the wire (IPv4 in the first
/// four bytes), ports in host order. A listener's key has only `family` and `lport`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub family: u8,
    pub _pad: u8,
    pub lport: u16,
    pub rport: u16,
    pub _pad2: u16,
    pub laddr: [u8; 16],
    pub raddr: [u8; 16],
}

/// The task that did something with the socket.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Owner {
    /// Process id (the kernel's tgid) and thread id (its pid).
    pub tgid: u32,
    pub tid: u32,
    pub uid: u32,
    pub gid: u32,
    /// cgroup v2 id (the inode number of the cgroup's directory).
    pub cgroup_id: u64,
    pub comm: [u8; COMM_LEN],
}

/// One attribution event on the `ATTRIB_EVENTS` ring: a ring item of kind
/// [`crate::item::kind::ATTRIB`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttribEvent {
    pub hdr: crate::item::Header,
    /// See [`kind`].
    pub kind: u8,
    pub _pad: [u8; 3],
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC).
    pub ts_ns: u64,
    pub key: FlowKey,
    pub owner: Owner,
}

const _: () = assert!(core::mem::size_of::<AttribEvent>() == 96);
const _: () = assert!(core::mem::size_of::<FlowKey>() == 40);
const _: () = assert!(core::mem::size_of::<Owner>() == 40);
const _: () = assert!(core::mem::size_of::<SockTest>() == 40);

/// The process filter (`--pid`, `--comm`, `--container`) and which sockets the hooks
/// record: a read-only global written before loading. A segment passes when the filter is
/// off, or when the owner of its flow (looked up both ways, then as a listener) matches
/// every option given.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttribFilter {
    /// Zero: no process filter (the packet programs do no lookup at all).
    pub enabled: u32,
    pub n_pids: u32,
    pub pids: [u32; MAX_PIDS],
    /// Non-zero: `comm` must equal the owner's command (NUL-padded).
    pub match_comm: u32,
    pub n_cgroups: u32,
    pub comm: [u8; COMM_LEN],
    pub cgroups: [u64; MAX_CGROUPS],
    /// The hooks record only sockets that pass one of these tests (none: every socket).
    pub n_tests: u32,
    /// Non-zero: a port test overlaps the ephemeral ports, so a socket connecting from a
    /// port not chosen yet is recorded whatever its other endpoints.
    pub ephemeral: u32,
    /// Non-zero: some test is on addresses (the hooks read them).
    pub addresses: u32,
    pub _pad: u32,
    pub tests: [SockTest; MAX_SOCK_TESTS],
}

impl AttribFilter {
    pub const OFF: AttribFilter = AttribFilter {
        enabled: 0,
        n_pids: 0,
        pids: [0; MAX_PIDS],
        match_comm: 0,
        n_cgroups: 0,
        comm: [0; COMM_LEN],
        cgroups: [0; MAX_CGROUPS],
        n_tests: 0,
        ephemeral: 0,
        addresses: 0,
        _pad: 0,
        tests: [SockTest::NONE; MAX_SOCK_TESTS],
    };
}

/// Indices into the per-CPU `ATTRIB_COUNTERS` block.
pub mod counter {
    /// Owners recorded (or re-recorded) by a hook.
    pub const RECORDED: u32 = 0;
    /// Events lost because the attribution ring was full.
    pub const LOST: u32 = 1;
    /// Hook runs that could not read the socket.
    pub const UNREADABLE: u32 = 2;
    /// Filter lookups that found an owner.
    pub const HITS: u32 = 3;
    /// Filter lookups that found none (forwarded traffic, sockets from before tracing,
    /// entries evicted from the LRU map).
    pub const MISSES: u32 = 4;
    /// Entries added to the LRU maps, and entries the hooks removed (a socket closed, a
    /// handshake ended): what is neither removed nor still there was evicted.
    pub const ADDED: u32 = 5;
    pub const REMOVED: u32 = 6;
    pub const COUNT: u32 = 7;
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain-old-data, `#[repr(C)]`, every bit pattern valid.
    unsafe impl aya::Pod for super::FlowKey {}
    unsafe impl aya::Pod for super::Owner {}
    unsafe impl aya::Pod for super::AttribEvent {}
    unsafe impl aya::Pod for super::AttribFilter {}
    unsafe impl aya::Pod for super::SockTest {}
}
