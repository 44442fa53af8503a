//! Where a project's files are: found once from `--root` or by walking up from the current
//! folder to the nearest `components.yaml`, then passed to every command.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// Paths of one Pharos project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The folder holding components.yaml.
    pub root: PathBuf,
    /// `--state`: where region state lives instead of `state/` (a folder or an
    /// `s3://bucket/prefix` URL).
    pub state: Option<String>,
}

impl Project {
    /// A project rooted at `root`.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Project {
            root: root.into(),
            state: None,
        }
    }

    /// Use `root` if given, else the nearest folder upwards with a components.yaml.
    pub fn locate(root: Option<&Path>) -> Result<Self> {
        if let Some(root) = root {
            return Ok(Project::at(root));
        }
        let cwd = std::env::current_dir()?;
        for dir in cwd.ancestors() {
            if dir.join("components.yaml").is_file() {
                return Ok(Project::at(dir));
            }
        }
        bail!(
            "no components.yaml in {} or any folder above it; run pharos inside a project, pass --root DIR, or try `pharos demo`",
            cwd.display()
        )
    }

    /// components.yaml.
    pub fn components_file(&self) -> PathBuf {
        self.root.join("components.yaml")
    }

    /// probes.yaml.
    pub fn probes_file(&self) -> PathBuf {
        self.root.join("probes.yaml")
    }

    /// incidents/.
    pub fn incidents_dir(&self) -> PathBuf {
        self.root.join("incidents")
    }

    /// state/, also where push probes' heartbeats land.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }

    /// Use `spec` (from `--state`) for region state.
    pub fn with_state(mut self, spec: Option<String>) -> Self {
        self.state = spec;
        self
    }

    /// Where region state is read and written.
    pub fn store(&self) -> Result<crate::state::store::Store> {
        crate::state::store::Store::from_spec(self.state.as_deref(), self.state_dir())
    }

    /// themes/.
    pub fn themes_dir(&self) -> PathBuf {
        self.root.join("themes")
    }

    /// site/, the build output.
    pub fn site_dir(&self) -> PathBuf {
        self.root.join("site")
    }
}
