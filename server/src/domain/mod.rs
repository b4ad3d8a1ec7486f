//! Domain types parsed at the edge: handlers and the CLI turn raw strings into these, never passing raw
//! strings down.

pub mod cluster;
pub mod role;
pub mod token;
