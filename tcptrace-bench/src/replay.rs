//! Userspace throughput: a generated capture (many connections, every kind of option)
//! read by `tcptrace -r` and `tcpdump -n -r`, both to /dev/null; plus tcptrace's own split
//! of the cost per record: replay (kernel test run + ring) versus decode + render.
use std::{
    fs::File,
    io::{BufRead, BufReader, Write as _},
    ops::ControlFlow,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context as _, Result};
use pcap_file::pcap::PcapPacket;
use tcptrace::{
    decode::{Segment, Timestamp},
    kernel::{Filter, Kernel},
    render::{RenderOptions, Renderer},
    source::{Captured, Sink, offline},
};
use tcptrace_common::{Config, Record};

use crate::{
    packets::{self, ACK, FIN, PSH, RST, SYN, Tcp, URG, opt},
    stats::{median, run_timed},
};

/// Writes a capture of about `segments` TCP segments over `segments / 250` connections,
/// interleaved, IPv4 and IPv6, with every kind of option tcpdump prints. Returns the
/// number of frames written and of connections.
pub fn generate(path: &Path, segments: u64) -> Result<(u64, u64)> {
    let mut w = tcptrace_testkit::pcap::writer(path)?;
    let per_conn = 250u64;
    let conns = (segments / per_conn).max(1);
    // Connections run in waves of `active` at a time, their segments interleaved.
    let active = 64u64.min(conns);
    let mut frames = 0u64;
    let mut t_us: u64 = 1_700_000_000 * 1_000_000;
    let mut wave = 0u64;
    while wave * active < conns {
        let ids: Vec<u64> = (wave * active..((wave + 1) * active).min(conns)).collect();
        for k in 0..per_conn {
            for &id in &ids {
                let f = segment(id, k, per_conn);
                t_us += 7 + (id % 5);
                let ts = Duration::from_micros(t_us);
                w.write_packet(&PcapPacket::new(ts, f.len() as u32, &f))?;
                frames += 1;
            }
        }
        wave += 1;
    }
    w.into_writer().flush()?;
    Ok((frames, conns))
}

/// Segment `k` of connection `id`.
fn segment(id: u64, k: u64, n: u64) -> Vec<u8> {
    let v6 = id % 4 == 3;
    let cport = 30000 + (id % 30000) as u16;
    let sport = [5201u16, 15001, 25001][(id % 3) as usize];
    let isn_c = (id as u32).wrapping_mul(2_654_435_761);
    let isn_s = isn_c.rotate_left(13) ^ 0x5a5a_5a5a;
    let tsv = 1000 + k as u32 * 3;
    // Even k after the handshake: client → server data; odd: server → client.
    let from_client = k == 0 || k == 2 || (k > 2 && k.is_multiple_of(2));
    let data = 1 + (id as usize * 7 + k as usize * 13) % 300;
    // Bytes sent so far by each side (data segments of even / odd k ≥ 3).
    let sent = |upto: u64, even: bool| -> u32 {
        (3..upto)
            .filter(|j| (j % 2 == 0) == even)
            .map(|j| (1 + (id as usize * 7 + j as usize * 13) % 300) as u32)
            .sum()
    };
    let mut t = Tcp {
        sport: if from_client { cport } else { sport },
        dport: if from_client { sport } else { cport },
        window: 502 + (k % 7) as u16,
        ..Default::default()
    };
    let c_seq = isn_c.wrapping_add(1).wrapping_add(sent(k, true));
    let s_seq = isn_s.wrapping_add(1).wrapping_add(sent(k, false));
    match k {
        0 => {
            t.flags = SYN;
            t.seq = isn_c;
            t.window = 64240;
            let mut o = [
                opt::mss(1460),
                opt::sack_ok(),
                opt::ts(tsv, 0),
                opt::nop(),
                opt::wscale(7),
            ]
            .concat();
            match id % 5 {
                1 => o.extend(opt::tfo(&[1, 2, 3, 4, 5, 6, 7, 8])),
                2 => o = [opt::mss(1460), opt::mptcp_capable(id)].concat(),
                3 => o.extend(opt::user_timeout(300)),
                _ => {}
            }
            t.options = o;
        }
        1 => {
            t.flags = SYN | ACK;
            t.seq = isn_s;
            t.ack = isn_c.wrapping_add(1);
            t.window = 65160;
            t.options = [
                opt::mss(1460),
                opt::nop(),
                opt::nop(),
                opt::sack_ok(),
                opt::nop(),
                opt::wscale(9),
            ]
            .concat();
        }
        2 => {
            t.flags = ACK;
            t.seq = isn_c.wrapping_add(1);
            t.ack = isn_s.wrapping_add(1);
            t.options = opt::ts(tsv, tsv - 1);
        }
        _ if k >= n - 3 && id.is_multiple_of(11) => {
            // Reset instead of a close.
            t.flags = RST | ACK;
            t.seq = if from_client { c_seq } else { s_seq };
            t.ack = if from_client { s_seq } else { c_seq };
        }
        _ if k >= n - 3 => {
            t.flags = if k == n - 1 { ACK } else { FIN | ACK };
            let fin_c = u32::from(k > n - 3 && from_client || k == n - 1);
            t.seq = if from_client {
                c_seq
            } else {
                s_seq.wrapping_add(0)
            };
            t.ack = if from_client {
                s_seq.wrapping_add(fin_c)
            } else {
                c_seq.wrapping_add(1)
            };
            t.options = opt::ts(tsv, tsv - 2);
        }
        _ => {
            t.flags = ACK | PSH;
            t.seq = if from_client { c_seq } else { s_seq };
            t.ack = if from_client { s_seq } else { c_seq };
            t.payload = packets::payload(data);
            let mut o = opt::ts(tsv, tsv - 2);
            match (id + k) % 23 {
                0 | 5 | 9 => {
                    let base = if from_client { s_seq } else { c_seq };
                    o = [
                        opt::nop(),
                        opt::nop(),
                        opt::ts(tsv, tsv - 2),
                        opt::sack(&[(base.wrapping_add(1000), base.wrapping_add(2000))]),
                    ]
                    .concat();
                }
                1 => o.extend(opt::md5()),
                2 => o = [opt::unknown(253, 6), opt::eol()].concat(),
                3 => {
                    t.flags |= URG;
                    t.urg = 10;
                }
                4 => o = [opt::nop(), opt::nop(), opt::unknown(99, 4)].concat(),
                _ => {}
            }
            t.options = o;
        }
    }
    let (a4, b4) = (
        [10, 20, (id >> 8) as u8, id as u8],
        [10, 30, 0, (id % 7) as u8 + 1],
    );
    let mut a6 = [0u8; 16];
    a6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    a6[14] = (id >> 8) as u8;
    a6[15] = id as u8;
    let mut b6 = a6;
    b6[4] = 1;
    b6[14] = 0;
    b6[15] = 1;
    let (src4, dst4, src6, dst6) = if from_client {
        (a4, b4, a6, b6)
    } else {
        (b4, a4, b6, a6)
    };
    if v6 {
        packets::tcp6(src6, dst6, &[], &t)
    } else {
        packets::tcp4(src4, dst4, (id as u16).wrapping_add(k as u16), &t)
    }
}

/// Collects every record a replay hands over.
struct Collect(Vec<(Record, Timestamp)>);

impl Sink for Collect {
    fn record(&mut self, c: Captured<'_>) -> ControlFlow<()> {
        self.0.push((*c.rec, c.ts));
        ControlFlow::Continue(())
    }
}

pub struct Replay {
    pub frames: u64,
    pub conns: u64,
    pub file_bytes: u64,
    pub rounds: usize,
    /// Medians of the whole commands, seconds.
    pub tcptrace_s: f64,
    pub tcpdump_s: f64,
    pub tcptrace_cpu_s: f64,
    pub tcpdump_cpu_s: f64,
    pub tcptrace_hwm_kib: u64,
    pub tcpdump_hwm_kib: u64,
    /// In-process split, ns per record (medians).
    pub replay_ns: f64,
    pub render_ns: f64,
    pub records: u64,
    /// Output comparison with tcpdump (TZ=UTC): lines compared and the first difference.
    pub same_lines: u64,
    pub total_lines: (u64, u64),
    pub first_diff: Option<(u64, String, String)>,
}

/// CPU time of the calling thread (user + system): robust to other load on the machine.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Replays `path` in process: (CPU ns per record of the replay, of decode + render,
/// records).
fn split(path: &Path) -> Result<(f64, f64, u64)> {
    let mut kernel = Kernel::load(&Filter::default(), Config::default())?;
    let mut ring = kernel.take_rings()?;
    let mut sink = Collect(Vec::with_capacity(1 << 20));
    let t = thread_cpu();
    offline::replay(path, &mut kernel, &mut ring, &mut sink, false)?;
    let replay = thread_cpu() - t;
    let recs = sink.0;
    let mut r = Renderer::new(RenderOptions::default());
    let mut buf = Vec::with_capacity(128 * 1024);
    let mut bytes = 0usize;
    let t = thread_cpu();
    for (rec, ts) in &recs {
        let seg = Segment::from_record(rec, *ts);
        r.render(&seg, &mut buf);
        if buf.len() >= 60 * 1024 {
            bytes += buf.len();
            buf.clear();
        }
    }
    let render = thread_cpu() - t;
    std::hint::black_box(bytes + buf.len());
    let n = recs.len().max(1) as f64;
    Ok((
        replay.as_nanos() as f64 / n,
        render.as_nanos() as f64 / n,
        recs.len() as u64,
    ))
}

/// Lines identical, line counts (tcptrace, tcpdump), first difference (line, both texts).
type Comparison = (u64, (u64, u64), Option<(u64, String, String)>);

fn compare(tcptrace: &Path, pcap: &Path, tmp: &Path) -> Result<Comparison> {
    let a_path = tmp.join("replay-tcptrace.txt");
    let b_path = tmp.join("replay-tcpdump.txt");
    let mut a = Command::new(tcptrace);
    a.env("TZ", "UTC").arg("-r").arg(pcap);
    run_timed("tcptrace -r", a, File::create(&a_path)?.into())?;
    let mut b = Command::new("tcpdump");
    b.env("TZ", "UTC").args(["-n", "-r"]).arg(pcap);
    run_timed("tcpdump -r", b, File::create(&b_path)?.into())?;
    let mut la = BufReader::new(File::open(&a_path)?).lines();
    let mut lb = BufReader::new(File::open(&b_path)?).lines();
    let (mut same, mut na, mut nb) = (0u64, 0u64, 0u64);
    let mut first = None;
    loop {
        let x = la.next().transpose()?;
        let y = lb.next().transpose()?;
        na += u64::from(x.is_some());
        nb += u64::from(y.is_some());
        match (x, y) {
            (None, None) => break,
            (Some(x), Some(y)) if x == y => same += 1,
            (x, y) => {
                if first.is_none() {
                    first = Some((na.max(nb), x.unwrap_or_default(), y.unwrap_or_default()));
                }
            }
        }
    }
    let _ = std::fs::remove_file(&a_path);
    let _ = std::fs::remove_file(&b_path);
    Ok((same, (na, nb), first))
}

pub fn run(quick: bool, tcptrace: &Path, tmp: &Path) -> Result<Replay> {
    let segments = if quick { 100_000 } else { 1_000_000 };
    let pcap: PathBuf = tmp.join("bench-capture.pcap");
    let (frames, conns) = generate(&pcap, segments).context("generating the capture")?;
    let file_bytes = std::fs::metadata(&pcap)?.len();
    let (same_lines, total_lines, first_diff) = compare(tcptrace, &pcap, tmp)?;
    let rounds = if quick { 2 } else { 3 };
    let mut tt = Vec::new();
    let mut td = Vec::new();
    let mut splits = Vec::new();
    for _ in 0..rounds {
        let mut a = Command::new(tcptrace);
        a.arg("-r").arg(&pcap);
        tt.push(run_timed("tcptrace -r", a, File::create("/dev/null")?.into())?.0);
        let mut b = Command::new("tcpdump");
        b.args(["-n", "-r"]).arg(&pcap);
        td.push(run_timed("tcpdump -r", b, File::create("/dev/null")?.into())?.0);
        splits.push(split(&pcap)?);
    }
    let _ = std::fs::remove_file(&pcap);
    let m = |v: &[crate::stats::Usage], f: fn(&crate::stats::Usage) -> f64| {
        median(v.iter().map(f).collect())
    };
    Ok(Replay {
        frames,
        conns,
        file_bytes,
        rounds,
        tcptrace_s: m(&tt, |u| u.wall.as_secs_f64()),
        tcpdump_s: m(&td, |u| u.wall.as_secs_f64()),
        tcptrace_cpu_s: m(&tt, |u| u.cpu.as_secs_f64()),
        tcpdump_cpu_s: m(&td, |u| u.cpu.as_secs_f64()),
        tcptrace_hwm_kib: m(&tt, |u| u.maxrss_kib as f64) as u64,
        tcpdump_hwm_kib: m(&td, |u| u.maxrss_kib as f64) as u64,
        replay_ns: median(splits.iter().map(|s| s.0).collect()),
        render_ns: median(splits.iter().map(|s| s.1).collect()),
        records: splits.first().map_or(0, |s| s.2),
        same_lines,
        total_lines,
        first_diff,
    })
}
