//! The step trace: the kind of each step (hashed into the trace digest with its time
//! and sequence number) and a readable line per step for `--seed` replays.

use super::{Event, Msg};
use crate::paper::{Message, Stepped};
use propbot_engine::gateway::{MarketUpdate, Response};

/// Trace lines are cut to this many characters (execution reports excepted).
const LINE_CHARS_MAX: usize = 120;
/// Messages are cut to this many characters (execution reports excepted).
const MESSAGE_CHARS_MAX: usize = 160;

/// The kind of a world event, as the digest numbers it.
pub(super) fn event_kind(e: &Event) -> u8 {
    match e {
        Event::Deliver { .. } => 1,
        Event::LeaseArrival { .. } => 3,
        Event::EngineTimer { .. } => 5,
        Event::LeaseTimer { .. } => 6,
        Event::ProbeTimer { .. } => 7,
        Event::AdapterTimer { .. } => 8,
        Event::FaultStart(_) => 10,
        Event::FaultEnd(_) => 11,
        Event::Operator(..) => 12,
        Event::Restart(_) => 13,
        Event::Heal => 14,
        Event::FinalRecon => 15,
        Event::End => 16,
        Event::CrashNow(_) => 18,
        Event::LeaseResign { .. } => 19,
    }
}

/// The kind of an exchange step, numbered as the world's events were before the
/// exchange carried them (so digests stay comparable across that change).
pub(super) fn step_kind(s: &Stepped) -> u8 {
    match s {
        Stepped::Market { .. } => 0,
        Stepped::Delivered(_) | Stepped::Stale(_) => 1,
        Stepped::Arrival { .. } => 2,
        Stepped::Probe { .. } => 4,
        Stepped::Tick => 9,
        Stepped::Deadline(_) => 17,
    }
}

pub(super) fn describe(e: &Event) -> String {
    match e {
        Event::Deliver { to, msg, .. } => format!("deliver to #{to}: {}", describe_msg(msg)),
        Event::FaultStart(k) => format!("fault {k} starts"),
        Event::FaultEnd(k) => format!("fault {k} ends"),
        other => format!("{other:?}").chars().take(LINE_CHARS_MAX).collect(),
    }
}

pub(super) fn describe_step(s: &Stepped) -> String {
    match s {
        Stepped::Market { .. } => "Market".into(),
        Stepped::Arrival {
            venue,
            from,
            request,
            ..
        } => format!("{venue} receives from #{}: {request:?}", from.0),
        Stepped::Delivered(d) | Stepped::Stale(d) => {
            let msg = match &d.message {
                Message::Market(u) => describe_market(u),
                Message::Response(Response::Execution(r)) => format!("{} {r:?}", d.venue),
                Message::Response(r) => short(&format!("Venue({:?}, {r:?})", d.venue)),
                Message::Clock {
                    venue_time,
                    sent_local,
                } => short(&format!(
                    "Clock {{ venue: {:?}, venue_time: {venue_time:?}, sent_local: {sent_local:?} }}",
                    d.venue
                )),
            };
            format!("deliver to #{}: {msg}", d.to.0)
        }
        Stepped::Probe {
            venue,
            from,
            session,
            sent_local,
        } => format!(
            "ProbeArrival {{ venue: {venue:?}, from: {}, generation: {session}, sent_local: {sent_local:?} }}",
            from.0
        )
        .chars()
        .take(LINE_CHARS_MAX)
        .collect(),
        Stepped::Tick => "VenueTick".into(),
        Stepped::Deadline(venue) => format!("VenueDeadline({venue:?})"),
    }
}

fn describe_msg(m: &Msg) -> String {
    match m {
        Msg::Market(u) => describe_market(u),
        // Execution reports in full: their kind and quantities are what a reader needs.
        Msg::Venue(venue, Response::Execution(r)) => format!("{venue} {r:?}"),
        other => short(&format!("{other:?}")),
    }
}

fn describe_market(u: &MarketUpdate) -> String {
    let kind = match u {
        MarketUpdate::Snapshot { .. } => "snapshot",
        MarketUpdate::Delta { .. } => "delta",
        MarketUpdate::Trade { .. } => "trade",
    };
    format!("market {} {kind}", u.venue())
}

fn short(text: &str) -> String {
    text.chars().take(MESSAGE_CHARS_MAX).collect()
}
