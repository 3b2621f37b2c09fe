//! The recording format end to end: every kind of message survives a file, files roll
//! on message boundaries, the merge orders streams by receive time with a stable
//! tie-break, a crashed writer's file is recovered, and bad files are typed errors that
//! name the file and the position (issue 4, points 1, 2, 3 and 8).

mod support;

use arrow_array::{ArrayRef, Int32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use propbot_engine::book::{Sequence, TopOfBook};
use propbot_engine::model::{Level, Price, Qty, Side, Venue};
use propbot_engine::time::UnixNanos;
use propbot_recordings::schema::{self, InvalidCode, flags};
use propbot_recordings::writer::{self, Leftover, Roll};
use propbot_recordings::{
    Body, Error, FileInfo, Message, Recording, RecordingWriter, WriterOptions,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn level(price: i64, qty: i64) -> Level {
    Level {
        price: Price::from_raw(price),
        qty: Qty::from_raw(qty),
    }
}

fn at(ms: u64) -> UnixNanos {
    UnixNanos::from_millis(1_700_000_000_000 + ms)
}

fn message(ms: u64, venue: Venue, body: Body<'_>) -> Message<'_> {
    Message {
        ts_recv: at(ms),
        ts_exchange: at(ms.saturating_sub(2)),
        venue,
        instrument: 0,
        origin_flags: 0,
        body,
    }
}

/// Reads every message of `paths` back as borrowed messages (owned copies).
fn read_all(paths: &[PathBuf]) -> Result<Vec<(usize, String)>, Error> {
    let recording = Recording::open(paths)?;
    let mut reader = recording.reader(None);
    let mut out = Vec::new();
    while let Some((s, m)) = reader.next()? {
        out.push((s, format!("{:?}", m.as_message())));
    }
    Ok(out)
}

fn write(
    dir: &Path,
    stream: &str,
    options: WriterOptions,
    messages: &[Message<'_>],
) -> Vec<PathBuf> {
    let (mut w, leftovers) = RecordingWriter::create(dir, support::meta(stream), options).unwrap();
    assert!(leftovers.is_empty());
    for m in messages {
        w.write(m).unwrap();
    }
    w.finish().unwrap().files
}

#[test]
fn every_kind_of_message_round_trips_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let bids = [level(600_000, 15), level(599_999, 0)];
    let asks = [level(600_001, 7)];
    let top = TopOfBook {
        bid: Price::from_raw(600_000),
        bid_qty: Qty::from_raw(15),
        ask: Price::from_raw(600_001),
        ask_qty: Qty::from_raw(7),
    };
    let messages = vec![
        message(
            0,
            Venue::Binance,
            Body::Snapshot {
                last: 41,
                bids: &bids,
                asks: &asks,
            },
        ),
        message(
            1,
            Venue::Binance,
            Body::Snapshot {
                last: 42,
                bids: &[],
                asks: &[],
            },
        ),
        message(
            2,
            Venue::Binance,
            Body::Delta {
                sequence: Sequence {
                    first: Some(43),
                    last: 45,
                    previous: Some(42),
                },
                bids: &bids,
                asks: &[],
            },
        ),
        message(
            3,
            Venue::Okx,
            Body::Delta {
                sequence: Sequence {
                    first: None,
                    last: 9,
                    previous: Some(9),
                },
                bids: &[],
                asks: &[],
            },
        ),
        message(
            4,
            Venue::Binance,
            Body::Trade {
                trade_id: Some(77),
                price: Price::from_raw(600_001),
                qty: Qty::from_raw(3),
                aggressor: Side::Buy,
            },
        ),
        message(
            4,
            Venue::Okx,
            Body::Trade {
                trade_id: None,
                price: Price::from_raw(600_000),
                qty: Qty::from_raw(100),
                aggressor: Side::Sell,
            },
        ),
        message(
            5,
            Venue::Binance,
            Body::Bbo {
                update_id: Some(45),
                top,
            },
        ),
        message(
            6,
            Venue::Okx,
            Body::Bbo {
                update_id: None,
                top,
            },
        ),
        message(
            7,
            Venue::Binance,
            Body::BookInvalid {
                code: InvalidCode::Gap,
            },
        ),
        message(
            8,
            Venue::Okx,
            Body::BookInvalid {
                code: InvalidCode::ChecksumMismatch,
            },
        ),
        message(
            9,
            Venue::Okx,
            Body::BookInvalid {
                code: InvalidCode::FeedLost,
            },
        ),
    ];
    let mut derived = messages[3];
    derived.origin_flags = flags::DERIVED;
    let mut all = messages.clone();
    all[3] = derived;
    let files = write(dir.path(), "kinds", WriterOptions::default(), &all);
    assert_eq!(files.len(), 1);
    let back = read_all(&files).unwrap();
    let expected: Vec<String> = all.iter().map(|m| format!("{m:?}")).collect();
    let got: Vec<String> = back.into_iter().map(|(_, m)| m).collect();
    assert_eq!(got, expected);

    // Row layout: levels of a message share its header; the last row ends it.
    let info = FileInfo::open(&files[0]).unwrap();
    assert_eq!(info.meta.stats.messages, all.len() as u64);
    assert_eq!(info.rows, 3 + 1 + 2 + 1 + 1 + 1 + 2 + 2 + 1 + 1 + 1);
}

#[test]
fn files_say_their_schema_version_source_generator_scales_and_origins() {
    let dir = tempfile::tempdir().unwrap();
    let m = message(
        0,
        Venue::Binance,
        Body::Snapshot {
            last: 1,
            bids: &[],
            asks: &[],
        },
    );
    let files = write(dir.path(), "meta", WriterOptions::default(), &[m]);
    let file = std::fs::File::open(&files[0]).unwrap();
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(file).unwrap();
    use parquet::file::reader::FileReader;
    let kv: Vec<(String, String)> = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .iter()
        .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
        .collect();
    let get = |k: &str| kv.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    assert_eq!(get("propbot.schema_version").as_deref(), Some("1"));
    assert!(
        get("propbot.generator")
            .unwrap()
            .starts_with("propbot-recordings ")
    );
    assert_eq!(get("propbot.source").as_deref(), Some("test:unit"));
    let instruments: serde_json::Value =
        serde_json::from_str(&get("propbot.instruments").unwrap()).unwrap();
    assert_eq!(instruments[0]["price_scale"], 1);
    assert_eq!(instruments[0]["qty_scale"], 4);
    assert_eq!(instruments[0]["listings"][1]["origin"], "derived");
    let venues: serde_json::Value = serde_json::from_str(&get("propbot.venues").unwrap()).unwrap();
    assert_eq!(venues["binance-um"], "real");
    assert_eq!(venues["okx-swap"], "derived");
    assert!(get("propbot.codes").unwrap().contains("book_invalid"));
    assert_eq!(get("propbot.rows").as_deref(), Some("1"));
    // The column types come from the Parquet logical types alone (no Arrow-only hint),
    // and they are exactly the schema's.
    assert!(get("ARROW:schema").is_none());
    assert_eq!(FileInfo::open(&files[0]).unwrap().rows, 1);
}

fn deltas(count: u64, rows: usize, step_ms: u64) -> (Vec<Level>, Vec<(u64, Sequence)>) {
    let levels = (0..rows as i64)
        .map(|k| level(600_000 - k, 10 + k))
        .collect();
    let seqs = (0..count)
        .map(|i| {
            (
                i * step_ms,
                Sequence {
                    first: Some(i * 10 + 1),
                    last: i * 10 + 10,
                    previous: Some(i * 10),
                },
            )
        })
        .collect();
    (levels, seqs)
}

#[test]
fn files_roll_by_rows_and_by_time_and_row_groups_end_on_message_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let (levels, seqs) = deltas(1_000, 7, 10);
    let messages: Vec<Message<'_>> = seqs
        .iter()
        .map(|(ms, s)| {
            message(
                *ms,
                Venue::Binance,
                Body::Delta {
                    sequence: *s,
                    bids: &levels,
                    asks: &[],
                },
            )
        })
        .collect();
    let mut options = WriterOptions::default();
    options.layout.row_group_rows = 100;
    options.layout.batch_rows = 64;
    options.roll = Roll {
        max_rows: 2_500,
        max_span_ns: 0,
        max_bytes: 0,
    };
    let files = write(&dir.path().join("rows"), "rows", options.clone(), &messages);
    assert_eq!(
        files.len(),
        3,
        "7000 rows in files of at least 2500: {files:?}"
    );
    for f in &files {
        let info = FileInfo::open(f).unwrap();
        assert_eq!(info.rows % 7, 0, "whole messages per file");
        assert!(info.row_groups > 10);
        let file = std::fs::File::open(f).unwrap();
        let builder =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        for rg in builder.metadata().row_groups() {
            assert_eq!(rg.num_rows() % 7, 0, "row groups end on a message boundary");
        }
    }
    assert_eq!(read_all(&files).unwrap().len(), 1_000);

    options.roll = Roll {
        max_rows: 0,
        max_span_ns: 2_000_000_000,
        max_bytes: 0,
    };
    let files = write(&dir.path().join("time"), "time", options, &messages);
    assert_eq!(files.len(), 5, "10 s of messages in 2 s files");
    for (i, f) in files.iter().enumerate() {
        let info = FileInfo::open(f).unwrap();
        assert_eq!(info.meta.file_index, i as u32);
        let (first, last) = info.span();
        assert!(last - first < 2_000_000_000);
    }
    assert_eq!(read_all(&files).unwrap().len(), 1_000);
}

#[test]
fn the_merge_orders_by_receive_time_then_stream_name_whatever_the_path_order() {
    let dir = tempfile::tempdir().unwrap();
    let snap = |ms, venue, last| {
        message(
            ms,
            venue,
            Body::Snapshot {
                last,
                bids: &[],
                asks: &[],
            },
        )
    };
    let a = write(
        &dir.path().join("a"),
        "a-binance",
        WriterOptions::default(),
        &[
            snap(0, Venue::Binance, 1),
            snap(10, Venue::Binance, 2),
            snap(20, Venue::Binance, 3),
        ],
    );
    let b = write(
        &dir.path().join("b"),
        "b-okx",
        WriterOptions::default(),
        &[
            snap(5, Venue::Okx, 11),
            snap(10, Venue::Okx, 12),
            snap(15, Venue::Okx, 13),
        ],
    );
    let order = |paths: &[PathBuf]| -> Vec<String> {
        read_all(paths)
            .unwrap()
            .into_iter()
            .map(|(_, m)| {
                m.split("last: ")
                    .nth(1)
                    .unwrap()
                    .split(',')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let forward = order(&[dir.path().join("a"), dir.path().join("b")]);
    assert_eq!(forward, ["1", "11", "2", "12", "13", "3"]);
    let backward = order(&[b[0].clone(), a[0].clone()]);
    assert_eq!(
        forward, backward,
        "the tie at 10 ms goes to stream a-binance either way"
    );
}

#[test]
fn the_writer_refuses_messages_out_of_order_or_outside_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) =
        RecordingWriter::create(dir.path(), support::meta("order"), WriterOptions::default())
            .unwrap();
    let snap = |ms| {
        message(
            ms,
            Venue::Binance,
            Body::Snapshot {
                last: 1,
                bids: &[],
                asks: &[],
            },
        )
    };
    w.write(&snap(10)).unwrap();
    let e = w.write(&snap(5)).unwrap_err();
    assert!(e.to_string().contains("before the previous message"), "{e}");
    let mut foreign = snap(20);
    foreign.instrument = 3;
    let e = w.write(&foreign).unwrap_err();
    assert!(e.to_string().contains("not in the instrument table"), "{e}");
    w.finish().unwrap();
}

#[test]
fn a_writer_that_dies_leaves_a_partial_file_recovered_up_to_its_last_row_group() {
    let dir = tempfile::tempdir().unwrap();
    let (levels, seqs) = deltas(120, 3, 1);
    let mut options = WriterOptions::default();
    options.layout.row_group_rows = 50;
    options.layout.batch_rows = 16;
    let (mut w, _) =
        RecordingWriter::create(dir.path(), support::meta("crash"), options.clone()).unwrap();
    for (ms, s) in &seqs {
        w.write(&message(
            *ms,
            Venue::Binance,
            Body::Delta {
                sequence: *s,
                bids: &levels,
                asks: &[],
            },
        ))
        .unwrap();
    }
    // The process dies: no footer, no rename, no cleanup.
    std::mem::forget(w);
    let leftovers = writer::scan(dir.path()).unwrap();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    assert!(leftovers[0].to_string_lossy().ends_with(".parquet.partial"));
    assert!(matches!(
        FileInfo::open(&leftovers[0]),
        Err(Error::NotParquet { .. })
    ));
    assert!(matches!(
        Recording::open(&[dir.path().to_owned()]),
        Err(Error::Empty { .. })
    ));

    let recovered = writer::recover_dir(dir.path()).unwrap();
    let [
        Leftover::Recovered {
            recovered: path,
            rows,
            ..
        },
    ] = recovered.as_slice()
    else {
        panic!("{recovered:?}");
    };
    // Row groups close after 50 rows on a message boundary: 17 messages (51 rows) each.
    assert_eq!(*rows, 7 * 51);
    let info = FileInfo::open(path).unwrap();
    assert!(info.meta.recovered);
    assert_eq!(info.rows, *rows);
    let back = read_all(std::slice::from_ref(path)).unwrap();
    assert_eq!(back.len(), 7 * 17);
    assert!(writer::scan(dir.path()).unwrap().is_empty());

    // A new writer of the same stream carries on after the recovered file.
    let (mut w, leftovers) =
        RecordingWriter::create(dir.path(), support::meta("crash"), options).unwrap();
    assert!(leftovers.is_empty());
    w.write(&message(
        500,
        Venue::Binance,
        Body::Snapshot {
            last: 9_999,
            bids: &[],
            asks: &[],
        },
    ))
    .unwrap();
    let files = w.finish().unwrap().files;
    assert!(
        files[0].to_string_lossy().ends_with("crash-00001.parquet"),
        "{files:?}"
    );
    assert_eq!(
        read_all(&[dir.path().to_owned()]).unwrap().len(),
        7 * 17 + 1
    );
    let recording = Recording::open(std::slice::from_ref(&files[0])).unwrap();
    let mut reader = recording.reader(None);
    let (_, m) = reader.next().unwrap().unwrap();
    assert_eq!(
        m.number,
        7 * 17,
        "message numbers carry on after the recovered file"
    );
}

#[test]
fn an_unfinished_import_style_writer_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = WriterOptions {
        commit: propbot_recordings::Commit::AtEnd,
        ..WriterOptions::default()
    };
    options.roll.max_rows = 10;
    let (levels, seqs) = deltas(20, 3, 1);
    {
        let (mut w, _) =
            RecordingWriter::create(dir.path(), support::meta("imp"), options.clone()).unwrap();
        for (ms, s) in &seqs {
            w.write(&message(
                *ms,
                Venue::Binance,
                Body::Delta {
                    sequence: *s,
                    bids: &levels,
                    asks: &[],
                },
            ))
            .unwrap();
        }
        // Dropped without finish: an error path of an import.
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");

    // Killed instead (no destructor): its files stay `.pending`, are never read as a
    // recording, and the next import of the stream removes them.
    let (mut w, _) =
        RecordingWriter::create(dir.path(), support::meta("imp"), options.clone()).unwrap();
    for (ms, s) in &seqs {
        w.write(&message(
            *ms,
            Venue::Binance,
            Body::Delta {
                sequence: *s,
                bids: &levels,
                asks: &[],
            },
        ))
        .unwrap();
    }
    std::mem::forget(w);
    let pending = writer::scan(dir.path()).unwrap();
    assert!(pending.len() >= 5, "{pending:?}");
    assert!(
        pending
            .iter()
            .all(|p| p.to_string_lossy().ends_with(".parquet.pending"))
    );
    assert!(matches!(
        Recording::open(&[dir.path().to_owned()]),
        Err(Error::Empty { .. })
    ));
    let (w, leftovers) =
        RecordingWriter::create(dir.path(), support::meta("imp"), options).unwrap();
    assert_eq!(leftovers.len(), pending.len());
    assert!(
        leftovers
            .iter()
            .all(|l| matches!(l, Leftover::RemovedPending { .. }))
    );
    assert!(
        leftovers[0]
            .to_string()
            .contains("uncommitted output of an interrupted import")
    );
    w.abort();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

fn raw_file(path: &Path, schema: Arc<Schema>, columns: Vec<ArrayRef>, kv: Vec<KeyValue>) {
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(kv))
        .build();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// Rows in the recording schema built by hand, for files our writer would never write.
fn rows(ts: &[i64], flags_col: &[u8], kinds: &[u8]) -> Vec<ArrayRef> {
    use arrow_array::{Int64Array, TimestampNanosecondArray, UInt8Array, UInt16Array, UInt64Array};
    let n = ts.len();
    let tsa = || -> ArrayRef {
        Arc::new(TimestampNanosecondArray::from(ts.to_vec()).with_timezone(schema::TIME_ZONE))
    };
    vec![
        tsa(),
        tsa(),
        Arc::new(UInt8Array::from(vec![0u8; n])),
        Arc::new(UInt16Array::from(vec![0u16; n])),
        Arc::new(UInt8Array::from(kinds.to_vec())),
        Arc::new(UInt8Array::from(vec![0u8; n])),
        Arc::new(Int64Array::from(vec![600_000i64; n])),
        Arc::new(Int64Array::from(vec![5i64; n])),
        Arc::new(UInt64Array::from(vec![None::<u64>; n])),
        Arc::new(UInt64Array::from(vec![Some(1u64); n])),
        Arc::new(UInt64Array::from(vec![None::<u64>; n])),
        Arc::new(UInt64Array::from((0..n as u64).collect::<Vec<_>>())),
        Arc::new(UInt8Array::from(flags_col.to_vec())),
    ]
}

fn recording_kv(version: &str) -> Vec<KeyValue> {
    let mut kv = support::meta("hand").header_key_values();
    kv[0] = KeyValue::new("propbot.schema_version".into(), version.to_owned());
    kv
}

#[test]
fn bad_files_are_typed_errors_naming_the_file_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Truncated (as by a crash without the writer's protocol, or a bad copy).
    let (levels, seqs) = deltas(200, 5, 1);
    let msgs: Vec<Message<'_>> = seqs
        .iter()
        .map(|(ms, s)| {
            message(
                *ms,
                Venue::Binance,
                Body::Delta {
                    sequence: *s,
                    bids: &levels,
                    asks: &[],
                },
            )
        })
        .collect();
    let good = write(&d.join("good"), "good", WriterOptions::default(), &msgs).remove(0);
    let bytes = std::fs::read(&good).unwrap();
    let truncated = d.join("truncated.parquet");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let e = FileInfo::open(&truncated).unwrap_err();
    assert!(matches!(e, Error::NotParquet { .. }), "{e}");
    assert!(e.to_string().contains("truncated.parquet"), "{e}");

    // Not Parquet at all.
    let text = d.join("notes.parquet");
    std::fs::write(&text, "hello").unwrap();
    assert!(matches!(
        FileInfo::open(&text),
        Err(Error::NotParquet { .. })
    ));

    // A foreign Parquet file.
    let foreign = d.join("foreign.parquet");
    let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, false)]));
    raw_file(
        &foreign,
        schema,
        vec![Arc::new(Int32Array::from(vec![1, 2]))],
        vec![],
    );
    let e = FileInfo::open(&foreign).unwrap_err();
    assert!(matches!(e, Error::Foreign { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("foreign.parquet: not a PropBot recording"),
        "{e}"
    );

    // A future schema version.
    let future = d.join("future.parquet");
    raw_file(
        &future,
        schema::arrow_schema(),
        rows(&[1, 2], &[1, 1], &[0, 0]),
        recording_kv("2"),
    );
    let e = FileInfo::open(&future).unwrap_err();
    assert!(matches!(e, Error::SchemaVersion { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("future.parquet: recording schema version 2"),
        "{e}"
    );

    // The right version over the wrong columns.
    let wrong = d.join("wrong.parquet");
    let schema = Arc::new(Schema::new(vec![Field::new(
        "ts_recv_ns",
        DataType::Int32,
        false,
    )]));
    raw_file(
        &wrong,
        schema,
        vec![Arc::new(Int32Array::from(vec![1]))],
        recording_kv("1"),
    );
    assert!(matches!(FileInfo::open(&wrong), Err(Error::Schema { .. })));

    // Rows that break the format, with the row number.
    type Case<'a> = (&'a str, &'a [i64], &'a [u8], &'a [u8], &'a str);
    let cases: [Case<'_>; 4] = [
        (
            "unended",
            &[1, 2],
            &[1, 0],
            &[0, 0],
            "row 2: the stream ends inside a message",
        ),
        (
            "backwards",
            &[5, 2],
            &[1, 1],
            &[0, 0],
            "row 1: receive time 2 goes back",
        ),
        (
            "kind",
            &[1, 2],
            &[1, 1],
            &[0, 9],
            "row 1: unknown kind code 9",
        ),
        (
            "flag",
            &[1, 2],
            &[1, 65],
            &[0, 0],
            "row 1: unknown flag bits",
        ),
    ];
    for (name, ts, fl, kinds, expected) in cases {
        let path = d.join(format!("{name}.parquet"));
        raw_file(
            &path,
            schema::arrow_schema(),
            rows(ts, fl, kinds),
            recording_kv("1"),
        );
        let e = read_all(&[path]).unwrap_err();
        assert!(matches!(e, Error::BadRow { .. }), "{name}: {e}");
        let text = e.to_string();
        assert!(
            text.contains(&format!("{name}.parquet: {expected}")),
            "{name}: {text}"
        );
    }

    // Damaged pages: each case is an error naming the file, never a panic.
    let mut errors = 0;
    for k in 1..8 {
        let mut damaged = bytes.clone();
        let at = damaged.len() * k / 10;
        for b in &mut damaged[at..at + 16] {
            *b ^= 0x5a;
        }
        let path = d.join(format!("damaged{k}.parquet"));
        std::fs::write(&path, &damaged).unwrap();
        if let Err(e) = read_all(&[path]) {
            assert!(
                e.to_string().contains(&format!("damaged{k}.parquet")),
                "{e}"
            );
            errors += 1;
        }
    }
    assert!(errors >= 5, "only {errors} of 7 damaged files were noticed");
}

#[test]
fn a_crash_between_footer_and_rename_or_after_the_rename_is_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let m = message(
        0,
        Venue::Binance,
        Body::Snapshot {
            last: 1,
            bids: &[],
            asks: &[],
        },
    );
    let complete = write(dir.path(), "late", WriterOptions::default(), &[m]).remove(0);
    // Footer written and synced, rename not done.
    let partial = PathBuf::from(format!("{}.partial", complete.display()));
    std::fs::rename(&complete, &partial).unwrap();
    // Renamed complete, its checkpoint not yet removed (of another file).
    let orphan = dir.path().join("late-00007.parquet.partial.checkpoint");
    std::fs::write(&orphan, b"PBCKPT01").unwrap();
    let leftovers = writer::recover_dir(dir.path()).unwrap();
    assert!(
        matches!(
            leftovers.as_slice(),
            [Leftover::Recovered { recovered, rows: 1, lost_bytes: 0, .. }] if *recovered == complete
        ),
        "{leftovers:?}"
    );
    assert!(!orphan.exists());
    assert_eq!(read_all(&[dir.path().to_owned()]).unwrap().len(), 1);
}

/// Seeded damage of every kind (bit flips, overwritten runs, truncations that keep the
/// trailer) on a multi-row-group file: each case is an error naming the file or reads
/// through, never a panic. Page bytes are covered by the recorded CRC32s and the footer
/// by the recorded layout, so most damage is caught before any decoding.
#[test]
fn seeded_damage_never_panics_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let (levels, seqs) = deltas(400, 7, 1);
    let msgs: Vec<Message<'_>> = seqs
        .iter()
        .map(|(ms, s)| {
            message(
                *ms,
                Venue::Binance,
                Body::Delta {
                    sequence: *s,
                    bids: &levels[..5],
                    asks: &levels[5..],
                },
            )
        })
        .collect();
    let mut options = WriterOptions::default();
    options.layout.row_group_rows = 300;
    let bytes = std::fs::read(&write(dir.path(), "fuzz", options, &msgs)[0]).unwrap();
    let mut x: u64 = 0x0bad_cafe_dead_beef;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut caught, cases) = (0, 1_500);
    for k in 0..cases {
        let mut d = bytes.clone();
        match k % 3 {
            0 => {
                for _ in 0..rnd() % 4 + 1 {
                    let at = rnd() as usize % d.len();
                    d[at] ^= (rnd() % 255 + 1) as u8;
                }
            }
            1 => {
                let at = rnd() as usize % d.len();
                let n = (rnd() as usize % 64).min(d.len() - at);
                for b in &mut d[at..at + n] {
                    *b = rnd() as u8;
                }
            }
            _ => {
                let keep = rnd() as usize % d.len();
                let tail = d[d.len() - 8..].to_vec();
                d.truncate(keep);
                d.extend_from_slice(&tail);
            }
        }
        let path = dir.path().join(format!("damaged-{k}.parquet"));
        std::fs::write(&path, &d).unwrap();
        if let Err(e) = read_all(std::slice::from_ref(&path)) {
            assert!(
                e.to_string().contains(&format!("damaged-{k}.parquet")),
                "{e}"
            );
            caught += 1;
        }
        std::fs::remove_file(&path).unwrap();
    }
    assert!(
        caught * 10 >= cases * 8,
        "only {caught} of {cases} damaged files were refused"
    );

    // One flipped byte in a data page: the CRC32 of its row group names the range.
    let mut d = bytes.clone();
    d[100] ^= 1;
    let path = dir.path().join("flipped.parquet");
    std::fs::write(&path, &d).unwrap();
    let e = read_all(std::slice::from_ref(&path)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Checksum {
                row_group: 0,
                start: 0,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("flipped.parquet: damaged: bytes 0.."),
        "{e}"
    );
}
