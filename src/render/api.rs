//! Step 6 (render): the Statuspage v2 JSON API under `api/v2/`, so clients, widgets and
//! aggregators written for Statuspage read a Pharos page unchanged. Every documented key
//! is present (null rather than missing); times are RFC 3339 with milliseconds. Built from
//! the verdicts and incidents, not from the theme's view model.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::Config;
use crate::incident::{Incident, Kind, UpdateStatus};
use crate::site::Inputs;
use crate::status::{ComponentVerdict, Status};

/// Most incidents in `incidents.json`, as Statuspage does.
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

fn component_status(v: &ComponentVerdict) -> &'static str {
    if v.maintenance {
        "under_maintenance"
    } else {
        v.status.as_str()
    }
}

/// All component objects, groups included, in display order.
fn components(
    config: &Config,
    verdicts: &[ComponentVerdict],
    page_id: &str,
    now: DateTime<Utc>,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut position = 0;
    let stamp = |v: Option<&ComponentVerdict>| {
        let since = v.and_then(|v| v.since).unwrap_or(now);
        time(since.min(now))
    };
    let mut emitted_groups = Vec::new();
    for c in &config.site.components {
        let verdict = verdicts.iter().find(|v| v.id == c.id);
        if let Some(g) = &c.group
            && !emitted_groups.contains(g)
        {
            emitted_groups.push(g.clone());
            let members: Vec<&ComponentVerdict> = config
                .site
                .components
                .iter()
                .filter(|x| x.group.as_ref() == Some(g))
                .filter_map(|x| verdicts.iter().find(|v| v.id == x.id))
                .collect();
            let worst = members
                .iter()
                .map(|v| v.status)
                .max()
                .unwrap_or(Status::Operational);
            let all_maint = !members.is_empty() && members.iter().all(|v| v.maintenance);
            let def = config.site.groups.iter().find(|x| &x.id == g);
            position += 1;
            out.push(json!({
                "id": g,
                "name": def.map_or(g.as_str(), |d| d.name.as_str()),
                "status": if all_maint { "under_maintenance" } else { worst.as_str() },
                "created_at": time(now),
                "updated_at": time(now),
                "position": position,
                "description": def.and_then(|d| d.description.clone()),
                "showcase": false,
                "start_date": Value::Null,
                "group_id": Value::Null,
                "page_id": page_id,
                "group": true,
                "only_show_if_degraded": false,
                "components": config.site.components.iter().filter(|x| x.group.as_ref() == Some(g)).map(|x| x.id.clone()).collect::<Vec<_>>(),
            }));
        }
        position += 1;
        out.push(json!({
            "id": c.id,
            "name": c.name,
            "status": verdict.map_or("operational", component_status),
            "created_at": stamp(verdict),
            "updated_at": stamp(verdict),
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

fn incident(
    i: &Incident,
    config: &Config,
    all_components: &[Value],
    page_id: &str,
    now: DateTime<Utc>,
) -> Value {
    let base = &config.site.page.base_url;
    let first = i.started_at().map(time);
    let last = i.updated_at().map(time);
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
        Kind::Maintenance => "under_maintenance",
        Kind::Incident => i.impact.status().map_or("operational", Status::as_str),
    };
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
        "status": i.status_at(now).as_str(),
        "created_at": first,
        "updated_at": last,
        "monitoring_at": monitoring,
        "resolved_at": i.resolved_at(now).map(time),
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

/// Every file of the API: (path under the site, JSON text).
pub fn files(inputs: &Inputs<'_>) -> Vec<(String, Vec<u8>)> {
    let config = inputs.config;
    let page = &config.site.page;
    let id = page_id(&page.base_url);
    let page_obj = Page {
        id: id.clone(),
        name: page.title.clone(),
        url: page.base_url.clone(),
        time_zone: page.time_zone.name().to_string(),
        updated_at: time(inputs.now),
    };
    let status = json!({
        "indicator": inputs.indicator.as_str(),
        "description": inputs.indicator.description(),
    });
    let comps = components(config, inputs.components, &id, inputs.now);
    let incidents: Vec<&Incident> = inputs
        .incidents
        .iter()
        .filter(|i| i.kind == Kind::Incident)
        .collect();
    let maintenance: Vec<&Incident> = inputs
        .incidents
        .iter()
        .filter(|i| i.kind == Kind::Maintenance)
        .collect();
    let as_json = |list: &[&Incident]| -> Vec<Value> {
        list.iter()
            .map(|i| incident(i, config, &comps, &id, inputs.now))
            .collect()
    };
    let unresolved: Vec<&Incident> = incidents
        .iter()
        .copied()
        .filter(|i| i.is_open_incident())
        .collect();
    let upcoming: Vec<&Incident> = maintenance
        .iter()
        .copied()
        .filter(|m| m.is_upcoming_maintenance(inputs.now))
        .collect();
    let active: Vec<&Incident> = maintenance
        .iter()
        .copied()
        .filter(|m| m.is_active_maintenance(inputs.now))
        .collect();
    let current: Vec<&Incident> = maintenance
        .iter()
        .copied()
        .filter(|m| m.is_active_maintenance(inputs.now) || m.is_upcoming_maintenance(inputs.now))
        .collect();
    let latest: Vec<&Incident> = incidents.iter().copied().take(MAX_INCIDENTS).collect();
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
            doc(json!({"page": page_obj, "scheduled_maintenances": as_json(&maintenance)})),
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
