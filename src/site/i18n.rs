//! Step 5 (site): the words of the pages in the page's language. A locale file maps each
//! English phrase to its translation (`"Past incidents": "過去のインシデント"`), so
//! templates stay readable (`{{ site.t["Past incidents"] }}`) and a missing translation
//! falls back to English. English and Japanese ship in the built-in theme; a theme can add
//! or override `locales/<language>.yaml`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

/// The built-in locales, embedded at compile time.
pub const DEFAULT_LOCALES: &[(&str, &str)] = &[
    ("en", include_str!("../../themes/default/locales/en.yaml")),
    ("ja", include_str!("../../themes/default/locales/ja.yaml")),
];

/// The phrases of one language.
#[derive(Debug, Clone, Default)]
pub struct Strings(BTreeMap<String, String>);

fn parse(text: &str, shown: &str) -> Result<BTreeMap<String, String>> {
    let node = crate::yaml::parse(text).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    crate::yaml::from_node::<BTreeMap<String, String>>(&node, "")
        .map_err(|e| anyhow::anyhow!("{shown}: {e}"))
}

impl Strings {
    /// English, overlaid with the built-in `language`, then the theme's `en` and
    /// `language` files when it has them.
    pub fn load(language: &str, theme_dir: Option<&Path>) -> Result<Strings> {
        let mut map = BTreeMap::new();
        let base = language.split('-').next().unwrap_or(language);
        // Whether any locale speaks the language: else the page would be English under
        // another language's `lang`, silently.
        let mut spoken = base == "en";
        for lang in ["en", base, language] {
            if let Some((_, text)) = DEFAULT_LOCALES.iter().find(|(l, _)| *l == lang) {
                map.extend(parse(text, &format!("built-in locales/{lang}.yaml"))?);
                spoken |= lang != "en";
            }
        }
        if let Some(dir) = theme_dir {
            for lang in ["en", base, language] {
                let path = dir.join("locales").join(format!("{lang}.yaml"));
                let text = match crate::input::read_text_within(
                    &path,
                    dir,
                    "the theme's folder",
                    crate::input::LOCALE,
                ) {
                    Ok(text) => text,
                    Err(r) if r.is_missing() => continue,
                    Err(r) => anyhow::bail!("{}: {r}", path.display()),
                };
                map.extend(parse(&text, &path.display().to_string())?);
                spoken |= lang != "en";
            }
        }
        if !spoken {
            let built_in: Vec<&str> = DEFAULT_LOCALES.iter().map(|(l, _)| *l).collect();
            anyhow::bail!(
                "language \"{language}\" has no locale: use one of {}, or add locales/{base}.yaml to your theme",
                built_in.join(", ")
            );
        }
        Ok(Strings(map))
    }

    /// English only (for tests and callers without a page).
    pub fn english() -> Strings {
        Strings::load("en", None).unwrap_or_default()
    }

    /// The phrase in this language, or the key itself.
    pub fn get(&self, key: &str) -> String {
        self.0.get(key).cloned().unwrap_or_else(|| key.to_string())
    }

    /// The phrase with `{name}` placeholders filled in.
    pub fn fill(&self, key: &str, values: &[(&str, &str)]) -> String {
        let mut s = self.get(key);
        for (name, value) in values {
            s = s.replace(&format!("{{{name}}}"), value);
        }
        s
    }

    /// Every phrase, for the templates.
    pub fn all(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<String> {
        parse(text, "x")
            .map(|m| m.into_keys().collect())
            .unwrap_or_default()
    }

    #[test]
    fn every_language_translates_every_phrase_the_templates_use() {
        let en = keys(DEFAULT_LOCALES[0].1);
        let ja = keys(DEFAULT_LOCALES[1].1);
        assert_eq!(en, ja, "en.yaml and ja.yaml have the same phrases");
        let used: std::collections::BTreeSet<String> = crate::render::templates::DEFAULT_TEMPLATES
            .iter()
            .flat_map(|(_, t)| {
                t.match_indices("site.t[\"")
                    .filter_map(|(i, _)| {
                        let rest = &t[i + 8..];
                        rest.find("\"]").map(|end| rest[..end].to_string())
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let missing: Vec<&String> = used.iter().filter(|k| !en.contains(k)).collect();
        assert!(
            missing.is_empty(),
            "phrases missing from en.yaml: {missing:?}"
        );
    }

    #[test]
    fn japanese_falls_back_to_english_and_fills_placeholders() {
        let ja = Strings::load("ja-JP", None).unwrap();
        assert_eq!(ja.get("Past incidents"), "過去のインシデント");
        assert_eq!(ja.get("no such phrase"), "no such phrase");
        assert_eq!(
            ja.fill("Down in {regions}", &[("regions", "eu")]),
            "eu でダウン"
        );
    }
}
