//! OIDC JWT bearer tokens on the API, against an issuer served by the test: what is accepted, and every
//! forgery that must not be.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{TestServer, at, report};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use kubeward_benchmark::Status;
use kubeward_server::domain::role::Role;
use kubeward_server::shared::jwt::{JwtVerifier, OidcSettings};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const AUDIENCE: &str = "kubeward";

struct Signer {
    kid: String,
    key: EncodingKey,
    jwk: Value,
}

fn signer(kid: &str) -> Signer {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let raw = pair.public_key_raw().to_vec();
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&raw[1..33]), "y": URL_SAFE_NO_PAD.encode(&raw[33..65]),
    });
    Signer {
        kid: kid.to_owned(),
        key: EncodingKey::from_ec_der(&pair.serialize_der()),
        jwk,
    }
}

/// An issuer serving its discovery document and a JWKS the test can change.
async fn issuer(keys: Arc<Mutex<Vec<Value>>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let issuer = base.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut buffer = vec![0u8; 4096];
            let read = stream.read(&mut buffer).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buffer[..read]).into_owned();
            let body = if request.starts_with("GET /.well-known/openid-configuration") {
                json!({
                    "issuer": issuer,
                    "jwks_uri": format!("{issuer}/jwks"),
                    "id_token_signing_alg_values_supported": ["ES256"],
                })
            } else {
                json!({ "keys": keys.lock().unwrap().clone() })
            }
            .to_string();
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    base
}

fn claims(issuer: &str, groups: &[&str]) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({ "iss": issuer, "aud": AUDIENCE, "sub": "u-1", "email": "ada@example.com", "groups": groups, "iat": now, "nbf": now - 5, "exp": now + 300 })
}

fn sign(signer: &Signer, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(signer.kid.clone());
    encode(&header, claims, &signer.key).unwrap()
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn issuer_tokens_are_accepted_with_their_role_and_forgeries_refused(pool: PgPool) {
    let first = signer("k1");
    let keys = Arc::new(Mutex::new(vec![first.jwk.clone()]));
    let base = issuer(keys.clone()).await;
    let mut verifier = JwtVerifier::discover(OidcSettings {
        issuer: base.clone(),
        audience: AUDIENCE.to_owned(),
        role_claim: "groups".to_owned(),
        roles: vec![
            ("kubeward-viewers".to_owned(), Role::Viewer),
            ("kubeward-auditors".to_owned(), Role::Auditor),
        ],
    })
    .await
    .unwrap();
    verifier.set_refresh_interval(Duration::from_millis(0));
    let server = TestServer::start_with_jwt(pool.clone(), Some(Arc::new(verifier))).await;
    let (_, agent) = server.enroll("prod").await;
    assert_eq!(
        server
            .post(&agent, &report("cp-1", at(0), &[("1.1.1", Status::Fail)]))
            .await
            .status(),
        201
    );
    let finding: i64 = sqlx::query_scalar("SELECT id FROM findings")
        .fetch_one(&pool)
        .await
        .unwrap();

    let status = |token: String, method: reqwest::Method| {
        let request = server
            .client
            .request(
                method.clone(),
                server.url(&format!("/api/v1/findings/{finding}")),
            )
            .bearer_auth(token);
        let request = if method == reqwest::Method::PATCH {
            request
                .header("content-type", "application/json")
                .body(r#"{"ticket_key": "J-1", "ticket_url": "https://t.example/J-1"}"#)
        } else {
            request
        };
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let auditor = sign(&first, &claims(&base, &["kubeward-auditors", "other"]));
    assert_eq!(status(auditor.clone(), reqwest::Method::GET).await, 200);
    assert_eq!(status(auditor, reqwest::Method::PATCH).await, 200);
    let viewer = sign(&first, &claims(&base, &["kubeward-viewers"]));
    assert_eq!(status(viewer.clone(), reqwest::Method::GET).await, 200);
    assert_eq!(status(viewer, reqwest::Method::PATCH).await, 403);
    assert_eq!(
        status(sign(&first, &claims(&base, &[])), reqwest::Method::GET).await,
        403,
        "no mapped role"
    );

    let mut other_issuer = claims(&base, &["kubeward-auditors"]);
    other_issuer["iss"] = json!("http://evil.example");
    let mut other_audience = claims(&base, &["kubeward-auditors"]);
    other_audience["aud"] = json!("another-app");
    let mut expired = claims(&base, &["kubeward-auditors"]);
    expired["exp"] = json!(time::OffsetDateTime::now_utc().unix_timestamp() - 3600);
    let mut not_yet = claims(&base, &["kubeward-auditors"]);
    not_yet["nbf"] = json!(time::OffsetDateTime::now_utc().unix_timestamp() + 3600);
    let mut no_audience = claims(&base, &["kubeward-auditors"]);
    no_audience.as_object_mut().unwrap().remove("aud");
    let stranger = signer("k1");
    let body = URL_SAFE_NO_PAD.encode(claims(&base, &["kubeward-auditors"]).to_string());
    let alg_none = format!(
        "{}.{body}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#)
    );
    let public_key = first.jwk.to_string();
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some("k1".to_owned());
    let hs256_with_public_key = encode(
        &hs_header,
        &claims(&base, &["kubeward-auditors"]),
        &EncodingKey::from_secret(public_key.as_bytes()),
    )
    .unwrap();
    let good = sign(&first, &claims(&base, &["kubeward-auditors"]));
    let (head, rest) = good.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let tampered_payload = format!(
        "{head}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(claims(&base, &["kubeward-admins"]).to_string())
    );
    for (name, token) in [
        ("another issuer", sign(&first, &other_issuer)),
        ("another audience", sign(&first, &other_audience)),
        ("no audience", sign(&first, &no_audience)),
        ("expired", sign(&first, &expired)),
        ("not valid yet", sign(&first, &not_yet)),
        (
            "signed by a stranger's key",
            sign(&stranger, &claims(&base, &["kubeward-auditors"])),
        ),
        ("alg none", alg_none),
        (
            "HS256 signed with the issuer's public key",
            hs256_with_public_key,
        ),
        ("tampered payload", tampered_payload),
        ("not a JWT", "hello".to_owned()),
    ] {
        assert_eq!(status(token, reqwest::Method::GET).await, 401, "{name}");
    }

    // ID tokens prove a login to the pages; they are refused as API credentials, access tokens are not.
    let with = |extra: Value| {
        let mut claims = claims(&base, &["kubeward-auditors"]);
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        claims
    };
    for (name, id_token) in [
        ("a login's nonce", with(json!({"nonce": "n-1"}))),
        ("an at_hash", with(json!({"at_hash": "abc"}))),
        ("Keycloak's typ", with(json!({"typ": "ID"}))),
    ] {
        assert_eq!(
            status(sign(&first, &id_token), reqwest::Method::GET).await,
            401,
            "{name}"
        );
    }
    let keycloak_access = with(json!({"typ": "Bearer", "nonce": "n-1", "scope": "openid email"}));
    assert_eq!(
        status(sign(&first, &keycloak_access), reqwest::Method::GET).await,
        200
    );
    let mut typed = Header::new(Algorithm::ES256);
    typed.kid = Some(first.kid.clone());
    typed.typ = Some("at+jwt".to_owned());
    let rfc9068 = encode(&typed, &with(json!({"nonce": "n-1"})), &first.key).unwrap();
    assert_eq!(status(rfc9068, reqwest::Method::GET).await, 200);

    // Key rotation: a token under a key published after start is accepted once the JWKS is fetched again.
    let rotated = signer("k2");
    let before = sign(&rotated, &claims(&base, &["kubeward-auditors"]));
    assert_eq!(
        status(before.clone(), reqwest::Method::GET).await,
        401,
        "not published yet"
    );
    keys.lock().unwrap().push(rotated.jwk.clone());
    assert_eq!(
        status(before, reqwest::Method::GET).await,
        200,
        "refreshed on an unknown kid"
    );
}
