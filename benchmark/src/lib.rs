//! kubeward-benchmark: the report wire format, benchmark catalogs as data, and the check evaluator.
//!
//! Pure by rule: no file, network or process I/O, no async runtime, no HTTP or database crate. Both the
//! agent and the server depend on it, and it must stay cheap for both.

pub mod catalog;
pub mod cluster_report;
pub mod evaluate;
pub mod facts;
pub mod policy;
pub mod report;
pub mod schema_peek;
pub mod text;
pub mod validate;
pub mod validate_cluster;
pub mod values;
pub mod yaml11;

pub use catalog::{Catalog, CatalogError, Check};
pub use evaluate::{evaluate, evaluate_check};
pub use facts::NodeFacts;
pub use report::{CheckResult, Evidence, Report, Status};
pub use validate::{ReportError, parse_report};
pub use validate_cluster::parse_cluster_report;
