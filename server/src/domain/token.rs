//! Agent tokens: random bearer secrets, shown once, stored only as hashes.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Every agent token starts with this, so that leaked tokens are recognisable by secret scanners.
const PREFIX: &str = "kwa_";
/// API tokens (for people's scripts and integrations) start with this.
const API_PREFIX: &str = "kwt_";
/// 256 random bits; well above the 128 the design asks for.
const SECRET_BYTES: usize = 32;

/// A freshly issued token. Its `Debug` never shows the secret.
pub struct NewAgentToken {
    secret: SecretString,
}

impl fmt::Debug for NewAgentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewAgentToken(<redacted>)")
    }
}

fn random_token(prefix: &str) -> SecretString {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    SecretString::from(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

impl NewAgentToken {
    pub fn generate() -> Self {
        NewAgentToken {
            secret: random_token(PREFIX),
        }
    }

    /// A token for the API rather than for an agent.
    pub fn generate_api() -> Self {
        NewAgentToken {
            secret: random_token(API_PREFIX),
        }
    }

    /// The token itself, to be shown to the admin exactly once.
    pub fn reveal(&self) -> &str {
        self.secret.expose_secret()
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.secret.expose_secret())
    }
}

/// The SHA-256 of a token: what the database keeps. A slow hash is not needed: the token is 256 random bits,
/// not a password a person chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn of(token: &str) -> Self {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }
}

/// Which kind of token a bearer token is, by its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Agent,
    Api,
}

/// A bearer token as presented by a client, checked for shape before any database lookup.
pub struct PresentedToken(SecretString, TokenKind);

impl fmt::Debug for PresentedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresentedToken(<redacted>)")
    }
}

impl PresentedToken {
    /// Accepts only what an issued token can look like.
    pub fn parse(text: &str) -> Option<Self> {
        let (body, kind) = match text.strip_prefix(PREFIX) {
            Some(body) => (body, TokenKind::Agent),
            None => (text.strip_prefix(API_PREFIX)?, TokenKind::Api),
        };
        let valid = body.len() == 43
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        valid.then(|| PresentedToken(SecretString::from(text.to_owned()), kind))
    }

    pub fn kind(&self) -> TokenKind {
        self.1
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.0.expose_secret())
    }
}

/// An API token's name, as people see it in listings: 1 to 100 characters without control characters
/// (blanks around it dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenName(String);

/// How long an API token may live at most: ten years, which also keeps its end representable.
pub const MAX_TOKEN_DAYS: i64 = 3650;

impl TokenName {
    pub fn parse(text: &str) -> Result<TokenName, &'static str> {
        let name = text.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err("must be 1 to 100 characters without control characters");
        }
        Ok(TokenName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// When a token issued now for `lifetime` ends; `None` unless the lifetime is above zero and at most
/// [`MAX_TOKEN_DAYS`].
pub fn expiry_after(
    now: time::OffsetDateTime,
    lifetime: time::Duration,
) -> Option<time::OffsetDateTime> {
    (lifetime.is_positive() && lifetime <= time::Duration::days(MAX_TOKEN_DAYS))
        .then(|| now + lifetime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_parse_back_and_hash_alike() {
        let token = NewAgentToken::generate();
        let presented = PresentedToken::parse(token.reveal()).unwrap();
        assert_eq!(presented.hash(), token.hash());
        assert_ne!(NewAgentToken::generate().reveal(), token.reveal());
        assert!(!format!("{token:?}{presented:?}").contains(token.reveal()));
        assert_eq!(presented.kind(), TokenKind::Agent);
        let api = NewAgentToken::generate_api();
        assert!(api.reveal().starts_with("kwt_"));
        assert_eq!(
            PresentedToken::parse(api.reveal()).unwrap().kind(),
            TokenKind::Api
        );
    }

    #[test]
    fn malformed_tokens_are_refused_before_any_lookup() {
        for bad in [
            "",
            "kwa_",
            "Bearer x",
            "kwa_' OR 1=1 --",
            &format!("kwa_{}", "a".repeat(44)),
        ] {
            assert!(PresentedToken::parse(bad).is_none(), "{bad}");
        }
    }
}
