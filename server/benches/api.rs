//! Read latency on a large generated fleet: the API's findings and event feed, and the report pages.
//!
//! Run with `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p kubeward-server --bench api`.
//! It creates a scratch database, fills it in-process through the real ingest path with a fleet of
//! KUBEWARD_BENCH_CLUSTERS (200) clusters × KUBEWARD_BENCH_NODES (50) nodes × KUBEWARD_BENCH_DAYS (90) days of
//! daily scans from the fleet generator, serves it with the real server on a local port, and times 300
//! requests of each API kind and 60 of each page from a client on the same machine. Targets: p95 ≤ 50 ms
//! for findings and events, ≤ 150 ms for the fleet, cluster and node pages.
//!
//! KUBEWARD_BENCH_KEEP=1 keeps the filled database and prints its name; KUBEWARD_BENCH_DATABASE=<name> then
//! measures that database again without filling it.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use kubeward_server::catalogs::Catalogs;
use kubeward_server::domain::cluster::{ClusterName, Labels};
use kubeward_server::domain::role::Role;
use kubeward_server::domain::token::NewAgentToken;
use kubeward_server::startup::Application;
use kubeward_server::storage::{api_tokens, clusters};
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use time::OffsetDateTime;

mod common;

use common::{
    BenchResult, ScratchDatabase, ingest_node_day, node_catalog, node_fleet, percentile, setting,
    time_requests,
};

async fn fill(pool: &PgPool, clusters_count: usize, nodes: usize, days: u32) -> BenchResult<usize> {
    let catalog = node_catalog()?;
    let until = OffsetDateTime::now_utc();
    let mut stored = 0usize;
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..clusters_count {
        let (pool, catalog) = (pool.clone(), catalog.clone());
        let catalogs = Catalogs::builtin()?;
        tasks.spawn(async move {
            let name = ClusterName::parse(&format!("c{index:03}"))?;
            let mut conn = pool.acquire().await?;
            let cluster = clusters::create(&mut conn, &name, &Labels::default())
                .await?
                .ok_or("cluster exists")?;
            drop(conn);
            let spec = node_fleet(index, nodes, days, until);
            let fleet = spec.nodes(name.as_str());
            let mut count = 0usize;
            for day in 0..days {
                count +=
                    ingest_node_day(&pool, &catalogs, &catalog, &spec, &fleet, cluster.id, day)
                        .await?;
            }
            Ok::<usize, Box<dyn std::error::Error + Send + Sync>>(count)
        });
        // A few clusters at once: the machine has two cores and PostgreSQL shares them.
        if tasks.len() >= 4
            && let Some(done) = tasks.join_next().await
        {
            stored += done??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        stored += done??;
    }
    Ok(stored)
}

async fn run(database_url: &str, reuse: bool) -> BenchResult<bool> {
    let (clusters_count, nodes, days) = (
        setting("KUBEWARD_BENCH_CLUSTERS", 200),
        setting("KUBEWARD_BENCH_NODES", 50),
        setting("KUBEWARD_BENCH_DAYS", 90) as u32,
    );
    let pool = PgPoolOptions::new()
        .max_connections(12)
        .connect(database_url)
        .await?;
    kubeward_server::MIGRATOR.run(&pool).await?;
    let catalogs = Arc::new(Catalogs::builtin()?);
    let started = Instant::now();
    let stored = if reuse {
        0
    } else {
        fill(&pool, clusters_count, nodes, days).await?
    };
    let fill_time = started.elapsed();
    sqlx::query("VACUUM (ANALYZE)").execute(&pool).await?;
    let counts: (i64, i64, i64) = sqlx::query_as("SELECT (SELECT count(*) FROM findings), (SELECT count(*) FROM finding_events), (SELECT count(*) FROM findings WHERE state = 'open')")
        .fetch_one(&pool)
        .await?;

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let application = Application::with_listener(
        listener,
        pool.clone(),
        kubeward_server::startup::Services {
            catalogs,
            migrated: Arc::new(AtomicBool::new(true)),
            stale_after: Duration::from_secs(86_400),
            jwt: None,
            web: Arc::new(kubeward_server::web::WebConfig::local(
                actix_web::cookie::Key::generate(),
            )),
            limits: kubeward_server::app::governance::Limits::default(),
            edge: kubeward_server::edge::Settings::default(),
            tls: None,
            // Tests and benchmarks send many refused requests from one address on purpose.
            auth_failures_per_minute: u32::MAX,
        },
    )?;
    let base = format!("http://{}", application.address());
    tokio::spawn(application.run_until_stopped());
    let token = NewAgentToken::generate_api();
    let mut conn = pool.acquire().await?;
    api_tokens::insert(
        &mut conn,
        uuid::Uuid::now_v7(),
        "bench",
        Role::Viewer,
        &token.hash(),
        None,
    )
    .await?;
    drop(conn);
    let client = reqwest::Client::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let max_finding = counts.0.max(1);
    let max_event = counts.1.max(1);
    let cluster =
        |rng: &mut rand::rngs::StdRng| format!("c{:03}", rng.random_range(0..clusters_count));
    let findings_paths: Vec<String> = (0..300)
        .map(|i| match i % 5 {
            0 => format!("{base}/api/v1/findings"),
            1 => format!(
                "{base}/api/v1/findings?state=open&cursor={}",
                rng.random_range(0..max_finding)
            ),
            2 => format!("{base}/api/v1/findings?cluster={}", cluster(&mut rng)),
            3 => format!(
                "{base}/api/v1/findings?cluster={}&state=open&section=1.2",
                cluster(&mut rng)
            ),
            _ => format!(
                "{base}/api/v1/findings/{}",
                rng.random_range(1..=max_finding)
            ),
        })
        .collect();
    let events_paths: Vec<String> = (0..300)
        .map(|_| {
            format!(
                "{base}/api/v1/events?limit=100&cursor={}",
                rng.random_range(0..max_event)
            )
        })
        .collect();
    // Warm the caches the way a running server has them warm.
    time_requests(&client, token.reveal(), &findings_paths[..20]).await?;
    let findings = time_requests(&client, token.reveal(), &findings_paths).await?;
    let events = time_requests(&client, token.reveal(), &events_paths).await?;
    // Each kind of findings request alone, to show which one is slow if one is.
    let kinds = [
        "first page",
        "open, from a random cursor",
        "one cluster",
        "one cluster, open, section 1.2",
        "one finding",
    ];
    let mut by_kind = Vec::new();
    for (kind, name) in kinds.iter().enumerate() {
        let paths: Vec<String> = findings_paths
            .iter()
            .skip(kind)
            .step_by(5)
            .cloned()
            .collect();
        by_kind.push((*name, time_requests(&client, token.reveal(), &paths).await?));
    }

    // The pages, today and as of a past day, on random clusters and nodes.
    let sample: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.name, n.name FROM nodes n JOIN clusters c ON c.id = n.cluster_id ORDER BY random() LIMIT 60",
    )
    .fetch_all(&pool)
    .await?;
    let past = {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        (OffsetDateTime::now_utc() - time::Duration::days(30))
            .date()
            .format(&format)?
    };
    let mut page_paths: Vec<(&str, Vec<String>)> = vec![
        ("fleet page", Vec::new()),
        ("cluster page", Vec::new()),
        ("node page", Vec::new()),
    ];
    for (index, (cluster, node)) in sample.iter().enumerate() {
        // Every other request looks at the past.
        let at = if index % 2 == 0 {
            String::new()
        } else {
            format!("?at={past}")
        };
        page_paths[0].1.push(format!("{base}/{at}"));
        page_paths[1]
            .1
            .push(format!("{base}/clusters/{cluster}{at}"));
        page_paths[2]
            .1
            .push(format!("{base}/clusters/{cluster}/nodes/{node}{at}"));
    }
    let mut pages = Vec::new();
    for (name, paths) in &page_paths {
        time_requests(&client, token.reveal(), &paths[..3]).await?;
        pages.push((*name, time_requests(&client, token.reveal(), paths).await?));
    }

    // The same pages again once exceptions and attestations are in force: the overlays are read at request
    // time, so their cost shows here, beside the baseline of the same run.
    let governed = govern(&pool, clusters_count).await?;
    let mut governed_pages = Vec::new();
    for (name, paths) in &page_paths {
        time_requests(&client, token.reveal(), &paths[..3]).await?;
        governed_pages.push((*name, time_requests(&client, token.reveal(), paths).await?));
    }
    let governed_findings = time_requests(&client, token.reveal(), &findings_paths).await?;

    println!(
        "fleet: {clusters_count} clusters × {nodes} nodes × {days} days = {} scans{}; {} findings ({} open), {} events",
        if reuse {
            "(reused)".to_owned()
        } else {
            stored.to_string()
        },
        if reuse {
            String::new()
        } else {
            format!(" ingested in {:.0} s", fill_time.as_secs_f64())
        },
        counts.0,
        counts.2,
        counts.1
    );
    for (name, times) in [
        ("findings (lists, filters, cursors, single)", &findings),
        ("events feed (100 per page)", &events),
    ] {
        println!(
            "{name}: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} requests)",
            percentile(times, 0.5).as_secs_f64() * 1e3,
            percentile(times, 0.95).as_secs_f64() * 1e3,
            percentile(times, 0.99).as_secs_f64() * 1e3,
            times.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            times.len()
        );
    }
    for (name, times) in &by_kind {
        println!(
            "  findings, {name}: p50 {:.1} ms, p95 {:.1} ms ({} requests)",
            percentile(times, 0.5).as_secs_f64() * 1e3,
            percentile(times, 0.95).as_secs_f64() * 1e3,
            times.len()
        );
    }
    let api_met = percentile(&findings, 0.95) <= Duration::from_millis(50)
        && percentile(&events, 0.95) <= Duration::from_millis(50);
    println!(
        "target p95 <= 50 ms for findings and events: {}",
        if api_met { "met" } else { "MISSED" }
    );
    for (name, times) in &pages {
        println!(
            "{name} (half today, half as of {past}): p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} requests)",
            percentile(times, 0.5).as_secs_f64() * 1e3,
            percentile(times, 0.95).as_secs_f64() * 1e3,
            percentile(times, 0.99).as_secs_f64() * 1e3,
            times.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            times.len()
        );
    }
    println!("{governed}");
    for (name, times) in governed_pages
        .iter()
        .chain([&("findings (as above)", governed_findings.clone())])
    {
        println!(
            "  governed {name}: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms ({} requests)",
            percentile(times, 0.5).as_secs_f64() * 1e3,
            percentile(times, 0.95).as_secs_f64() * 1e3,
            percentile(times, 0.99).as_secs_f64() * 1e3,
            times.len()
        );
    }
    let pages_met = pages
        .iter()
        .chain(&governed_pages)
        .all(|(_, times)| percentile(times, 0.95) <= Duration::from_millis(150));
    println!(
        "target p95 <= 150 ms for the fleet, cluster and node pages: {}",
        if pages_met { "met" } else { "MISSED" }
    );
    let met = api_met && pages_met;
    pool.close().await;
    Ok(met)
}

/// Exceptions and attestations as a large organisation would have them: 100 approved exceptions on the
/// checks failing most (40 fleet-wide for a node pattern, 60 for one cluster) and 50 attestations of manual
/// checks, all approved 40 days ago so that views of 30 days ago see them too. Skipped when a reused database
/// has them already.
async fn govern(pool: &PgPool, clusters_count: usize) -> BenchResult<String> {
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM exceptions")
        .fetch_one(pool)
        .await?;
    if existing > 0 {
        return Ok(format!(
            "governance: the reused database has {existing} exceptions already (the baseline above includes them)"
        ));
    }
    let catalogs = Catalogs::builtin()?;
    let limits = kubeward_server::app::governance::Limits::default();
    let person = |id: &str| kubeward_server::domain::actor::Actor {
        id: format!("bench:{id}"),
        name: id.to_owned(),
        source: None,
    };
    let (requester, approver) = (person("requester"), person("approver"));
    let failing: Vec<String> = sqlx::query_scalar(
        "SELECT check_id FROM findings WHERE state = 'open' GROUP BY check_id ORDER BY count(*) DESC LIMIT 20",
    )
    .fetch_all(pool)
    .await?;
    let last_day = {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        (OffsetDateTime::now_utc() + time::Duration::days(200))
            .date()
            .format(&format)?
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for index in 0..100 {
        let check = failing[index % failing.len().max(1)].clone();
        let scope = if index < 40 {
            kubeward_server::app::governance::ScopeInput {
                cluster: None,
                nodes: Some(format!("*-worker-{}*", index % 9 + 1)),
                ..Default::default()
            }
        } else {
            kubeward_server::app::governance::ScopeInput {
                cluster: Some(format!("c{:03}", rng.random_range(0..clusters_count))),
                ..Default::default()
            }
        };
        let input = kubeward_server::app::governance::ExceptionInput {
            check,
            group: None,
            scope,
            justification: "accepted for the benchmark".to_owned(),
            expires_on: last_day.clone(),
        };
        let id = kubeward_server::app::governance::request_exception(
            pool, &catalogs, limits, &requester, &input,
        )
        .await
        .map_err(|err| err.to_string())?;
        kubeward_server::app::governance::decide_exception(
            pool,
            id,
            kubeward_server::domain::exception::Action::Approve,
            &approver,
            "",
        )
        .await
        .map_err(|err| err.to_string())?;
    }
    let manual: Vec<String> = catalogs
        .all_checks()
        .filter(|check| {
            check.assessment == kubeward_benchmark::catalog::Assessment::Manual
                && check.test.is_none()
        })
        .map(|check| check.id.clone())
        .collect();
    for index in 0..50 {
        let input = kubeward_server::app::governance::AttestationInput {
            check: manual[index % manual.len().max(1)].clone(),
            scope: kubeward_server::app::governance::ScopeInput {
                cluster: Some(format!("c{:03}", rng.random_range(0..clusters_count))),
                ..Default::default()
            },
            verdict: "pass".to_owned(),
            statement: "attested for the benchmark".to_owned(),
            valid_until: last_day.clone(),
            ..Default::default()
        };
        kubeward_server::app::governance::record_attestation(
            pool, &catalogs, limits, &approver, &input,
        )
        .await
        .map_err(|err| err.to_string())?;
    }
    // Back-date them (a benchmark's shortcut, not something the API allows) so past views are governed too.
    sqlx::query(
        "UPDATE exceptions SET requested_at = now() - interval '41 days', decided_at = now() - interval '40 days'",
    )
    .execute(pool)
    .await?;
    sqlx::query("UPDATE attestations SET valid_from = now() - interval '40 days', attested_at = now() - interval '40 days'")
        .execute(pool)
        .await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    let waived: i64 =
        sqlx::query_scalar("SELECT count(*) FROM finding_events WHERE kind = 'waived'")
            .fetch_one(pool)
            .await?;
    Ok(format!(
        "governance: 100 exceptions in force (waiving {waived} open findings when approved) and 50 attestations; the same pages again:"
    ))
}

fn main() -> std::process::ExitCode {
    let Ok(base) = std::env::var("DATABASE_URL") else {
        eprintln!("set DATABASE_URL to a PostgreSQL server (a scratch database is created on it)");
        return std::process::ExitCode::from(2);
    };
    let reuse = std::env::var("KUBEWARD_BENCH_DATABASE").ok();
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| err.to_string())
        .and_then(|runtime| {
            runtime.block_on(async {
                let database = match &reuse {
                    Some(name) => ScratchDatabase::existing(&base, name),
                    None => ScratchDatabase::create(&base, "kubeward_apibench", None).await,
                }
                .map_err(|err| err.to_string())?;
                let outcome = run(&database.url, reuse.is_some()).await;
                // KUBEWARD_BENCH_KEEP=1 keeps the filled database for EXPLAIN and for the next run.
                database
                    .finish(std::env::var_os("KUBEWARD_BENCH_KEEP").is_some() || reuse.is_some());
                outcome.map_err(|err| err.to_string())
            })
        });
    match outcome {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(err) => {
            eprintln!("api bench: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
