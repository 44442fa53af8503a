//! `pharos check`: every problem at once, each with file:line:col and the fix; exit 2.

use crate::harness::{ProjectTest, project_with, stderr, stdout};

#[test]
fn reports_three_mistakes_in_two_files_with_locations() {
    let t = ProjectTest::from_fixture("check/three_mistakes");
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "components.yaml:9:5: components[1]: unknown field \"descripton\", did you mean \"description\"?\n\
         probes.yaml:6:5: probes[0]: unknown field \"intervall\", did you mean \"interval\"?\n\
         probes.yaml:12:18: probe \"payments-api\" (probes[1]): component \"paymnts\" is not defined in components.yaml; did you mean \"payments\"?\n"
    );
    assert_eq!(stderr(&out), "3 problems found\n");
}

#[test]
fn a_valid_project_passes() {
    let t = project_with(
        "  - id: web-home\n    kind: http\n    url: https://www.acme.test/\n    components: [web]\n",
        &["eu-west"],
    );
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("ok:"));
}

#[test]
fn semantic_errors_name_the_probe_and_the_fix() {
    let t = project_with(
        "  - id: a\n    kind: http\n    url: ftp://x\n    components: [web]\n    timeout: 90s\n    interval: 30s\n\
         \x20 - id: a\n    kind: tcp\n    host: db\n    components: [web]\n    regions: [eu-wset]\n    url: https://x\n\
         \x20 - id: c\n    kind: dns\n    components: [web]\n    interval: 30\n",
        &["eu-west"],
    );
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stdout(&out),
        "probes.yaml:6:10: probe \"a\" (probes[0]): url \"ftp://x\" is not an http:// or https:// address\n\
         probes.yaml:8:14: probe \"a\" (probes[0]): timeout 1m 30s must be more than zero and at most the interval 30s; shorten the timeout or lengthen the interval\n\
         probes.yaml:10:9: probe \"a\" (probes[1]): probe id \"a\" is used twice; ids must be unique\n\
         probes.yaml:11:11: probe \"a\" (probes[1]): a tcp probe needs `host:` and a non-zero `port:`\n\
         probes.yaml:14:15: probe \"a\" (probes[1]): region \"eu-wset\" is not defined; did you mean \"eu-west\"?\n\
         probes.yaml:15:10: probe \"a\" (probes[1]): `url` does not apply to a tcp probe (only to http); remove it\n\
         probes.yaml:19:15: probes[2].interval: a duration needs a unit: write 30s (seconds) or 30ms (milliseconds)\n"
    );
}

#[test]
fn yaml_syntax_and_incident_errors_are_reported_together() {
    let t = project_with(
        "  - id: a\n    kind: http\n    url: https://x/\n    components: [web]\n",
        &["eu-west"],
    );
    t.write("components.yaml", "page:\n  title: X\n  base_url: https://status.test\ncomponents:\n  - id: web\n    name: [Website\n");
    t.write(
        "incidents/2026-11-20-x.md",
        "---\ntitle: X\nimpact: severe\n---\n## 2026-11-20T10:00:00Z investigating\nLooking.\n",
    );
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.contains("components.yaml:7:1: invalid YAML"), "{text}");
    assert!(
        text.contains("incidents/2026-11-20-x.md:3:9: impact: unknown value \"severe\", expected one of: none, minor, major, critical"),
        "{text}"
    );
}

#[test]
fn missing_files_say_how_to_start() {
    let t = ProjectTest::new();
    t.write(
        "components.yaml",
        "page:\n  title: X\n  base_url: https://s.test\ncomponents:\n  - id: web\n    name: W\n",
    );
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("probes.yaml: cannot read"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("run `pharos init`"));
}

#[test]
fn intervals_and_urls_have_sane_limits() {
    let t = project_with(
        "  - id: a\n    kind: http\n    url: https://user:pw@www.test/\n    components: [web]\n    interval: 200ms\n    timeout: 100ms\n",
        &["eu-west"],
    );
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stdout(&out),
        "probes.yaml:6:10: probe \"a\" (probes[0]): credentials in the url are not sent; put them in `headers: {Authorization: …}` with a ${SECRET} reference\n\
         probes.yaml:8:15: probe \"a\" (probes[0]): interval 200ms must be between 1s and 1 day\n"
    );
}
