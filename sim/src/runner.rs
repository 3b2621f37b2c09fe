//! Runs scenarios over seeds (in parallel on all cores), checks expectations, shrinks
//! failing fault schedules, and summarises.

use crate::checkers::Violation;
use crate::rng::Seeds;
use crate::scenario::{Expectation, FaultSpec, Scenario, expand_faults};
use crate::world::{Coverage, Figures, World};
use propbot_engine::output::Mode;
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Why a run failed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Failure {
    /// An invariant broke.
    Invariant(Violation),
    /// An end-of-run expectation of the scenario did not hold.
    Expectation(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Invariant(v) => write!(
                f,
                "invariant {} broke at step {} ({} ms): {}",
                v.invariant, v.step, v.at_ms, v.detail
            ),
            Failure::Expectation(m) => write!(f, "expectation failed: {m}"),
        }
    }
}

/// One run.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// Failure, if any.
    pub failure: Option<Failure>,
    /// Figures.
    pub figures: Figures,
    /// Coverage.
    pub coverage: Coverage,
    /// Trace digest (same seed → same digest).
    pub digest: String,
    /// The concrete fault schedule.
    pub faults: Vec<FaultSpec>,
    /// Step trace (replay mode).
    #[serde(skip)]
    pub trace: Vec<String>,
}

/// Runs one scenario with one seed and the given fault schedule.
pub fn run_with(scenario: &Scenario, seed: u64, faults: Vec<FaultSpec>, trace: bool) -> RunResult {
    let mut world = World::new(scenario, seed, faults.clone());
    if trace {
        world.trace_log = Some(Vec::new());
    }
    let failure = match world.run() {
        Err(v) => Some(Failure::Invariant(v)),
        Ok(()) => check_expectations(scenario, &world)
            .err()
            .map(Failure::Expectation),
    };
    RunResult {
        scenario: scenario.name.clone(),
        seed,
        failure,
        figures: world.figures.clone(),
        coverage: world.coverage.clone(),
        digest: world.trace_digest(),
        faults,
        trace: world.trace_log.take().unwrap_or_default(),
    }
}

/// Runs one scenario with one seed (faults drawn from the seed).
pub fn run_one(scenario: &Scenario, seed: u64, trace: bool) -> RunResult {
    let faults = expand_faults(&scenario.faults, &mut Seeds::new(seed).stream("faults", 0));
    run_with(scenario, seed, faults, trace)
}

/// Runs `seeds` in parallel on `threads` threads; results are in seed order.
pub fn run_seeds(scenario: &Scenario, seeds: &[u64], threads: usize) -> Vec<RunResult> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(seeds.len()));
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(k) else { break };
                    let r = run_one(scenario, seed, false);
                    results.lock().expect("no panics hold the lock").push(r);
                }
            });
        }
    });
    let mut out = results.into_inner().expect("threads joined");
    out.sort_by_key(|r| r.seed);
    out
}

/// Reduces a failing fault schedule to a smaller one that still fails: drops faults
/// one at a time, then halves durations, keeping each change that still fails.
pub fn shrink(scenario: &Scenario, seed: u64, faults: &[FaultSpec]) -> Vec<FaultSpec> {
    let fails = |f: &[FaultSpec]| {
        run_with(scenario, seed, f.to_vec(), false)
            .failure
            .is_some()
    };
    let mut current = faults.to_vec();
    let mut k = 0;
    while k < current.len() {
        let mut candidate = current.clone();
        candidate.remove(k);
        if fails(&candidate) {
            current = candidate;
        } else {
            k += 1;
        }
    }
    for k in 0..current.len() {
        while current[k].duration_ms > 100 {
            let mut candidate = current.clone();
            candidate[k].duration_ms /= 2;
            if fails(&candidate) {
                current = candidate;
            } else {
                break;
            }
        }
    }
    current
}

/// Checks a scenario's end-of-run expectations against what the world observed.
pub fn check_expectations(scenario: &Scenario, w: &World) -> Result<(), String> {
    check_hold_deadlines(w)?;
    for e in &scenario.expect {
        check_expectation(w, e)?;
    }
    Ok(())
}

/// Every fault that must put the engine in HOLD did, within its deadline.
fn check_hold_deadlines(w: &World) -> Result<(), String> {
    for (k, _limit, took) in &w.observed.hold_deadlines {
        let f = &w.faults[*k];
        let limit = f.hold_within_ms.unwrap_or(0);
        match took {
            Some(ms) if *ms <= limit => {}
            Some(ms) => {
                return Err(format!(
                    "fault {k} ({:?}) put the engine in HOLD after {ms} ms, deadline {limit} ms",
                    kind(&f.fault)
                ));
            }
            None => {
                return Err(format!(
                    "fault {k} ({:?}) never put the engine in HOLD (deadline {limit} ms)",
                    kind(&f.fault)
                ));
            }
        }
    }
    Ok(())
}

/// One expectation.
fn check_expectation(w: &World, e: &Expectation) -> Result<(), String> {
    let o = &w.observed;
    let fail_if = |failed: bool, why: String| if failed { Err(why) } else { Ok(()) };
    match e {
        Expectation::MinOrders { orders } => fail_if(
            w.figures.orders_sent < *orders,
            format!(
                "only {} orders were sent, expected at least {orders}",
                w.figures.orders_sent
            ),
        ),
        Expectation::Tripped { guards } => match guards.iter().find(|g| !o.tripped.contains(*g)) {
            Some(g) => Err(format!(
                "guard {g} never tripped (tripped: {:?})",
                o.tripped
            )),
            None => Ok(()),
        },
        Expectation::NoOrdersAfterTrip => fail_if(
            w.figures.orders_after_trip > 0,
            format!("{} orders sent while in HOLD", w.figures.orders_after_trip),
        ),
        Expectation::NoLostFills => fail_if(
            w.figures.lost_fills > 0,
            format!("{} fills lost", w.figures.lost_fills),
        ),
        Expectation::ReconOk => recon_ok(w),
        Expectation::NewLeaderInHold { changes } => new_leaders_in_hold(w, *changes),
        Expectation::RestartInHold { restarts } => restarts_in_hold(w, *restarts),
        Expectation::SameActorRefused => fail_if(
            !o.same_actor_refused,
            "a resume by a single actor was not refused".into(),
        ),
        Expectation::Flattened => flattened(w),
        Expectation::Quarantined => fail_if(
            !o.tripped.contains("runaway_breaker"),
            "the runaway breaker never tripped".into(),
        ),
        Expectation::PreOpenRespected => fail_if(
            o.preopen_violations > 0,
            format!(
                "{} non-post-only orders sent in pre-open",
                o.preopen_violations
            ),
        ),
        Expectation::CancelsDuringBackoff => fail_if(
            o.cancels_during_backoff == 0,
            "no cancel was sent while places were held back".into(),
        ),
        Expectation::DeadmanCovered => fail_if(
            o.deadman_cancels == 0,
            "the dead-man switch never cancelled anything".into(),
        ),
        Expectation::UnknownResolved => fail_if(
            w.unknown_orders() > 0,
            format!("{} unknown order(s) unresolved", w.unknown_orders()),
        ),
        Expectation::GapsDetected => gaps_detected(w),
        Expectation::SloMet => slo_met(w),
    }
}

/// The leader's final reconciliation with both venues is done, without mismatch.
fn recon_ok(w: &World) -> Result<(), String> {
    let leader = w.leader().ok_or("no leader at the end")?;
    let e = w.instances[leader as usize]
        .engine
        .as_ref()
        .ok_or("leader down")?;
    let m: u32 = e.reconciliation().iter().map(|r| r.mismatches).sum();
    if m > 0 || !e.reconciliation().iter().all(|r| r.done) {
        return Err(format!("final reconciliation: {m} mismatch(es)"));
    }
    Ok(())
}

/// Leadership changed at least `changes` times, and every new leader started in HOLD.
fn new_leaders_in_hold(w: &World, changes: u64) -> Result<(), String> {
    let new: Vec<_> = w.observed.acquisitions.iter().skip(1).collect();
    if (new.len() as u64) < changes {
        return Err(format!(
            "leadership changed {} time(s), expected {changes}",
            new.len()
        ));
    }
    if let Some((i, epoch, _)) = new.iter().find(|(_, _, hold)| !hold) {
        return Err(format!(
            "instance #{i} became leader (epoch {epoch}) outside HOLD"
        ));
    }
    Ok(())
}

/// At least `restarts` restarts, every one in HOLD.
fn restarts_in_hold(w: &World, restarts: u64) -> Result<(), String> {
    let n = w.observed.restarts_in_hold.len() as u64;
    if n < restarts {
        return Err(format!("{n} restart(s), expected {restarts}"));
    }
    if w.observed.restarts_in_hold.iter().any(|h| !h) {
        return Err("an instance restarted outside HOLD".into());
    }
    Ok(())
}

/// Every venue position is below one lot at the end.
fn flattened(w: &World) -> Result<(), String> {
    let leader = w.leader().ok_or("no leader at the end")?;
    for v in w.venues() {
        for i in 0..w.config.instruments.len() {
            let q = v.position(propbot_engine::model::InstrumentId(i as u16));
            let lot = w
                .config
                .listing(v.venue(), propbot_engine::model::InstrumentId(i as u16))
                .map_or(1, |l| l.min_qty.raw());
            if q.raw().abs() >= lot {
                return Err(format!(
                    "{} position {} not flattened (leader #{leader})",
                    v.venue(),
                    q.raw()
                ));
            }
        }
    }
    Ok(())
}

/// Some instance's book detected a gap.
fn gaps_detected(w: &World) -> Result<(), String> {
    let gaps: u64 = w
        .instances
        .iter()
        .filter_map(|i| i.engine.as_ref())
        .flat_map(|e| {
            propbot_engine::model::Venue::ALL
                .map(|v| e.book(v, e.config().strategy.instruments[0]).counters.gaps)
        })
        .sum();
    if gaps == 0 {
        return Err("no book gap was detected".into());
    }
    Ok(())
}

/// The leader ends the nominal day within its SLOs, trading.
fn slo_met(w: &World) -> Result<(), String> {
    let leader = w.leader().ok_or("no leader at the end")?;
    let e = w.instances[leader as usize]
        .engine
        .as_ref()
        .ok_or("leader down")?;
    let (_, breaches) = e.slo(e.now());
    if !breaches.is_empty() {
        return Err(format!("SLO beyond target at the end: {breaches:?}"));
    }
    if e.control().mode != Mode::Run {
        return Err(format!(
            "the nominal day ended in HOLD: {}",
            e.control().hold_reason
        ));
    }
    Ok(())
}

fn kind(f: &crate::scenario::FaultKind) -> String {
    serde_json::to_value(f)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
        .unwrap_or_default()
}

/// The summary line of a scenario over its seeds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Path it was read from.
    pub path: String,
    /// Seeds run.
    pub seeds: u64,
    /// Passed.
    pub passed: u64,
    /// Failed.
    pub failed: u64,
    /// Longest time to HOLD after a fault that required it, ms.
    pub time_to_hold_ms_max: u64,
    /// Orders sent in HOLD.
    pub orders_after_trip: u64,
    /// Mean unhedged exposure per run, USD·s.
    pub unhedged_usd_s_mean: f64,
    /// Split-brain count.
    pub split_brain: u64,
    /// Lost fills.
    pub lost_fills: u64,
    /// Orders sent per run, mean.
    pub orders_mean: f64,
    /// Simulated seconds per wall second.
    pub sim_speed: f64,
    /// Wall time, s.
    pub wall_s: f64,
    /// Failures: seed and message.
    pub failures: Vec<(u64, String)>,
    /// Coverage summed over seeds.
    pub coverage: Coverage,
}

/// Summarises a scenario's runs.
pub fn summarise(path: &str, results: &[RunResult], wall_s: f64) -> Summary {
    let n = results.len().max(1) as f64;
    let mut s = Summary {
        scenario: results
            .first()
            .map(|r| r.scenario.clone())
            .unwrap_or_default(),
        path: path.to_owned(),
        seeds: results.len() as u64,
        wall_s,
        ..Summary::default()
    };
    let mut simulated_ms = 0u64;
    for r in results {
        if let Some(f) = &r.failure {
            s.failed += 1;
            s.failures.push((r.seed, f.to_string()));
        } else {
            s.passed += 1;
        }
        s.time_to_hold_ms_max = s.time_to_hold_ms_max.max(r.figures.time_to_hold_ms);
        s.orders_after_trip += r.figures.orders_after_trip;
        s.unhedged_usd_s_mean += r.figures.unhedged_usd_s / n;
        s.split_brain += r.figures.split_brain;
        s.lost_fills += r.figures.lost_fills;
        s.orders_mean += r.figures.orders_sent as f64 / n;
        simulated_ms += r.figures.simulated_ms;
        for (k, v) in &r.coverage.faults {
            *s.coverage.faults.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &r.coverage.sometimes {
            *s.coverage.sometimes.entry(k.clone()).or_default() += v;
        }
    }
    if wall_s > 0.0 {
        s.sim_speed = simulated_ms as f64 / 1000.0 / wall_s;
    }
    s
}

/// The table of summaries, as printed.
pub fn table(summaries: &[Summary]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{:<18} {:>6} {:>6} {:>6} {:>12} {:>12} {:>12} {:>11} {:>10} {:>8} {:>10}\n",
        "scenario",
        "seeds",
        "passed",
        "failed",
        "to_HOLD_ms",
        "orders@HOLD",
        "unhedged$s",
        "split_brain",
        "lost_fill",
        "orders",
        "sim_x"
    ));
    for s in summaries {
        out.push_str(&format!(
            "{:<18} {:>6} {:>6} {:>6} {:>12} {:>12} {:>12.1} {:>11} {:>10} {:>8.1} {:>10.0}\n",
            s.scenario,
            s.seeds,
            s.passed,
            s.failed,
            s.time_to_hold_ms_max,
            s.orders_after_trip,
            s.unhedged_usd_s_mean,
            s.split_brain,
            s.lost_fills,
            s.orders_mean,
            s.sim_speed
        ));
    }
    out
}
