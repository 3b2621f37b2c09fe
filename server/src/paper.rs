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
use propbot_engine::gateway::{Request, Response, VenueGateway};
use propbot_engine::input::VenueEvent;
use propbot_engine::model::{InstrumentId, Qty, Venue};
use propbot_engine::time::{NANOS_PER_SECOND, UnixNanos};
use propbot_market::rng::Seeds;
use propbot_market::source::MarketSource;
use propbot_market::synth::{MarketParams, SyntheticMarket};
use propbot_market::tape::{RecordedMarket, Tape};
use propbot_sim::paper::{CarryOver, ExchangeOptions, Latency, MarketFeed, PaperExchange};
use propbot_sim::venue::VenueParams;
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
        let (lo, hi) = options.latency_ms;
        let exchange_options = ExchangeOptions {
            venue: VenueParams::default(),
            latency: Latency::uniform_ms(lo, hi.max(lo)),
            feed: MarketFeed::Direct,
            clients: 1,
        };
        let market = market_source(config, &options, &seeds, epoch, now);
        let mut exchange = PaperExchange::new(config, exchange_options, Some(market), &seeds);
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
        }
    }

    /// Runs until the engine's channel closes.
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
        loop {
            let wake = self.next_wake();
            tokio::select! {
                biased;
                request = requests.recv() => match request {
                    Some((venue, request)) => self.exchange.submit(wall_clock(), venue, request),
                    None => return,
                },
                () = tokio::time::sleep_until(wake) => {}
            }
            if self.step(wall_clock(), &engine).await.is_err() {
                return;
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
        if now >= self.next_clock_sample {
            self.next_clock_sample = now.plus_nanos(CLOCK_SAMPLE_EVERY_NS);
            let venues = self.exchange.market().map_or(Venue::ALL, |m| m.venues());
            for venue in venues {
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
}
