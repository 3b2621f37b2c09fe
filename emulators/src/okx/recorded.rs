//! The OKX SWAP side of a recording, published as recorded ([`crate::playback`]):
//!
//! - one recorded delta is one `books` update with the recorded `seqId` and
//!   `prevSeqId` and levels (heartbeats and sequence resets included, as recorded); a
//!   delta recorded without `prevSeqId` chains to the last one published;
//! - `bbo-tbt` from the recorded best bid/offers of an instrument once it has any, and
//!   until then from the book's top after each update (when the top changed);
//! - a `trades` push per recorded trade;
//! - a `books` subscription gets the book after the last message played, at the
//!   `seqId` last published.
//!
//! The sequence-reset fault ([`RecordedOkx::reset_sequence`]) moves every later `seqId`
//! by one offset, so the next update has `seqId < prevSeqId` and the ones after it
//! chain again, as after OKX maintenance.
//!
//! Pure, like [`super::market`]: the same recording gives the same events.

use super::market::{Event, InstrumentSpecOkx, TRADE_ID_BASE};
use crate::book::{BookImage, Window};
use crate::playback::{Body, Messages, Playback, Recorded};
use propbot_engine::book::{Sequence, TopOfBook};
use propbot_engine::model::Level;
use propbot_engine::time::UnixNanos;

#[derive(Clone, Debug)]
struct Instrument {
    spec: InstrumentSpecOkx,
    /// Top last sent on `bbo-tbt`.
    top: TopOfBook,
    /// Whether the recording has best bid/offers of this instrument (seen one so far).
    bbo_recorded: bool,
    trade_id: u64,
    /// Added to every recorded `seqId` (moved by the sequence-reset fault).
    offset: i128,
    /// A sequence reset waiting for the next update: its `seqId` starts after this.
    reset_to: Option<u64>,
    /// `seqId` last published (or of the snapshot that started the book).
    published: u64,
}

impl Instrument {
    fn moved(&self, id: u64) -> u64 {
        clamp(i128::from(id) + self.offset)
    }
}

fn clamp(id: i128) -> u64 {
    u64::try_from(id.max(0)).unwrap_or(u64::MAX)
}

/// Every listed instrument's recorded market, in market time.
#[derive(Debug)]
pub struct RecordedOkx {
    instruments: Vec<Instrument>,
    playback: Playback,
}

impl RecordedOkx {
    /// Plays `messages` of `specs` (index order, at least one).
    pub fn new(specs: Vec<InstrumentSpecOkx>, messages: Box<dyn Messages>) -> RecordedOkx {
        assert!(!specs.is_empty(), "a market lists at least one instrument");
        let playback = Playback::new(messages, specs.len());
        let instruments = specs
            .into_iter()
            .map(|spec| Instrument {
                spec,
                top: TopOfBook::default(),
                bbo_recorded: false,
                trade_id: TRADE_ID_BASE,
                offset: 0,
                reset_to: None,
                published: 0,
            })
            .collect();
        RecordedOkx {
            instruments,
            playback,
        }
    }

    /// Market time of the next message; [`UnixNanos::NEVER`] once finished.
    pub fn next_time(&self) -> UnixNanos {
        self.playback.next_time()
    }

    /// Plays the next message, pushing what it publishes to `out`.
    pub fn step(&mut self, out: &mut Vec<Event>) -> UnixNanos {
        let Some(Recorded {
            at,
            ts_exchange,
            index,
            body,
        }) = self.playback.step()
        else {
            return UnixNanos::NEVER;
        };
        match body {
            Body::Snapshot { last, .. } => {
                let instrument = &mut self.instruments[index];
                instrument.published = instrument.moved(last);
                let seq_id = instrument.published;
                self.derived_bbo(index, seq_id, ts_exchange, out);
            }
            Body::Delta {
                sequence,
                bids,
                asks,
            } => {
                let window = self.window(index, sequence, bids, asks, ts_exchange);
                let seq_id = window.last;
                out.push(Event::Books {
                    index,
                    window,
                    at: ts_exchange,
                });
                self.derived_bbo(index, seq_id, ts_exchange, out);
            }
            Body::Trade {
                trade_id,
                price,
                qty,
                aggressor,
            } => {
                let instrument = &mut self.instruments[index];
                instrument.trade_id = trade_id.unwrap_or(instrument.trade_id + 1);
                out.push(Event::Trade {
                    index,
                    trade_id: instrument.trade_id,
                    price,
                    qty,
                    side: aggressor,
                    at: ts_exchange,
                });
            }
            Body::Bbo { update_id, top } => {
                let instrument = &mut self.instruments[index];
                instrument.bbo_recorded = true;
                instrument.top = top;
                let seq_id = update_id.map_or(instrument.published, |id| instrument.moved(id));
                out.push(Event::Bbo {
                    index,
                    seq_id,
                    top,
                    at: ts_exchange,
                });
            }
        }
        at
    }

    /// The `books` update of a recorded delta: its ids moved by the offset (a pending
    /// reset first sets the offset), completed where the recording lacks them.
    fn window(
        &mut self,
        index: usize,
        sequence: Sequence,
        bids: Vec<Level>,
        asks: Vec<Level>,
        at: UnixNanos,
    ) -> Window {
        let instrument = &mut self.instruments[index];
        let mut previous = sequence
            .previous
            .map_or(instrument.published, |p| instrument.moved(p));
        if let Some(base) = instrument.reset_to.take() {
            // The reset update still chains to what the client holds.
            previous = instrument.published;
            let span = sequence
                .last
                .saturating_sub(sequence.previous.unwrap_or(sequence.last))
                .max(1);
            let last = base.saturating_add(span);
            instrument.offset = i128::from(last) - i128::from(sequence.last);
        }
        let last = instrument.moved(sequence.last);
        instrument.published = last;
        Window {
            first: last,
            last,
            previous,
            changed_at: at,
            bids,
            asks,
        }
    }

    /// A `bbo-tbt` push from the book's top when the instrument has no recorded ones and
    /// the top changed.
    fn derived_bbo(&mut self, index: usize, seq_id: u64, at: UnixNanos, out: &mut Vec<Event>) {
        let top = self.playback.book(index).top();
        let instrument = &mut self.instruments[index];
        if instrument.bbo_recorded || top == instrument.top {
            return;
        }
        instrument.top = top;
        out.push(Event::Bbo {
            index,
            seq_id,
            top,
            at,
        });
    }

    /// Whether the recording has been played to its end.
    pub fn finished(&self) -> bool {
        self.playback.finished()
    }

    /// Why playback stopped before the end, if it did.
    pub fn error(&self) -> Option<&str> {
        self.playback.error()
    }

    /// The listed instruments, in index order.
    pub fn specs(&self) -> impl Iterator<Item = &InstrumentSpecOkx> + '_ {
        self.instruments.iter().map(|i| &i.spec)
    }

    /// The spec of instrument `index`.
    pub fn spec(&self, index: usize) -> &InstrumentSpecOkx {
        &self.instruments[index].spec
    }

    /// The book of instrument `index` as published so far (every played update is
    /// published), at the `seqId` last published.
    pub fn published(&self, index: usize) -> BookImage {
        let mut image = self.playback.book(index).image(usize::MAX);
        image.last_update_id = self.instruments[index].published;
        image
    }

    /// Fault: the next update of instrument `index` restarts the sequence after
    /// `seq_id` (`seqId < prevSeqId`); later ones chain to it.
    pub fn reset_sequence(&mut self, index: usize, seq_id: u64) {
        self.instruments[index].reset_to = Some(seq_id);
    }

    /// Sets the `state` `instruments` shows for instrument `index`.
    pub fn set_state(&mut self, index: usize, state: &str) {
        state.clone_into(&mut self.instruments[index].spec.state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playback::tests::{at, delta, level, snapshot};
    use propbot_engine::model::InstrumentId;
    use propbot_engine::{Config, Profile};

    fn market(messages: Vec<Recorded>) -> RecordedOkx {
        let config = Config::embedded(Profile::Paper);
        let spec = InstrumentSpecOkx::from_config(&config, InstrumentId(0)).unwrap();
        RecordedOkx::new(vec![spec], Box::new(messages.into_iter()))
    }

    fn books(m: &mut RecordedOkx) -> Vec<Window> {
        let mut out = Vec::new();
        while !m.finished() {
            m.step(&mut out);
        }
        out.into_iter()
            .filter_map(|e| match e {
                Event::Books { window, .. } => Some(window),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn updates_carry_the_recorded_seq_ids() {
        let mut m = market(vec![
            at(0, 0, snapshot(10)),
            at(100, 0, delta(None, 15, 10, &[level(99, 1)])),
            at(200, 0, delta(None, 15, 15, &[])),
            at(300, 0, delta(None, 3, 15, &[level(98, 0)])),
        ]);
        let ids: Vec<(u64, u64)> = books(&mut m).iter().map(|w| (w.previous, w.last)).collect();
        assert_eq!(
            ids,
            [(10, 15), (15, 15), (15, 3)],
            "heartbeat and reset as recorded"
        );
        let book = m.published(0);
        assert_eq!(book.last_update_id, 3);
        assert_eq!(book.bids, [level(99, 1)]);
    }

    #[test]
    fn a_reset_fault_lowers_the_next_seq_id_and_later_ones_chain() {
        let mut m = market(vec![
            at(0, 0, snapshot(1_000)),
            at(100, 0, delta(None, 1_004, 1_000, &[level(99, 1)])),
            at(200, 0, delta(None, 1_009, 1_004, &[level(99, 2)])),
            at(300, 0, delta(None, 1_010, 1_009, &[level(99, 3)])),
        ]);
        let mut out = Vec::new();
        m.step(&mut out);
        m.step(&mut out);
        m.reset_sequence(0, 3);
        let ids: Vec<(u64, u64)> = books(&mut m).iter().map(|w| (w.previous, w.last)).collect();
        assert_eq!(ids, [(1_004, 8), (8, 9)]);
        assert_eq!(m.published(0).last_update_id, 9);
    }
}
