//! `pharos demo` end to end: services, three regions, a built site with every status.

use std::time::Duration;

use crate::harness::{bin, run_with_limit, stderr, stdout};

#[test]
fn demo_shows_each_status_and_a_feed_that_parses() {
    let dir = tempfile::Builder::new()
        .prefix("pharos-demo-test-")
        .tempdir()
        .unwrap();
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["demo", "--duration", "7s", "--dir"])
        .arg(dir.path());
    let out = run_with_limit(cmd, Duration::from_secs(40));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "  web      Operational",
        "  api      Degraded performance",
        "  cdn      Partial outage (down in ap-south)",
        "  search   Major outage (down in eu-west, us-east, ap-south)",
        "  db       Operational",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    let index = dir.path().join("site/index.html");
    assert!(text.contains(&format!("Site built: {}", index.display())));
    let html = std::fs::read_to_string(&index).unwrap();
    for class in [
        "status-operational",
        "status-degraded_performance",
        "status-partial_outage",
        "status-major_outage",
    ] {
        assert!(
            html.contains(&format!("class=\"component {class}\"")),
            "no {class} component"
        );
    }
    assert!(html.contains("Down in ap-south"));
    let feed = std::fs::read(dir.path().join("site/feed.rss")).unwrap();
    let feed = feed_rs::parser::parse(feed.as_slice()).unwrap();
    // One item per update: the three posts of today and yesterday, and the four of the
    // generated past.
    assert_eq!(feed.entries.len(), 14, "one item per incident update");
    // 90 days of generated history: no day of the bars is without data, and each month
    // since has an availability report.
    assert!(!html.contains("day-no_data"), "a grey day in the bars");
    assert!(html.contains("day-major_outage") && html.contains("day-partial_outage"));
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("site/api/reports/index.json")).unwrap(),
    )
    .unwrap();
    let months = index["reports"].as_array().unwrap();
    assert!(months.len() >= 3, "{index}");
    let last = months[1]["month"].as_str().unwrap();
    let report =
        std::fs::read_to_string(dir.path().join(format!("site/reports/{last}/index.html")))
            .unwrap();
    assert!(report.contains("SLO 99.9 %"), "{report}");
    assert!(
        feed.entries
            .iter()
            .all(|e| e.published.is_some() && !e.links.is_empty())
    );
    // The demo site in Chromium: axe, both colour schemes, phone and desktop.
    let _ = crate::browser::check(
        &dir.path().join("site"),
        "demo",
        "/,/components/cdn/,/history/,/reports/",
    );
    for region in ["eu-west", "us-east", "ap-south"] {
        crate::harness::state_in(&dir.path().join("state"), region).unwrap();
    }
}

#[test]
fn demo_refuses_a_folder_that_is_not_empty() {
    let dir = tempfile::Builder::new()
        .prefix("pharos-demo-used-")
        .tempdir()
        .unwrap();
    std::fs::write(dir.path().join("components.yaml"), "mine").unwrap();
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["demo", "--duration", "1s", "--dir"])
        .arg(dir.path());
    let out = run_with_limit(cmd, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not empty; give `--dir` a new or empty folder"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("components.yaml")).unwrap(),
        "mine"
    );
}

#[test]
fn taking_the_demo_database_down_names_it_as_the_cause() {
    let dir = tempfile::Builder::new()
        .prefix("pharos-demo-db-")
        .tempdir()
        .unwrap();
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["demo", "--duration", "14s", "--take-down", "db", "--dir"])
        .arg(dir.path());
    let out = run_with_limit(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // The database refuses connections, so the API answers 503: both down, one cause.
    assert!(text.contains("  db       Major outage"), "{text}");
    let api = text
        .lines()
        .find(|l| l.starts_with("  api "))
        .unwrap_or_default();
    assert!(
        api.contains("outage") && api.ends_with(", affected by db"),
        "{text}"
    );
    assert!(text.contains("  Cause: db — affects api"), "{text}");
    let html = std::fs::read_to_string(dir.path().join("site/index.html")).unwrap();
    assert!(
        html.contains(
            "<strong>Cause:</strong> <a href=\"components/db/\">Database</a> (Major outage) — affects <a href=\"components/api/\">API</a>"
        ),
        "no cause in the banner"
    );
    assert!(html.contains("Affected by <a href=\"components/db/\">Database</a>"));
    // The cause list and notes pass axe in both colour schemes, on a phone and a desktop.
    let _ = crate::browser::check(&dir.path().join("site"), "demo-db", "/,/components/api/");
    let api_state = crate::harness::state_in(&dir.path().join("state"), "eu-west").unwrap();
    assert!(
        serde_json::to_string(&api_state)
            .unwrap()
            .contains("HTTP 503"),
        "the API's probe saw the 503 the database outage causes"
    );
}
