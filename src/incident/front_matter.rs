//! Step 4b (incidents): split a post into its YAML front matter and markdown body, keeping
//! the line where each part starts so errors point at lines of the file.

/// A post split in two.
#[derive(Debug, PartialEq, Eq)]
pub struct Split<'a> {
    /// The YAML between the fences.
    pub yaml: &'a str,
    /// Line of the file where the YAML starts (1-based).
    pub yaml_line: usize,
    /// The markdown after the closing fence.
    pub body: &'a str,
    /// Line of the file where the body starts (1-based).
    pub body_line: usize,
}

/// Split `text` (already with `\n` line ends). Errors say what to write.
pub fn split(text: &str) -> Result<Split<'_>, (usize, String)> {
    let Some(rest) = text.strip_prefix("---\n") else {
        return Err((
            1,
            "a post must start with a `---` line, then the front matter (title, impact, components), then `---`".into(),
        ));
    };
    let (yaml, body) = if let Some(body) = rest.strip_prefix("---\n") {
        ("", body)
    } else {
        match rest.split_once("\n---\n") {
            Some(parts) => parts,
            None => match rest.strip_suffix("\n---") {
                Some(yaml) => (yaml, ""),
                None => {
                    return Err((
                        1,
                        "the front matter is not closed; add a `---` line after it".into(),
                    ));
                }
            },
        }
    };
    let yaml_lines = if yaml.is_empty() {
        0
    } else {
        yaml.matches('\n').count() + 1
    };
    Ok(Split {
        yaml,
        yaml_line: 2,
        body,
        body_line: 2 + yaml_lines + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_counts_lines() {
        let s = split("---\ntitle: x\nimpact: minor\n---\n## a\nbody\n").unwrap();
        assert_eq!(s.yaml, "title: x\nimpact: minor");
        assert_eq!(s.yaml_line, 2);
        assert_eq!(s.body, "## a\nbody\n");
        assert_eq!(s.body_line, 5);
    }

    #[test]
    fn reports_missing_fences() {
        assert_eq!(split("title: x\n").unwrap_err().0, 1);
        assert!(
            split("---\ntitle: x\n")
                .unwrap_err()
                .1
                .contains("not closed")
        );
        assert_eq!(split("---\n---\nbody").unwrap().body_line, 3);
        assert_eq!(split("---\ntitle: x\n\n---\n## a").unwrap().body_line, 5);
    }
}
