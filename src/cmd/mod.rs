//! One module per command, each `run(args, &Project)`: thin glue over the library.

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

/// A line on stdout for the long-running commands (`watch`, `serve`): a reader that went
/// away is not their failure, so the write is allowed to fail (where `println!` would
/// panic).
pub(crate) fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}
