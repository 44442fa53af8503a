//! `pharos serve`: preview the site on 127.0.0.1 while editing. Serves site/, runs the
//! same rebuild loop as `watch`, and reloads open pages after each rebuild. The reload
//! script exists only in what `serve` sends (the built files stay JavaScript-free), and
//! only there is the page's Content-Security-Policy widened to allow it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Args as ClapArgs;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::project::Project;

/// Options of `serve`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Port to listen on.
    #[arg(long, short, default_value_t = 8000)]
    pub port: u16,
    /// Address to listen on; keep it on loopback unless you mean to share the preview.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Build as of this time (RFC 3339) instead of the clock.
    #[arg(long, env = "PHAROS_NOW", value_name = "TIME")]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
}

const RELOAD_JS: &str = "(function(){var v=null;function poll(){fetch('/__pharos/version',{cache:'no-store'}).then(function(r){return r.text()}).then(function(t){if(v!==null&&t!==v){location.reload()}v=t}).catch(function(){}).finally(function(){setTimeout(poll,1000)})}poll()})();\n";

/// The file under `site` for a request path, never outside it.
pub fn resolve(site: &Path, request_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(request_path.split('?').next().unwrap_or("/"))?;
    let mut path = site.to_path_buf();
    for part in Path::new(decoded.trim_start_matches('/')).components() {
        match part {
            Component::Normal(p) => path.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if path.is_dir() {
        path.push("index.html");
    }
    Some(path)
}

/// A request path with its %-escapes decoded; `None` when it is not UTF-8 or an escape
/// is broken (`%ZZ`, a lone `%`): such a path names no file of the site.
fn percent_decode(s: &str) -> Option<String> {
    let broken = s.split('%').skip(1).any(|rest| {
        rest.get(..2)
            .is_none_or(|hex| !hex.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    if broken {
        return None;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// A served HTML page: the reload script added and the CSP widened just enough for it.
fn with_reload(html: &str) -> String {
    html.replacen(
        "default-src 'none';",
        "default-src 'none'; script-src 'self'; connect-src 'self';",
        1,
    )
    .replacen(
        "</body>",
        "<script src=\"/__pharos/reload.js\"></script>\n</body>",
        1,
    )
}

fn respond(status: StatusCode, kind: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(kind) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    r
}

fn handle(
    req: &Request<hyper::body::Incoming>,
    site: &Path,
    version: &AtomicU64,
) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    match path {
        "/__pharos/version" => {
            return respond(
                StatusCode::OK,
                "text/plain",
                version.load(Ordering::SeqCst).to_string().into_bytes(),
            );
        }
        "/__pharos/reload.js" => {
            return respond(
                StatusCode::OK,
                "text/javascript; charset=utf-8",
                RELOAD_JS.as_bytes().to_vec(),
            );
        }
        _ => {}
    }
    let found = resolve(site, path).and_then(|p| std::fs::read(&p).ok().map(|b| (p, b)));
    let (status, file, bytes) = match found {
        Some((p, b)) => (StatusCode::OK, p, b),
        None => {
            let p = site.join("404.html");
            let b = std::fs::read(&p).unwrap_or_else(|_| b"not found\n".to_vec());
            (StatusCode::NOT_FOUND, p, b)
        }
    };
    let kind = crate::publish::content_type(&file.to_string_lossy());
    if kind.starts_with("text/html") {
        let html = with_reload(&String::from_utf8_lossy(&bytes));
        respond(status, kind, html.into_bytes())
    } else {
        respond(status, kind, bytes)
    }
}

/// Run `serve`.
pub fn run(args: Args, project: &Project) -> Result<ExitCode> {
    let version = Arc::new(AtomicU64::new(0));
    let mut keep = crate::pipeline::Rebuild::default();
    let addr = SocketAddr::new(args.bind, args.port);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // Bound first, so a busy port is an error at once; served only once the file watcher
    // is registered and the first build is done, so no edit made after the first page
    // was served can be missed.
    let listener = runtime.block_on(TcpListener::bind(addr)).with_context(|| {
        format!("listening on {addr}; is another server using the port? try --port")
    })?;
    let mut listener = Some(listener);
    let site = project.site_dir();
    let clock = crate::pipeline::Clock::at(args.now);
    crate::pipeline::watch::rebuild_on_change(
        project,
        &mut keep,
        |keep| {
            let options = crate::pipeline::Options {
                keep: Some(keep),
                progress: None,
            };
            let first = crate::pipeline::build(project, clock, options);
            super::report_rebuild(&first, std::time::Duration::ZERO);
            let v = version.clone();
            if let Some(listener) = listener.take() {
                runtime.spawn(crate::probe::listen::accept_loop(listener, move |stream| {
                    let (site, v) = (site.clone(), v.clone());
                    async move {
                        let service = service_fn(move |req| {
                            let resp = handle(&req, &site, &v);
                            async move { Ok::<_, Infallible>(resp) }
                        });
                        let _ = crate::probe::listen::http_builder()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }));
            }
            outln!(
                "serving {} at http://{addr}/ (rebuilding on changes; Ctrl-C to stop)",
                project.site_dir().display()
            );
        },
        |_| true,
        clock,
        |result, since| {
            super::report_rebuild(result, since);
            if result.is_ok() {
                version.fetch_add(1, Ordering::SeqCst);
            }
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_never_leave_the_site_folder() {
        let site = Path::new("/srv/site");
        assert_eq!(
            resolve(site, "/feed.rss"),
            Some(PathBuf::from("/srv/site/feed.rss"))
        );
        assert_eq!(
            resolve(site, "/a%20b.txt?x=1"),
            Some(PathBuf::from("/srv/site/a b.txt"))
        );
        assert_eq!(resolve(site, "/../etc/passwd"), None);
        assert_eq!(resolve(site, "/%2e%2e/etc/passwd"), None);
        assert_eq!(resolve(site, "/x/%ZZ"), None);
    }

    #[test]
    fn served_pages_get_the_reload_hook_and_a_csp_that_allows_it() {
        let html = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'self'\"><body>x</body>";
        let out = with_reload(html);
        assert!(out.contains("script-src 'self'; connect-src 'self';"));
        assert!(out.contains("<script src=\"/__pharos/reload.js\"></script>\n</body>"));
    }
}
