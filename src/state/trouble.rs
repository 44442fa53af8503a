//! Step 3 (state): what a failed request to object storage says, in one line. The
//! `object_store` crate's error chain repeats the request's URL and "error sending
//! request" at every level; a worker's log needs what failed (operation and object), what
//! the store or the network said, and what to check, once.

use std::error::Error as StdError;

use object_store::client::{HttpError, HttpErrorKind};

/// A failed store request, told in one line. The store's own error is kept for callers
/// that decide on its kind, but is not a `source`: printing the chain prints the line once.
#[derive(Debug, thiserror::Error)]
#[error("{line}")]
pub struct StoreError {
    /// The whole message.
    pub line: String,
    /// What the store client returned.
    pub error: object_store::Error,
}

/// `op` (GET, PUT, LIST, …) of `object` failed with `error`: one line and the error.
pub fn failed(op: &str, object: &str, error: object_store::Error) -> StoreError {
    StoreError {
        line: line(op, object, &error),
        error,
    }
}

/// The line for `op` of `object` failing with `error`: what failed, what was said, and
/// what to check.
pub fn line(op: &str, object: &str, error: &object_store::Error) -> String {
    let (said, check) = told(error);
    match check {
        Some(check) => format!("{op} {object} failed: {said}; {check}"),
        None => format!("{op} {object} failed: {said}"),
    }
}

/// The longest piece of a store's answer quoted in a message.
const QUOTED: usize = 200;

/// Whether `error` (from opening or writing a region's state) says the store could not
/// be reached, or answered with a server error: trouble that may pass, unlike what
/// retrying cannot fix (credentials, a missing bucket, another worker, damaged state).
pub fn may_pass(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|c| c.downcast_ref::<StoreError>())
        .any(|s| away(&s.error))
}

/// Whether the store was away: no connection, no answer in time, a 5xx answer (S3's
/// 503 SlowDown among them), or one asking to come back later (408, 429).
fn away(error: &object_store::Error) -> bool {
    let unreachable = matches!(
        http_kind(error),
        Some(
            HttpErrorKind::Connect
                | HttpErrorKind::Request
                | HttpErrorKind::Timeout
                | HttpErrorKind::Interrupted
        )
    );
    unreachable
        || status_code(&root_cause(error))
            .is_some_and(|code| code >= 500 || code == 408 || code == 429)
}

/// The HTTP status a store's answer was reported with. `object_store` keeps its status in
/// a type of its own it does not export, so this reads its words: "status code: 503 …".
fn status_code(text: &str) -> Option<u16> {
    let (_, after) = text.split_once("status code: ")?;
    after.get(..3)?.parse().ok()
}

/// What `error` says, without what to check: for a message that says more itself.
pub fn said(error: &object_store::Error) -> String {
    told(error).0
}

/// What `error` says (the root cause, or the store's error code and message) and what to
/// check, if anything can be said.
fn told(error: &object_store::Error) -> (String, Option<&'static str>) {
    use object_store::Error as E;
    let credentials = "check that AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are this store's";
    let (base, check) = match error {
        E::NotFound { .. } => ("not found (HTTP 404)".to_string(), None),
        E::PermissionDenied { .. } => (
            "access denied (HTTP 403)".to_string(),
            Some("check that these credentials may read and write the bucket and prefix"),
        ),
        E::Unauthenticated { .. } => (
            "the store did not accept the credentials (HTTP 401)".to_string(),
            Some(credentials),
        ),
        E::Precondition { .. } => (
            "the object changed since it was last read (HTTP 412)".to_string(),
            None,
        ),
        E::AlreadyExists { .. } => ("the object already exists".to_string(), None),
        E::NotModified { .. } => ("not modified (HTTP 304)".to_string(), None),
        _ => match http_kind(error) {
            Some(HttpErrorKind::Connect) => (
                "cannot connect".to_string(),
                Some("check that the store is up and that AWS_ENDPOINT_URL points at it"),
            ),
            Some(HttpErrorKind::Timeout) => (
                "timed out".to_string(),
                Some(
                    "the store is slow or unreachable (AWS_TIMEOUT and AWS_CONNECT_TIMEOUT set the limits)",
                ),
            ),
            _ => (String::new(), None),
        },
    };
    let root = root_cause(error);
    let answer = store_answer(&root);
    let check = match answer.as_ref().map(|(code, _)| code.as_str()) {
        Some("NoSuchBucket") => Some("check that the bucket exists and its name in the URL"),
        Some("InvalidAccessKeyId" | "SignatureDoesNotMatch") => Some(credentials),
        _ => check,
    };
    let said = match (answer, base.is_empty()) {
        (Some((code, message)), _) if message.is_empty() => code,
        (Some((code, message)), _) => format!("{code}: {message}"),
        (None, true) => root,
        (None, false) if root.is_empty() => base,
        (None, false) => format!("{base} ({root})"),
    };
    (one_line(&said), check)
}

/// The kind of the HTTP failure in `error`'s chain, if it has one.
fn http_kind(error: &object_store::Error) -> Option<HttpErrorKind> {
    chain(error).find_map(|e| e.downcast_ref::<HttpError>().map(HttpError::kind))
}

/// `error` and its sources, outermost first.
fn chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| e.source())
}

/// What the innermost error of the chain says: the network's or the store's own words.
fn root_cause(error: &object_store::Error) -> String {
    chain(error)
        .last()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

/// An S3 error document's `<Code>` and `<Message>`, when `text` holds one.
fn store_answer(text: &str) -> Option<(String, String)> {
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].trim().to_string())
    };
    let code = element("Code").filter(|c| !c.is_empty())?;
    Some((code, element("Message").unwrap_or_default()))
}

/// `text` on one line, at most [`QUOTED`] characters.
fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(QUOTED) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error chained as `object_store` chains a failed request: generic, wrapping a
    /// retry error, wrapping the HTTP error, wrapping the client's, wrapping the cause.
    #[derive(Debug, thiserror::Error)]
    #[error(
        "Error performing PUT http://127.0.0.1:9/b/x in 255ms, after 2 retries - HTTP error: error sending request: {0}"
    )]
    struct Retry(#[source] HttpError);

    fn generic(source: impl StdError + Send + Sync + 'static) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: Box::new(source),
        }
    }

    #[test]
    fn a_refused_connection_is_one_line_with_what_to_check() {
        let refused = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let e = generic(Retry(HttpError::new(HttpErrorKind::Connect, refused)));
        let line = line("PUT", "s3://b/x", &e);
        assert_eq!(
            line,
            "PUT s3://b/x failed: cannot connect (Connection refused (os error 111)); \
             check that the store is up and that AWS_ENDPOINT_URL points at it"
        );
        assert_eq!(line.matches("s3://").count(), 1, "{line}");
        assert!(!line.contains("error sending request"), "{line}");
        // Printed as an error chain it is still the one line.
        let error = anyhow::Error::new(failed("PUT", "s3://b/x", e));
        assert_eq!(format!("{error:#}"), line);
    }

    #[test]
    fn only_an_absent_store_is_trouble_that_may_pass() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let away = failed(
            "PUT",
            "o",
            generic(Retry(HttpError::new(HttpErrorKind::Connect, refused))),
        );
        assert!(may_pass(&anyhow::Error::new(away).context("opening")));
        let denied = failed(
            "PUT",
            "o",
            object_store::Error::PermissionDenied {
                path: "o".into(),
                source: "AccessDenied".into(),
            },
        );
        assert!(!may_pass(&denied.into()));
        assert!(!may_pass(&anyhow::anyhow!("damaged state file")));
        #[derive(Debug, thiserror::Error)]
        #[error("Server returned non-2xx status code: {0}")]
        struct Status(&'static str);
        let answered = |status| may_pass(&failed("PUT", "o", generic(Status(status))).into());
        assert!(answered(
            "503 Service Unavailable: <Error><Code>SlowDown</Code></Error>"
        ));
        assert!(answered("500 Internal Server Error: "));
        assert!(answered("429 Too Many Requests: "));
        assert!(!answered(
            "400 Bad Request: <Error><Code>InvalidArgument</Code></Error>"
        ));
        assert!(!answered("404 Not Found: "));
    }

    #[test]
    fn the_stores_error_document_is_quoted_with_its_fix() {
        #[derive(Debug, thiserror::Error)]
        #[error("Server returned non-2xx status code: 404 Not Found: {0}")]
        struct Status(String);
        let body = "<?xml version=\"1.0\"?>\n<Error><Code>NoSuchBucket</Code>\n<Message>The specified bucket does not exist</Message><BucketName>b</BucketName></Error>";
        let e = generic(Status(body.into()));
        assert_eq!(
            line("LIST", "s3://b/p", &e),
            "LIST s3://b/p failed: NoSuchBucket: The specified bucket does not exist; \
             check that the bucket exists and its name in the URL"
        );
        let denied = object_store::Error::PermissionDenied {
            path: "p".into(),
            source: Box::new(Status("<Error><Code>AccessDenied</Code></Error>".into())),
        };
        assert_eq!(
            line("GET", "s3://b/p/eu.json", &denied),
            "GET s3://b/p/eu.json failed: AccessDenied; \
             check that these credentials may read and write the bucket and prefix"
        );
    }

    #[test]
    fn a_long_answer_is_cut_and_kept_on_one_line() {
        let e = generic(std::io::Error::other(format!(
            "line one\n{}",
            "x".repeat(500)
        )));
        let said = line("GET", "o", &e);
        assert!(!said.contains('\n'));
        assert!(said.chars().count() < 230, "{said}");
        assert!(said.ends_with('…'));
    }
}
