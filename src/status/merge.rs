//! Step 4 (status): merge every region's state into verdicts. Per region: hysteresis over
//! the recent samples (a new bad health must hold `confirm` rounds, recovery `recover`
//! rounds) and staleness (older than 3 × interval is "no data", never "down"). Across
//! regions: the quorum rule. Per component: the worst of its probes, then the overrides of
//! open incidents and active maintenance.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Status;
use crate::config::{Config, Probe};
use crate::state::{Health, RegionState, Sample};

/// A region older than this many intervals is left out of the quorum.
pub const STALE_INTERVALS: u32 = 3;

/// What the merge needs to know about one probe.
#[derive(Debug, Clone)]
pub struct ProbePolicy<'a> {
    /// Probe id.
    pub id: &'a str,
    /// Regions that run it.
    pub regions: &'a [String],
    /// Its interval, for staleness.
    pub interval: Duration,
    /// Rounds a worse health must hold.
    pub confirm: u32,
    /// Rounds a better health must hold.
    pub recover: u32,
    /// Configured quorum.
    pub quorum: Option<u32>,
    /// The longest a failing check can take (every attempt timing out, plus the pauses),
    /// added to the staleness limit so a slow failure never reads as a silent region.
    pub worst_check: Duration,
}

impl<'a> From<&'a Probe> for ProbePolicy<'a> {
    fn from(p: &'a Probe) -> Self {
        ProbePolicy {
            id: &p.id,
            regions: &p.regions,
            interval: p.interval,
            confirm: p.confirm,
            recover: p.recover,
            quorum: p.quorum,
            worst_check: p.timeout * (p.retries + 1) + p.retry_delay * p.retries,
        }
    }
}

/// One region's view of a probe or component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionHealth {
    /// Confirmed up.
    Up,
    /// Confirmed degraded.
    Degraded,
    /// Confirmed down.
    Down,
    /// The prober could not run the check.
    Unknown,
    /// No fresh data from this region.
    NoData,
}

impl RegionHealth {
    /// Order for "worst of": an observed failure beats any observation, which beats none.
    fn rank(self) -> u8 {
        match self {
            RegionHealth::NoData => 0,
            RegionHealth::Unknown => 1,
            RegionHealth::Up => 2,
            RegionHealth::Degraded => 3,
            RegionHealth::Down => 4,
        }
    }

    /// The word.
    pub fn as_str(self) -> &'static str {
        match self {
            RegionHealth::Up => "up",
            RegionHealth::Degraded => "degraded",
            RegionHealth::Down => "down",
            RegionHealth::Unknown => "unknown",
            RegionHealth::NoData => "no_data",
        }
    }

    fn from_health(h: Health) -> Self {
        match h {
            Health::Up => RegionHealth::Up,
            Health::Degraded => RegionHealth::Degraded,
            Health::Down => RegionHealth::Down,
            Health::Unknown => RegionHealth::Unknown,
        }
    }
}

/// A region's verdict with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionView {
    /// Region name.
    pub region: String,
    /// Confirmed health.
    pub health: RegionHealth,
    /// The newest sample's detail, or why there is no data.
    pub detail: Option<String>,
    /// When the newest sample was taken.
    pub checked_at: Option<DateTime<Utc>>,
    /// Since when this health holds (back-dated to its first sample).
    pub since: Option<DateTime<Utc>>,
}

/// The merged verdict of one probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeVerdict {
    /// Probe id.
    pub id: String,
    /// The global status; `None` when no region has fresh data.
    pub status: Option<Status>,
    /// Each configured region's view, in configuration order.
    pub regions: Vec<RegionView>,
    /// Since when the current bad status holds.
    pub since: Option<DateTime<Utc>>,
}

/// The quorum among `fresh` regions: the configured one capped at `fresh`, else
/// max(2, ⌈M/2⌉) of M, which is all of them when M is 1 or 2.
pub fn quorum(fresh: usize, configured: Option<u32>) -> usize {
    let q = match configured {
        Some(q) => q as usize,
        None => 2.max(fresh.div_ceil(2)),
    };
    q.clamp(1, fresh.max(1))
}

fn severity(h: Health) -> u8 {
    match h {
        Health::Up => 0,
        Health::Degraded => 1,
        Health::Down => 2,
        Health::Unknown => 0,
    }
}

/// The health a region shows after hysteresis over its samples (oldest first). A run of
/// `confirm` consecutive samples worse than the shown health changes it to the mildest
/// health in that run (degraded, down, degraded, down → degraded); a run of `recover`
/// samples better than it changes it to the worst health in that run. Unknown samples are
/// skipped; `None` when there are only unknown samples.
pub fn confirmed_health(samples: &[Sample], confirm: u32, recover: u32) -> Option<Health> {
    let mut known = samples
        .iter()
        .filter(|s| s.health != Health::Unknown)
        .peekable();
    known.peek()?;
    let mut shown = Health::Up;
    // (length, mildest) of the current run of worse samples; (length, worst) of better ones.
    let mut worse: (u32, Health) = (0, Health::Down);
    let mut better: (u32, Health) = (0, Health::Up);
    for s in known {
        let (h, current) = (severity(s.health), severity(shown));
        if h > current {
            worse = (
                worse.0 + 1,
                if h < severity(worse.1) || worse.0 == 0 {
                    s.health
                } else {
                    worse.1
                },
            );
            better = (0, Health::Up);
            if worse.0 >= confirm {
                shown = worse.1;
                worse = (0, Health::Down);
            }
        } else if h < current {
            better = (
                better.0 + 1,
                if h > severity(better.1) || better.0 == 0 {
                    s.health
                } else {
                    better.1
                },
            );
            worse = (0, Health::Down);
            if better.0 >= recover {
                shown = better.1;
                better = (0, Health::Up);
            }
        } else {
            worse = (0, Health::Down);
            better = (0, Health::Up);
        }
    }
    Some(shown)
}

/// Merge one probe over every region's state.
pub fn merge_probe(
    policy: &ProbePolicy<'_>,
    states: &[RegionState],
    now: DateTime<Utc>,
) -> ProbeVerdict {
    let stale_after = policy
        .interval
        .checked_mul(STALE_INTERVALS)
        .and_then(|d| d.checked_add(policy.worst_check))
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .unwrap_or(chrono::Duration::MAX);
    let mut regions = Vec::new();
    for name in policy.regions {
        let probe = states
            .iter()
            .find(|s| &s.region == name)
            .and_then(|s| s.probes.get(policy.id));
        let view = match probe {
            None => RegionView {
                region: name.clone(),
                health: RegionHealth::NoData,
                detail: Some("no data from this region yet".to_string()),
                checked_at: None,
                since: None,
            },
            Some(p) if now - p.last.at > stale_after => RegionView {
                region: name.clone(),
                health: RegionHealth::NoData,
                detail: Some(format!(
                    "no data since {}: the prober in this region is not reporting",
                    p.last.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )),
                checked_at: Some(p.last.at),
                since: None,
            },
            Some(p) => {
                let tail: &[Sample] = if p.recent.is_empty() {
                    std::slice::from_ref(&p.last)
                } else {
                    &p.recent
                };
                let health = confirmed_health(tail, policy.confirm, policy.recover);
                let since = health
                    .and_then(|h| p.transitions.iter().rev().find(|t| t.to == h).map(|t| t.at));
                RegionView {
                    region: name.clone(),
                    health: health.map_or(RegionHealth::Unknown, RegionHealth::from_health),
                    detail: Some(p.last.detail.clone()),
                    checked_at: Some(p.last.at),
                    since,
                }
            }
        };
        regions.push(view);
    }
    let fresh = regions
        .iter()
        .filter(|r| {
            matches!(
                r.health,
                RegionHealth::Up | RegionHealth::Degraded | RegionHealth::Down
            )
        })
        .count();
    let down = regions
        .iter()
        .filter(|r| r.health == RegionHealth::Down)
        .count();
    let degraded = regions
        .iter()
        .filter(|r| r.health == RegionHealth::Degraded)
        .count();
    let status = if fresh == 0 {
        None
    } else {
        let q = quorum(fresh, policy.quorum);
        Some(if down >= q {
            Status::MajorOutage
        } else if down > 0 {
            Status::PartialOutage
        } else if down + degraded >= q {
            Status::DegradedPerformance
        } else {
            Status::Operational
        })
    };
    let since = match status {
        Some(Status::MajorOutage | Status::PartialOutage) => earliest(&regions, RegionHealth::Down),
        Some(Status::DegradedPerformance) => earliest(&regions, RegionHealth::Degraded),
        _ => None,
    };
    ProbeVerdict {
        id: policy.id.to_string(),
        status,
        regions,
        since,
    }
}

fn earliest(regions: &[RegionView], health: RegionHealth) -> Option<DateTime<Utc>> {
    regions
        .iter()
        .filter(|r| r.health == health)
        .filter_map(|r| r.since)
        .min()
}

/// A human override of a component's status: an open incident or active maintenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// Component id.
    pub component: String,
    /// The status the incident declares, if any.
    pub status: Option<Status>,
    /// Whether a maintenance window covering it is active.
    pub maintenance: bool,
}

/// The merged verdict of one component.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentVerdict {
    /// Component id.
    pub id: String,
    /// Worst of its probes and of the incidents declared on it.
    pub status: Status,
    /// Whether any probe exercises it.
    pub monitored: bool,
    /// Monitored, but no probe has fresh data.
    pub no_data: bool,
    /// An active maintenance window covers it.
    pub maintenance: bool,
    /// Each region's worst view across its probes.
    pub regions: Vec<RegionView>,
    /// Regions where it is down.
    pub down_regions: Vec<String>,
    /// Since when the current bad status holds.
    pub since: Option<DateTime<Utc>>,
}

/// Roll probe verdicts up into components (worst wins) and apply overrides.
pub fn components(
    config: &Config,
    verdicts: &[ProbeVerdict],
    overrides: &[Override],
) -> Vec<ComponentVerdict> {
    let mut out = Vec::new();
    for component in &config.site.components {
        let probes: Vec<&ProbeVerdict> = config
            .probing
            .probes
            .iter()
            .filter(|p| p.components.contains(&component.id))
            .filter_map(|p| verdicts.iter().find(|v| v.id == p.id))
            .collect();
        let measured = probes.iter().filter_map(|v| v.status).max();
        let mut regions = Vec::new();
        for region in &config.probing.regions {
            let worst = probes
                .iter()
                .filter_map(|v| v.regions.iter().find(|r| r.region == region.name))
                .max_by_key(|r| r.health.rank());
            if let Some(view) = worst {
                regions.push(view.clone());
            }
        }
        let declared = overrides
            .iter()
            .filter(|o| o.component == component.id)
            .filter_map(|o| o.status)
            .max();
        let status = measured
            .into_iter()
            .chain(declared)
            .max()
            .unwrap_or(Status::Operational);
        let since = probes
            .iter()
            .filter(|v| v.status == measured)
            .filter_map(|v| v.since)
            .min();
        out.push(ComponentVerdict {
            id: component.id.clone(),
            status,
            monitored: !probes.is_empty(),
            no_data: !probes.is_empty() && measured.is_none(),
            maintenance: overrides
                .iter()
                .any(|o| o.component == component.id && o.maintenance),
            down_regions: regions
                .iter()
                .filter(|r| r.health == RegionHealth::Down)
                .map(|r| r.region.clone())
                .collect(),
            regions,
            since,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::RegionState;

    fn t(sec: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + sec, 0).unwrap()
    }

    fn sample(sec: i64, health: Health) -> Sample {
        Sample {
            at: t(sec),
            health,
            latency_ms: None,
            detail: health.as_str().to_string(),
            http_status: None,
            attempts: 1,
            phases: None,
            conn: None,
            cert: None,
            dns: None,
            plugin: None,
            icmp: None,
        }
    }

    /// A region whose probe "web" saw `healths` at 10 s intervals ending at `end`.
    fn region(name: &str, end: i64, healths: &[Health]) -> RegionState {
        let mut s = RegionState::new(name, t(end));
        let n = healths.len() as i64;
        for (i, h) in healths.iter().enumerate() {
            s.record(
                "web",
                "http",
                "x",
                10.0,
                sample(end - (n - 1 - i as i64) * 10, *h),
            );
        }
        s
    }

    const REGIONS: [&str; 3] = ["a", "b", "c"];

    fn verdict(states: &[RegionState], now: i64) -> ProbeVerdict {
        let names: Vec<String> = REGIONS.iter().map(|s| s.to_string()).collect();
        let policy = ProbePolicy {
            id: "web",
            regions: &names,
            interval: Duration::from_secs(10),
            confirm: 2,
            recover: 2,
            quorum: None,
            worst_check: Duration::ZERO,
        };
        merge_probe(&policy, states, t(now))
    }

    use Health::{Degraded as G, Down as D, Unknown as U, Up as P};

    #[test]
    fn quorum_rule() {
        assert_eq!(quorum(1, None), 1);
        assert_eq!(quorum(2, None), 2);
        assert_eq!(quorum(3, None), 2);
        assert_eq!(quorum(4, None), 2);
        assert_eq!(quorum(5, None), 3);
        assert_eq!(quorum(3, Some(3)), 3);
        assert_eq!(quorum(1, Some(2)), 1, "capped at the fresh regions");
    }

    #[test]
    fn hysteresis_needs_confirm_rounds_and_recover_rounds() {
        let s = |hs: &[Health]| {
            hs.iter()
                .enumerate()
                .map(|(i, h)| sample(i as i64, *h))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            confirmed_health(&s(&[P, P, D]), 2, 2),
            Some(P),
            "one bad round is a blip"
        );
        assert_eq!(confirmed_health(&s(&[P, D, D]), 2, 2), Some(D));
        assert_eq!(
            confirmed_health(&s(&[D, D, P]), 2, 2),
            Some(D),
            "one good round is not recovery"
        );
        assert_eq!(confirmed_health(&s(&[D, D, P, P]), 2, 2), Some(P));
        assert_eq!(
            confirmed_health(&s(&[P, D, P, D]), 2, 2),
            Some(P),
            "flapping never confirms"
        );
        assert_eq!(
            confirmed_health(&s(&[D, D, U, U]), 2, 2),
            Some(D),
            "unknown is skipped"
        );
        assert_eq!(confirmed_health(&s(&[U, U]), 2, 2), None);
        assert_eq!(confirmed_health(&s(&[D]), 1, 1), Some(D));
        assert_eq!(confirmed_health(&s(&[G, G, D]), 2, 2), Some(G));
        assert_eq!(
            confirmed_health(&s(&[G, D, G, D]), 2, 2),
            Some(G),
            "mixed bad rounds confirm the milder"
        );
        assert_eq!(confirmed_health(&s(&[D, G, D, G, D, D]), 2, 2), Some(D));
        assert_eq!(
            confirmed_health(&s(&[D, D, G, P]), 2, 2),
            Some(G),
            "recovery shows the worse of the good run"
        );
        assert_eq!(confirmed_health(&s(&[D, D, G, G, P, P]), 2, 2), Some(P));
    }

    #[test]
    fn all_regions_up_is_operational() {
        let v = verdict(
            &[
                region("a", 100, &[P, P]),
                region("b", 100, &[P]),
                region("c", 95, &[P]),
            ],
            100,
        );
        assert_eq!(v.status, Some(Status::Operational));
        assert_eq!(v.since, None);
    }

    #[test]
    fn one_region_down_is_a_partial_outage_naming_it() {
        let v = verdict(
            &[
                region("a", 100, &[P, D, D]),
                region("b", 100, &[P, P, P]),
                region("c", 100, &[P]),
            ],
            100,
        );
        assert_eq!(v.status, Some(Status::PartialOutage));
        let down: Vec<&str> = v
            .regions
            .iter()
            .filter(|r| r.health == RegionHealth::Down)
            .map(|r| r.region.as_str())
            .collect();
        assert_eq!(down, vec!["a"]);
        assert_eq!(
            v.since,
            Some(t(90)),
            "back-dated to the first failing sample"
        );
    }

    #[test]
    fn quorum_of_regions_down_is_a_major_outage() {
        let v = verdict(
            &[
                region("a", 100, &[D, D]),
                region("b", 100, &[D, D]),
                region("c", 100, &[P, P]),
            ],
            100,
        );
        assert_eq!(v.status, Some(Status::MajorOutage));
    }

    #[test]
    fn a_lone_blip_is_not_an_outage() {
        let v = verdict(
            &[
                region("a", 100, &[P, P, D]),
                region("b", 100, &[P, P]),
                region("c", 100, &[P, P]),
            ],
            100,
        );
        assert_eq!(v.status, Some(Status::Operational));
    }

    #[test]
    fn degraded_needs_the_quorum_too() {
        let one = verdict(
            &[
                region("a", 100, &[G, G]),
                region("b", 100, &[P]),
                region("c", 100, &[P]),
            ],
            100,
        );
        assert_eq!(one.status, Some(Status::Operational));
        let two = verdict(
            &[
                region("a", 100, &[G, G]),
                region("b", 100, &[G, G]),
                region("c", 100, &[P]),
            ],
            100,
        );
        assert_eq!(two.status, Some(Status::DegradedPerformance));
    }

    #[test]
    fn stale_regions_are_no_data_and_leave_the_quorum() {
        // c last reported at 50 s; at 100 s with a 10 s interval it is stale (> 30 s).
        let states = [
            region("a", 100, &[D, D]),
            region("b", 100, &[P, P]),
            region("c", 50, &[D, D]),
        ];
        let v = verdict(&states, 100);
        assert_eq!(v.regions[2].health, RegionHealth::NoData);
        // Two fresh regions: quorum 2, only one down → partial, not major.
        assert_eq!(v.status, Some(Status::PartialOutage));
        // With b gone too, the lone fresh region is the whole quorum.
        let v = verdict(&[region("a", 100, &[D, D])], 100);
        assert_eq!(v.regions[1].health, RegionHealth::NoData);
        assert_eq!(v.status, Some(Status::MajorOutage));
    }

    #[test]
    fn no_fresh_region_is_no_data_not_down() {
        let v = verdict(&[region("a", 10, &[D, D])], 100);
        assert_eq!(v.status, None);
        let v = verdict(&[region("a", 100, &[U, U]), region("b", 100, &[U])], 100);
        assert_eq!(v.status, None, "unknown is never down");
        assert_eq!(v.regions[0].health, RegionHealth::Unknown);
    }
}
