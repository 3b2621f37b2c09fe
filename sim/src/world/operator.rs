//! Scripted operator actions: the two-man resume and kill (one operator asks, another
//! confirms with the approval token), a resume one operator tries alone, HOLD, and
//! config applies.

use super::{APPROVAL_TOKEN, Event, Msg, World};
use crate::scenario::OperatorSpec;
use propbot_engine::input::{Input, OperatorAction, OperatorCommand};
use propbot_engine::output::Mode;

/// A resume attempt is retried this many times while something still blocks it.
const RESUME_TRIES_MAX: u8 = 60;
/// The pause between the steps of a two-man action, ms.
const CONFIRM_AFTER_MS: u64 = 100;
/// The pause between resume retries, ms.
const RETRY_AFTER_MS: u64 = 1_000;

/// Who types `action`: `alice` asks (and holds), `bob` confirms and acts.
pub(super) fn actor(action: &OperatorAction) -> String {
    match action {
        OperatorAction::ResumeRequest { .. }
        | OperatorAction::KillRequest { .. }
        | OperatorAction::Hold { .. } => "alice".into(),
        _ => "bob".into(),
    }
}

impl World {
    /// Part `part` of the scenario's operator step `k`.
    pub(super) fn operator(&mut self, k: usize, part: u8) {
        let step = self.scenario.operator[k].clone();
        let i = self.resolve(step.target);
        match step.action {
            OperatorSpec::Resume => self.resume(k, part, i),
            OperatorSpec::ResumeSameActor => self.resume_alone(i),
            OperatorSpec::Hold { reason } => {
                self.deliver(i, Msg::Operator(OperatorAction::Hold { reason }))
            }
            OperatorSpec::Kill => self.kill(k, part, i),
            OperatorSpec::ConfigApply { patch } => self.config_apply(i, &patch),
        }
    }

    /// The two-man resume: alice asks (part 0), bob confirms (1), bob resumes (2…),
    /// retrying every second while something still blocks it (asking again every ten
    /// tries).
    fn resume(&mut self, k: usize, part: u8, i: u8) {
        match part {
            0 => {
                self.instances[i as usize].pending_request = None;
                let reason = "scenario: checks done".into();
                self.deliver(i, Msg::Operator(OperatorAction::ResumeRequest { reason }));
                self.schedule(
                    self.now.plus_millis(CONFIRM_AFTER_MS),
                    Event::Operator(k, 1),
                );
            }
            1 => {
                if let Some(request_id) = self.instances[i as usize].pending_request {
                    let action = OperatorAction::ResumeConfirm {
                        request_id,
                        token: APPROVAL_TOKEN.into(),
                    };
                    self.deliver(i, Msg::Operator(action));
                }
                self.schedule(
                    self.now.plus_millis(CONFIRM_AFTER_MS),
                    Event::Operator(k, 2),
                );
            }
            n => {
                self.deliver(i, Msg::Operator(OperatorAction::Resume));
                let running = self.instances[i as usize]
                    .engine
                    .as_ref()
                    .is_some_and(|e| e.control().mode == Mode::Run);
                if !running && n < RESUME_TRIES_MAX {
                    let next = if n % 10 == 9 { 0 } else { n + 1 };
                    self.schedule(
                        self.now.plus_millis(RETRY_AFTER_MS),
                        Event::Operator(k, next),
                    );
                }
            }
        }
    }

    /// alice asks for a resume and confirms her own request: the engine must refuse.
    fn resume_alone(&mut self, i: u8) {
        let reason = "alone".into();
        self.deliver(i, Msg::Operator(OperatorAction::ResumeRequest { reason }));
        let Some(request_id) = self.instances[i as usize].pending_request else {
            return;
        };
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

    /// The two-man kill: alice asks (part 0), bob confirms.
    fn kill(&mut self, k: usize, part: u8, i: u8) {
        if part == 0 {
            self.instances[i as usize].pending_request = None;
            let reason = "scenario".into();
            self.deliver(i, Msg::Operator(OperatorAction::KillRequest { reason }));
            self.schedule(
                self.now.plus_millis(CONFIRM_AFTER_MS),
                Event::Operator(k, 1),
            );
        } else if let Some(request_id) = self.instances[i as usize].pending_request {
            let action = OperatorAction::KillConfirm {
                request_id,
                token: APPROVAL_TOKEN.into(),
            };
            self.deliver(i, Msg::Operator(action));
        }
    }

    /// A config apply: the scenario's patch with `patch` merged on top, as the next
    /// version.
    fn config_apply(&mut self, i: u8, patch: &serde_yaml::Value) {
        let mut value = serde_yaml::to_value(&self.scenario.world.config_patch)
            .unwrap_or(serde_yaml::Value::Null);
        if value.is_null() {
            value = serde_yaml::Value::Mapping(Default::default());
        }
        crate::scenario::merge_yaml(&mut value, patch);
        let mut s = self.scenario.clone();
        s.world.config_patch = Some(value);
        let Ok(config) = s.config() else {
            return;
        };
        let version = self.instances[i as usize]
            .engine
            .as_ref()
            .map_or(1, |e| e.config_version() + 1);
        let action = OperatorAction::ConfigApply {
            config: Box::new(config),
            version,
        };
        self.deliver(i, Msg::Operator(action));
    }
}
