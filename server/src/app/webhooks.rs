//! The webhook worker: delivers queued finding and node events, signed, with backoff, from the durable queue in
//! PostgreSQL. Several lanes send at once, each one delivery at a time in its own transaction: a delivery and
//! its webhook are locked while it is attempted, so several lanes, workers or server replicas never send the
//! same one at once, a webhook gets one delivery at a time, and a slow or silent subscriber holds up only its
//! own deliveries. A crash mid-attempt leaves the delivery pending, to be sent again (at least once).
//!
//! Destinations are checked at every attempt by the address the name resolves to then, and the connection is
//! made to that checked address: only public addresses and the networks an operator allowed
//! ([`DestinationPolicy`]). A failure to connect, a refused address, a timeout and a broken answer are logged
//! alike for the admin who reads the delivery log, so it cannot map the network; the server's own log says
//! which it was.
//!
//! Signature: header `Kubeward-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with the
//! webhook's secret. Receivers recompute it and reject old timestamps to stop replays.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::app::views::{
    DeliveredEvent, DeliveredFinding, Finding, FindingDelivery, Links, NodeStaleDelivery,
    StaleNode, time_text,
};
use crate::catalogs::Catalogs;
use crate::domain::network::DestinationPolicy;
use crate::domain::sealed::Sealer;
use crate::domain::url::percent_encode;
use crate::storage::findings::{self, FindingFilter};
use crate::storage::node_events;
use crate::storage::webhooks::{self, DueDelivery};

/// Attempts before a delivery is given up and marked failed in the log.
pub const MAX_ATTEMPTS: i32 = 12;

/// Deliveries sent at once (each holds a database connection while it waits for its subscriber).
pub const LANES: usize = 4;

/// What the delivery log says of every failure short of an HTTP answer.
pub const UNREACHABLE: &str = "the webhook could not be reached, or its address is not allowed";

#[derive(Debug, Clone)]
pub struct WebhookWorker {
    pub pool: PgPool,
    pub catalogs: Arc<Catalogs>,
    /// How long one attempt may take, connecting included.
    pub timeout: Duration,
    /// The first retry waits this long; each further one twice as long, up to an hour.
    pub retry_base: Duration,
    pub poll_every: Duration,
    /// Which addresses deliveries may go to.
    pub destinations: DestinationPolicy,
    /// Opens the webhooks' sealed secrets.
    pub sealer: Arc<Sealer>,
}

/// `t=...,v1=...` for a body signed at a time.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this cannot happen.
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

impl WebhookWorker {
    pub fn new(pool: PgPool, catalogs: Arc<Catalogs>, sealer: Arc<Sealer>) -> Self {
        WebhookWorker {
            pool,
            catalogs,
            sealer,
            timeout: Duration::from_secs(5),
            retry_base: Duration::from_secs(30),
            poll_every: Duration::from_secs(1),
            destinations: DestinationPolicy::default(),
        }
    }

    /// Runs until the task is dropped: [`LANES`] lanes, each sending due deliveries one after another and
    /// waiting a moment when none is due.
    pub async fn run(self) {
        let lanes = (0..LANES).map(|_| async {
            loop {
                match self.deliver_next().await {
                    Ok(true) => {}
                    Ok(false) => tokio::time::sleep(self.poll_every).await,
                    Err(err) => {
                        tracing::error!(error = %err, "webhook deliveries could not be processed");
                        tokio::time::sleep(self.poll_every).await;
                    }
                }
            }
        });
        futures_util::future::join_all(lanes).await;
    }

    /// Attempts every due delivery once, in [`LANES`] lanes; returns how many were attempted.
    pub async fn deliver_due(&self) -> Result<usize, sqlx::Error> {
        let lanes = (0..LANES).map(|_| async {
            let mut attempted = 0;
            while self.deliver_next().await? {
                attempted += 1;
            }
            Ok::<usize, sqlx::Error>(attempted)
        });
        let counts = futures_util::future::try_join_all(lanes).await?;
        Ok(counts.into_iter().sum())
    }

    /// Attempts the next due delivery, in a transaction of its own; `false` when none is due (or every due
    /// one belongs to a webhook another lane is sending to).
    pub async fn deliver_next(&self) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let Some(delivery) = webhooks::lock_next_due(&mut tx).await? else {
            return Ok(false);
        };
        let payload = self.payload(&mut tx, &delivery).await?;
        let outcome = match payload {
            Some(payload) => self.send(&delivery, &payload).await,
            None => Err((None, "the event no longer exists".to_owned())),
        };
        match outcome {
            Ok(status) => {
                webhooks::record_attempt(&mut tx, delivery.id, true, Some(status), None, None)
                    .await?;
            }
            Err((status, error)) => {
                let attempt = delivery.attempts + 1;
                let retry_at = (attempt < MAX_ATTEMPTS).then(|| {
                    let wait = self
                        .retry_base
                        .saturating_mul(1 << attempt.clamp(0, 7) as u32)
                        .min(Duration::from_secs(3600));
                    OffsetDateTime::now_utc() + wait
                });
                tracing::warn!(delivery.id = delivery.id, attempt, status, error = %error, gives_up = retry_at.is_none(), "webhook delivery failed");
                webhooks::record_attempt(
                    &mut tx,
                    delivery.id,
                    false,
                    status,
                    Some(&error),
                    retry_at,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn payload(
        &self,
        conn: &mut sqlx::PgConnection,
        delivery: &DueDelivery,
    ) -> Result<Option<Value>, sqlx::Error> {
        match (delivery.event_id, delivery.node_event_id) {
            (Some(event_id), _) => self.finding_payload(conn, event_id).await,
            (None, Some(node_event_id)) => node_payload(conn, node_event_id).await,
            (None, None) => Ok(None),
        }
    }

    /// Everything an integration needs to open, update or close a ticket without a second call.
    async fn finding_payload(
        &self,
        conn: &mut sqlx::PgConnection,
        event_id: i64,
    ) -> Result<Option<Value>, sqlx::Error> {
        let Some(event) = findings::events_after(conn, event_id - 1, 1)
            .await?
            .into_iter()
            .find(|event| event.id == event_id)
        else {
            return Ok(None);
        };
        let filter = FindingFilter {
            id: Some(event.finding_id),
            ..FindingFilter::default()
        };
        let Some(finding) = findings::page(conn, &filter, 0, 1).await?.pop() else {
            return Ok(None);
        };
        let delivery = FindingDelivery {
            event: DeliveredEvent {
                id: event.id,
                kind: format!("finding.{}", event.kind),
                at: time_text(event.at),
                scan_id: event.scan_id,
                exception_id: event.exception_id,
            },
            finding: DeliveredFinding {
                links: Links {
                    api: format!("/api/v1/findings/{}", finding.id),
                    page: format!("/findings/{}", finding.id),
                },
                finding: Finding::from_row(&finding, &self.catalogs),
            },
        };
        Ok(serde_json::to_value(delivery).ok())
    }

    async fn send(
        &self,
        delivery: &DueDelivery,
        payload: &Value,
    ) -> Result<i32, (Option<i32>, String)> {
        let unreachable = |reason: &str| {
            tracing::info!(delivery.id = delivery.id, reason, "webhook not reached");
            (None, UNREACHABLE.to_owned())
        };
        let secret = self
            .sealer
            .open(&delivery.secret)
            .map_err(|err| (None, format!("{err}; subscribe the webhook again")))?;
        let client = self
            .pinned_client(&delivery.url)
            .await
            .map_err(|reason| unreachable(&reason))?;
        let body = serde_json::to_vec(payload).map_err(|err| (None, err.to_string()))?;
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let response = client
            .post(&delivery.url)
            .header("content-type", "application/json")
            .header("kubeward-signature", signature(&secret, timestamp, &body))
            .header("kubeward-delivery", delivery.id.to_string())
            .header(
                "kubeward-event",
                payload["event"]["type"].as_str().unwrap_or_default(),
            )
            .body(body)
            .send()
            .await
            .map_err(|err| unreachable(&without_url(&err)))?;
        let status = i32::from(response.status().as_u16());
        if response.status().is_success() {
            Ok(status)
        } else {
            Err((Some(status), format!("the webhook answered {status}")))
        }
    }

    /// A client that connects to the address the URL's host resolves to now, if the destination policy
    /// permits it, and to no other: a name cannot resolve to a public address for the check and to an
    /// internal one for the connection.
    async fn pinned_client(&self, url: &str) -> Result<reqwest::Client, String> {
        let url = reqwest::Url::parse(url).map_err(|_| "not a URL".to_owned())?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| "no port".to_owned())?;
        let builder = reqwest::Client::builder()
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none());
        let host = url.host_str().ok_or_else(|| "no host".to_owned())?;
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>();
        let builder = match literal {
            Ok(address) => {
                self.check(address)?;
                builder
            }
            Err(_) => {
                let resolved =
                    tokio::time::timeout(self.timeout, tokio::net::lookup_host((host, port)))
                        .await
                        .map_err(|_| "the name did not resolve in time".to_owned())?
                        .map_err(|_| "the name does not resolve".to_owned())?;
                let mut refused = None;
                let mut chosen = None;
                for address in resolved {
                    match self.check(address.ip()) {
                        Ok(()) => {
                            chosen = Some(address);
                            break;
                        }
                        Err(reason) => refused = Some(reason),
                    }
                }
                let address = chosen.ok_or_else(|| {
                    refused.unwrap_or_else(|| "the name resolves to no address".to_owned())
                })?;
                builder.resolve(host, address)
            }
        };
        builder.build().map_err(|err| err.to_string())
    }

    fn check(&self, address: std::net::IpAddr) -> Result<(), String> {
        if self.destinations.permits(address) {
            Ok(())
        } else {
            Err(format!(
                "{address} is not a public address and no --webhook-allow-network covers it"
            ))
        }
    }
}

/// A node that stopped reporting: enough to open an incident without a second call.
async fn node_payload(
    conn: &mut sqlx::PgConnection,
    node_event_id: i64,
) -> Result<Option<Value>, sqlx::Error> {
    let Some(event) = node_events::get(conn, node_event_id).await? else {
        return Ok(None);
    };
    let delivery = NodeStaleDelivery {
        event: DeliveredEvent {
            id: event.id,
            kind: format!("node.{}", event.kind),
            at: time_text(event.at),
            scan_id: None,
            exception_id: None,
        },
        node: StaleNode {
            id: event.node_id,
            links: Links {
                api: format!("/api/v1/nodes?cluster={}", event.cluster),
                page: format!(
                    "/clusters/{}/nodes/{}",
                    percent_encode(&event.cluster),
                    percent_encode(&event.node)
                ),
            },
            cluster: event.cluster,
            name: event.node,
            roles: event.roles,
            last_seen: time_text(event.last_seen),
        },
    };
    Ok(serde_json::to_value(delivery).ok())
}

/// reqwest errors name the URL, which may carry a credential in its query: keep only the kind of failure.
fn without_url(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_redirect() {
        "redirected"
    } else {
        "request failed"
    };
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_over_timestamp_and_body() {
        // Known answer, computed with another HMAC implementation: HMAC-SHA256(key="secret", "1700000000.{}").
        let signature = signature("secret", 1_700_000_000, b"{}");
        assert_eq!(
            signature,
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
        assert_ne!(signature, super::signature("other", 1_700_000_000, b"{}"));
        assert_ne!(signature, super::signature("secret", 1_700_000_001, b"{}"));
    }
}
