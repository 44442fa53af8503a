//! Step 2 of the flow: run checks. Each check is one honest sample: a fresh connection,
//! one deadline, no hidden retries. A failure is data (a [`Sample`] with a precise
//! detail), never an error of the tool. A down sample is re-checked inside the region
//! before it counts. The scheduler that runs probes over time lives in [`worker`].

pub mod assert;
pub mod command;
pub mod dns;
mod http;
pub mod icmp;
pub mod listen;
pub mod metrics;
pub mod push;
mod tcp;
pub mod tls;
pub mod worker;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::config::{Probe, ProbeKind, TlsSpec};
use crate::state::{Health, Sample};

/// What every check shares: immutable things only, never a connection.
#[derive(Clone)]
pub struct Ctx {
    /// The crypto provider for TLS.
    pub provider: Arc<rustls::crypto::CryptoProvider>,
    /// Mozilla's roots (webpki-roots), the default trust store.
    pub web_roots: Arc<rustls::RootCertStore>,
    /// Trust stores of probes with their own `tls_ca_file`, by path.
    pub ca_roots: HashMap<PathBuf, Arc<rustls::RootCertStore>>,
    /// Local address to send from (a multi-homed host's region address).
    pub source_ip: Option<IpAddr>,
    /// The User-Agent sent with HTTP checks.
    pub user_agent: String,
    /// Where heartbeats of push probes are read from.
    pub heartbeat_dir: Option<PathBuf>,
    /// ICMP sockets, shared by every icmp check.
    pub icmp: Arc<icmp::IcmpClients>,
    /// The resolver of host names: the system's nameservers, no cache. `None` where the
    /// system configuration cannot be read (then getaddrinfo is used).
    pub resolver: Option<Arc<hickory_resolver::TokioResolver>>,
    /// The environment plugins start from, read once (reading it for every spawn is a
    /// large share of what a plugin run costs the prober).
    pub base_env: Arc<Vec<(std::ffi::OsString, std::ffi::OsString)>>,
}

impl Ctx {
    /// The default context: Mozilla's roots, no source address.
    pub fn new(source_ip: Option<IpAddr>) -> anyhow::Result<Self> {
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Ok(Ctx {
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            web_roots: Arc::new(roots),
            ca_roots: HashMap::new(),
            source_ip,
            heartbeat_dir: None,
            icmp: Arc::default(),
            resolver: uncached_resolver().map(Arc::new),
            base_env: Arc::new(std::env::vars_os().collect()),
            user_agent: format!(
                "pharos/{} (status prober; +https://github.com/pharos-status/pharos)",
                env!("CARGO_PKG_VERSION")
            ),
        })
    }

    /// Leave the variables that probes.yaml uses as `${SECRET}`s out of what plugins
    /// inherit: a plugin gets only the ones its own `env:` hands it.
    pub fn withhold_secrets(&mut self, probes: &[Probe]) {
        let secrets = crate::config::env_vars(probes);
        let kept: Vec<_> = self
            .base_env
            .iter()
            .filter(|(k, _)| !k.to_str().is_some_and(|k| secrets.contains(k)))
            .cloned()
            .collect();
        self.base_env = Arc::new(kept);
    }

    /// Load every probe's `tls_ca_file` (relative to `root`) once, at start, so a missing
    /// or broken file stops the worker with its name instead of failing every check.
    pub fn load_ca_files(&mut self, probes: &[Probe], root: &Path) -> anyhow::Result<()> {
        for probe in probes {
            let Some(file) = probe.kind.tls().and_then(|t| t.ca_file.as_ref()) else {
                continue;
            };
            if self.ca_roots.contains_key(file) {
                continue;
            }
            let roots = tls::load_roots(&root.join(file))
                .map_err(|e| anyhow::anyhow!("probe \"{}\": {e:#}", probe.id))?;
            self.ca_roots.insert(file.clone(), Arc::new(roots));
        }
        Ok(())
    }

    /// The TLS options of a probe, with its trust roots.
    pub(crate) fn tls_options(&self, spec: &TlsSpec) -> tls::TlsOptions {
        let roots = spec
            .ca_file
            .as_ref()
            .and_then(|f| self.ca_roots.get(f).cloned())
            .unwrap_or_else(|| self.web_roots.clone());
        tls::TlsOptions {
            server_name: spec.server_name.clone(),
            skip_verify: spec.skip_verify,
            roots,
        }
    }
}

/// A resolver with the system's nameservers and hosts file, and no cache.
fn uncached_resolver() -> Option<hickory_resolver::TokioResolver> {
    let mut builder = match hickory_resolver::Resolver::builder_tokio() {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(
                "cannot read the system's resolver configuration ({e}); using getaddrinfo"
            );
            return None;
        }
    };
    let opts = builder.options_mut();
    opts.cache_size = 0;
    opts.use_hosts_file = hickory_resolver::config::ResolveHosts::Always;
    opts.ip_strategy = hickory_resolver::config::LookupIpStrategy::Ipv4AndIpv6;
    opts.attempts = 2;
    builder.build().ok()
}

/// Format a duration the way details show it: `850ms`, `5s`, `1.5s`.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Turn a measured success into up or degraded by the probe's latency threshold.
pub(crate) fn grade(probe: &Probe, elapsed: Duration, ok_detail: String) -> (Health, String) {
    match probe.degraded_after {
        Some(limit) if elapsed > limit => (
            Health::Degraded,
            format!(
                "slow: {} > {} ({ok_detail})",
                fmt_duration(elapsed),
                fmt_duration(limit)
            ),
        ),
        _ => (Health::Up, ok_detail),
    }
}

/// What a check knows of its run besides the probe: where it runs and what it saw last.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The region running the check.
    pub region: String,
    /// The probe's previous health in this region.
    pub previous: Option<Health>,
    /// When the worker started (a push probe waits this long for a first heartbeat).
    pub since: chrono::DateTime<Utc>,
}

/// Run one check of `probe`, once.
pub async fn check_once(probe: &Probe, ctx: &Ctx, run: &RunInfo) -> Sample {
    let mut observed = assert::Observed::default();
    let mut sample = match &probe.kind {
        ProbeKind::Http(spec) => http::check(probe, spec, ctx, &mut observed).await,
        ProbeKind::Tcp(spec) => tcp::check(probe, spec, ctx).await,
        ProbeKind::Tls(spec) => tls::check(probe, spec, ctx).await,
        ProbeKind::Dns(spec) => dns::check(probe, spec, ctx).await,
        ProbeKind::Command(spec) => command::check(probe, spec, ctx, run).await,
        ProbeKind::Push(spec) => push::check(probe, spec, ctx, run),
        ProbeKind::Icmp(spec) => icmp::check(probe, spec, ctx).await,
    };
    assert::apply(&probe.assertions, &mut sample, &observed);
    sample
}

/// Run one check and, when it is down, re-check it up to `probe.retries` times after
/// `probe.retry_delay`, each with a new connection. The sample is down only if every
/// attempt was down; it records how many attempts were made.
pub async fn check(probe: &Probe, ctx: &Ctx, run: &RunInfo) -> Sample {
    let mut sample = check_once(probe, ctx, run).await;
    let mut attempts = 1;
    // A heartbeat does not arrive sooner for being looked for twice.
    let retries = if matches!(probe.kind, ProbeKind::Push(_)) {
        0
    } else {
        probe.retries
    };
    while sample.health == Health::Down && attempts <= retries {
        tokio::time::sleep(probe.retry_delay).await;
        let retry = check_once(probe, ctx, run).await;
        attempts += 1;
        if retry.health != Health::Down {
            let first = sample.detail;
            sample = retry;
            sample.detail = format!("{} (after a failed attempt: {first})", sample.detail);
            break;
        }
        sample = retry;
    }
    sample.attempts = attempts;
    sample.detail = redact(probe, sample.detail);
    if sample.health == Health::Down && prober_out_of_descriptors(probe, &sample.detail) {
        // The prober's own limit, not the target's fault: never "down".
        sample.health = Health::Unknown;
        sample.detail = format!(
            "{}; this prober ran out of file descriptors: raise its limit (ulimit -n, systemd LimitNOFILE) or lower --concurrency",
            sample.detail
        );
    }
    sample
}

/// Whether a check failed because this process or the system ran out of file
/// descriptors (EMFILE, ENFILE), as the local error's text says. Details that quote what
/// a target sent (a plugin's output, an assertion's value, a banner) are never read so:
/// a target saying "Too many open files" is the target's failure.
fn prober_out_of_descriptors(probe: &Probe, detail: &str) -> bool {
    let local = match probe.kind {
        ProbeKind::Command(_) => detail.starts_with("cannot start plugin"),
        _ => !detail.contains("assertion failed") && !detail.contains("does not match"),
    };
    local && (detail.contains("(os error 24)") || detail.contains("(os error 23)"))
}

/// Replace the value of every `${SECRET}` the probe uses by its reference, wherever a
/// detail repeats it (an error naming a host, a server echoing a token). Values shorter
/// than four characters are left alone: replacing them would garble the detail.
pub(crate) fn redact(probe: &Probe, detail: String) -> String {
    redact_with(probe, detail, &|name| std::env::var(name).ok())
}

fn redact_with(
    probe: &Probe,
    mut detail: String,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> String {
    for var in probe.kind.templates().iter().flat_map(|t| t.vars()) {
        let Some(value) = lookup(var) else {
            continue;
        };
        if value.len() < 4 {
            continue;
        }
        let reference = format!("${{{var}}}");
        let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        detail = detail
            .replace(&value, &reference)
            .replace(&encoded, &reference);
    }
    detail
}

/// Milliseconds rounded to the microsecond, so state files stay short and readable.
pub(crate) fn round_ms(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// A sample made now.
pub(crate) fn sample_now(health: Health, detail: String) -> Sample {
    Sample::new(Utc::now(), health, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HttpSpec, Method, StatusMatch, Template};

    fn probe(url: &str, header: &str) -> Probe {
        Probe {
            id: "p".into(),
            components: vec!["web".into()],
            regions: vec!["r".into()],
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            retries: 0,
            retry_delay: Duration::from_secs(1),
            confirm: 2,
            recover: 2,
            quorum: None,
            degraded_after: None,
            assertions: Vec::new(),
            kind: ProbeKind::Http(HttpSpec {
                url: Template::parse(url).unwrap(),
                method: Method::Get,
                headers: vec![("Authorization".into(), Template::parse(header).unwrap())],
                body: None,
                expect_status: vec![StatusMatch::Class(2)],
                body_contains: None,
                follow_redirects: true,
                max_redirects: 5,
                max_body_bytes: 1024,
                ip_version: Default::default(),
                tls: Default::default(),
            }),
        }
    }

    #[test]
    fn details_never_carry_secret_values() {
        let p = probe("https://${HOST}/x?k=${KEY}", "Bearer ${TOKEN}");
        let env = |n: &str| match n {
            "HOST" => Some("internal.example".to_string()),
            "KEY" => Some("a b&c=d".to_string()),
            "TOKEN" => Some("tok".to_string()),
            _ => None,
        };
        let detail =
            "dns: cannot resolve internal.example; echoed a+b%26c%3Dd and a b&c=d; tok".to_string();
        assert_eq!(
            redact_with(&p, detail, &env),
            "dns: cannot resolve ${HOST}; echoed ${KEY} and ${KEY}; tok",
            "values under four characters are left alone"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(fmt_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(fmt_duration(Duration::from_secs(5)), "5s");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1.5s");
    }
}
