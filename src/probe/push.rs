//! Step 2 (probe): heartbeats. A job reports itself — `pharos wrap` around a cron or batch
//! job, or an HTTP `POST /heartbeat/<probe>` to a prober started with `--listen` — and the
//! `push` kind is down when the newest heartbeat is older than its interval plus grace, or
//! says the job failed. Heartbeats are files, `state/heartbeats/<probe>.json`, written
//! atomically, so the writer and the checking worker never share memory or a lock.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ctx::{Ctx, RunInfo};
use super::failure::Failure;
use super::outcome::Outcome;
use crate::config::{Probe, PushSpec};
use crate::state::Health;

/// One heartbeat: a job's run, or a bare "I am alive".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// The job's exit code (0 for a bare heartbeat); null when it could not start or was
    /// killed by a signal.
    pub exit_code: Option<i32>,
    /// How long the job ran, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// The end of the job's output.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output_tail: String,
    /// `wrap` or `http`.
    pub source: String,
}

impl Heartbeat {
    /// Whether the job succeeded.
    pub fn ok(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// The heartbeat folder of a project's state folder.
pub fn heartbeat_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("heartbeats")
}

/// Record a heartbeat for `probe_id`, atomically.
pub fn write(dir: &Path, probe_id: &str, beat: &Heartbeat) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_vec_pretty(beat).context("serialising the heartbeat")?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{probe_id}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, &json)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("writing a heartbeat in {}", dir.display()))?;
    let target = dir.join(format!("{probe_id}.json"));
    tmp.persist(&target)
        .map_err(|e| e.error)
        .with_context(|| format!("replacing {}", target.display()))?;
    Ok(())
}

/// The newest heartbeat of `probe_id`, if any. A file this prober cannot read or parse
/// is its own failure, not the job's.
pub fn read(dir: &Path, probe_id: &str) -> Result<Option<Heartbeat>, Failure> {
    let path = dir.join(format!("{probe_id}.json"));
    match crate::input::read_text(&path, crate::input::HEARTBEAT) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            Failure::prober(format!(
                "heartbeat file {} is damaged ({e}); the next heartbeat replaces it",
                path.display()
            ))
        }),
        Err(r) if r.is_missing() => Ok(None),
        Err(r) => Err(Failure::prober(format!("{}: {r}", path.display()))),
    }
}

pub(crate) fn check(probe: &Probe, spec: &PushSpec, ctx: &Ctx, run: &RunInfo) -> Outcome {
    let now = Utc::now();
    let Some(dir) = &ctx.heartbeat_dir else {
        return Outcome::now(Err(Failure::prober("this prober has no heartbeat folder")));
    };
    let deadline = probe.interval + spec.grace;
    let late = |since: DateTime<Utc>| (now - since).to_std().unwrap_or_default() > deadline;
    let expected = format!(
        "expected every {}, grace {}",
        crate::words::duration(probe.interval),
        crate::words::duration(spec.grace)
    );
    let verdict = match read(dir, &probe.id) {
        Err(e) => Err(e),
        Ok(None) if late(run.since) => Err(Failure::target(format!(
            "no heartbeat received since this prober started ({expected})"
        ))),
        Ok(None) => Ok((
            Health::Unknown,
            format!("waiting for the first heartbeat ({expected})"),
        )),
        Ok(Some(beat)) if late(beat.at) => Err(Failure::target(format!(
            "no heartbeat since {} ({expected})",
            beat.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))),
        Ok(Some(beat)) => {
            let ago = crate::words::duration((now - beat.at).to_std().unwrap_or_default());
            let ran = beat
                .duration_ms
                .map(|ms| {
                    format!(
                        " after {}",
                        crate::words::duration(std::time::Duration::from_millis(ms as u64))
                    )
                })
                .unwrap_or_default();
            // The job's output stays in the heartbeat file: details are published on the
            // page, and a job's output is not meant for the public.
            match beat.exit_code {
                Some(0) => Ok((
                    Health::Up,
                    format!("last heartbeat {ago} ago (exit 0{ran})"),
                )),
                Some(code) => Err(Failure::target(format!(
                    "the last run failed {ago} ago with exit code {code}{ran}"
                ))),
                None => Err(Failure::target(format!(
                    "the last run {ago} ago did not finish normally"
                ))),
            }
        }
    };
    Outcome::at(now, verdict)
}
