//! Delivering one report to the server: HTTPS verified against the system's roots or `--ca-file`, plain HTTP
//! only to a loopback address or when explicitly allowed, and a verdict on what to do after each attempt.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

/// How long one delivery attempt may take, connection included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of the server's answer kept for the log.
const MAX_ANSWER_BYTES: u64 = 8 * 1024;
/// Reports larger than this travel gzipped. A cluster report of many objects repeats the same kinds,
/// namespaces, paths and expectations and shrinks about tenfold; a node report is far smaller and goes as is.
/// The server applies its size limit to the inflated report either way.
const GZIP_ABOVE_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("--server {0:?} is not an http:// or https:// URL")]
    BadUrl(String),
    #[error(
        "--server {0} uses plain HTTP to an address that is not loopback; use https://, or pass --insecure-http \
         if the network in between is trusted"
    )]
    PlainHttp(String),
    #[error("--ca-file {path}: {reason}")]
    CaFile { path: String, reason: String },
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 201 (stored now) or 200 (stored before): either way the report is on the server.
    Delivered { status: u16 },
    /// A refusal that retrying cannot change (400, 401, 403, 409, 413, 415, ...).
    Permanent { status: u16, message: String },
    /// Worth another try later: connection errors, 5xx, 408, 429.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
}

pub struct Deliverer {
    agent: ureq::Agent,
    url: String,
    base: String,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Whether a URL's host is a loopback address, where plain HTTP never leaves the machine.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn host_of(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.starts_with('[') {
        authority
            .split(']')
            .next()
            .map_or(authority, |host| host.trim_start_matches('['))
    } else {
        authority.split(':').next().unwrap_or(authority)
    }
}

fn load_ca(path: &Path) -> Result<Vec<Certificate<'static>>, SetupError> {
    let error = |reason: String| SetupError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|err| error(err.to_string()))?;
    let mut certificates = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(certificate) = item.map_err(|err| error(err.to_string()))? {
            certificates.push(certificate);
        }
    }
    if certificates.is_empty() {
        return Err(error("holds no PEM certificate".to_owned()));
    }
    Ok(certificates)
}

impl Deliverer {
    pub fn new(
        server: &str,
        ca_file: Option<&Path>,
        insecure_http: bool,
    ) -> Result<Self, SetupError> {
        let server = server.trim_end_matches('/');
        if let Some(rest) = server.strip_prefix("http://") {
            if !insecure_http && !is_loopback_host(host_of(rest)) {
                return Err(SetupError::PlainHttp(server.to_owned()));
            }
        } else if !server.starts_with("https://") {
            return Err(SetupError::BadUrl(server.to_owned()));
        }
        let roots = match ca_file {
            Some(path) => RootCerts::Specific(Arc::new(load_ca(path)?)),
            None => RootCerts::PlatformVerifier,
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(ATTEMPT_TIMEOUT))
            .http_status_as_error(false)
            // A report must reach the server it was meant for, not wherever a redirect points.
            .max_redirects(0)
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .user_agent(format!("kubeward-agent/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Deliverer {
            agent,
            url: format!("{server}/api/v1/reports"),
            base: server.to_owned(),
        })
    }

    /// One attempt to deliver one report.
    pub fn deliver(&self, token: &str, report: &[u8]) -> Outcome {
        let request = self
            .agent
            .post(&self.url)
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json");
        let response = match gzipped(report) {
            Some(packed) => request.header("Content-Encoding", "gzip").send(&packed[..]),
            None => request.send(report),
        };
        let mut response = match response {
            Ok(response) => response,
            Err(err) => {
                return Outcome::Retry {
                    reason: describe(&err),
                    after: None,
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let answer = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .unwrap_or_default();
        classify(status, &answer, retry_after)
    }
}

impl Deliverer {
    /// A cluster's context from the server (`GET /api/v1/clusters/{name}/context`), as its JSON body.
    pub fn context(&self, token: &str, cluster: &str) -> Result<Vec<u8>, String> {
        let encoded: String = cluster
            .bytes()
            .map(|byte| {
                if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.' || byte == b'_' {
                    (byte as char).to_string()
                } else {
                    format!("%{byte:02X}")
                }
            })
            .collect();
        let url = format!("{}/api/v1/clusters/{encoded}/context", self.base);
        let mut response = self
            .agent
            .get(&url)
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .map_err(|err| {
                format!(
                    "cannot fetch the context of cluster {cluster}: {}",
                    describe(&err)
                )
            })?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_CONTEXT_BYTES)
            .read_to_vec()
            .map_err(|err| format!("cannot read the context of cluster {cluster}: {err}"))?;
        if status != 200 {
            let detail = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|problem| problem["detail"].as_str().map(str::to_owned))
                .unwrap_or_default();
            return Err(format!(
                "the server answered {status} for the context of cluster {cluster}{}{detail}",
                if detail.is_empty() { "" } else { ": " }
            ));
        }
        Ok(body)
    }
}

/// The largest context read from the server: a very large cluster's roles, bindings and namespaces.
const MAX_CONTEXT_BYTES: u64 = 256 * 1024 * 1024;

/// The report gzipped, when it is large enough for that to pay.
fn gzipped(report: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    if report.len() <= GZIP_ABOVE_BYTES {
        return None;
    }
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(report.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing into memory cannot fail short of allocation failure; sent as is if it somehow does.
    encoder.write_all(report).ok()?;
    encoder.finish().ok()
}

fn describe(err: &ureq::Error) -> String {
    // Errors name hosts and TLS failures; they never carry the token, which is only in a header.
    err.to_string()
}

/// What a status means for the report.
pub fn classify(status: u16, answer: &str, retry_after: Option<Duration>) -> Outcome {
    match status {
        200 | 201 => Outcome::Delivered { status },
        408 | 429 | 500..=599 => Outcome::Retry {
            reason: format!("the server answered {status}"),
            after: retry_after,
        },
        _ => Outcome::Permanent {
            status,
            message: server_message(answer),
        },
    }
}

/// The `detail` of a problem+json answer, else the answer itself, on one short line.
fn server_message(answer: &str) -> String {
    let detail = serde_json::from_str::<serde_json::Value>(answer)
        .ok()
        .and_then(|value| {
            value
                .get("detail")
                .and_then(|detail| detail.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| answer.to_owned());
    let line: String = detail
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(500)
        .collect();
    line.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_reports_travel_gzipped_and_inflate_to_the_same_bytes() {
        use std::io::Read as _;
        assert!(gzipped(b"{}").is_none());
        let report: Vec<u8> = (0..GZIP_ABOVE_BYTES / 4)
            .flat_map(|n| format!("{{\"n\":{n}}}").into_bytes())
            .collect();
        let packed = gzipped(&report).expect("large enough to pack");
        assert!(
            packed.len() * 4 < report.len(),
            "{} of {}",
            packed.len(),
            report.len()
        );
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_end(&mut inflated)
            .expect("a whole gzip stream");
        assert_eq!(inflated, report);
    }

    #[test]
    fn plain_http_is_for_loopback_only() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost",
            "http://[::1]:8080/",
            "https://kubeward.example.com",
        ] {
            assert!(Deliverer::new(ok, None, false).is_ok(), "{ok}");
        }
        for refused in [
            "http://10.0.0.5:8080",
            "http://kubeward.example.com",
            "http://user@10.0.0.1/",
            "http://127.0.0.1.example.com",
        ] {
            assert!(
                matches!(
                    Deliverer::new(refused, None, false),
                    Err(SetupError::PlainHttp(_))
                ),
                "{refused}"
            );
        }
        assert!(Deliverer::new("http://10.0.0.5:8080", None, true).is_ok());
        assert!(matches!(
            Deliverer::new("ftp://x", None, false),
            Err(SetupError::BadUrl(_))
        ));
    }

    #[test]
    fn statuses_decide_between_retrying_and_giving_up() {
        assert_eq!(classify(201, "", None), Outcome::Delivered { status: 201 });
        assert_eq!(classify(200, "", None), Outcome::Delivered { status: 200 });
        for status in [408, 429, 500, 502, 503] {
            assert!(
                matches!(classify(status, "", None), Outcome::Retry { .. }),
                "{status}"
            );
        }
        assert_eq!(
            classify(429, "", Some(Duration::from_secs(7))),
            Outcome::Retry {
                reason: "the server answered 429".into(),
                after: Some(Duration::from_secs(7))
            }
        );
        let refused = classify(
            400,
            r#"{"detail":"results[3].status: unknown variant"}"#,
            None,
        );
        assert_eq!(
            refused,
            Outcome::Permanent {
                status: 400,
                message: "results[3].status: unknown variant".into()
            }
        );
        for status in [401, 403, 404, 409, 413, 415] {
            assert!(
                matches!(classify(status, "", None), Outcome::Permanent { .. }),
                "{status}"
            );
        }
    }

    #[test]
    fn a_ca_file_without_certificates_is_a_setup_error() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "not a certificate").unwrap();
        let err = Deliverer::new("https://x.example", Some(file.path()), false).unwrap_err();
        assert!(
            err.to_string().contains("holds no PEM certificate"),
            "{err}"
        );
    }
}
