//! Step 8 (publish), carried out: a copy of `site/` is taken while no build changes it,
//! hashed, and sent to each target by the plan `publish` makes; one target's failure
//! never stops the others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use object_store::aws::AmazonS3ConfigKey;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, AttributeValue, Attributes, ObjectStore, ObjectStoreExt, PutOptions, PutPayload,
};

use super::{Destination, Lifetime, Manifest, Plan, Target, content_type, plan};
use crate::render::output::{self, Claim};

/// The object a bucket target keeps its manifest in (under the prefix): what the last
/// publish put there, so the next one uploads only what changed.
pub const MANIFEST_OBJECT: &str = ".pharos-publish.json";

/// How many uploads run at once on a bucket.
const UPLOADS_AT_ONCE: usize = 8;

/// The site as it is to be published: a copy taken while no build changed it, and the
/// content hash of each file.
pub struct Site {
    copy: Claim,
    /// The project folder the site was built in (site/'s parent).
    project: PathBuf,
    /// Path → SHA-256 (hex).
    pub manifest: Manifest,
}

impl Site {
    /// A copy of the site in `site_dir`, hashed.
    pub fn take(site_dir: &Path) -> Result<Site> {
        let (copy, files) = output::copy_of_site(site_dir)?;
        let root = copy.path().join("site");
        let mut manifest = Manifest::new();
        for rel in files {
            let bytes = std::fs::read(root.join(&rel)).with_context(|| format!("reading {rel}"))?;
            manifest.insert(rel, sha256(&bytes));
        }
        let project = site_dir
            .canonicalize()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| site_dir.to_path_buf());
        Ok(Site {
            copy,
            project,
            manifest,
        })
    }

    /// Where the copy holds `rel`.
    fn file(&self, rel: &str) -> PathBuf {
        self.copy.path().join("site").join(rel)
    }

    fn bytes_of(&self, paths: &[String]) -> u64 {
        paths
            .iter()
            .filter_map(|p| std::fs::metadata(self.file(p)).ok())
            .map(|m| m.len())
            .sum()
    }
}

/// SHA-256 of `bytes`, hex.
pub fn sha256(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// What a publish did (or, in a dry run, would do) to one target.
#[derive(Debug, Clone)]
pub struct Published {
    /// The plan, carried out unless a dry run (its deletes: those due now).
    pub plan: Plan,
    /// Files gone from the site that a bucket still keeps for a while.
    pub kept: usize,
    /// Bytes of the files uploaded.
    pub bytes: u64,
    /// How long it took.
    pub took: Duration,
}

/// How a publish runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Only plan: change nothing.
    pub dry_run: bool,
    /// How long a bucket keeps a file after it left the site.
    pub keep_removed: chrono::Duration,
    /// The time removals are dated by.
    pub now: DateTime<Utc>,
}

/// Publish `site` to `target` (or only plan it, with `dry_run`).
pub fn publish(site: &Site, target: &Target, options: &Options) -> Result<Published> {
    let started = Instant::now();
    let dry_run = options.dry_run;
    let (plan, kept) = match &target.to {
        Destination::Folder(dir) => to_folder(site, dir, dry_run).map(|p| (p, 0)),
        Destination::Bucket { bucket, prefix } => to_bucket(site, target, bucket, prefix, options),
        Destination::Git { remote, branch } => {
            to_git(site, target, remote, branch, dry_run).map(|p| (p, 0))
        }
    }
    .with_context(|| format!("publishing to {}", target.to.shown()))?;
    Ok(Published {
        bytes: site.bytes_of(&plan.uploads),
        plan,
        kept,
        took: started.elapsed(),
    })
}

/// The manifest of the files below `dir` (empty when it does not exist).
fn manifest_of_folder(dir: &Path) -> Result<Manifest> {
    if !dir.is_dir() {
        return Ok(Manifest::new());
    }
    let mut out = Manifest::new();
    // A git checkout's own folder is not the site's.
    for (rel, _) in crate::render::templates::files_under(dir)?
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".git/"))
    {
        let bytes = std::fs::read(dir.join(&rel))
            .with_context(|| format!("reading {}", dir.join(&rel).display()))?;
        out.insert(rel, sha256(&bytes));
    }
    Ok(out)
}

/// Put `files` of `site` below `to`: linked where the folder is on the same file system,
/// copied where not.
fn fill(site: &Site, to: &Path, files: impl Iterator<Item = impl AsRef<str>>) -> Result<()> {
    for rel in files {
        let rel = rel.as_ref();
        let path = to.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let from = site.file(rel);
        if std::fs::hard_link(&from, &path).is_err() {
            std::fs::copy(&from, &path).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

/// The file a folder target carries to show Pharos published it (and may replace it).
pub const FOLDER_MARK: &str = ".pharos-published";

/// A folder target: the whole site written beside it, then swapped in at once. Refused
/// where that would throw away what is not a published site: the project or a folder
/// holding it, or a folder with files Pharos did not put there.
fn to_folder(site: &Site, dir: &Path, dry_run: bool) -> Result<Plan> {
    let before = folder_before(&site.project, dir)?;
    let plan = plan(&site.manifest, &before);
    if dry_run || plan.is_empty() {
        return Ok(plan);
    }
    // Claimed while no other publish to it sweeps (they take turns on its lock).
    let new = {
        let _lock = output::lock_site(dir)?;
        Claim::new(dir, "new")?
    };
    fill(site, new.path(), site.manifest.keys())?;
    std::fs::write(
        new.path().join(FOLDER_MARK),
        "Published by Pharos, which replaces this folder whole at every publish.\n",
    )
    .with_context(|| format!("writing {FOLDER_MARK}"))?;
    output::replace_folder(&new, dir)?;
    Ok(plan)
}

/// What a folder target holds now (without its mark), or why Pharos may not replace it:
/// it is the project, holds it or is its site/, or holds files Pharos did not put there.
fn folder_before(project: &Path, dir: &Path) -> Result<Manifest> {
    let full = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let resolved = full.canonicalize().unwrap_or_else(|_| full.clone());
    if project.starts_with(&resolved) || resolved.starts_with(project.join("site")) {
        bail!(
            "{} is the project, holds it or is its site/: Pharos replaces a folder target whole; publish to a folder of its own, e.g. {}",
            dir.display(),
            project.join("public").display()
        );
    }
    let mut before = manifest_of_folder(dir)?;
    if !before.is_empty() && before.remove(FOLDER_MARK).is_none() {
        bail!(
            "{} holds files Pharos did not publish (no {FOLDER_MARK} in it): Pharos replaces a folder target whole, so give it a new or empty folder",
            dir.display()
        );
    }
    Ok(before)
}

/// Whether a publish to `target` could go through, found without publishing (`doctor`):
/// a folder target may be replaced and its parent written; a bucket takes a scratch
/// object and lets it be deleted; a git remote answers and accepts a dry-run push. What
/// was checked, or why it would fail.
pub fn check_writable(project: &Path, target: &Target) -> Result<String> {
    match &target.to {
        Destination::Folder(dir) => {
            folder_before(project, dir)?;
            // The new site is written beside the folder, then swapped in.
            let full = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
            let parent = full.parent().unwrap_or(Path::new("/"));
            tempfile::Builder::new()
                .prefix(".pharos-doctor-")
                .tempfile_in(parent)
                .with_context(|| format!("{} cannot be written", parent.display()))?;
            Ok(format!("{} can be written and replaced", dir.display()))
        }
        Destination::Bucket { bucket, prefix } => {
            let store = bucket_store(bucket, target.env_prefix.as_deref())?;
            let name = format!(".pharos-doctor-{}", fastrand::u64(..));
            let key = if prefix.is_empty() {
                ObjectPath::from(name)
            } else {
                ObjectPath::from(format!("{prefix}/{name}"))
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let shown = format!("s3://{bucket}/{key}");
            runtime.block_on(async {
                store
                    .put(&key, PutPayload::from_static(b"doctor"))
                    .await
                    .map_err(|e| crate::state::trouble::failed("PUT", &shown, e))?;
                store
                    .delete(&key)
                    .await
                    .map_err(|e| crate::state::trouble::failed("DELETE", &shown, e))?;
                anyhow::Ok(())
            })?;
            Ok(format!("s3://{bucket} takes a PUT and a DELETE"))
        }
        Destination::Git { remote, branch } => {
            let work = tempfile::tempdir().context("creating a folder for a git check")?;
            let dir = work.path();
            git(dir, &["init", "-q"])?;
            let heads = git(dir, &["ls-remote", remote, &format!("refs/heads/{branch}")])?;
            commit(dir, "pharos doctor")?;
            git(
                dir,
                &[
                    "push",
                    "--dry-run",
                    "-q",
                    remote,
                    "HEAD:refs/heads/pharos-doctor-check",
                ],
            )?;
            Ok(format!(
                "the remote answers and accepts a dry-run push; branch {branch} {}",
                if heads.trim().is_empty() {
                    "does not exist yet (the first publish makes it)"
                } else {
                    "exists"
                }
            ))
        }
    }
}

/// The object store of `bucket`, configured as the state store is (`AWS_*` variables), or
/// from the same variables with `env_prefix` before each (a bucket at another provider).
fn bucket_store(bucket: &str, env_prefix: Option<&str>) -> Result<Arc<dyn ObjectStore>> {
    crate::state::object::install_crypto();
    let builder = match env_prefix {
        None => object_store::aws::AmazonS3Builder::from_env(),
        Some(prefix) => {
            let mut builder = object_store::aws::AmazonS3Builder::new();
            // Names and values that are not UTF-8 are no AWS settings: passed over.
            for (name, value) in std::env::vars_os() {
                let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
                    continue;
                };
                let Some(own) = name.strip_prefix(prefix) else {
                    continue;
                };
                if let Some(key) = own
                    .starts_with("AWS_")
                    .then(|| own.to_ascii_lowercase().parse::<AmazonS3ConfigKey>().ok())
                    .flatten()
                {
                    builder = builder.with_config(key, value);
                }
            }
            builder
        }
    };
    let vars = env_prefix.unwrap_or("");
    let store = builder
        .with_bucket_name(bucket)
        .with_retry(object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(60),
            ..Default::default()
        })
        .build()
        .with_context(|| format!("configuring object storage for s3://{bucket}; set {vars}AWS_ACCESS_KEY_ID and {vars}AWS_SECRET_ACCESS_KEY, and {vars}AWS_ENDPOINT_URL (plus {vars}AWS_ALLOW_HTTP=true for http://) for a self-hosted store"))?;
    Ok(Arc::new(store))
}

/// A bucket target: new and changed files uploaded in the plan's order with their
/// content type and cache lifetime, then the manifest, then files gone from the site for
/// [`Options::keep_removed`] deleted. Only files an earlier publish put there (the
/// manifest lists them) are ever deleted; a bucket without a manifest gets every file and
/// loses none. The number of removed files still kept comes with the plan.
fn to_bucket(
    site: &Site,
    target: &Target,
    bucket: &str,
    prefix: &str,
    options: &Options,
) -> Result<(Plan, usize)> {
    let store = bucket_store(bucket, target.env_prefix.as_deref())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let key = |rel: &str| {
        if prefix.is_empty() {
            ObjectPath::from(rel)
        } else {
            ObjectPath::from(format!("{prefix}/{rel}"))
        }
    };
    runtime.block_on(async {
        let manifest_key = key(MANIFEST_OBJECT);
        let before: ManifestFile = match store.get(&manifest_key).await {
            Ok(got) => {
                let bytes = got.bytes().await.context("reading the publish manifest")?;
                serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                    tracing::warn!("{manifest_key} cannot be read ({e}); every file is uploaded again, none deleted");
                    ManifestFile::default()
                })
            }
            Err(object_store::Error::NotFound { .. }) => ManifestFile::default(),
            Err(e) => return Err(anyhow!(e).context("reading the publish manifest")),
        };
        let mut plan = plan(&site.manifest, &before.files);
        let (due, removed) = super::due_deletes(
            &plan.deletes,
            &before.removed,
            options.now,
            options.keep_removed,
        );
        plan.deletes = due;
        let kept = removed.len();
        if options.dry_run || (plan.is_empty() && removed == before.removed) {
            return Ok((plan, kept));
        }
        for tier in plan.stages() {
            use futures::StreamExt;
            let mut puts = futures::stream::iter(tier.iter().map(|rel| {
                let store = store.clone();
                let key = key(rel);
                let path = site.file(rel);
                async move {
                    let bytes = tokio::fs::read(&path)
                        .await
                        .with_context(|| format!("reading {}", path.display()))?;
                    let mut attributes = Attributes::new();
                    attributes.insert(
                        Attribute::ContentType,
                        AttributeValue::from(content_type(rel)),
                    );
                    attributes.insert(
                        Attribute::CacheControl,
                        AttributeValue::from(Lifetime::of(rel).cache_control()),
                    );
                    let options = PutOptions {
                        attributes,
                        ..Default::default()
                    };
                    store
                        .put_opts(&key, PutPayload::from(bytes), options)
                        .await
                        .with_context(|| format!("uploading {rel}"))?;
                    tracing::debug!("publish: PUT {key}");
                    anyhow::Ok(())
                }
            }))
            .buffer_unordered(UPLOADS_AT_ONCE);
            while let Some(done) = puts.next().await {
                done?;
            }
        }
        // Deleted before the manifest says they are gone: a delete that fails is tried
        // again at the next publish.
        for rel in &plan.deletes {
            match store.delete(&key(rel)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(anyhow!(e).context(format!("deleting {rel}"))),
            }
        }
        // What the bucket holds now: the site, and the removed files still kept (with the
        // content they have there).
        let mut files = site.manifest.clone();
        for path in removed.keys() {
            if let Some(hash) = before.files.get(path) {
                files.insert(path.clone(), hash.clone());
            }
        }
        let manifest = serde_json::to_vec(&ManifestFile { files, removed })
            .context("writing the publish manifest")?;
        store
            .put(&manifest_key, PutPayload::from(manifest))
            .await
            .context("writing the publish manifest")?;
        Ok((plan, kept))
    })
}

/// The manifest object's content.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct ManifestFile {
    /// What the bucket holds: path → SHA-256.
    files: Manifest,
    /// Files gone from the site, still kept, and since when.
    #[serde(default)]
    removed: BTreeMap<String, DateTime<Utc>>,
}

/// Run `git` with `args` in `dir`; its stdout, or an error with what it said.
fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        // Named by its subcommand, past any `-c name=value`.
        let mut words = args.iter();
        let mut command = "";
        while let Some(w) = words.next() {
            if *w == "-c" {
                words.next();
            } else {
                command = w;
                break;
            }
        }
        bail!(
            "git {command} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Commit everything staged in `dir` as Pharos, without hooks or signing.
fn commit(dir: &Path, message: &str) -> Result<String> {
    git(
        dir,
        &[
            "-c",
            "user.name=Pharos",
            "-c",
            "user.email=pharos@localhost",
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-q",
            "--no-verify",
            "--allow-empty",
            "-m",
            message,
        ],
    )
}

/// A git target: the branch's newest commit fetched (shallow), its tree replaced by the
/// site (with `CNAME` and `.nojekyll` when configured), one commit when anything
/// changed, pushed.
fn to_git(site: &Site, target: &Target, remote: &str, branch: &str, dry_run: bool) -> Result<Plan> {
    let work = tempfile::tempdir().context("creating a folder for the git checkout")?;
    let dir = work.path();
    git(dir, &["init", "-q"])?;
    let head = format!("refs/heads/{branch}");
    let heads = git(dir, &["ls-remote", remote, &head])?;
    let exists = !heads.trim().is_empty();
    if exists {
        git(dir, &["fetch", "-q", "--depth", "1", remote, &head])?;
        git(dir, &["checkout", "-q", "FETCH_HEAD"])?;
    }
    let extra = extra_files(target);
    let mut before = manifest_of_folder(dir)?;
    before.retain(|p, _| !extra.iter().any(|(n, _)| n == p));
    let plan = plan(&site.manifest, &before);
    let extra_same = extra.iter().all(|(name, content)| {
        std::fs::read_to_string(dir.join(name)).is_ok_and(|c| c == *content)
    });
    if dry_run || (plan.is_empty() && extra_same && exists) {
        return Ok(plan);
    }
    for rel in &plan.deletes {
        std::fs::remove_file(dir.join(rel)).with_context(|| format!("removing {rel}"))?;
    }
    for rel in &plan.uploads {
        let _ = std::fs::remove_file(dir.join(rel));
    }
    fill(site, dir, plan.uploads.iter())?;
    for (name, content) in &extra {
        std::fs::write(dir.join(name), content).with_context(|| format!("writing {name}"))?;
    }
    git(dir, &["add", "-A"])?;
    let message = format!(
        "Publish the status page ({} files changed)",
        plan.uploads.len() + plan.deletes.len()
    );
    commit(dir, &message)?;
    let refspec = format!("HEAD:refs/heads/{branch}");
    git(dir, &["push", "-q", remote, &refspec])?;
    Ok(plan)
}

/// The files a git host's pages need besides the site: `CNAME` for a custom domain,
/// `.nojekyll` so GitHub Pages serves the files as they are.
fn extra_files(target: &Target) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(domain) = &target.cname {
        out.push(("CNAME", format!("{domain}\n")));
    }
    if target.nojekyll {
        out.push((".nojekyll", String::new()));
    }
    out
}
