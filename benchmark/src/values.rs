//! How setting values are read the way the Kubernetes components read them: Go booleans, Go durations,
//! integers, comma-separated lists, octal modes. Pure parsing, no I/O.

use std::fmt;
use std::net::IpAddr;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A threshold for `at_least` / `at_most`: an integer, or a Go duration such as `4h0m0s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    Integer(i64),
    /// In nanoseconds, as Go's `time.Duration`.
    Duration(i128),
}

impl Quantity {
    /// Reads an observed value in the same kind as this threshold.
    pub fn parse_like(&self, observed: &str) -> Option<Quantity> {
        match self {
            Quantity::Integer(_) => parse_integer(observed).map(Quantity::Integer),
            Quantity::Duration(_) => parse_go_duration(observed).map(Quantity::Duration),
        }
    }

    fn as_i128(self) -> i128 {
        match self {
            Quantity::Integer(value) => i128::from(value),
            Quantity::Duration(nanos) => nanos,
        }
    }

    pub fn cmp_value(self, other: Quantity) -> std::cmp::Ordering {
        self.as_i128().cmp(&other.as_i128())
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quantity::Integer(value) => write!(f, "{value}"),
            Quantity::Duration(nanos) => f.write_str(&format_duration(*nanos)),
        }
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = scalar_string(deserializer)?;
        if let Some(value) = parse_integer(&text) {
            return Ok(Quantity::Integer(value));
        }
        parse_go_duration(&text)
            .map(Quantity::Duration)
            .ok_or_else(|| {
                de::Error::custom(format!("\"{text}\" is neither an integer nor a duration"))
            })
    }
}

pub fn parse_integer(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

/// Go's `strconv.ParseBool`: the spellings every Kubernetes component accepts.
pub fn parse_go_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        other if other.eq_ignore_ascii_case("true") => Some(true),
        other if other.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Go's `time.ParseDuration`, in nanoseconds: `300ms`, `1.5h`, `4h0m0s`, `-2m`, `0`.
pub fn parse_go_duration(text: &str) -> Option<i128> {
    let text = text.trim();
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit_nanos = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * unit_nanos;
    }
    // Go refuses durations beyond about 290 years; so do we.
    if !total.is_finite() || total > i64::MAX as f64 {
        return None;
    }
    let nanos = total.round() as i128;
    Some(if negative { -nanos } else { nanos })
}

fn format_duration(nanos: i128) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let nanos = nanos.abs();
    if nanos % 1_000_000_000 != 0 {
        return format!("{sign}{}ms", nanos / 1_000_000);
    }
    let seconds = nanos / 1_000_000_000;
    let (hours, minutes, seconds) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    let mut text = String::from(sign);
    if hours > 0 {
        text.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        text.push_str(&format!("{minutes}m"));
    }
    if seconds > 0 {
        text.push_str(&format!("{seconds}s"));
    }
    text
}

/// Splits a comma-separated list the way pflag's string slices do, dropping empty elements.
pub fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',')
        .map(str::trim)
        .filter(|element| !element.is_empty())
}

/// Whether two setting values are the same value: booleans case-insensitively, numbers and durations by
/// value, anything else as text.
pub fn same_value(observed: &str, expected: &str) -> bool {
    // A boolean setting written as 0/1 is still a boolean to Go, but a numeric expectation is a number.
    if !is_numeric(expected)
        && let (Some(a), Some(b)) = (parse_go_bool(observed), parse_go_bool(expected))
    {
        return a == b;
    }
    if let (Some(a), Some(b)) = (parse_integer(observed), parse_integer(expected)) {
        return a == b;
    }
    if (looks_like_duration(expected) || looks_like_duration(observed))
        && let (Some(a), Some(b)) = (parse_go_duration(observed), parse_go_duration(expected))
    {
        return a == b;
    }
    observed.trim() == expected.trim()
}

fn is_numeric(text: &str) -> bool {
    parse_integer(text).is_some()
}

fn looks_like_duration(text: &str) -> bool {
    let text = text.trim();
    text.ends_with(['s', 'm', 'h']) && text.starts_with(|c: char| c.is_ascii_digit() || c == '-')
}

/// Whether an address, with or without a port (`127.0.0.1:10249`, `[::1]:10249`, `localhost`), is loopback.
pub fn is_loopback_address(text: &str) -> bool {
    let text = text.trim();
    let host = if let Some(rest) = text.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else if text.matches(':').count() == 1 {
        text.split(':').next().unwrap_or("")
    } else {
        text
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Parses an octal permission mode (`600`, `0600`, `0o600`).
pub fn parse_mode(text: &str) -> Option<u32> {
    let digits = text.trim().trim_start_matches("0o");
    if digits.is_empty() || digits.len() > 5 {
        return None;
    }
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|mode| *mode <= 0o7777)
}

/// Deserializes a YAML scalar (string, boolean or number) as its text.
pub fn scalar_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct ScalarVisitor;
    impl Visitor<'_> for ScalarVisitor {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, boolean or number")
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
            Ok(value.to_owned())
        }
        fn visit_bool<E: de::Error>(self, value: bool) -> Result<String, E> {
            Ok(value.to_string())
        }
        fn visit_i64<E: de::Error>(self, value: i64) -> Result<String, E> {
            Ok(value.to_string())
        }
        fn visit_u64<E: de::Error>(self, value: u64) -> Result<String, E> {
            Ok(value.to_string())
        }
        fn visit_f64<E: de::Error>(self, value: f64) -> Result<String, E> {
            Ok(value.to_string())
        }
    }
    deserializer.deserialize_any(ScalarVisitor)
}

/// Deserializes an octal mode written as a string (`"600"`); a bare YAML number would be read as decimal.
pub fn octal_mode<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_mode(&text).ok_or_else(|| de::Error::custom(format!("\"{text}\" is not an octal mode")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_like_go() {
        assert_eq!(parse_go_duration("4h0m0s"), Some(4 * 3600 * 1_000_000_000));
        assert_eq!(parse_go_duration("5m"), Some(300 * 1_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Some(5400 * 1_000_000_000));
        assert_eq!(parse_go_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("0s"), Some(0));
        assert_eq!(parse_go_duration("-2m"), Some(-120 * 1_000_000_000));
        assert_eq!(parse_go_duration("4"), None);
        assert_eq!(parse_go_duration("4d"), None);
        assert_eq!(parse_go_duration(""), None);
        assert_eq!(parse_go_duration("h"), None);
        assert_eq!(parse_go_duration("99999999999999h"), None);
    }

    #[test]
    fn durations_print_back_readably() {
        assert_eq!(format_duration(4 * 3600 * 1_000_000_000), "4h");
        assert_eq!(format_duration(90 * 1_000_000_000), "1m30s");
        assert_eq!(format_duration(0), "0s");
    }

    #[test]
    fn booleans_compare_case_insensitively_and_numbers_by_value() {
        assert!(same_value("FALSE", "false"));
        assert!(same_value("False", "false"));
        assert!(!same_value("true", "false"));
        assert!(same_value("0s", "0"));
        assert!(same_value("4h0m0s", "4h"));
        assert!(same_value("007", "7"));
        assert!(same_value("0", "false"));
        assert!(!same_value("false", "0"));
        assert!(!same_value("10255", "0"));
        assert!(same_value("Webhook", "Webhook"));
        assert!(!same_value("webhook", "Webhook"));
    }

    #[test]
    fn loopback_addresses_are_recognised_with_and_without_ports() {
        assert!(is_loopback_address("127.0.0.1"));
        assert!(is_loopback_address("127.0.0.1:10249"));
        assert!(is_loopback_address("[::1]:10249"));
        assert!(is_loopback_address("::1"));
        assert!(is_loopback_address("localhost:10249"));
        assert!(!is_loopback_address("0.0.0.0:10249"));
        assert!(!is_loopback_address("10.0.0.1"));
        assert!(!is_loopback_address(""));
    }

    #[test]
    fn modes_are_octal_and_bounded() {
        assert_eq!(parse_mode("600"), Some(0o600));
        assert_eq!(parse_mode("0o700"), Some(0o700));
        assert_eq!(parse_mode("800"), None);
        assert_eq!(parse_mode("17777"), None);
    }
}
