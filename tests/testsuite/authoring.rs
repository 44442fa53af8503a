//! `pharos init`, incident and maintenance authoring, `status`, completions and man,
//! through the real binary.

use std::process::Stdio;

use crate::harness::{ProjectTest, bin, project_with, run_with_limit, stderr, stdout};

/// `pharos init` into `status/` under the test's folder: the project and what it printed.
fn init(t: &ProjectTest) -> (std::path::PathBuf, String) {
    let dir = t.path().join("status");
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("init").arg(&dir);
    let out = run_with_limit(cmd, std::time::Duration::from_secs(20));
    assert!(out.status.success(), "{}", stderr(&out));
    (dir, stdout(&out))
}

#[test]
fn the_first_screen_after_init_says_what_the_checks_saw() {
    // init's next step on a project whose every check fails: every output says what the
    // checks saw, never a bare "up".
    let t = ProjectTest::new();
    let (dir, said) = init(&t);
    assert!(
        said.contains("A change of status shows once it holds `confirm` rounds"),
        "{said}"
    );
    // Port 9 (discard): nothing listens there, and no other test can take it.
    let probes = std::fs::read_to_string(dir.join("probes.yaml")).unwrap();
    let probes = probes
        .replace("https://www.example.com/", "http://127.0.0.1:9/")
        .replace("host: api.example.com", "host: 127.0.0.1")
        .replace("port: 443", "port: 9");
    std::fs::write(dir.join("probes.yaml"), probes).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(bin());
        cmd.args(args).arg("--root").arg(&dir);
        let out = run_with_limit(cmd, std::time::Duration::from_secs(60));
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        out
    };
    run(&["probe", "--region", "local", "--once"]);
    let state = crate::harness::state_in(&dir.join("state"), "local").unwrap();
    let at = state.written_at.to_rfc3339();
    run(&["build", "--now", &at]);
    // A region's first sample is the only evidence there is: down at once, never "up" on
    // none (issue 23). The project's one region decides alone.
    let status = stdout(&run(&["status", "--now", &at]));
    assert!(status.contains("local down"), "{status}");
    assert!(!status.contains(" up"), "{status}");
    let html = std::fs::read_to_string(dir.join("site/index.html")).unwrap();
    assert!(html.contains("Major System Outage"), "{html}");
    assert!(!html.contains("All Systems Operational"), "{html}");
}

#[test]
fn init_scaffolds_a_valid_project_and_never_overwrites() {
    let t = ProjectTest::new();
    let (dir, said) = init(&t);
    assert!(said.contains("pharos check --root"), "{said}");
    for f in [
        "components.yaml",
        "probes.yaml",
        ".gitignore",
        "incidents/.gitkeep",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let mut check = std::process::Command::new(bin());
    check.args(["check", "--root"]).arg(&dir);
    let out = run_with_limit(check, std::time::Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    std::fs::write(dir.join("components.yaml"), "# mine\n").unwrap();
    let mut again = std::process::Command::new(bin());
    again.arg("init").arg(&dir);
    let out = run_with_limit(again, std::time::Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already has a components.yaml; nothing was written"));
    assert_eq!(
        std::fs::read_to_string(dir.join("components.yaml")).unwrap(),
        "# mine\n"
    );
}

fn project() -> ProjectTest {
    project_with(
        "  - id: p\n    kind: tcp\n    host: 127.0.0.1\n    port: 9\n    components: [web]\n",
        &["r1"],
    )
}

fn only_post(t: &ProjectTest) -> String {
    let mut names: Vec<String> = std::fs::read_dir(t.path().join("incidents"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(names.len(), 1, "{names:?}");
    names.remove(0)
}

#[test]
fn incidents_are_written_updated_and_resolved() {
    let t = project();
    let out = t.run(&[
        "incident",
        "new",
        "Elevated API errors!",
        "--impact",
        "major",
        "--component",
        "api",
        "--message",
        "We are looking.",
        "--at",
        "2026-11-20T10:00:00Z",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let name = only_post(&t);
    assert_eq!(name, "2026-11-20-elevated-api-errors.md");

    let out = t.run(&[
        "incident",
        "update",
        "elevated-api-errors",
        "--status",
        "identified",
        "-m",
        "A bad deploy.",
        "--at",
        "2026-11-20T10:20:00Z",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = t.run(&[
        "incident",
        "resolve",
        "2026-11-20-elevated-api-errors",
        "-m",
        "Rolled back.",
        "--at",
        "2026-11-20T10:40:00Z",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = t.read(&format!("incidents/{name}"));
    let order: Vec<usize> = ["resolved", "identified", "investigating"]
        .iter()
        .map(|w| text.find(&format!("Z {w}\n")).unwrap())
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "newest first:\n{text}"
    );

    let out = t.run(&["build", "--now", "2026-11-20T11:00:00Z"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list = t.run(&["incident", "list"]);
    assert!(
        stdout(&list).contains("2026-11-20-elevated-api-errors")
            && stdout(&list).contains("resolved"),
        "{}",
        stdout(&list)
    );
}

#[test]
fn posts_the_build_would_reject_are_never_written() {
    let t = project();
    let out = t.run(&[
        "incident",
        "new",
        "X",
        "--impact",
        "minor",
        "--component",
        "paymnts",
        "-m",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("component \"paymnts\" is not defined in components.yaml"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("nothing was written"));
    assert!(
        !t.path().join("incidents").exists()
            || std::fs::read_dir(t.path().join("incidents"))
                .unwrap()
                .next()
                .is_none()
    );

    let out = t.run(&[
        "incident",
        "new",
        "Slow",
        "--impact",
        "minor",
        "--component",
        "web",
        "-m",
        "Slow.",
        "--at",
        "2026-11-20T09:00:00Z",
    ]);
    assert!(out.status.success());
    let before = t.read("incidents/2026-11-20-slow.md");
    let out = t.run(&[
        "incident", "update", "slow", "--status", "fixed", "-m", "done",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("needs one status word after the time: one of investigating, identified, monitoring, resolved, postmortem"), "{}", stderr(&out));
    assert_eq!(t.read("incidents/2026-11-20-slow.md"), before);

    let out = t
        .cmd(&["incident", "update", "slow", "--status", "identified"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("give the update with --message"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn maintenance_windows_are_announced() {
    let t = project();
    let out = t.run(&[
        "maintenance",
        "new",
        "Database upgrade",
        "--from",
        "2030-01-10T02:00:00Z",
        "--until",
        "2030-01-10T03:00:00Z",
        "--component",
        "api",
        "-m",
        "Writes pause for five minutes.",
        "--at",
        "2029-12-20T09:00:00Z",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let name = only_post(&t);
    let text = t.read(&format!("incidents/{name}"));
    assert!(text.contains("kind: maintenance\nscheduled_for: 2030-01-10T02:00:00Z\nscheduled_until: 2030-01-10T03:00:00Z\n"), "{text}");
    let out = t.run(&["build", "--now", "2029-12-21T00:00:00Z"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(t.read("site/index.html").contains("Scheduled maintenance"));
}

#[test]
fn status_prints_the_merge_and_gates_on_failures() {
    let t = project();
    let out = t.run(&[
        "incident",
        "new",
        "API down",
        "--impact",
        "critical",
        "--component",
        "api",
        "-m",
        "Down.",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = t.run(&["status"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.starts_with("Major System Outage (critical)\n"),
        "{text}"
    );
    assert!(
        text.contains("API") && text.contains("Major outage"),
        "{text}"
    );
    assert!(text.contains("Open incidents:"));
    let out = t.run(&["status", "--json", "--fail-on", "major"]);
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["indicator"], "critical");
    assert_eq!(doc["components"][1]["status"], "major_outage");
    assert_eq!(doc["components"][0]["status"], "no_data");
}

#[test]
fn completions_and_man_page_come_from_the_cli() {
    let t = project();
    let out = t.run(&["completions", "bash"]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("_pharos()") && stdout(&out).contains("incident"),
        "bash completion"
    );
    let out = t.run(&["completions", "fish"]);
    assert!(stdout(&out).contains("complete -c pharos"));
    let out = t.run(&["man"]);
    assert!(
        stdout(&out).starts_with(".ie") || stdout(&out).contains(".TH pharos"),
        "{}",
        &stdout(&out)[..200]
    );
}

#[test]
fn post_names_cannot_leave_incidents() {
    let t = project();
    std::fs::create_dir_all(t.path().join("elsewhere")).unwrap();
    t.write("elsewhere/2026-01-01-y.md", "not mine");
    let out = t.run(&[
        "incident",
        "update",
        "../elsewhere/2026-01-01-y",
        "--status",
        "identified",
        "-m",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not a post name"),
        "{}",
        stderr(&out)
    );
    assert_eq!(t.read("elsewhere/2026-01-01-y.md"), "not mine");
}
