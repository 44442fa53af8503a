//! `pharos completions SHELL` and `pharos man`: generated from the clap definitions, so
//! they never disagree with the commands.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args as ClapArgs, CommandFactory};

/// Options of `completions`.
#[derive(Debug, ClapArgs)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Print a completion script.
pub fn completions(args: CompletionsArgs) -> Result<ExitCode> {
    let mut cmd = crate::cli::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "pharos", &mut script);
    super::out_bytes(&script);
    Ok(ExitCode::SUCCESS)
}

/// Print the man page (roff).
pub fn man() -> Result<ExitCode> {
    let mut page = Vec::new();
    clap_mangen::Man::new(crate::cli::Cli::command())
        .render(&mut page)
        .context("writing the man page")?;
    super::out_bytes(&page);
    Ok(ExitCode::SUCCESS)
}
