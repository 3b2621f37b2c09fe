//! Boot, HOLD/RUN, the two-man rule, kill, config apply, the journal.

use super::*;

#[test]
fn boots_in_hold_with_safe_mode_and_journals_the_start() {
    let h = Harness::new();
    assert_eq!(h.e.control().mode, Mode::Hold);
    assert!(h.e.control().safe_mode);
    assert!(matches!(journal(&h.out)[0], JournalEvent::Started { .. }));
    let s = h.e.status(h.now);
    assert_eq!(s.overall, crate::guards::GuardLevel::Hold);
}

#[test]
fn resume_refuses_until_everything_is_ready() {
    let mut h = Harness::new();
    let r = h.resume();
    let err = r.result.unwrap_err();
    assert_eq!(err.code, RefusalCode::Blocked);
    assert!(err.message.contains("not the leader"), "{}", err.message);
    assert!(err.message.contains("not reconciled"), "{}", err.message);
    h.ready();
    let r = h.resume();
    assert!(r.result.is_ok(), "{r:?}");
    assert_eq!(h.e.control().mode, Mode::Run);
    assert!(
        !h.e.control().safe_mode,
        "paper keeps safe mode off after resume"
    );
}

#[test]
fn the_same_actor_cannot_confirm_its_own_resume() {
    let mut h = Harness::new();
    h.ready();
    let r = h.operator(
        "alice",
        OperatorAction::ResumeRequest {
            reason: "go".into(),
        },
    );
    let id = r.result.unwrap().request_id.unwrap();
    let c = h.operator(
        "alice",
        OperatorAction::ResumeConfirm {
            request_id: id,
            token: TOKEN.into(),
        },
    );
    assert_eq!(c.result.unwrap_err().code, RefusalCode::SameActor);
    let c = h.operator(
        "bob",
        OperatorAction::ResumeConfirm {
            request_id: id,
            token: "guess".into(),
        },
    );
    assert_eq!(c.result.unwrap_err().code, RefusalCode::BadToken);
    let r = h.operator("alice", OperatorAction::Resume);
    assert_eq!(r.result.unwrap_err().code, RefusalCode::NotApproved);
    assert_eq!(h.e.control().mode, Mode::Hold);
    // Every step is journaled, and the token never is.
    let steps: Vec<_> = journal(&h.out)
        .into_iter()
        .filter(|e| matches!(e, JournalEvent::Approval { .. }))
        .collect();
    assert_eq!(steps.len(), 3);
    assert!(!format!("{:?}", h.out).contains("approve-me"));
}

#[test]
fn kill_switch_needs_two_operators_then_cancels_and_flattens() {
    let mut h = Harness::new();
    h.ready();
    h.resume();
    let legs = places(&open_arbitrage(&mut h));
    h.fill(&legs[0], 10, 600_000);
    h.fill(&legs[1], 10, 600_800);
    let r = h.operator(
        "alice",
        OperatorAction::KillRequest {
            reason: "incident".into(),
        },
    );
    let id = r.result.unwrap().request_id.unwrap();
    let r = h.operator(
        "alice",
        OperatorAction::KillConfirm {
            request_id: id,
            token: TOKEN.into(),
        },
    );
    assert_eq!(r.result.unwrap_err().code, RefusalCode::SameActor);
    let before = h.out.len();
    let r = h.operator(
        "bob",
        OperatorAction::KillConfirm {
            request_id: id,
            token: TOKEN.into(),
        },
    );
    assert!(r.result.is_ok());
    let out = &h.out[before..];
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Output::CancelAll { .. }))
            .count(),
        2
    );
    assert_eq!(flattens(out).len(), 2);
    assert_eq!(h.e.control().mode, Mode::Hold);
}

#[test]
fn config_apply_hot_swaps_thresholds_and_refuses_incompatible_changes() {
    let mut h = Harness::new();
    let mut next = Config::embedded(Profile::Paper);
    next.guards.clock_skew_guard_ns = 50 * MS;
    let r = h.operator(
        "ops",
        OperatorAction::ConfigApply {
            config: Box::new(next.clone()),
            version: 2,
        },
    );
    assert!(r.result.is_ok(), "{r:?}");
    let out = h.venue(
        Venue::Binance,
        VenueEventKind::ClockSample {
            offset_ns: 60 * MS as i64,
            rtt_ns: MS,
        },
    );
    assert!(
        tripped(&out, crate::guards::GuardId::ClockSkew),
        "the new 50 ms limit applies"
    );
    next.instruments.pop();
    let r = h.operator(
        "ops",
        OperatorAction::ConfigApply {
            config: Box::new(next),
            version: 3,
        },
    );
    assert_eq!(r.result.unwrap_err().code, RefusalCode::InvalidConfig);
}

#[test]
fn holding_cancels_resting_orders() {
    let mut config = Config::embedded(Profile::Paper);
    config.strategy.execution = crate::config::ExecutionStyle::MakerFirst;
    let mut h = Harness::with(config);
    h.ready();
    h.resume();
    h.quote(Venue::Binance, 600_000, 100, 600_010, 100);
    let maker = places(&h.quote(Venue::Okx, 600_800, 100, 600_810, 100));
    assert_eq!(maker.len(), 1);
    let before = h.out.len();
    let r = h.operator(
        "ops",
        OperatorAction::Hold {
            reason: "lunch".into(),
        },
    );
    assert!(r.result.is_ok());
    assert!(h.out[before..].iter().any(|o| matches!(o, Output::Cancel { client_order_id, .. } if *client_order_id == maker[0].client_order_id)));
}

#[test]
#[should_panic(expected = "driver committed records the engine never emitted")]
fn a_driver_that_commits_records_never_emitted_is_an_engine_stop() {
    let mut h = Harness::new();
    h.feed(Input::System(SystemEvent::JournalCommitted {
        through: 1_000_000,
        latency_ns: 1,
    }));
}

#[test]
fn a_failed_journal_holds_and_the_engine_stays_consistent() {
    let mut h = Harness::new();
    h.feed(Input::System(SystemEvent::JournalFailed));
    // The invariant check after every input (RUN never with a failed journal) passes
    // through timers and a refused resume alike.
    h.advance(5_000);
    assert_eq!(h.e.control().mode, Mode::Hold);
    assert!(
        h.e.resume_blockers(h.now)
            .iter()
            .any(|b| b.contains("journal write failed"))
    );
}
