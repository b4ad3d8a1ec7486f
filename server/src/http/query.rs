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

impl<T: DeserializeOwned + IntoParams> FromRequest for ApiQuery<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse(request.query_string()).map(ApiQuery))
    }
}

/// Reads a query string into `T`. The names are checked first against the parameters `T` declares for the
/// OpenAPI document, so the refusal names the parameter without reading serde's messages.
fn parse<T: DeserializeOwned + IntoParams>(query: &str) -> Result<T, ApiError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
        .map_err(|_| bad("(query)", "the query string cannot be parsed"))?
        .into_inner();
    let known: Vec<String> = T::into_params(|| None)
        .into_iter()
        .map(|parameter| parameter.name)
        .collect();
    for (index, (name, _)) in pairs.iter().enumerate() {
        if !known.contains(name) {
            let takes = if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            };
            return Err(bad(
                name,
                format!("unknown parameter; this endpoint takes {takes}"),
            ));
        }
        if pairs[..index].iter().any(|(earlier, _)| earlier == name) {
            return Err(bad(name, "is given more than once"));
        }
    }
    web::Query::<T>::from_query(query)
        .map(web::Query::into_inner)
        .map_err(|_| bad("(query)", "the query string cannot be parsed"))
}

/// A query type for a list: the paging parameters every list takes, then the endpoint's own.
macro_rules! list_query {
    ($(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Deserialize, IntoParams)]
        #[into_params(parameter_in = Query)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// How many items, 1 to 500; 100 when absent.
            #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
            pub limit: Option<String>,
            /// The `next` of the previous page.
            pub cursor: Option<String>,
            $($(#[$field_meta])* pub $field: Option<String>,)*
        }
    };
}

list_query! {
    /// The pages of a list.
    PageQuery {}
}

list_query! {
    /// `GET /api/v1/nodes`.
    NodesQuery {
        /// Only this cluster's nodes
        cluster,
        /// As they stood at this time (RFC 3339) or at the end of this day (YYYY-MM-DD, UTC): only nodes seen by then, last seen and staleness of that moment
        at,
    }
}

list_query! {
    /// `GET /api/v1/findings`.
    FindingsQuery {
        /// Cluster name
        cluster,
        /// Node name
        node,
        /// Only findings on objects of this kind, such as Deployment
        kind,
        /// Only findings on objects in this namespace (`_` for cluster-scoped objects)
        namespace,
        /// Only findings on objects of this name
        object,
        /// Check id, such as 1.2.15, 5.2.2 or KW-SVC-NODEPORT
        check,
        /// Benchmark section, such as 1.2
        section,
        /// open or resolved
        #[param(value_type = Option<FindingState>)]
        state,
        /// Only findings whose state changed at or after this time
        #[param(value_type = Option<String>, format = DateTime)]
        since,
        /// As they stood at this time (RFC 3339) or at the end of this day (YYYY-MM-DD, UTC): only findings opened by then, with the state, evidence and reopen count of that moment
        at,
    }
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

list_query! {
    /// `GET /api/v1/exceptions`.
    ExceptionsQuery {
        /// Only exceptions for this check
        check,
        /// Only exceptions scoped to this cluster
        cluster,
        /// requested, lapsed, in_force, expired, rejected or revoked (at `at`)
        state,
        /// A day (its end, UTC) or an RFC 3339 time: exceptions as they stood then
        at,
    }
}

list_query! {
    /// `GET /api/v1/attestations`.
    AttestationsQuery {
        /// Only attestations of this check
        check,
        /// Only attestations scoped to this cluster
        cluster,
        /// Only those answering (true) or not (false) at `at`
        #[param(value_type = Option<bool>)]
        valid,
        /// A day (its end, UTC) or an RFC 3339 time
        at,
    }
}

list_query! {
    /// `GET /api/v1/audit`.
    AuditQuery {
        /// Only this action, such as exception.approve
        action,
        /// Only this actor (its id or its name)
        actor,
        /// RFC 3339: only records at or after
        since,
        /// RFC 3339: only records at or before
        until,
    }
}

/// An endpoint that takes no parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}

list_query! {
    /// `GET /api/v1/scans`.
    ScansQuery {
        /// Cluster name
        cluster,
        /// Node name
        node,
        /// Only scans finished at or after this time
        #[param(value_type = Option<String>, format = DateTime)]
        since,
    }
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

/// `GET /api/v1/clusters/{name}/context`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ContextQuery {
    /// The newest context by this time (RFC 3339) or the end of this day (YYYY-MM-DD, UTC); now when absent
    pub at: Option<String>,
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
