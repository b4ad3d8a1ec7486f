//! Cluster reports on the server: ingest of a large cluster report, the bytes an unchanged cluster scan costs,
//! and the pages and API that follow objects, on a generated fleet with history.
//!
//! Run with `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p kubeward-server --bench cluster`.
//! It creates a scratch database and fills it in-process through the real ingest path with
//! KUBEWARD_BENCH_CLUSTERS (20) clusters × KUBEWARD_BENCH_WORKLOADS (2,000) workloads × KUBEWARD_BENCH_DAYS (90)
//! daily cluster scans, 5% of the workloads changing each day. Then, through the real server on a local
//! port: 30 cluster reports of KUBEWARD_BENCH_OBJECTS (10,000) listed objects each posted gzipped (5% of them
//! changed from one to the next), 200 unchanged cluster scans (bytes they add to the cluster tables), and 60
//! requests of each page (fleet, cluster, policy check, object, node) and 300 of each API kind. Targets (issue 14): ingest of a 10,000-object report
//! p95 ≤ 1 s, ≤ 1 KiB per unchanged cluster scan, pages p95 ≤ 150 ms, findings and events p95 ≤ 50 ms.
//!
//! Each cluster also has KUBEWARD_BENCH_NODES (50) nodes scanned daily, ingested before the day's cluster scan.
//!
//! KUBEWARD_BENCH_KEEP=1 keeps the database and prints its name; KUBEWARD_BENCH_FILL_ONLY=1 fills the fleet,
//! keeps it and measures nothing. KUBEWARD_BENCH_FLEET=<a kept fleet> then measures a copy of it
//! (`CREATE DATABASE … TEMPLATE`) without filling again, so that several builds can be compared on one fleet in
//! one sitting, and a fleet that takes an hour to fill is filled once.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use kubeward_benchmark::Status;
use kubeward_benchmark::cluster_report::{
    CLUSTER_SCHEMA_V1, ClusterCheckResult, ClusterInfo, ClusterReport, ObjectEvidence,
    ObjectResult, Source,
};
use kubeward_benchmark::policy::catalog::PolicyCatalog;
use kubeward_benchmark::report::{AgentInfo, BenchmarkRef};
use kubeward_server::app::ingest::cluster::ingest_cluster;
use kubeward_server::app::ingest::prepare_cluster::{prepare_cluster, sent_content_hash};
use kubeward_server::catalogs::Catalogs;
use kubeward_server::domain::cluster::{ClusterName, Labels};
use kubeward_server::domain::role::Role;
use kubeward_server::domain::token::NewAgentToken;
use kubeward_server::startup::Application;
use kubeward_server::storage::{api_tokens, clusters, tokens};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use time::OffsetDateTime;

mod common;

use common::{
    BenchResult, ScratchDatabase, ingest_node_day, node_catalog, node_fleet, percentile, setting,
    summary, time_requests,
};

/// The workload checks a generated workload may fail: the CIS 5.2 pod security checks.
fn workload_checks(catalog: &PolicyCatalog) -> Vec<String> {
    catalog
        .checks
        .iter()
        .filter(|check| check.section == "5.2")
        .map(|check| check.id.clone())
        .collect()
}

/// A generated cluster: each workload's failing checks, re-drawn for 5% of the workloads each day.
struct Workloads {
    rng: StdRng,
    checks: Vec<String>,
    /// Per workload, a bit per check: whether it fails it.
    failing: Vec<u32>,
    /// Each check a workload fails with this probability.
    share: f64,
}

impl Workloads {
    fn new(seed: u64, count: usize, checks: Vec<String>, share: f64) -> Self {
        let mut workloads = Workloads {
            rng: StdRng::seed_from_u64(seed),
            checks,
            failing: Vec::new(),
            share,
        };
        workloads.failing = (0..count).map(|_| workloads.draw()).collect();
        workloads
    }

    fn draw(&mut self) -> u32 {
        let mut bits = 0u32;
        for check in 0..self.checks.len().min(32) {
            if self.rng.random_bool(self.share) {
                bits |= 1 << check;
            }
        }
        bits
    }

    /// A day passes: 5% of the workloads change.
    fn change(&mut self) {
        let count = self.failing.len();
        for _ in 0..count / 20 {
            let index = self.rng.random_range(0..count);
            self.failing[index] = self.draw();
        }
    }

    fn listed(&self) -> usize {
        self.failing
            .iter()
            .map(|bits| bits.count_ones() as usize)
            .sum()
    }

    fn report(&self, catalog: &PolicyCatalog, finished_at: OffsetDateTime) -> ClusterReport {
        let results = catalog
            .checks
            .iter()
            .map(|check| {
                let position = self.checks.iter().position(|id| *id == check.id);
                let objects: Vec<ObjectResult> = match position {
                    None => Vec::new(),
                    Some(bit) => self
                        .failing
                        .iter()
                        .enumerate()
                        .filter(|(_, bits)| *bits & (1 << bit) != 0)
                        .map(|(index, _)| ObjectResult {
                            kind: "Deployment".into(),
                            namespace: Some(format!("team-{:02}", index % 40).into()),
                            name: format!("app-{index:05}").into(),
                            status: Status::Warn,
                            evidence: vec![ObjectEvidence {
                                subject: "container app".into(),
                                path: Some(
                                    "spec.template.spec.containers[0].securityContext".into(),
                                ),
                                observed: "unset".into(),
                                expected: "set as the check requires".into(),
                            }],
                            detail: None,
                            location: None,
                            platform: None,
                        })
                        .collect(),
                };
                ClusterCheckResult {
                    check: check.id.clone(),
                    status: if objects.is_empty() {
                        Status::Pass
                    } else {
                        Status::Warn
                    },
                    evaluated: self.failing.len() as u64,
                    objects,
                    detail: None,
                }
            })
            .collect();
        ClusterReport {
            schema: CLUSTER_SCHEMA_V1.to_owned(),
            scan_id: uuid::Uuid::now_v7(),
            agent: AgentInfo {
                version: "0.2.0".to_owned(),
            },
            source: Source::Api,
            cluster: ClusterInfo {
                kubernetes_version: Some("v1.33.2".to_owned()),
                distribution: Some("kubernetes".to_owned()),
                nodes: None,
            },
            benchmark: BenchmarkRef {
                id: catalog.benchmark.id.clone(),
                version: catalog.benchmark.version.clone(),
            },
            started_at: finished_at - time::Duration::seconds(20),
            finished_at,
            results,
            context: None,
        }
    }
}

/// Fills the fleet: each cluster's nodes scanned daily (as the api bench's fleet), and after them the day's
/// cluster scan, so that verdicts that wait for node facts find them as a real cluster would deliver them.
async fn fill(
    pool: &PgPool,
    clusters_count: usize,
    nodes: usize,
    workloads: usize,
    days: u32,
) -> BenchResult<(usize, usize)> {
    let until = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let node_catalog = node_catalog()?;
    let mut tasks = tokio::task::JoinSet::new();
    let (mut node_scans, mut cluster_scans) = (0usize, 0usize);
    for index in 0..clusters_count {
        let (pool, node_catalog) = (pool.clone(), node_catalog.clone());
        let catalogs = Catalogs::builtin()?;
        tasks.spawn(async move {
            let catalog = PolicyCatalog::builtin("cis-1.12")?;
            let checks: Vec<String> = catalog.checks.iter().map(|c| c.id.clone()).collect();
            let name = ClusterName::parse(&format!("c{index:03}"))?;
            let mut conn = pool.acquire().await?;
            let cluster = clusters::create(&mut conn, &name, &Labels::default())
                .await?
                .ok_or("cluster exists")?;
            drop(conn);
            let node_spec = node_fleet(index, nodes, days, until);
            let node_list = node_spec.nodes(name.as_str());
            // About one workload in six fails each pod security check.
            let mut generated =
                Workloads::new(index as u64, workloads, workload_checks(&catalog), 0.17);
            let mut node_count = 0usize;
            for day in 0..days {
                node_count += ingest_node_day(
                    &pool,
                    &catalogs,
                    &node_catalog,
                    &node_spec,
                    &node_list,
                    cluster.id,
                    day,
                )
                .await?;
                if day > 0 {
                    generated.change();
                }
                let at = until - time::Duration::days(i64::from(days - 1 - day));
                let report = generated.report(&catalog, at);
                let prepared =
                    prepare_cluster(&report, cluster.id, sent_content_hash(&report, cluster.id));
                let mut tx = pool.begin().await?;
                ingest_cluster(&mut tx, cluster.id, &report, &prepared, &checks).await?;
                tx.commit().await?;
            }
            Ok::<(usize, usize), Box<dyn std::error::Error + Send + Sync>>((
                node_count,
                days as usize,
            ))
        });
        // Three clusters at once: the machine has two cores and PostgreSQL shares them.
        if tasks.len() >= 3
            && let Some(done) = tasks.join_next().await
        {
            let (nodes_done, clusters_done) = done??;
            node_scans += nodes_done;
            cluster_scans += clusters_done;
        }
    }
    while let Some(done) = tasks.join_next().await {
        let (nodes_done, clusters_done) = done??;
        node_scans += nodes_done;
        cluster_scans += clusters_done;
    }
    Ok((node_scans, cluster_scans))
}

fn gzip(data: &[u8]) -> BenchResult<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data)?;
    Ok(encoder.finish()?)
}

async fn cluster_tables_bytes(pool: &PgPool) -> BenchResult<i64> {
    let bytes: i64 = sqlx::query_scalar(
        "SELECT sum(pg_total_relation_size(t))::bigint FROM unnest(ARRAY['cluster_scans', 'cluster_result_sets',
         'cluster_check_results', 'object_results', 'objects', 'findings', 'finding_events']::regclass[]) AS t",
    )
    .fetch_one(pool)
    .await?;
    Ok(bytes)
}

async fn post_report(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    report: &ClusterReport,
) -> BenchResult<(Duration, usize)> {
    let json = serde_json::to_vec(report)?;
    let body = gzip(&json)?;
    let started = Instant::now();
    let response = client
        .post(format!("{base}/api/v1/reports"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let answer = response.text().await?;
    let elapsed = started.elapsed();
    if status != 201 {
        return Err(format!("a cluster report was answered {status}: {answer}").into());
    }
    Ok((elapsed, json.len()))
}

async fn run(database_url: &str, copied_fleet: bool) -> BenchResult<bool> {
    let (clusters_count, nodes, workloads, days, objects) = (
        setting("KUBEWARD_BENCH_CLUSTERS", 20),
        setting("KUBEWARD_BENCH_NODES", 50),
        setting("KUBEWARD_BENCH_WORKLOADS", 2_000),
        setting("KUBEWARD_BENCH_DAYS", 90) as u32,
        setting("KUBEWARD_BENCH_OBJECTS", 10_000),
    );
    let pool = PgPoolOptions::new()
        .max_connections(12)
        .connect(database_url)
        .await?;
    // On a kept fleet from an older build this applies the newer migrations, backfills included: timed, as
    // a production upgrade would run them.
    let migrating = Instant::now();
    kubeward_server::MIGRATOR.run(&pool).await?;
    println!(
        "migrations brought up to date in {:.1} s",
        migrating.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let (node_scans, cluster_scans) = if copied_fleet {
        (0, 0)
    } else {
        fill(&pool, clusters_count, nodes, workloads, days).await?
    };
    let fill_time = started.elapsed();
    sqlx::query("VACUUM (ANALYZE)").execute(&pool).await?;
    let fleet: (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM objects), (SELECT count(*) FROM object_results),
                (SELECT count(*) FROM findings), (SELECT count(*) FROM finding_events),
                (SELECT count(*) FROM scans), (SELECT count(*) FROM cluster_scans)",
    )
    .fetch_one(&pool)
    .await?;
    let fleet_bytes = cluster_tables_bytes(&pool).await?;
    let database_bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&pool)
        .await?;
    if fill_only() {
        println!(
            "filled {clusters_count} clusters × ({nodes} nodes + {workloads} workloads) × {days} days: {node_scans} node scans and \
             {cluster_scans} cluster scans in {:.0} s; {} objects, {} findings; database {:.1} MiB",
            fill_time.as_secs_f64(),
            fleet.0,
            fleet.2,
            database_bytes as f64 / 1_048_576.0
        );
        return Ok(true);
    }

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let application = Application::with_listener(
        listener,
        pool.clone(),
        kubeward_server::startup::Services {
            catalogs: Arc::new(Catalogs::builtin()?),
            migrated: Arc::new(AtomicBool::new(true)),
            stale_after: Duration::from_secs(86_400),
            jwt: None,
            web: Arc::new(kubeward_server::web::WebConfig::local(
                actix_web::cookie::Key::generate(),
            )),
            limits: kubeward_server::app::governance::Limits::default(),
            edge: kubeward_server::edge::Settings::default(),
            tls: None,
            auth_failures_per_minute: u32::MAX,
        },
    )?;
    let base = format!("http://{}", application.address());
    tokio::spawn(application.run_until_stopped());
    let client = reqwest::Client::new();

    // A cluster whose reports list `objects` objects: its own agent token, 30 reports a day apart. Its name is
    // new in each run, so that a copied fleet can be measured again.
    let mut conn = pool.acquire().await?;
    let big_name = format!("big-{}", &uuid::Uuid::now_v7().simple().to_string()[24..]);
    let big = clusters::create(
        &mut conn,
        &ClusterName::parse(&big_name)?,
        &Labels::default(),
    )
    .await?
    .ok_or("cluster exists")?;
    let agent = NewAgentToken::generate();
    tokens::insert(&mut conn, uuid::Uuid::now_v7(), big.id, &agent.hash()).await?;
    let viewer = NewAgentToken::generate_api();
    api_tokens::insert(
        &mut conn,
        uuid::Uuid::now_v7(),
        "bench",
        Role::Viewer,
        &viewer.hash(),
        None,
    )
    .await?;
    drop(conn);
    let catalog = PolicyCatalog::builtin("cis-1.12")?;
    let checks = workload_checks(&catalog);
    // Listed objects = workloads × checks × share: choose the workloads that give `objects`.
    let share = 0.5;
    let big_workloads = ((objects as f64) / (checks.len() as f64 * share)).round() as usize;
    let mut generated = Workloads::new(7, big_workloads, checks, share);
    let first = OffsetDateTime::now_utc() - time::Duration::days(40);
    let mut ingest_times = Vec::new();
    let mut listed = Vec::new();
    let mut body_bytes = 0;
    for day in 0..30 {
        if day > 0 {
            generated.change();
        }
        let report = generated.report(&catalog, first + time::Duration::days(day));
        listed.push(generated.listed());
        let (elapsed, bytes) = post_report(&client, &base, agent.reveal(), &report).await?;
        body_bytes = bytes;
        ingest_times.push(elapsed);
    }
    ingest_times.sort();

    // Unchanged scans: the same content under new scan ids, an hour apart.
    let unchanged = generated.report(&catalog, first + time::Duration::days(31));
    post_report(&client, &base, agent.reveal(), &unchanged).await?;
    sqlx::query("VACUUM (ANALYZE)").execute(&pool).await?;
    let before = cluster_tables_bytes(&pool).await?;
    let mut unchanged_times = Vec::new();
    let repeats = 200;
    for hour in 1..=repeats {
        let mut again = unchanged.clone();
        again.scan_id = uuid::Uuid::now_v7();
        again.finished_at += time::Duration::hours(hour);
        again.started_at += time::Duration::hours(hour);
        let (elapsed, _) = post_report(&client, &base, agent.reveal(), &again).await?;
        unchanged_times.push(elapsed);
    }
    unchanged_times.sort();
    sqlx::query("VACUUM (ANALYZE)").execute(&pool).await?;
    let after = cluster_tables_bytes(&pool).await?;
    let per_unchanged = (after - before) as f64 / f64::from(repeats as u32);

    // Pages and API on the fleet, today and on a past day (30 days ago, or half the history when shorter),
    // on objects that existed by then.
    let past_moment =
        OffsetDateTime::now_utc() - time::Duration::days(i64::from((days / 2).clamp(1, 30)));
    let sample: Vec<(String, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT c.name, o.kind, o.namespace, o.name,
                (SELECT n.name FROM nodes n WHERE n.cluster_id = c.id ORDER BY n.id
                 OFFSET o.id % greatest(1, (SELECT count(*) FROM nodes m WHERE m.cluster_id = c.id)) LIMIT 1)
         FROM objects o JOIN clusters c ON c.id = o.cluster_id
         WHERE c.name NOT LIKE 'big-%' AND o.first_seen <= $1 ORDER BY random() LIMIT 60",
    )
    .bind(past_moment - time::Duration::days(1))
    .fetch_all(&pool)
    .await?;
    if sample.is_empty() {
        return Err("the generated fleet has no object old enough to sample".into());
    }
    let past = {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        past_moment.date().format(&format)?
    };
    let mut page_paths: Vec<(&str, Vec<String>)> = vec![
        ("fleet page", Vec::new()),
        ("cluster page (with its policies)", Vec::new()),
        ("policy check page", Vec::new()),
        ("object page", Vec::new()),
        ("node page", Vec::new()),
    ];
    let check_ids = workload_checks(&catalog);
    for (index, (cluster, kind, namespace, name, node)) in sample.iter().enumerate() {
        let at = if index % 2 == 0 {
            String::new()
        } else {
            format!("?at={past}")
        };
        page_paths[0].1.push(format!("{base}/{at}"));
        page_paths[1]
            .1
            .push(format!("{base}/clusters/{cluster}{at}"));
        page_paths[2].1.push(format!(
            "{base}/checks/{}{at}",
            check_ids[index % check_ids.len()]
        ));
        page_paths[3].1.push(format!(
            "{base}/clusters/{cluster}/objects/{kind}/{namespace}/{name}{at}"
        ));
        if let Some(node) = node {
            page_paths[4]
                .1
                .push(format!("{base}/clusters/{cluster}/nodes/{node}{at}"));
        }
    }
    let mut rng = StdRng::seed_from_u64(42);
    let api_paths: Vec<String> = (0..300)
        .map(|i| {
            let (cluster, kind, namespace, name, _) = &sample[rng.random_range(0..sample.len())];
            match i % 4 {
                0 => format!("{base}/api/v1/findings?cluster={cluster}&kind={kind}"),
                1 => format!(
                    "{base}/api/v1/findings?cluster={cluster}&namespace={namespace}&state=open"
                ),
                2 => format!("{base}/api/v1/findings?cluster={cluster}&object={name}&at={past}"),
                _ => format!(
                    "{base}/api/v1/events?limit=100&cursor={}",
                    rng.random_range(0..fleet.3.max(1))
                ),
            }
        })
        .collect();
    let mut pages = Vec::new();
    for (name, paths) in page_paths.iter().filter(|(_, paths)| !paths.is_empty()) {
        time_requests(&client, viewer.reveal(), &paths[..3]).await?;
        pages.push((*name, time_requests(&client, viewer.reveal(), paths).await?));
    }
    time_requests(&client, viewer.reveal(), &api_paths[..20]).await?;
    let findings_paths: Vec<String> = api_paths
        .iter()
        .filter(|path| path.contains("/findings"))
        .cloned()
        .collect();
    let events_paths: Vec<String> = api_paths
        .iter()
        .filter(|path| path.contains("/events"))
        .cloned()
        .collect();
    let findings = time_requests(&client, viewer.reveal(), &findings_paths).await?;
    let events = time_requests(&client, viewer.reveal(), &events_paths).await?;

    println!(
        "fleet: {clusters_count} clusters × ({nodes} nodes + {workloads} workloads) × {days} days: {} node scans and {} cluster scans \
         ({node_scans} and {cluster_scans} ingested by this run in {:.0} s); {} objects, {} object results, {} findings, {} events; \
         cluster tables {:.1} MiB, database {:.1} MiB",
        fleet.4,
        fleet.5,
        fill_time.as_secs_f64(),
        fleet.0,
        fleet.1,
        fleet.2,
        fleet.3,
        fleet_bytes as f64 / 1_048_576.0,
        database_bytes as f64 / 1_048_576.0
    );
    let mean_listed = listed.iter().sum::<usize>() / listed.len().max(1);
    println!(
        "ingest of a cluster report of {mean_listed} listed objects ({} workloads, {:.1} MiB of JSON, gzipped), 5% changed from the one before: {}",
        big_workloads,
        body_bytes as f64 / 1_048_576.0,
        summary(&ingest_times)
    );
    println!(
        "unchanged cluster scan: {:.0} bytes each over {repeats} (cluster tables {} → {} bytes); ingest {}",
        per_unchanged,
        before,
        after,
        summary(&unchanged_times)
    );
    let mut within =
        percentile(&ingest_times, 0.95) <= Duration::from_secs(1) && per_unchanged <= 1024.0;
    for (name, times) in &pages {
        println!(
            "{name} (half today, half on the past day): {}",
            summary(times)
        );
        within &= percentile(times, 0.95) <= Duration::from_millis(150);
    }
    for (name, times) in [
        (
            "findings of objects (kind, namespace, object, at=)",
            &findings,
        ),
        ("events feed (100 per page)", &events),
    ] {
        println!("{name}: {}", summary(times));
        within &= percentile(times, 0.95) <= Duration::from_millis(50);
    }
    // Each kind of findings request alone, to show which one is slow if one is.
    for (kind, name) in [
        "one kind",
        "one namespace, open",
        "one object, on the past day",
    ]
    .iter()
    .enumerate()
    {
        let paths: Vec<String> = api_paths.iter().skip(kind).step_by(4).cloned().collect();
        let times = time_requests(&client, viewer.reveal(), &paths).await?;
        println!("  findings, {name}: {}", summary(&times));
    }
    println!("within the targets: {within}");
    Ok(true)
}

/// KUBEWARD_BENCH_FILL_ONLY=1: fill the fleet and keep it for KUBEWARD_BENCH_FLEET, measuring nothing.
fn fill_only() -> bool {
    std::env::var_os("KUBEWARD_BENCH_FILL_ONLY").is_some()
}

fn main() -> std::process::ExitCode {
    let Ok(base) = std::env::var("DATABASE_URL") else {
        eprintln!("set DATABASE_URL to a PostgreSQL server (a scratch database is created on it)");
        return std::process::ExitCode::from(2);
    };
    // KUBEWARD_BENCH_FLEET=<kept database>: measure a copy of a fleet a run kept, instead of filling one.
    let fleet = std::env::var("KUBEWARD_BENCH_FLEET").ok();
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| err.to_string())
        .and_then(|runtime| {
            runtime.block_on(async {
                let database =
                    ScratchDatabase::create(&base, "kubeward_clusterbench", fleet.as_deref())
                        .await
                        .map_err(|err| err.to_string())?;
                let outcome = run(&database.url, fleet.is_some()).await;
                database.finish(std::env::var_os("KUBEWARD_BENCH_KEEP").is_some() || fill_only());
                outcome.map_err(|err| err.to_string())
            })
        });
    match outcome {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(err) => {
            eprintln!("cluster bench: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
