//! Parsing a Kubernetes component's argv into flags, the way its flag library (pflag, or Go's flag package
//! for etcd) reads it.

use kubeward_benchmark::facts::Flag;

/// Boolean flags of the inspected components. pflag never takes the next word as a boolean's value
/// (`--profiling false` is `--profiling=true` followed by a stray word), so these must be known.
const BOOLEAN_FLAGS: &[&str] = &[
    "allow-privileged",
    "anonymous-auth",
    "auto-tls",
    "client-cert-auth",
    "enable-bootstrap-token-auth",
    "enable-debugging-handlers",
    "enable-server",
    "fail-swap-on",
    "leader-elect",
    "make-iptables-util-chains",
    "peer-auto-tls",
    "peer-client-cert-auth",
    "profiling",
    "protect-kernel-defaults",
    "rotate-certificates",
    "rotate-server-certificates",
    "seccomp-default",
    "service-account-extend-token-expiration",
    "service-account-lookup",
    "strict-transport-security-directives-enabled",
    "use-service-account-credentials",
];

/// Parses the arguments after argv\[0\]: `--flag=value`, `--flag value`, `-flag=value`, bare booleans and
/// repeated flags, in order. Names lose their dashes and have `_` normalised to `-`, as the Kubernetes
/// components do. Parsing stops at `--`; stray words are skipped.
pub fn parse_flags(args: &[String]) -> Vec<Flag> {
    let mut flags = Vec::new();
    let mut index = 0;
    while index < args.len() {
        let arg = &args[index];
        index += 1;
        if arg == "--" {
            break;
        }
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            continue;
        };
        if body.is_empty() || body.starts_with('-') {
            continue;
        }
        let (name, inline_value) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (body, None),
        };
        let name = name.replace('_', "-");
        let value = match inline_value {
            Some(value) => Some(value),
            None if BOOLEAN_FLAGS.contains(&name.as_str()) => None,
            None => match args.get(index) {
                Some(next) if takes_as_value(next) => {
                    index += 1;
                    Some(next.clone())
                }
                _ => None,
            },
        };
        flags.push(Flag {
            name,
            value,
            source: None,
        });
    }
    flags
}

/// Whether the word after a non-boolean flag is its value: anything but another flag (negative numbers
/// such as `--pod-max-pids -1` are values).
fn takes_as_value(next: &str) -> bool {
    !next.starts_with('-') || next.parse::<f64>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    fn pairs(flags: &[Flag]) -> Vec<(&str, Option<&str>)> {
        flags
            .iter()
            .map(|flag| (flag.name.as_str(), flag.value.as_deref()))
            .collect()
    }

    #[test]
    fn every_flag_form_is_read() {
        let flags = parse_flags(&args(&[
            "--config=/var/lib/kubelet/config.yaml",
            "--kubeconfig",
            "/etc/kubernetes/kubelet.conf",
            "--anonymous-auth",
            "--v=2",
            "-v",
            "4",
            "--pod-max-pids",
            "-1",
            "--read_only_port=0",
            "--enable-admission-plugins=A",
            "--enable-admission-plugins=B",
        ]));
        assert_eq!(
            pairs(&flags),
            [
                ("config", Some("/var/lib/kubelet/config.yaml")),
                ("kubeconfig", Some("/etc/kubernetes/kubelet.conf")),
                ("anonymous-auth", None),
                ("v", Some("2")),
                ("v", Some("4")),
                ("pod-max-pids", Some("-1")),
                ("read-only-port", Some("0")),
                ("enable-admission-plugins", Some("A")),
                ("enable-admission-plugins", Some("B")),
            ]
        );
    }

    #[test]
    fn a_boolean_flag_never_takes_the_next_word() {
        let flags = parse_flags(&args(&["--profiling", "false", "--anonymous-auth=false"]));
        assert_eq!(
            pairs(&flags),
            [("profiling", None), ("anonymous-auth", Some("false"))]
        );
    }

    #[test]
    fn a_flag_followed_by_a_flag_is_bare_and_double_dash_ends_parsing() {
        let flags = parse_flags(&args(&["--foo", "--bar=1", "--", "--baz=2"]));
        assert_eq!(pairs(&flags), [("foo", None), ("bar", Some("1"))]);
    }

    #[test]
    fn empty_values_and_stray_words_are_kept_apart() {
        let flags = parse_flags(&args(&[
            "stray",
            "--token-auth-file=",
            "-",
            "---x",
            "--a=b=c",
        ]));
        assert_eq!(
            pairs(&flags),
            [("token-auth-file", Some("")), ("a", Some("b=c"))]
        );
    }
}
