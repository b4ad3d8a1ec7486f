//! The API server's EncryptionConfiguration: which provider writes each group of resources.

use kubeward_benchmark::facts::{EncryptedResources, EncryptionFacts, ProcessFacts};
use serde_json::Value;

use crate::configs::last_flag;
use crate::documents::parse_mapping;
use crate::host::HostFs;

/// Reads the file named by `--encryption-provider-config`; `None` when the API server names none.
/// Only resource and provider names leave this function: keys and secrets in the file never do.
pub fn collect(host: &HostFs, apiserver: &ProcessFacts) -> Option<EncryptionFacts> {
    let path = last_flag(apiserver, "encryption-provider-config")?;
    let content = host
        .read(path)
        .map_err(|err| err.to_string())
        .and_then(|bytes| parse_mapping(&bytes))
        .and_then(|document| providers(&document));
    Some(EncryptionFacts {
        path: path.to_owned(),
        content,
    })
}

fn providers(document: &Value) -> Result<Vec<EncryptedResources>, String> {
    let entries = document
        .get("resources")
        .and_then(Value::as_array)
        .ok_or_else(|| "has no `resources` list".to_owned())?;
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let resources = entry
                .get("resources")
                .and_then(Value::as_array)
                .ok_or_else(|| format!("resources[{index}] has no `resources` list"))?
                .iter()
                .map(|resource| resource.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    format!("resources[{index}].resources holds something other than names")
                })?;
            let providers = entry
                .get("providers")
                .and_then(Value::as_array)
                .ok_or_else(|| format!("resources[{index}] has no `providers` list"))?;
            // Each provider is a one-key mapping such as `aescbc: {keys: [...]}`; its key is its kind.
            let first_provider = match providers.first() {
                None => None,
                Some(provider) => Some(
                    provider
                        .as_object()
                        .and_then(|map| map.keys().next().cloned())
                        .ok_or_else(|| {
                            format!("resources[{index}].providers[0] is not a provider")
                        })?,
                ),
            };
            Ok(EncryptedResources {
                resources,
                first_provider,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_provider_of_each_list_is_the_writer() {
        let document = parse_mapping(
            br#"
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - identity: {}
      - aescbc: { keys: [ { name: key1, secret: c2VjcmV0IGlzIHNlY3VyZQ== } ] }
  - resources: [configmaps]
    providers: []
"#,
        )
        .unwrap();
        let entries = providers(&document).unwrap();
        assert_eq!(entries[0].first_provider.as_deref(), Some("identity"));
        assert_eq!(entries[0].resources, ["secrets"]);
        assert_eq!(entries[1].first_provider, None);
    }

    #[test]
    fn a_malformed_configuration_is_an_error_not_a_panic() {
        for text in [
            "resources: 7",
            "resources: [{resources: [1], providers: []}]",
            "resources: [{resources: [secrets], providers: [7]}]",
            "kind: x",
        ] {
            let document = parse_mapping(text.as_bytes()).unwrap();
            assert!(providers(&document).is_err(), "{text}");
        }
    }
}
