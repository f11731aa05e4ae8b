//! The invariants ARCHITECTURE.md states about dependencies, checked against the real
//! dependency graph (`cargo metadata`), so that the document cannot silently become untrue.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use alliance_tests::workspace_root;
use serde_json::Value;

/// Crates that speak protobuf or generate code for it.
const PROTOBUF: &[&str] = &[
    "prost",
    "prost-types",
    "prost-build",
    "protox",
    "tonic-prost",
    "tonic-prost-build",
];
/// Crates that do I/O or run an async runtime, which the pure crates must never reach.
const IO: &[&str] = &[
    "tokio", "mio", "tonic", "hyper", "sled", "rustls", "socket2",
];

#[test]
fn only_the_proto_crate_knows_protobuf() {
    let graph = Graph::load();
    for package in graph.workspace_members() {
        let direct = graph.direct_normal_and_build_deps(&package);
        let protobuf: Vec<_> = direct
            .iter()
            .filter(|d| PROTOBUF.contains(&d.as_str()))
            .collect();
        if package == "alliance-proto" {
            assert!(
                !protobuf.is_empty(),
                "alliance-proto should compile the protocol"
            );
        } else {
            assert!(
                protobuf.is_empty(),
                "{package} depends on {protobuf:?}: only alliance-proto may"
            );
        }
    }
}

#[test]
fn only_one_crate_knows_sled() {
    let graph = Graph::load();
    let users: Vec<_> = graph
        .workspace_members()
        .into_iter()
        .filter(|p| graph.direct_normal_and_build_deps(p).contains("sled"))
        .collect();
    assert!(users.len() <= 1, "several crates depend on sled: {users:?}");
    if let Some(user) = users.first() {
        assert_eq!(
            user, "alliance-store",
            "sled belongs behind the store crate"
        );
    }
}

#[test]
fn the_pure_crates_reach_no_io_and_no_protobuf() {
    let graph = Graph::load();
    for package in ["alliance-core", "alliance-envelope"] {
        let closure = graph.normal_closure(package);
        assert!(
            !closure.is_empty(),
            "{package} not found in the dependency graph"
        );
        for banned in PROTOBUF.iter().chain(IO) {
            assert!(!closure.contains(*banned), "{package} reaches {banned}");
        }
        assert!(
            !closure.contains("alliance-proto"),
            "{package} reaches alliance-proto"
        );
    }
    // The domain crate stands alone: the envelope layer is generic and does not know reports.
    assert!(
        !graph
            .normal_closure("alliance-core")
            .contains("alliance-envelope")
    );
}

/// The resolved dependency graph of the workspace, by package name.
struct Graph {
    members: BTreeSet<String>,
    /// Package name → (dependency name, kinds) for every resolved edge.
    edges: BTreeMap<String, Vec<(String, Vec<String>)>>,
}

impl Graph {
    fn load() -> Graph {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--locked"])
            .current_dir(workspace_root())
            .output()
            .expect("cargo metadata runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let meta: Value =
            serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
        let names: BTreeMap<&str, &str> = meta["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .map(|p| {
                (
                    p["id"].as_str().expect("id"),
                    p["name"].as_str().expect("name"),
                )
            })
            .collect();
        let members = meta["workspace_members"]
            .as_array()
            .expect("workspace_members")
            .iter()
            .map(|id| names[id.as_str().expect("member id")].to_owned())
            .collect();
        let mut edges = BTreeMap::new();
        for node in meta["resolve"]["nodes"].as_array().expect("resolve") {
            let from = names[node["id"].as_str().expect("node id")].to_owned();
            let deps = node["deps"]
                .as_array()
                .expect("deps")
                .iter()
                .map(|d| {
                    let to = names[d["pkg"].as_str().expect("pkg")].to_owned();
                    let kinds = d["dep_kinds"]
                        .as_array()
                        .expect("dep_kinds")
                        .iter()
                        .map(|k| k["kind"].as_str().unwrap_or("normal").to_owned())
                        .collect();
                    (to, kinds)
                })
                .collect();
            edges.insert(from, deps);
        }
        Graph { members, edges }
    }

    fn workspace_members(&self) -> Vec<String> {
        self.members.iter().cloned().collect()
    }

    fn direct_normal_and_build_deps(&self, package: &str) -> BTreeSet<String> {
        self.edges
            .get(package)
            .into_iter()
            .flatten()
            .filter(|(_, kinds)| kinds.iter().any(|k| k == "normal" || k == "build"))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Everything `package` links against at run time (normal dependencies, transitively).
    fn normal_closure(&self, package: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![package.to_owned()];
        while let Some(p) = todo.pop() {
            for (dep, kinds) in self.edges.get(&p).into_iter().flatten() {
                if kinds.iter().any(|k| k == "normal") && seen.insert(dep.clone()) {
                    todo.push(dep.clone());
                }
            }
        }
        if self.edges.contains_key(package) {
            seen.insert(package.to_owned());
        }
        seen
    }
}
