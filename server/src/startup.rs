//! The server's life: `serve` opens the database, starts the background workers and the HTTP server, and
//! shuts them down; [`Application`] builds the HTTP server on a bound listener (tests bind port 0 and read
//! the port back). The command line (`cli`) only parses arguments and dispatches here.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, middleware, web};
use sqlx::PgPool;

use crate::catalogs::Catalogs;
use crate::cli::{CommandResult, ServeArgs};
use crate::database::{Database, default_data_dir};
use crate::http;
use crate::shared::AppState;
use crate::shared::jwt::JwtVerifier;
use crate::web::WebConfig;
use secrecy::SecretString;

pub struct Application {
    address: SocketAddr,
    server: Server,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// What the server runs with, besides its listener and database.
#[derive(Debug, Clone)]
pub struct Services {
    pub catalogs: Arc<Catalogs>,
    /// Tells `/readyz` whether the migrations have run; the server answers `/healthz` before.
    pub migrated: Arc<AtomicBool>,
    pub stale_after: Duration,
    pub jwt: Option<Arc<JwtVerifier>>,
    pub web: Arc<WebConfig>,
    pub limits: crate::app::governance::Limits,
    /// Bounds on what a request may make the server read.
    pub edge: crate::edge::Settings,
    /// Refused credentials a source may present in a minute before it is answered 429.
    pub auth_failures_per_minute: u32,
    /// The server's own TLS; `None` serves plain HTTP.
    pub tls: Option<Arc<crate::tls::ReloadingCertificate>>,
}

impl Application {
    /// Binds `address` and prepares the server over a migrated pool.
    pub fn build(address: SocketAddr, pool: PgPool, services: Services) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address)?;
        Self::with_listener(listener, pool, services)
    }

    pub fn with_listener(
        listener: TcpListener,
        pool: PgPool,
        services: Services,
    ) -> std::io::Result<Self> {
        let address = listener.local_addr()?;
        let sealer = crate::domain::sealed::Sealer::new(services.web.cookie_key.master())
            .map_err(std::io::Error::other)?;
        let state = AppState {
            pool,
            catalogs: services.catalogs,
            migrated: services.migrated,
            stale_after: services.stale_after,
            jwt: services.jwt,
            limits: services.limits,
            throttle: Arc::new(crate::shared::throttle::AuthThrottle::new(
                services.auth_failures_per_minute,
            )),
            sealer: Arc::new(sealer),
            known_attribute_sets: Arc::default(),
        };
        let web_config = web::Data::from(services.web);
        let form_targets: Vec<String> = web_config
            .login
            .as_ref()
            .and_then(|login| login.end_session_origin())
            .into_iter()
            .collect();
        let edge = web::Data::new(services.edge);
        let strict_transport = services.tls.is_some();
        let server = HttpServer::new(move || {
            // The last wrap is the outermost: the log sees every answer, the security headers are added to
            // every answer, edge refusals included.
            App::new()
                .wrap(middleware::from_fn(crate::edge::guard))
                .wrap(crate::web::security::headers(
                    &form_targets,
                    strict_transport,
                ))
                .wrap(
                    middleware::Logger::new("%a \"%r\" %s %b %Dms %{x-request-id}o")
                        .exclude("/healthz"),
                )
                .app_data(web::Data::new(state.clone()))
                .app_data(edge.clone())
                .app_data(web_config.clone())
                .configure(crate::web::routes)
                .configure(http::routes)
                .default_service(web::to(crate::edge::not_found))
        })
        // Stop accepting on SIGTERM/SIGINT and let requests in flight finish.
        .shutdown_timeout(30);
        let server = match &services.tls {
            Some(certificate) => {
                server.listen_rustls_0_23(listener, certificate.server_config())?
            }
            None => server.listen(listener)?,
        }
        .run();
        Ok(Application { address, server })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

/// The pages' authentication. Without an issuer the server runs in local mode, which DESIGN allows on loopback
/// only: anywhere else it would show every report to anyone who can reach it.
async fn web_config(args: &ServeArgs, data_dir: &std::path::Path) -> Result<WebConfig, String> {
    let key_file = args
        .session_key_file
        .clone()
        .unwrap_or_else(|| data_dir.join("session.key"));
    let cookie_key = crate::web::session::cookie_key(&key_file, args.session_key_file.is_none())?;
    let Some(issuer) = &args.oidc_issuer else {
        if !args.bind.ip().is_loopback() {
            return Err(format!(
                "refusing to listen on {}: without --oidc-issuer kubeward runs in local mode, with \
                 authentication off, and serves only a loopback address (such as 127.0.0.1:8080); \
                 configure OpenID Connect to serve others",
                args.bind
            ));
        }
        tracing::warn!("local mode: authentication is off; listening on loopback only");
        return Ok(WebConfig::local(cookie_key));
    };
    let public_url = args.public_url.clone().ok_or(
        "--oidc-issuer needs --public-url, the address browsers reach kubeward at (the login returns there)",
    )?;
    if !(public_url.starts_with("https://") || public_url.starts_with("http://")) {
        return Err("--public-url must be an http(s) URL".to_owned());
    }
    let client_secret = match (&args.oidc_client_secret, &args.oidc_client_secret_file) {
        (Some(secret), _) => Some(secret.clone()),
        (None, Some(path)) => Some(SecretString::from(
            std::fs::read_to_string(path)
                .map_err(|err| format!("cannot read {}: {err}", path.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
        )),
        (None, None) => None,
    };
    let settings = crate::shared::jwt::OidcSettings {
        issuer: issuer.clone(),
        audience: args.oidc_client_id.clone().unwrap_or_default(),
        role_claim: args.oidc_role_claim.clone(),
        roles: args.oidc_roles.clone(),
    };
    let login = crate::web::login::OidcLogin::discover(
        settings,
        client_secret,
        &public_url,
        args.oidc_scopes.clone(),
    )
    .await?;
    Ok(WebConfig {
        login: Some(Arc::new(login)),
        cookie_key,
        secure_cookies: public_url.starts_with("https://"),
        idle_timeout: args.session_idle,
        absolute_timeout: args.session_max,
    })
}

/// Seals the webhook secrets stored before secrets were sealed, in one transaction.
async fn seal_stored_secrets(
    pool: &PgPool,
    sealer: &crate::domain::sealed::Sealer,
) -> CommandResult {
    let mut tx = pool.begin().await?;
    let unsealed = crate::storage::webhooks::unsealed_secrets(&mut tx).await?;
    for (id, secret) in &unsealed {
        let sealed = sealer.seal(secret)?;
        crate::storage::webhooks::store_sealed_secret(&mut tx, *id, &sealed).await?;
    }
    tx.commit().await?;
    if !unsealed.is_empty() {
        tracing::info!(
            webhooks = unsealed.len(),
            "sealed webhook secrets stored in clear"
        );
    }
    Ok(())
}

/// The server's TLS certificate, or `None` for plain HTTP, which is allowed on loopback, or beyond it only
/// by `--plain-http`.
fn transport(args: &ServeArgs) -> Result<Option<Arc<crate::tls::ReloadingCertificate>>, String> {
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => crate::tls::ReloadingCertificate::open(cert, key)
            .map(Some)
            .map_err(|err| format!("cannot serve TLS: {err}")),
        _ if args.bind.ip().is_loopback() => Ok(None),
        _ if args.plain_http => {
            tracing::warn!(address = %args.bind, "serving plain HTTP beyond loopback (--plain-http): tokens and evidence cross the network in clear unless a TLS-terminating proxy is in front");
            Ok(None)
        }
        _ => Err(format!(
            "refusing to serve plain HTTP on {}: agent tokens would cross the network in clear. Give \
             --tls-cert and --tls-key (kubeward-server tls generate makes a pair), or --plain-http when a \
             TLS-terminating proxy or ingress is in front",
            args.bind
        )),
    }
}

/// `kubeward-server serve`: the whole life of the server process, from its database to the last request.
pub async fn serve(args: ServeArgs) -> CommandResult {
    let tls = transport(&args)?;
    let catalogs = Arc::new(Catalogs::builtin()?);
    let demo_catalogs = catalogs.clone();
    let worker_catalogs = catalogs.clone();
    let data_dir = args
        .database
        .data_dir
        .clone()
        .unwrap_or_else(default_data_dir);
    let jwt = match &args.oidc_issuer {
        None => None,
        Some(issuer) => {
            let audience = args.oidc_client_id.clone().ok_or(
                "--oidc-issuer needs --oidc-client-id, the audience its tokens are issued for",
            )?;
            let settings = crate::shared::jwt::OidcSettings {
                issuer: issuer.clone(),
                audience,
                role_claim: args.oidc_role_claim.clone(),
                roles: args.oidc_roles.clone(),
            };
            Some(Arc::new(JwtVerifier::discover(settings).await?))
        }
    };
    let web = Arc::new(web_config(&args, &data_dir).await?);
    // The session key also seals webhook secrets (under a key derived for that alone).
    let sealing_key = web.cookie_key.clone();
    let database = Database::connect(
        args.database.database_url.as_ref(),
        &data_dir,
        args.db_connections,
    )
    .await?;
    let migrated = Arc::new(AtomicBool::new(false));
    let services = Services {
        catalogs,
        migrated: migrated.clone(),
        stale_after: args.stale_after,
        jwt,
        web,
        limits: crate::app::governance::Limits {
            exception_max_days: args.exception_max_days,
            attestation_max_days: args.attestation_max_days,
        },
        edge: crate::edge::Settings {
            body_timeout: args.body_timeout,
        },
        tls: tls.clone(),
        auth_failures_per_minute: args.auth_failures_per_minute,
    };
    let application = match Application::build(args.bind, database.pool.clone(), services) {
        Ok(application) => application,
        Err(err) => {
            database.close().await;
            return Err(format!("cannot listen on {}: {err}", args.bind).into());
        }
    };
    // The one line tests and scripts read to find the port; logs go to stderr.
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "kubeward-server listening on {scheme}://{}",
        application.address()
    );
    let reloader = tls.map(|certificate| tokio::spawn(certificate.watch()));
    tracing::info!(address = %application.address(), "listening");
    let handle = application.handle();
    let server = tokio::spawn(application.run_until_stopped());
    if let Err(err) = database.migrate().await {
        handle.stop(true).await;
        database.close().await;
        return Err(err.into());
    }
    if args.demo {
        tracing::info!("filling the demo clusters; ready when done");
        match crate::app::demo::fill(&database.pool, &demo_catalogs).await {
            Ok(stored) => tracing::info!(scans = stored, "demo data ready"),
            Err(err) => {
                handle.stop(true).await;
                database.close().await;
                return Err(err.into());
            }
        }
    }
    // Before the server says it is ready: from then on no secret is in the database in clear.
    let sealer = Arc::new(crate::domain::sealed::Sealer::new(sealing_key.master())?);
    if let Err(err) = seal_stored_secrets(&database.pool, &sealer).await {
        handle.stop(true).await;
        database.close().await;
        return Err(err);
    }
    migrated.store(true, Ordering::Release);
    tracing::info!("migrations applied; ready");
    // Deliveries wait in PostgreSQL, so stopping this task with the server loses none of them.
    let mut webhook_worker =
        crate::app::webhooks::WebhookWorker::new(database.pool.clone(), worker_catalogs, sealer);
    webhook_worker.destinations.allowed = args.webhook_allow_networks.clone();
    if !args.webhook_allow_networks.is_empty() {
        let allowed: Vec<String> = args
            .webhook_allow_networks
            .iter()
            .map(ToString::to_string)
            .collect();
        tracing::warn!(networks = %allowed.join(", "), "webhooks may be delivered to these non-public networks");
    }
    let worker = tokio::spawn(webhook_worker.run());
    let watcher = tokio::spawn(
        crate::app::staleness::StalenessWatcher::new(database.pool.clone(), args.stale_after).run(),
    );
    let outcome = server.await;
    worker.abort();
    watcher.abort();
    if let Some(reloader) = reloader {
        reloader.abort();
    }
    tracing::info!("shutting down");
    database.close().await;
    outcome??;
    Ok(())
}
