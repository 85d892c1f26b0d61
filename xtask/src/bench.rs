//! `cargo xtask bench [--quick] [--parts P,..] [--old PATH]`: runs the release
//! `tcptrace-bench` binary (built with the tracer and the static binary) as root and points
//! at the report it wrote.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Result, bail};

pub struct Args {
    pub quick: bool,
    pub parts: Option<String>,
    /// An older tcptrace binary (reader part).
    pub old: Option<PathBuf>,
    /// `cargo xtask dist`'s static binary.
    pub static_bin: PathBuf,
}

pub fn run(root: &Path, a: &Args, privileged: fn(&Path) -> Command) -> Result<()> {
    let quick = a.quick;
    let bin = root.join("target/release/tcptrace-bench");
    if !bin.exists() {
        bail!("{} was not built", bin.display());
    }
    // Some parts only, or quick: a report of their own, never over the full one.
    let out: PathBuf = if quick {
        root.join("bench-report/quick")
    } else if a.parts.is_some() {
        root.join("bench-report/parts")
    } else {
        root.join("bench-report")
    };
    let command = if quick {
        "cargo xtask bench --quick"
    } else {
        "cargo xtask bench"
    };
    let mut cmd = privileged(&bin);
    cmd.arg("--out").arg(&out).args(["--command", command]);
    if quick {
        cmd.arg("--quick");
    }
    cmd.arg("--static-tracer").arg(&a.static_bin);
    if let Some(p) = &a.parts {
        cmd.args(["--parts", p]);
    }
    if let Some(o) = &a.old {
        cmd.arg("--old-tracer").arg(o);
    }
    let status = cmd.current_dir(root).status()?;
    if !status.success() {
        bail!("tcptrace-bench failed: {status}");
    }
    eprintln!("xtask: report in {}", out.join("REPORT.md").display());
    Ok(())
}
