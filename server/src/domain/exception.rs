//! The life of an exception, as pure rules the storage and the handlers both follow:
//!
//! ```text
//! requested ──approve (another person, before its end)──▶ approved ──(end date passes)──▶ expired
//!     │ └──reject (another person)──▶ rejected               │
//!     └──revoke (withdrawn)──▶ revoked ◀──revoke (before its end)┘
//! ```
//!
//! "Expired" is never stored: it is an approved exception whose end has passed, so that every past moment can
//! be answered from the stored times alone.

use time::OffsetDateTime;

/// The states an exception can be shown in, for the `state` filter.
pub const SHOWN_STATES: &[&str] = &[
    "requested",
    "lapsed",
    "in_force",
    "expired",
    "rejected",
    "revoked",
];

/// The stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Requested,
    Approved,
    Rejected,
    Revoked,
}

impl Stored {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "requested" => Some(Stored::Requested),
            "approved" => Some(Stored::Approved),
            "rejected" => Some(Stored::Rejected),
            "revoked" => Some(Stored::Revoked),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stored::Requested => "requested",
            Stored::Approved => "approved",
            Stored::Rejected => "rejected",
            Stored::Revoked => "revoked",
        }
    }
}

/// What people see at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Waiting for an auditor.
    Requested,
    /// Requested, but its end date passed before anyone decided.
    Lapsed,
    /// Approved and in force: matching failures are waived.
    InForce,
    /// Approved, and its end date has passed.
    Expired,
    Rejected,
    Revoked,
}

impl Shown {
    pub fn as_str(self) -> &'static str {
        match self {
            Shown::Requested => "requested",
            Shown::Lapsed => "lapsed",
            Shown::InForce => "in_force",
            Shown::Expired => "expired",
            Shown::Rejected => "rejected",
            Shown::Revoked => "revoked",
        }
    }
}

/// What decides an exception's state at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub stored: Stored,
    pub requested_by_id: String,
    pub requested_at: OffsetDateTime,
    pub decided_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
}

impl Facts {
    /// Whether matching failures are waived at `at`: approved by then, not yet at its end, not revoked by then.
    /// The end is exclusive: at `expires_at` exactly the failure counts again.
    pub fn in_force_at(&self, at: OffsetDateTime) -> bool {
        let approved_by_then = self.decided_at.is_some_and(|decided| decided <= at)
            && matches!(self.stored, Stored::Approved | Stored::Revoked);
        approved_by_then
            && at < self.expires_at
            && self.revoked_at.is_none_or(|revoked| at < revoked)
    }

    /// The state as people saw it at `at`; `None` before it was requested.
    pub fn shown_at(&self, at: OffsetDateTime) -> Option<Shown> {
        if at < self.requested_at {
            return None;
        }
        if self.revoked_at.is_some_and(|revoked| revoked <= at) {
            return Some(Shown::Revoked);
        }
        let decided = self.decided_at.filter(|decided| *decided <= at);
        Some(match (self.stored, decided) {
            (Stored::Rejected, Some(_)) => Shown::Rejected,
            (Stored::Approved | Stored::Revoked, Some(_)) if at < self.expires_at => Shown::InForce,
            (Stored::Approved | Stored::Revoked, Some(_)) => Shown::Expired,
            _ if at < self.expires_at => Shown::Requested,
            _ => Shown::Lapsed,
        })
    }
}

/// A change someone asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Approve,
    Reject,
    Revoke,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Revoke => "revoke",
        }
    }
}

/// Why a change is refused; each says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("you requested this exception: another auditor must decide it")]
    OwnRequest,
    #[error("this exception is {0} and can no longer be {1}")]
    Settled(&'static str, &'static str),
    #[error("this exception's end date has passed; request a new one")]
    PastItsEnd,
}

/// The stored state after `action` by `actor_id` at `now`, or why it is refused.
pub fn apply(
    facts: &Facts,
    action: Action,
    actor_id: &str,
    now: OffsetDateTime,
) -> Result<Stored, Refusal> {
    let shown = facts.shown_at(now).unwrap_or(Shown::Requested);
    let past_tense = match action {
        Action::Approve => "approved",
        Action::Reject => "rejected",
        Action::Revoke => "revoked",
    };
    match (action, shown) {
        (Action::Approve | Action::Reject, Shown::Requested) => {
            if facts.requested_by_id == actor_id {
                return Err(Refusal::OwnRequest);
            }
            Ok(if action == Action::Approve {
                Stored::Approved
            } else {
                Stored::Rejected
            })
        }
        (Action::Approve, Shown::Lapsed) => Err(Refusal::PastItsEnd),
        (Action::Revoke, Shown::Requested | Shown::InForce) => Ok(Stored::Revoked),
        (_, other) => Err(Refusal::Settled(other.as_str(), past_tense)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn requested() -> Facts {
        Facts {
            stored: Stored::Requested,
            requested_by_id: "oidc:alice".to_owned(),
            requested_at: datetime!(2026-06-01 09:00 UTC),
            decided_at: None,
            revoked_at: None,
            expires_at: datetime!(2026-07-01 00:00 UTC),
        }
    }

    fn approved() -> Facts {
        Facts {
            stored: Stored::Approved,
            decided_at: Some(datetime!(2026-06-02 10:00 UTC)),
            ..requested()
        }
    }

    #[test]
    fn a_requester_cannot_approve_or_reject_their_own_exception() {
        let now = datetime!(2026-06-01 10:00 UTC);
        assert_eq!(
            apply(&requested(), Action::Approve, "oidc:alice", now),
            Err(Refusal::OwnRequest)
        );
        assert_eq!(
            apply(&requested(), Action::Reject, "oidc:alice", now),
            Err(Refusal::OwnRequest)
        );
        assert_eq!(
            apply(&requested(), Action::Approve, "oidc:bob", now),
            Ok(Stored::Approved)
        );
        assert_eq!(
            apply(&requested(), Action::Reject, "oidc:bob", now),
            Ok(Stored::Rejected)
        );
        // Withdrawing one's own request is allowed.
        assert_eq!(
            apply(&requested(), Action::Revoke, "oidc:alice", now),
            Ok(Stored::Revoked)
        );
    }

    #[test]
    fn settled_exceptions_take_no_further_decision() {
        let now = datetime!(2026-06-10 00:00 UTC);
        assert!(matches!(
            apply(&approved(), Action::Approve, "oidc:carol", now),
            Err(Refusal::Settled("in_force", _))
        ));
        assert!(matches!(
            apply(&approved(), Action::Reject, "oidc:carol", now),
            Err(Refusal::Settled(..))
        ));
        assert_eq!(
            apply(&approved(), Action::Revoke, "oidc:carol", now),
            Ok(Stored::Revoked)
        );
        let rejected = Facts {
            stored: Stored::Rejected,
            decided_at: Some(now),
            ..requested()
        };
        let later = now + time::Duration::hours(1);
        for action in [Action::Approve, Action::Reject, Action::Revoke] {
            assert!(matches!(
                apply(&rejected, action, "oidc:carol", later),
                Err(Refusal::Settled("rejected", _))
            ));
        }
        let revoked = Facts {
            stored: Stored::Revoked,
            revoked_at: Some(now),
            ..approved()
        };
        assert!(matches!(
            apply(&revoked, Action::Revoke, "oidc:carol", later),
            Err(Refusal::Settled("revoked", _))
        ));
    }

    #[test]
    fn nothing_can_be_approved_or_revoked_after_its_end() {
        let end = requested().expires_at;
        assert_eq!(
            apply(&requested(), Action::Approve, "oidc:bob", end),
            Err(Refusal::PastItsEnd)
        );
        assert!(matches!(
            apply(&approved(), Action::Revoke, "oidc:bob", end),
            Err(Refusal::Settled("expired", _))
        ));
    }

    #[test]
    fn an_exception_is_in_force_up_to_but_not_at_its_end() {
        let facts = approved();
        let end = facts.expires_at;
        assert!(
            !facts.in_force_at(datetime!(2026-06-02 09:59:59 UTC)),
            "before approval"
        );
        assert!(facts.in_force_at(datetime!(2026-06-02 10:00 UTC)));
        assert!(facts.in_force_at(end - time::Duration::microseconds(1)));
        assert!(!facts.in_force_at(end));
        assert_eq!(
            facts.shown_at(end - time::Duration::microseconds(1)),
            Some(Shown::InForce)
        );
        assert_eq!(facts.shown_at(end), Some(Shown::Expired));
        assert_eq!(
            facts.shown_at(datetime!(2026-06-01 12:00 UTC)),
            Some(Shown::Requested)
        );
        assert_eq!(facts.shown_at(datetime!(2026-05-01 12:00 UTC)), None);
    }

    #[test]
    fn a_revoked_exception_was_in_force_until_its_revocation() {
        let revoked_at = datetime!(2026-06-15 08:00 UTC);
        let facts = Facts {
            stored: Stored::Revoked,
            revoked_at: Some(revoked_at),
            ..approved()
        };
        assert!(facts.in_force_at(revoked_at - time::Duration::microseconds(1)));
        assert!(!facts.in_force_at(revoked_at));
        assert_eq!(
            facts.shown_at(datetime!(2026-06-10 00:00 UTC)),
            Some(Shown::InForce)
        );
        assert_eq!(facts.shown_at(revoked_at), Some(Shown::Revoked));
        // A withdrawn request was never in force.
        let withdrawn = Facts {
            stored: Stored::Revoked,
            revoked_at: Some(revoked_at),
            ..requested()
        };
        assert!(!withdrawn.in_force_at(datetime!(2026-06-10 00:00 UTC)));
    }

    #[test]
    fn an_undecided_request_lapses_at_its_end() {
        let facts = requested();
        assert_eq!(facts.shown_at(facts.expires_at), Some(Shown::Lapsed));
        assert!(!facts.in_force_at(datetime!(2026-06-10 00:00 UTC)));
    }
}
