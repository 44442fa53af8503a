//! Step 4 (status): fault localisation over the dependency model. A probe is a test
//! transaction: it depends on the components it lists and, through `depends_on`, on what
//! they depend on. Under the single-fault assumption the candidates for an observation are
//! the components whose column of the probe × component matrix explains it. `analyze`
//! says which faults the probes cannot detect or tell apart, and which extra probes
//! (each exercising one component or a pair) would fix that: a set cover, solved greedily
//! and, for small models, exactly. Pure functions.

use std::collections::BTreeSet;

use serde::Serialize;

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
