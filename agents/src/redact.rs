//! Keeping secrets on the node: values of settings that carry credentials are replaced before any fact
//! reaches the evaluator, so no report, table or log can contain them.

use kubeward_benchmark::facts::{Flag, REDACTED};
use kubeward_benchmark::values::parse_go_bool;
use serde_json::Value;

/// Words of a setting's name that mark it as carrying a credential.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "credentials",
    "apikey",
    "key",
];

/// Last words of settings that name where a secret lives, or a property of it, rather than the secret.
const REFERENCE_WORDS: &[&str] = &[
    "file",
    "dir",
    "path",
    "directory",
    "ttl",
    "expiration",
    "lookup",
    "name",
    "auth",
];

/// Whether a setting's value could be a secret: a word of its name speaks of one (`etcd-password`,
/// `ETCD_PASSWORD`, `oidc-client-secret`), and its last word does not make it a reference to one
/// (`token-auth-file`, `service-account-lookup`).
pub fn is_secret_setting(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let words: Vec<&str> = name
        .split(['-', '_', '.'])
        .filter(|word| !word.is_empty())
        .collect();
    let Some(last) = words.last() else {
        return false;
    };
    let speaks_of_secret = words.iter().any(|word| {
        SECRET_WORDS.contains(word)
            || ["password", "secret", "token"]
                .iter()
                .any(|secret| word.ends_with(secret))
    });
    speaks_of_secret && !REFERENCE_WORDS.contains(last)
}

/// Whether a value is harmless whatever the setting's name: a switch such as `--enable-bootstrap-token-auth`
/// holds a boolean, never a credential.
fn is_plain_value(value: &str) -> bool {
    value.is_empty() || parse_go_bool(value).is_some_and(|_| value.len() > 1)
}

/// Redacts a value if its setting carries a credential.
pub fn redact_value(name: &str, value: String) -> String {
    if is_secret_setting(name) && !is_plain_value(&value) {
        REDACTED.to_owned()
    } else {
        value
    }
}

pub fn redact_flags(flags: &mut [Flag]) {
    for flag in flags {
        if let Some(value) = flag.value.take() {
            flag.value = Some(redact_value(&flag.name, value));
        }
    }
}

/// Redacts every string under a secret-looking key of a parsed config document.
pub fn redact_document(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if is_secret_setting(key) {
                    redact_all_strings(child);
                } else {
                    redact_document(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_document),
        _ => {}
    }
}

fn redact_all_strings(value: &mut Value) {
    match value {
        Value::String(text) if !is_plain_value(text) => *text = REDACTED.to_owned(),
        Value::Object(map) => map.values_mut().for_each(redact_all_strings),
        Value::Array(items) => items.iter_mut().for_each(redact_all_strings),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_recognised_and_file_references_are_not() {
        for secret in [
            "token",
            "bootstrap-token",
            "etcd-password",
            "ETCD_PASSWORD",
            "client-secret",
            "oidc-client-secret",
            "service-account-signing-key",
            "key",
            "credentials",
        ] {
            assert!(is_secret_setting(secret), "{secret}");
        }
        for reference in [
            "token-auth-file",
            "etcd-keyfile",
            "tls-private-key-file",
            "service-account-key-file",
            "service-account-extend-token-expiration",
            "service-account-lookup",
            "kubeconfig",
            "anonymous-auth",
            "authorization-mode",
            "keyring",
            "client-ca-file",
            "ETCD_KEY_FILE",
        ] {
            assert!(!is_secret_setting(reference), "{reference}");
        }
    }

    #[test]
    fn booleans_are_never_redacted_but_numeric_secrets_are() {
        assert_eq!(
            redact_value("enable-bootstrap-token-auth", "true".into()),
            "true"
        );
        // A numeric password is still a password.
        assert_eq!(redact_value("etcd-password", "1234".into()), REDACTED);
        assert_eq!(redact_value("token", "s3cr3t".into()), REDACTED);
    }

    #[test]
    fn nested_secrets_in_documents_are_redacted() {
        let mut document = serde_json::json!({
            "authentication": {"webhook": {"enabled": true}},
            "secret": {"data": "aGVsbG8="},
            "users": [{"token": "abc123"}],
        });
        redact_document(&mut document);
        assert_eq!(document["secret"]["data"], REDACTED);
        assert_eq!(document["users"][0]["token"], REDACTED);
        assert_eq!(document["authentication"]["webhook"]["enabled"], true);
    }
}
