//! Tracing changes nothing for the other programs on tcptrace's hooks: a real drop program
//! (tcptrace-testkit/src/hooks.rs), attached through TCX where the kernel has it and as a clsact
//! filter, before tcptrace starts and after it, on ingress (every ingress mode) and on
//! egress, must still drop; it reads the Ethernet type, so it also proves the frame it
//! gets still has its Ethernet header. Runs on every kernel of the matrix.
mod common;

use std::{
    io::ErrorKind,
    net::{IpAddr, SocketAddr, TcpListener},
    time::{Duration, Instant},
};

use aya::programs::TcAttachType;
use common::{
    hooks::{Attach, DropProg, assert_nothing_of_ours, in_vm},
    netns::{EVENT_TIMEOUT, NetnsPair, Proc, connect_nonblocking, in_netns},
    tcptrace_bin,
};
use tcptrace::kernel::has_tcx;

const PORT: u16 = 7777;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    /// The drop program is attached before tcptrace starts.
    Before,
    /// … after tcptrace is listening.
    After,
}

/// Ways to attach the drop program on this kernel: TCX (6.6+) and clsact. A clsact filter
/// placed after tcptrace in the chain (ingress, highest priority number) checks that
/// tcptrace's verdict lets later filters run; egress tcptrace is last itself.
fn ways(hook: TcAttachType, order: Order) -> Vec<Attach> {
    let mut v = Vec::new();
    if has_tcx() {
        v.push(Attach::Tcx);
    }
    let prio = match (hook, order) {
        (TcAttachType::Ingress, Order::After) => u16::MAX,
        _ => 0,
    };
    v.push(Attach::Clsact(prio));
    v
}

/// One case: a client in `a` connects to a listener in `b`; the drop program sits on
/// `hook` of `veth_b` with tcptrace tracing it in `mode`. The connection must not go
/// through, and the drop program must have dropped frames.
fn case(hook: TcAttachType, mode: &str, how: Attach, order: Order) {
    let net = NetnsPair::new();
    let b: IpAddr = net.b4.parse().unwrap();
    let listener = in_netns(&net.b, move || {
        let l = TcpListener::bind(SocketAddr::new(b, PORT)).expect("bind");
        l.set_nonblocking(true).unwrap();
        l
    })
    .join()
    .unwrap();
    let attach = || DropProg::attach(&net.b, &net.veth_b, hook, how);
    let what = format!("{hook:?} drop program ({how:?}) attached {order:?} tcptrace ({mode})");
    let early = match order {
        Order::Before => match attach() {
            Ok(p) => Some(p),
            Err(e) if matches!(how, Attach::Clsact(_)) && !in_vm() => {
                eprintln!("skipped: {what}: this kernel has no cls_bpf ({e})");
                return;
            }
            Err(e) => panic!("{what}: {e}"),
        },
        Order::After => None,
    };

    let mut cmd = net.exec(&net.b, tcptrace_bin());
    cmd.args([
        "-i",
        &net.veth_b,
        "--xdp-mode",
        mode,
        "--port",
        &PORT.to_string(),
    ]);
    let mut tcptrace = Proc::spawn("tcptrace", cmd);
    tcptrace.wait_stderr("listening on");
    let dropper = match early {
        Some(p) => p,
        None => match attach() {
            Ok(p) => p,
            Err(e) if matches!(how, Attach::Clsact(_)) && !in_vm() => {
                eprintln!("skipped: {what}: this kernel has no cls_bpf ({e})");
                return;
            }
            Err(e) => panic!("{what}: {e}"),
        },
    };

    let dst = SocketAddr::new(b, PORT);
    let client = in_netns(&net.a, move || connect_nonblocking(dst))
        .join()
        .unwrap();
    // Await the drop (its counter), failing at once if the connection gets through.
    let deadline = Instant::now() + EVENT_TIMEOUT;
    while dropper.dropped() == 0 {
        match listener.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Ok(_) => panic!("{what}: the connection went through: the drop program was bypassed"),
            Err(e) => panic!("accept: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the drop program never dropped a frame"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("{what}: the connection went through ({other:?})"),
    }
    // tcptrace saw the SYN all the same (its ingress runs before the policy, as tcpdump's
    // tap does).
    tcptrace.wait_stdout("Flags [S]");
    assert_eq!(tcptrace.interrupt(), Some(0), "{:?}", tcptrace.err_lines);
    drop(client);
    drop(dropper);
    assert_nothing_of_ours(&net.b, &net.veth_b);
}

fn all_cases(hook: TcAttachType, mode: &str) {
    for order in [Order::Before, Order::After] {
        for how in ways(hook, order) {
            case(hook, mode, how, order);
        }
    }
}

#[test]
fn ingress_tc_keeps_other_programs_deciding() {
    all_cases(TcAttachType::Ingress, "off");
}

#[test]
fn ingress_generic_xdp_keeps_other_programs_deciding() {
    all_cases(TcAttachType::Ingress, "generic");
}

#[test]
fn ingress_native_xdp_keeps_other_programs_deciding() {
    all_cases(TcAttachType::Ingress, "native");
}

#[test]
fn egress_keeps_other_programs_deciding() {
    all_cases(TcAttachType::Egress, "auto");
}
