//! Step 2 (probe): the TCP check: resolve, connect (and TLS when asked), optionally send
//! a line and wait for an answer to match, within one deadline.

use std::net::SocketAddr;
use std::time::Instant;

use chrono::Utc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::ctx::Ctx;
use super::failure::Failure;
use super::outcome::{Outcome, blank, grade, timed_out};
use super::transport::{self, conn_info, connect, resolve};
use super::units::ms;
use crate::config::{Probe, TcpSpec};
use crate::state::{CertInfo, ConnInfo, Phases, Sample};

/// Most bytes read while waiting for `expect` to match.
const MAX_BANNER: usize = 4096;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How far a check got; read after a timeout to say where it stopped.
struct Progress {
    phase: &'static str,
    phases: Phases,
    conn: Option<ConnInfo>,
    cert: Option<CertInfo>,
}

pub(crate) async fn check(probe: &Probe, spec: &TcpSpec, ctx: &Ctx) -> Outcome {
    let send = match spec.send.as_ref().map(|t| t.resolve_env()).transpose() {
        Ok(s) => s,
        Err(missing) => return Outcome::now(Err(missing.into())),
    };
    let at = Utc::now();
    let start = Instant::now();
    let mut progress = Progress {
        phase: "resolve",
        phases: Phases::default(),
        conn: None,
        cert: None,
    };
    let work = talk(probe, spec, ctx, send.as_deref(), &mut progress);
    let result = tokio::time::timeout(probe.timeout, work).await;
    let elapsed = start.elapsed();
    let verdict = match result {
        Ok(Ok((addr, matched))) => Ok(grade(
            probe,
            elapsed,
            format!(
                "connected to {addr} in {}{matched}",
                crate::words::duration(elapsed)
            ),
        )),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(timed_out(probe.timeout, progress.phase)),
    };
    Outcome::judged(
        Sample {
            latency_ms: Some(ms(elapsed)),
            phases: Some(progress.phases),
            conn: progress.conn,
            cert: progress.cert,
            ..blank(at)
        },
        verdict,
    )
}

/// Connect, send, and wait for the expected answer. Returns the address and what the
/// answer matched (empty without `expect`).
async fn talk(
    probe: &Probe,
    spec: &TcpSpec,
    ctx: &Ctx,
    send: Option<&str>,
    progress: &mut Progress,
) -> Result<(SocketAddr, String), Failure> {
    let start = Instant::now();
    let addrs = resolve(ctx.resolver(), &spec.host, spec.port, spec.ip_version).await?;
    progress.phases.resolve_ms = ms(start.elapsed());
    progress.phase = "connect";
    let t = Instant::now();
    let (tcp, addr) = connect(&addrs, ctx.source_ip, probe.timeout).await?;
    progress.phases.connect_ms = ms(t.elapsed());
    progress.conn = Some(conn_info(addr));
    let mut stream: Box<dyn Io> = match &spec.tls {
        Some(tls) => {
            progress.phase = "tls";
            let t = Instant::now();
            let (result, info) =
                transport::tls::handshake(tcp, &spec.host, &ctx.tls_options(tls), &[]).await;
            progress.cert = info;
            let stream = result?;
            progress.phases.tls_ms = ms(t.elapsed());
            if let Some(c) = progress.conn.as_mut() {
                c.tls_version = transport::tls::version(&stream);
            }
            Box::new(stream)
        }
        None => Box::new(tcp),
    };
    if let Some(bytes) = send {
        progress.phase = "send";
        stream.write_all(bytes.as_bytes()).await.map_err(|e| {
            Failure::io(&e, format!("connected to {addr}, but sending failed: {e}"))
        })?;
    }
    let Some(pattern) = &spec.expect else {
        return Ok((addr, String::new()));
    };
    progress.phase = "expect";
    let t = Instant::now();
    let matched = expect(&mut stream, addr, pattern).await?;
    progress.phases.processing_ms = ms(t.elapsed());
    Ok((addr, matched))
}

/// Read until the answer matches `pattern`: what matched, or why it never did.
async fn expect(
    stream: &mut Box<dyn Io>,
    addr: SocketAddr,
    pattern: &regex::Regex,
) -> Result<String, Failure> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| {
            Failure::io(&e, format!("connected to {addr}, but reading failed: {e}"))
        })?;
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if pattern.is_match(&text) {
            let first = text
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .chars()
                .take(80)
                .collect::<String>();
            return Ok(format!(
                ", answer \"{first}\" matches /{}/",
                pattern.as_str()
            ));
        }
        if n == 0 || got.len() >= MAX_BANNER {
            let shown: String = text.trim().chars().take(80).collect();
            let why = if n == 0 {
                "the server closed the connection"
            } else {
                "4 KiB read"
            };
            return Err(Failure::target(format!(
                "connected to {addr}, but the answer does not match /{}/ ({why}): \"{shown}\"",
                pattern.as_str()
            )));
        }
    }
}
