//! `pharos watch`: rebuild the site whenever the configuration, an incident, a region's
//! state or the theme changes. Events are classified by a pure function (site/ and
//! temporary files are ignored), bursts are debounced, and a failed rebuild is reported
//! without stopping the watch: the next good edit rebuilds.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::Args as ClapArgs;
use notify::{RecursiveMode, Watcher};

use super::build::{self, Report};
use crate::project::Project;

/// Options of `watch`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// After each rebuild, send new feed items to the `announce:` targets (as `pharos
    /// announce` does, once each).
    #[arg(long)]
    pub announce: bool,
    /// Build (and announce) as of this time (RFC 3339) instead of the clock.
    #[arg(long, env = "PHAROS_NOW", value_name = "TIME")]
    pub now: Option<DateTime<Utc>>,
}

/// What kind of input changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// components.yaml.
    Components,
    /// probes.yaml.
    Probes,
    /// A post in incidents/.
    Incidents,
    /// A region's state file.
    State,
    /// A file of a theme.
    Theme,
}

/// The folders whose files are inputs of the site.
const INPUT_DIRS: [&str; 3] = ["incidents", "state", "themes"];

/// How long events are gathered after the first one before rebuilding.
const QUIET: Duration = Duration::from_millis(40);

/// What a changed path means for the site, if anything. Pure: no file system access.
pub fn classify(root: &Path, path: &Path) -> Option<Change> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().to_string()),
            _ => None,
        })
        .collect();
    let name = parts.last()?;
    let scratch = name.starts_with('.')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".tmp");
    if scratch {
        return None;
    }
    match parts
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        // A folder appearing may already hold files its watch was too late to see.
        ["incidents"] => Some(Change::Incidents),
        ["state"] => Some(Change::State),
        ["themes"] => Some(Change::Theme),
        ["components.yaml"] => Some(Change::Components),
        ["probes.yaml"] => Some(Change::Probes),
        ["incidents", file] if file.ends_with(".md") => Some(Change::Incidents),
        ["state", file] if file.ends_with(".json") => Some(Change::State),
        ["themes", _, ..] => Some(Change::Theme),
        _ => None,
    }
}

/// How often state in object storage is listed for changes.
const REMOTE_POLL: Duration = Duration::from_secs(5);

/// Rebuild `project` after every relevant change until `keep_going` says stop, calling
/// `on_rebuilt` with each result. Shared by `watch` and `serve`.
pub fn rebuild_on_change(
    project: &Project,
    keep: &mut build::Rebuild,
    ready: impl FnOnce(&mut build::Rebuild),
    mut keep_going: impl FnMut() -> bool,
    now: Option<DateTime<Utc>>,
    mut on_rebuilt: impl FnMut(&Result<Report>, Duration),
) -> Result<()> {
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = tx.send(event);
    })
    .context("starting the file watcher")?;
    let root = std::fs::canonicalize(&project.root).unwrap_or_else(|_| project.root.clone());
    // The inputs only: the root for the two YAML files and for input folders appearing,
    // and each input folder. Never site/, our own output.
    watcher
        .watch(&root, RecursiveMode::NonRecursive)
        .with_context(|| format!("watching {}", root.display()))?;
    let mut watched: Vec<PathBuf> = Vec::new();
    let mut watch_inputs = |watcher: &mut notify::RecommendedWatcher| {
        for dir in INPUT_DIRS {
            let path = root.join(dir);
            if path.is_dir()
                && !watched.contains(&path)
                && watcher.watch(&path, RecursiveMode::Recursive).is_ok()
            {
                watched.push(path);
            }
        }
    };
    watch_inputs(&mut watcher);
    // State in object storage has no file events: poll its listing instead. A state
    // folder given with --state is watched beside the project's own.
    let mut state_dir = None;
    let remote = match project.store()? {
        crate::state::store::Store::Object(o) => Some((
            o,
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?,
        )),
        crate::state::store::Store::Local(l) => {
            let dir = std::fs::canonicalize(l.dir()).unwrap_or_else(|_| l.dir().to_path_buf());
            if dir != root.join("state") {
                watcher
                    .watch(&dir, RecursiveMode::NonRecursive)
                    .with_context(|| format!("watching {}", dir.display()))?;
                state_dir = Some(dir);
            }
            None
        }
    };
    let is_region_file = |p: &std::path::Path| {
        p.extension().is_some_and(|x| x == "json")
            && !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
    };
    let mut remote_seen = None;
    let mut last_poll = Instant::now()
        .checked_sub(REMOTE_POLL)
        .unwrap_or_else(Instant::now);
    // Watching now: whatever changes from here on is seen, even during `ready` (the
    // first build happens there, so an edit made while it runs is not lost).
    ready(keep);
    let mut pending: Option<Instant> = None;
    while keep_going() {
        if let Some((store, rt)) = &remote
            && (remote_seen.is_none() && last_poll.elapsed() >= Duration::from_millis(500)
                || last_poll.elapsed() >= REMOTE_POLL)
        {
            last_poll = Instant::now();
            match rt.block_on(store.fingerprint()) {
                Ok(now) => {
                    if remote_seen.as_ref().is_some_and(|seen| *seen != now) && pending.is_none() {
                        pending = Some(Instant::now());
                    }
                    remote_seen = Some(now);
                }
                Err(e) => tracing::warn!("{e:#}"),
            }
        }
        let wait = match pending {
            Some(first) => QUIET.saturating_sub(first.elapsed()),
            None => Duration::from_millis(200),
        };
        match rx.recv_timeout(wait) {
            Ok(Ok(event)) => {
                let relevant = !matches!(event.kind, notify::EventKind::Access(_))
                    && event.paths.iter().any(|p| {
                        classify(&root, p).is_some()
                            || state_dir.as_ref().is_some_and(|d| {
                                p.parent() == Some(d.as_path()) && is_region_file(p)
                            })
                    });
                if relevant && matches!(event.kind, notify::EventKind::Create(_)) {
                    watch_inputs(&mut watcher);
                }
                if relevant && pending.is_none() {
                    pending = Some(Instant::now());
                }
            }
            Ok(Err(e)) => tracing::warn!("file watcher: {e}"),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if let Some(first) = pending
            && first.elapsed() >= QUIET
        {
            pending = None;
            let result = build::rebuild(project, now.unwrap_or_else(Utc::now), keep);
            on_rebuilt(&result, first.elapsed());
        }
    }
    Ok(())
}

/// Print the outcome of a rebuild.
pub fn report(result: &Result<Report>, since_change: Duration) {
    match result {
        Ok(r) => outln!(
            "rebuilt {} files in {} ms after the change ({})",
            r.files,
            since_change.as_millis(),
            r.indicator.description()
        ),
        Err(e) => super::err_line(format_args!(
            "error: {e:#}\n(still watching; the previous site is unchanged)"
        )),
    }
}

/// Run `watch`.
pub fn run(args: Args, project: &Project) -> Result<ExitCode> {
    let mut keep = build::Rebuild::default();
    let now = || args.now.unwrap_or_else(Utc::now);
    let announce = |result: &Result<Report>| {
        if args.announce
            && result.is_ok()
            && let Err(e) = super::announce::once(project, now())
        {
            super::err_line(format_args!("error: announcing: {e:#}"));
        }
    };
    rebuild_on_change(
        project,
        &mut keep,
        |keep| {
            let first = build::rebuild(project, now(), keep);
            report(&first, Duration::ZERO);
            announce(&first);
            outln!(
                "watching {} for changes (Ctrl-C to stop)",
                project.root.display()
            );
        },
        || true,
        args.now,
        |result, since| {
            report(result, since);
            announce(result);
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_inputs_and_ignores_output_and_scratch_files() {
        let root = Path::new("/p");
        let c = |s: &str| classify(root, &root.join(s));
        assert_eq!(c("components.yaml"), Some(Change::Components));
        assert_eq!(c("probes.yaml"), Some(Change::Probes));
        assert_eq!(c("incidents/2026-11-20-x.md"), Some(Change::Incidents));
        assert_eq!(c("state/eu-west.json"), Some(Change::State));
        assert_eq!(c("themes/mine/templates/index.html"), Some(Change::Theme));
        assert_eq!(c("site/index.html"), None, "our own output");
        assert_eq!(
            c("incidents"),
            Some(Change::Incidents),
            "a new folder may hold files already"
        );
        assert_eq!(c(".site.new-abc/index.html"), None);
        assert_eq!(c("state/.eu-west.json.x1.tmp"), None, "a write in progress");
        assert_eq!(c("state/.eu-west.lock"), None);
        assert_eq!(c("state/heartbeats/job.json"), None);
        assert_eq!(c("incidents/.2026-11-20-x.md.swp"), None);
        assert_eq!(c("incidents/notes.txt"), None);
        assert_eq!(c("target/debug/pharos"), None);
        assert_eq!(
            classify(root, Path::new("/elsewhere/components.yaml")),
            None
        );
    }
}
