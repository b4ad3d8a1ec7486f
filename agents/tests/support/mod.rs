//! Peers for the agent's delivery tests: the real `kubeward-server` binary over a fresh database, a scripted
//! HTTP server, a TLS server with a test CA, and a proxy that stores a report but never answers.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the support"
)]
#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const AGENT: &str = env!("CARGO_BIN_EXE_kubeward-agent");

/// The server binary, built beside the agent by `cargo test --workspace`.
pub fn server_binary() -> PathBuf {
    let path = Path::new(AGENT).with_file_name("kubeward-server");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds both binaries",
        path.display()
    );
    path
}

/// A port nobody listens on (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh database on the PostgreSQL server `DATABASE_URL` names; dropped with the value.
pub struct Database {
    pub url: String,
    name: String,
    base: String,
}

impl Database {
    pub fn new() -> Self {
        let base =
            std::env::var("DATABASE_URL").expect("the tests need DATABASE_URL (see README.md)");
        let name = format!("kubeward_agent_{}", uuid::Uuid::now_v7().simple());
        let server = base
            .rsplit_once('/')
            .map_or(base.as_str(), |(server, _)| server)
            .to_owned();
        Database {
            url: format!("{server}/{name}"),
            name,
            base,
        }
    }

    /// Runs one SQL query and returns its single value.
    pub fn scalar(&self, sql: &str) -> String {
        let output = Command::new("psql")
            .arg(&self.url)
            .args(["-tAc", sql])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Enrolls a cluster with the server's CLI and writes its token to a file.
    pub fn enroll(&self, cluster: &str, token_file: &Path) -> String {
        let output = Command::new(server_binary())
            .args(["cluster", "add", cluster])
            .env("DATABASE_URL", &self.url)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let token = String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .unwrap()
            .to_owned();
        std::fs::write(token_file, format!("{token}\n")).unwrap();
        token
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(&self.base)
            .args([
                "-q",
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

/// The real server, listening on `port`; stopped with SIGTERM when dropped.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    pub fn start(database: &Database, port: u16) -> Self {
        let mut child = Command::new(server_binary())
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", &database.url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if get_status(port, "/readyz") == Some(200) {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server did not become ready");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// A plain GET to a local port, returning the status.
pub fn get_status(port: u16, path: &str) -> Option<u16> {
    get(port, path).map(|(status, _)| status)
}

pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, body)| body.to_owned());
    Some((status, body))
}

/// Reads one HTTP request (head and `Content-Length` body) from a stream.
pub fn read_request(stream: &mut impl Read) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        let read = stream.read(&mut buffer).ok()?;
        if read == 0 {
            return None;
        }
        data.extend_from_slice(&buffer[..read]);
        if let Some(end) = find(&data, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let read = stream.read(&mut buffer).ok()?;
                if read == 0 {
                    return None;
                }
                data.extend_from_slice(&buffer[..read]);
            }
            return Some(data);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// An HTTP server answering from a script: the n-th request gets the n-th answer, the last one repeats.
pub struct ScriptedServer {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl ScriptedServer {
    pub fn start(script: Vec<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().filter_map(Result::ok) {
                let Some(request) = read_request(&mut stream) else {
                    continue;
                };
                let index = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(request);
                    seen.len() - 1
                };
                let answer = script
                    .get(index)
                    .or(script.last())
                    .cloned()
                    .unwrap_or_default();
                let _ = stream.write_all(answer.as_bytes());
                let _ = stream.shutdown(Shutdown::Both);
            }
        });
        ScriptedServer { port, requests }
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

pub fn answer(status: &str, headers: &[&str], body: &str) -> String {
    let mut text = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.push_str(body);
    text
}

/// A proxy to `upstream` that forwards each request and then holds the answer back forever: the server has
/// the report, the agent never learns it.
pub fn silent_proxy(upstream: u16) -> (u16, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let forwarded = Arc::new(Mutex::new(0usize));
    let count = forwarded.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut stream in listener.incoming().filter_map(Result::ok) {
            let Some(request) = read_request(&mut stream) else {
                continue;
            };
            let mut upstream = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
            upstream.write_all(&request).unwrap();
            let mut response = Vec::new();
            let _ = upstream.read_to_end(&mut response);
            *count.lock().unwrap() += 1;
            held.push(stream);
        }
    });
    (port, forwarded)
}

/// A TLS server whose certificate a fresh test CA signs; answers 201 to every request.
pub struct TlsServer {
    pub port: u16,
    pub ca_pem: String,
    pub requests: Arc<Mutex<usize>>,
}

impl TlsServer {
    pub fn start() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(0usize));
        let count = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().filter_map(Result::ok) {
                let Ok(connection) = rustls::ServerConnection::new(config.clone()) else {
                    continue;
                };
                let mut tls = rustls::StreamOwned::new(connection, stream);
                if read_request(&mut tls).is_some() {
                    *count.lock().unwrap() += 1;
                    let _ = tls.write_all(
                        answer("201 Created", &["Content-Type: application/json"], "{}").as_bytes(),
                    );
                    let _ = tls.flush();
                }
            }
        });
        TlsServer {
            port,
            ca_pem: ca_cert.pem(),
            requests,
        }
    }

    pub fn count(&self) -> usize {
        *self.requests.lock().unwrap()
    }
}

pub fn run_agent(args: &[&str], node: &Path, proc_root: &Path) -> Output {
    Command::new(AGENT)
        .arg("run")
        .args(args)
        .arg("--host-root")
        .arg(node)
        .arg("--proc-root")
        .arg(proc_root)
        .env_remove("NODE_NAME")
        .env("KUBEWARD_LOG", "info")
        .output()
        .unwrap()
}

pub fn spooled(spool: &Path) -> usize {
    std::fs::read_dir(spool.join("pending"))
        .map_or(0, |entries| entries.filter_map(Result::ok).count())
}

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
