//! `pharos status`: the merged state in the terminal, or as JSON for scripts; with
//! `--fail-on`, a non-zero exit when something is at least that bad (for CI gates, cron).

use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::{Args as ClapArgs, ValueEnum};
use serde_json::json;

use crate::pipeline::{Clock, Decision, Snapshot};
use crate::project::Project;
use crate::site::DisplayStatus;
use crate::status::Status;

/// Options of `status`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Exit with code 3 when a component is at least this bad.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub fail_on: Option<FailOn>,
    /// Report as of this time (RFC 3339) instead of the clock.
    #[arg(long, env = "PHAROS_NOW", value_name = "TIME")]
    pub now: Option<DateTime<Utc>>,
}

/// Thresholds for `--fail-on`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FailOn {
    /// Degraded performance or worse.
    Degraded,
    /// A partial outage or worse.
    Partial,
    /// A major outage.
    Major,
}

/// Run `status`.
pub fn run(args: Args, project: &Project) -> Result<ExitCode> {
    let now = Clock::at(args.now).now;
    let snapshot = Snapshot::load(project)?;
    let (config, incidents) = (&snapshot.config, &snapshot.incidents);
    let Decision {
        components,
        indicator,
        headline,
        faults,
    } = snapshot.decide(now);
    let open: Vec<_> = incidents.iter().filter(|i| i.is_open_incident()).collect();
    if args.json {
        let doc = json!({
            "at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "indicator": indicator.as_str(),
            "description": headline,
            "components": components.iter().map(|v| {
                let c = config.site.components.iter().find(|c| c.id == v.id);
                json!({
                    "id": v.id,
                    "name": c.map(|c| c.name.clone()),
                    "status": DisplayStatus::of(v),
                    "since": v.since.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                    "affected_by": v.affected_by,
                    "affects": v.affects,
                    "inferred": v.inferred,
                    "regions": v.regions.iter().map(|r| json!({
                        "region": r.region, "health": r.health.as_str(), "detail": r.detail,
                        "unconfirmed": r.unconfirmed,
                    })).collect::<Vec<_>>(),
                })
            }).collect::<Vec<_>>(),
            "causes": faults,
            "open_incidents": open.iter().map(|i| json!({
                "slug": i.slug, "title": i.title, "impact": i.impact.as_str(), "status": i.latest_status().as_str(),
            })).collect::<Vec<_>>(),
        });
        outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        outln!("{headline} ({})", indicator.as_str());
        let english = crate::site::i18n::Strings::english();
        for v in &components {
            let name = config
                .site
                .components
                .iter()
                .find(|c| c.id == v.id)
                .map_or(v.id.as_str(), |c| c.name.as_str());
            let label = DisplayStatus::of(v).label();
            let label = match (&v.affected_by[..], &v.affects[..]) {
                ([], []) => label.to_string(),
                ([], affects) => format!("{label}, cause of {}", affects.join(", ")),
                (causes, _) => format!("{label}, affected by {}", causes.join(" or ")),
            };
            let regions: Vec<String> = v
                .regions
                .iter()
                .map(|r| match r.unconfirmed {
                    Some(u) => format!(
                        "{} {} ({})",
                        r.region,
                        r.health.as_str(),
                        crate::site::unconfirmed_words(&u, &english)
                    ),
                    None => format!("{} {}", r.region, r.health.as_str()),
                })
                .collect();
            outln!("  {name:<24} {label:<22} {}", regions.join(" · "));
        }
        for f in &faults {
            if f.names_others() {
                outln!("{}", f.line());
            }
        }
        if !open.is_empty() {
            outln!("Open incidents:");
            for i in &open {
                outln!(
                    "  {:<40} {:<9} {:<13} {}",
                    i.slug,
                    i.impact.as_str(),
                    i.latest_status().as_str(),
                    i.title
                );
            }
        }
    }
    let threshold = args.fail_on.map(|f| match f {
        FailOn::Degraded => Status::DegradedPerformance,
        FailOn::Partial => Status::PartialOutage,
        FailOn::Major => Status::MajorOutage,
    });
    match threshold {
        Some(t) if components.iter().any(|c| !c.maintenance && c.status >= t) => {
            Ok(super::Exit::StatusAtThreshold.into())
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
