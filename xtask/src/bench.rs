//! `cargo xtask bench [--quick]`: runs the release `tcptrace-bench` binary (built by
//! `build()` with the tracer) as root and points at the report it wrote.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Result, bail};

pub fn run(root: &Path, quick: bool, privileged: fn(&Path) -> Command) -> Result<()> {
    let bin = root.join("target/release/tcptrace-bench");
    if !bin.exists() {
        bail!("{} was not built", bin.display());
    }
    let out: PathBuf = if quick {
        root.join("bench-report/quick")
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
    let status = cmd.current_dir(root).status()?;
    if !status.success() {
        bail!("tcptrace-bench failed: {status}");
    }
    eprintln!("xtask: report in {}", out.join("REPORT.md").display());
    Ok(())
}
