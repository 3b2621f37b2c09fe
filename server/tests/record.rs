//! `propbot record` against the Binance and OKX emulators on loopback, with a
//! disconnect mid-recording: the files are committed, roll with the books carried, and
//! replay with the break recorded where it happened.

use clap::Parser;
use propbot_emulators::{EmulatorConfig, Speed};
use propbot_engine::book::Book;
use propbot_engine::input::MarketEvent;
use propbot_engine::model::{InstrumentId, Venue};
use propbot_engine::{Config, Profile};
use propbot_recordings::Recording;
use propbot_server::record::{RecordArgs, run};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: RecordArgs,
}

fn args(venue: &str, endpoint: &str, out: &Path) -> RecordArgs {
    Cli::try_parse_from([
        "record",
        "--venue",
        venue,
        "--instruments",
        "BTC-USDT-PERP",
        "--out",
        out.to_str().unwrap(),
        "--endpoint",
        endpoint,
        "--duration",
        "4s",
        "--roll-rows",
        "400",
        "--quiet",
    ])
    .expect("valid arguments")
    .args
}

fn emulator_config() -> EmulatorConfig {
    let mut c = EmulatorConfig::new(Config::embedded(Profile::Paper), 5);
    c.speed = Speed::new(4.0).unwrap();
    c
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    out.sort();
    out
}

/// Snapshots, invalid books, and whether the book was valid at the end.
fn replay(venue: Venue, paths: &[PathBuf]) -> (u64, u64, bool) {
    let config = Config::embedded(Profile::Paper);
    let tick = config.listing(venue, InstrumentId(0)).unwrap().tick;
    let mut book = Book::new(venue, InstrumentId(0), tick, 4_096);
    let recording = Recording::open(paths).expect("every file readable");
    let mut reader = recording.reader(None);
    let (mut snapshots, mut invalid) = (0, 0);
    while let Some((_, m)) = reader.next().expect("rows") {
        match m.market_event() {
            MarketEvent::Snapshot {
                last, bids, asks, ..
            } => {
                snapshots += 1;
                book.apply_snapshot(m.ts_recv, last, bids, asks);
            }
            MarketEvent::Delta {
                sequence,
                bids,
                asks,
                ..
            } => {
                book.apply_delta(m.ts_recv, sequence, bids, asks);
            }
            MarketEvent::BookInvalid { .. } => invalid += 1,
            _ => {}
        }
    }
    (snapshots, invalid, book.is_valid())
}

async fn check(venue: Venue, endpoint: String, drop: impl FnOnce()) {
    let out = tempfile::tempdir().unwrap();
    let task = tokio::spawn(run(args(venue.name(), &endpoint, out.path())));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    drop();
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("stops after --duration")
        .expect("no panic")
        .expect("records without error");
    let all = files(out.path());
    assert!(
        all.len() >= 2,
        "{venue}: rolled into several files: {all:?}"
    );
    let (snapshots, invalid, valid) = replay(venue, &all);
    assert!(
        snapshots >= 2,
        "{venue}: a snapshot at start and after the reconnect"
    );
    assert!(invalid >= 1, "{venue}: the disconnect is recorded");
    assert!(valid, "{venue}: synced again at the end");
    for f in &all[1..] {
        let (s, _, _) = replay(venue, std::slice::from_ref(f));
        assert!(
            s >= 1,
            "{venue}: {} starts with the book it needs",
            f.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_binance_survives_a_disconnect() {
    let b = propbot_emulators::binance::serve(emulator_config())
        .await
        .unwrap();
    let url = b.emulator().http_url();
    check(Venue::Binance, url, || b.emulator().drop_connections()).await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_okx_survives_a_disconnect() {
    let o = propbot_emulators::okx::serve(emulator_config())
        .await
        .unwrap();
    let url = o.emulator().http_url();
    check(Venue::Okx, url, || o.emulator().drop_connections()).await;
    o.shutdown().await;
}
