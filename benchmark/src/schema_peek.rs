//! Which wire format a body claims, read without parsing the whole body: the top-level `schema` key's
//! string value. Agents write `schema` first, so this usually reads a few dozen bytes; a body that puts it
//! last is walked once, skipping values without building them. The answer only chooses a parser, which then
//! checks everything, `schema` included.

/// The top-level `schema` string of a JSON object, when there is one and it holds no escapes; `None` for
/// anything else (not an object, no such key, broken JSON), which the full parser then names.
pub fn peek_schema(body: &[u8]) -> Option<&str> {
    let mut at = skip_space(body, 0);
    if body.get(at) != Some(&b'{') {
        return None;
    }
    at += 1;
    loop {
        at = skip_space(body, at);
        if body.get(at) != Some(&b'"') {
            return None;
        }
        let (key_start, key_end) = string_span(body, at)?;
        at = skip_space(body, key_end + 1);
        if body.get(at) != Some(&b':') {
            return None;
        }
        at = skip_space(body, at + 1);
        if &body[key_start..key_end] == b"schema" {
            if body.get(at) != Some(&b'"') {
                return None;
            }
            let (start, end) = string_span(body, at)?;
            let value = &body[start..end];
            if value.contains(&b'\\') {
                return None;
            }
            return std::str::from_utf8(value).ok();
        }
        at = skip_value(body, at)?;
        at = skip_space(body, at);
        match body.get(at) {
            Some(b',') => at += 1,
            _ => return None,
        }
    }
}

fn skip_space(body: &[u8], mut at: usize) -> usize {
    while matches!(body.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// The contents of the string opening at `at` (a `"`), as (first byte, closing quote).
fn string_span(body: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut index = at + 1;
    loop {
        match body.get(index)? {
            b'\\' => index += 2,
            b'"' => return Some((at + 1, index)),
            _ => index += 1,
        }
    }
}

/// The index just after the value starting at `at`: strings and nesting are followed, a scalar runs to the
/// next delimiter.
fn skip_value(body: &[u8], at: usize) -> Option<usize> {
    match body.get(at)? {
        b'"' => Some(string_span(body, at)?.1 + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut index = at;
            loop {
                match body.get(index)? {
                    b'"' => {
                        index = string_span(body, index)?.1 + 1;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(index + 1);
                        }
                    }
                    _ => {}
                }
                index += 1;
            }
        }
        _ => {
            let mut index = at;
            while !matches!(
                body.get(index)?,
                b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'
            ) {
                index += 1;
            }
            Some(index)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::peek_schema;

    #[test]
    fn the_schema_is_found_first_or_after_any_other_value() {
        assert_eq!(
            peek_schema(br#"{"schema":"kubeward/report/v1","x":1}"#),
            Some("kubeward/report/v1")
        );
        let later =
            br#" { "a" : {"schema": "nested", "b": [1, {"c": "]}\"schema\""}]}, "n": -1.5e3,
            "t": true, "z": null, "s": "x,y}", "schema" : "kubeward/cluster-report/v1" } "#;
        assert_eq!(peek_schema(later), Some("kubeward/cluster-report/v1"));
    }

    #[test]
    fn anything_else_is_left_to_the_parser() {
        for body in [
            &b""[..],
            b"[]",
            b"\"schema\"",
            br#"{"a":1}"#,
            br#"{"schema":7}"#,
            br#"{"schema":"kube\u0077ard/report/v1"}"#,
            br#"{"a":"unterminated"#,
            br#"{"a":1 "schema":"x"}"#,
            br#"{"a":[1,2"#,
        ] {
            assert_eq!(peek_schema(body), None, "{}", String::from_utf8_lossy(body));
        }
    }
}
