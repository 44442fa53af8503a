//! The 60-second soak in CI: bench/soak.py runs the debug binary with 1,000 probes
//! against a local nginx (ok, failing, slow, flapping) and fails when memory, open
//! descriptors, the schedule lag or the state file keep growing. The 10-minute and
//! one-hour runs are the same script with `--seconds`.

use crate::harness::{run_with_limit, stderr, stdout};

#[test]
fn a_60_second_soak_of_1000_probes_stays_bounded() {
    if !crate::harness::needs(&[crate::harness::Part::Nginx, crate::harness::Part::Python]) {
        return;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/soak.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(script)
        .args(["--seconds", "60", "--bin", crate::harness::bin()]);
    let out = run_with_limit(cmd, std::time::Duration::from_secs(150));
    eprintln!("{}", stdout(&out));
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    for figure in ["RSS:", "open fds:", "schedule lag:", "state file:"] {
        assert!(
            text.lines()
                .any(|l| l.contains(figure) && l.ends_with("— bounded")),
            "{figure} not bounded:\n{text}"
        );
    }
    assert!(
        text.contains("SOAK 1000 probes, 60 s, worker exit 0"),
        "{text}"
    );
}
