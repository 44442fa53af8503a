//! The `pharos` binary: parse the command line, set up logging, run, print any error once.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

/// mimalloc: a build renders thousands of template contexts, and glibc's malloc and free
/// took a third of a rebuild's time (perf, bench/site.py watch).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PHAROS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,notify=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    let cli = pharos::cli::Cli::parse();
    if !cli.command.is_service() {
        die_quietly_when_the_reader_leaves();
    }
    match pharos::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// `pharos status | head -1`: end as `cat` and `grep` do when their reader goes away,
/// killed by SIGPIPE, instead of panicking on the failed write. Rust ignores SIGPIPE by
/// default; the services (`probe`, `watch`, `serve`, `wrap`) keep it that way, so that a
/// journal or log pipe that restarts never kills a worker.
fn die_quietly_when_the_reader_leaves() {
    // SAFETY: called once at start, before any thread exists; SIG_DFL is a valid handler.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
