//! Parsing the YAML and JSON documents components read, with error messages that never quote content
//! (a parse error in a file of secrets must not put the secret in a report).

use kubeward_benchmark::yaml11;
use serde_json::Value;

/// Parses one YAML (or JSON) document that must be a mapping, as the components read it: sigs.k8s.io/yaml's
/// YAML 1.1 scalars, so that `enabled: off` is false and `makeIPTablesUtilChains: yes` is true (a YAML 1.2
/// parser reads both as strings, which made compliant settings look like failures).
pub fn parse_mapping(bytes: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|err| {
        format!(
            "not UTF-8 text (invalid byte at offset {})",
            err.valid_up_to()
        )
    })?;
    let stream = yaml11::read_stream(text);
    // The reader's messages name a line and a kind of problem, never the text.
    if let Some(error) = stream.errors.first() {
        return Err(format!(
            "not valid YAML (line {}): {}",
            error.line, error.message
        ));
    }
    let mut documents = stream.documents.into_iter();
    match (documents.next(), documents.next()) {
        (Some(document), None) if document.value.is_object() => Ok(document.value),
        (Some(_), Some(_)) => {
            Err("more than one YAML document, where the component reads one".to_owned())
        }
        _ => Err("the document is not a mapping of settings".to_owned()),
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
    fn settings_read_as_the_kubelet_reads_them() {
        let value = parse_mapping(
            b"authentication:\n  anonymous:\n    enabled: off\nmakeIPTablesUtilChains: yes\nprotectKernelDefaults: On\nstaticPodPath: '0644'\nmode: 0644\n",
        )
        .unwrap();
        assert_eq!(value["authentication"]["anonymous"]["enabled"], false);
        assert_eq!(value["makeIPTablesUtilChains"], true);
        assert_eq!(value["protectKernelDefaults"], true);
        assert_eq!(value["staticPodPath"], "0644", "quoted stays a string");
        assert_eq!(value["mode"], 420, "0644 is octal");
        for (text, why) in [
            ("a: 1\n---\nb: 2\n", "more than one"),
            ("", "not a mapping"),
            ("- a\n", "not a mapping"),
            ("a: [1\n", "line"),
        ] {
            let err = parse_mapping(text.as_bytes()).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }

    #[test]
    fn json_is_yaml() {
        let value = parse_mapping(br#"{"readOnlyPort": 0}"#).unwrap();
        assert_eq!(value["readOnlyPort"], 0);
    }
}
