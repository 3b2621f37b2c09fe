//! Everything that can happen to the engine, as data. Drivers (simulator, replay, live
//! service, API) build these; the engine never parses text or reads a socket.
//!
//! Market messages borrow their levels (`&'a [Level]`) so a driver can hand over a
//! decoded frame without copying or allocating.

use crate::book::{Sequence, TopOfBook};
use crate::config::Config;
use crate::model::{
    ClientOrderId, InstrumentId, Level, Liquidity, Notional, OrderState, Price, Qty, Side, TradeId,
    Venue, VenueOrderId,
};
use crate::time::UnixNanos;
use serde::{Deserialize, Serialize};

/// One input to [`crate::Engine::handle`].
#[derive(Clone, Debug)]
pub enum Input<'a> {
    /// Public market data.
    Market(MarketEvent<'a>),
    /// A report about one of our orders.
    Execution(ExecutionReport),
    /// Connectivity, clock, rate-limit and maintenance signals from a venue adapter.
    Venue(VenueEvent),
    /// An operator command (API, CLI, Telegram or a scenario step).
    Operator(OperatorCommand),
    /// Leadership news from the lease service.
    Lease(LeaseEvent),
    /// What a venue says it holds, for reconciliation.
    Reconciliation(&'a ReconSnapshot),
    /// Driver bookkeeping: journal durability, queue depths.
    System(SystemEvent),
}

/// Public market data for one venue and instrument.
#[derive(Clone, Copy, Debug)]
pub enum MarketEvent<'a> {
    /// A full book replacing the current one.
    Snapshot {
        /// Venue.
        venue: Venue,
        /// Instrument.
        instrument: InstrumentId,
        /// Last update id the snapshot includes.
        last: u64,
        /// Bid levels (any order).
        bids: &'a [Level],
        /// Ask levels (any order).
        asks: &'a [Level],
        /// Venue timestamp.
        ts_exchange: UnixNanos,
    },
    /// Incremental levels.
    Delta {
        /// Venue.
        venue: Venue,
        /// Instrument.
        instrument: InstrumentId,
        /// Continuity fields.
        sequence: Sequence,
        /// Changed bid levels; zero quantity deletes.
        bids: &'a [Level],
        /// Changed ask levels; zero quantity deletes.
        asks: &'a [Level],
        /// Venue timestamp.
        ts_exchange: UnixNanos,
    },
    /// A venue best bid/offer (Binance `bookTicker`, OKX `bbo-tbt`).
    Bbo {
        /// Venue.
        venue: Venue,
        /// Instrument.
        instrument: InstrumentId,
        /// The book update id the quote reflects, when the venue gives one.
        update_id: Option<u64>,
        /// Best prices and sizes.
        top: TopOfBook,
        /// Venue timestamp.
        ts_exchange: UnixNanos,
    },
    /// The venue-side sync machine found the book broken (checksum mismatch, protocol
    /// violation, buffer overflow, reset): invalidate it and ask for a resync.
    BookInvalid {
        /// Venue.
        venue: Venue,
        /// Instrument.
        instrument: InstrumentId,
        /// Why.
        reason: crate::book::InvalidReason,
    },
    /// A public trade.
    Trade {
        /// Venue.
        venue: Venue,
        /// Instrument.
        instrument: InstrumentId,
        /// Price.
        price: Price,
        /// Base quantity.
        qty: Qty,
        /// Side of the aggressor.
        aggressor: Side,
        /// Venue timestamp.
        ts_exchange: UnixNanos,
    },
}

impl MarketEvent<'_> {
    /// Venue of the event.
    pub fn venue(&self) -> Venue {
        match *self {
            MarketEvent::Snapshot { venue, .. }
            | MarketEvent::Delta { venue, .. }
            | MarketEvent::Bbo { venue, .. }
            | MarketEvent::BookInvalid { venue, .. }
            | MarketEvent::Trade { venue, .. } => venue,
        }
    }

    /// Instrument of the event.
    pub fn instrument(&self) -> InstrumentId {
        match *self {
            MarketEvent::Snapshot { instrument, .. }
            | MarketEvent::Delta { instrument, .. }
            | MarketEvent::Bbo { instrument, .. }
            | MarketEvent::BookInvalid { instrument, .. }
            | MarketEvent::Trade { instrument, .. } => instrument,
        }
    }
}

/// A report about one of our orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExecutionReport {
    /// Venue that sent it.
    pub venue: Venue,
    /// Instrument of the order (venues always name the symbol).
    pub instrument: InstrumentId,
    /// Side of the order.
    pub side: Side,
    /// Our id of the order.
    pub client_order_id: ClientOrderId,
    /// What happened.
    pub kind: ExecutionKind,
    /// Venue timestamp.
    pub ts_exchange: UnixNanos,
}

/// What an execution report says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExecutionKind {
    /// Accepted and resting (or about to match).
    Ack {
        /// Venue order id.
        venue_order_id: VenueOrderId,
    },
    /// A fill.
    Fill {
        /// Venue trade id.
        trade_id: TradeId,
        /// Fill price.
        price: Price,
        /// Filled quantity (base).
        qty: Qty,
        /// Maker or taker.
        liquidity: Liquidity,
        /// Fee as charged (positive = paid), when the venue reports it.
        fee: Option<Notional>,
    },
    /// Cancelled (by us, by IOC expiry, by the venue or a dead-man switch).
    Cancelled {
        /// Who or what cancelled it.
        reason: CancelReason,
    },
    /// Refused.
    Rejected {
        /// Why.
        reason: RejectReason,
    },
    /// Our cancel request failed (order already gone, unknown at the venue).
    CancelRejected,
    /// The request's outcome is unknown (timeout, 503 "Unknown error", OKX 50004).
    Unknown,
    /// Answer to a lookup of an order whose outcome was unknown.
    Lookup {
        /// What the venue knows: `None` when it has no such order.
        state: Option<OrderState>,
        /// Filled quantity per the venue.
        filled: Qty,
    },
}

/// Who cancelled an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CancelReason {
    /// Our own cancel request.
    Requested,
    /// Immediate-or-cancel remainder.
    IocExpired,
    /// A post-only order that would have taken.
    PostOnlyWouldTake,
    /// The venue's dead-man switch fired.
    Deadman,
    /// The venue cancelled it (maintenance, risk, self-trade prevention).
    Venue,
}

/// Why a venue refused an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RejectReason {
    /// Rate limit (HTTP 429, `-1015`, `50011`).
    RateLimited,
    /// Client order id already live (`-4116`, `51016`).
    DuplicateClientOrderId,
    /// Request expired in transit (`-1021`, `50102`, `expTime`).
    Expired,
    /// Not enough margin.
    InsufficientMargin,
    /// Below minimum size or notional.
    BelowMinimum,
    /// Reduce-only order would increase the position.
    ReduceOnly,
    /// Venue is in maintenance or pre-open.
    Maintenance,
    /// Anything else.
    Other,
}

/// Connectivity, clock, limit and maintenance signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VenueEvent {
    /// Venue concerned.
    pub venue: Venue,
    /// What happened.
    pub kind: VenueEventKind,
}

/// What a venue adapter observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VenueEventKind {
    /// Private and public streams are up.
    Connected,
    /// A stream dropped (`clean: false` for a silent stall found by a watchdog).
    Disconnected {
        /// Whether the venue closed it cleanly.
        clean: bool,
    },
    /// A clock offset sample: `venue_time - local_time`, from the lowest-RTT probe.
    ClockSample {
        /// Offset in ns (positive: venue ahead).
        offset_ns: i64,
        /// Round trip of the probe in ns.
        rtt_ns: u64,
    },
    /// Usage reported by rate-limit headers.
    RateLimitUsage {
        /// Request weight used in the current minute.
        weight_used: u32,
        /// Orders counted in the current minute.
        orders_used: u32,
    },
    /// HTTP 429: back off, honouring `Retry-After` when given.
    RateLimited {
        /// `Retry-After` in ns, if sent.
        retry_after_ns: Option<u64>,
    },
    /// HTTP 418: the IP is banned until `until`.
    Banned {
        /// End of the ban.
        until: UnixNanos,
    },
    /// A maintenance notice from the venue (OKX `status`, Binance symbol status).
    Maintenance {
        /// Start of the outage.
        start: UnixNanos,
        /// Expected end.
        end: UnixNanos,
        /// Start of pre-open, if announced.
        pre_open_start: Option<UnixNanos>,
    },
    /// The dead-man switch was armed until `expires_at` (confirmation of our request).
    DeadmanArmed {
        /// When the venue will cancel everything unless refreshed.
        expires_at: UnixNanos,
    },
    /// Result of a cancel-all request.
    CancelAllDone {
        /// Whether the venue confirmed it.
        ok: bool,
    },
    /// An authentication failure (bad key, signature or timestamp).
    AuthFailed,
    /// A message the adapter could not decode (counted for conformance).
    MalformedMessage,
}

/// An operator command. Scenario steps and API calls both become one of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorCommand {
    /// Correlates the engine's [`crate::Output::Reply`] with the request.
    pub command_id: u64,
    /// Who asks (operator name, `scenario`, `telegram:<user>`).
    pub actor: String,
    /// What is asked.
    pub action: OperatorAction,
}

/// An operator action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperatorAction {
    /// Enter HOLD (always allowed).
    Hold {
        /// Why.
        reason: String,
    },
    /// First step of the two-man resume.
    ResumeRequest {
        /// Why trading may resume.
        reason: String,
    },
    /// Second step, by a different actor, with the approval token.
    ResumeConfirm {
        /// Id returned by the request.
        request_id: u64,
        /// The shared approval secret (checked against its digest, never journaled).
        token: String,
    },
    /// Leave HOLD once a confirmed approval exists.
    Resume,
    /// First step of the kill switch.
    KillRequest {
        /// Why.
        reason: String,
    },
    /// Second step of the kill switch: HOLD, safe mode, cancel everything, flatten.
    KillConfirm {
        /// Id returned by the request.
        request_id: u64,
        /// The shared approval secret.
        token: String,
    },
    /// Hot-apply a validated config.
    ConfigApply {
        /// The new config.
        config: Box<Config>,
        /// Version label (driver-assigned, increasing).
        version: u64,
    },
    /// Change safe runtime fields (paper/testnet with safe mode on only).
    ControlPatch(ControlPatch),
}

/// Fields an operator may change at run time without a config apply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ControlPatch {
    /// Route orders to the simulated venue only.
    pub dry_run: Option<bool>,
    /// Safe mode on or off (off needs RUN eligibility as usual).
    pub safe_mode: Option<bool>,
    /// Notional per leg.
    pub order_notional: Option<Notional>,
    /// Entry threshold (net edge).
    pub min_spread: Option<crate::model::CentiBps>,
    /// Traded instrument.
    pub loop_pair: Option<InstrumentId>,
}

/// Leadership news.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LeaseEvent {
    /// The lease service granted this instance the lease for `epoch`, for `ttl_ns`
    /// from when the request left. A renewal is a grant with the same epoch. The engine
    /// reckons the expiry itself (`requested_at + ttl_ns`, less any clock step back the
    /// request's stamp may include), so no driver has to.
    Granted {
        /// Epoch (grows with every new leader and every start).
        epoch: u32,
        /// The driver's clock when the request left (the same clock as `now`).
        requested_at: UnixNanos,
        /// Lease time the service granted, ns.
        ttl_ns: u64,
    },
    /// The lease is gone (expired, revoked or taken by another instance).
    Lost,
    /// The driver's clock stepped back by `by_ns` (an NTP step, a corrected skew),
    /// detected against a monotonic clock. Lease times taken before the step are
    /// `by_ns` later on the clock than they really are, so the lease is shortened by
    /// as much: a step back must never stretch a lease beyond the lease service's.
    ClockSteppedBack {
        /// Size of the step, ns.
        by_ns: u64,
    },
}

/// A venue's view of our account, for reconciliation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconSnapshot {
    /// Venue.
    pub venue: Venue,
    /// Venue time the snapshot reflects: fills the engine booked with a later venue
    /// timestamp happened after it (a reconciliation race, not a mismatch).
    pub as_of: UnixNanos,
    /// Open orders the venue holds.
    pub open_orders: Vec<ReconOrder>,
    /// Positions per instrument.
    pub positions: Vec<(InstrumentId, Qty)>,
    /// Fills since the last journaled fill.
    pub fills: Vec<ReconFill>,
}

/// An open order as the venue reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconOrder {
    /// Our id, if the order carries one of ours.
    pub client_order_id: Option<ClientOrderId>,
    /// Venue id.
    pub venue_order_id: VenueOrderId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: Price,
    /// Original quantity.
    pub qty: Qty,
    /// Filled so far.
    pub filled: Qty,
}

/// A fill as the venue reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconFill {
    /// Our id, if the order carried one of ours.
    pub client_order_id: Option<ClientOrderId>,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Trade id.
    pub trade_id: TradeId,
    /// Side.
    pub side: Side,
    /// Price.
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// Maker or taker.
    pub liquidity: Liquidity,
    /// Fee (positive = paid).
    pub fee: Option<Notional>,
}

/// Driver bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SystemEvent {
    /// Journal records up to and including `through` are durable.
    JournalCommitted {
        /// Highest durable journal sequence.
        through: u64,
        /// How long the commit took, ns.
        latency_ns: u64,
    },
    /// The journal could not be written: trading must stop.
    JournalFailed,
    /// Depth of the driver's input queue when this batch was taken.
    InputBacklog {
        /// Inputs waiting.
        depth: u32,
        /// Capacity of the queue.
        capacity: u32,
    },
}
