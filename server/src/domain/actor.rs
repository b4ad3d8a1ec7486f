//! Who did something, for the audit trail and for separation of duties. The id is stable across the ways one
//! person reaches the server (a browser session and a JWT from the same issuer share `oidc:<sub>`), so the
//! rule "the requester may not approve" holds whichever door they use.

/// A person, an integration or the server itself, and where the request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `oidc:<subject>`, `api-token:<uuid>`, `local`, `cli:<os user>` or `system`.
    pub id: String,
    /// How pages and records name them: an e-mail address, a token's name.
    pub name: String,
    /// The peer address of the request, or where a command ran.
    pub source: Option<String>,
}

impl Actor {
    /// The server acting on its own (an exception reaching its end date).
    pub fn system() -> Self {
        Actor {
            id: "system".to_owned(),
            name: "kubeward".to_owned(),
            source: None,
        }
    }

    /// Someone running the command-line tool on the server's machine: the database trusts them, the record
    /// names the operating-system user and host as well as it can know them.
    pub fn command_line() -> Self {
        let user = std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".to_owned());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_owned())
            .unwrap_or_default();
        Actor {
            id: format!("cli:{user}"),
            name: user,
            source: Some(if host.is_empty() {
                "command line".to_owned()
            } else {
                format!("command line on {host}")
            }),
        }
    }
}
