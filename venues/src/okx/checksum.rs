//! The OKX order-book checksum (`../shared/VENUES.md` §2.3), deprecated on 2026-06-23
//! (now always `0`, meaning "not provided") but present in older captures.
//!
//! The CRC32 (IEEE) of `bid1.px:bid1.sz:ask1.px:ask1.sz:bid2.px:...` over the first 25
//! levels of each side, with a side's missing entries skipped, compared as a signed
//! 32-bit integer. It is computed from the price and size *strings as received*, so the
//! book kept here stores them, ordered by their fixed-point price.

use crate::error::{Error, clip};
use propbot_engine::model::Price;

/// Levels per side covered by the checksum.
pub const CHECKSUM_DEPTH: usize = 25;
/// Longest price or size text kept. OKX sends at most about 20 characters.
pub const LEVEL_TEXT_LEN_MAX: usize = 23;
/// Levels kept per side, at most. `books` sends 400; when an insert would exceed the
/// bound the deepest level is dropped (and counted): it cannot reach the top 25 unless
/// hundreds of better levels are deleted first.
pub const LEVELS_PER_SIDE_MAX: usize = 2000;

/// Decimal text stored inline (no heap allocation per level).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelText {
    len: u8,
    bytes: [u8; LEVEL_TEXT_LEN_MAX],
}

impl LevelText {
    /// Copies `text`; fails when it is longer than [`LEVEL_TEXT_LEN_MAX`].
    pub fn new(text: &str) -> Result<LevelText, Error> {
        if text.len() > LEVEL_TEXT_LEN_MAX {
            return Err(Error::LevelTextTooLong(clip(text)));
        }
        let mut bytes = [0u8; LEVEL_TEXT_LEN_MAX];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Ok(LevelText {
            len: text.len() as u8,
            bytes,
        })
    }

    /// The bytes as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The text as received (always valid UTF-8: it was copied from a `&str`).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("copied from a &str")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    price: Price,
    price_text: LevelText,
    size_text: LevelText,
}

impl Entry {
    fn view(&self) -> (Price, &str, &str) {
        (
            self.price,
            self.price_text.as_str(),
            self.size_text.as_str(),
        )
    }
}

/// One side of the book, best first.
#[derive(Clone, Debug)]
struct Side {
    /// Bids sort descending, asks ascending.
    descending: bool,
    entries: Vec<Entry>,
}

impl Side {
    fn position(&self, price: Price) -> Result<usize, usize> {
        if self.descending {
            self.entries
                .binary_search_by(|e| price.raw().cmp(&e.price.raw()))
        } else {
            self.entries
                .binary_search_by(|e| e.price.raw().cmp(&price.raw()))
        }
    }

    /// Sets a level; `delete` removes it. Returns the number of levels dropped.
    fn set(
        &mut self,
        price: Price,
        price_text: &str,
        size_text: &str,
        delete: bool,
    ) -> Result<u64, Error> {
        match self.position(price) {
            Ok(i) if delete => {
                self.entries.remove(i);
                Ok(0)
            }
            Err(_) if delete => Ok(0),
            Ok(i) => {
                self.entries[i].price_text = LevelText::new(price_text)?;
                self.entries[i].size_text = LevelText::new(size_text)?;
                Ok(0)
            }
            Err(i) => {
                let entry = Entry {
                    price,
                    price_text: LevelText::new(price_text)?,
                    size_text: LevelText::new(size_text)?,
                };
                if i >= LEVELS_PER_SIDE_MAX {
                    return Ok(1);
                }
                let mut dropped = 0;
                if self.entries.len() == LEVELS_PER_SIDE_MAX {
                    self.entries.pop();
                    dropped = 1;
                }
                self.entries.insert(i, entry);
                Ok(dropped)
            }
        }
    }
}

/// The top of an OKX book with its level strings, for checksum verification.
#[derive(Clone, Debug)]
pub struct ChecksumBook {
    bids: Side,
    asks: Side,
    /// Levels dropped at the [`LEVELS_PER_SIDE_MAX`] bound.
    pub dropped: u64,
}

impl Default for ChecksumBook {
    fn default() -> Self {
        ChecksumBook::new()
    }
}

impl ChecksumBook {
    /// An empty book.
    pub fn new() -> ChecksumBook {
        ChecksumBook {
            bids: Side {
                descending: true,
                entries: Vec::new(),
            },
            asks: Side {
                descending: false,
                entries: Vec::new(),
            },
            dropped: 0,
        }
    }

    /// Empties the book (before a snapshot).
    pub fn clear(&mut self) {
        self.bids.entries.clear();
        self.asks.entries.clear();
    }

    /// Sets a bid level from its parsed price and its texts; `delete` (size zero)
    /// removes it.
    pub fn set_bid(
        &mut self,
        price: Price,
        price_text: &str,
        size_text: &str,
        delete: bool,
    ) -> Result<(), Error> {
        self.dropped += self.bids.set(price, price_text, size_text, delete)?;
        Ok(())
    }

    /// Sets an ask level (see [`ChecksumBook::set_bid`]).
    pub fn set_ask(
        &mut self,
        price: Price,
        price_text: &str,
        size_text: &str,
        delete: bool,
    ) -> Result<(), Error> {
        self.dropped += self.asks.set(price, price_text, size_text, delete)?;
        Ok(())
    }

    /// Bid levels, best first: price, price text, size text.
    pub fn bids(&self) -> impl Iterator<Item = (Price, &str, &str)> + '_ {
        self.bids.entries.iter().map(Entry::view)
    }

    /// Ask levels, best first.
    pub fn asks(&self) -> impl Iterator<Item = (Price, &str, &str)> + '_ {
        self.asks.entries.iter().map(Entry::view)
    }

    /// Levels per side (bids, asks).
    pub fn depth(&self) -> (usize, usize) {
        (self.bids.entries.len(), self.asks.entries.len())
    }

    /// The checksum of the current top 25 levels.
    pub fn checksum(&self) -> i32 {
        let text = |e: &Entry| (e.price_text, e.size_text);
        let bids = self.bids.entries.iter().map(text);
        let asks = self.asks.entries.iter().map(text);
        let mut hasher = Hasher::default();
        interleave(bids, asks, |price, size| {
            hasher.level(price.as_bytes(), size.as_bytes())
        });
        hasher.finish()
    }
}

/// The checksum of levels given as text, best first (used for the documented examples
/// and by callers that keep their own book).
pub fn checksum_of<'a>(
    bids: impl IntoIterator<Item = (&'a str, &'a str)>,
    asks: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> i32 {
    let mut hasher = Hasher::default();
    interleave(bids.into_iter(), asks.into_iter(), |price, size| {
        hasher.level(price.as_bytes(), size.as_bytes())
    });
    hasher.finish()
}

fn interleave<T>(
    mut bids: impl Iterator<Item = (T, T)>,
    mut asks: impl Iterator<Item = (T, T)>,
    mut each: impl FnMut(T, T),
) {
    for _ in 0..CHECKSUM_DEPTH {
        let bid = bids.next();
        let ask = asks.next();
        if bid.is_none() && ask.is_none() {
            break;
        }
        if let Some((price, size)) = bid {
            each(price, size);
        }
        if let Some((price, size)) = ask {
            each(price, size);
        }
    }
}

#[derive(Default)]
struct Hasher {
    crc: crc32fast::Hasher,
    started: bool,
}

impl Hasher {
    fn level(&mut self, price: &[u8], size: &[u8]) {
        if self.started {
            self.crc.update(b":");
        }
        self.started = true;
        self.crc.update(price);
        self.crc.update(b":");
        self.crc.update(size);
    }

    fn finish(self) -> i32 {
        // OKX compares the CRC as a signed 32-bit integer: reinterpret the bits.
        self.crc.finalize() as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_examples_match() {
        // VENUES.md §2.3, first example: both sides with two levels.
        assert_eq!(
            checksum_of(
                [("3366.1", "7"), ("3366", "6")],
                [("3366.8", "9"), ("3368", "8")]
            ),
            -1_881_014_294
        );
        // Second example: one bid, three asks; the missing bids are skipped.
        assert_eq!(
            checksum_of(
                [("3366.1", "7")],
                [("3366.8", "9"), ("3368", "8"), ("3372", "8")]
            ),
            831_078_360
        );
        assert_eq!(
            crc32fast::hash(b"3366.1:7:3366.8:9:3366:6:3368:8") as i32,
            -1_881_014_294
        );
    }

    #[test]
    fn the_book_orders_levels_and_uses_the_received_text() {
        let mut book = ChecksumBook::new();
        book.set_bid(Price::from_raw(33_660), "3366", "6", false)
            .unwrap();
        book.set_bid(Price::from_raw(33_661), "3366.1", "7", false)
            .unwrap();
        book.set_ask(Price::from_raw(33_680), "3368", "8", false)
            .unwrap();
        book.set_ask(Price::from_raw(33_668), "3366.8", "9", false)
            .unwrap();
        assert_eq!(book.checksum(), -1_881_014_294);
        // Deleting an absent level changes nothing; deleting a present one does.
        book.set_ask(Price::from_raw(40_000), "4000", "0", true)
            .unwrap();
        assert_eq!(book.checksum(), -1_881_014_294);
        book.set_bid(Price::from_raw(33_660), "3366", "0", true)
            .unwrap();
        book.set_ask(Price::from_raw(33_720), "3372", "8", false)
            .unwrap();
        assert_eq!(book.checksum(), 831_078_360);
        // The same price written differently is a different checksum.
        book.set_ask(Price::from_raw(33_720), "3372.0", "8", false)
            .unwrap();
        assert_ne!(book.checksum(), 831_078_360);
    }

    #[test]
    fn only_the_top_25_levels_count() {
        let mut book = ChecksumBook::new();
        for i in 0..30 {
            let text = format!("{}", 100 - i);
            book.set_bid(Price::from_raw(100 - i), &text, "1", false)
                .unwrap();
        }
        let before = book.checksum();
        book.set_bid(Price::from_raw(71), "71", "5", false).unwrap();
        assert_eq!(book.checksum(), before, "level 30 is outside the checksum");
        book.set_bid(Price::from_raw(76), "76", "5", false).unwrap();
        assert_ne!(book.checksum(), before, "level 25 is inside it");
    }

    #[test]
    fn long_text_and_full_sides_are_bounded() {
        let mut book = ChecksumBook::new();
        assert!(matches!(
            book.set_ask(Price::from_raw(1), "1.000000000000000000000001", "1", false),
            Err(Error::LevelTextTooLong(_))
        ));
        for i in 0..(LEVELS_PER_SIDE_MAX as i64 + 5) {
            book.set_ask(Price::from_raw(i + 1), "1", "1", false)
                .unwrap();
        }
        assert_eq!(book.depth().1, LEVELS_PER_SIDE_MAX);
        assert_eq!(book.dropped, 5);
        // A better level pushes the deepest one out.
        book.set_ask(Price::from_raw(0), "0", "1", false).unwrap();
        assert_eq!(book.depth().1, LEVELS_PER_SIDE_MAX);
        assert_eq!(book.dropped, 6);
    }
}
