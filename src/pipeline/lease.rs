//! Which of several builders is the active one: any number of `watch --publish` processes
//! may build from the same state, but only the holder of the builder lease publishes and
//! announces; the others stand by and take over when it stops.
//!
//! In object storage the lease is an object beside the regions (`.builder-lease.json`)
//! written with the same conditional writes as the worker guard: created only if absent,
//! renewed only while its ETag is the one this builder wrote. A standby takes it over when
//! it has seen the same ETag for a whole lease period on its own clock (so no two clocks
//! are compared); the holder stops acting once it has not renewed for two thirds of a
//! period, before any standby can take over. With state in a folder, the lease is a lock
//! on `.builder.lock` there, released by the kernel when the holder dies. A builder that
//! stops cleanly (SIGTERM, Ctrl-C) releases the lease after its last step (in object
//! storage it writes it, still conditionally, as held by nobody), so a standby takes over
//! at its next look instead of a whole period later. Where the store
//! does not enforce conditional writes (Garage), there is no lease: every builder acts,
//! which is harmless for publishing (the same inputs give the same files, uploaded in the
//! same order) and is said in a warning.

use std::fs::File;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::project::Project;
use crate::state::object::{ControlError, Guard, ObjectStates};
use crate::state::store::Store;

/// The lease object's name (after a dot) beside the regions.
const LEASE_NAME: &str = "builder-lease.json";

/// What a builder does next about the lease. Pure decisions: [`next_step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing: the lease is ours and fresh, or another's and alive.
    Wait,
    /// Write the lease again, keeping it.
    Renew,
    /// Take the lease: create it (none seen) or replace the one seen unchanged too long.
    Take,
    /// Stop acting: ours but not renewed for too long (a standby may take it soon).
    StepDown,
}

/// What a builder knows of the lease, on its own monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Ours, last written at this instant.
    Ours(Instant),
    /// Another builder's, with the same ETag since this instant.
    Theirs(Instant),
    /// There is none.
    Free,
}

/// The next step at `now` with lease period `period`: renew ours every third of a period
/// and give it up after two thirds without a renewal; take one that is free or that
/// nobody renewed for a whole period.
pub fn next_step(seen: Seen, now: Instant, period: Duration) -> Step {
    match seen {
        Seen::Ours(renewed) if now.duration_since(renewed) >= period * 2 / 3 => Step::StepDown,
        Seen::Ours(renewed) if now.duration_since(renewed) >= period / 3 => Step::Renew,
        Seen::Ours(_) => Step::Wait,
        Seen::Theirs(since) if now.duration_since(since) >= period => Step::Take,
        Seen::Theirs(_) => Step::Wait,
        Seen::Free => Step::Take,
    }
}

/// The builder lease of one process.
pub struct Lease {
    backing: Backing,
    period: Duration,
    /// Whether this builder acted as the active one at the last look.
    active: bool,
}

enum Backing {
    Folder {
        path: std::path::PathBuf,
        held: Option<File>,
    },
    Object(Box<ObjectLease>),
    /// No lease to be had: every builder acts.
    Unguarded,
}

struct ObjectLease {
    states: ObjectStates,
    guard: Guard,
    runtime: tokio::runtime::Runtime,
    me: String,
    seen: Seen,
    /// The ETag of the lease as last seen or written.
    etag: Option<String>,
    last_look: Option<Instant>,
}

impl Lease {
    /// The lease of `project`'s state store, with lease period `period`.
    pub fn new(project: &Project, period: Duration) -> Result<Lease> {
        let backing = match project.store()? {
            Store::Local(l) => {
                std::fs::create_dir_all(l.dir())
                    .with_context(|| format!("creating {}", l.dir().display()))?;
                Backing::Folder {
                    path: l.dir().join(".builder.lock"),
                    held: None,
                }
            }
            Store::Object(states) => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting the async runtime")?;
                let guard = runtime.block_on(states.guard_of_store())?;
                if let Some(why) = guard.off_because {
                    tracing::warn!(
                        "this store does not enforce conditional writes ({why}), so builders cannot elect one: \
                         every `watch --publish` publishes and announces. Publishing twice is harmless (the same \
                         inputs make the same files, sent in the same order); run one builder with --announce"
                    );
                    Backing::Unguarded
                } else {
                    Backing::Object(Box::new(ObjectLease {
                        states,
                        guard,
                        runtime,
                        me: format!(
                            "{}-{}-{:08x}",
                            crate::state::store::host_name(),
                            std::process::id(),
                            fastrand::u32(..)
                        ),
                        seen: Seen::Free,
                        etag: None,
                        last_look: None,
                    }))
                }
            }
        };
        Ok(Lease {
            backing,
            period,
            active: false,
        })
    }

    /// Give the lease up, when it is ours, so a standby takes it at its next look: in
    /// object storage it is written as held by nobody (only while it still has the ETag we
    /// wrote); a folder's lock is let go. Called once this builder has stopped acting.
    pub fn release(&mut self) {
        match &mut self.backing {
            Backing::Unguarded => {}
            Backing::Folder { held, .. } => *held = None,
            Backing::Object(lease) => lease.release(),
        }
        if self.active {
            tracing::info!("released the builder lease");
            self.active = false;
        }
    }

    /// Whether this builder is the active one now, looking at (and renewing or taking)
    /// the lease as due. Cheap between looks: call it often.
    pub fn is_active(&mut self) -> bool {
        let now = self.check();
        if now != self.active {
            if now {
                tracing::info!("this builder holds the lease: it publishes and announces");
            } else {
                tracing::info!("standing by: another builder holds the lease");
            }
            self.active = now;
        }
        now
    }

    fn check(&mut self) -> bool {
        let period = self.period;
        match &mut self.backing {
            Backing::Unguarded => true,
            Backing::Folder { path, held } => {
                if held.is_none() {
                    let file = std::fs::OpenOptions::new()
                        .create(true)
                        .truncate(false)
                        .write(true)
                        .open(&*path);
                    match file {
                        Ok(f) if f.try_lock().is_ok() => *held = Some(f),
                        Ok(_) => {}
                        Err(e) => tracing::warn!("{}: {e}", path.display()),
                    }
                }
                held.is_some()
            }
            Backing::Object(lease) => lease.check(period),
        }
    }
}

impl ObjectLease {
    fn check(&mut self, period: Duration) -> bool {
        let now = Instant::now();
        let look_every = period / 6;
        let due = self
            .last_look
            .is_none_or(|t| now.duration_since(t) >= look_every);
        if !due {
            return self.acting(now, period);
        }
        self.last_look = Some(now);
        if !matches!(self.seen, Seen::Ours(_)) {
            self.look(now);
        }
        match next_step(self.seen, now, period) {
            Step::Wait => {}
            Step::Renew | Step::Take => self.write(now),
            Step::StepDown => {
                tracing::warn!(
                    "the lease could not be renewed for {} s: standing by, so a standby can take over safely",
                    (period * 2 / 3).as_secs()
                );
                self.seen = Seen::Theirs(now);
            }
        }
        self.acting(now, period)
    }

    /// Acting as the active builder: the lease is ours and renewed recently enough.
    fn acting(&self, now: Instant, period: Duration) -> bool {
        matches!(self.seen, Seen::Ours(renewed) if now.duration_since(renewed) < period * 2 / 3)
    }

    /// Read the lease: who holds it, and whether it changed since the last look.
    fn look(&mut self, now: Instant) {
        match self.runtime.block_on(self.states.get_control(LEASE_NAME)) {
            Ok(None) => {
                self.seen = Seen::Free;
                self.etag = None;
            }
            // Released by a builder that stopped: free, and taken by replacing that write.
            Ok(Some((body, etag))) if released(&body) => {
                self.seen = Seen::Free;
                self.etag = etag;
            }
            Ok(Some((_, etag))) => {
                if etag != self.etag || !matches!(self.seen, Seen::Theirs(_)) {
                    self.seen = Seen::Theirs(now);
                    self.etag = etag;
                }
            }
            // A failed look proves nothing: only a new ETag (or none) does.
            Err(e) => tracing::warn!("reading the builder lease: {e:#}"),
        }
    }

    /// Write the lease as held by nobody, if it is still the one we wrote.
    fn release(&mut self) {
        if !matches!(self.seen, Seen::Ours(_)) {
            return;
        }
        let put = self.states.put_control(
            LEASE_NAME,
            lease_body(None).into(),
            self.etag.as_deref(),
            self.guard,
        );
        match self.runtime.block_on(put) {
            Ok(etag) => self.etag = etag,
            // Taken over meanwhile: nothing of ours to give up.
            Err(ControlError::Conflict(_)) => {}
            Err(ControlError::Failed(e)) => {
                tracing::warn!(
                    "releasing the builder lease (a standby takes it over when it runs out): {e:#}"
                );
            }
        }
        self.seen = Seen::Free;
    }

    /// Renew or take the lease.
    fn write(&mut self, now: Instant) {
        let body = lease_body(Some(&self.me));
        let put =
            self.states
                .put_control(LEASE_NAME, body.into(), self.etag.as_deref(), self.guard);
        match self.runtime.block_on(put) {
            Ok(etag) => {
                self.etag = etag;
                self.seen = Seen::Ours(now);
            }
            Err(ControlError::Conflict(_)) => {
                // Another builder got there first.
                self.seen = Seen::Theirs(now);
                self.etag = None;
                self.look(now);
            }
            Err(ControlError::Failed(e)) => {
                tracing::warn!("writing the builder lease: {e:#}");
            }
        }
    }
}

/// The lease object's text: its holder (`null` once released) and when it was written.
fn lease_body(holder: Option<&str>) -> String {
    serde_json::json!({
        "holder": holder,
        "renewed_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
    .to_string()
}

/// Whether a lease object's text says it was released (held by nobody).
fn released(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|v| v.get("holder").is_some_and(serde_json::Value::is_null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_renewed_given_up_and_taken_over_in_that_order() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let period = Duration::from_secs(15);
        assert_eq!(next_step(Seen::Free, t0, period), Step::Take);
        assert_eq!(next_step(Seen::Ours(t0), s(4), period), Step::Wait);
        assert_eq!(next_step(Seen::Ours(t0), s(5), period), Step::Renew);
        assert_eq!(next_step(Seen::Ours(t0), s(10), period), Step::StepDown);
        assert_eq!(next_step(Seen::Theirs(t0), s(14), period), Step::Wait);
        assert_eq!(next_step(Seen::Theirs(t0), s(15), period), Step::Take);
        // The holder stops acting (10 s after its last renewal) before anyone who saw
        // that renewal can take over (15 s after seeing it, at the earliest).
        assert!(period * 2 / 3 < period);
    }

    #[test]
    fn a_released_lease_says_so_and_a_held_one_does_not() {
        assert!(released(lease_body(None).as_bytes()));
        assert!(!released(lease_body(Some("host-1-0a")).as_bytes()));
        // A lease written by an older Pharos, or damaged, is not taken as released.
        assert!(!released(
            br#"{"holder":"host-1-0a","renewed_at":"2026-11-20T12:00:00Z"}"#
        ));
        assert!(!released(b"not json"));
        assert!(!released(b"{}"));
    }
}
