//! The demo's services on 127.0.0.1: each one behaves in one way a real service fails.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// How a demo HTTP service answers.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// 200 with a welcome page.
    Healthy,
    /// 200 after a delay, or 503 when the database on this port refuses connections.
    SlowNeedsDb(Duration, u16),
    /// 500 on about this share of requests.
    Flaky(f64),
    /// Closes every connection from this address without answering.
    Blocks(IpAddr),
}

/// The running services and their ports; dropping it stops them.
pub struct Services {
    /// Healthy website.
    pub web: u16,
    /// Slow API that needs the database.
    pub api: u16,
    /// Edge unreachable from one region.
    pub cdn: u16,
    /// Flaky login.
    pub auth: u16,
    /// Search, down: nothing listens on this port.
    pub search: u16,
    /// A TCP service that accepts connections until it is taken down.
    pub db: u16,
    db_down: std::sync::Arc<tokio::sync::Notify>,
    _tasks: JoinSet<()>,
}

impl Services {
    /// Start every service on an ephemeral loopback port.
    pub async fn start(blocked: IpAddr) -> Result<Self> {
        let mut tasks = JoinSet::new();
        let db_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding a demo port")?;
        let db = db_listener.local_addr()?.port();
        let db_down = std::sync::Arc::new(tokio::sync::Notify::new());
        let stop = db_down.clone();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    accepted = db_listener.accept() => match accepted {
                        Ok((stream, _)) => drop(stream),
                        Err(_) => break,
                    },
                    // Dropping the listener: connections are refused from now on.
                    () = stop.notified() => break,
                }
            }
        });
        let web = http(&mut tasks, Behaviour::Healthy).await?;
        let api = http(
            &mut tasks,
            Behaviour::SlowNeedsDb(Duration::from_millis(600), db),
        )
        .await?;
        let cdn = http(&mut tasks, Behaviour::Blocks(blocked)).await?;
        let auth = http(&mut tasks, Behaviour::Flaky(0.2)).await?;
        // A port that was free a moment ago: connections to it are refused.
        let search = {
            let l = TcpListener::bind("127.0.0.1:0")
                .await
                .context("binding a demo port")?;
            l.local_addr()?.port()
        };
        Ok(Services {
            web,
            api,
            cdn,
            auth,
            search,
            db,
            db_down,
            _tasks: tasks,
        })
    }

    /// Take the database down after `delay`: its port refuses connections, and the API,
    /// which needs it, answers 503.
    pub fn take_down_db_after(&self, delay: Duration) {
        let switch = self.db_down.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            switch.notify_one();
        });
    }
}

async fn http(tasks: &mut JoinSet<()>, behaviour: Behaviour) -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding a demo port")?;
    let port = listener.local_addr()?.port();
    tasks.spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            tokio::spawn(serve(stream, peer, behaviour));
        }
    });
    Ok(port)
}

async fn serve(stream: tokio::net::TcpStream, peer: SocketAddr, behaviour: Behaviour) {
    if let Behaviour::Blocks(ip) = behaviour
        && peer.ip() == ip
    {
        return; // dropped: the client sees the connection close
    }
    let service = service_fn(move |_req: Request<hyper::body::Incoming>| async move {
        let (status, body): (u16, &'static str) = match behaviour {
            Behaviour::Healthy | Behaviour::Blocks(_) => {
                (200, "<html><body>Welcome to the demo</body></html>")
            }
            Behaviour::SlowNeedsDb(d, db) => {
                tokio::time::sleep(d).await;
                let reach = tokio::net::TcpStream::connect((std::net::Ipv4Addr::LOCALHOST, db));
                match tokio::time::timeout(Duration::from_millis(500), reach).await {
                    Ok(Ok(_)) => (200, "{\"status\":\"ok\"}"),
                    _ => (
                        503,
                        "{\"status\":\"down\",\"reason\":\"database unreachable\"}",
                    ),
                }
            }
            Behaviour::Flaky(p) if fastrand::f64() < p => (500, "internal error"),
            Behaviour::Flaky(_) => (200, "{\"session\":\"ok\"}"),
        };
        let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
        Ok::<_, Infallible>(resp)
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
