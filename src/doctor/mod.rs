//! `pharos doctor`, its rules: what a deployment's machine looked like (`cmd::doctor` gathers
//! it) turned into findings, each a verdict with the fix. Pure: the clock is an input.

use std::fmt;

use chrono::{DateTime, Duration, Utc};

use crate::state::store::LastWrite;

/// How far a worker's clock may be from the store's before the merge of regions goes
/// wrong: the builder compares every region's sample times with its own clock, so a
/// worker 10 s behind looks 10 s late.
pub const CLOCK_TOLERANCE: Duration = Duration::seconds(10);

/// File descriptors a worker needs besides one per check in flight: its state files,
/// the metrics and heartbeat listeners, DNS sockets, the ICMP sockets, a spool.
pub const SPARE_DESCRIPTORS: u64 = 256;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// As it should be.
    Ok,
    /// Works, with a weaker guarantee than it could have.
    Warn,
    /// Something is wrong: `doctor` exits non-zero.
    Problem,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warning",
            Level::Problem => "PROBLEM",
        }
    }
}

/// One line of `doctor`'s report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How bad.
    pub level: Level,
    /// What was looked at: `project`, `state store`, `region eu-west`, `icmp`…
    pub topic: String,
    /// What was found.
    pub said: String,
    /// What to do, for a warning or a problem.
    pub fix: Option<String>,
}

impl Finding {
    /// A finding that needs nothing done.
    pub fn ok(topic: impl Into<String>, said: impl Into<String>) -> Finding {
        Finding {
            level: Level::Ok,
            topic: topic.into(),
            said: said.into(),
            fix: None,
        }
    }

    /// A finding with its fix.
    pub fn bad(
        level: Level,
        topic: impl Into<String>,
        said: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            level,
            topic: topic.into(),
            said: said.into(),
            fix: Some(fix.into()),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line each, whatever a tool's message held (git's run over several).
        let said: Vec<&str> = self
            .said
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        write!(
            f,
            "{:<7}  {}: {}",
            self.level.word(),
            self.topic,
            said.join(" ")
        )?;
        match &self.fix {
            Some(fix) => write!(f, " — fix: {fix}"),
            None => Ok(()),
        }
    }
}

/// A duration as people say it: `45 s`, `12 min`, `3 h 5 min`, `2 days`.
pub fn spoken(d: Duration) -> String {
    let s = (d.num_milliseconds().abs() + 500) / 1000;
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} days", s / 86_400),
    }
}

/// A region's finding: never seen, stale or fresh (by the store's clock, so a worker's
/// wrong clock does not hide it), and how far its worker's clock is from the store's.
/// `stale_after` is the bound after which its probes show "no data" on the page.
pub fn region(
    name: &str,
    last: Option<&LastWrite>,
    stale_after: Duration,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let topic = format!("region {name}");
    let Some(last) = last else {
        return vec![Finding::bad(
            Level::Problem,
            topic,
            "never seen: the store holds no state of it",
            format!(
                "start its worker with the same --state (pharos probe --region {name}, or systemctl enable --now pharos-probe@{name}); if it runs, its PHAROS_STATE or credentials differ from this machine's"
            ),
        )];
    };
    let mut found = Vec::new();
    // The store stamps after the worker wrote `written_at` (an upload takes a moment) and
    // Last-Modified drops sub-seconds: a true clock reads a little behind, never ahead.
    let offset = last.written_at - last.stored_at;
    let age = (now - last.stored_at).max(Duration::zero());
    if age > stale_after {
        found.push(Finding::bad(
            Level::Problem,
            topic.clone(),
            format!(
                "stale: last written {} ago ({}); its probes show \"no data\" after {}",
                spoken(age),
                last.stored_at.format("%Y-%m-%d %H:%M:%S UTC"),
                spoken(stale_after)
            ),
            format!(
                "look at its worker (systemctl status pharos-probe@{name}; journalctl -u pharos-probe@{name}): stopped, failing to write (credentials, network), or a second worker refused"
            ),
        ));
    } else {
        found.push(Finding::ok(
            topic.clone(),
            format!("fresh: last written {} ago", spoken(age)),
        ));
    }
    if offset.abs() > CLOCK_TOLERANCE + Duration::seconds(1) {
        found.push(Finding::bad(
            Level::Problem,
            topic,
            format!(
                "its worker's clock is {} {} the store's (written_at {}, stored {})",
                spoken(offset),
                if offset > Duration::zero() {
                    "ahead of"
                } else {
                    "behind"
                },
                last.written_at.format("%H:%M:%S"),
                last.stored_at.format("%H:%M:%S")
            ),
            "keep its host's clock in sync (timedatectl set-ntp true, or chrony): regions are merged by their sample times",
        ));
    }
    found
}

/// This machine's clock against the store's: a scratch object stored at `stored` (its
/// Last-Modified) by a request sent at `sent` and answered at `answered`.
pub fn host_clock(sent: DateTime<Utc>, stored: DateTime<Utc>, answered: DateTime<Utc>) -> Finding {
    let topic = "this machine's clock";
    // Last-Modified is truncated to the second.
    let behind = stored - answered;
    let ahead = sent - (stored + Duration::seconds(1));
    if behind > CLOCK_TOLERANCE || ahead > CLOCK_TOLERANCE {
        let (by, way) = if behind > ahead {
            (behind, "behind")
        } else {
            (ahead, "ahead of")
        };
        Finding::bad(
            Level::Problem,
            topic,
            format!("{} {way} the store's", spoken(by)),
            "keep this host's clock in sync (timedatectl set-ntp true, or chrony): the page decides freshness and outages by it",
        )
    } else {
        Finding::ok(
            topic,
            format!("agrees with the store's within {}", spoken(CLOCK_TOLERANCE)),
        )
    }
}

/// The open-files limit (`soft`, `hard`) against what a worker with `concurrency`
/// checks in flight needs.
pub fn descriptors(soft: u64, hard: u64, concurrency: usize) -> Finding {
    let topic = "open files";
    let need = concurrency as u64 + SPARE_DESCRIPTORS;
    if soft >= need {
        return Finding::ok(
            topic,
            format!("limit {soft}, enough for --concurrency {concurrency} (needs {need})"),
        );
    }
    let lower = soft.saturating_sub(SPARE_DESCRIPTORS);
    let or_lower = if lower > 0 {
        format!(" or run the worker with --concurrency {lower}")
    } else {
        String::new()
    };
    Finding::bad(
        Level::Problem,
        topic,
        format!(
            "limit {soft} (hard {hard}) is below the {need} a worker with --concurrency {concurrency} needs: checks would fail with \"too many open files\""
        ),
        format!(
            "raise it (LimitNOFILE={need} in the unit, ulimit -n {need} in a shell, nofile in /etc/security/limits.conf){or_lower}"
        ),
    )
}

/// Whether this machine may send ICMP echo requests, and whether any probe needs it.
pub fn icmp(opened: Result<&str, &str>, icmp_probes: usize, ping_range: &str) -> Finding {
    let topic = "icmp";
    match (opened, icmp_probes) {
        (Ok(kind), _) => Finding::ok(
            topic,
            format!(
                "{} socket opens ({})",
                kind,
                if kind == "dgram" {
                    "unprivileged ping"
                } else {
                    "raw, with CAP_NET_RAW"
                }
            ),
        ),
        (Err(why), 0) => Finding::ok(
            topic,
            format!("not permitted here ({why}); no probe uses it"),
        ),
        (Err(why), n) => Finding::bad(
            Level::Problem,
            topic,
            format!(
                "not permitted ({why}; net.ipv4.ping_group_range is \"{ping_range}\"): {n} icmp probe{} would report unknown",
                if n == 1 { "" } else { "s" }
            ),
            "sysctl -w net.ipv4.ping_group_range=\"0 2147483647\" (in Kubernetes, the pod's securityContext.sysctls), or give pharos CAP_NET_RAW (AmbientCapabilities=CAP_NET_RAW in the unit)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn last(written: &str, stored: &str) -> LastWrite {
        LastWrite {
            region: "eu".into(),
            written_at: at(written),
            stored_at: at(stored),
        }
    }

    #[test]
    fn regions_are_fresh_stale_or_never_seen_by_the_stores_clock() {
        let now = at("2026-11-20T12:10:00Z");
        let bound = Duration::seconds(200);
        let fresh = last("2026-11-20T12:08:00Z", "2026-11-20T12:08:00.4Z");
        let f = region("eu", Some(&fresh), bound, now);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].level, Level::Ok, "{}", f[0]);
        assert!(f[0].said.contains("2 min ago") || f[0].said.contains("119 s"));

        let stale = last("2026-11-20T12:00:00Z", "2026-11-20T12:00:01Z");
        let f = region("eu", Some(&stale), bound, now);
        assert_eq!(f[0].level, Level::Problem);
        assert!(
            f[0].said.starts_with("stale: last written 9 min ago"),
            "{}",
            f[0]
        );

        let f = region("us", None, bound, now);
        assert_eq!(f[0].level, Level::Problem);
        assert!(f[0].to_string().contains("never seen"));
        assert!(f[0].to_string().contains("pharos-probe@us"));
    }

    #[test]
    fn a_worker_clock_off_by_more_than_the_tolerance_is_a_problem_either_way() {
        let now = at("2026-11-20T12:10:00Z");
        let bound = Duration::seconds(200);
        // Written by a clock 5 min ahead: fresh by the store, but off.
        let ahead = last("2026-11-20T12:14:00Z", "2026-11-20T12:09:00Z");
        let f = region("eu", Some(&ahead), bound, now);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].level, Level::Ok);
        assert_eq!(f[1].level, Level::Problem);
        assert!(f[1].said.contains("5 min ahead of"), "{}", f[1]);
        let behind = last("2026-11-20T12:08:30Z", "2026-11-20T12:09:00Z");
        let f = region("eu", Some(&behind), bound, now);
        assert!(f[1].said.contains("30 s behind"), "{}", f[1]);
        // A slow upload or a truncated Last-Modified is no offset.
        let slow = last("2026-11-20T12:08:55.7Z", "2026-11-20T12:09:05Z");
        assert_eq!(region("eu", Some(&slow), bound, now).len(), 1);
    }

    #[test]
    fn this_machines_clock_is_judged_by_a_scratch_objects_last_modified() {
        let sent = at("2026-11-20T12:00:00.2Z");
        let answered = at("2026-11-20T12:00:00.9Z");
        assert_eq!(
            host_clock(sent, at("2026-11-20T12:00:00Z"), answered).level,
            Level::Ok
        );
        let f = host_clock(sent, at("2026-11-20T12:01:00Z"), answered);
        assert_eq!(f.level, Level::Problem);
        assert!(f.said.starts_with("59 s behind"), "{f}");
        let f = host_clock(sent, at("2026-11-20T11:58:00Z"), answered);
        assert!(f.said.starts_with("119 s ahead"), "{f}");
    }

    #[test]
    fn the_open_files_limit_is_held_against_the_concurrency() {
        assert_eq!(descriptors(1024, 4096, 64).level, Level::Ok);
        let f = descriptors(1024, 4096, 2000);
        assert_eq!(f.level, Level::Problem);
        assert!(f.to_string().contains("LimitNOFILE=2256"), "{f}");
        assert!(f.to_string().contains("--concurrency 768"), "{f}");
        assert!(
            !descriptors(200, 200, 64)
                .to_string()
                .contains("--concurrency 0")
        );
    }

    #[test]
    fn icmp_without_permission_matters_only_when_a_probe_pings() {
        assert_eq!(icmp(Ok("dgram"), 3, "0 0").level, Level::Ok);
        assert_eq!(icmp(Err("permission denied"), 0, "1 0").level, Level::Ok);
        let f = icmp(Err("permission denied"), 2, "1 0");
        assert_eq!(f.level, Level::Problem);
        assert!(f.to_string().contains("ping_group_range"), "{f}");
        assert!(f.to_string().contains("\"1 0\""), "{f}");
    }
}
