//! `pharos announce`: send every feed item not yet announced to the targets in
//! components.yaml's `announce:`, exactly once each, as recorded in the ledger.

use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::Args as ClapArgs;

use crate::announce::{self, LedgerFile, send::PageInfo};
use crate::project::Project;
use crate::render::feeds;

/// Options of `announce`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Announce as of this time (RFC 3339) instead of the clock.
    #[arg(long, env = "PHAROS_NOW", value_name = "TIME")]
    pub now: Option<DateTime<Utc>>,
    /// Show what would be sent to each target; send nothing, record nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Run `announce`.
pub fn run(args: Args, project: &Project) -> Result<ExitCode> {
    let now = args.now.unwrap_or_else(Utc::now);
    let (config, incidents, states) = super::build::load(project)?;
    let targets = &config.site.announce;
    if targets.is_empty() {
        outln!(
            "no targets: add an `announce:` list to components.yaml (see README, Announcements)"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (items, info) = items_and_page(&config, &incidents, &states, now);
    let mut file = LedgerFile::open(&project.state_dir())?;
    if args.dry_run {
        for t in targets {
            let entry = file
                .ledger
                .targets
                .get(&t.id)
                .cloned()
                .unwrap_or(announce::TargetLedger {
                    since: now - chrono::Duration::hours(announce::BACKFILL_HOURS),
                    sent: Default::default(),
                    pending: Default::default(),
                });
            let due = announce::due(&items, &entry, now);
            outln!("{}: {} item(s) to send", t.id, due.len());
            for i in due {
                outln!(
                    "  {}  {}",
                    i.published
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    i.title
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    Ok(
        if send_and_report(project, targets, &info, &items, &mut file, now)? {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

/// Announce what is due as of `now`, printing a line per target; `Ok(false)` when a
/// target failed (the rest goes out next time). For `watch --announce`.
pub fn once(project: &Project, now: DateTime<Utc>) -> Result<bool> {
    let (config, incidents, states) = super::build::load(project)?;
    if config.site.announce.is_empty() {
        return Ok(true);
    }
    let (items, info) = items_and_page(&config, &incidents, &states, now);
    let mut file = LedgerFile::open(&project.state_dir())?;
    send_and_report(
        project,
        &config.site.announce,
        &info,
        &items,
        &mut file,
        now,
    )
}

/// Every feed item (posts and detected outages) and the page they belong to.
fn items_and_page(
    config: &crate::config::Config,
    incidents: &[crate::incident::Incident],
    states: &[crate::state::RegionState],
    now: DateTime<Utc>,
) -> (Vec<feeds::Item>, PageInfo) {
    let (_, detected) = super::build::history(config, states, incidents, now);
    let page = &config.site.page;
    let mut items = feeds::items(&page.base_url, incidents, now);
    items.extend(feeds::detected_items(config, &detected, now));
    let info = PageInfo {
        title: page.title.clone(),
        url: format!("{}/", page.base_url),
    };
    (items, info)
}

fn send_and_report(
    project: &Project,
    targets: &[crate::config::Target],
    info: &PageInfo,
    items: &[feeds::Item],
    file: &mut LedgerFile,
    now: DateTime<Utc>,
) -> Result<bool> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcomes = runtime.block_on(announce::run(
        &project.root,
        targets,
        info,
        items,
        file,
        now,
    ))?;
    let mut failed = false;
    for o in &outcomes {
        match &o.error {
            None => outln!("{}: sent {} item(s)", o.target, o.sent),
            Some(e) => {
                failed = true;
                outln!("{}: sent {} item(s), then stopped", o.target, o.sent);
                eprintln!("error: {e}; the rest is sent on the next run");
            }
        }
    }
    Ok(!failed)
}
