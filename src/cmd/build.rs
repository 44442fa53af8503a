//! `pharos build`: config + every region's state + incidents → merge → site model →
//! templates → files swapped into site/. Never probes.

use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::Args as ClapArgs;

use crate::config::{self, Config};
use crate::incident::{self, Incident};
use crate::project::Project;
use crate::status::{self, ComponentVerdict, Indicator, Override, ProbePolicy, localise, timeline};
use crate::{render, site};

/// Options of `build`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Build as of this time (RFC 3339) instead of the clock, for reproducible output.
    #[arg(long, env = "PHAROS_NOW", value_name = "TIME")]
    pub now: Option<DateTime<Utc>>,
}

/// What a build produced.
#[derive(Debug)]
pub struct Report {
    /// Files written.
    pub files: usize,
    /// Component verdicts, in config order.
    pub components: Vec<ComponentVerdict>,
    /// The page indicator.
    pub indicator: Indicator,
    /// The faults behind failing probes.
    pub faults: Vec<localise::Cause>,
}

/// What is true now: every component's status, the page indicator, and the faults the
/// failing probes point to.
#[derive(Debug)]
pub struct Decision {
    /// Component verdicts, in config order, with causes marked.
    pub components: Vec<ComponentVerdict>,
    /// The page indicator.
    pub indicator: Indicator,
    /// The faults behind failing probes (see `status::localise`).
    pub faults: Vec<localise::Cause>,
}

/// The status of every component at `now`, from config, state and incidents.
pub fn decide(
    config: &Config,
    states: &[crate::state::RegionState],
    incidents: &[Incident],
    now: DateTime<Utc>,
) -> Decision {
    let verdicts: Vec<_> = config
        .probing
        .probes
        .iter()
        .map(|p| status::merge_probe(&ProbePolicy::from(p), states, now))
        .collect();
    let mut overrides = Vec::new();
    for i in incidents {
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
    let mut components = status::components(config, &verdicts, &overrides);
    let faults = localise::attribute(
        &localise::Model::from_config(config),
        &verdicts,
        &mut components,
        config.site.page.cause_tolerance,
    );
    // A fault counts once: components failing only through it add nothing of their own.
    let indicator = status::indicator(
        components
            .iter()
            .filter(|c| !c.maintenance && c.affected_by.is_empty())
            .map(|c| c.status)
            .chain(
                // A fault in a component under maintenance is the maintenance.
                faults
                    .iter()
                    .filter(|f| {
                        !f.causes
                            .iter()
                            .all(|c| components.iter().any(|v| &v.id == c && v.maintenance))
                    })
                    .map(|f| f.status),
            ),
        incidents
            .iter()
            .filter(|i| i.is_open_incident())
            .map(|i| i.impact),
        components.iter().any(|c| c.maintenance),
    );
    Decision {
        components,
        indicator,
        faults,
    }
}

/// The history of every component and the outages the probes saw that no post covers.
pub fn history(
    config: &Config,
    states: &[crate::state::RegionState],
    incidents: &[Incident],
    now: DateTime<Utc>,
) -> (Vec<timeline::ComponentHistory>, Vec<timeline::Detected>) {
    let probe_lines = timeline::probe_timelines(config, states, now);
    let history = timeline::histories_of(config, &probe_lines, now, config.site.page.time_zone);
    let covers: Vec<timeline::Cover> = incidents
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
        .collect();
    let after = config.site.page.detect_outages_after;
    let detected = localise::fold_detected(
        &localise::Model::from_config(config),
        &probe_lines,
        timeline::detected(&history, &covers, after, now),
        &covers,
        after,
        config.site.page.cause_tolerance,
        now,
    );
    (history, detected)
}

/// Everything a build or a status report reads: config, incidents, every region's state.
pub fn load(project: &Project) -> Result<(Config, Vec<Incident>, Vec<crate::state::RegionState>)> {
    load_cached(project, &mut incident::ParseCache::default())
}

/// [`load`], reusing posts parsed before.
fn load_cached(
    project: &Project,
    cache: &mut incident::ParseCache,
) -> Result<(Config, Vec<Incident>, Vec<crate::state::RegionState>)> {
    let config = config::load(&project.components_file(), &project.probes_file())
        .map_err(|p| anyhow::anyhow!("{p}"))?;
    let ids = config.site.component_ids();
    let incidents =
        incident::load_dir_cached(&project.incidents_dir(), "incidents", Some(&ids), cache)
            .map_err(|p| anyhow::anyhow!("{p}"))?;
    let (states, skipped) = project
        .store()?
        .read_all_blocking()
        .context("reading region state")?;
    for problem in &skipped {
        tracing::warn!("left out, its region shows no data: {problem}");
    }
    Ok((config, incidents, states))
}

/// Build the site of `project` as of `now`.
pub fn build(project: &Project, now: DateTime<Utc>) -> Result<Report> {
    build_into(project, now, None)
}

/// What a rebuild loop keeps between builds: the spare site tree and the parsed posts.
#[derive(Debug, Default)]
pub struct Rebuild {
    trees: render::output::Trees,
    incidents: incident::ParseCache,
}

/// [`build`] for a rebuild loop: posts whose text did not change are not parsed again,
/// and the previous site is kept as a spare tree in which the next build rewrites only
/// what changed (see `render::output`).
pub fn rebuild(project: &Project, now: DateTime<Utc>, keep: &mut Rebuild) -> Result<Report> {
    build_into(project, now, Some(keep))
}

/// The build's progress bar: drawn on a terminal only, and only once a build has taken
/// longer than a moment (a small site builds without any).
struct Progress {
    bar: indicatif::ProgressBar,
    started: std::time::Instant,
    quiet: bool,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        use std::io::IsTerminal;
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::hidden());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} pages")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message("rendering");
        Progress {
            bar,
            started: std::time::Instant::now(),
            quiet: quiet || !std::io::stderr().is_terminal(),
        }
    }

    fn pages(&self, done: u64, total: u64) {
        if self.quiet {
            return;
        }
        if self.bar.is_hidden() && self.started.elapsed() > std::time::Duration::from_millis(200) {
            self.bar
                .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        self.bar.set_length(total);
        self.bar.set_position(done);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn build_into(project: &Project, now: DateTime<Utc>, keep: Option<&mut Rebuild>) -> Result<Report> {
    // Rebuild loops print their own one-line reports.
    let bar = Progress::new(keep.is_some());
    let mut fresh = incident::ParseCache::default();
    let (trees, cache) = match keep {
        Some(k) => (Some(&mut k.trees), &mut k.incidents),
        None => (None, &mut fresh),
    };
    let (config, incidents, states) = load_cached(project, cache)?;
    for s in &states {
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
    let Decision {
        components,
        indicator,
        faults,
    } = decide(&config, &states, &incidents, now);
    let (history, detected) = history(&config, &states, &incidents, now);
    let theme = config.site.page.theme.as_deref();
    let strings = site::i18n::Strings::load(
        &config.site.page.language,
        theme.map(|t| project.themes_dir().join(t)).as_deref(),
    )?;
    let inputs = site::Inputs {
        config: &config,
        components: &components,
        indicator,
        faults: &faults,
        incidents: &incidents,
        now,
        history: &history,
        detected: &detected,
        states: &states,
        strings: &strings,
    };
    let model = site::assemble(&inputs);
    let tera = render::templates::load(&project.themes_dir(), theme)?;
    let theme_static = theme.map(|t| project.themes_dir().join(t).join("static"));
    let mut files = render::render(&tera, &model, theme_static.as_deref(), &|done, total| {
        bar.pages(done, total)
    })?;
    bar.finish();
    files.extend(render::api::files(&inputs));
    files.extend(render::feeds::files(&config, &incidents, &detected, now));
    files.extend(render::badges::files(
        &config,
        &components,
        indicator,
        &history,
    ));
    match trees {
        Some(trees) => render::output::publish_reusing(&project.site_dir(), &files, trees)?,
        None => render::output::publish(&project.site_dir(), &files)?,
    }
    Ok(Report {
        files: files.len(),
        components,
        indicator,
        faults,
    })
}

/// Run `build`.
pub fn run(args: Args, project: &Project) -> Result<ExitCode> {
    let now = args.now.unwrap_or_else(Utc::now);
    let report = build(project, now).context("build failed; the previous site/ is unchanged")?;
    outln!(
        "built {} files into {} ({})",
        report.files,
        project.site_dir().display(),
        report.indicator.description()
    );
    Ok(ExitCode::SUCCESS)
}
