//! Step 1 (config), probes.yaml: what every probe has whatever its kind — id, kind,
//! components, regions, assertions ([`RawCommon`]) and the settings `defaults:` can hold
//! too ([`RawDefaults`]) — with their validation. Used by the `probes` module; the option
//! value types shared by several kinds live here too.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::{Cx, KindWord};
use crate::config::assertion::{self, Assertion, Observer};
use crate::config::validate::unknown_ref;
use crate::yaml;

/// Default time between checks.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Default deadline of one check.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default pause before an in-region re-check.
pub(crate) const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(2);
/// Shortest interval: faster than this is load testing, not monitoring.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Longest interval.
pub(crate) const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

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

/// `defaults:` — settings every probe inherits unless it sets its own. The same struct
/// reads a probe's own settings, so the two lists cannot drift apart.
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

/// The keys every probe has besides its [`RawDefaults`] settings. `id` and `kind` are
/// required; they are options here only so that a missing one is reported after every
/// other error of the item, as serde does.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommon {
    /// Stable id, used in state files.
    #[serde(default)]
    pub id: Option<String>,
    /// What kind of check.
    #[serde(default)]
    pub kind: Option<KindWord>,
    /// Ids of the components this probe exercises.
    #[serde(default)]
    pub components: Vec<String>,
    /// Regions that run it. Default: all.
    #[serde(default)]
    pub regions: Option<Vec<String>>,
    /// Conditions on what the check observed, e.g. `json.status == "UP"`; a failing one
    /// makes the check down, or degraded when written `{assert: "…", degraded: true}`.
    #[serde(default)]
    pub assertions: Vec<RawAssertion>,
}

/// A probe's settings with the defaults applied.
pub(super) struct Settings {
    pub(super) interval: Duration,
    pub(super) timeout: Duration,
    pub(super) retries: u32,
    pub(super) retry_delay: Duration,
    pub(super) confirm: u32,
    pub(super) recover: u32,
    pub(super) quorum: Option<u32>,
    pub(super) degraded_after: Option<Duration>,
}

/// The probe's components and regions exist; returns the regions that run it.
pub(super) fn validate_refs(
    raw: &RawCommon,
    components: Option<&[&str]>,
    regions: &[&str],
    cx: &mut Cx<'_>,
) -> Vec<String> {
    if raw.components.is_empty() {
        cx.problem(
            &["id"],
            "lists no components; add `components: [<id>]` naming what this probe exercises",
        );
    }
    if let Some(known) = components {
        for (j, c) in raw.components.iter().enumerate() {
            if !known.contains(&c.as_str()) {
                let fix = match yaml::suggest(c, known) {
                    Some(s) => format!("did you mean \"{s}\"?"),
                    None => "add it there or fix the id".to_string(),
                };
                cx.problem(
                    &["components", &j.to_string()],
                    format!(
                        "component \"{c}\" is not defined in {}; {fix}",
                        crate::config::COMPONENTS_FILE
                    ),
                );
            }
        }
    }
    match &raw.regions {
        Some(list) => {
            for (j, r) in list.iter().enumerate() {
                if !regions.contains(&r.as_str()) {
                    cx.problem(
                        &["regions", &j.to_string()],
                        unknown_ref("region", r, regions, "regions"),
                    );
                }
            }
            if list.is_empty() {
                cx.problem(
                    &["regions"],
                    "lists no regions; remove `regions` to run it everywhere",
                );
            }
            list.clone()
        }
        None => regions.iter().map(|r| r.to_string()).collect(),
    }
}

/// The probe's own settings over `defaults:`, each within its bounds.
pub(super) fn validate_settings(
    own: &RawDefaults,
    defaults: &RawDefaults,
    region_count: usize,
    cx: &mut Cx<'_>,
) -> Settings {
    let interval = own
        .interval
        .or(defaults.interval)
        .map_or(DEFAULT_INTERVAL, |d| d.0);
    let timeout = own
        .timeout
        .or(defaults.timeout)
        .map_or(DEFAULT_TIMEOUT.min(interval), |d| d.0);
    if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) {
        cx.problem(
            &["interval"],
            format!(
                "interval {} must be between 1s and 1 day",
                crate::words::duration(interval)
            ),
        );
    }
    if timeout.is_zero() || timeout > interval {
        cx.problem(
            &["timeout"],
            format!(
                "timeout {} must be more than zero and at most the interval {}; shorten the timeout or lengthen the interval",
                crate::words::duration(timeout),
                crate::words::duration(interval)
            ),
        );
    }
    let confirm = own.confirm.or(defaults.confirm).unwrap_or(2);
    let recover = own.recover.or(defaults.recover).unwrap_or(2);
    if confirm == 0 || confirm > 10 {
        cx.problem(
            &["confirm"],
            format!("confirm {confirm} must be between 1 and 10 rounds"),
        );
    }
    if recover == 0 || recover > 10 {
        cx.problem(
            &["recover"],
            format!("recover {recover} must be between 1 and 10 rounds"),
        );
    }
    let quorum = own.quorum.or(defaults.quorum);
    if let Some(q) = quorum
        && (q == 0 || q as usize > region_count)
    {
        cx.problem(
            &["quorum"],
            format!(
                "quorum {q} must be between 1 and the {region_count} region(s) that run this probe"
            ),
        );
    }
    let retries = own.retries.or(defaults.retries).unwrap_or(1);
    let retry_delay = own
        .retry_delay
        .or(defaults.retry_delay)
        .map_or(DEFAULT_RETRY_DELAY.min(interval / 2), |d| d.0);
    if retry_delay > interval {
        cx.problem(
            &["retry_delay"],
            format!(
                "retry_delay {} is longer than the interval {}; a re-check must come before the next round",
                crate::words::duration(retry_delay),
                crate::words::duration(interval)
            ),
        );
    }
    if retries > 5 {
        cx.problem(
            &["retries"],
            format!(
                "retries {retries} is more than 5; confirmation across rounds and regions does the rest"
            ),
        );
    }
    Settings {
        interval,
        timeout,
        retries,
        retry_delay,
        confirm,
        recover,
        quorum,
        degraded_after: own.degraded_after.or(defaults.degraded_after).map(|d| d.0),
    }
}

/// Parse each assertion and check that the probe records every fact it reads.
pub(super) fn validate_assertions(
    raw: &[RawAssertion],
    observer: Observer,
    cx: &mut Cx<'_>,
) -> Vec<Assertion> {
    let mut assertions = Vec::new();
    for (i, a) in raw.iter().enumerate() {
        let index = i.to_string();
        let path: Vec<&str> = if cx.item().at(&["assertions", &index, "assert"]).is_some() {
            vec!["assertions", &index, "assert"]
        } else {
            vec!["assertions", &index]
        };
        let start = cx.item().at(&path).map_or(cx.item().loc, |n| n.text_loc());
        match assertion::parse(&a.text, a.degraded) {
            Ok(parsed) => {
                for root in assertion::unobserved(&parsed, observer) {
                    cx.at(
                        start,
                        format!(
                            "assertion \"{}\": a {} probe does not observe `{root}`",
                            a.text,
                            observer.kind.as_str()
                        ),
                    );
                }
                assertions.push(parsed);
            }
            Err(e) => cx.at(
                yaml::Loc {
                    line: start.line,
                    col: start.col + e.offset,
                },
                format!("assertion \"{}\": {}", a.text, e.message),
            ),
        }
    }
    assertions
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
