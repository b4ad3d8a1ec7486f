//! URLs: the absolute http(s) URL kubeward accepts from people ([`HttpUrl`]), and text made safe to stand in
//! a URL (a path segment or a query value) or to be shown in a listing.

/// An absolute http(s) URL of at most 2048 characters, with a host, no white space or control characters,
/// and no user info (credentials there would be sent as Basic auth and shown wherever the URL is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(String);

/// Why a text is not an [`HttpUrl`]; the message is written for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("must be an absolute http(s) URL of at most 2048 characters")]
    NotHttp,
    #[error("must not carry user info (user:password@); a webhook authenticates with its secret")]
    UserInfo,
}

impl HttpUrl {
    pub fn parse(url: &str) -> Result<HttpUrl, UrlError> {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or(UrlError::NotHttp)?;
        if url.len() > 2048
            || url.chars().any(|c| c.is_control() || c.is_whitespace())
            || rest.is_empty()
            || rest.starts_with('/')
        {
            return Err(UrlError::NotHttp);
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        Ok(HttpUrl(url.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host (with its port): what the audit trail keeps of a webhook's address.
    pub fn host(&self) -> &str {
        let rest = self.0.split_once("://").map_or("", |(_, rest)| rest);
        rest.split(['/', '?', '#']).next().unwrap_or_default()
    }
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Percent-encodes every byte but the unreserved ones (RFC 3986: letters, digits, `-._~`), so the text can
/// be one path segment or one query value whatever it holds (`/`, `?`, `#`, spaces, non-ASCII).
pub fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A URL as a listing may show it: every query value replaced by `redacted` (a receiver's token often rides
/// there), and any user info dropped.
pub fn redacted(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (before_fragment, _fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (location, query) = match before_fragment.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (before_fragment, None),
    };
    let (authority, path) = match location.find('/') {
        Some(slash) => location.split_at(slash),
        None => (location, ""),
    };
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let mut shown = format!("{scheme}://{host}{path}");
    if let Some(query) = query {
        let names: Vec<String> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let name = pair.split('=').next().unwrap_or_default();
                format!("{name}=redacted")
            })
            .collect();
        shown.push('?');
        shown.push_str(&names.join("&"));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_http_urls_without_user_info_are_accepted() {
        let url = HttpUrl::parse("https://hooks.example.com:8443/in?token=x").expect("valid");
        assert_eq!(url.host(), "hooks.example.com:8443");
        for (bad, why) in [
            ("ftp://example.com/", UrlError::NotHttp),
            ("https://", UrlError::NotHttp),
            ("https:///path", UrlError::NotHttp),
            ("https://exa mple.com/", UrlError::NotHttp),
            ("javascript:alert(1)", UrlError::NotHttp),
            ("https://user:secret@example.com/", UrlError::UserInfo),
        ] {
            assert_eq!(HttpUrl::parse(bad), Err(why), "{bad}");
        }
        assert_eq!(
            HttpUrl::parse(&format!("https://e.com/{}", "a".repeat(2040))),
            Err(UrlError::NotHttp)
        );
    }

    #[test]
    fn listed_urls_keep_where_they_go_and_lose_what_authorizes() {
        assert_eq!(
            redacted("https://hooks.example/in/abc?token=s3cret&team=x#frag"),
            "https://hooks.example/in/abc?token=redacted&team=redacted"
        );
        assert_eq!(
            redacted("https://user:pw@hooks.example"),
            "https://hooks.example"
        );
        assert_eq!(redacted("http://10.0.0.1:8080/h"), "http://10.0.0.1:8080/h");
    }

    #[test]
    fn only_unreserved_bytes_stay_as_they_are() {
        assert_eq!(percent_encode("cp-1.prod_a~"), "cp-1.prod_a~");
        assert_eq!(percent_encode("a/b?c#d e"), "a%2Fb%3Fc%23d%20e");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }
}
