//! `/exceptions` and `/attestations`: lists (as of any day), one page each, and the forms that request,
//! decide, record and revoke. The rules are in [`crate::app::governance`], shared with the API.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use kubeward_benchmark::catalog::Assessment;
use serde::Deserialize;

use super::{Layout, day_text, encode, time_text, until_text};
use crate::app::governance::{self, AttestationInput, ExceptionInput, ScopeInput};
use crate::app::views::{AttestationView, ExceptionView};
use crate::domain::exception::{self, Action};
use crate::domain::object::written_namespace;
use crate::domain::role::Role;
use crate::domain::scope::{ObjectScope, Scope};
use crate::shared::AppState;
use crate::storage::attestations::{self, AttestationFilter};
use crate::storage::exceptions::{self, ExceptionFilter};
use crate::storage::overlays::{self, Within};
use crate::web::error::PageError;
use crate::web::form::{CheckedForm, PageContext};
use crate::web::security;
use crate::web::session::Visitor;

const PAGE_SIZE: i64 = 200;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    cursor: Option<i64>,
}

#[derive(Debug)]
pub struct ExceptionLine {
    pub id: i64,
    pub link: String,
    pub check: String,
    pub title: Option<String>,
    pub scope: String,
    pub state: String,
    pub justification: String,
    pub requested_by: String,
    pub requested_at: String,
    pub decided_by: Option<String>,
    pub decided_at: String,
    pub last_day: String,
}

#[derive(Template)]
#[template(path = "exceptions.html")]
struct ExceptionsPage {
    layout: Layout,
    rows: Vec<ExceptionLine>,
    states: &'static [&'static str],
    state_filter: String,
    next: Option<String>,
    can_request: bool,
    csrf: String,
    max_days: i64,
}

fn see_other(location: String) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// An exception's scope as a sentence: its cluster, and its nodes or objects.
fn describe_scope(row: &exceptions::ExceptionRow) -> String {
    let objects =
        row.namespace.is_some() || row.object_kind.is_some() || row.object_pattern.is_some();
    if !objects {
        return Scope::describe(row.cluster.as_deref(), row.node_pattern.as_deref());
    }
    let what = ObjectScope::describe(
        row.namespace.as_deref(),
        row.object_kind.as_deref(),
        row.object_pattern.as_deref(),
    );
    match &row.cluster {
        Some(cluster) => format!("{what} of cluster {cluster}"),
        None => format!("{what} in every cluster"),
    }
}

pub(crate) fn may(visitor: &Visitor, path: &str) -> bool {
    visitor.role >= crate::web::access::rule_for(path).unwrap_or(Role::Admin)
}

pub async fn list_exceptions(
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let visitor = &context.visitor;
    let layout = context.layout("Exceptions");
    let moment = layout.moment();
    let state_filter = match query.state.as_deref().filter(|text| !text.is_empty()) {
        None => None,
        Some(text) => Some(
            exception::SHOWN_STATES
                .iter()
                .copied()
                .find(|candidate| *candidate == text)
                .ok_or_else(|| {
                    PageError::BadRequest(format!(
                        "state= must be one of {}",
                        exception::SHOWN_STATES.join(", ")
                    ))
                })?,
        ),
    };
    let filter = ExceptionFilter {
        state: state_filter,
        ..ExceptionFilter::default()
    };
    let after = query.cursor.unwrap_or(0).max(0);
    let mut conn = state.pool.acquire().await?;
    let mut rows = exceptions::list(&mut conn, &filter, moment, after, PAGE_SIZE + 1).await?;
    drop(conn);
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(usize::try_from(PAGE_SIZE).unwrap_or(0));
    let next = more
        .then(|| {
            rows.last().map(|row| {
                layout.link(&format!(
                    "/exceptions?state={}&cursor={}",
                    state_filter.unwrap_or(""),
                    row.id
                ))
            })
        })
        .flatten();
    let lines = rows
        .iter()
        .map(|row| {
            let view = ExceptionView::at(row, &state.catalogs, moment);
            ExceptionLine {
                id: view.id,
                link: view.link,
                check: view.check.or(view.group).unwrap_or_default(),
                title: view.title,
                scope: describe_scope(row),
                state: view.state,
                justification: view.justification,
                requested_by: row.requested_by.clone(),
                requested_at: time_text(row.requested_at),
                decided_by: view.decided_by,
                decided_at: row.decided_at.map(time_text).unwrap_or_default(),
                last_day: view.last_day,
            }
        })
        .collect();
    let page = ExceptionsPage {
        rows: lines,
        states: exception::SHOWN_STATES,
        state_filter: state_filter.unwrap_or("").to_owned(),
        next,
        can_request: may(visitor, "/exceptions/new"),
        csrf: visitor.csrf_token.clone(),
        max_days: state.limits.exception_max_days,
        layout,
    };
    Ok(security::page(StatusCode::OK, page.render()?))
}

/// A failing result the exception waives at the page's moment: on a node or on an object.
#[derive(Debug)]
pub struct WaivedLine {
    pub cluster: String,
    pub subject: String,
    pub link: String,
    pub check: String,
    pub status: String,
}

#[derive(Template)]
#[template(path = "exception.html")]
struct ExceptionPage {
    layout: Layout,
    view: ExceptionView,
    scope: String,
    check_link: String,
    waived: Vec<WaivedLine>,
    can_decide: bool,
    own_request: bool,
    csrf: String,
}

fn numeric(path: &str, what: &str) -> Result<i64, PageError> {
    path.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| PageError::NotFound(what.to_owned()))
}

pub async fn show_exception(
    path: web::Path<String>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let visitor = &context.visitor;
    let id = numeric(&path, "this exception")?;
    let as_of = context.as_of.clone();
    let layout = context.layout(format!("Exception {id}"));
    let moment = layout.moment();
    let filter = ExceptionFilter {
        id: Some(id),
        ..ExceptionFilter::default()
    };
    let mut conn = state.pool.acquire().await?;
    let row = exceptions::list(&mut conn, &filter, moment, 0, 1)
        .await?
        .pop()
        .ok_or_else(|| PageError::NotFound(format!("exception {id} at that time")))?;
    let covered = overlays::waived(&mut conn, moment, as_of.is_none(), Within::default()).await?;
    let objects = overlays::waived_objects(
        &mut conn,
        moment,
        &state.catalogs.policy_benchmarks(),
        None,
        Some(id),
    )
    .await?;
    let places = crate::storage::nodes::names(
        &mut conn,
        &covered
            .iter()
            .filter(|waived| waived.exception_id == id)
            .map(|waived| waived.node_id)
            .collect::<Vec<_>>(),
    )
    .await?;
    drop(conn);
    let mut waived: Vec<WaivedLine> = covered
        .iter()
        .filter(|waived| waived.exception_id == id)
        .filter_map(|waived| {
            places
                .iter()
                .find(|place| place.0 == waived.node_id)
                .map(|(_, cluster, node)| WaivedLine {
                    cluster: cluster.clone(),
                    subject: format!("node {node}"),
                    link: format!("/clusters/{}/nodes/{}", encode(cluster), encode(node)),
                    check: waived.check_id.clone(),
                    status: waived.status.clone(),
                })
        })
        .collect();
    waived.extend(objects.into_iter().map(|waived| WaivedLine {
        subject: format!(
            "{} {}{}",
            waived.kind,
            if waived.namespace.is_empty() {
                String::new()
            } else {
                format!("{}/", waived.namespace)
            },
            waived.name
        ),
        link: format!(
            "/clusters/{}/objects/{}/{}/{}",
            encode(&waived.cluster),
            encode(&waived.kind),
            encode(written_namespace(&waived.namespace)),
            encode(&waived.name)
        ),
        cluster: waived.cluster,
        check: waived.check_id,
        status: waived.status,
    }));
    let page = ExceptionPage {
        scope: describe_scope(&row),
        check_link: match (&row.check_id, &row.check_group) {
            (Some(check), _) => format!("/checks/{}", encode(check)),
            _ => String::new(),
        },
        own_request: row.requested_by_id == visitor.actor_id,
        can_decide: may(visitor, "/exceptions/{id}/decide"),
        csrf: visitor.csrf_token.clone(),
        view: ExceptionView::at(&row, &state.catalogs, moment),
        waived,
        layout,
    };
    Ok(security::page(StatusCode::OK, page.render()?))
}

#[derive(Debug, Deserialize)]
pub struct ExceptionForm {
    #[serde(default)]
    check: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    cluster: String,
    #[serde(default)]
    nodes: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    object: String,
    justification: String,
    expires_on: String,
}

/// `POST /exceptions/new` (admin).
pub async fn request_exception(
    request: HttpRequest,
    CheckedForm(form): CheckedForm<ExceptionForm>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let visitor = &context.visitor;
    let input = ExceptionInput {
        check: form.check.clone(),
        group: Some(form.group.clone()),
        scope: ScopeInput {
            cluster: Some(form.cluster.clone()),
            nodes: Some(form.nodes.clone()),
            namespace: Some(form.namespace.clone()),
            kind: Some(form.kind.clone()),
            object: Some(form.object.clone()),
        },
        justification: form.justification.clone(),
        expires_on: form.expires_on.clone(),
    };
    let id = governance::request_exception(
        &state.pool,
        &state.catalogs,
        state.limits,
        &visitor.actor(&request),
        &input,
    )
    .await?;
    Ok(see_other(format!("/exceptions/{id}")))
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    action: String,
    #[serde(default)]
    note: String,
}

/// `POST /exceptions/{id}/decide` (auditor): approve, reject or revoke.
pub async fn decide_exception(
    request: HttpRequest,
    path: web::Path<String>,
    CheckedForm(form): CheckedForm<DecisionForm>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let visitor = &context.visitor;
    let id = numeric(&path, "this exception")?;
    let action = match form.action.as_str() {
        "approve" => Action::Approve,
        "reject" => Action::Reject,
        "revoke" => Action::Revoke,
        _ => {
            return Err(PageError::BadRequest(
                "action must be approve, reject or revoke".to_owned(),
            ));
        }
    };
    governance::decide_exception(
        &state.pool,
        id,
        action,
        &visitor.actor(&request),
        &form.note,
    )
    .await?;
    Ok(see_other(format!("/exceptions/{id}")))
}

#[derive(Debug)]
pub struct AttestationLine {
    pub id: i64,
    pub link: String,
    pub check: String,
    pub title: Option<String>,
    pub scope: String,
    pub verdict: String,
    pub statement: String,
    pub attested_by: String,
    pub attested_on: String,
    pub period: String,
    pub valid: bool,
}

#[derive(Template)]
#[template(path = "attestations.html")]
struct AttestationsPage {
    layout: Layout,
    rows: Vec<AttestationLine>,
    next: Option<String>,
    can_attest: bool,
    csrf: String,
    manual_checks: Vec<(String, String)>,
}

fn period(from: time::OffsetDateTime, until: time::OffsetDateTime) -> String {
    format!("{} to {}", day_text(from.date()), until_text(until))
}

pub async fn list_attestations(
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let visitor = &context.visitor;
    let layout = context.layout("Attestations");
    let moment = layout.moment();
    let after = query.cursor.unwrap_or(0).max(0);
    let mut conn = state.pool.acquire().await?;
    let mut rows = attestations::list(
        &mut conn,
        &AttestationFilter::default(),
        moment,
        after,
        PAGE_SIZE + 1,
    )
    .await?;
    drop(conn);
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(usize::try_from(PAGE_SIZE).unwrap_or(0));
    let next = more
        .then(|| {
            rows.last()
                .map(|row| layout.link(&format!("/attestations?cursor={}", row.id)))
        })
        .flatten();
    let lines = rows
        .iter()
        .map(|row| AttestationLine {
            id: row.id,
            link: format!("/attestations/{}", row.id),
            title: state.catalogs.check_title(&row.check_id).map(str::to_owned),
            check: row.check_id.clone(),
            scope: Scope::describe(row.cluster.as_deref(), row.node_pattern.as_deref()),
            verdict: row.verdict.clone(),
            statement: row.statement.clone(),
            attested_by: row.attested_by.clone(),
            attested_on: day_text(row.attested_at.date()),
            period: period(row.valid_from, row.valid_until),
            valid: row.valid_at(moment),
        })
        .collect();
    let mut manual_checks: Vec<(String, String)> = state
        .catalogs
        .all_checks()
        .filter(|check| check.assessment == Assessment::Manual)
        .map(|check| (check.id.clone(), check.title.clone()))
        .collect();
    // The Manual checks on objects (CIS section 5) are attested per cluster, against its newest scan.
    manual_checks.extend(
        state
            .catalogs
            .manual_policy_checks()
            .map(|(id, title)| (id.to_owned(), title.to_owned())),
    );
    manual_checks.sort_by(|a, b| kubeward_benchmark::catalog::compare_ids(&a.0, &b.0));
    manual_checks.dedup_by(|a, b| a.0 == b.0);
    let page = AttestationsPage {
        rows: lines,
        next,
        can_attest: may(visitor, "/attestations/new"),
        csrf: visitor.csrf_token.clone(),
        manual_checks,
        layout,
    };
    Ok(security::page(StatusCode::OK, page.render()?))
}

#[derive(Template)]
#[template(path = "attestation.html")]
struct AttestationPage {
    layout: Layout,
    view: AttestationView,
    scope: String,
    check_link: String,
    attested_on: String,
    valid_until: String,
    can_revoke: bool,
    csrf: String,
    /// For a check on objects: what the cluster's scan showed when it was attested.
    shown: Option<AttestedEvidence>,
}

pub async fn show_attestation(
    path: web::Path<String>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let visitor = &context.visitor;
    let id = numeric(&path, "this attestation")?;
    let layout = context.layout(format!("Attestation {id}"));
    let moment = layout.moment();
    let filter = AttestationFilter {
        id: Some(id),
        ..AttestationFilter::default()
    };
    let mut conn = state.pool.acquire().await?;
    let row = attestations::list(&mut conn, &filter, moment, 0, 1)
        .await?
        .pop()
        .ok_or_else(|| PageError::NotFound(format!("attestation {id} at that time")))?;
    drop(conn);
    let page = AttestationPage {
        shown: row.evidence.as_ref().map(AttestedEvidence::from_snapshot),
        scope: Scope::describe(row.cluster.as_deref(), row.node_pattern.as_deref()),
        check_link: format!("/checks/{}", encode(&row.check_id)),
        attested_on: day_text(row.attested_at.date()),
        valid_until: until_text(row.valid_until),
        can_revoke: may(visitor, "/attestations/{id}/revoke"),
        csrf: visitor.csrf_token.clone(),
        view: AttestationView::at(&row, &state.catalogs, moment),
        layout,
    };
    Ok(security::page(StatusCode::OK, page.render()?))
}

/// What the auditor was shown when attesting a check on objects, as kept with the attestation.
#[derive(Debug, Default)]
pub struct AttestedEvidence {
    pub scan_id: String,
    pub scanned_at: String,
    pub status: String,
    pub evaluated: String,
    pub listed: String,
    /// (object, status, evidence as `path: observed (expected)` lines, detail)
    pub objects: Vec<(String, String, Vec<String>, String)>,
}

impl AttestedEvidence {
    fn from_snapshot(snapshot: &serde_json::Value) -> Self {
        let text =
            |value: Option<&serde_json::Value>| value.map(super::text_of).unwrap_or_default();
        let objects = snapshot
            .get("objects")
            .and_then(serde_json::Value::as_array)
            .map(|objects| {
                objects
                    .iter()
                    .map(|object| {
                        let namespace = text(object.get("namespace"));
                        let name = format!(
                            "{} {}{}",
                            text(object.get("kind")),
                            if namespace.is_empty() {
                                String::new()
                            } else {
                                format!("{namespace}/")
                            },
                            text(object.get("name"))
                        );
                        let evidence = object
                            .get("evidence")
                            .and_then(serde_json::Value::as_array)
                            .map(|items| {
                                items
                                    .iter()
                                    .map(|item| {
                                        format!(
                                            "{} {}: {} (expected {})",
                                            text(item.get("subject")),
                                            text(item.get("path")),
                                            text(item.get("observed")),
                                            text(item.get("expected"))
                                        )
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        (
                            name,
                            text(object.get("status")),
                            evidence,
                            text(object.get("detail")),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        AttestedEvidence {
            scan_id: text(snapshot.get("scan_id")),
            scanned_at: text(snapshot.get("scanned_at")),
            status: text(snapshot.get("status")),
            evaluated: text(snapshot.get("evaluated")),
            listed: text(snapshot.get("listed")),
            objects,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct AttestationForm {
    check: String,
    verdict: String,
    #[serde(default)]
    cluster: String,
    #[serde(default)]
    nodes: String,
    #[serde(default)]
    valid_from: String,
    valid_until: String,
    #[serde(default)]
    evidence_url: String,
    statement: String,
}

/// `POST /attestations/new` (auditor).
pub async fn record_attestation(
    request: HttpRequest,
    CheckedForm(form): CheckedForm<AttestationForm>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let visitor = &context.visitor;
    let input = AttestationInput {
        check: form.check.clone(),
        scope: ScopeInput {
            cluster: Some(form.cluster.clone()),
            nodes: Some(form.nodes.clone()),
            ..ScopeInput::default()
        },
        verdict: form.verdict.clone(),
        statement: form.statement.clone(),
        evidence_url: Some(form.evidence_url.clone()),
        valid_from: Some(form.valid_from.clone()),
        valid_until: form.valid_until.clone(),
    };
    let id = governance::record_attestation(
        &state.pool,
        &state.catalogs,
        state.limits,
        &visitor.actor(&request),
        &input,
    )
    .await?;
    Ok(see_other(format!("/attestations/{id}")))
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    note: String,
}

/// `POST /attestations/{id}/revoke` (auditor).
pub async fn revoke_attestation(
    request: HttpRequest,
    path: web::Path<String>,
    CheckedForm(form): CheckedForm<RevokeForm>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let visitor = &context.visitor;
    let id = numeric(&path, "this attestation")?;
    governance::revoke_attestation(&state.pool, id, &visitor.actor(&request), &form.note).await?;
    Ok(see_other(format!("/attestations/{id}")))
}

#[derive(Debug, Deserialize)]
pub struct PlatformBucketForm {
    /// `on` or `off`.
    bucket: String,
    #[serde(default)]
    reason: String,
}

/// `POST /clusters/{cluster}/platform-bucket` (admin): set platform-owned objects apart, or count them.
pub async fn set_platform_bucket(
    request: HttpRequest,
    path: web::Path<String>,
    CheckedForm(form): CheckedForm<PlatformBucketForm>,
    state: web::Data<AppState>,
    context: PageContext,
) -> Result<HttpResponse, PageError> {
    let enabled = match form.bucket.as_str() {
        "on" => true,
        "off" => false,
        _ => return Err(PageError::BadRequest("bucket must be on or off".to_owned())),
    };
    governance::set_platform_bucket(
        &state.pool,
        &path,
        enabled,
        &form.reason,
        &context.visitor.actor(&request),
    )
    .await?;
    Ok(see_other(format!("/clusters/{}#policies", encode(&path))))
}
