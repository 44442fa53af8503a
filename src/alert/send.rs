//! Step 8 (alert): one event to one target. The body each service documents (pure
//! functions, tested) and its delivery: an HTTP request, or a command run with
//! `PHAROS_ALERT_*` variables; the outcome sorted into "certainly not delivered" (tried
//! again after a back-off) and "maybe delivered" (sent again under the same dedup and
//! idempotency key, which the services use to drop the repeat).

use std::time::Duration;

use serde_json::{Value, json};

use super::{Action, Event};
use crate::announce::send::{Failure, PageInfo, cut};
use crate::config::{AlertKind, AlertTarget};
use crate::status::Status;

/// PagerDuty's Events API v2 endpoint, unless a target sets `url:`.
/// <https://developer.pagerduty.com/docs/events-api-v2/trigger-events/>
pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// Where a kind of target is reached unless it sets `url:` (empty: it must set one).
pub fn default_url(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Pagerduty => PAGERDUTY_URL,
        AlertKind::Opsgenie => "https://api.opsgenie.com",
        AlertKind::Telegram => "https://api.telegram.org",
        AlertKind::Pushover => "https://api.pushover.net",
        _ => "",
    }
}

/// A target with its secrets read from the environment (no `Debug`: it holds them).
#[derive(Clone)]
pub struct Ready {
    id: String,
    kind: AlertKind,
    url: Option<String>,
    routing_key: Option<String>,
    token: Option<String>,
    chat: Option<String>,
    room: Option<String>,
    user: Option<String>,
    /// The announce target an email target sends through.
    mail: Option<crate::announce::send::Prepared>,
    command: Vec<String>,
    timeout: Duration,
}

/// Read a target's `${…}` values (an email target's from the `announce:` target it names
/// in `announce`, its CA file relative to `root`); a variable not set is named with the
/// fix.
pub fn ready(
    target: &AlertTarget,
    announce: &[crate::config::Target],
    root: &std::path::Path,
) -> anyhow::Result<Ready> {
    let mail = match &target.via {
        Some(via) => {
            let Some(t) = announce
                .iter()
                .find(|t| &t.id == via && t.kind == crate::config::TargetKind::Email)
            else {
                anyhow::bail!(
                    "alert target {}: via \"{via}\" is not an email target under announce: in components.yaml",
                    target.id
                );
            };
            Some(crate::announce::send::prepare(t, root)?)
        }
        None => None,
    };
    let read = |t: &Option<crate::config::Template>, field: &str| {
        t.as_ref()
            .map(|t| {
                t.resolve_env().map_err(|m| {
                    anyhow::anyhow!(
                        "alert target {}: {field}: environment variable {} is not set; export it before alerting",
                        target.id,
                        m.0
                    )
                })
            })
            .transpose()
    };
    Ok(Ready {
        id: target.id.clone(),
        kind: target.kind,
        url: read(&target.url, "url")?,
        routing_key: read(&target.routing_key, "routing_key")?,
        token: read(&target.token, "token")?,
        chat: target.chat.clone(),
        room: target.room.clone(),
        user: read(&target.user, "user")?,
        mail,
        command: target.command.clone(),
        timeout: target.timeout,
    })
}

/// A status as people say it.
fn words(status: Status) -> &'static str {
    match status {
        Status::Operational => "Operational",
        Status::DegradedPerformance => "Degraded performance",
        Status::PartialOutage => "Partial outage",
        Status::MajorOutage => "Major outage",
    }
}

/// The one-line summary of an event: what, where, since when.
pub fn summary(e: &Event) -> String {
    let root = if e.root.len() > 1 {
        format!("{} (one of them)", e.root.join(" or "))
    } else {
        e.root.join("")
    };
    let others: Vec<&String> = e
        .components
        .iter()
        .filter(|c| !e.root.contains(c))
        .collect();
    let affects = match others.len() {
        0 => String::new(),
        n if n <= 5 => format!(
            " — affects {}",
            others
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        n => format!(
            " — affects {} and {} more",
            others[..5]
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            n - 5
        ),
    };
    let regions = if e.regions.is_empty() {
        String::new()
    } else {
        format!(" (down in {})", e.regions.join(", "))
    };
    match e.action {
        Action::Trigger | Action::Update => {
            format!("{}: {root}{affects}{regions}", words(e.status))
        }
        Action::Remind => format!(
            "Still {}: {root}{affects}{regions}",
            words(e.status).to_lowercase()
        ),
        Action::Resolve => {
            let lasted = e
                .since
                .map(|s| format!(" after {}", crate::doctor::spoken(e.at - s)))
                .unwrap_or_default();
            let was = words(e.previous.unwrap_or(Status::MajorOutage)).to_lowercase();
            // A digest has no root: its components are the alerts it stood for.
            if e.root.is_empty() {
                format!(
                    "Resolved: all {} alerts of a digest: {} — was {was}{lasted}",
                    e.components.len(),
                    listed(&e.components)
                )
            } else {
                format!("Resolved: {root}{affects} — was {was}{lasted}")
            }
        }
        Action::Digest => format!(
            "{} more alerts than the rate limit lets through: {}",
            e.components.len(),
            listed(&e.components)
        ),
        Action::Test => {
            "Test alert from Pharos: no outage, only a check of this target's settings".into()
        }
    }
}

/// The first 20 of `keys`, and how many more.
fn listed(keys: &[String]) -> String {
    let shown: Vec<&str> = keys.iter().take(20).map(String::as_str).collect();
    match keys.len().saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// PagerDuty's severity for a status.
fn severity(status: Status) -> &'static str {
    match status {
        Status::MajorOutage => "critical",
        Status::PartialOutage => "error",
        Status::DegradedPerformance => "warning",
        Status::Operational => "info",
    }
}

/// The JSON body of an event for an HTTP target.
pub fn body(kind: AlertKind, routing_key: &str, page: &PageInfo, e: &Event) -> Value {
    let text = summary(e);
    let tested = e.action == Action::Test;
    match kind {
        // https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ and
        // …/resolve-events/: dedup_key ≤ 255, summary ≤ 1024, severity one of four.
        AlertKind::Pagerduty => {
            let action = if e.action == Action::Resolve {
                "resolve"
            } else {
                "trigger"
            };
            // A test is an alert of its own, never resolved (a digest's key is its id).
            let key = match e.action {
                Action::Test => e.id.clone(),
                _ => e.key.clone(),
            };
            let mut v = json!({
                "routing_key": routing_key,
                "event_action": action,
                "dedup_key": cut(&key, 255),
                "client": "Pharos",
                "client_url": page.url,
                "links": [{"href": page.url, "text": page.title}],
            });
            if action == "trigger" {
                v["payload"] = json!({
                    "summary": cut(&format!("[{}] {text}", page.title), 1024),
                    "source": page.url,
                    "severity": if tested { "info" } else { severity(e.status) },
                    "timestamp": e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "component": e.root.join(" or "),
                    "group": page.title,
                    "class": e.status.as_str(),
                    "custom_details": {
                        "action": e.action.as_str(),
                        "components": e.components,
                        "regions": e.regions,
                        "since": e.since.map(|s| s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                        "test": tested,
                    },
                });
            }
            v
        }
        AlertKind::Slack => {
            let mark = match e.action {
                Action::Resolve => ":large_green_circle:",
                Action::Test => ":test_tube:",
                _ if e.status == Status::MajorOutage => ":red_circle:",
                _ => ":large_orange_circle:",
            };
            json!({"text": format!("{mark} {} — <{}|{}>", slack_escape(&cut(&text, 3000)), page.url, slack_escape(&page.title))})
        }
        AlertKind::Discord => json!({
            "content": cut(&format!("{text}\n<{}>", page.url), 2000),
            "allowed_mentions": {"parse": []},
        }),
        // The generic webhook: documented in the README, "Alerting".
        _ => json!({
            "version": 1,
            "id": e.id,
            "key": e.key,
            "action": e.action.as_str(),
            "status": e.status.as_str(),
            "previous_status": e.previous.map(Status::as_str),
            "root": e.root,
            "components": e.components,
            "regions": e.regions,
            "since": e.since.map(|s| s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            "at": e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "summary": text,
            "test": tested,
            "page": {"title": page.title, "url": page.url},
        }),
    }
}

/// Slack's three escapes (<https://api.slack.com/reference/surfaces/formatting#escaping>).
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// ntfy's priority for an event (<https://docs.ntfy.sh/publish/#message-priority>).
fn ntfy_priority(e: &Event) -> &'static str {
    match (e.action, e.status) {
        (Action::Resolve | Action::Test, _) => "3",
        (_, Status::MajorOutage) => "5",
        (_, Status::PartialOutage) => "4",
        _ => "3",
    }
}

/// An HTTP request, ready to send (no `Debug`: its address and headers may hold secrets).
#[derive(Clone, PartialEq)]
pub struct Outgoing {
    /// POST or PUT.
    pub method: reqwest::Method,
    /// Where (may hold a secret: Telegram's token, a Teams workflow's signature).
    pub url: String,
    /// Headers besides the idempotency key.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// What a path segment keeps as it is: RFC 3986's unreserved characters.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encode one path segment (a Matrix room id, an Opsgenie alias).
fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

/// HTML for chat services that take it (Telegram, Matrix): the three escapes.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The request that delivers `e` to `target`, each as its service documents.
pub fn outgoing(target: &Ready, page: &PageInfo, e: &Event) -> Outgoing {
    let base = |default: &str| {
        target
            .url
            .clone()
            .unwrap_or_else(|| default.to_string())
            .trim_end_matches('/')
            .to_string()
    };
    let token = target.token.clone().unwrap_or_default();
    let json_body = |v: Value| serde_json::to_vec(&v).unwrap_or_default();
    let json = vec![("Content-Type", "application/json".to_string())];
    let text = summary(e);
    match target.kind {
        AlertKind::Ntfy => {
            let mut out = ntfy(base(""), &text, page, e);
            if !token.is_empty() {
                out.headers
                    .push(("Authorization", format!("Bearer {token}")));
            }
            out
        }
        AlertKind::Opsgenie => opsgenie(
            &base(default_url(AlertKind::Opsgenie)),
            &token,
            &text,
            page,
            e,
        ),
        // https://core.telegram.org/bots/api#sendmessage: HTML, 4096 characters.
        AlertKind::Telegram => Outgoing {
            method: reqwest::Method::POST,
            url: format!(
                "{}/bot{token}/sendMessage",
                base(default_url(AlertKind::Telegram))
            ),
            headers: json,
            body: json_body(json!({
                "chat_id": target.chat.clone().unwrap_or_default(),
                "text": cut(&format!(
                    "{} <b>{}</b>\n<a href=\"{}\">{}</a>",
                    mark(e),
                    html_escape(&cut(&text, 3000)),
                    html_escape(&page.url),
                    html_escape(&page.title)
                ), 4096),
                "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": true},
            })),
        },
        // A Teams Workflows webhook ("When a Teams webhook request is received"): a
        // message with one Adaptive Card (version 1.4), answered 202.
        AlertKind::Teams => Outgoing {
            method: reqwest::Method::POST,
            url: base(""),
            headers: json,
            body: json_body(teams_card(&text, page, e)),
        },
        // https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3roomsroomidsendeventtypetxnid:
        // the event id as the transaction id, so a repeat is the same message.
        AlertKind::Matrix => Outgoing {
            method: reqwest::Method::PUT,
            url: format!(
                "{}/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
                base(""),
                segment(target.room.as_deref().unwrap_or_default()),
                segment(&e.id)
            ),
            headers: [json, vec![("Authorization", format!("Bearer {token}"))]].concat(),
            body: json_body(json!({
                "msgtype": "m.notice",
                "body": format!("{} {text}\n{}", mark(e), page.url),
                "format": "org.matrix.custom.html",
                "formatted_body": format!(
                    "{} <b>{}</b><br><a href=\"{}\">{}</a>",
                    mark(e),
                    html_escape(&text),
                    html_escape(&page.url),
                    html_escape(&page.title)
                ),
            })),
        },
        // https://pushover.net/api: token and user in the body; 1024/250/512 limits.
        AlertKind::Pushover => Outgoing {
            method: reqwest::Method::POST,
            url: format!("{}/1/messages.json", base(default_url(AlertKind::Pushover))),
            headers: json,
            body: json_body(json!({
                "token": token,
                "user": target.user.clone().unwrap_or_default(),
                "title": cut(&format!("{} {}", mark(e), page.title), 250),
                "message": cut(&text, 1024),
                "url": cut(&page.url, 512),
                "url_title": "Status page",
                "priority": match (e.action, e.status) {
                    (Action::Resolve | Action::Test, _) => 0,
                    (_, Status::MajorOutage | Status::PartialOutage) => 1,
                    _ => 0,
                },
                "timestamp": e.at.timestamp(),
            })),
        },
        kind => {
            let routing_key = target.routing_key.as_deref().unwrap_or_default();
            let mut headers = json;
            if !token.is_empty() {
                headers.push(("Authorization", format!("Bearer {token}")));
            }
            Outgoing {
                method: reqwest::Method::POST,
                url: base(if kind == AlertKind::Pagerduty {
                    PAGERDUTY_URL
                } else {
                    ""
                }),
                headers,
                body: json_body(body(kind, routing_key, page, e)),
            }
        }
    }
}

/// ntfy (<https://docs.ntfy.sh/publish/>): the message as the body, the rest headers.
fn ntfy(url: String, text: &str, page: &PageInfo, e: &Event) -> Outgoing {
    let resolved = e.action == Action::Resolve;
    Outgoing {
        method: reqwest::Method::POST,
        url,
        headers: vec![
            ("Title", cut(&page.title, 200)),
            ("Priority", ntfy_priority(e).to_string()),
            (
                "Tags",
                if resolved {
                    "white_check_mark"
                } else {
                    "rotating_light"
                }
                .to_string(),
            ),
            ("Click", page.url.clone()),
        ],
        body: cut(text, 4000).into_bytes(),
    }
}

/// Opsgenie (<https://docs.opsgenie.com/docs/alert-api>): create with an alias (an open
/// alert with the same alias is counted, not repeated), close by alias.
fn opsgenie(base: &str, token: &str, text: &str, page: &PageInfo, e: &Event) -> Outgoing {
    let json_body = |v: Value| serde_json::to_vec(&v).unwrap_or_default();
    let json = vec![("Content-Type", "application/json".to_string())];
    let resolved = e.action == Action::Resolve;
    let auth = ("Authorization", format!("GenieKey {token}"));
    let alias = match e.action {
        Action::Test => e.id.clone(),
        _ => e.key.clone(),
    };
    if resolved {
        Outgoing {
            method: reqwest::Method::POST,
            url: format!(
                "{}/v2/alerts/{}/close?identifierType=alias",
                base,
                segment(&cut(&alias, 512))
            ),
            headers: [json, vec![auth]].concat(),
            body: json_body(json!({"source": "Pharos", "note": text})),
        }
    } else {
        let priority = match (e.action, e.status) {
            (Action::Test, _) => "P5",
            (_, Status::MajorOutage) => "P1",
            (_, Status::PartialOutage) => "P2",
            _ => "P3",
        };
        Outgoing {
            method: reqwest::Method::POST,
            url: format!("{}/v2/alerts", base),
            headers: [json, vec![auth]].concat(),
            body: json_body(json!({
                "message": cut(text, 130),
                "alias": cut(&alias, 512),
                "description": cut(&format!("{text}\n{}", page.url), 15_000),
                "priority": priority,
                "source": "Pharos",
                "entity": cut(&page.title, 512),
                "tags": ["pharos", e.status.as_str()],
                "details": {
                    "components": cut(&e.components.join(", "), 4000),
                    "regions": e.regions.join(", "),
                    "status_page": page.url,
                    "action": e.action.as_str(),
                },
            })),
        }
    }
}

/// A Teams Workflows webhook ("When a Teams webhook request is received"): a message
/// with one Adaptive Card (version 1.4), answered 202.
fn teams_card(text: &str, page: &PageInfo, e: &Event) -> Value {
    let resolved = e.action == Action::Resolve;
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": format!("{} {text}", mark(e)), "weight": "Bolder",
                     "size": "Medium", "wrap": true,
                     "color": if resolved { "Good" } else { "Attention" }},
                    {"type": "FactSet", "facts": [
                        {"title": "Components", "value": cut(&e.components.join(", "), 2000)},
                        {"title": "Regions", "value": e.regions.join(", ")},
                        {"title": "Alert", "value": e.key},
                    ]},
                ],
                "actions": [{"type": "Action.OpenUrl", "title": page.title, "url": page.url}],
            },
        }],
    })
}

/// An event as the mail an announce email target sends: the line as the subject, what
/// it affects and where in the body, the page as the link.
fn mail_item(page: &PageInfo, e: &Event) -> crate::render::feeds::Item {
    let text = format!(
        "{}\n\nAlert: {}\nComponents: {}\nRegions: {}\nSince: {}",
        summary(e),
        e.key,
        e.components.join(", "),
        e.regions.join(", "),
        e.since
            .map(|s| s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    );
    crate::render::feeds::Item {
        id: e.id.clone(),
        title: format!("[{}] {}", page.title, cut(&summary(e), 200)),
        link: page.url.clone(),
        published: e.at,
        html: String::new(),
        text,
        components: e.components.clone(),
        derived: false,
        post: None,
    }
}

/// A sign for chat messages.
fn mark(e: &Event) -> &'static str {
    match (e.action, e.status) {
        (Action::Resolve, _) => "✅",
        (Action::Test, _) => "🧪",
        (_, Status::MajorOutage) => "🔴",
        _ => "🟠",
    }
}

/// Deliver one event.
pub async fn deliver(
    client: &reqwest::Client,
    target: &Ready,
    page: &PageInfo,
    e: &Event,
) -> Result<(), Failure> {
    if target.kind == AlertKind::Command {
        return run_command(target, page, e).await;
    }
    if let Some(mail) = &target.mail {
        let item = mail_item(page, e);
        let post = crate::announce::send::Post {
            item: &item,
            key: &e.id,
            thread: None,
        };
        return crate::announce::send::send(client, mail, page, &post)
            .await
            .map(|_| ());
    }
    let out = outgoing(target, page, e);
    let mut request = client
        .request(out.method, &out.url)
        .header("Idempotency-Key", &e.id)
        .body(out.body);
    for (name, value) in out.headers {
        request = request.header(name, value);
    }
    // A 429 (rate limited) was not taken: it is tried again after the back-off.
    crate::announce::send::dispatch(request, &target.id, &out.url).await
}

/// The `PHAROS_ALERT_*` variables a command target gets (the Mackerel check `action`
/// pattern).
pub fn command_env(page: &PageInfo, e: &Event) -> Vec<(&'static str, String)> {
    vec![
        ("PHAROS_ALERT_ID", e.id.clone()),
        ("PHAROS_ALERT_KEY", e.key.clone()),
        ("PHAROS_ALERT_ACTION", e.action.as_str().to_string()),
        ("PHAROS_ALERT_STATUS", e.status.as_str().to_string()),
        (
            "PHAROS_ALERT_PREVIOUS_STATUS",
            e.previous
                .map_or(Status::Operational, |p| p)
                .as_str()
                .to_string(),
        ),
        ("PHAROS_ALERT_ROOT", e.root.join(",")),
        ("PHAROS_ALERT_COMPONENTS", e.components.join(",")),
        ("PHAROS_ALERT_REGIONS", e.regions.join(",")),
        ("PHAROS_ALERT_MESSAGE", summary(e)),
        ("PHAROS_ALERT_LINK", page.url.clone()),
        (
            "PHAROS_ALERT_SINCE",
            e.since
                .map(|s| s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
        ),
        ("PHAROS_ALERT_TEST", (e.action == Action::Test).to_string()),
    ]
}

/// Run a command target: its output logged, killed after its timeout; exit 0 delivers.
async fn run_command(target: &Ready, page: &PageInfo, e: &Event) -> Result<(), Failure> {
    let Some((program, args)) = target.command.split_first() else {
        return Err(Failure::NotSent(format!("{}: no command", target.id)));
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .envs(command_env(page, e))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let run = tokio::time::timeout(target.timeout, cmd.output()).await;
    let out = match run {
        Err(_) => {
            return Err(Failure::Unknown(format!(
                "{}: {program} ran longer than {}; killed",
                target.id,
                humantime::format_duration(target.timeout)
            )));
        }
        Ok(Err(err)) => {
            return Err(Failure::NotSent(format!(
                "{}: cannot start {program}: {err}",
                target.id
            )));
        }
        Ok(Ok(out)) => out,
    };
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines().filter(|l| !l.trim().is_empty()).take(20) {
            tracing::info!("alert {} {stream}: {}", target.id, cut(line, 500));
        }
    }
    if out.status.success() {
        Ok(())
    } else {
        Err(Failure::NotSent(format!(
            "{}: {program} exited with {}",
            target.id, out.status
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: Action) -> Event {
        Event {
            id: "pharos-0123456789abcdef-3".into(),
            key: "cause:db".into(),
            action,
            status: Status::MajorOutage,
            previous: None,
            root: vec!["db".into()],
            components: vec!["db".into(), "api".into(), "web".into()],
            regions: vec!["eu-west".into(), "us-east".into()],
            since: chrono::DateTime::from_timestamp(1_800_000_000, 0),
            at: chrono::DateTime::from_timestamp(1_800_000_720, 0).unwrap_or_default(),
        }
    }

    fn page() -> PageInfo {
        PageInfo {
            title: "Acme <Status>".into(),
            url: "https://status.test/".into(),
        }
    }

    #[test]
    fn summaries_say_what_where_and_for_how_long() {
        assert_eq!(
            summary(&event(Action::Trigger)),
            "Major outage: db — affects api, web (down in eu-west, us-east)"
        );
        let mut resolve = event(Action::Resolve);
        resolve.status = Status::Operational;
        resolve.previous = Some(Status::PartialOutage);
        assert_eq!(
            summary(&resolve),
            "Resolved: db — affects api, web — was partial outage after 12 min"
        );
        let mut wide = event(Action::Trigger);
        wide.components = (0..40).map(|i| format!("c{i}")).collect();
        assert!(summary(&wide).ends_with("c4 and 35 more (down in eu-west, us-east)"));
    }

    #[test]
    fn pagerduty_gets_a_trigger_and_a_resolve_on_one_dedup_key() {
        let t = body(
            AlertKind::Pagerduty,
            "R0UTING",
            &page(),
            &event(Action::Trigger),
        );
        assert_eq!(t["event_action"], "trigger");
        assert_eq!(t["dedup_key"], "cause:db");
        assert_eq!(t["routing_key"], "R0UTING");
        assert_eq!(t["payload"]["severity"], "critical");
        assert_eq!(t["payload"]["timestamp"], "2027-01-15T08:12:00Z");
        assert_eq!(
            t["payload"]["custom_details"]["regions"],
            json!(["eu-west", "us-east"])
        );
        let r = body(
            AlertKind::Pagerduty,
            "R0UTING",
            &page(),
            &event(Action::Resolve),
        );
        assert_eq!(r["event_action"], "resolve");
        assert_eq!(r["dedup_key"], "cause:db");
        assert!(r.get("payload").is_none(), "a resolve needs no payload");
        // A digest is an alert of its own: triggered and resolved on its key (its id).
        let mut digest = event(Action::Digest);
        digest.key.clone_from(&digest.id);
        let d = body(AlertKind::Pagerduty, "R0UTING", &page(), &digest);
        assert_eq!(d["event_action"], "trigger");
        assert_eq!(d["dedup_key"], "pharos-0123456789abcdef-3");
        let mut over = event(Action::Resolve);
        over.key.clone_from(&digest.id);
        over.root.clear();
        let o = body(AlertKind::Pagerduty, "R0UTING", &page(), &over);
        assert_eq!(o["event_action"], "resolve");
        assert_eq!(o["dedup_key"], "pharos-0123456789abcdef-3");
        assert!(
            summary(&over).starts_with("Resolved: all "),
            "{}",
            summary(&over)
        );
        let t = body(
            AlertKind::Pagerduty,
            "R0UTING",
            &page(),
            &event(Action::Test),
        );
        assert_eq!(
            t["dedup_key"], "pharos-0123456789abcdef-3",
            "a test never resolves"
        );
    }

    #[test]
    fn chat_bodies_escape_and_link_the_page() {
        let s = body(AlertKind::Slack, "", &page(), &event(Action::Trigger));
        let text = s["text"].as_str().unwrap_or_default();
        assert!(text.starts_with(":red_circle: Major outage: db"), "{text}");
        assert!(
            text.ends_with("<https://status.test/|Acme &lt;Status&gt;>"),
            "{text}"
        );
        let d = body(AlertKind::Discord, "", &page(), &event(Action::Resolve));
        assert!(
            d["content"]
                .as_str()
                .unwrap_or_default()
                .ends_with("\n<https://status.test/>")
        );
        assert_eq!(d["allowed_mentions"]["parse"], json!([]));
        let w = body(AlertKind::Webhook, "", &page(), &event(Action::Update));
        assert_eq!(w["action"], "update");
        assert_eq!(w["key"], "cause:db");
        assert_eq!(w["test"], false);
    }
}
