//! Step 2 (probe): what one attempt of a check gives: the sample, and how it failed when
//! it did. Every check kind ends with an [`Outcome`]; `check` re-checks and settles it.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::failure::{Failure, FailureKind};
use crate::config::Probe;
use crate::state::{Health, Sample};

/// What a check concluded: a health it saw, with its detail (up, degraded, or unknown as
/// a plugin or a heartbeat says), or a failure, whose kind gives the health. Every down
/// verdict is a [`Failure`].
pub(crate) type Verdict = Result<(Health, String), Failure>;

/// One attempt of a check.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The sample, health and detail included.
    pub(crate) sample: Sample,
    /// How the attempt failed, when it did; every down sample has one.
    pub(crate) failure: Option<FailureKind>,
}

impl Outcome {
    /// The outcome of `verdict`, with the facts already in `sample` (its health and
    /// detail are the verdict's). Should a down health come without a [`Failure`], it
    /// counts as the target's, so that every down sample is re-checked as before.
    pub(crate) fn judged(mut sample: Sample, verdict: Verdict) -> Outcome {
        let failure = match verdict {
            Ok((Health::Down, detail)) => {
                sample.detail = detail;
                Some(FailureKind::Target)
            }
            Ok((health, detail)) => {
                sample.detail = detail;
                sample.health = health;
                None
            }
            Err(f) => {
                sample.detail = f.detail;
                Some(f.kind)
            }
        };
        if let Some(kind) = failure {
            sample.health = kind.health();
        }
        Outcome { sample, failure }
    }

    /// The outcome of `verdict` at `at`, with no other facts.
    pub(crate) fn at(at: DateTime<Utc>, verdict: Verdict) -> Outcome {
        Outcome::judged(blank(at), verdict)
    }

    /// The outcome of `verdict` now, with no other facts.
    pub(crate) fn now(verdict: Verdict) -> Outcome {
        Outcome::at(Utc::now(), verdict)
    }

    /// Whether the attempt failed in a way a new attempt may not repeat.
    pub(crate) fn rechecked(&self) -> bool {
        self.failure.is_some_and(FailureKind::rechecked)
    }
}

/// A sample at `at` whose health and detail a verdict sets.
pub(crate) fn blank(at: DateTime<Utc>) -> Sample {
    Sample::new(at, Health::Unknown, String::new())
}

/// Turn a measured success into up or degraded by the probe's latency threshold.
pub(crate) fn grade(probe: &Probe, elapsed: Duration, ok_detail: String) -> (Health, String) {
    match probe.degraded_after {
        Some(limit) if elapsed > limit => (
            Health::Degraded,
            format!(
                "slow: {} > {} ({ok_detail})",
                crate::words::duration(elapsed),
                crate::words::duration(limit)
            ),
        ),
        _ => (Health::Up, ok_detail),
    }
}

/// A timeout of the whole check: the target did not finish in time.
pub(crate) fn timed_out(timeout: Duration, phase: &str) -> Failure {
    Failure::target(format!(
        "timeout after {} during {phase}",
        crate::words::duration(timeout)
    ))
}
