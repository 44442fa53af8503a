//! Step 4b of the flow: the human side of the story. `incidents/*.md` posts (YAML front
//! matter, then one `## <time> <status>` heading per update) → [`Incident`] values that
//! the status roll-up and the site model read.

pub mod author;
pub mod front_matter;
pub mod markdown;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use pulldown_cmark::{Event, HeadingLevel, Parser, Tag};
use serde::{Deserialize, Serialize};

use crate::config::{Problem, Problems};
use crate::status::Impact;
use crate::yaml;

/// Incident or scheduled maintenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Something broke.
    #[default]
    Incident,
    /// Planned work in a window.
    Maintenance,
}

/// Status words of an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStatus {
    /// Incident: looking into it.
    Investigating,
    /// Incident: cause found.
    Identified,
    /// Incident: fix applied, watching.
    Monitoring,
    /// Incident: over.
    Resolved,
    /// Incident: review published.
    Postmortem,
    /// Maintenance: planned.
    Scheduled,
    /// Maintenance: under way.
    InProgress,
    /// Maintenance: checking the result.
    Verifying,
    /// Maintenance: done.
    Completed,
}

const INCIDENT_WORDS: &[&str] = &[
    "investigating",
    "identified",
    "monitoring",
    "resolved",
    "postmortem",
];
const MAINTENANCE_WORDS: &[&str] = &["scheduled", "in_progress", "verifying", "completed"];

impl UpdateStatus {
    /// The word.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateStatus::Investigating => "investigating",
            UpdateStatus::Identified => "identified",
            UpdateStatus::Monitoring => "monitoring",
            UpdateStatus::Resolved => "resolved",
            UpdateStatus::Postmortem => "postmortem",
            UpdateStatus::Scheduled => "scheduled",
            UpdateStatus::InProgress => "in_progress",
            UpdateStatus::Verifying => "verifying",
            UpdateStatus::Completed => "completed",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "investigating" => UpdateStatus::Investigating,
            "identified" => UpdateStatus::Identified,
            "monitoring" => UpdateStatus::Monitoring,
            "resolved" => UpdateStatus::Resolved,
            "postmortem" => UpdateStatus::Postmortem,
            "scheduled" => UpdateStatus::Scheduled,
            "in_progress" => UpdateStatus::InProgress,
            "verifying" => UpdateStatus::Verifying,
            "completed" => UpdateStatus::Completed,
            _ => return None,
        })
    }

    /// Whether this status ends the incident or maintenance.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            UpdateStatus::Resolved | UpdateStatus::Postmortem | UpdateStatus::Completed
        )
    }
}

/// The front matter as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFrontMatter {
    title: String,
    #[serde(default)]
    impact: Option<Impact>,
    #[serde(default)]
    components: Vec<String>,
    #[serde(default)]
    kind: Kind,
    #[serde(default)]
    scheduled_for: Option<String>,
    #[serde(default)]
    scheduled_until: Option<String>,
}

/// One update of an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// When it was posted.
    pub at: DateTime<Utc>,
    /// Its status word.
    pub status: UpdateStatus,
    /// The markdown as written.
    pub markdown: String,
    /// Sanitised HTML.
    pub html: String,
    /// Line of the heading in the file.
    pub line: usize,
}

/// An incident post or maintenance announcement.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// File stem, e.g. `2026-11-20-api-errors`; also the page's URL segment.
    pub slug: String,
    /// File path as shown in messages.
    pub file: String,
    /// Title.
    pub title: String,
    /// Declared impact.
    pub impact: Impact,
    /// Affected component ids.
    pub components: Vec<String>,
    /// Incident or maintenance.
    pub kind: Kind,
    /// Maintenance window start.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Maintenance window end.
    pub scheduled_until: Option<DateTime<Utc>>,
    /// Updates, newest first.
    pub updates: Vec<Update>,
    /// A fingerprint of what the post was parsed from (its name and text): posts with the
    /// same source are the same post, so a rebuild keys what it keeps on this, not on the
    /// whole parsed post.
    pub source: u64,
}

impl Incident {
    /// The newest update's status, as written.
    pub fn latest_status(&self) -> UpdateStatus {
        self.updates.first().map_or(
            match self.kind {
                Kind::Incident => UpdateStatus::Investigating,
                Kind::Maintenance => UpdateStatus::Scheduled,
            },
            |u| u.status,
        )
    }

    /// The status at `now`, the one every output shows. An incident's is its newest
    /// update's. A maintenance follows its window where no update says more: still
    /// `scheduled` once the window has begun is `in_progress`, and once it has ended,
    /// `completed`. A maintenance said to be `in_progress` or `verifying` stays so past
    /// its window (it overran) until a `completed` update.
    pub fn status_at(&self, now: DateTime<Utc>) -> UpdateStatus {
        let latest = self.latest_status();
        if self.kind != Kind::Maintenance || latest != UpdateStatus::Scheduled {
            return latest;
        }
        if self.scheduled_until.is_some_and(|end| end <= now) {
            UpdateStatus::Completed
        } else if self.scheduled_for.is_some_and(|start| start <= now) {
            UpdateStatus::InProgress
        } else {
            UpdateStatus::Scheduled
        }
    }

    /// When it was posted first.
    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        self.updates.last().map(|u| u.at)
    }

    /// When the newest update was posted.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updates.first().map(|u| u.at)
    }

    /// When it was resolved or completed at `now`: the first final update (a postmortem
    /// posted later does not move it), or the end of a maintenance window that closed
    /// without one.
    pub fn resolved_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.updates
            .iter()
            .rev()
            .find(|u| u.status.is_final())
            .map(|u| u.at)
            .or_else(|| {
                (self.status_at(now) == UpdateStatus::Completed)
                    .then_some(self.scheduled_until)
                    .flatten()
            })
    }

    /// An incident whose newest update is not final.
    pub fn is_open_incident(&self) -> bool {
        self.kind == Kind::Incident && !self.latest_status().is_final()
    }

    /// A maintenance under way at `now`: its window is running, or an update says it is.
    pub fn is_active_maintenance(&self, now: DateTime<Utc>) -> bool {
        self.kind == Kind::Maintenance
            && matches!(
                self.status_at(now),
                UpdateStatus::InProgress | UpdateStatus::Verifying
            )
    }

    /// Over at `now`: resolved or completed, or a maintenance whose window has passed.
    pub fn is_over(&self, now: DateTime<Utc>) -> bool {
        self.status_at(now).is_final()
    }

    /// A maintenance that has not started yet.
    pub fn is_upcoming_maintenance(&self, now: DateTime<Utc>) -> bool {
        self.kind == Kind::Maintenance && self.status_at(now) == UpdateStatus::Scheduled
    }
}

/// Whether a file name is `YYYY-MM-DD-slug.md` with a safe slug.
fn check_file_name(stem: &str) -> Result<(), String> {
    let slug_ok = stem
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    // Checked after `slug_ok`'s ASCII test would be enough, but `get` never panics anyway.
    let date_ok = stem.len() > 11
        && stem
            .get(..10)
            .is_some_and(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok())
        && stem.as_bytes().get(10) == Some(&b'-');
    if date_ok && slug_ok {
        Ok(())
    } else {
        Err(format!(
            "file name \"{stem}.md\" must be YYYY-MM-DD-slug.md with lowercase letters, digits and '-', e.g. 2026-11-20-api-errors.md"
        ))
    }
}

/// Parse one post. `file` is the name shown in errors; `known_components`, when given,
/// is checked against the post's `components`.
pub fn parse(
    text: &str,
    file: &str,
    stem: &str,
    known_components: Option<&[&str]>,
) -> Result<Incident, Vec<Problem>> {
    let mut problems = Vec::new();
    if let Err(m) = check_file_name(stem) {
        problems.push(Problem::new(file, None, "", m));
    }
    let text = text
        .strip_prefix('\u{feff}')
        .unwrap_or(text)
        .replace("\r\n", "\n");
    let split = match front_matter::split(&text) {
        Ok(s) => s,
        Err((line, m)) => {
            problems.push(Problem::new(file, Some(yaml::Loc { line, col: 1 }), "", m));
            return Err(problems);
        }
    };
    let shift = |mut e: yaml::Error| {
        if let Some(loc) = e.loc.as_mut() {
            loc.line += split.yaml_line - 1;
        }
        Problem::from_yaml(file, e)
    };
    let fm = match yaml::parse(split.yaml)
        .and_then(|node| yaml::from_node::<RawFrontMatter>(&node, "").map(|fm| (fm, node)))
    {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(shift(e));
            None
        }
    };
    let window = match &fm {
        Some((fm, node)) => check_front_matter(
            fm,
            node,
            split.yaml_line,
            file,
            known_components,
            &mut problems,
        ),
        None => (None, None),
    };
    let kind = fm.as_ref().map_or(Kind::Incident, |(f, _)| f.kind);
    let updates = parse_updates(split.body, split.body_line, kind, file, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    let Some((fm, _)) = fm else {
        return Err(problems);
    };
    Ok(Incident {
        slug: stem.to_string(),
        file: file.to_string(),
        title: fm.title,
        impact: fm.impact.unwrap_or(Impact::None),
        components: fm.components,
        kind: fm.kind,
        scheduled_for: window.0,
        scheduled_until: window.1,
        updates,
        source: crate::fingerprint::of(&(file, stem, text)),
    })
}

/// Check a post's front matter beyond its types: known components, a title, an impact
/// for an incident, and a maintenance window's times; the window it gives.
fn check_front_matter(
    fm: &RawFrontMatter,
    node: &yaml::Node,
    yaml_line: usize,
    file: &str,
    known_components: Option<&[&str]>,
    problems: &mut Vec<Problem>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let at_key = |node: &yaml::Node, path: &[&str]| {
        let mut loc = node.loc_of(path);
        loc.line += yaml_line - 1;
        Some(loc)
    };
    if let Some(known) = known_components {
        for (i, c) in fm.components.iter().enumerate() {
            if !known.contains(&c.as_str()) {
                let fix = match yaml::suggest(c, known) {
                    Some(s) => format!("did you mean \"{s}\"?"),
                    None => "use an id from components.yaml".into(),
                };
                problems.push(Problem::new(
                    file,
                    at_key(node, &["components", &i.to_string()]),
                    "components",
                    format!("component \"{c}\" is not defined in components.yaml; {fix}"),
                ));
            }
        }
    }
    if fm.title.trim().is_empty() {
        problems.push(Problem::new(
            file,
            at_key(node, &["title"]),
            "title",
            "the title is empty; write a few words saying what happened",
        ));
    }
    if fm.kind == Kind::Incident && fm.impact.is_none() {
        problems.push(Problem::new(
            file,
            at_key(node, &["title"]),
            "",
            "missing field \"impact\"; add `impact: none | minor | major | critical`",
        ));
    }
    let mut time_field = |key: &str, value: &Option<String>| -> Option<DateTime<Utc>> {
        let v = value.as_ref()?;
        match DateTime::parse_from_rfc3339(v) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                problems.push(Problem::new(
                    file,
                    at_key(node, &[key]),
                    key,
                    format!("\"{v}\" is not a time; write RFC 3339 with a zone, e.g. 2026-11-20T22:00:00Z"),
                ));
                None
            }
        }
    };
    let window = (
        time_field("scheduled_for", &fm.scheduled_for),
        time_field("scheduled_until", &fm.scheduled_until),
    );
    if fm.kind == Kind::Maintenance {
        match window {
            (Some(a), Some(b)) if a >= b => problems.push(Problem::new(
                file,
                at_key(node, &["scheduled_until"]),
                "scheduled_until",
                "the window ends before it starts; scheduled_until must be after scheduled_for",
            )),
            (Some(_), Some(_)) => {}
            _ if fm.scheduled_for.is_none() || fm.scheduled_until.is_none() => {
                problems.push(Problem::new(
                    file,
                    at_key(node, &["kind"]),
                    "",
                    "a maintenance needs `scheduled_for:` and `scheduled_until:` times",
                ))
            }
            _ => {}
        }
    }
    window
}

/// Updates dated before this year are typing mistakes.
pub const EARLIEST_YEAR: i32 = 2000;

/// How far after the build's time an update may be dated (a clock a little ahead).
pub const FUTURE_TOLERANCE: chrono::Duration = chrono::Duration::minutes(5);

/// Updates dated after `now` (beyond [`FUTURE_TOLERANCE`]): an update says what has
/// happened, so a future date is a mistake in the heading (a window to come is written
/// with `scheduled_for`). One problem per such update, at its heading.
pub fn future_updates(incidents: &[Arc<Incident>], now: DateTime<Utc>) -> Vec<Problem> {
    let mut problems = Vec::new();
    for i in incidents {
        for u in i.updates.iter().filter(|u| u.at > now + FUTURE_TOLERANCE) {
            problems.push(Problem::new(
                &i.file,
                Some(yaml::Loc { line: u.line, col: 1 }),
                "",
                format!(
                    "the update dated {} is in the future (it is {} now); an update says what has happened: fix its date, or announce a window with scheduled_for",
                    u.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            ));
        }
    }
    problems
}

/// The most updates one post may have.
pub const MAX_UPDATES: usize = 1000;

/// Line numbers of a text by offset, found by a binary search: a post with thousands of
/// updates must not count its lines again for each one.
struct Lines {
    starts: Vec<usize>,
    first: usize,
}

impl Lines {
    fn of(text: &str, first: usize) -> Lines {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines { starts, first }
    }

    /// The line of `offset`, counting from `first`.
    fn at(&self, offset: usize) -> usize {
        self.first + self.starts.partition_point(|&s| s <= offset) - 1
    }
}

/// The `##` headings of a body as (start, end of the heading line), found by the
/// markdown parser; `None` (with the problem) when the body nests deeper than
/// [`markdown::MAX_NESTING`] or has more than [`MAX_UPDATES`] updates.
fn find_headings(
    body: &str,
    lines: &Lines,
    file: &str,
    problems: &mut Vec<Problem>,
) -> Option<Vec<(usize, usize)>> {
    let mut headings: Vec<(usize, usize)> = Vec::new();
    let mut nesting = markdown::Nesting::default();
    for (event, range) in Parser::new_ext(body, markdown::options()).into_offset_iter() {
        if let Event::Start(Tag::Heading {
            level: HeadingLevel::H2,
            ..
        }) = event
        {
            let end = body[range.start..]
                .find('\n')
                .map_or(body.len(), |i| range.start + i);
            headings.push((range.start, end));
        }
        if nesting.too_deep_after(&event) {
            problems.push(Problem::new(
                file,
                Some(yaml::Loc { line: lines.at(range.start), col: 1 }),
                "",
                format!(
                    "nested more than {} levels deep (block quotes, lists or HTML elements); flatten it",
                    markdown::MAX_NESTING
                ),
            ));
            return None;
        }
    }
    if let Some(first_extra) = headings.get(MAX_UPDATES) {
        problems.push(Problem::new(
            file,
            Some(yaml::Loc { line: lines.at(first_extra.0), col: 1 }),
            "",
            format!(
                "{} updates, more than the {MAX_UPDATES} a post may have; start a new post for a new incident",
                headings.len()
            ),
        ));
        return None;
    }
    Some(headings)
}

/// Split the body at its `##` headings (found by the markdown parser, so a `##` inside a
/// code block is not a heading) and parse each heading as `<time> <status>`.
fn parse_updates(
    body: &str,
    first_line: usize,
    kind: Kind,
    file: &str,
    problems: &mut Vec<Problem>,
) -> Vec<Update> {
    let lines = Lines::of(body, first_line);
    let line_at = |offset: usize| lines.at(offset);
    let Some(headings) = find_headings(body, &lines, file, problems) else {
        return Vec::new();
    };
    let words = match kind {
        Kind::Incident => INCIDENT_WORDS,
        Kind::Maintenance => MAINTENANCE_WORDS,
    };
    let preamble_end = headings.first().map_or(body.len(), |h| h.0);
    if !body[..preamble_end].trim().is_empty() {
        let offset = body.len() - body.trim_start().len();
        problems.push(Problem::new(
            file,
            Some(yaml::Loc { line: line_at(offset), col: 1 }),
            "",
            format!(
                "text before the first update; start each update with a heading such as `## 2026-11-20T10:05:00Z {}`",
                words[0]
            ),
        ));
    }
    if headings.is_empty() {
        problems.push(Problem::new(
            file,
            Some(yaml::Loc {
                line: first_line,
                col: 1,
            }),
            "",
            format!(
                "no updates; add one such as `## 2026-11-20T10:05:00Z {}` followed by a sentence",
                words[0]
            ),
        ));
    }
    let mut updates = Vec::new();
    for (i, (start, end)) in headings.iter().enumerate() {
        let line = line_at(*start);
        let heading = body[*start..*end]
            .trim()
            .trim_start_matches('#')
            .trim()
            .trim_end_matches('#')
            .trim();
        let text_end = headings.get(i + 1).map_or(body.len(), |h| h.0);
        let text = body[(*end).min(text_end)..text_end].trim();
        let mut parts = heading.split_whitespace();
        let (time, word, extra) = (parts.next(), parts.next(), parts.next());
        let loc = Some(yaml::Loc { line, col: 1 });
        let example = format!("`## 2026-11-20T10:05:00Z {}`", words[0]);
        let at = match time.map(DateTime::parse_from_rfc3339) {
            Some(Ok(t)) if t.year() < EARLIEST_YEAR => {
                problems.push(Problem::new(
                    file,
                    loc,
                    "",
                    format!("update heading \"## {heading}\" is dated before {EARLIEST_YEAR}; check the year"),
                ));
                continue;
            }
            Some(Ok(t)) => t.with_timezone(&Utc),
            _ => {
                problems.push(Problem::new(
                    file,
                    loc,
                    "",
                    format!("update heading \"## {heading}\" must start with an RFC 3339 time and a status, e.g. {example}"),
                ));
                continue;
            }
        };
        let status = match word {
            Some(w) if words.contains(&w) => UpdateStatus::parse(w),
            _ => None,
        };
        let Some(status) = status.filter(|_| extra.is_none()) else {
            problems.push(Problem::new(
                file,
                loc,
                "",
                format!(
                    "update heading \"## {heading}\" needs one status word after the time: one of {}",
                    words.join(", ")
                ),
            ));
            continue;
        };
        if text.is_empty() {
            problems.push(Problem::new(
                file,
                loc,
                "",
                "this update has no text; write a sentence under the heading",
            ));
        }
        updates.push(Update {
            at,
            status,
            markdown: text.to_string(),
            html: markdown::render(text),
            line,
        });
    }
    updates.sort_by_key(|u| std::cmp::Reverse(u.at));
    updates
}

/// Load every `*.md` in `dir` (missing folder: none). Problems of all files are collected.
pub fn load_dir(
    dir: &Path,
    shown_dir: &str,
    known_components: Option<&[&str]>,
) -> Result<Vec<Arc<Incident>>, Problems> {
    load_dir_cached(dir, shown_dir, known_components, &mut ParseCache::default())
}

/// Posts parsed by earlier builds of one process, by file name, with the text they were
/// parsed from and the file's stamp when it was read: a rebuild reads only the files
/// whose stamp changed (or has none) and parses only those whose text changed.
#[derive(Debug, Default)]
pub struct ParseCache {
    components: Option<Vec<String>>,
    files: std::collections::HashMap<String, Parsed>,
}

/// A post as an earlier build read it.
#[derive(Debug)]
struct Parsed {
    stamp: Option<crate::input::Stamp>,
    text: String,
    incident: Arc<Incident>,
}

/// [`load_dir`], reusing what `cache` parsed before when a file's text is unchanged.
pub fn load_dir_cached(
    dir: &Path,
    shown_dir: &str,
    known_components: Option<&[&str]>,
    cache: &mut ParseCache,
) -> Result<Vec<Arc<Incident>>, Problems> {
    // A different list of components changes what is valid: start over.
    let components: Option<Vec<String>> =
        known_components.map(|ids| ids.iter().map(|s| s.to_string()).collect());
    if cache.components != components {
        cache.files.clear();
        cache.components = components;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Problems(vec![Problem::new(
                shown_dir,
                None,
                "",
                format!("cannot list the folder: {e}"),
            )]));
        }
    };
    // Each post by name, with its stamp, taken from the listing (no lookup by path) and
    // before the file is read: a write after it changes the stamp.
    type Listed = (String, std::path::PathBuf, Option<crate::input::Stamp>);
    let mut posts: Vec<Listed> = entries
        .flatten()
        .filter(|e| {
            Path::new(&e.file_name())
                .extension()
                .is_some_and(|x| x == "md")
        })
        .map(|e| {
            let stamp = e
                .metadata()
                .ok()
                .and_then(|m| crate::input::Stamp::of_metadata(&m));
            (
                e.file_name().to_string_lossy().into_owned(),
                e.path(),
                stamp,
            )
        })
        .collect();
    posts.sort_by(|a, b| a.0.cmp(&b.0));
    let mut problems = Vec::new();
    let mut incidents = Vec::new();
    let mut kept = std::collections::HashMap::with_capacity(posts.len());
    for (name, path, stamp) in posts {
        let before = match cache.files.remove(&name) {
            Some(before) if stamp.is_some() && before.stamp == stamp => {
                incidents.push(Arc::clone(&before.incident));
                kept.insert(name, before);
                continue;
            }
            before => before,
        };
        let shown = format!("{shown_dir}/{name}");
        let text = match crate::input::read_text_within(
            &path,
            dir,
            &format!("{shown_dir}/"),
            crate::input::POST,
        ) {
            Ok(text) => text,
            Err(e) => {
                problems.push(Problem::refused(&shown, &e));
                continue;
            }
        };
        match before {
            Some(mut before) if before.text == text => {
                before.stamp = stamp;
                incidents.push(Arc::clone(&before.incident));
                kept.insert(name, before);
            }
            _ => match parse(
                &text,
                &shown,
                name.trim_end_matches(".md"),
                known_components,
            ) {
                Ok(incident) => {
                    let incident = Arc::new(incident);
                    incidents.push(Arc::clone(&incident));
                    let parsed = Parsed {
                        stamp,
                        text,
                        incident,
                    };
                    kept.insert(name, parsed);
                }
                Err(p) => problems.extend(p),
            },
        }
    }
    cache.files = kept;
    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    // Newest first.
    incidents.sort_by(|a, b| {
        b.started_at()
            .cmp(&a.started_at())
            .then(a.slug.cmp(&b.slug))
    });
    Ok(incidents)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_parse_cache_follows_edits_removals_and_component_changes() {
        let dir = tempfile::tempdir().unwrap();
        let post = |title: &str, comp: &str| {
            format!(
                "---\ntitle: {title}\nimpact: minor\ncomponents: [{comp}]\n---\n## 2026-11-20T10:00:00Z investigating\nLooking.\n"
            )
        };
        std::fs::write(dir.path().join("2026-11-20-a.md"), post("A", "api")).unwrap();
        std::fs::write(dir.path().join("2026-11-20-b.md"), post("B", "api")).unwrap();
        let mut cache = ParseCache::default();
        let load = |cache: &mut ParseCache, ids: &[&str]| {
            load_dir_cached(dir.path(), "incidents", Some(ids), cache)
        };
        let titles = |v: Vec<Arc<Incident>>| v.iter().map(|i| i.title.clone()).collect::<Vec<_>>();
        assert_eq!(titles(load(&mut cache, &["api"]).unwrap()), vec!["A", "B"]);
        std::fs::write(dir.path().join("2026-11-20-a.md"), post("A2", "api")).unwrap();
        std::fs::remove_file(dir.path().join("2026-11-20-b.md")).unwrap();
        assert_eq!(titles(load(&mut cache, &["api"]).unwrap()), vec!["A2"]);
        assert_eq!(cache.files.len(), 1);
        // Without the component the cached post is checked again, and refused.
        assert!(load(&mut cache, &["web"]).is_err());
    }

    #[test]
    fn a_settled_unchanged_post_is_not_read_again_and_any_edit_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("2026-11-20-a.md");
        let post = |title: &str| {
            format!(
                "---\ntitle: {title}\nimpact: minor\n---\n## 2026-11-20T10:00:00Z investigating\nLooking.\n"
            )
        };
        std::fs::write(&path, post("A")).unwrap();
        let mut cache = ParseCache::default();
        let title = |cache: &mut ParseCache| {
            let posts = load_dir_cached(dir.path(), "incidents", None, cache).unwrap();
            posts[0].title.clone()
        };
        assert_eq!(title(&mut cache), "A");
        // Just written: no stamp is trusted yet, so the file is read every time.
        assert_eq!(cache.files["2026-11-20-a.md"].stamp, None);
        // Once its last change is old enough, its stamp is kept ...
        std::thread::sleep(crate::input::Stamp::SETTLED + std::time::Duration::from_millis(100));
        assert_eq!(title(&mut cache), "A");
        assert!(cache.files["2026-11-20-a.md"].stamp.is_some());
        // ... and the file is not read again while the stamp holds: what the cache says
        // is what the build gets.
        if let Some(p) = cache.files.get_mut("2026-11-20-a.md") {
            Arc::make_mut(&mut p.incident).title = "from the cache".into();
        }
        assert_eq!(title(&mut cache), "from the cache");
        // An edit of the same length, right away, changes the stamp: it is seen.
        std::fs::write(&path, post("B")).unwrap();
        assert_eq!(title(&mut cache), "B");
    }

    use super::*;

    const POST: &str = "---\ntitle: Elevated API error rates\nimpact: major\ncomponents: [api]\n---\n## 2026-11-20T10:42:00Z resolved\nBack to normal.\n\n## 2026-11-20T09:58:00Z investigating\nWe are investigating.\n\n```\n## not a heading\n```\n";

    #[test]
    fn parses_updates_newest_first() {
        let i = parse(POST, "incidents/x.md", "2026-11-20-api", Some(&["api"])).unwrap();
        assert_eq!(i.updates.len(), 2);
        assert_eq!(i.latest_status(), UpdateStatus::Resolved);
        assert_eq!(i.updates[0].line, 6);
        assert_eq!(i.updates[1].line, 9);
        assert!(i.updates[1].html.contains("## not a heading"));
        assert!(!i.is_open_incident());
        assert_eq!(
            i.started_at().unwrap().to_rfc3339(),
            "2026-11-20T09:58:00+00:00"
        );
    }

    #[test]
    fn front_matter_errors_point_at_file_lines() {
        let text = "---\ntitle: x\nimpact: huge\n---\n## 2026-11-20T10:42:00Z resolved\nok\n";
        let p = parse(text, "incidents/x.md", "2026-11-20-x", None).unwrap_err();
        assert_eq!(p[0].loc, Some(yaml::Loc { line: 3, col: 9 }));
        assert!(
            p[0].message.contains("unknown value \"huge\""),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn heading_errors_point_at_file_lines() {
        let text = "---\ntitle: x\nimpact: minor\ncomponents: [apx]\n---\n## yesterday resolved\nok\n## 2026-11-20T10:42:00Z fixed\nok\n";
        let p = parse(text, "incidents/x.md", "2026-11-20-x", Some(&["api"])).unwrap_err();
        let lines: Vec<usize> = p.iter().filter_map(|p| p.loc.map(|l| l.line)).collect();
        assert_eq!(lines, vec![4, 6, 8]);
        assert!(p[0].message.contains("did you mean \"api\""));
    }

    #[test]
    fn bad_file_names_are_refused() {
        assert!(check_file_name("2026-11-20-api").is_ok());
        assert!(check_file_name("../../etc/passwd").is_err());
        assert!(check_file_name("2026-13-40-x").is_err());
        assert!(check_file_name("notes").is_err());
        assert!(check_file_name("2026-11-2é-x").is_err());
        assert!(check_file_name("2026-11-20é").is_err());
    }
}
