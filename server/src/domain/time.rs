//! The time rules, in one place: how times and days are written, what a day means (a UTC calendar day), where
//! it ends, and what `at=` means on the API and on the pages.

use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime};

/// What `at=` means, for documents and error messages.
pub const AT_DEFINITION: &str =
    "an RFC 3339 time, or a day (YYYY-MM-DD) meaning the last instant of that day in UTC";

/// A time as kubeward writes it for machines: RFC 3339 in UTC.
pub fn time_text(time: OffsetDateTime) -> String {
    time.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// A day as kubeward writes it: `YYYY-MM-DD`.
pub fn day_text(day: Date) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    day.format(&format).unwrap_or_default()
}

/// A day written `YYYY-MM-DD`; `None` for anything else.
pub fn parse_day(text: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format).ok()
}

/// The last instant of a UTC day: what "as of that day" shows.
pub fn last_instant_of(day: Date) -> Option<OffsetDateTime> {
    Some(midnight_after(day)? - Duration::nanoseconds(1))
}

/// The midnight (UTC) after a day: the exclusive end of a period whose last day it is.
pub fn midnight_after(day: Date) -> Option<OffsetDateTime> {
    Some(day.next_day()?.midnight().assume_utc())
}

/// The moment an `at=` names (see [`AT_DEFINITION`]); `None` when the text is neither form.
pub fn parse_at(text: &str) -> Option<OffsetDateTime> {
    if let Ok(time) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(time);
    }
    if text.len() != 10 {
        return None;
    }
    last_instant_of(parse_day(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_at_means_its_last_instant_and_a_time_means_itself() {
        let day = parse_at("2026-11-01").expect("a day");
        assert_eq!(time_text(day), "2026-11-01T23:59:59.999999999Z");
        let time = parse_at("2026-11-01T10:00:00+02:00").expect("a time");
        assert_eq!(time_text(time), "2026-11-01T08:00:00Z");
        for bad in [
            "",
            "2026-13-01",
            "2026-11-1",
            " 2026-11-01",
            "yesterday",
            "9999999999-01-01",
        ] {
            assert!(parse_at(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_period_ends_at_the_midnight_after_its_last_day() {
        let day = parse_day("2026-12-31").expect("a day");
        assert_eq!(
            time_text(midnight_after(day).expect("representable")),
            "2027-01-01T00:00:00Z"
        );
        assert!(midnight_after(Date::MAX).is_none());
        assert_eq!(day_text(day), "2026-12-31");
    }
}
