//! The pages, and what they share: the layout (who is looking, the as-of banner), the `?at=` date that links
//! keep, and small formatting helpers. Templates live in `templates/`; askama escapes every value, so a string
//! from a node is always shown as text.

pub mod audit;
pub mod check;
pub mod cluster;
pub mod diff;
pub mod findings;
pub mod fleet;
pub mod governance;
pub mod node;
pub mod object;

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use super::error::PageError;
use super::session::Visitor;
use crate::app::standing::Moment;
use crate::domain::time as time_rules;

/// The end of a past day the pages show the fleet at (`?at=YYYY-MM-DD`).
#[derive(Debug, Clone)]
pub struct AsOf {
    pub day: Date,
    /// The last instant of that day, UTC.
    pub end: OffsetDateTime,
    pub text: String,
}

impl AsOf {
    /// `None` for "now"; a day in the future or malformed is refused.
    pub fn parse(text: Option<&str>) -> Result<Option<AsOf>, PageError> {
        let Some(text) = text.filter(|text| !text.is_empty()) else {
            return Ok(None);
        };
        let invalid = || PageError::BadRequest("at= must be a day such as 2026-11-01".to_owned());
        let day = time_rules::parse_day(text).ok_or_else(invalid)?;
        if day > OffsetDateTime::now_utc().date() {
            return Err(PageError::BadRequest(
                "at= is in the future; the pages show what was, not what will be".to_owned(),
            ));
        }
        let end = time_rules::last_instant_of(day).ok_or_else(invalid)?;
        Ok(Some(AsOf {
            day,
            end,
            text: day_text(day),
        }))
    }
}

/// What every page's frame needs.
#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    pub visitor: Option<Visitor>,
    pub as_of: Option<AsOf>,
}

impl Layout {
    pub fn new(title: impl Into<String>, visitor: &Visitor, as_of: &Option<AsOf>) -> Self {
        Layout {
            title: title.into(),
            visitor: Some(visitor.clone()),
            as_of: as_of.clone(),
        }
    }

    /// A page without a visitor: errors, the signed-out page.
    pub fn bare(title: impl Into<String>) -> Self {
        Layout {
            title: title.into(),
            visitor: None,
            as_of: None,
        }
    }

    /// A link to `path` that keeps the as-of date.
    pub fn link(&self, path: &str) -> String {
        match &self.as_of {
            None => path.to_owned(),
            Some(as_of) if path.contains('?') => format!("{path}&at={}", as_of.text),
            Some(as_of) => format!("{path}?at={}", as_of.text),
        }
    }

    /// The moment the page shows, as the standing read model takes it.
    pub fn standing_moment(&self) -> Moment {
        match &self.as_of {
            None => Moment::now(),
            Some(as_of) => Moment::at(as_of.end),
        }
    }

    /// The moment the page shows.
    pub fn moment(&self) -> OffsetDateTime {
        self.as_of
            .as_ref()
            .map_or_else(OffsetDateTime::now_utc, |as_of| as_of.end)
    }
}

/// A JSON value from a report as the pages show it: a string as itself, null as nothing, anything else as
/// JSON. Reports are hostile input; the templates escape what this returns.
pub fn text_of(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Percent-encodes a path segment or query value.
pub use crate::domain::url::percent_encode as encode;

/// Where to go after a login: a path on this server, never another site (`//host`, `https://...`).
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

pub use crate::domain::time::day_text;

/// The last day something that ends at `end` (exclusive) was valid: ends are kept as the midnight after.
pub fn until_text(end: OffsetDateTime) -> String {
    let end = end.to_offset(time::UtcOffset::UTC);
    if end.time() == time::Time::MIDNIGHT {
        end.date().previous_day().map_or_else(String::new, day_text)
    } else {
        time_text(end)
    }
}

/// A time for people: `2026-11-30 14:05 UTC`.
pub fn time_text(time: OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// A time for machines (in `datetime` attributes).
pub fn machine_time(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}

/// A score as a percentage, or a dash when nothing applied.
pub fn percent(score: Option<f64>) -> String {
    score.map_or_else(|| "–".to_owned(), |score| format!("{:.1}%", score * 100.0))
}

/// How long ago, in whole days, as people say it.
pub fn age(since: OffsetDateTime, now: OffsetDateTime) -> String {
    let days = (now - since).whole_days();
    match days {
        ..=0 => "today".to_owned(),
        1 => "1 day".to_owned(),
        days => format!("{days} days"),
    }
}

/// The definition shown beside every score: the score's own (see [`crate::domain::score`]).
pub use crate::domain::score::DEFINITION as SCORE_DEFINITION;
