//! Paper trading on recordings: `propbot replay --recording PATH… [--speed max|1x|10x]`.
//!
//! The driver feeds recorded market messages, merged across files and venues by
//! receive time ([`propbot_recordings::MergedReader`]), to the production engine the
//! way a live driver does: the receive time is `now`; timers run at
//! [`Engine::poll_timeout`]; after every input the outputs are drained (journal records
//! first, then requests). The venues are the [`PaperExchange`] on the direct feed: each
//! recorded message moves its venue's book before the engine sees it (so taker orders
//! walk the recorded book and resting orders fill by the queue model), requests reach
//! the venues and answers come back after a fixed latency. The driver grants the
//! lease, reports both venues connected, samples their clocks every second and performs
//! the two-man resume (`alice` requests, `bob` confirms with the approval token),
//! retrying while something still blocks it, so the engine trades.
//!
//! Nothing here reads a clock except `--speed 1x|10x`, which sleeps to pace the replay
//! against the wall clock; decisions never depend on it. The same files, config, seed
//! and latency give the same engine digest, whatever the speed.

use crate::paper::{ExchangeOptions, Latency, MarketFeed, PaperExchange, Stepped};
use crate::rng::Seeds;
use crate::venue::VenueParams;
use propbot_engine::config::{STATUS_THRESHOLDS_YAML, StatusThresholds};
use propbot_engine::gateway::{Request, Response, VenueGateway};
use propbot_engine::input::{
    Input, LeaseEvent, OperatorAction, OperatorCommand, SystemEvent, VenueEvent,
};
use propbot_engine::ledger::PnlTotals;
use propbot_engine::model::Venue;
use propbot_engine::output::{JournalEvent, Mode, Output};
use propbot_engine::strategy::Blocked;
use propbot_engine::time::{NANOS_PER_MILLI, NANOS_PER_SECOND, UnixNanos};
use propbot_engine::{Config, Engine, Profile, RecoveredState};
use propbot_recordings::meta::Origin;
use propbot_recordings::progress::Progress;
use propbot_recordings::{OwnedMessage, Recording};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The approval token the replay driver configures and confirms with.
pub const APPROVAL_TOKEN: &str = "replay-approval-token";
/// Lease length granted to the engine; renewed every quarter of it.
const LEASE_TTL_NS: u64 = 10 * NANOS_PER_SECOND;
/// Clock samples per venue, every this often.
const CLOCK_EVERY_NS: u64 = NANOS_PER_SECOND;
/// First resume attempt after the start, and the pause between attempts.
const RESUME_AFTER_NS: u64 = 2 * NANOS_PER_SECOND;
/// Resume attempts before the driver gives up (the engine stays in HOLD).
const RESUME_ATTEMPTS_MAX: u32 = 60;
/// Output rounds per input before the driver stops draining (a bound).
const PUMP_ROUNDS_MAX: usize = 64;
/// After the last message, answers still in flight are delivered for this long.
const DRAIN_NS: u64 = NANOS_PER_SECOND;

/// How fast to replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speed {
    /// As fast as the machine goes.
    Max,
    /// `n` times real time (1 = real time), pacing with the wall clock.
    Times(u32),
}

impl Speed {
    /// Parses `max`, `1x`, `10x`, …
    pub fn parse(text: &str) -> Option<Speed> {
        if text == "max" {
            return Some(Speed::Max);
        }
        let n: u32 = text.strip_suffix('x')?.parse().ok()?;
        (n > 0).then_some(Speed::Times(n))
    }
}

/// Replay settings.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Engine configuration (its approval token is set to [`APPROVAL_TOKEN`]).
    pub config: Config,
    /// Pace.
    pub speed: Speed,
    /// Seed of the simulated venues' streams.
    pub seed: u64,
    /// Simulated venue behaviour.
    pub venue: VenueParams,
    /// One-way latency between the driver and a venue, for requests and answers.
    pub latency_ns: u64,
    /// Perform the two-man resume (otherwise the engine only watches, in HOLD).
    pub resume: bool,
    /// No progress bar.
    pub quiet: bool,
}

impl ReplayOptions {
    /// The shipped paper profile, max speed, seed 0, 1 ms latency, resume on.
    pub fn paper() -> ReplayOptions {
        ReplayOptions {
            config: Config::embedded(Profile::Paper),
            speed: Speed::Max,
            seed: 0,
            venue: VenueParams::default(),
            latency_ns: NANOS_PER_MILLI,
            resume: true,
            quiet: true,
        }
    }
}

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A recording file is missing, foreign, truncated or inconsistent.
    #[error(transparent)]
    Recording(#[from] propbot_recordings::Error),
    /// The recording does not fit the configuration.
    #[error(transparent)]
    Map(#[from] propbot_market::tape::MapError),
    /// The `--config` file is unreadable or invalid.
    #[error("{0}")]
    Config(String),
}

/// What a replay did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplaySummary {
    /// Streams replayed: name, source, and each venue's origin.
    pub streams: Vec<(String, String, BTreeMap<Venue, Origin>)>,
    /// Rows decoded (the recording's events).
    pub rows: u64,
    /// Rows of instruments not in the configuration, skipped.
    pub rows_skipped: u64,
    /// Market messages handed to the engine.
    pub messages: u64,
    /// Recorded time replayed, ns.
    pub recorded_ns: u64,
    /// Times a direction's net edge rose to its threshold (before risk).
    pub opportunities: u64,
    /// Decisions the strategy took (entries, exits, maker orders).
    pub decisions: u64,
    /// Orders sent (places and reduce-only flattens).
    pub orders: u64,
    /// Of which reduce-only flattens.
    pub flattens: u64,
    /// Fills reported by the simulated venues.
    pub fills: u64,
    /// PnL at the end, at the engine's marks.
    pub pnl: PnlTotals,
    /// Time spent in HOLD, ns of recorded time.
    pub hold_ns: u64,
    /// Mode at the end.
    pub final_mode: Option<Mode>,
    /// Who put the engine in HOLD last and why, when it ends in HOLD.
    pub hold_reason: Option<String>,
    /// When the two-man resume took effect.
    pub resumed_at: Option<UnixNanos>,
    /// The engine's digest.
    pub digest: String,
    /// Wall time, s.
    pub wall_s: f64,
}

impl ReplaySummary {
    /// The summary as printed at the end of `propbot replay`; the last line is
    /// `digest: <hex>`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let usd = |n: propbot_engine::model::Notional| format!("{:.4}", n.to_f64());
        out.push_str(&format!("replay of {} stream(s):\n", self.streams.len()));
        for (name, source, venues) in &self.streams {
            let venues: Vec<String> = venues
                .iter()
                .map(|(v, o)| match o {
                    Origin::Real => format!("{v} real"),
                    other => format!("{v} {} (not real)", other.name().to_uppercase()),
                })
                .collect();
            out.push_str(&format!("  {name}: {} — {source}\n", venues.join(", ")));
        }
        let secs = self.recorded_ns as f64 / 1e9;
        out.push_str(&format!(
            "events:        {} rows as {} engine inputs over {:.1} s of recording{}\n",
            self.rows,
            self.messages,
            secs,
            if self.rows_skipped > 0 {
                format!(
                    " ({} rows of unconfigured instruments skipped)",
                    self.rows_skipped
                )
            } else {
                String::new()
            }
        ));
        out.push_str(&format!(
            "opportunities: {} (net edge at or above threshold, before risk); decisions {}\n",
            self.opportunities, self.decisions
        ));
        out.push_str(&format!(
            "orders:        {} sent ({} reduce-only flattens); fills {}\n",
            self.orders, self.flattens, self.fills
        ));
        out.push_str(&format!(
            "pnl:           net {} USDT (realized {}, unrealized {}, fees {}); gross exposure {}\n",
            usd(self.pnl.net),
            usd(self.pnl.realized),
            usd(self.pnl.unrealized),
            usd(self.pnl.fees),
            usd(self.pnl.gross_exposure)
        ));
        let hold_s = self.hold_ns as f64 / 1e9;
        out.push_str(&format!(
            "time in HOLD:  {hold_s:.1} s of {secs:.1} s ({:.1} %); mode at end {}{}\n",
            100.0 * hold_s / secs.max(1e-9),
            self.final_mode.map_or("?", |m| m.name()),
            self.hold_reason
                .as_ref()
                .map(|r| format!(" (by {r})"))
                .unwrap_or_default()
        ));
        out.push_str(&format!(
            "wall:          {:.3} s, {:.0} events/s ({:.0} engine inputs/s)\n",
            self.wall_s,
            self.rows as f64 / self.wall_s.max(1e-9),
            self.messages as f64 / self.wall_s.max(1e-9)
        ));
        out.push_str(&format!("digest: {}\n", self.digest));
        out
    }
}

/// Work the driver schedules for itself (what travels to and from the venues waits in
/// the paper exchange).
#[derive(Clone, Copy, Debug)]
enum Task {
    /// Clock samples of both venues.
    Clock,
    /// Lease renewal.
    Lease,
    /// A two-man resume attempt.
    Resume(u32),
}

/// Replays `paths` through the engine against simulated venues.
pub fn replay(paths: &[PathBuf], options: &ReplayOptions) -> Result<ReplaySummary, ReplayError> {
    let recording = Recording::open(paths)?;
    let maps = propbot_market::tape::instrument_maps(&recording, &options.config)?;
    let mut reader = recording.reader(Some(maps));
    let progress = Progress::new(recording.rows(), "events", options.quiet);
    let mut summary = ReplaySummary {
        streams: recording
            .streams
            .iter()
            .map(|s| (s.name.clone(), s.source().to_owned(), s.venues()))
            .collect(),
        ..ReplaySummary::default()
    };
    let started = wall_clock();
    let Some((_, first)) = reader.next()? else {
        summary.final_mode = Some(Mode::Hold);
        return Ok(summary);
    };
    let t0 = first.ts_recv;
    let mut driver = Driver::new(options, t0);
    let pace = Pace::new(options.speed, t0);
    driver.deliver_market(first);
    let mut last = t0;
    while let Some((_, m)) = reader.next()? {
        // Whatever is due before the message happens first (ties: the driver's work).
        driver.run_until(m.ts_recv, false);
        pace.wait(m.ts_recv);
        driver.deliver_market(m);
        last = m.ts_recv;
        if driver.messages.is_multiple_of(1 << 12) {
            progress.set(reader.rows_read());
        }
    }
    driver.run_until(last.plus_nanos(DRAIN_NS), true);
    progress.finish();
    summary.rows = reader.rows_read();
    summary.rows_skipped = reader.rows_skipped();
    summary.wall_s = started.elapsed().as_secs_f64();
    driver.finish(&mut summary, last.nanos_since(t0));
    Ok(summary)
}

/// Wall time, for pacing and reporting only (never an engine input).
#[allow(clippy::disallowed_methods)]
fn wall_clock() -> std::time::Instant {
    std::time::Instant::now()
}

/// Paces `--speed 1x|10x` against the wall clock.
struct Pace {
    speed: Speed,
    t0: UnixNanos,
    wall0: std::time::Instant,
}

impl Pace {
    fn new(speed: Speed, t0: UnixNanos) -> Pace {
        Pace {
            speed,
            t0,
            wall0: wall_clock(),
        }
    }

    fn wait(&self, t: UnixNanos) {
        let Speed::Times(n) = self.speed else {
            return;
        };
        let due = std::time::Duration::from_nanos(t.nanos_since(self.t0) / u64::from(n));
        let elapsed = self.wall0.elapsed();
        if due > elapsed + std::time::Duration::from_micros(500) {
            std::thread::sleep(due - elapsed);
        }
    }
}

/// The engine, the paper exchange and the driver's schedule.
struct Driver {
    engine: Engine,
    exchange: PaperExchange,
    /// The driver's own work; its tie-break numbers come from the exchange, so that
    /// work due at the same instant keeps the order in which it was scheduled.
    tasks: BTreeMap<(UnixNanos, u64), Task>,
    now: UnixNanos,
    command_id: u64,
    pending_request: Option<u64>,
    /// Epoch the replay's lease service grants (grows when the engine resigns one).
    lease_epoch: u32,
    outputs: Vec<Output>,
    /// Per pair and direction: whether the edge was at or above threshold.
    above: Vec<[bool; 2]>,
    mode: Mode,
    hold_since: Option<UnixNanos>,
    hold_ns: u64,
    resumed_at: Option<UnixNanos>,
    messages: u64,
    opportunities: u64,
    orders: u64,
    flattens: u64,
    fills: u64,
}

impl Driver {
    fn new(options: &ReplayOptions, t0: UnixNanos) -> Driver {
        let mut config = options.config.clone();
        config.control.set_approval_token(APPROVAL_TOKEN);
        // The recording is the market: the driver publishes it to the exchange and
        // hands it to the engine itself.
        let exchange = PaperExchange::new(
            &config,
            ExchangeOptions {
                venue: options.venue.clone(),
                latency: Latency::fixed(options.latency_ns),
                feed: MarketFeed::Direct,
                clients: 1,
            },
            None,
            &Seeds::new(options.seed),
        );
        let recovered = RecoveredState::empty(&config);
        let pairs = config.strategy.instruments.len();
        let mut d = Driver {
            engine: Engine::new(config, recovered),
            exchange,
            tasks: BTreeMap::new(),
            now: t0,
            command_id: 0,
            pending_request: None,
            lease_epoch: 1,
            outputs: Vec::with_capacity(64),
            above: vec![[false; 2]; pairs],
            mode: Mode::Hold,
            hold_since: Some(t0),
            hold_ns: 0,
            resumed_at: None,
            messages: 0,
            opportunities: 0,
            orders: 0,
            flattens: 0,
            fills: 0,
        };
        d.boot(options.resume);
        d
    }

    /// The adapter comes up: lease, links, first clock samples; periodic work.
    fn boot(&mut self, resume: bool) {
        self.pump();
        self.grant_lease();
        for (venue, response) in self.exchange.opening_events(self.now) {
            self.input(response.as_input(venue));
        }
        self.sample_clocks();
        let now = self.now;
        self.schedule(now.plus_nanos(CLOCK_EVERY_NS), Task::Clock);
        self.schedule(now.plus_nanos(LEASE_TTL_NS / 4), Task::Lease);
        self.exchange.start(now);
        if resume {
            self.schedule(now.plus_nanos(RESUME_AFTER_NS), Task::Resume(0));
        }
    }

    fn schedule(&mut self, at: UnixNanos, task: Task) {
        let sequence = self.exchange.next_sequence();
        self.tasks.insert((at.max(self.now), sequence), task);
    }

    /// Moves time to `t`, running the engine's timers that fall due on the way.
    fn advance(&mut self, t: UnixNanos) {
        while let Some(due) = self.engine.poll_timeout()
            && due <= t
        {
            self.now = due.max(self.now);
            self.engine.handle_timeout(self.now);
            self.pump();
        }
        self.now = t.max(self.now);
    }

    /// Runs the driver's work and the exchange's up to and including `until`, in
    /// `(time, sequence)` order; at the end of the recording only what is in flight
    /// (the driver's periodic work and venue housekeeping stop).
    fn run_until(&mut self, until: UnixNanos, ending: bool) {
        if ending {
            self.tasks.clear();
            self.exchange.stop_housekeeping();
        }
        loop {
            let task = self.tasks.first_key_value().map(|(k, _)| *k);
            let Some(next) = [task, self.exchange.next_due()].into_iter().flatten().min() else {
                break;
            };
            if next.0 > until {
                break;
            }
            self.advance(next.0);
            if task == Some(next) {
                let task = self.tasks.remove(&next).expect("present");
                self.run(task);
            } else if let Some(Stepped::Delivered(d)) = self.exchange.step(next.0).map(|s| s.what) {
                let venue = d.venue;
                self.answer(venue, d.into_response(self.now));
            }
        }
        if !ending {
            self.advance(until);
        }
    }

    fn run(&mut self, task: Task) {
        let now = self.now;
        match task {
            Task::Clock => {
                self.sample_clocks();
                self.schedule(now.plus_nanos(CLOCK_EVERY_NS), Task::Clock);
            }
            Task::Lease => {
                self.grant_lease();
                self.schedule(now.plus_nanos(LEASE_TTL_NS / 4), Task::Lease);
            }
            Task::Resume(attempt) => self.resume(attempt),
        }
    }

    /// A recorded market message: the venue's book first, then the engine.
    fn deliver_market(&mut self, m: &OwnedMessage) {
        self.advance(m.ts_recv);
        if let Some(update) = m.market_update() {
            self.exchange.publish(self.now, update);
        }
        self.messages += 1;
        self.engine
            .handle(self.now, Input::Market(m.market_event()));
        self.pump();
        self.count_opportunities();
    }

    fn count_opportunities(&mut self) {
        for (p, pair) in self.engine.pairs().iter().enumerate() {
            for d in 0..2 {
                let opp = &pair.opportunities[d];
                let above = !matches!(
                    opp.blocked,
                    Some(
                        Blocked::BookInvalid
                            | Blocked::BookStale
                            | Blocked::NoQuote
                            | Blocked::BelowThreshold
                    )
                ) && !opp.updated_at.is_zero();
                if above && !self.above[p][d] {
                    self.opportunities += 1;
                }
                self.above[p][d] = above;
            }
        }
    }

    fn answer(&mut self, venue: Venue, response: Response) {
        if matches!(&response, Response::Execution(r)
            if matches!(r.kind, propbot_engine::input::ExecutionKind::Fill { .. }))
        {
            self.fills += 1;
        }
        self.input(response.as_input(venue));
    }

    fn input(&mut self, input: Input<'_>) {
        self.engine.handle(self.now, input);
        self.pump();
    }

    fn grant_lease(&mut self) {
        self.input(Input::Lease(LeaseEvent::Granted {
            epoch: self.lease_epoch,
            requested_at: self.now,
            ttl_ns: LEASE_TTL_NS,
        }));
    }

    /// Both venues' clocks as the adapter samples them (the replay's clock is the
    /// recording's: the offset is zero, the round trip two latencies).
    fn sample_clocks(&mut self) {
        for venue in Venue::ALL {
            let kind = self.exchange.clock_sample(self.now, venue);
            self.input(Input::Venue(VenueEvent { venue, kind }));
        }
    }

    /// The two-man resume: alice asks, bob confirms with the token, bob resumes.
    fn resume(&mut self, attempt: u32) {
        if self.engine.control().mode == Mode::Run {
            return;
        }
        self.pending_request = None;
        self.operator(
            "alice",
            OperatorAction::ResumeRequest {
                reason: "replay: paper trading on a recording".into(),
            },
        );
        if let Some(request_id) = self.pending_request {
            self.operator(
                "bob",
                OperatorAction::ResumeConfirm {
                    request_id,
                    token: APPROVAL_TOKEN.into(),
                },
            );
            self.operator("bob", OperatorAction::Resume);
        }
        if self.engine.control().mode != Mode::Run && attempt + 1 < RESUME_ATTEMPTS_MAX {
            let at = self.now.plus_nanos(NANOS_PER_SECOND);
            self.schedule(at, Task::Resume(attempt + 1));
        }
    }

    fn operator(&mut self, actor: &str, action: OperatorAction) {
        self.command_id += 1;
        self.input(Input::Operator(OperatorCommand {
            command_id: self.command_id,
            actor: actor.into(),
            action,
        }));
    }

    /// The live driver loop after an input: journal records first (acknowledged as
    /// committed), then every request goes out.
    fn pump(&mut self) {
        for _ in 0..PUMP_ROUNDS_MAX {
            let mut outputs = std::mem::take(&mut self.outputs);
            while let Some(o) = self.engine.poll_output() {
                outputs.push(o);
            }
            if outputs.is_empty() {
                self.outputs = outputs;
                return;
            }
            let mut through = None;
            for o in &outputs {
                if let Output::Journal(r) = o {
                    through = Some(r.sequence);
                    if let JournalEvent::Control { to, .. } = &r.event {
                        self.on_mode(*to);
                    }
                }
            }
            for o in outputs.drain(..) {
                self.dispatch(o);
            }
            self.outputs = outputs;
            if let Some(through) = through {
                self.engine.handle(
                    self.now,
                    Input::System(SystemEvent::JournalCommitted {
                        through,
                        latency_ns: 0,
                    }),
                );
            }
        }
    }

    fn on_mode(&mut self, to: Mode) {
        match (self.mode, to) {
            (Mode::Hold, Mode::Run) => {
                if let Some(since) = self.hold_since.take() {
                    self.hold_ns += self.now.nanos_since(since);
                }
                self.resumed_at.get_or_insert(self.now);
            }
            (Mode::Run, Mode::Hold) => self.hold_since = Some(self.now),
            _ => {}
        }
        self.mode = to;
    }

    fn dispatch(&mut self, output: Output) {
        match &output {
            Output::Place(_) => self.orders += 1,
            Output::Flatten(_) => {
                self.orders += 1;
                self.flattens += 1;
            }
            Output::Reply(reply) => {
                if let Ok(a) = &reply.result
                    && let Some(id) = a.request_id
                {
                    self.pending_request = Some(id);
                }
            }
            Output::ReleaseLease { epoch } => {
                // The replay is its own lease service: an epoch given back is never
                // granted again; the next renewal grants a newer one.
                self.lease_epoch = self.lease_epoch.max(epoch.saturating_add(1));
            }
            _ => {}
        }
        let Some((venue, request)) = Request::for_output(output) else {
            return;
        };
        self.exchange.submit(self.now, venue, request);
    }

    fn finish(mut self, summary: &mut ReplaySummary, recorded_ns: u64) {
        if let Some(since) = self.hold_since.take() {
            self.hold_ns += self.now.nanos_since(since);
        }
        summary.messages = self.messages;
        summary.recorded_ns = recorded_ns;
        summary.opportunities = self.opportunities;
        summary.decisions = self.engine.pairs().iter().map(|p| p.decisions).sum();
        summary.orders = self.orders;
        summary.flattens = self.flattens;
        summary.fills = self.fills;
        summary.pnl = self.engine.pnl();
        summary.hold_ns = self.hold_ns;
        let control = self.engine.control();
        summary.final_mode = Some(control.mode);
        if control.mode == Mode::Hold {
            summary.hold_reason = Some(format!("{}: {}", control.hold_actor, control.hold_reason));
        }
        summary.resumed_at = self.resumed_at;
        summary.digest = self.engine.digest_hex();
    }
}

/// `propbot replay --recording PATH… [--speed max|1x|10x] …`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Recording files or directories (several venues merge by receive time).
    #[arg(long, value_name = "PATH", num_args = 1.., required = true)]
    pub recording: Vec<PathBuf>,
    /// max, 1x (real time), 10x, …
    #[arg(long, value_name = "S", value_parser = speed_arg, default_value = "max")]
    pub speed: Speed,
    /// Seed of the simulated venues.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// One-way latency to the simulated venues, ms.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub latency_ms: u64,
    /// Engine configuration (default: the shipped paper profile).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Do not perform the two-man resume: the engine watches in HOLD.
    #[arg(long)]
    pub no_resume: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `propbot replay` on its own: the `replay` example and tests parse with it.
#[derive(Debug, clap::Parser)]
#[command(
    name = "replay",
    about = "Paper-trade a recording through the engine against simulated venues."
)]
pub struct ReplayCli {
    /// The replay's arguments.
    #[command(flatten)]
    pub args: ReplayArgs,
}

impl ReplayArgs {
    /// The replay settings these arguments ask for; an error when the `--config` file
    /// is unreadable or invalid.
    pub fn options(&self) -> Result<ReplayOptions, String> {
        let mut options = ReplayOptions::paper();
        options.speed = self.speed;
        options.seed = self.seed;
        options.latency_ns = self.latency_ms * NANOS_PER_MILLI;
        options.resume = !self.no_resume;
        options.quiet = self.quiet;
        if let Some(path) = &self.config {
            options.config = load_config(path)?;
        }
        Ok(options)
    }
}

fn speed_arg(text: &str) -> Result<Speed, String> {
    Speed::parse(text).ok_or_else(|| format!("{text:?}: use max, 1x, 10x, …"))
}

fn load_config(path: &Path) -> Result<Config, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    let status =
        StatusThresholds::from_yaml(STATUS_THRESHOLDS_YAML).map_err(|e| format!("{e:?}"))?;
    Config::from_yaml(&text, status).map_err(|e| format!("{shown}: {e}"))
}

/// Runs a parsed `propbot replay` and returns the process exit code: 0 after a replay
/// (the summary ends with `digest: <hex>`), 1 when the recording cannot be replayed
/// (the error names the file and position), 2 when the `--config` file cannot be used.
/// Bad usage never gets here: clap refuses it with exit code 2.
pub fn cli_run(args: ReplayArgs) -> i32 {
    let options = match args.options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("propbot replay: {message}");
            return 2;
        }
    };
    match replay(&args.recording, &options) {
        Ok(summary) => {
            print!("{}", summary.render());
            0
        }
        Err(e) => {
            eprintln!("propbot replay: error: {e}");
            1
        }
    }
}
