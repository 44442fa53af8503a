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
use tokio::net::UdpSocket;

use super::ctx::Ctx;
use super::failure::Failure;
use super::outcome::{Outcome, Verdict, blank, grade};
use super::transport::{open_socket, resolve};
use super::units::ms;
use crate::config::{DnsSpec, IpVersion, Probe, Transport};
use crate::state::{DnsInfo, Phases, Sample};

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
fn system_server() -> Result<SocketAddr, Failure> {
    let text = std::fs::read_to_string("/etc/resolv.conf")
        .map_err(|e| Failure::io(&e, format!("dns: cannot read /etc/resolv.conf: {e}")))?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .next()
        .ok_or_else(|| Failure::target("dns: /etc/resolv.conf lists no nameserver"))
}

async fn server_addr(ctx: &Ctx, server: &str) -> Result<SocketAddr, Failure> {
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
                .map_err(|_| Failure::target(format!("dns: bad port in server \"{server}\"")))?,
        ),
        None => (server, 53),
    };
    let addrs = resolve(ctx.resolver(), host, port, IpVersion::Auto).await?;
    addrs
        .into_iter()
        .next()
        .ok_or_else(|| Failure::target(format!("dns: {host} has no address")))
}

fn query(spec: &DnsSpec) -> Result<(u16, Vec<u8>, Vec<Query>), Failure> {
    let name =
        Name::from_ascii(&spec.name).map_err(|e| Failure::target(format!("dns: bad name: {e}")))?;
    let rtype = RecordType::from_str(&spec.record_type)
        .map_err(|_| Failure::target("dns: bad record type"))?;
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(name, rtype));
    let bytes = msg
        .to_vec()
        .map_err(|e| Failure::target(format!("dns: cannot encode the query: {e}")))?;
    Ok((msg.metadata.id, bytes, msg.queries.clone()))
}

async fn over_udp(
    server: SocketAddr,
    (id, question): (u16, &[Query]),
    bytes: &[u8],
    ctx: &Ctx,
) -> Result<Message, Failure> {
    let local: SocketAddr = match (ctx.source_ip, server.is_ipv4()) {
        (Some(ip), v4) if ip.is_ipv4() == v4 => SocketAddr::new(ip, 0),
        (_, true) => "0.0.0.0:0"
            .parse()
            .map_err(|_| Failure::target("dns: bad bind address"))?,
        (_, false) => "[::]:0"
            .parse()
            .map_err(|_| Failure::target("dns: bad bind address"))?,
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| Failure::io(&e, format!("dns: cannot open a socket: {e}")))?;
    socket
        .connect(server)
        .await
        .map_err(|e| Failure::io(&e, format!("dns: cannot reach {server}: {e}")))?;
    socket
        .send(bytes)
        .await
        .map_err(|e| Failure::io(&e, format!("dns: cannot send to {server}: {e}")))?;
    let mut buf = vec![0u8; 4096];
    // Answers with another id (a late answer to someone else's query) are skipped.
    for _ in 0..16 {
        let n = socket.recv(&mut buf).await.map_err(|e| {
            let detail = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    format!("dns: {server} refused (nothing listens on that port)")
                }
                _ => format!("dns: receive from {server} failed: {e}"),
            };
            Failure::io(&e, detail)
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
    Err(Failure::target(format!(
        "dns: {server} sent only answers to other queries"
    )))
}

async fn over_tcp(
    server: SocketAddr,
    id: u16,
    bytes: &[u8],
    ctx: &Ctx,
) -> Result<Message, Failure> {
    let socket = open_socket(server, ctx.source_ip).map_err(|f| f.prefixed("dns: "))?;
    let mut stream = socket.connect(server).await.map_err(|e| {
        let detail = match e.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                format!("dns: connect refused ({server}, tcp)")
            }
            _ => format!("dns: connect failed ({server}, tcp): {e}"),
        };
        Failure::io(&e, detail)
    })?;
    let len = u16::try_from(bytes.len()).map_err(|_| Failure::target("dns: query too long"))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream
        .write_all(&framed)
        .await
        .map_err(|e| Failure::io(&e, format!("dns: send failed (tcp): {e}")))?;
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .await
        .map_err(|e| Failure::io(&e, format!("dns: no answer over tcp: {e}")))?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut buf)
        .await
        .map_err(|e| Failure::io(&e, format!("dns: answer cut short (tcp): {e}")))?;
    let msg = Message::from_vec(&buf)
        .map_err(|e| Failure::target(format!("dns: undecodable answer: {e}")))?;
    if msg.metadata.id != id {
        return Err(Failure::target(
            "dns: the tcp answer has another query's id",
        ));
    }
    Ok(msg)
}

pub(crate) async fn check(probe: &Probe, spec: &DnsSpec, ctx: &Ctx) -> Outcome {
    let at = Utc::now();
    let start = Instant::now();
    let mut progress = Progress {
        phase: "resolve",
        phases: Phases::default(),
        server_shown: spec.server.clone(),
    };
    let result = tokio::time::timeout(probe.timeout, ask(spec, ctx, &mut progress)).await;
    let elapsed = start.elapsed();
    let mut dns = None;
    let verdict = match result {
        Err(_) => Err(Failure::target(format!(
            "timeout after {} during {} ({} did not answer)",
            crate::words::duration(probe.timeout),
            progress.phase,
            progress.server_shown
        ))),
        Ok(Err(reason)) => Err(reason),
        Ok(Ok(info)) => {
            let verdict = judge(probe, spec, &info, elapsed);
            dns = Some(info);
            verdict
        }
    };
    Outcome::judged(
        Sample {
            latency_ms: Some(ms(elapsed)),
            phases: Some(progress.phases),
            dns,
            ..blank(at)
        },
        verdict,
    )
}

/// How far a check got; read after a timeout to say where it stopped.
struct Progress {
    phase: &'static str,
    phases: Phases,
    server_shown: String,
}

/// Find the server and ask it, over UDP then TCP when the answer is truncated, or TCP.
async fn ask(spec: &DnsSpec, ctx: &Ctx, progress: &mut Progress) -> Result<DnsInfo, Failure> {
    let start = Instant::now();
    let server = server_addr(ctx, &spec.server).await?;
    progress.server_shown = server.to_string();
    progress.phases.resolve_ms = ms(start.elapsed());
    progress.phase = "query";
    let (id, bytes, question) = query(spec)?;
    let t = Instant::now();
    let (msg, truncated, transport) = match spec.transport {
        Transport::Tcp => (over_tcp(server, id, &bytes, ctx).await?, false, "tcp"),
        Transport::Udp => {
            let msg = over_udp(server, (id, &question), &bytes, ctx).await?;
            if msg.metadata.truncation {
                progress.phase = "query over tcp";
                (over_tcp(server, id, &bytes, ctx).await?, true, "tcp")
            } else {
                (msg, false, "udp")
            }
        }
    };
    progress.phases.processing_ms = ms(t.elapsed());
    Ok(DnsInfo {
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
}

/// The data part of an answer line (`TTL TYPE DATA` → `DATA`).
fn data(answer: &str) -> &str {
    answer.splitn(3, ' ').nth(2).unwrap_or(answer)
}

/// The answers' data when every expected answer is among them, else why not. Pure (a
/// fuzz target's entry).
pub fn check_answers<'a>(spec: &DnsSpec, info: &'a DnsInfo) -> Result<Vec<&'a str>, Failure> {
    let values: Vec<&str> = info.answers.iter().map(|a| data(a)).collect();
    for expected in &spec.expect_answers {
        if !values.iter().any(|v| expected.matches(v)) {
            let got = if values.is_empty() {
                "no answers".to_string()
            } else {
                values.join(", ")
            };
            return Err(Failure::target(format!(
                "expected answer {expected} not found; got {got}"
            )));
        }
    }
    Ok(values)
}

fn judge(probe: &Probe, spec: &DnsSpec, info: &DnsInfo, elapsed: std::time::Duration) -> Verdict {
    if !spec.expect_rcode.contains(&info.rcode) {
        return Err(Failure::target(format!(
            "{} for {} {} (expected {})",
            info.rcode,
            spec.name,
            spec.record_type,
            spec.expect_rcode.join(", ")
        )));
    }
    let values = check_answers(spec, info)?;
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
            crate::words::duration(elapsed)
        )
    } else {
        format!(
            "{} in {}: {}{more}",
            info.rcode,
            crate::words::duration(elapsed),
            shown.join(", ")
        )
    };
    Ok(grade(probe, elapsed, summary))
}
