//! `propbot scenario run [PATH…] [--seeds N] [--seed-start S] [--seed S] [--json FILE]
//! [--threads T] [--recording DIR…]`: the acceptance-suite runner's command line, as
//! clap argument structs. The `propbot` binary parses [`Command`] as its `scenario`
//! subcommand and hands it to [`run`]; the `scenario` example parses [`ScenarioCli`].
//!
//! Without paths it runs every `scenarios/*.yaml`. Each scenario runs over its own
//! seed count (or `--seeds N`, seeds 0..N) in parallel on all cores, and the runner
//! prints a table and exits non-zero on any failure. A failure prints the seed, the
//! invariant or expectation, a shrunk fault schedule, and the one command that replays
//! it; `--seed S` replays exactly one seed with a step trace.

use crate::runner::{self, Summary};
use crate::scenario::Scenario;
use std::path::{Path, PathBuf};

/// `propbot scenario …`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run scenarios over many seeds in parallel, or replay one seed with a step trace.
    Run(RunArgs),
}

/// `propbot scenario run [PATH…] [--seeds N] [--seed-start S] [--seed S] …`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Scenario files or directories.
    #[arg(value_name = "PATH", default_value = "scenarios")]
    pub paths: Vec<PathBuf>,
    /// Run N seeds of every scenario (default: each scenario's `seeds`).
    #[arg(long, value_name = "N")]
    pub seeds: Option<u64>,
    /// The first seed of the run: seeds S..S+N explore new ground instead of re-running
    /// 0..N.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed_start: u64,
    /// Replay one seed with a step trace.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Write every summary and failure as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
    /// With --seed, print every step (default: the last 400).
    #[arg(long)]
    pub full_trace: bool,
    /// Drive the market of every scenario from this recording (files or directories;
    /// repeat for more, e.g. a real venue and a derived one).
    #[arg(long, value_name = "DIR")]
    pub recording: Vec<PathBuf>,
}

/// `propbot scenario` on its own: the `scenario` example and tests parse with it.
#[derive(Debug, clap::Parser)]
#[command(
    name = "scenario",
    about = "Run acceptance scenarios (the simulator's runner)."
)]
pub struct ScenarioCli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Scenario files under the given paths (directories expand to their `*.yaml`, sorted).
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            files.sort();
            out.extend(files);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(format!(
                "{}: no such scenario file or directory",
                p.display()
            ));
        }
    }
    Ok(out)
}

/// Runs a parsed `propbot scenario` command and returns the process exit code: 0 when
/// everything passed, 1 on a failure, 2 when a scenario or path cannot be used. Bad
/// usage never gets here: clap refuses it with exit code 2.
pub fn run(command: Command) -> i32 {
    let Command::Run(args) = command;
    match run_scenarios(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("propbot scenario: {message}");
            2
        }
    }
}

/// Loads the scenarios, then replays one seed or runs every seed, and reports.
fn run_scenarios(a: &RunArgs) -> Result<i32, String> {
    let scenarios = load_scenarios(&a.paths, &a.recording)?;
    if let Some(seed) = a.seed {
        return Ok(replay(&scenarios, seed, a.full_trace, &a.recording));
    }
    announce_recordings(&scenarios);
    let (summaries, failed) = run_all(a, &scenarios)?;
    println!("{}", runner::table(&summaries));
    if let Some(json) = &a.json {
        let text = serde_json::to_string_pretty(&summaries).expect("summaries serialise");
        std::fs::write(json, text).map_err(|e| format!("cannot write {}: {e}", json.display()))?;
    }
    Ok(if failed { 1 } else { 0 })
}

/// The scenarios under `paths`, each on `recording` when one is given.
fn load_scenarios(
    paths: &[PathBuf],
    recording: &[PathBuf],
) -> Result<Vec<(PathBuf, Scenario)>, String> {
    let mut scenarios = Vec::new();
    for f in scenario_files(paths)? {
        let mut s = Scenario::load(&f).map_err(|e| e.to_string())?;
        if !recording.is_empty() {
            s.use_recording(&f.display().to_string(), recording.to_vec())
                .map_err(|e| e.to_string())?;
        }
        scenarios.push((f, s));
    }
    Ok(scenarios)
}

/// Says which recording drives each scenario's market.
fn announce_recordings(scenarios: &[(PathBuf, Scenario)]) {
    for (_, s) in scenarios {
        if let Some(t) = &s.tape {
            eprintln!("{}: market from the recording {}", s.name, t.describe());
        }
    }
}

/// Every scenario over its seeds; the summaries and whether anything failed (the first
/// three failures of each scenario are reported with a shrunk schedule).
fn run_all(a: &RunArgs, scenarios: &[(PathBuf, Scenario)]) -> Result<(Vec<Summary>, bool), String> {
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let mut summaries = Vec::new();
    let mut failed = false;
    for (path, s) in scenarios {
        let n = a.seeds.unwrap_or(s.seeds);
        let end = a
            .seed_start
            .checked_add(n)
            .ok_or_else(|| format!("--seed-start {} + {n} seeds overflows", a.seed_start))?;
        let seeds: Vec<u64> = (a.seed_start..end).collect();
        let started = wall_clock();
        let results = runner::run_seeds(s, &seeds, threads);
        let summary = runner::summarise(
            &path.display().to_string(),
            &results,
            started.elapsed().as_secs_f64(),
        );
        eprintln!(
            "{}: {}/{} passed (seeds {}..{end}) in {:.1} s",
            s.name, summary.passed, summary.seeds, a.seed_start, summary.wall_s
        );
        for r in results.iter().filter(|r| r.failure.is_some()).take(3) {
            failed = true;
            report_failure(path, s, r, &a.recording);
        }
        failed |= summary.failed > 0;
        summaries.push(summary);
    }
    Ok((summaries, failed))
}

/// The `--recording` flags of a replay command.
fn recording_flags(recording: &[PathBuf]) -> String {
    recording
        .iter()
        .map(|p| format!(" --recording {}", p.display()))
        .collect()
}

fn report_failure(path: &Path, s: &Scenario, r: &runner::RunResult, recording: &[PathBuf]) {
    let failure = r.failure.as_ref().expect("a failure");
    eprintln!("FAILED {} seed {}: {failure}", s.name, r.seed);
    if r.faults.len() > 1 {
        let shrunk = runner::shrink(s, r.seed, &r.faults);
        eprintln!(
            "  shrunk fault schedule ({} of {} faults still fail):\n{}",
            shrunk.len(),
            r.faults.len(),
            serde_yaml::to_string(&shrunk).unwrap_or_default()
        );
    }
    eprintln!(
        "  replay: propbot scenario run {} --seed {}{}",
        path.display(),
        r.seed,
        recording_flags(recording)
    );
}

fn replay(scenarios: &[(PathBuf, Scenario)], seed: u64, full: bool, recording: &[PathBuf]) -> i32 {
    let mut code = 0;
    for (path, s) in scenarios {
        let r = runner::run_one(s, seed, true);
        let from = if full {
            0
        } else {
            r.trace.len().saturating_sub(400)
        };
        for line in &r.trace[from..] {
            println!("{line}");
        }
        println!(
            "{} seed {seed}: {} steps, digest {}",
            s.name, r.figures.steps, r.digest
        );
        println!(
            "figures: {}",
            serde_json::to_string(&r.figures).unwrap_or_default()
        );
        match &r.failure {
            Some(f) => {
                println!("FAILED: {f}");
                println!(
                    "faults: {}",
                    serde_json::to_string(&r.faults).unwrap_or_default()
                );
                println!(
                    "replay: propbot scenario run {} --seed {seed}{}",
                    path.display(),
                    recording_flags(recording)
                );
                code = 1;
            }
            None => println!("passed"),
        }
    }
    code
}

/// Wall time for reporting simulation speed (never inside the world).
#[allow(clippy::disallowed_methods)]
fn wall_clock() -> std::time::Instant {
    std::time::Instant::now()
}

/// The summaries of running every scenario under `paths` with `seeds` each.
pub fn run_suite(
    paths: &[PathBuf],
    seeds: Option<u64>,
    threads: usize,
) -> Result<Vec<Summary>, String> {
    let files = scenario_files(paths)?;
    let mut out = Vec::new();
    for f in files {
        let s = Scenario::load(&f).map_err(|e| e.to_string())?;
        let n = seeds.unwrap_or(s.seeds);
        let list: Vec<u64> = (0..n).collect();
        let started = wall_clock();
        let results = runner::run_seeds(&s, &list, threads);
        out.push(runner::summarise(
            &f.display().to_string(),
            &results,
            started.elapsed().as_secs_f64(),
        ));
    }
    Ok(out)
}
