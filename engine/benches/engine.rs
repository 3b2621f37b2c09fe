//! `cargo bench -p propbot-engine`: drives a synthetic two-venue stream of book deltas
//! through `Engine::handle` with the strategy evaluating every top-of-book change and
//! risk checks on every order, and prints events/s, per-event latency percentiles
//! (hdrhistogram) and heap allocations per event.
//!
//! The stream is generated before timing starts: a common mid price random walk, a
//! per-venue mean-reverting basis with occasional jumps (arbitrage windows), and one to
//! three level changes per delta near the touch. Orders the engine sends are answered
//! at once by a trivial venue (IOC filled at its limit), so fills, hedges and risk
//! checks take part. Options: `--events N` (default 20,000,000).
#![allow(clippy::disallowed_methods)] // A benchmark reads the wall clock; the engine does not.

use hdrhistogram::Histogram;
use propbot_engine::book::Sequence;
use propbot_engine::input::*;
use propbot_engine::model::*;
use propbot_engine::output::{OrderRequest, Output};
use propbot_engine::{Config, Engine, Input, Profile, RecoveredState, UnixNanos};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;
use std::time::Instant;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const T0: u64 = 1_795_000_000_000_000_000;
const BTC: InstrumentId = InstrumentId(0);
/// Simulated time between events: 10 µs (100,000 events per simulated second, a busy
/// market; the engine does not care how fast simulated time runs).
const STEP_NS: u64 = 10_000;

/// xorshift64*: a tiny deterministic generator for the synthetic stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One pre-built delta: venue, sequence and a range of levels in the shared arrays.
struct Event {
    venue: Venue,
    sequence: Sequence,
    bids: (u32, u32),
    asks: (u32, u32),
}

struct Stream {
    events: Vec<Event>,
    bids: Vec<Level>,
    asks: Vec<Level>,
    snapshots: [(Vec<Level>, Vec<Level>, u64); 2],
}

/// Builds `n` deltas. Prices are in 0.1 USDT, quantities in 1e-4 BTC.
fn build_stream(n: usize, seed: u64) -> Stream {
    let mut rng = Rng(seed);
    let mut mid: i64 = 600_000;
    let mut basis = [0i64; 2];
    let mut touch = [(mid - 1, mid + 1); 2];
    let mut seq = [1_000u64; 2];
    let mut events = Vec::with_capacity(n);
    let mut bids = Vec::with_capacity(n * 2);
    let mut asks = Vec::with_capacity(n * 2);
    let snapshot = |bid: i64, ask: i64| {
        let b: Vec<Level> = (0..200)
            .map(|i| Level {
                price: Price::from_raw(bid - i),
                qty: Qty::from_raw(50 + i),
            })
            .collect();
        let a: Vec<Level> = (0..200)
            .map(|i| Level {
                price: Price::from_raw(ask + i),
                qty: Qty::from_raw(50 + i),
            })
            .collect();
        (b, a)
    };
    let s0 = snapshot(touch[0].0, touch[0].1);
    let s1 = snapshot(touch[1].0, touch[1].1);
    for i in 0..n {
        let v = i % 2;
        let venue = if v == 0 { Venue::Binance } else { Venue::Okx };
        if rng.below(8) == 0 {
            mid += rng.below(3) as i64 - 1;
        }
        // OKX's basis mean-reverts, with a rare jump of ±15 bps (an arbitrage window).
        if v == 1 {
            basis[1] -= basis[1] / 64;
            if rng.below(50_000) == 0 {
                basis[1] = if rng.below(2) == 0 { 900 } else { -900 };
            }
        }
        let centre = mid + basis[v];
        let (old_bid, old_ask) = touch[v];
        let new_bid = centre - 1 - rng.below(2) as i64;
        let new_ask = centre + 1 + rng.below(2) as i64;
        let b0 = bids.len() as u32;
        let a0 = asks.len() as u32;
        // A falling bid or rising ask removes every level it passes (a sweep).
        for p in (new_bid + 1)..=old_bid {
            bids.push(Level {
                price: Price::from_raw(p),
                qty: Qty::ZERO,
            });
        }
        bids.push(Level {
            price: Price::from_raw(new_bid),
            qty: Qty::from_raw(20 + rng.below(80) as i64),
        });
        for p in old_ask..new_ask {
            asks.push(Level {
                price: Price::from_raw(p),
                qty: Qty::ZERO,
            });
        }
        if new_ask != old_ask || rng.below(2) == 0 {
            asks.push(Level {
                price: Price::from_raw(new_ask),
                qty: Qty::from_raw(20 + rng.below(80) as i64),
            });
        }
        touch[v] = (new_bid, new_ask);
        let previous = seq[v];
        seq[v] += 1 + rng.below(3);
        events.push(Event {
            venue,
            sequence: Sequence {
                first: Some(previous + 1),
                last: seq[v],
                previous: Some(previous),
            },
            bids: (b0, bids.len() as u32),
            asks: (a0, asks.len() as u32),
        });
    }
    Stream {
        events,
        bids,
        asks,
        snapshots: [(s0.0, s0.1, 1_000), (s1.0, s1.1, 1_000)],
    }
}

/// Boots the engine and brings it to RUN: lease, links, clocks, reconciliation,
/// snapshots, and the two-man resume.
fn running_engine(stream: &Stream) -> (Engine, UnixNanos) {
    let mut config = Config::embedded(Profile::Paper);
    config.control.set_approval_token("bench");
    // Large caps so the benchmark keeps trading rather than holding on a cap.
    config.risk.per_symbol_notional = Notional::from_usd(100_000_000);
    config.risk.total_notional = Notional::from_usd(100_000_000);
    config.risk.daily_loss = Notional::from_usd(100_000_000);
    config.risk.unrealized_loss = Notional::from_usd(100_000_000);
    config.guards.runaway_place_per_min = 1_200;
    config.guards.rate_place_per_min = 100_000;
    let recovered = RecoveredState::empty(&config);
    let mut e = Engine::new(config, recovered);
    let mut now = UnixNanos(T0);
    e.handle(
        now,
        Input::Lease(LeaseEvent::Granted {
            epoch: 1,
            requested_at: UnixNanos::ZERO,
            ttl_ns: u64::MAX / 2,
        }),
    );
    for venue in Venue::ALL {
        e.handle(
            now,
            Input::Venue(VenueEvent {
                venue,
                kind: VenueEventKind::Connected,
            }),
        );
        e.handle(
            now,
            Input::Venue(VenueEvent {
                venue,
                kind: VenueEventKind::ClockSample {
                    offset_ns: 0,
                    rtt_ns: 1,
                },
            }),
        );
        let snap = ReconSnapshot {
            venue,
            as_of: now,
            open_orders: vec![],
            positions: vec![(BTC, Qty::ZERO), (InstrumentId(1), Qty::ZERO)],
            fills: vec![],
        };
        e.handle(now, Input::Reconciliation(&snap));
    }
    now = now.plus_millis(6_000);
    for (i, venue) in Venue::ALL.into_iter().enumerate() {
        let (b, a, last) = &stream.snapshots[i];
        e.handle(
            now,
            Input::Market(MarketEvent::Snapshot {
                venue,
                instrument: BTC,
                last: *last,
                bids: b,
                asks: a,
                ts_exchange: now,
            }),
        );
        e.handle(
            now,
            Input::Venue(VenueEvent {
                venue,
                kind: VenueEventKind::ClockSample {
                    offset_ns: 0,
                    rtt_ns: 1,
                },
            }),
        );
    }
    let command = |id, actor: &str, action| {
        Input::Operator(OperatorCommand {
            command_id: id,
            actor: actor.into(),
            action,
        })
    };
    e.handle(
        now,
        command(
            1,
            "alice",
            OperatorAction::ResumeRequest {
                reason: "bench".into(),
            },
        ),
    );
    let mut request = 0;
    while let Some(o) = e.poll_output() {
        if let Output::Reply(r) = o
            && let Ok(a) = r.result
        {
            request = a.request_id.unwrap_or(request);
        }
    }
    e.handle(
        now,
        command(
            2,
            "bob",
            OperatorAction::ResumeConfirm {
                request_id: request,
                token: "bench".into(),
            },
        ),
    );
    e.handle(now, command(3, "bob", OperatorAction::Resume));
    while e.poll_output().is_some() {}
    assert_eq!(
        e.control().mode,
        propbot_engine::output::Mode::Run,
        "the bench engine must be in RUN"
    );
    (e, now)
}

/// Answers orders like an instant venue: IOC orders fill completely at their limit.
fn answer(e: &mut Engine, now: UnixNanos, pending: &mut Vec<OrderRequest>, trade: &mut u64) -> u64 {
    let mut n = 0;
    for o in pending.drain(..) {
        *trade += 1;
        let report = ExecutionReport {
            venue: o.venue,
            instrument: o.instrument,
            side: o.side,
            client_order_id: o.client_order_id,
            kind: ExecutionKind::Fill {
                trade_id: TradeId(*trade),
                price: o.price,
                qty: o.qty,
                liquidity: Liquidity::Taker,
                fee: None,
            },
            ts_exchange: now,
        };
        e.handle(now, Input::Execution(report));
        n += 1;
    }
    n
}

fn drain(e: &mut Engine, pending: &mut Vec<OrderRequest>) -> u64 {
    let mut orders = 0;
    while let Some(o) = e.poll_output() {
        if let Output::Place(r) | Output::Flatten(r) = o {
            pending.push(r);
            orders += 1;
        }
    }
    orders
}

struct Run {
    seconds: f64,
    orders: u64,
    executions: u64,
    allocations: usize,
    decisions: u64,
    digest: String,
}

fn run(stream: &Stream, latencies: Option<&mut Histogram<u64>>) -> Run {
    let (mut e, mut now) = running_engine(stream);
    let mut pending = Vec::with_capacity(64);
    let mut trade = 0u64;
    let mut orders = 0u64;
    let mut executions = 0u64;
    let region = Region::new(GLOBAL);
    let start = Instant::now();
    let mut lat = latencies;
    for ev in &stream.events {
        now = now.plus_nanos(STEP_NS);
        let input = Input::Market(MarketEvent::Delta {
            venue: ev.venue,
            instrument: BTC,
            sequence: ev.sequence,
            bids: &stream.bids[ev.bids.0 as usize..ev.bids.1 as usize],
            asks: &stream.asks[ev.asks.0 as usize..ev.asks.1 as usize],
            ts_exchange: now,
        });
        match lat.as_deref_mut() {
            Some(h) => {
                let t = Instant::now();
                e.handle(now, input);
                let dt = t.elapsed().as_nanos() as u64;
                h.record(dt.max(1)).ok();
            }
            None => e.handle(now, input),
        }
        if e.poll_timeout().is_some_and(|t| t <= now) {
            e.handle_timeout(now);
        }
        orders += drain(&mut e, &mut pending);
        if !pending.is_empty() {
            executions += answer(&mut e, now, &mut pending, &mut trade);
            orders += drain(&mut e, &mut pending);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let allocations = region.change().allocations;
    let valid = Venue::ALL.iter().all(|v| e.book(*v, BTC).is_valid());
    assert!(valid, "the synthetic books stay valid");
    let decisions = e.pairs()[0].decisions;
    Run {
        seconds,
        orders,
        executions,
        allocations,
        decisions,
        digest: e.digest_hex(),
    }
}

fn main() {
    let mut events = 20_000_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--events" {
            events = args
                .next()
                .and_then(|v| v.parse().ok())
                .expect("--events N");
        }
    }
    eprintln!("building a synthetic stream of {events} deltas…");
    let stream = build_stream(events, 0x5eed);
    let levels = stream.bids.len() + stream.asks.len();
    let throughput = run(&stream, None);
    let again = run(&stream, None);
    assert_eq!(throughput.digest, again.digest, "same stream, same digest");
    let best = throughput.seconds.min(again.seconds);
    let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).expect("histogram");
    let timed = run(&stream, Some(&mut h));
    assert_eq!(timed.digest, throughput.digest);
    println!(
        "propbot-engine bench: {events} book deltas ({:.2} levels each) on 2 venues",
        levels as f64 / events as f64
    );
    println!(
        "  throughput     {:>12.0} events/s  ({:.3} s best of 2)",
        events as f64 / best,
        best
    );
    println!("  per-event latency (handle, incl. ~20 ns timer overhead):");
    println!("    p50   {:>6} ns", h.value_at_quantile(0.50));
    println!("    p99   {:>6} ns", h.value_at_quantile(0.99));
    println!("    p99.9 {:>6} ns", h.value_at_quantile(0.999));
    println!("    max   {:>6} ns", h.max());
    println!(
        "  orders sent    {:>12}   executions fed back {}   decisions {}",
        throughput.orders, throughput.executions, throughput.decisions
    );
    println!(
        "  heap allocations during the run: {} ({:.6} per event)",
        throughput.allocations,
        throughput.allocations as f64 / events as f64
    );
    println!("  digest         {}", throughput.digest);
}
