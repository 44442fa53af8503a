//! Step 2 (probe) over time, the worker's clock: when each probe runs next. Each probe has
//! a fixed grid: its first run at a random offset within a fifth of its interval (at most
//! 1 s), then every interval. Each run adds a small jitter that does not accumulate, so
//! probes and regions do not fire together and do not drift.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Probe;

/// One scheduled run: when, the grid point it belongs to, and which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Slot {
    pub(super) at: Instant,
    pub(super) base: Instant,
    pub(super) probe: usize,
}

/// The run after `slot`: the next grid point not in the past (rounds missed while the
/// worker was stopped or starved are skipped, not replayed), plus a jitter of `draw`
/// (in [0, 1)) times 2 % of the interval, at most 1 s.
pub(super) fn next_slot(slot: Slot, interval: Duration, now: Instant, draw: f64) -> Slot {
    let mut base = slot.base + interval;
    if base < now {
        let behind = now - base;
        let missed = (behind.as_nanos() / interval.as_nanos().max(1)) as u32 + 1;
        base += interval * missed;
        tracing::warn!(
            behind_ms = behind.as_millis() as u64,
            missed,
            "the worker fell behind its schedule; skipping missed rounds"
        );
    }
    let jitter = interval.min(Duration::from_secs(50)).mul_f64(draw * 0.02);
    Slot {
        at: base + jitter,
        base,
        probe: slot.probe,
    }
}

/// The runs to come, soonest first.
pub(super) struct Schedule {
    due: BinaryHeap<Reverse<Slot>>,
    /// With `--once`: every probe runs once, and the schedule ends when all have started.
    once: bool,
    remaining_once: usize,
}

impl Schedule {
    /// Every probe's first run from `start`: at once with `once`, else at its offset.
    pub(super) fn new(probes: &[Probe], once: bool, start: Instant) -> Schedule {
        let mut due = BinaryHeap::new();
        for (i, p) in probes.iter().enumerate() {
            let offset = if once {
                Duration::ZERO
            } else {
                p.interval
                    .min(Duration::from_secs(5))
                    .mul_f64(fastrand::f64() * 0.2)
            };
            let base = start + offset;
            due.push(Reverse(Slot {
                at: base,
                base,
                probe: i,
            }));
        }
        Schedule {
            due,
            once,
            remaining_once: probes.len(),
        }
    }

    /// When the soonest run is due.
    pub(super) fn next_at(&self) -> Option<Instant> {
        self.due.peek().map(|Reverse(slot)| slot.at)
    }

    /// Whether every run of a `--once` round has started.
    pub(super) fn ended(&self) -> bool {
        self.once && self.remaining_once == 0
    }

    /// Take the soonest run if it is due at `now`, and schedule the probe's next one.
    pub(super) fn pop_due(&mut self, now: Instant, probes: &[Probe]) -> Option<Slot> {
        let Reverse(slot) = self.due.peek().copied()?;
        if slot.at > now {
            return None;
        }
        self.due.pop();
        if self.once {
            self.remaining_once -= 1;
        } else {
            let interval = probes[slot.probe].interval;
            self.due
                .push(Reverse(next_slot(slot, interval, now, fastrand::f64())));
        }
        Some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn slot_at(base: Instant) -> Slot {
        Slot {
            at: base + Duration::from_millis(7),
            base,
            probe: 3,
        }
    }

    #[test]
    fn a_slot_on_time_keeps_its_grid() {
        let t0 = Instant::now();
        let interval = 30 * SECOND;
        let next = next_slot(slot_at(t0), interval, t0 + SECOND, 0.0);
        assert_eq!(
            next.base,
            t0 + interval,
            "one interval after the grid point"
        );
        assert_eq!(next.at, next.base, "no jitter drawn");
        assert_eq!(next.probe, 3);
        // The jitter of the run before does not carry over: the grid stays put.
        let after = next_slot(next, interval, t0 + interval + SECOND, 0.0);
        assert_eq!(after.base, t0 + 2 * interval);
    }

    #[test]
    fn the_jitter_is_at_most_two_percent_and_one_second() {
        let t0 = Instant::now();
        let short = next_slot(slot_at(t0), 10 * SECOND, t0, 0.5);
        assert_eq!(short.at - short.base, Duration::from_millis(100));
        let almost_one = 1.0 - f64::EPSILON;
        let long = next_slot(slot_at(t0), 3600 * SECOND, t0, almost_one);
        assert!(long.at - long.base <= SECOND, "{:?}", long.at - long.base);
        assert!(long.at - long.base > Duration::from_millis(999));
    }

    #[test]
    fn a_grid_point_due_exactly_now_is_kept() {
        let t0 = Instant::now();
        let interval = 10 * SECOND;
        let next = next_slot(slot_at(t0), interval, t0 + interval, 0.0);
        assert_eq!(next.base, t0 + interval);
    }

    #[test]
    fn rounds_missed_in_a_stall_are_skipped_not_replayed() {
        let t0 = Instant::now();
        let interval = 10 * SECOND;
        // Stalled 35 s: the grid points at 10, 20 and 30 s are gone; the next is at 40 s.
        let next = next_slot(slot_at(t0), interval, t0 + 35 * SECOND, 0.0);
        assert_eq!(next.base, t0 + 4 * interval);
        assert!(next.at >= t0 + 35 * SECOND);
        // Just past a grid point: that point is gone too.
        let next = next_slot(
            slot_at(t0),
            interval,
            t0 + 20 * SECOND + Duration::from_nanos(1),
            0.0,
        );
        assert_eq!(next.base, t0 + 3 * interval);
    }

    #[test]
    fn after_a_stall_the_next_run_is_never_in_the_past_and_stays_on_the_grid() {
        let t0 = Instant::now();
        for interval_ms in [250u64, 1000, 30_000, 86_400_000] {
            let interval = Duration::from_millis(interval_ms);
            for behind_ms in [1u64, 249, 250, 251, 999, 59_999, 3_600_001] {
                let now = t0 + interval + Duration::from_millis(behind_ms);
                let next = next_slot(slot_at(t0), interval, now, 0.3);
                assert!(next.base >= now, "{interval_ms} ms, {behind_ms} ms behind");
                assert!(next.base - now <= interval);
                let steps = (next.base - t0).as_nanos() / interval.as_nanos();
                assert_eq!(t0 + interval * steps as u32, next.base, "on the grid");
            }
        }
    }
}
