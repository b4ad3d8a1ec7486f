//! The standing read model: where the fleet, a cluster or a node stood at a moment, with the exceptions and
//! attestations in force then laid over the counts (a waived failure stays a failure in the score and is
//! counted apart; an attested manual check is counted apart), and each cluster's daily score series. The
//! pages and the API's `GET /api/v1/standing` read it here, so they cannot tell two stories.

use std::collections::{BTreeMap, HashMap};

use sqlx::PgPool;
use time::{Date, OffsetDateTime};

use crate::catalogs::Catalogs;
use crate::domain::score::Counts;
use crate::storage::overlays::{self, Attested, Waived, Within};
use crate::storage::standing::{self, ClusterStanding, NodeStanding};

/// The moment a standing is read at: now, or the last instant of a past day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    pub at: OffsetDateTime,
    /// Now reads each node's newest scan from its row instead of looking it up by day.
    pub now: bool,
}

impl Moment {
    pub fn now() -> Self {
        Moment {
            at: OffsetDateTime::now_utc(),
            now: true,
        }
    }

    /// A past moment (or a future one, which reads as now would, minus what has not happened yet).
    pub fn at(at: OffsetDateTime) -> Self {
        Moment { at, now: false }
    }

    pub fn day(&self) -> Date {
        self.at.date()
    }
}

/// What exceptions and attestations laid over the results at a moment.
#[derive(Debug, Default)]
pub struct Overlays {
    pub waived: Vec<Waived>,
    pub attested: Vec<Attested>,
}

impl Overlays {
    /// Both overlays at `moment`, read side by side on two connections: each is one query that PostgreSQL
    /// runs on one core.
    pub async fn read(pool: &PgPool, moment: Moment, within: Within) -> Result<Self, sqlx::Error> {
        let waived = async {
            let mut conn = pool.acquire().await?;
            overlays::waived(&mut conn, moment.at, moment.now, within).await
        };
        let attested = async {
            let mut conn = pool.acquire().await?;
            overlays::attested(&mut conn, moment.at, moment.now, within).await
        };
        let (waived, attested) = tokio::try_join!(waived, attested)?;
        Ok(Overlays { waived, attested })
    }

    /// Adds to `counts` what falls where `keep(cluster id, node id, check id)` says.
    pub fn count_into(&self, counts: &mut Counts, keep: impl Fn(i64, i64, &str) -> bool) {
        for waived in &self.waived {
            if keep(waived.cluster_id, waived.node_id, &waived.check_id) {
                counts.waive(&waived.status);
            }
        }
        for attested in &self.attested {
            if keep(attested.cluster_id, attested.node_id, &attested.check_id) {
                counts.attest(&attested.verdict);
            }
        }
    }
}

/// Every cluster (or the one named) at `moment`, overlays counted in, in name order.
pub async fn clusters(
    pool: &PgPool,
    moment: Moment,
    stale_after: std::time::Duration,
    only: Option<&str>,
) -> Result<Vec<ClusterStanding>, sqlx::Error> {
    let read_clusters = async {
        let mut conn = pool.acquire().await?;
        standing::clusters(
            &mut conn,
            moment.day(),
            moment.at - stale_after,
            only,
            moment.now,
        )
        .await
    };
    let (mut clusters, overlays) = tokio::try_join!(
        read_clusters,
        Overlays::read(pool, moment, Within::default())
    )?;
    for cluster in &mut clusters {
        overlays.count_into(&mut cluster.counts, |cluster_id, _, _| {
            cluster_id == cluster.id
        });
    }
    Ok(clusters)
}

/// One cluster at a moment, its nodes and its sections, overlays counted into each.
#[derive(Debug)]
pub struct ClusterDetail {
    pub cluster: ClusterStanding,
    pub nodes: Vec<NodeStanding>,
    /// Per benchmark section, over the nodes' last scans.
    pub sections: BTreeMap<String, Counts>,
    /// Per benchmark that judged the nodes' last scans: like is compared with like.
    pub benchmarks: Vec<BenchmarkStanding>,
}

/// The nodes one benchmark judged, and their counts (overlays in).
#[derive(Debug, Clone)]
pub struct BenchmarkStanding {
    pub benchmark: kubeward_benchmark::report::BenchmarkRef,
    pub nodes: usize,
    pub counts: Counts,
}

/// The nodes' counts per benchmark, the most used first.
pub fn by_benchmark(nodes: &[NodeStanding]) -> Vec<BenchmarkStanding> {
    let mut groups: Vec<BenchmarkStanding> = Vec::new();
    for node in nodes {
        match groups
            .iter_mut()
            .find(|group| group.benchmark == node.benchmark)
        {
            Some(group) => {
                group.nodes += 1;
                group.counts.add(&node.counts);
            }
            None => groups.push(BenchmarkStanding {
                benchmark: node.benchmark.clone(),
                nodes: 1,
                counts: node.counts,
            }),
        }
    }
    groups.sort_by(|a, b| {
        b.nodes
            .cmp(&a.nodes)
            .then(a.benchmark.id.cmp(&b.benchmark.id))
    });
    groups
}

/// The named cluster at `moment`; `None` when it was not enrolled then.
pub async fn cluster(
    pool: &PgPool,
    catalogs: &Catalogs,
    moment: Moment,
    stale_after: std::time::Duration,
    name: &str,
) -> Result<Option<ClusterDetail>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let Some(mut cluster) = standing::clusters(
        &mut conn,
        moment.day(),
        moment.at - stale_after,
        Some(name),
        moment.now,
    )
    .await?
    .pop() else {
        return Ok(None);
    };
    let mut nodes = standing::nodes(&mut conn, cluster.id, moment.day()).await?;
    drop(conn);
    let within = Within {
        cluster_id: Some(cluster.id),
        node_id: None,
    };
    let overlays = Overlays::read(pool, moment, within).await?;
    overlays.count_into(&mut cluster.counts, |_, _, _| true);
    for node in &mut nodes {
        overlays.count_into(&mut node.counts, |_, node_id, _| node_id == node.id);
    }
    let mut sections: BTreeMap<String, Counts> = BTreeMap::new();
    for node in &nodes {
        for (section, counts) in section_counts(&node.section_counts) {
            sections.entry(section).or_default().add(&counts);
        }
    }
    for (section, counts) in &mut sections {
        overlays.count_into(counts, |_, _, check| {
            catalogs
                .find_check(check)
                .map(|found| found.section.as_str())
                == Some(section.as_str())
        });
    }
    let benchmarks = by_benchmark(&nodes);
    Ok(Some(ClusterDetail {
        cluster,
        nodes,
        sections,
        benchmarks,
    }))
}

/// A node's per-section counts as its result set keeps them.
fn section_counts(value: &serde_json::Value) -> BTreeMap<String, Counts> {
    let mut sections = BTreeMap::new();
    if let Some(object) = value.as_object() {
        for (section, counts) in object {
            let get = |key: &str| counts[key].as_i64().unwrap_or(0);
            sections.insert(
                section.clone(),
                Counts {
                    pass: get("pass"),
                    fail: get("fail"),
                    warn: get("warn"),
                    manual: get("manual"),
                    not_applicable: get("not_applicable"),
                    error: get("error"),
                    automated_pass: get("automated_pass"),
                    // Sections written before the per-set counts carry no automated passes.
                    unscored_nodes: i64::from(counts.get("automated_pass").is_none()),
                    ..Counts::default()
                },
            );
        }
    }
    sections
}

/// A node and its cluster as they stood at `moment`; `None` when either was unknown then.
pub async fn node(
    conn: &mut sqlx::PgConnection,
    moment: Moment,
    stale_after: std::time::Duration,
    cluster: &str,
    node: &str,
) -> Result<Option<(ClusterStanding, NodeStanding)>, sqlx::Error> {
    let Some(standing) = standing::clusters(
        &mut *conn,
        moment.day(),
        moment.at - stale_after,
        Some(cluster),
        moment.now,
    )
    .await?
    .pop() else {
        return Ok(None);
    };
    let found = standing::nodes(conn, standing.id, moment.day())
        .await?
        .into_iter()
        .find(|candidate| candidate.name == node);
    Ok(found.map(|found| (standing, found)))
}

/// Each cluster's (or one cluster's) daily scores from `first_day` to `last_day`, one slot per day, `None`
/// where no node reported or the day has no score (see `domain::score`).
pub async fn daily_series(
    pool: &PgPool,
    first_day: Date,
    last_day: Date,
    only: Option<i64>,
) -> Result<HashMap<i64, Vec<Option<f64>>>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let daily = standing::daily_scores(&mut conn, first_day, last_day, only).await?;
    let days = usize::try_from((last_day - first_day).whole_days() + 1).unwrap_or(0);
    let mut series: HashMap<i64, Vec<Option<f64>>> = HashMap::new();
    for point in &daily {
        let values = series
            .entry(point.cluster_id)
            .or_insert_with(|| vec![None; days]);
        let slot = usize::try_from((point.day - first_day).whole_days()).ok();
        if let Some(value) = slot.and_then(|slot| values.get_mut(slot)) {
            *value = point.counts.score();
        }
    }
    Ok(series)
}
