//! The real `kubeward-server` binary as a child process: fresh databases and data directories, the CLI, and
//! a running server with its address and logs.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary under test: this build's, or another build named by `KUBEWARD_TEST_SERVER_BIN` (to replay
/// the attack tests against an older release and see them fail there).
pub fn server_binary() -> String {
    std::env::var("KUBEWARD_TEST_SERVER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_kubeward-server").to_owned())
}

/// A database URL on the test's PostgreSQL server, for a database that does not exist yet.
pub fn fresh_database_url() -> (String, String) {
    let base = std::env::var("DATABASE_URL").expect("the tests need DATABASE_URL (see README.md)");
    let name = format!("kubeward_bin_{}", uuid::Uuid::now_v7().simple());
    let server = base
        .rsplit_once('/')
        .map_or(base.as_str(), |(server, _)| server)
        .to_owned();
    (format!("{server}/{name}"), name)
}

pub fn drop_database(name: &str) {
    let base = std::env::var("DATABASE_URL").unwrap();
    let _ = Command::new("psql")
        .arg(&base)
        .args([
            "-q",
            "-c",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        ])
        .output();
}

/// A data directory the unprivileged PostgreSQL user can reach (temporary directories are 0700).
pub fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("kw-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    (dir, data)
}

pub fn command(database_url: Option<&str>) -> Command {
    let mut command = Command::new(server_binary());
    command
        .env_remove("DATABASE_URL")
        // The server keeps files (its session key) in its data directory: never the machine's.
        .env(
            "KUBEWARD_DATA_DIR",
            std::env::temp_dir().join("kubeward-binary-tests"),
        )
        .env_remove("KUBEWARD_BIND")
        .env_remove("KUBEWARD_OIDC_ISSUER");
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    command
}

pub fn cli(database_url: Option<&str>, data: &Path, args: &[&str]) -> Output {
    command(database_url)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The last line of a command's stdout: where new tokens are printed.
pub fn last_line(output: &Output) -> String {
    stdout(output).lines().last().unwrap_or_default().to_owned()
}

pub struct Running {
    pub child: Child,
    pub base: String,
    stderr: mpsc::Receiver<String>,
}

impl Running {
    /// Starts `serve` with `extra` arguments after it.
    pub fn start(command: Command, extra: &[&std::ffi::OsStr]) -> Self {
        Self::start_on(command, "127.0.0.1:0", extra)
    }

    /// Starts `serve` on `bind` with `extra` arguments after it.
    pub fn start_on(mut command: Command, bind: &str, extra: &[&std::ffi::OsStr]) -> Self {
        let mut child = command
            .args(["serve", "--bind", bind])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut stderr_pipe = child.stderr.take().unwrap();
        let (errors, stderr) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text);
            let _ = errors.send(text);
        });
        let Ok(line) = received.recv_timeout(Duration::from_secs(120)) else {
            let _ = child.kill();
            let logs = stderr
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_default();
            panic!("the server did not print its address; it logged:\n{logs}");
        };
        let base = line.rsplit(' ').next().unwrap().to_owned();
        let running = Running {
            child,
            base,
            stderr,
        };
        running.wait_ready();
        running
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if self.readyz() == Some(200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("the server did not become ready");
    }

    /// `/readyz`'s status; over TLS without checking the certificate (tests that care check it themselves).
    fn readyz(&self) -> Option<u16> {
        let url = format!("{}/readyz", self.base);
        if !self.base.starts_with("https://") {
            return http_probe::status_of(&url);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        runtime.block_on(async {
            let client = reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .build()
                .ok()?;
            let response = client.get(&url).send().await.ok()?;
            Some(response.status().as_u16())
        })
    }

    /// Sends SIGTERM and waits for a clean exit; returns what the server logged.
    pub fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "the server exited with {exit}");
        self.stderr
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_default()
    }
}

/// A test that fails before `stop` must not leave its server running.
impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A small blocking GET, so that readiness polling needs no HTTP client runtime.
pub mod http_probe {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    pub fn status_of(url: &str) -> Option<u16> {
        get(url)?.split(' ').nth(1)?.parse().ok()
    }

    /// The whole answer, head and body.
    pub fn get(url: &str) -> Option<String> {
        let rest = url.strip_prefix("http://")?;
        let (host, path) = rest.split_once('/')?;
        let mut stream = TcpStream::connect(host).ok()?;
        write!(
            stream,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        Some(response)
    }
}

pub fn post_report(base: &str, token: &str, body: &[u8]) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{base}/api/v1/reports"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

pub fn embedded_postgres_running(data: &Path) -> bool {
    data.join("postgres/postmaster.pid").exists()
}
