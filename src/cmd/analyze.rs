//! `pharos analyze`: what the probes in probes.yaml can tell about single faults in the
//! components of components.yaml, and which probes to add (`status::localise`).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args as ClapArgs;
use serde_json::json;

use crate::config;
use crate::project::Project;
use crate::status::localise::{Model, analyze};

/// Options of `analyze`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Print JSON for scripts instead of sentences.
    #[arg(long)]
    pub json: bool,
}

/// Run `analyze`.
pub fn run(args: Args, project: &Project) -> Result<ExitCode> {
    let config = config::load(&project.components_file(), &project.probes_file())
        .map_err(|p| anyhow::anyhow!("{p}\nrun `pharos check` for details"))?;
    let model = Model::from_config(&config);
    let a = analyze(&model);
    let names =
        |cs: &[usize]| -> Vec<String> { cs.iter().map(|c| model.components[*c].clone()).collect() };
    if args.json {
        let out = json!({
            "components": model.components.len(),
            "probes": model.probes.len(),
            "undetectable": names(&a.undetectable),
            "indistinguishable": a.indistinguishable.iter().map(|g| names(g)).collect::<Vec<_>>(),
            "suggested_probes": a.suggestion.iter().map(|s| json!({"exercises": names(s)})).collect::<Vec<_>>(),
            "optimum": a.optimum,
        });
        outln!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{} probes over {} components (a probe also depends on what its components depend on).",
        model.probes.len(),
        model.components.len()
    );
    if a.undetectable.is_empty() && a.indistinguishable.is_empty() {
        outln!("Every single fault is detectable and can be told apart from every other.");
        return Ok(ExitCode::SUCCESS);
    }
    if !a.undetectable.is_empty() {
        outln!(
            "Not detectable (no probe depends on them): {}",
            names(&a.undetectable).join(", ")
        );
    }
    for g in &a.indistinguishable {
        outln!(
            "Cannot be told apart (the same probes depend on each): {}",
            names(g).join(", ")
        );
    }
    outln!("Add {} probe(s) to fix both:", a.suggestion.len());
    for (i, s) in a.suggestion.iter().enumerate() {
        outln!(
            "  {}. a probe that exercises {}",
            i + 1,
            names(s).join(" and ")
        );
    }
    match a.optimum {
        Some(o) if o == a.suggestion.len() => outln!("(That is the fewest possible.)"),
        Some(o) => outln!("(The fewest possible is {o}; this greedy choice is close.)"),
        None => {}
    }
    Ok(ExitCode::SUCCESS)
}
