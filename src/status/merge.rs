//! Step 4 (status): merge every region's state into today's verdicts. Per region: the
//! health its worker confirmed (hysteresis is applied as samples arrive, see
//! `state::history`) and staleness (older than 3 × interval is "no data", never "down").
//! Across regions: the quorum rule. Per component: the worst of its probes, then the overrides of
//! open incidents and active maintenance.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Status;
use crate::config::{Config, Probe};
use crate::state::RegionState;

/// A region older than this many intervals is left out of the quorum.
pub const STALE_INTERVALS: u32 = 3;

/// A region clock off by more than this is not trusted.
pub const CLOCK_TOLERANCE: chrono::Duration = chrono::Duration::minutes(2);

/// How far a region's clock is off, when by more than [`CLOCK_TOLERANCE`]: a file written
/// "in the future" by `now`, or (with object storage) a `written_at` far from when the
/// store received it, by the store's clock. Positive: the region's clock is ahead.
///
/// Pure: "the future" is `now`'s, the time the build is for, never the wall clock (a test
/// or a replay that pins `now` gets the same verdict any day).
pub fn clock_skew(state: &RegionState, now: DateTime<Utc>) -> Option<chrono::Duration> {
    let ahead_of_now = state.written_at - now;
    if ahead_of_now > CLOCK_TOLERANCE {
        return Some(ahead_of_now);
    }
    let against_store = state.written_at - state.stored_at?;
    (against_store.abs() > CLOCK_TOLERANCE).then_some(against_store)
}

/// "10 min ahead", "3 h 5 min behind".
pub fn skew_words(skew: chrono::Duration) -> String {
    let secs = skew.num_seconds().unsigned_abs();
    let size = match secs {
        ..3600 => format!("{} min", secs / 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    };
    format!(
        "{size} {}",
        if skew > chrono::Duration::zero() {
            "ahead"
        } else {
            "behind"
        }
    )
}

/// What the merge needs to know about one probe.
#[derive(Debug, Clone)]
pub struct ProbePolicy<'a> {
    /// Probe id.
    pub id: &'a str,
    /// Regions that run it.
    pub regions: &'a [String],
    /// Its interval, for staleness.
    pub interval: Duration,
    /// Configured quorum.
    pub quorum: Option<u32>,
    /// The longest a failing check can take (every attempt timing out, plus the pauses),
    /// added to the staleness limit so a slow failure never reads as a silent region.
    pub worst_check: Duration,
    /// Rounds a worse health must hold to be confirmed.
    pub confirm: u32,
    /// Rounds a better health must hold to be confirmed.
    pub recover: u32,
}

impl ProbePolicy<'_> {
    /// A region whose newest sample is older than this shows "no data".
    pub fn stale_after(&self) -> chrono::Duration {
        self.interval
            .checked_mul(STALE_INTERVALS)
            .and_then(|d| d.checked_add(self.worst_check))
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .unwrap_or(chrono::Duration::MAX)
    }
}

impl<'a> From<&'a Probe> for ProbePolicy<'a> {
    fn from(p: &'a Probe) -> Self {
        ProbePolicy {
            id: &p.id,
            regions: &p.regions,
            interval: p.interval,
            quorum: p.quorum,
            worst_check: p.worst_check(),
            confirm: p.confirm,
            recover: p.recover,
        }
    }
}

pub use crate::state::RegionHealth;

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
    /// What the newest checks saw when it differs from `health` and has not held long
    /// enough to be confirmed: a first failing round still shows the region up, and this
    /// says so.
    pub unconfirmed: Option<Unconfirmed>,
}

/// Checks that disagree with a region's confirmed health, not yet confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Unconfirmed {
    /// What they saw.
    pub health: RegionHealth,
    /// Rounds in a row that saw it.
    pub rounds: u32,
    /// Rounds it must hold to be confirmed (`confirm` or `recover`).
    pub needed: u32,
}

/// The run of samples under way that would change the confirmed health, if any.
fn unconfirmed(
    pending: &crate::state::history::Hysteresis,
    confirm: u32,
    recover: u32,
) -> Option<Unconfirmed> {
    pending
        .newest_run(confirm, recover)
        .map(|(run, needed)| Unconfirmed {
            health: run.health.into(),
            rounds: run.n,
            needed,
        })
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

/// The quorum of a probe run in `regions` regions (M): the configured one, else
/// max(2, ⌈M/2⌉), never more than M (so one region decides alone only when it is the only
/// one configured). It counts against the configured regions, not the ones reporting:
/// with probers dead, the few left cannot declare a major outage by themselves.
pub fn quorum(regions: usize, configured: Option<u32>) -> usize {
    let q = match configured {
        Some(q) => q as usize,
        None => 2.max(regions.div_ceil(2)),
    };
    q.clamp(1, regions.max(1))
}

/// The quorum rule over the confirmed healths of a probe's configured regions (stale ones
/// as no data): down in at least the quorum is a major outage, down in fewer a partial
/// one, degraded (or down) in the quorum is degraded performance. `None` when no region
/// has data.
pub fn verdict(healths: &[RegionHealth], quorum_setting: Option<u32>) -> Option<Status> {
    let count = |f: fn(&RegionHealth) -> bool| healths.iter().filter(|h| f(h)).count();
    let fresh = count(|h| {
        matches!(
            h,
            RegionHealth::Up | RegionHealth::Degraded | RegionHealth::Down
        )
    });
    if fresh == 0 {
        return None;
    }
    let down = count(|h| *h == RegionHealth::Down);
    let degraded = count(|h| *h == RegionHealth::Degraded);
    let q = quorum(healths.len(), quorum_setting);
    Some(if down >= q {
        Status::MajorOutage
    } else if down > 0 {
        Status::PartialOutage
    } else if down + degraded >= q {
        Status::DegradedPerformance
    } else {
        Status::Operational
    })
}

/// Merge one probe over every region's state.
pub fn merge_probe(
    policy: &ProbePolicy<'_>,
    states: &[RegionState],
    now: DateTime<Utc>,
) -> ProbeVerdict {
    let stale_after = policy.stale_after();
    let mut regions = Vec::new();
    for name in policy.regions {
        let state = states.iter().find(|s| &s.region == name);
        let probe = state.and_then(|s| s.probes.get(policy.id));
        let skew = state.and_then(|s| clock_skew(s, now));
        let view = match probe {
            // Its times (back-dating, staleness, history) cannot be trusted: no data.
            Some(p) if skew.is_some() => RegionView {
                region: name.clone(),
                health: RegionHealth::NoData,
                detail: Some(format!(
                    "this region's clock is {}, so its results are left out; fix time sync (NTP) on its prober",
                    skew.map(skew_words).unwrap_or_default()
                )),
                checked_at: Some(p.last.at),
                since: None,
                unconfirmed: None,
            },
            None => RegionView {
                region: name.clone(),
                health: RegionHealth::NoData,
                detail: Some("no data from this region yet".to_string()),
                checked_at: None,
                since: None,
                unconfirmed: None,
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
                unconfirmed: None,
            },
            Some(p) => {
                // The worker confirmed the region's health (hysteresis, back-dating); a
                // file without transitions yet has only unconfirmed samples.
                let confirmed = p.confirmed();
                RegionView {
                    region: name.clone(),
                    health: confirmed.map_or(RegionHealth::Unknown, |t| match t.to {
                        RegionHealth::NoData => RegionHealth::Unknown,
                        h => h,
                    }),
                    detail: Some(p.last.detail.clone()),
                    checked_at: Some(p.last.at),
                    since: confirmed.map(|t| t.at),
                    unconfirmed: unconfirmed(&p.pending, policy.confirm, policy.recover),
                }
            }
        };
        regions.push(view);
    }
    let healths: Vec<RegionHealth> = regions.iter().map(|r| r.health).collect();
    let status = verdict(&healths, policy.quorum);
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
    /// The cause (or the candidate causes, any one of them) when it fails only through a
    /// fault in a component it depends on (see `localise::attribute`).
    pub affected_by: Vec<String>,
    /// When it is the one cause the probes point to: the components failing through it.
    pub affects: Vec<String>,
    /// Its status was inferred from probes through other components, none of its own
    /// probes showing it.
    pub inferred: bool,
}

/// Roll probe verdicts up into components (worst wins) and apply overrides.
pub fn components(
    config: &Config,
    verdicts: &[ProbeVerdict],
    overrides: &[Override],
) -> Vec<ComponentVerdict> {
    let by_component = config.probes_by_component();
    let verdict_of: HashMap<&str, &ProbeVerdict> =
        verdicts.iter().map(|v| (v.id.as_str(), v)).collect();
    let mut declared_for: HashMap<&str, Vec<&Override>> = HashMap::new();
    for o in overrides {
        declared_for
            .entry(o.component.as_str())
            .or_default()
            .push(o);
    }
    let mut out = Vec::new();
    for component in &config.site.components {
        let probes: Vec<&ProbeVerdict> = by_component
            .get(component.id.as_str())
            .into_iter()
            .flatten()
            .filter_map(|p| config.probing.probes.get(*p))
            .filter_map(|p| verdict_of.get(p.id.as_str()).copied())
            .collect();
        let overrides = declared_for
            .get(component.id.as_str())
            .map_or(&[][..], Vec::as_slice);
        let measured = probes.iter().filter_map(|v| v.status).max();
        let mut regions = Vec::new();
        for region in &config.probing.regions {
            let worst = probes
                .iter()
                .filter_map(|v| v.regions.iter().find(|r| r.region == region.name))
                .max_by_key(|r| (r.health.rank(), r.unconfirmed.is_some()));
            if let Some(view) = worst {
                regions.push(view.clone());
            }
        }
        let declared = overrides.iter().filter_map(|o| o.status).max();
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
            maintenance: overrides.iter().any(|o| o.maintenance),
            down_regions: regions
                .iter()
                .filter(|r| r.health == RegionHealth::Down)
                .map(|r| r.region.clone())
                .collect(),
            regions,
            since,
            affected_by: Vec::new(),
            affects: Vec::new(),
            inferred: false,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Health, RegionState, Sample};

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
                &crate::state::history::Policy::every(10.0),
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
            quorum: None,
            worst_check: Duration::ZERO,
            confirm: 2,
            recover: 2,
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
        assert_eq!(quorum(1, Some(2)), 1, "capped at the configured regions");
        // The floor: two of three probers dead, the third sees down: only partial.
        use RegionHealth::{Down, NoData, Up};
        assert_eq!(
            super::verdict(&[Down, NoData, NoData], None),
            Some(Status::PartialOutage)
        );
        assert_eq!(
            super::verdict(&[Down, Down, NoData], None),
            Some(Status::MajorOutage)
        );
        assert_eq!(
            super::verdict(&[Down, Up, Up], None),
            Some(Status::PartialOutage)
        );
        assert_eq!(
            super::verdict(&[Down], None),
            Some(Status::MajorOutage),
            "one region of one"
        );
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
        // With b gone too, the lone fresh region is not a quorum of the three: partial.
        let v = verdict(&[region("a", 100, &[D, D])], 100);
        assert_eq!(v.regions[1].health, RegionHealth::NoData);
        assert_eq!(v.status, Some(Status::PartialOutage));
    }

    #[test]
    fn a_region_whose_clock_is_off_is_flagged_and_left_out() {
        // c's clock runs 10 minutes ahead: its file and samples are dated 10 min ahead.
        let states = [
            region("a", 100, &[D, D]),
            region("b", 100, &[P, P]),
            region("c", 700, &[D, D]),
        ];
        let v = verdict(&states, 100);
        assert_eq!(v.regions[2].health, RegionHealth::NoData);
        let detail = v.regions[2].detail.clone().unwrap_or_default();
        assert!(detail.contains("clock is 10 min ahead"), "{detail}");
        assert_eq!(v.status, Some(Status::PartialOutage), "a and b decide");
        // Behind, seen against the store's clock (object storage's Last-Modified).
        let mut late = region("c", 100, &[D, D]);
        late.stored_at = Some(t(100 + 600));
        assert_eq!(
            clock_skew(&late, t(100)).map(skew_words).as_deref(),
            Some("10 min behind")
        );
        // Within the tolerance, and with no store clock, nothing is said.
        late.stored_at = Some(t(160));
        assert_eq!(clock_skew(&late, t(100)), None);
        late.stored_at = None;
        assert_eq!(clock_skew(&late, t(100)), None);
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
