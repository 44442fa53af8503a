//! `pharos incident new|update|resolve|list` and `pharos maintenance new`: write posts in
//! incidents/ so nobody has to remember the format. Every post is checked with the build's
//! own parser before it is written; a post the build would reject is never written.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Args as ClapArgs, Subcommand, ValueEnum};

use crate::config;
use crate::incident::author::{self, NewPost};
use crate::incident::{self, Kind};
use crate::project::Project;
use crate::status::Impact;

/// Options of `incident`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// Incident actions.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Open an incident: incidents/YYYY-MM-DD-<slug>.md with its first update.
    New(NewArgs),
    /// Add an update to an incident or maintenance.
    Update(UpdateArgs),
    /// Add a `resolved` update.
    Resolve(ResolveArgs),
    /// Show open incidents and the most recent ones.
    List(ListArgs),
}

/// Options of `incident list`.
#[derive(Debug, ClapArgs)]
pub struct ListArgs {
    /// List as of this time (RFC 3339) instead of now: which windows are running or over.
    #[arg(long, env = "PHAROS_NOW", value_name = "TIME")]
    pub now: Option<DateTime<Utc>>,
}

/// How bad an incident is.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ImpactArg {
    /// No impact on service.
    None,
    /// Some users notice.
    Minor,
    /// Many users affected.
    Major,
    /// The service is unusable.
    Critical,
}

impl From<ImpactArg> for Impact {
    fn from(i: ImpactArg) -> Self {
        match i {
            ImpactArg::None => Impact::None,
            ImpactArg::Minor => Impact::Minor,
            ImpactArg::Major => Impact::Major,
            ImpactArg::Critical => Impact::Critical,
        }
    }
}

/// Options of `incident new`.
#[derive(Debug, ClapArgs)]
pub struct NewArgs {
    /// The title, e.g. "Elevated API error rates".
    #[arg(required_unless_present = "from_detected")]
    pub title: Option<String>,
    /// Declared impact.
    #[arg(long, value_enum, required_unless_present = "from_detected")]
    pub impact: Option<ImpactArg>,
    /// Draft the post from the newest outage the probes detected on this component (one
    /// with no post yet): title, impact, times and regions filled in.
    #[arg(long, value_name = "COMPONENT", conflicts_with = "at")]
    pub from_detected: Option<String>,
    /// With --from-detected: look at the history as of this time (RFC 3339), as
    /// `build --now` does (ignored otherwise).
    #[arg(long, env = "PHAROS_NOW", value_name = "TIME")]
    pub now: Option<DateTime<Utc>>,
    /// An affected component id (repeat for several).
    #[arg(long = "component", value_name = "ID")]
    pub components: Vec<String>,
    /// The first update's status.
    #[arg(long, default_value = "investigating")]
    pub status: String,
    /// The first update's text (markdown). Without it, $EDITOR opens.
    #[arg(long, short)]
    pub message: Option<String>,
    /// Post it as of this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<DateTime<Utc>>,
}

/// Options of `incident update`.
#[derive(Debug, ClapArgs)]
pub struct UpdateArgs {
    /// The post: its file name without .md, or the part after the date.
    pub slug: String,
    /// The new status, e.g. identified, monitoring, resolved (in_progress, completed for maintenance).
    #[arg(long)]
    pub status: String,
    /// The update's text (markdown). Without it, $EDITOR opens.
    #[arg(long, short)]
    pub message: Option<String>,
    /// Post it as of this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<DateTime<Utc>>,
}

/// Options of `incident resolve`.
#[derive(Debug, ClapArgs)]
pub struct ResolveArgs {
    /// The post: its file name without .md, or the part after the date.
    pub slug: String,
    /// The closing text (markdown). Without it, $EDITOR opens.
    #[arg(long, short)]
    pub message: Option<String>,
    /// Post it as of this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<DateTime<Utc>>,
}

/// Options of `maintenance`.
#[derive(Debug, ClapArgs)]
pub struct MaintenanceArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: MaintenanceAction,
}

/// Maintenance actions.
#[derive(Debug, Subcommand)]
pub enum MaintenanceAction {
    /// Announce a maintenance window.
    New(MaintenanceNewArgs),
}

/// Options of `maintenance new`.
#[derive(Debug, ClapArgs)]
pub struct MaintenanceNewArgs {
    /// The title, e.g. "Database upgrade".
    pub title: String,
    /// Start of the window (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub from: DateTime<Utc>,
    /// End of the window (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub until: DateTime<Utc>,
    /// An affected component id (repeat for several).
    #[arg(long = "component", value_name = "ID")]
    pub components: Vec<String>,
    /// The announcement (markdown). Without it, $EDITOR opens.
    #[arg(long, short)]
    pub message: Option<String>,
    /// Post it as of this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<DateTime<Utc>>,
}

fn message(given: Option<String>, what: &str) -> Result<String> {
    if let Some(m) = given {
        if m.trim().is_empty() {
            bail!("the {what} is empty; write a sentence with --message");
        }
        return Ok(m);
    }
    if !std::io::stdin().is_terminal() {
        bail!("give the {what} with --message \"…\" (no terminal to open an editor in)");
    }
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".to_string());
    let file = tempfile::Builder::new()
        .prefix("pharos-update-")
        .suffix(".md")
        .tempfile()
        .context("creating a file for the editor")?;
    // EDITOR may carry arguments, e.g. "code --wait".
    let mut words = editor.split_whitespace();
    let program = words.next().unwrap_or("vi");
    let status = std::process::Command::new(program)
        .args(words)
        .arg(file.path())
        .status()
        .with_context(|| format!("starting the editor {editor}"))?;
    if !status.success() {
        bail!("the editor {editor} failed; nothing was written");
    }
    let text = crate::input::read_text(file.path(), crate::input::POST)
        .map_err(|r| anyhow::anyhow!("reading what was written in the editor: {r}"))?;
    if text.trim().is_empty() {
        bail!("the {what} is empty; nothing was written");
    }
    Ok(text)
}

/// Write `text` to `path` atomically, after checking that the build will accept it.
fn write_checked(project: &Project, path: &Path, text: &str) -> Result<()> {
    let config = config::load(&project.components_file(), &project.probes_file())
        .map_err(|p| anyhow::anyhow!("{p}\nfix the configuration first (`pharos check`)"))?;
    let ids = config.site.component_ids();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let stem = name.trim_end_matches(".md");
    if let Err(problems) = incident::parse(text, &format!("incidents/{name}"), stem, Some(&ids)) {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        bail!("{}\nnothing was written", list.join("\n"));
    }
    let dir = project.incidents_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".pharos-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).context("writing the post")?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A free file name for a new post: incidents/<date>-<slug>.md, or -2, -3…
fn new_path(project: &Project, at: DateTime<Utc>, title: &str) -> PathBuf {
    let base = format!("{}-{}", at.format("%Y-%m-%d"), author::slugify(title));
    let dir = project.incidents_dir();
    let mut path = dir.join(format!("{base}.md"));
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("{base}-{n}.md"));
        n += 1;
    }
    path
}

/// The post a slug names: the exact file stem, or the one whose name ends in it.
fn find(project: &Project, slug: &str) -> Result<PathBuf> {
    if slug.is_empty()
        || !slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        bail!(
            "\"{slug}\" is not a post name; names use lowercase letters, digits and '-' (see `pharos incident list`)"
        );
    }
    let dir = project.incidents_dir();
    let exact = dir.join(format!("{slug}.md"));
    if exact.is_file() {
        return Ok(exact);
    }
    let mut matches: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_stem()
                .is_some_and(|s| s.to_string_lossy().ends_with(&format!("-{slug}")))
        })
        .collect();
    matches.sort();
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => bail!(
            "no post named {slug} in {}; see `pharos incident list`",
            dir.display()
        ),
        _ => {
            let names: Vec<String> = matches
                .iter()
                .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().to_string()))
                .collect();
            bail!("{slug} matches {}; give the whole name", names.join(", "))
        }
    }
}

/// `incident new --from-detected COMPONENT`: a post about the newest detected outage,
/// its first update back-dated to the outage's start and, when it is over, a resolved
/// update at its end.
fn from_detected(project: &Project, a: NewArgs) -> Result<ExitCode> {
    let component = a.from_detected.clone().unwrap_or_default();
    let snapshot = crate::pipeline::Snapshot::load(project)?;
    let config = &snapshot.config;
    let Some(c) = config.site.components.iter().find(|c| c.id == component) else {
        bail!(
            "component \"{component}\" is not in components.yaml; use one of: {}",
            config.site.component_ids().join(", ")
        );
    };
    let now = crate::pipeline::Clock::at(a.now).now;
    let detected = snapshot.history(now).detected;
    // An outage this component had only through a dependency is its cause's notice.
    let Some(d) = detected
        .iter()
        .rev()
        .find(|d| d.component == component || d.affects.contains(&component))
    else {
        bail!(
            "the probes detected no outage of {component} without a post (at least {} long, in the last year); \
             write the post with a title and --impact instead",
            crate::words::duration(config.site.page.detect_outages_after)
        );
    };
    let tz = config.site.page.time_zone;
    let shown = |t: DateTime<Utc>| {
        t.with_timezone(&tz)
            .format(crate::site::i18n::DATE_TIME_FORMAT)
            .to_string()
    };
    let (what, impact) = match d.outage.worst {
        crate::status::Status::MajorOutage => ("Major outage", Impact::Major),
        _ => ("Partial outage", Impact::Minor),
    };
    let c = config
        .site
        .components
        .iter()
        .find(|c| c.id == d.component)
        .unwrap_or(c);
    let components: Vec<String> = std::iter::once(&d.component)
        .chain(&d.affects)
        .cloned()
        .collect();
    let title = a.title.unwrap_or_else(|| format!("{what} of {}", c.name));
    let regions = d.outage.regions.join(", ");
    let first = match a.message {
        Some(m) => m,
        None => format!(
            "Our probes in {regions} detected a {} of {} from {}. We are investigating.",
            what.to_lowercase(),
            c.name,
            shown(d.outage.start)
        ),
    };
    let mut text = author::new_post(&NewPost {
        title: &title,
        kind: Kind::Incident,
        impact: a.impact.map_or(impact, Impact::from),
        components: &components,
        window: None,
        status: &a.status,
        message: &first,
        at: d.outage.start,
    });
    if let Some(end) = d.outage.end {
        text = author::add_update(
            &text,
            end,
            "resolved",
            &format!("Our probes saw {} recover at {}.", c.name, shown(end)),
        )
        .map_err(|m| anyhow::anyhow!("{m}"))?;
    }
    let path = new_path(project, d.outage.start, &title);
    write_checked(project, &path, &text)?;
    outln!(
        "created {} from the outage detected at {} ({regions}); edit it, then build",
        path.display(),
        shown(d.outage.start)
    );
    Ok(ExitCode::SUCCESS)
}

fn add_update(
    project: &Project,
    slug: &str,
    status: &str,
    msg: Option<String>,
    at: Option<DateTime<Utc>>,
) -> Result<ExitCode> {
    let path = find(project, slug)?;
    let text = crate::input::read_text_within(
        &path,
        &project.incidents_dir(),
        "incidents/",
        crate::input::POST,
    )
    .map_err(|r| anyhow::anyhow!("{}: {r}", path.display()))?;
    let message = message(msg, "update")?;
    let updated = author::add_update(&text, at.unwrap_or_else(Utc::now), status, &message)
        .map_err(|m| anyhow::anyhow!("{}: {m}", path.display()))?;
    write_checked(project, &path, &updated)?;
    outln!("updated {} ({status})", path.display());
    Ok(ExitCode::SUCCESS)
}

/// Run `incident`.
pub fn run(args: Args, project: &Project) -> Result<ExitCode> {
    match args.action {
        Action::New(a) if a.from_detected.is_some() => from_detected(project, a),
        Action::New(a) => {
            let at = a.at.unwrap_or_else(Utc::now);
            let message = message(a.message, "first update")?;
            let title = a.title.unwrap_or_default();
            let text = author::new_post(&NewPost {
                title: &title,
                kind: Kind::Incident,
                impact: a.impact.map_or(Impact::Minor, Impact::from),
                components: &a.components,
                window: None,
                status: &a.status,
                message: &message,
                at,
            });
            let path = new_path(project, at, &title);
            write_checked(project, &path, &text)?;
            outln!("created {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Action::Update(a) => add_update(project, &a.slug, &a.status, a.message, a.at),
        Action::Resolve(a) => add_update(project, &a.slug, "resolved", a.message, a.at),
        Action::List(a) => {
            let incidents = incident::load_dir(&project.incidents_dir(), "incidents", None)
                .map_err(|p| anyhow::anyhow!("{p}"))?;
            let now = a.now.unwrap_or_else(Utc::now);
            let open: Vec<_> = incidents
                .iter()
                .filter(|i| {
                    i.is_open_incident()
                        || i.is_active_maintenance(now)
                        || i.is_upcoming_maintenance(now)
                })
                .collect();
            let recent: Vec<_> = incidents
                .iter()
                .filter(|i| i.is_over(now))
                .take(10)
                .collect();
            let line = |i: &incident::Incident| {
                let since = i
                    .started_at()
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_default();
                let impact = if i.kind == Kind::Maintenance {
                    "maintenance"
                } else {
                    i.impact.as_str()
                };
                outln!(
                    "  {:<40} {:<11} {:<13} {since}  {}",
                    i.slug,
                    impact,
                    i.status_at(now).as_str(),
                    i.title
                );
            };
            outln!("Open ({}):", open.len());
            open.iter().for_each(|i| line(i));
            outln!("Recent ({}):", recent.len());
            recent.iter().for_each(|i| line(i));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Run `maintenance`.
pub fn run_maintenance(args: MaintenanceArgs, project: &Project) -> Result<ExitCode> {
    let MaintenanceAction::New(a) = args.action;
    let message = message(a.message, "announcement")?;
    let now = a.at.unwrap_or_else(Utc::now);
    let text = author::new_post(&NewPost {
        title: &a.title,
        kind: Kind::Maintenance,
        impact: Impact::None,
        components: &a.components,
        window: Some((a.from, a.until)),
        status: "scheduled",
        message: &message,
        at: now,
    });
    let path = new_path(project, now, &a.title);
    write_checked(project, &path, &text)?;
    outln!("created {}", path.display());
    Ok(ExitCode::SUCCESS)
}
