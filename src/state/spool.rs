//! Step 3 (state), when the store is away: the samples a worker took that its store does
//! not hold yet. A worker keeps them in memory from its start (or its last write that went
//! through) and, when it stops while the store cannot be reached, saves them to a local
//! file, `<spool dir>/<region>.json`. The next worker of the region reads that file at
//! start and records the samples on top of the state it reads from the store, so neither
//! an outage at start nor a stop during one costs a sample. Bounded by [`MAX_SAMPLES`].

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::{Lean, Sample};

/// The most samples kept for the store (about 50 minutes of 1,000 probes every 30 s);
/// beyond it the oldest are let go, with a warning.
pub const MAX_SAMPLES: usize = 100_000;

/// One sample of one probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spooled {
    /// The probe's id.
    pub probe: String,
    /// What its check found.
    pub sample: Sample,
}

/// The spool file's contents.
#[derive(Debug, Serialize, Deserialize)]
struct File {
    schema: u32,
    region: String,
    samples: Vec<Spooled>,
}

/// The samples not in the store yet, oldest first: those since the last write that
/// carried the open days' pieces (a few minutes' worth when the store answers).
#[derive(Debug)]
pub struct Unsaved {
    samples: VecDeque<Kept>,
    /// Each probe's id once, shared by its samples.
    ids: HashSet<Arc<str>>,
    /// The most kept.
    limit: usize,
    /// Samples let go because the spool was full.
    pub dropped: u64,
}

/// A sample as it is kept in memory: what the history needs of it, its probe's id
/// shared. A busy worker keeps a few hundred thousand.
#[derive(Debug)]
struct Kept {
    probe: Arc<str>,
    sample: Lean,
}

impl Kept {
    fn spooled(&self) -> Spooled {
        Spooled {
            probe: self.probe.to_string(),
            sample: self.sample.sample(),
        }
    }
}

impl Default for Unsaved {
    fn default() -> Self {
        Unsaved {
            samples: VecDeque::new(),
            ids: HashSet::new(),
            limit: MAX_SAMPLES,
            dropped: 0,
        }
    }
}

impl Unsaved {
    /// Samples read from a spool file.
    pub fn from(samples: Vec<Spooled>) -> Unsaved {
        let mut unsaved = Unsaved::default();
        for s in samples {
            unsaved.keep(&s.probe, &s.sample);
        }
        unsaved
    }

    /// The same, keeping at most `limit` samples (never fewer than [`MAX_SAMPLES`]).
    pub fn with_limit(mut self, limit: usize) -> Unsaved {
        self.limit = limit.max(MAX_SAMPLES);
        self
    }

    /// Keep what the history needs of `probe`'s `sample`, its detail cut as the state
    /// cuts it, letting the oldest go when full.
    pub fn keep(&mut self, probe: &str, sample: &Sample) {
        let probe = match self.ids.get(probe) {
            Some(id) => id.clone(),
            None => {
                let id: Arc<str> = Arc::from(probe);
                self.ids.insert(id.clone());
                id
            }
        };
        let mut sample = sample.lean();
        sample.detail = super::bounded_detail(sample.detail);
        if self.samples.len() >= self.limit {
            self.samples.pop_front();
            if self.dropped == 0 {
                tracing::warn!(
                    "the store has been away for {} samples; the oldest are let go from now on",
                    self.limit
                );
            }
            self.dropped += 1;
        }
        self.samples.push_back(Kept { probe, sample });
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The samples, oldest first, lean.
    pub fn iter(&self) -> impl Iterator<Item = Spooled> + '_ {
        self.samples.iter().map(Kept::spooled)
    }

    /// Forget the oldest `n`: a write that went through holds them.
    pub fn saved(&mut self, n: usize) {
        self.samples.drain(..n.min(self.samples.len()));
    }
}

/// Where a region's spool file is.
pub fn path(dir: &Path, region: &str) -> PathBuf {
    dir.join(format!("{region}.json"))
}

/// The samples a region's last worker left, if it left any.
pub fn load(dir: &Path, region: &str) -> Result<Vec<Spooled>> {
    let path = path(dir, region);
    let text = match crate::input::read_text(&path, crate::input::SPOOL) {
        Ok(text) => text,
        Err(r) if r.is_missing() => return Ok(Vec::new()),
        Err(r) => anyhow::bail!(
            "{}: {r}; move it aside (or start with another --spool) to start without its samples",
            path.display()
        ),
    };
    let file: File = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not a pharos spool file; move it aside to start without the samples it holds",
            path.display()
        )
    })?;
    if file.region != region {
        anyhow::bail!(
            "{} holds samples of region \"{}\", not \"{region}\"; move it aside",
            path.display(),
            file.region
        );
    }
    Ok(file.samples)
}

/// Save `unsaved` as the region's spool file, atomically (a temporary file, fsync,
/// rename, fsync of the folder). The newest samples that fit in what [`load`] reads
/// (`input::SPOOL`) are kept; older ones are let go, with a warning.
pub fn save(dir: &Path, region: &str, unsaved: &Unsaved) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the spool folder {}", dir.display()))?;
    let path = path(dir, region);
    let written =
        |e: std::io::Error| anyhow::Error::new(e).context(format!("writing {}", path.display()));
    // Room for the file's own fields around the samples.
    let room = crate::input::SPOOL.bytes.saturating_sub(4096);
    let mut kept: Vec<Spooled> = Vec::new();
    let mut bytes = 0u64;
    for s in unsaved.samples.iter().rev().map(Kept::spooled) {
        let size = serde_json::to_vec(&s).map_or(0, |v| v.len() as u64 + 1);
        if bytes + size > room {
            tracing::warn!(
                "{}: the oldest {} samples do not fit in a spool file and are let go",
                path.display(),
                unsaved.len() - kept.len()
            );
            break;
        }
        bytes += size;
        kept.push(s);
    }
    kept.reverse();
    let file = File {
        schema: 1,
        region: region.to_string(),
        samples: kept,
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(written)?;
    {
        let mut out = std::io::BufWriter::new(tmp.as_file_mut());
        serde_json::to_writer(&mut out, &file)
            .with_context(|| format!("writing {}", path.display()))?;
        out.flush().map_err(written)?;
    }
    tmp.as_file().sync_all().map_err(written)?;
    tmp.persist(&path).map_err(|e| written(e.error))?;
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(path)
}

/// Remove the region's spool file once the store holds its samples.
pub fn remove(dir: &Path, region: &str) {
    let path = path(dir, region);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("{}: cannot remove the spool file: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Health;
    use chrono::{TimeZone, Utc};

    fn sample(n: u32) -> Spooled {
        Spooled {
            probe: "web".into(),
            sample: Sample::new(
                Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, n % 60).unwrap(),
                Health::Up,
                format!("check {n}"),
            ),
        }
    }

    #[test]
    fn a_spool_survives_a_round_trip_and_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path(), "eu").unwrap().is_empty(), "none yet");
        let mut unsaved = Unsaved::from((0..5).map(sample).collect());
        unsaved.saved(2);
        save(dir.path(), "eu", &unsaved).unwrap();
        let back = load(dir.path(), "eu").unwrap();
        assert_eq!(back, (2..5).map(sample).collect::<Vec<_>>());
        assert!(load(dir.path(), "us").unwrap().is_empty());
        std::fs::copy(path(dir.path(), "eu"), path(dir.path(), "us")).unwrap();
        let wrong = load(dir.path(), "us").unwrap_err().to_string();
        assert!(wrong.contains("region \"eu\", not \"us\""), "{wrong}");
        remove(dir.path(), "eu");
        assert!(load(dir.path(), "eu").unwrap().is_empty());

        let mut full = Unsaved::default();
        for n in 0..(MAX_SAMPLES as u32 + 3) {
            let s = sample(n);
            full.keep(&s.probe, &s.sample);
        }
        assert_eq!(full.len(), MAX_SAMPLES);
        assert_eq!(full.dropped, 3);
        assert_eq!(full.iter().next(), Some(sample(3)), "the oldest went");
    }
}
