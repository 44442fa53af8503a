//! Step 2 (probe), transport: the TLS handshake on a fresh TCP connection, for https
//! checks and the `tls` kind, and the trust roots it verifies against.

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::verify::{Recorder, describe};
use crate::probe::failure::Failure;
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
    /// The crypto provider.
    pub provider: Arc<rustls::crypto::CryptoProvider>,
}

/// The name a check presents and verifies: the configured one, else the host.
fn server_name(opts: &TlsOptions, host: &str) -> Result<ServerName<'static>, Failure> {
    let name = opts
        .server_name
        .as_deref()
        .unwrap_or(host)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    ServerName::try_from(name.clone())
        .map_err(|_| Failure::target(format!("tls: \"{name}\" is not a valid server name")))
}

/// The client configuration of a handshake, with `recorder` as its verifier.
fn client_config(
    opts: &TlsOptions,
    recorder: Arc<Recorder>,
    alpn: &[&[u8]],
) -> Result<rustls::ClientConfig, Failure> {
    let builder = rustls::ClientConfig::builder_with_provider(opts.provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::target(format!("tls: {e}")))?;
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(recorder)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// Run a TLS handshake on `tcp`. Returns the stream or the reason it failed, and what is
/// known of the certificate either way.
pub(crate) async fn handshake(
    tcp: TcpStream,
    host: &str,
    opts: &TlsOptions,
    alpn: &[&[u8]],
) -> (Result<TlsStream<TcpStream>, Failure>, Option<CertInfo>) {
    let name = match server_name(opts, host) {
        Ok(n) => n,
        Err(e) => return (Err(e), None),
    };
    let inner = match WebPkiServerVerifier::builder_with_provider(
        opts.roots.clone(),
        opts.provider.clone(),
    )
    .build()
    {
        Ok(v) => v,
        Err(e) => {
            let detail = format!("tls: cannot build the certificate verifier: {e}");
            return (Err(Failure::target(detail)), None);
        }
    };
    let recorder = Arc::new(Recorder {
        inner,
        skip_verify: opts.skip_verify,
        seen: Mutex::new(None),
    });
    let config = match client_config(opts, recorder.clone(), alpn) {
        Ok(c) => c,
        Err(e) => return (Err(e), None),
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
            Some(r) if !opts.skip_verify => Failure::target(format!("tls: {r}")),
            _ => Failure::io(&e, format!("tls handshake failed: {e}")),
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
    let pem = crate::input::read_bytes(path, crate::input::CREDENTIAL)
        .map_err(|r| anyhow::anyhow!("reading CA file {}: {r}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem);
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
