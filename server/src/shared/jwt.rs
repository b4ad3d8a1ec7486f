//! OIDC JWT bearer tokens for the API: signatures checked against the issuer's JWKS (fetched at start, cached,
//! refreshed when a token names an unknown key), `iss`, `aud`, `exp` and `nbf` checked, and only the asymmetric
//! algorithms the issuer advertises accepted: `alg: none` and HMAC tokens never are.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use crate::domain::role::Role;

/// A token naming an unknown key makes the verifier fetch the JWKS again, at most this often.
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(10);
/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 30;

#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub audience: String,
    /// The claim whose values map to roles (`groups` by default).
    pub role_claim: String,
    /// Claim value → role; a person gets the highest role of their values.
    pub roles: Vec<(String, Role)>,
}

impl OidcSettings {
    /// The highest role the values of the role claim map to; `None` when none maps (or the claim is absent).
    pub fn role_of(&self, claims: &Value) -> Option<Role> {
        let values: Vec<&str> = match &claims[self.role_claim.as_str()] {
            Value::String(value) => vec![value.as_str()],
            Value::Array(values) => values.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        self.roles
            .iter()
            .filter(|(value, _)| values.contains(&value.as_str()))
            .map(|(_, role)| *role)
            .max()
    }

    /// How to name a person in logs and pages: their e-mail address, else their subject.
    pub fn name_of(claims: &Value) -> String {
        claims["email"]
            .as_str()
            .or_else(|| claims["sub"].as_str())
            .unwrap_or("unknown")
            .to_owned()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JwtSetupError {
    #[error("cannot read the OpenID configuration of {issuer}: {reason}")]
    Discovery { issuer: String, reason: String },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the token maps to no role")]
    NoRole,
}

#[derive(Debug)]
pub struct JwtVerifier {
    settings: OidcSettings,
    jwks_uri: String,
    algorithms: HashSet<Algorithm>,
    keys: RwLock<JwkSet>,
    last_refresh: Mutex<Instant>,
    refresh_every: Duration,
    client: reqwest::Client,
}

fn asymmetric(name: &str) -> Option<Algorithm> {
    match name {
        "RS256" => Some(Algorithm::RS256),
        "RS384" => Some(Algorithm::RS384),
        "RS512" => Some(Algorithm::RS512),
        "PS256" => Some(Algorithm::PS256),
        "PS384" => Some(Algorithm::PS384),
        "PS512" => Some(Algorithm::PS512),
        "ES256" => Some(Algorithm::ES256),
        "ES384" => Some(Algorithm::ES384),
        "EdDSA" => Some(Algorithm::EdDSA),
        _ => None,
    }
}

impl JwtVerifier {
    /// Reads the issuer's discovery document and its JWKS.
    pub async fn discover(settings: OidcSettings) -> Result<Self, JwtSetupError> {
        let issuer = settings.issuer.clone();
        let error = |reason: String| JwtSetupError::Discovery {
            issuer: issuer.clone(),
            reason,
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|err| error(err.to_string()))?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            settings.issuer.trim_end_matches('/')
        );
        let document: Value = client
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|err| error(err.to_string()))?
            .json()
            .await
            .map_err(|err| error(err.to_string()))?;
        if document["issuer"].as_str() != Some(issuer.as_str()) {
            return Err(error(format!("it names the issuer {}", document["issuer"])));
        }
        let jwks_uri = document["jwks_uri"]
            .as_str()
            .ok_or_else(|| error("it has no jwks_uri".to_owned()))?
            .to_owned();
        let mut algorithms: HashSet<Algorithm> = document["id_token_signing_alg_values_supported"]
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .filter_map(|value| value.as_str().and_then(asymmetric))
                    .collect()
            })
            .unwrap_or_default();
        if algorithms.is_empty() {
            // RS256 is the one algorithm every OpenID provider must support.
            algorithms.insert(Algorithm::RS256);
        }
        let verifier = JwtVerifier {
            settings,
            jwks_uri,
            algorithms,
            keys: RwLock::new(JwkSet { keys: Vec::new() }),
            last_refresh: Mutex::new(Instant::now() - REFRESH_AT_MOST_EVERY),
            refresh_every: REFRESH_AT_MOST_EVERY,
            client,
        };
        verifier.refresh().await.map_err(error)?;
        Ok(verifier)
    }

    /// How often at most unknown keys make it fetch the JWKS again (10 s unless changed, e.g. by tests).
    pub fn set_refresh_interval(&mut self, every: Duration) {
        self.refresh_every = every;
    }

    async fn refresh(&self) -> Result<(), String> {
        let mut last = self.last_refresh.lock().await;
        if last.elapsed() < self.refresh_every {
            return Ok(());
        }
        *last = Instant::now();
        let keys: JwkSet = self
            .client
            .get(&self.jwks_uri)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|err| err.to_string())?
            .json()
            .await
            .map_err(|err| err.to_string())?;
        *self.keys.write().await = keys;
        Ok(())
    }

    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        let keys = self.keys.read().await;
        keys.find(kid)
            .and_then(|jwk| DecodingKey::from_jwk(jwk).ok())
    }

    /// Verifies a token; returns how to name its holder, their subject, and the role its claims map to.
    pub async fn verify(&self, token: &str) -> Result<(String, String, Role), JwtError> {
        let invalid = |reason: &str| JwtError::Invalid(reason.to_owned());
        let header = decode_header(token).map_err(|_| invalid("malformed"))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(invalid("its algorithm is not one the issuer signs with"));
        }
        let access_token_typ = header.typ.as_deref().is_some_and(|typ| {
            typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
        });
        let kid = header.kid.ok_or_else(|| invalid("it names no key"))?;
        let key = match self.key(&kid).await {
            Some(key) => key,
            None => {
                // The issuer may have rotated its keys since the last fetch.
                if let Err(err) = self.refresh().await {
                    tracing::warn!(error = %err, "cannot refresh the issuer's keys");
                }
                self.key(&kid)
                    .await
                    .ok_or_else(|| invalid("it names a key the issuer does not publish"))?
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = decode::<Value>(token, &key, &validation)
            .map_err(|err| JwtError::Invalid(err.kind_name()))?
            .claims;
        if !access_token_typ && is_id_token(&claims) {
            return Err(invalid(
                "it is an ID token, which proves a login to kubeward's pages, not API access",
            ));
        }
        let role = self.settings.role_of(&claims).ok_or(JwtError::NoRole)?;
        let subject = claims["sub"].as_str().unwrap_or_default().to_owned();
        Ok((OidcSettings::name_of(&claims), subject, role))
    }
}

/// Whether claims are an ID token's rather than an access token's: Keycloak says so (`typ: ID`); elsewhere
/// an ID token carries the login's `nonce` or the hashes binding it to a code or access token, and never a
/// `scope`, which access tokens carry. ID tokens travel through browsers and logs; they are not API
/// credentials. Access tokens typed `at+jwt` (RFC 9068) are never taken for one.
fn is_id_token(claims: &Value) -> bool {
    if claims["typ"]
        .as_str()
        .is_some_and(|typ| typ.eq_ignore_ascii_case("ID"))
    {
        return true;
    }
    let login_bound = ["nonce", "at_hash", "c_hash"]
        .iter()
        .any(|claim| claims.get(claim).is_some());
    let scoped = claims.get("scope").is_some() || claims.get("scp").is_some();
    login_bound && !scoped
}

/// A short, stable name for a validation failure (never the token's content).
trait KindName {
    fn kind_name(&self) -> String;
}

impl KindName for jsonwebtoken::errors::Error {
    fn kind_name(&self) -> String {
        use jsonwebtoken::errors::ErrorKind;
        match self.kind() {
            ErrorKind::ExpiredSignature => "expired",
            ErrorKind::ImmatureSignature => "not valid yet",
            ErrorKind::InvalidIssuer => "issued by another issuer",
            ErrorKind::InvalidAudience => "meant for another audience",
            ErrorKind::InvalidSignature => "bad signature",
            ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
            ErrorKind::InvalidAlgorithm => "its algorithm does not fit the key",
            _ => "malformed",
        }
        .to_owned()
    }
}
