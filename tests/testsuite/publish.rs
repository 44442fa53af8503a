//! `pharos publish` and `watch --publish`: the built site sent to a folder, to a git
//! branch (a bare repository on disk, read back with git) and to Ceph RGW (run from the
//! Ceph test in `objstore`, which owns the one gateway).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;

use crate::harness::{ProjectTest, project_with, stderr, stdout, stop, until, wait_limit};
use crate::objstore::{S3, runtime};

/// The time the builds of these tests are for, and a second one for "another build".
const NOW: &str = "2026-11-20T12:00:00Z";
const LATER: &str = "2026-11-20T12:07:00Z";

/// How long a publish or a rebuild may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(60);

const PROBES: &str =
    "  - id: p\n    kind: tcp\n    host: 127.0.0.1\n    port: 9\n    components: [web]\n";

fn post(n: usize, words: &str) -> String {
    format!(
        "---\ntitle: Post {n}\nimpact: minor\ncomponents: [{}]\n---\n## 2026-11-{:02}T11:00:00Z resolved\n{words}\n\n## 2026-11-{:02}T10:00:00Z investigating\nLooking {n}.\n",
        if n.is_multiple_of(2) { "web" } else { "api" },
        1 + n % 19,
        1 + n % 19
    )
}

/// A project with `posts` incident posts, built at [`NOW`].
fn built_project(posts: usize) -> ProjectTest {
    let t = project_with(PROBES, &["r1"]);
    for n in 0..posts {
        t.write(&post_path(n), &post(n, &format!("Fixed {n}.")));
    }
    build(&t, NOW);
    t
}

fn post_path(n: usize) -> String {
    format!("incidents/2026-11-{:02}-post-{n}.md", 1 + n % 19)
}

fn build(t: &ProjectTest, now: &str) {
    let out = t.run(&["build", "--now", now]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Every file below `dir` with its bytes, by path (`/` between folders).
pub(crate) fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// What a folder target holds, without the mark Pharos leaves in it.
fn published(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = tree(dir);
    assert!(
        files.remove(".pharos-published").is_some(),
        "the folder carries its mark"
    );
    files
}

/// The files of the tree at `dir`, read while its builds and publishes hold off (they
/// take turns on `.<name>.lock` beside it), so the read itself is never torn.
fn whole_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let lock = dir.with_file_name(format!(
        ".{}.lock",
        dir.file_name().unwrap().to_string_lossy()
    ));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock)
        .unwrap();
    file.lock().unwrap();
    tree(dir)
}

/// The site a clean build of `t`'s inputs at `now` makes, in a project of its own.
fn clean_build(t: &ProjectTest, now: &str) -> BTreeMap<String, Vec<u8>> {
    let copy = project_with(PROBES, &["r1"]);
    copy.write("components.yaml", &t.read("components.yaml"));
    for (rel, bytes) in tree(&t.path().join("incidents")) {
        copy.write(
            &format!("incidents/{rel}"),
            std::str::from_utf8(&bytes).unwrap(),
        );
    }
    build(&copy, now);
    tree(&copy.path().join("site"))
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    stdout(&out)
}

/// The branch `branch` of the repository at `bare`, checked out in a new folder.
fn checkout(bare: &Path, branch: &str) -> (tempfile::TempDir, BTreeMap<String, Vec<u8>>) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("git")
        .args(["clone", "-q", "--branch", branch])
        .arg(bare)
        .arg(dir.path().join("c"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut files = tree(&dir.path().join("c"));
    files.retain(|p, _| !p.starts_with(".git/"));
    (dir, files)
}

#[test]
fn a_folder_and_a_git_branch_get_the_site_and_a_failed_target_holds_back_no_other() {
    let t = built_project(6);
    let bare = tempfile::tempdir().unwrap();
    git(bare.path(), &["init", "-q", "--bare"]);
    let remote = format!("git+file://{}#pages", bare.path().display());
    t.write(
        "components.yaml",
        &format!(
            "{}publish:\n  - to: public\n  - to: \"git+file:///nonexistent/site.git#pages\"\n  - to: \"{remote}\"\n    cname: status.test\n",
            t.read("components.yaml")
        ),
    );
    let site = || tree(&t.path().join("site"));

    // A dry run says what would go where and changes nothing.
    let dry = t.run(&["publish", "--dry-run"]);
    let files = site().len();
    assert!(
        stdout(&dry).contains(&format!("public: would upload {files} file(s)"))
            && stdout(&dry).contains("  + index.html"),
        "{}",
        stdout(&dry)
    );
    assert!(!t.path().join("public").exists());
    assert_eq!(git(bare.path(), &["branch", "--list"]), "");

    // The unreachable remote fails alone: the folder and the other branch get the site.
    let out = t.run(&["publish"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("publishing to git+file:///nonexistent/site.git#pages")
            && stderr(&out).contains("the other targets still go out"),
        "{}",
        stderr(&out)
    );
    assert_eq!(published(&t.path().join("public")), site());
    let (_c, pages) = checkout(bare.path(), "pages");
    let mut want = site();
    want.insert("CNAME".into(), b"status.test\n".to_vec());
    want.insert(".nojekyll".into(), Vec::new());
    assert_eq!(
        pages.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    assert!(pages == want, "the branch holds the site as built");

    // An edit: the folder is the new site, the branch gets one commit of what changed.
    let before = site();
    t.write(&post_path(2), &post(2, "Fixed two, edited."));
    std::fs::remove_file(t.path().join(post_path(3))).unwrap();
    build(&t, NOW);
    t.write(
        "components.yaml",
        &t.read("components.yaml")
            .replace("  - to: \"git+file:///nonexistent/site.git#pages\"\n", ""),
    );
    let out = t.run(&["publish"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = site();
    assert_eq!(published(&t.path().join("public")), after);
    let changed: BTreeSet<String> = after
        .iter()
        .filter(|(p, b)| before.get(*p) != Some(*b))
        .map(|(p, _)| p.clone())
        .chain(before.keys().filter(|p| !after.contains_key(*p)).cloned())
        .collect();
    assert!(changed.contains("incidents/2026-11-04-post-3/index.html"));
    let (c, _) = checkout(bare.path(), "pages");
    let repo = c.path().join("c");
    assert_eq!(git(&repo, &["rev-list", "--count", "HEAD"]).trim(), "2");
    let committed: BTreeSet<String> = git(&repo, &["diff", "--name-only", "HEAD~1", "HEAD"])
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(committed, changed);
    // Nothing new: nothing sent, no empty commit.
    let out = t.run(&["publish"]);
    assert!(
        stdout(&out).contains("public: up to date"),
        "{}",
        stdout(&out)
    );
    let (c, _) = checkout(bare.path(), "pages");
    assert_eq!(
        git(&c.path().join("c"), &["rev-list", "--count", "HEAD"]).trim(),
        "2"
    );
    // Nothing temporary is left beside the folder.
    let left: Vec<String> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| {
            n.starts_with(".public.") && n != ".public.lock"
                || n.starts_with(".site.") && n != ".site.lock"
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn targets_that_are_not_targets_are_refused_with_the_fix() {
    let t = built_project(1);
    // A folder target is replaced whole: never the project, nor a folder of other files.
    std::fs::create_dir_all(t.path().join("www")).unwrap();
    t.write("www/notes.txt", "mine");
    for (to, says) in [
        (".", "is the project, holds it or is its site/"),
        ("..", "is the project, holds it or is its site/"),
        ("site", "is the project, holds it or is its site/"),
        ("www", "holds files Pharos did not publish"),
    ] {
        let out = t.run(&["publish", "--to", to]);
        assert_eq!(out.status.code(), Some(1), "{to}");
        assert!(stderr(&out).contains(says), "{to}: {}", stderr(&out));
    }
    assert_eq!(t.read("www/notes.txt"), "mine");
    assert!(t.path().join("incidents").is_dir() && t.path().join("site/index.html").exists());
    let out = t.run(&["publish", "--to", "https://example.com/"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("https:// is not a publish target; write a folder path, s3://bucket/prefix or git+https://…#branch"),
        "{}",
        stderr(&out)
    );
    let out = t.run(&[
        "publish",
        "--to",
        "git+https://me:hunter2@example.com/s.git",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("carries credentials") && !stderr(&out).contains("hunter2"),
        "{}",
        stderr(&out)
    );
    t.write(
        "components.yaml",
        &format!(
            "{}publish:\n  - to: ftp://example.com/\n  - to: public\n    cname: x.test\n  - to: s3://b/\n    env_prefix: site-\n",
            t.read("components.yaml")
        ),
    );
    let out = t.run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("components.yaml:")
            && text.contains("publish[0]")
            && text.contains("ftp:// is not a publish target")
            && text.contains("publish[1]")
            && text.contains("cname and nojekyll are for git targets")
            && text.contains("publish[2]")
            && text.contains("env_prefix \"site-\" is not a variable name prefix"),
        "{text}"
    );
}

/// A running `watch --publish` and the lines it has printed so far; killed if the test
/// fails before stopping it.
struct Watching {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Watching {
    /// SIGTERM, then its exit.
    fn stop(mut self) -> std::process::Output {
        let child = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap());
        stop(child)
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn watch_publishing(t: &ProjectTest) -> Watching {
    let mut cmd = t.cmd(&["watch", "--publish", "--publish-every", "0s"]);
    cmd.env("PHAROS_NOW", NOW);
    watching(cmd)
}

/// `cmd` running, its lines (stdout and stderr) kept as they come.
fn watching(mut cmd: Command) -> Watching {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let lines = lines.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                lines.lock().unwrap().push(line);
            }
        });
    }
    Watching { child, lines }
}

#[test]
fn watch_publishes_whole_builds_beside_an_outside_build_and_a_second_watch() {
    let t = built_project(12);
    t.write(
        "components.yaml",
        &format!("{}publish:\n  - to: public\n", t.read("components.yaml")),
    );
    let watches = [watch_publishing(&t), watch_publishing(&t)];
    until("the first publish", HANG, || {
        t.path().join("public/index.html").exists()
    });
    for round in 0..6 {
        // Another process builds the site from other inputs (a later time)...
        let before = clean_build(&t, NOW);
        let outside = clean_build(&t, LATER);
        build(&t, LATER);
        // ...and a post is edited, which both watches rebuild and publish.
        t.write(&post_path(round), &post(round, &format!("Round {round}.")));
        let after = clean_build(&t, NOW);
        until("the edit published", HANG, || {
            std::fs::read_to_string(t.path().join("public/index.html")).is_ok_and(|_| {
                whole_tree(&t.path().join("public"))
                    .get(&format!(
                        "incidents/2026-11-{:02}-post-{round}/index.html",
                        1 + round % 19
                    ))
                    .is_some_and(|p| {
                        String::from_utf8_lossy(p).contains(&format!("Round {round}."))
                    })
            })
        });
        // Whenever looked at, each tree is one whole build: the one before the edit,
        // the outside one, or the one after.
        for _ in 0..3 {
            for dir in ["site", "public"] {
                let mut got = whole_tree(&t.path().join(dir));
                got.remove(".pharos-published");
                let which = [
                    (&before, "before"),
                    (&outside, "outside"),
                    (&after, "after"),
                ]
                .iter()
                .find(|(b, _)| **b == got)
                .map(|(_, w)| *w);
                assert!(
                    which.is_some(),
                    "round {round}: {dir}/ is no whole build: {:?}",
                    mixed(&got, &after, &outside)
                );
            }
        }
    }
    // One of the two holds the builder lease and publishes; the other only builds.
    let mut publishing = 0;
    let seen: Vec<String> = watches
        .iter()
        .map(|w| w.lines.lock().unwrap().join("\n"))
        .collect();
    for (w, lines) in watches.into_iter().zip(seen) {
        w.stop();
        assert!(!lines.contains("error"), "{lines}");
        if lines.contains("this builder holds the lease") {
            publishing += 1;
            assert!(lines.contains("public: published"), "{lines}");
        } else {
            assert!(!lines.contains("public: "), "{lines}");
        }
    }
    assert_eq!(publishing, 1);
}

/// Which files of `got` differ from both `a` and `b` (for the message).
fn mixed(
    got: &BTreeMap<String, Vec<u8>>,
    a: &BTreeMap<String, Vec<u8>>,
    b: &BTreeMap<String, Vec<u8>>,
) -> Vec<String> {
    got.keys()
        .chain(a.keys())
        .filter(|p| got.get(*p) != a.get(*p))
        .take(10)
        .map(|p| format!("{p} (as in the other build: {})", got.get(p) == b.get(p)))
        .collect()
}

/// Publishing to Ceph RGW: every file back through the gateway with its type and
/// lifetime, then only changed files uploaded, removed ones deleted when due, and a
/// reader that follows links during 20 publishes never finds a page missing.
pub(crate) fn to_ceph(s3: &S3) {
    let t = built_project(8);
    let to = "s3://statebucket/www";
    let publish = |extra: &[&str]| {
        let mut cmd = t.cmd(&["publish", "--to", to]);
        cmd.args(extra)
            .env("PHAROS_LOG", "info,pharos::publish=debug");
        s3.env(&mut cmd);
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_limit(child, HANG);
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    let put_lines = |out: &std::process::Output| -> BTreeSet<String> {
        stderr(out)
            .lines()
            .filter_map(|l| {
                l.split_once("publish: PUT www/")
                    .map(|(_, k)| k.trim().to_string())
            })
            .collect()
    };
    let client = s3.client();
    let rt = runtime();
    let get = |rel: &str| {
        rt.block_on(async {
            let got = client.get(&ObjectPath::from(format!("www/{rel}"))).await?;
            let attributes = got.attributes.clone();
            Ok::<_, object_store::Error>((got.bytes().await?, attributes))
        })
    };

    let out = publish(&["--now", NOW]);
    let site = tree(&t.path().join("site"));
    assert_eq!(put_lines(&out).len(), site.len(), "{}", stderr(&out));
    for (rel, bytes) in &site {
        let (got, attributes) = get(rel).unwrap();
        assert!(got == bytes, "{rel} came back changed");
        let kind = attributes
            .get(&object_store::Attribute::ContentType)
            .map(|v| v.to_string())
            .unwrap_or_default();
        let want = match rel.rsplit('.').next().unwrap() {
            "html" => "text/html; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            "atom" => "application/atom+xml; charset=utf-8",
            "rss" => "application/rss+xml; charset=utf-8",
            "ics" => "text/calendar; charset=utf-8",
            "json" if rel.ends_with("feed.json") => "application/feed+json",
            "json" => "application/json",
            other => panic!("a file of a kind this test does not know: {other}"),
        };
        assert_eq!(kind, want, "{rel}");
        let cache = attributes
            .get(&object_store::Attribute::CacheControl)
            .map(|v| v.to_string());
        assert_eq!(cache.as_deref(), Some("public, max-age=60"), "{rel}");
    }

    // An edit: only the files that changed go up.
    t.write(&post_path(2), &post(2, "Fixed two, edited."));
    build(&t, NOW);
    let after = tree(&t.path().join("site"));
    let changed: BTreeSet<String> = after
        .iter()
        .filter(|(p, b)| site.get(*p) != Some(*b))
        .map(|(p, _)| p.clone())
        .collect();
    assert!(
        !changed.is_empty() && changed.len() * 2 < after.len(),
        "{changed:?}"
    );
    let out = publish(&["--now", NOW]);
    assert_eq!(put_lines(&out), changed, "{}", stderr(&out));

    // A removed post: kept a while for readers of older pages, then deleted.
    std::fs::remove_file(t.path().join(post_path(3))).unwrap();
    build(&t, NOW);
    let gone = "incidents/2026-11-04-post-3/index.html";
    let out = publish(&["--now", NOW]);
    assert!(
        stdout(&out).contains("1 removed kept a while"),
        "{}",
        stdout(&out)
    );
    assert!(get(gone).is_ok(), "kept for a while");
    let out = publish(&["--now", "2026-11-20T12:05:00Z"]);
    assert!(stdout(&out).contains("deleted 1"), "{}", stdout(&out));
    assert!(matches!(
        get(gone),
        Err(object_store::Error::NotFound { .. })
    ));

    // A reader following links while 20 publishes add posts never meets a missing page.
    let stop_reading = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let client = s3.client();
        let stop_reading = stop_reading.clone();
        std::thread::spawn(move || {
            let rt = runtime();
            let (mut fetched, mut missing) = (0usize, Vec::new());
            let started = Instant::now();
            while !stop_reading.load(std::sync::atomic::Ordering::Relaxed)
                && started.elapsed() < Duration::from_secs(300)
            {
                for page in ["index.html", "history/index.html"] {
                    let Ok(html) = rt.block_on(async {
                        client
                            .get(&ObjectPath::from(format!("www/{page}")))
                            .await?
                            .bytes()
                            .await
                    }) else {
                        missing.push(page.to_string());
                        continue;
                    };
                    for link in links(page, &String::from_utf8_lossy(&html)) {
                        fetched += 1;
                        let head =
                            rt.block_on(client.head(&ObjectPath::from(format!("www/{link}"))));
                        if head.is_err() {
                            missing.push(format!("{link} (linked from {page})"));
                        }
                    }
                }
            }
            (fetched, missing)
        })
    };
    for n in 0..20 {
        t.write(
            &format!("incidents/2026-11-19-new-{n}.md"),
            &post(n, &format!("New {n}.")).replace("title: Post", "title: New post"),
        );
        build(&t, NOW);
        publish(&["--now", NOW]);
    }
    stop_reading.store(true, std::sync::atomic::Ordering::Relaxed);
    let (fetched, missing) = reader.join().unwrap();
    assert!(fetched > 0, "the reader read nothing");
    assert!(missing.is_empty(), "{missing:?}");
    eprintln!("the reader followed {fetched} links during 20 publishes, none missing");
}

/// The site files the page at `page` links to (relative links; folders as their
/// index.html).
fn links(page: &str, html: &str) -> Vec<String> {
    let base: Vec<&str> = page.split('/').collect();
    let base = &base[..base.len() - 1];
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|href| {
            !href.is_empty()
                && !href.contains(':')
                && !href.starts_with('#')
                && !href.starts_with('/')
        })
        .map(|href| {
            let href = href.split(['#', '?']).next().unwrap_or_default();
            let mut parts: Vec<&str> = base.to_vec();
            for seg in href.split('/') {
                match seg {
                    ".." => {
                        parts.pop();
                    }
                    "." => {}
                    s => parts.push(s),
                }
            }
            let mut path = parts.join("/");
            if path.is_empty() || path.ends_with('/') {
                path.push_str("index.html");
            }
            path
        })
        .collect()
}

/// The lease lines a builder printed: whether its latest says it holds the lease, and
/// how many times it took it.
fn role(w: &Watching) -> (bool, usize) {
    let lines = w.lines.lock().unwrap();
    let mut holds = false;
    let mut took = 0;
    for l in lines.iter() {
        if l.contains("this builder holds the lease") {
            holds = true;
            took += 1;
        } else if l.contains("standing by") {
            holds = false;
        }
    }
    (holds, took)
}

/// A post for the builders' test, dated within the day before [`NOW`] so every target
/// announces it.
fn fresh_post(n: usize) -> String {
    format!(
        "---\ntitle: Trouble {n}\nimpact: minor\ncomponents: [web]\n---\n## 2026-11-20T11:{n:02}:30Z resolved\nFixed {n}.\n\n## 2026-11-20T11:{n:02}:00Z investigating\nLooking {n}.\n"
    )
}

/// Builders on one state bucket: one publishes and announces at a time; killed at random
/// moments 20 times (10 with two builders, 10 with three), another takes over each time.
/// The takeover times are printed, and every announcement reaches the webhook once.
pub(crate) fn builders_take_over(s3: &S3) {
    let receiver = crate::announce::Receiver::start();
    let components = format!(
        "page:\n  title: Test Status\n  base_url: https://status.test\ncomponents:\n  - id: web\n    name: Website\n\
         publish:\n  - to: s3://statebucket/www2\nannounce:\n  - kind: webhook\n    url: http://127.0.0.1:{}/hook\n",
        receiver.port
    );
    let projects: Vec<ProjectTest> = (0..3)
        .map(|_| {
            let t = ProjectTest::new();
            t.write("components.yaml", &components);
            t.write("probes.yaml", "regions:\n  - name: r1\nprobes: []\n");
            t
        })
        .collect();
    let start_with = |t: &ProjectTest, lease: &str| {
        let mut cmd = t.cmd(&[
            "watch",
            "--publish",
            "--announce",
            "--lease",
            lease,
            "--publish-every",
            "0s",
            "--state",
            "s3://statebucket/pharos/builders",
        ]);
        cmd.env("PHAROS_NOW", NOW);
        s3.env(&mut cmd);
        watching(cmd)
    };
    let start = |t: &ProjectTest| start_with(t, "2s");
    let mut builders: Vec<Option<Watching>> =
        vec![Some(start(&projects[0])), Some(start(&projects[1])), None];
    until("a builder takes the lease", HANG, || {
        builders.iter().flatten().any(|w| role(w).0)
    });
    let mut takeovers = Vec::new();
    for round in 0..20 {
        if round == 10 {
            builders[2] = Some(start(&projects[2]));
        }
        for t in &projects {
            t.write(
                &format!("incidents/2026-11-20-trouble-{round}.md"),
                &fresh_post(round),
            );
        }
        std::thread::sleep(Duration::from_millis(fastrand::u64(0..1500)));
        // Exactly one live builder holds the lease.
        let holders: Vec<usize> = (0..3)
            .filter(|&i| builders[i].as_ref().is_some_and(|w| role(w).0))
            .collect();
        assert_eq!(holders.len(), 1, "round {round}: holders {holders:?}");
        let active = holders[0];
        let took_before: Vec<usize> = builders
            .iter()
            .map(|b| b.as_ref().map_or(0, |w| role(w).1))
            .collect();
        let mut killed = builders[active].take().unwrap();
        let killed_at = Instant::now();
        killed.child.kill().unwrap();
        killed.child.wait().unwrap();
        until("another builder takes over", HANG, || {
            (0..3).any(|i| {
                builders[i]
                    .as_ref()
                    .is_some_and(|w| role(w).1 > took_before[i])
            })
        });
        takeovers.push(killed_at.elapsed());
        builders[active] = Some(start(&projects[active]));
    }
    // Every item (two updates of 20 posts) arrives, each under one key.
    let distinct = || {
        receiver
            .requests("/hook")
            .iter()
            .map(|r| r.headers["idempotency-key"].clone())
            .collect::<BTreeSet<_>>()
    };
    until("every announcement", HANG, || distinct().len() >= 40);
    let hook = receiver.requests("/hook");
    let mut per_item: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in &hook {
        per_item
            .entry(r.body["id"].as_str().unwrap_or_default().to_string())
            .or_default()
            .insert(r.headers["idempotency-key"].clone());
    }
    assert_eq!(per_item.len(), 40, "{per_item:?}");
    assert!(
        per_item.values().all(|keys| keys.len() == 1),
        "an item under two keys: {per_item:?}"
    );
    // A builder stopped with SIGTERM releases the lease: with a 2-minute lease, the
    // standby could take it over no sooner than that, but takes it at its next look
    // (every sixth of a period).
    // (The builders above, stopped the same way, left it released too.)
    for w in builders.into_iter().flatten() {
        w.stop();
    }
    let pair = [
        start_with(&projects[0], "120s"),
        start_with(&projects[1], "120s"),
    ];
    until("a builder takes the released lease", HANG, || {
        pair.iter().any(|w| role(w).0)
    });
    let [first, second] = pair;
    let (holder, standby) = if role(&first).0 {
        (first, second)
    } else {
        (second, first)
    };
    assert!(!role(&standby).0, "two holders");
    let lines = holder.lines.clone();
    let out = holder.stop();
    let said = || lines.lock().unwrap().join("\n");
    assert!(out.status.success(), "{}", said());
    // Its last lines may still be on their way through the reader thread.
    until(
        "the stopped holder says it released the lease",
        HANG,
        || said().contains("released the builder lease"),
    );
    until("the standby takes the lease at once", HANG, || {
        role(&standby).0
    });
    standby.stop();
    takeovers.sort();
    eprintln!(
        "builders: 20 takeovers after SIGKILL with a 2 s lease: median {:.2} s, max {:.2} s; {} deliveries of 40 items ({} repeated under the same key)",
        takeovers[10].as_secs_f64(),
        takeovers[19].as_secs_f64(),
        hook.len(),
        hook.len() - 40
    );
}

#[test]
fn a_probe_on_the_published_status_json_notices_a_stale_page() {
    // The site as published some minutes ago and an hour ago (each build pinned to its
    // time), served as a host would; the probe documented in the README checks its age.
    let now = chrono::Utc::now();
    let mut health = Vec::new();
    for minutes in [2, 60, -30] {
        let t = project_with(PROBES, &["r1"]);
        let at = (now - chrono::Duration::minutes(minutes)).to_rfc3339();
        build(&t, &at);
        let status = t.read("site/api/v2/status.json");
        let json: serde_json::Value = serde_json::from_str(&status).unwrap();
        assert_eq!(
            json["page"]["updated_at"].as_str().map(|s| s.len() >= 20),
            Some(true)
        );
        let host = crate::harness::Server::fixed(crate::harness::Reply::Status(200, status));
        let p = project_with(
            &format!(
                "  - id: published\n    kind: http\n    url: {}/api/v2/status.json\n    retries: 0\n    assertions:\n      - age(json.page.updated_at) < 10m\n    components: [web]\n",
                host.url()
            ),
            &["r1"],
        );
        let out = p.run(&["probe", "--once", "--region", "r1"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let sample = crate::harness::state_of(&p, "r1").unwrap().probes["published"]
            .last
            .clone();
        health.push((sample.health, sample.detail));
    }
    assert_eq!(health[0].0, pharos::state::Health::Up, "{}", health[0].1);
    assert_eq!(health[1].0, pharos::state::Health::Down, "{}", health[1].1);
    assert!(
        health[1].1.starts_with(
            "assertion failed: age(json.page.updated_at) < 10m (age(json.page.updated_at) is "
        ),
        "{}",
        health[1].1
    );
    // A page dated ahead of the check proves nothing: a clock is wrong.
    assert_eq!(health[2].0, pharos::state::Health::Down, "{}", health[2].1);
    assert!(health[2].1.contains("a clock is wrong"), "{}", health[2].1);
}

/// On Ceph RGW (from the object-store test): three builders running `watch --alert` on the
/// real clock, the lease holder SIGKILLed 10 times while region r1's probe goes down and
/// up between kills. Every change reaches the webhook once, in order, whichever builder
/// holds the lease: the outbox and the lease live beside the regions.
pub(crate) fn alerts_survive_takeovers(s3: &S3) {
    let receiver = crate::announce::Receiver::start();
    let is_down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&is_down);
    let target = crate::harness::Server::start(move |_, _| {
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            crate::harness::Reply::Status(503, "down".into())
        } else {
            crate::harness::Reply::Status(200, "ok".into())
        }
    });
    let probes = format!(
        "regions:\n  - name: r1\nprobes:\n  - id: web-home\n    kind: http\n    url: {}/\n    components: [web]\n    interval: 30s\n    confirm: 1\n    recover: 1\n\
         alerts:\n  hold: 0s\n  rate_limit: 1000\n  targets:\n    - id: pager\n      kind: webhook\n      url: http://127.0.0.1:{}/alert\n",
        target.url(),
        receiver.port
    );
    let state = "s3://statebucket/pharos/alerting";
    let projects: Vec<ProjectTest> = (0..3)
        .map(|_| {
            let t = ProjectTest::new();
            t.write(
                "components.yaml",
                "page:\n  title: Test Status\n  base_url: https://status.test\ncomponents:\n  - id: web\n    name: Website\n",
            );
            t.write("probes.yaml", &probes);
            t
        })
        .collect();
    let start = |t: &ProjectTest| {
        let mut cmd = t.cmd(&["watch", "--alert", "--lease", "2s", "--state", state]);
        s3.env(&mut cmd);
        watching(cmd)
    };
    let probe_once = || {
        let mut cmd = projects[0].cmd(&[
            "probe",
            "--region",
            "r1",
            "--once",
            "--write-every",
            "200ms",
            "--state",
            state,
        ]);
        s3.env(&mut cmd);
        let out = crate::harness::run_with_limit(cmd, HANG);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    let mut builders: Vec<Watching> = projects.iter().map(start).collect();
    until("a builder takes the lease", HANG, || {
        builders.iter().any(|w| role(w).0)
    });
    let mut down = false;
    for round in 0..10 {
        down = !down;
        is_down.store(down, std::sync::atomic::Ordering::SeqCst);
        probe_once();
        std::thread::sleep(Duration::from_millis(fastrand::u64(0..3000)));
        let holders: Vec<usize> = (0..3).filter(|&i| role(&builders[i]).0).collect();
        assert!(holders.len() <= 1, "round {round}: holders {holders:?}");
        let Some(&active) = holders.first() else {
            continue;
        };
        let took_before: Vec<usize> = builders.iter().map(|w| role(w).1).collect();
        builders[active].child.kill().unwrap();
        builders[active].child.wait().unwrap();
        // One of the two survivors takes over; the killed one's replacement starts after,
        // so its fresh log (no takes yet) is never compared with its predecessor's count.
        until("another builder takes over", HANG, || {
            (0..3).any(|i| i != active && role(&builders[i]).1 > took_before[i])
        });
        builders[active] = start(&projects[active]);
    }
    assert!(!down, "ten rounds end up");
    let told = || {
        let mut seen = BTreeSet::new();
        receiver
            .requests("/alert")
            .iter()
            .filter(|r| seen.insert(r.headers["idempotency-key"].clone()))
            .map(|r| r.body["action"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    until("the last change told", HANG, || {
        told().last().map(String::as_str) == Some("resolve")
    });
    let told = told();
    for (i, action) in told.iter().enumerate() {
        let want = if i % 2 == 0 { "trigger" } else { "resolve" };
        assert_eq!(action, want, "alert {i} of {told:?}");
    }
    let requests = receiver.requests("/alert").len();
    for w in builders {
        w.stop();
    }
    eprintln!(
        "alerts across builders: 10 SIGKILLs of the lease holder, {} changes told in order in {requests} requests ({} repeats under the same key)",
        told.len(),
        requests - told.len()
    );
}
