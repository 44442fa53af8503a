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
