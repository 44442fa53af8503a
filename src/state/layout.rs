//! Step 3 (state), how a region's state is cut into pieces for the store (schema 3): what
//! changes every few seconds apart from what changes once a day, so a write costs what
//! changed, not what is kept. Pure: the store ([`super::store`], [`super::object`]) moves
//! the bytes.
//!
//! A region `R` is, under the state folder or prefix:
//! - `R/live.json.zst`: per probe the newest sample, the runs that may confirm a change,
//!   and the confirmed transitions since the first day not yet closed (with the one in
//!   force then). Written when a probe's confirmed or pending health changes (within one
//!   write period) and otherwise as a heartbeat, once per shortest probe interval. It is
//!   the object the single-writer guard watches.
//! - `R/days/YYYY-MM-DD.json.zst`: one UTC day of history per probe: the transition in
//!   force when the day began, the day's transitions, its daily roll-up, its hourly
//!   latency rows. While the day is open (until [`CLOSE_AFTER`] past its end) the piece
//!   also holds the open latency sketches and the recent samples, and is rewritten every
//!   [`OPEN_PIECE_EVERY`] at most; once closed it is written a last time and never again.
//!
//! Every piece is JSON compressed with zstd. [`assemble`] puts them back together into the
//! [`RegionState`] that the worker and the builder work with, and [`split`] (with
//! [`live`]) is its inverse: `assemble(live(s), split(s)) == s`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::history::{self, History, Hysteresis, Sketch};
use super::{ProbeState, RegionState, Sample, Transition};

/// The schema of live objects and day pieces.
pub const SCHEMA: u32 = 3;
/// The live object's name under the region's folder.
pub const LIVE: &str = "live.json.zst";
/// The folder of day pieces under the region's folder.
pub const DAYS: &str = "days";
/// How long after a UTC day ends its piece is closed: changes confirmed later but
/// back-dated into the day still reach its roll-up.
pub const CLOSE_AFTER: Duration = Duration::hours(1);
/// The open day's piece is rewritten at most this often (and at stop).
pub const OPEN_PIECE_EVERY: std::time::Duration = std::time::Duration::from_secs(300);
/// zstd level: 3 (zstd's default) cut a live object of 1,000 probes to about a tenth at
/// under 5 ms; higher levels saved a few percent more for several times the CPU.
pub const ZSTD_LEVEL: i32 = 3;
/// The largest piece read, decompressed (a day of 10,000 probes is far below it).
pub const MAX_PIECE_BYTES: u64 = 256 * 1024 * 1024;

/// The name of a day's piece under the region's folder.
pub fn day_name(day: NaiveDate) -> String {
    format!("{DAYS}/{}.json.zst", day.format("%Y-%m-%d"))
}

/// The day of a piece's file name (`YYYY-MM-DD.json.zst`), `None` for other names.
pub fn day_of_name(name: &str) -> Option<NaiveDate> {
    let stem = name.strip_suffix(".json.zst")?;
    NaiveDate::parse_from_str(stem, "%Y-%m-%d").ok()
}

/// Whether `parts` (a path under the state folder, split) name state the builder reads:
/// a schema-2 file, a live object or a day piece, or a folder that may hold them.
pub fn is_state_path(parts: &[&str]) -> bool {
    let visible = |n: &str| !n.is_empty() && !n.starts_with('.');
    match parts {
        [file] => visible(file) && (file.ends_with(".json") || !file.contains('.')),
        [region, live] => visible(region) && (*live == LIVE || *live == DAYS),
        [region, days, name] => visible(region) && *days == DAYS && day_of_name(name).is_some(),
        _ => false,
    }
}

/// The oldest day worth reading when `newest` is the newest day piece: the roll-ups and
/// transitions reach back [`history::DAILY_KEPT`] days; older pieces are left alone (and
/// deleted by the worker as days close).
pub fn oldest_kept(newest: NaiveDate) -> NaiveDate {
    newest
        .checked_sub_days(days_n(history::DAILY_KEPT))
        .unwrap_or(newest)
}

/// The start of a UTC day.
pub fn day_start(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
}

/// What the builder needs to decide a region's health now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Live {
    /// [`SCHEMA`].
    pub schema: u32,
    /// Region name.
    pub region: String,
    /// When the worker wrote it.
    #[serde(serialize_with = "super::timestamp::write")]
    pub written_at: DateTime<Utc>,
    /// The first day whose piece is not closed: the transitions here reach back to it.
    pub since: NaiveDate,
    /// Per probe id.
    pub probes: BTreeMap<String, LiveProbe>,
}

/// One probe's live part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveProbe {
    /// The probe's kind.
    pub kind: String,
    /// The target as written.
    pub target: String,
    /// The interval in seconds.
    pub interval_s: f64,
    /// The newest sample.
    pub last: Sample,
    /// Runs that may yet confirm a change.
    #[serde(default, skip_serializing_if = "Hysteresis::is_empty")]
    pub pending: Hysteresis,
    /// Confirmed transitions from the start of `since` on, after the last one before it
    /// that observed the target (and any after that).
    #[serde(default)]
    pub transitions: Vec<Transition>,
}

/// One UTC day of a region's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayPiece {
    /// [`SCHEMA`].
    pub schema: u32,
    /// Region name.
    pub region: String,
    /// The day.
    pub day: NaiveDate,
    /// When the worker wrote it.
    #[serde(serialize_with = "super::timestamp::write")]
    pub written_at: DateTime<Utc>,
    /// Whether the day is closed: the piece will not be written again.
    pub closed: bool,
    /// Per probe id.
    pub probes: BTreeMap<String, DayProbe>,
}

/// One probe's day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayProbe {
    /// The transition in force when the day began, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Transition>,
    /// Confirmed transitions during the day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<Transition>,
    /// The day's roll-up, when the day is in the kept window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily: Option<DayRow>,
    /// The newest day only: its latencies so far.
    #[serde(default, skip_serializing_if = "Sketch::is_empty")]
    pub day_sketch: Sketch,
    /// The day's hourly latency rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly: Option<HourRows>,
    /// The open piece only: where the daily downtime has been accounted to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounted_until: Option<DateTime<Utc>>,
    /// The open piece only: the newest samples, lean.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<super::Lean>,
}

/// A day's roll-up (see [`history::Daily`]), written as one array
/// `[checks, failures, down_s, degraded_s, worst, p50_ms, p95_ms]`: a year of days for
/// thousands of probes is read at every cold build, and field names would triple it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "RowArray", from = "RowArray")]
pub struct DayRow {
    /// Checks made.
    pub checks: u32,
    /// Checks that found the target down.
    pub failures: u32,
    /// Seconds confirmed down.
    pub down_s: f64,
    /// Seconds confirmed degraded.
    pub degraded_s: f64,
    /// The worst confirmed health's letter.
    pub worst: char,
    /// Median latency, ms.
    pub p50_ms: Option<f64>,
    /// 95th percentile latency, ms.
    pub p95_ms: Option<f64>,
}

/// How a [`DayRow`] is written.
type RowArray = (u32, u32, f64, f64, char, Option<f64>, Option<f64>);

impl From<DayRow> for RowArray {
    fn from(r: DayRow) -> RowArray {
        (
            r.checks,
            r.failures,
            r.down_s,
            r.degraded_s,
            r.worst,
            r.p50_ms,
            r.p95_ms,
        )
    }
}

impl From<RowArray> for DayRow {
    fn from((checks, failures, down_s, degraded_s, worst, p50_ms, p95_ms): RowArray) -> DayRow {
        DayRow {
            checks,
            failures,
            down_s,
            degraded_s,
            worst,
            p50_ms,
            p95_ms,
        }
    }
}

/// A day's hours of latency percentiles (see [`history::Hourly`]); element 0 is the hour
/// `first` (0–23) of the day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HourRows {
    /// The hour of the day of element 0.
    pub first: u32,
    /// Successful checks.
    pub n: Vec<u32>,
    /// Median, ms.
    pub p50_ms: Vec<Option<f64>>,
    /// 95th percentile, ms.
    pub p95_ms: Vec<Option<f64>>,
    /// 99th percentile, ms.
    pub p99_ms: Vec<Option<f64>>,
    /// The open hour's latencies (the newest hour only).
    #[serde(default, skip_serializing_if = "Sketch::is_empty")]
    pub open: Sketch,
}

/// Where the transitions a worker goes on from begin when days before `since` are
/// closed: the last one at or before the start of `since` that observed the target (so a
/// series that resumes after silence resumes from it), or else the first.
fn kept_from(transitions: &[Transition], since: NaiveDate) -> usize {
    let observed = |h: super::RegionHealth| {
        matches!(
            h,
            super::RegionHealth::Up | super::RegionHealth::Degraded | super::RegionHealth::Down
        )
    };
    let before = transitions.partition_point(|t| t.at <= day_start(since));
    transitions[..before]
        .iter()
        .rposition(|t| observed(t.to))
        .unwrap_or(0)
}

/// Drop from memory what the store holds in closed pieces: the days before `since`. A
/// worker keeps only the open days (and the transitions [`live`] carries), so its memory
/// does not grow with the history it keeps.
pub fn forget_before(state: &mut RegionState, since: NaiveDate) {
    let from = day_start(since);
    for p in state.probes.values_mut() {
        let first = kept_from(&p.transitions, since);
        p.transitions.drain(..first);
        let d = &mut p.history.daily;
        if let Some(first_day) = d.first_day {
            d.drop_front(usize::try_from((since - first_day).num_days()).unwrap_or(0));
        }
        let h = &mut p.history.hourly;
        if let Some(first_hour) = h.first_hour {
            h.drop_front(usize::try_from((from - first_hour).num_hours()).unwrap_or(0));
        }
    }
}

/// The live part of a state, with the transitions from the start of `since` (and the
/// ones before it that [`kept_from`] keeps).
pub fn live(state: &RegionState, since: NaiveDate) -> Live {
    let probes = state
        .probes
        .iter()
        .map(|(id, p)| {
            let first = kept_from(&p.transitions, since);
            let probe = LiveProbe {
                kind: p.kind.clone(),
                target: p.target.clone(),
                interval_s: p.interval_s,
                last: p.last.clone(),
                pending: p.pending,
                transitions: p.transitions[first..].to_vec(),
            };
            (id.clone(), probe)
        })
        .collect();
    Live {
        schema: SCHEMA,
        region: state.region.clone(),
        written_at: state.written_at,
        since,
        probes,
    }
}

/// The days a state may hold anything of, oldest first: from its earliest transition,
/// roll-up or hourly row to its newest sample (some of them may hold nothing).
pub fn days(state: &RegionState) -> Vec<NaiveDate> {
    let mut range: Option<(NaiveDate, NaiveDate)> = None;
    let mut widen = |day: NaiveDate| {
        range = Some(match range {
            None => (day, day),
            Some((a, b)) => (a.min(day), b.max(day)),
        });
    };
    for p in state.probes.values() {
        if let Some(t) = p.transitions.first() {
            widen(t.at.date_naive());
        }
        if let Some(first) = p.history.daily.first_day {
            widen(first);
        }
        if let Some(first) = p.history.hourly.first_hour {
            widen(first.date_naive());
        }
        widen(p.last.at.date_naive());
    }
    let Some((first, last)) = range else {
        return Vec::new();
    };
    first.iter_days().take_while(|d| *d <= last).collect()
}

fn days_n(i: usize) -> chrono::Days {
    chrono::Days::new(i as u64)
}

/// One day of a state. `open` pieces also carry what is needed to go on adding to the
/// day: the open sketches, the accounting mark and the recent samples.
pub fn piece(state: &RegionState, day: NaiveDate, open: bool) -> DayPiece {
    let begin = day_start(day);
    let end = begin + Duration::days(1);
    let mut probes = BTreeMap::new();
    for (id, p) in &state.probes {
        let in_day = p.transitions.partition_point(|t| t.at < begin)
            ..p.transitions.partition_point(|t| t.at < end);
        let from = in_day.start.checked_sub(1).map(|i| p.transitions[i]);
        let daily = day_row(&p.history, day);
        let sketch = day_sketch(&p.history, day);
        let hourly = hour_rows(&p.history, begin);
        let newest = open && p.last.at >= begin;
        if in_day.is_empty() && daily.is_none() && hourly.is_none() && !newest {
            continue;
        }
        let probe = DayProbe {
            from,
            transitions: p.transitions[in_day].to_vec(),
            daily,
            day_sketch: sketch,
            hourly,
            accounted_until: if newest {
                p.history.accounted_until
            } else {
                None
            },
            recent: if newest { p.recent.clone() } else { Vec::new() },
        };
        probes.insert(id.clone(), probe);
    }
    DayPiece {
        schema: SCHEMA,
        region: state.region.clone(),
        day,
        written_at: state.written_at,
        closed: !open,
        probes,
    }
}

fn day_row(h: &History, day: NaiveDate) -> Option<DayRow> {
    let d = &h.daily;
    let i = usize::try_from((day - d.first_day?).num_days()).ok()?;
    Some(DayRow {
        checks: *d.checks.get(i)?,
        failures: *d.failures.get(i)?,
        down_s: *d.down_s.get(i)?,
        degraded_s: *d.degraded_s.get(i)?,
        worst: d.worst.as_bytes().get(i).map_or('-', |b| char::from(*b)),
        p50_ms: *d.p50_ms.get(i)?,
        p95_ms: *d.p95_ms.get(i)?,
    })
}

/// The open day's latency sketch, when `day` is the newest day of the roll-ups.
fn day_sketch(h: &History, day: NaiveDate) -> Sketch {
    let d = &h.daily;
    let newest = d
        .first_day
        .and_then(|first| first.checked_add_days(days_n(d.checks.len().checked_sub(1)?)));
    if newest == Some(day) {
        d.open.clone()
    } else {
        Sketch::default()
    }
}

fn hour_rows(h: &History, begin: DateTime<Utc>) -> Option<HourRows> {
    let hourly = &h.hourly;
    let first = hourly.first_hour?;
    let len = hourly.n.len() as i64;
    let from = (begin - first).num_hours().max(0);
    let to = ((begin + Duration::days(1)) - first).num_hours().min(len);
    if from >= to {
        return None;
    }
    let (from, to) = (from as usize, to as usize);
    Some(HourRows {
        first: ((first + Duration::hours(from as i64)) - begin).num_hours() as u32,
        n: hourly.n[from..to].to_vec(),
        p50_ms: hourly.p50_ms[from..to].to_vec(),
        p95_ms: hourly.p95_ms[from..to].to_vec(),
        p99_ms: hourly.p99_ms[from..to].to_vec(),
        open: if to == hourly.n.len() {
            hourly.open.clone()
        } else {
            Sketch::default()
        },
    })
}

/// Every day of a state as pieces; days from `open_from` on are open.
pub fn split(state: &RegionState, open_from: NaiveDate) -> Vec<DayPiece> {
    days(state)
        .into_iter()
        .map(|day| piece(state, day, day >= open_from))
        .filter(|p| !p.probes.is_empty())
        .collect()
}

/// Put a region back together from its live object and its day pieces (any order). What
/// the live object holds wins over the pieces: it is written first and most often.
pub fn assemble(live: &Live, pieces: &[&DayPiece]) -> RegionState {
    let mut pieces = pieces.to_vec();
    pieces.sort_by_key(|p| p.day);
    let mut probes = BTreeMap::new();
    for (id, l) in &live.probes {
        let mut transitions: Vec<Transition> = Vec::new();
        let mut history = History::default();
        let mut recent = Vec::new();
        for piece in &pieces {
            let Some(d) = piece.probes.get(id) else {
                continue;
            };
            for t in d.from.iter().chain(&d.transitions) {
                if transitions.last().is_none_or(|last| last.at < t.at) {
                    transitions.push(*t);
                }
            }
            let begin = day_start(piece.day);
            if let Some(row) = &d.daily {
                add_day(&mut history.daily, piece.day, row, &d.day_sketch);
            }
            if let Some(rows) = &d.hourly {
                add_hours(
                    &mut history.hourly,
                    begin + Duration::hours(i64::from(rows.first)),
                    rows,
                );
            }
            if d.accounted_until.is_some() {
                history.accounted_until = d.accounted_until;
            }
            if !d.recent.is_empty() {
                recent.clone_from(&d.recent);
            }
        }
        // Live transitions win from their first on.
        for t in &l.transitions {
            history::push_change(&mut transitions, t.at, t.to);
        }
        if recent.last().is_none_or(|last| last.at < l.last.at) {
            recent.push(l.last.lean());
            let excess = recent.len().saturating_sub(super::RECENT_SAMPLES);
            recent.drain(..excess);
        }
        if !history.is_consistent() {
            history = History::default();
        }
        probes.insert(
            id.clone(),
            ProbeState {
                kind: l.kind.clone(),
                target: l.target.clone(),
                interval_s: l.interval_s,
                last: l.last.clone(),
                recent,
                transitions,
                pending: l.pending,
                history,
            },
        );
    }
    RegionState {
        schema: super::SCHEMA,
        region: live.region.clone(),
        written_at: live.written_at,
        probes,
        stored_at: None,
    }
}

/// Append a day's row to the daily columns, with "no data" days for any gap.
fn add_day(daily: &mut history::Daily, day: NaiveDate, row: &DayRow, sketch: &Sketch) {
    let first = *daily.first_day.get_or_insert(day);
    let Ok(i) = usize::try_from((day - first).num_days()) else {
        return;
    };
    if i < daily.checks.len() {
        return;
    }
    let gap = i - daily.checks.len();
    daily.checks.extend(std::iter::repeat_n(0, gap));
    daily.failures.extend(std::iter::repeat_n(0, gap));
    daily.down_s.extend(std::iter::repeat_n(0.0, gap));
    daily.degraded_s.extend(std::iter::repeat_n(0.0, gap));
    daily.worst.extend(std::iter::repeat_n('-', gap));
    daily.p50_ms.extend(std::iter::repeat_n(None, gap));
    daily.p95_ms.extend(std::iter::repeat_n(None, gap));
    daily.checks.push(row.checks);
    daily.failures.push(row.failures);
    daily.down_s.push(row.down_s);
    daily.degraded_s.push(row.degraded_s);
    daily
        .worst
        .push(if row.worst.is_ascii() { row.worst } else { '-' });
    daily.p50_ms.push(row.p50_ms);
    daily.p95_ms.push(row.p95_ms);
    daily.open = sketch.clone();
    daily.drop_front(daily.checks.len().saturating_sub(history::DAILY_KEPT));
}

/// Append hourly rows starting at `from` to the hourly columns (gaps are hours with no
/// successful check).
fn add_hours(hourly: &mut history::Hourly, from: DateTime<Utc>, rows: &HourRows) {
    let first = *hourly.first_hour.get_or_insert(from);
    let Ok(i) = usize::try_from((from - first).num_hours()) else {
        return;
    };
    if i < hourly.n.len() {
        return;
    }
    let gap = i - hourly.n.len();
    let len = rows.n.len();
    if [rows.p50_ms.len(), rows.p95_ms.len(), rows.p99_ms.len()] != [len; 3] {
        return;
    }
    hourly.n.extend(std::iter::repeat_n(0, gap));
    hourly.n.extend(&rows.n);
    for (col, add) in [
        (&mut hourly.p50_ms, &rows.p50_ms),
        (&mut hourly.p95_ms, &rows.p95_ms),
        (&mut hourly.p99_ms, &rows.p99_ms),
    ] {
        col.extend(std::iter::repeat_n(None, gap));
        col.extend(add);
    }
    hourly.open = rows.open.clone();
    hourly.drop_front(hourly.n.len().saturating_sub(history::HOURLY_KEPT));
}

/// A piece as stored: JSON, compressed.
pub fn encode(value: &impl Serialize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_into(value, &mut out)?;
    Ok(out)
}

/// [`encode`] streamed into `out`: no copy of a large piece in memory.
pub fn encode_into(value: &impl Serialize, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let mut z = zstd::stream::Encoder::new(out, ZSTD_LEVEL)?;
    serde_json::to_writer(&mut z, value).map_err(std::io::Error::from)?;
    z.finish()?;
    Ok(())
}

/// The JSON text of a stored piece, at most [`MAX_PIECE_BYTES`]; `shown` names it in
/// errors.
pub fn decode_text(bytes: &[u8], shown: &str) -> anyhow::Result<String> {
    use std::io::Read;
    let decoder = zstd::stream::Decoder::new(bytes)
        .map_err(|e| anyhow::anyhow!("{shown}: not zstd-compressed ({e}); move it aside"))?;
    let mut text = String::new();
    decoder
        .take(MAX_PIECE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| {
            anyhow::anyhow!("{shown}: damaged (not zstd-compressed UTF-8: {e}); move it aside")
        })?;
    if text.len() as u64 > MAX_PIECE_BYTES {
        anyhow::bail!(
            "{shown}: more than {} MiB decompressed, which no worker writes; move it aside",
            MAX_PIECE_BYTES >> 20
        );
    }
    Ok(text)
}

/// Read a stored piece of type `T` (a [`Live`] or a [`DayPiece`]) of `region`.
pub fn decode<T: serde::de::DeserializeOwned + Stored>(
    bytes: &[u8],
    shown: &str,
    region: &str,
) -> anyhow::Result<T> {
    let text = decode_text(bytes, shown)?;
    let value: T = match serde_json::from_str(&text) {
        Ok(value) => value,
        Err(e) => {
            // Say why: a newer schema, not a piece at all, or a damaged one.
            #[derive(Deserialize)]
            struct Version {
                schema: Option<u32>,
            }
            match serde_json::from_str::<Version>(&text) {
                Ok(Version { schema: Some(v) }) if v > SCHEMA => anyhow::bail!(
                    "{shown}: written with state schema {v}, but this pharos reads up to {SCHEMA}; upgrade pharos"
                ),
                Ok(_) => anyhow::bail!("{shown}: damaged state piece ({e}); move it aside"),
                Err(e) => {
                    anyhow::bail!("{shown}: not a pharos state piece ({e}); move it aside")
                }
            }
        }
    };
    if value.schema() > SCHEMA {
        anyhow::bail!(
            "{shown}: written with state schema {}, but this pharos reads up to {SCHEMA}; upgrade pharos",
            value.schema()
        );
    }
    if value.region() != region {
        anyhow::bail!(
            "{shown} holds the state of region \"{}\", not \"{region}\"; move it aside",
            value.region()
        );
    }
    if value.probe_count() > super::MAX_PROBES {
        anyhow::bail!(
            "{shown}: {} probes, more than the {} a region holds; move it aside",
            value.probe_count(),
            super::MAX_PROBES
        );
    }
    Ok(value)
}

/// What [`decode`] checks of a stored piece.
pub trait Stored {
    /// Its schema.
    fn schema(&self) -> u32;
    /// Its region.
    fn region(&self) -> &str;
    /// How many probes it holds.
    fn probe_count(&self) -> usize;
}

impl Stored for Live {
    fn schema(&self) -> u32 {
        self.schema
    }
    fn region(&self) -> &str {
        &self.region
    }
    fn probe_count(&self) -> usize {
        self.probes.len()
    }
}

impl Stored for DayPiece {
    fn schema(&self) -> u32 {
        self.schema
    }
    fn region(&self) -> &str {
        &self.region
    }
    fn probe_count(&self) -> usize {
        self.probes.len()
    }
}

/// The worker's record of what it has written, to decide what the next write carries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Written {
    /// Days before this one are closed in the store.
    pub open_from: Option<NaiveDate>,
    /// When the open pieces were last written (by the worker's clock).
    pub pieces_at: Option<DateTime<Utc>>,
    /// Whether the region is still in the schema-2 single file, to be migrated by the
    /// first write.
    pub legacy: bool,
}

/// What one write carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The live object's `since`: the first day not closed in the store before this
    /// write (its transitions reach back to it).
    pub since: NaiveDate,
    /// The first day not closed after this write.
    pub open_from: NaiveDate,
    /// Whether the live object goes after the pieces: on a first write (nothing of the
    /// region's pieces is in the store, or a schema-2 file is being migrated) readers
    /// see the region only once its pieces are all there, and the live object can say
    /// so (`since` is `open_from`). Otherwise it goes first: it is what the guard
    /// watches, and what detection waits for.
    pub live_last: bool,
    /// Pieces to write (closed ones and, when due, the open ones), oldest first.
    pub pieces: Vec<(NaiveDate, bool)>,
}

impl Plan {
    /// The day pieces this write carries, made from `state`, by name under the region's
    /// folder (days no probe has anything of are left out).
    pub fn made<'a>(
        &'a self,
        state: &'a RegionState,
    ) -> impl Iterator<Item = (String, DayPiece)> + 'a {
        self.pieces
            .iter()
            .map(|(day, closed)| (day_name(*day), piece(state, *day, !closed)))
            .filter(|(_, piece)| !piece.probes.is_empty())
    }

    /// The pieces that fall out of the kept windows as this write closes days: one per
    /// day closed, [`history::DAILY_KEPT`] + 1 days before it.
    pub fn expired(&self) -> Vec<NaiveDate> {
        self.pieces
            .iter()
            .filter(|(_, closed)| *closed)
            .filter_map(|(day, _)| day.checked_sub_days(days_n(history::DAILY_KEPT + 1)))
            .collect()
    }
}

/// What a write at `now` must carry: every day of the state before `open_from` that has
/// reached its close (it is written closed, once), and the open days when `pieces_due`.
pub fn plan(state: &RegionState, written: &Written, now: DateTime<Utc>, pieces_due: bool) -> Plan {
    let all = days(state);
    // A day is closed once CLOSE_AFTER has passed since its end.
    let closes = |day: NaiveDate| day_start(day) + Duration::days(1) + CLOSE_AFTER <= now;
    let first_open = all
        .iter()
        .copied()
        .find(|d| !closes(*d))
        .unwrap_or_else(|| (now - CLOSE_AFTER).date_naive());
    let already = written.open_from;
    let mut pieces: Vec<(NaiveDate, bool)> = all
        .iter()
        .copied()
        .filter(|d| *d < first_open && already.is_none_or(|from| *d >= from))
        .map(|d| (d, true))
        .collect();
    if pieces_due || written.open_from.is_none() {
        pieces.extend(
            all.iter()
                .copied()
                .filter(|d| *d >= first_open)
                .map(|d| (d, false)),
        );
    }
    Plan {
        // Days closed by this write are not closed in the store until it went through;
        // a first write puts its pieces before the live object, so they are.
        since: already.unwrap_or(first_open),
        open_from: first_open,
        live_last: already.is_none(),
        pieces,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::state::{Health, RegionHealth, history::Policy};

    /// A region with `days` days of one sample every 10 minutes for three probes, with
    /// outages, ending at `end`.
    pub(crate) fn year(days: i64, end: DateTime<Utc>) -> RegionState {
        let start = end - Duration::days(days);
        let mut s = RegionState::new("eu", start);
        let policy = Policy::every(600.0);
        let mut at = start;
        let mut i = 0u64;
        while at < end {
            for (n, id) in ["web", "api", "db"].iter().enumerate() {
                let down = (i / 7 + n as u64).is_multiple_of(23) && i % 7 < 4;
                let health = if down { Health::Down } else { Health::Up };
                let mut sample = Sample::new(at, health, "ok".into());
                sample.latency_ms = Some(10.0 + (i % 13) as f64 + n as f64);
                s.record(id, "http", "https://x", &policy, sample);
            }
            at += Duration::minutes(10);
            i += 1;
        }
        s.written_at = end;
        s
    }

    fn end() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 12, 34, 0).unwrap()
    }

    #[test]
    fn a_year_split_into_days_assembles_to_the_same_state() {
        let state = year(365, end());
        let open_from = (end() - CLOSE_AFTER).date_naive();
        let pieces = split(&state, open_from);
        assert!(pieces.len() >= 365, "{}", pieces.len());
        assert!(pieces.iter().filter(|p| !p.closed).count() == 1);
        let refs: Vec<&DayPiece> = pieces.iter().collect();
        assert_eq!(assemble(&live(&state, open_from), &refs), state);
        // Through the bytes too, and in any order.
        let mut stored: Vec<DayPiece> = pieces
            .iter()
            .rev()
            .map(|p| decode(&encode(p).unwrap(), "piece", "eu").unwrap())
            .collect();
        stored.rotate_left(7);
        let live: Live = decode(&encode(&live(&state, open_from)).unwrap(), "live", "eu").unwrap();
        let refs: Vec<&DayPiece> = stored.iter().collect();
        assert_eq!(assemble(&live, &refs), state);
    }

    #[test]
    fn the_live_part_wins_over_older_pieces() {
        let mut state = year(3, end());
        let open_from = (end() - CLOSE_AFTER).date_naive();
        let pieces = split(&state, open_from);
        // Later samples: an outage confirmed after the pieces were written.
        let policy = Policy::every(600.0);
        for k in 0..3 {
            let at = end() + Duration::minutes(10 * k);
            state.record(
                "web",
                "http",
                "https://x",
                &policy,
                Sample::new(at, Health::Down, "refused".into()),
            );
        }
        let refs: Vec<&DayPiece> = pieces.iter().collect();
        let back = assemble(&live(&state, open_from), &refs);
        let web = &back.probes["web"];
        assert_eq!(web.confirmed().map(|t| t.to), Some(RegionHealth::Down));
        assert_eq!(web.transitions, state.probes["web"].transitions);
        assert_eq!(web.last, state.probes["web"].last);
    }

    #[test]
    fn a_worker_that_forgets_closed_days_writes_the_same_open_pieces() {
        let state = year(30, end());
        let since = NaiveDate::from_ymd_opt(2026, 11, 18).unwrap();
        let mut trimmed = state.clone();
        forget_before(&mut trimmed, since);
        let web = &trimmed.probes["web"];
        assert_eq!(web.history.daily.first_day, Some(since));
        assert!(web.history.daily.checks.len() <= 3);
        assert!(web.transitions.len() < state.probes["web"].transitions.len());
        for day in days(&trimmed).into_iter().filter(|d| *d >= since) {
            assert_eq!(
                piece(&trimmed, day, true),
                piece(&state, day, true),
                "{day}"
            );
        }
        assert_eq!(live(&trimmed, since), live(&state, since));
        // Put together with the closed pieces, the forgotten days are all there again.
        let mut pieces = split(&state, since);
        pieces.retain(|p| p.day < since);
        pieces.extend(
            split(&trimmed, since)
                .into_iter()
                .filter(|p| p.day >= since),
        );
        let refs: Vec<&DayPiece> = pieces.iter().collect();
        assert_eq!(assemble(&live(&trimmed, since), &refs), state);
    }

    #[test]
    fn a_day_closes_once_an_hour_after_its_end() {
        let state = year(3, end());
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let first = plan(&state, &Written::default(), end(), false);
        assert_eq!(first.open_from, day(20));
        assert_eq!(
            first.pieces,
            [
                (day(17), true),
                (day(18), true),
                (day(19), true),
                (day(20), false)
            ]
        );
        let written = Written {
            open_from: Some(first.open_from),
            ..Written::default()
        };
        // Nothing to close, and the open piece only when due.
        assert!(plan(&state, &written, end(), false).pieces.is_empty());
        assert_eq!(
            plan(&state, &written, end(), true).pieces,
            [(day(20), false)]
        );
        // Just after midnight the 20th is still open; an hour later it closes.
        let mut later = state.clone();
        let policy = Policy::every(600.0);
        let midnight = day_start(day(21));
        later.record(
            "web",
            "http",
            "x",
            &policy,
            Sample::new(midnight + Duration::minutes(5), Health::Up, String::new()),
        );
        let p = plan(&later, &written, midnight + Duration::minutes(30), false);
        assert_eq!((p.open_from, p.pieces.len()), (day(20), 0));
        let p = plan(&later, &written, midnight + Duration::minutes(61), false);
        assert_eq!(
            (p.open_from, &p.pieces[..]),
            (day(21), &[(day(20), true)][..])
        );
        // Closing it lets the piece 401 days older go.
        assert_eq!(
            p.expired(),
            [day(20) - chrono::Days::new(history::DAILY_KEPT as u64 + 1)]
        );
    }
}
