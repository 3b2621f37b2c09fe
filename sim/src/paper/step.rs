//! What the exchange hands its drivers: steps of the latency queue, and the messages
//! that reach clients.

use crate::venue::InstanceId;
use propbot_engine::gateway::{MarketUpdate, Request, Response};
use propbot_engine::input::VenueEventKind;
use propbot_engine::model::Venue;
use propbot_engine::time::UnixNanos;
use std::ops::Range;

/// What reaches a client.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// Public market data (the fan-out feed).
    Market(MarketUpdate),
    /// A venue's answer or signal.
    Response(Response),
    /// The answer to a clock probe: the venue's clock when the probe arrived, and the
    /// client's local time when it left.
    Clock {
        /// Venue clock at the venue.
        venue_time: UnixNanos,
        /// Local time the probe left.
        sent_local: UnixNanos,
    },
}

/// A message reaching a client.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// The client.
    pub to: InstanceId,
    /// The connection it was sent on.
    pub session: u64,
    /// The venue it comes from.
    pub venue: Venue,
    /// What.
    pub message: Message,
}

impl Delivery {
    /// The message as a venue response, for a client whose clock reads `now` (a clock
    /// probe's answer becomes the sample its adapter would compute).
    pub fn into_response(self, now: UnixNanos) -> Response {
        match self.message {
            Message::Market(update) => Response::Market(update),
            Message::Response(response) => response,
            Message::Clock {
                venue_time,
                sent_local,
            } => {
                let rtt_ns = now.nanos_since(sent_local);
                let mid = sent_local.plus_nanos(rtt_ns / 2);
                Response::Venue(VenueEventKind::ClockSample {
                    offset_ns: venue_time.0 as i64 - mid.0 as i64,
                    rtt_ns,
                })
            }
        }
    }
}

/// One item of the latency queue carried out.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// When it was due.
    pub at: UnixNanos,
    /// Its tie-break number.
    pub sequence: u64,
    /// What happened.
    pub what: Stepped,
}

/// What a step did.
#[derive(Clone, Debug, PartialEq)]
pub enum Stepped {
    /// The market source published its next update (to its venue, then to every
    /// connected client); `gapped` deltas were lost on gapped links.
    Market {
        /// Deltas lost on gapped links.
        gapped: u32,
    },
    /// A request reached its venue; `accepted` indexes the venue's acceptances it
    /// added ([`SimVenue::accepted`]).
    Arrival {
        /// The venue.
        venue: Venue,
        /// The client that sent it.
        from: InstanceId,
        /// The request.
        request: Request,
        /// New acceptances.
        accepted: Range<usize>,
    },
    /// A message reached its client.
    Delivered(Delivery),
    /// A message meant for an earlier connection of its client, dropped.
    Stale(Delivery),
    /// A clock probe reached its venue (the answer is on its way back).
    Probe {
        /// The venue.
        venue: Venue,
        /// The client that sent it.
        from: InstanceId,
        /// The connection it was sent on.
        session: u64,
        /// Local time the probe left.
        sent_local: UnixNanos,
    },
    /// Venue housekeeping ran (dead-man switches).
    Tick,
    /// A venue's armed dead-man countdown came due.
    Deadline(Venue),
}
