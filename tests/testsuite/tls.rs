//! TLS: certificates the test makes (rcgen) on servers it runs, through https probes and
//! the `tls` kind: expired, self-signed, another host's, close to expiry, STARTTLS.

use pharos::state::{Health, Sample};

use crate::harness::{Pki, TlsServer, days_from_now, project_with, self_signed, stderr};

/// Run one probe once in region r1 with `ca` written as ca.pem; return its sample.
fn once(item: &str, ca: Option<&str>) -> Sample {
    let t = project_with(
        &format!("  - id: p\n    components: [web]\n    retries: 0\n{item}"),
        &["r1"],
    );
    if let Some(pem) = ca {
        t.write("ca.pem", pem);
    }
    let out = t.run(&["probe", "--once", "--region", "r1"]);
    assert!(out.status.success(), "probe failed: {}", stderr(&out));
    let state = crate::harness::state_of(&t, "r1").unwrap();
    state.probes["p"].last.clone()
}

fn https(port: u16, extra: &str) -> String {
    format!(
        "    kind: http\n    url: https://127.0.0.1:{port}/\n    tls_server_name: pharos.test\n{extra}"
    )
}

#[test]
fn https_with_a_private_ca_is_up_and_records_the_chain() {
    let pki = Pki::new();
    let server = TlsServer::start(
        pki.leaf(&["pharos.test"], rcgen::date_time_ymd(2099, 1, 1)),
        false,
    );
    let s = once(
        &https(server.port, "    tls_ca_file: ca.pem\n"),
        Some(&pki.ca_pem),
    );
    assert_eq!(s.health, Health::Up, "{}", s.detail);
    let cert = s.cert.expect("certificate facts");
    assert!(cert.valid);
    assert_eq!(
        cert.leaf_not_after.format("%Y-%m-%d").to_string(),
        "2099-01-01"
    );
    assert!(cert.subject.contains("pharos.test"), "{}", cert.subject);
    assert!(cert.issuer.contains("Pharos Test CA"), "{}", cert.issuer);
    let conn = s.conn.unwrap();
    assert_eq!(conn.tls_version.as_deref(), Some("TLSv1.3"));
    assert_eq!(conn.http_version.as_deref(), Some("HTTP/1.1"));
    assert_eq!(conn.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(conn.ip_family, Some(4));
    assert!(s.phases.unwrap().tls_ms > 0.0);
}

#[test]
fn an_expired_certificate_is_down_with_its_expiry() {
    let pki = Pki::new();
    let server = TlsServer::start(
        pki.leaf(&["pharos.test"], rcgen::date_time_ymd(2021, 6, 1)),
        false,
    );
    let s = once(
        &https(server.port, "    tls_ca_file: ca.pem\n"),
        Some(&pki.ca_pem),
    );
    assert_eq!(s.health, Health::Down);
    assert_eq!(s.detail, "tls: certificate expired");
    let cert = s
        .cert
        .expect("facts are recorded even when verification fails");
    assert!(!cert.valid);
    assert_eq!(cert.reason.as_deref(), Some("certificate expired"));
    assert_eq!(
        cert.leaf_not_after.format("%Y-%m-%d").to_string(),
        "2021-06-01"
    );
}

#[test]
fn a_self_signed_certificate_is_down_unless_skip_verify() {
    let server = TlsServer::start(self_signed(&["pharos.test"]), false);
    let s = once(&https(server.port, ""), None);
    assert_eq!(s.health, Health::Down);
    assert_eq!(
        s.detail,
        "tls: certificate signed by an unknown issuer (self-signed, or an intermediate is missing)"
    );
    let s = once(&https(server.port, "    tls_skip_verify: true\n"), None);
    assert_eq!(s.health, Health::Up, "{}", s.detail);
    let cert = s.cert.unwrap();
    assert!(
        !cert.valid,
        "skip_verify accepts, but the facts stay honest"
    );
    assert!(cert.reason.unwrap().contains("unknown issuer"));
}

#[test]
fn a_certificate_for_another_host_is_down() {
    let pki = Pki::new();
    let server = TlsServer::start(
        pki.leaf(&["other.test"], rcgen::date_time_ymd(2099, 1, 1)),
        false,
    );
    let s = once(
        &https(server.port, "    tls_ca_file: ca.pem\n"),
        Some(&pki.ca_pem),
    );
    assert_eq!(s.health, Health::Down);
    assert_eq!(s.detail, "tls: certificate is not valid for pharos.test");
}

fn tls_probe(port: u16, extra: &str) -> String {
    format!(
        "    kind: tls\n    host: 127.0.0.1\n    port: {port}\n    tls_server_name: pharos.test\n    tls_ca_file: ca.pem\n{extra}"
    )
}

#[test]
fn the_tls_kind_grades_days_to_expiry() {
    let pki = Pki::new();
    let far = TlsServer::start(pki.leaf(&["pharos.test"], days_from_now(200)), false);
    let s = once(&tls_probe(far.port, ""), Some(&pki.ca_pem));
    assert_eq!(s.health, Health::Up, "{}", s.detail);
    assert!(
        s.detail
            .starts_with("certificate valid for 200 more days, until "),
        "{}",
        s.detail
    );

    let soon = TlsServer::start(pki.leaf(&["pharos.test"], days_from_now(10)), false);
    let s = once(&tls_probe(soon.port, ""), Some(&pki.ca_pem));
    assert_eq!(s.health, Health::Degraded, "{}", s.detail);
    assert!(
        s.detail
            .starts_with("the certificate expires in 10 days, on "),
        "{}",
        s.detail
    );
    assert!(s.detail.ends_with("(warn_days 21)"), "{}", s.detail);

    let s = once(
        &tls_probe(soon.port, "    warn_days: 30\n    crit_days: 14\n"),
        Some(&pki.ca_pem),
    );
    assert_eq!(s.health, Health::Down, "{}", s.detail);
    assert!(s.detail.ends_with("(crit_days 14)"), "{}", s.detail);
}

#[test]
fn the_tls_kind_speaks_smtp_starttls() {
    let pki = Pki::new();
    let server = TlsServer::start(pki.leaf(&["pharos.test"], days_from_now(90)), true);
    let s = once(
        &tls_probe(server.port, "    starttls: smtp\n"),
        Some(&pki.ca_pem),
    );
    assert_eq!(s.health, Health::Up, "{}", s.detail);
    assert!(s.cert.unwrap().valid);
    // Without STARTTLS the same port answers with a greeting, not a handshake.
    let s = once(
        &tls_probe(server.port, "    timeout: 2s\n"),
        Some(&pki.ca_pem),
    );
    assert_eq!(s.health, Health::Down, "{}", s.detail);
}

#[test]
fn a_missing_ca_file_stops_the_worker_naming_it() {
    let t = project_with(
        "  - id: p\n    components: [web]\n    kind: tls\n    host: 127.0.0.1\n    tls_ca_file: nowhere.pem\n",
        &["r1"],
    );
    let out = t.run(&["probe", "--once", "--region", "r1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("probe \"p\": reading CA file"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("nowhere.pem"), "{}", stderr(&out));
}
