//! `pharos alert`: one evaluation of the `alerts:` rules in probes.yaml against the merged
//! verdict of every region, delivering each target's events once (see the `alert`
//! module); `--test TARGET` sends a marked test event. For cron; `watch --alert` runs it
//! after every read of new state.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Args as ClapArgs;

use super::Exit;
use crate::alert::{self, Action, Event};
use crate::announce::LedgerFile;
use crate::announce::send::PageInfo;
use crate::pipeline::{Clock, Snapshot};
use crate::project::Project;
use crate::status::Status;

/// Options of `alert`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Decide as of this time (RFC 3339) instead of the clock.
    #[arg(long, env = "PHAROS_NOW", value_name = "TIME")]
    pub now: Option<DateTime<Utc>>,
    /// Show what each target would be told; send and record nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Send one clearly marked test event to this target (its id under `alerts:
    /// targets:`), to check its address and credentials; nothing is recorded.
    #[arg(long, value_name = "TARGET")]
    pub test: Option<String>,
}

/// Run `alert`.
pub fn run(args: Args, project: &Project) -> Result<ExitCode> {
    let now = Clock::at(args.now).now;
    let snapshot = Snapshot::load(project)?;
    let alerts = &snapshot.config.probing.alerts;
    if alerts.targets.is_empty() {
        if let Some(id) = &args.test {
            bail!("--test {id}: probes.yaml has no `alerts: targets:` (see README, Alerting)");
        }
        outln!("no alert targets: add `alerts: targets:` to probes.yaml (see README, Alerting)");
        return Ok(ExitCode::SUCCESS);
    }
    let page = PageInfo::of(&snapshot.config.site.page);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if let Some(id) = &args.test {
        let site = (
            snapshot.config.site.announce.as_slice(),
            project.root.as_path(),
        );
        return runtime.block_on(test(site, alerts, id, &page, now));
    }
    if args.dry_run {
        let seen = alert::seen(&snapshot.decide(now).components);
        let mut file = runtime.block_on(LedgerFile::open_in(&project.store()?))?;
        for t in &alerts.targets {
            let book = file.ledger.alerts.entry(t.id.clone()).or_default();
            let waiting = book.outbox.len();
            let paging = alert::round::paging(alerts, &t.id, &seen.troubles, now);
            let planned = alert::plan(&t.id, &paging, &seen.silent, book, &alerts.pace, now);
            outln!("{}: {} event(s) to send", t.id, waiting + planned.len());
            for e in book.outbox.iter() {
                outln!("  {}  {}", e.action.as_str(), alert::send::summary(e));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let outcomes = evaluate(project, &snapshot, now)?;
    Ok(if print(&outcomes) {
        ExitCode::SUCCESS
    } else {
        Exit::Failed.into()
    })
}

/// One evaluation of `snapshot` at `now`, as `pharos alert` makes it (`watch --alert`).
pub(crate) fn evaluate(
    project: &Project,
    snapshot: &Snapshot,
    now: DateTime<Utc>,
) -> Result<Vec<alert::round::Outcome>> {
    let alerts = &snapshot.config.probing.alerts;
    if alerts.targets.is_empty() {
        return Ok(Vec::new());
    }
    let page = PageInfo::of(&snapshot.config.site.page);
    let seen = alert::seen(&snapshot.decide(now).components);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(async {
            let mut file = LedgerFile::open_in(&project.store()?).await?;
            let site = (
                snapshot.config.site.announce.as_slice(),
                project.root.as_path(),
            );
            alert::round::run(site, alerts, &seen, &page, &mut file, now).await
        })
}

/// A line per event delivered and per target that failed; whether none failed.
pub(crate) fn print(outcomes: &[alert::round::Outcome]) -> bool {
    let mut ok = true;
    for o in outcomes {
        for e in &o.delivered {
            outln!(
                "{}: {} {} — {}",
                o.target,
                e.action.as_str(),
                e.key,
                alert::send::summary(e)
            );
        }
        if let Some(err) = &o.error {
            ok = false;
            super::err_line(format_args!(
                "{}: {err} ({} event(s) wait; tried again after a back-off)",
                o.target, o.waiting
            ));
        }
    }
    ok
}

/// Send a marked test event to target `id`.
async fn test(
    site: (&[crate::config::Target], &std::path::Path),
    alerts: &crate::config::Alerts,
    id: &str,
    page: &PageInfo,
    now: DateTime<Utc>,
) -> Result<ExitCode> {
    let Some(target) = alerts.targets.iter().find(|t| t.id == id) else {
        let ids: Vec<&str> = alerts.targets.iter().map(|t| t.id.as_str()).collect();
        bail!(
            "--test {id}: no such alert target; use one of: {}",
            ids.join(", ")
        );
    };
    let ready = alert::send::ready(target, site.0, site.1)?;
    let event = Event {
        id: format!("pharos-test-{}", fastrand::u64(..)),
        key: "pharos-test".into(),
        action: Action::Test,
        status: Status::Operational,
        previous: None,
        root: vec!["test".into()],
        components: Vec::new(),
        regions: Vec::new(),
        since: None,
        at: now,
    };
    let client = crate::announce::send::client()?;
    match alert::send::deliver(&client, &ready, page, &event).await {
        Ok(()) => {
            outln!("{id}: test event sent ({})", alert::send::summary(&event));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            super::err_line(format_args!("{e}"));
            Ok(Exit::Failed.into())
        }
    }
}
