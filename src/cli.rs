//! The command line: clap derive types and the dispatch to one `cmd` module per command.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::cmd;
use crate::project::Project;

/// A public status page generator with an external multi-region prober.
#[derive(Debug, Parser)]
#[command(
    name = "pharos",
    version,
    about,
    max_term_width = 100,
    after_help = crate::cmd::EXIT_CODES_HELP
)]
pub struct Cli {
    /// Project folder (the one with components.yaml). Default: the nearest one upwards.
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Where region state lives: a folder, or s3://bucket/prefix for S3-compatible object
    /// storage (credentials and endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP). Default: state/ in the project.
    #[arg(long, global = true, env = "PHAROS_STATE", value_name = "LOCATION")]
    pub state: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded demo: local services, three regions, a built site.
    Demo(cmd::demo::Args),
    /// Create a project: commented components.yaml and probes.yaml, incidents/, .gitignore.
    Init(cmd::init::Args),
    /// Validate components.yaml, probes.yaml and incidents/, reporting every problem.
    Check(cmd::check::Args),
    /// Run the prober of one region (a daemon; --once for one round).
    Probe(cmd::probe::Args),
    /// Merge the regions' state and incidents into the static site in site/.
    Build(cmd::build::Args),
    /// Run a batch job and record its result as a heartbeat of a push probe.
    Wrap(cmd::wrap::Args),
    /// Write incident posts: new, update, resolve, list.
    Incident(cmd::incident::Args),
    /// Announce maintenance windows.
    Maintenance(cmd::incident::MaintenanceArgs),
    /// Send the built site to the targets under `publish:` (folders, buckets, git branches).
    Publish(cmd::publish::Args),
    /// Rebuild the site whenever the config, an incident, the state or the theme changes.
    Watch(cmd::watch::Args),
    /// Preview site/ on 127.0.0.1, rebuilding and reloading pages on changes.
    Serve(cmd::serve::Args),
    /// Which component faults the probes can detect and tell apart, and which probes to add.
    Analyze(cmd::analyze::Args),
    /// Send new feed items to the targets under `announce:` in components.yaml, once each.
    Announce(cmd::announce::Args),
    /// Page the targets under `alerts:` in probes.yaml: one evaluation (cron), or --test.
    Alert(cmd::alert::Args),
    /// Show the merged status in the terminal (or --json); --fail-on for CI gates.
    Status(cmd::status::Args),
    /// Availability and SLOs of a month (or a span), for the page and each component.
    Report(cmd::report::Args),
    /// Look at the region state the workers wrote: `state show REGION`.
    State(cmd::state::Args),
    /// Check a deployment from this machine: project, state store, regions, clocks, ICMP,
    /// open files, publish and announcement targets; a line per finding with the fix.
    Doctor(cmd::doctor::Args),
    /// Print a shell completion script.
    Completions(cmd::docs::CompletionsArgs),
    /// Print the man page.
    Man,
}

/// Run the parsed command line; the exit code says how it went.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let state = cli.state.clone();
    let locate =
        |root: Option<&std::path::Path>| Project::locate(root).map(|p| p.with_state(state.clone()));
    match cli.command {
        Command::Demo(args) => cmd::demo::run(args),
        Command::Init(args) => cmd::init::run(args),
        Command::Completions(args) => cmd::docs::completions(args),
        Command::Man => cmd::docs::man(),
        Command::Incident(args) => cmd::incident::run(args, &locate(cli.root.as_deref())?),
        Command::Maintenance(args) => {
            cmd::incident::run_maintenance(args, &locate(cli.root.as_deref())?)
        }
        Command::Status(args) => cmd::status::run(args, &locate(cli.root.as_deref())?),
        Command::Report(args) => cmd::report::run(args, &locate(cli.root.as_deref())?),
        Command::State(args) => cmd::state::run(args, &locate(cli.root.as_deref())?),
        Command::Doctor(args) => cmd::doctor::run(args, &locate(cli.root.as_deref())?),
        Command::Publish(args) => cmd::publish::run(args, &locate(cli.root.as_deref())?),
        Command::Watch(args) => cmd::watch::run(args, &locate(cli.root.as_deref())?),
        Command::Serve(args) => cmd::serve::run(args, &locate(cli.root.as_deref())?),
        Command::Check(args) => cmd::check::run(args, &locate(cli.root.as_deref())?),
        Command::Probe(args) => cmd::probe::run(args, &locate(cli.root.as_deref())?),
        Command::Build(args) => cmd::build::run(args, &locate(cli.root.as_deref())?),
        Command::Analyze(args) => cmd::analyze::run(args, &locate(cli.root.as_deref())?),
        Command::Announce(args) => cmd::announce::run(args, &locate(cli.root.as_deref())?),
        Command::Alert(args) => cmd::alert::run(args, &locate(cli.root.as_deref())?),
        Command::Wrap(args) => cmd::wrap::run(args, &locate(cli.root.as_deref())?),
    }
}
