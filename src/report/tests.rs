use super::*;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap_or_default()
}

fn seg(from: &str, to: &str, status: Option<Status>) -> Segment {
    Segment {
        from: t(from),
        to: t(to),
        status,
        down: Vec::new(),
    }
}

const NOW: &str = "2026-12-02T12:00:00Z";

#[test]
fn months_follow_the_page_s_midnights_and_dst() {
    let berlin: Tz = "Europe/Berlin".parse().unwrap_or(Tz::UTC);
    let hours = |tz: Tz, y: i32, m: u32| {
        let p = Period::month(tz, y, m, t(NOW)).unwrap_or_else(|| unreachable!());
        (p.until - p.from).num_hours()
    };
    assert_eq!(hours(berlin, 2026, 3), 743, "clocks go forward on 29 March");
    assert_eq!(hours(berlin, 2026, 10), 745, "and back on 25 October");
    assert_eq!(hours(berlin, 2026, 11), 720);
    let new_york: Tz = "America/New_York".parse().unwrap_or(Tz::UTC);
    assert_eq!(hours(new_york, 2026, 3), 743);
    assert_eq!(hours(new_york, 2026, 11), 721);
    let oct = Period::month(berlin, 2026, 10, t(NOW)).unwrap_or_else(|| unreachable!());
    assert_eq!(oct.from, t("2026-09-30T22:00:00Z"));
    assert_eq!(oct.until, t("2026-10-31T23:00:00Z"));
    assert!(!oct.so_far);
    let dec = Period::month(berlin, 2026, 12, t(NOW)).unwrap_or_else(|| unreachable!());
    assert!(dec.so_far && dec.until == t(NOW));
    assert!(
        Period::month(berlin, 2027, 1, t(NOW)).is_none(),
        "not begun"
    );
}

/// October 2026 in Berlin (745 hours: DST ends on the 25th): a 30-minute major outage, a
/// 2-hour partial outage, a 2-hour maintenance window (during which the probes saw a
/// major outage, left out), and an hour with no data across the DST change. Every figure
/// is worked out by hand in the comments.
#[test]
fn a_month_with_every_kind_of_time_matches_the_hand_computation() {
    let berlin: Tz = "Europe/Berlin".parse().unwrap_or(Tz::UTC);
    let period = Period::month(berlin, 2026, 10, t(NOW)).unwrap_or_else(|| unreachable!());
    let up = Some(Status::Operational);
    let segments = [
        seg("2026-09-01T00:00:00Z", "2026-10-05T10:00:00Z", up),
        seg(
            "2026-10-05T10:00:00Z",
            "2026-10-05T10:30:00Z",
            Some(Status::MajorOutage),
        ),
        seg("2026-10-05T10:30:00Z", "2026-10-12T08:00:00Z", up),
        seg(
            "2026-10-12T08:00:00Z",
            "2026-10-12T10:00:00Z",
            Some(Status::PartialOutage),
        ),
        seg("2026-10-12T10:00:00Z", "2026-10-20T01:00:00Z", up),
        seg(
            "2026-10-20T01:00:00Z",
            "2026-10-20T03:00:00Z",
            Some(Status::MajorOutage),
        ),
        seg("2026-10-20T03:00:00Z", "2026-10-25T00:00:00Z", up),
        // 25 October 00:00–01:00 UTC (02:00 CEST → 02:00 CET): no region reporting.
        seg("2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", None),
        seg("2026-10-25T01:00:00Z", "2026-11-30T00:00:00Z", up),
    ];
    let maintenance = [(t("2026-10-20T01:00:00Z"), t("2026-10-20T03:00:00Z"))];
    let spans = marks(&segments, &maintenance, period.from, period.until);
    let f = figures(&spans, &period, Some(99.9));
    // 745 h = 2,682,000 s.
    assert_eq!(f.period_s, 2_682_000.0);
    assert_eq!(f.major_s, 1_800.0);
    assert_eq!(f.partial_s, 7_200.0);
    assert_eq!(f.maintenance_s, 7_200.0);
    assert_eq!(f.no_data_s, 3_600.0);
    // The rest: 2,682,000 − 1,800 − 7,200 − 7,200 − 3,600.
    assert_eq!(f.up_s, 2_662_200.0);
    // 1,800 + 0.3 × 7,200.
    assert_eq!(f.downtime_s, 3_960.0);
    // Over the time with data outside maintenance: 2,682,000 − 7,200 − 3,600 = 2,671,200.
    let availability = f.availability_pct.unwrap_or_default();
    assert!((availability - 100.0 * (1.0 - 3_960.0 / 2_671_200.0)).abs() < 1e-9);
    assert_eq!(format!("{availability:.4}"), "99.8518");
    assert_eq!(f.outages, 2);
    assert_eq!(f.longest_outage_s, Some(7_200.0));
    // (1,800 + 7,200) / 2.
    assert_eq!(f.mttr_s, Some(4_500.0));
    // (2,671,200 − 9,000) / 2.
    assert_eq!(f.mtbf_s, Some(1_331_100.0));
    let slo = f.slo.unwrap_or_else(|| unreachable!());
    assert!(!slo.met);
    // 0.1 % of 2,671,200 s = 2,671.2 s; 3,960 s used = 148.25 %; 1,288.8 s overspent.
    assert!((slo.budget_s - 2_671.2).abs() < 1e-6);
    assert_eq!(format!("{:.2}", slo.budget_used_pct), "148.25");
    assert!((slo.budget_left_s + 1_288.8).abs() < 1e-6);
    // Shares of the 2,674,800 s outside maintenance.
    let sum = f.available_share_pct + f.downtime_share_pct + f.no_data_share_pct;
    assert!((sum - 100.0).abs() < 1e-9, "{sum}");
    assert!((f.no_data_share_pct - 100.0 * 3_600.0 / 2_674_800.0).abs() < 1e-9);
}

#[test]
fn the_page_is_the_worst_of_its_components_and_maintenance_only_where_all_are() {
    let from = t("2026-11-01T00:00:00Z");
    let until = t("2026-11-01T04:00:00Z");
    let span = |a: &str, b: &str, mark| Span {
        from: t(a),
        to: t(b),
        mark,
    };
    let api = vec![
        span(
            "2026-11-01T00:00:00Z",
            "2026-11-01T01:00:00Z",
            Mark::Maintenance,
        ),
        span("2026-11-01T01:00:00Z", "2026-11-01T04:00:00Z", Mark::Up),
    ];
    let db = vec![
        span("2026-11-01T00:00:00Z", "2026-11-01T02:00:00Z", Mark::Up),
        span("2026-11-01T02:00:00Z", "2026-11-01T03:00:00Z", Mark::Major),
        span("2026-11-01T03:00:00Z", "2026-11-01T04:00:00Z", Mark::NoData),
    ];
    let page = worst_of(&[api, db], from, until);
    let marks: Vec<Mark> = page.iter().map(|s| s.mark).collect();
    assert_eq!(marks, [Mark::Up, Mark::Major, Mark::Up]);
}

/// Random timelines (statuses, gaps with no data, maintenance windows) over a random
/// month: the shares add up to 100 % of the time outside maintenance, and the days' figures
/// (each day a period of its own, from the zone's midnights) add up to the month's.
#[test]
fn property_shares_add_up_and_days_sum_to_the_month() {
    let zones: [Tz; 3] = [
        "Europe/Berlin".parse().unwrap_or(Tz::UTC),
        "America/New_York".parse().unwrap_or(Tz::UTC),
        "Asia/Tokyo".parse().unwrap_or(Tz::UTC),
    ];
    let statuses = [
        None,
        Some(Status::Operational),
        Some(Status::DegradedPerformance),
        Some(Status::PartialOutage),
        Some(Status::MajorOutage),
    ];
    for seed in 0..200u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let tz = zones[rng.usize(..zones.len())];
        let month = rng.u32(1..=11);
        let period = Period::month(tz, 2026, month, t(NOW)).unwrap_or_else(|| unreachable!());
        // A timeline from before the month to after it, with gaps.
        let mut segments = Vec::new();
        let mut at = period.from - Duration::hours(rng.i64(0..48));
        while at < period.until + Duration::hours(24) {
            let len = Duration::milliseconds(rng.i64(1_000..6 * 3_600_000));
            if rng.u8(..10) > 0 {
                segments.push(Segment {
                    from: at,
                    to: at + len,
                    status: statuses[rng.usize(..statuses.len())],
                    down: Vec::new(),
                });
            }
            at += len;
        }
        let maintenance: Vec<Window> = (0..rng.usize(0..4))
            .map(|_| {
                let start = period.from + Duration::minutes(rng.i64(0..40_000));
                (start, start + Duration::minutes(rng.i64(1..600)))
            })
            .collect();
        let spans = marks(&segments, &maintenance, period.from, period.until);
        let month_f = figures(&spans, &period, Some(99.5));
        let sum =
            month_f.available_share_pct + month_f.downtime_share_pct + month_f.no_data_share_pct;
        assert!((sum - 100.0).abs() < 1e-9, "seed {seed}: {sum}");
        let parts = month_f.up_s
            + month_f.degraded_s
            + month_f.partial_s
            + month_f.major_s
            + month_f.maintenance_s
            + month_f.no_data_s;
        assert!((parts - month_f.period_s).abs() < 1e-6, "seed {seed}");
        // Day by day, from the zone's midnights.
        let first = period.from.with_timezone(&tz).date_naive();
        let mut days = Vec::new();
        let mut date = first;
        while let (Some(a), Some(b)) = (
            local_midnight(tz, date),
            date.succ_opt().and_then(|d| local_midnight(tz, d)),
        ) {
            if a >= period.until {
                break;
            }
            let day = Period {
                label: date.to_string(),
                from: a,
                until: b.min(period.until),
                so_far: false,
            };
            days.push(figures(&spans, &day, None));
            date = date.succ_opt().unwrap_or(date);
        }
        let total = |f: fn(&Figures) -> f64| days.iter().map(f).sum::<f64>();
        assert!(
            (total(|f| f.period_s) - month_f.period_s).abs() < 1e-6,
            "seed {seed}"
        );
        assert!((total(|f| f.downtime_s) - month_f.downtime_s).abs() < 1e-6);
        assert!((total(|f| f.no_data_s) - month_f.no_data_s).abs() < 1e-6);
        assert!((total(|f| f.maintenance_s) - month_f.maintenance_s).abs() < 1e-6);
        assert!(
            days.len() >= 28 && days.len() <= 31,
            "seed {seed}: {} days",
            days.len()
        );
    }
}
