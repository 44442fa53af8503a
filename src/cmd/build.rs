//! `pharos build`: the arguments and the progress bar around [`crate::pipeline::build`].

use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::Args as ClapArgs;

use crate::pipeline::{self, Clock};
use crate::project::Project;

/// Options of `build`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Build as of this time (RFC 3339) instead of the clock, for reproducible output.
    #[arg(long, env = "PHAROS_NOW", value_name = "TIME")]
    pub now: Option<DateTime<Utc>>,
}

/// The build's progress bar: drawn on a terminal only, and only once a build has taken
/// longer than a moment (a small site builds without any).
struct Progress {
    bar: indicatif::ProgressBar,
    started: std::time::Instant,
    quiet: bool,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        use std::io::IsTerminal;
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::hidden());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} pages")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message("rendering");
        Progress {
            bar,
            started: std::time::Instant::now(),
            quiet: quiet || !std::io::stderr().is_terminal(),
        }
    }

    fn pages(&self, done: u64, total: u64) {
        if self.quiet {
            return;
        }
        if self.bar.is_hidden() && self.started.elapsed() > std::time::Duration::from_millis(200) {
            self.bar
                .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        self.bar.set_length(total);
        self.bar.set_position(done);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Run `build`.
pub fn run(args: Args, project: &Project) -> Result<ExitCode> {
    let bar = Progress::new(false);
    let progress = |done, total| bar.pages(done, total);
    let report = pipeline::build(
        project,
        Clock::at(args.now),
        pipeline::Options {
            keep: None,
            progress: Some(&progress),
        },
    )
    .context("build failed; the previous site/ is unchanged")?;
    bar.finish();
    outln!(
        "built {} files into {} ({})",
        report.files,
        project.site_dir().display(),
        report.decision.headline
    );
    Ok(ExitCode::SUCCESS)
}
