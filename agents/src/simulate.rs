//! `kubeward-agent simulate`: push a generated fleet's backdated history through the real API, for demos and
//! load tests. Reports come from the benchmark crate's fleet generator and its real evaluator; their scan ids
//! are deterministic, so running the same simulation twice stores it once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kubeward_benchmark::Catalog;
use kubeward_fleet::{FleetSpec, SimulatedNode};

use crate::delivery::{Deliverer, Outcome};

/// Attempts per report before it counts as failed.
const ATTEMPTS: u32 = 5;

#[derive(Debug, Default)]
pub struct Tally {
    pub stored_now: AtomicUsize,
    pub stored_before: AtomicUsize,
    pub failed: AtomicUsize,
}

/// Delivers every node's history, oldest day first, with `workers` nodes in flight at once.
pub fn simulate(
    deliverer: Arc<Deliverer>,
    token: Arc<str>,
    catalog: Arc<Catalog>,
    spec: Arc<FleetSpec>,
    cluster_label: &str,
    workers: usize,
) -> Arc<Tally> {
    let tally = Arc::new(Tally::default());
    let queue: Arc<std::sync::Mutex<Vec<SimulatedNode>>> =
        Arc::new(std::sync::Mutex::new(spec.nodes(cluster_label)));
    let mut handles = Vec::new();
    for _ in 0..workers.max(1) {
        let (deliverer, token, catalog, spec, tally, queue) = (
            deliverer.clone(),
            token.clone(),
            catalog.clone(),
            spec.clone(),
            tally.clone(),
            queue.clone(),
        );
        handles.push(std::thread::spawn(move || {
            loop {
                let Some(node) = queue.lock().ok().and_then(|mut queue| queue.pop()) else {
                    return;
                };
                for day in 0..spec.days {
                    let report = spec.report(&catalog, &node, day);
                    let body = serde_json::to_vec(&report).unwrap_or_default();
                    deliver_one(&deliverer, &token, &body, &tally, &node.name);
                }
                tracing::info!(node.name = %node.name, days = spec.days, "simulated {}", node.name);
            }
        }));
    }
    for handle in handles {
        let _ = handle.join();
    }
    tally
}

fn deliver_one(deliverer: &Deliverer, token: &str, body: &[u8], tally: &Tally, node: &str) {
    for attempt in 1..=ATTEMPTS {
        match deliverer.deliver(token, body) {
            Outcome::Delivered { status: 201 } => {
                tally.stored_now.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Outcome::Delivered { .. } => {
                tally.stored_before.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Outcome::Permanent { status, message } => {
                tracing::error!(node.name = node, status, server = %message, "a simulated report was refused");
                tally.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Outcome::Retry { reason, after } => {
                tracing::warn!(node.name = node, attempt, reason = %reason, "retrying a simulated report");
                std::thread::sleep(
                    after.unwrap_or(Duration::from_millis(200 * u64::from(attempt))),
                );
            }
        }
    }
    tally.failed.fetch_add(1, Ordering::Relaxed);
}
