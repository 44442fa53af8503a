//! The `pharos` binary: parse the command line, set up logging, run, print any error once.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

/// mimalloc: a build renders thousands of template contexts, and glibc's malloc and free
/// took a third of a rebuild's time (perf, bench/site.py watch).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The libraries' own chatter (the file watcher's, the object store client's retries,
    // each of which the error that ends them says once) is quiet unless asked for by name.
    let asked = std::env::var("PHAROS_LOG").unwrap_or_default();
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("PHAROS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for (library, level) in [("notify", "error"), ("object_store", "warn")] {
        if !asked.contains(library)
            && let Ok(directive) = format!("{library}={level}").parse()
        {
            filter = filter.add_directive(directive);
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        // A log write that fails (a closed stderr, a journal restarting) is dropped, not
        // reported on stderr by a panic.
        .log_internal_errors(false)
        .init();
    match pharos::cli::run(pharos::cli::Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            pharos::cmd::Exit::Failed.into()
        }
    }
}
