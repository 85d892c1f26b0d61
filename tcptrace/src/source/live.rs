//! Live capture: drain the ring buffer with tokio until a signal, `-c` or an error.
use std::{io, ops::ControlFlow};

use tokio::{
    io::{Interest, unix::AsyncFd},
    signal::unix::{SignalKind, signal},
};

use super::{
    Captured, Sink,
    links::{self, LinkEvent, LinkWatch},
};
use crate::{
    decode::{self, Item, Timestamp},
    source::rings::{Rings, SLACK_NS},
};

/// Converts the kernel's CLOCK_MONOTONIC nanoseconds to wall-clock time.
#[derive(Clone, Copy, Debug)]
pub struct MonoClock {
    /// realtime - monotonic, in nanoseconds, measured once at start.
    offset_ns: i64,
}

fn clock_ns(id: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

impl MonoClock {
    pub fn now() -> Self {
        let mono = clock_ns(libc::CLOCK_MONOTONIC);
        let real = clock_ns(libc::CLOCK_REALTIME);
        let mono2 = clock_ns(libc::CLOCK_MONOTONIC);
        MonoClock {
            offset_ns: (real - (mono + mono2) / 2) as i64,
        }
    }

    pub fn wall(&self, mono_ns: u64) -> Timestamp {
        // i64 nanoseconds last until 2262, and divide far faster than i128 (per line).
        let ns = (mono_ns as i64).wrapping_add(self.offset_ns);
        Timestamp::new(
            ns.div_euclid(1_000_000_000),
            ns.rem_euclid(1_000_000_000) as u32,
        )
    }
}

/// How often the ring is drained without a wakeup from the kernel.
const DRAIN_EVERY: std::time::Duration = std::time::Duration::from_millis(10);

/// Why the live loop ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    Signal,
    Sink,
    /// The traced interface was deleted (or moved to another namespace).
    Gone,
}

/// Delivers, in time order, every item in the rings now stamped at or before `until`
/// (`rings::ALL`: every item); `Break` when the sink wants to stop.
pub fn drain(
    rings: &mut Rings,
    until: u64,
    clock: &MonoClock,
    sink: &mut dyn Sink,
) -> ControlFlow<()> {
    rings.drain(until, &mut |item| {
        match decode::item(item) {
            Some(Item::Drop(d)) => sink.dropped(&d, clock.wall(d.rec.ts_ns)),
            Some(Item::Icmp { rec, icmp }) => {
                sink.icmp(&rec, &icmp, clock.wall(rec.ts_ns), None)?
            }
            Some(Item::Segment { rec, snap, tail }) => sink.record(Captured {
                rec: &rec,
                ts: clock.wall(rec.ts_ns),
                snap,
                cooked: None,
                tail: tail.as_ref(),
            })?,
            Some(Item::Attrib(_)) | None => {}
        }
        ControlFlow::Continue(())
    })
}

/// [`drain`] up to the merge's horizon now (see [`super::rings`]).
/// The sink is then told that nothing older than the horizon can come.
fn drain_now(rings: &mut Rings, clock: &MonoClock, sink: &mut dyn Sink) -> ControlFlow<()> {
    let until = Rings::horizon();
    drain(rings, until, clock, sink)?;
    sink.advance(clock.wall(until))
}

/// The signals the live loop answers, caught from the moment this is made (make it before
/// saying "listening", inside the runtime).
pub struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn new() -> io::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            usr1: signal(SignalKind::user_defined1())?,
        })
    }
}

/// The next tick of `i`; never without one.
async fn next_tick(i: &mut Option<tokio::time::Interval>) {
    match i {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Told about interfaces that come and go while tracing.
pub trait LinkHandler {
    /// Appends the interfaces being traced to `into`.
    fn watched(&self, into: &mut Vec<u32>);
    /// One change; `false` ends the trace ([`Stop::Gone`]).
    fn event(&mut self, ev: LinkEvent) -> bool;
}

/// Runs until SIGINT, SIGTERM, the sink stops or `links_to` says the traced interfaces are
/// gone; SIGUSR1 asks the sink for a summary. The rings are handed back for a last drain.
pub async fn run(
    ring: Rings,
    clock: MonoClock,
    links_to: &mut dyn LinkHandler,
    signals: Signals,
    sink: &mut dyn Sink,
) -> io::Result<(Rings, Stop)> {
    let mut links = LinkWatch::new()?;
    // Interfaces may have gone before we subscribed.
    let mut watched = Vec::new();
    links_to.watched(&mut watched);
    for &i in &watched {
        if !links::exists(i) && !links_to.event(LinkEvent::Gone(i)) {
            return Ok((ring, Stop::Gone));
        }
    }
    let Signals {
        mut int,
        mut term,
        mut usr1,
    } = signals;
    // The rings' epoll descriptor: readable when a ring is.
    // SAFETY: the AsyncFd owns the rings and their epoll descriptor, so it stays open for
    // as long as it is registered.
    let mut afd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }?;
    let mut periodic = sink.every().map(|d| {
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });
    // The kernel wakes us only for a filling ring (`Config::wake_bytes` not given back):
    // the rest is picked up by this timer.
    let mut tick = tokio::time::interval(DRAIN_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Filled anew each turn (interfaces come and go), in the same allocation.
        watched.clear();
        links_to.watched(&mut watched);
        let flow = tokio::select! {
            _ = int.recv() => break,
            _ = term.recv() => break,
            evs = links.next(&watched) => {
                // Lines before the change are printed before anything said about it (all
                // of them are under the horizon once the merge's slack has passed).
                tokio::time::sleep(std::time::Duration::from_nanos(SLACK_NS)).await;
                let flow = drain_now(afd.get_mut(), &clock, sink);
                sink.flush();
                let mut keep = true;
                for ev in evs? {
                    keep &= links_to.event(ev);
                }
                if !keep {
                    return Ok((afd.into_inner(), Stop::Gone));
                }
                flow
            }
            _ = usr1.recv() => {
                // Everything stamped before the signal belongs in the summary: once the
                // merge's slack has passed, all of it is in the rings and under the horizon.
                tokio::time::sleep(std::time::Duration::from_nanos(SLACK_NS)).await;
                let flow = drain_now(afd.get_mut(), &clock, sink);
                sink.summary();
                flow
            }
            _ = next_tick(&mut periodic) => {
                // What the ring holds now counts in the totals shown.
                let flow = drain_now(afd.get_mut(), &clock, sink);
                sink.periodic();
                flow
            }
            _ = tick.tick() => drain_now(afd.get_mut(), &clock, sink),
            guard = afd.readable_mut() => {
                let mut guard = guard?;
                // Drain, clear readiness, drain again: a record that lands between the two
                // would otherwise wait for the next wakeup.
                let flow = drain_now(guard.get_inner_mut(), &clock, sink);
                guard.clear_ready();
                if flow.is_continue() {
                    drain_now(guard.get_inner_mut(), &clock, sink)
                } else {
                    flow
                }
            }
        };
        sink.flush();
        if flow.is_break() {
            return Ok((afd.into_inner(), Stop::Sink));
        }
    }
    Ok((afd.into_inner(), Stop::Signal))
}
