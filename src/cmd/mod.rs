//! One module per command, each `run(args, &Project)`: thin glue over the library.

/// `println!` for the commands: a line on stdout through [`out`], so a reader that goes
/// away ends the command quietly instead of a panic.
macro_rules! outln {
    () => {
        $crate::cmd::out(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cmd::out(format_args!($($arg)*))
    };
}

pub mod alert;
pub mod analyze;
pub mod announce;
pub mod build;
pub mod check;
pub mod demo;
pub mod docs;
pub mod doctor;
pub mod incident;
pub mod init;
pub mod probe;
pub mod publish;
pub mod report;
pub mod serve;
pub mod state;
pub mod status;
pub mod watch;
pub mod wrap;

/// The exit codes of every command, besides 0 for success (listed in `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// An error (printed on stderr), or an announcement target that failed.
    Failed = 1,
    /// `check` found problems in the project; `doctor` found a problem in the deployment.
    Problems = 2,
    /// `status --fail-on`: a component is at least that bad.
    StatusAtThreshold = 3,
    /// `wrap`: the wrapped command could not be started.
    CannotStart = 127,
    /// The reader of stdout went away: what a shell reports for a command ended by
    /// SIGPIPE (128 + 13), as `cat` or `grep` would be in `… | head -1`.
    ReaderGone = 141,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

/// The exit codes as `--help` lists them.
pub const EXIT_CODES_HELP: &str = "Exit codes:
  0    success
  1    an error (printed on stderr), or an announcement target that failed
  2    check: the project has problems; doctor: the deployment has a problem
  3    status --fail-on: a component is at least that bad
  127  wrap: the command could not be started (wrap otherwise exits with its code)
  141  the reader of stdout went away (as for a command ended by SIGPIPE)";

/// A flag set by the first SIGTERM or SIGINT, for a loop that stops between its steps
/// (`watch`). The handlers are installed before this returns; a second signal ends the
/// process at once (exit 130), for a step that takes too long.
pub(crate) fn stop_on_signal() -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut term, mut int) = {
        let _in = runtime.enter();
        (
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
        )
    };
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let set = stop.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                set.store(true, Ordering::SeqCst);
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                std::process::exit(130);
            });
        })?;
    Ok(stop)
}

/// Print the outcome of a rebuild (`watch`, `serve`).
pub(crate) fn report_rebuild(
    result: &anyhow::Result<crate::pipeline::Report>,
    since_change: std::time::Duration,
) {
    match result {
        Ok(r) => outln!(
            "rebuilt {} files ({} written) in {} ms after the change ({})",
            r.files,
            r.written,
            since_change.as_millis(),
            r.decision.headline
        ),
        Err(e) => err_line(format_args!(
            "error: {e:#}\n(still watching; the previous site is unchanged)"
        )),
    }
}

/// Print a line per announcement target; whether every target succeeded (`announce`,
/// `watch --announce`).
pub(crate) fn print_outcomes(outcomes: &[crate::announce::Outcome]) -> bool {
    let mut ok = true;
    for o in outcomes {
        match &o.error {
            None => {
                outln!("{}: sent {} item(s)", o.target, o.sent);
                if let Some(why) = &o.waiting {
                    err_line(format_args!("note: {}: {why}", o.target));
                }
            }
            Some(e) => {
                ok = false;
                outln!("{}: sent {} item(s), then stopped", o.target, o.sent);
                err_line(format_args!("error: {e}; the rest is sent on the next run"));
            }
        }
    }
    ok
}

/// Write a line to stdout. When the reader has gone away (`pharos status | head -1`) the
/// command ends at once, quietly, with [`Exit::ReaderGone`]: nothing more it could print would
/// be read. Any other failure to write is ignored like a full terminal would be: the
/// command's work (a build, a state write) never depends on its report being seen.
pub(crate) fn out(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        reader_gone(&e);
    }
}

/// Write bytes to stdout, as [`out`] does (for generated text: completions, the man page).
pub(crate) fn out_bytes(bytes: &[u8]) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        reader_gone(&e);
    }
}

/// A line on stderr for the long-running commands' reports, never a panic when stderr is
/// closed.
pub(crate) fn err_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn reader_gone(e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(Exit::ReaderGone as i32);
    }
}
