//! Step 6 (render): write the built files, as they are made, into a temporary folder
//! beside `site/`, then swap it into place. A build that fails before the swap leaves the
//! previous site untouched.
//! A long-running rebuild loop (`watch`, `serve`) keeps the previous site as a spare tree
//! instead of deleting it, and the next build rewrites only the files that differ there
//! before swapping again: readers still see one whole site or the other, and a one-line
//! edit no longer rewrites thousands of files.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// What `site/` and its spare hold (path → content hash), remembered between the builds
/// of one process. `None` when not known (made by another process).
#[derive(Debug, Default)]
pub struct Trees {
    current: Option<HashMap<String, u64>>,
    spare: Option<HashMap<String, u64>>,
}

fn content_hash(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

fn spare_of(site_dir: &Path) -> PathBuf {
    let parent = site_dir.parent().unwrap_or(Path::new("."));
    parent.join(format!(".{}.spare", dir_name(site_dir)))
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
}

enum Target {
    /// A new tree; the previous site is deleted, or kept as the spare.
    Fresh(tempfile::TempDir),
    /// The spare tree and what it holds.
    Spare {
        dir: PathBuf,
        old: HashMap<String, u64>,
    },
}

impl<'t> Output<'t> {
    /// Begin writing the site that replaces `site_dir`; with `trees`, reusing its spare.
    pub fn start(site_dir: &Path, mut trees: Option<&'t mut Trees>) -> Result<Output<'t>> {
        let spare = spare_of(site_dir);
        // Taken now: if this build fails half way, the spare's content is not known.
        let old = trees.as_deref_mut().and_then(|t| t.spare.take());
        let target = match old {
            Some(old) if spare.is_dir() && site_dir.is_dir() => Target::Spare { dir: spare, old },
            _ => {
                let parent = site_dir.parent().unwrap_or(Path::new("."));
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
                let tmp = tempfile::Builder::new()
                    .prefix(&format!(".{}.new-", dir_name(site_dir)))
                    .tempdir_in(parent)
                    .with_context(|| {
                        format!("creating a temporary folder in {}", parent.display())
                    })?;
                Target::Fresh(tmp)
            }
        };
        Ok(Output {
            site_dir: site_dir.to_path_buf(),
            target,
            manifest: HashMap::new(),
            written: 0,
            trees,
            dirs: std::collections::HashSet::new(),
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
        let new = match target {
            Target::Fresh(tmp) => tmp.keep(),
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
                dir
            }
        };
        // Temporary folders are private; the site is for a web server to read.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("making {} readable", new.display()))?;
        }
        let previous = swap_in(&new, &site_dir)?;
        match trees {
            None => {
                if let Some(prev) = previous {
                    let _ = std::fs::remove_dir_all(prev);
                }
            }
            Some(trees) => {
                // The previous site becomes the spare for the next build.
                let spare = spare_of(&site_dir);
                trees.spare = match previous {
                    Some(prev) if prev == spare => trees.current.take(),
                    Some(prev) => {
                        let _ = std::fs::remove_dir_all(&spare);
                        if std::fs::rename(&prev, &spare).is_ok() {
                            trees.current.take()
                        } else {
                            let _ = std::fs::remove_dir_all(&prev);
                            None
                        }
                    }
                    None => None,
                };
                if trees.spare.is_none() {
                    // The spare's content is not known (the loop's first build, over a
                    // site another process made): make it a linked copy of the new site,
                    // or the next build would write every file again.
                    let _ = std::fs::remove_dir_all(&spare);
                    if link_copy(&site_dir, &spare, manifest.keys()).is_ok() {
                        trees.spare = Some(manifest.clone());
                    } else {
                        let _ = std::fs::remove_dir_all(&spare);
                    }
                }
                trees.current = Some(manifest);
            }
        }
        Ok(Written { files, written })
    }
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

/// Move the folder `new` to `site_dir` and return where the previous site now is, if
/// there was one: swapped in one step where the file system can, so a reader never
/// finds `site/` missing.
fn swap_in(new: &Path, site_dir: &Path) -> Result<Option<PathBuf>> {
    if site_dir.exists() {
        if exchange(new, site_dir).is_ok() {
            // `new` now holds the previous site.
            return Ok(Some(new.to_path_buf()));
        }
        // A file system without atomic exchange: move the old site aside first.
        let parent = site_dir.parent().unwrap_or(Path::new("."));
        let old = parent.join(format!(
            ".{}.old-{}",
            dir_name(site_dir),
            std::process::id()
        ));
        std::fs::rename(site_dir, &old)
            .with_context(|| format!("moving the previous {} aside", site_dir.display()))?;
        if let Err(e) = std::fs::rename(new, site_dir) {
            let _ = std::fs::rename(&old, site_dir);
            let _ = std::fs::remove_dir_all(new);
            return Err(e)
                .with_context(|| format!("moving the new site into {}", site_dir.display()));
        }
        return Ok(Some(old));
    }
    if let Err(e) = std::fs::rename(new, site_dir) {
        let _ = std::fs::remove_dir_all(new);
        return Err(e).with_context(|| format!("moving the new site into {}", site_dir.display()));
    }
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
        assert_eq!(
            tree(&dir.path().join(".site.spare")),
            vec![
                ("incidents/b/index.html".to_string(), "b2".to_string()),
                ("index.html".to_string(), "3".to_string()),
                ("x.css".to_string(), "x".to_string()),
            ]
        );
        assert!(!dir.path().join(".site.spare/incidents/a").exists());
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
            tree(&dir.path().join(".site.spare")),
            vec![
                ("incidents/a/index.html".to_string(), "a".to_string()),
                ("index.html".to_string(), "1".to_string()),
            ],
            "the spare holds the build before"
        );
    }
}
