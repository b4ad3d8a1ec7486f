//! Accepting one cluster report into the history, inside the caller's transaction: store what changed, record
//! the scan, and move the findings of the objects it names.
//!
//! A cluster's scans against one benchmark form one timeline, ordered by `finished_at` then scan id, as a
//! node's scans do. An object's class for a check at a scan: its own status where the check lists it; clean
//! where the check ran and left it out (it passed, or it is gone: either way the finding resolves); unknown
//! where the check errored as a whole or is not in the report (nothing moves).

use std::collections::{BTreeSet, HashMap};

use kubeward_benchmark::Status;
use kubeward_benchmark::cluster_report::ClusterReport;
use sqlx::PgConnection;

use super::prepare_cluster::PreparedClusterReport;
use super::transitions::{
    Class, FindingState, ScanPoint, classify, latest_transition, transitions,
};
use super::{
    IngestError, IngestOutcome, Recomputed, Tally, events_by_finding, first_of_runs, parse_status,
    record_latest, timeline_of,
};
use crate::storage::cluster_scans::{self, NewClusterScan, SetVerdict};
use crate::storage::findings::{self, FindingRow, Subject};

/// What a stored cluster scan did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterStored {
    pub findings: Tally,
    /// The scan is older than one already stored for its cluster and benchmark.
    pub late: bool,
    /// Objects named by the report.
    pub objects: usize,
}

/// The classes of one stored set: per check, whether it ran, and the class of each object it listed.
#[derive(Debug, Default)]
pub struct SetClasses {
    checks: HashMap<String, CheckClasses>,
}

#[derive(Debug)]
struct CheckClasses {
    /// The check ran (any status but `error`): an object it left out passed or is gone.
    decided: bool,
    objects: HashMap<i64, Class>,
}

impl SetClasses {
    pub fn from_verdicts(verdicts: Vec<SetVerdict>) -> SetClasses {
        let mut checks: HashMap<String, CheckClasses> = HashMap::new();
        for verdict in verdicts {
            let entry = checks
                .entry(verdict.check_id)
                .or_insert_with(|| CheckClasses {
                    decided: parse_status(&verdict.check_status)
                        .is_some_and(|status| status != Status::Error),
                    objects: HashMap::new(),
                });
            if let (Some(object), Some(status)) = (verdict.object_id, verdict.object_status) {
                let class = parse_status(&status).map_or(Class::Unknown, classify);
                entry.objects.insert(object, class);
            }
        }
        SetClasses { checks }
    }

    pub fn class_of(&self, check: &str, object: i64) -> Class {
        match self.checks.get(check) {
            None => Class::Unknown,
            Some(classes) => match classes.objects.get(&object) {
                Some(class) => *class,
                None if classes.decided => Class::Clean,
                None => Class::Unknown,
            },
        }
    }

    /// Every (object, check) the set lists.
    fn listed(&self) -> impl Iterator<Item = (i64, &str)> {
        self.checks.iter().flat_map(|(check, classes)| {
            classes
                .objects
                .keys()
                .map(move |object| (*object, check.as_str()))
        })
    }
}

#[tracing::instrument(skip_all, fields(cluster.id = cluster_id, scan.id = %report.scan_id))]
pub async fn ingest_cluster(
    conn: &mut PgConnection,
    cluster_id: i64,
    report: &ClusterReport,
    prepared: &PreparedClusterReport,
    catalog_checks: &[String],
) -> Result<IngestOutcome<ClusterStored>, IngestError> {
    let benchmark = report.benchmark.id.as_str();
    cluster_scans::lock_timeline(conn, cluster_id, benchmark).await?;
    if let Some(outcome) = already_stored(conn, cluster_id, report, prepared).await? {
        return Ok(outcome);
    }
    let at = report.finished_at;
    let (previous, next) =
        cluster_scans::neighbours(conn, cluster_id, benchmark, at, report.scan_id).await?;
    let late = next.is_some();

    let set_id = match cluster_scans::find_set(conn, &prepared.set.digest).await? {
        Some(id) => {
            if late {
                cluster_scans::lower_first_seen(conn, id, at).await?;
            }
            id
        }
        None => {
            let object_ids =
                cluster_scans::register_objects(conn, cluster_id, &prepared.objects, at).await?;
            let object_result_ids =
                cluster_scans::store_object_results(conn, &prepared.object_results, &object_ids)
                    .await?;
            let check_ids = cluster_scans::store_check_results(
                conn,
                &prepared.check_results,
                &object_result_ids,
                &object_ids,
            )
            .await?;
            cluster_scans::store_set(conn, &prepared.set, &prepared.check_results, &check_ids)
                .await?
        }
    };
    let context_id = match &prepared.context {
        Some(context) => Some(
            cluster_scans::store_context(
                conn,
                &context.digest,
                &context.objects,
                context.object_count,
            )
            .await?,
        ),
        None => None,
    };
    let inserted = cluster_scans::insert(
        conn,
        &NewClusterScan {
            scan_id: report.scan_id,
            cluster_id,
            benchmark_id: report.benchmark.id.clone(),
            result_set_id: set_id,
            kubernetes_version: report.cluster.kubernetes_version.clone(),
            distribution: report.cluster.distribution.clone(),
            started_at: report.started_at,
            finished_at: at,
            content_hash: prepared.content_hash.clone(),
            agent_version: report.agent.version.clone(),
            context_id,
            // Validated at most 1,000,000.
            node_count: report
                .cluster
                .nodes
                .and_then(|nodes| i64::try_from(nodes).ok()),
        },
    )
    .await?;
    if !inserted {
        // The timeline lock makes this a node scan that took the id meanwhile: answer as for any stored id.
        return match already_stored(conn, cluster_id, report, prepared).await? {
            Some(outcome) => Ok(outcome),
            None => Err(IngestError::Conflict(report.scan_id)),
        };
    }

    let mut stored = ClusterStored {
        late,
        objects: prepared.objects.len(),
        ..ClusterStored::default()
    };
    // Results identical to the scan before change no transition, wherever this scan falls.
    if previous.is_some_and(|previous| previous.result_set_id == set_id) {
        return Ok(IngestOutcome::Stored(stored));
    }
    let point = ScanPoint {
        at,
        scan_id: report.scan_id,
    };
    if late {
        recompute_timeline(
            conn,
            cluster_id,
            benchmark,
            catalog_checks,
            &mut stored.findings,
        )
        .await?;
    } else {
        let classes = SetClasses::from_verdicts(cluster_scans::verdicts(conn, set_id).await?);
        apply_latest(
            conn,
            cluster_id,
            catalog_checks,
            &classes,
            point,
            &mut stored.findings,
        )
        .await?;
    }
    Ok(IngestOutcome::Stored(stored))
}

/// The answer for a scan id stored before: a re-delivery (same content, or another cluster's id, which a
/// token may not learn of) or a conflict.
async fn already_stored<T>(
    conn: &mut PgConnection,
    cluster_id: i64,
    report: &ClusterReport,
    prepared: &PreparedClusterReport,
) -> Result<Option<IngestOutcome<T>>, IngestError> {
    match cluster_scans::stored_hash(conn, report.scan_id).await? {
        None => Ok(None),
        Some((hash, _)) if hash == prepared.content_hash => Ok(Some(IngestOutcome::Duplicate)),
        Some((_, owner)) if owner != cluster_id => {
            tracing::warn!(scan.id = %report.scan_id, "a scan id stored by another cluster was sent again; nothing was stored");
            Ok(Some(IngestOutcome::Duplicate))
        }
        Some(_) => Err(IngestError::Conflict(report.scan_id)),
    }
}

/// The newest scan of the timeline: each listed object, and each object with a finding, against the
/// finding's current state.
async fn apply_latest(
    conn: &mut PgConnection,
    cluster_id: i64,
    catalog_checks: &[String],
    classes: &SetClasses,
    point: ScanPoint,
    tally: &mut Tally,
) -> Result<(), sqlx::Error> {
    let current: HashMap<(i64, String), FindingRow> =
        findings::for_objects(conn, cluster_id, catalog_checks)
            .await?
            .into_iter()
            .map(|row| ((row.object_id, row.check_id.clone()), row.into_finding()))
            .collect();
    let subjects: BTreeSet<(i64, &str)> = classes
        .listed()
        .chain(
            current
                .keys()
                .map(|(object, check)| (*object, check.as_str())),
        )
        .collect();
    let changes: Vec<(i64, &str, _)> = subjects
        .into_iter()
        .filter_map(|(object, check)| {
            let state = current
                .get(&(object, check.to_owned()))
                .and_then(|row| FindingState::parse(&row.state));
            latest_transition(state, classes.class_of(check, object))
                .map(|kind| (object, check, kind))
        })
        .collect();
    if changes.is_empty() {
        return Ok(());
    }
    findings::lock_event_feed(conn).await?;
    for (object, check, kind) in changes {
        let row = current.get(&(object, check.to_owned()));
        record_latest(
            conn,
            cluster_id,
            Subject::Object(object),
            check,
            row,
            kind,
            point,
        )
        .await?;
        tally.count(kind);
    }
    Ok(())
}

/// A late scan: every (object, check) of the timeline recomputed over the whole timeline and reconciled
/// with the stored findings and events, as for a node.
async fn recompute_timeline(
    conn: &mut PgConnection,
    cluster_id: i64,
    benchmark: &str,
    catalog_checks: &[String],
    tally: &mut Tally,
) -> Result<(), sqlx::Error> {
    let runs = first_of_runs(cluster_scans::timeline(conn, cluster_id, benchmark).await?);
    let mut classes_by_set: HashMap<i64, SetClasses> = HashMap::new();
    for set_id in runs
        .iter()
        .map(|scan| scan.result_set_id)
        .collect::<BTreeSet<_>>()
    {
        let verdicts = cluster_scans::verdicts(conn, set_id).await?;
        classes_by_set.insert(set_id, SetClasses::from_verdicts(verdicts));
    }
    let existing: HashMap<(i64, String), FindingRow> =
        findings::for_objects(conn, cluster_id, catalog_checks)
            .await?
            .into_iter()
            .map(|row| ((row.object_id, row.check_id.clone()), row.into_finding()))
            .collect();
    let events =
        events_by_finding(findings::events_for_objects(conn, cluster_id, catalog_checks).await?);
    let subjects: BTreeSet<(i64, String)> = classes_by_set
        .values()
        .flat_map(|classes| {
            classes
                .listed()
                .map(|(object, check)| (object, check.to_owned()))
        })
        .chain(existing.keys().cloned())
        .collect();

    let mut locked = false;
    for (object, check) in &subjects {
        let computed = transitions(&timeline_of(&runs, |set| {
            classes_by_set
                .get(&set)
                .map_or(Class::Unknown, |classes| classes.class_of(check, *object))
        }));
        let finding = existing.get(&(*object, check.clone()));
        let stored_events = finding
            .and_then(|row| events.get(&row.id))
            .map(Vec::as_slice)
            .unwrap_or_default();
        Recomputed {
            subject: Subject::Object(*object),
            check,
            finding,
            stored_events,
            computed: &computed,
        }
        .write(conn, cluster_id, &mut locked, tally)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(check: &str, status: &str, object: Option<(i64, &str)>) -> SetVerdict {
        SetVerdict {
            check_id: check.to_owned(),
            check_status: status.to_owned(),
            object_id: object.map(|(id, _)| id),
            object_status: object.map(|(_, status)| status.to_owned()),
        }
    }

    #[test]
    fn an_object_left_out_of_a_check_that_ran_is_clean_and_of_one_that_errored_unknown() {
        let classes = SetClasses::from_verdicts(vec![
            verdict("5.2.2", "warn", Some((1, "warn"))),
            verdict("5.2.2", "warn", Some((2, "manual"))),
            verdict("5.1.1", "error", Some((3, "fail"))),
            verdict("KW-SVC-NODEPORT", "pass", None),
        ]);
        assert_eq!(classes.class_of("5.2.2", 1), Class::Failing);
        assert_eq!(classes.class_of("5.2.2", 2), Class::Unknown);
        assert_eq!(classes.class_of("5.2.2", 9), Class::Clean);
        assert_eq!(classes.class_of("5.1.1", 3), Class::Failing);
        assert_eq!(classes.class_of("5.1.1", 9), Class::Unknown);
        assert_eq!(classes.class_of("KW-SVC-NODEPORT", 1), Class::Clean);
        assert_eq!(classes.class_of("5.7.1", 1), Class::Unknown);
    }
}
