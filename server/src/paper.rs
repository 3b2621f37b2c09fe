//! The paper world: the simulator's synthetic two-venue market and one simulated venue
//! per exchange, driven in real time (or faster) by one task.
//!
//! The task sleeps until the next market update is due, stamps it with the wall clock,
//! applies it to the simulated venue of its exchange (resting paper orders may fill)
//! and sends it to the engine. Requests from the engine task (orders, cancels,
//! lookups, dead-man arms, reconciliations, resyncs) are answered by the simulated
//! venues; their responses reach the engine after a seeded random latency, as a live
//! venue's would.
//!
//! Two translations make a restarted paper session consistent with its journal,
//! because the simulated venues start empty at every start while the journal
//! remembers positions:
//! - positions reported for reconciliation include the positions the journal held at
//!   start (the paper venue's account carries over exactly what PropBot committed);
//! - venue trade ids are prefixed with the lease epoch, so a fresh venue's trade ids
//!   never collide with ids booked in an earlier run (a live venue's ids are unique).

use crate::clock::wall_clock;
use crate::driver::Event;
use propbot_engine::config::Config;
use propbot_engine::gateway::{MarketUpdate, Request, Response};
use propbot_engine::input::{ExecutionKind, ReconSnapshot, VenueEvent, VenueEventKind};
use propbot_engine::model::{InstrumentId, Qty, TradeId, Venue};
use propbot_engine::time::{NANOS_PER_MILLI, NANOS_PER_SECOND, UnixNanos};
use propbot_recordings::source::MarketSource;
use propbot_recordings::tape::{RecordedMarket, Tape};
use propbot_sim::market::{MarketParams, SyntheticMarket};
use propbot_sim::rng::{Seeds, SimRng};
use propbot_sim::venue::{InstanceId, Routed, SimVenue, VenueParams};
use std::collections::BinaryHeap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Requests waiting for the paper world; when full the engine task counts a drop
/// and the engine's own timeouts (ack timeout → lookup) take over.
pub const REQUESTS_MAX: usize = 4_096;
/// Responses scheduled for delivery at most (beyond that new ones are delivered at once).
const SCHEDULED_MAX: usize = 65_536;
/// Market updates handled per loop turn before requests are served again.
const MARKET_BURST_MAX: usize = 64;
/// Dead-man timers of the simulated venues are checked this often.
const VENUE_TICK_NS: u64 = 100 * NANOS_PER_MILLI;
/// A clock-offset sample is sent per venue this often.
const CLOCK_SAMPLE_EVERY_NS: u64 = 5 * NANOS_PER_SECOND;

/// How fast the synthetic market runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// Market time advances `factor` times as fast as the wall clock (1.0 = real time).
    Speed(f64),
    /// As fast as the engine takes updates (benchmarks).
    Unthrottled,
}

/// Paper-world settings.
#[derive(Clone, Debug)]
pub struct PaperOptions {
    /// Master seed of the market, the venues and the latencies.
    pub seed: u64,
    /// Market pace.
    pub pace: Pace,
    /// Simulated one-way venue latency range, ms.
    pub latency_ms: (u64, u64),
    /// Market model (the synthetic source).
    pub market: MarketParams,
    /// A recorded market (`--source recording`): played instead of the model, looping
    /// at its end.
    pub tape: Option<Arc<Tape>>,
}

impl Default for PaperOptions {
    fn default() -> Self {
        PaperOptions {
            seed: 1,
            pace: Pace::Speed(1.0),
            latency_ms: (2, 8),
            market: MarketParams::default(),
            tape: None,
        }
    }
}

/// A request for the paper venues, from the engine task.
#[derive(Clone, Debug)]
pub struct VenueRequest {
    /// Exchange.
    pub venue: Venue,
    /// What.
    pub request: Request,
}

/// Positions the journal held at start, per venue and instrument.
pub type BasePositions = [Vec<Qty>; Venue::COUNT];

struct Due {
    at: UnixNanos,
    order: u64,
    what: Delivery,
}

/// What is delivered when a scheduled response is due.
enum Delivery {
    /// A ready event.
    Event(Event),
    /// A book snapshot, taken at delivery time so that it continues exactly the
    /// deltas already sent (a snapshot taken at request time would be older than the
    /// deltas delivered meanwhile and look like a gap).
    Snapshot(Venue),
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Min-heap on (time, order).
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

/// The paper world's state.
pub struct PaperWorld {
    market: MarketSource,
    venues: Vec<SimVenue>,
    latency: SimRng,
    options: PaperOptions,
    epoch: u32,
    base: BasePositions,
    due: BinaryHeap<Due>,
    order: u64,
    market_start: UnixNanos,
    wall_start: Instant,
    next_venue_tick: UnixNanos,
    next_clock_sample: UnixNanos,
    /// Market updates sent to the engine.
    pub updates_sent: u64,
    loops_logged: u64,
}

impl PaperWorld {
    /// A world for `config`'s traded instrument, starting at `now`.
    pub fn new(
        config: &Config,
        options: PaperOptions,
        epoch: u32,
        base: BasePositions,
        now: UnixNanos,
    ) -> PaperWorld {
        let seeds = Seeds::new(options.seed);
        let instrument = config
            .strategy
            .instruments
            .first()
            .copied()
            .unwrap_or(InstrumentId(0));
        let market = match &options.tape {
            // Each start (lease epoch) plays the tape from another seeded point, so a
            // restarted paper session does not replay the market it already traded.
            Some(tape) => {
                let skip = seeds
                    .stream("recording", u64::from(epoch))
                    .range(0, tape.span_ns());
                MarketSource::Recorded(RecordedMarket::new(Arc::clone(tape), now, skip))
            }
            None => MarketSource::Synthetic(SyntheticMarket::new(
                config,
                instrument,
                options.market.clone(),
                // Each start (lease epoch) continues with a fresh path of the same seed, so
                // a restarted paper session does not replay the market it already traded.
                seeds.stream("market", u64::from(epoch)),
                now,
            )),
        };
        let venues = Venue::ALL
            .iter()
            .map(|&v| {
                SimVenue::new(
                    v,
                    config,
                    VenueParams::default(),
                    seeds.stream("venue", v.index() as u64),
                )
            })
            .collect();
        PaperWorld {
            market,
            venues,
            latency: seeds.stream("paper-latency", 0),
            options,
            epoch,
            base,
            due: BinaryHeap::new(),
            order: 0,
            market_start: now,
            wall_start: Instant::now(),
            next_venue_tick: now,
            next_clock_sample: now,
            updates_sent: 0,
            loops_logged: 0,
        }
    }

    /// Runs until the engine's channel closes.
    pub async fn run(
        mut self,
        engine: mpsc::Sender<Event>,
        mut requests: mpsc::Receiver<VenueRequest>,
    ) {
        let now = wall_clock();
        for venue in self.market.venues() {
            let connected = Event::Venue(VenueEvent {
                venue,
                kind: VenueEventKind::Connected,
            });
            if engine.send(connected).await.is_err() {
                return;
            }
            let snapshot = self.market.snapshot(venue, now);
            let routed = self.venue_mut(venue).on_market(now, &snapshot);
            self.schedule(now, venue, routed);
            if engine.send(Event::Market(snapshot)).await.is_err() {
                return;
            }
        }
        loop {
            let wake = self.next_wake();
            tokio::select! {
                biased;
                request = requests.recv() => match request {
                    Some(r) => self.on_request(wall_clock(), r),
                    None => return,
                },
                () = tokio::time::sleep_until(wake) => {}
            }
            let now = wall_clock();
            if self.step(now, &engine).await.is_err() {
                return;
            }
        }
    }

    fn venue_mut(&mut self, venue: Venue) -> &mut SimVenue {
        &mut self.venues[venue.index()]
    }

    /// When the market update with time `t` is due on the wall clock.
    fn wall_of(&self, t: UnixNanos) -> Instant {
        match self.options.pace {
            Pace::Unthrottled => self.wall_start,
            Pace::Speed(k) => {
                let market_ns = t.nanos_since(self.market_start) as f64 / k.max(1e-6);
                self.wall_start + std::time::Duration::from_nanos(market_ns as u64)
            }
        }
    }

    fn next_wake(&self) -> Instant {
        let wall_now = Instant::now();
        let now = wall_clock();
        let in_ns = |t: UnixNanos| wall_now + std::time::Duration::from_nanos(t.nanos_since(now));
        let mut wake = self.wall_of(self.market.peek_time());
        if let Some(d) = self.due.peek() {
            wake = wake.min(in_ns(d.at));
        }
        wake.min(in_ns(self.next_venue_tick))
            .min(in_ns(self.next_clock_sample))
    }

    async fn step(
        &mut self,
        now: UnixNanos,
        engine: &mpsc::Sender<Event>,
    ) -> Result<(), mpsc::error::SendError<Event>> {
        let wall_now = Instant::now();
        for _ in 0..MARKET_BURST_MAX {
            if self.wall_of(self.market.peek_time()) > wall_now {
                break;
            }
            let (_, mut update) = self.market.advance();
            if let MarketSource::Recorded(m) = &self.market
                && m.loops > self.loops_logged
            {
                self.loops_logged = m.loops;
                tracing::info!(
                    "the recording ran out: playing it again from its start (loop {})",
                    m.loops
                );
            }
            restamp(&mut update, now);
            let venue = update.venue();
            let routed = self.venue_mut(venue).on_market(now, &update);
            self.schedule(now, venue, routed);
            engine.send(Event::Market(update)).await?;
            self.updates_sent += 1;
        }
        if now >= self.next_venue_tick {
            self.next_venue_tick = now.plus_nanos(VENUE_TICK_NS);
            for v in Venue::ALL {
                let routed = self.venue_mut(v).tick(now);
                self.schedule(now, v, routed);
            }
        }
        if now >= self.next_clock_sample {
            self.next_clock_sample = now.plus_nanos(CLOCK_SAMPLE_EVERY_NS);
            for v in self.market.venues() {
                let offset_ns = self.venues[v.index()].venue_time(now).0 as i64 - now.0 as i64;
                let rtt_ns = 2 * self.latency_ns();
                engine
                    .send(Event::Venue(VenueEvent {
                        venue: v,
                        kind: VenueEventKind::ClockSample { offset_ns, rtt_ns },
                    }))
                    .await?;
            }
        }
        while self.due.peek().is_some_and(|d| d.at <= now) {
            let d = self.due.pop().expect("peeked");
            let event = match d.what {
                Delivery::Event(e) => e,
                Delivery::Snapshot(venue) => Event::Market(self.market.snapshot(venue, now)),
            };
            engine.send(event).await?;
        }
        Ok(())
    }

    fn latency_ns(&mut self) -> u64 {
        let (lo, hi) = self.options.latency_ms;
        self.latency
            .range(lo * NANOS_PER_MILLI, hi.max(lo) * NANOS_PER_MILLI + 1)
    }

    /// Carries out one request at `now` (it "arrives" after one latency).
    pub fn on_request(&mut self, now: UnixNanos, r: VenueRequest) {
        let arrive = now.plus_nanos(self.latency_ns());
        match r.request {
            Request::Reconcile => {
                let snap = self.reconciliation(r.venue, now);
                let back = arrive.plus_nanos(self.latency_ns());
                self.push(back, Delivery::Event(Event::Recon(snap)));
            }
            Request::Resync { .. } => {
                let back = arrive.plus_nanos(self.latency_ns());
                self.push(back, Delivery::Snapshot(r.venue));
            }
            request => {
                let routed = self.venues[r.venue.index()].submit(now, InstanceId(0), request);
                self.schedule(now, r.venue, routed);
            }
        }
    }

    /// What the paper venue holds, in the engine's terms (see the module docs).
    pub fn reconciliation(&self, venue: Venue, now: UnixNanos) -> ReconSnapshot {
        let mut snap = self.venues[venue.index()].reconciliation(now);
        for (instrument, qty) in &mut snap.positions {
            let base = self.base[venue.index()]
                .get(instrument.index())
                .copied()
                .unwrap_or(Qty::ZERO);
            *qty = Qty(qty.raw() + base.raw());
        }
        for f in &mut snap.fills {
            f.trade_id = self.trade_id(f.trade_id);
        }
        snap
    }

    fn trade_id(&self, id: TradeId) -> TradeId {
        TradeId((u64::from(self.epoch) << 40) | id.0)
    }

    fn schedule(&mut self, now: UnixNanos, venue: Venue, routed: Vec<Routed>) {
        for (_, response) in routed {
            let at = now.plus_nanos(self.latency_ns());
            let event = match response {
                Response::Execution(mut report) => {
                    if let ExecutionKind::Fill { trade_id, .. } = &mut report.kind {
                        *trade_id = self.trade_id(*trade_id);
                    }
                    Event::Execution(report)
                }
                Response::Venue(kind) => Event::Venue(VenueEvent { venue, kind }),
                Response::Reconciliation(snap) => Event::Recon(snap),
                Response::Market(update) => Event::Market(update),
            };
            self.push(at, Delivery::Event(event));
        }
    }

    fn push(&mut self, at: UnixNanos, what: Delivery) {
        let at = if self.due.len() >= SCHEDULED_MAX {
            UnixNanos::ZERO
        } else {
            at
        };
        self.order += 1;
        self.due.push(Due {
            at,
            order: self.order,
            what,
        });
    }
}

/// Stamps an update with the time it reaches the process.
fn restamp(update: &mut MarketUpdate, now: UnixNanos) {
    match update {
        MarketUpdate::Snapshot { ts, .. }
        | MarketUpdate::Delta { ts, .. }
        | MarketUpdate::Trade { ts, .. } => *ts = now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use propbot_engine::config::Profile;
    use propbot_engine::model::{ClientOrderId, Price, Side, TimeInForce};
    use propbot_engine::output::{OrderPurpose, OrderRequest};

    fn world(epoch: u32, base: i64) -> PaperWorld {
        let config = Config::embedded(Profile::Paper);
        let n = config.instruments.len();
        let mut positions: BasePositions = [vec![Qty::ZERO; n], vec![Qty::ZERO; n]];
        positions[Venue::Binance.index()][0] = Qty(base);
        PaperWorld::new(
            &config,
            PaperOptions::default(),
            epoch,
            positions,
            UnixNanos::from_secs(1_000),
        )
    }

    #[test]
    fn reconciliation_carries_the_journal_positions_of_earlier_runs() {
        let w = world(3, -10);
        let snap = w.reconciliation(Venue::Binance, UnixNanos(1));
        assert_eq!(snap.positions[0], (InstrumentId(0), Qty(-10)));
        let okx = w.reconciliation(Venue::Okx, UnixNanos(1));
        assert_eq!(okx.positions[0], (InstrumentId(0), Qty::ZERO));
    }

    #[test]
    fn fills_carry_trade_ids_unique_across_restarts() {
        let mut w = world(7, 0);
        let now = UnixNanos::from_secs(1_000);
        let snapshot = w.market.snapshot(Venue::Binance, now);
        w.venues[Venue::Binance.index()].on_market(now, &snapshot);
        let (_, ask) = w.market.touch(Venue::Binance);
        let order = OrderRequest {
            client_order_id: ClientOrderId::parse("P7S1").expect("valid id"),
            venue: Venue::Binance,
            instrument: InstrumentId(0),
            side: Side::Buy,
            price: Price(ask.raw() + 10),
            qty: Qty(10),
            time_in_force: TimeInForce::Ioc,
            reduce_only: false,
            expires_at: now.plus_millis(5_000),
            purpose: OrderPurpose::Entry,
            dry_run: true,
        };
        w.on_request(
            now,
            VenueRequest {
                venue: Venue::Binance,
                request: Request::Place(order),
            },
        );
        let fills: Vec<TradeId> = w
            .due
            .iter()
            .filter_map(|d| match &d.what {
                Delivery::Event(Event::Execution(r)) => match r.kind {
                    ExecutionKind::Fill { trade_id, .. } => Some(trade_id),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        assert!(!fills.is_empty(), "a marketable IOC fills");
        assert!(fills.iter().all(|t| t.0 >> 40 == 7), "{fills:?}");
        let recon = w.reconciliation(Venue::Binance, UnixNanos(1));
        assert!(recon.fills.iter().all(|f| f.trade_id.0 >> 40 == 7));
        assert_eq!(recon.positions[0].1, Qty(10));
    }
}
