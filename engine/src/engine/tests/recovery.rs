//! Recovery from the journal, reconciliation and money that would overflow.

use super::*;

#[test]
fn recovery_restores_positions_and_live_orders_and_boots_in_hold() {
    let mut h = Harness::new();
    h.ready();
    h.resume();
    let legs = places(&open_arbitrage(&mut h));
    h.fill(&legs[0], 10, 600_000);
    // Crash here: the sell leg's outcome is unknown.
    let records: Vec<JournalRecord> = h
        .out
        .iter()
        .filter_map(|o| match o {
            Output::Journal(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    let mut config = Config::embedded(Profile::Paper);
    config.control.set_approval_token(TOKEN);
    let recovered = RecoveredState::from_records(&config, &records).unwrap();
    assert_eq!(recovered.highest_epoch, 7);
    let mut h2 = Harness::boot(config, recovered);
    assert_eq!(h2.e.control().mode, Mode::Hold);
    assert_eq!(h2.position(Venue::Binance), 10);
    let live: Vec<_> =
        h2.e.orders()
            .filter(|o| o.is_live())
            .map(|o| o.request.client_order_id)
            .collect();
    assert!(live.contains(&legs[1].client_order_id));
    // The unknown order is looked up, not re-sent.
    h2.now = h2.now.plus_millis(1);
    let out = h2.advance(200);
    assert!(out.iter().any(|o| matches!(o, Output::QueryOrder { client_order_id, .. } if *client_order_id == legs[1].client_order_id)));
    assert!(places(&out).is_empty());
    // A journal with a hole is refused.
    let mut holed = records.clone();
    holed.remove(3);
    let config = Config::embedded(Profile::Paper);
    assert!(matches!(
        RecoveredState::from_records(&config, &holed),
        Err(crate::recovery::RecoveryError::SequenceGap { .. })
    ));
}

#[test]
fn reconciliation_books_missed_fills_and_flags_position_mismatches() {
    let mut h = Harness::new();
    h.ready();
    let snap = ReconSnapshot {
        venue: Venue::Okx,
        as_of: h.now,
        open_orders: vec![],
        positions: vec![(BTC, Qty::from_raw(-10))],
        fills: vec![ReconFill {
            client_order_id: None,
            instrument: BTC,
            trade_id: TradeId(999),
            side: Side::Sell,
            price: Price::from_raw(600_000),
            qty: Qty::from_raw(10),
            liquidity: Liquidity::Taker,
            fee: None,
        }],
    };
    h.feed(Input::Reconciliation(&snap));
    assert_eq!(h.position(Venue::Okx), -10, "the missed fill is booked");
    assert_eq!(h.e.reconciliation()[Venue::Okx.index()].mismatches, 0);
    h.feed(Input::Reconciliation(&snap));
    assert_eq!(h.position(Venue::Okx), -10, "booked once");
    let bad = ReconSnapshot {
        positions: vec![(BTC, Qty::from_raw(-20))],
        fills: vec![],
        ..snap
    };
    let out = h.feed(Input::Reconciliation(&bad));
    assert!(tripped(&out, crate::guards::GuardId::Reconciliation));
    assert!(
        h.e.resume_blockers(h.now)
            .iter()
            .any(|b| b.contains("mismatch"))
    );
}

/// Money a venue reports that does not fit 64 bits is refused, never wrapped and never
/// a panic: positions that sum past `i64` are a reconciliation mismatch, and a fill
/// the ledger cannot hold is refused with a Critical alert and leaves the position,
/// the order and the journal as they were.
#[test]
fn money_beyond_64_bits_from_a_venue_is_refused_not_wrapped() {
    let mut h = Harness::new();
    h.ready();
    let snap = ReconSnapshot {
        venue: Venue::Okx,
        as_of: h.now,
        open_orders: vec![],
        positions: vec![
            (BTC, Qty::from_raw(i64::MAX)),
            (BTC, Qty::from_raw(i64::MAX)),
            (BTC, Qty::from_raw(2)),
        ],
        fills: vec![],
    };
    let out = h.feed(Input::Reconciliation(&snap));
    assert!(
        out.iter().any(|o| matches!(o, Output::Alert(a)
            if a.code == "recon_mismatch" && a.message.contains("does not fit in 64 bits"))),
        "{out:?}"
    );
    assert_eq!(h.e.reconciliation()[Venue::Okx.index()].mismatches, 1);
    h.reconcile_clean(Venue::Okx);
    h.resume();
    let buy = places(&open_arbitrage(&mut h))[0];
    let out = h.fill(&buy, crate::ledger::POSITION_ABS_MAX, 600_000);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Alert(a) if a.code == "fill_overflow")),
        "{out:?}"
    );
    assert!(
        !journal(&out)
            .iter()
            .any(|j| matches!(j, JournalEvent::Fill { .. }))
    );
    assert_eq!(h.position(buy.venue), 0);
    let order =
        h.e.orders()
            .find(|o| o.request.client_order_id == buy.client_order_id);
    assert_eq!(order.map(|o| o.filled), Some(Qty::ZERO));
}

/// A journal whose fills do not fit the ledger cannot be recovered from: a typed
/// error naming the record, not a panic and not a wrapped position.
#[test]
fn recovery_refuses_a_journal_whose_fills_overflow() {
    let config = Config::embedded(Profile::Paper);
    let fill = |sequence: u64, trade: u64| JournalRecord {
        sequence,
        epoch: 1,
        ts: UnixNanos(T0),
        event: JournalEvent::Fill {
            client_order_id: None,
            fill: crate::ledger::Fill {
                venue: Venue::Binance,
                instrument: BTC,
                trade_id: TradeId(trade),
                side: Side::Buy,
                price: Price::from_raw(1),
                qty: Qty::from_raw(crate::ledger::POSITION_ABS_MAX),
                liquidity: Liquidity::Taker,
                fee: Some(Notional::ZERO),
            },
            fee: Notional::ZERO,
        },
    };
    let records = [fill(1, 1), fill(2, 2)];
    assert_eq!(
        RecoveredState::from_records(&config, &records).err(),
        Some(crate::recovery::RecoveryError::FillOverflow {
            sequence: 2,
            overflow: MoneyOverflow { what: "position" },
        })
    );
}

/// A fill found by reconciliation that takes an order beyond its quantity is the
/// same venue anomaly as an overfilling execution report: alerted and shown in
/// Conformance, never silent and never a panic.
#[test]
fn a_reconciled_fill_beyond_the_quantity_is_an_overfill() {
    let mut h = Harness::new();
    h.ready();
    h.resume();
    let legs = places(&open_arbitrage(&mut h));
    let buy = legs[0];
    h.fill(&buy, 10, 600_000);
    let snap = ReconSnapshot {
        venue: Venue::Binance,
        as_of: h.now,
        open_orders: vec![],
        positions: vec![(BTC, Qty::from_raw(15))],
        fills: vec![ReconFill {
            client_order_id: Some(buy.client_order_id),
            instrument: BTC,
            trade_id: TradeId(999),
            side: Side::Buy,
            price: Price::from_raw(600_000),
            qty: Qty::from_raw(5),
            liquidity: Liquidity::Taker,
            fee: None,
        }],
    };
    let out = h.feed(Input::Reconciliation(&snap));
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Alert(a) if a.code == "overfill")),
        "{out:?}"
    );
    let order =
        h.e.orders()
            .find(|o| o.request.client_order_id == buy.client_order_id);
    assert_eq!(order.map(|o| o.filled), Some(Qty::from_raw(15)));
    let s = h.e.status(h.now);
    let c = s.components.iter().find(|c| c.id == "conformance").unwrap();
    assert_eq!(c.status, crate::guards::GuardLevel::Error);
}

/// at-p0-chaos seed 46: a reconciliation that did not list an acknowledged order
/// presumed it cancelled, and its fill arrived afterwards. The fill is booked and
/// journaled; the order stays cancelled (terminal states never change).
#[test]
fn regression_a_fill_after_reconciliation_presumed_a_cancel_is_booked() {
    let mut h = Harness::new();
    h.ready();
    h.resume();
    let buy = places(&open_arbitrage(&mut h))[0];
    h.report(
        &buy,
        ExecutionKind::Ack {
            venue_order_id: VenueOrderId(1),
        },
    );
    let out = h.reconcile_clean(Venue::Binance);
    assert!(journal(&out).contains(&JournalEvent::OrderUpdate {
        client_order_id: buy.client_order_id,
        state: OrderState::Cancelled,
        venue_order_id: Some(VenueOrderId(1)),
        filled: Qty::ZERO,
    }));
    let out = h.fill(&buy, 10, 600_000);
    assert_eq!(h.position(Venue::Binance), 10, "the fill is booked");
    let events = journal(&out);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, JournalEvent::Fill { .. }))
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, JournalEvent::OrderUpdate { .. })),
        "{events:?}"
    );
    let order =
        h.e.orders()
            .find(|o| o.request.client_order_id == buy.client_order_id)
            .unwrap();
    assert_eq!(
        (order.state, order.filled),
        (OrderState::Cancelled, Qty::from_raw(10))
    );
}

#[test]
fn a_recovered_imbalance_is_hedged_only_where_reduce_only_can_reduce() {
    // A fill found by reconciliation leaves OKX long 0.01 BTC with Binance flat. The hedge has
    // no lagging leg, so it is reduce-only on both venues: a reduce-only sell on flat
    // Binance would be rejected (and resent on every tick), so it must sell on OKX.
    let mut h = Harness::new();
    h.ready();
    h.resume();
    let snap = ReconSnapshot {
        venue: Venue::Okx,
        as_of: h.now,
        open_orders: vec![],
        positions: vec![(BTC, Qty::from_raw(100))],
        fills: vec![ReconFill {
            client_order_id: None,
            instrument: BTC,
            trade_id: TradeId(555),
            side: Side::Buy,
            price: Price::from_raw(600_000),
            qty: Qty::from_raw(100),
            liquidity: Liquidity::Taker,
            fee: None,
        }],
    };
    let mut out = h.feed(Input::Reconciliation(&snap));
    assert_eq!(h.position(Venue::Okx), 100);
    h.keep_alive();
    out.extend(h.quote(Venue::Binance, 600_001, 100, 600_011, 100));
    out.extend(h.quote(Venue::Okx, 600_001, 100, 600_011, 100));

    let hedge = places(&out);
    assert_eq!(hedge.len(), 1, "{out:?}");
    assert_eq!(
        (
            hedge[0].venue,
            hedge[0].side,
            hedge[0].qty,
            hedge[0].reduce_only
        ),
        (Venue::Okx, Side::Sell, Qty::from_raw(100), true)
    );
    assert_eq!(hedge[0].purpose, OrderPurpose::Hedge);
}

/// at-p0-chaos seed 1519: an instance led (epoch 1), lost the lease while another led
/// and traded the account, then led again. Its reconciliation from the first epoch still
/// counted, so it traded on positions the other leader had changed, and a lost
/// reconciliation request was never asked again.
#[test]
fn regression_a_new_epoch_reconciles_again_and_a_lost_request_is_repeated() {
    let mut h = Harness::new();
    h.ready();
    assert!(h.e.reconciliation().iter().all(|r| r.done));
    h.feed(Input::Lease(LeaseEvent::Lost));
    let out = h.feed(Input::Lease(LeaseEvent::Granted {
        epoch: 8,
        requested_at: h.now,
        ttl_ns: 3_600_000 * NANOS_PER_MILLI,
    }));
    let asked = |out: &[Output]| {
        out.iter()
            .filter(|o| matches!(o, Output::Reconcile { .. }))
            .count()
    };
    assert_eq!(asked(&out), 2, "{out:?}");
    assert!(h.e.reconciliation().iter().all(|r| !r.done));
    // Nobody answers: the request is repeated, and nothing may trade meanwhile.
    let out = h.advance(5_100);
    assert_eq!(asked(&out), 2, "asked again: {out:?}");
    h.keep_alive();
    assert!(places(&open_arbitrage(&mut h)).is_empty());
}

/// A venue rejecting a reduce-only order as not reducing means the positions differ:
/// the engine reconciles instead of resending (chaos seed 1519 resent a hedge about a
/// hundred times a second).
#[test]
fn a_reduce_only_reject_reconciles_the_venue() {
    let mut h = Harness::new();
    h.ready();
    h.resume();
    let legs = places(&open_arbitrage(&mut h));
    h.fill(&legs[0], 10, 600_000);
    let mut out = h.report(
        &legs[1],
        ExecutionKind::Cancelled {
            reason: CancelReason::IocExpired,
        },
    );
    out.extend(h.report(
        &legs[0],
        ExecutionKind::Cancelled {
            reason: CancelReason::IocExpired,
        },
    ));
    let hedge = places(&out)[0];
    let out = h.report(
        &hedge,
        ExecutionKind::Rejected {
            reason: RejectReason::ReduceOnly,
        },
    );
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Reconcile { venue } if *venue == hedge.venue)),
        "{out:?}"
    );
    assert!(!h.e.reconciliation()[hedge.venue.index()].done);
    assert!(
        places(&out).iter().all(|p| p.venue != hedge.venue),
        "{out:?}"
    );
}

/// Reconciliation runs after every reconnect (even a clean one: the venue's dead-man
/// switch may have cancelled while the link was down) and on the schedule of
/// `guards.reconcile_every_ms`, not only when one is missing or found differences.
#[test]
fn reconciliation_runs_after_every_reconnect_and_on_its_schedule() {
    let mut h = Harness::new();
    h.ready();
    assert!(
        h.e.reconciliation()
            .iter()
            .all(|r| r.done && r.mismatches == 0)
    );
    let asked = |out: &[Output], venue: Venue| {
        out.iter()
            .filter(|o| matches!(o, Output::Reconcile { venue: v } if *v == venue))
            .count()
    };
    h.venue(Venue::Okx, VenueEventKind::Disconnected { clean: false });
    let out = h.venue(Venue::Okx, VenueEventKind::Connected);
    assert_eq!(asked(&out, Venue::Okx), 1, "{out:?}");
    assert_eq!(asked(&out, Venue::Binance), 0, "{out:?}");
    let out = h.reconcile_clean(Venue::Okx);
    assert_eq!(asked(&out, Venue::Okx), 0, "answered: {out:?}");
    // Nothing more until the schedule is due (counted from each venue's last run).
    let every_ms = h.e.config().guards.reconcile_every_ns / NANOS_PER_MILLI;
    let start = h.now;
    let mut first: [Option<u64>; 2] = [None, None];
    while first.iter().any(Option::is_none)
        && h.now.nanos_since(start) < 2 * every_ms * NANOS_PER_MILLI
    {
        h.keep_alive();
        let out = h.advance(500);
        for v in Venue::ALL {
            if first[v.index()].is_none() && asked(&out, v) > 0 {
                first[v.index()] = Some(h.now.nanos_since(start) / NANOS_PER_MILLI);
            }
        }
    }
    let [Some(binance), Some(okx)] = first else {
        panic!("a scheduled reconciliation for both venues: {first:?}");
    };
    // Binance last ran at ready(), OKX a little later (after the reconnect).
    assert!(binance <= every_ms + 1_000, "{binance} ms");
    assert!(okx >= every_ms && okx <= every_ms + 1_000, "{okx} ms");
}
