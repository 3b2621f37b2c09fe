//! The live driver loop of each instance, as the service runs it: due timers first,
//! then the input; the batch's journal records are made durable; only then do its
//! orders leave (checked by the checkers on the way out).

use super::{Event, Msg, Node, T0, World};
use crate::checkers::{SendView, Violation};
use crate::lease::LeaseAnswer;
use crate::scenario::CrashPoint;
use crate::venue::InstanceId;
use propbot_engine::gateway::{Request, Response};
use propbot_engine::input::{
    ExecutionKind, Input, LeaseEvent, OperatorCommand, SystemEvent, VenueEvent, VenueEventKind,
};
use propbot_engine::model::{TimeInForce, Venue};
use propbot_engine::output::{
    JournalEvent, JournalRecord, Mode, OrderPurpose, OrderRequest, Output, RefusalCode, Reply,
};
use propbot_engine::time::{NANOS_PER_MILLI, UnixNanos};

/// Output rounds per delivered input before the driver gives up (a bound).
const PUMP_ROUNDS_MAX: usize = 64;

impl World {
    /// Hands a message to an instance's engine and runs its driver loop.
    pub(super) fn deliver(&mut self, i: u8, msg: Msg) {
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
        if !self.notice_clock_step(i, local) || !self.run_due_timers(i, local) {
            return;
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
        self.handle(i, local, &msg);
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

    /// Timers that are due run first, as a live driver would: decisions they take are
    /// sent (and checked) before the next input changes the engine's view. `false`
    /// when the instance is no longer up afterwards.
    fn run_due_timers(&mut self, i: u8, local: UnixNanos) -> bool {
        let due = self.instances[i as usize]
            .engine
            .as_ref()
            .and_then(|e| e.poll_timeout())
            .is_some_and(|t| t <= local);
        if !due {
            return true;
        }
        let mode = self.instances[i as usize].mode;
        if let Some(e) = self.instances[i as usize].engine.as_mut() {
            e.handle_timeout(local);
        }
        self.pump(i, mode);
        self.instances[i as usize].is_up()
    }

    /// The engine handles the message as its input.
    fn handle(&mut self, i: u8, local: UnixNanos, msg: &Msg) {
        let ttl = self.lease.ttl_ns();
        let command = match msg {
            Msg::Operator(action) => {
                let inst = &mut self.instances[i as usize];
                inst.command_id += 1;
                Some(OperatorCommand {
                    command_id: inst.command_id,
                    actor: super::operator::actor(action),
                    action: action.clone(),
                })
            }
            _ => None,
        };
        let engine = self.instances[i as usize].engine.as_mut().expect("up");
        match msg {
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
                let kind = VenueEventKind::ClockSample {
                    offset_ns,
                    rtt_ns: rtt,
                };
                engine.handle(
                    local,
                    Input::Venue(VenueEvent {
                        venue: *venue,
                        kind,
                    }),
                );
            }
            Msg::Operator(_) => {
                engine.handle(local, Input::Operator(command.expect("built above")))
            }
            Msg::FinalRecon(_, snap) => engine.handle(local, Input::Reconciliation(snap)),
        }
    }

    /// Delivers to an instance now (no network), e.g. adapter-detected link events.
    pub(super) fn engine_input(&mut self, i: u8, msg: Msg) {
        self.deliver(i, msg);
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
    pub(super) fn pump(&mut self, i: u8, mode_before: Mode) {
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
            match self.pump_batch(i, outputs, mode) {
                Some(after) => mode = after,
                None => return,
            }
        }
        if let Some(e) = &self.instances[i as usize].engine {
            self.instances[i as usize].mode = e.control().mode;
        }
    }

    /// One batch: its journal records durably, then its sends (crash points armed
    /// around them fire here). Returns the mode after the batch, `None` when the
    /// process stopped.
    fn pump_batch(&mut self, i: u8, outputs: Vec<Output>, mode: Mode) -> Option<Mode> {
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
            self.journal_failed(i, outputs, mode);
            return None;
        }
        let through = self.instances[i as usize].disk.sync();
        let has_orders = outputs
            .iter()
            .any(|o| matches!(o, Output::Place(_) | Output::Flatten(_)));
        let armed = self.instances[i as usize].crash_armed;
        if has_orders && armed == Some(CrashPoint::AfterCommitBeforeSend) {
            self.crash(i, CrashPoint::AfterCommitBeforeSend);
            return None;
        }
        let mode = self.dispatch(i, outputs, mode, true);
        if has_orders && armed == Some(CrashPoint::AfterSendBeforeAck) {
            self.coverage.hit("crash_after_send_before_ack");
            self.crash(i, CrashPoint::AfterSendBeforeAck);
            return None;
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
        Some(mode)
    }

    /// A journal write failed: the engine is told, only non-order outputs may still
    /// leave (cancels are safe without a journal), then the process stops, as a
    /// journal IO error must.
    fn journal_failed(&mut self, i: u8, outputs: Vec<Output>, mode: Mode) {
        let local = self.local_now(i);
        let engine = self.instances[i as usize].engine.as_mut().expect("up");
        engine.handle(local, Input::System(SystemEvent::JournalFailed));
        let mut last = Vec::new();
        while let Some(o) = engine.poll_output() {
            last.push(o);
        }
        self.dispatch(i, outputs, mode, false);
        self.dispatch(i, last, Mode::Hold, false);
        self.coverage.hit("journal_write_failed");
        self.crash(i, CrashPoint::Now);
    }

    fn observe_journal(&mut self, i: u8, r: &JournalRecord) {
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
                    if orders_allowed {
                        self.send_order(i, r, mode);
                    }
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
                    let request = Request::Cancel {
                        instrument,
                        client_order_id,
                    };
                    self.send_request(i, venue, request);
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
                        let at = self.now.plus_nanos(lat);
                        self.schedule(at, Event::LeaseResign { from: i, epoch });
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

    /// An order leaves instance `i` (in `mode`): counted, shown to the checkers, sent.
    fn send_order(&mut self, i: u8, r: OrderRequest, mode: Mode) {
        let place = matches!(
            r.purpose,
            OrderPurpose::Entry | OrderPurpose::Exit | OrderPurpose::Hedge | OrderPurpose::Maker
        );
        self.figures.orders_sent += 1;
        if place {
            self.observed.places += 1;
            if mode == Mode::Hold {
                self.figures.orders_after_trip += 1;
            }
        }
        let now = self.now;
        let pre_open = self
            .exchange
            .venue(r.venue)
            .faults
            .maintenance
            .iter()
            .any(|(s, p, e)| p.is_some_and(|p| now >= p) && now >= *s && now < *e);
        if pre_open && r.time_in_force != TimeInForce::PostOnly {
            self.observed.preopen_violations += 1;
        }
        self.check_send(i, &r, place, mode);
        self.instances[i as usize].sent.insert(r.client_order_id);
        self.send_request(i, r.venue, Request::Place(r));
    }

    fn check_send(&mut self, i: u8, r: &OrderRequest, place: bool, mode: Mode) {
        let inst = &self.instances[i as usize];
        let engine = inst.engine.as_ref().expect("up");
        let view = SendView {
            instance: i,
            request: r,
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

    fn on_reply(&mut self, i: u8, reply: Reply) {
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
        self.exchange
            .submit_from(self.now, InstanceId(i), venue, request);
    }
}
