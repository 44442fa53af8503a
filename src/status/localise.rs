//! Step 4 (status): fault localisation over the dependency model. A probe is a test
//! transaction: it depends on the components it lists and, through `depends_on`, on what
//! they depend on. Under the single-fault assumption the candidates for an observation are
//! the components whose column of the probe × component matrix explains it. `analyze`
//! says which faults the probes cannot detect or tell apart, and which extra probes
//! (each exercising one component or a pair) would fix that: a set cover, solved greedily
//! and, for small models, exactly. Pure functions.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::Status;
use super::timeline::{Cover, Covers, Detected, Segment};
use crate::config::Config;

/// The dependency matrix: for each probe, the set of components it depends on, and its
/// transpose, both built once so that a question costs what it touches.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Component ids, in config order.
    pub components: Vec<String>,
    /// Probe ids, in config order.
    pub probes: Vec<String>,
    /// `rows[p]`: indices of the components probe `p` depends on.
    pub rows: Vec<BTreeSet<usize>>,
    /// `closure[c]`: `c` and everything it depends on, transitively.
    pub closure: Vec<BTreeSet<usize>>,
    /// `lists[p]`: the components probe `p` names itself (its status feeds theirs).
    pub lists: Vec<BTreeSet<usize>>,
    /// `columns[c]`: the probes that depend on component `c` (the transpose of `rows`).
    columns: Vec<BTreeSet<usize>>,
    /// `listed_by[c]`: the probes that name component `c` (the transpose of `lists`).
    listed_by: Vec<Vec<usize>>,
    /// Component index by id.
    index: HashMap<String, usize>,
}

impl Model {
    /// Build from components with their `depends_on` (a DAG: validated in config) and
    /// probes with the components they exercise, both as indices.
    pub fn new(
        components: Vec<String>,
        depends_on: &[Vec<usize>],
        probes: Vec<String>,
        exercises: &[Vec<usize>],
    ) -> Model {
        let n = components.len();
        let closure: Vec<BTreeSet<usize>> = (0..n)
            .map(|c| {
                let mut reached = BTreeSet::new();
                let mut stack = vec![c];
                while let Some(x) = stack.pop() {
                    if reached.insert(x) {
                        stack.extend(depends_on.get(x).into_iter().flatten().copied());
                    }
                }
                reached
            })
            .collect();
        let rows: Vec<BTreeSet<usize>> = exercises
            .iter()
            .map(|cs| {
                cs.iter()
                    .filter(|c| **c < n)
                    .flat_map(|c| closure[*c].iter().copied())
                    .collect()
            })
            .collect();
        let lists: Vec<BTreeSet<usize>> = exercises
            .iter()
            .map(|cs| cs.iter().copied().filter(|c| *c < n).collect())
            .collect();
        let mut columns = vec![BTreeSet::new(); n];
        for (p, row) in rows.iter().enumerate() {
            for c in row {
                columns[*c].insert(p);
            }
        }
        let mut listed_by = vec![Vec::new(); n];
        for (p, list) in lists.iter().enumerate() {
            for c in list {
                listed_by[*c].push(p);
            }
        }
        let index = components
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        Model {
            components,
            probes,
            rows,
            closure,
            lists,
            columns,
            listed_by,
            index,
        }
    }

    /// The model of a configuration.
    pub fn from_config(config: &Config) -> Model {
        let ids: Vec<String> = config
            .site
            .components
            .iter()
            .map(|c| c.id.clone())
            .collect();
        let at: HashMap<&str, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let index = |id: &String| at.get(id.as_str()).copied();
        let deps: Vec<Vec<usize>> = config
            .site
            .components
            .iter()
            .map(|c| c.depends_on.iter().filter_map(index).collect())
            .collect();
        let exercises: Vec<Vec<usize>> = config
            .probing
            .probes
            .iter()
            .map(|p| p.components.iter().filter_map(index).collect())
            .collect();
        let probes = config.probing.probes.iter().map(|p| p.id.clone()).collect();
        Model::new(ids, &deps, probes, &exercises)
    }

    /// The probes that depend on component `c`.
    pub fn column(&self, c: usize) -> &BTreeSet<usize> {
        static NONE: BTreeSet<usize> = BTreeSet::new();
        self.columns.get(c).unwrap_or(&NONE)
    }

    /// The index of the component with this id.
    pub fn component_index(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The components some of `probes` depend on, in order: the only ones that can
    /// explain any of them.
    fn touched_by(&self, probes: &BTreeSet<usize>) -> BTreeSet<usize> {
        probes
            .iter()
            .filter_map(|p| self.rows.get(*p))
            .flatten()
            .copied()
            .collect()
    }
}

/// A candidate cause with how many observations it fails to explain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// Component index.
    pub component: usize,
    /// Failing probes that do not depend on it plus passing ones that do.
    pub mismatches: usize,
}

/// The single faults that explain `failing` among the `observed` probes, allowing up to
/// `tolerance` unexplained observations (flaky probes); best first. Empty when nothing
/// fails.
pub fn candidates(
    model: &Model,
    failing: &BTreeSet<usize>,
    observed: &BTreeSet<usize>,
    tolerance: usize,
) -> Vec<Candidate> {
    if failing.is_empty() {
        return Vec::new();
    }
    let contradicted = |c: usize| {
        model
            .column(c)
            .iter()
            .filter(|p| observed.contains(p) && !failing.contains(p))
            .count()
    };
    // A component no failing probe depends on leaves every one unexplained: it can be
    // within the tolerance only when few fail.
    let among: BTreeSet<usize> = if failing.len() > tolerance {
        model.touched_by(failing)
    } else {
        (0..model.components.len()).collect()
    };
    scored(model, failing, &contradicted, among, tolerance)
}

/// [`candidates`] among the components `among`, with `contradicted(c)` the passing
/// probes that depend on `c`.
fn scored(
    model: &Model,
    failing: &BTreeSet<usize>,
    contradicted: &dyn Fn(usize) -> usize,
    among: BTreeSet<usize>,
    tolerance: usize,
) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = among
        .into_iter()
        .map(|c| {
            let column = model.column(c);
            let unexplained = failing.iter().filter(|p| !column.contains(p)).count();
            Candidate {
                component: c,
                mismatches: unexplained + contradicted(c),
            }
        })
        .filter(|c| c.mismatches <= tolerance)
        .collect();
    out.sort_by_key(|c| (c.mismatches, c.component));
    out
}

/// One fault the failing probes point to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// The components that explain it equally well, by index, best first: one when the
    /// probes can tell, several when they cannot (multiple candidates stay multiple).
    pub causes: Vec<usize>,
    /// Components, other than the causes, whose failing probes this fault explains
    /// entirely: they fail only through it.
    pub affected: Vec<usize>,
    /// The failing probes it explains, by index.
    pub probes: Vec<usize>,
    /// The worst status among those probes.
    pub status: Status,
}

/// What the probes said at one moment, kept sparse: the few that fail or say nothing
/// usable are listed, every other probe passes. Questions about it cost what fails, not
/// what is configured.
#[derive(Debug, Clone, Default)]
struct Observation {
    /// Status by probe; `None` without data.
    statuses: Vec<Option<Status>>,
    /// Probes in partial or major outage.
    failing: BTreeSet<usize>,
    /// Probes that do not pass: failing, degraded or without data.
    not_passing: BTreeSet<usize>,
}

impl Observation {
    fn new(probes: usize) -> Observation {
        Observation {
            statuses: vec![None; probes],
            failing: BTreeSet::new(),
            not_passing: (0..probes).collect(),
        }
    }

    fn of(statuses: &[Option<Status>], probes: usize) -> Observation {
        let mut o = Observation::new(probes);
        for (p, s) in statuses.iter().take(probes).enumerate() {
            o.set(p, *s);
        }
        o
    }

    fn set(&mut self, p: usize, status: Option<Status>) {
        let Some(slot) = self.statuses.get_mut(p) else {
            return;
        };
        *slot = status;
        if status.is_some_and(|s| s >= Status::PartialOutage) {
            self.failing.insert(p);
        } else {
            self.failing.remove(&p);
        }
        if status == Some(Status::Operational) {
            self.not_passing.remove(&p);
        } else {
            self.not_passing.insert(p);
        }
    }

    /// How many probes of `column` pass.
    fn passing_in(&self, column: &BTreeSet<usize>) -> usize {
        if self.not_passing.len() < column.len() {
            column.len()
                - self
                    .not_passing
                    .iter()
                    .filter(|p| column.contains(p))
                    .count()
        } else {
            column
                .iter()
                .filter(|p| !self.not_passing.contains(p))
                .count()
        }
    }
}

/// The faults behind the probes' current statuses (`statuses[p]` for probe `p`, `None`
/// without data). A probe in partial or major outage fails, an operational one passes,
/// a degraded one or one without data is left out. First the single-fault candidates
/// for everything that fails; when no single component explains it all (two faults at
/// once), the component explaining most of what is left without contradicting a passing
/// probe, then again for the rest. `tolerance` as in [`candidates`].
pub fn faults(model: &Model, statuses: &[Option<Status>], tolerance: usize) -> Vec<Fault> {
    faults_in(
        model,
        &Observation::of(statuses, model.probes.len()),
        tolerance,
    )
}

/// [`faults`] of an observation. Only components some failing probe depends on can
/// explain anything, so only they are scored.
fn faults_in(model: &Model, seen: &Observation, tolerance: usize) -> Vec<Fault> {
    let failing = &seen.failing;
    let passing_in = |c: usize| seen.passing_in(model.column(c));
    let mut left = failing.clone();
    let mut out = Vec::new();
    while !left.is_empty() {
        let touched = model.touched_by(&left);
        let single = scored(model, &left, &passing_in, touched.clone(), tolerance);
        let meets = |c: usize| model.column(c).intersection(&left);
        // Candidates that explain nothing (with a tolerance, a component no failing
        // probe depends on can score as well) are no cause.
        let best = single.iter().find(|c| meets(c.component).next().is_some());
        let causes: Vec<usize> = match best {
            // Alternatives explain the same probes equally well; a candidate explaining
            // other probes is another fault, for a later round.
            Some(best) => single
                .iter()
                .filter(|c| c.mismatches == best.mismatches)
                .filter(|c| meets(c.component).eq(meets(best.component)))
                .map(|c| c.component)
                .collect(),
            None => {
                let score = |c: usize| {
                    let explained = meets(c).count();
                    (explained, std::cmp::Reverse(passing_in(c)))
                };
                // Every touched component explains something of what is left.
                let usable = |c: &usize| passing_in(*c) <= tolerance;
                // Components explaining the same probes equally well are alternatives;
                // one explaining other probes is another fault, for a later round.
                let Some(first) = touched
                    .iter()
                    .copied()
                    .filter(usable)
                    .max_by_key(|c| (score(*c), std::cmp::Reverse(*c)))
                else {
                    break;
                };
                let same = |c: &usize| score(*c) == score(first) && meets(*c).eq(meets(first));
                touched
                    .iter()
                    .copied()
                    .filter(usable)
                    .filter(same)
                    .collect()
            }
        };
        let explained: BTreeSet<usize> = causes.iter().flat_map(|c| meets(*c).copied()).collect();
        if explained.is_empty() {
            break; // only flaky probes within the tolerance are left
        }
        left.retain(|p| !explained.contains(p));
        // A component fails only through this fault when every failing probe naming it
        // is explained; only components the explained probes name can.
        let named: BTreeSet<usize> = explained
            .iter()
            .filter_map(|p| model.lists.get(*p))
            .flatten()
            .copied()
            .collect();
        let affected = named
            .into_iter()
            .filter(|c| !causes.contains(c))
            .filter(|c| {
                model.listed_by[*c]
                    .iter()
                    .filter(|p| failing.contains(p))
                    .all(|p| explained.contains(p))
            })
            .collect();
        let status = explained
            .iter()
            .filter_map(|p| seen.statuses.get(*p).copied().flatten())
            .max()
            .unwrap_or(Status::PartialOutage);
        out.push(Fault {
            causes,
            affected,
            probes: explained.into_iter().collect(),
            status,
        });
    }
    out
}

/// A fault as the pages show it: component ids instead of indices.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cause {
    /// The cause, or the candidates the probes cannot tell apart (any one of them).
    pub causes: Vec<String>,
    /// Components failing only through it.
    pub affected: Vec<String>,
    /// The worst status among the probes it explains.
    pub status: Status,
    /// Since when the earliest of those probes fails.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

impl Cause {
    /// "Cause: db — affects api, web", or "Possible causes: api or db — affects web".
    pub fn line(&self) -> String {
        let head = if self.causes.len() > 1 {
            format!("Possible causes: {}", self.causes.join(" or "))
        } else {
            format!("Cause: {}", self.causes.join(""))
        };
        if self.affected.is_empty() {
            head
        } else {
            format!("{head} — affects {}", self.affected.join(", "))
        }
    }

    /// Whether it says more than its component's own row: it takes others down, or the
    /// probes cannot tell between causes. Only such faults are listed.
    pub fn names_others(&self) -> bool {
        self.causes.len() > 1 || !self.affected.is_empty()
    }
}

/// The faults behind the merged probe verdicts (in config order), marked on the
/// component verdicts (in config order): a component failing only through a fault gets
/// `affected_by`; the one cause of a fault gets `affects` and, when none of its own probes
/// shows the failure, the fault's status (`inferred`). Candidate causes the probes cannot
/// tell apart keep their own status. Returns the faults.
pub fn attribute(
    model: &Model,
    probes: &[super::ProbeVerdict],
    components: &mut [super::ComponentVerdict],
    tolerance: usize,
) -> Vec<Cause> {
    let statuses: Vec<Option<Status>> = probes.iter().map(|v| v.status).collect();
    let found = faults(model, &statuses, tolerance);
    let id = |c: &usize| model.components[*c].clone();
    let since = |f: &Fault| {
        f.probes
            .iter()
            .filter_map(|p| probes.get(*p).and_then(|v| v.since))
            .min()
    };
    for f in &found {
        let causes: Vec<String> = f.causes.iter().map(id).collect();
        for a in &f.affected {
            if let Some(v) = components.get_mut(*a) {
                v.affected_by.clone_from(&causes);
            }
        }
        let [cause] = f.causes[..] else { continue };
        let Some(v) = components.get_mut(cause) else {
            continue;
        };
        v.affects = f.affected.iter().map(id).collect();
        if v.status < f.status {
            let explained = || f.probes.iter().filter_map(|p| probes.get(*p));
            v.status = f.status;
            v.inferred = true;
            v.since = since(f);
            let mut down: Vec<String> = explained()
                .flat_map(|p| &p.regions)
                .filter(|r| r.health == super::RegionHealth::Down)
                .map(|r| r.region.clone())
                .collect();
            down.sort();
            down.dedup();
            v.down_regions = down;
        }
    }
    found
        .iter()
        .map(|f| Cause {
            causes: f.causes.iter().map(id).collect(),
            affected: f.affected.iter().map(id).collect(),
            status: f.status,
            since: since(f),
        })
        .collect()
}

/// One notice per dependency outage: each detected outage whose component, at the moment
/// it became a notice (`after` into it), failed only through a fault with one cause
/// elsewhere is folded into that cause's notice (listed in its `affects`). A post
/// covering the cause then covers it too; a cause without a notice of its own (its own
/// probes were not failing long enough, or it has none) gets one spanning what it took
/// down. `probe_lines` are the probes' timelines in config order; `page` says how long
/// an outage lasts before it is a notice and how many candidate causes are named.
pub fn fold_detected(
    model: &Model,
    probe_lines: &[Vec<Segment>],
    detected: Vec<Detected>,
    covers: &[Cover],
    page: &crate::config::Page,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Detected> {
    let tolerance = page.cause_tolerance;
    let after =
        chrono::Duration::from_std(page.detect_outages_after).unwrap_or(chrono::Duration::MAX);
    // When each outage became a notice: the moment its cause is asked for.
    let asked: Vec<chrono::DateTime<chrono::Utc>> = detected
        .iter()
        .map(|d| {
            let end = d.outage.end.unwrap_or(now);
            d.outage
                .start
                .checked_add_signed(after)
                .unwrap_or(end)
                .min(end - chrono::Duration::seconds(1))
                .max(d.outage.start)
        })
        .collect();
    let causes = causes_at(model, probe_lines, &detected, &asked, tolerance);
    let mut own: Vec<Detected> = Vec::new();
    let mut through: Vec<(String, Detected)> = Vec::new();
    for (d, cause) in detected.into_iter().zip(causes) {
        match cause {
            Some(c) => through.push((model.components[c].clone(), d)),
            None => own.push(d),
        }
    }
    // The cause's notice spans everything folded into it: its start (and so its id) is
    // the earliest, and it lasts while any of them does.
    let widen = |n: &mut Detected, d: &Detected| {
        n.outage.start = n.outage.start.min(d.outage.start);
        n.outage.end = match (n.outage.end, d.outage.end) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
        n.outage.worst = n.outage.worst.max(d.outage.worst);
        n.outage.regions.extend(d.outage.regions.iter().cloned());
        n.outage.regions.sort();
        n.outage.regions.dedup();
        if !n.affects.contains(&d.component) {
            n.affects.push(d.component.clone());
        }
    };
    // Notices and covers by component, so each folding looks only at its cause's.
    let mut notices: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, n) in own.iter().enumerate() {
        notices.entry(n.component.clone()).or_default().push(i);
    }
    let covers = Covers::new(covers);
    let own_count = own.len();
    for (cause, d) in through {
        let (start, end) = (d.outage.start, d.outage.end.unwrap_or(now));
        let overlaps = |n: &Detected| n.outage.start <= end && n.outage.end.unwrap_or(now) >= start;
        let mine = notices.get(&cause).map_or(&[][..], Vec::as_slice);
        // The cause's own notices first, then the ones made for it.
        if let Some(&i) = mine
            .iter()
            .filter(|i| **i < own_count)
            .find(|i| overlaps(&own[**i]))
        {
            widen(&mut own[i], &d);
            continue;
        }
        // The same rule as for the cause's own outages: a post overlapping it covers it.
        if covers.covered(&cause, start, end) {
            continue;
        }
        match mine
            .iter()
            .filter(|i| **i >= own_count)
            .find(|i| overlaps(&own[**i]))
        {
            Some(&i) => widen(&mut own[i], &d),
            None => {
                let mut n = Detected {
                    component: cause.clone(),
                    outage: d.outage.clone(),
                    affects: Vec::new(),
                };
                widen(&mut n, &d);
                own.push(n);
                notices.entry(cause).or_default().push(own.len() - 1);
            }
        }
    }
    for n in &mut own {
        n.affects.sort_by_key(|c| model.component_index(c));
    }
    own.sort_by_key(|d| d.outage.start);
    own
}

/// For each detected outage, the one component outside it whose fault explains its
/// failure at `asked[i]`, if there is one. The probes' timelines are swept once in time
/// order, so each question costs what fails at that moment, not every probe.
fn causes_at(
    model: &Model,
    probe_lines: &[Vec<Segment>],
    detected: &[Detected],
    asked: &[chrono::DateTime<chrono::Utc>],
    tolerance: usize,
) -> Vec<Option<usize>> {
    // Every segment's start sets its probe's status and its end clears it; at one
    // instant ends come first, so a segment starting where another ends wins (a status
    // at `t` is the segment's with `from <= t < to`, as `status_at` has it).
    let mut changes: Vec<(chrono::DateTime<chrono::Utc>, bool, usize, Option<Status>)> = Vec::new();
    for (p, segments) in probe_lines.iter().enumerate().take(model.probes.len()) {
        for s in segments {
            changes.push((s.from, true, p, s.status));
            changes.push((s.to, false, p, None));
        }
    }
    changes.sort_by_key(|(at, starts, _, _)| (*at, *starts));
    let mut order: Vec<usize> = (0..detected.len()).collect();
    order.sort_by_key(|i| asked[*i]);
    let mut seen = Observation::new(model.probes.len());
    let mut next = changes.into_iter().peekable();
    let mut out = vec![None; detected.len()];
    for i in order {
        while let Some((_, _, p, status)) = next.next_if(|c| c.0 <= asked[i]) {
            seen.set(p, status);
        }
        let me = model.component_index(&detected[i].component);
        out[i] = faults_in(model, &seen, tolerance)
            .into_iter()
            .find(|f| me.is_some_and(|m| f.affected.contains(&m)))
            .and_then(|f| match f.causes[..] {
                [c] => Some(c),
                _ => None,
            });
    }
    out
}

/// What the probe set can and cannot tell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// Components no probe depends on: their failure goes unseen.
    pub undetectable: Vec<usize>,
    /// Groups of detectable components the probes cannot tell apart (same column).
    pub indistinguishable: Vec<Vec<usize>>,
    /// Extra probes, each exercising these components, that make every single fault
    /// detectable and distinguishable (greedy).
    pub suggestion: Vec<Vec<usize>>,
    /// The smallest number of such probes, when the model is small enough to search.
    pub optimum: Option<usize>,
}

/// One element to cover: a component to detect, or a pair to separate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Detect(usize),
    Separate(usize, usize),
}

/// The candidate new probes: each component alone, and each pair.
fn candidate_rows(model: &Model) -> Vec<(Vec<usize>, BTreeSet<usize>)> {
    let n = model.components.len();
    let mut out = Vec::new();
    for a in 0..n {
        out.push((vec![a], model.closure[a].clone()));
    }
    for a in 0..n {
        for b in a + 1..n {
            let row: BTreeSet<usize> = model.closure[a].union(&model.closure[b]).copied().collect();
            out.push((vec![a, b], row));
        }
    }
    out
}

fn needs(model: &Model) -> Vec<Need> {
    let n = model.components.len();
    let columns: Vec<&BTreeSet<usize>> = (0..n).map(|c| model.column(c)).collect();
    let mut out: Vec<Need> = columns
        .iter()
        .enumerate()
        .filter(|(_, col)| col.is_empty())
        .map(|(c, _)| Need::Detect(c))
        .collect();
    for a in 0..n {
        for b in a + 1..n {
            if columns[a] == columns[b] {
                out.push(Need::Separate(a, b));
            }
        }
    }
    out
}

fn covers(row: &BTreeSet<usize>, need: Need) -> bool {
    match need {
        Need::Detect(c) => row.contains(&c),
        Need::Separate(a, b) => row.contains(&a) != row.contains(&b),
    }
}

/// Greedy set cover: the new probe covering most open needs, until none is open.
fn greedy(rows: &[(Vec<usize>, BTreeSet<usize>)], needs: &[Need]) -> Vec<usize> {
    let mut open: Vec<Need> = needs.to_vec();
    let mut picked = Vec::new();
    while !open.is_empty() {
        let best = (0..rows.len())
            .map(|r| (open.iter().filter(|n| covers(&rows[r].1, **n)).count(), r))
            .max_by_key(|(count, r)| (*count, std::cmp::Reverse(*r)));
        match best {
            Some((count, r)) if count > 0 => {
                picked.push(r);
                open.retain(|n| !covers(&rows[r].1, *n));
            }
            _ => break,
        }
    }
    picked
}

/// The smallest number of rows covering every need, by iterative deepening with a
/// counting bound, up to `limit` rows; `None` if more are needed.
fn exact_size(rows: &[BTreeSet<usize>], needs: &[Need], limit: usize) -> Option<usize> {
    fn search(rows: &[BTreeSet<usize>], open: &[Need], left: usize) -> bool {
        if open.is_empty() {
            return true;
        }
        if left == 0 {
            return false;
        }
        let best_cover = rows
            .iter()
            .map(|r| open.iter().filter(|n| covers(r, **n)).count())
            .max()
            .unwrap_or(0);
        if best_cover == 0 || open.len().div_ceil(best_cover) > left {
            return false;
        }
        // Branch on the need with the fewest rows covering it.
        let Some(need) = open
            .iter()
            .min_by_key(|n| rows.iter().filter(|r| covers(r, **n)).count())
        else {
            return true;
        };
        rows.iter().filter(|r| covers(r, *need)).any(|r| {
            let rest: Vec<Need> = open.iter().copied().filter(|n| !covers(r, *n)).collect();
            search(rows, &rest, left - 1)
        })
    }
    (0..=limit).find(|k| search(rows, needs, *k))
}

/// Analyse a model. The exact optimum is searched for models of at most 20 components.
pub fn analyze(model: &Model) -> Analysis {
    let n = model.components.len();
    let columns: Vec<&BTreeSet<usize>> = (0..n).map(|c| model.column(c)).collect();
    let undetectable: Vec<usize> = (0..n).filter(|c| columns[*c].is_empty()).collect();
    let mut indistinguishable: Vec<Vec<usize>> = Vec::new();
    let mut seen = vec![false; n];
    for a in 0..n {
        if seen[a] || columns[a].is_empty() {
            continue;
        }
        let group: Vec<usize> = (a..n).filter(|b| columns[*b] == columns[a]).collect();
        for b in &group {
            seen[*b] = true;
        }
        if group.len() > 1 {
            indistinguishable.push(group);
        }
    }
    let rows = candidate_rows(model);
    let needs = needs(model);
    let picked = greedy(&rows, &needs);
    let optimum = (n <= 20).then(|| {
        let only: Vec<BTreeSet<usize>> = rows.iter().map(|(_, r)| r.clone()).collect();
        exact_size(&only, &needs, picked.len())
    });
    Analysis {
        undetectable,
        indistinguishable,
        suggestion: picked.into_iter().map(|r| rows[r].0.clone()).collect(),
        optimum: optimum.flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random sequence.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// n components; each depends on up to two earlier ones (a DAG); m probes over 1–3.
    fn random_model(rng: &mut Rng, n: usize, m: usize) -> Model {
        let deps: Vec<Vec<usize>> = (0..n)
            .map(|c| {
                if c == 0 {
                    return Vec::new();
                }
                (0..rng.next(3)).map(|_| rng.next(c)).collect()
            })
            .collect();
        let exercises: Vec<Vec<usize>> = (0..m)
            .map(|_| (0..1 + rng.next(3)).map(|_| rng.next(n)).collect())
            .collect();
        Model::new(
            (0..n).map(|c| format!("c{c}")).collect(),
            &deps,
            (0..m).map(|p| format!("p{p}")).collect(),
            &exercises,
        )
    }

    #[test]
    fn localisation_equals_brute_force_for_every_single_fault() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let model = random_model(&mut rng, 50, 80);
        let all: BTreeSet<usize> = (0..80).collect();
        for fault in 0..50 {
            // A fault fails exactly the probes that depend on it.
            let failing: BTreeSet<usize> = (0..80)
                .filter(|p| model.rows[*p].contains(&fault))
                .collect();
            let got: BTreeSet<usize> = candidates(&model, &failing, &all, 0)
                .into_iter()
                .map(|c| c.component)
                .collect();
            // Brute force: every component whose failure would give the same observation.
            let want: BTreeSet<usize> = (0..50)
                .filter(|c| {
                    let would: BTreeSet<usize> =
                        (0..80).filter(|p| model.rows[*p].contains(c)).collect();
                    would == failing && !failing.is_empty()
                })
                .collect();
            assert_eq!(got, want, "fault c{fault}");
            if !failing.is_empty() {
                assert!(got.contains(&fault));
            }
        }
    }

    #[test]
    fn a_flaky_probe_is_tolerated_when_asked() {
        // db ← api ← web; probes: web-home (web), api-health (api), db-ping (db).
        let model = Model::new(
            vec!["db".into(), "api".into(), "web".into()],
            &[vec![], vec![0], vec![1]],
            vec!["db-ping".into(), "api-health".into(), "web-home".into()],
            &[vec![0], vec![1], vec![2]],
        );
        let all: BTreeSet<usize> = (0..3).collect();
        // db down: all three fail → db, the only column that explains it.
        let c = candidates(&model, &all, &all, 0);
        assert_eq!(
            c,
            vec![Candidate {
                component: 0,
                mismatches: 0
            }]
        );
        // api and web fail, db-ping passes: exactly api explains it; with one flaky
        // observation allowed, db (db-ping flaked) and web (api-health flaked) join.
        let failing: BTreeSet<usize> = [1, 2].into();
        assert_eq!(
            candidates(&model, &failing, &all, 0)
                .first()
                .map(|c| c.component),
            Some(1)
        );
        let tolerant = candidates(&model, &failing, &all, 1);
        assert_eq!(
            tolerant.iter().map(|c| c.component).collect::<Vec<_>>(),
            vec![1, 0, 2]
        );
    }

    #[test]
    fn analysis_finds_blind_spots_and_a_fix() {
        // cdn and web are only ever probed together; search has no probe.
        let model = Model::new(
            vec!["cdn".into(), "web".into(), "search".into(), "api".into()],
            &[vec![], vec![], vec![], vec![]],
            vec!["home".into(), "api".into()],
            &[vec![0, 1], vec![3]],
        );
        let a = analyze(&model);
        assert_eq!(a.undetectable, vec![2]);
        assert_eq!(a.indistinguishable, vec![vec![0, 1]]);
        // One probe through cdn and search both detects search and separates cdn from web.
        assert_eq!(a.optimum, Some(1));
        assert_eq!(a.suggestion, vec![vec![0, 2]]);
    }

    /// web → api → db, cdn alone; probes web-home [web], api-health [api], cdn-asset
    /// [cdn], and db-port [db] when `db_probe`.
    fn shop(db_probe: bool) -> Model {
        let mut probes = vec!["web-home".into(), "api-health".into(), "cdn-asset".into()];
        let mut lists = vec![vec![0], vec![1], vec![3]];
        if db_probe {
            probes.push("db-port".into());
            lists.push(vec![2]);
        }
        Model::new(
            vec!["web".into(), "api".into(), "db".into(), "cdn".into()],
            &[vec![1], vec![2], vec![], vec![]],
            probes,
            &lists,
        )
    }

    use Status::{
        DegradedPerformance as G, MajorOutage as X, Operational as O, PartialOutage as P,
    };

    #[test]
    fn a_dependency_fault_is_one_fault_naming_what_it_affects() {
        let model = shop(true);
        let f = faults(&model, &[Some(X), Some(X), Some(O), Some(P)], 0);
        assert_eq!(
            f,
            vec![Fault {
                causes: vec![2],
                affected: vec![0, 1],
                probes: vec![0, 1, 3],
                status: X,
            }]
        );
        // Only the API's own probe fails while the website, which needs the API, passes:
        // no single fault explains that, so nothing is inferred; one flaky probe
        // tolerated, the API is the cause and nothing is affected.
        let api_only = [Some(O), Some(X), Some(O), Some(O)];
        assert!(faults(&model, &api_only, 0).is_empty());
        let f = faults(&model, &api_only, 1);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].causes.clone(), f[0].affected.clone()),
            (vec![1], vec![])
        );
        assert!(faults(&model, &[Some(O), Some(G), Some(O), None], 0).is_empty());
    }

    #[test]
    fn without_a_probe_of_its_own_the_cause_stays_ambiguous() {
        let model = shop(false);
        let f = faults(&model, &[Some(X), Some(X), Some(O)], 0);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].causes, vec![1, 2], "api or db: the probes cannot tell");
        assert_eq!(f[0].affected, vec![0]);
    }

    #[test]
    fn two_faults_at_once_are_two_faults() {
        let model = shop(true);
        // db and cdn down together: no single component explains both.
        let f = faults(&model, &[Some(X), Some(P), Some(X), Some(X)], 0);
        let got: Vec<(Vec<usize>, Vec<usize>, Status)> = f
            .iter()
            .map(|f| (f.causes.clone(), f.affected.clone(), f.status))
            .collect();
        assert_eq!(
            got,
            vec![(vec![2], vec![0, 1], X), (vec![3], vec![], X)],
            "the larger fault first"
        );
        // The website's and the CDN's probes fail, nothing else: two faults of one probe
        // each, not one fault with two possible causes.
        let f = faults(&shop(true), &[Some(X), Some(O), Some(X), Some(O)], 0);
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[0].causes.clone(), f[1].causes.clone()),
            (vec![0], vec![3])
        );
        // With a tolerance, the website and the CDN each explain one of the two failing
        // probes equally well: still two faults, not "website or CDN".
        let f = faults(&shop(true), &[Some(X), Some(O), Some(X), Some(O)], 1);
        let causes: Vec<Vec<usize>> = f.iter().map(|f| f.causes.clone()).collect();
        assert_eq!(causes, vec![vec![0], vec![3]]);
        // A probe without data and a degraded one neither count for nor against.
        let f = faults(&model, &[None, Some(G), Some(O), Some(X)], 0);
        assert_eq!(
            f[0].causes,
            vec![2],
            "db-port fails; api-health says nothing"
        );
    }

    /// Every subset of `k` rows, checking whether one covers every need.
    fn brute(rows: &[BTreeSet<usize>], needs: &[Need], k: usize) -> bool {
        fn go(rows: &[BTreeSet<usize>], k: usize, start: usize, open: Vec<Need>) -> bool {
            if open.is_empty() {
                return true;
            }
            if k == 0 {
                return false;
            }
            (start..rows.len()).any(|r| {
                let rest = open
                    .iter()
                    .copied()
                    .filter(|n| !covers(&rows[r], *n))
                    .collect();
                go(rows, k - 1, r + 1, rest)
            })
        }
        go(rows, k, 0, needs.to_vec())
    }

    #[test]
    fn greedy_stays_within_the_bound_of_the_exact_optimum() {
        let mut rng = Rng(42);
        for round in 0..30 {
            let n = 4 + rng.next(5);
            let m = rng.next(n + 2);
            let model = random_model(&mut rng, n, m);
            let a = analyze(&model);
            let rows: Vec<BTreeSet<usize>> =
                candidate_rows(&model).into_iter().map(|(_, r)| r).collect();
            let needs = needs(&model);
            let opt = a.optimum.unwrap_or(usize::MAX);
            // The optimum is exact: it covers, and nothing smaller does (brute force).
            assert!(brute(&rows, &needs, opt), "round {round}");
            assert!(opt == 0 || !brute(&rows, &needs, opt - 1), "round {round}");
            // Greedy set cover is within H(d) of the optimum, d the most needs one row
            // covers; with these sizes that is at most ln(d) + 1.
            let d = rows
                .iter()
                .map(|r| needs.iter().filter(|n| covers(r, **n)).count())
                .max()
                .unwrap_or(1)
                .max(1);
            let bound = (d as f64).ln() + 1.0;
            assert!(
                a.suggestion.len() as f64 <= (opt as f64) * bound + 1e-9,
                "round {round}: greedy {} vs optimum {opt} (bound {bound:.2})",
                a.suggestion.len()
            );
        }
    }
}
