//! Step 6 of the flow: the site model through the templates into files: pages and static
//! assets here, the feeds in `feeds` and the JSON API in `api`. Files go to a [`Sink`] as
//! they are made (see `output`); in a rebuild loop a page whose inputs did not change
//! since the last build is kept, not rendered again.

pub mod api;
pub mod badges;
pub mod context;
pub mod feeds;
pub mod output;
pub mod templates;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use anyhow::Result;
use tera::Context as TeraContext;

use crate::site::{ComponentView, HistoryPage, IncidentView, Model};
use templates::Theme;

/// Where the files of the site go as they are made.
pub trait Sink {
    /// Add the file `path` (relative to the site) with `bytes`.
    fn put(&mut self, path: &str, bytes: &[u8]) -> Result<()>;

    /// Keep `path` as the site in place has it; false when that cannot be done (then the
    /// file must be put).
    fn keep(&mut self, _path: &str) -> Result<bool> {
        Ok(false)
    }
}

/// A sink that checks that everything renders and keeps nothing.
pub struct Discard;

impl Sink for Discard {
    fn put(&mut self, _: &str, _: &[u8]) -> Result<()> {
        Ok(())
    }
}

/// What the site in place was made from, kept by a rebuild loop: for each page and feed
/// (by path) a hash of everything its bytes depend on (for a page: the templates, the
/// fields of `site` its template reads and its subject), and the `site` fields its
/// templates were given.
#[derive(Debug, Default)]
pub struct PageKeys {
    files: HashMap<String, u64>,
    values: context::Converted,
}

/// Files made only when what they are made from changed since the site in place.
pub struct Keyed<'a> {
    /// The keys of the site in place; `None` outside a rebuild loop (nothing is kept, and
    /// no key is computed).
    before: Option<&'a PageKeys>,
    /// The keys of this build.
    after: PageKeys,
}

impl<'a> Keyed<'a> {
    /// Keys against `before` (the keys of the site in place), if any.
    pub fn new(before: Option<&'a PageKeys>) -> Keyed<'a> {
        Keyed {
            before,
            after: PageKeys::default(),
        }
    }

    /// Put `path`, made by `make`, unless its `key` is the one it had in the site in
    /// place and `out` can keep that file.
    pub fn file(
        &mut self,
        out: &mut dyn Sink,
        path: &str,
        key: impl FnOnce() -> u64,
        make: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<()> {
        let Some(before) = self.before else {
            return out.put(path, &make()?);
        };
        let key = key();
        let kept = before.files.get(path) == Some(&key) && out.keep(path)?;
        if !kept {
            out.put(path, &make()?)?;
        }
        self.after.files.insert(path.to_string(), key);
        Ok(())
    }

    /// The keys of this build, in a rebuild loop.
    pub fn finish(self) -> Option<PageKeys> {
        self.before.map(|_| self.after)
    }
}

/// A hash of `parts`, for a key.
pub fn key_of(parts: &impl Hash) -> u64 {
    let mut h = crate::fingerprint::hasher();
    parts.hash(&mut h);
    h.finish()
}

/// What a page is about beyond the site: at most one of these is set.
#[derive(Default, Clone, Copy)]
struct Page<'a> {
    incident: Option<&'a IncidentView>,
    component: Option<&'a ComponentView>,
    history: Option<&'a HistoryPage>,
    report: Option<&'a crate::site::ReportView>,
}

/// Render every page and static file of the site into `out`, one by one; in a rebuild
/// loop (`keyed` knows the site in place) a page whose key did not change is kept rather
/// than rendered.
pub fn render(
    theme: &Theme,
    model: &Model,
    progress: &dyn Fn(u64, u64),
    out: &mut dyn Sink,
    keyed: &mut Keyed<'_>,
) -> Result<()> {
    let total = 3
        + (model.incidents.len()
            + model.history.len()
            + model.components.len()
            + model.reports.len()) as u64;
    let mut done = 0u64;
    let reads = theme.reads();
    // The fields of the model the templates read become template values once, when a
    // page first needs them; tera's values share their arrays and maps, so each page's
    // context is a cheap copy (converting it per page made a build of 2,000 incident
    // pages quadratic).
    let field_hashes = keyed
        .before
        .map(|_| context::field_hashes(model, &reads))
        .unwrap_or_default();
    let mut sites = context::SiteValues::new(model, &field_hashes, keyed.before.map(|b| &b.values));
    // The 404 page answers at any depth, so its links start at the site's path, not at
    // its origin: it then works wherever the site is served (a preview, a mirror, a
    // second host), and its stylesheet stays 'self' for its CSP.
    let site_path = url::Url::parse(&model.page.base_url)
        .map(|u| format!("{}/", u.path().trim_end_matches('/')))
        .unwrap_or_else(|_| "/".to_string());
    let pages = [
        ("index.html", "index.html".to_string(), "", Page::default()),
        (
            "404.html",
            "404.html".to_string(),
            &site_path,
            Page::default(),
        ),
    ]
    .into_iter()
    .chain(model.incidents.iter().map(|incident| {
        let one = Page {
            incident: Some(incident),
            ..Page::default()
        };
        let path = format!("incidents/{}/index.html", incident.slug);
        ("incident.html", path, "../../", one)
    }))
    .chain(model.history.iter().map(|history| {
        let one = Page {
            history: Some(history),
            ..Page::default()
        };
        let path = format!("{}index.html", history.path);
        ("history.html", path, history.root.as_str(), one)
    }))
    .chain(model.components.iter().map(|component| {
        let one = Page {
            component: Some(component),
            ..Page::default()
        };
        let path = format!("{}index.html", component.path);
        ("component.html", path, "../../", one)
    }))
    .chain(std::iter::once((
        "reports.html",
        "reports/index.html".to_string(),
        "../",
        Page::default(),
    )))
    .chain(model.reports.iter().map(|report| {
        let one = Page {
            report: Some(report),
            ..Page::default()
        };
        let path = format!("{}index.html", report.path);
        ("report.html", path, "../../", one)
    }));
    for (template, path, root, one) in pages {
        keyed.file(
            out,
            &path,
            || page_key(theme, &field_hashes, template, root, one),
            || {
                let site = sites.for_template(theme.reads_of(template));
                page(theme, &site, template, root, one)
            },
        )?;
        done += 1;
        progress(done, total);
    }
    keyed.after.values = sites.converted();
    // A theme's static file replaces the built-in one of the same name.
    let theme_files = match theme.static_dir().filter(|d| d.is_dir()) {
        Some(dir) => templates::files_under(dir)?,
        None => Vec::new(),
    };
    for (name, body) in templates::DEFAULT_STATIC {
        if !theme_files.iter().any(|(n, _)| n == name) {
            out.put(name, body.as_bytes())?;
        }
    }
    if let Some(dir) = theme.static_dir() {
        for (name, path) in &theme_files {
            let bytes = crate::input::read_bytes_within(
                path,
                dir,
                "the theme's static folder",
                crate::input::STATIC,
            )
            .map_err(|r| anyhow::anyhow!("{}: {r}", path.display()))?;
            out.put(name, &bytes)?;
        }
    }
    Ok(())
}

/// One page: every page sees `site` and `root`; `incident`, `component` and `history`
/// are null except on their own pages.
fn page(
    theme: &Theme,
    site: &tera::Value,
    template: &str,
    root: &str,
    one: Page<'_>,
) -> Result<Vec<u8>> {
    let mut ctx = TeraContext::new();
    ctx.insert_value("site", site.clone());
    ctx.insert("root", root);
    ctx.insert("incident", &one.incident);
    ctx.insert("component", &one.component);
    ctx.insert("history", &one.history);
    ctx.insert("report", &one.report);
    theme
        .tera
        .render(template, &ctx)
        .map(String::into_bytes)
        .map_err(|e| anyhow::anyhow!("rendering {template}: {e}"))
}

/// What a page is made from, as one hash: the theme's templates, the template, its root,
/// the fields of `site` it reads and its subject.
fn page_key(
    theme: &Theme,
    fields: &HashMap<String, u64>,
    template: &str,
    root: &str,
    one: Page<'_>,
) -> u64 {
    let mut h = crate::fingerprint::hasher();
    theme.fingerprint.hash(&mut h);
    template.hash(&mut h);
    root.hash(&mut h);
    match theme.reads_of(template) {
        context::Reads::All => {
            let mut all: Vec<_> = fields.iter().collect();
            all.sort();
            all.hash(&mut h);
        }
        context::Reads::Fields(names) => {
            for name in names {
                name.hash(&mut h);
                fields.get(name).hash(&mut h);
            }
        }
    }
    crate::fingerprint::of(&one.incident).hash(&mut h);
    crate::fingerprint::of(&one.component).hash(&mut h);
    crate::fingerprint::of(&one.history).hash(&mut h);
    crate::fingerprint::of(&one.report).hash(&mut h);
    h.finish()
}
