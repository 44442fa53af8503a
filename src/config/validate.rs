//! Step 1 (config): raw types → validated types, and the cross-file rules (unique ids,
//! probe → component, regions, dependencies). Problems are collected, never thrown.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use super::probes::KIND_FIELDS;
use super::{
    Component, EmailSpec, Group, HttpSpec, KindWord, Method, Page, Probe, ProbeKind, Probing,
    Problem, RawComponent, RawDefaults, RawGroup, RawPage, RawProbe, RawRegion, RawTarget, Region,
    Site, StatusMatch, Target, TargetKind, TcpSpec, Template, TlsCheckSpec, TlsSpec,
};
use crate::yaml::{self, Node};

/// Default time between checks.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Default deadline of one check.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default pause before an in-region re-check.
pub(crate) const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(2);
/// Shortest interval: faster than this is load testing, not monitoring.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Longest interval.
pub(crate) const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Default body cap.
pub(crate) const DEFAULT_MAX_BODY: u64 = 1024 * 1024;

/// Whether `id` is safe as an id, a file name and a URL segment.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !id.starts_with(['-', '_'])
}

fn id_problem(file: &str, loc: yaml::Loc, context: &str, what: &str, id: &str) -> Problem {
    let fixed: String = id
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .to_string();
    Problem::new(
        file,
        Some(loc),
        context,
        format!(
            "{what} \"{id}\" may only use lowercase letters, digits, '-' and '_' (at most 64); try \"{fixed}\""
        ),
    )
}

/// Each item of a list section deserialized on its own, so one bad item hides nothing.
fn each_item<'a, T: serde::de::DeserializeOwned>(
    node: Option<&'a Node>,
    section: &str,
    file: &str,
    problems: &mut Vec<Problem>,
) -> Vec<(usize, &'a Node, T)> {
    let Some(node) = node else {
        return Vec::new();
    };
    let Some(items) = node.items() else {
        problems.push(Problem::new(
            file,
            Some(node.loc),
            section,
            "expected a list (items starting with `- `)",
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match yaml::from_node::<T>(item, &format!("{section}[{i}]")) {
            Ok(v) => out.push((i, item, v)),
            Err(e) => problems.push(Problem::from_yaml(file, e)),
        }
    }
    out
}

/// components.yaml → [`Site`].
pub fn validate_components(node: &Node, file: &str, problems: &mut Vec<Problem>) -> Option<Site> {
    let before = problems.len();
    let mut top = Vec::new();
    let keys = yaml::known_keys(
        node,
        "",
        &["page", "groups", "components", "announce"],
        &mut top,
    );
    problems.extend(top.into_iter().map(|e| Problem::from_yaml(file, e)));

    let page = match keys.get("page") {
        Some(p) => match yaml::from_node::<RawPage>(p, "page") {
            Ok(raw) => validate_page(raw, p, file, problems),
            Err(e) => {
                problems.push(Problem::from_yaml(file, e));
                None
            }
        },
        None => {
            problems.push(Problem::new(
                file,
                Some(node.loc),
                "",
                "missing section \"page\"; add `page:` with at least `title` and `base_url`",
            ));
            None
        }
    };

    let mut groups = Vec::new();
    let mut group_ids = HashSet::new();
    for (i, item, raw) in
        each_item::<RawGroup>(keys.get("groups").copied(), "groups", file, problems)
    {
        let ctx = format!("groups[{i}]");
        if !valid_id(&raw.id) {
            problems.push(id_problem(
                file,
                item.loc_of(&["id"]),
                &ctx,
                "group id",
                &raw.id,
            ));
        } else if !group_ids.insert(raw.id.clone()) {
            problems.push(Problem::new(
                file,
                Some(item.loc_of(&["id"])),
                &ctx,
                format!("group id \"{}\" is used twice; ids must be unique", raw.id),
            ));
        }
        groups.push(Group {
            id: raw.id,
            name: raw.name,
            description: raw.description,
        });
    }

    let raw_components = each_item::<RawComponent>(
        keys.get("components").copied(),
        "components",
        file,
        problems,
    );
    if !keys.contains_key("components") || (raw_components.is_empty() && problems.len() == before) {
        problems.push(Problem::new(
            file,
            Some(node.loc),
            "",
            "no components defined; add `components:` with at least one `- id: … name: …`",
        ));
    }
    let all_ids: HashSet<&str> = raw_components
        .iter()
        .map(|(_, _, c)| c.id.as_str())
        .collect();
    let mut seen = HashSet::new();
    let mut components = Vec::new();
    for (i, item, raw) in &raw_components {
        let ctx = format!("component \"{}\" (components[{i}])", raw.id);
        if !valid_id(&raw.id) {
            problems.push(id_problem(
                file,
                item.loc_of(&["id"]),
                &ctx,
                "component id",
                &raw.id,
            ));
        } else if !seen.insert(raw.id.as_str()) {
            problems.push(Problem::new(
                file,
                Some(item.loc_of(&["id"])),
                &ctx,
                format!(
                    "component id \"{}\" is used twice; ids must be unique",
                    raw.id
                ),
            ));
        }
        if let Some(g) = &raw.group
            && !group_ids.contains(g)
        {
            let known: Vec<&str> = groups.iter().map(|g| g.id.as_str()).collect();
            problems.push(Problem::new(
                file,
                Some(item.loc_of(&["group"])),
                &ctx,
                unknown_ref("group", g, &known, "groups"),
            ));
        }
        for (j, dep) in raw.depends_on.iter().enumerate() {
            let at = Some(item.loc_of(&["depends_on", &j.to_string()]));
            if dep == &raw.id {
                problems.push(Problem::new(
                    file,
                    at,
                    &ctx,
                    "a component cannot depend on itself",
                ));
            } else if !all_ids.contains(dep.as_str()) {
                let known: Vec<&str> = all_ids.iter().copied().collect();
                problems.push(Problem::new(
                    file,
                    at,
                    &ctx,
                    unknown_ref("component", dep, &known, "components"),
                ));
            }
        }
        components.push(Component {
            id: raw.id.clone(),
            name: raw.name.clone(),
            description: raw.description.clone(),
            group: raw.group.clone(),
            depends_on: raw.depends_on.clone(),
            hidden_until_degraded: raw.hidden_until_degraded,
        });
    }
    if let Some(cycle) = find_cycle(&components) {
        let first = raw_components
            .iter()
            .find(|(_, _, c)| c.id == cycle[0])
            .map(|(_, n, _)| n.loc_of(&["depends_on"]));
        problems.push(Problem::new(
            file,
            first,
            "",
            format!(
                "dependency cycle {}; remove one of these depends_on entries",
                cycle.join(" → ")
            ),
        ));
    }
    let announce = validate_targets(keys.get("announce").copied(), file, problems);
    if problems.len() > before {
        return None;
    }
    Some(Site {
        page: page?,
        groups,
        components,
        announce,
    })
}

/// `announce:` → targets: the fields each kind needs, http(s) addresses, unique ids.
fn validate_targets(node: Option<&Node>, file: &str, problems: &mut Vec<Problem>) -> Vec<Target> {
    let mut out: Vec<Target> = Vec::new();
    for (i, item, raw) in each_item::<RawTarget>(node, "announce", file, problems) {
        let ctx = format!("announce[{i}]");
        let word = match raw.kind {
            TargetKind::Webhook => "webhook",
            TargetKind::Slack => "slack",
            TargetKind::Discord => "discord",
            TargetKind::Mastodon => "mastodon",
            TargetKind::Email => "email",
        };
        let id = raw.id.clone().unwrap_or_else(|| {
            let n = out.iter().filter(|t| t.kind == raw.kind).count();
            if n == 0 {
                word.to_string()
            } else {
                format!("{word}-{}", n + 1)
            }
        });
        if !valid_id(&id) {
            problems.push(id_problem(
                file,
                item.loc_of(&["id"]),
                &ctx,
                "target id",
                &id,
            ));
        } else if out.iter().any(|t| t.id == id) {
            problems.push(Problem::new(
                file,
                Some(item.loc_of(&["id"])),
                &ctx,
                format!("target id \"{id}\" is used twice; give each target its own `id`"),
            ));
        }
        let misplaced = |field: &str, present: bool, problems: &mut Vec<Problem>| {
            if present {
                problems.push(Problem::new(
                    file,
                    Some(item.loc_of(&[field])),
                    &ctx,
                    format!("`{field}` is not used by {word} targets; remove it"),
                ));
            }
        };
        let http = |raw: &str| {
            url::Url::parse(raw)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        };
        let target = match raw.kind {
            TargetKind::Mastodon => {
                misplaced("url", raw.url.is_some(), problems);
                let server = raw.server.as_deref().unwrap_or_default();
                let Some(base) = http(server) else {
                    problems.push(Problem::new(
                        file,
                        Some(if raw.server.is_some() { item.loc_of(&["server"]) } else { item.loc }),
                        &ctx,
                        "a mastodon target needs `server:` with the instance's address, e.g. https://mastodon.social",
                    ));
                    continue;
                };
                let Some(token) = raw.token.clone() else {
                    problems.push(Problem::new(
                        file,
                        Some(item.loc),
                        &ctx,
                        "a mastodon target needs `token: ${MASTODON_TOKEN}` (an access token with write:statuses, from the environment)",
                    ));
                    continue;
                };
                let visibility = raw
                    .visibility
                    .clone()
                    .unwrap_or_else(|| "public".to_string());
                if !matches!(visibility.as_str(), "public" | "unlisted" | "private") {
                    problems.push(Problem::new(
                        file,
                        Some(item.loc_of(&["visibility"])),
                        &ctx,
                        format!(
                            "visibility \"{visibility}\" is not one of public, unlisted, private"
                        ),
                    ));
                }
                let endpoint = format!("{}/api/v1/statuses", base.as_str().trim_end_matches('/'));
                let Ok(url) = Template::parse(&endpoint) else {
                    continue;
                };
                Target {
                    id,
                    kind: raw.kind,
                    url,
                    token: Some(token),
                    visibility,
                    email: None,
                }
            }
            TargetKind::Email => {
                for (field, present) in [
                    ("url", raw.url.is_some()),
                    ("server", raw.server.is_some()),
                    ("token", raw.token.is_some()),
                    ("visibility", raw.visibility.is_some()),
                ] {
                    misplaced(field, present, problems);
                }
                let Some((host, port)) = raw
                    .smtp
                    .as_deref()
                    .and_then(|s| s.rsplit_once(':'))
                    .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                    .filter(|(h, _)| !h.is_empty())
                else {
                    problems.push(Problem::new(
                        file,
                        Some(if raw.smtp.is_some() {
                            item.loc_of(&["smtp"])
                        } else {
                            item.loc
                        }),
                        &ctx,
                        "an email target needs `smtp: host:port`, e.g. smtp.example.com:587",
                    ));
                    continue;
                };
                let tls = raw
                    .tls
                    .clone()
                    .unwrap_or_else(|| if port == 465 { "tls" } else { "starttls" }.to_string());
                if !matches!(tls.as_str(), "starttls" | "tls" | "none") {
                    problems.push(Problem::new(
                        file,
                        Some(item.loc_of(&["tls"])),
                        &ctx,
                        format!("tls \"{tls}\" is not one of starttls, tls, none"),
                    ));
                }
                let mailbox = |a: &str| a.parse::<lettre::message::Mailbox>().is_ok();
                match raw.from.as_deref() {
                    Some(f) if mailbox(f) => {}
                    Some(f) => problems.push(Problem::new(
                        file,
                        Some(item.loc_of(&["from"])),
                        &ctx,
                        format!(
                            "from \"{f}\" is not a mail address; write e.g. \"Acme Status <status@acme.example>\""
                        ),
                    )),
                    None => problems.push(Problem::new(
                        file,
                        Some(item.loc),
                        &ctx,
                        "an email target needs `from:`, the sender's address",
                    )),
                }
                if raw.to.is_empty() {
                    problems.push(Problem::new(
                        file,
                        Some(item.loc),
                        &ctx,
                        "an email target needs `to:`, a list of subscribers' addresses",
                    ));
                }
                for (j, a) in raw.to.iter().enumerate() {
                    if !mailbox(a) {
                        problems.push(Problem::new(
                            file,
                            Some(item.loc_of(&["to", &j.to_string()])),
                            &ctx,
                            format!("to[{j}] \"{a}\" is not a mail address"),
                        ));
                    }
                }
                let Ok(url) = Template::parse(&format!("smtp://{host}:{port}")) else {
                    continue;
                };
                Target {
                    id,
                    kind: raw.kind,
                    url,
                    token: None,
                    visibility: String::new(),
                    email: Some(EmailSpec {
                        host,
                        port,
                        tls,
                        from: raw.from.clone().unwrap_or_default(),
                        to: raw.to.clone(),
                        username: raw.username.clone(),
                        password: raw.password.clone(),
                        ca_file: raw.ca_file.clone(),
                    }),
                }
            }
            _ => {
                for (field, present) in [
                    ("smtp", raw.smtp.is_some()),
                    ("tls", raw.tls.is_some()),
                    ("from", raw.from.is_some()),
                    ("to", !raw.to.is_empty()),
                    ("username", raw.username.is_some()),
                    ("password", raw.password.is_some()),
                    ("ca_file", raw.ca_file.is_some()),
                ] {
                    misplaced(field, present, problems);
                }
                misplaced("server", raw.server.is_some(), problems);
                misplaced("token", raw.token.is_some(), problems);
                misplaced("visibility", raw.visibility.is_some(), problems);
                let Some(url) = raw.url.clone() else {
                    problems.push(Problem::new(
                        file,
                        Some(item.loc),
                        &ctx,
                        format!("a {word} target needs `url:` (its webhook address; write a secret one as ${{NAME}} and export NAME)"),
                    ));
                    continue;
                };
                // An address written out (no ${…}) is checked now; one from the
                // environment when announcing.
                if let Ok(plain) = url.resolve(&|_| None)
                    && http(&plain).is_none()
                {
                    problems.push(Problem::new(
                        file,
                        Some(item.loc_of(&["url"])),
                        &ctx,
                        format!("url \"{plain}\" is not an http(s) address"),
                    ));
                }
                Target {
                    id,
                    kind: raw.kind,
                    url,
                    token: None,
                    visibility: String::new(),
                    email: None,
                }
            }
        };
        out.push(target);
    }
    out
}

fn validate_page(
    raw: RawPage,
    node: &Node,
    file: &str,
    problems: &mut Vec<Problem>,
) -> Option<Page> {
    let before = problems.len();
    let base_url = raw.base_url.trim_end_matches('/').to_string();
    match url::Url::parse(&base_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        _ => problems.push(Problem::new(
            file,
            Some(node.loc_of(&["base_url"])),
            "page",
            format!(
                "base_url \"{}\" is not an http(s) address; write the public address, e.g. https://status.example.com",
                raw.base_url
            ),
        )),
    }
    let zone = raw.time_zone.as_deref().unwrap_or("UTC");
    let time_zone = match zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            problems.push(Problem::new(
                file,
                Some(node.loc_of(&["time_zone"])),
                "page",
                format!(
                    "time_zone \"{zone}\" is not an IANA time zone; write e.g. UTC or Europe/Berlin"
                ),
            ));
            None
        }
    };
    if let Some(theme) = &raw.theme
        && !valid_id(theme)
    {
        problems.push(id_problem(
            file,
            node.loc_of(&["theme"]),
            "page",
            "theme name",
            theme,
        ));
    }
    let language = raw.language.unwrap_or_else(|| "en".to_string());
    if language.is_empty()
        || !language
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        problems.push(Problem::new(
            file,
            Some(node.loc_of(&["language"])),
            "page",
            format!("language \"{language}\" is not a language tag; write e.g. en or ja"),
        ));
    }
    if problems.len() > before {
        return None;
    }
    Some(Page {
        title: raw.title,
        base_url,
        description: raw.description,
        time_zone: time_zone?,
        language,
        theme: raw.theme,
        links: raw.links,
        detect_outages_after: raw
            .detect_outages_after
            .map_or(std::time::Duration::from_secs(180), |d| d.0),
        cause_tolerance: raw.cause_tolerance.unwrap_or(0) as usize,
    })
}

fn unknown_ref(what: &str, id: &str, known: &[&str], section: &str) -> String {
    match yaml::suggest(id, known) {
        Some(s) => format!("{what} \"{id}\" is not defined; did you mean \"{s}\"?"),
        None => format!("{what} \"{id}\" is not defined; add it under `{section}:` or fix the id"),
    }
}

fn find_cycle(components: &[Component]) -> Option<Vec<String>> {
    let deps: HashMap<&str, &[String]> = components
        .iter()
        .map(|c| (c.id.as_str(), c.depends_on.as_slice()))
        .collect();
    // 0 = unvisited, 1 = on the stack, 2 = done
    let mut state: HashMap<&str, u8> = HashMap::new();
    fn visit<'a>(
        id: &'a str,
        deps: &HashMap<&'a str, &'a [String]>,
        state: &mut HashMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(id) {
            Some(2) => return None,
            Some(1) => {
                let start = stack.iter().position(|s| *s == id).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(id.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(id, 1);
        stack.push(id);
        for d in deps.get(id).copied().unwrap_or_default() {
            if let Some(c) = visit(d.as_str(), deps, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(id, 2);
        None
    }
    for c in components {
        let mut stack = Vec::new();
        if let Some(cycle) = visit(c.id.as_str(), &deps, &mut state, &mut stack) {
            return Some(cycle);
        }
    }
    None
}

/// The component ids written in components.yaml, read straight from its tree so that
/// references can be checked even when the file has other problems.
pub fn component_ids(node: &Node) -> Vec<&str> {
    node.get("components")
        .and_then(Node::items)
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.get("id").and_then(Node::as_str))
        .collect()
}

/// probes.yaml → [`Probing`]. With `components` (the ids in components.yaml), probe →
/// component references are checked too.
pub fn validate_probes(
    node: &Node,
    file: &str,
    components: Option<&[&str]>,
    problems: &mut Vec<Problem>,
) -> Option<Probing> {
    let before = problems.len();
    let mut top = Vec::new();
    let keys = yaml::known_keys(node, "", &["regions", "defaults", "probes"], &mut top);
    problems.extend(top.into_iter().map(|e| Problem::from_yaml(file, e)));

    let mut regions = Vec::new();
    let mut names = HashSet::new();
    for (i, item, raw) in
        each_item::<RawRegion>(keys.get("regions").copied(), "regions", file, problems)
    {
        let ctx = format!("regions[{i}]");
        if !valid_id(&raw.name) {
            problems.push(id_problem(
                file,
                item.loc_of(&["name"]),
                &ctx,
                "region name",
                &raw.name,
            ));
        } else if !names.insert(raw.name.clone()) {
            problems.push(Problem::new(
                file,
                Some(item.loc_of(&["name"])),
                &ctx,
                format!("region \"{}\" is listed twice", raw.name),
            ));
        }
        regions.push(Region {
            name: raw.name,
            label: raw.label,
        });
    }
    if regions.is_empty() && problems.len() == before {
        problems.push(Problem::new(
            file,
            Some(keys.get("regions").map_or(node.loc, |n| n.loc)),
            "",
            "no regions defined; add `regions:` with at least one `- name: eu-west`",
        ));
    }

    let defaults = match keys.get("defaults") {
        Some(d) => yaml::from_node::<RawDefaults>(d, "defaults").unwrap_or_else(|e| {
            problems.push(Problem::from_yaml(file, e));
            RawDefaults::default()
        }),
        None => RawDefaults::default(),
    };

    let region_names: Vec<&str> = regions.iter().map(|r| r.name.as_str()).collect();
    let mut probes = Vec::new();
    let mut ids = HashSet::new();
    let raw_probes = each_item::<RawProbe>(keys.get("probes").copied(), "probes", file, problems);
    for (i, item, raw) in raw_probes {
        let ctx = format!("probe \"{}\" (probes[{i}])", raw.id);
        if !valid_id(&raw.id) {
            problems.push(id_problem(
                file,
                item.loc_of(&["id"]),
                &ctx,
                "probe id",
                &raw.id,
            ));
        } else if !ids.insert(raw.id.clone()) {
            problems.push(Problem::new(
                file,
                Some(item.loc_of(&["id"])),
                &ctx,
                format!("probe id \"{}\" is used twice; ids must be unique", raw.id),
            ));
        }
        if let Some(probe) = validate_probe(
            raw,
            item,
            &ctx,
            &defaults,
            &region_names,
            components,
            file,
            problems,
        ) {
            probes.push(probe);
        }
    }
    if problems.len() > before {
        return None;
    }
    Some(Probing { regions, probes })
}

#[allow(clippy::too_many_arguments)]
fn validate_probe(
    raw: RawProbe,
    item: &Node,
    ctx: &str,
    defaults: &RawDefaults,
    regions: &[&str],
    components: Option<&[&str]>,
    file: &str,
    problems: &mut Vec<Problem>,
) -> Option<Probe> {
    let before = problems.len();
    let mut problem = |path: &[&str], message: String| {
        problems.push(Problem::new(file, Some(item.loc_of(path)), ctx, message));
    };

    if raw.components.is_empty() {
        problem(
            &["id"],
            "lists no components; add `components: [<id>]` naming what this probe exercises".into(),
        );
    }
    if let Some(known) = components {
        for (j, c) in raw.components.iter().enumerate() {
            if !known.contains(&c.as_str()) {
                let fix = match yaml::suggest(c, known) {
                    Some(s) => format!("did you mean \"{s}\"?"),
                    None => "add it there or fix the id".to_string(),
                };
                problem(
                    &["components", &j.to_string()],
                    format!(
                        "component \"{c}\" is not defined in {}; {fix}",
                        super::COMPONENTS_FILE
                    ),
                );
            }
        }
    }
    let probe_regions: Vec<String> = match &raw.regions {
        Some(list) => {
            for (j, r) in list.iter().enumerate() {
                if !regions.contains(&r.as_str()) {
                    problem(
                        &["regions", &j.to_string()],
                        unknown_ref("region", r, regions, "regions"),
                    );
                }
            }
            if list.is_empty() {
                problem(
                    &["regions"],
                    "lists no regions; remove `regions` to run it everywhere".into(),
                );
            }
            list.clone()
        }
        None => regions.iter().map(|r| r.to_string()).collect(),
    };

    let interval = raw
        .interval
        .or(defaults.interval)
        .map_or(DEFAULT_INTERVAL, |d| d.0);
    let timeout = raw
        .timeout
        .or(defaults.timeout)
        .map_or(DEFAULT_TIMEOUT.min(interval), |d| d.0);
    if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) {
        problem(
            &["interval"],
            format!(
                "interval {} must be between 1s and 1 day",
                humantime::format_duration(interval)
            ),
        );
    }
    if timeout.is_zero() || timeout > interval {
        problem(
            &["timeout"],
            format!(
                "timeout {} must be more than zero and at most the interval {}; shorten the timeout or lengthen the interval",
                humantime::format_duration(timeout),
                humantime::format_duration(interval)
            ),
        );
    }
    let confirm = raw.confirm.or(defaults.confirm).unwrap_or(2);
    let recover = raw.recover.or(defaults.recover).unwrap_or(2);
    if confirm == 0 || confirm > 10 {
        problem(
            &["confirm"],
            format!("confirm {confirm} must be between 1 and 10 rounds"),
        );
    }
    if recover == 0 || recover > 10 {
        problem(
            &["recover"],
            format!("recover {recover} must be between 1 and 10 rounds"),
        );
    }
    let quorum = raw.quorum.or(defaults.quorum);
    if let Some(q) = quorum
        && (q == 0 || q as usize > probe_regions.len())
    {
        problem(
            &["quorum"],
            format!(
                "quorum {q} must be between 1 and the {} region(s) that run this probe",
                probe_regions.len()
            ),
        );
    }
    let retries = raw.retries.or(defaults.retries).unwrap_or(1);
    let retry_delay = raw
        .retry_delay
        .or(defaults.retry_delay)
        .map_or(DEFAULT_RETRY_DELAY.min(interval / 2), |d| d.0);
    if retry_delay > interval {
        problem(
            &["retry_delay"],
            format!(
                "retry_delay {} is longer than the interval {}; a re-check must come before the next round",
                humantime::format_duration(retry_delay),
                humantime::format_duration(interval)
            ),
        );
    }
    if retries > 5 {
        problem(
            &["retries"],
            format!(
                "retries {retries} is more than 5; confirmation across rounds and regions does the rest"
            ),
        );
    }

    for (field, kinds) in KIND_FIELDS {
        if raw.has(field) && !kinds.contains(&raw.kind) {
            let fits: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            problem(
                &[field],
                format!(
                    "`{field}` does not apply to a {} probe (only to {}); remove it",
                    raw.kind.as_str(),
                    fits.join(", ")
                ),
            );
        }
    }
    let tls = TlsSpec {
        server_name: raw.tls_server_name.clone(),
        skip_verify: raw.tls_skip_verify.unwrap_or(false),
        ca_file: raw.tls_ca_file.as_ref().map(std::path::PathBuf::from),
    };
    let ip_version = raw.ip_version.unwrap_or_default();

    let kind = match raw.kind {
        KindWord::Http => {
            let url = match &raw.url {
                Some(u) => {
                    // Check the shape with references filled by a placeholder.
                    let probe_url = u.resolve(&|_| Some("x".to_string())).unwrap_or_default();
                    match url::Url::parse(&probe_url) {
                        Ok(parsed)
                            if !parsed.username().is_empty() || parsed.password().is_some() =>
                        {
                            problem(
                                &["url"],
                                "credentials in the url are not sent; put them in `headers: {Authorization: …}` with a ${SECRET} reference".into(),
                            )
                        }
                        Ok(parsed)
                            if matches!(parsed.scheme(), "http" | "https")
                                && parsed.host().is_some() => {}
                        _ => problem(
                            &["url"],
                            format!(
                                "url \"{}\" is not an http:// or https:// address",
                                u.as_written()
                            ),
                        ),
                    }
                    Some(u.clone())
                }
                None => {
                    problem(&["kind"], "an http probe needs `url: https://…`".into());
                    None
                }
            };
            let mut headers = Vec::new();
            for (name, value) in &raw.headers {
                if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    problem(
                        &["headers", name],
                        format!("\"{name}\" is not a valid header name"),
                    );
                }
                headers.push((name.clone(), value.clone()));
            }
            let method = raw.method.unwrap_or_default();
            if raw.body.is_some() && method != Method::Post {
                problem(&["body"], "a request body needs `method: POST`".into());
            }
            let max_redirects = raw.max_redirects.unwrap_or(5);
            if max_redirects > 20 {
                problem(
                    &["max_redirects"],
                    "max_redirects must be at most 20".into(),
                );
            }
            url.map(|url| {
                ProbeKind::Http(HttpSpec {
                    url,
                    method,
                    headers,
                    body: raw.body.clone(),
                    expect_status: raw
                        .expect_status
                        .clone()
                        .unwrap_or_else(|| vec![StatusMatch::Class(2)]),
                    body_contains: raw.body_contains.clone(),
                    follow_redirects: raw.follow_redirects.unwrap_or(true),
                    max_redirects,
                    max_body_bytes: raw.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY),
                    ip_version,
                    tls: tls.clone(),
                })
            })
        }
        KindWord::Tcp => match (&raw.host, raw.port) {
            (Some(host), Some(port)) if !host.is_empty() && port > 0 => {
                let expect = match raw.expect.as_deref().map(regex::Regex::new) {
                    Some(Ok(re)) => Some(re),
                    Some(Err(e)) => {
                        let why = crate::config::regex_error(&e);
                        problem(&["expect"], format!("invalid pattern: {why}"));
                        None
                    }
                    None => None,
                };
                Some(ProbeKind::Tcp(TcpSpec {
                    host: host.clone(),
                    port,
                    ip_version,
                    tls: raw.tls.unwrap_or(false).then(|| tls.clone()),
                    send: raw.send.clone(),
                    expect,
                }))
            }
            _ => {
                problem(
                    &["kind"],
                    "a tcp probe needs `host:` and a non-zero `port:`".into(),
                );
                None
            }
        },
        KindWord::Tls => match &raw.host {
            Some(host) if !host.is_empty() => {
                let warn_days = raw.warn_days.unwrap_or(21);
                let crit_days = raw.crit_days.unwrap_or(7);
                if crit_days > warn_days {
                    problem(
                        &["crit_days"],
                        format!(
                            "crit_days {crit_days} must not be more than warn_days {warn_days}"
                        ),
                    );
                }
                Some(ProbeKind::Tls(TlsCheckSpec {
                    host: host.clone(),
                    port: raw.port.unwrap_or(443),
                    ip_version,
                    tls: tls.clone(),
                    starttls: raw.starttls,
                    warn_days,
                    crit_days,
                }))
            }
            _ => {
                problem(
                    &["kind"],
                    "a tls probe needs `host:` (and `port:` unless it is 443)".into(),
                );
                None
            }
        },
        KindWord::Dns => validate_dns(&raw, &mut problem),
        KindWord::Icmp => match &raw.host {
            Some(host) if !host.is_empty() => {
                let count = raw.count.unwrap_or(5);
                let degraded_loss = raw.degraded_loss.unwrap_or(20);
                if !(1..=100).contains(&count) {
                    problem(
                        &["count"],
                        format!("count {count} must be between 1 and 100 echo requests"),
                    );
                }
                if !(1..=100).contains(&degraded_loss) {
                    problem(
                        &["degraded_loss"],
                        format!("degraded_loss {degraded_loss} must be a percentage from 1 to 100"),
                    );
                }
                Some(ProbeKind::Icmp(crate::config::IcmpSpec {
                    host: host.clone(),
                    ip_version,
                    count,
                    degraded_loss,
                }))
            }
            _ => {
                problem(&["kind"], "an icmp probe needs `host:`".into());
                None
            }
        },
        KindWord::Push if raw.regions.is_none() && regions.len() > 1 => {
            problem(
                &["kind"],
                "a push probe's heartbeats arrive on one host; set `regions: [<the region whose prober receives them>]`".into(),
            );
            None
        }
        KindWord::Push => Some(ProbeKind::Push(crate::config::PushSpec {
            grace: raw
                .grace
                .map_or((interval / 10).max(Duration::from_secs(1)), |g| g.0),
            token: raw.token.clone(),
        })),
        KindWord::Command => match &raw.command {
            Some(argv) if !argv.is_empty() && !argv[0].as_written().is_empty() => {
                let mut env = Vec::new();
                for (name, value) in &raw.env {
                    let valid = !name.is_empty()
                        && !name.starts_with(|c: char| c.is_ascii_digit())
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if !valid {
                        problem(
                            &["env", name],
                            format!("\"{name}\" is not an environment variable name"),
                        );
                    }
                    env.push((name.clone(), value.clone()));
                }
                Some(ProbeKind::Command(crate::config::CommandSpec {
                    argv: argv.clone(),
                    env,
                    max_output_bytes: raw.max_output_bytes.unwrap_or(8192),
                    timeout_health: raw.timeout_health.unwrap_or_default(),
                }))
            }
            _ => {
                problem(
                    &["kind"],
                    "a command probe needs `command: [/path/to/plugin, arg, …]` (run without a shell)".into(),
                );
                None
            }
        },
    };
    let mut assertions = Vec::new();
    for (i, a) in raw.assertions.iter().enumerate() {
        let index = i.to_string();
        let path: Vec<&str> = if item.at(&["assertions", &index, "assert"]).is_some() {
            vec!["assertions", &index, "assert"]
        } else {
            vec!["assertions", &index]
        };
        let start = item.at(&path).map_or(item.loc, |n| n.text_loc());
        match super::assertion::parse(&a.text, a.degraded) {
            Ok(parsed) => {
                let fits = super::assertion::fields_for(raw.kind);
                for root in super::assertion::roots(&parsed) {
                    if !matches!(root, "response_time" | "connected" | "ip")
                        && !fits.contains(&root)
                    {
                        problems.push(Problem::new(
                            file,
                            Some(start),
                            ctx,
                            format!(
                                "assertion \"{}\": a {} probe does not observe `{root}`",
                                a.text,
                                raw.kind.as_str()
                            ),
                        ));
                    }
                }
                assertions.push(parsed);
            }
            Err(e) => problems.push(Problem::new(
                file,
                Some(yaml::Loc {
                    line: start.line,
                    col: start.col + e.offset,
                }),
                ctx,
                format!("assertion \"{}\": {}", a.text, e.message),
            )),
        }
    }
    if problems.len() > before {
        return None;
    }
    Some(Probe {
        id: raw.id,
        components: raw.components,
        regions: probe_regions,
        interval,
        timeout,
        retries,
        retry_delay,
        confirm,
        recover,
        quorum,
        degraded_after: raw.degraded_after.or(defaults.degraded_after).map(|d| d.0),
        assertions,
        kind: kind?,
    })
}

/// The response codes a DNS probe may expect.
pub(crate) const RCODES: &[&str] = &[
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE",
];

fn validate_dns(raw: &RawProbe, problem: &mut dyn FnMut(&[&str], String)) -> Option<ProbeKind> {
    let (Some(server), Some(name), Some(record_type)) = (&raw.server, &raw.name, &raw.record_type)
    else {
        problem(
            &["kind"],
            "a dns probe needs `server:` (an address, or `system`), `name:` and `record_type:`"
                .into(),
        );
        return None;
    };
    let mut ok = true;
    let record_type = record_type.to_ascii_uppercase();
    match record_type.parse::<hickory_proto::rr::RecordType>() {
        Ok(
            hickory_proto::rr::RecordType::ANY
            | hickory_proto::rr::RecordType::AXFR
            | hickory_proto::rr::RecordType::IXFR,
        ) => {
            problem(
                &["record_type"],
                format!(
                    "record_type {record_type} is not allowed: many servers refuse it; ask for the type you need, e.g. A"
                ),
            );
            ok = false;
        }
        Ok(_) => {}
        Err(_) => {
            problem(
                &["record_type"],
                format!(
                    "\"{record_type}\" is not a DNS record type; write e.g. A, AAAA, CNAME, MX, TXT, NS or SOA"
                ),
            );
            ok = false;
        }
    }
    if hickory_proto::rr::Name::from_ascii(name).is_err() || name.is_empty() {
        problem(&["name"], format!("\"{name}\" is not a domain name"));
        ok = false;
    }
    let expect_rcode: Vec<String> = match &raw.expect_rcode {
        Some(list) => list.iter().map(|c| c.to_ascii_uppercase()).collect(),
        None => vec!["NOERROR".to_string()],
    };
    for (i, code) in expect_rcode.iter().enumerate() {
        if !RCODES.contains(&code.as_str()) {
            problem(
                &["expect_rcode", &i.to_string()],
                format!(
                    "\"{code}\" is not a response code; use {}",
                    RCODES.join(", ")
                ),
            );
            ok = false;
        }
    }
    let mut expect_answers = Vec::new();
    for (i, a) in raw.expect_answers.iter().enumerate() {
        match a.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
            Some(pattern) => match regex::Regex::new(pattern) {
                Ok(re) => expect_answers.push(crate::config::AnswerMatch::Pattern(re)),
                Err(e) => {
                    let first = crate::config::regex_error(&e);
                    problem(
                        &["expect_answers", &i.to_string()],
                        format!("invalid pattern /{pattern}/: {first}"),
                    );
                    ok = false;
                }
            },
            None => expect_answers.push(crate::config::AnswerMatch::Exact(a.clone())),
        }
    }
    if server != "system" && server.is_empty() {
        problem(
            &["server"],
            "server must be an address such as 9.9.9.9 or dns.example:53, or `system`".into(),
        );
        ok = false;
    }
    ok.then(|| {
        ProbeKind::Dns(crate::config::DnsSpec {
            server: server.clone(),
            name: if name.ends_with('.') {
                name.clone()
            } else {
                format!("{name}.")
            },
            record_type,
            expect_rcode,
            expect_answers,
            transport: raw.transport.unwrap_or_default(),
        })
    })
}

/// The distinct `${ENV}` names used by the probes, for a start-up check.
pub fn env_vars(probes: &[Probe]) -> BTreeSet<String> {
    probes
        .iter()
        .flat_map(|p| p.kind.templates())
        .flat_map(|t| t.vars())
        .map(str::to_string)
        .collect()
}
