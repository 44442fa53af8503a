//! Step 2 (probe): evaluate a probe's assertions against what one check observed. A value
//! of the wrong kind (a JSON string where a number is compared) fails the assertion with
//! what was found; nothing is silently read as zero.
//!
//! [`FACTS`] is the assertion language's vocabulary, one row per fact: its name, its
//! type, which probes record it and how to read it. `config::assertion` parses and
//! type-checks against it (and refuses a fact a probe does not record); [`apply`] reads
//! through it.

use regex::Regex;
use serde_json::Value as Json;

use crate::config::KindWord;
use crate::config::assertion::{Assertion, Op, Operand, Recorder, Step, Type};
use crate::state::{CertInfo, Health, Sample};

/// What a check saw beyond its sample: the HTTP body and headers.
#[derive(Debug, Default)]
pub struct Observed {
    /// Body bytes read (up to the cap).
    pub body: Option<Vec<u8>>,
    /// Response headers, names in lower case.
    pub headers: Vec<(String, String)>,
}

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Num(f64),
    Dur(f64),
    Text(String),
    Bool(bool),
    Null,
    List(Vec<Val>),
    Json(Json),
}

impl Val {
    fn show(&self) -> String {
        let s = match self {
            Val::Num(n) => trim_num(*n),
            Val::Dur(ms) => format!("{}ms", trim_num(*ms)),
            Val::Text(t) => format!("\"{t}\""),
            Val::Bool(b) => b.to_string(),
            Val::Null => "null".into(),
            Val::List(items) => format!(
                "[{}]",
                items.iter().map(Val::show).collect::<Vec<_>>().join(", ")
            ),
            Val::Json(j) => j.to_string(),
        };
        let short: String = s.chars().take(80).collect();
        if short.len() < s.len() {
            format!("{short}…")
        } else {
            short
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Val::Num(n) | Val::Dur(n) => Some(*n),
            Val::Json(Json::Number(n)) => n.as_f64(),
            _ => None,
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Val::Text(t) => Some(t),
            Val::Json(Json::String(s)) => Some(s),
            _ => None,
        }
    }

    fn plain(self) -> Val {
        match self {
            Val::Json(Json::Null) => Val::Null,
            Val::Json(Json::Bool(b)) => Val::Bool(b),
            Val::Json(Json::String(s)) => Val::Text(s),
            Val::Json(Json::Number(n)) => n.as_f64().map_or(Val::Null, Val::Num),
            Val::Json(Json::Array(items)) => {
                Val::List(items.into_iter().map(|i| Val::Json(i).plain()).collect())
            }
            other => other,
        }
    }
}

fn trim_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n:.3}")
    }
}

fn describe(steps: &[Step]) -> String {
    let mut s = String::new();
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Key(k) if i == 0 => s.push_str(k),
            Step::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Step::Index(n) => s.push_str(&format!("[{n}]")),
        }
    }
    s
}

/// Why an assertion does not hold, or why its value is unknown: the detail shown after
/// the assertion's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unmet(String);

impl std::fmt::Display for Unmet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a fact's value is read from what a check observed.
pub(crate) type Reader = fn(&Facts<'_>, &[Step]) -> Result<Val, Unmet>;

/// The form of a fact's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `status`: the root alone.
    Plain,
    /// `cert.expires_in`: one of the root's named fields (one row each).
    Field(&'static str),
    /// `header.<name>`: any name, as in the example.
    Named {
        /// Shown when the name is missing.
        example: &'static str,
    },
    /// `json.a.b[0]`: any path into a JSON value.
    Path,
}

/// One fact an assertion can read.
pub struct Fact {
    /// The first word of its path.
    pub root: &'static str,
    /// What may follow the root.
    pub shape: Shape,
    /// Its type, for checking comparisons before the check runs.
    pub ty: Type,
    /// Which probes record it; an assertion on it is refused for the others.
    pub recorded_by: &'static [Recorder],
    /// Reads it from a check's sample and body.
    pub(crate) read: Reader,
}

const ANY: &[Recorder] = &[Recorder::Any];
const HTTP: &[Recorder] = &[Recorder::Kind(KindWord::Http)];
const HTTP_TLS: &[Recorder] = &[
    Recorder::Kind(KindWord::Http),
    Recorder::Kind(KindWord::Tls),
];
/// A tcp probe records the certificate when it speaks TLS.
const CERT: &[Recorder] = &[
    Recorder::Kind(KindWord::Http),
    Recorder::Kind(KindWord::Tls),
    Recorder::Tls(KindWord::Tcp),
];
const DNS: &[Recorder] = &[Recorder::Kind(KindWord::Dns)];
const COMMAND: &[Recorder] = &[Recorder::Kind(KindWord::Command)];
const COMMAND_PUSH: &[Recorder] = &[
    Recorder::Kind(KindWord::Command),
    Recorder::Kind(KindWord::Push),
];
const ICMP: &[Recorder] = &[Recorder::Kind(KindWord::Icmp)];

/// The vocabulary of assertions, in the order messages list it.
pub static FACTS: &[Fact] = &[
    Fact {
        root: "status",
        shape: Shape::Plain,
        ty: Type::Number,
        recorded_by: HTTP,
        read: |f, steps| {
            let code = f.sample.http_status.ok_or_else(|| missing(steps, ""))?;
            Ok(Val::Num(f64::from(code)))
        },
    },
    Fact {
        root: "response_time",
        shape: Shape::Plain,
        ty: Type::Duration,
        recorded_by: ANY,
        read: |f, steps| ms(f.sample.latency_ms, steps),
    },
    Fact {
        root: "ttfb",
        shape: Shape::Plain,
        ty: Type::Duration,
        recorded_by: HTTP,
        read: |f, steps| {
            let phases = f.sample.phases.as_ref();
            ms(
                phases.map(|p| p.resolve_ms + p.connect_ms + p.tls_ms + p.processing_ms),
                steps,
            )
        },
    },
    Fact {
        root: "body",
        shape: Shape::Plain,
        ty: Type::Text,
        recorded_by: HTTP,
        read: |f, steps| {
            let body = f.observed.body.as_ref().ok_or_else(|| missing(steps, ""))?;
            Ok(Val::Text(String::from_utf8_lossy(body).to_string()))
        },
    },
    Fact {
        root: "json",
        shape: Shape::Path,
        ty: Type::Any,
        recorded_by: HTTP,
        read: |f, steps| {
            let mut value = f.json()?;
            for (i, step) in steps.iter().enumerate().skip(1) {
                let next = match step {
                    Step::Key(k) => value.get(k.as_str()),
                    Step::Index(n) => value.get(*n),
                };
                value = next.ok_or_else(|| {
                    Unmet(format!(
                        "{} is not in the JSON body",
                        describe(&steps[..=i])
                    ))
                })?;
            }
            Ok(Val::Json(value.clone()))
        },
    },
    Fact {
        root: "header",
        shape: Shape::Named {
            example: "header.content-type",
        },
        ty: Type::Text,
        recorded_by: HTTP,
        read: |f, steps| {
            let name = key(steps, 1).unwrap_or_default().to_ascii_lowercase();
            let values: Vec<&str> = f
                .observed
                .headers
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .collect();
            if values.is_empty() {
                Err(Unmet(format!("the response has no {name} header")))
            } else {
                Ok(Val::Text(values.join(", ")))
            }
        },
    },
    Fact {
        root: "connected",
        shape: Shape::Plain,
        ty: Type::Bool,
        recorded_by: ANY,
        read: |f, _| {
            let s = f.sample;
            Ok(Val::Bool(
                s.conn.as_ref().is_some_and(|c| c.ip.is_some()) || s.http_status.is_some(),
            ))
        },
    },
    Fact {
        root: "redirects",
        shape: Shape::Plain,
        ty: Type::Number,
        recorded_by: HTTP,
        read: |f, _| {
            let n = f.sample.conn.as_ref().map_or(0, |c| c.redirects);
            Ok(Val::Num(f64::from(n)))
        },
    },
    Fact {
        root: "ip",
        shape: Shape::Plain,
        ty: Type::Text,
        recorded_by: ANY,
        read: |f, steps| {
            let ip = f.sample.conn.as_ref().and_then(|c| c.ip.clone());
            ip.map(Val::Text).ok_or_else(|| missing(steps, ""))
        },
    },
    Fact {
        root: "http_version",
        shape: Shape::Plain,
        ty: Type::Text,
        recorded_by: HTTP,
        read: |f, steps| {
            let v = f.sample.conn.as_ref().and_then(|c| c.http_version.clone());
            v.map(Val::Text).ok_or_else(|| missing(steps, ""))
        },
    },
    Fact {
        root: "tls_version",
        shape: Shape::Plain,
        ty: Type::Text,
        recorded_by: HTTP_TLS,
        read: |f, steps| {
            let v = f.sample.conn.as_ref().and_then(|c| c.tls_version.clone());
            v.map(Val::Text).ok_or_else(|| missing(steps, ": no TLS"))
        },
    },
    Fact {
        root: "cert",
        shape: Shape::Field("expires_in"),
        ty: Type::Duration,
        recorded_by: CERT,
        read: |f, steps| Ok(f.until(f.cert(steps)?.earliest_not_after)),
    },
    Fact {
        root: "cert",
        shape: Shape::Field("leaf_expires_in"),
        ty: Type::Duration,
        recorded_by: CERT,
        read: |f, steps| Ok(f.until(f.cert(steps)?.leaf_not_after)),
    },
    Fact {
        root: "cert",
        shape: Shape::Field("valid"),
        ty: Type::Bool,
        recorded_by: CERT,
        read: |f, steps| Ok(Val::Bool(f.cert(steps)?.valid)),
    },
    Fact {
        root: "cert",
        shape: Shape::Field("subject"),
        ty: Type::Text,
        recorded_by: CERT,
        read: |f, steps| Ok(Val::Text(f.cert(steps)?.subject.clone())),
    },
    Fact {
        root: "cert",
        shape: Shape::Field("issuer"),
        ty: Type::Text,
        recorded_by: CERT,
        read: |f, steps| Ok(Val::Text(f.cert(steps)?.issuer.clone())),
    },
    Fact {
        root: "dns",
        shape: Shape::Field("rcode"),
        ty: Type::Text,
        recorded_by: DNS,
        read: |f, steps| {
            let d = f.sample.dns.as_ref();
            let d = d.ok_or_else(|| missing(steps, ": no DNS answer"))?;
            Ok(Val::Text(d.rcode.clone()))
        },
    },
    Fact {
        root: "dns",
        shape: Shape::Field("answers"),
        ty: Type::List,
        recorded_by: DNS,
        read: |f, steps| {
            let d = f.sample.dns.as_ref();
            let d = d.ok_or_else(|| missing(steps, ": no DNS answer"))?;
            Ok(Val::List(
                d.answers
                    .iter()
                    .map(|a| Val::Text(a.splitn(3, ' ').nth(2).unwrap_or(a).to_string()))
                    .collect(),
            ))
        },
    },
    Fact {
        root: "exit_code",
        shape: Shape::Plain,
        ty: Type::Number,
        recorded_by: COMMAND_PUSH,
        read: |f, steps| {
            let code = f.sample.plugin.as_ref().and_then(|p| p.exit_code);
            code.map(|c| Val::Num(f64::from(c)))
                .ok_or_else(|| missing(steps, ""))
        },
    },
    Fact {
        root: "perf",
        // A perf value is a duration when the plugin gave a time unit, else a number.
        shape: Shape::Named {
            example: "perf.time",
        },
        ty: Type::Any,
        recorded_by: COMMAND,
        read: |f, steps| {
            let label = key(steps, 1).unwrap_or_default();
            let plugin = f.sample.plugin.as_ref();
            match plugin.and_then(|p| p.perfdata.iter().find(|v| v.label == label)) {
                Some(v) if v.uom == "s" => Ok(Val::Dur(v.value * 1e3)),
                Some(v) => Ok(Val::Num(v.value)),
                None => Err(Unmet(format!(
                    "the plugin reported no perfdata \"{label}\""
                ))),
            }
        },
    },
    Fact {
        root: "icmp",
        shape: Shape::Field("loss"),
        ty: Type::Number,
        recorded_by: ICMP,
        read: |f, steps| Ok(Val::Num(f.icmp(steps)?.loss_pct)),
    },
    Fact {
        root: "icmp",
        shape: Shape::Field("rtt_min"),
        ty: Type::Duration,
        recorded_by: ICMP,
        read: |f, steps| ms(f.icmp(steps)?.rtt_min_ms, steps),
    },
    Fact {
        root: "icmp",
        shape: Shape::Field("rtt_avg"),
        ty: Type::Duration,
        recorded_by: ICMP,
        read: |f, steps| ms(f.icmp(steps)?.rtt_avg_ms, steps),
    },
    Fact {
        root: "icmp",
        shape: Shape::Field("rtt_max"),
        ty: Type::Duration,
        recorded_by: ICMP,
        read: |f, steps| ms(f.icmp(steps)?.rtt_max_ms, steps),
    },
    Fact {
        root: "icmp",
        shape: Shape::Field("received"),
        ty: Type::Number,
        recorded_by: ICMP,
        read: |f, steps| Ok(Val::Num(f64::from(f.icmp(steps)?.received))),
    },
];

/// The row a path reads: its root, and for a root with named fields, that field.
fn fact_for(steps: &[Step]) -> Option<&'static Fact> {
    let Some(Step::Key(root)) = steps.first() else {
        return None;
    };
    FACTS.iter().find(|f| {
        f.root == root
            && match f.shape {
                Shape::Field(name) => key(steps, 1) == Some(name),
                _ => true,
            }
    })
}

/// "`path` is not known for this check`what`".
fn missing(steps: &[Step], what: &str) -> Unmet {
    Unmet(format!(
        "{} is not known for this check{what}",
        describe(steps)
    ))
}

/// A duration in milliseconds, when known.
fn ms(v: Option<f64>, steps: &[Step]) -> Result<Val, Unmet> {
    v.map(Val::Dur).ok_or_else(|| missing(steps, ""))
}

/// The name at step `i`, when it is one.
fn key(steps: &[Step], i: usize) -> Option<&str> {
    match steps.get(i) {
        Some(Step::Key(k)) => Some(k.as_str()),
        _ => None,
    }
}

/// What one check observed, as assertions read it.
pub(crate) struct Facts<'a> {
    sample: &'a Sample,
    observed: &'a Observed,
    json: std::cell::OnceCell<Result<Json, Unmet>>,
}

impl Facts<'_> {
    fn json(&self) -> Result<&Json, Unmet> {
        self.json
            .get_or_init(|| match &self.observed.body {
                Some(b) => serde_json::from_slice(b)
                    .map_err(|e| Unmet(format!("the body is not JSON ({e})"))),
                None => Err(Unmet("there is no body".into())),
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn cert(&self, steps: &[Step]) -> Result<&CertInfo, Unmet> {
        self.sample
            .cert
            .as_ref()
            .ok_or_else(|| missing(steps, ": no certificate"))
    }

    fn icmp(&self, steps: &[Step]) -> Result<&crate::state::IcmpInfo, Unmet> {
        self.sample.icmp.as_ref().ok_or_else(|| missing(steps, ""))
    }

    /// The time from the sample to `t`.
    fn until(&self, t: chrono::DateTime<chrono::Utc>) -> Val {
        Val::Dur((t - self.sample.at).num_milliseconds() as f64)
    }

    /// The value of a path, or why there is none.
    fn get(&self, steps: &[Step]) -> Result<Val, Unmet> {
        let Some(Step::Key(_)) = steps.first() else {
            return Err(Unmet("empty path".into()));
        };
        match fact_for(steps) {
            Some(fact) => (fact.read)(self, steps),
            None => Err(missing(steps, "")),
        }
    }

    fn eval(&self, op: &Operand) -> Result<Val, Unmet> {
        Ok(match op {
            Operand::Path(steps) => self.get(steps)?,
            Operand::Len(steps) => match self.get(steps)?.plain() {
                Val::Text(t) => Val::Num(t.chars().count() as f64),
                Val::List(items) => Val::Num(items.len() as f64),
                Val::Json(Json::Object(m)) => Val::Num(m.len() as f64),
                other => {
                    return Err(Unmet(format!(
                        "len() needs text, a list or an object, but {} is {}",
                        describe(steps),
                        other.show()
                    )));
                }
            },
            Operand::Age(steps) => match self.get(steps)?.plain() {
                Val::Text(t) => match chrono::DateTime::parse_from_rfc3339(t.trim()) {
                    // A time ahead of the check by more than clocks drift apart is no
                    // proof of freshness: a wrong clock wrote it.
                    Ok(at) if at > self.sample.at + chrono::Duration::minutes(1) => {
                        return Err(Unmet(format!(
                            "{} is \"{t}\", after the check's own time ({}): a clock is wrong",
                            describe(steps),
                            self.sample
                                .at
                                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        )));
                    }
                    Ok(at) => Val::Dur(
                        (self.sample.at - at.with_timezone(&chrono::Utc)).num_milliseconds() as f64,
                    ),
                    Err(e) => {
                        return Err(Unmet(format!(
                            "age() needs an RFC 3339 time, but {} is \"{t}\" ({e})",
                            describe(steps)
                        )));
                    }
                },
                other => {
                    return Err(Unmet(format!(
                        "age() needs a time as text, but {} is {}",
                        describe(steps),
                        other.show()
                    )));
                }
            },
            Operand::Number {
                value,
                duration: true,
            } => Val::Dur(*value),
            Operand::Number { value, .. } => Val::Num(*value),
            Operand::Text(t) => Val::Text(t.clone()),
            Operand::Bool(b) => Val::Bool(*b),
            Operand::Null => Val::Null,
            Operand::Regex(_) => Val::Null,
            Operand::List(items) => Val::List(
                items
                    .iter()
                    .map(|i| self.eval(i))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

fn equal(a: &Val, b: &Val) -> bool {
    match (a.number(), b.number()) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        _ => a.clone().plain() == b.clone().plain(),
    }
}

/// Whether the assertion holds, or why not (with what was found).
fn holds(a: &Assertion, facts: &Facts<'_>) -> Result<(), Unmet> {
    let left = facts.eval(&a.left)?;
    let name = match &a.left {
        Operand::Path(s) => describe(s),
        Operand::Len(s) => format!("len({})", describe(s)),
        Operand::Age(s) => format!("age({})", describe(s)),
        _ => "the value".into(),
    };
    let found = || format!("{name} is {}", left.show());
    let ok = match a.op {
        Op::Eq => equal(&left, &facts.eval(&a.right)?),
        Op::Ne => !equal(&left, &facts.eval(&a.right)?),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let right = facts.eval(&a.right)?;
            let (Some(x), Some(y)) = (left.number(), right.number()) else {
                return Err(Unmet(format!("{}, not a number", found())));
            };
            match a.op {
                Op::Lt => x < y,
                Op::Le => x <= y,
                Op::Gt => x > y,
                _ => x >= y,
            }
        }
        Op::Contains => {
            let right = facts.eval(&a.right)?;
            match (left.clone().plain(), right.text()) {
                (Val::Text(t), Some(needle)) => t.contains(needle),
                (Val::List(items), _) => items.iter().any(|i| equal(i, &right)),
                _ => {
                    return Err(Unmet(format!(
                        "{}, which `contains` cannot look into",
                        found()
                    )));
                }
            }
        }
        Op::Matches => {
            let Operand::Regex(re) = &a.right else {
                return Err(Unmet("matches needs re(…)".into()));
            };
            match left.text() {
                Some(t) => matches(re, t),
                None => return Err(Unmet(format!("{}, not text", found()))),
            }
        }
        Op::In => match facts.eval(&a.right)? {
            Val::List(items) => items.iter().any(|i| equal(&left, i)),
            _ => false,
        },
    };
    if ok { Ok(()) } else { Err(Unmet(found())) }
}

fn matches(re: &Regex, text: &str) -> bool {
    re.is_match(text)
}

/// Apply the probe's assertions to a sample that succeeded: a failed assertion makes it
/// down (or degraded, for a degraded-only one), with the assertion and what was found.
pub fn apply(assertions: &[Assertion], sample: &mut Sample, observed: &Observed) {
    if assertions.is_empty() || !matches!(sample.health, Health::Up | Health::Degraded) {
        return;
    }
    let facts = Facts {
        sample,
        observed,
        json: std::cell::OnceCell::new(),
    };
    let mut failed = None;
    let mut warnings = Vec::new();
    for a in assertions {
        if let Err(why) = holds(a, &facts) {
            if a.degraded {
                warnings.push(format!("warning: {} ({why})", a.text));
            } else {
                failed = Some(format!("assertion failed: {} ({why})", a.text));
                break;
            }
        }
    }
    if let Some(reason) = failed {
        sample.health = Health::Down;
        sample.detail = format!("{reason}; {}", sample.detail);
    } else if !warnings.is_empty() {
        sample.health = Health::Degraded;
        sample.detail = format!("{}; {}", warnings.join("; "), sample.detail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_root_has_one_shape_one_set_of_recorders_and_its_rows_together() {
        for (i, fact) in FACTS.iter().enumerate() {
            let rows: Vec<usize> = FACTS
                .iter()
                .enumerate()
                .filter(|(_, f)| f.root == fact.root)
                .map(|(n, _)| n)
                .collect();
            let (first, last) = (rows[0], rows[rows.len() - 1]);
            assert_eq!(rows, (first..=last).collect::<Vec<_>>(), "{}", fact.root);
            let first = &FACTS[first];
            assert_eq!(fact.recorded_by, first.recorded_by, "{}", fact.root);
            match (first.shape, fact.shape) {
                (Shape::Field(_), Shape::Field(name)) => assert!(
                    !FACTS[..i]
                        .iter()
                        .any(|f| f.root == fact.root && f.shape == Shape::Field(name)),
                    "{}.{name} twice",
                    fact.root
                ),
                _ => assert_eq!(rows.len(), 1, "{} has one row", fact.root),
            }
        }
    }
}
