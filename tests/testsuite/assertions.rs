//! The assertion language through real checks, and its errors through `pharos check`.

use std::net::TcpListener;
use std::time::Duration;

use pharos::state::{Health, Sample};

use crate::harness::{
    DnsReply, DnsServer, Pki, Reply, Server, TlsServer, days_from_now, project_with, stderr, stdout,
};

const JSON: &str = r#"{"status": "UP", "items": [1, 2], "count": "abc", "nested": {"ok": true}}"#;

fn once(item: &str) -> Sample {
    let t = project_with(
        &format!("  - id: p\n    components: [web]\n    retries: 0\n{item}"),
        &["r1"],
    );
    let out = t.run(&["probe", "--once", "--region", "r1"]);
    assert!(out.status.success(), "probe failed: {}", stderr(&out));
    crate::harness::state_of(&t, "r1").unwrap().probes["p"]
        .last
        .clone()
}

fn json_server() -> Server {
    Server::fixed(Reply::Status(200, JSON.into()))
}

fn http(url: &str, assertions: &str) -> String {
    format!("    kind: http\n    url: {url}\n    assertions:\n{assertions}")
}

#[test]
fn passing_assertions_keep_the_check_up() {
    let s = json_server();
    let sample = once(&http(
        &s.url(),
        "      - json.status == \"UP\"\n      - len(json.items) > 0\n      - json.nested.ok == true\n      - json.items[1] == 2\n      - status in [200, 204]\n      - body matches re(\"\\\"count\\\"\")\n      - response_time < 5s\n      - connected == true\n",
    ));
    assert_eq!(sample.health, Health::Up, "{}", sample.detail);
}

#[test]
fn a_failing_assertion_says_what_was_found() {
    let s = json_server();
    let sample = once(&http(&s.url(), "      - json.status == \"DOWN\"\n"));
    assert_eq!(sample.health, Health::Down);
    assert!(
        sample.detail.starts_with(
            "assertion failed: json.status == \"DOWN\" (json.status is \"UP\"); HTTP 200 in "
        ),
        "{}",
        sample.detail
    );

    let sample = once(&http(&s.url(), "      - json.count > 3\n"));
    assert_eq!(sample.health, Health::Down);
    assert!(
        sample
            .detail
            .starts_with("assertion failed: json.count > 3 (json.count is \"abc\", not a number)"),
        "{}",
        sample.detail
    );

    let sample = once(&http(&s.url(), "      - json.missing.deep == 1\n"));
    assert!(
        sample.detail.starts_with(
            "assertion failed: json.missing.deep == 1 (json.missing is not in the JSON body)"
        ),
        "{}",
        sample.detail
    );

    let sample = once(&http(
        &s.url(),
        "      - header.x-served-by contains \"edge\"\n",
    ));
    assert!(sample.detail.starts_with("assertion failed: header.x-served-by contains \"edge\" (the response has no x-served-by header)"), "{}", sample.detail);
}

#[test]
fn a_degraded_only_assertion_warns() {
    let s = Server::fixed(Reply::Delay(Duration::from_millis(60)));
    let sample = once(&http(
        &s.url(),
        "      - {assert: \"response_time < 20ms\", degraded: true}\n      - status == 200\n",
    ));
    assert_eq!(sample.health, Health::Degraded, "{}", sample.detail);
    assert!(
        sample
            .detail
            .starts_with("warning: response_time < 20ms (response_time is "),
        "{}",
        sample.detail
    );
}

#[test]
fn assertions_work_for_other_kinds() {
    let dns = DnsServer::start(|_| DnsReply::Addresses(vec!["192.0.2.7"]));
    let sample = once(&format!(
        "    kind: dns\n    server: 127.0.0.1:{}\n    name: a.test\n    record_type: A\n    assertions:\n      - dns.rcode == NOERROR\n      - dns.answers contains \"192.0.2.7\"\n      - {{assert: \"dns.answers contains \\\"192.0.2.8\\\"\", degraded: true}}\n",
        dns.port
    ));
    assert_eq!(sample.health, Health::Degraded, "{}", sample.detail);
    assert!(
        sample.detail.starts_with(
            "warning: dns.answers contains \"192.0.2.8\" (dns.answers is [\"192.0.2.7\"])"
        ),
        "{}",
        sample.detail
    );

    // A plugin's perfdata and exit code.
    if !crate::harness::needs(&[crate::harness::Part::Plugins]) {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sample = once(&format!(
        "    kind: command\n    command: [/usr/lib/nagios/plugins/check_tcp, -H, 127.0.0.1, -p, \"{port}\"]\n    assertions:\n      - perf.time < 10s\n      - exit_code == 0\n"
    ));
    assert_eq!(sample.health, Health::Up, "{}", sample.detail);
}

#[test]
fn assertion_errors_point_at_the_column_in_probes_yaml() {
    let t = project_with(
        "  - id: p\n    components: [web]\n    kind: http\n    url: https://x.test/\n    assertions:\n      - body < 3\n      - \"status == 'ok'\"\n      - response_time < 300\n      - {assert: \"stauts == 200\", degraded: true}\n\
         \x20 - id: q\n    components: [web]\n    kind: tcp\n    host: db\n    port: 5432\n    assertions:\n      - status == 200\n",
        &["r1"],
    );
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stdout(&out),
        "probes.yaml:9:9: probe \"p\" (probes[0]): assertion \"body < 3\": `<` compares numbers, but this is text\n\
         probes.yaml:10:17: probe \"p\" (probes[0]): assertion \"status == 'ok'\": this compares a number with text; it can never be equal\n\
         probes.yaml:11:25: probe \"p\" (probes[0]): assertion \"response_time < 300\": a duration needs a unit: write e.g. 300ms, 2s or 14d\n\
         probes.yaml:12:19: probe \"p\" (probes[0]): assertion \"stauts == 200\": unknown field \"stauts\", did you mean \"status\"?\n\
         probes.yaml:19:9: probe \"q\" (probes[1]): assertion \"status == 200\": a tcp probe does not observe `status`\n"
    );
}

#[test]
fn cert_assertions_apply_to_a_tcp_probe_that_speaks_tls() {
    // With `tls: true` a tcp check records the certificate, so `cert.*` may be asserted.
    let probe = |tls: &str| {
        format!(
            "  - id: p\n    components: [web]\n    kind: tcp\n    host: db\n    port: 5432\n{tls}    assertions:\n      - cert.expires_in > 14d\n"
        )
    };
    let out = project_with(&probe("    tls: true\n"), &["r1"]).run(&["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // Without TLS there is no certificate to assert on.
    let out = project_with(&probe(""), &["r1"]).run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stdout(&out),
        "probes.yaml:10:9: probe \"p\" (probes[0]): assertion \"cert.expires_in > 14d\": a tcp probe does not observe `cert`\n"
    );

    // And the check evaluates them on the certificate it saw.
    let pki = Pki::new();
    let server = TlsServer::start(pki.leaf(&["pharos.test"], days_from_now(200)), false);
    let tcp_tls = |assertions: &str| {
        let t = project_with(
            &format!(
                "  - id: p\n    components: [web]\n    retries: 0\n    kind: tcp\n    host: 127.0.0.1\n    port: {}\n    tls: true\n    tls_server_name: pharos.test\n    tls_ca_file: ca.pem\n    assertions:\n{assertions}",
                server.port
            ),
            &["r1"],
        );
        t.write("ca.pem", &pki.ca_pem);
        let out = t.run(&["probe", "--once", "--region", "r1"]);
        assert!(out.status.success(), "probe failed: {}", stderr(&out));
        crate::harness::state_of(&t, "r1").unwrap().probes["p"]
            .last
            .clone()
    };
    let sample = tcp_tls(
        "      - cert.expires_in > 14d\n      - cert.valid == true\n      - cert.subject contains \"pharos.test\"\n",
    );
    assert_eq!(sample.health, Health::Up, "{}", sample.detail);
    let sample = tcp_tls("      - cert.expires_in > 300d\n");
    assert_eq!(sample.health, Health::Down);
    assert!(
        sample
            .detail
            .starts_with("assertion failed: cert.expires_in > 300d (cert.expires_in is "),
        "{}",
        sample.detail
    );
}
