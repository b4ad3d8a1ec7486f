//! Forms and the request context of pages, read before any page handler runs.
//!
//! Every state-changing request to a guarded page has its form token checked in the page middleware
//! ([`check_form_token`], called from `access::enforce`), whatever its handler reads, so a new form cannot
//! forget the check. Handlers read the fields with [`CheckedForm`], which only exists for a request whose
//! token was checked; and every page reads who is looking and as of which day through [`PageContext`].

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::PageError;
use super::pages::{AsOf, Layout};
use super::session::Visitor;

/// What a form must carry: the session's token.
#[derive(Debug, Deserialize)]
struct Token {
    csrf: Option<String>,
}

/// Marks a request whose form token matched the visitor's session.
#[derive(Debug, Clone, Copy)]
struct TokenChecked;

/// The message for a form whose token is missing or wrong.
const FOREIGN_FORM: &str =
    "the form is not from this session (its token does not match); reload the page and try again";

/// Checks the form token of a state-changing request against the visitor's session, and marks the request
/// so that [`CheckedForm`] can read it. `body` is the whole form (the edge has read it, bounded).
pub fn check_form_token(
    request: &HttpRequest,
    visitor: &Visitor,
    body: &[u8],
) -> Result<(), PageError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| PageError::BadRequest("the form is not valid UTF-8".to_owned()))?;
    let token = web::Query::<Token>::from_query(text)
        .map_err(|_| PageError::BadRequest("the form cannot be read".to_owned()))?
        .into_inner()
        .csrf
        .unwrap_or_default();
    if !visitor.sent_form(&token) {
        return Err(PageError::BadRequest(FOREIGN_FORM.to_owned()));
    }
    request.extensions_mut().insert(TokenChecked);
    Ok(())
}

/// A form's fields, for a request whose token the page middleware checked; any other request is refused
/// before the handler runs.
#[derive(Debug)]
pub struct CheckedForm<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for CheckedForm<T> {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let checked = request.extensions().get::<TokenChecked>().is_some();
        let form = web::Form::<T>::from_request(request, payload);
        Box::pin(async move {
            if !checked {
                return Err(PageError::BadRequest(FOREIGN_FORM.to_owned()).into());
            }
            let form = form
                .await
                .map_err(|err| PageError::BadRequest(format!("the form cannot be read: {err}")))?;
            Ok(CheckedForm(form.into_inner()))
        })
    }
}

/// The `at` of a page's query string, read apart from the page's own parameters.
#[derive(Debug, Deserialize)]
struct AtParameter {
    at: Option<String>,
}

/// Who is looking, and at which moment: what every page's frame needs.
#[derive(Debug, Clone)]
pub struct PageContext {
    pub visitor: Visitor,
    /// `None` for now; a past day for `?at=YYYY-MM-DD`.
    pub as_of: Option<AsOf>,
}

impl PageContext {
    /// The frame of a page with this title.
    pub fn layout(&self, title: impl Into<String>) -> Layout {
        Layout::new(title, &self.visitor, &self.as_of)
    }
}

impl FromRequest for PageContext {
    type Error = PageError;
    type Future = Ready<Result<Self, PageError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(context_of(request))
    }
}

fn context_of(request: &HttpRequest) -> Result<PageContext, PageError> {
    // The page middleware puts the visitor there before any guarded page runs.
    let visitor = request
        .extensions()
        .get::<Visitor>()
        .cloned()
        .ok_or_else(|| PageError::Internal("a page was reached without its guard".into()))?;
    // Only `at` is read here; the page's own parameters are its handler's.
    let at = web::Query::<AtParameter>::from_query(request.query_string())
        .map_err(|_| {
            PageError::BadRequest("at= must be given once, as a day such as 2026-11-01".to_owned())
        })?
        .into_inner()
        .at;
    Ok(PageContext {
        visitor,
        as_of: AsOf::parse(at.as_deref())?,
    })
}
