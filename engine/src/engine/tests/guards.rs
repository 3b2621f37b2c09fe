//! The P0 guards: clock skew, disconnects, rate limits, continuity, kill caps, runaway, maintenance, leader fencing.

use super::*;

#[test]
fn clock_skew_beyond_the_limit_holds_at_once() {
    let mut h = Harness::new();
    h.ready();
    h.resume();
    let out = h.venue(
        Venue::Okx,
        VenueEventKind::ClockSample {
            offset_ns: -250 * MS as i64,
            rtt_ns: MS,
        },
    );
    assert!(tripped(&out, crate::guards::GuardId::ClockSkew));
    assert_eq!(h.e.control().mode, Mode::Hold);
    assert!(places(&open_arbitrage(&mut h)).is_empty());
    // Back within the limit: cleared, but resume still needs two operators.
    h.venue(
        Venue::Okx,
        VenueEventKind::ClockSample {
            offset_ns: 0,
            rtt_ns: MS,
        },
    );
    assert_eq!(h.e.control().mode, Mode::Hold);
    assert!(h.resume().result.is_ok());
}

#[test]
fn a_disconnect_cancels_everything_there_and_holds() {
    let mut h = Harness::new();
    h.ready();
    h.resume();
    let out = h.venue(
        Venue::Binance,
        VenueEventKind::Disconnected { clean: false },
    );
    assert!(out.iter().any(|o| matches!(
        o,
        Output::CancelAll {
            venue: Venue::Binance,
            ..
        }
    )));
    assert!(tripped(&out, crate::guards::GuardId::CancelOnDisconnect));
    assert_eq!(h.e.control().mode, Mode::Hold);
    // Reconnecting re-sends the cancel-all until the venue confirms it.
    let out = h.venue(Venue::Binance, VenueEventKind::Connected);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::CancelAll {
            venue: Venue::Binance,
            ..
        }
    )));
    h.venue(Venue::Binance, VenueEventKind::CancelAllDone { ok: true });
    let s = h.e.status(h.now);
    let c = s
        .components
        .iter()
        .find(|c| c.id == "cancel_on_disconnect")
        .unwrap();
    assert_eq!(c.status, crate::guards::GuardLevel::Ok);
}

#[test]
fn a_418_ban_holds_and_a_429_only_backs_off() {
    let mut h = Harness::new();
    h.ready();
    h.resume();
    h.venue(
        Venue::Okx,
        VenueEventKind::RateLimited {
            retry_after_ns: Some(2_000 * MS),
        },
    );
    assert_eq!(h.e.control().mode, Mode::Run);
    let out = open_arbitrage(&mut h);
    assert!(places(&out).is_empty(), "no places during the backoff");
    assert_eq!(
        h.e.pairs()[0].opportunities[0].blocked,
        Some(crate::strategy::Blocked::RateLimited)
    );
    let out = h.venue(
        Venue::Okx,
        VenueEventKind::Banned {
            until: h.now.plus_millis(120_000),
        },
    );
    assert!(tripped(&out, crate::guards::GuardId::RateLimit));
    assert_eq!(h.e.control().mode, Mode::Hold);
}

#[test]
fn a_book_gap_halts_the_route_and_asks_for_a_resync() {
    let mut h = Harness::new();
    h.ready();
    h.resume();
    h.seq[Venue::Okx.index()] += 5; // lose five updates
    let out = h.delta(
        Venue::Okx,
        &[Level {
            price: Price::from_raw(600_700),
            qty: Qty::from_raw(5),
        }],
        &[],
    );
    assert!(out.contains(&Output::Resync {
        venue: Venue::Okx,
        instrument: BTC
    }));
    assert!(!h.e.book(Venue::Okx, BTC).is_valid());
    // No decision reads the invalid book, however good its last prices looked.
    h.quote(Venue::Binance, 599_990, 100, 600_000, 100);
    assert_eq!(
        h.e.pairs()[0].opportunities[0].blocked,
        Some(crate::strategy::Blocked::BookInvalid)
    );
    assert_eq!(
        h.e.control().mode,
        Mode::Run,
        "a gap is WARN, not HOLD, until the deadline"
    );
    let out = h.advance(31_000);
    assert!(
        tripped(&out, crate::guards::GuardId::SnapshotDiff),
        "still invalid past the deadline → HOLD"
    );
}

#[test]
fn kill_caps_hold_and_flatten() {
    let mut config = Config::embedded(Profile::Paper);
    config.risk.daily_loss = Notional::from_usd(1);
    let mut h = Harness::with(config);
    h.ready();
    h.resume();
    let legs = places(&open_arbitrage(&mut h));
    h.fill(&legs[0], 10, 600_000);
    h.fill(&legs[1], 10, 600_800);
    // Binance collapses 5 %: the long leg loses 3 USDT, beyond the 1 USDT daily cap.
    let out = h.quote(Venue::Binance, 570_000, 100, 570_010, 100);
    assert!(
        tripped(&out, crate::guards::GuardId::KillCaps),
        "{:?}",
        journal(&out)
    );
    assert_eq!(h.e.control().mode, Mode::Hold);
    let f = flattens(&out);
    assert_eq!(f.len(), 2, "{out:?}");
    assert!(
        f.iter()
            .all(|o| o.reduce_only && o.purpose == OrderPurpose::Flatten)
    );
    assert!(places(&out).is_empty());
}

#[test]
fn the_runaway_breaker_trips_before_the_limit_is_exceeded() {
    let mut config = Config::embedded(Profile::Paper);
    config.guards.runaway_place_per_min = 3;
    config.strategy.cooldown_ns = 0;
    let mut h = Harness::with(config);
    h.ready();
    h.resume();
    for _ in 0..10 {
        open_arbitrage(&mut h);
        h.expire_all();
        h.quote(Venue::Okx, 600_000, 100, 600_010, 100);
        h.expire_all();
        if h.e.control().mode == Mode::Hold {
            assert!(tripped(&h.out, crate::guards::GuardId::RunawayBreaker));
            break;
        }
    }
    assert_eq!(h.e.control().mode, Mode::Hold);
    let per_venue = places(&h.out)
        .iter()
        .filter(|p| p.venue == Venue::Binance)
        .count();
    assert_eq!(per_venue, 3, "the venue saw the limit and not one more");
}

#[test]
fn maintenance_holds_ahead_of_the_window() {
    let mut h = Harness::new();
    h.ready();
    h.resume();
    let start = h.now.plus_millis(20 * 60_000);
    h.venue(
        Venue::Okx,
        VenueEventKind::Maintenance {
            start,
            end: start.plus_millis(600_000),
            pre_open_start: None,
        },
    );
    assert_eq!(
        h.e.control().mode,
        Mode::Run,
        "20 minutes ahead is outside the 10-minute lead"
    );
    let mut out = Vec::new();
    for _ in 0..12 {
        out.extend(h.advance(60_000));
        h.keep_alive();
    }
    assert!(tripped(&out, crate::guards::GuardId::Maintenance));
    assert_eq!(h.e.control().mode, Mode::Hold);
    assert!(h.now < start, "held before the window began");
}

#[test]
fn losing_the_lease_cancels_everything_and_holds() {
    let mut h = Harness::new();
    h.ready();
    h.resume();
    let out = h.feed(Input::Lease(LeaseEvent::Lost));
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Output::CancelAll { .. }))
            .count(),
        2
    );
    assert!(tripped(&out, crate::guards::GuardId::LeaderFencing));
    assert!(places(&open_arbitrage(&mut h)).is_empty());
}

#[test]
fn no_orders_past_half_the_lease_without_renewal() {
    let mut h = Harness::new();
    h.ready();
    h.feed(Input::Lease(LeaseEvent::Granted {
        epoch: 7,
        requested_at: h.now,
        ttl_ns: 10_000 * NANOS_PER_MILLI,
    }));
    h.resume();
    h.advance(5_100);
    h.keep_alive();
    assert!(places(&open_arbitrage(&mut h)).is_empty());
    assert_eq!(
        h.e.pairs()[0].opportunities[0].blocked,
        Some(crate::strategy::Blocked::NotLeader)
    );
    let out = h.advance(2_500);
    assert!(
        tripped(&out, crate::guards::GuardId::LeaderFencing),
        "fenced at 3/4 of the lease"
    );
}

#[test]
fn a_venue_side_invalid_book_halts_the_route_and_asks_for_a_resync() {
    let mut h = Harness::new();
    h.ready();
    let out = h.feed(Input::Market(MarketEvent::BookInvalid {
        venue: Venue::Okx,
        instrument: BTC,
        reason: crate::book::InvalidReason::ChecksumMismatch,
    }));
    assert!(out.contains(&Output::Resync {
        venue: Venue::Okx,
        instrument: BTC
    }));
    assert_eq!(
        h.e.book(Venue::Okx, BTC).invalid_reason(),
        Some(crate::book::InvalidReason::ChecksumMismatch)
    );
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Alert(a) if a.message.contains("checksum mismatch")))
    );
}
