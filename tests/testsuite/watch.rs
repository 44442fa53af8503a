//! `pharos watch` and `pharos serve` as running processes: edits rebuild the site, a bad
//! edit leaves it in place and the watch goes on, the preview serves and reloads.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use crate::harness::{ProjectTest, free_port, project_with, stderr, stdout, stop, until};

fn index(t: &ProjectTest) -> String {
    std::fs::read_to_string(t.path().join("site/index.html")).unwrap_or_default()
}

/// The time every build of these tests is for.
const NOW: &str = "2026-11-20T12:00:00Z";

/// How long a rebuild may take before the test calls it a hang (a busy machine is slow,
/// never this slow).
const HANG: Duration = Duration::from_secs(60);

/// `pharos watch` running in `t`, at [`NOW`], its output kept.
fn watch(t: &ProjectTest) -> std::process::Child {
    t.cmd(&["watch"])
        .env("PHAROS_NOW", NOW)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

const POST: &str = "---\ntitle: TITLE\nimpact: minor\ncomponents: [web]\n---\n## 2026-11-20T10:00:00Z investigating\nLooking.\n";

#[test]
fn watch_rebuilds_on_edits_and_survives_bad_ones() {
    let t = project_with(
        "  - id: p\n    kind: tcp\n    host: 127.0.0.1\n    port: 9\n    components: [web]\n",
        &["r1"],
    );
    let child = watch(&t);
    until("the first build", HANG, || {
        index(&t).contains("Test Status")
    });

    t.write(
        "incidents/2026-11-20-first.md",
        &POST.replace("TITLE", "First watched incident"),
    );
    until("a rebuild with the new incident", HANG, || {
        index(&t).contains("First watched incident")
    });

    let good = index(&t);
    t.write(
        "incidents/2026-11-20-first.md",
        &POST.replace("impact: minor", "impact: huge"),
    );
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(index(&t), good, "a bad edit must leave the site as it was");

    t.write(
        "incidents/2026-11-20-first.md",
        &POST.replace("TITLE", "Fixed title"),
    );
    until("a rebuild after the fix", HANG, || {
        index(&t).contains("Fixed title")
    });
    // SIGTERM (systemd's stop, a container runtime's) ends it cleanly between steps:
    // exit 0, not death by the signal (as PID 1 in a container, an unhandled SIGTERM is
    // ignored and the runtime has to SIGKILL it).
    let out = stop(child);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("stopping"), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("unknown value \"huge\""),
        "the bad edit was reported: {err}"
    );
    assert!(err.contains("still watching"), "{err}");
}

fn get(port: u16, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_lowercase(), body.to_string())
}

#[test]
fn serve_previews_the_site_and_tells_pages_to_reload() {
    let t = project_with(
        "  - id: p\n    kind: tcp\n    host: 127.0.0.1\n    port: 9\n    components: [web]\n",
        &["r1"],
    );
    let port = free_port();
    let child = t
        .cmd(&["serve", "--port", &port.to_string()])
        .env("PHAROS_NOW", NOW)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    until("the server", HANG, || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });

    let (code, head, body) = get(port, "/");
    assert_eq!(code, 200);
    assert!(head.contains("content-type: text/html"));
    assert!(body.contains("<script src=\"/__pharos/reload.js\"></script>"));
    assert!(
        !index(&t).contains("<script"),
        "the built file stays free of JavaScript"
    );
    let (code, head, _) = get(port, "/feed.atom");
    assert_eq!(code, 200);
    assert!(head.contains("application/atom+xml"));
    let (code, _, body) = get(port, "/no/such/page");
    assert_eq!(code, 404);
    assert!(body.contains("Page not found"));
    let (code, _, _) = get(port, "/../../etc/passwd");
    assert_eq!(code, 404);

    let (_, _, before) = get(port, "/__pharos/version");
    t.write(
        "incidents/2026-11-20-served.md",
        &POST.replace("TITLE", "Served incident"),
    );
    until("the version to change after a rebuild", HANG, || {
        get(port, "/__pharos/version").2 != before
    });
    assert!(get(port, "/").2.contains("Served incident"));
    stop(child);
}

#[test]
fn a_rebuild_renders_only_what_an_edit_changed_and_ends_where_a_fresh_build_does() {
    let t = project_with(
        "  - id: p\n    kind: tcp\n    host: 127.0.0.1\n    port: 9\n    components: [web]\n",
        &["r1"],
    );
    for n in 0..60 {
        let comp = if n % 2 == 0 { "web" } else { "api" };
        t.write(
            &format!("incidents/2026-11-{:02}-post-{n}.md", 1 + n % 19),
            &format!(
                "---\ntitle: Post {n}\nimpact: minor\ncomponents: [{comp}]\n---\n## 2026-11-{:02}T11:00:00Z resolved\nFixed {n}.\n\n## 2026-11-{:02}T10:00:00Z investigating\nLooking {n}.\n",
                1 + n % 19,
                1 + n % 19
            ),
        );
    }
    let child = watch(&t);
    until("the first build", HANG, || {
        index(&t).contains("Test Status")
    });
    let page = |slug: &str| {
        std::fs::read_to_string(t.path().join(format!("site/incidents/{slug}/index.html")))
            .unwrap_or_default()
    };
    // Three edits, so the spare tree is reused with pages kept from both builds before:
    // a body, a title (in the archive and the feeds too), a component's name (on
    // the pages of every post that names it).
    let edit = |file: &str, from: &str, to: &str| {
        let path = format!("incidents/{file}.md");
        t.write(&path, &t.read(&path).replace(from, to));
    };
    edit("2026-11-04-post-3", "Fixed 3.", "Fixed three, edited.");
    until("the edited body", HANG, || {
        page("2026-11-04-post-3").contains("Fixed three, edited.")
    });
    edit(
        "2026-11-05-post-4",
        "title: Post 4",
        "title: Post four, renamed",
    );
    until("the renamed post in the archive", HANG, || {
        std::fs::read_to_string(t.path().join("site/history/index.html"))
            .is_ok_and(|h| h.contains("Post four, renamed"))
    });
    t.write(
        "components.yaml",
        &t.read("components.yaml")
            .replace("name: API", "name: Public API"),
    );
    until("the renamed component on a post of it", HANG, || {
        page("2026-11-02-post-1").contains("Public API")
    });
    let out = stop(child);
    let rebuilt: Vec<(usize, usize)> = stdout(&out)
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("rebuilt ")?;
            let (files, rest) = rest.split_once(" files (")?;
            let (written, _) = rest.split_once(" written)")?;
            Some((files.parse().ok()?, written.parse().ok()?))
        })
        .collect();
    assert!(rebuilt.len() >= 4, "{rebuilt:?}");
    // The first rebuild writes a whole new tree (there is no spare yet); from the second
    // on, an edited post rewrites its page, the pages that list it, the feeds and the
    // API (and catches the spare up on the first edit), not every post's page.
    let (files, written) = rebuilt[2];
    assert!(
        written * 2 < files,
        "one edited post rewrote {written} of {files} files: {rebuilt:?}"
    );

    // What the rebuilds left is what a fresh build of the same files makes.
    let watched = crate::publish::tree(&t.path().join("site"));
    std::fs::remove_dir_all(t.path().join("site")).unwrap();
    let built = t.run(&["build", "--now", NOW]);
    assert!(built.status.success(), "{}", stderr(&built));
    let fresh = crate::publish::tree(&t.path().join("site"));
    assert_eq!(
        watched.keys().collect::<Vec<_>>(),
        fresh.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &fresh {
        assert!(watched[path] == *bytes, "{path} differs from a fresh build");
    }
}

/// The temporary folders beside `site/` in `t` (the builds' lock file aside).
fn temporaries(t: &ProjectTest) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".site.") && n != ".site.lock")
        .collect();
    names.sort();
    names
}

#[test]
fn builds_killed_at_random_moments_leave_nothing_behind_after_the_next_build() {
    let t = project_with(
        "  - id: p\n    kind: tcp\n    host: 127.0.0.1\n    port: 9\n    components: [web]\n",
        &["r1"],
    );
    for n in 0..40 {
        t.write(
            &format!("incidents/2026-11-{:02}-post-{n}.md", 1 + n % 19),
            &POST.replace("TITLE", &format!("Post {n}")),
        );
    }
    let (mut killed_mid_build, mut seen_left) = (0, 0);
    for round in 0..300u64 {
        let mut child = t
            .cmd(&["build", "--now", NOW])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Killed once its temporary folder exists, a little later on some rounds.
        let started = std::time::Instant::now();
        while temporaries(&t)
            .iter()
            .all(|n| n.ends_with(".lock") || !n.contains(".new-"))
            && started.elapsed() < HANG
            && child.try_wait().unwrap().is_none()
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_micros(fastrand::u64(
            0..(round % 5) * 4000 + 1,
        )));
        if child.try_wait().unwrap().is_none() {
            killed_mid_build += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        if !temporaries(&t).is_empty() {
            seen_left += 1;
        }
    }
    assert!(
        killed_mid_build > 0 && seen_left > 0,
        "no build was killed half way"
    );
    let out = t.run(&["build", "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(temporaries(&t), Vec::<String>::new());
    assert!(index(&t).contains("Test Status"));
    eprintln!("{killed_mid_build} of 300 builds killed half way, {seen_left} left folders");
}
