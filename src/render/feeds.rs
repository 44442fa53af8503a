//! Step 6 (render): the feeds people subscribe to — RSS 2.0 (`rss`), Atom
//! (`atom_syndication`) and JSON Feed 1.1 (serde) for the whole page and for each
//! component, and `maintenance.ics` (`icalendar`) with every scheduled window. One item per
//! incident update and per maintenance transition, newest first, with stable ids.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::incident::{Incident, Kind, UpdateStatus};
use crate::site::update_label;
use crate::status::timeline::Detected;

/// Most items in a feed.
pub const MAX_ITEMS: usize = 200;

/// One entry of every feed format.
#[derive(Debug, Clone, Hash)]
pub struct Item {
    /// Stable id: the incident page's address with the update's time and status.
    pub id: String,
    /// "Title — Status".
    pub title: String,
    /// The incident page.
    pub link: String,
    /// When the update was posted.
    pub published: DateTime<Utc>,
    /// Sanitised HTML of the update.
    pub html: String,
    /// The update as plain text (its markdown), for chat and social posts.
    pub text: String,
    /// Components the incident affects.
    pub components: Vec<String>,
    /// Made from the clock, not posted: a maintenance window that began or ended with no
    /// update saying so. Announced only while recent, so an item that appears long after
    /// its time (a window that closed before an upgrade) is not sent as news.
    pub derived: bool,
    /// The source of the post the item was made from (`Incident::source`): with the
    /// item's id and the feed's channel (which holds the clock), it decides everything
    /// the item says, so a feed's key hashes it instead of the item's text.
    pub post: Option<u64>,
}

/// Every item, newest first: one per update, and one for each step a maintenance window
/// took by itself at `now` (it began, or ended, with no update saying so), so the feeds
/// agree with the page and the API on its status.
pub fn items(base_url: &str, incidents: &[Arc<Incident>], now: DateTime<Utc>) -> Vec<Item> {
    let mut out = Vec::new();
    for i in incidents {
        out.extend(update_items(base_url, i));
        out.extend(window_steps(base_url, i, now));
    }
    sort(&mut out);
    out
}

/// Newest first, ties in id order.
fn sort<T: std::borrow::Borrow<Item>>(items: &mut [T]) {
    items.sort_by(|a, b| {
        let (a, b) = (a.borrow(), b.borrow());
        b.published.cmp(&a.published).then(a.id.cmp(&b.id))
    });
}

/// The item of one step of post `i`, at its page under `base_url`.
fn item(
    base_url: &str,
    i: &Incident,
    at: DateTime<Utc>,
    status: UpdateStatus,
    (html, text): (String, String),
) -> Item {
    let link = format!("{base_url}/incidents/{}/", i.slug);
    let what = match i.kind {
        Kind::Incident => "",
        Kind::Maintenance => "Maintenance: ",
    };
    let stamp = at.to_rfc3339_opts(SecondsFormat::Secs, true);
    Item {
        id: format!("{link}#{stamp}-{}", status.as_str()),
        title: format!("{what}{} — {}", i.title, update_label(status.as_str())),
        link,
        published: at,
        html,
        text,
        components: i.components.clone(),
        derived: false,
        post: Some(i.source),
    }
}

/// One item per update of post `i`: what the post says, whatever the clock.
fn update_items(base_url: &str, i: &Incident) -> Vec<Item> {
    i.updates
        .iter()
        .map(|u| {
            let words = (u.html.clone(), u.markdown.trim().to_string());
            item(base_url, i, u.at, u.status, words)
        })
        .collect()
}

/// The steps maintenance window `i` took by itself by `now`, where its updates had not
/// said so by then. An update posted later never takes the step back, so the items only
/// ever grow, and their ids stay put when the window is moved.
fn window_steps(base_url: &str, i: &Incident, now: DateTime<Utc>) -> Vec<Item> {
    if i.kind != Kind::Maintenance {
        return Vec::new();
    }
    let posted_by = |at: DateTime<Utc>, said: &dyn Fn(UpdateStatus) -> bool| {
        i.updates.iter().any(|u| u.at <= at && said(u.status))
    };
    let began = i
        .scheduled_for
        .filter(|at| *at <= now && !posted_by(*at, &|s| s != UpdateStatus::Scheduled));
    let ended = i
        .scheduled_until
        .filter(|at| *at <= now && !posted_by(*at, &UpdateStatus::is_final));
    let mut out = Vec::new();
    for (at, status, anchor, said) in [
        (
            began,
            UpdateStatus::InProgress,
            "window-began",
            "The maintenance window has begun.",
        ),
        (
            ended,
            UpdateStatus::Completed,
            "window-ended",
            "The maintenance window has ended.",
        ),
    ] {
        if let Some(at) = at {
            let words = (format!("<p>{said}</p>"), said.to_string());
            let mut step = item(base_url, i, at, status, words);
            step.id = format!("{}#{anchor}", step.link);
            step.derived = true;
            out.push(step);
        }
    }
    out
}

/// What a rebuild loop keeps of the feeds between builds: each post's update items, by
/// the post's source and the page's address. Outside a rebuild loop nothing is kept.
#[derive(Debug, Default)]
pub struct Kept {
    on: bool,
    before: std::collections::HashMap<u64, Arc<[Item]>>,
    after: std::collections::HashMap<u64, Arc<[Item]>>,
}

impl Kept {
    /// A memo that keeps items, for a rebuild loop.
    pub fn keeping() -> Kept {
        Kept {
            on: true,
            ..Kept::default()
        }
    }

    /// Post `i`'s update items, kept or made.
    fn updates(&mut self, base_url: &str, i: &Incident) -> Arc<[Item]> {
        if !self.on {
            return update_items(base_url, i).into();
        }
        let key = crate::fingerprint::of(&(i.source, base_url));
        let made = match self.before.remove(&key) {
            Some(kept) => kept,
            None => update_items(base_url, i).into(),
        };
        self.after.insert(key, Arc::clone(&made));
        made
    }

    /// Start a build: what the last one made is what this one may take.
    fn turn(&mut self) {
        self.before = std::mem::take(&mut self.after);
    }
}

/// Plain text as one HTML paragraph, escaped (`<`, `&`, quotes), spaces left as spaces.
fn paragraph(text: &str) -> String {
    let mut html = String::from("<p>");
    // Writing into a String cannot fail.
    let _ = pulldown_cmark_escape::escape_html(&mut html, text);
    html.push_str("</p>");
    html
}

/// How far back detected outages reach into the feeds.
pub const DETECTED_FEED_DAYS: i64 = 30;

/// Items for outages the probes detected without a post: one when it was detected, one
/// when it ended. Names are escaped; the link is the notice on the page.
pub fn detected_items(config: &Config, detected: &[Detected], now: DateTime<Utc>) -> Vec<Item> {
    let page = &config.site.page;
    let base = &page.base_url;
    let tz = page.time_zone;
    let shown = |t: DateTime<Utc>| {
        t.with_timezone(&tz)
            .format(crate::site::i18n::DATE_TIME_FORMAT)
            .to_string()
    };
    let mut out: Vec<Item> = Vec::new();
    for d in detected {
        if d.outage
            .end
            .is_some_and(|e| now - e > chrono::Duration::days(DETECTED_FEED_DAYS))
        {
            continue;
        }
        let name_of = |id: &str| {
            config
                .site
                .components
                .iter()
                .find(|c| c.id == id)
                .map_or(id.to_string(), |c| c.name.clone())
        };
        let name = name_of(&d.component);
        // A dependency outage is one item naming what it took down with it.
        let affects = if d.affects.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = d.affects.iter().map(|c| name_of(c)).collect();
            format!(" It affects {}.", names.join(", "))
        };
        let components: Vec<String> = std::iter::once(&d.component)
            .chain(&d.affects)
            .cloned()
            .collect();
        let what = match d.outage.worst {
            crate::status::Status::MajorOutage => "major outage",
            _ => "partial outage",
        };
        let anchor = format!("detected-{}-{}", d.component, d.outage.start.timestamp());
        let link = format!("{base}/#{anchor}");
        let regions = d.outage.regions.join(", ");
        out.push(Item {
            id: format!("{link}-start"),
            title: format!("Detected: {what} of {name}"),
            link: link.clone(),
            published: d.outage.start,
            text: format!(
                "Our probes saw a {what} of {name} from {} (down from {regions}).{affects} No incident has been posted yet.",
                shown(d.outage.start)
            ),
            html: String::new(),
            components: components.clone(),
            derived: false,
            post: None,
        });
        if let Some(last) = out.last_mut() {
            last.html = paragraph(&last.text);
        }
        if let Some(end) = d.outage.end {
            out.push(Item {
                id: format!("{link}-end"),
                title: format!("Recovered: {name}"),
                link,
                published: end,
                text: format!(
                    "The {what} of {name} that our probes detected ended at {}.{affects}",
                    shown(end)
                ),
                html: String::new(),
                components,
                derived: false,
                post: None,
            });
            if let Some(last) = out.last_mut() {
                last.html = paragraph(&last.text);
            }
        }
    }
    out
}

/// A hash of what a feed is made from: its channel and, for each item, its id and the
/// source of its post, or the whole item when it comes from no post.
fn feed_key(ch: &Channel<'_>, list: &[&Item]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = crate::fingerprint::hasher();
    ch.hash(&mut h);
    for item in list {
        match item.post {
            Some(source) => (&item.id, source).hash(&mut h),
            None => item.hash(&mut h),
        }
    }
    h.finish()
}

/// What a feed is about.
#[derive(Hash)]
pub struct Channel<'a> {
    /// Feed title.
    pub title: String,
    /// Short description.
    pub description: String,
    /// The page the feed belongs to.
    pub home: String,
    /// The feed's own address, without extension (`…/feed`).
    pub base: String,
    /// Page language.
    pub language: &'a str,
    /// The build's time, for an empty feed's `updated`.
    pub now: DateTime<Utc>,
    /// Who publishes it: the page's title.
    pub author: String,
}

/// RSS 2.0.
pub fn rss(ch: &Channel<'_>, items: &[&Item]) -> String {
    use rss::{ChannelBuilder, GuidBuilder, ItemBuilder};
    let entries: Vec<rss::Item> = items
        .iter()
        .map(|i| {
            ItemBuilder::default()
                .title(Some(i.title.clone()))
                .link(Some(i.link.clone()))
                .guid(Some(
                    GuidBuilder::default()
                        .value(i.id.clone())
                        .permalink(false)
                        .build(),
                ))
                .pub_date(Some(i.published.to_rfc2822()))
                .description(Some(i.html.clone()))
                .build()
        })
        .collect();
    // The feed's own address (RSS Best Practices; the W3C validator warns without it).
    let mut own = rss::extension::atom::Link::default();
    own.set_href(format!("{}.rss", ch.base));
    own.set_rel("self");
    own.set_mime_type(Some("application/rss+xml".to_string()));
    let mut atom = rss::extension::atom::AtomExtension::default();
    atom.set_links(vec![own]);
    let xml = ChannelBuilder::default()
        .atom_ext(Some(atom))
        .title(ch.title.clone())
        .link(ch.home.clone())
        .description(ch.description.clone())
        .language(Some(ch.language.to_string()))
        // The newest item, not the build's clock: a feed changes only when its items do.
        .last_build_date(Some(
            items.first().map_or(ch.now, |i| i.published).to_rfc2822(),
        ))
        .generator(Some(format!("pharos {}", env!("CARGO_PKG_VERSION"))))
        .items(entries)
        .build()
        .to_string();
    crate::words::xml_clean(xml)
}

/// Atom (RFC 4287).
pub fn atom(ch: &Channel<'_>, items: &[&Item]) -> String {
    use atom_syndication::{Content, Entry, Feed, Generator, Link, Text};
    let link = |href: &str, rel: &str, mime: Option<&str>| {
        let mut l = Link::default();
        l.set_href(href);
        l.set_rel(rel);
        l.set_mime_type(mime.map(str::to_string));
        l
    };
    let entries: Vec<Entry> = items
        .iter()
        .map(|i| {
            let mut e = Entry::default();
            e.set_id(i.id.clone());
            e.set_title(Text::plain(i.title.clone()));
            e.set_updated(i.published.fixed_offset());
            e.set_published(Some(i.published.fixed_offset()));
            e.set_links(vec![link(&i.link, "alternate", Some("text/html"))]);
            let mut c = Content::default();
            c.set_content_type(Some("html".to_string()));
            c.set_value(Some(i.html.clone()));
            e.set_content(Some(c));
            e
        })
        .collect();
    let mut feed = Feed::default();
    feed.set_id(format!("{}.atom", ch.base));
    feed.set_title(Text::plain(ch.title.clone()));
    feed.set_subtitle(Some(Text::plain(ch.description.clone())));
    feed.set_updated(items.first().map_or(ch.now, |i| i.published).fixed_offset());
    feed.set_lang(Some(ch.language.to_string()));
    feed.set_links(vec![
        link(&ch.home, "alternate", Some("text/html")),
        link(
            &format!("{}.atom", ch.base),
            "self",
            Some("application/atom+xml"),
        ),
    ]);
    // RFC 4287 needs an author on the feed (or on every entry): the page itself.
    let mut author = atom_syndication::Person::default();
    author.set_name(ch.author.clone());
    author.set_uri(Some(ch.home.clone()));
    feed.set_authors(vec![author]);
    let mut generator = Generator::default();
    generator.set_value("pharos");
    generator.set_version(Some(env!("CARGO_PKG_VERSION").to_string()));
    feed.set_generator(Some(generator));
    feed.set_entries(entries);
    crate::words::xml_clean(feed.to_string())
}

#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: &'a str,
    home_page_url: &'a str,
    feed_url: String,
    description: &'a str,
    language: &'a str,
    items: Vec<JsonItem<'a>>,
}

#[derive(Serialize)]
struct JsonItem<'a> {
    id: &'a str,
    url: &'a str,
    title: &'a str,
    content_html: &'a str,
    date_published: String,
    tags: &'a [String],
}

/// JSON Feed 1.1.
pub fn json(ch: &Channel<'_>, items: &[&Item]) -> String {
    let feed = JsonFeed {
        version: "https://jsonfeed.org/version/1.1",
        title: &ch.title,
        home_page_url: &ch.home,
        feed_url: format!("{}.json", ch.base),
        description: &ch.description,
        language: ch.language,
        items: items
            .iter()
            .map(|i| JsonItem {
                id: &i.id,
                url: &i.link,
                title: &i.title,
                content_html: &i.html,
                date_published: i.published.to_rfc3339_opts(SecondsFormat::Secs, true),
                tags: &i.components,
            })
            .collect(),
    };
    serde_json::to_string_pretty(&feed).unwrap_or_default()
}

/// `maintenance.ics`: one event per maintenance window (RFC 5545).
pub fn ics(config: &Config, incidents: &[Arc<Incident>], now: DateTime<Utc>) -> String {
    use icalendar::{Calendar, Component, EventLike, EventStatus};
    let page = &config.site.page;
    let host = url::Url::parse(&page.base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "pharos.invalid".to_string());
    let mut cal = Calendar::empty();
    cal.append_property(("VERSION", "2.0"));
    cal.append_property((
        "PRODID",
        concat!("-//Pharos//Pharos ", env!("CARGO_PKG_VERSION"), "//EN"),
    ));
    cal.append_property(("CALSCALE", "GREGORIAN"));
    cal.name(&format!("{} maintenance", page.title));
    for m in incidents.iter().filter(|i| i.kind == Kind::Maintenance) {
        let (Some(from), Some(until)) = (m.scheduled_for, m.scheduled_until) else {
            continue;
        };
        let latest = m
            .updates
            .first()
            .map(|u| crate::incident::markdown::plain_text(&u.markdown))
            .unwrap_or_default();
        let affects: Vec<&str> = m
            .components
            .iter()
            .map(|id| {
                config
                    .site
                    .components
                    .iter()
                    .find(|c| &c.id == id)
                    .map_or(id.as_str(), |c| c.name.as_str())
            })
            .collect();
        let mut event = icalendar::Event::new();
        event
            .uid(&format!("{}@{host}", m.slug))
            .summary(&m.title)
            .description(&format!("{latest}\nAffects: {}", affects.join(", ")))
            .starts(from)
            .ends(until)
            .url(&format!("{}/incidents/{}/", page.base_url, m.slug))
            .sequence(m.updates.len().saturating_sub(1) as u32)
            .timestamp(m.updated_at().unwrap_or(now))
            .status(EventStatus::Confirmed);
        cal.push(event.done());
    }
    // iCalendar is text, not XML, but calendar readers choke on the same characters.
    crate::words::xml_clean(cal.done().to_string())
}

/// Every feed file: the page's and each component's, in three formats, and the calendar.
pub fn files(
    config: &Config,
    incidents: &[Arc<Incident>],
    detected: &[Detected],
    now: DateTime<Utc>,
    out: &mut dyn super::Sink,
    (keyed, kept): (&mut super::Keyed<'_>, &mut Kept),
) -> anyhow::Result<()> {
    let page = &config.site.page;
    let base = &page.base_url;
    kept.turn();
    let posted: Vec<Arc<[Item]>> = incidents.iter().map(|i| kept.updates(base, i)).collect();
    let mut steps: Vec<Item> = incidents
        .iter()
        .flat_map(|i| window_steps(base, i, now))
        .collect();
    steps.extend(detected_items(config, detected, now));
    // The feeds list these items by reference: a component's feed copies none of them.
    let mut all: Vec<&Item> = posted.iter().flat_map(|p| p.iter()).chain(&steps).collect();
    sort(&mut all);
    let page_channel = |name: &str| Channel {
        title: format!("{} — incident history", page.title),
        description: page
            .description
            .clone()
            .unwrap_or_else(|| format!("Incidents and maintenance for {}", page.title)),
        home: format!("{base}/"),
        base: format!("{base}/{name}"),
        language: &page.language,
        now,
        author: page.title.clone(),
    };
    // The same feeds where Statuspage serves them (`/history.rss`, `/history.atom`), for
    // the readers and clients that look there; each names its own address as `self`.
    {
        let ch = page_channel("history");
        let list = &all[..all.len().min(MAX_ITEMS)];
        let key = std::cell::OnceCell::new();
        let key = || *key.get_or_init(|| feed_key(&ch, list));
        keyed.file(out, "history.rss", key, || Ok(rss(&ch, list).into_bytes()))?;
        keyed.file(
            out,
            "history.atom",
            key,
            || Ok(atom(&ch, list).into_bytes()),
        )?;
    }
    // A feed is kept when its channel and items are as before.
    let mut emit = |dir: &str, ch: Channel<'_>, list: &[&Item]| -> anyhow::Result<()> {
        let list = &list[..list.len().min(MAX_ITEMS)];
        // Hashed once for the three formats, and only in a rebuild loop.
        let key = std::cell::OnceCell::new();
        let key = || *key.get_or_init(|| feed_key(&ch, list));
        keyed.file(out, &format!("{dir}feed.rss"), key, || {
            Ok(rss(&ch, list).into_bytes())
        })?;
        keyed.file(out, &format!("{dir}feed.atom"), key, || {
            Ok(atom(&ch, list).into_bytes())
        })?;
        keyed.file(out, &format!("{dir}feed.json"), key, || {
            Ok(json(&ch, list).into_bytes())
        })
    };
    emit("", page_channel("feed"), &all)?;
    // Each component's newest items, found in one pass over all of them (newest first),
    // not one pass per component.
    let mut by_component: std::collections::HashMap<&str, Vec<usize>> =
        std::collections::HashMap::new();
    for (n, item) in all.iter().enumerate() {
        for id in &item.components {
            let list = by_component.entry(id.as_str()).or_default();
            if list.len() < MAX_ITEMS && list.last() != Some(&n) {
                list.push(n);
            }
        }
    }
    for c in &config.site.components {
        let mine: Vec<&Item> = by_component
            .get(c.id.as_str())
            .map(|list| list.iter().map(|&n| all[n]).collect())
            .unwrap_or_default();
        emit(
            &format!("components/{}/", c.id),
            Channel {
                title: format!("{} — {}", page.title, c.name),
                description: format!("Incidents and maintenance affecting {}", c.name),
                home: format!("{base}/#component-{}", c.id),
                base: format!("{base}/components/{}/feed", c.id),
                language: &page.language,
                now,
                author: page.title.clone(),
            },
            &mine,
        )?;
    }
    out.put("maintenance.ics", ics(config, incidents, now).as_bytes())
}
