//! `pharos watch`: rebuild the site whenever the configuration, an incident, a region's
//! state or the theme changes (see `pipeline::watch`), optionally publishing and then
//! announcing after each good rebuild.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::Args as ClapArgs;

use crate::pipeline::{self, Clock, Report};
use crate::project::Project;

/// Options of `watch`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// After each rebuild, send new feed items to the `announce:` targets (as `pharos
    /// announce` does, once each).
    #[arg(long)]
    pub announce: bool,
    /// After each rebuild, send the site to the `publish:` targets (as `pharos publish`
    /// does), before any announcement, so the links announced are already there.
    #[arg(long)]
    pub publish: bool,
    /// Page the `alerts:` targets of probes.yaml (as `pharos alert` does) as soon as a
    /// change is read, before the rebuild, and at least every 15 s.
    #[arg(long)]
    pub alert: bool,
    /// Build (and announce) as of this time (RFC 3339) instead of the clock.
    #[arg(long, env = "PHAROS_NOW", value_name = "TIME")]
    pub now: Option<DateTime<Utc>>,
    /// With --publish or --announce: the builder lease's period. Of several builders on
    /// the same state, the lease holder publishes and announces; the others build and
    /// stand by, and one takes over within about a period after the holder stops.
    #[arg(long, value_name = "DURATION", default_value = "15s")]
    pub lease: humantime::Duration,
    /// With --publish: the least time between two publishes. A rebuild sooner than that
    /// (a worker's write every few seconds) goes out when it is due, with the next
    /// announcements; every page shows when it was built, so each publish sends the pages
    /// that show the time again.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub publish_every: humantime::Duration,
}

/// How often `--alert` evaluates without a change (a recovery's hold runs out, a failed
/// delivery's back-off ends).
const ALERT_EVERY: Duration = Duration::from_secs(15);

/// Run `watch`.
pub fn run(args: Args, project: &Project) -> Result<ExitCode> {
    // SIGTERM (systemd, a container runtime) or Ctrl-C: stop after the step under way,
    // never in the middle of a publish or an announcement.
    let stop = super::stop_on_signal()?;
    let mut keep = pipeline::Rebuild::default();
    let clock = Clock::at(args.now);
    let outward = args.publish || args.announce || args.alert;
    // The lease is kept on a thread of its own, so a long publish never delays its
    // renewal; the loop reads what it last found. Once the loop has stopped, the thread
    // releases the lease, so a standby takes over at once rather than a period later.
    let holding = Arc::new(AtomicBool::new(false));
    let stopped = Arc::new(AtomicBool::new(false));
    let mut lease_thread = None;
    if outward {
        let mut lease = pipeline::lease::Lease::new(project, args.lease.into())?;
        holding.store(lease.is_active(), Ordering::SeqCst);
        let (holding, stopped) = (holding.clone(), stopped.clone());
        lease_thread = Some(
            std::thread::Builder::new()
                .name("lease".into())
                .spawn(move || {
                    while !stopped.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(200));
                        holding.store(lease.is_active(), Ordering::SeqCst);
                    }
                    lease.release();
                })
                .context("starting the lease thread")?,
        );
    }
    let active = || holding.load(Ordering::SeqCst);
    // Publish, then announce what the published pages show: whether it went out (an
    // announcement waits while no target got the site).
    let outward_steps = || {
        if args.publish && !publish(project, clock.again().now) {
            return false;
        }
        if !args.announce || !active() {
            return true;
        }
        let sent = crate::pipeline::Snapshot::load(project)
            .and_then(|s| pipeline::announce(project, &s, clock.again().now));
        match sent {
            Ok(outcomes) => {
                super::print_outcomes(&outcomes);
            }
            Err(e) => super::err_line(format_args!("error: announcing: {e:#}")),
        }
        true
    };
    // Whether this builder acted at its last look, whether a rebuild waits to go out,
    // and when the last publish went.
    let acted = std::cell::Cell::new(false);
    let waiting = std::cell::Cell::new(false);
    let last_publish = std::cell::Cell::new(None::<Instant>);
    let every: Duration = args.publish_every.into();
    let go_out = || {
        let now = Instant::now();
        if args.publish && !crate::publish::due(last_publish.get(), now, every) {
            return;
        }
        last_publish.set(Some(now));
        if outward_steps() {
            waiting.set(false);
        }
    };
    let after_build = |result: &Result<Report>| {
        if result.is_ok() && outward {
            waiting.set(true);
            if active() {
                acted.set(true);
                go_out();
            }
        }
    };
    // A builder that takes the lease over publishes and announces at once, whatever it
    // built last; a rebuild held back by --publish-every goes out when due.
    let alerting = Alerting::default();
    let keep_going = |step: pipeline::watch::Step| {
        if stop.load(Ordering::SeqCst) {
            outln!("stopping");
            return false;
        }
        if args.alert && active() && (step == pipeline::watch::Step::Rebuilding || alerting.due()) {
            alerting.round(project, clock);
        }
        if step == pipeline::watch::Step::Rebuilding {
            return true;
        }
        let now = outward && active();
        if now && (!acted.get() || waiting.get()) {
            waiting.set(true);
            go_out();
        }
        acted.set(now);
        true
    };
    let watched = pipeline::watch::rebuild_on_change(
        project,
        &mut keep,
        |keep| {
            // Pages first: a builder that starts (or takes over) mid-outage must not
            // make the on-call wait for a whole build.
            if args.alert && active() {
                alerting.round(project, clock);
            }
            let options = pipeline::Options {
                keep: Some(keep),
                progress: None,
            };
            let first = pipeline::build(project, clock, options);
            super::report_rebuild(&first, Duration::ZERO);
            after_build(&first);
            outln!(
                "watching {} for changes (Ctrl-C to stop)",
                project.root.display()
            );
        },
        keep_going,
        clock,
        |result, since| {
            super::report_rebuild(result, since);
            after_build(result);
        },
    );
    stopped.store(true, Ordering::SeqCst);
    if let Some(thread) = lease_thread {
        let _ = thread.join();
    }
    watched?;
    Ok(ExitCode::SUCCESS)
}

/// `--alert`: alerts read the state on their own (only what changed since their last
/// read), so they go out before a rebuild, not after it.
#[derive(Default)]
struct Alerting {
    cache: std::cell::RefCell<pipeline::Cache>,
    last: std::cell::Cell<Option<Instant>>,
}

impl Alerting {
    /// Whether an evaluation is due without a change.
    fn due(&self) -> bool {
        self.last.get().is_none_or(|t| t.elapsed() >= ALERT_EVERY)
    }

    /// One evaluation, its lines printed.
    fn round(&self, project: &Project, clock: Clock) {
        self.last.set(Some(Instant::now()));
        let outcomes = pipeline::Snapshot::load_cached(project, &mut self.cache.borrow_mut())
            .and_then(|s| super::alert::evaluate(project, &s, clock.again().now));
        match outcomes {
            Ok(o) => {
                super::alert::print(&o);
            }
            Err(e) => super::err_line(format_args!("error: alerting: {e:#}")),
        }
    }
}

/// Publish the site just built to the `publish:` targets, as components.yaml now lists
/// them; whether any target got it.
fn publish(project: &Project, now: DateTime<Utc>) -> bool {
    match crate::config::load(&project.components_file(), &project.probes_file()) {
        Ok(config) if config.site.publish.is_empty() => {
            super::err_line(format_args!(
                "error: --publish, but components.yaml has no `publish:` targets"
            ));
            false
        }
        Ok(config) => {
            let options = crate::publish::send::Options {
                dry_run: false,
                keep_removed: chrono::Duration::from_std(crate::publish::KEEP_REMOVED)
                    .unwrap_or_default(),
                now,
            };
            super::publish::send(project, &config.site.publish, &options).went_out > 0
        }
        Err(e) => {
            super::err_line(format_args!("error: publishing: {e:#}"));
            false
        }
    }
}
