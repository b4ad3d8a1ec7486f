//! Exceptions and attestations as operations: each parses what a person submitted, checks the rules
//! (`domain::exception`), stores the change, puts its events on the feed and its record in the audit trail,
//! all in one transaction. The API and the pages both call these, so the rules cannot differ between them.

use sqlx::PgPool;
use time::{Date, OffsetDateTime};

use crate::catalogs::{Catalogs, CheckSubject, NamedCheck};
use crate::domain::actor::Actor;
use crate::domain::audit::Action as Audited;
use crate::domain::cluster::ClusterName;
use crate::domain::exception::{self, Action, Refusal};
use crate::domain::object::written_namespace;
use crate::domain::scope::{NodePattern, ObjectPattern, ObjectScope, ScopeNamespace};
use crate::domain::url::HttpUrl;
use crate::storage::attestations::{self, NewAttestation};
use crate::storage::exceptions::{self, NewException, WaiverEvent};
use crate::storage::{audit, clusters, findings, policies, webhooks};

/// How far ahead exceptions and attestations may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub exception_max_days: i64,
    pub attestation_max_days: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            exception_max_days: 365,
            attestation_max_days: 365,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GovernanceError {
    #[error("{detail}")]
    Invalid { field: &'static str, detail: String },
    #[error("{0} not found")]
    NotFound(String),
    /// A rule forbids this caller the action (deciding their own request).
    #[error("{0}")]
    OwnRequest(String),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn invalid(field: &'static str, detail: impl Into<String>) -> GovernanceError {
    GovernanceError::Invalid {
        field,
        detail: detail.into(),
    }
}

/// What a person submitted for a scope: empty text means "every". `nodes` scopes node checks; `namespace`,
/// `kind` and `object` scope checks on Kubernetes objects.
#[derive(Debug, Clone, Default)]
pub struct ScopeInput {
    pub cluster: Option<String>,
    pub nodes: Option<String>,
    pub namespace: Option<String>,
    pub kind: Option<String>,
    pub object: Option<String>,
}

/// A checked scope: the cluster (by id, and its name for records), and the node pattern or the object scope,
/// each pattern with its `LIKE` form.
struct CheckedScope {
    cluster_id: Option<i64>,
    cluster: Option<String>,
    pattern: Option<String>,
    like: Option<String>,
    objects: ObjectScope,
}

impl CheckedScope {
    /// How the audit trail records it.
    fn detail(&self) -> serde_json::Value {
        serde_json::json!({
            "cluster": self.cluster,
            "nodes": self.pattern,
            "namespace": self.objects.namespace.as_ref().map(|namespace| written_namespace(namespace.stored())),
            "kind": self.objects.kind,
            "object": self.objects.name.as_ref().map(ObjectPattern::as_str),
        })
    }

    fn namespace(&self) -> Option<&str> {
        self.objects.namespace.as_ref().map(ScopeNamespace::stored)
    }

    fn object_pattern(&self) -> Option<&str> {
        self.objects.name.as_ref().map(ObjectPattern::as_str)
    }

    fn object_like(&self) -> Option<String> {
        self.objects.name.as_ref().map(ObjectPattern::to_like)
    }
}

fn given(text: &Option<String>) -> Option<String> {
    text.as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// Checks a submitted scope against what its checks are evaluated on: the cluster must exist; a node pattern
/// only scopes node checks, and a namespace, kind or object pattern only checks on objects, so that a scope
/// can never silently match nothing.
async fn parse_scope(
    conn: &mut sqlx::PgConnection,
    catalogs: &Catalogs,
    scope: &ScopeInput,
    subject: CheckSubject,
) -> Result<CheckedScope, GovernanceError> {
    let (cluster_id, cluster) = match given(&scope.cluster) {
        None => (None, None),
        Some(text) => {
            let name =
                ClusterName::parse(&text).map_err(|err| invalid("cluster", err.to_string()))?;
            let found = clusters::find_by_name(&mut *conn, &name)
                .await?
                .ok_or_else(|| invalid("cluster", format!("there is no cluster {name}")))?;
            (Some(found.id), Some(text))
        }
    };
    let pattern = match given(&scope.nodes) {
        None => None,
        Some(_) if subject == CheckSubject::Objects => {
            return Err(invalid(
                "nodes",
                "these checks are evaluated on Kubernetes objects: scope them with namespace, kind and object, not nodes",
            ));
        }
        Some(text) => {
            Some(NodePattern::parse(&text).map_err(|err| invalid("nodes", err.to_string()))?)
        }
    };
    let mut objects = ObjectScope::default();
    for (field, value) in [
        ("namespace", &scope.namespace),
        ("kind", &scope.kind),
        ("object", &scope.object),
    ] {
        if given(value).is_some() && subject == CheckSubject::Nodes {
            return Err(invalid(
                field,
                format!(
                    "these checks are evaluated on nodes: {field} scopes checks on Kubernetes objects; use nodes"
                ),
            ));
        }
    }
    if let Some(text) = given(&scope.namespace) {
        objects.namespace = Some(
            ScopeNamespace::parse(&text).map_err(|err| invalid("namespace", err.to_string()))?,
        );
    }
    if let Some(text) = given(&scope.kind) {
        let kinds = catalogs.object_kinds();
        if !kinds.contains(text.as_str()) {
            return Err(invalid(
                "kind",
                format!(
                    "kind {text:?} is not a kind the checks read; use one of {}",
                    kinds.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        objects.kind = Some(text);
    }
    if let Some(text) = given(&scope.object) {
        objects.name =
            Some(ObjectPattern::parse(&text).map_err(|err| invalid("object", err.to_string()))?);
    }
    Ok(CheckedScope {
        cluster_id,
        cluster,
        like: pattern.as_ref().map(NodePattern::to_like),
        pattern: pattern.map(|pattern| pattern.as_str().to_owned()),
        objects,
    })
}

/// Free text a person writes: trimmed, 1 to 4,000 characters, no control characters but line breaks.
fn statement(
    field: &'static str,
    text: &str,
    required: bool,
) -> Result<Option<String>, GovernanceError> {
    let text = text.trim();
    if text.is_empty() {
        return if required {
            Err(invalid(field, format!("{field} is required")))
        } else {
            Ok(None)
        };
    }
    if text.chars().count() > 4000
        || text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(invalid(
            field,
            format!("{field} must be at most 4000 characters without control characters"),
        ));
    }
    Ok(Some(text.to_owned()))
}

/// A day `YYYY-MM-DD`; the end of a period is the midnight after it (the day itself is included).
fn day(field: &'static str, text: &str) -> Result<Date, GovernanceError> {
    crate::domain::time::parse_day(text.trim())
        .ok_or_else(|| invalid(field, format!("{field} must be a day such as 2027-06-30")))
}

fn end_of(
    field: &'static str,
    last_day: Date,
    now: OffsetDateTime,
    max_days: i64,
) -> Result<OffsetDateTime, GovernanceError> {
    let today = now.date();
    if last_day < today {
        return Err(invalid(field, format!("{field} is in the past")));
    }
    if (last_day - today).whole_days() > max_days {
        return Err(invalid(
            field,
            format!("{field} may be at most {max_days} days ahead"),
        ));
    }
    let end = last_day
        .next_day()
        .ok_or_else(|| invalid(field, format!("{field} is out of range")))?;
    Ok(end.midnight().assume_utc())
}

fn known_check(catalogs: &Catalogs, check: &str) -> Result<NamedCheck, GovernanceError> {
    let check = check.trim();
    if check.is_empty() || check.len() > 64 {
        return Err(invalid(
            "check",
            "check must be a check id such as 1.2.15 or KW-SVC-NODEPORT",
        ));
    }
    catalogs.named_check(check).ok_or_else(|| {
        invalid(
            "check",
            format!("{check} is not a check of any known benchmark"),
        )
    })
}

/// What an exception names: one check, or a group given as `catalog/section`.
struct Named {
    check_id: Option<String>,
    group: Option<String>,
    checks: Vec<String>,
    subject: CheckSubject,
}

fn named_checks(
    catalogs: &Catalogs,
    check: &str,
    group: Option<&str>,
) -> Result<Named, GovernanceError> {
    let group = group.map(str::trim).filter(|text| !text.is_empty());
    match (check.trim().is_empty(), group) {
        (false, Some(_)) => Err(invalid(
            "group",
            "name either one check or one group, not both",
        )),
        (true, None) => Err(invalid("check", "check (or group) is required")),
        (false, None) => {
            let found = known_check(catalogs, check)?;
            Ok(Named {
                checks: vec![found.id.clone()],
                check_id: Some(found.id),
                group: None,
                subject: found.subject,
            })
        }
        (true, Some(name)) => {
            if name.len() > 100 {
                return Err(invalid("group", "group must be at most 100 characters"));
            }
            let found = catalogs.check_group(name).ok_or_else(|| {
                invalid(
                    "group",
                    format!(
                        "{name:?} is not a group of checks; groups are catalog sections such as {}",
                        catalogs
                            .group_names()
                            .into_iter()
                            .filter(|name| name.starts_with("cis-1.12/5")
                                || name.starts_with("kubeward"))
                            .take(6)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            Ok(Named {
                check_id: None,
                group: Some(found.name),
                checks: found.checks,
                subject: found.subject,
            })
        }
    }
}

/// A request for an exception, as submitted.
#[derive(Debug, Clone, Default)]
pub struct ExceptionInput {
    /// One check; empty when a group is named.
    pub check: String,
    /// A group of checks (`catalog/section`) instead of one check.
    pub group: Option<String>,
    pub scope: ScopeInput,
    pub justification: String,
    /// The last day it may be in force.
    pub expires_on: String,
}

/// Records a request; returns its id.
pub async fn request_exception(
    pool: &PgPool,
    catalogs: &Catalogs,
    limits: Limits,
    actor: &Actor,
    input: &ExceptionInput,
) -> Result<i64, GovernanceError> {
    let named = named_checks(catalogs, &input.check, input.group.as_deref())?;
    let justification = statement("justification", &input.justification, true)?.unwrap_or_default();
    let now = OffsetDateTime::now_utc();
    let expires_at = end_of(
        "expires_on",
        day("expires_on", &input.expires_on)?,
        now,
        limits.exception_max_days,
    )?;
    let mut tx = pool.begin().await?;
    let scope = parse_scope(&mut tx, catalogs, &input.scope, named.subject).await?;
    let object_like = scope.object_like();
    let id = exceptions::insert(
        &mut tx,
        &NewException {
            check_id: named.check_id.as_deref(),
            check_group: named.group.as_deref(),
            check_ids: &named.checks,
            cluster_id: scope.cluster_id,
            node_pattern: scope.pattern.as_deref(),
            node_like: scope.like.as_deref(),
            namespace: scope.namespace(),
            object_kind: scope.objects.kind.as_deref(),
            object_pattern: scope.object_pattern(),
            object_like: object_like.as_deref(),
            justification: &justification,
            expires_at,
        },
        actor,
        now,
    )
    .await?;
    audit::append(
        &mut tx,
        actor,
        Audited::ExceptionRequest,
        Some(&format!("exception {id}")),
        &serde_json::json!({
            "check": named.check_id,
            "group": named.group,
            "checks": named.checks,
            "scope": scope.detail(),
            "justification": justification,
            "expires_at": crate::domain::time::time_text(expires_at),
        }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(exception.id = id, checks = named.checks.len(), by = %actor.name, "exception requested");
    Ok(id)
}

/// Approves, rejects or revokes an exception. Approval and revocation put waiver events on the feed for the
/// open findings it covers.
pub async fn decide_exception(
    pool: &PgPool,
    id: i64,
    action: Action,
    actor: &Actor,
    note: &str,
) -> Result<(), GovernanceError> {
    let note = statement("note", note, action != Action::Approve)?;
    let now = OffsetDateTime::now_utc();
    let mut tx = pool.begin().await?;
    // The feed lock first, then the row: the same order as every other writer of the feed.
    findings::lock_event_feed(&mut tx).await?;
    let row = exceptions::lock(&mut tx, id)
        .await?
        .ok_or_else(|| GovernanceError::NotFound(format!("exception {id}")))?;
    let facts = row.facts();
    let next =
        exception::apply(&facts, action, &actor.id, now).map_err(|refusal| match refusal {
            Refusal::OwnRequest => GovernanceError::OwnRequest(refusal.to_string()),
            other => GovernanceError::Refused(other.to_string()),
        })?;
    let was_in_force = facts.in_force_at(now);
    let audited = match action {
        Action::Approve => {
            exceptions::decide(&mut tx, id, next, actor, now, note.as_deref()).await?;
            let events =
                exceptions::raise_waiver_events(&mut tx, id, WaiverEvent::Waived, now).await?;
            queue(&mut tx, &events, WaiverEvent::Waived).await?;
            Audited::ExceptionApprove
        }
        Action::Reject => {
            exceptions::decide(&mut tx, id, next, actor, now, note.as_deref()).await?;
            Audited::ExceptionReject
        }
        Action::Revoke => {
            exceptions::revoke(&mut tx, id, actor, now, note.as_deref().unwrap_or_default())
                .await?;
            if was_in_force {
                let events =
                    exceptions::raise_waiver_events(&mut tx, id, WaiverEvent::Revoked, now).await?;
                queue(&mut tx, &events, WaiverEvent::Revoked).await?;
            }
            Audited::ExceptionRevoke
        }
    };
    audit::append(
        &mut tx,
        actor,
        audited,
        Some(&format!("exception {id}")),
        &serde_json::json!({ "check": row.check_id, "group": row.check_group, "note": note }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(exception.id = id, action = action.as_str(), by = %actor.name, "exception {}", next.as_str());
    Ok(())
}

async fn queue(
    conn: &mut sqlx::PgConnection,
    events: &[i64],
    kind: WaiverEvent,
) -> Result<(), sqlx::Error> {
    let topic = format!("finding.{}", kind.as_str());
    for event in events {
        webhooks::enqueue(&mut *conn, *event, &topic).await?;
    }
    Ok(())
}

/// Announces exceptions whose end has come: a `waiver_expired` event for every open finding each covered
/// (the finding is failing again), queued for webhooks, and a record in the audit trail. Returns how many
/// exceptions expired. Replicas sweeping together each take different rows.
pub async fn sweep_expiries(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    // Most sweeps find nothing: do not hold up ingest (the feed lock) to learn that.
    if !exceptions::any_expiry_due(&mut *pool.acquire().await?, now).await? {
        return Ok(0);
    }
    let mut tx = pool.begin().await?;
    findings::lock_event_feed(&mut tx).await?;
    let due = exceptions::lock_due_expiries(&mut tx, now).await?;
    let system = Actor::system();
    for (id, check, expires_at) in &due {
        let events =
            exceptions::raise_waiver_events(&mut tx, *id, WaiverEvent::Expired, *expires_at)
                .await?;
        queue(&mut tx, &events, WaiverEvent::Expired).await?;
        exceptions::note_expiry(&mut tx, *id, now).await?;
        audit::append(
            &mut tx,
            &system,
            Audited::ExceptionExpire,
            Some(&format!("exception {id}")),
            &serde_json::json!({
                "check": check,
                "expired_at": crate::domain::time::time_text(*expires_at),
                "findings_failing_again": events.len(),
            }),
        )
        .await?;
        tracing::info!(
            exception.id = id,
            findings = events.len(),
            "exception expired"
        );
    }
    tx.commit().await?;
    Ok(due.len())
}

/// An attestation, as submitted.
#[derive(Debug, Clone, Default)]
pub struct AttestationInput {
    pub check: String,
    pub scope: ScopeInput,
    /// `pass` or `fail`.
    pub verdict: String,
    pub statement: String,
    pub evidence_url: Option<String>,
    /// The first day it answers for (default: from now).
    pub valid_from: Option<String>,
    /// The last day it answers for.
    pub valid_until: String,
}

pub async fn record_attestation(
    pool: &PgPool,
    catalogs: &Catalogs,
    limits: Limits,
    actor: &Actor,
    input: &AttestationInput,
) -> Result<i64, GovernanceError> {
    let check = known_check(catalogs, &input.check)?;
    if !check.manual {
        return Err(invalid(
            "check",
            format!(
                "{} is an automated check: its result comes from the scans, not from an attestation",
                check.id
            ),
        ));
    }
    let verdict = match input.verdict.trim() {
        "pass" => "pass",
        "fail" => "fail",
        _ => return Err(invalid("verdict", "verdict must be pass or fail")),
    };
    let statement_text = statement("statement", &input.statement, true)?.unwrap_or_default();
    let evidence_url = match input
        .evidence_url
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
    {
        None => None,
        Some(text) => {
            let url = HttpUrl::parse(text)
                .map_err(|err| invalid("evidence_url", format!("evidence_url {err}")))?;
            Some(url.as_str().to_owned())
        }
    };
    let now = OffsetDateTime::now_utc();
    // No back-dating: an attestation answers from when it is recorded (or a later day), so a past date's view
    // never shows an attestation that did not exist then.
    let valid_from = match input
        .valid_from
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
    {
        None => now,
        Some(text) => {
            let first = day("valid_from", text)?;
            if first < now.date() {
                return Err(invalid("valid_from", "valid_from is in the past"));
            }
            first.midnight().assume_utc().max(now)
        }
    };
    let valid_until = end_of(
        "valid_until",
        day("valid_until", &input.valid_until)?,
        now,
        limits.attestation_max_days,
    )?;
    if valid_until <= valid_from {
        return Err(invalid("valid_until", "valid_until is before valid_from"));
    }
    let mut tx = pool.begin().await?;
    let scope = parse_scope(&mut tx, catalogs, &input.scope, check.subject).await?;
    // A check on objects is attested for one cluster, against what that cluster's newest scan showed: the
    // attestation keeps that result, so the record says what the auditor looked at.
    let shown = match (check.subject, scope.cluster_id) {
        (CheckSubject::Nodes, _) => None,
        (CheckSubject::Objects, None) => {
            return Err(invalid(
                "cluster",
                format!(
                    "{} is checked per cluster: name the cluster you attest",
                    check.id
                ),
            ));
        }
        (CheckSubject::Objects, Some(cluster_id)) => {
            if !scope.objects.is_any() {
                return Err(invalid(
                    "namespace",
                    "an attestation answers for the whole check in a cluster: leave namespace, kind and object empty",
                ));
            }
            let snapshot = policies::check_snapshot(&mut tx, cluster_id, &check.id, now)
                .await?
                .ok_or_else(|| {
                    invalid(
                        "check",
                        format!(
                            "cluster {} has reported no result for {} yet: there is nothing to attest",
                            scope.cluster.as_deref().unwrap_or_default(),
                            check.id
                        ),
                    )
                })?;
            Some(snapshot)
        }
    };
    let id = attestations::insert(
        &mut tx,
        &NewAttestation {
            check_id: &check.id,
            cluster_id: scope.cluster_id,
            node_pattern: scope.pattern.as_deref(),
            node_like: scope.like.as_deref(),
            verdict,
            statement: &statement_text,
            evidence_url: evidence_url.as_deref(),
            valid_from,
            valid_until,
            evidence_scan_id: shown.as_ref().map(|snapshot| snapshot.scan_id),
            evidence: shown.as_ref().map(|snapshot| &snapshot.evidence),
        },
        actor,
        now,
    )
    .await?;
    audit::append(
        &mut tx,
        actor,
        Audited::AttestationRecord,
        Some(&format!("attestation {id}")),
        &serde_json::json!({
            "check": check.id,
            "verdict": verdict,
            "scope": scope.detail(),
            "statement": statement_text,
            "evidence_url": evidence_url,
            "evidence_scan_id": shown.as_ref().map(|snapshot| snapshot.scan_id.to_string()),
            "valid_from": crate::domain::time::time_text(valid_from),
            "valid_until": crate::domain::time::time_text(valid_until),
        }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(attestation.id = id, check = %check.id, verdict, by = %actor.name, "attestation recorded");
    Ok(id)
}

pub async fn revoke_attestation(
    pool: &PgPool,
    id: i64,
    actor: &Actor,
    reason: &str,
) -> Result<(), GovernanceError> {
    let reason = statement("reason", reason, true)?.unwrap_or_default();
    let now = OffsetDateTime::now_utc();
    let mut tx = pool.begin().await?;
    if !attestations::revoke(&mut tx, id, actor, now, &reason).await? {
        let exists = !attestations::list(
            &mut tx,
            &attestations::AttestationFilter {
                id: Some(id),
                ..Default::default()
            },
            now,
            0,
            1,
        )
        .await?
        .is_empty();
        return Err(if exists {
            GovernanceError::Refused("this attestation has ended already".to_owned())
        } else {
            GovernanceError::NotFound(format!("attestation {id}"))
        });
    }
    audit::append(
        &mut tx,
        actor,
        Audited::AttestationRevoke,
        Some(&format!("attestation {id}")),
        &serde_json::json!({ "reason": reason }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Turns a cluster's platform-owned bucket on or off. While it is off, objects on a platform-owned list count
/// like any other in the cluster's policy counts and score; the change is a new row (past days keep the setting
/// of their time) and a record in the audit trail, with the admin's reason.
pub async fn set_platform_bucket(
    pool: &PgPool,
    cluster: &str,
    enabled: bool,
    reason: &str,
    actor: &Actor,
) -> Result<(), GovernanceError> {
    let reason = statement("reason", reason, true)?.unwrap_or_default();
    let name =
        ClusterName::parse(cluster.trim()).map_err(|err| invalid("cluster", err.to_string()))?;
    let now = OffsetDateTime::now_utc();
    let mut tx = pool.begin().await?;
    let found = clusters::find_by_name(&mut tx, &name)
        .await?
        .ok_or_else(|| GovernanceError::NotFound(format!("cluster {name}")))?;
    policies::set_platform_bucket(&mut tx, found.id, enabled, &reason, actor, now).await?;
    audit::append(
        &mut tx,
        actor,
        Audited::PlatformBucketSet,
        Some(&format!("cluster {name}")),
        &serde_json::json!({ "enabled": enabled, "reason": reason }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(cluster = %name, enabled, by = %actor.name, "platform bucket set");
    Ok(())
}
