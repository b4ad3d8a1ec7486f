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

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use super::error::PageError;
use super::session::Visitor;
use crate::domain::time as time_rules;
use crate::shared::AppState;
use crate::storage::overlays::{self, Attested, Waived, Within};
use crate::storage::standing::{self, ClusterStanding, Counts, NodeStanding};

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

    /// The moment the page shows.
    pub fn moment(&self) -> OffsetDateTime {
        self.as_of
            .as_ref()
            .map_or_else(OffsetDateTime::now_utc, |as_of| as_of.end)
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

/// What exceptions and attestations laid over the results at the page's moment.
#[derive(Debug, Default)]
pub struct Overlays {
    pub waived: Vec<Waived>,
    pub attested: Vec<Attested>,
}

impl Overlays {
    /// Both overlays at the layout's moment, read side by side on two connections: each is one query that
    /// PostgreSQL runs on one core.
    pub async fn read(
        pool: &sqlx::PgPool,
        layout: &Layout,
        within: Within,
    ) -> Result<Self, PageError> {
        let moment = layout.moment();
        let now = layout.as_of.is_none();
        let waived = async {
            let mut conn = pool.acquire().await?;
            overlays::waived(&mut conn, moment, now, within).await
        };
        let attested = async {
            let mut conn = pool.acquire().await?;
            overlays::attested(&mut conn, moment, now, within).await
        };
        let (waived, attested) = tokio::try_join!(waived, attested)?;
        Ok(Overlays { waived, attested })
    }

    /// Adds to `counts` what falls where `keep(cluster id, node id, check id)` says.
    pub fn count_into(&self, counts: &mut Counts, keep: impl Fn(i64, i64, &str) -> bool) {
        for waived in &self.waived {
            if keep(waived.cluster_id, waived.node_id, &waived.check_id) {
                counts.waive(&waived.status);
            }
        }
        for attested in &self.attested {
            if keep(attested.cluster_id, attested.node_id, &attested.check_id) {
                counts.attest(&attested.verdict);
            }
        }
    }
}

/// A node and its cluster as they stood at the page's moment; 404 when either was unknown then.
pub async fn node_then(
    conn: &mut sqlx::PgConnection,
    state: &AppState,
    layout: &Layout,
    cluster: &str,
    node: &str,
) -> Result<(ClusterStanding, NodeStanding), PageError> {
    let moment = layout.moment();
    let standing = standing::clusters(
        &mut *conn,
        moment.date(),
        moment - state.stale_after,
        Some(cluster),
        layout.as_of.is_none(),
    )
    .await?
    .pop()
    .ok_or_else(|| PageError::NotFound(format!("cluster {cluster}")))?;
    let found = standing::nodes(conn, standing.id, moment.date())
        .await?
        .into_iter()
        .find(|candidate| candidate.name == node)
        .ok_or_else(|| PageError::NotFound(format!("node {node} of {cluster} at that time")))?;
    Ok((standing, found))
}
