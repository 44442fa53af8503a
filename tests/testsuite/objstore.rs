//! `--state s3://…`: region state in real S3-compatible stores on 127.0.0.1. Ceph's RADOS
//! Gateway (Debian's radosgw 16.2: one monitor, one memstore OSD) always; Garage
//! single-node as well when a `garage` binary is installed.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use pharos::state::layout::{self, DayPiece, Live};

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::harness::{
    ProjectTest, Reply, Server, free_port, project_with, stderr, stdout, stop, until, wait_limit,
};

const BUCKET: &str = "statebucket";
const ACCESS_KEY: &str = "GK0123456789abcdef01234567";
const SECRET_KEY: &str = "testsecretkey0123456789abcdef";

/// A running S3 server and how to reach it.
pub(crate) struct S3 {
    endpoint: String,
    region: &'static str,
    pids: Vec<u32>,
    _dir: tempfile::TempDir,
    /// A child we started in the foreground (the unguarded store), killed on drop.
    child: Option<Child>,
}

impl Drop for S3 {
    fn drop(&mut self) {
        // SIGTERM, then SIGKILL for a daemon still there after 5 s (an OSD may linger).
        for pid in &self.pids {
            crate::harness::signal(*pid, rustix::process::Signal::TERM);
        }
        let gone = |pid: &u32| !std::path::Path::new(&format!("/proc/{pid}")).exists();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !self.pids.iter().all(gone) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        for pid in self.pids.iter().filter(|p| !gone(p)) {
            crate::harness::signal(*pid, rustix::process::Signal::KILL);
        }
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ceph")
        .join(name)
}

impl S3 {
    /// Ceph: monitor, memstore OSD and radosgw, started by the script from
    /// ../shared/reference/object-storage.md, then a bucket.
    pub(crate) fn ceph() -> S3 {
        assert!(
            Command::new("sh")
                .args([
                    "-c",
                    "command -v radosgw && command -v ceph-mon && command -v ceph-osd"
                ])
                .output()
                .is_ok_and(|o| o.status.success()),
            "Ceph is not installed: apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd (bash .ci/run does this)"
        );
        let dir = tempfile::Builder::new()
            .prefix("pharos-ceph-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let out = Command::new("bash")
            .arg(fixture("start-rgw.sh"))
            .env("D", dir.path().join("c"))
            .env("RGW_PORT", port.to_string())
            .env("AK", ACCESS_KEY)
            .env("SK", SECRET_KEY)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let run = dir.path().join("c/run");
        let pids: Vec<u32> = ["rgw", "osd", "mon"]
            .iter()
            .filter_map(|d| std::fs::read_to_string(run.join(format!("{d}.pid"))).ok())
            .filter_map(|p| p.trim().parse().ok())
            .collect();
        let s3 = S3 {
            endpoint: format!("http://127.0.0.1:{port}"),
            region: "us-east-1",
            pids,
            _dir: dir,
            child: None,
        };
        assert!(
            out.status.success(),
            "starting Ceph failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let made = Command::new("python3")
            .arg(fixture("create-bucket.py"))
            .args([&s3.endpoint, BUCKET, ACCESS_KEY, SECRET_KEY])
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        s3
    }

    /// A store that takes every conditional write as a plain one, as Garage did before
    /// v2: moto's S3 server behind a front that drops If-None-Match and If-Match
    /// (tests/fixtures/s3/unguarded.py), with the bucket made.
    pub(crate) fn unguarded() -> S3 {
        use std::io::BufRead;
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/s3/unguarded.py"
        );
        let mut child = Command::new("python3")
            .args([script, BUCKET])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut port = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        let port: u16 = port
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no port from unguarded.py: {port:?}"));
        S3 {
            endpoint: format!("http://127.0.0.1:{port}"),
            region: "us-east-1",
            pids: Vec::new(),
            _dir: tempfile::tempdir().unwrap(),
            child: Some(child),
        }
    }

    /// The environment a pharos process needs for this store.
    pub(crate) fn env<'a>(&'a self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", self.region)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ALLOW_HTTP", "true")
    }

    /// A client of our own, to look at and meddle with the objects.
    pub(crate) fn client(&self) -> Arc<dyn ObjectStore> {
        pharos::state::object::install_crypto();
        Arc::new(
            object_store::aws::AmazonS3Builder::new()
                .with_endpoint(&self.endpoint)
                .with_allow_http(true)
                .with_region(self.region)
                .with_bucket_name(BUCKET)
                .with_access_key_id(ACCESS_KEY)
                .with_secret_access_key(SECRET_KEY)
                .build()
                .unwrap(),
        )
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

const STATE: &str = "s3://statebucket/pharos/prod";

fn pharos(t: &ProjectTest, s3: &S3, args: &[&str]) -> Command {
    let mut cmd = t.cmd(args);
    cmd.arg("--state").arg(STATE);
    s3.env(&mut cmd);
    cmd
}

fn run(t: &ProjectTest, s3: &S3, args: &[&str]) -> Output {
    let mut cmd = pharos(t, s3, args);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_limit(child, Duration::from_secs(60))
}

fn project(up: &Server, down: &Server) -> ProjectTest {
    project_with(
        &format!(
            "  - id: web-home\n    kind: http\n    url: {}/\n    components: [web]\n    interval: 1s\n    timeout: 1s\n    confirm: 1\n\
             \x20 - id: api-health\n    kind: http\n    url: {}/\n    components: [api]\n    interval: 1s\n    timeout: 1s\n    confirm: 1\n",
            up.url(),
            down.url()
        ),
        &["r1", "r2", "r3"],
    )
}

/// Each round: `probe --once` per region writes through the store, and a build reads it.
fn round_trip(t: &ProjectTest, s3: &S3) -> String {
    let mut first_err = String::new();
    for region in ["r1", "r2"] {
        let out = run(
            t,
            s3,
            &[
                "probe",
                "--region",
                region,
                "--once",
                "--write-every",
                "400ms",
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        if region == "r1" {
            first_err = stderr(&out);
        }
    }
    assert!(
        !t.path().join("state/r1").exists() && !t.path().join("state/r1.json").exists(),
        "state went to the store, not the folder"
    );
    // Built as of now: however long reading the store takes, the samples are fresh.
    let now = chrono::Utc::now().to_rfc3339();
    let out = run(t, s3, &["build", "--now", &now]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("(Major System Outage)"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let api = t.read("site/api/v2/components.json");
    assert!(
        api.contains("\"name\":\"API\"") || api.contains("\"name\": \"API\""),
        "{api}"
    );
    let html = t.read("site/index.html");
    assert!(html.contains("id=\"component-api\""), "{html}");
    first_err
}

/// A store error is one line: what failed, what the store said, what to check.
fn assert_one_line(out: &Output, wanted: &[&str]) {
    assert!(!out.status.success());
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.contains(" INFO ")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    for w in wanted {
        assert!(lines[0].contains(w), "{w:?} in {err}");
    }
    assert_eq!(lines[0].matches("s3://").count(), 1, "{err}");
    assert!(!err.contains("error sending request"), "{err}");
    assert!(!err.contains("retry"), "{err}");
}

/// The store says which bucket is missing, and the message says what to check.
fn missing_bucket_is_one_line(t: &ProjectTest, s3: &S3) {
    let mut cmd = t.cmd(&["status", "--json", "--state", "s3://nosuchbucket/p"]);
    s3.env(&mut cmd);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_limit(child, Duration::from_secs(60));
    assert_one_line(
        &out,
        &[
            "LIST s3://nosuchbucket/p failed: NoSuchBucket",
            "check that the bucket exists",
        ],
    );
}

#[test]
fn a_store_that_cannot_be_reached_is_one_line_and_costs_a_worker_no_sample() {
    let up = Server::fixed(Reply::Status(200, "ok".into()));
    let t = project(&up, &up);
    // A port nobody listens on.
    let port = free_port();
    let away = |cmd: &mut Command| {
        cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
            .env("AWS_ALLOW_HTTP", "true")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    };
    // The builder cannot go on without the state: one line, what to check.
    let mut cmd = t.cmd(&["status", "--json", "--state", STATE]);
    away(&mut cmd);
    let out = wait_limit(cmd.spawn().unwrap(), Duration::from_secs(60));
    assert_one_line(
        &out,
        &[
            "LIST s3://statebucket/pharos/prod failed: cannot connect (Connection refused",
            "check that the store is up and that AWS_ENDPOINT_URL points at it",
        ],
    );
    // A worker probes anyway and leaves what it saw in the spool for the next start.
    let spool = t.path().join("spool");
    let mut cmd = t.cmd(&["probe", "--region", "r1", "--once", "--state", STATE]);
    away(&mut cmd);
    cmd.arg("--spool").arg(&spool);
    let out = wait_limit(cmd.spawn().unwrap(), Duration::from_secs(60));
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a round that missed the store: {err}"
    );
    assert!(
        err.contains("failed: cannot connect") && err.contains("Probing anyway"),
        "{err}"
    );
    assert!(!err.contains("retry"), "{err}");
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(spool.join("r1.json")).unwrap()).unwrap();
    let probes: Vec<&str> = kept["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["probe"].as_str())
        .collect();
    assert_eq!(probes.len(), 2, "{kept}");
    assert!(
        probes.contains(&"web-home") && probes.contains(&"api-health"),
        "{kept}"
    );
    assert!(err.contains("samples kept in"), "{err}");
}

/// Samples of `probe` in the region's state in the store (its live object and day pieces
/// put together): every check the daily roll-ups counted.
fn checks_in_store(client: &Arc<dyn ObjectStore>, region: &str, probe: &str) -> u64 {
    let states =
        pharos::state::object::ObjectStates::with_store(client.clone(), STATE, "pharos/prod");
    let Some(state) = runtime().block_on(states.read(region)).unwrap() else {
        return 0;
    };
    state.probes.get(probe).map_or(0, |p| {
        p.history.daily.checks.iter().map(|c| u64::from(*c)).sum()
    })
}

/// The samples a stopped worker says it took (`samples=N` in its last line).
fn samples_taken(out: &Output) -> u64 {
    let err = stderr(out);
    let at = err.rfind("samples=").expect("a summary line");
    err[at + "samples=".len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{err}"))
}

/// The store stops (its gateway frozen) for 60 s under a worker started during the
/// outage, stopped during it and started again: once the store is back, every sample
/// each of them took is in the region's history.
fn an_outage_costs_no_sample(t: &ProjectTest, s3: &S3) {
    let client = s3.client();
    let spool = t.path().join("spool-r1");
    let worker = || {
        let mut cmd = pharos(
            t,
            s3,
            &["probe", "--region", "r1", "--write-every", "400ms"],
        );
        cmd.arg("--spool")
            .arg(&spool)
            // A frozen store answers nothing: give up on a request in a second.
            .env("AWS_TIMEOUT", "1s")
            .env("AWS_CONNECT_TIMEOUT", "1s")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let checks = || {
        checks_in_store(&client, "r1", "web-home") + checks_in_store(&client, "r1", "api-health")
    };
    let earlier = checks();
    // Before the outage: a worker writes the region's history.
    let before = stop_after(worker(), Duration::from_secs(3));
    assert!(before.status.success(), "{}", stderr(&before));
    assert_eq!(checks(), earlier + samples_taken(&before));
    let rgw = s3.pids[0];
    let signal = |sig: &str| {
        let ok = Command::new("kill").args([sig, &rgw.to_string()]).status();
        assert!(ok.is_ok_and(|s| s.success()), "kill {sig} {rgw}");
    };
    signal("-STOP");
    let outage = std::time::Instant::now();
    // Started during the outage: it probes, and leaves its samples at stop.
    let first = stop_after(worker(), Duration::from_secs(15));
    let first_err = stderr(&first);
    assert!(first.status.success(), "{first_err}");
    assert!(first_err.contains("Probing anyway"), "{first_err}");
    assert!(spool.join("r1.json").exists(), "{first_err}");
    // Started again during the outage; the store comes back 60 s after it went.
    let second = worker();
    let back_in = Duration::from_secs(60).saturating_sub(outage.elapsed());
    std::thread::sleep(back_in);
    signal("-CONT");
    let rt = runtime();
    let key = ObjectPath::from("pharos/prod/r1/live.json.zst");
    let etag = rt.block_on(client.head(&key)).ok().and_then(|m| m.e_tag);
    until(
        "the worker writes once the store is back",
        Duration::from_secs(90),
        || rt.block_on(client.head(&key)).ok().and_then(|m| m.e_tag) != etag,
    );
    let second = stop(second);
    let second_err = stderr(&second);
    assert!(second.status.success(), "{second_err}");
    assert!(
        second_err.contains("go into this one's state"),
        "{second_err}"
    );
    assert!(
        !spool.join("r1.json").exists(),
        "the spool is written: {second_err}"
    );
    // Every sample of the three workers, none lost and none counted twice (each
    // worker's count is of both probes).
    let taken = samples_taken(&before) + samples_taken(&first) + samples_taken(&second);
    assert_eq!(checks(), earlier + taken, "{first_err}\n{second_err}");
}

/// A schema-2 object holding a year of history becomes day pieces at the worker's first
/// write, with every transition and roll-up kept, and is kept aside.
fn a_schema_2_object_is_migrated_with_nothing_lost(
    t: &ProjectTest,
    s3: &S3,
    up: &Server,
    down: &Server,
) {
    let client = s3.client();
    let rt = runtime();
    let (web, api) = (format!("{}/", up.url()), format!("{}/", down.url()));
    let before = crate::harness::year_of_history(
        "r2",
        &[("web-home", "http", &web), ("api-health", "http", &api)],
        chrono::Utc::now() - chrono::Duration::minutes(1),
    );
    let mut body = Vec::new();
    pharos::state::write_json(&before, &mut body).unwrap();
    let legacy = ObjectPath::from("pharos/prod/r2.json");
    rt.block_on(client.put(&legacy, PutPayload::from(body)))
        .unwrap();
    let out = run(
        t,
        s3,
        &[
            "probe",
            "--region",
            "r2",
            "--once",
            "--write-every",
            "400ms",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let states =
        pharos::state::object::ObjectStates::with_store(client.clone(), STATE, "pharos/prod");
    let after = rt.block_on(states.read("r2")).unwrap().unwrap();
    crate::harness::assert_history_kept(&before, &after);
    assert!(rt.block_on(client.head(&legacy)).is_err(), "no longer read");
    let aside = ObjectPath::from("pharos/prod/r2.json.schema-2");
    assert!(rt.block_on(client.head(&aside)).is_ok(), "kept aside");
    let days: Vec<_> = rt
        .block_on(async {
            use futures::TryStreamExt;
            client
                .list(Some(&ObjectPath::from("pharos/prod/r2/days")))
                .try_collect::<Vec<_>>()
                .await
        })
        .unwrap();
    assert!(days.len() >= 365, "{} day pieces", days.len());
}

/// Workers SIGKILLed at random moments of their writes, six regions at a time (each
/// newcomer watches the killed worker's live object for a lease, 2 s): after every kill,
/// the region's live object and every day piece are whole, the region reads, and no
/// probe a killed worker stored is missing.
fn sigkill_never_leaves_a_torn_object(s3: &S3) {
    let server = Server::start(|_, _| {
        if fastrand::bool() {
            Reply::Status(503, "down".into())
        } else {
            Reply::Delay(Duration::from_millis(fastrand::u64(0..300)))
        }
    });
    let regions = ["k1", "k2", "k3", "k4", "k5", "k6"];
    let probes: String = (0..100)
        .map(|i| format!("  - id: p{i}\n    kind: http\n    url: {}/{i}\n    components: [web]\n    interval: 1s\n    timeout: 1s\n", server.url()))
        .collect();
    let t = project_with(&probes, &regions);
    let (kills, mid_write, parsed) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let deadline = Instant::now() + Duration::from_secs(400);
    let enough = || {
        let (k, m) = (kills.load(Relaxed), mid_write.load(Relaxed));
        k >= 200 && (m >= 40 || k >= 600)
    };
    std::thread::scope(|scope| {
        for region in regions {
            let t = &t;
            let (kills, mid_write, parsed) = (&kills, &mid_write, &parsed);
            scope.spawn(move || {
                let mut stored = 0;
                while !enough() {
                    assert!(
                        Instant::now() < deadline,
                        "only {kills:?} kills in the time allowed"
                    );
                    let text = kill_while_writing(t, s3, region);
                    let n = kills.fetch_add(1, Relaxed) + 1;
                    // A PUT sent and not answered: the kill landed during a write.
                    if text
                        .lines()
                        .rev()
                        .find(|l| l.contains("state: PUT"))
                        .is_some_and(|l| !l.ends_with(" done"))
                    {
                        mid_write.fetch_add(1, Relaxed);
                    }
                    if let Some(probes) = whole_region(s3, region)
                        .unwrap_or_else(|e| panic!("kill {n} of {region}: {e}\n{text}"))
                    {
                        assert!(
                            probes >= stored,
                            "kill {n}: {region} held {stored} probes, now {probes}\n{text}"
                        );
                        stored = probes;
                        parsed.fetch_add(1, Relaxed);
                    }
                }
            });
        }
    });
    let (kills, mid_write, parsed) = (
        kills.into_inner(),
        mid_write.into_inner(),
        parsed.into_inner(),
    );
    eprintln!("object store: {kills} kills, {mid_write} during a PUT, {parsed} states read");
    assert!(
        parsed >= 150,
        "the workers rarely got to write: {parsed} of {kills}"
    );
    assert!(
        mid_write >= 40,
        "too few kills landed during a PUT ({mid_write}) for the test to mean much"
    );
}

const KILLED: &str = "s3://statebucket/pharos/killed";

/// Start a worker for `region`, SIGKILL it at a random moment once it writes (after its
/// lease watch), and return what it logged.
fn kill_while_writing(t: &ProjectTest, s3: &S3, region: &str) -> String {
    let log = t.path().join(format!("{region}.log"));
    let mut cmd = t.cmd(&[
        "probe",
        "--region",
        region,
        "--write-every",
        "0s",
        "--per-host",
        "100",
    ]);
    s3.env(cmd.arg("--state").arg(KILLED))
        .env("PHAROS_LOG", "info,pharos::state::object=debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut child = cmd.spawn().unwrap();
    let wrote = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("state: PUT")
    };
    let started = Instant::now();
    while !wrote() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(fastrand::u64(0..400)));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    std::fs::read_to_string(&log).unwrap_or_default()
}

/// Whether every object of `region` under [`KILLED`] is whole: its live object, each
/// day piece, and the region read as the builder reads it. The number of probes it holds,
/// or `None` before the first write.
fn whole_region(s3: &S3, region: &str) -> Result<Option<usize>, String> {
    let client = s3.client();
    let rt = runtime();
    // The test's own reads meet a busy gateway too: a request cut short is asked again.
    let get = |key: &ObjectPath| -> Result<Option<bytes::Bytes>, String> {
        let mut tries = 0;
        loop {
            match rt.block_on(async { client.get(key).await?.bytes().await }) {
                Ok(b) => return Ok(Some(b)),
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) if tries >= 4 => return Err(format!("GET {key}: {e}")),
                Err(_) => tries += 1,
            }
        }
    };
    let Some(bytes) = get(&ObjectPath::from(format!(
        "pharos/killed/{region}/live.json.zst"
    )))?
    else {
        return Ok(None);
    };
    let live: Live =
        layout::decode(&bytes, "live", region).map_err(|e| format!("torn live object: {e}"))?;
    assert_eq!(live.region, region);
    let prefix = ObjectPath::from(format!("pharos/killed/{region}/days"));
    let days = (0..5)
        .find_map(|_| {
            use futures::TryStreamExt;
            rt.block_on(client.list(Some(&prefix)).try_collect::<Vec<_>>())
                .ok()
        })
        .ok_or("LIST of the day pieces failed five times")?;
    if days.is_empty() {
        return Err("a live object and no day piece".into());
    }
    for day in days {
        let bytes = get(&day.location)?.ok_or(format!("{} listed, then gone", day.location))?;
        layout::decode::<DayPiece>(&bytes, day.location.as_ref(), region)
            .map_err(|e| format!("torn day piece {}: {e}", day.location))?;
    }
    let states =
        pharos::state::object::ObjectStates::with_store(client.clone(), KILLED, "pharos/killed");
    let mut tries = 0;
    let state = loop {
        match rt.block_on(states.read(region)) {
            Ok(state) => break state,
            Err(e) if tries >= 4 => return Err(format!("the region does not read: {e:#}")),
            Err(_) => tries += 1,
        }
    };
    Ok(state.map(|s| s.probes.len()))
}

/// Let a worker run for `d`, then stop it with SIGTERM.
fn stop_after(child: std::process::Child, d: Duration) -> Output {
    std::thread::sleep(d);
    stop(child)
}

/// A second worker for a region that a live worker writes is refused: the newcomer
/// watches the recently written object for a lease and sees it change. This needs no
/// conditional writes, so it holds on Garage too.
fn second_worker_refused(t: &ProjectTest, s3: &S3) {
    let client = s3.client();
    let rt = runtime();
    let key = ObjectPath::from("pharos/prod/r3/live.json.zst");
    let first = pharos(
        t,
        s3,
        &["probe", "--region", "r3", "--write-every", "400ms"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    until(
        "the first r3 worker writes",
        Duration::from_secs(20),
        || rt.block_on(client.head(&key)).is_ok(),
    );
    let second = run(
        t,
        s3,
        &[
            "probe",
            "--region",
            "r3",
            "--once",
            "--write-every",
            "400ms",
        ],
    );
    assert!(!second.status.success());
    assert!(
        stderr(&second).contains("region \"r3\" is already being probed by another worker"),
        "{}",
        stderr(&second)
    );
    let first = stop(first);
    assert!(first.status.success(), "{}", stderr(&first));
}

#[test]
fn ceph_rgw_keeps_region_state_behind_a_single_writer_guard() {
    if !crate::harness::needs(&[crate::harness::Part::Ceph, crate::harness::Part::Python]) {
        return;
    }
    let up = Server::fixed(Reply::Status(200, "ok".into()));
    let down = Server::fixed(Reply::Status(503, "down".into()));
    let s3 = S3::ceph();
    let t = project(&up, &down);
    let client = s3.client();
    let rt = runtime();
    a_schema_2_object_is_migrated_with_nothing_lost(&t, &s3, &up, &down);

    // Round trip; Ceph 16 needs unquoted ETags in If-Match, found by the guard probe.
    let log = round_trip(&t, &s3);
    assert!(
        log.contains("matches If-Match only against unquoted ETags"),
        "{log}"
    );
    assert!(
        !log.contains("does not enforce conditional writes"),
        "{log}"
    );
    // Decided as of just after the first rounds, whatever the machine's pace since: the
    // round below is then a few seconds ahead, well within the clock tolerance.
    let now = chrono::Utc::now().to_rfc3339();
    // A second round replaces r1's object with If-Match: works only if the ETag is sent
    // the way this Ceph wants it (quoted, it would be refused as a conflict).
    let again = run(
        &t,
        &s3,
        &[
            "probe",
            "--region",
            "r1",
            "--once",
            "--write-every",
            "400ms",
        ],
    );
    assert!(again.status.success(), "{}", stderr(&again));

    // The listing the builder does: other objects under the prefix are not regions.
    for (key, body) in [
        ("pharos/prod/notes.txt", "hello"),
        ("pharos/prod/archive/r9.json", "{}"),
        ("pharos/prod/.scratch.json", "{}"),
    ] {
        rt.block_on(client.put(&ObjectPath::from(key), PutPayload::from(body.to_string())))
            .unwrap();
    }
    let status = run(&t, &s3, &["status", "--json", "--now", &now]);
    assert!(status.status.success(), "{}", stderr(&status));
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let text = json.to_string();
    assert!(
        text.contains("major_outage") && !text.contains("r9"),
        "{text}"
    );
    assert!(!stderr(&status).contains("left out"), "{}", stderr(&status));

    // What the worker wrote, read back by hand.
    let shown = run(&t, &s3, &["state", "show", "r1", "--probe", "web-home"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let probe: serde_json::Value = serde_json::from_str(&stdout(&shown)).unwrap();
    assert_eq!(probe["last"]["health"], "up", "{probe}");
    second_worker_refused(&t, &s3);
    missing_bucket_is_one_line(&t, &s3);
    an_outage_costs_no_sample(&t, &s3);
    let key = ObjectPath::from("pharos/prod/r3/live.json.zst");

    // A worker whose object another writer replaces stops instead of overwriting it.
    let worker = pharos(
        &t,
        &s3,
        &["probe", "--region", "r3", "--write-every", "400ms"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let etag = |c: &Arc<dyn ObjectStore>| rt.block_on(c.head(&key)).ok().and_then(|m| m.e_tag);
    let before = etag(&client);
    until("the new r3 worker writes", Duration::from_secs(20), || {
        etag(&client) != before
    });
    let mut foreign = pharos::state::RegionState::new("r3", chrono::Utc::now());
    foreign.written_at = chrono::Utc::now();
    let day = foreign.written_at.date_naive();
    let body = pharos::state::layout::encode(&pharos::state::layout::live(&foreign, day)).unwrap();
    rt.block_on(client.put(&key, PutPayload::from(body)))
        .unwrap();
    let out = wait_limit(worker, Duration::from_secs(20));
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "r3/live.json.zst was changed by another writer since this worker last wrote it"
        ),
        "{}",
        stderr(&out)
    );
    sigkill_never_leaves_a_torn_object(&s3);
    crate::doctor::on_ceph(&s3);
    crate::publish::to_ceph(&s3);
    crate::publish::builders_take_over(&s3);
    crate::publish::alerts_survive_takeovers(&s3);
}

#[test]
fn a_store_without_conditional_writes_round_trip_warns_that_the_guard_is_off() {
    if !crate::harness::needs(&[crate::harness::Part::Moto]) {
        return;
    }
    let s3 = S3::unguarded();
    let up = Server::fixed(Reply::Status(200, "ok".into()));
    let down = Server::fixed(Reply::Status(503, "down".into()));
    let t = project(&up, &down);
    let log = round_trip(&t, &s3);
    assert!(
        log.contains("this store does not enforce conditional writes"),
        "{log}"
    );
    second_worker_refused(&t, &s3);
}
