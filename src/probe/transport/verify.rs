//! Step 2 (probe), transport: the certificate verifier of the TLS handshake. It records
//! the chain the server presented before it decides, so expiry and the reason for a
//! failure are reported even when verification fails (blackbox_exporter's
//! `probe_ssl_earliest_cert_expiry` semantics: the earliest NotAfter of every presented
//! certificate, intermediates included).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use crate::state::CertInfo;

/// What the server presented, and why verification rejected it (`None`: accepted).
pub(super) type Seen = (Vec<CertificateDer<'static>>, Option<String>);

/// A verifier that remembers what the server presented and how verification went.
#[derive(Debug)]
pub(super) struct Recorder {
    pub(super) inner: Arc<WebPkiServerVerifier>,
    pub(super) skip_verify: bool,
    pub(super) seen: Mutex<Option<Seen>>,
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
pub(super) fn describe(chain: &[CertificateDer<'_>], reason: Option<String>) -> Option<CertInfo> {
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
