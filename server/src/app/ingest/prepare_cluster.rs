//! Turning a validated cluster report into what storage needs: the objects it names, each object's result,
//! each check's list and the set, with the digests that let unchanged content be stored once.

use std::collections::HashMap;

use kubeward_benchmark::Status;
use kubeward_benchmark::cluster_report::{ClusterReport, ObjectResult};
use sha2::{Digest, Sha256};

use super::prepare::status_index;
use crate::storage::cluster_scans::{
    ListedCounts, NewCheckResult, NewObjectResult, NewSet, ObjectKey,
};

/// A cluster report ready for the ingest transaction.
#[derive(Debug, Clone)]
pub struct PreparedClusterReport {
    /// Every object the report lists, once.
    pub objects: Vec<ObjectKey>,
    pub object_results: Vec<NewObjectResult>,
    pub check_results: Vec<NewCheckResult>,
    pub set: NewSet,
    /// Identifies the report's content for idempotency: the same scan id with another hash is a conflict.
    pub content_hash: Vec<u8>,
    /// The cluster's context the report carried, with the digest that stores it once.
    pub context: Option<PreparedContext>,
}

#[derive(Debug, Clone)]
pub struct PreparedContext {
    pub digest: Vec<u8>,
    pub objects: serde_json::Value,
    pub object_count: i32,
}

/// Hashes length-prefixed parts, so that no two different lists of parts hash alike.
fn digest_of<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().to_vec()
}

/// The hash of a report as its agent sent it, before the server decides anything in it: a re-delivery of the
/// same scan id answers 200 when it hashes alike and 409 when it does not.
/// Counts one listed object (at `index` in the report's objects) into its check result's counts, as the
/// check_result_counts migration counts the rows stored before it.
fn tally(listed: &mut ListedCounts, object: &ObjectResult, index: usize) {
    let failing = matches!(object.status, Status::Fail | Status::Warn);
    let unknown = matches!(object.status, Status::Manual | Status::Error);
    let namespace = listed
        .by_namespace
        .entry(object.namespace.as_deref().unwrap_or_default().to_owned())
        .or_default();
    namespace.objects.insert(index);
    match &object.platform {
        None => {
            listed.failing += i32::from(failing);
            listed.unknown += i32::from(unknown);
            namespace.failing += i32::from(failing);
            namespace.unknown += i32::from(unknown);
        }
        Some(mark) => {
            listed.platform += 1;
            listed.platform_fail += i32::from(object.status == Status::Fail);
            listed.platform_warn += i32::from(object.status == Status::Warn);
            listed.platform_unknown += i32::from(unknown);
            listed
                .platform_lists
                .insert(format!("{} {}", mark.list, mark.version));
            namespace.platform += 1;
            namespace.platform_failing += i32::from(failing);
            namespace.platform_unknown += i32::from(unknown);
        }
    }
}

pub fn sent_content_hash(sent: &ClusterReport, cluster_id: i64) -> Vec<u8> {
    let mut content = Sha256::new();
    content.update(cluster_id.to_be_bytes());
    content.update(serde_json::to_vec(sent).unwrap_or_default());
    content.finalize()[..16].to_vec()
}

/// `report` is what is stored: as sent, or with the results left to the nodes decided (`cross_layer`);
/// `content_hash` is `sent_content_hash` of the report as sent.
pub fn prepare_cluster(
    report: &ClusterReport,
    cluster_id: i64,
    content_hash: Vec<u8>,
) -> PreparedClusterReport {
    let cluster = cluster_id.to_be_bytes();
    let mut objects: Vec<ObjectKey> = Vec::new();
    let mut object_index: HashMap<ObjectKey, usize> = HashMap::new();
    let mut object_results = Vec::new();
    let mut check_results = Vec::with_capacity(report.results.len());
    let mut evaluated = Vec::with_capacity(report.results.len());
    let mut counts = [0i32; 6];
    let mut failing_objects = 0i32;
    let mut platform_objects = 0i32;
    let mut passes_over_platform_failures = 0i32;

    for result in &report.results {
        if result.status == Status::Pass
            && result.objects.iter().any(|object| {
                object.platform.is_some() && matches!(object.status, Status::Fail | Status::Warn)
            })
        {
            passes_over_platform_failures += 1;
        }
        counts[status_index(result.status)] += 1;
        evaluated.push(i64::try_from(result.evaluated).unwrap_or(i64::MAX));
        let mut members = Vec::with_capacity(result.objects.len());
        let mut listed = ListedCounts::default();
        for object in &result.objects {
            let key = ObjectKey {
                kind: object.kind.to_string(),
                namespace: object.namespace.as_deref().unwrap_or_default().to_owned(),
                name: object.name.to_string(),
            };
            let index = *object_index.entry(key.clone()).or_insert_with(|| {
                objects.push(key);
                objects.len() - 1
            });
            tally(&mut listed, object, index);
            if object.platform.is_some() {
                platform_objects += 1;
            } else if matches!(object.status, Status::Fail | Status::Warn) {
                failing_objects += 1;
            }
            let evidence = serde_json::to_value(&object.evidence).unwrap_or_default();
            let platform = object
                .platform
                .as_ref()
                .and_then(|mark| serde_json::to_value(mark).ok());
            // The object's result as the agent wrote it (serde writes fields in declaration order), in its
            // cluster: the same result in two clusters is two rows, as their objects are.
            let canonical = serde_json::to_vec(object).unwrap_or_default();
            let digest = digest_of([
                cluster.as_slice(),
                result.check.as_bytes(),
                canonical.as_slice(),
            ]);
            members.push(object_results.len());
            object_results.push(NewObjectResult {
                digest,
                object: index,
                check_id: result.check.clone(),
                status: object.status.as_str().to_owned(),
                evidence,
                detail: object.detail.as_ref().map(ToString::to_string),
                platform,
            });
        }
        // The list does not depend on the order the agent wrote its objects in.
        let mut member_digests: Vec<&[u8]> = members
            .iter()
            .map(|index| object_results[*index].digest.as_slice())
            .collect();
        member_digests.sort_unstable();
        let detail = result.detail.as_deref().unwrap_or_default();
        let digest = digest_of(
            [
                result.check.as_bytes(),
                result.status.as_str().as_bytes(),
                detail.as_bytes(),
                &[u8::from(result.detail.is_some())],
            ]
            .into_iter()
            .chain(member_digests),
        );
        check_results.push(NewCheckResult {
            digest,
            check_id: result.check.clone(),
            status: result.status.as_str().to_owned(),
            detail: result.detail.clone(),
            object_results: members,
            listed,
        });
    }

    let mut by_check: Vec<(&str, &[u8], i64)> = check_results
        .iter()
        .zip(&evaluated)
        .map(|(result, count)| (result.check_id.as_str(), result.digest.as_slice(), *count))
        .collect();
    by_check.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let counts_bytes: Vec<[u8; 8]> = by_check.iter().map(|(_, _, n)| n.to_be_bytes()).collect();
    let set_digest = digest_of(
        [
            report.benchmark.id.as_bytes(),
            report.benchmark.version.as_bytes(),
        ]
        .into_iter()
        .chain(
            by_check
                .iter()
                .zip(&counts_bytes)
                .flat_map(|((_, digest, _), count)| [*digest, count.as_slice()]),
        ),
    );

    PreparedClusterReport {
        objects,
        object_results,
        check_results,
        set: NewSet {
            digest: set_digest,
            benchmark_id: report.benchmark.id.clone(),
            benchmark_version: report.benchmark.version.clone(),
            evaluated,
            counts,
            failing_objects,
            platform_objects,
            passes_over_platform_failures,
        },
        content_hash,
        context: report.context.as_ref().map(|context| {
            let objects = serde_json::Value::Array(context.objects.clone());
            let canonical = serde_json::to_vec(&objects).unwrap_or_default();
            PreparedContext {
                digest: digest_of([canonical.as_slice()]),
                object_count: i32::try_from(context.objects.len()).unwrap_or(i32::MAX),
                objects,
            }
        }),
    }
}
