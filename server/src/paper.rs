//! The paper world: the simulator's paper exchange ([`PaperExchange`]: the synthetic or
//! recorded two-venue market and one simulated venue per exchange) driven in real time
//! (or faster) by one task.
//!
//! The task only paces and carries: it sleeps until the market or the exchange has
//! something due, reads the wall clock, and hands the engine what the exchange gives
//! it. Market updates are paced against the wall clock, stamped with it and applied to
//! their venue (resting paper orders may fill) before the engine sees them; requests
//! from the engine task (orders, cancels, lookups, dead-man arms, reconciliations,
//! resyncs) reach the venues and their answers come back after the exchange's seeded
//! latency each way, as a live venue's would; each venue's clock is sampled every few
//! seconds.
//!
//! A restarted paper session stays consistent with its journal, because the exchange
//! carries the paper account over ([`CarryOver`]): the simulated venues start empty at
//! every start while the journal remembers positions, so reconciliations report the
//! positions the journal held at start on top of the venue's, and venue trade ids are
//! prefixed with the lease epoch (a fresh venue's ids never collide with ids booked in
//! an earlier run, as a live venue's are unique).

use crate::clock::wall_clock;
use crate::driver::Event;
use propbot_engine::config::Config;
use propbot_engine::gateway::{MarketUpdate, Request, Response, VenueGateway};
use propbot_engine::input::{VenueEvent, VenueEventKind};
use propbot_engine::model::{InstrumentId, Qty, Venue};
use propbot_engine::time::{NANOS_PER_SECOND, UnixNanos};
use propbot_market::rng::Seeds;
use propbot_market::source::MarketSource;
use propbot_market::synth::{MarketParams, SyntheticMarket};
use propbot_market::tape::{RecordedMarket, Tape};
use propbot_sim::paper::{CarryOver, ExchangeOptions, Latency, MarketFeed, PaperExchange};
use propbot_sim::venue::VenueParams;
use propbot_venues::SyncEvent;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Requests waiting for the paper world; when full the engine task counts a drop
/// and the engine's own timeouts (ack timeout → lookup) take over.
pub const REQUESTS_MAX: usize = 4_096;
/// Market updates handled per loop turn before requests are served again.
const MARKET_BURST_MAX: usize = 64;
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

/// Live public market data for shadow trading (`--source live`): the venues' sync
/// machines' events, already decoded, and where to ask for a fresh book. The paper
/// exchange has no market source of its own then: every live book and trade is
/// applied to its venue (resting paper orders may fill) before the engine sees it.
pub struct LiveMarket {
    /// Events of every venue's feed, in arrival order.
    pub events: mpsc::Receiver<LiveEvent>,
    /// Resync requests for the feeds (the engine's `Resync` outputs); bounded, and a
    /// full queue drops the request (the feed is resyncing already, or the engine asks
    /// again after its deadline).
    pub resyncs: mpsc::Sender<(Venue, InstrumentId)>,
}

/// One live market event.
#[derive(Debug)]
pub enum LiveEvent {
    /// A book, best bid/offer, trade or resync.
    Sync(SyncEvent),
    /// A venue signal from the feed (clock sample, 429/418, maintenance, malformed).
    Venue(Venue, VenueEventKind),
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

/// Positions the journal held at start, per venue and instrument.
pub type BasePositions = [Vec<Qty>; Venue::COUNT];

/// The paper world's state: the exchange and the pacing.
pub struct PaperWorld {
    exchange: PaperExchange,
    pace: Pace,
    market_start: UnixNanos,
    wall_start: Instant,
    next_clock_sample: UnixNanos,
    /// Market updates sent to the engine.
    pub updates_sent: u64,
    loops_logged: u64,
    /// Live market data (shadow trading) instead of the exchange's own market.
    live: Option<LiveMarket>,
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
        let market = market_source(config, &options, &seeds, epoch, now);
        PaperWorld::build(config, &options, Some(market), epoch, base, now)
    }

    /// A world for shadow trading: the paper venues trade on `live`'s books.
    pub fn live(
        config: &Config,
        options: PaperOptions,
        epoch: u32,
        base: BasePositions,
        now: UnixNanos,
        live: LiveMarket,
    ) -> PaperWorld {
        let mut world = PaperWorld::build(config, &options, None, epoch, base, now);
        world.live = Some(live);
        world
    }

    fn build(
        config: &Config,
        options: &PaperOptions,
        market: Option<MarketSource>,
        epoch: u32,
        base: BasePositions,
        now: UnixNanos,
    ) -> PaperWorld {
        let seeds = Seeds::new(options.seed);
        let (lo, hi) = options.latency_ms;
        let exchange_options = ExchangeOptions {
            venue: VenueParams::default(),
            latency: Latency::uniform_ms(lo, hi.max(lo)),
            feed: MarketFeed::Direct,
            clients: 1,
        };
        let mut exchange = PaperExchange::new(config, exchange_options, market, &seeds);
        exchange.carry_over(CarryOver {
            positions: base,
            epoch,
        });
        exchange.start(now);
        PaperWorld {
            exchange,
            pace: options.pace,
            market_start: now,
            wall_start: Instant::now(),
            next_clock_sample: now,
            updates_sent: 0,
            loops_logged: 0,
            live: None,
        }
    }

    /// Runs until the engine's channel closes (or, in shadow trading, the feeds end).
    pub async fn run(
        mut self,
        engine: mpsc::Sender<Event>,
        mut requests: mpsc::Receiver<(Venue, Request)>,
    ) {
        for (venue, response) in self.exchange.opening_events(wall_clock()) {
            if engine.send(event_of(venue, response)).await.is_err() {
                return;
            }
        }
        let mut live = self.live.take();
        loop {
            let wake = self.next_wake();
            tokio::select! {
                biased;
                request = requests.recv() => match request {
                    Some((venue, request)) => self.submit(live.as_ref(), venue, request),
                    None => return,
                },
                event = next_live(live.as_mut()) => match event {
                    Some(event) => {
                        if self.on_live(wall_clock(), event, &engine).await.is_err() {
                            return;
                        }
                    }
                    None => {
                        tracing::error!("the live market feeds stopped");
                        return;
                    }
                },
                () = tokio::time::sleep_until(wake) => {}
            }
            if self
                .step(wall_clock(), live.is_none(), &engine)
                .await
                .is_err()
            {
                return;
            }
        }
    }

    /// A request for the venues; in shadow trading a resync asks the live feed for a
    /// fresh book (the paper venue's book is the feed's).
    fn submit(&mut self, live: Option<&LiveMarket>, venue: Venue, request: Request) {
        match (live, request) {
            (Some(live), Request::Resync { instrument }) => {
                if live.resyncs.try_send((venue, instrument)).is_err() {
                    tracing::debug!("resync request for {venue} dropped: the feed is busy");
                }
            }
            (_, request) => self.exchange.submit(wall_clock(), venue, request),
        }
    }

    /// A live market event: its venue's book moves (resting paper orders may fill),
    /// then the engine hears it.
    async fn on_live(
        &mut self,
        now: UnixNanos,
        event: LiveEvent,
        engine: &mpsc::Sender<Event>,
    ) -> Result<(), mpsc::error::SendError<Event>> {
        match event {
            LiveEvent::Sync(event) => {
                if let Some(update) = MarketUpdate::from_event(&event.as_market_event()) {
                    self.exchange.publish(now, &update);
                }
                self.updates_sent += 1;
                engine.send(Event::Live(event)).await
            }
            LiveEvent::Venue(venue, kind) => {
                engine.send(Event::Venue(VenueEvent { venue, kind })).await
            }
        }
    }

    /// When the market update with time `t` is due on the wall clock.
    fn wall_of(&self, t: UnixNanos) -> Instant {
        match self.pace {
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
        let mut wake = in_ns(self.next_clock_sample);
        if let Some(t) = self.exchange.market_peek_time() {
            wake = wake.min(self.wall_of(t));
        }
        if let Some(t) = self.exchange.poll_timeout() {
            wake = wake.min(in_ns(t));
        }
        wake
    }

    /// One loop turn at `now`: the market updates that are due (a bounded burst), the
    /// clock samples when due, then every answer the exchange has for the engine.
    async fn step(
        &mut self,
        now: UnixNanos,
        sample_clocks: bool,
        engine: &mpsc::Sender<Event>,
    ) -> Result<(), mpsc::error::SendError<Event>> {
        let wall_now = Instant::now();
        for _ in 0..MARKET_BURST_MAX {
            let Some(t) = self.exchange.market_peek_time() else {
                break;
            };
            if self.wall_of(t) > wall_now {
                break;
            }
            let update = self.exchange.next_market_update(now).expect("a market");
            self.log_loops();
            engine.send(Event::Market(update)).await?;
            self.updates_sent += 1;
        }
        // In shadow trading the live feeds sample the real venues' clocks instead.
        if now >= self.next_clock_sample {
            self.next_clock_sample = now.plus_nanos(CLOCK_SAMPLE_EVERY_NS);
            let venues = self.exchange.market().map_or(Venue::ALL, |m| m.venues());
            for venue in venues.into_iter().filter(|_| sample_clocks) {
                let kind = self.exchange.clock_sample(now, venue);
                engine
                    .send(Event::Venue(VenueEvent { venue, kind }))
                    .await?;
            }
        }
        while let Some((venue, response)) = self.exchange.poll_response(now) {
            engine.send(event_of(venue, response)).await?;
        }
        Ok(())
    }

    /// Says so when a recorded market has run out and plays again from its start.
    fn log_loops(&mut self) {
        if let Some(MarketSource::Recorded(m)) = self.exchange.market()
            && m.loops > self.loops_logged
        {
            self.loops_logged = m.loops;
            tracing::info!(
                "the recording ran out: playing it again from its start (loop {})",
                m.loops
            );
        }
    }
}

/// The paper market for this start (lease epoch): each start plays another seeded
/// point of the recording, or continues the model with a fresh path of the same seed,
/// so that a restarted paper session does not replay the market it already traded.
fn market_source(
    config: &Config,
    options: &PaperOptions,
    seeds: &Seeds,
    epoch: u32,
    now: UnixNanos,
) -> MarketSource {
    if let Some(tape) = &options.tape {
        let skip = seeds
            .stream("recording", u64::from(epoch))
            .range(0, tape.span_ns());
        return MarketSource::Recorded(RecordedMarket::new(Arc::clone(tape), now, skip));
    }
    let instrument = config
        .strategy
        .instruments
        .first()
        .copied()
        .unwrap_or(InstrumentId(0));
    MarketSource::Synthetic(SyntheticMarket::new(
        config,
        instrument,
        options.market.clone(),
        seeds.stream("market", u64::from(epoch)),
        now,
    ))
}

/// The next live event; never ready without a live market.
async fn next_live(live: Option<&mut LiveMarket>) -> Option<LiveEvent> {
    match live {
        Some(live) => live.events.recv().await,
        None => std::future::pending().await,
    }
}

/// A venue's response as the engine task's input.
fn event_of(venue: Venue, response: Response) -> Event {
    match response {
        Response::Execution(report) => Event::Execution(report),
        Response::Venue(kind) => Event::Venue(VenueEvent { venue, kind }),
        Response::Reconciliation(snap) => Event::Recon(snap),
        Response::Market(update) => Event::Market(update),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use propbot_engine::config::Profile;
    use propbot_engine::input::ExecutionKind;
    use propbot_engine::model::{ClientOrderId, Price, Side, TimeInForce, TradeId};
    use propbot_engine::output::{OrderPurpose, OrderRequest};

    fn world(epoch: u32, base: i64) -> PaperWorld {
        let config = Config::embedded(Profile::Paper);
        let n = config.instruments.len();
        let mut positions: BasePositions = [vec![Qty::ZERO; n], vec![Qty::ZERO; n]];
        positions[Venue::Binance.index()][0] = Qty::from_raw(base);
        PaperWorld::new(
            &config,
            PaperOptions::default(),
            epoch,
            positions,
            UnixNanos::from_secs(1_000),
        )
    }

    /// Everything the engine would hear by `until`.
    fn answers(w: &mut PaperWorld, until: UnixNanos) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(at) = w.exchange.poll_timeout().filter(|t| *t <= until) {
            while let Some((venue, response)) = w.exchange.poll_response(at) {
                out.push(event_of(venue, response));
            }
        }
        out
    }

    #[test]
    fn reconciliation_carries_the_journal_positions_of_earlier_runs() {
        let mut w = world(3, -10);
        let now = UnixNanos::from_secs(1_000);
        w.exchange.submit(now, Venue::Binance, Request::Reconcile);
        w.exchange.submit(now, Venue::Okx, Request::Reconcile);
        let snaps: Vec<_> = answers(&mut w, now.plus_millis(100))
            .into_iter()
            .filter_map(|e| match e {
                Event::Recon(s) => Some(s),
                _ => None,
            })
            .collect();
        assert_eq!(snaps.len(), 2, "{snaps:?}");
        for snap in snaps {
            let expected = if snap.venue == Venue::Binance { -10 } else { 0 };
            assert_eq!(
                snap.positions[0],
                (InstrumentId(0), Qty::from_raw(expected))
            );
        }
    }

    #[test]
    fn fills_carry_trade_ids_unique_across_restarts() {
        let mut w = world(7, 0);
        let now = UnixNanos::from_secs(1_000);
        let (_, ask) = w.exchange.market().unwrap().touch(Venue::Binance);
        let order = OrderRequest {
            client_order_id: ClientOrderId::parse("P7S1").expect("valid id"),
            venue: Venue::Binance,
            instrument: InstrumentId(0),
            side: Side::Buy,
            price: Price::from_raw(ask.raw() + 10),
            qty: Qty::from_raw(10),
            time_in_force: TimeInForce::Ioc,
            reduce_only: false,
            expires_at: now.plus_millis(5_000),
            purpose: OrderPurpose::Entry,
            dry_run: true,
        };
        w.exchange
            .submit(now, Venue::Binance, Request::Place(order));
        let fills: Vec<TradeId> = answers(&mut w, now.plus_millis(100))
            .into_iter()
            .filter_map(|e| match e {
                Event::Execution(r) => match r.kind {
                    ExecutionKind::Fill { trade_id, .. } => Some(trade_id),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        assert!(!fills.is_empty(), "a marketable IOC fills");
        assert!(fills.iter().all(|t| t.0 >> 40 == 7), "{fills:?}");
        let recon = w.exchange.reconciliation(Venue::Binance, now);
        assert!(recon.fills.iter().all(|f| f.trade_id.0 >> 40 == 7));
        assert_eq!(recon.positions[0].1, Qty::from_raw(10));
    }

    fn level(price: i64, qty: i64) -> propbot_engine::model::Level {
        propbot_engine::model::Level {
            price: Price::from_raw(price),
            qty: Qty::from_raw(qty),
        }
    }

    /// The next engine event that `pick` accepts (others are skipped), within 5 s.
    async fn expect<T>(rx: &mut mpsc::Receiver<Event>, pick: impl Fn(Event) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let event = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .expect("in time")
                .expect("world running");
            if let Some(t) = pick(event) {
                return t;
            }
        }
    }

    #[tokio::test]
    async fn shadow_trading_fills_paper_orders_on_the_live_books() {
        let config = Config::embedded(Profile::Paper);
        let n = config.instruments.len();
        let (live_tx, live_rx) = mpsc::channel(16);
        let (resync_tx, mut resync_rx) = mpsc::channel(4);
        let live = LiveMarket {
            events: live_rx,
            resyncs: resync_tx,
        };
        let base: BasePositions = [vec![Qty::ZERO; n], vec![Qty::ZERO; n]];
        let world = PaperWorld::live(
            &config,
            PaperOptions::default(),
            1,
            base,
            wall_clock(),
            live,
        );
        let (engine_tx, mut engine_rx) = mpsc::channel(64);
        let (req_tx, req_rx) = mpsc::channel(16);
        let task = tokio::spawn(world.run(engine_tx, req_rx));
        let snapshot = SyncEvent::Snapshot {
            venue: Venue::Binance,
            instrument: InstrumentId(0),
            last: 42,
            bids: vec![level(599_990, 50)],
            asks: vec![level(600_010, 50)],
            ts_exchange: wall_clock(),
        };
        live_tx
            .send(LiveEvent::Sync(snapshot.clone()))
            .await
            .unwrap();
        let seen = expect(&mut engine_rx, |e| match e {
            Event::Live(s) => Some(s),
            _ => None,
        })
        .await;
        assert_eq!(seen, snapshot, "the engine hears the live book as it came");
        let now = wall_clock();
        let order = OrderRequest {
            client_order_id: ClientOrderId::parse("P1S1").expect("valid id"),
            venue: Venue::Binance,
            instrument: InstrumentId(0),
            side: Side::Buy,
            price: Price::from_raw(600_020),
            qty: Qty::from_raw(10),
            time_in_force: TimeInForce::Ioc,
            reduce_only: false,
            expires_at: now.plus_millis(5_000),
            purpose: OrderPurpose::Entry,
            dry_run: true,
        };
        req_tx
            .send((Venue::Binance, Request::Place(order)))
            .await
            .unwrap();
        let price = expect(&mut engine_rx, |e| match e {
            Event::Execution(r) => match r.kind {
                ExecutionKind::Fill { price, .. } => Some(price),
                _ => None,
            },
            _ => None,
        })
        .await;
        assert_eq!(price, Price::from_raw(600_010), "filled at the live ask");
        let resync = Request::Resync {
            instrument: InstrumentId(0),
        };
        req_tx.send((Venue::Okx, resync)).await.unwrap();
        let asked = tokio::time::timeout(std::time::Duration::from_secs(5), resync_rx.recv())
            .await
            .expect("in time");
        assert_eq!(
            asked,
            Some((Venue::Okx, InstrumentId(0))),
            "resyncs go to the feed"
        );
        drop(live_tx);
        tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .expect("the world stops when the feeds end")
            .expect("no panic");
    }
}
