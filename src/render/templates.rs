//! Step 6 (render): load the templates. The built-in theme is embedded in the binary and
//! registered as `default/<name>`; the active theme's templates are added under their own
//! names and win. A name not found is looked up under `default/`, so a theme may override
//! one template, or `{% extends "default/index.html" %}` and override one block.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tera::Tera;

use super::context::Reads;

/// The built-in theme's templates, embedded at compile time.
pub const DEFAULT_TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../themes/default/templates/base.html"),
    ),
    (
        "index.html",
        include_str!("../../themes/default/templates/index.html"),
    ),
    (
        "incident.html",
        include_str!("../../themes/default/templates/incident.html"),
    ),
    (
        "404.html",
        include_str!("../../themes/default/templates/404.html"),
    ),
    (
        "history.html",
        include_str!("../../themes/default/templates/history.html"),
    ),
    (
        "component.html",
        include_str!("../../themes/default/templates/component.html"),
    ),
    (
        "reports.html",
        include_str!("../../themes/default/templates/reports.html"),
    ),
    (
        "report.html",
        include_str!("../../themes/default/templates/report.html"),
    ),
    (
        "partials/status_banner.html",
        include_str!("../../themes/default/templates/partials/status_banner.html"),
    ),
    (
        "partials/region_table.html",
        include_str!("../../themes/default/templates/partials/region_table.html"),
    ),
    (
        "partials/cause_note.html",
        include_str!("../../themes/default/templates/partials/cause_note.html"),
    ),
    (
        "partials/history_bars.html",
        include_str!("../../themes/default/templates/partials/history_bars.html"),
    ),
    (
        "partials/incident_card.html",
        include_str!("../../themes/default/templates/partials/incident_card.html"),
    ),
    (
        "partials/custom/head.html",
        include_str!("../../themes/default/templates/partials/custom/head.html"),
    ),
    (
        "partials/custom/header.html",
        include_str!("../../themes/default/templates/partials/custom/header.html"),
    ),
    (
        "partials/custom/footer.html",
        include_str!("../../themes/default/templates/partials/custom/footer.html"),
    ),
];

/// The built-in theme's static files.
pub const DEFAULT_STATIC: &[(&str, &str)] = &[(
    "style.css",
    include_str!("../../themes/default/static/style.css"),
)];

/// The page templates: each makes pages of its own kind.
pub const PAGES: [&str; 7] = [
    "index.html",
    "404.html",
    "incident.html",
    "history.html",
    "component.html",
    "reports.html",
    "report.html",
];

/// A theme ready to render pages with.
pub struct Theme {
    /// Its templates, over the built-in ones.
    pub tera: Tera,
    /// What each page template reads of `site`.
    reads: std::collections::HashMap<&'static str, Reads>,
    /// A hash of every template's name and text.
    pub fingerprint: u64,
    /// Its `static/` folder, if it is not the built-in theme.
    static_dir: Option<PathBuf>,
}

impl Theme {
    /// What the page templates read of `site`, together.
    pub fn reads(&self) -> Reads {
        PAGES
            .iter()
            .map(|p| self.reads_of(p))
            .fold(Reads::Fields(Default::default()), |a, b| a.union(b))
    }

    /// What the page template `name` reads of `site`.
    pub fn reads_of(&self, name: &str) -> &Reads {
        static ALL: Reads = Reads::All;
        self.reads.get(name).unwrap_or(&ALL)
    }

    /// The theme's own static files, if it has any.
    pub fn static_dir(&self) -> Option<&Path> {
        self.static_dir.as_deref()
    }
}

/// Templates for `theme` (None = built-in only), from `themes_dir`.
pub fn load(themes_dir: &Path, theme: Option<&str>) -> Result<Theme> {
    let mut tera = Tera::new();
    tera.set_fallback_prefixes(["default/"])
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut all: Vec<(String, String)> = DEFAULT_TEMPLATES
        .iter()
        .map(|(name, body)| (format!("default/{name}"), body.to_string()))
        .collect();
    if let Some(theme) = theme {
        let root = themes_dir.join(theme);
        if !root.is_dir() {
            bail!(
                "theme \"{theme}\" has no folder {}; create it or remove `theme` from components.yaml",
                root.display()
            );
        }
        // A theme may change only its words (locales/) or its assets (static/).
        let dir = root.join("templates");
        let files = if dir.is_dir() {
            files_under(&dir)?
        } else {
            Vec::new()
        };
        for (name, path) in files {
            let body = crate::input::read_text_within(
                &path,
                &root,
                "the theme's folder",
                crate::input::TEMPLATE,
            )
            .map_err(|r| anyhow::anyhow!("{}: {r}", path.display()))?;
            all.push((name, body));
        }
    }
    let reads = PAGES
        .iter()
        .map(|p| (*p, Reads::of_page(&all, p)))
        .collect();
    let fingerprint = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        all.hash(&mut h);
        h.finish()
    };
    tera.add_raw_templates(all)
        .map_err(|e| anyhow::anyhow!("loading templates: {e}"))?;
    Ok(Theme {
        tera,
        reads,
        fingerprint,
        static_dir: theme.map(|t| themes_dir.join(t).join("static")),
    })
}

/// Every file below `dir`, with its path relative to `dir` using `/`.
pub fn files_under(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let entry = entry?;
            let path = entry.path();
            // Links are not followed here: one to a folder is refused when read, and a
            // link back up the tree cannot make this walk forever.
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                let name = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((name, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page template missing from [`PAGES`] would be read as using all of `site`, and
    /// every page of its kind would convert every post for nothing.
    #[test]
    fn every_page_template_is_listed_in_pages() {
        for (name, _) in DEFAULT_TEMPLATES {
            if name.starts_with("partials/") || *name == "base.html" {
                continue;
            }
            assert!(PAGES.contains(name), "{name} is not in PAGES");
        }
    }
}
