//! The sample node shipped in the repository (what the demo agent of docker-compose scans) is read by the real
//! agent into a valid report.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

use std::path::PathBuf;
use std::process::Command;

use kubeward_benchmark::report::NodeRole;
use kubeward_benchmark::{Status, parse_report};

#[test]
fn the_shipped_sample_node_scans_into_a_valid_report() {
    let node = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/demo/node");
    let output = Command::new(env!("CARGO_BIN_EXE_kubeward-agent"))
        .args(["scan", "--format", "json", "--host-root"])
        .arg(&node)
        .arg("--proc-root")
        .arg(node.join("proc"))
        .env_remove("NODE_NAME")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = parse_report(&output.stdout).unwrap();
    assert_eq!(report.node.name, "demo-cp-1");
    assert_eq!(
        report.node.roles,
        [NodeRole::ControlPlane, NodeRole::Etcd, NodeRole::Worker]
    );
    assert_eq!(report.results.len(), 97);
    let status = |id: &str| {
        report
            .results
            .iter()
            .find(|r| r.check == id)
            .unwrap()
            .status
    };
    // Settings, which do not depend on the checkout's owners and modes.
    assert_eq!(status("1.2.1"), Status::Pass);
    assert_eq!(status("1.2.15"), Status::Fail);
    assert_eq!(status("1.4.2"), Status::Pass);
    assert_eq!(status("2.2"), Status::Pass);
    assert_eq!(status("4.2.1"), Status::Pass);
    assert_eq!(status("4.2.14"), Status::Warn);
    assert_eq!(status("4.3.1"), Status::NotApplicable);
    assert!(
        report.results.iter().all(|r| r.status != Status::Error),
        "{:?}",
        report
            .results
            .iter()
            .filter(|r| r.status == Status::Error)
            .collect::<Vec<_>>()
    );
}
