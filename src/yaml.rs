//! The YAML layer under every input file (probes.yaml and components.yaml in [`crate::config`],
//! incident front matter in [`crate::incident`], translations in [`crate::site`]): YAML text →
//! a tree of nodes that remember their line and column → serde raw types. Every error carries the node's location and YAML path, and a
//! bad list item is reported on its own so one typo never hides the next.
//!
//! Why not serde_yaml: it is archived upstream, its errors stop at the first problem of a
//! file, and it cannot tell where a value came from once parsed, which semantic checks
//! (an unknown component id, say) need. This module is the one place YAML is parsed.

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Loc {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One YAML node with the place it starts at.
#[derive(Debug, Clone)]
pub struct Node {
    /// What the node holds.
    pub kind: NodeKind,
    /// Where it starts.
    pub loc: Loc,
}

/// The shape of a node.
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// A scalar; `plain` is false for quoted and block scalars, which are always strings.
    Scalar {
        /// The scalar's text.
        value: String,
        /// Whether it was written without quotes (so `true`, `12` and `~` are typed).
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<(Node, Node)>),
}

/// The longest scalar a config file may hold, in bytes: far beyond any name, address or
/// request body, and short of what repeated on every page makes a build heavy.
pub const MAX_SCALAR: usize = 16 * 1024;

/// Why a scalar cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfit {
    /// It holds this character, which XML cannot carry.
    Character(char),
    /// It is this many bytes long, more than [`MAX_SCALAR`].
    Long(usize),
}

impl std::fmt::Display for Unfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unfit::Character(c) => write!(
                f,
                "holds the control character U+{:04X}, which feeds cannot carry (readers drop the whole feed); remove it",
                u32::from(*c)
            ),
            Unfit::Long(n) => write!(
                f,
                "is {n} bytes long, more than the {MAX_SCALAR} a value may hold; shorten it"
            ),
        }
    }
}

impl Node {
    /// Every scalar (keys too) that no output can carry: one holding a character feeds
    /// cannot carry, or longer than [`MAX_SCALAR`]; where it is, its YAML path, and why.
    pub fn unfit_scalars(&self) -> Vec<(Loc, String, Unfit)> {
        let mut out = Vec::new();
        self.walk_unprintable("", &mut out);
        out
    }

    fn walk_unprintable(&self, path: &str, out: &mut Vec<(Loc, String, Unfit)>) {
        match &self.kind {
            NodeKind::Scalar { value, .. } => {
                if let Some(c) = value.chars().find(|c| !crate::words::xml_char(*c)) {
                    out.push((self.loc, path.to_string(), Unfit::Character(c)));
                } else if value.len() > MAX_SCALAR {
                    out.push((self.loc, path.to_string(), Unfit::Long(value.len())));
                }
            }
            NodeKind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    item.walk_unprintable(&format!("{path}[{i}]"), out);
                }
            }
            NodeKind::Map(entries) => {
                for (k, v) in entries {
                    let key = k.as_str().unwrap_or("?");
                    let here = if path.is_empty() {
                        key.to_string()
                    } else {
                        format!("{path}.{key}")
                    };
                    k.walk_unprintable(path, out);
                    v.walk_unprintable(&here, out);
                }
            }
        }
    }

    /// True for `~`, `null`, an empty value.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { value, plain: true } if is_null_word(value))
    }

    /// The value under `key` when this is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The items when this is a sequence; empty for null; `None` for anything else.
    pub fn items(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ if self.is_null() => Some(&[]),
            _ => None,
        }
    }

    /// The text when this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Follow a path of keys and sequence indexes (`["components", "1"]`), returning the
    /// location of the deepest node reached. Used to point semantic errors at the value.
    pub fn loc_of(&self, path: &[&str]) -> Loc {
        let mut node = self;
        for step in path {
            let next = match &node.kind {
                NodeKind::Map(_) => node.get(step),
                NodeKind::Seq(items) => step.parse::<usize>().ok().and_then(|i| items.get(i)),
                NodeKind::Scalar { .. } => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node.loc
    }

    /// Where the text of a scalar starts: after the opening quote of a quoted scalar.
    pub fn text_loc(&self) -> Loc {
        match &self.kind {
            NodeKind::Scalar { plain: false, .. } => Loc {
                line: self.loc.line,
                col: self.loc.col + 1,
            },
            _ => self.loc,
        }
    }

    /// Follow a path of keys and indexes to a node.
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        let mut node = self;
        for step in path {
            node = match &node.kind {
                NodeKind::Map(_) => node.get(step)?,
                NodeKind::Seq(items) => items.get(step.parse::<usize>().ok()?)?,
                NodeKind::Scalar { .. } => return None,
            };
        }
        Some(node)
    }

    fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } if self.is_null() => "nothing",
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

fn is_null_word(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

/// An error found while reading YAML: what, where, and at which path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The sentence, with the fix in it where we know one.
    pub message: String,
    /// Where in the file, when known.
    pub loc: Option<Loc>,
    /// The YAML path (`probes[1].interval`), empty for the document itself.
    pub path: String,
}

impl Error {
    /// A new error at a known place.
    pub fn at(loc: Loc, path: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            loc: Some(loc),
            path: path.into(),
        }
    }

    fn locate(mut self, loc: Loc, path: &str) -> Self {
        if self.loc.is_none() {
            self.loc = Some(loc);
            self.path = path.to_string();
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error {
            message: msg.to_string(),
            loc: None,
            path: String::new(),
        }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        de::Error::custom(unknown_key_message(field, expected))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let message = match suggest(variant, expected) {
            Some(s) => format!("unknown value \"{variant}\", did you mean \"{s}\"?"),
            None => format!(
                "unknown value \"{variant}\", expected one of: {}",
                expected.join(", ")
            ),
        };
        de::Error::custom(message)
    }

    fn missing_field(field: &'static str) -> Self {
        de::Error::custom(format!("missing field \"{field}\"; add `{field}: …` here"))
    }
}

/// `unknown field "intervall", did you mean "interval"?`, or the list of known keys.
pub fn unknown_key_message(field: &str, expected: &[&str]) -> String {
    match suggest(field, expected) {
        Some(s) => format!("unknown field \"{field}\", did you mean \"{s}\"?"),
        None => format!(
            "unknown field \"{field}\", expected one of: {}",
            expected.join(", ")
        ),
    }
}

/// The closest known word, when it is close enough to be a typo.
pub fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(word, k), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// Parse YAML text into a located tree. An empty document is a null node.
pub fn parse(text: &str) -> Result<Node, Error> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    let mut expanded = 0usize;
    let mut root: Option<Node> = None;
    let mut documents = 0;
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| scan_error(text, e.marker(), e.info()))?;
        let loc = Loc {
            line: span.start.line(),
            col: span.start.col() + 1,
        };
        let done = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(Error::at(
                        loc,
                        "",
                        "a second YAML document (`---`) is not allowed here; keep one document per file",
                    ));
                }
                None
            }
            Event::Scalar(value, style, anchor, _) => {
                let node = Node {
                    kind: NodeKind::Scalar {
                        value: value.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
                    loc,
                };
                if anchor > 0 {
                    anchors.insert(anchor, (node.clone(), 1));
                }
                Some(node)
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some((node, size)) => {
                    // Aliases of aliases grow exponentially ("billion laughs"): cap the total.
                    expanded += size;
                    if expanded > MAX_ALIAS_NODES {
                        return Err(Error::at(
                            loc,
                            "",
                            "too many alias expansions; write the values out instead",
                        ));
                    }
                    Some(node.clone())
                }
                None => return Err(Error::at(loc, "", "alias to an unknown anchor")),
            },
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame {
                    loc,
                    anchor,
                    kind: FrameKind::Seq(Vec::new()),
                });
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame {
                    loc,
                    anchor,
                    kind: FrameKind::Map(Vec::new(), None),
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(frame) => {
                    let node = Node {
                        kind: match frame.kind {
                            FrameKind::Seq(items) => NodeKind::Seq(items),
                            FrameKind::Map(entries, _) => NodeKind::Map(entries),
                        },
                        loc: frame.loc,
                    };
                    if frame.anchor > 0 {
                        anchors.insert(frame.anchor, (node.clone(), node_count(&node)));
                    }
                    Some(node)
                }
                None => None,
            },
            _ => None,
        };
        if let Some(node) = done {
            attach(&mut stack, &mut root, node)?;
        }
    }
    Ok(root.unwrap_or(Node {
        kind: NodeKind::Scalar {
            value: String::new(),
            plain: true,
        },
        loc: Loc { line: 1, col: 1 },
    }))
}

/// A scanner error as a located sentence. A missing `:` is noticed only on the next line,
/// so that case points back at the last non-blank line before it.
/// Put a finished node into its parent: an item of a sequence, a key or a value of a
/// mapping (a key written twice is an error), or the document's root.
fn attach(stack: &mut [Frame], root: &mut Option<Node>, node: Node) -> Result<(), Error> {
    match stack.last_mut() {
        Some(Frame {
            kind: FrameKind::Seq(items),
            ..
        }) => items.push(node),
        Some(Frame {
            kind: FrameKind::Map(entries, pending),
            ..
        }) => match pending.take() {
            None => {
                if let Some(key) = node.as_str()
                    && entries.iter().any(|(k, _)| k.as_str() == Some(key))
                {
                    return Err(Error::at(
                        node.loc,
                        "",
                        format!("duplicate key \"{key}\"; keep one of them"),
                    ));
                }
                *pending = Some(node);
            }
            Some(key) => entries.push((key, node)),
        },
        None => *root = Some(node),
    }
    Ok(())
}

fn scan_error(text: &str, m: &saphyr_parser::Marker, info: &str) -> Error {
    let mut loc = Loc {
        line: m.line(),
        col: m.col() + 1,
    };
    if info.starts_with("simple key expect") || info.contains("could not find expected ':'") {
        let lines: Vec<&str> = text.lines().collect();
        let mut line = m.line();
        if m.col() == 0 {
            line = line.saturating_sub(1);
        }
        line = line.min(lines.len());
        while line > 1 && lines.get(line - 1).is_none_or(|l| l.trim().is_empty()) {
            line -= 1;
        }
        let indent = lines
            .get(line.saturating_sub(1))
            .map_or(0, |l| l.len() - l.trim_start().len());
        loc = Loc {
            line: line.max(1),
            col: indent + 1,
        };
        return Error::at(
            loc,
            "",
            "invalid YAML: expected `key: value` here; is the ':' after the key missing?",
        );
    }
    Error::at(loc, "", format!("invalid YAML: {info}"))
}

/// Most nodes that aliases may expand to in one document.
const MAX_ALIAS_NODES: usize = 100_000;

fn node_count(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar { .. } => 1,
        NodeKind::Seq(items) => 1 + items.iter().map(node_count).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| node_count(k) + node_count(v))
                .sum::<usize>()
        }
    }
}

struct Frame {
    loc: Loc,
    anchor: usize,
    kind: FrameKind,
}

enum FrameKind {
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>, Option<Node>),
}

/// Deserialize a raw type from one node; `path` names the node in errors (`probes[2]`).
pub fn from_node<T: DeserializeOwned>(node: &Node, path: &str) -> Result<T, Error> {
    T::deserialize(NodeDe {
        node,
        path: path.to_string(),
    })
}

/// The keys a raw struct accepts, in declaration order, read from its `Deserialize` impl,
/// so a key check needs no hand-kept list beside the struct. Empty for a non-struct.
pub fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Fields(std::cell::Cell<&'static [&'static str]>);
    impl<'de> de::Deserializer<'de> for &Fields {
        type Error = Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Error> {
            self.0.set(fields);
            Err(de::Error::custom("fields read"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let fields = Fields(std::cell::Cell::new(&[]));
    // The error is the point: deserialize_struct records the names and stops.
    let _ = T::deserialize(&fields);
    fields.0.get()
}

/// Check a mapping's keys against the known ones, returning the problems (typos with a
/// suggestion) and the entries that are known. Used for a file's top level, whose sections
/// are then read one item at a time.
pub fn known_keys<'a>(
    node: &'a Node,
    path: &str,
    known: &[&str],
    problems: &mut Vec<Error>,
) -> HashMap<String, &'a Node> {
    let mut out = HashMap::new();
    match &node.kind {
        NodeKind::Map(entries) => {
            for (k, v) in entries {
                let key = k.as_str().unwrap_or_default();
                if known.contains(&key) {
                    out.insert(key.to_string(), v);
                } else {
                    problems.push(Error::at(k.loc, path, unknown_key_message(key, known)));
                }
            }
        }
        _ if node.is_null() => {}
        _ => problems.push(Error::at(
            node.loc,
            path,
            format!("expected a mapping of keys, found {}", node.describe()),
        )),
    }
    out
}

struct NodeDe<'a> {
    node: &'a Node,
    path: String,
}

impl<'a> NodeDe<'a> {
    fn child(&self, node: &'a Node, step: &str) -> NodeDe<'a> {
        let path = if step.starts_with('[') || self.path.is_empty() {
            format!("{}{step}", self.path)
        } else {
            format!("{}.{step}", self.path)
        };
        NodeDe { node, path }
    }

    fn fix<T>(&self, r: Result<T, Error>) -> Result<T, Error> {
        r.map_err(|e| e.locate(self.node.loc, &self.path))
    }

    fn invalid<T>(&self, expected: &str) -> Result<T, Error> {
        let found = match &self.node.kind {
            NodeKind::Scalar { value, .. } if !self.node.is_null() => format!("\"{value}\""),
            _ => self.node.describe().to_string(),
        };
        Err(Error::at(
            self.node.loc,
            &self.path,
            format!("expected {expected}, found {found}"),
        ))
    }
}

macro_rules! forward_to_any {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.deserialize_any(visitor)
        })*
    };
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let r = match &self.node.kind {
            NodeKind::Scalar { value, plain } => {
                if !*plain {
                    visitor.visit_str(value)
                } else if is_null_word(value) {
                    visitor.visit_unit()
                } else if let Some(b) = parse_bool(value) {
                    visitor.visit_bool(b)
                } else if let Some(i) = parse_int(value) {
                    if i >= 0 {
                        visitor.visit_u64(i as u64)
                    } else {
                        visitor.visit_i64(i)
                    }
                } else if let Some(f) = parse_float(value) {
                    visitor.visit_f64(f)
                } else {
                    visitor.visit_str(value)
                }
            }
            NodeKind::Seq(_) => return self.deserialize_seq(visitor),
            NodeKind::Map(_) => return self.deserialize_map(visitor),
        };
        self.fix(r)
    }

    forward_to_any! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32
        deserialize_f64 deserialize_char deserialize_bytes deserialize_byte_buf
        deserialize_unit
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.kind {
            NodeKind::Scalar { value, .. } if !self.node.is_null() => {
                let r = visitor.visit_str(value);
                self.fix(r)
            }
            _ => self.invalid("a string"),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.node.items() {
            Some(items) => {
                let r = visitor.visit_seq(Items {
                    parent: &self,
                    items,
                    next: 0,
                });
                self.fix(r)
            }
            None => self.invalid("a list"),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let empty = Vec::new();
        let entries = match &self.node.kind {
            NodeKind::Map(entries) => entries,
            _ if self.node.is_null() => &empty,
            _ => return self.invalid("a mapping of keys"),
        };
        let r = visitor.visit_map(Entries {
            parent: &self,
            entries,
            next: 0,
        });
        self.fix(r)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match &self.node.kind {
            NodeKind::Scalar { value, .. } if !self.node.is_null() => {
                let r = visitor.visit_enum(value.as_str().into_deserializer());
                self.fix(r)
            }
            NodeKind::Map(entries) if entries.len() == 1 => {
                let (k, v) = &entries[0];
                let r = visitor.visit_enum(Variant {
                    key: k,
                    value: self.child(v, k.as_str().unwrap_or_default()),
                });
                self.fix(r)
            }
            _ => self.invalid("one of the listed words"),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

struct Items<'p, 'a> {
    parent: &'p NodeDe<'a>,
    items: &'a [Node],
    next: usize,
}

impl<'de> SeqAccess<'de> for Items<'_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(item) = self.items.get(self.next) else {
            return Ok(None);
        };
        let de = self.parent.child(item, &format!("[{}]", self.next));
        self.next += 1;
        let loc = item.loc;
        let path = de.path.clone();
        seed.deserialize(de)
            .map(Some)
            .map_err(|e| e.locate(loc, &path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len() - self.next)
    }
}

struct Entries<'p, 'a> {
    parent: &'p NodeDe<'a>,
    entries: &'a [(Node, Node)],
    next: usize,
}

impl<'de> MapAccess<'de> for Entries<'_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, _)) = self.entries.get(self.next) else {
            return Ok(None);
        };
        let de = NodeDe {
            node: key,
            path: self.parent.path.clone(),
        };
        seed.deserialize(de)
            .map(Some)
            .map_err(|e| e.locate(key.loc, &self.parent.path))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (key, value) = &self.entries[self.next];
        self.next += 1;
        let de = self.parent.child(value, key.as_str().unwrap_or_default());
        let path = de.path.clone();
        seed.deserialize(de).map_err(|e| e.locate(value.loc, &path))
    }
}

struct Variant<'a> {
    key: &'a Node,
    value: NodeDe<'a>,
}

impl<'de, 'a> EnumAccess<'de> for Variant<'a> {
    type Error = Error;
    type Variant = NodeDe<'a>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, NodeDe<'a>), Error> {
        let name = self.key.as_str().unwrap_or_default();
        let v = seed.deserialize(name.into_deserializer())?;
        Ok((v, self.value))
    }
}

impl<'de> VariantAccess<'de> for NodeDe<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_map(self, visitor)
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn parse_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (radix, digits) = if let Some(hex) = digits.strip_prefix("0x") {
        (16, hex)
    } else if let Some(oct) = digits.strip_prefix("0o") {
        (8, oct)
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let value = i64::from_str_radix(digits, radix).ok()?;
    if neg {
        value.checked_neg()
    } else {
        Some(value)
    }
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" => Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => Some(f64::NAN),
        _ => {
            let looks_numeric = s
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
                && s.bytes().any(|b| b.is_ascii_digit());
            if looks_numeric { s.parse().ok() } else { None }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Item {
        id: String,
        #[serde(default)]
        interval: Option<u32>,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[test]
    fn locates_unknown_field_with_suggestion() {
        let node = parse("items:\n  - id: a\n    intervall: 5\n").unwrap();
        let item = &node.get("items").unwrap().items().unwrap()[0];
        let err = from_node::<Item>(item, "items[0]").unwrap_err();
        assert_eq!(err.loc, Some(Loc { line: 3, col: 5 }));
        assert_eq!(
            err.to_string(),
            "items[0]: unknown field \"intervall\", did you mean \"interval\"?"
        );
    }

    #[test]
    fn locates_type_errors_at_the_value() {
        let node = parse("id: a\ninterval: soon\n").unwrap();
        let err = from_node::<Item>(&node, "").unwrap_err();
        assert_eq!(err.loc, Some(Loc { line: 2, col: 11 }));
        assert!(err.message.contains("invalid type"), "{}", err.message);
        assert_eq!(err.path, "interval");
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let node = parse("id: 123\ntags: [\"1\", two, 3]\n").unwrap();
        let item: Item = from_node(&node, "").unwrap();
        assert_eq!(item.id, "123");
        assert_eq!(item.interval, None);
        assert_eq!(item.tags, vec!["1", "two", "3"]);
    }

    #[test]
    fn duplicate_keys_and_syntax_errors_have_locations() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.loc, Some(Loc { line: 3, col: 1 }));
        let err = parse("a: 1\nb [2]\nc: 3\n").unwrap_err();
        assert_eq!(err.loc, Some(Loc { line: 2, col: 1 }), "{err:?}");
        assert!(
            err.message.contains("':' after the key missing"),
            "{}",
            err.message
        );
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
        assert!(err.loc.is_some());
    }

    #[test]
    fn anchors_and_aliases_resolve() {
        let node = parse("base: &b {id: x}\ncopy: *b\n").unwrap();
        let item: Item = from_node(node.get("copy").unwrap(), "copy").unwrap();
        assert_eq!(item.id, "x");
    }

    #[test]
    fn integers_parse_strictly_and_never_overflow() {
        assert_eq!(parse_int("0x1f"), Some(31));
        assert_eq!(parse_int("-12"), Some(-12));
        assert_eq!(parse_int("0x-5"), None);
        assert_eq!(parse_int("-0x-8000000000000000"), None);
        assert_eq!(parse_int("99999999999999999999"), None);
        assert_eq!(parse_int("1_000"), None);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            let refs = vec![format!("*a{p}"); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let err = parse(&text).unwrap_err();
        assert!(
            err.message.contains("too many alias expansions"),
            "{}",
            err.message
        );
    }

    #[test]
    fn missing_field_names_the_field() {
        let node = parse("interval: 3\n").unwrap();
        let err = from_node::<Item>(&node, "items[2]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "items[2]: missing field \"id\"; add `id: …` here"
        );
    }
}
