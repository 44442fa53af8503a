//! `pharos probe --region R`: run one region's worker until SIGINT/SIGTERM, or one round
//! with `--once`. Writes the region's live object and day pieces (`state/<region>/`).

use std::net::IpAddr;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args as ClapArgs;

use crate::config;
use crate::probe::{Ctx, worker};
use crate::project::Project;

/// Options of `probe`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The region this worker probes from (a name under `regions:` in probes.yaml).
    #[arg(long, env = "PHAROS_REGION")]
    pub region: String,
    /// Run every probe once, write the state file and exit.
    #[arg(long)]
    pub once: bool,
    /// If this region's state file is damaged (not a pharos state file, or another
    /// region's), rename it to `<file>.damaged-<time>` and start afresh. Without it the
    /// worker refuses to start rather than overwrite it.
    #[arg(long)]
    pub move_aside: bool,
    /// Most checks in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Most checks in flight against one host at once.
    #[arg(long, default_value_t = 8)]
    pub per_host: usize,
    /// Shortest time between two writes of the state file while running (it is always
    /// written at stop).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub write_every: std::time::Duration,
    /// Serve Prometheus metrics (blackbox_exporter names) on this address at /metrics.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Accept heartbeats for push probes over HTTP on this address (POST /heartbeat/<probe>).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Local address to send probes from (for hosts with an address per region).
    #[arg(long, value_name = "IP")]
    pub source_ip: Option<IpAddr>,
    /// Where to keep, at stop, the samples a store that cannot be reached does not hold
    /// yet; the next worker of the region writes them. Default: `.pharos/spool` in the
    /// project.
    #[arg(long, env = "PHAROS_SPOOL", value_name = "DIR")]
    pub spool: Option<std::path::PathBuf>,
}

/// Run `probe`.
pub fn run(args: Args, project: &Project) -> Result<ExitCode> {
    let config = config::load(&project.components_file(), &project.probes_file())
        .map_err(|p| anyhow::anyhow!("{p}\nrun `pharos check` for details"))?;
    let store = project.store()?;
    let mut opts = worker::Options::new(&args.region);
    // On object storage a live worker writes at least every half lease: 10 s by default,
    // 8,640 small PUTs a day.
    opts.lease = (args.write_every * 10).clamp(
        std::time::Duration::from_secs(2),
        std::time::Duration::from_secs(60),
    );
    opts.once = args.once;
    opts.move_aside = args.move_aside;
    opts.concurrency = args.concurrency;
    opts.flush_every = args.write_every;
    opts.metrics = args.metrics;
    opts.per_host = args.per_host;
    opts.spool_dir = args
        .spool
        .unwrap_or_else(|| project.root.join(".pharos").join("spool"));
    // One thread runs the schedule and every check. A check hands off to no other
    // thread (a plugin run costs about a fifth less CPU than on a multi-thread runtime,
    // where each check woke a worker thread and its end woke the scheduler back), and
    // one core does thousands of checks a second. What could stall that thread and skew
    // the timings of checks in flight, the state's serialisation and fsync and a
    // heartbeat's fsync, runs on the blocking pool.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let summary = runtime.block_on(async {
        let stop = stop_signal();
        let mut ctx = Ctx::new(args.source_ip)?;
        let probes: Vec<_> = worker::probes_for(&config.probing, &args.region)
            .into_iter()
            .cloned()
            .collect();
        ctx.load_ca_files(&probes, &project.root)?;
        ctx.withhold_secrets(&config.probing.probes);
        let heartbeats = crate::probe::push::heartbeat_dir(&project.state_dir());
        ctx.heartbeat_dir = Some(heartbeats.clone());
        let _listener = match args.listen {
            Some(addr) => Some(crate::probe::listen::serve(addr, &probes, heartbeats).await?),
            None => None,
        };
        let probes = worker::probes_for(&config.probing, &args.region).len();
        tracing::info!(region = %args.region, probes, "prober started");
        worker::run(&config.probing, &store, ctx, &opts, stop).await
    })?;
    let kept = match &summary.spooled {
        Some(spool) => format!("the store was away: samples kept in {}", spool.display()),
        None => format!("state written to {}", store.shown(&args.region)),
    };
    tracing::info!(
        samples = summary.samples,
        writes = summary.writes,
        abandoned = summary.abandoned,
        lag_p99_ms = summary.lag_p99_ms.unwrap_or_default(),
        "prober stopped; {kept}"
    );
    if args.once && summary.spooled.is_some() {
        // A round that did not reach the store is not done: cron and CI should know.
        return Ok(crate::cmd::Exit::Failed.into());
    }
    if args.once && summary.unconfirmed > 0 {
        // One round confirms nothing new: say so, or the page's "up" reads as a lie.
        eprintln!(
            "note: {} of the checks saw a change that is not confirmed yet; a change shows once it holds {} rounds (`confirm`, `recover`). Run `--once` again, or run the worker without --once to keep checking.",
            summary.unconfirmed, summary.rounds_needed
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called (in the
/// runtime), so a signal that comes while the store is still being opened is kept, not
/// fatal to the process.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let (term, int) = (
        signal(SignalKind::terminate()).ok(),
        signal(SignalKind::interrupt()).ok(),
    );
    async move {
        let wait = |s: Option<tokio::signal::unix::Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = wait(term) => {}
            () = wait(int) => {}
        }
        tracing::info!("stop requested; finishing checks in flight");
    }
}
