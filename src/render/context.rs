//! Step 6 (render): what the templates see. A theme's templates are read once to learn
//! which fields of `site` they use, and only those fields of the site model become
//! template values: a build of 2,000 posts no longer converts every post's page three
//! times over for templates that never read `site.incidents`.

use std::collections::{BTreeMap, BTreeSet};

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
    let mut picker = Picker {
        reads,
        out: BTreeMap::new(),
    };
    // The model is a struct; anything else gives an empty `site`, which a test rules out.
    let _ = model.serialize(&mut picker);
    tera::Value::from(picker.out)
}

/// A serializer that takes a struct apart field by field and converts the wanted ones.
struct Picker<'r> {
    reads: &'r Reads,
    out: BTreeMap<String, tera::Value>,
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
            self.out
                .insert(key.to_string(), tera::Value::from_serializable(value));
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
            reads(r#"<p>{{ site.page.title }} {{ site.t["Past incidents"] }}</p>{% for g in site.groups %}{% endfor %}"#),
            fields(&["groups", "page", "t"])
        );
        assert_eq!(
            reads("{# site | json_encode #}<p>Our website, site. {{ website.x }} {{ item.site }}</p>"),
            fields(&[]),
            "comments, text outside tags and other names are not uses"
        );
        assert_eq!(reads("{{ site | json_encode }}"), Reads::All);
        assert_eq!(reads("{% set s = site %}{{ s.incidents }}"), Reads::All);
        assert_eq!(reads("{{ site[key] }}"), Reads::All);
        assert_eq!(reads("{{ site [ 'regions' ] }}"), fields(&["regions"]));
        assert_eq!(reads("{{ site.x"), fields(&["x"]), "an unclosed tag");
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
        assert_eq!(v, tera::Value::from_serializable(&serde_json::json!({"b": ["x"]})));
        assert_eq!(
            site_value(&m, &Reads::All),
            tera::Value::from_serializable(&serde_json::json!({"a": 1, "b": ["x"]}))
        );
    }
}
