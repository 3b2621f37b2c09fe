//! Shadow trading end to end (`serve --source live`): the service connects to the
//! Binance and OKX emulators on loopback with the live adapters, trades on paper
//! against their books, shows each connection in System Status and `/metrics`,
//! records what it receives, and rides out an outage: the continuity guard trips while
//! the Binance book is gone past `resync_deadline_ms`, clears once the venue is back,
//! and the desk resumes with the two-man rule. Nothing here reaches the internet.

mod common;

use common::{Harness, Mode, start_with};
use propbot_emulators::binance::BinanceHandle;
use propbot_emulators::okx::OkxHandle;
use propbot_emulators::{EmulatorConfig, Speed};
use propbot_engine::model::Venue;
use propbot_engine::time::UnixNanos;
use propbot_engine::{Config, Profile};
use propbot_server::Source;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// One coherent two-venue market: both emulators share the seed and the start.
fn emulator_config(listen: SocketAddr, start: UnixNanos) -> EmulatorConfig {
    let mut c = EmulatorConfig::new(Config::embedded(Profile::Paper), 11);
    c.listen = listen;
    c.start = Some(start);
    c.speed = Speed::new(1.0).unwrap();
    c
}

async fn binance(listen: SocketAddr, start: UnixNanos) -> BinanceHandle {
    propbot_emulators::binance::serve(emulator_config(listen, start))
        .await
        .expect("the Binance emulator starts")
}

/// The paper profile pointed at the emulators, with a short resync deadline and the
/// service's own recording on.
fn config_file(dir: &Path, binance: SocketAddr, okx: SocketAddr) -> std::path::PathBuf {
    let base = include_str!("../../configs/config.paper.yaml");
    // The profile's own endpoints (whatever hosts they name) are replaced by the
    // emulators' loopback addresses; none may survive.
    let defaults = Config::embedded(Profile::Paper).endpoints;
    let block = |e: &propbot_engine::config::Endpoints| {
        let market = e.ws_market.as_deref().unwrap_or("none");
        let mut b = format!("      rest: {}\n      ws_public: {}\n", e.rest, e.ws_public);
        if e.ws_market.is_some() {
            b.push_str(&format!("      ws_market: {market}\n"));
        }
        b
    };
    let (b, o) = (
        &defaults[Venue::Binance.index()],
        &defaults[Venue::Okx.index()],
    );
    let text = base
        .replacen(
            &block(b),
            &format!("      rest: http://{binance}\n      ws_public: ws://{binance}\n      ws_market: none\n"),
            1,
        )
        .replacen(
            &block(o),
            &format!("      rest: http://{okx}\n      ws_public: ws://{okx}/ws/v5/public\n"),
            1,
        )
        .replacen("resync_deadline_ms: 30000", "resync_deadline_ms: 2000", 1)
        .replacen("live_market_data: false", "live_market_data: true", 1);
    for e in [b, o] {
        assert!(
            !text.contains(&e.rest) && !text.contains(&e.ws_public),
            "every endpoint points at the emulators"
        );
    }
    assert!(text.contains("resync_deadline_ms: 2000") && text.contains("live_market_data: true"));
    let path = dir.join("config.shadow.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn connections(h: &Harness) -> Vec<Value> {
    h.get("/api/ui/status/components").await["connections"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn component(doc: &Value, id: &str) -> Value {
    doc["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == id).cloned())
        .unwrap_or(Value::Null)
}

async fn all_synced(h: &Harness) -> bool {
    let rows = connections(h).await;
    rows.len() >= 2 && rows.iter().all(|r| r["state"] == "synced")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_trading_on_the_emulators_rides_out_an_outage() {
    let start = propbot_server::clock::wall_clock();
    let b = binance("127.0.0.1:0".parse().unwrap(), start).await;
    let o: OkxHandle =
        propbot_emulators::okx::serve(emulator_config("127.0.0.1:0".parse().unwrap(), start))
            .await
            .expect("the OKX emulator starts");
    let (b_addr, o_addr) = (b.addr(), o.addr());
    let h = start_with(Mode::OpenRead, |options, dir| {
        options.source = Source::Live;
        options.config_file = Some(config_file(dir, b_addr, o_addr));
    })
    .await;
    h.wait_for(
        "every live connection synced",
        Duration::from_secs(30),
        async |h| all_synced(h).await,
    )
    .await;
    let rows = connections(&h).await;
    for venue in [Venue::Binance, Venue::Okx] {
        assert!(
            rows.iter().any(|r| r["venue"] == venue.name()),
            "{venue} listed: {rows:?}"
        );
    }
    let metrics = h.raw("GET", "/metrics", None, None).await.1;
    let up = metrics.lines().find(|l| {
        l.starts_with("propbot_feed_up{")
            && l.contains("venue=\"binance-um\"")
            && l.contains("connection=\"public\"")
    });
    assert_eq!(up.map(|l| l.ends_with(" 1")), Some(true), "{metrics}");
    // Live books reach the engine: the continuity component is OK and trading can
    // resume (nothing blocks it once both venues are synced and reconciled).
    h.resume().await;
    let doc = h.get("/api/ui/status/components").await;
    assert_eq!(component(&doc, "snapshot_diff")["status"], "OK", "{doc}");

    // The outage: Binance goes away for longer than the resync deadline.
    b.emulator().drop_connections();
    b.shutdown().await;
    h.wait_for(
        "the continuity guard trips",
        Duration::from_secs(20),
        async |h| {
            let doc = h.get("/api/ui/status/components").await;
            component(&doc, "snapshot_diff")["status"] != "OK"
                && h.get("/api/ui/status/overview").await["mode"] == "HOLD"
        },
    )
    .await;
    let rows = connections(&h).await;
    assert!(
        rows.iter()
            .any(|r| r["venue"] == "binance-um" && r["state"] != "synced"),
        "{rows:?}"
    );
    // The venue comes back on the same address: reconnect, resync, the guard clears,
    // and the desk resumes.
    let b = binance(b_addr, start).await;
    h.wait_for("Binance synced again", Duration::from_secs(30), async |h| {
        all_synced(h).await
    })
    .await;
    let rows = connections(&h).await;
    let binance_row = rows.iter().find(|r| r["venue"] == "binance-um").unwrap();
    assert!(
        binance_row["reconnects"].as_u64().unwrap() >= 1,
        "{binance_row}"
    );
    h.resume().await;
    let Harness { service, dir, .. } = h;
    let report = service.unwrap().shutdown().await.expect("clean stop");
    assert_eq!(report.left_open, 0);
    let dir = dir.path().join("recordings");
    // The service recorded both venues' market data, the outage included.
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the recording directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert!(
        files
            .iter()
            .any(|p| p.to_string_lossy().contains("binance-um")),
        "{files:?}"
    );
    assert!(
        files
            .iter()
            .any(|p| p.to_string_lossy().contains("okx-swap")),
        "{files:?}"
    );
    let recording = propbot_recordings::Recording::open(&files).expect("readable");
    let mut reader = recording.reader(None);
    let (mut snapshots, mut invalid) = (0, 0);
    while let Some((_, m)) = reader.next().expect("rows") {
        match m.market_event() {
            propbot_engine::input::MarketEvent::Snapshot { .. } => snapshots += 1,
            propbot_engine::input::MarketEvent::BookInvalid { .. } => invalid += 1,
            _ => {}
        }
    }
    assert!(
        snapshots >= 3,
        "a snapshot per venue and one after the outage: {snapshots}"
    );
    assert!(invalid >= 1, "the outage is recorded as an invalid book");
    b.shutdown().await;
    o.shutdown().await;
}
