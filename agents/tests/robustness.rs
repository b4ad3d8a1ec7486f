//! Property tests: the argv parser and the scan never panic on arbitrary input, and malformed config files
//! give `error` results.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod fixtures;

use fixtures::NodeTree;
use kubeward_agent::argv::parse_flags;
use kubeward_agent::scan::{ScanOptions, scan};
use kubeward_benchmark::Status;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_argv_parser_never_panics(args in proptest::collection::vec("\\PC{0,24}", 0..24)) {
        let _ = parse_flags(&args);
    }

    /// `--name=value` always reads back as written, whatever else surrounds it.
    #[test]
    fn inline_values_read_back_exactly(
        name in "[a-z][a-z0-9-]{0,20}",
        value in "[^\\x00]{0,40}",
        noise in proptest::collection::vec("[a-z0-9=/-]{0,12}", 0..6),
    ) {
        // A bare `--` ends flag parsing, as with pflag: what follows it is not a flag.
        prop_assume!(!noise.iter().any(|word| word == "--"));
        let mut args = noise.clone();
        args.push(format!("--{name}={value}"));
        let flags = parse_flags(&args);
        let last = flags.last().unwrap();
        prop_assert_eq!(&last.name, &name);
        prop_assert_eq!(last.value.as_deref(), Some(value.as_str()));
    }

    /// Space-separated values of non-boolean flags are taken, including negative numbers.
    #[test]
    fn separate_values_are_taken(value in "-?[0-9]{1,6}|[a-z/][a-z0-9/.]{0,20}") {
        let flags = parse_flags(&["--pod-max-pids".to_owned(), value.clone(), "--x=1".to_owned()]);
        prop_assert_eq!(flags[0].value.as_deref(), Some(value.as_str()));
        prop_assert_eq!(flags.len(), 2);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any bytes as the kubelet's config: the scan finishes, and if they are not a mapping of settings the
    /// kubelet checks that read it are errors.
    #[test]
    fn malformed_kubelet_configs_give_errors_never_panics(content in proptest::collection::vec(any::<u8>(), 0..300)) {
        let node = NodeTree::new();
        node.hostname("fuzz-1")
            .process(3, &["kubelet", "--config=/var/lib/kubelet/config.yaml"], &[]);
        let text = String::from_utf8_lossy(&content).into_owned();
        node.root_file("/var/lib/kubelet/config.yaml", 0o600, &text);
        let scan = scan(&ScanOptions {
            host_root: node.host_root(),
            proc_root: node.proc_root(),
            node_name: None,
            benchmark: "cis-1.12".to_owned(),
        }).unwrap();
        // The kubelet's reader: YAML 1.1 scalars, one document, a mapping.
        let stream = kubeward_benchmark::yaml11::read_stream(&text);
        let is_mapping = stream.errors.is_empty()
            && stream.documents.len() == 1
            && stream.documents[0].value.is_object();
        let anonymous = scan.report.results.iter().find(|r| r.check == "4.2.1").unwrap();
        if !is_mapping {
            prop_assert_eq!(anonymous.status, Status::Error);
        }
        kubeward_benchmark::validate::validate_report(&scan.report).unwrap();
    }
}
