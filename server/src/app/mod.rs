//! The operations: what kubeward does, each owning its transaction and its audit record, called alike by the
//! API, the pages and the command line. Below are `storage` (SQL) and `domain` (types and rules); above are
//! the doors, which parse input, call one operation and render. Nothing here knows HTTP.

pub mod admin;
pub mod demo;
pub mod governance;
pub mod ingest;
pub mod policies;
pub mod staleness;
pub mod standing;
pub mod views;
pub mod webhooks;
