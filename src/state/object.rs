//! Step 3 (state): region state in S3-compatible object storage, `s3://bucket/prefix`,
//! through the `object_store` crate: per region the objects of [`super::layout`]
//! (`<prefix>/<region>/live.json.zst` and `<prefix>/<region>/days/<day>.json.zst`); a
//! schema-2 object `<prefix>/<region>.json` is read and migrated by the first write.
//!
//! The single-writer guard is on the live object: a worker creates it only if absent,
//! then replaces it only if its ETag is still the one this worker last wrote (If-Match);
//! day pieces are written after it, so a second writer is stopped before it writes one. Another writer's
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
use chrono::{DateTime, NaiveDate, Utc};
use object_store::aws::AmazonS3ConfigKey;
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientConfigKey, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion,
};

use super::RegionState;
use super::layout::{self, DayPiece, Live};
use super::store::{ReadCache, Region};
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
    /// How to write an object last seen with `etag` (`None`: not there): create-if-absent
    /// or If-Match, the ETag as this store matches it; a plain write where conditional
    /// writes are off (asking for them there only fails).
    pub fn put_mode(self, etag: Option<&str>) -> PutMode {
        match (etag, self.enforced) {
            (_, false) => PutMode::Overwrite,
            (None, true) => PutMode::Create,
            (Some(tag), true) => PutMode::Update(UpdateVersion {
                e_tag: Some(if self.unquoted_etags {
                    tag.trim_matches('"').to_string()
                } else {
                    tag.to_string()
                }),
                version: None,
            }),
        }
    }

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

    /// The store's URL, `s3://bucket/prefix`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How a region's state is named in messages.
    pub fn shown(&self, region: &str) -> String {
        format!("{}/{region}/", self.url)
    }

    /// How the control object `name` is named in messages.
    pub fn shown_control(&self, name: &str) -> String {
        format!("{}/.{name}", self.url)
    }

    /// How an object is named in messages.
    fn shown_key(&self, key: &ObjectPath) -> String {
        let rel = key
            .as_ref()
            .strip_prefix(self.prefix.as_ref())
            .unwrap_or(key.as_ref())
            .trim_start_matches('/');
        if rel.is_empty() {
            self.url.clone()
        } else {
            format!("{}/{rel}", self.url)
        }
    }

    fn live_key(&self, region: &str) -> ObjectPath {
        self.key(region).join(layout::LIVE)
    }

    fn legacy_key(&self, region: &str) -> ObjectPath {
        self.key(&format!("{region}.json"))
    }

    /// An object's bytes, ETag and Last-Modified; `None` when it does not exist.
    async fn get(&self, key: &ObjectPath) -> Result<Option<Got>> {
        let shown = self.shown_key(key);
        match self.store.get(key).await {
            Ok(got) => {
                let (etag, at) = (got.meta.e_tag.clone(), got.meta.last_modified);
                let bytes = got
                    .bytes()
                    .await
                    .map_err(|e| trouble::failed("GET", &shown, e))?;
                Ok(Some(Got { bytes, etag, at }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(trouble::failed("GET", &shown, e).into()),
        }
    }

    /// A region's day pieces from `since` on; those that cannot be read are named in the
    /// second list.
    async fn read_days(
        &self,
        region: &str,
        since: NaiveDate,
    ) -> Result<(Vec<DayPiece>, Vec<String>)> {
        use futures::{StreamExt, TryStreamExt};
        let days = self.key(region).join(layout::DAYS);
        let listed: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&days))
            .try_collect()
            .await
            .map_err(|e| trouble::failed("LIST", &self.shown_key(&days), e))?;
        let keys = listed
            .into_iter()
            .filter(|o| {
                o.location
                    .filename()
                    .and_then(layout::day_of_name)
                    .is_some_and(|day| day >= since)
            })
            .map(|o| o.location);
        let got: Vec<(ObjectPath, Result<Option<Got>>)> = futures::stream::iter(keys)
            .map(|key| async move {
                let got = self.get(&key).await;
                (key, got)
            })
            .buffer_unordered(16)
            .collect()
            .await;
        let (mut pieces, mut skipped) = (Vec::new(), Vec::new());
        for (key, got) in got {
            match got.and_then(|g| {
                g.map(|g| layout::decode::<DayPiece>(&g.bytes, &self.shown_key(&key), region))
                    .transpose()
            }) {
                Ok(Some(piece)) => pieces.push(piece),
                Ok(None) => {}
                Err(e) => skipped.push(format!("{e:#}")),
            }
        }
        Ok((pieces, skipped))
    }

    /// What a worker goes on from: a region's live object put together with the pieces
    /// of its open days (closed ones are in the store for good, and not needed).
    async fn read_layout(&self, region: &str, live: &Live) -> Result<Region> {
        let (pieces, skipped) = self.read_days(region, live.since).await?;
        let refs: Vec<&DayPiece> = pieces.iter().collect();
        Ok(Region {
            state: layout::assemble(live, &refs),
            since: Some(live.since),
            skipped,
        })
    }

    /// What the store does with conditional writes ([`Self::probe_guard`]), off when they
    /// are turned off by configuration.
    pub async fn guard_of_store(&self) -> Result<Guard> {
        match self.probe_guard().await {
            Ok(g) => Ok(g),
            Err(e) if is_not_implemented(&e) => Ok(Guard::off(
                "conditional writes are turned off (AWS_CONDITIONAL_PUT=disabled)",
            )),
            Err(e) => Err(e),
        }
    }

    /// [`Self::guard_of_store`], found out once per store URL in this process: a rebuild
    /// loop announces after every rebuild, and the probe costs four requests and a
    /// scratch object.
    pub async fn guard_once(&self) -> Result<Guard> {
        static FOUND: std::sync::Mutex<Vec<(String, Guard)>> = std::sync::Mutex::new(Vec::new());
        let known = FOUND
            .lock()
            .ok()
            .and_then(|f| f.iter().find(|(url, _)| *url == self.url).map(|(_, g)| *g));
        if let Some(guard) = known {
            return Ok(guard);
        }
        let guard = self.guard_of_store().await?;
        if let Ok(mut f) = FOUND.lock() {
            f.push((self.url.clone(), guard));
        }
        Ok(guard)
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

    /// A scratch object written, looked at and deleted: when this machine sent the PUT,
    /// the store's Last-Modified of it, and when the HEAD was answered, each by its own
    /// clock (`doctor` compares them).
    pub async fn clock_probe(&self) -> Result<(DateTime<Utc>, DateTime<Utc>, DateTime<Utc>)> {
        let scratch = self.key(&format!(".pharos-clock-{}", fastrand::u64(..)));
        let shown = self.shown_key(&scratch);
        let sent = Utc::now();
        self.store
            .put(&scratch, PutPayload::from_static(b"{}"))
            .await
            .map_err(|e| trouble::failed("PUT", &shown, e))?;
        let head = self.store.head(&scratch).await;
        let answered = Utc::now();
        let _ = self.store.delete(&scratch).await;
        let meta = head.map_err(|e| trouble::failed("HEAD", &shown, e))?;
        Ok((sent, meta.last_modified, answered))
    }

    /// A small object of the builders' beside the regions (the announce ledger, the
    /// builder lease), named `.<name>` so region listings pass over it: its bytes and
    /// ETag, or `None` when there is none.
    pub async fn get_control(&self, name: &str) -> Result<Option<(bytes::Bytes, Option<String>)>> {
        let key = self.key(&format!(".{name}"));
        let shown = self.shown_key(&key);
        match self.store.get(&key).await {
            Ok(got) => {
                let etag = got.meta.e_tag.clone();
                let bytes = got
                    .bytes()
                    .await
                    .map_err(|e| trouble::failed("GET", &shown, e))?;
                Ok(Some((bytes, etag)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(trouble::failed("GET", &shown, e).into()),
        }
    }

    /// Write the control object `name`: created only if absent when `etag` is `None`,
    /// else replaced only while it still has that ETag (where `guard` says the store
    /// enforces either; elsewhere simply written). A write this process's own retry
    /// already made (same bytes) counts as done. The new ETag.
    pub async fn put_control(
        &self,
        name: &str,
        body: bytes::Bytes,
        etag: Option<&str>,
        guard: Guard,
    ) -> Result<Option<String>, ControlError> {
        let key = self.key(&format!(".{name}"));
        let shown = self.shown_key(&key);
        let opts = PutOptions {
            mode: guard.put_mode(etag),
            ..Default::default()
        };
        match self
            .store
            .put_opts(&key, PutPayload::from(body.clone()), opts)
            .await
        {
            Ok(done) => Ok(done.e_tag),
            Err(
                e @ (object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. }),
            ) => match self.get_control(name).await {
                Ok(Some((now, tag))) if now == body => Ok(tag),
                _ => Err(ControlError::Conflict(format!(
                    "{shown} was changed by another builder ({})",
                    trouble::said(&e)
                ))),
            },
            Err(e) => Err(ControlError::Failed(
                trouble::failed("PUT", &shown, e).into(),
            )),
        }
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
    ) -> Result<(ObjectWriter, Option<Region>)> {
        let guard = self.guard_of_store().await?;
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
        let live_key = self.live_key(region);
        let (key, read, etag) = self.read_to_open(region, lease, move_aside).await?;
        let is_live = key == live_key;
        let shown = self.shown_key(&key);
        let state = read.as_ref().map(|r| &r.state);
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
        if let Some(read) = &read {
            for s in &read.skipped {
                tracing::warn!("{s}; that day's history is left out");
            }
        }
        let writer = ObjectWriter {
            store: self.store.clone(),
            shown: self.shown_key(&live_key),
            region_key: self.key(region),
            legacy_key: self.legacy_key(region),
            url: self.url.clone(),
            key: live_key,
            region: region.to_string(),
            etag: if is_live { etag } else { None },
            guard,
            uncertain: Vec::new(),
        };
        Ok((writer, read))
    }

    /// What a starting worker goes on from: the region's live object and day pieces, or
    /// else its schema-2 object; with the key read and its ETag. A damaged one is
    /// refused, or with `move_aside` copied aside (after watching it for a lease).
    async fn read_to_open(
        &self,
        region: &str,
        lease: Duration,
        move_aside: bool,
    ) -> Result<(ObjectPath, Option<Region>, Option<String>)> {
        // The live object, else a schema-2 object to migrate.
        let live_key = self.live_key(region);
        let (key, got) = match self.get(&live_key).await? {
            Some(got) => (live_key.clone(), Some(got)),
            None => {
                let legacy = self.legacy_key(region);
                let got = self.get(&legacy).await?;
                (legacy, got)
            }
        };
        let is_live = key == live_key;
        let shown = self.shown_key(&key);
        let (read, etag) = match got {
            Some(got) => {
                let etag = got.etag.clone();
                let kind = if is_live { Kind::Live } else { Kind::Legacy };
                let read = match parse_object(kind, &got.bytes, &shown, region) {
                    Ok(Parsed::Live(live)) => self.read_layout(region, &live).await.map(Some),
                    Ok(Parsed::Legacy(state)) => Ok(Some(Region {
                        state: *state,
                        since: None,
                        skipped: Vec::new(),
                    })),
                    Ok(Parsed::Day(_)) => Ok(None),
                    Err(e) => Err(e),
                };
                match read {
                    Ok(read) => (read, etag),
                    Err(e) if move_aside && !is_transient(&e) => {
                        // Something may still be writing it (a newer pharos whose files
                        // this one cannot read): watch it for a lease first.
                        if !self.unchanged_for(&key, etag.as_ref(), lease).await {
                            bail!(
                                "{shown} changed while this worker watched it before moving it aside: \
                                 another worker of region \"{region}\" is writing it. Stop that worker first"
                            );
                        }
                        // Keep a copy; the next write replaces it under If-Match on its
                        // ETag where the store enforces it. Day pieces stay.
                        let aside = ObjectPath::from(format!(
                            "{}.damaged-{}",
                            key.as_ref(),
                            Utc::now().format("%Y%m%dT%H%M%SZ")
                        ));
                        self.store
                            .put(&aside, got.bytes.into())
                            .await
                            .map_err(|e| trouble::failed("PUT", &self.shown_key(&aside), e))?;
                        tracing::warn!(
                            "{e:#}; kept a copy as {} and starting afresh",
                            self.shown_key(&aside)
                        );
                        (None, if is_live { etag } else { None })
                    }
                    Err(e) if is_transient(&e) => return Err(e),
                    Err(e) => {
                        return Err(e).with_context(|| {
                            format!(
                                "refusing to overwrite the state of region \"{region}\" \
                                 (`pharos probe --move-aside` keeps a copy as <name>.damaged-<time> and starts afresh)"
                            )
                        });
                    }
                }
            }
            None => (None, None),
        };
        Ok((key, read, etag))
    }

    /// The ETags of every region's live object (and of schema-2 objects): they change
    /// with every write of a worker, since each write carries the live object. One LIST
    /// of the prefix and one HEAD per region.
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
        for dir in listing.common_prefixes {
            let Some(region) = dir.filename().map(str::to_string) else {
                continue;
            };
            match self.store.head(&dir.clone().join(layout::LIVE)).await {
                Ok(meta) => out.push((region, meta.e_tag)),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    return Err(trouble::failed("HEAD", &self.shown_key(&dir), e).into());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// When each region under the prefix was last written, by its worker's clock and by
    /// the store's Last-Modified ([`super::store::LastWrite`]); the regions that cannot be
    /// read, with the reason. One LIST and one GET per region.
    pub async fn last_writes(&self) -> Result<(Vec<super::store::LastWrite>, Vec<String>)> {
        let listing = self
            .store
            .list_with_delimiter(Some(&self.prefix))
            .await
            .map_err(|e| trouble::failed("LIST", &self.url, e))?;
        let mut keys: Vec<(String, Kind, ObjectPath)> = listing
            .common_prefixes
            .iter()
            .filter_map(|dir| {
                let region = dir.filename()?.to_string();
                Some((region.clone(), Kind::Live, self.live_key(&region)))
            })
            .collect();
        for o in &listing.objects {
            let Some(region) = o.location.filename().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if !region.starts_with('.') && !keys.iter().any(|(r, _, _)| r == region) {
                keys.push((region.to_string(), Kind::Legacy, o.location.clone()));
            }
        }
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let (mut found, mut skipped) = (Vec::new(), Vec::new());
        for (region, kind, key) in keys {
            let shown = self.shown_key(&key);
            let got = match self.get(&key).await {
                Ok(Some(got)) => got,
                Ok(None) => continue,
                Err(e) => {
                    skipped.push(format!("{e:#}"));
                    continue;
                }
            };
            let written_at = match parse_object(kind, &got.bytes, &shown, &region) {
                Ok(Parsed::Live(live)) => live.written_at,
                Ok(Parsed::Legacy(state)) => state.written_at,
                Ok(Parsed::Day(_)) => continue,
                Err(e) => {
                    skipped.push(format!("{e:#}"));
                    continue;
                }
            };
            found.push(super::store::LastWrite {
                region,
                written_at,
                stored_at: got.at,
            });
        }
        Ok((found, skipped))
    }

    /// Read one region: its live object and day pieces, or its schema-2 object.
    pub async fn read(&self, region: &str) -> Result<Option<RegionState>> {
        let mut cache = ReadCache::default();
        let (states, skipped) = self.read_regions(&mut cache, Some(region)).await?;
        for s in &skipped {
            tracing::warn!("{s}");
        }
        Ok(states.into_iter().next())
    }

    /// Read every region (hidden names skipped). What cannot be read is reported in the
    /// second list and left out.
    pub async fn read_all(&self) -> Result<(Vec<RegionState>, Vec<String>)> {
        self.read_all_cached(&mut ReadCache::default()).await
    }

    /// [`ObjectStates::read_all`], reading again only the objects whose ETag changed
    /// since `cache` last saw them.
    pub async fn read_all_cached(
        &self,
        cache: &mut ReadCache,
    ) -> Result<(Vec<RegionState>, Vec<String>)> {
        self.read_regions(cache, None).await
    }

    async fn read_regions(
        &self,
        cache: &mut ReadCache,
        only: Option<&str>,
    ) -> Result<(Vec<RegionState>, Vec<String>)> {
        cache.bytes_read = 0;
        let regions = self.listed(only).await?;
        let wanted: std::collections::HashSet<&str> = regions
            .values()
            .flatten()
            .map(|(_, m)| m.location.as_ref())
            .collect();
        cache.objects.retain(|k, _| wanted.contains(k.as_str()));
        let (changed, skipped) = self.fetch_changed(&regions, cache).await;
        let mut states = Vec::new();
        for (region, objects) in &regions {
            let seen: Vec<&SeenObject> = objects
                .iter()
                .filter_map(|(_, m)| cache.objects.get(m.location.as_ref()))
                .collect();
            let live = seen.iter().find_map(|s| match &s.value {
                Parsed::Live(l) => Some((l.clone(), s.at)),
                _ => None,
            });
            let legacy = seen.iter().find_map(|s| match &s.value {
                Parsed::Legacy(state) => Some(((**state).clone(), s.at)),
                _ => None,
            });
            let (mut state, at) = match (live, legacy) {
                (Some((live, at)), _) => match cache.assembled.get(region) {
                    Some(state) if !changed.contains(region) => (state.clone(), at),
                    _ => {
                        let pieces: Vec<&DayPiece> = seen
                            .iter()
                            .filter_map(|s| match &s.value {
                                Parsed::Day(d) => Some(d.as_ref()),
                                _ => None,
                            })
                            .collect();
                        let state = layout::assemble(&live, &pieces);
                        cache.assembled.insert(region.clone(), state.clone());
                        (state, at)
                    }
                },
                (None, Some(legacy)) => legacy,
                (None, None) => continue,
            };
            state.stored_at = Some(at);
            states.push(state);
        }
        cache.assembled.retain(|r, _| regions.contains_key(r));
        tracing::debug!("state: read {} bytes", cache.bytes_read);
        Ok((states, skipped))
    }

    /// The objects under the prefix (or of one region) by region: its live object and
    /// day pieces, or else its schema-2 object. Other names are not state.
    async fn listed(&self, only: Option<&str>) -> Result<Listed> {
        use futures::TryStreamExt;
        let under = only.map_or_else(|| self.prefix.clone(), |r| self.key(r));
        let mut listed: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&under))
            .try_collect()
            .await
            .map_err(|e| trouble::failed("LIST", &self.shown_key(&under), e))?;
        if let Some(region) = only
            && let Ok(meta) = self.store.head(&self.legacy_key(region)).await
        {
            listed.push(meta);
        }
        let mut regions = Listed::new();
        for meta in listed {
            let rel = meta
                .location
                .as_ref()
                .strip_prefix(self.prefix.as_ref())
                .unwrap_or(meta.location.as_ref())
                .trim_start_matches('/')
                .to_string();
            let parts: Vec<&str> = rel.split('/').collect();
            let (region, kind) = match parts.as_slice() {
                [file] => match file.strip_suffix(".json") {
                    Some(r) => (r, Kind::Legacy),
                    None => continue,
                },
                [r, name] if *name == layout::LIVE => (*r, Kind::Live),
                [r, days, name] if *days == layout::DAYS && layout::day_of_name(name).is_some() => {
                    (*r, Kind::Day)
                }
                _ => continue,
            };
            if region.is_empty() || region.starts_with('.') || only.is_some_and(|o| o != region) {
                continue;
            }
            regions
                .entry(region.to_string())
                .or_default()
                .push((kind, meta));
        }
        // A schema-2 object beside a live object is one whose migration was under way;
        // day pieces older than the kept windows are not read.
        for objects in regions.values_mut() {
            let has_live = objects.iter().any(|(k, _)| *k == Kind::Live);
            objects.retain(|(k, _)| (*k == Kind::Legacy) != has_live);
            let day =
                |m: &object_store::ObjectMeta| m.location.filename().and_then(layout::day_of_name);
            let newest = objects.iter().filter_map(|(_, m)| day(m)).max();
            if let Some(oldest) = newest.map(layout::oldest_kept) {
                objects.retain(|(k, m)| *k != Kind::Day || day(m).is_some_and(|d| d >= oldest));
            }
        }
        Ok(regions)
    }

    /// Read the objects whose ETag `cache` has not seen; the regions they belong to, and
    /// what could not be read.
    async fn fetch_changed(
        &self,
        regions: &Listed,
        cache: &mut ReadCache,
    ) -> (std::collections::HashSet<String>, Vec<String>) {
        use futures::StreamExt;
        let to_get: Vec<(&String, Kind, &ObjectPath)> = regions
            .iter()
            .flat_map(|(r, objects)| objects.iter().map(move |(k, m)| (r, *k, m)))
            .filter(|(_, _, m)| {
                cache
                    .objects
                    .get(m.location.as_ref())
                    .is_none_or(|seen| seen.etag.is_none() || seen.etag != m.e_tag)
            })
            .map(|(r, k, m)| (r, k, &m.location))
            .collect();
        let fetched: Vec<_> = futures::stream::iter(to_get)
            .map(|(region, kind, key)| async move { (region, kind, key, self.get(key).await) })
            .buffer_unordered(16)
            .collect()
            .await;
        let (mut changed, mut skipped) = (std::collections::HashSet::new(), Vec::new());
        for (region, kind, key, got) in fetched {
            changed.insert(region.clone());
            let shown = self.shown_key(key);
            let parsed = got.and_then(|got| {
                got.map(|g| {
                    cache.bytes_read += g.bytes.len() as u64;
                    parse_object(kind, &g.bytes, &shown, region).map(|value| SeenObject {
                        etag: g.etag,
                        at: g.at,
                        value,
                    })
                })
                .transpose()
            });
            match parsed {
                Ok(Some(seen)) => {
                    cache.objects.insert(key.to_string(), seen);
                }
                Ok(None) => {}
                Err(e) => {
                    cache.objects.remove(key.as_ref());
                    skipped.push(format!("{e:#}"));
                }
            }
        }
        (changed, skipped)
    }
}

/// A region's objects by region name.
type Listed = std::collections::BTreeMap<String, Vec<(Kind, object_store::ObjectMeta)>>;

/// What an object of `kind` holds, named `shown` in errors.
fn parse_object(kind: Kind, bytes: &[u8], shown: &str, region: &str) -> Result<Parsed> {
    Ok(match kind {
        Kind::Live => Parsed::Live(Arc::new(layout::decode(bytes, shown, region)?)),
        Kind::Day => Parsed::Day(Arc::new(layout::decode(bytes, shown, region)?)),
        Kind::Legacy => {
            let state = super::parse(&String::from_utf8_lossy(bytes), shown)?;
            if state.region != region {
                bail!(
                    "{shown} holds the state of region \"{}\"; a region's object must be named <region>.json",
                    state.region
                );
            }
            Parsed::Legacy(Box::new(state))
        }
    })
}

/// An object as read.
struct Got {
    bytes: bytes::Bytes,
    etag: Option<String>,
    at: chrono::DateTime<Utc>,
}

/// What an object of a region is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Live,
    Day,
    Legacy,
}

/// An object read by an earlier build, by key.
pub type Seen = std::collections::HashMap<String, SeenObject>;

/// An object as an earlier build read it.
#[derive(Debug)]
pub struct SeenObject {
    etag: Option<String>,
    /// Its Last-Modified, by the store's clock.
    at: chrono::DateTime<Utc>,
    value: Parsed,
}

/// An object's contents.
#[derive(Debug)]
enum Parsed {
    Live(Arc<Live>),
    Day(Arc<DayPiece>),
    Legacy(Box<RegionState>),
}

/// Whether a read failed for a reason that may pass (the store was away), not because
/// of what the object holds.
fn is_transient(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<trouble::StoreError>())
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

/// Why writing a control object failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Another process changed or created the object since it was read.
    #[error("{0}")]
    Conflict(String),
    /// The store could not be reached or refused the write.
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// Why writing a region's state failed.
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
    /// The live object.
    key: ObjectPath,
    /// The region's folder, for its day pieces.
    region_key: ObjectPath,
    /// The schema-2 object, retired by the first write.
    legacy_key: ObjectPath,
    url: String,
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

    /// Write a day piece, `name` under the region's folder (no guard: the live object,
    /// written first, holds it).
    pub async fn put_piece(&self, name: &str, bytes: Vec<u8>) -> Result<(), WriteError> {
        let key = name
            .split('/')
            .fold(self.region_key.clone(), |k, part| k.join(part));
        let shown = format!("{}/{}/{name}", self.url, self.region);
        tracing::debug!("state: PUT {shown} ({} bytes)", bytes.len());
        self.store
            .put(&key, PutPayload::from(bytes))
            .await
            .map_err(|e| WriteError::Failed(trouble::failed("PUT", &shown, e).into()))?;
        tracing::debug!("state: PUT {shown} done");
        Ok(())
    }

    /// Delete a day piece that fell out of the kept windows; best effort (readers leave
    /// such pieces alone anyway).
    pub async fn delete_piece(&self, name: &str) {
        let key = name
            .split('/')
            .fold(self.region_key.clone(), |k, part| k.join(part));
        if let Err(e) = self.store.delete(&key).await
            && !matches!(e, object_store::Error::NotFound { .. })
        {
            tracing::debug!("deleting {}/{}/{name}: {e}", self.url, self.region);
        }
    }

    /// Keep a migrated schema-2 object as `<region>.json.schema-2` (no longer read).
    pub async fn retire_legacy(&self) -> Result<(), WriteError> {
        let to = ObjectPath::from(format!("{}.schema-2", self.legacy_key.as_ref()));
        match self.store.rename(&self.legacy_key, &to).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => {
                let shown = format!("{}/{}.json", self.url, self.region);
                Err(WriteError::Failed(
                    trouble::failed("MOVE", &shown, e).into(),
                ))
            }
        }
    }

    /// Replace the live object with `bytes` if nobody else changed it since our last
    /// write.
    pub async fn write(&mut self, bytes: Vec<u8>) -> Result<(), WriteError> {
        let body = bytes::Bytes::from(bytes);
        let attempt = hash(&body);
        let mut adopted = false;
        tracing::debug!("state: PUT {} ({} bytes)", self.shown, body.len());
        loop {
            let opts = PutOptions {
                mode: self.guard.put_mode(self.etag.as_deref()),
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
                    tracing::debug!("state: PUT {} done", self.shown);
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

    /// A live object of an empty region.
    fn state_bytes(region: &str, written: chrono::DateTime<Utc>) -> Vec<u8> {
        let state = RegionState::new(region, written);
        layout::encode(&layout::live(&state, written.date_naive())).unwrap()
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
                &ObjectPath::from("status/eu/live.json.zst"),
                PutPayload::from_static(b"{}"),
            )
            .await
            .unwrap();
        let err = w.write(state_bytes("eu", Utc::now())).await.unwrap_err();
        assert!(matches!(err, WriteError::Fatal(_)), "{err}");
        assert!(
            err.to_string().contains(
                "s3://bucket/status/eu/live.json.zst was changed by another writer since this worker last wrote it"
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
        // The first write makes the live object, which is read from then on.
        w.write(state_bytes("eu", Utc::now())).await.unwrap();
        let live = ObjectPath::from("status/eu/live.json.zst");
        let now = inner.inner.get(&live).await.unwrap().bytes().await.unwrap();
        layout::decode::<Live>(&now, "live", "eu").unwrap();
        assert!(s.read("eu").await.unwrap().is_some());
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
        assert_eq!(state.map(|s| s.state.region), Some("eu".to_string()));
        drop(inner);
    }

    #[tokio::test]
    async fn a_schema_2_object_is_migrated_by_the_first_write_and_read_back_whole() {
        let (s, inner) = states(Quirky::default());
        let now = Utc::now();
        let year = layout::tests::year(365, now - chrono::Duration::minutes(1));
        let mut body = Vec::new();
        super::super::write_json(&year, &mut body).unwrap();
        inner
            .inner
            .put(&ObjectPath::from("status/eu.json"), body.into())
            .await
            .unwrap();
        let store = super::super::store::Store::Object(s.clone());
        let (mut writer, read) = store
            .open("eu", Duration::from_millis(100), false)
            .await
            .unwrap();
        let read = read.unwrap();
        assert_eq!(read, year);
        let shared = Arc::new(std::sync::RwLock::new(read));
        shared.write().unwrap().written_at = now;
        writer.write(&shared, now, false).await.unwrap();
        let (states, skipped) = s.read_all().await.unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(states.len(), 1);
        let mut back = states[0].clone();
        assert!(back.stored_at.is_some());
        back.stored_at = None;
        let mut expected = year.clone();
        expected.written_at = now;
        assert_eq!(back.written_at, expected.written_at);
        assert_eq!(back, expected);
        assert!(
            inner
                .inner
                .head(&ObjectPath::from("status/eu.json.schema-2"))
                .await
                .is_ok()
        );
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
        let schema_2 = |region: &str| {
            let mut out = Vec::new();
            super::super::write_json(&RegionState::new(region, Utc::now()), &mut out).unwrap();
            out
        };
        put("status/eu.json", schema_2("eu")).await;
        put("status/us/live.json.zst", state_bytes("us", Utc::now())).await;
        put("status/us/days/notes.txt", b"hello".to_vec()).await;
        put("status/ap.json", schema_2("us")).await;
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
