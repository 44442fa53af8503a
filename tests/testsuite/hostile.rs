//! Hostile input: the OWASP filter-evasion payloads (tests/fixtures/xss/owasp.txt) through
//! every field a page shows — page title and description, component names and
//! descriptions, incident titles and bodies, and probe details that reflect what a probed
//! server sent (a header, a JSON body, a TCP banner, a plugin's output) — must run nothing
//! in headless Chromium and stay text in the feeds and the API. Path traversal through
//! post names and theme names is refused.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use crate::harness::{ProjectTest, run_with_limit, stderr, stdout};

fn payloads() -> Vec<String> {
    let text = include_str!("../fixtures/xss/owasp.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("# "))
        .map(str::to_string)
        .collect()
}

/// A YAML double-quoted scalar (JSON's string syntax, which YAML reads the same way).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Answers every HTTP request with a hostile header and JSON body; every TCP connection
/// on the second port with a hostile banner. Runs until the test ends.
fn hostile_servers(header: &str, body: &str, banner: &str) -> (u16, u16) {
    let http = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let ports = (
        http.local_addr().unwrap().port(),
        tcp.local_addr().unwrap().port(),
    );
    let json = serde_json::json!({ "status": body }).to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\nX-Evil: {header}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    );
    std::thread::spawn(move || {
        for stream in http.incoming().take(20).flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = (&stream).write_all(response.as_bytes());
        }
    });
    let banner = format!("{banner}\r\n");
    std::thread::spawn(move || {
        for mut stream in tcp.incoming().take(20).flatten() {
            let _ = stream.write_all(banner.as_bytes());
        }
    });
    ports
}

#[test]
fn owasp_payloads_run_nothing_in_the_pages_and_stay_text_in_feeds_and_api() {
    let p = payloads();
    assert!(p.len() >= 90, "{} payloads", p.len());
    let t = ProjectTest::new();
    // Page and components: a payload in every name and description.
    let mut components = format!(
        "page:\n  title: {}\n  description: {}\n  base_url: https://status.test\ncomponents:\n",
        quoted(&p[3]),
        quoted(&p[4])
    );
    let n_components = p.len() / 2;
    for i in 0..n_components {
        components.push_str(&format!(
            "  - id: c{i}\n    name: {}\n    description: {}\n",
            quoted(&p[2 * i]),
            quoted(&p[2 * i + 1])
        ));
    }
    t.write("components.yaml", &components);
    // One post per payload, as its title and as its markdown body.
    let mut slugs = Vec::new();
    for (i, payload) in p.iter().enumerate() {
        let slug = format!("2026-11-20-p{i}");
        t.write(
            &format!("incidents/{slug}.md"),
            &format!(
                "---\ntitle: {}\nimpact: minor\ncomponents: [c{}]\n---\n## 2026-11-20T10:{:02}:00Z resolved\n{payload}\n\nSee {payload}\n",
                quoted(payload),
                i % n_components,
                i % 60
            ),
        );
        slugs.push(slug);
    }
    // Probes whose details quote what the servers sent.
    let header = "<script>alert('header')</script><img src=x onerror=alert(2)>";
    let (http, tcp) = hostile_servers(header, &p[2], &p[49]);
    let plugin_says = format!("CRITICAL - {}", p[50]);
    t.write(
        "probes.yaml",
        &format!(
            "regions:\n  - name: r1\nprobes:\n\
             \x20 - id: reflect-header\n    kind: http\n    url: http://127.0.0.1:{http}/\n    components: [c0]\n\
             \x20   assertions: ['header.x-evil == \"safe\"']\n\
             \x20 - id: reflect-json\n    kind: http\n    url: http://127.0.0.1:{http}/j\n    components: [c1]\n\
             \x20   assertions: ['json.status == \"safe\"']\n\
             \x20 - id: reflect-banner\n    kind: tcp\n    host: 127.0.0.1\n    port: {tcp}\n    expect: '^SAFE'\n    components: [c2]\n\
             \x20 - id: reflect-plugin\n    kind: command\n    command: [/bin/sh, -c, 'printf \"%s\\n\" \"$SAYS\"; exit 2']\n    env: {{SAYS: {}}}\n    components: [c3]\n",
            quoted(&plugin_says)
        ),
    );
    let out = t.run(&["probe", "--region", "r1", "--once"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let state = t.read("state/r1.json");
    assert!(
        state.contains("alert('header')"),
        "the header reached the state: {state}"
    );
    // Built now, while the probe results are fresh.
    let out = t.run(&["build"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let index = t.read("site/index.html");
    for shown in [
        "x-evil is",
        "json.status is",
        "does not match",
        "CRITICAL - ",
    ] {
        assert!(
            index.contains(shown) || index.contains(&shown.replace(' ', "&#32;")),
            "the details are on the page: no {shown:?}"
        );
    }

    // Chromium: every page, nothing runs, nothing that could run is in the DOM.
    let mut paths = vec![
        "/".to_string(),
        "/history/".to_string(),
        "/history/2/".to_string(),
        "/404.html".to_string(),
    ];
    paths.extend((0..n_components).map(|i| format!("/components/c{i}/")));
    paths.extend(slugs.iter().map(|s| format!("/incidents/{s}/")));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let mut node = std::process::Command::new("node");
    node.arg(dir.join("xss.mjs"))
        .arg(t.path().join("site"))
        .arg(paths.join(","))
        .arg("status.test");
    let out = run_with_limit(node, std::time::Duration::from_secs(300));
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("{} page(s) checked", paths.len())),
        "{}",
        stdout(&out)
    );

    // Feeds: well-formed, every title comes back as the text it was.
    let titles = |path: &str| -> Vec<String> {
        let bytes = std::fs::read(t.path().join(path)).unwrap();
        let feed = feed_rs::parser::parse(bytes.as_slice())
            .unwrap_or_else(|e| panic!("{path} does not parse: {e}"));
        feed.entries
            .iter()
            .filter_map(|e| e.title.as_ref().map(|t| t.content.clone()))
            .collect()
    };
    for feed in ["site/feed.rss", "site/feed.atom", "site/feed.json"] {
        let got = titles(feed);
        for payload in &p {
            let want = format!("{} — Resolved", payload.trim());
            assert!(
                got.iter().any(|g| g.trim() == want),
                "{feed}: no entry titled {want:?}"
            );
        }
    }
    // In the XML, payloads are escaped text (`&lt;img …`); a real tag (in the sanitised
    // HTML of an item) never carries a script or an event handler.
    let live = regex::Regex::new(r"(?i)<script|<[a-z][^<>]*\son[a-z]+\s*=|<[a-z][^<>]*javascript:")
        .unwrap();
    for feed in ["site/feed.rss", "site/feed.atom"] {
        let text = t.read(feed);
        assert!(live.find(&text).is_none(), "{feed}: {:?}", live.find(&text));
    }
    // In JSON, titles are plain text by the JSON Feed spec; the HTML is sanitised.
    let json: serde_json::Value = serde_json::from_str(&t.read("site/feed.json")).unwrap();
    for item in json["items"].as_array().unwrap() {
        let html = item["content_html"].as_str().unwrap_or_default();
        assert!(live.find(html).is_none(), "feed.json: {html}");
    }
    // The API: valid JSON carrying the names as strings.
    let summary: serde_json::Value =
        serde_json::from_str(&t.read("site/api/v2/summary.json")).unwrap();
    let names: Vec<&str> = summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(names.contains(&p[0].as_str()), "{names:?}");
    assert_eq!(summary["page"]["name"].as_str(), Some(p[3].as_str()));
}

#[test]
fn path_traversal_in_post_and_theme_names_is_refused() {
    let t = crate::harness::project_with("", &["r1"]);
    t.write(
        "incidents/2026-11-20-api.md",
        "---\ntitle: API errors\nimpact: minor\ncomponents: [web]\n---\n## 2026-11-20T10:00:00Z investigating\nLooking.\n",
    );
    for slug in [
        "../../etc/passwd",
        "../components",
        "/etc/passwd",
        "a/../../b",
    ] {
        let out = t.run(&[
            "incident",
            "update",
            slug,
            "--status",
            "identified",
            "--message",
            "x",
        ]);
        assert_eq!(out.status.code(), Some(1), "{slug}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("is not a post name"),
            "{slug}: {}",
            stderr(&out)
        );
    }
    let yaml = t.read("components.yaml");
    for theme in ["../../etc", "/tmp", "a/b", ".."] {
        t.write(
            "components.yaml",
            &yaml.replace(
                "  base_url: https://status.test\n",
                &format!(
                    "  base_url: https://status.test\n  theme: {}\n",
                    quoted(theme)
                ),
            ),
        );
        let out = t.run(&["build"]);
        assert_eq!(out.status.code(), Some(1), "{theme}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("components.yaml:") && stderr(&out).contains("theme"),
            "{theme}: {}",
            stderr(&out)
        );
        assert!(!t.path().join("site").exists(), "nothing was written");
    }
}
