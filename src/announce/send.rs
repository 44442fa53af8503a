//! Step 7 (announce): one item to one target: the payload each service documents (pure
//! functions, tested) and the HTTP request, with its outcome sorted into "certainly not
//! sent" and "unknown".

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::config::{Target, TargetKind};
use crate::render::feeds::Item;

/// The page an item belongs to.
#[derive(Debug, Clone)]
pub struct PageInfo {
    /// Page title.
    pub title: String,
    /// Page address.
    pub url: String,
}

/// Why a send did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Certainly not delivered (no connection, or the service refused it): retry later.
    NotSent(String),
    /// Maybe delivered (a broken connection after sending, a timeout, a 5xx).
    Unknown(String),
    /// The service refused this very request (a 4xx other than 408 and 429): sending it
    /// again, unchanged, cannot help.
    Refused(String),
}

/// A target with its secrets read from the environment.
#[derive(Debug, Clone)]
pub struct Prepared {
    id: String,
    kind: TargetKind,
    url: String,
    token: Option<String>,
    visibility: String,
    mail: Option<Mail>,
}

/// An email target, ready.
#[derive(Debug, Clone)]
struct Mail {
    spec: crate::config::EmailSpec,
    credentials: Option<(String, String)>,
    ca_pem: Option<Vec<u8>>,
}

/// Read a target's `${…}` values (and an email target's CA file, relative to `root`).
pub fn prepare(target: &Target, root: &std::path::Path) -> Result<Prepared> {
    let mail = match &target.email {
        Some(spec) => {
            let var = |t: &Option<crate::config::Template>, what: &str| -> Result<Option<String>> {
                t.as_ref()
                    .map(|t| {
                        t.resolve_env().map_err(|m| {
                            anyhow::anyhow!(
                                "target {}: {what}: environment variable {} is not set; export it before announcing",
                                target.id,
                                m.0
                            )
                        })
                    })
                    .transpose()
            };
            let credentials = match (
                var(&spec.username, "username")?,
                var(&spec.password, "password")?,
            ) {
                (Some(u), Some(p)) => Some((u, p)),
                (None, None) => None,
                _ => anyhow::bail!(
                    "target {}: give both `username` and `password`, or neither",
                    target.id
                ),
            };
            let ca_pem = match &spec.ca_file {
                Some(f) => Some(
                    crate::input::read_bytes(&root.join(f), crate::input::CREDENTIAL)
                        .map_err(|r| anyhow::anyhow!("target {}: ca_file {f}: {r}", target.id))?,
                ),
                None => None,
            };
            Some(Mail {
                spec: spec.clone(),
                credentials,
                ca_pem,
            })
        }
        None => None,
    };
    let url = target.url.resolve_env().map_err(|m| {
        anyhow::anyhow!(
            "target {}: url: environment variable {} is not set; export it before announcing",
            target.id,
            m.0
        )
    })?;
    let token = match &target.token {
        Some(t) => Some(t.resolve_env().map_err(|m| {
            anyhow::anyhow!(
                "target {}: token: environment variable {} is not set; export it before announcing",
                target.id,
                m.0
            )
        })?),
        None => None,
    };
    Ok(Prepared {
        id: target.id.clone(),
        kind: target.kind,
        url,
        token,
        visibility: target.visibility.clone(),
        mail,
    })
}

/// The HTTP client: rustls with ring, short timeouts, an identifiable User-Agent.
pub fn client() -> Result<reqwest::Client> {
    crate::state::object::install_crypto();
    reqwest::Client::builder()
        .user_agent(concat!("pharos/", env!("CARGO_PKG_VERSION"), " (announce)"))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .context("starting the HTTP client")
}

/// Cut `s` to at most `max` characters, ending with "…" when cut.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// How many characters Mastodon counts for any link.
pub const MASTODON_LINK: usize = 23;
/// Mastodon's default status limit.
pub const MASTODON_MAX: usize = 500;

/// A Mastodon status: title, text, link, within the limit (links count as 23).
pub fn mastodon_status(item: &Item) -> String {
    let head = format!("{}\n\n", item.title);
    let tail = format!("\n\n{}", item.link);
    let budget = MASTODON_MAX
        .saturating_sub(head.chars().count())
        .saturating_sub(2 + MASTODON_LINK);
    format!("{head}{}{tail}", cut(item.text.trim(), budget))
}

/// The JSON body a target gets for an item.
pub fn body(kind: TargetKind, visibility: &str, page: &PageInfo, item: &Item) -> Value {
    match kind {
        TargetKind::Webhook => json!({
            "id": item.id,
            "title": item.title,
            "url": item.link,
            "published": item.published.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "text": item.text,
            "html": item.html,
            "components": item.components,
            "page": {"title": page.title, "url": page.url},
        }),
        TargetKind::Slack => json!({
            "text": format!(
                "*<{}|{}>*\n{}",
                item.link,
                slack_escape(&item.title),
                slack_escape(&cut(item.text.trim(), 3000))
            ),
            "unfurl_links": false,
        }),
        TargetKind::Discord => {
            let head = format!("**{}**\n", item.title);
            let tail = format!("\n<{}>", item.link);
            let budget = 2000usize
                .saturating_sub(head.chars().count())
                .saturating_sub(tail.chars().count());
            json!({
                "content": format!("{head}{}{tail}", cut(item.text.trim(), budget)),
                // Never ping @everyone or anyone else from a status update.
                "allowed_mentions": {"parse": []},
            })
        }
        TargetKind::Mastodon => json!({
            "status": mastodon_status(item),
            "visibility": visibility,
        }),
        TargetKind::Email => json!({}),
    }
}

/// The mail for an item: subject, plain-text body with the link, and a Message-ID made
/// from the idempotency key, so a repeat after a crash is the same message. Subscribers
/// are in Bcc and do not see each other.
pub fn mail_message(
    spec: &crate::config::EmailSpec,
    page: &PageInfo,
    item: &Item,
    key: &str,
) -> Result<lettre::Message, String> {
    let host = reqwest::Url::parse(&page.url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "pharos.invalid".to_string());
    let from: lettre::message::Mailbox = spec.from.parse().map_err(|e| format!("from: {e}"))?;
    let mut builder = lettre::Message::builder()
        .from(from.clone())
        .to(from)
        .subject(&item.title)
        .message_id(Some(format!("<{key}@{host}>")))
        .header(lettre::message::header::ContentType::TEXT_PLAIN);
    for to in &spec.to {
        builder = builder.bcc(to.parse().map_err(|e| format!("to {to}: {e}"))?);
    }
    builder
        .body(format!(
            "{}\n\n{}\n\n-- \n{} · {}\n",
            item.text.trim(),
            item.link,
            page.title,
            page.url
        ))
        .map_err(|e| e.to_string())
}

async fn send_mail(
    mail: &Mail,
    id: &str,
    page: &PageInfo,
    item: &Item,
    key: &str,
) -> Result<(), Failure> {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let spec = &mail.spec;
    let message = mail_message(spec, page, item, key).map_err(Failure::NotSent)?;
    let not_sent = |e: String| Failure::NotSent(format!("{id}: {}:{}: {e}", spec.host, spec.port));
    let mut params = TlsParameters::builder(spec.host.clone());
    if let Some(pem) = &mail.ca_pem {
        let cert = Certificate::from_pem(pem).map_err(|e| not_sent(format!("ca_file: {e}")))?;
        params = params.add_root_certificate(cert);
    }
    let params = params.build_rustls().map_err(|e| not_sent(e.to_string()))?;
    let tls = match spec.tls.as_str() {
        "tls" => Tls::Wrapper(params),
        "none" => Tls::None,
        _ => Tls::Required(params),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(spec.host.clone())
        .port(spec.port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(30)));
    if let Some((user, password)) = &mail.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    match builder.build().send(message).await {
        Ok(_) => Ok(()),
        // The server answered no: the mail was not taken.
        Err(e) if e.is_permanent() || e.is_transient() => Err(not_sent(e.to_string())),
        Err(e) => Err(Failure::Unknown(format!(
            "{id}: {}:{}: {e}",
            spec.host, spec.port
        ))),
    }
}

/// Post one item.
pub async fn send(
    client: &reqwest::Client,
    target: &Prepared,
    page: &PageInfo,
    item: &Item,
    key: &str,
) -> Result<(), Failure> {
    if let Some(mail) = &target.mail {
        return send_mail(mail, &target.id, page, item, key).await;
    }
    let payload = body(target.kind, &target.visibility, page, item);
    let bytes = serde_json::to_vec(&payload).map_err(|e| Failure::NotSent(e.to_string()))?;
    let mut request = client
        .post(&target.url)
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", key)
        .body(bytes);
    if let Some(token) = &target.token {
        request = request.bearer_auth(token);
    }
    dispatch(request, &target.id, &target.url).await
}

/// Send `request` (for target `id`, to `url`) and sort its outcome: delivered (2xx);
/// certainly not (no connection, a 4xx such as 429); maybe (a broken connection after
/// the request went out, a timeout, a 5xx). Messages name only the scheme and host of
/// `url`: addresses may hold secrets (Slack and Discord put them in the path, Telegram its
/// token).
pub async fn dispatch(
    request: reqwest::RequestBuilder,
    id: &str,
    url: &str,
) -> Result<(), Failure> {
    let shown = reqwest::Url::parse(url)
        .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or("?")))
        .unwrap_or_else(|_| "its address".to_string());
    let response = match request.send().await {
        Ok(r) => r,
        // Without its address: it may hold a secret.
        Err(e) if e.is_connect() || e.is_builder() => {
            return Err(Failure::NotSent(format!(
                "{id}: cannot reach {shown}: {}",
                root_cause(&e.without_url())
            )));
        }
        Err(e) => {
            return Err(Failure::Unknown(format!(
                "{id}: {shown}: {}",
                root_cause(&e.without_url())
            )));
        }
    };
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    let detail = format!(
        "{id}: {shown} answered HTTP {}: {}",
        status.as_u16(),
        cut(text.trim(), 200)
    );
    if status.is_server_error() {
        Err(Failure::Unknown(detail))
    } else if matches!(status.as_u16(), 408 | 429) {
        Err(Failure::NotSent(detail))
    } else {
        Err(Failure::Refused(detail))
    }
}

fn root_cause(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(text: &str) -> Item {
        Item {
            id: "https://status.test/incidents/x/#t".into(),
            title: "API outage <b> — Investigating".into(),
            link: "https://status.test/incidents/x/".into(),
            published: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
            html: "<p>x</p>".into(),
            text: text.into(),
            components: vec!["api".into()],
            derived: false,
            post: None,
        }
    }

    #[test]
    fn payloads_follow_each_service() {
        let page = PageInfo {
            title: "Acme".into(),
            url: "https://status.test".into(),
        };
        let long = "word ".repeat(1000);
        let slack = body(TargetKind::Slack, "", &page, &item("a < b & c"));
        assert_eq!(
            slack["text"],
            "*<https://status.test/incidents/x/|API outage &lt;b&gt; — Investigating>*\na &lt; b &amp; c"
        );
        let discord = body(TargetKind::Discord, "", &page, &item(&long));
        let content = discord["content"].as_str().unwrap_or_default();
        assert!(content.chars().count() <= 2000);
        assert!(content.ends_with("\n<https://status.test/incidents/x/>"));
        assert_eq!(discord["allowed_mentions"]["parse"], json!([]));
        let status = mastodon_status(&item(&long));
        let counted = status.chars().count() - item("").link.chars().count() + MASTODON_LINK;
        assert!(counted <= MASTODON_MAX, "{counted}");
        assert!(status.contains('…') && status.ends_with("https://status.test/incidents/x/"));
        let hook = body(TargetKind::Webhook, "", &page, &item("t"));
        assert_eq!(hook["published"], "2027-01-15T08:00:00Z");
        assert_eq!(hook["components"], json!(["api"]));
        assert_eq!(hook["page"]["url"], "https://status.test");
    }
}
