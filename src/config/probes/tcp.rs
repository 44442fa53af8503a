//! Step 1 (config), probes.yaml: the `tcp` kind — its options ([`RawTcp`]), their
//! validation and the validated [`TcpSpec`] the prober's `tcp` check runs.

use serde::Deserialize;

use super::tls::tls_spec;
use super::{Cx, IpVersion, KindOptions, ProbeKind, Template, TlsSpec};

/// A TCP connect check, with optional TLS and a send/expect exchange.
#[derive(Debug, Clone)]
pub struct TcpSpec {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Address family.
    pub ip_version: IpVersion,
    /// TLS right after connecting.
    pub tls: Option<TlsSpec>,
    /// Bytes sent after connecting.
    pub send: Option<Template>,
    /// Pattern the first bytes received must match.
    pub expect: Option<regex::Regex>,
}

/// The options of a `tcp` probe.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTcp {
    /// Host name or address.
    #[serde(default)]
    pub host: Option<String>,
    /// Port.
    #[serde(default)]
    pub port: Option<u16>,
    /// Address family: `ip4`, `ip6` or `auto` (default: every address, in resolver order).
    #[serde(default)]
    pub ip_version: Option<IpVersion>,
    /// The name sent (SNI) and verified; default the host.
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// Accept any certificate (its expiry is still recorded).
    #[serde(default)]
    pub tls_skip_verify: Option<bool>,
    /// PEM file of CA certificates to trust instead of the web's roots.
    #[serde(default)]
    pub tls_ca_file: Option<String>,
    /// Speak TLS right after connecting.
    #[serde(default)]
    pub tls: Option<bool>,
    /// Bytes to send after connecting (YAML escapes such as "\r\n" work in double quotes).
    #[serde(default)]
    pub send: Option<Template>,
    /// A pattern the first bytes received must match, e.g. "^SSH-2\\.0".
    #[serde(default)]
    pub expect: Option<String>,
}

impl KindOptions for RawTcp {
    fn validate(self, cx: &mut Cx<'_>) -> Option<ProbeKind> {
        let (Some(host), Some(port)) = (
            self.host.filter(|h| !h.is_empty()),
            self.port.filter(|p| *p > 0),
        ) else {
            cx.problem(
                &["kind"],
                "a tcp probe needs `host:` and a non-zero `port:`",
            );
            return None;
        };
        let expect = match self.expect.as_deref().map(regex::Regex::new) {
            Some(Ok(re)) => Some(re),
            Some(Err(e)) => {
                let why = crate::config::regex_error(&e);
                cx.problem(&["expect"], format!("invalid pattern: {why}"));
                None
            }
            None => None,
        };
        let tls = tls_spec(
            self.tls_server_name,
            self.tls_skip_verify,
            self.tls_ca_file,
            cx,
        );
        Some(ProbeKind::Tcp(TcpSpec {
            host,
            port,
            ip_version: self.ip_version.unwrap_or_default(),
            tls: self.tls.unwrap_or(false).then_some(tls),
            send: self.send,
            expect,
        }))
    }

    /// With `tls: true` the check records the certificate.
    fn speaks_tls(&self) -> bool {
        self.tls == Some(true)
    }
}
