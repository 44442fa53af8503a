//! Step 6 (render): the Statuspage v2 JSON API under `api/v2/`, so clients, widgets and
//! aggregators written for Statuspage read a Pharos page unchanged. Every documented key
//! is present (null rather than missing); times are RFC 3339 with milliseconds. Rendered
//! from the same site model as the pages (statuses, lists, times), with the posts for
//! their text.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::incident::{Incident, Kind, UpdateStatus};
use crate::site::{Catalogue, DisplayStatus, IncidentView, Model};

/// Most posts in `incidents.json` and `scheduled-maintenances.json`, as Statuspage does.
pub const MAX_INCIDENTS: usize = 50;

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A stable 12-character base36 page id derived from the page's address.
pub fn page_id(base_url: &str) -> String {
    // FNV-1a: stable across builds and platforms, no need for a cryptographic hash.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in base_url.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..12)
        .map(|_| {
            let c = alphabet[(h % 36) as usize] as char;
            h /= 36;
            if h == 0 {
                h = 0x9e37_79b9_7f4a_7c15;
            }
            c
        })
        .collect()
}

#[derive(Serialize)]
struct Page {
    id: String,
    name: String,
    url: String,
    time_zone: String,
    updated_at: String,
}

/// All component objects, groups included, in display order.
fn components(catalogue: &Catalogue, page_id: &str, now: DateTime<Utc>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut position = 0;
    let mut emitted_groups = Vec::new();
    for c in &catalogue.components {
        if let Some(g) = &c.group
            && !emitted_groups.contains(g)
            && let Some(group) = catalogue.groups.iter().find(|x| &x.id == g)
        {
            emitted_groups.push(g.clone());
            position += 1;
            out.push(json!({
                "id": group.id,
                "name": group.name,
                "status": group.status.statuspage_word(),
                "created_at": time(now),
                "updated_at": time(now),
                "position": position,
                "description": group.description,
                "showcase": false,
                "start_date": Value::Null,
                "group_id": Value::Null,
                "page_id": page_id,
                "group": true,
                "only_show_if_degraded": false,
                "components": group.members,
            }));
        }
        position += 1;
        let stamp = time(c.since.unwrap_or(now).min(now));
        out.push(json!({
            "id": c.id,
            "name": c.name,
            "status": c.status.statuspage_word(),
            "created_at": stamp,
            "updated_at": stamp,
            "position": position,
            "description": c.description,
            "showcase": true,
            "start_date": Value::Null,
            "group_id": c.group,
            "page_id": page_id,
            "group": false,
            "only_show_if_degraded": c.hidden_until_degraded,
        }));
    }
    out
}

/// A post as the API shows it: what is decided of it from its view, its words from the
/// post itself.
fn incident(
    view: &IncidentView,
    i: &Incident,
    base: &str,
    all_components: &[Value],
    page_id: &str,
) -> Value {
    let first = view.started_at.as_ref().map(|t| time(t.at));
    let last = view.updated_at.as_ref().map(|t| time(t.at));
    let monitoring = i
        .updates
        .iter()
        .rev()
        .find(|u| u.status == UpdateStatus::Monitoring)
        .map(|u| time(u.at));
    let affected: Vec<&Value> = all_components
        .iter()
        .filter(|c| c["group"] == false && i.components.iter().any(|id| c["id"] == id.as_str()))
        .collect();
    let declared = match i.kind {
        Kind::Maintenance => DisplayStatus::UnderMaintenance,
        Kind::Incident => i
            .impact
            .status()
            .map_or(DisplayStatus::Operational, DisplayStatus::from),
    }
    .statuspage_word();
    let updates: Vec<Value> = i
        .updates
        .iter()
        .enumerate()
        .map(|(n, u)| {
            let final_update = u.status.is_final();
            json!({
                "id": format!("{}-{}", i.slug, i.updates.len() - n),
                "status": u.status.as_str(),
                "body": u.markdown,
                "incident_id": i.slug,
                "created_at": time(u.at),
                "updated_at": time(u.at),
                "display_at": time(u.at),
                "affected_components": if affected.is_empty() { Value::Null } else {
                    Value::Array(affected.iter().map(|c| json!({
                        "code": c["id"],
                        "name": c["name"],
                        "old_status": if n + 1 == i.updates.len() { "operational" } else { declared },
                        "new_status": if final_update { "operational" } else { declared },
                    })).collect())
                },
                "deliver_notifications": true,
                "custom_tweet": Value::Null,
                "tweet_id": Value::Null,
            })
        })
        .collect();
    let mut v = json!({
        "id": i.slug,
        "name": i.title,
        "status": view.status.as_str(),
        "created_at": first,
        "updated_at": last,
        "monitoring_at": monitoring,
        "resolved_at": view.resolved_at.as_ref().map(|t| time(t.at)),
        "impact": match i.kind { Kind::Maintenance => "maintenance", Kind::Incident => i.impact.as_str() },
        "impact_override": Value::Null,
        "shortlink": format!("{base}/incidents/{}/", i.slug),
        "started_at": first,
        "page_id": page_id,
        "incident_updates": updates,
        "components": affected,
    });
    if i.kind == Kind::Maintenance {
        v["scheduled_for"] = json!(i.scheduled_for.map(time));
        v["scheduled_until"] = json!(i.scheduled_until.map(time));
    }
    v
}

/// Every file of the API, from the site model the pages are rendered from, and the posts
/// for their text: (path under the site, JSON text).
pub fn files(model: &Model, posts: &[Arc<Incident>]) -> Vec<(String, Vec<u8>)> {
    let page = &model.page;
    let now = model.generated_at.at;
    let id = page_id(&page.base_url);
    let page_obj = Page {
        id: id.clone(),
        name: page.title.clone(),
        url: page.base_url.clone(),
        time_zone: page.time_zone.clone(),
        updated_at: time(now),
    };
    let status = json!({
        "indicator": model.status.indicator.as_str(),
        "description": model.status.headline,
    });
    let comps = components(&model.catalogue, &id, now);
    let by_slug: std::collections::HashMap<&str, &Incident> =
        posts.iter().map(|i| (i.slug.as_str(), &**i)).collect();
    let as_json = |list: &[&IncidentView]| -> Vec<Value> {
        list.iter()
            .filter_map(|v| {
                let post = by_slug.get(v.slug.as_str())?;
                Some(incident(v, post, &page.base_url, &comps, &id))
            })
            .collect()
    };
    // Every list in the order of `model.incidents` (newest first), as Statuspage does.
    let listed = |from: &[Arc<IncidentView>]| -> Vec<&IncidentView> {
        model
            .incidents
            .iter()
            .filter(|v| from.iter().any(|x| x.slug == v.slug))
            .map(|v| &**v)
            .collect()
    };
    let of_kind = |kind: Kind| -> Vec<&IncidentView> {
        model
            .incidents
            .iter()
            .filter(|v| v.kind == kind)
            .map(|v| &**v)
            .collect()
    };
    let incidents = of_kind(Kind::Incident);
    let maintenance = of_kind(Kind::Maintenance);
    let unresolved = listed(&model.active_incidents);
    let upcoming = listed(&model.upcoming_maintenance);
    let active = listed(&model.active_maintenance);
    let current: Vec<&IncidentView> = maintenance
        .iter()
        .copied()
        .filter(|v| active.iter().chain(&upcoming).any(|x| x.slug == v.slug))
        .collect();
    // The newest 50 of each, as Statuspage lists them.
    let latest: Vec<&IncidentView> = incidents.iter().copied().take(MAX_INCIDENTS).collect();
    let latest_maintenance: Vec<&IncidentView> =
        maintenance.iter().copied().take(MAX_INCIDENTS).collect();
    let doc = |v: Value| serde_json::to_vec_pretty(&v).unwrap_or_default();
    vec![
        (
            "api/v2/summary.json".into(),
            doc(json!({
                "page": page_obj, "components": comps, "incidents": as_json(&unresolved),
                "scheduled_maintenances": as_json(&current), "status": status,
            })),
        ),
        (
            "api/v2/status.json".into(),
            doc(json!({"page": page_obj, "status": status})),
        ),
        (
            "api/v2/components.json".into(),
            doc(json!({"page": page_obj, "components": comps})),
        ),
        (
            "api/v2/incidents.json".into(),
            doc(json!({"page": page_obj, "incidents": as_json(&latest)})),
        ),
        (
            "api/v2/incidents/unresolved.json".into(),
            doc(json!({"page": page_obj, "incidents": as_json(&unresolved)})),
        ),
        (
            "api/v2/scheduled-maintenances.json".into(),
            doc(json!({"page": page_obj, "scheduled_maintenances": as_json(&latest_maintenance)})),
        ),
        (
            "api/v2/scheduled-maintenances/upcoming.json".into(),
            doc(json!({"page": page_obj, "scheduled_maintenances": as_json(&upcoming)})),
        ),
        (
            "api/v2/scheduled-maintenances/active.json".into(),
            doc(json!({"page": page_obj, "scheduled_maintenances": as_json(&active)})),
        ),
    ]
}

/// The availability reports as JSON beside the Statuspage API: `api/reports/YYYY-MM.json`
/// per month (as `pharos report --json` prints it), and `api/reports/index.json` listing
/// them, newest first.
pub fn reports(reports: &[crate::report::Report]) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = reports
        .iter()
        .map(|r| {
            (
                format!("api/reports/{}.json", r.period.label),
                serde_json::to_vec_pretty(r).unwrap_or_default(),
            )
        })
        .collect();
    let index: Vec<Value> = reports
        .iter()
        .rev()
        .map(|r| {
            json!({
                "month": r.period.label,
                "so_far": r.period.so_far,
                "url": format!("{}.json", r.period.label),
                "availability_pct": r.page.availability_pct,
            })
        })
        .collect();
    files.push((
        "api/reports/index.json".to_string(),
        serde_json::to_vec_pretty(&json!({ "reports": index })).unwrap_or_default(),
    ));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_ids_are_stable_base36() {
        let a = page_id("https://status.example.com");
        assert_eq!(a.len(), 12);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        );
        assert_eq!(a, page_id("https://status.example.com"));
        assert_ne!(a, page_id("https://status.example.org"));
    }
}
