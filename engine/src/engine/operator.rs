//! Operator commands: HOLD, the two-man resume, the kill switch, config apply and the
//! runtime control patch. Each command is answered with one `Reply` output.

use super::Engine;
use crate::config::Profile;
use crate::control::refuse;
use crate::guards::{GuardId, GuardLevel};
use crate::input::{ControlPatch, OperatorAction, OperatorCommand};
use crate::model::Venue;
use crate::output::{
    Accepted, ApprovalKind, ApprovalStep, JournalEvent, Mode, Output, Refusal, RefusalCode, Reply,
};
use crate::strategy::Phase;
use crate::time::UnixNanos;

impl Engine {
    pub(super) fn on_operator(&mut self, now: UnixNanos, command: OperatorCommand) {
        let OperatorCommand {
            command_id,
            actor,
            action,
        } = command;
        self.journal.operator_actions += 1;
        let result = match action {
            OperatorAction::Hold { reason } => self.op_hold(&actor, &reason),
            OperatorAction::ResumeRequest { reason } => {
                self.op_request(now, ApprovalKind::Resume, &actor, &reason)
            }
            OperatorAction::ResumeConfirm { request_id, token } => {
                self.op_confirm(now, ApprovalKind::Resume, request_id, &actor, &token)
            }
            OperatorAction::Resume => self.op_resume(now, &actor),
            OperatorAction::KillRequest { reason } => {
                self.op_request(now, ApprovalKind::Kill, &actor, &reason)
            }
            OperatorAction::KillConfirm { request_id, token } => self
                .op_confirm(now, ApprovalKind::Kill, request_id, &actor, &token)
                .and_then(|_| self.op_kill(now, &actor, request_id)),
            OperatorAction::ConfigApply { config, version } => {
                self.op_config(*config, version, &actor)
            }
            OperatorAction::ControlPatch(patch) => self.op_patch(&actor, patch),
        };
        self.emit(Output::Reply(Reply { command_id, result }));
    }

    fn op_hold(&mut self, actor: &str, reason: &str) -> Result<Accepted, Refusal> {
        let reason = if reason.trim().is_empty() {
            "operator hold"
        } else {
            reason
        };
        if self.control.mode == Mode::Hold {
            return Ok(accepted("already in HOLD"));
        }
        self.enter_hold(actor, reason);
        Ok(accepted("HOLD engaged; resting orders cancelled"))
    }

    fn op_request(
        &mut self,
        now: UnixNanos,
        kind: ApprovalKind,
        actor: &str,
        reason: &str,
    ) -> Result<Accepted, Refusal> {
        let id = self.control.request(now, kind, actor, reason)?;
        self.journal_event(JournalEvent::Approval {
            kind,
            request_id: id,
            actor: actor.to_owned(),
            step: ApprovalStep::Requested {
                reason: reason.to_owned(),
            },
        });
        let message = if self.control.two_man_rule() {
            "request recorded; a second operator must confirm with the approval token"
        } else {
            "request recorded (two-man rule off: confirmed by the requester)"
        };
        Ok(Accepted {
            message: message.into(),
            request_id: Some(id),
        })
    }

    fn op_confirm(
        &mut self,
        now: UnixNanos,
        kind: ApprovalKind,
        request_id: u64,
        actor: &str,
        token: &str,
    ) -> Result<Accepted, Refusal> {
        let result = self.control.confirm(now, kind, request_id, actor, token);
        let step = match &result {
            Ok(()) => ApprovalStep::Confirmed,
            Err(r) => ApprovalStep::Refused {
                why: r.message.clone(),
            },
        };
        self.journal_event(JournalEvent::Approval {
            kind,
            request_id,
            actor: actor.to_owned(),
            step,
        });
        result?;
        Ok(Accepted {
            message: "confirmed".into(),
            request_id: Some(request_id),
        })
    }

    /// Everything that must be true before trading may resume.
    pub fn resume_blockers(&self, now: UnixNanos) -> Vec<String> {
        let mut out = Vec::new();
        if !self.fencing.is_leader(now) {
            out.push("not the leader (no valid lease)".into());
        }
        if self.journal.failed {
            out.push("journal write failed".into());
        }
        for venue in self.config.strategy.venues.iter().copied() {
            let r = &self.recon[venue.index()];
            if !r.done {
                out.push(format!("{venue}: not reconciled since start"));
            } else if r.mismatches > 0 {
                out.push(format!(
                    "{venue}: reconciliation found {} mismatch(es)",
                    r.mismatches
                ));
            }
            if !self.disconnect.is_connected(venue) {
                out.push(format!("{venue}: not connected"));
            }
            let link = self.disconnect.link(venue);
            if link.cancel_all_pending {
                out.push(format!(
                    "{venue}: cancel-all after disconnect not confirmed"
                ));
            }
            if self.clock.state(venue).verdict.level != GuardLevel::Ok {
                out.push(format!(
                    "{venue}: clock skew {}",
                    self.clock.state(venue).verdict.reason
                ));
            }
            if self.rate.verdict(venue).level.blocks_resume() {
                out.push(format!("{venue}: {}", self.rate.verdict(venue).reason));
            }
            if self.maintenance.verdict(venue).level.blocks_resume() {
                out.push(format!(
                    "{venue}: {}",
                    self.maintenance.verdict(venue).reason
                ));
            }
        }
        for pair in &self.pairs {
            for venue in pair.spec.venues {
                let route = self.continuity.route(venue, pair.spec.instrument);
                if route.verdict.level.blocks_resume() {
                    out.push(format!(
                        "{venue} {}: {}",
                        self.instrument_name(pair.spec.instrument),
                        route.verdict.reason
                    ));
                }
            }
            if matches!(pair.phase, Phase::Hedging | Phase::Unwinding) {
                out.push(format!(
                    "{}: unhedged position still being repaired",
                    self.instrument_name(pair.spec.instrument)
                ));
            }
        }
        if let Some(b) = self.caps.breach() {
            out.push(format!("kill caps: {}", b.reason()));
        }
        if self.flattening && !self.all_positions_flat() {
            out.push("flattening: positions not yet flat".into());
        }
        out
    }

    fn op_resume(&mut self, now: UnixNanos, actor: &str) -> Result<Accepted, Refusal> {
        if self.control.mode == Mode::Run {
            return Err(refuse(RefusalCode::NoChange, "already in RUN"));
        }
        if !self.control.has_confirmed(now, ApprovalKind::Resume) {
            return Err(refuse(
                RefusalCode::NotApproved,
                "no confirmed resume request: resume-request by one operator, resume-confirm by another",
            ));
        }
        let blockers = self.resume_blockers(now);
        if !blockers.is_empty() {
            return Err(Refusal {
                code: RefusalCode::Blocked,
                message: format!("resume refused: {}", blockers.join("; ")),
            });
        }
        let approval = self
            .control
            .take_confirmed(now, ApprovalKind::Resume, None)
            .expect("checked above");
        let lifted = self.runaway.lift_all(now);
        self.flattening = false;
        self.killed = false;
        self.other.hedge.set(now, GuardLevel::Ok, "hedged");
        self.other.recon.set(now, GuardLevel::Ok, "reconciled");
        self.other.slo.set(now, GuardLevel::Ok, "within targets");
        let t = self.control.run(self.config.control.safe_mode);
        self.journal_event(JournalEvent::Control {
            from: t.from,
            to: t.to,
            safe_mode: t.safe_mode,
            actor: actor.to_owned(),
            reason: format!(
                "two-man resume: requested by {}, confirmed by {}",
                approval.requested_by,
                approval.confirmed_by.clone().unwrap_or_default()
            ),
        });
        self.journal_event(JournalEvent::Approval {
            kind: ApprovalKind::Resume,
            request_id: approval.id,
            actor: actor.to_owned(),
            step: ApprovalStep::Executed,
        });
        self.alert(
            crate::output::Severity::Info,
            "resume",
            "control",
            format!("RUN resumed by {actor}"),
        );
        let mut message = String::from("RUN");
        if t.safe_mode {
            message.push_str(" (safe mode stays on: no orders until it is cleared by config)");
        }
        if lifted > 0 {
            message.push_str(&format!("; {lifted} quarantined route(s) released"));
        }
        Ok(accepted(&message))
    }

    fn op_kill(
        &mut self,
        now: UnixNanos,
        actor: &str,
        request_id: u64,
    ) -> Result<Accepted, Refusal> {
        let approval = self
            .control
            .take_confirmed(now, ApprovalKind::Kill, Some(request_id))
            .ok_or_else(|| refuse(RefusalCode::NotApproved, "kill request not confirmed"))?;
        self.enter_hold(actor, &format!("kill switch: {}", approval.reason));
        self.flattening = true;
        self.killed = true;
        for venue in Venue::ALL {
            self.request_cancel_all(venue, "kill switch");
        }
        self.flatten_at = UnixNanos::ZERO;
        self.flatten_all(now);
        self.journal_event(JournalEvent::Approval {
            kind: ApprovalKind::Kill,
            request_id,
            actor: actor.to_owned(),
            step: ApprovalStep::Executed,
        });
        Ok(accepted(
            "kill switch: HOLD, cancel-all sent, flattening positions",
        ))
    }

    fn op_config(
        &mut self,
        config: crate::config::Config,
        version: u64,
        actor: &str,
    ) -> Result<Accepted, Refusal> {
        if let Err(why) = self.config.hot_apply_compatible(&config) {
            self.metrics.config_refusals += 1;
            return Err(Refusal {
                code: RefusalCode::InvalidConfig,
                message: why,
            });
        }
        if version <= self.config_version {
            self.metrics.config_refusals += 1;
            return Err(refuse(
                RefusalCode::InvalidConfig,
                "config version must increase",
            ));
        }
        let mut config = config;
        if config.control.approval_token_digest.is_none() {
            config.control.approval_token_digest = self.config.control.approval_token_digest;
        }
        self.apply_config(config);
        self.config_version = version;
        self.metrics.config_applies += 1;
        self.journal_event(JournalEvent::ConfigApplied {
            version,
            actor: actor.to_owned(),
        });
        Ok(accepted(&format!("config version {version} applied")))
    }

    fn apply_config(&mut self, config: crate::config::Config) {
        let g = &config.guards;
        self.disconnect.set_enabled(g.cancel_on_disconnect);
        self.rate.configure(g, &config.venues);
        self.clock
            .set_limits(g.clock_skew_guard_ns, g.clock_sample_max_age_ns);
        self.continuity
            .set_limits(g.resync_deadline_ns, g.market_data_stale_ns);
        self.caps
            .configure(g.kill_caps_enabled, g.flatten_on_breach, config.risk);
        self.runaway
            .set_limits(g.runaway_place_per_min, g.runaway_cancel_per_min);
        self.maintenance.configure(
            g.maintenance_lead_ns,
            &g.maintenance_calendar,
            &self.announced,
        );
        let quiet = config
            .venues
            .iter()
            .map(|v| v.order_expiry_ns)
            .max()
            .unwrap_or(0)
            + g.clock_skew_guard_ns;
        self.fencing.set_quiet(quiet);
        self.control.configure(
            config.control.two_man_rule,
            config.control.approval_token_digest,
            config.limits.approvals_max as usize,
        );
        self.ledger.set_fees([
            crate::ledger::FeeRates {
                maker: config.venues[0].maker_fee,
                taker: config.venues[0].taker_fee,
            },
            crate::ledger::FeeRates {
                maker: config.venues[1].maker_fee,
                taker: config.venues[1].taker_fee,
            },
        ]);
        let pairs_changed = config.strategy.instruments != self.config.strategy.instruments
            || config.strategy.venues != self.config.strategy.venues;
        self.config = config;
        if pairs_changed {
            self.pairs = super::build_pairs(&self.config);
        } else {
            let venues = [
                self.config.strategy.venues[0],
                self.config.strategy.venues[1],
            ];
            for pair in &mut self.pairs {
                pair.spec =
                    crate::strategy::PairSpec::new(&self.config, pair.spec.instrument, venues);
                pair.style = self.config.strategy.execution;
            }
        }
    }

    fn op_patch(&mut self, actor: &str, patch: ControlPatch) -> Result<Accepted, Refusal> {
        if self.config.profile == Profile::Live {
            return Err(refuse(
                RefusalCode::NotAllowed,
                "runtime control changes are not allowed in the live profile; apply a config",
            ));
        }
        if !self.control.safe_mode {
            return Err(refuse(
                RefusalCode::NotAllowed,
                "runtime control changes need safe mode on (HOLD first)",
            ));
        }
        if patch.safe_mode == Some(false) {
            return Err(refuse(
                RefusalCode::NotAllowed,
                "safe mode is cleared only by a two-man resume",
            ));
        }
        let mut next = self.config.clone();
        if let Some(n) = patch.order_notional {
            if !n.is_positive() || n > next.risk.per_symbol_notional {
                return Err(refuse(
                    RefusalCode::NotAllowed,
                    "order_notional_usdt must be positive and within the per-symbol cap",
                ));
            }
            next.strategy.order_notional = n;
        }
        if let Some(s) = patch.min_spread {
            if s < next.strategy.exit_edge || s.raw() > 1_000_000 {
                return Err(refuse(
                    RefusalCode::NotAllowed,
                    "min_spread_bps must be at least exit_spread_bps and at most 10000",
                ));
            }
            next.strategy.entry_edge = s;
        }
        if let Some(i) = patch.loop_pair {
            let listed = next.instruments.get(i.index()).is_some_and(|inst| {
                next.strategy
                    .venues
                    .iter()
                    .all(|v| inst.listings[v.index()].is_some())
            });
            if !listed {
                return Err(refuse(
                    RefusalCode::NotAllowed,
                    "loop_pair must be an instrument listed on both loop venues",
                ));
            }
            let busy = self.pairs.iter().any(|p| p.phase != Phase::Idle);
            if busy && next.strategy.instruments != vec![i] {
                return Err(refuse(
                    RefusalCode::NotAllowed,
                    "cannot switch loop_pair while orders are working",
                ));
            }
            next.strategy.instruments = vec![i];
        }
        if let Some(d) = patch.dry_run {
            if self.config.profile == Profile::Paper && !d {
                return Err(refuse(
                    RefusalCode::NotAllowed,
                    "the paper profile is always dry-run",
                ));
            }
            next.control.dry_run = d;
            self.control.dry_run = d;
        }
        self.apply_config(next);
        self.journal_event(JournalEvent::ControlPatched {
            actor: actor.to_owned(),
            patch,
        });
        Ok(accepted("control updated"))
    }

    /// Marks a reconciliation guard state (used by reconcile).
    pub(crate) fn set_recon_verdict(&mut self, now: UnixNanos, mismatches: u32) {
        if mismatches > 0 {
            let was = self.other.recon.level;
            self.other
                .recon
                .set(now, GuardLevel::Hold, "reconciliation mismatch");
            if was != GuardLevel::Hold {
                self.trip(
                    GuardId::Reconciliation,
                    None,
                    "reconciliation mismatch: HOLD until fixed",
                    None,
                );
            }
        } else if self.other.recon.level == GuardLevel::Hold {
            self.other.recon.set(now, GuardLevel::Ok, "reconciled");
            self.cleared(GuardId::Reconciliation, None);
        } else {
            self.other.recon.set(now, GuardLevel::Ok, "reconciled");
        }
    }
}

fn accepted(message: &str) -> Accepted {
    Accepted {
        message: message.to_owned(),
        request_id: None,
    }
}
