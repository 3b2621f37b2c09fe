//! What an OKX emulator publishes from: the seeded synthetic market ([`OkxMarket`]) or
//! a recording ([`RecordedOkx`]). The market task, the REST handlers and the public
//! WebSocket see one interface; what differs is in the two modules.

use super::market::{Event, InstrumentSpecOkx, OkxMarket};
use super::recorded::RecordedOkx;
use crate::book::BookImage;
use propbot_engine::time::UnixNanos;

/// The OKX market, whichever source drives it.
#[derive(Debug)]
pub enum OkxSource {
    /// The seeded synthetic market: endless.
    Synthetic(OkxMarket),
    /// A recording, played once.
    Recorded(RecordedOkx),
}

impl OkxSource {
    /// Market time of the next step; [`UnixNanos::NEVER`] when nothing is left to
    /// publish.
    pub fn next_time(&self) -> UnixNanos {
        match self {
            OkxSource::Synthetic(m) => m.next_time(),
            OkxSource::Recorded(m) => m.next_time(),
        }
    }

    /// Takes the next step, pushing what it publishes to `out`.
    pub fn step(&mut self, out: &mut Vec<Event>) -> UnixNanos {
        match self {
            OkxSource::Synthetic(m) => m.step(out),
            OkxSource::Recorded(m) => m.step(out),
        }
    }

    /// Whether a recording has been played to its end (never for the synthetic
    /// market).
    pub fn finished(&self) -> bool {
        match self {
            OkxSource::Synthetic(_) => false,
            OkxSource::Recorded(m) => m.finished(),
        }
    }

    /// Why a recording stopped before its end, if it did.
    pub fn error(&self) -> Option<&str> {
        match self {
            OkxSource::Synthetic(_) => None,
            OkxSource::Recorded(m) => m.error(),
        }
    }

    /// The listed instruments, in index order.
    pub fn specs(&self) -> Box<dyn Iterator<Item = &InstrumentSpecOkx> + '_> {
        match self {
            OkxSource::Synthetic(m) => Box::new(m.specs()),
            OkxSource::Recorded(m) => Box::new(m.specs()),
        }
    }

    /// The spec of instrument `index`.
    pub fn spec(&self, index: usize) -> &InstrumentSpecOkx {
        match self {
            OkxSource::Synthetic(m) => m.spec(index),
            OkxSource::Recorded(m) => m.spec(index),
        }
    }

    /// The index of `inst_id`, if listed.
    pub fn index_of(&self, inst_id: &str) -> Option<usize> {
        self.specs().position(|s| s.inst_id == inst_id)
    }

    /// Number of instruments.
    pub fn len(&self) -> usize {
        self.specs().count()
    }

    /// Never true (a market lists at least one instrument).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The book of instrument `index` as published so far: what a `books` snapshot
    /// sends (its `seqId` is the last update's).
    pub fn published(&self, index: usize) -> BookImage {
        match self {
            OkxSource::Synthetic(m) => m.published(index),
            OkxSource::Recorded(m) => m.published(index),
        }
    }

    /// Fault: the book's sequence restarts at `seq_id` (maintenance): the next update
    /// has `seqId < prevSeqId`.
    pub fn reset_sequence(&mut self, index: usize, seq_id: u64) {
        match self {
            OkxSource::Synthetic(m) => m.reset_sequence(index, seq_id),
            OkxSource::Recorded(m) => m.reset_sequence(index, seq_id),
        }
    }

    /// Sets the `state` `instruments` shows for instrument `index`.
    pub fn set_state(&mut self, index: usize, state: &str) {
        match self {
            OkxSource::Synthetic(m) => m.set_state(index, state),
            OkxSource::Recorded(m) => m.set_state(index, state),
        }
    }
}
