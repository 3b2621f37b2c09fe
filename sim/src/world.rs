//! The simulated world: an event heap ordered by `(time, sequence)`, the market, two
//! venues, a lease service, network links that faults can cut, and engine instances,
//! each the production [`Engine`] behind a driver that follows the live service's loop
//! (handle → journal durably → then send).
//!
//! Checkers observe every send, every venue acceptance and every step; the first
//! violation stops the run and names the invariant, the step and the state.

use crate::checkers::{self, AcceptView, Checker, SendView, Violation};
use crate::disk::{DiskFault, SimDisk};
use crate::lease::{LeaseAnswer, LeaseService};
use crate::market::SyntheticMarket;
use crate::rng::{Seeds, SimRng};
use crate::scenario::{CrashPoint, FaultKind, FaultSpec, NodeSpec, OperatorSpec, Scenario, Target};
use crate::venue::{InstanceId, SimVenue};
use propbot_engine::config::Config;
use propbot_engine::digest::Digest;
use propbot_engine::gateway::MarketUpdate;
use propbot_engine::gateway::{Request, Response};
use propbot_engine::input::{
    ExecutionKind, Input, LeaseEvent, OperatorAction, OperatorCommand, SystemEvent, VenueEvent,
    VenueEventKind,
};
use propbot_engine::model::{ClientOrderId, InstrumentId, OrderState, Venue};
use propbot_engine::output::{JournalEvent, Mode, OrderPurpose, Output, RefusalCode};
use propbot_engine::time::{NANOS_PER_MILLI, NANOS_PER_SECOND, UnixNanos};
use propbot_engine::{Engine, RecoveredState};
use propbot_recordings::source::MarketSource;
use propbot_recordings::tape::RecordedMarket;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The approval token every simulated instance is configured with.
pub const APPROVAL_TOKEN: &str = "sim-approval-token";
/// Wall-clock epoch of simulated time zero (2026-01-01T00:00:00Z).
pub const T0: UnixNanos = UnixNanos(1_767_225_600 * NANOS_PER_SECOND);
/// Venue housekeeping period.
const VENUE_TICK_NS: u64 = 100 * NANOS_PER_MILLI;
/// Clock probes per instance and venue.
const PROBE_EVERY_NS: u64 = NANOS_PER_SECOND;
/// Adapter watchdog period.
const ADAPTER_EVERY_NS: u64 = 500 * NANOS_PER_MILLI;
/// Output rounds per delivered input before the driver gives up (a bound).
const PUMP_ROUNDS_MAX: usize = 64;

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
    FinalRecon(Venue, propbot_engine::input::ReconSnapshot),
}

#[derive(Clone, Debug)]
enum Event {
    Market,
    Deliver {
        to: u8,
        generation: u64,
        msg: Msg,
    },
    VenueArrival {
        venue: Venue,
        from: u8,
        request: Request,
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
    ProbeArrival {
        venue: Venue,
        from: u8,
        generation: u64,
        sent_local: UnixNanos,
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
    VenueTick,
    FaultStart(usize),
    FaultEnd(usize),
    Operator(usize, u8),
    Restart(u8),
    CrashNow(u8),
    VenueDeadline(Venue),
    Heal,
    FinalRecon,
    End,
}

/// One engine process and its driver state.
pub struct Instance {
    /// Index.
    pub id: u8,
    /// The engine, while the process is up.
    pub engine: Option<Engine>,
    /// Its journal.
    pub disk: SimDisk,
    /// Increments at every restart; events of an older generation are stale.
    pub generation: u64,
    /// Local clock minus true time, ns (change it with `set_clock_offset`).
    pub clock_offset_ns: i64,
    /// Backward steps of the local clock its engine has not been told of yet, ns. A
    /// driver sees a step as soon as it next reads its clocks (wall against monotonic),
    /// so this is part of the instance's reckoning even while it is paused.
    pub clock_stepped_back_ns: u64,
    last_local: UnixNanos,
    /// Frozen until.
    pub paused_until: UnixNanos,
    /// A crash waiting for its point.
    pub crash_armed: Option<CrashPoint>,
    /// Restarts so far.
    pub restarts: u32,
    /// The adapter's view of each venue link.
    pub connected: [bool; 2],
    last_market: [UnixNanos; 2],
    /// Every client order id this instance ever sent (never twice).
    pub sent: BTreeSet<ClientOrderId>,
    command_id: u64,
    pending_request: Option<u64>,
    /// When the engine last entered HOLD.
    pub hold_at: Option<UnixNanos>,
    /// Engine mode as of the end of the last batch.
    pub mode: Mode,
    /// Epoch held when last checked.
    pub epoch: u32,
    /// The engine timer currently scheduled (true time), to avoid duplicates.
    timer_at: UnixNanos,
}

impl Instance {
    /// Moves the local clock to `offset_ns` from true time; a step back is noted for
    /// the engine.
    pub fn set_clock_offset(&mut self, offset_ns: i64) {
        if offset_ns < self.clock_offset_ns {
            self.clock_stepped_back_ns += (self.clock_offset_ns - offset_ns) as u64;
        }
        self.clock_offset_ns = offset_ns;
    }

    /// The local clock at true time `now`, as its driver reads it (never backwards).
    pub fn local_at(&self, now: UnixNanos) -> UnixNanos {
        UnixNanos((now.0 as i64 + self.clock_offset_ns).max(0) as u64).max(self.last_local)
    }

    /// The instance's own reckoning of the time, for lease validity: the local clock,
    /// with lease times moved by clock steps back it has yet to be told of.
    pub fn reckoning(&self, now: UnixNanos) -> UnixNanos {
        self.local_at(now).plus_nanos(self.clock_stepped_back_ns)
    }

    fn new(id: u8) -> Instance {
        Instance {
            id,
            engine: None,
            disk: SimDisk::default(),
            generation: 0,
            clock_offset_ns: 0,
            clock_stepped_back_ns: 0,
            last_local: UnixNanos::ZERO,
            paused_until: UnixNanos::ZERO,
            crash_armed: None,
            restarts: 0,
            connected: [false; 2],
            last_market: [UnixNanos::ZERO; 2],
            sent: BTreeSet::new(),
            command_id: 1_000 * (u64::from(id) + 1),
            pending_request: None,
            hold_at: None,
            mode: Mode::Hold,
            epoch: 0,
            timer_at: UnixNanos::NEVER,
        }
    }

    /// Whether the process is up.
    pub fn is_up(&self) -> bool {
        self.engine.is_some()
    }
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
        *self.sometimes.entry(what.to_owned()).or_default() += 1;
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
    next_seq: u64,
    /// Market.
    pub market: MarketSource,
    /// Venues (Binance, OKX).
    pub venues: [SimVenue; 2],
    /// Instances.
    pub instances: Vec<Instance>,
    /// Lease service.
    pub lease: LeaseService,
    cuts: BTreeSet<(Node, Node)>,
    /// Concrete faults.
    pub faults: Vec<FaultSpec>,
    fault_targets: Vec<Option<u8>>,
    latency: SimRng,
    chaos: SimRng,
    disk_rng: SimRng,
    gaps: BTreeMap<(u8, Venue), UnixNanos>,
    reorder_until: [UnixNanos; 2],
    deadline_scheduled: [UnixNanos; 2],
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
        let instrument = config.strategy.instruments[0];
        let market = match &scenario.tape {
            // A recorded market starts at a seeded point of the tape, chosen so that the
            // run and its healing fit in the recording when they can (it loops if not).
            Some(tape) => {
                let needed = (spec.duration_ms + spec.heal_ms) * NANOS_PER_MILLI;
                let room = tape.span_ns().saturating_sub(needed);
                let skip = seeds.stream("recording", 0).range(0, room);
                MarketSource::Recorded(RecordedMarket::new(Arc::clone(tape), T0, skip))
            }
            None => {
                let mut market_params = spec.market.clone();
                if market_params.start_price == crate::market::MarketParams::default().start_price
                    && instrument != InstrumentId(0)
                {
                    market_params.start_price = 30_000;
                }
                MarketSource::Synthetic(SyntheticMarket::new(
                    &config,
                    instrument,
                    market_params,
                    seeds.stream("market", 0),
                    T0,
                ))
            }
        };
        let venues = [
            SimVenue::new(
                Venue::Binance,
                &config,
                spec.venue.clone(),
                seeds.stream("venue", 0),
            ),
            SimVenue::new(
                Venue::Okx,
                &config,
                spec.venue.clone(),
                seeds.stream("venue", 1),
            ),
        ];
        let mut w = World {
            scenario: scenario.clone(),
            seed,
            now: T0,
            queue: BTreeMap::new(),
            next_seq: 0,
            market,
            venues,
            instances: (0..spec.instances.max(1)).map(Instance::new).collect(),
            lease: LeaseService::new(spec.lease_ttl_ms * NANOS_PER_MILLI, 0),
            cuts: BTreeSet::new(),
            fault_targets: vec![None; faults.len()],
            faults,
            latency: seeds.stream("latency", 0),
            chaos: seeds.stream("chaos", 0),
            disk_rng: seeds.stream("disk", 0),
            gaps: BTreeMap::new(),
            reorder_until: [UnixNanos::ZERO; 2],
            deadline_scheduled: [UnixNanos::ZERO; 2],
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
        // Venues get their books before anything else.
        for v in Venue::ALL {
            let snap = w.market.snapshot(v, T0);
            w.venues[v.index()].on_market(T0, &snap);
        }
        w.schedule(w.market.peek_time(), Event::Market);
        w.schedule(T0.plus_nanos(VENUE_TICK_NS), Event::VenueTick);
        for i in 0..w.instances.len() as u8 {
            w.boot(i);
        }
        for (k, f) in w.faults.clone().iter().enumerate() {
            w.schedule(T0.plus_millis(f.at_ms), Event::FaultStart(k));
        }
        for (k, step) in w.scenario.operator.clone().iter().enumerate() {
            w.schedule(T0.plus_millis(step.at_ms), Event::Operator(k, 0));
        }
        w.schedule(T0.plus_millis(spec.duration_ms), Event::Heal);
        w
    }

    fn schedule(&mut self, at: UnixNanos, event: Event) {
        self.next_seq += 1;
        self.queue.insert((at.max(self.now), self.next_seq), event);
    }

    fn latency(&mut self) -> u64 {
        let (lo, hi) = self.scenario.world.latency_ms;
        self.latency.range(lo * 1_000, hi * 1_000) * 1_000
    }

    fn market_latency(&mut self) -> u64 {
        let (lo, hi) = self.scenario.world.market_latency_ms;
        self.latency.range(lo * 1_000, hi * 1_000) * 1_000
    }

    fn cut(&self, from: Node, to: Node) -> bool {
        self.cuts.contains(&(from, to))
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
        self.figures.simulated_ms = self.now.nanos_since(T0) / NANOS_PER_MILLI;
        self.figures.steps = self.steps;
        self.figures.restarts = self.instances.iter().map(|i| u64::from(i.restarts)).sum();
        let alive: f64 = self
            .instances
            .iter()
            .filter_map(|i| i.engine.as_ref())
            .flat_map(|e| e.pairs().iter().map(|p| p.unhedged_usd_seconds()))
            .sum();
        self.figures.unhedged_usd_s = self.unhedged_before_crashes + alive;
        Ok(())
    }

    /// One step: the earliest event.
    pub fn step(&mut self) {
        let Some(((at, seq), event)) = self.queue.pop_first() else {
            self.ended = true;
            return;
        };
        self.now = at;
        self.steps += 1;
        self.trace.add(&(at.0, seq, event_kind(&event)));
        if let Some(log) = &mut self.trace_log {
            log.push(format!(
                "{:>9.3}s #{:<7} {}",
                at.nanos_since(T0) as f64 / 1e9,
                self.steps,
                describe(&event)
            ));
        }
        self.process(event);
        self.after_step();
    }

    fn process(&mut self, event: Event) {
        match event {
            Event::Market => self.on_market(),
            Event::Deliver {
                to,
                generation,
                msg,
            } => {
                if self.instances[to as usize].generation == generation {
                    self.deliver(to, msg);
                }
            }
            Event::VenueArrival {
                venue,
                from,
                request,
            } => self.venue_arrival(venue, from, request),
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
            Event::ProbeArrival {
                venue,
                from,
                generation,
                sent_local,
            } => {
                let venue_time = self.venues[venue.index()].venue_time(self.now);
                let lat = self.latency();
                if !self.cut(Node::Venue(venue), Node::Instance(from)) {
                    self.schedule(
                        self.now.plus_nanos(lat),
                        Event::Deliver {
                            to: from,
                            generation,
                            msg: Msg::Clock {
                                venue,
                                venue_time,
                                sent_local,
                            },
                        },
                    );
                }
            }
            Event::EngineTimer {
                instance,
                generation,
            } => {
                let inst = &self.instances[instance as usize];
                if inst.generation == generation && inst.is_up() && inst.timer_at == self.now {
                    self.instances[instance as usize].timer_at = UnixNanos::NEVER;
                    if self.is_paused(instance) {
                        let until = self.instances[instance as usize].paused_until;
                        self.instances[instance as usize].timer_at = until;
                        self.schedule(
                            until,
                            Event::EngineTimer {
                                instance,
                                generation,
                            },
                        );
                        return;
                    }
                    let local = self.local_now(instance);
                    if !self.notice_clock_step(instance, local) {
                        return;
                    }
                    let mode = self.instances[instance as usize].mode;
                    if let Some(e) = self.instances[instance as usize].engine.as_mut() {
                        e.handle_timeout(local);
                    }
                    self.pump(instance, mode);
                    self.arm_timer(instance);
                }
            }
            Event::LeaseTimer {
                instance,
                generation,
            } => {
                let inst = &self.instances[instance as usize];
                if inst.generation != generation || !inst.is_up() {
                    return;
                }
                if !self.is_paused(instance) {
                    let sent_local = self.local_now(instance);
                    if !self.cut(Node::Instance(instance), Node::Lease) {
                        let lat = self.latency();
                        self.schedule(
                            self.now.plus_nanos(lat),
                            Event::LeaseArrival {
                                from: instance,
                                generation,
                                sent_local,
                            },
                        );
                    }
                }
                let every = self.lease.ttl_ns() / 4;
                self.schedule(
                    self.now.plus_nanos(every),
                    Event::LeaseTimer {
                        instance,
                        generation,
                    },
                );
            }
            Event::ProbeTimer {
                instance,
                generation,
            } => {
                let inst = &self.instances[instance as usize];
                if inst.generation != generation || !inst.is_up() {
                    return;
                }
                if !self.is_paused(instance) {
                    let sent_local = self.local_now(instance);
                    for venue in Venue::ALL {
                        if !self.cut(Node::Instance(instance), Node::Venue(venue)) {
                            let lat = self.latency();
                            self.schedule(
                                self.now.plus_nanos(lat),
                                Event::ProbeArrival {
                                    venue,
                                    from: instance,
                                    generation,
                                    sent_local,
                                },
                            );
                        }
                    }
                }
                self.schedule(
                    self.now.plus_nanos(PROBE_EVERY_NS),
                    Event::ProbeTimer {
                        instance,
                        generation,
                    },
                );
            }
            Event::AdapterTimer {
                instance,
                generation,
            } => self.adapter_tick(instance, generation),
            Event::VenueTick => {
                for v in Venue::ALL {
                    let out = self.venues[v.index()].tick(self.now);
                    self.observed.deadman_cancels += out
                        .iter()
                        .filter(|(_, r)| {
                            matches!(
                                r,
                                Response::Execution(propbot_engine::input::ExecutionReport {
                                    kind: ExecutionKind::Cancelled {
                                        reason: propbot_engine::input::CancelReason::Deadman
                                    },
                                    ..
                                })
                            )
                        })
                        .count() as u64;
                    self.route(v, out);
                }
                self.schedule(self.now.plus_nanos(VENUE_TICK_NS), Event::VenueTick);
            }
            Event::FaultStart(k) => self.fault_start(k),
            Event::FaultEnd(k) => self.fault_end(k),
            Event::Operator(k, part) => self.operator(k, part),
            Event::Restart(i) => self.restart(i),
            Event::CrashNow(i) => {
                if !self.healing {
                    self.crash(i, CrashPoint::Now);
                }
            }
            Event::VenueDeadline(v) => {
                let out = self.venues[v.index()].tick(self.now);
                self.observed.deadman_cancels += count_deadman(&out);
                self.route(v, out);
            }
            Event::Heal => self.heal(),
            Event::FinalRecon => self.final_reconciliation(),
            Event::End => {
                self.at_end();
                self.ended = true;
            }
        }
    }

    pub(crate) fn is_paused(&self, i: u8) -> bool {
        self.now < self.instances[i as usize].paused_until
    }

    /// Whether instance `i` cannot trade on `venue` right now, by the world's truth: a
    /// link cut either way, a ban (418), or the venue in maintenance.
    pub(crate) fn venue_unreachable(&self, i: u8, venue: Venue) -> bool {
        let v = &self.venues[venue.index()];
        self.cut(Node::Instance(i), Node::Venue(venue))
            || self.cut(Node::Venue(venue), Node::Instance(i))
            || self.now < v.banned_until()
            || v.in_maintenance(self.now).is_some()
    }

    fn on_market(&mut self) {
        let (t, update) = self.market.advance();
        debug_assert!(t >= self.now);
        let venue = update.venue();
        let out = self.venues[venue.index()].on_market(self.now, &update);
        self.route(venue, out);
        for i in 0..self.instances.len() as u8 {
            if !self.instances[i as usize].is_up()
                || self.cut(Node::Venue(venue), Node::Instance(i))
            {
                continue;
            }
            if let MarketUpdate::Delta { .. } = update
                && let Some(until) = self.gaps.get(&(i, venue)).copied()
                && self.now < until
                && self.chaos.below(5) == 0
            {
                if self.market.windows() > 0 {
                    self.coverage.hit("gap_during_fast_market");
                }
                continue;
            }
            let lat = self.market_latency();
            let generation = self.instances[i as usize].generation;
            self.schedule(
                self.now.plus_nanos(lat),
                Event::Deliver {
                    to: i,
                    generation,
                    msg: Msg::Market(update.clone()),
                },
            );
        }
        self.schedule(self.market.peek_time(), Event::Market);
    }

    /// Routes venue responses to their instances (with latency, unless the link is cut).
    fn route(&mut self, venue: Venue, out: Vec<(InstanceId, Response)>) {
        for (to, response) in out {
            let i = to.0;
            if i as usize >= self.instances.len() || self.cut(Node::Venue(venue), Node::Instance(i))
            {
                continue;
            }
            let mut lat = self.latency();
            if self.now < self.reorder_until[venue.index()]
                && matches!(response, Response::Execution(_))
            {
                lat += self.chaos.range(0, 20) * NANOS_PER_MILLI;
            }
            let generation = self.instances[i as usize].generation;
            self.schedule(
                self.now.plus_nanos(lat),
                Event::Deliver {
                    to: i,
                    generation,
                    msg: Msg::Venue(venue, response),
                },
            );
        }
    }

    fn venue_arrival(&mut self, venue: Venue, from: u8, request: Request) {
        let before = self.venues[venue.index()].accepted.len();
        let out = self.venues[venue.index()].submit(self.now, InstanceId(from), request);
        if let Some(until) = self.venues[venue.index()].deadman_until() {
            // The venue checks its countdown continuously: fire exactly at expiry.
            if self.deadline_scheduled[venue.index()] != until {
                self.deadline_scheduled[venue.index()] = until;
                self.schedule(until, Event::VenueDeadline(venue));
            }
        }
        let accepted: Vec<_> = self.venues[venue.index()].accepted[before..].to_vec();
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
        self.route(venue, out);
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

    fn adapter_tick(&mut self, i: u8, generation: u64) {
        let inst = &self.instances[i as usize];
        if inst.generation != generation || !inst.is_up() {
            return;
        }
        let stall = self.scenario.world.stall_ms * NANOS_PER_MILLI;
        for venue in Venue::ALL {
            let v = venue.index();
            let link = !self.cut(Node::Venue(venue), Node::Instance(i))
                && !self.cut(Node::Instance(i), Node::Venue(venue));
            let connected = self.instances[i as usize].connected[v];
            let last = self.instances[i as usize].last_market[v];
            if connected && self.now.nanos_since(last) > stall {
                self.instances[i as usize].connected[v] = false;
                self.engine_input(
                    i,
                    Msg::Venue(
                        venue,
                        Response::Venue(VenueEventKind::Disconnected { clean: false }),
                    ),
                );
            } else if !connected && link && !self.is_paused(i) {
                self.instances[i as usize].connected[v] = true;
                self.instances[i as usize].last_market[v] = self.now;
                self.engine_input(
                    i,
                    Msg::Venue(venue, Response::Venue(VenueEventKind::Connected)),
                );
            }
        }
        self.schedule(
            self.now.plus_nanos(ADAPTER_EVERY_NS),
            Event::AdapterTimer {
                instance: i,
                generation,
            },
        );
    }

    /// Delivers to an instance now (no network), e.g. adapter-detected link events.
    fn engine_input(&mut self, i: u8, msg: Msg) {
        self.deliver(i, msg);
    }

    fn boot(&mut self, i: u8) {
        let recovered = {
            let r = self.instances[i as usize].disk.recover();
            let local = self.local_of(&self.instances[i as usize]);
            match RecoveredState::from_records(&self.config, &r.records) {
                Ok(s) => s.boot_at(local),
                Err(e) => {
                    self.fail(
                        "5 RPO = 0 / 6 journal integrity",
                        format!("instance {i} cannot recover its journal: {e}"),
                    );
                    return;
                }
            }
        };
        let through = recovered.through;
        let mut cs = std::mem::take(&mut self.checkers);
        let mut errors = Vec::new();
        for c in &mut cs {
            if let Err(d) = c.on_recover(i, through, &self.instances[i as usize].disk) {
                errors.push((c.name(), d));
            }
        }
        self.checkers = cs;
        for (name, detail) in errors {
            self.fail(name, detail);
        }
        let inst = &mut self.instances[i as usize];
        inst.generation += 1;
        // A new process has no lease taken on the old clock reading.
        inst.clock_stepped_back_ns = 0;
        inst.connected = [false; 2];
        inst.last_market = [self.now; 2];
        inst.crash_armed = None;
        inst.mode = Mode::Hold;
        inst.epoch = 0;
        inst.hold_at = Some(self.now);
        let generation = inst.generation;
        let config = self.config.clone();
        let engine = Engine::new(config, recovered);
        self.instances[i as usize].engine = Some(engine);
        self.pump(i, Mode::Hold);
        self.schedule(
            self.now,
            Event::LeaseTimer {
                instance: i,
                generation,
            },
        );
        self.schedule(
            self.now.plus_millis(200),
            Event::ProbeTimer {
                instance: i,
                generation,
            },
        );
        self.schedule(
            self.now.plus_millis(50),
            Event::AdapterTimer {
                instance: i,
                generation,
            },
        );
        self.arm_timer(i);
        // The adapter subscribes: each venue sends a fresh snapshot.
        for venue in Venue::ALL {
            if !self.cut(Node::Venue(venue), Node::Instance(i)) {
                let snap = self.market.snapshot(venue, self.now);
                let lat = self.market_latency();
                self.schedule(
                    self.now.plus_nanos(lat),
                    Event::Deliver {
                        to: i,
                        generation,
                        msg: Msg::Market(snap),
                    },
                );
            }
        }
    }

    fn crash(&mut self, i: u8, point: CrashPoint) {
        let inst = &mut self.instances[i as usize];
        let Some(engine) = &inst.engine else {
            return;
        };
        // Exposure integrated so far survives the process in the figures.
        self.unhedged_before_crashes += engine
            .pairs()
            .iter()
            .map(|p| p.unhedged_usd_seconds())
            .sum::<f64>();
        inst.engine = None;
        inst.crash_armed = None;
        inst.restarts += 1;
        inst.disk.crash(&mut self.disk_rng);
        self.lease.release(i);
        *self
            .coverage
            .sometimes
            .entry(format!("crash_{point:?}"))
            .or_default() += 1;
        if point == CrashPoint::AfterCommitBeforeSend {
            self.coverage.hit("crash_between_commit_and_send");
        }
        let at = self.now.plus_millis(self.scenario.world.restart_ms);
        self.schedule(at, Event::Restart(i));
    }

    fn restart(&mut self, i: u8) {
        if self.instances[i as usize].is_up() {
            return;
        }
        self.boot(i);
        let in_hold = self.instances[i as usize]
            .engine
            .as_ref()
            .is_some_and(|e| e.control().mode == Mode::Hold);
        self.observed.restarts_in_hold.push(in_hold);
    }

    fn arm_timer(&mut self, i: u8) {
        let inst = &self.instances[i as usize];
        if let Some(t) = inst.engine.as_ref().and_then(|e| e.poll_timeout()) {
            let generation = inst.generation;
            // Local deadline → true time.
            let at = UnixNanos((t.0 as i64 - inst.clock_offset_ns).max(0) as u64).max(self.now);
            if inst.timer_at == at {
                return;
            }
            self.instances[i as usize].timer_at = at;
            self.schedule(
                at,
                Event::EngineTimer {
                    instance: i,
                    generation,
                },
            );
        }
    }

    /// Tells the engine of a clock step back before anything else reaches it; `false`
    /// when the instance is no longer up afterwards.
    fn notice_clock_step(&mut self, i: u8, local: UnixNanos) -> bool {
        let by_ns = std::mem::take(&mut self.instances[i as usize].clock_stepped_back_ns);
        if by_ns == 0 {
            return true;
        }
        let mode = self.instances[i as usize].mode;
        if let Some(e) = self.instances[i as usize].engine.as_mut() {
            if e.fencing().epoch() > 0 {
                self.coverage.hit("clock_step_back_while_leader");
            }
            e.handle(local, Input::Lease(LeaseEvent::ClockSteppedBack { by_ns }));
        }
        self.pump(i, mode);
        self.instances[i as usize].is_up()
    }

    /// Hands a message to an instance's engine and runs its driver loop.
    fn deliver(&mut self, i: u8, msg: Msg) {
        if !self.instances[i as usize].is_up() {
            return;
        }
        if self.is_paused(i) {
            let until = self.instances[i as usize].paused_until;
            let generation = self.instances[i as usize].generation;
            self.schedule(
                until,
                Event::Deliver {
                    to: i,
                    generation,
                    msg,
                },
            );
            return;
        }
        let local = self.local_now(i);
        if !self.notice_clock_step(i, local) {
            return;
        }
        // Timers that are due run first, as a live driver would: decisions they take
        // are sent (and checked) before the next input changes the engine's view.
        if self.instances[i as usize]
            .engine
            .as_ref()
            .and_then(|e| e.poll_timeout())
            .is_some_and(|t| t <= local)
        {
            let mode = self.instances[i as usize].mode;
            if let Some(e) = self.instances[i as usize].engine.as_mut() {
                e.handle_timeout(local);
            }
            self.pump(i, mode);
            if !self.instances[i as usize].is_up() {
                return;
            }
        }
        let mode = self.instances[i as usize].mode;
        if let Msg::Market(u) = &msg {
            let v = u.venue().index();
            if !self.instances[i as usize].connected[v] {
                // The adapter is reconnecting: data is dropped until it is up.
                return;
            }
            self.instances[i as usize].last_market[v] = self.now;
        }
        let crash_on_fill = self.instances[i as usize].crash_armed
            == Some(CrashPoint::AfterFillBeforeCommit)
            && matches!(&msg, Msg::Venue(_, Response::Execution(r)) if matches!(r.kind, ExecutionKind::Fill { .. }));
        let ttl = self.lease.ttl_ns();
        let command = match &msg {
            Msg::Operator(action) => {
                let inst = &mut self.instances[i as usize];
                inst.command_id += 1;
                Some(OperatorCommand {
                    command_id: inst.command_id,
                    actor: operator_actor(action),
                    action: action.clone(),
                })
            }
            _ => None,
        };
        {
            let engine = self.instances[i as usize].engine.as_mut().expect("up");
            match &msg {
                Msg::Market(u) => engine.handle(local, u.as_input()),
                Msg::Venue(venue, response) => engine.handle(local, response.as_input(*venue)),
                Msg::Lease(answer, sent_local) => {
                    if let LeaseAnswer::Granted { epoch } = answer {
                        engine.handle(
                            local,
                            Input::Lease(LeaseEvent::Granted {
                                epoch: *epoch,
                                requested_at: *sent_local,
                                ttl_ns: ttl,
                            }),
                        );
                    }
                }
                Msg::Clock {
                    venue,
                    venue_time,
                    sent_local,
                } => {
                    let rtt = local.nanos_since(*sent_local);
                    let mid = sent_local.plus_nanos(rtt / 2);
                    let offset_ns = venue_time.0 as i64 - mid.0 as i64;
                    engine.handle(
                        local,
                        Input::Venue(VenueEvent {
                            venue: *venue,
                            kind: VenueEventKind::ClockSample {
                                offset_ns,
                                rtt_ns: rtt,
                            },
                        }),
                    );
                }
                Msg::Operator(_) => {
                    engine.handle(local, Input::Operator(command.expect("built above")))
                }
                Msg::FinalRecon(_, snap) => engine.handle(local, Input::Reconciliation(snap)),
            }
        }
        if crash_on_fill {
            // The fill was handled; its journal record is still in the buffer.
            self.pump_until_crash(i);
            return;
        }
        self.pump(i, mode);
        self.arm_timer(i);
        if let Msg::FinalRecon(venue, snap) = &msg {
            self.check_final_recon(i, *venue, snap);
        }
    }

    /// Right after the leader processed the final reconciliation: its positions equal
    /// the venue's, and its durable journal holds every venue fill exactly once.
    fn check_final_recon(
        &mut self,
        i: u8,
        venue: Venue,
        snap: &propbot_engine::input::ReconSnapshot,
    ) {
        let Some(e) = self.instances[i as usize].engine.as_ref() else {
            return;
        };
        for (instrument, theirs) in &snap.positions {
            let mine = e.ledger().position(venue, *instrument).qty;
            if mine != *theirs {
                let detail = format!(
                    "#{i}: {venue} position {} ≠ venue {} after reconciliation",
                    mine.raw(),
                    theirs.raw()
                );
                self.fail("9 positions and rates", detail);
                return;
            }
        }
        let mut journal = std::collections::BTreeMap::new();
        for s in self.instances[i as usize].disk.durable() {
            if let JournalEvent::Fill { fill, .. } = &s.record.event
                && fill.venue == venue
            {
                *journal.entry(fill.trade_id).or_insert(0u32) += 1;
            }
        }
        let missing = snap
            .fills
            .iter()
            .filter(|f| !journal.contains_key(&f.trade_id))
            .count();
        let duplicated = journal.values().filter(|n| **n > 1).count();
        self.figures.lost_fills += (missing + duplicated) as u64;
        if missing + duplicated > 0 {
            let detail = format!(
                "#{i}: {missing} {venue} fill(s) missing from the journal, {duplicated} duplicated, after reconciliation"
            );
            self.fail("5 RPO = 0", detail);
        }
    }

    fn pump_until_crash(&mut self, i: u8) {
        let engine = self.instances[i as usize].engine.as_mut().expect("up");
        let mut outputs = Vec::new();
        while let Some(o) = engine.poll_output() {
            outputs.push(o);
        }
        for o in outputs {
            if let Output::Journal(r) = o {
                let _ = self.instances[i as usize].disk.append(r);
            }
        }
        self.coverage.hit("crash_after_fill_before_commit");
        self.crash(i, CrashPoint::AfterFillBeforeCommit);
    }

    /// The driver loop after a handle: journal the batch durably, then send.
    fn pump(&mut self, i: u8, mode_before: Mode) {
        let mut mode = mode_before;
        for _ in 0..PUMP_ROUNDS_MAX {
            let Some(engine) = self.instances[i as usize].engine.as_mut() else {
                return;
            };
            let mut outputs = Vec::new();
            while let Some(o) = engine.poll_output() {
                outputs.push(o);
            }
            if outputs.is_empty() {
                break;
            }
            let mut journaled = 0;
            let mut failed = false;
            for o in &outputs {
                if let Output::Journal(r) = o {
                    self.observe_journal(i, r);
                    if self.instances[i as usize].disk.append(r.clone()).is_err() {
                        failed = true;
                    }
                    journaled += 1;
                }
            }
            if failed {
                let local = self.local_now(i);
                let engine = self.instances[i as usize].engine.as_mut().expect("up");
                engine.handle(local, Input::System(SystemEvent::JournalFailed));
                let mut last = Vec::new();
                while let Some(o) = engine.poll_output() {
                    last.push(o);
                }
                // Only non-order outputs may still leave (cancels are safe without a
                // journal); then the process stops, as a journal IO error must.
                self.dispatch(i, outputs, mode, false);
                self.dispatch(i, last, Mode::Hold, false);
                self.coverage.hit("journal_write_failed");
                self.crash(i, CrashPoint::Now);
                return;
            }
            let through = self.instances[i as usize].disk.sync();
            let has_orders = outputs
                .iter()
                .any(|o| matches!(o, Output::Place(_) | Output::Flatten(_)));
            if has_orders
                && self.instances[i as usize].crash_armed == Some(CrashPoint::AfterCommitBeforeSend)
            {
                self.crash(i, CrashPoint::AfterCommitBeforeSend);
                return;
            }
            mode = self.dispatch(i, outputs, mode, true);
            if has_orders
                && self.instances[i as usize].crash_armed == Some(CrashPoint::AfterSendBeforeAck)
            {
                self.coverage.hit("crash_after_send_before_ack");
                self.crash(i, CrashPoint::AfterSendBeforeAck);
                return;
            }
            if journaled > 0 {
                let local = self.local_now(i);
                let engine = self.instances[i as usize].engine.as_mut().expect("up");
                engine.handle(
                    local,
                    Input::System(SystemEvent::JournalCommitted {
                        through,
                        latency_ns: 0,
                    }),
                );
            }
        }
        if let Some(e) = &self.instances[i as usize].engine {
            self.instances[i as usize].mode = e.control().mode;
        }
    }

    fn observe_journal(&mut self, i: u8, r: &propbot_engine::output::JournalRecord) {
        match &r.event {
            JournalEvent::GuardTripped { guard, .. } => {
                self.observed.tripped.insert(guard.name().to_owned());
            }
            JournalEvent::Control { to: Mode::Hold, .. } => {
                self.instances[i as usize].hold_at = Some(self.now);
                self.check_hold_deadlines(i);
            }
            JournalEvent::Control { to: Mode::Run, .. } => {
                self.instances[i as usize].hold_at = None;
            }
            JournalEvent::LeaseAcquired { epoch } => {
                let in_hold = self.instances[i as usize]
                    .engine
                    .as_ref()
                    .is_some_and(|e| e.control().mode == Mode::Hold);
                self.observed.acquisitions.push((i, *epoch, in_hold));
                let others_live = self
                    .instances
                    .iter()
                    .filter(|x| x.id != i)
                    .filter_map(|x| x.engine.as_ref())
                    .any(|e| e.orders().any(|o| o.is_live()));
                if others_live {
                    self.coverage.hit("failover_during_in_flight_order");
                }
            }
            JournalEvent::Approval {
                step: propbot_engine::output::ApprovalStep::Refused { .. },
                ..
            } => {}
            _ => {}
        }
    }

    fn check_hold_deadlines(&mut self, i: u8) {
        for (k, f) in self.faults.iter().enumerate() {
            if f.hold_within_ms.is_none() || self.fault_targets[k] != Some(i) {
                continue;
            }
            let start = T0.plus_millis(f.at_ms);
            if self.now < start {
                continue;
            }
            if let Some(entry) = self
                .observed
                .hold_deadlines
                .iter_mut()
                .find(|(idx, _, took)| *idx == k && took.is_none())
            {
                let took = self.now.nanos_since(start) / NANOS_PER_MILLI;
                entry.2 = Some(took);
                self.figures.time_to_hold_ms = self.figures.time_to_hold_ms.max(took);
            }
        }
    }

    /// Sends the non-journal outputs of a batch. Returns the mode after the batch.
    fn dispatch(
        &mut self,
        i: u8,
        outputs: Vec<Output>,
        mut mode: Mode,
        orders_allowed: bool,
    ) -> Mode {
        for o in outputs {
            match o {
                Output::Journal(r) => {
                    if let JournalEvent::Control { to, .. } = r.event {
                        mode = to;
                    }
                }
                Output::Place(r) | Output::Flatten(r) => {
                    if !orders_allowed {
                        continue;
                    }
                    let place = matches!(
                        r.purpose,
                        OrderPurpose::Entry
                            | OrderPurpose::Exit
                            | OrderPurpose::Hedge
                            | OrderPurpose::Maker
                    );
                    self.figures.orders_sent += 1;
                    if place {
                        self.observed.places += 1;
                        if mode == Mode::Hold {
                            self.figures.orders_after_trip += 1;
                        }
                    }
                    if self.venues[r.venue.index()]
                        .faults
                        .maintenance
                        .iter()
                        .any(|(s, p, e)| {
                            p.is_some_and(|p| self.now >= p) && self.now >= *s && self.now < *e
                        })
                        && r.time_in_force != propbot_engine::model::TimeInForce::PostOnly
                    {
                        self.observed.preopen_violations += 1;
                    }
                    {
                        let inst = &self.instances[i as usize];
                        let engine = inst.engine.as_ref().expect("up");
                        let view = SendView {
                            instance: i,
                            request: &r,
                            place,
                            mode,
                            engine,
                            disk: &inst.disk,
                            sent_before: inst.sent.contains(&r.client_order_id),
                            now: self.now,
                        };
                        let mut cs = std::mem::take(&mut self.checkers);
                        for c in &mut cs {
                            if let Err(detail) = c.on_send(&view) {
                                self.violation.get_or_insert(Violation {
                                    invariant: c.name(),
                                    step: self.steps,
                                    at_ms: self.now.nanos_since(T0) / NANOS_PER_MILLI,
                                    detail,
                                });
                            }
                        }
                        self.checkers = cs;
                    }
                    self.instances[i as usize].sent.insert(r.client_order_id);
                    self.send_request(i, r.venue, Request::Place(r));
                }
                Output::Cancel {
                    venue,
                    instrument,
                    client_order_id,
                } => {
                    let inst = &self.instances[i as usize];
                    if inst
                        .engine
                        .as_ref()
                        .is_some_and(|e| e.places_held_back(self.local_of(inst), venue))
                    {
                        self.observed.cancels_during_backoff += 1;
                    }
                    self.send_request(
                        i,
                        venue,
                        Request::Cancel {
                            instrument,
                            client_order_id,
                        },
                    );
                }
                o @ (Output::CancelAll { .. }
                | Output::QueryOrder { .. }
                | Output::ArmDeadman { .. }
                | Output::Resync { .. }
                | Output::Reconcile { .. }) => {
                    let (venue, request) = Request::for_output(o).expect("a venue request");
                    self.send_request(i, venue, request);
                }
                Output::ReleaseLease { epoch } => {
                    if !self.cut(Node::Instance(i), Node::Lease) {
                        let lat = self.latency();
                        self.schedule(
                            self.now.plus_nanos(lat),
                            Event::LeaseResign { from: i, epoch },
                        );
                    }
                }
                Output::Alert(a) => {
                    if let Some(log) = &mut self.trace_log {
                        log.push(format!(
                            "            #{i} alert {:?} {}: {}",
                            a.severity, a.code, a.message
                        ));
                    }
                }
                Output::Reply(reply) => self.on_reply(i, reply),
            }
        }
        mode
    }

    fn on_reply(&mut self, i: u8, reply: propbot_engine::output::Reply) {
        match &reply.result {
            Ok(a) => {
                if let Some(id) = a.request_id {
                    self.instances[i as usize].pending_request = Some(id);
                }
            }
            Err(r) if r.code == RefusalCode::SameActor => self.observed.same_actor_refused = true,
            Err(_) => {}
        }
    }

    fn send_request(&mut self, i: u8, venue: Venue, request: Request) {
        if self.cut(Node::Instance(i), Node::Venue(venue)) {
            return;
        }
        let lat = self.latency();
        self.schedule(
            self.now.plus_nanos(lat),
            Event::VenueArrival {
                venue,
                from: i,
                request,
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

    fn operator(&mut self, k: usize, part: u8) {
        let step = self.scenario.operator[k].clone();
        let i = self.resolve(step.target);
        let generation = self.instances[i as usize].generation;
        let at = |w: &World, ms: u64| w.now.plus_millis(ms);
        match step.action {
            OperatorSpec::Resume => match part {
                0 => {
                    self.instances[i as usize].pending_request = None;
                    self.deliver(
                        i,
                        Msg::Operator(OperatorAction::ResumeRequest {
                            reason: "scenario: checks done".into(),
                        }),
                    );
                    self.schedule(at(self, 100), Event::Operator(k, 1));
                }
                1 => {
                    if let Some(request_id) = self.instances[i as usize].pending_request {
                        self.deliver(
                            i,
                            Msg::Operator(OperatorAction::ResumeConfirm {
                                request_id,
                                token: APPROVAL_TOKEN.into(),
                            }),
                        );
                    }
                    self.schedule(at(self, 100), Event::Operator(k, 2));
                }
                n => {
                    self.deliver(i, Msg::Operator(OperatorAction::Resume));
                    let running = self.instances[i as usize]
                        .engine
                        .as_ref()
                        .is_some_and(|e| e.control().mode == Mode::Run);
                    // An operator keeps trying while something still blocks (up to 60 tries).
                    if !running && n < 60 {
                        self.schedule(
                            at(self, 1_000),
                            Event::Operator(k, if n % 10 == 9 { 0 } else { n + 1 }),
                        );
                    }
                }
            },
            OperatorSpec::ResumeSameActor => {
                self.deliver(
                    i,
                    Msg::Operator(OperatorAction::ResumeRequest {
                        reason: "alone".into(),
                    }),
                );
                if let Some(request_id) = self.instances[i as usize].pending_request {
                    // alice confirms her own request: the engine must refuse.
                    let inst = &mut self.instances[i as usize];
                    inst.command_id += 1;
                    let command = OperatorCommand {
                        command_id: inst.command_id,
                        actor: "alice".into(),
                        action: OperatorAction::ResumeConfirm {
                            request_id,
                            token: APPROVAL_TOKEN.into(),
                        },
                    };
                    let local = self.local_now(i);
                    let mode = self.instances[i as usize].mode;
                    if let Some(e) = self.instances[i as usize].engine.as_mut() {
                        e.handle(local, Input::Operator(command));
                    }
                    self.pump(i, mode);
                }
            }
            OperatorSpec::Hold { reason } => {
                self.deliver(i, Msg::Operator(OperatorAction::Hold { reason }))
            }
            OperatorSpec::Kill => match part {
                0 => {
                    self.instances[i as usize].pending_request = None;
                    self.deliver(
                        i,
                        Msg::Operator(OperatorAction::KillRequest {
                            reason: "scenario".into(),
                        }),
                    );
                    self.schedule(at(self, 100), Event::Operator(k, 1));
                }
                _ => {
                    if let Some(request_id) = self.instances[i as usize].pending_request {
                        self.deliver(
                            i,
                            Msg::Operator(OperatorAction::KillConfirm {
                                request_id,
                                token: APPROVAL_TOKEN.into(),
                            }),
                        );
                    }
                }
            },
            OperatorSpec::ConfigApply { patch } => {
                let mut value = serde_yaml::to_value(&self.scenario.world.config_patch)
                    .unwrap_or(serde_yaml::Value::Null);
                if value.is_null() {
                    value = serde_yaml::Value::Mapping(Default::default());
                }
                crate::scenario::merge_yaml(&mut value, &patch);
                let mut s = self.scenario.clone();
                s.world.config_patch = Some(value);
                if let Ok(config) = s.config() {
                    let version = self.instances[i as usize]
                        .engine
                        .as_ref()
                        .map_or(1, |e| e.config_version() + 1);
                    self.deliver(
                        i,
                        Msg::Operator(OperatorAction::ConfigApply {
                            config: Box::new(config),
                            version,
                        }),
                    );
                }
            }
        }
        let _ = generation;
    }

    fn node(&self, n: NodeSpec) -> Node {
        match n {
            NodeSpec::Instance(t) => Node::Instance(self.resolve(t)),
            NodeSpec::Venue(v) => Node::Venue(v),
            NodeSpec::Lease => Node::Lease,
        }
    }

    fn fault_start(&mut self, k: usize) {
        if self.healing {
            return;
        }
        let f = self.faults[k].clone();
        let end = self.now.plus_millis(f.duration_ms);
        *self
            .coverage
            .faults
            .entry(fault_name(&f.fault))
            .or_default() += 1;
        let mut target = None;
        match f.fault {
            FaultKind::Partition { a, b, one_way } => {
                let (a, b) = (self.node(a), self.node(b));
                if let Node::Instance(i) = a {
                    target = Some(i);
                }
                self.cuts.insert((a, b));
                if !one_way {
                    self.cuts.insert((b, a));
                }
            }
            FaultKind::Disconnect {
                target: t,
                venue,
                clean,
            } => {
                let i = self.resolve(t);
                target = Some(i);
                self.cuts.insert((Node::Instance(i), Node::Venue(venue)));
                self.cuts.insert((Node::Venue(venue), Node::Instance(i)));
                if clean && self.instances[i as usize].connected[venue.index()] {
                    self.instances[i as usize].connected[venue.index()] = false;
                    self.engine_input(
                        i,
                        Msg::Venue(
                            venue,
                            Response::Venue(VenueEventKind::Disconnected { clean: true }),
                        ),
                    );
                }
            }
            FaultKind::Gap { target: t, venue } => {
                let i = self.resolve(t);
                target = Some(i);
                self.gaps
                    .insert((i, venue), end.max(self.now.plus_millis(1_000)));
            }
            FaultKind::Storm429 { venue } => {
                target = self.leader();
                self.venues[venue.index()].faults.storm_until = end;
            }
            FaultKind::Unknown { venue, ppm } => {
                let v = &mut self.venues[venue.index()].faults;
                v.unknown_ppm = ppm;
                v.unknown_until = end;
            }
            FaultKind::DuplicateReorder { venue, ppm } => {
                self.venues[venue.index()].faults.duplicate_ppm = ppm;
                self.reorder_until[venue.index()] = end;
            }
            FaultKind::Maintenance {
                venue,
                notice_ms,
                pre_open_ms,
            } => {
                target = self.leader();
                let start = self.now.plus_millis(notice_ms);
                let stop = start.plus_millis(f.duration_ms);
                let pre =
                    (pre_open_ms > 0).then(|| stop.minus_nanos(pre_open_ms * NANOS_PER_MILLI));
                self.venues[venue.index()]
                    .faults
                    .maintenance
                    .push((start, pre, stop));
                for i in 0..self.instances.len() as u8 {
                    if !self.cut(Node::Venue(venue), Node::Instance(i)) {
                        let lat = self.latency();
                        let generation = self.instances[i as usize].generation;
                        let kind = VenueEventKind::Maintenance {
                            start,
                            end: stop,
                            pre_open_start: pre,
                        };
                        self.schedule(
                            self.now.plus_nanos(lat),
                            Event::Deliver {
                                to: i,
                                generation,
                                msg: Msg::Venue(venue, Response::Venue(kind)),
                            },
                        );
                    }
                }
            }
            FaultKind::VenueCancel { venue } => {
                let out = self.venues[venue.index()].venue_cancel_all(self.now);
                self.route(venue, out);
            }
            FaultKind::Skew {
                target: t,
                offset_ms,
            } => {
                let i = self.resolve(t);
                target = Some(i);
                self.instances[i as usize].set_clock_offset(offset_ms * NANOS_PER_MILLI as i64);
            }
            FaultKind::VenueClock { venue, offset_ms } => {
                target = self.leader();
                self.venues[venue.index()].faults.clock_offset_ns =
                    offset_ms * NANOS_PER_MILLI as i64;
            }
            FaultKind::Crash { target: t, point } => {
                let i = self.resolve(t);
                target = Some(i);
                if point == CrashPoint::Now {
                    self.crash(i, point);
                } else {
                    self.instances[i as usize].crash_armed = Some(point);
                }
            }
            FaultKind::Pause { target: t } => {
                let i = self.resolve(t);
                target = Some(i);
                self.instances[i as usize].paused_until = end;
                if f.duration_ms > self.scenario.world.lease_ttl_ms {
                    self.coverage.hit("pause_longer_than_lease");
                }
            }
            FaultKind::Flip { venue } => {
                target = self.leader();
                self.market.set_flip(venue, true);
            }
            FaultKind::DiskError { target: t } => {
                let i = self.resolve(t);
                target = Some(i);
                self.instances[i as usize].disk.fault = DiskFault::WriteError;
            }
            FaultKind::LeaseDown => self.lease.down_until = end,
            FaultKind::ExtraInstance => {
                // A second process started by mistake (two on one host, or a stale
                // standby): it must never get an order accepted out of epoch order.
                let id = self.instances.len() as u8;
                self.instances.push(Instance::new(id));
                self.boot(id);
                target = Some(id);
            }
            FaultKind::CrashLoop { target: t, count } => {
                let i = self.resolve(t);
                target = Some(i);
                for k in 0..count {
                    let at = self
                        .now
                        .plus_millis(k * (self.scenario.world.restart_ms + 500));
                    self.schedule(at, Event::CrashNow(i));
                }
            }
            FaultKind::PriceJump { centibps } => self.market.jump(centibps, self.now),
            FaultKind::Random { .. } => unreachable!("random faults are expanded before the run"),
        }
        self.fault_targets[k] = target;
        if let (Some(_), Some(i)) = (f.hold_within_ms, target) {
            let already = self.instances[i as usize].mode == Mode::Hold;
            self.observed.hold_deadlines.push((
                k,
                f.hold_within_ms.unwrap_or(0),
                if already { Some(0) } else { None },
            ));
        }
        self.schedule(end, Event::FaultEnd(k));
    }

    fn fault_end(&mut self, k: usize) {
        let f = self.faults[k].clone();
        match f.fault {
            FaultKind::Partition { a, b, one_way } => {
                let (a, b) = (self.node(a), self.node(b));
                self.cuts.remove(&(a, b));
                if !one_way {
                    self.cuts.remove(&(b, a));
                }
            }
            FaultKind::Disconnect { venue, .. } => {
                if let Some(i) = self.fault_targets[k] {
                    self.cuts.remove(&(Node::Instance(i), Node::Venue(venue)));
                    self.cuts.remove(&(Node::Venue(venue), Node::Instance(i)));
                }
            }
            FaultKind::Gap { venue, .. } => {
                if let Some(i) = self.fault_targets[k] {
                    self.gaps.remove(&(i, venue));
                }
            }
            FaultKind::Skew { .. } => {
                if let Some(i) = self.fault_targets[k] {
                    self.instances[i as usize].set_clock_offset(0);
                }
            }
            FaultKind::VenueClock { venue, .. } => {
                self.venues[venue.index()].faults.clock_offset_ns = 0
            }
            FaultKind::Flip { venue } => {
                self.market.set_flip(venue, false);
            }
            FaultKind::DiskError { .. } => {
                if let Some(i) = self.fault_targets[k] {
                    self.instances[i as usize].disk.fault = DiskFault::None;
                }
            }
            FaultKind::DuplicateReorder { venue, .. } => {
                self.venues[venue.index()].faults.duplicate_ppm = 0
            }
            FaultKind::Crash { .. } => {
                if let Some(i) = self.fault_targets[k] {
                    self.instances[i as usize].crash_armed = None;
                }
            }
            _ => {}
        }
    }

    /// Heals every fault and lets the system settle.
    fn heal(&mut self) {
        self.healing = true;
        self.cuts.clear();
        self.gaps.clear();
        self.lease.down_until = UnixNanos::ZERO;
        for v in Venue::ALL {
            self.market.set_flip(v, false);
        }
        for v in &mut self.venues {
            v.faults.storm_until = UnixNanos::ZERO;
            v.faults.unknown_until = UnixNanos::ZERO;
            v.faults.duplicate_ppm = 0;
            v.faults.clock_offset_ns = 0;
        }
        for inst in &mut self.instances {
            inst.set_clock_offset(0);
            inst.paused_until = UnixNanos::ZERO;
            inst.crash_armed = None;
            inst.disk.fault = DiskFault::None;
        }
        for i in 0..self.instances.len() as u8 {
            if !self.instances[i as usize].is_up() {
                self.restart(i);
            }
        }
        // A final reconciliation of the leader against both venues half-way through the
        // heal period, so liveness checks (at the end) compare settled state. A 418 ban
        // is the venue's sanction, not a fault the simulator can heal: while it lasts
        // nothing can be queried or resynced there, so both wait for it to end.
        let half = self.scenario.world.heal_ms / 2;
        let banned = self
            .venues
            .iter()
            .map(|v| v.banned_until())
            .max()
            .unwrap_or(UnixNanos::ZERO);
        let mut recon_at = self.now.plus_millis(half);
        let mut end_at = self.now.plus_millis(self.scenario.world.heal_ms);
        if banned.plus_millis(half) > end_at {
            self.coverage.hit("ban_outlasted_heal");
            recon_at = recon_at.max(banned.plus_millis(half / 2));
            end_at = banned.plus_millis(half);
        }
        self.schedule(recon_at, Event::FinalRecon);
        self.schedule(end_at, Event::End);
    }

    fn at_end(&mut self) {
        let hidden: u64 = self.venues.iter().map(|v| v.counters.hidden_fills).sum();
        if hidden > 0 {
            *self
                .coverage
                .sometimes
                .entry("503_hid_a_fill".into())
                .or_default() += hidden;
        }
        let deadman: u64 = self.venues.iter().map(|v| v.counters.deadman_cancels).sum();
        if deadman > 0 {
            *self
                .coverage
                .sometimes
                .entry("deadman_cancelled_orders".into())
                .or_default() += deadman;
        }
        if self.observed.cancels_during_backoff > 0 {
            *self
                .coverage
                .sometimes
                .entry("cancel_during_backoff".into())
                .or_default() += self.observed.cancels_during_backoff;
        }
        let mut cs = std::mem::take(&mut self.checkers);
        for c in &mut cs {
            if let Err(detail) = c.at_end(self) {
                self.fail(c.name(), detail);
            }
        }
        self.checkers = cs;
        self.figures.fills = self.venues.iter().map(|v| v.counters.fills).sum();
        self.observed.deadman_cancels += 0;
    }

    /// The final reconciliation (scheduled at heal).
    fn final_reconciliation(&mut self) {
        if let Some(i) = self.leader() {
            for venue in Venue::ALL {
                let snap = self.venues[venue.index()].reconciliation(self.now);
                let generation = self.instances[i as usize].generation;
                let lat = self.latency();
                self.schedule(
                    self.now.plus_nanos(lat),
                    Event::Deliver {
                        to: i,
                        generation,
                        msg: Msg::Venue(venue, Response::Reconciliation(snap)),
                    },
                );
            }
        }
    }

    /// Live orders of unknown outcome across instances.
    pub fn unknown_orders(&self) -> usize {
        self.instances
            .iter()
            .filter_map(|i| i.engine.as_ref())
            .flat_map(|e| e.orders())
            .filter(|o| o.state == OrderState::Unknown)
            .count()
    }
}

fn count_deadman(out: &[(InstanceId, Response)]) -> u64 {
    out.iter()
        .filter(|(_, r)| {
            matches!(
                r,
                Response::Execution(propbot_engine::input::ExecutionReport {
                    kind: ExecutionKind::Cancelled {
                        reason: propbot_engine::input::CancelReason::Deadman
                    },
                    ..
                })
            )
        })
        .count() as u64
}

fn operator_actor(action: &OperatorAction) -> String {
    match action {
        OperatorAction::ResumeRequest { .. }
        | OperatorAction::KillRequest { .. }
        | OperatorAction::Hold { .. } => "alice".into(),
        _ => "bob".into(),
    }
}

fn fault_name(f: &FaultKind) -> String {
    match f {
        FaultKind::Disconnect { clean: false, .. } => "stall".into(),
        other => {
            let v = serde_json::to_value(other).unwrap_or_default();
            v.get("kind")
                .and_then(|k| k.as_str())
                .unwrap_or("?")
                .to_owned()
        }
    }
}

fn event_kind(e: &Event) -> u8 {
    match e {
        Event::Market => 0,
        Event::Deliver { .. } => 1,
        Event::VenueArrival { .. } => 2,
        Event::LeaseArrival { .. } => 3,
        Event::ProbeArrival { .. } => 4,
        Event::EngineTimer { .. } => 5,
        Event::LeaseTimer { .. } => 6,
        Event::ProbeTimer { .. } => 7,
        Event::AdapterTimer { .. } => 8,
        Event::VenueTick => 9,
        Event::FaultStart(_) => 10,
        Event::FaultEnd(_) => 11,
        Event::Operator(..) => 12,
        Event::Restart(_) => 13,
        Event::Heal => 14,
        Event::FinalRecon => 15,
        Event::End => 16,
        Event::VenueDeadline(_) => 17,
        Event::CrashNow(_) => 18,
        Event::LeaseResign { .. } => 19,
    }
}

fn describe(e: &Event) -> String {
    match e {
        Event::Deliver { to, msg, .. } => format!("deliver to #{to}: {}", describe_msg(msg)),
        Event::VenueArrival {
            venue,
            from,
            request,
        } => format!("{venue} receives from #{from}: {request:?}"),
        Event::FaultStart(k) => format!("fault {k} starts"),
        Event::FaultEnd(k) => format!("fault {k} ends"),
        other => format!("{other:?}").chars().take(120).collect(),
    }
}

fn describe_msg(m: &Msg) -> String {
    match m {
        Msg::Market(u) => format!(
            "market {} {}",
            u.venue(),
            match u {
                MarketUpdate::Snapshot { .. } => "snapshot",
                MarketUpdate::Delta { .. } => "delta",
                MarketUpdate::Trade { .. } => "trade",
            }
        ),
        // Execution reports in full: their kind and quantities are what a reader needs.
        Msg::Venue(venue, Response::Execution(r)) => format!("{venue} {r:?}"),
        other => format!("{other:?}").chars().take(160).collect(),
    }
}
