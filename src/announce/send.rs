//! Step 7 (announce): one item to one target: the payload each service documents (pure
//! functions, tested) and the HTTP request, with its outcome sorted into "certainly not
//! sent" and "unknown". X, Bluesky and Mastodon answer with the post they made, which the
//! next update of the incident replies to.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::social::{self, PostRef, Thread};
use crate::config::{Account, Target, TargetKind};
use crate::render::feeds::Item;

/// The page an item belongs to.
#[derive(Debug, Clone)]
pub struct PageInfo {
    /// Page title.
    pub title: String,
    /// Page address.
    pub url: String,
}

impl PageInfo {
    /// The page of `page`: its title and its address.
    pub fn of(page: &crate::config::Page) -> PageInfo {
        PageInfo {
            title: page.title.clone(),
            url: format!("{}/", page.base_url),
        }
    }
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
    /// Not sent: the service's rate limit holds until then (X's `x-rate-limit-reset`).
    Deferred(DateTime<Utc>),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NotSent(e) | Failure::Unknown(e) | Failure::Refused(e) => f.write_str(e),
            Failure::Deferred(until) => write!(
                f,
                "rate-limited by the service until {}",
                until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        }
    }
}

/// One item to send, and what the ledger knows of it.
#[derive(Debug, Clone, Copy)]
pub struct Post<'a> {
    /// The item.
    pub item: &'a Item,
    /// Its idempotency key for this target.
    pub key: &'a str,
    /// Its incident's thread on this target, if it has one: the post replies to it.
    pub thread: Option<&'a Thread>,
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
    account: Option<Ready>,
}

/// A social account with its secrets read.
#[derive(Debug, Clone)]
enum Ready {
    X {
        consumer: (String, String),
        access: (String, String),
    },
    Bluesky {
        handle: String,
        password: String,
        /// The session of this run (made on the first post, once).
        session: Arc<tokio::sync::OnceCell<Session>>,
    },
}

/// A Bluesky session: the account's DID and an access token.
#[derive(Debug, Clone)]
struct Session {
    did: String,
    token: String,
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
    let secret = |t: &crate::config::Template, what: &str| {
        t.resolve_env().map_err(|m| {
            anyhow::anyhow!(
                "target {}: {what}: environment variable {} is not set; export it before announcing",
                target.id,
                m.0
            )
        })
    };
    let account = match &target.account {
        Some(Account::X {
            consumer_key,
            consumer_secret,
            access_token,
            access_secret,
        }) => Some(Ready::X {
            consumer: (
                secret(consumer_key, "consumer_key")?,
                secret(consumer_secret, "consumer_secret")?,
            ),
            access: (
                secret(access_token, "access_token")?,
                secret(access_secret, "access_secret")?,
            ),
        }),
        Some(Account::Bluesky { handle, password }) => Some(Ready::Bluesky {
            handle: secret(handle, "handle")?,
            password: secret(password, "password")?,
            session: Arc::default(),
        }),
        None => None,
    };
    let url = secret(&target.url, "url")?;
    let token = target
        .token
        .as_ref()
        .map(|t| secret(t, "token"))
        .transpose()?;
    Ok(Prepared {
        id: target.id.clone(),
        kind: target.kind,
        url,
        token,
        visibility: target.visibility.clone(),
        mail,
        account,
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
            "status": social::mastodon_status(item),
            "visibility": visibility,
        }),
        TargetKind::X => social::x_body(item, None),
        TargetKind::Bluesky => social::bluesky_record(item, None),
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

/// Post one item; for X, Bluesky and Mastodon, the post made (a reply in the item's
/// thread if it has one), which the next update replies to.
pub async fn send(
    client: &reqwest::Client,
    target: &Prepared,
    page: &PageInfo,
    post: &Post<'_>,
) -> Result<Option<PostRef>, Failure> {
    if let Some(mail) = &target.mail {
        return send_mail(mail, &target.id, page, post.item, post.key)
            .await
            .map(|()| None);
    }
    match &target.account {
        Some(Ready::X { consumer, access }) => {
            return send_x(client, target, (consumer, access), post).await;
        }
        Some(Ready::Bluesky {
            handle,
            password,
            session,
        }) => {
            let session = session
                .get_or_try_init(|| bluesky_session(client, target, handle, password))
                .await?;
            return send_bluesky(client, target, session, post).await;
        }
        None => {}
    }
    let mut payload = body(target.kind, &target.visibility, page, post.item);
    if let (TargetKind::Mastodon, Some(thread)) = (target.kind, post.thread) {
        payload["in_reply_to_id"] = json!(thread.last.id);
    }
    let bytes = serde_json::to_vec(&payload).map_err(|e| Failure::NotSent(e.to_string()))?;
    let mut request = client
        .post(&target.url)
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", post.key)
        .body(bytes);
    if let Some(token) = &target.token {
        request = request.bearer_auth(token);
    }
    if target.kind != TargetKind::Mastodon {
        return dispatch(request, &target.id, &target.url)
            .await
            .map(|()| None);
    }
    // Mastodon answers with the status (the same one for a repeated Idempotency-Key).
    let answer = exchange(request, &target.id, &target.url)
        .await
        .map_err(Answer::failure)?;
    Ok(answer["id"].as_str().map(|id| PostRef {
        id: id.to_string(),
        cid: None,
    }))
}

/// How long a rate-limited send waits for X's limit to reset before it gives the item
/// back to the next run.
const RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// `POST /2/tweets`, signed with OAuth 1.0a (HMAC-SHA1) by the `oauth1-request` crate;
/// the JSON body is not part of the signature (RFC 5849 §3.4.1.3.1 signs only form
/// bodies). A 429 waits for `x-rate-limit-reset` if it is within a minute, once, and is
/// otherwise [`Failure::Deferred`]. X refuses a text it already has ("duplicate
/// content"): that is a send of ours that went through before its outcome was recorded,
/// so it counts as sent, with no post to reply to.
async fn send_x(
    client: &reqwest::Client,
    target: &Prepared,
    (consumer, access): (&(String, String), &(String, String)),
    post: &Post<'_>,
) -> Result<Option<PostRef>, Failure> {
    let url = format!("{}/2/tweets", target.url);
    let body = serde_json::to_vec(&social::x_body(post.item, post.thread))
        .map_err(|e| Failure::NotSent(e.to_string()))?;
    let token = oauth1_request::Token::from_parts(
        consumer.0.as_str(),
        consumer.1.as_str(),
        access.0.as_str(),
        access.1.as_str(),
    );
    let mut waited = false;
    loop {
        let authorization = oauth1_request::post(&url, &(), &token, oauth1_request::HMAC_SHA1);
        let request = client
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Authorization", authorization)
            .body(body.clone());
        match exchange(request, &target.id, &url).await {
            Ok(answer) => {
                return Ok(answer["data"]["id"].as_str().map(|id| PostRef {
                    id: id.to_string(),
                    cid: None,
                }));
            }
            Err(Answer::Limited(reset)) => {
                let until = reset.unwrap_or_else(|| Utc::now() + chrono::Duration::minutes(15));
                let wait = (until - Utc::now()).to_std().unwrap_or_default();
                if waited || wait > RATE_LIMIT_WAIT {
                    return Err(Failure::Deferred(until));
                }
                waited = true;
                tokio::time::sleep(wait + Duration::from_millis(500)).await;
            }
            Err(Answer::Failed(Failure::Refused(e))) if e.contains("duplicate content") => {
                tracing::info!(
                    "{}: X already has this post (a send whose outcome was not recorded); counted as sent",
                    target.id
                );
                return Ok(None);
            }
            Err(Answer::Failed(f)) => return Err(f),
        }
    }
}

/// `com.atproto.server.createSession` with the handle and app password.
async fn bluesky_session(
    client: &reqwest::Client,
    target: &Prepared,
    handle: &str,
    password: &str,
) -> Result<Session, Failure> {
    let url = format!("{}/xrpc/com.atproto.server.createSession", target.url);
    let request = json_post(
        client,
        &url,
        &json!({"identifier": handle, "password": password}),
    );
    let answer = exchange(request, &target.id, &url)
        .await
        .map_err(Answer::failure)?;
    match (answer["did"].as_str(), answer["accessJwt"].as_str()) {
        (Some(did), Some(token)) => Ok(Session {
            did: did.to_string(),
            token: token.to_string(),
        }),
        _ => Err(Failure::NotSent(format!(
            "{}: the PDS's createSession answer has no did or accessJwt",
            target.id
        ))),
    }
}

/// `com.atproto.repo.createRecord` of the item's `app.bsky.feed.post` under its own
/// record key ([`social::tid`]), after `getRecord` of that key: a post already there
/// (a send that went through before its outcome was recorded, or a ledger lost) is taken
/// as sent, never made twice.
async fn send_bluesky(
    client: &reqwest::Client,
    target: &Prepared,
    session: &Session,
    post: &Post<'_>,
) -> Result<Option<PostRef>, Failure> {
    let rkey = social::tid(post.item);
    let collection = "app.bsky.feed.post";
    let lookup = format!("{}/xrpc/com.atproto.repo.getRecord", target.url);
    let mut query = reqwest::Url::parse(&lookup)
        .map_err(|e| Failure::NotSent(format!("{}: {e}", target.id)))?;
    query
        .query_pairs_mut()
        .append_pair("repo", &session.did)
        .append_pair("collection", collection)
        .append_pair("rkey", &rkey);
    let request = client.get(query).bearer_auth(&session.token);
    match exchange(request, &target.id, &lookup).await {
        Ok(found) => return Ok(strong_ref(&found)),
        // RecordNotFound (400 with that error name; 404 on some servers): make it.
        Err(Answer::Failed(Failure::Refused(e)))
            if e.contains("RecordNotFound") || e.contains("HTTP 404") => {}
        Err(e) => return Err(e.failure()),
    }
    let create = format!("{}/xrpc/com.atproto.repo.createRecord", target.url);
    let body = json!({
        "repo": session.did,
        "collection": collection,
        "rkey": rkey,
        "record": social::bluesky_record(post.item, post.thread),
    });
    let request = json_post(client, &create, &body).bearer_auth(&session.token);
    let made = exchange(request, &target.id, &create)
        .await
        .map_err(Answer::failure)?;
    Ok(strong_ref(&made))
}

/// A POST of `body` as JSON.
fn json_post(client: &reqwest::Client, url: &str, body: &Value) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_string())
}

/// A Bluesky answer's `uri` and `cid`.
fn strong_ref(answer: &Value) -> Option<PostRef> {
    Some(PostRef {
        id: answer["uri"].as_str()?.to_string(),
        cid: Some(answer["cid"].as_str()?.to_string()),
    })
}

/// A request's JSON answer, or why there is none.
enum Answer {
    /// The service's rate limit (429), with its reset if it said.
    Limited(Option<DateTime<Utc>>),
    /// Any other failure.
    Failed(Failure),
}

impl Answer {
    fn failure(self) -> Failure {
        match self {
            Answer::Limited(Some(until)) => Failure::Deferred(until),
            Answer::Limited(None) => Failure::NotSent("rate-limited (HTTP 429)".into()),
            Answer::Failed(f) => f,
        }
    }
}

/// Send `request` and read its JSON answer (an empty object when it has none), sorting a
/// failure as [`dispatch`] does and a 429 apart with its `x-rate-limit-reset` (seconds
/// since 1970) or `ratelimit-reset` (Bluesky, the same).
async fn exchange(request: reqwest::RequestBuilder, id: &str, url: &str) -> Result<Value, Answer> {
    let response = request
        .send()
        .await
        .map_err(|e| Answer::Failed(sent_error(e, id, url)))?;
    let status = response.status();
    if status.as_u16() == 429 {
        let reset = ["x-rate-limit-reset", "ratelimit-reset"]
            .iter()
            .find_map(|h| {
                response
                    .headers()
                    .get(*h)?
                    .to_str()
                    .ok()?
                    .trim()
                    .parse::<i64>()
                    .ok()
            })
            .and_then(|s| DateTime::from_timestamp(s, 0));
        return Err(Answer::Limited(reset));
    }
    let text = answer_text(response).await.map_err(|e| {
        Answer::Failed(Failure::Unknown(format!(
            "{id}: {}: {}",
            shown(url),
            root_cause(&e.without_url())
        )))
    })?;
    if !status.is_success() {
        return Err(Answer::Failed(answered(status, &text, id, url)));
    }
    Ok(serde_json::from_str(&text).unwrap_or_else(|_| json!({})))
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
    let response = request.send().await.map_err(|e| sent_error(e, id, url))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = answer_text(response).await.unwrap_or_default();
    Err(answered(status, &text, id, url))
}

/// At most this much of a service's answer is read.
const ANSWER_BYTES: usize = 64 * 1024;

/// The first [`ANSWER_BYTES`] of an answer, as text.
async fn answer_text(mut response: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = ANSWER_BYTES.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= ANSWER_BYTES {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The scheme and host of `url`, never more: addresses may hold secrets.
fn shown(url: &str) -> String {
    reqwest::Url::parse(url)
        .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or("?")))
        .unwrap_or_else(|_| "its address".to_string())
}

/// A request that got no answer: certainly not sent (no connection) or maybe sent.
fn sent_error(e: reqwest::Error, id: &str, url: &str) -> Failure {
    // Without its address: it may hold a secret.
    let (connect, builder) = (e.is_connect(), e.is_builder());
    let why = root_cause(&e.without_url());
    if connect || builder {
        Failure::NotSent(format!("{id}: cannot reach {}: {why}", shown(url)))
    } else {
        Failure::Unknown(format!("{id}: {}: {why}", shown(url)))
    }
}

/// An answer other than 2xx: maybe delivered (5xx), certainly not (408, 429), or refused
/// as it is (any other 4xx).
fn answered(status: reqwest::StatusCode, text: &str, id: &str, url: &str) -> Failure {
    let detail = format!(
        "{id}: {} answered HTTP {}: {}",
        shown(url),
        status.as_u16(),
        cut(text.trim(), 200)
    );
    if status.is_server_error() {
        Failure::Unknown(detail)
    } else if matches!(status.as_u16(), 408 | 429) {
        Failure::NotSent(detail)
    } else {
        Failure::Refused(detail)
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
        let status = body(TargetKind::Mastodon, "public", &page, &item(&long));
        let status = status["status"].as_str().unwrap_or_default();
        let counted =
            status.chars().count() - item("").link.chars().count() + social::MASTODON_LINK;
        assert!(counted <= social::MASTODON_MAX, "{counted}");
        assert!(status.contains('…') && status.ends_with("https://status.test/incidents/x/"));
        let hook = body(TargetKind::Webhook, "", &page, &item("t"));
        assert_eq!(hook["published"], "2027-01-15T08:00:00Z");
        assert_eq!(hook["components"], json!(["api"]));
        assert_eq!(hook["page"]["url"], "https://status.test");
    }
}
