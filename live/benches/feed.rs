//! `cargo bench -p propbot-live`: the live market-data adapters against the loopback
//! venue emulators, a real `propbot_engine::Engine` behind them, as the service runs
//! them. Prints three tables, for Binance and for OKX:
//!
//! - **(a) throughput.** A synthetic recording (one book update a millisecond per
//!   venue) played at the emulator's top speed, 1000×: far more than it can publish,
//!   so it publishes as fast as it goes. The adapter (`spawn_feed`, desk defaults) and
//!   the engine share one current-thread runtime: one core. A *frame* is one WebSocket
//!   text message of market data: a depth diff, a book ticker or an aggregate trade
//!   (Binance); a `books` update, a `bbo-tbt` or a `trades` push (OKX). Two modes:
//!   `live` takes the frames as the emulator publishes them (the slower of the two
//!   bounds the rate); `backlog` lets the emulator publish the whole recording first
//!   (into its bounded fan-out and the sockets) and then drains it, so a frame is
//!   always waiting and the rate is the adapter's and the engine's. Without loss,
//!   both: every frame the emulator wrote was read, every one became one engine input,
//!   no resync, no reconnection, and the engine's book ends valid at the emulator's
//!   last update id (checked, or the bench fails).
//! - **(b) latency.** The same recording slowed to about 5,000 frames/s; for every
//!   sync event, `Stamped::received` (the wall clock read on the frame's arrival)
//!   against the wall clock read right before `engine.handle`.
//! - **(c) reconnect.** The synthetic market in real time; the emulator drops every
//!   connection N times; time from the book connection's `Disconnected` to its next
//!   `Synced`, with the desk's back-off (500 ms, less up to 25 % jitter) inside it.
//!
//! The emulator runs in a child process (this binary, `--emulator …`, a multi-thread
//! runtime with one worker), commanded through its stdin, so the CPU time and RSS
//! printed are the adapter's and the engine's alone.
//!
//! `cargo bench -p propbot-live -- --quick` (or `PROPBOT_BENCH_QUICK=1`) runs a shorter
//! version; `-- --only a|b|c` runs one part, `-- --venue binance|okx` one venue.

use hdrhistogram::Histogram;
use propbot_engine::input::{Input, MarketEvent};
use propbot_engine::model::{InstrumentId, Venue};
use propbot_engine::{Config, Engine, Profile, RecoveredState, UnixNanos};
use propbot_live::{
    Endpoints, FeedEvent, FeedHandle, FeedOptions, LinkState, Stamped, spawn_feed, system_clock,
};
use propbot_market::generate::{SynthOptions, synthesize};
use propbot_market::synth::MarketParams;
use propbot_recordings::WriterOptions;
use propbot_recordings::progress::Progress;
use propbot_venues::{InstrumentSpec, SyncEvent};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

const BTC: InstrumentId = InstrumentId(0);
/// The sink between the feeds and the engine: the service's bound (`FEED_EVENTS_MAX`).
const SINK_MAX: usize = 8_192;
/// The emulator's top speed.
const TOP_SPEED: f64 = 1_000.0;
/// Target rate of the latency run, frames a second.
const LATENCY_RATE: f64 = 5_000.0;
/// Market time played before a measured run, so the adapter syncs at rest.
const WARM_UP_MS: u64 = 20;
/// The emulator's default bounds: frames queued for its clients, and the wait for a
/// socket to take one before the client is dropped as slow.
const QUEUE_DEFAULT: usize = 4096;
const SEND_TIMEOUT_DEFAULT: Duration = Duration::from_secs(2);
/// A wall-time bound on every wait, so a broken run fails instead of hanging.
const WAIT: Duration = Duration::from_secs(60);
/// How long a synced feed is left alone before the next drop (above the 1 s
/// `snapshot_spacing`, so the snapshot of the next connection is not held back).
const HOLD_SYNCED: Duration = Duration::from_millis(1_200);

/// How much to run.
#[derive(Clone, Copy, Debug)]
struct Scale {
    name: &'static str,
    /// Recorded market time, seconds.
    recorded_seconds: u64,
    /// Wall time of each latency run.
    latency: Duration,
    /// Connection drops per venue.
    drops: usize,
}

const FULL: Scale = Scale {
    name: "full",
    recorded_seconds: 200,
    latency: Duration::from_secs(10),
    drops: 20,
};

const QUICK: Scale = Scale {
    name: "quick",
    recorded_seconds: 40,
    latency: Duration::from_secs(2),
    drops: 4,
};

/// The command line: `[--quick] [--only a|b|c] [--venue binance|okx]`.
struct Args {
    scale: Scale,
    only: Option<String>,
    venues: Vec<Venue>,
}

impl Args {
    fn parse(args: &[String]) -> Args {
        let quick = args.iter().any(|a| a == "--quick")
            || std::env::var_os("PROPBOT_BENCH_QUICK").is_some_and(|v| v != "0");
        let value = |flag: &str| {
            let at = args.iter().position(|a| a == flag)?;
            Some(args.get(at + 1).cloned().unwrap_or_default())
        };
        let venues = match value("--venue") {
            Some(name) => {
                let venue = Venue::ALL
                    .into_iter()
                    .find(|v| emulator::venue_name(*v) == name)
                    .unwrap_or_else(|| panic!("--venue binance|okx, not {name:?}"));
                vec![venue]
            }
            None => Venue::ALL.to_vec(),
        };
        Args {
            scale: if quick { QUICK } else { FULL },
            only: value("--only"),
            venues,
        }
    }

    fn part(&self, part: &str) -> bool {
        self.only.as_deref().is_none_or(|o| o == part)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--emulator") => return emulator::main(&args[1..]),
        Some("--synthesize") => return synthesize_main(&args[1..]),
        _ => {}
    }
    let args = Args::parse(&args);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let started = std::time::Instant::now();
    let recording = fast_recording(dir.path(), args.scale.recorded_seconds);
    eprintln!(
        "synthesized {} s of market ({} messages) in {:.1} s",
        args.scale.recorded_seconds,
        recording.messages,
        started.elapsed().as_secs_f64()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(run(&args, &recording));
    let (rss, peak) = memory();
    println!("  RSS at exit {rss} kB, peak {peak} kB (adapter + engine process)");
}

async fn run(args: &Args, recording: &FastRecording) {
    println!(
        "propbot-live bench ({}): adapter + engine on one current-thread runtime, the \
         emulator in a child process",
        args.scale.name
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!(
        "machine: {} CPUs, load average {} at the start",
        std::thread::available_parallelism().map_or(0, usize::from),
        load.join(" ")
    );
    println!(
        "recording: BTC-USDT-PERP, synthetic, {} s of market, a book update a ms per venue, \
         {} messages",
        recording.seconds, recording.messages
    );
    let mut throughputs = Vec::new();
    if args.part("a") || args.part("b") {
        // Part b needs the live rates only (to aim at 5,000 frames/s).
        let modes: &[Mode] = if args.part("a") {
            &[Mode::Live, Mode::Backlog]
        } else {
            &[Mode::Live]
        };
        for &venue in &args.venues {
            for &mode in modes {
                throughputs.push(throughput(venue, recording, mode).await);
            }
        }
        if args.part("a") {
            print_throughput(&throughputs);
        }
    }
    if args.part("b") {
        let mut latencies = Vec::new();
        for t in throughputs.iter().filter(|t| t.mode == Mode::Live) {
            let speed = (LATENCY_RATE / t.frames_per_market_second).clamp(0.01, TOP_SPEED);
            let wall = args.scale.latency;
            latencies.push(latency(t.venue, &recording.path, speed, wall).await);
        }
        print_latency(&latencies);
    }
    if args.part("c") {
        let mut reconnects = Vec::new();
        for &venue in &args.venues {
            reconnects.push(reconnect(venue, args.scale.drops).await);
        }
        print_reconnect(&reconnects);
    }
}

struct FastRecording {
    path: String,
    messages: u64,
    /// Recorded market time, seconds.
    seconds: u64,
}

/// A synthetic recording with a book update every millisecond on each venue (the
/// default model updates every 50–150 ms), written by a child process (this binary,
/// `--synthesize DIR SECONDS`) so its memory is not counted in this one's RSS.
fn fast_recording(dir: &Path, seconds: u64) -> FastRecording {
    let exe = std::env::current_exe().expect("the bench binary");
    let output = std::process::Command::new(exe)
        .arg("--synthesize")
        .arg(dir)
        .arg(seconds.to_string())
        .stderr(Stdio::inherit())
        .output()
        .expect("the synthesizer runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let messages = text
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the synthesizer failed: {text:?} ({})", output.status));
    FastRecording {
        path: dir.display().to_string(),
        messages,
        seconds,
    }
}

/// The child's side of [`fast_recording`]: prints the messages written.
fn synthesize_main(args: &[String]) {
    let [dir, seconds] = args else {
        panic!("--synthesize DIR SECONDS, not {args:?}");
    };
    let seconds: u64 = seconds.parse().expect("whole seconds");
    let config = Config::embedded(Profile::Paper);
    let options = SynthOptions {
        seed: 11,
        duration_ns: seconds * 1_000_000_000,
        params: MarketParams {
            update_ms: (1, 1),
            ..MarketParams::default()
        },
        ..SynthOptions::default()
    };
    let summary = synthesize(
        &config,
        &options,
        Path::new(dir),
        &WriterOptions::default(),
        &Progress::hidden(),
    )
    .expect("the synthetic recording is written");
    let messages: u64 = summary.streams.iter().map(|(_, s)| s.messages).sum();
    println!("{messages}");
}

// ---------------------------------------------------------------------------------
// The runs.

/// How the frames reach the adapter in a throughput run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// As the emulator publishes them, at its top speed: the rate is the slower of the
    /// emulator and the adapter.
    Live,
    /// The engine side reads nothing until the emulator has published the whole
    /// recording (into its fan-out and the sockets); then the adapter drains it, so a
    /// frame is always waiting: the rate is the adapter's and the engine's.
    Backlog,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Live => "live",
            Mode::Backlog => "backlog",
        }
    }
}

/// What a throughput run measured (over its measured window).
struct Throughput {
    venue: Venue,
    mode: Mode,
    /// Frames the adapter read in the measured window.
    frames: u64,
    bytes: u64,
    seconds: f64,
    cpu_seconds: f64,
    wait_seconds: f64,
    emulator_cpu_seconds: f64,
    emulator_wait_seconds: f64,
    frames_per_market_second: f64,
    rss_kb: u64,
    /// Engine inputs over the whole run, by kind.
    counts: Counts,
}

impl Throughput {
    fn rate(&self) -> f64 {
        self.frames as f64 / self.seconds
    }

    /// Met or missed; a live run whose emulator ran (or waited for a CPU) all along
    /// while the adapter had CPU to spare measured the emulator, and says so.
    fn verdict(&self) -> &'static str {
        let busy = |seconds: f64| seconds / self.seconds > 0.8;
        if self.rate() >= GOAL_FRAMES_PER_SECOND {
            "met"
        } else if self.mode == Mode::Live
            && busy(self.emulator_cpu_seconds + self.emulator_wait_seconds)
            && !busy(self.cpu_seconds)
        {
            "emulator-bound"
        } else {
            "MISSED"
        }
    }
}

async fn throughput(venue: Venue, recording: &FastRecording, mode: Mode) -> Throughput {
    // The fan-out holds the whole recording (frames of one venue: about its messages,
    // a book ticker after most diffs), so it never drops a client that falls behind.
    let queue = (recording.messages as usize + 4096).next_power_of_two();
    // In a backlog run the emulator's writes wait on full sockets while the recording
    // is published: no send timeout then.
    let send_timeout = match mode {
        Mode::Live => SEND_TIMEOUT_DEFAULT,
        Mode::Backlog => WAIT,
    };
    let mut emulator =
        EmulatorProcess::start(venue, &recording.path, TOP_SPEED, queue, send_timeout).await;
    let (mut driver, feed) = start_synced(venue, &mut emulator).await;
    let before = emulator.stats().await;
    let (messages_before, _) = received(&feed);
    let counts_before = driver.counts;
    emulator.command("resume").await;
    let deadline = Instant::now() + WAIT;
    if mode == Mode::Backlog {
        while !emulator.stats().await.finished {
            assert!(
                Instant::now() < deadline,
                "{venue}: the recording is published"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let started_at = system_clock();
    let (messages_started, bytes_started) = received(&feed);
    let cpu_before = thread_cpu();
    let emulator_cpu_before = emulator.cpu_nanos();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        assert!(Instant::now() < deadline, "{venue}: the run ends in time");
        tokio::select! {
            biased;
            stamped = driver.rx.recv() => driver.handle(stamped.expect("the feed runs")),
            _ = tick.tick() => {
                let stats = emulator.stats().await;
                let (messages, _) = received(&feed);
                if stats.finished && messages - messages_before >= stats.frames_sent - before.frames_sent {
                    break;
                }
            }
        }
    }
    // The last events of the last frames are on their way: take them (the last event
    // ends the measured window).
    while let Ok(Some(stamped)) = timeout(Duration::from_millis(100), driver.rx.recv()).await {
        driver.handle(stamped);
    }
    let (cpu_after, wait_after) = thread_cpu();
    let emulator_cpu = emulator.cpu_nanos();
    let emulator_cpu = (
        emulator_cpu.0 - emulator_cpu_before.0,
        emulator_cpu.1 - emulator_cpu_before.1,
    );
    let after = emulator.stats().await;
    let (messages, bytes) = received(&feed);
    let counts = driver.counts.since(&counts_before);
    let frames_sent = after.frames_sent - before.frames_sent;
    check_no_loss(
        &driver,
        &feed,
        &counts,
        frames_sent,
        messages - messages_before,
        after.published,
    );
    let throughput = Throughput {
        venue,
        mode,
        frames: messages - messages_started,
        bytes: bytes - bytes_started,
        seconds: driver.last_event_at.nanos_since(started_at) as f64 / 1e9,
        cpu_seconds: (cpu_after - cpu_before.0) as f64 / 1e9,
        wait_seconds: (wait_after - cpu_before.1) as f64 / 1e9,
        emulator_cpu_seconds: emulator_cpu.0 as f64 / 1e9,
        emulator_wait_seconds: emulator_cpu.1 as f64 / 1e9,
        frames_per_market_second: frames_sent as f64
            / (recording.seconds as f64 - WARM_UP_MS as f64 / 1e3),
        rss_kb: memory().0,
        counts,
    };
    feed.shutdown().await;
    emulator.quit().await;
    throughput
}

/// Without loss: every frame written was read and became one engine input; no
/// resync, no reconnection; the engine's book is valid where the venue's is.
fn check_no_loss(
    driver: &Driver,
    feed: &FeedHandle,
    counts: &Counts,
    frames_sent: u64,
    frames_read: u64,
    published: u64,
) {
    let venue = driver.venue;
    assert_eq!(frames_read, frames_sent, "{venue}: frames lost on the way");
    let events = counts.deltas + counts.bbos + counts.trades;
    assert_eq!(events, frames_read, "{venue}: a frame without its event");
    assert_eq!(counts.resyncs, 0, "{venue}: resyncs during the run");
    let stats = feed.stats();
    assert!(
        stats.connections.iter().all(|c| c.reconnects == 0),
        "{venue}: {stats:?}"
    );
    let book = driver.engine.book(venue, BTC);
    assert!(book.is_valid(), "{venue}: the engine's book is valid");
    assert_eq!(book.last_sequence(), published, "{venue}: the last book");
}

/// What a latency run measured.
struct Latency {
    venue: Venue,
    speed: f64,
    frames: u64,
    seconds: f64,
    latencies: Latencies,
    cpu_seconds: f64,
    wait_seconds: f64,
    /// Times the thread was taken off its CPU while runnable.
    preempted: u64,
}

/// Frame received → `engine.handle`, ns: every sync event; diffs, tickers and trades
/// apart; and apart by whether the adapter had parsed later frames before the engine
/// took the event (events waiting behind it in the sink).
struct Latencies {
    all: Histogram<u64>,
    kinds: [Histogram<u64>; 3],
    alone: Histogram<u64>,
    ahead: Histogram<u64>,
    /// Events waiting behind each one, at most.
    behind_max: usize,
}

impl Latencies {
    fn new() -> Latencies {
        let histogram = || Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram");
        Latencies {
            all: histogram(),
            kinds: [histogram(), histogram(), histogram()],
            alone: histogram(),
            ahead: histogram(),
            behind_max: 0,
        }
    }

    fn record(&mut self, event: &SyncEvent, nanos: u64, behind: usize) {
        let nanos = nanos.max(1);
        self.all.saturating_record(nanos);
        self.behind_max = self.behind_max.max(behind);
        match behind {
            0 => self.alone.saturating_record(nanos),
            _ => self.ahead.saturating_record(nanos),
        }
        let kind = match event {
            SyncEvent::Delta { .. } => 0,
            SyncEvent::Bbo { .. } => 1,
            SyncEvent::Trade { .. } => 2,
            SyncEvent::Snapshot { .. } | SyncEvent::Resync { .. } => return,
        };
        self.kinds[kind].saturating_record(nanos);
    }
}

async fn latency(venue: Venue, recording: &str, speed: f64, wall: Duration) -> Latency {
    let mut emulator =
        EmulatorProcess::start(venue, recording, speed, QUEUE_DEFAULT, SEND_TIMEOUT_DEFAULT).await;
    let (mut driver, feed) = start_synced(venue, &mut emulator).await;
    let (messages_before, _) = received(&feed);
    driver.latency = Some(Latencies::new());
    let counts_before = driver.counts;
    let (cpu_before, wait_before) = thread_cpu();
    let preempted_before = thread_preemptions();
    emulator.command("resume").await;
    let started = Instant::now();
    let end = started + wall;
    while let Ok(Some(stamped)) = tokio::time::timeout_at(end, driver.rx.recv()).await {
        driver.handle(stamped);
    }
    let (cpu_after, wait_after) = thread_cpu();
    let (messages, _) = received(&feed);
    let counts = driver.counts.since(&counts_before);
    assert_eq!(counts.resyncs, 0, "{venue}: resyncs during the latency run");
    let latency = Latency {
        venue,
        speed,
        frames: messages - messages_before,
        seconds: started.elapsed().as_secs_f64(),
        latencies: driver.latency.take().expect("the histograms"),
        cpu_seconds: (cpu_after - cpu_before) as f64 / 1e9,
        wait_seconds: (wait_after - wait_before) as f64 / 1e9,
        preempted: thread_preemptions() - preempted_before,
    };
    feed.shutdown().await;
    emulator.quit().await;
    latency
}

/// One reconnection of the book connection, wall-clock nanoseconds from its
/// `Disconnected`.
#[derive(Clone, Copy, Debug)]
struct Cycle {
    connecting: u64,
    connected: u64,
    synced: u64,
}

struct Reconnect {
    venue: Venue,
    backoff: propbot_live::Backoff,
    cycles: Vec<Cycle>,
}

async fn reconnect(venue: Venue, drops: usize) -> Reconnect {
    let mut emulator =
        EmulatorProcess::start(venue, "synthetic", 1.0, QUEUE_DEFAULT, SEND_TIMEOUT_DEFAULT).await;
    emulator.command("resume").await;
    let options = feed_options(venue, emulator.endpoints());
    let backoff = options.reconnect;
    let (mut driver, feed) = Driver::start(venue, options);
    for _ in 0..drops {
        driver.until("synced", |d| d.synced()).await;
        driver.read_for(HOLD_SYNCED).await;
        emulator.command("drop").await;
        driver
            .until("the drop seen", |d| {
                matches!(d.links.get("public"), Some(LinkState::Disconnected { .. }))
            })
            .await;
    }
    driver.until("synced", |d| d.synced()).await;
    let cycles = cycles(&driver.link_log);
    assert_eq!(cycles.len(), drops, "{venue}: {:?}", driver.link_log);
    feed.shutdown().await;
    emulator.quit().await;
    Reconnect {
        venue,
        backoff,
        cycles,
    }
}

/// The reconnections of the `public` connection in a link log.
fn cycles(log: &[(&'static str, LinkState, UnixNanos)]) -> Vec<Cycle> {
    let mut cycles = Vec::new();
    let mut down: Option<(UnixNanos, Option<UnixNanos>, Option<UnixNanos>)> = None;
    for (_, state, at) in log.iter().filter(|(c, _, _)| *c == "public") {
        match (state, &mut down) {
            (LinkState::Disconnected { .. }, None) => down = Some((*at, None, None)),
            (LinkState::Connecting, Some((_, connecting, _))) => {
                connecting.get_or_insert(*at);
            }
            (LinkState::Connected, Some((_, _, connected))) => {
                connected.get_or_insert(*at);
            }
            (LinkState::Synced, Some((from, connecting, connected))) => {
                let since = |t: Option<UnixNanos>| t.map_or(0, |t| t.nanos_since(*from));
                cycles.push(Cycle {
                    connecting: since(*connecting),
                    connected: since(*connected),
                    synced: at.nanos_since(*from),
                });
                down = None;
            }
            _ => {}
        }
    }
    cycles
}

/// Desk defaults, except the seed.
fn feed_options(venue: Venue, endpoints: Endpoints) -> FeedOptions {
    let config = Config::embedded(Profile::Paper);
    let spec = InstrumentSpec::from_config(&config, venue, BTC).expect("a BTC listing");
    let mut options = FeedOptions::new(venue, endpoints, vec![spec]);
    options.seed = 5;
    options
}

/// Starts a feed and brings it in sync at rest: a few milliseconds of the recording
/// played (Binance, with its sockets open: its snapshot is taken once a diff is
/// buffered; OKX, before it subscribes: the book it is sent is the recording's), then
/// the market held with every frame read.
async fn start_synced(venue: Venue, emulator: &mut EmulatorProcess) -> (Driver, FeedHandle) {
    let play = format!("play {WARM_UP_MS}");
    if venue == Venue::Okx {
        emulator.command(&play).await;
    }
    let (mut driver, feed) = Driver::start(venue, feed_options(venue, emulator.endpoints()));
    if venue == Venue::Binance {
        driver
            .until("the sockets open", |d| {
                d.links.get("public") == Some(&LinkState::Connected)
                    && d.links.get("market") == Some(&LinkState::Synced)
            })
            .await;
        emulator.command(&play).await;
    }
    driver.until("synced", |d| d.synced()).await;
    // Everything played so far has been read.
    let sent = emulator.stats().await.frames_sent;
    let deadline = Instant::now() + WAIT;
    while received(&feed).0 < sent {
        assert!(Instant::now() < deadline, "the warm-up frames arrive");
        driver.read_for(Duration::from_millis(5)).await;
    }
    driver.read_for(Duration::from_millis(50)).await;
    (driver, feed)
}

/// Text frames and bytes the feed has read, over all its connections.
fn received(feed: &FeedHandle) -> (u64, u64) {
    let stats = feed.stats();
    let messages = stats.connections.iter().map(|c| c.messages).sum();
    let bytes = stats.connections.iter().map(|c| c.bytes).sum();
    (messages, bytes)
}

// ---------------------------------------------------------------------------------
// The consumer: the engine driver, as thin as the service's.

#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    snapshots: u64,
    deltas: u64,
    bbos: u64,
    trades: u64,
    resyncs: u64,
}

impl Counts {
    fn since(&self, before: &Counts) -> Counts {
        Counts {
            snapshots: self.snapshots - before.snapshots,
            deltas: self.deltas - before.deltas,
            bbos: self.bbos - before.bbos,
            trades: self.trades - before.trades,
            resyncs: self.resyncs - before.resyncs,
        }
    }
}

struct Driver {
    venue: Venue,
    rx: mpsc::Receiver<Stamped>,
    engine: Engine,
    /// Engine time: the wall clock, never going back.
    now: UnixNanos,
    links: BTreeMap<&'static str, LinkState>,
    link_log: Vec<(&'static str, LinkState, UnixNanos)>,
    latency: Option<Latencies>,
    counts: Counts,
    last_event_at: UnixNanos,
}

impl Driver {
    fn start(venue: Venue, options: FeedOptions) -> (Driver, FeedHandle) {
        let config = Config::embedded(Profile::Paper);
        let recovered = RecoveredState::empty(&config);
        let (tx, rx) = mpsc::channel(SINK_MAX);
        let driver = Driver {
            venue,
            rx,
            engine: Engine::new(config, recovered),
            now: UnixNanos::ZERO,
            links: BTreeMap::new(),
            link_log: Vec::new(),
            latency: None,
            counts: Counts::default(),
            last_event_at: UnixNanos::ZERO,
        };
        (driver, spawn_feed(options, tx))
    }

    /// One event to the engine, then its timers and outputs, as the service's loop.
    fn handle(&mut self, stamped: Stamped) {
        let wall = system_clock();
        self.now = self.now.max(wall);
        match &stamped.event {
            FeedEvent::Sync(event) => {
                if let Some(latencies) = &mut self.latency {
                    let behind = self.rx.len();
                    latencies.record(event, wall.0.saturating_sub(stamped.received.0), behind);
                }
                self.engine.handle(self.now, event.as_input());
                self.count(event);
                self.last_event_at = wall;
            }
            FeedEvent::Venue(_) => {
                if let Some(event) = stamped.venue_event() {
                    self.engine.handle(self.now, Input::Venue(event));
                }
            }
            FeedEvent::Link { connection, state } => {
                self.links.insert(connection, state.clone());
                self.link_log
                    .push((connection, state.clone(), stamped.received));
            }
        }
        if self.engine.poll_timeout().is_some_and(|t| t <= self.now) {
            self.engine.handle_timeout(self.now);
        }
        while self.engine.poll_output().is_some() {}
    }

    fn count(&mut self, event: &SyncEvent) {
        let counts = &mut self.counts;
        match event.as_market_event() {
            MarketEvent::Snapshot { .. } => counts.snapshots += 1,
            MarketEvent::Delta { .. } => counts.deltas += 1,
            MarketEvent::Bbo { .. } => counts.bbos += 1,
            MarketEvent::Trade { .. } => counts.trades += 1,
            MarketEvent::BookInvalid { .. } => counts.resyncs += 1,
        }
    }

    /// Every connection synced and the engine's book valid.
    fn synced(&self) -> bool {
        let connections: &[&str] = match self.venue {
            Venue::Binance => &["public", "market"],
            Venue::Okx => &["public"],
        };
        connections
            .iter()
            .all(|c| self.links.get(c) == Some(&LinkState::Synced))
            && self.engine.book(self.venue, BTC).is_valid()
    }

    /// Handles events until `done`, failing after [`WAIT`].
    async fn until(&mut self, what: &str, done: impl Fn(&Driver) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(self) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(stamped)) => self.handle(stamped),
                Ok(None) => panic!("{}: the feed ended waiting for {what}", self.venue),
                Err(_) => panic!("{}: waiting for {what}: {:?}", self.venue, self.links),
            }
        }
    }

    /// Handles events for `wall`.
    async fn read_for(&mut self, wall: Duration) {
        let end = Instant::now() + wall;
        while let Ok(Some(stamped)) = tokio::time::timeout_at(end, self.rx.recv()).await {
            self.handle(stamped);
        }
    }
}

// ---------------------------------------------------------------------------------
// The emulator in a child process.

/// What the emulator reports on `stats`.
#[derive(Clone, Copy, Debug)]
struct EmulatorStats {
    frames_sent: u64,
    finished: bool,
    /// Update id of the book as published.
    published: u64,
}

struct EmulatorProcess {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    venue: Venue,
    addr: String,
}

impl EmulatorProcess {
    /// This binary as an emulator of `venue` playing `source` (`synthetic` or a
    /// recording directory) at `speed`, paused, with a fan-out of `queue` frames and
    /// `send_timeout` for a socket to take a frame.
    async fn start(
        venue: Venue,
        source: &str,
        speed: f64,
        queue: usize,
        send_timeout: Duration,
    ) -> EmulatorProcess {
        let exe = std::env::current_exe().expect("the bench binary");
        let mut child = tokio::process::Command::new(exe)
            .args(["--emulator", emulator::venue_name(venue), source])
            .arg(speed.to_string())
            .arg(queue.to_string())
            .arg(send_timeout.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the emulator process starts");
        let stdin = child.stdin.take().expect("piped stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let first = lines.next_line().await.expect("the emulator's first line");
        let addr = first
            .as_deref()
            .and_then(|l| l.strip_prefix("listening "))
            .unwrap_or_else(|| panic!("the emulator did not start: {first:?}"))
            .to_owned();
        EmulatorProcess {
            child,
            stdin,
            lines,
            venue,
            addr,
        }
    }

    fn endpoints(&self) -> Endpoints {
        let (http, ws) = (
            format!("http://{}", self.addr),
            format!("ws://{}", self.addr),
        );
        match self.venue {
            Venue::Binance => Endpoints {
                rest: http,
                ws_public: format!("{ws}/public"),
                ws_market: Some(format!("{ws}/market")),
                ws_private: format!("{ws}/private"),
            },
            Venue::Okx => Endpoints {
                rest: http,
                ws_public: format!("{ws}/ws/v5/public"),
                ws_market: None,
                ws_private: format!("{ws}/ws/v5/private"),
            },
        }
    }

    async fn command(&mut self, text: &str) -> String {
        self.stdin
            .write_all(format!("{text}\n").as_bytes())
            .await
            .expect("the emulator reads its commands");
        self.stdin.flush().await.expect("flushed");
        let reply = self.lines.next_line().await.expect("the emulator answers");
        reply.unwrap_or_else(|| panic!("the emulator ended on {text:?}"))
    }

    async fn stats(&mut self) -> EmulatorStats {
        let reply = self.command("stats").await;
        let fields: Vec<&str> = reply.split(' ').collect();
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        match (number(0), number(1), number(2)) {
            (Some(frames_sent), Some(finished), Some(published)) => EmulatorStats {
                frames_sent,
                finished: finished == 1,
                published,
            },
            _ => panic!("the emulator's stats: {reply:?}"),
        }
    }

    /// Time every thread of the emulator process has run, and waited for a CPU while
    /// runnable, so far, ns (zeros where `/proc/PID/task/*/schedstat` cannot be read).
    fn cpu_nanos(&self) -> (u64, u64) {
        let Some(pid) = self.child.id() else {
            return (0, 0);
        };
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return (0, 0);
        };
        tasks
            .filter_map(Result::ok)
            .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
            .map(|text| schedstat(&text))
            .fold((0, 0), |(run, wait), (r, w)| (run + r, wait + w))
    }

    /// Stops the emulator and waits for it (killed after 10 s).
    async fn quit(mut self) {
        let _ = self.stdin.write_all(b"quit\n").await;
        let _ = self.stdin.flush().await;
        if timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// The child's side: `--emulator VENUE SOURCE SPEED QUEUE SEND_TIMEOUT_MS`, then one
/// command a line on stdin, one answer a line on stdout.
mod emulator {
    use super::BTC;
    use propbot_emulators::binance::BinanceHandle;
    use propbot_emulators::okx::OkxHandle;
    use propbot_emulators::{Emulator, EmulatorConfig, Source, Speed, binance, okx};
    use propbot_engine::model::Venue;
    use propbot_engine::{Config, Profile};
    use std::path::PathBuf;

    pub fn venue_name(venue: Venue) -> &'static str {
        match venue {
            Venue::Binance => "binance",
            Venue::Okx => "okx",
        }
    }

    enum Served {
        Binance(BinanceHandle),
        Okx(OkxHandle),
    }

    impl Served {
        fn emulator(&self) -> &Emulator {
            match self {
                Served::Binance(h) => h.emulator(),
                Served::Okx(h) => h.emulator(),
            }
        }

        fn finished(&self) -> bool {
            match self {
                Served::Binance(h) => h.finished(),
                Served::Okx(h) => h.finished(),
            }
        }

        fn published(&self, symbol: &str) -> u64 {
            let book = match self {
                Served::Binance(h) => h.published_book(symbol),
                Served::Okx(h) => h.published_book(symbol),
            };
            book.map_or(0, |b| b.last_update_id)
        }

        async fn shutdown(self) {
            match self {
                Served::Binance(h) => h.shutdown().await,
                Served::Okx(h) => h.shutdown().await,
            }
        }
    }

    pub fn main(args: &[String]) {
        let [venue, source, speed, queue, send_timeout_ms] = args else {
            panic!("--emulator VENUE SOURCE SPEED QUEUE SEND_TIMEOUT_MS, not {args:?}");
        };
        let venue = match venue.as_str() {
            "binance" => Venue::Binance,
            "okx" => Venue::Okx,
            other => panic!("no venue {other:?}"),
        };
        let engine = Config::embedded(Profile::Paper);
        let symbol = engine
            .listing(venue, BTC)
            .expect("a BTC listing")
            .symbol
            .clone();
        let mut config = EmulatorConfig::new(engine, 7);
        if source != "synthetic" {
            config.source = Source::Recording(vec![PathBuf::from(source)]);
        }
        config.speed = speed.parse().ok().and_then(Speed::new).expect("a speed");
        config.paused = true;
        config.instruments = vec![BTC];
        config.limits.frames_queued_max = queue.parse().expect("a queue length");
        let send_timeout_ms = send_timeout_ms.parse().expect("milliseconds");
        config.limits.send_timeout = std::time::Duration::from_millis(send_timeout_ms);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("the emulator's runtime");
        runtime.block_on(serve(venue, config, &symbol));
    }

    async fn serve(venue: Venue, config: EmulatorConfig, symbol: &str) {
        let served = match venue {
            Venue::Binance => Served::Binance(binance::serve(config).await.expect("serves")),
            Venue::Okx => Served::Okx(okx::serve(config).await.expect("serves")),
        };
        println!("listening {}", served.emulator().addr());
        // Commands are read on a thread of their own (blocking stdin), one a line.
        let (commands, mut lines) = tokio::sync::mpsc::channel::<String>(16);
        std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { break };
                if commands.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = lines.recv().await {
            let emulator = served.emulator();
            let mut words = line.split(' ');
            let reply = match words.next() {
                Some("resume") => {
                    emulator.resume();
                    "ok".to_owned()
                }
                Some("play") => {
                    let ms: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                    emulator.resume();
                    emulator.wait_until(emulator.now().plus_millis(ms)).await;
                    emulator.pause();
                    "ok".to_owned()
                }
                Some("drop") => {
                    emulator.drop_connections();
                    "ok".to_owned()
                }
                Some("stats") => {
                    format!(
                        "{} {} {}",
                        emulator.counters().frames_sent,
                        u8::from(served.finished()),
                        served.published(symbol),
                    )
                }
                Some("quit") => break,
                _ => format!("unknown command {line:?}"),
            };
            println!("{reply}");
        }
        served.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------
// Measuring the process.

/// CPU time this thread has run and waited for a CPU (run queue), ns
/// (`/proc/thread-self/schedstat`; zeros where there is none).
fn thread_cpu() -> (u64, u64) {
    schedstat(&std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default())
}

/// The first two fields of a `schedstat`: ns on a CPU, ns runnable in a run queue.
fn schedstat(text: &str) -> (u64, u64) {
    let mut fields = text
        .split_whitespace()
        .map(|f| f.parse::<u64>().unwrap_or(0));
    (fields.next().unwrap_or(0), fields.next().unwrap_or(0))
}

/// Times this thread was taken off its CPU while it could still run
/// (`nonvoluntary_ctxt_switches` of `/proc/thread-self/status`; 0 where there is none).
fn thread_preemptions() -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("nonvoluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// VmRSS and VmHWM of this process, kB (`/proc/self/status`; zeros where there is
/// none).
fn memory() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

// ---------------------------------------------------------------------------------
// The tables.

const GOAL_FRAMES_PER_SECOND: f64 = 50_000.0;
const GOAL_P99_MICROS: f64 = 100.0;

fn print_throughput(runs: &[Throughput]) {
    println!();
    println!(
        "(a) throughput: the recording at {TOP_SPEED}x into adapter + engine on one core \
         (goal >= {GOAL_FRAMES_PER_SECOND} frames/s)"
    );
    println!(
        "  {:<10} {:<7} {:>8} {:>7} {:>9} {:>5} {:>5} {:>5} {:>12} {:>8} {:>9} {:>7}  engine inputs: diffs/tickers/trades",
        "venue",
        "mode",
        "frames",
        "s",
        "frames/s",
        "MB/s",
        "cpu%",
        "wait%",
        "frames/cpu-s",
        "emu cpu%",
        "emu wait%",
        "RSS kB"
    );
    for t in runs {
        let c = &t.counts;
        println!(
            "  {:<10} {:<7} {:>8} {:>7.3} {:>9.0} {:>5.1} {:>5.0} {:>5.0} {:>12.0} {:>8.0} {:>9.0} {:>7}  {}/{}/{}  {}",
            t.venue.to_string(),
            t.mode.name(),
            t.frames,
            t.seconds,
            t.rate(),
            t.bytes as f64 / t.seconds / 1e6,
            100.0 * t.cpu_seconds / t.seconds,
            100.0 * t.wait_seconds / t.seconds,
            t.frames as f64 / t.cpu_seconds,
            100.0 * t.emulator_cpu_seconds / t.seconds,
            100.0 * t.emulator_wait_seconds / t.seconds,
            t.rss_kb,
            c.deltas,
            c.bbos,
            c.trades,
            t.verdict(),
        );
    }
    println!(
        "  every run without loss: frames written = frames read = engine inputs, 0 resyncs, 0 \
         reconnects, the engine's book valid at the venue's last update id"
    );
    println!(
        "  live: as the emulator publishes (the slower side bounds it); backlog: the whole \
         recording published first, then drained (the adapter and engine bound it)"
    );
    println!(
        "  cpu%: the adapter+engine thread on a CPU; wait%: runnable but waiting for one \
         (other processes); frames/cpu-s: frames per second of that thread's CPU time; \
         emu cpu%, emu wait%: the same for the emulator process (all its threads)"
    );
}

fn print_latency(runs: &[Latency]) {
    println!();
    println!(
        "(b) latency: frame received -> engine.handle at about {LATENCY_RATE} frames/s \
         (goal p99 <= {GOAL_P99_MICROS} us)"
    );
    println!(
        "  {:<10} {:>6} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>5} {:>5} {:>9}",
        "venue",
        "speed",
        "frames/s",
        "events",
        "p50 us",
        "p90 us",
        "p99 us",
        "p99.9",
        "max us",
        "cpu%",
        "wait%",
        "preempted"
    );
    for l in runs {
        let h = &l.latencies.all;
        let us = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1e3;
        println!(
            "  {:<10} {:>6.2} {:>8.0} {:>7} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>8.1} {:>5.1} {:>5.1} {:>9}  {}",
            l.venue.to_string(),
            l.speed,
            l.frames as f64 / l.seconds,
            h.len(),
            us(h, 0.5),
            us(h, 0.9),
            us(h, 0.99),
            us(h, 0.999),
            h.max() as f64 / 1e3,
            100.0 * l.cpu_seconds / l.seconds,
            100.0 * l.wait_seconds / l.seconds,
            l.preempted,
            verdict(us(h, 0.99) <= GOAL_P99_MICROS),
        );
        let kinds: Vec<String> = ["diffs", "tickers", "trades"]
            .iter()
            .zip(&l.latencies.kinds)
            .map(|(name, h)| format!("{name} p50 {:.1} p99 {:.1}", us(h, 0.5), us(h, 0.99)))
            .collect();
        println!("  {:<10} {}", "", kinds.join(", "));
        let lat = &l.latencies;
        println!(
            "  {:<10} nothing behind it: {} events, p50 {:.1} p99 {:.1}; later frames parsed \
             first: {} events, p50 {:.1} p99 {:.1} (up to {} behind)",
            "",
            lat.alone.len(),
            us(&lat.alone, 0.5),
            us(&lat.alone, 0.99),
            lat.ahead.len(),
            us(&lat.ahead, 0.5),
            us(&lat.ahead, 0.99),
            lat.behind_max,
        );
    }
    println!(
        "  preempted: times the adapter+engine thread was taken off its CPU while runnable \
         during the run (a preemption inside a frame's path adds a time slice to it)"
    );
}

fn print_reconnect(runs: &[Reconnect]) {
    println!();
    println!(
        "(c) reconnect: the emulator drops every connection; Disconnected -> Synced of the book connection"
    );
    for r in runs {
        let b = r.backoff;
        println!(
            "  {}: {} drops, synthetic market in real time, back-off {} ms less up to {:.0} % \
             jitter before the first retry",
            r.venue,
            r.cycles.len(),
            b.initial.as_millis(),
            b.jitter * 100.0
        );
        let ms = |pick: fn(&Cycle) -> u64| {
            let mut v: Vec<f64> = r.cycles.iter().map(|c| pick(c) as f64 / 1e6).collect();
            v.sort_by(f64::total_cmp);
            v
        };
        let row = |name: &str, v: Vec<f64>| {
            let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
            println!(
                "    {name:<28} min {:>7.1}  p50 {:>7.1}  p90 {:>7.1}  max {:>7.1} ms",
                at(0.0),
                at(0.5),
                at(0.9),
                at(1.0)
            );
        };
        row("disconnected -> synced", ms(|c| c.synced));
        row("  back-off (-> connecting)", ms(|c| c.connecting));
        row(
            "  connecting -> connected",
            ms(|c| c.connected - c.connecting),
        );
        row("  connected -> synced", ms(|c| c.synced - c.connected));
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}
