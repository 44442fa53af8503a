//! Step 6 (render): write the built files into a temporary folder beside `site/`, then swap
//! it into place. A build that fails before the swap leaves the previous site untouched.

use std::path::Path;

use anyhow::{Context, Result};

/// Write `files` (relative path, content) as the new `site_dir`.
pub fn publish(site_dir: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
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
    let new = tmp.keep();
    if site_dir.exists() {
        // Swap the two folders in one step, so a reader never finds site/ missing.
        let swapped = rustix::fs::renameat_with(
            rustix::fs::CWD,
            &new,
            rustix::fs::CWD,
            site_dir,
            rustix::fs::RenameFlags::EXCHANGE,
        );
        match swapped {
            Ok(()) => {
                // `new` now holds the previous site.
                let _ = std::fs::remove_dir_all(&new);
                return Ok(());
            }
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
                let _ = std::fs::remove_dir_all(&old);
                return Ok(());
            }
        }
    }
    if let Err(e) = std::fs::rename(&new, site_dir) {
        let _ = std::fs::remove_dir_all(&new);
        return Err(e).with_context(|| format!("moving the new site into {}", site_dir.display()));
    }
    Ok(())
}
