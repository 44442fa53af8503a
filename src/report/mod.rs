//! Step 9 of the flow: availability reports. From each component's consensus timeline
//! (step 4), the maintenance windows posted for it and its SLO, the figures of a period (a
//! month in the page's time zone, so a month with a DST change has 743 or 745 hours, or
//! any span): availability, downtime, outages, the longest, MTTR and MTBF, time under
//! maintenance and with no data, the incidents posted, and the SLO's verdict with its
//! error budget. Counted in milliseconds of the timeline, never in samples. Pure: the
//! clock is an input.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::status::Status;
use crate::status::timeline::{ComponentHistory, PARTIAL_WEIGHT, Segment, local_midnight};

pub mod table;

/// What a stretch of a component's time counts as in a report, worst last: combining
/// components (the page) takes the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// No region had data: neither up nor down.
    NoData,
    /// Inside a maintenance window posted for it: left out of availability.
    Maintenance,
    /// Operational.
    Up,
    /// Degraded performance (counts as available).
    Degraded,
    /// Partial outage (counts as [`PARTIAL_WEIGHT`] of downtime).
    Partial,
    /// Major outage.
    Major,
}

impl Mark {
    fn of(status: Option<Status>) -> Mark {
        match status {
            None => Mark::NoData,
            Some(Status::Operational) => Mark::Up,
            Some(Status::DegradedPerformance) => Mark::Degraded,
            Some(Status::PartialOutage) => Mark::Partial,
            Some(Status::MajorOutage) => Mark::Major,
        }
    }

    fn outage(self) -> bool {
        matches!(self, Mark::Partial | Mark::Major)
    }
}

/// A stretch `[from, to)` with one mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Start, inclusive.
    pub from: DateTime<Utc>,
    /// End, exclusive.
    pub to: DateTime<Utc>,
    /// What it counts as.
    pub mark: Mark,
}

/// A maintenance window `[from, to)`.
pub type Window = (DateTime<Utc>, DateTime<Utc>);

/// A component's marks over `[from, to)`: its timeline (time it does not cover is no
/// data), with its maintenance windows laid over it.
pub fn marks(
    segments: &[Segment],
    maintenance: &[Window],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Span> {
    // Only the segments that overlap the period (the timeline reaches a year back).
    let first = segments.partition_point(|s| s.to <= from);
    let last = segments.partition_point(|s| s.from < to);
    let segments = &segments[first..last.max(first)];
    let mut cuts = vec![from, to];
    cuts.extend(segments.iter().flat_map(|s| [s.from, s.to]));
    cuts.extend(maintenance.iter().flat_map(|(a, b)| [*a, *b]));
    cuts.retain(|t| *t >= from && *t <= to);
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<Span> = Vec::new();
    for pair in cuts.windows(2) {
        let at = pair[0];
        let mark = if maintenance.iter().any(|(a, b)| *a <= at && at < *b) {
            Mark::Maintenance
        } else {
            Mark::of(crate::status::timeline::status_at(segments, at))
        };
        push(&mut out, pair[0], pair[1], mark);
    }
    out
}

fn push(out: &mut Vec<Span>, from: DateTime<Utc>, to: DateTime<Utc>, mark: Mark) {
    if from >= to {
        return;
    }
    match out.last_mut() {
        Some(last) if last.to == from && last.mark == mark => last.to = to,
        _ => out.push(Span { from, to, mark }),
    }
}

/// The page's marks: at each moment the worst of its components' (an outage anywhere is
/// the page's; maintenance only where no component has data outside one). A sweep over
/// every span's start and end that counts the lines of each mark, so thousands of
/// components cost their spans, not spans × components.
pub fn worst_of(lines: &[Vec<Span>], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Span> {
    const MARKS: [Mark; 6] = [
        Mark::NoData,
        Mark::Maintenance,
        Mark::Up,
        Mark::Degraded,
        Mark::Partial,
        Mark::Major,
    ];
    let index = |m: Mark| MARKS.iter().position(|x| *x == m).unwrap_or(0);
    // (when, which mark, +1 at a start / -1 at an end), clipped to [from, to).
    let mut events: Vec<(DateTime<Utc>, usize, i32)> = Vec::new();
    for s in lines.iter().flatten() {
        let (a, b) = (s.from.max(from), s.to.min(to));
        if a < b {
            events.push((a, index(s.mark), 1));
            events.push((b, index(s.mark), -1));
        }
    }
    events.sort_unstable();
    let mut counts = [0i32; 6];
    let mut out = Vec::new();
    let mut at = from;
    let mut i = 0;
    while i < events.len() {
        let when = events[i].0;
        if when > at {
            let worst = (0..MARKS.len())
                .rev()
                .find(|m| counts[*m] > 0)
                .map_or(Mark::NoData, |m| MARKS[m]);
            push(&mut out, at, when, worst);
            at = when;
        }
        while i < events.len() && events[i].0 == when {
            counts[events[i].1] += events[i].2;
            i += 1;
        }
    }
    push(&mut out, at, to, Mark::NoData);
    out
}

/// A period of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    /// `2026-11` for a month, `2026-11-01..2026-11-15` for a span.
    pub label: String,
    /// Start, inclusive.
    pub from: DateTime<Utc>,
    /// End, exclusive.
    pub until: DateTime<Utc>,
    /// The period had not ended at the report's `now`: its figures are so far.
    pub so_far: bool,
}

impl Period {
    /// The month `year`-`month` in `tz`, from its first local midnight to the next
    /// month's, cut at `now` while it runs.
    pub fn month(tz: Tz, year: i32, month: u32, now: DateTime<Utc>) -> Option<Period> {
        let first = NaiveDate::from_ymd_opt(year, month, 1)?;
        let next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)?
        };
        let (from, until) = (local_midnight(tz, first)?, local_midnight(tz, next)?);
        (from < now).then(|| Period {
            label: format!("{year:04}-{month:02}"),
            from,
            until: until.min(now),
            so_far: until > now,
        })
    }

    /// The span `[from, until)`, cut at `now`.
    pub fn span(from: DateTime<Utc>, until: DateTime<Utc>, tz: Tz, now: DateTime<Utc>) -> Period {
        let day = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d").to_string();
        Period {
            label: format!("{}..{}", day(from), day(until)),
            from,
            until: until.min(now),
            so_far: until > now,
        }
    }

    /// The months of `tz` that began in `[first, now]`, oldest first.
    pub fn months_since(tz: Tz, first: DateTime<Utc>, now: DateTime<Utc>) -> Vec<Period> {
        let (start, end) = (first.with_timezone(&tz), now.with_timezone(&tz));
        let mut out = Vec::new();
        let (mut y, mut m) = (start.year(), start.month());
        while (y, m) <= (end.year(), end.month()) {
            out.extend(Period::month(tz, y, m, now));
            (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        }
        out
    }
}

/// An SLO's verdict over a period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Verdict {
    /// The target, in percent.
    pub target_pct: f64,
    /// Whether the availability reached it.
    pub met: bool,
    /// The downtime the target allows over the time with data, in seconds.
    pub budget_s: f64,
    /// The share of that budget the downtime used, in percent (over 100 when missed).
    pub budget_used_pct: f64,
    /// Seconds of budget left (negative when overspent).
    pub budget_left_s: f64,
}

/// The figures of one component (or the page) over one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Seconds in the period.
    pub period_s: f64,
    /// Seconds operational.
    pub up_s: f64,
    /// Seconds of degraded performance (available).
    pub degraded_s: f64,
    /// Seconds of partial outage.
    pub partial_s: f64,
    /// Seconds of major outage.
    pub major_s: f64,
    /// Seconds under maintenance: left out of availability.
    pub maintenance_s: f64,
    /// Seconds with no data: neither up nor down, left out of availability.
    pub no_data_s: f64,
    /// Downtime: a major outage in full, a partial one at [`PARTIAL_WEIGHT`].
    pub downtime_s: f64,
    /// Availability over the time with data outside maintenance, in percent; `None`
    /// without any such time.
    pub availability_pct: Option<f64>,
    /// Of the period outside maintenance: the share available, the share down and the
    /// share with no data, in percent (they add up to 100).
    pub available_share_pct: f64,
    /// See `available_share_pct`.
    pub downtime_share_pct: f64,
    /// See `available_share_pct`.
    pub no_data_share_pct: f64,
    /// Outages: runs of partial or major outage (a maintenance window or a gap in the
    /// data ends one).
    pub outages: usize,
    /// The longest outage, in seconds.
    pub longest_outage_s: Option<f64>,
    /// Mean time to recovery: the outages' mean length, in seconds.
    pub mttr_s: Option<f64>,
    /// Mean time between failures: the time with data outside outages and maintenance
    /// divided by the number of outages, in seconds.
    pub mtbf_s: Option<f64>,
    /// The SLO's verdict, when there is a target.
    pub slo: Option<Verdict>,
}

/// Milliseconds as seconds.
fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// The figures of `spans` within `period`, held against `slo` (percent).
pub fn figures(spans: &[Span], period: &Period, slo: Option<f64>) -> Figures {
    let mut ms: BTreeMap<Mark, i64> = BTreeMap::new();
    let mut covered = 0i64;
    let mut runs: Vec<i64> = Vec::new();
    let mut open: Option<DateTime<Utc>> = None;
    let mut last_end = period.from;
    for s in spans {
        let (a, b) = (s.from.max(period.from), s.to.min(period.until));
        if a >= b {
            continue;
        }
        let len = (b - a).num_milliseconds();
        *ms.entry(s.mark).or_default() += len;
        covered += len;
        match (s.mark.outage(), open) {
            (true, None) => open = Some(a),
            (true, Some(start)) if a != last_end => {
                runs.push((last_end - start).num_milliseconds());
                open = Some(a);
            }
            (false, Some(start)) => {
                runs.push((a - start).num_milliseconds());
                open = None;
            }
            _ => {}
        }
        last_end = b;
    }
    if let Some(start) = open {
        runs.push((last_end - start).num_milliseconds());
    }
    let period_ms = (period.until - period.from).num_milliseconds().max(0);
    *ms.entry(Mark::NoData).or_default() += (period_ms - covered).max(0);
    let get = |m: Mark| ms.get(&m).copied().unwrap_or(0);
    let (up, degraded, partial, major) = (
        get(Mark::Up),
        get(Mark::Degraded),
        get(Mark::Partial),
        get(Mark::Major),
    );
    let (maintenance, no_data) = (get(Mark::Maintenance), get(Mark::NoData));
    let downtime_ms = major as f64 + PARTIAL_WEIGHT * partial as f64;
    let known = up + degraded + partial + major;
    let measured = (period_ms - maintenance) as f64;
    let share = |x: f64| {
        if measured > 0.0 {
            100.0 * x / measured
        } else {
            0.0
        }
    };
    let availability_pct = (known > 0).then(|| 100.0 * (1.0 - downtime_ms / known as f64));
    let outage_total: i64 = runs.iter().sum();
    let slo = slo.zip(availability_pct).map(|(target, got)| {
        let budget = (1.0 - target / 100.0) * secs(known);
        Verdict {
            target_pct: target,
            met: got >= target,
            budget_s: budget,
            budget_used_pct: if budget > 0.0 {
                100.0 * downtime_ms / 1000.0 / budget
            } else {
                0.0
            },
            budget_left_s: budget - downtime_ms / 1000.0,
        }
    });
    Figures {
        period_s: secs(period_ms),
        up_s: secs(up),
        degraded_s: secs(degraded),
        partial_s: secs(partial),
        major_s: secs(major),
        maintenance_s: secs(maintenance),
        no_data_s: secs(no_data),
        downtime_s: downtime_ms / 1000.0,
        availability_pct,
        available_share_pct: share(known as f64 - downtime_ms),
        downtime_share_pct: share(downtime_ms),
        no_data_share_pct: share(no_data as f64),
        outages: runs.len(),
        longest_outage_s: runs.iter().max().map(|m| secs(*m)),
        mttr_s: (!runs.is_empty()).then(|| secs(outage_total) / runs.len() as f64),
        mtbf_s: (!runs.is_empty()).then(|| secs(known - outage_total) / runs.len() as f64),
        slo,
    }
}

/// An incident posted in a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Posted {
    /// Its page's slug.
    pub slug: String,
    /// Title.
    pub title: String,
    /// Declared impact.
    pub impact: String,
    /// Components it names.
    pub components: Vec<String>,
    /// First update.
    pub started: DateTime<Utc>,
    /// Resolution; `None` while open.
    pub resolved: Option<DateTime<Utc>>,
}

/// The incidents (not maintenance) open at some moment of `period`, oldest first.
pub fn posted(
    incidents: &[std::sync::Arc<crate::incident::Incident>],
    period: &Period,
) -> Vec<Posted> {
    let mut out: Vec<Posted> = incidents
        .iter()
        .filter(|i| i.kind == crate::incident::Kind::Incident)
        .filter_map(|i| {
            let started = i.started_at()?;
            let resolved = i.resolved_at(period.until);
            let overlaps = started < period.until && resolved.is_none_or(|r| r > period.from);
            overlaps.then(|| Posted {
                slug: i.slug.clone(),
                title: i.title.clone(),
                impact: i.impact.as_str().to_string(),
                components: i.components.clone(),
                started,
                resolved,
            })
        })
        .collect();
    out.sort_by(|a, b| a.started.cmp(&b.started).then(a.slug.cmp(&b.slug)));
    out
}

/// The maintenance windows posted for each component: as scheduled, or until the update
/// that completed it when it ran over (or, with no end, until `now`).
pub fn maintenance_windows(
    incidents: &[std::sync::Arc<crate::incident::Incident>],
    now: DateTime<Utc>,
) -> BTreeMap<String, Vec<Window>> {
    let mut out: BTreeMap<String, Vec<Window>> = BTreeMap::new();
    for i in incidents {
        if i.kind != crate::incident::Kind::Maintenance {
            continue;
        }
        let Some(from) = i.scheduled_for else {
            continue;
        };
        let done = i.resolved_at(now);
        let until = match (i.scheduled_until, done) {
            (Some(end), Some(done)) => end.max(done),
            (Some(end), None) if i.status_at(now).is_final() => end,
            (Some(end), None) => end.max(now),
            (None, Some(done)) => done,
            (None, None) => now,
        };
        for c in &i.components {
            out.entry(c.clone())
                .or_default()
                .push((from, until.max(from)));
        }
    }
    out
}

/// One component's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentReport {
    /// Component id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether probes measure it (without, every figure is no data).
    pub monitored: bool,
    /// Its figures.
    pub figures: Figures,
    /// Incidents posted about it in the period.
    pub incidents: usize,
}

/// A report of a period: the page and every component.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The page's title.
    pub title: String,
    /// The period.
    pub period: Period,
    /// The page's time zone, whose midnights bound its months.
    pub time_zone: String,
    /// How a partial outage counts in downtime (as on the page).
    pub partial_outage_weight: f64,
    /// Where the history kept starts: a period before it has no data there.
    pub history_from: DateTime<Utc>,
    /// Whether the history covers the whole period.
    pub covered: bool,
    /// The page: at each moment the worst of its components.
    pub page: Figures,
    /// Every component, in config order.
    pub components: Vec<ComponentReport>,
    /// Incidents posted in the period.
    pub incidents: Vec<Posted>,
}

/// What reports are made from: the configuration, each component's history (as
/// `status::timeline::histories` makes them, in config order), the posts, their
/// maintenance windows and the clock; made once for any number of periods.
pub struct Inputs<'a> {
    config: &'a crate::config::Config,
    histories: &'a [ComponentHistory],
    incidents: &'a [std::sync::Arc<crate::incident::Incident>],
    windows: BTreeMap<String, Vec<Window>>,
    now: DateTime<Utc>,
}

impl<'a> Inputs<'a> {
    /// The inputs of reports as of `now`.
    pub fn new(
        config: &'a crate::config::Config,
        histories: &'a [ComponentHistory],
        incidents: &'a [std::sync::Arc<crate::incident::Incident>],
        now: DateTime<Utc>,
    ) -> Self {
        Inputs {
            config,
            histories,
            incidents,
            windows: maintenance_windows(incidents, now),
            now,
        }
    }

    /// The report of every month from the first with data (or this one) to this one,
    /// oldest first: what the site's report pages show.
    pub fn months(&self) -> Vec<Report> {
        let tz = self.config.site.page.time_zone;
        let first = first_data(self.histories)
            .unwrap_or(self.now)
            .max(history_from(self.now));
        Period::months_since(tz, first, self.now)
            .iter()
            .map(|p| report(self, p))
            .collect()
    }
}

/// The report of `period`.
pub fn report(inputs: &Inputs<'_>, period: &Period) -> Report {
    let config = inputs.config;
    let windows = &inputs.windows;
    let incidents = posted(inputs.incidents, period);
    let mut lines = Vec::new();
    let mut components = Vec::new();
    for (c, h) in config.site.components.iter().zip(inputs.histories) {
        let (segments, monitored) = (&h.segments, &h.monitored);
        let mine = windows.get(&c.id).map_or(&[][..], Vec::as_slice);
        let spans = marks(segments, mine, period.from, period.until);
        components.push(ComponentReport {
            id: c.id.clone(),
            name: c.name.clone(),
            monitored: *monitored,
            figures: figures(&spans, period, c.slo),
            incidents: incidents
                .iter()
                .filter(|i| i.components.contains(&c.id))
                .count(),
        });
        if *monitored {
            lines.push(spans);
        }
    }
    let page = worst_of(&lines, period.from, period.until);
    Report {
        title: config.site.page.title.clone(),
        period: period.clone(),
        time_zone: config.site.page.time_zone.name().to_string(),
        partial_outage_weight: PARTIAL_WEIGHT,
        history_from: history_from(inputs.now),
        covered: period.from >= history_from(inputs.now),
        page: figures(&page, period, config.site.page.slo),
        components,
        incidents,
    }
}

/// When a timeline first has data, if it ever does.
fn first_data(histories: &[ComponentHistory]) -> Option<DateTime<Utc>> {
    histories
        .iter()
        .filter_map(|h| {
            h.segments
                .iter()
                .find(|s| s.status.is_some())
                .map(|s| s.from)
        })
        .min()
}

/// How far back the history reaches at `now`.
pub fn history_from(now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::days(crate::status::timeline::REACH_DAYS)
}

#[cfg(test)]
mod tests;
