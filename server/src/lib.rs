//! kubeward-server: accepts agents' reports into PostgreSQL, keeps the full history, and tracks every
//! finding from the day it opened to the day it was fixed.
//!
//! Floors, from the bottom (DESIGN.md, "Conventions"; `tests/floors.rs` keeps them): [`domain`] (types and
//! rules, with [`catalogs`]) → [`storage`] (SQL only, with [`database`]) → [`app`] (the operations) →
//! [`shared`] (request state both doors use) → the doors, [`http`] (the API) and [`web`] (the pages) →
//! [`edge`], [`startup`] and [`cli`], which assemble them. No arrow runs back up.

pub mod app;
pub mod catalogs;
pub mod cli;
pub mod database;
pub mod domain;
pub mod edge;
pub mod embedded_postgres;
pub mod http;
pub mod shared;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod tls;
pub mod web;

/// The schema migrations, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
