//! Step 2 (probe): how samples record timings: milliseconds rounded to the microsecond.
//! (Details write durations with `words::duration`.)

use std::time::Duration;

/// Milliseconds rounded to the microsecond, so state files stay short and readable.
pub(crate) fn round_ms(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// A duration in milliseconds, rounded as [`round_ms`] does.
pub(crate) fn ms(d: Duration) -> f64 {
    round_ms(d.as_secs_f64() * 1e3)
}
