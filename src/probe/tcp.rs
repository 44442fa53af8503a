//! Step 2 (probe): the TCP check: resolve, then connect, within one deadline.

use std::net::SocketAddr;
use std::time::Instant;

use chrono::Utc;
use tokio::net::{TcpSocket, TcpStream};

use super::{Ctx, fmt_duration, grade, round_ms};
use crate::config::{IpVersion, Probe, TcpSpec};
use crate::state::{ConnInfo, Health, Phases, Sample};

/// Resolve `host:port` to every address it has of the wanted family (an IP literal is
/// its own address). Names go through the prober's own resolver, which has no cache, so
/// every check sees what DNS says now.
pub(crate) async fn resolve(
    ctx: &Ctx,
    host: &str,
    port: u16,
    family: IpVersion,
) -> Result<Vec<SocketAddr>, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = if let Ok(ip) = host.parse() {
        vec![SocketAddr::new(ip, port)]
    } else {
        match &ctx.resolver {
            Some(resolver) => match resolver.lookup_ip(host).await {
                Ok(found) => found.iter().map(|ip| SocketAddr::new(ip, port)).collect(),
                Err(e) if e.is_nx_domain() => {
                    return Err(format!("dns: {host} does not exist (NXDOMAIN)"));
                }
                Err(e) if e.is_no_records_found() => Vec::new(),
                Err(e) => return Err(format!("dns: cannot resolve {host}: {e}")),
            },
            None => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| format!("dns: cannot resolve {host}: {e}"))?
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
        return Err(format!("dns: {host} has no {which}address"));
    }
    Ok(wanted)
}

/// Connection facts of an address.
pub(crate) fn conn_info(addr: SocketAddr) -> ConnInfo {
    ConnInfo {
        ip: Some(addr.ip().to_string()),
        ip_family: Some(if addr.is_ipv4() { 4 } else { 6 }),
        ..ConnInfo::default()
    }
}

/// Open a fresh TCP connection to the first address that answers, trying addresses of
/// the source address's family first (all of them in resolver order when there is none).
pub(crate) async fn connect(
    addrs: &[SocketAddr],
    ctx: &Ctx,
    budget: std::time::Duration,
) -> Result<(TcpStream, SocketAddr), String> {
    let mut ordered: Vec<SocketAddr> = addrs.to_vec();
    if let Some(ip) = ctx.source_ip {
        ordered.sort_by_key(|a| a.is_ipv4() != ip.is_ipv4());
    }
    // Each address gets its share of the check's time, so one that silently drops
    // packets (often a broken IPv6 route) does not use it all up.
    let share = (budget / ordered.len().max(1) as u32).max(std::time::Duration::from_millis(500));
    let mut errors = Vec::new();
    for addr in ordered {
        match tokio::time::timeout(share, connect_one(addr, ctx)).await {
            Ok(Ok(stream)) => return Ok((stream, addr)),
            Ok(Err(e)) => errors.push(e),
            Err(_) => errors.push(format!(
                "connect to {addr} timed out after {}",
                super::fmt_duration(share)
            )),
        }
    }
    Err(errors.join("; "))
}

async fn connect_one(addr: SocketAddr, ctx: &Ctx) -> Result<TcpStream, String> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| format!("cannot open a socket: {e}"))?;
    if let Some(ip) = ctx.source_ip
        && ip.is_ipv4() == addr.is_ipv4()
    {
        socket
            .bind(SocketAddr::new(ip, 0))
            .map_err(|e| format!("cannot send from {ip}: {e}"))?;
    }
    let stream = socket.connect(addr).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => format!("connect refused ({addr})"),
        std::io::ErrorKind::ConnectionReset => format!("connection reset during connect ({addr})"),
        _ => format!("connect failed ({addr}): {e}"),
    })?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Most bytes read while waiting for `expect` to match.
const MAX_BANNER: usize = 4096;

pub(crate) async fn check(probe: &Probe, spec: &TcpSpec, ctx: &Ctx) -> Sample {
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
    impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

    let send = match spec.send.as_ref().map(|t| t.resolve_env()).transpose() {
        Ok(s) => s,
        Err(missing) => return super::sample_now(Health::Unknown, missing.to_string()),
    };
    let at = Utc::now();
    let start = Instant::now();
    let mut phases = Phases::default();
    let mut phase = "resolve";
    let mut conn: Option<ConnInfo> = None;
    let mut cert = None;
    let work = async {
        let addrs = resolve(ctx, &spec.host, spec.port, spec.ip_version).await?;
        phases.resolve_ms = round_ms(start.elapsed().as_secs_f64() * 1e3);
        phase = "connect";
        let t = Instant::now();
        let (tcp, addr) = connect(&addrs, ctx, probe.timeout).await?;
        phases.connect_ms = round_ms(t.elapsed().as_secs_f64() * 1e3);
        conn = Some(conn_info(addr));
        let mut stream: Box<dyn Io> = match &spec.tls {
            Some(tls) => {
                phase = "tls";
                let t = Instant::now();
                let (result, info) =
                    super::tls::handshake(tcp, &spec.host, &ctx.tls_options(tls), ctx, &[]).await;
                cert = info;
                let stream = result?;
                phases.tls_ms = round_ms(t.elapsed().as_secs_f64() * 1e3);
                if let Some(c) = conn.as_mut() {
                    c.tls_version = super::tls::version(&stream);
                }
                Box::new(stream)
            }
            None => Box::new(tcp),
        };
        if let Some(bytes) = &send {
            phase = "send";
            stream
                .write_all(bytes.as_bytes())
                .await
                .map_err(|e| format!("connected to {addr}, but sending failed: {e}"))?;
        }
        let Some(pattern) = &spec.expect else {
            return Ok((addr, String::new()));
        };
        phase = "expect";
        let t = Instant::now();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| format!("connected to {addr}, but reading failed: {e}"))?;
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).to_string();
            if pattern.is_match(&text) {
                phases.processing_ms = round_ms(t.elapsed().as_secs_f64() * 1e3);
                let first = text
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .chars()
                    .take(80)
                    .collect::<String>();
                return Ok((
                    addr,
                    format!(", answer \"{first}\" matches /{}/", pattern.as_str()),
                ));
            }
            if n == 0 || got.len() >= MAX_BANNER {
                let shown: String = text.trim().chars().take(80).collect();
                let why = if n == 0 {
                    "the server closed the connection"
                } else {
                    "4 KiB read"
                };
                return Err(format!(
                    "connected to {addr}, but the answer does not match /{}/ ({why}): \"{shown}\"",
                    pattern.as_str()
                ));
            }
        }
    };
    let result = tokio::time::timeout(probe.timeout, work).await;
    let elapsed = start.elapsed();
    let (health, detail) = match result {
        Ok(Ok((addr, matched))) => grade(
            probe,
            elapsed,
            format!("connected to {addr} in {}{matched}", fmt_duration(elapsed)),
        ),
        Ok(Err(e)) => (Health::Down, e),
        Err(_) => (
            Health::Down,
            format!(
                "timeout after {} during {phase}",
                fmt_duration(probe.timeout)
            ),
        ),
    };
    Sample {
        latency_ms: Some(round_ms(elapsed.as_secs_f64() * 1e3)),
        phases: Some(phases),
        conn,
        cert,
        ..Sample::new(at, health, detail)
    }
}
