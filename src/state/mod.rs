//! Step 3 of the flow: what one region's worker observed, kept under `state/<region>/` as a
//! live object and one piece per UTC day ([`layout`], schema 3). The worker is the only
//! writer of its region; the builder reads every region. Per probe: the last sample, a
//! short tail of recent samples, the region's confirmed health changes with exact
//! (back-dated) timestamps, and the roll-ups of [`history`]. The single files of schema 2
//! (`<region>.json`) and schema 1 are still read, and migrated by the first write.

pub mod history;
pub mod layout;
pub mod object;
pub mod spool;
pub mod store;
pub mod trouble;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The schema version this build writes.
pub const SCHEMA: u32 = 2;
/// How many recent samples are kept per probe.
pub const RECENT_SAMPLES: usize = 20;
/// How many transitions are kept per probe; beyond it the shortest episodes are folded.
pub const MAX_TRANSITIONS: usize = 500;
/// Days of transitions kept (the consensus timeline's reach).
pub const TRANSITION_DAYS: i64 = 400;
/// The longest detail a sample keeps, in bytes; longer ones are cut when recorded.
pub const MAX_DETAIL_BYTES: usize = 16 * 1024;
/// The most probes one region's state may hold (a worker was measured at 50,000).
pub const MAX_PROBES: usize = 100_000;

/// Why a parsed state is outside the schema's own bounds (what a worker never writes), or
/// `None` when it is within them.
fn out_of_bounds(state: &RegionState) -> Option<String> {
    if state.probes.len() > MAX_PROBES {
        return Some(format!(
            "{} probes, more than the {MAX_PROBES} a state file holds",
            state.probes.len()
        ));
    }
    for (id, p) in &state.probes {
        let long_detail = std::iter::once(&p.last.detail)
            .chain(p.recent.iter().map(|s| &s.detail))
            .any(|d| d.len() > MAX_DETAIL_BYTES);
        let why = if p.transitions.len() > MAX_TRANSITIONS {
            format!(
                "{} transitions, more than {MAX_TRANSITIONS}",
                p.transitions.len()
            )
        } else if p.recent.len() > RECENT_SAMPLES {
            format!(
                "{} recent samples, more than {RECENT_SAMPLES}",
                p.recent.len()
            )
        } else if long_detail {
            format!("a detail longer than {MAX_DETAIL_BYTES} bytes")
        } else if p.history.hourly.n.len() > history::HOURLY_KEPT
            || p.history.daily.checks.len() > history::DAILY_KEPT
        {
            "more roll-ups than are kept".to_string()
        } else {
            continue;
        };
        return Some(format!("probe \"{id}\" has {why}"));
    }
    None
}

/// `detail` cut to at most [`MAX_DETAIL_BYTES`], on a character boundary, marked as cut.
pub(crate) fn bounded_detail(mut detail: String) -> String {
    if detail.len() > MAX_DETAIL_BYTES {
        let mut end = MAX_DETAIL_BYTES - "…".len();
        while !detail.is_char_boundary(end) {
            end -= 1;
        }
        detail.truncate(end);
        detail.push('…');
    }
    detail
}

/// What one check found, in one region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// It worked.
    Up,
    /// It worked, but slowly or with a warning.
    Degraded,
    /// It failed, also on the in-region re-check.
    Down,
    /// The prober could not run the check; never counted as down.
    Unknown,
}

impl Health {
    /// The word used in files and pages.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Degraded => "degraded",
            Health::Down => "down",
            Health::Unknown => "unknown",
        }
    }
}

/// A region's confirmed view of a probe or component, and the `to` of a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// No fresh data from this region (its worker was not running).
    NoData,
}

impl RegionHealth {
    /// Order for "worst of": an observed failure beats any observation, which beats none.
    pub fn rank(self) -> u8 {
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
}

impl From<Health> for RegionHealth {
    fn from(h: Health) -> Self {
        match h {
            Health::Up => RegionHealth::Up,
            Health::Degraded => RegionHealth::Degraded,
            Health::Down => RegionHealth::Down,
            Health::Unknown => RegionHealth::Unknown,
        }
    }
}

/// Time spent in each phase of a check, in milliseconds (blackbox_exporter's names).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Phases {
    /// Name resolution.
    pub resolve_ms: f64,
    /// TCP handshake.
    pub connect_ms: f64,
    /// TLS handshake.
    pub tls_ms: f64,
    /// Request sent to first response byte.
    pub processing_ms: f64,
    /// Body transfer.
    pub transfer_ms: f64,
}

/// One sample: one check (with its in-region re-checks) in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When the check (or its last re-check) started.
    #[serde(serialize_with = "timestamp::write")]
    pub at: DateTime<Utc>,
    /// The result.
    pub health: Health,
    /// Total time of the check that gave the result, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// A precise, human-readable reason, e.g. `connect refused (127.0.0.1:8080)`.
    pub detail: String,
    /// HTTP status of the final response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Checks made for this sample (1 + in-region re-checks).
    #[serde(default = "one")]
    pub attempts: u32,
    /// Phase timings, where the kind has phases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<Phases>,
    /// Connection facts of HTTP, TCP and TLS checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn: Option<ConnInfo>,
    /// The certificate chain the server presented (https and tls checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<CertInfo>,
    /// What a DNS server answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsInfo>,
    /// What a plugin returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginInfo>,
    /// Echo replies of an ICMP check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpInfo>,
}

/// The result of a burst of ICMP echo requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcmpInfo {
    /// The address pinged.
    pub ip: String,
    /// Requests sent.
    pub sent: u32,
    /// Replies received.
    pub received: u32,
    /// Lost, in percent.
    pub loss_pct: f64,
    /// Fastest round trip, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_min_ms: Option<f64>,
    /// Average round trip, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_avg_ms: Option<f64>,
    /// Slowest round trip, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_max_ms: Option<f64>,
    /// `dgram` (unprivileged ping socket) or `raw`.
    pub socket: String,
}

/// A plugin's result beyond its status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Exit code, or null when it was killed.
    pub exit_code: Option<i32>,
    /// Performance data it reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub perfdata: Vec<PerfValue>,
}

/// One performance value (`'label'=value[UOM];warn;crit;min;max`). Times are converted
/// to seconds (`uom` "s") so they can feed response-time charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerfValue {
    /// Label.
    pub label: String,
    /// Value.
    pub value: f64,
    /// Unit: "", "s", "%", "B", "KB", "MB", "GB", "TB" or "c".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uom: String,
    /// Warning range as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<String>,
    /// Critical range as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crit: Option<String>,
    /// Minimum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// A DNS server's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsInfo {
    /// The server asked.
    pub server: String,
    /// Response code, e.g. NOERROR, NXDOMAIN.
    pub rcode: String,
    /// Answer records as `TTL TYPE DATA`.
    pub answers: Vec<String>,
    /// Authoritative answer flag.
    pub authoritative: bool,
    /// Whether the UDP answer was truncated (and so retried over TCP).
    pub truncated: bool,
    /// `udp` or `tcp`: how the final answer came.
    pub transport: String,
}

/// Where a check connected and what it exchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnInfo {
    /// The address connected to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// 4 or 6.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_family: Option<u8>,
    /// HTTP version of the final response, e.g. `HTTP/1.1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_version: Option<String>,
    /// Redirects followed.
    #[serde(skip_serializing_if = "is_zero")]
    pub redirects: u32,
    /// Body bytes read (at most the cap).
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub bytes_read: u64,
    /// The declared Content-Length, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_length: Option<u64>,
    /// TLS version negotiated, e.g. `TLSv1.3`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// The certificate chain a server presented.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertInfo {
    /// Subject of the leaf certificate.
    pub subject: String,
    /// Issuer of the leaf certificate.
    pub issuer: String,
    /// When the leaf certificate expires.
    pub leaf_not_after: DateTime<Utc>,
    /// The earliest expiry of any certificate in the presented chain.
    pub earliest_not_after: DateTime<Utc>,
    /// Whether the chain verified for the server name.
    pub valid: bool,
    /// Why it did not verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn one() -> u32 {
    1
}

impl Sample {
    /// A sample with no timings or facts yet: one attempt, the rest empty.
    pub fn new(at: DateTime<Utc>, health: Health, detail: String) -> Sample {
        Sample {
            at,
            health,
            latency_ms: None,
            detail,
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

    /// The sample without its kind-specific facts, as kept in the tail of recent samples:
    /// the newest sample keeps them all, older ones only what history needs.
    pub fn lean(&self) -> Lean {
        Lean {
            at: self.at,
            health: self.health,
            latency_ms: self.latency_ms,
            detail: self.detail.clone(),
            http_status: self.http_status,
            attempts: self.attempts,
        }
    }
}

/// A [`Sample`] without its kind-specific facts: what history needs of it, written as a
/// sample is. About 70 bytes in memory where a whole sample takes 570, which matters at
/// 20 recent samples of 50,000 probes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lean {
    /// When the check (or its last re-check) started.
    #[serde(serialize_with = "timestamp::write")]
    pub at: DateTime<Utc>,
    /// The result.
    pub health: Health,
    /// Total time of the check that gave the result, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// A precise, human-readable reason.
    pub detail: String,
    /// HTTP status of the final response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Checks made for this sample (1 + in-region re-checks).
    #[serde(default = "one")]
    pub attempts: u32,
}

impl Lean {
    /// As a whole sample, with no kind-specific facts.
    pub fn sample(&self) -> Sample {
        Sample {
            latency_ms: self.latency_ms,
            http_status: self.http_status,
            attempts: self.attempts,
            ..Sample::new(self.at, self.health, self.detail.clone())
        }
    }
}

/// A change of a region's confirmed health, back-dated to the first sample that showed it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// When the new health began.
    #[serde(serialize_with = "timestamp::write")]
    pub at: DateTime<Utc>,
    /// The health from then on (`no_data` while the worker was not running).
    pub to: RegionHealth,
}

/// Everything a region knows about one probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeState {
    /// The probe's kind, as written in probes.yaml.
    pub kind: String,
    /// The target as written (secrets stay as `${NAME}` references).
    pub target: String,
    /// The probe's interval in seconds when the sample was taken (for staleness).
    pub interval_s: f64,
    /// The newest sample.
    pub last: Sample,
    /// The newest samples, oldest first, at most [`RECENT_SAMPLES`], without their
    /// kind-specific facts; ends with `last`.
    #[serde(default)]
    pub recent: Vec<Lean>,
    /// Confirmed health changes, oldest first, at most [`MAX_TRANSITIONS`] over the last
    /// [`TRANSITION_DAYS`]; the last one is the region's current confirmed health.
    #[serde(default)]
    pub transitions: Vec<Transition>,
    /// Runs of samples that may yet confirm a change.
    #[serde(default, skip_serializing_if = "history::Hysteresis::is_empty")]
    pub pending: history::Hysteresis,
    /// Hourly and daily roll-ups.
    #[serde(default)]
    pub history: history::History,
}

impl ProbeState {
    /// The region's confirmed health now, `None` before the first sample.
    pub fn confirmed(&self) -> Option<&Transition> {
        self.transitions.last()
    }
}

/// The whole state file of one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionState {
    /// Schema version.
    pub schema: u32,
    /// Region name.
    pub region: String,
    /// When the worker wrote this file.
    pub written_at: DateTime<Utc>,
    /// Per probe id.
    pub probes: BTreeMap<String, ProbeState>,
    /// When the store received it, by the store's clock (object storage's Last-Modified);
    /// `None` for a folder, whose file times may come from anywhere (a copy, a checkout).
    /// Not written: it is how the reader found the file.
    #[serde(skip)]
    pub stored_at: Option<DateTime<Utc>>,
}

impl RegionState {
    /// An empty state for a region.
    pub fn new(region: &str, now: DateTime<Utc>) -> Self {
        RegionState {
            stored_at: None,
            schema: SCHEMA,
            region: region.to_string(),
            written_at: now,
            probes: BTreeMap::new(),
        }
    }

    /// Add a sample for a probe: update the tail, the confirmed timeline and the roll-ups.
    pub fn record(
        &mut self,
        probe_id: &str,
        kind: &str,
        target: &str,
        policy: &history::Policy,
        mut sample: Sample,
    ) {
        sample.detail = bounded_detail(sample.detail);
        let entry = self
            .probes
            .entry(probe_id.to_string())
            .or_insert_with(|| ProbeState {
                kind: kind.to_string(),
                target: target.to_string(),
                interval_s: policy.interval_s,
                last: sample.clone(),
                recent: Vec::new(),
                transitions: Vec::new(),
                pending: history::Hysteresis::default(),
                history: history::History::default(),
            });
        entry.kind = kind.to_string();
        entry.target = target.to_string();
        entry.interval_s = policy.interval_s;
        // A pause longer than the silence limit means the worker was not running: from
        // its last sample + that limit (when the builder's live view calls the region
        // stale) the time is "no data", and a new series starts.
        let previous = entry.last.at;
        if !entry.transitions.is_empty()
            && (sample.at - previous).as_seconds_f64() > policy.silent_after_s
        {
            let gap_from =
                previous + chrono::Duration::milliseconds((policy.silent_after_s * 1000.0) as i64);
            entry
                .history
                .account(&entry.transitions, gap_from.min(sample.at));
            history::push_change(
                &mut entry.transitions,
                gap_from.min(sample.at),
                RegionHealth::NoData,
            );
            entry.pending = history::Hysteresis::default();
        }
        let shown = entry.transitions.last().map(|t| t.to);
        let resume = history::resume_from(&entry.transitions);
        for (at, to) in entry
            .pending
            .step(shown, resume, &sample, policy.confirm, policy.recover)
        {
            history::push_change(&mut entry.transitions, at, to);
        }
        history::bound_transitions(
            &mut entry.transitions,
            MAX_TRANSITIONS,
            sample.at - chrono::Duration::days(TRANSITION_DAYS),
        );
        let settled = entry.pending.settled_until().unwrap_or(sample.at);
        entry.history.account(&entry.transitions, settled);
        entry.history.add_sample(&sample);
        entry.recent.push(sample.lean());
        if entry.recent.len() > RECENT_SAMPLES {
            let excess = entry.recent.len() - RECENT_SAMPLES;
            entry.recent.drain(..excess);
        }
        entry.last = sample;
    }

    /// Keep only the probes still configured for this region.
    pub fn retain_probes(&mut self, keep: &[&str]) {
        self.probes.retain(|id, _| keep.contains(&id.as_str()));
    }
}

/// Parse a state file's text; `shown` names the file in errors.
pub fn parse(text: &str, shown: &str) -> anyhow::Result<RegionState> {
    #[derive(Deserialize)]
    struct Version {
        schema: Option<u32>,
    }
    let version: Version = serde_json::from_str(text).map_err(|e| {
        anyhow::anyhow!("{shown}: not a pharos state file ({e}); move it aside or delete it")
    })?;
    match version.schema {
        Some(v) if v > SCHEMA => anyhow::bail!(
            "{shown}: written with state schema {v}, but this pharos reads up to {SCHEMA}; upgrade pharos"
        ),
        Some(_) => {}
        None => {
            anyhow::bail!("{shown}: no \"schema\" field, so not a pharos state file; move it aside")
        }
    }
    let mut state: RegionState = serde_json::from_str(text).map_err(|e| {
        anyhow::anyhow!("{shown}: damaged state file ({e}); move it aside or delete it")
    })?;
    if let Some(why) = out_of_bounds(&state) {
        anyhow::bail!(
            "{shown}: damaged state file ({why}, which no worker writes); move it aside or delete it"
        );
    }
    for (id, probe) in &mut state.probes {
        // Damage must not stop a worker: roll-ups that do not line up start again, and
        // transitions are put back in order.
        if !probe.history.is_consistent() {
            tracing::warn!(
                "{shown}: the roll-ups of probe \"{id}\" do not line up; starting them again"
            );
            probe.history = history::History::default();
        }
        if !probe.transitions.is_sorted_by_key(|t| t.at) {
            probe.transitions.sort_by_key(|t| t.at);
        }
    }
    if state.schema < 2 {
        // Schema 1 kept raw health changes; they stand in for confirmed ones (a blip in
        // them shows as a short episode), and its roll-ups start empty.
        for probe in state.probes.values_mut() {
            let raw = std::mem::take(&mut probe.transitions);
            for t in raw {
                history::push_change(&mut probe.transitions, t.at, t.to);
            }
        }
        state.schema = SCHEMA;
    }
    Ok(state)
}

/// Write a state as JSON: the header and then one line per probe, so a file of a
/// thousand probes stays readable with `grep` and `jq` without pretty-printing's
/// one-number-per-line columns.
pub fn write_json(state: &RegionState, out: &mut impl std::io::Write) -> std::io::Result<()> {
    fn json(out: &mut impl std::io::Write, v: &impl Serialize) -> std::io::Result<()> {
        serde_json::to_writer(out, v).map_err(std::io::Error::from)
    }
    out.write_all(b"{\"schema\":")?;
    json(out, &state.schema)?;
    out.write_all(b",\"region\":")?;
    json(out, &state.region)?;
    out.write_all(b",\"written_at\":")?;
    json(out, &state.written_at)?;
    out.write_all(b",\"probes\":{")?;
    for (i, (id, probe)) in state.probes.iter().enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        json(out, id)?;
        out.write_all(b":")?;
        json(out, probe)?;
    }
    out.write_all(b"\n}}\n")
}

/// Timestamps as chrono's serde writes them (RFC 3339 in UTC with `Z`, and 0, 3, 6 or 9
/// digits of fraction), but handed to the serialiser as one string: chrono's own impl goes
/// through `collect_str`, which serde_json escapes a character at a time, and that was
/// half the cost of writing a state of many samples.
pub(crate) mod timestamp {
    use chrono::{DateTime, SecondsFormat, Utc};

    pub(crate) fn write<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_as_chrono_writes_them() {
        #[derive(Serialize)]
        struct Fast(#[serde(serialize_with = "timestamp::write")] DateTime<Utc>);
        for (secs, nanos) in [
            (0, 0),
            (1_795_000_000, 0),
            (1_795_000_000, 120_000_000),
            (1_795_000_000, 123_456_000),
            (1_795_000_000, 622_019_024),
            (1_795_000_000, 1),
            (-86_401, 999_999_999),
        ] {
            let t = DateTime::from_timestamp(secs, nanos).unwrap();
            assert_eq!(
                serde_json::to_string(&Fast(t)).unwrap(),
                serde_json::to_string(&t).unwrap()
            );
        }
    }

    fn sample(sec: i64, health: Health) -> Sample {
        Sample {
            at: DateTime::from_timestamp(sec, 0).unwrap(),
            health,
            latency_ms: Some(1.0),
            detail: String::new(),
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

    fn history(s: &RegionState) -> Vec<(i64, RegionHealth)> {
        s.probes["web"]
            .transitions
            .iter()
            .map(|t| (t.at.timestamp(), t.to))
            .collect()
    }

    #[test]
    fn records_confirmed_transitions_and_bounds_the_tail() {
        let mut s = RegionState::new("eu", DateTime::from_timestamp(0, 0).unwrap());
        for i in 0..50 {
            let h = if (10..20).contains(&i) || i == 30 {
                Health::Down
            } else {
                Health::Up
            };
            s.record(
                "web",
                "http",
                "https://x",
                &history::Policy::every(30.0),
                sample(i, h),
            );
        }
        let p = &s.probes["web"];
        assert_eq!(p.recent.len(), RECENT_SAMPLES);
        assert_eq!(p.recent.last(), Some(&p.last.lean()));
        // The lone failure at 30 s never confirmed; the outage is back-dated to 10 s.
        assert_eq!(
            history(&s),
            vec![
                (0, RegionHealth::Up),
                (10, RegionHealth::Down),
                (20, RegionHealth::Up)
            ]
        );
        assert_eq!(p.history.daily.down_s, vec![10.0]);
        assert_eq!(p.history.daily.failures, vec![11]);
        assert_eq!(p.history.daily.checks, vec![50]);
    }

    #[test]
    fn a_silent_worker_is_no_data_then_a_new_series() {
        let mut s = RegionState::new("eu", DateTime::from_timestamp(0, 0).unwrap());
        let policy = history::Policy::every(10.0);
        for at in [0, 10, 20, 200, 210] {
            s.record("web", "http", "x", &policy, sample(at, Health::Up));
        }
        assert_eq!(
            history(&s),
            // No data from the last sample + the silence limit (20 + 30 s), when the
            // builder's live view calls the region stale too.
            vec![
                (0, RegionHealth::Up),
                (50, RegionHealth::NoData),
                (200, RegionHealth::Up)
            ]
        );
    }

    #[test]
    fn transitions_stay_bounded_when_flapping_confirms() {
        let mut s = RegionState::new("eu", DateTime::from_timestamp(0, 0).unwrap());
        let every_round = history::Policy {
            confirm: 1,
            recover: 1,
            ..history::Policy::every(30.0)
        };
        for i in 0..1000 {
            let h = if i % 2 == 0 { Health::Down } else { Health::Up };
            s.record("web", "http", "x", &every_round, sample(i, h));
        }
        let p = &s.probes["web"];
        assert!(
            p.transitions.len() <= MAX_TRANSITIONS,
            "{}",
            p.transitions.len()
        );
        assert_eq!(
            p.transitions.last().map(|t| (t.at.timestamp(), t.to)),
            Some((999, RegionHealth::Up))
        );
        // Folding over-counts downtime, never drops it: 500 of the 999 seconds were down.
        assert!(
            p.history.daily.down_s[0] >= 499.0,
            "{:?}",
            p.history.daily.down_s
        );
    }

    #[test]
    fn reads_schema_1_and_writes_one_line_per_probe() {
        let v1 = r#"{"schema":1,"region":"eu","written_at":"2026-01-01T00:00:00Z","probes":{"web":{
            "kind":"http","target":"x","interval_s":30.0,
            "last":{"at":"2026-01-01T00:00:00Z","health":"down","detail":"refused"},
            "recent":[],
            "transitions":[{"at":"2025-12-31T23:00:00Z","from":null,"to":"up"},
                           {"at":"2025-12-31T23:59:00Z","from":"up","to":"down"}]}}}"#;
        let s = parse(v1, "state/eu.json").unwrap();
        assert_eq!(s.schema, SCHEMA);
        let web = &s.probes["web"];
        assert_eq!(web.confirmed().map(|t| t.to), Some(RegionHealth::Down));
        let mut out = Vec::new();
        write_json(&s, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.lines().nth(1).unwrap().starts_with("\"web\":{"));
        assert_eq!(parse(&text, "again").unwrap(), s);
    }

    #[test]
    fn damaged_roll_ups_start_again_instead_of_panicking() {
        let text = r#"{"schema":2,"region":"eu","written_at":"2026-01-01T00:00:00Z","probes":{"web":{
            "kind":"http","target":"x","interval_s":30.0,
            "last":{"at":"2026-01-01T00:00:00Z","health":"up","detail":"ok"},
            "transitions":[{"at":"2026-01-01T00:00:00Z","to":"up"},{"at":"2025-12-31T00:00:00Z","to":"down"}],
            "history":{"daily":{"first_day":"2026-01-01","checks":[1,2],"failures":[0],"worst":"ü"}}}}}"#;
        let mut s = parse(text, "state/eu.json").unwrap();
        assert_eq!(s.probes["web"].history, history::History::default());
        assert!(s.probes["web"].transitions.is_sorted_by_key(|t| t.at));
        let at = DateTime::from_timestamp(1_767_225_660, 0).unwrap();
        s.record(
            "web",
            "http",
            "x",
            &history::Policy::every(30.0),
            Sample::new(at, Health::Up, String::new()),
        );
        let daily = &s.probes["web"].history.daily;
        assert_eq!(daily.checks.last(), Some(&1));
        assert!(s.probes["web"].history.is_consistent());
    }

    #[test]
    fn refuses_newer_schema_and_garbage() {
        let text =
            r#"{"schema": 9, "region": "x", "written_at": "2026-01-01T00:00:00Z", "probes": {}}"#;
        assert!(
            parse(text, "state/x.json")
                .unwrap_err()
                .to_string()
                .contains("upgrade pharos")
        );
        assert!(
            parse("{nope", "state/x.json")
                .unwrap_err()
                .to_string()
                .starts_with("state/x.json")
        );
    }
}
