//! ICMP: echo to 127.0.0.1; to an address that never answers, inside network namespaces
//! the test creates (no traffic leaves them); and as a user not allowed to ping.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use pharos::state::{Health, Sample};

use crate::harness::{ProjectTest, bin, project_with, run_with_limit, stderr};

fn state(t: &ProjectTest) -> Sample {
    crate::harness::state_of(t, "r1").unwrap().probes["p"]
        .last
        .clone()
}

fn icmp(host: &str, extra: &str) -> ProjectTest {
    project_with(
        &format!(
            "  - id: p\n    components: [web]\n    retries: 0\n    kind: icmp\n    host: {host}\n{extra}"
        ),
        &["r1"],
    )
}

#[test]
fn loopback_answers_every_echo() {
    if !crate::harness::needs(&[crate::harness::Part::Root]) {
        return;
    }
    let t = icmp("127.0.0.1", "    count: 3\n");
    let out = t.run(&["probe", "--once", "--region", "r1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = state(&t);
    assert_eq!(s.health, Health::Up, "{}", s.detail);
    assert!(
        s.detail
            .starts_with("3/3 echo replies from 127.0.0.1, rtt min/avg/max "),
        "{}",
        s.detail
    );
    let info = s.icmp.unwrap();
    assert_eq!((info.sent, info.received, info.loss_pct), (3, 3, 0.0));
    assert!(info.rtt_min_ms.unwrap() <= info.rtt_max_ms.unwrap());
}

/// Two namespaces joined by a veth pair: `a` (10.231.0.1) runs the prober, `b`
/// (10.231.0.2) ignores echo requests. Removed on drop.
struct Namespaces {
    a: String,
    b: String,
}

impl Namespaces {
    fn new() -> Namespaces {
        let id = std::process::id();
        let (a, b) = (format!("pharos-a-{id}"), format!("pharos-b-{id}"));
        let (va, vb) = (format!("pha{id}"), format!("phb{id}"));
        let ns = Namespaces {
            a: a.clone(),
            b: b.clone(),
        };
        for args in [
            vec!["netns", "add", &a],
            vec!["netns", "add", &b],
            vec!["link", "add", &va, "type", "veth", "peer", "name", &vb],
            vec!["link", "set", &va, "netns", &a],
            vec!["link", "set", &vb, "netns", &b],
            vec!["-n", &a, "addr", "add", "10.231.0.1/30", "dev", &va],
            vec!["-n", &b, "addr", "add", "10.231.0.2/30", "dev", &vb],
            vec!["-n", &a, "link", "set", &va, "up"],
            vec!["-n", &b, "link", "set", &vb, "up"],
            vec!["-n", &a, "link", "set", "lo", "up"],
            vec!["-n", &b, "link", "set", "lo", "up"],
        ] {
            let out = Command::new("ip")
                .args(&args)
                .output()
                .expect("iproute2's ip is needed");
            assert!(
                out.status.success(),
                "ip {}: {} (this test needs root)",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &b,
                "sysctl",
                "-qw",
                "net.ipv4.icmp_echo_ignore_all=1",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ns
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[test]
fn an_address_that_never_answers_is_down_at_full_loss() {
    if !crate::harness::needs(&[crate::harness::Part::Root]) {
        return;
    }
    let ns = Namespaces::new();
    let t = icmp("10.231.0.2", "    count: 3\n    timeout: 1500ms\n");
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &ns.a,
        bin(),
        "probe",
        "--once",
        "--region",
        "r1",
        "--root",
    ])
    .arg(t.path());
    let out = run_with_limit(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));
    let s = state(&t);
    assert_eq!(s.health, Health::Down, "{}", s.detail);
    assert_eq!(s.detail, "100% loss: 0/3 echo replies from 10.231.0.2");
    assert_eq!(s.icmp.unwrap().loss_pct, 100.0);
    // The namespace's own address answers: the prober inside it works.
    let t = icmp("10.231.0.1", "    count: 2\n");
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &ns.a,
        bin(),
        "probe",
        "--once",
        "--region",
        "r1",
        "--root",
    ])
    .arg(t.path());
    let out = run_with_limit(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(state(&t).health, Health::Up);
}

#[test]
fn a_prober_without_permission_reports_unknown_with_the_fix() {
    if !crate::harness::needs(&[crate::harness::Part::Root]) {
        return;
    }
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap_or_default();
    let t = icmp("127.0.0.1", "    count: 1\n");
    // Let user nobody read the project and write its state.
    std::fs::create_dir_all(t.path().join("state")).unwrap();
    for (path, mode) in [
        (t.path().to_path_buf(), 0o755),
        (t.path().join("state"), 0o777),
    ] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        bin(),
        "probe",
        "--once",
        "--region",
        "r1",
        "--root",
    ])
    .arg(t.path());
    let out = run_with_limit(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));
    let s = state(&t);
    if range.split_whitespace().collect::<Vec<_>>() == ["1", "0"] {
        assert_eq!(s.health, Health::Unknown, "{}", s.detail);
        assert!(
            s.detail.starts_with(
                "icmp is not permitted for this prober: allow unprivileged ping sockets"
            ),
            "{}",
            s.detail
        );
    } else {
        // This machine allows unprivileged ping sockets: the check works instead.
        assert_eq!(s.health, Health::Up, "{}", s.detail);
        assert_eq!(s.icmp.unwrap().socket, "dgram");
    }
}
