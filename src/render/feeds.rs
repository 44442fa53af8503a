//! Step 6 (render): the feeds people subscribe to, written with the `rss` crate: one item
//! per incident update, newest first, with stable ids.

use rss::{ChannelBuilder, GuidBuilder, ItemBuilder};

use crate::incident::Incident;
use crate::site::{Model, update_label};

/// Most items in a feed.
pub const MAX_ITEMS: usize = 200;

/// RSS 2.0 for the whole page.
pub fn rss(model: &Model, incidents: &[Incident]) -> String {
    let base = &model.page.base_url;
    let mut entries: Vec<(chrono::DateTime<chrono::Utc>, rss::Item)> = Vec::new();
    for i in incidents {
        let link = format!("{base}/incidents/{}/", i.slug);
        for u in &i.updates {
            // Time and status: two updates of one incident never share both.
            let stamp = format!(
                "{}-{}",
                u.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                u.status.as_str()
            );
            let item = ItemBuilder::default()
                .title(Some(format!(
                    "{} — {}",
                    i.title,
                    update_label(u.status.as_str())
                )))
                .link(Some(link.clone()))
                .guid(Some(
                    GuidBuilder::default()
                        .value(format!("{link}#{stamp}"))
                        .permalink(false)
                        .build(),
                ))
                .pub_date(Some(u.at.to_rfc2822()))
                .description(Some(u.html.clone()))
                .build();
            entries.push((u.at, item));
        }
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    entries.truncate(MAX_ITEMS);
    let channel =
        ChannelBuilder::default()
            .title(format!("{} — incident history", model.page.title))
            .link(format!("{base}/"))
            .description(
                model.page.description.clone().unwrap_or_else(|| {
                    format!("Incidents and maintenance for {}", model.page.title)
                }),
            )
            .language(Some(model.page.language.clone()))
            .last_build_date(Some(
                chrono::DateTime::parse_from_rfc3339(&model.generated_at.iso)
                    .map(|t| t.to_rfc2822())
                    .unwrap_or_default(),
            ))
            .generator(Some(format!("pharos {}", env!("CARGO_PKG_VERSION"))))
            .items(entries.into_iter().map(|(_, i)| i).collect::<Vec<_>>())
            .build();
    channel.to_string()
}
