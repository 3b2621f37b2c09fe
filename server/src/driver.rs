//! The engine task: the one place the [`Engine`] lives, and the write-ahead loop.
//!
//! ```text
//! loop {
//!     wait  ← for a control command, a venue event, the engine's next timer or a
//!             lease renewal, whichever comes first
//!     take  ← every control command waiting (operator commands, audits, shutdown:
//!             their own bounded channel), THEN up to BATCH_MAX venue events
//!     now   ← the wall clock, read once (never backwards)
//!     handle(now, command) for each command, then handle(now, event) for each
//!     event: a HOLD is applied in the turn it is first seen, never behind a market
//!     burst; handle_timeout(now) when poll_timeout() is due
//!     drain outputs → Journal records, audit entries and config versions of the turn
//!                     are committed in ONE SQLite transaction (synchronous=FULL)
//!                   → JournalCommitted{through} goes back to the engine
//!     only then: orders, cancels, lookups, dead-man arms… go to the venues
//!     publish a status snapshot (every SNAPSHOT_EVERY, or at once after a command)
//!     answer the operator commands of the turn (after their records are durable)
//! }
//! ```
//!
//! A journal write failure is fed back as `JournalFailed` (the engine HOLDs and asks
//! for cancel-alls, which are still carried out) and stops the task: the service exits
//! rather than trade without a journal.
//!
//! The task runs on its own OS thread with a current-thread runtime, so SQLite's
//! `fsync`s never stall the HTTP workers, and HTTP load never starves the engine.

use crate::clock::MonotonicClock;
use crate::journal::{AuditEntry, Batch, ConfigVersion, Head, Journal, JournalError};
use crate::secrets::Identity;
use crate::view::{self, Snapshot, StreamEvent, ViewContext};
use propbot_engine::config::Config;
use propbot_engine::gateway::{MarketUpdate, Request};
use propbot_engine::input::{
    ExecutionReport, LeaseEvent, OperatorAction, OperatorCommand, ReconSnapshot, SystemEvent,
    VenueEvent,
};
use propbot_engine::model::Venue;
use propbot_engine::output::{Accepted, JournalEvent, Output, Refusal, RefusalCode};
use propbot_engine::time::{NANOS_PER_MILLI, NANOS_PER_SECOND};
use propbot_engine::{Engine, Input, UnixNanos};
use propbot_venues::SyncEvent;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// Capacity of the engine's venue-event channel (market data, execution reports,
/// venue signals, reconciliations). Producers wait when it is full (back-pressure);
/// its depth is reported to the engine as `InputBacklog`.
pub const INPUTS_MAX: usize = 8_192;
/// Capacity of the control channel (operator commands, audit entries, shutdown). It
/// is read before venue events on every turn; an API call that finds it full waits
/// (up to its timeout) and then answers 503.
pub const CONTROL_MAX: usize = 256;
/// Events taken per loop turn at most.
pub const BATCH_MAX: usize = 256;
/// Status snapshots are published at least this often.
pub const SNAPSHOT_EVERY: Duration = Duration::from_millis(200);
/// Lease time to live; renewed every third of it while the file lock is held.
pub const LEASE_TTL_NS: u64 = 30 * NANOS_PER_SECOND;
/// On shutdown, open orders are given this long to be confirmed cancelled.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);
/// Alerts kept for `/api/ui/alerts`.
pub const ALERT_HISTORY_MAX: usize = 500;

/// What the venues send the engine task (the venue-event channel).
#[derive(Debug)]
pub enum Event {
    /// A market update (paper source).
    Market(MarketUpdate),
    /// Live market data from a venue's sync machine (shadow trading): books, best
    /// bid/offer, trades, and resyncs (an invalid book).
    Live(SyncEvent),
    /// A report about one of our orders.
    Execution(ExecutionReport),
    /// A venue signal.
    Venue(VenueEvent),
    /// A venue's account for reconciliation.
    Recon(ReconSnapshot),
}

/// What operators and the service send the engine task (the control channel, read
/// first on every turn).
#[derive(Debug)]
pub enum Control {
    /// An operator command from the API, CLI or dashboard.
    Command(Command),
    /// An audit entry to persist (refused API calls).
    Audit(AuditEntry),
    /// SIGTERM/SIGINT: HOLD, cancel open orders, flush, stop.
    Shutdown,
}

/// An operator command and where to send its answer.
#[derive(Debug)]
pub struct Command {
    /// Who (the authenticated token's name is the actor).
    pub identity: Identity,
    /// What.
    pub kind: CommandKind,
    /// Receives the outcome once its journal records are durable.
    pub reply: oneshot::Sender<Outcome>,
}

/// Commands.
#[derive(Debug)]
pub enum CommandKind {
    /// An engine operator action.
    Operator(OperatorAction),
    /// A validated config to hot-apply (`kind` is `apply` or `rollback`).
    Config {
        /// The YAML text.
        yaml: String,
        /// It, validated.
        config: Box<Config>,
        /// `apply` or `rollback`.
        kind: &'static str,
    },
}

/// The answer to a command.
#[derive(Debug)]
pub struct Outcome {
    /// The engine's reply.
    pub result: Result<Accepted, Refusal>,
    /// For config applies: the version applied and the token that rolls it back.
    pub config: Option<(u64, String)>,
    /// The loop turn (counted from 1 since start) that handled and answered it: a
    /// command is handled in the turn that first sees it, ahead of market data.
    pub turn: u64,
}

/// Counters the engine task shares with the API and the benchmark.
#[derive(Debug, Default)]
pub struct Counters {
    /// Events handled by the engine.
    pub events: AtomicU64,
    /// Market events handled.
    pub market_events: AtomicU64,
    /// Loop turns.
    pub turns: AtomicU64,
    /// Venue requests dropped because the venue queue was full.
    pub venue_requests_dropped: AtomicU64,
    /// Journal batches committed.
    pub commits: AtomicU64,
}

/// What the task needs to run.
pub struct EngineTask {
    /// The engine.
    pub engine: Engine,
    /// The journal writer.
    pub journal: Journal,
    /// The clock (floored at the journal's last time).
    pub clock: MonotonicClock,
    /// Venue-event channel.
    pub inputs: mpsc::Receiver<Event>,
    /// Control channel: read before venue events.
    pub control: mpsc::Receiver<Control>,
    /// Requests for the venues (the venue gateway's task takes them).
    pub venues: mpsc::Sender<(Venue, Request)>,
    /// Lease epoch of this run.
    pub epoch: u32,
    /// Publishes status snapshots.
    pub snapshots: watch::Sender<Arc<Snapshot>>,
    /// Live events for the WebSocket stream.
    pub stream: broadcast::Sender<StreamEvent>,
    /// Shared counters.
    pub counters: Arc<Counters>,
    /// The YAML in force (the backup a config apply stores).
    pub current_yaml: String,
    /// Static facts for the views.
    pub context: ViewContext,
}

struct Pending {
    reply: oneshot::Sender<Outcome>,
    identity: Identity,
    action: String,
    config: Option<ConfigVersion>,
}

/// How the task ended.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The journal could not be written; trading stopped.
    #[error("journal write failed, trading stopped: {0}")]
    Journal(#[from] JournalError),
}

/// What a clean stop did with open orders.
#[derive(Debug)]
pub struct StopReport {
    /// Orders still open when the drain timed out.
    pub left_open: usize,
    /// Head of the journal at exit.
    pub head: Head,
}

/// What one loop turn collects before it commits.
struct Turn {
    batch: Batch,
    actions: Vec<Output>,
    replies: Vec<(propbot_engine::output::Reply, Option<(u64, String)>)>,
}

struct Loop {
    task: EngineTask,
    pending: BTreeMap<u64, Pending>,
    next_command: u64,
    next_renew: UnixNanos,
    last_publish: Instant,
    publish_now: bool,
    step_us: hdrhistogram::Histogram<u64>,
    commit_us: hdrhistogram::Histogram<u64>,
    alerts: VecDeque<serde_json::Value>,
    draining_until: Option<Instant>,
    /// The engine resigned its epoch (it fenced itself, e.g. after a stall longer than
    /// half the lease): the next turn takes a new, journaled epoch.
    lease_released: bool,
}

impl EngineTask {
    /// Runs the loop until shutdown (Ok) or a journal failure (Err).
    pub async fn run(self) -> Result<StopReport, DriverError> {
        let mut l = Loop {
            task: self,
            pending: BTreeMap::new(),
            next_command: 1,
            next_renew: UnixNanos::ZERO,
            last_publish: Instant::now(),
            publish_now: true,
            step_us: hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 2).expect("bounds"),
            commit_us: hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 2).expect("bounds"),
            alerts: VecDeque::new(),
            draining_until: None,
            lease_released: false,
        };
        // The engine's boot records (Started) are made durable before anything else.
        let now = l.task.clock.now();
        l.settle(now)?;
        let mut intake = Intake::new();
        loop {
            if !l.wait(&mut intake).await {
                // Every control sender is gone: the service is going down.
                return l.stop();
            }
            let started = Instant::now();
            let now = l.task.clock.now();
            l.turn(now, &mut intake)?;
            let _ = l.step_us.record(started.elapsed().as_micros() as u64);
            l.task.counters.turns.fetch_add(1, Ordering::Relaxed);
            if let Some(until) = l.draining_until {
                let open = l.task.engine.orders().filter(|o| o.is_live()).count();
                if open == 0 || Instant::now() >= until {
                    return l.stop();
                }
            }
        }
    }
}

/// What one turn takes in: the control commands first, then venue events.
struct Intake {
    controls: Vec<Control>,
    batch: Vec<Event>,
    /// The venue task may end (the paper world stopped); commands and timers go on.
    inputs_open: bool,
}

impl Intake {
    fn new() -> Intake {
        Intake {
            controls: Vec::with_capacity(CONTROL_MAX),
            batch: Vec::with_capacity(BATCH_MAX),
            inputs_open: true,
        }
    }
}

impl Loop {
    /// Waits for a control command, a venue event or the next due time, then takes
    /// what is waiting. False when every control sender is gone.
    async fn wait(&mut self, intake: &mut Intake) -> bool {
        let wake = self.wake_at();
        intake.controls.clear();
        intake.batch.clear();
        let inputs_open = intake.inputs_open;
        tokio::select! {
            biased;
            n = self.task.control.recv_many(&mut intake.controls, CONTROL_MAX) => {
                if n == 0 {
                    return false;
                }
            }
            n = self.task.inputs.recv_many(&mut intake.batch, BATCH_MAX), if inputs_open => {
                if n == 0 {
                    intake.inputs_open = false;
                }
            }
            () = tokio::time::sleep_until(wake.into()) => {}
        }
        self.take_waiting(intake);
        true
    }

    /// Takes, without waiting, every control command that has arrived, then venue
    /// events up to `BATCH_MAX`: whatever woke the loop, a command that arrived
    /// behind a market burst is handled in this turn, before the burst.
    fn take_waiting(&mut self, intake: &mut Intake) {
        while intake.controls.len() < CONTROL_MAX {
            match self.task.control.try_recv() {
                Ok(c) => intake.controls.push(c),
                Err(_) => break,
            }
        }
        while intake.inputs_open && intake.batch.len() < BATCH_MAX {
            match self.task.inputs.try_recv() {
                Ok(e) => intake.batch.push(e),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => intake.inputs_open = false,
            }
        }
    }

    fn wake_at(&self) -> Instant {
        let now = crate::clock::wall_clock();
        let mut due = self.next_renew;
        if let Some(t) = self.task.engine.poll_timeout() {
            due = due.min(t);
        }
        let in_ns = Duration::from_nanos(due.nanos_since(now));
        let publish = self.last_publish + SNAPSHOT_EVERY;
        (Instant::now() + in_ns).min(publish)
    }

    fn turn(&mut self, now: UnixNanos, intake: &mut Intake) -> Result<(), DriverError> {
        let depth = self.task.inputs.len() as u32;
        self.task.engine.handle(
            now,
            Input::System(SystemEvent::InputBacklog {
                depth,
                capacity: INPUTS_MAX as u32,
            }),
        );
        if self.lease_released {
            // Single host: the file lock is still ours, but an epoch once given up is
            // never reused. Take a new one (durable before it is granted); the engine
            // stays in HOLD until a two-man resume.
            self.lease_released = false;
            let epoch = self
                .task
                .journal
                .begin_lease(self.task.epoch, now.0)
                .map_err(DriverError::Journal)?;
            tracing::warn!(
                old = self.task.epoch,
                new = epoch,
                "engine resigned its lease epoch; taking a new epoch"
            );
            self.task.epoch = epoch;
            self.next_renew = now;
        }
        if now >= self.next_renew {
            self.next_renew = now.plus_nanos(LEASE_TTL_NS / 3);
            self.task.engine.handle(
                now,
                Input::Lease(LeaseEvent::Granted {
                    epoch: self.task.epoch,
                    requested_at: now,
                    ttl_ns: LEASE_TTL_NS,
                }),
            );
        }
        let mut audits = Vec::new();
        for control in intake.controls.drain(..) {
            self.control(now, control, &mut audits);
        }
        for event in intake.batch.drain(..) {
            self.feed(now, event);
        }
        if self.task.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.task.engine.handle_timeout(now);
        }
        self.settle_with(now, audits)
    }

    fn feed(&mut self, now: UnixNanos, event: Event) {
        let engine = &mut self.task.engine;
        let counters = &self.task.counters;
        counters.events.fetch_add(1, Ordering::Relaxed);
        match event {
            Event::Market(update) => {
                counters.market_events.fetch_add(1, Ordering::Relaxed);
                engine.handle(now, update.as_input());
            }
            Event::Live(event) => {
                counters.market_events.fetch_add(1, Ordering::Relaxed);
                engine.handle(now, event.as_input());
            }
            Event::Execution(report) => engine.handle(now, Input::Execution(report)),
            Event::Venue(v) => engine.handle(now, Input::Venue(v)),
            Event::Recon(snap) => engine.handle(now, Input::Reconciliation(&snap)),
        }
    }

    fn control(&mut self, now: UnixNanos, control: Control, audits: &mut Vec<AuditEntry>) {
        self.task.counters.events.fetch_add(1, Ordering::Relaxed);
        match control {
            Control::Audit(entry) => audits.push(entry),
            Control::Command(command) => self.command(now, command),
            Control::Shutdown => {
                if self.draining_until.is_none() {
                    tracing::info!(
                        "shutdown: entering HOLD and cancelling every open order (policy: cancel), \
                         waiting up to {}s for confirmations",
                        SHUTDOWN_DRAIN.as_secs()
                    );
                    self.draining_until = Some(Instant::now() + SHUTDOWN_DRAIN);
                    let (reply, _) = oneshot::channel();
                    let identity = Identity {
                        name: "shutdown".into(),
                        role: crate::secrets::Role::Operator,
                        anonymous: false,
                    };
                    let kind = CommandKind::Operator(OperatorAction::Hold {
                        reason: "service shutdown (SIGTERM/SIGINT): open orders cancelled".into(),
                    });
                    self.command(
                        now,
                        Command {
                            identity,
                            kind,
                            reply,
                        },
                    );
                }
            }
        }
    }

    fn command(&mut self, now: UnixNanos, command: Command) {
        let command_id = self.next_command;
        self.next_command += 1;
        let (action, config) = match command.kind {
            CommandKind::Operator(action) => (action, None),
            CommandKind::Config { yaml, config, kind } => {
                let version = self.next_config_version();
                let mut config = *config;
                if let Some(token) = self.task.context.approve_token.as_deref() {
                    config.control.set_approval_token(token);
                }
                let stored = ConfigVersion {
                    version,
                    ts: now.0,
                    actor: command.identity.name.clone(),
                    kind: kind.into(),
                    yaml,
                    backup_yaml: Some(self.task.current_yaml.clone()),
                    rollback_token: Some(crate::secrets::random_token()),
                };
                (
                    OperatorAction::ConfigApply {
                        config: Box::new(config),
                        version,
                    },
                    Some(stored),
                )
            }
        };
        let name = action_name(&action, config.as_ref().map(|c| c.kind.as_str()));
        self.pending.insert(
            command_id,
            Pending {
                reply: command.reply,
                identity: command.identity.clone(),
                action: name,
                config,
            },
        );
        self.publish_now = true;
        self.task.engine.handle(
            now,
            Input::Operator(OperatorCommand {
                command_id,
                actor: command.identity.name,
                action,
            }),
        );
    }

    fn next_config_version(&self) -> u64 {
        self.task.engine.config_version() + 1
    }

    fn settle(&mut self, now: UnixNanos) -> Result<(), DriverError> {
        self.settle_with(now, Vec::new())
    }

    /// Drains outputs, commits the turn's records in one transaction, tells the engine,
    /// then carries out the actions and answers commands.
    fn settle_with(&mut self, now: UnixNanos, audits: Vec<AuditEntry>) -> Result<(), DriverError> {
        let mut turn = Turn {
            batch: Batch {
                audits,
                ..Batch::default()
            },
            actions: Vec::new(),
            replies: Vec::new(),
        };
        loop {
            self.drain(now, &mut turn);
            if turn.batch.is_empty() {
                break;
            }
            let batch = std::mem::take(&mut turn.batch);
            if let Err(e) = self.commit(now, &batch) {
                return Err(self.journal_failed(now, turn, e));
            }
        }
        self.execute(turn.actions);
        if self.publish_now || self.last_publish.elapsed() >= SNAPSHOT_EVERY {
            self.publish(now);
        }
        for (reply, config) in turn.replies {
            self.answer(reply.command_id, reply.result, config);
        }
        Ok(())
    }

    /// Sorts the engine's outputs: records (and the audit entries and config versions
    /// that go with replies) into the batch, alerts to the stream, the rest to actions.
    fn drain(&mut self, now: UnixNanos, turn: &mut Turn) {
        while let Some(output) = self.task.engine.poll_output() {
            match output {
                Output::Journal(record) => {
                    self.stream_record(&record.event, record.ts);
                    turn.batch.records.push(record);
                }
                Output::Alert(alert) => {
                    let v = view::alert_json(&alert);
                    if self.alerts.len() >= ALERT_HISTORY_MAX {
                        self.alerts.pop_front();
                    }
                    self.alerts.push_back(v.clone());
                    let _ = self.task.stream.send(StreamEvent::new("alert", v));
                }
                Output::Reply(reply) => {
                    let mut config = None;
                    if let Some(p) = self.pending.get_mut(&reply.command_id) {
                        turn.batch.audits.push(audit_of(now, p, &reply.result));
                        if reply.result.is_ok()
                            && let Some(c) = p.config.take()
                        {
                            self.task.current_yaml = c.yaml.clone();
                            config =
                                Some((c.version, c.rollback_token.clone().unwrap_or_default()));
                            turn.batch.configs.push(c);
                        }
                    }
                    turn.replies.push((reply, config));
                }
                action => turn.actions.push(action),
            }
        }
    }

    /// One durable transaction, then `JournalCommitted` to the engine.
    fn commit(&mut self, now: UnixNanos, batch: &Batch) -> Result<(), JournalError> {
        let started = Instant::now();
        let head = self.task.journal.commit(batch)?;
        let latency_ns = started.elapsed().as_nanos() as u64;
        let _ = self.commit_us.record(latency_ns / 1_000);
        self.task.counters.commits.fetch_add(1, Ordering::Relaxed);
        self.task.engine.handle(
            now,
            Input::System(SystemEvent::JournalCommitted {
                through: head.seq,
                latency_ns,
            }),
        );
        Ok(())
    }

    /// The journal refused a batch: the engine HOLDs and asks for cancel-alls; nothing
    /// of the batch is durable, so its orders never leave — only cancels go out.
    fn journal_failed(&mut self, now: UnixNanos, mut turn: Turn, e: JournalError) -> DriverError {
        tracing::error!("{e}");
        self.task
            .engine
            .handle(now, Input::System(SystemEvent::JournalFailed));
        turn.actions
            .extend(std::iter::from_fn(|| self.task.engine.poll_output()));
        turn.actions
            .retain(|o| matches!(o, Output::CancelAll { .. } | Output::Cancel { .. }));
        self.execute(turn.actions);
        for (reply, _) in turn.replies {
            self.answer(reply.command_id, Err(journal_refusal()), None);
        }
        DriverError::Journal(e)
    }

    fn answer(
        &mut self,
        command_id: u64,
        result: Result<Accepted, Refusal>,
        config: Option<(u64, String)>,
    ) {
        if let Some(p) = self.pending.remove(&command_id) {
            // The turn under way: `Counters::turns` counts the turns completed.
            let turn = self.task.counters.turns.load(Ordering::Relaxed) + 1;
            let _ = p.reply.send(Outcome {
                result,
                config,
                turn,
            });
        }
    }

    fn execute(&mut self, actions: Vec<Output>) {
        for action in actions {
            if let Output::ReleaseLease { .. } = action {
                self.lease_released = true;
                continue;
            }
            let Some((venue, request)) = Request::for_output(action) else {
                continue;
            };
            if self.task.venues.try_send((venue, request)).is_err() {
                // The engine's own timeouts (ack timeout → lookup, resync deadline)
                // cover a request that never left.
                self.task
                    .counters
                    .venue_requests_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn stream_record(&mut self, event: &JournalEvent, ts: UnixNanos) {
        if let Some((kind, data)) = view::stream_of_record(event, ts, self.task.engine.config()) {
            self.publish_now |= kind != "fill";
            let _ = self.task.stream.send(StreamEvent::new(kind, data));
        }
    }

    fn publish(&mut self, now: UnixNanos) {
        self.publish_now = false;
        self.last_publish = Instant::now();
        let snapshot = view::build(
            &self.task.engine,
            now,
            &view::DriverFacts {
                head: self.task.journal.head(),
                epoch: self.task.epoch,
                counters: &self.task.counters,
                step_us: &self.step_us,
                commit_us: &self.commit_us,
                alerts: &self.alerts,
                inputs_depth: self.task.inputs.len(),
            },
            &self.task.context,
        );
        self.task.snapshots.send_replace(Arc::new(snapshot));
    }

    fn stop(mut self) -> Result<StopReport, DriverError> {
        let now = self.task.clock.now();
        self.task.engine.handle_timeout(now);
        self.settle(now)?;
        let left_open = self.task.engine.orders().filter(|o| o.is_live()).count();
        if left_open > 0 {
            tracing::warn!(
                "shutdown: {left_open} order(s) still open after {}s; the venue dead-man switch \
                 cancels them",
                SHUTDOWN_DRAIN.as_secs()
            );
        }
        Ok(StopReport {
            left_open,
            head: self.task.journal.head(),
        })
    }
}

fn journal_refusal() -> Refusal {
    Refusal {
        code: RefusalCode::NotAllowed,
        message: "journal write failed: the service is stopping".into(),
    }
}

fn action_name(action: &OperatorAction, config_kind: Option<&str>) -> String {
    match action {
        OperatorAction::Hold { .. } => "hold".into(),
        OperatorAction::ResumeRequest { .. } => "resume-request".into(),
        OperatorAction::ResumeConfirm { .. } => "resume-confirm".into(),
        OperatorAction::Resume => "resume".into(),
        OperatorAction::KillRequest { .. } => "kill-request".into(),
        OperatorAction::KillConfirm { .. } => "kill-confirm".into(),
        OperatorAction::ConfigApply { version, .. } => {
            format!("config-{} v{version}", config_kind.unwrap_or("apply"))
        }
        OperatorAction::ControlPatch(_) => "control-patch".into(),
    }
}

fn audit_of(now: UnixNanos, p: &Pending, result: &Result<Accepted, Refusal>) -> AuditEntry {
    let (status, detail) = match result {
        Ok(a) => {
            let status = if p.action.ends_with("-request") {
                "requested"
            } else if p.action.ends_with("-confirm") {
                "approved"
            } else {
                "executed"
            };
            let detail = match a.request_id {
                Some(id) => format!("{} (request {id})", a.message),
                None => a.message.clone(),
            };
            (status, detail)
        }
        Err(r) => (
            "denied",
            format!(
                "{}: {}",
                serde_json::to_value(r.code)
                    .unwrap_or_default()
                    .as_str()
                    .unwrap_or("refused"),
                r.message
            ),
        ),
    };
    AuditEntry {
        ts: now.0,
        actor: p.identity.name.clone(),
        role: p.identity.role.name().into(),
        action: p.action.clone(),
        status: status.into(),
        detail,
    }
}

/// Milliseconds as nanoseconds (for readability at call sites).
pub const fn ms(v: u64) -> u64 {
    v * NANOS_PER_MILLI
}
