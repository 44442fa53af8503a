//! Resource exhaustion: a full disk (a small tmpfs) under a running worker and under a
//! build, and a file-descriptor limit far below what 500 probes want. Nothing already
//! written is lost, the error says what happened, and work resumes when the resource
//! comes back. The tmpfs needs root (as the network-namespace tests do).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{ProjectTest, Reply, Server, stderr, stop, until};

/// A tmpfs of `size` mounted on `dir` for the test's life.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount tmpfs: {} (this test needs root)",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }

    /// Fill it to the last byte with `filler`.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let mut byte = [0u8; 1];
        while f.write_all(&byte).is_ok() {
            byte[0] = 1;
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn project_of(probes: usize, server: &Server, interval: &str, timeout: &str) -> ProjectTest {
    let t = ProjectTest::new();
    t.write(
        "components.yaml",
        "page:\n  title: T\n  base_url: https://status.test\ncomponents:\n  - id: web\n    name: Web\n",
    );
    let list: String = (0..probes)
        .map(|i| {
            format!(
                "  - id: p{i}\n    kind: http\n    url: {}/p{i}\n    components: [web]\n    interval: {interval}\n    timeout: {timeout}\n",
                server.url()
            )
        })
        .collect();
    t.write(
        "probes.yaml",
        &format!("regions:\n  - name: r1\nprobes:\n{list}"),
    );
    t
}

/// When the live object `bytes` was written, if it is whole.
fn written_at(bytes: &[u8]) -> Option<String> {
    pharos::state::layout::decode::<pharos::state::layout::Live>(bytes, "live", "r1")
        .ok()
        .map(|s| s.written_at.to_rfc3339())
}

#[test]
fn a_full_disk_keeps_the_last_state_and_the_worker_writes_again_when_space_returns() {
    if !crate::harness::needs(&[crate::harness::Part::Root]) {
        return;
    }
    let server = Server::fixed(Reply::Status(200, "ok".into()));
    let t = project_of(3, &server, "1s", "800ms");
    let disk = Tmpfs::mount(&t.path().join("state"), "256k");
    let log = t.path().join("worker.log");
    let child = t
        .cmd(&["probe", "--region", "r1", "--write-every", "1s"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let state = t.path().join("state/r1/live.json.zst");
    let read = || std::fs::read(&state).unwrap_or_default();
    until("a first state", Duration::from_secs(15), || {
        written_at(&read()).is_some()
            || std::fs::read_to_string(&log).is_ok_and(|l| l.contains("error"))
    });
    assert!(
        written_at(&read()).is_some(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let filler = disk.fill();
    until("the write error", Duration::from_secs(15), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("No space left on device")
    });
    let kept = read();
    let kept_at = written_at(&kept).expect("the last good state is whole");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(read(), kept, "nothing half-written replaced it");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("will try again"), "{text}");
    // Space returns: the next write goes through.
    std::fs::remove_file(filler).unwrap();
    until("a new state", Duration::from_secs(15), || {
        written_at(&read()).is_some_and(|at| at > kept_at)
    });
    let out = stop(child);
    assert!(out.status.success(), "{}", stderr(&out));
    let leftovers: Vec<_> = ["state", "state/r1", "state/r1/days"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(t.path().join(d))
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_full_disk_fails_the_build_and_keeps_the_previous_site() {
    if !crate::harness::needs(&[crate::harness::Part::Root]) {
        return;
    }
    let t = ProjectTest::new();
    let disk = Tmpfs::mount(&t.path().join("p"), "3m");
    let p = disk.0.clone();
    let write = |rel: &str, text: &str| {
        let path = p.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "components.yaml",
        "page:\n  title: T\n  base_url: https://status.test\ncomponents:\n  - id: web\n    name: Web\n",
    );
    write("probes.yaml", "regions:\n  - name: r1\nprobes: []\n");
    let build = || {
        let mut c = Command::new(crate::harness::bin());
        c.arg("--root")
            .arg(&p)
            .args(["build", "--now", "2026-11-20T12:00:00Z"]);
        crate::harness::run_with_limit(c, Duration::from_secs(30))
    };
    let out = build();
    assert!(out.status.success(), "{}", stderr(&out));
    let before = std::fs::read_to_string(p.join("site/index.html")).unwrap();
    write(
        "incidents/2026-11-20-api.md",
        "---\ntitle: Slow pages\nimpact: minor\ncomponents: [web]\n---\n## 2026-11-20T10:00:00Z investigating\nLooking.\n",
    );
    let filler = disk.fill();
    let out = build();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(p.join("site/index.html")).unwrap(),
        before,
        "the previous site is intact"
    );
    // Space returns: the next build goes through, with the new post.
    std::fs::remove_file(filler).unwrap();
    let out = build();
    assert!(out.status.success(), "{}", stderr(&out));
    let after = std::fs::read_to_string(p.join("site/index.html")).unwrap();
    assert!(after.contains("Slow pages"));
}

#[test]
fn out_of_file_descriptors_is_unknown_with_the_reason_and_the_worker_survives() {
    // 500 probes, 300 at once, against a slow server, under `ulimit -n 64`.
    let server = Server::fixed(Reply::Delay(Duration::from_millis(300)));
    let t = project_of(500, &server, "30s", "5s");
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("ulimit -n 64 && exec \"$0\" \"$@\"")
        .arg(crate::harness::bin())
        .args(["--root"])
        .arg(t.path())
        .args([
            "probe",
            "--region",
            "r1",
            "--once",
            "--concurrency",
            "300",
            "--per-host",
            "300",
        ]);
    let out = crate::harness::run_with_limit(sh, Duration::from_secs(120));
    assert!(out.status.success(), "{}", stderr(&out));
    let state = crate::harness::state_of(&t, "r1").unwrap();
    assert_eq!(state.probes.len(), 500);
    let healths =
        |h: pharos::state::Health| state.probes.values().filter(|p| p.last.health == h).count();
    let unknown = healths(pharos::state::Health::Unknown);
    assert!(unknown > 0, "the limit was reached");
    assert!(
        healths(pharos::state::Health::Up) > 0,
        "the rest were checked"
    );
    assert_eq!(
        healths(pharos::state::Health::Down),
        0,
        "never blamed on the target"
    );
    let sample = state
        .probes
        .values()
        .find(|p| p.last.health == pharos::state::Health::Unknown)
        .unwrap();
    assert!(
        sample
            .last
            .detail
            .contains("this prober ran out of file descriptors: raise its limit"),
        "{}",
        sample.last.detail
    );
}
