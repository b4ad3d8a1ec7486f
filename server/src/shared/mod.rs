//! What both doors share and neither owns: the state every handler reaches, the request's id, how a
//! refusal at the edge is described, request bodies' bounds, the credential throttle and the bearer-token
//! verifier. It sits above the operations (`app`) and below the doors (`http`, `web`); nothing here
//! renders a response, that is each door's own job.

pub mod body;
pub mod jwt;
pub mod origin;
pub mod refusal;
pub mod request_id;
pub mod throttle;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sqlx::PgPool;

use crate::catalogs::Catalogs;

/// What every handler can reach. The pages' login configuration is registered beside it
/// (`web::WebConfig`), since only the pages use it.
#[derive(Debug, Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub catalogs: Arc<Catalogs>,
    /// Set once migrations have run; `/readyz` answers 503 before.
    pub migrated: Arc<AtomicBool>,
    /// How long a node may go without a report before it is stale.
    pub stale_after: std::time::Duration,
    /// Verifies OIDC JWT bearer tokens when an issuer is configured.
    pub jwt: Option<Arc<jwt::JwtVerifier>>,
    /// How far ahead exceptions and attestations may run.
    pub limits: crate::app::governance::Limits,
    /// Refused credentials per source, and the sources stopped for them.
    pub throttle: Arc<throttle::AuthThrottle>,
    /// Seals the secrets the server must read back (webhook signing secrets).
    pub sealer: Arc<crate::domain::sealed::Sealer>,
    /// The node attribute sets already stored, so that node ingest need not look them up.
    pub known_attribute_sets: Arc<crate::storage::nodes::KnownAttributeSets>,
}

/// Where a request came from: the peer address, and what a proxy claims it forwarded for (recorded as a claim,
/// since any client can send the header).
pub fn source_of(request: &actix_web::HttpRequest) -> Option<String> {
    let peer = request.peer_addr().map(|addr| addr.ip().to_string());
    let forwarded = request
        .headers()
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        })
        .filter(|value| !value.is_empty());
    match (peer, forwarded) {
        (Some(peer), Some(forwarded)) => Some(format!("{peer} (forwarded for {forwarded})")),
        (peer, None) => peer,
        (None, Some(forwarded)) => Some(format!("forwarded for {forwarded}")),
    }
}
