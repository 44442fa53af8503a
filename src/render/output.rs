//! Step 6 (render): write the built files, as they are made, into a temporary folder
//! beside `site/`, then swap it into place. A build that fails before the swap leaves the
//! previous site untouched.
//! A long-running rebuild loop (`watch`, `serve`) keeps the previous site as a spare tree
//! instead of deleting it, and the next build rewrites only the files that differ there
//! before swapping again: readers still see one whole site or the other, and a one-line
//! edit no longer rewrites thousands of files.
//! Builds of one site take turns (a lock file beside it), a loop trusts what it knows of
//! `site/` only while `site/` is the very folder it put there (another build may have
//! replaced it), and every temporary folder is claimed by a lock its process holds, so the
//! next build removes the ones a killed process left behind.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// What `site/` and its spare hold (path → content hash), remembered between the builds
/// of one process. `None` when not known (made by another process).
#[derive(Debug, Default)]
pub struct Trees {
    current: Option<HashMap<String, u64>>,
    /// The folder this process last put in place as `site/`.
    current_id: Option<FolderId>,
    spare: Option<HashMap<String, u64>>,
    /// This process's spare folder, once it has one.
    spare_dir: Option<Claim>,
}

/// Which folder a path is: device, inode and the inode's change time (to the
/// nanosecond, so an inode number the file system hands out again after another build
/// removed the folder is not taken for it). A folder swapped in by another process is
/// another folder, whatever it holds.
type FolderId = (u64, u64, i64, i64);

fn folder_id(path: &Path) -> Option<FolderId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_dir)
        .map(|m| (m.dev(), m.ino(), m.ctime(), m.ctime_nsec()))
}

fn content_hash(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// The kinds of temporary folder a build or a publish makes beside `site/`.
const CLAIM_KINDS: [&str; 4] = ["new", "old", "spare", "publish"];

/// A temporary folder beside `site/` owned by this process:
/// `.<site>.<kind>-<random>`, with `<that>.lock` locked for as long as it is in use. A
/// process that dies leaves the lock free, and the next build removes the folder
/// ([`sweep`]). Dropping the claim removes the folder.
#[derive(Debug)]
pub struct Claim {
    dir: PathBuf,
    lock_path: PathBuf,
    _lock: File,
}

impl Claim {
    /// Claim a new, empty folder of `kind` beside `site_dir`.
    pub fn new(site_dir: &Path, kind: &str) -> Result<Claim> {
        let parent = parent_of(site_dir);
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        // The lock first, so a folder is never without one while it is being made.
        let lock = tempfile::Builder::new()
            .prefix(&format!(".{}.{kind}-", dir_name(site_dir)))
            .suffix(".lock")
            .tempfile_in(parent)
            .with_context(|| format!("creating a lock file in {}", parent.display()))?;
        let (file, lock_path) = lock.keep().context("keeping a lock file")?;
        file.try_lock()
            .with_context(|| format!("locking {}", lock_path.display()))?;
        let name = lock_path
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".lock").to_string())
            .unwrap_or_default();
        let dir = parent.join(name);
        if let Err(e) = std::fs::create_dir(&dir) {
            let _ = std::fs::remove_file(&lock_path);
            return Err(e).with_context(|| format!("creating {}", dir.display()));
        }
        Ok(Claim {
            dir,
            lock_path,
            _lock: file,
        })
    }

    /// The claimed folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// Remove what killed builds and publishes of `site_dir` left beside it: every claimed
/// folder whose lock nobody holds (and the unsuffixed spare of earlier versions). Run
/// while holding the site's lock, so no build is between making a folder and locking it.
fn sweep(site_dir: &Path) {
    let parent = parent_of(site_dir);
    let site = dir_name(site_dir);
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(&format!(".{site}.")) else {
            continue;
        };
        let path = entry.path();
        if rest == "spare" {
            let _ = std::fs::remove_dir_all(&path);
            continue;
        }
        let claimed = CLAIM_KINDS
            .iter()
            .any(|k| rest.strip_prefix(k).is_some_and(|r| r.starts_with('-')));
        if !claimed {
            continue;
        }
        let lock_path = if name.ends_with(".lock") {
            path.clone()
        } else {
            parent.join(format!("{name}.lock"))
        };
        let free = match File::open(&lock_path) {
            Ok(f) => f.try_lock().is_ok(),
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        };
        if free {
            let dir = parent.join(name.trim_end_matches(".lock"));
            tracing::debug!(
                "removing {}, left by a build that did not finish",
                dir.display()
            );
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_file(&lock_path);
        }
    }
}

/// Wait for, then hold, the lock of `site_dir`'s builds (`.<site>.lock` beside it): one
/// build at a time swaps folders there, and a publish copies the site while no build
/// changes it.
pub fn lock_site(site_dir: &Path) -> Result<File> {
    let parent = parent_of(site_dir);
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let path = parent.join(format!(".{}.lock", dir_name(site_dir)));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.lock()
        .with_context(|| format!("locking {}", path.display()))?;
    Ok(file)
}

fn parent_of(site_dir: &Path) -> &Path {
    match site_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        a,
        rustix::fs::CWD,
        b,
        rustix::fs::RenameFlags::EXCHANGE,
    )
    .map_err(std::io::Error::from)
}

/// A site being written file by file as the build makes it, so no build holds its whole
/// site in memory: into a new temporary folder beside `site/`, or, in a rebuild loop
/// whose [`Trees`] know the spare, into the spare, where a file whose content did not
/// change is not written again. Nothing is visible in `site/` until [`Output::finish`];
/// an output dropped unfinished leaves `site/` as it was.
pub struct Output<'t> {
    site_dir: PathBuf,
    target: Target,
    /// Content hashes of what is written.
    manifest: HashMap<String, u64>,
    written: usize,
    trees: Option<&'t mut Trees>,
    /// Folders made (or found) already.
    dirs: std::collections::HashSet<PathBuf>,
    /// The site's lock, held from start to finish.
    _lock: File,
}

enum Target {
    /// A new tree; the previous site is deleted, or kept as the spare.
    Fresh(Claim),
    /// The spare tree and what it holds.
    Spare {
        dir: PathBuf,
        old: HashMap<String, u64>,
    },
}

impl<'t> Output<'t> {
    /// Begin writing the site that replaces `site_dir`; with `trees`, reusing its spare.
    /// Waits for any other build of the same site to finish first.
    pub fn start(site_dir: &Path, mut trees: Option<&'t mut Trees>) -> Result<Output<'t>> {
        let lock = lock_site(site_dir)?;
        sweep(site_dir);
        let mut spare = None;
        if let Some(t) = trees.as_deref_mut() {
            if t.current_id.is_none() || t.current_id != folder_id(site_dir) {
                // Another build put its own site in place: nothing known of it holds.
                t.current = None;
            }
            // Taken now: if this build fails half way, the spare's content is not known.
            let old = t.spare.take();
            let dir = t.spare_dir.as_ref().map(|c| c.path().to_path_buf());
            if let (Some(old), Some(dir)) = (old, dir) {
                spare = Some((old, dir));
            }
        }
        let target = match spare {
            Some((old, dir)) if dir.is_dir() && site_dir.is_dir() => Target::Spare { dir, old },
            _ => Target::Fresh(Claim::new(site_dir, "new")?),
        };
        Ok(Output {
            site_dir: site_dir.to_path_buf(),
            target,
            manifest: HashMap::new(),
            written: 0,
            trees,
            dirs: std::collections::HashSet::new(),
            _lock: lock,
        })
    }

    /// Keep the file `rel` as the site in place has it: possible only in the spare, when
    /// the site's content is known (false otherwise: then it must be put).
    pub fn keep(&mut self, rel: &str) -> Result<bool> {
        let Target::Spare { dir, old } = &self.target else {
            return Ok(false);
        };
        let Some(&hash) = self
            .trees
            .as_ref()
            .and_then(|t| t.current.as_ref())
            .and_then(|c| c.get(rel))
        else {
            return Ok(false);
        };
        if self.manifest.insert(rel.to_string(), hash).is_some() {
            // Put before in this build: what the site has is not what is wanted.
            self.manifest.remove(rel);
            return Ok(false);
        }
        if old.get(rel) != Some(&hash) {
            // The spare is a build behind: link the site's file in (the trees never
            // change a file in place, so sharing it is safe), or copy it.
            let path = dir.join(rel);
            let from = self.site_dir.join(rel);
            make_parent(&mut self.dirs, &path)?;
            let _ = std::fs::remove_file(&path);
            if std::fs::hard_link(&from, &path).is_err() && std::fs::copy(&from, &path).is_err() {
                // Gone from the site in place (removed by hand?): it is made again.
                self.manifest.remove(rel);
                return Ok(false);
            }
            self.written += 1;
        }
        Ok(true)
    }

    /// Write one file (a path relative to the site); a later file of the same path
    /// replaces an earlier one.
    pub fn put(&mut self, rel: &str, content: &[u8]) -> Result<()> {
        let hash = content_hash(content);
        let (root, old) = match &self.target {
            Target::Fresh(tmp) => (tmp.path(), None),
            Target::Spare { dir, old } => (dir.as_path(), Some(old)),
        };
        let unchanged = old.and_then(|o| o.get(rel)) == Some(&hash);
        let replaced = self.manifest.insert(rel.to_string(), hash).is_some();
        if unchanged && !replaced {
            return Ok(());
        }
        let path = root.join(rel);
        make_parent(&mut self.dirs, &path)?;
        if old.is_some() || replaced {
            // A new file rather than a truncated one: ext4 flushes a file that is
            // truncated and rewritten (auto_da_alloc), which made rebuilds take seconds.
            let _ = std::fs::remove_file(&path);
        }
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
        self.written += 1;
        Ok(())
    }

    /// Put the written site in place of `site_dir` in one step; how many files were
    /// written (all of them for a new tree, the changed ones in the spare).
    pub fn finish(self) -> Result<Written> {
        let Output {
            site_dir,
            target,
            manifest,
            written,
            trees,
            ..
        } = self;
        let files = manifest.len();
        // The fresh folder's claim is dropped last: after the swap its path holds the
        // previous site, removed with it unless a loop keeps it as the spare.
        let (new, _fresh) = match target {
            Target::Fresh(claim) => (claim.path().to_path_buf(), Some(claim)),
            Target::Spare { dir, old } => {
                for rel in old.keys().filter(|k| !manifest.contains_key(*k)) {
                    let path = dir.join(rel);
                    let _ = std::fs::remove_file(&path);
                    // Drop folders left empty, up to the tree's root.
                    let mut up = path.parent();
                    while let Some(d) = up.filter(|d| *d != dir) {
                        if std::fs::remove_dir(d).is_err() {
                            break;
                        }
                        up = d.parent();
                    }
                }
                (dir, None)
            }
        };
        // Temporary folders are private; the site is for a web server to read.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("making {} readable", new.display()))?;
        }
        let previous = swap_in(&new, &site_dir)?;
        if let Some(trees) = trees {
            keep_spare(trees, &site_dir, previous, manifest);
        }
        Ok(Written { files, written })
    }
}

/// After a loop's build: the previous site (when it is what the loop put there) becomes
/// the spare for the next build, or the spare becomes a linked copy of the new site.
fn keep_spare(
    trees: &mut Trees,
    site_dir: &Path,
    previous: Option<Previous>,
    manifest: HashMap<String, u64>,
) {
    let claim = match trees.spare_dir.take() {
        Some(c) => Some(c),
        None => Claim::new(site_dir, "spare")
            .map_err(|e| tracing::warn!("no spare tree, every rebuild writes every file: {e:#}"))
            .ok(),
    };
    let Some(claim) = claim else {
        trees.spare = None;
        trees.current = Some(manifest);
        trees.current_id = folder_id(site_dir);
        return;
    };
    let spare = claim.path();
    trees.spare = match previous {
        Some(prev) if prev.path() == spare => trees.current.take(),
        Some(prev) => {
            let _ = std::fs::remove_dir_all(spare);
            if std::fs::rename(prev.path(), spare).is_ok() {
                trees.current.take()
            } else {
                None
            }
        }
        None => None,
    };
    if trees.spare.is_none() {
        // The spare's content is not known (the loop's first build, over a site another
        // process made): make it a linked copy of the new site, or the next build would
        // write every file again.
        let _ = std::fs::remove_dir_all(spare);
        if link_copy(site_dir, spare, manifest.keys()).is_ok() {
            trees.spare = Some(manifest.clone());
        } else {
            let _ = std::fs::remove_dir_all(spare);
        }
    }
    trees.spare_dir = Some(claim);
    trees.current = Some(manifest);
    trees.current_id = folder_id(site_dir);
}

/// A copy of the site in place, taken while no build changes it (files are linked, not
/// copied: the builds never change a file in place), in a folder claimed until dropped;
/// with its files. Publishing reads this copy, so it reads one whole build.
pub fn copy_of_site(site_dir: &Path) -> Result<(Claim, Vec<String>)> {
    let _lock = lock_site(site_dir)?;
    if !site_dir.is_dir() {
        anyhow::bail!(
            "{} does not exist; build the site first (pharos build)",
            site_dir.display()
        );
    }
    let files: Vec<String> = super::templates::files_under(site_dir)?
        .into_iter()
        .map(|(rel, _)| rel)
        .collect();
    let claim = Claim::new(site_dir, "publish")?;
    let copy = claim.path().join("site");
    link_copy(site_dir, &copy, files.iter())?;
    Ok((claim, files))
}

/// Replace the folder `dir` by the tree at `new` in one step (the previous content is
/// then removed), taking turns with builds and publishes of the same folder and removing
/// what killed ones left beside it.
pub fn replace_folder(new: &Claim, dir: &Path) -> Result<()> {
    let _lock = lock_site(dir)?;
    sweep(dir);
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(new.path(), std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("making {} readable", new.path().display()))?;
    }
    let previous = swap_in(new.path(), dir)?;
    if let Some(Previous::At(p)) = &previous {
        let _ = std::fs::remove_dir_all(p);
    }
    Ok(())
}

/// A tree at `to` holding the files `files` of the tree at `from`, each a hard link to the
/// same file (safe because the trees never change a file in place).
fn link_copy<'a>(from: &Path, to: &Path, files: impl Iterator<Item = &'a String>) -> Result<()> {
    let mut made = std::collections::HashSet::new();
    std::fs::create_dir(to).with_context(|| format!("creating {}", to.display()))?;
    made.insert(to.to_path_buf());
    for rel in files {
        let path = to.join(rel);
        make_parent(&mut made, &path)?;
        std::fs::hard_link(from.join(rel), &path)
            .with_context(|| format!("linking {}", path.display()))?;
    }
    Ok(())
}

/// Make the folder `path` goes in, unless `made` says it was made (or found) already.
fn make_parent(made: &mut std::collections::HashSet<PathBuf>, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent()
        && !made.contains(dir)
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        made.insert(dir.to_path_buf());
    }
    Ok(())
}

impl super::Sink for Output<'_> {
    fn put(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        Output::put(self, path, bytes)
    }

    fn keep(&mut self, path: &str) -> Result<bool> {
        Output::keep(self, path)
    }
}

/// What [`Output::finish`] put in place.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    /// Files in the site.
    pub files: usize,
    /// Files written to disk for it.
    pub written: usize,
}

fn dir_name(site_dir: &Path) -> String {
    site_dir
        .file_name()
        .map_or("site".into(), |n| n.to_string_lossy().to_string())
}

/// Where the previous site went when a new one was swapped in.
enum Previous {
    /// At the new folder's path (exchanged in one step).
    At(PathBuf),
    /// Moved aside first, where the file system cannot exchange.
    Aside(Claim),
}

impl Previous {
    fn path(&self) -> &Path {
        match self {
            Previous::At(p) => p,
            Previous::Aside(c) => c.path(),
        }
    }
}

/// Move the folder `new` to `site_dir` and return where the previous site now is, if
/// there was one: swapped in one step where the file system can, so a reader never
/// finds `site/` missing.
fn swap_in(new: &Path, site_dir: &Path) -> Result<Option<Previous>> {
    if site_dir.exists() {
        if exchange(new, site_dir).is_ok() {
            // `new` now holds the previous site.
            return Ok(Some(Previous::At(new.to_path_buf())));
        }
        // A file system without atomic exchange: move the old site aside first.
        let old = Claim::new(site_dir, "old")?;
        std::fs::rename(site_dir, old.path())
            .with_context(|| format!("moving the previous {} aside", site_dir.display()))?;
        if let Err(e) = std::fs::rename(new, site_dir) {
            let _ = std::fs::rename(old.path(), site_dir);
            return Err(e)
                .with_context(|| format!("moving the new site into {}", site_dir.display()));
        }
        return Ok(Some(Previous::Aside(old)));
    }
    std::fs::rename(new, site_dir)
        .with_context(|| format!("moving the new site into {}", site_dir.display()))?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(dir: &Path) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(dir).unwrap().to_string_lossy().to_string();
                    out.push((rel, std::fs::read_to_string(&p).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    fn files(v: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        v.iter()
            .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn rebuilds_reuse_the_spare_tree_and_end_up_exact() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        let mut trees = Trees::default();
        let builds: [&[(&str, &str)]; 5] = [
            &[("index.html", "1"), ("incidents/a/index.html", "a1")],
            &[
                ("index.html", "2"),
                ("incidents/a/index.html", "a1"),
                ("incidents/b/index.html", "b"),
            ],
            &[("index.html", "3"), ("incidents/b/index.html", "b2")],
            &[
                ("index.html", "3"),
                ("incidents/b/index.html", "b2"),
                ("x.css", "x"),
            ],
            &[("index.html", "5")],
        ];
        for (n, b) in builds.iter().enumerate() {
            let mut out = Output::start(&site, Some(&mut trees)).unwrap();
            for (path, content) in files(b) {
                out.put(&path, &content).unwrap();
            }
            out.finish().unwrap();
            let want: Vec<(String, String)> = b
                .iter()
                .map(|(p, c)| (p.to_string(), c.to_string()))
                .collect();
            let mut want = want;
            want.sort();
            assert_eq!(tree(&site), want, "after build {n}");
        }
        // The spare holds the build before last; emptied folders are gone from it.
        let spare = trees.spare_dir.as_ref().unwrap().path().to_path_buf();
        assert_eq!(
            tree(&spare),
            vec![
                ("incidents/b/index.html".to_string(), "b2".to_string()),
                ("index.html".to_string(), "3".to_string()),
                ("x.css".to_string(), "x".to_string()),
            ]
        );
        assert!(!spare.join("incidents/a").exists());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&site).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755, "readable by a web server");
    }

    #[test]
    fn a_loops_first_rebuild_writes_only_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        // A site another process made, then a rebuild loop's first build and rebuild.
        let builds: [&[(&str, &str)]; 3] = [
            &[("index.html", "0"), ("old/index.html", "o")],
            &[("index.html", "1"), ("incidents/a/index.html", "a")],
            &[("index.html", "2"), ("incidents/a/index.html", "a")],
        ];
        let mut trees = Trees::default();
        let mut written = Vec::new();
        for (n, b) in builds.iter().enumerate() {
            let mut out = Output::start(&site, (n > 0).then_some(&mut trees)).unwrap();
            for (path, content) in files(b) {
                out.put(&path, &content).unwrap();
            }
            written.push(out.finish().unwrap().written);
        }
        assert_eq!(
            written,
            [2, 2, 1],
            "the rebuild writes the one changed file"
        );
        assert_eq!(
            tree(&site),
            vec![
                ("incidents/a/index.html".to_string(), "a".to_string()),
                ("index.html".to_string(), "2".to_string()),
            ]
        );
        assert_eq!(
            tree(trees.spare_dir.as_ref().unwrap().path()),
            vec![
                ("incidents/a/index.html".to_string(), "a".to_string()),
                ("index.html".to_string(), "1".to_string()),
            ],
            "the spare holds the build before"
        );
    }

    fn build(site: &Path, trees: Option<&mut Trees>, b: &[(&str, &str)]) -> usize {
        let mut out = Output::start(site, trees).unwrap();
        for (path, content) in files(b) {
            out.put(&path, &content).unwrap();
        }
        out.finish().unwrap().written
    }

    fn want(b: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = b
            .iter()
            .map(|(p, c)| (p.to_string(), c.to_string()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_site_replaced_by_another_build_is_not_trusted_and_never_mixed() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        let ours: &[(&str, &str)] = &[("index.html", "ours"), ("badges/a.svg", "a")];
        let theirs: &[(&str, &str)] = &[("index.html", "theirs"), ("other.html", "o")];
        let mut trees = Trees::default();
        build(&site, Some(&mut trees), ours);
        build(&site, Some(&mut trees), ours);
        // Between the loop's builds, another build puts its own site in place, twice.
        for round in 0..3 {
            build(&site, None, theirs);
            assert_eq!(tree(&site), want(theirs), "round {round}");
            // Keeping a file "as the site has it" would take theirs: the loop must not.
            let mut out = Output::start(&site, Some(&mut trees)).unwrap();
            assert!(!out.keep("index.html").unwrap(), "round {round}");
            for (path, content) in files(ours) {
                if !out.keep(&path).unwrap() {
                    out.put(&path, &content).unwrap();
                }
            }
            out.finish().unwrap();
            assert_eq!(tree(&site), want(ours), "round {round}: one whole build");
            // The next rebuild trusts its own site again and keeps what it may.
            let mut out = Output::start(&site, Some(&mut trees)).unwrap();
            assert!(out.keep("badges/a.svg").unwrap(), "round {round}");
            out.put("index.html", b"ours").unwrap();
            out.finish().unwrap();
            assert_eq!(tree(&site), want(ours), "round {round}: again");
        }
    }

    #[test]
    fn what_killed_builds_left_is_removed_by_the_next_build() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        // Left by killed processes: folders with free locks, one without a lock file, the
        // spare of an earlier version. Held by a live process: a publish's copy.
        for name in [".site.new-aaaa", ".site.spare-bbbb", ".site.new-cccc"] {
            std::fs::create_dir_all(dir.path().join(name).join("incidents")).unwrap();
            std::fs::write(dir.path().join(name).join("index.html"), "x").unwrap();
        }
        std::fs::write(dir.path().join(".site.new-aaaa.lock"), "").unwrap();
        std::fs::write(dir.path().join(".site.spare-bbbb.lock"), "").unwrap();
        std::fs::create_dir_all(dir.path().join(".site.spare")).unwrap();
        let live = Claim::new(&site, "publish").unwrap();
        // Not ours to touch.
        std::fs::create_dir_all(dir.path().join(".site.newest")).unwrap();
        std::fs::create_dir_all(dir.path().join(".sitemap.new-1")).unwrap();
        build(&site, None, &[("index.html", "1")]);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        left.sort();
        let name = live
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let mut expected = vec![
            ".site.lock".to_string(),
            ".site.newest".to_string(),
            ".sitemap.new-1".to_string(),
            format!("{name}.lock"),
            name,
            "site".to_string(),
        ];
        expected.sort();
        assert_eq!(left, expected);
        drop(live);
        build(&site, None, &[("index.html", "2")]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
    }
}
