//! Integration tests: the real `pharos` binary against real files, real processes and
//! servers on 127.0.0.1. One binary, a module per topic.

// A test fails by panicking; helpers unwrap like the tests do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod alert;
mod analyze;
mod announce;
mod api;
mod assertions;
mod authoring;
mod browser;
mod build;
mod check;
mod cli;
mod command;
mod demo;
mod deploy;
mod dns;
mod doctor;
mod exhaustion;
mod feeds;
mod harness;
mod hostile;
mod icmp;
mod limits;
mod metrics;
mod objstore;
mod probe;
mod publish;
mod push;
mod regions;
mod report;
mod soak;
mod social;
mod state;
mod tls;
mod watch;
