//! Step 2 (probe): Prometheus metrics of a region's worker (`pharos probe --metrics ADDR`,
//! `GET /metrics`), named as blackbox_exporter names them so existing dashboards and
//! alerts work, labelled by probe, region and kind. Rendered from the worker's state on
//! each scrape with the `prometheus-client` crate.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::state::{Health, ProbeState, RegionState, Sample};

type Labels = Vec<(String, String)>;
type G = Family<Labels, Gauge<f64, AtomicU64>>;

fn gauge(registry: &mut Registry, name: &str, help: &str) -> G {
    let family = G::default();
    registry.register(name, help, family.clone());
    family
}

/// The numeric value of a DNS response code word.
fn rcode_number(word: &str) -> Option<f64> {
    let n = match word {
        "NOERROR" => 0,
        "FORMERR" => 1,
        "SERVFAIL" => 2,
        "NXDOMAIN" => 3,
        "NOTIMP" => 4,
        "REFUSED" => 5,
        "YXDOMAIN" => 6,
        "YXRRSET" => 7,
        "NXRRSET" => 8,
        "NOTAUTH" => 9,
        "NOTZONE" => 10,
        other => {
            return other
                .strip_prefix("RCODE")
                .and_then(|n| n.parse::<u16>().ok())
                .map(f64::from);
        }
    };
    Some(f64::from(n))
}

/// Milliseconds as seconds, to the microsecond: `0.00014`, not the `0.00014000000000000001`
/// that dividing by 1,000 leaves.
fn seconds(ms: f64) -> f64 {
    (ms * 1e3).round() / 1e6
}

/// The exposition formats a scraper can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text (`application/openmetrics-text`).
    OpenMetrics,
    /// Prometheus text format 0.0.4 (`text/plain`), the default.
    Prometheus,
}

impl Format {
    /// The format an `Accept` header prefers (RFC 9110 quality values); Prometheus's
    /// text format when it names neither, as Prometheus's own client libraries do.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let mut best = (0.0_f32, Format::Prometheus);
        for range in accept.unwrap_or_default().split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let format = match media.as_str() {
                "application/openmetrics-text" => Format::OpenMetrics,
                "text/plain" => Format::Prometheus,
                _ => continue,
            };
            if q > best.0 {
                best = (q, format);
            }
        }
        best.1
    }

    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// The exposition of a region's state in `format`. Every metric is a gauge, whose lines
/// the two formats share; the text format only lacks OpenMetrics's closing `# EOF`.
pub fn render_as(state: &RegionState, format: Format) -> String {
    let text = render(state);
    match format {
        Format::OpenMetrics => text,
        Format::Prometheus => match text.strip_suffix("# EOF\n") {
            Some(lines) => lines.to_string(),
            None => text,
        },
    }
}

/// The exposition text for a region's state (OpenMetrics).
pub fn render(state: &RegionState) -> String {
    let mut r = Registry::default();
    let gauges = Gauges::register(&mut r);
    for (id, p) in &state.probes {
        let base: Labels = vec![
            ("probe".into(), id.clone()),
            ("region".into(), state.region.clone()),
            ("kind".into(), p.kind.clone()),
        ];
        gauges.observe(p, &base);
        gauges.observe_facts(&p.last, &base);
    }
    let mut out = String::new();
    if encode(&mut out, &r).is_err() {
        return "# the metrics could not be encoded\n".to_string();
    }
    shortest_values(&out)
}

/// Every metric, registered in the order the exposition lists them.
struct Gauges {
    success: G,
    health: G,
    duration: G,
    attempts: G,
    sample_time: G,
    http_phase: G,
    http_status: G,
    redirects: G,
    content_length: G,
    ip_protocol: G,
    ssl_earliest: G,
    ssl_leaf: G,
    ssl_valid: G,
    dns_rcode: G,
    dns_answers: G,
    icmp_rtt: G,
    icmp_loss: G,
    exit_code: G,
    perf: G,
}

impl Gauges {
    fn register(r: &mut Registry) -> Gauges {
        let success = gauge(
            r,
            "probe_success",
            "Whether the newest check succeeded (up or degraded)",
        );
        let health = gauge(
            r,
            "pharos_probe_health",
            "Newest health: 0 up, 1 degraded, 2 down, 3 unknown",
        );
        let duration = gauge(
            r,
            "probe_duration_seconds",
            "How long the newest check took",
        );
        let attempts = gauge(
            r,
            "pharos_probe_attempts",
            "Checks made for the newest sample, in-region re-checks included",
        );
        let sample_time = gauge(
            r,
            "pharos_probe_sample_timestamp_seconds",
            "When the newest sample was taken",
        );
        let http_phase = gauge(
            r,
            "probe_http_duration_seconds",
            "Duration of each HTTP phase, summed over redirects",
        );
        let http_status = gauge(
            r,
            "probe_http_status_code",
            "HTTP status of the final response",
        );
        let redirects = gauge(r, "probe_http_redirects", "Redirects followed");
        let content_length = gauge(
            r,
            "probe_http_content_length",
            "Declared length of the response body",
        );
        let ip_protocol = gauge(r, "probe_ip_protocol", "IP version used: 4 or 6");
        let ssl_earliest = gauge(
            r,
            "probe_ssl_earliest_cert_expiry",
            "Earliest NotAfter of the presented chain, unix seconds",
        );
        let ssl_leaf = gauge(
            r,
            "probe_ssl_leaf_cert_expiry",
            "NotAfter of the leaf certificate, unix seconds",
        );
        let ssl_valid = gauge(
            r,
            "pharos_ssl_chain_valid",
            "Whether the presented chain verified",
        );
        let dns_rcode = gauge(r, "probe_dns_rcode", "DNS response code");
        let dns_answers = gauge(r, "probe_dns_answer_rrs", "Records in the answer section");
        let icmp_rtt = gauge(
            r,
            "probe_icmp_duration_seconds",
            "ICMP round-trip times of the newest burst",
        );
        let icmp_loss = gauge(
            r,
            "probe_icmp_packet_loss_ratio",
            "Share of echo requests without a reply",
        );
        let exit_code = gauge(
            r,
            "pharos_plugin_exit_code",
            "Exit code of the newest plugin run",
        );
        let perf = gauge(
            r,
            "pharos_plugin_perfdata",
            "Performance data of the newest plugin run (times in seconds)",
        );
        Gauges {
            success,
            health,
            duration,
            attempts,
            sample_time,
            http_phase,
            http_status,
            redirects,
            content_length,
            ip_protocol,
            ssl_earliest,
            ssl_leaf,
            ssl_valid,
            dns_rcode,
            dns_answers,
            icmp_rtt,
            icmp_loss,
            exit_code,
            perf,
        }
    }

    /// The newest sample's health, timing and connection facts of a probe.
    fn observe(&self, p: &ProbeState, base: &Labels) {
        let s = &p.last;
        let with = |k: &str, v: &str| {
            let mut l = base.clone();
            l.push((k.to_string(), v.to_string()));
            l
        };
        self.success.get_or_create(base).set(
            if matches!(s.health, Health::Up | Health::Degraded) {
                1.0
            } else {
                0.0
            },
        );
        self.health.get_or_create(base).set(match s.health {
            Health::Up => 0.0,
            Health::Degraded => 1.0,
            Health::Down => 2.0,
            Health::Unknown => 3.0,
        });
        self.attempts.get_or_create(base).set(f64::from(s.attempts));
        self.sample_time
            .get_or_create(base)
            .set(s.at.timestamp_millis() as f64 / 1e3); // whole milliseconds: exact enough
        if let Some(ms) = s.latency_ms {
            self.duration.get_or_create(base).set(seconds(ms));
        }
        if let Some(code) = s.http_status {
            self.http_status.get_or_create(base).set(f64::from(code));
        }
        if let (Some(ph), "http") = (&s.phases, p.kind.as_str()) {
            for (phase, ms) in [
                ("resolve", ph.resolve_ms),
                ("connect", ph.connect_ms),
                ("tls", ph.tls_ms),
                ("processing", ph.processing_ms),
                ("transfer", ph.transfer_ms),
            ] {
                self.http_phase
                    .get_or_create(&with("phase", phase))
                    .set(seconds(ms));
            }
        }
        if let Some(c) = &s.conn {
            if p.kind == "http" {
                self.redirects
                    .get_or_create(base)
                    .set(f64::from(c.redirects));
            }
            if let Some(len) = c.content_length {
                self.content_length.get_or_create(base).set(len as f64);
            }
            if let Some(f) = c.ip_family {
                self.ip_protocol.get_or_create(base).set(f64::from(f));
            }
        }
    }

    /// What the newest sample found beyond the connection: certificate, DNS answer, ICMP
    /// burst, plugin run.
    fn observe_facts(&self, s: &Sample, base: &Labels) {
        let with = |k: &str, v: &str| {
            let mut l = base.clone();
            l.push((k.to_string(), v.to_string()));
            l
        };
        if let Some(c) = &s.cert {
            self.ssl_earliest
                .get_or_create(base)
                .set(c.earliest_not_after.timestamp() as f64);
            self.ssl_leaf
                .get_or_create(base)
                .set(c.leaf_not_after.timestamp() as f64);
            self.ssl_valid
                .get_or_create(base)
                .set(if c.valid { 1.0 } else { 0.0 });
        }
        if let Some(d) = &s.dns {
            if let Some(n) = rcode_number(&d.rcode) {
                self.dns_rcode.get_or_create(base).set(n);
            }
            self.dns_answers
                .get_or_create(base)
                .set(d.answers.len() as f64);
        }
        if let Some(i) = &s.icmp {
            self.icmp_loss.get_or_create(base).set(i.loss_pct / 100.0);
            for (phase, ms) in [
                ("rtt_min", i.rtt_min_ms),
                ("rtt", i.rtt_avg_ms),
                ("rtt_max", i.rtt_max_ms),
            ] {
                if let Some(ms) = ms {
                    self.icmp_rtt
                        .get_or_create(&with("phase", phase))
                        .set(seconds(ms));
                }
            }
        }
        if let Some(pl) = &s.plugin {
            if let Some(code) = pl.exit_code {
                self.exit_code.get_or_create(base).set(f64::from(code));
            }
            for v in &pl.perfdata {
                self.perf
                    .get_or_create(&with("label", &v.label))
                    .set(v.value);
            }
        }
    }
}

/// Each sample's value in its shortest form. The encoder's float printing (Grisu2) is
/// exact but not always shortest: it wrote `0.0015790000000000002` for the double that
/// is `0.001579`. Rust's `Display` gives the shortest text that reads back as the same
/// double; values that are not finite keep the encoder's spelling (`NaN`, `+Inf`).
fn shortest_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match line.rsplit_once(' ') {
            Some((series, value)) if !line.starts_with('#') => {
                match value.parse::<f64>().ok().filter(|v| v.is_finite()) {
                    Some(v) => out.push_str(&format!("{series} {v}")),
                    None => out.push_str(line),
                }
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Serve `GET /metrics` from the worker's live state until the task is dropped.
pub async fn serve(
    addr: SocketAddr,
    state: Arc<RwLock<RegionState>>,
) -> Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("serving metrics on {addr}"))?;
    tracing::info!("metrics on http://{addr}/metrics");
    Ok(tokio::spawn(super::listen::accept_loop(
        listener,
        move |stream| {
            let state = state.clone();
            async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(scrape(&req, &state)) }
                });
                let _ = super::listen::http_builder()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        },
    )))
}

fn scrape(
    req: &Request<hyper::body::Incoming>,
    state: &RwLock<RegionState>,
) -> Response<Full<Bytes>> {
    let mut resp = if req.uri().path() == "/metrics" {
        let format = Format::negotiate(
            req.headers()
                .get(hyper::header::ACCEPT)
                .and_then(|v| v.to_str().ok()),
        );
        let text = {
            let guard = state.read().unwrap_or_else(|e| e.into_inner());
            render_as(&guard, format)
        };
        let mut r = Response::new(Full::new(Bytes::from(text)));
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(format.content_type()),
        );
        r
    } else {
        let mut r = Response::new(Full::new(Bytes::from_static(b"see /metrics\n")));
        *r.status_mut() = StatusCode::NOT_FOUND;
        r
    };
    resp.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_header_picks_the_format() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4")),
            Format::Prometheus
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0.2, text/plain")),
            Format::Prometheus
        );
        assert_eq!(Format::negotiate(Some("*/*")), Format::Prometheus);
        assert_eq!(Format::negotiate(None), Format::Prometheus);
    }

    #[test]
    fn values_are_printed_in_their_shortest_form() {
        let text = "# HELP x y\nx{a=\"b c\"} 0.0015790000000000002\nx 200.0\nx NaN\n# EOF\n";
        assert_eq!(
            shortest_values(text),
            "# HELP x y\nx{a=\"b c\"} 0.001579\nx 200\nx NaN\n# EOF\n"
        );
    }

    #[test]
    fn seconds_carry_no_float_noise() {
        assert_eq!(seconds(0.14).to_string(), "0.00014");
        assert_eq!(seconds(12.3456).to_string(), "0.012346");
        assert_eq!((0.14_f64 / 1e3).to_string(), "0.00014000000000000001");
    }
}
