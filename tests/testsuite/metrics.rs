//! `pharos probe --metrics`: the exposition is checked by Prometheus's own promtool and
//! carries blackbox_exporter's metric names.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Reply, Server, free_port, project_with, stderr, stop, wait_limit};

/// What Prometheus 2.x sends when it scrapes.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

fn scrape(port: u16) -> String {
    scrape_as(port, None).1
}

/// GET /metrics with this `Accept` (none when `None`): the content type and the body.
fn scrape_as(port: u16, accept: Option<&str>) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\n{accept}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let content_type = resp
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    // Undo chunked transfer encoding if the server used it.
    if resp
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body.as_str();
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&after[..n]);
            rest = &after[n + 2..];
        }
        return (content_type, out);
    }
    (content_type, body)
}

#[test]
fn metrics_pass_promtool_and_use_blackbox_names() {
    if !crate::harness::needs(&[
        crate::harness::Part::Promtool,
        crate::harness::Part::Plugins,
    ]) {
        return;
    }
    let web = Server::fixed(Reply::Status(200, "ok".into()));
    let t = project_with(
        &format!(
            "  - id: web-home\n    kind: http\n    url: {}/\n    components: [web]\n    interval: 1s\n    timeout: 1s\n\
             \x20 - id: plugin\n    kind: command\n    command: [/usr/lib/nagios/plugins/check_dummy, \"0\", \"fine\"]\n    components: [api]\n    interval: 1s\n    timeout: 1s\n\
             \x20 - id: perf\n    kind: command\n    command: [/bin/sh, -c, \"echo 'OK | time=0.14ms;;;0'\"]\n    components: [api]\n    interval: 1s\n    timeout: 1s\n",
            web.url()
        ),
        &["r1"],
    );
    let port = free_port();
    let child = t
        .cmd(&[
            "probe",
            "--region",
            "r1",
            "--metrics",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let text = loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            drop(s);
            let text = scrape(port);
            if text.contains("probe=\"web-home\"")
                && text.contains("probe=\"plugin\"")
                && text.contains("probe=\"perf\"")
            {
                break text;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no samples in the metrics"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // Content negotiation: what a Prometheus server asks for is OpenMetrics, closed by
    // `# EOF`; a scraper asking for text/plain, or naming nothing, gets the text format.
    let (open_type, open) = scrape_as(port, Some(PROMETHEUS_ACCEPT));
    assert!(
        open_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{open_type}"
    );
    assert!(open.ends_with("# EOF\n"), "{open}");
    for accept in [Some("text/plain;version=0.0.4"), None] {
        let (plain_type, plain) = scrape_as(port, accept);
        assert_eq!(
            plain_type, "text/plain; version=0.0.4; charset=utf-8",
            "{accept:?}"
        );
        assert!(!plain.contains("# EOF"), "{plain}");
        assert!(plain.contains("probe_success{"), "{plain}");
    }
    let out = stop(child);
    assert!(out.status.success(), "{}", stderr(&out));
    // No float noise: every value is printed as the short decimal it stands for.
    for line in open.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap_or_default();
        let digits = value.chars().filter(char::is_ascii_digit).count();
        assert!(digits <= 13, "float noise in {line:?}");
    }

    for needle in [
        "probe_success{probe=\"web-home\",region=\"r1\",kind=\"http\"} 1",
        "probe_http_status_code{probe=\"web-home\",region=\"r1\",kind=\"http\"} 200",
        "probe_http_duration_seconds{probe=\"web-home\",region=\"r1\",kind=\"http\",phase=\"connect\"}",
        "probe_duration_seconds{probe=\"plugin\",region=\"r1\",kind=\"command\"}",
        "pharos_plugin_exit_code{probe=\"plugin\",region=\"r1\",kind=\"command\"} 0",
        // 0.14 ms in seconds, as written: not 0.00014000000000000001.
        "pharos_plugin_perfdata{probe=\"perf\",region=\"r1\",kind=\"command\",label=\"time\"} 0.00014\n",
        "probe_ip_protocol{probe=\"web-home\",region=\"r1\",kind=\"http\"} 4",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    let promtool = "/usr/bin/promtool";
    assert!(
        std::path::Path::new(promtool).exists(),
        "promtool is missing: install Debian's prometheus package (.ci/run does)"
    );
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = wait_limit(check, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- metrics ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
