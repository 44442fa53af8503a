//! Step 2 (probe) over time, the worker's clock: when each probe runs next. Each probe has
//! a fixed grid: every interval from the Unix epoch, shifted by the probe's own place in
//! the interval (a hash of its id), so thousands of probes spread evenly over their
//! interval instead of starting together, and every region's worker (and a restarted one)
//! runs a probe at the same moments. Each run adds a small jitter that does not
//! accumulate, so the grid does not drift.

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

/// How often a busy worker wakes to start checks.
pub(super) const TICK: Duration = Duration::from_millis(10);

/// The runs to come, soonest first.
pub(super) struct Schedule {
    due: BinaryHeap<Reverse<Slot>>,
    /// The worker's start: wake-ups fall on its [`TICK`] grid.
    start: Instant,
    /// With `--once`: every probe runs once, and the schedule ends when all have started.
    once: bool,
    remaining_once: usize,
}

/// Where in its interval probe `id` runs, as a fraction in [0, 1): a hash of the id
/// (SipHash-1-3 with zero keys, which is specified, so the place survives restarts and
/// upgrades).
pub(super) fn phase(id: &str) -> f64 {
    use std::hash::Hasher;
    let mut h = siphasher::sip::SipHasher13::new();
    h.write(id.as_bytes());
    // The top 53 bits, as many as an f64's fraction holds.
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// How long after `since_epoch` (the wall clock, as time since the Unix epoch) the grid
/// of a probe with `interval` and `phase` has its next point: the grid is every
/// `interval` from the epoch plus `phase` × `interval`. Zero when a point is now.
pub(super) fn until_grid(interval: Duration, phase: f64, since_epoch: Duration) -> Duration {
    let every = interval.as_nanos().max(1);
    let offset = (every as f64 * phase.clamp(0.0, 1.0)) as u128 % every;
    let into = since_epoch.as_nanos() % every;
    let wait = (offset + every - into) % every;
    Duration::from_nanos(u64::try_from(wait).unwrap_or(u64::MAX))
}

impl Schedule {
    /// Every probe's first run: at `start` with `once`, else at its next grid point after
    /// `start`, which is `since_epoch` on the wall clock.
    pub(super) fn new(
        probes: &[Probe],
        once: bool,
        start: Instant,
        since_epoch: Duration,
    ) -> Schedule {
        let mut due = BinaryHeap::new();
        for (i, p) in probes.iter().enumerate() {
            let offset = if once {
                Duration::ZERO
            } else {
                until_grid(p.interval, phase(&p.id), since_epoch)
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
            start,
            once,
            remaining_once: probes.len(),
        }
    }

    /// When the soonest run is due.
    pub(super) fn next_at(&self) -> Option<Instant> {
        self.due.peek().map(|Reverse(slot)| slot.at)
    }

    /// The first tick at or after `at`: the worker wakes on ticks to start what is due,
    /// so that at 1,000 checks a second it wakes 100 times, not 1,000 (each check starts
    /// at most one tick late).
    pub(super) fn tick_after(&self, at: Instant) -> Instant {
        let tick = TICK.as_nanos();
        let into = at.saturating_duration_since(self.start).as_nanos();
        u64::try_from(into.div_ceil(tick) * tick)
            .map_or(at, |n| self.start + Duration::from_nanos(n))
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
    fn probes_spread_evenly_over_their_interval_and_keep_their_place() {
        const PINNED: f64 = 0.358_056_127_767_060_75;
        // 60,000 probes over a 60 s interval: every second of it gets about 1,000 first
        // runs (a hash is not exact: within 15 %), where all used to fall in the first.
        let mut per_second = [0u32; 60];
        for n in 0..60_000 {
            let p = phase(&format!("probe-{n}"));
            assert!((0.0..1.0).contains(&p));
            per_second[(p * 60.0) as usize] += 1;
        }
        let (least, most) = (per_second.iter().min(), per_second.iter().max());
        assert!(least >= Some(&850) && most <= Some(&1150), "{per_second:?}");
        // SipHash-1-3 with zero keys is specified: a probe's place never moves.
        assert_eq!(phase("api-health"), PINNED, "stable across builds");
        assert_ne!(phase("api-health"), phase("api-health2"));
    }

    #[test]
    fn the_worker_wakes_on_the_first_tick_at_or_after_a_run() {
        let start = Instant::now();
        let schedule = Schedule::new(&[], false, start, Duration::ZERO);
        let ms = |n: u64| start + Duration::from_millis(n);
        assert_eq!(schedule.tick_after(ms(0)), ms(0));
        assert_eq!(schedule.tick_after(ms(1)), ms(10));
        assert_eq!(schedule.tick_after(ms(10)), ms(10));
        assert_eq!(
            schedule.tick_after(ms(86_400_000 * 900 + 3)),
            ms(86_400_000 * 900 + 10),
            "long after the start"
        );
        assert_eq!(
            schedule.tick_after(start + Duration::from_nanos(10_000_001)),
            ms(20)
        );
    }

    #[test]
    fn the_first_run_is_the_next_point_of_the_epoch_grid() {
        let interval = 60 * SECOND;
        let at = |s: u64, ms: u64| Duration::from_secs(s) + Duration::from_millis(ms);
        // Phase 0.25 of 60 s: the points are at :15 of every minute.
        assert_eq!(
            until_grid(interval, 0.25, at(1_800_000_000, 0)),
            15 * SECOND
        );
        assert_eq!(
            until_grid(interval, 0.25, at(1_800_000_015, 0)),
            Duration::ZERO
        );
        assert_eq!(
            until_grid(interval, 0.25, at(1_800_000_015, 1)),
            at(59, 999),
            "just missed: the next minute"
        );
        // Never more than one interval away, for any clock and phase.
        for (p, s) in [(0.0, 7), (0.5, 1_799_999_999), (0.999_999, 3)] {
            assert!(until_grid(interval, p, at(s, 250)) < interval);
        }
        // A restart keeps the grid: the same point, from whenever it starts.
        let from_a = at(1_800_000_003, 0) + until_grid(interval, 0.4, at(1_800_000_003, 0));
        let from_b = at(1_800_000_011, 0) + until_grid(interval, 0.4, at(1_800_000_011, 0));
        assert_eq!(from_a, from_b);
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
