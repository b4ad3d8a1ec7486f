//! The OpenAPI document: the committed copy is current, it covers every route and access rule, and a
//! property-based run of requests built from it (valid, malformed and hostile) against a server with data
//! never meets a 5xx, a status the document does not list, or an answer that breaks its documented schema.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod common;

use std::collections::BTreeMap;

use common::{TestServer, api_token, at, report};
use kubeward_benchmark::Status;
use kubeward_server::domain::role::Role;
use kubeward_server::http::{ACCESS_RULES, openapi};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::PgPool;

fn document() -> Value {
    serde_json::to_value(openapi::document()).unwrap()
}

#[test]
fn the_committed_document_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let generated = openapi::pretty();
    if std::env::var_os("KUBEWARD_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "server/openapi.json is not the document the code generates; refresh it with \
         `KUBEWARD_UPDATE_OPENAPI=1 cargo test -p kubeward-server --test openapi` and commit it"
    );
}

#[test]
fn every_access_rule_is_documented_with_its_role_and_every_api_operation_has_a_rule() {
    let document = document();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    for (path, access) in ACCESS_RULES {
        for (method, role) in access.0 {
            let operation = &paths[*path][method.to_ascii_lowercase()];
            assert!(operation.is_object(), "{method} {path} is not documented");
            assert_eq!(
                operation["security"],
                json!([{ "bearer": [role.as_str()] }]),
                "{method} {path}"
            );
            assert!(operation["responses"]["403"].is_object(), "{method} {path}");
        }
    }
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let method = method.to_ascii_uppercase();
            let ruled = ACCESS_RULES.iter().any(|(rule_path, access)| {
                rule_path == path && access.0.iter().any(|(m, _)| *m == method)
            });
            let public_or_agent =
                ["/healthz", "/readyz", "/metrics", "/api/v1/reports"].contains(&path.as_str());
            assert!(
                ruled || public_or_agent,
                "{method} {path} is documented but has no access rule"
            );
            for (status, response) in operation["responses"].as_object().unwrap() {
                if (status.starts_with('4') || status.starts_with('5')) && path.starts_with("/api/")
                {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status} is not problem+json"
                    );
                }
            }
        }
    }
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn the_served_document_is_public_and_the_generated_one(pool: PgPool) {
    let server = TestServer::start(pool).await;
    let response = server
        .client
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let served: Value = response.json().await.unwrap();
    assert_eq!(served, document());
}

/// A validator for one schema of the document (a `$ref` into its components).
struct Schemas {
    document: Value,
}

impl Schemas {
    fn validate(&self, schema: &Value, instance: &Value) -> Result<(), String> {
        let mut root = schema.clone();
        if let Some(object) = root.as_object_mut() {
            object.insert("components".into(), self.document["components"].clone());
        }
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .map_err(|err| format!("the document's schema does not compile: {err}"))?;
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|err| format!("{err} at {}", err.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let name = reference.trim_start_matches("#/components/schemas/");
                self.resolve(&self.document["components"]["schemas"][name])
            }
            None => schema,
        }
    }
}

/// What the seeded fleet holds, to aim some requests at things that exist.
struct Known {
    finding_ids: Vec<String>,
    scan_ids: Vec<String>,
    webhook_ids: Vec<String>,
    spare_token_ids: Vec<String>,
}

const HOSTILE: &[&str] = &[
    "<script>alert(1)</script>",
    "' OR '1'='1' --",
    "'; DROP TABLE findings; --",
    "99999999999999999999999999999",
    "-1",
    "0",
    "1e309",
    "NaN",
    "",
    " ",
    "null",
    "[]",
    "{}",
    "../../etc/passwd",
    "%00",
    "\u{0}",
    "\u{202e}evil",
    "ünïcødé-名前",
    "2026-13-45",
    "2026-02-30T25:61:00Z",
    "-9223372036854775808",
    "9223372036854775807",
];

fn long_string() -> String {
    "x".repeat(5000)
}

/// A value for a parameter or string field, by name: usually plausible, often hostile.
fn text_for(rng: &mut StdRng, name: &str) -> String {
    if rng.random_bool(0.35) {
        return if rng.random_bool(0.1) {
            long_string()
        } else {
            (*HOSTILE.choose(rng).unwrap()).to_owned()
        };
    }
    let options: &[&str] = match name {
        "cluster" | "name" => &["prod", "staging", "no-such-cluster", "Prod_1"],
        "node" => &["cp-1", "worker-1", "nobody"],
        "check" => &["1.2.15", "4.2.1", "9.9.9", "1.2"],
        "section" => &["1.2", "4", "4.2", "x.y"],
        "state" => &["open", "resolved", "closed"],
        "since" => &[
            "2026-01-01T00:00:00Z",
            "2026-09-21T10:00:00+02:00",
            "yesterday",
        ],
        "from" | "to" => &["2026-09-01", "2026-09-30", "2024-01-01", "2026-9-1"],
        "limit" => &["1", "2", "500", "501", "0", "abc"],
        "cursor" => &["0", "1", "3", "MTIzfGFiYw", "not-a-cursor"],
        "role" => &["viewer", "auditor", "admin", "root"],
        "url" | "ticket_url" => &[
            "https://tickets.example.test/browse/SEC-1",
            "http://127.0.0.1:1/hook",
            "javascript:alert(1)",
            "ftp://x",
        ],
        "secret" => &["a-webhook-secret-0123456789", "short"],
        "ticket_key" => &["SEC-1", "JIRA-42"],
        _ => &["value", "1"],
    };
    (*options.choose(rng).unwrap()).to_owned()
}

/// A JSON value for a schema: the right type with plausible or hostile content, sometimes the wrong type.
fn value_for(rng: &mut StdRng, schemas: &Schemas, schema: &Value, name: &str, depth: u32) -> Value {
    if rng.random_bool(0.08) || depth > 4 {
        let wrong = [
            json!(null),
            json!(true),
            json!(-1),
            json!(1e300),
            json!(18446744073709551615u64),
            json!("<script>"),
            json!([]),
            json!({}),
        ];
        return wrong.choose(rng).unwrap().clone();
    }
    let schema = schemas.resolve(schema);
    let kind = match &schema["type"] {
        Value::String(kind) => kind.clone(),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null")
            .unwrap_or("null")
            .to_owned(),
        _ => "object".to_owned(),
    };
    match kind.as_str() {
        "string" => Value::String(text_for(rng, name)),
        "integer" => {
            let numbers = [0i64, 1, 30, 3650, 3651, -5, i64::MAX, i64::MIN];
            json!(numbers.choose(rng).unwrap())
        }
        "number" => json!(0.5),
        "boolean" => json!(rng.random_bool(0.5)),
        "array" => {
            if name == "events" && rng.random_bool(0.5) {
                let kinds = [
                    "finding.opened",
                    "finding.resolved",
                    "node.stale",
                    "finding.deleted",
                ];
                return json!([kinds.choose(rng).unwrap()]);
            }
            let count = rng.random_range(0..3);
            Value::Array(
                (0..count)
                    .map(|_| value_for(rng, schemas, &schema["items"], name, depth + 1))
                    .collect(),
            )
        }
        "object" => {
            let mut object = serde_json::Map::new();
            if let Some(properties) = schema["properties"].as_object() {
                for (property, property_schema) in properties {
                    if rng.random_bool(0.85) {
                        object.insert(
                            property.clone(),
                            value_for(rng, schemas, property_schema, property, depth + 1),
                        );
                    }
                }
            }
            if rng.random_bool(0.1) {
                object.insert("unexpected".into(), json!("field"));
            }
            if name == "labels" {
                object.clear();
                object.insert(text_for(rng, "label"), json!(text_for(rng, "value")));
            }
            Value::Object(object)
        }
        _ => Value::Null,
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

fn path_value(rng: &mut StdRng, known: &Known, path: &str, name: &str) -> String {
    if rng.random_bool(0.3) {
        return text_for(rng, "hostile");
    }
    let pool: &[String] = if name == "name" {
        return text_for(rng, "cluster");
    } else if path.starts_with("/api/v1/findings") {
        &known.finding_ids
    } else if path.starts_with("/api/v1/scans") {
        &known.scan_ids
    } else if path.starts_with("/api/v1/webhooks") {
        &known.webhook_ids
    } else {
        &known.spare_token_ids
    };
    pool.choose(rng).cloned().unwrap_or_else(|| "1".to_owned())
}

async fn seed(server: &TestServer, admin: &str) -> Known {
    let (_, agent) = server.enroll("prod").await;
    let mut scan_ids = Vec::new();
    for (hour, statuses) in [
        (0, vec![("1.2.15", Status::Fail), ("4.2.1", Status::Fail)]),
        (24, vec![("4.2.1", Status::Fail)]),
        (48, vec![("1.2.15", Status::Fail)]),
    ] {
        let report = report("cp-1", at(hour), &statuses);
        scan_ids.push(report.scan_id.to_string());
        assert_eq!(server.post(&agent, &report).await.status(), 201);
    }
    let evil = report(
        "worker-1",
        at(1),
        &[("4.2.1", Status::Fail), ("1.2.15", Status::Fail)],
    );
    scan_ids.push(evil.scan_id.to_string());
    assert_eq!(server.post(&agent, &evil).await.status(), 201);
    let findings: Value = server
        .client
        .get(server.url("/api/v1/findings"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let finding_ids = findings["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].to_string())
        .collect();
    let hook: Value = server
        .client
        .post(server.url("/api/v1/webhooks"))
        .bearer_auth(admin)
        .json(&json!({"url": "http://127.0.0.1:9/hook", "secret": "a-webhook-secret-0123456789", "events": ["finding.opened"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (spare, _) = api_token(&server.pool, Role::Viewer, None).await;
    Known {
        finding_ids,
        scan_ids,
        webhook_ids: vec![hook["id"].as_str().unwrap().to_owned()],
        spare_token_ids: vec![spare.to_string()],
    }
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn requests_built_from_the_document_never_meet_a_5xx_or_an_undocumented_answer(pool: PgPool) {
    let seed_value: u64 = std::env::var("KUBEWARD_FUZZ_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(20_261_130);
    let cases_per_operation: usize = std::env::var("KUBEWARD_FUZZ_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(40);
    let server = TestServer::start(pool.clone()).await;
    let (_, admin) = api_token(&pool, Role::Admin, None).await;
    let (_, viewer) = api_token(&pool, Role::Viewer, None).await;
    let known = seed(&server, &admin).await;
    let (_, agent) = server.enroll("staging").await;
    let schemas = Schemas {
        document: document(),
    };
    let mut rng = StdRng::seed_from_u64(seed_value);
    let mut sent = 0usize;
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    let paths = schemas.document["paths"].as_object().unwrap().clone();
    for (path, item) in &paths {
        for (method, operation) in item.as_object().unwrap() {
            for case in 0..cases_per_operation {
                let mut url_path = path.clone();
                let mut query = Vec::new();
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    let name = parameter["name"].as_str().unwrap();
                    match parameter["in"].as_str().unwrap() {
                        "path" => {
                            let value = path_value(&mut rng, &known, path, name);
                            url_path = url_path.replace(&format!("{{{name}}}"), &encode(&value));
                        }
                        _ => {
                            let required = parameter["required"] == json!(true);
                            if required || rng.random_bool(0.5) {
                                query.push(format!("{name}={}", encode(&text_for(&mut rng, name))));
                            }
                        }
                    }
                }
                if rng.random_bool(0.05) {
                    query.push("unknown=1".to_owned());
                }
                let mut url = server.url(&url_path);
                if !query.is_empty() {
                    url = format!("{url}?{}", query.join("&"));
                }
                let mut request = server.client.request(
                    reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap(),
                    &url,
                );
                // Mostly as admin, so requests reach the handlers; sometimes as others.
                request = match rng.random_range(0..10) {
                    0 => request,
                    1 => request.bearer_auth(&viewer),
                    2 => request.bearer_auth(&agent),
                    3 => request.bearer_auth("kwt_<script>"),
                    _ => request.bearer_auth(&admin),
                };
                let body_schema =
                    &operation["requestBody"]["content"]["application/json"]["schema"];
                let mut body_text = String::new();
                if !body_schema.is_null() {
                    body_text = match rng.random_range(0..12) {
                        0 => "{\"unterminated\": ".to_owned(),
                        1 => "\u{0}\u{1}binary".to_owned(),
                        2 => format!("{{\"name\": \"{}\"}}", "y".repeat(70_000)),
                        _ => value_for(&mut rng, &schemas, body_schema, "body", 0).to_string(),
                    };
                    let content_type = if rng.random_bool(0.9) {
                        "application/json"
                    } else {
                        "text/plain"
                    };
                    request = request
                        .header("content-type", content_type)
                        .body(body_text.clone());
                }
                let response = request.send().await.unwrap();
                sent += 1;
                let status = response.status().as_u16();
                *by_status.entry(status).or_default() += 1;
                let content_type = response
                    .headers()
                    .get("content-type")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let text = response.text().await.unwrap();
                let context = format!(
                    "case {case} (seed {seed_value}): {} {url} body {:.300} -> {status} {:.500}",
                    method.to_ascii_uppercase(),
                    body_text,
                    text
                );
                assert!(status < 500, "a server error: {context}");
                let documented = &operation["responses"][status.to_string()];
                assert!(documented.is_object(), "an undocumented status: {context}");
                let Some(content) = documented["content"].as_object() else {
                    assert!(
                        text.is_empty(),
                        "a body where none is documented: {context}"
                    );
                    continue;
                };
                let media = content_type.split(';').next().unwrap_or_default().trim();
                let schema = &content
                    .get(media)
                    .unwrap_or_else(|| panic!("undocumented content type {media}: {context}"))["schema"];
                if media == "text/plain" {
                    // The metrics: text, as documented; nothing to validate as JSON.
                    continue;
                }
                let body: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|err| panic!("not JSON ({err}): {context}"));
                if let Err(err) = schemas.validate(schema, &body) {
                    panic!("the answer breaks its documented schema: {err}; {context}");
                }
            }
        }
    }
    // Not a vacuous run: every class of answer was met.
    assert!(sent >= 20 * cases_per_operation, "{sent} requests");
    for status in [200u16, 201, 204, 400, 401, 403, 404, 415] {
        assert!(
            by_status.contains_key(&status),
            "no request got {status}: {by_status:?}"
        );
    }
    eprintln!("{sent} requests, answers by status: {by_status:?}");
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn unknown_paths_and_methods_are_problems_too(pool: PgPool) {
    let server = TestServer::start(pool.clone()).await;
    let (_, admin) = api_token(&pool, Role::Admin, None).await;
    for (method, path, status) in [
        ("GET", "/api/v1/nope", 404),
        ("GET", "/api/v1/clusters//agent-tokens", 404),
        ("GET", "/api/v1/reports", 405),
        ("POST", "/healthz", 405),
        ("PUT", "/api/v1/openapi.json", 405),
        ("DELETE", "/api/v1/findings", 405),
    ] {
        let response = server
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                server.url(path),
            )
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{method} {path}"
        );
        let body = response.text().await.unwrap();
        assert!(!body.contains("<script>"), "{body}");
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["status"], status, "{method} {path}");
    }
    // Outside the API, browsers get a page.
    let response = server
        .client
        .get(server.url("/%3Cscript%3E"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    assert!(!response.text().await.unwrap().contains("<script>"));
}
