//! The DNS kind against a DNS server the test runs on 127.0.0.1: answers, NXDOMAIN,
//! SERVFAIL, a server that never answers, truncation and TCP.

use hickory_proto::op::ResponseCode;
use pharos::state::{Health, Sample};

use crate::harness::{DnsReply, DnsServer, project_with, stderr};

fn once(item: &str) -> Sample {
    let t = project_with(
        &format!("  - id: p\n    components: [web]\n    retries: 0\n    kind: dns\n{item}"),
        &["r1"],
    );
    let out = t.run(&["probe", "--once", "--region", "r1"]);
    assert!(out.status.success(), "probe failed: {}", stderr(&out));
    let state = crate::harness::state_of(&t, "r1").unwrap();
    state.probes["p"].last.clone()
}

fn server() -> DnsServer {
    DnsServer::start(|name| match name {
        "www.pharos.test." => DnsReply::Addresses(vec!["192.0.2.10", "192.0.2.11"]),
        "broken.pharos.test." => DnsReply::Rcode(ResponseCode::ServFail),
        "big.pharos.test." => DnsReply::Truncated(vec!["192.0.2.20"]),
        _ => DnsReply::Rcode(ResponseCode::NXDomain),
    })
}

fn query(port: u16, name: &str, extra: &str) -> String {
    format!("    server: 127.0.0.1:{port}\n    name: {name}\n    record_type: A\n{extra}")
}

#[test]
fn answers_are_recorded_and_checked() {
    let s = server();
    let sample = once(&query(
        s.port,
        "www.pharos.test",
        "    expect_answers: [192.0.2.11, \"/^192\\\\.0\\\\.2\\\\./\"]\n",
    ));
    assert_eq!(sample.health, Health::Up, "{}", sample.detail);
    assert!(
        sample.detail.starts_with("NOERROR in "),
        "{}",
        sample.detail
    );
    assert!(
        sample.detail.ends_with(": 192.0.2.10, 192.0.2.11"),
        "{}",
        sample.detail
    );
    let dns = sample.dns.unwrap();
    assert_eq!(dns.rcode, "NOERROR");
    assert_eq!(dns.answers, vec!["300 A 192.0.2.10", "300 A 192.0.2.11"]);
    assert!(dns.authoritative);
    assert_eq!(dns.transport, "udp");

    let sample = once(&query(
        s.port,
        "www.pharos.test",
        "    expect_answers: [192.0.2.99]\n",
    ));
    assert_eq!(sample.health, Health::Down);
    assert_eq!(
        sample.detail,
        "expected answer 192.0.2.99 not found; got 192.0.2.10, 192.0.2.11"
    );
}

#[test]
fn nxdomain_and_servfail_are_down_with_the_rcode() {
    let s = server();
    let sample = once(&query(s.port, "nope.pharos.test", ""));
    assert_eq!(sample.health, Health::Down);
    assert_eq!(
        sample.detail,
        "NXDOMAIN for nope.pharos.test. A (expected NOERROR)"
    );
    assert_eq!(sample.dns.unwrap().rcode, "NXDOMAIN");
    let sample = once(&query(s.port, "broken.pharos.test", ""));
    assert_eq!(sample.health, Health::Down);
    assert_eq!(
        sample.detail,
        "SERVFAIL for broken.pharos.test. A (expected NOERROR)"
    );
    // A check that a name does not exist.
    let sample = once(&query(
        s.port,
        "gone.pharos.test",
        "    expect_rcode: [NXDOMAIN]\n",
    ));
    assert_eq!(sample.health, Health::Up, "{}", sample.detail);
}

#[test]
fn a_server_that_never_answers_times_out() {
    let s = DnsServer::start(|_| DnsReply::Silent);
    let sample = once(&query(s.port, "www.pharos.test", "    timeout: 1s\n"));
    assert_eq!(sample.health, Health::Down);
    assert_eq!(
        sample.detail,
        format!(
            "timeout after 1s during query (127.0.0.1:{} did not answer)",
            s.port
        )
    );
    crate::probe::within_its_deadline(&sample, 1000.0);
}

#[test]
fn a_truncated_answer_is_asked_again_over_tcp() {
    let s = server();
    let sample = once(&query(
        s.port,
        "big.pharos.test",
        "    expect_answers: [192.0.2.20]\n",
    ));
    assert_eq!(sample.health, Health::Up, "{}", sample.detail);
    let dns = sample.dns.unwrap();
    assert!(dns.truncated);
    assert_eq!(dns.transport, "tcp");
    let sample = once(&query(s.port, "www.pharos.test", "    transport: tcp\n"));
    assert_eq!(sample.health, Health::Up, "{}", sample.detail);
    assert_eq!(sample.dns.unwrap().transport, "tcp");
}

#[test]
fn dns_settings_are_validated() {
    let t = project_with(
        "  - id: p\n    components: [web]\n    kind: dns\n    server: 127.0.0.1\n    name: x.test\n    record_type: ANY\n    expect_rcode: [NOERR]\n    expect_answers: [\"/(/\"]\n",
        &["r1"],
    );
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    let text = crate::harness::stdout(&out);
    assert!(
        text.contains("probes.yaml:9:18: probe \"p\" (probes[0]): record_type ANY is not allowed"),
        "{text}"
    );
    assert!(text.contains("probes.yaml:10:20: probe \"p\" (probes[0]): \"NOERR\" is not a response code; use NOERROR,"), "{text}");
    assert!(
        text.contains("probes.yaml:11:22: probe \"p\" (probes[0]): invalid pattern /(/: "),
        "{text}"
    );
}
