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
use super::ctx::Ctx;
use super::failure::{Failure, FailureKind};
use super::outcome::{Outcome, Verdict, blank, grade, timed_out};
use super::transport::{conn_info, connect, resolve, tls};
use super::units::ms;
use crate::config::{HttpSpec, Method, Probe};
use crate::state::{CertInfo, ConnInfo, Phases, Sample};

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

/// What a check asks for first: the configured request, its `${VAR}`s resolved.
struct Ask<'a> {
    url: &'a str,
    headers: &'a [(&'a str, String)],
    body: Option<&'a str>,
    timeout: Duration,
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

/// A response: the final one of a check, or a redirect.
struct Response {
    status: u16,
    /// The `Location` header, when there is one.
    location: Option<String>,
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

pub(crate) async fn check(
    probe: &Probe,
    spec: &HttpSpec,
    ctx: &Ctx,
    observed: &mut Observed,
) -> Outcome {
    let unset = |missing: crate::config::MissingVar| Outcome::now(Err(missing.into()));
    let url = match spec.url.resolve_env() {
        Ok(u) => u,
        Err(missing) => return unset(missing),
    };
    let mut headers = Vec::with_capacity(spec.headers.len());
    for (name, value) in &spec.headers {
        match value.resolve_env() {
            Ok(v) => headers.push((name.as_str(), v)),
            Err(missing) => return unset(missing),
        }
    }
    let body = match spec.body.as_ref().map(|b| b.resolve_env()).transpose() {
        Ok(b) => b,
        Err(missing) => return unset(missing),
    };

    let at = Utc::now();
    let start = Instant::now();
    let mut progress = Progress {
        phase: "resolve",
        ..Progress::default()
    };
    let ask = Ask {
        url: &url,
        headers: &headers,
        body: body.as_deref(),
        timeout: probe.timeout,
    };
    let result = tokio::time::timeout(probe.timeout, fetch(spec, ctx, ask, &mut progress)).await;
    let elapsed = start.elapsed();
    let mut http_status = None;
    let verdict = match result {
        Err(_) => Err(timed_out(probe.timeout, progress.phase)),
        Ok(Err(reason)) => Err(reason),
        Ok(Ok(resp)) => {
            http_status = Some(resp.status);
            let verdict = judge(probe, spec, &resp, elapsed);
            observed.body = Some(resp.body);
            observed.headers = resp.headers;
            verdict
        }
    };
    Outcome::judged(
        Sample {
            latency_ms: Some(ms(elapsed)),
            http_status,
            phases: Some(progress.phases),
            conn: Some(progress.conn),
            cert: progress.cert,
            ..blank(at)
        },
        verdict,
    )
}

/// Up, degraded or down from the final response.
fn judge(probe: &Probe, spec: &HttpSpec, resp: &Response, elapsed: Duration) -> Verdict {
    if !spec.expect_status.iter().any(|m| m.accepts(resp.status)) {
        let expected: Vec<String> = spec.expect_status.iter().map(|m| m.to_string()).collect();
        return Err(Failure::target(format!(
            "HTTP {} (expected {})",
            resp.status,
            expected.join(", ")
        )));
    }
    if let Some(needle) = &spec.body_contains
        && !contains(&resp.body, needle.as_bytes())
    {
        return Err(Failure::target(format!(
            "HTTP {}, but the body does not contain \"{needle}\" (read {} bytes)",
            resp.status, resp.bytes_read
        )));
    }
    Ok(grade(
        probe,
        elapsed,
        format!(
            "HTTP {} in {}",
            resp.status,
            crate::words::duration(elapsed)
        ),
    ))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Request `url`, following redirects, recording phases into `progress`.
async fn fetch(
    spec: &HttpSpec,
    ctx: &Ctx,
    ask: Ask<'_>,
    progress: &mut Progress,
) -> Result<Response, Failure> {
    let Ask {
        url,
        headers,
        body,
        timeout,
    } = ask;
    let mut url = Url::parse(url).map_err(|e| Failure::target(format!("invalid url: {e}")))?;
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
        let resp = exchange(
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
        let status = resp.status;
        let redirect = matches!(status, 301 | 302 | 303 | 307 | 308);
        let location = resp.location.clone();
        let Some(location) = location.filter(|_| redirect && spec.follow_redirects) else {
            return Ok(resp);
        };
        progress.conn.redirects += 1;
        if progress.conn.redirects > spec.max_redirects {
            return Err(Failure::target(format!(
                "too many redirects (more than {}); the last answer was HTTP {status}",
                spec.max_redirects
            )));
        }
        let next = url.join(&location).map_err(|_| {
            Failure::target(format!("HTTP {status} with an invalid Location header"))
        })?;
        if !matches!(next.scheme(), "http" | "https") {
            return Err(Failure::target(format!(
                "HTTP {status} redirects to a {} address",
                next.scheme()
            )));
        }
        if visited.contains(next.as_str()) {
            // A path built from ${SECRET} references must not reach the state file.
            let place = if spec.url.has_vars() {
                "a location".to_string()
            } else {
                next.path().to_string()
            };
            return Err(Failure::target(format!(
                "redirect loop: {place} was already visited (after {} redirects)",
                progress.conn.redirects
            )));
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

/// One request on one fresh connection: the response, with its (capped) body.
async fn exchange(
    spec: &HttpSpec,
    ctx: &Ctx,
    hop: Hop<'_>,
    progress: &mut Progress,
) -> Result<Response, Failure> {
    let (stream, host) = dial(spec, ctx, &hop, progress).await?;
    progress.phase = "headers";
    let t = Instant::now();
    let (mut sender, conn) = http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| {
            Failure::new(
                FailureKind::of_error(&e),
                format!("http handshake failed: {e}"),
            )
        })?;
    // The connection is closed when the check drops it: a shutdown first would be one
    // more system call per check for the same FIN.
    let _guard = ConnGuard(tokio::spawn(async move {
        let _ = conn.without_shutdown().await;
    }));
    let request = request(ctx, &hop, &host)?;
    let response = sender.send_request(request).await.map_err(|e| {
        let detail = if e.is_incomplete_message() || e.is_canceled() {
            "connection closed before the response headers".to_string()
        } else if e.is_parse() {
            format!("invalid HTTP response: {e}")
        } else {
            format!("http error: {e}")
        };
        Failure::new(FailureKind::of_error(&e), detail)
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
    let (body, bytes_read) = if hop.method == Method::Head {
        (Vec::new(), 0)
    } else {
        read_body(response.into_body(), status, spec.max_body_bytes).await?
    };
    progress.phases.transfer_ms += ms(t.elapsed());
    progress.conn.bytes_read = bytes_read;
    Ok(Response {
        status,
        location,
        headers,
        body,
        bytes_read,
    })
}

/// Resolve, connect and, for https, shake hands: the stream to send the request on, and
/// the host it goes to.
async fn dial(
    spec: &HttpSpec,
    ctx: &Ctx,
    hop: &Hop<'_>,
    progress: &mut Progress,
) -> Result<(Box<dyn Io>, String), Failure> {
    let url = hop.url;
    let host = url
        .host_str()
        .ok_or_else(|| Failure::target("url has no host"))?
        .to_string();
    let https = url.scheme() == "https";
    let port = url
        .port_or_known_default()
        .unwrap_or(if https { 443 } else { 80 });

    progress.phase = "resolve";
    let t = Instant::now();
    let addrs = resolve(ctx.resolver(), &host, port, spec.ip_version).await?;
    progress.phases.resolve_ms += ms(t.elapsed());

    progress.phase = "connect";
    let t = Instant::now();
    let (tcp, addr) = connect(&addrs, ctx.source_ip, hop.timeout).await?;
    let redirects = progress.conn.redirects;
    progress.conn = ConnInfo {
        redirects,
        ..conn_info(addr)
    };
    progress.phases.connect_ms += ms(t.elapsed());

    if !https {
        return Ok((Box::new(tcp), host));
    }
    progress.phase = "tls";
    let t = Instant::now();
    let opts = ctx.tls_options(hop.tls);
    let (result, cert) = tls::handshake(tcp, &host, &opts, &[b"http/1.1"]).await;
    progress.cert = cert;
    let stream = result?;
    progress.phases.tls_ms += ms(t.elapsed());
    progress.conn.tls_version = tls::version(&stream);
    Ok((Box::new(stream), host))
}

/// The request of a hop: configured headers over the defaults.
fn request(ctx: &Ctx, hop: &Hop<'_>, host: &str) -> Result<hyper::Request<Full<Bytes>>, Failure> {
    let url = hop.url;
    let host_header = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut request = hyper::Request::builder()
        .method(hop.method.as_str())
        .uri(path);
    // Configured headers replace these defaults (a `Host` to probe a backend by address).
    let defaults = [
        ("host", host_header.as_str()),
        ("user-agent", ctx.user_agent.as_str()),
        ("accept", "*/*"),
        ("connection", "close"),
    ];
    for (name, value) in defaults {
        if !hop
            .headers
            .iter()
            .any(|(h, _)| h.eq_ignore_ascii_case(name))
        {
            request = request.header(name, value);
        }
    }
    for (name, value) in hop.headers {
        request = request.header(*name, value.as_str());
    }
    request
        .body(Full::new(Bytes::from(
            hop.body.unwrap_or_default().to_string(),
        )))
        .map_err(|e| Failure::target(format!("cannot build the request: {e}")))
}

/// Read a response body, keeping at most `max` bytes: what was kept and how many bytes
/// were read.
async fn read_body(
    mut incoming: hyper::body::Incoming,
    status: u16,
    max: u64,
) -> Result<(Vec<u8>, u64), Failure> {
    let mut kept = Vec::new();
    let mut bytes_read = 0u64;
    while bytes_read < max {
        match incoming.frame().await {
            None => break,
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    bytes_read += data.len() as u64;
                    let room = max.saturating_sub(kept.len() as u64) as usize;
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            Some(Err(e)) => {
                return Err(Failure::new(
                    FailureKind::of_error(&e),
                    format!(
                        "HTTP {status}, then the connection failed during the body after {bytes_read} bytes: {e}"
                    ),
                ));
            }
        }
    }
    Ok((kept, bytes_read))
}
