//! Operator commands reach the engine on their own bounded channel, read before market
//! data: a HOLD is never queued behind a market burst.

mod common;

use common::{Mode, start};
use propbot_engine::gateway::MarketUpdate;
use propbot_engine::input::OperatorAction;
use propbot_engine::model::{InstrumentId, Price, Qty, Side, Venue};
use propbot_engine::time::UnixNanos;
use propbot_server::driver::{BATCH_MAX, Command, CommandKind, Control, Event, INPUTS_MAX};
use propbot_server::secrets::{Identity, Role};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

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
    // The HOLD goes on the control channel exactly as the API sends it; the turn
    // count is read once it is in the channel, with the market queue full behind it.
    let (reply, answer) = oneshot::channel();
    let hold = Control::Command(Command {
        identity: Identity {
            name: "bob".into(),
            role: Role::Operator,
            anonymous: false,
        },
        kind: CommandKind::Operator(OperatorAction::Hold {
            reason: "flood".into(),
        }),
        reply,
    });
    service.control.send(hold).await.expect("engine running");
    let arrived_after = counters.turns.load(Ordering::Relaxed);
    let queued = INPUTS_MAX - service.events.capacity();
    let outcome = tokio::time::timeout(Duration::from_secs(30), answer)
        .await
        .expect("answered in time")
        .expect("engine running");
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    // Behind a full market queue the command would wait INPUTS_MAX / BATCH_MAX = 32
    // turns; read first, it is handled by the turn that first sees it: the one under
    // way when it arrived (if that turn had not yet read the control channel), or the
    // next. (Zero if this task was descheduled past the turn that handled it.)
    let waited = outcome.turn.saturating_sub(arrived_after);
    assert!(
        waited <= 2,
        "the HOLD was handled {waited} turns after it arrived"
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
