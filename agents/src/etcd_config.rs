//! etcd's `--config-file`: when etcd is given one it ignores its other flags and its environment and reads
//! every setting from the file (RKE2's etcd pod, k3s's embedded etcd). The file's keys are the flag names,
//! with the TLS settings nested under `client-transport-security` and `peer-transport-security`; they are
//! turned into the flags they stand for, each naming the file as its source.

use std::collections::BTreeMap;

use kubeward_benchmark::facts::{Flag, ProcessFacts};
use serde_json::Value;

use crate::documents::parse_mapping;
use crate::host::HostFs;
use crate::redact::redact_flags;

/// The nested TLS sections and the prefix their keys take as flags.
const TLS_SECTIONS: &[(&str, &str)] = &[
    ("client-transport-security", ""),
    ("peer-transport-security", "peer-"),
];

/// The settings of an etcd that reads `path`, as flags; `settings_error` when the file cannot be read.
pub fn from_config_file(host: &HostFs, path: &str) -> ProcessFacts {
    let source = format!("etcd config file {path}");
    let mut facts = ProcessFacts::default();
    let document = host
        .read(path)
        .map_err(|err| err.to_string())
        .and_then(|bytes| parse_mapping(&bytes));
    let document = match document {
        Ok(Value::Object(document)) => document,
        Ok(_) => {
            facts.settings_error = Some(format!("{path} is not a mapping of settings"));
            return facts;
        }
        Err(reason) => {
            facts.settings_error = Some(format!("{path} could not be read: {reason}"));
            return facts;
        }
    };
    let mut flags = Vec::new();
    for (key, value) in &document {
        match TLS_SECTIONS.iter().find(|(section, _)| section == key) {
            Some((_, prefix)) => {
                if let Value::Object(settings) = value {
                    for (name, value) in settings {
                        push(&mut flags, format!("{prefix}{name}"), value, &source);
                    }
                }
            }
            None => push(&mut flags, key.clone(), value, &source),
        }
    }
    redact_flags(&mut flags);
    facts.flags = flags;
    facts.env = BTreeMap::new();
    facts
}

fn push(flags: &mut Vec<Flag>, name: String, value: &Value, source: &str) {
    let text = match value {
        // An empty value sets nothing, as Kubernetes-style configs read it.
        Value::Null => return,
        Value::String(text) if text.is_empty() => return,
        Value::String(text) => text.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => return,
        other => other.to_string(),
    };
    flags.push(Flag {
        name,
        value: Some(text),
        source: Some(source.to_owned()),
    });
}

/// An etcd process started with `--config-file` takes every setting from it.
pub fn apply(host: &HostFs, etcd: &mut ProcessFacts) {
    let Some(path) = crate::configs::last_flag(etcd, "config-file").map(str::to_owned) else {
        return;
    };
    let from_file = from_config_file(host, &path);
    etcd.flags = from_file.flags;
    etcd.env = BTreeMap::new();
    etcd.settings_error = from_file.settings_error;
}
