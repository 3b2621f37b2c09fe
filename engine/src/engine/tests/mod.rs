//! Engine-level tests through the public contract only: inputs in, outputs out.

use super::*;
use crate::book::{Sequence, TopOfBook};
use crate::config::Profile;
use crate::input::*;
use crate::model::*;
use crate::output::*;
use proptest::prelude::*;

pub(crate) const T0: u64 = 1_795_000_000 * NANOS_PER_SECOND;
pub(crate) const MS: u64 = NANOS_PER_MILLI;
const BTC: InstrumentId = InstrumentId(0);
const TOKEN: &str = "approve-me";

/// Drives one engine and keeps every output.
pub(crate) struct Harness {
    pub e: Engine,
    pub now: UnixNanos,
    pub out: Vec<Output>,
    next_command: u64,
    seq: [u64; 2],
    trade: u64,
}

impl Harness {
    pub fn with(config: Config) -> Harness {
        let mut config = config;
        config.control.set_approval_token(TOKEN);
        let recovered = RecoveredState::empty(&config);
        Harness::boot(config, recovered)
    }

    pub fn new() -> Harness {
        Harness::with(Config::embedded(Profile::Paper))
    }

    pub fn boot(config: Config, recovered: RecoveredState) -> Harness {
        let now = UnixNanos(T0).max(recovered.last_ts);
        let mut e = Engine::new(config, recovered);
        let mut out = Vec::new();
        while let Some(o) = e.poll_output() {
            out.push(o);
        }
        Harness {
            e,
            now,
            out,
            next_command: 1,
            seq: [100, 100],
            trade: 1,
        }
    }

    pub fn drain(&mut self) -> Vec<Output> {
        let mut v = Vec::new();
        while let Some(o) = self.e.poll_output() {
            v.push(o);
        }
        self.out.extend(v.iter().cloned());
        v
    }

    pub fn feed(&mut self, input: Input<'_>) -> Vec<Output> {
        self.e.handle(self.now, input);
        self.drain()
    }

    pub fn advance(&mut self, ms: u64) -> Vec<Output> {
        let end = self.now.plus_millis(ms);
        let mut v = Vec::new();
        while let Some(t) = self.e.poll_timeout() {
            if t > end {
                break;
            }
            self.now = t.max(self.now);
            self.e.handle_timeout(self.now);
            v.extend(self.drain());
        }
        self.now = end;
        self.e.handle_timeout(end);
        v.extend(self.drain());
        v
    }

    pub fn venue(&mut self, venue: Venue, kind: VenueEventKind) -> Vec<Output> {
        self.feed(Input::Venue(VenueEvent { venue, kind }))
    }

    pub fn operator(&mut self, actor: &str, action: OperatorAction) -> Reply {
        let command_id = self.next_command;
        self.next_command += 1;
        let out = self.feed(Input::Operator(OperatorCommand {
            command_id,
            actor: actor.into(),
            action,
        }));
        out.into_iter()
            .find_map(|o| match o {
                Output::Reply(r) if r.command_id == command_id => Some(r),
                _ => None,
            })
            .expect("every command gets a reply")
    }

    /// Replaces a venue's book with one level each side (prices in tenths of USDT,
    /// quantities in 1e-4 BTC).
    pub fn quote(
        &mut self,
        venue: Venue,
        bid: i64,
        bid_qty: i64,
        ask: i64,
        ask_qty: i64,
    ) -> Vec<Output> {
        let s = &mut self.seq[venue.index()];
        *s += 10;
        let last = *s;
        let bids = [Level {
            price: Price::from_raw(bid),
            qty: Qty::from_raw(bid_qty),
        }];
        let asks = [Level {
            price: Price::from_raw(ask),
            qty: Qty::from_raw(ask_qty),
        }];
        self.feed(Input::Market(MarketEvent::Snapshot {
            venue,
            instrument: BTC,
            last,
            bids: &bids,
            asks: &asks,
            ts_exchange: self.now,
        }))
    }

    /// A delta continuing the chain.
    pub fn delta(&mut self, venue: Venue, bids: &[Level], asks: &[Level]) -> Vec<Output> {
        let s = &mut self.seq[venue.index()];
        let previous = *s;
        *s += 1;
        let sequence = Sequence {
            first: Some(*s),
            last: *s,
            previous: Some(previous),
        };
        self.feed(Input::Market(MarketEvent::Delta {
            venue,
            instrument: BTC,
            sequence,
            bids,
            asks,
            ts_exchange: self.now,
        }))
    }

    pub fn reconcile_clean(&mut self, venue: Venue) -> Vec<Output> {
        let positions = (0..self.e.config().instruments.len())
            .map(|i| {
                (
                    InstrumentId(i as u16),
                    self.e.ledger().position(venue, InstrumentId(i as u16)).qty,
                )
            })
            .collect();
        let snap = ReconSnapshot {
            venue,
            as_of: self.now,
            open_orders: vec![],
            positions,
            fills: vec![],
        };
        self.feed(Input::Reconciliation(&snap))
    }

    /// Lease, links, clocks, reconciliation and fair books: everything a resume needs.
    pub fn ready(&mut self) {
        self.feed(Input::Lease(LeaseEvent::Granted {
            epoch: 7,
            requested_at: self.now,
            ttl_ns: 3_600_000 * NANOS_PER_MILLI,
        }));
        for v in Venue::ALL {
            self.venue(v, VenueEventKind::Connected);
            self.venue(
                v,
                VenueEventKind::ClockSample {
                    offset_ns: 1_000_000,
                    rtt_ns: 2_000_000,
                },
            );
            self.reconcile_clean(v);
        }
        self.quote(Venue::Binance, 600_000, 100, 600_010, 100);
        self.quote(Venue::Okx, 600_000, 100, 600_010, 100);
        // Past the new leader's quiet period (order expiry + skew bound).
        self.advance(6_000);
        self.keep_alive();
    }

    /// Fresh quotes and clock samples so nothing goes stale.
    pub fn keep_alive(&mut self) {
        for v in Venue::ALL {
            self.venue(
                v,
                VenueEventKind::ClockSample {
                    offset_ns: 1_000_000,
                    rtt_ns: 2_000_000,
                },
            );
        }
        self.quote(Venue::Binance, 600_000, 100, 600_010, 100);
        self.quote(Venue::Okx, 600_000, 100, 600_010, 100);
    }

    pub fn resume(&mut self) -> Reply {
        if self.e.control().mode == Mode::Run {
            return self.operator("bob", OperatorAction::Resume);
        }
        let r = self.operator(
            "alice",
            OperatorAction::ResumeRequest {
                reason: "checks done".into(),
            },
        );
        let id = r
            .result
            .as_ref()
            .expect("request accepted")
            .request_id
            .expect("request id");
        let c = self.operator(
            "bob",
            OperatorAction::ResumeConfirm {
                request_id: id,
                token: TOKEN.into(),
            },
        );
        assert!(c.result.is_ok(), "{c:?}");
        self.operator("bob", OperatorAction::Resume)
    }

    pub fn fill(&mut self, o: &OrderRequest, qty: i64, price: i64) -> Vec<Output> {
        self.trade += 1;
        let report = ExecutionReport {
            venue: o.venue,
            instrument: o.instrument,
            side: o.side,
            client_order_id: o.client_order_id,
            kind: ExecutionKind::Fill {
                trade_id: TradeId(self.trade),
                price: Price::from_raw(price),
                qty: Qty::from_raw(qty),
                liquidity: Liquidity::Taker,
                fee: None,
            },
            ts_exchange: self.now,
        };
        self.feed(Input::Execution(report))
    }

    pub fn report(&mut self, o: &OrderRequest, kind: ExecutionKind) -> Vec<Output> {
        let report = ExecutionReport {
            venue: o.venue,
            instrument: o.instrument,
            side: o.side,
            client_order_id: o.client_order_id,
            kind,
            ts_exchange: self.now,
        };
        self.feed(Input::Execution(report))
    }

    /// Reports every live order as expired (IOC remainder cancelled).
    pub fn expire_all(&mut self) -> Vec<Output> {
        let live: Vec<OrderRequest> = self
            .e
            .orders()
            .filter(|o| o.is_live())
            .map(|o| o.request)
            .collect();
        let mut out = Vec::new();
        for o in live {
            out.extend(self.report(
                &o,
                ExecutionKind::Cancelled {
                    reason: CancelReason::IocExpired,
                },
            ));
        }
        out
    }

    pub fn position(&self, venue: Venue) -> i64 {
        self.e.ledger().position(venue, BTC).qty.raw()
    }
}

pub(crate) fn places(out: &[Output]) -> Vec<OrderRequest> {
    out.iter()
        .filter_map(|o| match o {
            Output::Place(r) => Some(*r),
            _ => None,
        })
        .collect()
}

pub(crate) fn flattens(out: &[Output]) -> Vec<OrderRequest> {
    out.iter()
        .filter_map(|o| match o {
            Output::Flatten(r) => Some(*r),
            _ => None,
        })
        .collect()
}

fn journal(out: &[Output]) -> Vec<JournalEvent> {
    out.iter()
        .filter_map(|o| match o {
            Output::Journal(r) => Some(r.event.clone()),
            _ => None,
        })
        .collect()
}

fn tripped(out: &[Output], guard: crate::guards::GuardId) -> bool {
    journal(out)
        .iter()
        .any(|e| matches!(e, JournalEvent::GuardTripped { guard: g, .. } if *g == guard))
}

/// An arbitrage: OKX bids 13 bps above Binance's ask.
fn open_arbitrage(h: &mut Harness) -> Vec<Output> {
    h.quote(Venue::Binance, 599_990, 100, 600_000, 100);
    h.quote(Venue::Okx, 600_800, 100, 600_810, 100)
}

mod control;
mod guards;
mod properties;
mod recovery;
mod status;
mod trading;
