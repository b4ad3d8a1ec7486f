//! The shipped catalogs load, and the loader refuses what it must.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]
use kubeward_benchmark::catalog::{Assessment, Catalog, Condition, Probe, Test};
use kubeward_benchmark::facts::FileSet;
use proptest::prelude::*;

const HEADER: &str = r#"
benchmark: { id: test, version: "1", title: Test }
sections: [ { id: "1", title: One } ]
"#;

fn load(checks: &str) -> Result<Catalog, String> {
    Catalog::from_files("test", &[("header.yaml", HEADER), ("checks.yaml", checks)])
        .map_err(|err| err.to_string())
}

const VALID_CHECK: &str = r#"
checks:
  - id: "1.1"
    section: "1"
    title: A title
    level: 1
    assessment: automated
    applies_to: kubelet
    test: { setting: { component: kubelet, flag: --x }, expect: present }
    remediation: Do it.
"#;

#[test]
fn every_shipped_catalog_loads() {
    let names: Vec<_> = Catalog::builtin_names().collect();
    assert!(names.contains(&"cis-1.12"));
    for name in names {
        let catalog = Catalog::builtin(name).unwrap_or_else(|err| panic!("{err}"));
        assert!(!catalog.checks.is_empty(), "{name}");
    }
}

#[test]
fn cis_1_12_has_the_97_node_checks_of_sections_1_to_4() {
    let catalog = Catalog::builtin("cis-1.12").unwrap();
    assert_eq!(catalog.benchmark.id, "cis-kubernetes");
    assert_eq!(catalog.benchmark.version, "1.12");
    assert_eq!(catalog.checks.len(), 97);
    let in_section = |prefix: &str| {
        catalog
            .checks
            .iter()
            .filter(|check| check.id.starts_with(prefix))
            .count()
    };
    assert_eq!(in_section("1."), 60);
    assert_eq!(in_section("2."), 7);
    assert_eq!(in_section("3."), 5);
    assert_eq!(in_section("4."), 25);
    // Only the checks the benchmark leaves wholly to a person have no test.
    let untested: Vec<_> = catalog
        .checks
        .iter()
        .filter(|check| check.test.is_none())
        .map(|check| check.id.as_str())
        .collect();
    assert_eq!(untested, ["1.2.20", "3.1.1", "3.1.2", "3.1.3", "3.2.2"]);
    assert!(
        catalog
            .checks
            .iter()
            .all(|check| check.assessment == Assessment::Manual || check.test.is_some())
    );
    // Ordered numerically: 1.2.10 after 1.2.9.
    let position = |id: &str| {
        catalog
            .checks
            .iter()
            .position(|check| check.id == id)
            .unwrap()
    };
    assert!(position("1.2.9") < position("1.2.10"));
}

#[test]
fn the_kubelet_config_file_check_inspects_the_files_the_kubelet_uses() {
    let catalog = Catalog::builtin("cis-1.12").unwrap();
    let check = catalog.check("4.1.9").unwrap();
    assert_eq!(
        check.test,
        Some(Test::Probe {
            probe: Probe::Files(FileSet::KubeletConfigFiles),
            expect: Condition::ModeAtMost(0o600),
        })
    );
}

#[test]
fn a_valid_minimal_catalog_loads() {
    let catalog = load(VALID_CHECK).unwrap();
    assert_eq!(catalog.checks.len(), 1);
}

#[test]
fn an_unknown_probe_is_refused() {
    let text = VALID_CHECK.replace(
        "setting: { component: kubelet, flag: --x }",
        "shell: \"ps aux | grep kubelet\"",
    );
    let err = load(&text).unwrap_err();
    assert!(err.contains("unknown field `shell`"), "{err}");
}

#[test]
fn an_unknown_operator_is_refused() {
    let text = VALID_CHECK.replace("expect: present", "expect: { matches_regex: \".*\" }");
    let err = load(&text).unwrap_err();
    assert!(err.contains("matches_regex"), "{err}");
}

#[test]
fn an_unknown_component_is_refused() {
    let text = VALID_CHECK.replace("component: kubelet", "component: kube-foo");
    let err = load(&text).unwrap_err();
    assert!(err.contains("kube-foo"), "{err}");
}

#[test]
fn a_duplicate_id_is_refused() {
    let twice = format!("{VALID_CHECK}{}", VALID_CHECK.replace("checks:\n", ""));
    let err = load(&twice).unwrap_err();
    assert!(err.contains("check 1.1 is defined twice"), "{err}");
}

#[test]
fn a_missing_field_is_refused_by_name() {
    for field in [
        "title",
        "remediation",
        "level",
        "assessment",
        "applies_to",
        "section",
    ] {
        let text: String = VALID_CHECK
            .lines()
            .filter(|line| !line.trim_start().starts_with(&format!("{field}:")))
            .collect::<Vec<_>>()
            .join("\n");
        let err = load(&text).unwrap_err();
        assert!(
            err.contains(&format!("missing field `{field}`")),
            "{field}: {err}"
        );
    }
}

#[test]
fn an_automated_check_without_a_test_is_refused() {
    let text: String = VALID_CHECK
        .lines()
        .filter(|line| !line.trim_start().starts_with("test:"))
        .collect::<Vec<_>>()
        .join("\n");
    let err = load(&text).unwrap_err();
    assert!(err.contains("needs a test"), "{err}");
}

#[test]
fn a_check_cannot_read_another_components_flags() {
    let text = VALID_CHECK.replace("applies_to: kubelet", "applies_to: kube-apiserver");
    let err = load(&text).unwrap_err();
    assert!(
        err.contains("probes kubelet but applies to kube-apiserver"),
        "{err}"
    );
}

#[test]
fn a_file_probe_takes_only_file_conditions() {
    let text = VALID_CHECK.replace(
        "setting: { component: kubelet, flag: --x }, expect: present",
        "files: kubelet_config_files, expect: { equals: \"x\" }",
    );
    let err = load(&text).unwrap_err();
    assert!(err.contains("does not apply to this probe"), "{err}");
}

#[test]
fn an_undefined_section_is_refused() {
    let text = VALID_CHECK
        .replace("id: \"1.1\"", "id: \"2.1\"")
        .replace("section: \"1\"", "section: \"2\"");
    let err = load(&text).unwrap_err();
    assert!(err.contains("section 2, which is not defined"), "{err}");
}

#[test]
fn a_bad_octal_mode_is_refused() {
    let text = VALID_CHECK.replace(
        "setting: { component: kubelet, flag: --x }, expect: present",
        "files: kubelet_config_files, expect: { mode_at_most: \"999\" }",
    );
    let err = load(&text).unwrap_err();
    assert!(err.contains("not an octal mode"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary text as a catalog file is refused or loaded, never a panic.
    #[test]
    fn arbitrary_text_never_panics_the_loader(text in "\\PC{0,400}") {
        let _ = load(&text);
    }

    /// Deleting any line or replacing any token of a valid catalog never panics the loader.
    #[test]
    fn mutated_shipped_catalogs_never_panic_the_loader(line in 0usize..400, replacement in "[a-z:{}\\[\\]\"-]{0,12}") {
        let text = include_str!("../catalog/cis-1.12/4-worker-nodes.yaml");
        let lines: Vec<&str> = text.lines().collect();
        let index = line % lines.len();
        let mut mutated: Vec<String> = lines.iter().map(|line| (*line).to_owned()).collect();
        mutated[index] = replacement.clone();
        let mutated = mutated.join("\n");
        let header = include_str!("../catalog/cis-1.12/catalog.yaml");
        let _ = Catalog::from_files("mutated", &[("catalog.yaml", header), ("4.yaml", &mutated)]);
    }
}
