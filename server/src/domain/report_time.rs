//! When a report may say it was made. A scan is placed in its node's history by its own `finished_at`, and
//! the newest scan is the node's standing: a report dated in the future would stay the newest forever (every
//! real scan after it arrives "late" and changes nothing, and the node never goes stale), so a report may
//! be dated at most [`CLOCK_SKEW_ALLOWANCE`] ahead of the server's clock. One dated before
//! [`EARLIEST_REPORT`] comes from a clock that was never set (epoch, year 0) and would stretch every trend
//! back to it.

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// How far ahead of the server's clock a node's clock may run. Nodes synchronise their clocks (Kubernetes
/// itself misbehaves beyond seconds of skew), and a scan dated this far ahead is superseded by the next
/// real one within minutes.
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::minutes(5);

/// No report is older than this: before the benchmarks kubeward evaluates existed.
pub const EARLIEST_REPORT: OffsetDateTime = datetime!(2020-01-01 00:00 UTC);

/// Why a report's times are refused: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ReportTimeError {
    pub field: &'static str,
    pub problem: String,
}

/// Checks a report's `started_at` and `finished_at` against the server's clock `now`.
pub fn check(
    started_at: OffsetDateTime,
    finished_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), ReportTimeError> {
    let latest = now + CLOCK_SKEW_ALLOWANCE;
    if finished_at > latest {
        let ahead = (finished_at - now).whole_seconds();
        return Err(ReportTimeError {
            field: "finished_at",
            problem: format!(
                "is {} ahead of the server's clock, more than the {} minutes allowed: check the node's clock (NTP)",
                describe_seconds(ahead),
                CLOCK_SKEW_ALLOWANCE.whole_minutes()
            ),
        });
    }
    for (field, value) in [("finished_at", finished_at), ("started_at", started_at)] {
        if value < EARLIEST_REPORT {
            return Err(ReportTimeError {
                field,
                problem: "is before 2020-01-01: the node's clock was not set".to_owned(),
            });
        }
    }
    Ok(())
}

/// `90 s`, `12 min`, `5 h`, `3 days`: enough to tell a drifting clock from a forged date.
fn describe_seconds(seconds: i64) -> String {
    match seconds {
        ..120 => format!("{seconds} s"),
        120..7_200 => format!("{} min", seconds / 60),
        7_200..172_800 => format!("{} h", seconds / 3_600),
        _ => format!("{} days", seconds / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

    #[test]
    fn a_report_up_to_the_allowance_ahead_is_taken_and_one_beyond_is_not() {
        assert_eq!(check(NOW - Duration::seconds(5), NOW, NOW), Ok(()));
        let edge = NOW + CLOCK_SKEW_ALLOWANCE;
        assert_eq!(check(edge, edge, NOW), Ok(()));
        let beyond = edge + Duration::microseconds(1);
        let err = check(beyond, beyond, NOW).unwrap_err();
        assert_eq!(err.field, "finished_at");
        assert!(err.problem.contains("5 min ahead"), "{}", err.problem);
        let far = datetime!(9999-12-31 23:59:59 UTC);
        let err = check(far, far, NOW).unwrap_err();
        assert!(err.problem.contains("days ahead"), "{}", err.problem);
    }

    #[test]
    fn a_report_from_an_unset_clock_is_refused_by_the_field_that_is_wrong() {
        let epoch = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(check(epoch, epoch, NOW).unwrap_err().field, "finished_at");
        assert_eq!(check(epoch, NOW, NOW).unwrap_err().field, "started_at");
        let year_zero = datetime!(0000-01-01 00:00 UTC);
        assert!(check(year_zero, year_zero, NOW).is_err());
        assert_eq!(check(EARLIEST_REPORT, EARLIEST_REPORT, NOW), Ok(()));
        // Old, but after the floor: a spool delivered after a long outage.
        let old = datetime!(2024-06-01 00:00 UTC);
        assert_eq!(check(old, old, NOW), Ok(()));
    }
}
