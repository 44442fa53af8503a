//! Step 4 (status): history. The consensus timeline sweeps every region's confirmed
//! transitions and applies the quorum rule at each moment, so downtime is measured in
//! seconds, not counted in samples. From it: uptime over a window, each day's downtime and
//! worst status (the 90-day bars), and the detected outages with the regions that saw
//! them. Time when too few regions were reporting is "no data": it is neither up nor down
//! and leaves the uptime's denominator. Pure functions of their inputs.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::Status;
use super::merge::{ProbePolicy, verdict};
use crate::config::Config;
use crate::state::{RegionHealth, RegionState, Transition};

/// How far back the timeline reaches: the longest uptime window plus its first day.
pub const REACH_DAYS: i64 = 366;
/// Days in the bars of the status page.
pub const BAR_DAYS: u32 = 90;

/// In uptime, a partial outage (down in some regions, fewer than the quorum) counts as
/// this share of downtime, as Statuspage weighs it; a major outage counts in full and
/// degraded performance not at all.
pub const PARTIAL_WEIGHT: f64 = 0.3;

/// One region's confirmed timeline of a probe.
#[derive(Debug, Clone, Copy)]
pub struct RegionLine<'a> {
    /// Region name.
    pub region: &'a str,
    /// Its confirmed transitions, oldest first.
    pub transitions: &'a [Transition],
    /// Where its data ends: its last transition holds until here, then "no data".
    pub until: DateTime<Utc>,
}

impl RegionLine<'_> {
    fn health_at(&self, at: DateTime<Utc>) -> RegionHealth {
        if at >= self.until {
            return RegionHealth::NoData;
        }
        let i = self.transitions.partition_point(|t| t.at <= at);
        match i.checked_sub(1) {
            Some(i) => self.transitions[i].to,
            None => RegionHealth::NoData,
        }
    }
}

/// A stretch of time with one status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    /// Start, inclusive.
    pub from: DateTime<Utc>,
    /// End, exclusive.
    pub to: DateTime<Utc>,
    /// The consensus; `None` when no region had data.
    pub status: Option<Status>,
    /// Regions that saw it down.
    pub down: Vec<String>,
}

/// Append a segment, merging it into the previous one when they read the same.
fn push(out: &mut Vec<Segment>, seg: Segment) {
    if seg.from >= seg.to {
        return;
    }
    if let Some(last) = out.last_mut()
        && last.to == seg.from
        && last.status == seg.status
        && last.down == seg.down
    {
        last.to = seg.to;
        return;
    }
    out.push(seg);
}

/// The consensus timeline of one probe run in `regions` regions over `[from, to)`; `lines`
/// are the regions that have state (one without counts as no data).
pub fn probe_timeline(
    lines: &[RegionLine<'_>],
    regions: usize,
    quorum: Option<u32>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Segment> {
    let mut cuts: Vec<DateTime<Utc>> = vec![from, to];
    for line in lines {
        cuts.extend(line.transitions.iter().map(|t| t.at));
        cuts.push(line.until);
    }
    cuts.retain(|t| *t >= from && *t <= to);
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    for pair in cuts.windows(2) {
        let at = pair[0];
        let mut healths: Vec<RegionHealth> = lines.iter().map(|l| l.health_at(at)).collect();
        // Regions without state vote as no data: the quorum counts every configured one.
        healths.resize(regions.max(lines.len()), RegionHealth::NoData);
        let down = lines
            .iter()
            .zip(&healths)
            .filter(|(_, h)| **h == RegionHealth::Down)
            .map(|(l, _)| l.region.to_string())
            .collect();
        push(
            &mut out,
            Segment {
                from: at,
                to: pair[1],
                status: verdict(&healths, quorum),
                down,
            },
        );
    }
    out
}

/// A component's timeline: at each moment the worst of its probes that have data, and the
/// regions where any of them was down.
pub fn combine(probes: &[Vec<Segment>], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Segment> {
    let mut cuts: Vec<DateTime<Utc>> = vec![from, to];
    for p in probes {
        cuts.extend(p.iter().flat_map(|s| [s.from, s.to]));
    }
    cuts.retain(|t| *t >= from && *t <= to);
    cuts.sort_unstable();
    cuts.dedup();
    let mut index = vec![0usize; probes.len()];
    let mut out = Vec::new();
    for pair in cuts.windows(2) {
        let at = pair[0];
        let mut status = None;
        let mut down: Vec<String> = Vec::new();
        for (p, i) in probes.iter().zip(index.iter_mut()) {
            while *i < p.len() && p[*i].to <= at {
                *i += 1;
            }
            if let Some(seg) = p.get(*i).filter(|s| s.from <= at) {
                status = status.max(seg.status);
                down.extend(seg.down.iter().cloned());
            }
        }
        down.sort();
        down.dedup();
        push(
            &mut out,
            Segment {
                from: at,
                to: pair[1],
                status,
                down,
            },
        );
    }
    out
}

/// Seconds of each status within `[from, to)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Tally {
    /// Operational.
    pub up_s: f64,
    /// Degraded performance.
    pub degraded_s: f64,
    /// Partial outage.
    pub partial_s: f64,
    /// Major outage.
    pub major_s: f64,
    /// No region had data.
    pub no_data_s: f64,
}

impl Tally {
    /// Seconds that count against uptime (partial outages weighted).
    pub fn downtime_s(&self) -> f64 {
        self.major_s + PARTIAL_WEIGHT * self.partial_s
    }

    /// Uptime in percent of the time with data; `None` without any data.
    pub fn uptime_pct(&self) -> Option<f64> {
        let known = self.up_s + self.degraded_s + self.partial_s + self.major_s;
        (known > 0.0).then(|| 100.0 * (1.0 - self.downtime_s() / known))
    }

    /// The worst status seen; `None` when there was no data at all.
    pub fn worst(&self) -> Option<Status> {
        [
            (self.major_s, Status::MajorOutage),
            (self.partial_s, Status::PartialOutage),
            (self.degraded_s, Status::DegradedPerformance),
            (self.up_s, Status::Operational),
        ]
        .into_iter()
        .find(|(s, _)| *s > 0.0)
        .map(|(_, status)| status)
    }
}

/// Add up a timeline within `[from, to)`; time the timeline does not cover is no data.
pub fn tally(segments: &[Segment], from: DateTime<Utc>, to: DateTime<Utc>) -> Tally {
    let mut t = Tally::default();
    let mut covered = 0.0;
    for s in segments {
        let (a, b) = (s.from.max(from), s.to.min(to));
        if a >= b {
            continue;
        }
        let secs = (b - a).as_seconds_f64();
        covered += secs;
        match s.status {
            None => t.no_data_s += secs,
            Some(Status::Operational) => t.up_s += secs,
            Some(Status::DegradedPerformance) => t.degraded_s += secs,
            Some(Status::PartialOutage) => t.partial_s += secs,
            Some(Status::MajorOutage) => t.major_s += secs,
        }
    }
    t.no_data_s += ((to - from).as_seconds_f64() - covered).max(0.0);
    t
}

/// The uptime windows shown on pages: label and length.
pub const WINDOWS: [(&str, i64); 5] = [
    ("24h", 1),
    ("7d", 7),
    ("30d", 30),
    ("90d", 90),
    ("365d", 365),
];

/// Uptime over each of [`WINDOWS`] ending at `now`.
pub fn uptimes(segments: &[Segment], now: DateTime<Utc>) -> Vec<(&'static str, Option<f64>)> {
    WINDOWS
        .iter()
        .map(|(label, days)| {
            (
                *label,
                tally(segments, now - Duration::days(*days), now).uptime_pct(),
            )
        })
        .collect()
}

/// One day of a timeline, in the page's time zone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    /// The date.
    pub date: NaiveDate,
    /// What the day held (up to `now` for today).
    pub tally: Tally,
}

/// The last `n` days up to and including today (in `tz`), oldest first.
pub fn days(segments: &[Segment], tz: Tz, now: DateTime<Utc>, n: u32) -> Vec<Day> {
    let today = now.with_timezone(&tz).date_naive();
    (0..n)
        .rev()
        .filter_map(|back| {
            let date = today - Duration::days(i64::from(back));
            let start = local_midnight(tz, date)?;
            let end = local_midnight(tz, date.succ_opt()?)?.min(now);
            Some(Day {
                date,
                tally: tally(segments, start, end.max(start)),
            })
        })
        .collect()
}

/// The first instant of `date` in `tz` (a day may start at 01:00 where midnight is skipped).
pub fn local_midnight(tz: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    (0..=3).find_map(|h| {
        tz.from_local_datetime(&date.and_hms_opt(h, 0, 0)?)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// An outage the probes saw: consecutive partial or major outage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outage {
    /// When it began (back-dated to the first failing sample).
    pub start: DateTime<Utc>,
    /// When it ended; `None` while it goes on.
    pub end: Option<DateTime<Utc>>,
    /// The worst status during it.
    pub worst: Status,
    /// Every region that saw it down.
    pub regions: Vec<String>,
}

/// The outages in a timeline, oldest first. One that reaches `now` is still going on.
pub fn outages(segments: &[Segment], now: DateTime<Utc>) -> Vec<Outage> {
    let mut out: Vec<Outage> = Vec::new();
    let mut open = false;
    for s in segments {
        let bad = matches!(s.status, Some(Status::PartialOutage | Status::MajorOutage));
        if !bad {
            open = false;
            continue;
        }
        let status = s.status.unwrap_or(Status::PartialOutage);
        match out.last_mut() {
            Some(o) if open => {
                o.end = Some(s.to);
                o.worst = o.worst.max(status);
                o.regions.extend(s.down.iter().cloned());
                o.regions.sort();
                o.regions.dedup();
            }
            _ => out.push(Outage {
                start: s.from,
                end: Some(s.to),
                worst: status,
                regions: s.down.clone(),
            }),
        }
        open = true;
    }
    for o in &mut out {
        if o.end.is_some_and(|e| e >= now) {
            o.end = None;
        }
    }
    out
}

/// Each configured region's line for one probe. A region with fresh data holds its last
/// health until `now`; a stale one until one interval after its newest sample.
pub fn lines<'a>(
    policy: &ProbePolicy<'_>,
    states: &'a [RegionState],
    now: DateTime<Utc>,
) -> Vec<RegionLine<'a>> {
    states
        .iter()
        .filter(|s| policy.regions.contains(&s.region))
        // A region whose clock is off is left out of the history too.
        .filter(|s| super::merge::clock_skew(s, now).is_none())
        .filter_map(|s| {
            let p = s.probes.get(policy.id)?;
            // A silent region counts as it last was until it is stale, as the live view
            // has it, and as no data after (the worker records the gap from the same time).
            let stale_at = p.last.at + policy.stale_after();
            Some(RegionLine {
                region: &s.region,
                transitions: &p.transitions,
                until: if now <= stale_at { now } else { stale_at },
            })
        })
        .collect()
}

/// What the pages show of one component's past.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentHistory {
    /// Component id.
    pub id: String,
    /// Whether any probe exercises it (without probes there is no measured history).
    pub monitored: bool,
    /// Its consensus timeline over the last [`REACH_DAYS`].
    pub segments: Vec<Segment>,
    /// Uptime per window of [`WINDOWS`].
    pub uptime: Vec<(&'static str, Option<f64>)>,
    /// The last [`BAR_DAYS`] days in the page's time zone, oldest first.
    pub days: Vec<Day>,
    /// Detected outages, oldest first.
    pub outages: Vec<Outage>,
}

/// Every probe's consensus timeline over the last [`REACH_DAYS`], in config order.
pub fn probe_timelines(
    config: &Config,
    states: &[RegionState],
    now: DateTime<Utc>,
) -> Vec<Vec<Segment>> {
    let from = now - Duration::days(REACH_DAYS);
    config
        .probing
        .probes
        .iter()
        .map(|p| {
            let policy = ProbePolicy::from(p);
            let lines = lines(&policy, states, now);
            probe_timeline(&lines, p.regions.len(), p.quorum, from, now)
        })
        .collect()
}

/// A timeline's status at `at`; `None` without data or outside it.
pub fn status_at(segments: &[Segment], at: DateTime<Utc>) -> Option<Status> {
    let i = segments.partition_point(|s| s.to <= at);
    segments
        .get(i)
        .filter(|s| s.from <= at)
        .and_then(|s| s.status)
}

/// The history of every component, in config order.
pub fn histories(
    config: &Config,
    states: &[RegionState],
    now: DateTime<Utc>,
    tz: Tz,
) -> Vec<ComponentHistory> {
    histories_of(config, &probe_timelines(config, states, now), now, tz)
}

/// [`histories`] from the probes' timelines (see [`probe_timelines`]).
pub fn histories_of(
    config: &Config,
    probe_lines: &[Vec<Segment>],
    now: DateTime<Utc>,
    tz: Tz,
) -> Vec<ComponentHistory> {
    let from = now - Duration::days(REACH_DAYS);
    let by_component = config.probes_by_component();
    config
        .site
        .components
        .iter()
        .map(|c| {
            let probes: Vec<Vec<Segment>> = by_component
                .get(c.id.as_str())
                .into_iter()
                .flatten()
                .filter_map(|p| probe_lines.get(*p).cloned())
                .collect();
            let segments = combine(&probes, from, now);
            ComponentHistory {
                id: c.id.clone(),
                monitored: !probes.is_empty(),
                uptime: uptimes(&segments, now),
                days: days(&segments, tz, now, BAR_DAYS),
                outages: outages(&segments, now),
                segments,
            }
        })
        .collect()
}

/// A stretch when a human said what was going on with a component: an incident post
/// (from its first update to its resolution) or a maintenance window.
#[derive(Debug, Clone, PartialEq)]
pub struct Cover {
    /// Component id.
    pub component: String,
    /// Start.
    pub from: DateTime<Utc>,
    /// End; `None` while it is open.
    pub until: Option<DateTime<Utc>>,
}

/// An outage the probes saw that no post covers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detected {
    /// Component id.
    pub component: String,
    /// The outage.
    pub outage: Outage,
    /// Components whose own outages were failures through this one (folded into it by
    /// `localise::fold_detected`).
    pub affects: Vec<String>,
}

/// The covers by component, so asking whether a post covers an outage costs that
/// component's posts, not every post.
pub struct Covers<'a>(std::collections::HashMap<&'a str, Vec<&'a Cover>>);

impl<'a> Covers<'a> {
    /// Index `covers` by component.
    pub fn new(covers: &'a [Cover]) -> Covers<'a> {
        let mut by: std::collections::HashMap<&str, Vec<&Cover>> = std::collections::HashMap::new();
        for c in covers {
            by.entry(c.component.as_str()).or_default().push(c);
        }
        Covers(by)
    }

    /// Whether a cover of `component` overlaps `start`..`end`.
    pub fn covered(&self, component: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.0.get(component).is_some_and(|cs| {
            cs.iter()
                .any(|c| c.from < end && c.until.is_none_or(|u| u > start))
        })
    }
}

/// Outages of at least `after` (ongoing ones: lasting that long by `now`) that no cover
/// of their component overlaps, oldest first. A post written later folds the notice in.
pub fn detected(
    histories: &[ComponentHistory],
    covers: &[Cover],
    after: std::time::Duration,
    now: DateTime<Utc>,
) -> Vec<Detected> {
    let after = Duration::from_std(after).unwrap_or(Duration::MAX);
    let covers = Covers::new(covers);
    let mut out = Vec::new();
    for h in histories {
        for o in &h.outages {
            let end = o.end.unwrap_or(now);
            if end - o.start < after {
                continue;
            }
            if !covers.covered(&h.id, o.start, end) {
                out.push(Detected {
                    component: h.id.clone(),
                    outage: o.clone(),
                    affects: Vec::new(),
                });
            }
        }
    }
    out.sort_by_key(|d| d.outage.start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use RegionHealth::{Down as D, NoData as N, Up as U};

    /// Minutes after a fixed midnight (2026-03-10T00:00:00Z).
    fn m(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap() + Duration::minutes(min)
    }

    fn tr(v: &[(i64, RegionHealth)]) -> Vec<Transition> {
        v.iter()
            .map(|(at, to)| Transition {
                at: m(*at),
                to: *to,
            })
            .collect()
    }

    #[test]
    fn quorum_over_time_with_a_silent_region() {
        // Three regions, 0–600 min. a: down 100–160. b: down 130–200. c: down 140–150,
        // and silent from 300 (its data ends there).
        let a = tr(&[(0, U), (100, D), (160, U)]);
        let b = tr(&[(0, U), (130, D), (200, U)]);
        let c = tr(&[(0, U), (140, D), (150, U)]);
        let lines = [
            RegionLine {
                region: "a",
                transitions: &a,
                until: m(600),
            },
            RegionLine {
                region: "b",
                transitions: &b,
                until: m(600),
            },
            RegionLine {
                region: "c",
                transitions: &c,
                until: m(300),
            },
        ];
        let tl = probe_timeline(&lines, 3, None, m(0), m(600));
        let got: Vec<(i64, i64, Option<Status>)> = tl
            .iter()
            .map(|s| {
                (
                    (s.from - m(0)).num_minutes(),
                    (s.to - m(0)).num_minutes(),
                    s.status,
                )
            })
            .collect();
        use Status::{MajorOutage as Maj, Operational as Op, PartialOutage as Par};
        // Quorum of 3 regions is 2: a alone 100–130 partial; a+b 130–160 major (c joins
        // 140–150: still major, its own segment since the regions differ); b alone
        // 160–200 partial. From 300 only a and b report, both up: operational.
        assert_eq!(
            got,
            vec![
                (0, 100, Some(Op)),
                (100, 130, Some(Par)),
                (130, 140, Some(Maj)),
                (140, 150, Some(Maj)),
                (150, 160, Some(Maj)),
                (160, 200, Some(Par)),
                (200, 600, Some(Op)),
            ]
        );
        let t = tally(&tl, m(0), m(600));
        // Partial 30 + 40 = 70 min, major 30 min, over 600 min all with data:
        // downtime = 30 + 0.3 × 70 = 51 min; uptime = 1 − 51/600 = 91.5 %.
        assert_eq!(t.major_s, 1800.0);
        assert_eq!(t.partial_s, 4200.0);
        assert!((t.uptime_pct().unwrap() - 91.5).abs() < 1e-9);
        let o = outages(&tl, m(600));
        assert_eq!(o.len(), 1, "one outage from 100 to 200");
        assert_eq!((o[0].start, o[0].end), (m(100), Some(m(200))));
        assert_eq!(o[0].worst, Status::MajorOutage);
        assert_eq!(o[0].regions, vec!["a", "b", "c"]);
    }

    #[test]
    fn no_data_is_not_downtime() {
        // One region: up 0–60, silent 60–120 (no data), down 120–150, up until 180.
        let a = tr(&[(0, U), (60, N), (120, D), (150, U)]);
        let lines = [RegionLine {
            region: "a",
            transitions: &a,
            until: m(180),
        }];
        let tl = probe_timeline(&lines, 1, None, m(0), m(240));
        let t = tally(&tl, m(0), m(240));
        // Data 0–60 and 120–180 (120 min), down 30 of them → 75 %; 120 min no data
        // (60–120 silent, 180–240 after its data ends).
        assert_eq!(t.no_data_s, 7200.0);
        assert_eq!(t.uptime_pct(), Some(75.0));
        let o = outages(&tl, m(240));
        assert_eq!((o[0].start, o[0].end), (m(120), Some(m(150))));
        assert_eq!(
            o[0].worst,
            Status::MajorOutage,
            "all of one region is the quorum"
        );
    }

    #[test]
    fn days_around_a_dst_change_are_23_and_25_hours_long() {
        // Up all along in Berlin, from 27 Mar to 27 Oct 2026 (UTC+1 → +2 on 29 Mar,
        // back on 25 Oct): the short and the long day each count their real seconds.
        let from: DateTime<Utc> = "2026-03-26T23:00:00Z".parse().unwrap();
        let to: DateTime<Utc> = "2026-10-27T23:00:00Z".parse().unwrap();
        let up = vec![Segment {
            from,
            to,
            status: Some(Status::Operational),
            down: vec![],
        }];
        let berlin = chrono_tz::Europe::Berlin;
        let spring = days(&up, berlin, "2026-03-30T12:00:00Z".parse().unwrap(), 3);
        let got: Vec<(String, f64)> = spring
            .iter()
            .map(|d| (d.date.to_string(), d.tally.up_s))
            .collect();
        assert_eq!(
            got,
            vec![
                ("2026-03-28".to_string(), 24.0 * 3600.0),
                ("2026-03-29".to_string(), 23.0 * 3600.0),
                ("2026-03-30".to_string(), 12.0 * 3600.0 + 2.0 * 3600.0),
            ]
        );
        let autumn = days(&up, berlin, "2026-10-26T12:00:00Z".parse().unwrap(), 2);
        assert_eq!(autumn[0].date.to_string(), "2026-10-25");
        assert_eq!(autumn[0].tally.up_s, 25.0 * 3600.0);
    }

    #[test]
    fn components_take_the_worst_probe_and_days_split_at_local_midnight() {
        // Probe 1 down 23:00–01:00 (Tokyo is UTC+9, so 08:00–10:00 local on one day);
        // probe 2 without data after 12:00.
        let p1 = vec![
            Segment {
                from: m(0),
                to: m(23 * 60),
                status: Some(Status::Operational),
                down: vec![],
            },
            Segment {
                from: m(23 * 60),
                to: m(25 * 60),
                status: Some(Status::MajorOutage),
                down: vec!["a".into()],
            },
            Segment {
                from: m(25 * 60),
                to: m(48 * 60),
                status: Some(Status::Operational),
                down: vec![],
            },
        ];
        let p2 = vec![Segment {
            from: m(0),
            to: m(12 * 60),
            status: Some(Status::DegradedPerformance),
            down: vec![],
        }];
        let c = combine(&[p1, p2], m(0), m(48 * 60));
        let got: Vec<(i64, Option<Status>)> = c
            .iter()
            .map(|s| ((s.from - m(0)).num_hours(), s.status))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, Some(Status::DegradedPerformance)),
                (12, Some(Status::Operational)),
                (23, Some(Status::MajorOutage)),
                (25, Some(Status::Operational)),
            ]
        );
        // UTC days: the outage splits 1 h + 1 h over 10 and 11 March.
        let utc = days(&c, chrono_tz::UTC, m(48 * 60 - 1), 2);
        assert_eq!(utc[0].tally.major_s, 3600.0);
        assert_eq!(utc[1].tally.major_s, 3600.0);
        // Tokyo days: 10 March local is 9 March 15:00Z – 10 March 15:00Z. The 2 h outage
        // (23:00Z–01:00Z = 08:00–10:00 on 11 March local) falls on 11 March only.
        let tokyo = days(&c, chrono_tz::Asia::Tokyo, m(48 * 60 - 1), 3);
        assert_eq!(tokyo[2].date, NaiveDate::from_ymd_opt(2026, 3, 12).unwrap());
        assert_eq!(tokyo[1].tally.major_s, 7200.0);
        assert_eq!(tokyo[1].tally.worst(), Some(Status::MajorOutage));
        // 10 March local: no data before 00:00Z (9 h), degraded 00:00Z–12:00Z, up 12–15.
        assert_eq!(tokyo[0].tally.no_data_s, 9.0 * 3600.0);
        assert_eq!(tokyo[0].tally.degraded_s, 12.0 * 3600.0);
        assert_eq!(tokyo[0].tally.worst(), Some(Status::DegradedPerformance));
    }

    #[test]
    fn detected_outages_need_the_threshold_and_no_covering_post() {
        let outage = |start: i64, end: Option<i64>| Outage {
            start: m(start),
            end: end.map(m),
            worst: Status::PartialOutage,
            regions: vec!["a".into()],
        };
        let h = ComponentHistory {
            id: "api".into(),
            monitored: true,
            segments: vec![],
            uptime: vec![],
            days: vec![],
            // 2 min (too short), 10 min, 30 min, and one going on for 4 min at 100.
            outages: vec![
                outage(0, Some(2)),
                outage(10, Some(20)),
                outage(30, Some(60)),
                outage(96, None),
            ],
        };
        let three = std::time::Duration::from_secs(180);
        let got: Vec<i64> = detected(std::slice::from_ref(&h), &[], three, m(100))
            .iter()
            .map(|d| (d.outage.start - m(0)).num_minutes())
            .collect();
        assert_eq!(got, vec![10, 30, 96]);
        // A post from minute 40 to 70 covers the 30–60 outage; one still open from 99
        // covers the ongoing one; a post on another component covers nothing.
        let covers = [
            Cover {
                component: "api".into(),
                from: m(40),
                until: Some(m(70)),
            },
            Cover {
                component: "api".into(),
                from: m(99),
                until: None,
            },
            Cover {
                component: "web".into(),
                from: m(0),
                until: None,
            },
        ];
        let got: Vec<i64> = detected(&[h], &covers, three, m(100))
            .iter()
            .map(|d| (d.outage.start - m(0)).num_minutes())
            .collect();
        assert_eq!(got, vec![10]);
    }

    #[test]
    fn an_outage_reaching_now_is_ongoing() {
        let a = tr(&[(0, U), (50, D)]);
        let lines = [RegionLine {
            region: "a",
            transitions: &a,
            until: m(100),
        }];
        let tl = probe_timeline(&lines, 1, None, m(0), m(100));
        let o = outages(&tl, m(100));
        assert_eq!((o[0].start, o[0].end), (m(50), None));
        let windows = uptimes(&tl, m(100));
        assert_eq!(windows[0].0, "24h");
        // 24 h window: data 0–100 min, down 50 → 50 %.
        assert_eq!(windows[0].1, Some(50.0));
    }
}
