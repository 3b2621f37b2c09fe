//! `propbot scenario run [PATH…] [--seeds N] [--seed-start S] [--seed S] [--json FILE]
//! [--threads T]`:
//! the acceptance-suite runner's command line. The `propbot` binary forwards its
//! `scenario` subcommand here.
//!
//! Without paths it runs every `scenarios/*.yaml`. Each scenario runs over its own
//! seed count (or `--seeds N`, seeds 0..N) in parallel on all cores, and the runner
//! prints a table and exits non-zero on any failure. A failure prints the seed, the
//! invariant or expectation, a shrunk fault schedule, and the one command that replays
//! it; `--seed S` replays exactly one seed with a step trace.

use crate::runner::{self, Summary};
use crate::scenario::Scenario;
use std::path::{Path, PathBuf};

const USAGE: &str =
    "usage: propbot scenario run [PATH…] [--seeds N] [--seed-start S] [--seed S] [--json FILE]
                             [--threads T] [--recording DIR…]
  PATH        scenario files or directories (default: scenarios/)
  --recording DIR  drive the market of every scenario from this recording (files or
              directories; repeat for more, e.g. a real venue and a derived one)
  --seeds N   run N seeds of every scenario (default: each scenario's `seeds`)
  --seed-start S  the first seed of the run (default 0): seeds S..S+N explore new
              ground instead of re-running 0..N
  --seed S    replay one seed with a step trace
  --json FILE write every summary and failure as JSON
  --threads T worker threads (default: all cores)
  --full-trace  with --seed, print every step (default: the last 400)";

struct Args {
    paths: Vec<PathBuf>,
    seeds: Option<u64>,
    seed_start: u64,
    seed: Option<u64>,
    json: Option<PathBuf>,
    threads: usize,
    full_trace: bool,
    recording: Vec<PathBuf>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("run") => {}
        Some(other) => return Err(format!("unknown scenario command {other:?}\n{USAGE}")),
        None => return Err(USAGE.to_owned()),
    }
    let mut a = Args {
        paths: Vec::new(),
        seeds: None,
        seed_start: 0,
        seed: None,
        json: None,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        full_trace: false,
        recording: Vec::new(),
    };
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--seeds" => {
                a.seeds = Some(
                    value("--seeds")?
                        .parse()
                        .map_err(|_| "--seeds needs a number".to_owned())?,
                )
            }
            "--seed-start" => {
                a.seed_start = value("--seed-start")?
                    .parse()
                    .map_err(|_| "--seed-start needs a number".to_owned())?
            }
            "--seed" => {
                a.seed = Some(
                    value("--seed")?
                        .parse()
                        .map_err(|_| "--seed needs a number".to_owned())?,
                )
            }
            "--json" => a.json = Some(PathBuf::from(value("--json")?)),
            "--threads" => {
                a.threads = value("--threads")?
                    .parse()
                    .map_err(|_| "--threads needs a number".to_owned())?
            }
            "--full-trace" => a.full_trace = true,
            "--recording" => a.recording.push(PathBuf::from(value("--recording")?)),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}\n{USAGE}")),
            path => a.paths.push(PathBuf::from(path)),
        }
    }
    if a.paths.is_empty() {
        a.paths.push(PathBuf::from("scenarios"));
    }
    Ok(a)
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

/// Runs `propbot scenario <args>` and returns the process exit code.
pub fn run(args: &[String]) -> i32 {
    let a = match parse(args) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return 2;
        }
    };
    let files = match scenario_files(&a.paths) {
        Ok(f) => f,
        Err(msg) => {
            eprintln!("propbot scenario: {msg}");
            return 2;
        }
    };
    let mut scenarios = Vec::new();
    for f in &files {
        let loaded = Scenario::load(f).and_then(|mut s| {
            if !a.recording.is_empty() {
                s.use_recording(&f.display().to_string(), a.recording.clone())?;
            }
            Ok(s)
        });
        match loaded {
            Ok(s) => scenarios.push((f.clone(), s)),
            Err(e) => {
                eprintln!("propbot scenario: {e}");
                return 2;
            }
        }
    }
    if let Some(seed) = a.seed {
        return replay(&scenarios, seed, a.full_trace, &a.recording);
    }
    for (_, s) in &scenarios {
        if let Some(t) = &s.tape {
            eprintln!(
                "{}: market from the recording {} ({} events, {:.1} s with both venues)",
                s.name,
                t.paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                t.events(),
                t.span_ns() as f64 / 1e9
            );
        }
    }
    let mut summaries = Vec::new();
    let mut failed = false;
    for (path, s) in &scenarios {
        let n = a.seeds.unwrap_or(s.seeds);
        let Some(end) = a.seed_start.checked_add(n) else {
            eprintln!(
                "propbot scenario: --seed-start {} + {n} seeds overflows",
                a.seed_start
            );
            return 2;
        };
        let seeds: Vec<u64> = (a.seed_start..end).collect();
        let started = wall_clock();
        let results = runner::run_seeds(s, &seeds, a.threads);
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
    println!("{}", runner::table(&summaries));
    if let Some(json) = &a.json {
        let text = serde_json::to_string_pretty(&summaries).expect("summaries serialise");
        if let Err(e) = std::fs::write(json, text) {
            eprintln!("propbot scenario: cannot write {}: {e}", json.display());
            return 2;
        }
    }
    if failed { 1 } else { 0 }
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
