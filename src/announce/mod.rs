//! Step 7 of the flow: announcements. Every feed item (incident updates, maintenance,
//! detected outages) goes to every target in components.yaml's `announce:` once.
//!
//! A ledger (`state/.announce-ledger.json`, or `.announce-ledger.json` beside the regions
//! in object storage, where every builder reaches it) records per target what was sent. Before a
//! send the item is written down as pending (fsync), after it as sent. A send whose
//! outcome is unknown (the process died, the connection broke after the request went
//! out, the server answered 5xx) stays pending and is sent again on the next run with the
//! same idempotency key, which webhook receivers and Mastodon use to drop the repeat; a
//! send that certainly failed (no connection, 4xx) is retried on the next run. Items are
//! sent oldest first, and a target stops at its first failure so the order holds. A
//! target added later starts with the items of the last 24 hours, not the whole history.
//!
//! On X, Bluesky and Mastodon each incident is one thread: the ledger keeps, per target and
//! incident, the first and the newest post, and each later update replies to the newest.

pub mod send;
pub mod social;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::incident::Incident;
use crate::project::Project;
use crate::render::feeds::{self, Item};
use crate::status::timeline::Detected;

/// How far back a new target's first run reaches.
pub const BACKFILL_HOURS: i64 = 24;
/// Ledger entries are kept this long.
pub const LEDGER_DAYS: i64 = 400;

/// What one target has been sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetLedger {
    /// Items published before this are not announced to it.
    pub since: DateTime<Utc>,
    /// Item id → when it was sent.
    #[serde(default)]
    pub sent: BTreeMap<String, DateTime<Utc>>,
    /// Item id → when a send began whose outcome is unknown.
    #[serde(default)]
    pub pending: BTreeMap<String, DateTime<Utc>>,
    /// Incident ([`social::thread_key`]) → its thread of posts here (X, Bluesky, Mastodon).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub threads: BTreeMap<String, social::Thread>,
    /// The service's rate limit: nothing is sent to it before this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
}

impl TargetLedger {
    /// The ledger of a target first seen at `now`: it starts with the last
    /// [`BACKFILL_HOURS`].
    pub fn starting(now: DateTime<Utc>) -> Self {
        TargetLedger {
            since: now - Duration::hours(BACKFILL_HOURS),
            sent: BTreeMap::new(),
            pending: BTreeMap::new(),
            threads: BTreeMap::new(),
            not_before: None,
        }
    }
}

/// The ledger of every target: announcement targets, and alert targets (`alerts:` in
/// probes.yaml) with what each was told of each alert and what waits to go out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// Per announcement target id.
    #[serde(default)]
    pub targets: BTreeMap<String, TargetLedger>,
    /// Per alert target id.
    #[serde(default)]
    pub alerts: BTreeMap<String, crate::alert::Book>,
}

/// The items a target should get at `now`, oldest first: published since its start and
/// not sent yet (pending ones included: they are sent again under the same key); an item
/// made from the clock only within [`BACKFILL_HOURS`] of its time.
pub fn due<'a>(items: &'a [Item], ledger: &TargetLedger, now: DateTime<Utc>) -> Vec<&'a Item> {
    let recent = now - Duration::hours(BACKFILL_HOURS);
    let mut out: Vec<&Item> = items
        .iter()
        .filter(|i| i.published >= ledger.since && !ledger.sent.contains_key(&i.id))
        .filter(|i| !i.derived || i.published >= recent)
        .collect();
    out.sort_by(|a, b| a.published.cmp(&b.published).then(a.id.cmp(&b.id)));
    out
}

/// A stable idempotency key for one item to one target (FNV-1a, hex).
pub fn idempotency_key(target: &str, item: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in target.bytes().chain([0]).chain(item.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("pharos-{h:016x}")
}

/// The ledger, where every builder of the page can reach it: a file beside local state
/// (with a lock held while announcing), or an object beside the regions in object storage
/// (replaced only while nobody else changed it, so two announcers cannot both record).
#[derive(Debug)]
pub struct LedgerFile {
    backing: Backing,
    /// What it holds.
    pub ledger: Ledger,
}

#[derive(Debug)]
enum Backing {
    File {
        path: PathBuf,
        _lock: File,
    },
    Object {
        states: crate::state::object::ObjectStates,
        etag: Option<String>,
        guard: crate::state::object::Guard,
    },
}

/// The ledger's name in a state folder, and (after a dot) beside the regions in a bucket.
const LEDGER_NAME: &str = "announce-ledger.json";

fn damaged(shown: &str) -> String {
    format!(
        "{shown} is damaged; fix it or move it aside (every target then starts again from the last {BACKFILL_HOURS} hours)"
    )
}

impl LedgerFile {
    /// Open (or start) the ledger where the project's state is kept.
    pub async fn open_in(store: &crate::state::store::Store) -> Result<Self> {
        match store {
            crate::state::store::Store::Local(l) => Self::open(l.dir()),
            crate::state::store::Store::Object(states) => {
                let guard = states.guard_once().await?;
                let (ledger, etag) = match states.get_control(LEDGER_NAME).await? {
                    Some((bytes, etag)) => {
                        let ledger = serde_json::from_slice(&bytes)
                            .with_context(|| damaged(&states.shown_control(LEDGER_NAME)))?;
                        (ledger, etag)
                    }
                    None => (Ledger::default(), None),
                };
                Ok(LedgerFile {
                    backing: Backing::Object {
                        states: states.clone(),
                        etag,
                        guard,
                    },
                    ledger,
                })
            }
        }
    }

    /// How long an announce or alert run waits for another one to let go of the ledger.
    const WAIT_FOR_LOCK: std::time::Duration = std::time::Duration::from_secs(60);

    /// Open (or start) the ledger file in `dir`, after any other announce or alert run
    /// (they share it) is done with it; refused when one holds it for over a minute.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let lock_path = dir.join(".announce.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        let since = std::time::Instant::now();
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if since.elapsed() < Self::WAIT_FOR_LOCK => {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(std::fs::TryLockError::WouldBlock) => bail!(
                    "another `pharos announce` or `pharos alert` has held {} for over a minute; \
                     let it finish, or stop it if it hangs",
                    lock_path.display()
                ),
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", lock_path.display()));
                }
            }
        }
        let path = dir.join(format!(".{LEDGER_NAME}"));
        let ledger = match crate::input::read_text(&path, crate::input::LEDGER) {
            Ok(text) => {
                serde_json::from_str(&text).with_context(|| damaged(&path.display().to_string()))?
            }
            Err(r) if r.is_missing() => Ledger::default(),
            Err(r) => bail!("{}: {r}", path.display()),
        };
        Ok(LedgerFile {
            backing: Backing::File { path, _lock: lock },
            ledger,
        })
    }

    /// Write the ledger atomically and durably.
    pub async fn save(&mut self) -> Result<()> {
        match &mut self.backing {
            Backing::File { path, .. } => save_file(path, &self.ledger),
            Backing::Object {
                states,
                etag,
                guard,
            } => {
                let body =
                    serde_json::to_vec_pretty(&self.ledger).context("serialising the ledger")?;
                match states
                    .put_control(LEDGER_NAME, body.into(), etag.as_deref(), *guard)
                    .await
                {
                    Ok(tag) => {
                        *etag = tag;
                        Ok(())
                    }
                    Err(crate::state::object::ControlError::Conflict(e)) => bail!(
                        "{e}: another builder is announcing too; this one stops announcing until it reads the ledger again"
                    ),
                    Err(crate::state::object::ControlError::Failed(e)) => Err(e),
                }
            }
        }
    }
}

fn save_file(path: &Path, ledger: &Ledger) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".announce-ledger.")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    serde_json::to_writer_pretty(&mut tmp, ledger).context("serialising the ledger")?;
    tmp.write_all(b"\n")
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("replacing {}", path.display()))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// What a run did for one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Target id.
    pub target: String,
    /// Items sent.
    pub sent: usize,
    /// The failure that stopped it, if any.
    pub error: Option<String>,
    /// Why the rest waits though nothing failed (a rate limit), if it does.
    pub waiting: Option<String>,
}

/// Every feed item (posts and detected outages) as of `now`, and the page they belong to.
pub fn items_and_page(
    config: &Config,
    incidents: &[Arc<Incident>],
    detected: &[Detected],
    now: DateTime<Utc>,
) -> (Vec<Item>, send::PageInfo) {
    let page = &config.site.page;
    let mut items = feeds::items(&page.base_url, incidents, now);
    items.extend(feeds::detected_items(config, detected, now));
    (items, send::PageInfo::of(page))
}

/// Send what is due of `items` as of `now` to every target of `config`, recording it in
/// the project's ledger; one outcome per target.
pub fn send_due(
    project: &Project,
    config: &Config,
    items: &[Item],
    info: &send::PageInfo,
    now: DateTime<Utc>,
) -> Result<Vec<Outcome>> {
    let targets = &config.site.announce;
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let store = project.store()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let mut file = LedgerFile::open_in(&store).await?;
        run(&project.root, targets, info, items, &mut file, now).await
    })
}

/// Send every due item to every target, recording each step in the ledger.
pub async fn run(
    root: &Path,
    targets: &[crate::config::Target],
    page: &send::PageInfo,
    items: &[Item],
    file: &mut LedgerFile,
    now: DateTime<Utc>,
) -> Result<Vec<Outcome>> {
    let client = send::client()?;
    let mut outcomes = Vec::new();
    for target in targets {
        let entry = file
            .ledger
            .targets
            .entry(target.id.clone())
            .or_insert_with(|| TargetLedger::starting(now));
        let cutoff = now - Duration::days(LEDGER_DAYS);
        entry.sent.retain(|_, at| *at > cutoff);
        entry.threads.retain(|_, t| t.at > cutoff);
        let todo: Vec<Item> = due(items, entry, now).into_iter().cloned().collect();
        let mut outcome = Outcome {
            target: target.id.clone(),
            sent: 0,
            error: None,
            waiting: None,
        };
        // A rate limit's reset is the service's clock, so it is held against this one's.
        if let Some(until) = entry.not_before.filter(|u| Utc::now() < *u) {
            if !todo.is_empty() {
                outcome.waiting = Some(waiting(todo.len(), until));
            }
            outcomes.push(outcome);
            continue;
        }
        let prepared = match send::prepare(target, root) {
            Ok(p) => p,
            Err(e) => {
                outcome.error = Some(format!("{e:#}"));
                outcomes.push(outcome);
                continue;
            }
        };
        for (n, item) in todo.iter().enumerate() {
            let thread = file
                .ledger
                .targets
                .get(&target.id)
                .and_then(|t| t.threads.get(social::thread_key(item)).cloned());
            set_pending(file, &target.id, &item.id, Some(Utc::now()));
            file.save().await?;
            let key = idempotency_key(&target.id, &item.id);
            let post = send::Post {
                item,
                key: &key,
                thread: thread.as_ref(),
            };
            match send::send(&client, &prepared, page, &post).await {
                Ok(made) => {
                    if let Some(t) = file.ledger.targets.get_mut(&target.id) {
                        t.pending.remove(&item.id);
                        t.sent.insert(item.id.clone(), Utc::now());
                        t.not_before = None;
                        if let Some(made) = made {
                            let grown = social::Thread::grown(thread.as_ref(), made, Utc::now());
                            t.threads
                                .insert(social::thread_key(item).to_string(), grown);
                        }
                    }
                    file.save().await?;
                    outcome.sent += 1;
                }
                Err(send::Failure::Deferred(until)) => {
                    set_pending(file, &target.id, &item.id, None);
                    if let Some(t) = file.ledger.targets.get_mut(&target.id) {
                        t.not_before = Some(until);
                    }
                    file.save().await?;
                    outcome.waiting = Some(waiting(todo.len() - n, until));
                    break;
                }
                Err(send::Failure::NotSent(e) | send::Failure::Refused(e)) => {
                    set_pending(file, &target.id, &item.id, None);
                    file.save().await?;
                    outcome.error = Some(e);
                    break;
                }
                Err(send::Failure::Unknown(e)) => {
                    outcome.error = Some(format!(
                        "{e} (it may have arrived; it is sent again next time under the same idempotency key)"
                    ));
                    break;
                }
            }
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// What a rate-limited target says: how many items wait, and until when.
fn waiting(items: usize, until: DateTime<Utc>) -> String {
    format!(
        "{}; {items} item(s) wait for the next run after that",
        send::Failure::Deferred(until)
    )
}

fn set_pending(file: &mut LedgerFile, target: &str, item: &str, at: Option<DateTime<Utc>>) {
    if let Some(t) = file.ledger.targets.get_mut(target) {
        match at {
            Some(at) => {
                t.pending.entry(item.to_string()).or_insert(at);
            }
            None => {
                t.pending.remove(item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, min: i64) -> Item {
        Item {
            id: id.to_string(),
            title: id.to_string(),
            link: String::new(),
            published: DateTime::from_timestamp(1_800_000_000 + min * 60, 0).unwrap_or_default(),
            html: String::new(),
            text: String::new(),
            components: vec![],
            derived: false,
            post: None,
        }
    }

    #[test]
    fn due_items_are_new_unsent_and_oldest_first() {
        let items = [
            item("c", 30),
            item("a", 10),
            item("b", 20),
            item("old", -100),
        ];
        let mut ledger = TargetLedger::starting(
            DateTime::from_timestamp(1_800_000_000 + BACKFILL_HOURS * 3600, 0).unwrap_or_default(),
        );
        ledger.sent.insert("b".into(), Utc::now());
        ledger.pending.insert("a".into(), Utc::now());
        let now = DateTime::from_timestamp(1_800_000_000 + 40 * 60, 0).unwrap_or_default();
        let ids: Vec<&str> = due(&items, &ledger, now)
            .iter()
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(
            ids,
            vec!["a", "c"],
            "pending is sent again, sent never, old never"
        );
    }

    #[test]
    fn an_item_made_from_the_clock_is_sent_only_while_recent() {
        let ledger = TargetLedger::starting(
            DateTime::from_timestamp(1_800_000_000 + BACKFILL_HOURS * 3600, 0).unwrap_or_default(),
        );
        let mut began = item("began", 10);
        began.derived = true;
        let items = [began];
        let at =
            |min: i64| DateTime::from_timestamp(1_800_000_000 + min * 60, 0).unwrap_or_default();
        assert_eq!(due(&items, &ledger, at(60)).len(), 1, "an hour later");
        assert_eq!(
            due(&items, &ledger, at(10 + BACKFILL_HOURS * 60 + 1)).len(),
            0,
            "after a day it is no news"
        );
    }

    #[test]
    fn keys_are_stable_and_differ_per_target() {
        assert_eq!(idempotency_key("slack", "x"), idempotency_key("slack", "x"));
        assert_ne!(
            idempotency_key("slack", "x"),
            idempotency_key("discord", "x")
        );
        let k = idempotency_key("a", "b");
        assert!(k.starts_with("pharos-") && k.len() == 23, "{k}");
    }
}
