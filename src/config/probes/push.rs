//! Step 1 (config), probes.yaml: the `push` kind — its options ([`RawPush`]), their
//! validation and the validated [`PushSpec`] heartbeats are judged by.

use std::time::Duration;

use serde::Deserialize;

use super::{Cx, Dur, KindOptions, ProbeKind, Template};

/// A heartbeat check.
#[derive(Debug, Clone)]
pub struct PushSpec {
    /// How late a heartbeat may be beyond the interval.
    pub grace: Duration,
    /// Token for heartbeats over HTTP.
    pub token: Option<Template>,
}

/// The options of a `push` probe.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPush {
    /// How late a heartbeat may be beyond the interval. Default: a tenth of the interval,
    /// at least 1s.
    #[serde(default)]
    pub grace: Option<Dur>,
    /// The token a heartbeat over HTTP must bring (`Authorization: Bearer …`), written as a
    /// `${SECRET}` reference.
    #[serde(default)]
    pub token: Option<Template>,
}

/// The shortest heartbeat token accepted.
pub(super) const MIN_TOKEN_LEN: usize = 16;

/// Why `token` is too weak to guard heartbeats, or `None`.
pub fn weak_token(token: &str) -> Option<String> {
    (token.len() < MIN_TOKEN_LEN).then(|| {
        format!(
            "its heartbeat token is {} characters long; use a random token of at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 16`)",
            token.len()
        )
    })
}

impl KindOptions for RawPush {
    fn validate(self, cx: &mut Cx<'_>) -> Option<ProbeKind> {
        if cx.regions_unnamed {
            cx.problem(
                &["kind"],
                "a push probe's heartbeats arrive on one host; set `regions: [<the region whose prober receives them>]`",
            );
            return None;
        }
        // A token written out (no `${VAR}`) is judged now; one from the environment when
        // `check` or the worker can read it.
        if let Some(token) = &self.token
            && token.vars().is_empty()
            && let Ok(value) = token.resolve(&|_| None)
            && let Some(why) = weak_token(&value)
        {
            cx.problem(&["token"], why);
        }
        Some(ProbeKind::Push(PushSpec {
            grace: self
                .grace
                .map_or((cx.interval / 10).max(Duration::from_secs(1)), |g| g.0),
            token: self.token,
        }))
    }
}
