//! `propbot recordings import|synth|inspect|recover …`: the command line of this crate.
//! The `propbot` binary forwards its `recordings` subcommand to [`run`].

use crate::error::Error;
use crate::generate::{self, DeriveOptions, SynthOptions};
use crate::import::{self, Format, ImportOptions};
use crate::progress::Progress;
use crate::reader::Recording;
use crate::writer::{self, Roll, WriterOptions};
use propbot_engine::model::Venue;
use propbot_engine::time::{NANOS_PER_MILLI, NANOS_PER_SECOND};
use propbot_engine::{Config, Profile};
use std::path::PathBuf;

const USAGE: &str = "usage: propbot recordings <command> …
  import CAPTURE --out DIR [--format F] [--instruments FILE] [--snapshots FILE] [--name NAME]
         turn a real capture into a recording (F: hftbacktest, cryptofeed-binance,
         cryptofeed-okx, tickvault; guessed from the file name when omitted)
  synth --seed N --duration D --out DIR [--update-ms LO-HI] [--windows-every-ms M]
         a synthetic two-venue recording (D like 90s, 10m, 2h, 1d)
  synth --seed N --from PATH… --out DIR [--venue okx-swap] [--duration D] [--windows-every-ms M]
         derive the other venue from one real venue's recording
         (M: mean time between arbitrage windows, ms; 0 = none)
  inspect PATH…
         schema, metadata, time span and counts of recording files or directories
  recover DIR
         rebuild crashed `.partial` files up to their last complete row group
common flags: --quiet (no progress bar), --row-group-rows N, --roll-rows N, --roll-minutes M,
              --zstd-level L (1-22, default 9)";

/// Runs `propbot recordings <args>` and returns the process exit code: 0 on success,
/// 1 on a failure (the error is printed with the file and position), 2 on bad usage.
pub fn run(args: &[String]) -> i32 {
    let parsed = match parse(args) {
        Ok(p) => p,
        Err(message) => {
            eprintln!("{message}");
            return 2;
        }
    };
    match execute(parsed) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("propbot recordings: error: {e}");
            1
        }
    }
}

#[derive(Debug, Default)]
struct Args {
    command: String,
    paths: Vec<PathBuf>,
    out: Option<PathBuf>,
    format: Option<Format>,
    instruments: Option<PathBuf>,
    snapshots: Option<PathBuf>,
    name: Option<String>,
    seed: Option<u64>,
    duration_ns: Option<u64>,
    from: Vec<PathBuf>,
    venue: Option<Venue>,
    update_ms: Option<(u64, u64)>,
    windows_every_ms: Option<u64>,
    quiet: bool,
    row_group_rows: Option<usize>,
    roll_rows: Option<u64>,
    roll_minutes: Option<u64>,
    zstd_level: Option<i32>,
}

/// Parses `90s`, `10m`, `2h`, `1d`, `500ms` (or plain seconds) into nanoseconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let unit_ns = match unit {
        "ms" => NANOS_PER_MILLI,
        "" | "s" => NANOS_PER_SECOND,
        "m" | "min" => 60 * NANOS_PER_SECOND,
        "h" => 3_600 * NANOS_PER_SECOND,
        "d" => 86_400 * NANOS_PER_SECOND,
        _ => return None,
    };
    n.checked_mul(unit_ns)
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut it = args.iter();
    let mut a = Args {
        command: match it.next() {
            Some(c) if ["import", "synth", "inspect", "recover"].contains(&c.as_str()) => c.clone(),
            Some(c) if c == "-h" || c == "--help" => return Err(USAGE.into()),
            Some(c) => return Err(format!("unknown recordings command {c:?}\n{USAGE}")),
            None => return Err(USAGE.into()),
        },
        ..Args::default()
    };
    let number = |name: &str, v: String| -> Result<u64, String> {
        v.parse()
            .map_err(|_| format!("{name} needs a whole number, not {v:?}"))
    };
    let mut from_mode = false;
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--out" => a.out = Some(PathBuf::from(value("--out")?)),
            "--format" => {
                let v = value("--format")?;
                a.format = Some(Format::from_name(&v).ok_or_else(|| {
                    format!("unknown format {v:?}: hftbacktest, cryptofeed-binance, cryptofeed-okx or tickvault")
                })?);
            }
            "--instruments" => a.instruments = Some(PathBuf::from(value("--instruments")?)),
            "--snapshots" => a.snapshots = Some(PathBuf::from(value("--snapshots")?)),
            "--name" => a.name = Some(value("--name")?),
            "--seed" => a.seed = Some(number("--seed", value("--seed")?)?),
            "--duration" => {
                let v = value("--duration")?;
                a.duration_ns = Some(
                    parse_duration(&v)
                        .ok_or_else(|| format!("--duration {v:?}: use e.g. 90s, 10m, 2h, 1d"))?,
                );
            }
            "--from" => from_mode = true,
            "--venue" => {
                let v = value("--venue")?;
                a.venue = Some(Venue::from_name(&v).ok_or_else(|| format!("unknown venue {v:?}"))?);
            }
            "--update-ms" => {
                let v = value("--update-ms")?;
                let (lo, hi) = v.split_once('-').unwrap_or((&v, &v));
                a.update_ms = Some((
                    number("--update-ms", lo.into())?,
                    number("--update-ms", hi.into())?,
                ));
            }
            "--windows-every-ms" => {
                a.windows_every_ms =
                    Some(number("--windows-every-ms", value("--windows-every-ms")?)?)
            }
            "--quiet" | "-q" => a.quiet = true,
            "--row-group-rows" => {
                a.row_group_rows =
                    Some(number("--row-group-rows", value("--row-group-rows")?)?.max(1) as usize)
            }
            "--roll-rows" => a.roll_rows = Some(number("--roll-rows", value("--roll-rows")?)?),
            "--zstd-level" => {
                let v = value("--zstd-level")?;
                a.zstd_level = Some(
                    v.parse()
                        .ok()
                        .filter(|l| (1..=22).contains(l))
                        .ok_or_else(|| format!("--zstd-level {v:?}: use 1 to 22"))?,
                );
            }
            "--roll-minutes" => {
                a.roll_minutes = Some(number("--roll-minutes", value("--roll-minutes")?)?)
            }
            "-h" | "--help" => return Err(USAGE.into()),
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}\n{USAGE}")),
            path if from_mode => a.from.push(PathBuf::from(path)),
            path => a.paths.push(PathBuf::from(path)),
        }
    }
    Ok(a)
}

fn writer_options(a: &Args) -> WriterOptions {
    let mut o = WriterOptions::default();
    if let Some(n) = a.row_group_rows {
        o.layout.row_group_rows = n;
        o.layout.batch_rows = o.layout.batch_rows.min(n);
    }
    if let Some(level) = a.zstd_level {
        o.layout.zstd_level = level;
    }
    o.roll = Roll {
        max_rows: a.roll_rows.unwrap_or(o.roll.max_rows),
        max_span_ns: a
            .roll_minutes
            .map_or(o.roll.max_span_ns, |m| m * 60 * NANOS_PER_SECOND),
        max_bytes: o.roll.max_bytes,
    };
    o
}

fn usage_error(what: &str) -> Result<(), Error> {
    Err(Error::Import {
        path: PathBuf::from("command line"),
        what: format!("{what}\n{USAGE}"),
    })
}

fn execute(a: Args) -> Result<(), Error> {
    match a.command.as_str() {
        "import" => run_import(&a),
        "synth" => run_synth(&a),
        "inspect" => {
            if a.paths.is_empty() {
                return usage_error("inspect needs a file or directory");
            }
            print!("{}", crate::inspect::report(&a.paths)?);
            Ok(())
        }
        _ => {
            let [dir] = a.paths.as_slice() else {
                return usage_error("recover needs one directory");
            };
            let leftovers = writer::recover_dir(dir)?;
            if leftovers.is_empty() {
                println!("{}: nothing to recover", dir.display());
            }
            for l in leftovers {
                println!("{l}");
            }
            Ok(())
        }
    }
}

#[allow(clippy::disallowed_methods)]
fn wall() -> std::time::Instant {
    std::time::Instant::now()
}

fn run_import(a: &Args) -> Result<(), Error> {
    let ([capture], Some(out)) = (a.paths.as_slice(), &a.out) else {
        return usage_error("import needs one CAPTURE and --out DIR");
    };
    let options = ImportOptions {
        format: a.format,
        instruments: a.instruments.clone(),
        snapshots: a.snapshots.clone(),
        stream: a.name.clone(),
        writer: writer_options(a),
        config: Config::embedded(Profile::Paper),
    };
    let size = std::fs::metadata(capture).map(|m| m.len()).unwrap_or(0);
    let progress = Progress::new(size, "bytes", a.quiet);
    let started = wall();
    let s = import::import(capture, out, &options, &progress)?;
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    for l in &s.leftovers {
        println!("{l}");
    }
    println!("imported {} ({})", capture.display(), s.format);
    println!(
        "  frames read {}, events written {} ({} rows), snapshots {}, gaps found {}, resyncs {}",
        s.frames, s.messages, s.rows, s.snapshots, s.gaps, s.resyncs
    );
    if !s.skipped.is_empty() {
        let skipped: Vec<String> = s.skipped.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "  frames without market data or not imported: {}",
            skipped.join(", ")
        );
    }
    if s.clamped > 0 {
        println!("  receive times held back to stay in order: {}", s.clamped);
    }
    println!(
        "  {} file(s), {} bytes ({:.2} bytes/row, {:.3} × the {}-byte capture)",
        s.files.len(),
        s.bytes,
        s.bytes as f64 / s.rows.max(1) as f64,
        s.bytes as f64 / s.capture_bytes.max(1) as f64,
        s.capture_bytes
    );
    for f in &s.files {
        println!("  {}", f.display());
    }
    println!(
        "  {:.3} s, {:.0} frames/s",
        seconds,
        s.frames as f64 / seconds.max(1e-9)
    );
    Ok(())
}

fn run_synth(a: &Args) -> Result<(), Error> {
    let (Some(seed), Some(out)) = (a.seed, &a.out) else {
        return usage_error("synth needs --seed N and --out DIR");
    };
    let config = Config::embedded(Profile::Paper);
    let writer = writer_options(a);
    let started = wall();
    let summary = if a.from.is_empty() {
        let Some(duration_ns) = a.duration_ns else {
            return usage_error("synth needs --duration D (or --from PATH… to derive)");
        };
        let mut options = SynthOptions {
            seed,
            duration_ns,
            ..SynthOptions::default()
        };
        if let Some(u) = a.update_ms {
            options.params.update_ms = u;
        }
        if let Some(m) = a.windows_every_ms {
            options.params.arbitrage_every_ms = m;
        }
        let progress = Progress::new(duration_ns / NANOS_PER_MILLI, "ms simulated", a.quiet);
        generate::synthesize(&config, &options, out, &writer, &progress)?
    } else {
        let source = Recording::open(&a.from)?;
        let options = DeriveOptions {
            seed,
            venue: a.venue.unwrap_or(Venue::Okx),
            params: generate::DeriveParams {
                arbitrage_every_ms: a
                    .windows_every_ms
                    .unwrap_or(generate::DeriveParams::default().arbitrage_every_ms),
                ..generate::DeriveParams::default()
            },
            duration_ns: a.duration_ns.unwrap_or(0),
        };
        let progress = Progress::new(1_000, "‰ of the source", a.quiet);
        generate::derive(&config, &source, &options, out, &writer, &progress)?
    };
    let seconds = started.elapsed().as_secs_f64();
    for l in &summary.leftovers {
        println!("{l}");
    }
    for (name, s) in &summary.streams {
        println!(
            "{name}: {} messages, {} rows, {} bytes in {} file(s)",
            s.messages,
            s.rows,
            s.bytes,
            s.files.len()
        );
        for f in &s.files {
            println!("  {}", f.display());
        }
    }
    println!(
        "{} rows in {:.3} s ({:.2} bytes/row); arbitrage windows and jumps: {}",
        summary.rows(),
        seconds,
        summary.bytes() as f64 / summary.rows().max(1) as f64,
        summary.windows
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s"), Some(90 * NANOS_PER_SECOND));
        assert_eq!(parse_duration("10m"), Some(600 * NANOS_PER_SECOND));
        assert_eq!(parse_duration("2h"), Some(7_200 * NANOS_PER_SECOND));
        assert_eq!(parse_duration("1d"), Some(86_400 * NANOS_PER_SECOND));
        assert_eq!(parse_duration("500ms"), Some(500 * NANOS_PER_MILLI));
        assert_eq!(parse_duration("5"), Some(5 * NANOS_PER_SECOND));
        for bad in ["", "s", "1x", "-1s", "1.5h"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn bad_usage_is_exit_code_2() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(run(&args(&[])), 2);
        assert_eq!(run(&args(&["frobnicate"])), 2);
        assert_eq!(run(&args(&["synth", "--seed", "x"])), 2);
        assert_eq!(run(&args(&["import", "--format", "csv"])), 2);
    }
}
