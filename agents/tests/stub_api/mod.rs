//! A loopback stand-in for the Kubernetes API server, for the tests and the benchmark of the cluster agent:
//! canned lists served in pages with continue tokens shaped like the real ones, and on request a token that
//! expires (410 Gone) and kinds the caller may not list (403). Unknown CRD groups answer 404; core kinds the
//! canned objects leave out are empty lists. Requests need the bearer token the kubeconfig below carries.

#![allow(
    dead_code,
    reason = "each test binary that includes this uses a different part of it"
)]
#![allow(
    clippy::unwrap_used,
    reason = "a test stand-in should stop loudly at the first unexpected error"
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// How the stub behaves beyond serving its objects.
#[derive(Clone, Default)]
pub struct Behaviour {
    pub page_size_seen: Arc<Mutex<Vec<String>>>,
    /// Paths answered with 403.
    pub forbidden: Vec<&'static str>,
    /// The path whose second page answers 410 Gone once.
    pub expire_once: Option<&'static str>,
    /// Keep each answer and send it again for the same request (a benchmark measures the agent, not the
    /// stub's JSON encoding).
    pub cache: bool,
}

pub struct Stub {
    pub address: String,
    pub requests: Arc<Mutex<Vec<String>>>,
}

fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": message, "reason": reason, "code": code}),
    )
}

/// Percent-decoding for the continue token, as the API server reads the query.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn answer(
    objects: &BTreeMap<String, Vec<Value>>,
    behaviour: &Behaviour,
    expired: &AtomicBool,
    target: &str,
) -> (u16, Value) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path == "/version" {
        return (
            200,
            json!({"major": "1", "minor": "33", "gitVersion": "v1.33.2", "platform": "linux/amd64"}),
        );
    }
    if behaviour.forbidden.contains(&path) {
        return status(403, "Forbidden", &format!("cannot list resource at {path}"));
    }
    let params: BTreeMap<&str, String> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key, decode(value)))
        .collect();
    let Some(items) = objects.get(path) else {
        // Core kinds the fixture leaves out are empty lists; CRD groups are not installed.
        if path.starts_with("/api/")
            || path.starts_with("/apis/apps")
            || path.starts_with("/apis/batch")
            || path.starts_with("/apis/networking.k8s.io")
            || path.starts_with("/apis/rbac")
        {
            return (
                200,
                json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []}),
            );
        }
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let limit: usize = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(items.len());
    behaviour
        .page_size_seen
        .lock()
        .unwrap()
        .push(format!("{path} limit={limit}"));
    // Tokens look like the API server's: base64 with `+`, `/` and `=`, so that encoding matters.
    let offset = match params.get("continue") {
        Some(token) => {
            let Some(offset) = token
                .strip_prefix("eyJ+/")
                .and_then(|rest| rest.strip_suffix("=="))
            else {
                return status(400, "BadRequest", "malformed continue token");
            };
            if behaviour.expire_once == Some(path) && !expired.swap(true, Ordering::SeqCst) {
                return status(410, "Expired", "The provided continue parameter is too old");
            }
            offset.parse().unwrap()
        }
        None => 0,
    };
    let end = (offset + limit).min(items.len());
    let mut metadata = json!({"resourceVersion": "900"});
    if end < items.len() {
        metadata["continue"] = Value::from(format!("eyJ+/{end}=="));
        metadata["remainingItemCount"] = Value::from(items.len() - end);
    }
    let group_version = path
        .strip_prefix("/apis/")
        .map(|rest| rest.split('/').take(2).collect::<Vec<_>>().join("/"))
        .unwrap_or_else(|| "v1".to_owned());
    (
        200,
        json!({"kind": "List", "apiVersion": group_version, "metadata": metadata, "items": items[offset..end]}),
    )
}

fn serve_one(
    mut stream: TcpStream,
    objects: &BTreeMap<String, Vec<Value>>,
    behaviour: &Behaviour,
    expired: &AtomicBool,
    requests: &Mutex<Vec<String>>,
    cache: &mut BTreeMap<String, (u16, String)>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut authorised = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
        if header
            .to_ascii_lowercase()
            .starts_with("authorization: bearer stub-token")
        {
            authorised = true;
        }
    }
    requests.lock().unwrap().push(target.clone());
    let cached = cache.get(&target).filter(|_| authorised).cloned();
    let (code, body) = match cached {
        Some(answer) => answer,
        None => {
            let (code, body) = if authorised {
                answer(objects, behaviour, expired, &target)
            } else {
                status(401, "Unauthorized", "no token")
            };
            let body = body.to_string();
            if behaviour.cache && authorised {
                cache.insert(target.clone(), (code, body.clone()));
            }
            (code, body)
        }
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

pub fn start(objects: BTreeMap<String, Vec<Value>>, behaviour: Behaviour) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    std::thread::spawn(move || {
        let expired = AtomicBool::new(false);
        let mut cache = BTreeMap::new();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            serve_one(stream, &objects, &behaviour, &expired, &log, &mut cache);
        }
    });
    Stub { address, requests }
}

/// A kubeconfig for the stub whose current context is not the stub's, so that `--context` must work.
pub fn kubeconfig(dir: &std::path::Path, server: &str) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: stub\n  cluster: {{server: \"{server}\"}}\nusers:\n- name: ci\n  user: {{token: stub-token}}\ncontexts:\n- name: stub\n  context: {{cluster: stub, user: ci}}\n- name: other\n  context: {{cluster: stub, user: ci}}\ncurrent-context: other\n"
        ),
    )
    .unwrap();
    path
}
