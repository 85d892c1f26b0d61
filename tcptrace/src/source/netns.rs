//! `--netns`: trace inside another network namespace, and `-D`: the interfaces of the one
//! in use, listed as `tcpdump -D` lists them.
use std::{
    fs::File,
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::{Path, PathBuf},
};

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("--netns {given}: no such network namespace ({path}: {error})")]
    Open {
        given: String,
        path: String,
        error: io::Error,
    },
    #[error("--netns {given}: cannot enter it: {0}", .error)]
    Enter { given: String, error: io::Error },
    #[error("--netns {given}: cannot mount its /sys: {0}", .error)]
    Sysfs { given: String, error: io::Error },
}

/// Where `--netns` looks: a PID (`/proc/PID/ns/net`), a path (`/proc/…/ns/net`, a bind
/// mount), or an `ip netns` name (`/var/run/netns/NAME`).
pub fn path_of(given: &str) -> PathBuf {
    if !given.is_empty() && given.bytes().all(|b| b.is_ascii_digit()) {
        return PathBuf::from(format!("/proc/{given}/ns/net"));
    }
    if given.contains('/') {
        return PathBuf::from(given);
    }
    Path::new("/var/run/netns").join(given)
}

/// Moves this process into the network namespace `given` (before anything is attached or
/// any netlink socket is opened: both belong to the namespace they were made in).
pub fn enter(given: &str) -> Result<(), NetnsError> {
    let path = path_of(given);
    let file = File::open(&path).map_err(|error| NetnsError::Open {
        given: given.to_string(),
        path: path.display().to_string(),
        error,
    })?;
    // SAFETY: setns with a namespace file we opened; the process is single-threaded here.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(NetnsError::Enter {
            given: given.to_string(),
            error: io::Error::last_os_error(),
        });
    }
    remount_sys().map_err(|error| NetnsError::Sysfs {
        given: given.to_string(),
        error,
    })
}

/// `/sys/class/net` shows the interfaces of the namespace sysfs was mounted in, not of the
/// one a process has entered: mount a fresh sysfs over `/sys` in a mount namespace of our
/// own (as `ip netns exec` does), so every `/sys` look-up (device-backed? loopback?
/// wireless?) is about the traced namespace's interfaces.
fn remount_sys() -> io::Result<()> {
    private_mounts()?;
    // SAFETY: plain syscalls with NUL-terminated literals.
    unsafe {
        os_ok(libc::umount2(c"/sys".as_ptr(), libc::MNT_DETACH))?;
        os_ok(libc::mount(
            c"sysfs".as_ptr(),
            c"/sys".as_ptr(),
            c"sysfs".as_ptr(),
            0,
            std::ptr::null(),
        ))
    }
}

/// A mount namespace of this process's own, whose mounts stay its own (nothing propagates
/// back to the host). Call while the process is single-threaded (unshare of the mount
/// namespace requires it, and fails safely otherwise).
pub(crate) fn private_mounts() -> io::Result<()> {
    // SAFETY: plain syscalls with NUL-terminated literals.
    unsafe {
        os_ok(libc::unshare(libc::CLONE_NEWNS))?;
        os_ok(libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_SLAVE | libc::MS_REC,
            std::ptr::null(),
        ))
    }
}

/// A libc return code as a `Result`.
fn os_ok(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One interface as `tcpdump -D` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Device {
    name: String,
    description: Option<&'static str>,
    up: bool,
    running: bool,
    loopback: bool,
    wireless: bool,
    /// None: no connection status (loopback, `any`); Some(None): unknown.
    connected: Option<Option<bool>>,
}

impl Device {
    /// libpcap 1.10's figure of merit: lower sorts first (running, up, connected, not
    /// loopback; `any` before loopback; then the instance number).
    fn merit(&self) -> u32 {
        // The instance number: the digits that end the name, plus one (0: none).
        let digits = self
            .name
            .bytes()
            .rev()
            .take_while(u8::is_ascii_digit)
            .count();
        let tail = &self.name[self.name.len() - digits..];
        let mut n = tail.parse::<u32>().map_or(0, |v| v.saturating_add(1));
        if !self.running {
            n |= 0x8000_0000;
        }
        if !self.up {
            n |= 0x4000_0000;
        }
        if !self.wireless && self.connected == Some(Some(false)) {
            n |= 0x2000_0000;
        }
        if self.loopback {
            n |= 0x1000_0000;
        }
        // `any` after the other connected ones, before loopback and disconnected ones.
        if self.name == "any" {
            n |= 0x0800_0000;
        }
        n
    }

    fn line(&self, number: usize) -> String {
        let mut s = format!("{number}.{}", self.name);
        if let Some(d) = self.description {
            s += &format!(" ({d})");
        }
        let mut flags: Vec<&str> = [
            (self.up, "Up"),
            (self.running, "Running"),
            (self.loopback, "Loopback"),
            (self.wireless, "Wireless"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, w)| *w)
        .collect();
        if flags.is_empty() {
            flags.push("none");
        }
        let status = match (self.connected, self.wireless) {
            (None, _) => None,
            (Some(None), false) => Some("Connection status unknown"),
            (Some(Some(true)), false) => Some("Connected"),
            (Some(Some(false)), false) => Some("Disconnected"),
            (Some(None), true) => Some("Association status unknown"),
            (Some(Some(true)), true) => Some("Associated"),
            (Some(Some(false)), true) => Some("Not associated"),
        };
        s += &format!(" [{}", flags.join(", "));
        if let Some(st) = status {
            s += &format!(", {st}");
        }
        s + "]"
    }
}

/// `tcpdump -D`'s lines for the interfaces tcptrace can trace in this namespace, and
/// `any`; libpcap's other pseudo-devices (bluetooth, nflog, nfqueue, D-Bus, usbmon) carry
/// no IP and are left out.
pub fn list() -> Vec<String> {
    let mut devs: Vec<Device> = super::links::all()
        .into_iter()
        .map(|(_, name)| device(&name))
        .collect();
    devs.push(Device {
        name: "any".into(),
        description: Some("Pseudo-device that captures on all interfaces"),
        up: true,
        running: true,
        loopback: false,
        wireless: false,
        connected: None,
    });
    // Stable: equal merits keep the kernel's order, as libpcap's insertion does.
    devs.sort_by_key(Device::merit);
    devs.iter()
        .enumerate()
        .map(|(i, d)| d.line(i + 1))
        .collect()
}

fn device(name: &str) -> Device {
    let flags = if_flags(name).unwrap_or(0);
    let sys = Path::new("/sys/class/net").join(name);
    let loopback = flags & libc::IFF_LOOPBACK as u32 != 0;
    let wireless = sys.join("wireless").exists() || sys.join("phy80211").exists();
    Device {
        name: name.to_string(),
        description: None,
        up: flags & libc::IFF_UP as u32 != 0,
        running: flags & libc::IFF_RUNNING as u32 != 0,
        loopback,
        wireless,
        connected: (!loopback).then(|| link_detected(name)),
    }
}

fn socket() -> Option<OwnedFd> {
    // SAFETY: a plain datagram socket for interface ioctls.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    // SAFETY: a fresh descriptor we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: ifreq is plain data; zero is a valid value.
    let mut r: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in r
        .ifr_name
        .iter_mut()
        .zip(name.bytes().take(libc::IFNAMSIZ - 1))
    {
        *d = s as libc::c_char;
    }
    r
}

/// SIOCGIFFLAGS.
fn if_flags(name: &str) -> Option<u32> {
    let sock = socket()?;
    let mut r = ifreq(name);
    // SAFETY: SIOCGIFFLAGS fills the ifreq we pass.
    // The request is an unsigned long in glibc and an int in musl.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut r) };
    if rc != 0 {
        return None;
    }
    // SAFETY: the union's flags member is what SIOCGIFFLAGS wrote.
    Some(unsafe { r.ifr_ifru.ifru_flags } as u16 as u32)
}

/// ETHTOOL_GLINK, as libpcap asks it: Some(link), or None when the driver cannot say.
fn link_detected(name: &str) -> Option<bool> {
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    const ETHTOOL_GLINK: u32 = 0x0000_000a;
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    let sock = socket()?;
    let mut value = EthtoolValue {
        cmd: ETHTOOL_GLINK,
        data: 0,
    };
    let mut r = ifreq(name);
    r.ifr_ifru.ifru_data = (&raw mut value).cast();
    // SAFETY: SIOCETHTOOL reads the command from, and writes the answer to, `value`.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL as _, &mut r) };
    (rc == 0).then_some(value.data != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(name: &str, up: bool, lo: bool, connected: Option<Option<bool>>) -> Device {
        Device {
            name: name.into(),
            description: None,
            up,
            running: up,
            loopback: lo,
            wireless: false,
            connected,
        }
    }

    #[test]
    fn lines_as_tcpdump_prints_them() {
        assert_eq!(
            dev("vb", true, false, Some(Some(true))).line(1),
            "1.vb [Up, Running, Connected]"
        );
        assert_eq!(
            dev("lo", true, true, None).line(3),
            "3.lo [Up, Running, Loopback]"
        );
        assert_eq!(
            dev("vdown", false, false, Some(Some(false))).line(9),
            "9.vdown [none, Disconnected]"
        );
    }

    #[test]
    fn order_as_libpcap_sorts() {
        let mut v = [
            dev("lo", true, true, None),
            dev("vdown", false, false, Some(Some(false))),
            dev("eth1", true, false, Some(Some(true))),
            dev("eth0", true, false, Some(Some(true))),
        ];
        v.sort_by_key(Device::merit);
        let names: Vec<&str> = v.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["eth0", "eth1", "lo", "vdown"]);
    }

    #[test]
    fn namespace_paths() {
        assert_eq!(path_of("1234"), Path::new("/proc/1234/ns/net"));
        assert_eq!(path_of("blue"), Path::new("/var/run/netns/blue"));
        assert_eq!(path_of("/run/netns/x"), Path::new("/run/netns/x"));
    }
}
