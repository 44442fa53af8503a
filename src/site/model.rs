//! Step 5 (site): the view structs templates see. This is the theme contract, documented
//! in themes/README.md; templates never see config, state or incident types.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;

use crate::incident::{Kind, UpdateStatus};
use crate::state::RegionHealth;
use crate::status::{ComponentVerdict, Impact, Indicator, Status};

/// What the page shows for a component, a group or a day: one vocabulary for the pages,
/// the API, the badges and `pharos status`. Serialises to the words themes and the API
/// use (`under_maintenance`, `no_data`, …); ordered from best to worst, so the worst of
/// several is their maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DisplayStatus {
    /// Working.
    Operational,
    /// Nothing known: no probe result and no post says otherwise.
    NoData,
    /// In a maintenance window.
    UnderMaintenance,
    /// Working, slowly.
    DegradedPerformance,
    /// Failing for some.
    PartialOutage,
    /// Failing.
    MajorOutage,
}

impl DisplayStatus {
    /// What the page shows for a component's verdict: maintenance first, then no data
    /// (only while nothing says it is failing), then its status.
    pub fn of(v: &ComponentVerdict) -> DisplayStatus {
        if v.maintenance {
            DisplayStatus::UnderMaintenance
        } else if v.no_data && v.status == Status::Operational {
            DisplayStatus::NoData
        } else {
            v.status.into()
        }
    }

    /// The word, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            DisplayStatus::Operational => "operational",
            DisplayStatus::NoData => "no_data",
            DisplayStatus::UnderMaintenance => "under_maintenance",
            DisplayStatus::DegradedPerformance => "degraded_performance",
            DisplayStatus::PartialOutage => "partial_outage",
            DisplayStatus::MajorOutage => "major_outage",
        }
    }

    /// The English label (translated through the page's strings).
    pub fn label(self) -> &'static str {
        match self {
            DisplayStatus::Operational => "Operational",
            DisplayStatus::NoData => "No data",
            DisplayStatus::UnderMaintenance => "Under maintenance",
            DisplayStatus::DegradedPerformance => "Degraded performance",
            DisplayStatus::PartialOutage => "Partial outage",
            DisplayStatus::MajorOutage => "Major outage",
        }
    }

    /// The word in Statuspage's component vocabulary, which has no "no data": a component
    /// nothing is known of reads operational there, as on Statuspage.
    pub fn statuspage_word(self) -> &'static str {
        match self {
            DisplayStatus::NoData => "operational",
            s => s.as_str(),
        }
    }

    /// The worst of several; operational when there are none.
    pub fn worst(all: impl IntoIterator<Item = DisplayStatus>) -> DisplayStatus {
        all.into_iter().max().unwrap_or(DisplayStatus::Operational)
    }
}

impl From<Status> for DisplayStatus {
    fn from(s: Status) -> DisplayStatus {
        match s {
            Status::Operational => DisplayStatus::Operational,
            Status::DegradedPerformance => DisplayStatus::DegradedPerformance,
            Status::PartialOutage => DisplayStatus::PartialOutage,
            Status::MajorOutage => DisplayStatus::MajorOutage,
        }
    }
}

/// Every component and group with what is decided of it, hidden ones too: what the API,
/// the badges and the pages all read their statuses from. Not part of the theme contract.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// Every component, in file order.
    pub components: Vec<Entry>,
    /// Every group with at least one component, in order of first appearance.
    pub groups: Vec<GroupEntry>,
}

/// One component as decided.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Its group's id.
    pub group: Option<String>,
    /// Shown only while not operational.
    pub hidden_until_degraded: bool,
    /// Whether the page shows it now.
    pub shown: bool,
    /// What the page shows for it.
    pub status: DisplayStatus,
    /// Since when its current status holds.
    pub since: Option<DateTime<Utc>>,
    /// Whether probes watch it.
    pub monitored: bool,
    /// Uptime over 90 days in percent, when probes watch it and there is data.
    pub uptime_90d: Option<f64>,
}

/// One group as decided.
#[derive(Debug, Clone)]
pub struct GroupEntry {
    /// Id.
    pub id: String,
    /// Name (the id when the group is not defined).
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// The worst status of its components.
    pub status: DisplayStatus,
    /// Its components' ids, in file order.
    pub members: Vec<String>,
}

/// Beyond this many shown components the home page is compact (see [`Model::compact`]):
/// at 2,000 components the full one would weigh megabytes.
pub const COMPACT_OVER: usize = 200;

/// How many past posts the home page lists (`site.recent_past`); the rest are in the
/// archive.
pub const RECENT_PAST: usize = 20;

/// Everything a page template receives (as `site`), plus `root` (the relative path back
/// to the site root, e.g. `../../`) and page-specific values.
#[derive(Debug, Clone, Serialize)]
pub struct Model {
    /// Page identity and settings.
    pub page: PageView,
    /// When the build's data was taken (`--now`).
    pub generated_at: TimeView,
    /// The page indicator.
    pub status: IndicatorView,
    /// Regions that run probes.
    pub regions: Vec<RegionInfo>,
    /// Visible components grouped for display; ungrouped ones come in a group with no id.
    pub groups: Vec<GroupView>,
    /// Every visible component, in file order.
    pub components: Vec<Arc<ComponentView>>,
    /// More than [`COMPACT_OVER`] components are shown: the home page lists each by name
    /// and status only, and its bars, uptime and regions are on its own page.
    pub compact: bool,
    /// Incidents not yet resolved, newest first.
    pub active_incidents: Vec<Arc<IncidentView>>,
    /// Outages the probes saw that no post covers: going on, or ended in the last 24 h;
    /// newest first.
    pub detected: Vec<DetectedView>,
    /// What the failing probes point to, now: one entry per fault that names more than
    /// its own component (it affects others, or the probes cannot tell between causes).
    pub causes: Vec<CauseView>,
    /// Maintenance windows running now.
    pub active_maintenance: Vec<Arc<IncidentView>>,
    /// Maintenance windows still to come, soonest first.
    pub upcoming_maintenance: Vec<Arc<IncidentView>>,
    /// Resolved incidents and completed maintenance, newest first.
    pub past_incidents: Vec<Arc<IncidentView>>,
    /// The newest [`RECENT_PAST`] of `past_incidents`, as the home page lists
    /// them: a template that reads only these does not make every post a template value.
    pub recent_past: Vec<Arc<IncidentView>>,
    /// Every post, newest first.
    pub incidents: Vec<Arc<IncidentView>>,
    /// The theme's phrases in the page's language, by their English text:
    /// `{{ site.t["Past incidents"] }}`.
    pub t: std::collections::BTreeMap<String, String>,
    /// The archive: every post by month, newest first, in pages of
    /// [`super::HISTORY_PAGE_SIZE`] posts.
    pub history: Vec<HistoryPage>,
    /// The availability report of every month of the history, newest first.
    pub reports: Vec<ReportView>,
    /// Every component and group as decided, hidden ones too (not for templates).
    #[serde(skip)]
    pub catalogue: Catalogue,
}

/// One page of the archive.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryPage {
    /// 1 for the first (newest) page.
    pub number: usize,
    /// How many pages there are.
    pub of: usize,
    /// The page, relative to the site root: `history/` or `history/<n>/`.
    pub path: String,
    /// Relative path from this page to the site root.
    pub root: String,
    /// The newer page's path (from the site root), or null on the first.
    pub newer: Option<String>,
    /// The older page's path, or null on the last.
    pub older: Option<String>,
    /// Months on this page, newest first.
    pub months: Vec<MonthView>,
}

/// The posts of one month (in the page's time zone).
#[derive(Debug, Clone, Serialize)]
pub struct MonthView {
    /// e.g. "November 2026".
    pub label: String,
    /// `YYYY-MM`, also the section's anchor.
    pub id: String,
    /// Posts, newest first.
    pub items: Vec<IncidentLink>,
}

/// Page identity.
#[derive(Debug, Clone, Serialize)]
pub struct PageView {
    /// Title.
    pub title: String,
    /// Description or null.
    pub description: Option<String>,
    /// Public address without trailing slash.
    pub base_url: String,
    /// `lang` attribute.
    pub language: String,
    /// IANA time zone times are shown in.
    pub time_zone: String,
    /// Header links.
    pub links: Vec<LinkView>,
}

/// A link.
#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    /// Text.
    pub title: String,
    /// Target.
    pub url: String,
}

/// A point in time, machine- and human-readable.
#[derive(Debug, Clone, Serialize)]
pub struct TimeView {
    /// RFC 3339 in UTC, for `<time datetime>`.
    pub iso: String,
    /// In the page's time zone, e.g. `20 Nov 2026, 10:42 CET`.
    pub display: String,
    /// The time itself.
    #[serde(skip)]
    pub at: DateTime<Utc>,
}

/// The page indicator.
#[derive(Debug, Clone, Serialize)]
pub struct IndicatorView {
    /// none, minor, major, critical or maintenance.
    pub indicator: Indicator,
    /// e.g. "All Systems Operational", or "No Current Data" when nothing is known.
    pub description: String,
    /// The same in English, for the API.
    #[serde(skip)]
    pub headline: &'static str,
}

/// A region.
#[derive(Debug, Clone, Serialize)]
pub struct RegionInfo {
    /// Name.
    pub name: String,
    /// Label or null.
    pub label: Option<String>,
}

/// A group of components.
#[derive(Debug, Clone, Serialize)]
pub struct GroupView {
    /// Group id, or null for components without a group.
    pub id: Option<String>,
    /// Display name, or null.
    pub name: Option<String>,
    /// Description or null.
    pub description: Option<String>,
    /// Worst status in the group.
    pub status: DisplayStatus,
    /// Its components.
    pub components: Vec<Arc<ComponentView>>,
}

/// A component as shown.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description or null.
    pub description: Option<String>,
    /// Display status: operational, degraded_performance, partial_outage, major_outage,
    /// under_maintenance or no_data. Also the CSS class.
    pub status: DisplayStatus,
    /// Human label for `status`.
    pub status_label: String,
    /// Whether probes watch it (else its status comes from incidents only).
    pub monitored: bool,
    /// Names of the regions where it is down.
    pub down_regions: Vec<String>,
    /// Whether a region's newest checks saw a change not confirmed yet.
    pub unconfirmed: bool,
    /// Every region reports it up, confirmed: the home page then leaves its per-region
    /// table to the component's own page.
    pub all_regions_up: bool,
    /// "1 of 3 regions reporting" when some regions that probe it have no fresh data
    /// (their probers are not reporting), else null: the status stands on fewer voices.
    pub reporting: Option<String>,
    /// Since when the current bad status holds, or null.
    pub since: Option<TimeView>,
    /// One entry per region that probes it.
    pub regions: Vec<RegionStateView>,
    /// Uptime per window (24h, 7d, 30d, 90d, 365d), from the consensus timeline; empty
    /// when no probe watches it.
    pub uptime: Vec<UptimeView>,
    /// The 90-day uptime as shown beside the bars (e.g. "99.95"), or null without data.
    pub uptime_90d: Option<String>,
    /// The last 90 days, oldest first; empty when no probe watches it.
    pub days: Vec<DayView>,
    /// The same days with runs of alike quiet days merged (the home page's bars: each
    /// run's text once, so 90 days cost a few cells, not 90).
    pub runs: Vec<RunView>,
    /// Its page, relative to the site root: `components/<id>/`.
    pub path: String,
    /// Response time per hour for 7 days; null without data.
    pub chart_hours: Option<super::chart::ChartView>,
    /// Response time per day for 90 days; null without data.
    pub chart_days: Option<super::chart::ChartView>,
    /// Incidents and maintenance that name it, newest first.
    pub incidents: Vec<IncidentLink>,
    /// When it fails only through a fault in a component it depends on: that component
    /// (or the candidates, any one of them). Empty otherwise.
    pub affected_by: Vec<LinkView>,
    /// When it is the cause of a fault: the components failing through it.
    pub affects: Vec<LinkView>,
    /// Its status is inferred from probes of the components that depend on it.
    pub inferred: bool,
    /// This month's error budget, when it has an SLO, e.g. "Error budget this month:
    /// 42.0 % used (SLO 99.9 %)".
    pub budget: Option<String>,
}

/// A fault the probes point to, counted once however many components it takes down.
#[derive(Debug, Clone, Serialize)]
pub struct CauseView {
    /// The cause, or the candidates the probes cannot tell apart (any one of them);
    /// `url` is the component's page relative to the site root.
    pub causes: Vec<LinkView>,
    /// The components failing only through it.
    pub affected: Vec<LinkView>,
    /// `partial_outage` or `major_outage`.
    pub status: DisplayStatus,
    /// Human label for `status`.
    pub status_label: String,
    /// Since when, or null.
    pub since: Option<TimeView>,
}

/// A short reference to an incident or maintenance.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentLink {
    /// Title.
    pub title: String,
    /// Its page, relative to the site root: `incidents/<slug>/`.
    pub path: String,
    /// `incident` or `maintenance`.
    pub kind: Kind,
    /// Current status word and label.
    pub status: UpdateStatus,
    /// Human label for `status`.
    pub status_label: String,
    /// When it started (first update, or the window's start).
    pub started_at: Option<TimeView>,
}

/// An outage the probes detected with no incident post about it.
#[derive(Debug, Clone, Serialize)]
pub struct DetectedView {
    /// Stable anchor id, `detected-<component>-<unix start>`.
    pub id: String,
    /// The component: its name and its anchor on the page.
    pub component: LinkView,
    /// `partial_outage` or `major_outage` (the worst during it).
    pub status: DisplayStatus,
    /// Human label for `status`.
    pub status_label: String,
    /// When it began (back-dated to the first failing check).
    pub start: TimeView,
    /// When it ended; null while it goes on.
    pub end: Option<TimeView>,
    /// How long it lasted (so far), e.g. "12 min".
    pub duration: String,
    /// The regions that saw it down.
    pub regions: Vec<String>,
    /// Components that failed only through it (a dependency outage is one notice);
    /// `url` is the component's page relative to the site root.
    pub affects: Vec<LinkView>,
}

/// Uptime over one window.
#[derive(Debug, Clone, Serialize)]
pub struct UptimeView {
    /// `24h`, `7d`, `30d`, `90d` or `365d`.
    pub window: String,
    /// Percent with two decimals, never rounded up to 100 (e.g. "99.99"), or null
    /// without data in the window.
    pub percent: Option<String>,
}

/// Consecutive days with the same status and the same sentence apart from the date, and
/// no incident posted: one cell on the home page.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    /// As [`DayView::status`]; also the CSS class.
    pub status: DisplayStatus,
    /// How many days it spans (1 to 90); its width (CSS class `w<days>`).
    pub days: usize,
    /// The sentence with the range of dates and the incidents posted during it, e.g.
    /// "21 Oct 2026 – 17 Nov 2026: 100 % uptime, no downtime; 2 incidents".
    pub label: String,
}

/// One day of a component's history.
#[derive(Debug, Clone, Serialize)]
pub struct DayView {
    /// `YYYY-MM-DD` in the page's time zone.
    pub date: String,
    /// The worst status that day (operational, degraded_performance, partial_outage,
    /// major_outage) or no_data. Also the CSS class.
    pub status: DisplayStatus,
    /// A sentence for people and screen readers, e.g. "12 Nov 2026: Major outage, 20 min".
    pub label: String,
    /// Seconds counted against uptime that day (partial outages weighted).
    pub downtime_s: f64,
    /// The sentence with `{date}` left in and without its incidents, for a day without
    /// downtime: such days in a row with the same pattern merge into one [`RunView`].
    #[serde(skip)]
    pub quiet_pattern: Option<String>,
    /// The date as the sentence shows it.
    #[serde(skip)]
    pub shown_date: String,
    /// The day itself.
    #[serde(skip)]
    pub day: chrono::NaiveDate,
}

/// A component as one region sees it.
#[derive(Debug, Clone, Serialize)]
pub struct RegionStateView {
    /// Region name.
    pub name: String,
    /// Region label or null.
    pub label: Option<String>,
    /// up, degraded, down, unknown or no_data.
    pub health: RegionHealth,
    /// Human label for `health`.
    pub health_label: String,
    /// The newest check's detail, or null.
    pub detail: Option<String>,
    /// When it was checked, or null.
    pub checked_at: Option<TimeView>,
    /// "last check down, not confirmed yet: 1 of 2 rounds" while the newest checks
    /// disagree with `health` and have not held long enough; null otherwise.
    pub unconfirmed: Option<String>,
}

/// An incident or maintenance.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentView {
    /// URL segment and stable id.
    pub slug: String,
    /// Path from the site root, e.g. `incidents/2026-11-20-api/`.
    pub path: String,
    /// Title.
    pub title: String,
    /// incident or maintenance.
    pub kind: Kind,
    /// none, minor, major, critical.
    pub impact: Impact,
    /// Its status at the build's time: the newest update's, or the window's.
    pub status: UpdateStatus,
    /// Human label for `status`.
    pub status_label: String,
    /// Whether it is over.
    pub resolved: bool,
    /// Affected components.
    pub components: Vec<LinkView>,
    /// First update.
    pub started_at: Option<TimeView>,
    /// Newest update.
    pub updated_at: Option<TimeView>,
    /// When it was resolved or completed.
    pub resolved_at: Option<TimeView>,
    /// Maintenance window start.
    pub scheduled_for: Option<TimeView>,
    /// Maintenance window end.
    pub scheduled_until: Option<TimeView>,
    /// Updates, newest first.
    pub updates: Vec<UpdateView>,
}

/// One update.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateView {
    /// When.
    pub at: TimeView,
    /// Status word.
    pub status: UpdateStatus,
    /// Human label.
    pub status_label: String,
    /// Sanitised HTML body.
    pub html: String,
}

#[cfg(test)]
mod tests {
    use super::DisplayStatus as D;

    #[test]
    fn display_statuses_serialise_to_the_theme_words_and_rank_by_severity() {
        let all = [
            D::Operational,
            D::NoData,
            D::UnderMaintenance,
            D::DegradedPerformance,
            D::PartialOutage,
            D::MajorOutage,
        ];
        for s in all {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(
            D::worst([D::NoData, D::UnderMaintenance]),
            D::UnderMaintenance
        );
        assert_eq!(
            D::worst([D::UnderMaintenance, D::DegradedPerformance]),
            D::DegradedPerformance
        );
        assert_eq!(D::worst([]), D::Operational);
        assert_eq!(
            D::NoData.statuspage_word(),
            "operational",
            "Statuspage has no such word"
        );
    }
}

/// One month's availability report, as its page shows it (see `report`).
#[derive(Debug, Clone, Serialize)]
pub struct ReportView {
    /// `YYYY-MM`.
    pub id: String,
    /// e.g. "November 2026".
    pub label: String,
    /// The page, relative to the site root: `reports/YYYY-MM/`.
    pub path: String,
    /// The month is still running: its figures are so far.
    pub so_far: bool,
    /// The history kept does not reach the month's start.
    pub partly_covered: bool,
    /// The page as a whole.
    pub page: FiguresView,
    /// Every shown component.
    pub components: Vec<ComponentFiguresView>,
    /// Incidents posted in the month.
    pub incidents: Vec<IncidentLink>,
    /// The report as JSON, relative to the site root.
    pub json: String,
}

/// A component's row of a report.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentFiguresView {
    /// Name and page.
    pub link: LinkView,
    /// Its figures.
    pub figures: FiguresView,
}

/// A report's figures in the page's words.
#[derive(Debug, Clone, Serialize)]
pub struct FiguresView {
    /// e.g. "99.8518 %", or the words for no data.
    pub availability: String,
    /// Weighted downtime.
    pub downtime: String,
    /// How many outages.
    pub outages: usize,
    /// The longest, MTTR and MTBF; null without outages.
    pub longest: Option<String>,
    /// See `longest`.
    pub mttr: Option<String>,
    /// See `longest`.
    pub mtbf: Option<String>,
    /// Time under maintenance.
    pub maintenance: String,
    /// Time with no data.
    pub no_data: String,
    /// The SLO and its verdict, when there is one.
    pub slo: Option<SloView>,
}

/// An SLO's verdict in the page's words.
#[derive(Debug, Clone, Serialize)]
pub struct SloView {
    /// e.g. "99.9 %".
    pub target: String,
    /// Whether it was met.
    pub met: bool,
    /// "Met" or "Missed", in the page's language.
    pub verdict: String,
    /// Share of the error budget used, e.g. "42.0 %".
    pub used: String,
    /// What is left (or overspent), e.g. "25 min left".
    pub left: String,
}
