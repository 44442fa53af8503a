//! Step 2 (probe): TLS for https checks and for the `tls` probe kind. The certificate
//! verifier records the chain the server presented before it decides, so expiry and the
//! reason for a failure are reported even when verification fails (blackbox_exporter's
//! `probe_ssl_earliest_cert_expiry` semantics: the earliest NotAfter of every presented
//! certificate, intermediates included).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::Ctx;
use crate::state::CertInfo;

/// TLS settings of one probe, with its trust roots loaded.
#[derive(Clone, Debug)]
pub struct TlsOptions {
    /// Name to send (SNI) and verify; default: the host being connected to.
    pub server_name: Option<String>,
    /// Accept any certificate (its facts are still recorded).
    pub skip_verify: bool,
    /// Trust roots: the web's (webpki-roots) or the probe's own CA file.
    pub roots: Arc<rustls::RootCertStore>,
}

/// A verifier that remembers what the server presented and how verification went.
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    skip_verify: bool,
    seen: Mutex<Option<(Vec<CertificateDer<'static>>, Option<String>)>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result =
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        let reason = result.as_ref().err().map(|e| reason(e, server_name));
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some((chain, reason));
        }
        if self.skip_verify {
            Ok(ServerCertVerified::assertion())
        } else {
            result
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A certificate failure in words an operator acts on.
fn reason(e: &rustls::Error, name: &ServerName<'_>) -> String {
    let name = match name {
        ServerName::DnsName(d) => d.as_ref().to_string(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => "the server".to_string(),
    };
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "certificate expired".into(),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate is not valid yet".into()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("certificate is not valid for {name}")
            }
            CertificateError::UnknownIssuer => {
                "certificate signed by an unknown issuer (self-signed, or an intermediate is missing)".into()
            }
            CertificateError::Revoked => "certificate revoked".into(),
            other => format!("invalid certificate: {other:?}"),
        },
        other => other.to_string(),
    }
}

/// Facts of a presented chain: subject, issuer, leaf and earliest expiry.
fn describe(chain: &[CertificateDer<'_>], reason: Option<String>) -> Option<CertInfo> {
    let mut leaf = None;
    let mut earliest: Option<DateTime<Utc>> = None;
    for (i, der) in chain.iter().enumerate() {
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            continue;
        };
        let Some(not_after) = DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
        else {
            continue;
        };
        // Extra certificates that have already expired (an old cross-signed root some
        // servers still send) cannot be in a path that verified; they do not count.
        if i == 0 || not_after > Utc::now() {
            earliest = Some(earliest.map_or(not_after, |e| e.min(not_after)));
        }
        if i == 0 {
            leaf = Some((
                cert.subject().to_string(),
                cert.issuer().to_string(),
                not_after,
            ));
        }
    }
    let (subject, issuer, leaf_not_after) = leaf?;
    Some(CertInfo {
        subject,
        issuer,
        leaf_not_after,
        earliest_not_after: earliest.unwrap_or(leaf_not_after),
        valid: reason.is_none(),
        reason,
    })
}

/// The name a check presents and verifies: the configured one, else the host.
pub(crate) fn server_name(opts: &TlsOptions, host: &str) -> Result<ServerName<'static>, String> {
    let name = opts
        .server_name
        .as_deref()
        .unwrap_or(host)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    ServerName::try_from(name.clone())
        .map_err(|_| format!("tls: \"{name}\" is not a valid server name"))
}

/// Run a TLS handshake on `tcp`. Returns the stream or the reason it failed, and what is
/// known of the certificate either way.
pub(crate) async fn handshake(
    tcp: TcpStream,
    host: &str,
    opts: &TlsOptions,
    ctx: &Ctx,
    alpn: &[&[u8]],
) -> (Result<TlsStream<TcpStream>, String>, Option<CertInfo>) {
    let name = match server_name(opts, host) {
        Ok(n) => n,
        Err(e) => return (Err(e), None),
    };
    let inner =
        match WebPkiServerVerifier::builder_with_provider(opts.roots.clone(), ctx.provider.clone())
            .build()
        {
            Ok(v) => v,
            Err(e) => {
                return (
                    Err(format!("tls: cannot build the certificate verifier: {e}")),
                    None,
                );
            }
        };
    let recorder = Arc::new(Recorder {
        inner,
        skip_verify: opts.skip_verify,
        seen: Mutex::new(None),
    });
    let config = rustls::ClientConfig::builder_with_provider(ctx.provider.clone())
        .with_safe_default_protocol_versions()
        .map(|b| {
            let mut c = b
                .dangerous()
                .with_custom_certificate_verifier(recorder.clone())
                .with_no_client_auth();
            c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            c
        });
    let config = match config {
        Ok(c) => c,
        Err(e) => return (Err(format!("tls: {e}")), None),
    };
    let result = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await;
    let seen = recorder.seen.lock().ok().and_then(|mut s| s.take());
    let cert = seen
        .as_ref()
        .and_then(|(chain, reason)| describe(chain, reason.clone()));
    let result = result.map_err(|e| {
        let rejected = seen.as_ref().and_then(|(_, reason)| reason.clone());
        match rejected {
            Some(r) if !opts.skip_verify => format!("tls: {r}"),
            _ => format!("tls handshake failed: {e}"),
        }
    });
    (result, cert)
}

/// The negotiated TLS version, e.g. `TLSv1.3`.
pub(crate) fn version(stream: &TlsStream<TcpStream>) -> Option<String> {
    stream.get_ref().1.protocol_version().map(|v| match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
        other => format!("{other:?}"),
    })
}

/// Load a PEM file of CA certificates into a root store.
pub fn load_roots(path: &std::path::Path) -> anyhow::Result<rustls::RootCertStore> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| anyhow::anyhow!("reading CA file {}: {e}", path.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| anyhow::anyhow!("CA file {}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| anyhow::anyhow!("CA file {}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        anyhow::bail!(
            "CA file {} holds no certificate; it must be PEM",
            path.display()
        );
    }
    Ok(roots)
}

/// The `tls` kind: connect (optionally upgrading an SMTP session with STARTTLS), shake
/// hands, and judge the certificate: invalid or at most `crit_days` from expiry is down,
/// at most `warn_days` is degraded.
pub(crate) async fn check(
    probe: &crate::config::Probe,
    spec: &crate::config::TlsCheckSpec,
    ctx: &Ctx,
) -> crate::state::Sample {
    use std::time::Instant;

    use super::tcp::{conn_info, connect, resolve};
    use super::{fmt_duration, round_ms};
    use crate::state::{Health, Phases, Sample};

    let at = Utc::now();
    let start = Instant::now();
    let mut phase = "resolve";
    let mut phases = Phases::default();
    let mut conn = None;
    let mut cert = None;
    let opts = ctx.tls_options(&spec.tls);
    let work = async {
        let addrs = resolve(ctx, &spec.host, spec.port, spec.ip_version).await?;
        phases.resolve_ms = round_ms(start.elapsed().as_secs_f64() * 1e3);
        phase = "connect";
        let t = Instant::now();
        let (mut tcp, addr) = connect(&addrs, ctx, probe.timeout).await?;
        phases.connect_ms = round_ms(t.elapsed().as_secs_f64() * 1e3);
        conn = Some(conn_info(addr));
        if spec.starttls == Some(crate::config::Starttls::Smtp) {
            phase = "starttls";
            smtp_starttls(&mut tcp).await?;
        }
        phase = "tls";
        let t = Instant::now();
        let (result, info) = handshake(tcp, &spec.host, &opts, ctx, &[]).await;
        cert = info;
        let stream = result?;
        phases.tls_ms = round_ms(t.elapsed().as_secs_f64() * 1e3);
        Ok::<_, String>(version(&stream))
    };
    let result = tokio::time::timeout(probe.timeout, work).await;
    let elapsed = start.elapsed();
    let (health, detail) = match result {
        Err(_) => (
            Health::Down,
            format!(
                "timeout after {} during {phase}",
                fmt_duration(probe.timeout)
            ),
        ),
        Ok(Err(reason)) => (Health::Down, reason),
        Ok(Ok(tls_version)) => {
            if let (Some(c), Some(v)) = (conn.as_mut(), tls_version) {
                c.tls_version = Some(v);
            }
            match &cert {
                None => (
                    Health::Down,
                    "tls: the server presented no readable certificate".to_string(),
                ),
                Some(info) => judge_expiry(info, spec.warn_days, spec.crit_days, at),
            }
        }
    };
    Sample {
        latency_ms: Some(round_ms(elapsed.as_secs_f64() * 1e3)),
        phases: Some(phases),
        conn,
        cert,
        ..Sample::new(at, health, detail)
    }
}

/// Up, degraded or down by the days left on the earliest-expiring certificate.
fn judge_expiry(
    info: &CertInfo,
    warn_days: u32,
    crit_days: u32,
    now: DateTime<Utc>,
) -> (crate::state::Health, String) {
    use crate::state::Health;
    if info.leaf_not_after <= now {
        let date = info.leaf_not_after.format("%Y-%m-%d");
        return (Health::Down, format!("the certificate expired on {date}"));
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
        return (Health::Down, format!("{which} expired on {date}"));
    }
    let invalid = match (&info.valid, &info.reason) {
        (false, Some(r)) => format!(" ({r}, accepted by tls_skip_verify)"),
        _ => String::new(),
    };
    if days <= i64::from(crit_days) {
        (
            Health::Down,
            format!("{which} expires in {days} days, on {date} (crit_days {crit_days}){invalid}"),
        )
    } else if days <= i64::from(warn_days) {
        (
            Health::Degraded,
            format!("{which} expires in {days} days, on {date} (warn_days {warn_days}){invalid}"),
        )
    } else {
        (
            Health::Up,
            format!("certificate valid for {days} more days, until {date}{invalid}"),
        )
    }
}

/// SMTP: read the greeting, EHLO, STARTTLS, and wait for the go-ahead.
async fn smtp_starttls(tcp: &mut TcpStream) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    smtp_reply(tcp, "220").await?;
    tcp.write_all(b"EHLO pharos.invalid\r\n")
        .await
        .map_err(|e| format!("smtp: cannot send EHLO: {e}"))?;
    smtp_reply(tcp, "250").await?;
    tcp.write_all(b"STARTTLS\r\n")
        .await
        .map_err(|e| format!("smtp: cannot send STARTTLS: {e}"))?;
    smtp_reply(tcp, "220").await
}

/// Read one (possibly multi-line) SMTP reply, at most 16 KiB, byte by byte so nothing of
/// the TLS handshake that follows is consumed.
async fn smtp_reply(tcp: &mut TcpStream, code: &str) -> Result<(), String> {
    use tokio::io::AsyncReadExt;
    let mut line = Vec::new();
    let mut total = 0;
    loop {
        let mut byte = [0u8; 1];
        let n = tcp
            .read(&mut byte)
            .await
            .map_err(|e| format!("smtp: read failed: {e}"))?;
        if n == 0 {
            return Err("smtp: the server closed the connection".into());
        }
        total += 1;
        if total > 16 * 1024 {
            return Err("smtp: reply longer than 16 KiB".into());
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
            Err(format!("smtp: expected {code}, got \"{shown}\""))
        };
    }
}
