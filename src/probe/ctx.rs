//! Step 2 (probe): what every check shares, built once when the prober starts: trust
//! roots, the resolver, the ICMP sockets, the source address, the plugins' environment.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::transport::icmp::IcmpClients;
use super::transport::tls::{TlsOptions, load_roots};
use crate::config::{Probe, TlsSpec};

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
    pub icmp: Arc<IcmpClients>,
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
            let roots = load_roots(&root.join(file))
                .map_err(|e| anyhow::anyhow!("probe \"{}\": {e:#}", probe.id))?;
            self.ca_roots.insert(file.clone(), Arc::new(roots));
        }
        Ok(())
    }

    /// The TLS options of a probe, with its trust roots.
    pub(crate) fn tls_options(&self, spec: &TlsSpec) -> TlsOptions {
        let roots = spec
            .ca_file
            .as_ref()
            .and_then(|f| self.ca_roots.get(f).cloned())
            .unwrap_or_else(|| self.web_roots.clone());
        TlsOptions {
            server_name: spec.server_name.clone(),
            skip_verify: spec.skip_verify,
            roots,
            provider: self.provider.clone(),
        }
    }

    /// The resolver of host names, when there is one.
    pub(crate) fn resolver(&self) -> Option<&hickory_resolver::TokioResolver> {
        self.resolver.as_deref()
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

/// What a check knows of its run besides the probe: where it runs and what it saw last.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The region running the check.
    pub region: String,
    /// The probe's previous health in this region.
    pub previous: Option<crate::state::Health>,
    /// When the worker started (a push probe waits this long for a first heartbeat).
    pub since: chrono::DateTime<chrono::Utc>,
}
