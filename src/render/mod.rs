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

/// What each page was made from, by its path: a hash of its template, the fields of
/// `site` that template reads, and the page's own subject. Kept by a rebuild loop.
pub type PageKeys = HashMap<String, u64>;

/// What a page is about beyond the site: at most one of these is set.
#[derive(Default, Clone, Copy)]
struct Page<'a> {
    incident: Option<&'a IncidentView>,
    component: Option<&'a ComponentView>,
    history: Option<&'a HistoryPage>,
}

/// Render every page and static file of the site into `out`, one by one. With `before`
/// (the keys of the site in place), a page whose key did not change is kept rather than
/// rendered; the keys of this build are returned when `before` is given.
pub fn render(
    theme: &Theme,
    model: &Model,
    progress: &dyn Fn(u64, u64),
    out: &mut dyn Sink,
    before: Option<&PageKeys>,
) -> Result<Option<PageKeys>> {
    let total = 2 + (model.incidents.len() + model.history.len() + model.components.len()) as u64;
    let mut done = 0u64;
    let reads = theme.reads();
    // The fields of the model the templates read become a template value once; tera's
    // values share their arrays and maps, so each page's context is a cheap copy
    // (converting it per page made a build of 2,000 incident pages quadratic).
    let site = context::site_value(model, &reads);
    let field_hashes = before.map(|_| context::field_hashes(model, &reads));
    let mut keys = PageKeys::new();
    // The 404 page answers at any depth, so its links start at the site's path, not at
    // its origin: it then works wherever the site is served (a preview, a mirror, a
    // second host), and its stylesheet stays 'self' for its CSP.
    let site_path = url::Url::parse(&model.page.base_url)
        .map(|u| format!("{}/", u.path().trim_end_matches('/')))
        .unwrap_or_else(|_| "/".to_string());
    let pages = [
        ("index.html", "index.html".to_string(), "", Page::default()),
        ("404.html", "404.html".to_string(), &site_path, Page::default()),
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
    }));
    for (template, path, root, one) in pages {
        let key = field_hashes
            .as_ref()
            .map(|fields| page_key(theme, fields, template, root, one));
        let kept = match (key, before) {
            (Some(key), Some(before)) if before.get(&path) == Some(&key) => out.keep(&path)?,
            _ => false,
        };
        if !kept {
            out.put(&path, &page(theme, &site, template, root, one)?)?;
        }
        if let Some(key) = key {
            keys.insert(path, key);
        }
        done += 1;
        progress(done, total);
    }
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
    Ok(before.map(|_| keys))
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
    let mut h = std::collections::hash_map::DefaultHasher::new();
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
    context::fingerprint(&one.incident).hash(&mut h);
    context::fingerprint(&one.component).hash(&mut h);
    context::fingerprint(&one.history).hash(&mut h);
    h.finish()
}
