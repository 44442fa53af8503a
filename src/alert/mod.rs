//! Step 8 of the flow: on-call alerts. From the merged verdict of every region (the same
//! one the page shows) this finds what is failing *by cause* ([`troubles`]: a database down
//! behind 200 probes is one trouble, keyed by its root), holds it against the rules, and
//! plans the events each target gets ([`plan`]): a trigger, an update when it spreads or
//! gets worse, reminders if asked for, and one resolve, with storm control (a rate limit
//! per target with a digest beyond it, and a hold so a flapping cause is not paged each
//! round). Pure: the clock is an input; the ledger ([`Book`]) remembers what each target
//! was told.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::status::{ComponentVerdict, Status};

pub mod round;
pub mod send;

/// Something failing now, by cause: a component failing on its own, or the cause (or the
/// candidate causes) that the failing components depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trouble {
    /// Stable over the outage: `cause:<root>`, or `cause:<a>|<b>…` for candidate causes
    /// the probes cannot tell apart.
    pub key: String,
    /// The root: the component, or the candidate causes.
    pub root: Vec<String>,
    /// Every component it takes down, the root first.
    pub components: Vec<String>,
    /// The worst status among them.
    pub status: Status,
    /// Since when the earliest of them fails.
    pub since: Option<DateTime<Utc>>,
    /// Regions where any of them is down.
    pub regions: Vec<String>,
}

/// The troubles in a decision's component verdicts: every component worse than
/// operational, not under maintenance (a window silences what it covers), grouped by
/// the root it fails through.
pub fn troubles(components: &[ComponentVerdict]) -> Vec<Trouble> {
    let mut by_key: BTreeMap<String, Trouble> = BTreeMap::new();
    for c in components {
        if c.status == Status::Operational || c.maintenance || c.no_data {
            continue;
        }
        let root = if c.affected_by.is_empty() {
            vec![c.id.clone()]
        } else {
            c.affected_by.clone()
        };
        // The root's own failure and what fails through it are one trouble.
        let key = format!("cause:{}", root.join("|"));
        let t = by_key.entry(key.clone()).or_insert_with(|| Trouble {
            key,
            root: root.clone(),
            components: root.clone(),
            status: c.status,
            since: c.since,
            regions: Vec::new(),
        });
        if !t.components.contains(&c.id) {
            t.components.push(c.id.clone());
        }
        t.status = t.status.max(c.status);
        t.since = match (t.since, c.since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for r in &c.down_regions {
            if !t.regions.contains(r) {
                t.regions.push(r.clone());
            }
        }
    }
    for t in by_key.values_mut() {
        t.regions.sort();
    }
    by_key.into_values().collect()
}

/// What a decision shows for alerting: the troubles, and the components whose probes have
/// no fresh data (an alert about them is held, not resolved: silence is not recovery).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// Failing, by cause.
    pub troubles: Vec<Trouble>,
    /// Monitored components without fresh data.
    pub silent: BTreeSet<String>,
}

/// [`troubles`] and the silent components of a decision's component verdicts.
pub fn seen(components: &[ComponentVerdict]) -> Seen {
    Seen {
        troubles: troubles(components),
        silent: components
            .iter()
            .filter(|c| c.monitored && c.no_data)
            .map(|c| c.id.clone())
            .collect(),
    }
}

/// A rule of `alerts:`: which troubles page which targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Components it watches (a trouble that takes any of them down); empty: all.
    pub components: Vec<String>,
    /// The statuses that page.
    pub statuses: Vec<Status>,
    /// How long a trouble must have lasted.
    pub after: Duration,
    /// Whether a partial outage seen from one region alone pages (a lone region's blip
    /// is usually its own network).
    pub single_region: bool,
    /// The targets it pages.
    pub targets: Vec<String>,
}

impl Rule {
    /// Whether `t` pages through this rule at `now`.
    pub fn matches(&self, t: &Trouble, now: DateTime<Utc>) -> bool {
        let watched =
            self.components.is_empty() || t.components.iter().any(|c| self.components.contains(c));
        let lasted = t.since.is_none_or(|s| now - s >= self.after);
        let enough_regions =
            self.single_region || t.status != Status::PartialOutage || t.regions.len() != 1;
        watched && self.statuses.contains(&t.status) && lasted && enough_regions
    }
}

/// How a target is paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// At most this many events per [`Pace::window`]; beyond, one digest.
    pub limit: usize,
    /// The rate limit's window.
    pub window: Duration,
    /// A trouble gone for less than this is held, not resolved: when it comes back it
    /// goes on as the same alert (a flapping cause pages once).
    pub hold: Duration,
    /// Remind this often while unresolved; `None`: never.
    pub remind: Option<Duration>,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            limit: 10,
            window: Duration::minutes(10),
            hold: Duration::minutes(2),
            remind: None,
        }
    }
}

/// What an event says happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// It began.
    Trigger,
    /// It got worse or spread to more components.
    Update,
    /// Still unresolved (reminders).
    Remind,
    /// It is over.
    Resolve,
    /// More alerts than the rate limit allows: their keys in one message.
    Digest,
    /// A test of the target's credentials (`pharos alert --test`).
    Test,
}

impl Action {
    /// The word.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Trigger => "trigger",
            Action::Update => "update",
            Action::Remind => "remind",
            Action::Resolve => "resolve",
            Action::Digest => "digest",
            Action::Test => "test",
        }
    }
}

/// One event for one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per target and event, the same when it is sent again: the idempotency key.
    pub id: String,
    /// The alert's key (the trouble's): the dedup key of services with lifecycles.
    pub key: String,
    /// What happened.
    pub action: Action,
    /// The status now (operational for a resolve).
    pub status: Status,
    /// The status the target was told before (none for a trigger; for a resolve, the
    /// worst it was).
    #[serde(default)]
    pub previous: Option<Status>,
    /// The root cause, or the candidate causes.
    #[serde(default)]
    pub root: Vec<String>,
    /// The components it takes down (for a digest: the keys it stands for).
    pub components: Vec<String>,
    /// Regions where it is down.
    pub regions: Vec<String>,
    /// When it began.
    pub since: Option<DateTime<Utc>>,
    /// When this event was made.
    pub at: DateTime<Utc>,
}

/// What a target was told of one alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Open {
    /// The worst status it was told.
    pub status: Status,
    /// The root cause.
    #[serde(default)]
    pub root: Vec<String>,
    /// The components it was last told.
    pub components: Vec<String>,
    /// Regions it was last told.
    #[serde(default)]
    pub regions: Vec<String>,
    /// When it began.
    pub since: Option<DateTime<Utc>>,
    /// When the last event about it was made.
    pub told: DateTime<Utc>,
    /// Since when it has been gone (held until [`Pace::hold`] passed).
    #[serde(default)]
    pub gone_since: Option<DateTime<Utc>>,
    /// It went out first in this digest (its key), never alone: it gets no resolve of its
    /// own; the digest is resolved, as one alert, once every alert it named is over.
    #[serde(default)]
    pub digest: Option<String>,
}

impl Open {
    /// What a target is told of `t` at `now` (`digest`: only in that digest).
    fn told(t: &Trouble, now: DateTime<Utc>, digest: Option<String>) -> Open {
        Open {
            status: t.status,
            root: t.root.clone(),
            components: t.components.clone(),
            regions: t.regions.clone(),
            since: t.since,
            told: now,
            gone_since: None,
            digest,
        }
    }
}

/// One target's ledger: what it was told and what waits to go out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Book {
    /// Random per book, part of every event id: a ledger made again (lost, moved
    /// aside) never reuses an id a service has seen (Matrix drops a reused one).
    #[serde(default = "fresh_nonce")]
    pub nonce: u32,
    /// Alerts it was told of that are not resolved, by key.
    #[serde(default)]
    pub open: BTreeMap<String, Open>,
    /// When its recent events were made (the rate limit's count).
    #[serde(default)]
    pub recent: Vec<DateTime<Utc>>,
    /// Digests not yet resolved, by key (the digest event's id): the keys they stand for
    /// in `components`, their worst status and when they went out.
    #[serde(default)]
    pub digests: BTreeMap<String, Open>,
    /// Events planned and not yet delivered, oldest first: sent again (same id) until
    /// they go through.
    #[serde(default)]
    pub outbox: Vec<Event>,
    /// Events made so far: their ids' sequence.
    #[serde(default)]
    pub made: u64,
    /// Deliveries that failed in a row (the back-off grows with them).
    #[serde(default)]
    pub failures: u32,
    /// No delivery before this, after a failure.
    #[serde(default)]
    pub next_try: Option<DateTime<Utc>>,
}

impl Book {
    /// Record a delivery that failed at `now`: the next try waits 5 s, doubling per
    /// failure in a row, at most 10 minutes.
    pub fn failed(&mut self, now: DateTime<Utc>) {
        self.failures = self.failures.saturating_add(1);
        let wait = (5i64 << self.failures.min(8).saturating_sub(1)).min(600);
        self.next_try = Some(now + Duration::seconds(wait));
    }

    /// Record a delivery that went through.
    pub fn delivered(&mut self, id: &str) {
        self.outbox.retain(|e| e.id != id);
        self.failures = 0;
        self.next_try = None;
    }

    /// Whether deliveries may be tried at `now`.
    pub fn may_try(&self, now: DateTime<Utc>) -> bool {
        self.next_try.is_none_or(|t| now >= t)
    }
}

fn fresh_nonce() -> u32 {
    fastrand::u32(..)
}

impl Default for Book {
    fn default() -> Self {
        Book {
            nonce: fresh_nonce(),
            open: BTreeMap::new(),
            recent: Vec::new(),
            digests: BTreeMap::new(),
            outbox: Vec::new(),
            made: 0,
            failures: 0,
            next_try: None,
        }
    }
}

impl Book {
    fn event(&mut self, target: &str, key: &str, action: Action, at: DateTime<Utc>) -> Event {
        self.made += 1;
        Event {
            id: format!(
                "{}-{:08x}-{}",
                crate::announce::idempotency_key(target, key),
                self.nonce,
                self.made
            ),
            key: key.to_string(),
            action,
            status: Status::Operational,
            previous: None,
            root: Vec::new(),
            components: Vec::new(),
            regions: Vec::new(),
            since: None,
            at,
        }
    }
}

/// Plan what `target` must be told at `now` of the troubles that page it (`paging`,
/// already matched against the rules), recording it in `book`: the events are appended to
/// its outbox and returned.
pub fn plan(
    target: &str,
    paging: &[&Trouble],
    silent: &BTreeSet<String>,
    book: &mut Book,
    pace: &Pace,
    now: DateTime<Utc>,
) -> Vec<Event> {
    let mut out = Vec::new();
    let current: BTreeSet<&str> = paging.iter().map(|t| t.key.as_str()).collect();
    book.recent.retain(|at| now - *at < pace.window);
    // Gone: held first, resolved when the hold is over.
    let keys: Vec<String> = book.open.keys().cloned().collect();
    for key in keys {
        if current.contains(key.as_str()) {
            continue;
        }
        let Some(open) = book.open.get_mut(&key) else {
            continue;
        };
        // Its probes went silent: held, not over.
        if open.components.iter().any(|c| silent.contains(c)) {
            open.gone_since = None;
            continue;
        }
        let gone = *open.gone_since.get_or_insert(now);
        if now - gone < pace.hold {
            continue;
        }
        let Some(open) = book.open.remove(&key) else {
            continue;
        };
        if open.digest.is_some() {
            continue;
        }
        out.push(resolve(book, target, &key, open, now));
    }
    // A digest is over when every alert it stands for is: one resolve for it.
    let over: Vec<String> = book
        .digests
        .iter()
        .filter(|(_, d)| !d.components.iter().any(|k| book.open.contains_key(k)))
        .map(|(d, _)| d.clone())
        .collect();
    for d in over {
        if let Some(digest) = book.digests.remove(&d) {
            out.push(resolve(book, target, &d, digest, now));
        }
    }
    // Present: new, worse or wider, or due a reminder.
    let mut over_limit: Vec<&Trouble> = Vec::new();
    for t in paging {
        let action = match book.open.get_mut(&t.key) {
            None => Some(Action::Trigger),
            Some(open) => {
                open.gone_since = None;
                let wider = t.components.iter().any(|c| !open.components.contains(c));
                if t.status > open.status || wider {
                    Some(Action::Update)
                } else if pace.remind.is_some_and(|every| now - open.told >= every) {
                    Some(Action::Remind)
                } else {
                    None
                }
            }
        };
        let Some(action) = action else { continue };
        let limited = action != Action::Remind;
        if limited && book.recent.len() + out_limited(&out) >= pace.limit {
            over_limit.push(t);
            continue;
        }
        let mut e = book.event(target, &t.key, action, now);
        e.previous = book.open.get(&t.key).map(|o| o.status);
        e.root.clone_from(&t.root);
        e.status = t.status;
        e.components.clone_from(&t.components);
        e.regions.clone_from(&t.regions);
        e.since = t.since;
        let worst = book
            .open
            .get(&t.key)
            .map_or(t.status, |o| o.status.max(t.status));
        let mut open = Open::told(t, now, None);
        open.status = worst;
        book.open.insert(t.key.clone(), open);
        out.push(e);
    }
    if !over_limit.is_empty() {
        let mut e = book.event(target, "digest", Action::Digest, now);
        // A digest is an alert of its own, keyed by its id.
        e.key.clone_from(&e.id);
        e.status = over_limit
            .iter()
            .map(|t| t.status)
            .max()
            .unwrap_or(Status::MajorOutage);
        e.components = over_limit.iter().map(|t| t.key.clone()).collect();
        e.since = Some(now);
        for t in &over_limit {
            // Told (in the digest) as it is now, so it is not "wider" again next round.
            book.open
                .entry(t.key.clone())
                .and_modify(|o| {
                    o.status = o.status.max(t.status);
                    o.components.clone_from(&t.components);
                    o.regions.clone_from(&t.regions);
                    o.told = now;
                })
                .or_insert_with(|| Open::told(t, now, Some(e.key.clone())));
        }
        book.digests.insert(
            e.key.clone(),
            Open {
                status: e.status,
                root: Vec::new(),
                components: e.components.clone(),
                regions: Vec::new(),
                since: e.since,
                told: now,
                gone_since: None,
                digest: None,
            },
        );
        out.push(e);
    }
    for e in &out {
        if e.action != Action::Remind {
            book.recent.push(now);
        }
    }
    book.outbox.extend(out.iter().cloned());
    out
}

/// The resolve of the alert `key` that `open` recorded (for a digest: no root, its
/// alerts' keys as components).
fn resolve(book: &mut Book, target: &str, key: &str, open: Open, now: DateTime<Utc>) -> Event {
    let mut e = book.event(target, key, Action::Resolve, now);
    e.previous = Some(open.status);
    e.root = open.root;
    e.components = open.components;
    e.regions = open.regions;
    e.since = open.since;
    e
}

/// Events of `out` that count against the rate limit.
fn out_limited(out: &[Event]) -> usize {
    out.iter().filter(|e| e.action != Action::Remind).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + min * 60, 0).unwrap_or_default()
    }

    fn verdict(
        id: &str,
        status: Status,
        affected_by: &[&str],
        regions: &[&str],
    ) -> ComponentVerdict {
        ComponentVerdict {
            id: id.into(),
            status,
            monitored: true,
            no_data: false,
            maintenance: false,
            regions: Vec::new(),
            down_regions: regions.iter().map(|r| r.to_string()).collect(),
            since: Some(at(0)),
            affected_by: affected_by.iter().map(|s| s.to_string()).collect(),
            affects: Vec::new(),
            inferred: false,
        }
    }

    fn rule() -> Rule {
        Rule {
            components: Vec::new(),
            statuses: vec![Status::MajorOutage, Status::PartialOutage],
            after: Duration::zero(),
            single_region: false,
            targets: vec!["pd".into()],
        }
    }

    #[test]
    fn a_dependency_outage_is_one_trouble_keyed_by_its_root() {
        let mut components = vec![verdict("db", Status::MajorOutage, &[], &["a", "b", "c"])];
        for i in 0..200 {
            components.push(verdict(
                &format!("svc{i}"),
                Status::MajorOutage,
                &["db"],
                &["a", "b"],
            ));
        }
        let mut maintained = verdict("cdn", Status::MajorOutage, &[], &["a", "b"]);
        maintained.maintenance = true;
        components.push(maintained);
        components.push(verdict("web", Status::Operational, &[], &[]));
        let found = troubles(&components);
        assert_eq!(found.len(), 1, "{found:#?}");
        let db = &found[0];
        assert_eq!(db.key, "cause:db");
        assert_eq!(db.components.len(), 201);
        assert_eq!(db.components[0], "db");
        assert_eq!(db.regions, ["a", "b", "c"]);
        // Candidate causes the probes cannot tell apart make one key.
        let found = troubles(&[verdict(
            "web",
            Status::MajorOutage,
            &["cdn", "dns"],
            &["a", "b"],
        )]);
        assert_eq!(found[0].key, "cause:cdn|dns");
        assert_eq!(found[0].components, ["cdn", "dns", "web"]);
    }

    #[test]
    fn rules_wait_their_time_and_a_lone_region_pages_only_when_asked() {
        let mut t = troubles(&[verdict("api", Status::PartialOutage, &[], &["a"])]).remove(0);
        let mut r = rule();
        assert!(!r.matches(&t, at(5)), "one region's partial outage");
        r.single_region = true;
        assert!(r.matches(&t, at(5)));
        t.regions.push("b".into());
        r.single_region = false;
        assert!(r.matches(&t, at(5)), "two regions");
        r.after = Duration::minutes(10);
        assert!(!r.matches(&t, at(5)) && r.matches(&t, at(10)));
        r.components = vec!["web".into()];
        assert!(!r.matches(&t, at(10)), "not its component");
        r.components = vec![];
        r.statuses = vec![Status::MajorOutage];
        assert!(!r.matches(&t, at(10)), "not its status");
    }

    #[test]
    fn an_outage_is_one_trigger_updates_when_it_spreads_and_one_resolve_after_the_hold() {
        let pace = Pace::default();
        let mut book = Book::default();
        let mut t = Trouble {
            key: "cause:db".into(),
            root: vec!["db".into()],
            components: vec!["db".into(), "api".into()],
            status: Status::PartialOutage,
            since: Some(at(0)),
            regions: vec!["a".into(), "b".into()],
        };
        let e = plan("pd", &[&t], &BTreeSet::new(), &mut book, &pace, at(1));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].action, Action::Trigger);
        assert!(
            plan("pd", &[&t], &BTreeSet::new(), &mut book, &pace, at(2)).is_empty(),
            "no news"
        );
        t.components.push("web".into());
        t.status = Status::MajorOutage;
        let e = plan("pd", &[&t], &BTreeSet::new(), &mut book, &pace, at(3));
        assert_eq!(e[0].action, Action::Update);
        assert_eq!(e[0].key, "cause:db", "the same alert");
        // Gone for a round, back: held, no resolve, no new trigger.
        assert!(plan("pd", &[], &BTreeSet::new(), &mut book, &pace, at(4)).is_empty());
        assert!(plan("pd", &[&t], &BTreeSet::new(), &mut book, &pace, at(5)).is_empty());
        // Gone for good: resolved once the hold is over, once.
        assert!(plan("pd", &[], &BTreeSet::new(), &mut book, &pace, at(6)).is_empty());
        let e = plan("pd", &[], &BTreeSet::new(), &mut book, &pace, at(8));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].action, Action::Resolve);
        assert_eq!(e[0].status, Status::Operational);
        assert_eq!(e[0].previous, Some(Status::MajorOutage));
        assert_eq!(e[0].components, ["db", "api", "web"]);
        assert!(plan("pd", &[], &BTreeSet::new(), &mut book, &pace, at(9)).is_empty());
        // Every event waits in the outbox, each id unique and stable.
        let ids: BTreeSet<&str> = book.outbox.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), 3);
        assert!(book.outbox.iter().all(|e| e.id.starts_with("pharos-")));
    }

    #[test]
    fn an_alert_whose_probes_go_silent_is_held_not_resolved() {
        let pace = Pace::default();
        let mut book = Book::default();
        let t = Trouble {
            key: "cause:db".into(),
            root: vec!["db".into()],
            components: vec!["db".into()],
            status: Status::MajorOutage,
            since: Some(at(0)),
            regions: vec!["a".into(), "b".into()],
        };
        let silent: BTreeSet<String> = ["db".to_string()].into();
        plan("pd", &[&t], &BTreeSet::new(), &mut book, &pace, at(0));
        assert!(plan("pd", &[], &silent, &mut book, &pace, at(30)).is_empty());
        assert!(
            book.open.contains_key("cause:db"),
            "still open while silent"
        );
        // Data again, and it is over: resolved after the hold from then.
        assert!(plan("pd", &[], &BTreeSet::new(), &mut book, &pace, at(31)).is_empty());
        let e = plan("pd", &[], &BTreeSet::new(), &mut book, &pace, at(33));
        assert_eq!(e[0].action, Action::Resolve);
    }

    #[test]
    fn a_digested_alert_that_spreads_is_not_digested_again_each_round() {
        let pace = Pace {
            limit: 1,
            ..Pace::default()
        };
        let mut book = Book::default();
        let trouble = |key: &str, components: &[&str]| Trouble {
            key: key.into(),
            root: vec![components[0].into()],
            components: components.iter().map(|c| c.to_string()).collect(),
            status: Status::MajorOutage,
            since: Some(at(0)),
            regions: vec!["a".into(), "b".into()],
        };
        let (a, b) = (trouble("cause:a", &["a"]), trouble("cause:b", &["b"]));
        let e = plan("pd", &[&a, &b], &BTreeSet::new(), &mut book, &pace, at(0));
        assert_eq!(e.len(), 2, "one trigger, one digest");
        let wider = trouble("cause:b", &["b", "c"]);
        let e = plan(
            "pd",
            &[&a, &wider],
            &BTreeSet::new(),
            &mut book,
            &pace,
            at(1),
        );
        assert_eq!(e.len(), 1, "the spread goes out once, in a digest");
        assert!(
            plan(
                "pd",
                &[&a, &wider],
                &BTreeSet::new(),
                &mut book,
                &pace,
                at(2)
            )
            .is_empty()
        );
        // Over: a's resolve, and one for each digest that named b.
        plan("pd", &[], &BTreeSet::new(), &mut book, &pace, at(3));
        let e = plan("pd", &[], &BTreeSet::new(), &mut book, &pace, at(10));
        let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys.len(), 3, "{keys:?}");
        assert_eq!(keys[0], "cause:a");
        assert!(e.iter().all(|e| e.action == Action::Resolve));
        assert!(book.open.is_empty() && book.digests.is_empty());
    }

    #[test]
    fn failed_deliveries_back_off_doubling_up_to_ten_minutes() {
        let mut book = Book::default();
        let waits: Vec<i64> = (0..10)
            .map(|_| {
                book.failed(at(0));
                (book.next_try.unwrap() - at(0)).num_seconds()
            })
            .collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 600, 600, 600]);
        assert!(!book.may_try(at(0)));
        assert!(book.may_try(at(10)));
        book.delivered("x");
        assert!(book.may_try(at(0)));
    }

    #[test]
    fn reminders_come_only_when_asked_for() {
        let mut pace = Pace::default();
        let t = Trouble {
            key: "cause:api".into(),
            root: vec!["api".into()],
            components: vec!["api".into()],
            status: Status::MajorOutage,
            since: Some(at(0)),
            regions: vec!["a".into(), "b".into()],
        };
        let mut book = Book::default();
        plan("pd", &[&t], &BTreeSet::new(), &mut book, &pace, at(0));
        assert!(plan("pd", &[&t], &BTreeSet::new(), &mut book, &pace, at(120)).is_empty());
        pace.remind = Some(Duration::minutes(60));
        let e = plan("pd", &[&t], &BTreeSet::new(), &mut book, &pace, at(121));
        assert_eq!(e[0].action, Action::Remind);
        assert!(plan("pd", &[&t], &BTreeSet::new(), &mut book, &pace, at(150)).is_empty());
        assert_eq!(
            plan("pd", &[&t], &BTreeSet::new(), &mut book, &pace, at(181))[0].action,
            Action::Remind
        );
    }

    #[test]
    fn beyond_the_rate_limit_one_digest_names_the_rest_and_is_resolved_when_all_are_over() {
        let pace = Pace {
            limit: 3,
            ..Pace::default()
        };
        let many: Vec<Trouble> = (0..40)
            .map(|i| Trouble {
                key: format!("cause:c{i:02}"),
                root: vec![format!("c{i:02}")],
                components: vec![format!("c{i:02}")],
                status: Status::MajorOutage,
                since: Some(at(0)),
                regions: vec!["a".into(), "b".into()],
            })
            .collect();
        let paging: Vec<&Trouble> = many.iter().collect();
        let mut book = Book::default();
        let e = plan("pd", &paging, &BTreeSet::new(), &mut book, &pace, at(1));
        assert_eq!(e.len(), 4);
        assert_eq!(e[3].action, Action::Digest);
        assert_eq!(e[3].components.len(), 37, "and 37 more");
        let digest = e[3].key.clone();
        assert_eq!(digest, e[3].id, "a digest is keyed by its own id");
        // One alert of the digest is over, the rest go on: the digest stays open.
        plan(
            "pd",
            &paging[1..],
            &BTreeSet::new(),
            &mut book,
            &pace,
            at(2),
        );
        let e = plan(
            "pd",
            &paging[1..],
            &BTreeSet::new(),
            &mut book,
            &pace,
            at(30),
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].key, "cause:c00");
        // All over: two resolves for the alerts told alone, one for the digest, with the
        // 37 keys it stood for; nothing for its members one by one.
        plan("pd", &[], &BTreeSet::new(), &mut book, &pace, at(31));
        let e = plan("pd", &[], &BTreeSet::new(), &mut book, &pace, at(60));
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e.iter().all(|e| e.action == Action::Resolve));
        assert_eq!(e[2].key, digest);
        assert_eq!(e[2].components.len(), 37);
        assert_eq!(e[2].previous, Some(Status::MajorOutage));
        assert!(book.open.is_empty());
        assert!(book.digests.is_empty());
    }
}
