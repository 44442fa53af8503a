//! Step 6 of the flow: the site model through the templates into files: pages and static
//! assets here, the feeds in `feeds` and the JSON API in `api`. Everything is rendered in memory first and then published at once.

pub mod api;
pub mod badges;
pub mod context;
pub mod feeds;
pub mod output;
pub mod templates;

use std::path::Path;

use anyhow::Result;
use tera::{Context as TeraContext, Tera};

use crate::site::{ComponentView, HistoryPage, IncidentView, Model};

/// Where the files of the site go as they are made: (path under the site, bytes).
pub type Sink<'a> = dyn FnMut(&str, &[u8]) -> Result<()> + 'a;

/// What a page is about beyond the site: at most one of these is set.
#[derive(Default, Clone, Copy)]
struct Page<'a> {
    incident: Option<&'a IncidentView>,
    component: Option<&'a ComponentView>,
    history: Option<&'a HistoryPage>,
}

/// Render every page and static file of the site into `out`, one by one.
pub fn render(
    tera: &Tera,
    reads: &context::Reads,
    model: &Model,
    theme_static: Option<&Path>,
    progress: &dyn Fn(u64, u64),
    out: &mut Sink<'_>,
) -> Result<()> {
    let total = 2 + (model.incidents.len() + model.history.len() + model.components.len()) as u64;
    let done = std::cell::Cell::new(0u64);
    let step = || {
        done.set(done.get() + 1);
        progress(done.get(), total);
    };
    // The fields of the model the templates read become a template value once; tera's
    // values share their arrays and maps, so each page's context is a cheap copy
    // (converting it per page made a build of 2,000 incident pages quadratic).
    let site = context::site_value(model, reads);
    // Every page sees `site` and `root`; `incident`, `component` and `history` are null
    // except on their own pages.
    let page = |template: &str, root: &str, one: Page<'_>| -> Result<Vec<u8>> {
        let mut ctx = TeraContext::new();
        ctx.insert_value("site", site.clone());
        ctx.insert("root", root);
        ctx.insert("incident", &one.incident);
        ctx.insert("component", &one.component);
        ctx.insert("history", &one.history);
        tera.render(template, &ctx)
            .map(String::into_bytes)
            .map_err(|e| anyhow::anyhow!("rendering {template}: {e}"))
    };
    out("index.html", &page("index.html", "", Page::default())?)?;
    step();
    // The 404 page answers at any depth, so its links start at the site's path, not at
    // its origin: it then works wherever the site is served (a preview, a mirror, a
    // second host), and its stylesheet stays 'self' for its CSP.
    let site_path = url::Url::parse(&model.page.base_url)
        .map(|u| format!("{}/", u.path().trim_end_matches('/')))
        .unwrap_or_else(|_| "/".to_string());
    out("404.html", &page("404.html", &site_path, Page::default())?)?;
    step();
    for incident in &model.incidents {
        let html = page(
            "incident.html",
            "../../",
            Page {
                incident: Some(incident),
                ..Page::default()
            },
        )?;
        out(&format!("incidents/{}/index.html", incident.slug), &html)?;
        step();
    }
    for history in &model.history {
        let html = page(
            "history.html",
            &history.root,
            Page {
                history: Some(history),
                ..Page::default()
            },
        )?;
        out(&format!("{}index.html", history.path), &html)?;
        step();
    }
    for component in &model.components {
        let html = page(
            "component.html",
            "../../",
            Page {
                component: Some(component),
                ..Page::default()
            },
        )?;
        out(&format!("{}index.html", component.path), &html)?;
        step();
    }
    // A theme's static file replaces the built-in one of the same name.
    let theme_files = match theme_static.filter(|d| d.is_dir()) {
        Some(dir) => templates::files_under(dir)?,
        None => Vec::new(),
    };
    for (name, body) in templates::DEFAULT_STATIC {
        if !theme_files.iter().any(|(n, _)| n == name) {
            out(name, body.as_bytes())?;
        }
    }
    if let Some(dir) = theme_static {
        for (name, path) in &theme_files {
            let bytes = crate::input::read_bytes_within(
                path,
                dir,
                "the theme's static folder",
                crate::input::STATIC,
            )
            .map_err(|r| anyhow::anyhow!("{}: {r}", path.display()))?;
            out(name, &bytes)?;
        }
    }
    Ok(())
}
