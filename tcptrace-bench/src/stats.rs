//! Medians, child processes with their resource usage, and /proc readings.
use std::{
    fs,
    io::Read,
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

pub fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| !x.is_nan());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub fn median_u64(v: &[u64]) -> u64 {
    median(v.iter().map(|&x| x as f64).collect()).round() as u64
}

/// What a finished child used.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub status: i32,
    pub wall: Duration,
    /// utime + stime.
    pub cpu: Duration,
    /// Peak resident set size in KiB: VmHWM, last sampled before the exit.
    pub maxrss_kib: u64,
}

/// A child process: stderr lines collected on a thread, reaped with wait4 for its
/// rusage, killed on drop if still running.
pub struct Proc {
    pub name: String,
    child: Child,
    started: Instant,
    stderr: mpsc::Receiver<String>,
    pub err_lines: Vec<String>,
    reaped: bool,
}

impl Proc {
    /// Starts `cmd` with stdout sent to `stdout` and stderr captured.
    pub fn spawn(name: &str, mut cmd: Command, stdout: Stdio) -> Result<Proc> {
        cmd.stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let err = child.stderr.take().context("stderr")?;
        let rx = tcptrace_testkit::netns::lines_to(err);
        Ok(Proc {
            name: name.to_string(),
            child,
            started,
            stderr: rx,
            err_lines: Vec::new(),
            reaped: false,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits (at most `timeout`) for a stderr line containing `needle`.
    pub fn wait_stderr(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Ok(l) = self.stderr.try_recv() {
                self.err_lines.push(l);
            }
            if self.err_lines.iter().any(|l| l.contains(needle)) {
                return Ok(());
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                self.reaped = true;
                thread::sleep(Duration::from_millis(100));
                while let Ok(l) = self.stderr.try_recv() {
                    self.err_lines.push(l);
                }
                bail!(
                    "{} exited ({st}) before printing '{needle}':\n{}",
                    self.name,
                    self.err_lines.join("\n")
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not print '{needle}' within {timeout:?}:\n{}",
                    self.name,
                    self.err_lines.join("\n")
                );
            }
            if let Ok(l) = self.stderr.recv_timeout(Duration::from_millis(20)) {
                self.err_lines.push(l);
            }
        }
    }

    pub fn signal(&self, sig: i32) {
        if !self.reaped {
            // SAFETY: signalling our own, not yet reaped, child.
            unsafe { libc::kill(self.pid(), sig) };
        }
    }

    /// Waits for the exit (SIGKILL after `timeout`), returns its resource usage; stderr
    /// lines are all in `err_lines` afterwards.
    pub fn wait(&mut self, timeout: Duration) -> Result<Usage> {
        if self.reaped {
            bail!("{} already reaped", self.name);
        }
        let deadline = Instant::now() + timeout;
        let mut status = 0i32;
        // SAFETY: zeroed rusage is a valid value to be overwritten.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // ru_maxrss would carry the bench's own RSS from before the exec (Linux keeps the
        // larger of the two): sample VmHWM, which belongs to the exec'd image, instead.
        let mut hwm = 0;
        loop {
            if let Some(h) = vm_hwm_kib(self.pid()) {
                hwm = h;
            }
            // SAFETY: our own child; valid pointers.
            let r = unsafe { libc::wait4(self.pid(), &mut status, libc::WNOHANG, &mut ru) };
            if r == self.pid() {
                break;
            }
            if r < 0 {
                bail!("wait4({}): {}", self.name, std::io::Error::last_os_error());
            }
            if Instant::now() > deadline {
                // SAFETY: as above.
                unsafe { libc::kill(self.pid(), libc::SIGKILL) };
            }
            thread::sleep(Duration::from_millis(5));
        }
        self.reaped = true;
        let wall = self.started.elapsed();
        // The reader thread ends at EOF.
        while let Ok(l) = self.stderr.recv_timeout(Duration::from_secs(5)) {
            self.err_lines.push(l);
        }
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        Ok(Usage {
            status: if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            },
            wall,
            cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
            maxrss_kib: hwm,
        })
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `cmd` to the end with stdout to `stdout`; returns its usage and stderr.
pub fn run_timed(name: &str, cmd: Command, stdout: Stdio) -> Result<(Usage, Vec<String>)> {
    let mut p = Proc::spawn(name, cmd, stdout)?;
    let u = p.wait(Duration::from_secs(600))?;
    if u.status != 0 {
        bail!(
            "{name} exited with {}:\n{}",
            u.status,
            p.err_lines.join("\n")
        );
    }
    Ok((u, std::mem::take(&mut p.err_lines)))
}

/// utime + stime of a live process so far.
pub fn cpu_so_far(pid: i32) -> Option<Duration> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

/// VmHWM of a live process, in KiB.
pub fn vm_hwm_kib(pid: i32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Sum of `memlock:` over the BPF map fds of a live process, in bytes, and the map count.
pub fn map_memlock(pid: i32) -> (u64, usize) {
    let mut total = 0;
    let mut maps = 0;
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return (0, 0);
    };
    for e in dir.flatten() {
        let mut s = String::new();
        if fs::File::open(e.path())
            .and_then(|mut f| f.read_to_string(&mut s))
            .is_err()
        {
            continue;
        }
        if !s.lines().any(|l| l.starts_with("map_type:")) {
            continue;
        }
        if let Some(m) = s
            .lines()
            .find_map(|l| l.strip_prefix("memlock:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            total += m;
            maps += 1;
        }
    }
    (total, maps)
}

/// Parses tcpdump-style closing lines: (captured, received by filter, dropped by kernel).
pub fn closing_lines(lines: &[String]) -> Option<(u64, u64, u64)> {
    let find = |suffix: &str| {
        lines.iter().rev().find_map(|l| {
            let (n, rest) = l.trim().split_once(' ')?;
            (rest.starts_with("packet") && rest.ends_with(suffix))
                .then(|| n.parse::<u64>().ok())
                .flatten()
        })
    };
    Some((
        find("captured")?,
        find("received by filter")?,
        find("dropped by kernel")?,
    ))
}

/// Counts the lines of a file.
pub fn count_lines(path: &std::path::Path) -> Result<u64> {
    let mut f = fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
    }
    Ok(n)
}
