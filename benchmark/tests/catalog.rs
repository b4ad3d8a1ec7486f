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

/// The check of `catalog` with this id, or a loud failure.
fn check_of<'a>(catalog: &'a Catalog, id: &str) -> &'a kubeward_benchmark::Check {
    catalog
        .check(id)
        .unwrap_or_else(|| panic!("{} has no check {id}", catalog.name))
}

#[test]
fn the_distribution_catalogs_restate_the_cis_checks_under_their_own_ids_and_keep_the_keys() {
    // CIS 4.2.1 (the kubelet refuses anonymous requests) under every benchmark's own number.
    for (catalog, id) in [
        ("cis-1.12", "4.2.1"),
        ("eks-1.8.0", "3.2.1"),
        ("aks-1.8.0", "3.2.1"),
        ("k3s-cis-1.12", "4.2.1"),
        ("rke2-cis-1.12", "4.2.1"),
        ("openshift-1.8.0", "4.2.2"),
    ] {
        let catalog = Catalog::builtin(catalog).unwrap();
        let check = check_of(&catalog, id);
        assert_eq!(check.key, "4.2.1", "{} {id}", catalog.name);
        assert_eq!(
            catalog.check_by_key("4.2.1").map(|check| check.id.as_str()),
            Some(id)
        );
        // The logic is the CIS check's own.
        let base = Catalog::builtin("cis-1.12").unwrap();
        assert_eq!(check.test, check_of(&base, "4.2.1").test);
    }
    let gke = Catalog::builtin("gke-1.9.0").unwrap();
    assert!(
        gke.check_by_key("4.2.1").is_none(),
        "GKE 1.9.0 has no kubelet settings group"
    );
}

#[test]
fn managed_workers_are_held_to_644_where_the_generic_benchmark_asks_600() {
    let base = Catalog::builtin("cis-1.12").unwrap();
    let expectation = |catalog: &Catalog, id: &str| match &check_of(catalog, id).test {
        Some(Test::Probe { expect, .. }) => expect.clone(),
        other => panic!("{id}: {other:?}"),
    };
    assert_eq!(expectation(&base, "4.1.5"), Condition::ModeAtMost(0o600));
    for (name, kubeconfig, config) in [
        ("eks-1.8.0", "3.1.1", Some("3.1.3")),
        ("aks-1.8.0", "3.1.1", None),
        ("gke-1.9.0", "3.1.1", Some("3.1.3")),
        ("openshift-1.8.0", "4.1.5", None),
    ] {
        let catalog = Catalog::builtin(name).unwrap();
        assert_eq!(
            expectation(&catalog, kubeconfig),
            Condition::ModeAtMost(0o644),
            "{name}"
        );
        assert_eq!(check_of(&catalog, kubeconfig).key, "4.1.5");
        if let Some(config) = config {
            assert_eq!(
                expectation(&catalog, config),
                Condition::ModeAtMost(0o644),
                "{name}"
            );
            assert_eq!(check_of(&catalog, config).key, "4.1.9");
        }
    }
    // k3s and RKE2 are stricter than the base on the kubelet's client CA.
    for name in ["k3s-cis-1.12", "rke2-cis-1.12"] {
        let catalog = Catalog::builtin(name).unwrap();
        assert_eq!(
            expectation(&catalog, "4.1.7"),
            Condition::ModeAtMost(0o600),
            "{name}"
        );
    }
    // AKS checks the cloud provider file azure.json, a check of its own with its own key.
    let aks = Catalog::builtin("aks-1.8.0").unwrap();
    let azure = check_of(&aks, "3.1.3");
    assert_eq!(azure.key, "aks/cloud-provider-config-mode");
    assert!(matches!(
        &azure.test,
        Some(Test::Probe {
            probe: Probe::Files(FileSet::CloudProviderConfig),
            ..
        })
    ));
}

#[test]
fn each_distribution_catalog_has_the_node_items_of_its_benchmark() {
    let count = |name: &str, section: &str| {
        let catalog = Catalog::builtin(name).unwrap();
        catalog
            .checks
            .iter()
            .filter(|check| check.id.starts_with(&format!("{section}.")))
            .count()
    };
    assert_eq!(count("eks-1.8.0", "3"), 13);
    assert_eq!(count("aks-1.8.0", "3"), 13);
    assert_eq!(count("gke-1.9.0", "3"), 4);
    assert_eq!(count("openshift-1.8.0", "4"), 22);
    // The k3s and RKE2 guides keep every CIS v1.12 node check under its own id.
    for name in ["k3s-cis-1.12", "rke2-cis-1.12"] {
        let catalog = Catalog::builtin(name).unwrap();
        assert_eq!(catalog.checks.len(), 97, "{name}");
        assert!(
            catalog.checks.iter().all(|check| check.key == check.id),
            "{name}"
        );
    }
    // Every EKS kubelet item is Automated in its benchmark, where several CIS ones are Manual.
    let eks = Catalog::builtin("eks-1.8.0").unwrap();
    for check in eks.checks.iter().filter(|check| check.section == "3.2") {
        assert_eq!(check.assessment, Assessment::Automated, "{}", check.id);
    }
    // Managed items that only the cloud shows are Manual, with guidance, and share a key across clouds.
    for name in ["eks-1.8.0", "aks-1.8.0", "gke-1.9.0"] {
        let catalog = Catalog::builtin(name).unwrap();
        let kms = catalog
            .check_by_key("managed/secrets-envelope-encryption")
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(kms.assessment, Assessment::Manual);
        assert!(kms.test.is_none() && kms.guidance.is_some());
    }
}

#[test]
fn skips_say_why_and_are_only_where_the_distribution_makes_the_check_impossible() {
    let k3s = Catalog::builtin("k3s-cis-1.12").unwrap();
    let skipped: Vec<&str> = k3s
        .checks
        .iter()
        .filter(|check| check.skip.is_some())
        .map(|check| check.id.as_str())
        .collect();
    assert_eq!(
        skipped,
        [
            "1.1.1", "1.1.2", "1.1.3", "1.1.4", "1.1.5", "1.1.6", "1.1.7", "1.1.8", "1.1.12",
            "4.1.1", "4.1.2", "4.2.7"
        ]
    );
    assert!(
        check_of(&k3s, "4.2.7")
            .skip
            .as_deref()
            .unwrap()
            .contains("hostname-override")
    );
    let rke2 = Catalog::builtin("rke2-cis-1.12").unwrap();
    assert!(
        check_of(&rke2, "1.1.1").skip.is_none(),
        "RKE2's control plane runs as static pods"
    );
    assert!(
        check_of(&rke2, "1.1.12").skip.is_none(),
        "RKE2's CIS profile has an etcd user"
    );
}

const DERIVED_HEADER: &str = r#"
benchmark: { id: derived, version: "1", title: Derived, based_on: cis-1.12 }
sections: [ { id: "3", title: Three }, { id: "3.1", title: Three one } ]
"#;

fn load_derived(checks: &str) -> Result<Catalog, String> {
    Catalog::from_files(
        "derived",
        &[("header.yaml", DERIVED_HEADER), ("checks.yaml", checks)],
    )
    .map_err(|err| err.to_string())
}

#[test]
fn a_derived_catalog_is_refused_where_its_reuse_is_wrong() {
    assert!(load_derived(r#"checks: [ { id: "3.1.1", section: "3.1", from: "4.1.5" } ]"#).is_ok());
    let cases = [
        (
            r#"checks: [ { id: "3.1.1", section: "3.1", from: "9.9.9" } ]"#,
            "has no such check",
        ),
        (
            r#"checks: [ { id: "3.1.1", section: "3.1", title: T, level: 1, assessment: manual, applies_to: kubelet, guidance: G, remediation: R } ]"#,
            "needs a stable `key`",
        ),
        (
            r#"checks: [ { id: "3.1.1", section: "3.1", from: "4.1.5" }, { id: "3.1.2", section: "3.1", from: "4.1.5" } ]"#,
            "which another check already has",
        ),
        // 4.2.9 is an any/all combination: there is no single condition to replace.
        (
            r#"checks: [ { id: "3.1.1", section: "3.1", from: "4.2.9", expect: present } ]"#,
            "single probe",
        ),
        // A file set replaces a file probe's set only.
        (
            r#"checks: [ { id: "3.1.1", section: "3.1", from: "4.2.1", files: pki_keys } ]"#,
            "file probe",
        ),
        // A file condition on a setting probe.
        (
            r#"checks: [ { id: "3.1.1", section: "3.1", from: "4.2.1", expect: { mode_at_most: "644" } } ]"#,
            "does not apply",
        ),
        (
            r#"checks: [ { id: "3.1.1", section: "3.1", from: "4.1.5", key: "has spaces" } ]"#,
            "not a stable key",
        ),
        (
            r#"checks: [ { id: "3.1.1", section: "3.1", from: "4.1.5", skip: " " } ]"#,
            "needs its reason",
        ),
    ];
    for (text, message) in cases {
        let err = load_derived(text).unwrap_err();
        assert!(err.contains(message), "{text}: {err}");
    }
    // `from` needs a base.
    let err = load(r#"checks: [ { id: "1.1", section: "1", from: "4.1.5" } ]"#).unwrap_err();
    assert!(err.contains("based_on"), "{err}");
    // A base that does not exist is named.
    let err = Catalog::from_files(
        "x",
        &[("h.yaml", "benchmark: { id: x, version: \"1\", title: X, based_on: cis-0.1 }\nsections: [ { id: \"1\", title: One } ]\n")],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("based_on cis-0.1"), "{err}");
}
