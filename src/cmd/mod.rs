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

pub mod analyze;
pub mod announce;
pub mod build;
pub mod check;
pub mod demo;
pub mod docs;
pub mod incident;
pub mod init;
pub mod probe;
pub mod serve;
pub mod status;
pub mod watch;
pub mod wrap;

/// The exit code of a command whose reader went away: what a shell reports for one ended
/// by SIGPIPE (128 + 13), as `cat` or `grep` would be in `… | head -1`.
pub const READER_GONE: i32 = 141;

/// Write a line to stdout. When the reader has gone away (`pharos status | head -1`) the
/// command ends at once, quietly, with [`READER_GONE`]: nothing more it could print would
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
        std::process::exit(READER_GONE);
    }
}
