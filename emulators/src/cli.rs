//! `propbot emulate binance|okx …`: one venue emulator on a socket, over the synthetic
//! market or a recording, with faults scheduled from the command line. The `propbot`
//! binary parses [`EmulateArgs`] and hands them to [`run`]; tests use [`start`] and
//! [`Running`] in-process.
//!
//! Faults are `KIND[@AT][:VALUE]`, `AT` a time after start (`30s`, `1500ms`, `2m`) of the
//! emulated market (wall time at speed 1):
//!
//! | spec | what happens | venues |
//! |---|---|---|
//! | `drop@AT` | every WebSocket dropped without a close frame | both |
//! | `stall@AT:D` | sockets open but silent for `D` (a gap after) | both |
//! | `skip-diff@AT` | the next diff / `books` update of every instrument withheld | both |
//! | `corrupt-checksum@AT` | the next `books` update of every instrument with a wrong checksum | okx |
//! | `seq-reset@AT` | the `books` sequence restarts low (`seqId < prevSeqId`) | okx |
//! | `http429@AT:D` | every REST request answered 429 for `D` | both |
//! | `http418@AT:D` | every REST request answered 418 (IP ban) for `D` | binance |
//! | `maintenance@AT:D` | symbols `SETTLING` (Binance) / the 64008 notice and instruments `suspend` (OKX) for `D` | both |
//! | `slow-snapshot[@AT]:D` | every depth snapshot answered `D` late (wall time) | binance |
//! | `time-offset[@AT]:D` | the venue clock `D` ahead (`-D` behind), `D` in ms or s | both |
//!
//! A bad spec is refused by the parser with what was wrong; a fault the venue does not
//! have is refused before anything is served.

use crate::binance::BinanceHandle;
use crate::clock::Speed;
use crate::config::{EmulatorConfig, ServeError, Source};
use crate::hub::Emulator;
use crate::okx::OkxHandle;
use propbot_engine::config::{STATUS_THRESHOLDS_YAML, StatusThresholds};
use propbot_engine::model::Venue;
use propbot_engine::time::UnixNanos;
use propbot_engine::{Config, Profile};
use propbot_market::cli::parse_duration;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `propbot emulate binance|okx [--listen ADDR] [--source sim|recording] …`.
#[derive(Debug, clap::Args)]
pub struct EmulateArgs {
    /// The venue to emulate: binance (USDⓈ-M futures) or okx (v5 SWAP).
    #[arg(value_enum, value_name = "VENUE")]
    pub venue: VenueArg,
    /// Address to listen on; port 0 picks a free one (the bound address is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// What drives the market: the seeded synthetic market, or a recording.
    #[arg(long, value_enum, value_name = "SOURCE", default_value = "sim")]
    pub source: SourceArg,
    /// Recording files or directories (required with --source recording).
    #[arg(
        long,
        value_name = "PATH",
        num_args = 1..,
        required_if_eq("source", "recording")
    )]
    pub recording: Vec<PathBuf>,
    /// Seed of the synthetic market.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Emulated seconds per wall second, 0.01 to 1000.
    #[arg(long, value_name = "X", default_value = "1", value_parser = speed_arg)]
    pub speed: Speed,
    /// Engine config file for the instruments (default: the embedded paper config).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A fault, KIND[@AT][:VALUE] (repeatable): drop@30s, stall@10s:5s, skip-diff@5s,
    /// corrupt-checksum@5s, seq-reset@20s, http429@20s:10s, http418@20s:1m,
    /// maintenance@1m:30s, slow-snapshot:2s, time-offset:250ms (AT is emulated time
    /// after start).
    #[arg(long = "fault", value_name = "SPEC", value_parser = fault_arg)]
    pub faults: Vec<FaultSpec>,
}

/// The venue of `propbot emulate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum VenueArg {
    /// Binance USDⓈ-M futures.
    Binance,
    /// OKX v5 SWAP.
    Okx,
}

impl VenueArg {
    /// The engine's venue.
    pub fn venue(self) -> Venue {
        match self {
            VenueArg::Binance => Venue::Binance,
            VenueArg::Okx => Venue::Okx,
        }
    }
}

/// The market source of `propbot emulate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceArg {
    /// The seeded synthetic market (endless).
    Sim,
    /// A Parquet recording, played once (--recording).
    Recording,
}

fn speed_arg(text: &str) -> Result<Speed, String> {
    text.parse::<f64>()
        .ok()
        .and_then(Speed::new)
        .ok_or_else(|| format!("{text:?}: a speed from 0.01 to 1000 (1 is real time)"))
}

fn fault_arg(text: &str) -> Result<FaultSpec, String> {
    text.parse().map_err(|e: FaultSpecError| e.to_string())
}

/// One fault of the command line: what, and when after start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSpec {
    /// The text it was parsed from.
    pub text: String,
    /// Emulated time after start when it fires.
    pub at: Duration,
    /// What it does.
    pub kind: FaultKind,
}

/// What a fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Drop every WebSocket connection.
    Drop,
    /// Silence every connection for the duration.
    Stall(Duration),
    /// Withhold the next diff (`books` update) of every instrument.
    SkipDiff,
    /// Send the next `books` update of every instrument with a wrong checksum (OKX).
    CorruptChecksum,
    /// Restart the `books` sequence low (OKX).
    SeqReset,
    /// Answer every REST request 429 for the duration.
    Http429(Duration),
    /// Ban: answer every REST request 418 for the duration (Binance).
    Http418(Duration),
    /// Maintenance for the duration.
    Maintenance(Duration),
    /// Answer depth snapshots this late, wall time (Binance).
    SlowSnapshot(Duration),
    /// Move the venue clock by this many milliseconds.
    TimeOffset(i64),
}

/// The fault kinds, as spelled on the command line.
pub const FAULT_KINDS: &str = "drop, stall, skip-diff, corrupt-checksum, seq-reset, http429, \
                               http418, maintenance, slow-snapshot, time-offset";

/// Why a fault spec was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FaultSpecError {
    /// The kind is not one of [`FAULT_KINDS`].
    #[error("{spec:?}: unknown fault {kind:?}; one of {FAULT_KINDS}")]
    UnknownKind {
        /// The spec.
        spec: String,
        /// The kind given.
        kind: String,
    },
    /// `@AT` is missing where the kind needs it.
    #[error("{spec:?}: say when, e.g. {example}")]
    NoTime {
        /// The spec.
        spec: String,
        /// A correct spec of that kind.
        example: &'static str,
    },
    /// `:VALUE` is missing where the kind needs it, or given where it takes none.
    #[error("{spec:?}: {what}, e.g. {example}")]
    Value {
        /// The spec.
        spec: String,
        /// What is wrong.
        what: &'static str,
        /// A correct spec of that kind.
        example: &'static str,
    },
    /// A time or duration that does not parse.
    #[error("{spec:?}: {text:?} is not a duration; use e.g. 500ms, 30s, 2m, 1h")]
    Duration {
        /// The spec.
        spec: String,
        /// The text that is not a duration.
        text: String,
    },
}

/// How a kind is written.
#[derive(Clone, Copy)]
enum Shape {
    /// `KIND@AT`.
    Instant,
    /// `KIND@AT:DURATION`.
    Window,
    /// `KIND[@AT]:VALUE`.
    Setting,
}

fn shape_of(kind: &str) -> Option<(Shape, &'static str)> {
    Some(match kind {
        "drop" => (Shape::Instant, "drop@30s"),
        "skip-diff" => (Shape::Instant, "skip-diff@5s"),
        "corrupt-checksum" => (Shape::Instant, "corrupt-checksum@5s"),
        "seq-reset" => (Shape::Instant, "seq-reset@20s"),
        "stall" => (Shape::Window, "stall@10s:5s"),
        "http429" => (Shape::Window, "http429@20s:10s"),
        "http418" => (Shape::Window, "http418@20s:1m"),
        "maintenance" => (Shape::Window, "maintenance@1m:30s"),
        "slow-snapshot" => (Shape::Setting, "slow-snapshot:2s"),
        "time-offset" => (Shape::Setting, "time-offset:-250ms"),
        _ => return None,
    })
}

impl std::str::FromStr for FaultSpec {
    type Err = FaultSpecError;

    fn from_str(text: &str) -> Result<FaultSpec, FaultSpecError> {
        let spec = text.to_owned();
        let (head, value) = match text.split_once(':') {
            Some((head, value)) => (head, Some(value)),
            None => (text, None),
        };
        let (kind, at) = match head.split_once('@') {
            Some((kind, at)) => (kind, Some(at)),
            None => (head, None),
        };
        let Some((shape, example)) = shape_of(kind) else {
            return Err(FaultSpecError::UnknownKind {
                spec,
                kind: kind.to_owned(),
            });
        };
        let duration = |t: &str| {
            parse_duration(t)
                .map(Duration::from_nanos)
                .ok_or_else(|| FaultSpecError::Duration {
                    spec: spec.clone(),
                    text: t.to_owned(),
                })
        };
        let at = match (at, shape) {
            (Some(at), _) => duration(at)?,
            (None, Shape::Setting) => Duration::ZERO,
            (None, _) => return Err(FaultSpecError::NoTime { spec, example }),
        };
        let value = match (value, shape) {
            (Some(_), Shape::Instant) => {
                let what = "this fault takes no :VALUE";
                return Err(FaultSpecError::Value {
                    spec,
                    what,
                    example,
                });
            }
            (None, Shape::Instant) => None,
            (Some(value), _) => Some(value),
            (None, _) => {
                let what = "give its :DURATION";
                return Err(FaultSpecError::Value {
                    spec,
                    what,
                    example,
                });
            }
        };
        let kind = kind_of(kind, value, &duration)?;
        Ok(FaultSpec {
            text: spec,
            at,
            kind,
        })
    }
}

/// The fault `kind` with its value (checked present for windows and settings).
fn kind_of(
    kind: &str,
    value: Option<&str>,
    duration: &dyn Fn(&str) -> Result<Duration, FaultSpecError>,
) -> Result<FaultKind, FaultSpecError> {
    let length = || duration(value.unwrap_or_default());
    Ok(match kind {
        "drop" => FaultKind::Drop,
        "skip-diff" => FaultKind::SkipDiff,
        "corrupt-checksum" => FaultKind::CorruptChecksum,
        "seq-reset" => FaultKind::SeqReset,
        "stall" => FaultKind::Stall(length()?),
        "http429" => FaultKind::Http429(length()?),
        "http418" => FaultKind::Http418(length()?),
        "maintenance" => FaultKind::Maintenance(length()?),
        "slow-snapshot" => FaultKind::SlowSnapshot(length()?),
        _ => {
            let text = value.unwrap_or_default();
            let (sign, magnitude) = match text.strip_prefix('-') {
                Some(rest) => (-1, rest),
                None => (1, text),
            };
            let ms = duration(magnitude)?.as_millis();
            FaultKind::TimeOffset(sign * i64::try_from(ms).unwrap_or(i64::MAX))
        }
    })
}

impl FaultKind {
    /// Why `venue` has no such fault, if it has none.
    pub fn unsupported_on(self, venue: Venue) -> Option<&'static str> {
        match (self, venue) {
            (FaultKind::CorruptChecksum, Venue::Binance) => {
                Some("Binance diffs carry no checksum (OKX books do)")
            }
            (FaultKind::SeqReset, Venue::Binance) => {
                Some("Binance has no sequence reset (OKX books do, after maintenance)")
            }
            (FaultKind::Http418(_), Venue::Okx) => Some("OKX does not ban with 418 (Binance does)"),
            (FaultKind::SlowSnapshot(_), Venue::Okx) => {
                Some("OKX sends its book snapshot on the WebSocket, not over REST")
            }
            _ => None,
        }
    }
}

/// Why `propbot emulate` stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulateError {
    /// The `--config` file cannot be read or is invalid.
    #[error("--config {path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `--recording` was given without `--source recording`.
    #[error("--recording is played only with --source recording (the source is sim)")]
    RecordingWithoutSource,
    /// A fault the venue does not have.
    #[error("--fault {spec}: {why}")]
    FaultNotOnVenue {
        /// The spec.
        spec: String,
        /// Why not.
        why: &'static str,
    },
    /// The emulator could not start.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The signal handlers could not be installed.
    #[error("cannot listen for SIGINT/SIGTERM: {0}")]
    Signal(std::io::Error),
}

/// A running emulator of either venue.
#[derive(Debug)]
pub enum Handle {
    /// Binance USDⓈ-M.
    Binance(BinanceHandle),
    /// OKX.
    Okx(OkxHandle),
}

impl Handle {
    /// The faults and clock every venue has.
    pub fn emulator(&self) -> &Emulator {
        match self {
            Handle::Binance(h) => h.emulator(),
            Handle::Okx(h) => h.emulator(),
        }
    }

    /// Whether a recording has been played to its end.
    pub fn finished(&self) -> bool {
        match self {
            Handle::Binance(h) => h.finished(),
            Handle::Okx(h) => h.finished(),
        }
    }

    fn playback_error(&self) -> Option<String> {
        match self {
            Handle::Binance(h) => h.playback_error(),
            Handle::Okx(h) => h.playback_error(),
        }
    }

    /// Venue symbols listed.
    pub fn symbols(&self) -> Vec<String> {
        match self {
            Handle::Binance(h) => h.symbols().into_iter().map(|s| s.symbol).collect(),
            Handle::Okx(h) => h.instruments().into_iter().map(|s| s.inst_id).collect(),
        }
    }
}

/// One step of the fault schedule.
#[derive(Clone, Debug)]
struct Step {
    at: Duration,
    spec: String,
    begin: bool,
    kind: FaultKind,
}

/// An emulator started by [`start`]: its handle, its start and its fault schedule.
#[derive(Debug)]
pub struct Running {
    /// The emulator.
    pub handle: Handle,
    /// The venue.
    pub venue: Venue,
    /// Market time at start (faults are scheduled from it).
    pub started: UnixNanos,
    schedule: Vec<Step>,
    source: String,
    /// Whether a recording drives the market (it can end).
    recorded: bool,
}

/// Starts the emulator `args` ask for: the config read, the faults checked against
/// the venue, the socket bound. Nothing is printed.
pub async fn start(args: EmulateArgs) -> Result<Running, EmulateError> {
    let venue = args.venue.venue();
    if args.source == SourceArg::Sim && !args.recording.is_empty() {
        return Err(EmulateError::RecordingWithoutSource);
    }
    for fault in &args.faults {
        if let Some(why) = fault.kind.unsupported_on(venue) {
            let spec = fault.text.clone();
            return Err(EmulateError::FaultNotOnVenue { spec, why });
        }
    }
    let engine = match &args.config {
        Some(path) => load_config(path)?,
        None => Config::embedded(Profile::Paper),
    };
    let mut config = EmulatorConfig::new(engine, args.seed);
    config.listen = args.listen;
    config.speed = args.speed;
    let source = match args.source {
        SourceArg::Sim => format!("synthetic market, seed {}", args.seed),
        SourceArg::Recording => {
            config.source = Source::Recording(args.recording.clone());
            let shown: Vec<String> = args
                .recording
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            format!("recording {}", shown.join(" "))
        }
    };
    let handle = match args.venue {
        VenueArg::Binance => Handle::Binance(crate::binance::serve(config).await?),
        VenueArg::Okx => Handle::Okx(crate::okx::serve(config).await?),
    };
    let started = handle.emulator().now();
    Ok(Running {
        handle,
        venue,
        started,
        schedule: schedule(&args.faults),
        source: source + &format!(", speed {}x", args.speed.factor()),
        recorded: args.source == SourceArg::Recording,
    })
}

fn load_config(path: &std::path::Path) -> Result<Config, EmulateError> {
    let error = |reason: String| EmulateError::Config {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let status = StatusThresholds::from_yaml(STATUS_THRESHOLDS_YAML)
        .map_err(|e| error(format!("the shipped status thresholds: {e}")))?;
    Config::from_yaml(&text, status).map_err(|e| error(e.to_string()))
}

/// The faults as begin (and end) steps in time order.
fn schedule(faults: &[FaultSpec]) -> Vec<Step> {
    let mut steps = Vec::new();
    for fault in faults {
        let step = |at, begin| Step {
            at,
            spec: fault.text.clone(),
            begin,
            kind: fault.kind,
        };
        steps.push(step(fault.at, true));
        if let FaultKind::Stall(d)
        | FaultKind::Http429(d)
        | FaultKind::Http418(d)
        | FaultKind::Maintenance(d) = fault.kind
        {
            steps.push(step(fault.at.saturating_add(d), false));
        }
    }
    steps.sort_by_key(|s| s.at);
    steps
}

impl Running {
    /// `http://ADDR`.
    pub fn http_url(&self) -> String {
        self.handle.emulator().http_url()
    }

    /// `ws://ADDR`.
    pub fn ws_url(&self) -> String {
        self.handle.emulator().ws_url()
    }

    /// What an operator is told at start: the address, the URLs to configure, the
    /// symbols, the faults scheduled.
    pub fn banner(&self) -> String {
        let (http, ws) = (self.http_url(), self.ws_url());
        let (streams, ws_public) = match self.venue {
            Venue::Binance => (
                format!("{ws}/public/stream, {ws}/market/stream, {ws}/stream"),
                ws.clone(),
            ),
            Venue::Okx => (format!("{ws}/ws/v5/public"), format!("{ws}/ws/v5/public")),
        };
        let mut text = format!(
            "{} emulator: listening on {} ({})\n  REST:      {http}\n  WebSocket: {ws} ({streams})\n  \
             config:    venues.{}.endpoints: {{ rest: \"{http}\", ws_public: \"{ws_public}\", ws_market: none }}\n  \
             record:    propbot record --endpoint {http} …\n  symbols:   {}\n",
            self.venue.name(),
            self.handle.emulator().addr(),
            self.source,
            self.venue.name(),
            self.handle.symbols().join(" "),
        );
        for step in self.schedule.iter().filter(|s| s.begin) {
            text.push_str(&format!("  fault:     {} (at +{:?})\n", step.spec, step.at));
        }
        text.push_str("Stop with Ctrl-C (SIGINT) or SIGTERM.");
        text
    }

    /// Serves until `stop` resolves, firing the faults on schedule and printing a line
    /// for each (and one when a recording ends). Returns what `stop` returned.
    pub async fn serve_until<T>(&self, stop: impl Future<Output = T>) -> T {
        tokio::pin!(stop);
        let faults = async {
            for step in &self.schedule {
                let due = self.started.plus_nanos(duration_ns(step.at));
                if !self.handle.emulator().wait_until(due).await {
                    return;
                }
                println!("{}", self.fire(step));
            }
        };
        let ended = async {
            if !self.recorded {
                return std::future::pending().await;
            }
            while !self.handle.finished() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            match self.handle.playback_error() {
                Some(e) => {
                    println!("the recording stopped early: {e}; REST and WebSocket still served")
                }
                None => println!(
                    "the recording ended: nothing more is published; REST and WebSocket still served"
                ),
            }
        };
        let background = async { tokio::join!(faults, ended) };
        tokio::select! {
            value = &mut stop => value,
            _ = background => stop.await,
        }
    }

    /// Applies one step; the line that reports it.
    fn fire(&self, step: &Step) -> String {
        let emulator = self.handle.emulator();
        let what = match (step.kind, step.begin) {
            (FaultKind::Drop, _) => {
                emulator.drop_connections();
                "every WebSocket dropped".to_owned()
            }
            (FaultKind::Stall(d), true) => {
                emulator.stall(true);
                format!("sockets silent for {d:?}")
            }
            (FaultKind::Stall(_), false) => {
                emulator.stall(false);
                "sockets speak again".to_owned()
            }
            (FaultKind::TimeOffset(ms), _) => {
                emulator.set_time_offset_ms(ms);
                format!("venue clock {ms:+} ms")
            }
            (kind, begin) => self.fire_venue(kind, begin),
        };
        let after = self.handle.emulator().now().nanos_since(self.started);
        let phase = if step.begin { "fault" } else { "fault over" };
        format!(
            "{phase} {} at +{:.3} s: {what}",
            step.spec,
            after as f64 / 1e9
        )
    }

    /// The faults of one venue's handle.
    fn fire_venue(&self, kind: FaultKind, begin: bool) -> String {
        let symbols = self.handle.symbols();
        match (&self.handle, kind, begin) {
            (Handle::Binance(h), FaultKind::SkipDiff, _) => {
                symbols.iter().for_each(|s| {
                    h.skip_next_diff(s);
                });
                format!("next diff of {} withheld", symbols.join(" "))
            }
            (Handle::Okx(h), FaultKind::SkipDiff, _) => {
                symbols.iter().for_each(|s| {
                    h.skip_next_update(s);
                });
                format!("next books update of {} withheld", symbols.join(" "))
            }
            (Handle::Okx(h), FaultKind::CorruptChecksum, _) => {
                symbols.iter().for_each(|s| {
                    h.corrupt_next_checksum(s);
                });
                format!("next books checksum of {} wrong", symbols.join(" "))
            }
            (Handle::Okx(h), FaultKind::SeqReset, _) => {
                symbols.iter().for_each(|s| {
                    h.reset_sequence(s, SEQ_RESET_TO);
                });
                format!(
                    "books sequence of {} restarts after {SEQ_RESET_TO}",
                    symbols.join(" ")
                )
            }
            (Handle::Binance(h), FaultKind::Http429(_), on) => {
                h.rate_limit_next(if on { u32::MAX } else { 0 });
                on_off(on, "REST answers 429")
            }
            (Handle::Okx(h), FaultKind::Http429(_), on) => {
                h.rate_limit_next(if on { u32::MAX } else { 0 });
                on_off(on, "REST answers 429 (50011)")
            }
            (Handle::Binance(h), FaultKind::Http418(d), on) => {
                if on {
                    h.ban_for(d)
                } else {
                    h.lift_ban()
                }
                on_off(on, "REST answers 418 (IP banned)")
            }
            (Handle::Binance(h), FaultKind::SlowSnapshot(d), _) => {
                h.delay_snapshots(d);
                format!("depth snapshots answered {d:?} late")
            }
            (handle, FaultKind::Maintenance(_), on) => maintenance(handle, &symbols, on),
            _ => format!("{kind:?} is not a fault of this venue"),
        }
    }
}

/// `seqId` after which the `seq-reset` fault restarts a `books` sequence.
pub const SEQ_RESET_TO: u64 = 1_000;

fn on_off(on: bool, what: &str) -> String {
    format!("{what}: {}", if on { "on" } else { "off" })
}

fn maintenance(handle: &Handle, symbols: &[String], on: bool) -> String {
    match handle {
        Handle::Binance(h) => {
            let status = if on { "SETTLING" } else { "TRADING" };
            symbols.iter().for_each(|s| {
                h.set_status(s, status);
            });
            format!("exchangeInfo status {status}")
        }
        Handle::Okx(h) => {
            let state = if on { "suspend" } else { "live" };
            if on {
                h.send_upgrade_notice();
            }
            symbols.iter().for_each(|s| {
                h.set_state(s, state);
            });
            format!(
                "instruments state {state}{}",
                if on { ", 64008 notice sent" } else { "" }
            )
        }
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Running {
    /// Stops serving and waits for the emulator's tasks to end.
    pub async fn shutdown(self) {
        match self.handle {
            Handle::Binance(h) => h.shutdown().await,
            Handle::Okx(h) => h.shutdown().await,
        }
    }
}

/// Runs `propbot emulate`: starts, prints the banner, serves until SIGINT or SIGTERM
/// (printing each fault as it fires), then shuts down.
pub async fn run(args: EmulateArgs) -> Result<(), EmulateError> {
    let running = start(args).await?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(EmulateError::Signal)?;
    println!("{}", running.banner());
    let signal = running
        .serve_until(async {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            }
        })
        .await;
    println!("{signal}: stopping");
    running.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: EmulateArgs,
    }

    fn parse(args: &[&str]) -> Result<EmulateArgs, clap::Error> {
        let argv = std::iter::once("emulate").chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|c| c.args)
    }

    fn fault(text: &str) -> Result<FaultSpec, FaultSpecError> {
        text.parse()
    }

    #[test]
    fn fault_specs_parse() {
        let s = Duration::from_secs;
        for (text, at, kind) in [
            ("drop@30s", s(30), FaultKind::Drop),
            ("stall@10s:5s", s(10), FaultKind::Stall(s(5))),
            ("skip-diff@5s", s(5), FaultKind::SkipDiff),
            (
                "corrupt-checksum@1500ms",
                Duration::from_millis(1_500),
                FaultKind::CorruptChecksum,
            ),
            ("seq-reset@2m", s(120), FaultKind::SeqReset),
            ("http429@20s:10s", s(20), FaultKind::Http429(s(10))),
            ("http418@20s:1m", s(20), FaultKind::Http418(s(60))),
            ("maintenance@1m:30s", s(60), FaultKind::Maintenance(s(30))),
            ("slow-snapshot:2s", s(0), FaultKind::SlowSnapshot(s(2))),
            ("slow-snapshot@5s:2s", s(5), FaultKind::SlowSnapshot(s(2))),
            ("time-offset:250ms", s(0), FaultKind::TimeOffset(250)),
            ("time-offset@3s:-2s", s(3), FaultKind::TimeOffset(-2_000)),
        ] {
            let spec = fault(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((spec.at, spec.kind), (at, kind), "{text}");
            assert_eq!(spec.text, text);
        }
    }

    #[test]
    fn bad_fault_specs_say_what_is_wrong() {
        for (text, says) in [
            ("explode@5s", "unknown fault \"explode\""),
            ("drop", "say when, e.g. drop@30s"),
            ("drop@30s:5s", "takes no :VALUE"),
            ("stall@10s", "give its :DURATION, e.g. stall@10s:5s"),
            ("stall@soon:5s", "\"soon\" is not a duration"),
            ("http429@20s:ten", "\"ten\" is not a duration"),
            ("time-offset", "give its :DURATION"),
            ("time-offset:1.5s", "\"1.5s\" is not a duration"),
            ("", "unknown fault \"\""),
        ] {
            let e = fault(text).expect_err(text).to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn faults_a_venue_lacks_are_named() {
        assert!(
            FaultKind::CorruptChecksum
                .unsupported_on(Venue::Binance)
                .is_some()
        );
        assert!(FaultKind::SeqReset.unsupported_on(Venue::Binance).is_some());
        assert!(
            FaultKind::Http418(Duration::ZERO)
                .unsupported_on(Venue::Okx)
                .is_some()
        );
        assert!(
            FaultKind::SlowSnapshot(Duration::ZERO)
                .unsupported_on(Venue::Okx)
                .is_some()
        );
        assert!(FaultKind::Drop.unsupported_on(Venue::Okx).is_none());
    }

    #[test]
    fn the_command_line_parses_with_its_defaults() {
        let a = parse(&["binance"]).unwrap();
        assert_eq!(a.venue, VenueArg::Binance);
        assert_eq!(a.listen.to_string(), "127.0.0.1:0");
        assert_eq!(
            (a.source, a.seed, a.speed),
            (SourceArg::Sim, 1, Speed::REAL_TIME)
        );
        assert!(a.recording.is_empty() && a.faults.is_empty() && a.config.is_none());
        let a = parse(&[
            "okx",
            "--source",
            "recording",
            "--recording",
            "a",
            "b",
            "--speed",
            "10",
            "--fault",
            "drop@1s",
            "--fault",
            "stall@2s:1s",
        ])
        .unwrap();
        assert_eq!(a.recording, [PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(a.faults.len(), 2);
        assert_eq!(a.speed.factor(), 10.0);
    }

    #[test]
    fn bad_command_lines_are_clap_errors() {
        for (args, says) in [
            (&["kraken"][..], "invalid value 'kraken'"),
            (&["binance", "--source", "recording"], "--recording <PATH>"),
            (&["binance", "--speed", "0"], "a speed from 0.01 to 1000"),
            (&["binance", "--fault", "drop"], "say when"),
            (&["binance", "--listen", "here"], "invalid value 'here'"),
        ] {
            let e = parse(args).expect_err("refused");
            assert_eq!(e.exit_code(), 2, "{args:?}");
            assert!(e.to_string().contains(says), "{args:?}: {e}");
        }
    }

    #[test]
    fn the_schedule_orders_begins_and_ends() {
        let faults: Vec<FaultSpec> = ["stall@10s:5s", "drop@12s", "time-offset:1s"]
            .iter()
            .map(|t| fault(t).unwrap())
            .collect();
        let steps: Vec<(u64, bool)> = schedule(&faults)
            .iter()
            .map(|s| (s.at.as_secs(), s.begin))
            .collect();
        assert_eq!(steps, [(0, true), (10, true), (12, true), (15, false)]);
    }
}
