//! `cargo xtask image`: the container image from deploy/container/Containerfile, FROM
//! scratch with the static binary of `cargo xtask dist` (its unpacked tarball directory is
//! the build context). Built with podman, or buildah when podman is missing; no registry.
use std::{path::Path, process::Command};

use anyhow::{Context as _, Result, bail};

use crate::{dist, output, run};

/// The image's name, as the tests look it up.
pub fn tag(root: &Path) -> Result<String> {
    Ok(format!("localhost/tcptrace:{}", dist::version(root)?))
}

fn on_path(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn build(root: &Path) -> Result<()> {
    let tag = tag(root)?;
    let context = root.join(format!(
        "target/dist/tcptrace-{}-x86_64-linux",
        dist::version(root)?
    ));
    if !context.join("tcptrace").is_file() {
        bail!(
            "{} has no tcptrace: run `cargo xtask dist`",
            context.display()
        );
    }
    let file = root.join("deploy/container/Containerfile");
    let tool = ["podman", "buildah"]
        .into_iter()
        .find(|t| on_path(t))
        .context("neither podman nor buildah is installed (apt-get install podman)")?;
    let mut cmd = Command::new(tool);
    if tool == "podman" {
        cmd.arg("build");
    } else {
        cmd.arg("bud");
    }
    run(cmd
        .args(["--quiet", "--layers=false", "-f"])
        .arg(&file)
        .args(["-t", &tag])
        .arg(&context))?;
    let size =
        output(Command::new(tool).args(["image", "inspect", "--format", "{{.Size}}", &tag]))?;
    let bytes: u64 = size.trim().parse().unwrap_or(0);
    eprintln!(
        "xtask: image {tag} built with {tool}: {} KiB",
        bytes.div_ceil(1024)
    );
    Ok(())
}
