//! Step 2 (probe), transport: the prober's ICMP sockets, one per address family, opened on
//! first use and shared by every icmp check. An unprivileged ping (DGRAM) socket where the
//! kernel allows one, else a raw socket.

use std::net::{IpAddr, SocketAddr};

use surge_ping::{Client, Config, ICMP};

use crate::probe::failure::Failure;

/// The fix, said where ICMP is not permitted.
const PERMISSION_FIX: &str = "allow unprivileged ping sockets (sysctl -w net.ipv4.ping_group_range=\"0 2147483647\") or give pharos CAP_NET_RAW (setcap cap_net_raw+ep /path/to/pharos)";

/// One ICMP client per address family, created on first use and shared by every check.
#[derive(Default)]
pub struct IcmpClients {
    v4: tokio::sync::OnceCell<Result<(Client, &'static str), Failure>>,
    v6: tokio::sync::OnceCell<Result<(Client, &'static str), Failure>>,
    /// Sequence numbers shared by every burst: on a ping socket the kernel rewrites the
    /// identifier, so replies are matched by address and sequence only. Unique sequence
    /// numbers keep concurrent bursts to one address (and late replies to an earlier
    /// burst) apart without making anyone wait.
    seq: std::sync::atomic::AtomicU16,
}

impl IcmpClients {
    /// A sequence number no other echo request in flight uses.
    pub(crate) fn next_seq(&self) -> u16 {
        self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// The client of a family, and its socket's type (`dgram` or `raw`). A prober that
    /// may not open one fails with the fix.
    pub(crate) async fn get(
        &self,
        v6: bool,
        source: Option<IpAddr>,
    ) -> Result<(Client, &'static str), Failure> {
        let cell = if v6 { &self.v6 } else { &self.v4 };
        cell.get_or_init(|| async move {
            let mut builder = Config::builder().kind(if v6 { ICMP::V6 } else { ICMP::V4 });
            if let Some(ip) = source.filter(|ip| ip.is_ipv6() == v6) {
                builder = builder.bind(SocketAddr::new(ip, 0));
            }
            let client = Client::new(&builder.build()).map_err(|e| match e.kind() {
                std::io::ErrorKind::PermissionDenied => Failure::prober(format!(
                    "icmp is not permitted for this prober: {PERMISSION_FIX}"
                )),
                _ => Failure::prober(format!("icmp: cannot open a socket: {e}")),
            })?;
            let kind = if client.get_socket().get_type() == socket2::Type::DGRAM {
                "dgram"
            } else {
                "raw"
            };
            Ok((client, kind))
        })
        .await
        .clone()
    }
}
