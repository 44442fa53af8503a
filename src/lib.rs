//! Pharos: a public status page generator with an external multi-region prober.
//!
//! The modules follow the data flow: [`config`] → [`probe`] → [`state`] → [`status`]
//! (+ [`incident`]) → [`site`] → [`render`] → [`announce`]. [`pipeline`] runs the build's
//! stages as one type; the `cmd` modules are thin glue per command and never call one
//! another.

#![warn(clippy::too_many_lines)]

pub mod alert;
pub mod announce;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod demo;
pub mod doctor;
pub mod fingerprint;
pub mod incident;
pub mod input;
pub mod pipeline;
pub mod probe;
pub mod project;
pub mod publish;
pub mod render;
pub mod report;
pub mod site;
pub mod state;
pub mod status;
pub mod words;
pub mod yaml;
