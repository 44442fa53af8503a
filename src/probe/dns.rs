//! Step 2 (probe): the DNS check. One query with its own id to one server, no resolver
//! and no cache, so every check is a fresh look at that server (blackbox_exporter's dns
//! prober). UDP first and TCP when the answer is truncated, or TCP only.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Instant;

use chrono::Utc;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};

use super::{Ctx, fmt_duration, grade, round_ms};
use crate::config::{DnsSpec, Probe, Transport};
use crate::state::{DnsInfo, Health, Phases, Sample};

/// The standard name of a response code (`NXDOMAIN`), as probes.yaml writes it.
pub(crate) fn rcode_word(code: ResponseCode) -> String {
    match code {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::YXDomain => "YXDOMAIN".into(),
        ResponseCode::YXRRSet => "YXRRSET".into(),
        ResponseCode::NXRRSet => "NXRRSET".into(),
        ResponseCode::NotAuth => "NOTAUTH".into(),
        ResponseCode::NotZone => "NOTZONE".into(),
        other => format!("RCODE{}", u16::from(other)),
    }
}

/// The first nameserver of /etc/resolv.conf.
fn system_server() -> Result<SocketAddr, String> {
    let text = std::fs::read_to_string("/etc/resolv.conf")
        .map_err(|e| format!("dns: cannot read /etc/resolv.conf: {e}"))?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .next()
        .ok_or_else(|| "dns: /etc/resolv.conf lists no nameserver".to_string())
}

async fn server_addr(ctx: &Ctx, server: &str) -> Result<SocketAddr, String> {
    if server == "system" {
        return system_server();
    }
    if let Ok(addr) = server.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = server.trim_start_matches('[').trim_end_matches(']').parse() {
        return Ok(SocketAddr::new(ip, 53));
    }
    let (host, port) = match server.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse()
                .map_err(|_| format!("dns: bad port in server \"{server}\""))?,
        ),
        None => (server, 53),
    };
    let addrs = super::tcp::resolve(ctx, host, port, crate::config::IpVersion::Auto).await?;
    addrs
        .into_iter()
        .next()
        .ok_or_else(|| format!("dns: {host} has no address"))
}

fn query(spec: &DnsSpec) -> Result<(u16, Vec<u8>, Vec<Query>), String> {
    let name = Name::from_ascii(&spec.name).map_err(|e| format!("dns: bad name: {e}"))?;
    let rtype =
        RecordType::from_str(&spec.record_type).map_err(|_| "dns: bad record type".to_string())?;
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(name, rtype));
    let bytes = msg
        .to_vec()
        .map_err(|e| format!("dns: cannot encode the query: {e}"))?;
    Ok((msg.metadata.id, bytes, msg.queries.clone()))
}

async fn over_udp(
    server: SocketAddr,
    (id, question): (u16, &[Query]),
    bytes: &[u8],
    ctx: &Ctx,
) -> Result<Message, String> {
    let local: SocketAddr = match (ctx.source_ip, server.is_ipv4()) {
        (Some(ip), v4) if ip.is_ipv4() == v4 => SocketAddr::new(ip, 0),
        (_, true) => "0.0.0.0:0"
            .parse()
            .map_err(|_| "dns: bad bind address".to_string())?,
        (_, false) => "[::]:0"
            .parse()
            .map_err(|_| "dns: bad bind address".to_string())?,
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("dns: cannot open a socket: {e}"))?;
    socket
        .connect(server)
        .await
        .map_err(|e| format!("dns: cannot reach {server}: {e}"))?;
    socket
        .send(bytes)
        .await
        .map_err(|e| format!("dns: cannot send to {server}: {e}"))?;
    let mut buf = vec![0u8; 4096];
    // Answers with another id (a late answer to someone else's query) are skipped.
    for _ in 0..16 {
        let n = socket.recv(&mut buf).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                format!("dns: {server} refused (nothing listens on that port)")
            }
            _ => format!("dns: receive from {server} failed: {e}"),
        })?;
        let Ok(msg) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        // Same id and the same question: anything else is someone else's answer (or a
        // spoofed one) and is skipped.
        if msg.metadata.id == id && msg.queries == question {
            return Ok(msg);
        }
    }
    Err(format!("dns: {server} sent only answers to other queries"))
}

async fn over_tcp(server: SocketAddr, id: u16, bytes: &[u8], ctx: &Ctx) -> Result<Message, String> {
    let socket = if server.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| format!("dns: cannot open a socket: {e}"))?;
    if let Some(ip) = ctx.source_ip
        && ip.is_ipv4() == server.is_ipv4()
    {
        socket
            .bind(SocketAddr::new(ip, 0))
            .map_err(|e| format!("dns: cannot send from {ip}: {e}"))?;
    }
    let mut stream = socket.connect(server).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => format!("dns: connect refused ({server}, tcp)"),
        _ => format!("dns: connect failed ({server}, tcp): {e}"),
    })?;
    let len = u16::try_from(bytes.len()).map_err(|_| "dns: query too long".to_string())?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream
        .write_all(&framed)
        .await
        .map_err(|e| format!("dns: send failed (tcp): {e}"))?;
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .await
        .map_err(|e| format!("dns: no answer over tcp: {e}"))?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut buf)
        .await
        .map_err(|e| format!("dns: answer cut short (tcp): {e}"))?;
    let msg = Message::from_vec(&buf).map_err(|e| format!("dns: undecodable answer: {e}"))?;
    if msg.metadata.id != id {
        return Err("dns: the tcp answer has another query's id".into());
    }
    Ok(msg)
}

pub(crate) async fn check(probe: &Probe, spec: &DnsSpec, ctx: &Ctx) -> Sample {
    let at = Utc::now();
    let start = Instant::now();
    let mut phase = "resolve";
    let mut phases = Phases::default();
    let mut server_shown = spec.server.clone();
    let work = async {
        let server = server_addr(ctx, &spec.server).await?;
        server_shown = server.to_string();
        phases.resolve_ms = round_ms(start.elapsed().as_secs_f64() * 1e3);
        phase = "query";
        let (id, bytes, question) = query(spec)?;
        let t = Instant::now();
        let (msg, truncated, transport) = match spec.transport {
            Transport::Tcp => (over_tcp(server, id, &bytes, ctx).await?, false, "tcp"),
            Transport::Udp => {
                let msg = over_udp(server, (id, &question), &bytes, ctx).await?;
                if msg.metadata.truncation {
                    phase = "query over tcp";
                    (over_tcp(server, id, &bytes, ctx).await?, true, "tcp")
                } else {
                    (msg, false, "udp")
                }
            }
        };
        phases.processing_ms = round_ms(t.elapsed().as_secs_f64() * 1e3);
        Ok::<_, String>(DnsInfo {
            server: server.to_string(),
            rcode: rcode_word(msg.metadata.response_code),
            answers: msg
                .answers
                .iter()
                .map(|r| format!("{} {} {}", r.ttl, r.record_type(), r.data))
                .collect(),
            authoritative: msg.metadata.authoritative,
            truncated,
            transport: transport.to_string(),
        })
    };
    let result = tokio::time::timeout(probe.timeout, work).await;
    let elapsed = start.elapsed();
    let mut dns = None;
    let (health, detail) = match result {
        Err(_) => (
            Health::Down,
            format!(
                "timeout after {} during {phase} ({server_shown} did not answer)",
                fmt_duration(probe.timeout)
            ),
        ),
        Ok(Err(reason)) => (Health::Down, reason),
        Ok(Ok(info)) => {
            let verdict = judge(probe, spec, &info, elapsed);
            dns = Some(info);
            verdict
        }
    };
    Sample {
        latency_ms: Some(round_ms(elapsed.as_secs_f64() * 1e3)),
        phases: Some(phases),
        dns,
        ..Sample::new(at, health, detail)
    }
}

/// The data part of an answer line (`TTL TYPE DATA` → `DATA`).
fn data(answer: &str) -> &str {
    answer.splitn(3, ' ').nth(2).unwrap_or(answer)
}

/// The answers' data when every expected answer is among them, else why not. Pure (a
/// fuzz target's entry).
pub fn check_answers<'a>(spec: &DnsSpec, info: &'a DnsInfo) -> Result<Vec<&'a str>, String> {
    let values: Vec<&str> = info.answers.iter().map(|a| data(a)).collect();
    for expected in &spec.expect_answers {
        if !values.iter().any(|v| expected.matches(v)) {
            let got = if values.is_empty() {
                "no answers".to_string()
            } else {
                values.join(", ")
            };
            return Err(format!("expected answer {expected} not found; got {got}"));
        }
    }
    Ok(values)
}

fn judge(
    probe: &Probe,
    spec: &DnsSpec,
    info: &DnsInfo,
    elapsed: std::time::Duration,
) -> (Health, String) {
    if !spec.expect_rcode.contains(&info.rcode) {
        return (
            Health::Down,
            format!(
                "{} for {} {} (expected {})",
                info.rcode,
                spec.name,
                spec.record_type,
                spec.expect_rcode.join(", ")
            ),
        );
    }
    let values = match check_answers(spec, info) {
        Ok(values) => values,
        Err(why) => return (Health::Down, why),
    };
    let shown: Vec<&str> = values.iter().take(5).copied().collect();
    let more = if values.len() > 5 {
        format!(" and {} more", values.len() - 5)
    } else {
        String::new()
    };
    let summary = if values.is_empty() {
        format!(
            "{} with no answers in {}",
            info.rcode,
            fmt_duration(elapsed)
        )
    } else {
        format!(
            "{} in {}: {}{more}",
            info.rcode,
            fmt_duration(elapsed),
            shown.join(", ")
        )
    };
    grade(probe, elapsed, summary)
}
