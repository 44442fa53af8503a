//! `pharos report` on a project whose two regions saw, in October 2026 in Berlin (745 hours:
//! DST ends on the 25th), a 30-minute major outage, a 2-hour partial outage, a 2-hour
//! maintenance window (the probes down during it, left out), an hour with no region
//! reporting and an hour when one region's worker was stopped: every figure equals the hand
//! computation, and the CSV and JSON parse with Python's csv and json modules.

use pharos::state::RegionHealth::{Down, NoData, Up};

use crate::harness::{ProjectTest, region_history, stderr, stdout};

const NOW: &str = "2026-12-02T12:00:00Z";

fn project() -> ProjectTest {
    let t = ProjectTest::new();
    t.write(
        "components.yaml",
        "page:\n  title: Acme Status\n  base_url: https://status.acme.test\n  time_zone: Europe/Berlin\n  slo: 99.9\n\
         components:\n  - id: web\n    name: Website\n  - id: api\n    name: API\n    slo: 99.5\n",
    );
    t.write(
        "probes.yaml",
        "regions:\n  - name: r1\n  - name: r2\nprobes:\n  - id: web-home\n    kind: http\n    url: https://www.test/\n    components: [web]\n    interval: 30s\n",
    );
    t.write(
        "incidents/2026-10-20-db.md",
        "---\ntitle: Database upgrade\nimpact: none\ncomponents: [web]\nkind: maintenance\n\
         scheduled_for: 2026-10-20T01:00:00Z\nscheduled_until: 2026-10-20T03:00:00Z\n---\n\
         ## 2026-10-20T03:00:00Z completed\nDone.\n\n## 2026-10-20T01:00:00Z in_progress\nStarted.\n",
    );
    t.write(
        "incidents/2026-10-05-web.md",
        "---\ntitle: Website down\nimpact: major\ncomponents: [web]\n---\n\
         ## 2026-10-05T10:30:00Z resolved\nBack.\n\n## 2026-10-05T10:05:00Z investigating\nDown.\n",
    );
    let both = [
        ("2026-09-01T00:00:00Z", Up),
        ("2026-10-05T10:00:00Z", Down),
        ("2026-10-05T10:30:00Z", Up),
        ("2026-10-20T01:00:00Z", Down),
        ("2026-10-20T03:00:00Z", Up),
        ("2026-10-25T00:00:00Z", NoData),
        ("2026-10-25T01:00:00Z", Up),
    ];
    let mut r1 = both.to_vec();
    r1.extend([("2026-10-12T08:00:00Z", Down), ("2026-10-12T10:00:00Z", Up)]);
    r1.sort_by_key(|(at, _)| *at);
    // A gap in one region only (r2's worker stopped for an hour): r1 still reports, so
    // it is neither downtime nor "no data".
    let mut r2 = both.to_vec();
    r2.extend([
        ("2026-10-15T10:00:00Z", NoData),
        ("2026-10-15T11:00:00Z", Up),
    ]);
    r2.sort_by_key(|(at, _)| *at);
    let now = NOW.parse().unwrap();
    region_history(&t, "r1", now, &[("web-home", &r1)]);
    region_history(&t, "r2", now, &[("web-home", &r2)]);
    t
}

/// `script` run by python3 with `input` on stdin; its stdout.
fn python(script: &str, input: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = crate::harness::wait_limit(child, std::time::Duration::from_secs(30));
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn a_dst_month_with_every_kind_of_time_is_reported_to_the_second() {
    let t = project();
    let out = t.run(&["report", "--month", "2026-10", "--json", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Python's json reads it; the figures as it sees them.
    let seen = python(
        "import json,sys; r=json.load(sys.stdin); w=r['components'][0]['figures']; \
         print(r['period']['label'], r['period']['from'], r['period']['until'], w['period_s'], w['major_s'], \
         w['partial_s'], w['maintenance_s'], w['no_data_s'], w['up_s'], w['downtime_s'], w['outages'], \
         w['longest_outage_s'], w['mttr_s'], w['mtbf_s'], w['slo']['met'], round(w['slo']['budget_s'], 3), \
         '%.4f' % w['availability_pct'], len(r['incidents']), r['incidents'][0]['slug'])",
        &stdout(&out),
    );
    assert_eq!(
        seen.trim(),
        // 745 h; 30 min major; 2 h partial; 2 h maintenance; 1 h no data; the rest up;
        // downtime 1,800 + 0.3 × 7,200; two outages, the longest 2 h, MTTR 75 min, MTBF
        // (2,671,200 − 9,000) / 2; 0.1 % of 2,671,200 s is the budget.
        "2026-10 2026-09-30T22:00:00Z 2026-10-31T23:00:00Z 2682000.0 1800.0 7200.0 7200.0 3600.0 \
         2662200.0 3960.0 2 7200.0 4500.0 1331100.0 False 2671.2 99.8518 1 2026-10-05-web"
    );
    // CSV: a row for the page and one per component, read by Python's csv module.
    let out = t.run(&["report", "--month", "2026-10", "--csv", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = python(
        "import csv,sys\nfor row in csv.DictReader(sys.stdin): print(row['scope'], row['id'] or '-', row['name'], row['availability_pct'] or '-', row['downtime_s'], row['slo_pct'] or '-', row['slo_met'] or '-')",
        &stdout(&out),
    );
    let rows: Vec<&str> = rows.lines().collect();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows[0].starts_with("page - Acme Status 99.851"), "{rows:?}");
    assert!(rows[0].ends_with(" 3960 99.9 false"), "{rows:?}");
    assert!(
        rows[1].starts_with("component web Website 99.851"),
        "{rows:?}"
    );
    assert_eq!(
        rows[2], "component api API - 0 - -",
        "no probe, no data, no verdict"
    );
    // The table for people, as the README shows it.
    let out = t.run(&["report", "--month", "2026-10", "--now", NOW]);
    let text = stdout(&out);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("\n## Reports and SLOs\n").unwrap()..];
    let shown = &section[section.find("$ pharos report --month 2026-10\n").unwrap()..];
    for line in shown.lines().skip(1).take(4) {
        if !line.is_empty() {
            assert!(text.contains(line), "README line {line:?} not in\n{text}");
        }
    }
    assert!(
        text.contains("web: 99.8518 % available; downtime 1 h 6 min; 2 outage(s), longest 2 h, MTTR 1 h 15 min, MTBF 15 d 9 h 45 min; maintenance 2 h; no data 1 h; 1 incident(s); SLO MISSED 99.9 %"),
        "{text}"
    );
}

#[test]
fn the_default_is_the_last_complete_month_and_a_bad_month_is_refused() {
    let t = project();
    let out = t.run(&["report", "--json", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(r["period"]["label"], "2026-11");
    assert_eq!(r["period"]["so_far"], false);
    let out = t.run(&["report", "--month", "2026-13", "--now", NOW]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--month \"2026-13\" is not YYYY-MM; write e.g. --month 2026-11"),
        "{}",
        stderr(&out)
    );
    // A month the history kept (366 days) no longer reaches says so.
    let out = t.run(&["report", "--month", "2025-10", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: the history kept starts at 2025-12-01T12:00:00Z"),
        "{}",
        stderr(&out)
    );
    // The site has this month so far and every month since the first data.
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    for month in ["2026-09", "2026-10", "2026-11", "2026-12"] {
        assert!(
            t.path()
                .join(format!("site/reports/{month}/index.html"))
                .is_file(),
            "{month}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&t.read(&format!("site/api/reports/{month}.json"))).unwrap();
        assert_eq!(json["period"]["label"], month);
    }
    assert!(!t.path().join("site/reports/2026-08/index.html").exists());
    let october = t.read("site/reports/2026-10/index.html");
    assert!(
        october.contains("99.8518 %") && october.contains("Missed"),
        "{october}"
    );
    let web = t.read("site/components/web/index.html");
    assert!(
        web.contains("Error budget this month: 0.0 % used (SLO 99.9 %).")
            && web.contains("<a href=\"../../reports/\">Availability reports</a>"),
        "{web}"
    );
    // In Japanese, like every page.
    let components = t
        .read("components.yaml")
        .replacen("page:\n", "page:\n  language: ja\n", 1);
    t.write("components.yaml", &components);
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let october = t.read("site/reports/2026-10/index.html");
    for phrase in [
        "稼働率レポート 2026年10月",
        "停止時間",
        "未達",
        "エラーバジェットを 148.2 % 使用",
    ] {
        assert!(october.contains(phrase), "{phrase} not in {october}");
    }
}
