//! Step 2 (probe): the `tls` kind: connect (optionally upgrading an SMTP session with
//! STARTTLS), shake hands through the TLS transport, and judge the certificate's expiry.

use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::net::TcpStream;

use super::ctx::Ctx;
use super::failure::Failure;
use super::outcome::{Outcome, Verdict, blank, timed_out};
use super::transport::{conn_info, connect, resolve, tls};
use super::units::ms;
use crate::config::{Probe, Starttls, TlsCheckSpec};
use crate::state::{CertInfo, ConnInfo, Health, Phases, Sample};

/// How far a check got; read after a timeout to say where it stopped.
struct Progress {
    phase: &'static str,
    phases: Phases,
    conn: Option<ConnInfo>,
    cert: Option<CertInfo>,
}

/// The `tls` kind: connect (optionally upgrading an SMTP session with STARTTLS), shake
/// hands, and judge the certificate: invalid or at most `crit_days` from expiry is down,
/// at most `warn_days` is degraded.
pub(crate) async fn check(probe: &Probe, spec: &TlsCheckSpec, ctx: &Ctx) -> Outcome {
    let at = Utc::now();
    let start = Instant::now();
    let mut progress = Progress {
        phase: "resolve",
        phases: Phases::default(),
        conn: None,
        cert: None,
    };
    let result = tokio::time::timeout(probe.timeout, shake(probe, spec, ctx, &mut progress)).await;
    let elapsed = start.elapsed();
    let verdict = match result {
        Err(_) => Err(timed_out(probe.timeout, progress.phase)),
        Ok(Err(reason)) => Err(reason),
        Ok(Ok(())) => match &progress.cert {
            None => Err(Failure::target(
                "tls: the server presented no readable certificate",
            )),
            Some(info) => judge_expiry(info, spec.warn_days, spec.crit_days, at),
        },
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

/// Connect and shake hands, recording the certificate and the negotiated version.
async fn shake(
    probe: &Probe,
    spec: &TlsCheckSpec,
    ctx: &Ctx,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let start = Instant::now();
    let addrs = resolve(ctx.resolver(), &spec.host, spec.port, spec.ip_version).await?;
    progress.phases.resolve_ms = ms(start.elapsed());
    progress.phase = "connect";
    let t = Instant::now();
    let (mut tcp, addr) = connect(&addrs, ctx.source_ip, probe.timeout).await?;
    progress.phases.connect_ms = ms(t.elapsed());
    progress.conn = Some(conn_info(addr));
    if spec.starttls == Some(Starttls::Smtp) {
        progress.phase = "starttls";
        smtp_starttls(&mut tcp).await?;
    }
    progress.phase = "tls";
    let t = Instant::now();
    let (result, info) = tls::handshake(tcp, &spec.host, &ctx.tls_options(&spec.tls), &[]).await;
    progress.cert = info;
    let stream = result?;
    progress.phases.tls_ms = ms(t.elapsed());
    if let (Some(c), Some(v)) = (progress.conn.as_mut(), tls::version(&stream)) {
        c.tls_version = Some(v);
    }
    Ok(())
}

/// Up, degraded or down by the days left on the earliest-expiring certificate.
fn judge_expiry(info: &CertInfo, warn_days: u32, crit_days: u32, now: DateTime<Utc>) -> Verdict {
    if info.leaf_not_after <= now {
        let date = info.leaf_not_after.format("%Y-%m-%d");
        return Err(Failure::target(format!(
            "the certificate expired on {date}"
        )));
    }
    let left = info.earliest_not_after - now;
    let days = left.num_days();
    let date = info.earliest_not_after.format("%Y-%m-%d");
    let which = if info.earliest_not_after < info.leaf_not_after {
        "a certificate in the chain"
    } else {
        "the certificate"
    };
    if left <= chrono::Duration::zero() {
        return Err(Failure::target(format!("{which} expired on {date}")));
    }
    let invalid = match (&info.valid, &info.reason) {
        (false, Some(r)) => format!(" ({r}, accepted by tls_skip_verify)"),
        _ => String::new(),
    };
    if days <= i64::from(crit_days) {
        Err(Failure::target(format!(
            "{which} expires in {days} days, on {date} (crit_days {crit_days}){invalid}"
        )))
    } else if days <= i64::from(warn_days) {
        Ok((
            Health::Degraded,
            format!("{which} expires in {days} days, on {date} (warn_days {warn_days}){invalid}"),
        ))
    } else {
        Ok((
            Health::Up,
            format!("certificate valid for {days} more days, until {date}{invalid}"),
        ))
    }
}

/// SMTP: read the greeting, EHLO, STARTTLS, and wait for the go-ahead.
async fn smtp_starttls(tcp: &mut TcpStream) -> Result<(), Failure> {
    use tokio::io::AsyncWriteExt;
    smtp_reply(tcp, "220").await?;
    tcp.write_all(b"EHLO pharos.invalid\r\n")
        .await
        .map_err(|e| Failure::io(&e, format!("smtp: cannot send EHLO: {e}")))?;
    smtp_reply(tcp, "250").await?;
    tcp.write_all(b"STARTTLS\r\n")
        .await
        .map_err(|e| Failure::io(&e, format!("smtp: cannot send STARTTLS: {e}")))?;
    smtp_reply(tcp, "220").await
}

/// Read one (possibly multi-line) SMTP reply, at most 16 KiB, byte by byte so nothing of
/// the TLS handshake that follows is consumed.
async fn smtp_reply(tcp: &mut TcpStream, code: &str) -> Result<(), Failure> {
    use tokio::io::AsyncReadExt;
    let mut line = Vec::new();
    let mut total = 0;
    loop {
        let mut byte = [0u8; 1];
        let n = tcp
            .read(&mut byte)
            .await
            .map_err(|e| Failure::io(&e, format!("smtp: read failed: {e}")))?;
        if n == 0 {
            return Err(Failure::target("smtp: the server closed the connection"));
        }
        total += 1;
        if total > 16 * 1024 {
            return Err(Failure::target("smtp: reply longer than 16 KiB"));
        }
        if byte[0] != b'\n' {
            line.push(byte[0]);
            continue;
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        line.clear();
        if text.len() >= 4 && text.as_bytes()[3] == b'-' {
            continue; // more lines follow
        }
        return if text.starts_with(code) {
            Ok(())
        } else {
            let shown: String = text.chars().take(120).collect();
            Err(Failure::target(format!(
                "smtp: expected {code}, got \"{shown}\""
            )))
        };
    }
}
