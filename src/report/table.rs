//! Step 9 (report), the outputs of `pharos report`: a table for people, CSV for
//! spreadsheets (written by the csv crate) and JSON (the [`Report`] as it is).

use anyhow::{Context, Result};

use super::{Figures, Report};

/// Seconds as days, hours, minutes and seconds, exact to the second ("2 h 30 min 5 s").
pub fn exact(secs: f64) -> String {
    let s = secs.round() as i64;
    let (d, h, m, s) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60, s % 60);
    let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "min"), (s, "s")]
        .into_iter()
        .skip_while(|(n, _)| *n == 0)
        .filter(|(n, _)| *n != 0)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect();
    if parts.is_empty() {
        "0 s".to_string()
    } else {
        parts.join(" ")
    }
}

/// A time as RFC 3339, to the second.
fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A percentage as the report shows it: four decimals, or "no data".
pub fn percent(p: Option<f64>) -> String {
    p.map_or_else(|| "no data".to_string(), |p| format!("{p:.4} %"))
}

fn verdict(f: &Figures) -> String {
    match &f.slo {
        None => "none set".to_string(),
        Some(v) => format!(
            "{} {} % ({:.1} % of the budget used, {} {})",
            if v.met { "met" } else { "MISSED" },
            v.target_pct,
            v.budget_used_pct,
            exact(v.budget_left_s.abs()),
            if v.budget_left_s >= 0.0 {
                "left"
            } else {
                "over"
            }
        ),
    }
}

/// The report as lines for a terminal.
pub fn text(r: &Report) -> String {
    let mut out = format!(
        "Availability report {}{} ({} to {}, {})\n",
        r.period.label,
        if r.period.so_far { " so far" } else { "" },
        stamp(r.period.from),
        stamp(r.period.until),
        r.time_zone
    );
    if !r.covered {
        out.push_str(&format!(
            "note: the history kept starts at {}; before it the period counts as no data\n",
            stamp(r.history_from)
        ));
    }
    out.push_str(&format!(
        "A partial outage counts as {} of downtime; maintenance and time with no data are left out of availability.\n\n",
        r.partial_outage_weight
    ));
    let rows = std::iter::once(("page".to_string(), &r.page, r.incidents.len())).chain(
        r.components
            .iter()
            .map(|c| (c.id.clone(), &c.figures, c.incidents)),
    );
    for (name, f, incidents) in rows {
        out.push_str(&format!(
            "{name}: {} available; downtime {}; {} outage(s){}; maintenance {}; no data {}; {} incident(s); SLO {}\n",
            percent(f.availability_pct),
            exact(f.downtime_s),
            f.outages,
            match (f.longest_outage_s, f.mttr_s, f.mtbf_s) {
                (Some(l), Some(r), Some(b)) => format!(
                    ", longest {}, MTTR {}, MTBF {}",
                    exact(l),
                    exact(r),
                    exact(b)
                ),
                _ => String::new(),
            },
            exact(f.maintenance_s),
            exact(f.no_data_s),
            incidents,
            verdict(f)
        ));
    }
    for i in &r.incidents {
        out.push_str(&format!(
            "incident {} ({} impact): {}\n",
            i.slug, i.impact, i.title
        ));
    }
    out
}

/// The CSV header.
const HEADER: [&str; 23] = [
    "scope",
    "id",
    "name",
    "period",
    "from",
    "until",
    "so_far",
    "availability_pct",
    "downtime_s",
    "up_s",
    "degraded_s",
    "partial_s",
    "major_s",
    "maintenance_s",
    "no_data_s",
    "outages",
    "longest_outage_s",
    "mttr_s",
    "mtbf_s",
    "slo_pct",
    "slo_met",
    "budget_used_pct",
    "budget_left_s",
];

/// The report as CSV: one row for the page, one per component.
pub fn csv(r: &Report) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(HEADER).context("writing the CSV header")?;
    let opt = |x: Option<f64>| x.map(|x| x.to_string()).unwrap_or_default();
    let rows = std::iter::once(("page", "", r.title.as_str(), &r.page)).chain(
        r.components
            .iter()
            .map(|c| ("component", c.id.as_str(), c.name.as_str(), &c.figures)),
    );
    for (scope, id, name, f) in rows {
        w.write_record([
            scope.to_string(),
            id.to_string(),
            name.to_string(),
            r.period.label.clone(),
            stamp(r.period.from),
            stamp(r.period.until),
            r.period.so_far.to_string(),
            opt(f.availability_pct),
            f.downtime_s.to_string(),
            f.up_s.to_string(),
            f.degraded_s.to_string(),
            f.partial_s.to_string(),
            f.major_s.to_string(),
            f.maintenance_s.to_string(),
            f.no_data_s.to_string(),
            f.outages.to_string(),
            opt(f.longest_outage_s),
            opt(f.mttr_s),
            opt(f.mtbf_s),
            opt(f.slo.map(|v| v.target_pct)),
            f.slo.map(|v| v.met.to_string()).unwrap_or_default(),
            opt(f.slo.map(|v| v.budget_used_pct)),
            opt(f.slo.map(|v| v.budget_left_s)),
        ])
        .context("writing a CSV row")?;
    }
    let bytes = w.into_inner().context("finishing the CSV")?;
    String::from_utf8(bytes).context("the CSV is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_exact_to_the_second() {
        assert_eq!(exact(0.0), "0 s");
        assert_eq!(exact(3_960.0), "1 h 6 min");
        assert_eq!(exact(90_061.0), "1 d 1 h 1 min 1 s");
        assert_eq!(exact(59.6), "1 min");
    }
}
