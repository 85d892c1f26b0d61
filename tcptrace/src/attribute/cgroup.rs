//! cgroup v2 ids → paths, and the container or systemd unit a path names. No container
//! runtime is asked: the runtimes' cgroup naming conventions are enough.
use std::{
    collections::HashMap,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::OnceLock,
};

/// Directories walked at most per rescan (a guard against huge hierarchies).
const MAX_DIRS: usize = 200_000;

/// Where the cgroup2 hierarchy is mounted: seen from the host's mount namespace (pid 1's
/// root) when that is readable, else from ours; inside `ip netns exec` or `--netns`, whose
/// fresh sysfs hides the host's cgroup mounts, tcptrace mounts it over `/sys/fs/cgroup` in
/// a mount namespace of its own (nothing shows outside the process). Found once.
pub fn root() -> Option<PathBuf> {
    static ROOT: OnceLock<Option<PathBuf>> = OnceLock::new();
    ROOT.get_or_init(|| find_root().or_else(mount_own)).clone()
}

fn find_root() -> Option<PathBuf> {
    for (prefix, mounts) in [
        ("/proc/1/root", "/proc/1/mounts"),
        ("", "/proc/self/mounts"),
    ] {
        let Ok(text) = std::fs::read_to_string(mounts) else {
            continue;
        };
        for line in text.lines() {
            let mut f = line.split_whitespace();
            let (_, Some(dir), Some("cgroup2")) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let p = PathBuf::from(format!("{prefix}{dir}"));
            if std::fs::read_dir(&p).is_ok() {
                return Some(p);
            }
        }
    }
    None
}

/// Mounts cgroup2 over `/sys/fs/cgroup` in a new mount namespace of this process (called
/// before any thread starts).
fn mount_own() -> Option<PathBuf> {
    crate::source::netns::private_mounts().ok()?;
    // SAFETY: a plain syscall with NUL-terminated literals.
    let rc = unsafe {
        libc::mount(
            c"cgroup2".as_ptr(),
            c"/sys/fs/cgroup".as_ptr(),
            c"cgroup2".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    (rc == 0).then(|| PathBuf::from("/sys/fs/cgroup"))
}

/// Every cgroup under `root`: (id, path relative to the mount, starting with `/`).
pub fn walk(root: &Path) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::from("/"))];
    while let Some((dir, rel)) = stack.pop() {
        if out.len() >= MAX_DIRS {
            break;
        }
        let Ok(meta) = std::fs::metadata(&dir) else {
            continue;
        };
        out.push((meta.ino(), rel.clone()));
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let name = e.file_name().to_string_lossy().into_owned();
                let child = if rel == "/" {
                    format!("/{name}")
                } else {
                    format!("{rel}/{name}")
                };
                stack.push((e.path(), child));
            }
        }
    }
    out
}

/// Caches id → path; walks the hierarchy again on a miss (and remembers ids not found,
/// so that a removed cgroup costs one walk, not one per event).
pub struct Resolver {
    root: Option<PathBuf>,
    known: HashMap<u64, Option<String>>,
}

impl Default for Resolver {
    fn default() -> Self {
        Self::new()
    }
}

impl Resolver {
    pub fn new() -> Resolver {
        Resolver {
            root: root(),
            known: HashMap::new(),
        }
    }

    /// The path of cgroup `id` (`/` for the root), if it existed when first asked about.
    pub fn path(&mut self, id: u64) -> Option<String> {
        if id == 0 {
            return None;
        }
        if let Some(p) = self.known.get(&id) {
            return p.clone();
        }
        let root = self.root.as_ref()?;
        if self.known.len() >= MAX_DIRS {
            self.known.clear();
        }
        for (i, p) in walk(root) {
            self.known.insert(i, Some(p));
        }
        self.known.entry(id).or_insert(None).clone()
    }
}

fn hex_id(s: &str) -> Option<&str> {
    (s.len() >= 12 && s.bytes().all(|b| b.is_ascii_hexdigit())).then_some(s)
}

/// The container (runtime and the first 12 hex digits of its id) or systemd unit a cgroup
/// path names: `docker-ID.scope` and `/docker/ID` (Docker), `cri-containerd-ID.scope` and
/// `kubepods…/podUID/ID` (containerd/CRI), `crio-ID.scope` (CRI-O), `libpod-ID.scope`
/// (Podman); else the innermost `NAME.service` (a systemd unit). None for anything else
/// (a session scope, the root, a user-made cgroup).
pub fn container_of(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate().rev() {
        let scope = part.strip_suffix(".scope").unwrap_or(part);
        for (prefix, runtime) in [
            ("docker-", "docker"),
            ("cri-containerd-", "cri-containerd"),
            ("crio-", "crio"),
            ("libpod-", "podman"),
        ] {
            if let Some(id) = scope.strip_prefix(prefix).and_then(hex_id) {
                return Some(format!("{runtime}:{}", &id[..12]));
            }
        }
        if let Some(id) = hex_id(part)
            && i > 0
        {
            let parent = parts[i - 1];
            if parent == "docker" {
                return Some(format!("docker:{}", &id[..12]));
            }
            if parent.starts_with("pod") || parts.iter().any(|p| p.starts_with("kubepods")) {
                return Some(format!("cri-containerd:{}", &id[..12]));
            }
        }
    }
    parts
        .iter()
        .rev()
        .find(|p| p.ends_with(".service"))
        .map(|p| p.to_string())
}

/// `--container ID|NAME`: the ids of the cgroups it names: those whose container is NAME
/// (`nginx.service`), or whose container id starts with ID (`docker:` etc. optional), or
/// whose path is ID (absolute, from the cgroup2 mount). Nested cgroups are included.
pub fn ids_for(arg: &str) -> Vec<u64> {
    let Some(root) = root() else {
        return Vec::new();
    };
    let all = walk(&root);
    let want = |path: &str| -> bool {
        if path == arg || (arg.starts_with('/') && path.starts_with(&format!("{arg}/"))) {
            return true;
        }
        let Some(c) = container_of(path) else {
            return false;
        };
        let id = c.split_once(':').map_or(c.as_str(), |(_, id)| id);
        c == arg
            || (arg.len() >= 4 && (id.starts_with(arg) || arg.starts_with(id)))
            || arg
                .split_once(':')
                .is_some_and(|(_, a)| a.len() >= 4 && id.starts_with(a))
    };
    all.into_iter()
        .filter(|(_, p)| want(p))
        .map(|(id, _)| id)
        .collect()
}
