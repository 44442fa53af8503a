//! Step 2 (probe), transport: host names to addresses, through the prober's own resolver
//! (no cache, so every check sees what DNS says now) or getaddrinfo.

use std::net::SocketAddr;

use hickory_resolver::TokioResolver;
use hickory_resolver::net::NetError;

use crate::config::IpVersion;
use crate::probe::failure::{Failure, FailureKind};

/// Resolve `host:port` to every address it has of the wanted family (an IP literal is
/// its own address). Names go through `resolver` when there is one, else getaddrinfo.
pub(crate) async fn resolve(
    resolver: Option<&TokioResolver>,
    host: &str,
    port: u16,
    family: IpVersion,
) -> Result<Vec<SocketAddr>, Failure> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = if let Ok(ip) = host.parse() {
        vec![SocketAddr::new(ip, port)]
    } else {
        match resolver {
            Some(resolver) => match resolver.lookup_ip(host).await {
                Ok(found) => found.iter().map(|ip| SocketAddr::new(ip, port)).collect(),
                Err(e) if e.is_nx_domain() => {
                    return Err(Failure::target(format!(
                        "dns: {host} does not exist (NXDOMAIN)"
                    )));
                }
                Err(e) if e.is_no_records_found() => Vec::new(),
                Err(e) => {
                    return Err(Failure::new(
                        kind_of(&e),
                        format!("dns: cannot resolve {host}: {e}"),
                    ));
                }
            },
            None => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| Failure::io(&e, format!("dns: cannot resolve {host}: {e}")))?
                .collect(),
        }
    };
    let wanted: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| match family {
            IpVersion::Auto => true,
            IpVersion::Ip4 => a.is_ipv4(),
            IpVersion::Ip6 => a.is_ipv6(),
        })
        .collect();
    if wanted.is_empty() {
        let which = match family {
            IpVersion::Auto => "",
            IpVersion::Ip4 => "IPv4 ",
            IpVersion::Ip6 => "IPv6 ",
        };
        return Err(Failure::target(format!(
            "dns: {host} has no {which}address"
        )));
    }
    Ok(wanted)
}

/// The kind of a resolver's failure: out of descriptors when its socket could not be
/// opened for that reason.
fn kind_of(e: &NetError) -> FailureKind {
    match e {
        NetError::Io(io) => FailureKind::of_io(io),
        other => FailureKind::of_error(other),
    }
}
