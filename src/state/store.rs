//! Step 3 (state): where region files live. A local folder: one file per region, written
//! atomically (temporary file, fsync, rename, fsync of the folder), guarded by a lock file
//! so a second worker for the same region is refused. Or object storage ([`super::object`]);
//! [`Store`] and [`Writer`] hide which.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result, bail};

use super::RegionState;

/// Region files are read by the builder, often as another user: 0644, not tempfile's 0600.
fn set_readable(file: &File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o644))
}

/// A folder of region state files.
#[derive(Debug, Clone)]
pub struct LocalStore {
    dir: PathBuf,
}

/// Proof that this process is the only worker of a region; released on drop.
#[derive(Debug)]
pub struct RegionLock {
    _file: File,
    path: PathBuf,
    region: String,
}

impl RegionLock {
    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl LocalStore {
    /// A store over `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalStore { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The state file of a region.
    pub fn path_of(&self, region: &str) -> PathBuf {
        self.dir.join(format!("{region}.json"))
    }

    /// Take the region's lock, or explain who holds it.
    pub fn lock(&self, region: &str) -> Result<RegionLock> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating state folder {}", self.dir.display()))?;
        let path = self.dir.join(format!(".{region}.lock"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.split_whitespace().collect::<Vec<_>>().join(", ");
                bail!(
                    "region \"{region}\" is already being probed by another worker ({}): lock file {} is held. \
                     Stop that worker first, or start this one with another --region",
                    if holder.is_empty() {
                        "process unknown".to_string()
                    } else {
                        holder
                    },
                    path.display()
                );
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
        let host = fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "unknown".to_string());
        let info = format!(
            "pid={} host={} started={}\n",
            std::process::id(),
            host,
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(info.as_bytes()))
            .and_then(|_| file.flush())
            .with_context(|| format!("writing lock file {}", path.display()))?;
        self.remove_stale_temp_files(region);
        Ok(RegionLock {
            _file: file,
            path,
            region: region.to_string(),
        })
    }

    /// Temporary files left by a worker that was killed mid-write; only the lock holder
    /// calls this, so none of them is being written.
    fn remove_stale_temp_files(&self, region: &str) {
        let prefix = format!(".{region}.json.");
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(&prefix) && name.ends_with(".tmp") {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
    }

    /// Write a region's state atomically: a reader sees the old file or the new one.
    pub fn write(&self, state: &RegionState, lock: &RegionLock) -> Result<()> {
        if state.region != lock.region {
            bail!(
                "internal error: state of region \"{}\" written under the lock of \"{}\"",
                state.region,
                lock.region
            );
        }
        let target = self.path_of(&lock.region);
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.json.", state.region))
            .suffix(".tmp")
            .tempfile_in(&self.dir)
            .with_context(|| format!("creating a temporary file in {}", self.dir.display()))?;
        // Stream the JSON into the temporary file: no second copy of a large state in memory.
        let mut out = std::io::BufWriter::new(tmp);
        super::write_json(state, &mut out)
            .with_context(|| format!("writing a temporary file in {}", self.dir.display()))?;
        let tmp = out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing a temporary file in {}", self.dir.display()))?;
        set_readable(tmp.as_file())
            .and_then(|_| tmp.as_file().sync_all())
            .with_context(|| format!("writing {}", tmp.path().display()))?;
        tmp.persist(&target)
            .map_err(|e| e.error)
            .with_context(|| format!("replacing {}", target.display()))?;
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Rename a region's state file to `<file>.damaged-<UTC time>`, returning the new path.
    pub fn move_aside(&self, region: &str) -> Result<PathBuf> {
        let from = self.path_of(region);
        let mut to = from.clone().into_os_string();
        to.push(format!(
            ".damaged-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ));
        let to = PathBuf::from(to);
        fs::rename(&from, &to)
            .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
        Ok(to)
    }

    /// Read one region's state, `None` when it has none yet.
    pub fn read(&self, region: &str) -> Result<Option<RegionState>> {
        let path = self.path_of(region);
        let text = match crate::input::read_text(&path, crate::input::STATE) {
            Ok(text) => text,
            Err(r) if r.is_missing() => return Ok(None),
            // The system refused the read (permissions, I/O): not the file's content.
            Err(crate::input::Refused::Io(e)) => {
                return Err(e).with_context(|| format!("reading {}", path.display()));
            }
            // Not a readable state file (a folder, a FIFO, too large, not UTF-8).
            Err(r) => bail!("{}: {r}", path.display()),
        };
        let state = super::parse(&text, &path.display().to_string())?;
        if state.region != region {
            bail!(
                "{} holds the state of region \"{}\", not \"{region}\"; move it aside",
                path.display(),
                state.region
            );
        }
        Ok(Some(state))
    }

    /// Read every region file in the folder (`*.json`, hidden files skipped), by name.
    /// A file that cannot be read as a region's state is reported in the second list and
    /// left out: its region then shows "no data", and one bad file does not stop the site.
    pub fn read_all(&self) -> Result<(Vec<RegionState>, Vec<String>)> {
        self.read_all_cached(&mut ReadCache::default())
    }

    /// [`LocalStore::read_all`], reusing what `cache` read before from files whose stamp
    /// did not change (see [`crate::input::Stamp`]).
    pub fn read_all_cached(
        &self,
        cache: &mut ReadCache,
    ) -> Result<(Vec<RegionState>, Vec<String>)> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), Vec::new()));
            }
            Err(e) => return Err(e).with_context(|| format!("listing {}", self.dir.display())),
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|x| x == "json")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        paths.sort();
        let seen: std::collections::HashSet<PathBuf> = paths.iter().cloned().collect();
        let mut states = Vec::new();
        let mut skipped = Vec::new();
        for path in paths {
            let shown = path.display().to_string();
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let stamp = crate::input::Stamp::of(&path);
            if let Some((before, state)) = cache.files.get(&path)
                && stamp.is_some()
                && *before == stamp
            {
                states.push(state.clone());
                continue;
            }
            let parsed = crate::input::read_text(&path, crate::input::STATE)
                .map_err(|e| anyhow::anyhow!("{shown}: {e}"))
                .and_then(|text| super::parse(&text, &shown));
            match parsed {
                Ok(state) if state.region == stem => {
                    cache.files.insert(path.clone(), (stamp, state.clone()));
                    states.push(state);
                }
                Ok(state) => skipped.push(format!(
                    "{shown} holds the state of region \"{}\"; a region's file must be named <region>.json",
                    state.region
                )),
                Err(e) => skipped.push(format!("{e:#}")),
            }
        }
        cache.files.retain(|p, _| seen.contains(p));
        Ok((states, skipped))
    }
}

/// Region files read by earlier builds of a rebuild loop, with their stamps.
#[derive(Debug, Default)]
pub struct ReadCache {
    files: std::collections::HashMap<PathBuf, (Option<crate::input::Stamp>, RegionState)>,
}

/// Where region state lives: a local folder or an object-storage prefix.
#[derive(Debug, Clone)]
pub enum Store {
    /// `state/` or another folder.
    Local(LocalStore),
    /// `s3://bucket/prefix`.
    Object(super::object::ObjectStates),
}

/// The one writer of a region's state.
#[derive(Debug)]
pub enum Writer {
    /// A local file under its lock.
    Local(LocalStore, Arc<RegionLock>),
    /// An object guarded by conditional writes.
    Object(super::object::ObjectWriter),
}

impl Store {
    /// `--state`: an `s3://` URL or a folder; `None` is the project's `state/`.
    pub fn from_spec(spec: Option<&str>, default_dir: PathBuf) -> Result<Store> {
        match spec {
            Some(url) if url.starts_with("s3://") => {
                Ok(Store::Object(super::object::ObjectStates::from_url(url)?))
            }
            Some(other) if other.contains("://") => bail!(
                "state location \"{other}\" is not supported: use a folder or s3://bucket/prefix"
            ),
            Some(dir) => Ok(Store::Local(LocalStore::new(dir))),
            None => Ok(Store::Local(LocalStore::new(default_dir))),
        }
    }

    /// How a region's state is named in messages.
    pub fn shown(&self, region: &str) -> String {
        match self {
            Store::Local(l) => l.path_of(region).display().to_string(),
            Store::Object(o) => o.shown(region),
        }
    }

    /// The folder, for a local store.
    pub fn local_dir(&self) -> Option<&Path> {
        match self {
            Store::Local(l) => Some(l.dir()),
            Store::Object(_) => None,
        }
    }

    /// Become the only writer of `region` and read its current state. `lease` is how long
    /// a recently written object is watched for another live writer.
    pub async fn open(
        &self,
        region: &str,
        lease: std::time::Duration,
        move_aside: bool,
    ) -> Result<(Writer, Option<RegionState>)> {
        match self {
            Store::Local(l) => {
                let lock = l.lock(region)?;
                let state = match l.read(region) {
                    Ok(state) => state,
                    // Only a file that reads but is not this region's state moves; a
                    // read error (permissions, I/O) leaves it where it is.
                    Err(e) if move_aside && !e.chain().any(|c| c.is::<std::io::Error>()) => {
                        let kept = l.move_aside(region)?;
                        tracing::warn!("{e:#}; kept it as {} and starting afresh", kept.display());
                        None
                    }
                    Err(e) if e.chain().any(|c| c.is::<std::io::Error>()) => {
                        return Err(e).with_context(|| {
                            format!("cannot read the state of region \"{region}\"")
                        });
                    }
                    Err(e) => {
                        return Err(e).with_context(|| {
                            format!(
                                "refusing to overwrite the state of region \"{region}\" \
                                 (`pharos probe --move-aside` keeps it as {}.damaged-<time> and starts afresh)",
                                l.path_of(region).display()
                            )
                        });
                    }
                };
                Ok((Writer::Local(l.clone(), Arc::new(lock)), state))
            }
            Store::Object(o) => {
                let (writer, state) = o.open(region, lease, move_aside).await?;
                Ok((Writer::Object(writer), state))
            }
        }
    }

    /// How often a live worker must write even without news, so a second worker that
    /// watches the object sees it alive: half the lease for object storage, never for a
    /// local file (its lock says it all).
    pub fn keepalive(&self, lease: std::time::Duration) -> Option<std::time::Duration> {
        match self {
            Store::Local(_) => None,
            Store::Object(_) => Some(lease / 2),
        }
    }

    /// One region's state, `None` when it has none yet.
    pub async fn read(&self, region: &str) -> Result<Option<RegionState>> {
        match self {
            Store::Local(l) => l.read(region),
            Store::Object(o) => match o.read(region).await {
                Ok(state) => Ok(Some(state)),
                Err(e)
                    if e.chain().any(|c| {
                        c.downcast_ref::<super::trouble::StoreError>()
                            .is_some_and(|s| {
                                matches!(s.error, object_store::Error::NotFound { .. })
                            })
                    }) =>
                {
                    Ok(None)
                }
                Err(e) => Err(e),
            },
        }
    }

    /// Every region's state, and the files left out with the reason.
    pub async fn read_all(&self) -> Result<(Vec<RegionState>, Vec<String>)> {
        match self {
            Store::Local(l) => l.read_all(),
            Store::Object(o) => o.read_all().await,
        }
    }

    /// [`Store::read_all`] from synchronous code.
    pub fn read_all_blocking(&self) -> Result<(Vec<RegionState>, Vec<String>)> {
        self.read_all_blocking_cached(&mut ReadCache::default())
    }

    /// [`Store::read_all_blocking`], reusing what `cache` holds of a local folder's
    /// files that did not change.
    pub fn read_all_blocking_cached(
        &self,
        cache: &mut ReadCache,
    ) -> Result<(Vec<RegionState>, Vec<String>)> {
        match self {
            Store::Local(l) => l.read_all_cached(cache),
            Store::Object(o) => block_on(o.read_all()),
        }
    }

    /// [`Store::read`] from synchronous code.
    pub fn read_blocking(&self, region: &str) -> Result<Option<RegionState>> {
        match self {
            Store::Local(l) => l.read(region),
            Store::Object(_) => block_on(self.read(region)),
        }
    }
}

/// Run `f` to its end on a runtime of its own, for synchronous callers.
fn block_on<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(f)
}

impl Writer {
    /// Write the state. The work is done on a blocking thread, under the state's read
    /// lock: the worker's checks run on one thread, and serialising a large state (or an
    /// fsync on a busy disk) there would delay them and skew their timings. A local file
    /// is streamed; an object is serialised first, so the lock is not held during the
    /// upload.
    pub async fn write(
        &mut self,
        state: &Arc<RwLock<RegionState>>,
    ) -> Result<(), super::object::WriteError> {
        use super::object::WriteError;
        let state = state.clone();
        let crashed = |e: tokio::task::JoinError| {
            WriteError::Fatal(format!("internal error: writing the state crashed: {e}"))
        };
        match self {
            Writer::Local(store, lock) => {
                let (store, lock) = (store.clone(), lock.clone());
                let written = tokio::task::spawn_blocking(move || {
                    let s = state.read().unwrap_or_else(|e| e.into_inner());
                    store.write(&s, &lock)
                })
                .await
                .map_err(crashed)?;
                written.map_err(|e| {
                    // A full disk or exhausted descriptors pass: keep probing and try
                    // again (the previous file stays whole). Anything else stops.
                    if passing_trouble(&e) {
                        WriteError::Failed(e)
                    } else {
                        WriteError::Fatal(format!("{e:#}"))
                    }
                })
            }
            Writer::Object(w) => {
                let bytes = tokio::task::spawn_blocking(move || {
                    let mut bytes = Vec::new();
                    let s = state.read().unwrap_or_else(|e| e.into_inner());
                    super::write_json(&s, &mut bytes).map(|()| bytes)
                })
                .await
                .map_err(crashed)?
                .map_err(|e| WriteError::Failed(anyhow::anyhow!("serialising state: {e}")))?;
                w.write(bytes).await
            }
        }
    }
}

/// Whether a local write failed for a reason that may pass: no space or quota left
/// (ENOSPC, EDQUOT), or no file descriptor (EMFILE, ENFILE).
fn passing_trouble(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) || matches!(io.raw_os_error(), Some(28 | 122 | 24 | 23))
                || io.to_string().contains("(os error 24)")
                || io.to_string().contains("(os error 23)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn a_rebuild_reads_again_only_the_region_files_that_changed() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let at = |minute: u32| Utc.with_ymd_and_hms(2026, 11, 20, 12, minute, 0).unwrap();
        let write = |region: &str, file: &str, minute: u32| {
            let text = serde_json::to_string(&RegionState::new(region, at(minute))).unwrap();
            fs::write(dir.path().join(file), text).unwrap();
        };
        write("eu", "eu.json", 1);
        write("us", "us.json", 1);
        let mut cache = ReadCache::default();
        let written = |cache: &mut ReadCache| {
            let (states, skipped) = store.read_all_cached(cache).unwrap();
            assert!(skipped.is_empty(), "{skipped:?}");
            states.iter().map(|s| s.written_at).collect::<Vec<_>>()
        };
        assert_eq!(written(&mut cache), [at(1), at(1)]);
        std::thread::sleep(crate::input::Stamp::SETTLED + std::time::Duration::from_millis(100));
        assert_eq!(written(&mut cache), [at(1), at(1)]);
        // Settled and unchanged: taken from the cache, not read.
        for (_, state) in cache.files.values_mut() {
            state.written_at = at(30);
        }
        assert_eq!(written(&mut cache), [at(30), at(30)]);
        // A region that writes again is read again; the other is not.
        write("us", "us.json", 2);
        assert_eq!(written(&mut cache), [at(30), at(2)]);
        // A file that no longer holds its region's state is left out, not served from
        // the cache.
        write("xx", "eu.json", 3);
        let (states, skipped) = store.read_all_cached(&mut cache).unwrap();
        assert_eq!(states.len(), 1);
        assert_eq!(skipped.len(), 1, "{skipped:?}");
    }
}
