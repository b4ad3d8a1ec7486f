//! What the server benches share: their settings, the scratch database they fill, the node history of a
//! generated cluster, and the timing of requests. Each bench uses a part of it.
#![allow(
    dead_code,
    reason = "each bench target compiles this module and uses a part of it"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use kubeward_benchmark::Catalog;
use kubeward_fleet::FleetSpec;
use kubeward_server::app::ingest::{self, prepare::prepare};
use kubeward_server::catalogs::Catalogs;
use sqlx::PgPool;
use time::OffsetDateTime;

pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A numeric setting from the environment, or its default when unset or not a number.
pub fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The value at `fraction` of durations sorted in ascending order.
pub fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

/// p50, p95 and max of sorted durations, in milliseconds.
pub fn summary(times: &[Duration]) -> String {
    format!(
        "p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms ({} requests)",
        percentile(times, 0.5).as_secs_f64() * 1000.0,
        percentile(times, 0.95).as_secs_f64() * 1000.0,
        percentile(times, 1.0).as_secs_f64() * 1000.0,
        times.len()
    )
}

/// GETs each path in turn with a bearer token, as a client sees it (the whole body read); sorted times.
/// Any answer other than a success ends the bench: a fast error page would flatter the figures.
pub async fn time_requests(
    client: &reqwest::Client,
    token: &str,
    paths: &[String],
) -> BenchResult<Vec<Duration>> {
    let mut times = Vec::with_capacity(paths.len());
    for path in paths {
        let started = Instant::now();
        let response = client.get(path).bearer_auth(token).send().await?;
        let status = response.status();
        let _ = response.bytes().await?;
        times.push(started.elapsed());
        if !status.is_success() {
            return Err(format!("{path} answered {status}").into());
        }
    }
    times.sort();
    Ok(times)
}

/// The node attribute sets the fill has stored: a bench process fills one database.
static KNOWN_ATTRIBUTE_SETS: std::sync::LazyLock<
    kubeward_server::storage::nodes::KnownAttributeSets,
> = std::sync::LazyLock::new(Default::default);

/// One day of node scans of a generated cluster, each ingested in its own transaction through the real path.
pub async fn ingest_node_day(
    pool: &PgPool,
    catalogs: &Catalogs,
    catalog: &Catalog,
    spec: &FleetSpec,
    nodes: &[kubeward_fleet::SimulatedNode],
    cluster_id: i64,
    day: u32,
) -> BenchResult<usize> {
    for node in nodes {
        let report = spec.report(catalog, node, day);
        let prepared = prepare(&report, catalogs.for_report(&report)?, cluster_id);
        let mut tx = pool.begin().await?;
        ingest::ingest(
            &mut tx,
            &KNOWN_ATTRIBUTE_SETS,
            cluster_id,
            &report,
            &prepared,
        )
        .await?;
        tx.commit().await?;
    }
    Ok(nodes.len())
}

/// The generator of a cluster's nodes: `nodes` nodes (three of them control planes) over `days` days up to
/// `until`, seeded by the cluster's index so that every run generates the same fleet.
pub fn node_fleet(index: usize, nodes: usize, days: u32, until: OffsetDateTime) -> FleetSpec {
    FleetSpec {
        seed: index as u64,
        nodes,
        control_planes: 3.min(nodes),
        days,
        until,
    }
}

/// The catalog the generated node reports are judged by.
pub fn node_catalog() -> BenchResult<Arc<Catalog>> {
    Ok(Arc::new(Catalog::builtin("cis-1.12")?))
}

/// The scratch database a bench runs in: created empty, or copied from a kept fleet (`CREATE DATABASE …
/// TEMPLATE`), so that several builds can be measured on the same fleet without filling it again; dropped at
/// the end unless KUBEWARD_BENCH_KEEP is set.
pub struct ScratchDatabase {
    /// The server's URL without a database (the database given in DATABASE_URL, used for administration).
    pub admin_url: String,
    pub name: String,
    pub url: String,
}

impl ScratchDatabase {
    /// A new database named `<prefix>_<uuid>`, a copy of `template` when one is given.
    pub async fn create(
        admin_url: &str,
        prefix: &str,
        template: Option<&str>,
    ) -> BenchResult<Self> {
        let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
        let server = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(server, _)| server);
        let url = format!("{server}/{name}");
        let admin = PgPool::connect(admin_url).await?;
        let statement = match template {
            // Identifiers cannot be bound; both names are checked to be plain before they are spliced.
            Some(template) if plain_identifier(template) => {
                format!("CREATE DATABASE {name} TEMPLATE {template}")
            }
            Some(template) => return Err(format!("not a database name: {template:?}").into()),
            None => format!("CREATE DATABASE {name}"),
        };
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&admin)
            .await?;
        admin.close().await;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }

    /// A database a previous run kept, measured again as it is.
    pub fn existing(admin_url: &str, name: &str) -> BenchResult<Self> {
        if !plain_identifier(name) {
            return Err(format!("not a database name: {name:?}").into());
        }
        let server = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(server, _)| server);
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name: name.to_owned(),
            url: format!("{server}/{name}"),
        })
    }

    /// Drops the database, or says that it was kept.
    pub fn finish(&self, keep: bool) {
        if keep {
            eprintln!("kept the database {}", self.name);
            return;
        }
        let _ = std::process::Command::new("psql")
            .arg(&self.admin_url)
            .args([
                "-q",
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .status();
    }
}

fn plain_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
