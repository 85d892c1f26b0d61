//! The container image (`cargo xtask image`: deploy/container/Containerfile, FROM scratch
//! with the dist binary) run with podman exactly as deploy/kubernetes/daemonset.yaml runs
//! it: its capabilities (and no others), user, read-only root, no privilege escalation,
//! seccomp profile, mounts and arguments, all read from the manifest; the host network
//! namespace replaced by a test namespace. Its lines equal tcpdump's, `podman stop`
//! (SIGTERM) leaves nothing attached. Host only: the kernel-matrix VMs have no container
//! storage.
mod common;

use std::{fs, net::IpAddr, process::Command};

use common::netns::{NetnsPair, Proc, client_session, echo_server, http_get, live_matches_tcpdump};
use yaml_rust2::{Yaml, YamlLoader};

/// The image `cargo xtask image` tags.
fn image() -> String {
    let toml = fs::read_to_string(common::workspace_root().join("Cargo.toml")).unwrap();
    let version = toml
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("the workspace version");
    let tag = format!("localhost/tcptrace:{version}");
    let known = Command::new("podman")
        .args(["image", "exists", &tag])
        .status()
        .expect("podman (apt-get install podman)");
    assert!(
        known.success(),
        "no image {tag}: run `cargo xtask image` (cargo xtask test does)"
    );
    tag
}

/// podman 4.3 on this machine kind: crun refuses the hybrid cgroup layout and the default
/// rlimits; runc with cgroupfs works.
fn podman() -> Command {
    let mut c = Command::new("podman");
    c.args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"]);
    c
}

fn strs(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .map(|v| {
            v.iter()
                .map(|s| s.as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// What the DaemonSet's container spec asks of the runtime, as `podman run` options, and
/// its arguments.
struct Pod {
    opts: Vec<String>,
    args: Vec<String>,
}

fn daemonset_pod() -> Pod {
    let text =
        fs::read_to_string(common::workspace_root().join("deploy/kubernetes/daemonset.yaml"))
            .unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap();
    let ds = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("DaemonSet"))
        .expect("a DaemonSet");
    let spec = &ds["spec"]["template"]["spec"];
    assert_eq!(
        spec["hostNetwork"].as_bool(),
        Some(true),
        "the host network namespace (the test gives its own)"
    );
    let c = &spec["containers"][0];
    let sc = &c["securityContext"];
    let mut opts = Vec::new();
    // Kubernetes: no capability beyond `add` once `drop: [ALL]`.
    assert_eq!(strs(&sc["capabilities"]["drop"]), ["ALL"]);
    opts.push("--cap-drop=all".to_string());
    for cap in strs(&sc["capabilities"]["add"]) {
        opts.push(format!("--cap-add=CAP_{cap}"));
    }
    assert_eq!(sc["privileged"].as_bool(), Some(false));
    if sc["allowPrivilegeEscalation"].as_bool() == Some(false) {
        opts.push("--security-opt=no-new-privileges".into());
    }
    if sc["readOnlyRootFilesystem"].as_bool() == Some(true) {
        // Kubernetes adds no tmpfs of its own to a read-only root.
        opts.extend(["--read-only".into(), "--read-only-tmpfs=false".into()]);
    }
    let user = sc["runAsUser"].as_i64().expect("runAsUser");
    let group = sc["runAsGroup"].as_i64().unwrap_or(user);
    opts.push(format!("--user={user}:{group}"));
    match sc["seccompProfile"]["type"].as_str() {
        Some("RuntimeDefault") | None => {}
        Some("Unconfined") => opts.push("--security-opt=seccomp=unconfined".into()),
        Some(t) => panic!("seccompProfile type {t}: not mapped to podman by this test"),
    }
    // Volumes: hostPath mounts, as the kubelet makes them.
    let volumes = spec["volumes"].as_vec().cloned().unwrap_or_default();
    for m in c["volumeMounts"].as_vec().cloned().unwrap_or_default() {
        let name = m["name"].as_str().unwrap();
        let v = volumes
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no volume {name}"));
        let host = v["hostPath"]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("volume {name}: only hostPath is mapped by this test"));
        let ro = if m["readOnly"].as_bool() == Some(true) {
            ":ro"
        } else {
            ""
        };
        opts.push(format!(
            "--volume={host}:{}{ro}",
            m["mountPath"].as_str().unwrap()
        ));
    }
    Pod {
        opts,
        args: strs(&c["args"]),
    }
}

/// A running container of the image, as the DaemonSet runs it, in namespace `ns`.
fn run_as_daemonset(pod: &Pod, ns: &str, name: &str, args: &[String]) -> Command {
    let mut c = podman();
    c.args(["run", "--rm", "--name", name])
        .arg(format!("--network=ns:/run/netns/{ns}"))
        // podman 4.3 here: its default rlimits are refused.
        .args([
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ])
        .args(["--env", "TZ=UTC"])
        .args(&pod.opts)
        .arg(image())
        .args(args);
    c
}

/// `podman stop`: SIGTERM to the container's tracer, as the kubelet stops a pod.
fn podman_stop(name: &str) {
    let st = podman()
        .args(["stop", "--time", "10", name])
        .output()
        .unwrap();
    assert!(st.status.success(), "podman stop: {st:?}");
}

/// Removes the container if a test failed before `podman stop`.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman().args(["rm", "--force", &self.0]).output();
    }
}

fn container(tag: &str) -> Container {
    Container(format!("tcptrace-test-{tag}-{}", std::process::id()))
}

#[test]
fn image_as_the_daemonset_runs_it_prints_tcpdumps_lines() {
    let pod = daemonset_pod();
    let net = NetnsPair::new();
    let ct = container("lines");
    // The DaemonSet's security, tcpdump's lines: `-i IFACE --port P` for its arguments.
    let c = run_as_daemonset(&pod, &net.b, &ct.0, &[]);
    let name = ct.0.clone();
    live_matches_tcpdump(&net, c, 7311, move |_| podman_stop(&name));
}

#[test]
fn image_with_the_daemonsets_arguments_reports_and_serves_metrics() {
    let pod = daemonset_pod();
    let net = NetnsPair::new();
    let ct = container("args");
    let mut tt = Proc::spawn(
        "tcptrace (image)",
        run_as_daemonset(&pod, &net.b, &ct.0, &pod.args),
    );
    tt.wait_stderr("listening on any");
    let b: IpAddr = net.b4.parse().unwrap();
    let port = 7312;
    let server = echo_server(&net, b, port);
    client_session(&net, b, port);
    server.join().unwrap();
    tt.wait_stdout("\"kind\":\"closed\"");
    // The liveness probe's and Prometheus's endpoint, on the port the manifest names.
    let metrics = pod
        .args
        .iter()
        .skip_while(|a| *a != "--metrics")
        .nth(1)
        .expect("--metrics in the DaemonSet's arguments")
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let (status, body) = http_get(&net.b, format!("127.0.0.1:{metrics}"), "/metrics".into());
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    // -i any traces loopback too: this request's own connection may be counted already.
    let opened: u64 = body
        .lines()
        .find_map(|l| l.strip_prefix("tcptrace_connections_opened_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{body}"));
    assert!(opened >= 1, "{body}");
    podman_stop(&ct.0);
    assert_eq!(tt.finish(), Some(0), "{:?}", tt.err_lines);
    // Each event is one JSON object; the session opened and closed on the test's port.
    common::netns::assert_session_events(tt.out_lines.iter().map(String::as_str), port);
    assert!(
        tt.err_lines.iter().any(|l| l.ends_with(" captured")),
        "{:?}",
        tt.err_lines
    );
    common::hooks::assert_nothing_of_ours_anywhere(&net.b);
}

/// The image's size, for the record (`cargo test -p tcptrace --test image -- --nocapture`).
#[test]
fn image_is_the_binary_alone() {
    let tag = image();
    let out = Command::new("podman")
        .args([
            "image",
            "inspect",
            "--format",
            "{{.Size}} {{len .RootFS.Layers}}",
            &tag,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (size, layers) = text.trim().split_once(' ').expect("size and layers");
    let size: u64 = size.parse().unwrap();
    let bin = fs::metadata(
        common::workspace_root().join("target/x86_64-unknown-linux-musl/release/tcptrace"),
    )
    .expect("the dist binary")
    .len();
    eprintln!("image {tag}: {size} bytes, {layers} layer(s); binary {bin} bytes");
    assert_eq!(layers, "1", "FROM scratch and one COPY: one layer");
    // The binary and a layer's metadata, nothing else.
    assert!(size >= bin && size < bin + 64 * 1024, "{size} vs {bin}");
}

/// Under the runtime's default seccomp profile (what `RuntimeDefault` gives; podman 4.3's
/// refuses bpf() even with CAP_BPF): one line saying so, not a request for capabilities
/// the process holds.
#[test]
fn default_seccomp_profile_is_named_as_the_refusal() {
    let mut pod = daemonset_pod();
    pod.opts
        .retain(|o| !o.starts_with("--security-opt=seccomp"));
    let net = NetnsPair::new();
    let ct = container("seccomp");
    let args = ["-i".to_string(), net.veth_b.clone()];
    let out = run_as_daemonset(&pod, &net.b, &ct.0, &args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("tcptrace: a seccomp filter refused the bpf() system call"),
        "{err}"
    );
    common::hooks::assert_nothing_of_ours(&net.b, &net.veth_b);
}
