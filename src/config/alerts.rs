//! Step 1 (config), probes.yaml: `alerts:` — who is paged (targets), for what (rules) and
//! how often (pace), validated into [`Alerts`] for the alert engine (`crate::alert`).

use std::time::Duration;

use serde::Deserialize;

use super::probes::Dur;
use super::template::Template;
use super::validate::{each_item, valid_id};
use super::{Problem, yaml::Node};
use crate::alert::{Pace, Rule};
use crate::status::Status;

/// Which service an alert target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// PagerDuty Events API v2: trigger and resolve with a dedup key.
    Pagerduty,
    /// A JSON body with the alert's key and lifecycle, documented in the README.
    Webhook,
    /// A Slack incoming webhook.
    Slack,
    /// A Discord webhook.
    Discord,
    /// An ntfy topic.
    Ntfy,
    /// Opsgenie's Alert API: create and close by alias.
    Opsgenie,
    /// A Telegram chat, through a bot.
    Telegram,
    /// A Microsoft Teams channel, through a Workflows webhook (Adaptive Card).
    Teams,
    /// A Matrix room (client-server API).
    Matrix,
    /// Pushover.
    Pushover,
    /// Mail, through the SMTP server of an `email` target under `announce:`.
    Email,
    /// A program run on every event with `PHAROS_ALERT_*` variables.
    Command,
}

impl AlertKind {
    /// The word in probes.yaml.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Pagerduty => "pagerduty",
            AlertKind::Webhook => "webhook",
            AlertKind::Slack => "slack",
            AlertKind::Discord => "discord",
            AlertKind::Ntfy => "ntfy",
            AlertKind::Opsgenie => "opsgenie",
            AlertKind::Telegram => "telegram",
            AlertKind::Teams => "teams",
            AlertKind::Matrix => "matrix",
            AlertKind::Pushover => "pushover",
            AlertKind::Email => "email",
            AlertKind::Command => "command",
        }
    }
}

/// `alerts:` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    /// Read below, item by item (for each problem's line).
    #[serde(default, rename = "targets")]
    _targets: Option<serde::de::IgnoredAny>,
    /// Read below, item by item.
    #[serde(default, rename = "rules")]
    _rules: Option<serde::de::IgnoredAny>,
    /// Remind while unresolved this often (off by default).
    #[serde(default)]
    remind: Option<Dur>,
    /// How long a trouble must be gone before it is resolved (a flapping cause is held).
    #[serde(default)]
    hold: Option<Dur>,
    /// At most this many events per target per `rate_window`; beyond, one digest.
    #[serde(default)]
    rate_limit: Option<usize>,
    /// The rate limit's window.
    #[serde(default)]
    rate_window: Option<Dur>,
}

/// An item of `alerts: targets:` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlertTarget {
    id: String,
    kind: AlertKind,
    #[serde(default)]
    url: Option<Template>,
    #[serde(default)]
    routing_key: Option<Template>,
    #[serde(default)]
    token: Option<Template>,
    #[serde(default)]
    chat: Option<String>,
    #[serde(default)]
    room: Option<String>,
    #[serde(default)]
    user: Option<Template>,
    #[serde(default)]
    via: Option<String>,
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    timeout: Option<Dur>,
}

/// An item of `alerts: rules:` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    components: Vec<String>,
    #[serde(default)]
    statuses: Option<Vec<Status>>,
    #[serde(default)]
    after: Option<Dur>,
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    single_region: bool,
}

/// An alert target, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertTarget {
    /// Its name in rules and in the ledger.
    pub id: String,
    /// The service.
    pub kind: AlertKind,
    /// The address (webhook, Slack, Discord, ntfy; PagerDuty's own by default).
    pub url: Option<Template>,
    /// PagerDuty's integration (routing) key.
    pub routing_key: Option<Template>,
    /// The secret: a bearer token (ntfy, webhook, Matrix), Opsgenie's API key,
    /// Telegram's bot token, Pushover's application token.
    pub token: Option<Template>,
    /// Telegram's chat id.
    pub chat: Option<String>,
    /// Matrix's room id.
    pub room: Option<String>,
    /// Pushover's user (or group) key.
    pub user: Option<Template>,
    /// An email target's `announce:` target (of kind email): its SMTP server, sender,
    /// credentials and recipients.
    pub via: Option<String>,
    /// The program and its arguments (command).
    pub command: Vec<String>,
    /// How long a command may run.
    pub timeout: Duration,
}

impl AlertTarget {
    /// The environment variables its settings name that are not set here.
    pub fn unset_vars(&self) -> Vec<String> {
        [&self.url, &self.routing_key, &self.token, &self.user]
            .into_iter()
            .flatten()
            .filter_map(|t| t.resolve_env().err())
            .map(|missing| missing.0)
            .collect()
    }
}

/// `alerts:`, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Alerts {
    /// Where alerts go.
    pub targets: Vec<AlertTarget>,
    /// What pages whom; with none written, one rule pages every target on any major or
    /// partial outage.
    pub rules: Vec<Rule>,
    /// Storm control.
    pub pace: Pace,
}

/// How long a command target may run unless it says.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// `alerts:` → [`Alerts`]; `components` are the ids in components.yaml, when known.
pub(crate) fn validate_alerts(
    node: Option<&Node>,
    file: &str,
    components: Option<&[&str]>,
    problems: &mut Vec<Problem>,
) -> Alerts {
    let Some(node) = node else {
        return Alerts::default();
    };
    let raw: RawAlerts = match super::yaml::from_node(node, "alerts") {
        Ok(r) => r,
        Err(e) => {
            problems.push(Problem::from_yaml(file, e));
            return Alerts::default();
        }
    };
    let child = |name: &str| node.get(name);
    let targets = validate_targets(child("targets"), file, problems);
    let ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
    let mut rules = Vec::new();
    for (i, item, r) in each_item::<RawRule>(child("rules"), "alerts.rules", file, problems) {
        let ctx = format!("alerts.rules[{i}]");
        for t in &r.targets {
            if !ids.contains(&t.as_str()) {
                problems.push(Problem::new(
                    file,
                    Some(item.loc_of(&["targets"])),
                    &ctx,
                    format!(
                        "target \"{t}\" is not under alerts: targets:; use one of: {}",
                        ids.join(", ")
                    ),
                ));
            }
        }
        if let Some(known) = components {
            for c in &r.components {
                if !known.contains(&c.as_str()) {
                    problems.push(Problem::new(
                        file,
                        Some(item.loc_of(&["components"])),
                        &ctx,
                        format!("component \"{c}\" is not in components.yaml"),
                    ));
                }
            }
        }
        let statuses = r
            .statuses
            .unwrap_or_else(|| vec![Status::MajorOutage, Status::PartialOutage]);
        if statuses.is_empty() {
            problems.push(Problem::new(
                file,
                Some(item.loc_of(&["statuses"])),
                &ctx,
                "an empty list pages nobody; list major_outage, partial_outage or degraded_performance (or leave statuses out for the first two)",
            ));
        }
        if statuses.contains(&Status::Operational) {
            problems.push(Problem::new(
                file,
                Some(item.loc_of(&["statuses"])),
                &ctx,
                "operational pages nobody; list major_outage, partial_outage or degraded_performance",
            ));
        }
        rules.push(Rule {
            components: r.components,
            statuses,
            after: chrono::Duration::from_std(r.after.map_or(Duration::ZERO, |d| d.0))
                .unwrap_or_default(),
            single_region: r.single_region,
            targets: if r.targets.is_empty() {
                ids.iter().map(|s| s.to_string()).collect()
            } else {
                r.targets
            },
        });
    }
    if rules.is_empty() && !targets.is_empty() {
        rules.push(Rule {
            components: Vec::new(),
            statuses: vec![Status::MajorOutage, Status::PartialOutage],
            after: chrono::Duration::zero(),
            single_region: false,
            targets: ids.iter().map(|s| s.to_string()).collect(),
        });
    }
    let defaults = Pace::default();
    let chrono = |d: Option<Dur>, or: chrono::Duration| {
        d.and_then(|d| chrono::Duration::from_std(d.0).ok())
            .unwrap_or(or)
    };
    for (field, value) in [("remind", raw.remind), ("rate_window", raw.rate_window)] {
        if value.is_some_and(|d| d.0 < Duration::from_secs(1)) {
            problems.push(Problem::new(
                file,
                Some(node.loc_of(&[field])),
                "alerts",
                format!("{field} must be at least 1s (e.g. 1h); leave it out for the default"),
            ));
        }
    }
    if raw.rate_limit == Some(0) {
        problems.push(Problem::new(
            file,
            Some(node.loc_of(&["rate_limit"])),
            "alerts",
            "rate_limit 0 would page nobody; give at least 1 (events per target per rate_window)",
        ));
    }
    Alerts {
        targets,
        rules,
        pace: Pace {
            limit: raw.rate_limit.unwrap_or(defaults.limit),
            window: chrono(raw.rate_window, defaults.window),
            hold: chrono(raw.hold, defaults.hold),
            remind: raw
                .remind
                .and_then(|d| chrono::Duration::from_std(d.0).ok()),
        },
    }
}

/// The fields a target's kind cannot do without.
fn required_fields(raw: &RawAlertTarget, mut problem: &mut dyn FnMut(&str, String)) {
    let kind = raw.kind.as_str();
    let needs = |field: &str, present: bool, what: &str, problem: &mut dyn FnMut(&str, String)| {
        if !present {
            problem("kind", format!("a {kind} target needs `{field}:` ({what})"));
        }
    };
    match raw.kind {
        AlertKind::Opsgenie => needs(
            "token",
            raw.token.is_some(),
            "the API key of an API integration, e.g. ${OPSGENIE_API_KEY}",
            &mut problem,
        ),
        AlertKind::Telegram => {
            needs(
                "token",
                raw.token.is_some(),
                "the bot token, e.g. ${TELEGRAM_BOT_TOKEN}",
                &mut problem,
            );
            needs(
                "chat",
                raw.chat.is_some(),
                "the chat id, e.g. -1001234567890",
                &mut problem,
            );
        }
        AlertKind::Matrix => {
            needs(
                "token",
                raw.token.is_some(),
                "the bot account's access token, e.g. ${MATRIX_TOKEN}",
                &mut problem,
            );
            needs(
                "room",
                raw.room.is_some(),
                "the room id, e.g. \"!abc:example.org\"",
                &mut problem,
            );
        }
        AlertKind::Pushover => {
            needs(
                "token",
                raw.token.is_some(),
                "the application's API token, e.g. ${PUSHOVER_TOKEN}",
                &mut problem,
            );
            needs(
                "user",
                raw.user.is_some(),
                "the user or group key, e.g. ${PUSHOVER_USER}",
                &mut problem,
            );
        }
        AlertKind::Pagerduty => needs(
            "routing_key",
            raw.routing_key.is_some(),
            "the integration key of an Events API v2 integration, e.g. ${PAGERDUTY_ROUTING_KEY}",
            &mut problem,
        ),
        AlertKind::Email => needs(
            "via",
            raw.via.is_some(),
            "the id of an email target under announce: in components.yaml, whose SMTP server, sender and recipients it uses",
            &mut problem,
        ),
        AlertKind::Command => needs(
            "command",
            !raw.command.is_empty(),
            "[program, arg…], run on every event with PHAROS_ALERT_* variables",
            &mut problem,
        ),
        _ => {}
    }
}

/// The fields a target's kind needs, and those it does not use.
fn check_fields(raw: &RawAlertTarget, problem: &mut dyn FnMut(&str, String)) {
    let kind = raw.kind.as_str();
    let needs_url = matches!(
        raw.kind,
        AlertKind::Webhook
            | AlertKind::Slack
            | AlertKind::Discord
            | AlertKind::Ntfy
            | AlertKind::Teams
            | AlertKind::Matrix
    );
    required_fields(raw, problem);
    // Fields of one kind only.
    for (field, present, owner) in [
        ("chat", raw.chat.is_some(), AlertKind::Telegram),
        ("room", raw.room.is_some(), AlertKind::Matrix),
        ("user", raw.user.is_some(), AlertKind::Pushover),
        ("via", raw.via.is_some(), AlertKind::Email),
        (
            "routing_key",
            raw.routing_key.is_some(),
            AlertKind::Pagerduty,
        ),
        (
            "command",
            !raw.command.is_empty() || raw.timeout.is_some(),
            AlertKind::Command,
        ),
    ] {
        if present && raw.kind != owner {
            problem(
                field,
                format!(
                    "`{field}` is for {} targets; remove it from this {kind} target",
                    owner.as_str()
                ),
            );
        }
    }
    if needs_url && raw.url.is_none() {
        problem(
            "kind",
            format!(
                "a {kind} target needs `url:` (write a secret one as ${{NAME}} and export NAME)"
            ),
        );
    }
    if let Some(url) = &raw.url
        && let Ok(plain) = url.resolve(&|_| None)
        && !url::Url::parse(&plain).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
    {
        problem("url", format!("url \"{plain}\" is not an http(s) address"));
    }
}

/// `alerts: targets:` → the targets, each with what its kind needs.
fn validate_targets(
    node: Option<&Node>,
    file: &str,
    problems: &mut Vec<Problem>,
) -> Vec<AlertTarget> {
    let mut out: Vec<AlertTarget> = Vec::new();
    for (i, item, raw) in each_item::<RawAlertTarget>(node, "alerts.targets", file, problems) {
        let ctx = format!("alerts.targets[{i}]");
        let mut problem = |field: &str, text: String| {
            problems.push(Problem::new(file, Some(item.loc_of(&[field])), &ctx, text));
        };
        if !valid_id(&raw.id) {
            problem(
                "id",
                format!(
                    "target id \"{}\" may hold only letters, digits, - and _",
                    raw.id
                ),
            );
        } else if out.iter().any(|t| t.id == raw.id) {
            problem(
                "id",
                format!(
                    "target id \"{}\" is used twice; give each target its own",
                    raw.id
                ),
            );
        }
        check_fields(&raw, &mut problem);
        out.push(AlertTarget {
            id: raw.id,
            kind: raw.kind,
            url: raw.url,
            routing_key: raw.routing_key,
            token: raw.token,
            chat: raw.chat,
            room: raw.room,
            user: raw.user,
            via: raw.via,
            command: raw.command,
            timeout: raw.timeout.map_or(COMMAND_TIMEOUT, |d| d.0),
        });
    }
    out
}
