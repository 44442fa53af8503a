//! `pharos announce`: send every feed item not yet announced to the targets in
//! components.yaml's `announce:`, exactly once each, as recorded in the ledger (see the
//! `announce` module).

use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Args as ClapArgs;

use super::Exit;
use crate::announce::{self, LedgerFile};
use crate::pipeline::{self, Clock, Snapshot};
use crate::project::Project;

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
    let now = Clock::at(args.now).now;
    let snapshot = Snapshot::load(project)?;
    if snapshot.config.site.announce.is_empty() {
        outln!(
            "no targets: add an `announce:` list to components.yaml (see README, Announcements)"
        );
        return Ok(ExitCode::SUCCESS);
    }
    if args.dry_run {
        dry_run(project, &snapshot, now)?;
        return Ok(ExitCode::SUCCESS);
    }
    let outcomes = pipeline::announce(project, &snapshot, now)?;
    Ok(if super::print_outcomes(&outcomes) {
        ExitCode::SUCCESS
    } else {
        Exit::Failed.into()
    })
}

/// Print what each target would get; send and record nothing.
fn dry_run(project: &Project, snapshot: &Snapshot, now: DateTime<Utc>) -> Result<()> {
    let (items, _) = pipeline::announce_items(snapshot, now);
    let store = project.store()?;
    let file = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(LedgerFile::open_in(&store))?;
    for t in &snapshot.config.site.announce {
        let entry = file
            .ledger
            .targets
            .get(&t.id)
            .cloned()
            .unwrap_or_else(|| announce::TargetLedger::starting(now));
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
    Ok(())
}
