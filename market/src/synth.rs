//! A synthetic two-venue market for one perpetual: a common mid-price path with jumps,
//! a per-venue mean-reverting basis with occasional jumps (arbitrage windows), books of
//! fixed depth that move with the touch, and trade flow at the touch.
//!
//! The model is a deterministic stream: `advance()` returns timestamped updates in time
//! order, from one seeded stream. Each venue's updates carry that venue's sequence
//! conventions (Binance `U`/`u`/`pu`; OKX `seqId`/`prevSeqId`) so drivers and the
//! engine's continuity checks see what they would see live.

use crate::rng::SimRng;
use propbot_engine::book::Sequence;
use propbot_engine::config::Config;
use propbot_engine::gateway::MarketUpdate;
use propbot_engine::model::{InstrumentId, Level, Price, Qty, Side, Venue};
use propbot_engine::time::{NANOS_PER_MILLI, UnixNanos};
use serde::{Deserialize, Serialize};

/// Parameters of the synthetic market (all integers, so a seed replays exactly).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketParams {
    /// Starting mid in raw price units of the instrument (e.g. 600000 = 60000.0).
    pub start_price: i64,
    /// Standard deviation of the mid's move per venue update, in hundredths of a bp.
    pub move_sd_centibps: i64,
    /// Chance per update of a jump in the common price, ppm.
    pub jump_ppm: u64,
    /// Size of a common price jump, hundredths of a bp.
    pub jump_centibps: i64,
    /// Standard deviation of each venue's basis noise per update, hundredths of a bp.
    pub basis_sd_centibps: i64,
    /// Basis decays by 1/`basis_decay` of itself per update (mean reversion).
    pub basis_decay: i64,
    /// Mean time between arbitrage windows (a basis jump on one venue), ms; 0 = never.
    pub arbitrage_every_ms: u64,
    /// Size of the basis jump that opens an arbitrage window, hundredths of a bp.
    pub arbitrage_centibps: i64,
    /// Windows always lift the second venue's basis (no window ever reverses a
    /// position): positions accumulate up to the caps.
    pub one_way_windows: bool,
    /// Book update interval per venue, ms (uniform in the range).
    pub update_ms: (u64, u64),
    /// Levels per side.
    pub depth: usize,
    /// Resting quantity per level, raw quantity units (uniform in the range).
    pub level_qty: (i64, i64),
    /// Spread in ticks (uniform in the range).
    pub spread_ticks: (i64, i64),
    /// Mean time between public trades per venue, ms.
    pub trade_every_ms: u64,
    /// Trade size, raw quantity units (uniform in the range).
    pub trade_qty: (i64, i64),
}

impl Default for MarketParams {
    fn default() -> Self {
        MarketParams {
            start_price: 600_000,
            move_sd_centibps: 30,
            jump_ppm: 200,
            jump_centibps: 1_500,
            basis_sd_centibps: 20,
            basis_decay: 40,
            arbitrage_every_ms: 20_000,
            arbitrage_centibps: 2_000,
            one_way_windows: false,
            update_ms: (50, 150),
            depth: 20,
            level_qty: (20, 400),
            spread_ticks: (1, 3),
            trade_every_ms: 200,
            trade_qty: (5, 60),
        }
    }
}

/// Book of one venue as the model keeps it: levels best first.
#[derive(Clone, Debug, Default)]
struct ModelBook {
    bids: Vec<Level>,
    asks: Vec<Level>,
}

/// The synthetic market.
#[derive(Clone, Debug)]
pub struct SyntheticMarket {
    params: MarketParams,
    instrument: InstrumentId,
    venues: [Venue; 2],
    ticks: [i64; 2],
    rng: SimRng,
    /// Common mid in raw price units × 10^4 (sub-tick precision).
    mid_x: i128,
    /// Basis per venue slot, hundredths of a bp.
    basis: [i64; 2],
    books: [ModelBook; 2],
    seq: [u64; 2],
    next_update: [UnixNanos; 2],
    next_trade: [UnixNanos; 2],
    next_window: UnixNanos,
    /// Venue slots whose basis flips in and out of an arbitrage window on every update
    /// (the runaway-loop fault).
    pub flip: [bool; 2],
    flip_phase: [bool; 2],
    /// Updates generated so far.
    pub updates: u64,
    /// Arbitrage windows opened (and price jumps) so far.
    pub windows: u64,
    /// When the last window opened or the price last jumped.
    pub last_window_at: UnixNanos,
}

const MID_X: i128 = 10_000;

impl SyntheticMarket {
    /// A market for `instrument` on the config's strategy venues, starting at `start`.
    pub fn new(
        config: &Config,
        instrument: InstrumentId,
        params: MarketParams,
        rng: SimRng,
        start: UnixNanos,
    ) -> SyntheticMarket {
        let venues = [config.strategy.venues[0], config.strategy.venues[1]];
        let tick = |v: Venue| config.listing(v, instrument).map_or(1, |l| l.tick.raw());
        let mut m = SyntheticMarket {
            instrument,
            venues,
            ticks: [tick(venues[0]), tick(venues[1])],
            rng,
            mid_x: i128::from(params.start_price) * MID_X,
            basis: [0, 0],
            books: [ModelBook::default(), ModelBook::default()],
            seq: [1_000, 5_000],
            next_update: [start, start],
            next_trade: [start, start],
            next_window: UnixNanos::NEVER,
            flip: [false; 2],
            flip_phase: [false; 2],
            updates: 0,
            windows: 0,
            last_window_at: UnixNanos::ZERO,
            params,
        };
        for s in 0..2 {
            m.next_update[s] =
                start.plus_millis(m.rng.range(m.params.update_ms.0, m.params.update_ms.1));
            m.next_trade[s] = start.plus_millis(m.rng.exponential(m.params.trade_every_ms).max(1));
            m.books[s] = m.target_book(s, &ModelBook::default());
        }
        if m.params.arbitrage_every_ms > 0 {
            m.next_window =
                start.plus_millis(m.rng.exponential(m.params.arbitrage_every_ms).max(1));
        }
        m
    }

    /// The venues, in slot order.
    pub fn venues(&self) -> [Venue; 2] {
        self.venues
    }

    /// The instrument.
    pub fn instrument(&self) -> InstrumentId {
        self.instrument
    }

    /// Time of the next update.
    pub fn peek_time(&self) -> UnixNanos {
        self.next_update
            .iter()
            .chain(self.next_trade.iter())
            .copied()
            .min()
            .unwrap_or(UnixNanos::NEVER)
    }

    /// A full snapshot of a venue's current book.
    pub fn snapshot(&self, venue: Venue, ts: UnixNanos) -> MarketUpdate {
        let s = self.slot(venue);
        MarketUpdate::Snapshot {
            venue,
            instrument: self.instrument,
            last: self.seq[s],
            bids: self.books[s].bids.clone(),
            asks: self.books[s].asks.clone(),
            ts,
        }
    }

    /// Best bid and ask of a venue right now.
    pub fn touch(&self, venue: Venue) -> (Price, Price) {
        let b = &self.books[self.slot(venue)];
        (
            b.bids.first().map_or(Price::ZERO, |l| l.price),
            b.asks.first().map_or(Price::ZERO, |l| l.price),
        )
    }

    /// Moves the common price by `centibps` hundredths of a bp at once (a fast market).
    pub fn jump(&mut self, centibps: i64, at: UnixNanos) {
        self.mid_x += self.mid_x * i128::from(centibps) / 1_000_000;
        self.windows += 1;
        self.last_window_at = at;
    }

    fn slot(&self, venue: Venue) -> usize {
        if self.venues[0] == venue { 0 } else { 1 }
    }

    /// The next update, in time order (an endless stream).
    pub fn advance(&mut self) -> (UnixNanos, MarketUpdate) {
        let t_update = self.next_update[0].min(self.next_update[1]);
        let t_trade = self.next_trade[0].min(self.next_trade[1]);
        self.updates += 1;
        if t_trade < t_update {
            let s = if self.next_trade[0] <= self.next_trade[1] {
                0
            } else {
                1
            };
            let t = self.next_trade[s];
            self.next_trade[s] =
                t.plus_millis(self.rng.exponential(self.params.trade_every_ms).max(1));
            return (t, self.trade(s, t));
        }
        let s = if self.next_update[0] <= self.next_update[1] {
            0
        } else {
            1
        };
        let t = self.next_update[s];
        self.next_update[s] = t.plus_millis(
            self.rng
                .range(self.params.update_ms.0, self.params.update_ms.1),
        );
        self.evolve(s, t);
        (t, self.delta(s, t))
    }

    fn evolve(&mut self, s: usize, t: UnixNanos) {
        // The common price moves on slot-0 updates only, so its variance does not depend
        // on how many venues there are.
        if s == 0 {
            let mut change = self.rng.normal(self.params.move_sd_centibps);
            if self.rng.chance_ppm(self.params.jump_ppm) {
                change += if self.rng.below(2) == 0 {
                    self.params.jump_centibps
                } else {
                    -self.params.jump_centibps
                };
            }
            self.mid_x += self.mid_x * i128::from(change) / 1_000_000;
        }
        if self.flip[s] {
            self.flip_phase[s] = !self.flip_phase[s];
            self.basis[s] = if self.flip_phase[s] {
                self.params.arbitrage_centibps
            } else {
                0
            };
            return;
        }
        let b = &mut self.basis[s];
        *b -= *b / self.params.basis_decay.max(1);
        *b += self.rng.normal(self.params.basis_sd_centibps);
        if t >= self.next_window {
            let (venue_slot, sign) = if self.params.one_way_windows {
                (1, 1)
            } else {
                (
                    self.rng.below(2) as usize,
                    if self.rng.below(2) == 0 { 1 } else { -1 },
                )
            };
            self.basis[venue_slot] += sign * self.params.arbitrage_centibps;
            self.windows += 1;
            self.last_window_at = t;
            self.next_window =
                t.plus_millis(self.rng.exponential(self.params.arbitrage_every_ms).max(1));
        }
    }

    /// The book slot `s` should have now, keeping quantities of prices that persist.
    fn target_book(&mut self, s: usize, prev: &ModelBook) -> ModelBook {
        let tick = self.ticks[s];
        let mid = self.mid_x * i128::from(1_000_000 + self.basis[s]) / 1_000_000 / MID_X;
        let mid = mid as i64;
        let spread = self.rng.range(
            self.params.spread_ticks.0 as u64,
            self.params.spread_ticks.1 as u64,
        ) as i64;
        let best_bid = (mid - spread * tick / 2).div_euclid(tick) * tick;
        let best_ask = best_bid + spread.max(1) * tick;
        let depth = self.params.depth;
        let (lo, hi) = (
            self.params.level_qty.0 as u64,
            self.params.level_qty.1 as u64,
        );
        let mut book = ModelBook {
            bids: Vec::with_capacity(depth),
            asks: Vec::with_capacity(depth),
        };
        for k in 0..depth as i64 {
            let p = Price::from_raw(best_bid - k * tick);
            let qty =
                find(&prev.bids, p).unwrap_or_else(|| Qty::from_raw(self.rng.range(lo, hi) as i64));
            book.bids.push(Level { price: p, qty });
            let p = Price::from_raw(best_ask + k * tick);
            let qty =
                find(&prev.asks, p).unwrap_or_else(|| Qty::from_raw(self.rng.range(lo, hi) as i64));
            book.asks.push(Level { price: p, qty });
        }
        // A few resting sizes change on every update.
        for _ in 0..self.rng.range(1, 3) {
            let k = self.rng.below(depth.min(5) as u64) as usize;
            let q = Qty::from_raw(self.rng.range(lo, hi) as i64);
            if self.rng.below(2) == 0 {
                book.bids[k].qty = q;
            } else {
                book.asks[k].qty = q;
            }
        }
        book
    }

    fn delta(&mut self, s: usize, t: UnixNanos) -> MarketUpdate {
        let prev = std::mem::take(&mut self.books[s]);
        let next = self.target_book(s, &prev);
        let bids = diff(&prev.bids, &next.bids);
        let asks = diff(&prev.asks, &next.asks);
        self.books[s] = next;
        let previous = self.seq[s];
        let step = self.rng.range(1, 4);
        self.seq[s] += step;
        let venue = self.venues[s];
        let sequence = match venue {
            Venue::Binance => Sequence {
                first: Some(previous + 1),
                last: self.seq[s],
                previous: Some(previous),
            },
            Venue::Okx => Sequence {
                first: None,
                last: self.seq[s],
                previous: Some(previous),
            },
        };
        MarketUpdate::Delta {
            venue,
            instrument: self.instrument,
            sequence,
            bids,
            asks,
            ts: t,
        }
    }

    fn trade(&mut self, s: usize, t: UnixNanos) -> MarketUpdate {
        let book = &self.books[s];
        let buy = self.rng.below(2) == 0;
        let price = if buy {
            book.asks[0].price
        } else {
            book.bids[0].price
        };
        let qty = Qty::from_raw(self.rng.range(
            self.params.trade_qty.0 as u64,
            self.params.trade_qty.1 as u64,
        ) as i64);
        MarketUpdate::Trade {
            venue: self.venues[s],
            instrument: self.instrument,
            price,
            qty,
            aggressor: if buy { Side::Buy } else { Side::Sell },
            ts: t,
        }
    }
}

fn find(levels: &[Level], price: Price) -> Option<Qty> {
    levels.iter().find(|l| l.price == price).map(|l| l.qty)
}

/// Levels that changed from `prev` to `next`; prices that disappeared get quantity 0.
fn diff(prev: &[Level], next: &[Level]) -> Vec<Level> {
    let mut out = Vec::new();
    for l in prev {
        if find(next, l.price).is_none() {
            out.push(Level {
                price: l.price,
                qty: Qty::ZERO,
            });
        }
    }
    for l in next {
        if find(prev, l.price) != Some(l.qty) {
            out.push(*l);
        }
    }
    out
}

/// Milliseconds to a `UnixNanos` offset, for params.
pub fn ms(v: u64) -> u64 {
    v * NANOS_PER_MILLI
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Seeds;
    use propbot_engine::Profile;
    use propbot_engine::book::{ApplyOutcome, Book};

    fn market(seed: u64) -> SyntheticMarket {
        let config = Config::embedded(Profile::Paper);
        SyntheticMarket::new(
            &config,
            InstrumentId(0),
            MarketParams::default(),
            Seeds::new(seed).stream("market", 0),
            UnixNanos::from_secs(1_000),
        )
    }

    #[test]
    fn engine_books_rebuilt_from_the_stream_stay_valid_and_match_the_model() {
        let mut m = market(3);
        let mut books = [
            Book::new(Venue::Binance, InstrumentId(0), Price::from_raw(1), 4096),
            Book::new(Venue::Okx, InstrumentId(0), Price::from_raw(1), 4096),
        ];
        for (i, v) in [Venue::Binance, Venue::Okx].into_iter().enumerate() {
            if let MarketUpdate::Snapshot {
                last,
                bids,
                asks,
                ts,
                ..
            } = m.snapshot(v, UnixNanos(1))
            {
                books[i].apply_snapshot(ts, last, &bids, &asks);
            }
        }
        let mut last_t = UnixNanos::ZERO;
        for _ in 0..20_000 {
            let (t, u) = m.advance();
            assert!(t >= last_t, "time order");
            last_t = t;
            if let MarketUpdate::Delta {
                venue,
                sequence,
                bids,
                asks,
                ..
            } = &u
            {
                let i = venue.index();
                let out = books[i].apply_delta(t, *sequence, bids, asks);
                assert!(matches!(out, ApplyOutcome::Applied { .. }), "{out:?}");
                let (bid, ask) = m.touch(*venue);
                assert_eq!((books[i].top().bid, books[i].top().ask), (bid, ask));
            }
        }
        assert!(m.windows > 0, "arbitrage windows open");
    }

    #[test]
    fn the_same_seed_gives_the_same_stream() {
        let mut a = market(9);
        let mut b = market(9);
        for _ in 0..1_000 {
            assert_eq!(a.advance(), b.advance());
        }
        let mut c = market(10);
        assert!((0..100).any(|_| a.advance() != c.advance()));
    }
}
