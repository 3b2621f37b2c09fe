//! An engine process: its clocks, its lifecycle (boot, crash, restart) and the timers
//! its driver and adapters run (engine timer, lease renewal, clock probes, link
//! watchdog).

use super::{Event, Msg, Node, World};
use crate::disk::SimDisk;
use crate::scenario::CrashPoint;
use crate::venue::InstanceId;
use propbot_engine::gateway::Response;
use propbot_engine::input::{Input, LeaseEvent, VenueEventKind};
use propbot_engine::model::{ClientOrderId, Venue};
use propbot_engine::output::Mode;
use propbot_engine::time::{NANOS_PER_MILLI, NANOS_PER_SECOND, UnixNanos};
use propbot_engine::{Engine, RecoveredState};
use std::collections::BTreeSet;

/// Clock probes per instance and venue.
const PROBE_EVERY_NS: u64 = NANOS_PER_SECOND;
/// Adapter watchdog period.
const ADAPTER_EVERY_NS: u64 = 500 * NANOS_PER_MILLI;

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
    pub(super) last_local: UnixNanos,
    /// Frozen until.
    pub paused_until: UnixNanos,
    /// A crash waiting for its point.
    pub crash_armed: Option<CrashPoint>,
    /// Restarts so far.
    pub restarts: u32,
    /// The adapter's view of each venue link.
    pub connected: [bool; 2],
    pub(super) last_market: [UnixNanos; 2],
    /// Every client order id this instance ever sent (never twice).
    pub sent: BTreeSet<ClientOrderId>,
    pub(super) command_id: u64,
    pub(super) pending_request: Option<u64>,
    /// When the engine last entered HOLD.
    pub hold_at: Option<UnixNanos>,
    /// Engine mode as of the end of the last batch.
    pub mode: Mode,
    /// Epoch held when last checked.
    pub epoch: u32,
    /// The engine timer currently scheduled (true time), to avoid duplicates.
    pub(super) timer_at: UnixNanos,
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

    pub(super) fn new(id: u8) -> Instance {
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

impl World {
    /// Starts instance `i`'s process: recover its journal, build the engine, start its
    /// timers, and subscribe its adapter to both venues.
    pub(super) fn boot(&mut self, i: u8) {
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
        self.exchange.connect(InstanceId(i));
        self.pump(i, Mode::Hold);
        self.start_timers(i, generation);
        self.arm_timer(i);
        // The adapter subscribes: each venue it can hear sends a fresh snapshot.
        self.exchange.send_books(self.now, InstanceId(i));
    }

    fn start_timers(&mut self, i: u8, generation: u64) {
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
    }

    /// Instance `i`'s process dies at `point`: the journal loses what was not synced
    /// (as the disk's crash model decides), the lease is released, a restart follows.
    pub(super) fn crash(&mut self, i: u8, point: CrashPoint) {
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
        self.exchange.disconnect(InstanceId(i));
        self.lease.release(i);
        self.coverage.hit(&format!("crash_{point:?}"));
        if point == CrashPoint::AfterCommitBeforeSend {
            self.coverage.hit("crash_between_commit_and_send");
        }
        let at = self.now.plus_millis(self.scenario.world.restart_ms);
        self.schedule(at, Event::Restart(i));
    }

    pub(super) fn restart(&mut self, i: u8) {
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

    /// Schedules the engine's next timer (its local deadline in true time), once.
    pub(super) fn arm_timer(&mut self, i: u8) {
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

    /// The engine's timer is due: it runs unless the process is paused (then it runs
    /// when the pause ends) or has restarted since.
    pub(super) fn engine_timer(&mut self, instance: u8, generation: u64) {
        let inst = &self.instances[instance as usize];
        if inst.generation != generation || !inst.is_up() || inst.timer_at != self.now {
            return;
        }
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

    /// The lease client renews: a request to the lease service (unless paused or cut
    /// off), every quarter of the TTL.
    pub(super) fn lease_timer(&mut self, instance: u8, generation: u64) {
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

    /// The adapters probe both venues' clocks (unless paused), every second.
    pub(super) fn probe_timer(&mut self, instance: u8, generation: u64) {
        let inst = &self.instances[instance as usize];
        if inst.generation != generation || !inst.is_up() {
            return;
        }
        if !self.is_paused(instance) {
            let sent_local = self.local_now(instance);
            for venue in Venue::ALL {
                self.exchange
                    .probe_clock(self.now, InstanceId(instance), venue, sent_local);
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

    /// The adapters' link watchdog: a venue silent for the stall time is reported
    /// disconnected; a link that works again is reported connected.
    pub(super) fn adapter_tick(&mut self, i: u8, generation: u64) {
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
                let kind = VenueEventKind::Disconnected { clean: false };
                self.engine_input(i, Msg::Venue(venue, Response::Venue(kind)));
            } else if !connected && link && !self.is_paused(i) {
                self.instances[i as usize].connected[v] = true;
                self.instances[i as usize].last_market[v] = self.now;
                let kind = VenueEventKind::Connected;
                self.engine_input(i, Msg::Venue(venue, Response::Venue(kind)));
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

    /// Tells the engine of a clock step back before anything else reaches it; `false`
    /// when the instance is no longer up afterwards.
    pub(super) fn notice_clock_step(&mut self, i: u8, local: UnixNanos) -> bool {
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
}
