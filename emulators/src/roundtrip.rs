//! Round trips through an emulator that plays a recording: a small recording to play,
//! the books a client in sync must hold after each recorded message ([`Reference`],
//! read straight from the recording with `MergedReader` into the engine's `Book`), and
//! a checker ([`RoundTrip`]) that compares a client's book with them message for
//! message and proves no diff was lost.
//!
//! `tests/roundtrip.rs` drives it with a bare WebSocket client; the live adapters'
//! tests do the same through the adapter: feed its events to an engine `Book`, call
//! [`RoundTrip::on_snapshot`] after every snapshot applied and [`RoundTrip::on_delta`]
//! after every delta, then [`RoundTrip::finish`] once the emulator has
//! [finished](crate::binance::BinanceHandle::finished).

use propbot_engine::Config;
use propbot_engine::book::{ApplyOutcome, Book};
use propbot_engine::gateway::MarketUpdate;
use propbot_engine::model::{InstrumentId, Level, Venue};
use propbot_engine::time::UnixNanos;
use propbot_market::generate::{SynthOptions, synthesize};
use propbot_market::tape::{MapError, instrument_maps};
use propbot_recordings::progress::Progress;
use propbot_recordings::{Recording, WriterOptions};
use std::path::{Path, PathBuf};

/// Why a round trip failed: the recording could not be read, or the client's book
/// differs from the recording's.
#[derive(Debug, thiserror::Error)]
pub enum RoundTripError {
    /// A recording file is missing, foreign or damaged (the error names it).
    #[error(transparent)]
    Recording(#[from] propbot_recordings::Error),
    /// The recording's instruments do not fit the configuration.
    #[error(transparent)]
    Map(#[from] MapError),
    /// The configuration does not list the instrument on the venue.
    #[error("instrument {instrument:?} has no {venue} listing in the configuration")]
    NoListing {
        /// The venue.
        venue: Venue,
        /// The instrument.
        instrument: InstrumentId,
    },
    /// A delta came before any snapshot.
    #[error("the client applied a delta (update id {update_id}) before any snapshot")]
    NotSynced {
        /// The client's update id.
        update_id: u64,
    },
    /// The client's book is at an update id no recorded message ends at.
    #[error(
        "the client's book is at update id {update_id}, which no recorded {venue} message ends at"
    )]
    UnknownUpdateId {
        /// The venue.
        venue: Venue,
        /// The client's update id.
        update_id: u64,
    },
    /// The client skipped a recorded message (or went back).
    #[error(
        "after update id {after} the recording's next message ends at {expected}, but the \
         client's book is at {got}: a diff was lost or replayed out of order"
    )]
    Lost {
        /// Where the client was.
        after: u64,
        /// The next recorded id.
        expected: u64,
        /// The client's id.
        got: u64,
    },
    /// The client's levels differ from the recording's at the same update id.
    #[error(
        "at update id {update_id} the client's {side} differ from the recording's: level \
         {position} is {got:?}, recorded {expected:?}"
    )]
    Levels {
        /// The update id.
        update_id: u64,
        /// `bids` or `asks`.
        side: &'static str,
        /// Index of the first differing level (best first).
        position: usize,
        /// The recorded level (`None`: the recorded side is shorter).
        expected: Option<Level>,
        /// The client's level (`None`: the client's side is shorter).
        got: Option<Level>,
    },
    /// The client stopped before the end of the recording.
    #[error(
        "the client's book is at update id {got}, but the recording goes on to {last} ({missing} \
         message(s) never seen)"
    )]
    Incomplete {
        /// The client's id.
        got: u64,
        /// The recording's last id.
        last: u64,
        /// Recorded messages after the client's.
        missing: usize,
    },
}

/// Writes a synthetic two-venue recording of `duration_ns` (the paper configuration's
/// BTC-USDT-PERP, one stream per venue) into `dir` and returns the paths to open.
pub fn synthesize_recording(
    config: &Config,
    dir: &Path,
    seed: u64,
    duration_ns: u64,
) -> Result<Vec<PathBuf>, RoundTripError> {
    let options = SynthOptions {
        seed,
        duration_ns,
        ..SynthOptions::default()
    };
    synthesize(
        config,
        &options,
        dir,
        &WriterOptions::default(),
        &Progress::hidden(),
    )?;
    Ok(vec![dir.to_owned()])
}

/// Whether a recorded book state comes from a snapshot or a delta.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateKind {
    /// A full book.
    Snapshot,
    /// Changed levels.
    Delta,
}

/// An engine book after one recorded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookState {
    /// The message's kind.
    pub kind: StateKind,
    /// The book's update id.
    pub last_update_id: u64,
    /// Bids, best first.
    pub bids: Vec<Level>,
    /// Asks, best first.
    pub asks: Vec<Level>,
}

impl BookState {
    fn of(kind: StateKind, book: &Book, depth: usize) -> BookState {
        BookState {
            kind,
            last_update_id: book.last_sequence(),
            bids: book.bids().take(depth).collect(),
            asks: book.asks().take(depth).collect(),
        }
    }
}

/// The book a client in sync holds after each recorded snapshot and delta of one
/// instrument on one venue: its best `depth` levels a side.
#[derive(Clone, Debug)]
pub struct Reference {
    /// The venue.
    pub venue: Venue,
    /// The instrument.
    pub instrument: InstrumentId,
    /// Levels kept (and compared) per side, best first.
    pub depth: usize,
    /// Book after each message the engine's book applied, in recorded order.
    pub states: Vec<BookState>,
}

impl Reference {
    /// Reads `paths` with `MergedReader` into an engine `Book` of `ticks_per_side`
    /// (the client's must have the same window), keeping the best `depth` levels a side
    /// after each message (`usize::MAX`: all). A real venue's book keeps levels far from
    /// the touch that no snapshot carries (Binance's REST depth stops at 1000 levels),
    /// so a client synced from a snapshot agrees with it near the touch only: compare
    /// the best 100 or so. A delta the book refuses (a recorded gap) is left out, and
    /// so is everything up to the next snapshot.
    pub fn load(
        paths: &[PathBuf],
        config: &Config,
        venue: Venue,
        instrument: InstrumentId,
        ticks_per_side: usize,
        depth: usize,
    ) -> Result<Reference, RoundTripError> {
        let tick = config
            .listing(venue, instrument)
            .ok_or(RoundTripError::NoListing { venue, instrument })?
            .tick;
        let recording = Recording::open(paths)?;
        let maps = instrument_maps(&recording, config)?;
        let mut reader = recording.reader(Some(maps));
        let mut book = Book::new(venue, instrument, tick, ticks_per_side);
        let mut states = Vec::new();
        let now = UnixNanos(1);
        while let Some((_, message)) = reader.next()? {
            if message.venue != venue || message.instrument != instrument {
                continue;
            }
            let (kind, outcome) = match message.market_update() {
                Some(MarketUpdate::Snapshot {
                    last, bids, asks, ..
                }) => (
                    StateKind::Snapshot,
                    book.apply_snapshot(now, *last, bids, asks),
                ),
                Some(MarketUpdate::Delta {
                    sequence,
                    bids,
                    asks,
                    ..
                }) => (
                    StateKind::Delta,
                    book.apply_delta(now, *sequence, bids, asks),
                ),
                _ => continue,
            };
            if matches!(outcome, ApplyOutcome::Applied { .. }) {
                states.push(BookState::of(kind, &book, depth));
            }
        }
        Ok(Reference {
            venue,
            instrument,
            depth,
            states,
        })
    }

    /// Update id of the last recorded state (0 when there is none).
    pub fn last_update_id(&self) -> u64 {
        self.states.last().map_or(0, |s| s.last_update_id)
    }
}

/// Compares a client's book with a [`Reference`] after every message it applies.
#[derive(Clone, Debug)]
pub struct RoundTrip {
    reference: Reference,
    /// Index of the recorded state the client's book is at.
    at: Option<usize>,
    /// Deltas checked so far.
    pub deltas_checked: u64,
    /// Snapshots checked so far.
    pub snapshots_checked: u64,
}

impl RoundTrip {
    /// A checker against `reference`.
    pub fn new(reference: Reference) -> RoundTrip {
        RoundTrip {
            reference,
            at: None,
            deltas_checked: 0,
            snapshots_checked: 0,
        }
    }

    /// After the client applied a snapshot: its book must be a recorded state, level
    /// for level. Later deltas must follow the recording from there.
    pub fn on_snapshot(&mut self, book: &Book) -> Result<(), RoundTripError> {
        let update_id = book.last_sequence();
        let states = &self.reference.states;
        let index = states
            .iter()
            .rposition(|s| s.last_update_id == update_id)
            .ok_or(RoundTripError::UnknownUpdateId {
                venue: self.reference.venue,
                update_id,
            })?;
        compare(&states[index], book, self.reference.depth)?;
        self.at = Some(index);
        self.snapshots_checked += 1;
        Ok(())
    }

    /// After the client applied a delta: its book must be the next recorded state (or
    /// the same one, for a diff applied again right after a snapshot), level for level.
    pub fn on_delta(&mut self, book: &Book) -> Result<(), RoundTripError> {
        let update_id = book.last_sequence();
        let at = self.at.ok_or(RoundTripError::NotSynced { update_id })?;
        let states = &self.reference.states;
        let next = states.get(at + 1).filter(|s| s.last_update_id == update_id);
        let index = if next.is_some() {
            at + 1
        } else if states[at].last_update_id == update_id {
            at
        } else {
            return Err(RoundTripError::Lost {
                after: states[at].last_update_id,
                expected: states.get(at + 1).map_or(0, |s| s.last_update_id),
                got: update_id,
            });
        };
        compare(&states[index], book, self.reference.depth)?;
        self.at = Some(index);
        self.deltas_checked += 1;
        Ok(())
    }

    /// Whether the client's book has reached the recording's last state.
    pub fn complete(&self) -> bool {
        self.at
            .is_some_and(|at| at + 1 == self.reference.states.len())
    }

    /// `Ok(deltas checked)` when the client reached the end of the recording.
    pub fn finish(&self) -> Result<u64, RoundTripError> {
        if self.complete() {
            return Ok(self.deltas_checked);
        }
        let states = &self.reference.states;
        let at = self.at.unwrap_or(0);
        Err(RoundTripError::Incomplete {
            got: self.at.map_or(0, |at| states[at].last_update_id),
            last: self.reference.last_update_id(),
            missing: states.len().saturating_sub(at + 1),
        })
    }

    /// The reference it checks against.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }
}

/// The first difference between a recorded state and the client's book, in the best
/// `depth` levels of each side.
fn compare(state: &BookState, book: &Book, depth: usize) -> Result<(), RoundTripError> {
    let best = |levels: &[Level]| levels.len().min(depth);
    let sides: [(&'static str, &[Level], Vec<Level>); 2] = [
        (
            "bids",
            &state.bids[..best(&state.bids)],
            book.bids().take(depth).collect(),
        ),
        (
            "asks",
            &state.asks[..best(&state.asks)],
            book.asks().take(depth).collect(),
        ),
    ];
    for (side, expected, got) in sides {
        if expected == got.as_slice() {
            continue;
        }
        let position = expected
            .iter()
            .zip(&got)
            .position(|(e, g)| e != g)
            .unwrap_or(expected.len().min(got.len()));
        return Err(RoundTripError::Levels {
            update_id: state.last_update_id,
            side,
            position,
            expected: expected.get(position).copied(),
            got: got.get(position).copied(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use propbot_engine::Profile;
    use propbot_engine::book::Sequence;
    use propbot_engine::model::{Price, Qty};

    fn level(price: i64, qty: i64) -> Level {
        Level {
            price: Price::from_raw(price),
            qty: Qty::from_raw(qty),
        }
    }

    fn state(kind: StateKind, last: u64, bids: &[Level]) -> BookState {
        BookState {
            kind,
            last_update_id: last,
            bids: bids.to_vec(),
            asks: vec![level(1_010, 1)],
        }
    }

    fn checker() -> RoundTrip {
        RoundTrip::new(Reference {
            venue: Venue::Binance,
            instrument: InstrumentId(0),
            depth: usize::MAX,
            states: vec![
                state(StateKind::Snapshot, 10, &[level(1_000, 1)]),
                state(StateKind::Delta, 12, &[level(1_000, 2)]),
                state(StateKind::Delta, 15, &[level(1_000, 3)]),
                state(StateKind::Delta, 17, &[level(1_000, 4)]),
            ],
        })
    }

    fn book(last: u64, bid_qty: i64) -> Book {
        let mut book = Book::new(Venue::Binance, InstrumentId(0), Price::from_raw(1), 4096);
        book.apply_snapshot(
            UnixNanos(1),
            last,
            &[level(1_000, bid_qty)],
            &[level(1_010, 1)],
        );
        book
    }

    fn delta(book: &mut Book, first: u64, last: u64, previous: u64, bid_qty: i64) {
        let sequence = Sequence {
            first: Some(first),
            last,
            previous: Some(previous),
        };
        book.apply_delta(UnixNanos(1), sequence, &[level(1_000, bid_qty)], &[]);
    }

    #[test]
    fn a_client_that_follows_the_recording_passes() {
        let mut check = checker();
        let mut client = book(12, 2);
        check.on_snapshot(&client).unwrap();
        delta(&mut client, 11, 12, 10, 2);
        check.on_delta(&client).unwrap();
        delta(&mut client, 13, 15, 12, 3);
        check.on_delta(&client).unwrap();
        assert!(check.finish().is_err());
        delta(&mut client, 16, 17, 15, 4);
        check.on_delta(&client).unwrap();
        assert_eq!(check.finish().unwrap(), 3);
    }

    #[test]
    fn a_lost_diff_and_a_wrong_level_are_named() {
        let mut check = checker();
        let mut client = book(12, 2);
        check.on_snapshot(&client).unwrap();
        delta(&mut client, 16, 17, 12, 4);
        let lost = check.on_delta(&client).unwrap_err().to_string();
        assert!(lost.contains("next message ends at 15"), "{lost}");
        let mut check = checker();
        let mut client = book(12, 2);
        check.on_snapshot(&client).unwrap();
        delta(&mut client, 13, 15, 12, 9);
        let wrong = check.on_delta(&client).unwrap_err().to_string();
        assert!(
            wrong.contains("update id 15") && wrong.contains("bids"),
            "{wrong}"
        );
        assert!(matches!(
            checker().on_snapshot(&book(13, 2)),
            Err(RoundTripError::UnknownUpdateId { .. })
        ));
        assert!(matches!(
            checker().on_delta(&book(12, 2)),
            Err(RoundTripError::NotSynced { .. })
        ));
    }

    #[test]
    fn the_reference_of_a_synthetic_recording_chains() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::embedded(Profile::Paper);
        let paths = synthesize_recording(&config, dir.path(), 3, 2_000_000_000).unwrap();
        for venue in [Venue::Binance, Venue::Okx] {
            let reference =
                Reference::load(&paths, &config, venue, InstrumentId(0), 4096, usize::MAX).unwrap();
            assert_eq!(reference.states[0].kind, StateKind::Snapshot);
            assert!(
                reference.states.len() > 10,
                "{venue}: {}",
                reference.states.len()
            );
            assert!(
                reference.states[1..]
                    .iter()
                    .all(|s| s.kind == StateKind::Delta)
            );
        }
    }
}
