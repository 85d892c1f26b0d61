//! The kernel matrix: boot another kernel in qemu through virtme-ng (`vng`) over this
//! machine's own filesystem, run a command in it as root, and hand back its exit status.
//! No KVM here: the guest is emulated (TCG), so what runs in it is chosen with care.
use std::{
    ffi::OsString,
    fs,
    io::{self, Read, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread::{self, JoinHandle},
    time::Instant,
};

use anyhow::{Context as _, Result, bail};

/// The kernels of the matrix besides the host's: Debian's generic images (the `cloud` ones
/// lack 9p), found in /boot by version prefix.
pub const MATRIX: [&str; 2] = ["6.1", "6.12"];

/// A kernel image to boot.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// e.g. `6.1.0-50-amd64`
    pub release: String,
    pub image: PathBuf,
}

impl Kernel {
    /// `/boot/vmlinuz-VERSION.*` (e.g. `6.1` finds `vmlinuz-6.1.0-50-amd64`, not 6.12), or
    /// a path to an image.
    pub fn find(version: &str) -> Result<Kernel> {
        let p = Path::new(version);
        if p.is_file() {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            let release = name.strip_prefix("vmlinuz-").unwrap_or(&name).to_string();
            return Ok(Kernel {
                release,
                image: p.to_path_buf(),
            });
        }
        let prefix = format!("vmlinuz-{version}.");
        let mut found: Vec<PathBuf> = fs::read_dir("/boot")
            .context("reading /boot")?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
            })
            .collect();
        found.sort();
        let image = found.pop().with_context(|| {
            format!(
                "no /boot/{prefix}* kernel image: install Debian's linux-image package for \
                 {version} (.ci/run shows how)"
            )
        })?;
        let release = image
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .trim_start_matches("vmlinuz-")
            .to_string();
        if !Path::new("/lib/modules").join(&release).is_dir() {
            bail!("{} has no /lib/modules/{release}", image.display());
        }
        Ok(Kernel { release, image })
    }
}

/// Boots `kernel` and runs `script` (bash) in it as root, in `cwd`, with the host's
/// filesystem read-write. The guest's output streams to ours. Returns the script's exit
/// status (vng passes it through).
pub fn run(kernel: &Kernel, cwd: &Path, script: &str) -> Result<i32> {
    let vng = which_vng()?;
    // The command reaches the guest on the kernel command line (2 KiB at most): pass a
    // file the guest reads over the shared filesystem instead.
    let dir = cwd.join("target/vmtest");
    fs::create_dir_all(&dir)?;
    let file = dir.join(format!("{}.sh", kernel.release));
    fs::write(&file, script).with_context(|| format!("writing {}", file.display()))?;
    let start = Instant::now();
    // vng's output goes through pipes that we copy: with a regular file as its stdout,
    // qemu reopens (truncates) the file and the guest stalls.
    let mut child = Command::new(vng)
        .arg("--run")
        .arg(&kernel.image)
        .args(["--disable-kvm", "--memory", "2G", "--cpus", "2", "--rw"])
        .arg("--cwd")
        .arg(cwd)
        .args(["--", "bash"])
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting vng")?;
    let out = child.stdout.take().map(|o| copy(o, io::stdout()));
    let err = child.stderr.take().map(|e| copy(e, io::stderr()));
    let status = child.wait().context("waiting for vng")?;
    for t in [out, err].into_iter().flatten() {
        let _ = t.join();
    }
    eprintln!(
        "xtask: {} finished in {:.0} s ({status})",
        kernel.release,
        start.elapsed().as_secs_f64()
    );
    Ok(status.code().unwrap_or(-1))
}

/// Copies `from` to `to` as it comes, on a thread.
fn copy(
    mut from: impl Read + Send + 'static,
    mut to: impl Write + Send + 'static,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).and_then(|_| to.flush()).is_err() {
                break;
            }
        }
    })
}

fn which_vng() -> Result<OsString> {
    let ok = Command::new("vng")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        bail!(
            "vng (virtme-ng) is needed for the kernel matrix: pip install virtme-ng, and \
             apt-get install qemu-system-x86 busybox-static"
        );
    }
    Ok("vng".into())
}

/// Quotes `s` for bash.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}
