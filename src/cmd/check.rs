//! `pharos check`: validate every input and report every problem at once (exit 2 if any).
//! Beyond parsing, it runs what `build`, `probe` and `announce` would refuse later
//! (`pipeline::preflight`), so "ok" means they accept the project.

use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Args as ClapArgs;

use crate::config::{self, Config, PROBES_FILE, Problem};
use crate::incident;
use crate::pipeline::{self, Clock, Snapshot};
use crate::project::Project;

/// Options of `check`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Check as of this time (RFC 3339) instead of the clock: updates dated after it are
    /// refused, as the build at that time would.
    #[arg(long, env = "PHAROS_NOW", value_name = "TIME")]
    pub now: Option<DateTime<Utc>>,
}

/// Every problem in the project's inputs, in file order, and the warnings.
pub fn problems(project: &Project, now: DateTime<Utc>) -> (Vec<Problem>, Vec<String>) {
    let mut warnings = Vec::new();
    let examined = config::examine(&project.components_file(), &project.probes_file());
    let mut problems = examined.problems;
    let ids: Option<Vec<&str>> = examined
        .component_ids
        .as_ref()
        .map(|ids| ids.iter().map(String::as_str).collect());
    let incidents = match incident::load_dir(&project.incidents_dir(), "incidents", ids.as_deref())
    {
        Ok(incidents) => Some(incidents),
        Err(p) => {
            problems.extend(p.0);
            None
        }
    };
    if let Some(probing) = &examined.probing {
        for p in &probing.probes {
            if let Some(why) = p.overrun() {
                warnings.push(format!("{PROBES_FILE}: probe \"{}\": {why}", p.id));
            }
        }
        for t in &probing.alerts.targets {
            for var in t.unset_vars() {
                warnings.push(format!(
                    "{PROBES_FILE}: alerts target \"{}\": environment variable {var} is not set here; alerting needs it at run time",
                    t.id
                ));
            }
        }
        for var in config::env_vars(&probing.probes) {
            if std::env::var_os(&var).is_none() {
                warnings.push(format!(
                    "{PROBES_FILE}: environment variable {var} is not set here; the prober needs it at run time"
                ));
            }
        }
    }
    let states = match project.store().and_then(|s| s.read_all_blocking()) {
        Ok((states, skipped)) => {
            warnings.extend(skipped);
            states
        }
        Err(e) => {
            warnings.push(format!("{e:#}"));
            Vec::new()
        }
    };
    // What later commands would refuse, once the files themselves are sound.
    if let (true, Some(site), Some(probing), Some(incidents)) = (
        problems.is_empty(),
        examined.site,
        examined.probing,
        incidents,
    ) {
        let snapshot = Snapshot::new(Config { site, probing }, incidents, states);
        problems.extend(pipeline::preflight(project, &snapshot, now));
    }
    (problems, warnings)
}

/// Run `check`.
pub fn run(args: Args, project: &Project) -> Result<ExitCode> {
    let (problems, warnings) = problems(project, Clock::at(args.now).now);
    for w in &warnings {
        outln!("warning: {w}");
    }
    for p in &problems {
        outln!("{p}");
    }
    if problems.is_empty() {
        outln!("ok: components.yaml, probes.yaml and incidents/ are valid");
        Ok(ExitCode::SUCCESS)
    } else {
        let n = problems.len();
        eprintln!("{n} problem{} found", if n == 1 { "" } else { "s" });
        Ok(super::Exit::Problems.into())
    }
}
