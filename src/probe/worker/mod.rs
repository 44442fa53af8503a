//! Step 2 (probe) over time: the worker of one region. It owns the region's state file
//! (lock, load, record, atomic write), schedules each probe at its interval with jitter,
//! bounds concurrency, and stops cleanly on a signal. A store that is away at start or
//! at stop costs no sample: the worker probes anyway, keeps what the store does not hold
//! yet, and leaves it in a local spool for the next start (`state::spool`).

mod schedule;
mod writes;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio::task::{Id, JoinError, JoinSet};
use tokio::time::Instant;

use super::{Ctx, RunInfo};
use crate::config::{Probe, Probing};
use crate::state::spool::{self, Spooled, Unsaved};
use crate::state::store::{Store, Writer};
use crate::state::{Health, RegionState, Sample};
use schedule::{Schedule, Slot};
use writes::{Writes, flush};

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The region this worker probes from.
    pub region: String,
    /// Run every probe once, write state, and stop.
    pub once: bool,
    /// Most checks in flight at once.
    pub concurrency: usize,
    /// Shortest time between two state writes while running.
    pub flush_every: Duration,
    /// How long in-flight checks may finish after a stop signal.
    pub stop_grace: Duration,
    /// Serve Prometheus metrics on this address.
    pub metrics: Option<std::net::SocketAddr>,
    /// Most checks in flight against one host at once.
    pub per_host: usize,
    /// With object storage: how long a starting worker watches a recently written state
    /// for another live worker; live workers write at least twice per lease.
    pub lease: Duration,
    /// When the region's state file cannot be read (garbage, another region's), keep it
    /// as `<file>.damaged-<time>` and start afresh instead of refusing to start.
    pub move_aside: bool,
    /// Where samples the store could not take are left at stop (`state::spool`);
    /// `.pharos/spool` in the working folder unless set (`pharos probe` sets it in the
    /// project).
    pub spool_dir: PathBuf,
}

impl Options {
    /// Defaults for a region.
    pub fn new(region: &str) -> Self {
        Options {
            region: region.to_string(),
            once: false,
            concurrency: 64,
            flush_every: Duration::from_secs(2),
            stop_grace: Duration::from_secs(2),
            metrics: None,
            per_host: 8,
            lease: Duration::from_secs(10),
            move_aside: false,
            spool_dir: PathBuf::from(".pharos/spool"),
        }
    }
}

/// What a worker did.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Samples recorded.
    pub samples: u64,
    /// State writes.
    pub writes: u64,
    /// Checks still running at stop and abandoned.
    pub abandoned: usize,
    /// Probes whose newest checks saw a change not confirmed yet at stop.
    pub unconfirmed: usize,
    /// The most rounds one of those changes needs to be confirmed.
    pub rounds_needed: u32,
    /// Where the samples the store does not hold were left, when it was away at stop.
    pub spooled: Option<PathBuf>,
    /// The 99th percentile of how late checks started after their slot, in milliseconds
    /// (10 ms steps); `None` before the first check.
    pub lag_p99_ms: Option<u64>,
}

/// The probes a region runs.
pub fn probes_for<'a>(probing: &'a Probing, region: &str) -> Vec<&'a Probe> {
    probing
        .probes
        .iter()
        .filter(|p| p.regions.iter().any(|r| r == region))
        .collect()
}

/// Run a region's worker until `stop` resolves (or one round with `once`).
pub async fn run(
    probing: &Probing,
    store: &Store,
    ctx: Ctx,
    opts: &Options,
    stop: impl Future<Output = ()>,
) -> Result<Summary> {
    let probes = region_probes(probing, opts)?;
    let spooled = spool::load(&opts.spool_dir, &opts.region)?;
    if !spooled.is_empty() {
        tracing::info!(
            "{} samples the last worker of region \"{}\" could not write (kept in {}) go into this one's state",
            spooled.len(),
            opts.region,
            spool::path(&opts.spool_dir, &opts.region).display()
        );
    }
    // Room for two open-piece periods of every probe's samples: what a store that answers
    // holds unsaved at most, with a margin.
    let per_period: f64 = probes
        .iter()
        .map(|p| {
            (2.0 * crate::state::layout::OPEN_PIECE_EVERY.as_secs_f64()
                / p.interval.as_secs_f64().max(1.0))
            .ceil()
        })
        .sum();
    let unsaved = Unsaved::from(spooled).with_limit(per_period as usize);
    let (writer, state, opening) = match store.open(&opts.region, opts.lease, opts.move_aside).await
    {
        Ok((writer, stored)) => (Some(writer), adopt(stored, &probes, &unsaved, opts), None),
        Err(e) if crate::state::trouble::may_pass(&e) => {
            tracing::warn!(
                "{e:#}. Probing anyway: the samples are kept until the store answers, and the \
                 check that no other worker probes region \"{}\" is made then",
                opts.region
            );
            let fresh = RegionState::new(&opts.region, Utc::now());
            (None, fresh, Some(open_when_back(store, opts)))
        }
        Err(e) => return Err(e),
    };
    // One state, shared with the metrics endpoint; only this worker writes it.
    let state = Arc::new(RwLock::new(state));
    let _metrics = match opts.metrics {
        Some(addr) => Some(super::metrics::serve(addr, state.clone()).await?),
        None => None,
    };
    // The heartbeat: a probe's newest sample reaches the store within its interval, so
    // the builder (stale after 3 intervals) never finds a live region silent.
    let heartbeat = probes
        .iter()
        .map(|p| p.interval)
        .min()
        .unwrap_or(opts.flush_every);
    let writes = Writes::new(
        writer,
        store.keepalive(opts.lease),
        opts.flush_every,
        heartbeat,
        unsaved,
    );
    let mut worker = Worker::new(probes, ctx, opts, state, writes);
    worker.opening = opening;
    if let Err(e) = worker.run_until(stop).await {
        // Stopped for good (another worker, a refusal when the store came back): what
        // the store does not hold is left for the next worker all the same.
        return Err(worker.spool_on_error(e));
    }
    worker.stop().await
}

/// Opening the store, retried while it is away.
type Opening<'a> = Pin<Box<dyn Future<Output = Result<(Writer, Option<RegionState>)>> + Send + 'a>>;

/// Open the region's state once the store answers: tried again every few seconds (up to
/// 30 s apart) while it is away; anything else ends it with the error.
fn open_when_back<'a>(store: &'a Store, opts: &'a Options) -> Opening<'a> {
    Box::pin(async move {
        let mut wait = Duration::from_secs(2);
        let (away_since, mut said) = (Instant::now(), Instant::now());
        loop {
            tokio::time::sleep(wait).await;
            match store.open(&opts.region, opts.lease, opts.move_aside).await {
                // Said again every few minutes: a wrong endpoint looks like an outage.
                Err(e) if crate::state::trouble::may_pass(&e) => {
                    if said.elapsed() >= Duration::from_secs(300) {
                        said = Instant::now();
                        tracing::warn!(
                            "the store has been away for {} min, still probing: {e:#}",
                            away_since.elapsed().as_secs() / 60
                        );
                    } else {
                        tracing::debug!("the store is still away: {e:#}");
                    }
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
                done => return done,
            }
        }
    })
}

/// The state to go on from: what the store held (or a new one), with the samples it does
/// not hold yet recorded on top. A sample no newer than its probe's newest in the store
/// is there already (a write that seemed to fail may have landed), so it is not recorded
/// twice.
fn adopt(
    stored: Option<RegionState>,
    probes: &[Probe],
    unsaved: &Unsaved,
    opts: &Options,
) -> RegionState {
    let (mut recorded, mut skipped) = (0usize, 0usize);
    let mut state = stored.unwrap_or_else(|| RegionState::new(&opts.region, Utc::now()));
    let ids: Vec<&str> = probes.iter().map(|p| p.id.as_str()).collect();
    state.retain_probes(&ids);
    let by_id: HashMap<&str, &Probe> = probes.iter().map(|p| (p.id.as_str(), p)).collect();
    for Spooled { probe, sample } in unsaved.iter() {
        let Some(p) = by_id.get(probe.as_str()) else {
            skipped += 1;
            continue;
        };
        let newest = state.probes.get(&probe).map(|s| s.last.at);
        if newest.is_none_or(|at| sample.at > at) {
            record(&mut state, p, sample);
            recorded += 1;
        } else {
            skipped += 1;
        }
    }
    if skipped > 0 {
        tracing::info!(
            "{skipped} of the samples kept for the store were of probes no longer configured or in the store already"
        );
    }
    tracing::debug!("recorded {recorded} samples the store did not hold");
    state
}

/// The probes of the worker's region, once the region is known and every `${VAR}` they
/// use is set.
fn region_probes(probing: &Probing, opts: &Options) -> Result<Vec<Probe>> {
    if let Some(why) = probing.unknown_region(&opts.region) {
        bail!(why);
    }
    let probes: Vec<Probe> = probes_for(probing, &opts.region)
        .into_iter()
        .cloned()
        .collect();
    let missing: Vec<String> = crate::config::env_vars(&probes)
        .into_iter()
        .filter(|v| std::env::var_os(v).is_none())
        .collect();
    if !missing.is_empty() {
        bail!(
            "probes.yaml refers to environment variable(s) that are not set: {}; export them before starting the prober",
            missing.join(", ")
        );
    }
    Ok(probes)
}

/// What bounds the checks in flight: in all, per target host, and the log of the lag that
/// waiting for a slot causes.
struct Limits {
    permits: Arc<Semaphore>,
    /// One semaphore per target host (by probe index), so many probes of one site never
    /// hit it at once.
    per_host: Vec<Option<Arc<Semaphore>>>,
    lag: Arc<LagLog>,
}

impl Limits {
    fn new(probes: &[Probe], opts: &Options) -> Limits {
        let mut host_permits: HashMap<String, Arc<Semaphore>> = HashMap::new();
        let per_host = probes
            .iter()
            .map(|p| {
                target_host(p).map(|h| {
                    host_permits
                        .entry(h)
                        .or_insert_with(|| Arc::new(Semaphore::new(opts.per_host.max(1))))
                        .clone()
                })
            })
            .collect();
        Limits {
            permits: Arc::new(Semaphore::new(opts.concurrency.max(1))),
            per_host,
            lag: Arc::new(LagLog::default()),
        }
    }
}

/// The checks in flight, and which probe each one is.
#[derive(Default)]
struct Running {
    set: JoinSet<Sample>,
    probe_of: HashMap<Id, usize>,
    /// Whether a probe has a check in flight, by probe index.
    busy: Vec<bool>,
}

impl Running {
    /// The next check to finish, with its task id.
    async fn next(&mut self) -> Option<Result<(Id, Sample), JoinError>> {
        self.set.join_next_with_id().await
    }

    /// A check that has already finished, without waiting.
    fn ready(&mut self) -> Option<Result<(Id, Sample), JoinError>> {
        self.set.try_join_next_with_id()
    }
}

/// One region's worker: its probes, its schedule, its checks in flight and its state.
struct Worker<'a> {
    opts: &'a Options,
    probes: Arc<Vec<Probe>>,
    ctx: Arc<Ctx>,
    limits: Limits,
    schedule: Schedule,
    running: Running,
    state: Arc<RwLock<RegionState>>,
    writes: Writes,
    /// The store, being opened again while it is away.
    opening: Option<Opening<'a>>,
    started_at: DateTime<Utc>,
    summary: Summary,
}

impl<'a> Worker<'a> {
    fn new(
        probes: Vec<Probe>,
        ctx: Ctx,
        opts: &'a Options,
        state: Arc<RwLock<RegionState>>,
        writes: Writes,
    ) -> Worker<'a> {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let schedule = Schedule::new(&probes, opts.once, Instant::now(), since_epoch);
        Worker {
            opts,
            limits: Limits::new(&probes, opts),
            running: Running {
                busy: vec![false; probes.len()],
                ..Running::default()
            },
            probes: Arc::new(probes),
            ctx: Arc::new(ctx),
            schedule,
            state,
            writes,
            opening: None,
            started_at: Utc::now(),
            summary: Summary::default(),
        }
    }

    /// Start checks as they fall due, record what they find, and write the state, until
    /// `stop` resolves or a `--once` round is done.
    async fn run_until(&mut self, stop: impl Future<Output = ()>) -> Result<()> {
        tokio::pin!(stop);
        loop {
            if self.schedule.ended() && self.running.set.is_empty() {
                return Ok(());
            }
            let next_due = self
                .schedule
                .next_at()
                .map(|at| self.schedule.tick_after(at));
            let within = self.writes.within();
            let wake = self.writes.wake_at(within, self.opts.once);
            let (running, writing) = (!self.running.set.is_empty(), self.writes.in_flight());
            let opening = self.opening.is_some();
            tokio::select! {
                _ = &mut stop => return Ok(()),
                _ = sleep_until_opt(next_due) => self.start_due(),
                Some(done) = self.running.next(), if running => self.finished(done),
                done = self.writes.join(), if writing => self.written(done)?,
                opened = opened(&mut self.opening), if opening => self.reopened(opened)?,
                _ = sleep_until_opt(wake), if wake.is_some() => {}
            }
            // Whatever else finished meanwhile, in the same wake-up.
            while let Some(done) = self.running.ready() {
                self.finished(done);
            }
            self.writes
                .start_if_due(within, self.opts.once, &self.state);
        }
    }

    /// Start every check that is due.
    fn start_due(&mut self) {
        let now = Instant::now();
        while let Some(slot) = self.schedule.pop_due(now, &self.probes) {
            self.start(slot);
        }
    }

    /// Start the check of a slot, unless its probe's previous check is still running.
    fn start(&mut self, slot: Slot) {
        let i = slot.probe;
        let probe = &self.probes[i];
        if self.running.busy[i] {
            match probe.overrun() {
                Some(why) => tracing::warn!(
                    probe = %probe.id,
                    "previous check still running; skipping this round ({why})"
                ),
                None => {
                    tracing::warn!(probe = %probe.id, "previous check still running; skipping this round")
                }
            }
            return;
        }
        self.running.busy[i] = true;
        let run = RunInfo {
            region: self.opts.region.clone(),
            // Only command plugins are told (a lookup among every probe's state).
            previous: matches!(probe.kind, crate::config::ProbeKind::Command(_))
                .then(|| {
                    read(&self.state)
                        .probes
                        .get(&probe.id)
                        .map(|p| p.last.health)
                })
                .flatten(),
            since: self.started_at,
        };
        let (probes, ctx) = (self.probes.clone(), self.ctx.clone());
        let (permits, host) = (self.limits.permits.clone(), self.limits.per_host[i].clone());
        let (lag, due_at) = (self.limits.lag.clone(), slot.at);
        let handle = self.running.set.spawn(async move {
            let _host = match host {
                Some(h) => h.acquire_owned().await.ok(),
                None => None,
            };
            let _permit = permits.acquire_owned().await;
            lag.note(&probes[i], due_at.elapsed());
            super::check(&probes[i], &ctx, &run).await
        });
        self.running.probe_of.insert(handle.id(), i);
    }

    /// Record a finished check, or hold it while a write reads the state.
    fn finished(&mut self, done: Result<(Id, Sample), JoinError>) {
        let Some((i, sample)) = finished(done, &mut self.running.probe_of) else {
            return;
        };
        self.running.busy[i] = false;
        if self.writes.in_flight() {
            self.writes.held.push((i, sample));
        } else {
            self.record(i, sample);
        }
        self.summary.samples += 1;
    }

    /// Record a sample in the state, and keep it until a write holds it.
    fn record(&mut self, i: usize, sample: Sample) {
        let probe = &self.probes[i];
        self.writes.unsaved.keep(&probe.id, &sample);
        let mut state = write(&self.state);
        let before = news_of(&state, &probe.id);
        record(&mut state, probe, sample);
        if news_of(&state, &probe.id) != before {
            self.writes.news = true;
        }
        self.writes.dirty = true;
    }

    /// Take back the writer of a finished write, and record what it held.
    fn written(&mut self, done: writes::Written) -> Result<()> {
        let before = self.writes.count;
        self.writes.finish(done)?;
        if self.writes.count > before && before == 0 {
            // The store holds what the last worker left: its spool is done with.
            spool::remove(&self.opts.spool_dir, &self.opts.region);
        }
        for (i, sample) in std::mem::take(&mut self.writes.held) {
            self.record(i, sample);
        }
        Ok(())
    }

    /// Leave what the store does not hold in the spool before stopping with `error`.
    fn spool_on_error(mut self, error: anyhow::Error) -> anyhow::Error {
        for (i, sample) in std::mem::take(&mut self.writes.held) {
            self.record(i, sample);
        }
        if self.writes.unsaved.is_empty() {
            return error;
        }
        let unsaved = &self.writes.unsaved;
        match spool::save(&self.opts.spool_dir, &self.opts.region, unsaved) {
            Ok(kept) => error.context(format!(
                "the {} samples the store does not hold are kept in {} for the next worker",
                unsaved.len(),
                kept.display()
            )),
            Err(e) => error.context(format!(
                "and saving the samples the store does not hold: {e:#}"
            )),
        }
    }

    /// The store answered (or refused for good): go on from what it holds, with every
    /// sample taken meanwhile, and write soon.
    fn reopened(&mut self, opened: Result<(Writer, Option<RegionState>)>) -> Result<()> {
        self.opening = None;
        let (writer, stored) = opened?;
        tracing::info!(
            "the store answers; writing the {} samples it does not hold",
            self.writes.unsaved.len()
        );
        *write(&self.state) = adopt(stored, &self.probes, &self.writes.unsaved, self.opts);
        self.writes.give(writer);
        Ok(())
    }

    /// Stop: end the write in flight, let checks in flight finish within the grace
    /// (abandoning the rest), write the state a last time, and sum up. When the store is
    /// away, what it does not hold is left in the spool for the next start.
    async fn stop(mut self) -> Result<Summary> {
        let writer = self.writes.settle().await?;
        for (i, sample) in std::mem::take(&mut self.writes.held) {
            self.record(i, sample);
        }
        self.drain().await;
        let away = match writer {
            Some(mut writer) => match flush(&self.state, &mut writer, true).await {
                Ok(_) => {
                    self.summary.writes = self.writes.count + 1;
                    spool::remove(&self.opts.spool_dir, &self.opts.region);
                    None
                }
                Err(crate::state::object::WriteError::Failed(e)) => Some(e),
                Err(e) => return Err(e.into()),
            },
            None => Some(anyhow::anyhow!("the store never answered")),
        };
        if let Some(why) = away {
            self.summary.writes = self.writes.count;
            let kept = spool::save(
                &self.opts.spool_dir,
                &self.opts.region,
                &self.writes.unsaved,
            )
            .map_err(|e| {
                e.context(format!(
                    "{why:#}; and saving the samples the store does not hold"
                ))
            })?;
            tracing::warn!(
                "{why:#}; the {} samples the store does not hold are kept in {} for the next worker of region \"{}\"",
                self.writes.unsaved.len(),
                kept.display(),
                self.opts.region
            );
            self.summary.spooled = Some(kept);
        }
        let state = read(&self.state);
        for p in self.probes.iter() {
            let run = state
                .probes
                .get(&p.id)
                .and_then(|s| s.pending.newest_run(p.confirm, p.recover));
            if let Some((_, needed)) = run {
                self.summary.unconfirmed += 1;
                self.summary.rounds_needed = self.summary.rounds_needed.max(needed);
            }
        }
        drop(state);
        self.summary.lag_p99_ms = self.limits.lag.p99_ms();
        Ok(self.summary)
    }

    /// Let checks in flight finish within the stop grace, then abandon the rest.
    async fn drain(&mut self) {
        let grace = tokio::time::sleep(self.opts.stop_grace);
        tokio::pin!(grace);
        while !self.running.set.is_empty() {
            tokio::select! {
                Some(done) = self.running.next() => {
                    if let Some((i, sample)) = finished(done, &mut self.running.probe_of) {
                        self.record(i, sample);
                        self.summary.samples += 1;
                    }
                }
                _ = &mut grace => {
                    self.summary.abandoned = self.running.set.len();
                    self.running.set.abort_all();
                    break;
                }
            }
        }
    }
}

/// The host a probe's checks go to, for the per-host cap.
fn target_host(p: &Probe) -> Option<String> {
    use crate::config::ProbeKind;
    match &p.kind {
        ProbeKind::Http(h) => url::Url::parse(h.url.as_written())
            .ok()
            .and_then(|u| u.host_str().map(str::to_string)),
        ProbeKind::Tcp(t) => Some(t.host.clone()),
        ProbeKind::Tls(t) => Some(t.host.clone()),
        ProbeKind::Icmp(i) => Some(i.host.clone()),
        ProbeKind::Dns(d) => Some(d.server.clone()),
        ProbeKind::Command(_) | ProbeKind::Push(_) => None,
    }
}

/// How late checks start: a histogram in 10 ms steps up to 10 s (the summary's p99), and
/// at most once a minute a warning that checks start late because every slot is busy.
#[derive(Default)]
struct LagLog {
    last: std::sync::Mutex<Option<Instant>>,
    waits: std::sync::Mutex<Vec<u64>>,
}

/// Buckets of [`LagLog::waits`], 10 ms each; the last holds everything later.
const LAG_BUCKETS: usize = 1001;

impl LagLog {
    /// The 99th percentile of the lags noted, in milliseconds (10 ms steps).
    fn p99_ms(&self) -> Option<u64> {
        let waits = self.waits.lock().ok()?;
        let total: u64 = waits.iter().sum();
        let rank = total.checked_sub(1)? * 99 / 100;
        let mut seen = 0;
        waits.iter().enumerate().find_map(|(i, n)| {
            seen += n;
            (seen > rank).then_some(i as u64 * 10)
        })
    }

    fn note(&self, probe: &Probe, waited: Duration) {
        if let Ok(mut waits) = self.waits.lock() {
            if waits.is_empty() {
                waits.resize(LAG_BUCKETS, 0);
            }
            let i = usize::try_from(waited.as_millis() / 10)
                .unwrap_or(usize::MAX)
                .min(LAG_BUCKETS - 1);
            waits[i] += 1;
        }
        if waited < Duration::from_secs(1) && waited < probe.interval / 4 {
            return;
        }
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(60)) {
            return;
        }
        *last = Some(Instant::now());
        tracing::warn!(
            probe = %probe.id,
            waited_ms = waited.as_millis() as u64,
            "the worker cannot keep up with its schedule: checks wait for a free slot; raise --concurrency or lengthen intervals"
        );
    }
}

/// The probe and sample of a finished check task. A check that panicked (a bug) becomes an
/// "unknown" sample, so its probe keeps being scheduled.
fn finished(
    done: Result<(Id, Sample), JoinError>,
    task_probe: &mut HashMap<Id, usize>,
) -> Option<(usize, Sample)> {
    match done {
        Ok((id, sample)) => task_probe.remove(&id).map(|i| (i, sample)),
        Err(e) => {
            let i = task_probe.remove(&e.id())?;
            if !e.is_panic() {
                return None;
            }
            tracing::error!("a check panicked: {e}");
            Some((
                i,
                Sample::new(
                    Utc::now(),
                    Health::Unknown,
                    "internal error: the check crashed; please report this as a pharos bug"
                        .to_string(),
                ),
            ))
        }
    }
}

fn read(state: &RwLock<RegionState>) -> std::sync::RwLockReadGuard<'_, RegionState> {
    state.read().unwrap_or_else(|e| e.into_inner())
}

fn write(state: &RwLock<RegionState>) -> std::sync::RwLockWriteGuard<'_, RegionState> {
    state.write().unwrap_or_else(|e| e.into_inner())
}

/// What of a probe's state is news to the builder: its confirmed health, the runs that
/// may change it, and the newest sample's health.
fn news_of(
    state: &RegionState,
    id: &str,
) -> Option<(
    Option<crate::state::Transition>,
    crate::state::history::Hysteresis,
    crate::state::Health,
)> {
    let p = state.probes.get(id)?;
    Some((p.confirmed().copied(), p.pending, p.last.health))
}

/// Add a sample of `probe` to the state.
fn record(state: &mut RegionState, probe: &Probe, sample: Sample) {
    tracing::debug!(probe = %probe.id, health = sample.health.as_str(), detail = %sample.detail, "sample");
    state.record(
        &probe.id,
        probe.kind.word().as_str(),
        &probe.kind.target(),
        &crate::state::history::Policy::from(probe),
        sample,
    );
}

/// The store opened (or refused for good), when it is being opened.
async fn opened(opening: &mut Option<Opening<'_>>) -> Result<(Writer, Option<RegionState>)> {
    match opening {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// Sleep until `at`, or forever without one.
async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn probes() -> Vec<Probe> {
        let components = "page:\n  title: T\n  base_url: https://s.test\ncomponents:\n  - id: web\n    name: W\n";
        let probes = "regions:\n  - name: r1\nprobes:\n  - id: p\n    kind: tcp\n    host: 127.0.0.1\n    port: 9\n    components: [web]\n    interval: 30s\n";
        let examined = crate::config::examine_texts(components, probes);
        assert!(examined.problems.is_empty(), "{:?}", examined.problems);
        examined.probing.map(|p| p.probes).unwrap_or_default()
    }

    fn sample(minute: u32) -> Sample {
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 12, minute, 0).unwrap();
        let mut s = Sample::new(at, Health::Up, "open".into());
        s.latency_ms = Some(1.0);
        s
    }

    fn kept(probe: &str, minute: u32) -> Spooled {
        Spooled {
            probe: probe.into(),
            sample: sample(minute),
        }
    }

    #[test]
    fn the_summary_gives_the_99th_percentile_of_the_lag() {
        let log = LagLog::default();
        assert_eq!(log.p99_ms(), None);
        let probe = &probes()[0];
        for _ in 0..99 {
            log.note(probe, Duration::from_millis(4));
        }
        log.note(probe, Duration::from_secs(3));
        assert_eq!(
            log.p99_ms(),
            Some(0),
            "one late check in 100 is the 100th percentile"
        );
        log.note(probe, Duration::from_secs(30));
        assert_eq!(log.p99_ms(), Some(3000));
        for _ in 0..10 {
            log.note(probe, Duration::from_secs(30));
        }
        assert_eq!(
            log.p99_ms(),
            Some(10_000),
            "beyond 10 s all is in the last bucket"
        );
    }

    #[test]
    fn adopting_records_what_the_store_lacks_once_and_only_for_configured_probes() {
        let probes = probes();
        let opts = Options::new("r1");
        let checks = |s: &RegionState| -> u32 {
            s.probes
                .get("p")
                .map_or(0, |p| p.history.daily.checks.iter().sum())
        };
        // The store holds the samples up to minute 2.
        let mut stored = RegionState::new("r1", sample(2).at);
        for minute in [1, 2] {
            record(&mut stored, &probes[0], sample(minute));
        }
        // Kept for the store: minute 2 again (a write that seemed to fail had landed),
        // minutes 3 and 4, and a probe no longer configured.
        let unsaved = Unsaved::from(vec![
            kept("p", 2),
            kept("gone", 3),
            kept("p", 3),
            kept("p", 4),
        ]);
        let state = adopt(Some(stored), &probes, &unsaved, &opts);
        assert_eq!(checks(&state), 4, "minutes 1 to 4, each once");
        assert_eq!(state.probes.get("p").map(|p| p.last.at), Some(sample(4).at));
        assert!(!state.probes.contains_key("gone"));
        // With nothing in the store, every kept sample is the history.
        let fresh = adopt(None, &probes, &unsaved, &opts);
        assert_eq!(checks(&fresh), 3);
    }
}
