//! `propbot record`: a venue's live public market data into a Parquet recording, with
//! the crash-safe rolling writer (every rolled file starts with the books it needs),
//! progress on the terminal, and a clean stop on SIGINT/SIGTERM (or after
//! `--duration`): the open file is committed and the summary printed.

use crate::live::{LiveFeeds, Recorder, endpoints_at, live_writer_options};
use anyhow::Context;
use propbot_engine::config::{Config, Profile};
use propbot_engine::model::{InstrumentId, Venue};
use propbot_recordings::cli::WriterArgs;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `propbot record --venue binance-um|okx-swap --instruments … --out DIR`.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// Venue: binance-um or okx-swap.
    #[arg(long, value_parser = parse_venue)]
    pub venue: Venue,
    /// Instruments, by name (`BTC-USDT-PERP`) or venue symbol, comma-separated
    /// (default: every instrument the config lists on the venue).
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    pub instruments: Vec<String>,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// One URL for REST and WebSocket (an emulator or a proxy), instead of the
    /// config's `venues.<venue>.endpoints`.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Config file (default: the profile's embedded config).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Profile whose endpoints are used: paper (production public data), testnet or
    /// live.
    #[arg(long, default_value = "paper", value_parser = parse_profile)]
    pub profile: Profile,
    /// Stop after this long (`90s`, `10m`, `2h`); default: until SIGINT.
    #[arg(long, value_name = "D", value_parser = duration_arg)]
    pub duration: Option<u64>,
    /// Seed of the reconnection jitter.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output flags shared with the other recording commands.
    #[command(flatten)]
    pub writer: WriterArgs,
}

fn duration_arg(s: &str) -> Result<u64, String> {
    propbot_market::cli::parse_duration(s)
        .filter(|&ns| ns > 0)
        .ok_or_else(|| format!("{s:?} is not a duration like 90s, 10m or 2h"))
}

fn parse_venue(s: &str) -> Result<Venue, String> {
    Venue::from_name(s).ok_or_else(|| format!("{s:?} is not binance-um or okx-swap"))
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    Profile::from_name(s).ok_or_else(|| format!("{s:?} is not paper, testnet or live"))
}

/// The config `--config` names, else the profile's embedded one.
fn load_config(args: &RecordArgs) -> anyhow::Result<Config> {
    let Some(path) = &args.config else {
        return Ok(Config::embedded(args.profile));
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let status = propbot_engine::config::StatusThresholds::from_yaml(
        propbot_engine::config::STATUS_THRESHOLDS_YAML,
    )
    .map_err(|e| anyhow::anyhow!("status thresholds: {e}"))?;
    Config::from_yaml(&text, status).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The instruments asked for, by name or symbol, each listed on `venue`.
fn instruments(
    config: &Config,
    venue: Venue,
    names: &[String],
) -> anyhow::Result<Vec<InstrumentId>> {
    let listed: Vec<InstrumentId> = (0..config.instruments.len())
        .map(|i| InstrumentId(i as u16))
        .filter(|&id| config.listing(venue, id).is_some())
        .collect();
    if names.is_empty() {
        return Ok(listed);
    }
    names
        .iter()
        .map(|name| {
            listed
                .iter()
                .copied()
                .find(|&id| {
                    config.instruments[id.index()].name == *name
                        || config.listing(venue, id).is_some_and(|l| l.symbol == *name)
                })
                .ok_or_else(|| {
                    anyhow::anyhow!("{name:?} is not an instrument the config lists on {venue}")
                })
        })
        .collect()
}

/// Runs `propbot record` until SIGINT/SIGTERM or `--duration`.
pub async fn run(args: RecordArgs) -> anyhow::Result<()> {
    let config = load_config(&args)?;
    let venue = args.venue;
    let ids = instruments(&config, venue, &args.instruments)?;
    anyhow::ensure!(!ids.is_empty(), "the config lists no instrument on {venue}");
    let endpoints = match &args.endpoint {
        Some(url) => endpoints_at(venue, url),
        None => config.endpoints[venue.index()].clone(),
    };
    let source = format!("live {venue} {}", endpoints.ws_public);
    let mut feeds = LiveFeeds::start(&config, &[(venue, endpoints)], &ids, args.seed).await?;
    let recorder = Recorder::start(
        &args.out,
        &config,
        &[venue],
        &ids,
        &source,
        live_writer_options(args.writer.options(), args.writer.row_group_rows),
    )?;
    eprintln!(
        "recording {venue} into {} (Ctrl-C stops)",
        args.out.display()
    );
    let started = Instant::now();
    let deadline = args.duration.map(|ns| started + Duration::from_nanos(ns));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut stop = Box::pin(crate::service::shutdown_signal());
    let reason = loop {
        tokio::select! {
            signal = &mut stop => break signal,
            _ = tick.tick() => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break "duration";
                }
                progress(&feeds, &recorder, started);
            }
            stamped = feeds.events.recv() => match stamped {
                Some(s) => if !recorder.send(s).await { break "writer stopped" },
                None => break "feed stopped",
            },
        }
    };
    feeds.shutdown().await;
    let summaries = recorder.finish().await.context("recording")?;
    let (files, rows, messages): (usize, u64, u64) =
        summaries.iter().fold((0, 0, 0), |(f, r, m), s| {
            (f + s.files.len(), r + s.rows, m + s.messages)
        });
    eprintln!();
    println!(
        "stopped ({reason}) after {:.0} s: {messages} messages, {rows} rows in {files} file(s) in {}",
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}

/// One progress line: on a terminal redrawn every second, elsewhere every ten.
fn progress(feeds: &LiveFeeds, recorder: &Recorder, started: Instant) {
    let secs = started.elapsed().as_secs();
    let tty = std::io::stderr().is_terminal();
    if !tty && !secs.is_multiple_of(10) {
        return;
    }
    let counts = recorder.counts();
    let messages: u64 = counts.iter().map(|c| c.messages).sum();
    let invalid: u64 = counts.iter().map(|c| c.invalidations).sum();
    let links: Vec<String> = feeds
        .rows(crate::clock::wall_clock())
        .iter()
        .map(|r| format!("{} {} {:.0}/s", r.connection, r.state, r.rate_per_s))
        .collect();
    let line = format!(
        "[{secs:>5} s] {messages} messages written, {invalid} resyncs · {}",
        links.join(" · ")
    );
    if tty {
        eprint!("\r{line}\x1b[K");
    } else {
        eprintln!("{line}");
    }
}
