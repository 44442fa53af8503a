//! Step 2 (probe) over time: the worker of one region. It owns the region's state file
//! (lock, load, record, atomic write), schedules each probe at its interval with jitter,
//! bounds concurrency, and stops cleanly on a signal.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Result, bail};
use chrono::Utc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Ctx;
use crate::config::{Probe, Probing};
use crate::state::object::WriteError;
use crate::state::store::{Store, Writer};
use crate::state::{Health, RegionState, Sample};

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
    if !probing.regions.iter().any(|r| r.name == opts.region) {
        let known: Vec<&str> = probing.regions.iter().map(|r| r.name.as_str()).collect();
        bail!(
            "region \"{}\" is not listed in probes.yaml; use one of: {}",
            opts.region,
            known.join(", ")
        );
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

    let (writer, state) = store
        .open(&opts.region, opts.lease, opts.move_aside)
        .await?;
    let keepalive = writer.keepalive(opts.lease);
    let mut state = state.unwrap_or_else(|| RegionState::new(&opts.region, Utc::now()));
    let ids: Vec<&str> = probes.iter().map(|p| p.id.as_str()).collect();
    state.retain_probes(&ids);
    // One state, shared with the metrics endpoint; only this loop writes it.
    let state = Arc::new(RwLock::new(state));
    let _metrics = match opts.metrics {
        Some(addr) => Some(super::metrics::serve(addr, state.clone()).await?),
        None => None,
    };

    let probes: Arc<Vec<Probe>> = Arc::new(probes);
    let ctx = Arc::new(ctx);
    let permits = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    // One semaphore per target host, so many probes of one site never hit it at once.
    let mut host_permits: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let per_host: Vec<Option<Arc<Semaphore>>> = probes
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
    let lag = Arc::new(LagLog::default());
    let mut running: JoinSet<Sample> = JoinSet::new();
    let mut task_probe: HashMap<tokio::task::Id, usize> = HashMap::new();
    let mut busy = vec![false; probes.len()];
    let mut summary = Summary::default();

    // Each probe has a fixed grid: its first run at a random offset within a fifth of its
    // interval (at most 1 s), then every interval. Each run adds a small jitter that does
    // not accumulate, so probes and regions do not fire together and do not drift.
    let start = Instant::now();
    let started_at = Utc::now();
    let mut due: BinaryHeap<Reverse<Slot>> = BinaryHeap::new();
    for (i, p) in probes.iter().enumerate() {
        let offset = if opts.once {
            Duration::ZERO
        } else {
            p.interval
                .min(Duration::from_secs(5))
                .mul_f64(fastrand::f64() * 0.2)
        };
        let base = start + offset;
        due.push(Reverse(Slot {
            at: base,
            base,
            probe: i,
        }));
    }
    let mut remaining_once = probes.len();
    // A state write runs beside the schedule, so checks keep starting on time. The writer
    // travels with it and comes back when it is done; samples that finish meanwhile are
    // held (the write is reading the state) and recorded after it.
    let mut writer = Some(writer);
    let mut writing: Option<tokio::task::JoinHandle<(Writer, Result<(), WriteError>)>> = None;
    let mut held: Vec<(usize, Sample)> = Vec::new();
    let mut dirty = false;
    let mut last_write = Instant::now()
        .checked_sub(opts.flush_every)
        .unwrap_or_else(Instant::now);
    tokio::pin!(stop);

    loop {
        if opts.once && remaining_once == 0 && running.is_empty() {
            break;
        }
        let next_due = due.peek().map(|Reverse(slot)| slot.at);
        // Unsaved samples wait at most `flush_every`; with object storage a write also
        // comes at least every `keepalive`, news or not, so a starting worker sees this
        // one alive.
        let write_within = if dirty {
            Some(keepalive.map_or(opts.flush_every, |k| k.min(opts.flush_every)))
        } else {
            keepalive
        };
        let flush_at = if opts.once || writing.is_some() {
            None
        } else {
            write_within.map(|w| last_write + w)
        };
        tokio::select! {
                    _ = &mut stop => break,
                    _ = sleep_until_opt(next_due) => {
                        let now = Instant::now();
                        while let Some(Reverse(slot)) = due.peek().copied() {
                            if slot.at > now { break; }
                            due.pop();
                            let i = slot.probe;
                            let probe = &probes[i];
                            if opts.once {
                                remaining_once -= 1;
                            } else {
                                due.push(Reverse(next_slot(slot, probe.interval, now)));
                            }
                            if busy[i] {
                                tracing::warn!(probe = %probe.id, "previous check still running; skipping this round");
                                continue;
                            }
                            busy[i] = true;
        let (probes, ctx, permits) = (probes.clone(), ctx.clone(), permits.clone());
                            let run = super::RunInfo {
                        region: opts.region.clone(),
                        previous: read(&state).probes.get(&probe.id).map(|p| p.last.health),
                        since: started_at,
                    };
                            let host = per_host[i].clone();
                    let (lag, due_at) = (lag.clone(), slot.at);
                    let handle = running.spawn(async move {
                        let _host = match host {
                            Some(h) => h.acquire_owned().await.ok(),
                            None => None,
                        };
                        let _permit = permits.acquire_owned().await;
                        lag.note(&probes[i], due_at.elapsed());
                        super::check(&probes[i], &ctx, &run).await
                    });
                            task_probe.insert(handle.id(), i);
                        }
                    }
                    Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                        if let Some((i, sample)) = finished(done, &mut task_probe) {
                            busy[i] = false;
                            if writing.is_some() {
                                held.push((i, sample));
                            } else {
                                record(&mut write(&state), &probes[i], sample);
                                dirty = true;
                            }
                            summary.samples += 1;
                        }
                    }
                    done = join_write(&mut writing), if writing.is_some() => {
                        writing = None;
                        writer = Some(written(done, &mut summary, &mut dirty)?);
                        for (i, sample) in held.drain(..) {
                            record(&mut write(&state), &probes[i], sample);
                            dirty = true;
                        }
                    }
                    _ = sleep_until_opt(flush_at), if flush_at.is_some() => {}
                }
        let due = write_within.is_some_and(|w| last_write.elapsed() >= w);
        if due
            && !opts.once
            && writing.is_none()
            && let Some(mut w) = writer.take()
        {
            last_write = Instant::now();
            // What the write takes is saved unless it fails (then `written` says so).
            dirty = false;
            let state = state.clone();
            writing = Some(tokio::spawn(async move {
                let result = flush(&state, &mut w).await;
                (w, result)
            }));
        }
    }
    // A write in flight ends first, then what it held is recorded.
    if let Some(handle) = writing.take() {
        let done = handle.await;
        writer = Some(written(done, &mut summary, &mut dirty)?);
        for (i, sample) in held.drain(..) {
            record(&mut write(&state), &probes[i], sample);
        }
    }
    let Some(mut writer) = writer else {
        bail!("internal error: the state writer was lost");
    };

    // Stop: let in-flight checks finish within the grace, then abandon the rest.
    let grace = tokio::time::sleep(opts.stop_grace);
    tokio::pin!(grace);
    while !running.is_empty() {
        tokio::select! {
            Some(done) = running.join_next_with_id() => {
                if let Some((i, sample)) = finished(done, &mut task_probe) {
                    record(&mut write(&state), &probes[i], sample);
                    summary.samples += 1;
                }
            }
            _ = &mut grace => {
                summary.abandoned = running.len();
                running.abort_all();
                break;
            }
        }
    }
    flush(&state, &mut writer).await?;
    summary.writes += 1;
    {
        let state = state.read().unwrap_or_else(|e| e.into_inner());
        for p in probes.iter() {
            let run = state
                .probes
                .get(&p.id)
                .and_then(|s| s.pending.newest_run(p.confirm, p.recover));
            if let Some((_, needed)) = run {
                summary.unconfirmed += 1;
                summary.rounds_needed = summary.rounds_needed.max(needed);
            }
        }
    }
    Ok(summary)
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

/// Says, at most once a minute, that checks start late because every slot is busy.
#[derive(Default)]
struct LagLog {
    last: std::sync::Mutex<Option<Instant>>,
}

impl LagLog {
    fn note(&self, probe: &Probe, waited: Duration) {
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

/// One scheduled run: when, the grid point it belongs to, and which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Slot {
    at: Instant,
    base: Instant,
    probe: usize,
}

/// The run after `slot`: the next grid point not in the past (rounds missed while the
/// worker was stopped or starved are skipped, not replayed), plus up to 2 % jitter.
fn next_slot(slot: Slot, interval: Duration, now: Instant) -> Slot {
    let mut base = slot.base + interval;
    if base < now {
        let behind = now - base;
        let missed = (behind.as_nanos() / interval.as_nanos().max(1)) as u32 + 1;
        base += interval * missed;
        tracing::warn!(
            behind_ms = behind.as_millis() as u64,
            missed,
            "the worker fell behind its schedule; skipping missed rounds"
        );
    }
    let jitter = interval
        .min(Duration::from_secs(50))
        .mul_f64(fastrand::f64() * 0.02);
    Slot {
        at: base + jitter,
        base,
        probe: slot.probe,
    }
}

/// The probe and sample of a finished check task. A check that panicked (a bug) becomes an
/// "unknown" sample, so its probe keeps being scheduled.
fn finished(
    done: Result<(tokio::task::Id, Sample), tokio::task::JoinError>,
    task_probe: &mut HashMap<tokio::task::Id, usize>,
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

/// Wait for the state write in flight (the caller polls this only when there is one).
async fn join_write(
    writing: &mut Option<tokio::task::JoinHandle<(Writer, Result<(), WriteError>)>>,
) -> Result<(Writer, Result<(), WriteError>), tokio::task::JoinError> {
    match writing {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
}

/// The writer back from a finished write, with the write counted, or marked to be tried
/// again when the store was unreachable or full. A fatal failure stops the worker.
fn written(
    done: Result<(Writer, Result<(), WriteError>), tokio::task::JoinError>,
    summary: &mut Summary,
    dirty: &mut bool,
) -> Result<Writer> {
    let (writer, result) =
        done.map_err(|e| anyhow::anyhow!("internal error: writing the state crashed: {e}"))?;
    match result {
        Ok(()) => summary.writes += 1,
        // Unreachable store or full disk: keep probing, try again at the next write.
        Err(WriteError::Failed(e)) => {
            tracing::warn!("{e:#}; will try again");
            *dirty = true;
        }
        Err(e @ WriteError::Fatal(_)) => return Err(e.into()),
    }
    Ok(writer)
}

/// Stamp and write the state.
async fn flush(state: &Arc<RwLock<RegionState>>, writer: &mut Writer) -> Result<(), WriteError> {
    write(state).written_at = Utc::now();
    writer.write(state).await
}

fn record(state: &mut RegionState, probe: &Probe, sample: Sample) {
    tracing::debug!(probe = %probe.id, health = sample.health.as_str(), detail = %sample.detail, "sample");
    state.record(
        &probe.id,
        probe.kind.word().as_str(),
        &probe.kind.target(),
        &probe.history_policy(),
        sample,
    );
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
