//! OKX `books` sync (`../shared/VENUES.md` §2.3, §3) as a state machine per instrument.
//!
//! - A snapshot (`prevSeqId = -1`) starts the book at its `seqId`.
//! - Each update's `prevSeqId` must equal the last `seqId`. This covers the normal
//!   case, the heartbeat (empty sides, `seqId == prevSeqId == last`) and the sequence
//!   reset after maintenance (`seqId < prevSeqId`, `prevSeqId == last`), which is
//!   accepted and continued from the new `seqId`. Anything else is a gap: resync
//!   (resubscribe the channel; the REST books endpoint has no `seqId`).
//! - When `checksum` is non-zero, the CRC32 of the top 25 levels after applying the
//!   message must equal it; `0` means "not provided" (OKX stopped sending it in 2026).
//!
//! Frames from before OKX added `seqId` (2022 captures) carry only the checksum. A book
//! whose snapshot has no `seqId` is *unsequenced*: the machine numbers its messages
//! itself (snapshot 0, then 1, 2, ...) so the engine's chain rule still holds, and
//! relies on the checksum alone to find gaps.

use super::checksum::ChecksumBook;
use super::wire::{Action, BookData};
use crate::error::Error;
use crate::event::{Events, ResyncReason, SyncEvent};
use crate::instrument::InstrumentSpec;
use crate::raw::{RawLevel, parse_u64_text};
use propbot_engine::book::Sequence;
use propbot_engine::model::{Level, Venue};
use propbot_engine::time::UnixNanos;

/// Counters for status and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncCounters {
    /// Snapshots accepted.
    pub snapshots: u64,
    /// Updates emitted as deltas (heartbeats included).
    pub deltas: u64,
    /// Heartbeats among them.
    pub heartbeats: u64,
    /// Sequence resets accepted.
    pub sequence_resets: u64,
    /// Checksums verified and found equal.
    pub checksums_verified: u64,
    /// Updates ignored while waiting for a snapshot.
    pub ignored: u64,
    /// Resyncs emitted.
    pub resyncs: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    AwaitingSnapshot,
    /// Last `seqId` applied.
    Sequenced {
        last: u64,
    },
    /// No `seqId` on this feed: our own message count.
    Unsequenced {
        count: u64,
    },
}

/// The sync machine for one OKX instrument's `books` channel.
#[derive(Clone, Debug)]
pub struct BookSync {
    state: State,
    book: ChecksumBook,
    /// Counters.
    pub counters: SyncCounters,
}

impl Default for BookSync {
    fn default() -> Self {
        BookSync::new()
    }
}

impl BookSync {
    /// A machine awaiting its first snapshot.
    pub fn new() -> BookSync {
        BookSync {
            state: State::AwaitingSnapshot,
            book: ChecksumBook::new(),
            counters: SyncCounters::default(),
        }
    }

    /// Whether the channel must be (re)subscribed to get a snapshot.
    pub fn needs_snapshot(&self) -> bool {
        self.state == State::AwaitingSnapshot
    }

    /// The last `seqId` applied (our own count on an unsequenced feed).
    pub fn last_sequence(&self) -> Option<u64> {
        match self.state {
            State::AwaitingSnapshot => None,
            State::Sequenced { last } => Some(last),
            State::Unsequenced { count } => Some(count),
        }
    }

    /// The level strings kept for checksums.
    pub fn checksum_book(&self) -> &ChecksumBook {
        &self.book
    }

    /// Handles one element of a book push. Emits a snapshot, a delta or a resync. An
    /// element that cannot be parsed yields the error *and* a resync.
    pub fn on_book(
        &mut self,
        spec: &InstrumentSpec,
        action: Action,
        data: &BookData<'_>,
        out: &mut Events,
    ) -> Result<(), Error> {
        let sequence = match self.check_sequence(action, data) {
            Ok(Some(sequence)) => sequence,
            Ok(None) => return Ok(()),
            Err(Verdict::Resync(reason)) => {
                self.resync(spec, reason, out);
                return Ok(());
            }
            Err(Verdict::Invalid(error)) => {
                self.resync(spec, ResyncReason::Protocol, out);
                return Err(error);
            }
        };
        if action == Action::Snapshot {
            self.book.clear();
        }
        let mut bids = out.level_buffer();
        let mut asks = out.level_buffer();
        let applied = self
            .apply(spec, &data.bids, &mut bids, Book::Bids)
            .and_then(|()| self.apply(spec, &data.asks, &mut asks, Book::Asks))
            .and_then(|()| parse_ts(data.ts));
        let ts_exchange = match applied {
            Ok(ts) => ts,
            Err(error) => {
                out.recycle(bids);
                out.recycle(asks);
                self.resync(spec, ResyncReason::Protocol, out);
                return Err(error);
            }
        };
        let checksum = data.checksum.unwrap_or(0);
        if checksum != 0 {
            if i64::from(self.book.checksum()) != checksum {
                out.recycle(bids);
                out.recycle(asks);
                self.resync(spec, ResyncReason::ChecksumMismatch, out);
                return Ok(());
            }
            self.counters.checksums_verified += 1;
        }
        self.commit(spec, action, sequence, bids, asks, ts_exchange, out);
        Ok(())
    }

    /// Forgets the book (reconnect, unsubscribe): emits a resync if it was synced.
    pub fn reset(&mut self, spec: &InstrumentSpec, reason: ResyncReason, out: &mut Events) {
        if self.state != State::AwaitingSnapshot {
            self.resync(spec, reason, out);
        }
    }

    /// Decides from the sequence fields alone whether the element continues the book.
    /// `Ok(None)`: ignore it (no snapshot yet).
    fn check_sequence(
        &mut self,
        action: Action,
        data: &BookData<'_>,
    ) -> Result<Option<Sequence>, Verdict> {
        let protocol = |what| {
            Verdict::Invalid(Error::Protocol {
                venue: Venue::Okx,
                what,
            })
        };
        let seq = data
            .seq_id
            .map(|s| u64::try_from(s).map_err(|_| protocol("negative seqId")))
            .transpose()?;
        if action == Action::Snapshot {
            if data.prev_seq_id.is_some_and(|p| p != -1) {
                return Err(protocol("a snapshot whose prevSeqId is not -1"));
            }
            self.state = match seq {
                Some(last) => State::Sequenced { last },
                None => State::Unsequenced { count: 0 },
            };
            return Ok(Some(Sequence {
                first: None,
                last: seq.unwrap_or(0),
                previous: None,
            }));
        }
        match self.state {
            State::AwaitingSnapshot => {
                self.counters.ignored += 1;
                Ok(None)
            }
            State::Sequenced { last } => {
                let (Some(seq), Some(prev)) = (seq, data.prev_seq_id) else {
                    return Err(protocol(
                        "an update without seqId/prevSeqId on a sequenced book",
                    ));
                };
                if u64::try_from(prev) != Ok(last) {
                    return Err(Verdict::Resync(ResyncReason::Gap));
                }
                if seq == last {
                    self.counters.heartbeats += 1;
                } else if seq < last {
                    self.counters.sequence_resets += 1;
                }
                Ok(Some(Sequence {
                    first: None,
                    last: seq,
                    previous: Some(last),
                }))
            }
            State::Unsequenced { count } => {
                if seq.is_some() {
                    return Err(protocol("a seqId on a book whose snapshot had none"));
                }
                Ok(Some(Sequence {
                    first: None,
                    last: count + 1,
                    previous: Some(count),
                }))
            }
        }
    }

    fn apply(
        &mut self,
        spec: &InstrumentSpec,
        raw: &[RawLevel<'_>],
        levels: &mut Vec<Level>,
        side: Book,
    ) -> Result<(), Error> {
        levels.reserve(raw.len());
        for level in raw {
            let price = spec.price(level.price)?;
            let qty = spec.size(level.size)?;
            let delete = qty.is_zero();
            match side {
                Book::Bids => self.book.set_bid(price, level.price, level.size, delete)?,
                Book::Asks => self.book.set_ask(price, level.price, level.size, delete)?,
            }
            levels.push(Level { price, qty });
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        spec: &InstrumentSpec,
        action: Action,
        sequence: Sequence,
        bids: Vec<Level>,
        asks: Vec<Level>,
        ts_exchange: UnixNanos,
        out: &mut Events,
    ) {
        let venue = Venue::Okx;
        let instrument = spec.instrument;
        if action == Action::Snapshot {
            self.counters.snapshots += 1;
            out.push(SyncEvent::Snapshot {
                venue,
                instrument,
                last: sequence.last,
                bids,
                asks,
                ts_exchange,
            });
            return;
        }
        self.state = match self.state {
            State::Unsequenced { .. } => State::Unsequenced {
                count: sequence.last,
            },
            _ => State::Sequenced {
                last: sequence.last,
            },
        };
        self.counters.deltas += 1;
        out.push(SyncEvent::Delta {
            venue,
            instrument,
            sequence,
            bids,
            asks,
            ts_exchange,
        });
    }

    fn resync(&mut self, spec: &InstrumentSpec, reason: ResyncReason, out: &mut Events) {
        self.state = State::AwaitingSnapshot;
        self.book.clear();
        self.counters.resyncs += 1;
        out.push(SyncEvent::Resync {
            venue: Venue::Okx,
            instrument: spec.instrument,
            reason,
        });
    }
}

enum Verdict {
    Resync(ResyncReason),
    Invalid(Error),
}

#[derive(Clone, Copy)]
enum Book {
    Bids,
    Asks,
}

fn parse_ts(text: &str) -> Result<UnixNanos, Error> {
    parse_u64_text(text)
        .map(UnixNanos::from_millis)
        .ok_or(Error::Protocol {
            venue: Venue::Okx,
            what: "`ts` is not a millisecond count",
        })
}
