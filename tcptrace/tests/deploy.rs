//! The deployment files: the DaemonSet (parsed as YAML, the fields a fleet relies on),
//! the container definition and the systemd unit; every tcptrace command line in them
//! parses with tcptrace's own option definitions.
mod common;

use std::fs;

use clap::Parser as _;
use tcptrace::cli::Cli;
use yaml_rust2::{Yaml, YamlLoader};

fn read(rel: &str) -> String {
    let p = common::workspace_root().join(rel);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn strs(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .unwrap_or_else(|| panic!("not a list: {y:?}"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("not a string: {v:?}"))
                .to_string()
        })
        .collect()
}

/// The arguments parse as tcptrace's own command line does.
fn parses(args: &[String]) -> Cli {
    Cli::try_parse_from(std::iter::once("tcptrace".to_string()).chain(args.iter().cloned()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[test]
fn daemonset_runs_unprivileged_with_three_capabilities_on_every_node() {
    let docs = YamlLoader::load_from_str(&read("deploy/kubernetes/daemonset.yaml")).unwrap();
    let ds = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("DaemonSet"))
        .expect("a DaemonSet");
    assert_eq!(ds["apiVersion"].as_str(), Some("apps/v1"));
    let pod = &ds["spec"]["template"];
    let spec = &pod["spec"];
    assert_eq!(spec["hostNetwork"].as_bool(), Some(true));
    // Every node: a toleration that matches every taint.
    let tolerations = spec["tolerations"].as_vec().expect("tolerations");
    assert!(
        tolerations
            .iter()
            .any(|t| t["operator"].as_str() == Some("Exists")
                && t["key"].is_badvalue()
                && t["effect"].is_badvalue()),
        "{tolerations:?}"
    );
    let containers = spec["containers"].as_vec().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["privileged"].as_bool(), Some(false));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(strs(&sc["capabilities"]["drop"]), ["ALL"]);
    let mut add = strs(&sc["capabilities"]["add"]);
    add.sort();
    assert_eq!(add, ["BPF", "NET_ADMIN", "PERFMON"]);
    for kind in ["requests", "limits"] {
        for what in ["cpu", "memory"] {
            assert!(
                c["resources"][kind][what].as_str().is_some(),
                "resources.{kind}.{what}"
            );
        }
    }
    // The metrics port, announced for scraping, is the one tcptrace serves.
    let ports = c["ports"].as_vec().expect("ports");
    let metrics = ports
        .iter()
        .find(|p| p["name"].as_str() == Some("metrics"))
        .expect("a metrics port");
    let port = metrics["containerPort"].as_i64().expect("containerPort");
    let ann = &pod["metadata"]["annotations"];
    assert_eq!(ann["prometheus.io/scrape"].as_str(), Some("true"));
    assert_eq!(
        ann["prometheus.io/port"].as_str(),
        Some(port.to_string().as_str())
    );
    // JSON to stdout; metrics on that port; the arguments are tcptrace's.
    let cli = parses(&strs(&c["args"]));
    assert!(cli.json && cli.write.is_none(), "JSON on stdout, no file");
    assert_eq!(cli.metrics.map(|a| i64::from(a.port())), Some(port));
    assert_eq!(cli.iface, ["any"]);
}

#[test]
fn container_is_the_static_binary_alone() {
    let text = read("deploy/container/Containerfile");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let from: Vec<&&str> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(from, [&"FROM scratch"]);
    let copies: Vec<&&str> = lines.iter().filter(|l| l.starts_with("COPY ")).collect();
    assert_eq!(copies, [&"COPY tcptrace /tcptrace"]);
    assert!(lines.contains(&r#"ENTRYPOINT ["/tcptrace"]"#));
    let cmd = lines
        .iter()
        .find_map(|l| l.strip_prefix("CMD "))
        .expect("CMD");
    let args: Vec<String> = serde_json::from_str(cmd).expect("CMD in exec form");
    let cli = parses(&args);
    assert!(cli.json && cli.metrics.is_some());
}

#[test]
fn systemd_unit_has_exactly_the_three_capabilities_and_parsable_options() {
    let unit = read("deploy/systemd/tcptrace@.service");
    let get = |key: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(str::to_string)
            .collect()
    };
    for key in ["AmbientCapabilities", "CapabilityBoundingSet"] {
        let mut caps: Vec<String> = get(key)
            .iter()
            .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect();
        caps.sort();
        assert_eq!(caps, ["CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON"], "{key}");
    }
    for (key, want) in [
        ("DynamicUser", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("Restart", "on-failure"),
        ("StandardOutput", "journal"),
        ("EnvironmentFile", "-/etc/default/tcptrace-bpf"),
    ] {
        assert_eq!(get(key), [want], "{key}");
    }
    assert!(!get("MemoryMax").is_empty());
    assert_eq!(
        get("ExecStart"),
        ["/usr/sbin/tcptrace -i %I $TCPTRACE_OPTS"]
    );
    // The default options, as systemd splits $TCPTRACE_OPTS, parse.
    let defaults = read("deploy/systemd/tcptrace-bpf.default");
    let opts = defaults
        .lines()
        .find_map(|l| l.strip_prefix("TCPTRACE_OPTS="))
        .expect("TCPTRACE_OPTS")
        .trim_matches('"');
    let mut args = vec!["-i".to_string(), "eth0".to_string()];
    args.extend(opts.split_whitespace().map(str::to_string));
    let cli = parses(&args);
    assert!(
        cli.json && cli.stats.is_some(),
        "JSON events and --stats to the journal"
    );
}
