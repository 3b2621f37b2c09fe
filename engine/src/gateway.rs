//! The venue boundary: what crosses between the engine's outputs and a venue, in one
//! place that the paper exchange and the live adapters both speak.
//!
//! - [`Request`]: what a driver asks a venue for (made from an engine [`Output`] by
//!   [`Request::for_output`]);
//! - [`Response`]: what comes back (execution reports, connection and clock signals,
//!   reconciliation snapshots, market data), turned into an engine [`Input`] by
//!   [`Response::as_input`];
//! - [`MarketUpdate`]: one owned market-data message;
//! - [`VenueGateway`]: the sans-IO contract a venue implementation offers a driver.
//!
//! Architecture invariant: nothing here does IO or reads a clock; the production
//! driver names these types and never a simulator's.

use crate::book::Sequence;
use crate::input::{
    ExecutionReport, Input, MarketEvent, ReconSnapshot, VenueEvent, VenueEventKind,
};
use crate::model::{ClientOrderId, InstrumentId, Level, Price, Qty, Side, Venue};
use crate::output::{OrderRequest, Output};
use crate::time::UnixNanos;

/// A venue as a driver sees it: requests in, responses out, all stamped with the
/// driver's clock. The paper exchange implements it over simulated venues and a market
/// source; the live adapters over sockets (their IO runs elsewhere and hands results
/// in). A driver submits every venue-bound output, then, until `poll_timeout`, takes
/// what `poll_response` yields and hands each to the engine with
/// [`Response::as_input`].
pub trait VenueGateway {
    /// Hands a request for `venue` to the gateway at `now`.
    fn submit(&mut self, now: UnixNanos, venue: Venue, request: Request);
    /// The next response due at or before `now`, with the venue it comes from.
    fn poll_response(&mut self, now: UnixNanos) -> Option<(Venue, Response)>;
    /// When the next response is due (`None`: nothing scheduled).
    fn poll_timeout(&self) -> Option<UnixNanos>;
}

/// A request from an engine driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// New order.
    Place(OrderRequest),
    /// Cancel one order.
    Cancel {
        /// Instrument.
        instrument: InstrumentId,
        /// Client order id.
        client_order_id: ClientOrderId,
    },
    /// Cancel every open order.
    CancelAll,
    /// Look an order up.
    Query {
        /// Instrument.
        instrument: InstrumentId,
        /// Client order id.
        client_order_id: ClientOrderId,
    },
    /// Arm the dead-man switch.
    ArmDeadman {
        /// Countdown, ns.
        timeout_ns: u64,
    },
    /// Open orders, positions and fills.
    Reconcile,
    /// A fresh book snapshot.
    Resync {
        /// Instrument.
        instrument: InstrumentId,
    },
}

impl Request {
    /// The venue request an engine output asks for, with its venue; `None` for outputs
    /// that do not go to a venue (journal, alerts, replies, lease).
    pub fn for_output(output: Output) -> Option<(Venue, Request)> {
        Some(match output {
            Output::Place(o) | Output::Flatten(o) => (o.venue, Request::Place(o)),
            Output::Cancel {
                venue,
                instrument,
                client_order_id,
            } => (
                venue,
                Request::Cancel {
                    instrument,
                    client_order_id,
                },
            ),
            Output::CancelAll { venue, .. } => (venue, Request::CancelAll),
            Output::QueryOrder {
                venue,
                instrument,
                client_order_id,
            } => (
                venue,
                Request::Query {
                    instrument,
                    client_order_id,
                },
            ),
            Output::ArmDeadman { venue, timeout_ns } => (venue, Request::ArmDeadman { timeout_ns }),
            Output::Resync { venue, instrument } => (venue, Request::Resync { instrument }),
            Output::Reconcile { venue } => (venue, Request::Reconcile),
            Output::Journal(_)
            | Output::Alert(_)
            | Output::Reply(_)
            | Output::ReleaseLease { .. } => {
                return None;
            }
        })
    }
}

/// What the venue sends back, to one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// An execution report.
    Execution(ExecutionReport),
    /// A venue signal.
    Venue(VenueEventKind),
    /// A reconciliation snapshot.
    Reconciliation(ReconSnapshot),
    /// A book snapshot (answer to a resync).
    Market(MarketUpdate),
}

impl Response {
    /// The response as an engine input (borrowing its levels and snapshot): the one
    /// response-to-input mapping every driver uses.
    pub fn as_input(&self, venue: Venue) -> Input<'_> {
        match self {
            Response::Execution(r) => Input::Execution(*r),
            Response::Venue(kind) => Input::Venue(VenueEvent { venue, kind: *kind }),
            Response::Reconciliation(snap) => Input::Reconciliation(snap),
            Response::Market(u) => u.as_input(),
        }
    }
}

/// One market update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MarketUpdate {
    /// A full book.
    Snapshot {
        /// Venue.
        venue: Venue,
        /// Instrument.
        instrument: InstrumentId,
        /// Last update id included.
        last: u64,
        /// Bids, best first.
        bids: Vec<Level>,
        /// Asks, best first.
        asks: Vec<Level>,
        /// Venue timestamp.
        ts: UnixNanos,
    },
    /// Changed levels.
    Delta {
        /// Venue.
        venue: Venue,
        /// Instrument.
        instrument: InstrumentId,
        /// Continuity fields in the venue's convention.
        sequence: Sequence,
        /// Changed bids (zero deletes).
        bids: Vec<Level>,
        /// Changed asks (zero deletes).
        asks: Vec<Level>,
        /// Venue timestamp.
        ts: UnixNanos,
    },
    /// A public trade.
    Trade {
        /// Venue.
        venue: Venue,
        /// Instrument.
        instrument: InstrumentId,
        /// Price.
        price: Price,
        /// Quantity.
        qty: Qty,
        /// Aggressor side.
        aggressor: Side,
        /// Venue timestamp.
        ts: UnixNanos,
    },
}

impl MarketUpdate {
    /// Venue of the update.
    pub fn venue(&self) -> Venue {
        match self {
            MarketUpdate::Snapshot { venue, .. }
            | MarketUpdate::Delta { venue, .. }
            | MarketUpdate::Trade { venue, .. } => *venue,
        }
    }

    /// Instrument of the update.
    pub fn instrument(&self) -> InstrumentId {
        match self {
            MarketUpdate::Snapshot { instrument, .. }
            | MarketUpdate::Delta { instrument, .. }
            | MarketUpdate::Trade { instrument, .. } => *instrument,
        }
    }

    /// An owned copy of a market event a venue model can apply (a book or a trade);
    /// `None` for best bid/offer and invalidations, which change no venue book.
    pub fn from_event(event: &MarketEvent<'_>) -> Option<MarketUpdate> {
        Some(match *event {
            MarketEvent::Snapshot {
                venue,
                instrument,
                last,
                bids,
                asks,
                ts_exchange,
            } => MarketUpdate::Snapshot {
                venue,
                instrument,
                last,
                bids: bids.to_vec(),
                asks: asks.to_vec(),
                ts: ts_exchange,
            },
            MarketEvent::Delta {
                venue,
                instrument,
                sequence,
                bids,
                asks,
                ts_exchange,
            } => MarketUpdate::Delta {
                venue,
                instrument,
                sequence,
                bids: bids.to_vec(),
                asks: asks.to_vec(),
                ts: ts_exchange,
            },
            MarketEvent::Trade {
                venue,
                instrument,
                price,
                qty,
                aggressor,
                ts_exchange,
            } => MarketUpdate::Trade {
                venue,
                instrument,
                price,
                qty,
                aggressor,
                ts: ts_exchange,
            },
            MarketEvent::Bbo { .. } | MarketEvent::BookInvalid { .. } => return None,
        })
    }

    /// The update as an engine input (borrowing its levels).
    pub fn as_input(&self) -> Input<'_> {
        Input::Market(match self {
            MarketUpdate::Snapshot {
                venue,
                instrument,
                last,
                bids,
                asks,
                ts,
            } => MarketEvent::Snapshot {
                venue: *venue,
                instrument: *instrument,
                last: *last,
                bids,
                asks,
                ts_exchange: *ts,
            },
            MarketUpdate::Delta {
                venue,
                instrument,
                sequence,
                bids,
                asks,
                ts,
            } => MarketEvent::Delta {
                venue: *venue,
                instrument: *instrument,
                sequence: *sequence,
                bids,
                asks,
                ts_exchange: *ts,
            },
            MarketUpdate::Trade {
                venue,
                instrument,
                price,
                qty,
                aggressor,
                ts,
            } => MarketEvent::Trade {
                venue: *venue,
                instrument: *instrument,
                price: *price,
                qty: *qty,
                aggressor: *aggressor,
                ts_exchange: *ts,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn market_updates_survive_the_trip_through_an_event() {
        let level = |p, q| Level {
            price: Price::from_raw(p),
            qty: Qty::from_raw(q),
        };
        let updates = [
            MarketUpdate::Snapshot {
                venue: Venue::Okx,
                instrument: InstrumentId(1),
                last: 7,
                bids: vec![level(99, 1)],
                asks: vec![level(101, 2)],
                ts: UnixNanos::from_secs(3),
            },
            MarketUpdate::Delta {
                venue: Venue::Binance,
                instrument: InstrumentId(0),
                sequence: Sequence {
                    first: Some(8),
                    last: 9,
                    previous: Some(7),
                },
                bids: vec![level(99, 0)],
                asks: vec![],
                ts: UnixNanos::from_secs(4),
            },
            MarketUpdate::Trade {
                venue: Venue::Binance,
                instrument: InstrumentId(0),
                price: Price::from_raw(100),
                qty: Qty::from_raw(5),
                aggressor: Side::Sell,
                ts: UnixNanos::from_secs(5),
            },
        ];
        for u in updates {
            let Input::Market(event) = u.as_input() else {
                panic!("a market input");
            };
            assert_eq!(MarketUpdate::from_event(&event), Some(u.clone()));
        }
        let invalid = MarketEvent::BookInvalid {
            venue: Venue::Okx,
            instrument: InstrumentId(0),
            reason: crate::book::InvalidReason::Gap,
        };
        assert_eq!(MarketUpdate::from_event(&invalid), None);
    }
}
