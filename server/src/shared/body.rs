//! Every request body is bounded while it is read: in bytes, in time, and never inflated on the way in.
//!
//! The web framework is built without request decompression, so a compressed body stays compressed until a
//! route that wants it inflates it against a limit on the inflated bytes (only `POST /api/v1/reports`, see
//! [`inflate_gzip`]). Every other route gets a `Content-Encoding` refused before a byte of the body is read,
//! and its body read here, whole, up to [`SMALL_BODY_LIMIT`] and within the body deadline, before any
//! authentication: what an unauthenticated caller can make the server hold is that much per connection, for
//! that long. The reports route authenticates before it reads; it gets its body as a stream that fails once
//! the deadline passes.

use std::future::Future;
use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderMap};
use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt};

use super::refusal::Refusal;

/// The most any route but reports accepts: forms and small JSON bodies (their own limits are smaller).
pub const SMALL_BODY_LIMIT: usize = 64 * 1024;

/// The one route that reads its body as a stream, after authenticating, and may receive it gzipped.
pub const STREAMED_PATH: &str = "/api/v1/reports";

/// How a body arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

/// The `Content-Encoding` of a request, refused unless `compressed_allowed` and it is gzip.
pub fn encoding(headers: &HeaderMap, compressed_allowed: bool) -> Result<Encoding, Refusal> {
    let mut codings = Vec::new();
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let text = value
            .to_str()
            .map_err(|_| Refusal::Encoding("(not text)".to_owned()))?;
        codings.extend(
            text.split(',')
                .map(|coding| coding.trim().to_ascii_lowercase())
                .filter(|coding| !coding.is_empty() && coding != "identity"),
        );
    }
    match codings.as_slice() {
        [] => Ok(Encoding::Identity),
        [one] if compressed_allowed && (one == "gzip" || one == "x-gzip") => Ok(Encoding::Gzip),
        _ => {
            let named: String = codings.join(", ").chars().take(40).collect();
            Err(Refusal::Encoding(named))
        }
    }
}

/// The body length a request declares, if it declares one it can keep.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Reads a whole body: refused from its declared length before reading, or once it passes `limit` while
/// reading. A payload that fails ends the read with what it failed of (its deadline, or a broken body).
pub async fn read_limited(
    payload: &mut Payload,
    declared: Option<u64>,
    limit: usize,
) -> Result<Bytes, Refusal> {
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(Refusal::TooLarge { limit });
    }
    let mut body = Vec::with_capacity(declared.map_or(0, |length| length as usize));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| refusal_of(&err))?;
        if body.len() + chunk.len() > limit {
            return Err(Refusal::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// [`read_limited`] within `deadline`.
pub async fn read_small(
    payload: &mut Payload,
    declared: Option<u64>,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, Refusal> {
    tokio::time::timeout(deadline, read_limited(payload, declared, limit))
        .await
        .map_err(|_| Refusal::TooSlow {
            seconds: deadline.as_secs(),
        })?
}

/// The error a streamed body yields once its deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {seconds} s")]
struct DeadlinePassed {
    seconds: u64,
}

/// What a failed payload means for the request: its deadline passed (408), or it broke (400).
fn refusal_of(err: &PayloadError) -> Refusal {
    let deadline = match err {
        PayloadError::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<DeadlinePassed>()),
        _ => None,
    };
    match deadline {
        Some(passed) => Refusal::TooSlow {
            seconds: passed.seconds,
        },
        None => Refusal::Unreadable,
    }
}

/// The payload, failing with a deadline error (a 408 for [`read_limited`]) if it has not ended by `deadline`.
pub fn with_deadline(payload: Payload, deadline: Duration) -> Payload {
    let stream = Deadline {
        inner: payload,
        timer: Box::pin(tokio::time::sleep(deadline)),
        seconds: deadline.as_secs(),
        expired: false,
    };
    Payload::Stream {
        payload: Box::pin(stream),
    }
}

struct Deadline {
    inner: Payload,
    timer: Pin<Box<tokio::time::Sleep>>,
    seconds: u64,
    expired: bool,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        // Data already here is taken even at the deadline; waiting past it is not.
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            self.expired = true;
            let passed = DeadlinePassed {
                seconds: self.seconds,
            };
            let err = std::io::Error::new(std::io::ErrorKind::TimedOut, passed);
            return Poll::Ready(Some(Err(PayloadError::Io(err))));
        }
        Poll::Pending
    }
}

/// Why a gzipped body could not be inflated.
#[derive(Debug, PartialEq, Eq)]
pub enum InflateError {
    /// It inflates past the limit: reading stopped there.
    TooLarge,
    /// It is not a whole gzip stream.
    Corrupt,
}

/// Inflates a gzip body, reading at most `limit` inflated bytes: a small body that inflates to gigabytes
/// costs `limit` bytes and a fraction of a second, never more.
pub fn inflate_gzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    let decoder = flate2::read::GzDecoder::new(compressed);
    let mut inflated = Vec::new();
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|_| InflateError::Corrupt)?;
    if inflated.len() > limit {
        return Err(InflateError::TooLarge);
    }
    Ok(inflated)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "a test should stop loudly at the first unexpected error"
    )]

    use std::io::Write;

    use actix_web::http::header::HeaderValue;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn headers(encodings: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in encodings {
            map.append(
                header::CONTENT_ENCODING,
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn only_gzip_is_taken_and_only_where_compression_is_allowed() {
        assert_eq!(encoding(&headers(&[]), false), Ok(Encoding::Identity));
        assert_eq!(
            encoding(&headers(&["identity"]), false),
            Ok(Encoding::Identity)
        );
        assert_eq!(encoding(&headers(&["GZIP"]), true), Ok(Encoding::Gzip));
        assert!(matches!(
            encoding(&headers(&["gzip"]), false),
            Err(Refusal::Encoding(named)) if named == "gzip"
        ));
        for refused in [&["br"][..], &["deflate"], &["gzip, gzip"], &["gzip", "br"]] {
            assert!(encoding(&headers(refused), true).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn a_gzip_bomb_inflates_only_up_to_the_limit() {
        let bomb = gzip(&vec![b'a'; 64 * 1024 * 1024]);
        assert!(bomb.len() < 100 * 1024, "the bomb is small on the wire");
        assert_eq!(
            inflate_gzip(&bomb, 1024 * 1024),
            Err(InflateError::TooLarge)
        );
        let exact = gzip(&vec![b'b'; 1000]);
        assert_eq!(inflate_gzip(&exact, 1000).unwrap().len(), 1000);
        assert_eq!(inflate_gzip(&exact, 999), Err(InflateError::TooLarge));
    }

    #[test]
    fn a_truncated_or_foreign_body_is_corrupt() {
        let whole = gzip(b"{\"schema\":\"kubeward/report/v1\"}");
        assert_eq!(
            inflate_gzip(&whole[..whole.len() / 2], 1024),
            Err(InflateError::Corrupt)
        );
        assert_eq!(
            inflate_gzip(b"plain text", 1024),
            Err(InflateError::Corrupt)
        );
    }

    #[actix_web::test]
    async fn a_small_body_over_its_limit_or_late_is_refused() {
        let mut payload = Payload::from(Bytes::from_static(b"csrf=abc"));
        let body = read_small(&mut payload, Some(8), 16, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(&body[..], b"csrf=abc");
        let mut payload = Payload::from(Bytes::from(vec![b'x'; 17]));
        assert_eq!(
            read_small(&mut payload, None, 16, Duration::from_secs(1)).await,
            Err(Refusal::TooLarge { limit: 16 })
        );
        let mut payload = Payload::None;
        assert_eq!(
            read_small(&mut payload, Some(1 << 40), 16, Duration::from_secs(1)).await,
            Err(Refusal::TooLarge { limit: 16 })
        );
        // A body that never ends: the stream stays open with nothing in it.
        let never = futures_util::stream::pending::<Result<Bytes, PayloadError>>();
        let mut payload: Payload = Payload::Stream {
            payload: Box::pin(never),
        };
        assert_eq!(
            read_small(&mut payload, Some(10), 16, Duration::from_millis(50)).await,
            Err(Refusal::TooSlow { seconds: 0 })
        );
    }

    #[actix_web::test]
    async fn a_streamed_body_fails_with_its_deadline_once_it_passes() {
        let slow = futures_util::stream::once(async { Ok(Bytes::from_static(b"{")) })
            .chain(futures_util::stream::pending());
        let slow: Payload = Payload::Stream {
            payload: Box::pin(slow),
        };
        let mut payload = with_deadline(slow, Duration::from_millis(50));
        assert_eq!(&payload.next().await.unwrap().unwrap()[..], b"{");
        let err = payload.next().await.unwrap().unwrap_err();
        assert_eq!(refusal_of(&err), Refusal::TooSlow { seconds: 0 }, "{err:?}");
        assert!(payload.next().await.is_none());
        assert_eq!(refusal_of(&PayloadError::Overflow), Refusal::Unreadable);
    }
}
