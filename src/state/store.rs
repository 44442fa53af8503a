//! Step 3 (state): where region state lives. A local folder: per region a folder of pieces
//! ([`super::layout`]: `<region>/live.json.zst` and `<region>/days/<day>.json.zst`), each
//! written atomically (temporary file, fsync, rename, fsync of the folder), guarded by a
//! lock file so a second worker for the same region is refused; a schema-2 single file
//! `<region>.json` is read and migrated by the first write. Or object storage
//! ([`super::object`]) with the same names; [`Store`] and [`Writer`] hide which.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDate, Utc};

use super::RegionState;
use super::layout::{self, DayPiece, Live};

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

    /// The schema-2 file of a region (read, and migrated by the region's first write).
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
        let host = host_name();
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
        let legacy = format!(".{region}.json.");
        let region_dir = self.region_dir(region);
        for (dir, prefix) in [
            (self.dir.clone(), legacy.as_str()),
            (region_dir.clone(), PIECE_TEMP),
            (region_dir.join(layout::DAYS), PIECE_TEMP),
        ] {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(prefix) && name.ends_with(".tmp") {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
    }

    /// The folder of a region's pieces.
    pub fn region_dir(&self, region: &str) -> PathBuf {
        self.dir.join(region)
    }

    /// Write `value` as the piece `rel` under the region's folder, atomically: a reader
    /// sees the old piece or the new one. The folders are synced by [`LocalStore::sync`].
    fn put(&self, lock: &RegionLock, rel: &str, value: &impl serde::Serialize) -> Result<()> {
        let target = self.region_dir(&lock.region).join(rel);
        let dir = target.parent().unwrap_or(&self.dir);
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(PIECE_TEMP)
            .suffix(".tmp")
            .tempfile_in(dir)
            .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
        let shown = tmp.path().display().to_string();
        let mut out = std::io::BufWriter::new(tmp.as_file_mut());
        layout::encode_into(value, &mut out)
            .and_then(|()| out.flush())
            .with_context(|| format!("writing {shown}"))?;
        drop(out);
        set_readable(tmp.as_file())
            .and_then(|()| tmp.as_file().sync_all())
            .with_context(|| format!("writing {}", tmp.path().display()))?;
        tmp.persist(&target)
            .map_err(|e| e.error)
            .with_context(|| format!("replacing {}", target.display()))?;
        Ok(())
    }

    /// Make the renames of a write durable: the region's folders and the state folder.
    fn sync(&self, region: &str) -> Result<()> {
        let region_dir = self.region_dir(region);
        for dir in [region_dir.join(layout::DAYS), region_dir, self.dir.clone()] {
            match File::open(&dir) {
                Ok(f) => f
                    .sync_all()
                    .with_context(|| format!("syncing {}", dir.display()))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("opening {}", dir.display())),
            }
        }
        Ok(())
    }

    /// Keep a migrated schema-2 file as `<region>.json.schema-2` (no longer read).
    fn retire_legacy(&self, region: &str) -> Result<()> {
        let from = self.path_of(region);
        let mut to = from.clone().into_os_string();
        to.push(".schema-2");
        match fs::rename(&from, &to) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("moving {} aside", from.display())),
        }
    }

    /// Rename a region's live object (or its schema-2 file) to `<file>.damaged-<UTC
    /// time>`, returning the new path. Its day pieces stay: the next live object is put
    /// together with them.
    pub fn move_aside(&self, region: &str) -> Result<PathBuf> {
        let live = self.region_dir(region).join(layout::LIVE);
        let from = if live.exists() {
            live
        } else {
            self.path_of(region)
        };
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

    /// Read one region's state, `None` when it has none yet: its pieces, or else its
    /// schema-2 file. Damaged pieces are left out with a warning.
    pub fn read(&self, region: &str) -> Result<Option<RegionState>> {
        Ok(self.read_region(region, false)?.map(|r| r.state))
    }

    /// [`LocalStore::read`], with what the worker needs to go on writing; `open_only`
    /// reads only the pieces of the days not closed (what a worker goes on from).
    pub fn read_region(&self, region: &str, open_only: bool) -> Result<Option<Region>> {
        let mut cache = ReadCache::default();
        if let Some(read) = self.read_layout(region, &mut cache, open_only)? {
            for s in &read.skipped {
                tracing::warn!("{s}; that day's history is left out");
            }
            return Ok(Some(read));
        }
        Ok(self.read_legacy(region)?.map(|state| Region {
            state,
            since: None,
            skipped: Vec::new(),
        }))
    }

    /// Read a region's pieces, `None` when it has no live object; pieces that cannot be
    /// read are left out and named in `skipped`.
    fn read_layout(
        &self,
        region: &str,
        cache: &mut ReadCache,
        open_only: bool,
    ) -> Result<Option<Region>> {
        let dir = self.region_dir(region);
        let live_path = dir.join(layout::LIVE);
        let stamp = crate::input::Stamp::of(&live_path);
        let (live, mut changed) = match cache.lives.get(&live_path) {
            Some((before, live)) if stamp.is_some() && *before == stamp => (live.clone(), false),
            _ => match read_piece::<Live>(&live_path, region, &mut cache.bytes_read)? {
                None => return Ok(None),
                Some(live) => {
                    let live = Arc::new(live);
                    cache.lives.insert(live_path.clone(), (stamp, live.clone()));
                    (live, true)
                }
            },
        };
        let days_dir = dir.join(layout::DAYS);
        let mut names: Vec<(PathBuf, Option<crate::input::Stamp>)> = match fs::read_dir(&days_dir) {
            Ok(entries) => entries
                .flatten()
                .filter(|e| {
                    layout::day_of_name(&e.file_name().to_string_lossy())
                        .is_some_and(|day| !open_only || day >= live.since)
                })
                .map(|e| {
                    let stamp = e
                        .metadata()
                        .ok()
                        .and_then(|m| crate::input::Stamp::of_metadata(&m));
                    (e.path(), stamp)
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("listing {}", days_dir.display())),
        };
        names.sort_by(|a, b| a.0.cmp(&b.0));
        // Only the days the kept windows reach.
        let day_of = |p: &PathBuf| {
            p.file_name()
                .and_then(|n| layout::day_of_name(&n.to_string_lossy()))
        };
        if let Some(newest) = names.last().and_then(|(p, _)| day_of(p)) {
            let oldest = layout::oldest_kept(newest);
            names.retain(|(p, _)| day_of(p).is_some_and(|d| d >= oldest));
        }
        let fresh: Vec<&(PathBuf, Option<crate::input::Stamp>)> = names
            .iter()
            .filter(|(path, stamp)| {
                !cache
                    .pieces
                    .get(path)
                    .is_some_and(|(before, _)| stamp.is_some() && before == stamp)
            })
            .collect();
        changed |= !fresh.is_empty();
        let mut skipped = Vec::new();
        for ((path, stamp), read) in fresh.iter().copied().zip(read_pieces(&fresh, region)) {
            match read {
                Ok((Some(piece), bytes)) => {
                    cache.bytes_read += bytes;
                    cache.pieces.insert(path.clone(), (*stamp, Arc::new(piece)));
                }
                Ok((None, _)) => {}
                Err(e) => skipped.push(format!("{e:#}")),
            }
        }
        let pieces: Vec<Arc<DayPiece>> = names
            .iter()
            .filter_map(|(path, _)| cache.pieces.get(path).map(|(_, p)| p.clone()))
            .collect();
        let listed: std::collections::HashSet<&PathBuf> = names.iter().map(|(p, _)| p).collect();
        let before = cache.pieces.len();
        cache
            .pieces
            .retain(|p, _| !p.starts_with(&days_dir) || listed.contains(p));
        changed |= cache.pieces.len() != before;
        let state = match cache.assembled.get(region) {
            Some(state) if !changed => state.clone(),
            _ => {
                let refs: Vec<&DayPiece> = pieces.iter().map(|p| p.as_ref()).collect();
                let state = layout::assemble(&live, &refs);
                cache.assembled.insert(region.to_string(), state.clone());
                state
            }
        };
        Ok(Some(Region {
            state,
            since: Some(live.since),
            skipped,
        }))
    }

    /// Read a region's schema-2 file, `None` when there is none.
    fn read_legacy(&self, region: &str) -> Result<Option<RegionState>> {
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

    /// When each region in the folder was last written, by its worker's clock and by the
    /// file's modification time; the regions that cannot be read, with the reason.
    pub fn last_writes(&self) -> Result<(Vec<LastWrite>, Vec<String>)> {
        let (mut found, mut skipped) = (Vec::new(), Vec::new());
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((found, skipped)),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.dir.display())),
        };
        let mut names: Vec<(String, bool)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                let dir = e.file_type().ok()?.is_dir();
                match name.strip_suffix(".json") {
                    _ if name.starts_with('.') => None,
                    Some(region) if !dir => Some((region.to_string(), false)),
                    _ => dir.then_some((name, true)),
                }
            })
            .collect();
        names.sort();
        for (region, layout) in names {
            let path = if layout {
                self.region_dir(&region).join(layout::LIVE)
            } else if self.region_dir(&region).join(layout::LIVE).exists() {
                continue; // migrated: the live object speaks for it
            } else {
                self.path_of(&region)
            };
            let written = if layout {
                read_piece::<Live>(&path, &region, &mut 0).map(|l| l.map(|l| l.written_at))
            } else {
                self.read_legacy(&region).map(|s| s.map(|s| s.written_at))
            };
            let stored = fs::metadata(&path).and_then(|m| m.modified());
            match (written, stored) {
                (Ok(Some(written_at)), Ok(stored)) => found.push(LastWrite {
                    region,
                    written_at,
                    stored_at: stored.into(),
                }),
                (Ok(None), _) => {}
                (Err(e), _) => skipped.push(format!("{e:#}")),
                (_, Err(e)) => skipped.push(format!("{}: {e}", path.display())),
            }
        }
        Ok((found, skipped))
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
        cache.bytes_read = 0;
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), Vec::new()));
            }
            Err(e) => return Err(e).with_context(|| format!("listing {}", self.dir.display())),
        };
        let mut regions = std::collections::BTreeMap::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if path.join(layout::LIVE).exists() {
                    regions.insert(name, None);
                }
            } else if let Some(stem) = name.strip_suffix(".json") {
                regions.entry(stem.to_string()).or_insert(Some(path));
            }
        }
        let mut states = Vec::new();
        let mut skipped = Vec::new();
        for (region, legacy) in &regions {
            let read = match legacy {
                None => self.read_layout(region, cache, false).map(|r| {
                    r.map(|r| {
                        skipped.extend(r.skipped);
                        r.state
                    })
                }),
                Some(path) => self.read_legacy_cached(region, path, cache).map(Some),
            };
            match read {
                Ok(Some(state)) => states.push(state),
                Ok(None) => {}
                Err(e) => skipped.push(format!("{e:#}")),
            }
        }
        cache.files.retain(|p, _| {
            p.file_stem()
                .is_some_and(|s| matches!(regions.get(&*s.to_string_lossy()), Some(Some(_))))
        });
        cache
            .assembled
            .retain(|r, _| matches!(regions.get(r), Some(None)));
        // What was read of regions no longer there goes (no file system calls: the
        // listing above says which are there).
        let read_here = |dir: Option<&Path>| {
            dir.and_then(Path::file_name)
                .is_some_and(|r| matches!(regions.get(&*r.to_string_lossy()), Some(None)))
        };
        cache.lives.retain(|p, _| read_here(p.parent()));
        cache
            .pieces
            .retain(|p, _| read_here(p.parent().and_then(Path::parent)));
        tracing::debug!("state: read {} bytes", cache.bytes_read);
        Ok((states, skipped))
    }

    /// A region's schema-2 file at `path`, from `cache` when its stamp is unchanged.
    fn read_legacy_cached(
        &self,
        region: &str,
        path: &Path,
        cache: &mut ReadCache,
    ) -> Result<RegionState> {
        let shown = path.display().to_string();
        let stamp = crate::input::Stamp::of(path);
        if let Some((before, state)) = cache.files.get(path)
            && stamp.is_some()
            && *before == stamp
        {
            return Ok(state.clone());
        }
        let text = crate::input::read_text(path, crate::input::STATE)
            .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
        cache.bytes_read += text.len() as u64;
        let state = super::parse(&text, &shown)?;
        if state.region != region {
            bail!(
                "{shown} holds the state of region \"{}\"; a region's file must be named <region>.json",
                state.region
            );
        }
        cache
            .files
            .insert(path.to_path_buf(), (stamp, state.clone()));
        Ok(state)
    }
}

/// Prefix of the temporary files of piece writes.
const PIECE_TEMP: &str = ".piece.";

/// Read a piece file; `None` when it does not exist.
fn read_piece<T: serde::de::DeserializeOwned + layout::Stored>(
    path: &Path,
    region: &str,
    bytes_read: &mut u64,
) -> Result<Option<T>> {
    let shown = path.display().to_string();
    let bytes = match crate::input::read_bytes(path, crate::input::STATE) {
        Ok(bytes) => bytes,
        Err(r) if r.is_missing() => return Ok(None),
        Err(crate::input::Refused::Io(e)) => {
            return Err(e).with_context(|| format!("reading {shown}"));
        }
        Err(r) => bail!("{shown}: {r}"),
    };
    *bytes_read += bytes.len() as u64;
    layout::decode(&bytes, &shown, region).map(Some)
}

/// Read and decode the day pieces at `paths` (with the bytes each took), on every core:
/// a cold build reads a year of them per region.
fn read_pieces(
    paths: &[&(PathBuf, Option<crate::input::Stamp>)],
    region: &str,
) -> Vec<Result<(Option<DayPiece>, u64)>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(8);
    let chunk = paths.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                let handle = scope.spawn(move || {
                    part.iter()
                        .map(|(path, _)| {
                            let mut bytes = 0;
                            read_piece::<DayPiece>(path, region, &mut bytes).map(|p| (p, bytes))
                        })
                        .collect::<Vec<_>>()
                });
                (part.len(), handle)
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(n, h)| {
                h.join().unwrap_or_else(|_| {
                    (0..n)
                        .map(|_| {
                            Err(anyhow::anyhow!(
                                "internal error: reading day pieces crashed"
                            ))
                        })
                        .collect()
                })
            })
            .collect()
    })
}

/// A region as read from its store.
#[derive(Debug, Clone)]
pub struct Region {
    /// Its state.
    pub state: RegionState,
    /// The live object's `since` (days before it are closed); `None` for a schema-2 file.
    pub since: Option<NaiveDate>,
    /// Pieces left out, with the reason.
    pub skipped: Vec<String>,
}

/// What earlier builds of a rebuild loop read of the state, with the stamps (a folder)
/// or ETags (object storage) it had, so a rebuild reads only what changed.
#[derive(Debug, Default)]
pub struct ReadCache {
    /// Schema-2 files.
    files: std::collections::HashMap<PathBuf, (Option<crate::input::Stamp>, RegionState)>,
    lives: std::collections::HashMap<PathBuf, (Option<crate::input::Stamp>, Arc<Live>)>,
    pieces: std::collections::HashMap<PathBuf, (Option<crate::input::Stamp>, Arc<DayPiece>)>,
    /// Each region put together from the pieces above.
    pub(super) assembled: std::collections::HashMap<String, RegionState>,
    /// Objects by key, with their ETags.
    pub(super) objects: super::object::Seen,
    /// Bytes read from the store by the last read.
    pub bytes_read: u64,
}

/// Where region state lives: a local folder or an object-storage prefix.
#[derive(Debug, Clone)]
pub enum Store {
    /// `state/` or another folder.
    Local(LocalStore),
    /// `s3://bucket/prefix`.
    Object(super::object::ObjectStates),
}

/// When a region's worker last wrote: by its own clock, and by the store's (the file's
/// modification time, the object's Last-Modified). What `doctor` tells fresh regions from
/// stale ones by, and a worker's clock from the store's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWrite {
    /// The region.
    pub region: String,
    /// `written_at` of its live object (or schema-2 file), by the worker's clock.
    pub written_at: DateTime<Utc>,
    /// When the store got it, by the store's clock.
    pub stored_at: DateTime<Utc>,
}

/// The one writer of a region's state, and what it has written.
#[derive(Debug)]
pub struct Writer {
    sink: Sink,
    written: layout::Written,
}

/// Where a writer writes.
#[derive(Debug)]
enum Sink {
    /// Files under the region's lock.
    Local(LocalStore, Arc<RegionLock>),
    /// Objects; the live one guarded by conditional writes.
    Object(super::object::ObjectWriter),
}

impl Writer {
    fn new(sink: Sink, read: Option<&Region>) -> Writer {
        Writer {
            sink,
            written: layout::Written {
                open_from: read.and_then(|r| r.since),
                pieces_at: None,
                legacy: read.is_some_and(|r| r.since.is_none()),
            },
        }
    }
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
            Store::Local(l) => l.region_dir(region).display().to_string(),
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
                let read = match l.read_region(region, true) {
                    Ok(read) => read,
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
                let writer = Writer::new(Sink::Local(l.clone(), Arc::new(lock)), read.as_ref());
                Ok((writer, read.map(|r| r.state)))
            }
            Store::Object(o) => {
                let (writer, read) = o.open(region, lease, move_aside).await?;
                let writer = Writer::new(Sink::Object(writer), read.as_ref());
                Ok((writer, read.map(|r| r.state)))
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
            Store::Object(o) => o.read(region).await,
        }
    }

    /// Every region's state, and the files left out with the reason.
    pub async fn read_all(&self) -> Result<(Vec<RegionState>, Vec<String>)> {
        match self {
            Store::Local(l) => l.read_all(),
            Store::Object(o) => o.read_all().await,
        }
    }

    /// When each region was last written ([`LastWrite`]), and the regions that cannot
    /// be read, with the reason; from synchronous code.
    pub fn last_writes_blocking(&self) -> Result<(Vec<LastWrite>, Vec<String>)> {
        match self {
            Store::Local(l) => l.last_writes(),
            Store::Object(o) => block_on(o.last_writes()),
        }
    }

    /// [`Store::read_all`] from synchronous code.
    pub fn read_all_blocking(&self) -> Result<(Vec<RegionState>, Vec<String>)> {
        self.read_all_blocking_cached(&mut ReadCache::default())
    }

    /// [`Store::read_all_blocking`], reusing what `cache` holds of the files (by stamp)
    /// or objects (by ETag) that did not change.
    pub fn read_all_blocking_cached(
        &self,
        cache: &mut ReadCache,
    ) -> Result<(Vec<RegionState>, Vec<String>)> {
        match self {
            Store::Local(l) => l.read_all_cached(cache),
            Store::Object(o) => block_on(o.read_all_cached(cache)),
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
    /// Write what changed: the live object; the days that closed since the last write,
    /// once; and the open days' pieces when `all` asks or they are due (every
    /// [`layout::OPEN_PIECE_EVERY`]). The first write also migrates a schema-2 file (its
    /// every day becomes a piece, then the file is kept aside as `.schema-2`). Returns
    /// whether the open days went out too, so that every sample recorded so far is in
    /// the store.
    ///
    /// The work is done on a blocking thread, under the state's read lock: the worker's
    /// checks run on one thread, and compressing a large state (or an fsync on a busy
    /// disk) there would delay them and skew their timings. Files are streamed; objects
    /// are made first, so the lock is not held during the upload.
    pub async fn write(
        &mut self,
        state: &Arc<RwLock<RegionState>>,
        now: DateTime<Utc>,
        all: bool,
    ) -> Result<bool, super::object::WriteError> {
        use super::object::WriteError;
        let crashed = |e: tokio::task::JoinError| {
            WriteError::Fatal(format!("internal error: writing the state crashed: {e}"))
        };
        let due = all
            || self.written.legacy
            || self.written.pieces_at.is_none_or(|at| {
                (now - at).to_std().unwrap_or_default() >= layout::OPEN_PIECE_EVERY
            });
        let written = self.written.clone();
        let kept = state.clone();
        let state = state.clone();
        let legacy = self.written.legacy;
        let open_from = match &mut self.sink {
            Sink::Local(store, lock) => {
                let (store, lock) = (store.clone(), lock.clone());
                tokio::task::spawn_blocking(move || -> Result<NaiveDate> {
                    let s = state.read().unwrap_or_else(|e| e.into_inner());
                    let plan = layout::plan(&s, &written, now, due);
                    if !plan.live_last {
                        store.put(&lock, layout::LIVE, &layout::live(&s, plan.since))?;
                    }
                    for (name, piece) in plan.made(&s) {
                        store.put(&lock, &name, &piece)?;
                    }
                    if plan.live_last {
                        store.sync(&lock.region)?;
                        store.put(&lock, layout::LIVE, &layout::live(&s, plan.since))?;
                    }
                    drop(s);
                    for old in plan.expired() {
                        let path = store.region_dir(&lock.region).join(layout::day_name(old));
                        let _ = fs::remove_file(path);
                    }
                    store.sync(&lock.region)?;
                    if legacy {
                        store.retire_legacy(&lock.region)?;
                    }
                    Ok(plan.open_from)
                })
                .await
                .map_err(crashed)?
                .map_err(|e| {
                    // A full disk or exhausted descriptors pass: keep probing and try
                    // again (the previous files stay whole). Anything else stops.
                    if passing_trouble(&e) {
                        WriteError::Failed(e)
                    } else {
                        WriteError::Fatal(format!("{e:#}"))
                    }
                })?
            }
            Sink::Object(w) => {
                type Made = (
                    Vec<u8>,
                    Vec<(String, Vec<u8>)>,
                    NaiveDate,
                    Vec<NaiveDate>,
                    bool,
                );
                let (live, pieces, open_from, expired, live_last) =
                    tokio::task::spawn_blocking(move || -> std::io::Result<Made> {
                        let s = state.read().unwrap_or_else(|e| e.into_inner());
                        let plan = layout::plan(&s, &written, now, due);
                        let live = layout::encode(&layout::live(&s, plan.since))?;
                        let pieces = plan
                            .made(&s)
                            .map(|(name, piece)| Ok((name, layout::encode(&piece)?)))
                            .collect::<std::io::Result<Vec<_>>>()?;
                        Ok((live, pieces, plan.open_from, plan.expired(), plan.live_last))
                    })
                    .await
                    .map_err(crashed)?
                    .map_err(|e| WriteError::Failed(anyhow::anyhow!("encoding the state: {e}")))?;
                let (first, last) = if live_last {
                    (None, Some(live))
                } else {
                    (Some(live), None)
                };
                if let Some(live) = first {
                    w.write(live).await?;
                }
                for (name, bytes) in pieces {
                    w.put_piece(&name, bytes).await?;
                }
                if let Some(live) = last {
                    w.write(live).await?;
                }
                for old in expired {
                    w.delete_piece(&layout::day_name(old)).await;
                }
                if legacy {
                    w.retire_legacy().await?;
                }
                open_from
            }
        };
        // What the closed days held is in the store for good: the worker forgets it.
        layout::forget_before(
            &mut kept.write().unwrap_or_else(|e| e.into_inner()),
            open_from,
        );
        self.written.open_from = Some(open_from);
        self.written.legacy = false;
        if due {
            self.written.pieces_at = Some(now);
        }
        Ok(due)
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

/// This machine's name, for lock files and leases that say who holds them.
pub fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
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
