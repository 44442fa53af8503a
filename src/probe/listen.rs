//! Step 2 (probe): the prober's small HTTP endpoint (`pharos probe --listen ADDR`):
//! `POST /heartbeat/<probe>` records a heartbeat for a push probe, with the probe's token
//! as `Authorization: Bearer …`. An optional JSON body reports a job run:
//! `{"exit_code": 0, "output": "…", "duration_ms": 1234}`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use chrono::Utc;
use http_body_util::{BodyExt, Full, Limited};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpListener;

use super::push::{self, Heartbeat};
use crate::config::{Probe, ProbeKind};

/// Largest heartbeat body accepted.
const MAX_BODY: usize = 64 * 1024;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Report {
    #[serde(default)]
    exit_code: Option<i32>,
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    duration_ms: Option<f64>,
}

struct Shared {
    /// (probe id, its token) for every push probe with a token.
    tokens: Vec<(String, String)>,
    dir: PathBuf,
}

/// Bind `addr` and serve heartbeats until the task is dropped.
pub async fn serve(
    addr: SocketAddr,
    probes: &[Probe],
    dir: PathBuf,
) -> Result<tokio::task::JoinHandle<()>> {
    let mut tokens = Vec::new();
    for p in probes {
        if let ProbeKind::Push(spec) = &p.kind
            && let Some(token) = &spec.token
        {
            let value = token
                .resolve_env()
                .map_err(|m| anyhow::anyhow!("probe \"{}\": {m}", p.id))?;
            if let Some(why) = crate::config::weak_token(&value) {
                anyhow::bail!("probe \"{}\": {why}", p.id);
            }
            tokens.push((p.id.clone(), value));
        }
    }
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    tracing::info!("accepting heartbeats on http://{addr}/heartbeat/<probe>");
    let shared = Arc::new(Shared { tokens, dir });
    Ok(tokio::spawn(accept_loop(listener, move |stream| {
        let shared = shared.clone();
        async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(req, &shared).await) }
            });
            let _ = http_builder()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    })))
}

/// Most connections one of the prober's small HTTP endpoints serves at once.
const MAX_CONNECTIONS: usize = 128;

/// An HTTP/1 builder with a deadline for request headers, so an idle or slow client cannot
/// hold a connection (and a file descriptor) open.
pub(crate) fn http_builder() -> http1::Builder {
    let mut b = http1::Builder::new();
    b.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(10));
    b
}

/// Accept connections for ever: at most [`MAX_CONNECTIONS`] at once (more are closed at
/// once), and an accept error (out of file descriptors, say) is logged and waited out
/// rather than ending the endpoint.
pub(crate) async fn accept_loop<F, Fut>(listener: TcpListener, serve: F)
where
    F: Fn(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    continue; // dropped: too many at once
                };
                let job = serve(stream);
                tokio::spawn(async move {
                    job.await;
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!("accepting a connection failed: {e}; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
}

fn reply(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *r.status_mut() = status;
    r
}

/// Compare without an early exit (the length too), so the time taken says nothing about
/// the token.
fn same(given: &str, token: &str) -> bool {
    let (a, b) = (given.as_bytes(), token.as_bytes());
    let mut diff = (a.len() ^ b.len()) as u64;
    for (i, t) in b.iter().enumerate() {
        diff |= u64::from(a.get(i).copied().unwrap_or(0) ^ t);
    }
    diff == 0 && !b.is_empty()
}

async fn handle(req: Request<hyper::body::Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let Some(id) = path
        .strip_prefix("/heartbeat/")
        .filter(|id| !id.is_empty() && !id.contains('/'))
    else {
        return reply(
            StatusCode::NOT_FOUND,
            "not found; heartbeats go to POST /heartbeat/<probe>",
        );
    };
    if req.method() != hyper::Method::POST {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "use POST");
    }
    let Some((_, token)) = shared.tokens.iter().find(|(p, _)| p == id) else {
        return reply(
            StatusCode::NOT_FOUND,
            "no push probe with a token by that id",
        );
    };
    let given = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !same(given, token) {
        return reply(StatusCode::UNAUTHORIZED, "missing or wrong token");
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return reply(StatusCode::PAYLOAD_TOO_LARGE, "body over 64 KiB"),
    };
    let report: Report = if body.iter().all(u8::is_ascii_whitespace) {
        Report {
            exit_code: Some(0),
            ..Report::default()
        }
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return reply(
                    StatusCode::BAD_REQUEST,
                    &format!("body is not a heartbeat report: {e}"),
                );
            }
        }
    };
    let output = report.output.unwrap_or_default();
    let tail: String = output
        .chars()
        .rev()
        .take(4096)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let beat = Heartbeat {
        at: Utc::now(),
        exit_code: Some(report.exit_code.unwrap_or(0)),
        duration_ms: report.duration_ms.filter(|d| d.is_finite() && *d >= 0.0),
        output_tail: tail,
        source: "http".into(),
    };
    // The write ends with an fsync: off the worker's one thread, which runs the checks.
    let (dir, probe) = (shared.dir.clone(), id.to_string());
    let written = tokio::task::spawn_blocking(move || push::write(&dir, &probe, &beat))
        .await
        .unwrap_or_else(|e| Err(anyhow::anyhow!("internal error: {e}")));
    match written {
        Ok(()) => reply(StatusCode::NO_CONTENT, ""),
        Err(e) => {
            tracing::error!("recording a heartbeat for {id}: {e:#}");
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not record the heartbeat",
            )
        }
    }
}
