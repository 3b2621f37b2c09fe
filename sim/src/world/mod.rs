//! The simulated world: an event heap ordered by `(time, sequence)`, the paper exchange
//! (the market, two venues and the network to them), a lease service, links that
//! faults can cut, and engine instances, each the production
//! [`Engine`](propbot_engine::Engine) behind a driver that follows the live service's
//! loop (handle → journal durably → then send).
//!
//! The world's own events and the exchange's items in flight form one order: the world
//! takes its tie-break numbers from the exchange ([`PaperExchange::next_sequence`]),
//! and each step carries out the earliest of both. Checkers observe every send, every
//! venue acceptance and every step; the first violation stops the run and names the
//! invariant, the step and the state.
//!
//! - `instance`: an engine process, its clocks, boot, crash and restart, its timers;
//! - `driver`: the live driver loop (deliver, journal durably, then send);
//! - `faults`: fault injection and healing;
//! - `operator`: scripted operator actions;
//! - `end`: the final reconciliation and the end-of-run checks and figures;
//! - `trace`: the step trace (what the digest hashes, and readable lines).

mod driver;
mod end;
mod faults;
mod instance;
mod operator;
mod trace;

pub use instance::Instance;

use crate::checkers::{self, AcceptView, Checker, Violation};
use crate::lease::{LeaseAnswer, LeaseService};
use crate::market::{MarketParams, SyntheticMarket};
use crate::paper::{ExchangeOptions, Latency, MarketFeed, Message, PaperExchange, Stepped, Way};
use crate::rng::{Seeds, SimRng};
use crate::scenario::{FaultSpec, Scenario, Target};
use crate::venue::{InstanceId, SimVenue};
use propbot_engine::config::Config;
use propbot_engine::digest::Digest;
use propbot_engine::gateway::{MarketUpdate, Response};
use propbot_engine::input::{OperatorAction, ReconSnapshot};
use propbot_engine::model::{InstrumentId, Venue};
use propbot_engine::time::{NANOS_PER_MILLI, NANOS_PER_SECOND, UnixNanos};
use propbot_market::source::MarketSource;
use propbot_market::tape::RecordedMarket;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;

/// The approval token every simulated instance is configured with.
pub const APPROVAL_TOKEN: &str = "sim-approval-token";
/// Wall-clock epoch of simulated time zero (2026-01-01T00:00:00Z).
pub const T0: UnixNanos = UnixNanos(1_767_225_600 * NANOS_PER_SECOND);

/// A network node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Node {
    /// An engine instance.
    Instance(u8),
    /// A venue.
    Venue(Venue),
    /// The lease service.
    Lease,
}

/// Something delivered to an instance's driver.
#[derive(Clone, Debug)]
pub enum Msg {
    /// Public market data.
    Market(MarketUpdate),
    /// A venue answer.
    Venue(Venue, Response),
    /// The lease service's answer to a request sent at `sent_local`.
    Lease(LeaseAnswer, UnixNanos),
    /// A clock probe answer.
    Clock {
        /// Venue.
        venue: Venue,
        /// Venue clock at the venue.
        venue_time: UnixNanos,
        /// Local time the probe left.
        sent_local: UnixNanos,
    },
    /// An operator command.
    Operator(OperatorAction),
    /// The final reconciliation after healing (checked against the venue right after).
    FinalRecon(Venue, ReconSnapshot),
}

/// The world's own events (what travels to and from the venues is in the exchange).
#[derive(Clone, Debug)]
enum Event {
    Deliver {
        to: u8,
        generation: u64,
        msg: Msg,
    },
    LeaseArrival {
        from: u8,
        generation: u64,
        sent_local: UnixNanos,
    },
    LeaseResign {
        from: u8,
        epoch: u32,
    },
    EngineTimer {
        instance: u8,
        generation: u64,
    },
    LeaseTimer {
        instance: u8,
        generation: u64,
    },
    ProbeTimer {
        instance: u8,
        generation: u64,
    },
    AdapterTimer {
        instance: u8,
        generation: u64,
    },
    FaultStart(usize),
    FaultEnd(usize),
    Operator(usize, u8),
    Restart(u8),
    CrashNow(u8),
    Heal,
    FinalRecon,
    End,
}

/// Figures a run reports.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Figures {
    /// Orders sent by all instances.
    pub orders_sent: u64,
    /// Orders accepted by venues.
    pub orders_accepted: u64,
    /// Fills at venues.
    pub fills: u64,
    /// Longest time from a fault to the HOLD it must cause, ms.
    pub time_to_hold_ms: u64,
    /// Orders (not reduce-only) sent while the sender was in HOLD.
    pub orders_after_trip: u64,
    /// Unhedged exposure integrated over the run, USD·s.
    pub unhedged_usd_s: f64,
    /// Venue acceptances that broke epoch order (always 0, or the run failed).
    pub split_brain: u64,
    /// Venue fills missing from the final leader's journal.
    pub lost_fills: u64,
    /// Leadership changes.
    pub leader_changes: u64,
    /// Restarts.
    pub restarts: u64,
    /// Simulated time, ms.
    pub simulated_ms: u64,
    /// Steps.
    pub steps: u64,
}

/// How often each fault kind and each rare situation occurred.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Coverage {
    /// Fault starts by kind.
    pub faults: BTreeMap<String, u64>,
    /// Rare situations reached.
    pub sometimes: BTreeMap<String, u64>,
}

impl Coverage {
    fn hit(&mut self, what: &str) {
        self.add(what, 1);
    }

    fn add(&mut self, what: &str, n: u64) {
        *self.sometimes.entry(what.to_owned()).or_default() += n;
    }
}

/// What a run observed for the end-of-run expectations.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// Guard names tripped (from journal records).
    pub tripped: BTreeSet<String>,
    /// A single-actor resume was refused.
    pub same_actor_refused: bool,
    /// Leadership acquisitions: (instance, epoch, in HOLD at acquisition).
    pub acquisitions: Vec<(u8, u32, bool)>,
    /// Restarts and whether each came up in HOLD.
    pub restarts_in_hold: Vec<bool>,
    /// Faults that required HOLD and whether it came in time: (fault index, ok).
    pub hold_deadlines: Vec<(usize, u64, Option<u64>)>,
    /// Cancels sent while the governor held places back.
    pub cancels_during_backoff: u64,
    /// Orders the dead-man switch cancelled.
    pub deadman_cancels: u64,
    /// Non-post-only orders sent during a pre-open.
    pub preopen_violations: u64,
    /// Orders placed (kinds Place).
    pub places: u64,
}

/// The world.
pub struct World {
    /// The scenario.
    pub scenario: Scenario,
    /// Master seed.
    pub seed: u64,
    /// Engine config.
    pub config: Config,
    /// True time.
    pub now: UnixNanos,
    queue: BTreeMap<(UnixNanos, u64), Event>,
    /// The market, both venues and the network between them and the instances.
    pub exchange: PaperExchange,
    /// Instances.
    pub instances: Vec<Instance>,
    /// Lease service.
    pub lease: LeaseService,
    /// Cut links other than instance–venue ones (those are the exchange's).
    cuts: BTreeSet<(Node, Node)>,
    /// Concrete faults.
    pub faults: Vec<FaultSpec>,
    fault_targets: Vec<Option<u8>>,
    disk_rng: SimRng,
    /// Steps taken.
    pub steps: u64,
    trace: Digest,
    /// A human-readable trace of steps (replay mode only).
    pub trace_log: Option<Vec<String>>,
    checkers: Vec<Box<dyn Checker>>,
    /// The first invariant violation.
    pub violation: Option<Violation>,
    /// Figures.
    pub figures: Figures,
    /// Coverage.
    pub coverage: Coverage,
    /// Observations for expectations.
    pub observed: Observed,
    last_leader: Option<(u8, u32)>,
    unhedged_before_crashes: f64,
    ended: bool,
    healing: bool,
}

impl World {
    /// Builds the world for `scenario` with `seed` and a concrete fault list.
    pub fn new(scenario: &Scenario, seed: u64, faults: Vec<FaultSpec>) -> World {
        let seeds = Seeds::new(seed);
        let config = scenario
            .config()
            .expect("scenario config validated at load");
        let spec = &scenario.world;
        let instances = spec.instances.max(1);
        let options = ExchangeOptions {
            venue: spec.venue.clone(),
            latency: Latency::uniform_ms(spec.latency_ms.0, spec.latency_ms.1),
            feed: MarketFeed::Fanout(Latency::uniform_ms(
                spec.market_latency_ms.0,
                spec.market_latency_ms.1,
            )),
            clients: instances,
        };
        let market = market_source(scenario, &config, &seeds);
        let mut w = World {
            scenario: scenario.clone(),
            seed,
            now: T0,
            queue: BTreeMap::new(),
            exchange: PaperExchange::new(&config, options, Some(market), &seeds),
            instances: (0..instances).map(Instance::new).collect(),
            lease: LeaseService::new(spec.lease_ttl_ms * NANOS_PER_MILLI, 0),
            cuts: BTreeSet::new(),
            fault_targets: vec![None; faults.len()],
            faults,
            disk_rng: seeds.stream("disk", 0),
            steps: 0,
            trace: Digest::default(),
            trace_log: None,
            checkers: checkers::all(&config),
            violation: None,
            figures: Figures::default(),
            coverage: Coverage::default(),
            observed: Observed::default(),
            last_leader: None,
            unhedged_before_crashes: 0.0,
            ended: false,
            healing: false,
            config,
        };
        // The venues get their books before anything else, then the market runs.
        w.exchange.start(T0);
        for i in 0..w.instances.len() as u8 {
            w.boot(i);
        }
        for (k, f) in w.faults.clone().iter().enumerate() {
            w.schedule(T0.plus_millis(f.at_ms), Event::FaultStart(k));
        }
        for (k, step) in w.scenario.operator.clone().iter().enumerate() {
            w.schedule(T0.plus_millis(step.at_ms), Event::Operator(k, 0));
        }
        w.schedule(T0.plus_millis(w.scenario.world.duration_ms), Event::Heal);
        w
    }

    fn schedule(&mut self, at: UnixNanos, event: Event) {
        let sequence = self.exchange.next_sequence();
        self.queue.insert((at.max(self.now), sequence), event);
    }

    /// One draw of the network latency (the lease service's links share the venues'
    /// latency stream).
    fn latency(&mut self) -> u64 {
        self.exchange.network_latency_ns()
    }

    /// Whether the link from `from` to `to` is cut.
    fn cut(&self, from: Node, to: Node) -> bool {
        match (from, to) {
            (Node::Instance(i), Node::Venue(v)) => {
                self.exchange.is_cut(InstanceId(i), v, Way::ToVenue)
            }
            (Node::Venue(v), Node::Instance(i)) => {
                self.exchange.is_cut(InstanceId(i), v, Way::ToClient)
            }
            _ => self.cuts.contains(&(from, to)),
        }
    }

    /// Cuts (`true`) or restores the link from `from` to `to`.
    fn set_cut(&mut self, from: Node, to: Node, cut: bool) {
        match (from, to) {
            (Node::Instance(i), Node::Venue(v)) => {
                self.exchange.set_cut(InstanceId(i), v, Way::ToVenue, cut)
            }
            (Node::Venue(v), Node::Instance(i)) => {
                self.exchange.set_cut(InstanceId(i), v, Way::ToClient, cut)
            }
            _ if cut => {
                self.cuts.insert((from, to));
            }
            _ => {
                self.cuts.remove(&(from, to));
            }
        }
    }

    /// The decision digest of the run so far (steps, engines' digests).
    pub fn trace_digest(&self) -> String {
        let mut d = self.trace.clone();
        for i in &self.instances {
            if let Some(e) = &i.engine {
                d.add(&e.digest());
            }
        }
        d.hex()
    }

    /// The current leader by the lease service and the holder's own reckoning.
    pub fn leader(&self) -> Option<u8> {
        self.instances
            .iter()
            .filter(|i| {
                i.engine
                    .as_ref()
                    .is_some_and(|e| e.fencing().is_leader(i.reckoning(self.now)))
            })
            .map(|i| i.id)
            .next()
    }

    fn local_of(&self, i: &Instance) -> UnixNanos {
        i.local_at(self.now)
    }

    fn local_now(&mut self, i: u8) -> UnixNanos {
        let t = self.local_of(&self.instances[i as usize]);
        self.instances[i as usize].last_local = t;
        t
    }

    fn resolve(&self, target: Target) -> u8 {
        match target {
            Target::Instance(i) => i.min(self.instances.len() as u8 - 1),
            Target::Leader => self.leader().unwrap_or(0),
            Target::Standby => {
                let leader = self.leader();
                self.instances
                    .iter()
                    .map(|i| i.id)
                    .find(|id| Some(*id) != leader)
                    .unwrap_or(0)
            }
        }
    }

    /// Runs to the end or the first violation.
    pub fn run(&mut self) -> Result<(), Violation> {
        while !self.ended {
            self.step();
            if let Some(v) = &self.violation {
                return Err(v.clone());
            }
            if self.steps >= self.scenario.world.step_budget {
                let v = Violation {
                    invariant: "step budget",
                    step: self.steps,
                    at_ms: self.now.nanos_since(T0) / NANOS_PER_MILLI,
                    detail: format!(
                        "the run needed more than {} steps",
                        self.scenario.world.step_budget
                    ),
                };
                self.violation = Some(v.clone());
                return Err(v);
            }
        }
        self.final_figures();
        Ok(())
    }

    /// One step: the earliest event, the world's own or one in flight at the exchange.
    pub fn step(&mut self) {
        let own = self.queue.first_key_value().map(|(k, _)| *k);
        match (own, self.exchange.next_due()) {
            (None, None) => self.ended = true,
            (Some(own), Some(due)) if due < own => self.step_exchange(due.0),
            (None, Some(due)) => self.step_exchange(due.0),
            (Some(_), _) => self.step_own(),
        }
    }

    fn step_own(&mut self) {
        let ((at, sequence), event) = self.queue.pop_first().expect("peeked");
        self.now = at;
        self.steps += 1;
        self.trace.add(&(at.0, sequence, trace::event_kind(&event)));
        if self.trace_log.is_some() {
            let line = trace::describe(&event);
            self.log_step(line);
        }
        self.process(event);
        self.after_step();
    }

    fn step_exchange(&mut self, at: UnixNanos) {
        self.now = at;
        self.steps += 1;
        let step = self.exchange.step(at).expect("due");
        self.trace
            .add(&(at.0, step.sequence, trace::step_kind(&step.what)));
        if self.trace_log.is_some() {
            let line = trace::describe_step(&step.what);
            self.log_step(line);
        }
        match step.what {
            Stepped::Market { gapped } => {
                if gapped > 0 && self.exchange.market().is_some_and(|m| m.windows() > 0) {
                    self.coverage
                        .add("gap_during_fast_market", u64::from(gapped));
                }
            }
            Stepped::Arrival {
                venue, accepted, ..
            } => self.on_accepted(venue, accepted),
            Stepped::Delivered(d) => {
                let msg = match d.message {
                    Message::Market(update) => Msg::Market(update),
                    Message::Response(response) => Msg::Venue(d.venue, response),
                    Message::Clock {
                        venue_time,
                        sent_local,
                    } => Msg::Clock {
                        venue: d.venue,
                        venue_time,
                        sent_local,
                    },
                };
                self.deliver(d.to.0, msg);
            }
            Stepped::Stale(_) | Stepped::Probe { .. } | Stepped::Tick | Stepped::Deadline(_) => {}
        }
        self.after_step();
    }

    fn log_step(&mut self, line: String) {
        let at = self.now.nanos_since(T0) as f64 / 1e9;
        let steps = self.steps;
        if let Some(log) = &mut self.trace_log {
            log.push(format!("{at:>9.3}s #{steps:<7} {line}"));
        }
    }

    fn process(&mut self, event: Event) {
        match event {
            Event::Deliver {
                to,
                generation,
                msg,
            } => {
                if self.instances[to as usize].generation == generation {
                    self.deliver(to, msg);
                }
            }
            Event::LeaseArrival {
                from,
                generation,
                sent_local,
            } => self.lease_arrival(from, generation, sent_local),
            Event::LeaseResign { from, epoch } => {
                if self.now >= self.lease.down_until {
                    self.lease.resign(from, epoch);
                }
            }
            Event::EngineTimer {
                instance,
                generation,
            } => self.engine_timer(instance, generation),
            Event::LeaseTimer {
                instance,
                generation,
            } => self.lease_timer(instance, generation),
            Event::ProbeTimer {
                instance,
                generation,
            } => self.probe_timer(instance, generation),
            Event::AdapterTimer {
                instance,
                generation,
            } => self.adapter_tick(instance, generation),
            Event::FaultStart(k) => self.fault_start(k),
            Event::FaultEnd(k) => self.fault_end(k),
            Event::Operator(k, part) => self.operator(k, part),
            Event::Restart(i) => self.restart(i),
            Event::CrashNow(i) => {
                if !self.healing {
                    self.crash(i, crate::scenario::CrashPoint::Now);
                }
            }
            Event::Heal => self.heal(),
            Event::FinalRecon => self.final_reconciliation(),
            Event::End => {
                self.at_end();
                self.ended = true;
            }
        }
    }

    /// Orders a venue has just accepted: counted, and shown to the checkers.
    fn on_accepted(&mut self, venue: Venue, accepted: Range<usize>) {
        let accepted = self.exchange.venue(venue).accepted[accepted].to_vec();
        for a in accepted {
            self.figures.orders_accepted += 1;
            let owner = a.owner.0 as usize;
            let mut cs = std::mem::take(&mut self.checkers);
            let mut errors = Vec::new();
            {
                let view = AcceptView {
                    venue,
                    acceptance: a,
                    owner_disk: &self.instances[owner].disk,
                    now: self.now,
                };
                for c in &mut cs {
                    if let Err(detail) = c.on_accept(&view) {
                        errors.push((c.name(), detail));
                    }
                }
            }
            self.checkers = cs;
            for (name, detail) in errors {
                self.fail(name, detail);
            }
        }
    }

    /// The venues (Binance, OKX), as the exchange holds them.
    pub fn venues(&self) -> &[SimVenue; Venue::COUNT] {
        self.exchange.venues()
    }

    pub(crate) fn is_paused(&self, i: u8) -> bool {
        self.now < self.instances[i as usize].paused_until
    }

    /// Whether instance `i` cannot trade on `venue` right now, by the world's truth: a
    /// link cut either way, a ban (418), or the venue in maintenance.
    pub(crate) fn venue_unreachable(&self, i: u8, venue: Venue) -> bool {
        let v = self.exchange.venue(venue);
        self.cut(Node::Instance(i), Node::Venue(venue))
            || self.cut(Node::Venue(venue), Node::Instance(i))
            || self.now < v.banned_until()
            || v.in_maintenance(self.now).is_some()
    }

    fn lease_arrival(&mut self, from: u8, generation: u64, sent_local: UnixNanos) {
        let Some(answer) = self.lease.request(self.now, from) else {
            return;
        };
        if self.cut(Node::Lease, Node::Instance(from)) {
            return;
        }
        let lat = self.latency();
        self.schedule(
            self.now.plus_nanos(lat),
            Event::Deliver {
                to: from,
                generation,
                msg: Msg::Lease(answer, sent_local),
            },
        );
    }

    fn fail(&mut self, invariant: &'static str, detail: String) {
        if self.violation.is_none() {
            self.violation = Some(Violation {
                invariant,
                step: self.steps,
                at_ms: self.now.nanos_since(T0) / NANOS_PER_MILLI,
                detail,
            });
        }
    }

    fn after_step(&mut self) {
        let leader = self.leader().map(|i| {
            (
                i,
                self.instances[i as usize]
                    .engine
                    .as_ref()
                    .map_or(0, |e| e.fencing().epoch()),
            )
        });
        if leader.is_some() && leader != self.last_leader {
            if self.last_leader.is_some() {
                self.figures.leader_changes += 1;
            }
            self.last_leader = leader;
        }
        let mut cs = std::mem::take(&mut self.checkers);
        for c in &mut cs {
            if let Err(detail) = c.after_step(self) {
                self.fail(c.name(), detail);
            }
        }
        self.checkers = cs;
    }
}

/// The scenario's market: a recording started at a seeded point of its tape, chosen so
/// that the run and its healing fit in the recording when they can (it loops if not),
/// or the synthetic model.
fn market_source(scenario: &Scenario, config: &Config, seeds: &Seeds) -> MarketSource {
    let spec = &scenario.world;
    if let Some(tape) = &scenario.tape {
        let needed = (spec.duration_ms + spec.heal_ms) * NANOS_PER_MILLI;
        let room = tape.span_ns().saturating_sub(needed);
        let skip = seeds.stream("recording", 0).range(0, room);
        return MarketSource::Recorded(RecordedMarket::new(Arc::clone(tape), T0, skip));
    }
    let instrument = config.strategy.instruments[0];
    let mut params = spec.market.clone();
    if params.start_price == MarketParams::default().start_price && instrument != InstrumentId(0) {
        params.start_price = 30_000;
    }
    MarketSource::Synthetic(SyntheticMarket::new(
        config,
        instrument,
        params,
        seeds.stream("market", 0),
        T0,
    ))
}
