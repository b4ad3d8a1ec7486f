//! kubeward-server: accepts agents' reports into PostgreSQL, keeps the full history, and tracks every
//! finding from the day it opened to the day it was fixed.
//!
//! SQL lives only in [`storage`]; handlers in [`http`] own their transactions and call [`ingest`]; errors
//! become HTTP responses in [`http::problem`] alone.

pub mod catalogs;
pub mod cli;
pub mod database;
pub mod demo;
pub mod domain;
pub mod edge;
pub mod embedded_postgres;
pub mod governance;
pub mod http;
pub mod ingest;
pub mod jwt;
pub mod staleness;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod tls;
pub mod web;
pub mod webhooks;

/// The schema migrations, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
