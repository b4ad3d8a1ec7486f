//! Text made safe to stand in a URL: a path segment or a query value.

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
