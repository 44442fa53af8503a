//! Step 3 (state): region files in S3-compatible object storage, `s3://bucket/prefix`,
//! one object `<prefix>/<region>.json` per region, through the `object_store` crate.
//!
//! The single-writer guard: a worker creates its object only if absent, then replaces it
//! only if its ETag is still the one this worker last wrote (If-Match). Another writer's
//! change is detected at the next write and stops this worker. At start, a worker that
//! finds a recently written object watches it for one lease: if it changes, another
//! worker is alive and this one is refused. Live workers write at least twice a lease.
//!
//! Stores differ, so the guard is probed at start on a scratch key:
//! - a second create-if-absent that succeeds means the store ignores conditional writes
//!   (Garage 2.5 does): the guard is off there, and the worker says so;
//! - an If-Match with the current, quoted ETag that fails but succeeds unquoted is Ceph
//!   RGW before ceph/ceph#63348 (Debian bookworm's 16.2): ETags are then sent unquoted.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use chrono::Utc;
use object_store::aws::AmazonS3ConfigKey;
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientConfigKey, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion,
};

use super::RegionState;
use super::trouble;

/// Object storage's HTTP client (reqwest) uses rustls with the process-wide provider:
/// ring, as every other TLS connection of ours. Installing it twice is harmless.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// What the store does with conditional writes, found out at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guard {
    /// Create-if-absent and If-Match are both enforced.
    pub enforced: bool,
    /// If-Match only matches an unquoted ETag (Ceph RGW 16).
    pub unquoted_etags: bool,
    /// Why the guard is off, when it is.
    pub off_because: Option<&'static str>,
}

impl Guard {
    fn off(why: &'static str) -> Guard {
        Guard {
            enforced: false,
            unquoted_etags: false,
            off_because: Some(why),
        }
    }
}

/// Region state files under one `s3://bucket/prefix`.
#[derive(Debug, Clone)]
pub struct ObjectStates {
    store: Arc<dyn ObjectStore>,
    url: String,
    prefix: ObjectPath,
}

/// Split `s3://bucket/prefix` into bucket and prefix.
pub fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| anyhow!("state location \"{url}\" is not an s3:// URL"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("state location \"{url}\" names no bucket; write it as s3://bucket/prefix");
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

impl ObjectStates {
    /// The store at `s3://bucket/prefix`, configured from the usual `AWS_*` variables:
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` /
    /// `AWS_DEFAULT_REGION`, and for self-hosted stores `AWS_ENDPOINT_URL` and
    /// `AWS_ALLOW_HTTP=true`. Requests use path-style addressing unless
    /// `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`.
    pub fn from_url(url: &str) -> Result<Self> {
        let (bucket, prefix) = parse_url(url)?;
        install_crypto();
        // Short limits: a write must never stall probing for minutes (a failed write is
        // retried at the next one anyway). AWS_TIMEOUT and AWS_CONNECT_TIMEOUT override.
        let mut builder =
            object_store::aws::AmazonS3Builder::from_env().with_retry(object_store::RetryConfig {
                max_retries: 2,
                retry_timeout: Duration::from_secs(30),
                ..Default::default()
            });
        for (var, key, value) in [
            ("AWS_CONNECT_TIMEOUT", ClientConfigKey::ConnectTimeout, "5s"),
            ("AWS_TIMEOUT", ClientConfigKey::Timeout, "20s"),
        ] {
            if std::env::var_os(var).is_none() {
                builder = builder.with_config(AmazonS3ConfigKey::Client(key), value);
            }
        }
        let store = builder
            .with_bucket_name(&bucket)
            .build().with_context(|| {
            format!(
                "configuring object storage for {url}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and AWS_ENDPOINT_URL (plus AWS_ALLOW_HTTP=true for http://) for a self-hosted store"
            )
        })?;
        Ok(Self::with_store(Arc::new(store), url, &prefix))
    }

    /// Region files in `store` under `prefix`; `url` names them in messages.
    pub fn with_store(store: Arc<dyn ObjectStore>, url: &str, prefix: &str) -> Self {
        ObjectStates {
            store,
            url: url.trim_end_matches('/').to_string(),
            prefix: ObjectPath::from(prefix),
        }
    }

    fn key(&self, name: &str) -> ObjectPath {
        self.prefix.clone().join(name)
    }

    /// How a region's object is named in messages.
    pub fn shown(&self, region: &str) -> String {
        format!("{}/{region}.json", self.url)
    }

    /// Find out whether the store enforces conditional writes, on a scratch key.
    pub async fn probe_guard(&self) -> Result<Guard> {
        let scratch = self.key(&format!(
            ".pharos-guard-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let shown = format!("{}/{}", self.url, scratch.filename().unwrap_or_default());
        let put = |mode: PutMode| {
            let opts = PutOptions {
                mode,
                ..Default::default()
            };
            self.store
                .put_opts(&scratch, PutPayload::from_static(b"{}"), opts)
        };
        let first = put(PutMode::Create)
            .await
            .map_err(|e| trouble::failed("PUT", &shown, e))?;
        let result = async {
            match put(PutMode::Create).await {
                Ok(_) => return Ok(Guard::off("a second create-if-absent of one key succeeded")),
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(trouble::failed("PUT", &shown, e).into()),
            }
            let update = |tag: String| {
                put(PutMode::Update(UpdateVersion {
                    e_tag: Some(tag),
                    version: None,
                }))
            };
            let etag = first.e_tag.clone().unwrap_or_default();
            let mut unquoted_etags = false;
            match update(etag.clone()).await {
                Ok(_) => {}
                Err(object_store::Error::Precondition { .. }) => {
                    match update(etag.trim_matches('"').to_string()).await {
                        Ok(_) => unquoted_etags = true,
                        Err(e) => {
                            bail!(
                                "{shown}: the store refuses to replace an object whose ETag matches (If-Match): {}; \
                                 it cannot keep a region's state. Set AWS_CONDITIONAL_PUT=disabled to write without the guard",
                                trouble::said(&e)
                            );
                        }
                    }
                }
                Err(e) => return Err(trouble::failed("PUT", &shown, e).into()),
            }
            // And a wrong ETag must be refused, or If-Match is ignored.
            match update("\"0-pharos-stale\"".to_string()).await {
                Ok(_) => Ok(Guard::off("a replacement with a stale ETag (If-Match) succeeded")),
                Err(object_store::Error::Precondition { .. }) => Ok(Guard {
                    enforced: true,
                    unquoted_etags,
                    off_because: None,
                }),
                Err(e) => Err(trouble::failed("PUT", &shown, e).into()),
            }
        }
        .await;
        let _ = self.store.delete(&scratch).await;
        result
    }

    /// Watch `key` for `lease`: whether its ETag stayed `etag` all along. A failed look
    /// (timeout, 5xx) proves nothing: only a new ETag does.
    async fn unchanged_for(
        &self,
        key: &ObjectPath,
        etag: Option<&String>,
        lease: Duration,
    ) -> bool {
        let until = tokio::time::Instant::now() + lease;
        while tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(250).min(lease)).await;
            if let Ok(seen) = self.store.head(key).await
                && seen.e_tag.as_ref() != etag
            {
                return false;
            }
        }
        true
    }

    /// Start writing `region`: read its current state, make sure no other worker writes
    /// it (watching a recently written object for `lease`), and return the writer.
    pub async fn open(
        &self,
        region: &str,
        lease: Duration,
        move_aside: bool,
    ) -> Result<(ObjectWriter, Option<RegionState>)> {
        let shown = self.shown(region);
        let guard = match self.probe_guard().await {
            Ok(g) => g,
            Err(e) if is_not_implemented(&e) => {
                Guard::off("conditional writes are turned off (AWS_CONDITIONAL_PUT=disabled)")
            }
            Err(e) => return Err(e),
        };
        if let Some(why) = guard.off_because {
            tracing::warn!(
                "{}: this store does not enforce conditional writes ({why}), so two workers of region \"{region}\" \
                 could overwrite each other; only a second worker that starts while the first is writing is refused. \
                 Make sure only one runs",
                self.url
            );
        } else if guard.unquoted_etags {
            tracing::info!(
                "{}: the store matches If-Match only against unquoted ETags (Ceph RGW before 17); sending them unquoted",
                self.url
            );
        }
        let key = self.key(&format!("{region}.json"));
        let (state, etag) = match self.store.get(&key).await {
            Ok(got) => {
                let etag = got.meta.e_tag.clone();
                let bytes = got
                    .bytes()
                    .await
                    .map_err(|e| trouble::failed("GET", &shown, e))?;
                let text = String::from_utf8_lossy(&bytes);
                let read = super::parse(&text, &shown).and_then(|state| {
                    if state.region == region {
                        Ok(state)
                    } else {
                        Err(anyhow!(
                            "{shown} holds the state of region \"{}\", not \"{region}\"",
                            state.region
                        ))
                    }
                });
                match read {
                    Ok(state) => (Some(state), etag),
                    Err(e) if move_aside => {
                        // Something may still be writing it (a newer pharos whose files
                        // this one cannot read): watch it for a lease first.
                        if !self.unchanged_for(&key, etag.as_ref(), lease).await {
                            bail!(
                                "{shown} changed while this worker watched it before moving it aside: \
                                 another worker of region \"{region}\" is writing it. Stop that worker first"
                            );
                        }
                        // Keep a copy, then replace it under If-Match on its ETag where the
                        // store enforces it (so a worker that wrote it meanwhile is detected).
                        let aside = format!(
                            "{region}.json.damaged-{}",
                            Utc::now().format("%Y%m%dT%H%M%SZ")
                        );
                        self.store
                            .put(&self.key(&aside), bytes.into())
                            .await
                            .map_err(|e| {
                                trouble::failed("PUT", &format!("{}/{aside}", self.url), e)
                            })?;
                        tracing::warn!(
                            "{e:#}; kept a copy as {}/{aside} and starting afresh",
                            self.url
                        );
                        (None, etag)
                    }
                    Err(e) => {
                        return Err(e).with_context(|| {
                            format!(
                                "refusing to overwrite the state of region \"{region}\" \
                                 (`pharos probe --move-aside` keeps a copy as {region}.json.damaged-<time> and starts afresh)"
                            )
                        });
                    }
                }
            }
            Err(object_store::Error::NotFound { .. }) => (None, None),
            Err(e) => return Err(trouble::failed("GET", &shown, e).into()),
        };
        if let (Some(state), Some(etag)) = (&state, &etag) {
            let age = (Utc::now() - state.written_at).to_std().unwrap_or_default();
            if age < lease * 2 {
                tracing::info!(
                    "{shown} was written {:.0} s ago; watching it for {:.0} s to make sure no other worker of region \"{region}\" is running",
                    age.as_secs_f64(),
                    lease.as_secs_f64()
                );
                if !self.unchanged_for(&key, Some(etag), lease).await {
                    bail!(
                        "region \"{region}\" is already being probed by another worker: {shown} changed while this one watched it. \
                         Stop that worker first, or start this one with another --region"
                    );
                }
            }
        }
        let writer = ObjectWriter {
            store: self.store.clone(),
            key,
            shown,
            region: region.to_string(),
            etag,
            guard,
            uncertain: Vec::new(),
        };
        Ok((writer, state))
    }

    /// Names and ETags of the region objects: changes when any region writes.
    pub async fn fingerprint(&self) -> Result<Vec<(String, Option<String>)>> {
        let listing = self
            .store
            .list_with_delimiter(Some(&self.prefix))
            .await
            .map_err(|e| trouble::failed("LIST", &self.url, e))?;
        let mut out: Vec<(String, Option<String>)> = listing
            .objects
            .into_iter()
            .filter_map(|o| Some((o.location.filename()?.to_string(), o.e_tag)))
            .filter(|(n, _)| n.ends_with(".json") && !n.starts_with('.'))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Read one region's object.
    pub async fn read(&self, region: &str) -> Result<RegionState> {
        let shown = self.shown(region);
        let got = self
            .store
            .get(&self.key(&format!("{region}.json")))
            .await
            .map_err(|e| trouble::failed("GET", &shown, e))?;
        let stored_at = got.meta.last_modified;
        let bytes = got
            .bytes()
            .await
            .map_err(|e| trouble::failed("GET", &shown, e))?;
        let mut state = super::parse(&String::from_utf8_lossy(&bytes), &shown)?;
        state.stored_at = Some(stored_at);
        if state.region != region {
            bail!(
                "{shown} holds the state of region \"{}\"; a region's object must be named <region>.json",
                state.region
            );
        }
        Ok(state)
    }

    /// Read every region's object (`<prefix>/*.json`, hidden names skipped). Objects that
    /// cannot be read as a region's state are reported in the second list and left out.
    pub async fn read_all(&self) -> Result<(Vec<RegionState>, Vec<String>)> {
        let listing = self
            .store
            .list_with_delimiter(Some(&self.prefix))
            .await
            .map_err(|e| trouble::failed("LIST", &self.url, e))?;
        let mut names: Vec<String> = listing
            .objects
            .iter()
            .filter_map(|o| o.location.filename().map(str::to_string))
            .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
            .collect();
        names.sort();
        let reads = names
            .iter()
            .map(|name| self.read(name.trim_end_matches(".json")));
        let mut states = Vec::new();
        let mut skipped = Vec::new();
        for result in futures::future::join_all(reads).await {
            match result {
                Ok(s) => states.push(s),
                Err(e) => skipped.push(format!("{e:#}")),
            }
        }
        Ok((states, skipped))
    }
}

fn is_not_implemented(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let error = c
            .downcast_ref::<trouble::StoreError>()
            .map(|s| &s.error)
            .or_else(|| c.downcast_ref::<object_store::Error>());
        matches!(error, Some(object_store::Error::NotImplemented { .. }))
    })
}

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// This worker must stop: another writer changed the object, or a local state file
    /// cannot be written.
    #[error("{0}")]
    Fatal(String),
    /// The store could not be reached or refused for another reason; try again later.
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// The one writer of a region's object.
#[derive(Debug)]
pub struct ObjectWriter {
    store: Arc<dyn ObjectStore>,
    key: ObjectPath,
    shown: String,
    region: String,
    /// The ETag of the object as this worker last wrote (or first read) it.
    etag: Option<String>,
    guard: Guard,
    /// Hashes of writes whose outcome is unknown (the request failed in flight) since the
    /// last write known to have landed.
    uncertain: Vec<u64>,
}

fn hash(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

impl ObjectWriter {
    /// The store's guard, as probed at start.
    pub fn guard(&self) -> Guard {
        self.guard
    }

    /// Where the object is, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Replace the object with `bytes` if nobody else changed it since our last write.
    pub async fn write(&mut self, bytes: Vec<u8>) -> Result<(), WriteError> {
        let body = bytes::Bytes::from(bytes);
        let attempt = hash(&body);
        let mut adopted = false;
        loop {
            let mode = match (&self.etag, self.guard.enforced) {
                // Where conditional writes are off, asking for them only fails.
                (_, false) => PutMode::Overwrite,
                (None, true) => PutMode::Create,
                (Some(tag), true) => PutMode::Update(UpdateVersion {
                    e_tag: Some(if self.guard.unquoted_etags {
                        tag.trim_matches('"').to_string()
                    } else {
                        tag.clone()
                    }),
                    version: None,
                }),
            };
            let opts = PutOptions {
                mode,
                ..Default::default()
            };
            let error = match self
                .store
                .put_opts(&self.key, PutPayload::from(body.clone()), opts)
                .await
            {
                Ok(done) => {
                    self.etag = done.e_tag;
                    self.uncertain.clear();
                    return Ok(());
                }
                Err(e) => e,
            };
            if !matches!(
                error,
                object_store::Error::Precondition { .. }
                    | object_store::Error::AlreadyExists { .. }
            ) {
                // Keep a few: each may have landed after all.
                if self.uncertain.len() >= 16 {
                    self.uncertain.remove(0);
                }
                self.uncertain.push(attempt);
                return Err(WriteError::Failed(
                    trouble::failed("PUT", &self.shown, error).into(),
                ));
            }
            // Not necessarily another writer: this very write may have landed on a first
            // try that the client then retried, or an earlier write that failed in flight
            // may have. Then the object holds our bytes and its ETag is ours.
            if !adopted && let Ok(got) = self.store.get(&self.key).await {
                let etag = got.meta.e_tag.clone();
                if let Ok(current) = got.bytes().await {
                    let current = hash(&current);
                    if current == attempt {
                        self.etag = etag;
                        self.uncertain.clear();
                        return Ok(());
                    }
                    if self.uncertain.contains(&current) {
                        self.etag = etag;
                        adopted = true;
                        continue;
                    }
                }
            }
            return Err(WriteError::Fatal(format!(
                "{} was changed by another writer since this worker last wrote it ({}): \
                 another worker is probing region \"{}\". This worker stops; run one worker per region",
                self.shown,
                trouble::said(&error),
                self.region
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use futures::stream::BoxStream;
    use object_store::memory::InMemory;
    use object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
        PutMultipartOptions, PutResult,
    };

    use super::*;

    /// An in-memory store that can behave like Garage (conditional writes ignored) or lose
    /// the answer to a write that landed.
    #[derive(Debug, Default)]
    struct Quirky {
        inner: InMemory,
        ignore_conditions: bool,
        /// As object_store does with AWS_CONDITIONAL_PUT=disabled.
        refuse_conditions: bool,
        fail_after_next_put: AtomicBool,
        /// The write lands, then the answer says 412 (a retried request that had landed).
        precondition_after_next_put: AtomicBool,
    }

    impl std::fmt::Display for Quirky {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Quirky")
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for Quirky {
        async fn put_opts(
            &self,
            location: &ObjectPath,
            payload: PutPayload,
            mut opts: PutOptions,
        ) -> object_store::Result<PutResult> {
            if self.ignore_conditions {
                opts.mode = PutMode::Overwrite;
            }
            if self.refuse_conditions && !matches!(opts.mode, PutMode::Overwrite) {
                return Err(object_store::Error::NotImplemented {
                    operation: "conditional put".into(),
                    implementer: "Quirky".into(),
                });
            }
            let done = self.inner.put_opts(location, payload, opts).await?;
            if self
                .precondition_after_next_put
                .swap(false, Ordering::SeqCst)
            {
                return Err(object_store::Error::Precondition {
                    path: location.to_string(),
                    source: "412 on a retry".into(),
                });
            }
            if self.fail_after_next_put.swap(false, Ordering::SeqCst) {
                return Err(object_store::Error::Generic {
                    store: "Quirky",
                    source: "connection reset after the upload".into(),
                });
            }
            Ok(done)
        }
        async fn put_multipart_opts(
            &self,
            location: &ObjectPath,
            opts: PutMultipartOptions,
        ) -> object_store::Result<Box<dyn MultipartUpload>> {
            self.inner.put_multipart_opts(location, opts).await
        }
        async fn get_opts(
            &self,
            location: &ObjectPath,
            options: GetOptions,
        ) -> object_store::Result<GetResult> {
            self.inner.get_opts(location, options).await
        }
        fn delete_stream(
            &self,
            locations: BoxStream<'static, object_store::Result<ObjectPath>>,
        ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
            self.inner.delete_stream(locations)
        }
        fn list(
            &self,
            prefix: Option<&ObjectPath>,
        ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
            self.inner.list(prefix)
        }
        async fn list_with_delimiter(
            &self,
            prefix: Option<&ObjectPath>,
        ) -> object_store::Result<ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }
        async fn copy_opts(
            &self,
            from: &ObjectPath,
            to: &ObjectPath,
            options: CopyOptions,
        ) -> object_store::Result<()> {
            self.inner.copy_opts(from, to, options).await
        }
    }

    fn states(store: Quirky) -> (ObjectStates, Arc<Quirky>) {
        let store = Arc::new(store);
        let states = ObjectStates::with_store(store.clone(), "s3://bucket/status", "status");
        (states, store)
    }

    fn state_bytes(region: &str, written: chrono::DateTime<Utc>) -> Vec<u8> {
        let mut out = Vec::new();
        super::super::write_json(&RegionState::new(region, written), &mut out).unwrap();
        out
    }

    #[tokio::test]
    async fn the_guard_probe_tells_enforcing_stores_from_ignoring_ones() {
        let (enforcing, _) = states(Quirky::default());
        assert_eq!(
            enforcing.probe_guard().await.unwrap(),
            Guard {
                enforced: true,
                unquoted_etags: false,
                off_because: None,
            }
        );
        let (ignoring, inner) = states(Quirky {
            ignore_conditions: true,
            ..Quirky::default()
        });
        let guard = ignoring.probe_guard().await.unwrap();
        assert_eq!(
            guard.off_because,
            Some("a second create-if-absent of one key succeeded")
        );
        let left = inner.inner.list_with_delimiter(None).await.unwrap();
        assert!(left.objects.is_empty(), "the scratch object is removed");
    }

    #[tokio::test]
    async fn a_writer_stops_when_another_writer_changed_its_object() {
        let (s, inner) = states(Quirky::default());
        let (mut w, old) = s
            .open("eu", Duration::from_millis(100), false)
            .await
            .unwrap();
        assert!(old.is_none());
        w.write(state_bytes("eu", Utc::now())).await.unwrap();
        w.write(state_bytes("eu", Utc::now())).await.unwrap();
        // Someone else replaces the object.
        inner
            .inner
            .put(
                &ObjectPath::from("status/eu.json"),
                PutPayload::from_static(b"{}"),
            )
            .await
            .unwrap();
        let err = w.write(state_bytes("eu", Utc::now())).await.unwrap_err();
        assert!(matches!(err, WriteError::Fatal(_)), "{err}");
        assert!(
            err.to_string().contains(
                "s3://bucket/status/eu.json was changed by another writer since this worker last wrote it"
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_garbage_object_is_refused_unless_moved_aside() {
        let (s, inner) = states(Quirky::default());
        let key = ObjectPath::from("status/eu.json");
        inner
            .inner
            .put(&key, PutPayload::from_static(b"garbage"))
            .await
            .unwrap();
        let Err(err) = s.open("eu", Duration::from_millis(100), false).await else {
            panic!("garbage was accepted");
        };
        let err = format!("{err:#}");
        assert!(
            err.contains("refusing to overwrite") && err.contains("--move-aside"),
            "{err}"
        );
        let (mut w, old) = s
            .open("eu", Duration::from_millis(100), true)
            .await
            .unwrap();
        assert!(old.is_none());
        let names: Vec<String> = inner
            .inner
            .list_with_delimiter(Some(&ObjectPath::from("status")))
            .await
            .unwrap()
            .objects
            .into_iter()
            .map(|o| o.location.to_string())
            .collect();
        let aside: Vec<&String> = names
            .iter()
            .filter(|n| n.contains("eu.json.damaged-"))
            .collect();
        assert_eq!(aside.len(), 1, "{names:?}");
        let kept = inner
            .inner
            .get(&ObjectPath::from(aside[0].as_str()))
            .await
            .unwrap();
        assert_eq!(&kept.bytes().await.unwrap()[..], b"garbage");
        // The first write replaces the garbage under If-Match on its ETag.
        w.write(state_bytes("eu", Utc::now())).await.unwrap();
        let now = inner.inner.get(&key).await.unwrap().bytes().await.unwrap();
        super::super::parse(&String::from_utf8_lossy(&now), "eu.json").unwrap();
    }

    #[tokio::test]
    async fn a_write_that_landed_despite_an_error_is_adopted() {
        let (s, inner) = states(Quirky::default());
        let (mut w, _) = s
            .open("eu", Duration::from_millis(100), false)
            .await
            .unwrap();
        w.write(state_bytes("eu", Utc::now())).await.unwrap();
        inner.fail_after_next_put.store(true, Ordering::SeqCst);
        let lost = state_bytes("eu", Utc::now() + chrono::Duration::seconds(1));
        assert!(matches!(w.write(lost).await, Err(WriteError::Failed(_))));
        // The object holds our bytes under an ETag we never saw: not a conflict.
        w.write(state_bytes("eu", Utc::now() + chrono::Duration::seconds(2)))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn conditional_writes_turned_off_still_write() {
        let (s, _) = states(Quirky {
            refuse_conditions: true,
            ..Quirky::default()
        });
        let (mut w, _) = s
            .open("eu", Duration::from_millis(100), false)
            .await
            .unwrap();
        assert_eq!(
            w.guard().off_because,
            Some("conditional writes are turned off (AWS_CONDITIONAL_PUT=disabled)")
        );
        w.write(state_bytes("eu", Utc::now())).await.unwrap();
        w.write(state_bytes("eu", Utc::now())).await.unwrap();
        let (read, _) = s.read_all().await.unwrap();
        assert_eq!(read.len(), 1);
    }

    #[tokio::test]
    async fn a_412_for_our_own_landed_write_is_success() {
        let (s, inner) = states(Quirky::default());
        let (mut w, _) = s
            .open("eu", Duration::from_millis(100), false)
            .await
            .unwrap();
        w.write(state_bytes("eu", Utc::now())).await.unwrap();
        inner
            .precondition_after_next_put
            .store(true, Ordering::SeqCst);
        w.write(state_bytes("eu", Utc::now() + chrono::Duration::seconds(1)))
            .await
            .unwrap();
        // And the writer goes on from the landed write's ETag.
        w.write(state_bytes("eu", Utc::now() + chrono::Duration::seconds(2)))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_second_worker_is_refused_while_the_first_keeps_writing() {
        let (s, inner) = states(Quirky::default());
        let (mut first, _) = s
            .open("eu", Duration::from_millis(300), false)
            .await
            .unwrap();
        first.write(state_bytes("eu", Utc::now())).await.unwrap();
        let alive = tokio::spawn(async move {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = first.write(state_bytes("eu", Utc::now())).await;
            }
        });
        let Err(err) = s.open("eu", Duration::from_millis(300), false).await else {
            panic!("a second worker was let in");
        };
        assert!(
            err.to_string()
                .contains("region \"eu\" is already being probed by another worker"),
            "{err}"
        );
        alive.await.unwrap();
        // Once the first has stopped, a new worker takes over after watching one lease.
        let (_, state) = s
            .open("eu", Duration::from_millis(300), false)
            .await
            .unwrap();
        assert_eq!(state.map(|s| s.region), Some("eu".to_string()));
        drop(inner);
    }

    #[tokio::test]
    async fn reading_lists_region_objects_only() {
        let (s, inner) = states(Quirky::default());
        let put = |key: &'static str, body: Vec<u8>| {
            let inner = inner.clone();
            async move {
                inner
                    .inner
                    .put(&ObjectPath::from(key), PutPayload::from(body))
                    .await
                    .unwrap();
            }
        };
        put("status/eu.json", state_bytes("eu", Utc::now())).await;
        put("status/us.json", state_bytes("us", Utc::now())).await;
        put("status/ap.json", state_bytes("us", Utc::now())).await;
        put("status/notes.txt", b"hello".to_vec()).await;
        put("status/.pharos-guard-1.json", b"{}".to_vec()).await;
        put("status/old/eu.json", state_bytes("eu", Utc::now())).await;
        put("elsewhere/eu.json", state_bytes("eu", Utc::now())).await;
        let (read, skipped) = s.read_all().await.unwrap();
        let regions: Vec<&str> = read.iter().map(|r| r.region.as_str()).collect();
        assert_eq!(regions, vec!["eu", "us"]);
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert!(
            skipped[0].contains("s3://bucket/status/ap.json holds the state of region \"us\""),
            "{skipped:?}"
        );
    }
}
