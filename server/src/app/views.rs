//! The shapes of the API's answers and request bodies. Handlers answer with these types and nothing else, and
//! the OpenAPI document (see [`super::openapi`]) is derived from them, so the document cannot drift from what
//! the API sends. Times are RFC 3339 strings in UTC; days are `YYYY-MM-DD`.

use std::collections::BTreeMap;

use kubeward_benchmark::report::BenchmarkRef;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::catalogs::Catalogs;
use crate::storage::findings::{FeedEvent, FindingDetail, SubjectName};

pub use crate::domain::time::{day_text, time_text};

/// One page of a list; each page type below names its items.
macro_rules! page {
    ($name:ident, $item:ty) => {
        #[doc = concat!("A page of ", stringify!($item), "s. Pass `next` back as `cursor` for the following page; it is null on the last page.")]
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            pub next: Option<String>,
        }
    };
}

page!(ClusterPage, Cluster);
page!(NodePage, Node);
page!(ScanPage, Scan);
page!(FindingPage, Finding);
page!(ApiTokenPage, ApiToken);
page!(WebhookPage, Webhook);
page!(DeliveryPage, Delivery);

/// Where the clusters stood at a moment.
#[derive(Debug, Serialize, ToSchema)]
pub struct Standing {
    /// The moment (RFC 3339, UTC).
    pub at: String,
    /// What `score` means.
    pub score_definition: String,
    pub clusters: Vec<ClusterStandingView>,
}

/// A cluster at a moment: each node's last scan by then, with the exceptions and attestations then in force
/// counted in.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterStandingView {
    pub cluster: String,
    pub labels: BTreeMap<String, String>,
    /// Nodes that had reported by then.
    pub nodes: i64,
    /// Of those, the ones whose last report was older than the staleness limit at that moment.
    pub stale_nodes: i64,
    pub last_report: Option<String>,
    /// See `score_definition`; null when no automated check applied, or a node's scan predates the per-set
    /// counts.
    pub score: Option<f64>,
    pub counts: StandingCounts,
}

/// Result counts over the nodes' last scans. `waived_*` are the failures an exception in force waived (they
/// stay in `fail` and `warn`); `attested_*` are the manual results an attestation answered (they stay in
/// `manual`).
#[derive(Debug, Serialize, ToSchema)]
pub struct StandingCounts {
    pub pass: i64,
    pub fail: i64,
    pub warn: i64,
    pub manual: i64,
    pub not_applicable: i64,
    pub error: i64,
    pub automated_pass: i64,
    pub waived_fail: i64,
    pub waived_warn: i64,
    pub attested_pass: i64,
    pub attested_fail: i64,
    /// Nodes whose last scan predates the per-set counts.
    pub unscored_nodes: i64,
}

/// An enrolled cluster with its nodes' staleness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Cluster {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub nodes: i64,
    /// Nodes whose newest scan is older than the server's `--stale-after`.
    pub stale_nodes: i64,
    /// When the newest scan of any of its nodes finished.
    #[schema(format = DateTime)]
    pub last_seen: Option<String>,
}

/// A node, known by its cluster and name.
#[derive(Debug, Serialize, ToSchema)]
pub struct Node {
    pub id: i64,
    pub cluster: String,
    pub name: String,
    pub roles: Vec<String>,
    pub kubelet_version: Option<String>,
    #[schema(format = DateTime)]
    pub first_seen: String,
    #[schema(format = DateTime)]
    pub last_seen: String,
    /// Whether its newest scan is older than the server's `--stale-after`.
    pub stale: bool,
}

/// A finding's state: open while the check fails on the node, resolved once it passes again.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FindingState {
    Open,
    Resolved,
}

/// The external ticket a finding is linked to.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ticket {
    pub key: Option<String>,
    #[schema(format = "uri")]
    pub url: Option<String>,
}

/// A Kubernetes object a finding is about, as the cluster report named it (a workload by its top-level
/// owner).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ObjectRef {
    /// `Deployment`, `Service`, `ClusterRoleBinding`, ...
    pub kind: String,
    /// Null for cluster-scoped kinds.
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    fn of(subject: &SubjectName<'_>) -> Option<ObjectRef> {
        match subject {
            SubjectName::Node(_) => None,
            SubjectName::Object {
                kind,
                namespace,
                name,
            } => Some(ObjectRef {
                kind: (*kind).to_owned(),
                namespace: namespace.map(str::to_owned),
                name: (*name).to_owned(),
            }),
        }
    }
}

/// A benchmark as reports name it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BenchmarkName {
    pub id: String,
    pub version: String,
}

/// A failing check on one node or one Kubernetes object, followed from the day it opened; its `id` is stable
/// for its whole life.
#[derive(Debug, Serialize, ToSchema)]
pub struct Finding {
    pub id: i64,
    pub cluster: String,
    /// `node` for a node check (sections 1 to 4), `object` for a cluster-scope check on an object.
    pub subject: SubjectKind,
    /// The node of a node finding; null for an object finding.
    pub node: Option<String>,
    /// The object of an object finding; null for a node finding.
    pub object: Option<ObjectRef>,
    /// The check's stable key, such as `1.2.15`: findings, exceptions and trends follow it across benchmarks.
    /// For node checks it is the CIS Kubernetes v1.12 id where the check is one of that benchmark's (EKS 3.2.1
    /// is `4.2.1`), else a key of its own (`aks/cloud-provider-config-mode`).
    pub check: String,
    /// The benchmark that judged the latest result (`cis-eks` `1.8.0`); null when unknown.
    pub benchmark: Option<BenchmarkName>,
    /// The check's id in that benchmark (`3.2.1` for the key `4.2.1` under EKS); null when unknown.
    pub benchmark_check: Option<String>,
    /// Title, section, level and remediation come from the benchmark; null for an unknown benchmark.
    pub title: Option<String>,
    pub section: Option<String>,
    #[schema(minimum = 1, maximum = 2)]
    pub level: Option<u8>,
    pub remediation: Option<String>,
    pub state: FindingState,
    #[schema(format = DateTime)]
    pub first_seen: String,
    /// When it entered its current state.
    #[schema(format = DateTime)]
    pub state_since: String,
    /// When the node last reported this check failing.
    #[schema(format = DateTime)]
    pub last_seen: Option<String>,
    /// How many times it came back after being resolved.
    pub reopened: i32,
    /// The latest evidence, as the agent reported it (see the report wire formats); an object's evidence
    /// items carry the `path` of the field that decided.
    #[schema(value_type = Vec<Object>)]
    pub evidence: Vec<Value>,
    /// An object result's own detail: the missing fact of a `manual` result, the reason of an `error`.
    pub detail: Option<String>,
    /// Set when the object is on a platform-owned list (`list`, `version`, `reason`): shown in its own bucket.
    #[schema(value_type = Option<Object>)]
    pub platform: Option<Value>,
    pub ticket: Option<Ticket>,
    /// The approved exception waiving this open finding (at `at` when given): it is still failing, and counts
    /// as a failure in scores, but the failure was accepted until the exception's end. Null when none.
    pub exception_id: Option<i64>,
    /// The finding's page in the web UI.
    pub link: String,
}

impl Finding {
    pub fn from_row(row: &FindingDetail, catalogs: &Catalogs) -> Self {
        let benchmark = match (&row.benchmark_id, &row.benchmark_version) {
            (Some(id), Some(version)) => Some(BenchmarkRef {
                id: id.clone(),
                version: version.clone(),
            }),
            _ => None,
        };
        let subject = row.subject();
        let check = benchmark
            .as_ref()
            .and_then(|benchmark| catalogs.describe(benchmark, &row.check_id));
        let benchmark_check = benchmark.as_ref().and_then(|benchmark| {
            catalogs
                .id_in(benchmark, &row.check_id)
                .or_else(|| check.map(|_| row.check_id.as_str()))
                .map(str::to_owned)
        });
        let ticket = match (&row.ticket_key, &row.ticket_url) {
            (None, None) => None,
            (key, url) => Some(Ticket {
                key: key.clone(),
                url: url.clone(),
            }),
        };
        let evidence = match &row.evidence {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        Finding {
            id: row.id,
            cluster: row.cluster.clone(),
            subject: SubjectKind::of(&subject),
            node: row.node.clone(),
            object: ObjectRef::of(&subject),
            check: row.check_id.clone(),
            benchmark: benchmark.map(|benchmark| BenchmarkName {
                id: benchmark.id,
                version: benchmark.version,
            }),
            benchmark_check,
            title: check.map(|check| check.title.to_owned()),
            section: check.map(|check| check.section.to_owned()),
            level: check.and_then(|check| check.level),
            remediation: check.map(|check| check.remediation.to_owned()),
            state: if row.state == "open" {
                FindingState::Open
            } else {
                FindingState::Resolved
            },
            first_seen: time_text(row.first_seen),
            state_since: time_text(row.state_since),
            last_seen: row.last_seen.map(time_text),
            reopened: row.reopen_count,
            evidence,
            detail: row.detail.clone(),
            platform: row.platform.clone(),
            ticket,
            exception_id: row.exception_id,
            link: format!("/findings/{}", row.id),
        }
    }
}

/// The body of `PATCH /api/v1/findings/{id}`; both fields null unlinks the ticket.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketLink {
    #[schema(min_length = 1, max_length = 200)]
    pub ticket_key: Option<String>,
    /// An http or https URL.
    #[schema(format = "uri")]
    pub ticket_url: Option<String>,
}

/// What happened to a finding: a transition seen in a scan, or a change of the exception waiving it
/// (`waived` when one is approved, `waiver_expired` when it reaches its end and the finding is failing again,
/// `waiver_revoked` when it is revoked).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Opened,
    Resolved,
    Reopened,
    Waived,
    WaiverExpired,
    WaiverRevoked,
}

impl EventKind {
    fn parse(text: &str) -> Self {
        match text {
            "opened" => EventKind::Opened,
            "reopened" => EventKind::Reopened,
            "waived" => EventKind::Waived,
            "waiver_expired" => EventKind::WaiverExpired,
            "waiver_revoked" => EventKind::WaiverRevoked,
            _ => EventKind::Resolved,
        }
    }
}

/// Whether a finding is about a node or a Kubernetes object.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    Node,
    Object,
}

impl SubjectKind {
    fn of(subject: &SubjectName<'_>) -> SubjectKind {
        match subject {
            SubjectName::Node(_) => SubjectKind::Node,
            SubjectName::Object { .. } => SubjectKind::Object,
        }
    }
}

/// The finding an event is about, enough to find its ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventFinding {
    pub id: i64,
    pub cluster: String,
    pub subject: SubjectKind,
    /// The node of a node finding; null for an object finding.
    pub node: Option<String>,
    /// The object of an object finding; null for a node finding.
    pub object: Option<ObjectRef>,
    pub check: String,
    pub link: String,
}

/// One transition of one finding.
#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    /// Ids grow in commit order: polling from the last one never skips an event.
    pub id: i64,
    pub kind: EventKind,
    /// When it happened: the scan's finish time for a transition; the approval, revocation or end of the
    /// exception for a waiver event.
    #[schema(format = DateTime)]
    pub at: String,
    /// When the server stored it.
    #[schema(format = DateTime)]
    pub recorded_at: String,
    /// The scan behind a transition; null for a waiver event.
    pub scan_id: Option<Uuid>,
    /// The exception behind a waiver event; null for a transition.
    pub exception_id: Option<i64>,
    pub finding: EventFinding,
}

impl Event {
    pub fn from_row(row: &FeedEvent) -> Self {
        Event {
            id: row.id,
            kind: EventKind::parse(&row.kind),
            at: time_text(row.at),
            recorded_at: time_text(row.recorded_at),
            scan_id: row.scan_id,
            exception_id: row.exception_id,
            finding: EventFinding {
                id: row.finding_id,
                cluster: row.cluster.clone(),
                subject: SubjectKind::of(&row.subject()),
                node: row.node.clone(),
                object: ObjectRef::of(&row.subject()),
                check: row.check_id.clone(),
                link: format!("/findings/{}", row.finding_id),
            },
        }
    }
}

/// A page of the event feed. Unlike other lists, `next` is never null: it is where to poll from next time.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<Event>,
    pub next: String,
    /// Whether more events wait beyond this page.
    pub more: bool,
}

/// The benchmark a scan was evaluated against.
#[derive(Debug, Serialize, ToSchema)]
pub struct Benchmark {
    pub id: String,
    pub version: String,
}

/// How many results of a scan had each status.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusCounts {
    pub pass: i32,
    pub fail: i32,
    pub warn: i32,
    pub manual: i32,
    pub not_applicable: i32,
    pub error: i32,
}

/// A stored scan of one node.
#[derive(Debug, Serialize, ToSchema)]
pub struct Scan {
    pub scan_id: Uuid,
    pub cluster: String,
    pub node: String,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(format = DateTime)]
    pub finished_at: String,
    #[schema(format = DateTime)]
    pub received_at: String,
    pub agent_version: String,
    pub benchmark: Benchmark,
    pub counts: StatusCounts,
}

/// One check's result in a scan.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResult {
    /// The check's stable key (see `Finding.check`).
    pub check: String,
    /// The check's id in the scan's benchmark (`3.2.1` for the key `4.2.1` under EKS); null when unknown.
    pub benchmark_check: Option<String>,
    pub title: Option<String>,
    /// The section in the scan's benchmark.
    pub section: Option<String>,
    /// `pass`, `fail`, `warn`, `manual`, `not_applicable` or `error`.
    pub status: String,
    #[schema(value_type = Vec<Object>)]
    pub evidence: Value,
    pub detail: Option<String>,
}

/// A scan with every result and its evidence.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanDetail {
    #[serde(flatten)]
    pub scan: Scan,
    pub results: Vec<CheckResult>,
}

/// Counts over the nodes' last scans of one day.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayCounts {
    pub pass: i64,
    pub fail: i64,
    pub warn: i64,
    pub manual: i64,
    pub not_applicable: i64,
    pub error: i64,
    /// Passes of automated checks; null for days stored before it was counted.
    pub automated_pass: Option<i64>,
}

/// The score of one day.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScorePoint {
    #[schema(format = Date)]
    pub day: String,
    /// Nodes that reported that day.
    pub nodes: i64,
    /// From 0 to 1; null when no automated check applied (or no node reported).
    pub score: Option<f64>,
    pub counts: DayCounts,
}

/// A daily score series for the fleet, a cluster, or a section.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreSeries {
    pub cluster: Option<String>,
    pub section: Option<String>,
    #[schema(format = Date)]
    pub from: String,
    #[schema(format = Date)]
    pub to: String,
    pub score_definition: String,
    pub points: Vec<ScorePoint>,
}

/// How widely one check failed on one day.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckPoint {
    #[schema(format = Date)]
    pub day: String,
    pub nodes: i64,
    pub failing_nodes: i64,
    pub failing_clusters: i64,
}

/// How many nodes and clusters failed one check, day by day.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckSeries {
    pub check: String,
    pub cluster: Option<String>,
    #[schema(format = Date)]
    pub from: String,
    #[schema(format = Date)]
    pub to: String,
    pub points: Vec<CheckPoint>,
}

/// The answer to a report: stored now (201) or stored before (200, an idempotent re-delivery).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportReceipt {
    pub scan_id: Uuid,
    pub cluster: String,
    /// The node of a node report; absent for a cluster report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// `now` or `before`.
    pub stored: String,
    /// Whether a newer scan of the node had arrived first (only when stored now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late: Option<bool>,
    /// The transitions this scan caused (only when stored now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<TransitionCounts>,
    /// How many objects a cluster report named (only for a cluster report stored now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objects: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionCounts {
    pub opened: usize,
    pub resolved: usize,
    pub reopened: usize,
}

impl ReportReceipt {
    /// A scan stored before: nothing was written.
    pub fn before(scan_id: Uuid, cluster: &str, node: Option<String>) -> Self {
        ReportReceipt {
            scan_id,
            cluster: cluster.to_owned(),
            node,
            stored: "before".to_owned(),
            late: None,
            findings: None,
            objects: None,
        }
    }

    /// A scan stored now, with what it moved.
    pub fn now(
        scan_id: Uuid,
        cluster: &str,
        node: Option<String>,
        late: bool,
        findings: crate::app::ingest::Tally,
    ) -> Self {
        ReportReceipt {
            stored: "now".to_owned(),
            late: Some(late),
            findings: Some(TransitionCounts::from(findings)),
            ..ReportReceipt::before(scan_id, cluster, node)
        }
    }
}

impl From<crate::app::ingest::Tally> for TransitionCounts {
    fn from(tally: crate::app::ingest::Tally) -> Self {
        TransitionCounts {
            opened: tally.opened,
            resolved: tally.resolved,
            reopened: tally.reopened,
        }
    }
}

/// The body of `POST /api/v1/clusters`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCluster {
    /// A DNS label: lower-case letters, digits and `-`, up to 63 characters.
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A cluster as enrolled.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolledCluster {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A new agent token: the token itself is shown in this answer and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewAgentTokenIssued {
    pub id: Uuid,
    pub cluster: String,
    pub token: String,
}

/// The answer to an enrollment: the cluster and its first agent token.
#[derive(Debug, Serialize, ToSchema)]
pub struct Enrollment {
    pub cluster: EnrolledCluster,
    pub agent_token: NewAgentTokenIssued,
}

/// A whole number written as JSON allows it (`108` or `108.0`, which JSON Schema calls an integer too).
fn whole_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u32>, D::Error> {
    let number: Option<serde_json::Number> = Deserialize::deserialize(deserializer)?;
    let Some(number) = number else {
        return Ok(None);
    };
    let whole = number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|value| value.fract() == 0.0 && *value >= 0.0 && *value <= f64::from(u32::MAX))
            .map(|value| value as u64)
    });
    whole
        .and_then(|value| u32::try_from(value).ok())
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("{number} is not a whole number of days")))
}

/// The body of `POST /api/v1/api-tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiToken {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// `viewer`, `auditor` or `admin`.
    pub role: String,
    /// Days until it expires, 1 to 3650; null or absent for never.
    #[serde(default, deserialize_with = "whole_number")]
    pub expires_in_days: Option<u32>,
}

/// A new API token: the token itself is shown in this answer and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewApiTokenIssued {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    pub token: String,
}

/// An API token, without the token.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
}

/// The body of `POST /api/v1/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// An http or https URL.
    #[schema(format = "uri")]
    pub url: String,
    /// 16 to 256 characters; deliveries are signed with it.
    #[schema(min_length = 16, max_length = 256)]
    pub secret: String,
    /// Any of `finding.opened`, `finding.resolved`, `finding.reopened`, `finding.waived`,
    /// `finding.waiver_expired`, `finding.waiver_revoked`, `node.stale`.
    pub events: Vec<String>,
}

/// A webhook subscription, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    /// Where deliveries go, with every query value shown as `redacted` (it may hold a credential).
    pub url: String,
    pub events: Vec<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// One delivery of one event to one webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    pub id: i64,
    /// The finding event delivered, or null for a node event.
    pub event_id: Option<i64>,
    /// The node event delivered, or null for a finding event.
    pub node_event_id: Option<i64>,
    /// `pending`, `delivered` or `failed` (given up).
    pub state: String,
    pub attempts: i32,
    #[schema(format = DateTime)]
    pub next_attempt_at: String,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub delivered_at: Option<String>,
}

/// An error, as RFC 9457 problem details (`application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URN naming the kind of problem, such as `urn:kubeward:problem:bad-parameter`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The parameter or body field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// On server errors: the request's id, which every log line of the request carries (also in the
    /// `X-Request-Id` header of every answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Health: `ok`, or why the server is not ready.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// Where to look further: the API resource and the web page.
#[derive(Debug, Serialize, ToSchema)]
pub struct Links {
    pub api: String,
    pub page: String,
}

/// The event a webhook delivery carries. Ids are unique per kind of event (finding or node).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveredEvent {
    pub id: i64,
    /// `finding.opened`, `finding.resolved`, `finding.reopened`, `finding.waived`, `finding.waiver_expired`,
    /// `finding.waiver_revoked` or `node.stale`; also in the `Kubeward-Event` header.
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(format = DateTime)]
    pub at: String,
    /// The scan that caused a finding's transition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan_id: Option<Uuid>,
    /// The exception that caused a waiver event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception_id: Option<i64>,
}

/// A finding as a webhook delivers it: as the API shows it, with links.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveredFinding {
    #[serde(flatten)]
    pub finding: Finding,
    pub links: Links,
}

/// The JSON body of a `finding.*` webhook delivery, signed in the `Kubeward-Signature` header.
#[derive(Debug, Serialize, ToSchema)]
pub struct FindingDelivery {
    pub event: DeliveredEvent,
    pub finding: DeliveredFinding,
}

/// A node that stopped reporting.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaleNode {
    pub id: i64,
    pub cluster: String,
    pub name: String,
    pub roles: Vec<String>,
    /// When its newest scan finished.
    #[schema(format = DateTime)]
    pub last_seen: String,
    pub links: Links,
}

/// The JSON body of a `node.stale` webhook delivery, signed in the `Kubeward-Signature` header.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeStaleDelivery {
    pub event: DeliveredEvent,
    pub node: StaleNode,
}

/// Where an exception or attestation applies; all null: the whole fleet. `nodes` scopes node checks;
/// `namespace`, `kind` and `object` scope checks on Kubernetes objects.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScopeView {
    /// One cluster, or null for every cluster.
    pub cluster: Option<String>,
    /// A node-name glob (`*`, `?`), or null for every node.
    pub nodes: Option<String>,
    /// One namespace (`_` for cluster-scoped objects), or null for every namespace.
    pub namespace: Option<String>,
    /// One kind, or null for every kind.
    pub kind: Option<String>,
    /// An object-name glob (`*`, `?`; without a wildcard, exactly that name), or null for every object.
    pub object: Option<String>,
}

/// An exception: a failing check accepted over a scope, with a reason, an approver and an end.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExceptionView {
    pub id: i64,
    /// The one check it names; null when it names a group.
    pub check: Option<String>,
    /// The group of checks it names (`catalog/section`), or null.
    pub group: Option<String>,
    /// Every check it covers: its check, or its group's checks as they were when it was requested.
    pub checks: Vec<String>,
    pub title: Option<String>,
    pub scope: ScopeView,
    pub justification: String,
    /// The last day it can be in force (UTC).
    #[schema(format = Date)]
    pub last_day: String,
    /// The instant it ends (exclusive): the midnight after `last_day`.
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// `requested`, `lapsed` (its end passed undecided), `in_force`, `expired`, `rejected` or `revoked`, at the
    /// moment read (`at`, or now).
    pub state: String,
    pub requested_by: String,
    #[schema(format = DateTime)]
    pub requested_at: String,
    pub decided_by: Option<String>,
    #[schema(format = DateTime)]
    pub decided_at: Option<String>,
    pub decision_note: Option<String>,
    pub revoked_by: Option<String>,
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
    pub revoke_reason: Option<String>,
    /// The exception's page in the web UI.
    pub link: String,
}

impl ExceptionView {
    /// The exception as it stood at `at`: decisions taken later are not shown.
    pub fn at(
        row: &crate::storage::exceptions::ExceptionRow,
        catalogs: &Catalogs,
        at: OffsetDateTime,
    ) -> Self {
        let facts = row.facts();
        let decided = row.decided_at.filter(|decided| *decided <= at);
        let revoked = row.revoked_at.filter(|revoked| *revoked <= at);
        ExceptionView {
            id: row.id,
            title: match (&row.check_id, &row.check_group) {
                (Some(check), _) => catalogs.check_title(check).map(str::to_owned),
                (None, Some(group)) => catalogs.check_group(group).map(|group| group.title),
                (None, None) => None,
            },
            check: row.check_id.clone(),
            group: row.check_group.clone(),
            checks: row.check_ids.clone(),
            scope: ScopeView {
                cluster: row.cluster.clone(),
                nodes: row.node_pattern.clone(),
                namespace: row
                    .namespace
                    .as_deref()
                    .map(crate::domain::object::written_namespace)
                    .map(str::to_owned),
                kind: row.object_kind.clone(),
                object: row.object_pattern.clone(),
            },
            justification: row.justification.clone(),
            last_day: row
                .expires_at
                .date()
                .previous_day()
                .map(day_text)
                .unwrap_or_default(),
            expires_at: time_text(row.expires_at),
            state: facts
                .shown_at(at)
                .unwrap_or(crate::domain::exception::Shown::Requested)
                .as_str()
                .to_owned(),
            requested_by: row.requested_by.clone(),
            requested_at: time_text(row.requested_at),
            decided_by: decided.and(row.decided_by.clone()),
            decided_at: decided.map(time_text),
            decision_note: decided.and(row.decision_note.clone()),
            revoked_by: revoked.and(row.revoked_by.clone()),
            revoked_at: revoked.map(time_text),
            revoke_reason: revoked.and(row.revoke_reason.clone()),
            link: format!("/exceptions/{}", row.id),
        }
    }
}

page!(ExceptionPage, ExceptionView);

/// The body of `POST /api/v1/exceptions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExceptionBody {
    /// The check id, such as `1.2.15` or `5.2.2`; absent when `group` is given.
    pub check: Option<String>,
    /// A group of checks instead of one: a catalog section such as `cis-1.12/5.2` or
    /// `kubeward-hardening/pod-security`.
    pub group: Option<String>,
    /// One cluster, or absent for every cluster.
    pub cluster: Option<String>,
    /// For node checks: a node-name glob (`*`, `?`), or absent for every node.
    pub nodes: Option<String>,
    /// For checks on objects: one namespace (`_` for cluster-scoped objects), or absent for every namespace.
    pub namespace: Option<String>,
    /// For checks on objects: one kind (`Deployment`), or absent for every kind.
    pub kind: Option<String>,
    /// For checks on objects: an object name, exactly, or a glob (`web-*`); absent for every object.
    pub object: Option<String>,
    /// Why the failure is accepted (1 to 4,000 characters).
    pub justification: String,
    /// The last day it may be in force (UTC), at most the server's maximum ahead (365 days by default).
    #[schema(format = Date)]
    pub expires_on: String,
}

/// The body of `PUT /api/v1/clusters/{name}/platform-bucket`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlatformBucketBody {
    /// `true`: objects on a platform-owned list are shown apart and left out of the policy score (the default);
    /// `false`: they count like any other object.
    pub enabled: bool,
    /// Why (1 to 4,000 characters); kept in the audit trail.
    pub reason: String,
}

/// The body of an approval, rejection or revocation: a note (required to reject or revoke).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    pub note: Option<String>,
}

/// An auditor's verdict on a manual check over a scope, for a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttestationView {
    pub id: i64,
    pub check: String,
    pub title: Option<String>,
    pub scope: ScopeView,
    /// `pass` or `fail`.
    pub verdict: String,
    pub statement: String,
    pub evidence_url: Option<String>,
    #[schema(format = DateTime)]
    pub valid_from: String,
    /// The instant it stops answering (exclusive).
    #[schema(format = DateTime)]
    pub valid_until: String,
    /// Whether it answered at the moment read (`at`, or now).
    pub valid: bool,
    pub attested_by: String,
    #[schema(format = DateTime)]
    pub attested_at: String,
    pub revoked_by: Option<String>,
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
    pub revoke_reason: Option<String>,
    /// For a check on objects: the cluster scan it was recorded against.
    pub evidence_scan_id: Option<String>,
    /// For a check on objects: what that scan said of the check when it was attested (`status`, `evaluated`,
    /// `listed`, and up to 500 `objects` with their evidence).
    #[schema(value_type = Option<Object>)]
    pub evidence: Option<Value>,
    pub link: String,
}

impl AttestationView {
    pub fn at(
        row: &crate::storage::attestations::AttestationRow,
        catalogs: &Catalogs,
        at: OffsetDateTime,
    ) -> Self {
        let revoked = row.revoked_at.filter(|revoked| *revoked <= at);
        AttestationView {
            id: row.id,
            title: catalogs.check_title(&row.check_id).map(str::to_owned),
            check: row.check_id.clone(),
            scope: ScopeView {
                cluster: row.cluster.clone(),
                nodes: row.node_pattern.clone(),
                namespace: None,
                kind: None,
                object: None,
            },
            verdict: row.verdict.clone(),
            statement: row.statement.clone(),
            evidence_url: row.evidence_url.clone(),
            valid_from: time_text(row.valid_from),
            valid_until: time_text(row.valid_until),
            valid: row.valid_at(at),
            attested_by: row.attested_by.clone(),
            attested_at: time_text(row.attested_at),
            revoked_by: revoked.and(row.revoked_by.clone()),
            revoked_at: revoked.map(time_text),
            revoke_reason: revoked.and(row.revoke_reason.clone()),
            evidence_scan_id: row.evidence_scan_id.map(|id| id.to_string()),
            evidence: row.evidence.clone(),
            link: format!("/attestations/{}", row.id),
        }
    }
}

page!(AttestationPage, AttestationView);

/// The body of `POST /api/v1/attestations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAttestationBody {
    /// The id of a check the benchmark marks Manual.
    pub check: String,
    pub cluster: Option<String>,
    pub nodes: Option<String>,
    /// `pass` or `fail`.
    pub verdict: String,
    /// What was examined and found (1 to 4,000 characters).
    pub statement: String,
    /// An http or https link to the evidence.
    #[schema(format = "uri")]
    pub evidence_url: Option<String>,
    /// The first day it answers for (today or later; from now when absent).
    #[schema(format = Date)]
    pub valid_from: Option<String>,
    /// The last day it answers for (UTC).
    #[schema(format = Date)]
    pub valid_until: String,
}

/// One record of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRecordView {
    /// Gap-free, from 1.
    pub id: i64,
    #[schema(format = DateTime)]
    pub at: String,
    /// `oidc:<subject>`, `api-token:<id>`, `local`, `cli:<user>` or `system`.
    pub actor_id: String,
    pub actor: String,
    /// The peer address of the request (and what a proxy claimed it forwarded for), or where a command ran.
    pub source: Option<String>,
    pub action: String,
    pub target: Option<String>,
    /// What was done, as recorded.
    #[schema(value_type = Object)]
    pub detail: Value,
    /// SHA-256 of the previous record's hash and this record, hex.
    pub hash: String,
    pub prev_hash: String,
}

impl AuditRecordView {
    pub fn from_record(record: &crate::domain::audit::Record) -> Self {
        let entry = &record.entry;
        AuditRecordView {
            id: entry.id,
            at: time_text(entry.at),
            actor_id: entry.actor_id.clone(),
            actor: entry.actor_name.clone(),
            source: entry.source.clone(),
            action: entry.action.clone(),
            target: entry.target.clone(),
            detail: serde_json::from_str(&entry.detail).unwrap_or(Value::Null),
            hash: hex::encode(&record.hash),
            prev_hash: hex::encode(&record.prev_hash),
        }
    }
}

page!(AuditPage, AuditRecordView);

/// A cluster's context for manifest checks: `GET /api/v1/clusters/{name}/context`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterContextView {
    pub cluster: String,
    /// The cluster scan that carried it.
    pub scan_id: Uuid,
    #[schema(format = DateTime)]
    pub scanned_at: String,
    pub object_count: i64,
    /// What `kubeward-agent manifests --context-from` reads.
    pub context: ContextObjects,
    /// What the cluster's node agents said by then (within the 7 days before): the node checks and node
    /// facts that decide the cluster checks no manifest can (the API server's default Pod Security level, the
    /// container runtime, secrets encryption, the kubelets' `seccompDefault`). Empty when no node reports.
    pub node_facts: Vec<NodeFactView>,
}

/// One node's result of one node check, or one of its own facts (`check` is then `container runtime` or
/// `default Pod Security level`, and `status` its value).
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeFactView {
    pub node: String,
    pub control_plane: bool,
    pub check: String,
    /// A node check's status (`pass`, `fail`, …), or the fact's value (`containerd`, `baseline`).
    pub status: String,
    /// What the node agent observed, when its evidence says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
}

/// The context's objects: namespaces with their labels, network policies, service accounts, roles,
/// bindings, quotas, limit ranges and admission engines' pod security policies, trimmed to the fields read.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContextObjects {
    #[schema(value_type = Vec<Object>)]
    pub objects: Vec<Value>,
}
