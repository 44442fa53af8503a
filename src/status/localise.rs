//! Step 4 (status): fault localisation over the dependency model. A probe is a test
//! transaction: it depends on the components it lists and, through `depends_on`, on what
//! they depend on. Under the single-fault assumption the candidates for an observation are
//! the components whose column of the probe × component matrix explains it. `analyze`
//! says which faults the probes cannot detect or tell apart, and which extra probes
//! (each exercising one component or a pair) would fix that: a set cover, solved greedily
//! and, for small models, exactly. Pure functions.

use std::collections::BTreeSet;

use serde::Serialize;

use super::Status;
use super::timeline::{Cover, Detected, Segment, status_at};
use crate::config::Config;

/// The dependency matrix: for each probe, the set of components it depends on.
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
        let rows = exercises
            .iter()
            .map(|cs| {
                cs.iter()
                    .flat_map(|c| closure[*c].iter().copied())
                    .collect()
            })
            .collect();
        Model {
            components,
            probes,
            rows,
            closure,
            lists: exercises
                .iter()
                .map(|cs| cs.iter().copied().collect())
                .collect(),
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
        let index = |id: &str| ids.iter().position(|x| x == id);
        let deps: Vec<Vec<usize>> = config
            .site
            .components
            .iter()
            .map(|c| c.depends_on.iter().filter_map(|d| index(d)).collect())
            .collect();
        let exercises: Vec<Vec<usize>> = config
            .probing
            .probes
            .iter()
            .map(|p| p.components.iter().filter_map(|c| index(c)).collect())
            .collect();
        let probes = config.probing.probes.iter().map(|p| p.id.clone()).collect();
        Model::new(ids, &deps, probes, &exercises)
    }

    /// The probes that depend on component `c`.
    pub fn column(&self, c: usize) -> BTreeSet<usize> {
        (0..self.rows.len())
            .filter(|p| self.rows[*p].contains(&c))
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
    let mut out: Vec<Candidate> = (0..model.components.len())
        .map(|c| {
            let column = model.column(c);
            let unexplained = failing.iter().filter(|p| !column.contains(p)).count();
            let contradicted = column
                .iter()
                .filter(|p| observed.contains(p) && !failing.contains(p))
                .count();
            Candidate {
                component: c,
                mismatches: unexplained + contradicted,
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

/// The faults behind the probes' current statuses (`statuses[p]` for probe `p`, `None`
/// without data). A probe in partial or major outage fails, an operational one passes,
/// a degraded one or one without data is left out. First the single-fault candidates
/// for everything that fails; when no single component explains it all (two faults at
/// once), the component explaining most of what is left without contradicting a passing
/// probe, then again for the rest. `tolerance` as in [`candidates`].
pub fn faults(model: &Model, statuses: &[Option<Status>], tolerance: usize) -> Vec<Fault> {
    let with = |f: fn(Status) -> bool| -> BTreeSet<usize> {
        (0..model.probes.len())
            .filter(|p| statuses.get(*p).copied().flatten().is_some_and(f))
            .collect()
    };
    let failing = with(|s| s >= Status::PartialOutage);
    let passing = with(|s| s == Status::Operational);
    let columns: Vec<BTreeSet<usize>> = (0..model.components.len())
        .map(|c| model.column(c))
        .collect();
    let mut left = failing.clone();
    let mut out = Vec::new();
    while !left.is_empty() {
        let observed: BTreeSet<usize> = passing.union(&left).copied().collect();
        let single = candidates(model, &left, &observed, tolerance);
        // Candidates that explain nothing (with a tolerance, a component no failing
        // probe depends on can score as well) are no cause.
        let explains = |c: usize| columns[c].intersection(&left).next().is_some();
        let best = single.iter().find(|c| explains(c.component));
        let causes: Vec<usize> = match best {
            // Alternatives explain the same probes equally well; a candidate explaining
            // other probes is another fault, for a later round.
            Some(best) => single
                .iter()
                .filter(|c| c.mismatches == best.mismatches)
                .filter(|c| {
                    columns[c.component]
                        .intersection(&left)
                        .eq(columns[best.component].intersection(&left))
                })
                .map(|c| c.component)
                .collect(),
            None => {
                let score = |c: usize| {
                    let explained = columns[c].intersection(&left).count();
                    let contradicted = columns[c].intersection(&passing).count();
                    (explained, std::cmp::Reverse(contradicted))
                };
                let usable = |c: &usize| {
                    columns[*c].intersection(&passing).count() <= tolerance
                        && columns[*c].intersection(&left).next().is_some()
                };
                // Components explaining the same probes equally well are alternatives;
                // one explaining other probes is another fault, for a later round.
                let Some(first) = (0..model.components.len())
                    .filter(usable)
                    .max_by_key(|c| (score(*c), std::cmp::Reverse(*c)))
                else {
                    break;
                };
                let same = |c: &usize| {
                    score(*c) == score(first)
                        && columns[*c]
                            .intersection(&left)
                            .eq(columns[first].intersection(&left))
                };
                (0..model.components.len())
                    .filter(usable)
                    .filter(same)
                    .collect()
            }
        };
        let explained: BTreeSet<usize> = causes
            .iter()
            .flat_map(|c| columns[*c].intersection(&left).copied())
            .collect();
        if explained.is_empty() {
            break; // only flaky probes within the tolerance are left
        }
        left.retain(|p| !explained.contains(p));
        let affected = (0..model.components.len())
            .filter(|c| !causes.contains(c))
            .filter(|c| {
                let mine: Vec<usize> = failing
                    .iter()
                    .copied()
                    .filter(|p| model.lists[*p].contains(c))
                    .collect();
                !mine.is_empty() && mine.iter().all(|p| explained.contains(p))
            })
            .collect();
        let status = explained
            .iter()
            .filter_map(|p| statuses.get(*p).copied().flatten())
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
    let mut own: Vec<Detected> = Vec::new();
    let mut through: Vec<(String, Detected)> = Vec::new();
    for d in detected {
        let end = d.outage.end.unwrap_or(now);
        let at = d
            .outage
            .start
            .checked_add_signed(after)
            .unwrap_or(end)
            .min(end - chrono::Duration::seconds(1))
            .max(d.outage.start);
        let statuses: Vec<Option<Status>> =
            probe_lines.iter().map(|segs| status_at(segs, at)).collect();
        let me = model.components.iter().position(|c| *c == d.component);
        let cause = faults(model, &statuses, tolerance)
            .into_iter()
            .find(|f| me.is_some_and(|m| f.affected.contains(&m)))
            .and_then(|f| match f.causes[..] {
                [c] => Some(model.components[c].clone()),
                _ => None,
            });
        match cause {
            Some(c) => through.push((c, d)),
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
    let mut made: Vec<Detected> = Vec::new();
    for (cause, d) in through {
        let (start, end) = (d.outage.start, d.outage.end.unwrap_or(now));
        let overlaps = |n: &Detected| n.outage.start <= end && n.outage.end.unwrap_or(now) >= start;
        if let Some(n) = own.iter_mut().find(|n| n.component == cause && overlaps(n)) {
            widen(n, &d);
            continue;
        }
        // The same rule as for the cause's own outages: a post overlapping it covers it.
        let covered = covers
            .iter()
            .any(|c| c.component == cause && c.from < end && c.until.is_none_or(|u| u > start));
        if covered {
            continue;
        }
        match made
            .iter_mut()
            .find(|n| n.component == cause && overlaps(n))
        {
            Some(n) => widen(n, &d),
            None => {
                let mut n = Detected {
                    component: cause,
                    outage: d.outage.clone(),
                    affects: Vec::new(),
                };
                widen(&mut n, &d);
                made.push(n);
            }
        }
    }
    own.extend(made);
    for n in &mut own {
        n.affects
            .sort_by_key(|c| model.components.iter().position(|x| x == c));
    }
    own.sort_by_key(|d| d.outage.start);
    own
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
    let columns: Vec<BTreeSet<usize>> = (0..n).map(|c| model.column(c)).collect();
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
    let columns: Vec<BTreeSet<usize>> = (0..n).map(|c| model.column(c)).collect();
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
