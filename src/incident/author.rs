//! Step 4b (incidents): writing posts, so nobody has to remember the format. Pure text
//! functions; the `incident` command validates the result with the same parser the build
//! uses before anything is written.

use chrono::{DateTime, SecondsFormat, Utc};

use super::Kind;
use crate::status::Impact;

/// A URL-safe slug from a title: lowercase letters, digits and single dashes, at most 48.
pub fn slugify(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 48 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "incident".to_string()
    } else {
        out
    }
}

fn yaml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A new post with its first update.
pub struct NewPost<'a> {
    /// Title.
    pub title: &'a str,
    /// Incident or maintenance.
    pub kind: Kind,
    /// Declared impact (incidents).
    pub impact: Impact,
    /// Affected component ids.
    pub components: &'a [String],
    /// Maintenance window.
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The first update's status word.
    pub status: &'a str,
    /// The first update's text (markdown).
    pub message: &'a str,
    /// When it is posted.
    pub at: DateTime<Utc>,
}

/// The text of a new post.
pub fn new_post(p: &NewPost<'_>) -> String {
    let mut s = String::from("---\n");
    s.push_str(&format!("title: {}\n", yaml_string(p.title)));
    match p.kind {
        Kind::Incident => s.push_str(&format!("impact: {}\n", p.impact.as_str())),
        Kind::Maintenance => {
            s.push_str("kind: maintenance\n");
            if let Some((from, until)) = p.window {
                s.push_str(&format!(
                    "scheduled_for: {}\n",
                    from.to_rfc3339_opts(SecondsFormat::Secs, true)
                ));
                s.push_str(&format!(
                    "scheduled_until: {}\n",
                    until.to_rfc3339_opts(SecondsFormat::Secs, true)
                ));
            }
        }
    }
    s.push_str(&format!("components: [{}]\n", p.components.join(", ")));
    s.push_str("---\n");
    s.push_str(&update_block(p.at, p.status, p.message));
    s
}

fn update_block(at: DateTime<Utc>, status: &str, message: &str) -> String {
    format!(
        "## {} {status}\n{}\n",
        at.to_rfc3339_opts(SecondsFormat::Secs, true),
        message.trim()
    )
}

/// The post with a new update placed first (updates are newest first).
pub fn add_update(
    text: &str,
    at: DateTime<Utc>,
    status: &str,
    message: &str,
) -> Result<String, String> {
    let text = text.replace("\r\n", "\n");
    let split = super::front_matter::split(&text).map_err(|(_, m)| m)?;
    let body_start = text.len() - split.body.len();
    let rest = split.body.trim_start_matches('\n');
    Ok(format!(
        "{}{}\n{rest}",
        &text[..body_start],
        update_block(at, status, message)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_url_safe() {
        assert_eq!(
            slugify("Elevated API error rates!"),
            "elevated-api-error-rates"
        );
        assert_eq!(slugify("  Ünïcode & «quotes» "), "n-code-quotes");
        assert_eq!(slugify("***"), "incident");
        assert!(slugify(&"long ".repeat(40)).len() <= 48);
    }

    #[test]
    fn updates_go_first() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let text = new_post(&NewPost {
            title: "API \"errors\"",
            kind: Kind::Incident,
            impact: Impact::Major,
            components: &["api".to_string()],
            window: None,
            status: "investigating",
            message: "Looking.",
            at: at("2026-11-20T10:00:00Z"),
        });
        let text =
            add_update(&text, at("2026-11-20T10:30:00Z"), "identified", "Found it.").unwrap();
        let parsed = super::super::parse(&text, "x.md", "2026-11-20-api", Some(&["api"])).unwrap();
        assert_eq!(parsed.title, "API \"errors\"");
        assert_eq!(parsed.updates.len(), 2);
        assert_eq!(parsed.updates[0].markdown, "Found it.");
        assert_eq!(parsed.updates[0].line, 6);
    }
}
