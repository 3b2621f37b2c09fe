//! The paper exchange at its boundary: requests and answers through the latency queue,
//! the two market feeds, connections, link faults and the carried-over account.

use super::*;
use crate::market::{MarketParams, SyntheticMarket};
use propbot_engine::config::Profile;
use propbot_engine::input::ExecutionKind;
use propbot_engine::model::{ClientOrderId, InstrumentId, Price, Qty, Side, TimeInForce, TradeId};
use propbot_engine::output::{OrderPurpose, OrderRequest};
use propbot_engine::time::NANOS_PER_SECOND;

const T: UnixNanos = UnixNanos(1_000 * NANOS_PER_SECOND);
const MS: u64 = NANOS_PER_MILLI;

fn exchange(feed: MarketFeed, clients: u8) -> PaperExchange {
    let config = Config::embedded(Profile::Paper);
    let seeds = Seeds::new(5);
    let market = SyntheticMarket::new(
        &config,
        InstrumentId(0),
        MarketParams::default(),
        seeds.stream("market", 0),
        T,
    );
    let options = ExchangeOptions {
        venue: VenueParams::default(),
        latency: Latency::fixed(MS),
        feed,
        clients,
    };
    let mut x = PaperExchange::new(
        &config,
        options,
        Some(MarketSource::Synthetic(market)),
        &seeds,
    );
    x.start(T);
    x
}

/// A marketable IOC buy on Binance.
fn ioc(x: &PaperExchange, seq: u64) -> Request {
    let (_, ask) = x.market().unwrap().touch(Venue::Binance);
    Request::Place(OrderRequest {
        client_order_id: ClientOrderId::parse(&format!("P7S{seq}")).unwrap(),
        venue: Venue::Binance,
        instrument: InstrumentId(0),
        side: Side::Buy,
        price: Price::from_raw(ask.raw() + 10),
        qty: Qty::from_raw(10),
        time_in_force: TimeInForce::Ioc,
        reduce_only: false,
        expires_at: T.plus_millis(5_000),
        purpose: OrderPurpose::Entry,
        dry_run: true,
    })
}

/// Every answer due by `until`, with when it came out.
fn drain(x: &mut PaperExchange, until: UnixNanos) -> Vec<(UnixNanos, Venue, Response)> {
    let mut out = Vec::new();
    while let Some(at) = x.poll_timeout().filter(|t| *t <= until) {
        while let Some((venue, response)) = x.poll_response(at) {
            out.push((at, venue, response));
        }
    }
    out
}

#[test]
fn a_request_arrives_after_one_latency_and_its_answers_after_another() {
    let mut x = exchange(MarketFeed::Direct, 1);
    let order = ioc(&x, 1);
    x.submit(T, Venue::Binance, order);
    let out = drain(&mut x, T.plus_millis(50));
    let fills: Vec<_> = out
        .iter()
        .filter(|(_, _, r)| {
            matches!(r, Response::Execution(e) if matches!(e.kind, ExecutionKind::Fill { .. }))
        })
        .collect();
    assert!(!fills.is_empty(), "a marketable IOC fills: {out:?}");
    assert!(
        out.iter().all(|(at, _, _)| *at == T.plus_millis(2)),
        "{out:?}"
    );
    assert_eq!(
        x.venue(Venue::Binance).position(InstrumentId(0)),
        Qty::from_raw(10)
    );
}

#[test]
fn a_resync_on_the_direct_feed_continues_the_updates_handed_over() {
    let mut x = exchange(MarketFeed::Direct, 1);
    x.network.request = Latency::fixed(200 * MS);
    x.submit(
        T,
        Venue::Okx,
        Request::Resync {
            instrument: InstrumentId(0),
        },
    );
    // The driver hands updates over while the answer is on its way back.
    let mut handed = None;
    loop {
        let market = x.market_peek_time().unwrap();
        let (due, _) = x.next_due().unwrap();
        if market < due {
            if let Some(MarketUpdate::Delta {
                venue: Venue::Okx,
                sequence,
                ..
            }) = x.next_market_update(market)
            {
                handed = Some(sequence.last);
            }
            continue;
        }
        if let Some(Stepped::Delivered(d)) = x.step(due).map(|s| s.what)
            && let Message::Response(Response::Market(MarketUpdate::Snapshot { last, .. })) =
                d.message
        {
            assert!(due == T.plus_millis(400));
            assert!(handed.is_some(), "OKX moved meanwhile");
            assert_eq!(Some(last), handed, "as fresh as the deltas handed over");
            return;
        }
    }
}

#[test]
fn the_fanout_feed_reaches_every_connected_client_it_can() {
    let mut x = exchange(MarketFeed::Fanout(Latency::fixed(MS)), 2);
    x.set_cut(InstanceId(1), Venue::Okx, Way::ToClient, true);
    x.connect(InstanceId(0));
    x.send_books(T, InstanceId(0));
    x.connect(InstanceId(1));
    x.send_books(T, InstanceId(1));
    let mut heard = [[0u32; 2]; 2];
    while let Some((at, _)) = x.next_due().filter(|(t, _)| *t < T.plus_millis(500)) {
        if let Some(Step {
            what: Stepped::Delivered(d),
            ..
        }) = x.step(at)
            && let Message::Market(_) = d.message
        {
            heard[usize::from(d.to.0)][d.venue.index()] += 1;
        }
    }
    assert!(heard[0][0] > 0 && heard[0][1] > 0, "{heard:?}");
    assert!(heard[1][Venue::Binance.index()] > 0, "{heard:?}");
    assert_eq!(
        heard[1][Venue::Okx.index()],
        0,
        "the cut link hears nothing"
    );
}

#[test]
fn a_reconnected_client_never_hears_answers_meant_for_its_old_connection() {
    let mut x = exchange(MarketFeed::Fanout(Latency::fixed(MS)), 1);
    x.connect(InstanceId(0));
    x.send_books(T, InstanceId(0));
    let order = ioc(&x, 1);
    x.submit_from(T, InstanceId(0), Venue::Binance, order);
    // The request arrives; its answers leave on the first connection.
    while x.next_due().is_some_and(|(t, _)| t <= T.plus_millis(1)) {
        x.step(T.plus_millis(1));
    }
    x.disconnect(InstanceId(0));
    x.connect(InstanceId(0));
    let mut stale = 0;
    while let Some((at, _)) = x.next_due().filter(|(t, _)| *t <= T.plus_millis(2)) {
        match x.step(at).map(|s| s.what) {
            Some(Stepped::Stale(d)) => {
                assert!(matches!(d.message, Message::Response(_)), "{d:?}");
                stale += 1;
            }
            Some(Stepped::Delivered(d)) => {
                assert!(!matches!(d.message, Message::Response(_)), "{d:?}");
            }
            _ => {}
        }
    }
    assert!(stale > 0);
}

#[test]
fn the_carried_over_account_keeps_positions_and_trade_ids_unique_across_restarts() {
    let mut x = exchange(MarketFeed::Direct, 1);
    let config = Config::embedded(Profile::Paper);
    let n = config.instruments.len();
    let mut positions = [vec![Qty::ZERO; n], vec![Qty::ZERO; n]];
    positions[Venue::Binance.index()][0] = Qty::from_raw(-10);
    x.carry_over(CarryOver {
        positions,
        epoch: 7,
    });
    let snap = x.reconciliation(Venue::Binance, T);
    assert_eq!(snap.positions[0], (InstrumentId(0), Qty::from_raw(-10)));
    let okx = x.reconciliation(Venue::Okx, T);
    assert_eq!(okx.positions[0], (InstrumentId(0), Qty::ZERO));

    let order = ioc(&x, 1);
    x.submit(T, Venue::Binance, order);
    let fills: Vec<TradeId> = drain(&mut x, T.plus_millis(50))
        .into_iter()
        .filter_map(|(_, _, r)| match r {
            Response::Execution(e) => match e.kind {
                ExecutionKind::Fill { trade_id, .. } => Some(trade_id),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert!(!fills.is_empty());
    assert!(fills.iter().all(|t| t.0 >> 40 == 7), "{fills:?}");
    let recon = x.reconciliation(Venue::Binance, T.plus_millis(50));
    assert!(recon.fills.iter().all(|f| f.trade_id.0 >> 40 == 7));
    assert_eq!(
        recon.positions[0].1,
        Qty::from_raw(0),
        "-10 carried over, +10 bought"
    );
}

#[test]
fn stopped_housekeeping_leaves_only_what_is_in_flight() {
    let mut x = exchange(MarketFeed::Direct, 1);
    x.submit(T, Venue::Okx, Request::ArmDeadman { timeout_ns: MS });
    x.stop_housekeeping();
    let out = drain(&mut x, T.plus_millis(1_000));
    assert_eq!(out.len(), 1, "the arm's answer only: {out:?}");
    assert_eq!(x.poll_timeout(), None);
}
