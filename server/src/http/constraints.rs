//! What the server enforces on parameters and bodies, written into the OpenAPI document, so that a request
//! the document calls valid is not refused for its form, and one it calls invalid is. The rules stay with
//! the code that enforces them ([`super::api`], [`crate::domain::cluster`], the catalogs); this module
//! states them once more in JSON Schema, and the schema-conformance runs (`server/tests/openapi.rs`,
//! `scripts/schemathesis`) check that the two agree.
//!
//! Not expressible here, and so documented in words only: rules relative to the clock (an exception's end
//! in the future, an attestation's days) and rules across fields (a trend range of at most a year).

use serde_json::{Value, json};

use kubeward_benchmark::catalog::Assessment;

use crate::catalogs::Catalogs;

/// A cluster name: a DNS label ([`crate::domain::cluster::ClusterName`]).
const CLUSTER_NAME: &str = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
/// A cursor of an id-ordered list: the last id of a page.
const ID_CURSOR: &str = "^[0-9]{1,18}$";
/// Text of at least one character that is not white space, with no control character (C0, DEL or C1, as
/// Rust's `char::is_control` has them).
const TEXT: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$";
/// A filter value: no control character.
const FILTER: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$";
/// A day, or an RFC 3339 time, as `at` takes them.
const DAY_OR_TIME: &str = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?$";
/// Label keys and values ([`crate::domain::cluster::Labels`]).
const LABEL_KEY: &str = "^[A-Za-z0-9._/-]{1,63}$";
const LABEL_VALUE: &str = "^[A-Za-z0-9._/-]{0,63}$";

/// The schema of a query parameter, by its name (and the path, where one name means two things).
fn query_schema(path: &str, name: &str) -> Option<Value> {
    let filter =
        |max: u32| json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": FILTER});
    Some(match name {
        "cursor" if path == "/api/v1/clusters" => {
            json!({"type": "string", "pattern": CLUSTER_NAME})
        }
        "cursor" if path == "/api/v1/scans" => {
            json!({"type": "string", "pattern": super::scans::CURSOR_PATTERN})
        }
        "cursor" => json!({"type": "string", "pattern": ID_CURSOR}),
        // Days 29 to 31 are left out: the pattern cannot know which months have them.
        "at" => json!({"type": "string", "pattern": DAY_OR_TIME}),
        "action" => json!({
            "type": "string",
            "enum": crate::domain::audit::Action::ALL.map(crate::domain::audit::Action::as_str),
        }),
        "since" | "until" => json!({"type": "string", "format": "date-time"}),
        "cluster" => filter(63),
        "node" => filter(253),
        // A section number, as `kubeward_benchmark::validate::is_check_id` reads one.
        "section" => json!({
            "type": "string",
            "minLength": 1,
            "maxLength": 32,
            "pattern": "^[0-9][A-Za-z0-9]*(\\.[0-9][A-Za-z0-9]*)*$",
        }),
        "check" => filter(32),
        "state" if path == "/api/v1/exceptions" => json!({
            "type": "string",
            "enum": ["requested", "lapsed", "in_force", "expired", "rejected", "revoked"],
        }),
        "actor" => filter(300),
        _ => return None,
    })
}

/// Replaces the schema of every constrained parameter; path ids are positive, cluster names are names.
fn constrain_parameters(document: &mut Value) {
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let Some(parameters) = operation["parameters"].as_array_mut() else {
                continue;
            };
            for parameter in parameters {
                let name = parameter["name"].as_str().unwrap_or_default().to_owned();
                let schema = match parameter["in"].as_str() {
                    Some("query") => query_schema(path, &name),
                    Some("path") if name == "id" && parameter["schema"]["type"] == "integer" => {
                        Some(json!({"type": "integer", "format": "int64", "minimum": 1}))
                    }
                    Some("path") if name == "name" => {
                        Some(json!({"type": "string", "pattern": CLUSTER_NAME}))
                    }
                    _ => None,
                };
                if let Some(schema) = schema {
                    parameter["schema"] = schema;
                }
            }
        }
    }
}

/// Merges `rules` into the properties of a component schema.
fn constrain_properties(document: &mut Value, component: &str, rules: &[(&str, Value)]) {
    let properties = &mut document["components"]["schemas"][component]["properties"];
    for (property, rule) in rules {
        if let (Some(target), Some(rule)) =
            (properties[*property].as_object_mut(), rule.as_object())
        {
            for (key, value) in rule {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The check ids a body may name: every check of the built-in catalogs, or only the Manual ones.
/// Every check governance may name (node and cluster-scope), or only the Manual ones (what may be attested).
fn check_ids(manual_only: bool) -> Vec<String> {
    let Ok(catalogs) = Catalogs::builtin() else {
        return Vec::new();
    };
    let node_checks = catalogs
        .all_checks()
        .filter(|check| !manual_only || check.assessment == Assessment::Manual)
        .map(|check| check.id.clone());
    let policy_checks = catalogs
        .policy_checks()
        .filter(|check| !manual_only || check.assessment == Assessment::Manual)
        .map(|check| check.id.clone());
    let mut ids: Vec<String> = node_checks.chain(policy_checks).collect();
    ids.sort();
    ids.dedup();
    ids
}

fn group_names() -> Vec<String> {
    Catalogs::builtin()
        .map(|catalogs| catalogs.group_names())
        .unwrap_or_default()
}

fn object_kinds() -> Vec<String> {
    Catalogs::builtin()
        .map(|catalogs| {
            catalogs
                .object_kinds()
                .into_iter()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn constrain_bodies(document: &mut Value) {
    let text = |max: u32| json!({"minLength": 1, "maxLength": max, "pattern": TEXT});
    let nullable_name = json!({"pattern": CLUSTER_NAME});
    constrain_properties(
        document,
        "NewCluster",
        &[
            ("name", json!({"pattern": CLUSTER_NAME})),
            (
                "labels",
                json!({
                    "propertyNames": {"type": "string", "pattern": LABEL_KEY},
                    "additionalProperties": {"type": "string", "pattern": LABEL_VALUE},
                }),
            ),
        ],
    );
    constrain_properties(
        document,
        "NewApiToken",
        &[
            ("name", text(100)),
            ("role", json!({"enum": ["viewer", "auditor", "admin"]})),
            ("expires_in_days", json!({"minimum": 1, "maximum": 3650})),
        ],
    );
    constrain_properties(
        document,
        "NewExceptionBody",
        &[
            ("check", json!({"enum": check_ids(false)})),
            ("group", json!({"enum": group_names()})),
            ("cluster", nullable_name.clone()),
            ("kind", json!({"enum": object_kinds()})),
            ("justification", text(4000)),
        ],
    );
    constrain_properties(
        document,
        "NewAttestationBody",
        &[
            ("check", json!({"enum": check_ids(true)})),
            ("cluster", nullable_name),
            ("verdict", json!({"enum": ["pass", "fail"]})),
            ("statement", text(4000)),
        ],
    );
    constrain_properties(document, "PlatformBucketBody", &[("reason", text(4000))]);
    constrain_properties(
        document,
        "TicketLink",
        &[("ticket_key", json!({"pattern": FILTER}))],
    );
    constrain_properties(
        document,
        "DecisionBody",
        &[("note", json!({"maxLength": 4000, "pattern": FILTER}))],
    );
    // Rejecting and revoking need a note; approving does not: one more schema, the same JSON shape.
    document["components"]["schemas"]["RequiredNote"] = json!({
        "type": "object",
        "description": "The body of a rejection or revocation: why, in a note.",
        "required": ["note"],
        "properties": {"note": {"type": "string", "minLength": 1, "maxLength": 4000, "pattern": TEXT}},
        "additionalProperties": false,
    });
    for path in [
        "/api/v1/exceptions/{id}/reject",
        "/api/v1/exceptions/{id}/revoke",
        "/api/v1/attestations/{id}/revoke",
    ] {
        document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"] =
            json!({"$ref": "#/components/schemas/RequiredNote"});
    }
}

/// Writes every rule above into the document.
pub fn apply(document: &mut Value) {
    constrain_parameters(document);
    constrain_bodies(document);
}
