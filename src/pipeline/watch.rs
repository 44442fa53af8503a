//! Rebuilding on change, for `watch` and `serve`: events are classified by a pure
//! function (site/ and temporary files are ignored), bursts are debounced, state in
//! object storage is polled, and each rebuild's result goes to the caller; a failed
//! rebuild never stops the loop.

use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::{Clock, Options, Rebuild, Report};
use crate::project::Project;

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

/// How long the inputs must stay quiet after an event before rebuilding, while a file may
/// still be being written: an editor's save (write a temporary file, rename it over the
/// post) is a burst of events a few milliseconds apart. A change that comes after the
/// rebuild started gets a rebuild of its own.
const QUIET: Duration = Duration::from_millis(10);

/// The same after an event that leaves its file whole (closed after writing, renamed into
/// place): only what comes with it in the same burst is gathered, since every millisecond
/// here is one more before the edit is on the page. A removal is not whole: an editor may
/// write the file again right after.
const QUIET_WHEN_WHOLE: Duration = Duration::from_millis(2);

/// The longest a rebuild waits for the inputs to go quiet: a file written steadily (a
/// long copy, a tool appending) still shows on the page while it is being written.
const GATHER_AT_MOST: Duration = Duration::from_millis(250);

/// What an event says of the inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Nothing that is an input of the site.
    Nothing,
    /// An input changed and may still be changing.
    Changing,
    /// An input changed and is whole.
    Whole,
}

/// The relevant events since the last rebuild. Pure: the clock is an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Gathered {
    first: Instant,
    last: Instant,
    /// Whether the latest event left its file whole.
    whole: bool,
}

impl Gathered {
    /// `before` with an event seen at `at`.
    fn add(before: Option<Gathered>, at: Instant, seen: Seen) -> Option<Gathered> {
        let whole = match seen {
            Seen::Nothing => return before,
            Seen::Changing => false,
            Seen::Whole => true,
        };
        let first = before.map_or(at, |g| g.first);
        Some(Gathered {
            first,
            last: at,
            whole,
        })
    }

    /// When to rebuild, unless another event comes first.
    fn due(&self) -> Instant {
        let quiet = if self.whole { QUIET_WHEN_WHOLE } else { QUIET };
        (self.last + quiet).min(self.first + GATHER_AT_MOST)
    }
}

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
        ["state", rest @ ..] if crate::state::layout::is_state_path(rest) => Some(Change::State),
        ["themes", _, ..] => Some(Change::Theme),
        _ => None,
    }
}

/// How often state in object storage is listed for changes.
const REMOTE_POLL: Duration = Duration::from_secs(5);

/// The inputs being watched: file events for the project's files and a local state
/// folder, a listing poll for state in object storage.
struct Inputs {
    watcher: notify::RecommendedWatcher,
    events: mpsc::Receiver<notify::Result<notify::Event>>,
    root: PathBuf,
    watched: Vec<PathBuf>,
    /// A state folder given with `--state`, watched beside the project's own.
    state_dir: Option<PathBuf>,
    remote: Option<Remote>,
}

/// State in object storage: it has no file events, so its listing is polled.
struct Remote {
    store: crate::state::object::ObjectStates,
    runtime: tokio::runtime::Runtime,
    seen: Option<Vec<(String, Option<String>)>>,
    last_poll: Instant,
}

impl Inputs {
    /// Watch the inputs only: the root for the two YAML files and for input folders
    /// appearing, and each input folder. Never site/, our own output.
    fn watch(project: &Project) -> Result<Inputs> {
        use notify::{RecursiveMode, Watcher};
        let (tx, events) = mpsc::channel();
        let mut watcher = notify::recommended_watcher(move |event| {
            let _ = tx.send(event);
        })
        .context("starting the file watcher")?;
        let root = std::fs::canonicalize(&project.root).unwrap_or_else(|_| project.root.clone());
        watcher
            .watch(&root, RecursiveMode::NonRecursive)
            .with_context(|| format!("watching {}", root.display()))?;
        let mut state_dir = None;
        let remote = match project.store()? {
            crate::state::store::Store::Object(store) => Some(Remote {
                store,
                runtime: tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting the async runtime")?,
                seen: None,
                last_poll: Instant::now()
                    .checked_sub(REMOTE_POLL)
                    .unwrap_or_else(Instant::now),
            }),
            crate::state::store::Store::Local(l) => {
                let dir = std::fs::canonicalize(l.dir()).unwrap_or_else(|_| l.dir().to_path_buf());
                if dir != root.join("state") {
                    watcher
                        .watch(&dir, RecursiveMode::Recursive)
                        .with_context(|| format!("watching {}", dir.display()))?;
                    state_dir = Some(dir);
                }
                None
            }
        };
        let mut inputs = Inputs {
            watcher,
            events,
            root,
            watched: Vec::new(),
            state_dir,
            remote,
        };
        inputs.watch_input_dirs();
        Ok(inputs)
    }

    /// Watch every input folder that exists and is not watched yet.
    fn watch_input_dirs(&mut self) {
        use notify::{RecursiveMode, Watcher};
        for dir in INPUT_DIRS {
            let path = self.root.join(dir);
            if path.is_dir()
                && !self.watched.contains(&path)
                && self.watcher.watch(&path, RecursiveMode::Recursive).is_ok()
            {
                self.watched.push(path);
            }
        }
    }

    /// What `event` says of the inputs of the site.
    fn seen(&self, event: &notify::Event) -> Seen {
        use notify::EventKind;
        use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
        let is_state = |p: &Path| {
            let Some(rel) = self.state_dir.as_ref().and_then(|d| p.strip_prefix(d).ok()) else {
                return false;
            };
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().to_string())
                .collect();
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            crate::state::layout::is_state_path(&parts)
        };
        let input = event
            .paths
            .iter()
            .any(|p| classify(&self.root, p).is_some() || is_state(p));
        match event.kind {
            _ if !input => Seen::Nothing,
            EventKind::Access(AccessKind::Close(AccessMode::Write))
            | EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)) => Seen::Whole,
            EventKind::Access(_) => Seen::Nothing,
            _ => Seen::Changing,
        }
    }

    /// Whether the remote state's listing changed since the last poll (polled every
    /// [`REMOTE_POLL`], and half a second after start for the first listing).
    fn remote_changed(&mut self) -> bool {
        let Some(r) = &mut self.remote else {
            return false;
        };
        let due = r.last_poll.elapsed() >= REMOTE_POLL
            || r.seen.is_none() && r.last_poll.elapsed() >= Duration::from_millis(500);
        if !due {
            return false;
        }
        r.last_poll = Instant::now();
        match r.runtime.block_on(r.store.fingerprint()) {
            Ok(now) => {
                let changed = r.seen.as_ref().is_some_and(|seen| *seen != now);
                r.seen = Some(now);
                changed
            }
            Err(e) => {
                tracing::warn!("{e:#}");
                false
            }
        }
    }

    /// Wait up to `wait` for an event; what it says, or `None` when the watcher is gone.
    fn next_change(&mut self, wait: Duration) -> Option<Seen> {
        match self.events.recv_timeout(wait) {
            Ok(Ok(event)) => {
                let seen = self.seen(&event);
                if seen != Seen::Nothing && matches!(event.kind, notify::EventKind::Create(_)) {
                    self.watch_input_dirs();
                }
                Some(seen)
            }
            Ok(Err(e)) => {
                tracing::warn!("file watcher: {e}");
                Some(Seen::Nothing)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Some(Seen::Nothing),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
        }
    }
}

/// Where the rebuild loop is when it asks whether to keep going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Between waits for a change (at least every 200 ms).
    Waiting,
    /// A change was gathered: the rebuild starts next (what must not wait for a whole
    /// build, such as alerts, goes here).
    Rebuilding,
}

/// Rebuild `project` after every relevant change until `keep_going` says stop, calling
/// `on_rebuilt` with each result and the time since the change. `ready` runs once the
/// inputs are watched (the first build happens there, so an edit made while it runs is
/// not lost). Shared by `watch` and `serve`.
pub fn rebuild_on_change(
    project: &Project,
    keep: &mut Rebuild,
    ready: impl FnOnce(&mut Rebuild),
    mut keep_going: impl FnMut(Step) -> bool,
    clock: Clock,
    mut on_rebuilt: impl FnMut(&Result<Report>, Duration),
) -> Result<()> {
    let mut inputs = Inputs::watch(project)?;
    ready(keep);
    let mut pending: Option<Gathered> = None;
    while keep_going(Step::Waiting) {
        if inputs.remote_changed() {
            pending = Gathered::add(pending, Instant::now(), Seen::Whole);
        }
        let wait = pending.map_or(Duration::from_millis(200), |g| {
            g.due().saturating_duration_since(Instant::now())
        });
        match inputs.next_change(wait) {
            None => break,
            Some(seen) => pending = Gathered::add(pending, Instant::now(), seen),
        }
        if let Some(g) = pending
            && Instant::now() >= g.due()
        {
            pending = None;
            if !keep_going(Step::Rebuilding) {
                break;
            }
            let options = Options {
                keep: Some(&mut *keep),
                progress: None,
            };
            let result = super::build(project, clock.again(), options);
            on_rebuilt(&result, g.first.elapsed());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rebuild_waits_for_quiet_shorter_when_the_file_is_whole_and_never_too_long() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        assert_eq!(Gathered::add(None, t0, Seen::Nothing), None);
        let g = Gathered::add(None, t0, Seen::Changing);
        assert_eq!(g.map(|g| g.due()), Some(ms(10)), "a write may go on");
        let g = Gathered::add(g, ms(3), Seen::Whole);
        assert_eq!(
            g.map(|g| g.due()),
            Some(ms(5)),
            "closed: gather its burst only"
        );
        let g = Gathered::add(g, ms(4), Seen::Nothing);
        assert_eq!(
            g.map(|g| g.due()),
            Some(ms(5)),
            "unrelated events change nothing"
        );
        // A file written without pause still gets a rebuild within GATHER_AT_MOST.
        let mut g = None;
        for n in 0..100 {
            g = Gathered::add(g, ms(n * 5), Seen::Changing);
        }
        assert_eq!(g.map(|g| g.due()), Some(ms(250)));
    }

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
