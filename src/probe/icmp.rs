//! Step 2 (probe): the ICMP kind with surge-ping: a burst of echo requests to one address,
//! loss and round-trip times. The socket is an unprivileged ping (DGRAM) socket where the
//! kernel allows one, else a raw socket. A prober without permission for either reports
//! `unknown` with the fix, never `down`: it is the prober that cannot look.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use chrono::Utc;
use surge_ping::{Client, Config, ICMP, PingIdentifier, PingSequence, SurgeError};

use super::{Ctx, fmt_duration, round_ms, sample_now};
use crate::config::{IcmpSpec, Probe};
use crate::state::{Health, IcmpInfo, Sample};

/// Time between two echo requests of one burst.
const SPACING: Duration = Duration::from_millis(200);

/// The fix, said where ICMP is not permitted.
const PERMISSION_FIX: &str = "allow unprivileged ping sockets (sysctl -w net.ipv4.ping_group_range=\"0 2147483647\") or give pharos CAP_NET_RAW (setcap cap_net_raw+ep /path/to/pharos)";

/// One ICMP client per address family, created on first use and shared by every check.
#[derive(Default)]
pub struct IcmpClients {
    v4: tokio::sync::OnceCell<Result<(Client, &'static str), String>>,
    v6: tokio::sync::OnceCell<Result<(Client, &'static str), String>>,
    /// Sequence numbers shared by every burst: on a ping socket the kernel rewrites the
    /// identifier, so replies are matched by address and sequence only. Unique sequence
    /// numbers keep concurrent bursts to one address (and late replies to an earlier
    /// burst) apart without making anyone wait.
    seq: std::sync::atomic::AtomicU16,
}

impl IcmpClients {
    fn next_seq(&self) -> u16 {
        self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    async fn get(
        &self,
        v6: bool,
        source: Option<IpAddr>,
    ) -> Result<(Client, &'static str), String> {
        let cell = if v6 { &self.v6 } else { &self.v4 };
        cell.get_or_init(|| async move {
            let mut builder = Config::builder().kind(if v6 { ICMP::V6 } else { ICMP::V4 });
            if let Some(ip) = source.filter(|ip| ip.is_ipv6() == v6) {
                builder = builder.bind(SocketAddr::new(ip, 0));
            }
            let client = Client::new(&builder.build()).map_err(|e| match e.kind() {
                std::io::ErrorKind::PermissionDenied => {
                    format!("icmp is not permitted for this prober: {PERMISSION_FIX}")
                }
                _ => format!("icmp: cannot open a socket: {e}"),
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

pub(crate) async fn check(probe: &Probe, spec: &IcmpSpec, ctx: &Ctx) -> Sample {
    let at = Utc::now();
    let start = Instant::now();
    let ip = match tokio::time::timeout(
        probe.timeout,
        super::tcp::resolve(ctx, &spec.host, 0, spec.ip_version),
    )
    .await
    {
        Ok(Ok(addrs)) => match addrs.first() {
            Some(a) => a.ip(),
            None => return sample_now(Health::Down, format!("dns: {} has no address", spec.host)),
        },
        Ok(Err(e)) => return sample_now(Health::Down, e),
        Err(_) => {
            return sample_now(
                Health::Down,
                format!(
                    "timeout after {} during resolve",
                    fmt_duration(probe.timeout)
                ),
            );
        }
    };
    let (client, socket) = match ctx.icmp.get(ip.is_ipv6(), ctx.source_ip).await {
        Ok(c) => c,
        Err(reason) => return sample_now(Health::Unknown, reason),
    };
    let per_echo = (probe.timeout / spec.count).max(Duration::from_millis(100));
    let mut rtts = Vec::new();
    let mut sent = 0u32;
    let mut failure = None;
    let burst = async {
        let mut pinger = client.pinger(ip, PingIdentifier(fastrand::u16(..))).await;
        pinger.timeout(per_echo);
        let payload = [0u8; 56];
        for seq in 0..spec.count {
            let started = Instant::now();
            sent += 1;
            match pinger
                .ping(PingSequence(ctx.icmp.next_seq()), &payload)
                .await
            {
                Ok((_, rtt)) => rtts.push(rtt),
                Err(SurgeError::Timeout { .. }) => {}
                Err(SurgeError::IOError(e)) => {
                    failure = Some(format!("icmp: cannot send to {ip}: {e}"));
                    break;
                }
                Err(e) => {
                    failure = Some(format!("icmp: {e}"));
                    break;
                }
            }
            if seq + 1 < spec.count {
                tokio::time::sleep(SPACING.saturating_sub(started.elapsed())).await;
            }
        }
    };
    // The whole burst stays within the probe's timeout.
    let _ = tokio::time::timeout(probe.timeout.saturating_sub(start.elapsed()), burst).await;
    let sent = sent.max(1);
    let received = rtts.len() as u32;
    let ms = |d: Duration| round_ms(d.as_secs_f64() * 1e3);
    let avg = (!rtts.is_empty()).then(|| rtts.iter().sum::<Duration>() / received);
    let info = IcmpInfo {
        ip: ip.to_string(),
        sent,
        received,
        loss_pct: round_ms(100.0 * f64::from(sent.saturating_sub(received)) / f64::from(sent)),
        rtt_min_ms: rtts.iter().min().copied().map(ms),
        rtt_avg_ms: avg.map(ms),
        rtt_max_ms: rtts.iter().max().copied().map(ms),
        socket: socket.to_string(),
    };
    let summary = format!("{received}/{sent} echo replies from {ip}");
    let (health, detail) = match (failure, avg) {
        (Some(reason), _) => (Health::Down, reason),
        (None, None) => (Health::Down, format!("100% loss: {summary}")),
        (None, Some(avg)) => {
            let rtt = format!(
                "rtt min/avg/max {}/{}/{} ms",
                info.rtt_min_ms.unwrap_or_default(),
                info.rtt_avg_ms.unwrap_or_default(),
                info.rtt_max_ms.unwrap_or_default()
            );
            if info.loss_pct >= f64::from(spec.degraded_loss) {
                (
                    Health::Degraded,
                    format!("{}% loss: {summary}, {rtt}", info.loss_pct),
                )
            } else {
                super::grade(probe, avg, format!("{summary}, {rtt}"))
            }
        }
    };
    Sample {
        latency_ms: avg.map(ms).or(Some(ms(start.elapsed()))),
        icmp: Some(info),
        ..Sample::new(at, health, detail)
    }
}
