//! Step 2 (probe) over time, the worker's pen: when the region's state is written. A
//! change of a probe's confirmed or pending health is news, written within one write
//! period; other samples wait for the heartbeat (the shortest probe interval), so a quiet
//! region costs a write per interval, not one every few seconds. A write runs beside the
//! schedule, so checks keep starting on time. The writer travels with it
//! and comes back when it is done; samples that finish meanwhile are held (the write is
//! reading the state) and recorded after it. Every sample is also kept (`spool::Unsaved`)
//! until a write that holds it goes through, so a stop while the store is away can leave
//! them for the next worker.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Result;
use chrono::Utc;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;

use crate::state::RegionState;
use crate::state::object::WriteError;
use crate::state::spool::Unsaved;
use crate::state::store::Writer;

/// A finished write: the writer back, and how the write went.
/// The write's result is whether it carried the open days' pieces too.
pub(super) type Written = Result<(Writer, Result<bool, WriteError>), JoinError>;

/// The state's writes: the writer (or the write that holds it), what waits for it, and
/// whether the state has news.
pub(super) struct Writes {
    /// `None` while a write holds it, and until the store first answers.
    writer: Option<Writer>,
    writing: Option<JoinHandle<(Writer, Result<bool, WriteError>)>>,
    /// Samples finished while a write was reading the state: (probe index, sample).
    pub(super) held: Vec<(usize, crate::state::Sample)>,
    /// Whether the state has samples no write has taken yet.
    pub(super) dirty: bool,
    /// Whether a probe's confirmed or pending health changed since the last write.
    pub(super) news: bool,
    last_write: Instant,
    /// Samples without news are written at least this often (the shortest probe
    /// interval), so the builder never finds a region stale.
    heartbeat: Duration,
    /// With object storage: write at least this often, news or not.
    keepalive: Option<Duration>,
    flush_every: Duration,
    /// Writes that went through.
    pub(super) count: u64,
    /// Every sample no write that went through holds yet, oldest first.
    pub(super) unsaved: Unsaved,
    /// How many of `unsaved` the write in flight holds.
    taken: usize,
}

impl Writes {
    /// The writes of a worker that has not written yet: with its writer, or without one
    /// until the store answers (see [`Writes::give`]).
    pub(super) fn new(
        writer: Option<Writer>,
        keepalive: Option<Duration>,
        flush_every: Duration,
        heartbeat: Duration,
        unsaved: Unsaved,
    ) -> Self {
        Writes {
            writer,
            writing: None,
            held: Vec::new(),
            dirty: false,
            news: false,
            heartbeat: heartbeat.max(flush_every),
            last_write: Instant::now()
                .checked_sub(flush_every)
                .unwrap_or_else(Instant::now),
            keepalive,
            flush_every,
            count: 0,
            unsaved,
            taken: 0,
        }
    }

    /// The writer, once the store answered.
    pub(super) fn give(&mut self, writer: Writer) {
        self.writer = Some(writer);
        self.dirty = true;
        self.news = true;
    }

    /// Whether a write is in flight.
    pub(super) fn in_flight(&self) -> bool {
        self.writing.is_some()
    }

    /// How long after the last write the next one is due: news waits at most
    /// `flush_every`, other samples at most the heartbeat; with object storage a write
    /// also comes at least every `keepalive`, samples or not, so a starting worker sees
    /// this one alive.
    pub(super) fn within(&self) -> Option<Duration> {
        let wait = if self.news {
            Some(self.flush_every)
        } else if self.dirty {
            Some(self.heartbeat)
        } else {
            None
        };
        match (wait, self.keepalive) {
            (Some(w), Some(k)) => Some(w.min(k)),
            (w, k) => w.or(k),
        }
    }

    /// When to wake up to write (never during a write, nor in a `--once` round).
    pub(super) fn wake_at(&self, within: Option<Duration>, once: bool) -> Option<Instant> {
        // Without a writer (the store has not answered yet) there is nothing to write.
        if once || self.writing.is_some() || self.writer.is_none() {
            None
        } else {
            within.map(|w| self.last_write + w)
        }
    }

    /// Start a write when one is due by `within` (as computed before the wait).
    pub(super) fn start_if_due(
        &mut self,
        within: Option<Duration>,
        once: bool,
        state: &Arc<RwLock<RegionState>>,
    ) {
        let due = within.is_some_and(|w| self.last_write.elapsed() >= w);
        if !due || once || self.writing.is_some() {
            return;
        }
        let Some(mut w) = self.writer.take() else {
            return;
        };
        self.last_write = Instant::now();
        // What the write takes is saved unless it fails (then `finish` says so).
        self.dirty = false;
        self.news = false;
        self.taken = self.unsaved.len();
        let state = state.clone();
        self.writing = Some(tokio::spawn(async move {
            let result = flush(&state, &mut w, false).await;
            (w, result)
        }));
    }

    /// Wait for the write in flight (the caller polls this only when there is one).
    pub(super) async fn join(&mut self) -> Written {
        match &mut self.writing {
            Some(handle) => handle.await,
            None => std::future::pending().await,
        }
    }

    /// Take back the writer from a finished write, with the write counted, or marked to
    /// be tried again when the store was unreachable or full. A fatal failure stops the
    /// worker.
    pub(super) fn finish(&mut self, done: Written) -> Result<()> {
        self.writing = None;
        let (writer, result) =
            done.map_err(|e| anyhow::anyhow!("internal error: writing the state crashed: {e}"))?;
        match result {
            // With the open days' pieces, every sample it took is in the store; with the
            // live object only, their counts are not yet.
            Ok(whole) => {
                self.count += 1;
                if whole {
                    self.unsaved.saved(self.taken);
                }
            }
            // Unreachable store or full disk: keep probing, try again at the next write.
            Err(WriteError::Failed(e)) => {
                tracing::warn!("{e:#}; will try again");
                self.dirty = true;
                self.news = true;
            }
            Err(e @ WriteError::Fatal(_)) => return Err(e.into()),
        }
        self.writer = Some(writer);
        Ok(())
    }

    /// At stop: the write in flight ends first; then the writer, for the last write
    /// (`None` when the store never answered).
    pub(super) async fn settle(&mut self) -> Result<Option<Writer>> {
        if self.writing.is_some() {
            let done = self.join().await;
            self.finish(done)?;
        }
        Ok(self.writer.take())
    }
}

/// Stamp and write the state; `all` writes the open days' pieces whether due or not.
pub(super) async fn flush(
    state: &Arc<RwLock<RegionState>>,
    writer: &mut Writer,
    all: bool,
) -> Result<bool, WriteError> {
    let now = Utc::now();
    state.write().unwrap_or_else(|e| e.into_inner()).written_at = now;
    writer.write(state, now, all).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_writer_nothing_wakes_the_worker_to_write() {
        let mut writes = Writes::new(
            None,
            Some(Duration::from_secs(5)),
            Duration::from_secs(2),
            Duration::from_secs(30),
            Unsaved::default(),
        );
        writes.dirty = true;
        let within = writes.within();
        assert!(within.is_some(), "there is news to write");
        // A wake-up in the past would spin the worker until the store answers.
        assert_eq!(writes.wake_at(within, false), None);
    }

    #[test]
    fn news_is_written_within_the_write_period_other_samples_by_the_heartbeat() {
        let second = Duration::from_secs;
        let mut writes = Writes::new(None, None, second(2), second(30), Unsaved::default());
        assert_eq!(
            writes.within(),
            None,
            "a folder with nothing new is not written"
        );
        writes.dirty = true;
        assert_eq!(writes.within(), Some(second(30)));
        writes.news = true;
        assert_eq!(writes.within(), Some(second(2)));
        // Object storage: the keepalive bounds every wait.
        let mut writes = Writes::new(
            None,
            Some(second(10)),
            second(2),
            second(30),
            Unsaved::default(),
        );
        assert_eq!(writes.within(), Some(second(10)));
        writes.dirty = true;
        assert_eq!(writes.within(), Some(second(10)));
        writes.news = true;
        assert_eq!(writes.within(), Some(second(2)));
    }
}
