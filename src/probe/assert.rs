//! Step 2 (probe): evaluate a probe's assertions against what one check observed. A value
//! of the wrong kind (a JSON string where a number is compared) fails the assertion with
//! what was found; nothing is silently read as zero.

use regex::Regex;
use serde_json::Value as Json;

use crate::config::assertion::{Assertion, Op, Operand, Step};
use crate::state::{Health, Sample};

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
enum Val {
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

struct Facts<'a> {
    sample: &'a Sample,
    observed: &'a Observed,
    json: std::cell::OnceCell<Result<Json, String>>,
}

impl Facts<'_> {
    fn json(&self) -> Result<&Json, String> {
        self.json
            .get_or_init(|| match &self.observed.body {
                Some(b) => {
                    serde_json::from_slice(b).map_err(|e| format!("the body is not JSON ({e})"))
                }
                None => Err("there is no body".into()),
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The value of a path, or why there is none.
    fn get(&self, steps: &[Step]) -> Result<Val, String> {
        let s = self.sample;
        let Some(Step::Key(root)) = steps.first() else {
            return Err("empty path".into());
        };
        let key = |i: usize| match steps.get(i) {
            Some(Step::Key(k)) => Some(k.as_str()),
            _ => None,
        };
        let missing = |what: &str| format!("{} is not known for this check{what}", describe(steps));
        let ms = |v: Option<f64>| v.map(Val::Dur).ok_or_else(|| missing(""));
        match root.as_str() {
            "status" => s
                .http_status
                .map(|c| Val::Num(f64::from(c)))
                .ok_or_else(|| missing("")),
            "response_time" => ms(s.latency_ms),
            "ttfb" => ms(s
                .phases
                .as_ref()
                .map(|p| p.resolve_ms + p.connect_ms + p.tls_ms + p.processing_ms)),
            "connected" => Ok(Val::Bool(
                s.conn.as_ref().is_some_and(|c| c.ip.is_some()) || s.http_status.is_some(),
            )),
            "ip" => s
                .conn
                .as_ref()
                .and_then(|c| c.ip.clone())
                .map(Val::Text)
                .ok_or_else(|| missing("")),
            "redirects" => Ok(Val::Num(f64::from(
                s.conn.as_ref().map_or(0, |c| c.redirects),
            ))),
            "http_version" => s
                .conn
                .as_ref()
                .and_then(|c| c.http_version.clone())
                .map(Val::Text)
                .ok_or_else(|| missing("")),
            "tls_version" => s
                .conn
                .as_ref()
                .and_then(|c| c.tls_version.clone())
                .map(Val::Text)
                .ok_or_else(|| missing(": no TLS")),
            "body" => self
                .observed
                .body
                .as_ref()
                .map(|b| Val::Text(String::from_utf8_lossy(b).to_string()))
                .ok_or_else(|| missing("")),
            "header" => {
                let name = key(1).unwrap_or_default().to_ascii_lowercase();
                let values: Vec<&str> = self
                    .observed
                    .headers
                    .iter()
                    .filter(|(n, _)| *n == name)
                    .map(|(_, v)| v.as_str())
                    .collect();
                if values.is_empty() {
                    Err(format!("the response has no {name} header"))
                } else {
                    Ok(Val::Text(values.join(", ")))
                }
            }
            "json" => {
                let mut value = self.json()?;
                for (i, step) in steps.iter().enumerate().skip(1) {
                    let next = match step {
                        Step::Key(k) => value.get(k.as_str()),
                        Step::Index(n) => value.get(*n),
                    };
                    value = next.ok_or_else(|| {
                        format!("{} is not in the JSON body", describe(&steps[..=i]))
                    })?;
                }
                Ok(Val::Json(value.clone()))
            }
            "cert" => {
                let c = s.cert.as_ref().ok_or_else(|| missing(": no certificate"))?;
                let left = |t: chrono::DateTime<chrono::Utc>| {
                    Val::Dur((t - s.at).num_milliseconds() as f64)
                };
                match key(1) {
                    Some("expires_in") => Ok(left(c.earliest_not_after)),
                    Some("leaf_expires_in") => Ok(left(c.leaf_not_after)),
                    Some("valid") => Ok(Val::Bool(c.valid)),
                    Some("subject") => Ok(Val::Text(c.subject.clone())),
                    Some("issuer") => Ok(Val::Text(c.issuer.clone())),
                    _ => Err(missing("")),
                }
            }
            "dns" => {
                let d = s.dns.as_ref().ok_or_else(|| missing(": no DNS answer"))?;
                match key(1) {
                    Some("rcode") => Ok(Val::Text(d.rcode.clone())),
                    Some("answers") => Ok(Val::List(
                        d.answers
                            .iter()
                            .map(|a| Val::Text(a.splitn(3, ' ').nth(2).unwrap_or(a).to_string()))
                            .collect(),
                    )),
                    _ => Err(missing("")),
                }
            }
            "exit_code" => s
                .plugin
                .as_ref()
                .and_then(|p| p.exit_code)
                .map(|c| Val::Num(f64::from(c)))
                .ok_or_else(|| missing("")),
            "perf" => {
                let label = key(1).unwrap_or_default();
                let p = s
                    .plugin
                    .as_ref()
                    .and_then(|p| p.perfdata.iter().find(|v| v.label == label));
                match p {
                    Some(v) if v.uom == "s" => Ok(Val::Dur(v.value * 1e3)),
                    Some(v) => Ok(Val::Num(v.value)),
                    None => Err(format!("the plugin reported no perfdata \"{label}\"")),
                }
            }
            "icmp" => {
                let i = s.icmp.as_ref().ok_or_else(|| missing(""))?;
                match key(1) {
                    Some("loss") => Ok(Val::Num(i.loss_pct)),
                    Some("received") => Ok(Val::Num(f64::from(i.received))),
                    Some("rtt_min") => ms(i.rtt_min_ms),
                    Some("rtt_avg") => ms(i.rtt_avg_ms),
                    Some("rtt_max") => ms(i.rtt_max_ms),
                    _ => Err(missing("")),
                }
            }
            _ => Err(missing("")),
        }
    }

    fn eval(&self, op: &Operand) -> Result<Val, String> {
        Ok(match op {
            Operand::Path(steps) => self.get(steps)?,
            Operand::Len(steps) => match self.get(steps)?.plain() {
                Val::Text(t) => Val::Num(t.chars().count() as f64),
                Val::List(items) => Val::Num(items.len() as f64),
                Val::Json(Json::Object(m)) => Val::Num(m.len() as f64),
                other => {
                    return Err(format!(
                        "len() needs text, a list or an object, but {} is {}",
                        describe(steps),
                        other.show()
                    ));
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
fn holds(a: &Assertion, facts: &Facts<'_>) -> Result<(), String> {
    let left = facts.eval(&a.left)?;
    let name = match &a.left {
        Operand::Path(s) => describe(s),
        Operand::Len(s) => format!("len({})", describe(s)),
        _ => "the value".into(),
    };
    let found = || format!("{name} is {}", left.show());
    let ok = match a.op {
        Op::Eq => equal(&left, &facts.eval(&a.right)?),
        Op::Ne => !equal(&left, &facts.eval(&a.right)?),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let right = facts.eval(&a.right)?;
            let (Some(x), Some(y)) = (left.number(), right.number()) else {
                return Err(format!("{}, not a number", found()));
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
                _ => return Err(format!("{}, which `contains` cannot look into", found())),
            }
        }
        Op::Matches => {
            let Operand::Regex(re) = &a.right else {
                return Err("matches needs re(…)".into());
            };
            match left.text() {
                Some(t) => matches(re, t),
                None => return Err(format!("{}, not text", found())),
            }
        }
        Op::In => match facts.eval(&a.right)? {
            Val::List(items) => items.iter().any(|i| equal(&left, i)),
            _ => false,
        },
    };
    if ok { Ok(()) } else { Err(found()) }
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
