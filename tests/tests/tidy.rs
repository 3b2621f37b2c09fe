//! Tidy checks: the architecture is enforced, not just described (STYLE rule 18).
//!
//! - `propbot-engine` has no IO dependency, direct or transitive;
//! - its source calls no clock, thread, socket, file, environment or global RNG;
//! - dependencies point one way: engine ← venues ← recordings ← market ← sim ← server ←
//!   tests, and `propbot-testsupport` is for tests only; `propbot-emulators` (loopback
//!   venue emulators) sits beside the server, on the market, and only the server (and
//!   dev-dependencies) may depend on it; `propbot-live` (the live market-data adapters:
//!   sockets, tokio) sits on the engine and the venues' parsers, and nothing
//!   deterministic may reach it;
//! - the simulator and the market it runs are as deterministic as the engine (no tokio).
//! - `propbot-venues` (market data, reused by the recordings importer) has no IO dependency.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Crates that do IO (or pull in a runtime) and must never reach the engine.
const IO_CRATES: &[&str] = &[
    "tokio",
    "reqwest",
    "tungstenite",
    "tokio-tungstenite",
    "axum",
    "hyper",
    "arrow",
    "arrow-array",
    "parquet",
    "rusqlite",
    "libsqlite3-sys",
    "mio",
    "socket2",
    "rand",
    "getrandom",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The host target triple (metadata is filtered to it, so other platforms' crates
/// need not be downloaded).
fn host_triple() -> String {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc reports its host")
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            &host_triple(),
        ])
        .current_dir(workspace_root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata JSON")
}

/// Package name by id, and normal (non-dev, non-build) dependencies by id.
fn graph(meta: &Value) -> (BTreeMap<String, String>, BTreeMap<String, Vec<String>>) {
    let names = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut deps = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let id = node["id"].as_str().unwrap().to_owned();
        let normal = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| d["pkg"].as_str().unwrap().to_owned())
            .collect();
        deps.insert(id, normal);
    }
    (names, deps)
}

/// Every package a crate depends on at run time, transitively, by name.
fn closure(meta: &Value, root: &str) -> BTreeSet<String> {
    let (names, deps) = graph(meta);
    let start = names
        .iter()
        .find(|(_, n)| n.as_str() == root)
        .map(|(id, _)| id.clone())
        .expect("crate in workspace");
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(id) = stack.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        stack.extend(deps.get(&id).cloned().unwrap_or_default());
    }
    seen.iter()
        .map(|id| names[id].clone())
        .filter(|n| n != root)
        .collect()
}

#[test]
fn the_engine_has_no_io_dependency_direct_or_transitive() {
    let meta = metadata();
    let deps = closure(&meta, "propbot-engine");
    let bad: Vec<&String> = deps
        .iter()
        .filter(|d| IO_CRATES.contains(&d.as_str()))
        .collect();
    assert!(
        bad.is_empty(),
        "propbot-engine depends on IO crates {bad:?}; the engine must stay sans-IO (DESIGN §1)"
    );
    assert!(
        !deps.iter().any(|d| d.starts_with("propbot-")),
        "the engine depends on no other workspace crate: {deps:?}"
    );
}

/// The venue market-data modules are reused by the recordings importer on captured
/// frames, so `propbot-venues` must not pull in a runtime or socket crate. The live
/// adapters' IO lives in its own crate, `propbot-live`
/// (`the_live_adapters_stay_out_of_the_deterministic_crates`).
#[test]
fn the_venue_market_data_has_no_io_dependency() {
    let meta = metadata();
    let deps = closure(&meta, "propbot-venues");
    let bad: Vec<&String> = deps
        .iter()
        .filter(|d| IO_CRATES.contains(&d.as_str()))
        .collect();
    assert!(
        bad.is_empty(),
        "propbot-venues (market data) must stay IO-free, but depends on {bad:?}"
    );
}

#[test]
fn the_simulator_and_its_market_are_as_deterministic_as_the_engine() {
    let meta = metadata();
    for krate in ["propbot-sim", "propbot-market"] {
        let deps = closure(&meta, krate);
        // propbot-venues may come in through propbot-recordings (its market-data parsers
        // are IO-free); what may not come in is anything that does IO or runs a runtime.
        for forbidden in [
            "tokio",
            "reqwest",
            "axum",
            "hyper",
            "rusqlite",
            "mio",
            "propbot-server",
        ] {
            assert!(
                !deps.contains(forbidden),
                "{krate} must not depend on {forbidden}"
            );
        }
    }
}

#[test]
fn dependencies_point_one_way() {
    let meta = metadata();
    let allowed: &[(&str, &[&str])] = &[
        ("propbot-engine", &[]),
        (
            "propbot-sim",
            &[
                "propbot-engine",
                "propbot-market",
                "propbot-recordings",
                "propbot-venues",
            ],
        ),
        (
            "propbot-market",
            &["propbot-engine", "propbot-recordings", "propbot-venues"],
        ),
        ("propbot-recordings", &["propbot-engine", "propbot-venues"]),
        ("propbot-venues", &["propbot-engine"]),
        (
            "propbot-server",
            &[
                "propbot-engine",
                "propbot-sim",
                "propbot-market",
                "propbot-recordings",
                "propbot-venues",
                "propbot-emulators",
                "propbot-live",
            ],
        ),
        // The venue emulators serve the synthetic market or a recording over loopback:
        // fixtures for the live adapters (`the_emulators_are_for_the_server_and_tests`).
        (
            "propbot-emulators",
            &[
                "propbot-engine",
                "propbot-market",
                "propbot-recordings",
                "propbot-venues",
            ],
        ),
        // The live market-data adapters: sockets on top of the venues' IO-free parsers;
        // only the server uses them (shadow trading, `propbot record`).
        ("propbot-live", &["propbot-engine", "propbot-venues"]),
        // Test helpers only: no crate above may reach it at run time.
        ("propbot-testsupport", &[]),
    ];
    for (krate, may) in allowed {
        for dep in closure(&meta, krate)
            .iter()
            .filter(|d| d.starts_with("propbot-"))
        {
            assert!(
                may.contains(&dep.as_str()),
                "{krate} must not depend on {dep}"
            );
        }
    }
}

/// `propbot-live` may use tokio, tungstenite and reqwest; the engine, the venues'
/// parsers, the recordings, the market and the simulator must never reach it (nor the
/// emulators, which are test fixtures), or their runs would link sockets and a runtime.
#[test]
fn the_live_adapters_stay_out_of_the_deterministic_crates() {
    let meta = metadata();
    let live = closure(&meta, "propbot-live");
    for io in ["tokio", "tokio-tungstenite", "reqwest"] {
        assert!(
            live.contains(io),
            "propbot-live is the socket side: it uses {io}"
        );
    }
    for krate in [
        "propbot-engine",
        "propbot-venues",
        "propbot-recordings",
        "propbot-market",
        "propbot-sim",
    ] {
        let deps = closure(&meta, krate);
        for forbidden in ["propbot-live", "propbot-emulators"] {
            assert!(
                !deps.contains(forbidden),
                "{krate} must not depend on {forbidden}"
            );
        }
    }
}

/// The venue emulators are test fixtures and the `propbot emulate` command: only the
/// server may depend on them at run time; any crate may use them in its tests
/// (dev-dependencies are not followed here).
#[test]
fn the_emulators_are_for_the_server_and_tests() {
    let meta = metadata();
    let (names, _) = graph(&meta);
    let workspace: BTreeSet<&String> = names
        .values()
        .filter(|n| n.starts_with("propbot-"))
        .collect();
    for krate in workspace {
        if krate == "propbot-server" || krate == "propbot-emulators" {
            continue;
        }
        assert!(
            !closure(&meta, krate).contains("propbot-emulators"),
            "{krate} depends on propbot-emulators; only propbot-server (and dev-dependencies) may"
        );
    }
    assert!(
        closure(&meta, "propbot-server").contains("propbot-emulators"),
        "the server wires `propbot emulate`"
    );
}

#[test]
fn the_engine_manifest_names_no_io_crate() {
    let manifest = std::fs::read_to_string(workspace_root().join("engine/Cargo.toml")).unwrap();
    let deps_section = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|s| s.split("\n[").next())
        .expect("a [dependencies] section");
    for line in deps_section.lines() {
        let name = line.split(['=', '.']).next().unwrap_or("").trim();
        assert!(!IO_CRATES.contains(&name), "engine/Cargo.toml names {name}");
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn engine_source_reads_no_clock_file_socket_env_or_global_rng() {
    let forbidden = [
        "SystemTime::now",
        "Instant::now",
        "thread_rng",
        "tokio::spawn",
        "thread::spawn",
        "std::fs",
        "std::net",
        "std::env",
        "HashMap",
        "HashSet",
        "println!",
    ];
    let mut files = Vec::new();
    rust_files(&workspace_root().join("engine/src"), &mut files);
    assert!(files.len() > 10, "engine sources found");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for f in forbidden {
                assert!(
                    !code.contains(f),
                    "{}:{}: the engine must not use {f}",
                    file.display(),
                    n + 1
                );
            }
        }
    }
}

#[test]
fn clippy_config_disallows_clocks_rng_and_hash_maps_with_reasons() {
    let text = std::fs::read_to_string(workspace_root().join("engine/clippy.toml")).unwrap();
    for needle in [
        "std::time::SystemTime::now",
        "std::time::Instant::now",
        "rand::thread_rng",
        "std::collections::HashMap",
        "std::collections::HashSet",
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("clippy.toml lacks {needle}"));
        assert!(line.contains("reason"), "{needle} has no reason");
    }
}

/// The production driver speaks the venue boundary (`propbot_engine::gateway`), never the
/// simulator: the live service must not need `propbot-sim` to drive the engine.
#[test]
fn the_production_driver_names_no_simulator_type() {
    let root = workspace_root();
    for file in ["server/src/driver.rs"] {
        let path = root.join(file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (n, line) in text.lines().enumerate() {
            assert!(
                !line.contains("propbot_sim"),
                "{file}:{}: the driver names a simulator type: {line}",
                n + 1
            );
        }
    }
}
