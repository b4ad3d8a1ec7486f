//! Where the API and the pages answer the same question, they give the same answer: a cluster's score on each
//! day (the trend API and the cluster page's chart), a cluster's standing at a moment (the standing API and
//! the fleet page), and the findings and their states as of a day (the findings API and the findings page's
//! export). The days include one recorded before kubeward counted automated passes per result set: the
//! documented rule (`domain::score`) gives such a day no score, and both doors must say so.

#![allow(
    clippy::unwrap_used,
    reason = "a test should stop loudly at the first unexpected error"
)]

mod common;

use std::collections::BTreeSet;

use common::{TestServer, at, report};
use kubeward_benchmark::Status;
use kubeward_server::domain::role::Role;
use serde_json::Value;
use sqlx::PgPool;

fn day_of(hours: i64) -> String {
    kubeward_server::domain::time::day_text(at(hours).date())
}

/// The page's way of writing a score.
fn percent(score: &Value) -> String {
    score
        .as_f64()
        .map_or_else(|| "–".to_owned(), |score| format!("{:.1}%", score * 100.0))
}

/// An answer of the API (with the token) or of a page's export (local mode needs none).
async fn json(server: &TestServer, token: &str, path: &str) -> Value {
    let response = server
        .client
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

async fn html(server: &TestServer, path: &str) -> String {
    let response = server.client.get(server.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

/// The cluster page's table of the chart's numbers: day → score as shown.
fn chart_numbers(page: &str) -> Vec<(String, String)> {
    let table = page
        .split("<details class=\"daily\">")
        .nth(1)
        .and_then(|rest| rest.split("</details>").next())
        .expect("the cluster page shows the chart's numbers");
    table
        .split("<tr><td>")
        .skip(1)
        .filter_map(|row| {
            let (day, rest) = row.split_once("</td>")?;
            let score = rest
                .split_once("class=\"num score\">")?
                .1
                .split_once("</td>")?
                .0;
            Some((day.to_owned(), score.to_owned()))
        })
        .collect()
}

/// The score the fleet page shows for a cluster.
fn fleet_score(page: &str, cluster: &str) -> String {
    let row = page
        .split(&format!(">{cluster}</a></td>"))
        .nth(1)
        .unwrap_or_else(|| panic!("the fleet page lists {cluster}"));
    row.split_once("class=\"num score\">")
        .and_then(|(_, rest)| rest.split_once("</td>"))
        .map(|(score, _)| score.to_owned())
        .expect("a score cell")
}

/// Each finding of a JSON list as (node, check, state): what both doors must agree on.
fn node_check_state(findings: &Value) -> BTreeSet<(String, String, String)> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| {
            let text = |key: &str| finding[key].as_str().unwrap().to_owned();
            (text("node"), text("check"), text("state"))
        })
        .collect()
}

/// Makes every stored result set look as it did before kubeward counted automated passes per set.
async fn forget_per_set_counts(pool: &PgPool) {
    sqlx::query(
        r#"UPDATE result_sets SET automated_pass_count = NULL,
                  section_counts = coalesce(
                      (SELECT jsonb_object_agg(key, value - 'automated_pass') FROM jsonb_each(section_counts)),
                      '{}'::jsonb)"#,
    )
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "kubeward_server::MIGRATOR")]
async fn the_api_and_the_pages_agree_on_scores_standing_and_findings_including_days_before_per_set_counts(
    pool: PgPool,
) {
    let server = TestServer::start(pool.clone()).await;
    let (_, viewer) = common::api_token(&pool, Role::Viewer, None).await;
    let legacy = [("1.2.15", Status::Fail), ("4.2.1", Status::Fail)];
    // A result set stored "before the per-set counts": posted once elsewhere, then stripped of them. A later
    // scan with the same results reuses the set, as a late delivery of an old scan would.
    let (_, elsewhere) = server.enroll("elsewhere").await;
    assert_eq!(
        server
            .post(&elsewhere, &report("cp-1", at(-24), &legacy))
            .await
            .status(),
        201
    );
    forget_per_set_counts(&pool).await;

    let (_, agent) = server.enroll("prod").await;
    // Day 0: cp-1's scan reuses the old set, so the day has no score.
    assert_eq!(
        server
            .post(&agent, &report("cp-1", at(0), &legacy))
            .await
            .status(),
        201
    );
    assert_eq!(
        server
            .post(
                &agent,
                &report("worker-1", at(1), &[("4.2.1", Status::Fail)])
            )
            .await
            .status(),
        201
    );
    // Day 1 and 2: new sets, with their counts.
    assert_eq!(
        server
            .post(&agent, &report("cp-1", at(24), &[("1.2.15", Status::Fail)]))
            .await
            .status(),
        201
    );
    assert_eq!(
        server
            .post(&agent, &report("worker-1", at(25), &[]))
            .await
            .status(),
        201
    );
    assert_eq!(
        server
            .post(&agent, &report("cp-1", at(48), &[("1.1.1", Status::Fail)]))
            .await
            .status(),
        201
    );

    // A cluster's score on each day: the trend API and the cluster page's chart.
    let trend = json(
        &server,
        &viewer,
        &format!(
            "/api/v1/trends?cluster=prod&from={}&to={}",
            day_of(0),
            day_of(48)
        ),
    )
    .await;
    let points = trend["points"].as_array().unwrap();
    assert_eq!(points.len(), 3, "{trend}");
    assert!(
        points[0]["score"].is_null(),
        "a day with a scan from before the per-set counts has no score: {trend}"
    );
    assert!(points[1]["score"].as_f64().is_some(), "{trend}");
    let page = html(&server, "/clusters/prod?range=365").await;
    let shown = chart_numbers(&page);
    for point in points {
        let day = point["day"].as_str().unwrap();
        let on_page = shown
            .iter()
            .find(|(shown_day, _)| shown_day == day)
            .unwrap_or_else(|| panic!("the page's chart covers {day}"));
        assert_eq!(on_page.1, percent(&point["score"]), "the score of {day}");
    }
    assert!(
        page.contains(
            &trend["score_definition"]
                .as_str()
                .unwrap()
                .replace('\'', "&#39;")
        ),
        "the page shows the API's definition of the score"
    );

    // A cluster's standing at a moment: the standing API and the fleet page, as of each day and now.
    for day in [day_of(0), day_of(24), day_of(48)] {
        let standing = json(
            &server,
            &viewer,
            &format!("/api/v1/standing?cluster=prod&at={day}"),
        )
        .await;
        let fleet = html(&server, &format!("/?at={day}")).await;
        assert_eq!(
            fleet_score(&fleet, "prod"),
            percent(&standing["clusters"][0]["score"]),
            "as of {day}: {standing}"
        );
    }
    let standing = json(&server, &viewer, "/api/v1/standing").await;
    let fleet = html(&server, "/").await;
    for cluster in standing["clusters"].as_array().unwrap() {
        let name = cluster["cluster"].as_str().unwrap();
        assert_eq!(
            fleet_score(&fleet, name),
            percent(&cluster["score"]),
            "{name} now"
        );
    }
    assert!(
        standing["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|cluster| cluster["score"].is_null()),
        "the cluster whose only node reports an old set has no score now: {standing}"
    );

    // The findings and their states as of a day: the findings API and the findings page's export.
    for day in [day_of(0), day_of(24), day_of(48)] {
        let api = json(
            &server,
            &viewer,
            &format!("/api/v1/findings?cluster=prod&at={day}"),
        )
        .await;
        let from_api = node_check_state(&api["items"]);
        let export = json(
            &server,
            &viewer,
            &format!("/findings/export.json?cluster=prod&state=all&at={day}"),
        )
        .await;
        let from_page = node_check_state(&export);
        assert!(!from_api.is_empty(), "as of {day}");
        assert_eq!(from_api, from_page, "as of {day}");
    }
}
