//! The query string of every API endpoint, as one type per endpoint. Each type names the parameters its
//! endpoint takes, refuses any other (`deny_unknown_fields`: a misspelt filter is a 400, never a silently wider
//! answer) and a parameter given twice, and is the same type the OpenAPI document lists the parameters from.
//! Values arrive as text and are checked by the handler's parsers in [`super::api`], which name the field
//! in their 400.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use super::api::bad;
use super::problem::ApiError;
use crate::app::views::FindingState;

/// The query string of a request, read into an endpoint's query type `T`.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequest for ApiQuery<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse(request.query_string()).map(ApiQuery))
    }
}

/// Reads a query string into `T`, with serde's refusals turned into a 400 that names the parameter.
fn parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    web::Query::<T>::from_query(query)
        .map(web::Query::into_inner)
        .map_err(|err| refusal(&err.to_string()))
}

/// The first name between backticks in serde's message (`unknown field `x`, expected ...`).
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let length = message[start..].find('`')?;
    Some(&message[start..start + length])
}

fn refusal(message: &str) -> ApiError {
    let Some(name) = quoted(message) else {
        return bad("(query)", "the query string cannot be parsed");
    };
    if message.contains("unknown field `") {
        let known: Vec<&str> = message
            .split_once("expected one of ")
            .or_else(|| message.split_once("expected "))
            .map(|(_, list)| {
                list.split(", ")
                    .map(|item| item.trim_matches('`'))
                    .collect()
            })
            .unwrap_or_default();
        let detail = if known.is_empty() {
            "unknown parameter; this endpoint takes none".to_owned()
        } else {
            format!(
                "unknown parameter; this endpoint takes {}",
                known.join(", ")
            )
        };
        bad(name, detail)
    } else if message.contains("duplicate field `") {
        bad(name, "is given more than once")
    } else {
        bad(name, "the value cannot be read")
    }
}

/// The pages of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// How many items, 1 to 500; 100 when absent.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
}

/// `GET /api/v1/nodes`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NodesQuery {
    /// How many items, 1 to 500; 100 when absent.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// Only this cluster's nodes
    pub cluster: Option<String>,
    /// As they stood at this time (RFC 3339) or at the end of this day (YYYY-MM-DD, UTC): only nodes seen by then, last seen and staleness of that moment
    pub at: Option<String>,
}

/// `GET /api/v1/findings`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FindingsQuery {
    /// How many items, 1 to 500; 100 when absent.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// Cluster name
    pub cluster: Option<String>,
    /// Node name
    pub node: Option<String>,
    /// Check id, such as 1.2.15
    pub check: Option<String>,
    /// Benchmark section, such as 1.2
    pub section: Option<String>,
    /// open or resolved
    #[param(value_type = Option<FindingState>)]
    pub state: Option<String>,
    /// Only findings whose state changed at or after this time
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<String>,
    /// As they stood at this time (RFC 3339) or at the end of this day (YYYY-MM-DD, UTC): only findings opened by then, with the state, evidence and reopen count of that moment
    pub at: Option<String>,
}

/// One finding, as of a moment.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FindingAtQuery {
    /// As it stood at this time (RFC 3339) or at the end of this day (YYYY-MM-DD, UTC); 404 if not opened by then
    pub at: Option<String>,
}

/// One exception or attestation, as of a moment.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AtQuery {
    /// A day (its end, UTC) or an RFC 3339 time
    pub at: Option<String>,
}

/// `GET /api/v1/exceptions`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExceptionsQuery {
    /// How many items, 1 to 500; 100 when absent.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// Only exceptions for this check
    pub check: Option<String>,
    /// Only exceptions scoped to this cluster
    pub cluster: Option<String>,
    /// requested, lapsed, in_force, expired, rejected or revoked (at `at`)
    pub state: Option<String>,
    /// A day (its end, UTC) or an RFC 3339 time: exceptions as they stood then
    pub at: Option<String>,
}

/// `GET /api/v1/attestations`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AttestationsQuery {
    /// How many items, 1 to 500; 100 when absent.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// Only attestations of this check
    pub check: Option<String>,
    /// Only attestations scoped to this cluster
    pub cluster: Option<String>,
    /// Only those answering (true) or not (false) at `at`
    #[param(value_type = Option<bool>)]
    pub valid: Option<String>,
    /// A day (its end, UTC) or an RFC 3339 time
    pub at: Option<String>,
}

/// `GET /api/v1/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// How many items, 1 to 500; 100 when absent.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// Only this action, such as exception.approve
    pub action: Option<String>,
    /// Only this actor (its id or its name)
    pub actor: Option<String>,
    /// RFC 3339: only records at or after
    pub since: Option<String>,
    /// RFC 3339: only records at or before
    pub until: Option<String>,
}

/// An endpoint that takes no parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}

/// `GET /api/v1/scans`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ScansQuery {
    /// How many items, 1 to 500; 100 when absent.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// Cluster name
    pub cluster: Option<String>,
    /// Node name
    pub node: Option<String>,
    /// Only scans finished at or after this time
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<String>,
}

/// `GET /api/v1/trends`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ScoreTrendQuery {
    /// One cluster; the whole fleet when absent
    pub cluster: Option<String>,
    /// One benchmark section, such as 1.2
    pub section: Option<String>,
    /// First day; 29 days before `to` when absent
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Last day; today (UTC) when absent
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
}

/// `GET /api/v1/trends/checks`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CheckTrendQuery {
    /// Check id, such as 1.2.15
    #[param(value_type = String, required = true)]
    pub check: Option<String>,
    /// One cluster; the whole fleet when absent
    pub cluster: Option<String>,
    /// First day; 29 days before `to` when absent
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Last day; today (UTC) when absent
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
}

/// `GET /api/v1/standing`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StandingQuery {
    /// One cluster; every cluster when absent
    pub cluster: Option<String>,
    /// As they stood at this time (RFC 3339) or at the end of this day (YYYY-MM-DD, UTC); now when absent
    pub at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: ApiError) -> (String, String) {
        match err {
            ApiError::BadParameter { field, detail } => (field, detail),
            other => panic!("expected a bad parameter, got {other:?}"),
        }
    }

    #[test]
    fn an_unknown_parameter_is_refused_by_name_with_the_ones_the_endpoint_takes() {
        let (field, detail) = field_of(parse::<NodesQuery>("cluster=a&clustr=b").unwrap_err());
        assert_eq!(field, "clustr");
        assert!(detail.contains("limit, cursor, cluster, at"), "{detail}");
        let (field, detail) = field_of(parse::<NoQuery>("x=%3Cscript%3E").unwrap_err());
        assert_eq!(field, "x");
        assert!(detail.ends_with("takes none"), "{detail}");
    }

    #[test]
    fn a_parameter_given_twice_is_refused_rather_than_one_value_picked() {
        let (field, _) = field_of(parse::<ScansQuery>("node=a&node=b").unwrap_err());
        assert_eq!(field, "node");
    }

    #[test]
    fn known_parameters_arrive_as_given() {
        let query: FindingsQuery =
            parse("state=open&check=1.2.15&at=2026-11-01&cluster=%27%3B%20DROP").expect("valid");
        assert_eq!(query.state.as_deref(), Some("open"));
        assert_eq!(query.cluster.as_deref(), Some("'; DROP"));
        assert!(query.node.is_none());
    }
}
