//! `pharos alert` against receivers on 127.0.0.1 playing PagerDuty (Events API v2), a
//! generic webhook, Slack, Discord and ntfy, and a command target: a dependency outage
//! behind 200 probes in 3 regions is one trigger and one resolve per target, each request
//! in the shape its service documents.

use std::collections::BTreeSet;

use pharos::state::RegionHealth::{Down, Up};

use crate::announce::{Receiver, Request};
use crate::harness::{ProjectTest, region_history, stderr, stdout};

const SERVICES: usize = 200;

/// db, and 200 services that depend on it, each with a probe, in 3 regions; a target of
/// each of the first kinds pointing at `r`, the command one appending to `events.log`.
fn project(r: &Receiver) -> ProjectTest {
    let p = r.port;
    project_with(&format!(
        "  targets:\n\
         \x20   - id: oncall\n      kind: pagerduty\n      routing_key: ${{PD_ROUTING_KEY}}\n      url: http://127.0.0.1:{p}/v2/enqueue\n\
         \x20   - id: hook\n      kind: webhook\n      url: http://127.0.0.1:{p}/hook\n      token: ${{HOOK_TOKEN}}\n\
         \x20   - id: team\n      kind: slack\n      url: http://127.0.0.1:{p}/slack\n\
         \x20   - id: ops\n      kind: discord\n      url: http://127.0.0.1:{p}/discord\n\
         \x20   - id: phone\n      kind: ntfy\n      url: http://127.0.0.1:{p}/pharos-alerts\n\
         \x20   - id: script\n      kind: command\n      command: [sh, -c, 'echo \"$PHAROS_ALERT_ACTION $PHAROS_ALERT_KEY $PHAROS_ALERT_STATUS $PHAROS_ALERT_PREVIOUS_STATUS $PHAROS_ALERT_REGIONS\" >> events.log']\n"
    ))
}

/// The 200-service project with `alerts:` holding `alerts` (indented by two spaces).
fn project_with(alerts: &str) -> ProjectTest {
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
    probes.push_str("alerts:\n");
    probes.push_str(alerts);
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

/// The outage in every region at 12:00, over at 12:02: `run` evaluates at 12:00 (the
/// trigger), 12:04 (held) and 12:06 (the resolve).
fn outage_and_recovery(t: &ProjectTest, run: impl Fn(&str)) {
    states(t, "2026-11-20T12:00:00Z", false);
    run("2026-11-20T12:00:00Z");
    states(t, "2026-11-20T12:04:00Z", true);
    run("2026-11-20T12:04:00Z");
    states(t, "2026-11-20T12:06:00Z", true);
    run("2026-11-20T12:06:00Z");
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

/// 30 unrelated components fail at once with `rate_limit: 3`: PagerDuty gets three
/// alerts and one digest ("27 more alerts"), and when all are over, three resolves and
/// one for the digest on its own dedup key, so no incident is left open by hand.
#[test]
fn a_storm_beyond_the_rate_limit_is_one_digest_resolved_when_all_are_over() {
    let r = Receiver::start();
    let t = ProjectTest::new();
    let mut components = String::from(
        "page:\n  title: Acme Status\n  base_url: https://status.acme.test\ncomponents:\n",
    );
    let mut probes = String::from("regions:\n  - name: r1\n  - name: r2\nprobes:\n");
    for i in 0..30 {
        components.push_str(&format!("  - id: c{i:02}\n    name: Thing {i}\n"));
        probes.push_str(&format!(
            "  - id: c{i:02}-tcp\n    kind: tcp\n    host: c{i}.test\n    port: 443\n    components: [c{i:02}]\n    interval: 30s\n"
        ));
    }
    probes.push_str(&format!(
        "alerts:\n  rate_limit: 3\n  targets:\n    - id: oncall\n      kind: pagerduty\n      routing_key: ${{PD_ROUTING_KEY}}\n      url: http://127.0.0.1:{}/v2/enqueue\n",
        r.port
    ));
    t.write("components.yaml", &components);
    t.write("probes.yaml", &probes);
    let ids: Vec<String> = (0..30).map(|i| format!("c{i:02}-tcp")).collect();
    let write = |now: &str, recovered: bool| {
        let mut changes = vec![("2026-11-20T10:00:00Z", Up), ("2026-11-20T11:50:00Z", Down)];
        if recovered {
            changes.push(("2026-11-20T12:02:00Z", Up));
        }
        let probes: Vec<(&str, &[(&str, pharos::state::RegionHealth)])> = ids
            .iter()
            .map(|id| (id.as_str(), changes.as_slice()))
            .collect();
        for region in ["r1", "r2"] {
            region_history(&t, region, now.parse().unwrap(), &probes);
        }
    };
    write("2026-11-20T12:00:00Z", false);
    alert(&t, "2026-11-20T12:00:00Z");
    let pd = r.requests("/v2/enqueue");
    assert_eq!(actions(&pd, "event_action"), ["trigger"; 4]);
    let digest = &pd[3].body;
    let summary = digest["payload"]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("27 more alerts than the rate limit lets through: cause:c03, "),
        "{summary}"
    );
    write("2026-11-20T12:03:00Z", true);
    assert_eq!(alert(&t, "2026-11-20T12:03:00Z"), "", "held for 2 min");
    write("2026-11-20T12:06:00Z", true);
    alert(&t, "2026-11-20T12:06:00Z");
    let pd = r.requests("/v2/enqueue");
    assert_eq!(
        actions(&pd[4..], "event_action"),
        ["resolve"; 4],
        "three alerts and the digest resolved, nothing per digested alert"
    );
    let keys = |reqs: &[Request]| {
        reqs.iter()
            .map(|q| q.body["dedup_key"].as_str().unwrap_or_default().to_string())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        keys(&pd[..4]),
        keys(&pd[4..]),
        "each resolve closes a trigger's key"
    );
    assert!(keys(&pd[..4]).contains(digest["dedup_key"].as_str().unwrap_or("?")));
    assert_eq!(alert(&t, "2026-11-20T12:07:00Z"), "");
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

#[test]
fn opsgenie_telegram_teams_matrix_and_pushover_get_what_each_documents() {
    let r = Receiver::start();
    let p = r.port;
    let t = project_with(&format!(
        "  targets:\n\
         \x20   - id: og\n      kind: opsgenie\n      url: http://127.0.0.1:{p}/og\n      token: ${{OG_KEY}}\n\
         \x20   - id: tg\n      kind: telegram\n      url: http://127.0.0.1:{p}/tg\n      token: ${{TG_TOKEN}}\n      chat: \"-1001234567890\"\n\
         \x20   - id: teams\n      kind: teams\n      url: http://127.0.0.1:{p}/teams\n\
         \x20   - id: mx\n      kind: matrix\n      url: http://127.0.0.1:{p}/mx\n      token: ${{MX_TOKEN}}\n      room: \"!alerts:localhost\"\n\
         \x20   - id: po\n      kind: pushover\n      url: http://127.0.0.1:{p}/po\n      token: ${{PO_TOKEN}}\n      user: ${{PO_USER}}\n"
    ));
    let run = |now: &str| {
        let out = t
            .cmd(&["alert", "--now", now])
            .env("OG_KEY", "og-key")
            .env("TG_TOKEN", "123456:ABC-def")
            .env("MX_TOKEN", "syt_mx")
            .env("PO_TOKEN", "azGDORePK8gMaC0QOYAMyEEuzJnyUi")
            .env("PO_USER", "uQiRzpo4DXghDmr9QzzfQu27cmVRsG")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    };
    outage_and_recovery(&t, run);

    // Opsgenie (https://docs.opsgenie.com/docs/alert-api): create with an alias and a
    // message of at most 130 characters, close by alias; GenieKey authorization.
    let created = r.requests("/og/v2/alerts");
    assert_eq!(created.len(), 1);
    let c = &created[0];
    assert_eq!(c.headers["authorization"], "GenieKey og-key");
    assert_eq!(c.body["alias"], "cause:db");
    assert_eq!(c.body["priority"], "P1");
    assert!(c.body["message"].as_str().unwrap().chars().count() <= 130);
    assert!(
        c.body["details"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v.is_string()),
        "details are strings"
    );
    assert_eq!(
        r.requests("/og/v2/alerts/cause%3Adb/close?identifierType=alias")
            .len(),
        1
    );

    // Telegram (https://core.telegram.org/bots/api#sendmessage): the token in the path,
    // chat_id, HTML text of at most 4096 characters.
    let tg = r.requests("/tg/bot123456:ABC-def/sendMessage");
    assert_eq!(tg.len(), 2);
    assert_eq!(tg[0].body["chat_id"], "-1001234567890");
    assert_eq!(tg[0].body["parse_mode"], "HTML");
    let text = tg[0].body["text"].as_str().unwrap();
    assert!(
        text.chars().count() <= 4096 && text.starts_with("🔴 <b>Major outage: db"),
        "{text}"
    );
    assert!(
        tg[1].body["text"]
            .as_str()
            .unwrap()
            .starts_with("✅ <b>Resolved: db")
    );

    // Teams Workflows: a message with one Adaptive Card 1.4 and an OpenUrl action.
    let teams = r.requests("/teams");
    assert_eq!(teams.len(), 2);
    let card = &teams[0].body["attachments"][0];
    assert_eq!(teams[0].body["type"], "message");
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert_eq!(card["content"]["version"], "1.4");
    assert_eq!(
        card["content"]["actions"][0]["url"],
        "https://status.acme.test/"
    );
    assert_eq!(
        teams[1].body["attachments"][0]["content"]["body"][0]["color"],
        "Good"
    );

    // Matrix (client-server API): PUT of an m.notice to the room, the event id as the
    // transaction id, a bearer token.
    let mx: Vec<Request> = r
        .all()
        .into_iter()
        .filter(|q| {
            q.path.starts_with(
                "/mx/_matrix/client/v3/rooms/%21alerts%3Alocalhost/send/m.room.message/pharos-",
            )
        })
        .collect();
    assert_eq!(mx.len(), 2);
    assert_eq!(mx[0].headers["authorization"], "Bearer syt_mx");
    assert_eq!(mx[0].body["msgtype"], "m.notice");
    assert_eq!(mx[0].body["format"], "org.matrix.custom.html");
    assert!(
        mx[0].body["body"]
            .as_str()
            .unwrap()
            .starts_with("🔴 Major outage: db")
    );
    assert_ne!(mx[0].path, mx[1].path, "one transaction id per event");

    // Pushover (https://pushover.net/api): token and user in the body, message ≤ 1024,
    // title ≤ 250, priority 1 for an outage and 0 for its end.
    let po = r.requests("/po/1/messages.json");
    assert_eq!(po.len(), 2);
    assert_eq!(po[0].body["token"], "azGDORePK8gMaC0QOYAMyEEuzJnyUi");
    assert_eq!(po[0].body["user"], "uQiRzpo4DXghDmr9QzzfQu27cmVRsG");
    assert_eq!(po[0].body["priority"], 1);
    assert_eq!(po[1].body["priority"], 0);
    assert!(po[0].body["message"].as_str().unwrap().chars().count() <= 1024);
    assert!(po[0].body["title"].as_str().unwrap().chars().count() <= 250);
}

#[test]
fn watch_alert_pages_on_the_change_it_reads_and_resolves_when_it_is_over() {
    let r = Receiver::start();
    let p = r.port;
    let t = project_with(&format!(
        "  hold: 0s\n  targets:\n\
         \x20   - id: hook\n      kind: webhook\n      url: http://127.0.0.1:{p}/hook\n"
    ));
    states(&t, "2026-11-20T12:05:00Z", false);
    let child = t
        .cmd(&["watch", "--alert"])
        .env("PHAROS_NOW", "2026-11-20T12:05:00Z")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let limit = std::time::Duration::from_secs(60);
    crate::harness::until("the trigger", limit, || r.requests("/hook").len() == 1);
    states(&t, "2026-11-20T12:05:00Z", true);
    crate::harness::until("the resolve", limit, || r.requests("/hook").len() == 2);
    let out = crate::harness::stop(child);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let hook = r.requests("/hook");
    assert_eq!(actions(&hook, "action"), ["trigger", "resolve"]);
    assert!(
        stdout(&out).contains("hook: trigger cause:db"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_wrong_alerts_section_is_refused_line_by_line_with_the_fix() {
    let t = project_with(
        "  rate_limit: 0\n  remind: 0s\n  targets:\n\
         \x20   - id: oncall\n      kind: pagerduty\n\
         \x20   - id: team\n      kind: slack\n      url: http://127.0.0.1:9/x\n      chat: \"1\"\n\
         \x20   - id: chat\n      kind: telegram\n      token: ${T}\n\
         \x20 rules:\n    - components: [nope]\n      targets: [pager]\n      statuses: [operational]\n",
    );
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    for (line, said) in [
        ("probes.yaml:", "rate_limit 0 would page nobody"),
        ("probes.yaml:", "remind must be at least 1s"),
        (
            "alerts.targets[0]",
            "a pagerduty target needs `routing_key:` (the integration key",
        ),
        (
            "alerts.targets[1]",
            "`chat` is for telegram targets; remove it from this slack target",
        ),
        (
            "alerts.targets[2]",
            "a telegram target needs `chat:` (the chat id",
        ),
        (
            "alerts.rules[0]",
            "target \"pager\" is not under alerts: targets:; use one of: oncall, team, chat",
        ),
        (
            "alerts.rules[0]",
            "component \"nope\" is not in components.yaml",
        ),
        ("alerts.rules[0]", "operational pages nobody"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("probes.yaml:") && l.contains(line) && l.contains(said)),
            "{said}: {text}"
        );
    }
}

#[test]
fn watch_alert_killed_50_times_while_outages_come_and_go_tells_each_change_once_in_order() {
    let r = Receiver::start();
    // Slow answers widen the moment between a send and its record.
    r.set_delay(150);
    let p = r.port;
    let t = project_with(&format!(
        "  hold: 0s\n  rate_limit: 1000\n  targets:\n\
         \x20   - id: hook\n      kind: webhook\n      url: http://127.0.0.1:{p}/hook\n\
         \x20   - id: oncall\n      kind: pagerduty\n      routing_key: R0UTINGKEY0123456789012345678901\n      url: http://127.0.0.1:{p}/v2/enqueue\n"
    ));
    let now = "2026-11-20T12:05:00Z";
    // Before each start the outage begins or ends, so every start has an event to send,
    // and each is killed at a random moment: before, during or after its sends.
    let mut down = false;
    for _ in 0..50 {
        down = !down;
        states(&t, now, !down);
        let mut child = t
            .cmd(&["watch", "--alert"])
            .env("PHAROS_NOW", now)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(fastrand::u64(50..1500)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    // A last, clean evaluation delivers whatever the kills left in the outboxes.
    let out = t.cmd(&["alert", "--now", now]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // The webhook: events in order of first arrival, a repeat only under its own id.
    let hook = r.requests("/hook");
    let mut seen = BTreeSet::new();
    let told: Vec<String> = hook
        .iter()
        .filter(|h| seen.insert(h.headers["idempotency-key"].clone()))
        .map(|h| h.body["action"].as_str().unwrap().to_string())
        .collect();
    assert!(!told.is_empty());
    for (i, action) in told.iter().enumerate() {
        let want = if i % 2 == 0 { "trigger" } else { "resolve" };
        assert_eq!(
            action, want,
            "event {i} of {told:?}: each change told once, in order"
        );
    }
    assert_eq!(
        told.last().map(String::as_str),
        Some(if down { "trigger" } else { "resolve" }),
        "the last event matches the last state"
    );
    // PagerDuty: the same order on one dedup key, a repeat only of the event before.
    let pd: Vec<String> = r
        .requests("/v2/enqueue")
        .iter()
        .map(|q| q.body["event_action"].as_str().unwrap().to_string())
        .collect();
    let mut collapsed = pd.clone();
    collapsed.dedup();
    assert_eq!(collapsed, told, "{pd:?}");
    eprintln!(
        "50 SIGKILLs with the outage toggled before each start: {} events told in order; webhook {} requests ({} repeats under the same key), PagerDuty {} requests ({} repeats on the same dedup key)",
        told.len(),
        hook.len(),
        hook.len() - told.len(),
        pd.len(),
        pd.len() - collapsed.len()
    );
}

/// A Synapse homeserver on 127.0.0.1, stopped on drop.
struct Synapse {
    port: u16,
    pid: i32,
    token: String,
    room: String,
    _dir: tempfile::TempDir,
}

impl Drop for Synapse {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.pid.to_string())
            .status();
    }
}

fn synapse_script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/matrix/synapse.py")
}

impl Synapse {
    fn start() -> Synapse {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::harness::free_port();
        let out = std::process::Command::new(crate::harness::SYNAPSE_PYTHON)
            .arg(synapse_script())
            .args(["start"])
            .arg(dir.path())
            .arg(port.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        Synapse {
            port,
            pid: v["pid"].as_i64().unwrap() as i32,
            token: v["token"].as_str().unwrap().to_string(),
            room: v["room"].as_str().unwrap().to_string(),
            _dir: dir,
        }
    }

    /// The room's messages, oldest first.
    fn messages(&self) -> Vec<serde_json::Value> {
        let out = std::process::Command::new(crate::harness::SYNAPSE_PYTHON)
            .arg(synapse_script())
            .args(["messages", &self.port.to_string(), &self.token, &self.room])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

#[test]
fn a_real_matrix_homeserver_gets_the_trigger_and_the_resolve_in_its_room() {
    if !crate::harness::needs(&[crate::harness::Part::Synapse]) {
        return;
    }
    let hs = Synapse::start();
    let t = project_with(&format!(
        "  targets:\n    - id: room\n      kind: matrix\n      url: http://127.0.0.1:{}\n      token: ${{MX_TOKEN}}\n      room: \"{}\"\n",
        hs.port, hs.room
    ));
    let run = |now: &str| {
        let out = t
            .cmd(&["alert", "--now", now])
            .env("MX_TOKEN", &hs.token)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    };
    outage_and_recovery(&t, run);
    let got = hs.messages();
    assert_eq!(got.len(), 2, "{got:#?}");
    for m in &got {
        assert!(
            m["sender"].as_str().unwrap().starts_with("@alertbot:"),
            "{m}"
        );
        assert_eq!(m["msgtype"], "m.notice");
        assert!(
            m["txn"].as_str().unwrap().starts_with("pharos-"),
            "the event id is the transaction id: {m}"
        );
    }
    assert!(
        got[0]["body"]
            .as_str()
            .unwrap()
            .starts_with("🔴 Major outage: db"),
        "{got:#?}"
    );
    assert!(
        got[1]["body"]
            .as_str()
            .unwrap()
            .starts_with("✅ Resolved: db"),
        "{got:#?}"
    );
}

#[test]
fn an_email_target_mails_through_the_announce_smtp_server() {
    if !crate::harness::needs(&[crate::harness::Part::Aiosmtpd]) {
        return;
    }
    let t = project_with("  targets:\n    - id: mail\n      kind: email\n      via: oncall-mail\n");
    let (mut server, port) = crate::announce::smtp_server(&t);
    let components = t.read("components.yaml");
    t.write(
        "components.yaml",
        &format!(
            "{components}announce:\n  - id: oncall-mail\n    kind: email\n    smtp: localhost:{port}\n    ca_file: ca.pem\n\
             \x20   from: \"Acme Status <status@acme.test>\"\n    to: [oncall@acme.test]\n"
        ),
    );
    states(&t, "2026-11-20T12:00:00Z", false);
    let out = t.run(&["alert", "--now", "2026-11-20T12:00:00Z"]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let mails = crate::announce::mails(&t);
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(
        mail.contains("X-RcptTo: status@acme.test, oncall@acme.test"),
        "{mail}"
    );
    assert!(mail.contains("Alert: cause:db"), "{mail}");
    assert!(mail.contains("Regions: r1, r2, r3"), "{mail}");
    assert!(mail.contains("Message-ID: <pharos-"), "{mail}");
    // An email target whose `via` is not an announce email target is refused by check.
    t.write(
        "probes.yaml",
        &t.read("probes.yaml")
            .replace("via: oncall-mail", "via: nope"),
    );
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out)
            .contains("via \"nope\" is not an email target under announce: in components.yaml"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_readme_alerting_example_is_a_valid_config() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("\n## Alerting\n").unwrap()..];
    let start = section.find("```yaml\n").unwrap() + "```yaml\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    assert!(example.starts_with("alerts:\n"), "{example}");
    // The announce email target it mails through, as the section shows it.
    let announce = &section[section.find("```yaml\nannounce:").unwrap() + "```yaml\n".len()..];
    let announce = &announce[..announce.find("```").unwrap()];
    let t = ProjectTest::new();
    t.write(
        "components.yaml",
        &format!(
            "page:\n  title: Acme Status\n  base_url: https://status.acme.test\ncomponents:\n  - id: db\n    name: Database\n  - id: api\n    name: API\n{announce}"
        ),
    );
    t.write(
        "probes.yaml",
        &format!(
            "regions:\n  - name: r1\nprobes:\n  - id: db-port\n    kind: tcp\n    host: db.test\n    port: 5432\n    components: [db]\n{example}"
        ),
    );
    let mut cmd = t.cmd(&["check"]);
    for var in [
        "PAGERDUTY_ROUTING_KEY",
        "SLACK_ALERTS_WEBHOOK",
        "OPSGENIE_API_KEY",
        "TELEGRAM_BOT_TOKEN",
        "TEAMS_WORKFLOW_URL",
        "MATRIX_TOKEN",
        "PUSHOVER_TOKEN",
        "PUSHOVER_USER",
        "SMTP_USER",
        "SMTP_PASSWORD",
    ] {
        cmd.env(var, "https://hooks.test/x");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    for kind in [
        "pagerduty",
        "slack",
        "ntfy",
        "webhook",
        "command",
        "opsgenie",
        "telegram",
        "teams",
        "matrix",
        "pushover",
        "email",
    ] {
        assert!(
            example.contains(&format!("kind: {kind}")),
            "the example shows {kind}"
        );
    }
}
