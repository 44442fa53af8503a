//! Step 1 of the flow: components.yaml and probes.yaml → one validated [`Config`].
//! Every problem names file, line, column and YAML path, and all of them are collected so
//! `pharos check` can report them at once.
//!
//! Files are read into located trees by [`crate::yaml`]; `components` and `validate` turn
//! components.yaml into a [`Site`], `probes` (one module per probe kind) turns probes.yaml
//! into a [`Probing`], and [`assertion`] parses the probes' assertions. This module imports
//! neither `state` nor `status`: it knows files, not observations.

mod alerts;
pub mod assertion;
mod components;
mod probes;
pub mod template;
mod validate;

use std::fmt;
use std::path::Path;

use crate::yaml;

pub use crate::yaml::Loc;
pub use alerts::{AlertKind, AlertTarget, Alerts};
pub use components::{RawComponent, RawGroup, RawLink, RawPage, RawPublish, RawTarget, TargetKind};
pub use probes::{
    AnswerMatch, CommandSpec, DnsSpec, Dur, HttpSpec, IcmpSpec, IpVersion, KindWord, Method, Probe,
    ProbeKind, PushSpec, RawAssertion, RawCommon, RawDefaults, RawRegion, Region, Starttls,
    StatusMatch, TcpSpec, TimeoutHealth, TlsCheckSpec, TlsSpec, Transport, validate_probes,
    weak_token,
};
pub use template::{MissingVar, Template};
pub use validate::{component_ids, env_vars, valid_id, validate_components};

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// components.yaml.
    pub site: Site,
    /// probes.yaml.
    pub probing: Probing,
}

impl Config {
    /// For each component id, the indices of the probes that name it, in config order:
    /// built once, so looking a component's probes up does not scan every probe.
    pub fn probes_by_component(&self) -> std::collections::HashMap<&str, Vec<usize>> {
        let mut by: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
        for (i, p) in self.probing.probes.iter().enumerate() {
            for c in &p.components {
                let mine = by.entry(c.as_str()).or_default();
                // A probe naming a component twice counts once.
                if mine.last() != Some(&i) {
                    mine.push(i);
                }
            }
        }
        by
    }
}

/// What components.yaml says.
#[derive(Debug, Clone)]
pub struct Site {
    /// Page settings.
    pub page: Page,
    /// Groups in file order.
    pub groups: Vec<Group>,
    /// Components in file order.
    pub components: Vec<Component>,
    /// Announcement targets in file order.
    pub announce: Vec<Target>,
    /// Where `pharos publish` sends the site, in file order.
    pub publish: Vec<crate::publish::Target>,
}

impl Site {
    /// Component ids in file order.
    pub fn component_ids(&self) -> Vec<&str> {
        self.components.iter().map(|c| c.id.as_str()).collect()
    }
}

/// Page settings with defaults applied.
#[derive(Debug, Clone)]
pub struct Page {
    /// Title.
    pub title: String,
    /// Public address, without a trailing slash.
    pub base_url: String,
    /// One-line description.
    pub description: Option<String>,
    /// Time zone for display.
    pub time_zone: chrono_tz::Tz,
    /// Page language.
    pub language: String,
    /// Theme name; `None` for the built-in one.
    pub theme: Option<String>,
    /// Header links.
    pub links: Vec<RawLink>,
    /// How long an outage must last before it is shown as detected.
    pub detect_outages_after: std::time::Duration,
    /// How many probe results the cause inference may leave unexplained.
    pub cause_tolerance: usize,
    /// The availability target of the page (and of components without one), in percent.
    pub slo: Option<f64>,
}

/// Where `pharos announce` posts, validated.
#[derive(Debug, Clone)]
pub struct Target {
    /// Stable name in the ledger.
    pub id: String,
    /// The service.
    pub kind: TargetKind,
    /// Webhook address, the Mastodon server's statuses endpoint, X's API or Bluesky's
    /// PDS.
    pub url: template::Template,
    /// Mastodon token.
    pub token: Option<template::Template>,
    /// Mastodon visibility.
    pub visibility: String,
    /// How to mail, for email targets.
    pub email: Option<EmailSpec>,
    /// The account, for X and Bluesky targets.
    pub account: Option<Account>,
}

impl Target {
    /// Every `${VAR}` value of the target: the ones it needs set at run time.
    pub fn templates(&self) -> Vec<&template::Template> {
        let mut out = vec![&self.url];
        out.extend(&self.token);
        if let Some(e) = &self.email {
            out.extend(e.username.iter().chain(&e.password));
        }
        match &self.account {
            Some(Account::X {
                consumer_key,
                consumer_secret,
                access_token,
                access_secret,
            }) => out.extend([consumer_key, consumer_secret, access_token, access_secret]),
            Some(Account::Bluesky { handle, password }) => out.extend([handle, password]),
            None => {}
        }
        out
    }
}

/// The account a social target posts as (its secrets from the environment).
#[derive(Debug, Clone)]
pub enum Account {
    /// X: OAuth 1.0a user context, the app's keys and the account's token.
    X {
        /// The app's API key.
        consumer_key: template::Template,
        /// The app's API key secret.
        consumer_secret: template::Template,
        /// The account's access token.
        access_token: template::Template,
        /// The account's access token secret.
        access_secret: template::Template,
    },
    /// Bluesky: a handle and an app password.
    Bluesky {
        /// The handle or DID.
        handle: template::Template,
        /// An app password (Settings → App passwords), never the account's own.
        password: template::Template,
    },
}

/// An email target's settings.
#[derive(Debug, Clone)]
pub struct EmailSpec {
    /// SMTP host.
    pub host: String,
    /// SMTP port.
    pub port: u16,
    /// `starttls`, `tls` or `none`.
    pub tls: String,
    /// Sender.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Credentials.
    pub username: Option<template::Template>,
    /// Credentials.
    pub password: Option<template::Template>,
    /// Private CA file, as written.
    pub ca_file: Option<String>,
}

/// A component group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
}

/// A component.
#[derive(Debug, Clone)]
pub struct Component {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Group id.
    pub group: Option<String>,
    /// Components it needs.
    pub depends_on: Vec<String>,
    /// Shown only when not operational.
    pub hidden_until_degraded: bool,
    /// Its availability target in percent (its own `slo`, else the page's).
    pub slo: Option<f64>,
}

/// What probes.yaml says.
#[derive(Debug, Clone)]
pub struct Probing {
    /// Regions in file order.
    pub regions: Vec<Region>,
    /// Probes in file order.
    pub probes: Vec<Probe>,
    /// Who is paged, for what (`alerts:`).
    pub alerts: Alerts,
}

/// One problem in an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// File name as shown to the user (relative to the project root).
    pub file: String,
    /// Line and column, when the problem has a place.
    pub loc: Option<Loc>,
    /// YAML path or other context, e.g. `probes[1]` or `probe "api" (probes[4])`.
    pub context: String,
    /// The sentence, with the fix in it.
    pub message: String,
}

impl Problem {
    /// A problem at a place in a file.
    pub fn new(
        file: &str,
        loc: Option<Loc>,
        context: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Problem {
            file: file.to_string(),
            loc,
            context: context.into(),
            message: message.into(),
        }
    }

    /// A file that was not read (see [`crate::input`]), at the first bad byte when its text
    /// is not UTF-8.
    pub fn refused(file: &str, why: &crate::input::Refused) -> Self {
        match why {
            crate::input::Refused::NotUtf8 { line, col } => Problem::new(
                file,
                Some(Loc {
                    line: *line,
                    col: *col,
                }),
                "",
                "is not UTF-8 text (the first bad byte is here); save it as UTF-8",
            ),
            _ => Problem::new(file, None, "", why.to_string()),
        }
    }

    /// From a YAML error.
    pub fn from_yaml(file: &str, e: yaml::Error) -> Self {
        Problem::new(file, e.loc, e.path, e.message)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(loc) = self.loc {
            write!(f, ":{loc}")?;
        }
        if self.context.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.context, self.message)
        }
    }
}

/// A set of problems, the error of a failed load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// The file names as shown in messages.
pub const COMPONENTS_FILE: &str = "components.yaml";
/// See [`COMPONENTS_FILE`].
pub const PROBES_FILE: &str = "probes.yaml";

/// What reading both files found: the parts that validated, the component ids written
/// (for checking references even when the files have other problems), and every problem.
#[derive(Debug)]
pub struct Examined {
    /// components.yaml, when it validated.
    pub site: Option<Site>,
    /// probes.yaml, when it validated.
    pub probing: Option<Probing>,
    /// The component ids written in components.yaml, if it could be read.
    pub component_ids: Option<Vec<String>>,
    /// Every problem, in file order.
    pub problems: Vec<Problem>,
}

/// Read both files and validate them, collecting every problem.
pub fn examine(components_path: &Path, probes_path: &Path) -> Examined {
    let mut problems = Vec::new();
    let components = read_yaml(components_path, COMPONENTS_FILE, &mut problems);
    let probes = read_yaml(probes_path, PROBES_FILE, &mut problems);
    examine_nodes(components, probes, problems)
}

/// [`examine`] on the files' texts (the fuzz targets' entry).
pub fn examine_texts(components: &str, probes: &str) -> Examined {
    let mut problems = Vec::new();
    let components = parse_yaml(components, COMPONENTS_FILE, &mut problems);
    let probes = parse_yaml(probes, PROBES_FILE, &mut problems);
    examine_nodes(components, probes, problems)
}

fn examine_nodes(
    components: Option<yaml::Node>,
    probes: Option<yaml::Node>,
    mut problems: Vec<Problem>,
) -> Examined {
    let site = components
        .as_ref()
        .and_then(|node| validate_components(node, COMPONENTS_FILE, &mut problems));
    let ids = components.as_ref().map(component_ids);
    let probing =
        probes.and_then(|node| validate_probes(&node, PROBES_FILE, ids.as_deref(), &mut problems));
    sort_by_place(&mut problems);
    Examined {
        site,
        probing,
        component_ids: ids.map(|ids| ids.into_iter().map(str::to_string).collect()),
        problems,
    }
}

/// Read both files into a [`Config`], or every problem they have.
pub fn load(components_path: &Path, probes_path: &Path) -> Result<Config, Problems> {
    examine(components_path, probes_path).into_config()
}

impl Examined {
    /// The config, when the files have no problem; else every problem.
    fn into_config(self) -> Result<Config, Problems> {
        match (self.site, self.probing) {
            (Some(site), Some(probing)) if self.problems.is_empty() => Ok(Config { site, probing }),
            _ => Err(Problems(self.problems)),
        }
    }
}

impl Probing {
    /// Why `name` is not a region of this config, naming the ones that are; `None` when
    /// it is one.
    pub fn unknown_region(&self, name: &str) -> Option<String> {
        if self.regions.iter().any(|r| r.name == name) {
            return None;
        }
        let known: Vec<&str> = self.regions.iter().map(|r| r.name.as_str()).collect();
        Some(format!(
            "region \"{name}\" is not listed in probes.yaml; use one of: {}",
            known.join(", ")
        ))
    }
}

/// What a rebuild loop keeps of the config between builds: the two files' texts and the
/// config they made.
#[derive(Debug, Default)]
pub struct LoadCache {
    kept: Option<(String, String, Config)>,
}

/// [`load`], reusing the config `cache` holds when both files' texts are as they were:
/// validating the whole config again is most of the time a rebuild spends on it.
pub fn load_cached(
    components_path: &Path,
    probes_path: &Path,
    cache: &mut LoadCache,
) -> Result<Config, Problems> {
    let read = |path| crate::input::read_text(path, crate::input::CONFIG).ok();
    let (Some(components), Some(probes)) = (read(components_path), read(probes_path)) else {
        // Unreadable: `load` says why, naming the file.
        cache.kept = None;
        return load(components_path, probes_path);
    };
    if let Some((c, p, config)) = &cache.kept
        && *c == components
        && *p == probes
    {
        return Ok(config.clone());
    }
    cache.kept = None;
    let config = examine_texts(&components, &probes).into_config()?;
    cache.kept = Some((components, probes, config.clone()));
    Ok(config)
}

/// The useful last line of a regex compile error, e.g. "error: unclosed group".
pub(crate) fn regex_error(e: &regex::Error) -> String {
    e.to_string()
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Order problems by file (in the order first seen), then line and column.
pub fn sort_by_place(problems: &mut [Problem]) {
    let mut files: Vec<String> = Vec::new();
    for p in problems.iter() {
        if !files.contains(&p.file) {
            files.push(p.file.clone());
        }
    }
    problems.sort_by_key(|p| {
        let file = files
            .iter()
            .position(|f| f == &p.file)
            .unwrap_or(usize::MAX);
        (file, p.loc.map_or((0, 0), |l| (l.line, l.col)))
    });
}

/// Read a YAML file into a located tree; a read or syntax error becomes a problem.
pub fn read_yaml(path: &Path, shown: &str, problems: &mut Vec<Problem>) -> Option<yaml::Node> {
    let text = match crate::input::read_text(path, crate::input::CONFIG) {
        Ok(t) => t,
        Err(r) if r.is_missing() => {
            problems.push(Problem::new(
                shown,
                None,
                "",
                format!(
                    "cannot read {}: no such file; run `pharos init` to create it",
                    path.display()
                ),
            ));
            return None;
        }
        Err(r) => {
            problems.push(Problem::refused(shown, &r));
            return None;
        }
    };
    parse_yaml(&text, shown, problems)
}

/// Parse YAML text into a located tree; a syntax error becomes a problem.
fn parse_yaml(text: &str, shown: &str, problems: &mut Vec<Problem>) -> Option<yaml::Node> {
    match yaml::parse(text) {
        Ok(node) => {
            for (loc, path, why) in node.unfit_scalars() {
                problems.push(Problem::new(shown, Some(loc), path, why.to_string()));
            }
            Some(node)
        }
        Err(e) => {
            problems.push(Problem::from_yaml(shown, e));
            None
        }
    }
}
