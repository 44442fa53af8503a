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

/// The smallest probe of a kind, as probes.yaml lines after `- id: …`.
fn minimal(kind: &str) -> &'static str {
    match kind {
        "http" => "    kind: http\n    url: https://www.acme.test/\n",
        "tcp" => "    kind: tcp\n    host: db.acme.test\n    port: 5432\n",
        "tls" => "    kind: tls\n    host: www.acme.test\n",
        "dns" => {
            "    kind: dns\n    server: 127.0.0.1\n    name: www.acme.test\n    record_type: A\n"
        }
        "icmp" => "    kind: icmp\n    host: 127.0.0.1\n",
        "command" => "    kind: command\n    command: [/bin/true]\n",
        "push" => "    kind: push\n",
        other => panic!("README names an unknown kind {other}"),
    }
}

/// The names in every `key: [a, b]` of these probes.
fn listed(probes: &str, key: &str) -> Vec<String> {
    probes
        .lines()
        .flat_map(|l| {
            l.split(&format!("{key}: ["))
                .skip(1)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .flat_map(|c| {
            c.split(']')
                .next()
                .unwrap_or_default()
                .split(',')
                .map(|c| c.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `pharos check` on these probes (every component and region they name defined).
fn check_probes(probes: &str) -> (bool, String) {
    let mut components = listed(probes, "components");
    components.push("web".to_string());
    let mut regions = listed(probes, "regions");
    regions.push("r1".to_string());
    regions.sort();
    regions.dedup();
    components.sort();
    components.dedup();
    let t = ProjectTest::new();
    t.write(
        "components.yaml",
        &format!(
            "page:\n  title: Acme\n  base_url: https://status.acme.test\ncomponents:\n{}",
            components
                .iter()
                .map(|c| format!("  - id: {c}\n    name: {c}\n"))
                .collect::<String>()
        ),
    );
    t.write(
        "probes.yaml",
        &format!(
            "regions:\n{}probes:\n{probes}",
            regions
                .iter()
                .map(|r| format!("  - name: {r}\n"))
                .collect::<String>()
        ),
    );
    // A real certificate: `check` loads CA files as the prober would.
    let ca = rcgen::generate_simple_self_signed(vec!["internal-ca.test".to_string()]).unwrap();
    t.write("certs/internal-ca.pem", &ca.cert.pem());
    let out = t
        .cmd(&["check"])
        .env("API_TOKEN", "x")
        // As long as the worker demands (`check` judges the token as it would).
        .env("BACKUP_HEARTBEAT_TOKEN", "0123456789abcdef")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

#[test]
fn every_option_the_readme_documents_for_a_kind_is_accepted() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("\n## Probe kinds\n").unwrap();
    let section = &readme[start + 1..];
    // Up to the next heading.
    let section = &section[..section[3..].find("\n#").map_or(section.len(), |e| e + 3)];
    let kinds = ["http", "tcp", "tls", "dns", "icmp", "command", "push"];
    let mut tried = 0;
    let mut refused = Vec::new();
    // A kind's smallest probe with `key: value` in place of its own line for `key`.
    let with = |kind: &str, key: &str, value: &str| -> String {
        let own: String = minimal(kind)
            .lines()
            .filter(|l| !l.trim_start().starts_with(&format!("{key}:")))
            .map(|l| format!("{l}\n"))
            .collect();
        format!("  - id: p\n{own}    components: [web]\n    {key}: {value}\n")
    };
    let mut try_probe = |what: String, probe: String| {
        tried += 1;
        let (ok, said) = check_probes(&probe);
        if !ok {
            refused.push(format!("{what}:\n{probe}{said}"));
        }
    };
    // Options shared by several kinds: "`ip_version: ip4 | ip6 | auto` pins a family
    // (http, tcp, tls, icmp)".
    let shared =
        regex::Regex::new(r"`([a-z_]+): ([^`|]+?)(?: \|[^`]*)?`[^.`]*\(([a-z, ]+)\)").unwrap();
    for c in shared.captures_iter(section) {
        for kind in c[3].split(", ").filter(|k| kinds.contains(k)) {
            try_probe(
                format!("`{}` for {kind} (README: \"{}\")", &c[1], &c[0]),
                with(kind, &c[1], c[2].trim()),
            );
        }
    }
    // Each kind's paragraph: every `option: value` it names, and every example.
    let option = regex::Regex::new(r"`([a-z_]+): ([^`]+)`").unwrap();
    let paragraphs: Vec<(usize, &str)> = kinds
        .iter()
        .map(|k| {
            section
                .find(&format!("\n**{k}** —"))
                .unwrap_or_else(|| panic!("no **{k}** in the README"))
        })
        .zip(kinds)
        .collect();
    for (n, (at, kind)) in paragraphs.iter().enumerate() {
        let end = paragraphs.get(n + 1).map_or(section.len(), |(e, _)| *e);
        let text = &section[*at..end];
        let prose = text.split("```").step_by(2).collect::<Vec<_>>().join(" ");
        // Placeholders such as `regions: [...]` are not options to try.
        for c in option
            .captures_iter(&prose)
            .filter(|c| !c[2].contains("..."))
        {
            try_probe(
                format!("`{}: {}` for {kind}", &c[1], &c[2]),
                with(kind, &c[1], &c[2]),
            );
        }
        for block in text.split("```yaml\n").skip(1) {
            let mut yaml = block.split("```").next().unwrap_or_default().to_string();
            if !yaml.contains("components:") {
                yaml.push_str("    components: [web]\n");
            }
            try_probe(format!("the {kind} example"), yaml);
        }
    }
    assert!(tried >= 15, "only {tried} README options found:\n{section}");
    assert!(refused.is_empty(), "{}", refused.join("\n---\n"));
}

#[test]
fn an_icmp_probe_may_pin_the_address_family() {
    // README: "`ip_version: ip4 | ip6 | auto` pins a family (http, tcp, tls, icmp)".
    for family in ["ip4", "ip6", "auto"] {
        let (ok, said) = check_probes(&format!(
            "  - id: p\n    kind: icmp\n    host: 192.0.2.1\n    ip_version: {family}\n    components: [web]\n"
        ));
        assert!(ok, "icmp ip_version: {family} refused:\n{said}");
    }
    // A kind that does not pick an address family still refuses it, naming the ones that do.
    let (ok, said) = check_probes(
        "  - id: p\n    kind: dns\n    server: 127.0.0.1\n    name: www.acme.test\n    record_type: A\n    ip_version: ip6\n    components: [web]\n",
    );
    assert!(!ok);
    assert!(
        said.contains("probe \"p\" (probes[0]): `ip_version` does not apply to a dns probe (only to http, tcp, tls, icmp); remove it"),
        "{said}"
    );
}

#[test]
fn announce_target_errors_name_the_field_and_the_fix() {
    let t = project_with(
        "  - id: web-home\n    kind: http\n    url: https://www.acme.test/\n    components: [web]\n",
        &["eu-west"],
    );
    t.write(
        "components.yaml",
        "page:\n  title: X\n  base_url: https://status.test\ncomponents:\n  - id: web\n    name: W\nannounce:\n  - kind: webhook\n    url: ftp://x\n    to: [a@b.test]\n  - kind: mastodon\n    url: https://m.test/\n",
    );
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stdout(&out),
        "components.yaml:9:10: announce[0]: url \"ftp://x\" is not an http(s) address\n\
         components.yaml:10:9: announce[0]: `to` is not used by webhook targets; remove it\n\
         components.yaml:11:5: announce[1]: a mastodon target needs `server:` with the instance's address, e.g. https://mastodon.social\n\
         components.yaml:12:10: announce[1]: `url` is not used by mastodon targets; remove it\n"
    );
}

#[test]
fn check_warns_when_a_failing_check_outlasts_the_interval() {
    let t = project_with(
        "  - id: slow\n    kind: tcp\n    host: 127.0.0.1\n    port: 9\n    components: [web]\n    interval: 5s\n    timeout: 3s\n    retries: 1\n    retry_delay: 2s\n",
        &["r1"],
    );
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(0), "a warning, not a problem");
    assert!(
        stdout(&out).contains(
            "warning: probes.yaml: probe \"slow\": a failing check can take 8s (timeout 3s × 2 attempts + retry_delay 2s × 1), longer than the interval 5s"
        ),
        "{}",
        stdout(&out)
    );
}
