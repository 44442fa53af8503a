//! Heartbeats: `pharos wrap` around a job, `kind: push` with interval and grace, and HTTP
//! heartbeats to a prober started with `--listen`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use pharos::state::{Health, Sample};

use crate::harness::{ProjectTest, free_port, project_with, stderr, stdout, stop, until};

fn project(extra: &str) -> ProjectTest {
    project_with(
        &format!(
            "  - id: backup\n    kind: push\n    components: [web]\n    interval: 2s\n    grace: 1s\n    timeout: 1s\n{extra}"
        ),
        &["r1"],
    )
}

fn check(t: &ProjectTest) -> Sample {
    let out = t.run(&["probe", "--once", "--region", "r1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    crate::harness::state_of(t, "r1").unwrap().probes["backup"]
        .last
        .clone()
}

#[test]
fn wrap_records_a_run_and_passes_its_output_and_exit_code_through() {
    let t = project("");
    let first = check(&t);
    assert_eq!(first.health, Health::Unknown, "{}", first.detail);
    assert_eq!(
        first.detail,
        "waiting for the first heartbeat (expected every 2s, grace 1s)"
    );

    let out = t.run(&[
        "wrap",
        "--probe",
        "backup",
        "--",
        "sh",
        "-c",
        "echo copied 12 files; echo warning >&2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "copied 12 files\n");
    assert_eq!(stderr(&out), "warning\n");
    let s = check(&t);
    assert_eq!(s.health, Health::Up, "{}", s.detail);
    assert!(
        s.detail.starts_with("last heartbeat ") && s.detail.contains("(exit 0 after "),
        "{}",
        s.detail
    );

    let out = t.run(&[
        "wrap",
        "--probe",
        "backup",
        "--",
        "sh",
        "-c",
        "echo disk full; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let s = check(&t);
    assert_eq!(s.health, Health::Down);
    assert!(s.detail.starts_with("the last run failed "), "{}", s.detail);
    assert!(
        t.read("state/heartbeats/backup.json").contains("disk full"),
        "the output is kept in the heartbeat file"
    );
    assert!(
        s.detail.contains("with exit code 3 after ") && !s.detail.contains("disk full"),
        "{}",
        s.detail
    );
}

#[test]
fn a_late_heartbeat_is_down() {
    let t = project("");
    let out = t.run(&["wrap", "--probe", "backup", "--", "true"]);
    assert!(out.status.success());
    assert_eq!(check(&t).health, Health::Up);
    std::thread::sleep(Duration::from_millis(3300));
    let s = check(&t);
    assert_eq!(s.health, Health::Down);
    assert!(
        s.detail.starts_with("no heartbeat since ")
            && s.detail.ends_with("(expected every 2s, grace 1s)"),
        "{}",
        s.detail
    );
}

#[test]
fn wrap_refuses_probes_that_are_not_push() {
    let t = project(
        "  - id: web-home\n    kind: tcp\n    host: 127.0.0.1\n    port: 9\n    components: [web]\n",
    );
    let out = t.run(&["wrap", "--probe", "web-home", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "probe \"web-home\" is a tcp probe; `wrap` reports to probes with `kind: push`"
        ),
        "{}",
        stderr(&out)
    );
    let out = t.run(&["wrap", "--probe", "nope", "--", "true"]);
    assert!(
        stderr(&out).contains("no probe \"nope\" in probes.yaml; push probes: backup"),
        "{}",
        stderr(&out)
    );
    let out = t.run(&["wrap", "--probe", "backup", "--", "/nonexistent/job"]);
    assert_eq!(out.status.code(), Some(127));
}

fn post(port: u16, path: &str, token: Option<&str>, body: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(s, "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn heartbeats_over_http_need_the_token() {
    let t = project("    token: ${PHAROS_TEST_HB_TOKEN}\n");
    let port = free_port();
    let child = t
        .cmd(&[
            "probe",
            "--region",
            "r1",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("PHAROS_TEST_HB_TOKEN", "hb-secret-0123456789")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    until("the listener", Duration::from_secs(60), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert_eq!(post(port, "/heartbeat/backup", None, ""), 401);
    assert_eq!(
        post(port, "/heartbeat/backup", Some("wrong-token"), ""),
        401
    );
    assert_eq!(
        post(port, "/heartbeat/other", Some("hb-secret-0123456789"), ""),
        404
    );
    assert_eq!(
        post(
            port,
            "/heartbeat/backup",
            Some("hb-secret-0123456789"),
            "{not json"
        ),
        400
    );
    assert_eq!(
        post(
            port,
            "/heartbeat/backup",
            Some("hb-secret-0123456789"),
            "{\"exit_code\": 0, \"output\": \"ok\"}"
        ),
        204
    );
    let beat: serde_json::Value =
        serde_json::from_str(&t.read("state/heartbeats/backup.json")).unwrap();
    assert_eq!(beat["source"], "http");
    assert_eq!(beat["exit_code"], 0);
    // The worker's next check sees it.
    let start = Instant::now();
    loop {
        let s = crate::harness::state_of(&t, "r1")
            .ok()
            .and_then(|s| s.probes.get("backup").map(|p| p.last.clone()));
        if s.as_ref().is_some_and(|s| s.health == Health::Up) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the push probe never saw the heartbeat: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = stop(child);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!crate::harness::state_text(&t, "r1").contains("hb-secret-0123456789"));
}

#[test]
fn short_tokens_and_unplaced_push_probes_are_refused() {
    let t = project("    token: ${PHAROS_TEST_SHORT_TOKEN}\n");
    let port = free_port();
    let out = t
        .cmd(&[
            "probe",
            "--once",
            "--region",
            "r1",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("PHAROS_TEST_SHORT_TOKEN", "")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("heartbeat token is 0 characters long; use a random token of at least 16"),
        "{}",
        stderr(&out)
    );

    let t = crate::harness::project_with(
        "  - id: job\n    kind: push\n    components: [web]\n",
        &["r1", "r2"],
    );
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("a push probe's heartbeats arrive on one host; set `regions:"),
        "{}",
        stdout(&out)
    );
}
