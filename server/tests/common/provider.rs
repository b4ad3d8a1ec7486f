//! A real OpenID provider for the tests: the npm package `oidc-provider`, run by `deploy/oidc/provider.mjs`
//! with two users (`auditor`, in the group kubeward-auditors, and `nobody`, in no group). Its node modules
//! come from `npm ci --prefix deploy/oidc`, which the test script runs.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CLIENT_ID: &str = "kubeward";
pub const CLIENT_SECRET: &str = "kubeward-test-secret";

/// A running provider, stopped (with its whole process group) when dropped.
pub struct Provider {
    pub issuer: String,
    child: Child,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

impl Provider {
    /// Starts a provider whose client returns to `public_url` (the kubeward server under test).
    pub fn start(public_url: &str) -> Provider {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/oidc");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the OpenID provider is not installed: run `npm ci --prefix deploy/oidc` (scripts/test does)"
        );
        let port = free_port();
        let issuer = format!("http://127.0.0.1:{port}");
        let child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .env("ISSUER", &issuer)
            .env("PORT", port.to_string())
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("REDIRECT_URI", format!("{public_url}/auth/callback"))
            .env(
                "POST_LOGOUT_REDIRECT_URI",
                format!("{public_url}/logged-out"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("node runs");
        let provider = Provider { issuer, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        let discovery = format!("127.0.0.1:{port}");
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&discovery).is_ok() {
                return provider;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the OpenID provider did not start");
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// A server of the pages whose login is this kind of provider: binds the server's listener first (the provider
/// must know where to send people back), starts the provider, discovers it, and starts the server. The group
/// `kubeward-auditors` maps to the auditor role.
pub async fn server_with_login(
    pool: sqlx::PgPool,
    key: actix_web::cookie::Key,
) -> (super::TestServer, Provider) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let public_url = format!("http://{}", listener.local_addr().expect("its address"));
    let provider = Provider::start(&public_url);
    let settings = kubeward_server::shared::jwt::OidcSettings {
        issuer: provider.issuer.clone(),
        audience: CLIENT_ID.to_owned(),
        role_claim: "groups".to_owned(),
        roles: vec![(
            "kubeward-auditors".to_owned(),
            kubeward_server::domain::role::Role::Auditor,
        )],
    };
    let login = kubeward_server::web::login::OidcLogin::discover(
        settings,
        Some(secrecy::SecretString::from(CLIENT_SECRET.to_owned())),
        &public_url,
        vec!["email".to_owned(), "groups".to_owned()],
    )
    .await
    .expect("the provider is discovered");
    let web = kubeward_server::web::WebConfig {
        login: Some(std::sync::Arc::new(login)),
        cookie_key: key,
        secure_cookies: false,
        idle_timeout: Duration::from_secs(3600),
        absolute_timeout: Duration::from_secs(12 * 3600),
    };
    let server = super::TestServer::start_on(listener, pool, None, web).await;
    (server, provider)
}
