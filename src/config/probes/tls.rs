//! Step 1 (config), probes.yaml: the `tls` kind — its options ([`RawTls`]), their
//! validation and the validated [`TlsCheckSpec`] — and the TLS settings ([`TlsSpec`]) that
//! http and tcp probes use too.

use serde::{Deserialize, Serialize};

use super::{Cx, IpVersion, KindOptions, ProbeKind};

/// Protocols upgraded to TLS in-band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Starttls {
    /// SMTP: EHLO, STARTTLS.
    Smtp,
}

/// TLS settings as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSpec {
    /// SNI and verified name; default the host.
    pub server_name: Option<String>,
    /// Accept any certificate.
    pub skip_verify: bool,
    /// CA file (relative paths are relative to the project root).
    pub ca_file: Option<std::path::PathBuf>,
}

/// The TLS settings from a probe's `tls_server_name`, `tls_skip_verify` and `tls_ca_file`;
/// a server name that is neither a host name nor an address is a problem.
pub(super) fn tls_spec(
    server_name: Option<String>,
    skip_verify: Option<bool>,
    ca_file: Option<String>,
    cx: &mut Cx<'_>,
) -> TlsSpec {
    if let Some(name) = &server_name
        && rustls::pki_types::ServerName::try_from(name.as_str()).is_err()
    {
        cx.problem(
            &["tls_server_name"],
            format!(
                "tls_server_name \"{name}\" is not a host name or an IP address; write the name the certificate is for, e.g. api.example.com"
            ),
        );
    }
    TlsSpec {
        server_name,
        skip_verify: skip_verify.unwrap_or(false),
        ca_file: ca_file.map(std::path::PathBuf::from),
    }
}

/// A TLS certificate check.
#[derive(Debug, Clone)]
pub struct TlsCheckSpec {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Address family.
    pub ip_version: IpVersion,
    /// TLS settings.
    pub tls: TlsSpec,
    /// In-band upgrade first.
    pub starttls: Option<Starttls>,
    /// Degraded at or below this many days to expiry.
    pub warn_days: u32,
    /// Down at or below this many days to expiry.
    pub crit_days: u32,
}

/// The options of a `tls` probe.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    /// Host name or address.
    #[serde(default)]
    pub host: Option<String>,
    /// Port. Default 443.
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
    /// `smtp` to upgrade with STARTTLS first.
    #[serde(default)]
    pub starttls: Option<Starttls>,
    /// Days before expiry the check becomes degraded. Default 21.
    #[serde(default)]
    pub warn_days: Option<u32>,
    /// Days before expiry the check becomes down. Default 7.
    #[serde(default)]
    pub crit_days: Option<u32>,
}

impl KindOptions for RawTls {
    fn validate(self, cx: &mut Cx<'_>) -> Option<ProbeKind> {
        let Some(host) = self.host.filter(|h| !h.is_empty()) else {
            cx.problem(
                &["kind"],
                "a tls probe needs `host:` (and `port:` unless it is 443)",
            );
            return None;
        };
        let warn_days = self.warn_days.unwrap_or(21);
        let crit_days = self.crit_days.unwrap_or(7);
        if crit_days > warn_days {
            cx.problem(
                &["crit_days"],
                format!("crit_days {crit_days} must not be more than warn_days {warn_days}"),
            );
        }
        Some(ProbeKind::Tls(TlsCheckSpec {
            host,
            port: self.port.unwrap_or(443),
            ip_version: self.ip_version.unwrap_or_default(),
            tls: tls_spec(
                self.tls_server_name,
                self.tls_skip_verify,
                self.tls_ca_file,
                cx,
            ),
            starttls: self.starttls,
            warn_days,
            crit_days,
        }))
    }
}
