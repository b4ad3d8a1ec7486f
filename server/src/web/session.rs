//! Session and login cookies: encrypted and authenticated with the server's cookie key, `HttpOnly`,
//! `SameSite=Lax`, and `Secure` when the server is reached over HTTPS. The session cookie holds only a random
//! id; the session itself (who, which role, its form token) is a row in PostgreSQL found by the id's hash.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, CookieJar, SameSite, time::Duration as CookieDuration};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::WebConfig;
use crate::domain::role::Role;

pub const SESSION_COOKIE: &str = "kubeward_session";
pub const LOGIN_COOKIE: &str = "kubeward_login";

/// Who is looking at a page.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// `oidc:<sub>`, or `local` in local mode: who they are for the audit trail and separation of duties.
    pub actor_id: String,
    pub name: String,
    pub role: Role,
    /// The token every state-changing form of this session must carry.
    pub csrf_token: String,
    /// Local mode: nobody logged in; authentication is off.
    pub local_mode: bool,
}

impl Visitor {
    /// The visitor as the audit trail names them, with the request's origin.
    pub fn actor(&self, request: &HttpRequest) -> crate::domain::actor::Actor {
        crate::domain::actor::Actor {
            id: self.actor_id.clone(),
            name: self.name.clone(),
            source: crate::shared::source_of(request),
        }
    }

    /// Whether a submitted form carries this session's token (compared in constant time).
    pub fn sent_form(&self, token: &str) -> bool {
        let (a, b) = (token.as_bytes(), self.csrf_token.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// 32 random bytes, URL-safe: session ids, form tokens.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a session id.
pub fn id_hash(id: &str) -> Vec<u8> {
    Sha256::digest(id.as_bytes()).to_vec()
}

/// An encrypted cookie holding `value`; `max_age` `None` ends with the browser session.
pub fn sealed(
    config: &WebConfig,
    name: &'static str,
    value: String,
    max_age: Option<CookieDuration>,
) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .secure(config.secure_cookies)
        .same_site(SameSite::Lax)
        .finish();
    if let Some(max_age) = max_age {
        cookie.set_max_age(max_age);
    }
    let mut jar = CookieJar::new();
    jar.private_mut(&config.cookie_key).add(cookie);
    jar.get(name)
        .cloned()
        .unwrap_or_else(|| Cookie::new(name, ""))
}

/// The decrypted value of a cookie, or `None` when it is absent, forged or made with another key.
pub fn opened(config: &WebConfig, request: &HttpRequest, name: &'static str) -> Option<String> {
    let cookie = request.cookie(name)?;
    let mut jar = CookieJar::new();
    jar.add_original(cookie);
    jar.private(&config.cookie_key)
        .get(name)
        .map(|cookie| cookie.value().to_owned())
}

/// A cookie that removes `name` from the browser.
pub fn removal(config: &WebConfig, name: &'static str) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, "")
        .path("/")
        .http_only(true)
        .secure(config.secure_cookies)
        .same_site(SameSite::Lax)
        .finish();
    cookie.make_removal();
    cookie
}

/// The cookie key from `path` (128 hex digits); when `generate` and the file does not exist, a new random key
/// is written there (mode 0600) and used from then on, so sessions survive restarts.
pub fn cookie_key(
    path: &std::path::Path,
    generate: bool,
) -> Result<actix_web::cookie::Key, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim())
                .ok()
                .filter(|bytes| bytes.len() == 64)
                .ok_or_else(|| {
                    format!(
                        "{} must hold 128 hex digits (a 64-byte key)",
                        path.display()
                    )
                })?;
            Ok(actix_web::cookie::Key::from(&bytes))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && generate => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut bytes = [0u8; 64];
            rand::rng().fill_bytes(&mut bytes);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
            }
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|err| format!("cannot create {}: {err}", path.display()))?;
            writeln!(file, "{}", hex::encode(bytes))
                .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
            tracing::info!(path = %path.display(), "generated the session cookie key");
            Ok(actix_web::cookie::Key::from(&bytes))
        }
        Err(err) => Err(format!("cannot read {}: {err}", path.display())),
    }
}
