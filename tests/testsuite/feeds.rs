//! Feeds and the maintenance calendar, read back with real parsers: feed-rs for RSS 2.0,
//! Atom and JSON Feed 1.1; icalendar's parser for maintenance.ics.

use crate::api::project;

fn parse(t: &crate::harness::ProjectTest, path: &str) -> feed_rs::model::Feed {
    feed_rs::parser::parse(t.read(&format!("site/{path}")).as_bytes())
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_page_feeds_agree_in_every_format() {
    let t = project();
    let mut per_format = Vec::new();
    for path in ["feed.rss", "feed.atom", "feed.json"] {
        let feed = parse(&t, path);
        assert_eq!(feed.entries.len(), 5, "{path}: one item per update");
        let first = &feed.entries[0];
        assert_eq!(
            first.title.as_ref().unwrap().content,
            "API errors — Monitoring",
            "{path}"
        );
        assert_eq!(
            first.links[0].href, "https://status.acme.test/incidents/2026-11-20-api/",
            "{path}"
        );
        assert_eq!(
            first.published.unwrap().to_rfc3339(),
            "2026-11-20T10:30:00+00:00",
            "{path}"
        );
        let ids: Vec<String> = feed.entries.iter().map(|e| e.id.clone()).collect();
        let dates: Vec<i64> = feed
            .entries
            .iter()
            .map(|e| e.published.unwrap().timestamp())
            .collect();
        assert!(
            dates.windows(2).all(|w| w[0] >= w[1]),
            "{path}: newest first"
        );
        per_format.push(ids);
    }
    assert_eq!(per_format[0], per_format[1], "RSS and Atom share item ids");
    assert_eq!(
        per_format[1], per_format[2],
        "Atom and JSON Feed share item ids"
    );
    let maintenance = parse(&t, "feed.json");
    assert!(
        maintenance
            .entries
            .iter()
            .any(|e| e.title.as_ref().unwrap().content
                == "Maintenance: Database upgrade — Scheduled")
    );
}

#[test]
fn each_component_has_its_own_feeds() {
    let t = project();
    let api = parse(&t, "components/api/feed.atom");
    assert_eq!(api.entries.len(), 2);
    assert!(api.title.unwrap().content.ends_with("— API"));
    assert_eq!(parse(&t, "components/web/feed.rss").entries.len(), 2);
    let docs = parse(&t, "components/docs/feed.json");
    assert_eq!(docs.entries.len(), 1, "the maintenance window");
    let html = t.read("site/index.html");
    assert!(
        html.contains("type=\"application/atom+xml\"") && html.contains("href=\"maintenance.ics\"")
    );
}

#[test]
fn maintenance_windows_are_calendar_events() {
    let t = project();
    let text = t.read("site/maintenance.ics");
    let unfolded = icalendar::parser::unfold(&text);
    let cal = icalendar::parser::read_calendar(&unfolded).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let events: Vec<_> = cal
        .components
        .iter()
        .filter(|c| c.name == "VEVENT")
        .collect();
    assert_eq!(events.len(), 1);
    let prop = |name: &str| {
        events[0]
            .properties
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.val.to_string())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    assert_eq!(prop("UID"), "2026-11-20-db@status.acme.test");
    assert_eq!(prop("SUMMARY"), "Database upgrade");
    assert_eq!(prop("DTSTART"), "20261122T020000Z");
    assert_eq!(prop("DTEND"), "20261122T030000Z");
    assert_eq!(
        prop("URL"),
        "https://status.acme.test/incidents/2026-11-20-db/"
    );
}

#[test]
fn the_feeds_are_also_where_statuspage_serves_them() {
    let t = project();
    // Statuspage serves its feeds at /history.rss and /history.atom: the same items here.
    let ids = |path: &str| -> Vec<String> {
        parse(&t, path)
            .entries
            .iter()
            .map(|e| e.id.clone())
            .collect()
    };
    assert_eq!(ids("history.rss"), ids("feed.rss"));
    assert_eq!(ids("history.atom"), ids("feed.atom"));
    let atom = parse(&t, "history.atom");
    assert!(
        atom.links.iter().any(|l| l.rel.as_deref() == Some("self")
            && l.href == "https://status.acme.test/history.atom"),
        "{:?}",
        atom.links
    );
}

#[test]
fn every_rss_feed_names_its_own_address() {
    let t = project();
    // atom:link rel="self" (RSS Best Practices; the W3C validator warns without it).
    for (path, own) in [
        ("feed.rss", "https://status.acme.test/feed.rss"),
        ("history.rss", "https://status.acme.test/history.rss"),
        (
            "components/api/feed.rss",
            "https://status.acme.test/components/api/feed.rss",
        ),
    ] {
        let text = t.read(&format!("site/{path}"));
        let channel = rss::Channel::read_from(text.as_bytes()).unwrap();
        let links = channel
            .atom_ext()
            .map(|a| a.links().to_vec())
            .unwrap_or_default();
        assert!(
            links.iter().any(|l| l.rel() == "self" && l.href() == own),
            "{path}: no atom:link rel=self to {own}:\n{text}"
        );
    }
}

#[test]
fn the_calendar_names_pharos_as_its_product() {
    let t = project();
    let text = t.read("site/maintenance.ics");
    let unfolded = icalendar::parser::unfold(&text);
    let cal = icalendar::parser::read_calendar(&unfolded).unwrap();
    let prodid: Vec<String> = cal
        .properties
        .iter()
        .filter(|p| p.name == "PRODID")
        .map(|p| p.val.to_string())
        .collect();
    assert_eq!(
        prodid,
        [format!(
            "-//Pharos//Pharos {}//EN",
            env!("CARGO_PKG_VERSION")
        )],
        "{text}"
    );
}
