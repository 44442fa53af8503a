//! Step 6 (render): write the built files into a temporary folder beside `site/`, then swap
//! it into place. A build that fails before the swap leaves the previous site untouched.
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
    let name = site_dir
        .file_name()
        .map_or("site".into(), |n| n.to_string_lossy().to_string());
    parent.join(format!(".{name}.spare"))
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

/// [`publish`], reusing the spare tree of the previous build when `trees` knows it.
/// Returns how many files were written.
pub fn publish_reusing(
    site_dir: &Path,
    files: &[(String, Vec<u8>)],
    trees: &mut Trees,
) -> Result<usize> {
    let manifest: HashMap<String, u64> = files
        .iter()
        .map(|(p, c)| (p.clone(), content_hash(c)))
        .collect();
    let spare = spare_of(site_dir);
    if let Some(old) = trees.spare.take()
        && spare.is_dir()
        && site_dir.is_dir()
    {
        let mut written = 0;
        for (rel, content) in files {
            if old.get(rel) == manifest.get(rel) {
                continue;
            }
            written += 1;
            let path = spare.join(rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            // A new file rather than a truncated one: ext4 flushes a file that is
            // truncated and rewritten (auto_da_alloc), which made rebuilds take seconds.
            let _ = std::fs::remove_file(&path);
            std::fs::write(&path, content)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        for rel in old.keys().filter(|k| !manifest.contains_key(*k)) {
            let path = spare.join(rel);
            let _ = std::fs::remove_file(&path);
            // Drop folders left empty, up to the tree's root.
            let mut dir = path.parent();
            while let Some(d) = dir.filter(|d| *d != spare) {
                if std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&spare, std::fs::Permissions::from_mode(0o755));
        }
        if exchange(&spare, site_dir).is_ok() {
            trees.spare = trees.current.take();
            trees.current = Some(manifest);
            return Ok(written);
        }
    }
    // A whole new tree; the previous site becomes the spare.
    let previous = publish_keeping(site_dir, files)?;
    let _ = std::fs::remove_dir_all(&spare);
    trees.spare = match previous {
        Some(prev) if std::fs::rename(&prev, &spare).is_ok() => trees.current.take(),
        Some(prev) => {
            let _ = std::fs::remove_dir_all(&prev);
            None
        }
        None => None,
    };
    trees.current = Some(manifest);
    Ok(files.len())
}

/// Write `files` (relative path, content) as the new `site_dir`.
pub fn publish(site_dir: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    if let Some(previous) = publish_keeping(site_dir, files)? {
        let _ = std::fs::remove_dir_all(previous);
    }
    Ok(())
}

/// Write `files` as the new `site_dir` and return where the previous site now is, if there
/// was one.
fn publish_keeping(site_dir: &Path, files: &[(String, Vec<u8>)]) -> Result<Option<PathBuf>> {
    let parent = site_dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let name = site_dir
        .file_name()
        .map_or("site".into(), |n| n.to_string_lossy().to_string());
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.new-"))
        .tempdir_in(parent)
        .with_context(|| format!("creating a temporary folder in {}", parent.display()))?;
    for (rel, content) in files {
        let path = tmp.path().join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
    }
    // tempfile makes its folders private; the site is for a web server to read.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("making {} readable", tmp.path().display()))?;
    }
    let new = tmp.keep();
    if site_dir.exists() {
        // Swap the two folders in one step, so a reader never finds site/ missing.
        let swapped = exchange(&new, site_dir);
        match swapped {
            // `new` now holds the previous site.
            Ok(()) => return Ok(Some(new)),
            // A file system without atomic exchange: move the old site aside first.
            Err(_) => {
                let old = parent.join(format!(".{name}.old-{}", std::process::id()));
                std::fs::rename(site_dir, &old)
                    .with_context(|| format!("moving the previous {} aside", site_dir.display()))?;
                if let Err(e) = std::fs::rename(&new, site_dir) {
                    let _ = std::fs::rename(&old, site_dir);
                    let _ = std::fs::remove_dir_all(&new);
                    return Err(e).with_context(|| {
                        format!("moving the new site into {}", site_dir.display())
                    });
                }
                return Ok(Some(old));
            }
        }
    }
    if let Err(e) = std::fs::rename(&new, site_dir) {
        let _ = std::fs::remove_dir_all(&new);
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
            publish_reusing(&site, &files(b), &mut trees).unwrap();
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
}
