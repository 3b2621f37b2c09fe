//! Operator commands reach the engine on their own bounded channel, read before market
//! data: a HOLD is never queued behind a market burst.

mod common;

use axum::http::StatusCode;
use common::{BOB, Mode, start};
use propbot_engine::gateway::MarketUpdate;
use propbot_engine::model::{InstrumentId, Price, Qty, Side, Venue};
use propbot_engine::time::UnixNanos;
use propbot_server::driver::{BATCH_MAX, Event, INPUTS_MAX};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn trade() -> Event {
    Event::Market(MarketUpdate::Trade {
        venue: Venue::Binance,
        instrument: InstrumentId(0),
        price: Price::from_raw(1),
        qty: Qty::from_raw(1),
        aggressor: Side::Buy,
        ts: UnixNanos(1),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_is_applied_within_a_turn_while_market_data_floods() {
    let h = start(Mode::OpenRead).await;
    h.resume().await;
    let service = h.service.as_ref().unwrap();
    let counters = service.counters.clone();
    // A producer keeps the 8,192-slot market channel full for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let events = service.events.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if events.send(trade()).await.is_err() {
                    break;
                }
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while service.events.capacity() > 0 {
        assert!(
            Instant::now() < deadline,
            "the flood never filled the channel"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let market_before = counters.market_events.load(Ordering::Relaxed);
    let turns_before = counters.turns.load(Ordering::Relaxed);
    let (status, v) = h
        .call(
            "POST",
            "/api/ui/hold",
            Some(BOB),
            Some(json!({"reason": "flood"})),
        )
        .await;
    let turns = counters.turns.load(Ordering::Relaxed) - turns_before;
    let market = counters.market_events.load(Ordering::Relaxed) - market_before;
    let queued = INPUTS_MAX - service.events.capacity();
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["mode"], "HOLD", "{v}");
    // Behind a full market queue the command would wait INPUTS_MAX / BATCH_MAX = 32
    // turns; read first, it is handled by the turn that sees it (plus, at most, the
    // turn already under way when it arrived).
    assert!(turns <= 2, "the HOLD took {turns} engine turns");
    assert!(
        market <= 2 * BATCH_MAX as u64,
        "{market} market events were handled before the HOLD"
    );
    assert!(
        queued >= INPUTS_MAX - 2 * BATCH_MAX,
        "the market queue had drained ({queued} left): the test proved nothing"
    );
    let overview = h.get("/api/ui/status/overview").await;
    assert_eq!(overview["hold"]["reason"], "flood", "{overview}");
    stop.store(true, Ordering::Relaxed);
    flood.abort();
    h.stop().await;
}
