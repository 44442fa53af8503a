//! The command line as a Unix tool: a reader that goes away ends a command quietly.

use std::process::Stdio;
use std::time::Duration;

use crate::harness::{stderr, wait_limit};

#[test]
fn a_reader_that_goes_away_ends_each_command_quietly() {
    let t = crate::api::project();
    for args in [
        &["status", "--json", "--now", "2026-11-20T12:00:00Z"][..],
        &["status", "--now", "2026-11-20T12:00:00Z"],
        &["check"],
        &["incident", "list", "--now", "2026-11-20T12:00:00Z"],
        &["completions", "bash"],
        &["man"],
    ] {
        // `| head -0`: a pipe whose reading end is closed before the command starts. (Closed
        // after the spawn, it could still be held for a moment by another test's child
        // between its fork and its exec, and the write would go through.)
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let child = t
            .cmd(args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_limit(child, Duration::from_secs(30));
        let err = stderr(&out);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
        // Ended at once with nothing said, and the code a shell gives a command ended by
        // SIGPIPE (128 + 13), as `cat` would get.
        assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
    }
}

#[test]
fn pharos_now_in_the_environment_pins_every_command_and_breaks_none() {
    // The README's way to pin the clock for a whole session: every command accepts it.
    let t = crate::api::project();
    for args in [
        &["build"][..],
        &["status"],
        &["check"],
        &["incident", "list"],
        &[
            "incident",
            "new",
            "Slow search",
            "--impact",
            "minor",
            "-m",
            "Looking.",
        ],
        &["announce", "--dry-run"],
    ] {
        let out = t
            .cmd(args)
            .env("PHAROS_NOW", "2026-11-20T12:00:00Z")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
