//! The command line: `serve`, and the admin commands that enroll clusters and manage agent tokens.
//! Every command that touches the database opens it the same way (`--database-url`/`DATABASE_URL`, else
//! the embedded PostgreSQL under `--data-dir`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::database::{Database, DatabaseUrl, default_data_dir};
use secrecy::SecretString;

use crate::app::admin;
use crate::domain::actor::Actor;
use crate::domain::cluster::{ClusterName, Labels};
use crate::domain::role::Role;
use crate::domain::token::{TokenName, expiry_after};
use crate::storage::{api_tokens, clusters, nodes, tokens};
use crate::telemetry::{self, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "kubeward-server",
    version,
    about = "kubeward's server: report history, findings and trends"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, env = "KUBEWARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and the reports.
    Serve(Box<ServeArgs>),
    /// Enroll clusters and manage their agent tokens.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// The node registry.
    #[command(subcommand)]
    Node(NodeCommand),
    /// API tokens for scripts and ticketing integrations.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print the API's OpenAPI 3.1 document (the same as GET /api/v1/openapi.json).
    Openapi,
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Certificates for the server's own TLS.
    #[command(subcommand)]
    Tls(TlsCommand),
}

#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Make a private CA and a server certificate it signs, for an installation without a certificate
    /// issuer of its own: writes ca.crt, tls.crt and tls.key (the key readable by its owner only).
    Generate {
        /// A DNS name or IP address the certificate is for (repeat), e.g. kubeward-server.kubeward.svc.
        #[arg(long = "name", required = true)]
        names: Vec<String>,
        /// The directory to write into.
        #[arg(long)]
        out: PathBuf,
        /// How many days the CA and the certificate are valid.
        #[arg(long, default_value_t = 397, value_parser = clap::value_parser!(u32).range(1..=3650))]
        days: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain: exit 0 when intact; otherwise exit 1 and name the first broken record.
    /// Prints the last record's id and hash: keep them outside kubeward and pass them to --expect later to
    /// detect a rewrite of everything after them.
    Verify {
        /// A record id and hash kept from an earlier run, `ID:HEX`: that record must still be there unchanged.
        #[arg(long, value_parser = parse_expected_record)]
        expect: Option<(i64, Vec<u8>)>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

fn parse_expected_record(text: &str) -> Result<(i64, Vec<u8>), String> {
    let (id, hash) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not ID:HASH"))?;
    let id = id
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| format!("{id:?} is not a record id"))?;
    let hash = hex::decode(hash)
        .ok()
        .filter(|hash| hash.len() == 32)
        .ok_or_else(|| "the hash must be 64 hex digits".to_owned())?;
    Ok((id, hash))
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue an API token; it is printed on the last line of stdout, once.
    Create {
        /// What the token is for (shown in listings).
        #[arg(long)]
        name: String,
        /// viewer, auditor or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// How long it is valid (e.g. 90d, 12h), or `never`.
        #[arg(long, default_value = "90d")]
        expires: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List API tokens (never the tokens themselves).
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke an API token by its id.
    Revoke {
        token_id: Uuid,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| format!("{text:?} is not a role: use viewer, auditor or admin"))
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL; without it the server runs its own PostgreSQL under the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,
    /// Where the server keeps its files (the embedded PostgreSQL among them).
    #[arg(long, env = "KUBEWARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

impl DatabaseArgs {
    async fn open(&self, max_connections: u32) -> Result<Database, crate::database::DatabaseError> {
        let data_dir = self.data_dir.clone().unwrap_or_else(default_data_dir);
        Database::open(self.database_url.as_ref(), &data_dir, max_connections).await
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "KUBEWARD_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Database connections the server may hold.
    #[arg(long, env = "KUBEWARD_DB_CONNECTIONS", default_value_t = 16)]
    pub db_connections: u32,
    /// Enroll demo clusters and fill them with 90 days of generated scans before becoming ready.
    #[arg(long)]
    pub demo: bool,
    /// How long a node may go without a report before it is stale (e.g. 24h, 2d).
    #[arg(long, env = "KUBEWARD_STALE_AFTER", default_value = "24h", value_parser = parse_duration)]
    pub stale_after: Duration,
    /// OpenID Connect issuer whose JWTs the API accepts as bearer tokens.
    #[arg(long, env = "KUBEWARD_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The audience (client id) those JWTs must be issued for.
    #[arg(long, env = "KUBEWARD_OIDC_CLIENT_ID", requires = "oidc_issuer")]
    pub oidc_client_id: Option<String>,
    /// The claim whose values map to roles.
    #[arg(long, env = "KUBEWARD_OIDC_ROLE_CLAIM", default_value = "groups")]
    pub oidc_role_claim: String,
    /// A claim value and the role it grants, `VALUE=ROLE` (repeat, or comma-separate in the environment).
    #[arg(long = "oidc-role", env = "KUBEWARD_OIDC_ROLES", value_delimiter = ',', value_parser = parse_role_mapping)]
    pub oidc_roles: Vec<(String, Role)>,
    /// The client secret for the pages' login (omit it for a public client: the login uses PKCE either way).
    #[arg(
        long,
        env = "KUBEWARD_OIDC_CLIENT_SECRET",
        hide_env_values = true,
        conflicts_with = "oidc_client_secret_file"
    )]
    #[arg(value_parser = parse_secret)]
    pub oidc_client_secret: Option<SecretString>,
    /// A file holding the client secret (its first line).
    #[arg(long, env = "KUBEWARD_OIDC_CLIENT_SECRET_FILE")]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// Scopes to ask for at login besides `openid` (repeat, or comma-separate in the environment).
    #[arg(long = "oidc-scope", env = "KUBEWARD_OIDC_SCOPES", value_delimiter = ',', default_values_t = ["email".to_owned(), "profile".to_owned()])]
    pub oidc_scopes: Vec<String>,
    /// Where browsers reach this server, e.g. https://kubeward.example.com (the login returns to
    /// <public-url>/auth/callback). Needed with --oidc-issuer.
    #[arg(long, env = "KUBEWARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The key that encrypts session cookies: a file of 128 hex digits. Without it, one is generated once
    /// and kept in the data directory as session.key.
    #[arg(long, env = "KUBEWARD_SESSION_KEY_FILE")]
    pub session_key_file: Option<PathBuf>,
    /// A session ends after this long without a request.
    #[arg(long, env = "KUBEWARD_SESSION_IDLE", default_value = "1h", value_parser = parse_duration)]
    pub session_idle: Duration,
    /// A session ends this long after its login in any case.
    #[arg(long, env = "KUBEWARD_SESSION_MAX", default_value = "12h", value_parser = parse_duration)]
    pub session_max: Duration,
    /// How many days ahead an exception may end, at most.
    #[arg(long, env = "KUBEWARD_EXCEPTION_MAX_DAYS", default_value_t = 365, value_parser = clap::value_parser!(i64).range(1..=3660))]
    pub exception_max_days: i64,
    /// How many days ahead an attestation may answer for, at most.
    #[arg(long, env = "KUBEWARD_ATTESTATION_MAX_DAYS", default_value_t = 365, value_parser = clap::value_parser!(i64).range(1..=3660))]
    pub attestation_max_days: i64,
    /// The server's certificate chain (PEM), read again whenever it changes: serve HTTPS.
    #[arg(long, env = "KUBEWARD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "KUBEWARD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on an address other than loopback, for a TLS-terminating proxy or ingress in front.
    /// Without TLS and without this, the server listens on loopback only: agent tokens must not cross a
    /// network in clear.
    #[arg(long, env = "KUBEWARD_PLAIN_HTTP", conflicts_with = "tls_cert")]
    pub plain_http: bool,
    /// Refused credentials one address may present in a minute; beyond, it is answered 429 until the minute
    /// ends, without a database lookup.
    #[arg(long, env = "KUBEWARD_AUTH_FAILURES_PER_MINUTE", default_value_t = crate::shared::throttle::FAILURES_ALLOWED, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_failures_per_minute: u32,
    /// A network webhooks may be delivered to although it is not public, e.g. 10.96.0.0/12 for receivers in
    /// the cluster (repeat, or comma-separate in the environment). Without it, only public addresses.
    #[arg(
        long = "webhook-allow-network",
        env = "KUBEWARD_WEBHOOK_ALLOW_NETWORKS",
        value_delimiter = ','
    )]
    pub webhook_allow_networks: Vec<crate::domain::network::Network>,
    /// How long a client may take to send a request body before it is refused with 408 (e.g. 30s).
    #[arg(long, env = "KUBEWARD_BODY_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub body_timeout: Duration,
}

/// A secret from the command line or the environment, held so that no `{:?}` of the arguments prints it.
fn parse_secret(text: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(text.to_owned()))
}

fn parse_role_mapping(text: &str) -> Result<(String, Role), String> {
    let (value, role) = text
        .rsplit_once('=')
        .ok_or_else(|| format!("{text:?} is not VALUE=ROLE"))?;
    let role = Role::parse(role)
        .ok_or_else(|| format!("{role:?} is not a role: use viewer, auditor or admin"))?;
    if value.is_empty() {
        return Err(format!("{text:?} has no claim value"));
    }
    Ok((value.to_owned(), role))
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Enroll a cluster; prints its first agent token on the last line of stdout.
    Add {
        name: String,
        /// A label `key=value`; repeat for more.
        #[arg(long = "label")]
        labels: Vec<String>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Issue another agent token for a cluster; printed on the last line of stdout.
    Token {
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke an agent token by its id (see `cluster list --tokens`).
    RevokeToken {
        token_id: Uuid,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List clusters with their nodes and tokens.
    List {
        /// Also list every agent token.
        #[arg(long)]
        tokens: bool,
        /// How long a node may go without a report before it is stale (e.g. 24h, 2d).
        #[arg(long, env = "KUBEWARD_STALE_AFTER", default_value = "24h", value_parser = parse_duration)]
        stale_after: Duration,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// List nodes with their last report and staleness.
    List {
        #[arg(long)]
        cluster: Option<String>,
        /// How long a node may go without a report before it is stale (e.g. 24h, 2d).
        #[arg(long, env = "KUBEWARD_STALE_AFTER", default_value = "24h", value_parser = parse_duration)]
        stale_after: Duration,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// Parses `90s`, `30m`, `24h`, `7d`, or combinations such as `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let error = || format!("{text:?} is not a duration such as 30m, 24h or 7d");
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(error()),
        };
        let value: u64 = digits.parse().map_err(|_| error())?;
        total = value
            .checked_mul(unit)
            .and_then(|seconds| total.checked_add(seconds))
            .ok_or_else(error)?;
        digits.clear();
    }
    if !digits.is_empty() || total == 0 {
        return Err(error());
    }
    Ok(Duration::from_secs(total))
}

/// Runs a command; errors are printed on stderr and turn into exit status 1 (usage errors exit 2 via clap).
pub async fn run(cli: Cli) -> ExitCode {
    telemetry::init(cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => crate::startup::serve(*args).await,
        Command::Cluster(command) => cluster(command).await,
        Command::Node(command) => node(command).await,
        Command::Token(command) => token(command).await,
        Command::Openapi => {
            print!("{}", crate::http::openapi::pretty());
            Ok(())
        }
        Command::Tls(TlsCommand::Generate { names, out, days }) => {
            crate::tls::generate(&names, days)
                .and_then(|generated| crate::tls::write_generated(&generated, &out))
                .map(|()| {
                    println!(
                        "wrote {0}/ca.crt, {0}/tls.crt and {0}/tls.key",
                        out.display()
                    );
                })
                .map_err(Into::into)
        }
        Command::Audit(AuditCommand::Verify { expect, database }) => {
            with_database(&database, |pool| async move {
                let mut conn = pool.acquire().await?;
                match crate::storage::audit::verify(&mut conn, expect).await? {
                    Ok(verified) => {
                        println!(
                            "audit trail intact: {} records; last record {}:{}",
                            verified.records,
                            verified.records,
                            hex::encode(verified.head_hash)
                        );
                        Ok(())
                    }
                    Err((broken, last_good, _)) => Err(format!(
                        "audit trail broken: {broken} (records 1 to {last_good} are intact)"
                    )
                    .into()),
                }
            })
            .await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kubeward-server: {err}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) type CommandResult = Result<(), Box<dyn std::error::Error>>;

/// Opens the database for one admin command, runs it, and closes the database (stopping the embedded
/// PostgreSQL if this command started it) whatever the command's outcome.
async fn with_database<F, Fut>(args: &DatabaseArgs, command: F) -> CommandResult
where
    F: FnOnce(sqlx::PgPool) -> Fut,
    Fut: Future<Output = CommandResult>,
{
    let database = args.open(2).await?;
    let result = command(database.pool.clone()).await;
    database.close().await;
    result
}

async fn cluster(command: ClusterCommand) -> CommandResult {
    match command {
        ClusterCommand::Add {
            name,
            labels,
            database,
        } => {
            let name = ClusterName::parse(&name)?;
            let labels = Labels::parse(labels.iter().map(String::as_str))?;
            with_database(&database, |pool| async move {
                let enrolled = admin::enroll(&pool, &Actor::command_line(), &name, &labels).await?;
                let token_id = enrolled.token_id;
                println!(
                    "cluster {name} enrolled; agent token {token_id} (shown once, keep it secret):"
                );
                println!("{}", enrolled.token.reveal());
                Ok::<(), Box<dyn std::error::Error>>(())
            })
            .await
        }
        ClusterCommand::Token { name, database } => {
            let name = ClusterName::parse(&name)?;
            with_database(&database, |pool| async move {
                let (token_id, token) =
                    admin::issue_agent_token(&pool, &Actor::command_line(), &name).await?;
                println!("agent token {token_id} for cluster {name} (shown once, keep it secret):");
                println!("{}", token.reveal());
                Ok::<(), Box<dyn std::error::Error>>(())
            })
            .await
        }
        ClusterCommand::RevokeToken { token_id, database } => {
            with_database(&database, |pool| async move {
                match admin::revoke_agent_token(&pool, &Actor::command_line(), token_id).await? {
                    admin::Revoked::Now => println!("agent token {token_id} revoked"),
                    admin::Revoked::Before => println!("agent token {token_id} was revoked before"),
                }
                Ok::<(), Box<dyn std::error::Error>>(())
            })
            .await
        }
        ClusterCommand::List {
            tokens: show_tokens,
            stale_after,
            database,
        } => {
            with_database(&database, |pool| async move {
                let mut conn = pool.acquire().await?;
                let stale_before = OffsetDateTime::now_utc() - stale_after;
                println!(
                    "{:<24} {:>6} {:>6} {:>7}  {:<25} LABELS",
                    "CLUSTER", "NODES", "STALE", "TOKENS", "LAST REPORT"
                );
                for cluster in clusters::list(&mut conn, stale_before).await? {
                    println!(
                        "{:<24} {:>6} {:>6} {:>7}  {:<25} {}",
                        cluster.name,
                        cluster.nodes,
                        cluster.stale_nodes,
                        cluster.active_tokens,
                        cluster
                            .last_seen
                            .map_or_else(|| "never".to_owned(), format_time),
                        cluster.labels
                    );
                }
                if show_tokens {
                    println!();
                    println!(
                        "{:<36} {:<24} {:<25} {:<25} REVOKED",
                        "TOKEN", "CLUSTER", "CREATED", "LAST USED"
                    );
                    for token in tokens::list(&mut conn).await? {
                        println!(
                            "{:<36} {:<24} {:<25} {:<25} {}",
                            token.id,
                            token.cluster,
                            format_time(token.created_at),
                            token
                                .last_used_at
                                .map_or_else(|| "never".to_owned(), format_time),
                            token.revoked_at.map_or_else(|| "-".to_owned(), format_time)
                        );
                    }
                }
                Ok::<(), Box<dyn std::error::Error>>(())
            })
            .await
        }
    }
}

async fn token(command: TokenCommand) -> CommandResult {
    match command {
        TokenCommand::Create {
            name,
            role,
            expires,
            database,
        } => {
            let name = TokenName::parse(&name).map_err(|err| format!("--name {err}"))?;
            let expires_at = if expires == "never" {
                None
            } else {
                // The API's limit too: at most ten years, which also keeps the date representable.
                let lifetime = parse_duration(&expires)?;
                let lifetime = time::Duration::try_from(lifetime).ok();
                Some(
                    lifetime
                        .and_then(|lifetime| expiry_after(OffsetDateTime::now_utc(), lifetime))
                        .ok_or_else(|| {
                            format!("--expires {expires:?} must be from 1s to 3650d (ten years), or never")
                        })?,
                )
            };
            with_database(&database, |pool| async move {
                let (token_id, token) = admin::issue_api_token(
                    &pool,
                    &Actor::command_line(),
                    &name,
                    role,
                    expires_at,
                )
                .await?;
                let until = expires_at.map_or_else(|| "never expires".to_owned(), |at| format!("expires {}", format_time(at)));
                println!("API token {token_id} \"{name}\" with role {role}, {until} (shown once, keep it secret):");
                println!("{}", token.reveal());
                Ok::<(), Box<dyn std::error::Error>>(())
            })
            .await
        }
        TokenCommand::List { database } => {
            with_database(&database, |pool| async move {
                let mut conn = pool.acquire().await?;
                println!(
                    "{:<36} {:<24} {:<8} {:<25} {:<25} {:<25} REVOKED",
                    "TOKEN", "NAME", "ROLE", "CREATED", "EXPIRES", "LAST USED"
                );
                for token in api_tokens::list(&mut conn).await? {
                    println!(
                        "{:<36} {:<24} {:<8} {:<25} {:<25} {:<25} {}",
                        token.id,
                        token.name,
                        token.role,
                        format_time(token.created_at),
                        token
                            .expires_at
                            .map_or_else(|| "never".to_owned(), format_time),
                        token
                            .last_used_at
                            .map_or_else(|| "never".to_owned(), format_time),
                        token.revoked_at.map_or_else(|| "-".to_owned(), format_time)
                    );
                }
                Ok::<(), Box<dyn std::error::Error>>(())
            })
            .await
        }
        TokenCommand::Revoke { token_id, database } => {
            with_database(&database, |pool| async move {
                match admin::revoke_api_token(&pool, &Actor::command_line(), token_id).await? {
                    admin::Revoked::Now => println!("API token {token_id} revoked"),
                    admin::Revoked::Before => println!("API token {token_id} was revoked before"),
                }
                Ok::<(), Box<dyn std::error::Error>>(())
            })
            .await
        }
    }
}

async fn node(command: NodeCommand) -> CommandResult {
    let NodeCommand::List {
        cluster,
        stale_after,
        database,
    } = command;
    with_database(&database, |pool| async move {
        let mut conn = pool.acquire().await?;
        let stale_before = OffsetDateTime::now_utc() - stale_after;
        println!(
            "{:<24} {:<32} {:<28} {:<25} {:<10} STALE",
            "CLUSTER", "NODE", "ROLES", "LAST REPORT", "KUBELET"
        );
        for node in nodes::list(&mut conn, cluster.as_deref()).await? {
            println!(
                "{:<24} {:<32} {:<28} {:<25} {:<10} {}",
                node.cluster,
                node.name,
                node.roles.join(","),
                format_time(node.last_seen),
                node.kubelet_version.as_deref().unwrap_or("-"),
                if node.is_stale(stale_before) {
                    "stale"
                } else {
                    "-"
                }
            );
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })
    .await
}

fn format_time(time: OffsetDateTime) -> String {
    time.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| time.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_days() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        for bad in ["", "0s", "h", "10", "5w", "-1h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
