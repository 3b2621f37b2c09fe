//! Everything the engine asks its driver to do, as data ([`Output`]), and the journal
//! records it asks the driver to make durable ([`JournalRecord`]).
//!
//! The write-ahead rule (DESIGN §4): a driver drains the outputs of a batch, persists
//! every `Journal` output durably, and only then carries out `Place`, `Flatten`,
//! `Cancel` and the rest. Every order is preceded, in the same batch, by a
//! `Journal(OrderIntent)` for it.

use crate::guards::GuardId;
use crate::ledger::Fill;
use crate::model::{
    ClientOrderId, InstrumentId, Notional, OrderState, Price, Qty, Side, TimeInForce, Venue,
    VenueOrderId,
};
use crate::time::UnixNanos;
use serde::{Deserialize, Serialize};

/// One instruction to the driver.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Output {
    /// Send a new order. Emitted only in RUN with safe mode off and the lease held.
    Place(OrderRequest),
    /// Send a reduce-only order that can only shrink a position (kill-cap flatten,
    /// hedge unwind, kill switch). The one kind of order allowed in HOLD.
    Flatten(OrderRequest),
    /// Cancel one order.
    Cancel {
        /// Venue.
        venue: Venue,
        /// Instrument.
        instrument: InstrumentId,
        /// Our id.
        client_order_id: ClientOrderId,
    },
    /// Cancel every open order on a venue (all instruments).
    CancelAll {
        /// Venue.
        venue: Venue,
        /// Why.
        reason: &'static str,
    },
    /// Look an order up at the venue (its outcome is unknown).
    QueryOrder {
        /// Venue.
        venue: Venue,
        /// Instrument.
        instrument: InstrumentId,
        /// Our id.
        client_order_id: ClientOrderId,
    },
    /// Arm or refresh the venue dead-man switch.
    ArmDeadman {
        /// Venue.
        venue: Venue,
        /// Countdown, ns.
        timeout_ns: u64,
    },
    /// Fetch a fresh book snapshot (the book is invalid).
    Resync {
        /// Venue.
        venue: Venue,
        /// Instrument.
        instrument: InstrumentId,
    },
    /// Fetch open orders, positions and fills and feed them back as
    /// [`crate::Input::Reconciliation`].
    Reconcile {
        /// Venue.
        venue: Venue,
    },
    /// Give the lease of `epoch` back to the lease service (resign): this instance
    /// fenced itself or refused a re-grant of an epoch it gave up, and will only ever
    /// lead again under a newer epoch.
    ReleaseLease {
        /// The epoch given up.
        epoch: u32,
    },
    /// Persist this record durably before sending any order of the batch.
    Journal(JournalRecord),
    /// Tell operators.
    Alert(Alert),
    /// Answer an operator command.
    Reply(Reply),
}

/// Why an order exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderPurpose {
    /// Opens or grows an arbitrage position.
    Entry,
    /// Reduces an arbitrage position when the basis has converged.
    Exit,
    /// Evens out a partial fill between the legs.
    Hedge,
    /// Maker leg of a maker-first entry.
    Maker,
    /// Takes back an unhedged excess after the hedge timed out.
    Unwind,
    /// Closes positions after a kill-cap breach or a kill.
    Flatten,
}

/// A new order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderRequest {
    /// Our id (epoch + sequence).
    pub client_order_id: ClientOrderId,
    /// Venue.
    pub venue: Venue,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: Price,
    /// Quantity in base units (the venue layer converts to contracts where needed).
    pub qty: Qty,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// May only reduce a position.
    pub reduce_only: bool,
    /// Venue-side expiry (`recvWindow` / `expTime`): never later than the lease.
    pub expires_at: UnixNanos,
    /// Why the order exists.
    pub purpose: OrderPurpose,
    /// Route to the simulated venue only.
    pub dry_run: bool,
}

/// A durable record.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JournalRecord {
    /// Contiguous from 1 across the life of the journal.
    pub sequence: u64,
    /// Engine time of the event.
    pub ts: UnixNanos,
    /// Leader epoch at the time (0 before the first lease).
    pub epoch: u32,
    /// What happened.
    pub event: JournalEvent,
}

/// Operating mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mode {
    /// Trading loop active.
    Run,
    /// Trading loop stopped: no new orders (cancels and reduce-only flatten only).
    Hold,
}

impl Mode {
    /// Upper-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Run => "RUN",
            Mode::Hold => "HOLD",
        }
    }
}

/// The two-man approvals there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ApprovalKind {
    /// Leave HOLD.
    Resume,
    /// Kill switch.
    Kill,
}

/// A step of a two-man approval.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ApprovalStep {
    /// Requested, with the reason.
    Requested {
        /// Why.
        reason: String,
    },
    /// Confirmed by a second actor with the token.
    Confirmed,
    /// Refused (same actor, bad token, expired request).
    Refused {
        /// Why.
        why: String,
    },
    /// Carried out.
    Executed,
}

/// What the journal records.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JournalEvent {
    /// The engine started (always in HOLD + safe mode).
    Started {
        /// Config version in force.
        config_version: u64,
        /// Journal sequence recovered from (0 for a fresh journal).
        recovered_through: u64,
    },
    /// A leader epoch began.
    LeaseAcquired {
        /// Epoch.
        epoch: u32,
    },
    /// Intent to send an order (written before the order leaves).
    OrderIntent(OrderRequest),
    /// An order changed state.
    OrderUpdate {
        /// Our id.
        client_order_id: ClientOrderId,
        /// New state.
        state: OrderState,
        /// Venue id once known.
        venue_order_id: Option<VenueOrderId>,
        /// Filled quantity so far.
        filled: Qty,
    },
    /// A cancel was requested.
    CancelRequested {
        /// Our id.
        client_order_id: ClientOrderId,
    },
    /// A fill was booked.
    Fill {
        /// Our order, if the fill belongs to one of ours.
        client_order_id: Option<ClientOrderId>,
        /// The fill with its booked fee.
        fill: Fill,
        /// Fee booked.
        fee: Notional,
    },
    /// Mode or safe mode changed.
    Control {
        /// Mode before.
        from: Mode,
        /// Mode after.
        to: Mode,
        /// Safe mode after.
        safe_mode: bool,
        /// Who (operator name or `guard:<id>`).
        actor: String,
        /// Why.
        reason: String,
    },
    /// A two-man approval step.
    Approval {
        /// Resume or kill.
        kind: ApprovalKind,
        /// Request id.
        request_id: u64,
        /// Who.
        actor: String,
        /// What.
        step: ApprovalStep,
    },
    /// A guard tripped (or escalated).
    GuardTripped {
        /// Which.
        guard: GuardId,
        /// Venue, when the guard is per venue.
        venue: Option<Venue>,
        /// Why.
        reason: String,
        /// Until when the condition holds, if known (ban end, window end).
        until: Option<UnixNanos>,
    },
    /// A guard's condition cleared (HOLD stays until an operator resumes).
    GuardCleared {
        /// Which.
        guard: GuardId,
        /// Venue, when per venue.
        venue: Option<Venue>,
    },
    /// A route was quarantined by the runaway breaker.
    Quarantined {
        /// Venue.
        venue: Venue,
        /// Instrument.
        instrument: InstrumentId,
    },
    /// A venue maintenance notice was recorded.
    MaintenanceNotice(crate::config::MaintenanceWindow),
    /// A config was applied.
    ConfigApplied {
        /// Version.
        version: u64,
        /// Who.
        actor: String,
    },
    /// Runtime control fields were patched.
    ControlPatched {
        /// Who.
        actor: String,
        /// What.
        patch: crate::input::ControlPatch,
    },
    /// A trading day began: its PnL baseline (daily loss caps survive restarts).
    DayStarted {
        /// Day index (days since the epoch, shifted by the configured boundary).
        day: i64,
        /// Net PnL at the start of the day.
        start_net: Notional,
    },
    /// Reconciliation with a venue finished.
    Reconciled {
        /// Venue.
        venue: Venue,
        /// Differences found (0 = OK).
        mismatches: u32,
        /// Fills recovered from the venue.
        fills_recovered: u32,
        /// Orders of unknown outcome resolved.
        orders_resolved: u32,
    },
}

/// Alert severity (operator spec: info|warn|error|critical).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the record.
    Info,
    /// Degraded.
    Warn,
    /// Failed.
    Error,
    /// Trading stopped or money at risk.
    Critical,
}

/// An alert for operators. `code` is stable and keys the Russian text in the UI;
/// `message` is the English fallback.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Alert {
    /// Severity.
    pub severity: Severity,
    /// Stable code, e.g. `clock_skew`.
    pub code: String,
    /// Component that raised it.
    pub component: String,
    /// English text.
    pub message: String,
    /// When the condition began.
    pub since: UnixNanos,
}

/// Answer to an operator command.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Reply {
    /// The command's id.
    pub command_id: u64,
    /// Accepted (with a message and, for requests, the request id) or refused.
    pub result: Result<Accepted, Refusal>,
}

/// A command was carried out.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Accepted {
    /// What happened, in English.
    pub message: String,
    /// Id of the approval request created, if any.
    pub request_id: Option<u64>,
}

/// A command was refused; nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Refusal {
    /// Stable reason code.
    pub code: RefusalCode,
    /// What was wrong and what to do, in English.
    pub message: String,
}

/// Why a command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// The confirming actor is the requesting actor.
    SameActor,
    /// The approval token did not match.
    BadToken,
    /// No such pending request.
    NoSuchRequest,
    /// Resume without a confirmed approval.
    NotApproved,
    /// A guard still blocks trading.
    Blocked,
    /// The command is not allowed in this profile or state.
    NotAllowed,
    /// Too many pending approvals.
    TooManyPending,
    /// The config cannot be applied.
    InvalidConfig,
    /// Already in the requested state.
    NoChange,
}
