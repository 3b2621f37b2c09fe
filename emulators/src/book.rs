//! One instrument's book as a venue publishes it: the current book (what a REST
//! snapshot returns), the changes not yet published (gathered over one diff interval,
//! as `depth@100ms` and OKX `books` do), and the book as last published.
//!
//! Quantities are kept in wire units after rounding up to the venue's lot, so a level
//! the model sizes at 0.0023 BTC rests as 0.003 on a venue whose step is 0.001, and the
//! snapshot, the diffs and the trades all agree on it. Update ids advance on every
//! model change, visible or not; a change that rounds to the size already resting
//! burns its ids and publishes nothing, as Binance's hidden (RPI) updates do.

use propbot_engine::book::TopOfBook;
use propbot_engine::model::{Level, Price, Qty};
use propbot_engine::time::UnixNanos;
use std::collections::BTreeMap;

/// One side: price → quantity, both raw.
pub type Side = BTreeMap<i64, i64>;

/// A full book at an update id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BookImage {
    /// Id of the last change the image includes.
    pub last_update_id: u64,
    /// Bids, best first.
    pub bids: Vec<Level>,
    /// Asks, best first.
    pub asks: Vec<Level>,
    /// When that change happened (market time).
    pub changed_at: UnixNanos,
}

/// Changes published together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Id of the first change in the window.
    pub first: u64,
    /// Id of the last change in the window.
    pub last: u64,
    /// `last` of the window published before this one.
    pub previous: u64,
    /// Market time of the last change.
    pub changed_at: UnixNanos,
    /// Changed bids, best first; zero deletes.
    pub bids: Vec<Level>,
    /// Changed asks, best first; zero deletes.
    pub asks: Vec<Level>,
}

#[derive(Clone, Debug, Default)]
struct Pending {
    first: Option<u64>,
    bids: Side,
    asks: Side,
}

/// The venue's book of one instrument.
#[derive(Clone, Debug)]
pub struct VenueBook {
    lot: i64,
    /// Last id used, visible or not.
    update_id: u64,
    /// Id of the last change that altered the book.
    book_update_id: u64,
    changed_at: UnixNanos,
    bids: Side,
    asks: Side,
    pending: Pending,
    published_id: u64,
    published_bids: Side,
    published_asks: Side,
}

impl VenueBook {
    /// A book holding `bids`/`asks` (model quantities) at update id `update_id`.
    /// `lot` (raw, positive) is the venue's quantity step.
    pub fn new(lot: Qty, update_id: u64, bids: &[Level], asks: &[Level], at: UnixNanos) -> Self {
        assert!(lot.raw() > 0, "a lot must be positive");
        let mut book = VenueBook {
            lot: lot.raw(),
            update_id,
            book_update_id: update_id,
            changed_at: at,
            bids: Side::new(),
            asks: Side::new(),
            pending: Pending::default(),
            published_id: update_id,
            published_bids: Side::new(),
            published_asks: Side::new(),
        };
        for level in bids {
            let qty = book.to_lot(level.qty);
            set(&mut book.bids, level.price.raw(), qty);
        }
        for level in asks {
            let qty = book.to_lot(level.qty);
            set(&mut book.asks, level.price.raw(), qty);
        }
        book.published_bids = book.bids.clone();
        book.published_asks = book.asks.clone();
        book
    }

    /// A model quantity in wire units: rounded up to the lot (zero stays zero).
    pub fn to_lot(&self, qty: Qty) -> i64 {
        let q = qty.raw().max(0);
        let whole = q / self.lot + i64::from(q % self.lot != 0);
        whole.saturating_mul(self.lot)
    }

    /// Applies one model change that uses `ids` update ids (at least one) after
    /// skipping `hidden` ids (changes the venue does not publish). Returns whether the
    /// book changed.
    pub fn apply(
        &mut self,
        at: UnixNanos,
        bids: &[Level],
        asks: &[Level],
        ids: u64,
        hidden: u64,
    ) -> bool {
        let first = self.update_id + hidden + 1;
        self.update_id = first + ids.max(1) - 1;
        let mut visible = false;
        for level in bids {
            let qty = self.to_lot(level.qty);
            if set(&mut self.bids, level.price.raw(), qty) {
                self.pending.bids.insert(level.price.raw(), qty);
                visible = true;
            }
        }
        for level in asks {
            let qty = self.to_lot(level.qty);
            if set(&mut self.asks, level.price.raw(), qty) {
                self.pending.asks.insert(level.price.raw(), qty);
                visible = true;
            }
        }
        if visible {
            self.pending.first.get_or_insert(first);
            self.book_update_id = self.update_id;
            self.changed_at = at;
        }
        visible
    }

    /// Takes the changes gathered since the last window, if any.
    pub fn flush(&mut self) -> Option<Window> {
        let first = self.pending.first.take()?;
        let pending = std::mem::take(&mut self.pending);
        for (&price, &qty) in &pending.bids {
            set(&mut self.published_bids, price, qty);
        }
        for (&price, &qty) in &pending.asks {
            set(&mut self.published_asks, price, qty);
        }
        let window = Window {
            first,
            last: self.book_update_id,
            previous: self.published_id,
            changed_at: self.changed_at,
            bids: levels(pending.bids.iter().rev()),
            asks: levels(pending.asks.iter()),
        };
        self.published_id = self.book_update_id;
        Some(window)
    }

    /// The current book, at most `depth` levels a side (what a REST snapshot returns).
    pub fn image(&self, depth: usize) -> BookImage {
        BookImage {
            last_update_id: self.book_update_id,
            bids: levels(self.bids.iter().rev().take(depth)),
            asks: levels(self.asks.iter().take(depth)),
            changed_at: self.changed_at,
        }
    }

    /// The book as published so far (every window flushed), in full.
    pub fn published(&self) -> BookImage {
        BookImage {
            last_update_id: self.published_id,
            bids: levels(self.published_bids.iter().rev()),
            asks: levels(self.published_asks.iter()),
            changed_at: self.changed_at,
        }
    }

    /// Renumbers the book: the next change gets ids after `update_id`, which may be
    /// lower than the ids published so far (OKX's sequence reset after maintenance:
    /// the next window then has `last < previous`).
    pub fn renumber(&mut self, update_id: u64) {
        self.update_id = update_id;
        self.book_update_id = update_id;
    }

    /// Id of the last change that altered the book.
    pub fn book_update_id(&self) -> u64 {
        self.book_update_id
    }

    /// Best bid and ask of the current book (zero where a side is empty).
    pub fn top(&self) -> TopOfBook {
        let mut top = TopOfBook::default();
        if let Some((&price, &qty)) = self.bids.iter().next_back() {
            top.bid = Price::from_raw(price);
            top.bid_qty = Qty::from_raw(qty);
        }
        if let Some((&price, &qty)) = self.asks.iter().next() {
            top.ask = Price::from_raw(price);
            top.ask_qty = Qty::from_raw(qty);
        }
        top
    }
}

/// Sets a level (zero deletes); returns whether the side changed.
pub(crate) fn set(side: &mut Side, price: i64, qty: i64) -> bool {
    if qty == 0 {
        side.remove(&price).is_some()
    } else {
        side.insert(price, qty) != Some(qty)
    }
}

pub(crate) fn levels<'a>(iter: impl Iterator<Item = (&'a i64, &'a i64)>) -> Vec<Level> {
    iter.map(|(&price, &qty)| Level {
        price: Price::from_raw(price),
        qty: Qty::from_raw(qty),
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(price: i64, qty: i64) -> Level {
        Level {
            price: Price::from_raw(price),
            qty: Qty::from_raw(qty),
        }
    }

    fn book() -> VenueBook {
        VenueBook::new(
            Qty::from_raw(10),
            100,
            &[level(99, 25), level(98, 10)],
            &[level(101, 7)],
            UnixNanos(1),
        )
    }

    #[test]
    fn sizes_round_up_to_the_lot() {
        let b = book();
        assert_eq!(b.image(10).bids, [level(99, 30), level(98, 10)]);
        assert_eq!(b.image(10).asks, [level(101, 10)]);
        assert_eq!(b.image(1).bids.len(), 1);
    }

    #[test]
    fn a_window_gathers_changes_and_chains_to_the_previous_one() {
        let mut b = book();
        assert!(b.apply(UnixNanos(2), &[level(99, 40)], &[], 2, 0));
        assert!(b.apply(UnixNanos(3), &[level(98, 0)], &[level(102, 3)], 1, 3));
        let w = b.flush().unwrap();
        assert_eq!((w.first, w.last, w.previous), (101, 106, 100));
        assert_eq!(w.bids, [level(99, 40), level(98, 0)]);
        assert_eq!(w.asks, [level(102, 10)]);
        assert_eq!(w.changed_at, UnixNanos(3));
        assert!(b.flush().is_none(), "nothing new");
        assert!(b.apply(UnixNanos(4), &[level(99, 50)], &[], 1, 0));
        let w = b.flush().unwrap();
        assert_eq!((w.first, w.last, w.previous), (107, 107, 106));
        assert_eq!(b.published(), b.image(usize::MAX));
    }

    #[test]
    fn an_invisible_change_burns_ids_but_publishes_nothing() {
        let mut b = book();
        assert!(!b.apply(UnixNanos(2), &[level(99, 21)], &[], 1, 0));
        assert!(b.flush().is_none());
        assert_eq!(b.image(10).last_update_id, 100, "the book is still at 100");
        assert!(b.apply(UnixNanos(3), &[level(99, 31)], &[], 1, 0));
        let w = b.flush().unwrap();
        assert_eq!((w.first, w.last, w.previous), (102, 102, 100));
    }

    #[test]
    fn a_snapshot_between_windows_is_bracketed_by_the_next_one() {
        let mut b = book();
        b.apply(UnixNanos(2), &[level(99, 40)], &[], 1, 0);
        let snapshot = b.image(10).last_update_id;
        b.apply(UnixNanos(3), &[level(99, 50)], &[], 1, 0);
        let w = b.flush().unwrap();
        assert!(w.first <= snapshot && snapshot <= w.last);
    }
}
