//! `propbot recordings synth …`: recordings made by the market model, fully synthetic
//! or one venue derived from a real recording ([`crate::generate`]). The `propbot`
//! binary joins [`SynthArgs`] with `propbot_recordings::cli::Command` (import, inspect,
//! recover) under `propbot recordings` and hands it to [`run`].

use crate::generate::{self, DeriveOptions, DeriveParams, GenerateSummary, SynthOptions};
use propbot_engine::model::Venue;
use propbot_engine::time::{NANOS_PER_MILLI, NANOS_PER_SECOND};
use propbot_engine::{Config, Profile};
use propbot_recordings::cli::{WriterArgs, exit_code, wall_clock};
use propbot_recordings::progress::Progress;
use propbot_recordings::{Error, Recording};
use std::path::PathBuf;

/// `propbot recordings synth --seed N (--duration D | --from PATH…) --out DIR …`.
#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Master seed.
    #[arg(long, value_name = "N")]
    pub seed: u64,
    /// Recorded time, like 90s, 10m, 2h, 1d (with --from: at most this much of the
    /// source, default all of it).
    #[arg(
        long,
        value_name = "D",
        value_parser = duration_arg,
        required_unless_present = "from"
    )]
    pub duration: Option<u64>,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Derive the other venue from this real venue's recording (files or directories).
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub from: Vec<PathBuf>,
    /// With --from: the venue to derive.
    #[arg(long, value_parser = venue_arg, default_value = "okx-swap")]
    pub venue: Venue,
    /// Synthetic market: time between a venue's book updates, ms (LO-HI, or one value).
    #[arg(long, value_name = "LO-HI", value_parser = range_arg)]
    pub update_ms: Option<(u64, u64)>,
    /// Mean time between arbitrage windows, ms; 0 = none.
    #[arg(long, value_name = "M")]
    pub windows_every_ms: Option<u64>,
    /// Output flags.
    #[command(flatten)]
    pub writer: WriterArgs,
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

fn duration_arg(text: &str) -> Result<u64, String> {
    parse_duration(text).ok_or_else(|| format!("{text:?}: use e.g. 90s, 10m, 2h, 1d"))
}

fn venue_arg(text: &str) -> Result<Venue, String> {
    Venue::from_name(text).ok_or_else(|| format!("unknown venue {text:?}"))
}

fn range_arg(text: &str) -> Result<(u64, u64), String> {
    let (lo, hi) = text.split_once('-').unwrap_or((text, text));
    let number = |v: &str| {
        v.parse::<u64>()
            .map_err(|_| format!("{text:?}: use LO-HI in whole milliseconds, e.g. 50-150"))
    };
    Ok((number(lo)?, number(hi)?))
}

/// Runs `propbot recordings synth` and returns the process exit code: 0 on success, 1
/// on a failure (the error names the file). Bad usage never gets here: clap refuses it
/// with exit code 2.
pub fn run(args: SynthArgs) -> i32 {
    exit_code(synth(&args))
}

fn synth(a: &SynthArgs) -> Result<(), Error> {
    let config = Config::embedded(Profile::Paper);
    let started = wall_clock();
    let summary = if a.from.is_empty() {
        synthesize(a, &config)?
    } else {
        derive(a, &config)?
    };
    print_summary(&summary, started.elapsed().as_secs_f64());
    Ok(())
}

/// A fully synthetic two-venue recording.
fn synthesize(a: &SynthArgs, config: &Config) -> Result<GenerateSummary, Error> {
    let duration_ns = a.duration.expect("clap requires --duration without --from");
    let mut options = SynthOptions {
        seed: a.seed,
        duration_ns,
        ..SynthOptions::default()
    };
    if let Some(u) = a.update_ms {
        options.params.update_ms = u;
    }
    if let Some(m) = a.windows_every_ms {
        options.params.arbitrage_every_ms = m;
    }
    let progress = Progress::new(
        duration_ns / NANOS_PER_MILLI,
        "ms simulated",
        a.writer.quiet,
    );
    generate::synthesize(config, &options, &a.out, &a.writer.options(), &progress)
}

/// The other venue derived from a real venue's recording.
fn derive(a: &SynthArgs, config: &Config) -> Result<GenerateSummary, Error> {
    let source = Recording::open(&a.from)?;
    let defaults = DeriveParams::default();
    let options = DeriveOptions {
        seed: a.seed,
        venue: a.venue,
        params: DeriveParams {
            arbitrage_every_ms: a.windows_every_ms.unwrap_or(defaults.arbitrage_every_ms),
            ..defaults
        },
        duration_ns: a.duration.unwrap_or(0),
    };
    let progress = Progress::new(1_000, "‰ of the source", a.writer.quiet);
    generate::derive(
        config,
        &source,
        &options,
        &a.out,
        &a.writer.options(),
        &progress,
    )
}

fn print_summary(summary: &GenerateSummary, seconds: f64) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: SynthArgs,
    }

    fn parse(args: &[&str]) -> Result<SynthArgs, clap::Error> {
        let argv = std::iter::once("synth").chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|c| c.args)
    }

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
    fn synthetic_and_derived_forms_parse_with_their_defaults() {
        let a = parse(&["--seed", "7", "--duration", "90s", "--out", "d"]).unwrap();
        assert_eq!((a.seed, a.duration), (7, Some(90 * NANOS_PER_SECOND)));
        assert!(a.from.is_empty());
        assert_eq!(a.venue, Venue::Okx);
        let a = parse(&[
            "--seed",
            "7",
            "--from",
            "a",
            "b",
            "--out",
            "d",
            "--update-ms",
            "5-9",
        ])
        .unwrap();
        assert_eq!(a.from, [PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!((a.duration, a.update_ms), (None, Some((5, 9))));
        assert_eq!(
            parse(&[
                "--seed",
                "1",
                "--duration",
                "1h",
                "--out",
                "d",
                "--update-ms",
                "20"
            ])
            .unwrap()
            .update_ms,
            Some((20, 20))
        );
    }

    #[test]
    fn bad_usage_is_a_clap_error_that_says_what_is_wrong() {
        for (args, says) in [
            (
                &["--seed", "x", "--duration", "1h", "--out", "d"][..],
                "--seed",
            ),
            (&["--seed", "1", "--out", "d"], "--duration"),
            (&["--duration", "1h", "--out", "d"], "--seed"),
            (&["--seed", "1", "--duration", "1h"], "--out"),
            (&["--seed", "1", "--duration", "1x", "--out", "d"], "90s"),
            (
                &["--seed", "1", "--from", "a", "--out", "d", "--venue", "x"],
                "unknown venue",
            ),
            (
                &[
                    "--seed",
                    "1",
                    "--duration",
                    "1h",
                    "--out",
                    "d",
                    "--frobnicate",
                ],
                "--frobnicate",
            ),
        ] {
            let e = parse(args).expect_err("refused");
            assert_eq!(e.exit_code(), 2, "{args:?}");
            assert!(e.to_string().contains(says), "{args:?}: {e}");
        }
    }
}
