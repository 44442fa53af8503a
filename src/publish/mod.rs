//! Step 8 (publish): the built site goes out to every `publish:` target (a folder, an
//! S3-compatible bucket, a git branch). This module holds the decisions, all pure: what a
//! target URL means, each file's content type and cache lifetime, and the plan of a
//! publish (which files to upload, in which order, and which to delete). `send` carries a
//! plan out on each kind of target, from a copy of `site/` taken while no build changes it.

pub mod send;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a site is published, parsed from the URL it is written as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A local folder, switched atomically: a path or `file://…`.
    Folder(PathBuf),
    /// An S3-compatible bucket: `s3://bucket/prefix`.
    Bucket {
        /// The bucket.
        bucket: String,
        /// The key prefix, without slashes at either end (may be empty).
        prefix: String,
    },
    /// A git branch: `git+<remote>#<branch>`.
    Git {
        /// The remote as git takes it (`https://…`, `ssh://…`, `file://…`, a path).
        remote: String,
        /// The branch; `gh-pages` when the URL names none.
        branch: String,
    },
}

/// How long a bucket keeps a file that left the site, unless told otherwise: a reader
/// still on an older page can follow its links that long.
pub const KEEP_REMOVED: std::time::Duration = std::time::Duration::from_secs(300);

/// The branch a `git+` URL without `#branch` publishes to.
pub const DEFAULT_BRANCH: &str = "gh-pages";

impl Destination {
    /// The destination `url` names (a relative folder path stays relative: see
    /// [`Destination::under`]). The error says what is wrong and how to write it.
    pub fn parse(url: &str) -> Result<Destination, String> {
        let url = url.trim();
        if url.is_empty() {
            return Err("the target is empty; write a folder path, s3://bucket/prefix or git+https://host/repo.git#branch".into());
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!(
                    "\"{url}\" names no bucket; write it as s3://bucket/prefix"
                ));
            }
            return Ok(Destination::Bucket {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        if let Some(rest) = url.strip_prefix("git+") {
            let (remote, branch) = rest.split_once('#').unwrap_or((rest, DEFAULT_BRANCH));
            if remote.is_empty() {
                return Err(format!(
                    "\"{url}\" names no remote; write it as git+https://host/owner/repo.git#branch"
                ));
            }
            if branch.is_empty()
                || branch.starts_with('-')
                || branch.contains([' ', ':', '~', '^', '\\'])
            {
                return Err(format!(
                    "\"{url}\": \"{branch}\" is not a branch name; write the branch after #, e.g. #gh-pages"
                ));
            }
            if has_secret(remote) {
                return Err(format!(
                    "\"git+{}\" carries credentials; secrets come from the environment: use an SSH key, a git credential helper or GIT_ASKPASS, never the URL",
                    redact(remote)
                ));
            }
            return Ok(Destination::Git {
                remote: remote.to_string(),
                branch: branch.to_string(),
            });
        }
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(format!(
                    "\"{url}\" is not an absolute file:// URL; write file:///path or just the path"
                ));
            }
            return Ok(Destination::Folder(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(format!(
                "\"{url}\": {scheme}:// is not a publish target; write a folder path, s3://bucket/prefix or git+{scheme}://…#branch"
            ));
        }
        Ok(Destination::Folder(PathBuf::from(url)))
    }

    /// The destination with a relative folder path taken from `root`.
    pub fn under(self, root: &Path) -> Destination {
        match self {
            Destination::Folder(p) => Destination::Folder(root.join(p)),
            other => other,
        }
    }

    /// How the destination is named in messages (never with a password).
    pub fn shown(&self) -> String {
        match self {
            Destination::Folder(p) => p.display().to_string(),
            Destination::Bucket { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            Destination::Bucket { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
            Destination::Git { remote, branch } => format!("git+{}#{branch}", redact(remote)),
        }
    }
}

/// A `publish:` target, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Where the site goes.
    pub to: Destination,
    /// A git target's custom domain, written as `CNAME`.
    pub cname: Option<String>,
    /// Whether a git target gets `.nojekyll` (default: yes).
    pub nojekyll: bool,
    /// A bucket target's credentials: the `AWS_*` variables with this prefix
    /// (`SITE_` reads `SITE_AWS_ACCESS_KEY_ID`…), for a bucket at another provider than
    /// the state; `None` reads the state's own `AWS_*`.
    pub env_prefix: Option<String>,
}

impl Target {
    /// A target given on the command line: the destination with the defaults.
    pub fn to(to: Destination) -> Target {
        Target {
            to,
            cname: None,
            nojekyll: true,
            env_prefix: None,
        }
    }
}

/// Whether a URL carries a secret: a password, or over http(s) a user name (where a
/// token is often put). `ssh://git@host` names an account, not a secret.
fn has_secret(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| {
        u.password().is_some() || (u.scheme().starts_with("http") && !u.username().is_empty())
    })
}

/// `url` with what [`has_secret`] finds replaced by `***`.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if has_secret(url) => {
            let _ = u.set_password(None);
            let _ = u.set_username("***");
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// The `Content-Type` of a site file, from its name: the one table the preview server
/// and every publish target use.
pub fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "jpg" | "jpeg" => "image/jpeg",
        "woff2" => "font/woff2",
        "json" if name == "feed.json" => "application/feed+json",
        "json" => "application/json",
        "rss" => "application/rss+xml; charset=utf-8",
        "atom" => "application/atom+xml; charset=utf-8",
        "xml" => "application/xml; charset=utf-8",
        "ics" => "text/calendar; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// How long a reader may keep a file before asking again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Pages, feeds, the API, badges: what changes when the status does.
    Short,
    /// A file whose name carries its content's hash: it never changes under that name.
    Immutable,
}

impl Lifetime {
    /// The lifetime of the file at `path`.
    pub fn of(path: &str) -> Lifetime {
        let name = path.rsplit('/').next().unwrap_or(path);
        if is_fingerprinted(name) {
            Lifetime::Immutable
        } else {
            Lifetime::Short
        }
    }

    /// The `Cache-Control` header for it: a minute for what changes with the status (a
    /// reader sees an outage within a minute of the publish), a year for fingerprinted
    /// assets.
    pub fn cache_control(self) -> &'static str {
        match self {
            Lifetime::Short => "public, max-age=60",
            Lifetime::Immutable => "public, max-age=31536000, immutable",
        }
    }
}

/// Whether a file name is `stem.<hash>.ext` with a hash of at least 8 hex digits, as the
/// theme's assets are written.
fn is_fingerprinted(name: &str) -> bool {
    let mut parts = name.rsplit('.');
    let (Some(_ext), Some(hash), Some(_stem)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    hash.len() >= 8 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Path → content hash (SHA-256, hex) of a site, or of what a target holds.
pub type Manifest = BTreeMap<String, String>;

/// When, in a publish, the file at `path` goes up: its tier, then deepest first.
fn stage(path: &str) -> (Tier, std::cmp::Reverse<usize>) {
    (Tier::of(path), std::cmp::Reverse(path.matches('/').count()))
}

/// What a publish does to one target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Files to upload, in the order that keeps every link working (see [`Tier`]).
    pub uploads: Vec<String>,
    /// Files the target has that the site no longer does, deleted after every upload.
    pub deletes: Vec<String>,
    /// Files the target already holds as they are.
    pub unchanged: usize,
}

impl Plan {
    /// The uploads in stages: every file of a stage may go up at once, and a stage
    /// starts only when the one before is done.
    pub fn stages(&self) -> impl Iterator<Item = &[String]> {
        self.uploads.chunk_by(|a, b| stage(a) == stage(b))
    }

    /// Whether the target already holds the site.
    pub fn is_empty(&self) -> bool {
        self.uploads.is_empty() && self.deletes.is_empty()
    }
}

/// The plan that turns what `target` holds into `site`: only new and changed files are
/// uploaded, in [`Tier`] order; files gone from the site are deleted last.
pub fn plan(site: &Manifest, target: &Manifest) -> Plan {
    let mut uploads: Vec<&String> = site
        .iter()
        .filter(|(path, hash)| target.get(*path) != Some(*hash))
        .map(|(path, _)| path)
        .collect();
    uploads.sort_by_key(|p| (stage(p), *p));
    Plan {
        unchanged: site.len() - uploads.len(),
        uploads: uploads.into_iter().cloned().collect(),
        deletes: target
            .keys()
            .filter(|p| !site.contains_key(*p))
            .cloned()
            .collect(),
    }
}

/// Whether a rebuild loop may publish at `now`: never published, or the last publish at
/// least `every` ago. Pure: the clock is an input.
pub fn due(
    last: Option<std::time::Instant>,
    now: std::time::Instant,
    every: std::time::Duration,
) -> bool {
    last.is_none_or(|t| now.saturating_duration_since(t) >= every)
}

/// Of the files a bucket no longer needs, which to delete now: those gone from the site
/// for at least `keep` (a reader still on an older page may follow a link to them until
/// then), and when the others left, for the manifest. Pure: `now` is an input.
pub fn due_deletes(
    deletes: &[String],
    removed: &BTreeMap<String, chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
    keep: chrono::Duration,
) -> (Vec<String>, BTreeMap<String, chrono::DateTime<chrono::Utc>>) {
    let mut due = Vec::new();
    let mut kept = BTreeMap::new();
    for path in deletes {
        let since = removed.get(path).copied().unwrap_or(now);
        if now - since >= keep {
            due.push(path.clone());
        } else {
            kept.insert(path.clone(), since);
        }
    }
    (due, kept)
}

/// When a file goes up in a publish, so that a reader who follows a link during the
/// publish never finds the page missing. In this order, each stage done before the next
/// starts (see [`Plan::stages`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// What pages show or link to and that links nowhere: the stylesheet, images, badges.
    Asset,
    /// An incident's or maintenance's own page: the lists, component pages and feeds
    /// link to it.
    Incident,
    /// Every other page but the front page, deepest first (an archive page before the
    /// history that links to it).
    Page,
    /// Feeds and the calendar, which link to pages.
    Feed,
    /// The front page.
    Front,
    /// The Statuspage API, which readers poll for the status and which names the incidents
    /// the pages show.
    Api,
}

impl Tier {
    /// The tier of the file at `path`.
    pub fn of(path: &str) -> Tier {
        if path.starts_with("api/") {
            Tier::Api
        } else if path == "index.html" {
            Tier::Front
        } else if is_feed(path) {
            Tier::Feed
        } else if path.starts_with("incidents/")
            && path.ends_with("/index.html")
            && path.matches('/').count() == 2
        {
            Tier::Incident
        } else if path.ends_with(".html") {
            Tier::Page
        } else {
            Tier::Asset
        }
    }
}

/// Whether a site file is a feed (RSS, Atom, JSON Feed, the maintenance calendar).
fn is_feed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name == "feed.json"
        || [".rss", ".atom", ".ics", ".xml"]
            .iter()
            .any(|e| name.ends_with(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_urls_name_a_folder_a_bucket_or_a_git_branch() {
        let root = Path::new("/p");
        let d = |u: &str| Destination::parse(u).map(|d| d.under(root));
        assert_eq!(d("public"), Ok(Destination::Folder("/p/public".into())));
        assert_eq!(
            d("/var/www/status"),
            Ok(Destination::Folder("/var/www/status".into()))
        );
        assert_eq!(
            d("file:///srv/www"),
            Ok(Destination::Folder("/srv/www".into()))
        );
        assert_eq!(
            d("s3://site/status/"),
            Ok(Destination::Bucket {
                bucket: "site".into(),
                prefix: "status".into()
            })
        );
        assert_eq!(
            d("s3://site"),
            Ok(Destination::Bucket {
                bucket: "site".into(),
                prefix: String::new()
            })
        );
        assert_eq!(
            d("git+https://github.com/acme/status.git#pages"),
            Ok(Destination::Git {
                remote: "https://github.com/acme/status.git".into(),
                branch: "pages".into()
            })
        );
        assert_eq!(
            d("git+file:///srv/git/site.git"),
            Ok(Destination::Git {
                remote: "file:///srv/git/site.git".into(),
                branch: "gh-pages".into()
            })
        );
        for bad in [
            "",
            "s3:///x",
            "https://example.com/",
            "file://relative",
            "git+#main",
            "git+/r.git#-f",
        ] {
            assert!(d(bad).is_err(), "{bad}");
        }
        for url in [
            "git+https://me:hunter2@github.com/a/b.git#main",
            "git+https://hunter2@github.com/a/b.git",
        ] {
            let secret = d(url).unwrap_err();
            assert!(
                secret.contains("environment") && !secret.contains("hunter2"),
                "{secret}"
            );
        }
        assert!(
            d("git+ssh://git@github.com/a/b.git#pages").is_ok(),
            "an account, not a secret"
        );
    }

    #[test]
    fn every_file_gets_its_type_and_lifetime() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("style.3f2a9c1b.css"),
            "text/css; charset=utf-8"
        );
        assert_eq!(content_type("badges/web.svg"), "image/svg+xml");
        assert_eq!(
            content_type("history.atom"),
            "application/atom+xml; charset=utf-8"
        );
        assert_eq!(
            content_type("components/web/feed.rss"),
            "application/rss+xml; charset=utf-8"
        );
        assert_eq!(content_type("feed.json"), "application/feed+json");
        assert_eq!(content_type("badges/web.json"), "application/json");
        assert_eq!(content_type("api/v2/status.json"), "application/json");
        assert_eq!(
            content_type("maintenance.ics"),
            "text/calendar; charset=utf-8"
        );
        assert_eq!(
            Lifetime::of("assets/style.3f2a9c1b.css"),
            Lifetime::Immutable
        );
        for short in [
            "index.html",
            "badges/web.svg",
            "api/v2/status.json",
            "style.css",
            "feed.rss",
            "a.b.c",
        ] {
            assert_eq!(Lifetime::of(short), Lifetime::Short, "{short}");
        }
    }

    fn manifest(v: &[(&str, &str)]) -> Manifest {
        v.iter()
            .map(|(p, h)| (p.to_string(), h.to_string()))
            .collect()
    }

    #[test]
    fn a_plan_uploads_what_changed_linked_before_linking_and_deletes_last() {
        let target = manifest(&[
            ("index.html", "1"),
            ("incidents/a/index.html", "a"),
            ("incidents/gone/index.html", "g"),
            ("style.11111111.css", "s"),
        ]);
        let site = manifest(&[
            ("api/v2/status.json", "2"),
            ("badges/web.svg", "b"),
            ("history/index.html", "h"),
            ("components/web/index.html", "c"),
            ("history/2/index.html", "h2"),
            ("incidents/a/index.html", "a"),
            ("incidents/b/index.html", "b"),
            ("index.html", "2"),
            ("feed.atom", "f"),
            ("badges/web.json", "j"),
            ("style.22222222.css", "s2"),
        ]);
        let p = plan(&site, &target);
        assert_eq!(
            p.uploads,
            [
                "badges/web.json",
                "badges/web.svg",
                "style.22222222.css",
                "incidents/b/index.html",
                "components/web/index.html",
                "history/2/index.html",
                "history/index.html",
                "feed.atom",
                "index.html",
                "api/v2/status.json",
            ]
        );
        assert_eq!(
            p.deletes,
            ["incidents/gone/index.html", "style.11111111.css"]
        );
        // Each stage is done before the next begins: deeper files before shallower.
        let stages: Vec<usize> = p.stages().map(<[String]>::len).collect();
        assert_eq!(stages, [2, 1, 1, 2, 1, 1, 1, 1]);
        assert_eq!(p.unchanged, 1);
        assert!(plan(&site, &site).is_empty());
    }

    #[test]
    fn a_loop_publishes_at_most_every_so_often() {
        let t0 = std::time::Instant::now();
        let every = std::time::Duration::from_secs(60);
        assert!(due(None, t0, every));
        assert!(!due(
            Some(t0),
            t0 + std::time::Duration::from_secs(59),
            every
        ));
        assert!(due(Some(t0), t0 + every, every));
        assert!(due(Some(t0), t0, std::time::Duration::ZERO));
    }

    #[test]
    fn removed_files_stay_for_a_while_then_go() {
        let t = |m: i64| chrono::DateTime::UNIX_EPOCH + chrono::Duration::minutes(m);
        let keep = chrono::Duration::minutes(5);
        let deletes = vec!["a".to_string(), "b".to_string()];
        let (due, kept) = due_deletes(&deletes, &BTreeMap::new(), t(0), keep);
        assert!(due.is_empty());
        assert_eq!(kept.values().copied().collect::<Vec<_>>(), [t(0), t(0)]);
        let (due, kept) = due_deletes(&deletes[..1], &kept, t(4), keep);
        assert!(due.is_empty() && kept["a"] == t(0), "b came back: not kept");
        let (due, kept) = due_deletes(&deletes[..1], &kept, t(5), keep);
        assert_eq!((due, kept.len()), (vec!["a".to_string()], 0));
        let (due, _) = due_deletes(&deletes, &BTreeMap::new(), t(0), chrono::Duration::zero());
        assert_eq!(due, deletes, "kept for no time: deleted at once");
    }
}
