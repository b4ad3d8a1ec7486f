//! How findings move, as pure functions over check verdicts: no database here.
//!
//! A check is *failing* when its result is `fail` or `warn`, *clean* when it is `pass` or `not_applicable`,
//! and *unknown* when it is `error`, `manual` or missing; an unknown result moves nothing. A finding opens at
//! the first failing scan, resolves at the first clean scan after that, and reopens at a failing scan after a
//! resolution. Scans are ordered by their `finished_at`, then by scan id, never by arrival.

use kubeward_benchmark::Status;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Failing,
    Clean,
    Unknown,
}

pub fn classify(status: Status) -> Class {
    match status {
        Status::Fail | Status::Warn => Class::Failing,
        Status::Pass | Status::NotApplicable => Class::Clean,
        Status::Error | Status::Manual => Class::Unknown,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingState {
    Open,
    Resolved,
}

impl FindingState {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingState::Open => "open",
            FindingState::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(FindingState::Open),
            "resolved" => Some(FindingState::Resolved),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Opened,
    Resolved,
    Reopened,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::Resolved => "resolved",
            EventKind::Reopened => "reopened",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "opened" => Some(EventKind::Opened),
            "resolved" => Some(EventKind::Resolved),
            "reopened" => Some(EventKind::Reopened),
            _ => None,
        }
    }

    /// Whether the finding is failing after this event.
    pub fn into_failing(self) -> bool {
        !matches!(self, EventKind::Resolved)
    }

    pub fn state_after(self) -> FindingState {
        if self.into_failing() {
            FindingState::Open
        } else {
            FindingState::Resolved
        }
    }
}

/// The transition a scan makes when it is the newest of its node: compared with the finding's current state
/// (`None` when the check never failed on this node).
pub fn latest_transition(current: Option<FindingState>, class: Class) -> Option<EventKind> {
    match (current, class) {
        (None, Class::Failing) => Some(EventKind::Opened),
        (Some(FindingState::Resolved), Class::Failing) => Some(EventKind::Reopened),
        (Some(FindingState::Open), Class::Clean) => Some(EventKind::Resolved),
        _ => None,
    }
}

/// A point of a node's timeline: one scan, in `(at, scan_id)` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScanPoint {
    pub at: OffsetDateTime,
    pub scan_id: Uuid,
}

/// A transition of one check at one scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub point: ScanPoint,
    pub kind: EventKind,
}

/// Every transition of one check over a whole ordered timeline of verdicts.
pub fn transitions(timeline: &[(ScanPoint, Class)]) -> Vec<Transition> {
    let mut state: Option<FindingState> = None;
    let mut out = Vec::new();
    for (point, class) in timeline {
        if let Some(kind) = latest_transition(state, *class) {
            out.push(Transition {
                point: *point,
                kind,
            });
            state = Some(kind.state_after());
        }
    }
    out
}

/// An event already in the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: i64,
    pub point: ScanPoint,
    pub kind: EventKind,
}

/// How to bring a finding's stored events in line with its recomputed transitions while keeping every event
/// that a feed reader may already have seen: an event is never deleted, only given its correct scan, time and
/// kind, and missing transitions are appended.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reconciliation {
    pub updates: Vec<(i64, Transition)>,
    pub inserts: Vec<Transition>,
    /// Stored events that match no transition; inserting scans never removes a transition, so this is empty
    /// unless the history was changed by hand.
    pub orphans: Vec<i64>,
}

pub fn reconcile(stored: &[StoredEvent], computed: &[Transition]) -> Reconciliation {
    let mut used = vec![false; stored.len()];
    let mut matched: Vec<Option<usize>> = vec![None; computed.len()];
    // First, events that already sit at the right scan in the right direction.
    for (c, transition) in computed.iter().enumerate() {
        if let Some(s) = stored.iter().enumerate().position(|(s, event)| {
            !used[s]
                && event.point == transition.point
                && event.kind.into_failing() == transition.kind.into_failing()
        }) {
            used[s] = true;
            matched[c] = Some(s);
        }
    }
    let mut plan = Reconciliation::default();
    for (c, transition) in computed.iter().enumerate() {
        let index = match matched[c] {
            Some(index) => Some(index),
            // A transition that moved to another scan keeps its event: the earliest unused one of its direction.
            None => stored.iter().enumerate().position(|(s, event)| {
                !used[s] && event.kind.into_failing() == transition.kind.into_failing()
            }),
        };
        match index {
            Some(s) => {
                used[s] = true;
                let event = stored[s];
                if event.point != transition.point || event.kind != transition.kind {
                    plan.updates.push((event.id, *transition));
                }
            }
            None => plan.inserts.push(*transition),
        }
    }
    plan.orphans = stored
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(event, _)| event.id)
        .collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use Class::{Clean as C, Failing as F, Unknown as U};

    fn point(n: i64) -> ScanPoint {
        ScanPoint {
            at: OffsetDateTime::from_unix_timestamp(1_800_000_000 + n * 3600).unwrap(),
            scan_id: Uuid::from_u128(n as u128),
        }
    }

    fn timeline(classes: &[Class]) -> Vec<(ScanPoint, Class)> {
        classes
            .iter()
            .enumerate()
            .map(|(n, class)| (point(n as i64), *class))
            .collect()
    }

    fn kinds(transitions: &[Transition]) -> Vec<(i64, EventKind)> {
        transitions
            .iter()
            .map(|t| ((t.point.at.unix_timestamp() - 1_800_000_000) / 3600, t.kind))
            .collect()
    }

    #[test]
    fn a_finding_opens_resolves_and_reopens_and_unknowns_move_nothing() {
        let found = transitions(&timeline(&[C, F, U, F, C, U, C, F]));
        assert_eq!(
            kinds(&found),
            [
                (1, EventKind::Opened),
                (4, EventKind::Resolved),
                (7, EventKind::Reopened)
            ]
        );
        assert!(transitions(&timeline(&[C, C, U, C])).is_empty());
    }

    #[test]
    fn statuses_classify_as_the_design_says() {
        assert_eq!(classify(Status::Fail), F);
        assert_eq!(classify(Status::Warn), F);
        assert_eq!(classify(Status::Pass), C);
        assert_eq!(classify(Status::NotApplicable), C);
        assert_eq!(classify(Status::Error), U);
        assert_eq!(classify(Status::Manual), U);
    }

    #[test]
    fn a_late_scan_between_two_failures_adds_a_resolution_and_a_reopening() {
        let before = transitions(&[(point(0), F), (point(2), F)]);
        let stored: Vec<StoredEvent> = before
            .iter()
            .enumerate()
            .map(|(i, t)| StoredEvent {
                id: i as i64 + 1,
                point: t.point,
                kind: t.kind,
            })
            .collect();
        let after = transitions(&[(point(0), F), (point(1), C), (point(2), F)]);
        let plan = reconcile(&stored, &after);
        assert!(plan.updates.is_empty());
        assert_eq!(
            kinds(&plan.inserts),
            [(1, EventKind::Resolved), (2, EventKind::Reopened)]
        );
        assert!(plan.orphans.is_empty());
    }

    #[test]
    fn a_late_failing_scan_moves_the_opening_earlier_without_a_new_event() {
        let stored = [StoredEvent {
            id: 7,
            point: point(2),
            kind: EventKind::Opened,
        }];
        let after = transitions(&[(point(0), C), (point(1), F), (point(2), F)]);
        let plan = reconcile(&stored, &after);
        assert_eq!(plan.updates.len(), 1);
        assert_eq!(plan.updates[0].0, 7);
        assert_eq!(plan.updates[0].1.point, point(1));
        assert!(plan.inserts.is_empty());
    }

    #[test]
    fn an_earlier_opening_turns_a_later_opening_into_a_reopening() {
        let stored = [StoredEvent {
            id: 3,
            point: point(3),
            kind: EventKind::Opened,
        }];
        let after = transitions(&[(point(0), F), (point(1), C), (point(2), C), (point(3), F)]);
        let plan = reconcile(&stored, &after);
        assert_eq!(
            kinds(&plan.inserts),
            [(0, EventKind::Opened), (1, EventKind::Resolved)]
        );
        assert_eq!(
            plan.updates,
            [(
                3,
                Transition {
                    point: point(3),
                    kind: EventKind::Reopened
                }
            )]
        );
    }
}
