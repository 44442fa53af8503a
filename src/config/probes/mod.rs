//! Step 1 (config): probes.yaml, how we check. Each probe kind has one module holding its
//! raw options (one struct: the only list of what the kind accepts), its validator and its
//! validated spec; [`common`] holds what every probe has, including the settings that
//! `defaults:` can hold too. [`validate_probes`] is imported by `config` (re-exported);
//! the validated types are what the prober, the builder and `analyze` read.
//!
//! An item of `probes:` is read in parts rather than as one flat struct: its `kind` says
//! which kind's struct the other keys belong to, and one key check against the common keys
//! and the kind's keys reports both a typo (`unknown field`) and another kind's option
//! (`does not apply`). As serde does for one struct, the first such error in file order
//! stops the item; the semantic problems after it are all collected. (An internally tagged
//! enum would report every typo at the list item, and serde's `flatten` does not work with
//! `deny_unknown_fields`.)

mod command;
mod common;
mod dns;
mod http;
mod icmp;
mod push;
mod tcp;
mod tls;

use std::collections::HashSet;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use command::{CommandSpec, TimeoutHealth};
pub use common::{Dur, IpVersion, RawAssertion, RawCommon, RawDefaults};
pub use dns::{AnswerMatch, DnsSpec, Transport};
pub use http::{HttpSpec, Method, StatusMatch};
pub use icmp::IcmpSpec;
pub use push::{PushSpec, weak_token};
pub use tcp::TcpSpec;
pub use tls::{Starttls, TlsCheckSpec, TlsSpec};

use super::assertion::{Assertion, Observer};
use super::template::Template;
use super::validate::{each_item, id_problem, list_items, valid_id};
use super::{Probing, Problem};
use crate::yaml::{self, Node, NodeKind};

/// Which kind of check a probe runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KindWord {
    /// An HTTP(S) request.
    Http,
    /// A TCP connect.
    Tcp,
    /// ICMP echo.
    Icmp,
    /// A DNS query.
    Dns,
    /// A TLS certificate check.
    Tls,
    /// A Nagios/Mackerel-style plugin.
    Command,
    /// A heartbeat pushed by a job.
    Push,
}

impl KindWord {
    /// The word as written in probes.yaml.
    pub fn as_str(self) -> &'static str {
        match self {
            KindWord::Http => "http",
            KindWord::Tcp => "tcp",
            KindWord::Icmp => "icmp",
            KindWord::Dns => "dns",
            KindWord::Tls => "tls",
            KindWord::Command => "command",
            KindWord::Push => "push",
        }
    }
}

/// An item of `regions:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegion {
    /// Region name, used for its state file: lowercase letters, digits, `-`, `_`.
    pub name: String,
    /// Human label, e.g. "Frankfurt".
    #[serde(default)]
    pub label: Option<String>,
}

/// A region that runs workers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Region {
    /// Name, as in `state/<name>.json`.
    pub name: String,
    /// Human label, e.g. "Frankfurt".
    pub label: Option<String>,
}

/// A validated probe.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Stable id.
    pub id: String,
    /// Components it exercises.
    pub components: Vec<String>,
    /// Regions that run it.
    pub regions: Vec<String>,
    /// Time between checks.
    pub interval: Duration,
    /// One deadline for a check.
    pub timeout: Duration,
    /// In-region re-checks of a down sample.
    pub retries: u32,
    /// Pause before each re-check.
    pub retry_delay: Duration,
    /// Rounds a bad status must hold before it shows.
    pub confirm: u32,
    /// Good rounds needed to show recovery.
    pub recover: u32,
    /// Regions that must agree; `None` for the default rule.
    pub quorum: Option<u32>,
    /// Slower than this is degraded.
    pub degraded_after: Option<Duration>,
    /// Conditions on what the check observed.
    pub assertions: Vec<Assertion>,
    /// What to check.
    pub kind: ProbeKind,
}

/// The kind-specific part of a probe.
#[derive(Debug, Clone)]
pub enum ProbeKind {
    /// An HTTP request.
    Http(HttpSpec),
    /// A TCP connect.
    Tcp(TcpSpec),
    /// A TLS handshake and certificate check.
    Tls(TlsCheckSpec),
    /// One DNS query to one server.
    Dns(DnsSpec),
    /// A Nagios/Mackerel-style plugin.
    Command(CommandSpec),
    /// Heartbeats a job sends (`pharos wrap`, or HTTP).
    Push(PushSpec),
    /// ICMP echo.
    Icmp(IcmpSpec),
}

impl Probe {
    /// The longest a failing check can take: every attempt timing out, plus the pauses.
    pub fn worst_check(&self) -> Duration {
        self.timeout * (self.retries + 1) + self.retry_delay * self.retries
    }

    /// When a failing check can outlast the interval, what that does and how to fix it:
    /// the next round is skipped while it runs, so failures show later. Push probes wait
    /// for heartbeats and never overrun.
    pub fn overrun(&self) -> Option<String> {
        let worst = self.worst_check();
        if matches!(self.kind, ProbeKind::Push(_)) || worst <= self.interval {
            return None;
        }
        let word = crate::words::duration;
        Some(format!(
            "a failing check can take {} (timeout {} × {} attempts + retry_delay {} × {}), longer than the interval {}: rounds are skipped while it runs, so a failure shows later; shorten the timeout, lower retries or lengthen the interval",
            word(worst),
            word(self.timeout),
            self.retries + 1,
            word(self.retry_delay),
            self.retries,
            word(self.interval)
        ))
    }
}

impl ProbeKind {
    /// The kind's word.
    pub fn word(&self) -> KindWord {
        match self {
            ProbeKind::Http(_) => KindWord::Http,
            ProbeKind::Tcp(_) => KindWord::Tcp,
            ProbeKind::Tls(_) => KindWord::Tls,
            ProbeKind::Dns(_) => KindWord::Dns,
            ProbeKind::Command(_) => KindWord::Command,
            ProbeKind::Push(_) => KindWord::Push,
            ProbeKind::Icmp(_) => KindWord::Icmp,
        }
    }

    /// The target as written (references unresolved), safe to show.
    pub fn target(&self) -> String {
        match self {
            ProbeKind::Http(h) => h.url.as_written().to_string(),
            ProbeKind::Tcp(t) => format!("{}:{}", t.host, t.port),
            ProbeKind::Tls(t) => format!("{}:{}", t.host, t.port),
            ProbeKind::Dns(d) => format!("{} {} @{}", d.name, d.record_type, d.server),
            ProbeKind::Command(c) => c
                .argv
                .iter()
                .map(|a| a.as_written())
                .collect::<Vec<_>>()
                .join(" "),
            ProbeKind::Push(_) => "heartbeat".to_string(),
            ProbeKind::Icmp(i) => i.host.clone(),
        }
    }

    /// Every `${ENV}` template the probe uses.
    pub fn templates(&self) -> Vec<&Template> {
        match self {
            ProbeKind::Http(h) => std::iter::once(&h.url)
                .chain(h.headers.iter().map(|(_, v)| v))
                .chain(h.body.iter())
                .collect(),
            ProbeKind::Command(c) => c.argv.iter().chain(c.env.iter().map(|(_, v)| v)).collect(),
            ProbeKind::Tcp(t) => t.send.iter().collect(),
            ProbeKind::Push(p) => p.token.iter().collect(),
            ProbeKind::Tls(_) | ProbeKind::Dns(_) | ProbeKind::Icmp(_) => Vec::new(),
        }
    }

    /// The probe's TLS settings, for kinds that speak TLS.
    pub fn tls(&self) -> Option<&TlsSpec> {
        match self {
            ProbeKind::Http(h) => Some(&h.tls),
            ProbeKind::Tls(t) => Some(&t.tls),
            ProbeKind::Tcp(t) => t.tls.as_ref(),
            _ => None,
        }
    }
}

/// What a kind's raw options struct does: its keys are the kind's options, and its
/// default is "none written".
pub(crate) trait KindOptions: DeserializeOwned + Default + PartialEq {
    /// Check the options and build the kind's spec; problems go to `cx`.
    fn validate(self, cx: &mut Cx<'_>) -> Option<ProbeKind>;

    /// Whether the probe speaks TLS, so that its checks record a certificate.
    fn speaks_tls(&self) -> bool {
        false
    }
}

/// The kinds and their options structs. Messages name kinds in this order.
macro_rules! kinds {
    ($($word:ident => $raw:ty,)*) => {
        /// The kinds in message order.
        const KINDS: &[KindWord] = &[$(KindWord::$word),*];

        /// One probe's kind-specific options as written.
        enum RawKind {
            $($word($raw),)*
        }

        impl RawKind {
            /// The keys a kind accepts besides the common ones.
            fn fields(word: KindWord) -> &'static [&'static str] {
                match word {
                    $(KindWord::$word => yaml::struct_fields::<$raw>(),)*
                }
            }

            /// Deserialize a kind's options from the map of its keys.
            fn read(word: KindWord, node: &Node, path: &str) -> Result<Self, yaml::Error> {
                Ok(match word {
                    $(KindWord::$word => RawKind::$word(yaml::from_node(node, path)?),)*
                })
            }

            fn validate(self, cx: &mut Cx<'_>) -> Option<ProbeKind> {
                match self {
                    $(RawKind::$word(raw) => raw.validate(cx),)*
                }
            }

            /// Whether these options are the same as none written.
            fn is_default(&self) -> bool {
                match self {
                    $(RawKind::$word(raw) => *raw == <$raw>::default(),)*
                }
            }

            fn speaks_tls(&self) -> bool {
                match self {
                    $(RawKind::$word(raw) => raw.speaks_tls(),)*
                }
            }
        }
    };
}

kinds! {
    Http => http::RawHttp,
    Tcp => tcp::RawTcp,
    Tls => tls::RawTls,
    Icmp => icmp::RawIcmp,
    Dns => dns::RawDns,
    Command => command::RawCommand,
    Push => push::RawPush,
}

/// Every key some probe accepts: the common ones, then each kind's, for typo suggestions.
fn all_fields() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = Vec::new();
    let common = yaml::struct_fields::<RawCommon>()
        .iter()
        .chain(yaml::struct_fields::<RawDefaults>());
    for f in common.chain(KINDS.iter().flat_map(|k| RawKind::fields(*k))) {
        if !all.contains(f) {
            all.push(f);
        }
    }
    all
}

/// Where one probe's problems go, with what its kind's validator may need to know.
pub(crate) struct Cx<'a> {
    file: &'a str,
    item: &'a Node,
    ctx: &'a str,
    problems: &'a mut Vec<Problem>,
    /// The probe's interval.
    pub(crate) interval: Duration,
    /// The probe names no regions while the file has several.
    pub(crate) regions_unnamed: bool,
}

impl Cx<'_> {
    /// A problem at the value under `path` in the probe's item.
    pub(crate) fn problem(&mut self, path: &[&str], message: impl Into<String>) {
        let loc = self.item.loc_of(path);
        self.at(loc, message);
    }

    /// A problem at a place.
    pub(crate) fn at(&mut self, loc: yaml::Loc, message: impl Into<String>) {
        self.problems
            .push(Problem::new(self.file, Some(loc), self.ctx, message.into()));
    }

    /// The probe's item, for finding places.
    pub(crate) fn item(&self) -> &Node {
        self.item
    }
}

/// What one item of `probes:` says, split into its parts.
struct RawItem {
    id: String,
    common: RawCommon,
    settings: RawDefaults,
    kind: RawKind,
    word: KindWord,
    /// Other kinds' options that were written, in file order.
    foreign: Vec<String>,
}

/// Read one item of `probes:`: one key check, then each part. The first error in file
/// order is returned, as serde returns it for one struct; a missing key comes last.
fn read_item(item: &Node, path: &str) -> Result<RawItem, yaml::Error> {
    let entries: &[(Node, Node)] = match &item.kind {
        NodeKind::Map(entries) => entries,
        _ if item.is_null() => &[],
        // Not a mapping: the error serde gives for a struct.
        _ => {
            return Err(yaml::from_node::<RawCommon>(item, path)
                .err()
                .unwrap_or_else(|| missing(item, path, "id")));
        }
    };
    let word = item
        .get("kind")
        .and_then(|n| yaml::from_node::<KindWord>(n, &format!("{path}.kind")).ok());
    let common_keys = yaml::struct_fields::<RawCommon>();
    let settings_keys = yaml::struct_fields::<RawDefaults>();
    let own = word.map_or(&[][..], RawKind::fields);
    let all = all_fields();
    let mut parts: [Vec<(Node, Node)>; 3] = Default::default();
    let mut foreign = Vec::new();
    let mut errors = Vec::new();
    for (k, v) in entries {
        let key = k.as_str().unwrap_or_default();
        let part = if common_keys.contains(&key) {
            0
        } else if settings_keys.contains(&key) {
            1
        } else if own.contains(&key) {
            2
        } else {
            match other_key(k, v, &all, path) {
                Err(e) => errors.push(e),
                Ok(true) if word.is_some() => foreign.push(key.to_string()),
                Ok(_) => {}
            }
            continue;
        };
        parts[part].push((k.clone(), v.clone()));
    }
    let [common, settings, kind] = parts.map(|entries| Node {
        kind: NodeKind::Map(entries),
        loc: item.loc,
    });
    let common = yaml::from_node::<RawCommon>(&common, path)
        .map_err(|e| errors.push(e))
        .ok();
    let settings = yaml::from_node::<RawDefaults>(&settings, path)
        .map_err(|e| errors.push(e))
        .ok();
    let kind = word.and_then(|w| {
        RawKind::read(w, &kind, path)
            .map_err(|e| errors.push(e))
            .ok()
    });
    if let Some(first) = errors
        .into_iter()
        .min_by_key(|e| e.loc.map(|l| (l.line, l.col)))
    {
        return Err(first);
    }
    let (Some(mut common), Some(settings)) = (common, settings) else {
        return Err(missing(item, path, "id"));
    };
    let Some(id) = common.id.take() else {
        return Err(missing(item, path, "id"));
    };
    let (Some(word), Some(kind)) = (word, kind) else {
        return Err(missing(item, path, "kind"));
    };
    Ok(RawItem {
        id,
        common,
        settings,
        kind,
        word,
        foreign,
    })
}

/// A key that is not one of the probe kind's own: a typo, or another kind's option, whose
/// value is still checked as that kind would check it. `Ok(true)` when that option is
/// written, i.e. not the same as leaving it out (`url: ~` and `headers: {}` are not).
fn other_key(k: &Node, v: &Node, all: &[&str], path: &str) -> Result<bool, yaml::Error> {
    let key = k.as_str().unwrap_or_default();
    let Some(owner) = KINDS.iter().find(|w| RawKind::fields(**w).contains(&key)) else {
        return Err(yaml::Error::at(
            k.loc,
            path,
            yaml::unknown_key_message(key, all),
        ));
    };
    let one = Node {
        kind: NodeKind::Map(vec![(k.clone(), v.clone())]),
        loc: k.loc,
    };
    RawKind::read(*owner, &one, path).map(|read| !read.is_default())
}

/// serde's error for a missing key, at the item.
fn missing(item: &Node, path: &str, key: &'static str) -> yaml::Error {
    let e: yaml::Error = serde::de::Error::missing_field(key);
    yaml::Error::at(item.loc, path, e.message)
}

/// What validating one probe needs from the rest of the file.
struct FileCx<'a> {
    defaults: &'a RawDefaults,
    regions: &'a [&'a str],
    components: Option<&'a [&'a str]>,
}

/// probes.yaml → [`Probing`]. With `components` (the ids in components.yaml), probe →
/// component references are checked too.
pub fn validate_probes(
    node: &Node,
    file: &str,
    components: Option<&[&str]>,
    problems: &mut Vec<Problem>,
) -> Option<Probing> {
    let before = problems.len();
    let mut top = Vec::new();
    let keys = yaml::known_keys(
        node,
        "",
        &["regions", "defaults", "probes", "alerts"],
        &mut top,
    );
    problems.extend(top.into_iter().map(|e| Problem::from_yaml(file, e)));

    let regions = validate_regions(keys.get("regions").copied(), file, problems);
    if regions.is_empty() && problems.len() == before {
        problems.push(Problem::new(
            file,
            Some(keys.get("regions").map_or(node.loc, |n| n.loc)),
            "",
            "no regions defined; add `regions:` with at least one `- name: eu-west`",
        ));
    }

    let defaults = match keys.get("defaults") {
        Some(d) => yaml::from_node::<RawDefaults>(d, "defaults").unwrap_or_else(|e| {
            problems.push(Problem::from_yaml(file, e));
            RawDefaults::default()
        }),
        None => RawDefaults::default(),
    };

    let region_names: Vec<&str> = regions.iter().map(|r| r.name.as_str()).collect();
    let fcx = FileCx {
        defaults: &defaults,
        regions: &region_names,
        components,
    };
    let mut probes = Vec::new();
    let mut ids = HashSet::new();
    let items = list_items(keys.get("probes").copied(), "probes", file, problems);
    for (i, item) in items.iter().enumerate() {
        let raw = match read_item(item, &format!("probes[{i}]")) {
            Ok(raw) => raw,
            Err(e) => {
                problems.push(Problem::from_yaml(file, e));
                continue;
            }
        };
        let ctx = format!("probe \"{}\" (probes[{i}])", raw.id);
        if !valid_id(&raw.id) {
            problems.push(id_problem(
                file,
                item.loc_of(&["id"]),
                &ctx,
                "probe id",
                &raw.id,
            ));
        } else if !ids.insert(raw.id.clone()) {
            problems.push(Problem::new(
                file,
                Some(item.loc_of(&["id"])),
                &ctx,
                format!("probe id \"{}\" is used twice; ids must be unique", raw.id),
            ));
        }
        let mut cx = Cx {
            file,
            item,
            ctx: &ctx,
            problems: &mut *problems,
            interval: Duration::ZERO,
            regions_unnamed: false,
        };
        if let Some(probe) = validate_probe(raw, &fcx, &mut cx) {
            probes.push(probe);
        }
    }
    let alerts =
        super::alerts::validate_alerts(keys.get("alerts").copied(), file, components, problems);
    if problems.len() > before {
        return None;
    }
    Some(Probing {
        regions,
        probes,
        alerts,
    })
}

/// `regions:` → the regions, each name valid and listed once.
fn validate_regions(node: Option<&Node>, file: &str, problems: &mut Vec<Problem>) -> Vec<Region> {
    let mut regions = Vec::new();
    let mut names = HashSet::new();
    for (i, item, raw) in each_item::<RawRegion>(node, "regions", file, problems) {
        let ctx = format!("regions[{i}]");
        if !valid_id(&raw.name) {
            problems.push(id_problem(
                file,
                item.loc_of(&["name"]),
                &ctx,
                "region name",
                &raw.name,
            ));
        } else if !names.insert(raw.name.clone()) {
            problems.push(Problem::new(
                file,
                Some(item.loc_of(&["name"])),
                &ctx,
                format!("region \"{}\" is listed twice", raw.name),
            ));
        }
        regions.push(Region {
            name: raw.name,
            label: raw.label,
        });
    }
    regions
}

/// One item → [`Probe`]: the common parts, the options of other kinds, the kind's own
/// options, then the assertions against what the kind observes.
fn validate_probe(raw: RawItem, fcx: &FileCx<'_>, cx: &mut Cx<'_>) -> Option<Probe> {
    let before = cx.problems.len();
    let regions = common::validate_refs(&raw.common, fcx.components, fcx.regions, cx);
    let settings = common::validate_settings(&raw.settings, fcx.defaults, regions.len(), cx);
    for field in &raw.foreign {
        let fits: Vec<&str> = KINDS
            .iter()
            .filter(|k| RawKind::fields(**k).contains(&field.as_str()))
            .map(|k| k.as_str())
            .collect();
        cx.problem(
            &[field],
            format!(
                "`{field}` does not apply to a {} probe (only to {}); remove it",
                raw.word.as_str(),
                fits.join(", ")
            ),
        );
    }
    cx.interval = settings.interval;
    cx.regions_unnamed = raw.common.regions.is_none() && fcx.regions.len() > 1;
    let observer = Observer {
        kind: raw.word,
        tls: raw.kind.speaks_tls(),
    };
    let kind = raw.kind.validate(cx);
    let assertions = common::validate_assertions(&raw.common.assertions, observer, cx);
    if cx.problems.len() > before {
        return None;
    }
    Some(Probe {
        id: raw.id,
        components: raw.common.components,
        regions,
        interval: settings.interval,
        timeout: settings.timeout,
        retries: settings.retries,
        retry_delay: settings.retry_delay,
        confirm: settings.confirm,
        recover: settings.recover,
        quorum: settings.quorum,
        degraded_after: settings.degraded_after,
        assertions,
        kind: kind?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::examine_texts;

    const COMPONENTS: &str =
        "page:\n  title: T\n  base_url: https://s.test\ncomponents:\n  - id: web\n    name: W\n";

    /// What each kind accepts besides the common keys, pinned so a change is deliberate.
    const TABLE: &[(KindWord, &[&str])] = &[
        (
            KindWord::Http,
            &[
                "url",
                "method",
                "headers",
                "body",
                "expect_status",
                "body_contains",
                "follow_redirects",
                "max_redirects",
                "max_body_bytes",
                "ip_version",
                "tls_server_name",
                "tls_skip_verify",
                "tls_ca_file",
            ],
        ),
        (
            KindWord::Tcp,
            &[
                "host",
                "port",
                "ip_version",
                "tls_server_name",
                "tls_skip_verify",
                "tls_ca_file",
                "tls",
                "send",
                "expect",
            ],
        ),
        (
            KindWord::Tls,
            &[
                "host",
                "port",
                "ip_version",
                "tls_server_name",
                "tls_skip_verify",
                "tls_ca_file",
                "starttls",
                "warn_days",
                "crit_days",
            ],
        ),
        (
            KindWord::Icmp,
            &["host", "ip_version", "count", "degraded_loss"],
        ),
        (
            KindWord::Dns,
            &[
                "server",
                "name",
                "record_type",
                "expect_rcode",
                "expect_answers",
                "transport",
            ],
        ),
        (
            KindWord::Command,
            &["command", "env", "max_output_bytes", "timeout_health"],
        ),
        (KindWord::Push, &["grace", "token"]),
    ];

    /// A value the option's own kind accepts.
    fn sample(key: &str) -> &'static str {
        match key {
            "url" => "https://x.test/",
            "method" => "POST",
            "headers" | "env" => "{A: b}",
            "body" | "send" => "PING",
            "expect_status" => "[2xx]",
            "body_contains" => "ok",
            "follow_redirects" => "false",
            "tls_skip_verify" | "tls" => "true",
            "max_redirects" | "count" | "crit_days" => "3",
            "max_body_bytes" | "max_output_bytes" => "100",
            "ip_version" => "ip6",
            "tls_server_name" | "name" | "host" => "x.test",
            "tls_ca_file" => "ca.pem",
            "port" => "443",
            "expect" => "'^x'",
            "starttls" => "smtp",
            "warn_days" => "30",
            "degraded_loss" => "50",
            "server" => "system",
            "record_type" => "A",
            "expect_rcode" => "[NOERROR]",
            "expect_answers" => "[192.0.2.1]",
            "transport" => "tcp",
            "command" => "[/bin/true]",
            "timeout_health" => "unknown",
            "grace" => "5s",
            "token" => "'${TOKEN}'",
            other => panic!("no sample value for `{other}`; add one here"),
        }
    }

    /// The smallest probe of a kind, as item lines after `- id: p`.
    fn minimal(kind: KindWord) -> &'static str {
        match kind {
            KindWord::Http => "    kind: http\n    url: https://x.test/\n",
            KindWord::Tcp => "    kind: tcp\n    host: db.test\n    port: 5432\n",
            KindWord::Tls => "    kind: tls\n    host: x.test\n",
            KindWord::Icmp => "    kind: icmp\n    host: 192.0.2.1\n",
            KindWord::Dns => {
                "    kind: dns\n    server: 127.0.0.1\n    name: x.test\n    record_type: A\n"
            }
            KindWord::Command => "    kind: command\n    command: [/bin/true]\n",
            KindWord::Push => "    kind: push\n",
        }
    }

    /// The problems of a kind's smallest probe with `key: value` in place of its own line.
    fn problems_with(kind: KindWord, key: &str, value: &str) -> Vec<String> {
        let own: String = minimal(kind)
            .lines()
            .filter(|l| !l.trim_start().starts_with(&format!("{key}:")))
            .map(|l| format!("{l}\n"))
            .collect();
        let probes = format!(
            "regions:\n  - name: r1\nprobes:\n  - id: p\n    components: [web]\n{own}    {key}: {value}\n"
        );
        let examined = examine_texts(COMPONENTS, &probes);
        examined.problems.iter().map(|p| p.to_string()).collect()
    }

    fn is_common(key: &str) -> bool {
        yaml::struct_fields::<RawCommon>().contains(&key)
            || yaml::struct_fields::<RawDefaults>().contains(&key)
    }

    #[test]
    fn each_kind_takes_exactly_its_options() {
        assert_eq!(TABLE.len(), KINDS.len());
        for (kind, options) in TABLE {
            let mut have = RawKind::fields(*kind).to_vec();
            let mut want = options.to_vec();
            have.sort_unstable();
            want.sort_unstable();
            assert_eq!(have, want, "{kind:?}");
        }
    }

    /// Each kind's paragraph of the README's "Probe kinds": the `key: value` it names in
    /// prose and examples, plus the shared options ("… (http, tcp, tls, icmp)").
    fn documented() -> Vec<(KindWord, String, String)> {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .unwrap_or_default();
        let start = readme
            .find("\n## Probe kinds\n")
            .expect("a Probe kinds section");
        let section = &readme[start + 1..];
        let section = &section[..section[3..].find("\n#").map_or(section.len(), |e| e + 3)];
        let mut out = Vec::new();
        let shared =
            regex::Regex::new(r"`([a-z_]+): ([^`|]+?)(?: \|[^`]*)?`[^.`]*\(([a-z, ]+)\)").unwrap();
        for c in shared.captures_iter(section) {
            for kind in KINDS
                .iter()
                .filter(|k| c[3].split(", ").any(|w| w == k.as_str()))
            {
                out.push((*kind, c[1].to_string(), c[2].trim().to_string()));
            }
        }
        let option = regex::Regex::new(r"(?m)(?:`|^ *-? ?\{?|, )([a-z_]+): ([^`,}\n#]+)").unwrap();
        let mut starts: Vec<(usize, KindWord)> = KINDS
            .iter()
            .map(|k| {
                let at = section.find(&format!("\n**{}** —", k.as_str()));
                (at.expect("a paragraph per kind"), *k)
            })
            .collect();
        starts.sort_unstable_by_key(|(at, _)| *at);
        for (n, (at, kind)) in starts.iter().enumerate() {
            let end = starts.get(n + 1).map_or(section.len(), |(e, _)| *e);
            for c in option.captures_iter(&section[*at..end]) {
                out.push((*kind, c[1].to_string(), c[2].trim().to_string()));
            }
        }
        out
    }

    #[test]
    fn every_option_the_readme_documents_for_a_kind_is_accepted() {
        let documented = documented();
        for kind in KINDS {
            let options: Vec<&(KindWord, String, String)> = documented
                .iter()
                .filter(|(k, key, _)| k == kind && !is_common(key))
                .collect();
            assert!(
                !options.is_empty(),
                "the README documents no {kind:?} option"
            );
            for (_, key, _) in options {
                assert!(
                    RawKind::fields(*kind).contains(&key.as_str()),
                    "the README documents `{key}` for {kind:?}, which refuses it"
                );
                let said = problems_with(*kind, key, sample(key));
                assert!(
                    !said
                        .iter()
                        .any(|p| p.contains("does not apply") || p.contains("unknown")),
                    "`{key}` for {kind:?}: {said:?}"
                );
            }
        }
    }

    #[test]
    fn every_other_option_is_refused_as_not_applying() {
        for kind in KINDS {
            for key in all_fields() {
                if is_common(key) || RawKind::fields(*kind).contains(&key) {
                    continue;
                }
                let fits: Vec<&str> = TABLE
                    .iter()
                    .filter(|(_, options)| options.contains(&key))
                    .map(|(k, _)| k.as_str())
                    .collect();
                let said = problems_with(*kind, key, sample(key));
                let want = format!(
                    "probe \"p\" (probes[0]): `{key}` does not apply to a {} probe (only to {}); remove it",
                    kind.as_str(),
                    fits.join(", ")
                );
                assert!(
                    said.len() == 1 && said[0].ends_with(&want),
                    "`{key}` for {kind:?}: {said:?}"
                );
            }
        }
    }

    #[test]
    fn an_icmp_probe_keeps_its_address_family() {
        let probes = format!(
            "regions:\n  - name: r1\nprobes:\n  - id: p\n    components: [web]\n{}    ip_version: ip6\n",
            minimal(KindWord::Icmp)
        );
        let examined = examine_texts(COMPONENTS, &probes);
        assert!(examined.problems.is_empty(), "{:?}", examined.problems);
        let probing = examined.probing.expect("valid");
        assert!(
            matches!(&probing.probes[0].kind, ProbeKind::Icmp(i) if i.ip_version == IpVersion::Ip6)
        );
    }

    #[test]
    fn a_typo_is_unknown_and_another_kinds_option_does_not_apply() {
        let said = problems_with(KindWord::Tcp, "prot", "80");
        assert_eq!(
            said,
            ["probes.yaml:9:5: probes[0]: unknown field \"prot\", did you mean \"port\"?"]
        );
        let said = problems_with(KindWord::Tcp, "url", "https://x.test/");
        assert_eq!(
            said,
            [
                "probes.yaml:9:10: probe \"p\" (probes[0]): `url` does not apply to a tcp probe (only to http); remove it"
            ]
        );
    }
}
