//! Control: RUN/HOLD, safe mode and dry run, and the two-man approvals that leave HOLD
//! (resume) or pull the kill switch.
//!
//! Boot is always HOLD + safe mode. Resume is: a request by actor A with a reason → a
//! confirmation by actor B ≠ A with the approval token → `Resume`, which is refused
//! while anything still blocks. Every step is journaled by the engine. The approval
//! token is never stored: only its BLAKE3 digest, compared in constant time.

use crate::output::{ApprovalKind, Mode, Refusal, RefusalCode};
use crate::time::{NANOS_PER_MINUTE, UnixNanos};
use serde::Serialize;

/// A pending or confirmed request expires after this long.
pub const APPROVAL_TTL_NS: u64 = 15 * NANOS_PER_MINUTE;

/// One two-man approval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Approval {
    /// Request id.
    pub id: u64,
    /// Resume or kill.
    pub kind: ApprovalKind,
    /// First actor.
    pub requested_by: String,
    /// Their reason.
    pub reason: String,
    /// When.
    pub requested_at: UnixNanos,
    /// Second actor, once confirmed.
    pub confirmed_by: Option<String>,
    /// When confirmed.
    pub confirmed_at: UnixNanos,
}

/// A mode change to journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// Before.
    pub from: Mode,
    /// After.
    pub to: Mode,
    /// Safe mode after.
    pub safe_mode: bool,
}

/// The control state.
#[derive(Clone, Debug)]
pub struct Control {
    /// RUN or HOLD.
    pub mode: Mode,
    /// No orders at all (the loop and monitoring continue).
    pub safe_mode: bool,
    /// Orders go to the simulated venue only.
    pub dry_run: bool,
    /// Who put the engine in HOLD last.
    pub hold_actor: String,
    /// Why.
    pub hold_reason: String,
    /// Since when.
    pub hold_since: UnixNanos,
    approvals: Vec<Approval>,
    approvals_max: usize,
    next_request_id: u64,
    token_digest: Option<[u8; 32]>,
    two_man_rule: bool,
    /// Mode transitions so far.
    pub transitions: u64,
}

impl Control {
    /// Boot state: HOLD + safe mode, whatever the config says.
    pub fn boot(
        now: UnixNanos,
        dry_run: bool,
        two_man_rule: bool,
        token_digest: Option<[u8; 32]>,
        approvals_max: usize,
    ) -> Control {
        Control {
            mode: Mode::Hold,
            safe_mode: true,
            dry_run,
            hold_actor: "system".into(),
            hold_reason: "start-up: HOLD until reconciliation and a two-man resume".into(),
            hold_since: now,
            approvals: Vec::new(),
            approvals_max,
            next_request_id: 1,
            token_digest,
            two_man_rule,
            transitions: 0,
        }
    }

    /// Applies config flags (a hot apply).
    pub fn configure(
        &mut self,
        two_man_rule: bool,
        token_digest: Option<[u8; 32]>,
        approvals_max: usize,
    ) {
        self.two_man_rule = two_man_rule;
        self.token_digest = token_digest;
        self.approvals_max = approvals_max;
    }

    /// Whether resume needs a second actor.
    pub fn two_man_rule(&self) -> bool {
        self.two_man_rule
    }

    /// Pending and confirmed approvals.
    pub fn approvals(&self) -> &[Approval] {
        &self.approvals
    }

    /// Enters HOLD (and safe mode). `None` when already in HOLD (the reason is kept).
    pub fn hold(&mut self, now: UnixNanos, actor: &str, reason: &str) -> Option<Transition> {
        if self.mode == Mode::Hold {
            self.safe_mode = true;
            return None;
        }
        self.mode = Mode::Hold;
        self.safe_mode = true;
        self.hold_actor = actor.to_owned();
        self.hold_reason = reason.to_owned();
        self.hold_since = now;
        self.transitions += 1;
        Some(Transition {
            from: Mode::Run,
            to: Mode::Hold,
            safe_mode: true,
        })
    }

    fn expire(&mut self, now: UnixNanos) {
        self.approvals
            .retain(|a| now.nanos_since(a.requested_at) < APPROVAL_TTL_NS);
    }

    /// First step of a two-man approval.
    pub fn request(
        &mut self,
        now: UnixNanos,
        kind: ApprovalKind,
        actor: &str,
        reason: &str,
    ) -> Result<u64, Refusal> {
        self.expire(now);
        if reason.trim().is_empty() {
            return Err(refuse(RefusalCode::NotAllowed, "a reason is required"));
        }
        if kind == ApprovalKind::Resume && self.mode == Mode::Run {
            return Err(refuse(RefusalCode::NoChange, "already in RUN"));
        }
        if self.approvals.len() >= self.approvals_max {
            return Err(refuse(
                RefusalCode::TooManyPending,
                "too many pending approvals; confirm or let them expire (15 min)",
            ));
        }
        let id = self.next_request_id;
        self.next_request_id += 1;
        let mut approval = Approval {
            id,
            kind,
            requested_by: actor.to_owned(),
            reason: reason.to_owned(),
            requested_at: now,
            confirmed_by: None,
            confirmed_at: UnixNanos::ZERO,
        };
        if !self.two_man_rule {
            approval.confirmed_by = Some(actor.to_owned());
            approval.confirmed_at = now;
        }
        self.approvals.push(approval);
        Ok(id)
    }

    /// Second step: a different actor with the approval token.
    pub fn confirm(
        &mut self,
        now: UnixNanos,
        kind: ApprovalKind,
        request_id: u64,
        actor: &str,
        token: &str,
    ) -> Result<(), Refusal> {
        self.expire(now);
        let digest = self.token_digest;
        let Some(a) = self
            .approvals
            .iter_mut()
            .find(|a| a.id == request_id && a.kind == kind)
        else {
            return Err(refuse(
                RefusalCode::NoSuchRequest,
                "no such pending request (expired or never made)",
            ));
        };
        if a.requested_by == actor {
            return Err(refuse(
                RefusalCode::SameActor,
                "two-man rule: the confirming operator must differ from the requesting one",
            ));
        }
        let Some(expected) = digest else {
            return Err(refuse(
                RefusalCode::BadToken,
                "no approval token is configured; resume is impossible",
            ));
        };
        if blake3::Hash::from(expected) != blake3::hash(token.as_bytes()) {
            return Err(refuse(
                RefusalCode::BadToken,
                "approval token does not match",
            ));
        }
        if a.confirmed_by.is_some() {
            return Err(refuse(RefusalCode::NoChange, "already confirmed"));
        }
        a.confirmed_by = Some(actor.to_owned());
        a.confirmed_at = now;
        Ok(())
    }

    /// Takes a confirmed approval of `kind`, if any.
    pub fn take_confirmed(
        &mut self,
        now: UnixNanos,
        kind: ApprovalKind,
        request_id: Option<u64>,
    ) -> Option<Approval> {
        self.expire(now);
        let i = self.approvals.iter().position(|a| {
            a.kind == kind && a.confirmed_by.is_some() && request_id.is_none_or(|id| id == a.id)
        })?;
        Some(self.approvals.remove(i))
    }

    /// Whether a confirmed approval of `kind` is waiting.
    pub fn has_confirmed(&self, now: UnixNanos, kind: ApprovalKind) -> bool {
        self.approvals.iter().any(|a| {
            a.kind == kind
                && a.confirmed_by.is_some()
                && now.nanos_since(a.requested_at) < APPROVAL_TTL_NS
        })
    }

    /// Leaves HOLD. The caller has checked blockers and taken the approval.
    pub fn run(&mut self, safe_mode_after: bool) -> Transition {
        let from = self.mode;
        self.mode = Mode::Run;
        self.safe_mode = safe_mode_after;
        self.transitions += 1;
        Transition {
            from,
            to: Mode::Run,
            safe_mode: self.safe_mode,
        }
    }
}

/// A refusal with a code and message.
pub fn refuse(code: RefusalCode, message: &str) -> Refusal {
    Refusal {
        code,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control() -> Control {
        Control::boot(
            UnixNanos(0),
            true,
            true,
            Some(*blake3::hash(b"secret").as_bytes()),
            4,
        )
    }

    #[test]
    fn boots_in_hold_with_safe_mode() {
        let c = control();
        assert_eq!(c.mode, Mode::Hold);
        assert!(c.safe_mode);
    }

    #[test]
    fn two_man_resume_needs_a_different_actor_and_the_token() {
        let mut c = control();
        let id = c
            .request(UnixNanos(1), ApprovalKind::Resume, "alice", "checks done")
            .unwrap();
        let e = c
            .confirm(UnixNanos(2), ApprovalKind::Resume, id, "alice", "secret")
            .unwrap_err();
        assert_eq!(e.code, RefusalCode::SameActor);
        let e = c
            .confirm(UnixNanos(2), ApprovalKind::Resume, id, "bob", "wrong")
            .unwrap_err();
        assert_eq!(e.code, RefusalCode::BadToken);
        let e = c
            .confirm(UnixNanos(2), ApprovalKind::Kill, id, "bob", "secret")
            .unwrap_err();
        assert_eq!(e.code, RefusalCode::NoSuchRequest, "kinds do not mix");
        c.confirm(UnixNanos(3), ApprovalKind::Resume, id, "bob", "secret")
            .unwrap();
        assert!(c.has_confirmed(UnixNanos(4), ApprovalKind::Resume));
        let a = c
            .take_confirmed(UnixNanos(4), ApprovalKind::Resume, None)
            .unwrap();
        assert_eq!(a.confirmed_by.as_deref(), Some("bob"));
        let t = c.run(false);
        assert_eq!(t.to, Mode::Run);
        assert!(!c.safe_mode);
        assert!(c.hold(UnixNanos(5), "guard:clock_skew", "skew").is_some());
        assert!(c.safe_mode && c.mode == Mode::Hold);
        assert!(
            c.hold(UnixNanos(6), "ops", "again").is_none(),
            "already held"
        );
    }

    #[test]
    fn approvals_expire_and_are_bounded() {
        let mut c = control();
        for i in 0..4 {
            c.request(UnixNanos(i), ApprovalKind::Kill, "a", "r")
                .unwrap();
        }
        assert_eq!(
            c.request(UnixNanos(5), ApprovalKind::Kill, "a", "r")
                .unwrap_err()
                .code,
            RefusalCode::TooManyPending
        );
        let later = UnixNanos(APPROVAL_TTL_NS + 10);
        let id = c.request(later, ApprovalKind::Resume, "a", "r").unwrap();
        assert_eq!(c.approvals().len(), 1, "old requests expired");
        assert_eq!(
            c.confirm(
                UnixNanos(2 * APPROVAL_TTL_NS + 10),
                ApprovalKind::Resume,
                id,
                "b",
                "secret"
            )
            .unwrap_err()
            .code,
            RefusalCode::NoSuchRequest
        );
    }

    #[test]
    fn without_a_configured_token_nothing_confirms() {
        let mut c = Control::boot(UnixNanos(0), true, true, None, 4);
        let id = c
            .request(UnixNanos(1), ApprovalKind::Resume, "a", "r")
            .unwrap();
        assert_eq!(
            c.confirm(UnixNanos(2), ApprovalKind::Resume, id, "b", "")
                .unwrap_err()
                .code,
            RefusalCode::BadToken
        );
    }
}
