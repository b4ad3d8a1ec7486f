//! Building and running the HTTP server on a bound listener; tests bind port 0 and read the port back.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, middleware, web};
use sqlx::PgPool;

use crate::catalogs::Catalogs;
use crate::http;
use crate::shared::AppState;
use crate::shared::jwt::JwtVerifier;
use crate::web::WebConfig;

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
