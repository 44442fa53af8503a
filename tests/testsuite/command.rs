//! The command kind with the real plugins of Debian's monitoring-plugins package, and
//! with small scripts for what plugins do wrong: hang, spawn children, flood output.

use std::net::TcpListener;
use std::time::Duration;

use pharos::state::{Health, Sample};

use crate::harness::{DnsReply, DnsServer, ProjectTest, Reply, Server, project_with, stderr};

const PLUGINS: &str = "/usr/lib/nagios/plugins";

fn run(t: &ProjectTest) -> Sample {
    let out = t.run(&["probe", "--once", "--region", "r1"]);
    assert!(out.status.success(), "probe failed: {}", stderr(&out));
    let state = crate::harness::state_of(t, "r1").unwrap();
    state.probes["p"].last.clone()
}

fn project(argv: &[&str], extra: &str) -> ProjectTest {
    let argv: Vec<String> = argv
        .iter()
        .map(|a| format!("\"{}\"", a.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    project_with(
        &format!(
            "  - id: p\n    components: [web]\n    retries: 0\n    kind: command\n    command: [{}]\n{extra}",
            argv.join(", ")
        ),
        &["r1"],
    )
}

fn once(argv: &[&str], extra: &str) -> Sample {
    let t = project(argv, extra);
    run(&t)
}

fn plugin(name: &str) -> String {
    let path = format!("{PLUGINS}/{name}");
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} is missing: install Debian's monitoring-plugins-basic and -standard (.ci/run does)"
    );
    path
}

#[test]
fn check_dummy_exit_codes_map_to_health() {
    if !crate::harness::needs(&[crate::harness::Part::Plugins]) {
        return;
    }
    let dummy = plugin("check_dummy");
    for (code, health, detail) in [
        ("0", Health::Up, "OK: all good"),
        ("1", Health::Degraded, "WARNING: all good"),
        ("2", Health::Down, "CRITICAL: all good"),
        ("3", Health::Unknown, "exit code 3: UNKNOWN: all good"),
    ] {
        let s = once(&[&dummy, code, "all good"], "");
        assert_eq!(s.health, health, "exit {code}: {}", s.detail);
        assert_eq!(s.detail, detail);
        assert_eq!(s.plugin.unwrap().exit_code, Some(code.parse().unwrap()));
    }
}

#[test]
fn check_tcp_reports_perfdata_and_refusals() {
    if !crate::harness::needs(&[crate::harness::Part::Plugins]) {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let s = once(&[&plugin("check_tcp"), "-H", "127.0.0.1", "-p", &port], "");
    assert_eq!(s.health, Health::Up, "{}", s.detail);
    assert!(s.detail.starts_with("TCP OK"), "{}", s.detail);
    let perf = s.plugin.unwrap().perfdata;
    assert_eq!(perf[0].label, "time");
    assert_eq!(perf[0].uom, "s");
    drop(listener);
    let s = once(&[&plugin("check_tcp"), "-H", "127.0.0.1", "-p", &port], "");
    assert_eq!(s.health, Health::Down, "{}", s.detail);
    assert!(s.detail.contains("Connection refused"), "{}", s.detail);
}

#[test]
fn check_http_against_a_local_server() {
    if !crate::harness::needs(&[crate::harness::Part::Plugins]) {
        return;
    }
    let ok = Server::fixed(Reply::Status(200, "hello".into()));
    let s = once(
        &[
            &plugin("check_http"),
            "-H",
            "127.0.0.1",
            "-p",
            &ok.port.to_string(),
            "-u",
            "/",
            "-s",
            "hello",
        ],
        "",
    );
    assert_eq!(s.health, Health::Up, "{}", s.detail);
    assert!(s.detail.starts_with("HTTP OK"), "{}", s.detail);
    let labels: Vec<String> = s
        .plugin
        .unwrap()
        .perfdata
        .into_iter()
        .map(|p| p.label)
        .collect();
    assert!(
        labels.contains(&"time".to_string()) && labels.contains(&"size".to_string()),
        "{labels:?}"
    );
    let bad = Server::fixed(Reply::Status(503, "busy".into()));
    let s = once(
        &[
            &plugin("check_http"),
            "-H",
            "127.0.0.1",
            "-p",
            &bad.port.to_string(),
        ],
        "",
    );
    assert_eq!(s.health, Health::Down, "{}", s.detail);
    assert!(s.detail.contains("503"), "{}", s.detail);
}

#[test]
fn check_dns_against_a_local_server() {
    // Root: the server listens on port 53.
    if !crate::harness::needs(&[crate::harness::Part::Plugins, crate::harness::Part::Root]) {
        return;
    }
    // check_dns asks nslookup, which only talks to port 53: the server gets its own address.
    let _s = DnsServer::start_at("127.0.0.77", 53, |name| match name {
        "www.pharos.test." => DnsReply::Addresses(vec!["192.0.2.10"]),
        _ => DnsReply::Rcode(hickory_proto::op::ResponseCode::NXDomain),
    });
    let dns = plugin("check_dns");
    let s = once(
        &[
            &dns,
            "-H",
            "www.pharos.test",
            "-s",
            "127.0.0.77",
            "-a",
            "192.0.2.10",
        ],
        "",
    );
    assert_eq!(s.health, Health::Up, "{}", s.detail);
    assert!(s.detail.starts_with("DNS OK"), "{}", s.detail);
    let s = once(&[&dns, "-H", "nope.pharos.test", "-s", "127.0.0.77"], "");
    assert_eq!(s.health, Health::Down, "{}", s.detail);
}

#[test]
fn a_hanging_plugin_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("child.pid");
    let script = format!("sleep 60 & echo $! > {}; sleep 60", pidfile.display());
    let s = once(&["/bin/sh", "-c", &script], "    timeout: 1s\n");
    assert_eq!(s.health, Health::Down);
    assert_eq!(
        s.detail,
        "timeout after 1s; the plugin and its children were killed"
    );
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Gone, or a zombie waiting for its new parent to reap it: either way not running.
    let state = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    let running = state
        .rsplit_once(')')
        .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'));
    assert!(
        !running,
        "the plugin's child {} outlived the timeout: {state}",
        pid.trim()
    );
    let s = once(
        &["/bin/sh", "-c", "sleep 60"],
        "    timeout: 1s\n    timeout_health: unknown\n",
    );
    assert_eq!(s.health, Health::Unknown);
}

#[test]
fn a_flood_of_output_is_capped_and_never_blocks() {
    let s = once(
        &[
            "/bin/sh",
            "-c",
            "echo 'OK: flood'; head -c 20000000 /dev/zero; exit 0",
        ],
        "    timeout: 10s\n",
    );
    assert_eq!(s.health, Health::Up, "{}", s.detail);
    assert_eq!(s.detail, "OK: flood");
}

#[test]
fn plugins_get_the_probe_context_in_their_environment() {
    let t = project(
        &[
            "/bin/sh",
            "-c",
            "echo \"OK $PHAROS_PROBE_ID in $PHAROS_REGION, before: $PHAROS_PREVIOUS_STATUS, key=$KEY\"",
        ],
        "    env:\n      KEY: ${PHAROS_TEST_PLUGIN_KEY}\n",
    );
    let out = t
        .cmd(&["probe", "--once", "--region", "r1"])
        .env("PHAROS_TEST_PLUGIN_KEY", "k-s3cret")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let state = crate::harness::state_of(&t, "r1").unwrap();
    assert_eq!(
        state.probes["p"].last.detail,
        "OK p in r1, before: none, key=${PHAROS_TEST_PLUGIN_KEY}"
    );
    let out = t
        .cmd(&["probe", "--once", "--region", "r1"])
        .env("PHAROS_TEST_PLUGIN_KEY", "k-s3cret")
        .output()
        .unwrap();
    assert!(out.status.success());
    let state = crate::harness::state_of(&t, "r1").unwrap();
    assert!(
        state.probes["p"].last.detail.contains("before: up"),
        "{}",
        state.probes["p"].last.detail
    );
    assert!(!crate::harness::state_text(&t, "r1").contains("k-s3cret"));
}

#[test]
fn a_missing_plugin_is_unknown_not_down() {
    let s = once(&["/nonexistent/check_thing", "-H", "x"], "");
    assert_eq!(s.health, Health::Unknown);
    assert_eq!(
        s.detail,
        "plugin not found: /nonexistent/check_thing; install it on this prober or fix the path"
    );
}

#[test]
fn a_plugin_that_exits_but_leaves_a_child_behind_is_judged_by_its_exit() {
    let s = once(
        &["/bin/sh", "-c", "sleep 30 & echo 'OK: done'; exit 0"],
        "    timeout: 5s\n",
    );
    assert_eq!(s.health, Health::Up, "{}", s.detail);
    assert_eq!(s.detail, "OK: done");
}

#[test]
fn plugins_do_not_inherit_other_probes_secrets() {
    let t = crate::harness::project_with(
        "  - id: p\n    components: [web]\n    retries: 0\n    kind: command\n    command: [/bin/sh, -c, \"echo OK other=$(printenv OTHER_SECRET || echo unset) mine=$MINE\"]\n    env: {MINE: \"${PHAROS_MINE_SECRET}\"}\n\
         \x20 - id: q\n    components: [web]\n    kind: http\n    url: \"http://127.0.0.1:9/?k=${OTHER_SECRET}\"\n",
        &["r1"],
    );
    let out = t
        .cmd(&["probe", "--once", "--region", "r1"])
        .env("OTHER_SECRET", "other-s3cret")
        .env("PHAROS_MINE_SECRET", "mine-s3cret")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let state = crate::harness::state_of(&t, "r1").unwrap();
    assert_eq!(
        state.probes["p"].last.detail,
        "OK other=unset mine=${PHAROS_MINE_SECRET}"
    );
}
