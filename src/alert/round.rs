//! Step 8 (alert): one evaluation. The troubles of the merged verdict are held against the
//! rules, each target's events are planned into its outbox in the ledger (saved before
//! anything is sent, so a crash loses nothing), then each outbox is delivered in order,
//! the ledger saved after every event. An event whose delivery may have happened stays in
//! the outbox and goes again under the same key; a target that failed waits out its
//! back-off.

use chrono::{DateTime, Utc};

use super::send::{self, Ready};
use super::{Book, Event, Seen, Trouble};
use crate::announce::LedgerFile;
use crate::announce::send::{Failure, PageInfo};
use crate::config::Alerts;

/// What one evaluation did for one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Target id.
    pub target: String,
    /// Events delivered, in order.
    pub delivered: Vec<Event>,
    /// Events still waiting in its outbox.
    pub waiting: usize,
    /// Why delivery stopped, if it did.
    pub error: Option<String>,
}

impl Outcome {
    /// Nothing delivered yet, nothing waiting, no error.
    fn of(target: &str) -> Outcome {
        Outcome {
            target: target.to_string(),
            delivered: Vec::new(),
            waiting: 0,
            error: None,
        }
    }
}

/// The troubles that page `target` at `now` under `alerts`' rules.
pub fn paging<'a>(
    alerts: &Alerts,
    target: &str,
    troubles: &'a [Trouble],
    now: DateTime<Utc>,
) -> Vec<&'a Trouble> {
    troubles
        .iter()
        .filter(|t| {
            alerts
                .rules
                .iter()
                .any(|r| r.targets.iter().any(|x| x == target) && r.matches(t, now))
        })
        .collect()
}

/// Plan and deliver one evaluation for every target, recording it in `file`. Email
/// targets send through the `announce:` targets of `site` (files relative to `root`).
pub async fn run(
    site: (&[crate::config::Target], &std::path::Path),
    alerts: &Alerts,
    seen: &Seen,
    page: &PageInfo,
    file: &mut LedgerFile,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Outcome>> {
    let before = file.ledger.alerts.clone();
    for target in &alerts.targets {
        let book = file.ledger.alerts.entry(target.id.clone()).or_default();
        super::plan(
            &target.id,
            &paging(alerts, &target.id, &seen.troubles, now),
            &seen.silent,
            book,
            &alerts.pace,
            now,
        );
    }
    // Planned events are on record before any goes out (and nothing is written when
    // nothing changed: a round runs every 15 s).
    let idle = file.ledger.alerts.values().all(|b| b.outbox.is_empty());
    if file.ledger.alerts != before || !idle {
        file.save().await?;
    }
    if idle {
        return Ok(alerts.targets.iter().map(|t| Outcome::of(&t.id)).collect());
    }
    let client = crate::announce::send::client()?;
    let mut outcomes = Vec::new();
    for target in &alerts.targets {
        let mut outcome = Outcome::of(&target.id);
        let ready = match send::ready(target, site.0, site.1) {
            Ok(r) => Some(r),
            Err(e) => {
                outcome.error = Some(format!("{e:#}"));
                None
            }
        };
        if let Some(ready) = ready {
            deliver_outbox(&client, &ready, page, file, &mut outcome, now).await?;
        }
        outcome.waiting = file
            .ledger
            .alerts
            .get(&target.id)
            .map_or(0, |b| b.outbox.len());
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Deliver a target's outbox in order until it is empty or a delivery fails.
async fn deliver_outbox(
    client: &reqwest::Client,
    ready: &Ready,
    page: &PageInfo,
    file: &mut LedgerFile,
    outcome: &mut Outcome,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    loop {
        let book: &mut Book = file
            .ledger
            .alerts
            .entry(outcome.target.clone())
            .or_default();
        if !book.may_try(now) {
            outcome.error = Some(format!(
                "waiting after a failed delivery, until {}",
                book.next_try
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default()
            ));
            return Ok(());
        }
        let Some(event) = book.outbox.first().cloned() else {
            return Ok(());
        };
        match send::deliver(client, ready, page, &event).await {
            Ok(()) => {
                book.delivered(&event.id);
                file.save().await?;
                outcome.delivered.push(event);
            }
            Err(Failure::Refused(e)) => {
                // Refused as it is: sending it again would block every later event.
                tracing::warn!(
                    "alert {}: dropped {} of {}: {e}",
                    outcome.target,
                    event.action.as_str(),
                    event.key
                );
                book.outbox.retain(|x| x.id != event.id);
                file.save().await?;
                outcome.error = Some(format!("{e} (dropped: the service refuses it as it is)"));
            }
            Err(f @ (Failure::NotSent(_) | Failure::Unknown(_) | Failure::Deferred(_))) => {
                book.failed(now);
                file.save().await?;
                outcome.error = Some(f.to_string());
                return Ok(());
            }
        }
    }
}
