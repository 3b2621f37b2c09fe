//! What a Binance emulator publishes from: the seeded synthetic market
//! ([`BinanceMarket`]) or a recording ([`RecordedBinance`]). The market task, the REST
//! handlers and the streams see one interface; what differs is in the two modules.

use super::market::{BinanceMarket, Event, SymbolSpec};
use super::recorded::RecordedBinance;
use crate::book::BookImage;
use propbot_engine::time::UnixNanos;

/// The Binance market, whichever source drives it.
#[derive(Debug)]
pub enum BinanceSource {
    /// The seeded synthetic market: endless.
    Synthetic(BinanceMarket),
    /// A recording, played once.
    Recorded(RecordedBinance),
}

impl BinanceSource {
    /// Market time of the next step; [`UnixNanos::NEVER`] when nothing is left to
    /// publish.
    pub fn next_time(&self) -> UnixNanos {
        match self {
            BinanceSource::Synthetic(m) => m.next_time(),
            BinanceSource::Recorded(m) => m.next_time(),
        }
    }

    /// Takes the next step, pushing what it publishes to `out`.
    pub fn step(&mut self, out: &mut Vec<Event>) -> UnixNanos {
        match self {
            BinanceSource::Synthetic(m) => m.step(out),
            BinanceSource::Recorded(m) => m.step(out),
        }
    }

    /// Whether a recording has been played to its end (never for the synthetic
    /// market).
    pub fn finished(&self) -> bool {
        match self {
            BinanceSource::Synthetic(_) => false,
            BinanceSource::Recorded(m) => m.finished(),
        }
    }

    /// Why a recording stopped before its end, if it did.
    pub fn error(&self) -> Option<&str> {
        match self {
            BinanceSource::Synthetic(_) => None,
            BinanceSource::Recorded(m) => m.error(),
        }
    }

    /// The listed symbols, in index order.
    pub fn specs(&self) -> Box<dyn Iterator<Item = &SymbolSpec> + '_> {
        match self {
            BinanceSource::Synthetic(m) => Box::new(m.specs()),
            BinanceSource::Recorded(m) => Box::new(m.specs()),
        }
    }

    /// The spec of symbol `index`.
    pub fn spec(&self, index: usize) -> &SymbolSpec {
        match self {
            BinanceSource::Synthetic(m) => m.spec(index),
            BinanceSource::Recorded(m) => m.spec(index),
        }
    }

    /// The index of `symbol` (`BTCUSDT`), if listed.
    pub fn index_of(&self, symbol: &str) -> Option<usize> {
        self.specs().position(|s| s.symbol == symbol)
    }

    /// The index of a stream symbol (`btcusdt`), if listed.
    pub fn index_of_stream(&self, stream_symbol: &str) -> Option<usize> {
        self.specs().position(|s| s.stream_symbol == stream_symbol)
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.specs().count()
    }

    /// Never true (a market lists at least one symbol).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current book of symbol `index`, `depth` levels a side (a REST snapshot).
    pub fn snapshot(&self, index: usize, depth: usize) -> BookImage {
        match self {
            BinanceSource::Synthetic(m) => m.snapshot(index, depth),
            BinanceSource::Recorded(m) => m.snapshot(index, depth),
        }
    }

    /// The book of symbol `index` as the diffs published so far leave it.
    pub fn published(&self, index: usize) -> BookImage {
        match self {
            BinanceSource::Synthetic(m) => m.published(index),
            BinanceSource::Recorded(m) => m.snapshot(index, usize::MAX),
        }
    }

    /// Sets the contract status of symbol `index`.
    pub fn set_status(&mut self, index: usize, status: &str) {
        match self {
            BinanceSource::Synthetic(m) => m.set_status(index, status),
            BinanceSource::Recorded(m) => m.set_status(index, status),
        }
    }
}
