//! `pharos announce` to X, Bluesky and Mastodon, against tests/fixtures/social/receiver.py
//! on 127.0.0.1: X's OAuth 1.0a signatures verified by oauthlib, Bluesky's records checked
//! against the app.bsky.feed.post lexicon (graphemes, facet byte offsets, reply refs),
//! Mastodon's replies; each incident one thread on each.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Part, ProjectTest, needs, stderr, stdout, wait_limit};

const NOW: &str = "2026-11-20T12:00:00Z";

/// The receiver, killed when dropped.
struct Receiver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Receiver {
    fn start(t: &ProjectTest, args: &[&str]) -> Receiver {
        let log = t.path().join("receiver.jsonl");
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/social/receiver.py"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&log)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no port: {line:?}"));
        Receiver { child, port, log }
    }

    /// Every request so far, as the receiver logged it.
    fn entries(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn on(&self, path: &str) -> Vec<Value> {
        self.entries()
            .into_iter()
            .filter(|e| e["path"] == path)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A project announcing to the three services at `port`, with `targets` of them (x,
/// bluesky, mastodon).
fn project(port: u16, targets: &[&str]) -> ProjectTest {
    let t = ProjectTest::new();
    let mut announce = String::from("announce:\n");
    for target in targets {
        announce.push_str(match *target {
            "x" => "  - kind: x\n    server: http://127.0.0.1:PORT\n    consumer_key: ${X_API_KEY}\n    consumer_secret: ${X_API_SECRET}\n    access_token: ${X_ACCESS_TOKEN}\n    access_secret: ${X_ACCESS_TOKEN_SECRET}\n",
            "bluesky" => "  - kind: bluesky\n    server: http://127.0.0.1:PORT\n    handle: status.acme.test\n    password: ${BLUESKY_APP_PASSWORD}\n",
            _ => "  - kind: mastodon\n    server: http://127.0.0.1:PORT\n    token: ${MASTODON_TOKEN}\n",
        });
    }
    t.write(
        "components.yaml",
        &format!(
            "page:\n  title: Acme Status\n  base_url: https://status.acme.test\ncomponents:\n  - id: api\n    name: API\n{}",
            announce.replace("PORT", &port.to_string())
        ),
    );
    t.write("probes.yaml", "regions:\n  - name: r1\nprobes: []\n");
    t
}

/// The incident, with its first `n` updates (a Japanese title; the second update is long
/// enough to be cut on every service).
fn incident(t: &ProjectTest, n: usize) {
    let updates = [
        "## 2026-11-20T11:00:00Z investigating\nAPI のエラーを調査しています。\n",
        &format!(
            "## 2026-11-20T11:30:00Z identified\n{}\n",
            "データベースのフェイルオーバーが二度起きました。復旧作業を続けています。 ".repeat(20)
        ),
        "## 2026-11-20T11:50:00Z resolved\nAll fixed.\n",
    ];
    let mut body: Vec<&str> = updates[..n].to_vec();
    body.reverse();
    t.write(
        "incidents/2026-11-20-api.md",
        &format!(
            "---\ntitle: API 障害\nimpact: major\ncomponents: [api]\n---\n{}",
            body.join("\n")
        ),
    );
}

fn announce(t: &ProjectTest) -> std::process::Output {
    let child = t
        .cmd(&["announce", "--now", NOW])
        .env("X_API_KEY", "x-consumer-key")
        .env("X_API_SECRET", "x-consumer-secret")
        .env("X_ACCESS_TOKEN", "x-access-token")
        .env("X_ACCESS_TOKEN_SECRET", "x-access-secret")
        .env("BLUESKY_APP_PASSWORD", "app-pass-word")
        .env("MASTODON_TOKEN", "mastodon-token")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_limit(child, Duration::from_secs(60))
}

fn no_problems(r: &Receiver) {
    for e in r.entries() {
        assert_eq!(e["problems"], serde_json::json!([]), "{e}");
    }
}

const LINK: &str = "https://status.acme.test/incidents/2026-11-20-api/";

#[test]
fn an_incident_of_three_updates_is_one_thread_on_x_bluesky_and_mastodon() {
    if !needs(&[Part::Social]) {
        return;
    }
    let t = ProjectTest::new();
    let r = Receiver::start(&t, &[]);
    let t = project(r.port, &["x", "bluesky", "mastodon"]);
    incident(&t, 1);
    let out = announce(&t);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    incident(&t, 3);
    let out = announce(&t);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    no_problems(&r);

    // X: three tweets, each after the first a reply to the one before.
    let tweets = r.on("/2/tweets");
    assert_eq!(tweets.len(), 3);
    assert!(tweets[0]["body"].get("reply").is_none());
    for i in 1..3 {
        assert_eq!(
            tweets[i]["body"]["reply"]["in_reply_to_tweet_id"],
            tweets[i - 1]["id"],
            "tweet {i}"
        );
    }
    // Bluesky: three posts; each reply names the first as root and the one before as parent.
    let posts = r.on("/xrpc/com.atproto.repo.createRecord");
    assert_eq!(posts.len(), 3);
    assert_eq!(
        r.on("/xrpc/com.atproto.server.createSession").len(),
        2,
        "one per run"
    );
    for i in 1..3 {
        let reply = &posts[i]["body"]["record"]["reply"];
        assert_eq!(reply["root"]["uri"], posts[0]["uri"], "post {i}");
        assert_eq!(reply["root"]["cid"], posts[0]["cid"]);
        assert_eq!(reply["parent"]["uri"], posts[i - 1]["uri"]);
        assert_eq!(reply["parent"]["cid"], posts[i - 1]["cid"]);
    }
    // Mastodon: three statuses, a chain of replies.
    let statuses = r.on("/api/v1/statuses");
    assert_eq!(statuses.len(), 3);
    for i in 1..3 {
        assert_eq!(statuses[i]["body"]["in_reply_to_id"], statuses[i - 1]["id"]);
    }
    // Every post has the link; the long one is cut with "…" before it, on each service.
    let texts = [
        tweets[1]["body"]["text"].clone(),
        posts[1]["body"]["record"]["text"].clone(),
        statuses[1]["body"]["status"].clone(),
    ];
    for text in texts {
        let text = text.as_str().unwrap_or_default();
        assert!(text.starts_with("API 障害 — Identified\n\n"), "{text}");
        assert!(text.ends_with(&format!("…\n\n{LINK}")), "{text}");
    }
    // The Japanese facet covers the link's bytes (the receiver checked it; here, that
    // there is one).
    let facet = &posts[0]["body"]["record"]["facets"][0];
    assert_eq!(facet["features"][0]["uri"], LINK);
    // Nothing more on a third run.
    let before = r.entries().len();
    let out = announce(&t);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(r.entries().len(), before);
}

#[test]
fn x_rate_limit_waits_for_the_reset_and_delivers_once() {
    if !needs(&[Part::Social]) {
        return;
    }
    let t = ProjectTest::new();
    let r = Receiver::start(&t, &["--x-rate-limit-once"]);
    let t = project(r.port, &["x"]);
    incident(&t, 1);
    let out = announce(&t);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    no_problems(&r);
    let tweets = r.on("/2/tweets");
    let answers: Vec<i64> = tweets
        .iter()
        .map(|e| e["answer"].as_i64().unwrap_or(201))
        .collect();
    assert_eq!(
        answers,
        [429, 201],
        "waited for the reset, then posted once"
    );
    assert_eq!(announce(&t).status.code(), Some(0));
    assert_eq!(r.on("/2/tweets").len(), 2, "and never again");
}

/// A rate limit that resets in an hour is not waited for: the item waits in the ledger,
/// the run says so (no failure), and later runs leave X alone until the reset.
#[test]
fn x_rate_limit_far_ahead_defers_the_item_and_later_runs_wait() {
    if !needs(&[Part::Social]) {
        return;
    }
    let t = ProjectTest::new();
    let r = Receiver::start(&t, &["--x-rate-limit-hour"]);
    let t = project(r.port, &["x"]);
    incident(&t, 1);
    let out = announce(&t);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("note: x: rate-limited by the service until ")
            && stderr(&out).contains("1 item(s) wait"),
        "{}",
        stderr(&out)
    );
    let ledger: Value = serde_json::from_str(&t.read("state/.announce-ledger.json")).unwrap();
    assert!(ledger["targets"]["x"]["not_before"].is_string(), "{ledger}");
    assert_eq!(ledger["targets"]["x"]["sent"], serde_json::json!({}));
    let out = announce(&t);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(r.on("/2/tweets").len(), 1, "no request before the reset");
}

/// A send whose outcome was not recorded (the process died after the post went out) is
/// never a second post: X refuses the same text as a duplicate, which counts as sent, and
/// Bluesky's record is found under the item's own key (and its thread goes on from it). On
/// X, where the repeat tells no id, the lost thread entry makes the next update a post of
/// its own, not a reply and not a failure.
#[test]
fn a_crash_after_posting_is_never_a_double_post_and_a_lost_thread_starts_anew() {
    if !needs(&[Part::Social]) {
        return;
    }
    let t = ProjectTest::new();
    let r = Receiver::start(&t, &[]);
    let t = project(r.port, &["x", "bluesky"]);
    incident(&t, 1);
    assert!(announce(&t).status.success());
    // As if the run had died between the post and its record.
    let ledger_path = "state/.announce-ledger.json";
    let mut ledger: Value = serde_json::from_str(&t.read(ledger_path)).unwrap();
    for target in ["x", "bluesky"] {
        let entry = &mut ledger["targets"][target];
        let sent = entry["sent"].as_object_mut().unwrap();
        let (id, at) = sent
            .iter()
            .next()
            .map(|(k, v)| (k.clone(), v.clone()))
            .unwrap();
        sent.clear();
        entry["pending"] = serde_json::json!({ id: at });
        entry.as_object_mut().unwrap().remove("threads");
    }
    t.write(ledger_path, &serde_json::to_string(&ledger).unwrap());
    let out = announce(&t);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let tweets = r.on("/2/tweets");
    assert_eq!(tweets.len(), 2, "tried again");
    assert_eq!(tweets[1]["answer"], 403, "a duplicate, counted as sent");
    assert_eq!(
        r.on("/xrpc/com.atproto.repo.createRecord").len(),
        1,
        "found, not made again"
    );
    // The next update: its thread entries are gone, so it stands alone on both.
    incident(&t, 3);
    let out = announce(&t);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    no_problems(&r);
    let tweets = r.on("/2/tweets");
    assert_eq!(tweets.len(), 4);
    assert!(
        tweets[2]["body"].get("reply").is_none(),
        "standalone: {tweets:?}"
    );
    assert_eq!(
        tweets[3]["body"]["reply"]["in_reply_to_tweet_id"],
        tweets[2]["id"]
    );
    let posts = r.on("/xrpc/com.atproto.repo.createRecord");
    assert_eq!(posts.len(), 3);
    // Bluesky's repeat found the first post, so its thread goes on from it.
    let reply = &posts[1]["body"]["record"]["reply"];
    assert_eq!(reply["root"]["uri"], posts[0]["uri"]);
    assert_eq!(reply["parent"]["uri"], posts[0]["uri"]);
    assert_eq!(
        posts[2]["body"]["record"]["reply"]["parent"]["uri"],
        posts[1]["uri"]
    );
}

#[test]
fn check_names_what_an_x_or_bluesky_target_lacks() {
    let t = ProjectTest::new();
    t.write(
        "components.yaml",
        "page:\n  title: Acme Status\n  base_url: https://status.acme.test\ncomponents:\n  - id: api\n    name: API\n\
         announce:\n  - kind: x\n    consumer_key: ${X_API_KEY}\n    consumer_secret: ${X_API_SECRET}\n    access_token: ${X_ACCESS_TOKEN}\n    token: nope\n\
         \x20 - kind: bluesky\n    server: ftp://pds.test\n    handle: a.test\n    password: ${P}\n\
         \x20 - kind: bluesky\n    consumer_key: x\n",
    );
    t.write("probes.yaml", "regions:\n  - name: r1\nprobes: []\n");
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let text = stdout(&out);
    for want in [
        "components.yaml:8:5: announce[0]: an x target needs `access_secret: ${X_ACCESS_TOKEN_SECRET}`",
        "components.yaml:12:12: announce[0]: `token` is not used by x targets; remove it",
        "announce[1]: server \"ftp://pds.test\" is not an http(s) address; leave it out for https://bsky.social",
        "announce[2]: `consumer_key` is not used by bluesky targets; remove it",
        "announce[2]: a bluesky target needs `handle: status.acme.example (the account's handle)`",
        "announce[2]: a bluesky target needs `password: ${BLUESKY_APP_PASSWORD} (an app password, never the account's own)`",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn the_readme_announcements_example_is_a_valid_config() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("\n## Announcements\n").unwrap()..];
    let start = section.find("```yaml\n").unwrap() + "```yaml\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    assert!(example.starts_with("announce:\n"), "{example}");
    for kind in [
        "webhook", "slack", "discord", "mastodon", "email", "x", "bluesky",
    ] {
        assert!(
            example.contains(&format!("- kind: {kind} ")),
            "the example shows {kind}"
        );
    }
    let t = ProjectTest::new();
    t.write(
        "components.yaml",
        &format!(
            "page:\n  title: Acme Status\n  base_url: https://status.acme.test\ncomponents:\n  - id: api\n    name: API\n{example}"
        ),
    );
    t.write("probes.yaml", "regions:\n  - name: r1\nprobes: []\n");
    let mut cmd = t.cmd(&["check"]);
    for var in [
        "SLACK_WEBHOOK_URL",
        "DISCORD_WEBHOOK_URL",
        "MASTODON_TOKEN",
        "SMTP_USER",
        "SMTP_PASSWORD",
        "X_API_KEY",
        "X_API_SECRET",
        "X_ACCESS_TOKEN",
        "X_ACCESS_TOKEN_SECRET",
        "BLUESKY_APP_PASSWORD",
    ] {
        cmd.env(var, "https://hooks.test/x");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}
