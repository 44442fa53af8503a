//! `pharos demo`: the whole flow on the embedded demo, on loopback, with no network.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Args as ClapArgs;

use crate::demo::{self, CUT_OFF_REGION, REGIONS, Services};
use crate::pipeline::{self, Clock};
use crate::project::Project;
use crate::site::DisplayStatus;

/// Options of `demo`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Folder to write the demo project into. Default: a new temporary folder.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// How long the three region workers probe before the site is built.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Take a component down 40 % into the run. `db`: the database stops accepting
    /// connections and the API, which depends on it, fails too; the site names the
    /// database as the cause.
    #[arg(long, value_enum, value_name = "COMPONENT")]
    pub take_down: Option<TakeDown>,
}

/// What `--take-down` can break.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TakeDown {
    /// The database behind the API.
    Db,
}

/// Run `demo`.
pub fn run(args: Args) -> Result<ExitCode> {
    let dir = match args.dir {
        Some(d) => {
            let used = std::fs::read_dir(&d)
                .map(|mut e| e.next().is_some())
                .unwrap_or(false);
            if used {
                anyhow::bail!(
                    "{} is not empty; give `--dir` a new or empty folder so nothing of yours is overwritten",
                    d.display()
                );
            }
            d
        }
        None => tempfile::Builder::new()
            .prefix("pharos-demo-")
            .tempdir()
            .context("creating a temporary folder")?
            .keep(),
    };
    let project = Project::at(&dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let services = Services::start(IpAddr::V4(REGIONS[CUT_OFF_REGION].2)).await?;
        demo::write_project(&dir, &services, Utc::now())?;
        let mut twist = String::new();
        if let Some(TakeDown::Db) = args.take_down {
            let at = args.duration.mul_f64(0.4);
            services.take_down_db_after(at);
            twist = format!(
                "; the database goes down after {}",
                crate::words::duration(at)
            );
        }
        outln!(
            "Demo project in {}. Probing from {} regions for {} (ap-south cannot reach the CDN edge{twist})…",
            dir.display(),
            REGIONS.len(),
            crate::words::duration(args.duration)
        );
        demo::run_regions(&project, args.duration).await
    })?;
    let report = pipeline::build(&project, Clock::at(None), pipeline::Options::default())?;
    let decision = &report.decision;
    outln!("\n{}", decision.headline);
    for c in &decision.components {
        let label = DisplayStatus::of(c).label();
        let regions = if c.down_regions.is_empty() {
            String::new()
        } else {
            format!(" (down in {})", c.down_regions.join(", "))
        };
        let through = if c.affected_by.is_empty() {
            String::new()
        } else {
            format!(", affected by {}", c.affected_by.join(" or "))
        };
        outln!("  {:<8} {label}{regions}{through}", c.id);
    }
    for f in &decision.faults {
        if f.names_others() {
            outln!("  {}", f.line());
        }
    }
    let index = project.site_dir().join("index.html");
    outln!("\nSite built: {}", index.display());
    outln!(
        "Feed:       {}",
        project.site_dir().join("feed.rss").display()
    );
    outln!("Open it with:  xdg-open {}", index.display());
    Ok(ExitCode::SUCCESS)
}
