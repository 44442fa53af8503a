//! The demo's past: 90 days of generated history in every region, so its bars, uptime
//! figures and availability reports look like a real page's: a few outages, a partial one
//! seen from one region, a dependency outage (the database behind the API), a maintenance
//! window, a spell of degraded performance and two hours when no prober reported. Written
//! as each region's state before the live workers start, which carry it on; the posts that
//! go with it are written beside the demo's others.

use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, DurationRound, Utc};

use crate::config::Config;
use crate::state::{Health, RegionHealth, RegionState, Sample, Transition};

/// How far back the generated history reaches.
pub const DAYS: i64 = 90;

/// One thing that happened: probes of `probes` in `regions` (all when empty) were `health`
/// from `start` for `minutes`.
struct Event {
    days_ago: i64,
    hour: i64,
    minutes: i64,
    probes: &'static [&'static str],
    regions: &'static [&'static str],
    health: RegionHealth,
}

/// The demo's past, oldest first.
const EVENTS: [Event; 8] = [
    // The website down everywhere for 45 minutes.
    Event {
        days_ago: 83,
        hour: 14,
        minutes: 45,
        probes: &["web-home"],
        regions: &[],
        health: RegionHealth::Down,
    },
    // No prober reported for two hours (a network change cut every region off).
    Event {
        days_ago: 61,
        hour: 3,
        minutes: 120,
        probes: &[],
        regions: &[],
        health: RegionHealth::NoData,
    },
    // Mumbai could not reach the CDN edge for three hours: a partial outage.
    Event {
        days_ago: 52,
        hour: 9,
        minutes: 180,
        probes: &["cdn-asset"],
        regions: &["ap-south"],
        health: RegionHealth::Down,
    },
    // The database failed over: down 25 minutes, the API down through it.
    Event {
        days_ago: 38,
        hour: 20,
        minutes: 25,
        probes: &["db-port", "api-health"],
        regions: &[],
        health: RegionHealth::Down,
    },
    // The database upgrade: down during its maintenance window (left out of reports).
    Event {
        days_ago: 30,
        hour: 2,
        minutes: 90,
        probes: &["db-port", "api-health"],
        regions: &[],
        health: RegionHealth::Down,
    },
    // Slow sign-ins for two hours.
    Event {
        days_ago: 20,
        hour: 11,
        minutes: 120,
        probes: &["auth-login"],
        regions: &[],
        health: RegionHealth::Degraded,
    },
    // Search down everywhere for 70 minutes.
    Event {
        days_ago: 9,
        hour: 16,
        minutes: 70,
        probes: &["search-query"],
        regions: &[],
        health: RegionHealth::Down,
    },
    // The API slow from Virginia for an hour.
    Event {
        days_ago: 4,
        hour: 7,
        minutes: 60,
        probes: &["api-health"],
        regions: &["us-east"],
        health: RegionHealth::Degraded,
    },
];

/// When `e` began, for the demo's clock `now`.
fn start(e: &Event, now: DateTime<Utc>) -> DateTime<Utc> {
    let midnight = now.duration_trunc(Duration::days(1)).unwrap_or(now);
    midnight - Duration::days(e.days_ago) + Duration::hours(e.hour)
}

/// Every region's state for `config` at `now`: up since [`DAYS`] ago but for [`EVENTS`],
/// each probe's last sample a moment ago (so the live workers carry on without a gap).
pub fn states(config: &Config, now: DateTime<Utc>) -> Vec<RegionState> {
    let since = now - Duration::days(DAYS);
    config
        .probing
        .regions
        .iter()
        .map(|region| {
            let mut s = RegionState::new(&region.name, now);
            for p in &config.probing.probes {
                let sample = Sample::new(now - Duration::seconds(1), Health::Up, "OK".into());
                s.record(
                    &p.id,
                    p.kind.word().as_str(),
                    &p.kind.target(),
                    &crate::state::history::Policy::from(p),
                    sample,
                );
                let mut transitions = vec![Transition {
                    at: since,
                    to: RegionHealth::Up,
                }];
                for e in &EVENTS {
                    let mine = (e.probes.is_empty() || e.probes.contains(&p.id.as_str()))
                        && (e.regions.is_empty() || e.regions.contains(&region.name.as_str()));
                    if !mine {
                        continue;
                    }
                    let from = start(e, now);
                    // The API fails 30 s after the database it depends on.
                    let lag = if p.id == "api-health" && e.probes.contains(&"db-port") {
                        Duration::seconds(30)
                    } else {
                        Duration::zero()
                    };
                    transitions.push(Transition {
                        at: from + lag,
                        to: e.health,
                    });
                    transitions.push(Transition {
                        at: from + Duration::minutes(e.minutes),
                        to: RegionHealth::Up,
                    });
                }
                transitions.sort_by_key(|t| t.at);
                if let Some(ps) = s.probes.get_mut(&p.id) {
                    ps.transitions = transitions;
                }
            }
            s
        })
        .collect()
}

/// The posts about the demo's past: the website outage, the database failover, the
/// upgrade's maintenance window and the search outage, each resolved.
pub fn posts(now: DateTime<Utc>) -> Vec<(String, String)> {
    let at = |i: usize, minutes: i64| {
        (start(&EVENTS[i], now) + Duration::minutes(minutes))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let day = |i: usize| start(&EVENTS[i], now).format("%Y-%m-%d").to_string();
    vec![
        (
            format!("{}-website-down.md", day(0)),
            format!(
                "---\ntitle: Website unreachable\nimpact: major\ncomponents: [web]\n---\n\
## {} resolved\nA bad load-balancer rule was rolled back; the website is back.\n\n\
## {} investigating\nThe website does not answer in any region.\n",
                at(0, 45),
                at(0, 4)
            ),
        ),
        (
            format!("{}-database-failover.md", day(3)),
            format!(
                "---\ntitle: API errors during a database failover\nimpact: major\ncomponents: [db, api]\n---\n\
## {} resolved\nThe standby took over; the API is answering again.\n\n\
## {} identified\nThe primary database stopped; the standby is being promoted.\n",
                at(3, 25),
                at(3, 6)
            ),
        ),
        (
            format!("{}-database-upgrade-done.md", day(4)),
            format!(
                "---\ntitle: Database upgrade\nkind: maintenance\ncomponents: [db, api]\nscheduled_for: {}\nscheduled_until: {}\n---\n\
## {} completed\nThe upgrade is done.\n\n## {} in_progress\nThe upgrade has started; writes pause.\n",
                at(4, 0),
                at(4, 120),
                at(4, 90),
                at(4, 0)
            ),
        ),
        (
            format!("{}-search-outage.md", day(6)),
            format!(
                "---\ntitle: Search unavailable\nimpact: major\ncomponents: [search]\n---\n\
## {} resolved\nThe index is rebuilt and search works again.\n\n\
## {} investigating\nSearch requests fail in every region.\n",
                at(6, 70),
                at(6, 8)
            ),
        ),
    ]
}

/// Write the past into the demo project at `dir`: each region's state file and the posts.
pub fn write(dir: &Path, config: &Config, now: DateTime<Utc>) -> Result<()> {
    let store = crate::state::store::LocalStore::new(dir.join("state"));
    std::fs::create_dir_all(store.dir())
        .with_context(|| format!("creating {}", store.dir().display()))?;
    for s in states(config, now) {
        let path = store.path_of(&s.region);
        let json = serde_json::to_vec(&s).context("serialising the demo's history")?;
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    for (name, body) in posts(now) {
        let path = dir.join("incidents").join(name);
        std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
