//! Step 2 (probe): the HTTP check, driven by hand (resolve → TCP → TLS → HTTP/1.1 with
//! hyper) so that every check is a fresh connection, each phase is timed, and a timeout
//! says which phase it hit. Redirects are followed here, with a limit and loop detection.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use url::Url;

use super::assert::Observed;
use super::tcp::{conn_info, connect, resolve};
use super::tls;
use super::{Ctx, fmt_duration, grade, round_ms, sample_now};
use crate::config::{HttpSpec, Method, Probe};
use crate::state::{CertInfo, ConnInfo, Health, Phases, Sample};

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How far a check got; read after a timeout to say where it stopped.
#[derive(Default)]
struct Progress {
    phase: &'static str,
    phases: Phases,
    conn: ConnInfo,
    cert: Option<CertInfo>,
}

/// One request of a check: where, how, and with which settings.
struct Hop<'a> {
    url: &'a Url,
    method: Method,
    headers: &'a [(&'a str, String)],
    body: Option<&'a str>,
    tls: &'a crate::config::TlsSpec,
    timeout: Duration,
}

/// The final response of a check.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    bytes_read: u64,
}

/// Aborts the spawned connection task when the check ends, whatever way it ends.
struct ConnGuard(tokio::task::JoinHandle<()>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn ms(d: Duration) -> f64 {
    round_ms(d.as_secs_f64() * 1e3)
}

pub(crate) async fn check(
    probe: &Probe,
    spec: &HttpSpec,
    ctx: &Ctx,
    observed: &mut Observed,
) -> Sample {
    let url = match spec.url.resolve_env() {
        Ok(u) => u,
        Err(missing) => return sample_now(Health::Unknown, missing.to_string()),
    };
    let mut headers = Vec::with_capacity(spec.headers.len());
    for (name, value) in &spec.headers {
        match value.resolve_env() {
            Ok(v) => headers.push((name.as_str(), v)),
            Err(missing) => return sample_now(Health::Unknown, missing.to_string()),
        }
    }
    let body = match spec.body.as_ref().map(|b| b.resolve_env()).transpose() {
        Ok(b) => b,
        Err(missing) => return sample_now(Health::Unknown, missing.to_string()),
    };

    let at = Utc::now();
    let start = Instant::now();
    let mut progress = Progress {
        phase: "resolve",
        ..Progress::default()
    };
    let result = tokio::time::timeout(
        probe.timeout,
        fetch(
            spec,
            ctx,
            probe.timeout,
            &url,
            &headers,
            body.as_deref(),
            &mut progress,
        ),
    )
    .await;
    let elapsed = start.elapsed();
    let mut http_status = None;
    let (health, detail) = match result {
        Err(_) => (
            Health::Down,
            format!(
                "timeout after {} during {}",
                fmt_duration(probe.timeout),
                progress.phase
            ),
        ),
        Ok(Err(reason)) => (Health::Down, reason),
        Ok(Ok(resp)) => {
            http_status = Some(resp.status);
            let verdict = judge(probe, spec, &resp, elapsed);
            observed.body = Some(resp.body);
            observed.headers = resp.headers;
            verdict
        }
    };
    Sample {
        latency_ms: Some(ms(elapsed)),
        http_status,
        phases: Some(progress.phases),
        conn: Some(progress.conn),
        cert: progress.cert,
        ..Sample::new(at, health, detail)
    }
}

/// Up, degraded or down from the final response.
fn judge(probe: &Probe, spec: &HttpSpec, resp: &Response, elapsed: Duration) -> (Health, String) {
    if !spec.expect_status.iter().any(|m| m.accepts(resp.status)) {
        let expected: Vec<String> = spec.expect_status.iter().map(|m| m.to_string()).collect();
        return (
            Health::Down,
            format!("HTTP {} (expected {})", resp.status, expected.join(", ")),
        );
    }
    if let Some(needle) = &spec.body_contains
        && !contains(&resp.body, needle.as_bytes())
    {
        return (
            Health::Down,
            format!(
                "HTTP {}, but the body does not contain \"{needle}\" (read {} bytes)",
                resp.status, resp.bytes_read
            ),
        );
    }
    grade(
        probe,
        elapsed,
        format!("HTTP {} in {}", resp.status, fmt_duration(elapsed)),
    )
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Request `url`, following redirects, recording phases into `progress`.
async fn fetch(
    spec: &HttpSpec,
    ctx: &Ctx,
    timeout: Duration,
    url: &str,
    headers: &[(&str, String)],
    body: Option<&str>,
    progress: &mut Progress,
) -> Result<Response, String> {
    let mut url = Url::parse(url).map_err(|e| format!("invalid url: {e}"))?;
    let mut method = spec.method;
    let mut body = body.map(str::to_string);
    let mut visited = HashSet::new();
    let origin = url.origin();
    let first_host = url.host_str().map(str::to_string);
    loop {
        visited.insert(url.as_str().to_string());
        // Configured headers (credentials, often) go to the configured origin only, as
        // browsers and curl do: a redirect elsewhere does not receive them.
        let send = if url.origin() == origin { headers } else { &[] };
        // A configured server name belongs to the configured host, not to a redirect target.
        let tls = if url.host_str() == first_host.as_deref() {
            spec.tls.clone()
        } else {
            crate::config::TlsSpec {
                server_name: None,
                ..spec.tls.clone()
            }
        };
        let (status, location, resp) = exchange(
            spec,
            ctx,
            Hop {
                url: &url,
                method,
                headers: send,
                body: body.as_deref(),
                tls: &tls,
                timeout,
            },
            progress,
        )
        .await?;
        let redirect = matches!(status, 301 | 302 | 303 | 307 | 308);
        let Some(location) = location.filter(|_| redirect && spec.follow_redirects) else {
            return Ok(resp);
        };
        progress.conn.redirects += 1;
        if progress.conn.redirects > spec.max_redirects {
            return Err(format!(
                "too many redirects (more than {}); the last answer was HTTP {status}",
                spec.max_redirects
            ));
        }
        let next = url
            .join(&location)
            .map_err(|_| format!("HTTP {status} with an invalid Location header"))?;
        if !matches!(next.scheme(), "http" | "https") {
            return Err(format!(
                "HTTP {status} redirects to a {} address",
                next.scheme()
            ));
        }
        if visited.contains(next.as_str()) {
            // A path built from ${SECRET} references must not reach the state file.
            let place = if spec.url.has_vars() {
                "a location".to_string()
            } else {
                next.path().to_string()
            };
            return Err(format!(
                "redirect loop: {place} was already visited (after {} redirects)",
                progress.conn.redirects
            ));
        }
        if status == 303 || (matches!(status, 301 | 302) && method == Method::Post) {
            method = if method == Method::Head {
                Method::Head
            } else {
                Method::Get
            };
            body = None;
        }
        url = next;
    }
}

/// One request on one fresh connection. Returns the status, a redirect location, and
/// the response with its (capped) body.
async fn exchange(
    spec: &HttpSpec,
    ctx: &Ctx,
    hop: Hop<'_>,
    progress: &mut Progress,
) -> Result<(u16, Option<String>, Response), String> {
    let Hop {
        url,
        method,
        headers,
        body,
        tls: tls_spec,
        timeout,
    } = hop;
    let host = url.host_str().ok_or("url has no host")?.to_string();
    let https = url.scheme() == "https";
    let port = url
        .port_or_known_default()
        .unwrap_or(if https { 443 } else { 80 });

    progress.phase = "resolve";
    let t = Instant::now();
    let addrs = resolve(ctx, &host, port, spec.ip_version).await?;
    progress.phases.resolve_ms += ms(t.elapsed());

    progress.phase = "connect";
    let t = Instant::now();
    let (tcp, addr) = connect(&addrs, ctx, timeout).await?;
    let redirects = progress.conn.redirects;
    progress.conn = ConnInfo {
        redirects,
        ..conn_info(addr)
    };
    progress.phases.connect_ms += ms(t.elapsed());

    let stream: Box<dyn Io> = if https {
        progress.phase = "tls";
        let t = Instant::now();
        let (result, cert) =
            tls::handshake(tcp, &host, &ctx.tls_options(tls_spec), ctx, &[b"http/1.1"]).await;
        progress.cert = cert;
        let tls = result?;
        progress.phases.tls_ms += ms(t.elapsed());
        progress.conn.tls_version = tls::version(&tls);
        Box::new(tls)
    } else {
        Box::new(tcp)
    };

    progress.phase = "headers";
    let t = Instant::now();
    let (mut sender, conn) = http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| format!("http handshake failed: {e}"))?;
    let _guard = ConnGuard(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let host_header = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut request = hyper::Request::builder().method(method.as_str()).uri(path);
    // Configured headers replace these defaults (a `Host` to probe a backend by address).
    let defaults = [
        ("host", host_header.as_str()),
        ("user-agent", ctx.user_agent.as_str()),
        ("accept", "*/*"),
        ("connection", "close"),
    ];
    for (name, value) in defaults {
        if !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(name)) {
            request = request.header(name, value);
        }
    }
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or_default().to_string())))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let response = sender.send_request(request).await.map_err(|e| {
        if e.is_incomplete_message() || e.is_canceled() {
            "connection closed before the response headers".to_string()
        } else if e.is_parse() {
            format!("invalid HTTP response: {e}")
        } else {
            format!("http error: {e}")
        }
    })?;
    progress.phases.processing_ms += ms(t.elapsed());

    let status = response.status().as_u16();
    progress.conn.http_version = Some(format!("{:?}", response.version()));
    progress.conn.content_length = response
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .take(200)
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).to_string(),
            )
        })
        .collect();
    let location = response
        .headers()
        .get(hyper::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);

    progress.phase = "body";
    let t = Instant::now();
    let mut kept = Vec::new();
    let mut bytes_read = 0u64;
    if method != Method::Head {
        let mut incoming = response.into_body();
        while bytes_read < spec.max_body_bytes {
            match incoming.frame().await {
                None => break,
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        bytes_read += data.len() as u64;
                        let room = spec.max_body_bytes.saturating_sub(kept.len() as u64) as usize;
                        kept.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
                Some(Err(e)) => {
                    return Err(format!(
                        "HTTP {status}, then the connection failed during the body after {bytes_read} bytes: {e}"
                    ));
                }
            }
        }
    }
    progress.phases.transfer_ms += ms(t.elapsed());
    progress.conn.bytes_read = bytes_read;
    Ok((
        status,
        location,
        Response {
            status,
            headers,
            body: kept,
            bytes_read,
        },
    ))
}
