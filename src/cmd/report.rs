//! `pharos report`: the availability report of a month (or any span) for the page and
//! every component, as a table, CSV or JSON (see `report`).

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use clap::Args as ClapArgs;

use crate::pipeline::{Clock, Snapshot};
use crate::project::Project;
use crate::report::{self, Period};

/// Options of `report`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The month, as YYYY-MM in the page's time zone (default: the last complete month).
    #[arg(long, value_name = "YYYY-MM", conflicts_with_all = ["from", "until"])]
    pub month: Option<String>,
    /// The start of a span instead: YYYY-MM-DD (midnight in the page's time zone) or an
    /// RFC 3339 time.
    #[arg(long, value_name = "DATE", requires = "until")]
    pub from: Option<String>,
    /// The end of the span (exclusive), as for --from.
    #[arg(long, value_name = "DATE", requires = "from")]
    pub until: Option<String>,
    /// Print JSON.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV: a row for the page and one per component.
    #[arg(long)]
    pub csv: bool,
    /// Report as of this time (RFC 3339) instead of the clock.
    #[arg(long, env = "PHAROS_NOW", value_name = "TIME")]
    pub now: Option<DateTime<Utc>>,
}

/// Run `report`.
pub fn run(args: Args, project: &Project) -> Result<ExitCode> {
    let now = Clock::at(args.now).now;
    let snapshot = Snapshot::load(project)?;
    let tz = snapshot.config.site.page.time_zone;
    let period = match (&args.month, &args.from, &args.until) {
        (_, Some(from), Some(until)) => {
            let (from, until) = (moment(from, tz, "--from")?, moment(until, tz, "--until")?);
            if from >= until || from >= now {
                bail!(
                    "--from must be before --until and before now; write e.g. --from 2026-11-01 --until 2026-11-15"
                );
            }
            Period::span(from, until, tz, now)
        }
        (Some(month), _, _) => {
            let (y, m) = month
                .split_once('-')
                .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)))
                .filter(|(_, m)| (1..=12).contains(m))
                .with_context(|| {
                    format!("--month {month:?} is not YYYY-MM; write e.g. --month 2026-11")
                })?;
            Period::month(tz, y, m, now).with_context(|| {
                format!(
                    "--month {month} has not begun yet (now is {}); pick a month up to this one",
                    now.with_timezone(&tz).format("%Y-%m")
                )
            })?
        }
        _ => {
            let here = now.with_timezone(&tz);
            let (y, m) = if here.month() == 1 {
                (here.year() - 1, 12)
            } else {
                (here.year(), here.month() - 1)
            };
            Period::month(tz, y, m, now).context("the last complete month")?
        }
    };
    let history = snapshot.history(now);
    let inputs = report::Inputs::new(
        &snapshot.config,
        &history.components,
        &snapshot.incidents,
        now,
    );
    let r = report::report(&inputs, &period);
    if !r.covered {
        super::err_line(format_args!(
            "warning: the history kept starts at {} ({} days back); the period before it counts as no data",
            r.history_from
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            crate::status::timeline::REACH_DAYS
        ));
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&r)?);
    } else if args.csv {
        super::out_bytes(report::table::csv(&r)?.as_bytes());
    } else {
        for line in report::table::text(&r).lines() {
            outln!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A date (midnight in `tz`) or an RFC 3339 time.
fn moment(text: &str, tz: chrono_tz::Tz, flag: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| crate::status::timeline::local_midnight(tz, d))
        .with_context(|| {
            format!("{flag} {text:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 time; write e.g. {flag} 2026-11-01")
        })
}
