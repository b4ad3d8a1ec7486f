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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreserved_bytes_stay_as_they_are() {
        assert_eq!(percent_encode("cp-1.prod_a~"), "cp-1.prod_a~");
        assert_eq!(percent_encode("a/b?c#d e"), "a%2Fb%3Fc%23d%20e");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }
}
