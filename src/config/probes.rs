//! Step 1 (config): probes.yaml, how we check. A flat [`RawProbe`] keeps serde's errors
//! precise (an internally tagged enum would report every typo at the list item);
//! `validate` then builds the typed [`ProbeKind`].

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::template::Template;

/// A duration written with a unit: `30s`, `500ms`, `2m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, e.g. 30s, 500ms or 2m")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "a duration needs a unit: write {v}s (seconds) or {v}ms (milliseconds)"
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                humantime::parse_duration(v.trim()).map(Dur).map_err(|_| {
                    E::custom(format!(
                        "\"{v}\" is not a duration; write a number with a unit, e.g. 30s, 500ms or 2m"
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

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

/// HTTP request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// GET (the default).
    #[default]
    Get,
    /// HEAD: headers only.
    Head,
    /// POST, usually with `body`.
    Post,
}

impl Method {
    /// The method's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
        }
    }
}

/// One entry of `expect_status`: an exact code (`200`) or a class (`2xx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    /// Exactly this code.
    Code(u16),
    /// Any code in this hundred, e.g. 2 for `2xx`.
    Class(u16),
}

impl StatusMatch {
    /// Whether `code` is accepted.
    pub fn accepts(self, code: u16) -> bool {
        match self {
            StatusMatch::Code(c) => c == code,
            StatusMatch::Class(c) => code / 100 == c,
        }
    }
}

impl fmt::Display for StatusMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusMatch::Code(c) => write!(f, "{c}"),
            StatusMatch::Class(c) => write!(f, "{c}xx"),
        }
    }
}

impl<'de> Deserialize<'de> for StatusMatch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StatusMatch;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an HTTP status code (200) or class (2xx)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusMatch, E> {
                if (100..=599).contains(&v) {
                    Ok(StatusMatch::Code(v as u16))
                } else {
                    Err(E::custom(format!(
                        "{v} is not an HTTP status code; use 100–599 or a class such as 2xx"
                    )))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusMatch, E> {
                let b = v.as_bytes();
                if b.len() == 3
                    && (b'1'..=b'5').contains(&b[0])
                    && v[1..].eq_ignore_ascii_case("xx")
                {
                    return Ok(StatusMatch::Class(u16::from(b[0] - b'0')));
                }
                match v.parse::<u64>() {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(format!(
                        "\"{v}\" is not a status; write a code such as 200 or a class such as 2xx"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
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

/// `defaults:` — settings every probe inherits unless it sets its own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    /// Time between checks. Default 60s.
    #[serde(default)]
    pub interval: Option<Dur>,
    /// One deadline for the whole check. Default 10s.
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// In-region re-checks of a down sample before it counts. Default 1.
    #[serde(default)]
    pub retries: Option<u32>,
    /// Pause before each re-check. Default 2s.
    #[serde(default)]
    pub retry_delay: Option<Dur>,
    /// Rounds a new bad status must hold before it shows. Default 2.
    #[serde(default)]
    pub confirm: Option<u32>,
    /// Good rounds needed to show recovery. Default 2.
    #[serde(default)]
    pub recover: Option<u32>,
    /// Regions that must agree for a major outage. Default max(2, ⌈M/2⌉) of M regions.
    #[serde(default)]
    pub quorum: Option<u32>,
    /// A successful check slower than this is degraded.
    #[serde(default)]
    pub degraded_after: Option<Dur>,
}

/// An item of `probes:` as written. Kind-specific fields are checked against the kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    /// Stable id, used in state files.
    pub id: String,
    /// What kind of check.
    pub kind: KindWord,
    /// Ids of the components this probe exercises.
    #[serde(default)]
    pub components: Vec<String>,
    /// Regions that run it. Default: all.
    #[serde(default)]
    pub regions: Option<Vec<String>>,
    /// See `defaults.interval`.
    #[serde(default)]
    pub interval: Option<Dur>,
    /// See `defaults.timeout`.
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// See `defaults.retries`.
    #[serde(default)]
    pub retries: Option<u32>,
    /// See `defaults.retry_delay`.
    #[serde(default)]
    pub retry_delay: Option<Dur>,
    /// See `defaults.confirm`.
    #[serde(default)]
    pub confirm: Option<u32>,
    /// See `defaults.recover`.
    #[serde(default)]
    pub recover: Option<u32>,
    /// See `defaults.quorum`.
    #[serde(default)]
    pub quorum: Option<u32>,
    /// See `defaults.degraded_after`.
    #[serde(default)]
    pub degraded_after: Option<Dur>,
    /// http: the address to request; may hold `${ENV}` references.
    #[serde(default)]
    pub url: Option<Template>,
    /// http: GET (default), HEAD or POST.
    #[serde(default)]
    pub method: Option<Method>,
    /// http: extra request headers; values may hold `${ENV}` references.
    #[serde(default)]
    pub headers: BTreeMap<String, Template>,
    /// http: request body (POST).
    #[serde(default)]
    pub body: Option<Template>,
    /// http: accepted statuses, codes or classes. Default [2xx].
    #[serde(default)]
    pub expect_status: Option<Vec<StatusMatch>>,
    /// http: text the body must contain.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// http: follow redirects. Default true.
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    /// http: most redirects followed. Default 5.
    #[serde(default)]
    pub max_redirects: Option<u32>,
    /// http: most body bytes read. Default 1048576 (1 MiB).
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// tcp, tls: host name or address.
    #[serde(default)]
    pub host: Option<String>,
    /// tcp: port; tls: port (default 443).
    #[serde(default)]
    pub port: Option<u16>,
    /// http, tcp, tls: `ip4`, `ip6` or `auto` (default: every address, in resolver order).
    #[serde(default)]
    pub ip_version: Option<IpVersion>,
    /// http, tls: the name sent (SNI) and verified; default the host.
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// http, tls: accept any certificate (its expiry is still recorded).
    #[serde(default)]
    pub tls_skip_verify: Option<bool>,
    /// http, tls: PEM file of CA certificates to trust instead of the web's roots.
    #[serde(default)]
    pub tls_ca_file: Option<String>,
    /// tls: `smtp` to upgrade with STARTTLS first.
    #[serde(default)]
    pub starttls: Option<Starttls>,
    /// tls: days before expiry the check becomes degraded. Default 21.
    #[serde(default)]
    pub warn_days: Option<u32>,
    /// tls: days before expiry the check becomes down. Default 7.
    #[serde(default)]
    pub crit_days: Option<u32>,
    /// dns: the server asked, `host[:port]` (port 53), or `system` for the first
    /// nameserver in /etc/resolv.conf.
    #[serde(default)]
    pub server: Option<String>,
    /// dns: the name looked up.
    #[serde(default)]
    pub name: Option<String>,
    /// dns: the record type, e.g. A, AAAA, MX, TXT (ANY is not allowed).
    #[serde(default)]
    pub record_type: Option<String>,
    /// dns: accepted response codes. Default [NOERROR].
    #[serde(default)]
    pub expect_rcode: Option<Vec<String>>,
    /// dns: values that must each be among the answers; `/regex/` matches by pattern.
    #[serde(default)]
    pub expect_answers: Vec<String>,
    /// dns: `udp` (default; retried over TCP when truncated) or `tcp`.
    #[serde(default)]
    pub transport: Option<Transport>,
    /// command: the program and its arguments, run without a shell.
    #[serde(default)]
    pub command: Option<Vec<Template>>,
    /// command: extra environment variables; values may hold `${ENV}` references.
    #[serde(default)]
    pub env: BTreeMap<String, Template>,
    /// command: most bytes of stdout and of stderr kept. Default 8192.
    #[serde(default)]
    pub max_output_bytes: Option<u64>,
    /// command: the health of a plugin killed at the timeout: `down` (default) or `unknown`.
    #[serde(default)]
    pub timeout_health: Option<TimeoutHealth>,
    /// push: how late a heartbeat may be beyond the interval. Default: a tenth of the
    /// interval, at least 1s.
    #[serde(default)]
    pub grace: Option<Dur>,
    /// Conditions on what the check observed, e.g. `json.status == "UP"`; a failing one
    /// makes the check down, or degraded when written `{assert: "…", degraded: true}`.
    #[serde(default)]
    pub assertions: Vec<RawAssertion>,
    /// tcp: speak TLS right after connecting.
    #[serde(default)]
    pub tls: Option<bool>,
    /// tcp: bytes to send after connecting (YAML escapes such as "\r\n" work in double quotes).
    #[serde(default)]
    pub send: Option<Template>,
    /// tcp: a pattern the first bytes received must match, e.g. "^SSH-2\\.0".
    #[serde(default)]
    pub expect: Option<String>,
    /// icmp: echo requests per check. Default 5.
    #[serde(default)]
    pub count: Option<u32>,
    /// icmp: loss (percent) at or above which the check is degraded. Default 20.
    #[serde(default)]
    pub degraded_loss: Option<u32>,
    /// push: the token a heartbeat over HTTP must bring (`Authorization: Bearer …`),
    /// written as a `${SECRET}` reference.
    #[serde(default)]
    pub token: Option<Template>,
}

/// What a plugin that hit the timeout counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutHealth {
    /// The check failed: the service did not answer in time.
    #[default]
    Down,
    /// The prober could not tell.
    Unknown,
}

/// How a DNS query travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// UDP, then TCP if the answer is truncated.
    #[default]
    Udp,
    /// TCP only.
    Tcp,
}

/// Which address family to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IpVersion {
    /// Every address the name has, in resolver order.
    #[default]
    Auto,
    /// IPv4 only.
    Ip4,
    /// IPv6 only.
    Ip6,
}

/// Protocols upgraded to TLS in-band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Starttls {
    /// SMTP: EHLO, STARTTLS.
    Smtp,
}

/// The kinds each kind-specific field applies to, for "does not apply" errors.
pub(crate) const KIND_FIELDS: &[(&str, &[KindWord])] = &[
    ("url", &[KindWord::Http]),
    ("method", &[KindWord::Http]),
    ("headers", &[KindWord::Http]),
    ("body", &[KindWord::Http]),
    ("expect_status", &[KindWord::Http]),
    ("body_contains", &[KindWord::Http]),
    ("follow_redirects", &[KindWord::Http]),
    ("max_redirects", &[KindWord::Http]),
    ("max_body_bytes", &[KindWord::Http]),
    ("host", &[KindWord::Tcp, KindWord::Tls, KindWord::Icmp]),
    ("port", &[KindWord::Tcp, KindWord::Tls]),
    (
        "ip_version",
        &[KindWord::Http, KindWord::Tcp, KindWord::Tls, KindWord::Icmp],
    ),
    (
        "tls_server_name",
        &[KindWord::Http, KindWord::Tls, KindWord::Tcp],
    ),
    (
        "tls_skip_verify",
        &[KindWord::Http, KindWord::Tls, KindWord::Tcp],
    ),
    (
        "tls_ca_file",
        &[KindWord::Http, KindWord::Tls, KindWord::Tcp],
    ),
    ("tls", &[KindWord::Tcp]),
    ("send", &[KindWord::Tcp]),
    ("expect", &[KindWord::Tcp]),
    ("starttls", &[KindWord::Tls]),
    ("warn_days", &[KindWord::Tls]),
    ("crit_days", &[KindWord::Tls]),
    ("server", &[KindWord::Dns]),
    ("name", &[KindWord::Dns]),
    ("record_type", &[KindWord::Dns]),
    ("expect_rcode", &[KindWord::Dns]),
    ("expect_answers", &[KindWord::Dns]),
    ("transport", &[KindWord::Dns]),
    ("command", &[KindWord::Command]),
    ("env", &[KindWord::Command]),
    ("max_output_bytes", &[KindWord::Command]),
    ("timeout_health", &[KindWord::Command]),
    ("grace", &[KindWord::Push]),
    ("count", &[KindWord::Icmp]),
    ("degraded_loss", &[KindWord::Icmp]),
    ("token", &[KindWord::Push]),
];

impl RawProbe {
    /// Whether a kind-specific field was written.
    pub(crate) fn has(&self, field: &str) -> bool {
        match field {
            "url" => self.url.is_some(),
            "method" => self.method.is_some(),
            "headers" => !self.headers.is_empty(),
            "body" => self.body.is_some(),
            "expect_status" => self.expect_status.is_some(),
            "body_contains" => self.body_contains.is_some(),
            "follow_redirects" => self.follow_redirects.is_some(),
            "max_redirects" => self.max_redirects.is_some(),
            "max_body_bytes" => self.max_body_bytes.is_some(),
            "host" => self.host.is_some(),
            "port" => self.port.is_some(),
            "ip_version" => self.ip_version.is_some(),
            "tls_server_name" => self.tls_server_name.is_some(),
            "tls_skip_verify" => self.tls_skip_verify.is_some(),
            "tls_ca_file" => self.tls_ca_file.is_some(),
            "tls" => self.tls.is_some(),
            "send" => self.send.is_some(),
            "expect" => self.expect.is_some(),
            "starttls" => self.starttls.is_some(),
            "warn_days" => self.warn_days.is_some(),
            "crit_days" => self.crit_days.is_some(),
            "server" => self.server.is_some(),
            "name" => self.name.is_some(),
            "record_type" => self.record_type.is_some(),
            "expect_rcode" => self.expect_rcode.is_some(),
            "expect_answers" => !self.expect_answers.is_empty(),
            "transport" => self.transport.is_some(),
            "command" => self.command.is_some(),
            "env" => !self.env.is_empty(),
            "max_output_bytes" => self.max_output_bytes.is_some(),
            "timeout_health" => self.timeout_health.is_some(),
            "grace" => self.grace.is_some(),
            "count" => self.count.is_some(),
            "degraded_loss" => self.degraded_loss.is_some(),
            "token" => self.token.is_some(),
            _ => false,
        }
    }
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
    pub assertions: Vec<super::assertion::Assertion>,
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

/// An HTTP check.
#[derive(Debug, Clone)]
pub struct HttpSpec {
    /// Address; may hold `${ENV}`.
    pub url: Template,
    /// Method.
    pub method: Method,
    /// Extra headers.
    pub headers: Vec<(String, Template)>,
    /// Request body.
    pub body: Option<Template>,
    /// Accepted statuses.
    pub expect_status: Vec<StatusMatch>,
    /// Text the body must contain.
    pub body_contains: Option<String>,
    /// Follow redirects.
    pub follow_redirects: bool,
    /// Most redirects.
    pub max_redirects: u32,
    /// Most body bytes read.
    pub max_body_bytes: u64,
    /// Address family.
    pub ip_version: IpVersion,
    /// TLS settings for https.
    pub tls: TlsSpec,
}

/// TLS settings as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSpec {
    /// SNI and verified name; default the host.
    pub server_name: Option<String>,
    /// Accept any certificate.
    pub skip_verify: bool,
    /// CA file (relative paths are relative to the project root).
    pub ca_file: Option<std::path::PathBuf>,
}

/// A TLS certificate check.
#[derive(Debug, Clone)]
pub struct TlsCheckSpec {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Address family.
    pub ip_version: IpVersion,
    /// TLS settings.
    pub tls: TlsSpec,
    /// In-band upgrade first.
    pub starttls: Option<Starttls>,
    /// Degraded at or below this many days to expiry.
    pub warn_days: u32,
    /// Down at or below this many days to expiry.
    pub crit_days: u32,
}

/// A TCP connect check, with optional TLS and a send/expect exchange.
#[derive(Debug, Clone)]
pub struct TcpSpec {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Address family.
    pub ip_version: IpVersion,
    /// TLS right after connecting.
    pub tls: Option<TlsSpec>,
    /// Bytes sent after connecting.
    pub send: Option<Template>,
    /// Pattern the first bytes received must match.
    pub expect: Option<regex::Regex>,
}

/// One expected DNS answer: an exact value or a pattern.
#[derive(Debug, Clone)]
pub enum AnswerMatch {
    /// The answer's text equals this.
    Exact(String),
    /// The answer's text matches this.
    Pattern(regex::Regex),
}

impl AnswerMatch {
    /// Whether `answer` satisfies it.
    pub fn matches(&self, answer: &str) -> bool {
        match self {
            AnswerMatch::Exact(v) => v
                .trim_end_matches('.')
                .eq_ignore_ascii_case(answer.trim_end_matches('.')),
            AnswerMatch::Pattern(r) => r.is_match(answer),
        }
    }
}

impl fmt::Display for AnswerMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerMatch::Exact(v) => write!(f, "{v}"),
            AnswerMatch::Pattern(r) => write!(f, "/{}/", r.as_str()),
        }
    }
}

/// A DNS check.
#[derive(Debug, Clone)]
pub struct DnsSpec {
    /// `host[:port]` or `system`.
    pub server: String,
    /// Name looked up (fully qualified).
    pub name: String,
    /// Record type, upper case.
    pub record_type: String,
    /// Accepted response codes, upper case (NOERROR, NXDOMAIN, …).
    pub expect_rcode: Vec<String>,
    /// Answers that must be present.
    pub expect_answers: Vec<AnswerMatch>,
    /// UDP or TCP.
    pub transport: Transport,
}

/// A plugin check.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// Program and arguments.
    pub argv: Vec<Template>,
    /// Extra environment.
    pub env: Vec<(String, Template)>,
    /// Bytes kept of each output stream.
    pub max_output_bytes: u64,
    /// Health at the timeout.
    pub timeout_health: TimeoutHealth,
}

/// A heartbeat check.
#[derive(Debug, Clone)]
pub struct PushSpec {
    /// How late a heartbeat may be beyond the interval.
    pub grace: Duration,
    /// Token for heartbeats over HTTP.
    pub token: Option<Template>,
}

/// An ICMP echo check.
#[derive(Debug, Clone)]
pub struct IcmpSpec {
    /// Host name or address.
    pub host: String,
    /// Address family.
    pub ip_version: IpVersion,
    /// Echo requests per check.
    pub count: u32,
    /// Loss percent from which the check is degraded.
    pub degraded_loss: u32,
}

/// One item of `assertions:`: a string, or `{assert: "…", degraded: true}`.
#[derive(Debug, Clone)]
pub struct RawAssertion {
    /// The assertion's text.
    pub text: String,
    /// Whether a failure only degrades the check.
    pub degraded: bool,
}

impl<'de> Deserialize<'de> for RawAssertion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawAssertion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an assertion such as \"status == 200\", or {assert: \"…\", degraded: true}",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawAssertion, E> {
                Ok(RawAssertion {
                    text: v.to_string(),
                    degraded: false,
                })
            }
            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawAssertion, A::Error> {
                let mut text = None;
                let mut degraded = false;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "assert" => text = Some(map.next_value::<String>()?),
                        "degraded" => degraded = map.next_value::<bool>()?,
                        other => {
                            return Err(de::Error::unknown_field(other, &["assert", "degraded"]));
                        }
                    }
                }
                let text = text.ok_or_else(|| de::Error::missing_field("assert"))?;
                Ok(RawAssertion { text, degraded })
            }
        }
        d.deserialize_any(V)
    }
}
