//! Property tests over random sessions and the determinism digest.

use super::*;

/// Random inputs for property tests.
#[derive(Clone, Debug)]
enum Step {
    Quote(bool, i64, i64),
    Gap(bool),
    FillAll(i64),
    CancelAll,
    Hold,
    Resume,
    Skew(i64),
    Disconnect(bool),
    Connect(bool),
    Wait(u64),
    Ban(bool),
    Lease(bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (any::<bool>(), -1_500i64..1_500, 1i64..200).prop_map(|(v, d, q)| Step::Quote(v, d, q)),
        1 => any::<bool>().prop_map(Step::Gap),
        3 => (0i64..3).prop_map(Step::FillAll),
        2 => Just(Step::CancelAll),
        1 => Just(Step::Hold),
        2 => Just(Step::Resume),
        1 => (-400i64..400).prop_map(Step::Skew),
        1 => any::<bool>().prop_map(Step::Disconnect),
        1 => any::<bool>().prop_map(Step::Connect),
        2 => (1u64..4_000).prop_map(Step::Wait),
        1 => any::<bool>().prop_map(Step::Ban),
        1 => any::<bool>().prop_map(Step::Lease),
    ]
}

fn venue_of(b: bool) -> Venue {
    if b { Venue::Binance } else { Venue::Okx }
}

/// Runs a random session and returns every output.
fn run_session(steps: &[Step]) -> (Vec<Output>, [u8; 32]) {
    let mut h = Harness::new();
    h.ready();
    h.resume();
    let mut working: Vec<OrderRequest> = Vec::new();
    for s in steps {
        let out = match s {
            Step::Quote(v, d, q) => {
                let mid = 600_000 + d;
                h.quote(venue_of(*v), mid - 5, *q, mid + 5, *q)
            }
            Step::Gap(v) => {
                h.seq[venue_of(*v).index()] += 3;
                h.delta(venue_of(*v), &[], &[])
            }
            Step::FillAll(mode) => {
                let mut out = Vec::new();
                for o in working.drain(..) {
                    let q = match mode {
                        0 => o.qty.raw(),
                        1 => (o.qty.raw() / 2).max(1),
                        _ => 0,
                    };
                    if q > 0 {
                        out.extend(h.fill(&o, q, o.price.raw()));
                    }
                    out.extend(h.report(
                        &o,
                        ExecutionKind::Cancelled {
                            reason: CancelReason::IocExpired,
                        },
                    ));
                }
                out
            }
            Step::CancelAll => {
                let mut out = Vec::new();
                for o in working.drain(..) {
                    out.extend(h.report(
                        &o,
                        ExecutionKind::Rejected {
                            reason: RejectReason::Other,
                        },
                    ));
                }
                out
            }
            Step::Hold => {
                h.operator(
                    "ops",
                    OperatorAction::Hold {
                        reason: "test".into(),
                    },
                );
                vec![]
            }
            Step::Resume => {
                h.keep_alive();
                h.resume();
                vec![]
            }
            Step::Skew(ms) => h.venue(
                Venue::Binance,
                VenueEventKind::ClockSample {
                    offset_ns: ms * MS as i64,
                    rtt_ns: MS,
                },
            ),
            Step::Disconnect(v) => {
                h.venue(venue_of(*v), VenueEventKind::Disconnected { clean: true })
            }
            Step::Connect(v) => {
                let mut out = h.venue(venue_of(*v), VenueEventKind::Connected);
                out.extend(h.venue(venue_of(*v), VenueEventKind::CancelAllDone { ok: true }));
                out
            }
            Step::Wait(ms) => h.advance(*ms),
            Step::Ban(v) => h.venue(
                venue_of(*v),
                VenueEventKind::Banned {
                    until: h.now.plus_millis(1_000),
                },
            ),
            Step::Lease(keep) => {
                if *keep {
                    h.feed(Input::Lease(LeaseEvent::Granted {
                        epoch: 7,
                        requested_at: h.now,
                        ttl_ns: 3_600_000 * NANOS_PER_MILLI,
                    }))
                } else {
                    h.feed(Input::Lease(LeaseEvent::Lost))
                }
            }
        };
        for o in out {
            if let Output::Place(r) | Output::Flatten(r) = o {
                working.push(r);
            }
        }
    }
    (h.out.clone(), h.e.digest())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Invariant 12: no `Place` while in HOLD. The output stream is ordered, so the
    /// mode at each output is the mode set by the last `Control` journal record.
    #[test]
    fn no_place_is_ever_emitted_in_hold(steps in prop::collection::vec(step(), 1..80)) {
        let (out, _) = run_session(&steps);
        let mut mode = Mode::Hold;
        for o in &out {
            match o {
                Output::Journal(JournalRecord { event: JournalEvent::Control { to, .. }, .. }) => mode = *to,
                Output::Place(r) => prop_assert_eq!(mode, Mode::Run, "Place {:?} in HOLD", r.client_order_id),
                Output::Flatten(r) => prop_assert!(r.reduce_only),
                _ => {}
            }
        }
    }

    /// Determinism: the same inputs give the same outputs and the same digest.
    #[test]
    fn same_inputs_same_outputs_and_digest(steps in prop::collection::vec(step(), 1..60)) {
        let (a, da) = run_session(&steps);
        let (b, db) = run_session(&steps);
        prop_assert_eq!(da, db);
        prop_assert_eq!(a, b);
    }

    /// Every order's intent is journaled before the order leaves, and client order ids
    /// never repeat.
    #[test]
    fn write_ahead_and_unique_ids(steps in prop::collection::vec(step(), 1..60)) {
        let (out, _) = run_session(&steps);
        let mut intents = std::collections::BTreeSet::new();
        let mut sent = std::collections::BTreeSet::new();
        for o in &out {
            match o {
                Output::Journal(JournalRecord { event: JournalEvent::OrderIntent(r), .. }) => { intents.insert(r.client_order_id); }
                Output::Place(r) | Output::Flatten(r) => {
                    prop_assert!(intents.contains(&r.client_order_id), "order before its intent");
                    prop_assert!(sent.insert(r.client_order_id), "client order id reused");
                }
                _ => {}
            }
        }
    }
}

#[test]
fn determinism_digest_is_stable_twice_in_one_run() {
    let steps: Vec<Step> = (0..200)
        .map(|i| match i % 7 {
            0 => Step::Quote(true, -500 + i, 50),
            1 => Step::Quote(false, 900 - i, 60),
            2 => Step::FillAll(i % 3),
            3 => Step::Wait(250),
            4 => Step::Quote(true, i, 10),
            5 => Step::Resume,
            _ => Step::Quote(false, -i, 70),
        })
        .collect();
    let (a, da) = run_session(&steps);
    let (b, db) = run_session(&steps);
    assert_eq!(da, db);
    assert_eq!(a.len(), b.len());
    assert!(places(&a).len() >= 2, "the session trades");
}
