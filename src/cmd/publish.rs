//! `pharos publish`: send the built site to every target under `publish:` in
//! components.yaml, or to `--to` (see the `publish` module); each target on its own, so
//! one that fails does not hold the others back.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use clap::Args as ClapArgs;

use super::Exit;
use crate::project::Project;
use crate::publish::send::Options;
use crate::publish::{self, Destination, Target};

/// Options of `publish`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Publish here instead of to the `publish:` targets: a folder, s3://bucket/prefix or
    /// git+<remote>#<branch> (repeatable). Credentials come from the environment: AWS_*
    /// as for --state, git's own (SSH key, credential helper, GIT_ASKPASS).
    #[arg(long = "to", value_name = "TARGET")]
    pub to: Vec<String>,
    /// Print what would change on each target; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How long a bucket keeps a file that left the site, so a reader still on an older
    /// page never follows a link to nothing.
    #[arg(long, value_name = "DURATION", default_value_t = publish::KEEP_REMOVED.into())]
    pub keep_removed: humantime::Duration,
    /// Date removals by this time (RFC 3339) instead of the clock.
    #[arg(long, env = "PHAROS_NOW", value_name = "TIME")]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
}

/// Run `publish`.
pub fn run(args: Args, project: &Project) -> Result<ExitCode> {
    let targets = if args.to.is_empty() {
        let config = crate::config::load(&project.components_file(), &project.probes_file())?;
        if config.site.publish.is_empty() {
            outln!(
                "no targets: add a `publish:` list to components.yaml or give --to (see README, Publishing)"
            );
            return Ok(ExitCode::SUCCESS);
        }
        config.site.publish
    } else {
        args.to
            .iter()
            .map(|url| {
                Destination::parse(url)
                    .map(Target::to)
                    .map_err(|e| anyhow!("--to {e}"))
            })
            .collect::<Result<Vec<_>>>()?
    };
    let options = Options {
        dry_run: args.dry_run,
        keep_removed: chrono::Duration::from_std(args.keep_removed.into())
            .map_err(|_| anyhow!("--keep-removed is too long"))?,
        now: crate::pipeline::Clock::at(args.now).now,
    };
    Ok(if send(project, &targets, &options).failed == 0 {
        ExitCode::SUCCESS
    } else {
        Exit::Failed.into()
    })
}

/// How many targets got the site, and how many failed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sent {
    pub(crate) went_out: usize,
    pub(crate) failed: usize,
}

/// Publish the site in place to every target, a line for each. Shared with `watch
/// --publish`.
pub(crate) fn send(project: &Project, targets: &[Target], options: &Options) -> Sent {
    let mut sent = Sent::default();
    let site = match publish::send::Site::take(&project.site_dir()) {
        Ok(site) => site,
        Err(e) => {
            super::err_line(format_args!("error: publishing: {e:#}"));
            sent.failed = targets.len().max(1);
            return sent;
        }
    };
    for target in targets {
        let target = Target {
            to: target.to.clone().under(&project.root),
            ..target.clone()
        };
        let shown = target.to.shown();
        let result = publish::send::publish(&site, &target, options);
        if result.is_ok() {
            sent.went_out += 1;
        } else {
            sent.failed += 1;
        }
        match result {
            Ok(p) if options.dry_run => {
                outln!(
                    "{shown}: would upload {} file(s) ({}), delete {}, leave {} as they are{}",
                    p.plan.uploads.len(),
                    size(p.bytes),
                    p.plan.deletes.len(),
                    p.plan.unchanged,
                    kept_words(p.kept)
                );
                for path in &p.plan.uploads {
                    outln!("  + {path}");
                }
                for path in &p.plan.deletes {
                    outln!("  - {path}");
                }
            }
            Ok(p) if p.plan.is_empty() => {
                outln!("{shown}: up to date ({} files)", p.plan.unchanged);
            }
            Ok(p) => outln!(
                "{shown}: published {} file(s) ({}), deleted {}, {} unchanged{}, in {:.1} s",
                p.plan.uploads.len(),
                size(p.bytes),
                p.plan.deletes.len(),
                p.plan.unchanged,
                kept_words(p.kept),
                p.took.as_secs_f64()
            ),
            Err(e) => {
                super::err_line(format_args!(
                    "error: {e:#}; the other targets still go out, this one is tried again at the next publish"
                ));
            }
        }
    }
    sent
}

/// ", 3 removed kept a while" when a bucket still keeps removed files.
fn kept_words(kept: usize) -> String {
    if kept == 0 {
        String::new()
    } else {
        format!(", {kept} removed kept a while")
    }
}

/// Bytes in words: "812 B", "34.5 KB", "2.1 MB".
fn size(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let b = bytes as f64;
    if bytes < 1000 {
        format!("{bytes} B")
    } else if bytes < 1_000_000 {
        format!("{:.1} KB", b / 1e3)
    } else {
        format!("{:.1} MB", b / 1e6)
    }
}
