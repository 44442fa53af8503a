//! `pharos doctor`: run on any machine of a deployment, it looks at the project, the state
//! store, every region's freshness and clock, this host's ICMP permission and open-files
//! limit, the publish, announcement and alert targets, and prints a line per finding
//! with the fix (the rules are in [`crate::doctor`]). Exit 2 when any is a problem.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Args as ClapArgs;

use crate::config::{Config, ProbeKind, TargetKind};
use crate::doctor::{self, Finding, Level};
use crate::project::Project;
use crate::state::store::Store;
use crate::status::merge::ProbePolicy;

/// Options of `doctor`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The `--concurrency` the workers on this machine run with, held against its
    /// open-files limit.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Judge freshness as of this time (RFC 3339) instead of the clock.
    #[arg(long, env = "PHAROS_NOW", value_name = "TIME")]
    pub now: Option<DateTime<Utc>>,
}

/// How long a name lookup of an announcement target may take.
const LOOKUP_LIMIT: Duration = Duration::from_secs(5);

/// The findings printed so far, counted.
#[derive(Default)]
struct Report {
    problems: usize,
}

impl Report {
    /// Print each finding as it comes, so a slow look (a store, a lookup) shows where.
    fn show(&mut self, findings: impl IntoIterator<Item = Finding>) {
        for f in findings {
            outln!("{f}");
            if f.level == Level::Problem {
                self.problems += 1;
            }
        }
    }
}

/// Run `doctor`.
pub fn run(args: Args, project: &Project) -> Result<ExitCode> {
    let now = crate::pipeline::Clock::at(args.now).now;
    let mut report = Report::default();
    let (findings, config) = project_findings(project, now);
    report.show(findings);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match project.store() {
        Ok(store) => {
            report.show(store_findings(&store, &runtime));
            if let Some(config) = &config {
                report.show(region_findings(&store, config, now));
            }
        }
        Err(e) => report.show([Finding::bad(
            Level::Problem,
            "state store",
            format!("{e:#}"),
            "give --state (or PHAROS_STATE) a folder or s3://bucket/prefix",
        )]),
    }
    let icmp_probes = config.as_ref().map_or(0, |c| {
        c.probing
            .probes
            .iter()
            .filter(|p| matches!(p.kind, ProbeKind::Icmp(_)))
            .count()
    });
    report.show([
        icmp_finding(&runtime, icmp_probes),
        descriptor_finding(args.concurrency),
    ]);
    if let Some(config) = &config {
        for target in &config.site.publish {
            let topic = format!("publish {}", target.to.shown());
            report.show([
                match crate::publish::send::check_writable(&project.root, target) {
                    Ok(said) => Finding::ok(topic, said),
                    Err(e) => Finding::bad(
                        Level::Problem,
                        topic,
                        format!("{e:#}"),
                        "fix the target under publish: in components.yaml, or this machine's credentials for it (AWS_*, git's SSH key or credential helper)",
                    ),
                },
            ]);
        }
        for target in &config.site.announce {
            report.show([announce_finding(target, &runtime)]);
        }
        for target in &config.probing.alerts.targets {
            report.show([alert_finding(target, &runtime)]);
        }
    }
    if report.problems == 0 {
        outln!("no problem found");
        Ok(ExitCode::SUCCESS)
    } else {
        let n = report.problems;
        eprintln!("{n} problem{} found", if n == 1 { "" } else { "s" });
        Ok(super::Exit::Problems.into())
    }
}

/// The project's own check (as `pharos check`): a line per problem, or one `ok`; the
/// config when it loads.
fn project_findings(project: &Project, now: DateTime<Utc>) -> (Vec<Finding>, Option<Config>) {
    let mut findings = Vec::new();
    let (problems, warnings) = super::check::problems(project, now);
    for w in warnings {
        findings.push(Finding::bad(Level::Warn, "project", w, "see pharos check"));
    }
    for p in &problems {
        findings.push(Finding::bad(
            Level::Problem,
            "project",
            p.to_string(),
            "edit the file as the line says; pharos check lists every problem",
        ));
    }
    let config = crate::config::load(&project.components_file(), &project.probes_file()).ok();
    if let (true, Some(c)) = (problems.is_empty(), &config) {
        findings.push(Finding::ok(
            "project",
            format!(
                "{} valid: {} components, {} probes in {} regions",
                project.root.display(),
                c.site.components.len(),
                c.probing.probes.len(),
                c.probing.regions.len()
            ),
        ));
    }
    (findings, config)
}

/// The state store: reachable and writable with this machine's credentials, whether it
/// stops a second worker of a region, and (object storage) this machine's clock
/// against the store's.
fn store_findings(store: &Store, runtime: &tokio::runtime::Runtime) -> Vec<Finding> {
    const TOPIC: &str = "state store";
    let mut findings = Vec::new();
    match store {
        Store::Local(local) => {
            let dir = local.dir();
            let mut at = dir;
            while !at.exists() {
                match at.parent() {
                    Some(parent) => at = parent,
                    None => break,
                }
            }
            match tempfile::Builder::new()
                .prefix(".pharos-doctor-")
                .tempfile_in(at)
            {
                Ok(_) => findings.push(Finding::ok(
                    TOPIC,
                    format!(
                        "folder {} can be written; a lock file per region stops a second worker on this machine (not on another machine sharing the folder)",
                        dir.display()
                    ),
                )),
                Err(e) => findings.push(Finding::bad(
                    Level::Problem,
                    TOPIC,
                    format!("folder {} cannot be written: {e}", at.display()),
                    "make it writable by the user pharos runs as, or point --state (PHAROS_STATE) elsewhere",
                )),
            }
        }
        Store::Object(objects) => {
            let fix = "check PHAROS_STATE (s3://bucket/prefix), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL and AWS_REGION on this machine";
            match runtime.block_on(objects.guard_of_store()) {
                Ok(guard) if guard.enforced => findings.push(Finding::ok(
                    TOPIC,
                    format!(
                        "{} reachable and writable; it enforces conditional writes, so a second worker of a region is refused",
                        objects.url()
                    ),
                )),
                Ok(guard) => findings.push(Finding::bad(
                    Level::Warn,
                    TOPIC,
                    format!(
                        "reachable and writable, but it does not enforce conditional writes ({}): nothing stops a second worker of a region from overwriting the first",
                        guard.off_because.unwrap_or("unknown")
                    ),
                    "run exactly one worker per region (a systemd unit per region, or replicas: 1 with strategy Recreate), or use a store that enforces them (AWS S3, Ceph RGW, MinIO, Cloudflare R2)",
                )),
                Err(e) => {
                    findings.push(Finding::bad(Level::Problem, TOPIC, format!("{e:#}"), fix));
                    return findings;
                }
            }
            match runtime.block_on(objects.clock_probe()) {
                Ok((sent, stored, answered)) => {
                    findings.push(doctor::host_clock(sent, stored, answered));
                }
                Err(e) => findings.push(Finding::bad(Level::Problem, TOPIC, format!("{e:#}"), fix)),
            }
        }
    }
    findings
}

/// Every configured region: never seen, stale or fresh, and its worker's clock; regions
/// the store holds that probes.yaml does not list; state that cannot be read.
fn region_findings(store: &Store, config: &Config, now: DateTime<Utc>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let (writes, unreadable) = match store.last_writes_blocking() {
        Ok(found) => found,
        Err(e) => {
            findings.push(Finding::bad(
                Level::Problem,
                "state store",
                format!("{e:#}"),
                "check the store's location and credentials",
            ));
            return findings;
        }
    };
    for region in &config.probing.regions {
        let bound = config
            .probing
            .probes
            .iter()
            .filter(|p| p.regions.contains(&region.name))
            .map(|p| ProbePolicy::from(p).stale_after())
            .min()
            .unwrap_or(chrono::Duration::MAX);
        let last = writes.iter().find(|w| w.region == region.name);
        findings.extend(doctor::region(&region.name, last, bound, now));
    }
    for w in &writes {
        if !config.probing.regions.iter().any(|r| r.name == w.region) {
            findings.push(Finding::bad(
                Level::Warn,
                format!("region {}", w.region),
                "the store holds its state, but probes.yaml does not list it: the page leaves it out",
                format!(
                    "add it under regions: in probes.yaml, or remove its state ({})",
                    store.shown(&w.region)
                ),
            ));
        }
    }
    for why in unreadable {
        findings.push(Finding::bad(
            Level::Problem,
            "state store",
            why,
            "restart the region's worker with --move-aside to set the damaged state aside",
        ));
    }
    findings
}

/// Whether this machine may open an ICMP socket, as the prober would.
fn icmp_finding(runtime: &tokio::runtime::Runtime, icmp_probes: usize) -> Finding {
    let opened = runtime.block_on(async {
        let config = surge_ping::Config::builder()
            .kind(surge_ping::ICMP::V4)
            .build();
        surge_ping::Client::new(&config).map(|c| {
            if c.get_socket().get_type() == socket2::Type::DGRAM {
                "dgram"
            } else {
                "raw"
            }
        })
    });
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into());
    match opened {
        Ok(kind) => doctor::icmp(Ok(kind), icmp_probes, &range),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            doctor::icmp(Err("permission denied"), icmp_probes, &range)
        }
        Err(e) => doctor::icmp(Err(&e.kind().to_string()), icmp_probes, &range),
    }
}

/// This process's open-files limit against `concurrency`.
fn descriptor_finding(concurrency: usize) -> Finding {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    doctor::descriptors(
        limit.current.unwrap_or(u64::MAX),
        limit.maximum.unwrap_or(u64::MAX),
        concurrency,
    )
}

/// An announcement target: its `${VAR}`s are set here and its host resolves.
fn announce_finding(target: &crate::config::Target, runtime: &tokio::runtime::Runtime) -> Finding {
    let topic = format!("announce {}", target.id);
    let unset: Vec<String> = target
        .templates()
        .into_iter()
        .filter_map(|t| t.resolve_env().err())
        .map(|missing| missing.0)
        .collect();
    if let Some(warning) = not_looked_up(&topic, &unset) {
        return warning;
    }
    let address = match (&target.email, target.kind) {
        (Some(email), TargetKind::Email) => Some((email.host.clone(), email.port)),
        _ => target
            .url
            .resolve_env()
            .ok()
            .and_then(|u| url::Url::parse(&u).ok())
            .map(|url| {
                (
                    url.host_str().unwrap_or_default().to_string(),
                    url.port_or_known_default().unwrap_or(443),
                )
            }),
    };
    let Some((host, port)) = address else {
        return Finding::ok(topic, "nothing to resolve");
    };
    lookup(topic, &host, port, runtime)
}

/// An alert target: its `${VARS}` are set here and its host resolves (a command: its
/// program is found; an email target: its announce target is looked at above).
fn alert_finding(
    target: &crate::config::AlertTarget,
    runtime: &tokio::runtime::Runtime,
) -> Finding {
    use crate::config::AlertKind;
    let topic = format!("alert {}", target.id);
    if let Some(warning) = not_looked_up(&topic, &target.unset_vars()) {
        return warning;
    }
    match target.kind {
        AlertKind::Command => {
            let program = target
                .command
                .first()
                .map(String::as_str)
                .unwrap_or_default();
            let runnable = |p: &std::path::Path| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::metadata(p)
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            };
            let found = if program.contains('/') {
                runnable(std::path::Path::new(program))
            } else {
                std::env::var_os("PATH").is_some_and(|paths| {
                    std::env::split_paths(&paths).any(|d| runnable(&d.join(program)))
                })
            };
            if found {
                Finding::ok(topic, format!("{program} is found and executable"))
            } else {
                Finding::bad(
                    Level::Problem,
                    topic,
                    format!("{program} is not found (or not executable)"),
                    "install it, or give its full path in `command:` under alerts: in probes.yaml",
                )
            }
        }
        AlertKind::Email => Finding::ok(
            topic,
            format!(
                "mails through announce target {}",
                target.via.as_deref().unwrap_or("?")
            ),
        ),
        kind => {
            let url = target
                .url
                .as_ref()
                .and_then(|u| u.resolve_env().ok())
                .unwrap_or_else(|| crate::alert::send::default_url(kind).to_string());
            match url::Url::parse(&url) {
                Ok(u) => lookup(
                    topic,
                    u.host_str().unwrap_or_default(),
                    u.port_or_known_default().unwrap_or(443),
                    runtime,
                ),
                Err(e) => Finding::bad(
                    Level::Problem,
                    topic,
                    format!("url: {e}"),
                    "fix its url under alerts: in probes.yaml",
                ),
            }
        }
    }
}

/// A target whose secrets are not set here is not looked up: a warning (the project's
/// line counts it already).
fn not_looked_up(topic: &str, unset: &[String]) -> Option<Finding> {
    (!unset.is_empty()).then(|| {
        let said: Vec<String> = unset
            .iter()
            .map(|var| format!("environment variable {var} is not set"))
            .collect();
        Finding::bad(
            Level::Warn,
            topic,
            format!("not looked up: {}", said.join("; ")),
            "set it in this machine's environment (the unit's EnvironmentFile, the pod's Secret)",
        )
    })
}

/// Whether `host` resolves (5 s at most).
fn lookup(topic: String, host: &str, port: u16, runtime: &tokio::runtime::Runtime) -> Finding {
    let looked = runtime.block_on(async {
        tokio::time::timeout(LOOKUP_LIMIT, tokio::net::lookup_host((host, port))).await
    });
    match looked {
        Ok(Ok(mut addrs)) => match addrs.next() {
            Some(addr) => Finding::ok(topic, format!("{host} resolves ({})", addr.ip())),
            None => unresolved(topic, host, "no address"),
        },
        Ok(Err(e)) => unresolved(topic, host, &e.to_string()),
        Err(_) => unresolved(topic, host, "no answer within 5 s"),
    }
}

/// A target whose host does not resolve.
fn unresolved(topic: String, host: &str, why: &str) -> Finding {
    Finding::bad(
        Level::Problem,
        topic,
        format!("{host} does not resolve: {why}"),
        "check the target's address (announce: in components.yaml, alerts: in probes.yaml) and this machine's DNS (/etc/resolv.conf)",
    )
}
