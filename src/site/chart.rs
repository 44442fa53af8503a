//! Step 5 (site): response-time charts for component pages, as numbers an inline SVG can
//! draw (no script, nothing fetched). Per hour for 7 days and per day for 90 days, from
//! the regions' roll-ups: at each point the median of the regions' medians and the worst
//! of their 95th percentiles, over the component's probes. Pure.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde::Serialize;

use crate::state::RegionState;

/// Drawing area of every chart, in SVG user units.
pub const WIDTH: f64 = 600.0;
/// Height of the drawing area.
pub const HEIGHT: f64 = 160.0;

/// One point of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Start of the hour or day.
    pub at: DateTime<Utc>,
    /// Median latency, ms.
    pub p50: Option<f64>,
    /// 95th percentile latency, ms.
    pub p95: Option<f64>,
}

/// A chart ready for a template: polylines as `points` strings, labels, and a sentence
/// for screen readers.
#[derive(Debug, Clone, Serialize)]
pub struct ChartView {
    /// e.g. "Response time, last 7 days (per hour)".
    pub title: String,
    /// What the chart shows, in words (the SVG's accessible name).
    pub summary: String,
    /// The top of the y axis, e.g. "250 ms".
    pub max_label: String,
    /// Left and right ends of the x axis.
    pub from_label: String,
    /// Right end of the x axis.
    pub to_label: String,
    /// Median: one `points` string per run of hours/days with data.
    pub p50: Vec<String>,
    /// 95th percentile, the same way.
    pub p95: Vec<String>,
    /// The median of the medians, ms.
    pub typical_ms: Option<f64>,
    /// The highest 95th percentile, ms.
    pub worst_ms: Option<f64>,
    /// Drawing width and height, for the viewBox.
    pub width: f64,
    /// Drawing height.
    pub height: f64,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Combine the values every region and probe gives for one slot.
fn combine(at: DateTime<Utc>, p50s: Vec<f64>, p95s: Vec<f64>) -> Point {
    Point {
        at,
        p50: median(p50s),
        p95: p95s.into_iter().reduce(f64::max),
    }
}

/// Per hour, the last 7 days up to `now`, for the probes `ids`.
pub fn hourly(states: &[RegionState], ids: &[&str], now: DateTime<Utc>) -> Vec<Point> {
    let end = now - Duration::seconds(now.timestamp().rem_euclid(3600));
    (0..crate::state::history::HOURLY_KEPT as i64)
        .rev()
        .map(|back| {
            let at = end - Duration::hours(back);
            let (mut p50s, mut p95s) = (Vec::new(), Vec::new());
            for s in states {
                for id in ids {
                    let Some(h) = s.probes.get(*id).map(|p| &p.history.hourly) else {
                        continue;
                    };
                    let Some(first) = h.first_hour else { continue };
                    let Ok(i) = usize::try_from((at - first).num_hours()) else {
                        continue;
                    };
                    p50s.extend(h.p50_ms.get(i).copied().flatten());
                    p95s.extend(h.p95_ms.get(i).copied().flatten());
                }
            }
            combine(at, p50s, p95s)
        })
        .collect()
}

/// Per day (UTC), the last `days` days up to `now`, for the probes `ids`.
pub fn daily(states: &[RegionState], ids: &[&str], now: DateTime<Utc>, days: i64) -> Vec<Point> {
    let today = now.date_naive();
    (0..days)
        .rev()
        .map(|back| {
            let day = today - Duration::days(back);
            let at = day.and_time(NaiveTime::MIN).and_utc();
            let (mut p50s, mut p95s) = (Vec::new(), Vec::new());
            for s in states {
                for id in ids {
                    let Some(d) = s.probes.get(*id).map(|p| &p.history.daily) else {
                        continue;
                    };
                    let Some(first) = d.first_day else { continue };
                    let Ok(i) = usize::try_from((day - first).num_days()) else {
                        continue;
                    };
                    p50s.extend(d.p50_ms.get(i).copied().flatten());
                    p95s.extend(d.p95_ms.get(i).copied().flatten());
                }
            }
            combine(at, p50s, p95s)
        })
        .collect()
}

/// A "nice" top for the y axis: 1, 2 or 5 times a power of ten, at least `max`.
fn nice_top(max: f64) -> f64 {
    let max = max.max(1.0);
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|v| *v >= max)
        .unwrap_or(max)
}

/// Lay `points` out as polylines; `None` when no point has data.
pub fn chart(points: &[Point], title: &str, from_label: &str, to_label: &str) -> Option<ChartView> {
    let top = nice_top(
        points
            .iter()
            .filter_map(|p| p.p95.or(p.p50))
            .reduce(f64::max)?,
    );
    let n = points.len().max(2) - 1;
    let xy = |i: usize, v: f64| {
        let x = WIDTH * i as f64 / n as f64;
        let y = HEIGHT - (v / top * HEIGHT).clamp(0.0, HEIGHT);
        format!("{x:.1},{y:.1}")
    };
    let lines = |pick: fn(&Point) -> Option<f64>| {
        let mut out: Vec<String> = Vec::new();
        let mut run: Vec<String> = Vec::new();
        for (i, p) in points.iter().enumerate() {
            match pick(p) {
                Some(v) => run.push(xy(i, v)),
                None if !run.is_empty() => out.push(std::mem::take(&mut run).join(" ")),
                None => {}
            }
        }
        if !run.is_empty() {
            out.push(run.join(" "));
        }
        // A lone point needs a second one to show as a line.
        out.into_iter()
            .map(|l| {
                if l.contains(' ') {
                    l
                } else {
                    format!("{l} {l}")
                }
            })
            .collect()
    };
    let p50 = median(points.iter().filter_map(|p| p.p50).collect());
    let p95 = points.iter().filter_map(|p| p.p95).reduce(f64::max);
    let ms = |v: Option<f64>| v.map_or("no data".to_string(), |v| format!("{v:.0} ms"));
    Some(ChartView {
        title: title.to_string(),
        summary: format!(
            "{title}: typical median {}, highest 95th percentile {}.",
            ms(p50),
            ms(p95)
        ),
        max_label: format!("{top:.0} ms"),
        from_label: from_label.to_string(),
        to_label: to_label.to_string(),
        p50: lines(|p| p.p50),
        p95: lines(|p| p.p95),
        typical_ms: p50,
        worst_ms: p95,
        width: WIDTH,
        height: HEIGHT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polylines_break_at_gaps_and_scale_to_a_nice_top() {
        let at = DateTime::from_timestamp(0, 0).unwrap_or_default();
        let p = |p50: Option<f64>, p95: Option<f64>| Point { at, p50, p95 };
        let points = [
            p(Some(10.0), Some(40.0)),
            p(Some(20.0), Some(80.0)),
            p(None, None),
            p(Some(30.0), Some(90.0)),
            p(Some(10.0), Some(20.0)),
        ];
        let c = chart(&points, "T", "a", "b").unwrap();
        assert_eq!(c.max_label, "100 ms");
        // x: 0, 150, (gap), 450, 600; y: 160 − v/100 × 160.
        assert_eq!(
            c.p50,
            vec!["0.0,144.0 150.0,128.0", "450.0,112.0 600.0,144.0"]
        );
        assert_eq!(c.p95[0], "0.0,96.0 150.0,32.0");
        assert_eq!(
            c.summary,
            "T: typical median 20 ms, highest 95th percentile 90 ms."
        );
        assert!(chart(&[p(None, None)], "T", "a", "b").is_none());
        assert_eq!(nice_top(230.0), 500.0);
        assert_eq!(nice_top(0.4), 1.0);
    }
}
