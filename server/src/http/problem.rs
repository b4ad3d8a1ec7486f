//! API errors as `application/problem+json` (RFC 9457), mapped to statuses in this one place. Server errors
//! get an opaque body; their cause goes to the log.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::app::views::Problem;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid token is required")]
    Unauthorized,
    #[error("this token may not do that")]
    Forbidden,
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    /// The role is enough, but a rule of the action forbids it to this caller (approving one's own request).
    #[error("{0}")]
    NotAllowed(String),
    /// The resource's state does not allow the change (deciding a settled exception).
    #[error("{0}")]
    Refused(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} exists already")]
    Exists(String),
    #[error("{detail}")]
    BadParameter { field: String, detail: String },
    #[error("the content type must be application/json")]
    UnsupportedMediaType,
    #[error("the request body is over the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{detail}")]
    InvalidReport {
        field: Option<String>,
        detail: String,
    },
    #[error("scan {0} was stored before with different content")]
    Conflict(uuid::Uuid),
    #[error("the request body could not be read")]
    BadBody,
    /// Turned away at the edge, before any route (see [`crate::edge`]).
    #[error("{0}")]
    Edge(crate::shared::refusal::Refusal),
    /// Too many refused credentials from this source (see [`crate::shared::throttle`]).
    #[error("too many refused credentials from this address; try again in {} s", .retry_after.as_secs().max(1))]
    Throttled { retry_after: std::time::Duration },
    #[error("the database is not reachable")]
    Unavailable(#[source] sqlx::Error),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    fn kind_and_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::Unauthorized => ("urn:kubeward:problem:unauthorized", "Unauthorized"),
            ApiError::Forbidden => ("urn:kubeward:problem:forbidden", "Forbidden"),
            ApiError::MethodNotAllowed => (
                "urn:kubeward:problem:method-not-allowed",
                "Method not allowed",
            ),
            ApiError::NotAllowed(_) => ("urn:kubeward:problem:not-allowed", "Not allowed"),
            ApiError::Refused(_) => ("urn:kubeward:problem:refused", "Refused"),
            ApiError::NotFound(_) => ("urn:kubeward:problem:not-found", "Not found"),
            ApiError::Exists(_) => ("urn:kubeward:problem:exists", "Exists already"),
            ApiError::BadParameter { .. } => {
                ("urn:kubeward:problem:bad-parameter", "Bad parameter")
            }
            ApiError::UnsupportedMediaType => (
                "urn:kubeward:problem:unsupported-media-type",
                "Unsupported media type",
            ),
            ApiError::PayloadTooLarge { .. } => (
                "urn:kubeward:problem:payload-too-large",
                "Payload too large",
            ),
            ApiError::InvalidReport { .. } => {
                ("urn:kubeward:problem:invalid-report", "Invalid report")
            }
            ApiError::Conflict(_) => ("urn:kubeward:problem:scan-conflict", "Scan conflict"),
            ApiError::BadBody => ("urn:kubeward:problem:bad-body", "Bad request body"),
            ApiError::Edge(refusal) => refusal.kind_and_title(),
            ApiError::Throttled { .. } => ("urn:kubeward:problem:throttled", "Too many requests"),
            ApiError::Unavailable(_) => ("urn:kubeward:problem:unavailable", "Service unavailable"),
            ApiError::Internal(_) => ("urn:kubeward:problem:internal", "Internal server error"),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if crate::database::is_unavailable(&err) {
            ApiError::Unavailable(err)
        } else {
            ApiError::Internal(Box::new(err))
        }
    }
}

impl From<crate::app::governance::GovernanceError> for ApiError {
    fn from(err: crate::app::governance::GovernanceError) -> Self {
        use crate::app::governance::GovernanceError;
        match err {
            GovernanceError::Invalid { field, detail } => ApiError::BadParameter {
                field: field.to_owned(),
                detail,
            },
            GovernanceError::NotFound(what) => ApiError::NotFound(what),
            GovernanceError::OwnRequest(detail) => ApiError::NotAllowed(detail),
            GovernanceError::Refused(detail) => ApiError::Refused(detail),
            GovernanceError::Database(err) => ApiError::from(err),
        }
    }
}

impl From<crate::app::admin::AdminError> for ApiError {
    fn from(err: crate::app::admin::AdminError) -> Self {
        use crate::app::admin::AdminError;
        match err {
            AdminError::ClusterExists(name) => ApiError::Exists(format!("cluster {name}")),
            AdminError::NoSuchCluster(name) => ApiError::NotFound(format!("cluster {name}")),
            AdminError::NoSuchToken { kind, id } => ApiError::NotFound(format!("{kind} {id}")),
            AdminError::NoSuchWebhook(id) => ApiError::NotFound(format!("webhook {id}")),
            AdminError::Sealing(err) => ApiError::Internal(err),
            AdminError::Storage(err) => ApiError::from(err),
        }
    }
}

impl From<kubeward_benchmark::ReportError> for ApiError {
    fn from(err: kubeward_benchmark::ReportError) -> Self {
        match err {
            kubeward_benchmark::ReportError::TooLarge { limit, .. } => {
                ApiError::PayloadTooLarge { limit }
            }
            kubeward_benchmark::ReportError::Invalid { field, problem } => {
                ApiError::InvalidReport {
                    detail: format!("{field}: {problem}"),
                    field: Some(field),
                }
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::NotAllowed(_) => StatusCode::FORBIDDEN,
            ApiError::Refused(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InvalidReport { .. } | ApiError::BadBody => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) | ApiError::Exists(_) => StatusCode::CONFLICT,
            ApiError::Edge(refusal) => refusal.status(),
            ApiError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let detail = if status.is_server_error() {
            // The cause may name tables, hosts or values: it goes to the log, not to the client.
            tracing::error!(error = %self, cause = ?std::error::Error::source(self), "request failed");
            "the server could not complete the request; the cause is in its log".to_owned()
        } else {
            self.to_string()
        };
        let (kind, title) = self.kind_and_title();
        let field = match self {
            ApiError::InvalidReport { field, .. } => field.as_deref(),
            ApiError::BadParameter { field, .. } => Some(field.as_str()),
            _ => None,
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if matches!(self, ApiError::Unauthorized) {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if let ApiError::Throttled { retry_after } = self {
            response.insert_header((
                header::RETRY_AFTER,
                retry_after.as_secs().max(1).to_string(),
            ));
        }
        response.json(Problem {
            kind: kind.to_owned(),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            field: field.map(str::to_owned),
            request_id: status
                .is_server_error()
                .then(crate::shared::request_id::current_request_id)
                .flatten(),
        })
    }
}
