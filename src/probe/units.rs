//! Step 2 (probe): how samples write durations: details in words (`850ms`, `1.5s`),
//! timings in milliseconds rounded to the microsecond.

use std::time::Duration;

/// Format a duration the way details show it: `850ms`, `5s`, `1.5s`.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Milliseconds rounded to the microsecond, so state files stay short and readable.
pub(crate) fn round_ms(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// A duration in milliseconds, rounded as [`round_ms`] does.
pub(crate) fn ms(d: Duration) -> f64 {
    round_ms(d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(fmt_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(fmt_duration(Duration::from_secs(5)), "5s");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1.5s");
    }
}
