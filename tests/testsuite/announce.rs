//! `pharos announce` against a receiver on 127.0.0.1 that plays a generic webhook, Slack,
//! Discord and Mastodon, checking each request against the shape the service documents,
//! and the ledger's exactly-once promise across runs, failures and a SIGKILL.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::{ProjectTest, stderr, stdout, until, wait_limit};

/// One request as received.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) path: String,
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: serde_json::Value,
    /// The body as text (for a target that sends no JSON).
    pub(crate) text: String,
}

/// Records requests; answers each with `status` (0: never answer).
pub(crate) struct Receiver {
    pub(crate) port: u16,
    got: Arc<Mutex<Vec<Request>>>,
    status: Arc<AtomicU16>,
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got: Arc<Mutex<Vec<Request>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(200));
        let delay_ms = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (g, s, d) = (got.clone(), status.clone(), delay_ms.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (g, s, d) = (g.clone(), s.clone(), d.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream);
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                    let mut headers = HashMap::new();
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                        }
                    }
                    let len: usize = headers
                        .get("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    g.lock().unwrap().push(Request {
                        path,
                        headers,
                        body: serde_json::from_slice(&body).unwrap_or_default(),
                        text: String::from_utf8_lossy(&body).to_string(),
                    });
                    std::thread::sleep(Duration::from_millis(d.load(Ordering::SeqCst)));
                    let code = s.load(Ordering::SeqCst);
                    if code == 0 {
                        std::thread::sleep(Duration::from_secs(60));
                        return;
                    }
                    let mut stream = reader.into_inner();
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {code} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
                    );
                });
            }
        });
        Receiver {
            port,
            got,
            status,
            delay_ms,
        }
    }

    /// Answer the next requests with `code` (0: never answer).
    pub(crate) fn set_status(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }

    /// Answer each request only after `ms` milliseconds.
    pub(crate) fn set_delay(&self, ms: u64) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Every request so far.
    pub(crate) fn all(&self) -> Vec<Request> {
        self.got.lock().unwrap().clone()
    }

    pub(crate) fn requests(&self, path: &str) -> Vec<Request> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

const NOW: &str = "2026-11-20T12:00:00Z";

fn project(r: &Receiver) -> ProjectTest {
    let t = ProjectTest::new();
    t.write(
        "components.yaml",
        &format!(
            "page:\n  title: Acme Status\n  base_url: https://status.acme.test\n\
             components:\n  - id: api\n    name: API\n\
             announce:\n\
             \x20 - kind: webhook\n    url: http://127.0.0.1:{p}/hook\n\
             \x20 - kind: slack\n    url: ${{SLACK_URL}}\n\
             \x20 - kind: discord\n    url: http://127.0.0.1:{p}/discord\n\
             \x20 - kind: mastodon\n    server: http://127.0.0.1:{p}\n    token: ${{MASTODON_TOKEN}}\n",
            p = r.port
        ),
    );
    t.write("probes.yaml", "regions:\n  - name: r1\nprobes: []\n");
    // One old incident (before the 24-hour start) and one recent one with two updates.
    t.write(
        "incidents/2026-11-01-old.md",
        "---\ntitle: Old trouble\nimpact: minor\ncomponents: [api]\n---\n## 2026-11-01T10:00:00Z resolved\nFine.\n",
    );
    t.write(
        "incidents/2026-11-20-api.md",
        "---\ntitle: API errors\nimpact: major\ncomponents: [api]\n---\n\
         ## 2026-11-20T11:30:00Z identified\nA bad deploy; rolling back. @everyone\n\n\
         ## 2026-11-20T11:00:00Z investigating\nWe are looking into errors on the API.\n",
    );
    t
}

fn announce(t: &ProjectTest, r: &Receiver) -> std::process::Command {
    let mut cmd = t.cmd(&["announce", "--now", NOW]);
    cmd.env("SLACK_URL", format!("http://127.0.0.1:{}/slack", r.port))
        .env("MASTODON_TOKEN", "secret-token");
    cmd
}

fn run(t: &ProjectTest, r: &Receiver) -> std::process::Output {
    let child = announce(t, r)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_limit(child, Duration::from_secs(30))
}

#[test]
fn each_item_reaches_each_target_once_in_its_documented_shape() {
    let r = Receiver::start();
    let t = project(&r);
    let out = run(&t, &r);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    for path in ["/hook", "/slack", "/discord", "/api/v1/statuses"] {
        let got = r.requests(path);
        assert_eq!(
            got.len(),
            2,
            "{path}: the two recent updates, not the old post"
        );
        for req in &got {
            assert_eq!(req.headers["content-type"], "application/json");
            assert!(req.headers["idempotency-key"].starts_with("pharos-"));
            assert!(req.headers["user-agent"].starts_with("pharos/"));
        }
    }
    let hook = &r.requests("/hook")[0].body;
    assert_eq!(hook["title"], "API errors — Investigating", "oldest first");
    assert_eq!(
        hook["url"],
        "https://status.acme.test/incidents/2026-11-20-api/"
    );
    assert_eq!(hook["components"], serde_json::json!(["api"]));
    assert_eq!(hook["published"], "2026-11-20T11:00:00Z");
    let slack = &r.requests("/slack")[1].body;
    assert!(
        slack["text"].as_str().unwrap().starts_with(
            "*<https://status.acme.test/incidents/2026-11-20-api/|API errors — Identified>*\n"
        ),
        "{slack}"
    );
    let discord = &r.requests("/discord")[1].body;
    assert_eq!(discord["allowed_mentions"]["parse"], serde_json::json!([]));
    assert!(discord["content"].as_str().unwrap().contains("@everyone"));
    let toot = &r.requests("/api/v1/statuses")[0];
    assert_eq!(toot.headers["authorization"], "Bearer secret-token");
    assert_eq!(toot.body["visibility"], "public");
    assert!(toot.body["status"].as_str().unwrap().chars().count() <= 500);
    assert!(
        toot.body["status"]
            .as_str()
            .unwrap()
            .ends_with("https://status.acme.test/incidents/2026-11-20-api/")
    );

    // Nothing new: nothing sent. A new update: exactly one more per target.
    let out = run(&t, &r);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(r.requests("/hook").len(), 2);
    let text = t.read("incidents/2026-11-20-api.md");
    t.write(
        "incidents/2026-11-20-api.md",
        &text.replace(
            "---\n## ",
            "---\n## 2026-11-20T11:50:00Z resolved\nAll good.\n\n## ",
        ),
    );
    let out = run(&t, &r);
    assert!(out.status.success(), "{}", stderr(&out));
    for path in ["/hook", "/slack", "/discord", "/api/v1/statuses"] {
        assert_eq!(r.requests(path).len(), 3, "{path}");
    }
    assert!(
        stdout(&out).contains("webhook: sent 1 item(s)"),
        "{}",
        stdout(&out)
    );
    let ledger = t.read("state/.announce-ledger.json");
    assert!(
        !ledger.contains("secret-token") && !ledger.contains("/slack"),
        "{ledger}"
    );

    // A target that refuses: the run fails, and the item is sent on the next run.
    r.status.store(400, Ordering::SeqCst);
    t.write(
        "incidents/2026-11-20-db.md",
        "---\ntitle: DB slow\nimpact: minor\ncomponents: [api]\n---\n## 2026-11-20T11:55:00Z investigating\nSlow queries.\n",
    );
    let out = run(&t, &r);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("answered HTTP 400"),
        "{}",
        stderr(&out)
    );
    r.status.store(200, Ordering::SeqCst);
    let out = run(&t, &r);
    assert!(out.status.success(), "{}", stderr(&out));
    let titles: Vec<String> = r
        .requests("/hook")
        .iter()
        .map(|q| q.body["title"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        titles.iter().filter(|t| t.starts_with("DB slow")).count(),
        2,
        "refused once, then sent: {titles:?}"
    );
}

#[test]
fn a_sigkill_between_sending_and_recording_neither_loses_nor_duplicates() {
    let r = Receiver::start();
    let t = project(&r);
    // The receiver takes the first request and never answers: the worker is killed while
    // the item is out but not yet recorded.
    r.status.store(0, Ordering::SeqCst);
    let child = announce(&t, &r)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    until("the first send", Duration::from_secs(20), || {
        !r.requests("/hook").is_empty()
    });
    let pid = child.id().to_string();
    assert!(crate::harness::signal(
        pid.trim().parse().unwrap(),
        rustix::process::Signal::KILL
    ));
    let _ = wait_limit(child, Duration::from_secs(5));
    let ledger: serde_json::Value =
        serde_json::from_str(&t.read("state/.announce-ledger.json")).unwrap();
    let pending = &ledger["targets"]["webhook"]["pending"];
    assert!(
        pending
            .get("https://status.acme.test/incidents/2026-11-20-api/#2026-11-20T11:00:00Z-investigating")
            .is_some(),
        "{ledger}"
    );
    assert_eq!(ledger["targets"]["webhook"]["sent"], serde_json::json!({}));
    r.status.store(200, Ordering::SeqCst);
    let out = run(&t, &r);
    assert!(out.status.success(), "{}", stderr(&out));
    // The webhook got the first item twice, under one key: a receiver (as Mastodon does
    // with Idempotency-Key) keeps one. Every item arrived; none under two keys.
    let hook = r.requests("/hook");
    let keys: Vec<&str> = hook
        .iter()
        .map(|q| q.headers["idempotency-key"].as_str())
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert_eq!(keys[0], keys[1], "the repeat carries the same key");
    let mut distinct = keys.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 2, "two items, each under one key");
    let ids: Vec<&str> = hook
        .iter()
        .map(|q| q.body["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids[0], ids[1]);
    // The other targets were not reached before the kill: each got both items once.
    for path in ["/slack", "/discord", "/api/v1/statuses"] {
        assert_eq!(r.requests(path).len(), 2, "{path}");
    }
    let ledger = t.read("state/.announce-ledger.json");
    assert!(
        !ledger.contains("\"pending\": {\n"),
        "nothing left pending: {ledger}"
    );
}

#[test]
fn check_names_what_a_target_lacks() {
    let t = ProjectTest::new();
    t.write(
        "components.yaml",
        "page:\n  title: T\n  base_url: https://s.test\ncomponents:\n  - id: api\n    name: API\n\
         announce:\n  - kind: mastodon\n    url: https://x.test/\n  - kind: slack\n  - kind: teams\n",
    );
    t.write("probes.yaml", "regions:\n  - name: r1\nprobes: []\n");
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            "components.yaml:9:10: announce[0]: `url` is not used by mastodon targets; remove it"
        ),
        "{text}"
    );
    assert!(
        text.contains("announce[0]: a mastodon target needs `server:`"),
        "{text}"
    );
    assert!(
        text.contains("announce[1]: a slack target needs `url:`"),
        "{text}"
    );
    assert!(text.contains("announce[2].kind: unknown value \"teams\", expected one of: webhook, slack, discord, mastodon"), "{text}");
}

/// aiosmtpd on 127.0.0.1 with STARTTLS (a certificate for localhost; the CA in the
/// project's `ca.pem`) delivering into the project's `maildir/`; the server and its port.
pub(crate) fn smtp_server(t: &ProjectTest) -> (std::process::Child, u16) {
    let pki = crate::harness::Pki::new();
    let (cert, key) = pki.leaf_pem(&["localhost"]);
    t.write("smtp/cert.pem", &cert);
    t.write("smtp/key.pem", &key);
    t.write("ca.pem", &pki.ca_pem);
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(t.path().join("maildir").join(sub)).unwrap();
    }
    let port = crate::harness::free_port();
    // aiosmtpd refuses mail before STARTTLS unless told otherwise, so delivery proves it.
    let server = std::process::Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg("--tlscert")
        .arg(t.path().join("smtp/cert.pem"))
        .arg("--tlskey")
        .arg(t.path().join("smtp/key.pem"))
        .arg(t.path().join("maildir"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    until("aiosmtpd listening", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    (server, port)
}

/// The mails in the project's maildir.
pub(crate) fn mails(t: &ProjectTest) -> Vec<String> {
    let mut mails = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(dir) = std::fs::read_dir(t.path().join("maildir").join(sub)) {
            for e in dir.flatten() {
                mails.push(std::fs::read_to_string(e.path()).unwrap());
            }
        }
    }
    mails
}

#[test]
fn mail_reaches_subscribers_over_starttls() {
    if !crate::harness::needs(&[crate::harness::Part::Aiosmtpd]) {
        return;
    }
    let have = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        have,
        "aiosmtpd is needed: python3 -m pip install aiosmtpd (bash .ci/run does this)"
    );
    let t = ProjectTest::new();
    let (mut server, port) = smtp_server(&t);
    t.write(
        "components.yaml",
        &format!(
            "page:\n  title: Acme Status\n  base_url: https://status.acme.test\n\
             components:\n  - id: api\n    name: API\n\
             announce:\n  - kind: email\n    smtp: localhost:{port}\n    ca_file: ca.pem\n\
             \x20   from: \"Acme Status <status@acme.test>\"\n    to: [ops@acme.test, cto@acme.test]\n"
        ),
    );
    t.write("probes.yaml", "regions:\n  - name: r1\nprobes: []\n");
    t.write(
        "incidents/2026-11-20-api.md",
        "---\ntitle: API errors\nimpact: major\ncomponents: [api]\n---\n\
         ## 2026-11-20T11:00:00Z investigating\nWe are looking into errors on the API.\n",
    );
    let out = t.run(&["announce", "--now", NOW]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let mails = mails(&t);
    assert_eq!(mails.len(), 1, "one message for both subscribers (Bcc)");
    let mail = &mails[0];
    assert!(
        // The dash is encoded as RFC 2047 asks.
        mail.contains("Subject: API errors =?utf-8?b?4oCU?= Investigating"),
        "{mail}"
    );
    assert!(mail.contains("Message-ID: <pharos-"), "{mail}");
    assert!(
        mail.contains("https://status.acme.test/incidents/2026-11-20-api/"),
        "{mail}"
    );
    // Both subscribers are on the envelope (aiosmtpd writes it as X-RcptTo), neither in
    // the headers: they do not see each other.
    assert!(
        mail.contains("X-RcptTo: status@acme.test, ops@acme.test, cto@acme.test"),
        "{mail}"
    );
    assert!(
        !mail.contains("Bcc:") && !mail.contains("To: ops@"),
        "{mail}"
    );
    assert!(
        mail.contains("We are looking into errors on the API."),
        "{mail}"
    );
    let again = t.run(&["announce", "--now", NOW]);
    assert!(
        stdout(&again).contains("email: sent 0 item(s)") || !again.status.success(),
        "{}",
        stdout(&again)
    );
}

#[test]
fn watch_announces_after_each_rebuild() {
    let r = Receiver::start();
    let t = ProjectTest::new();
    t.write(
        "components.yaml",
        &format!(
            "page:\n  title: Acme Status\n  base_url: https://status.acme.test\n\
             components:\n  - id: api\n    name: API\n\
             announce:\n  - kind: webhook\n    url: http://127.0.0.1:{}/hook\n",
            r.port
        ),
    );
    t.write("probes.yaml", "regions:\n  - name: r1\nprobes: []\n");
    // Every build and announcement of the watch is as of `now`.
    let now: chrono::DateTime<chrono::Utc> = "2026-11-20T12:00:00Z".parse().unwrap();
    let at = |ago: i64| {
        (now - chrono::Duration::minutes(ago)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let first = format!(
        "---\ntitle: API errors\nimpact: major\ncomponents: [api]\n---\n## {} investigating\nLooking.\n",
        at(60)
    );
    t.write("incidents/2026-01-01-api.md", &first);
    let watch = t
        .cmd(&["watch", "--announce"])
        .env("PHAROS_NOW", now.to_rfc3339())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The waits only bound a hang.
    until("the first announcement", Duration::from_secs(60), || {
        r.requests("/hook").len() == 1
    });
    t.write(
        "incidents/2026-01-01-api.md",
        &first.replace(
            "---\n## ",
            &format!("---\n## {} resolved\nFixed.\n\n## ", at(5)),
        ),
    );
    until("the update's announcement", Duration::from_secs(60), || {
        r.requests("/hook").len() == 2
    });
    let _ = crate::harness::stop(watch);
    let titles: Vec<String> = r
        .requests("/hook")
        .iter()
        .map(|q| q.body["title"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        titles,
        vec!["API errors — Investigating", "API errors — Resolved"]
    );
}

#[test]
fn a_dependency_outage_is_announced_once_not_once_per_component() {
    let r = Receiver::start();
    let t = crate::harness::layered_project(&format!(
        "announce:\n  - kind: webhook\n    url: http://127.0.0.1:{}/hook\n",
        r.port
    ));
    crate::harness::database_down(&t, NOW.parse().unwrap());
    let out = run(&t, &r);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let got = r.requests("/hook");
    let titles: Vec<&str> = got
        .iter()
        .map(|q| q.body["title"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        titles,
        vec!["Detected: major outage of Database"],
        "{got:?}"
    );
    assert_eq!(
        got[0].body["components"],
        serde_json::json!(["db", "web", "api"])
    );
    assert!(
        got[0].body["text"]
            .as_str()
            .unwrap_or_default()
            .contains("It affects Website, API."),
        "{:?}",
        got[0].body
    );
}

/// Runs of announce and alert share the ledger and take turns on its lock: one that finds
/// it held waits for it (up to a minute) instead of refusing, then sends everything.
#[test]
fn a_run_waits_for_the_ledger_another_holds() {
    let r = Receiver::start();
    let t = project(&r);
    std::fs::create_dir_all(t.path().join("state")).unwrap();
    let lock = std::fs::File::create(t.path().join("state/.announce.lock")).unwrap();
    lock.lock().unwrap();
    let mut child = announce(&t, &r)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "announce did not wait for the lock"
    );
    assert!(
        r.requests("/hook").is_empty(),
        "sent while another run held the ledger"
    );
    drop(lock);
    let out = wait_limit(child, Duration::from_secs(30));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!r.requests("/hook").is_empty(), "{}", stdout(&out));
}
