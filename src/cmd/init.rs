//! `pharos init [DIR]`: scaffold a working project with commented configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;

/// Options of `init`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Folder to create the project in (created if missing). Default: the current one.
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

const FILES: &[(&str, &str)] = &[
    ("components.yaml", include_str!("init/components.yaml")),
    ("probes.yaml", include_str!("init/probes.yaml")),
    (
        ".gitignore",
        "# Built by `pharos build`; deploy it, do not commit it.\n/site/\n# Builds' lock and temporary folders (the spare site `watch` rebuilds in, copies being\n# published), removed by the next build when their process is gone.\n/.site.*\n# Written by the probers.\n/state/\n# Samples a prober kept while its object store was away.\n/.pharos/\n",
    ),
    ("incidents/.gitkeep", ""),
];

/// Run `init`.
pub fn run(args: Args) -> Result<ExitCode> {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    for existing in ["components.yaml", "probes.yaml"] {
        if dir.join(existing).exists() {
            bail!(
                "{} already has a {existing}; nothing was written. Run `pharos check` there, or init another folder",
                dir.display()
            );
        }
    }
    for (name, text) in FILES {
        let path = dir.join(name);
        if path.exists() {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let shown = dir.display();
    outln!("Created a Pharos project in {shown}. Edit components.yaml and probes.yaml, then:");
    outln!("  pharos check --root {shown}");
    outln!("  pharos probe --root {shown} --region local --once && pharos build --root {shown}");
    outln!(
        "A change of status shows once it holds `confirm` rounds (2 by default); until then each region's row says what its last check saw. Run `pharos probe --root {shown} --region local` to keep checking."
    );
    Ok(ExitCode::SUCCESS)
}
