//! `tcptrace-gen DIR`: writes the man page (`DIR/tcptrace.8`) and the bash, zsh and fish
//! completions (`DIR/completions/`) made from tcptrace's own clap definitions. Run by
//! `cargo xtask dist`; not installed.
use std::{fs, path::PathBuf};

use anyhow::{Context as _, Result};
use clap::CommandFactory as _;
use clap_complete::Shell;
use tcptrace::cli::Cli;

fn main() -> Result<()> {
    let dir = PathBuf::from(
        std::env::args_os()
            .nth(1)
            .context("usage: tcptrace-gen DIR")?,
    );
    fs::create_dir_all(dir.join("completions"))?;
    let cmd = Cli::command();

    // Section 8: it needs root (or the three capabilities), as tcpdump's page says of it.
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("System Administration")
        .render(&mut page)?;
    fs::write(dir.join("tcptrace.8"), page)?;

    for (shell, name) in [
        (Shell::Bash, "tcptrace"),
        (Shell::Zsh, "_tcptrace"),
        (Shell::Fish, "tcptrace.fish"),
    ] {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "tcptrace", &mut out);
        fs::write(dir.join("completions").join(name), out)?;
    }
    Ok(())
}
