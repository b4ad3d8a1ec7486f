//! Accepting one report into the history, inside the caller's transaction: register the node, store the
//! results once, record the scan, and move the node's findings.
//!
//! The newest scan of a node is compared with its findings' current states (the common, cheap case). A late
//! scan, older than one already stored, is placed in the node's timeline and the node's findings are
//! recomputed over it; events a feed reader may have seen are corrected, never deleted.

pub mod cluster;
pub mod cross_layer;
pub mod prepare;
pub mod prepare_cluster;
pub mod transitions;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kubeward_benchmark::Status;
use kubeward_benchmark::report::Report;
use sqlx::PgConnection;

use self::prepare::PreparedReport;
use self::transitions::{
    Class, EventKind, FindingState, ScanPoint, StoredEvent, Transition, classify,
    latest_transition, reconcile, transitions,
};
use crate::storage::findings::{self, FindingFields, Subject};
use crate::storage::{cluster_scans, nodes, results, scans, webhooks};

/// How many findings a scan moved, by transition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub opened: usize,
    pub resolved: usize,
    pub reopened: usize,
}

impl Tally {
    fn count(&mut self, kind: EventKind) {
        match kind {
            EventKind::Opened => self.opened += 1,
            EventKind::Resolved => self.resolved += 1,
            EventKind::Reopened => self.reopened += 1,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    pub node_id: i64,
    pub findings: Tally,
    /// The scan is older than one already stored for its node.
    pub late: bool,
}

#[derive(Debug)]
pub enum IngestOutcome<T = Stored> {
    Stored(T),
    /// The same scan, with the same content, was stored before: nothing was written.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("scan {0} was stored before with different content")]
    Conflict(uuid::Uuid),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[tracing::instrument(skip_all, fields(cluster.id = cluster_id, node.name = %report.node.name, scan.id = %report.scan_id))]
pub async fn ingest(
    conn: &mut PgConnection,
    known: &nodes::KnownAttributeSets,
    cluster_id: i64,
    report: &Report,
    prepared: &PreparedReport,
) -> Result<IngestOutcome, IngestError> {
    let platform = report
        .node
        .platform
        .as_ref()
        .and_then(|platform| serde_json::to_value(platform).ok());
    let roles: Vec<String> = report
        .node
        .roles
        .iter()
        .map(|role| role.as_str().to_owned())
        .collect();
    let nodes::Registered {
        node_id,
        attributes_id,
    } = nodes::upsert(
        conn,
        known,
        cluster_id,
        &report.node.name,
        nodes::NodeSeen {
            roles: &roles,
            kubelet_version: report.node.kubelet_version.as_deref(),
            container_runtime: report.node.container_runtime.as_deref(),
            pod_security: report
                .node
                .pod_security_defaults
                .as_ref()
                .map(|defaults| (defaults.enforce.as_str(), defaults.source.as_str())),
            platform: platform.as_ref(),
            benchmark: (&report.benchmark.id, &report.benchmark.version),
        },
        report.finished_at,
    )
    .await?;

    let set_id = match results::find_set(conn, &prepared.set.digest).await? {
        Some(id) => id,
        None => {
            let ids = results::store_results(conn, &prepared.results).await?;
            results::store_set(conn, &prepared.set, &prepared.results, &ids).await?
        }
    };

    let inserted = scans::insert(
        conn,
        &scans::NewScan {
            scan_id: report.scan_id,
            node_id,
            result_set_id: set_id,
            attributes_id,
            started_at: report.started_at,
            finished_at: report.finished_at,
            content_hash: prepared.content_hash.clone(),
            agent_version: report.agent.version.clone(),
        },
    )
    .await?;
    if !inserted {
        return match cluster_scans::stored_hash(conn, report.scan_id).await? {
            Some((hash, _)) if hash == prepared.content_hash => Ok(IngestOutcome::Duplicate),
            // Another cluster's scan id: a token can learn nothing of other clusters, not even that an id
            // is taken there. It is answered as a re-delivery and nothing is stored; only a client that
            // copied the id from elsewhere meets this (random v7 ids do not collide).
            Some((_, owner)) if owner != cluster_id => {
                tracing::warn!(scan.id = %report.scan_id, "a scan id stored by another cluster was sent again; nothing was stored");
                Ok(IngestOutcome::Duplicate)
            }
            _ => Err(IngestError::Conflict(report.scan_id)),
        };
    }
    scans::record_day(conn, node_id, report.scan_id, report.finished_at, set_id).await?;

    let (previous, next) =
        scans::neighbours(conn, node_id, report.finished_at, report.scan_id).await?;
    let mut stored = Stored {
        node_id,
        late: next.is_some(),
        ..Stored::default()
    };
    // Results identical to the scan before change no transition, wherever this scan falls.
    if previous.is_some_and(|previous| previous.result_set_id == set_id) {
        return Ok(IngestOutcome::Stored(stored));
    }
    let point = ScanPoint {
        at: report.finished_at,
        scan_id: report.scan_id,
    };
    if next.is_none() {
        apply_latest(
            conn,
            cluster_id,
            node_id,
            point,
            &prepared.classes,
            &mut stored,
        )
        .await?;
    } else {
        recompute_node(conn, cluster_id, node_id, &mut stored).await?;
    }
    Ok(IngestOutcome::Stored(stored))
}

/// The name webhooks subscribe to for an event kind.
pub fn event_topic(kind: EventKind) -> String {
    format!("finding.{}", kind.as_str())
}

/// The newest scan of a node: each check's class against its finding's current state.
async fn apply_latest(
    conn: &mut PgConnection,
    cluster_id: i64,
    node_id: i64,
    point: ScanPoint,
    classes: &[(String, Class)],
    stored: &mut Stored,
) -> Result<(), sqlx::Error> {
    let current: HashMap<String, findings::FindingRow> = findings::for_node(conn, node_id)
        .await?
        .into_iter()
        .map(|row| (row.check_id.clone(), row))
        .collect();
    let changes: Vec<(&str, EventKind)> = classes
        .iter()
        .filter_map(|(check, class)| {
            let state = current
                .get(check)
                .and_then(|row| FindingState::parse(&row.state));
            latest_transition(state, *class).map(|kind| (check.as_str(), kind))
        })
        .collect();
    if changes.is_empty() {
        return Ok(());
    }
    findings::lock_event_feed(conn).await?;
    for (check, kind) in changes {
        let subject = Subject::Node(node_id);
        record_latest(
            conn,
            cluster_id,
            subject,
            check,
            current.get(check),
            kind,
            point,
        )
        .await?;
        stored.findings.count(kind);
    }
    Ok(())
}

/// One finding's transition at the newest scan of its timeline: a new finding with its opening, or one more
/// event on an existing one. The caller holds the event feed's lock.
async fn record_latest(
    conn: &mut PgConnection,
    cluster_id: i64,
    subject: Subject,
    check: &str,
    current: Option<&findings::FindingRow>,
    kind: EventKind,
    point: ScanPoint,
) -> Result<(), sqlx::Error> {
    let finding_id = match current {
        None => {
            let fields = FindingFields {
                state: FindingState::Open.as_str(),
                first_seen: point.at,
                state_since: point.at,
                reopen_count: 0,
            };
            findings::insert(conn, cluster_id, subject, check, &fields).await?
        }
        Some(row) => {
            let fields = FindingFields {
                state: kind.state_after().as_str(),
                first_seen: row.first_seen,
                state_since: point.at,
                reopen_count: row.reopen_count + i32::from(kind == EventKind::Reopened),
            };
            findings::update(conn, row.id, &fields).await?;
            row.id
        }
    };
    let event_id =
        findings::insert_event(conn, finding_id, kind.as_str(), point.at, point.scan_id).await?;
    webhooks::enqueue(conn, event_id, &event_topic(kind)).await?;
    Ok(())
}

/// Runs of equal results: consecutive scans with the same set change nothing, so only the first of each run
/// counts.
fn first_of_runs(scans: Vec<scans::ScanRef>) -> Vec<scans::ScanRef> {
    let mut runs: Vec<scans::ScanRef> = Vec::new();
    for scan in scans {
        if runs
            .last()
            .is_none_or(|last| last.result_set_id != scan.result_set_id)
        {
            runs.push(scan);
        }
    }
    runs
}

/// A late scan: recompute every check's transitions over the node's whole timeline and reconcile them with
/// the stored findings and events.
async fn recompute_node(
    conn: &mut PgConnection,
    cluster_id: i64,
    node_id: i64,
    stored: &mut Stored,
) -> Result<(), sqlx::Error> {
    let runs = first_of_runs(scans::timeline(conn, node_id).await?);
    let mut classes_by_set: HashMap<i64, HashMap<String, Class>> = HashMap::new();
    for set_id in runs
        .iter()
        .map(|scan| scan.result_set_id)
        .collect::<BTreeSet<_>>()
    {
        let statuses = results::statuses(conn, set_id).await?;
        let classes = statuses
            .into_iter()
            .map(|(check, status)| {
                let class = parse_status(&status).map_or(Class::Unknown, classify);
                (check, class)
            })
            .collect();
        classes_by_set.insert(set_id, classes);
    }
    let checks: BTreeSet<&String> = classes_by_set.values().flat_map(HashMap::keys).collect();

    let existing: HashMap<String, findings::FindingRow> = findings::for_node(conn, node_id)
        .await?
        .into_iter()
        .map(|row| (row.check_id.clone(), row))
        .collect();
    let events_by_finding = events_by_finding(findings::events_for_node(conn, node_id).await?);

    let mut locked = false;
    for check in checks {
        let computed = transitions(&timeline_of(&runs, |set| {
            classes_by_set
                .get(&set)
                .and_then(|classes| classes.get(check))
                .copied()
                .unwrap_or(Class::Unknown)
        }));
        let finding = existing.get(check);
        let stored_events = finding
            .and_then(|row| events_by_finding.get(&row.id))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let subject = Subject::Node(node_id);
        let change = Recomputed {
            subject,
            check,
            finding,
            stored_events,
            computed: &computed,
        };
        change
            .write(conn, cluster_id, &mut locked, &mut stored.findings)
            .await?;
    }
    Ok(())
}

/// One finding's transitions recomputed over its whole timeline, with what is stored of it.
struct Recomputed<'a> {
    subject: Subject,
    check: &'a str,
    finding: Option<&'a findings::FindingRow>,
    stored_events: &'a [StoredEvent],
    computed: &'a [Transition],
}

impl Recomputed<'_> {
    /// Brings the stored finding and its events in line with the recomputed transitions, taking the event
    /// feed's lock before the first write (`locked` says whether it is held).
    async fn write(
        &self,
        conn: &mut PgConnection,
        cluster_id: i64,
        locked: &mut bool,
        tally: &mut Tally,
    ) -> Result<(), sqlx::Error> {
        let (Some(first), Some(last)) = (self.computed.first(), self.computed.last()) else {
            return Ok(());
        };
        let fields = FindingFields {
            state: last.kind.state_after().as_str(),
            first_seen: first.point.at,
            state_since: last.point.at,
            reopen_count: i32::try_from(
                self.computed
                    .iter()
                    .filter(|t| t.kind == EventKind::Reopened)
                    .count(),
            )
            .unwrap_or(i32::MAX),
        };
        let plan = reconcile(self.stored_events, self.computed);
        let unchanged = plan.updates.is_empty()
            && plan.inserts.is_empty()
            && self.finding.is_some_and(|row| same_fields(row, &fields));
        if unchanged {
            return Ok(());
        }
        if !plan.orphans.is_empty() {
            tracing::warn!(subject = ?self.subject, check = %self.check, orphans = ?plan.orphans, "stored events match no transition; kept as they are");
        }
        if !*locked {
            findings::lock_event_feed(conn).await?;
            *locked = true;
        }
        let finding_id = match self.finding {
            Some(row) => {
                findings::update(conn, row.id, &fields).await?;
                row.id
            }
            None => findings::insert(conn, cluster_id, self.subject, self.check, &fields).await?,
        };
        for (event_id, transition) in &plan.updates {
            findings::correct_event(
                conn,
                *event_id,
                transition.kind.as_str(),
                transition.point.at,
                transition.point.scan_id,
            )
            .await?;
        }
        for Transition { point, kind } in &plan.inserts {
            let event_id =
                findings::insert_event(conn, finding_id, kind.as_str(), point.at, point.scan_id)
                    .await?;
            webhooks::enqueue(conn, event_id, &event_topic(*kind)).await?;
            tally.count(*kind);
        }
        Ok(())
    }
}

/// One subject's verdicts over the first scans of each run, given its class in each result set.
fn timeline_of(
    runs: &[scans::ScanRef],
    class_in: impl Fn(i64) -> Class,
) -> Vec<(ScanPoint, Class)> {
    runs.iter()
        .map(|scan| {
            let point = ScanPoint {
                at: scan.finished_at,
                scan_id: scan.scan_id,
            };
            (point, class_in(scan.result_set_id))
        })
        .collect()
}

/// Stored transition events grouped by their finding, in timeline order.
fn events_by_finding(rows: Vec<findings::EventRow>) -> BTreeMap<i64, Vec<StoredEvent>> {
    let mut grouped: BTreeMap<i64, Vec<StoredEvent>> = BTreeMap::new();
    for event in rows {
        if let Some(kind) = EventKind::parse(&event.kind) {
            grouped
                .entry(event.finding_id)
                .or_default()
                .push(StoredEvent {
                    id: event.id,
                    point: ScanPoint {
                        at: event.at,
                        scan_id: event.scan_id,
                    },
                    kind,
                });
        }
    }
    grouped
}

fn same_fields(row: &findings::FindingRow, fields: &FindingFields) -> bool {
    row.state == fields.state
        && row.first_seen == fields.first_seen
        && row.state_since == fields.state_since
        && row.reopen_count == fields.reopen_count
}

fn parse_status(text: &str) -> Option<Status> {
    Status::ALL
        .into_iter()
        .find(|status| status.as_str() == text)
}
