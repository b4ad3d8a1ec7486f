//! Domain types parsed at the edge: handlers and the CLI turn raw strings into these, never passing raw
//! strings down. The rules of exceptions and of the audit chain live here as pure functions.

pub mod actor;
pub mod audit;
pub mod cluster;
pub mod exception;
pub mod network;
pub mod object;
pub mod report_time;
pub mod role;
pub mod scope;
pub mod score;
pub mod sealed;
pub mod time;
pub mod token;
pub mod url;
pub mod webhook;
