//! Fault injection: each scheduled fault starts (on its target, resolved at that
//! moment), ends after its duration, and everything heals at the end of the run so
//! that liveness can be checked.

use super::{Event, Msg, Node, World};
use crate::disk::DiskFault;
use crate::scenario::{CrashPoint, FaultKind, FaultSpec, NodeSpec};
use crate::venue::InstanceId;
use propbot_engine::gateway::Response;
use propbot_engine::input::VenueEventKind;
use propbot_engine::model::Venue;
use propbot_engine::output::Mode;
use propbot_engine::time::{NANOS_PER_MILLI, UnixNanos};

/// A gap lasts at least this long, ms (so that a short one still loses deltas).
const GAP_MS_MIN: u64 = 1_000;

impl World {
    fn node(&self, n: NodeSpec) -> Node {
        match n {
            NodeSpec::Instance(t) => Node::Instance(self.resolve(t)),
            NodeSpec::Venue(v) => Node::Venue(v),
            NodeSpec::Lease => Node::Lease,
        }
    }

    /// Fault `k` starts (not while healing): it is counted, its target noted, its
    /// HOLD deadline (if any) watched, and its end scheduled.
    pub(super) fn fault_start(&mut self, k: usize) {
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
        let target = match f.fault {
            FaultKind::Partition { .. } | FaultKind::Disconnect { .. } | FaultKind::Gap { .. } => {
                self.start_link_fault(&f, end)
            }
            FaultKind::Storm429 { .. }
            | FaultKind::Unknown { .. }
            | FaultKind::DuplicateReorder { .. }
            | FaultKind::Maintenance { .. }
            | FaultKind::VenueCancel { .. }
            | FaultKind::VenueClock { .. }
            | FaultKind::Flip { .. }
            | FaultKind::PriceJump { .. } => self.start_venue_fault(&f, end),
            _ => self.start_process_fault(&f, end),
        };
        self.fault_targets[k] = target;
        if let (Some(within), Some(i)) = (f.hold_within_ms, target) {
            let already = self.instances[i as usize].mode == Mode::Hold;
            self.observed
                .hold_deadlines
                .push((k, within, already.then_some(0)));
        }
        self.schedule(end, Event::FaultEnd(k));
    }

    /// Partitions, venue disconnects and gapped market data.
    fn start_link_fault(&mut self, f: &FaultSpec, end: UnixNanos) -> Option<u8> {
        match f.fault {
            FaultKind::Partition { a, b, one_way } => {
                let (a, b) = (self.node(a), self.node(b));
                self.set_cut(a, b, true);
                if !one_way {
                    self.set_cut(b, a, true);
                }
                match a {
                    Node::Instance(i) => Some(i),
                    _ => None,
                }
            }
            FaultKind::Disconnect {
                target: t,
                venue,
                clean,
            } => {
                let i = self.resolve(t);
                self.set_cut(Node::Instance(i), Node::Venue(venue), true);
                self.set_cut(Node::Venue(venue), Node::Instance(i), true);
                if clean && self.instances[i as usize].connected[venue.index()] {
                    self.instances[i as usize].connected[venue.index()] = false;
                    let kind = VenueEventKind::Disconnected { clean: true };
                    self.engine_input(i, Msg::Venue(venue, Response::Venue(kind)));
                }
                Some(i)
            }
            FaultKind::Gap { target: t, venue } => {
                let i = self.resolve(t);
                let until = end.max(self.now.plus_millis(GAP_MS_MIN));
                self.exchange.set_gap(InstanceId(i), venue, until);
                Some(i)
            }
            _ => unreachable!("not a link fault"),
        }
    }

    /// Faults of a venue or of the market; the leader is the target where the fault
    /// must make it HOLD.
    fn start_venue_fault(&mut self, f: &FaultSpec, end: UnixNanos) -> Option<u8> {
        let now = self.now;
        match f.fault {
            FaultKind::Storm429 { venue } => {
                self.exchange.venue_mut(venue).faults.storm_until = end;
                return self.leader();
            }
            FaultKind::Unknown { venue, ppm } => {
                let v = &mut self.exchange.venue_mut(venue).faults;
                v.unknown_ppm = ppm;
                v.unknown_until = end;
            }
            FaultKind::DuplicateReorder { venue, ppm } => {
                self.exchange.venue_mut(venue).faults.duplicate_ppm = ppm;
                self.exchange.set_reorder(venue, end);
            }
            FaultKind::Maintenance {
                venue,
                notice_ms,
                pre_open_ms,
            } => {
                self.announce_maintenance(venue, notice_ms, pre_open_ms, f.duration_ms);
                return self.leader();
            }
            FaultKind::VenueCancel { venue } => self.exchange.venue_cancel_all(now, venue),
            FaultKind::VenueClock { venue, offset_ms } => {
                self.exchange.venue_mut(venue).faults.clock_offset_ns =
                    offset_ms * NANOS_PER_MILLI as i64;
                return self.leader();
            }
            FaultKind::Flip { venue } => {
                if let Some(m) = self.exchange.market_mut() {
                    m.set_flip(venue, true);
                }
                return self.leader();
            }
            FaultKind::PriceJump { centibps } => {
                if let Some(m) = self.exchange.market_mut() {
                    m.jump(centibps, now);
                }
            }
            _ => unreachable!("not a venue fault"),
        }
        None
    }

    /// A maintenance window `notice_ms` from now (its last `pre_open_ms` pre-open),
    /// announced to every instance the venue can reach.
    fn announce_maintenance(
        &mut self,
        venue: Venue,
        notice_ms: u64,
        pre_open_ms: u64,
        duration_ms: u64,
    ) {
        let start = self.now.plus_millis(notice_ms);
        let stop = start.plus_millis(duration_ms);
        let pre = (pre_open_ms > 0).then(|| stop.minus_nanos(pre_open_ms * NANOS_PER_MILLI));
        self.exchange
            .venue_mut(venue)
            .faults
            .maintenance
            .push((start, pre, stop));
        let kind = VenueEventKind::Maintenance {
            start,
            end: stop,
            pre_open_start: pre,
        };
        self.exchange
            .broadcast(self.now, venue, Response::Venue(kind));
    }

    /// Faults of a process, its clock, its disk, the lease service or the cluster.
    fn start_process_fault(&mut self, f: &FaultSpec, end: UnixNanos) -> Option<u8> {
        match f.fault {
            FaultKind::Skew {
                target: t,
                offset_ms,
            } => {
                let i = self.resolve(t);
                self.instances[i as usize].set_clock_offset(offset_ms * NANOS_PER_MILLI as i64);
                Some(i)
            }
            FaultKind::Crash { target: t, point } => {
                let i = self.resolve(t);
                if point == CrashPoint::Now {
                    self.crash(i, point);
                } else {
                    self.instances[i as usize].crash_armed = Some(point);
                }
                Some(i)
            }
            FaultKind::Pause { target: t } => {
                let i = self.resolve(t);
                self.instances[i as usize].paused_until = end;
                if f.duration_ms > self.scenario.world.lease_ttl_ms {
                    self.coverage.hit("pause_longer_than_lease");
                }
                Some(i)
            }
            FaultKind::DiskError { target: t } => {
                let i = self.resolve(t);
                self.instances[i as usize].disk.fault = DiskFault::WriteError;
                Some(i)
            }
            FaultKind::LeaseDown => {
                self.lease.down_until = end;
                None
            }
            FaultKind::ExtraInstance => {
                // A second process started by mistake (two on one host, or a stale
                // standby): it must never get an order accepted out of epoch order.
                let id = self.instances.len() as u8;
                self.instances.push(super::Instance::new(id));
                self.exchange.add_client();
                self.boot(id);
                Some(id)
            }
            FaultKind::CrashLoop { target: t, count } => {
                let i = self.resolve(t);
                for k in 0..count {
                    let at = self
                        .now
                        .plus_millis(k * (self.scenario.world.restart_ms + 500));
                    self.schedule(at, Event::CrashNow(i));
                }
                Some(i)
            }
            FaultKind::Random { .. } => unreachable!("random faults are expanded before the run"),
            _ => unreachable!("not a process fault"),
        }
    }

    /// Fault `k` ends: what it changed goes back (faults that run their course, such
    /// as a storm or a pause, end by themselves).
    pub(super) fn fault_end(&mut self, k: usize) {
        let f = self.faults[k].clone();
        let target = self.fault_targets[k];
        match f.fault {
            FaultKind::Partition { a, b, one_way } => {
                let (a, b) = (self.node(a), self.node(b));
                self.set_cut(a, b, false);
                if !one_way {
                    self.set_cut(b, a, false);
                }
            }
            FaultKind::Disconnect { venue, .. } => {
                if let Some(i) = target {
                    self.set_cut(Node::Instance(i), Node::Venue(venue), false);
                    self.set_cut(Node::Venue(venue), Node::Instance(i), false);
                }
            }
            FaultKind::Gap { venue, .. } => {
                if let Some(i) = target {
                    self.exchange.set_gap(InstanceId(i), venue, UnixNanos::ZERO);
                }
            }
            FaultKind::Skew { .. } => {
                if let Some(i) = target {
                    self.instances[i as usize].set_clock_offset(0);
                }
            }
            FaultKind::VenueClock { venue, .. } => {
                self.exchange.venue_mut(venue).faults.clock_offset_ns = 0
            }
            FaultKind::Flip { venue } => {
                if let Some(m) = self.exchange.market_mut() {
                    m.set_flip(venue, false);
                }
            }
            FaultKind::DiskError { .. } => {
                if let Some(i) = target {
                    self.instances[i as usize].disk.fault = DiskFault::None;
                }
            }
            FaultKind::DuplicateReorder { venue, .. } => {
                self.exchange.venue_mut(venue).faults.duplicate_ppm = 0
            }
            FaultKind::Crash { .. } => {
                if let Some(i) = target {
                    self.instances[i as usize].crash_armed = None;
                }
            }
            _ => {}
        }
    }

    /// Heals every fault and lets the system settle: links, lease service, venues,
    /// market, clocks, pauses, disks; processes that are down restart. A final
    /// reconciliation follows half-way through the heal period, the end after it.
    pub(super) fn heal(&mut self) {
        self.healing = true;
        self.cuts.clear();
        self.exchange.heal();
        self.lease.down_until = UnixNanos::ZERO;
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
        // A 418 ban is the venue's sanction, not a fault the simulator can heal: while
        // it lasts nothing can be queried or resynced there, so the final
        // reconciliation and the end wait for it.
        let half = self.scenario.world.heal_ms / 2;
        let banned = self
            .exchange
            .venues()
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
}

/// The name a fault is counted under in the coverage.
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
