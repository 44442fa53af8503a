//! The state file under abuse: killed writers, second writers, clean stops.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use pharos::state::layout::{self, DayPiece, Live};

use crate::harness::{ProjectTest, Reply, Server, project_with, stderr, stop};

/// A project with `n` fast HTTP probes in region r1 against one local server.
fn busy_project(n: usize, server: &Server) -> ProjectTest {
    let probes: String = (0..n)
        .map(|i| format!("  - id: p{i}\n    kind: http\n    url: {}/{i}\n    components: [web]\n    interval: 1s\n    timeout: 1s\n", server.url()))
        .collect();
    project_with(&probes, &["r1"])
}

fn spawn_probe(t: &ProjectTest, extra: &[&str]) -> Child {
    let mut args = vec!["probe", "--region", "r1"];
    args.extend_from_slice(extra);
    t.cmd(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait until the region's state file lists `n` probes.
fn wait_for_probes(t: &ProjectTest, n: usize, limit: Duration) {
    let start = Instant::now();
    loop {
        let count = crate::harness::state_of(t, "r1")
            .ok()
            .map_or(0, |s| s.probes.len());
        if count == n {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "state did not list {n} probes within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigkill_at_random_moments_never_leaves_a_torn_state_file() {
    // Answers spread over half a second, half of them failures, keep the worker writing
    // state the whole time: every round changes some probe's pending health (news).
    let server = Server::start(|_, _| {
        if fastrand::bool() {
            Reply::Status(503, "down".into())
        } else {
            Reply::Delay(Duration::from_millis(fastrand::u64(0..500)))
        }
    });
    let t = busy_project(300, &server);
    let state_dir = t.path().join("state");
    let live = state_dir.join("r1/live.json.zst");
    let folders = [
        state_dir.clone(),
        state_dir.join("r1"),
        state_dir.join("r1/days"),
    ];
    let (mut kills, mut mid_write, mut parsed) = (0, 0, 0);
    // At least 200 kills, and on until 40 of them landed during a write (most writes are
    // quick), within bounds.
    let deadline = Instant::now() + Duration::from_secs(400);
    while kills < 200 || mid_write < 40 && kills < 1000 {
        assert!(
            Instant::now() < deadline,
            "only {kills} kills in the time allowed"
        );
        let mut child = spawn_probe(&t, &["--write-every", "0s", "--per-host", "300"]);
        std::thread::sleep(Duration::from_millis(fastrand::u64(30..250)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        // A temporary file left behind means the kill landed during a write.
        if temp_files(&folders) > 0 {
            mid_write += 1;
        }
        // Every object the worker wrote is whole: the live object and each day piece.
        if live.exists() {
            let bytes = std::fs::read(&live).unwrap();
            let l: Live = layout::decode(&bytes, "live", "r1")
                .unwrap_or_else(|e| panic!("kill {kills}: torn live object: {e}"));
            assert_eq!(l.region, "r1");
            for day in std::fs::read_dir(state_dir.join("r1/days"))
                .into_iter()
                .flatten()
                .flatten()
            {
                let name = day.file_name().to_string_lossy().to_string();
                if name.ends_with(".tmp") {
                    continue;
                }
                let bytes = std::fs::read(day.path()).unwrap();
                layout::decode::<DayPiece>(&bytes, &name, "r1")
                    .unwrap_or_else(|e| panic!("kill {kills}: torn day piece {name}: {e}"));
            }
            parsed += 1;
        }
    }
    eprintln!("{kills} kills, {mid_write} during a write, {parsed} state files parsed");
    assert!(
        parsed >= 150,
        "the worker rarely got to write state: {parsed} of {kills}"
    );
    assert!(
        mid_write >= 40,
        "too few kills landed during a write ({mid_write}) for the test to mean much"
    );
    // The next worker cleans up what killed writers left.
    let out = t.run(&["probe", "--once", "--region", "r1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(temp_files(&folders), 0, "temporary files left");
}

/// Temporary files in `folders`: writes that a kill cut short.
fn temp_files(folders: &[std::path::PathBuf]) -> usize {
    folders
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .count()
}

#[test]
fn samples_that_finish_while_the_state_is_written_are_all_kept() {
    // Writing without pause, the worker has a write in flight nearly always: samples that
    // finish meanwhile wait for it and are recorded after it, none lost.
    let server = Server::start(|_, _| Reply::Delay(Duration::from_millis(fastrand::u64(0..50))));
    let t = busy_project(200, &server);
    let child = spawn_probe(&t, &["--write-every", "0s", "--per-host", "200"]);
    wait_for_probes(&t, 200, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(2500));
    let out = stop(child);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let field = |name: &str| -> usize {
        err.split(&format!("{name}="))
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name}= in the summary: {err}"))
    };
    let (samples, writes) = (field("samples"), field("writes"));
    let s = crate::harness::state_of(&t, "r1").unwrap();
    let kept: usize = s.probes.values().map(|p| p.recent.len()).sum();
    assert!(
        s.probes
            .values()
            .all(|p| p.recent.len() < pharos::state::RECENT_SAMPLES),
        "the run was too long for the recent window to hold every sample"
    );
    assert_eq!(
        kept, samples,
        "samples taken and samples in the state differ"
    );
    assert!(writes >= 10, "only {writes} writes: {err}");
}

#[test]
fn a_second_worker_for_the_region_is_refused_and_sigterm_stops_cleanly() {
    let server = Server::fixed(Reply::Status(200, "ok".into()));
    let t = busy_project(3, &server);
    let first = spawn_probe(&t, &[]);
    let pid = first.id();
    wait_for_probes(&t, 3, Duration::from_secs(60));

    let out = t.run(&["probe", "--region", "r1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("pid={pid}")), "{err}");
    assert!(
        err.contains("lock file") && err.contains(".r1.lock is held"),
        "{err}"
    );
    assert!(err.contains("Stop that worker first"), "{err}");

    // A graceful stop writes the state and exits 0.
    let before = std::fs::metadata(t.path().join("state/r1/live.json.zst"))
        .unwrap()
        .modified()
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let out = stop(first);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("prober stopped"), "{}", stderr(&out));
    let after = std::fs::metadata(t.path().join("state/r1/live.json.zst"))
        .unwrap()
        .modified()
        .unwrap();
    assert!(after > before, "state was not written at stop");
    let s = crate::harness::state_of(&t, "r1").unwrap();
    assert_eq!(s.probes.len(), 3);

    // The lock is free again.
    let out = t.run(&["probe", "--once", "--region", "r1"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_garbage_state_file_is_never_overwritten_unless_moved_aside() {
    let server = Server::fixed(Reply::Status(200, "ok".into()));
    let t = busy_project(1, &server);
    t.write("state/r1.json", "this is not json");
    let out = t.run(&["probe", "--once", "--region", "r1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("refusing to overwrite the state of region \"r1\""),
        "{}",
        stderr(&out)
    );
    assert_eq!(t.read("state/r1.json"), "this is not json");
    assert!(stderr(&out).contains("--move-aside"), "{}", stderr(&out));
    // Asked to, it keeps the damaged file beside the new one and starts afresh.
    let out = t.run(&["probe", "--once", "--region", "r1", "--move-aside"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("kept it as"), "{}", stderr(&out));
    let kept: Vec<std::path::PathBuf> = std::fs::read_dir(t.path().join("state"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("r1.json.damaged-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        std::fs::read_to_string(&kept[0]).unwrap(),
        "this is not json"
    );
    crate::harness::state_of(&t, "r1").unwrap();
    // The builder reads the new file and leaves the kept one alone.
    let out = t.run(&["build"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("damaged"), "{}", stderr(&out));
}

#[test]
fn a_schema_2_file_with_a_year_of_history_is_migrated_with_nothing_lost() {
    let server = Server::fixed(Reply::Status(200, "ok".into()));
    let t = busy_project(3, &server);
    let targets: Vec<String> = (0..3).map(|i| format!("{}/{i}", server.url())).collect();
    let probes: Vec<(String, &str, &str)> = targets
        .iter()
        .enumerate()
        .map(|(i, url)| (format!("p{i}"), "http", url.as_str()))
        .collect();
    let probes: Vec<(&str, &str, &str)> = probes
        .iter()
        .map(|(i, k, u)| (i.as_str(), *k, *u))
        .collect();
    // The history ends an hour and a minute before the worker runs (it probes on the
    // clock), so the hourly window always moves on: the comparison must follow it.
    let before = crate::harness::year_of_history(
        "r1",
        &probes,
        chrono::Utc::now() - chrono::Duration::minutes(61),
    );
    let mut text = Vec::new();
    pharos::state::write_json(&before, &mut text).unwrap();
    t.write("state/r1.json", std::str::from_utf8(&text).unwrap());
    let out = t.run(&["probe", "--once", "--region", "r1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The file became pieces, one per day, and is kept aside, no longer read.
    let days = std::fs::read_dir(t.path().join("state/r1/days"))
        .unwrap()
        .count();
    assert!(days >= 365, "{days} day pieces");
    assert!(!t.path().join("state/r1.json").exists());
    assert!(t.path().join("state/r1.json.schema-2").exists());
    let after = crate::harness::state_of(&t, "r1").unwrap();
    crate::harness::assert_history_kept(&before, &after);
    // A second worker goes on from the pieces.
    let out = t.run(&["probe", "--once", "--region", "r1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let again = crate::harness::state_of(&t, "r1").unwrap();
    crate::harness::assert_history_kept(&before, &again);
    // Built and decided as of that worker's write, however long reading a year takes.
    let now = again.written_at.to_rfc3339();
    let out = t.run(&["build", "--now", &now]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("left out"), "{}", stderr(&out));
    let out = t.run(&["status", "--json", "--now", &now]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["components"][0]["status"], "operational", "{status}");
}

#[test]
fn checks_of_one_host_respect_the_per_host_cap() {
    let server = Server::fixed(Reply::Delay(Duration::from_millis(150)));
    let t = busy_project(12, &server);
    let out = t.run(&["probe", "--once", "--region", "r1", "--per-host", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.hits(), 12);
    assert!(
        server.peak() <= 3,
        "{} requests at once against one host",
        server.peak()
    );
    assert!(
        server.peak() >= 2,
        "the cap should still allow parallel checks"
    );
}

#[test]
fn state_show_prints_a_regions_state_as_the_file_holds_it() {
    let server = Server::fixed(Reply::Status(200, "ok".into()));
    let t = busy_project(2, &server);
    let out = t.run(&["probe", "--region", "r1", "--once"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = t.run(&["state", "show", "r1"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let text = crate::harness::stdout(&shown);
    assert!(
        text.starts_with("{\n  \"schema\": "),
        "in the file's order: {text}"
    );
    let whole: serde_json::Value = serde_json::from_str(&text).unwrap();
    let file = serde_json::to_value(crate::harness::state_of(&t, "r1").unwrap()).unwrap();
    assert_eq!(whole, file, "what the pieces hold, put together");
    let one = t.run(&["state", "show", "r1", "--probe", "p1"]);
    let probe: serde_json::Value = serde_json::from_str(&crate::harness::stdout(&one)).unwrap();
    assert_eq!(probe["last"]["health"], "up");
    assert_eq!(probe, file["probes"]["p1"]);
    // What is not there is said, with what to do.
    let none = t.run(&["state", "show", "r9"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(
        stderr(&none).contains("region \"r9\" is not listed in probes.yaml; use one of: r1"),
        "{}",
        stderr(&none)
    );
    let wrong = t.run(&["state", "show", "r1", "--probe", "p7"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains("holds no probe \"p7\"; it holds: p0, p1"),
        "{}",
        stderr(&wrong)
    );
}
