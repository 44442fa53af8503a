//! Step 3 (state): what a region keeps of a probe's past, updated sample by sample by the
//! worker. Three pure pieces:
//! - [`Hysteresis`]: turns raw samples into the region's *confirmed* health (a worse health
//!   must hold `confirm` rounds, a better one `recover` rounds, `confirm` unknown rounds
//!   make it unknown), back-dated to the first sample of the run that confirmed it. Its
//!   changes are the region's transitions, so a flapping check that never confirms adds
//!   nothing.
//! - [`Sketch`]: a log-bucketed latency histogram (1 % relative error) for percentiles.
//! - [`History`]: hourly latency percentiles for 7 days and daily roll-ups for 400 days,
//!   kept as columns (one array per field, element 0 at `first_hour` / `first_day`), so
//!   the size is set by the retention windows, never by run time.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::{Health, RegionHealth, Sample, Transition};

/// Hours of latency percentiles kept (7 days).
pub const HOURLY_KEPT: usize = 7 * 24;
/// Days of roll-ups kept.
pub const DAILY_KEPT: usize = 400;

/// How one probe is confirmed and when its region counts as silent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Seconds between checks.
    pub interval_s: f64,
    /// Rounds a worse health must hold.
    pub confirm: u32,
    /// Rounds a better health must hold.
    pub recover: u32,
    /// A pause between two samples longer than this is "no data" (the worker was not
    /// running), not the health before or after it.
    pub silent_after_s: f64,
}

impl Policy {
    /// Defaults for a probe checked every `interval_s` seconds: confirm and recover in 2
    /// rounds, silent after 3 intervals.
    pub fn every(interval_s: f64) -> Self {
        Policy {
            interval_s,
            confirm: 2,
            recover: 2,
            silent_after_s: 3.0 * interval_s,
        }
    }
}

impl From<&crate::config::Probe> for Policy {
    /// How the worker confirms this probe's health and when its region counts as silent:
    /// the builder's staleness limit (3 intervals plus the slowest possible check).
    fn from(probe: &crate::config::Probe) -> Self {
        Policy {
            interval_s: probe.interval.as_secs_f64(),
            confirm: probe.confirm,
            recover: probe.recover,
            // The same limit after which the builder calls a region stale.
            silent_after_s: crate::status::ProbePolicy::from(probe)
                .stale_after()
                .as_seconds_f64(),
        }
    }
}

/// A run of samples that differ from the confirmed health and may confirm a change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The first sample of the run: where a confirmed change is back-dated to.
    #[serde(serialize_with = "super::timestamp::write")]
    pub since: DateTime<Utc>,
    /// Samples in the run.
    pub n: u32,
    /// The health it would confirm: the mildest of a worse run, the worst of a better one.
    pub health: Health,
}

/// Runs under way; empty when the last samples agree with the confirmed health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hysteresis {
    /// Samples worse than the confirmed health.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worse: Option<Run>,
    /// Samples better than the confirmed health.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub better: Option<Run>,
    /// Samples the prober could not take.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<Run>,
}

fn severity(h: Health) -> u8 {
    match h {
        Health::Up | Health::Unknown => 0,
        Health::Degraded => 1,
        Health::Down => 2,
    }
}

impl Hysteresis {
    /// Nothing pending.
    pub fn is_empty(&self) -> bool {
        self.worse.is_none() && self.better.is_none() && self.unknown.is_none()
    }

    /// The run under way that the newest sample belongs to, with the rounds it needs to
    /// be confirmed: unknown rounds (set only while the newest sample is unknown) and worse
    /// ones `confirm`, better ones `recover`. `None` when the newest samples agree with
    /// the confirmed health.
    pub fn newest_run(&self, confirm: u32, recover: u32) -> Option<(Run, u32)> {
        [
            (self.unknown, confirm),
            (self.worse, confirm),
            (self.better, recover),
        ]
        .into_iter()
        .find_map(|(run, needed)| run.map(|r| (r, needed.max(1))))
    }

    /// The earliest start of a run under way: the confirmed timeline is final before it.
    pub fn settled_until(&self) -> Option<DateTime<Utc>> {
        [self.worse, self.better, self.unknown]
            .into_iter()
            .flatten()
            .map(|r| r.since)
            .min()
    }

    /// Feed one sample given the health shown so far (`None` before the first sample).
    /// After unknown rounds or silence, checking resumes from `resume`, the last health
    /// the region observed: an outage that was confirmed before a pause shows again at
    /// once. The very first series (nothing observed before) starts from its first
    /// sample's health: a cold start against a down service is down, not "up" on no
    /// evidence. Returns the changes of confirmed health, oldest first, back-dated.
    pub fn step(
        &mut self,
        shown: Option<RegionHealth>,
        resume: Option<RegionHealth>,
        sample: &Sample,
        confirm: u32,
        recover: u32,
    ) -> Vec<(DateTime<Utc>, RegionHealth)> {
        let (confirm, recover) = (confirm.max(1), recover.max(1));
        let mut changes = Vec::new();
        let at = sample.at;
        let mut shown = match shown {
            Some(RegionHealth::Up) => Health::Up,
            Some(RegionHealth::Degraded) => Health::Degraded,
            Some(RegionHealth::Down) => Health::Down,
            Some(RegionHealth::Unknown) if sample.health == Health::Unknown => {
                *self = Hysteresis::default();
                return changes;
            }
            _ if sample.health == Health::Unknown => {
                *self = Hysteresis::default();
                changes.push((at, RegionHealth::Unknown));
                return changes;
            }
            _ => {
                *self = Hysteresis::default();
                // A series resumes from what the region last saw; the very first starts
                // from its first sample, the only evidence there is (never "up" on none).
                let from = match resume {
                    Some(h) => h,
                    None => sample.health.into(),
                };
                let (health, shown) = match from {
                    RegionHealth::Down => (Health::Down, RegionHealth::Down),
                    RegionHealth::Degraded => (Health::Degraded, RegionHealth::Degraded),
                    _ => (Health::Up, RegionHealth::Up),
                };
                changes.push((at, shown));
                health
            }
        };
        if sample.health == Health::Unknown {
            let run = self.unknown.get_or_insert(Run {
                since: at,
                n: 0,
                health: Health::Unknown,
            });
            run.n += 1;
            if run.n >= confirm {
                changes.push((run.since, RegionHealth::Unknown));
                *self = Hysteresis::default();
            }
            return changes;
        }
        self.unknown = None;
        let (h, current) = (severity(sample.health), severity(shown));
        if h > current {
            self.better = None;
            let run = self.worse.get_or_insert(Run {
                since: at,
                n: 0,
                health: sample.health,
            });
            run.n += 1;
            if severity(sample.health) < severity(run.health) {
                run.health = sample.health;
            }
            if run.n >= confirm {
                shown = run.health;
                changes.push((run.since, RegionHealth::from(shown)));
                self.worse = None;
            }
        } else if h < current {
            self.worse = None;
            let run = self.better.get_or_insert(Run {
                since: at,
                n: 0,
                health: sample.health,
            });
            run.n += 1;
            if severity(sample.health) > severity(run.health) {
                run.health = sample.health;
            }
            if run.n >= recover {
                changes.push((run.since, RegionHealth::from(run.health)));
                self.better = None;
            }
        } else {
            self.worse = None;
            self.better = None;
        }
        changes
    }
}

/// The last health a region observed (up, degraded or down), to resume from after unknown
/// rounds or silence.
pub fn resume_from(transitions: &[Transition]) -> Option<RegionHealth> {
    transitions.iter().rev().map(|t| t.to).find(|h| {
        matches!(
            h,
            RegionHealth::Up | RegionHealth::Degraded | RegionHealth::Down
        )
    })
}

/// Append a confirmed change to a transition list: a change back-dated to (or before) the
/// last transition replaces it, and equal neighbours merge.
pub fn push_change(transitions: &mut Vec<Transition>, at: DateTime<Utc>, to: RegionHealth) {
    while let Some(last) = transitions.last() {
        if last.at >= at {
            transitions.pop();
        } else {
            break;
        }
    }
    if transitions.last().map(|t| t.to) != Some(to) {
        transitions.push(Transition { at, to });
    }
}

/// The longest stretch a fold may count as worse than it was: beyond it, the oldest
/// history goes instead (its time becomes "no data", never made-up downtime).
pub const FOLD_LIMIT_S: i64 = 15 * 60;

/// Keep a transition list within `max` entries and `keep_from` (always keeping the entry in
/// force at `keep_from`). Over `max`, two neighbouring episodes merge into one with the
/// worse health, choosing the pair whose milder episode is shortest: flapping becomes one
/// longer episode, and downtime is never dropped. When even that would count more than
/// [`FOLD_LIMIT_S`] as worse than it was, the oldest transition goes instead.
pub fn bound_transitions(transitions: &mut Vec<Transition>, max: usize, keep_from: DateTime<Utc>) {
    let before = transitions.partition_point(|t| t.at <= keep_from);
    if before > 1 {
        transitions.drain(..before - 1);
    }
    let observed = |h: RegionHealth| {
        matches!(
            h,
            RegionHealth::Up | RegionHealth::Degraded | RegionHealth::Down
        )
    };
    while transitions.len() > max.max(2) {
        // Episode i runs from transitions[i] to transitions[i + 1].
        let span = |i: usize| transitions[i + 1].at - transitions[i].at;
        let cheapest = (1..transitions.len() - 1)
            .filter(|&i| observed(transitions[i].to) && observed(transitions[i - 1].to))
            .map(|i| {
                let milder = if transitions[i].to.rank() < transitions[i - 1].to.rank() {
                    i
                } else {
                    i - 1
                };
                (span(milder), i)
            })
            .min();
        match cheapest {
            Some((cost, i)) if cost.num_seconds() <= FOLD_LIMIT_S => {
                let folded = transitions.remove(i);
                if folded.to.rank() > transitions[i - 1].to.rank() {
                    transitions[i - 1].to = folded.to;
                }
                // The merged episode may now equal its neighbours.
                if i < transitions.len() && transitions[i].to == transitions[i - 1].to {
                    transitions.remove(i);
                }
                if i >= 2 && transitions[i - 1].to == transitions[i - 2].to {
                    transitions.remove(i - 1);
                }
            }
            _ => {
                transitions.remove(0);
            }
        }
    }
}

/// Bucket growth factor of [`Sketch`]: values within 1 % share a bucket.
const GAMMA: f64 = 1.02;

/// A latency histogram with logarithmic buckets: `[bucket, count]` pairs, sorted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sketch(Vec<(i32, u32)>);

impl Sketch {
    /// Add one value in milliseconds.
    pub fn add(&mut self, ms: f64) {
        let key = (ms.max(0.001).ln() / GAMMA.ln()).ceil() as i32;
        match self.0.binary_search_by_key(&key, |(k, _)| *k) {
            Ok(i) => self.0[i].1 = self.0[i].1.saturating_add(1),
            Err(i) => self.0.insert(i, (key, 1)),
        }
    }

    /// Values added.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|(_, c)| u64::from(*c)).sum()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `q` quantile (0–1) in milliseconds, rounded to 0.1 ms; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * (n - 1) as f64).round() as u64;
        let mut seen = 0u64;
        for (key, count) in &self.0 {
            seen += u64::from(*count);
            if seen > rank {
                let mid = 2.0 * GAMMA.powi(*key) / (GAMMA + 1.0);
                return Some((mid * 10.0).round() / 10.0);
            }
        }
        None
    }
}

/// Latency percentiles per hour; element `i` is the hour starting `first_hour + i` hours.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hourly {
    /// Start of the hour of element 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_hour: Option<DateTime<Utc>>,
    /// Successful checks (the ones with a latency).
    pub n: Vec<u32>,
    /// Median latency, ms.
    pub p50_ms: Vec<Option<f64>>,
    /// 95th percentile latency, ms.
    pub p95_ms: Vec<Option<f64>>,
    /// 99th percentile latency, ms.
    pub p99_ms: Vec<Option<f64>>,
    /// The open (newest) hour's latencies.
    #[serde(skip_serializing_if = "Sketch::is_empty")]
    pub open: Sketch,
}

/// Daily roll-ups (UTC days); element `i` is the day `first_day + i`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Daily {
    /// The day of element 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_day: Option<NaiveDate>,
    /// Checks made.
    pub checks: Vec<u32>,
    /// Checks that found the target down.
    pub failures: Vec<u32>,
    /// Seconds the region's confirmed health was down.
    pub down_s: Vec<f64>,
    /// Seconds the region's confirmed health was degraded.
    pub degraded_s: Vec<f64>,
    /// The worst confirmed health of each day, one letter a day: `d` down, `g` degraded,
    /// `u` up, `?` unknown (the prober could not check), `-` no data.
    pub worst: String,
    /// Median latency of successful checks, ms.
    pub p50_ms: Vec<Option<f64>>,
    /// 95th percentile latency of successful checks, ms.
    pub p95_ms: Vec<Option<f64>>,
    /// The open (newest) day's latencies.
    #[serde(skip_serializing_if = "Sketch::is_empty")]
    pub open: Sketch,
}

/// The letter of a health in [`Daily::worst`].
pub fn day_letter(h: RegionHealth) -> char {
    match h {
        RegionHealth::Down => 'd',
        RegionHealth::Degraded => 'g',
        RegionHealth::Up => 'u',
        RegionHealth::Unknown => '?',
        RegionHealth::NoData => '-',
    }
}

/// The health of a letter in [`Daily::worst`].
pub fn letter_health(c: char) -> RegionHealth {
    match c {
        'd' => RegionHealth::Down,
        'g' => RegionHealth::Degraded,
        'u' => RegionHealth::Up,
        '?' => RegionHealth::Unknown,
        _ => RegionHealth::NoData,
    }
}

/// A probe's roll-ups.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct History {
    /// The confirmed timeline has been added to the daily downtime up to here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounted_until: Option<DateTime<Utc>>,
    /// Per hour, the last 7 days.
    pub hourly: Hourly,
    /// Per day, the last 400 days.
    pub daily: Daily,
}

fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.with_nanosecond(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_minute(0))
        .unwrap_or(at)
}

impl Hourly {
    /// The index of `hour`, opening (and trimming) elements as needed; `None` for an hour
    /// before the kept window.
    fn slot(&mut self, hour: DateTime<Utc>) -> Option<usize> {
        let first = *self.first_hour.get_or_insert(hour);
        let i = usize::try_from((hour - first).num_hours()).ok()?;
        if i >= self.n.len() {
            self.seal();
            // A long silence restarts the window instead of filling it hour by hour.
            let missing = i + 1 - self.n.len();
            if missing > HOURLY_KEPT {
                *self = Hourly::default();
                self.first_hour = Some(hour);
                return self.slot(hour);
            }
            self.n.extend(std::iter::repeat_n(0, missing));
            for col in [&mut self.p50_ms, &mut self.p95_ms, &mut self.p99_ms] {
                col.extend(std::iter::repeat_n(None, missing));
            }
            self.open = Sketch::default();
        }
        let excess = self.n.len().saturating_sub(HOURLY_KEPT);
        if excess > 0 {
            self.drop_front(excess);
            return Some(i - excess);
        }
        Some(i)
    }

    /// Drop the oldest `n` hours (all of them when there are fewer), the open sketch too
    /// when none is left.
    pub fn drop_front(&mut self, n: usize) {
        let n = n.min(self.n.len());
        if n == 0 {
            return;
        }
        self.n.drain(..n);
        for col in [&mut self.p50_ms, &mut self.p95_ms, &mut self.p99_ms] {
            col.drain(..n);
        }
        self.first_hour = if self.n.is_empty() {
            self.open = Sketch::default();
            None
        } else {
            self.first_hour.map(|f| f + Duration::hours(n as i64))
        };
    }

    /// Write the open hour's percentiles into its element.
    fn seal(&mut self) {
        if let Some(i) = self.n.len().checked_sub(1) {
            self.p50_ms[i] = self.open.quantile(0.50);
            self.p95_ms[i] = self.open.quantile(0.95);
            self.p99_ms[i] = self.open.quantile(0.99);
        }
    }

    fn add(&mut self, at: DateTime<Utc>, latency_ms: Option<f64>) {
        let Some(i) = self.slot(hour_of(at)) else {
            return;
        };
        if let Some(ms) = latency_ms
            && i + 1 == self.n.len()
        {
            self.n[i] = self.n[i].saturating_add(1);
            self.open.add(ms);
            self.seal();
        }
    }
}

impl Daily {
    fn slot(&mut self, day: NaiveDate) -> Option<usize> {
        let first = *self.first_day.get_or_insert(day);
        let i = usize::try_from((day - first).num_days()).ok()?;
        if i >= self.checks.len() {
            let missing = i + 1 - self.checks.len();
            if missing > DAILY_KEPT {
                *self = Daily::default();
                self.first_day = Some(day);
                return self.slot(day);
            }
            self.checks.extend(std::iter::repeat_n(0, missing));
            self.failures.extend(std::iter::repeat_n(0, missing));
            self.down_s.extend(std::iter::repeat_n(0.0, missing));
            self.degraded_s.extend(std::iter::repeat_n(0.0, missing));
            self.worst.extend(std::iter::repeat_n('-', missing));
            self.p50_ms.extend(std::iter::repeat_n(None, missing));
            self.p95_ms.extend(std::iter::repeat_n(None, missing));
            self.open = Sketch::default();
        }
        let excess = self.checks.len().saturating_sub(DAILY_KEPT);
        if excess > 0 {
            self.drop_front(excess);
            return Some(i - excess);
        }
        Some(i)
    }

    /// Drop the oldest `n` days (all of them when there are fewer), the open sketch too
    /// when none is left.
    pub fn drop_front(&mut self, n: usize) {
        let n = n.min(self.checks.len());
        if n == 0 {
            return;
        }
        self.checks.drain(..n);
        self.failures.drain(..n);
        self.down_s.drain(..n);
        self.degraded_s.drain(..n);
        self.worst.drain(..n);
        self.p50_ms.drain(..n);
        self.p95_ms.drain(..n);
        self.first_day = if self.checks.is_empty() {
            self.open = Sketch::default();
            None
        } else {
            self.first_day.map(|f| f + Duration::days(n as i64))
        };
    }

    fn add(&mut self, sample: &Sample, latency_ms: Option<f64>) {
        let Some(i) = self.slot(sample.at.date_naive()) else {
            return;
        };
        self.checks[i] = self.checks[i].saturating_add(1);
        if sample.health == Health::Down {
            self.failures[i] = self.failures[i].saturating_add(1);
        }
        if let Some(ms) = latency_ms
            && i + 1 == self.checks.len()
        {
            self.open.add(ms);
            self.p50_ms[i] = self.open.quantile(0.50);
            self.p95_ms[i] = self.open.quantile(0.95);
        }
    }

    /// Add a span of confirmed health to the days it covers.
    fn add_span(&mut self, from: DateTime<Utc>, to: DateTime<Utc>, health: RegionHealth) {
        let mut start = from;
        while start < to {
            let day = start.date_naive();
            let next_day = day
                .succ_opt()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| Utc.from_utc_datetime(&d))
                .unwrap_or(to);
            let end = to.min(next_day);
            if let Some(i) = self.slot(day) {
                let secs = (end - start).as_seconds_f64();
                let add = |v: &mut f64| *v = ((*v + secs) * 1000.0).round() / 1000.0;
                match health {
                    RegionHealth::Down => add(&mut self.down_s[i]),
                    RegionHealth::Degraded => add(&mut self.degraded_s[i]),
                    _ => {}
                }
                let letter = day_letter(health);
                let current = self.worst.chars().nth(i).unwrap_or('-');
                if letter_health(letter).rank() > letter_health(current).rank() {
                    self.worst
                        .replace_range(i..i + 1, letter.encode_utf8(&mut [0; 4]));
                }
            }
            start = end;
        }
    }
}

impl History {
    /// Whether the columns line up (a file edited by hand or damaged may not): every column
    /// as long as the others, and `worst` one ASCII letter a day.
    pub fn is_consistent(&self) -> bool {
        let h = &self.hourly;
        let d = &self.daily;
        let hours = h.n.len();
        let days = d.checks.len();
        [h.p50_ms.len(), h.p95_ms.len(), h.p99_ms.len()]
            .iter()
            .all(|l| *l == hours)
            && (hours == 0 || h.first_hour.is_some())
            && [
                d.failures.len(),
                d.down_s.len(),
                d.degraded_s.len(),
                d.p50_ms.len(),
                d.p95_ms.len(),
                d.worst.len(),
            ]
            .iter()
            .all(|l| *l == days)
            && d.worst.is_ascii()
            && (days == 0 || d.first_day.is_some())
    }

    /// Add a sample's counts and latency (successful checks only: a timeout's "latency"
    /// would only measure the timeout).
    pub fn add_sample(&mut self, sample: &Sample) {
        let latency = sample
            .latency_ms
            .filter(|_| matches!(sample.health, Health::Up | Health::Degraded));
        self.hourly.add(sample.at, latency);
        self.daily.add(sample, latency);
    }

    /// Add the confirmed timeline up to `until` to the daily downtime and worst health.
    pub fn account(&mut self, transitions: &[Transition], until: DateTime<Utc>) {
        let Some(first) = transitions.first() else {
            return;
        };
        let from = self.accounted_until.unwrap_or(first.at).max(first.at);
        if until <= from {
            return;
        }
        let start = transitions
            .partition_point(|t| t.at <= from)
            .saturating_sub(1);
        for (i, t) in transitions.iter().enumerate().skip(start) {
            let end = transitions.get(i + 1).map_or(until, |n| n.at.min(until));
            let begin = t.at.max(from);
            if begin < end {
                self.daily.add_span(begin, end, t.to);
            }
            if end >= until {
                break;
            }
        }
        self.accounted_until = Some(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(sec: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + sec, 0).unwrap()
    }

    fn sample(sec: i64, health: Health) -> Sample {
        Sample::new(t(sec), health, String::new())
    }

    /// The confirmed health after feeding `healths` (one a second) from the start.
    fn confirmed(healths: &[Health], confirm: u32, recover: u32) -> Option<RegionHealth> {
        let mut h = Hysteresis::default();
        let mut tr = Vec::new();
        for (i, health) in healths.iter().enumerate() {
            let shown = tr.last().map(|t: &Transition| t.to);
            let resume = resume_from(&tr);
            for (at, to) in h.step(shown, resume, &sample(i as i64, *health), confirm, recover) {
                push_change(&mut tr, at, to);
            }
        }
        tr.last().map(|t| t.to)
    }

    use Health::{Degraded as G, Down as D, Unknown as U, Up as P};
    use RegionHealth as R;

    #[test]
    fn hysteresis_needs_confirm_rounds_and_recover_rounds() {
        assert_eq!(confirmed(&[P, P, D], 2, 2), Some(R::Up), "a blip");
        assert_eq!(confirmed(&[P, D, D], 2, 2), Some(R::Down));
        assert_eq!(confirmed(&[D, D, P], 2, 2), Some(R::Down), "not recovered");
        assert_eq!(confirmed(&[D, D, P, P], 2, 2), Some(R::Up));
        assert_eq!(confirmed(&[P, D, P, D], 2, 2), Some(R::Up), "flapping");
        assert_eq!(
            confirmed(&[D, U, D], 2, 2),
            Some(R::Down),
            "one unknown skipped"
        );
        assert_eq!(confirmed(&[D, D, U, U], 2, 2), Some(R::Unknown));
        assert_eq!(confirmed(&[U, U], 2, 2), Some(R::Unknown));
        assert_eq!(confirmed(&[U, U, D, D], 2, 2), Some(R::Down));
        assert_eq!(
            confirmed(&[U, U, D], 2, 2),
            Some(R::Down),
            "the first series starts from its first sample"
        );
        assert_eq!(
            confirmed(&[D], 2, 2),
            Some(R::Down),
            "a cold start against a down service is down, never up on no evidence"
        );
        assert_eq!(confirmed(&[P], 2, 2), Some(R::Up));
        assert_eq!(
            confirmed(&[D, D, U, U, D], 2, 2),
            Some(R::Down),
            "an outage resumes after unknown rounds without a false up"
        );
        assert_eq!(confirmed(&[D], 1, 1), Some(R::Down));
        assert_eq!(confirmed(&[G, G, D], 2, 2), Some(R::Degraded));
        assert_eq!(confirmed(&[G, D, G, D], 2, 2), Some(R::Degraded), "milder");
        assert_eq!(confirmed(&[D, G, D, G, D, D], 2, 2), Some(R::Down));
        assert_eq!(confirmed(&[D, D, G, P], 2, 2), Some(R::Degraded));
        assert_eq!(confirmed(&[D, D, G, G, P, P], 2, 2), Some(R::Up));
    }

    #[test]
    fn changes_are_back_dated_and_flapping_adds_no_transitions() {
        let mut h = Hysteresis::default();
        let mut tr = Vec::new();
        let healths = [P, P, D, P, D, P, D, D, D, P, P];
        for (i, health) in healths.iter().enumerate() {
            let shown = tr.last().map(|t: &Transition| t.to);
            for (at, to) in h.step(
                shown,
                resume_from(&tr),
                &sample(i as i64 * 10, *health),
                2,
                2,
            ) {
                push_change(&mut tr, at, to);
            }
        }
        let got: Vec<(i64, R)> = tr
            .iter()
            .map(|x| (x.at.timestamp() - 1_800_000_000, x.to))
            .collect();
        // Down confirmed at 70 s is back-dated to 60 s; recovery at 100 s to 90 s.
        assert_eq!(got, vec![(0, R::Up), (60, R::Down), (90, R::Up)]);
    }

    #[test]
    fn bounding_folds_short_gaps_and_never_turns_long_uptime_into_downtime() {
        let mk = |v: &[(i64, R)]| -> Vec<Transition> {
            v.iter()
                .map(|(s, to)| Transition { at: t(*s), to: *to })
                .collect()
        };
        // Up, down 100–110, up 110–5000, down 5000–9000, up 9000–9005, down 9005–.
        let mut tr = mk(&[
            (0, R::Up),
            (100, R::Down),
            (110, R::Up),
            (5000, R::Down),
            (9000, R::Up),
            (9005, R::Down),
        ]);
        bound_transitions(&mut tr, 5, t(0));
        // The cheapest fold counts the 5 s "up" at 9000 as down; it merges with the downs
        // around it: one down episode from 5000.
        assert_eq!(
            tr,
            mk(&[(0, R::Up), (100, R::Down), (110, R::Up), (5000, R::Down)])
        );
        // Entries before the window go, but the one in force at its start stays.
        bound_transitions(&mut tr, 10, t(300));
        assert_eq!(tr, mk(&[(110, R::Up), (5000, R::Down)]));

        // A day up, a minute down, again and again: folding would turn days into downtime,
        // so the oldest history goes instead and the downtime stays exact.
        let day = 86_400;
        let mut tr: Vec<Transition> = (0..20)
            .flat_map(|d| [(d * day, R::Up), (d * day + day - 60, R::Down)])
            .map(|(s, to)| Transition { at: t(s), to })
            .collect();
        bound_transitions(&mut tr, 10, t(0));
        assert_eq!(tr.len(), 10);
        let down: i64 = tr
            .windows(2)
            .filter(|w| w[0].to == R::Down)
            .map(|w| (w[1].at - w[0].at).num_seconds())
            .sum();
        assert_eq!(
            down,
            4 * 60,
            "four closed one-minute outages remain, none longer"
        );
        assert_eq!(
            tr[0].at,
            t(15 * day),
            "history now starts 5 days before the end"
        );
    }

    #[test]
    fn sketch_quantiles_are_within_one_percent() {
        let mut s = Sketch::default();
        for v in 1..=1000 {
            s.add(v as f64);
        }
        for (q, want) in [(0.5, 500.0), (0.95, 950.0), (0.99, 990.0)] {
            let got = s.quantile(q).unwrap();
            assert!((got - want).abs() / want < 0.012, "q{q}: {got} vs {want}");
        }
        assert_eq!(Sketch::default().quantile(0.5), None);
    }

    #[test]
    fn downtime_is_accounted_per_utc_day() {
        // Down from 23:00 to 01:30 the next day; day 0 starts at midnight.
        let day0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let tr = vec![
            Transition {
                at: day0,
                to: R::Up,
            },
            Transition {
                at: day0 + Duration::hours(23),
                to: R::Down,
            },
            Transition {
                at: day0 + Duration::minutes(25 * 60 + 30),
                to: R::Up,
            },
        ];
        let mut h = History::default();
        h.account(&tr, day0 + Duration::hours(12));
        h.account(&tr, day0 + Duration::hours(30));
        assert_eq!(h.daily.down_s, vec![3600.0, 5400.0]);
        assert_eq!(h.daily.worst, "dd");
        assert_eq!(h.accounted_until, Some(day0 + Duration::hours(30)));
    }

    #[test]
    fn windows_stay_bounded() {
        let mut h = History::default();
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        for hour in 0..(24 * 500) {
            let s = Sample {
                latency_ms: Some(10.0 + (hour % 7) as f64),
                ..Sample::new(start + Duration::hours(hour), Health::Up, String::new())
            };
            h.add_sample(&s);
        }
        assert_eq!(h.hourly.n.len(), HOURLY_KEPT);
        assert_eq!(h.daily.checks.len(), DAILY_KEPT);
        assert!(
            h.daily.worst.chars().all(|c| c == '-'),
            "worst comes from account()"
        );
        assert_eq!(
            h.daily.first_day,
            Some((start + Duration::hours(24 * 500 - 1)).date_naive() - Duration::days(399))
        );
        assert_eq!(h.daily.checks[DAILY_KEPT - 1], 24);
    }
}
