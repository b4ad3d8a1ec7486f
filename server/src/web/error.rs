//! Every failure of a page becomes an HTML error page here, and only here. Server errors show no cause; it
//! goes to the log.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use super::pages::Layout;
use super::security;
use crate::domain::role::Role;

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0} was not found")]
    NotFound(String),
    #[error("this page needs the {needed} role; yours is {have}")]
    Forbidden { needed: Role, have: Role },
    #[error("you are signed in as {name}, but none of your groups grants a kubeward role")]
    NoRole { name: String },
    #[error("the login could not be completed: {0}")]
    LoginFailed(String),
    /// Turned away at the edge, before any route (see [`crate::edge`]).
    #[error("{0}")]
    Edge(crate::shared::refusal::Refusal),
    #[error("the database is not reachable")]
    Unavailable(#[source] sqlx::Error),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<sqlx::Error> for PageError {
    fn from(err: sqlx::Error) -> Self {
        if crate::database::is_unavailable(&err) {
            PageError::Unavailable(err)
        } else {
            PageError::Internal(Box::new(err))
        }
    }
}

impl From<crate::app::governance::GovernanceError> for PageError {
    fn from(err: crate::app::governance::GovernanceError) -> Self {
        use crate::app::governance::GovernanceError;
        match err {
            GovernanceError::Invalid { detail, .. }
            | GovernanceError::OwnRequest(detail)
            | GovernanceError::Refused(detail) => PageError::BadRequest(detail),
            GovernanceError::NotFound(what) => PageError::NotFound(what),
            GovernanceError::Database(err) => PageError::from(err),
        }
    }
}

impl From<askama::Error> for PageError {
    fn from(err: askama::Error) -> Self {
        PageError::Internal(Box::new(err))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    heading: &'a str,
    message: String,
    advice: &'a str,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::BadRequest(_) | PageError::LoginFailed(_) => StatusCode::BAD_REQUEST,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Forbidden { .. } | PageError::NoRole { .. } => StatusCode::FORBIDDEN,
            PageError::Edge(refusal) => refusal.status(),
            PageError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (heading, advice) = match self {
            PageError::BadRequest(_) => ("Bad request", "Check the address and try again."),
            PageError::NotFound(_) => (
                "Not found",
                "It may never have reported, or the link is wrong.",
            ),
            PageError::Forbidden { .. } => (
                "Forbidden",
                "Ask a kubeward admin for a higher role if you need this page.",
            ),
            PageError::NoRole { .. } => (
                "No access",
                "Ask a kubeward admin to map one of your identity provider groups to a role \
                 (viewer, auditor or admin).",
            ),
            PageError::LoginFailed(_) => ("Login failed", "Start again from the sign-in link."),
            PageError::Edge(_) => (
                "Refused",
                "The request was turned away before it reached a page, for the reason above.",
            ),
            PageError::Unavailable(_) => ("Unavailable", "Try again in a moment."),
            PageError::Internal(_) => ("Server error", "The cause is in the server's log."),
        };
        let message = if status.is_server_error() {
            tracing::error!(error = %self, cause = ?std::error::Error::source(self), "page failed");
            match crate::shared::request_id::current_request_id() {
                Some(id) => format!("The server could not show this page (request {id})."),
                None => "The server could not show this page.".to_owned(),
            }
        } else {
            tracing::info!(error = %self, "page refused");
            let text = self.to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
                None => text,
            }
        };
        let page = ErrorPage {
            layout: Layout::bare(heading),
            status: status.as_u16(),
            heading,
            message,
            advice,
        };
        let html = page.render().unwrap_or_else(|_| {
            format!(
                "<!doctype html><title>{}</title><h1>{}</h1>",
                status.as_u16(),
                status.as_u16()
            )
        });
        security::page(status, html)
    }
}
