//! A recording played as its venue published it ([`Source::Recording`]): the messages
//! of one venue, in receive-time order, on the emulator's clock, and the book each
//! instrument has after them.
//!
//! - **Time.** The recording's first receive time (over all its streams, so a Binance
//!   and an OKX emulator of one recording started together stay coherent) falls on the
//!   emulator's start; every message is published at its receive time moved the same
//!   way, and its venue time stamp is moved with it. Speed and pause are the clock's.
//! - **Books.** A snapshot replaces the instrument's book (the first one starts it; a
//!   later one is a recorder's resync, which a client sees as the gap it was); a delta
//!   changes the levels it names. Deltas before an instrument's first snapshot cannot
//!   be published (there is no book to bracket) and are counted, not played.
//! - **The end.** Playback stops at the last message: no loop. A damaged file stops it
//!   too, and [`Playback::error`] says why.
//!
//! [`Playback`] is pure: its messages come through the [`Messages`] trait, which a
//! recording ([`RecordingMessages`]) or a test's list implements. A recording is read
//! one message ahead, under the emulator's market lock, so at most one decoded batch
//! (8K rows a stream) is in memory, whatever the recording's length. What each venue makes
//! of a message is in `binance::recorded` and `okx::recorded`.
//!
//! [`Source::Recording`]: crate::Source::Recording

use crate::book::{BookImage, Side as BookSide, levels, set};
use crate::config::{INSTRUMENTS_MAX, ServeError};
use propbot_engine::Config;
use propbot_engine::book::{Sequence, TopOfBook};
use propbot_engine::gateway::MarketUpdate;
use propbot_engine::model::{InstrumentId, Level, Price, Qty, Side, Venue};
use propbot_engine::time::UnixNanos;
use propbot_market::tape::instrument_maps;
use propbot_recordings::schema::Kind;
use propbot_recordings::{MergedReader, OwnedMessage, Recording};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// One recorded message of the emulated venue, on the emulator's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// When it is published: its receive time, moved onto the emulator's clock.
    pub at: UnixNanos,
    /// The venue's time stamp, moved the same way.
    pub ts_exchange: UnixNanos,
    /// Index of its instrument among those the emulator lists.
    pub index: usize,
    /// What was recorded.
    pub body: Body,
}

/// The body of a recorded message. Book invalidations are the recorder's own view and
/// are not played.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// A full book (`last` is its update id).
    Snapshot {
        /// Update id of the book.
        last: u64,
        /// Bids, best first.
        bids: Vec<Level>,
        /// Asks, best first.
        asks: Vec<Level>,
    },
    /// Changed levels with the venue's sequence fields, as recorded.
    Delta {
        /// `U`/`u`/`pu` (Binance), `seqId`/`prevSeqId` (OKX, `first` empty).
        sequence: Sequence,
        /// Changed bids; zero deletes.
        bids: Vec<Level>,
        /// Changed asks; zero deletes.
        asks: Vec<Level>,
    },
    /// A public trade.
    Trade {
        /// Venue trade id, when recorded.
        trade_id: Option<u64>,
        /// Price.
        price: Price,
        /// Quantity, base units.
        qty: Qty,
        /// The taker's side.
        aggressor: Side,
    },
    /// A venue best bid/offer.
    Bbo {
        /// Book update id it reflects, when recorded.
        update_id: Option<u64>,
        /// Best prices and sizes.
        top: TopOfBook,
    },
}

/// Where recorded messages come from, in publication order.
pub trait Messages: Send {
    /// The next message; `Ok(None)` at the end.
    fn next_message(&mut self) -> Result<Option<Recorded>, propbot_recordings::Error>;
}

/// A list of messages (for tests).
impl Messages for std::vec::IntoIter<Recorded> {
    fn next_message(&mut self) -> Result<Option<Recorded>, propbot_recordings::Error> {
        Ok(self.next())
    }
}

/// One instrument's book as played so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlayBook {
    bids: BookSide,
    asks: BookSide,
    /// Update id of the last snapshot or delta applied.
    pub last_update_id: u64,
    /// Venue time of the last change.
    pub changed_at: UnixNanos,
    /// Whether a snapshot has started the book.
    pub ready: bool,
}

impl PlayBook {
    fn replace(&mut self, last: u64, bids: &[Level], asks: &[Level], at: UnixNanos) {
        self.bids.clear();
        self.asks.clear();
        self.ready = true;
        self.change(last, bids, asks, at);
    }

    fn change(&mut self, last: u64, bids: &[Level], asks: &[Level], at: UnixNanos) {
        for level in bids {
            set(&mut self.bids, level.price.raw(), level.qty.raw().max(0));
        }
        for level in asks {
            set(&mut self.asks, level.price.raw(), level.qty.raw().max(0));
        }
        self.last_update_id = last;
        self.changed_at = at;
    }

    /// The book, at most `depth` levels a side.
    pub fn image(&self, depth: usize) -> BookImage {
        BookImage {
            last_update_id: self.last_update_id,
            bids: levels(self.bids.iter().rev().take(depth)),
            asks: levels(self.asks.iter().take(depth)),
            changed_at: self.changed_at,
        }
    }

    /// Best bid and ask (zero where a side is empty).
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

/// A recording being played: the next message, and every instrument's book.
pub struct Playback {
    messages: Box<dyn Messages>,
    next: Option<Recorded>,
    books: Vec<PlayBook>,
    error: Option<String>,
    /// Messages played.
    pub played: u64,
    /// Deltas dropped because their instrument had no book yet.
    pub unplayable: u64,
}

impl std::fmt::Debug for Playback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Playback")
            .field("next_at", &self.next.as_ref().map(|m| m.at))
            .field("played", &self.played)
            .field("unplayable", &self.unplayable)
            .field("error", &self.error)
            .finish()
    }
}

impl Playback {
    /// Plays `messages` of `instruments` listed instruments (every index below it).
    pub fn new(messages: Box<dyn Messages>, instruments: usize) -> Playback {
        let mut playback = Playback {
            messages,
            next: None,
            books: vec![PlayBook::default(); instruments],
            error: None,
            played: 0,
            unplayable: 0,
        };
        playback.read_ahead();
        playback
    }

    /// Market time of the next message; [`UnixNanos::NEVER`] once finished.
    pub fn next_time(&self) -> UnixNanos {
        self.next.as_ref().map_or(UnixNanos::NEVER, |m| m.at)
    }

    /// Whether every message has been played (or a damaged file stopped playback).
    pub fn finished(&self) -> bool {
        self.next.is_none()
    }

    /// Why playback stopped before the end of the recording, if it did.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The book of instrument `index`.
    pub fn book(&self, index: usize) -> &PlayBook {
        &self.books[index]
    }

    /// Plays the next message: applies it to its book and returns it (`None` once
    /// finished). A delta of an instrument without a book is skipped.
    pub fn step(&mut self) -> Option<Recorded> {
        loop {
            let message = self.next.take()?;
            self.read_ahead();
            let book = &mut self.books[message.index];
            match &message.body {
                Body::Snapshot { last, bids, asks } => {
                    book.replace(*last, bids, asks, message.ts_exchange);
                }
                Body::Delta { .. } if !book.ready => {
                    self.unplayable += 1;
                    continue;
                }
                Body::Delta {
                    sequence,
                    bids,
                    asks,
                } => book.change(sequence.last, bids, asks, message.ts_exchange),
                Body::Trade { .. } | Body::Bbo { .. } => {}
            }
            self.played += 1;
            return Some(message);
        }
    }

    fn read_ahead(&mut self) {
        match self.messages.next_message() {
            Ok(Some(message)) if message.index < self.books.len() => self.next = Some(message),
            Ok(Some(message)) => {
                self.error = Some(format!(
                    "a message of instrument index {} (only {} listed)",
                    message.index,
                    self.books.len()
                ));
            }
            Ok(None) => {}
            Err(e) => self.error = Some(e.to_string()),
        }
    }
}

/// The messages of one venue in a recording, mapped to the emulator's instruments and
/// moved onto its clock.
pub struct RecordingMessages {
    reader: MergedReader,
    venue: Venue,
    /// Listed index of each engine instrument, by instrument id.
    index_of: Vec<Option<usize>>,
    /// Recorded receive time that falls on `start` (`None`: the first message's).
    origin: Option<u64>,
    start: UnixNanos,
}

/// A recording opened for one venue: the instruments the emulator lists (in index
/// order) and their messages.
pub struct Opened {
    /// Engine instruments, in listed-index order.
    pub instruments: Vec<InstrumentId>,
    /// Their messages.
    pub messages: RecordingMessages,
}

/// Opens `paths` for `venue`: every configured instrument recorded on the venue (or
/// only those `asked`, each of which must be), the recording's first receive time
/// falling on `start`.
pub fn open(
    paths: &[PathBuf],
    config: &Config,
    venue: Venue,
    asked: &[InstrumentId],
    start: UnixNanos,
) -> Result<Opened, ServeError> {
    let recording = Recording::open(paths)?;
    let maps = instrument_maps(&recording, config)?;
    let origin = recording
        .streams
        .iter()
        .flat_map(|s| &s.files)
        .map(|f| f.meta.stats.first_recv_ns)
        .filter(|&t| t > 0)
        .min();
    let (streams, maps, recorded) = venue_streams(recording, maps, config, venue);
    let instruments = listed(&recorded, asked, venue, paths)?;
    let mut index_of = vec![None; config.instruments.len()];
    for (index, id) in instruments.iter().enumerate() {
        index_of[id.index()] = Some(index);
    }
    let recording = Recording {
        streams,
        leftovers: Vec::new(),
    };
    let messages = RecordingMessages {
        reader: recording.reader(Some(maps)),
        venue,
        index_of,
        origin,
        start,
    };
    Ok(Opened {
        instruments,
        messages,
    })
}

type Maps = Vec<Vec<Option<InstrumentId>>>;

/// The streams that record `venue`, their maps keeping only instruments listed on it
/// (in the file and in the configuration), and those instruments.
fn venue_streams(
    recording: Recording,
    maps: Maps,
    config: &Config,
    venue: Venue,
) -> (
    Vec<propbot_recordings::reader::StreamInfo>,
    Maps,
    BTreeSet<InstrumentId>,
) {
    let mut streams = Vec::new();
    let mut kept = Vec::new();
    let mut recorded = BTreeSet::new();
    for (stream, map) in recording.streams.into_iter().zip(maps) {
        let map: Vec<Option<InstrumentId>> = stream
            .instruments()
            .iter()
            .zip(map)
            .map(|(meta, id)| {
                id.filter(|&id| {
                    meta.listing(venue).is_some() && config.listing(venue, id).is_some()
                })
            })
            .collect();
        if map.iter().all(Option::is_none) {
            continue;
        }
        recorded.extend(map.iter().flatten().copied());
        streams.push(stream);
        kept.push(map);
    }
    (streams, kept, recorded)
}

/// The instruments to list: those asked for (each recorded), or every one recorded.
fn listed(
    recorded: &BTreeSet<InstrumentId>,
    asked: &[InstrumentId],
    venue: Venue,
    paths: &[PathBuf],
) -> Result<Vec<InstrumentId>, ServeError> {
    let missing: Vec<&InstrumentId> = asked.iter().filter(|i| !recorded.contains(i)).collect();
    if recorded.is_empty() || !missing.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(ServeError::VenueNotRecorded {
            venue,
            paths: shown.join(" "),
            which: if missing.is_empty() {
                String::new()
            } else {
                format!(" (asked for: {missing:?})")
            },
        });
    }
    let ids: Vec<InstrumentId> = if asked.is_empty() {
        recorded.iter().copied().collect()
    } else {
        asked.to_vec()
    };
    if ids.len() > INSTRUMENTS_MAX {
        return Err(ServeError::TooManyInstruments { count: ids.len() });
    }
    Ok(ids)
}

impl Messages for RecordingMessages {
    fn next_message(&mut self) -> Result<Option<Recorded>, propbot_recordings::Error> {
        while let Some((_, message)) = self.reader.next()? {
            if message.venue != self.venue {
                continue;
            }
            let Some(Some(index)) = self.index_of.get(message.instrument.index()) else {
                continue;
            };
            let origin = *self.origin.get_or_insert(message.ts_recv.0);
            let moved = |t: UnixNanos| {
                let t = i128::from(self.start.0) + i128::from(t.0) - i128::from(origin);
                UnixNanos(u64::try_from(t.max(0)).unwrap_or(u64::MAX))
            };
            let Some(body) = body_of(message) else {
                continue;
            };
            return Ok(Some(Recorded {
                at: moved(message.ts_recv),
                ts_exchange: moved(message.ts_exchange),
                index: *index,
                body,
            }));
        }
        Ok(None)
    }
}

/// The body of a recorded message, `None` for what is not played (invalidations).
fn body_of(message: &OwnedMessage) -> Option<Body> {
    let body = match (message.kind, message.market_update()) {
        (
            Kind::Snapshot,
            Some(MarketUpdate::Snapshot {
                last, bids, asks, ..
            }),
        ) => Body::Snapshot {
            last: *last,
            bids: bids.clone(),
            asks: asks.clone(),
        },
        (
            Kind::Delta,
            Some(MarketUpdate::Delta {
                sequence,
                bids,
                asks,
                ..
            }),
        ) => Body::Delta {
            sequence: *sequence,
            bids: bids.clone(),
            asks: asks.clone(),
        },
        (
            Kind::Trade,
            Some(MarketUpdate::Trade {
                price,
                qty,
                aggressor,
                ..
            }),
        ) => Body::Trade {
            trade_id: message.id,
            price: *price,
            qty: *qty,
            aggressor: *aggressor,
        },
        (Kind::Bbo, _) => Body::Bbo {
            update_id: message.id,
            top: message.top,
        },
        _ => return None,
    };
    Some(body)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn level(price: i64, qty: i64) -> Level {
        Level {
            price: Price::from_raw(price),
            qty: Qty::from_raw(qty),
        }
    }

    pub(crate) fn at(ms: u64, index: usize, body: Body) -> Recorded {
        Recorded {
            at: UnixNanos::from_millis(ms),
            ts_exchange: UnixNanos::from_millis(ms),
            index,
            body,
        }
    }

    pub(crate) fn delta(first: Option<u64>, last: u64, previous: u64, bids: &[Level]) -> Body {
        Body::Delta {
            sequence: Sequence {
                first,
                last,
                previous: Some(previous),
            },
            bids: bids.to_vec(),
            asks: Vec::new(),
        }
    }

    pub(crate) fn snapshot(last: u64) -> Body {
        Body::Snapshot {
            last,
            bids: vec![level(99, 5), level(98, 7)],
            asks: vec![level(101, 3)],
        }
    }

    pub(crate) fn playback(messages: Vec<Recorded>, instruments: usize) -> Playback {
        Playback::new(Box::new(messages.into_iter()), instruments)
    }

    #[test]
    fn a_book_starts_at_its_snapshot_and_follows_the_deltas() {
        let mut p = playback(
            vec![
                at(1, 0, delta(Some(5), 6, 4, &[level(99, 1)])),
                at(2, 0, snapshot(10)),
                at(3, 0, delta(Some(11), 12, 10, &[level(99, 0), level(97, 2)])),
            ],
            1,
        );
        assert_eq!(p.next_time(), UnixNanos::from_millis(1));
        assert!(matches!(p.step().unwrap().body, Body::Snapshot { .. }));
        assert_eq!(p.unplayable, 1, "a delta before the first snapshot");
        assert!(matches!(p.step().unwrap().body, Body::Delta { .. }));
        let image = p.book(0).image(10);
        assert_eq!(image.last_update_id, 12);
        assert_eq!(image.bids, [level(98, 7), level(97, 2)]);
        assert_eq!(p.book(0).top().ask, Price::from_raw(101));
        assert!(p.step().is_none());
        assert!(p.finished() && p.error().is_none());
        assert_eq!(p.next_time(), UnixNanos::NEVER);
    }

    #[test]
    fn a_message_of_an_unlisted_index_stops_playback_with_a_reason() {
        let mut p = playback(vec![at(1, 0, snapshot(1)), at(2, 3, snapshot(2))], 1);
        assert!(p.step().is_some());
        assert!(p.step().is_none());
        assert!(p.error().unwrap().contains("index 3"), "{:?}", p.error());
    }
}
