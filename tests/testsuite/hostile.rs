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
    let state = crate::harness::state_text(&t, "r1");
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
    if crate::harness::needs(&[crate::harness::Part::Chromium]) {
        let mut paths = vec![
            "/".to_string(),
            "/history/".to_string(),
            "/history/2/".to_string(),
            "/404.html".to_string(),
        ];
        paths.extend((0..n_components).map(|i| format!("/components/c{i}/")));
        paths.extend(slugs.iter().map(|s| format!("/incidents/{s}/")));
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
        let mut node = crate::browser::node();
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
    }

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

/// Every file under `dir`, with its text (lossy).
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                out.push((path, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
    out
}

#[test]
fn secrets_never_reach_the_site_the_state_the_logs_or_announcements() {
    let secret = format!("s3cr3t-{}", std::process::id());
    let hook_secret = format!("h00k-{}", std::process::id());
    // A server that reflects what it was sent: the Authorization header back as a header
    // and, with the request line, in a JSON body; a TCP server that echoes.
    let http = TcpListener::bind("127.0.0.1:0").unwrap();
    let http_port = http.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in http.incoming().take(20).flatten() {
            let mut reader = BufReader::new(&stream);
            let (mut line, mut first, mut auth) = (String::new(), String::new(), String::new());
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if first.is_empty() {
                    first = line.trim().to_string();
                }
                if let Some(v) = line.strip_prefix("authorization: ") {
                    auth = v.trim().to_string();
                }
                line.clear();
            }
            let body = serde_json::json!({ "saw": first, "auth": auth }).to_string();
            let reply = format!(
                "HTTP/1.1 200 OK\r\nX-Echo: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = (&stream).write_all(reply.as_bytes());
        }
    });
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_port = tcp.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in tcp.incoming().take(20).flatten() {
            let mut buf = [0u8; 256];
            let n = std::io::Read::read(&mut stream, &mut buf).unwrap_or(0);
            let _ = stream.write_all(&buf[..n]);
        }
    });
    // The webhook receiver: request lines and bodies.
    let hook = TcpListener::bind("127.0.0.1:0").unwrap();
    let hook_port = hook.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in hook.incoming().take(20).flatten() {
            let mut reader = BufReader::new(&stream);
            let (mut line, mut head, mut length) = (String::new(), String::new(), 0usize);
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if let Some(v) = line.to_lowercase().strip_prefix("content-length: ") {
                    length = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
                line.clear();
            }
            let mut body = vec![0u8; length];
            let _ = std::io::Read::read_exact(&mut reader, &mut body);
            record
                .lock()
                .unwrap()
                .push((head, String::from_utf8_lossy(&body).into_owned()));
            let _ = (&stream)
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });

    let t = ProjectTest::new();
    t.write(
        "components.yaml",
        &format!(
            "page:\n  title: Secret Status\n  base_url: https://status.test\ncomponents:\n  - id: api\n    name: API\n\
             announce:\n  - kind: webhook\n    url: http://127.0.0.1:{hook_port}/hook/${{HOOK_SECRET}}\n"
        ),
    );
    t.write(
        "probes.yaml",
        &format!(
            "regions:\n  - name: r1\nprobes:\n\
             \x20 - id: echo-http\n    kind: http\n    url: http://127.0.0.1:{http_port}/?token=${{API_SECRET}}\n    components: [api]\n\
             \x20   headers: {{Authorization: 'Bearer ${{API_SECRET}}'}}\n\
             \x20   assertions: ['header.x-echo == \"none\"', 'json.saw == \"none\"']\n\
             \x20 - id: echo-tcp\n    kind: tcp\n    host: 127.0.0.1\n    port: {tcp_port}\n    send: 'login ${{API_SECRET}}'\n    expect: '^SAFE'\n    components: [api]\n\
             \x20 - id: echo-plugin\n    kind: command\n    command: [/bin/sh, -c, 'echo \"CRITICAL token=$TOKEN arg=$0\"; env; exit 2', '${{API_SECRET}}']\n    env: {{TOKEN: '${{API_SECRET}}'}}\n    components: [api]\n"
        ),
    );
    let run_at = |args: &[&str], now: Option<&str>| {
        let mut cmd = t.cmd(args);
        cmd.env("API_SECRET", &secret)
            .env("HOOK_SECRET", &hook_secret)
            .env("PHAROS_LOG", "info");
        if let Some(now) = now {
            cmd.env("PHAROS_NOW", now);
        }
        let out = run_with_limit(cmd, std::time::Duration::from_secs(60));
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        format!("{}{}", stdout(&out), stderr(&out))
    };
    let mut logs = run_at(&["probe", "--region", "r1", "--once"], None);
    // The probe ran on the clock; every later command runs as of when it wrote its state,
    // and the incident is an hour older than that, so `announce` (which sends only the
    // last day's items) sends it whatever the date.
    let now = crate::harness::state_of(&t, "r1").unwrap().written_at;
    let posted = now - chrono::Duration::hours(1);
    t.write(
        &format!("incidents/{}-api.md", posted.format("%Y-%m-%d")),
        &format!(
            "---\ntitle: API errors\nimpact: minor\ncomponents: [api]\n---\n## {} investigating\nLooking.\n",
            posted.format("%Y-%m-%dT%H:%M:%SZ")
        ),
    );
    let now = now.to_rfc3339();
    let run = |args: &[&str]| run_at(args, Some(&now));
    logs += &run(&["build"]);
    logs += &run(&["status"]);
    logs += &run(&["status", "--json"]);
    logs += &run(&["announce"]);
    // The probes did use the secret, and the reflections were recorded, redacted.
    let state = crate::harness::state_text(&t, "r1");
    assert!(state.contains("header.x-echo is"), "{state}");
    assert!(state.contains("CRITICAL token="), "{state}");
    let sent = seen.lock().unwrap().clone();
    assert!(!sent.is_empty(), "the incident was announced");
    assert!(
        sent[0].0.contains(&format!("/hook/{hook_secret}")),
        "the webhook got its secret address"
    );

    for s in [&secret, &hook_secret] {
        for (path, text) in files_under(&t.path().join("site"))
            .into_iter()
            .chain(files_under(&t.path().join("state")))
        {
            assert!(
                !text.contains(s.as_str()),
                "{} holds a secret",
                path.display()
            );
        }
        assert!(
            !logs.contains(s.as_str()),
            "the logs hold a secret:\n{logs}"
        );
        for (head, body) in &sent {
            assert!(
                !body.contains(s.as_str()),
                "an announcement body holds a secret: {body}"
            );
            let headers = head.split_once("\r\n").map_or("", |(_, h)| h);
            assert!(
                !headers.contains(s.as_str()),
                "announcement headers hold a secret"
            );
        }
    }
}
