//! Step 1 (config), probes.yaml: the `command` kind — its options ([`RawCommand`]), their
//! validation and the validated [`CommandSpec`] the prober's plugin runner runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Cx, KindOptions, ProbeKind, Template};

/// What a plugin that hit the timeout counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutHealth {
    /// The check failed: the service did not answer in time.
    #[default]
    Down,
    /// The prober could not tell.
    Unknown,
}

/// A plugin check.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// Program and arguments.
    pub argv: Vec<Template>,
    /// Extra environment.
    pub env: Vec<(String, Template)>,
    /// Bytes kept of each output stream.
    pub max_output_bytes: u64,
    /// Health at the timeout.
    pub timeout_health: TimeoutHealth,
}

/// The options of a `command` probe.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCommand {
    /// The program and its arguments, run without a shell.
    #[serde(default)]
    pub command: Option<Vec<Template>>,
    /// Extra environment variables; values may hold `${ENV}` references.
    #[serde(default)]
    pub env: BTreeMap<String, Template>,
    /// Most bytes of stdout and of stderr kept. Default 8192.
    #[serde(default)]
    pub max_output_bytes: Option<u64>,
    /// The health of a plugin killed at the timeout: `down` (default) or `unknown`.
    #[serde(default)]
    pub timeout_health: Option<TimeoutHealth>,
}

impl KindOptions for RawCommand {
    fn validate(self, cx: &mut Cx<'_>) -> Option<ProbeKind> {
        let Some(argv) = self
            .command
            .filter(|argv| argv.first().is_some_and(|a| !a.as_written().is_empty()))
        else {
            cx.problem(
                &["kind"],
                "a command probe needs `command: [/path/to/plugin, arg, …]` (run without a shell)",
            );
            return None;
        };
        let mut env = Vec::new();
        for (name, value) in self.env {
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                cx.problem(
                    &["env", &name],
                    format!("\"{name}\" is not an environment variable name"),
                );
            }
            env.push((name, value));
        }
        Some(ProbeKind::Command(CommandSpec {
            argv,
            env,
            max_output_bytes: self.max_output_bytes.unwrap_or(8192),
            timeout_health: self.timeout_health.unwrap_or_default(),
        }))
    }
}
