//! `kubeward-agent run`: scan at start and then every interval plus a random jitter, keep every report in the
//! spool until the server has it, and deliver the spool oldest first with backoff.
//!
//! Each report is written to the spool before any delivery is tried, so delivery is at least once whatever
//! happens to the process; the server's idempotency on `scan_id` makes it exactly once in the database.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::delivery::{Deliverer, Outcome};
use crate::metrics::Metrics;
use crate::scan::{ScanOptions, scan};
use crate::spool::Spool;

/// Reads the cluster and evaluates every catalog: one report per catalog, each spooled on its own.
fn scan_cluster(job: &ClusterJob) -> Result<Vec<(String, Vec<u8>)>, RunError> {
    let started_at = time::OffsetDateTime::now_utc();
    let read = crate::cluster::read_blocking(&job.connection, job.page_size)?;
    let options = crate::policy_scan::PolicyScanOptions {
        catalogs: job.catalogs.clone(),
        distribution: job.distribution.clone().unwrap_or_else(|| {
            crate::cluster::distribution_of(read.kubernetes_version.as_deref()).to_owned()
        }),
        kubernetes_version: read.kubernetes_version.clone(),
        nodes: read.nodes,
    };
    let (catalogs, platform) = crate::policy_scan::load(&options)?;
    let mut reports =
        crate::policy_scan::evaluate(&read.inventory, &catalogs, &platform, &options, started_at);
    // The first report carries the cluster's context, which the server serves to manifest checks in CI.
    if let Some(first) = reports.first_mut() {
        first.context = Some(kubeward_benchmark::policy::context::of_inventory(
            &read.inventory,
        ));
    }
    tracing::info!(
        objects = read.inventory.objects().len(),
        requests = read.requests,
        "read the cluster: {} objects",
        read.inventory.objects().len()
    );
    Ok(reports
        .iter()
        .map(|report| {
            (
                report.scan_id.to_string(),
                serde_json::to_vec(report).unwrap_or_default(),
            )
        })
        .collect())
}

/// The longest wait between two delivery attempts, and the most a `Retry-After` is honoured for.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// What each round scans: this node, or the cluster through its API.
#[derive(Debug, Clone)]
pub enum Job {
    Node(ScanOptions),
    Cluster(ClusterJob),
}

/// A cluster scan: how to reach the API and what to evaluate.
#[derive(Debug, Clone)]
pub struct ClusterJob {
    pub connection: crate::cluster::Connection,
    pub page_size: u32,
    /// The catalogs and the platform list; `None` as the distribution means "from the cluster's version".
    pub catalogs: Vec<String>,
    pub distribution: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub job: Job,
    pub token_file: PathBuf,
    pub interval: Duration,
    pub jitter: Duration,
    pub spool_dir: PathBuf,
    pub spool_max_reports: usize,
    pub spool_max_bytes: u64,
    pub once: bool,
    /// With `--once`: how long to keep retrying before leaving the rest in the spool.
    pub retry_for: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot read the token file {path}: {reason}")]
    Token { path: String, reason: String },
    #[error(transparent)]
    Spool(#[from] crate::spool::SpoolError),
    #[error(transparent)]
    Scan(#[from] crate::scan::SetupError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error(transparent)]
    Policy(#[from] crate::policy_scan::PolicyScanError),
}

/// How a `--once` run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Everything the spool held was delivered (or refused for good and moved aside).
    Drained,
    /// Reports remain in the spool for a later run.
    Pending(usize),
    /// Stopped by a signal.
    Stopped,
}

/// A stop flag that also wakes sleepers: SIGTERM ends a wait at once.
#[derive(Debug, Default)]
pub struct Stopper {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stopper {
    pub fn stop(&self) {
        if let Ok(mut stopped) = self.stopped.lock() {
            *stopped = true;
        }
        self.wake.notify_all();
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.lock().map_or(true, |stopped| *stopped)
    }

    /// Sleeps for `duration` unless stopped first; returns whether it was stopped.
    pub fn sleep(&self, duration: Duration) -> bool {
        let Ok(guard) = self.stopped.lock() else {
            return true;
        };
        match self
            .wake
            .wait_timeout_while(guard, duration, |stopped| !*stopped)
        {
            Ok((stopped, _)) => *stopped,
            Err(_) => true,
        }
    }
}

fn read_token(path: &std::path::Path) -> Result<String, RunError> {
    let error = |reason: String| RunError::Token {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|err| error(err.to_string()))?;
    let token = text.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(error("it must hold exactly one token".to_owned()));
    }
    Ok(token.to_owned())
}

pub struct Runner {
    options: RunOptions,
    deliverer: Deliverer,
    spool: Spool,
    metrics: Arc<Metrics>,
    stopper: Arc<Stopper>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("deliverer", &self.deliverer)
            .finish_non_exhaustive()
    }
}

impl Runner {
    pub fn new(
        options: RunOptions,
        deliverer: Deliverer,
        metrics: Arc<Metrics>,
        stopper: Arc<Stopper>,
    ) -> Result<Self, RunError> {
        // A missing token is a setup error now, not a delivery failure later.
        read_token(&options.token_file)?;
        let spool = Spool::open(
            &options.spool_dir,
            options.spool_max_reports,
            options.spool_max_bytes,
        )?;
        metrics
            .spool_depth
            .store(spool.depth() as u64, Ordering::Relaxed);
        Ok(Runner {
            options,
            deliverer,
            spool,
            metrics,
            stopper,
        })
    }

    /// Runs until stopped (or, with `--once`, until the spool is drained or the retry budget is spent).
    pub fn run(&self) -> Result<RunEnd, RunError> {
        loop {
            self.scan_into_spool()?;
            let next_scan = Instant::now() + self.next_interval();
            let until = if self.options.once {
                Instant::now() + self.options.retry_for
            } else {
                next_scan
            };
            let end = self.drain(until)?;
            if self.options.once || end == RunEnd::Stopped {
                return Ok(end);
            }
            let wait = next_scan.saturating_duration_since(Instant::now());
            tracing::debug!(seconds = wait.as_secs(), "next scan");
            if self.stopper.sleep(wait) {
                return Ok(RunEnd::Stopped);
            }
        }
    }

    fn next_interval(&self) -> Duration {
        let jitter_ms = u64::try_from(self.options.jitter.as_millis()).unwrap_or(u64::MAX);
        let extra = if jitter_ms == 0 {
            0
        } else {
            rand::rng().random_range(0..=jitter_ms)
        };
        self.options.interval + Duration::from_millis(extra)
    }

    /// Scans and writes the reports to the spool; a scan that cannot run is logged and counted, and the agent
    /// tries again at the next interval.
    fn scan_into_spool(&self) -> Result<(), RunError> {
        let started = Instant::now();
        let scanned = match &self.options.job {
            Job::Node(options) => scan(options).map_err(RunError::from).map(|scan| {
                tracing::info!(node.name = %scan.report.node.name, results = scan.report.results.len(), "scanned {}", scan.report.node.name);
                vec![(scan.report.scan_id.to_string(), serde_json::to_vec(&scan.report).unwrap_or_default())]
            }),
            Job::Cluster(job) => scan_cluster(job),
        };
        let reports = match scanned {
            Ok(reports) => reports,
            Err(err) if self.options.once => return Err(err),
            Err(err) => {
                Metrics::add(&self.metrics.scan_errors, 1);
                tracing::error!(error = %err, "the scan could not run");
                return Ok(());
            }
        };
        self.metrics.record_scan(started.elapsed());
        for (scan_id, bytes) in reports {
            for dropped in self.spool.put(&scan_id, &bytes)? {
                Metrics::add(&self.metrics.spool_dropped, 1);
                tracing::warn!(report = %dropped.name(), "the spool is full; dropped its oldest report");
            }
            tracing::info!(scan.id = %scan_id, bytes = bytes.len(), "spooled report {scan_id}");
        }
        self.metrics
            .spool_depth
            .store(self.spool.depth() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Delivers the spool oldest first until it is empty, `until` passes, or the agent is stopped.
    pub fn drain(&self, until: Instant) -> Result<RunEnd, RunError> {
        let mut backoff = FIRST_BACKOFF;
        let token = read_token(&self.options.token_file)?;
        loop {
            let entries = self.spool.entries()?;
            self.metrics
                .spool_depth
                .store(entries.len() as u64, Ordering::Relaxed);
            let Some(entry) = entries.first() else {
                return Ok(RunEnd::Drained);
            };
            if self.stopper.is_stopped() {
                return Ok(RunEnd::Stopped);
            }
            let body = self.spool.read(entry)?;
            Metrics::add(&self.metrics.delivery_attempts, 1);
            match self.deliverer.deliver(&token, &body) {
                Outcome::Delivered { status } => {
                    self.spool.remove(entry)?;
                    Metrics::add(&self.metrics.delivered, 1);
                    tracing::info!(report = %entry.name(), status, "delivered");
                    backoff = FIRST_BACKOFF;
                }
                Outcome::Permanent { status, message } => {
                    let moved = self.spool.reject(entry)?;
                    Metrics::add(&self.metrics.rejected, 1);
                    tracing::error!(report = %entry.name(), status, server = %message, moved_to = %moved.display(), "the server refused the report for good; moved aside, not retried");
                }
                Outcome::Retry { reason, after } => {
                    Metrics::add(&self.metrics.delivery_failures, 1);
                    // Full jitter: spread retries of many nodes over the whole window.
                    let wait = after.map_or_else(
                        || {
                            Duration::from_millis(rand::rng().random_range(
                                0..=u64::try_from(backoff.as_millis()).unwrap_or(1000),
                            ))
                        },
                        |after| after.min(MAX_BACKOFF),
                    );
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    let pending = entries.len();
                    if Instant::now() + wait > until {
                        tracing::warn!(reason = %reason, pending, "delivery failed; the reports stay in the spool");
                        return Ok(RunEnd::Pending(pending));
                    }
                    tracing::warn!(reason = %reason, pending, retry_in_ms = wait.as_millis() as u64, "delivery failed; retrying");
                    if self.stopper.sleep(wait) {
                        return Ok(RunEnd::Stopped);
                    }
                }
            }
        }
    }
}
