//! The deploy kit under `deploy/`: the systemd units pass `systemd-analyze verify` and stay
//! hardened (`systemd-analyze security --offline`).

use std::path::Path;
use std::process::Command;

use crate::harness::{Part, bin, needs, stderr, stdout};

/// The units as installed: ExecStart pointing at this build's binary (verify checks that
/// the program exists), and the template as one of its instances.
fn installed_units(dir: &Path) -> Vec<String> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd");
    let mut units = Vec::new();
    for (file, unit) in [
        ("pharos-probe@.service", "pharos-probe@eu-west.service"),
        ("pharos-watch.service", "pharos-watch.service"),
    ] {
        let text = std::fs::read_to_string(source.join(file)).unwrap();
        assert!(text.contains("ExecStart=/usr/local/bin/pharos "), "{file}");
        let text = text.replace("/usr/local/bin/pharos", bin());
        std::fs::write(dir.join(unit), text).unwrap();
        units.push(unit.to_string());
    }
    units
}

#[test]
fn the_systemd_units_verify_and_stay_hardened() {
    if !needs(&[Part::Systemd]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let units = installed_units(dir.path());
    let out = Command::new("systemd-analyze")
        .current_dir(dir.path())
        .args(["verify", "--man=no"])
        .args(units.iter().map(|u| format!("./{u}")))
        .output()
        .unwrap();
    // An unknown key is only a warning to verify: any output at all fails the test.
    assert!(
        out.status.success() && stderr(&out).trim().is_empty(),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // Exposure at most 2.0 of 10 ("OK"; the threshold is in tenths).
    for unit in &units {
        let out = Command::new("systemd-analyze")
            .current_dir(dir.path())
            .args(["security", "--offline=yes", "--no-pager", "--threshold=20"])
            .arg(format!("./{unit}"))
            .output()
            .unwrap();
        let text = stdout(&out);
        assert!(
            out.status.success() && text.contains("Overall exposure level"),
            "{unit}: {text}{}",
            stderr(&out)
        );
    }
}
