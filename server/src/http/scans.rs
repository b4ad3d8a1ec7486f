//! `GET /api/v1/scans` and `GET /api/v1/scans/{id}`: the stored scans and their results.

use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kubeward_benchmark::catalog::compare_ids;
use kubeward_benchmark::report::BenchmarkRef;
use time::OffsetDateTime;
use uuid::Uuid;

use super::api::{bad, limit, paginate, text_param, time_param};
use super::problem::ApiError;
use super::query::{ApiQuery, ScansQuery};
use crate::app::views::{
    Benchmark, CheckResult, Scan, ScanDetail, ScanPage, StatusCounts, time_text,
};
use crate::shared::AppState;
use crate::storage::scans::{self, ScanListing};

/// Scan cursors carry a position in time order: `finished_at` (unix nanoseconds) and the scan id, as
/// `<nanos>_<uuid>`, which the OpenAPI document states as a pattern. Cursors handed out before, the same
/// two joined by `|` in base64, are still read.
fn encode_cursor(scan: &ScanListing) -> String {
    format!(
        "{}_{}",
        scan.finished_at.unix_timestamp_nanos(),
        scan.scan_id
    )
}

/// The pattern of [`encode_cursor`]'s cursors.
pub const CURSOR_PATTERN: &str =
    "^-?[0-9]{1,19}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

fn decode_cursor(text: &str) -> Result<(OffsetDateTime, Uuid), ApiError> {
    let invalid = || bad("cursor", "is not a cursor this API returned");
    let plain = match text.split_once('_') {
        Some(_) => text.to_owned(),
        None => {
            let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
            String::from_utf8(bytes)
                .map_err(|_| invalid())?
                .replacen('|', "_", 1)
        }
    };
    let (nanos, id) = plain.split_once('_').ok_or_else(invalid)?;
    let digits = nanos.strip_prefix('-').unwrap_or(nanos);
    if !(1..=19).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let nanos: i128 = nanos.parse().map_err(|_| invalid())?;
    let time = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| invalid())?;
    let id = Uuid::parse_str(id).map_err(|_| invalid())?;
    Ok((time, id))
}

fn scan_view(scan: &ScanListing) -> Scan {
    Scan {
        scan_id: scan.scan_id,
        cluster: scan.cluster.clone(),
        node: scan.node.clone(),
        started_at: time_text(scan.started_at),
        finished_at: time_text(scan.finished_at),
        received_at: time_text(scan.received_at),
        agent_version: scan.agent_version.clone(),
        benchmark: Benchmark {
            id: scan.benchmark_id.clone(),
            version: scan.benchmark_version.clone(),
        },
        counts: StatusCounts {
            pass: scan.pass_count,
            fail: scan.fail_count,
            warn: scan.warn_count,
            manual: scan.manual_count,
            not_applicable: scan.not_applicable_count,
            error: scan.error_count,
        },
    }
}

#[utoipa::path(
    get, path = "/api/v1/scans", tag = "scans",
    params(ScansQuery),
    responses((status = 200, description = "Scans in finish-time order", body = ScanPage))
)]
pub async fn list_scans(
    ApiQuery(query): ApiQuery<ScansQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = limit(query.limit.as_deref())?;
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let cluster = text_param("cluster", query.cluster.as_deref(), 63)?;
    let node = text_param("node", query.node.as_deref(), 253)?;
    let since = time_param("since", query.since.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    let rows = scans::page(
        &mut conn,
        cluster.as_deref(),
        node.as_deref(),
        since,
        after,
        limit + 1,
    )
    .await?;
    let (rows, next) = paginate(rows, limit, encode_cursor);
    let items = rows.iter().map(scan_view).collect();
    Ok(HttpResponse::Ok().json(ScanPage { items, next }))
}

#[utoipa::path(
    get, path = "/api/v1/scans/{id}", tag = "scans",
    params(("id" = Uuid, Path, description = "The scan id")),
    responses((status = 200, description = "The scan with every result", body = ScanDetail))
)]
pub async fn get_scan(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let scan_id = Uuid::parse_str(&path).map_err(|_| bad("id", "must be a scan id (a UUID)"))?;
    let mut conn = state.pool.acquire().await?;
    let (scan, mut results) = scans::results(&mut conn, scan_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("scan {scan_id}")))?;
    let catalog = state.catalogs.get(&BenchmarkRef {
        id: scan.benchmark_id.clone(),
        version: scan.benchmark_version.clone(),
    });
    // Stored results carry stable keys; the scan's benchmark numbers them its own way.
    let check_of = |key: &str| {
        catalog.and_then(|catalog| catalog.check_by_key(key).or_else(|| catalog.check(key)))
    };
    let own_id = |key: &str| check_of(key).map_or_else(|| key.to_owned(), |check| check.id.clone());
    results.sort_by(|a, b| compare_ids(&own_id(&a.check_id), &own_id(&b.check_id)));
    let results = results
        .into_iter()
        .map(|result| {
            let check = check_of(&result.check_id);
            CheckResult {
                benchmark_check: check.map(|check| check.id.clone()),
                title: check.map(|check| check.title.clone()),
                section: check.map(|check| check.section.clone()),
                check: result.check_id,
                status: result.status,
                evidence: result.evidence,
                detail: result.detail,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(ScanDetail {
        scan: scan_view(&scan),
        results,
    }))
}
