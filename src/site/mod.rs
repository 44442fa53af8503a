//! Step 5 of the flow: assemble the site model from the validated config, the merged
//! verdicts and the incidents, at a given `now`. Pure: the same inputs give the same model.

pub mod chart;
pub mod i18n;
pub mod memo;
pub mod model;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use memo::Memo;
pub use model::*;

use crate::config::Config;
use crate::incident::{Incident, Kind};
use crate::status::timeline::ComponentHistory;
use crate::status::{ComponentVerdict, Indicator, RegionHealth};

/// Everything `assemble` needs.
pub struct Inputs<'a> {
    /// Validated config.
    pub config: &'a Config,
    /// Per-component verdicts, in config order.
    pub components: &'a [ComponentVerdict],
    /// The page indicator.
    pub indicator: Indicator,
    /// The page's headline in English (see `status::headline`).
    pub headline: &'static str,
    /// The faults behind failing probes, with their causes.
    pub faults: &'a [crate::status::localise::Cause],
    /// Incidents, newest first.
    pub incidents: &'a [Arc<Incident>],
    /// The build's time.
    pub now: DateTime<Utc>,
    /// Per-component history from the consensus timeline, in config order.
    pub history: &'a [crate::status::timeline::ComponentHistory],
    /// Outages the probes saw that no post covers, oldest first.
    pub detected: &'a [crate::status::timeline::Detected],
    /// Every region's state, for response-time charts.
    pub states: &'a [crate::state::RegionState],
    /// The page's words in its language.
    pub strings: &'a i18n::Strings,
    /// The availability report of every month of the history, oldest first.
    pub reports: &'a [crate::report::Report],
}

/// A chart's accessible summary in the page's language.
fn with_summary(mut c: chart::ChartView, words: &i18n::Strings) -> chart::ChartView {
    let ms = |v: Option<f64>| v.map_or_else(|| words.get("no data"), |v| format!("{v:.0} ms"));
    c.summary = words.fill(
        "{title}: typical median {p50}, highest 95th percentile {p95}.",
        &[
            ("title", &c.title),
            ("p50", &ms(c.typical_ms)),
            ("p95", &ms(c.worst_ms)),
        ],
    );
    c
}

/// How long an ended detected outage stays on the page.
pub const DETECTED_SHOWN_FOR: chrono::Duration = chrono::Duration::hours(24);

/// Uptime as shown: two decimals, cut rather than rounded so 99.999 % never reads 100.
pub fn percent(p: f64) -> String {
    if p >= 100.0 {
        "100".to_string()
    } else {
        format!("{:.2}", (p.max(0.0) * 100.0).floor() / 100.0)
    }
}

/// A duration in words in the page's language: "45 s", "20 min", "3 h 5 min".
pub fn duration_in(t: &i18n::Strings, secs: f64) -> String {
    let s = secs.round() as i64;
    let n = |v: i64| v.to_string();
    match s {
        ..60 => t.fill("{n} s", &[("n", &n(s))]),
        60..3600 if s % 60 == 0 => t.fill("{n} min", &[("n", &n(s / 60))]),
        // Under an hour the seconds count: "1 min 33 s", not "1 min" for 93 s.
        60..3600 => t.fill("{m} min {s} s", &[("m", &n(s / 60)), ("s", &n(s % 60))]),
        _ if s % 3600 / 60 == 0 => t.fill("{n} h", &[("n", &n(s / 3600))]),
        _ => t.fill(
            "{h} h {m} min",
            &[("h", &n(s / 3600)), ("m", &n(s % 3600 / 60))],
        ),
    }
}

/// One day's cell: its worst status and a sentence with the date, the uptime, what
/// happened, and the incidents posted about it (`incidents`).
fn day_view(
    day: &crate::status::timeline::Day,
    incidents: usize,
    words: &i18n::Strings,
    date_format: &i18n::TimeFormat,
) -> DayView {
    let t = &day.tally;
    let shown_date = date_format.show_date(day.date);
    // The sentence is made with `{date}` left in, then dated: days alike but for the
    // date merge into one run on the home page.
    let date = "{date}";
    let mut parts: Vec<String> = Vec::new();
    for (secs, what) in [
        (t.major_s, "major outage {duration}"),
        (t.partial_s, "partial outage {duration}"),
        (t.degraded_s, "degraded performance {duration}"),
    ] {
        // Nothing that rounds to 0 s is listed.
        if secs.round() >= 1.0 {
            parts.push(words.fill(what, &[("duration", &duration_in(words, secs))]));
        }
    }
    let status = t.worst().map_or(DisplayStatus::NoData, DisplayStatus::from);
    let mut label = match t.uptime_pct() {
        None => words.fill("{date}: no data", &[("date", date)]),
        Some(p) if parts.is_empty() => words.fill(
            "{date}: {percent} % uptime, no downtime",
            &[("date", date), ("percent", &percent(p))],
        ),
        Some(p) => words.fill(
            "{date}: {percent} % uptime; {what}",
            &[
                ("date", date),
                ("percent", &percent(p)),
                ("what", &parts.join(", ")),
            ],
        ),
    };
    let quiet_pattern = parts.is_empty().then(|| label.clone());
    label.push_str(&incidents_words(incidents, words));
    DayView {
        date: day.date.format("%Y-%m-%d").to_string(),
        status,
        label: label.replace("{date}", &shown_date),
        downtime_s: t.downtime_s(),
        quiet_pattern,
        shown_date,
        day: day.date,
    }
}

/// "; 1 incident", "; {n} incidents", or nothing.
fn incidents_words(n: usize, words: &i18n::Strings) -> String {
    match n {
        0 => String::new(),
        1 => words.get("; 1 incident"),
        n => words.fill("; {n} incidents", &[("n", &n.to_string())]),
    }
}

/// The days as runs: consecutive days without downtime, with the same status and the
/// same sentence but for the date and the incidents, merge into one, dated
/// "{from} – {to}" and counting the incidents posted during it once each
/// (`posts_between(first, last)`).
fn runs_of(
    days: &[DayView],
    posts_between: &dyn Fn(chrono::NaiveDate, chrono::NaiveDate) -> usize,
    words: &i18n::Strings,
) -> Vec<RunView> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, d) in days.iter().enumerate() {
        let alike = |j: usize| {
            let p = &days[j];
            p.status == d.status && p.quiet_pattern.is_some() && p.quiet_pattern == d.quiet_pattern
        };
        match runs.last_mut() {
            Some((start, end)) if *end + 1 == i && alike(*start) => *end = i,
            _ => runs.push((i, i)),
        }
    }
    runs.into_iter()
        .map(|(start, end)| {
            let (first, last) = (&days[start], &days[end]);
            let label = match &first.quiet_pattern {
                Some(pattern) if end > start => {
                    let span = words.fill(
                        "{from} – {to}",
                        &[("from", &first.shown_date), ("to", &last.shown_date)],
                    );
                    let posts = posts_between(first.day, last.day);
                    pattern.replace("{date}", &span) + &incidents_words(posts, words)
                }
                _ => first.label.clone(),
            };
            RunView {
                status: first.status,
                days: end - start + 1,
                label,
            }
        })
        .collect()
}

/// How many of `posts` were open on each of `days` (in the page's zone): from the day
/// of an incident's first update to the day of its resolution, both included, or to
/// today while it is open. `spans` holds each incident's days; maintenance has none.
fn posts_per_day(
    posts: &[&Incident],
    spans: &IncidentDays,
    days: &[crate::status::timeline::Day],
) -> Vec<usize> {
    let mut counts = vec![0; days.len()];
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return counts;
    };
    for i in posts {
        let Some((start, end)) = spans.get(&std::ptr::from_ref(*i)) else {
            continue;
        };
        if *start > last.date || end.is_some_and(|e| e < first.date) {
            continue;
        }
        // Days are oldest first.
        let from = days.partition_point(|d| d.date < *start);
        for (n, d) in counts.iter_mut().zip(days).skip(from) {
            if end.is_some_and(|e| d.date > e) {
                break;
            }
            *n += 1;
        }
    }
    counts
}

/// A time shown in the page's zone in `format`.
pub fn time_view(t: DateTime<Utc>, tz: Tz, format: &i18n::TimeFormat) -> TimeView {
    TimeView {
        iso: t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        display: format.show(&t.with_timezone(&tz)),
        at: t,
    }
}

fn health_label(h: RegionHealth) -> &'static str {
    match h {
        RegionHealth::Up => "Up",
        RegionHealth::Degraded => "Degraded",
        RegionHealth::Down => "Down",
        RegionHealth::Unknown => "Cannot check",
        RegionHealth::NoData => "No data",
    }
}

/// "last check down, not confirmed yet: 1 of 2 rounds", in the page's language (the
/// terminal's `pharos status` says it in English).
pub fn unconfirmed_words(u: &crate::status::merge::Unconfirmed, words: &i18n::Strings) -> String {
    words.fill(
        "last check {health}, not confirmed yet: {n} of {of} rounds",
        &[
            ("health", &words.get(health_label(u.health)).to_lowercase()),
            ("n", &u.rounds.to_string()),
            ("of", &u.needed.to_string()),
        ],
    )
}

/// Each component's name by id (the first, should ids repeat), looked up once.
fn component_names(config: &Config) -> HashMap<&str, &str> {
    let mut names = HashMap::new();
    for c in &config.site.components {
        names.entry(c.id.as_str()).or_insert(c.name.as_str());
    }
    names
}

/// Each component's posts, in input order (newest first), a post naming it twice listed
/// once: indexed once so a component's posts cost what it has, not every post.
fn posts_by_component(incidents: &[Arc<Incident>]) -> HashMap<&str, Vec<&Incident>> {
    let mut by: HashMap<&str, Vec<&Incident>> = HashMap::new();
    for i in incidents {
        for c in &i.components {
            let mine = by.entry(c.as_str()).or_default();
            if !mine.last().is_some_and(|last| std::ptr::eq(*last, &**i)) {
                mine.push(i);
            }
        }
    }
    by
}

/// Human label of an update status word.
pub fn update_label(word: &str) -> String {
    let mut s = word.replace('_', " ");
    if let Some(first) = s.get(..1) {
        let upper = first.to_uppercase();
        s.replace_range(..1, &upper);
    }
    s
}

/// A component's views made from its history and its probes' response times.
#[derive(Debug, Clone, Default)]
struct Bars {
    days: Vec<DayView>,
    runs: Vec<RunView>,
    uptime: Vec<UptimeView>,
    uptime_90d: Option<String>,
    chart_hours: Option<chart::ChartView>,
    chart_days: Option<chart::ChartView>,
}

/// A post's view and the link to it that lists show.
#[derive(Debug, Clone)]
struct PostViews {
    view: Arc<IncidentView>,
    link: IncidentLink,
}

/// Build the model. `memo` keeps views between the builds of a rebuild loop (see
/// [`Memo`]); the model is the same either way.
pub fn assemble(inputs: &Inputs<'_>, memo: &mut Memo) -> Model {
    let config = inputs.config;
    let page = &config.site.page;
    let tz = page.time_zone;
    let words = inputs.strings;
    let time_format = words.time_format(i18n::DATE_TIME_FORMAT);
    let tv = |t: DateTime<Utc>| time_view(t, tz, &time_format);
    let word = |w: &str| words.get(w);
    memo.turn(|| (inputs.now, tz.name(), words.all()));

    let catalogue = catalogue(inputs);
    // A component's name and its page, relative to the site root; no page (an empty
    // `url`) for one hidden until degraded that is not.
    let by_id: std::collections::HashMap<&str, &Entry> = catalogue
        .components
        .iter()
        .map(|e| (e.id.as_str(), e))
        .collect();
    let page_link = |id: &String| {
        let found = by_id.get(id.as_str());
        LinkView {
            title: found.map_or_else(|| id.clone(), |e| e.name.clone()),
            url: match found {
                Some(e) if e.shown => format!("components/{id}/"),
                _ => String::new(),
            },
        }
    };
    let page_links = |ids: &[String]| ids.iter().map(page_link).collect::<Vec<_>>();
    let names = component_names(config);
    let (views, links) = post_views(inputs, &names, &tv, memo);
    let components = component_views(inputs, &catalogue, &tv, &page_links, &links, memo);
    let compact = components.len() > COMPACT_OVER;
    let groups = group_views(config, &catalogue, &components);
    let now = inputs.now;
    let pick = |f: &dyn Fn(&Incident) -> bool| -> Vec<Arc<IncidentView>> {
        inputs
            .incidents
            .iter()
            .zip(&views)
            .filter(|(i, _)| f(i))
            .map(|(_, v)| v.clone())
            .collect()
    };
    let mut upcoming: Vec<(&Incident, &Arc<IncidentView>)> = inputs
        .incidents
        .iter()
        .map(|i| &**i)
        .zip(&views)
        .filter(|(i, _)| i.is_upcoming_maintenance(now))
        .collect();
    upcoming.sort_by_key(|(i, _)| i.scheduled_for);

    let past = pick(&|i| i.is_over(now));
    Model {
        page: PageView {
            title: page.title.clone(),
            description: page.description.clone(),
            base_url: page.base_url.clone(),
            language: page.language.clone(),
            time_zone: tz.name().to_string(),
            links: page
                .links
                .iter()
                .map(|l| LinkView {
                    title: l.title.clone(),
                    url: l.url.clone(),
                })
                .collect(),
        },
        generated_at: tv(now),
        status: IndicatorView {
            indicator: inputs.indicator,
            description: word(inputs.headline),
            headline: inputs.headline,
        },
        regions: config
            .probing
            .regions
            .iter()
            .map(|r| RegionInfo {
                name: r.name.clone(),
                label: r.label.clone(),
            })
            .collect(),
        groups,
        components: components.into_iter().map(|(_, v)| v).collect(),
        compact,
        active_incidents: pick(&|i| i.is_open_incident()),
        detected: detected_views(inputs, &names, &tv, &page_links),
        causes: inputs
            .faults
            .iter()
            .filter(|f| f.names_others())
            .map(|f| CauseView {
                causes: page_links(&f.causes),
                affected: page_links(&f.affected),
                status: f.status.into(),
                status_label: word(DisplayStatus::from(f.status).label()),
                since: f.since.map(tv),
            })
            .collect(),
        active_maintenance: pick(&|i| i.is_active_maintenance(now)),
        upcoming_maintenance: upcoming.into_iter().map(|(_, v)| v.clone()).collect(),
        recent_past: past.iter().take(RECENT_PAST).cloned().collect(),
        past_incidents: past,
        history: history_pages(inputs, &tv),
        reports: report_views(inputs, &catalogue, &links),
        incidents: views,
        t: words.all().clone(),
        catalogue,
    }
}

/// Each post's view and its link, once per post (the lists of the model are copies of
/// these), in the order of `inputs.incidents`.
fn post_views<'i>(
    inputs: &'i Inputs<'_>,
    names: &HashMap<&str, &str>,
    tv: &dyn Fn(DateTime<Utc>) -> TimeView,
    memo: &mut Memo,
) -> (Vec<Arc<IncidentView>>, HashMap<&'i str, IncidentLink>) {
    inputs
        .incidents
        .iter()
        .map(|i| {
            // A post's view is made from its source and shows its components' names.
            let key = || {
                let named: Vec<Option<&&str>> =
                    i.components.iter().map(|c| names.get(c.as_str())).collect();
                crate::fingerprint::of(&(i.source, named))
            };
            let made = memo.post(&i.slug, key, || PostViews {
                view: Arc::new(incident_view(i, inputs, names, tv)),
                link: incident_link(i, inputs.now, tv, inputs.strings),
            });
            (made.view, (i.slug.as_str(), made.link))
        })
        .unzip()
}

/// A post as shown at the build's time.
fn incident_view(
    i: &Incident,
    inputs: &Inputs<'_>,
    component_names: &HashMap<&str, &str>,
    tv: &dyn Fn(DateTime<Utc>) -> TimeView,
) -> IncidentView {
    let word = |w: &str| inputs.strings.get(w);
    let names = |ids: &[String]| -> Vec<LinkView> {
        ids.iter()
            .map(|id| LinkView {
                title: component_names
                    .get(id.as_str())
                    .map_or_else(|| id.clone(), |n| (*n).to_string()),
                url: id.clone(),
            })
            .collect()
    };
    let status = i.status_at(inputs.now);
    IncidentView {
        slug: i.slug.clone(),
        path: format!("incidents/{}/", i.slug),
        title: i.title.clone(),
        kind: i.kind,
        impact: i.impact,
        status,
        status_label: word(&update_label(status.as_str())),
        resolved: status.is_final(),
        components: names(&i.components),
        started_at: i.started_at().map(tv),
        updated_at: i.updated_at().map(tv),
        resolved_at: i.resolved_at(inputs.now).map(tv),
        scheduled_for: i.scheduled_for.map(tv),
        scheduled_until: i.scheduled_until.map(tv),
        updates: i
            .updates
            .iter()
            .map(|u| UpdateView {
                at: tv(u.at),
                status: u.status,
                status_label: word(&update_label(u.status.as_str())),
                html: u.html.clone(),
            })
            .collect(),
    }
}

/// "1 of 3 regions reporting" when some of a component's regions have no fresh data.
fn reporting(v: &ComponentVerdict, words: &i18n::Strings) -> Option<String> {
    let all = v.regions.len();
    let fresh = v
        .regions
        .iter()
        .filter(|r| r.health != RegionHealth::NoData)
        .count();
    (fresh < all).then(|| {
        words.fill(
            "{n} of {m} regions reporting",
            &[("n", &fresh.to_string()), ("m", &all.to_string())],
        )
    })
}

/// A component as one region sees it.
fn region_view(
    r: &crate::status::merge::RegionView,
    config: &Config,
    tv: &dyn Fn(DateTime<Utc>) -> TimeView,
    words: &i18n::Strings,
) -> RegionStateView {
    RegionStateView {
        name: r.region.clone(),
        label: config
            .probing
            .regions
            .iter()
            .find(|x| x.name == r.region)
            .and_then(|x| x.label.clone()),
        health: r.health,
        health_label: words.get(health_label(r.health)),
        detail: r.detail.clone(),
        checked_at: r.checked_at.map(tv),
        unconfirmed: r.unconfirmed.map(|u| unconfirmed_words(&u, words)),
    }
}

/// Each incident's first day and the day of its resolution (none while open) in the
/// page's zone; maintenance has none.
type IncidentDays = HashMap<*const Incident, (chrono::NaiveDate, Option<chrono::NaiveDate>)>;

/// [`IncidentDays`] of every incident, once for every bar of the page.
fn incident_days(incidents: &[Arc<Incident>], tz: Tz, now: DateTime<Utc>) -> IncidentDays {
    incidents
        .iter()
        .filter(|i| i.kind == Kind::Incident)
        .filter_map(|i| {
            let day = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
            let start = day(i.started_at()?);
            Some((Arc::as_ptr(i), (start, i.resolved_at(now).map(day))))
        })
        .collect()
}

/// A component's day cells and, for the home page, its runs, with the incidents of
/// `mine` counted on the days they were open.
fn bars(
    history: &ComponentHistory,
    mine: &[&Incident],
    spans: &IncidentDays,
    words: &i18n::Strings,
) -> (Vec<DayView>, Vec<RunView>) {
    let counts = posts_per_day(mine, spans, &history.days);
    let date_format = words.time_format(i18n::DATE_FORMAT);
    let days: Vec<DayView> = history
        .days
        .iter()
        .zip(counts)
        .map(|(d, n)| day_view(d, n, words, &date_format))
        .collect();
    let open_between = |from: chrono::NaiveDate, to: chrono::NaiveDate| {
        mine.iter()
            .filter_map(|i| spans.get(&std::ptr::from_ref(*i)))
            .filter(|(start, end)| *start <= to && end.is_none_or(|e| e >= from))
            .count()
    };
    let runs = runs_of(&days, &open_between, words);
    (days, runs)
}

/// A component's day bars, uptime and response-time charts.
fn component_bars(
    inputs: &Inputs<'_>,
    history: Option<&ComponentHistory>,
    mine: &[&Incident],
    spans: &IncidentDays,
    ids: &[&str],
) -> Bars {
    let words = inputs.strings;
    let word = |w: &str| words.get(w);
    let (days, runs) = history.map_or_else(Default::default, |h| bars(h, mine, spans, words));
    Bars {
        days,
        runs,
        uptime: history
            .map(|h| {
                h.uptime
                    .iter()
                    .map(|(window, p)| UptimeView {
                        window: window.to_string(),
                        percent: p.map(percent),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        uptime_90d: history
            .and_then(|h| h.uptime.iter().find(|(w, _)| *w == "90d"))
            .and_then(|(_, p)| p.map(percent)),
        chart_hours: {
            let points = chart::hourly(inputs.states, ids, inputs.now);
            chart::chart(
                &points,
                &word("Response time, last 7 days (per hour)"),
                &word("7 days ago"),
                &word("now"),
            )
            .map(|c| with_summary(c, words))
        },
        chart_days: {
            let points = chart::daily(inputs.states, ids, inputs.now, 90);
            chart::chart(
                &points,
                &word("Response time, last 90 days (per day)"),
                &word("90 days ago"),
                &word("today"),
            )
            .map(|c| with_summary(c, words))
        },
    }
}

/// What a component's [`Bars`] are made from, as one hash: its history, the days its
/// posts were open, and its probes' response times in every region.
fn bars_key(
    inputs: &Inputs<'_>,
    history: Option<&ComponentHistory>,
    mine: &[&Incident],
    spans: &IncidentDays,
    ids: &[&str],
) -> u64 {
    let open: Vec<_> = mine
        .iter()
        .map(|i| spans.get(&std::ptr::from_ref(*i)))
        .collect();
    let times: Vec<_> = inputs
        .states
        .iter()
        .flat_map(|s| {
            ids.iter().map(|id| {
                s.probes
                    .get(*id)
                    .map(|p| (&p.history.hourly, &p.history.daily))
            })
        })
        .collect();
    crate::fingerprint::of(&(history, open, times))
}

/// Every shown component's view with its group id, in file order.
fn component_views(
    inputs: &Inputs<'_>,
    catalogue: &Catalogue,
    tv: &dyn Fn(DateTime<Utc>) -> TimeView,
    page_links: &dyn Fn(&[String]) -> Vec<LinkView>,
    links: &HashMap<&str, IncidentLink>,
    memo: &mut Memo,
) -> Vec<(Option<String>, Arc<ComponentView>)> {
    let config = inputs.config;
    let tz = config.site.page.time_zone;
    let words = inputs.strings;
    let word = |w: &str| words.get(w);
    let posts = posts_by_component(inputs.incidents);
    let probes = config.probes_by_component();
    let spans = incident_days(inputs.incidents, tz, inputs.now);
    let mut components = Vec::new();
    for (i, (c, v)) in config
        .site
        .components
        .iter()
        .zip(inputs.components)
        .enumerate()
    {
        let history = inputs
            .history
            .get(i)
            .filter(|h| h.id == c.id && h.monitored);
        // The catalogue is in config order, like the verdicts.
        let (status, shown) = catalogue
            .components
            .get(i)
            .map_or_else(|| (DisplayStatus::of(v), true), |e| (e.status, e.shown));
        if !shown {
            continue;
        }
        let mine = posts.get(c.id.as_str()).map_or(&[][..], Vec::as_slice);
        let ids: Vec<&str> = probes
            .get(c.id.as_str())
            .into_iter()
            .flatten()
            .filter_map(|p| config.probing.probes.get(*p))
            .map(|p| p.id.as_str())
            .collect();
        let bars = memo.bars(
            &c.id,
            || bars_key(inputs, history, mine, &spans, &ids),
            || component_bars(inputs, history, mine, &spans, &ids),
        );
        components.push((
            c.group.clone(),
            Arc::new(ComponentView {
                id: c.id.clone(),
                name: c.name.clone(),
                description: c.description.clone(),
                status,
                status_label: word(status.label()),
                monitored: v.monitored,
                down_regions: v.down_regions.clone(),
                unconfirmed: v.regions.iter().any(|r| r.unconfirmed.is_some()),
                all_regions_up: v
                    .regions
                    .iter()
                    .all(|r| r.health == RegionHealth::Up && r.unconfirmed.is_none()),
                reporting: reporting(v, words),
                since: v.since.map(tv),
                regions: v
                    .regions
                    .iter()
                    .map(|r| region_view(r, config, tv, words))
                    .collect(),
                uptime: bars.uptime,
                uptime_90d: bars.uptime_90d,
                runs: bars.runs,
                days: bars.days,
                path: format!("components/{}/", c.id),
                chart_hours: bars.chart_hours,
                chart_days: bars.chart_days,
                incidents: mine
                    .iter()
                    .filter_map(|i| links.get(i.slug.as_str()).cloned())
                    .collect(),
                affected_by: page_links(&v.affected_by),
                affects: page_links(&v.affects),
                inferred: v.inferred,
                budget: budget_line(inputs, i),
            }),
        ));
    }
    components
}

/// The `i`th component's error budget in the newest report (this month's), as a
/// sentence; `None` without an SLO or data.
fn budget_line(inputs: &Inputs<'_>, i: usize) -> Option<String> {
    let r = inputs.reports.last()?;
    let slo = r.components.get(i)?.figures.slo?;
    let words = inputs.strings;
    Some(words.fill(
        "Error budget this month: {used} used (SLO {target}).",
        &[
            ("used", &format!("{:.1} %", slo.budget_used_pct)),
            ("target", &format!("{} %", slo.target_pct)),
        ],
    ))
}

/// A report's figures in the page's words.
fn figures_view(f: &crate::report::Figures, words: &i18n::Strings) -> FiguresView {
    let d = |s: f64| duration_in(words, s);
    FiguresView {
        availability: f
            .availability_pct
            .map_or_else(|| words.get("no data"), |p| format!("{p:.4} %")),
        downtime: d(f.downtime_s),
        outages: f.outages,
        longest: f.longest_outage_s.map(d),
        mttr: f.mttr_s.map(d),
        mtbf: f.mtbf_s.map(d),
        maintenance: d(f.maintenance_s),
        no_data: d(f.no_data_s),
        slo: f.slo.map(|v| SloView {
            target: format!("{} %", v.target_pct),
            met: v.met,
            verdict: words.get(if v.met { "Met" } else { "Missed" }),
            used: format!("{:.1} %", v.budget_used_pct),
            left: words.fill(
                if v.budget_left_s >= 0.0 {
                    "{duration} left"
                } else {
                    "{duration} over"
                },
                &[("duration", &d(v.budget_left_s.abs()))],
            ),
        }),
    }
}

/// Every month's report page, newest first; shown components only.
fn report_views(
    inputs: &Inputs<'_>,
    catalogue: &Catalogue,
    links: &HashMap<&str, IncidentLink>,
) -> Vec<ReportView> {
    let words = inputs.strings;
    let tz = inputs.config.site.page.time_zone;
    inputs
        .reports
        .iter()
        .rev()
        .map(|r| {
            let id = r.period.label.clone();
            ReportView {
                label: r
                    .period
                    .from
                    .with_timezone(&tz)
                    .format(&words.get("%B %Y"))
                    .to_string(),
                path: format!("reports/{id}/"),
                json: format!("api/reports/{id}.json"),
                so_far: r.period.so_far,
                partly_covered: !r.covered,
                page: figures_view(&r.page, words),
                components: r
                    .components
                    .iter()
                    .zip(&catalogue.components)
                    .filter(|(_, e)| e.shown)
                    .map(|(c, _)| ComponentFiguresView {
                        link: LinkView {
                            title: c.name.clone(),
                            url: format!("components/{}/", c.id),
                        },
                        figures: figures_view(&c.figures, words),
                    })
                    .collect(),
                incidents: r
                    .incidents
                    .iter()
                    .filter_map(|p| links.get(p.slug.as_str()).cloned())
                    .collect(),
                id,
            }
        })
        .collect()
}

/// The shown components by group, in order of first appearance; a group's status is
/// the catalogue's, decided once for the page and the API alike.
fn group_views(
    config: &Config,
    catalogue: &Catalogue,
    components: &[(Option<String>, Arc<ComponentView>)],
) -> Vec<GroupView> {
    let mut groups: Vec<GroupView> = Vec::new();
    for (group, view) in components {
        let existing = groups.iter_mut().find(|g| &g.id == group);
        match existing {
            Some(g) => g.components.push(view.clone()),
            None => {
                let def = group
                    .as_ref()
                    .and_then(|id| config.site.groups.iter().find(|g| &g.id == id));
                groups.push(GroupView {
                    id: group.clone(),
                    name: def.map(|g| g.name.clone()),
                    description: def.and_then(|g| g.description.clone()),
                    status: DisplayStatus::Operational,
                    components: vec![view.clone()],
                });
            }
        }
    }
    for g in &mut groups {
        // A group's status is decided once, for the page and the API alike.
        g.status = match &g.id {
            Some(id) => catalogue
                .groups
                .iter()
                .find(|e| &e.id == id)
                .map_or(DisplayStatus::Operational, |e| e.status),
            None => DisplayStatus::worst(g.components.iter().map(|c| c.status)),
        };
    }
    groups
}

/// Outages the probes saw that no post covers, going on or ended within
/// [`DETECTED_SHOWN_FOR`], newest first.
fn detected_views(
    inputs: &Inputs<'_>,
    names: &HashMap<&str, &str>,
    tv: &dyn Fn(DateTime<Utc>) -> TimeView,
    page_links: &dyn Fn(&[String]) -> Vec<LinkView>,
) -> Vec<DetectedView> {
    let words = inputs.strings;
    let word = |w: &str| words.get(w);
    inputs
        .detected
        .iter()
        .rev()
        .filter(|d| {
            d.outage
                .end
                .is_none_or(|e| inputs.now - e <= DETECTED_SHOWN_FOR)
        })
        .map(|d| DetectedView {
            id: format!("detected-{}-{}", d.component, d.outage.start.timestamp()),
            component: LinkView {
                title: names
                    .get(d.component.as_str())
                    .map_or_else(|| d.component.clone(), |n| (*n).to_string()),
                url: format!("#component-{}", d.component),
            },
            status: d.outage.worst.into(),
            status_label: word(DisplayStatus::from(d.outage.worst).label()),
            start: tv(d.outage.start),
            end: d.outage.end.map(tv),
            duration: duration_in(
                words,
                (d.outage.end.unwrap_or(inputs.now) - d.outage.start).as_seconds_f64(),
            ),
            regions: d.outage.regions.clone(),
            affects: page_links(&d.affects),
        })
        .collect()
}

/// A short reference to a post: its first update's time, or its window's start.
fn incident_link(
    i: &Incident,
    now: DateTime<Utc>,
    tv: &dyn Fn(DateTime<Utc>) -> TimeView,
    words: &i18n::Strings,
) -> IncidentLink {
    IncidentLink {
        title: i.title.clone(),
        path: format!("incidents/{}/", i.slug),
        kind: i.kind,
        status: i.status_at(now),
        status_label: words.get(&update_label(i.status_at(now).as_str())),
        started_at: i.started_at().or(i.scheduled_for).map(tv),
    }
}

/// Posts per archive page.
pub const HISTORY_PAGE_SIZE: usize = 50;

/// The archive: every post newest first, by month, [`HISTORY_PAGE_SIZE`] a page.
fn history_pages(inputs: &Inputs<'_>, tv: &dyn Fn(DateTime<Utc>) -> TimeView) -> Vec<HistoryPage> {
    let tz = inputs.config.site.page.time_zone;
    let mut posts: Vec<&Incident> = inputs.incidents.iter().map(|i| &**i).collect();
    let when = |i: &Incident| i.started_at().or(i.scheduled_for);
    posts.sort_by(|a, b| when(b).cmp(&when(a)).then(a.slug.cmp(&b.slug)));
    let chunks: Vec<&[&Incident]> = posts.chunks(HISTORY_PAGE_SIZE).collect();
    let of = chunks.len().max(1);
    let path = |n: usize| {
        if n == 1 {
            "history/".to_string()
        } else {
            format!("history/{n}/")
        }
    };
    let mut pages = Vec::new();
    for n in 1..=of {
        let mut months: Vec<MonthView> = Vec::new();
        for i in chunks.get(n - 1).copied().unwrap_or_default() {
            let local = when(i).map(|t| t.with_timezone(&tz));
            let (id, label) = match local {
                Some(t) => (
                    t.format("%Y-%m").to_string(),
                    t.format(&inputs.strings.get("%B %Y")).to_string(),
                ),
                None => ("undated".to_string(), "Undated".to_string()),
            };
            if months.last().is_none_or(|m| m.id != id) {
                months.push(MonthView {
                    label,
                    id,
                    items: Vec::new(),
                });
            }
            if let Some(m) = months.last_mut() {
                m.items
                    .push(incident_link(i, inputs.now, tv, inputs.strings));
            }
        }
        pages.push(HistoryPage {
            number: n,
            of,
            path: path(n),
            root: if n == 1 { "../" } else { "../../" }.to_string(),
            newer: (n > 1).then(|| path(n - 1)),
            older: (n < of).then(|| path(n + 1)),
            months,
        });
    }
    pages
}

/// Every component and group as decided, hidden ones too.
fn catalogue(inputs: &Inputs<'_>) -> Catalogue {
    let config = inputs.config;
    let uptime_90d = |h: &ComponentHistory| {
        h.uptime
            .iter()
            .find(|(w, _)| *w == "90d")
            .and_then(|(_, p)| *p)
    };
    let components: Vec<Entry> = config
        .site
        .components
        .iter()
        .enumerate()
        .map(|(i, c)| {
            // Verdicts and histories come in config order, like the components.
            let verdict = inputs.components.get(i).filter(|v| v.id == c.id);
            let history = inputs
                .history
                .get(i)
                .filter(|h| h.id == c.id && h.monitored);
            let status = verdict.map_or(DisplayStatus::Operational, DisplayStatus::of);
            Entry {
                id: c.id.clone(),
                name: c.name.clone(),
                description: c.description.clone(),
                group: c.group.clone(),
                hidden_until_degraded: c.hidden_until_degraded,
                shown: !c.hidden_until_degraded
                    || !matches!(status, DisplayStatus::Operational | DisplayStatus::NoData),
                status,
                since: verdict.and_then(|v| v.since),
                monitored: history.is_some(),
                uptime_90d: history.and_then(uptime_90d),
            }
        })
        .collect();
    // One pass: each group in order of its first component, with its members and the
    // worst status of the shown ones (hidden members are operational: they never make a
    // group look worse).
    let mut groups: Vec<GroupEntry> = Vec::new();
    let mut at: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for c in &components {
        let Some(id) = &c.group else { continue };
        let n = *at.entry(id.as_str()).or_insert_with(|| {
            let def = config.site.groups.iter().find(|g| &g.id == id);
            groups.push(GroupEntry {
                id: id.clone(),
                name: def.map_or_else(|| id.clone(), |d| d.name.clone()),
                description: def.and_then(|d| d.description.clone()),
                status: DisplayStatus::Operational,
                members: Vec::new(),
            });
            groups.len() - 1
        });
        let g = &mut groups[n];
        g.members.push(c.id.clone());
        if c.shown {
            g.status = g.status.max(c.status);
        }
    }
    Catalogue { components, groups }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_on_the_page_keep_their_seconds_under_an_hour() {
        let en = i18n::Strings::english();
        assert_eq!(duration_in(&en, 45.0), "45 s");
        assert_eq!(duration_in(&en, 93.0), "1 min 33 s");
        assert_eq!(duration_in(&en, 120.0), "2 min");
        assert_eq!(duration_in(&en, 3900.0), "1 h 5 min");
        let ja = i18n::Strings::load("ja", None).unwrap();
        assert_eq!(duration_in(&ja, 93.0), "1 分 33 秒");
    }
}
