//! Step 1 (config): components.yaml, what the public sees. Raw serde types here; the
//! checks that turn them into a [`Site`](super::Site) value live in `validate`.

use serde::Deserialize;

/// `page:` — the site's identity and settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPage {
    /// The page title, e.g. "Acme Status".
    pub title: String,
    /// The public address the site is served at, used for absolute links in feeds.
    pub base_url: String,
    /// One sentence shown under the title and in feeds.
    #[serde(default)]
    pub description: Option<String>,
    /// IANA time zone used to show times, e.g. "Europe/Berlin". Default: UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Page language (`lang` attribute). Default: en.
    #[serde(default)]
    pub language: Option<String>,
    /// Theme folder under themes/. Default: the built-in theme.
    #[serde(default)]
    pub theme: Option<String>,
    /// Links shown in the header, e.g. to the product or support.
    #[serde(default)]
    pub links: Vec<RawLink>,
    /// A partial or major outage the probes see for this long, with no incident post
    /// covering it, is shown as a detected outage. Default: 3m.
    #[serde(default)]
    pub detect_outages_after: Option<super::probes::Dur>,
    /// How many probe results the cause inference may leave unexplained, for flaky
    /// probes (see "Dependencies and causes" in the README). Default: 0.
    #[serde(default)]
    pub cause_tolerance: Option<u32>,
    /// The availability target, in percent, of the page and of every component without
    /// its own `slo` (e.g. 99.9). Default: none (reports give no verdict).
    #[serde(default)]
    pub slo: Option<f64>,
}

/// Which service an announcement target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A generic JSON webhook.
    Webhook,
    /// A Slack incoming webhook.
    Slack,
    /// A Discord webhook.
    Discord,
    /// A Mastodon account.
    Mastodon,
    /// Mail to a list of subscribers over SMTP.
    Email,
    /// An X (Twitter) account: API v2, OAuth 1.0a user context.
    X,
    /// A Bluesky account (AT Protocol), on bsky.social or a PDS of your own.
    Bluesky,
}

/// An item of `announce:`: where `pharos announce` posts new feed items.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Stable name in the ledger. Default: the kind (kind-2, kind-3… for repeats).
    #[serde(default)]
    pub id: Option<String>,
    /// `webhook`, `slack`, `discord`, `mastodon`, `email`, `x` or `bluesky`.
    pub kind: TargetKind,
    /// The webhook address (webhook, slack, discord); `${ENV}` for secrets.
    #[serde(default)]
    pub url: Option<super::template::Template>,
    /// The Mastodon server, e.g. <https://mastodon.social>; X's API (default
    /// <https://api.x.com>); Bluesky's PDS (default <https://bsky.social>).
    #[serde(default)]
    pub server: Option<String>,
    /// The Mastodon access token, e.g. `${MASTODON_TOKEN}`.
    #[serde(default)]
    pub token: Option<super::template::Template>,
    /// Mastodon visibility: public (default), unlisted, private.
    #[serde(default)]
    pub visibility: Option<String>,
    /// The SMTP server as host:port (email).
    #[serde(default)]
    pub smtp: Option<String>,
    /// `starttls` (default), `tls` (SMTPS, port 465) or `none` (a relay on this host).
    #[serde(default)]
    pub tls: Option<String>,
    /// The sender, e.g. "Acme Status <status@acme.example>" (email).
    #[serde(default)]
    pub from: Option<String>,
    /// The subscribers' addresses (email).
    #[serde(default)]
    pub to: Vec<String>,
    /// SMTP user name, e.g. `${SMTP_USER}` (email).
    #[serde(default)]
    pub username: Option<super::template::Template>,
    /// SMTP password, e.g. `${SMTP_PASSWORD}` (email); a Bluesky app password.
    #[serde(default)]
    pub password: Option<super::template::Template>,
    /// X: the app's API key, e.g. `${X_API_KEY}`.
    #[serde(default)]
    pub consumer_key: Option<super::template::Template>,
    /// X: the app's API key secret.
    #[serde(default)]
    pub consumer_secret: Option<super::template::Template>,
    /// X: the account's access token.
    #[serde(default)]
    pub access_token: Option<super::template::Template>,
    /// X: the account's access token secret.
    #[serde(default)]
    pub access_secret: Option<super::template::Template>,
    /// Bluesky: the account's handle (or DID), e.g. status.acme.example.
    #[serde(default)]
    pub handle: Option<super::template::Template>,
    /// A PEM file of a private CA to trust for the SMTP server, relative to the project.
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// An item of `publish:`: where `pharos publish` sends the site.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPublish {
    /// A folder path, `s3://bucket/prefix` or `git+<remote>#<branch>`.
    pub to: String,
    /// A git target's custom domain, written into `CNAME`.
    #[serde(default)]
    pub cname: Option<String>,
    /// Whether a git target gets an empty `.nojekyll` (default: true).
    #[serde(default)]
    pub nojekyll: Option<bool>,
    /// A bucket target's credentials: `SITE_` reads `SITE_AWS_ACCESS_KEY_ID`,
    /// `SITE_AWS_SECRET_ACCESS_KEY`, `SITE_AWS_ENDPOINT_URL`… instead of the state's `AWS_*`.
    #[serde(default)]
    pub env_prefix: Option<String>,
}

/// A header link.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    /// Link text.
    pub title: String,
    /// Link target.
    pub url: String,
}

/// An item of `groups:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    /// Stable id, used by components' `group`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Optional one-line description.
    #[serde(default)]
    pub description: Option<String>,
}

/// An item of `components:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawComponent {
    /// Stable id: lowercase letters, digits, `-` and `_`. Used in URLs and by probes.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Optional one-line description.
    #[serde(default)]
    pub description: Option<String>,
    /// Id of the group it is shown in.
    #[serde(default)]
    pub group: Option<String>,
    /// Ids of components this one needs to work.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Show only while it is not operational.
    #[serde(default)]
    pub hidden_until_degraded: bool,
    /// Its availability target in percent (e.g. 99.9); default: `page.slo`.
    #[serde(default)]
    pub slo: Option<f64>,
}
