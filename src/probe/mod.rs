//! Step 2 of the flow: run checks. Each check is one honest sample: a fresh connection,
//! one deadline, no hidden retries. A failure is data (a [`Sample`] with a precise
//! detail), never an error of the tool. A down sample is re-checked inside the region
//! before it counts. The scheduler that runs probes over time lives in [`worker`].
//!
//! Layers, each using only those below it: [`worker`] → this module's [`check`] → one
//! module per check kind (`http`, `tcp`, `tls`, `dns`, `icmp`, `command`, `push`) →
//! [`transport`] (resolve, connect, TLS, ICMP sockets) → [`Failure`] and `units`. A
//! failure's [`FailureKind`], never its wording, decides down versus unknown.

pub mod assert;
pub mod command;
mod ctx;
pub mod dns;
mod failure;
mod http;
pub mod icmp;
pub mod listen;
pub mod metrics;
mod outcome;
pub mod push;
mod tcp;
pub mod tls;
pub mod transport;
mod units;
pub mod worker;

pub use ctx::{Ctx, RunInfo};
pub use failure::{Failure, FailureKind};

use outcome::Outcome;

use crate::config::{Probe, ProbeKind};
use crate::state::{Health, Sample};

/// Run one check of `probe`, once: one attempt, its assertions applied.
pub async fn check_once(probe: &Probe, ctx: &Ctx, run: &RunInfo) -> Sample {
    attempt(probe, ctx, run).await.sample
}

/// One attempt of a check by its kind, then the probe's assertions on what it saw.
async fn attempt(probe: &Probe, ctx: &Ctx, run: &RunInfo) -> Outcome {
    let mut observed = assert::Observed::default();
    let mut outcome = match &probe.kind {
        ProbeKind::Http(spec) => http::check(probe, spec, ctx, &mut observed).await,
        ProbeKind::Tcp(spec) => tcp::check(probe, spec, ctx).await,
        ProbeKind::Tls(spec) => tls::check(probe, spec, ctx).await,
        ProbeKind::Dns(spec) => dns::check(probe, spec, ctx).await,
        ProbeKind::Command(spec) => command::check(probe, spec, ctx, run).await,
        ProbeKind::Push(spec) => push::check(probe, spec, ctx, run),
        ProbeKind::Icmp(spec) => icmp::check(probe, spec, ctx).await,
    };
    let before = outcome.sample.health;
    assert::apply(&probe.assertions, &mut outcome.sample, &observed);
    if outcome.sample.health == Health::Down && before != Health::Down {
        outcome.failure = Some(FailureKind::Assertion);
    }
    outcome
}

/// Run one check and, when it failed in a way a new attempt may not repeat, re-check it
/// up to `probe.retries` times after `probe.retry_delay`, each with a new connection. The
/// sample fails only if every attempt failed; it records how many attempts were made.
pub async fn check(probe: &Probe, ctx: &Ctx, run: &RunInfo) -> Sample {
    let mut outcome = attempt(probe, ctx, run).await;
    let first_at = outcome.sample.at;
    let mut attempts = 1;
    // A heartbeat does not arrive sooner for being looked for twice.
    let retries = if matches!(probe.kind, ProbeKind::Push(_)) {
        0
    } else {
        probe.retries
    };
    while outcome.rechecked() && attempts <= retries {
        tokio::time::sleep(probe.retry_delay).await;
        let retry = attempt(probe, ctx, run).await;
        attempts += 1;
        if !retry.rechecked() {
            let first = outcome.sample.detail;
            outcome = retry;
            outcome.sample.detail = format!(
                "{} (after a failed attempt: {first})",
                outcome.sample.detail
            );
            break;
        }
        outcome = retry;
    }
    if outcome.rechecked() {
        // Every attempt failed: the failure began at the first, and an outage is
        // back-dated to it, not to the start of the last re-check.
        outcome.sample.at = first_at;
    }
    outcome.sample.attempts = attempts;
    settle(probe, outcome)
}

/// The sample of a check's last attempt, as it is recorded: secrets redacted, and the
/// fix said when the prober ran out of file descriptors (its own limit, not the target's
/// fault: never down).
fn settle(probe: &Probe, outcome: Outcome) -> Sample {
    let Outcome {
        mut sample,
        failure,
    } = outcome;
    sample.detail = redact(probe, sample.detail);
    if failure == Some(FailureKind::OutOfDescriptors) {
        sample.detail = format!(
            "{}; this prober ran out of file descriptors: raise its limit (ulimit -n, systemd LimitNOFILE) or lower --concurrency",
            sample.detail
        );
    }
    sample
}

/// Replace the value of every `${SECRET}` the probe uses by its reference, wherever a
/// detail repeats it (an error naming a host, a server echoing a token). Values shorter
/// than four characters are left alone: replacing them would garble the detail.
pub(crate) fn redact(probe: &Probe, detail: String) -> String {
    redact_with(probe, detail, &|name| std::env::var(name).ok())
}

fn redact_with(
    probe: &Probe,
    mut detail: String,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> String {
    for var in probe.kind.templates().iter().flat_map(|t| t.vars()) {
        let Some(value) = lookup(var) else {
            continue;
        };
        if value.len() < 4 {
            continue;
        }
        let reference = format!("${{{var}}}");
        let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        detail = detail
            .replace(&value, &reference)
            .replace(&encoded, &reference);
    }
    detail
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{HttpSpec, Method, StatusMatch, Template};

    fn probe(url: &str, header: &str) -> Probe {
        Probe {
            id: "p".into(),
            components: vec!["web".into()],
            regions: vec!["r".into()],
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            retries: 0,
            retry_delay: Duration::from_secs(1),
            confirm: 2,
            recover: 2,
            quorum: None,
            degraded_after: None,
            assertions: Vec::new(),
            kind: ProbeKind::Http(HttpSpec {
                url: Template::parse(url).unwrap(),
                method: Method::Get,
                headers: vec![("Authorization".into(), Template::parse(header).unwrap())],
                body: None,
                expect_status: vec![StatusMatch::Class(2)],
                body_contains: None,
                follow_redirects: true,
                max_redirects: 5,
                max_body_bytes: 1024,
                ip_version: Default::default(),
                tls: Default::default(),
            }),
        }
    }

    #[test]
    fn details_never_carry_secret_values() {
        let p = probe("https://${HOST}/x?k=${KEY}", "Bearer ${TOKEN}");
        let env = |n: &str| match n {
            "HOST" => Some("internal.example".to_string()),
            "KEY" => Some("a b&c=d".to_string()),
            "TOKEN" => Some("tok".to_string()),
            _ => None,
        };
        let detail =
            "dns: cannot resolve internal.example; echoed a+b%26c%3Dd and a b&c=d; tok".to_string();
        assert_eq!(
            redact_with(&p, detail, &env),
            "dns: cannot resolve ${HOST}; echoed ${KEY} and ${KEY}; tok",
            "values under four characters are left alone"
        );
    }

    #[test]
    fn the_kind_not_the_wording_says_the_prober_ran_out_of_descriptors() {
        let p = probe("http://127.0.0.1/", "x");
        let out = |verdict| settle(&p, Outcome::now(verdict));
        let local = out(Err(Failure::new(
            FailureKind::OutOfDescriptors,
            "cannot open a socket: Too many open files (os error 24)",
        )));
        assert_eq!(local.health, Health::Unknown);
        assert!(
            local
                .detail
                .ends_with("; this prober ran out of file descriptors: raise its limit (ulimit -n, systemd LimitNOFILE) or lower --concurrency"),
            "{}",
            local.detail
        );
        let quoted = out(Err(Failure::target(
            "connected to 127.0.0.1:1, but the answer does not match /ok/: \"Too many open files (os error 24)\"",
        )));
        assert_eq!(quoted.health, Health::Down);
        assert!(!quoted.detail.contains("this prober ran out"));
    }
}
