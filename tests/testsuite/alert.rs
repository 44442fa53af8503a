//! `pharos alert` against receivers on 127.0.0.1 playing PagerDuty (Events API v2), a
//! generic webhook, Slack, Discord and ntfy, and a command target: a dependency outage
//! behind 200 probes in 3 regions is one trigger and one resolve per target, each request
//! in the shape its service documents.

use std::collections::BTreeSet;

use pharos::state::RegionHealth::{Down, Up};

use crate::announce::{Receiver, Request};
use crate::harness::{ProjectTest, region_history, stderr, stdout};

const SERVICES: usize = 200;

/// db, and 200 services that depend on it, each with a probe, in 3 regions; every kind
/// of alert target pointing at `r`, the command one appending to `events.log`.
fn project(r: &Receiver) -> ProjectTest {
    let t = ProjectTest::new();
    let mut components = String::from(
        "page:\n  title: Acme Status\n  base_url: https://status.acme.test\ncomponents:\n  - id: db\n    name: Database\n",
    );
    let mut probes = String::from(
        "regions:\n  - name: r1\n  - name: r2\n  - name: r3\nprobes:\n  - id: db-port\n    kind: tcp\n    host: db.test\n    port: 5432\n    components: [db]\n    interval: 30s\n",
    );
    for i in 0..SERVICES {
        components.push_str(&format!(
            "  - id: svc{i}\n    name: Service {i}\n    depends_on: [db]\n"
        ));
        probes.push_str(&format!(
            "  - id: svc{i}-health\n    kind: http\n    url: https://svc{i}.test/\n    components: [svc{i}]\n    interval: 30s\n"
        ));
    }
    let p = r.port;
    probes.push_str(&format!(
        "alerts:\n  targets:\n\
         \x20   - id: oncall\n      kind: pagerduty\n      routing_key: ${{PD_ROUTING_KEY}}\n      url: http://127.0.0.1:{p}/v2/enqueue\n\
         \x20   - id: hook\n      kind: webhook\n      url: http://127.0.0.1:{p}/hook\n      token: ${{HOOK_TOKEN}}\n\
         \x20   - id: team\n      kind: slack\n      url: http://127.0.0.1:{p}/slack\n\
         \x20   - id: ops\n      kind: discord\n      url: http://127.0.0.1:{p}/discord\n\
         \x20   - id: phone\n      kind: ntfy\n      url: http://127.0.0.1:{p}/pharos-alerts\n\
         \x20   - id: script\n      kind: command\n      command: [sh, -c, 'echo \"$PHAROS_ALERT_ACTION $PHAROS_ALERT_KEY $PHAROS_ALERT_STATUS $PHAROS_ALERT_PREVIOUS_STATUS $PHAROS_ALERT_REGIONS\" >> events.log']\n"
    ));
    t.write("components.yaml", &components);
    t.write("probes.yaml", &probes);
    t
}

/// Every region sees db and every service down since 11:50 (`down`), or up again since
/// 12:02 as well.
fn states(t: &ProjectTest, now: &str, recovered: bool) {
    let since = "2026-11-20T10:00:00Z";
    let ids: Vec<String> = std::iter::once("db-port".to_string())
        .chain((0..SERVICES).map(|i| format!("svc{i}-health")))
        .collect();
    let changes: Vec<(&str, pharos::state::RegionHealth)> = if recovered {
        vec![
            (since, Up),
            ("2026-11-20T11:50:00Z", Down),
            ("2026-11-20T12:02:00Z", Up),
        ]
    } else {
        vec![(since, Up), ("2026-11-20T11:50:00Z", Down)]
    };
    let probes: Vec<(&str, &[(&str, pharos::state::RegionHealth)])> = ids
        .iter()
        .map(|id| (id.as_str(), changes.as_slice()))
        .collect();
    for region in ["r1", "r2", "r3"] {
        region_history(t, region, now.parse().unwrap(), &probes);
    }
}

fn alert(t: &ProjectTest, now: &str) -> String {
    let out = t
        .cmd(&["alert", "--now", now])
        .env("PD_ROUTING_KEY", "R0UTINGKEY0123456789012345678901")
        .env("HOOK_TOKEN", "hook-secret")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

fn actions(requests: &[Request], field: &str) -> Vec<String> {
    requests
        .iter()
        .map(|r| r.body[field].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_dependency_outage_behind_200_probes_is_one_trigger_and_one_resolve_per_target() {
    let r = Receiver::start();
    let t = project(&r);
    states(&t, "2026-11-20T12:00:00Z", false);
    let said = alert(&t, "2026-11-20T12:00:00Z");
    assert_eq!(said.lines().count(), 6, "one event per target: {said}");
    // Nothing new a minute later, nor while the recovery is held.
    states(&t, "2026-11-20T12:01:00Z", false);
    assert_eq!(alert(&t, "2026-11-20T12:01:00Z"), "");
    states(&t, "2026-11-20T12:03:00Z", true);
    assert_eq!(alert(&t, "2026-11-20T12:03:00Z"), "", "held for 2 min");
    states(&t, "2026-11-20T12:06:00Z", true);
    let said = alert(&t, "2026-11-20T12:06:00Z");
    assert_eq!(said.lines().count(), 6, "one resolve per target: {said}");
    assert_eq!(alert(&t, "2026-11-20T12:07:00Z"), "");

    // PagerDuty Events API v2
    // (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/): POST
    // /v2/enqueue, JSON, routing_key, event_action trigger then resolve on one dedup_key,
    // a trigger's payload with summary, source and one of the four severities.
    let pd = r.requests("/v2/enqueue");
    assert_eq!(actions(&pd, "event_action"), ["trigger", "resolve"]);
    for req in &pd {
        assert_eq!(req.body["routing_key"], "R0UTINGKEY0123456789012345678901");
        assert_eq!(req.body["dedup_key"], "cause:db");
        assert_eq!(req.headers["content-type"], "application/json");
    }
    let payload = &pd[0].body["payload"];
    assert_eq!(payload["severity"], "critical");
    assert_eq!(payload["source"], "https://status.acme.test/");
    let summary = payload["summary"].as_str().unwrap();
    assert!(
        summary.len() <= 1024
            && summary.starts_with("[Acme Status] Major outage: db — affects svc0"),
        "{summary}"
    );
    assert!(
        summary.contains("and 195 more (down in r1, r2, r3)"),
        "{summary}"
    );
    let listed = payload["custom_details"]["components"].as_array().unwrap();
    assert_eq!(
        listed.len(),
        SERVICES + 1,
        "every affected component is listed"
    );

    // The generic webhook: its documented body (README, Alerting), the bearer token and
    // an idempotency key per event.
    let hook = r.requests("/hook");
    assert_eq!(actions(&hook, "action"), ["trigger", "resolve"]);
    assert_eq!(actions(&hook, "key"), ["cause:db", "cause:db"]);
    assert_eq!(actions(&hook, "status"), ["major_outage", "operational"]);
    assert_eq!(hook[1].body["previous_status"], "major_outage");
    assert_eq!(hook[0].headers["authorization"], "Bearer hook-secret");
    let keys: BTreeSet<&str> = hook
        .iter()
        .map(|h| h.headers["idempotency-key"].as_str())
        .collect();
    assert_eq!(keys.len(), 2);

    // Slack incoming webhook (https://api.slack.com/messaging/webhooks): {"text"}.
    let slack = r.requests("/slack");
    assert_eq!(slack.len(), 2);
    assert!(
        slack[0].body["text"]
            .as_str()
            .unwrap()
            .starts_with(":red_circle: Major outage: db")
    );
    assert!(
        slack[1].body["text"]
            .as_str()
            .unwrap()
            .starts_with(":large_green_circle: Resolved: db")
    );
    // Discord webhook (https://discord.com/developers/docs/resources/webhook#execute-webhook):
    // content ≤ 2000, no mentions.
    let discord = r.requests("/discord");
    assert_eq!(discord.len(), 2);
    assert!(
        discord
            .iter()
            .all(|d| d.body["content"].as_str().unwrap().chars().count() <= 2000)
    );
    // ntfy (https://docs.ntfy.sh/publish/): the message as the body, the rest headers.
    let ntfy = r.requests("/pharos-alerts");
    assert_eq!(ntfy.len(), 2);
    assert_eq!(ntfy[0].headers["priority"], "5");
    assert_eq!(ntfy[0].headers["click"], "https://status.acme.test/");
    assert!(
        ntfy[0].text.starts_with("Major outage: db"),
        "{}",
        ntfy[0].text
    );
    assert!(ntfy[1].text.starts_with("Resolved: db"), "{}", ntfy[1].text);
    // The command, with its PHAROS_ALERT_* variables.
    assert_eq!(
        t.read("events.log"),
        "trigger cause:db major_outage operational r1,r2,r3\nresolve cause:db operational major_outage r1,r2,r3\n"
    );
}

#[test]
fn a_target_that_fails_is_retried_after_a_back_off_and_gets_each_event_once() {
    let r = Receiver::start();
    let t = project(&r);
    states(&t, "2026-11-20T12:00:00Z", false);
    r.set_status(503);
    let out = t
        .cmd(&["alert", "--now", "2026-11-20T12:00:00Z"])
        .env("PD_ROUTING_KEY", "R0UTINGKEY0123456789012345678901")
        .env("HOOK_TOKEN", "hook-secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("answered HTTP 503"),
        "{}",
        stderr(&out)
    );
    let tried = r.requests("/v2/enqueue").len();
    assert_eq!(tried, 1);
    // Within the back-off nothing is tried; after it, the same event goes again.
    r.set_status(202);
    let out = t
        .cmd(&["alert", "--now", "2026-11-20T12:00:03Z"])
        .env("PD_ROUTING_KEY", "R0UTINGKEY0123456789012345678901")
        .env("HOOK_TOKEN", "hook-secret")
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("waiting after a failed delivery"),
        "{}",
        stderr(&out)
    );
    assert_eq!(r.requests("/v2/enqueue").len(), 1);
    alert(&t, "2026-11-20T12:00:10Z");
    let pd = r.requests("/v2/enqueue");
    assert_eq!(actions(&pd, "event_action"), ["trigger", "trigger"]);
    let hook = r.requests("/hook");
    assert_eq!(
        hook[0].headers["idempotency-key"], hook[1].headers["idempotency-key"],
        "a repeat of a maybe-delivered event carries the same key"
    );
    alert(&t, "2026-11-20T12:01:00Z");
    assert_eq!(r.requests("/v2/enqueue").len(), 2, "and then nothing more");
}

#[test]
fn alert_test_sends_a_marked_event_and_records_nothing() {
    let r = Receiver::start();
    let t = project(&r);
    let out = t
        .cmd(&["alert", "--test", "hook", "--now", "2026-11-20T12:00:00Z"])
        .env("HOOK_TOKEN", "hook-secret")
        .env("PD_ROUTING_KEY", "x")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let hook = r.requests("/hook");
    assert_eq!(hook.len(), 1);
    assert_eq!(hook[0].body["action"], "test");
    assert_eq!(hook[0].body["test"], true);
    assert!(
        hook[0].body["summary"]
            .as_str()
            .unwrap()
            .starts_with("Test alert from Pharos")
    );
    let out = t.cmd(&["alert", "--test", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no such alert target; use one of: oncall, hook"),
        "{}",
        stderr(&out)
    );
}
