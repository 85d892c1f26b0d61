//! Least privilege while tracing, as tcpdump's `-Z`: once the programs are attached and
//! the maps and rings are open, the process switches to an unprivileged user (when run as
//! root), keeps only the capabilities what is left to do needs, and sets
//! `PR_SET_NO_NEW_PRIVS`. What is left to do:
//! - attach to interfaces that appear (`-i any`): CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON
//!   (a new interface may need a program not loaded yet);
//! - detach clsact filters at exit (kernels without TCX, before 6.6): CAP_NET_ADMIN;
//! - nothing else: BPF links detach when their descriptor closes, map reads and the ring
//!   need only the descriptors, and the start-up socket scan is over.
use anyhow::{Context as _, Result, bail};
use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Uid, User};

/// The user tcptrace switches to when run as root without `-Z` (as Debian's tcpdump
/// switches to `tcpdump`), if it exists.
pub const DEFAULT_USER: &str = "tcptrace";

/// Who to become: resolved before anything is attached.
#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
}

/// `-Z USER`: that user (an error if it does not exist; `root` stays root); without it,
/// [`DEFAULT_USER`] when run as root and it exists. None: no user switch (not root, `-Z
/// root`, or no default user); the capabilities are reduced all the same.
pub fn target(given: Option<&str>) -> Result<Option<Target>> {
    if !Uid::current().is_root() && !Uid::effective().is_root() {
        return Ok(None);
    }
    let name = given.unwrap_or(DEFAULT_USER);
    let user = match User::from_name(name) {
        Ok(u) => u,
        Err(e) if given.is_some() => bail!("-Z {name}: cannot read the user database: {e}"),
        // No user database (a FROM scratch image): no default user.
        Err(_) => None,
    };
    match user {
        Some(u) if u.uid.is_root() => Ok(None),
        Some(u) => Ok(Some(Target {
            name: u.name,
            uid: u.uid,
            gid: u.gid,
        })),
        None if given.is_some() => bail!("-Z {name}: no such user"),
        None => Ok(None),
    }
}

/// Runs `f` (creating the first `-w` file) with `t`'s identity as the effective one, so
/// the file is created and owned as tcpdump's, which opens it after its switch.
pub fn as_user<T>(t: Option<&Target>, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let Some(t) = t else { return f() };
    nix::unistd::setegid(t.gid).context("setegid")?;
    nix::unistd::seteuid(t.uid).context("seteuid")?;
    let r = f();
    // Back to root: its capabilities come back from the permitted set.
    nix::unistd::seteuid(Uid::from_raw(0)).context("seteuid")?;
    nix::unistd::setegid(Gid::from_raw(0)).context("setegid")?;
    r
}

/// The capabilities kept: `hotplug` (`-i any`) keeps the three tracing needs; `netlink`
/// (clsact filters to remove at exit) keeps CAP_NET_ADMIN; else none.
pub fn kept(hotplug: bool, netlink: bool) -> CapsHashSet {
    let mut k = CapsHashSet::new();
    if hotplug {
        k.extend([
            Capability::CAP_BPF,
            Capability::CAP_NET_ADMIN,
            Capability::CAP_PERFMON,
        ]);
    } else if netlink {
        k.insert(Capability::CAP_NET_ADMIN);
    }
    k
}

/// Switches to `t` (if any), keeps `keep` (those of them held) and nothing else, and sets
/// no-new-privileges. Call once, before any other thread starts.
pub fn drop_to(t: Option<&Target>, keep: &CapsHashSet) -> Result<()> {
    let held = caps::read(None, CapSet::Permitted).context("reading capabilities")?;
    let keep: CapsHashSet = keep.intersection(&held).copied().collect();
    // The bounding set first, while CAP_SETPCAP (root's) is still effective; a process
    // without it (the service) has its bounding set from systemd already.
    if held.contains(&Capability::CAP_SETPCAP) {
        for c in caps::all() {
            if !keep.contains(&c) {
                let _ = caps::drop(None, CapSet::Bounding, c);
            }
        }
    }
    if let Some(t) = t {
        // Keep the permitted set across the switch; trimmed right after.
        nix::sys::prctl::set_keepcaps(true).context("PR_SET_KEEPCAPS")?;
        let name = std::ffi::CString::new(t.name.as_str()).context("user name")?;
        nix::unistd::initgroups(&name, t.gid).context("initgroups")?;
        nix::unistd::setresgid(t.gid, t.gid, t.gid).context("setresgid")?;
        nix::unistd::setresuid(t.uid, t.uid, t.uid)
            .with_context(|| format!("switching to user {}", t.name))?;
        nix::sys::prctl::set_keepcaps(false).context("PR_SET_KEEPCAPS")?;
    }
    caps::clear(None, CapSet::Ambient).context("clearing ambient capabilities")?;
    caps::set(None, CapSet::Inheritable, &CapsHashSet::new()).context("capabilities")?;
    caps::set(None, CapSet::Effective, &keep).context("capabilities")?;
    caps::set(None, CapSet::Permitted, &keep).context("capabilities")?;
    nix::sys::prctl::set_no_new_privs().context("PR_SET_NO_NEW_PRIVS")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_is_left_to_do() {
        assert!(kept(false, false).is_empty());
        assert_eq!(
            kept(false, true).into_iter().collect::<Vec<_>>(),
            [Capability::CAP_NET_ADMIN]
        );
        assert_eq!(kept(true, true).len(), 3);
    }
}
