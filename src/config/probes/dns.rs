//! Step 1 (config), probes.yaml: the `dns` kind — its options ([`RawDns`]), their
//! validation and the validated [`DnsSpec`] the prober's `dns` check runs.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Cx, KindOptions, ProbeKind};

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

/// The options of a `dns` probe.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDns {
    /// The server asked, `host[:port]` (port 53), or `system` for the first nameserver in
    /// /etc/resolv.conf.
    #[serde(default)]
    pub server: Option<String>,
    /// The name looked up.
    #[serde(default)]
    pub name: Option<String>,
    /// The record type, e.g. A, AAAA, MX, TXT (ANY is not allowed).
    #[serde(default)]
    pub record_type: Option<String>,
    /// Accepted response codes. Default `[NOERROR]`.
    #[serde(default)]
    pub expect_rcode: Option<Vec<String>>,
    /// Values that must each be among the answers; `/regex/` matches by pattern.
    #[serde(default)]
    pub expect_answers: Vec<String>,
    /// `udp` (default; retried over TCP when truncated) or `tcp`.
    #[serde(default)]
    pub transport: Option<Transport>,
}

/// The response codes a DNS probe may expect.
pub(crate) const RCODES: &[&str] = &[
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE",
];

impl KindOptions for RawDns {
    fn validate(self, cx: &mut Cx<'_>) -> Option<ProbeKind> {
        let raw = self;
        let (Some(server), Some(name), Some(record_type)) =
            (&raw.server, &raw.name, &raw.record_type)
        else {
            cx.problem(
                &["kind"],
                "a dns probe needs `server:` (an address, or `system`), `name:` and `record_type:`",
            );
            return None;
        };
        let mut ok = true;
        let record_type = record_type.to_ascii_uppercase();
        match record_type.parse::<hickory_proto::rr::RecordType>() {
            Ok(
                hickory_proto::rr::RecordType::ANY
                | hickory_proto::rr::RecordType::AXFR
                | hickory_proto::rr::RecordType::IXFR,
            ) => {
                cx.problem(
                &["record_type"],
                format!(
                    "record_type {record_type} is not allowed: many servers refuse it; ask for the type you need, e.g. A"
                ),
            );
                ok = false;
            }
            Ok(_) => {}
            Err(_) => {
                cx.problem(
                &["record_type"],
                format!(
                    "\"{record_type}\" is not a DNS record type; write e.g. A, AAAA, CNAME, MX, TXT, NS or SOA"
                ),
            );
                ok = false;
            }
        }
        if hickory_proto::rr::Name::from_ascii(name).is_err() || name.is_empty() {
            cx.problem(&["name"], format!("\"{name}\" is not a domain name"));
            ok = false;
        }
        let expect_rcode: Vec<String> = match &raw.expect_rcode {
            Some(list) => list.iter().map(|c| c.to_ascii_uppercase()).collect(),
            None => vec!["NOERROR".to_string()],
        };
        for (i, code) in expect_rcode.iter().enumerate() {
            if !RCODES.contains(&code.as_str()) {
                cx.problem(
                    &["expect_rcode", &i.to_string()],
                    format!(
                        "\"{code}\" is not a response code; use {}",
                        RCODES.join(", ")
                    ),
                );
                ok = false;
            }
        }
        let mut expect_answers = Vec::new();
        for (i, a) in raw.expect_answers.iter().enumerate() {
            match a.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
                Some(pattern) => match regex::Regex::new(pattern) {
                    Ok(re) => expect_answers.push(AnswerMatch::Pattern(re)),
                    Err(e) => {
                        let first = crate::config::regex_error(&e);
                        cx.problem(
                            &["expect_answers", &i.to_string()],
                            format!("invalid pattern /{pattern}/: {first}"),
                        );
                        ok = false;
                    }
                },
                None => expect_answers.push(AnswerMatch::Exact(a.clone())),
            }
        }
        if server != "system" && server.is_empty() {
            cx.problem(
                &["server"],
                "server must be an address such as 9.9.9.9 or dns.example:53, or `system`",
            );
            ok = false;
        }
        ok.then(|| {
            ProbeKind::Dns(DnsSpec {
                server: server.clone(),
                name: if name.ends_with('.') {
                    name.clone()
                } else {
                    format!("{name}.")
                },
                record_type,
                expect_rcode,
                expect_answers,
                transport: raw.transport.unwrap_or_default(),
            })
        })
    }
}
