//! Zero configuration: with no database URL the server runs its own PostgreSQL from the binaries installed on
//! the machine, in a cluster under its data directory, listening on a Unix socket only.
//!
//! The cluster is initialised on first start and reused afterwards. It is stopped on exit by whoever
//! started it (a CLI command run while the server is up uses the running cluster and leaves it running).
//! PostgreSQL refuses to run as root, so under root it runs as the `postgres` system user.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sqlx::postgres::PgConnectOptions;

/// The database and role the embedded cluster serves.
const DATABASE: &str = "kubeward";
const SUPERUSER: &str = "kubeward";
/// Unix socket paths are limited to 107 bytes on Linux.
const MAX_SOCKET_DIR_LEN: usize = 90;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "no PostgreSQL server binaries (initdb, pg_ctl) were found in `pg_config --bindir`, PATH or the usual \
         directories. Install PostgreSQL (for example `apt-get install postgresql` or `dnf install \
         postgresql-server`), or point DATABASE_URL (or --database-url) at a PostgreSQL server"
    )]
    NoBinaries,
    #[error(
        "running as root, the embedded PostgreSQL needs an unprivileged `postgres` system user (PostgreSQL \
         refuses to run as root); create one, run kubeward-server as another user, or set DATABASE_URL"
    )]
    NoUnprivilegedUser,
    #[error("the data directory {path} cannot be prepared: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the `postgres` user cannot enter {0}, above the data directory; make it traversable (chmod o+x) or \
         choose another --data-dir"
    )]
    NotTraversable(PathBuf),
    #[error(
        "the data directory path {0} is too long for a PostgreSQL socket; choose a shorter --data-dir"
    )]
    PathTooLong(PathBuf),
    #[error("{command} failed: {detail}")]
    Command { command: String, detail: String },
}

/// A running embedded PostgreSQL.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bindir: PathBuf,
    pgdata: PathBuf,
    socket_dir: PathBuf,
    run_as: Option<(u32, u32)>,
    started_here: bool,
}

impl EmbeddedPostgres {
    /// Initialises the cluster if needed and starts it (or finds it running).
    pub fn start(data_dir: &Path) -> Result<Self, EmbeddedError> {
        let bindir = find_bindir().ok_or(EmbeddedError::NoBinaries)?;
        let run_as = if effective_uid_is_root() {
            Some(system_user("postgres").ok_or(EmbeddedError::NoUnprivilegedUser)?)
        } else {
            None
        };
        let data_dir = absolute(data_dir);
        let pgdata = data_dir.join("postgres");
        let socket_dir = data_dir.join("run");
        if socket_dir.as_os_str().len() > MAX_SOCKET_DIR_LEN {
            return Err(EmbeddedError::PathTooLong(socket_dir));
        }
        prepare_dirs(&data_dir, &pgdata, &socket_dir, run_as)?;
        let mut embedded = EmbeddedPostgres {
            bindir,
            pgdata,
            socket_dir,
            run_as,
            started_here: false,
        };
        if !embedded.pgdata.join("PG_VERSION").exists() {
            embedded.initdb()?;
        }
        if embedded.is_running() {
            tracing::info!(pgdata = %embedded.pgdata.display(), "using the embedded PostgreSQL that is already running");
        } else {
            let log = embedded.pgdata.join("postgres.log");
            embedded.pg_ctl("start", &["-w", "-t", "120", "-l", &log.to_string_lossy()])?;
            embedded.started_here = true;
            tracing::info!(pgdata = %embedded.pgdata.display(), "started the embedded PostgreSQL");
        }
        Ok(embedded)
    }

    /// Options to connect to the `kubeward` database over the socket.
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .username(SUPERUSER)
            .database(DATABASE)
    }

    /// Options to connect to the maintenance database, to create `kubeward` on first start.
    pub fn maintenance_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .username(SUPERUSER)
            .database("postgres")
    }

    pub fn database_name(&self) -> &'static str {
        DATABASE
    }

    /// Stops the cluster if this process started it.
    pub fn stop(&self) {
        if !self.started_here {
            return;
        }
        match self.pg_ctl("stop", &["-w", "-m", "fast"]) {
            Ok(()) => tracing::info!("stopped the embedded PostgreSQL"),
            Err(err) => tracing::error!(error = %err, "could not stop the embedded PostgreSQL"),
        }
    }

    fn is_running(&self) -> bool {
        self.command("pg_ctl")
            .args(["status", "-D"])
            .arg(&self.pgdata)
            .output()
            .is_ok_and(|output| output.status.success())
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bindir.join(program));
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        // The child must not inherit a directory the unprivileged user cannot enter.
        command.current_dir(&self.pgdata);
        command
    }

    fn initdb(&self) -> Result<(), EmbeddedError> {
        let output = self
            .command("initdb")
            .current_dir("/")
            .arg("-D")
            .arg(&self.pgdata)
            .args([
                "-U",
                SUPERUSER,
                "--auth-local=trust",
                "--auth-host=reject",
                "-E",
                "UTF8",
                "--no-locale",
            ])
            .output();
        check("initdb", output)?;
        // Listen on the socket only: no TCP port is opened.
        let settings = format!(
            "\n# Written by kubeward-server: local socket only.\nlisten_addresses = ''\nunix_socket_directories = '{}'\n",
            self.socket_dir.display().to_string().replace('\'', "''")
        );
        let conf = self.pgdata.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf).map_err(|source| EmbeddedError::DataDir {
            path: conf.clone(),
            source,
        })?;
        text.push_str(&settings);
        fs::write(&conf, text).map_err(|source| EmbeddedError::DataDir { path: conf, source })?;
        tracing::info!(pgdata = %self.pgdata.display(), "initialised the embedded PostgreSQL cluster");
        Ok(())
    }

    fn pg_ctl(&self, action: &str, args: &[&str]) -> Result<(), EmbeddedError> {
        let output = self
            .command("pg_ctl")
            .arg(action)
            .arg("-D")
            .arg(&self.pgdata)
            .args(args)
            .output();
        check(&format!("pg_ctl {action}"), output)
    }
}

fn check(name: &str, output: std::io::Result<Output>) -> Result<(), EmbeddedError> {
    match output {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(EmbeddedError::Command {
            command: name.to_owned(),
            detail: format!(
                "{} {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        }),
        Err(err) => Err(EmbeddedError::Command {
            command: name.to_owned(),
            detail: err.to_string(),
        }),
    }
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_owned(), |cwd| cwd.join(path))
    }
}

fn prepare_dirs(
    data_dir: &Path,
    pgdata: &Path,
    socket_dir: &Path,
    run_as: Option<(u32, u32)>,
) -> Result<(), EmbeddedError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| EmbeddedError::DataDir { path, source }
    };
    fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    if let Some((uid, gid)) = run_as {
        // The unprivileged user must be able to reach its directories through ours and every one above.
        if let Some(blocked) = data_dir
            .ancestors()
            .skip(1)
            .find(|dir| !traversable(dir, uid, gid))
        {
            return Err(EmbeddedError::NotTraversable(blocked.to_owned()));
        }
        let mode = fs::metadata(data_dir).map_err(io(data_dir))?.mode();
        if mode & 0o011 != 0o011 {
            fs::set_permissions(
                data_dir,
                fs::Permissions::from_mode((mode & 0o7777) | 0o011),
            )
            .map_err(io(data_dir))?;
        }
        for dir in [pgdata, socket_dir] {
            fs::create_dir_all(dir).map_err(io(dir))?;
            chown(dir, Some(uid), Some(gid)).map_err(io(dir))?;
        }
    } else {
        for dir in [pgdata, socket_dir] {
            fs::create_dir_all(dir).map_err(io(dir))?;
        }
    }
    for dir in [pgdata, socket_dir] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    }
    Ok(())
}

fn traversable(dir: &Path, uid: u32, gid: u32) -> bool {
    fs::metadata(dir).is_ok_and(|meta| {
        let mode = meta.mode();
        (meta.uid() == uid && mode & 0o100 != 0)
            || (meta.gid() == gid && mode & 0o010 != 0)
            || mode & 0o001 != 0
    })
}

/// The owner of `/proc/self` is the process's effective user.
fn effective_uid_is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

fn system_user(name: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        (uid != 0).then_some((uid, gid))
    })
}

/// Where the server binaries are: `pg_config --bindir`, then PATH, then the distributions' usual places
/// (the newest version first).
fn find_bindir() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        candidates.push(PathBuf::from(
            String::from_utf8_lossy(&output.stdout).trim(),
        ));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    let mut usual: Vec<PathBuf> = Vec::new();
    for pattern_dir in [
        "/usr/lib/postgresql",
        "/usr/local/pgsql",
        "/opt/homebrew/opt",
    ] {
        if let Ok(entries) = fs::read_dir(pattern_dir) {
            candidates.extend(
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.path().join("bin")),
            );
        }
    }
    if let Ok(entries) = fs::read_dir("/usr") {
        candidates.extend(
            entries
                .filter_map(Result::ok)
                .filter(|entry| entry.file_name().to_string_lossy().starts_with("pgsql-"))
                .map(|entry| entry.path().join("bin")),
        );
    }
    usual.push(PathBuf::from("/usr/local/pgsql/bin"));
    // Newest first: directory names carry the major version.
    usual.sort_by_key(|dir| std::cmp::Reverse(version_key(dir)));
    candidates.extend(usual);
    first_with_server(&candidates)
}

/// The first directory that holds the server programs, not just the client.
fn first_with_server(candidates: &[PathBuf]) -> Option<PathBuf> {
    candidates
        .iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
        .cloned()
}

fn version_key(dir: &Path) -> u32 {
    dir.components()
        .filter_map(|part| {
            let text = part.as_os_str().to_string_lossy();
            let digits: String = text.chars().filter(char::is_ascii_digit).collect();
            digits.parse::<u32>().ok()
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_directory_with_the_server_programs_counts() {
        let client_only = tempfile::tempdir().unwrap();
        fs::write(client_only.path().join("psql"), "").unwrap();
        let server = tempfile::tempdir().unwrap();
        for program in ["initdb", "pg_ctl"] {
            fs::write(server.path().join(program), "").unwrap();
        }
        let candidates = [
            PathBuf::from("/nonexistent"),
            client_only.path().to_owned(),
            server.path().to_owned(),
        ];
        assert_eq!(
            first_with_server(&candidates),
            Some(server.path().to_owned())
        );
        assert_eq!(first_with_server(&candidates[..2]), None);
    }

    #[test]
    fn the_missing_binaries_message_says_what_to_do() {
        let message = EmbeddedError::NoBinaries.to_string();
        assert!(message.contains("apt-get install postgresql"), "{message}");
        assert!(message.contains("DATABASE_URL"), "{message}");
    }

    #[test]
    fn newer_versions_sort_first() {
        assert!(
            version_key(Path::new("/usr/lib/postgresql/17/bin"))
                > version_key(Path::new("/usr/lib/postgresql/15/bin"))
        );
    }
}
