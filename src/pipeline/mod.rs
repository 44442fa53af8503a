//! The build pipeline as one library type: [`Snapshot::load`] reads config, incidents and
//! every region's state; [`Snapshot::decide`] and [`Snapshot::history`] turn them into what
//! is true at the [`Clock`]'s `now`; [`build`] renders that into `site/`. Commands call
//! this; none of them calls another.

pub mod lease;
pub mod watch;

use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::config::{self, Config};
use crate::incident::{self, Incident};
use crate::project::Project;
use crate::state::RegionState;
use crate::status::{self, ComponentVerdict, Indicator, Override, ProbePolicy, localise, timeline};
use crate::{render, site};

/// The time a build is for, and the wall clock it runs on. Everything a build decides
/// reads [`Clock::now`]; only reports about the run itself (how long it took) read the
/// wall clock, so a pinned `now` gives the same site any day.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// The time the build is for: `--now` / `PHAROS_NOW`, or the wall clock's time when
    /// the build started.
    pub now: DateTime<Utc>,
    /// Whether `now` was pinned rather than read from the wall clock.
    pub pinned: bool,
}

impl Clock {
    /// A build for `pinned` when given, else for the wall clock's time now.
    pub fn at(pinned: Option<DateTime<Utc>>) -> Clock {
        Clock {
            now: pinned.unwrap_or_else(Utc::now),
            pinned: pinned.is_some(),
        }
    }

    /// The same clock for a later build: a pinned time stays, a wall clock is read again.
    pub fn again(self) -> Clock {
        if self.pinned { self } else { Clock::at(None) }
    }
}

/// Everything a build reads: the validated config, the incident posts (newest first) and
/// every region's state, with the dependency model fault attribution uses.
#[derive(Debug)]
pub struct Snapshot {
    /// The validated config.
    pub config: Config,
    /// Incident and maintenance posts, newest first.
    pub incidents: Vec<Arc<Incident>>,
    /// Every region's state that could be read.
    pub states: Vec<RegionState>,
    /// Which probe exercises which component, for finding the fault behind failures.
    dependencies: localise::Model,
}

/// What is true now: every component's status, the page indicator, and the faults the
/// failing probes point to.
#[derive(Debug)]
pub struct Decision {
    /// Component verdicts, in config order, with causes marked.
    pub components: Vec<ComponentVerdict>,
    /// The page indicator.
    pub indicator: Indicator,
    /// The page's headline (see [`status::headline`]).
    pub headline: &'static str,
    /// The faults behind failing probes (see `status::localise`).
    pub faults: Vec<localise::Cause>,
}

/// What happened: every component's history and the outages the probes saw that no post
/// covers.
#[derive(Debug)]
pub struct History {
    /// Per-component history, in config order.
    pub components: Vec<timeline::ComponentHistory>,
    /// Detected outages, oldest first.
    pub detected: Vec<timeline::Detected>,
}

impl Snapshot {
    /// A snapshot of data already read.
    pub fn new(
        config: Config,
        incidents: Vec<Arc<Incident>>,
        states: Vec<RegionState>,
    ) -> Snapshot {
        let dependencies = localise::Model::from_config(&config);
        Snapshot {
            config,
            incidents,
            states,
            dependencies,
        }
    }

    /// Read the project's config, posts and every region's state. A region whose state
    /// cannot be read is left out with a warning (its region then shows no data).
    pub fn load(project: &Project) -> Result<Snapshot> {
        Snapshot::load_cached(project, &mut Cache::default())
    }

    /// [`Snapshot::load`], reusing the posts and region files `cache` read before that
    /// did not change.
    pub fn load_cached(project: &Project, cache: &mut Cache) -> Result<Snapshot> {
        let started = std::time::Instant::now();
        let config = config::load_cached(
            &project.components_file(),
            &project.probes_file(),
            &mut cache.config,
        )?;
        let ids = config.site.component_ids();
        let configured = started.elapsed();
        let incidents = incident::load_dir_cached(
            &project.incidents_dir(),
            "incidents",
            Some(&ids),
            &mut cache.posts,
        )?;
        let posts = started.elapsed();
        let (states, skipped) = project
            .store()?
            .read_all_blocking_cached(&mut cache.states)
            .context("reading region state")?;
        tracing::debug!(
            "load: config in {configured:.1?}, posts by {posts:.1?}, state by {:.1?}",
            started.elapsed()
        );
        for problem in &skipped {
            tracing::warn!("left out, its region shows no data: {problem}");
        }
        Ok(Snapshot::new(config, incidents, states))
    }

    /// The status of every component at `now`.
    pub fn decide(&self, now: DateTime<Utc>) -> Decision {
        let config = &self.config;
        let verdicts: Vec<_> = config
            .probing
            .probes
            .iter()
            .map(|p| status::merge_probe(&ProbePolicy::from(p), &self.states, now))
            .collect();
        let mut components = status::components(config, &verdicts, &self.overrides(now));
        let faults = localise::attribute(
            &self.dependencies,
            &verdicts,
            &mut components,
            config.site.page.cause_tolerance,
        );
        let indicator = self.indicator(&components, &faults);
        Decision {
            headline: status::headline(indicator, &components),
            components,
            indicator,
            faults,
        }
    }

    /// What open incidents and running maintenance say of their components.
    fn overrides(&self, now: DateTime<Utc>) -> Vec<Override> {
        let mut overrides = Vec::new();
        for i in &self.incidents {
            let open = i.is_open_incident();
            let maintenance = i.is_active_maintenance(now);
            if !open && !maintenance {
                continue;
            }
            for c in &i.components {
                overrides.push(Override {
                    component: c.clone(),
                    status: if open { i.impact.status() } else { None },
                    maintenance,
                });
            }
        }
        overrides
    }

    /// The page indicator. A fault counts once: components failing only through it add
    /// nothing of their own, and a fault in a component under maintenance is the
    /// maintenance.
    fn indicator(&self, components: &[ComponentVerdict], faults: &[localise::Cause]) -> Indicator {
        let under_maintenance =
            |id: &String| components.iter().any(|v| &v.id == id && v.maintenance);
        status::indicator(
            components
                .iter()
                .filter(|c| !c.maintenance && c.affected_by.is_empty())
                .map(|c| c.status)
                .chain(
                    faults
                        .iter()
                        .filter(|f| !f.causes.iter().all(under_maintenance))
                        .map(|f| f.status),
                ),
            self.incidents
                .iter()
                .filter(|i| i.is_open_incident())
                .map(|i| i.impact),
            components.iter().any(|c| c.maintenance),
        )
    }

    /// The history of every component and the outages the probes saw that no post covers.
    pub fn history(&self, now: DateTime<Utc>) -> History {
        let config = &self.config;
        let probe_lines = timeline::probe_timelines(config, &self.states, now);
        let components =
            timeline::histories_of(config, &probe_lines, now, config.site.page.time_zone);
        let covers = self.covers(now);
        let after = config.site.page.detect_outages_after;
        let detected = localise::fold_detected(
            &self.dependencies,
            &probe_lines,
            timeline::detected(&components, &covers, after, now),
            &covers,
            &config.site.page,
            now,
        );
        History {
            components,
            detected,
        }
    }

    /// The spans posts cover: an incident from its first update to its resolution, a
    /// maintenance window as scheduled.
    fn covers(&self, now: DateTime<Utc>) -> Vec<timeline::Cover> {
        self.incidents
            .iter()
            .flat_map(|i| {
                let span = match i.kind {
                    incident::Kind::Incident => i.started_at().map(|s| (s, i.resolved_at(now))),
                    incident::Kind::Maintenance => i.scheduled_for.map(|s| (s, i.scheduled_until)),
                };
                i.components.iter().filter_map(move |c| {
                    span.map(|(from, until)| timeline::Cover {
                        component: c.clone(),
                        from,
                        until,
                    })
                })
            })
            .collect()
    }

    /// Warn of every region whose clock is off: its results are left out until fixed.
    pub fn warn_of_clock_skew(&self, now: DateTime<Utc>) {
        for s in &self.states {
            if let Some(skew) = status::merge::clock_skew(s, now) {
                tracing::warn!(
                    "region {}: its clock is {} (file written at {}); its results are left out until its time is fixed",
                    s.region,
                    status::merge::skew_words(skew),
                    s.written_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
            }
        }
    }
}

/// What a build produced.
#[derive(Debug)]
pub struct Report {
    /// Files in the site.
    pub files: usize,
    /// Files written to disk: all of them for a new tree, only the ones that changed
    /// when a rebuild loop reuses its spare tree.
    pub written: usize,
    /// What the build decided.
    pub decision: Decision,
}

/// What a rebuild loop keeps of the inputs it read: the posts parsed and the region
/// files read, each with its file's stamp.
#[derive(Debug, Default)]
pub struct Cache {
    config: config::LoadCache,
    posts: incident::ParseCache,
    states: crate::state::store::ReadCache,
}

/// What a rebuild loop keeps between builds: the spare site tree, the inputs read, the
/// views of the model and what each page in place was made from.
#[derive(Debug)]
pub struct Rebuild {
    trees: render::output::Trees,
    inputs: Cache,
    views: site::Memo,
    feeds: render::feeds::Kept,
    pages: Option<render::PageKeys>,
}

impl Default for Rebuild {
    fn default() -> Self {
        Rebuild {
            trees: render::output::Trees::default(),
            inputs: Cache::default(),
            views: site::Memo::keeping(),
            feeds: render::feeds::Kept::keeping(),
            pages: None,
        }
    }
}

/// How a build runs besides its clock.
#[derive(Default)]
pub struct Options<'a> {
    /// For a rebuild loop: posts whose text did not change are not parsed again, and the
    /// previous site is kept as a spare tree in which the next build rewrites only what
    /// changed (see `render::output`).
    pub keep: Option<&'a mut Rebuild>,
    /// Told (pages done, pages in all) as pages are rendered.
    pub progress: Option<&'a dyn Fn(u64, u64)>,
}

/// Build the site of `project` as of the clock's `now`: load, decide, render, and swap
/// the files into `site/` all at once (a failed build leaves the previous site as it was).
pub fn build(project: &Project, clock: Clock, options: Options<'_>) -> Result<Report> {
    let (mut fresh, mut once, mut items) = (
        Cache::default(),
        site::Memo::default(),
        render::feeds::Kept::default(),
    );
    let (trees, cache, memo, feeds, mut pages) = match options.keep {
        Some(k) => (
            Some(&mut k.trees),
            &mut k.inputs,
            &mut k.views,
            &mut k.feeds,
            Some(&mut k.pages),
        ),
        None => (None, &mut fresh, &mut once, &mut items, None),
    };
    let started = std::time::Instant::now();
    let snapshot = Snapshot::load_cached(project, cache)?;
    let loaded = started.elapsed();
    let dated = incident::future_updates(&snapshot.incidents, clock.now);
    if !dated.is_empty() {
        return Err(config::Problems(dated).into());
    }
    snapshot.warn_of_clock_skew(clock.now);
    let progress = options.progress.unwrap_or(&|_, _| {});
    let mut output = render::output::Output::start(&project.site_dir(), trees)?;
    // In a rebuild loop, the keys of the pages in place (taken: they are put back only
    // once this build is in place, so a failed build does not leave them wrong).
    let before = pages.as_mut().map(|p| p.take().unwrap_or_default());
    let (decision, keys) = render(
        project,
        &snapshot,
        clock.now,
        progress,
        &mut output,
        Kept {
            views: memo,
            feeds,
            pages: before.as_ref(),
        },
    )?;
    let rendered = started.elapsed();
    let written = output.finish()?;
    if let Some(slot) = pages {
        *slot = keys;
    }
    tracing::debug!(
        "build: loaded in {loaded:.1?}, rendered and written by {rendered:.1?}, in place by {:.1?}",
        started.elapsed()
    );
    Ok(Report {
        files: written.files,
        written: written.written,
        decision,
    })
}

/// What a build may take from the last one: in a rebuild loop, the views and feed items it
/// kept and the keys of the site in place; in a single build, memos that keep nothing
/// and no keys.
struct Kept<'a> {
    views: &'a mut site::Memo,
    feeds: &'a mut render::feeds::Kept,
    pages: Option<&'a render::PageKeys>,
}

/// Every file of the site at `now`, into `out` as it is made, and what was decided.
fn render(
    project: &Project,
    snapshot: &Snapshot,
    now: DateTime<Utc>,
    progress: &dyn Fn(u64, u64),
    out: &mut dyn render::Sink,
    kept: Kept<'_>,
) -> Result<(Decision, Option<render::PageKeys>)> {
    let started = std::time::Instant::now();
    let decision = snapshot.decide(now);
    let history = snapshot.history(now);
    let reports = crate::report::Inputs::new(
        &snapshot.config,
        &history.components,
        &snapshot.incidents,
        now,
    )
    .months();
    let decided = started.elapsed();
    let config = &snapshot.config;
    let theme = config.site.page.theme.as_deref();
    let strings = site::i18n::Strings::load(
        &config.site.page.language,
        theme.map(|t| project.themes_dir().join(t)).as_deref(),
    )?;
    let model = site::assemble(
        &site::Inputs {
            config,
            components: &decision.components,
            indicator: decision.indicator,
            headline: decision.headline,
            faults: &decision.faults,
            incidents: &snapshot.incidents,
            now,
            history: &history.components,
            detected: &history.detected,
            states: &snapshot.states,
            strings: &strings,
            reports: &reports,
        },
        kept.views,
    );
    let assembled = started.elapsed();
    let theme = render::templates::load(&project.themes_dir(), theme)?;
    let mut keyed = render::Keyed::new(kept.pages);
    // The API and the badges are made on a second core while the pages render.
    let (rendered, made) = std::thread::scope(|s| {
        let made = s.spawn(|| {
            let mut files = render::api::files(&model, &snapshot.incidents);
            files.extend(render::api::reports(&reports));
            files.extend(render::badges::files(&model));
            files
        });
        let rendered = render::render(&theme, &model, progress, out, &mut keyed);
        (rendered, made.join())
    });
    rendered?;
    let pages = started.elapsed();
    let made = made.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    for (path, bytes) in made {
        out.put(&path, &bytes)?;
    }
    render::feeds::files(
        config,
        &snapshot.incidents,
        &history.detected,
        now,
        out,
        (&mut keyed, kept.feeds),
    )?;
    tracing::debug!(
        "render: decided in {decided:.1?}, assembled by {assembled:.1?}, pages by {pages:.1?}, \
         feeds, API and badges by {:.1?}",
        started.elapsed()
    );
    let keys = keyed.finish();
    Ok((decision, keys))
}

/// Send every feed item due as of `now` to the announcement targets, exactly once each
/// (see `announce`); one outcome per target.
pub fn announce(
    project: &Project,
    snapshot: &Snapshot,
    now: DateTime<Utc>,
) -> Result<Vec<crate::announce::Outcome>> {
    let (items, info) = announce_items(snapshot, now);
    crate::announce::send_due(project, &snapshot.config, &items, &info, now)
}

/// Every feed item as of `now` (posts and detected outages), and the page's address.
pub fn announce_items(
    snapshot: &Snapshot,
    now: DateTime<Utc>,
) -> (Vec<render::feeds::Item>, crate::announce::send::PageInfo) {
    let detected = snapshot.history(now).detected;
    crate::announce::items_and_page(&snapshot.config, &snapshot.incidents, &detected, now)
}

/// What `build`, `probe` and `announce` would refuse later in a project whose files
/// parse: updates dated in the future, a theme or language that cannot be loaded, a
/// template that fails to render, a CA file that cannot be read, an announcement target
/// that cannot be prepared. `check` reports these, so its "ok" means they accept it.
pub fn preflight(
    project: &Project,
    snapshot: &Snapshot,
    now: DateTime<Utc>,
) -> Vec<config::Problem> {
    let components = config::COMPONENTS_FILE;
    let mut problems = incident::future_updates(&snapshot.incidents, now);
    if let Err(e) = render(
        project,
        snapshot,
        now,
        &|_, _| {},
        &mut render::Discard,
        Kept {
            views: &mut site::Memo::default(),
            feeds: &mut render::feeds::Kept::default(),
            pages: None,
        },
    ) {
        problems.push(config::Problem::new(
            components,
            None,
            "page",
            format!("{e:#}"),
        ));
    }
    for p in &snapshot.config.probing.probes {
        let Some(file) = p.kind.tls().and_then(|t| t.ca_file.as_ref()) else {
            continue;
        };
        if let Err(e) = crate::probe::transport::tls::load_roots(&project.root.join(file)) {
            problems.push(config::Problem::new(
                config::PROBES_FILE,
                None,
                format!("probe \"{}\": tls_ca_file", p.id),
                format!("{e:#}"),
            ));
        }
    }
    for p in &snapshot.config.probing.probes {
        if let crate::config::ProbeKind::Push(spec) = &p.kind
            && let Some(Ok(token)) = spec.token.as_ref().map(|t| t.resolve_env())
            && let Some(why) = crate::config::weak_token(&token)
        {
            problems.push(config::Problem::new(
                config::PROBES_FILE,
                None,
                format!("probe \"{}\": token", p.id),
                why,
            ));
        }
    }
    for t in &snapshot.config.site.announce {
        if let Err(e) = crate::announce::send::prepare(t, &project.root) {
            problems.push(config::Problem::new(
                components,
                None,
                format!("announce \"{}\"", t.id),
                format!("{e:#}"),
            ));
        }
    }
    for t in &snapshot.config.probing.alerts.targets {
        // A secret not set here is a warning of `check` (CI checks without secrets).
        if !t.unset_vars().is_empty() {
            continue;
        }
        let site = &snapshot.config.site.announce;
        if let Err(e) = crate::alert::send::ready(t, site, &project.root) {
            problems.push(config::Problem::new(
                config::PROBES_FILE,
                None,
                format!("alerts target \"{}\"", t.id),
                format!("{e:#}"),
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::site::DisplayStatus;
    use crate::state::{Health, Sample};
    use crate::status::Status;

    const COMPONENTS: &str = concat!(
        "page:\n  title: T\n  base_url: https://status.example.com\n",
        "components:\n  - id: api\n    name: API\n  - id: web\n    name: Web\n",
        "  - id: db\n    name: DB\n",
    );
    const PROBES: &str = concat!(
        "regions:\n  - name: a\n  - name: b\n  - name: c\n",
        "defaults:\n  interval: 30s\n  confirm: 2\n  recover: 2\n",
        "probes:\n  - id: api\n    kind: tcp\n    host: 127.0.0.1\n    port: 1\n    components: [api]\n",
        "  - id: web\n    kind: tcp\n    host: 127.0.0.1\n    port: 2\n    components: [web]\n",
    );

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap() + Duration::minutes(minute)
    }

    fn config() -> Config {
        let e = config::examine_texts(COMPONENTS, PROBES);
        assert!(e.problems.is_empty(), "{:?}", e.problems);
        Config {
            site: e.site.unwrap(),
            probing: e.probing.unwrap(),
        }
    }

    /// A region's state from minute 0 to `until`, a sample every 30 s; `api` down from
    /// `down.0` to `down.1` (minutes) when given, everything else up.
    fn region(config: &Config, name: &str, down: Option<(i64, i64)>, until: i64) -> RegionState {
        let mut state = RegionState::new(name, at(until));
        for half_minute in 0..=until * 2 {
            let t = at(0) + Duration::seconds(half_minute * 30);
            for p in &config.probing.probes {
                let failing =
                    p.id == "api" && down.is_some_and(|(from, to)| t >= at(from) && t < at(to));
                let health = if failing { Health::Down } else { Health::Up };
                let sample = Sample::new(t, health, "seen".into());
                state.record(
                    &p.id,
                    p.kind.word().as_str(),
                    &p.kind.target(),
                    &crate::state::history::Policy::from(p),
                    sample,
                );
            }
        }
        state
    }

    /// [`region`] for each of the three regions alike.
    fn everywhere(config: &Config, down: Option<(i64, i64)>, until: i64) -> Vec<RegionState> {
        ["a", "b", "c"]
            .iter()
            .map(|r| region(config, r, down, until))
            .collect()
    }

    fn post(text: &str, stem: &str) -> Incident {
        incident::parse(text, "post.md", stem, None).unwrap()
    }

    #[test]
    fn a_quorum_decides_and_posts_override() {
        let config = config();
        // api fails in two regions of three from minute 50 on: confirmed, a quorum.
        let states = vec![
            region(&config, "a", Some((50, 99)), 60),
            region(&config, "b", Some((50, 99)), 60),
            region(&config, "c", None, 60),
        ];
        let open = post(
            "---\ntitle: Web slow\nimpact: minor\ncomponents: [web]\n---\n## 2026-11-20T12:55:00Z investigating\nSlow.\n",
            "2026-11-20-web",
        );
        let window = post(
            "---\ntitle: DB upgrade\nkind: maintenance\ncomponents: [db]\nscheduled_for: 2026-11-20T12:30:00Z\nscheduled_until: 2026-11-20T13:30:00Z\n---\n## 2026-11-19T10:00:00Z scheduled\nUpgrade.\n",
            "2026-11-19-db",
        );
        let snapshot = Snapshot::new(config, vec![open.into(), window.into()], states);
        let d = snapshot.decide(at(60));
        let by_id = |id: &str| d.components.iter().find(|c| c.id == id).unwrap();
        assert_eq!(
            by_id("api").status,
            Status::MajorOutage,
            "{:?}",
            by_id("api")
        );
        assert_eq!(
            by_id("web").status,
            Status::DegradedPerformance,
            "the open post"
        );
        assert_eq!(
            DisplayStatus::of(by_id("db")),
            DisplayStatus::UnderMaintenance
        );
        assert_eq!(d.indicator, Indicator::Critical);

        // A lone region's failure is a regional (partial) outage, not a major one.
        let config = crate::pipeline::tests::config();
        let lone = vec![
            region(&config, "a", Some((50, 99)), 60),
            region(&config, "b", None, 60),
            region(&config, "c", None, 60),
        ];
        let snapshot = Snapshot::new(config, Vec::new(), lone);
        let d = snapshot.decide(at(60));
        assert_eq!(d.components[0].status, Status::PartialOutage);
        assert_eq!(d.components[0].down_regions, ["a"]);
        assert_eq!(d.indicator, Indicator::Major);
    }

    #[test]
    fn history_detects_outages_no_post_covers() {
        let config = config();
        // api was down in every region from minute 10 to 40.
        let states = everywhere(&config, Some((10, 40)), 90);
        let snapshot = Snapshot::new(config, Vec::new(), states);
        let h = snapshot.history(at(90));
        assert_eq!(h.components.len(), 3, "one history per component");
        let [d] = &h.detected[..] else {
            panic!("one detected outage: {:?}", h.detected);
        };
        assert_eq!(d.component, "api");
        assert!(d.outage.start >= at(9) && d.outage.start <= at(11), "{d:?}");
        assert!(
            d.outage.end.is_some_and(|e| e >= at(39) && e <= at(42)),
            "{d:?}"
        );

        // A post about it covers it: nothing detected is left.
        let config = crate::pipeline::tests::config();
        let states = everywhere(&config, Some((10, 40)), 90);
        let covered = post(
            "---\ntitle: API down\nimpact: major\ncomponents: [api]\n---\n## 2026-11-20T12:45:00Z resolved\nBack.\n\n## 2026-11-20T12:12:00Z investigating\nDown.\n",
            "2026-11-20-api",
        );
        let snapshot = Snapshot::new(config, vec![covered.into()], states);
        assert!(snapshot.history(at(90)).detected.is_empty());
    }

    #[test]
    fn a_silent_region_turns_no_data_at_the_documented_bound_live_and_in_history() {
        let config = config();
        let probe = &config.probing.probes[0];
        let bound = ProbePolicy::from(probe).stale_after();
        // 3 intervals + the longest failing check, as the README says.
        assert_eq!(
            bound.to_std().unwrap(),
            probe.interval * 3 + probe.worst_check()
        );
        // Region a's worker stops after minute 60; b and c keep going.
        let states = vec![
            region(&config, "a", None, 60),
            region(&config, "b", None, 120),
            region(&config, "c", None, 120),
        ];
        let snapshot = Snapshot::new(config, Vec::new(), states);
        let last = at(60);
        let health_of_a = |now: DateTime<Utc>| snapshot.decide(now).components[0].regions[0].health;
        assert_eq!(health_of_a(last + bound), status::RegionHealth::Up);
        assert_eq!(
            health_of_a(last + bound + Duration::seconds(1)),
            status::RegionHealth::NoData
        );
        // The history agrees: a's line ends where the live view calls it stale.
        let lines = timeline::lines(
            &ProbePolicy::from(&snapshot.config.probing.probes[0]),
            &snapshot.states,
            at(120),
        );
        let a = lines.iter().find(|l| l.region == "a").unwrap();
        assert_eq!(a.until, last + bound);
    }

    #[test]
    fn a_stop_of_n_seconds_shows_n_seconds_of_downtime() {
        let config = config();
        // api stops at minute 10 and starts again at minute 40, seen by every region's
        // samples (every 30 s): 1,800 s down, back-dated to the first failing sample.
        let states = everywhere(&config, Some((10, 40)), 90);
        let snapshot = Snapshot::new(config, Vec::new(), states);
        let h = snapshot.history(at(90));
        let day = h.components[0].days.last().unwrap();
        assert_eq!(day.tally.major_s, 1800.0, "{:?}", day.tally);
        assert_eq!(day.tally.partial_s, 0.0);
    }
}
