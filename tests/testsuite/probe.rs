//! Probes against servers the test starts on 127.0.0.1, through `pharos probe --once`:
//! each fault gives the right health and a precise detail within the timeout.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pharos::state::{Health, Sample};

use crate::harness::{Reply, Server, free_port, project_with, stderr};

/// Run one probe (YAML item lines after `- id: p`) once in region r1, return its sample.
fn once(item: &str) -> Sample {
    let t = project_with(
        &format!("  - id: p\n    components: [web]\n    retry_delay: 100ms\n{item}"),
        &["r1"],
    );
    let out = t.run(&["probe", "--once", "--region", "r1"]);
    assert!(out.status.success(), "probe failed: {}", stderr(&out));
    let state = crate::harness::state_of(&t, "r1").unwrap();
    state.probes["p"].last.clone()
}

/// The deadline held: the check's own latency stays near its timeout, far below what
/// the fault would take without one (a server that never answers, a body trickling for a
/// minute). The margin is wide so a busy machine's late timers never fail it; the detail
/// assertions say which deadline fired.
pub(crate) fn within_its_deadline(sample: &Sample, timeout_ms: f64) {
    let took = sample.latency_ms.expect("a timed check");
    assert!(
        took <= timeout_ms + 10_000.0,
        "the check took {took} ms: its timeout of {timeout_ms} ms did not stop it"
    );
}

fn http(url: &str, extra: &str) -> String {
    format!("    kind: http\n    url: {url}\n{extra}")
}

#[test]
fn http_200_is_up_with_phases() {
    let s = Server::fixed(Reply::Status(200, "hello".into()));
    let sample = once(&http(&s.url(), ""));
    assert_eq!(sample.health, Health::Up, "{}", sample.detail);
    assert!(
        sample.detail.starts_with("HTTP 200 in "),
        "{}",
        sample.detail
    );
    assert_eq!(sample.http_status, Some(200));
    assert_eq!(sample.attempts, 1);
    let phases = sample.phases.unwrap();
    assert!(phases.connect_ms > 0.0 && phases.processing_ms > 0.0);
}

#[test]
fn http_503_is_down_after_the_in_region_recheck() {
    let s = Server::fixed(Reply::Status(503, "busy".into()));
    let sample = once(&http(&s.url(), ""));
    assert_eq!(sample.health, Health::Down);
    assert_eq!(sample.detail, "HTTP 503 (expected 2xx)");
    within_its_deadline(&sample, 10_000.0);
    assert_eq!(sample.attempts, 2);
    assert_eq!(
        s.hits(),
        2,
        "one check plus one re-check, each a new request"
    );
}

#[test]
fn a_failure_that_passes_on_recheck_is_up_and_says_so() {
    let s = Server::start(|n, _| {
        if n == 0 {
            Reply::Status(500, "oops".into())
        } else {
            Reply::Status(200, "ok".into())
        }
    });
    let sample = once(&http(&s.url(), ""));
    assert_eq!(sample.health, Health::Up);
    assert_eq!(sample.attempts, 2);
    assert!(
        sample
            .detail
            .ends_with("(after a failed attempt: HTTP 500 (expected 2xx))"),
        "{}",
        sample.detail
    );
}

#[test]
fn connection_refused_is_named() {
    let port = free_port();
    let sample = once(&http(
        &format!("http://127.0.0.1:{port}/"),
        "    retries: 0\n",
    ));
    assert_eq!(sample.health, Health::Down);
    assert_eq!(sample.detail, format!("connect refused (127.0.0.1:{port})"));
    within_its_deadline(&sample, 10_000.0);
}

#[test]
fn a_server_that_never_answers_times_out_during_headers() {
    let s = Server::fixed(Reply::Silent);
    let sample = once(&http(&s.url(), "    timeout: 1s\n    retries: 0\n"));
    assert_eq!(sample.health, Health::Down);
    assert_eq!(sample.detail, "timeout after 1s during headers");
}

#[test]
fn a_trickling_body_hits_the_one_deadline() {
    let s = Server::fixed(Reply::Trickle);
    let sample = once(&http(&s.url(), "    timeout: 1s\n    retries: 0\n"));
    assert_eq!(sample.health, Health::Down);
    assert_eq!(sample.detail, "timeout after 1s during body");
    assert_eq!(sample.http_status, None);
    within_its_deadline(&sample, 1000.0);
}

#[test]
fn a_closed_connection_is_named() {
    let s = Server::fixed(Reply::Close);
    let sample = once(&http(&s.url(), "    retries: 0\n"));
    assert_eq!(sample.health, Health::Down);
    assert_eq!(
        sample.detail,
        "connection closed before the response headers"
    );
}

#[test]
fn a_50_mb_body_is_read_only_up_to_the_cap() {
    let s = Server::fixed(Reply::Big(50 * 1024 * 1024));
    let sample = once(&http(
        &s.url(),
        "    timeout: 5s\n    body_contains: aaaa\n",
    ));
    assert_eq!(sample.health, Health::Up, "{}", sample.detail);
    // Reading stopped at the cap (1 MiB by default), not at the end of the 50 MB.
    let read = sample.conn.as_ref().map_or(0, |c| c.bytes_read);
    assert!(read <= 2 * 1024 * 1024, "read {read} bytes");
}

#[test]
fn body_contains_failure_is_down() {
    let s = Server::fixed(Reply::Status(200, "maintenance page".into()));
    let sample = once(&http(
        &s.url(),
        "    retries: 0\n    body_contains: Welcome\n",
    ));
    assert_eq!(sample.health, Health::Down);
    assert_eq!(
        sample.detail,
        "HTTP 200, but the body does not contain \"Welcome\" (read 16 bytes)"
    );
}

#[test]
fn slow_answers_are_degraded() {
    let s = Server::fixed(Reply::Delay(Duration::from_millis(300)));
    let sample = once(&http(&s.url(), "    degraded_after: 100ms\n"));
    assert_eq!(sample.health, Health::Degraded);
    assert!(sample.detail.starts_with("slow: 3"), "{}", sample.detail);
    assert!(
        sample.detail.ends_with("> 100ms (HTTP 200 in ")
            || sample.detail.contains("> 100ms (HTTP 200 in "),
        "{}",
        sample.detail
    );
}

#[test]
fn redirects_are_followed_and_loops_detected() {
    let s = Server::start(|_, head| {
        if head.starts_with("GET /a ") {
            Reply::Redirect(302, "/b".into())
        } else if head.starts_with("GET /b ") {
            Reply::Redirect(301, "/a".into())
        } else if head.starts_with("GET /start ") {
            Reply::Redirect(307, "/end".into())
        } else {
            Reply::Status(200, "end".into())
        }
    });
    let sample = once(&http(&format!("{}/a", s.url()), "    retries: 0\n"));
    assert_eq!(sample.health, Health::Down);
    assert_eq!(
        sample.detail,
        "redirect loop: /a was already visited (after 2 redirects)"
    );
    let sample = once(&http(&format!("{}/start", s.url()), ""));
    assert_eq!(sample.health, Health::Up, "{}", sample.detail);
    let sample = once(&http(
        &format!("{}/start", s.url()),
        "    follow_redirects: false\n    expect_status: [307]\n",
    ));
    assert_eq!(sample.health, Health::Up, "{}", sample.detail);
    assert_eq!(sample.http_status, Some(307));
}

#[test]
fn too_many_redirects_are_down() {
    let s = Server::start(|n, _| Reply::Redirect(302, format!("/hop{n}")));
    let sample = once(&http(&s.url(), "    retries: 0\n    max_redirects: 3\n"));
    assert_eq!(sample.health, Health::Down);
    assert_eq!(
        sample.detail,
        "too many redirects (more than 3); the last answer was HTTP 302"
    );
}

#[test]
fn post_with_secret_header_resolves_env_and_keeps_it_out_of_state() {
    let seen = Arc::new(Mutex::new(String::new()));
    let s = {
        let seen = seen.clone();
        Server::start(move |_, head| {
            *seen.lock().unwrap() = head.to_string();
            Reply::Status(204, String::new())
        })
    };
    let t = project_with(
        &format!(
            "  - id: p\n    components: [web]\n    kind: http\n    method: POST\n    url: {}/login?key=${{PHAROS_TEST_KEY}}\n    body: hello\n    expect_status: [2xx]\n    headers:\n      Authorization: Bearer ${{PHAROS_TEST_TOKEN}}\n",
            s.url()
        ),
        &["r1"],
    );
    let out = t
        .cmd(&["probe", "--once", "--region", "r1"])
        .env("PHAROS_TEST_TOKEN", "tok-s3cr3t")
        .env("PHAROS_TEST_KEY", "key-s3cr3t")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let head = seen.lock().unwrap().clone();
    assert!(
        head.starts_with("POST /login?key=key-s3cr3t HTTP/1.1"),
        "{head}"
    );
    assert!(head.contains("authorization: Bearer tok-s3cr3t"), "{head}");
    assert!(head.contains("user-agent: pharos/"), "{head}");
    let state = crate::harness::state_text(&t, "r1");
    assert!(
        !state.contains("s3cr3t"),
        "a secret reached the state file: {state}"
    );
    assert!(state.contains("${PHAROS_TEST_KEY}"));
}

#[test]
fn a_missing_secret_stops_the_worker_naming_it() {
    let t = project_with(
        "  - id: p\n    components: [web]\n    kind: http\n    url: http://127.0.0.1:9/?t=${PHAROS_UNSET_TOKEN}\n",
        &["r1"],
    );
    let out = t
        .cmd(&["probe", "--once", "--region", "r1"])
        .env_remove("PHAROS_UNSET_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("environment variable(s) that are not set: PHAROS_UNSET_TOKEN; export them"),
        "{}",
        stderr(&out)
    );
    assert!(
        !t.path().join("state/r1").exists(),
        "nothing half-done is written"
    );
}

#[test]
fn tcp_connect_up_and_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sample = once(&format!(
        "    kind: tcp\n    host: 127.0.0.1\n    port: {port}\n"
    ));
    assert_eq!(sample.health, Health::Up, "{}", sample.detail);
    assert!(
        sample
            .detail
            .starts_with(&format!("connected to 127.0.0.1:{port} in ")),
        "{}",
        sample.detail
    );
    drop(listener);
    let sample = once(&format!(
        "    kind: tcp\n    host: 127.0.0.1\n    port: {port}\n    retries: 0\n"
    ));
    assert_eq!(sample.health, Health::Down);
    assert_eq!(sample.detail, format!("connect refused (127.0.0.1:{port})"));
}

#[test]
fn an_unknown_region_is_refused() {
    let t = project_with(
        "  - id: p\n    components: [web]\n    kind: tcp\n    host: 127.0.0.1\n    port: 9\n",
        &["r1"],
    );
    let out = t.run(&["probe", "--once", "--region", "mars"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("region \"mars\" is not listed in probes.yaml; use one of: r1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn configured_headers_replace_defaults_and_stay_with_their_origin() {
    let other_seen = Arc::new(Mutex::new(String::new()));
    let other = {
        let seen = other_seen.clone();
        Server::start(move |_, head| {
            *seen.lock().unwrap() = head.to_string();
            Reply::Status(200, "ok".into())
        })
    };
    let first_seen = Arc::new(Mutex::new(String::new()));
    let target = format!("{}/landing", other.url());
    let first = {
        let seen = first_seen.clone();
        Server::start(move |_, head| {
            *seen.lock().unwrap() = head.to_string();
            Reply::Redirect(302, target.clone())
        })
    };
    let sample = once(&http(
        &first.url(),
        "    headers:\n      Host: backend.internal\n      Authorization: Bearer sekrit-token\n",
    ));
    assert_eq!(sample.health, Health::Up, "{}", sample.detail);
    let head = first_seen.lock().unwrap().to_lowercase();
    assert_eq!(head.matches("host:").count(), 1, "one Host header: {head}");
    assert!(head.contains("host: backend.internal"), "{head}");
    assert!(
        head.contains("authorization: bearer sekrit-token"),
        "{head}"
    );
    let head = other_seen.lock().unwrap().to_lowercase();
    assert!(head.starts_with("get /landing "), "{head}");
    assert!(
        !head.contains("authorization"),
        "credentials followed a redirect to another origin: {head}"
    );
    assert!(!head.contains("backend.internal"), "{head}");
}

/// A TCP server that sends `banner` on connect and answers "PING" lines with "+PONG".
fn banner_server(banner: &'static str) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = stream.write_all(banner.as_bytes());
                let Ok(reader) = stream.try_clone() else {
                    return;
                };
                for line in BufReader::new(reader).lines() {
                    let Ok(line) = line else { return };
                    if line.trim() == "PING" {
                        let _ = stream.write_all(b"+PONG\r\n");
                    }
                }
            });
        }
    });
    port
}

#[test]
fn tcp_expect_matches_a_banner_or_says_what_came() {
    let port = banner_server("SSH-2.0-OpenSSH_9.2\r\n");
    let tcp = |extra: &str| {
        format!("    kind: tcp\n    host: 127.0.0.1\n    port: {port}\n    retries: 0\n{extra}")
    };
    let sample = once(&tcp("    expect: \"^SSH-2\\\\.0\"\n"));
    assert_eq!(sample.health, Health::Up, "{}", sample.detail);
    assert!(
        sample
            .detail
            .ends_with(", answer \"SSH-2.0-OpenSSH_9.2\" matches /^SSH-2\\.0/"),
        "{}",
        sample.detail
    );
    let sample = once(&tcp("    expect: \"^220 \"\n    timeout: 1s\n"));
    assert_eq!(sample.health, Health::Down);
    assert_eq!(sample.detail, "timeout after 1s during expect");
    let sample = once(&tcp(
        "    send: \"PING\\r\\n\"\n    expect: \"\\\\+PONG\"\n",
    ));
    assert_eq!(sample.health, Health::Up, "{}", sample.detail);
}

#[test]
fn tcp_with_tls_on_connect() {
    let pki = crate::harness::Pki::new();
    let server = crate::harness::TlsServer::start(
        pki.leaf(&["pharos.test"], rcgen::date_time_ymd(2099, 1, 1)),
        false,
    );
    let t = project_with(
        &format!(
            "  - id: p\n    components: [web]\n    retries: 0\n    kind: tcp\n    host: 127.0.0.1\n    port: {}\n    tls: true\n    tls_server_name: pharos.test\n    tls_ca_file: ca.pem\n    send: \"GET / HTTP/1.0\\r\\n\\r\\n\"\n    expect: \"^HTTP/1\\\\.1 200\"\n",
            server.port
        ),
        &["r1"],
    );
    t.write("ca.pem", &pki.ca_pem);
    let out = t.run(&["probe", "--once", "--region", "r1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = crate::harness::state_of(&t, "r1").unwrap().probes["p"]
        .last
        .clone();
    assert_eq!(s.health, Health::Up, "{}", s.detail);
    assert!(s.cert.unwrap().valid);
    assert_eq!(s.conn.unwrap().tls_version.as_deref(), Some("TLSv1.3"));
}

#[test]
fn a_name_resolves_and_every_address_is_tried() {
    // localhost has ::1 and 127.0.0.1; the server listens on IPv4 only.
    let s = Server::fixed(Reply::Status(200, "ok".into()));
    let sample = once(&http(
        &format!("http://localhost:{}/", s.port),
        "    retries: 0\n",
    ));
    assert_eq!(sample.health, Health::Up, "{}", sample.detail);
    assert_eq!(sample.conn.unwrap().ip.as_deref(), Some("127.0.0.1"));
    let sample = once(&http(
        &format!("http://localhost:{}/", s.port),
        "    retries: 0\n    ip_version: ip6\n",
    ));
    assert_eq!(sample.health, Health::Down, "{}", sample.detail);
    assert_eq!(sample.detail, format!("connect refused ([::1]:{})", s.port));
}

#[test]
fn a_failure_is_dated_at_its_first_attempt_not_its_last_recheck() {
    // A closed port: refused at once, re-checked after retry_delay (1 s).
    let port = free_port();
    let t = project_with(
        &format!(
            "  - id: p\n    kind: tcp\n    host: 127.0.0.1\n    port: {port}\n    components: [web]\n    retries: 1\n    retry_delay: 1s\n"
        ),
        &["r1"],
    );
    let out = t.run(&["probe", "--region", "r1", "--once"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let state = crate::harness::state_of(&t, "r1").unwrap();
    let p = &state.probes["p"];
    assert_eq!(p.last.health, Health::Down);
    assert_eq!(p.last.attempts, 2);
    // The state was written after the re-check, which came at least retry_delay after
    // the first attempt: dated at the first, the sample is at least that old.
    assert!(
        state.written_at - p.last.at >= chrono::Duration::seconds(1),
        "sample at {}, written at {}",
        p.last.at,
        state.written_at
    );
}
