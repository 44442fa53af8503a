//! Step 2 (probe): the ICMP kind with surge-ping: a burst of echo requests to one address,
//! loss and round-trip times. The socket is an unprivileged ping (DGRAM) socket where the
//! kernel allows one, else a raw socket. A prober without permission for either reports
//! `unknown` with the fix, never `down`: it is the prober that cannot look.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use chrono::Utc;
use surge_ping::{PingIdentifier, PingSequence, SurgeError};

use super::ctx::Ctx;
use super::failure::Failure;
use super::outcome::{Outcome, Verdict, blank, grade, timed_out};
use super::transport::resolve;
use super::units::{ms, round_ms};
use crate::config::{IcmpSpec, Probe};
use crate::state::{Health, IcmpInfo, Sample};

/// Time between two echo requests of one burst.
const SPACING: Duration = Duration::from_millis(200);

pub(crate) async fn check(probe: &Probe, spec: &IcmpSpec, ctx: &Ctx) -> Outcome {
    let at = Utc::now();
    let start = Instant::now();
    let ip = match address(probe, spec, ctx).await {
        Ok(ip) => ip,
        Err(failure) => return Outcome::now(Err(failure)),
    };
    let (client, socket) = match ctx.icmp.get(ip.is_ipv6(), ctx.source_ip).await {
        Ok(c) => c,
        Err(failure) => return Outcome::now(Err(failure)),
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
                    failure = Some(Failure::io(&e, format!("icmp: cannot send to {ip}: {e}")));
                    break;
                }
                Err(e) => {
                    failure = Some(Failure::target(format!("icmp: {e}")));
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
    let info = tally(ip, sent, &rtts, socket);
    let avg = (!rtts.is_empty()).then(|| rtts.iter().sum::<Duration>() / info.received);
    let verdict = match failure {
        Some(failure) => Err(failure),
        None => judge(probe, spec, &info, avg),
    };
    Outcome::judged(
        Sample {
            latency_ms: avg.map(ms).or(Some(ms(start.elapsed()))),
            icmp: Some(info),
            ..blank(at)
        },
        verdict,
    )
}

/// The address to ping: the host's first of the wanted family, found within the timeout.
async fn address(probe: &Probe, spec: &IcmpSpec, ctx: &Ctx) -> Result<IpAddr, Failure> {
    let found = tokio::time::timeout(
        probe.timeout,
        resolve(ctx.resolver(), &spec.host, 0, spec.ip_version),
    )
    .await
    .map_err(|_| timed_out(probe.timeout, "resolve"))??;
    found
        .first()
        .map(|a| a.ip())
        .ok_or_else(|| Failure::target(format!("dns: {} has no address", spec.host)))
}

/// The facts of a burst: what was sent, what came back, and how fast.
fn tally(ip: IpAddr, sent: u32, rtts: &[Duration], socket: &str) -> IcmpInfo {
    let sent = sent.max(1);
    let received = rtts.len() as u32;
    let avg = (!rtts.is_empty()).then(|| rtts.iter().sum::<Duration>() / received);
    IcmpInfo {
        ip: ip.to_string(),
        sent,
        received,
        loss_pct: round_ms(100.0 * f64::from(sent.saturating_sub(received)) / f64::from(sent)),
        rtt_min_ms: rtts.iter().min().copied().map(ms),
        rtt_avg_ms: avg.map(ms),
        rtt_max_ms: rtts.iter().max().copied().map(ms),
        socket: socket.to_string(),
    }
}

/// Up, degraded or down by loss and round-trip time.
fn judge(probe: &Probe, spec: &IcmpSpec, info: &IcmpInfo, avg: Option<Duration>) -> Verdict {
    let summary = format!(
        "{}/{} echo replies from {}",
        info.received, info.sent, info.ip
    );
    let Some(avg) = avg else {
        return Err(Failure::target(format!("100% loss: {summary}")));
    };
    let rtt = format!(
        "rtt min/avg/max {}/{}/{} ms",
        info.rtt_min_ms.unwrap_or_default(),
        info.rtt_avg_ms.unwrap_or_default(),
        info.rtt_max_ms.unwrap_or_default()
    );
    if info.loss_pct >= f64::from(spec.degraded_loss) {
        Ok((
            Health::Degraded,
            format!("{}% loss: {summary}, {rtt}", info.loss_pct),
        ))
    } else {
        Ok(grade(probe, avg, format!("{summary}, {rtt}")))
    }
}
