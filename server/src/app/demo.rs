//! `serve --demo`: enrolls a few demo clusters and fills them with months of generated daily scans through the
//! same ingest path as real reports, so that a newcomer looks at a history at once.

use kubeward_fleet::FleetSpec;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::app::governance::{
    self, AttestationInput, ExceptionInput, GovernanceError, Limits, ScopeInput,
};
use crate::app::ingest::{self, prepare::prepare};
use crate::catalogs::Catalogs;
use crate::domain::actor::Actor;
use crate::domain::cluster::{ClusterName, Labels};
use crate::domain::exception::Action;
use crate::storage::clusters;

/// The demo fleet: (cluster, labels, nodes, control-plane nodes).
const CLUSTERS: &[(&str, &[&str], usize, usize)] = &[
    ("demo-prod-eu", &["env=prod", "region=eu"], 8, 3),
    ("demo-prod-us", &["env=prod", "region=us"], 8, 3),
    ("demo-staging", &["env=staging", "region=eu"], 5, 1),
];
const DAYS: u32 = 90;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("demo data: {0}")]
    Invalid(String),
}

/// Fills the demo clusters that do not exist yet; returns how many scans were stored.
pub async fn fill(pool: &PgPool, catalogs: &Catalogs) -> Result<usize, DemoError> {
    let catalog = kubeward_benchmark::Catalog::builtin("cis-1.12")
        .map_err(|err| DemoError::Invalid(err.to_string()))?;
    let mut stored = 0;
    let known = crate::storage::nodes::KnownAttributeSets::default();
    for (seed, (name, labels, nodes, control_planes)) in CLUSTERS.iter().enumerate() {
        let name = ClusterName::parse(name).map_err(|err| DemoError::Invalid(err.to_string()))?;
        let labels = Labels::parse(labels.iter().copied())
            .map_err(|err| DemoError::Invalid(err.to_string()))?;
        let mut conn = pool.acquire().await?;
        let Some(cluster) = clusters::create(&mut conn, &name, &labels).await? else {
            tracing::info!(cluster.name = %name, "demo cluster {name} exists already; left as it is");
            continue;
        };
        drop(conn);
        let spec = FleetSpec {
            seed: seed as u64 + 1,
            nodes: *nodes,
            control_planes: *control_planes,
            days: DAYS,
            until: OffsetDateTime::now_utc(),
        };
        let fleet = spec.nodes(name.as_str());
        for day in 0..DAYS {
            for node in &fleet {
                let report = spec.report(&catalog, node, day);
                let catalog = catalogs
                    .for_report(&report)
                    .map_err(|err| DemoError::Invalid(err.to_string()))?;
                let prepared = prepare(&report, catalog, cluster.id);
                let mut tx = pool.begin().await?;
                match ingest::ingest(&mut tx, &known, cluster.id, &report, &prepared).await {
                    Ok(_) => tx.commit().await?,
                    Err(ingest::IngestError::Database(err)) => return Err(err.into()),
                    Err(err) => return Err(DemoError::Invalid(err.to_string())),
                }
                stored += 1;
            }
        }
        tracing::info!(cluster.name = %name, nodes = fleet.len(), days = DAYS, "filled demo cluster {name}");
    }
    if stored > 0 {
        govern(pool, catalogs).await?;
    }
    Ok(stored)
}

/// A demo person, named as such in the audit trail.
fn demo_person(id: &str, name: &str) -> Actor {
    Actor {
        id: format!("demo:{id}"),
        name: name.to_owned(),
        source: Some("demo data".to_owned()),
    }
}

/// What an auditor would find in a governed fleet: an approved exception for the check failing on most
/// production nodes, one waiting for a decision, and an attested manual check, all through the same
/// operations (and audit records) as real ones.
async fn govern(pool: &PgPool, catalogs: &Catalogs) -> Result<(), DemoError> {
    let most_failing = sqlx::query_scalar!(
        r#"SELECT f.check_id FROM findings f JOIN clusters c ON c.id = f.cluster_id
           WHERE c.name = 'demo-prod-eu' AND f.state = 'open'
           GROUP BY f.check_id ORDER BY count(*) DESC, f.check_id LIMIT 1"#
    )
    .fetch_optional(pool)
    .await?;
    let platform = demo_person("platform", "platform-team (demo)");
    let auditor = demo_person("auditor", "auditor (demo)");
    let last_day = |days: i64| {
        crate::domain::time::day_text(OffsetDateTime::now_utc().date() + time::Duration::days(days))
    };
    let limits = Limits::default();
    let invalid = |err: GovernanceError| DemoError::Invalid(err.to_string());
    if let Some(check) = most_failing {
        let accepted = ExceptionInput {
            check: check.clone(),
            group: None,
            scope: ScopeInput {
                cluster: Some("demo-prod-eu".to_owned()),
                ..ScopeInput::default()
            },
            justification: "The fix needs a maintenance window; it is planned for next quarter."
                .to_owned(),
            expires_on: last_day(60),
        };
        let id = governance::request_exception(pool, catalogs, limits, &platform, &accepted)
            .await
            .map_err(invalid)?;
        governance::decide_exception(
            pool,
            id,
            Action::Approve,
            &auditor,
            "Accepted until the window.",
        )
        .await
        .map_err(invalid)?;
        let waiting = ExceptionInput {
            scope: ScopeInput {
                cluster: Some("demo-staging".to_owned()),
                nodes: Some("demo-staging-worker-*".to_owned()),
                ..ScopeInput::default()
            },
            justification: "Staging workers are rebuilt weekly.".to_owned(),
            expires_on: last_day(30),
            ..accepted
        };
        governance::request_exception(pool, catalogs, limits, &platform, &waiting)
            .await
            .map_err(invalid)?;
    }
    let manual = catalogs
        .all_checks()
        .filter(|check| {
            // A manual check the agent has no test for: its result is `manual` on every node it applies to.
            check.assessment == kubeward_benchmark::catalog::Assessment::Manual
                && check.test.is_none()
        })
        .map(|check| check.id.clone())
        .min_by(|a, b| kubeward_benchmark::catalog::compare_ids(a, b));
    if let Some(check) = manual {
        let attestation = AttestationInput {
            check,
            scope: ScopeInput {
                cluster: Some("demo-prod-eu".to_owned()),
                ..ScopeInput::default()
            },
            verdict: "pass".to_owned(),
            statement: "Reviewed with the platform team; see the linked record.".to_owned(),
            evidence_url: Some("https://example.com/audits/demo-prod-eu".to_owned()),
            valid_from: None,
            valid_until: last_day(90),
        };
        governance::record_attestation(pool, catalogs, limits, &auditor, &attestation)
            .await
            .map_err(invalid)?;
    }
    Ok(())
}
