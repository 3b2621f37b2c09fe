//! System Status components and their alerts.

use super::*;

#[test]
fn status_has_twenty_real_components_in_four_groups() {
    let mut h = Harness::new();
    h.ready();
    let s = h.e.status(h.now);
    assert!(s.components.len() >= 20, "{}", s.components.len());
    let mut ids: Vec<_> = s.components.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), s.components.len(), "ids are unique");
    for g in super::Group::ALL {
        assert!(
            s.components.iter().any(|c| c.group == g),
            "group {g:?} has components"
        );
    }
    assert_eq!(s.scores.len(), 4);
    assert!(s.scores.iter().all(|g| (0.0..=1.0).contains(&g.score)));
    // Components move with the engine: a skew sample turns clock_skew to HOLD.
    h.venue(
        Venue::Okx,
        VenueEventKind::ClockSample {
            offset_ns: 300 * MS as i64,
            rtt_ns: MS,
        },
    );
    let s = h.e.status(h.now);
    let c = s.components.iter().find(|c| c.id == "clock_skew").unwrap();
    assert_eq!(c.status, crate::guards::GuardLevel::Hold);
}

#[test]
fn a_component_degraded_for_five_minutes_raises_an_alert() {
    let mut h = Harness::new();
    h.ready();
    h.resume();
    // OKX goes quiet: the stream component degrades, and after five minutes an alert.
    let mut alerted = false;
    for _ in 0..7 {
        let out = h.advance(60_000);
        h.venue(
            Venue::Binance,
            VenueEventKind::ClockSample {
                offset_ns: 0,
                rtt_ns: MS,
            },
        );
        h.venue(
            Venue::Okx,
            VenueEventKind::ClockSample {
                offset_ns: 0,
                rtt_ns: MS,
            },
        );
        h.quote(Venue::Binance, 600_000, 100, 600_010, 100);
        alerted |= out
            .iter()
            .any(|o| matches!(o, Output::Alert(a) if a.code == "stream_degraded"));
    }
    assert!(alerted);
    let s = h.e.status(h.now);
    assert!(s.alerts.iter().any(|a| a.component_id == "stream"));
}
