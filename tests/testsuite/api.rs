//! The Statuspage v2 API files: every documented key present (null, not missing), the
//! statuses from the merge, incidents and maintenance filtered as Statuspage does.

use serde_json::Value;

use crate::harness::{ProjectTest, stderr};

const NOW: &str = "2026-11-20T12:00:00Z";

pub(crate) fn project() -> ProjectTest {
    let t = ProjectTest::new();
    t.write(
        "components.yaml",
        "page:\n  title: Acme Status\n  base_url: https://status.acme.test\ngroups:\n  - id: core\n    name: Core\ncomponents:\n  - id: api\n    name: API\n    group: core\n  - id: web\n    name: Website\n    group: core\n  - id: docs\n    name: Docs\n",
    );
    t.write("probes.yaml", "regions:\n  - name: r1\nprobes: []\n");
    t.write(
        "incidents/2026-11-20-api.md",
        "---\ntitle: API errors\nimpact: major\ncomponents: [api]\n---\n## 2026-11-20T10:30:00Z monitoring\nFix deployed.\n\n## 2026-11-20T10:00:00Z investigating\nLooking.\n",
    );
    t.write(
        "incidents/2026-11-19-web.md",
        "---\ntitle: Slow website\nimpact: minor\ncomponents: [web]\n---\n## 2026-11-19T09:30:00Z resolved\nFine again.\n\n## 2026-11-19T09:00:00Z investigating\nSlow.\n",
    );
    t.write(
        "incidents/2026-11-20-db.md",
        "---\ntitle: Database upgrade\nkind: maintenance\ncomponents: [docs]\nscheduled_for: 2026-11-22T02:00:00Z\nscheduled_until: 2026-11-22T03:00:00Z\n---\n## 2026-11-20T09:00:00Z scheduled\nPlanned.\n",
    );
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    t
}

fn json(t: &ProjectTest, path: &str) -> Value {
    serde_json::from_str(&t.read(&format!("site/api/v2/{path}"))).unwrap()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

const COMPONENT: &[&str] = &[
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "position",
    "description",
    "showcase",
    "start_date",
    "group_id",
    "page_id",
    "group",
    "only_show_if_degraded",
];
const INCIDENT: &[&str] = &[
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "impact",
    "impact_override",
    "shortlink",
    "started_at",
    "page_id",
    "incident_updates",
    "components",
];
const UPDATE: &[&str] = &[
    "id",
    "status",
    "body",
    "incident_id",
    "created_at",
    "updated_at",
    "display_at",
    "affected_components",
    "deliver_notifications",
    "custom_tweet",
    "tweet_id",
];

#[test]
fn every_file_has_the_statuspage_shape() {
    let t = project();
    let summary = json(&t, "summary.json");
    assert_eq!(
        keys(&summary),
        sorted(&[
            "page",
            "components",
            "incidents",
            "scheduled_maintenances",
            "status"
        ])
    );
    assert_eq!(
        keys(&summary["page"]),
        sorted(&["id", "name", "url", "time_zone", "updated_at"])
    );
    assert_eq!(summary["page"]["updated_at"], "2026-11-20T12:00:00.000Z");
    assert_eq!(summary["page"]["id"].as_str().unwrap().len(), 12);
    assert_eq!(
        summary["status"],
        serde_json::json!({"indicator": "major", "description": "Partial System Outage"})
    );

    let comps = summary["components"].as_array().unwrap();
    let ids: Vec<&str> = comps.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["core", "api", "web", "docs"]);
    let mut group_keys = sorted(COMPONENT);
    group_keys.push("components".into());
    group_keys.sort();
    assert_eq!(keys(&comps[0]), group_keys);
    assert_eq!(comps[0]["group"], true);
    assert_eq!(comps[0]["components"], serde_json::json!(["api", "web"]));
    assert_eq!(
        comps[0]["status"], "partial_outage",
        "a group shows its worst member"
    );
    for c in &comps[1..] {
        assert_eq!(keys(c), sorted(COMPONENT));
    }
    assert_eq!(
        comps[1]["status"], "partial_outage",
        "the open major incident declares it"
    );
    assert_eq!(comps[1]["group_id"], "core");
    assert_eq!(comps[3]["group_id"], Value::Null);
    assert_eq!(comps[3]["description"], Value::Null);

    let open = summary["incidents"].as_array().unwrap();
    assert_eq!(open.len(), 1, "only unresolved incidents");
    assert_eq!(keys(&open[0]), sorted(INCIDENT));
    assert_eq!(open[0]["status"], "monitoring");
    assert_eq!(open[0]["monitoring_at"], "2026-11-20T10:30:00.000Z");
    assert_eq!(open[0]["resolved_at"], Value::Null);
    assert_eq!(
        open[0]["shortlink"],
        "https://status.acme.test/incidents/2026-11-20-api/"
    );
    assert_eq!(open[0]["components"][0]["id"], "api");
    let updates = open[0]["incident_updates"].as_array().unwrap();
    assert_eq!(updates.len(), 2);
    assert_eq!(keys(&updates[0]), sorted(UPDATE));
    assert_eq!(updates[0]["status"], "monitoring", "newest first");
    assert_eq!(updates[1]["body"], "Looking.");
    assert_eq!(updates[0]["affected_components"][0]["code"], "api");

    let maint = summary["scheduled_maintenances"].as_array().unwrap();
    assert_eq!(maint.len(), 1);
    let mut mkeys = sorted(INCIDENT);
    mkeys.extend(["scheduled_for".to_string(), "scheduled_until".to_string()]);
    mkeys.sort();
    assert_eq!(keys(&maint[0]), mkeys);
    assert_eq!(maint[0]["impact"], "maintenance");
    assert_eq!(maint[0]["scheduled_for"], "2026-11-22T02:00:00.000Z");

    assert_eq!(json(&t, "status.json")["status"]["indicator"], "major");
    assert_eq!(
        json(&t, "components.json")["components"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let all = json(&t, "incidents.json");
    let names: Vec<&str> = all["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["API errors", "Slow website"]);
    assert_eq!(
        json(&t, "incidents/unresolved.json")["incidents"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        json(&t, "scheduled-maintenances.json")["scheduled_maintenances"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        json(&t, "scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        json(&t, "scheduled-maintenances/active.json")["scheduled_maintenances"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn maintenance_in_its_window_is_active_and_under_maintenance() {
    let t = project();
    let out = t.run(&["build", "--now", "2026-11-22T02:30:00Z"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        json(&t, "scheduled-maintenances/active.json")["scheduled_maintenances"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        json(&t, "scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let comps = json(&t, "components.json");
    let docs = comps["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "docs")
        .unwrap()
        .clone();
    assert_eq!(docs["status"], "under_maintenance");
}

/// The maintenance of `project()` (only a `scheduled` update) as the API, the page, the
/// history and the feeds show it at `now`.
fn maintenance_at(now: &str) -> (ProjectTest, Value) {
    let t = project();
    let out = t.run(&["build", "--now", now]);
    assert!(out.status.success(), "{}", stderr(&out));
    let all = json(&t, "scheduled-maintenances.json")["scheduled_maintenances"].clone();
    let m = all
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "2026-11-20-db")
        .unwrap()
        .clone();
    (t, m)
}

#[test]
fn a_window_with_no_newer_update_follows_its_clock_everywhere() {
    // Before: scheduled.
    let (_, m) = maintenance_at("2026-11-22T01:00:00Z");
    assert_eq!(m["status"], "scheduled");
    assert_eq!(m["resolved_at"], Value::Null);

    // During: in progress in every file that lists it, on its page and in the feeds.
    let (t, m) = maintenance_at("2026-11-22T02:30:00Z");
    assert_eq!(m["status"], "in_progress");
    let active = json(&t, "scheduled-maintenances/active.json");
    assert_eq!(
        active["scheduled_maintenances"][0]["status"], "in_progress",
        "{active}"
    );
    let summary = json(&t, "summary.json");
    assert_eq!(
        summary["scheduled_maintenances"][0]["status"], "in_progress",
        "{summary}"
    );
    let page = t.read("site/incidents/2026-11-20-db/index.html");
    assert!(page.contains("In progress"), "{page}");
    let feed = t.read("site/feed.atom");
    assert!(
        feed.contains("Maintenance: Database upgrade — In progress"),
        "{feed}"
    );

    // After, with no `completed` update: completed, resolved when the window closed.
    let (t, m) = maintenance_at("2026-11-22T04:00:00Z");
    assert_eq!(m["status"], "completed");
    assert_eq!(m["resolved_at"], "2026-11-22T03:00:00.000Z");
    for list in ["active", "upcoming"] {
        let v = json(&t, &format!("scheduled-maintenances/{list}.json"));
        assert_eq!(
            v["scheduled_maintenances"].as_array().unwrap().len(),
            0,
            "{list}: {v}"
        );
    }
    let history = t.read("site/history/index.html");
    let row = &history[history.find("Database upgrade").unwrap()..];
    let row = &row[..row.find("</li>").unwrap_or(row.len())];
    assert!(
        row.contains("Completed") && !row.contains("Scheduled"),
        "{row}"
    );
    let feed = t.read("site/feed.rss");
    assert!(
        feed.contains("Maintenance: Database upgrade — Completed"),
        "{feed}"
    );

    // A `completed` posted later adds its own item and takes none back: the window's
    // items keep their ids (announcements are never repeated or withdrawn).
    let post = "incidents/2026-11-20-db.md";
    let text = t.read(post).replace(
        "---\n## 2026-11-20T09:00:00Z scheduled",
        "---\n## 2026-11-22T04:30:00Z completed\nAll done.\n\n## 2026-11-20T09:00:00Z scheduled",
    );
    t.write(post, &text);
    let out = t.run(&["build", "--now", "2026-11-22T05:00:00Z"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let feed = t.read("site/feed.atom");
    for id in [
        "https://status.acme.test/incidents/2026-11-20-db/#window-began",
        "https://status.acme.test/incidents/2026-11-20-db/#window-ended",
        "https://status.acme.test/incidents/2026-11-20-db/#2026-11-22T04:30:00Z-completed",
    ] {
        assert!(feed.contains(&format!("<id>{id}</id>")), "{id}: {feed}");
    }
}

#[test]
fn badges_and_shields_endpoints() {
    let t = project();
    let svg = t.read("site/badges/api.svg");
    assert!(svg.contains("<title>API: partial outage</title>"), "{svg}");
    assert!(svg.contains("role=\"img\""));
    let endpoint: Value = serde_json::from_str(&t.read("site/badges/api.json")).unwrap();
    assert_eq!(
        endpoint,
        serde_json::json!({"schemaVersion": 1, "label": "API", "message": "partial outage", "color": "orange"})
    );
    assert!(
        t.read("site/badges/docs.svg")
            .contains("<title>Docs: operational</title>")
    );
    assert!(
        t.read("site/badge.svg")
            .contains("<title>status: partial outage</title>")
    );
}
