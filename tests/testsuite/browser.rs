//! The built site in headless Chromium (Debian's chromium, driven by playwright-core from
//! npm): light and dark, phone and desktop, screenshots kept under
//! target/browser-screenshots/, no request leaving 127.0.0.1, no script error, and
//! axe-core with no serious or critical violation. See tests/browser/check.mjs.

use chrono::{DateTime, Duration, Utc};
use pharos::state::history::Policy;
use pharos::state::{Health, RegionState, Sample};

use crate::harness::{ProjectTest, project_with, run_with_limit, stderr, stdout};

const NOW: &str = "2026-11-20T12:00:00Z";

/// `node`, for the browser scripts, on the real clock (see
/// [`crate::harness::on_the_real_clock`]).
pub(crate) fn node() -> std::process::Command {
    let mut node = std::process::Command::new("node");
    crate::harness::on_the_real_clock(&mut node);
    node
}

/// Run tests/browser/check.mjs over `site` for `paths`, keeping the screenshots under
/// target/browser-screenshots/<name>/; panics with its findings when it fails. Without
/// Chromium it says the check was skipped (and fails in CI) and returns false.
pub(crate) fn check(site: &std::path::Path, name: &str, paths: &str) -> bool {
    if !crate::harness::needs(&[crate::harness::Part::Chromium]) {
        return false;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/browser-screenshots")
        .join(name);
    let mut node = node();
    node.arg(dir.join("check.mjs"))
        .arg(site)
        .arg(&shots)
        .arg(paths);
    let out = run_with_limit(node, std::time::Duration::from_secs(240));
    eprintln!("{}", stdout(&out));
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(shots.join("index-dark-phone.png").is_file());
    assert!(shots.join("index-light-desktop.png").is_file());
    true
}

#[test]
fn pages_pass_axe_and_stay_local_in_light_and_dark_on_phone_and_desktop() {
    let t: ProjectTest = project_with(
        "  - id: web-home\n    kind: http\n    url: https://www.test/\n    components: [web]\n    interval: 10m\n",
        &["r1", "r2"],
    );
    // Two days of history, one region down for an hour.
    let now: DateTime<Utc> = NOW.parse().unwrap();
    for region in ["r1", "r2"] {
        let mut s = RegionState::new(region, now);
        for i in 0..288 {
            let at = now - Duration::minutes(2880 - i * 10);
            let down = region == "r1" && (100..106).contains(&i);
            let mut sample = Sample::new(
                at,
                if down { Health::Down } else { Health::Up },
                if down {
                    "connect refused".into()
                } else {
                    "HTTP 200".into()
                },
            );
            sample.latency_ms = Some(30.0 + (i % 12) as f64 * 4.0);
            s.record(
                "web-home",
                "http",
                "https://www.test/",
                &Policy::every(600.0),
                sample,
            );
        }
        t.write(
            &format!("state/{region}.json"),
            &serde_json::to_string(&s).unwrap(),
        );
    }
    t.write(
        "incidents/2026-11-20-api.md",
        "---\ntitle: Elevated API errors\nimpact: major\ncomponents: [api]\n---\n\
         ## 2026-11-20T11:00:00Z identified\nA **bad deploy** is being rolled back.\n\n\
         ## 2026-11-20T10:40:00Z investigating\nWe are looking into errors.\n",
    );
    t.write(
        "incidents/2026-11-18-db.md",
        "---\ntitle: Database upgrade\nimpact: none\ncomponents: [web]\nkind: maintenance\n\
         scheduled_for: 2026-11-18T02:00:00Z\nscheduled_until: 2026-11-18T03:00:00Z\n---\n\
         ## 2026-11-18T03:00:00Z completed\nDone.\n\n## 2026-11-18T02:00:00Z in_progress\nStarted.\n",
    );
    // An SLO, so the report pages show a verdict and the component page its budget.
    let components = t
        .read("components.yaml")
        .replacen("page:\n", "page:\n  slo: 99.5\n", 1);
    t.write("components.yaml", &components);
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        t.read("site/components/web/index.html")
            .contains("Error budget this month: ")
    );
    // 404.html is served at any depth and from any origin (a preview, a mirror): its
    // stylesheet comes from the site's path, never from the public base_url, which its own
    // CSP would block anywhere else.
    let missing = t.read("site/404.html");
    assert!(
        missing.contains("<link rel=\"stylesheet\" href=\"/style.css"),
        "{missing}"
    );
    assert!(!missing.contains("https://"), "{missing}");
    let ran = check(
        &t.path().join("site"),
        "fixture",
        "/,/components/web/,/incidents/2026-11-20-api/,/history/,/reports/,/reports/2026-11/,/404.html",
    );
    assert!(
        !ran || std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/browser-screenshots/fixture/components_web-light-desktop.png")
            .is_file()
    );
}
