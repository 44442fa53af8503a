//! `pharos build`: the merge of region files into pages, incidents, the feed, themes, and
//! the guarantee that a failed build leaves the previous site in place.

use chrono::{DateTime, Duration, Utc};
use pharos::state::history::Policy;
use pharos::state::{Health, RegionHealth, RegionState, Sample};

use crate::harness::{ProjectTest, project_with, stderr, stdout};

const NOW: &str = "2026-11-20T12:00:00Z";

fn now() -> DateTime<Utc> {
    NOW.parse().unwrap()
}

/// Write a region file where each (probe, healths) saw those healths at 30 s intervals
/// ending `age` seconds before NOW.
fn region(t: &ProjectTest, name: &str, age: i64, probes: &[(&str, &[Health])]) {
    let mut s = RegionState::new(name, now() - Duration::seconds(age));
    for (id, healths) in probes {
        let n = healths.len() as i64;
        for (i, h) in healths.iter().enumerate() {
            let at = now() - Duration::seconds(age + (n - 1 - i as i64) * 30);
            let sample = Sample {
                at,
                health: *h,
                latency_ms: Some(12.0),
                detail: format!("{} from {name}", h.as_str()),
                http_status: Some(200),
                attempts: 1,
                phases: None,
                conn: None,
                cert: None,
                dns: None,
                plugin: None,
                icmp: None,
            };
            s.record(id, "http", "https://x", &Policy::every(30.0), sample);
        }
    }
    t.write(
        &format!("state/{name}.json"),
        &serde_json::to_string_pretty(&s).unwrap(),
    );
}

fn project() -> ProjectTest {
    project_with(
        "  - id: web-home\n    kind: http\n    url: https://www.test/\n    components: [web]\n    interval: 30s\n\
         \x20 - id: api-health\n    kind: http\n    url: https://api.test/\n    components: [api]\n    interval: 30s\n",
        &["r1", "r2", "r3"],
    )
}

/// The `<li>` of a component in index.html.
fn component_html<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"component-{id}\""))
        .unwrap_or_else(|| panic!("no component {id}"));
    let start = html[..at].rfind("<li").unwrap();
    // Up to the next component or the end of the list (day bars are <li>s too).
    let end = [
        html[at..].find("<li class=\"component"),
        html[at..].find("</ul>"),
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap()
        + at;
    &html[start..end]
}

use Health::{Down as D, Up as U};

#[test]
fn regions_merge_by_quorum_with_stale_regions_left_out() {
    let t = project();
    // web: down in r3 only → partial outage naming r3. api: down in r1 and r2 → major.
    region(
        &t,
        "r1",
        5,
        &[("web-home", &[U, U, U]), ("api-health", &[U, D, D])],
    );
    region(
        &t,
        "r2",
        5,
        &[("web-home", &[U, U]), ("api-health", &[D, D])],
    );
    region(
        &t,
        "r3",
        5,
        &[("web-home", &[U, D, D]), ("api-health", &[U, U])],
    );
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("(Major System Outage)"),
        "{}",
        stdout(&out)
    );
    let html = t.read("site/index.html");
    let web = component_html(&html, "web");
    assert!(web.contains("status-partial_outage"), "{web}");
    assert!(
        web.contains("Down in r3 since <time datetime=\"2026-11-20T11:59:25Z\">"),
        "{web}"
    );
    let api = component_html(&html, "api");
    assert!(
        api.contains("status-major_outage") && api.contains("Down in r1, r2"),
        "{api}"
    );
    assert!(html.contains("<h1 id=\"overall\">Major System Outage</h1>"));

    // r2 stops reporting (its last sample is 10 minutes old, > 3 × 30 s): for api only r1
    // is down among the two fresh regions → partial, not major; r2 shows "No data".
    region(
        &t,
        "r2",
        600,
        &[("web-home", &[U, U]), ("api-health", &[D, D])],
    );
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = t.read("site/index.html");
    let api = component_html(&html, "api");
    assert!(
        api.contains("status-partial_outage") && api.contains("Down in r1 since"),
        "{api}"
    );
    assert!(api.contains("<tr class=\"health-no_data\">"), "{api}");
    assert!(api.contains("no data since 2026-11-20T11:50:00Z"), "{api}");
}

#[test]
fn a_single_bad_sample_is_not_shown_as_an_outage() {
    let t = project();
    for r in ["r1", "r2", "r3"] {
        region(
            &t,
            r,
            5,
            &[("web-home", &[U, U, D]), ("api-health", &[U, U])],
        );
    }
    assert!(t.run(&["build", "--now", NOW]).status.success());
    let html = t.read("site/index.html");
    assert!(component_html(&html, "web").contains("status-operational"));
    assert!(html.contains("All Systems Operational"));
}

#[test]
fn no_state_at_all_shows_no_data_not_an_outage() {
    let t = project();
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = t.read("site/index.html");
    assert!(component_html(&html, "web").contains("status-no_data"));
    // The headline claims no more than the rows know, on the page and in the API.
    assert!(html.contains("No Current Data"), "the headline");
    assert!(!html.contains("All Systems Operational"));
    let api: serde_json::Value = serde_json::from_str(&t.read("site/api/v2/status.json")).unwrap();
    assert_eq!(api["status"]["indicator"], "none");
    assert_eq!(api["status"]["description"], "No Current Data");

    // One region of three reporting web only: api has no data, so only some do.
    region(&t, "r1", 5, &[("web-home", &[U, U])]);
    assert!(t.run(&["build", "--now", NOW]).status.success());
    let html = t.read("site/index.html");
    assert!(
        html.contains("Some Systems Without Current Data"),
        "the headline"
    );
    // And each row says on how many regions its status stands.
    assert!(
        component_html(&html, "web").contains("1 of 3 regions reporting"),
        "{html}"
    );
}

const INCIDENT: &str = "---\ntitle: Elevated API errors\nimpact: major\ncomponents: [api]\n---\n## 2026-11-20T10:05:00Z identified\nA bad deploy is rolling back.\n\n## 2026-11-20T09:58:00Z investigating\nWe are investigating **elevated** error rates.\n";

#[test]
fn an_open_incident_sets_component_status_and_gets_pages_and_feed_items() {
    let t = project();
    t.write("incidents/2026-11-20-api-errors.md", INCIDENT);
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = t.read("site/index.html");
    assert!(
        component_html(&html, "api").contains("status-partial_outage"),
        "declared impact major"
    );
    assert!(
        html.contains("Active incidents")
            && html.contains("href=\"incidents/2026-11-20-api-errors/\"")
    );
    let page = t.read("site/incidents/2026-11-20-api-errors/index.html");
    assert!(page.contains("<strong>elevated</strong>"));
    assert!(
        page.contains("<time datetime=\"2026-11-20T09:58:00Z\">20 Nov 2026, 09:58 UTC</time>"),
        "{page}"
    );
    assert!(page.contains("href=\"../../style.css\""));

    let feed = feed_rs::parser::parse(t.read("site/feed.rss").as_bytes()).unwrap();
    assert_eq!(feed.entries.len(), 2);
    assert_eq!(
        feed.entries[0].title.as_ref().unwrap().content,
        "Elevated API errors — Identified"
    );
    assert_eq!(
        feed.entries[0].links[0].href,
        "https://status.test/incidents/2026-11-20-api-errors/"
    );
    assert_eq!(
        feed.entries[0].published.unwrap().to_rfc3339(),
        "2026-11-20T10:05:00+00:00"
    );
    assert_eq!(
        feed.entries[1].id,
        "https://status.test/incidents/2026-11-20-api-errors/#2026-11-20T09:58:00Z-investigating"
    );
}

#[test]
fn a_broken_incident_fails_the_build_and_keeps_the_previous_site() {
    let t = project();
    t.write("incidents/2026-11-20-api-errors.md", INCIDENT);
    assert!(t.run(&["build", "--now", NOW]).status.success());
    let before = t.read("site/index.html");
    let feed_before = t.read("site/feed.rss");

    t.write(
        "incidents/2026-11-20-api-errors.md",
        &INCIDENT.replace("components: [api]", "components [api]"),
    );
    let out = t.run(&["build", "--now", "2026-11-20T13:00:00Z"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("incidents/2026-11-20-api-errors.md:4:"),
        "{err}"
    );
    assert!(err.contains("the previous site/ is unchanged"), "{err}");
    assert_eq!(t.read("site/index.html"), before);
    assert_eq!(t.read("site/feed.rss"), feed_before);
    let leftovers: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            // The builds' lock stays: it is how builds of this site take turns.
            name.starts_with(".site") && name != ".site.lock"
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary build folders left: {leftovers:?}"
    );
}

#[test]
fn script_in_an_incident_never_reaches_the_page_or_feed() {
    let t = project();
    t.write(
        "incidents/2026-11-20-xss.md",
        "---\ntitle: Broken <script>alert(1)</script> title\nimpact: minor\ncomponents: [web]\n---\n\
         ## 2026-11-20T10:00:00Z investigating\nHello <script>alert(1)</script> and <img src=x onerror=alert(1)> and [x](javascript:alert(1)).\n",
    );
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    for file in [
        "site/index.html",
        "site/incidents/2026-11-20-xss/index.html",
        "site/feed.rss",
    ] {
        let text = t.read(file);
        assert!(!text.contains("<script"), "{file} contains a script tag");
        assert!(
            !text.to_lowercase().contains("onerror"),
            "{file} contains an event handler"
        );
        assert!(
            !text.contains("javascript:"),
            "{file} contains a javascript: link"
        );
    }
    let page = t.read("site/incidents/2026-11-20-xss/index.html");
    assert!(
        page.contains("Broken &lt;script&gt;alert(1)&lt;&#x2f;script&gt; title")
            || page.contains("Broken &lt;script&gt;alert(1)&lt;/script&gt; title"),
        "title must be escaped"
    );
    assert!(!page.contains("alert(1)</"), "no live alert");
    assert!(page.contains("Content-Security-Policy"));
}

#[test]
fn builds_with_the_same_now_are_identical() {
    let t = project();
    t.write("incidents/2026-11-20-api-errors.md", INCIDENT);
    region(
        &t,
        "r1",
        5,
        &[("web-home", &[U, U]), ("api-health", &[U, U])],
    );
    assert!(t.run(&["build", "--now", NOW]).status.success());
    let first: Vec<String> = [
        "index.html",
        "feed.rss",
        "incidents/2026-11-20-api-errors/index.html",
    ]
    .iter()
    .map(|f| t.read(&format!("site/{f}")))
    .collect();
    assert!(t.run(&["build", "--now", NOW]).status.success());
    for (i, f) in [
        "index.html",
        "feed.rss",
        "incidents/2026-11-20-api-errors/index.html",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(
            first[i],
            t.read(&format!("site/{f}")),
            "{f} differs between builds"
        );
    }
}

#[test]
fn a_theme_overrides_one_block_and_fills_a_hook() {
    let t = project();
    t.write(
        "components.yaml",
        "page:\n  title: Test Status\n  base_url: https://status.test\n  theme: mine\ncomponents:\n  - id: web\n    name: Website\n  - id: api\n    name: API\n",
    );
    t.write(
        "themes/mine/templates/index.html",
        "{% extends \"default/index.html\" %}{% block title %}Custom {{ site.page.title }}{% endblock title %}",
    );
    t.write(
        "themes/mine/templates/partials/custom/footer.html",
        "<p class=\"mine\">Hosted by us</p>",
    );
    t.write("themes/mine/static/extra.css", "body{}");
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = t.read("site/index.html");
    assert!(html.contains("<title>Custom Test Status</title>"), "{html}");
    assert!(html.contains("<p class=\"mine\">Hosted by us</p>"));
    assert!(
        html.contains("id=\"component-web\""),
        "the default page body is kept"
    );
    assert_eq!(t.read("site/extra.css"), "body{}");

    t.write(
        "components.yaml",
        "page:\n  title: T\n  base_url: https://status.test\n  theme: ../../etc\ncomponents:\n  - id: web\n    name: W\n  - id: api\n    name: A\n",
    );
    let out = t.run(&["build", "--now", NOW]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("components.yaml:4:10: page: theme name \"../../etc\" may only use"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unreadable_state_file_is_left_out_with_a_warning() {
    let t = project();
    region(
        &t,
        "r1",
        5,
        &[("web-home", &[U, U]), ("api-health", &[U, U])],
    );
    t.write(
        "state/r2.json",
        "{\"schema\": 1, \"region\": \"r2\", \"written_at\": \"oops\"",
    );
    t.write("state/notes.json", "[1, 2, 3]");
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("r2.json: not a pharos state file (EOF while parsing"),
        "{err}"
    );
    assert!(err.contains("notes.json: not a pharos state file"), "{err}");
    let html = t.read("site/index.html");
    let web = component_html(&html, "web");
    assert!(
        web.contains("status-operational"),
        "r1 alone decides: {web}"
    );
    assert!(web.contains("<tr class=\"health-no_data\">"), "{web}");
    let check = t.run(&["check"]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "state problems are warnings for check"
    );
    assert!(stdout(&check).contains("warning: ") && stdout(&check).contains("r2.json"));
}

/// A region file for web-home whose confirmed history is `changes` (time, health), with a
/// fresh sample 5 s before NOW.
fn region_with_history(t: &ProjectTest, name: &str, changes: &[(&str, RegionHealth)]) {
    crate::harness::region_history(t, name, now(), &[("web-home", changes)]);
}

#[test]
fn uptime_and_day_bars_come_from_the_consensus_timeline() {
    let t = project();
    use RegionHealth::{Down, Up};
    let since = "2026-10-21T12:00:00Z";
    // r1 and r2 down 18 Nov 10:00–12:00 (quorum 2 of 3: major, 2 h); r3 alone down 15 Nov
    // 03:00–04:00 (partial, 1 h).
    for r in ["r1", "r2"] {
        region_with_history(
            &t,
            r,
            &[
                (since, Up),
                ("2026-11-18T10:00:00Z", Down),
                ("2026-11-18T12:00:00Z", Up),
            ],
        );
    }
    region_with_history(
        &t,
        "r3",
        &[
            (since, Up),
            ("2026-11-15T03:00:00Z", Down),
            ("2026-11-15T04:00:00Z", Up),
        ],
    );
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = t.read("site/index.html");
    let web = component_html(&html, "web");
    // 30 days of data = 2 592 000 s; downtime 7 200 + 0.3 × 3 600 = 8 280 s;
    // uptime 1 − 8 280 / 2 592 000 = 99.680 % → "99.68".
    assert!(web.contains("99.68 % uptime"), "{web}");
    // The component's page: one cell a day, its sentence once (the accessible name).
    let page = t.read("site/components/web/index.html");
    for day in [
        "18 Nov 2026: 91.66 % uptime; major outage 2 h",
        "15 Nov 2026: 98.75 % uptime; partial outage 1 h",
        "20 Oct 2026: no data",
        "21 Oct 2026: 100 % uptime, no downtime",
    ] {
        assert_eq!(
            page.matches(&format!("role=\"img\" title=\"{day}\""))
                .count(),
            1,
            "{day} in {page}"
        );
        assert!(
            !page.contains(&format!(">{day}<")),
            "no second, hidden copy"
        );
    }
    assert_eq!(page.matches("<span class=\"day-").count(), 90);
    // The home page: alike quiet days in a row are one cell as wide as they are.
    for cell in [
        "day-major_outage w1\" role=\"img\" title=\"18 Nov 2026: 91.66 % uptime; major outage 2 h\"",
        "day-partial_outage w1\" role=\"img\" title=\"15 Nov 2026: 98.75 % uptime; partial outage 1 h\"",
        "day-no_data w59\" role=\"img\" title=\"23 Aug 2026 – 20 Oct 2026: no data\"",
        "day-operational w25\" role=\"img\" title=\"21 Oct 2026 – 14 Nov 2026: 100 % uptime, no downtime\"",
        "day-operational w2\" role=\"img\" title=\"16 Nov 2026 – 17 Nov 2026: 100 % uptime, no downtime\"",
        "day-operational w2\" role=\"img\" title=\"19 Nov 2026 – 20 Nov 2026: 100 % uptime, no downtime\"",
    ] {
        assert!(web.contains(cell), "{cell} in {web}");
    }
    assert_eq!(web.matches("role=\"img\"").count(), 6, "{web}");
    // The windows: 24 h clean; 7 d = 1 − 8 280 / 604 800 = 98.63 %; 30 d and 90 d as
    // above (no data before 21 Oct is left out).
    assert!(
        web.contains("24h 100 % · 7d 98.63 % · 30d 99.68 % · 90d 99.68 %"),
        "{web}"
    );
    let badge = t.read("site/badges/uptime/web.svg");
    assert!(
        badge.contains("<title>Website uptime: 99.68 %</title>"),
        "{badge}"
    );
    // api has no history in these files: no data, so no uptime figure.
    let api = component_html(&html, "api");
    assert!(!api.contains("% uptime"), "{api}");
}

#[test]
fn a_long_outage_without_a_post_is_detected_until_a_post_covers_it() {
    let t = project();
    use RegionHealth::{Down, Up};
    let since = "2026-11-20T10:00:00Z";
    // r1 and r2: a 2-minute outage at 11:00 (under the 3-minute threshold), then down
    // since 11:50, still going on at NOW (12:00). r3 stays up.
    for r in ["r1", "r2"] {
        region_with_history(
            &t,
            r,
            &[
                (since, Up),
                ("2026-11-20T11:00:00Z", Down),
                ("2026-11-20T11:02:00Z", Up),
                ("2026-11-20T11:50:00Z", Down),
            ],
        );
    }
    region_with_history(&t, "r3", &[(since, Up)]);
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = t.read("site/index.html");
    let notice = &html[html.find("Detected by our probes").expect("a notice")..];
    let notice = &notice[..notice.find("</section>").unwrap()];
    assert!(notice.contains("Website</a>: Major outage"), "{notice}");
    assert!(
        notice.contains("Since <time datetime=\"2026-11-20T11:50:00Z\">"),
        "{notice}"
    );
    assert!(
        notice.contains("(10 min so far), seen from r1, r2"),
        "{notice}"
    );
    assert_eq!(
        notice.matches("<article").count(),
        1,
        "the 2-minute blip is not one"
    );
    let feed = t.read("site/feed.rss");
    assert!(feed.contains("Detected: major outage of Website"), "{feed}");
    let component_feed = t.read("site/components/web/feed.atom");
    assert!(component_feed.contains("Detected: major outage of Website"));

    // Draft a post from it: times and regions filled in, back-dated to the start.
    let mut cmd = t.cmd(&["incident", "new", "--from-detected", "web"]);
    cmd.env("PHAROS_NOW", NOW);
    let out = crate::harness::run_with_limit(cmd, std::time::Duration::from_secs(30));
    assert!(out.status.success(), "{}", stderr(&out));
    let post = t.read("incidents/2026-11-20-major-outage-of-website.md");
    assert!(
        post.contains("title: \"Major outage of Website\""),
        "{post}"
    );
    assert!(post.contains("impact: major"), "{post}");
    assert!(
        post.contains("## 2026-11-20T11:50:00Z investigating"),
        "{post}"
    );
    assert!(
        post.contains(
            "Our probes in r1, r2 detected a major outage of Website from 20 Nov 2026, 11:50 UTC."
        ),
        "{post}"
    );
    // The notice folds into the post.
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = t.read("site/index.html");
    assert!(!html.contains("Detected by our probes"), "{html}");
    assert!(html.contains("Major outage of Website"));
    // With nothing left to draft from, the command says so.
    let mut cmd = t.cmd(&["incident", "new", "--from-detected", "web"]);
    cmd.env("PHAROS_NOW", NOW);
    let out = crate::harness::run_with_limit(cmd, std::time::Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the probes detected no outage of web without a post"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn component_pages_chart_response_times_and_list_incidents() {
    let t = project();
    // r1 checked web-home every 10 minutes for 6 hours, 20 ms then 40 ms.
    let mut s = RegionState::new("r1", now());
    for i in 0..36 {
        let at = now() - Duration::minutes(360 - i * 10);
        let mut sample = Sample::new(at, Health::Up, "HTTP 200".into());
        sample.latency_ms = Some(if i < 18 { 20.0 } else { 40.0 });
        s.record(
            "web-home",
            "http",
            "https://x",
            &Policy::every(600.0),
            sample,
        );
    }
    t.write("state/r1.json", &serde_json::to_string(&s).unwrap());
    t.write(
        "incidents/2026-11-19-slow.md",
        "---\ntitle: Slow pages\nimpact: minor\ncomponents: [web]\n---\n## 2026-11-19T10:00:00Z resolved\nFast again.\n",
    );
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let index = t.read("site/index.html");
    assert!(index.contains("<a class=\"cname\" href=\"components/web/\">Website</a>"));
    let page = t.read("site/components/web/index.html");
    assert!(page.contains("<h1>Website</h1>"), "{page}");
    assert!(page.contains("Response time, last 7 days (per hour)"));
    assert!(page.contains("<polyline class=\"p50\" points=\""), "{page}");
    assert!(
        page.contains("aria-label=\"Response time, last 7 days (per hour): typical median "),
        "{page}"
    );
    assert!(page.contains("<dt>24h</dt><dd>100 %</dd>"), "{page}");
    assert!(
        page.contains("<a href=\"../../incidents/2026-11-19-slow/\">Slow pages</a>"),
        "{page}"
    );
    assert!(page.contains("href=\"feed.atom\""));
    // api has no probe data: no chart, and no incidents.
    let api = t.read("site/components/api/index.html");
    assert!(!api.contains("<svg"), "{api}");
    assert!(api.contains("None so far."));
}

#[test]
fn the_history_lists_every_post_by_month_in_pages_of_fifty() {
    let t = project();
    // 60 posts, one a day from 1 September 2026.
    for n in 0..60 {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap() + Duration::days(n);
        t.write(
            &format!("incidents/{day}-post-{n:02}.md"),
            &format!(
                "---\ntitle: Post {n:02}\nimpact: minor\ncomponents: [web]\n---\n## {day}T10:00:00Z resolved\nDone.\n"
            ),
        );
    }
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = t.read("site/history/index.html");
    assert_eq!(first.matches("<li><a href=").count(), 50);
    // Newest first: post 59 (30 October) opens page 1, post 10 closes it.
    let p59 = first.find(">Post 59<").unwrap();
    let p10 = first.find(">Post 10<").unwrap();
    assert!(p59 < p10);
    assert!(first.contains("<h2 id=\"m-2026-10\">October 2026</h2>"));
    assert!(first.contains("<h2 id=\"m-2026-09\">September 2026</h2>"));
    assert!(
        first.contains("<a href=\"../history/2/\" rel=\"next\">Older →</a>"),
        "{first}"
    );
    assert!(first.contains("Page 1 of 2"));
    let second = t.read("site/history/2/index.html");
    assert_eq!(second.matches("<li><a href=").count(), 10);
    assert!(second.contains("<a href=\"../../incidents/2026-09-01-post-00/\">Post 00</a>"));
    assert!(second.contains("rel=\"prev\">← Newer</a>"));
    assert!(!second.contains("rel=\"next\""));
    assert!(
        t.read("site/index.html")
            .contains("<a href=\"history/\">Incident history →</a>")
    );
}

#[test]
fn a_long_build_shows_progress_on_a_terminal_only() {
    if !crate::harness::needs(&[crate::harness::Part::Script]) {
        return;
    }
    let t = project();
    for n in 0..1500 {
        t.write(
            &format!("incidents/2026-10-01-post-{n:04}.md"),
            &format!(
                "---\ntitle: Post {n}\nimpact: minor\ncomponents: [web]\n---\n## 2026-10-01T10:00:00Z resolved\nDone, *really*.\n"
            ),
        );
    }
    // Not a terminal: not a byte of progress.
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("pages"), "{}", stderr(&out));
    // A terminal (script(1) gives the command a pty): the bar appears.
    let cmd = format!(
        "{} build --now {NOW} --root {}",
        crate::harness::bin(),
        t.path().display()
    );
    let mut script = std::process::Command::new("script");
    // A terminal as a person has it: with a TERM (without one, it reads as a dumb one).
    script
        .args(["-qec", &cmd, "/dev/null"])
        .env("TERM", "xterm-256color");
    let out = crate::harness::run_with_limit(script, std::time::Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stdout(&out);
    // 2 + 1 500 posts + 30 history pages + 2 components + the reports' index and this
    // month's report.
    assert!(shown.contains("/1536 pages"), "{shown}");
}

#[test]
fn the_compact_theme_in_the_repo_builds_over_the_default() {
    let t = project();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("themes/compact");
    for rel in [
        "templates/index.html",
        "templates/partials/custom/head.html",
        "static/compact.css",
    ] {
        t.write(
            &format!("themes/compact/{rel}"),
            &std::fs::read_to_string(src.join(rel)).unwrap(),
        );
    }
    let components = t.read("components.yaml");
    t.write(
        "components.yaml",
        &components.replace(
            "  base_url: https://status.test\n",
            "  base_url: https://status.test\n  theme: compact\n",
        ),
    );
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let index = t.read("site/index.html");
    // The overridden block: the page's state in the title (no state yet, so no data).
    assert!(
        index.contains("<title>No Current Data · Test Status</title>"),
        "{index}"
    );
    assert!(
        index.contains("<link rel=\"stylesheet\" href=\"compact.css\">"),
        "{index}"
    );
    assert!(
        t.read("site/compact.css")
            .contains(".desc { display: none; }")
    );
    // Everything else is the default theme's.
    assert!(t.read("site/style.css").contains(".bars"));
    assert!(
        t.read("site/components/web/index.html")
            .contains("<link rel=\"stylesheet\" href=\"../../compact.css\">")
    );
}

#[test]
fn a_japanese_page_and_a_theme_that_rewords_one_phrase() {
    let t = project();
    region_with_history(&t, "r1", &[("2026-11-20T08:00:00Z", RegionHealth::Up)]);
    t.write(
        "incidents/2026-11-19-slow.md",
        "---\ntitle: 遅延\nimpact: minor\ncomponents: [web]\n---\n## 2026-11-19T10:00:00Z resolved\n解決しました。\n",
    );
    let components = t.read("components.yaml");
    t.write(
        "components.yaml",
        &components.replace(
            "  base_url: https://status.test\n",
            "  base_url: https://status.test\n  language: ja\n  time_zone: Asia/Tokyo\n",
        ),
    );
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = t.read("site/index.html");
    assert!(html.contains("<html lang=\"ja\">"));
    assert!(
        html.contains("<h2 id=\"past-h\">過去のインシデント</h2>"),
        "{html}"
    );
    assert!(html.contains("<h2 id=\"components-h\">コンポーネント</h2>"));
    assert!(html.contains("<span class=\"label\">正常</span>"), "{html}");
    assert!(html.contains(">2026年11月20日 21:00 JST</time>"), "{html}");
    assert!(html.contains("· 解決済み"), "{html}");
    assert!(
        html.contains("title=\"2026年11月20日: 稼働率 100 %、停止なし\""),
        "{html}"
    );
    assert!(html.contains("時刻は Asia/Tokyo です。"));
    // A theme overrides one phrase and keeps the rest.
    t.write(
        "themes/mine/locales/ja.yaml",
        "\"Past incidents\": \"これまでの障害\"\n",
    );
    t.write(
        "components.yaml",
        &t.read("components.yaml")
            .replace("  language: ja\n", "  language: ja\n  theme: mine\n"),
    );
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = t.read("site/index.html");
    assert!(
        html.contains("<h2 id=\"past-h\">これまでの障害</h2>"),
        "{html}"
    );
    assert!(html.contains("<h2 id=\"components-h\">コンポーネント</h2>"));
}

#[test]
fn a_database_outage_is_one_cause_and_one_notice_not_three() {
    let t = crate::harness::layered_project("");
    crate::harness::database_down(&t, now());
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = t.read("site/index.html");
    // The banner: the indicator, and one cause naming what it takes down.
    assert!(html.contains("<h1 id=\"overall\">Major System Outage</h1>"));
    let causes = &html[html.find("<ul class=\"causes\"").expect("a cause list")..];
    let causes = &causes[..causes.find("</ul>").unwrap()];
    assert_eq!(causes.matches("<li").count(), 1, "{causes}");
    assert!(
        causes.contains(
            "<strong>Cause:</strong> <a href=\"components/db/\">Database</a> (Major outage) — affects \
             <a href=\"components/web/\">Website</a>, <a href=\"components/api/\">API</a>, since \
             <time datetime=\"2026-11-20T11:50:00Z\">"
        ),
        "{causes}"
    );
    // The rows: the API and the website fail through the database.
    for id in ["api", "web"] {
        let row = component_html(&html, id);
        assert!(row.contains("Major outage"), "{row}");
        assert!(
            row.contains("Affected by <a href=\"components/db/\">Database</a>"),
            "{row}"
        );
    }
    let db = component_html(&html, "db");
    assert!(db.contains("Root cause; also affects"), "{db}");
    let page = t.read("site/components/api/index.html");
    assert!(page.contains("Affected by <a href=\"../../components/db/\">Database</a>"));
    // One detected notice, for the database, naming the API and the website.
    let notice = &html[html.find("Detected by our probes").expect("a notice")..];
    let notice = &notice[..notice.find("</section>").unwrap()];
    assert_eq!(notice.matches("<article").count(), 1, "{notice}");
    assert!(notice.contains("Database</a>: Major outage"), "{notice}");
    assert!(
        notice.contains(
            "It affects <a href=\"components/web/\">Website</a>, <a href=\"components/api/\">API</a>."
        ),
        "{notice}"
    );
    // One feed item, in the page feed and in each affected component's feed.
    let feed = t.read("site/feed.rss");
    assert_eq!(feed.matches("Detected: ").count(), 1, "{feed}");
    assert!(
        feed.contains("Detected: major outage of Database"),
        "{feed}"
    );
    let json: serde_json::Value = serde_json::from_str(&t.read("site/feed.json")).unwrap();
    let html = json["items"][0]["content_html"]
        .as_str()
        .unwrap_or_default();
    // Plain JSON strings: spaces as spaces, not `&#32;` (issue 23).
    assert!(html.contains("It affects Website, API."), "{html}");
    assert!(!html.contains("&#32;"), "{html}");
    assert!(
        t.read("site/components/web/feed.atom")
            .contains("Detected: major outage of Database")
    );
    // The terminal agrees.
    let out = t.run(&["status", "--json", "--now", NOW]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["indicator"], "critical");
    assert_eq!(doc["causes"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["causes"][0]["causes"], serde_json::json!(["db"]));
    assert_eq!(
        doc["causes"][0]["affected"],
        serde_json::json!(["web", "api"])
    );
    assert_eq!(
        doc["components"][0]["affected_by"],
        serde_json::json!(["db"])
    );

    // Drafting from the API's outage writes the database's post, naming all three; with
    // it, the notice is gone.
    let mut cmd = t.cmd(&["incident", "new", "--from-detected", "api"]);
    cmd.env("PHAROS_NOW", NOW);
    let out = crate::harness::run_with_limit(cmd, std::time::Duration::from_secs(30));
    assert!(out.status.success(), "{}", stderr(&out));
    let post = t.read("incidents/2026-11-20-major-outage-of-database.md");
    assert!(post.contains("components: [db, web, api]"), "{post}");
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = t.read("site/index.html");
    assert!(!html.contains("Detected by our probes"), "{html}");
    assert!(
        html.contains("<strong>Cause:</strong>"),
        "the probes still point at it"
    );
}

#[test]
fn without_a_probe_of_its_own_the_cause_is_inferred_or_left_open() {
    // The database has no probe: the API's and the website's failures point at the API
    // or the database, which the probes cannot tell apart.
    let t = crate::harness::layered_project("");
    let probes = t.read("probes.yaml");
    let cut = probes.find("  - id: db-port").unwrap();
    t.write("probes.yaml", &probes[..cut]);
    crate::harness::database_down(&t, now());
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = t.read("site/index.html");
    assert!(
        html.contains(
            "<strong>Possible causes:</strong> <a href=\"components/api/\">API</a> or \
             <a href=\"components/db/\">Database</a> (Major outage) — affects \
             <a href=\"components/web/\">Website</a>"
        ),
        "{html}"
    );
    let web = component_html(&html, "web");
    assert!(
        web.contains("Affected by <a href=\"components/api/\">API</a> or"),
        "{web}"
    );
    // The database keeps its own (unmonitored) status: nothing says it is down.
    let db = component_html(&html, "db");
    assert!(
        db.contains("Operational") && !db.contains("class=\"cause\""),
        "{db}"
    );

    // When the website needs the database directly, not the API, only the database
    // explains both failures: its row takes the outage, inferred.
    let components = t.read("components.yaml");
    t.write(
        "components.yaml",
        &components.replace("depends_on: [api]", "depends_on: [db]"),
    );
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = t.read("site/index.html");
    let db = component_html(&html, "db");
    assert!(db.contains("Major outage"), "{db}");
    assert!(
        db.contains("Root cause; also affects <a href=\"components/web/\">Website</a>, <a href=\"components/api/\">API</a> (inferred from the components that depend on it)"),
        "{db}"
    );
    assert!(db.contains("Down in r1, r2, r3"), "{db}");
}

#[test]
fn a_region_whose_clock_is_ten_minutes_ahead_is_flagged_and_left_out() {
    use pharos::state::RegionHealth::{Down, Up};
    let t = project();
    let now = Utc::now();
    let at = |minutes: i64| (now - Duration::minutes(minutes)).to_rfc3339();
    for r in ["r1", "r2"] {
        crate::harness::region_history(&t, r, now, &[("web-home", &[(&at(60), Up)])]);
    }
    // r3's clock runs 10 minutes ahead: everything it writes is dated 10 min from now,
    // and by its clock web-home has been down for 20 minutes.
    let ahead = now + Duration::minutes(10);
    crate::harness::region_history(
        &t,
        "r3",
        ahead,
        &[("web-home", &[(&at(60), Up), (&at(10), Down)])],
    );
    let out = t.run(&["build", "--now", &now.to_rfc3339()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("region r3: its clock is 10 min ahead"),
        "{}",
        stderr(&out)
    );
    let html = t.read("site/index.html");
    let web = component_html(&html, "web");
    assert!(
        web.contains("Operational"),
        "r3's down is not trusted: {web}"
    );
    assert!(web.contains("this region&#39;s clock is"), "{web}");
    assert!(
        !html.contains("Detected by our probes"),
        "nor is its history: no detected outage"
    );
}

#[test]
fn a_dependency_notice_keeps_its_id_as_the_outage_unfolds() {
    use pharos::state::RegionHealth::{Down, Up};
    // The website's probe fails first (11:50), then the API's (11:50:30), then the
    // database's own (11:51:30). At 11:53:10 only the website's outage is 3 min long;
    // at 11:56 the database's is too. Both builds show one notice, for the database,
    // under the same id (so an announcement is never sent twice).
    let t = crate::harness::layered_project("");
    let since = "2026-11-20T10:00:00Z";
    let id = format!(
        "detected-db-{}",
        "2026-11-20T11:50:00Z"
            .parse::<DateTime<Utc>>()
            .unwrap()
            .timestamp()
    );
    for at in ["2026-11-20T11:53:10Z", "2026-11-20T11:56:00Z"] {
        // The regions' files as they were at that time (a file written after `now` would
        // be a clock running ahead).
        for r in ["r1", "r2", "r3"] {
            crate::harness::region_history(
                &t,
                r,
                at.parse().unwrap(),
                &[
                    ("web-home", &[(since, Up), ("2026-11-20T11:50:00Z", Down)]),
                    ("api-health", &[(since, Up), ("2026-11-20T11:50:30Z", Down)]),
                    ("db-port", &[(since, Up), ("2026-11-20T11:51:30Z", Down)]),
                ],
            );
        }
        let out = t.run(&["build", "--now", at]);
        assert!(out.status.success(), "{}", stderr(&out));
        let html = t.read("site/index.html");
        let notice = &html[html.find("Detected by our probes").expect("a notice")..];
        let notice = &notice[..notice.find("</section>").unwrap()];
        assert_eq!(notice.matches("<article").count(), 1, "{at}: {notice}");
        assert!(notice.contains(&format!("id=\"{id}\"")), "{at}: {notice}");
        assert!(
            t.read("site/feed.atom").contains(&format!("#{id}-start")),
            "{at}: the feed item keeps its id"
        );
    }
}

#[test]
fn a_fault_in_a_component_under_maintenance_is_the_maintenance() {
    let t = crate::harness::layered_project("");
    crate::harness::database_down(&t, now());
    t.write(
        "incidents/2026-11-20-db-upgrade.md",
        "---\ntitle: Database upgrade\nkind: maintenance\ncomponents: [db]\nscheduled_for: 2026-11-20T11:45:00Z\nscheduled_until: 2026-11-20T12:30:00Z\n---\n\
         ## 2026-11-20T11:45:00Z in_progress\nUpgrading.\n",
    );
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = t.read("site/index.html");
    assert!(
        html.contains("<h1 id=\"overall\">Service Under Maintenance</h1>"),
        "the database's planned outage, and what it takes down, is the maintenance"
    );
    assert!(html.contains("Affected by <a href=\"components/db/\">Database</a>"));
}

#[test]
fn a_page_of_more_than_200_components_lists_them_compactly() {
    // 200 components get the full home page; 201 a compact one, each component with a
    // link to its page (where its bars and regions are) and its status.
    for (n, compact) in [(200, false), (201, true)] {
        let t = project_with(
            "  - id: web-home\n    kind: http\n    url: https://www.test/\n    components: [c0]\n    interval: 30s\n",
            &["r1"],
        );
        let components: String = (0..n)
            .map(|i| format!("  - id: c{i}\n    name: Service {i}\n    description: Number {i}.\n"))
            .collect();
        t.write(
            "components.yaml",
            &format!("page:\n  title: Test Status\n  base_url: https://status.test\ncomponents:\n{components}"),
        );
        region(&t, "r1", 10, &[("web-home", &[U, U, U])]);
        let out = t.run(&["build", "--now", NOW]);
        assert!(out.status.success(), "{}", stderr(&out));
        let html = t.read("site/index.html");
        assert_eq!(html.matches("<li class=\"component ").count(), n);
        assert!(
            html.contains("<a class=\"cname\" href=\"components/c200/\">Service 200</a>")
                == compact
        );
        // The full page has bars and descriptions on the home page; the compact one
        // leaves them to each component's page.
        assert_eq!(html.contains("class=\"bars\""), !compact, "n = {n}");
        assert_eq!(html.contains("Number 0."), !compact, "n = {n}");
        let page = t.read("site/components/c0/index.html");
        assert!(page.contains("class=\"bars\"") && page.contains("Number 0."));
    }
}
