//! OKX parsing, checksum and sequence sync proven on the real captures in
//! `../shared/data/okx` (issue 3, point 3).

mod support;

use propbot_engine::book::{ApplyOutcome, Book};
use propbot_engine::model::{InstrumentId, Scales};
use propbot_engine::time::UnixNanos;
use propbot_venues::capture::{CryptofeedReader, CryptofeedRecord, JsonlReader};
use propbot_venues::okx::wire::{self, Action, Message};
use propbot_venues::okx::{Handled, OkxFeed};
use propbot_venues::{Events, InstrumentSpec, ResyncReason, SyncEvent};
use std::io::BufReader;

fn open(relative: &str) -> BufReader<std::fs::File> {
    BufReader::new(std::fs::File::open(support::capture(relative)).unwrap())
}

/// The three instruments of `OKX.ws.1.0`, with tick and contract value taken from the
/// same session's REST instruments in `OKX.0`. Quantities: the inverse contracts'
/// value is in USD (scale 0); spot BTC-USDT sizes are BTC with 8 decimals.
fn cryptofeed_specs() -> Vec<InstrumentSpec> {
    let body = CryptofeedReader::new(open("okx/cryptofeed/OKX.0"))
        .filter_map(|r| match r.unwrap() {
            CryptofeedRecord::Rest { body, .. } => Some(body),
            _ => None,
        })
        .take(5)
        .flat_map(|body| wire::parse_instruments(&body).unwrap().data)
        .collect::<Vec<_>>();
    let wanted = [
        ("BTC-USD-220527", Scales { price: 1, qty: 0 }),
        ("UNI-USD-SWAP", Scales { price: 3, qty: 0 }),
        ("BTC-USDT", Scales { price: 1, qty: 8 }),
    ];
    wanted
        .iter()
        .enumerate()
        .map(|(i, (symbol, scales))| {
            let info = body
                .iter()
                .find(|info| info.inst_id == *symbol)
                .unwrap_or_else(|| panic!("{symbol} in OKX.0"));
            info.spec(InstrumentId(i as u16), *scales).unwrap()
        })
        .collect()
}

#[test]
fn instruments_give_contract_values() {
    let specs = cryptofeed_specs();
    assert_eq!(specs[0].contract_value.map(|q| q.raw()), Some(100)); // 100 USD
    assert_eq!(specs[1].contract_value.map(|q| q.raw()), Some(10)); // 10 USD
    assert_eq!(specs[2].contract_value, None); // spot: sizes are BTC
    assert_eq!(specs[2].tick.raw(), 1);
    // The linear swap of the same session: 0.01 BTC per contract.
    let body = CryptofeedReader::new(open("okx/cryptofeed/OKX.0"))
        .find_map(|r| match r.unwrap() {
            CryptofeedRecord::Rest { url, body, .. } if url.ends_with("instType=SWAP") => {
                Some(body)
            }
            _ => None,
        })
        .unwrap();
    let instruments = wire::parse_instruments(&body).unwrap();
    assert_eq!(instruments.code, "0");
    let swap = instruments
        .data
        .iter()
        .find(|i| i.inst_id == "BTC-USDT-SWAP")
        .unwrap();
    assert_eq!(
        (swap.ct_type.as_str(), swap.ct_val_ccy.as_str()),
        ("linear", "BTC")
    );
    let spec = swap
        .spec(InstrumentId(0), Scales { price: 1, qty: 4 })
        .unwrap();
    assert_eq!(spec.contract_value.map(|q| q.raw()), Some(100)); // 0.01 BTC
}

/// The inbound frames of `OKX.ws.1.0`, in order.
fn cryptofeed_frames() -> Vec<String> {
    CryptofeedReader::new(open("okx/cryptofeed/OKX.ws.1.0"))
        .filter_map(|r| match r.unwrap() {
            CryptofeedRecord::Inbound { json, .. } => Some(json),
            _ => None,
        })
        .collect()
}

/// Every `books` message (snapshots and updates, three instruments) carries a non-zero
/// checksum, and every one of them verifies; the books also stay valid in the engine.
#[test]
fn every_books_message_in_the_cryptofeed_capture_passes_its_checksum() {
    let specs = cryptofeed_specs();
    let mut feed = OkxFeed::new(specs.clone());
    let mut books: Vec<Book> = specs
        .iter()
        .map(|s| Book::new(s.venue, s.instrument, s.tick, 1 << 16))
        .collect();
    let mut out = Events::new();
    let (mut book_messages, mut trades, mut tickers, mut control) = (0u64, 0u64, 0u64, 0u64);
    for (i, frame) in cryptofeed_frames().iter().enumerate() {
        match wire::parse_message(frame).unwrap() {
            Message::Books { data, .. } => {
                book_messages += 1;
                assert!(data.iter().all(|d| d.checksum.unwrap_or(0) != 0));
            }
            Message::Trades { .. } => trades += 1,
            Message::Tickers { .. } => tickers += 1,
            Message::Bbo { .. } => panic!("the captures hold no bbo-tbt"),
            Message::Event { .. } | Message::Pong => control += 1,
        }
        let handled = feed
            .on_frame(frame, &mut out)
            .unwrap_or_else(|e| panic!("frame {i}: {e}"));
        assert_eq!(handled == Handled::Control, frame.contains("\"event\""));
        for event in &out {
            assert!(
                !matches!(event, SyncEvent::Resync { .. }),
                "frame {i}: {event:?}"
            );
            let book = &mut books[event.instrument().index()];
            let now = UnixNanos(i as u64 + 1);
            let outcome = match event {
                SyncEvent::Snapshot {
                    last, bids, asks, ..
                } => book.apply_snapshot(now, *last, bids, asks),
                SyncEvent::Delta {
                    sequence,
                    bids,
                    asks,
                    ..
                } => book.apply_delta(now, *sequence, bids, asks),
                _ => continue,
            };
            assert!(
                matches!(outcome, ApplyOutcome::Applied { .. }),
                "frame {i}: {outcome:?}"
            );
        }
        out.clear();
    }
    let verified: u64 = specs
        .iter()
        .map(|s| feed.sync(s.instrument).unwrap().counters.checksums_verified)
        .sum();
    println!(
        "OKX.ws.1.0: {book_messages} books messages, {verified} checksums verified, \
         {trades} trades, {tickers} tickers, {control} control frames"
    );
    assert!(book_messages >= 290, "{book_messages}");
    assert_eq!(verified, book_messages, "every books message verified");
    assert!(trades > 0 && tickers > 0);
    for (spec, book) in specs.iter().zip(&books) {
        assert!(book.is_valid(), "{}", spec.symbol);
        let (bids, asks) = feed.sync(spec.instrument).unwrap().checksum_book().depth();
        assert!(bids >= 25 && asks >= 25, "{}: {bids}/{asks}", spec.symbol);
    }
}

/// Changes one digit of a size inside the top 25 levels of every `books` message in
/// turn: each altered message fails its checksum and resyncs the book.
#[test]
fn a_one_character_change_in_a_level_fails_the_checksum() {
    let specs = cryptofeed_specs();
    let mut feed = OkxFeed::new(specs.clone());
    let mut out = Events::new();
    let mut altered = 0;
    for frame in cryptofeed_frames() {
        let before = feed.clone();
        feed.on_frame(&frame, &mut out).unwrap();
        out.clear();
        let Message::Books {
            inst_id,
            action,
            data,
        } = wire::parse_message(&frame).unwrap()
        else {
            continue;
        };
        // A level of this message that is now within the top 25 of its side.
        let spec = specs.iter().find(|s| s.symbol == inst_id).unwrap();
        let checksum_book = feed.sync(spec.instrument).unwrap().checksum_book();
        let top_prices: Vec<_> = checksum_book
            .bids()
            .take(25)
            .chain(checksum_book.asks().take(25))
            .map(|(price, _, _)| price)
            .collect();
        let level = data[0]
            .bids
            .iter()
            .chain(&data[0].asks)
            .find(|l| l.size != "0" && top_prices.contains(&spec.price(l.price).unwrap()));
        let Some(level) = level else {
            assert_eq!(action, Action::Update, "a snapshot always has top levels");
            continue;
        };
        let needle = format!("[\"{}\",\"{}\"", level.price, level.size);
        assert_eq!(frame.matches(&needle).count(), 1, "{needle}");
        let mut size = level.size.to_owned();
        let last = size.pop().unwrap();
        size.push(if last == '1' { '2' } else { '1' });
        let changed = frame.replace(&needle, &format!("[\"{}\",\"{}\"", level.price, size));
        let mut probe = before;
        probe.on_frame(&changed, &mut out).unwrap();
        assert!(
            matches!(
                out.as_slice(),
                [SyncEvent::Resync {
                    reason: ResyncReason::ChecksumMismatch,
                    ..
                }]
            ),
            "{inst_id}: changing {needle} to size {size} went unnoticed: {:?}",
            out.as_slice()
        );
        assert!(probe.sync(spec.instrument).unwrap().needs_snapshot());
        out.clear();
        altered += 1;
    }
    println!("{altered} altered books messages, each caught by its checksum");
    assert!(altered > 200, "{altered}");
}

/// The tickvault frames: a subscribe acknowledgement, then the `books` snapshot and
/// six updates of BTC-USDT (spot), all with `checksum: 0`.
fn tickvault_frames() -> Vec<String> {
    JsonlReader::new(open("okx/tickvault/okx_books.jsonl"))
        .map(|r| r.unwrap().json)
        .collect()
}

fn tickvault_feed() -> OkxFeed {
    let spec = InstrumentSpec::new(
        propbot_engine::model::Venue::Okx,
        InstrumentId(0),
        "BTC-USDT",
        Scales { price: 1, qty: 8 },
        "0.1",
        None,
    )
    .unwrap();
    OkxFeed::new(vec![spec])
}

#[test]
fn the_tickvault_seq_id_chain_is_accepted() {
    let frames = tickvault_frames();
    assert_eq!(frames.len(), 8);
    let mut feed = tickvault_feed();
    let mut out = Events::new();
    let mut book = Book::new(
        propbot_engine::model::Venue::Okx,
        InstrumentId(0),
        propbot_engine::model::Price::from_raw(1),
        1 << 16,
    );
    let mut chain = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        let handled = feed.on_frame(frame, &mut out).unwrap();
        assert_eq!(handled == Handled::Control, i == 0);
        for event in &out {
            let now = UnixNanos(i as u64 + 1);
            let outcome = match event {
                SyncEvent::Snapshot {
                    last, bids, asks, ..
                } => {
                    chain.push((-1, *last as i64));
                    book.apply_snapshot(now, *last, bids, asks)
                }
                SyncEvent::Delta {
                    sequence,
                    bids,
                    asks,
                    ..
                } => {
                    chain.push((sequence.previous.unwrap() as i64, sequence.last as i64));
                    book.apply_delta(now, *sequence, bids, asks)
                }
                other => panic!("{other:?}"),
            };
            assert!(
                matches!(outcome, ApplyOutcome::Applied { .. }),
                "{outcome:?}"
            );
        }
        out.clear();
    }
    assert_eq!(
        chain,
        [
            (-1, 80_274_874_800),
            (80_274_874_800, 80_274_874_876),
            (80_274_874_876, 80_274_874_887),
            (80_274_874_887, 80_274_874_895),
            (80_274_874_895, 80_274_874_923),
            (80_274_874_923, 80_274_875_002),
            (80_274_875_002, 80_274_875_033),
        ]
    );
    let counters = feed.sync(InstrumentId(0)).unwrap().counters;
    assert_eq!((counters.snapshots, counters.deltas), (1, 6));
    assert_eq!(
        counters.checksums_verified, 0,
        "checksum 0 means not provided"
    );
    assert!(book.is_valid());
    assert!(book.top().is_two_sided());
}

/// Removing each update in turn: the next update's `prevSeqId` no longer matches, so
/// the book resyncs right there. (The last update has no successor; without it the
/// chain simply ends one step earlier.)
#[test]
fn a_removed_tickvault_update_is_detected() {
    let frames = tickvault_frames();
    let updates: Vec<usize> = (0..frames.len())
        .filter(|&i| frames[i].contains("\"action\":\"update\""))
        .collect();
    assert_eq!(updates.len(), 6);
    for &removed in &updates {
        let mut feed = tickvault_feed();
        let mut out = Events::new();
        let mut resync_at = Vec::new();
        for (i, frame) in frames.iter().enumerate() {
            if i == removed {
                continue;
            }
            feed.on_frame(frame, &mut out).unwrap();
            if out.iter().any(|e| {
                matches!(
                    e,
                    SyncEvent::Resync {
                        reason: ResyncReason::Gap,
                        ..
                    }
                )
            }) {
                resync_at.push(i);
            }
            out.clear();
        }
        if removed == *updates.last().unwrap() {
            assert!(resync_at.is_empty());
        } else {
            assert_eq!(resync_at, [removed + 1], "removed frame {removed}");
            assert!(feed.sync(InstrumentId(0)).unwrap().needs_snapshot());
        }
    }
}
