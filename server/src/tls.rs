//! The server's own TLS: a certificate and key read from PEM files, read again whenever either file changes
//! (a renewed certificate from cert-manager or any other issuer is served without a restart), and a small
//! generator of a private CA and a server certificate for installations that have no issuer of their own.
//!
//! A reload that fails (a half-written file, a key that does not match) keeps the certificate in use and
//! says why in the log: a renewal gone wrong must not take the server off the air.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// How often the certificate files are looked at for a change.
pub const RELOAD_CHECK_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("the certificate could not be made: {0}")]
    Generate(String),
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// Reads a certificate chain and its private key.
pub fn load(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|err| file_error(cert_path, err))?
        .collect::<Result<_, _>>()
        .map_err(|err| file_error(cert_path, err))?;
    if chain.is_empty() {
        return Err(file_error(cert_path, "holds no PEM certificate"));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|err| file_error(key_path, err))?;
    let signing_key = any_supported_type(&key)
        .map_err(|err| file_error(key_path, format!("not a usable private key: {err}")))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified
        .keys_match()
        .map_err(|_| file_error(key_path, "is not the key of the certificate"))?;
    Ok(certified)
}

/// Serves whichever certificate was loaded last.
#[derive(Debug)]
pub struct ReloadingCertificate {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|current| current.clone())
    }
}

/// When each file last changed, and how long it is: a change in either means "read them again".
fn stamp(paths: [&Path; 2]) -> Option<[(SystemTime, u64); 2]> {
    let read = |path: &Path| {
        let metadata = std::fs::metadata(path).ok()?;
        Some((metadata.modified().ok()?, metadata.len()))
    };
    Some([read(paths[0])?, read(paths[1])?])
}

impl ReloadingCertificate {
    /// Loads the files once; an error here stops the server from starting.
    pub fn open(cert_path: &Path, key_path: &Path) -> Result<Arc<Self>, TlsError> {
        let loaded = load(cert_path, key_path)?;
        Ok(Arc::new(ReloadingCertificate {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            current: RwLock::new(Arc::new(loaded)),
        }))
    }

    /// The rustls configuration that serves this certificate.
    pub fn server_config(self: &Arc<Self>) -> rustls::ServerConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions();
        let resolver: Arc<dyn ResolvesServerCert> = self.clone();
        match builder {
            Ok(builder) => builder.with_no_client_auth().with_cert_resolver(resolver),
            // The ring provider supports the safe defaults; keep the library's defaults otherwise.
            Err(_) => rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_cert_resolver(resolver),
        }
    }

    /// Looks at the files every [`RELOAD_CHECK_EVERY`] and reloads them when they change; runs until the
    /// task is dropped.
    pub async fn watch(self: Arc<Self>) {
        let mut seen = stamp([&self.cert_path, &self.key_path]);
        loop {
            tokio::time::sleep(RELOAD_CHECK_EVERY).await;
            let now = stamp([&self.cert_path, &self.key_path]);
            if now.is_none() || now == seen {
                continue;
            }
            match load(&self.cert_path, &self.key_path) {
                Ok(loaded) => {
                    if let Ok(mut current) = self.current.write() {
                        *current = Arc::new(loaded);
                    }
                    seen = now;
                    tracing::info!(cert = %self.cert_path.display(), "TLS certificate reloaded");
                }
                // A renewal may be half written: try again at the next look, keep serving the old one.
                Err(err) => {
                    tracing::error!(error = %err, "TLS certificate not reloaded; the previous one is still served")
                }
            }
        }
    }
}

/// A private CA and a server certificate it signs, PEM-encoded.
#[derive(Debug)]
pub struct Generated {
    pub ca_cert: String,
    pub cert: String,
    pub key: String,
}

/// Makes a CA and a certificate for `names` (DNS names or IP addresses), valid for `days`.
pub fn generate(names: &[String], days: u32) -> Result<Generated, TlsError> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let error = |err: rcgen::Error| TlsError::Generate(err.to_string());
    let now = time::OffsetDateTime::now_utc();
    let until = now + time::Duration::days(i64::from(days));
    let ca_key = KeyPair::generate().map_err(error)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(error)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kubeward private CA");
    ca_params.not_before = now;
    ca_params.not_after = until;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(error)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().map_err(error)?;
    let mut params = CertificateParams::new(names.to_vec()).map_err(error)?;
    if let Some(first) = names.first() {
        params
            .distinguished_name
            .push(DnType::CommonName, first.as_str());
    }
    params.not_before = now;
    params.not_after = until;
    let cert = params.signed_by(&key, &issuer).map_err(error)?;
    Ok(Generated {
        ca_cert: ca_cert.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// Writes `ca.crt`, `tls.crt` and `tls.key` (the names of a Kubernetes TLS Secret) into `dir`; the key is
/// readable by its owner only.
pub fn write_generated(generated: &Generated, dir: &Path) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir).map_err(|err| file_error(dir, err))?;
    for (name, text, mode) in [
        ("ca.crt", &generated.ca_cert, 0o644),
        ("tls.crt", &generated.cert, 0o644),
        ("tls.key", &generated.key, 0o600),
    ] {
        let path = dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&path)
            .map_err(|err| file_error(&path, err))?;
        file.write_all(text.as_bytes())
            .map_err(|err| file_error(&path, err))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a test should stop loudly at the first unexpected error"
    )]

    use super::*;

    #[test]
    fn a_generated_certificate_loads_and_a_foreign_key_is_refused() {
        let dir = tempfile_dir();
        let first = generate(&["kubeward.example".to_owned(), "127.0.0.1".to_owned()], 30).unwrap();
        write_generated(&first, &dir).unwrap();
        load(&dir.join("tls.crt"), &dir.join("tls.key")).unwrap();
        let other = generate(&["other.example".to_owned()], 30).unwrap();
        std::fs::write(dir.join("tls.key"), other.key).unwrap();
        let err = load(&dir.join("tls.crt"), &dir.join("tls.key")).unwrap_err();
        assert!(
            err.to_string()
                .contains("is not the key of the certificate"),
            "{err}"
        );
        std::fs::write(dir.join("tls.crt"), "not pem").unwrap();
        assert!(load(&dir.join("tls.crt"), &dir.join("tls.key")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kubeward-tls-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
