//! The AT-P0 acceptance suite as part of `cargo test --workspace`: every scenario in
//! `scenarios/` over its CI seed set (≥ 50 seeds), with determinism, coverage of every
//! fault and every rare situation, and shrinking.

use clap::Parser;
use propbot_sim::cli::{ScenarioCli, scenario_files};
use propbot_sim::runner::{self, RunResult};
use propbot_sim::scenario::Scenario;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn scenarios() -> Vec<(PathBuf, Scenario)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let files = scenario_files(&[dir]).expect("scenarios/ exists");
    assert!(
        files.len() >= 11,
        "the eleven AT scenarios are present: {files:?}"
    );
    files
        .into_iter()
        .map(|f| {
            let s = Scenario::load(&f).unwrap_or_else(|e| panic!("{e}"));
            (f, s)
        })
        .collect()
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Situations SIMULATION.md calls "sometimes": each must occur somewhere in the CI set.
const SOMETIMES: &[&str] = &[
    "failover_during_in_flight_order",
    "503_hid_a_fill",
    "crash_between_commit_and_send",
    "crash_after_send_before_ack",
    "crash_after_fill_before_commit",
    "pause_longer_than_lease",
    "gap_during_fast_market",
    "deadman_cancelled_orders",
    "journal_write_failed",
    "clock_step_back_while_leader",
];

/// Every kind in the fault catalogue must start at least once over the CI seeds.
const CATALOGUE: &[&str] = &[
    "partition",
    "disconnect",
    "stall",
    "gap",
    "storm429",
    "unknown",
    "duplicate_reorder",
    "maintenance",
    "venue_cancel",
    "skew",
    "venue_clock",
    "crash",
    "pause",
    "flip",
    "disk_error",
    "lease_down",
    "extra_instance",
    "crash_loop",
    "price_jump",
];

#[test]
fn every_scenario_passes_over_its_ci_seeds_and_covers_every_fault() {
    let mut faults_used: BTreeMap<String, u64> = BTreeMap::new();
    let mut faults_hit: BTreeMap<String, u64> = BTreeMap::new();
    let mut sometimes: BTreeMap<String, u64> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut summaries = Vec::new();
    for (path, s) in scenarios() {
        assert!(s.seeds >= 50, "{}: CI runs at least 50 seeds", s.name);
        for f in &s.faults {
            let v = serde_json::to_value(&f.fault).unwrap();
            let kind = v["kind"].as_str().unwrap().to_owned();
            let kind = if v["clean"] == serde_json::Value::Bool(false) {
                "stall".to_owned()
            } else {
                kind
            };
            *faults_used.entry(kind).or_default() += 1;
        }
        let seeds: Vec<u64> = (0..s.seeds).collect();
        let results: Vec<RunResult> = runner::run_seeds(&s, &seeds, threads());
        for r in &results {
            if let Some(f) = &r.failure {
                failures.push(format!(
                    "{} seed {}: {f}\n  replay: propbot scenario run {} --seed {}",
                    s.name,
                    r.seed,
                    path.display(),
                    r.seed
                ));
            }
            for (k, v) in &r.coverage.faults {
                *faults_hit.entry(k.clone()).or_default() += v;
            }
            for (k, v) in &r.coverage.sometimes {
                *sometimes.entry(k.clone()).or_default() += v;
            }
        }
        summaries.push(runner::summarise(
            &path.display().to_string(),
            &results,
            0.0,
        ));
    }
    println!("{}", runner::table(&summaries));
    assert!(
        failures.is_empty(),
        "{} run(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for (kind, _) in faults_used {
        assert!(
            kind == "random" || faults_hit.get(&kind).copied().unwrap_or(0) > 0,
            "fault {kind} is scheduled but never started"
        );
    }
    for kind in CATALOGUE {
        assert!(
            faults_hit.get(*kind).copied().unwrap_or(0) > 0,
            "fault {kind} never happened over the CI seeds: {faults_hit:?}"
        );
    }
    for what in SOMETIMES {
        assert!(
            sometimes.get(*what).copied().unwrap_or(0) > 0,
            "\"{what}\" never happened over the CI seeds: {sometimes:?}"
        );
    }
    for s in &summaries {
        assert_eq!(s.split_brain, 0);
        assert_eq!(s.lost_fills, 0);
        assert_eq!(s.orders_after_trip, 0);
        assert!(s.orders_mean >= 1.0, "{} trades", s.scenario);
    }
}

#[test]
fn the_same_seed_gives_the_same_trace_digest_for_every_scenario() {
    for (_, s) in scenarios() {
        let a = runner::run_one(&s, 7, false);
        let b = runner::run_one(&s, 7, false);
        assert_eq!(a.digest, b.digest, "{}: seed 7 twice", s.name);
        assert_eq!(a.figures, b.figures, "{}", s.name);
        let c = runner::run_one(&s, 8, false);
        assert_ne!(
            a.digest, c.digest,
            "{}: another seed takes another path",
            s.name
        );
    }
}

#[test]
fn a_failing_random_schedule_shrinks_to_fewer_faults_that_still_fail() {
    // Random faults plus an expectation nothing can meet: the failure does not depend
    // on the faults, so shrinking must remove every one of them.
    let text = r#"
name: shrink-me
description: an impossible expectation under random faults
world: { instances: 1, duration_ms: 30000, heal_ms: 5000 }
operator:
  - { at_ms: 8000, action: { kind: resume } }
faults:
  - at_ms: 0
    fault: { kind: random, count: 5, kinds: [gap, venue_cancel, duplicate_reorder, price_jump], window_ms: [10000, 25000], duration_ms: [500, 4000] }
expect:
  - { check: min_orders, orders: 1000000 }
"#;
    let s = Scenario::from_yaml("shrink-me", text).unwrap();
    let r = runner::run_one(&s, 3, false);
    assert!(r.failure.is_some());
    assert_eq!(r.faults.len(), 5);
    let shrunk = runner::shrink(&s, 3, &r.faults);
    assert!(shrunk.is_empty(), "{shrunk:?}");
    assert!(runner::run_with(&s, 3, shrunk, false).failure.is_some());
}

#[test]
fn the_runner_replays_one_seed_with_a_step_trace_and_reports_failures() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/at-p0-skew.yaml");
    let run = |args: &[&str]| {
        let argv = std::iter::once("scenario").chain(args.iter().copied());
        ScenarioCli::try_parse_from(argv).map(|cli| propbot_sim::cli::run(cli.command))
    };
    let path = dir.display().to_string();
    assert_eq!(run(&["run", &path, "--seed", "3"]).unwrap(), 0);
    let code = run(&["run", "no/such/file.yaml"]).unwrap();
    assert_eq!(code, 2, "a missing file is a usage error");
    for bad in [
        &["frobnicate"][..],
        &["run", "--seeds", "many"],
        &["run", "--frobnicate"],
    ] {
        let e = run(bad).expect_err("clap refuses it");
        assert_eq!(e.exit_code(), 2, "{bad:?}: {e}");
    }
    let bad = std::env::temp_dir().join("propbot-bad-scenario.yaml");
    std::fs::write(
        &bad,
        "name: x\ndescription: y\nworld: { instances: 1, typo_field: 3 }\n",
    )
    .unwrap();
    let err = Scenario::load(&bad).unwrap_err().to_string();
    assert!(err.contains("typo_field"), "{err}");
}
