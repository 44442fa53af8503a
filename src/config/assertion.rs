//! Step 1 (config): the assertion language of probes.yaml. One assertion is one
//! comparison over what a check observed:
//!
//! ```text
//! status == 200                      response_time < 300ms        body contains "ok"
//! body matches re("^OK")             json.status == "UP"          len(json.items) > 0
//! header.content-type contains "json"                             cert.expires_in > 14d
//! dns.rcode == NOERROR               status in [200, 204]         connected == true
//! age(json.page.updated_at) < 10m
//! ```
//!
//! It is parsed and type-checked when probes.yaml is loaded: an unknown field, a number
//! compared with text, a duration without a unit are errors with the column, not checks
//! that silently compare against zero (Gatus's sharp edge). The facts it can name, their
//! types and which probes record them are one table, [`crate::probe::assert::FACTS`], which
//! the evaluator reads values through; this module only parses and checks against it.

use std::fmt;

use super::KindWord;
use crate::probe::assert::{FACTS, Fact, Shape};

/// A parsed assertion.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// The text as written.
    pub text: String,
    /// Left side.
    pub left: Operand,
    /// The comparison.
    pub op: Op,
    /// Right side.
    pub right: Operand,
    /// A failure makes the check degraded, not down.
    pub degraded: bool,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `contains`: text contains text, or a list contains a value.
    Contains,
    /// `matches`: text matches `re("…")`.
    Matches,
    /// `in`: the value is one of a list.
    In,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::Matches => "matches",
            Op::In => "in",
        })
    }
}

/// One side of a comparison.
#[derive(Debug, Clone)]
pub enum Operand {
    /// A fact of the check: `status`, `json.a.b[0]`, `header.content-type`.
    Path(Vec<Step>),
    /// `len(path)`: length of a text, list or object.
    Len(Vec<Step>),
    /// `age(path)`: how long before the check the time in a text field (RFC 3339) was.
    Age(Vec<Step>),
    /// A number; durations are in milliseconds with `unit` set.
    Number {
        /// The value (milliseconds for durations).
        value: f64,
        /// Whether it was written with a time unit.
        duration: bool,
    },
    /// A quoted string, or a bare word such as `NOERROR`.
    Text(String),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `re("…")`.
    Regex(regex::Regex),
    /// `[a, b, …]`.
    List(Vec<Operand>),
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `.name`
    Key(String),
    /// `[n]`
    Index(usize),
}

/// What kind of value an operand has, as far as is known before the check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// A number.
    Number,
    /// A duration in milliseconds.
    Duration,
    /// Text.
    Text,
    /// true/false.
    Bool,
    /// A list.
    List,
    /// Anything (JSON): checked when the check runs.
    Any,
    /// A regular expression.
    Regex,
    /// null.
    Null,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Number => "a number",
            Type::Duration => "a duration",
            Type::Text => "text",
            Type::Bool => "true/false",
            Type::List => "a list",
            Type::Any => "a JSON value",
            Type::Regex => "a pattern",
            Type::Null => "null",
        })
    }
}

/// Which probes record a fact (a column of [`FACTS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorder {
    /// Every probe.
    Any,
    /// Probes of this kind.
    Kind(KindWord),
    /// Probes of this kind that speak TLS (a tcp probe with `tls: true`).
    Tls(KindWord),
}

/// What a probe is, as far as which facts it records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observer {
    /// Its kind.
    pub kind: KindWord,
    /// Whether it speaks TLS.
    pub tls: bool,
}

impl Recorder {
    /// Whether this probe records the fact.
    pub fn covers(self, probe: Observer) -> bool {
        match self {
            Recorder::Any => true,
            Recorder::Kind(k) => k == probe.kind,
            Recorder::Tls(k) => k == probe.kind && probe.tls,
        }
    }
}

/// The roots of the facts, in table order: what a path may start with.
fn known_roots() -> Vec<&'static str> {
    let mut roots: Vec<&'static str> = Vec::new();
    for f in FACTS {
        if !roots.contains(&f.root) {
            roots.push(f.root);
        }
    }
    roots
}

/// A parse or type error, with the character offset in the assertion text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionError {
    /// 0-based character offset.
    pub offset: usize,
    /// The sentence.
    pub message: String,
}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, AssertionError> {
    Err(AssertionError {
        offset,
        message: message.into(),
    })
}

/// Parse and type-check one assertion.
pub fn parse(text: &str, degraded: bool) -> Result<Assertion, AssertionError> {
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
    };
    let left_at = p.skip_ws();
    let left = p.operand()?;
    let op_at = p.skip_ws();
    let op = p.op()?;
    let right_at = p.skip_ws();
    let right = p.operand()?;
    let end = p.skip_ws();
    if end < p.chars.len() {
        return err(
            end,
            "unexpected text after the comparison; write one comparison per assertion",
        );
    }
    let lt = type_of(&left, left_at)?;
    let rt = type_of(&right, right_at)?;
    check_types(op, (lt, left_at), (rt, right_at), &right, op_at)?;
    Ok(Assertion {
        text: text.trim().to_string(),
        left,
        op,
        right,
        degraded,
    })
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn skip_ws(&mut self) -> usize {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
        self.pos
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn word(&mut self) -> String {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-')
        {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn op(&mut self) -> Result<Op, AssertionError> {
        let at = self.pos;
        let two: String = self.chars.iter().skip(self.pos).take(2).collect();
        let (op, len) = match two.as_str() {
            "==" => (Op::Eq, 2),
            "!=" => (Op::Ne, 2),
            "<=" => (Op::Le, 2),
            ">=" => (Op::Ge, 2),
            _ if two.starts_with('<') => (Op::Lt, 1),
            _ if two.starts_with('>') => (Op::Gt, 1),
            _ if two.starts_with('=') => {
                return err(at, "a single `=` is not a comparison; write `==`");
            }
            _ => {
                let word = self.word();
                return match word.as_str() {
                    "contains" => Ok(Op::Contains),
                    "matches" => Ok(Op::Matches),
                    "in" => Ok(Op::In),
                    "" => err(
                        at,
                        "expected a comparison: ==, !=, <, <=, >, >=, contains, matches or in",
                    ),
                    w => err(
                        at,
                        format!(
                            "\"{w}\" is not a comparison; use ==, !=, <, <=, >, >=, contains, matches or in"
                        ),
                    ),
                };
            }
        };
        self.pos += len;
        Ok(op)
    }

    fn string(&mut self) -> Result<String, AssertionError> {
        let quote_at = self.pos;
        let quote = self.chars[self.pos];
        self.pos += 1;
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == quote {
                return Ok(out);
            }
            if c == '\\' {
                match self.peek() {
                    Some(n) => {
                        self.pos += 1;
                        out.push(match n {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                    }
                    None => break,
                }
            } else {
                out.push(c);
            }
        }
        err(
            quote_at,
            format!("unclosed string; add the closing {quote}"),
        )
    }

    fn path(&mut self, first: String) -> Result<Vec<Step>, AssertionError> {
        let mut steps = vec![Step::Key(first)];
        loop {
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    let at = self.pos;
                    let key = if self.peek() == Some('"') {
                        self.string()?
                    } else {
                        self.word()
                    };
                    if key.is_empty() {
                        return err(at, "expected a name after `.`");
                    }
                    steps.push(Step::Key(key));
                }
                Some('[') => {
                    self.pos += 1;
                    let at = self.pos;
                    let digits = self.word();
                    let Ok(i) = digits.parse::<usize>() else {
                        return err(at, "expected an index such as [0]");
                    };
                    if self.peek() != Some(']') {
                        return err(self.pos, "expected `]`");
                    }
                    self.pos += 1;
                    steps.push(Step::Index(i));
                }
                _ => return Ok(steps),
            }
        }
    }

    /// A function call `name(…)`, the name read and `(` next.
    fn call(&mut self, word: &str, at: usize) -> Result<Operand, AssertionError> {
        self.pos += 1;
        self.skip_ws();
        let inner_at = self.pos;
        let result = match word {
            "len" => {
                let first = self.word();
                if first.is_empty() {
                    return err(inner_at, "len() takes a field, e.g. len(json.items)");
                }
                Operand::Len(self.path(first)?)
            }
            "age" => {
                let first = self.word();
                if first.is_empty() {
                    return err(
                        inner_at,
                        "age() takes a field holding a time, e.g. age(json.page.updated_at)",
                    );
                }
                Operand::Age(self.path(first)?)
            }
            "re" => {
                if !matches!(self.peek(), Some('"' | '\'')) {
                    return err(inner_at, "re() takes a quoted pattern, e.g. re(\"^OK\")");
                }
                let pattern = self.string()?;
                match regex::Regex::new(&pattern) {
                    Ok(r) => Operand::Regex(r),
                    Err(e) => {
                        let why = crate::config::regex_error(&e);
                        return err(inner_at, format!("invalid pattern: {why}"));
                    }
                }
            }
            other => {
                return err(
                    at,
                    format!("unknown function {other}(); use len(), age() or re()"),
                );
            }
        };
        self.skip_ws();
        if self.peek() != Some(')') {
            return err(self.pos, "expected `)`");
        }
        self.pos += 1;
        Ok(result)
    }

    fn operand(&mut self) -> Result<Operand, AssertionError> {
        let at = self.pos;
        match self.peek() {
            None => err(at, "expected a value"),
            Some('"' | '\'') => Ok(Operand::Text(self.string()?)),
            Some('[') => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    if self.peek() == Some(']') {
                        self.pos += 1;
                        return Ok(Operand::List(items));
                    }
                    let item_at = self.pos;
                    let item = self.operand()?;
                    if matches!(
                        item,
                        Operand::Path(_)
                            | Operand::Len(_)
                            | Operand::Age(_)
                            | Operand::List(_)
                            | Operand::Regex(_)
                    ) {
                        return err(
                            item_at,
                            "a list holds plain values: numbers, text, true/false",
                        );
                    }
                    items.push(item);
                    self.skip_ws();
                    match self.peek() {
                        Some(',') => self.pos += 1,
                        Some(']') => {}
                        _ => return err(self.pos, "expected `,` or `]`"),
                    }
                }
            }
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' => self.number(),
            Some(c) if c.is_alphabetic() || c == '_' => {
                let word = self.word();
                if self.peek() == Some('(') {
                    return self.call(&word, at);
                }
                match word.as_str() {
                    "true" => Ok(Operand::Bool(true)),
                    "false" => Ok(Operand::Bool(false)),
                    "null" => Ok(Operand::Null),
                    _ if FACTS.iter().any(|f| f.root == word) => {
                        Ok(Operand::Path(self.path(word)?))
                    }
                    // A bare word on the right, such as NOERROR.
                    _ if word
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') =>
                    {
                        Ok(Operand::Text(word))
                    }
                    _ => {
                        let known = known_roots();
                        match crate::yaml::suggest(&word, &known) {
                            Some(s) => err(
                                at,
                                format!("unknown field \"{word}\", did you mean \"{s}\"?"),
                            ),
                            None => err(
                                at,
                                format!(
                                    "unknown field \"{word}\"; use one of: {}, or quote text",
                                    known.join(", ")
                                ),
                            ),
                        }
                    }
                }
            }
            Some(c) => err(at, format!("unexpected `{c}`")),
        }
    }

    fn number(&mut self) -> Result<Operand, AssertionError> {
        let at = self.pos;
        let start = self.pos;
        if matches!(self.peek(), Some('-' | '+')) {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
            self.pos += 1;
        }
        let digits: String = self.chars[start..self.pos].iter().collect();
        let Ok(value) = digits.parse::<f64>() else {
            return err(at, format!("\"{digits}\" is not a number"));
        };
        let unit = {
            let s = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                self.pos += 1;
            }
            self.chars[s..self.pos].iter().collect::<String>()
        };
        let factor = match unit.as_str() {
            "" => {
                return Ok(Operand::Number {
                    value,
                    duration: false,
                });
            }
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 60e3,
            "h" => 3600e3,
            "d" => 86_400e3,
            other => {
                return err(
                    at,
                    format!("unknown unit \"{other}\"; durations use ms, s, m, h or d"),
                );
            }
        };
        Ok(Operand::Number {
            value: value * factor,
            duration: true,
        })
    }
}

/// The root fields an assertion reads.
pub fn roots(a: &Assertion) -> Vec<&str> {
    let mut out = Vec::new();
    for side in [&a.left, &a.right] {
        if let Operand::Path(steps) | Operand::Len(steps) | Operand::Age(steps) = side
            && let Some(Step::Key(k)) = steps.first()
        {
            out.push(k.as_str());
        }
    }
    out
}

/// The static type of an operand; unknown sub-fields are errors.
fn type_of(op: &Operand, at: usize) -> Result<Type, AssertionError> {
    Ok(match op {
        Operand::Number { duration: true, .. } => Type::Duration,
        Operand::Age(steps) => {
            path_type(steps, at)?;
            Type::Duration
        }
        Operand::Number { .. } | Operand::Len(_) => Type::Number,
        Operand::Text(_) => Type::Text,
        Operand::Bool(_) => Type::Bool,
        Operand::Null => Type::Null,
        Operand::Regex(_) => Type::Regex,
        Operand::List(_) => Type::List,
        Operand::Path(steps) => path_type(steps, at)?,
    })
}

fn path_type(steps: &[Step], at: usize) -> Result<Type, AssertionError> {
    let Some(Step::Key(root)) = steps.first() else {
        return err(at, "expected a field");
    };
    let facts: Vec<&Fact> = FACTS.iter().filter(|f| f.root == root).collect();
    let Some(first) = facts.first() else {
        return err(at, format!("unknown field \"{root}\""));
    };
    match first.shape {
        Shape::Path => Ok(first.ty),
        Shape::Named { example } => match steps {
            [_, Step::Key(_)] => Ok(first.ty),
            _ => err(at, format!("write {root}.<name>, e.g. {example}")),
        },
        Shape::Field(_) => {
            let fields: Vec<(&str, Type)> = facts
                .iter()
                .filter_map(|f| match f.shape {
                    Shape::Field(name) => Some((name, f.ty)),
                    _ => None,
                })
                .collect();
            match steps.get(1) {
                Some(Step::Key(k)) if steps.len() == 2 => {
                    match fields.iter().find(|(f, _)| f == k) {
                        Some((_, t)) => Ok(*t),
                        None => {
                            let known: Vec<&str> = fields.iter().map(|(f, _)| *f).collect();
                            err(
                                at,
                                format!("{root} has no field \"{k}\"; use {}", known.join(", ")),
                            )
                        }
                    }
                }
                _ => {
                    let known: Vec<String> =
                        fields.iter().map(|(f, _)| format!("{root}.{f}")).collect();
                    err(at, format!("write one of {}", known.join(", ")))
                }
            }
        }
        Shape::Plain if steps.len() > 1 => err(at, format!("{root} has no fields")),
        Shape::Plain => Ok(first.ty),
    }
}

/// The roots an assertion reads that `probe` does not record, e.g. `status` for a tcp
/// probe.
pub fn unobserved(a: &Assertion, probe: Observer) -> Vec<&str> {
    roots(a)
        .into_iter()
        .filter(|root| {
            !FACTS
                .iter()
                .any(|f| f.root == *root && f.recorded_by.iter().any(|r| r.covers(probe)))
        })
        .collect()
}

fn numeric(t: Type) -> bool {
    matches!(t, Type::Number | Type::Duration | Type::Any)
}

fn check_types(
    op: Op,
    (lt, left_at): (Type, usize),
    (rt, right_at): (Type, usize),
    right: &Operand,
    op_at: usize,
) -> Result<(), AssertionError> {
    match op {
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            if !numeric(lt) {
                return err(
                    left_at,
                    format!("`{op}` compares numbers, but this is {lt}"),
                );
            }
            if !numeric(rt) {
                return err(
                    right_at,
                    format!("`{op}` compares numbers, but this is {rt}"),
                );
            }
        }
        Op::Contains => {
            if !matches!(lt, Type::Text | Type::List | Type::Any) {
                return err(
                    left_at,
                    format!("`contains` looks inside text or a list, but this is {lt}"),
                );
            }
        }
        Op::Matches => {
            if !matches!(lt, Type::Text | Type::Any) {
                return err(left_at, format!("`matches` tests text, but this is {lt}"));
            }
            if rt != Type::Regex {
                return err(right_at, "`matches` takes a pattern: re(\"…\")");
            }
            return Ok(());
        }
        Op::In => {
            if !matches!(right, Operand::List(_)) {
                return err(right_at, "`in` takes a list: [200, 204]");
            }
            return Ok(());
        }
        Op::Eq | Op::Ne => {}
    }
    if rt == Type::Regex {
        return err(right_at, "a pattern only works with `matches`");
    }
    // A duration field needs a duration: `response_time < 300` is ambiguous.
    let duration_mismatch = (lt == Type::Duration && rt == Type::Number)
        || (lt == Type::Number && rt == Type::Duration);
    if duration_mismatch {
        let at = if lt == Type::Number {
            left_at
        } else {
            right_at
        };
        return err(at, "a duration needs a unit: write e.g. 300ms, 2s or 14d");
    }
    let known = |t: Type| !matches!(t, Type::Any | Type::Null);
    if matches!(op, Op::Eq | Op::Ne) && known(lt) && known(rt) {
        let same = lt == rt || (numeric(lt) && numeric(rt));
        if !same {
            return err(
                op_at,
                format!("this compares {lt} with {rt}; it can never be equal"),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Assertion {
        parse(s, false).unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    fn bad(s: &str) -> (usize, String) {
        let e = parse(s, false).unwrap_err();
        (e.offset, e.message)
    }

    #[test]
    fn parses_the_documented_forms() {
        for s in [
            "status == 200",
            "response_time < 300ms",
            "body contains \"ok\"",
            "body matches re(\"^OK\\\\s\")",
            "json.status == \"UP\"",
            "json.data[0].id >= 3",
            "len(json.items) > 0",
            "header.content-type contains \"json\"",
            "cert.expires_in > 14d",
            "dns.rcode == NOERROR",
            "status in [200, 204]",
            "connected == true",
            "perf.time < 2s",
            "icmp.loss <= 20",
        ] {
            ok(s);
        }
        let a = ok("cert.expires_in > 14d");
        assert!(
            matches!(a.right, Operand::Number { value, duration: true } if value == 14.0 * 86_400e3)
        );
    }

    #[test]
    fn errors_point_at_the_column() {
        assert_eq!(
            bad("body < 3"),
            (0, "`<` compares numbers, but this is text".into())
        );
        assert_eq!(
            bad("status == \"ok\""),
            (
                7,
                "this compares a number with text; it can never be equal".into()
            )
        );
        assert_eq!(
            bad("response_time < 300"),
            (
                16,
                "a duration needs a unit: write e.g. 300ms, 2s or 14d".into()
            )
        );
        assert_eq!(
            bad("stauts == 200"),
            (
                0,
                "unknown field \"stauts\", did you mean \"status\"?".into()
            )
        );
        assert_eq!(
            bad("status = 200"),
            (7, "a single `=` is not a comparison; write `==`".into())
        );
        assert_eq!(
            bad("body matches \"x\""),
            (13, "`matches` takes a pattern: re(\"…\")".into())
        );
        assert_eq!(
            bad("body matches re(\"(\")"),
            (16, "invalid pattern: error: unclosed group".into())
        );
        assert_eq!(bad("cert.expiry > 3d"), (0, "cert has no field \"expiry\"; use expires_in, leaf_expires_in, valid, subject, issuer".into()));
        assert_eq!(bad("status == 200 extra").0, 14);
        assert_eq!(bad("body contains \"x").0, 14);
        assert_eq!(bad("response_time < 3 weeks").0, 18);
        assert_eq!(bad("status in 200").1, "`in` takes a list: [200, 204]");
    }
}
