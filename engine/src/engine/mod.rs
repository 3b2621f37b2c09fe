//! The engine: one deterministic state machine that makes every trading decision.
//!
//! ```text
//! let mut engine = Engine::new(config, recovered);   // HOLD + safe mode, always
//! engine.handle(now, input);                          // market, execution, venue, operator, lease…
//! engine.handle_timeout(now);                         // when poll_timeout() is due
//! while let Some(out) = engine.poll_output() { … }    // journal first, then send
//! engine.status(now); engine.digest();
//! ```
//!
//! Timers run on a fixed housekeeping tick ([`TICK_NS`]): order acknowledgement
//! timeouts, lookups, lease half-way points, hedge timeouts, maintenance lead times,
//! dead-man refreshes and status tracking are all checked there. The hot path (a book
//! delta) costs one comparison against the next tick.

mod execution;
mod market;
mod operator;
mod reconcile;
mod status;
mod trading;
mod views;

pub use status::{ActiveAlert, Component, Group, GroupScore, HoldInfo, SloValues, StatusReport};
pub use trading::{UNWIND_ATTEMPTS, UNWIND_RETRY_NS, unwind_deadline_ns};

use crate::book::Book;
use crate::config::{Config, MaintenanceWindow};
use crate::control::Control;
use crate::digest::Digest;
use crate::guards::{
    ClockSkewGuard, ContinuityGuard, DisconnectGuard, FencingGuard, GuardId, GuardLevel,
    KillCapsGuard, MaintenanceGuard, RateLimitGuard, RunawayGuard, Verdict,
};
use crate::input::{Input, LeaseEvent, SystemEvent};
use crate::ledger::Ledger;
use crate::metrics::{Histogram, WindowedHistogram, WindowedRatio};
use crate::model::{InstrumentId, Price, Venue};
use crate::orders::{Order, Orders};
use crate::output::{Alert, JournalEvent, JournalRecord, Output, Severity};
use crate::recovery::RecoveredState;
use crate::strategy::{PairSpec, PairState};
use crate::time::{NANOS_PER_MILLI, NANOS_PER_MINUTE, NANOS_PER_SECOND, UnixNanos};
use std::collections::VecDeque;

/// Housekeeping period: timers are checked this often.
pub const TICK_NS: u64 = 100 * NANOS_PER_MILLI;
/// Status tracking (degradation alerts, exception budget) runs every this many ticks.
const STATUS_EVERY_TICKS: u64 = 10;
/// Outputs a driver may leave undrained before the engine stops (a driver bug).
pub const OUTPUTS_MAX: usize = 1_000_000;
/// Rolling window of the SLO figures.
pub const SLO_WINDOW_NS: u64 = 5 * NANOS_PER_MINUTE;
/// An order lookup without an answer is repeated after this long.
const LOOKUP_RETRY_NS: u64 = NANOS_PER_SECOND;
/// A reconciliation without an answer is asked for again after this long.
const RECON_RETRY_NS: u64 = 5 * NANOS_PER_SECOND;
/// Flatten attempts are repeated at most this often while a breach stands.
const FLATTEN_RETRY_NS: u64 = NANOS_PER_SECOND;

/// The venue dead-man switch as the engine keeps it.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Deadman {
    /// Expiry of the last arm request sent (or confirmed).
    pub armed_until: UnixNanos,
    /// Next refresh due.
    pub next_refresh: UnixNanos,
    /// Arm requests sent.
    pub arms: u64,
    /// Ticks on which live orders rested without an armed switch.
    pub lapses: u64,
}

/// Reconciliation state of one venue.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct ReconState {
    /// Reconciled at least once since start.
    pub done: bool,
    /// Differences found by the last run.
    pub mismatches: u32,
    /// When it last ran.
    pub at: UnixNanos,
    /// Runs so far.
    pub runs: u64,
    /// Fills recovered from the venue in total.
    pub fills_recovered: u64,
    /// A reconciliation was requested and not answered yet.
    pub requested: bool,
    /// When it was last requested.
    pub requested_at: UnixNanos,
}

/// Journal bookkeeping.
#[derive(Clone, Debug)]
pub struct JournalState {
    /// Last sequence emitted.
    pub emitted: u64,
    /// Last sequence the driver reports durable.
    pub committed: u64,
    /// When the oldest uncommitted record was emitted (zero when none).
    pub uncommitted_since: UnixNanos,
    /// The driver reported a write failure.
    pub failed: bool,
    /// Commit latency, ms.
    pub commit_ms: WindowedHistogram,
    /// Operator actions journaled.
    pub operator_actions: u64,
}

impl JournalState {
    /// Bookkeeping after a restart: everything recovered is durable.
    fn recovered(through: u64) -> JournalState {
        JournalState {
            emitted: through,
            committed: through,
            uncommitted_since: UnixNanos::ZERO,
            failed: false,
            commit_ms: WindowedHistogram::new(SLO_WINDOW_NS),
            operator_actions: 0,
        }
    }
}

/// Counters and distributions the engine measures.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// Inputs handled.
    pub inputs: u64,
    /// Market events handled.
    pub market_events: u64,
    /// Book messages applied.
    pub book_updates: u64,
    /// Top-of-book changes.
    pub top_changes: u64,
    /// Public trades seen.
    pub trades: u64,
    /// Best bid/offer comparisons with a matching update id.
    pub bbo_checks: u64,
    /// Of those, mismatches.
    pub bbo_mismatches: u64,
    /// Last market event per venue.
    pub last_market_at: [UnixNanos; Venue::COUNT],
    /// Market-data inter-arrival gaps per venue, ms.
    pub ws_gap_ms: [WindowedHistogram; Venue::COUNT],
    /// Receive minus exchange timestamp per venue, ms.
    pub book_latency_ms: [WindowedHistogram; Venue::COUNT],
    /// Send → first venue answer, ms.
    pub order_cycle_ms: WindowedHistogram,
    /// Rejected / sent.
    pub rejects: WindowedRatio,
    /// Failed cancels / cancels sent.
    pub cancel_failures: WindowedRatio,
    /// Adverse fill price versus the touch at decision, in hundredths of a bp.
    pub slippage_centibps: WindowedHistogram,
    /// Fills booked.
    pub fills: u64,
    /// Maker fills booked.
    pub maker_fills: u64,
    /// Fees paid (notional raw) and traded notional (raw), for the effective rate.
    pub fees_paid: i64,
    /// Traded notional.
    pub traded_notional: i64,
    /// Malformed messages per venue (windowed count).
    pub malformed: [WindowedRatio; Venue::COUNT],
    /// Authentication failures per venue (windowed count).
    pub auth_failures: [WindowedRatio; Venue::COUNT],
    /// Driver input backlog (depth, capacity).
    pub input_backlog: (u32, u32),
    /// EWMA of |Δmid| per instrument in hundredths of a bp per update (regime).
    pub volatility_centibps: Vec<i64>,
    /// Last mid per instrument (for the regime EWMA).
    pub last_mid: Vec<Price>,
    /// Config applies refused.
    pub config_refusals: u64,
    /// Config applies done.
    pub config_applies: u64,
    /// Per-tick housekeeping runs.
    pub ticks: u64,
    /// Handle-latency histogram hook for drivers (unused inside the engine).
    pub orders_blocked: u64,
    /// Histogram of levels per book update (zero-copy L2 component).
    pub levels_per_update: Histogram,
}

impl Metrics {
    fn new(instruments: usize) -> Metrics {
        let w = || WindowedHistogram::new(SLO_WINDOW_NS);
        let r = || WindowedRatio::new(SLO_WINDOW_NS);
        Metrics {
            inputs: 0,
            market_events: 0,
            book_updates: 0,
            top_changes: 0,
            trades: 0,
            bbo_checks: 0,
            bbo_mismatches: 0,
            last_market_at: [UnixNanos::ZERO; Venue::COUNT],
            ws_gap_ms: [w(), w()],
            book_latency_ms: [w(), w()],
            order_cycle_ms: w(),
            rejects: r(),
            cancel_failures: r(),
            slippage_centibps: w(),
            fills: 0,
            maker_fills: 0,
            fees_paid: 0,
            traded_notional: 0,
            malformed: [r(), r()],
            auth_failures: [r(), r()],
            input_backlog: (0, 0),
            volatility_centibps: vec![0; instruments],
            last_mid: vec![Price::ZERO; instruments],
            config_refusals: 0,
            config_applies: 0,
            ticks: 0,
            orders_blocked: 0,
            levels_per_update: Histogram::default(),
        }
    }
}

/// Verdicts of the HOLD sources that are not guard modules.
#[derive(Clone, Copy, Debug)]
pub struct OtherVerdicts {
    /// Hedge timeouts.
    pub hedge: Verdict,
    /// Journal durability.
    pub journal: Verdict,
    /// Reconciliation.
    pub recon: Verdict,
    /// SLO held degraded.
    pub slo: Verdict,
}

impl OtherVerdicts {
    /// Every source OK since `now`.
    fn ok(now: UnixNanos) -> OtherVerdicts {
        let ok = Verdict::ok(now);
        OtherVerdicts {
            hedge: ok,
            journal: ok,
            recon: ok,
            slo: ok,
        }
    }
}

/// The decision engine. See the module docs.
pub struct Engine {
    pub(crate) config: Config,
    pub(crate) config_version: u64,
    pub(crate) now: UnixNanos,
    pub(crate) started_at: UnixNanos,
    pub(crate) books: Vec<Book>,
    pub(crate) ledger: Ledger,
    pub(crate) orders: Orders,
    pub(crate) control: Control,
    pub(crate) disconnect: DisconnectGuard,
    pub(crate) rate: RateLimitGuard,
    pub(crate) clock: ClockSkewGuard,
    pub(crate) continuity: ContinuityGuard,
    pub(crate) caps: KillCapsGuard,
    pub(crate) runaway: RunawayGuard,
    pub(crate) maintenance: MaintenanceGuard,
    pub(crate) fencing: FencingGuard,
    pub(crate) other: OtherVerdicts,
    pub(crate) pairs: Vec<PairState>,
    pub(crate) outputs: VecDeque<Output>,
    pub(crate) digest: Digest,
    pub(crate) journal: JournalState,
    pub(crate) deadman: [Deadman; Venue::COUNT],
    pub(crate) recon: [ReconState; Venue::COUNT],
    pub(crate) metrics: Metrics,
    pub(crate) tracker: status::Tracker,
    pub(crate) next_tick: UnixNanos,
    pub(crate) announced: Vec<MaintenanceWindow>,
    pub(crate) flatten_at: UnixNanos,
    pub(crate) cancel_all_wanted: [Option<&'static str>; Venue::COUNT],
    /// Positions are being flattened (a kill, or a kill-cap breach with
    /// `flatten_on_breach`) until every position is flat or an operator resumes.
    pub(crate) flattening: bool,
    /// The kill switch was pulled (cleared by the next resume).
    pub(crate) killed: bool,
    pub(crate) day_journaled: Option<i64>,
    /// Marks at the last kill-cap evaluation, per book.
    pub(crate) caps_marks: Vec<Option<Price>>,
    /// Recent fills (venue, instrument, trade, signed qty, venue time), bounded by
    /// [`RECENT_FILLS_MAX`]: reconciliation uses them to tell a race from a mismatch.
    pub(crate) recent_fills: VecDeque<(Venue, InstrumentId, crate::model::TradeId, i64, UnixNanos)>,
}

/// Recent fills kept for reconciliation races.
pub const RECENT_FILLS_MAX: usize = 4096;

impl Engine {
    /// Boots the engine from a validated config and what the journal recovered. It
    /// always starts in HOLD with safe mode on and emits a `Started` journal record.
    pub fn new(config: Config, recovered: RecoveredState) -> Engine {
        let now = recovered.last_ts;
        let instruments = config.instruments.len();
        let (rate, runaway) = restore_limits(&config, &recovered, now);
        let mut maintenance = MaintenanceGuard::new(
            config.guards.maintenance_lead_ns,
            &config.guards.maintenance_calendar,
            now,
        );
        for w in &recovered.maintenance {
            maintenance.on_notice(now, w.clone());
        }
        // A new leader waits one request expiry plus the skew bound before it orders.
        let quiet = config
            .venues
            .iter()
            .map(|v| v.order_expiry_ns)
            .max()
            .unwrap_or(0)
            + config.guards.clock_skew_guard_ns;
        let mut ledger = recovered.ledger;
        if let Some(daily) = recovered.daily {
            ledger.restore_daily(daily);
        }
        let mut orders = Orders::new(
            config.limits.orders_tracked_max as usize,
            recovered.last_order_sequence,
        );
        for (_, order) in recovered.live_orders {
            // What was in flight at the crash is looked up, never re-sent.
            orders.restore(now, order);
        }
        let g = &config.guards;
        let mut engine = Engine {
            config_version: recovered.config_version,
            now,
            started_at: now,
            books: build_books(&config),
            ledger,
            orders,
            control: Control::boot(
                now,
                config.control.dry_run,
                config.control.two_man_rule,
                config.control.approval_token_digest,
                config.limits.approvals_max as usize,
            ),
            disconnect: DisconnectGuard::new(g.cancel_on_disconnect, now),
            rate,
            clock: ClockSkewGuard::new(g.clock_skew_guard_ns, g.clock_sample_max_age_ns, now),
            continuity: ContinuityGuard::new(
                instruments,
                g.resync_deadline_ns,
                g.market_data_stale_ns,
                now,
            ),
            caps: KillCapsGuard::new(g.kill_caps_enabled, g.flatten_on_breach, config.risk, now),
            runaway,
            maintenance,
            fencing: FencingGuard::new(recovered.highest_epoch, quiet, now),
            other: OtherVerdicts::ok(now),
            pairs: build_pairs(&config),
            outputs: VecDeque::with_capacity(1024),
            digest: Digest::default(),
            journal: JournalState::recovered(recovered.through),
            deadman: [Deadman::default(); Venue::COUNT],
            recon: [ReconState::default(); Venue::COUNT],
            metrics: Metrics::new(instruments),
            tracker: status::Tracker::default(),
            next_tick: now,
            announced: recovered.maintenance.clone(),
            flatten_at: UnixNanos::ZERO,
            cancel_all_wanted: [None; Venue::COUNT],
            flattening: false,
            killed: false,
            day_journaled: recovered.daily.map(|d| d.day),
            caps_marks: vec![None; instruments * Venue::COUNT],
            recent_fills: VecDeque::with_capacity(256),
            config,
        };
        engine.journal_event(JournalEvent::Started {
            config_version: engine.config_version,
            recovered_through: recovered.through,
        });
        for ((guard, venue), (reason, _)) in &recovered.tripped {
            engine.tracker.restored(*guard, *venue, reason.clone(), now);
        }
        engine
    }

    /// Handles one input at `now` (which must not go backwards).
    pub fn handle(&mut self, now: UnixNanos, input: Input<'_>) {
        self.advance(now);
        self.metrics.inputs += 1;
        match input {
            Input::Market(event) => self.on_market(now, event),
            Input::Execution(report) => self.on_execution(now, report),
            Input::Venue(event) => self.on_venue(now, event),
            Input::Operator(command) => self.on_operator(now, command),
            Input::Lease(event) => self.on_lease(now, event),
            Input::Reconciliation(snapshot) => self.on_reconciliation(now, snapshot),
            Input::System(event) => self.on_system(now, event),
        }
        self.check_invariants();
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: UnixNanos) {
        self.advance(now);
        self.check_invariants();
    }

    /// What is true after every input and timer, checked in release builds too. Each
    /// check is O(1): it runs on every market update.
    fn check_invariants(&self) {
        assert!(
            self.journal.committed <= self.journal.emitted,
            "journal committed through {} but emitted {}",
            self.journal.committed,
            self.journal.emitted
        );
        assert!(
            !self.journal.failed || self.control.mode == crate::output::Mode::Hold,
            "RUN with a failed journal"
        );
        assert!(
            self.outputs.len() <= OUTPUTS_MAX,
            "driver is not draining outputs"
        );
    }

    /// The next output, if any. Drivers drain this after every `handle`.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next time `handle_timeout` must be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<UnixNanos> {
        Some(self.next_tick)
    }

    /// The running digest of every output so far.
    pub fn digest(&self) -> [u8; 32] {
        self.digest.value()
    }

    /// The digest as hex.
    pub fn digest_hex(&self) -> String {
        self.digest.hex()
    }

    /// Outputs emitted so far.
    pub fn outputs_emitted(&self) -> u64 {
        self.digest.count()
    }

    /// The config in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Config version in force.
    pub fn config_version(&self) -> u64 {
        self.config_version
    }

    /// Control state.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Tracked orders.
    pub fn orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.iter()
    }

    /// A book.
    pub fn book(&self, venue: Venue, instrument: InstrumentId) -> &Book {
        &self.books[book_slot(venue, instrument)]
    }

    /// Per-instrument trading state, for the traded instruments.
    pub fn pairs(&self) -> &[PairState] {
        &self.pairs
    }

    /// Leader fencing state.
    pub fn fencing(&self) -> &FencingGuard {
        &self.fencing
    }

    /// Engine time of the last input.
    pub fn now(&self) -> UnixNanos {
        self.now
    }

    /// Measured figures.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Reconciliation state per venue.
    pub fn reconciliation(&self) -> &[ReconState; Venue::COUNT] {
        &self.recon
    }

    /// Whether the rate-limit governor is holding places back on a venue (a 429
    /// backoff or a 418 ban) at `now`.
    pub fn places_held_back(&self, now: UnixNanos, venue: Venue) -> bool {
        self.rate.backing_off(now, venue)
    }

    fn advance(&mut self, now: UnixNanos) {
        assert!(
            now >= self.now,
            "time went backwards: {} after {}",
            now.0,
            self.now.0
        );
        self.now = now;
        while now >= self.next_tick {
            self.housekeeping(now);
        }
    }

    pub(crate) fn emit(&mut self, output: Output) {
        assert!(
            self.outputs.len() < OUTPUTS_MAX,
            "driver is not draining outputs"
        );
        self.digest.add(&output);
        self.outputs.push_back(output);
    }

    pub(crate) fn journal_event(&mut self, event: JournalEvent) {
        self.journal.emitted += 1;
        if self.journal.uncommitted_since.is_zero() {
            self.journal.uncommitted_since = self.now.max(UnixNanos(1));
        }
        let record = JournalRecord {
            sequence: self.journal.emitted,
            ts: self.now,
            epoch: self.fencing.highest_epoch(),
            event,
        };
        self.emit(Output::Journal(record));
    }

    pub(crate) fn alert(
        &mut self,
        severity: Severity,
        code: &str,
        component: &str,
        message: String,
    ) {
        let alert = Alert {
            severity,
            code: code.to_owned(),
            component: component.to_owned(),
            message,
            since: self.now,
        };
        self.tracker
            .push_event_alert(alert.clone(), self.config.limits.alerts_max as usize);
        self.emit(Output::Alert(alert));
    }

    /// Enters HOLD (journaled, alerted) and cancels resting orders.
    pub(crate) fn enter_hold(&mut self, actor: &str, reason: &str) {
        let now = self.now;
        if let Some(t) = self.control.hold(now, actor, reason) {
            self.journal_event(JournalEvent::Control {
                from: t.from,
                to: t.to,
                safe_mode: t.safe_mode,
                actor: actor.to_owned(),
                reason: reason.to_owned(),
            });
            self.alert(
                Severity::Critical,
                "hold",
                "control",
                format!("HOLD by {actor}: {reason}"),
            );
            self.cancel_resting(now);
        }
    }

    /// A guard tripped: journal, alert, HOLD.
    pub(crate) fn trip(
        &mut self,
        guard: GuardId,
        venue: Option<Venue>,
        reason: &'static str,
        until: Option<UnixNanos>,
    ) {
        self.journal_event(JournalEvent::GuardTripped {
            guard,
            venue,
            reason: reason.to_owned(),
            until,
        });
        let where_ = venue.map(|v| format!(" on {v}")).unwrap_or_default();
        self.alert(
            Severity::Critical,
            guard.name(),
            guard.name(),
            format!("{reason}{where_}"),
        );
        self.enter_hold(&format!("guard:{}", guard.name()), reason);
    }

    /// A guard's condition cleared (HOLD stays).
    pub(crate) fn cleared(&mut self, guard: GuardId, venue: Option<Venue>) {
        self.journal_event(JournalEvent::GuardCleared { guard, venue });
        self.tracker.clear_restored(guard, venue);
        let where_ = venue.map(|v| format!(" on {v}")).unwrap_or_default();
        self.alert(
            Severity::Info,
            guard.name(),
            guard.name(),
            format!("condition cleared{where_}; HOLD stays until a two-man resume"),
        );
    }

    fn on_lease(&mut self, now: UnixNanos, event: LeaseEvent) {
        match event {
            LeaseEvent::Granted {
                epoch,
                requested_at,
                ttl_ns,
            } => {
                let expires_at = self.fencing.expiry_of(requested_at, ttl_ns);
                let a = self.fencing.on_granted(now, epoch, expires_at);
                if a.new_epoch {
                    self.orders.new_epoch();
                    self.journal_event(JournalEvent::LeaseAcquired { epoch });
                    // A new leader adopts nothing blindly: reconcile every venue, even one
                    // reconciled under an earlier epoch (another leader may have traded
                    // the account since; at-p0-chaos seed 1519).
                    for venue in Venue::ALL {
                        self.reconcile_again(venue);
                    }
                }
                if a.stale_grant {
                    self.alert(
                        Severity::Warn,
                        "stale_lease",
                        "leader_fencing",
                        format!("ignored lease grant for epoch {epoch}"),
                    );
                    // An epoch once given up is never used again; hand it back so the
                    // lease service can hold a new election with a newer epoch.
                    self.emit(Output::ReleaseLease { epoch });
                }
            }
            LeaseEvent::Lost => {
                if self.fencing.on_lost(now).fence {
                    self.fence_out();
                }
            }
            LeaseEvent::ClockSteppedBack { by_ns } => self.on_clock_stepped_back(now, by_ns),
        }
    }

    /// Rare; kept out of line so the input dispatch stays small.
    #[cold]
    #[inline(never)]
    fn on_clock_stepped_back(&mut self, now: UnixNanos, by_ns: u64) {
        self.alert(
            Severity::Warn,
            "clock_step",
            "leader_fencing",
            format!(
                "clock stepped back by {} ms: lease shortened by as much",
                by_ns / crate::time::NANOS_PER_MILLI
            ),
        );
        if self.fencing.on_clock_stepped_back(now, by_ns).fence {
            self.fence_out();
        }
    }

    /// Lost or gave up leadership: cancel everything everywhere and HOLD.
    pub(crate) fn fence_out(&mut self) {
        let epoch = self.fencing.highest_epoch();
        for venue in Venue::ALL {
            self.request_cancel_all(venue, "leader fenced");
        }
        self.emit(Output::ReleaseLease { epoch });
        self.trip(
            GuardId::LeaderFencing,
            None,
            "leadership lost: cancelled everything",
            None,
        );
    }

    fn on_system(&mut self, now: UnixNanos, event: SystemEvent) {
        match event {
            SystemEvent::JournalCommitted {
                through,
                latency_ns,
            } => {
                assert!(
                    through <= self.journal.emitted,
                    "driver committed records the engine never emitted"
                );
                self.journal.committed = self.journal.committed.max(through);
                self.journal
                    .commit_ms
                    .record(now, latency_ns / NANOS_PER_MILLI);
                if self.journal.committed == self.journal.emitted {
                    self.journal.uncommitted_since = UnixNanos::ZERO;
                }
            }
            SystemEvent::JournalFailed => {
                if !self.journal.failed {
                    self.journal.failed = true;
                    self.other
                        .journal
                        .set(now, GuardLevel::Hold, "journal write failed");
                    for venue in Venue::ALL {
                        self.request_cancel_all(venue, "journal failure");
                    }
                    self.trip(
                        GuardId::Journal,
                        None,
                        "journal write failed: trading stopped",
                        None,
                    );
                }
            }
            SystemEvent::InputBacklog { depth, capacity } => {
                self.metrics.input_backlog = (depth, capacity);
            }
        }
    }

    fn housekeeping(&mut self, now: UnixNanos) {
        self.next_tick = now.plus_nanos(TICK_NS);
        self.metrics.ticks += 1;
        if self.fencing.on_tick(now).fence {
            self.fence_out();
        }
        self.clock.on_tick(now);
        let rate = self.rate.on_tick(now);
        for venue in Venue::ALL {
            if rate[venue.index()].cleared {
                self.cleared(GuardId::RateLimit, Some(venue));
            }
        }
        self.maintenance_tick(now);
        self.orders_tick(now);
        self.recon_tick(now);
        self.books_tick(now);
        self.retry_cancel_alls(now);
        self.deadman_tick(now);
        self.risk_tick(now);
        for p in 0..self.pairs.len() {
            self.drive_pair(now, p);
        }
        if self.metrics.ticks.is_multiple_of(STATUS_EVERY_TICKS) {
            self.status_tick(now);
        }
    }

    fn maintenance_tick(&mut self, now: UnixNanos) {
        let a = self.maintenance.on_tick(now);
        for venue in Venue::ALL {
            if a.trip[venue.index()] {
                self.trip(
                    GuardId::Maintenance,
                    Some(venue),
                    "maintenance window: HOLD ahead of time",
                    None,
                );
            }
            if a.cleared[venue.index()] {
                self.cleared(GuardId::Maintenance, Some(venue));
            }
        }
    }

    fn deadman_tick(&mut self, now: UnixNanos) {
        let leader = self.fencing.is_leader(now);
        for venue in Venue::ALL {
            let live = self.orders.live_on(venue);
            let d = self.deadman[venue.index()];
            if live > 0 && d.armed_until <= now {
                self.deadman[venue.index()].lapses += 1;
            }
            // The leader keeps the switch armed whatever its mode: it costs one request
            // per refresh and guarantees a dead leader's orders die.
            let wanted = leader && (live > 0 || self.fencing.epoch() > 0);
            if wanted && now >= d.next_refresh && self.disconnect.is_connected(venue) {
                self.arm_deadman(now, venue);
            }
        }
    }

    pub(crate) fn arm_deadman(&mut self, now: UnixNanos, venue: Venue) -> bool {
        if !self
            .rate
            .try_take(now, venue, crate::guards::RequestKind::Deadman)
        {
            return false;
        }
        let v = self.config.venues[venue.index()];
        let d = &mut self.deadman[venue.index()];
        d.armed_until = now.plus_nanos(v.deadman_timeout_ns);
        d.next_refresh = now.plus_nanos(v.deadman_refresh_ns);
        d.arms += 1;
        self.emit(Output::ArmDeadman {
            venue,
            timeout_ns: v.deadman_timeout_ns,
        });
        true
    }
}

/// Index of a book in the engine's table.
pub(crate) fn book_slot(venue: Venue, instrument: InstrumentId) -> usize {
    instrument.index() * Venue::COUNT + venue.index()
}

/// One book per instrument and venue; unlisted routes get a placeholder book that
/// never becomes valid.
fn build_books(config: &Config) -> Vec<Book> {
    let ticks = config.limits.book_ticks_per_side as usize;
    let mut books = Vec::with_capacity(config.instruments.len() * Venue::COUNT);
    for (i, inst) in config.instruments.iter().enumerate() {
        for venue in Venue::ALL {
            let tick = inst.listings[venue.index()]
                .as_ref()
                .map_or(Price::from_raw(1), |l| l.tick);
            books.push(Book::new(venue, InstrumentId(i as u16), tick, ticks));
        }
    }
    books
}

/// The rate-limit governor and the runaway breaker as the journal left them: the
/// last minute's orders counted again, quarantines and bans still in force.
fn restore_limits(
    config: &Config,
    recovered: &RecoveredState,
    now: UnixNanos,
) -> (RateLimitGuard, RunawayGuard) {
    let mut rate = RateLimitGuard::new(&config.guards, &config.venues, now);
    let mut runaway = RunawayGuard::new(
        config.instruments.len(),
        config.guards.runaway_place_per_min,
        config.guards.runaway_cancel_per_min,
        now,
    );
    for &(t, venue, instrument, cancel) in &recovered.recent_orders {
        runaway.replay(t, venue, instrument, cancel);
        let kind = if cancel {
            crate::guards::RequestKind::Cancel
        } else {
            crate::guards::RequestKind::Place
        };
        rate.try_take(t, venue, kind);
    }
    for (venue, instrument) in &recovered.quarantined {
        runaway.quarantine(now, *venue, *instrument);
    }
    for ((guard, venue), (_, until)) in &recovered.tripped {
        if let (GuardId::RateLimit, Some(v), Some(until)) = (guard, venue, until)
            && *until > now
        {
            rate.on_banned(now, *v, *until);
        }
    }
    (rate, runaway)
}

fn build_pairs(config: &Config) -> Vec<PairState> {
    let venues = [config.strategy.venues[0], config.strategy.venues[1]];
    config
        .strategy
        .instruments
        .iter()
        .map(|&i| PairState::new(PairSpec::new(config, i, venues), config.strategy.execution))
        .collect()
}

#[cfg(test)]
mod tests;
