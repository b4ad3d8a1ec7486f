//! Reading request bodies and values the same way everywhere: JSON content types, size limits, fields named
//! in errors, and URLs a subscriber or a ticket may point to.

use actix_web::HttpRequest;
use actix_web::http::header;

use super::api::bad;
use super::problem::ApiError;
use crate::domain::url::HttpUrl;

/// The most a small JSON body (a ticket link, an enrollment, a subscription) may weigh.
pub const MAX_SMALL_BODY: usize = 16 * 1024;

/// Whether the request says its body is JSON (`application/json`, or `application/merge-patch+json` for PATCH).
pub fn is_json(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| {
            let essence = essence.trim();
            essence.eq_ignore_ascii_case("application/json")
                || essence.eq_ignore_ascii_case("application/merge-patch+json")
        })
}

/// Parses a small JSON body into `T`: 415 for another content type, 413 over the limit, 400 naming the field
/// (`(body)` when it is not a JSON object at all).
pub fn json_body<T: serde::de::DeserializeOwned>(
    request: &HttpRequest,
    body: &[u8],
) -> Result<T, ApiError> {
    if !is_json(request) {
        return Err(ApiError::UnsupportedMediaType);
    }
    if body.len() > MAX_SMALL_BODY {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_SMALL_BODY,
        });
    }
    // Every body of this API is a JSON object; serde would also fill a struct from an array, by position.
    let first = body.iter().find(|byte| !byte.is_ascii_whitespace());
    if first.is_some_and(|byte| *byte != b'{') {
        return Err(bad("(body)", "must be a JSON object".to_owned()));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let field = err.path().to_string();
        bad(
            if field == "." { "(body)" } else { &field },
            err.into_inner().to_string(),
        )
    })
}

/// An [`HttpUrl`] from a field of a request, or a 400 naming the field.
pub fn http_url(field: &str, url: &str) -> Result<HttpUrl, ApiError> {
    HttpUrl::parse(url).map_err(|err| bad(field, err.to_string()))
}
