//! `cargo xtask dist`: what a production host installs, built here only. A static binary
//! (x86_64-unknown-linux-musl, the eBPF object inside), the man page and completions made
//! from the clap definitions, the user guide (HTML), the systemd unit, a tarball and a .deb
//! (cargo-deb), all in target/dist/.
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{Context as _, Result, bail};

use crate::{output, run};

pub const TARGET: &str = "x86_64-unknown-linux-musl";
/// cargo-deb, pinned: the .deb's layout must not move under us.
const CARGO_DEB_VERSION: &str = "3.8.0";
/// The Debian package name: Debian's `tcptrace` is Ostermann's unrelated analyzer.
pub const DEB_NAME: &str = "tcptrace-bpf";

pub fn version(root: &Path) -> Result<String> {
    let toml = fs::read_to_string(root.join("Cargo.toml"))?;
    toml.lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .map(str::to_string)
        .context("no workspace version in Cargo.toml")
}

pub fn ensure_target() -> Result<()> {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !installed.lines().any(|l| l.trim() == TARGET) {
        eprintln!("xtask: adding the {TARGET} target");
        run(Command::new("rustup").args(["target", "add", TARGET]))?;
    }
    Ok(())
}

fn ensure_cargo_deb() -> Result<()> {
    let have = Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(CARGO_DEB_VERSION))
        .unwrap_or(false);
    if !have {
        eprintln!("xtask: installing cargo-deb {CARGO_DEB_VERSION} (about a minute)");
        run(Command::new("cargo").args([
            "install",
            "cargo-deb",
            "--locked",
            "--force",
            "--version",
            CARGO_DEB_VERSION,
        ]))?;
    }
    Ok(())
}

/// The static binary: target/x86_64-unknown-linux-musl/release/tcptrace, symbols stripped.
pub fn build_static(root: &Path) -> Result<PathBuf> {
    ensure_target()?;
    let t = Instant::now();
    run(Command::new("cargo")
        .args(["build", "--release", "-p", "tcptrace", "--bin", "tcptrace"])
        .args(["--target", TARGET])
        // Only the userspace binary: the eBPF object (built by the build script for its
        // own target) keeps its BTF.
        .env(
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS",
            "-C strip=symbols -C target-feature=+crt-static",
        ))?;
    eprintln!(
        "xtask: static binary built in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    Ok(root.join("target").join(TARGET).join("release/tcptrace"))
}

/// Builds everything into target/dist/.
pub fn dist(root: &Path) -> Result<()> {
    let version = version(root)?;
    let binary = build_static(root)?;
    let dir = root.join("target/dist");
    let _ = fs::remove_dir_all(&dir);
    let gen_dir = dir.join("gen");
    crate::docs::man_and_completions(&gen_dir)?;
    crate::docs::build(root, &gen_dir.join("guide"))?;
    fs::write(gen_dir.join("THIRD-PARTY.md"), third_party(root)?)?;

    // The tarball: one directory, named as the file.
    let name = format!("tcptrace-{version}-x86_64-linux");
    let stage = dir.join(&name);
    fs::create_dir_all(stage.join("completions"))?;
    let copy = |from: &Path, to: &str| -> Result<()> {
        fs::copy(from, stage.join(to))
            .with_context(|| format!("copying {}", from.display()))
            .map(|_| ())
    };
    copy(&binary, "tcptrace")?;
    copy(&gen_dir.join("tcptrace.8"), "tcptrace.8")?;
    for c in ["tcptrace", "_tcptrace", "tcptrace.fish"] {
        copy(
            &gen_dir.join("completions").join(c),
            &format!("completions/{c}"),
        )?;
    }
    copy(
        &root.join("deploy/systemd/tcptrace@.service"),
        "tcptrace@.service",
    )?;
    copy(
        &root.join("deploy/systemd/tcptrace-bpf.default"),
        "tcptrace-bpf.default",
    )?;
    for f in ["README.md", "LICENSE-MIT", "LICENSE-APACHE"] {
        copy(&root.join(f), f)?;
    }
    copy(&gen_dir.join("THIRD-PARTY.md"), "THIRD-PARTY.md")?;
    run(Command::new("cp")
        .arg("-r")
        .arg(gen_dir.join("guide"))
        .arg(stage.join("guide")))?;
    let tarball = dir.join(format!("{name}.tar.gz"));
    run(Command::new("tar")
        .args([
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "-czf",
        ])
        .arg(&tarball)
        .arg("-C")
        .arg(&dir)
        .arg(&name))?;

    ensure_cargo_deb()?;
    let t = Instant::now();
    run(Command::new("cargo")
        .args(["deb", "-p", "tcptrace", "--no-build", "--no-strip"])
        .args(["--target", TARGET, "--output"])
        .arg(&dir))?;
    eprintln!("xtask: .deb made in {:.0} s", t.elapsed().as_secs_f64());
    let deb = fs::read_dir(&dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|e| e == "deb")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(DEB_NAME))
        })
        .with_context(|| format!("cargo deb made no {DEB_NAME} .deb"))?;
    for p in [&binary, &tarball, &deb] {
        eprintln!(
            "xtask: {} ({} KiB)",
            p.display(),
            fs::metadata(p)?.len() / 1024
        );
    }
    Ok(())
}

/// The crates linked into the binary, with their licences (from cargo metadata).
fn third_party(root: &Path) -> Result<String> {
    let meta = output(Command::new("cargo").current_dir(root).args([
        "metadata",
        "--format-version",
        "1",
        "--filter-platform",
        TARGET,
    ]))?;
    let v: serde_json::Value = serde_json::from_str(&meta)?;
    let nodes = v["resolve"]["nodes"]
        .as_array()
        .context("no resolve graph")?;
    let node = |id: &str| nodes.iter().find(|n| n["id"] == id);
    let root_id = v["packages"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "tcptrace"))
        .and_then(|p| p["id"].as_str())
        .context("no tcptrace package")?
        .to_string();
    // Normal (not build or dev) dependencies, transitively.
    let mut seen = vec![root_id.clone()];
    let mut todo = vec![root_id];
    while let Some(id) = todo.pop() {
        let Some(n) = node(&id) else { continue };
        for d in n["deps"].as_array().into_iter().flatten() {
            let normal = d["dep_kinds"]
                .as_array()
                .is_some_and(|ks| ks.iter().any(|k| k["kind"].is_null()));
            let Some(pkg) = d["pkg"].as_str() else {
                continue;
            };
            if normal && !seen.iter().any(|s| s == pkg) {
                seen.push(pkg.to_string());
                todo.push(pkg.to_string());
            }
        }
    }
    let mut rows: Vec<String> = v["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| seen.iter().any(|s| p["id"] == s.as_str()) && p["name"] != "tcptrace")
        .map(|p| {
            format!(
                "| {} | {} | {} |",
                p["name"].as_str().unwrap_or("?"),
                p["version"].as_str().unwrap_or("?"),
                p["license"].as_str().unwrap_or("see the crate")
            )
        })
        .collect();
    if rows.is_empty() {
        bail!("no dependencies found for tcptrace");
    }
    rows.sort();
    Ok(format!(
        "# Third-party crates in the tcptrace binary\n\n\
         The static binary links these crates (each under the licence given, texts at\n\
         https://crates.io/crates/NAME). The eBPF object is tcptrace's own code.\n\n\
         | crate | version | licence |\n|---|---|---|\n{}\n",
        rows.join("\n")
    ))
}
