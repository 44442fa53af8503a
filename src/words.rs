//! How messages write a duration, one way everywhere: probe details, config errors,
//! command output and logs. (Pages say durations in their own language: `site`.)

use std::time::Duration;

/// A duration for a message: `850ms`, `5s`, `1.5s` under a minute; from a minute on, in
/// whole seconds by unit: `2m`, `1m 30s`, `1h 5m`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        if ms.is_multiple_of(1000) {
            format!("{}s", ms / 1000)
        } else {
            format!("{:.1}s", d.as_secs_f64())
        }
    } else {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        let s = |ms: u64| duration(Duration::from_millis(ms));
        assert_eq!(s(850), "850ms");
        assert_eq!(s(5_000), "5s");
        assert_eq!(s(1_500), "1.5s");
        assert_eq!(s(90_000), "1m 30s");
        assert_eq!(s(120_400), "2m");
        assert_eq!(s(3_900_000), "1h 5m");
    }
}
