//! Where a cluster stands on its cluster-scope checks at a moment, with the policy score, for the pages.

use kubeward_benchmark::catalog::compare_ids;
use kubeward_benchmark::report::BenchmarkRef;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::catalogs::Catalogs;
use crate::domain::score::policy_score;
use crate::storage::overlays::{self, WaivedObject};
use crate::storage::policies::{self, CheckAttestation, NamespaceRow, PlatformBucketChange};

/// One cluster-scope check in the cluster's newest scan of its catalog.
#[derive(Debug, Clone)]
pub struct PolicyCheck {
    pub check_id: String,
    pub title: String,
    pub section: String,
    pub benchmark: BenchmarkRef,
    pub status: String,
    /// Why the check is what it is, when no object says it (or what the nodes decided).
    pub detail: Option<String>,
    pub evaluated: i64,
    pub failing: i64,
    pub unknown: i64,
    /// Platform-owned objects set apart; 0 when the cluster's platform bucket is off (they count above).
    pub platform: i64,
    /// Failing objects an exception in force waived (they still count as failing).
    pub waived: i64,
    /// The attestation answering for this check in this cluster at the moment.
    pub attestation: Option<CheckAttestation>,
    pub scanned_at: OffsetDateTime,
}

/// The counts of a check or a namespace as the platform bucket decides them: set apart while it is on, counted
/// like any other object once an admin turned it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucketed {
    pub failing: i64,
    pub unknown: i64,
    pub platform: i64,
}

impl Bucketed {
    pub fn new(
        bucket_on: bool,
        failing: i64,
        unknown: i64,
        platform_failing: i64,
        platform_unknown: i64,
        platform: i64,
    ) -> Self {
        if bucket_on {
            Bucketed {
                failing,
                unknown,
                platform,
            }
        } else {
            Bucketed {
                failing: failing + platform_failing,
                unknown: unknown + platform_unknown,
                platform: 0,
            }
        }
    }
}

/// A check's status with its platform-owned objects counted: the agent's status leaves them out, so with the
/// bucket off a passing check becomes as bad as its worst platform-owned failure.
pub fn bucketed_status(
    status: &str,
    bucket_on: bool,
    platform_fail: i64,
    platform_warn: i64,
) -> String {
    if bucket_on || status != "pass" {
        return status.to_owned();
    }
    if platform_fail > 0 {
        "fail".to_owned()
    } else if platform_warn > 0 {
        "warn".to_owned()
    } else {
        status.to_owned()
    }
}

#[derive(Debug, Clone, Default)]
pub struct PolicyStanding {
    pub checks: Vec<PolicyCheck>,
    pub namespaces: Vec<NamespaceLine>,
    /// Whether platform-owned objects were set apart at the moment, and the change that decided it.
    pub platform_bucket_on: bool,
    pub platform_bucket_change: Option<PlatformBucketChange>,
    /// The platform-owned lists that named objects, as `list version`.
    pub platform_lists: Vec<String>,
    /// Every failing object an exception waived at the moment.
    pub waived: Vec<WaivedObject>,
    /// Checks that passed and checks with a failing object that is not platform-owned.
    pub passed: i64,
    pub failed: i64,
    /// When the newest cluster scan read here finished; none when the cluster has sent none by then.
    pub scanned_at: Option<OffsetDateTime>,
}

impl PolicyStanding {
    pub fn score(&self) -> Option<f64> {
        policy_score(self.passed, self.failed)
    }
}

/// A namespace's objects in the newest scans, counted as the platform bucket decides.
#[derive(Debug, Clone)]
pub struct NamespaceLine {
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub objects: i64,
    pub counts: Bucketed,
    pub waived: i64,
}

pub async fn cluster(
    pool: &PgPool,
    catalogs: &Catalogs,
    cluster_id: i64,
    at: OffsetDateTime,
) -> Result<PolicyStanding, sqlx::Error> {
    let benchmarks = catalogs.policy_benchmarks();
    // The checks and the overlays read apart on two connections: PostgreSQL runs them side by side, and the
    // page waits for the slower instead of the sum.
    let checks_and_bucket = async {
        let mut conn = pool.acquire().await?;
        let rows = policies::checks(&mut conn, cluster_id, &benchmarks, at).await?;
        let change = policies::platform_bucket(&mut conn, cluster_id, at).await?;
        Ok::<_, sqlx::Error>((rows, change))
    };
    let overlays = async {
        let mut conn = pool.acquire().await?;
        let namespaces = policies::namespaces(&mut conn, cluster_id, &benchmarks, at).await?;
        let waived =
            overlays::waived_objects(&mut conn, at, &benchmarks, Some(cluster_id), None).await?;
        let attestations = policies::attestations(&mut conn, cluster_id, at).await?;
        Ok::<_, sqlx::Error>((namespaces, waived, attestations))
    };
    let ((rows, change), (namespaces, waived, attestations)) =
        tokio::try_join!(checks_and_bucket, overlays)?;
    if rows.is_empty() {
        // No cluster scan by then (a cluster of node agents only): nothing to count, waive or attest.
        return Ok(PolicyStanding {
            platform_bucket_on: change.as_ref().is_none_or(|change| change.enabled),
            platform_bucket_change: change,
            ..PolicyStanding::default()
        });
    }
    let bucket_on = change.as_ref().is_none_or(|change| change.enabled);
    let mut standing = PolicyStanding {
        namespaces: namespace_lines(namespaces, bucket_on, &waived),
        platform_bucket_on: bucket_on,
        platform_bucket_change: change,
        ..PolicyStanding::default()
    };
    let mut lists = std::collections::BTreeSet::new();
    for row in rows {
        lists.extend(row.platform_lists.iter().cloned());
        let status = bucketed_status(&row.status, bucket_on, row.platform_fail, row.platform_warn);
        let counts = Bucketed::new(
            bucket_on,
            row.failing,
            row.unknown,
            row.platform_fail + row.platform_warn,
            row.platform_unknown,
            row.platform,
        );
        match status.as_str() {
            "pass" => standing.passed += 1,
            "fail" | "warn" => standing.failed += 1,
            _ => {}
        }
        standing.scanned_at = standing.scanned_at.max(Some(row.scanned_at));
        let benchmark = BenchmarkRef {
            id: row.benchmark_id,
            version: row.benchmark_version,
        };
        let info = catalogs.describe(&benchmark, &row.check_id);
        standing.checks.push(PolicyCheck {
            title: info.map_or_else(
                || "(unknown check)".to_owned(),
                |info| info.title.to_owned(),
            ),
            section: info.map_or_else(String::new, |info| info.section.to_owned()),
            benchmark,
            waived: waived
                .iter()
                .filter(|waived| waived.check_id == row.check_id)
                .count() as i64,
            attestation: attestations
                .iter()
                .find(|attested| attested.check_id == row.check_id)
                .cloned(),
            check_id: row.check_id,
            status,
            detail: row.detail,
            evaluated: row.evaluated,
            failing: counts.failing,
            unknown: counts.unknown,
            platform: counts.platform,
            scanned_at: row.scanned_at,
        });
    }
    standing.platform_lists = lists.into_iter().collect();
    standing.waived = waived;
    standing.checks.sort_by(|a, b| {
        a.benchmark
            .id
            .cmp(&b.benchmark.id)
            .then_with(|| compare_ids(&a.check_id, &b.check_id))
    });
    Ok(standing)
}

fn namespace_lines(
    rows: Vec<NamespaceRow>,
    bucket_on: bool,
    waived: &[WaivedObject],
) -> Vec<NamespaceLine> {
    rows.into_iter()
        .map(|row| NamespaceLine {
            waived: waived
                .iter()
                .filter(|waived| waived.namespace == row.namespace)
                .count() as i64,
            counts: Bucketed::new(
                bucket_on,
                row.failing,
                row.unknown,
                row.platform_failing,
                row.platform_unknown,
                row.platform,
            ),
            objects: row.objects,
            namespace: row.namespace,
        })
        .collect()
}

/// Each cluster's policy standing at a moment, by cluster id: (checks passed, checks failed).
pub async fn fleet(
    pool: &PgPool,
    catalogs: &Catalogs,
    at: OffsetDateTime,
) -> Result<std::collections::HashMap<i64, (i64, i64)>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let rows = policies::fleet_counts(&mut conn, &catalogs.policy_benchmarks(), at).await?;
    Ok(rows
        .into_iter()
        .map(|(cluster, passed, failed)| (cluster, (passed, failed)))
        .collect())
}
