//! Recordings made by a model rather than a venue.
//!
//! - [`synthesize`]: a fully synthetic two-venue recording from the seeded
//!   [`SyntheticMarket`] (common price path with jumps, per-venue mean-reverting basis,
//!   arbitrage windows, depth and trades). One stream per venue, because a live
//!   recorder writes one per connection: receive times are the venue times plus a
//!   seeded feed latency, so the two streams interleave as real ones do and replay's
//!   merge orders them.
//! - [`derive`]: one real venue's recording plus a second venue generated from it: the
//!   real book's top levels, shifted by a seeded basis process (mean-reverting, with
//!   jumps that open arbitrage windows), sizes rounded to the second venue's contract,
//!   published at that venue's own cadence with its own sequence numbers, and trades
//!   mirrored at its touch. The derived stream's files say `derived` for that venue, and
//!   its `propbot.derivation` names the model, the seed and the real stream it came from.
//!
//! Both are deterministic: the same seed and inputs give the same rows, bit for bit.

use crate::rng::{Seeds, SimRng};
use crate::synth::{MarketParams, SyntheticMarket};
use propbot_engine::Config;
use propbot_engine::book::Sequence;
use propbot_engine::gateway::MarketUpdate;
use propbot_engine::model::{InstrumentId, Level, Price, Qty, Side, Venue};
use propbot_engine::time::{NANOS_PER_MILLI, NANOS_PER_SECOND, UnixNanos};
use propbot_recordings::meta::{InstrumentMeta, Origin, RecordingMeta};
use propbot_recordings::progress::Progress;
use propbot_recordings::reader::StreamInfo;
use propbot_recordings::schema::{Kind, flags};
use propbot_recordings::writer::{Leftover, RecordingWriter, WriteSummary, WriterOptions};
use propbot_recordings::{Error, Message, OwnedMessage, Recording, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Default start of synthetic recordings: 2026-01-01T00:00:00Z.
pub const SYNTH_START: UnixNanos = UnixNanos(1_767_225_600 * NANOS_PER_SECOND);

/// Settings of a synthetic recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthOptions {
    /// Master seed.
    pub seed: u64,
    /// Recorded time span, ns.
    pub duration_ns: u64,
    /// First receive time.
    pub start: UnixNanos,
    /// The market model.
    pub params: MarketParams,
    /// Traded instrument (by canonical name in the config).
    pub instrument: String,
    /// Feed latency from venue time to receive time, ms (uniform in the range).
    pub latency_ms: (u64, u64),
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            seed: 0,
            duration_ns: 60 * NANOS_PER_SECOND,
            start: SYNTH_START,
            params: MarketParams::default(),
            instrument: "BTC-USDT-PERP".into(),
            latency_ms: (1, 3),
        }
    }
}

/// What a generator wrote.
#[derive(Clone, Debug, Default)]
pub struct GenerateSummary {
    /// Per stream: name and what its writer produced.
    pub streams: Vec<(String, WriteSummary)>,
    /// Arbitrage windows opened (and common price jumps, for the synthetic market).
    pub windows: u64,
    /// What an earlier crash left for these streams, recovered or removed first.
    pub leftovers: Vec<Leftover>,
}

impl GenerateSummary {
    /// Rows in every stream.
    pub fn rows(&self) -> u64 {
        self.streams.iter().map(|(_, s)| s.rows).sum()
    }

    /// Messages in every stream.
    pub fn messages(&self) -> u64 {
        self.streams.iter().map(|(_, s)| s.messages).sum()
    }

    /// Bytes of every file.
    pub fn bytes(&self) -> u64 {
        self.streams.iter().map(|(_, s)| s.bytes).sum()
    }
}

/// Writes a synthetic two-venue recording to `out` (one stream per venue).
pub fn synthesize(
    config: &Config,
    options: &SynthOptions,
    out: &Path,
    writer_options: &WriterOptions,
    progress: &Progress,
) -> Result<GenerateSummary> {
    let instrument = config
        .instrument_by_name(&options.instrument)
        .ok_or_else(|| Error::Import {
            path: out.to_owned(),
            what: format!(
                "instrument {:?} is not in the configuration",
                options.instrument
            ),
        })?;
    let seeds = Seeds::new(options.seed);
    let mut market = SyntheticMarket::new(
        config,
        instrument,
        options.params.clone(),
        seeds.stream("market", 0),
        options.start,
    );
    let mut latency = seeds.stream("recording-latency", 0);
    let (mut writers, leftovers) = synthetic_writers(
        config,
        instrument,
        market.venues(),
        options,
        out,
        writer_options,
    )?;
    write_synthetic(&mut market, &mut latency, &mut writers, options, progress)?;
    let mut summary = GenerateSummary {
        windows: market.windows,
        leftovers,
        ..GenerateSummary::default()
    };
    for w in writers {
        let name = w.meta().stream.clone();
        summary.streams.push((name, w.finish()?));
    }
    Ok(summary)
}

/// One writer per venue (in `venues` order), each labelled synthetic with the model,
/// seed and parameters; and what earlier crashes left for those streams.
fn synthetic_writers(
    config: &Config,
    instrument: InstrumentId,
    venues: [Venue; 2],
    options: &SynthOptions,
    out: &Path,
    writer_options: &WriterOptions,
) -> Result<(Vec<RecordingWriter>, Vec<Leftover>)> {
    let derivation = serde_json::json!({
        "model": "propbot synthetic two-venue market (common price path with jumps, \
                  per-venue mean-reverting basis, arbitrage windows)",
        "seed": options.seed,
        "params": options.params,
        "latency_ms": [options.latency_ms.0, options.latency_ms.1],
    })
    .to_string();
    let mut writers = Vec::new();
    let mut leftovers = Vec::new();
    for venue in venues {
        let table = vec![
            InstrumentMeta::from_config(config, instrument, &[(venue, Origin::Synthetic)])
                .ok_or_else(|| Error::Import {
                    path: out.to_owned(),
                    what: format!("{} has no {venue} listing", options.instrument),
                })?,
        ];
        let stream = format!("synthetic-s{}-{}", options.seed, venue.name());
        let mut meta =
            RecordingMeta::new(&format!("synthetic:seed={}", options.seed), &stream, table);
        meta.derivation = Some(derivation.clone());
        let (writer, found) = RecordingWriter::create(out, meta, writer_options.clone())?;
        leftovers.extend(found);
        writers.push(writer);
    }
    Ok((writers, leftovers))
}

/// Both venues' opening snapshots, then the market's updates until the end of the
/// recording, each received after a seeded feed latency (in order per stream).
fn write_synthetic(
    market: &mut SyntheticMarket,
    latency: &mut SimRng,
    writers: &mut [RecordingWriter],
    options: &SynthOptions,
    progress: &Progress,
) -> Result<()> {
    let venues = market.venues();
    let slot = |v: Venue| usize::from(venues[1] == v);
    let mut last_recv = [options.start; 2];
    for venue in venues {
        let snapshot = market.snapshot(venue, options.start);
        let m = Message::from_update(options.start, 0, &snapshot, flags::SYNTHETIC);
        writers[slot(venue)].write(&m)?;
    }
    let end = options.start.plus_nanos(options.duration_ns);
    let mut emitted = 0u64;
    while market.peek_time() < end {
        let (t, update) = market.advance();
        let s = slot(update.venue());
        let lag = latency.range(options.latency_ms.0 * 1_000, options.latency_ms.1 * 1_000) * 1_000;
        let recv = t.plus_nanos(lag).max(last_recv[s]);
        last_recv[s] = recv;
        writers[s].write(&Message::from_update(recv, 0, &update, flags::SYNTHETIC))?;
        emitted += 1;
        if emitted.is_multiple_of(4096) {
            progress.set(t.nanos_since(options.start) / NANOS_PER_MILLI);
        }
    }
    Ok(())
}

/// Parameters of the derived venue's basis and publication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeriveParams {
    /// Standard deviation of the basis noise per published update, hundredths of a bp.
    pub basis_sd_centibps: i64,
    /// The basis decays by 1/`basis_decay` of itself per update (mean reversion).
    pub basis_decay: i64,
    /// Mean time between basis jumps that open arbitrage windows, ms; 0 = never.
    pub arbitrage_every_ms: u64,
    /// Size of such a jump, hundredths of a bp (sign drawn each time).
    pub arbitrage_centibps: i64,
    /// Interval between the derived venue's book updates, ms (uniform in the range;
    /// an update is published at the first real book change after it).
    pub update_ms: (u64, u64),
    /// Extra receive latency of the derived venue, ms (uniform in the range).
    pub latency_ms: (u64, u64),
    /// Levels per side of the derived book (the real book's best ones).
    pub depth: usize,
    /// Chance that a real trade is mirrored on the derived venue, ppm.
    pub trade_ppm: u64,
}

impl Default for DeriveParams {
    fn default() -> Self {
        DeriveParams {
            basis_sd_centibps: 3,
            basis_decay: 200,
            arbitrage_every_ms: 60_000,
            arbitrage_centibps: 2_000,
            update_ms: (50, 150),
            latency_ms: (1, 4),
            depth: 50,
            trade_ppm: 500_000,
        }
    }
}

/// Settings of a derived recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeriveOptions {
    /// Master seed of the basis process.
    pub seed: u64,
    /// Venue to generate (the recording must hold the other one).
    pub venue: Venue,
    /// Model parameters.
    pub params: DeriveParams,
    /// Use at most this much of the real recording, ns from its start (0 = all).
    pub duration_ns: u64,
}

/// One derived instrument in progress.
struct DerivedBook {
    /// Real book: price → quantity.
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
    real_valid: bool,
    /// Derived book as last published, best first.
    published_bids: Vec<Level>,
    published_asks: Vec<Level>,
    started: bool,
    seq: u64,
    basis_centibps: i64,
    next_update: UnixNanos,
    tick: i64,
    /// Quantities round down to this (the contract value or lot), at least one of it.
    size_unit: i64,
    /// Index in the derived stream's instrument table.
    table_index: u16,
}

/// Writes `options.venue` derived from the other venue's streams in `source`.
pub fn derive(
    config: &Config,
    source: &Recording,
    options: &DeriveOptions,
    out: &Path,
    writer_options: &WriterOptions,
    progress: &Progress,
) -> Result<GenerateSummary> {
    let target = options.venue;
    let Plan {
        table,
        slots,
        mut books,
        real_streams,
    } = plan(config, source, target)?;
    let Some(first) = source.streams.first() else {
        return Err(Error::Empty {
            path: out.to_owned(),
        });
    };
    if books.is_empty() {
        return Err(Error::Import {
            path: first.files[0].path.clone(),
            what: format!(
                "no real instrument in the recording has a {target} listing in the configuration"
            ),
        });
    }
    let meta = derived_meta(options, first, real_streams, table);
    let (mut writer, leftovers) = RecordingWriter::create(out, meta, writer_options.clone())?;
    let seeds = Seeds::new(options.seed);
    let mut model = Model {
        basis: seeds.stream("derived-basis", 0),
        timing: seeds.stream("derived-timing", 0),
        trades: seeds.stream("derived-trades", 0),
        params: options.params.clone(),
        next_window: UnixNanos::ZERO,
        windows: 0,
        last_recv: UnixNanos::ZERO,
        venue: target,
    };
    let mut reader = source.reader(None);
    let total = source.rows().max(1);
    let mut start = None;
    let mut messages = 0u64;
    while let Some((s, m)) = reader.next()? {
        let Some(&slot) = slots.get(&(s, m.table_index)) else {
            continue;
        };
        let begin = *start.get_or_insert(m.ts_recv);
        if options.duration_ns > 0 && m.ts_recv.nanos_since(begin) >= options.duration_ns {
            break;
        }
        if model.next_window.is_zero() {
            model.schedule_window(m.ts_recv);
        }
        model.on_real(&mut books[slot], m, &mut writer)?;
        messages += 1;
        if messages.is_multiple_of(4096) {
            progress.set(reader.rows_read() * 1_000 / total);
        }
    }
    let name = writer.meta().stream.clone();
    Ok(GenerateSummary {
        streams: vec![(name, writer.finish()?)],
        windows: model.windows,
        leftovers,
    })
}

/// The derived stream's metadata: its name, its source, and a derivation naming the
/// model, the seed and the real streams it came from (`first` is the first of them).
fn derived_meta(
    options: &DeriveOptions,
    first: &StreamInfo,
    real_streams: Vec<String>,
    table: Vec<InstrumentMeta>,
) -> RecordingMeta {
    let target = options.venue;
    let real_venue = Venue::ALL[1 - target.index()];
    let stream_name = format!(
        "derived-s{}-{}-from-{}",
        options.seed,
        target.name(),
        first.name
    );
    let derivation = serde_json::json!({
        "model": "seeded basis process over the real book: top levels shifted by a \
                  mean-reverting basis with jumps, sizes rounded to the derived contract",
        "seed": options.seed,
        "derived_venue": target.name(),
        "real_venue": real_venue.name(),
        "real_streams": real_streams,
        "params": options.params,
    })
    .to_string();
    let source_text = format!(
        "derived:{} from {} seed={} ({})",
        target.name(),
        real_venue.name(),
        options.seed,
        first.source()
    );
    let mut meta = RecordingMeta::new(&source_text, &stream_name, table);
    meta.derivation = Some(derivation);
    meta
}

/// What [`derive`] will generate: the derived stream's instrument table, one book per
/// derived instrument, and which real `(stream rank, table index)` feeds which book.
struct Plan {
    table: Vec<InstrumentMeta>,
    slots: BTreeMap<(usize, u16), usize>,
    books: Vec<DerivedBook>,
    real_streams: Vec<String>,
}

/// Every real instrument of `source` that the configuration also lists on `target`.
fn plan(config: &Config, source: &Recording, target: Venue) -> Result<Plan> {
    let mut p = Plan {
        table: Vec::new(),
        slots: BTreeMap::new(),
        books: Vec::new(),
        real_streams: Vec::new(),
    };
    let mut derived_ids = Vec::new();
    for (s, stream) in source.streams.iter().enumerate() {
        for (i, inst) in stream.instruments().iter().enumerate() {
            let Some(real) = inst
                .listings
                .iter()
                .find(|l| l.venue != target && l.origin == Origin::Real)
            else {
                continue;
            };
            let Some(id) = config.instrument_by_symbol(real.venue, &real.symbol) else {
                continue;
            };
            let Some(listing) = config.listing(target, id) else {
                continue;
            };
            let path = || stream.files[0].path.clone();
            let scales = config.instruments[id.index()].scales;
            if scales != inst.scales() {
                return Err(Error::Import {
                    path: path(),
                    what: format!(
                        "{} is recorded with scales {}/{} but configured with {}/{}",
                        real.symbol, inst.price_scale, inst.qty_scale, scales.price, scales.qty
                    ),
                });
            }
            if derived_ids.contains(&id) {
                return Err(Error::Import {
                    path: path(),
                    what: format!(
                        "{} is in more than one real stream; derive from one of them",
                        real.symbol
                    ),
                });
            }
            derived_ids.push(id);
            let meta = InstrumentMeta::from_config(config, id, &[(target, Origin::Derived)])
                .expect("listing checked above");
            let table_index = p.table.len() as u16;
            p.table.push(meta);
            p.slots.insert((s, i as u16), p.books.len());
            p.books.push(DerivedBook::new(listing, table_index));
            p.real_streams
                .push(format!("{} ({})", stream.name, stream.source()));
        }
    }
    Ok(p)
}

impl DerivedBook {
    fn new(listing: &propbot_engine::config::Listing, table_index: u16) -> DerivedBook {
        DerivedBook {
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            real_valid: false,
            published_bids: Vec::new(),
            published_asks: Vec::new(),
            started: false,
            seq: 1_000_000,
            basis_centibps: 0,
            next_update: UnixNanos::ZERO,
            tick: listing.tick.raw().max(1),
            size_unit: listing.contract_value.unwrap_or(listing.lot).raw().max(1),
            table_index,
        }
    }

    /// The real book's best `depth` levels per side, best first, moved by `shift_ticks`
    /// and with sizes rounded down to the derived contract (at least one of it).
    fn shifted_levels(&self, shift_ticks: i64, depth: usize) -> (Vec<Level>, Vec<Level>) {
        let unit = self.size_unit;
        let level = |(p, q): (&i64, &i64)| Level {
            price: Price::from_raw(p + shift_ticks),
            qty: Qty::from_raw((q / unit).max(1) * unit),
        };
        let bids = self.bids.iter().rev().take(depth).map(level).collect();
        let asks = self.asks.iter().take(depth).map(level).collect();
        (bids, asks)
    }
}

/// The seeded parts of the derived venue.
struct Model {
    basis: SimRng,
    timing: SimRng,
    trades: SimRng,
    params: DeriveParams,
    next_window: UnixNanos,
    windows: u64,
    last_recv: UnixNanos,
    venue: Venue,
}

impl Model {
    fn schedule_window(&mut self, now: UnixNanos) {
        self.next_window = if self.params.arbitrage_every_ms == 0 {
            UnixNanos::NEVER
        } else {
            now.plus_millis(
                self.basis
                    .exponential(self.params.arbitrage_every_ms)
                    .max(1),
            )
        };
    }

    fn recv_after(&mut self, real: UnixNanos) -> UnixNanos {
        let (lo, hi) = self.params.latency_ms;
        let lag = self.timing.range(lo * 1_000, hi * 1_000) * 1_000;
        let t = real.plus_nanos(lag).max(self.last_recv);
        self.last_recv = t;
        t
    }

    fn on_real(
        &mut self,
        book: &mut DerivedBook,
        m: &OwnedMessage,
        writer: &mut RecordingWriter,
    ) -> Result<()> {
        match m.kind {
            Kind::Snapshot | Kind::Delta => {
                let (bids, asks) = m.levels();
                if m.kind == Kind::Snapshot {
                    book.bids.clear();
                    book.asks.clear();
                    book.real_valid = true;
                }
                for (side, levels) in [(&mut book.bids, bids), (&mut book.asks, asks)] {
                    for l in levels {
                        if l.qty.is_zero() {
                            side.remove(&l.price.raw());
                        } else {
                            side.insert(l.price.raw(), l.qty.raw());
                        }
                    }
                }
                if book.real_valid && m.ts_recv >= book.next_update {
                    self.publish(book, m.ts_recv, m.ts_exchange, writer)?;
                }
            }
            Kind::BookInvalid => book.real_valid = false,
            Kind::Trade => self.mirror_trade(book, m, writer)?,
            Kind::Bbo => {}
        }
        Ok(())
    }

    /// Publishes the derived book as of now (a snapshot first, deltas after).
    fn publish(
        &mut self,
        book: &mut DerivedBook,
        now: UnixNanos,
        ts_exchange: UnixNanos,
        writer: &mut RecordingWriter,
    ) -> Result<()> {
        let (Some((&bid, _)), Some((&ask, _))) =
            (book.bids.iter().next_back(), book.asks.iter().next())
        else {
            return Ok(());
        };
        let (lo, hi) = self.params.update_ms;
        book.next_update = now.plus_millis(self.timing.range(lo, hi));
        self.step_basis(book, now);
        let mid = (i128::from(bid) + i128::from(ask)) / 2;
        let shift = mid * i128::from(book.basis_centibps) / 1_000_000;
        let shift_ticks = (shift / i128::from(book.tick)) as i64 * book.tick;
        let (bids, asks) = book.shifted_levels(shift_ticks, self.params.depth);
        let recv = self.recv_after(now);
        let update = self.next_update(book, &bids, &asks, ts_exchange);
        book.published_bids = bids;
        book.published_asks = asks;
        writer.write(&Message::from_update(
            recv,
            book.table_index,
            &update,
            flags::DERIVED,
        ))
    }

    /// One step of the basis: decay, noise, and a jump when a window is due.
    fn step_basis(&mut self, book: &mut DerivedBook, now: UnixNanos) {
        let b = &mut book.basis_centibps;
        *b -= *b / self.params.basis_decay.max(1);
        *b += self.basis.normal(self.params.basis_sd_centibps);
        if now >= self.next_window {
            let sign = if self.basis.below(2) == 0 { 1 } else { -1 };
            *b += sign * self.params.arbitrage_centibps;
            self.windows += 1;
            self.schedule_window(now);
        }
    }

    /// The derived book's first snapshot, or the delta from what was last published
    /// (its sequence moves on by a seeded 1 to 3).
    fn next_update(
        &mut self,
        book: &mut DerivedBook,
        bids: &[Level],
        asks: &[Level],
        ts_exchange: UnixNanos,
    ) -> MarketUpdate {
        let instrument = InstrumentId(book.table_index);
        if !book.started {
            book.started = true;
            return MarketUpdate::Snapshot {
                venue: self.venue,
                instrument,
                last: book.seq,
                bids: bids.to_vec(),
                asks: asks.to_vec(),
                ts: ts_exchange,
            };
        }
        let previous = book.seq;
        book.seq += self.timing.range(1, 3);
        MarketUpdate::Delta {
            venue: self.venue,
            instrument,
            sequence: Sequence {
                first: None,
                last: book.seq,
                previous: Some(previous),
            },
            bids: diff(&book.published_bids, bids),
            asks: diff(&book.published_asks, asks),
            ts: ts_exchange,
        }
    }

    fn mirror_trade(
        &mut self,
        book: &mut DerivedBook,
        m: &OwnedMessage,
        writer: &mut RecordingWriter,
    ) -> Result<()> {
        let Some(MarketUpdate::Trade { qty, aggressor, .. }) = m.market_update() else {
            return Ok(());
        };
        if !book.started || !self.trades.chance_ppm(self.params.trade_ppm) {
            return Ok(());
        }
        let touch = match aggressor {
            Side::Buy => book.published_asks.first(),
            Side::Sell => book.published_bids.first(),
        };
        let Some(touch) = touch else {
            return Ok(());
        };
        let unit = book.size_unit;
        let update = MarketUpdate::Trade {
            venue: self.venue,
            instrument: InstrumentId(book.table_index),
            price: touch.price,
            qty: Qty::from_raw((qty.raw() / unit).max(1) * unit),
            aggressor: *aggressor,
            ts: m.ts_exchange,
        };
        let recv = self.recv_after(m.ts_recv);
        writer.write(&Message::from_update(
            recv,
            book.table_index,
            &update,
            flags::DERIVED,
        ))
    }
}

/// Levels that changed from `prev` to `next` (both best first); removed prices get 0.
fn diff(prev: &[Level], next: &[Level]) -> Vec<Level> {
    let index: BTreeMap<i64, i64> = next.iter().map(|l| (l.price.raw(), l.qty.raw())).collect();
    let old: BTreeMap<i64, i64> = prev.iter().map(|l| (l.price.raw(), l.qty.raw())).collect();
    let mut out = Vec::new();
    for l in prev {
        if !index.contains_key(&l.price.raw()) {
            out.push(Level {
                price: l.price,
                qty: Qty::ZERO,
            });
        }
    }
    for l in next {
        if old.get(&l.price.raw()) != Some(&l.qty.raw()) {
            out.push(*l);
        }
    }
    out
}
