//! Why the edge turned a request away before any route saw it. Both doors render a refusal their own way
//! (problem+json for the API, an HTML page for browsers); the status and the wording live here once.

use actix_web::http::StatusCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A `Content-Encoding` other than identity where none is accepted (every route but reports), or an
    /// encoding the reports route does not know.
    #[error(
        "request bodies with Content-Encoding {0} are not accepted here; only POST /api/v1/reports takes gzip"
    )]
    Encoding(String),
    #[error("the request body is over the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the request body did not arrive within {seconds} s")]
    TooSlow { seconds: u64 },
    #[error("the request body could not be read")]
    Unreadable,
    /// Local mode answers only loopback names: another `Host` is how DNS rebinding reaches a local server.
    #[error(
        "in local mode this server answers only requests addressed to localhost, 127.0.0.1 or [::1]"
    )]
    ForeignHost,
    /// A state-changing request a browser says came from another site.
    #[error("a form posted from another site is refused")]
    CrossSite,
    /// An error the web framework raised itself (a malformed path segment, query or form): the status is
    /// kept, the framework's own text (which can carry internal detail) is not.
    #[error("{}", framework_detail(*.0))]
    Framework(StatusCode),
}

fn framework_detail(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => {
            "the request could not be read: a parameter, path segment or form field is missing or malformed"
        }
        404 => "this path was not found",
        405 => "this method is not allowed here",
        408 => "the request took too long to arrive",
        413 => "the request is too large",
        414 => "the request's address is too long",
        415 => "the content type of the request body is not accepted here",
        431 => "the request's headers are too large",
        _ => "the request was refused",
    }
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Encoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::TooSlow { .. } => StatusCode::REQUEST_TIMEOUT,
            Refusal::Unreadable => StatusCode::BAD_REQUEST,
            Refusal::ForeignHost => StatusCode::MISDIRECTED_REQUEST,
            Refusal::CrossSite => StatusCode::FORBIDDEN,
            Refusal::Framework(status) => *status,
        }
    }

    /// The problem type and title of the API's answer.
    pub fn kind_and_title(&self) -> (&'static str, &'static str) {
        match self {
            Refusal::Encoding(_) => (
                "urn:kubeward:problem:unsupported-encoding",
                "Unsupported content encoding",
            ),
            Refusal::TooLarge { .. } => (
                "urn:kubeward:problem:payload-too-large",
                "Payload too large",
            ),
            Refusal::TooSlow { .. } => ("urn:kubeward:problem:request-timeout", "Request timeout"),
            Refusal::Unreadable => ("urn:kubeward:problem:bad-body", "Bad request body"),
            Refusal::ForeignHost => (
                "urn:kubeward:problem:misdirected-request",
                "Misdirected request",
            ),
            Refusal::CrossSite => ("urn:kubeward:problem:cross-site", "Cross-site request"),
            Refusal::Framework(status) => (
                "urn:kubeward:problem:bad-request",
                status.canonical_reason().unwrap_or("Refused"),
            ),
        }
    }
}
