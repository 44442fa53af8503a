//! `pharos check`: validate every input and report every problem at once (exit 2 if any).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args as ClapArgs;

use crate::config::{self, PROBES_FILE, Problem};
use crate::incident;
use crate::project::Project;

/// Options of `check`.
#[derive(Debug, ClapArgs)]
pub struct Args {}

/// Every problem in the project's inputs, in file order.
pub fn problems(project: &Project) -> (Vec<Problem>, Vec<String>) {
    let mut warnings = Vec::new();
    let examined = config::examine(&project.components_file(), &project.probes_file());
    let mut problems = examined.problems;
    let ids: Option<Vec<&str>> = examined
        .component_ids
        .as_ref()
        .map(|ids| ids.iter().map(String::as_str).collect());
    if let Err(p) = incident::load_dir(&project.incidents_dir(), "incidents", ids.as_deref()) {
        problems.extend(p.0);
    }
    if let Some(probing) = &examined.probing {
        for var in config::env_vars(&probing.probes) {
            if std::env::var_os(&var).is_none() {
                warnings.push(format!(
                    "{PROBES_FILE}: environment variable {var} is not set here; the prober needs it at run time"
                ));
            }
        }
    }
    match project.store().and_then(|s| s.read_all_blocking()) {
        Ok((_, skipped)) => warnings.extend(skipped),
        Err(e) => warnings.push(format!("{e:#}")),
    }
    (problems, warnings)
}

/// Run `check`.
pub fn run(_args: Args, project: &Project) -> Result<ExitCode> {
    let (problems, warnings) = problems(project);
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
