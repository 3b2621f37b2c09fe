//! Each checker must be able to fail: feed it the violation it exists to catch.

use super::*;
use crate::disk::SimDisk;
use crate::venue::{Acceptance, InstanceId};
use propbot_engine::input::{Input, LeaseEvent};
use propbot_engine::model::{InstrumentId, Price, Qty, Side, TimeInForce};
use propbot_engine::output::{JournalRecord, OrderPurpose};
use propbot_engine::{Config, Profile, RecoveredState};

fn request(epoch: u32, sequence: u64) -> OrderRequest {
    OrderRequest {
        client_order_id: ClientOrderId { epoch, sequence },
        venue: Venue::Binance,
        instrument: InstrumentId(0),
        side: Side::Buy,
        price: Price::from_raw(600_000),
        qty: Qty::from_raw(10),
        time_in_force: TimeInForce::Ioc,
        reduce_only: false,
        expires_at: UnixNanos(u64::MAX),
        purpose: OrderPurpose::Entry,
        dry_run: true,
    }
}

fn disk_with_intent(r: &OrderRequest) -> SimDisk {
    let mut d = SimDisk::default();
    d.append(JournalRecord {
        sequence: 1,
        ts: UnixNanos(1),
        epoch: r.client_order_id.epoch,
        event: JournalEvent::OrderIntent(*r),
    })
    .unwrap();
    d.sync();
    d
}

fn accept<'a>(r: OrderRequest, disk: &'a SimDisk) -> AcceptView<'a> {
    AcceptView {
        venue: Venue::Binance,
        acceptance: Acceptance {
            client_order_id: r.client_order_id,
            owner: InstanceId(0),
            at: UnixNanos(5),
            request: r,
        },
        owner_disk: disk,
        now: UnixNanos(5),
    }
}

fn engine() -> Engine {
    let config = Config::embedded(Profile::Paper);
    let recovered = RecoveredState::empty(&config);
    Engine::new(config, recovered)
}

fn send<'a>(
    r: &'a OrderRequest,
    engine: &'a Engine,
    disk: &'a SimDisk,
    mode: Mode,
    sent_before: bool,
) -> SendView<'a> {
    SendView {
        instance: 0,
        request: r,
        place: true,
        mode,
        engine,
        disk,
        sent_before,
        now: UnixNanos(5),
    }
}

#[test]
fn split_brain_catches_an_older_epoch_after_a_newer_one() {
    let mut c = i02_split_brain::SplitBrain::default();
    let d = SimDisk::default();
    assert!(c.on_accept(&accept(request(2, 1), &d)).is_ok());
    assert!(c.on_accept(&accept(request(3, 1), &d)).is_ok());
    let e = c.on_accept(&accept(request(2, 2), &d)).unwrap_err();
    assert!(e.contains("epoch 2"), "{e}");
}

#[test]
fn exactly_once_catches_a_repeat_and_a_missing_intent() {
    let mut c = i03_exactly_once::ExactlyOnce::default();
    let r = request(1, 1);
    let d = disk_with_intent(&r);
    assert!(c.on_accept(&accept(r, &d)).is_ok());
    assert!(c.on_accept(&accept(r, &d)).unwrap_err().contains("twice"));
    let other = request(1, 2);
    assert!(
        c.on_accept(&accept(other, &d))
            .unwrap_err()
            .contains("no durable journal intent")
    );
}

#[test]
fn write_ahead_catches_an_order_sent_before_its_intent_is_durable() {
    let mut c = i04_write_ahead::WriteAhead::default();
    let e = engine();
    let r = request(1, 1);
    let mut d = SimDisk::default();
    d.append(JournalRecord {
        sequence: 1,
        ts: UnixNanos(1),
        epoch: 1,
        event: JournalEvent::OrderIntent(r),
    })
    .unwrap();
    assert!(
        c.on_send(&send(&r, &e, &d, Mode::Run, false)).is_err(),
        "appended but not synced"
    );
    d.sync();
    assert!(c.on_send(&send(&r, &e, &d, Mode::Run, false)).is_ok());
}

#[test]
fn hold_on_start_catches_an_order_before_reconciliation() {
    let mut c = i07_hold_on_start::HoldOnStart;
    let e = engine();
    let r = request(1, 1);
    let d = disk_with_intent(&r);
    assert!(
        c.on_send(&send(&r, &e, &d, Mode::Run, false))
            .unwrap_err()
            .contains("before reconciling")
    );
}

#[test]
fn resending_an_id_and_placing_in_hold_are_caught() {
    let e = engine();
    let r = request(1, 1);
    let d = disk_with_intent(&r);
    assert!(
        i08_unknown_not_resent::NotResent
            .on_send(&send(&r, &e, &d, Mode::Run, true))
            .is_err()
    );
    assert!(
        i12_no_order_in_hold::NoOrderInHold
            .on_send(&send(&r, &e, &d, Mode::Hold, false))
            .is_err()
    );
    let mut flatten = send(&r, &e, &d, Mode::Hold, false);
    flatten.place = false;
    assert!(
        i12_no_order_in_hold::NoOrderInHold
            .on_send(&flatten)
            .unwrap_err()
            .contains("not reduce-only")
    );
}

#[test]
fn a_decision_on_an_invalid_book_is_caught() {
    let e = engine(); // its books await their first snapshot
    let r = request(1, 1);
    let d = disk_with_intent(&r);
    assert!(
        i10_valid_books::ValidBooks
            .on_send(&send(&r, &e, &d, Mode::Run, false))
            .unwrap_err()
            .contains("invalid")
    );
}

#[test]
fn rpo_catches_a_recovery_that_lost_synced_records() {
    let mut c = i05_rpo::Rpo::default();
    let text =
        "name: t\ndescription: t\nworld: { instances: 1, duration_ms: 1000, heal_ms: 1000 }\n";
    let s = crate::scenario::Scenario::from_yaml("t", text).unwrap();
    let mut w = crate::world::World::new(&s, 1, vec![]);
    for _ in 0..50 {
        w.step();
    }
    c.after_step(&w).unwrap();
    let synced = w.instances[0].disk.synced_through;
    assert!(synced > 0);
    assert!(
        c.on_recover(0, synced - 1, &SimDisk::default())
            .unwrap_err()
            .contains("were synced")
    );
}

#[test]
fn journal_integrity_catches_a_sequence_break() {
    let mut c = i06_journal_integrity::JournalIntegrity::default();
    let text =
        "name: t\ndescription: t\nworld: { instances: 1, duration_ms: 1000, heal_ms: 1000 }\n";
    let s = crate::scenario::Scenario::from_yaml("t", text).unwrap();
    let mut w = crate::world::World::new(&s, 1, vec![]);
    for _ in 0..20 {
        w.step();
    }
    assert!(c.after_step(&w).is_ok());
    let bogus = JournalRecord {
        sequence: 999,
        ts: UnixNanos(1),
        epoch: 1,
        event: JournalEvent::LeaseAcquired { epoch: 1 },
    };
    w.instances[0].disk.append(bogus).unwrap();
    w.instances[0].disk.sync();
    assert!(c.after_step(&w).unwrap_err().contains("sequence 999"));
}

#[test]
fn two_leaders_are_caught() {
    let text =
        "name: t\ndescription: t\nworld: { instances: 2, duration_ms: 1000, heal_ms: 1000 }\n";
    let s = crate::scenario::Scenario::from_yaml("t", text).unwrap();
    let mut w = crate::world::World::new(&s, 1, vec![]);
    let now = w.now;
    for i in &mut w.instances {
        let e = i.engine.as_mut().unwrap();
        e.handle(
            now,
            Input::Lease(LeaseEvent::Granted {
                epoch: 5,
                requested_at: now,
                ttl_ns: 10_000 * propbot_engine::time::NANOS_PER_MILLI,
            }),
        );
    }
    assert!(
        i01_single_leader::SingleLeader
            .after_step(&w)
            .unwrap_err()
            .contains("2 instances")
    );
}

fn unwinding_pair(net: i64, escalated: bool) -> propbot_engine::strategy::PairState {
    use propbot_engine::strategy::{PairSpec, PairState, Unwind};
    let config = Config::embedded(Profile::Paper);
    let spec = PairSpec::new(&config, InstrumentId(0), [Venue::Binance, Venue::Okx]);
    let mut pair = PairState::new(spec, config.strategy.execution);
    pair.naked_qty = Qty::from_raw(net);
    pair.unwind = Some(Unwind {
        since: UnixNanos(0),
        attempts: 0,
        next_attempt_at: UnixNanos(0),
        net_at_attempt: net.abs(),
        blocked: Some(propbot_engine::strategy::UnwindBlocked::BelowMinimum),
        escalated,
    });
    pair
}

/// Feeds the checker one observation per 100 ms for `seconds`.
fn observe_unwind(
    c: &mut unwind::UnwindBound,
    pair: &propbot_engine::strategy::PairState,
    seconds: u64,
    excuse: Option<&'static str>,
) -> Result<(), String> {
    for step in 0..=seconds * 10 {
        let now = UnixNanos(step * 100 * propbot_engine::time::NANOS_PER_MILLI);
        c.observe(&unwind::Observation {
            instance: 0,
            generation: 1,
            now,
            engine_now: now,
            pair,
            excuse,
        })?;
    }
    Ok(())
}

#[test]
fn an_unwind_that_never_happens_is_caught() {
    let config = Config::embedded(Profile::Paper);
    let deadline_s = propbot_engine::engine::unwind_deadline_ns(&config) / 1_000_000_000;
    // at-p0-runaway seed 3109: announced, escalated even, but nothing stood in its way.
    let mut c = unwind::UnwindBound::new(&config);
    let err = observe_unwind(&mut c, &unwinding_pair(9, true), deadline_s + 1, None).unwrap_err();
    assert!(err.contains("stayed naked"), "{err}");
    // Past the deadline without escalating, even with a venue down: waiting silently.
    let mut c = unwind::UnwindBound::new(&config);
    let err = observe_unwind(
        &mut c,
        &unwinding_pair(9, false),
        deadline_s + 1,
        Some("venue unreachable"),
    )
    .unwrap_err();
    assert!(err.contains("not escalated"), "{err}");
    // The same with the venue down and the engine escalated is what should happen.
    let mut c = unwind::UnwindBound::new(&config);
    assert!(
        observe_unwind(
            &mut c,
            &unwinding_pair(9, true),
            deadline_s + 1,
            Some("venue unreachable")
        )
        .is_ok()
    );
    // Below dust, or within the deadline, nothing is wrong.
    let mut c = unwind::UnwindBound::new(&config);
    assert!(observe_unwind(&mut c, &unwinding_pair(0, false), deadline_s + 1, None).is_ok());
    let mut c = unwind::UnwindBound::new(&config);
    assert!(observe_unwind(&mut c, &unwinding_pair(9, false), deadline_s - 1, None).is_ok());
}

#[test]
fn positions_and_rates_catch_a_route_over_the_runaway_limit() {
    let config = Config::embedded(Profile::Paper);
    let limit = config.guards.runaway_place_per_min;
    let mut c = i09_positions_and_rates::PositionsAndRates::new(&config);
    let disk = SimDisk::default();
    for k in 0..u64::from(limit) {
        assert!(c.on_accept(&accept(request(1, k + 1), &disk)).is_ok());
    }
    let err = c
        .on_accept(&accept(request(1, u64::from(limit) + 1), &disk))
        .unwrap_err();
    assert!(err.contains("in a minute on one route"), "{err}");
    // Reduce-only flattens and unwinds are never throttled by the checker.
    let mut flatten = request(1, u64::from(limit) + 2);
    flatten.purpose = OrderPurpose::Flatten;
    assert!(c.on_accept(&accept(flatten, &disk)).is_ok());
}

/// A world of one instance, stepped until it leads.
fn world_with_a_leader() -> crate::world::World {
    let text =
        "name: t\ndescription: t\nworld: { instances: 1, duration_ms: 60000, heal_ms: 1000 }\n";
    let s = crate::scenario::Scenario::from_yaml("t", text).unwrap();
    let mut w = crate::world::World::new(&s, 1, vec![]);
    for _ in 0..100_000 {
        if w.leader().is_some() {
            return w;
        }
        w.step();
    }
    panic!("no leader after 100,000 steps");
}

#[test]
fn deadman_catches_resting_orders_without_an_armed_switch() {
    use crate::venue::InstanceId;
    use propbot_engine::gateway::Request;
    let mut w = world_with_a_leader();
    let leader = w.leader().unwrap();
    let now = w.now;
    let mut r = request(1, 999_999);
    r.time_in_force = TimeInForce::Gtc;
    r.price = Price::from_raw(300_000);
    r.expires_at = now.plus_millis(60_000);
    w.exchange
        .venue_mut(Venue::Binance)
        .submit(now, InstanceId(leader), Request::Place(r));
    // The switch lapses (armed with a zero countdown) while the order rests.
    w.exchange.venue_mut(Venue::Binance).submit(
        now,
        InstanceId(leader),
        Request::ArmDeadman { timeout_ns: 0 },
    );
    w.now = now.plus_millis(1_000);
    let err = i11_deadman::Deadman.after_step(&w).unwrap_err();
    assert!(err.contains("no armed dead-man switch"), "{err}");
}

#[test]
fn liveness_catches_a_world_with_no_leader_or_stale_books() {
    let text =
        "name: t\ndescription: t\nworld: { instances: 1, duration_ms: 1000, heal_ms: 1000 }\n";
    let s = crate::scenario::Scenario::from_yaml("t", text).unwrap();
    let w = crate::world::World::new(&s, 1, vec![]);
    let err = liveness::Liveness.at_end(&w).unwrap_err();
    assert!(err.contains("no instance is active"), "{err}");
    // A leader whose book was invalidated and never resynced.
    let mut w = world_with_a_leader();
    let leader = w.leader().unwrap();
    let e = w.instances[leader as usize].engine.as_mut().unwrap();
    let now = e.now();
    e.handle(
        now,
        Input::Venue(propbot_engine::input::VenueEvent {
            venue: Venue::Binance,
            kind: propbot_engine::input::VenueEventKind::Disconnected { clean: false },
        }),
    );
    let err = liveness::Liveness.at_end(&w).unwrap_err();
    assert!(err.contains("book not resynced"), "{err}");
}
