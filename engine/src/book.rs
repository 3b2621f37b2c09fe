//! L2 order books: one per venue and instrument, rebuilt from a snapshot plus deltas.
//!
//! Each side is a *ladder*: a flat array of quantities indexed by tick distance from
//! an anchor, so applying a level is an index computation and a store, never a tree
//! walk or an allocation. The window is bounded (`ticks_per_side` per side); a level
//! outside it is dropped and counted, and the window slides when the touch moves. The
//! book is therefore exact near the touch, which is all a decision reads.
//!
//! Continuity uses venue-neutral sequence fields: a snapshot carries the last update id
//! it includes; a delta carries `first` (optional), `last` and `previous` (optional).
//! A delta is contiguous when its `previous` equals the book's last id, or, for the
//! first delta after a snapshot, when `first <= last_id <= last` (Binance's bracket
//! rule). A stale delta right after a snapshot (`last < last_id`) is ignored. Anything
//! else is a gap: the book becomes invalid until the next snapshot and the caller emits
//! a resync. A crossed book (best bid ≥ best ask) is invalid too.

use crate::model::{InstrumentId, Level, Price, Qty, Venue};
use crate::time::UnixNanos;
use serde::Serialize;

/// Sequence fields of a book message, venue-neutral.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Sequence {
    /// First update id in the message (Binance `U`); `None` where the venue has none.
    pub first: Option<u64>,
    /// Last update id in the message (Binance `u` / `lastUpdateId`, OKX `seqId`).
    pub last: u64,
    /// Last update id of the previous message (Binance `pu`, OKX `prevSeqId`); `None`
    /// for snapshots.
    pub previous: Option<u64>,
}

/// Why a book is not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum InvalidReason {
    /// No snapshot yet.
    AwaitingSnapshot,
    /// A delta did not continue the chain.
    Gap,
    /// Best bid at or above best ask.
    Crossed,
    /// A level price was not a multiple of the tick.
    OffTick,
    /// The driver reported the feed lost (disconnect); a new snapshot is needed.
    FeedLost,
    /// A best bid/offer with the same update id disagreed with the rebuilt book.
    BboMismatch,
    /// The venue's checksum of the top levels disagreed with the rebuilt book (OKX).
    ChecksumMismatch,
    /// The venue feed broke its protocol or was reset; the book is unknown.
    Protocol,
    /// A level price was not positive, or so large that tick arithmetic could
    /// overflow (a corrupt or hostile message; overflow checks are on in release).
    PriceOutOfRange,
}

impl InvalidReason {
    /// Short reason for status and alerts.
    pub const fn name(self) -> &'static str {
        match self {
            InvalidReason::AwaitingSnapshot => "awaiting snapshot",
            InvalidReason::Gap => "sequence gap",
            InvalidReason::Crossed => "crossed book",
            InvalidReason::OffTick => "price off tick",
            InvalidReason::FeedLost => "feed lost",
            InvalidReason::BboMismatch => "bbo mismatch",
            InvalidReason::ChecksumMismatch => "checksum mismatch",
            InvalidReason::Protocol => "venue protocol violation",
            InvalidReason::PriceOutOfRange => "price out of range",
        }
    }
}

/// What applying a message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// Applied; `top_changed` says whether the best bid or ask (price or size) moved.
    Applied {
        /// Best bid or ask changed.
        top_changed: bool,
    },
    /// A stale delta before the snapshot's id; ignored, the book is unchanged.
    Stale,
    /// The book is invalid and waits for a snapshot; the message was ignored.
    Ignored,
    /// The message made the book invalid; the caller must request a resync.
    Invalidated(InvalidReason),
}

/// Best bid and ask with sizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TopOfBook {
    /// Best bid price (zero when the side is empty).
    pub bid: Price,
    /// Size at the best bid.
    pub bid_qty: Qty,
    /// Best ask price (zero when the side is empty).
    pub ask: Price,
    /// Size at the best ask.
    pub ask_qty: Qty,
}

impl TopOfBook {
    /// Both sides present.
    pub fn is_two_sided(&self) -> bool {
        self.bid_qty.is_positive() && self.ask_qty.is_positive()
    }
}

/// Counters a book keeps for status.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct BookCounters {
    /// Snapshots loaded.
    pub snapshots: u64,
    /// Deltas applied.
    pub deltas: u64,
    /// Gaps detected.
    pub gaps: u64,
    /// Times the book was found crossed.
    pub crossed: u64,
    /// Levels dropped because they lay outside the bounded window.
    pub levels_dropped: u64,
    /// Stale deltas ignored after a snapshot.
    pub stale: u64,
}

/// The largest price, in ticks, a book accepts: far beyond any real market, and small
/// enough that anchor and offset arithmetic (`tick - anchor`, shifts by the window)
/// cannot overflow.
pub const TICK_INDEX_MAX: i64 = i64::MAX / 4;

/// One side of the book: quantities by tick distance from an anchor.
#[derive(Clone, Debug)]
struct Ladder {
    /// Tick of index 0, the best-most representable price.
    anchor: i64,
    /// `+1` for asks (index grows with price), `-1` for bids.
    direction: i64,
    qty: Box<[i64]>,
    /// Index of the best non-empty level, or `qty.len()` when empty.
    best: usize,
    levels: u32,
}

impl Ladder {
    fn new(ticks: usize, direction: i64) -> Ladder {
        assert!(ticks >= 16, "a ladder needs at least 16 ticks");
        Ladder {
            anchor: 0,
            direction,
            qty: vec![0; ticks].into_boxed_slice(),
            best: ticks,
            levels: 0,
        }
    }

    fn cap(&self) -> usize {
        self.qty.len()
    }

    fn margin(&self) -> usize {
        self.cap() / 16
    }

    fn clear(&mut self) {
        if self.levels > 0 {
            self.qty.fill(0);
        }
        self.best = self.cap();
        self.levels = 0;
    }

    fn tick_at(&self, index: usize) -> i64 {
        self.anchor + self.direction * index as i64
    }

    /// Sets the absolute quantity at `tick`; returns the number of levels dropped.
    fn set(&mut self, tick: i64, qty: i64) -> u64 {
        let mut dropped = 0;
        if self.levels == 0 && qty > 0 {
            // An empty side re-anchors so the new level sits just inside the margin.
            self.anchor = tick - self.direction * self.margin() as i64;
        }
        let mut offset = self.direction * (tick - self.anchor);
        if offset < 0 {
            if qty == 0 {
                return 0;
            }
            let shift = (-offset) as usize + self.margin();
            dropped += self.shift_toward_better(shift);
            offset += shift as i64;
        }
        let index = offset as usize;
        if index >= self.cap() {
            return dropped + u64::from(qty > 0);
        }
        let old = self.qty[index];
        self.qty[index] = qty;
        match (old > 0, qty > 0) {
            (false, true) => {
                self.levels += 1;
                if index < self.best {
                    self.best = index;
                }
            }
            (true, false) => {
                self.levels -= 1;
                if index == self.best {
                    self.best = self.scan_from(index + 1);
                    self.recentre_if_deep();
                }
            }
            _ => {}
        }
        dropped
    }

    fn scan_from(&self, start: usize) -> usize {
        if self.levels == 0 {
            return self.cap();
        }
        self.qty[start.min(self.cap())..]
            .iter()
            .position(|&q| q > 0)
            .map_or(self.cap(), |p| p + start)
    }

    /// Moves the window so better prices fit: every index grows by `shift`, and the
    /// `shift` worst indices fall off the end.
    fn shift_toward_better(&mut self, shift: usize) -> u64 {
        let cap = self.cap();
        let mut dropped = 0;
        if shift >= cap {
            dropped = u64::from(self.levels);
            self.clear();
        } else {
            dropped += self.qty[cap - shift..].iter().filter(|&&q| q > 0).count() as u64;
            self.qty.copy_within(0..cap - shift, shift);
            self.qty[..shift].fill(0);
            self.levels -= dropped as u32;
            self.best = if self.levels == 0 {
                cap
            } else {
                (self.best + shift).min(cap)
            };
        }
        self.anchor -= self.direction * shift as i64;
        dropped
    }

    /// When the touch has moved deep into the window (levels at the top removed), slide
    /// the window back so the touch sits at the margin and deeper levels fit again.
    fn recentre_if_deep(&mut self) {
        let cap = self.cap();
        if self.best == cap || self.best < cap / 2 {
            return;
        }
        let shift = self.best - self.margin();
        self.qty.copy_within(shift..cap, 0);
        self.qty[cap - shift..].fill(0);
        self.anchor += self.direction * shift as i64;
        self.best -= shift;
    }

    fn best(&self) -> Option<(i64, i64)> {
        (self.best < self.cap()).then(|| (self.tick_at(self.best), self.qty[self.best]))
    }

    fn iter(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        let start = self.best.min(self.cap());
        self.qty[start..]
            .iter()
            .enumerate()
            .filter(|(_, q)| **q > 0)
            .map(move |(i, &q)| (self.tick_at(start + i), q))
    }
}

/// An L2 book for one venue and instrument.
#[derive(Clone, Debug)]
pub struct Book {
    /// Venue of the feed.
    pub venue: Venue,
    /// Instrument of the feed.
    pub instrument: InstrumentId,
    tick: i64,
    bids: Ladder,
    asks: Ladder,
    invalid: Option<InvalidReason>,
    last_sequence: u64,
    /// No delta applied since the last snapshot (the bracket rule applies).
    fresh_snapshot: bool,
    top: TopOfBook,
    /// Receive time of the last message applied.
    pub updated_at: UnixNanos,
    /// When the book last became invalid.
    pub invalid_since: UnixNanos,
    /// Counters for status.
    pub counters: BookCounters,
}

impl Book {
    /// An empty book awaiting its first snapshot. `tick` is the price increment in raw
    /// price units; `ticks_per_side` bounds the window on each side.
    pub fn new(venue: Venue, instrument: InstrumentId, tick: Price, ticks_per_side: usize) -> Book {
        assert!(tick.is_positive(), "tick must be positive");
        Book {
            venue,
            instrument,
            tick: tick.raw(),
            bids: Ladder::new(ticks_per_side, -1),
            asks: Ladder::new(ticks_per_side, 1),
            invalid: Some(InvalidReason::AwaitingSnapshot),
            last_sequence: 0,
            fresh_snapshot: false,
            top: TopOfBook::default(),
            updated_at: UnixNanos::ZERO,
            invalid_since: UnixNanos::ZERO,
            counters: BookCounters::default(),
        }
    }

    /// Whether decisions may read this book.
    pub fn is_valid(&self) -> bool {
        self.invalid.is_none()
    }

    /// Why the book is invalid, if it is.
    pub fn invalid_reason(&self) -> Option<InvalidReason> {
        self.invalid
    }

    /// Last update id applied.
    pub fn last_sequence(&self) -> u64 {
        self.last_sequence
    }

    /// Best bid and ask (meaningful only while valid).
    pub fn top(&self) -> TopOfBook {
        self.top
    }

    /// Number of non-empty levels on each side (bids, asks).
    pub fn level_counts(&self) -> (u32, u32) {
        (self.bids.levels, self.asks.levels)
    }

    /// Bid levels from the best down.
    pub fn bids(&self) -> impl Iterator<Item = Level> + '_ {
        let tick = self.tick;
        self.bids.iter().map(move |(t, q)| Level {
            price: Price::from_raw(t * tick),
            qty: Qty::from_raw(q),
        })
    }

    /// Ask levels from the best up.
    pub fn asks(&self) -> impl Iterator<Item = Level> + '_ {
        let tick = self.tick;
        self.asks.iter().map(move |(t, q)| Level {
            price: Price::from_raw(t * tick),
            qty: Qty::from_raw(q),
        })
    }

    /// Marks the book invalid from outside (feed lost, bbo mismatch).
    pub fn invalidate(&mut self, now: UnixNanos, reason: InvalidReason) {
        if self.invalid.is_none() {
            self.invalid_since = now;
        }
        self.invalid = Some(reason);
    }

    /// Replaces the book with a snapshot whose last update id is `last`.
    pub fn apply_snapshot(
        &mut self,
        now: UnixNanos,
        last: u64,
        bids: &[Level],
        asks: &[Level],
    ) -> ApplyOutcome {
        self.bids.clear();
        self.asks.clear();
        self.last_sequence = last;
        self.fresh_snapshot = true;
        self.counters.snapshots += 1;
        self.invalid = None;
        self.updated_at = now;
        if let Err(reason) = self.apply_levels(bids, asks) {
            return self.fail(now, reason);
        }
        self.finish(now)
    }

    /// Applies a delta, checking continuity first.
    pub fn apply_delta(
        &mut self,
        now: UnixNanos,
        sequence: Sequence,
        bids: &[Level],
        asks: &[Level],
    ) -> ApplyOutcome {
        if self.invalid.is_some() {
            return ApplyOutcome::Ignored;
        }
        let chained = sequence.previous == Some(self.last_sequence);
        let bracketed = self.fresh_snapshot
            && sequence.first.is_some_and(|f| f <= self.last_sequence)
            && sequence.last >= self.last_sequence;
        if !chained && !bracketed {
            if self.fresh_snapshot && sequence.last < self.last_sequence {
                self.counters.stale += 1;
                return ApplyOutcome::Stale;
            }
            self.counters.gaps += 1;
            return self.fail(now, InvalidReason::Gap);
        }
        self.fresh_snapshot = false;
        self.last_sequence = sequence.last;
        self.counters.deltas += 1;
        self.updated_at = now;
        if let Err(reason) = self.apply_levels(bids, asks) {
            return self.fail(now, reason);
        }
        self.finish(now)
    }

    /// Compares a venue best bid/offer carrying update id `update_id` with the book.
    /// Returns `false` (and invalidates the book) when the ids match but prices or
    /// sizes differ: proof the rebuilt book has drifted from the venue's.
    pub fn check_bbo(&mut self, now: UnixNanos, update_id: u64, bbo: TopOfBook) -> bool {
        if self.invalid.is_some() || update_id != self.last_sequence {
            return true;
        }
        if bbo == self.top {
            return true;
        }
        self.invalidate(now, InvalidReason::BboMismatch);
        false
    }

    fn apply_levels(&mut self, bids: &[Level], asks: &[Level]) -> Result<(), InvalidReason> {
        for level in bids {
            let tick = self.tick_of(level.price)?;
            self.counters.levels_dropped += self.bids.set(tick, level.qty.raw().max(0));
        }
        for level in asks {
            let tick = self.tick_of(level.price)?;
            self.counters.levels_dropped += self.asks.set(tick, level.qty.raw().max(0));
        }
        Ok(())
    }

    fn tick_of(&self, price: Price) -> Result<i64, InvalidReason> {
        if price.raw() <= 0 || price.raw() / self.tick > TICK_INDEX_MAX {
            return Err(InvalidReason::PriceOutOfRange);
        }
        if price.raw() % self.tick != 0 {
            return Err(InvalidReason::OffTick);
        }
        Ok(price.raw() / self.tick)
    }

    fn fail(&mut self, now: UnixNanos, reason: InvalidReason) -> ApplyOutcome {
        self.invalidate(now, reason);
        ApplyOutcome::Invalidated(reason)
    }

    fn finish(&mut self, now: UnixNanos) -> ApplyOutcome {
        let mut top = TopOfBook::default();
        if let Some((tick, qty)) = self.bids.best() {
            top.bid = Price::from_raw(tick * self.tick);
            top.bid_qty = Qty::from_raw(qty);
        }
        if let Some((tick, qty)) = self.asks.best() {
            top.ask = Price::from_raw(tick * self.tick);
            top.ask_qty = Qty::from_raw(qty);
        }
        if top.is_two_sided() && top.bid >= top.ask {
            self.counters.crossed += 1;
            self.top = top;
            return self.fail(now, InvalidReason::Crossed);
        }
        let top_changed = top != self.top;
        self.top = top;
        ApplyOutcome::Applied { top_changed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn lv(price: i64, qty: i64) -> Level {
        Level {
            price: Price::from_raw(price),
            qty: Qty::from_raw(qty),
        }
    }

    fn book() -> Book {
        Book::new(Venue::Binance, InstrumentId(0), Price::from_raw(10), 256)
    }

    fn seq(first: u64, last: u64, previous: u64) -> Sequence {
        Sequence {
            first: Some(first),
            last,
            previous: Some(previous),
        }
    }

    #[test]
    fn snapshot_then_chained_deltas() {
        let mut b = book();
        assert!(!b.is_valid());
        let out = b.apply_snapshot(
            UnixNanos(1),
            100,
            &[lv(1000, 5), lv(990, 7)],
            &[lv(1010, 3)],
        );
        assert_eq!(out, ApplyOutcome::Applied { top_changed: true });
        assert_eq!(b.top().bid, Price::from_raw(1000));
        assert_eq!(b.top().ask_qty, Qty::from_raw(3));
        // Binance bracket rule for the first delta: U <= 100 <= u.
        let out = b.apply_delta(UnixNanos(2), seq(95, 105, 90), &[lv(1000, 0)], &[]);
        assert_eq!(out, ApplyOutcome::Applied { top_changed: true });
        assert_eq!(b.top().bid, Price::from_raw(990));
        // Then pu must equal the previous u.
        let out = b.apply_delta(UnixNanos(3), seq(106, 110, 105), &[], &[lv(1020, 1)]);
        assert_eq!(out, ApplyOutcome::Applied { top_changed: false });
        assert_eq!(b.last_sequence(), 110);
    }

    #[test]
    fn a_gap_invalidates_until_the_next_snapshot() {
        let mut b = book();
        b.apply_snapshot(UnixNanos(1), 10, &[lv(1000, 5)], &[lv(1010, 3)]);
        b.apply_delta(UnixNanos(2), seq(11, 12, 10), &[], &[]);
        let out = b.apply_delta(UnixNanos(3), seq(14, 15, 13), &[], &[]);
        assert_eq!(out, ApplyOutcome::Invalidated(InvalidReason::Gap));
        assert!(!b.is_valid());
        assert_eq!(
            b.apply_delta(UnixNanos(4), seq(16, 17, 15), &[], &[]),
            ApplyOutcome::Ignored
        );
        b.apply_snapshot(UnixNanos(5), 17, &[lv(1000, 5)], &[lv(1010, 3)]);
        assert!(b.is_valid());
        assert_eq!(b.counters.gaps, 1);
    }

    #[test]
    fn stale_deltas_after_a_snapshot_are_dropped() {
        let mut b = book();
        b.apply_snapshot(UnixNanos(1), 100, &[lv(1000, 5)], &[lv(1010, 3)]);
        assert_eq!(
            b.apply_delta(UnixNanos(2), seq(80, 90, 79), &[lv(1000, 1)], &[]),
            ApplyOutcome::Stale
        );
        assert_eq!(b.top().bid_qty, Qty::from_raw(5));
    }

    #[test]
    fn okx_style_chain_heartbeat_and_reset() {
        let mut b = book();
        let okx = |last, previous| Sequence {
            first: None,
            last,
            previous: Some(previous),
        };
        b.apply_snapshot(UnixNanos(1), 10, &[lv(1000, 5)], &[lv(1010, 3)]);
        assert!(matches!(
            b.apply_delta(UnixNanos(2), okx(15, 10), &[], &[]),
            ApplyOutcome::Applied { .. }
        ));
        // Heartbeat: seqId == prevSeqId == last.
        assert!(matches!(
            b.apply_delta(UnixNanos(3), okx(15, 15), &[], &[]),
            ApplyOutcome::Applied { .. }
        ));
        // Sequence reset after maintenance: seqId < prevSeqId, prevSeqId == last.
        assert!(matches!(
            b.apply_delta(UnixNanos(4), okx(3, 15), &[], &[]),
            ApplyOutcome::Applied { .. }
        ));
        assert!(matches!(
            b.apply_delta(UnixNanos(5), okx(5, 3), &[], &[]),
            ApplyOutcome::Applied { .. }
        ));
        // A snapshot's first update must chain exactly on OKX (no `first`, no bracket).
        b.apply_snapshot(UnixNanos(6), 50, &[lv(1000, 5)], &[lv(1010, 3)]);
        assert_eq!(
            b.apply_delta(UnixNanos(7), okx(60, 55), &[], &[]),
            ApplyOutcome::Invalidated(InvalidReason::Gap)
        );
    }

    #[test]
    fn crossed_and_off_tick_books_are_invalid() {
        let mut b = book();
        let out = b.apply_snapshot(UnixNanos(1), 1, &[lv(1010, 5)], &[lv(1010, 3)]);
        assert_eq!(out, ApplyOutcome::Invalidated(InvalidReason::Crossed));
        let out = b.apply_snapshot(UnixNanos(2), 1, &[lv(1005, 5)], &[lv(1010, 3)]);
        assert_eq!(out, ApplyOutcome::Invalidated(InvalidReason::OffTick));
    }

    #[test]
    fn absurd_prices_invalidate_the_book_instead_of_overflowing() {
        // With overflow checks on in release, a hostile price must never reach the
        // tick arithmetic: it invalidates the book like any corrupt message.
        let mut b = book();
        b.apply_snapshot(UnixNanos(1), 1, &[lv(1000, 5)], &[lv(1010, 3)]);
        for bad in [0, -1000] {
            let out = b.apply_delta(UnixNanos(2), seq(2, 2, 1), &[lv(bad, 1)], &[]);
            assert_eq!(
                out,
                ApplyOutcome::Invalidated(InvalidReason::PriceOutOfRange)
            );
            b.apply_snapshot(UnixNanos(3), 1, &[lv(1000, 5)], &[lv(1010, 3)]);
        }
        // A one-unit tick: a bid at i64::MAX would put the anchor past i64::MAX.
        let mut fine = Book::new(Venue::Binance, InstrumentId(0), Price::from_raw(1), 256);
        let out = fine.apply_snapshot(UnixNanos(4), 9, &[lv(i64::MAX, 5)], &[]);
        assert_eq!(
            out,
            ApplyOutcome::Invalidated(InvalidReason::PriceOutOfRange)
        );
    }

    #[test]
    fn deleting_an_absent_level_is_normal() {
        let mut b = book();
        b.apply_snapshot(UnixNanos(1), 1, &[lv(1000, 5)], &[lv(1010, 3)]);
        let out = b.apply_delta(
            UnixNanos(2),
            seq(2, 2, 1),
            &[lv(500, 0), lv(5000, 0)],
            &[lv(9990, 0)],
        );
        assert_eq!(out, ApplyOutcome::Applied { top_changed: false });
    }

    #[test]
    fn the_window_slides_with_the_touch_and_drops_deep_levels() {
        let mut b = Book::new(Venue::Okx, InstrumentId(0), Price::from_raw(1), 64);
        b.apply_snapshot(UnixNanos(1), 1, &[lv(1000, 1)], &[lv(1001, 1)]);
        // A bid far below the window is dropped and counted.
        b.apply_delta(UnixNanos(2), seq(2, 2, 1), &[lv(900, 1)], &[]);
        assert_eq!(b.counters.levels_dropped, 1);
        // The market moves up by 200 ticks: the window follows.
        b.apply_delta(
            UnixNanos(3),
            seq(3, 3, 2),
            &[lv(1000, 0), lv(1200, 2)],
            &[lv(1001, 0), lv(1201, 4)],
        );
        assert!(b.is_valid());
        assert_eq!(b.top().bid, Price::from_raw(1200));
        assert_eq!(b.top().ask, Price::from_raw(1201));
        assert_eq!(b.top().ask_qty, Qty::from_raw(4));
    }

    #[test]
    fn bbo_mismatch_with_same_update_id_invalidates() {
        let mut b = book();
        b.apply_snapshot(UnixNanos(1), 7, &[lv(1000, 5)], &[lv(1010, 3)]);
        let good = b.top();
        assert!(b.check_bbo(UnixNanos(2), 7, good));
        assert!(
            b.check_bbo(UnixNanos(2), 6, TopOfBook::default()),
            "other ids are not compared"
        );
        let mut bad = good;
        bad.bid_qty = Qty::from_raw(4);
        assert!(!b.check_bbo(UnixNanos(3), 7, bad));
        assert_eq!(b.invalid_reason(), Some(InvalidReason::BboMismatch));
    }

    /// A naive reference: two ordered maps, no window, same continuity rules.
    #[derive(Default)]
    struct Reference {
        bids: BTreeMap<i64, i64>,
        asks: BTreeMap<i64, i64>,
        valid: bool,
        last: u64,
        fresh: bool,
    }

    impl Reference {
        fn set(map: &mut BTreeMap<i64, i64>, levels: &[Level]) {
            for l in levels {
                if l.qty.raw() == 0 {
                    map.remove(&l.price.raw());
                } else {
                    map.insert(l.price.raw(), l.qty.raw());
                }
            }
        }

        fn snapshot(&mut self, last: u64, bids: &[Level], asks: &[Level]) {
            self.bids.clear();
            self.asks.clear();
            Self::set(&mut self.bids, bids);
            Self::set(&mut self.asks, asks);
            self.last = last;
            self.fresh = true;
            self.valid = !self.crossed();
        }

        fn delta(&mut self, s: Sequence, bids: &[Level], asks: &[Level]) {
            if !self.valid {
                return;
            }
            let chained = s.previous == Some(self.last);
            let bracketed =
                self.fresh && s.first.is_some_and(|f| f <= self.last) && s.last >= self.last;
            if !chained && !bracketed {
                if !(self.fresh && s.last < self.last) {
                    self.valid = false;
                }
                return;
            }
            self.fresh = false;
            self.last = s.last;
            Self::set(&mut self.bids, bids);
            Self::set(&mut self.asks, asks);
            self.valid = !self.crossed();
        }

        fn crossed(&self) -> bool {
            match (self.bids.keys().next_back(), self.asks.keys().next()) {
                (Some(b), Some(a)) => b >= a,
                _ => false,
            }
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Snapshot(u64, Vec<Level>, Vec<Level>),
        Delta(Sequence, Vec<Level>, Vec<Level>),
    }

    fn levels(lo: i64, hi: i64) -> impl Strategy<Value = Vec<Level>> {
        prop::collection::vec((lo..hi, 0i64..4), 0..6)
            .prop_map(|v| v.into_iter().map(|(p, q)| lv(p * 10, q)).collect())
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => (0u64..50, levels(80, 100), levels(100, 120)).prop_map(|(s, b, a)| Op::Snapshot(s, b, a)),
            8 => (0u64..4, 0u64..3, any::<bool>(), levels(85, 105), levels(95, 115)).prop_map(|(step, back, bracket, b, a)| {
                // Mostly chained; sometimes bracketed or broken, resolved against the
                // book's current sequence when the op is applied.
                Op::Delta(Sequence { first: bracket.then_some(back), last: step, previous: Some(back) }, b, a)
            }),
        ]
    }

    proptest! {
        #[test]
        fn book_matches_a_naive_reference(ops in prop::collection::vec(op(), 1..60)) {
            let mut b = Book::new(Venue::Binance, InstrumentId(0), Price::from_raw(10), 512);
            let mut r = Reference::default();
            for (i, op) in ops.into_iter().enumerate() {
                let now = UnixNanos(i as u64 + 1);
                match op {
                    Op::Snapshot(last, bids, asks) => {
                        b.apply_snapshot(now, last, &bids, &asks);
                        r.snapshot(last, &bids, &asks);
                    }
                    Op::Delta(shape, bids, asks) => {
                        // Turn the random shape into a sequence relative to the book:
                        // back == 0 chains, back == 1 bridges (first <= last), 2 breaks.
                        let last = r.last;
                        let s = match (shape.previous, shape.first) {
                            (Some(0), _) => Sequence { first: None, last: last + shape.last, previous: Some(last) },
                            (Some(1), Some(_)) => Sequence { first: Some(last.saturating_sub(1)), last: last + shape.last, previous: Some(last + 1000) },
                            _ => Sequence { first: None, last: last + 5 + shape.last, previous: Some(last + 3) },
                        };
                        b.apply_delta(now, s, &bids, &asks);
                        r.delta(s, &bids, &asks);
                    }
                }
                prop_assert_eq!(b.is_valid(), r.valid, "validity after op {}", i);
                if r.valid {
                    let want_bids: Vec<(i64, i64)> = r.bids.iter().rev().map(|(p, q)| (*p, *q)).collect();
                    let want_asks: Vec<(i64, i64)> = r.asks.iter().map(|(p, q)| (*p, *q)).collect();
                    let got_bids: Vec<(i64, i64)> = b.bids().map(|l| (l.price.raw(), l.qty.raw())).collect();
                    let got_asks: Vec<(i64, i64)> = b.asks().map(|l| (l.price.raw(), l.qty.raw())).collect();
                    prop_assert_eq!(got_bids, want_bids);
                    prop_assert_eq!(got_asks, want_asks);
                }
            }
        }
    }
}
