//! Step 1 (config): components.yaml's raw types → validated types, the cross-file rules
//! (unique ids, dependencies), and the helpers the probes.yaml validation (`probes`) shares.
//! Problems are collected, never thrown.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::{
    Component, EmailSpec, Group, Page, Probe, Problem, RawComponent, RawGroup, RawPage, RawPublish,
    RawTarget, Site, Target, TargetKind, Template,
};
use crate::yaml::{self, Node};

/// Whether `id` is safe as an id, a file name and a URL segment.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !id.starts_with(['-', '_'])
}

pub(crate) fn id_problem(
    file: &str,
    loc: yaml::Loc,
    context: &str,
    what: &str,
    id: &str,
) -> Problem {
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

/// The items of a list section; anything but a list is a problem.
pub(crate) fn list_items<'a>(
    node: Option<&'a Node>,
    section: &str,
    file: &str,
    problems: &mut Vec<Problem>,
) -> &'a [Node] {
    let Some(node) = node else {
        return &[];
    };
    node.items().unwrap_or_else(|| {
        problems.push(Problem::new(
            file,
            Some(node.loc),
            section,
            "expected a list (items starting with `- `)",
        ));
        &[]
    })
}

/// Each item of a list section deserialized on its own, so one bad item hides nothing.
pub(crate) fn each_item<'a, T: serde::de::DeserializeOwned>(
    node: Option<&'a Node>,
    section: &str,
    file: &str,
    problems: &mut Vec<Problem>,
) -> Vec<(usize, &'a Node, T)> {
    let mut out = Vec::new();
    for (i, item) in list_items(node, section, file, problems).iter().enumerate() {
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
        &["page", "groups", "components", "announce", "publish"],
        &mut top,
    );
    problems.extend(top.into_iter().map(|e| Problem::from_yaml(file, e)));

    let page = read_page(keys.get("page").copied(), node, file, problems);
    let page_slo = page.as_ref().and_then(|p| p.slo);

    let groups = validate_groups(keys.get("groups").copied(), file, problems);
    let group_ids: HashSet<&str> = groups.iter().map(|g| g.id.as_str()).collect();

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
            && !group_ids.contains(g.as_str())
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
            slo: raw.slo.or(page_slo),
        });
        if let Some(slo) = raw.slo {
            check_slo(slo, file, item.loc_of(&["slo"]), &ctx, problems);
        }
    }
    report_cycle(&components, &raw_components, file, problems);
    let announce = validate_targets(keys.get("announce").copied(), file, problems);
    let publish = validate_publish(keys.get("publish").copied(), file, problems);
    if problems.len() > before {
        return None;
    }
    Some(Site {
        page: page?,
        groups,
        components,
        announce,
        publish,
    })
}

/// `publish:` → where the site goes: URLs that name a folder, a bucket or a git branch,
/// no password in them, each target once.
fn validate_publish(
    node: Option<&Node>,
    file: &str,
    problems: &mut Vec<Problem>,
) -> Vec<crate::publish::Target> {
    use crate::publish::{Destination, Target};
    let mut out: Vec<Target> = Vec::new();
    for (i, item, raw) in each_item::<RawPublish>(node, "publish", file, problems) {
        let ctx = format!("publish[{i}]");
        let to = match Destination::parse(&raw.to) {
            Ok(to) => to,
            Err(e) => {
                problems.push(Problem::new(file, Some(item.loc_of(&["to"])), &ctx, e));
                continue;
            }
        };
        if out.iter().any(|t| t.to == to) {
            problems.push(Problem::new(
                file,
                Some(item.loc_of(&["to"])),
                &ctx,
                format!(
                    "\"{}\" is listed twice; publish to each target once",
                    raw.to
                ),
            ));
        }
        let git = matches!(to, Destination::Git { .. });
        if !git && (raw.cname.is_some() || raw.nojekyll.is_some()) {
            problems.push(Problem::new(
                file,
                Some(item.loc),
                &ctx,
                "cname and nojekyll are for git targets (GitHub, GitLab, Codeberg Pages); remove them here",
            ));
        }
        if let Some(prefix) = &raw.env_prefix {
            let bucket = matches!(to, Destination::Bucket { .. });
            let why = if !bucket {
                Some(
                    "env_prefix is for s3:// targets (their AWS_* credentials); remove it here"
                        .to_string(),
                )
            } else if prefix.is_empty()
                || !prefix
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                Some(format!(
                    "env_prefix \"{prefix}\" is not a variable name prefix; write capitals, digits and _, e.g. SITE_ for SITE_AWS_ACCESS_KEY_ID"
                ))
            } else {
                None
            };
            if let Some(why) = why {
                problems.push(Problem::new(
                    file,
                    Some(item.loc_of(&["env_prefix"])),
                    &ctx,
                    why,
                ));
            }
        }
        if let Some(domain) = &raw.cname
            && (domain.is_empty() || domain.contains(['/', ':', ' ', '\n']))
        {
            problems.push(Problem::new(
                file,
                Some(item.loc_of(&["cname"])),
                &ctx,
                format!("cname \"{domain}\" is not a domain name; write it as status.example.com"),
            ));
        }
        out.push(Target {
            to,
            cname: raw.cname.clone(),
            nojekyll: raw.nojekyll.unwrap_or(true),
            env_prefix: raw.env_prefix.clone(),
        });
    }
    out
}

/// `page:` → [`Page`], or the problem of a missing or unreadable section.
fn read_page(
    page: Option<&Node>,
    node: &Node,
    file: &str,
    problems: &mut Vec<Problem>,
) -> Option<Page> {
    match page {
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
    }
}

/// `groups:` → groups, each id valid and used once.
fn validate_groups(node: Option<&Node>, file: &str, problems: &mut Vec<Problem>) -> Vec<Group> {
    let mut groups = Vec::new();
    let mut group_ids = HashSet::new();
    for (i, item, raw) in each_item::<RawGroup>(node, "groups", file, problems) {
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
    groups
}

/// A dependency cycle among the components, reported at the first one's `depends_on`.
fn report_cycle(
    components: &[Component],
    raw: &[(usize, &Node, RawComponent)],
    file: &str,
    problems: &mut Vec<Problem>,
) {
    if let Some(cycle) = find_cycle(components) {
        let first = raw
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
            TargetKind::X => "x",
            TargetKind::Bluesky => "bluesky",
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
        let at = TargetAt {
            file,
            item,
            ctx,
            word,
        };
        let uses = fields_used(raw.kind);
        for (field, present) in fields(&raw) {
            if !uses.contains(&field) {
                at.misplaced(field, present, problems);
            }
        }
        let target = match raw.kind {
            TargetKind::Mastodon => mastodon_target(&raw, id, &at, problems),
            TargetKind::Email => email_target(&raw, id, &at, problems),
            TargetKind::X | TargetKind::Bluesky => social_target(&raw, id, &at, problems),
            _ => webhook_target(&raw, id, &at, problems),
        };
        out.extend(target);
    }
    out
}

/// Where a target's problems go.
struct TargetAt<'a> {
    file: &'a str,
    item: &'a Node,
    ctx: String,
    word: &'static str,
}

impl TargetAt<'_> {
    /// A field this kind of target does not use.
    fn misplaced(&self, field: &str, present: bool, problems: &mut Vec<Problem>) {
        if present {
            problems.push(Problem::new(
                self.file,
                Some(self.item.loc_of(&[field])),
                self.ctx.as_str(),
                format!("`{field}` is not used by {} targets; remove it", self.word),
            ));
        }
    }
}

/// An http(s) address with a host.
fn http_url(raw: &str) -> Option<url::Url> {
    url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// A mastodon target: a server and a token.
fn mastodon_target(
    raw: &RawTarget,
    id: String,
    at: &TargetAt<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Target> {
    let (file, item, ctx) = (at.file, at.item, at.ctx.as_str());
    let server = raw.server.as_deref().unwrap_or_default();
    let Some(base) = http_url(server) else {
        problems.push(Problem::new(
            file,
            Some(if raw.server.is_some() { item.loc_of(&["server"]) } else { item.loc }),
            ctx,
            "a mastodon target needs `server:` with the instance's address, e.g. https://mastodon.social",
        ));
        return None;
    };
    let Some(token) = raw.token.clone() else {
        problems.push(Problem::new(
            file,
            Some(item.loc),
            ctx,
            "a mastodon target needs `token: ${MASTODON_TOKEN}` (an access token with write:statuses, from the environment)",
        ));
        return None;
    };
    let visibility = raw
        .visibility
        .clone()
        .unwrap_or_else(|| "public".to_string());
    if !matches!(visibility.as_str(), "public" | "unlisted" | "private") {
        problems.push(Problem::new(
            file,
            Some(item.loc_of(&["visibility"])),
            ctx,
            format!("visibility \"{visibility}\" is not one of public, unlisted, private"),
        ));
    }
    let endpoint = format!("{}/api/v1/statuses", base.as_str().trim_end_matches('/'));
    let Ok(url) = Template::parse(&endpoint) else {
        return None;
    };
    Some(Target {
        id,
        kind: raw.kind,
        url,
        token: Some(token),
        visibility,
        email: None,
        account: None,
    })
}

/// Every field of a target besides `id` and `kind`, and whether `raw` has it.
fn fields(raw: &RawTarget) -> [(&'static str, bool); 16] {
    [
        ("url", raw.url.is_some()),
        ("server", raw.server.is_some()),
        ("token", raw.token.is_some()),
        ("visibility", raw.visibility.is_some()),
        ("smtp", raw.smtp.is_some()),
        ("tls", raw.tls.is_some()),
        ("from", raw.from.is_some()),
        ("to", !raw.to.is_empty()),
        ("username", raw.username.is_some()),
        ("password", raw.password.is_some()),
        ("ca_file", raw.ca_file.is_some()),
        ("consumer_key", raw.consumer_key.is_some()),
        ("consumer_secret", raw.consumer_secret.is_some()),
        ("access_token", raw.access_token.is_some()),
        ("access_secret", raw.access_secret.is_some()),
        ("handle", raw.handle.is_some()),
    ]
}

/// The fields a kind of target uses: any other one written is refused.
fn fields_used(kind: TargetKind) -> &'static [&'static str] {
    match kind {
        TargetKind::Webhook | TargetKind::Slack | TargetKind::Discord => &["url"],
        TargetKind::Mastodon => &["server", "token", "visibility"],
        TargetKind::Email => &[
            "smtp", "tls", "from", "to", "username", "password", "ca_file",
        ],
        TargetKind::X => &[
            "server",
            "consumer_key",
            "consumer_secret",
            "access_token",
            "access_secret",
        ],
        TargetKind::Bluesky => &["server", "handle", "password"],
    }
}

/// An X or Bluesky target: the account's secrets (from the environment) and the service's
/// address (`server:`, for a PDS of your own or a test).
fn social_target(
    raw: &RawTarget,
    id: String,
    at: &TargetAt<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Target> {
    let (file, item, ctx) = (at.file, at.item, at.ctx.as_str());
    let x = raw.kind == TargetKind::X;
    let default = if x {
        "https://api.x.com"
    } else {
        "https://bsky.social"
    };
    let server = raw.server.as_deref().unwrap_or(default);
    let Some(base) = http_url(server) else {
        problems.push(Problem::new(
            file,
            Some(item.loc_of(&["server"])),
            ctx,
            format!("server \"{server}\" is not an http(s) address; leave it out for {default}"),
        ));
        return None;
    };
    let need =
        |field: &str, value: &Option<Template>, example: &str, problems: &mut Vec<Problem>| {
            if value.is_none() {
                problems.push(Problem::new(
                    file,
                    Some(item.loc),
                    ctx,
                    format!(
                        "{} {} target needs `{field}: {example}`",
                        if x { "an" } else { "a" },
                        at.word
                    ),
                ));
            }
            value.clone()
        };
    let account = if x {
        let consumer_key = need("consumer_key", &raw.consumer_key, "${X_API_KEY}", problems);
        let consumer_secret = need(
            "consumer_secret",
            &raw.consumer_secret,
            "${X_API_SECRET}",
            problems,
        );
        let access_token = need(
            "access_token",
            &raw.access_token,
            "${X_ACCESS_TOKEN}",
            problems,
        );
        let access_secret = need(
            "access_secret",
            &raw.access_secret,
            "${X_ACCESS_TOKEN_SECRET}",
            problems,
        );
        crate::config::Account::X {
            consumer_key: consumer_key?,
            consumer_secret: consumer_secret?,
            access_token: access_token?,
            access_secret: access_secret?,
        }
    } else {
        let handle = need(
            "handle",
            &raw.handle,
            "status.acme.example (the account's handle)",
            problems,
        );
        let password = need(
            "password",
            &raw.password,
            "${BLUESKY_APP_PASSWORD} (an app password, never the account's own)",
            problems,
        );
        crate::config::Account::Bluesky {
            handle: handle?,
            password: password?,
        }
    };
    let url = Template::parse(base.as_str().trim_end_matches('/')).ok()?;
    Some(Target {
        id,
        kind: raw.kind,
        url,
        token: None,
        visibility: String::new(),
        email: None,
        account: Some(account),
    })
}

/// An email target: SMTP server, sender, recipients.
fn email_target(
    raw: &RawTarget,
    id: String,
    at: &TargetAt<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Target> {
    let (file, item, ctx) = (at.file, at.item, at.ctx.as_str());
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
            ctx,
            "an email target needs `smtp: host:port`, e.g. smtp.example.com:587",
        ));
        return None;
    };
    let tls = raw
        .tls
        .clone()
        .unwrap_or_else(|| if port == 465 { "tls" } else { "starttls" }.to_string());
    if !matches!(tls.as_str(), "starttls" | "tls" | "none") {
        problems.push(Problem::new(
            file,
            Some(item.loc_of(&["tls"])),
            ctx,
            format!("tls \"{tls}\" is not one of starttls, tls, none"),
        ));
    }
    let mailbox = |a: &str| a.parse::<lettre::message::Mailbox>().is_ok();
    match raw.from.as_deref() {
        Some(f) if mailbox(f) => {}
        Some(f) => problems.push(Problem::new(
            file,
            Some(item.loc_of(&["from"])),
            ctx,
            format!(
                "from \"{f}\" is not a mail address; write e.g. \"Acme Status <status@acme.example>\""
            ),
        )),
        None => problems.push(Problem::new(
            file,
            Some(item.loc),
            ctx,
            "an email target needs `from:`, the sender's address",
        )),
    }
    if raw.to.is_empty() {
        problems.push(Problem::new(
            file,
            Some(item.loc),
            ctx,
            "an email target needs `to:`, a list of subscribers' addresses",
        ));
    }
    for (j, a) in raw.to.iter().enumerate() {
        if !mailbox(a) {
            problems.push(Problem::new(
                file,
                Some(item.loc_of(&["to", &j.to_string()])),
                ctx,
                format!("to[{j}] \"{a}\" is not a mail address"),
            ));
        }
    }
    let Ok(url) = Template::parse(&format!("smtp://{host}:{port}")) else {
        return None;
    };
    Some(Target {
        id,
        kind: raw.kind,
        url,
        token: None,
        visibility: String::new(),
        account: None,
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
    })
}

/// A webhook, slack or discord target: one address.
fn webhook_target(
    raw: &RawTarget,
    id: String,
    at: &TargetAt<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Target> {
    let (file, item, ctx) = (at.file, at.item, at.ctx.as_str());
    let Some(url) = raw.url.clone() else {
        problems.push(Problem::new(
            file,
            Some(item.loc),
            ctx,
            format!("a {} target needs `url:` (its webhook address; write a secret one as ${{NAME}} and export NAME)", at.word),
        ));
        return None;
    };
    // An address written out (no ${…}) is checked now; one from the
    // environment when announcing.
    if let Ok(plain) = url.resolve(&|_| None)
        && http_url(&plain).is_none()
    {
        problems.push(Problem::new(
            file,
            Some(item.loc_of(&["url"])),
            ctx,
            format!("url \"{plain}\" is not an http(s) address"),
        ));
    }
    Some(Target {
        id,
        kind: raw.kind,
        url,
        token: None,
        visibility: String::new(),
        email: None,
        account: None,
    })
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
    for (i, link) in raw.links.iter().enumerate() {
        let scheme = url::Url::parse(&link.url).map(|u| u.scheme().to_string());
        if !matches!(scheme.as_deref(), Ok("http" | "https" | "mailto")) {
            problems.push(Problem::new(
                file,
                Some(node.loc_of(&["links", &i.to_string(), "url"])),
                "page",
                format!(
                    "link url \"{}\" is not an http(s) or mailto: address; a page link may not run script or carry data",
                    link.url
                ),
            ));
        }
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
    if let Some(slo) = raw.slo {
        check_slo(slo, file, node.loc_of(&["slo"]), "page", problems);
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
        slo: raw.slo,
    })
}

/// An SLO is a percentage below 100 (100 % leaves no error budget to report on).
fn check_slo(slo: f64, file: &str, at: crate::yaml::Loc, ctx: &str, problems: &mut Vec<Problem>) {
    if !(slo > 0.0 && slo < 100.0) {
        problems.push(Problem::new(
            file,
            Some(at),
            ctx,
            format!(
                "slo {slo} is not a percentage between 0 and 100 (exclusive); write e.g. slo: 99.9"
            ),
        ));
    }
}

pub(crate) fn unknown_ref(what: &str, id: &str, known: &[&str], section: &str) -> String {
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

/// The distinct `${ENV}` names used by the probes, for a start-up check.
pub fn env_vars(probes: &[Probe]) -> BTreeSet<String> {
    probes
        .iter()
        .flat_map(|p| p.kind.templates())
        .flat_map(|t| t.vars())
        .map(str::to_string)
        .collect()
}
