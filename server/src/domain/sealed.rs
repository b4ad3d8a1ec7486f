//! Secrets the server must be able to read back (a webhook's signing secret, which HMAC needs in clear) are
//! kept sealed: ChaCha20-Poly1305 under a key derived from the server's session key, so a copy of the
//! database alone does not reveal them. Sealed text reads `v1:` and the base64 of nonce and ciphertext;
//! text without that prefix was stored before sealing and is read as it is, until it is sealed at start.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// What sealed text starts with (`storage::webhooks::unsealed_secrets` looks for it too).
const PREFIX: &str = "v1:";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the sealed secret cannot be opened: the server key changed, or the value was altered")]
    CannotOpen,
    #[error("no random bytes could be had for a nonce")]
    Random,
    #[error("the sealing key could not be derived from the server key")]
    Key,
}

/// Seals and opens secrets with one key.
pub struct Sealer {
    key: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

/// Derives the sealing key from the server key, for this one use (HKDF-SHA256).
fn derive(server_key: &[u8]) -> Result<[u8; 32], SealError> {
    struct Length;
    impl ring::hkdf::KeyType for Length {
        fn len(&self) -> usize {
            32
        }
    }
    let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"kubeward sealed secrets");
    let info: &[&[u8]] = &[b"webhook secrets v1"];
    let mut key = [0u8; 32];
    salt.extract(server_key)
        .expand(info, Length)
        .and_then(|okm| okm.fill(&mut key))
        .map_err(|_| SealError::Key)?;
    Ok(key)
}

impl Sealer {
    pub fn new(server_key: &[u8]) -> Result<Self, SealError> {
        let key = UnboundKey::new(&CHACHA20_POLY1305, &derive(server_key)?)
            .map_err(|_| SealError::Key)?;
        Ok(Sealer {
            key: LessSafeKey::new(key),
            random: SystemRandom::new(),
        })
    }

    pub fn seal(&self, secret: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let mut data = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(PREFIX),
                &mut data,
            )
            .map_err(|_| SealError::Random)?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&data);
        Ok(format!("{PREFIX}{}", STANDARD_NO_PAD.encode(sealed)))
    }

    /// The secret in clear: opened when sealed, as it is when stored before sealing.
    pub fn open(&self, stored: &str) -> Result<String, SealError> {
        let Some(encoded) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let mut sealed = STANDARD_NO_PAD
            .decode(encoded)
            .map_err(|_| SealError::CannotOpen)?;
        if sealed.len() < NONCE_LEN {
            return Err(SealError::CannotOpen);
        }
        let mut ciphertext = sealed.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&sealed).map_err(|_| SealError::CannotOpen)?;
        let clear = self
            .key
            .open_in_place(nonce, Aad::from(PREFIX), &mut ciphertext)
            .map_err(|_| SealError::CannotOpen)?;
        String::from_utf8(clear.to_vec()).map_err(|_| SealError::CannotOpen)
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a test should stop loudly at the first unexpected error"
    )]

    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_its_key_only_and_tampering_is_seen() {
        let sealer = Sealer::new(&[7u8; 64]).unwrap();
        let sealed = sealer.seal("a-webhook-secret-0123456789").unwrap();
        assert!(sealed.starts_with(PREFIX));
        assert!(!sealed.contains("a-webhook-secret"));
        assert_ne!(
            sealed,
            sealer.seal("a-webhook-secret-0123456789").unwrap(),
            "fresh nonces"
        );
        assert_eq!(sealer.open(&sealed).unwrap(), "a-webhook-secret-0123456789");
        let other = Sealer::new(&[8u8; 64]).unwrap();
        assert_eq!(other.open(&sealed), Err(SealError::CannotOpen));
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(sealer.open(&altered), Err(SealError::CannotOpen));
        assert_eq!(sealer.open("v1:"), Err(SealError::CannotOpen));
        assert_eq!(
            sealer.open("stored-before-sealing").unwrap(),
            "stored-before-sealing"
        );
        assert_ne!(derive(&[7u8; 64]).unwrap(), [0u8; 32]);
    }
}
