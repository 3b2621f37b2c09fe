//! A simulated venue: an exchange model that is itself a sans-IO state machine, so the
//! discrete-event world and the live service's paper mode drive the same code.
//!
//! It reproduces what matters at the engine boundary (SIMULATION.md): acks, taker fills
//! that walk the book, maker fills with a queue-position model, fees, reduce-only and
//! post-only semantics, client-order-id uniqueness among open orders, rate-limit
//! budgets (429 with Retry-After, then 418 bans), dead-man timers, request expiry,
//! maintenance and pre-open, and faults: 429 storms, unknown outcomes (a 503 that may
//! or may not have placed the order), duplicated reports, a venue clock offset.
//!
//! Responses carry no delay: the paper exchange ([`crate::paper`]) delivers them after its
//! latency model.

use crate::rng::SimRng;
use propbot_engine::book::Book;
use propbot_engine::config::Config;
use propbot_engine::gateway::{MarketUpdate, Request, Response};
use propbot_engine::input::{
    CancelReason, ExecutionKind, ExecutionReport, ReconFill, ReconOrder, ReconSnapshot,
    RejectReason, VenueEventKind,
};
use propbot_engine::metrics::RollingCounter;
use propbot_engine::model::{
    ClientOrderId, InstrumentId, Liquidity, Notional, OrderState, Price, Qty, Side, TimeInForce,
    TradeId, Venue, VenueOrderId, notional_of,
};
use propbot_engine::output::OrderRequest;
use propbot_engine::time::{NANOS_PER_MINUTE, NANOS_PER_SECOND, UnixNanos};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which process sent a request (for routing reports and for the checkers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InstanceId(pub u8);

/// Venue behaviour parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VenueParams {
    /// Venue order limit per 10 s (counts places and cancels).
    pub orders_per_10s: u32,
    /// Venue order limit per minute.
    pub orders_per_min: u32,
    /// 429s within a minute after which the venue bans (418).
    pub ban_after_429: u32,
    /// Ban length, ms.
    pub ban_ms: u64,
    /// `Retry-After` sent with a 429, ms.
    pub retry_after_ms: u64,
}

impl Default for VenueParams {
    fn default() -> Self {
        VenueParams {
            orders_per_10s: 300,
            orders_per_min: 1200,
            ban_after_429: 20,
            ban_ms: 120_000,
            retry_after_ms: 1_000,
        }
    }
}

/// Faults a scenario can switch on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VenueFaults {
    /// Every request gets a 429 until then.
    pub storm_until: UnixNanos,
    /// Places get an unknown outcome (503) with this chance, ppm, until `unknown_until`.
    pub unknown_ppm: u64,
    /// End of the unknown-outcome fault.
    pub unknown_until: UnixNanos,
    /// Execution reports are duplicated with this chance, ppm.
    pub duplicate_ppm: u64,
    /// Maintenance windows: (start, pre-open start, end).
    pub maintenance: Vec<(UnixNanos, Option<UnixNanos>, UnixNanos)>,
    /// Venue clock minus true time, ns.
    pub clock_offset_ns: i64,
}

/// A response and the instance it is for.
pub type Routed = (InstanceId, Response);

/// An order as the venue keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VenueOrder {
    /// The request.
    pub request: OrderRequest,
    /// Venue id.
    pub venue_order_id: VenueOrderId,
    /// Filled.
    pub filled: Qty,
    /// Still open.
    pub open: bool,
    /// Who placed it.
    pub owner: InstanceId,
    /// Resting quantity ahead in the queue (maker model).
    pub queue_ahead: Qty,
    /// Final state.
    pub state: OrderState,
}

/// An acceptance, for the checkers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acceptance {
    /// The order.
    pub client_order_id: ClientOrderId,
    /// Who sent it.
    pub owner: InstanceId,
    /// When the venue accepted it.
    pub at: UnixNanos,
    /// Purpose (for cap checks).
    pub request: OrderRequest,
}

/// The simulated venue.
#[derive(Clone, Debug)]
pub struct SimVenue {
    venue: Venue,
    config: Config,
    /// Behaviour.
    pub params: VenueParams,
    /// Active faults.
    pub faults: VenueFaults,
    rng: SimRng,
    books: Vec<Book>,
    orders: BTreeMap<ClientOrderId, VenueOrder>,
    positions: Vec<Qty>,
    fills: Vec<(InstanceId, ReconFill)>,
    /// Every accepted order, in acceptance order.
    pub accepted: Vec<Acceptance>,
    /// Orders placed behind an unknown outcome.
    hidden: std::collections::BTreeSet<ClientOrderId>,
    orders_10s: RollingCounter,
    orders_min: RollingCounter,
    recent_429: RollingCounter,
    banned_until: UnixNanos,
    deadman_until: Option<UnixNanos>,
    next_order_id: u64,
    next_trade_id: u64,
    /// Time of the last call (stamps reports with the venue clock).
    last_now: UnixNanos,
    /// Counters for reports.
    pub counters: VenueCounters,
}

/// What happened at the venue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VenueCounters {
    /// Orders accepted.
    pub accepted: u64,
    /// Orders rejected.
    pub rejected: u64,
    /// Fills.
    pub fills: u64,
    /// 429s sent.
    pub http_429: u64,
    /// Bans.
    pub bans: u64,
    /// Orders cancelled by the dead-man switch.
    pub deadman_cancels: u64,
    /// Unknown outcomes produced.
    pub unknown: u64,
    /// Of those, orders that were placed anyway.
    pub unknown_placed: u64,
    /// Duplicated reports.
    pub duplicates: u64,
    /// Fills of orders whose placement the client heard of only as "unknown".
    pub hidden_fills: u64,
}

impl SimVenue {
    /// A venue for the config's instruments.
    pub fn new(venue: Venue, config: &Config, params: VenueParams, rng: SimRng) -> SimVenue {
        let books = config
            .instruments
            .iter()
            .enumerate()
            .map(|(i, inst)| {
                let tick = inst.listings[venue.index()]
                    .as_ref()
                    .map_or(Price::from_raw(1), |l| l.tick);
                Book::new(venue, InstrumentId(i as u16), tick, 8192)
            })
            .collect();
        SimVenue {
            venue,
            config: config.clone(),
            orders_10s: RollingCounter::new(10 * NANOS_PER_SECOND, params.orders_per_10s),
            orders_min: RollingCounter::new(NANOS_PER_MINUTE, params.orders_per_min),
            recent_429: RollingCounter::new(NANOS_PER_MINUTE, params.ban_after_429.max(1)),
            params,
            faults: VenueFaults::default(),
            rng,
            books,
            orders: BTreeMap::new(),
            positions: vec![Qty::ZERO; config.instruments.len()],
            fills: Vec::new(),
            accepted: Vec::new(),
            hidden: std::collections::BTreeSet::new(),
            banned_until: UnixNanos::ZERO,
            deadman_until: None,
            next_order_id: 1,
            next_trade_id: 1,
            last_now: UnixNanos::ZERO,
            counters: VenueCounters::default(),
        }
    }

    /// The venue.
    pub fn venue(&self) -> Venue {
        self.venue
    }

    /// Position per instrument (the venue's truth).
    pub fn position(&self, instrument: InstrumentId) -> Qty {
        self.positions[instrument.index()]
    }

    /// Open orders.
    pub fn open_orders(&self) -> impl Iterator<Item = &VenueOrder> {
        self.orders.values().filter(|o| o.open)
    }

    /// Every fill, with the instance it was reported to.
    pub fn fills(&self) -> &[(InstanceId, ReconFill)] {
        &self.fills
    }

    /// When the dead-man switch fires, if armed.
    pub fn deadman_until(&self) -> Option<UnixNanos> {
        self.deadman_until
    }

    /// The venue's book of an instrument.
    pub fn book(&self, instrument: InstrumentId) -> &Book {
        &self.books[instrument.index()]
    }

    fn clock(&self, now: UnixNanos) -> UnixNanos {
        UnixNanos((now.0 as i64 + self.faults.clock_offset_ns).max(0) as u64)
    }

    /// Venue time as the venue's clock reads it (for clock-offset probes).
    pub fn venue_time(&self, now: UnixNanos) -> UnixNanos {
        self.clock(now)
    }

    /// Applies a public market update; resting orders may fill.
    pub fn on_market(&mut self, now: UnixNanos, update: &MarketUpdate) -> Vec<Routed> {
        self.last_now = now;
        let i = update.instrument().index();
        match update {
            MarketUpdate::Snapshot {
                last, bids, asks, ..
            } => {
                self.books[i].apply_snapshot(now, *last, bids, asks);
            }
            MarketUpdate::Delta {
                sequence,
                bids,
                asks,
                ..
            } => {
                if !self.books[i].is_valid() {
                    return Vec::new();
                }
                self.books[i].apply_delta(now, *sequence, bids, asks);
            }
            MarketUpdate::Trade {
                price,
                qty,
                aggressor,
                ..
            } => {
                return self.trade_hits_makers(now, update.instrument(), *price, *qty, *aggressor);
            }
        }
        self.crossing_makers(now, update.instrument())
    }

    /// The venue cancels every open order on its own (maintenance, risk, a venue bug).
    pub fn venue_cancel_all(&mut self, now: UnixNanos) -> Vec<Routed> {
        self.last_now = now;
        let mut out = Vec::new();
        let open: Vec<ClientOrderId> = self
            .open_orders()
            .map(|o| o.request.client_order_id)
            .collect();
        for id in open {
            self.close(now, id, CancelReason::Venue, &mut out);
        }
        out
    }

    /// Dead-man expiry.
    pub fn tick(&mut self, now: UnixNanos) -> Vec<Routed> {
        self.last_now = now;
        let mut out = Vec::new();
        if let Some(until) = self.deadman_until
            && now >= until
        {
            self.deadman_until = None;
            let open: Vec<ClientOrderId> = self
                .open_orders()
                .map(|o| o.request.client_order_id)
                .collect();
            for id in open {
                self.counters.deadman_cancels += 1;
                self.close(now, id, CancelReason::Deadman, &mut out);
            }
        }
        out
    }

    pub(crate) fn in_maintenance(&self, now: UnixNanos) -> Option<bool> {
        // Some(true) = pre-open, Some(false) = down.
        let t = self.clock(now);
        self.faults
            .maintenance
            .iter()
            .find(|(s, _, e)| t >= *s && t < *e)
            .map(|(_, pre, _)| pre.is_some_and(|p| t >= p))
    }

    /// Until when the venue bans this client (418); in the past when it does not.
    pub fn banned_until(&self) -> UnixNanos {
        self.banned_until
    }

    /// Rate limits, storms and bans. `Err` carries the signal to send back.
    fn admit(&mut self, now: UnixNanos, counts: bool) -> Result<(), VenueEventKind> {
        if now < self.banned_until {
            return Err(VenueEventKind::Banned {
                until: self.banned_until,
            });
        }
        let storm = now < self.faults.storm_until;
        let over = counts
            && (!self.orders_10s.has_room(now, u32::MAX)
                || !self.orders_min.has_room(now, u32::MAX));
        if storm || over {
            self.counters.http_429 += 1;
            if !self.recent_429.try_record(now) {
                self.counters.bans += 1;
                self.banned_until = now.plus_millis(self.params.ban_ms);
                return Err(VenueEventKind::Banned {
                    until: self.banned_until,
                });
            }
            return Err(VenueEventKind::RateLimited {
                retry_after_ns: Some(self.params.retry_after_ms * 1_000_000),
            });
        }
        if counts {
            self.orders_10s.try_record(now);
            self.orders_min.try_record(now);
        }
        Ok(())
    }

    /// Processes a request that has just arrived from `from`.
    pub fn submit(&mut self, now: UnixNanos, from: InstanceId, request: Request) -> Vec<Routed> {
        self.last_now = now;
        let mut out = Vec::new();
        let counts = matches!(
            request,
            Request::Place(_) | Request::Cancel { .. } | Request::CancelAll
        );
        if let Err(signal) = self.admit(now, counts) {
            self.refuse(from, signal, request, &mut out);
            return out;
        }
        match request {
            Request::Place(order) => self.place(now, from, order, &mut out),
            Request::Cancel {
                client_order_id, ..
            } => self.cancel(now, client_order_id, &mut out),
            Request::CancelAll => {
                let open: Vec<ClientOrderId> = self
                    .open_orders()
                    .map(|o| o.request.client_order_id)
                    .collect();
                for id in open {
                    self.close(now, id, CancelReason::Requested, &mut out);
                }
                out.push((
                    from,
                    Response::Venue(VenueEventKind::CancelAllDone { ok: true }),
                ));
            }
            Request::Query {
                client_order_id, ..
            } => out.push((from, self.lookup(client_order_id))),
            Request::ArmDeadman { timeout_ns } => {
                let until = now.plus_nanos(timeout_ns);
                self.deadman_until = Some(until);
                out.push((
                    from,
                    Response::Venue(VenueEventKind::DeadmanArmed { expires_at: until }),
                ));
            }
            Request::Reconcile => {
                out.push((from, Response::Reconciliation(self.reconciliation(now))))
            }
            Request::Resync { instrument } => {
                if let Some(snapshot) = self.book_snapshot(instrument, now) {
                    out.push((from, Response::Market(snapshot)));
                }
            }
        }
        self.duplicate(&mut out);
        out
    }

    /// A full snapshot of the venue's book of `instrument` stamped `ts`, as a resync
    /// answers it; `None` while the book is invalid.
    pub fn book_snapshot(&self, instrument: InstrumentId, ts: UnixNanos) -> Option<MarketUpdate> {
        let book = &self.books[instrument.index()];
        book.is_valid().then(|| MarketUpdate::Snapshot {
            venue: self.venue,
            instrument,
            last: book.last_sequence(),
            bids: book.bids().collect(),
            asks: book.asks().collect(),
            ts,
        })
    }

    /// The answer to a request the rate limits (or a ban) turned away: the signal, and
    /// the refusal of what was asked.
    fn refuse(
        &mut self,
        from: InstanceId,
        signal: VenueEventKind,
        request: Request,
        out: &mut Vec<Routed>,
    ) {
        out.push((from, Response::Venue(signal)));
        match request {
            Request::Place(o) => out.push((
                from,
                self.report(
                    &o,
                    ExecutionKind::Rejected {
                        reason: RejectReason::RateLimited,
                    },
                ),
            )),
            Request::Cancel {
                client_order_id, ..
            } => {
                if let Some(o) = self.orders.get(&client_order_id) {
                    let (owner, req) = (o.owner, o.request);
                    out.push((owner, self.report(&req, ExecutionKind::CancelRejected)));
                }
            }
            Request::CancelAll => out.push((
                from,
                Response::Venue(VenueEventKind::CancelAllDone { ok: false }),
            )),
            _ => {}
        }
    }

    /// A cancel: the order closes, unless it is no longer open or the venue is down
    /// for maintenance (then the owner hears `CancelRejected`).
    fn cancel(&mut self, now: UnixNanos, client_order_id: ClientOrderId, out: &mut Vec<Routed>) {
        let open = self
            .orders
            .get(&client_order_id)
            .filter(|o| o.open)
            .map(|o| o.owner);
        match open {
            Some(_) if self.in_maintenance(now) == Some(false) => {
                let o = self.orders[&client_order_id];
                out.push((
                    o.owner,
                    self.report(&o.request, ExecutionKind::CancelRejected),
                ));
            }
            Some(_) => self.close(now, client_order_id, CancelReason::Requested, out),
            None => {
                if let Some(o) = self.orders.get(&client_order_id) {
                    let (owner, req) = (o.owner, o.request);
                    out.push((owner, self.report(&req, ExecutionKind::CancelRejected)));
                }
            }
        }
    }

    /// The answer to an order lookup.
    fn lookup(&self, client_order_id: ClientOrderId) -> Response {
        let (state, filled, req) = match self.orders.get(&client_order_id) {
            Some(o) => (Some(o.state), o.filled, o.request),
            None => {
                // The venue has no such order: answer with what the asker sent.
                let dummy = OrderRequest {
                    client_order_id,
                    venue: self.venue,
                    instrument: InstrumentId(0),
                    side: Side::Buy,
                    price: Price::ZERO,
                    qty: Qty::ZERO,
                    time_in_force: TimeInForce::Ioc,
                    reduce_only: false,
                    expires_at: UnixNanos::ZERO,
                    purpose: propbot_engine::output::OrderPurpose::Entry,
                    dry_run: true,
                };
                (None, Qty::ZERO, dummy)
            }
        };
        self.report(&req, ExecutionKind::Lookup { state, filled })
    }

    fn duplicate(&mut self, out: &mut Vec<Routed>) {
        if self.faults.duplicate_ppm == 0 {
            return;
        }
        let mut extra = Vec::new();
        for r in out.iter() {
            if matches!(r.1, Response::Execution(_))
                && self.rng.chance_ppm(self.faults.duplicate_ppm)
            {
                extra.push(r.clone());
                self.counters.duplicates += 1;
            }
        }
        out.extend(extra);
    }

    /// What reconciliation sees at `now`: every open order, positions, every fill.
    pub fn reconciliation(&self, now: UnixNanos) -> ReconSnapshot {
        ReconSnapshot {
            venue: self.venue,
            as_of: self.clock(now),
            open_orders: self
                .open_orders()
                .map(|o| ReconOrder {
                    client_order_id: Some(o.request.client_order_id),
                    venue_order_id: o.venue_order_id,
                    instrument: o.request.instrument,
                    side: o.request.side,
                    price: o.request.price,
                    qty: o.request.qty,
                    filled: o.filled,
                })
                .collect(),
            positions: self
                .positions
                .iter()
                .enumerate()
                .map(|(i, q)| (InstrumentId(i as u16), *q))
                .collect(),
            fills: self.fills.iter().map(|(_, f)| *f).collect(),
        }
    }

    fn report(&self, o: &OrderRequest, kind: ExecutionKind) -> Response {
        Response::Execution(ExecutionReport {
            venue: self.venue,
            instrument: o.instrument,
            side: o.side,
            client_order_id: o.client_order_id,
            kind,
            ts_exchange: self.clock(self.last_now),
        })
    }

    fn place(&mut self, now: UnixNanos, from: InstanceId, o: OrderRequest, out: &mut Vec<Routed>) {
        let reject = |s: &mut Self, reason, out: &mut Vec<Routed>| {
            s.counters.rejected += 1;
            out.push((from, s.report(&o, ExecutionKind::Rejected { reason })));
        };
        if o.instrument.index() >= self.books.len() || !o.qty.is_positive() {
            return reject(self, RejectReason::Other, out);
        }
        // The venue's lot filter (Binance LOT_SIZE, OKX lotSz/minSz): sizes are whole
        // lots, so every fill and every position is too.
        let (lot, min) = self.lot(o.instrument);
        if o.qty.raw() % lot.raw() != 0 || o.qty < min {
            return reject(self, RejectReason::BelowMinimum, out);
        }
        if self.clock(now) > o.expires_at {
            return reject(self, RejectReason::Expired, out);
        }
        match self.in_maintenance(now) {
            Some(false) => return reject(self, RejectReason::Maintenance, out),
            Some(true) if o.time_in_force != TimeInForce::PostOnly => {
                return reject(self, RejectReason::Maintenance, out);
            }
            _ => {}
        }
        if self.orders.get(&o.client_order_id).is_some_and(|x| x.open) {
            return reject(self, RejectReason::DuplicateClientOrderId, out);
        }
        // An unknown outcome: the client hears 503; whether the order exists is a coin flip.
        let unknown =
            now < self.faults.unknown_until && self.rng.chance_ppm(self.faults.unknown_ppm);
        if unknown {
            self.counters.unknown += 1;
            out.push((from, self.report(&o, ExecutionKind::Unknown)));
            if self.rng.below(2) == 0 {
                return;
            }
            self.counters.unknown_placed += 1;
            self.hidden.insert(o.client_order_id);
            let mut hidden = Vec::new();
            self.accept(now, from, o, &mut hidden);
            return;
        }
        self.accept(now, from, o, out);
    }

    fn accept(&mut self, now: UnixNanos, from: InstanceId, o: OrderRequest, out: &mut Vec<Routed>) {
        let i = o.instrument.index();
        let mut qty = o.qty;
        if o.reduce_only {
            let pos = self.positions[i].raw();
            let reducible = match o.side {
                Side::Buy if pos < 0 => -pos,
                Side::Sell if pos > 0 => pos,
                _ => 0,
            };
            if reducible == 0 {
                self.counters.rejected += 1;
                out.push((
                    from,
                    self.report(
                        &o,
                        ExecutionKind::Rejected {
                            reason: RejectReason::ReduceOnly,
                        },
                    ),
                ));
                return;
            }
            qty = Qty::from_raw(qty.raw().min(reducible));
        }
        let top = self.books[i].top();
        let crosses = match o.side {
            Side::Buy => top.ask_qty.is_positive() && o.price >= top.ask,
            Side::Sell => top.bid_qty.is_positive() && o.price <= top.bid,
        };
        if o.time_in_force == TimeInForce::PostOnly && crosses && self.venue == Venue::Binance {
            self.counters.rejected += 1;
            out.push((
                from,
                self.report(
                    &o,
                    ExecutionKind::Rejected {
                        reason: RejectReason::Other,
                    },
                ),
            ));
            return;
        }
        let venue_order_id = VenueOrderId(self.next_order_id);
        self.next_order_id += 1;
        self.counters.accepted += 1;
        self.accepted.push(Acceptance {
            client_order_id: o.client_order_id,
            owner: from,
            at: now,
            request: o,
        });
        let queue_ahead = self.books[i]
            .bids()
            .chain(self.books[i].asks())
            .find(|l| l.price == o.price)
            .map_or(Qty::ZERO, |l| l.qty);
        self.orders.insert(
            o.client_order_id,
            VenueOrder {
                request: o,
                venue_order_id,
                filled: Qty::ZERO,
                open: true,
                owner: from,
                queue_ahead,
                state: OrderState::Open,
            },
        );
        out.push((from, self.report(&o, ExecutionKind::Ack { venue_order_id })));
        if o.time_in_force == TimeInForce::PostOnly && crosses {
            // OKX: acknowledged, then cancelled because it would take.
            self.close(now, o.client_order_id, CancelReason::PostOnlyWouldTake, out);
            return;
        }
        if crosses {
            self.take(now, o.client_order_id, qty, out);
        }
        if o.time_in_force == TimeInForce::Ioc {
            if self.orders.get(&o.client_order_id).is_some_and(|x| x.open) {
                self.close(now, o.client_order_id, CancelReason::IocExpired, out);
            }
        } else if qty < o.qty {
            // Reduce-only clamp: the rest cannot rest.
            self.close(now, o.client_order_id, CancelReason::Venue, out);
        }
    }

    /// The venue's lot and minimum size for an instrument (one unit when unlisted).
    fn lot(&self, instrument: InstrumentId) -> (Qty, Qty) {
        self.config
            .listing(self.venue, instrument)
            .map_or((Qty::from_raw(1), Qty::from_raw(1)), |l| (l.lot, l.min_qty))
    }

    /// Taker fill walking the book up to the order's limit, at most `max_qty`, in
    /// whole lots (a level thinner than a lot, which only a generated book can show,
    /// is passed over).
    fn take(&mut self, now: UnixNanos, id: ClientOrderId, max_qty: Qty, out: &mut Vec<Routed>) {
        let o = self.orders[&id];
        let i = o.request.instrument.index();
        let levels: Vec<_> = match o.request.side {
            Side::Buy => self.books[i]
                .asks()
                .take_while(|l| l.price <= o.request.price)
                .collect(),
            Side::Sell => self.books[i]
                .bids()
                .take_while(|l| l.price >= o.request.price)
                .collect(),
        };
        let (lot, _) = self.lot(o.request.instrument);
        let mut remaining = max_qty.raw() - o.filled.raw();
        for l in levels {
            if remaining <= 0 {
                break;
            }
            let q = Qty::from_raw(remaining.min(l.qty.raw())).round_down_to(lot);
            if q.is_positive() {
                self.fill(now, id, l.price, q, Liquidity::Taker, out);
                remaining -= q.raw();
            }
        }
    }

    fn fill(
        &mut self,
        now: UnixNanos,
        id: ClientOrderId,
        price: Price,
        qty: Qty,
        liquidity: Liquidity,
        out: &mut Vec<Routed>,
    ) {
        let _ = now;
        let trade_id = TradeId(self.next_trade_id);
        self.next_trade_id += 1;
        let o = self.orders.get_mut(&id).expect("filling a known order");
        o.filled = Qty::from_raw(o.filled.raw() + qty.raw());
        let (req, owner) = (o.request, o.owner);
        if o.filled >= o.request.qty {
            o.open = false;
            o.state = OrderState::Filled;
        }
        let i = req.instrument.index();
        self.positions[i] = Qty::from_raw(self.positions[i].raw() + req.side.sign() * qty.raw());
        let scales = self.config.instruments[i].scales;
        let rates = &self.config.venues[self.venue.index()];
        let rate = if liquidity == Liquidity::Maker {
            rates.maker_fee
        } else {
            rates.taker_fee
        };
        let fee = notional_of(price, qty, scales.price, scales.qty)
            .and_then(|n| n.times_rate_ceil(rate))
            .unwrap_or(Notional::ZERO);
        self.counters.fills += 1;
        if self.hidden.contains(&id) {
            self.counters.hidden_fills += 1;
        }
        self.fills.push((
            owner,
            ReconFill {
                client_order_id: Some(id),
                instrument: req.instrument,
                trade_id,
                side: req.side,
                price,
                qty,
                liquidity,
                fee: Some(fee),
            },
        ));
        out.push((
            owner,
            self.report(
                &req,
                ExecutionKind::Fill {
                    trade_id,
                    price,
                    qty,
                    liquidity,
                    fee: Some(fee),
                },
            ),
        ));
    }

    fn close(
        &mut self,
        _now: UnixNanos,
        id: ClientOrderId,
        reason: CancelReason,
        out: &mut Vec<Routed>,
    ) {
        if let Some(o) = self.orders.get_mut(&id) {
            if !o.open {
                return;
            }
            o.open = false;
            o.state = OrderState::Cancelled;
            let (req, owner) = (o.request, o.owner);
            out.push((
                owner,
                self.report(&req, ExecutionKind::Cancelled { reason }),
            ));
        }
    }

    /// A public trade at `price` consumes resting size ahead of our makers, then them,
    /// in whole lots.
    fn trade_hits_makers(
        &mut self,
        now: UnixNanos,
        instrument: InstrumentId,
        price: Price,
        qty: Qty,
        aggressor: Side,
    ) -> Vec<Routed> {
        let mut out = Vec::new();
        let ids: Vec<ClientOrderId> = self
            .open_orders()
            .filter(|o| o.request.instrument == instrument && o.request.side != aggressor)
            .filter(|o| match o.request.side {
                Side::Buy => price <= o.request.price,
                Side::Sell => price >= o.request.price,
            })
            .map(|o| o.request.client_order_id)
            .collect();
        let (lot, _) = self.lot(instrument);
        let mut volume = qty.raw();
        for id in ids {
            let o = self.orders.get_mut(&id).expect("open");
            let ahead = o.queue_ahead.raw().min(volume);
            o.queue_ahead = Qty::from_raw(o.queue_ahead.raw() - ahead);
            volume -= ahead;
            let rest = o.request.qty.raw() - o.filled.raw();
            let q = Qty::from_raw(rest.min(volume)).round_down_to(lot).raw();
            let limit = o.request.price;
            if q > 0 {
                volume -= q;
                self.fill(now, id, limit, Qty::from_raw(q), Liquidity::Maker, &mut out);
            }
        }
        out
    }

    /// The book moved through a resting order's price: it fills completely.
    fn crossing_makers(&mut self, now: UnixNanos, instrument: InstrumentId) -> Vec<Routed> {
        let top = self.books[instrument.index()].top();
        let ids: Vec<(ClientOrderId, Qty, Price)> = self
            .open_orders()
            .filter(|o| {
                o.request.instrument == instrument && o.request.time_in_force != TimeInForce::Ioc
            })
            .filter(|o| match o.request.side {
                Side::Buy => top.ask_qty.is_positive() && top.ask <= o.request.price,
                Side::Sell => top.bid_qty.is_positive() && top.bid >= o.request.price,
            })
            .map(|o| {
                (
                    o.request.client_order_id,
                    Qty::from_raw(o.request.qty.raw() - o.filled.raw()),
                    o.request.price,
                )
            })
            .collect();
        let mut out = Vec::new();
        for (id, q, p) in ids {
            self.fill(now, id, p, q, Liquidity::Maker, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Seeds;
    use propbot_engine::Profile;
    use propbot_engine::model::Level;
    use propbot_engine::output::OrderPurpose;

    fn venue() -> SimVenue {
        let config = Config::embedded(Profile::Paper);
        let mut v = SimVenue::new(
            Venue::Okx,
            &config,
            VenueParams::default(),
            Seeds::new(1).stream("venue", 1),
        );
        let lv = |p, q| Level {
            price: Price::from_raw(p),
            qty: Qty::from_raw(q),
        };
        v.on_market(
            UnixNanos(1),
            &MarketUpdate::Snapshot {
                venue: Venue::Okx,
                instrument: InstrumentId(0),
                last: 1,
                bids: vec![lv(600_000, 10), lv(599_990, 20)],
                asks: vec![lv(600_010, 10), lv(600_020, 20)],
                ts: UnixNanos(1),
            },
        );
        v
    }

    fn order(seq: u64, side: Side, price: i64, qty: i64, tif: TimeInForce) -> OrderRequest {
        OrderRequest {
            client_order_id: ClientOrderId {
                epoch: 1,
                sequence: seq,
            },
            venue: Venue::Okx,
            instrument: InstrumentId(0),
            side,
            price: Price::from_raw(price),
            qty: Qty::from_raw(qty),
            time_in_force: tif,
            reduce_only: false,
            expires_at: UnixNanos(u64::MAX),
            purpose: OrderPurpose::Entry,
            dry_run: true,
        }
    }

    fn fills(out: &[Routed]) -> Vec<(Price, Qty)> {
        out.iter()
            .filter_map(|(_, r)| match r {
                Response::Execution(ExecutionReport {
                    kind: ExecutionKind::Fill { price, qty, .. },
                    ..
                }) => Some((*price, *qty)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_ioc_walks_the_book_then_expires() {
        let mut v = venue();
        let out = v.submit(
            UnixNanos(2),
            InstanceId(0),
            Request::Place(order(1, Side::Buy, 600_020, 25, TimeInForce::Ioc)),
        );
        assert_eq!(
            fills(&out),
            vec![
                (Price::from_raw(600_010), Qty::from_raw(10)),
                (Price::from_raw(600_020), Qty::from_raw(15))
            ]
        );
        assert_eq!(v.position(InstrumentId(0)), Qty::from_raw(25));
        let out = v.submit(
            UnixNanos(3),
            InstanceId(0),
            Request::Place(order(2, Side::Buy, 600_000, 5, TimeInForce::Ioc)),
        );
        assert!(fills(&out).is_empty());
        assert!(out.iter().any(|(_, r)| matches!(
            r,
            Response::Execution(ExecutionReport {
                kind: ExecutionKind::Cancelled {
                    reason: CancelReason::IocExpired
                },
                ..
            })
        )));
    }

    #[test]
    fn a_maker_fills_after_the_queue_ahead_trades() {
        let mut v = venue();
        v.submit(
            UnixNanos(2),
            InstanceId(0),
            Request::Place(order(1, Side::Buy, 600_000, 5, TimeInForce::PostOnly)),
        );
        let trade = |q| MarketUpdate::Trade {
            venue: Venue::Okx,
            instrument: InstrumentId(0),
            price: Price::from_raw(600_000),
            qty: Qty::from_raw(q),
            aggressor: Side::Sell,
            ts: UnixNanos(3),
        };
        assert!(
            fills(&v.on_market(UnixNanos(3), &trade(8))).is_empty(),
            "10 ahead in the queue"
        );
        assert_eq!(
            fills(&v.on_market(UnixNanos(4), &trade(6))),
            vec![(Price::from_raw(600_000), Qty::from_raw(4))]
        );
    }

    #[test]
    fn reduce_only_never_flips_and_duplicate_ids_are_refused() {
        let mut v = venue();
        let mut o = order(1, Side::Sell, 599_990, 5, TimeInForce::Ioc);
        o.reduce_only = true;
        let out = v.submit(UnixNanos(2), InstanceId(0), Request::Place(o));
        assert!(out.iter().any(|(_, r)| matches!(
            r,
            Response::Execution(ExecutionReport {
                kind: ExecutionKind::Rejected {
                    reason: RejectReason::ReduceOnly
                },
                ..
            })
        )));
        v.submit(
            UnixNanos(3),
            InstanceId(0),
            Request::Place(order(2, Side::Buy, 599_000, 5, TimeInForce::Gtc)),
        );
        let out = v.submit(
            UnixNanos(4),
            InstanceId(0),
            Request::Place(order(2, Side::Buy, 599_000, 5, TimeInForce::Gtc)),
        );
        assert!(out.iter().any(|(_, r)| matches!(
            r,
            Response::Execution(ExecutionReport {
                kind: ExecutionKind::Rejected {
                    reason: RejectReason::DuplicateClientOrderId
                },
                ..
            })
        )));
    }

    #[test]
    fn rate_limits_answer_429_then_ban() {
        let mut v = venue();
        v.params.ban_after_429 = 3;
        v.recent_429 = RollingCounter::new(NANOS_PER_MINUTE, 3);
        v.faults.storm_until = UnixNanos(1_000_000_000);
        let mut signals = Vec::new();
        for k in 0..5 {
            let out = v.submit(UnixNanos(10 + k), InstanceId(0), Request::CancelAll);
            signals.extend(out.into_iter().filter_map(|(_, r)| match r {
                Response::Venue(
                    s @ (VenueEventKind::RateLimited { .. } | VenueEventKind::Banned { .. }),
                ) => Some(s),
                _ => None,
            }));
        }
        assert!(matches!(
            signals[0],
            VenueEventKind::RateLimited {
                retry_after_ns: Some(_)
            }
        ));
        assert!(matches!(signals[3], VenueEventKind::Banned { .. }));
    }

    #[test]
    fn the_deadman_cancels_everything_when_it_fires() {
        let mut v = venue();
        v.submit(
            UnixNanos(2),
            InstanceId(0),
            Request::Place(order(1, Side::Buy, 599_000, 5, TimeInForce::Gtc)),
        );
        v.submit(
            UnixNanos(3),
            InstanceId(0),
            Request::ArmDeadman { timeout_ns: 100 },
        );
        assert!(v.tick(UnixNanos(50)).is_empty());
        let out = v.tick(UnixNanos(103));
        assert!(out.iter().any(|(_, r)| matches!(
            r,
            Response::Execution(ExecutionReport {
                kind: ExecutionKind::Cancelled {
                    reason: CancelReason::Deadman
                },
                ..
            })
        )));
        assert_eq!(v.open_orders().count(), 0);
    }

    #[test]
    fn late_requests_are_rejected_by_their_expiry() {
        let mut v = venue();
        let mut o = order(1, Side::Buy, 600_010, 5, TimeInForce::Ioc);
        o.expires_at = UnixNanos(5);
        let out = v.submit(UnixNanos(6), InstanceId(0), Request::Place(o));
        assert!(out.iter().any(|(_, r)| matches!(
            r,
            Response::Execution(ExecutionReport {
                kind: ExecutionKind::Rejected {
                    reason: RejectReason::Expired
                },
                ..
            })
        )));
        assert!(v.accepted.is_empty());
    }
}
