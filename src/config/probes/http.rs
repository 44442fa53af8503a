//! Step 1 (config), probes.yaml: the `http` kind — its options ([`RawHttp`]), their
//! validation and the validated [`HttpSpec`] the prober's `http` check runs.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::tls::tls_spec;
use super::{Cx, IpVersion, KindOptions, ProbeKind, Template, TlsSpec};

/// Default body cap.
pub(crate) const DEFAULT_MAX_BODY: u64 = 1024 * 1024;

/// HTTP request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// GET (the default).
    #[default]
    Get,
    /// HEAD: headers only.
    Head,
    /// POST, usually with `body`.
    Post,
}

impl Method {
    /// The method's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
        }
    }
}

/// One entry of `expect_status`: an exact code (`200`) or a class (`2xx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    /// Exactly this code.
    Code(u16),
    /// Any code in this hundred, e.g. 2 for `2xx`.
    Class(u16),
}

impl StatusMatch {
    /// Whether `code` is accepted.
    pub fn accepts(self, code: u16) -> bool {
        match self {
            StatusMatch::Code(c) => c == code,
            StatusMatch::Class(c) => code / 100 == c,
        }
    }
}

impl fmt::Display for StatusMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusMatch::Code(c) => write!(f, "{c}"),
            StatusMatch::Class(c) => write!(f, "{c}xx"),
        }
    }
}

impl<'de> Deserialize<'de> for StatusMatch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StatusMatch;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an HTTP status code (200) or class (2xx)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusMatch, E> {
                if (100..=599).contains(&v) {
                    Ok(StatusMatch::Code(v as u16))
                } else {
                    Err(E::custom(format!(
                        "{v} is not an HTTP status code; use 100–599 or a class such as 2xx"
                    )))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusMatch, E> {
                let b = v.as_bytes();
                if b.len() == 3
                    && (b'1'..=b'5').contains(&b[0])
                    && v[1..].eq_ignore_ascii_case("xx")
                {
                    return Ok(StatusMatch::Class(u16::from(b[0] - b'0')));
                }
                match v.parse::<u64>() {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(format!(
                        "\"{v}\" is not a status; write a code such as 200 or a class such as 2xx"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// An HTTP check.
#[derive(Debug, Clone)]
pub struct HttpSpec {
    /// Address; may hold `${ENV}`.
    pub url: Template,
    /// Method.
    pub method: Method,
    /// Extra headers.
    pub headers: Vec<(String, Template)>,
    /// Request body.
    pub body: Option<Template>,
    /// Accepted statuses.
    pub expect_status: Vec<StatusMatch>,
    /// Text the body must contain.
    pub body_contains: Option<String>,
    /// Follow redirects.
    pub follow_redirects: bool,
    /// Most redirects.
    pub max_redirects: u32,
    /// Most body bytes read.
    pub max_body_bytes: u64,
    /// Address family.
    pub ip_version: IpVersion,
    /// TLS settings for https.
    pub tls: TlsSpec,
}

/// The options of an `http` probe.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    /// The address to request; may hold `${ENV}` references.
    #[serde(default)]
    pub url: Option<Template>,
    /// GET (default), HEAD or POST.
    #[serde(default)]
    pub method: Option<Method>,
    /// Extra request headers; values may hold `${ENV}` references.
    #[serde(default)]
    pub headers: BTreeMap<String, Template>,
    /// Request body (POST).
    #[serde(default)]
    pub body: Option<Template>,
    /// Accepted statuses, codes or classes. Default `[2xx]`.
    #[serde(default)]
    pub expect_status: Option<Vec<StatusMatch>>,
    /// Text the body must contain.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// Follow redirects. Default true.
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    /// Most redirects followed. Default 5.
    #[serde(default)]
    pub max_redirects: Option<u32>,
    /// Most body bytes read. Default 1048576 (1 MiB).
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// Address family: `ip4`, `ip6` or `auto` (default: every address, in resolver order).
    #[serde(default)]
    pub ip_version: Option<IpVersion>,
    /// The name sent (SNI) and verified; default the host.
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// Accept any certificate (its expiry is still recorded).
    #[serde(default)]
    pub tls_skip_verify: Option<bool>,
    /// PEM file of CA certificates to trust instead of the web's roots.
    #[serde(default)]
    pub tls_ca_file: Option<String>,
}

impl KindOptions for RawHttp {
    fn validate(self, cx: &mut Cx<'_>) -> Option<ProbeKind> {
        let url = self.checked_url(cx);
        let mut headers = Vec::new();
        for (name, value) in self.headers {
            if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                cx.problem(
                    &["headers", &name],
                    format!("\"{name}\" is not a valid header name"),
                );
            }
            // `${VAR}`s stand for text without line breaks; what is written must be a
            // header value too (a line break would start a header of its own).
            let written = value
                .resolve(&|_| Some("x".to_string()))
                .unwrap_or_default();
            if hyper::header::HeaderValue::from_str(&written).is_err() {
                cx.problem(
                    &["headers", &name],
                    format!(
                        "the value of header \"{name}\" has a line break or another control character; remove it"
                    ),
                );
            }
            headers.push((name, value));
        }
        let method = self.method.unwrap_or_default();
        if self.body.is_some() && method != Method::Post {
            cx.problem(&["body"], "a request body needs `method: POST`");
        }
        let max_redirects = self.max_redirects.unwrap_or(5);
        if max_redirects > 20 {
            cx.problem(&["max_redirects"], "max_redirects must be at most 20");
        }
        Some(ProbeKind::Http(HttpSpec {
            url: url?,
            method,
            headers,
            body: self.body,
            expect_status: self
                .expect_status
                .unwrap_or_else(|| vec![StatusMatch::Class(2)]),
            body_contains: self.body_contains,
            follow_redirects: self.follow_redirects.unwrap_or(true),
            max_redirects,
            max_body_bytes: self.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY),
            ip_version: self.ip_version.unwrap_or_default(),
            tls: tls_spec(
                self.tls_server_name,
                self.tls_skip_verify,
                self.tls_ca_file,
                cx,
            ),
        }))
    }
}

impl RawHttp {
    /// The url, when written; its problems reported.
    fn checked_url(&self, cx: &mut Cx<'_>) -> Option<Template> {
        let Some(u) = &self.url else {
            cx.problem(&["kind"], "an http probe needs `url: https://…`");
            return None;
        };
        // Check the shape with references filled by a placeholder.
        let probe_url = u.resolve(&|_| Some("x".to_string())).unwrap_or_default();
        match url::Url::parse(&probe_url) {
            Ok(parsed) if !parsed.username().is_empty() || parsed.password().is_some() => cx
                .problem(
                    &["url"],
                    "credentials in the url are not sent; put them in `headers: {Authorization: …}` with a ${SECRET} reference",
                ),
            Ok(parsed)
                if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
            _ => cx.problem(
                &["url"],
                format!(
                    "url \"{}\" is not an http:// or https:// address",
                    u.as_written()
                ),
            ),
        }
        Some(u.clone())
    }
}
