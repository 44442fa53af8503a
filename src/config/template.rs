//! Step 1 (config): `${ENV_NAME}` references in probe settings. Secrets stay as references in
//! every stored or rendered form; they are resolved only at the moment a check runs.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string that may hold `${NAME}` references to environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    raw: String,
}

/// A reference to a variable that is not set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingVar(pub String);

impl fmt::Display for MissingVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "environment variable {} is not set; export it before starting the prober",
            self.0
        )
    }
}

impl Template {
    /// Parse and check the `${…}` syntax.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let t = Template {
            raw: raw.to_string(),
        };
        t.pieces()?;
        Ok(t)
    }

    /// The text as written, with references unresolved: safe to show or store.
    pub fn as_written(&self) -> &str {
        &self.raw
    }

    /// The names of the variables it refers to.
    pub fn vars(&self) -> Vec<&str> {
        self.pieces()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| match p {
                Piece::Var(v) => Some(v),
                Piece::Text(_) => None,
            })
            .collect()
    }

    /// Whether it refers to any variable (and so may hold a secret).
    pub fn has_vars(&self) -> bool {
        !self.vars().is_empty()
    }

    /// Substitute every reference through `lookup`.
    pub fn resolve(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, MissingVar> {
        // Most templates are plain text: checks resolve theirs on every run.
        if !self.raw.contains("${") {
            return Ok(self.raw.clone());
        }
        let mut out = String::with_capacity(self.raw.len());
        for piece in self.pieces().unwrap_or_default() {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => match lookup(v) {
                    Some(value) => out.push_str(&value),
                    None => return Err(MissingVar(v.to_string())),
                },
            }
        }
        Ok(out)
    }

    /// Resolve from the process environment.
    pub fn resolve_env(&self) -> Result<String, MissingVar> {
        self.resolve(&|name| std::env::var(name).ok())
    }

    fn pieces(&self) -> Result<Vec<Piece<'_>>, String> {
        let mut pieces = Vec::new();
        let mut rest = self.raw.as_str();
        while let Some(start) = rest.find("${") {
            if start > 0 {
                pieces.push(Piece::Text(&rest[..start]));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(format!(
                    "unterminated `${{` in \"{}\"; write ${{NAME}}",
                    self.raw
                ));
            };
            let name = &after[..end];
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                && !name.as_bytes()[0].is_ascii_digit();
            if !valid {
                return Err(format!(
                    "`${{{name}}}` is not a valid variable reference; names use A-Z, 0-9 and _, e.g. ${{API_TOKEN}}"
                ));
            }
            pieces.push(Piece::Var(name));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest));
        }
        Ok(pieces)
    }
}

enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Template::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_and_names_missing_variables() {
        let t = Template::parse("Bearer ${TOKEN}/${OTHER}x").unwrap();
        assert_eq!(t.vars(), vec!["TOKEN", "OTHER"]);
        let env = |n: &str| (n == "TOKEN").then(|| "s3cret".to_string());
        assert_eq!(t.resolve(&env), Err(MissingVar("OTHER".into())));
        let env = |n: &str| Some(n.to_lowercase());
        assert_eq!(t.resolve(&env).unwrap(), "Bearer token/otherx");
        assert_eq!(t.as_written(), "Bearer ${TOKEN}/${OTHER}x");
    }

    #[test]
    fn rejects_bad_references() {
        assert!(Template::parse("${lower}").is_err());
        assert!(Template::parse("${OPEN").is_err());
        assert!(Template::parse("cost $5").is_ok());
    }
}
