//! `pharos doctor`: a line per thing a deployment gets wrong, each with its fix, exit 2 on
//! a problem and 0 on a sound one; on a folder here, on Ceph RGW from the object-store
//! test ([`on_ceph`]).

use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};

use crate::harness::{Part, ProjectTest, bin, needs, project_with, run_with_limit, stderr, stdout};
use crate::objstore::{S3, runtime};

const NOW: &str = "2026-11-20T12:00:00Z";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// The live object of `region` as a worker whose clock read `written_at` wrote it.
fn live_bytes(region: &str, written_at: DateTime<Utc>) -> Vec<u8> {
    let mut state = pharos::state::RegionState::new(region, written_at);
    state.written_at = written_at;
    let live = pharos::state::layout::live(&state, written_at.date_naive());
    pharos::state::layout::encode(&live).unwrap()
}

/// Put `region`'s live object in the project's state folder, stored (mtime) at `stored_at`.
fn write_live(t: &ProjectTest, region: &str, written_at: &str, stored_at: &str) {
    let dir = t.path().join("state").join(region);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("live.json.zst");
    std::fs::write(&path, live_bytes(region, at(written_at))).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(at(stored_at).into()).unwrap();
}

/// A project probed every 10 s from `regions`, with `site_extra` added to components.yaml.
fn project(regions: &[&str], site_extra: &str) -> ProjectTest {
    let t = project_with(
        "  - id: home\n    kind: http\n    url: http://127.0.0.1:9/\n    components: [web]\n    interval: 10s\n    timeout: 2s\n",
        regions,
    );
    let components = t.read("components.yaml");
    t.write("components.yaml", &format!("{components}{site_extra}"));
    t
}

fn doctor(t: &ProjectTest, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["doctor", "--now", NOW];
    all.extend_from_slice(args);
    let out = t.run_limit(&all, Duration::from_secs(60));
    (out.status.code(), stdout(&out), stderr(&out))
}

/// The line whose topic starts with `topic` and that says `said`.
fn line<'a>(out: &'a str, topic: &str, said: &str) -> &'a str {
    // "<level, 7 wide>  <topic>: <said>"
    out.lines()
        .find(|l| l.get(9..).is_some_and(|rest| rest.starts_with(topic)) && l.contains(said))
        .unwrap_or_else(|| panic!("no line on {topic} saying {said:?} in:\n{out}"))
}

#[test]
fn a_sound_deployment_has_no_problem() {
    let public = tempfile::tempdir().unwrap();
    let t = project(
        &["r1", "r2"],
        &format!(
            "publish:\n  - to: {}/site\nannounce:\n  - kind: webhook\n    url: http://127.0.0.1:9/hook\n",
            public.path().display()
        ),
    );
    write_live(&t, "r1", "2026-11-20T11:59:49.700Z", "2026-11-20T11:59:50Z");
    write_live(&t, "r2", "2026-11-20T11:59:40Z", "2026-11-20T11:59:40.300Z");
    let (code, out, err) = doctor(&t, &[]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        line(
            &out,
            "project",
            "valid: 2 components, 1 probes in 2 regions"
        )
        .starts_with("ok ")
    );
    line(&out, "state store", "can be written");
    line(&out, "region r1", "fresh: last written 10 s ago");
    line(&out, "region r2", "fresh: last written 20 s ago");
    line(&out, "icmp", "socket opens");
    line(&out, "open files", "enough for --concurrency 64");
    line(&out, "publish", "can be written and replaced");
    line(&out, "announce webhook", "127.0.0.1 resolves");
    assert!(!out.contains("PROBLEM") && !out.contains("fix:"), "{out}");
    assert_eq!(out.lines().last(), Some("no problem found"), "{out}");
}

#[test]
fn each_problem_is_named_with_its_fix_and_fails_the_run() {
    let elsewhere = tempfile::tempdir().unwrap();
    let foreign = elsewhere.path().join("www");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("index.html"), "someone else's").unwrap();
    let t = project(
        &["r1", "r2", "r3", "r4"],
        &format!(
            "publish:\n  - to: {}\n  - to: git+file://{}/none.git#pages\n\
             announce:\n  - kind: webhook\n    url: http://hook.pharos-doctor.invalid/x\n\
             \x20 - kind: slack\n    url: https://hooks.slack.test/${{DOCTOR_UNSET_SLACK}}\n",
            foreign.display(),
            elsewhere.path().display()
        ),
    );
    let probes = t.read("probes.yaml");
    t.write(
        "probes.yaml",
        &format!(
            "{probes}alerts:\n  targets:\n    - id: script\n      kind: command\n      command: [/nonexistent/page-me]\n\
             \x20   - id: oncall\n      kind: pagerduty\n      routing_key: R0UTINGKEY\n      url: http://pd.pharos-doctor.invalid/v2/enqueue\n"
        ),
    );
    write_live(&t, "r1", "2026-11-20T11:59:49.700Z", "2026-11-20T11:59:50Z");
    // r2's worker stopped an hour ago; r3 never wrote; r4's clock runs 4 min ahead.
    write_live(&t, "r2", "2026-11-20T11:00:00Z", "2026-11-20T11:00:00.200Z");
    write_live(&t, "r4", "2026-11-20T12:03:55Z", "2026-11-20T11:59:55Z");
    // A region probes.yaml does not list.
    write_live(&t, "r9", "2026-11-20T11:59:55Z", "2026-11-20T11:59:55Z");
    // An open-files limit too low for 64 checks in flight.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "ulimit -n 200 && exec \"$@\"", "sh", bin()])
        .args(["doctor", "--now", NOW, "--root"])
        .arg(t.path())
        .env_remove("DOCTOR_UNSET_SLACK");
    let out = run_with_limit(cmd, Duration::from_secs(60));
    let (code, out, err) = (out.status.code(), stdout(&out), stderr(&out));
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(err.contains("problems found"), "{err}");
    line(&out, "region r1", "fresh");
    let fixed = |topic: &str, said: &str, fix: &str| {
        let l = line(&out, topic, said);
        assert!(l.starts_with("PROBLEM"), "{l}");
        assert!(l.contains(&format!("— fix: {fix}")), "{l}");
    };
    fixed(
        "region r2",
        "stale: last written 60 min ago (2026-11-20 11:00:00 UTC)",
        "look at its worker (systemctl status pharos-probe@r2",
    );
    fixed(
        "region r3",
        "never seen",
        "start its worker with the same --state",
    );
    fixed(
        "region r4",
        "its worker's clock is 4 min ahead of the store's",
        "keep its host's clock in sync",
    );
    assert!(line(&out, "region r9", "probes.yaml does not list it").starts_with("warning"));
    fixed(
        "open files",
        "limit 200",
        "raise it (LimitNOFILE=320 in the unit",
    );
    fixed(
        &format!("publish {}", foreign.display()),
        "holds files Pharos did not publish",
        "fix the target under publish:",
    );
    fixed(
        "publish git+file://",
        "git ls-remote failed",
        "fix the target under publish:",
    );
    fixed(
        "announce webhook",
        "hook.pharos-doctor.invalid does not resolve",
        "check the target's address",
    );
    fixed(
        "project",
        "environment variable DOCTOR_UNSET_SLACK is not set",
        "edit the file as the line says",
    );
    let l = line(
        &out,
        "announce slack",
        "not looked up: environment variable DOCTOR_UNSET_SLACK is not set",
    );
    assert!(
        l.starts_with("warning") && l.contains("fix: set it in this machine's environment"),
        "{l}"
    );
    fixed(
        "alert script",
        "/nonexistent/page-me is not found",
        "install it, or give its full path",
    );
    fixed(
        "alert oncall",
        "pd.pharos-doctor.invalid does not resolve",
        "check the target's address",
    );
    assert!(!out.contains("no problem found"), "{out}");
}

#[test]
fn icmp_without_permission_is_a_problem_only_where_a_probe_pings() {
    if !needs(&[Part::Root]) {
        return;
    }
    let t = project_with(
        "  - id: gw\n    kind: icmp\n    host: 127.0.0.1\n    components: [web]\n",
        &["r1"],
    );
    // The project readable by user nobody, its state folder writable.
    std::fs::create_dir_all(t.path().join("state")).unwrap();
    for (path, mode) in [
        (t.path().to_path_buf(), 0o755),
        (t.path().join("state"), 0o777),
    ] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    // A network namespace of its own starts with ping sockets for no group ("1 0"), and
    // nobody has no CAP_NET_RAW: no ICMP at all.
    let as_nobody = |t: &ProjectTest| {
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--net",
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            bin(),
            "doctor",
            "--now",
            NOW,
            "--root",
        ])
        .arg(t.path());
        run_with_limit(cmd, Duration::from_secs(60))
    };
    let out = as_nobody(&t);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}\n{}", stderr(&out));
    let l = line(&text, "icmp", "not permitted");
    assert!(l.starts_with("PROBLEM"), "{l}");
    assert!(l.contains("ping_group_range is \"1 0\""), "{l}");
    assert!(l.contains("1 icmp probe would report unknown"), "{l}");
    assert!(
        l.contains("fix: sysctl -w net.ipv4.ping_group_range"),
        "{l}"
    );
    // Without an icmp probe the same host is fine for ICMP.
    t.write(
        "probes.yaml",
        "regions:\n  - name: r1\nprobes:\n  - id: home\n    kind: tcp\n    host: 127.0.0.1\n    port: 9\n    components: [web]\n",
    );
    let out = as_nobody(&t);
    let text = stdout(&out);
    assert!(
        line(&text, "icmp", "no probe uses it").starts_with("ok"),
        "{text}"
    );
}

/// On Ceph RGW (called from the object-store test): a reachable store that enforces
/// conditional writes, this machine's clock, a fresh region and one whose worker's clock
/// runs ahead; the same store with conditional writes turned off; wrong credentials.
pub(crate) fn on_ceph(s3: &S3) {
    // The site's bucket with credentials of its own (here the same store's, under
    // SITE_AWS_*), as for a bucket at another provider than the state.
    let t = project(
        &["d1", "d2"],
        "publish:\n  - to: s3://statebucket/doctor-site\n    env_prefix: SITE_\n",
    );
    let state = "s3://statebucket/pharos/doctor";
    let client = s3.client();
    let rt = runtime();
    let now = Utc::now();
    for (region, written_at) in [("d1", now), ("d2", now + chrono::Duration::minutes(5))] {
        let key = ObjectPath::from(format!("pharos/doctor/{region}/live.json.zst"));
        rt.block_on(client.put(&key, PutPayload::from(live_bytes(region, written_at))))
            .unwrap();
    }
    // Judged as of a moment after both writes, by the store's clock.
    let pinned = (Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let run = |env: &[(&str, &str)]| {
        let mut cmd = t.cmd(&["doctor", "--now", &pinned, "--state", state]);
        s3.env(&mut cmd);
        site_env(s3, &mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = run_with_limit(cmd, Duration::from_secs(120));
        (out.status.code(), stdout(&out), stderr(&out))
    };
    let (code, out, err) = run(&[]);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(
        line(&out, "state store", "enforces conditional writes").starts_with("ok"),
        "{out}"
    );
    assert!(
        line(&out, "this machine's clock", "agrees").starts_with("ok"),
        "{out}"
    );
    assert!(line(&out, "region d1", "fresh").starts_with("ok"), "{out}");
    assert!(
        line(
            &out,
            "publish s3://statebucket/doctor-site",
            "takes a PUT and a DELETE"
        )
        .starts_with("ok"),
        "{out}"
    );
    let l = line(&out, "region d2", "5 min ahead of the store's");
    assert!(
        l.starts_with("PROBLEM") && l.contains("fix: keep its host's clock in sync"),
        "{l}"
    );

    let (_, out, _) = run(&[("AWS_CONDITIONAL_PUT", "disabled")]);
    let l = line(&out, "state store", "does not enforce conditional writes");
    assert!(l.starts_with("warning"), "{l}");
    assert!(l.contains("fix: run exactly one worker per region"), "{l}");

    let (code, out, _) = run(&[("AWS_SECRET_ACCESS_KEY", "wrong-secret")]);
    assert_eq!(code, Some(2), "{out}");
    let l = line(&out, "state store", "");
    assert!(
        l.starts_with("PROBLEM") && l.contains("fix: check PHAROS_STATE"),
        "{l}"
    );
    // The site's own credentials still work.
    assert!(
        line(&out, "publish s3://", "takes a PUT").starts_with("ok"),
        "{out}"
    );
    assert!(!out.contains("wrong-secret"), "{out}");
    let (_, out, _) = run(&[("SITE_AWS_SECRET_ACCESS_KEY", "wrong-secret")]);
    assert!(
        line(&out, "publish s3://", "PUT").starts_with("PROBLEM"),
        "{out}"
    );

    // And a publish goes out with them while the state's own are wrong.
    let built = t.run(&["build", "--now", &pinned]);
    assert!(built.status.success(), "{}", stderr(&built));
    let mut cmd = t.cmd(&["publish", "--now", &pinned]);
    s3.env(&mut cmd)
        .env("AWS_SECRET_ACCESS_KEY", "wrong-secret");
    site_env(s3, &mut cmd);
    let out = run_with_limit(cmd, Duration::from_secs(120));
    assert!(out.status.success(), "{}", stderr(&out));
    let index = rt.block_on(client.head(&ObjectPath::from("doctor-site/index.html")));
    assert!(index.is_ok(), "{index:?}");
}

/// The store's credentials as `SITE_AWS_*`, for a publish target with `env_prefix: SITE_`.
fn site_env(s3: &S3, cmd: &mut Command) {
    let mut plain = Command::new("true");
    s3.env(&mut plain);
    for (name, value) in plain.get_envs() {
        if let Some(value) = value {
            cmd.env(format!("SITE_{}", name.to_string_lossy()), value);
        }
    }
}

/// A real S3 server that ignores conditional writes (not one told to skip them): doctor
/// finds it out by writing, and warns with the fix; a worker on it still writes its
/// region, saying that it cannot refuse a second worker.
#[test]
fn a_store_that_ignores_conditional_writes_is_found_out() {
    if !needs(&[Part::Moto]) {
        return;
    }
    let store = S3::unguarded();
    let t = project(&["d1"], "");
    let state = "s3://statebucket/pharos";
    let mut cmd = t.cmd(&["doctor", "--now", NOW, "--state", state]);
    store.env(&mut cmd);
    let out = run_with_limit(cmd, Duration::from_secs(60));
    let (out, err) = (stdout(&out), stderr(&out));
    let l = line(&out, "state store", "does not enforce conditional writes");
    assert!(l.starts_with("warning"), "{l}\n{err}");
    assert!(l.contains("fix: run exactly one worker per region"), "{l}");
    assert!(
        !l.contains("AWS_CONDITIONAL_PUT"),
        "found out, not told: {l}"
    );

    let mut cmd = t.cmd(&["probe", "--once", "--region", "d1", "--state", state]);
    store.env(&mut cmd);
    let probed = run_with_limit(cmd, Duration::from_secs(60));
    let err = stderr(&probed);
    assert!(probed.status.success(), "{err}");
    assert!(
        err.contains("does not enforce conditional writes")
            && err.contains("Make sure only one runs"),
        "{err}"
    );
    let mut cmd = t.cmd(&["state", "show", "d1", "--state", state]);
    store.env(&mut cmd);
    let shown = run_with_limit(cmd, Duration::from_secs(60));
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert!(stdout(&shown).contains("\"home\""), "{}", stdout(&shown));
}
