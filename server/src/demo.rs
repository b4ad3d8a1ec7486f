//! `serve --demo`: enrolls a few demo clusters and fills them with months of generated daily scans through the
//! same ingest path as real reports, so that a newcomer looks at a history at once.

use kubeward_benchmark::fleet::FleetSpec;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::catalogs::Catalogs;
use crate::domain::cluster::{ClusterName, Labels};
use crate::ingest::{self, prepare::prepare};
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
                match ingest::ingest(&mut tx, cluster.id, &report, &prepared).await {
                    Ok(_) => tx.commit().await?,
                    Err(ingest::IngestError::Database(err)) => return Err(err.into()),
                    Err(err) => return Err(DemoError::Invalid(err.to_string())),
                }
                stored += 1;
            }
        }
        tracing::info!(cluster.name = %name, nodes = fleet.len(), days = DAYS, "filled demo cluster {name}");
    }
    Ok(stored)
}
