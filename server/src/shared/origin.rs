//! Whom a request is addressed to and where a browser says it came from.
//!
//! Local mode has no login: whoever reaches the server is its admin, so it must be reached only from this
//! machine. Binding to loopback is not enough: a web page can rebind its own DNS name to 127.0.0.1 and
//! have the operator's browser send it requests that carry the page's name in `Host`. Local mode therefore
//! answers only requests addressed to a loopback name.
//!
//! Forms already carry a per-session token; a browser's `Sec-Fetch-Site` and `Origin` headers add a second
//! lock, so a state-changing request another site made a browser send is refused even if a token leaked.

use actix_web::http::{Method, header};

use super::refusal::Refusal;

/// The host a request is addressed to, without its port: the `Host` header, or the authority of an
/// HTTP/2 request. Never a proxy's `X-Forwarded-Host`, which any client can send.
fn addressed_host(request: &actix_web::HttpRequest) -> Option<String> {
    let authority = match request.headers().get(header::HOST) {
        Some(value) => value.to_str().ok()?.to_owned(),
        None => request.uri().authority()?.as_str().to_owned(),
    };
    host_of_authority(&authority)
}

/// `host[:port]` → `host`, lower-cased; IPv6 literals keep their brackets.
fn host_of_authority(authority: &str) -> Option<String> {
    let authority = authority.trim();
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let host = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let rest = &authority[end + 1..];
        if !(rest.is_empty() || rest.starts_with(':')) {
            return None;
        }
        &authority[..=end]
    } else {
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, _port)| host)
    };
    Some(host.to_ascii_lowercase())
}

/// Whether a host names this machine's loopback interface.
pub fn is_loopback_name(host: &str) -> bool {
    match host {
        "localhost" | "[::1]" => true,
        other => other
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|address| address.is_loopback()),
    }
}

/// Local mode: the request must be addressed to a loopback name.
pub fn check_local_host(request: &actix_web::HttpRequest) -> Result<(), Refusal> {
    match addressed_host(request) {
        Some(host) if is_loopback_name(&host) => Ok(()),
        _ => Err(Refusal::ForeignHost),
    }
}

/// The origin (`scheme://host[:port]`) of an absolute URL, lower-cased.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() {
        return None;
    }
    Some(format!("{}://{}", scheme, authority).to_ascii_lowercase())
}

/// Where pages are served from, for comparing a browser's `Origin` against.
#[derive(Debug, Clone)]
pub enum PageOrigin {
    /// Local mode: any loopback name.
    Loopback,
    /// Behind a login: the public URL's origin, as configured.
    Public(String),
}

/// A state-changing page request (any method but GET, HEAD, OPTIONS) whose browser says it came from
/// anywhere but this origin is refused. `Sec-Fetch-Site` is asked first: browsers set it and pages cannot.
/// Without it, a real `Origin` must be this one; `Origin: null` says nothing (browsers send it for every
/// form post under this server's `Referrer-Policy: no-referrer`), and neither does a request without
/// either header (a script, an older browser): those are left to the form token.
pub fn check_same_site(
    request: &actix_web::HttpRequest,
    pages_at: &PageOrigin,
) -> Result<(), Refusal> {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return Ok(());
    }
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.as_bytes();
        return if site.eq_ignore_ascii_case(b"same-origin") || site.eq_ignore_ascii_case(b"none") {
            Ok(())
        } else {
            Err(Refusal::CrossSite)
        };
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().map_err(|_| Refusal::CrossSite)?;
    if origin.trim() == "null" {
        return Ok(());
    }
    let same = match pages_at {
        PageOrigin::Loopback => origin_of(origin)
            .and_then(|origin| {
                origin
                    .split_once("://")
                    .and_then(|(_, authority)| host_of_authority(authority))
            })
            .is_some_and(|host| is_loopback_name(&host)),
        PageOrigin::Public(expected) => origin_of(origin).as_deref() == Some(expected.as_str()),
    };
    if same {
        Ok(())
    } else {
        Err(Refusal::CrossSite)
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn only_loopback_names_reach_a_local_server() {
        for host in [
            "127.0.0.1:8080",
            "localhost",
            "LOCALHOST:1",
            "[::1]:8080",
            "127.1.2.3",
        ] {
            let request = TestRequest::default()
                .insert_header((header::HOST, host))
                .to_http_request();
            assert_eq!(check_local_host(&request), Ok(()), "{host}");
        }
        for host in [
            "attacker.example:8080",
            "localhost.attacker.example",
            "127.0.0.1.nip.io",
            "[::1]evil",
            "user@127.0.0.1",
            "",
            "10.0.0.1",
            "[::ffff:10.0.0.1]",
        ] {
            let request = TestRequest::default()
                .insert_header((header::HOST, host))
                .to_http_request();
            assert_eq!(
                check_local_host(&request),
                Err(Refusal::ForeignHost),
                "{host}"
            );
        }
    }

    #[test]
    fn another_site_cannot_post_a_form() {
        let public = PageOrigin::Public("https://kubeward.example".to_owned());
        let post = |headers: &[(&str, &str)]| {
            let mut request = TestRequest::post();
            for (name, value) in headers {
                request = request.insert_header((*name, *value));
            }
            request.to_http_request()
        };
        assert_eq!(check_same_site(&post(&[]), &public), Ok(()));
        assert_eq!(
            check_same_site(&post(&[("origin", "https://kubeward.example")]), &public),
            Ok(())
        );
        assert_eq!(
            check_same_site(&post(&[("sec-fetch-site", "same-origin")]), &public),
            Ok(())
        );
        // What a browser sends for a form of this server's own pages under `Referrer-Policy: no-referrer`.
        assert_eq!(
            check_same_site(
                &post(&[("origin", "null"), ("sec-fetch-site", "same-origin")]),
                &public
            ),
            Ok(())
        );
        assert_eq!(
            check_same_site(&post(&[("origin", "null")]), &public),
            Ok(())
        );
        for refused in [
            &[("origin", "https://evil.example")][..],
            &[("origin", "http://kubeward.example")],
            &[("sec-fetch-site", "same-site")],
            &[("sec-fetch-site", "cross-site")],
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://kubeward.example"),
            ],
        ] {
            assert_eq!(
                check_same_site(&post(refused), &public),
                Err(Refusal::CrossSite),
                "{refused:?}"
            );
        }
        let local = PageOrigin::Loopback;
        assert_eq!(
            check_same_site(&post(&[("origin", "http://127.0.0.1:8080")]), &local),
            Ok(())
        );
        assert_eq!(
            check_same_site(&post(&[("origin", "http://evil.example:8080")]), &local),
            Err(Refusal::CrossSite)
        );
        let get = TestRequest::get()
            .insert_header(("sec-fetch-site", "cross-site"))
            .to_http_request();
        assert_eq!(check_same_site(&get, &public), Ok(()));
    }
}
