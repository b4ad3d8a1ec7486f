//! Renders a kustomization with the machine's `kubectl`, offline, for tests that feed the output to the agent.

use std::path::Path;
use std::process::Command;

/// The rendered manifests of a kustomization directory; panics (the test fails) with kubectl's reason.
pub fn render(dir: &Path) -> Vec<u8> {
    let rendered = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl runs");
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    rendered.stdout
}
