//! Step 2 (probe): why a check failed, typed. A [`Failure`] is a kind and the detail a
//! sample shows; the kind, never the wording, decides whether the sample is down or
//! unknown and whether it is re-checked.

use std::fmt;
use std::io;

use crate::state::Health;

/// How a check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The target failed or answered wrongly: refused, reset, silent, a bad certificate,
    /// an unexpected status or answer. Down, and re-checked.
    Target,
    /// One of the probe's assertions did not hold on what the target answered. Down,
    /// and re-checked.
    Assertion,
    /// This prober ran out of file descriptors (EMFILE, ENFILE), as the operating system
    /// said. Re-checked; unknown, with the fix, when every attempt ran out: the prober's
    /// limit is not the target's fault.
    OutOfDescriptors,
    /// This prober cannot run the check: a `${VAR}` that is not set, no permission for
    /// ICMP, a plugin it cannot start, a heartbeat it cannot read. Unknown, and not
    /// re-checked.
    Prober,
}

impl FailureKind {
    /// The health of a sample that failed so.
    pub fn health(self) -> Health {
        match self {
            FailureKind::Target | FailureKind::Assertion => Health::Down,
            FailureKind::OutOfDescriptors | FailureKind::Prober => Health::Unknown,
        }
    }

    /// Whether a new attempt, a moment later, may see something else.
    pub fn rechecked(self) -> bool {
        !matches!(self, FailureKind::Prober)
    }

    /// The kind of a failed system call: out of descriptors for EMFILE and ENFILE, else
    /// the target's.
    pub fn of_io(e: &io::Error) -> FailureKind {
        match e.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE) => FailureKind::OutOfDescriptors,
            _ => FailureKind::Target,
        }
    }

    /// The kind of any error: out of descriptors when an I/O error in its chain of
    /// sources says so, else the target's.
    pub fn of_error(e: &(dyn std::error::Error + 'static)) -> FailureKind {
        let mut next = Some(e);
        while let Some(e) = next {
            if let Some(io) = e.downcast_ref::<io::Error>() {
                let inner = io.get_ref().map(|i| FailureKind::of_error(i));
                if FailureKind::of_io(io) == FailureKind::OutOfDescriptors
                    || inner == Some(FailureKind::OutOfDescriptors)
                {
                    return FailureKind::OutOfDescriptors;
                }
            }
            next = e.source();
        }
        FailureKind::Target
    }
}

/// A failed check, or a failed step of one: what kind of failure, and the detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure it is; decides the sample's health.
    pub kind: FailureKind,
    /// The detail the sample shows, e.g. `connect refused (127.0.0.1:8080)`.
    pub detail: String,
}

impl Failure {
    /// A failure of `kind`.
    pub fn new(kind: FailureKind, detail: impl Into<String>) -> Failure {
        Failure {
            kind,
            detail: detail.into(),
        }
    }

    /// The target's failure.
    pub fn target(detail: impl Into<String>) -> Failure {
        Failure::new(FailureKind::Target, detail)
    }

    /// A failure of this prober to run the check.
    pub fn prober(detail: impl Into<String>) -> Failure {
        Failure::new(FailureKind::Prober, detail)
    }

    /// A failed system call, its kind read from the error code.
    pub fn io(e: &io::Error, detail: impl Into<String>) -> Failure {
        Failure::new(FailureKind::of_io(e), detail)
    }

    /// The same failure, its detail after `prefix` (`dns: `).
    pub fn prefixed(self, prefix: &str) -> Failure {
        Failure {
            detail: format!("{prefix}{}", self.detail),
            ..self
        }
    }

    /// Several failures in one, their details joined by `; `: out of descriptors when
    /// any of them was, else the target's.
    pub fn joined(failures: Vec<Failure>) -> Failure {
        let kind = if failures
            .iter()
            .any(|f| f.kind == FailureKind::OutOfDescriptors)
        {
            FailureKind::OutOfDescriptors
        } else {
            FailureKind::Target
        };
        let details: Vec<String> = failures.into_iter().map(|f| f.detail).collect();
        Failure::new(kind, details.join("; "))
    }
}

/// A `${VAR}` that is not set: this prober cannot make the request it was given.
impl From<crate::config::MissingVar> for Failure {
    fn from(missing: crate::config::MissingVar) -> Failure {
        Failure::prober(missing.to_string())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_are_read_from_the_error_code_not_the_text() {
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        let enfile = io::Error::from_raw_os_error(libc::ENFILE);
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        let worded = io::Error::other("Too many open files (os error 24)");
        assert_eq!(FailureKind::of_io(&emfile), FailureKind::OutOfDescriptors);
        assert_eq!(FailureKind::of_io(&enfile), FailureKind::OutOfDescriptors);
        assert_eq!(FailureKind::of_io(&refused), FailureKind::Target);
        assert_eq!(FailureKind::of_io(&worded), FailureKind::Target);
        let wrapped = io::Error::other(io::Error::from_raw_os_error(libc::EMFILE));
        assert_eq!(
            FailureKind::of_error(&wrapped),
            FailureKind::OutOfDescriptors
        );
    }

    #[test]
    fn the_kind_decides_the_health() {
        assert_eq!(FailureKind::Target.health(), Health::Down);
        assert_eq!(FailureKind::Assertion.health(), Health::Down);
        assert_eq!(FailureKind::OutOfDescriptors.health(), Health::Unknown);
        assert_eq!(FailureKind::Prober.health(), Health::Unknown);
        assert!(!FailureKind::Prober.rechecked());
        assert!(FailureKind::OutOfDescriptors.rechecked());
    }

    #[test]
    fn joined_failures_keep_every_detail() {
        let f = Failure::joined(vec![
            Failure::target("connect refused (a)"),
            Failure::new(FailureKind::OutOfDescriptors, "cannot open a socket: x"),
        ]);
        assert_eq!(f.kind, FailureKind::OutOfDescriptors);
        assert_eq!(f.detail, "connect refused (a); cannot open a socket: x");
    }
}
