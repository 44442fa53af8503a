//! The soak in CI: bench/soak.py runs the debug binary with 1,000 probes against a local
//! nginx (ok, failing, slow, flapping) for 30 s between two idle phases (nginx stopped),
//! and fails when the idle worker holds more descriptors or memory after the load than
//! before it, keeps a socket open through the idle phase, or outgrows the state bound.
//! None of these depends on how busy the machine is. The 10-minute and one-hour runs are
//! the same script with `--seconds`.

use crate::harness::{run_with_limit, stderr, stdout};

#[test]
fn a_soak_of_1000_probes_leaks_nothing() {
    if !crate::harness::needs(&[crate::harness::Part::Nginx, crate::harness::Part::Python]) {
        return;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/soak.py");
    let mut cmd = std::process::Command::new("python3");
    // Leaks and sizes, not dates: the soak runs on the real clock in every run.
    crate::harness::on_the_real_clock(&mut cmd);
    cmd.arg(script).args([
        "--seconds",
        "30",
        "--idle",
        "15",
        "--bin",
        crate::harness::bin(),
    ]);
    // Only bounds a hang: the run takes about 75 s.
    let out = run_with_limit(cmd, std::time::Duration::from_secs(400));
    eprintln!("{}", stdout(&out));
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    for figure in ["RSS:", "open fds:", "leaked sockets:", "state file:"] {
        assert!(
            text.lines()
                .any(|l| l.contains(figure) && l.ends_with("— bounded")),
            "{figure} not bounded:\n{text}"
        );
    }
    assert!(
        text.contains("SOAK 1000 probes, 30 s, worker exit 0"),
        "{text}"
    );
}
