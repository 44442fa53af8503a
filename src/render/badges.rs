//! Step 6 (render): status badges: `badges/<component>.svg` and `badge.svg` (the page) for
//! READMEs and dashboards, and shields.io endpoint JSON (`badges/<component>.json`) for
//! people who style their badges there. Text is XML-escaped; the status word is spelled
//! out, so the badge never relies on colour alone.

use serde_json::json;

use crate::site::{DisplayStatus, Model};
use crate::status::Indicator;

/// (label text, colour) of a display status.
fn look(status: DisplayStatus) -> (&'static str, &'static str) {
    match status {
        DisplayStatus::Operational => ("operational", "#2da44e"),
        DisplayStatus::DegradedPerformance => ("degraded", "#bf8700"),
        DisplayStatus::PartialOutage => ("partial outage", "#e16f24"),
        DisplayStatus::MajorOutage => ("major outage", "#cf222e"),
        DisplayStatus::UnderMaintenance => ("maintenance", "#0969da"),
        DisplayStatus::NoData => ("no data", "#6e7781"),
    }
}

fn shields_colour(status: DisplayStatus) -> &'static str {
    match status {
        DisplayStatus::Operational => "brightgreen",
        DisplayStatus::DegradedPerformance => "yellow",
        DisplayStatus::PartialOutage => "orange",
        DisplayStatus::MajorOutage => "red",
        DisplayStatus::UnderMaintenance => "blue",
        DisplayStatus::NoData => "lightgrey",
    }
}

fn escape(s: &str) -> String {
    let s: String = s.chars().filter(|c| crate::words::xml_char(*c)).collect();
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Approximate width of text in 11px Verdana, as shields.io-style badges are drawn.
fn width(text: &str) -> u32 {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '.' | ',' | ':' | '\'' | '|' | '!' => 4,
            'm' | 'w' | 'M' | 'W' => 10,
            c if c.is_ascii_uppercase() => 8,
            c if c.is_ascii() => 7,
            _ => 11,
        })
        .sum::<u32>()
        + 10
}

/// A flat two-part badge.
pub fn svg(label: &str, message: &str, colour: &str) -> String {
    let (label, message) = (escape(label), escape(message));
    let (lw, mw) = (width(&label), width(&message));
    let total = lw + mw;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{label}: {message}"><title>{label}: {message}</title><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{mw}" height="20" fill="{colour}"/><rect width="{total}" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">{label}</text><text x="{mx}" y="14">{message}</text></g></svg>
"##,
        lx = lw / 2,
        mx = lw + mw / 2,
    )
}

/// Every badge file, from the site model the pages are rendered from.
pub fn files(model: &Model) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let components = &model.catalogue.components;
    // Uptime over 90 days: `badges/uptime/<id>.svg` (a folder of its own, so no component
    // id can collide), for components the probes watch.
    for c in components.iter().filter(|c| c.monitored) {
        let Some(pct) = c.uptime_90d else {
            continue;
        };
        let colour = match pct {
            p if p >= 99.9 => "#2da44e",
            p if p >= 99.0 => "#bf8700",
            _ => "#cf222e",
        };
        out.push((
            format!("badges/uptime/{}.svg", c.id),
            svg(
                &format!("{} uptime", c.name),
                &format!("{} %", crate::site::percent(pct)),
                colour,
            )
            .into_bytes(),
        ));
    }
    for c in components {
        let (message, colour) = look(c.status);
        out.push((
            format!("badges/{}.svg", c.id),
            svg(&c.name, message, colour).into_bytes(),
        ));
        let endpoint = json!({
            "schemaVersion": 1,
            "label": c.name,
            "message": message,
            "color": shields_colour(c.status),
        });
        out.push((
            format!("badges/{}.json", c.id),
            serde_json::to_vec_pretty(&endpoint).unwrap_or_default(),
        ));
    }
    let (message, colour) = match model.status.indicator {
        Indicator::None => ("operational", "#2da44e"),
        Indicator::Minor => ("degraded", "#bf8700"),
        Indicator::Major => ("partial outage", "#e16f24"),
        Indicator::Critical => ("major outage", "#cf222e"),
        Indicator::Maintenance => ("maintenance", "#0969da"),
    };
    // At the site root: no component id can take this name.
    out.push((
        "badge.svg".to_string(),
        svg("status", message, colour).into_bytes(),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_escape_names_and_say_the_status() {
        let s = svg("A&B <api>", "major outage", "#cf222e");
        assert!(s.contains("<title>A&amp;B &lt;api&gt;: major outage</title>"));
        assert!(!s.contains("<api>"));
        assert!(s.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    }
}
