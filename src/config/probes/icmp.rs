//! Step 1 (config), probes.yaml: the `icmp` kind — its options ([`RawIcmp`]), their
//! validation and the validated [`IcmpSpec`] the prober's `icmp` check runs.

use serde::Deserialize;

use super::{Cx, IpVersion, KindOptions, ProbeKind};

/// An ICMP echo check.
#[derive(Debug, Clone)]
pub struct IcmpSpec {
    /// Host name or address.
    pub host: String,
    /// Address family.
    pub ip_version: IpVersion,
    /// Echo requests per check.
    pub count: u32,
    /// Loss percent from which the check is degraded.
    pub degraded_loss: u32,
}

/// The options of an `icmp` probe.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIcmp {
    /// Host name or address.
    #[serde(default)]
    pub host: Option<String>,
    /// Address family: `ip4`, `ip6` or `auto` (default: every address, in resolver order).
    #[serde(default)]
    pub ip_version: Option<IpVersion>,
    /// Echo requests per check. Default 5.
    #[serde(default)]
    pub count: Option<u32>,
    /// Loss (percent) at or above which the check is degraded. Default 20.
    #[serde(default)]
    pub degraded_loss: Option<u32>,
}

impl KindOptions for RawIcmp {
    fn validate(self, cx: &mut Cx<'_>) -> Option<ProbeKind> {
        let Some(host) = self.host.filter(|h| !h.is_empty()) else {
            cx.problem(&["kind"], "an icmp probe needs `host:`");
            return None;
        };
        let count = self.count.unwrap_or(5);
        let degraded_loss = self.degraded_loss.unwrap_or(20);
        if !(1..=100).contains(&count) {
            cx.problem(
                &["count"],
                format!("count {count} must be between 1 and 100 echo requests"),
            );
        }
        if !(1..=100).contains(&degraded_loss) {
            cx.problem(
                &["degraded_loss"],
                format!("degraded_loss {degraded_loss} must be a percentage from 1 to 100"),
            );
        }
        Some(ProbeKind::Icmp(IcmpSpec {
            host,
            ip_version: self.ip_version.unwrap_or_default(),
            count,
            degraded_loss,
        }))
    }
}
