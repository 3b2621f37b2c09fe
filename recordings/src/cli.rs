//! `propbot recordings import|inspect|recover …`: the command line of this crate, as
//! clap argument structs. The `propbot` binary joins [`Command`] with
//! `propbot recordings synth` (`propbot_market::cli`, the generated recordings) and
//! hands each parsed command to [`run`]; [`WriterArgs`] are the output flags every
//! command that writes recordings shares.

use crate::error::Error;
use crate::import::{self, Format, ImportOptions};
use crate::progress::Progress;
use crate::writer::{self, Roll, WriterOptions};
use propbot_engine::time::NANOS_PER_SECOND;
use propbot_engine::{Config, Profile};
use std::path::PathBuf;

/// `propbot recordings import|inspect|recover`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Turn a real capture into a recording.
    Import(ImportArgs),
    /// Schema, metadata, time span and counts of recording files or directories.
    Inspect(InspectArgs),
    /// Rebuild crashed `.partial` files up to their last complete row group.
    Recover(RecoverArgs),
}

/// `propbot recordings import CAPTURE --out DIR …`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The capture file.
    #[arg(value_name = "CAPTURE")]
    pub capture: PathBuf,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Capture format: hftbacktest, cryptofeed-binance, cryptofeed-okx or tickvault
    /// (guessed from the file name when omitted).
    #[arg(long, value_name = "F", value_parser = format_arg)]
    pub format: Option<Format>,
    /// Instrument data: Binance `exchangeInfo` or OKX instruments, as a cryptofeed REST
    /// file (default: the capture's companion file where the format has one).
    #[arg(long, value_name = "FILE")]
    pub instruments: Option<PathBuf>,
    /// cryptofeed Binance REST depth snapshots (default: the companion `.http.*` file).
    #[arg(long, value_name = "FILE")]
    pub snapshots: Option<PathBuf>,
    /// Stream name, the files' prefix (default: from the capture's file name).
    #[arg(long)]
    pub name: Option<String>,
    /// Output flags.
    #[command(flatten)]
    pub writer: WriterArgs,
}

/// `propbot recordings inspect PATH…`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Recording files or directories.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// `propbot recordings recover DIR`.
#[derive(Debug, clap::Args)]
pub struct RecoverArgs {
    /// The directory holding the crashed recording.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Output flags of every command that writes recordings.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct WriterArgs {
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Rows per row group (default 1,048,576).
    #[arg(long, value_name = "N")]
    pub row_group_rows: Option<usize>,
    /// Start a new file after this many rows.
    #[arg(long, value_name = "N")]
    pub roll_rows: Option<u64>,
    /// Start a new file after this many minutes of receive time (default 60).
    #[arg(long, value_name = "M")]
    pub roll_minutes: Option<u64>,
    /// Zstandard level, 1 to 22 (default 9).
    #[arg(long, value_name = "L", value_parser = clap::value_parser!(i32).range(1..=22))]
    pub zstd_level: Option<i32>,
}

impl WriterArgs {
    /// The writer settings these flags ask for (defaults for what they leave out).
    pub fn options(&self) -> WriterOptions {
        let mut o = WriterOptions::default();
        if let Some(n) = self.row_group_rows {
            let n = n.max(1);
            o.layout.row_group_rows = n;
            o.layout.batch_rows = o.layout.batch_rows.min(n);
        }
        if let Some(level) = self.zstd_level {
            o.layout.zstd_level = level;
        }
        o.roll = Roll {
            max_rows: self.roll_rows.unwrap_or(o.roll.max_rows),
            max_span_ns: self
                .roll_minutes
                .map_or(o.roll.max_span_ns, |m| m * 60 * NANOS_PER_SECOND),
            max_bytes: o.roll.max_bytes,
        };
        o
    }
}

fn format_arg(text: &str) -> Result<Format, String> {
    Format::from_name(text).ok_or_else(|| {
        format!(
            "unknown format {text:?}: hftbacktest, cryptofeed-binance, cryptofeed-okx or tickvault"
        )
    })
}

/// Runs a parsed `propbot recordings` command and returns the process exit code: 0 on
/// success, 1 on a failure (the error is printed with the file and position). Bad
/// usage never gets here: clap refuses it with exit code 2.
pub fn run(command: Command) -> i32 {
    let result = match command {
        Command::Import(a) => run_import(&a),
        Command::Inspect(a) => crate::inspect::report(&a.paths).map(|report| print!("{report}")),
        Command::Recover(a) => run_recover(&a),
    };
    exit_code(result)
}

/// 0 for success; otherwise prints the error as `propbot recordings` reports it, and 1.
pub fn exit_code(result: Result<(), Error>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("propbot recordings: error: {e}");
            1
        }
    }
}

/// Wall time, for reporting throughput only.
#[allow(clippy::disallowed_methods)]
pub fn wall_clock() -> std::time::Instant {
    std::time::Instant::now()
}

fn run_recover(a: &RecoverArgs) -> Result<(), Error> {
    let leftovers = writer::recover_dir(&a.dir)?;
    if leftovers.is_empty() {
        println!("{}: nothing to recover", a.dir.display());
    }
    for l in leftovers {
        println!("{l}");
    }
    Ok(())
}

fn run_import(a: &ImportArgs) -> Result<(), Error> {
    let options = ImportOptions {
        format: a.format,
        instruments: a.instruments.clone(),
        snapshots: a.snapshots.clone(),
        stream: a.name.clone(),
        writer: a.writer.options(),
        config: Config::embedded(Profile::Paper),
    };
    let size = std::fs::metadata(&a.capture).map(|m| m.len()).unwrap_or(0);
    let progress = Progress::new(size, "bytes", a.writer.quiet);
    let started = wall_clock();
    let s = import::import(&a.capture, &a.out, &options, &progress)?;
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    for l in &s.leftovers {
        println!("{l}");
    }
    println!("imported {} ({})", a.capture.display(), s.format);
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// `propbot recordings` as the binary parses it, without `synth`.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        let argv = std::iter::once("recordings").chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|c| c.command)
    }

    #[test]
    fn writer_flags_become_writer_options() {
        let Ok(Command::Import(a)) = parse(&[
            "import",
            "c.gz",
            "--out",
            "d",
            "-q",
            "--row-group-rows",
            "0",
            "--roll-minutes",
            "2",
            "--zstd-level",
            "3",
        ]) else {
            panic!("import parses");
        };
        assert!(a.writer.quiet);
        let o = a.writer.options();
        assert_eq!(o.layout.row_group_rows, 1, "0 rows per group means 1");
        assert_eq!(o.layout.zstd_level, 3);
        assert_eq!(o.roll.max_span_ns, 120 * NANOS_PER_SECOND);
        assert_eq!(o.roll.max_rows, WriterOptions::default().roll.max_rows);
    }

    #[test]
    fn bad_usage_is_a_clap_error() {
        for args in [
            &[][..],
            &["frobnicate"],
            &["import", "--format", "csv"],
            &["import", "c.gz", "--out", "d", "--format", "csv"],
            &["import", "c.gz", "--out", "d", "--zstd-level", "23"],
            &["import", "c.gz"],
            &["inspect"],
            &["recover"],
        ] {
            let e = parse(args).expect_err("refused");
            assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
        }
        let e = parse(&["import", "c.gz", "--out", "d", "--format", "csv"]).unwrap_err();
        assert!(e.to_string().contains("unknown format \"csv\""), "{e}");
    }
}
