//! Opening the database: the given URL (creating its database when it does not exist yet) or the embedded
//! PostgreSQL, then the migrations. Every subcommand that touches the database goes through here.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::embedded_postgres::{EmbeddedError, EmbeddedPostgres};

/// A database URL; may hold a password, so it never prints.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatabaseUrl(<redacted>)")
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Ok(DatabaseUrl(text.to_owned()))
        } else {
            Err("a database URL starts with postgres:// or postgresql://".to_owned())
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    #[error("cannot reach the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot create the database: {0}")]
    Create(#[source] sqlx::Error),
    #[error("cannot apply the migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// An open database, with the embedded PostgreSQL behind it if there is one.
#[derive(Debug)]
pub struct Database {
    pub pool: PgPool,
    embedded: Option<EmbeddedPostgres>,
}

/// The default data directory: `/var/lib/kubeward` for root (whose home the unprivileged PostgreSQL user
/// cannot enter), else `$XDG_DATA_HOME/kubeward` or `~/.local/share/kubeward`.
pub fn default_data_dir() -> PathBuf {
    let root = std::fs::metadata("/proc/self")
        .is_ok_and(|meta| std::os::unix::fs::MetadataExt::uid(&meta) == 0);
    if root {
        return PathBuf::from("/var/lib/kubeward");
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir).join("kubeward");
    }
    match std::env::var_os("HOME").filter(|home| !home.is_empty() && home != "/") {
        Some(home) => PathBuf::from(home).join(".local/share/kubeward"),
        None => PathBuf::from("/var/lib/kubeward"),
    }
}

impl Database {
    /// Opens the database at `url`, or the embedded one under `data_dir`, and applies the migrations.
    pub async fn open(
        url: Option<&DatabaseUrl>,
        data_dir: &Path,
        max_connections: u32,
    ) -> Result<Self, DatabaseError> {
        let database = Self::connect(url, data_dir, max_connections).await?;
        if let Err(err) = database.migrate().await {
            database.close().await;
            return Err(err);
        }
        Ok(database)
    }

    /// Applies the pending migrations.
    pub async fn migrate(&self) -> Result<(), DatabaseError> {
        crate::MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Opens the database without migrating it (the server answers `/healthz` while it migrates).
    pub async fn connect(
        url: Option<&DatabaseUrl>,
        data_dir: &Path,
        max_connections: u32,
    ) -> Result<Self, DatabaseError> {
        let (options, embedded) = match url {
            Some(url) => {
                if !Postgres::database_exists(url.expose())
                    .await
                    .map_err(DatabaseError::Connect)?
                {
                    tracing::info!("the database does not exist yet; creating it");
                    Postgres::create_database(url.expose())
                        .await
                        .map_err(DatabaseError::Create)?;
                }
                let options =
                    PgConnectOptions::from_str(url.expose()).map_err(DatabaseError::Connect)?;
                (options, None)
            }
            None => {
                let embedded = EmbeddedPostgres::start(data_dir)?;
                if let Err(err) = ensure_embedded_database(&embedded).await {
                    embedded.stop();
                    return Err(err);
                }
                (embedded.connect_options(), Some(embedded))
            }
        };
        let pool = match PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options)
            .await
        {
            Ok(pool) => pool,
            Err(err) => {
                if let Some(embedded) = &embedded {
                    embedded.stop();
                }
                return Err(DatabaseError::Connect(err));
            }
        };
        Ok(Database { pool, embedded })
    }

    /// Closes the pool, then stops the embedded PostgreSQL if this process started it.
    pub async fn close(self) {
        self.pool.close().await;
        if let Some(embedded) = &self.embedded {
            embedded.stop();
        }
    }
}

async fn ensure_embedded_database(embedded: &EmbeddedPostgres) -> Result<(), DatabaseError> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect_with(&embedded.maintenance_options())
        .await
        .map_err(DatabaseError::Connect)?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(embedded.database_name())
            .fetch_one(&mut conn)
            .await
            .map_err(DatabaseError::Connect)?;
    if !exists {
        // The name is the constant `kubeward`, the one the embedded cluster serves.
        sqlx::query("CREATE DATABASE kubeward")
            .execute(&mut conn)
            .await
            .map_err(DatabaseError::Create)?;
    }
    conn.close().await.map_err(DatabaseError::Connect)?;
    Ok(())
}

/// Whether a database error means "the database cannot be reached right now" (503, try again) rather than
/// a fault of this request: the pool gave up waiting, the connection broke, or PostgreSQL is shutting down,
/// restarting or refusing connections (SQLSTATE class 08, 57P01 to 57P03).
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(database) => database.code().is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}
