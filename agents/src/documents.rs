//! Parsing the YAML and JSON documents components read, with error messages that never quote content
//! (a parse error in a file of secrets must not put the secret in a report).

use serde_json::Value;

/// Parses one YAML (or JSON) document that must be a mapping.
pub fn parse_mapping(bytes: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|err| {
        format!(
            "not UTF-8 text (invalid byte at offset {})",
            err.valid_up_to()
        )
    })?;
    let value: Value = serde_yaml_ng::from_str(text).map_err(|err| match err.location() {
        Some(location) => format!(
            "not valid YAML (line {}, column {})",
            location.line(),
            location.column()
        ),
        None => "not a valid YAML document of the expected shape".to_owned(),
    })?;
    if value.is_object() {
        Ok(value)
    } else {
        Err("the document is not a mapping of settings".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_quote_the_document() {
        let secret = "c2VjcmV0LWtleS1tYXRlcmlhbA==";
        for text in [
            format!("keys: [{{name: key1, secret: {secret}}}\n  broken: ["),
            secret.to_owned(),
            format!("- {secret}"),
            format!("{{\"a\": \"{secret}\""),
        ] {
            let err = parse_mapping(text.as_bytes()).unwrap_err();
            assert!(!err.contains(secret), "{err}");
        }
        assert!(parse_mapping(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn json_is_yaml() {
        let value = parse_mapping(br#"{"readOnlyPort": 0}"#).unwrap();
        assert_eq!(value["readOnlyPort"], 0);
    }
}
