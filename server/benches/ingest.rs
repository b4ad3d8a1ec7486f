//! Load generator: drives the real `kubeward-server` binary over HTTP with realistic reports from 64
//! concurrent agents, 90% of reports unchanged from the node's previous one and 10% changing a few results.
//!
//! Run with `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p kubeward-server --bench ingest`
//! (the URL names the PostgreSQL server to use; a scratch database is created on it and dropped after).
//! Prints sustained reports/s, p50/p99 latency, bytes per unchanged scan (tables and indexes) and the server's
//! RSS, and checks the targets: ≥ 500 reports/s, p99 ≤ 200 ms, ≤ 300 bytes per unchanged scan.
//!
//! `KUBEWARD_BENCH_INGEST_CLUSTERS=N` (1 to 64, default 1) spreads the 64 agents over N clusters, each with
//! its own agent token: the many-cluster variant, where ingests of different clusters share no per-cluster
//! row.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubeward_benchmark::report::{
    AgentInfo, BenchmarkRef, CheckResult, Evidence, NodeInfo, NodeRole, Report, SCHEMA_V1,
};
use kubeward_benchmark::{Catalog, Status};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;

const SERVER: &str = env!("CARGO_BIN_EXE_kubeward-server");
const AGENTS: usize = 64;
const MEASURE_FOR: Duration = Duration::from_secs(30);
const UNCHANGED_PER_AGENT: usize = 100;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// One simulated node: its current results and its clock.
struct Agent {
    name: String,
    /// The agent token of its cluster.
    token: Arc<str>,
    results: Vec<CheckResult>,
    clock: OffsetDateTime,
    rng: StdRng,
}

fn evidence_for(check: &str, status: Status, node: &str) -> Vec<Evidence> {
    // Shapes like the agent's: a file with its mode, or a process flag with where the value came from.
    let observed = match status {
        Status::Pass => "0600",
        Status::Fail | Status::Warn => "0644",
        _ => "(not set)",
    };
    vec![
        Evidence {
            subject: format!("/etc/kubernetes/manifests/kube-apiserver.yaml ({check} on {node})"),
            observed: observed.to_owned(),
            expected: "0600 or more restrictive".to_owned(),
            source: Some("kubelet staticPodPath in /var/lib/kubelet/config.yaml".to_owned()),
        },
        Evidence {
            subject: format!("kube-apiserver (pid 1201) --profiling [{check}]"),
            observed: "false".to_owned(),
            expected: "false".to_owned(),
            source: Some("command line".to_owned()),
        },
    ]
}

impl Agent {
    fn new(index: usize, catalog: &Catalog, start: OffsetDateTime, token: Arc<str>) -> Self {
        let name = format!("node-{index:03}");
        let mut rng = StdRng::seed_from_u64(index as u64);
        let results = catalog
            .checks
            .iter()
            .map(|check| {
                let status = match rng.random_range(0..100) {
                    0..15 => Status::Fail,
                    15..25 => Status::Warn,
                    25..30 => Status::Manual,
                    30..45 => Status::NotApplicable,
                    _ => Status::Pass,
                };
                CheckResult {
                    check: check.id.clone(),
                    status,
                    evidence: evidence_for(&check.id, status, &name),
                    detail: None,
                }
            })
            .collect();
        Agent {
            name,
            token,
            results,
            clock: start,
            rng,
        }
    }

    /// The next report: the same results, or with 10% probability a few changed.
    fn next_report(&mut self, may_change: bool) -> Report {
        if may_change && self.rng.random_bool(0.1) {
            for _ in 0..self.rng.random_range(1..=3) {
                let index = self.rng.random_range(0..self.results.len());
                let status = if self.results[index].status == Status::Pass {
                    Status::Fail
                } else {
                    Status::Pass
                };
                let check = self.results[index].check.clone();
                self.results[index] = CheckResult {
                    evidence: evidence_for(&check, status, &self.name),
                    check,
                    status,
                    detail: None,
                };
            }
        }
        self.clock += time::Duration::minutes(1);
        Report {
            schema: SCHEMA_V1.to_owned(),
            scan_id: uuid::Uuid::now_v7(),
            agent: AgentInfo {
                version: "0.1.0".to_owned(),
            },
            node: NodeInfo {
                name: self.name.clone(),
                roles: vec![NodeRole::Worker],
                kubelet_version: Some("v1.33.2".to_owned()),
                container_runtime: None,
                pod_security_defaults: None,
                // What an agent on a kubeadm node sends since the distribution benchmarks: about 500 bytes.
                platform: Some(kubeward_benchmark::report::Platform {
                    distribution: "kubeadm".to_owned(),
                    variant: None,
                    choice: "auto".to_owned(),
                    signals: vec![
                        kubeward_benchmark::report::PlatformSignal {
                            distribution: "kubeadm".to_owned(),
                            observed: "kubelet (pid 812) --config /var/lib/kubelet/config.yaml"
                                .to_owned(),
                        },
                        kubeward_benchmark::report::PlatformSignal {
                            distribution: "kubeadm".to_owned(),
                            observed:
                                "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf exists"
                                    .to_owned(),
                        },
                    ],
                    followed: vec!["/var/lib/kubelet/config.yaml".to_owned()],
                    uncertain: None,
                }),
            },
            benchmark: BenchmarkRef {
                id: "cis-kubernetes".to_owned(),
                version: "1.12".to_owned(),
            },
            started_at: self.clock - time::Duration::milliseconds(12),
            finished_at: self.clock,
            results: self.results.clone(),
        }
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    report: &Report,
) -> BenchResult<(u16, Duration)> {
    let body = serde_json::to_vec(report)?;
    let started = Instant::now();
    let response = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let _ = response.bytes().await?;
    Ok((status, started.elapsed()))
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

async fn relation_bytes(pool: &sqlx::PgPool) -> BenchResult<i64> {
    sqlx::query("VACUUM (ANALYZE)").execute(pool).await?;
    let bytes: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r'",
    )
    .fetch_one(pool)
    .await?;
    Ok(bytes)
}

fn memory_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|line| line.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn start_server(database_url: &str) -> BenchResult<Server> {
    let mut child = Command::new(SERVER)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("DATABASE_URL", database_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let base = line
        .trim()
        .rsplit(' ')
        .next()
        .ok_or("no address")?
        .to_owned();
    Ok(Server { child, base })
}

/// How many clusters the agents are spread over, from `KUBEWARD_BENCH_INGEST_CLUSTERS`.
fn cluster_count() -> BenchResult<usize> {
    match std::env::var("KUBEWARD_BENCH_INGEST_CLUSTERS") {
        Err(_) => Ok(1),
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(count) if (1..=AGENTS).contains(&count) => Ok(count),
            _ => Err(
                format!("KUBEWARD_BENCH_INGEST_CLUSTERS must be 1 to {AGENTS}, not {text:?}")
                    .into(),
            ),
        },
    }
}

/// Enrolls one cluster with the real CLI and answers its agent token.
fn enroll(database_url: &str, name: &str) -> BenchResult<Arc<str>> {
    let enrolled = Command::new(SERVER)
        .args(["cluster", "add", name])
        .env("DATABASE_URL", database_url)
        .output()?;
    if !enrolled.status.success() {
        return Err(format!(
            "enrolling failed: {}",
            String::from_utf8_lossy(&enrolled.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&enrolled.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .into())
}

async fn run(database_url: &str) -> BenchResult<bool> {
    let catalog = Catalog::builtin("cis-1.12")?;
    let clusters = cluster_count()?;
    let tokens: Vec<Arc<str>> = if clusters == 1 {
        vec![enroll(database_url, "bench")?]
    } else {
        (0..clusters)
            .map(|index| enroll(database_url, &format!("bench-{index}")))
            .collect::<BenchResult<_>>()?
    };
    let server = start_server(database_url)?;
    let url: Arc<str> = format!("{}/api/v1/reports", server.base).into();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(AGENTS)
        .build()?;
    for _ in 0..100 {
        if client
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let start = OffsetDateTime::now_utc() - time::Duration::days(30);
    let mut agents: Vec<Agent> = (0..AGENTS)
        .map(|index| Agent::new(index, &catalog, start, tokens[index % clusters].clone()))
        .collect();
    // Every node's first report, so that the measured ones are the steady state.
    for agent in &mut agents {
        let report = agent.next_report(false);
        let (status, _) = post(&client, &url, &agent.token, &report).await?;
        if status != 201 {
            return Err(format!("first report refused with {status}").into());
        }
    }

    // Phase 1: sustained mixed load.
    let deadline = Instant::now() + MEASURE_FOR;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut agent in agents {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut refused = 0usize;
            while Instant::now() < deadline {
                let report = agent.next_report(true);
                let (status, latency) = post(&client, &url, &agent.token, &report).await?;
                if status != 201 {
                    refused += 1;
                }
                latencies.push(latency);
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((agent, latencies, refused))
        }));
    }
    let mut latencies = Vec::new();
    let mut refused = 0;
    let mut agents = Vec::new();
    for task in tasks {
        let (agent, agent_latencies, agent_refused) = task.await??;
        latencies.extend(agent_latencies);
        refused += agent_refused;
        agents.push(agent);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let throughput = latencies.len() as f64 / elapsed.as_secs_f64();
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));

    // Phase 2: storage of unchanged scans only, after the database has settled.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(database_url)
        .await?;
    let before = relation_bytes(&pool).await?;
    let mut tasks = Vec::new();
    for mut agent in agents {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..UNCHANGED_PER_AGENT {
                let report = agent.next_report(false);
                let (status, _) = post(&client, &url, &agent.token, &report).await?;
                if status != 201 {
                    return Err(format!("unchanged report refused with {status}").into());
                }
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let after = relation_bytes(&pool).await?;
    let unchanged = (AGENTS * UNCHANGED_PER_AGENT) as f64;
    let bytes_per_unchanged = (after - before) as f64 / unchanged;
    let rss_peak = memory_kib(server.child.id(), "VmHWM:").unwrap_or(0);
    let rss_now = memory_kib(server.child.id(), "VmRSS:").unwrap_or(0);
    pool.close().await;
    drop(server);

    println!(
        "kubeward-server ingest: {AGENTS} concurrent agents in {clusters} cluster(s), {} results per report, 90% unchanged / 10% changed",
        catalog.checks.len()
    );
    println!(
        "sustained: {} reports in {:.1} s = {throughput:.0} reports/s ({refused} not 201)",
        latencies.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "latency: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        p50.as_secs_f64() * 1e3,
        percentile(&latencies, 0.9).as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3)
    );
    println!(
        "storage: {bytes_per_unchanged:.0} bytes per unchanged scan ({} unchanged scans grew tables and indexes by {} bytes)",
        unchanged,
        after - before
    );
    println!(
        "server RSS: peak {:.1} MiB, at the end {:.1} MiB",
        rss_peak as f64 / 1024.0,
        rss_now as f64 / 1024.0
    );
    let mut met = true;
    for (name, ok) in [
        ("at least 500 reports/s", throughput >= 500.0),
        ("p99 at most 200 ms", p99 <= Duration::from_millis(200)),
        (
            "at most 300 bytes per unchanged scan",
            bytes_per_unchanged <= 300.0,
        ),
        ("every report accepted", refused == 0),
    ] {
        println!("target {name}: {}", if ok { "met" } else { "MISSED" });
        met &= ok;
    }
    Ok(met)
}

fn main() -> ExitCode {
    let Ok(base) = std::env::var("DATABASE_URL") else {
        eprintln!("set DATABASE_URL to a PostgreSQL server (a scratch database is created on it)");
        return ExitCode::from(2);
    };
    let name = format!("kubeward_loadgen_{}", uuid::Uuid::now_v7().simple());
    let server_url = base
        .rsplit_once('/')
        .map_or(base.as_str(), |(server, _)| server)
        .to_owned();
    let database_url = format!("{server_url}/{name}");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(&database_url));
    let _ = Command::new("psql")
        .arg(&base)
        .args([
            "-q",
            "-c",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        ])
        .status();
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("load generator: {err}");
            ExitCode::FAILURE
        }
    }
}
