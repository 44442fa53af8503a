//! Every input bounded (issue 14): files that are not regular files, larger than their
//! limit, not UTF-8, outside their folder, or outside the state schema's bounds are
//! refused by name, quickly, and nothing hangs; the site of a failed build stays as it was.

use std::time::Duration;

use pharos::state::history::Policy;
use pharos::state::{Health, RegionState, Sample};

use crate::harness::{ProjectTest, project_with, stderr};

const NOW: &str = "2026-11-20T12:00:00Z";
const LIMIT: Duration = Duration::from_secs(60);

fn project() -> ProjectTest {
    project_with(
        "  - id: web-home\n    kind: http\n    url: https://www.test/\n    components: [web]\n    interval: 30s\n",
        &["r1"],
    )
}

fn mkfifo(path: &std::path::Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
}

#[test]
fn a_post_that_is_a_device_a_fifo_or_too_large_is_refused_by_name() {
    let t = project();
    std::fs::create_dir_all(t.path().join("incidents")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", t.path().join("incidents/2026-11-20-zero.md")).unwrap();
    mkfifo(&t.path().join("incidents/2026-11-20-fifo.md"));
    let big = format!(
        "---\ntitle: Big\nimpact: minor\ncomponents: [web]\n---\n## 2026-11-20T10:00:00Z investigating\n{}\n",
        "x".repeat(2 * 1024 * 1024)
    );
    t.write("incidents/2026-11-20-big.md", &big);
    for args in [&["check"][..], &["build", "--now", NOW]] {
        let out = t.run_limit(args, LIMIT);
        assert!(!out.status.success(), "{args:?} must fail");
        let err = format!("{}{}", stderr(&out), crate::harness::stdout(&out));
        assert!(
            // A link to a device is a link out of the project: refused before any read.
            err.contains("incidents/2026-11-20-zero.md: leads outside incidents/"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("incidents/2026-11-20-fifo.md") && err.contains("is a named pipe"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("incidents/2026-11-20-big.md")
                && err.contains("more than the 1048576 bytes a post may hold"),
            "{args:?}: {err}"
        );
    }
    assert!(!t.path().join("site").exists(), "nothing half-written");
}

#[test]
fn a_post_linking_out_of_the_project_or_not_utf8_is_refused_with_its_place() {
    let t = project();
    let elsewhere = tempfile::tempdir().unwrap();
    let secret = elsewhere.path().join("secret.md");
    std::fs::write(
        &secret,
        "---\ntitle: Secret\nimpact: minor\ncomponents: [web]\n---\n## 2026-11-20T10:00:00Z investigating\nprivate words\n",
    )
    .unwrap();
    std::fs::create_dir_all(t.path().join("incidents")).unwrap();
    std::os::unix::fs::symlink(&secret, t.path().join("incidents/2026-11-20-link.md")).unwrap();
    std::fs::write(
        t.path().join("incidents/2026-11-20-latin1.md"),
        b"---\ntitle: Caf\xe9\n",
    )
    .unwrap();
    let out = t.run_limit(&["build", "--now", NOW], LIMIT);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("incidents/2026-11-20-link.md") && err.contains("leads outside incidents/"),
        "{err}"
    );
    assert!(
        err.contains("incidents/2026-11-20-latin1.md:2:11: is not UTF-8 text"),
        "{err}"
    );
    assert!(!t.path().join("site").exists());
}

/// A region state with `transitions` confirmed changes on `web-home`, written as a worker
/// never would when there are more than the schema keeps.
fn state_with_transitions(region: &str, transitions: usize) -> String {
    let now: chrono::DateTime<chrono::Utc> = NOW.parse().unwrap();
    let mut s = RegionState::new(region, now);
    s.record(
        "web-home",
        "http",
        "https://www.test/",
        &Policy::every(30.0),
        Sample::new(now, Health::Up, "ok".into()),
    );
    let mut v = serde_json::to_value(&s).unwrap();
    let t: Vec<serde_json::Value> = (0..transitions)
        .map(|i| {
            serde_json::json!({
                "at": (now - chrono::Duration::seconds(60 * (transitions - i) as i64))
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "to": if i % 2 == 0 { "down" } else { "up" },
            })
        })
        .collect();
    v["probes"]["web-home"]["transitions"] = serde_json::Value::Array(t);
    serde_json::to_string(&v).unwrap()
}

#[test]
fn state_files_that_are_fifos_or_outside_the_schema_are_left_out_not_waited_for() {
    let t = project();
    std::fs::create_dir_all(t.path().join("state")).unwrap();
    mkfifo(&t.path().join("state/r1.json"));
    let out = t.run_limit(&["build", "--now", NOW], LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("state/r1.json: is a named pipe (FIFO)"),
        "{}",
        stderr(&out)
    );

    // The worker refuses to overwrite it, and --move-aside moves it.
    let out = t.run_limit(&["probe", "--region", "r1", "--once"], LIMIT);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--move-aside"), "{}", stderr(&out));

    std::fs::remove_file(t.path().join("state/r1.json")).unwrap();
    t.write("state/r1.json", &state_with_transitions("r1", 100_000));
    let out = t.run_limit(&["build", "--now", NOW], LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("probe \"web-home\" has 100000 transitions, more than 500"),
        "{}",
        stderr(&out)
    );
    let out = t.run_limit(
        &["probe", "--region", "r1", "--once", "--move-aside"],
        LIMIT,
    );
    assert!(
        stderr(&out).contains("kept it as"),
        "moved aside and said so: {}",
        stderr(&out)
    );
}

#[test]
fn a_state_file_that_is_garbage_or_a_folder_can_be_moved_aside() {
    for garbage in [None, Some(&b"\xff\xfe not json"[..])] {
        let t = project();
        let path = t.path().join("state/r1.json");
        std::fs::create_dir_all(&path).unwrap();
        if let Some(bytes) = garbage {
            std::fs::remove_dir(&path).unwrap();
            std::fs::write(&path, bytes).unwrap();
        }
        let out = t.run_limit(
            &["probe", "--region", "r1", "--once", "--move-aside"],
            LIMIT,
        );
        assert!(
            stderr(&out).contains("kept it as"),
            "moved aside and said so: {}",
            stderr(&out)
        );
        assert!(
            std::fs::read_dir(t.path().join("state"))
                .unwrap()
                .flatten()
                .any(|e| e
                    .file_name()
                    .to_string_lossy()
                    .starts_with("r1.json.damaged-")),
            "the copy is kept"
        );
    }
}

#[test]
fn deep_nesting_and_too_many_updates_are_refused_with_their_line() {
    let t = project();
    let head = "---\ntitle: Deep\nimpact: minor\ncomponents: [web]\n---\n## 2026-11-20T10:00:00Z investigating\n";
    t.write(
        "incidents/2026-11-20-quotes.md",
        &format!("{head}{}deep\n", "> ".repeat(100_000)),
    );
    t.write(
        "incidents/2026-11-20-divs.md",
        &format!("{head}text\n\n{}\n", "<div>".repeat(100_000)),
    );
    let updates: String = (0..10_000)
        .map(|i| {
            format!(
                "## 2026-11-19T{:02}:{:02}:00Z investigating\nStill.\n\n",
                i / 60 % 24,
                i % 60
            )
        })
        .collect();
    t.write(
        "incidents/2026-11-20-updates.md",
        &format!("---\ntitle: Many\nimpact: minor\ncomponents: [web]\n---\n{updates}"),
    );
    let out = t.run_limit(&["check"], LIMIT);
    assert!(!out.status.success());
    let text = crate::harness::stdout(&out);
    assert!(
        text.contains("incidents/2026-11-20-quotes.md:7:1: nested more than 32 levels deep"),
        "{text}"
    );
    assert!(
        text.contains("incidents/2026-11-20-divs.md:9:1: nested more than 32 levels deep"),
        "{text}"
    );
    assert!(
        text.contains("incidents/2026-11-20-updates.md:3006:1: 10000 updates, more than the 1000"),
        "{text}"
    );
}

/// `check` on a project whose only fault is `fault`; what it prints.
fn check_with(fault: impl Fn(&ProjectTest)) -> (bool, String) {
    let t = project();
    fault(&t);
    let out = t.run_limit(&["check", "--now", NOW], LIMIT);
    (
        out.status.success(),
        format!("{}{}", crate::harness::stdout(&out), stderr(&out)),
    )
}

#[test]
fn check_refuses_what_build_probe_and_announce_would_refuse_later() {
    let with_page = |extra: &'static str| {
        move |t: &ProjectTest| {
            let c = t.read("components.yaml");
            t.write(
                "components.yaml",
                &c.replace(
                    "  base_url: https://status.test\n",
                    &format!("  base_url: https://status.test\n{extra}"),
                ),
            );
        }
    };
    let post = |heading: &'static str, title: &'static str| {
        move |t: &ProjectTest| {
            t.write(
                "incidents/2026-11-20-x.md",
                &format!(
                    "---\ntitle: {title}\nimpact: minor\ncomponents: [web]\n---\n## {heading} investigating\nLooking.\n"
                ),
            );
        }
    };
    type Fault = Box<dyn Fn(&ProjectTest)>;
    let cases: Vec<(&str, Fault, &str)> = vec![
        (
            "a theme with no folder",
            Box::new(with_page("  theme: nowhere\n")),
            "theme \"nowhere\" has no folder",
        ),
        (
            "a language without words",
            Box::new(with_page("  language: xx\n")),
            "language \"xx\" has no locale: use one of en, ja",
        ),
        (
            "an update dated in the future",
            Box::new(post("2026-12-20T10:00:00Z", "Later")),
            "incidents/2026-11-20-x.md:6:1: the update dated 2026-12-20T10:00:00Z is in the future",
        ),
        (
            "an update in year 0",
            Box::new(post("0000-01-01T00:00:00Z", "Ancient")),
            "is dated before 2000; check the year",
        ),
        (
            "an empty title",
            Box::new(post("2026-11-20T10:00:00Z", "\"\"")),
            "incidents/2026-11-20-x.md:2:8: title: the title is empty",
        ),
        (
            "a CA file that does not exist",
            Box::new(|t: &ProjectTest| {
                let p = t.read("probes.yaml");
                t.write(
                    "probes.yaml",
                    &p.replace(
                        "    interval: 30s\n",
                        "    interval: 30s\n    tls_ca_file: certs/missing.pem\n",
                    ),
                );
            }),
            "probe \"web-home\": tls_ca_file: reading CA file",
        ),
    ];
    let in_probe = |extra: &'static str| {
        move |t: &ProjectTest| {
            let p = t.read("probes.yaml");
            t.write(
                "probes.yaml",
                &p.replace(
                    "    interval: 30s\n",
                    &format!("    interval: 30s\n{extra}"),
                ),
            );
        }
    };
    let more: Vec<(&str, Fault, &str)> = vec![
        (
            "a header value with a line break",
            Box::new(in_probe("    headers: {X-A: \"a\\r\\nInjected: b\"}\n")),
            "the value of header \"X-A\" has a line break",
        ),
        (
            "a server name that is no host name",
            Box::new(in_probe("    tls_server_name: \"bad name/x\"\n")),
            "tls_server_name \"bad name/x\" is not a host name or an IP address",
        ),
        (
            "a short heartbeat token",
            Box::new(|t: &ProjectTest| {
                let p = t.read("probes.yaml");
                t.write(
                    "probes.yaml",
                    &format!("{p}  - id: job\n    kind: push\n    components: [web]\n    regions: [r1]\n    token: short\n"),
                );
            }),
            "its heartbeat token is 5 characters long",
        ),
        (
            "a page link that runs script",
            Box::new(with_page(
                "  links:\n    - title: Home\n      url: \"javascript:alert(1)\"\n",
            )),
            "link url \"javascript:alert(1)\" is not an http(s) or mailto: address",
        ),
        (
            "a control character in the title",
            Box::new(|t: &ProjectTest| {
                let c = t.read("components.yaml");
                t.write(
                    "components.yaml",
                    &c.replace("title: Test Status", "title: \"Test\\u0001Status\""),
                );
            }),
            "page.title: holds the control character U+0001",
        ),
    ];
    let (ok, said) = check_with(|_| {});
    assert!(ok, "the project itself is fine: {said}");
    for (what, fault, expected) in more {
        let (ok, said) = check_with(fault);
        assert!(!ok, "{what}: check said ok:\n{said}");
        assert!(said.contains(expected), "{what}: {said}");
    }
    for (what, fault, expected) in cases {
        let (ok, said) = check_with(fault);
        assert!(!ok, "{what}: check said ok:\n{said}");
        assert!(said.contains(expected), "{what}: {said}");
    }
}

#[test]
fn config_files_that_are_not_utf8_or_hold_huge_values_are_refused_with_their_place() {
    let t = project();
    let c = t.read("components.yaml");
    std::fs::write(
        t.path().join("components.yaml"),
        [c.as_bytes(), b"  - id: x\n    name: Caf\xe9\n"].concat(),
    )
    .unwrap();
    let out = t.run_limit(&["check"], LIMIT);
    assert!(!out.status.success());
    let said = crate::harness::stdout(&out);
    assert!(
        said.contains("components.yaml:10:14: is not UTF-8 text (the first bad byte is here)"),
        "{said}"
    );

    t.write(
        "components.yaml",
        &c.replace(
            "title: Test Status",
            &format!("title: {}", "T".repeat(20_000)),
        ),
    );
    let out = t.run_limit(&["check"], LIMIT);
    assert!(!out.status.success());
    let said = crate::harness::stdout(&out);
    assert!(
        said.contains("page.title: is 20000 bytes long, more than the 16384"),
        "{said}"
    );
}

#[test]
fn no_feed_carries_a_control_character_from_a_post() {
    let t = project();
    t.write(
        "incidents/2026-11-20-ctl.md",
        "---\ntitle: \"Bell\\u0007 rings\"\nimpact: minor\ncomponents: [web]\n---\n## 2026-11-20T10:00:00Z investigating\nA form feed \u{c} and an escape \u{1b} here.\n",
    );
    let out = t.run_limit(&["build", "--now", NOW], LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    for feed in [
        "feed.rss",
        "feed.atom",
        "history.rss",
        "components/web/feed.atom",
    ] {
        let xml = t.read(&format!("site/{feed}"));
        assert!(
            xml.contains("Bell rings"),
            "{feed}: the title is kept: {xml}"
        );
        assert!(
            !xml.chars()
                .any(|c| c < ' ' && !matches!(c, '\t' | '\n' | '\r')),
            "{feed} carries a control character"
        );
        // A feed reader reads it whole.
        let parsed = feed_rs::parser::parse(xml.as_bytes())
            .unwrap_or_else(|e| panic!("{feed} does not parse: {e}"));
        assert_eq!(parsed.entries.len(), 1, "{feed}");
    }
}
