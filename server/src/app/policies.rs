//! Where a cluster stands on its cluster-scope checks at a moment, with the policy score, for the pages.

use kubeward_benchmark::catalog::compare_ids;
use kubeward_benchmark::report::BenchmarkRef;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::catalogs::Catalogs;
use crate::domain::score::policy_score;
use crate::storage::policies::{self, NamespaceRow};

/// One cluster-scope check in the cluster's newest scan of its catalog.
#[derive(Debug, Clone)]
pub struct PolicyCheck {
    pub check_id: String,
    pub title: String,
    pub section: String,
    pub benchmark: BenchmarkRef,
    pub status: String,
    pub evaluated: i64,
    pub failing: i64,
    pub unknown: i64,
    pub platform: i64,
    pub scanned_at: OffsetDateTime,
}

#[derive(Debug, Clone, Default)]
pub struct PolicyStanding {
    pub checks: Vec<PolicyCheck>,
    pub namespaces: Vec<NamespaceRow>,
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

pub async fn cluster(
    pool: &PgPool,
    catalogs: &Catalogs,
    cluster_id: i64,
    at: OffsetDateTime,
) -> Result<PolicyStanding, sqlx::Error> {
    let benchmarks = catalogs.policy_benchmarks();
    let mut conn = pool.acquire().await?;
    let rows = policies::checks(&mut conn, cluster_id, &benchmarks, at).await?;
    let namespaces = policies::namespaces(&mut conn, cluster_id, &benchmarks, at).await?;
    drop(conn);
    let mut standing = PolicyStanding {
        namespaces,
        ..PolicyStanding::default()
    };
    for row in rows {
        match row.status.as_str() {
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
            check_id: row.check_id,
            status: row.status,
            evaluated: row.evaluated,
            failing: row.failing,
            unknown: row.unknown,
            platform: row.platform,
            scanned_at: row.scanned_at,
        });
    }
    standing.checks.sort_by(|a, b| {
        a.benchmark
            .id
            .cmp(&b.benchmark.id)
            .then_with(|| compare_ids(&a.check_id, &b.check_id))
    });
    Ok(standing)
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
