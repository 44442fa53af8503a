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

/// The phrase giving how a time is shown (a strftime format, translated like the rest).
pub const DATE_TIME_FORMAT: &str = "%-d %b %Y, %H:%M %Z";
/// The phrase giving how a day is shown.
pub const DATE_FORMAT: &str = "%-d %b %Y";

fn parse(text: &str, shown: &str) -> Result<BTreeMap<String, String>> {
    let node = crate::yaml::parse(text).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    let map = crate::yaml::from_node::<BTreeMap<String, String>>(&node, "")
        .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    // A format chrono cannot follow would fail every page that shows a time.
    for key in [DATE_TIME_FORMAT, DATE_FORMAT] {
        let Some(format) = map.get(key) else {
            continue;
        };
        let parsed = TimeFormat::new(format);
        let line = node.loc_of(&[key]).line;
        if parsed.is_none() {
            anyhow::bail!(
                "{shown}:{line}: \"{key}\": \"{format}\" is not a date format chrono knows; \
                 use strftime specifiers such as %-d %b %Y and %H:%M (write %% for a percent sign)"
            );
        }
        if key == DATE_FORMAT && !parsed.is_some_and(|f| f.fits_a_day()) {
            anyhow::bail!(
                "{shown}:{line}: \"{key}\": \"{format}\" asks for a time or a zone, and this \
                 phrase shows a day; keep to day, month and year specifiers such as %-d %b %Y"
            );
        }
    }
    Ok(map)
}

/// A strftime format, checked and parsed once: formatting thousands of times no longer
/// parses it each time.
#[derive(Debug, Clone)]
pub struct TimeFormat(Vec<chrono::format::Item<'static>>);

impl TimeFormat {
    /// `format` parsed, or `None` when chrono cannot follow it.
    pub fn new(format: &str) -> Option<TimeFormat> {
        let items = chrono::format::StrftimeItems::new(format)
            .parse_to_owned()
            .ok()?;
        Some(TimeFormat(items))
    }

    /// Whether `format` shows a day (with no time in it).
    fn fits_a_day(&self) -> bool {
        use std::fmt::Write;
        let day = chrono::NaiveDate::default();
        write!(String::new(), "{}", day.format_with_items(self.0.iter())).is_ok()
    }

    /// `d` in this format.
    pub fn show_date(&self, d: chrono::NaiveDate) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = write!(out, "{}", d.format_with_items(self.0.iter()));
        out
    }

    /// `t` in this format.
    pub fn show<Tz: chrono::TimeZone>(&self, t: &chrono::DateTime<Tz>) -> String
    where
        Tz::Offset: std::fmt::Display,
    {
        use std::fmt::Write;
        let mut out = String::new();
        // The items were checked when parsed; a time zone name that cannot be written is
        // left out rather than failing the page.
        let _ = write!(out, "{}", t.format_with_items(self.0.iter()));
        out
    }
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

    /// The phrase `key` (a strftime format, checked when loaded) ready to format with.
    pub fn time_format(&self, key: &str) -> TimeFormat {
        TimeFormat::new(&self.get(key))
            .or_else(|| TimeFormat::new(key))
            .unwrap_or(TimeFormat(Vec::new()))
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
    fn a_date_format_chrono_cannot_follow_is_refused_where_it_is_written() {
        let text = "\"Past incidents\": Earlier\n\"%-d %b %Y, %H:%M %Z\": \"%Q %Y\"\n";
        let e = parse(text, "themes/t/locales/en.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("themes/t/locales/en.yaml:2: \"%-d %b %Y, %H:%M %Z\": \"%Q %Y\" is not"),
            "{e}"
        );
        assert!(e.contains("use strftime specifiers"), "{e}");
        let e = parse("\"%-d %b %Y\": \"%d %H:%M\"\n", "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("x.yaml:1: \"%-d %b %Y\": \"%d %H:%M\" asks for a time"),
            "{e}"
        );
        let f = TimeFormat::new("%-d %b %Y").unwrap();
        assert_eq!(
            f.show_date(chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap()),
            "5 Jan 2026"
        );
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-02T10:00:00Z").unwrap();
        assert_eq!(f.show(&t), "2 Nov 2026");
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
