//! `pharos state show REGION`: a region's state as the builder reads it, as indented JSON,
//! from the project's folder or the object store given with `--state`. For looking at
//! what a worker wrote by hand, wherever it keeps it.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args as ClapArgs, Subcommand};

use crate::project::Project;

/// Options of `state`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: StateCommand,
}

/// The `state` commands.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print a region's state as indented JSON.
    Show(ShowArgs),
}

/// Options of `state show`.
#[derive(Debug, ClapArgs)]
pub struct ShowArgs {
    /// The region (a name under `regions:` in probes.yaml).
    pub region: String,
    /// Only this probe's part.
    #[arg(long, value_name = "ID")]
    pub probe: Option<String>,
}

/// Run `state`.
pub fn run(args: Args, project: &Project) -> Result<ExitCode> {
    let StateCommand::Show(show) = args.command;
    let store = project.store()?;
    let Some(state) = store.read_blocking(&show.region)? else {
        // A name that is not a region says so, with the names that are.
        if let Ok(config) = crate::config::load(&project.components_file(), &project.probes_file())
            && let Some(why) = config.probing.unknown_region(&show.region)
        {
            bail!(why);
        }
        bail!(
            "{} does not exist: region \"{}\" has no state yet; has its worker (`pharos probe --region {}`) written to this location?",
            store.shown(&show.region),
            show.region,
            show.region
        );
    };
    // In the order the file has it (a `Value` would sort the keys).
    let mut text = match &show.probe {
        None => serde_json::to_vec_pretty(&state)?,
        Some(id) => match state.probes.get(id) {
            Some(p) => serde_json::to_vec_pretty(p)?,
            None => {
                let known: Vec<&str> = state.probes.keys().map(String::as_str).collect();
                let more = known.len().saturating_sub(20);
                let listed = known[..known.len().min(20)].join(", ");
                bail!(
                    "{} holds no probe \"{id}\"; it holds: {listed}{}",
                    store.shown(&show.region),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                );
            }
        },
    };
    text.push(b'\n');
    super::out_bytes(&text);
    Ok(ExitCode::SUCCESS)
}
