//! Every SQL statement of the server lives here, one module per table family. Functions take a connection
//! or a transaction chosen by the caller (handlers own transactions) and return rows made for their callers.

pub mod api_tokens;
pub mod attestations;
pub mod audit;
pub mod cluster_scans;
pub mod clusters;
pub mod exceptions;
pub mod findings;
pub mod node_events;
pub mod nodes;
pub mod overlays;
pub mod policies;
pub mod results;
pub mod scans;
pub mod standing;
pub mod tokens;
pub mod trends;
pub mod web_sessions;
pub mod webhooks;

/// Whether a database error is the violation of a unique constraint.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}
