//! Step 4 of the flow: decide what is true. Pure functions of (region states, policy,
//! incidents, now): no clocks, no files, no sockets, so every rule is unit-tested.

pub mod localise;
pub mod merge;
pub mod timeline;

use serde::Serialize;

pub use merge::{
    ComponentVerdict, Override, ProbePolicy, ProbeVerdict, RegionHealth, RegionView, components,
    merge_probe, quorum,
};

/// A component's status, Statuspage's words, ordered by severity so a roll-up is `max()`.
/// Maintenance is an overlay shown beside this, not a severity.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Working.
    Operational,
    /// Working, but slow or with warnings in enough regions.
    DegradedPerformance,
    /// Down in some regions, fewer than the quorum, or declared so by an incident.
    PartialOutage,
    /// Down in at least the quorum of regions.
    MajorOutage,
}

impl Status {
    /// The snake_case word.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Operational => "operational",
            Status::DegradedPerformance => "degraded_performance",
            Status::PartialOutage => "partial_outage",
            Status::MajorOutage => "major_outage",
        }
    }
}

/// Declared impact of an incident.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    /// No impact on service.
    None,
    /// Some users notice.
    Minor,
    /// Many users affected.
    Major,
    /// The service is unusable.
    Critical,
}

impl Impact {
    /// The word.
    pub fn as_str(self) -> &'static str {
        match self {
            Impact::None => "none",
            Impact::Minor => "minor",
            Impact::Major => "major",
            Impact::Critical => "critical",
        }
    }

    /// The component status an open incident of this impact declares.
    pub fn status(self) -> Option<Status> {
        match self {
            Impact::None => None,
            Impact::Minor => Some(Status::DegradedPerformance),
            Impact::Major => Some(Status::PartialOutage),
            Impact::Critical => Some(Status::MajorOutage),
        }
    }
}

/// The page indicator, as Statuspage reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    /// All systems operational.
    None,
    /// Maintenance in progress, nothing else wrong.
    Maintenance,
    /// Degraded somewhere.
    Minor,
    /// A partial outage.
    Major,
    /// A major outage.
    Critical,
}

impl Indicator {
    /// The word.
    pub fn as_str(self) -> &'static str {
        match self {
            Indicator::None => "none",
            Indicator::Maintenance => "maintenance",
            Indicator::Minor => "minor",
            Indicator::Major => "major",
            Indicator::Critical => "critical",
        }
    }

    /// Statuspage's description for it.
    pub fn description(self) -> &'static str {
        match self {
            Indicator::None => "All Systems Operational",
            Indicator::Maintenance => "Service Under Maintenance",
            Indicator::Minor => "Partially Degraded Service",
            Indicator::Major => "Partial System Outage",
            Indicator::Critical => "Major System Outage",
        }
    }
}

/// The page's headline: the indicator's description, except that with nothing wrong
/// it claims no more than the components' rows know: "No Current Data" when no
/// monitored component has fresh data, "Some Systems Without Current Data" when some
/// have none.
pub fn headline(indicator: Indicator, components: &[ComponentVerdict]) -> &'static str {
    if indicator != Indicator::None {
        return indicator.description();
    }
    let monitored = components.iter().filter(|c| c.monitored).count();
    let blind = components
        .iter()
        .filter(|c| c.monitored && c.no_data && c.status == Status::Operational)
        .count();
    match blind {
        0 => indicator.description(),
        n if n == monitored => "No Current Data",
        _ => "Some Systems Without Current Data",
    }
}

/// The page indicator from the components' statuses, the open incidents' impacts and
/// whether a maintenance window is running.
pub fn indicator(
    statuses: impl IntoIterator<Item = Status>,
    open_impacts: impl IntoIterator<Item = Impact>,
    maintenance_active: bool,
) -> Indicator {
    let from_status = statuses
        .into_iter()
        .map(|s| match s {
            Status::Operational => Indicator::None,
            Status::DegradedPerformance => Indicator::Minor,
            Status::PartialOutage => Indicator::Major,
            Status::MajorOutage => Indicator::Critical,
        })
        .max()
        .unwrap_or(Indicator::None);
    let from_incidents = open_impacts
        .into_iter()
        .map(|i| match i {
            Impact::None => Indicator::None,
            Impact::Minor => Indicator::Minor,
            Impact::Major => Indicator::Major,
            Impact::Critical => Indicator::Critical,
        })
        .max()
        .unwrap_or(Indicator::None);
    let worst = from_status.max(from_incidents);
    if worst == Indicator::None && maintenance_active {
        Indicator::Maintenance
    } else {
        worst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_wins_by_ordering() {
        let worst = [
            Status::Operational,
            Status::PartialOutage,
            Status::DegradedPerformance,
        ]
        .into_iter()
        .max();
        assert_eq!(worst, Some(Status::PartialOutage));
    }

    #[test]
    fn indicator_follows_components_and_incidents() {
        assert_eq!(indicator([Status::Operational], [], false), Indicator::None);
        assert_eq!(
            indicator([Status::Operational], [], true),
            Indicator::Maintenance
        );
        assert_eq!(
            indicator([Status::DegradedPerformance], [], true),
            Indicator::Minor
        );
        assert_eq!(
            indicator([Status::PartialOutage], [Impact::Minor], false),
            Indicator::Major
        );
        assert_eq!(
            indicator([Status::Operational], [Impact::Critical], false),
            Indicator::Critical
        );
        assert_eq!(
            indicator([Status::MajorOutage], [], false),
            Indicator::Critical
        );
        assert_eq!(indicator([], [Impact::None], false), Indicator::None);
        assert_eq!(Indicator::Major.description(), "Partial System Outage");
    }
}
