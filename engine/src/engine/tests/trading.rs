//! Arbitrage, hedging, maker legs, unknown outcomes and unwinds.

use super::*;

#[test]
fn an_arbitrage_sends_both_legs_after_their_journal_intents() {
    let mut h = Harness::new();
    h.ready();
    h.resume();
    let out = open_arbitrage(&mut h);
    let legs = places(&out);
    assert_eq!(legs.len(), 2, "{out:?}");
    let (buy, sell) = (legs[0], legs[1]);
    assert_eq!((buy.venue, buy.side), (Venue::Binance, Side::Buy));
    assert_eq!((sell.venue, sell.side), (Venue::Okx, Side::Sell));
    assert_eq!(buy.qty, Qty::from_raw(10), "100 USDT at 60000 → 0.001 BTC");
    assert_eq!(buy.time_in_force, TimeInForce::Ioc);
    assert!(buy.price >= Price::from_raw(600_000) && sell.price <= Price::from_raw(600_800));
    assert_eq!(buy.client_order_id.epoch, 7);
    assert!(buy.dry_run);
    // Write-ahead: each order's intent is journaled before the order is output.
    for leg in [buy, sell] {
        let intent = out
            .iter()
            .position(
                |o| matches!(o, Output::Journal(r) if r.event == JournalEvent::OrderIntent(leg)),
            )
            .unwrap();
        let send = out.iter().position(|o| o == &Output::Place(leg)).unwrap();
        assert!(intent < send);
    }
    // Both fill: flat net, the pair goes idle, realised edge shows in the ledger.
    h.fill(&buy, 10, 600_000);
    h.fill(&sell, 10, 600_800);
    h.report(
        &buy,
        ExecutionKind::Cancelled {
            reason: CancelReason::IocExpired,
        },
    );
    assert_eq!(h.position(Venue::Binance), 10);
    assert_eq!(h.position(Venue::Okx), -10);
    assert_eq!(h.e.pairs()[0].phase, crate::strategy::Phase::Idle);
    assert_eq!(h.e.pairs()[0].decisions, 1);
}

#[test]
fn a_partial_fill_is_hedged_on_the_lagging_venue() {
    let mut h = Harness::new();
    h.ready();
    h.resume();
    let legs = places(&open_arbitrage(&mut h));
    let (buy, sell) = (legs[0], legs[1]);
    let mut out = h.fill(&buy, 10, 600_000);
    out.extend(h.fill(&sell, 4, 600_800));
    out.extend(h.report(
        &sell,
        ExecutionKind::Cancelled {
            reason: CancelReason::IocExpired,
        },
    ));
    let hedge = places(&out);
    assert_eq!(hedge.len(), 1, "{out:?}");
    assert_eq!(
        (hedge[0].venue, hedge[0].side, hedge[0].qty),
        (Venue::Okx, Side::Sell, Qty::from_raw(6))
    );
    assert_eq!(hedge[0].purpose, OrderPurpose::Hedge);
    h.fill(&hedge[0], 6, 600_790);
    assert_eq!(h.position(Venue::Okx), -10);
    assert_eq!(h.e.pairs()[0].phase, crate::strategy::Phase::Idle);
    assert_eq!(h.e.control().mode, Mode::Run);
}

#[test]
fn a_hedge_that_times_out_is_unwound_and_holds() {
    let mut h = Harness::new();
    h.ready();
    h.resume();
    let legs = places(&open_arbitrage(&mut h));
    let (buy, sell) = (legs[0], legs[1]);
    let mut out = h.fill(&buy, 10, 600_000);
    out.extend(h.report(
        &sell,
        ExecutionKind::Cancelled {
            reason: CancelReason::IocExpired,
        },
    ));
    let hedge = places(&out)[0];
    h.report(
        &hedge,
        ExecutionKind::Cancelled {
            reason: CancelReason::IocExpired,
        },
    );
    // Keep the books fresh while every hedge attempt fails, until the timeout.
    let mut unwind = Vec::new();
    for _ in 0..30 {
        h.advance(100);
        h.keep_alive();
        unwind = flattens(&h.out);
        if !unwind.is_empty() {
            break;
        }
        h.expire_all();
    }
    assert!(tripped(&h.out, crate::guards::GuardId::HedgeTimeout));
    assert!(
        places(&h.out).len() >= 3,
        "the hedge was retried before the timeout"
    );
    assert_eq!(unwind.len(), 1);
    assert_eq!(
        (unwind[0].venue, unwind[0].side, unwind[0].qty),
        (Venue::Binance, Side::Sell, Qty::from_raw(10))
    );
    assert!(unwind[0].reduce_only);
    assert_eq!(h.e.control().mode, Mode::Hold);
    h.fill(&unwind[0], 10, 599_990);
    assert_eq!(h.position(Venue::Binance), 0);
    h.advance(200);
    assert_eq!(h.e.pairs()[0].phase, crate::strategy::Phase::Idle);
}

#[test]
fn an_unknown_outcome_is_looked_up_never_resent() {
    let mut h = Harness::new();
    h.ready();
    h.resume();
    let legs = places(&open_arbitrage(&mut h));
    let out = h.report(&legs[0], ExecutionKind::Unknown);
    assert!(out.iter().any(|o| matches!(o, Output::QueryOrder { client_order_id, .. } if *client_order_id == legs[0].client_order_id)));
    let out = h.report(
        &legs[0],
        ExecutionKind::Lookup {
            state: None,
            filled: Qty::ZERO,
        },
    );
    assert!(
        !journal(&out).iter().any(|e| matches!(
            e,
            JournalEvent::OrderUpdate {
                state: OrderState::Rejected,
                ..
            }
        )),
        "its request may still arrive"
    );
    let later = h.advance(6_000);
    assert!(
        places(&later)
            .iter()
            .all(|p| p.client_order_id != legs[0].client_order_id)
    );
    assert!(later.iter().any(|o| matches!(o, Output::QueryOrder { client_order_id, .. } if *client_order_id == legs[0].client_order_id)), "asked again at expiry");
    // The venue never saw it and its expiry has passed: it is known not to exist.
    let out = h.report(
        &legs[0],
        ExecutionKind::Lookup {
            state: None,
            filled: Qty::ZERO,
        },
    );
    assert!(journal(&out).iter().any(|e| matches!(
        e,
        JournalEvent::OrderUpdate {
            state: OrderState::Rejected,
            ..
        }
    )));
}

#[test]
fn opportunity_list_shows_before_and_after_risk() {
    let mut h = Harness::new();
    h.ready();
    open_arbitrage(&mut h);
    let o = h.e.pairs()[0].opportunities[0];
    assert_eq!(
        o.blocked,
        Some(crate::strategy::Blocked::Hold),
        "in HOLD the opportunity is shown, blocked by risk"
    );
    assert!(o.net_edge > o.threshold);
    assert_eq!(o.qty_before_risk, Qty::from_raw(10));
    let _ = TopOfBook::default();
}

#[test]
fn maker_first_rests_a_post_only_leg_and_hedges_its_fills_as_taker() {
    let mut config = Config::embedded(Profile::Paper);
    config.strategy.execution = crate::config::ExecutionStyle::MakerFirst;
    let mut h = Harness::with(config);
    h.ready();
    h.resume();
    // Binance bid 60000.0 vs OKX bid 60080.0: resting a bid on Binance and selling on
    // OKX earns 13.3 bps gross, minus 2 (maker) + 5 (taker) + 0.5 bps.
    h.quote(Venue::Binance, 600_000, 100, 600_010, 100);
    let out = h.quote(Venue::Okx, 600_800, 100, 600_810, 100);
    let maker = places(&out);
    assert_eq!(maker.len(), 1, "{out:?}");
    assert_eq!(maker[0].time_in_force, TimeInForce::PostOnly);
    assert_eq!(
        (maker[0].venue, maker[0].side, maker[0].price),
        (Venue::Binance, Side::Buy, Price::from_raw(600_000))
    );
    assert_eq!(maker[0].purpose, OrderPurpose::Maker);
    assert_eq!(h.e.pairs()[0].phase, crate::strategy::Phase::Maker);
    // A partial maker fill is hedged at once on OKX.
    let out = h.fill(&maker[0], 4, 600_000);
    let hedge = places(&out);
    assert_eq!(hedge.len(), 1, "{out:?}");
    assert_eq!(
        (hedge[0].venue, hedge[0].side, hedge[0].qty),
        (Venue::Okx, Side::Sell, Qty::from_raw(4))
    );
    h.fill(&hedge[0], 4, 600_800);
    // The edge disappears: the maker leg is cancelled, and the pair settles.
    let out = h.quote(Venue::Okx, 600_000, 100, 600_010, 100);
    assert!(out.iter().any(|o| matches!(o, Output::Cancel { client_order_id, .. } if *client_order_id == maker[0].client_order_id)), "{out:?}");
    h.report(
        &maker[0],
        ExecutionKind::Cancelled {
            reason: CancelReason::Requested,
        },
    );
    assert_eq!(h.e.pairs()[0].phase, crate::strategy::Phase::Idle);
    assert_eq!(h.position(Venue::Binance) + h.position(Venue::Okx), 0);
}

/// at-p0-runaway seed 3109: a maker leg fills partly, its hedge fills, and the rest of
/// the leg fills more than the hedge timeout later. The first fill's hedge clock was
/// never reset, so the second fill "timed out" at once and the engine held.
#[test]
fn regression_a_later_maker_fill_after_a_hedged_partial_starts_a_new_hedge_clock() {
    let mut config = Config::embedded(Profile::Paper);
    config.strategy.execution = crate::config::ExecutionStyle::MakerFirst;
    config.strategy.maker_timeout_ns = 60_000 * MS;
    let mut h = Harness::with(config);
    h.ready();
    h.resume();
    h.quote(Venue::Binance, 600_000, 100, 600_010, 100);
    let maker = places(&h.quote(Venue::Okx, 600_800, 100, 600_810, 100))[0];
    assert_eq!(maker.qty, Qty::from_raw(10));
    let hedge = places(&h.fill(&maker, 1, 600_000))[0];
    h.fill(&hedge, 1, 600_800);
    // Three seconds pass with the maker leg resting and the edge still there.
    for _ in 0..30 {
        h.advance(100);
        h.quote(Venue::Binance, 600_000, 100, 600_010, 100);
        h.quote(Venue::Okx, 600_800, 100, 600_810, 100);
    }
    assert_eq!(h.e.pairs()[0].phase, crate::strategy::Phase::Maker);
    let out = h.fill(&maker, 9, 600_000);
    assert!(
        !tripped(&out, crate::guards::GuardId::HedgeTimeout),
        "{out:?}"
    );
    let hedge = places(&out);
    assert_eq!(hedge.len(), 1, "{out:?}");
    assert_eq!(
        (hedge[0].venue, hedge[0].side, hedge[0].qty),
        (Venue::Okx, Side::Sell, Qty::from_raw(9))
    );
    assert_eq!(h.e.control().mode, Mode::Run);
}

/// The paper config with room for two arbitrages under the notional caps.
fn roomy() -> Config {
    let mut config = Config::embedded(Profile::Paper);
    config.risk.per_symbol_notional = Notional::from_usd(10_000);
    config.risk.total_notional = Notional::from_usd(10_000);
    config
}

/// Builds Binance +0.0020 / OKX -0.0011 BTC (the end state of at-p0-runaway seed 3109)
/// with the second short leg's IOC still working (filled 1 of 10).
fn a_sub_lot_excess(h: &mut Harness) {
    h.ready();
    h.resume();
    let legs = places(&open_arbitrage(h));
    h.fill(&legs[0], 10, 600_000);
    h.fill(&legs[1], 10, 600_800);
    h.expire_all();
    h.keep_alive();
    h.advance(600);
    h.keep_alive();
    let legs = places(&open_arbitrage(h));
    assert_eq!(legs.len(), 2, "a second arbitrage");
    h.fill(&legs[0], 10, 600_000);
    h.fill(&legs[1], 1, 600_800);
}

fn hold_and_expire(h: &mut Harness) -> Vec<Output> {
    h.operator(
        "ops",
        OperatorAction::Hold {
            reason: "test".into(),
        },
    );
    h.expire_all()
}

/// at-p0-runaway seed 3109: the excess (0.0009 BTC) is less than Binance's lot, so
/// rounding it down there left nothing to send, and the engine announced an unwind it
/// never made. It now rounds up on Binance and takes the overshoot back on OKX.
#[test]
fn regression_an_excess_smaller_than_a_lot_is_unwound_not_just_announced() {
    let mut h = Harness::with(roomy());
    a_sub_lot_excess(&mut h);
    let mut out = hold_and_expire(&mut h);
    assert_eq!(
        (h.position(Venue::Binance), h.position(Venue::Okx)),
        (20, -11)
    );
    out.extend(h.advance(100));
    let unwind = flattens(&out);
    assert_eq!(unwind.len(), 1, "{out:?}");
    assert_eq!(
        (
            unwind[0].venue,
            unwind[0].side,
            unwind[0].qty,
            unwind[0].purpose
        ),
        (
            Venue::Binance,
            Side::Sell,
            Qty::from_raw(10),
            OrderPurpose::Unwind
        )
    );
    assert!(unwind[0].reduce_only);
    // The overshoot is taken back at once: progress needs no retry wait.
    let out = h.fill(&unwind[0], 10, 599_990);
    let unwind = flattens(&out);
    assert_eq!(unwind.len(), 1, "{out:?}");
    assert_eq!(
        (unwind[0].venue, unwind[0].side, unwind[0].qty),
        (Venue::Okx, Side::Buy, Qty::from_raw(1))
    );
    h.fill(&unwind[0], 1, 600_810);
    assert_eq!(
        (h.position(Venue::Binance), h.position(Venue::Okx)),
        (10, -10)
    );
    assert_eq!(h.e.pairs()[0].phase, crate::strategy::Phase::Idle);
    assert!(h.e.pairs()[0].unwind.is_none());
}

/// An unwind that cannot go says so, retries on its schedule, and escalates at its
/// deadline with a Critical alert and the naked position in System Status.
#[test]
fn an_unwind_that_cannot_go_alerts_retries_and_escalates_at_its_deadline() {
    let mut h = Harness::with(roomy());
    a_sub_lot_excess(&mut h);
    h.venue(
        Venue::Binance,
        VenueEventKind::Disconnected { clean: false },
    );
    hold_and_expire(&mut h);
    let start = h.now;
    let mut out = Vec::new();
    let deadline = super::trading::unwind_deadline_ns(h.e.config());
    while h.now.nanos_since(start) < deadline + NANOS_PER_SECOND {
        out.extend(h.advance(100));
        h.keep_alive();
    }
    assert!(flattens(&out).is_empty(), "Binance is unreachable: {out:?}");
    let alerts: Vec<&Alert> = out
        .iter()
        .filter_map(|o| match o {
            Output::Alert(a) => Some(a),
            _ => None,
        })
        .collect();
    let blocked = alerts.iter().filter(|a| a.code == "unwind_blocked").count();
    assert_eq!(blocked, 1, "said once, not every retry: {alerts:?}");
    let overdue: Vec<_> = alerts
        .iter()
        .filter(|a| a.code == "unwind_overdue")
        .collect();
    assert_eq!(overdue.len(), 1, "{alerts:?}");
    assert_eq!(overdue[0].severity, Severity::Critical);
    assert!(
        overdue[0].message.contains("0.0009"),
        "{}",
        overdue[0].message
    );
    let u = h.e.pairs()[0].unwind.expect("still unwinding");
    assert!(u.escalated);
    assert_eq!(
        u.blocked,
        Some(crate::strategy::UnwindBlocked::Refused(
            crate::strategy::Blocked::Disconnected
        ))
    );
    let status = h.e.status(h.now);
    let c = status
        .components
        .iter()
        .find(|c| c.id == "unhedged_exposure")
        .expect("component");
    assert_eq!(c.status, crate::guards::GuardLevel::Error, "{c:?}");
    assert!(c.summary.contains("0.0009"), "{}", c.summary);
    // The venue comes back: the unwind goes at once.
    h.venue(Venue::Binance, VenueEventKind::Connected);
    h.reconcile_clean(Venue::Binance);
    let out = h.advance(1_100);
    assert_eq!(flattens(&out).len(), 1, "{out:?}");
}
