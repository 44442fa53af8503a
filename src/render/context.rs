//! Step 6 (render): what the templates see. A theme's templates are read once to learn
//! which fields of `site` they use, and only those fields of the site model become
//! template values: a build of 2,000 posts no longer converts every post's page three
//! times over for templates that never read `site.incidents`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde::ser::{Impossible, SerializeStruct, Serializer};

/// Which fields of `site` a theme's templates read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reads {
    /// Some template uses `site` other than as `site.<field>` or `site["<field>"]`
    /// (passed whole, looked up with a variable, ...): every field is given.
    All,
    /// Only these fields are read.
    Fields(BTreeSet<String>),
}

impl Reads {
    /// What the templates `sources` read of `site`, from their text: every `site`
    /// inside a tag (`{{ }}` or `{% %}`, comments left out) followed by `.name` or
    /// `["name"]` reads that field; any other use of `site` reads all of it.
    pub fn of<'a>(sources: impl IntoIterator<Item = &'a str>) -> Reads {
        let mut fields = BTreeSet::new();
        for source in sources {
            for tag in tags(source) {
                for field in site_uses(tag) {
                    match field {
                        Some(f) => {
                            fields.insert(f.to_string());
                        }
                        None => return Reads::All,
                    }
                }
            }
        }
        Reads::Fields(fields)
    }

    fn wants(&self, field: &str) -> bool {
        match self {
            Reads::All => true,
            Reads::Fields(f) => f.contains(field),
        }
    }

    /// What `self` and `other` read together.
    pub fn union(&self, other: &Reads) -> Reads {
        match (self, other) {
            (Reads::Fields(a), Reads::Fields(b)) => Reads::Fields(a.union(b).cloned().collect()),
            _ => Reads::All,
        }
    }

    /// What the page template `name` reads of `site`, following the templates it extends,
    /// includes and imports among `all` (name, text). A name resolves to a theme's own
    /// template first, then to the built-in one (`default/<name>`), as the templates do.
    /// A reference the text does not name (a variable) makes it read everything.
    pub fn of_page(all: &[(String, String)], name: &str) -> Reads {
        let find = |n: &str| {
            all.iter().find(|(k, _)| k == n).or_else(|| {
                all.iter()
                    .find(|(k, _)| k.strip_prefix("default/") == Some(n))
            })
        };
        let mut seen = BTreeSet::new();
        let mut todo = vec![name.to_string()];
        let mut texts = Vec::new();
        while let Some(n) = todo.pop() {
            let Some((key, text)) = find(&n) else {
                continue;
            };
            if !seen.insert(key.clone()) {
                continue;
            }
            texts.push(text.as_str());
            for tag in tags(text) {
                let tag = tag.trim_start_matches('-').trim_start();
                let refers = ["extends", "include", "import", "from"]
                    .iter()
                    .any(|w| tag.starts_with(w));
                if !refers {
                    continue;
                }
                let named = quoted(tag);
                if named.is_empty() {
                    return Reads::All;
                }
                // The templates a built-in one names resolve the same way.
                todo.extend(named.iter().map(|n| n.to_string()));
            }
        }
        Reads::of(texts)
    }
}

/// The string literals in a tag.
fn quoted(tag: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = tag;
    while let Some(start) = rest.find(['"', '\'', '`']) {
        let q = &rest[start..start + 1];
        let after = &rest[start + 1..];
        let Some(end) = after.find(q) else {
            break;
        };
        out.push(&after[..end]);
        rest = &after[end + 1..];
    }
    out
}

/// The insides of the expression and statement tags of a template.
fn tags(source: &str) -> impl Iterator<Item = &str> {
    let mut rest = source;
    std::iter::from_fn(move || {
        loop {
            let start = rest.find('{')?;
            let after = &rest[start + 1..];
            let close = match after.as_bytes().first() {
                Some(b'{') => "}}",
                Some(b'%') => "%}",
                Some(b'#') => "#}",
                _ => {
                    rest = after;
                    continue;
                }
            };
            let body = &after[1..];
            let end = body.find(close).unwrap_or(body.len());
            rest = body.get(end + 2..).unwrap_or("");
            if close != "#}" {
                return Some(&body[..end]);
            }
        }
    })
}

/// Each use of the variable `site` in a tag's text: `Some(field)` for `site.field` or
/// `site["field"]`, `None` for any other use. Inside string literals too: a stray match
/// only gives a template more than it needs.
fn site_uses(tag: &str) -> Vec<Option<&str>> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut uses = Vec::new();
    let mut from = 0;
    while let Some(at) = tag[from..].find("site").map(|i| i + from) {
        from = at + 4;
        let before = tag[..at].chars().next_back();
        if before.is_some_and(|c| ident(c) || c == '.') {
            continue;
        }
        let after = &tag[at + 4..];
        if after.chars().next().is_some_and(ident) {
            continue;
        }
        let after = after.trim_start();
        let field = if let Some(rest) = after.strip_prefix('.') {
            let rest = rest.trim_start();
            let len = rest.find(|c: char| !ident(c)).unwrap_or(rest.len());
            Some(&rest[..len]).filter(|f| !f.is_empty())
        } else if let Some(rest) = after.strip_prefix('[') {
            let rest = rest.trim_start();
            rest.strip_prefix('"')
                .or_else(|| rest.strip_prefix('\''))
                .and_then(|r| {
                    let len = r.find(['"', '\''])?;
                    let name = &r[..len];
                    r[len + 1..]
                        .trim_start()
                        .starts_with(']')
                        .then_some(name)
                        .filter(|n| n.chars().all(ident) && !n.is_empty())
                })
        } else {
            None
        };
        uses.push(field);
    }
    uses
}

/// The fields of `model` that `reads` names, as one template value (a map).
pub fn site_value<T: Serialize>(model: &T, reads: &Reads) -> tera::Value {
    tera::Value::from(pick(model, reads, Pick::Values).values)
}

/// Take `model` apart and convert (or hash) the fields `reads` names. The model is a
/// struct; anything else gives nothing, which a test rules out.
fn pick<'r, T: Serialize>(model: &T, reads: &'r Reads, how: Pick) -> Picker<'r> {
    let mut picker = Picker {
        reads,
        how,
        values: BTreeMap::new(),
        hashes: HashMap::new(),
    };
    let _ = model.serialize(&mut picker);
    picker
}

/// The `site` fields converted by a build, each with the hash of the field it was
/// converted from: the next build in a rebuild loop reuses a value whose field hashes
/// the same instead of converting it again.
pub type Converted = HashMap<String, (u64, tera::Value)>;

/// The `site` values of one build's templates: each field converted once, when a
/// template that reads it is first rendered, or taken from the last build when its
/// field did not change.
pub struct SiteValues<'m, T> {
    model: &'m T,
    fields: BTreeMap<String, tera::Value>,
    by_template: Vec<(Reads, tera::Value)>,
    /// The hash of each field this build (empty outside a rebuild loop).
    hashes: &'m HashMap<String, u64>,
    /// What the last build converted.
    before: Option<&'m Converted>,
}

impl<'m, T: Serialize> SiteValues<'m, T> {
    /// Nothing converted yet; fields whose hash in `hashes` is the one they had in
    /// `before` are taken from there.
    pub fn new(
        model: &'m T,
        hashes: &'m HashMap<String, u64>,
        before: Option<&'m Converted>,
    ) -> Self {
        SiteValues {
            model,
            fields: BTreeMap::new(),
            by_template: Vec::new(),
            hashes,
            before,
        }
    }

    /// `site` for a template that reads `reads`.
    pub fn for_template(&mut self, reads: &Reads) -> tera::Value {
        if let Some((_, v)) = self.by_template.iter().find(|(r, _)| r == reads) {
            return v.clone();
        }
        let value = match reads {
            Reads::All => site_value(self.model, reads),
            Reads::Fields(names) => {
                for name in names {
                    if self.fields.contains_key(name) {
                        continue;
                    }
                    let unchanged = self
                        .before
                        .and_then(|b| b.get(name))
                        .filter(|(h, _)| self.hashes.get(name) == Some(h));
                    if let Some((_, v)) = unchanged {
                        self.fields.insert(name.clone(), v.clone());
                    }
                }
                let missing = Reads::Fields(
                    names
                        .iter()
                        .filter(|n| !self.fields.contains_key(*n))
                        .cloned()
                        .collect(),
                );
                self.fields
                    .extend(pick(self.model, &missing, Pick::Values).values);
                let mine: BTreeMap<String, tera::Value> = names
                    .iter()
                    .filter_map(|n| Some((n.clone(), self.fields.get(n)?.clone())))
                    .collect();
                tera::Value::from(mine)
            }
        };
        self.by_template.push((reads.clone(), value.clone()));
        value
    }

    /// What this build converted, with the hash of each field, for the next one.
    pub fn converted(self) -> Converted {
        self.fields
            .into_iter()
            .filter_map(|(name, v)| Some((self.hashes.get(&name).copied()?, name, v)))
            .map(|(h, name, v)| (name, (h, v)))
            .collect()
    }
}

/// A hash of each field of `model` that `reads` names: a page whose fields and subject
/// hash the same as in the last build is the same page.
pub fn field_hashes<T: Serialize>(model: &T, reads: &Reads) -> HashMap<String, u64> {
    pick(model, reads, Pick::Hashes).hashes
}

/// A serializer that takes a struct apart field by field and converts (or hashes) the
/// wanted ones.
struct Picker<'r> {
    reads: &'r Reads,
    how: Pick,
    values: BTreeMap<String, tera::Value>,
    hashes: HashMap<String, u64>,
}

/// What [`pick`] makes of each field.
#[derive(Clone, Copy)]
enum Pick {
    Values,
    Hashes,
}

/// Refused: the site model must be a struct with named fields.
#[derive(Debug)]
struct NotAStruct;

impl std::fmt::Display for NotAStruct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the site model is not a struct")
    }
}

impl std::error::Error for NotAStruct {}

impl serde::ser::Error for NotAStruct {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        NotAStruct
    }
}

impl SerializeStruct for &mut Picker<'_> {
    type Ok = ();
    type Error = NotAStruct;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), NotAStruct> {
        if self.reads.wants(key) {
            match self.how {
                Pick::Values => {
                    let v = tera::Value::from_serializable(value);
                    self.values.insert(key.to_string(), v);
                }
                Pick::Hashes => {
                    self.hashes
                        .insert(key.to_string(), crate::fingerprint::of(value));
                }
            }
        }
        Ok(())
    }

    fn end(self) -> Result<(), NotAStruct> {
        Ok(())
    }
}

/// Every serializer method but `serialize_struct` refuses.
macro_rules! refuse {
    ($($name:ident($($arg:ty),*);)*) => {
        $(fn $name(self, $(_: $arg),*) -> Result<(), NotAStruct> { Err(NotAStruct) })*
    };
}

impl<'a, 'r> Serializer for &'a mut Picker<'r> {
    type Ok = ();
    type Error = NotAStruct;
    type SerializeSeq = Impossible<(), NotAStruct>;
    type SerializeTuple = Impossible<(), NotAStruct>;
    type SerializeTupleStruct = Impossible<(), NotAStruct>;
    type SerializeTupleVariant = Impossible<(), NotAStruct>;
    type SerializeMap = Impossible<(), NotAStruct>;
    type SerializeStruct = &'a mut Picker<'r>;
    type SerializeStructVariant = Impossible<(), NotAStruct>;

    refuse! {
        serialize_bool(bool); serialize_i8(i8); serialize_i16(i16); serialize_i32(i32);
        serialize_i64(i64); serialize_u8(u8); serialize_u16(u16); serialize_u32(u32);
        serialize_u64(u64); serialize_f32(f32); serialize_f64(f64); serialize_char(char);
        serialize_str(&str); serialize_bytes(&[u8]); serialize_none(); serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), NotAStruct> {
        Err(NotAStruct)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotAStruct> {
        Err(NotAStruct)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotAStruct> {
        Err(NotAStruct)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotAStruct> {
        Err(NotAStruct)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotAStruct> {
        Err(NotAStruct)
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotAStruct> {
        Err(NotAStruct)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotAStruct> {
        Err(NotAStruct)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotAStruct> {
        Err(NotAStruct)
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NotAStruct> {
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotAStruct> {
        Err(NotAStruct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(names: &[&str]) -> Reads {
        Reads::Fields(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn finds_the_fields_templates_read_and_falls_back_to_all() {
        let reads = |s: &str| Reads::of([s]);
        assert_eq!(
            reads(
                r#"<p>{{ site.page.title }} {{ site.t["Past incidents"] }}</p>{% for g in site.groups %}{% endfor %}"#
            ),
            fields(&["groups", "page", "t"])
        );
        assert_eq!(
            reads(
                "{# site | json_encode #}<p>Our website, site. {{ website.x }} {{ item.site }}</p>"
            ),
            fields(&[]),
            "comments, text outside tags and other names are not uses"
        );
        assert_eq!(reads("{{ site | json_encode }}"), Reads::All);
        assert_eq!(reads("{% set s = site %}{{ s.incidents }}"), Reads::All);
        assert_eq!(reads("{{ site[key] }}"), Reads::All);
        assert_eq!(reads("{{ site [ 'regions' ] }}"), fields(&["regions"]));
        assert_eq!(reads("{{ site.x"), fields(&["x"]), "an unclosed tag");
    }

    #[test]
    fn a_page_reads_what_its_base_and_partials_read() {
        let all: Vec<(String, String)> = [
            (
                "default/base.html",
                "{{ site.page }}{% include \"partials/x.html\" %}",
            ),
            ("default/partials/x.html", "{{ site.default_x }}"),
            (
                "default/index.html",
                "{% extends \"base.html\" %}{{ site.groups }}",
            ),
            (
                "default/incident.html",
                "{%- extends \"base.html\" %}{{ site.t }}",
            ),
            ("partials/x.html", "{{ site.theme_x }}"),
            ("dynamic.html", "{% include name %}"),
        ]
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
        assert_eq!(
            Reads::of_page(&all, "incident.html"),
            fields(&["page", "t", "theme_x"]),
            "the theme's partial replaces the built-in one"
        );
        assert_eq!(
            Reads::of_page(&all, "index.html"),
            fields(&["groups", "page", "theme_x"])
        );
        assert_eq!(Reads::of_page(&all, "dynamic.html"), Reads::All);
    }

    #[derive(Serialize)]
    struct Model {
        a: u32,
        b: Vec<&'static str>,
        #[serde(skip)]
        _c: u32,
    }

    #[test]
    fn converts_only_the_fields_read() {
        let m = Model {
            a: 1,
            b: vec!["x"],
            _c: 3,
        };
        let v = site_value(&m, &fields(&["b", "z"]));
        assert_eq!(
            v,
            tera::Value::from_serializable(&serde_json::json!({"b": ["x"]}))
        );
        assert_eq!(
            site_value(&m, &Reads::All),
            tera::Value::from_serializable(&serde_json::json!({"a": 1, "b": ["x"]}))
        );
    }
}
