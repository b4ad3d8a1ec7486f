//! The agent's own health and metrics: counters kept in memory and, when `--listen` is given, served in the
//! Prometheus text format at `/metrics` beside `/healthz` by a small thread.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Metrics {
    pub scans: AtomicU64,
    pub scan_errors: AtomicU64,
    pub scan_micros_sum: AtomicU64,
    pub last_scan_micros: AtomicU64,
    pub delivery_attempts: AtomicU64,
    pub delivery_failures: AtomicU64,
    pub delivered: AtomicU64,
    pub rejected: AtomicU64,
    pub spool_depth: AtomicU64,
    pub spool_dropped: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, value: u64) {
        counter.fetch_add(value, Ordering::Relaxed);
    }

    pub fn record_scan(&self, duration: Duration) {
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.scans.fetch_add(1, Ordering::Relaxed);
        self.scan_micros_sum.fetch_add(micros, Ordering::Relaxed);
        self.last_scan_micros.store(micros, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let seconds = |micros: u64| micros as f64 / 1e6;
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "kubeward_agent_scans_total",
            "counter",
            "Scans completed.",
            get(&self.scans).to_string(),
        );
        metric(
            "kubeward_agent_scan_errors_total",
            "counter",
            "Scans that could not run.",
            get(&self.scan_errors).to_string(),
        );
        metric(
            "kubeward_agent_scan_duration_seconds_sum",
            "counter",
            "Total time spent scanning.",
            seconds(get(&self.scan_micros_sum)).to_string(),
        );
        metric(
            "kubeward_agent_last_scan_duration_seconds",
            "gauge",
            "Duration of the latest scan.",
            seconds(get(&self.last_scan_micros)).to_string(),
        );
        metric(
            "kubeward_agent_delivery_attempts_total",
            "counter",
            "Attempts to deliver a report.",
            get(&self.delivery_attempts).to_string(),
        );
        metric(
            "kubeward_agent_delivery_failures_total",
            "counter",
            "Attempts that failed and will be retried.",
            get(&self.delivery_failures).to_string(),
        );
        metric(
            "kubeward_agent_reports_delivered_total",
            "counter",
            "Reports the server accepted.",
            get(&self.delivered).to_string(),
        );
        metric(
            "kubeward_agent_reports_rejected_total",
            "counter",
            "Reports the server refused for good, moved aside.",
            get(&self.rejected).to_string(),
        );
        metric(
            "kubeward_agent_spool_depth",
            "gauge",
            "Reports waiting in the spool.",
            get(&self.spool_depth).to_string(),
        );
        metric(
            "kubeward_agent_spool_dropped_total",
            "counter",
            "Reports dropped because the spool was full.",
            get(&self.spool_dropped).to_string(),
        );
        out
    }
}

/// Serves `/healthz` and `/metrics` on `address` from a background thread; returns the bound address.
pub fn serve(address: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(address)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("metrics".to_owned())
        .spawn(move || {
            for stream in listener.incoming().filter_map(Result::ok) {
                if let Err(err) = answer(stream, &metrics) {
                    tracing::debug!(error = %err, "metrics request failed");
                }
            }
        })?;
    Ok(bound)
}

fn answer(stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?).take(8 * 1024);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let (status, content_type, body) = match path {
        "/healthz" => ("200 OK", "text/plain", "ok\n".to_owned()),
        "/metrics" => ("200 OK", "text/plain; version=0.0.4", metrics.render()),
        _ => ("404 Not Found", "text/plain", "not found\n".to_owned()),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
