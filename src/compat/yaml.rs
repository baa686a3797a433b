//! YAML as Ansible reads it: YAML 1.1 scalars (`yes`/`no`, `0644` octal), anchors, aliases,
//! merge keys and `!vault` tags, with the line and column of every node kept for errors.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where something stands in a source file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub file: Arc<PathBuf>,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // A file that could not be read has no position inside it.
            return write!(f, "{}", self.file.display());
        }
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
    /// `!vault |` inline-encrypted value: the ciphertext text.
    Vault(String),
    /// `!unsafe` string: never templated.
    Unsafe(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub pos: Pos,
}

#[derive(Debug, thiserror::Error)]
#[error("{pos}: {msg}")]
pub struct YamlError {
    pub pos: Pos,
    pub msg: String,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) | Kind::Unsafe(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// A map's value by string key.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null (nothing)",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a float",
            Kind::Str(_) | Kind::Unsafe(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
            Kind::Vault(_) => "a vault-encrypted string",
        }
    }

    /// The key as a string, as Ansible uses keys (numbers and booleans become their text).
    pub fn key_string(&self) -> String {
        match &self.kind {
            Kind::Str(s) | Kind::Unsafe(s) => s.clone(),
            Kind::Int(i) => i.to_string(),
            Kind::Float(f) => f.to_string(),
            Kind::Bool(b) => if *b { "True" } else { "False" }.to_string(),
            Kind::Null => "null".to_string(),
            _ => format!(
                "<{}>",
                self.type_name()
                    .trim_start_matches("a ")
                    .trim_start_matches("an ")
            ),
        }
    }

    /// Converts to a JSON value; vault values go through `decrypt_vault`.
    pub fn to_json(
        &self,
        decrypt_vault: &dyn Fn(&str, &Pos) -> Result<String, YamlError>,
    ) -> Result<Value, YamlError> {
        Ok(match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::Number((*i).into()),
            Kind::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Unsafe(s) => Value::String(s.clone()),
            Kind::Vault(text) => Value::String(decrypt_vault(text, &self.pos)?),
            Kind::Seq(items) => Value::Array(
                items
                    .iter()
                    .map(|n| n.to_json(decrypt_vault))
                    .collect::<Result<_, _>>()?,
            ),
            Kind::Map(entries) => {
                let mut map = Map::new();
                for (k, v) in entries {
                    map.insert(k.key_string(), v.to_json(decrypt_vault)?);
                }
                Value::Object(map)
            }
        })
    }

    /// Conversion for files that must not hold vault values.
    pub fn to_json_plain(&self) -> Result<Value, YamlError> {
        self.to_json(&|_, pos| {
            Err(YamlError {
                pos: pos.clone(),
                msg: "vault-encrypted value, but no vault password was given (use --vault-password-file)"
                    .into(),
            })
        })
    }
}

/// Reads and parses a YAML file; an empty file is `Null`.
pub fn load_file(path: &Path) -> Result<Node, YamlError> {
    let text = std::fs::read_to_string(path).map_err(|e| YamlError {
        pos: Pos {
            file: Arc::new(path.to_path_buf()),
            line: 0,
            col: 0,
        },
        msg: format!("cannot read file: {e}"),
    })?;
    parse(&text, path)
}

pub fn parse(text: &str, file: &Path) -> Result<Node, YamlError> {
    let file = Arc::new(file.to_path_buf());
    let mut builder = Builder {
        file: file.clone(),
        stack: Vec::new(),
        anchors: Default::default(),
        root: None,
        error: None,
        nodes: 0,
        alias_bytes: 0,
    };
    let mut parser = Parser::new_from_str(text);
    // Event by event, not `Parser::load`: that recurses once per nesting level (10,000 levels
    // overflowed the stack) and would go on past the first budget error.
    let loaded = loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break Ok(()),
            Ok((ev, mark)) => {
                let end = ev == Event::DocumentEnd;
                builder.on_event(ev, mark);
                if end || builder.error.is_some() {
                    break Ok(());
                }
            }
            Err(e) => break Err(e),
        }
    };
    if let Some(err) = builder.error {
        return Err(err);
    }
    if let Err(e) = loaded {
        let m = e.marker();
        return Err(YamlError {
            pos: Pos {
                file,
                line: m.line(),
                col: m.col() + 1,
            },
            msg: format!("YAML syntax error: {}", e.info()),
        });
    }
    Ok(builder.root.unwrap_or(Node {
        kind: Kind::Null,
        pos: Pos {
            file,
            line: 1,
            col: 1,
        },
    }))
}

/// How deep collections may nest. Real playbooks and inventories stay under 20 levels; every
/// consumer of a [`Node`] recurses, so a bound here keeps them all off the end of the stack.
pub const MAX_DEPTH: usize = 128;

/// How many values one file may hold, aliases counted expanded (an alias is a copy of its
/// anchor's value). A few-hundred-byte "billion laughs" file would otherwise take gigabytes.
pub const MAX_NODES: usize = 100_000;

/// How many bytes of scalar text aliases may copy in one file (the file's own text is bounded by
/// its size; aliases multiply it).
pub const MAX_ALIAS_BYTES: usize = 16 << 20;

/// A collection being built, with the size of what it holds so far (for the budgets above).
struct Frame {
    node: Node,
    anchor: usize,
    pending_key: Option<Node>,
    size: Size,
}

/// Values and scalar bytes in a subtree.
#[derive(Clone, Copy, Default)]
struct Size {
    nodes: usize,
    bytes: usize,
}

struct Builder {
    file: Arc<PathBuf>,
    stack: Vec<Frame>,
    anchors: std::collections::HashMap<usize, (Node, Size)>,
    root: Option<Node>,
    error: Option<YamlError>,
    /// Values created so far, alias copies included.
    nodes: usize,
    /// Scalar bytes copied by aliases so far.
    alias_bytes: usize,
}

impl Builder {
    fn pos(&self, m: Marker) -> Pos {
        Pos {
            file: self.file.clone(),
            line: m.line(),
            col: m.col() + 1,
        }
    }

    fn push_value(&mut self, node: Node, size: Size) {
        let Some(Frame {
            node: parent,
            pending_key,
            size: parent_size,
            ..
        }) = self.stack.last_mut()
        else {
            if self.root.is_none() {
                self.root = Some(node);
            }
            return;
        };
        parent_size.nodes += size.nodes;
        parent_size.bytes += size.bytes;
        let map = match &mut parent.kind {
            Kind::Seq(items) => {
                items.push(node);
                return;
            }
            _ => parent,
        };
        match pending_key.take() {
            None if matches!(node.kind, Kind::Map(_) | Kind::Seq(_)) => {
                // Python cannot hash a mapping or a list, so PyYAML (and Ansible) refuse one as
                // a key. `key: {{ x }}` is the common case: a template that needed quotes.
                let template = matches!(node.kind, Kind::Map(_))
                    && node.pos.line == map.pos.line
                    && node.pos.col == map.pos.col + 1;
                self.error.get_or_insert(YamlError {
                    // Where Ansible points: the template's first brace.
                    pos: if template { map.pos.clone() } else { node.pos },
                    msg: if template {
                        "YAML syntax error: this may be an issue with missing quotes around a template block: write \"{{ … }}\", not {{ … }}".into()
                    } else {
                        "YAML syntax error: a mapping or a list cannot be a mapping key".into()
                    },
                });
            }
            None => {
                // yaml-rust2 marks a block mapping at its first ':'; the first key is where it starts.
                if let Kind::Map(entries) = &map.kind
                    && entries.is_empty()
                    && (node.pos.line, node.pos.col) < (map.pos.line, map.pos.col)
                {
                    map.pos = node.pos.clone();
                }
                *pending_key = Some(node)
            }
            Some(key) => {
                if let Kind::Map(entries) = &mut map.kind {
                    insert_entry(entries, key, node, &mut self.error);
                }
            }
        }
    }

    /// Counts `size` more values against the file's budget; false (with the error set) past it.
    fn spend(&mut self, size: Size, alias_bytes: usize, pos: &Pos) -> bool {
        self.nodes = self.nodes.saturating_add(size.nodes);
        self.alias_bytes = self.alias_bytes.saturating_add(alias_bytes);
        if self.nodes > MAX_NODES || self.alias_bytes > MAX_ALIAS_BYTES {
            self.error = Some(YamlError {
                pos: pos.clone(),
                msg: format!(
                    "the file expands to more than {MAX_NODES} values or {} MiB of aliased text \
                     (aliases count as copies of their anchor); refusing it as an alias bomb",
                    MAX_ALIAS_BYTES >> 20
                ),
            });
            return false;
        }
        true
    }

    fn open(&mut self, kind: Kind, anchor: usize, pos: Pos) {
        if self.stack.len() >= MAX_DEPTH {
            self.error = Some(YamlError {
                pos,
                msg: format!("lists and mappings nested more than {MAX_DEPTH} levels deep"),
            });
            return;
        }
        let size = Size { nodes: 1, bytes: 0 };
        if self.spend(size, 0, &pos) {
            self.stack.push(Frame {
                node: Node { kind, pos },
                anchor,
                pending_key: None,
                size,
            });
        }
    }
}

/// Inserts one entry, expanding `<<` merge keys; a later plain key overrides.
fn insert_entry(
    entries: &mut Vec<(Node, Node)>,
    key: Node,
    value: Node,
    error: &mut Option<YamlError>,
) {
    if key.as_str() == Some("<<") {
        let sources: Vec<Node> = match value.kind {
            Kind::Map(_) => vec![value],
            Kind::Seq(items) => items,
            _ => {
                error.get_or_insert(YamlError {
                    pos: value.pos,
                    msg: "merge key '<<' needs a mapping or a list of mappings".into(),
                });
                return;
            }
        };
        for src in sources {
            if let Kind::Map(src_entries) = src.kind {
                for (k, v) in src_entries {
                    // Merged keys never override keys that are set explicitly.
                    if !entries.iter().any(|(ek, _)| ek.kind == k.kind) {
                        entries.push((k, v));
                    }
                }
            }
        }
        return;
    }
    if let Some(slot) = entries.iter_mut().find(|(k, _)| k.kind == key.kind) {
        // YAML forbids duplicate keys; Ansible warns and keeps the last, and so do we.
        *slot = (key, value);
    } else {
        entries.push((key, value));
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let pos = self.pos(mark);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let tag_name = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                let kind = match tag_name.as_deref() {
                    Some("!vault") | Some("!!vault") => Kind::Vault(text),
                    Some("!unsafe") => Kind::Unsafe(text),
                    Some("tag:yaml.org,2002:str") | Some("!!str") => Kind::Str(text),
                    _ if style != TScalarStyle::Plain => Kind::Str(text),
                    _ => resolve_plain(&text),
                };
                let size = Size {
                    nodes: 1,
                    bytes: scalar_len(&kind),
                };
                if !self.spend(size, 0, &pos) {
                    return;
                }
                let node = Node { kind, pos };
                if anchor > 0 {
                    self.anchors.insert(anchor, (node.clone(), size));
                }
                self.push_value(node, size);
            }
            Event::SequenceStart(anchor, _) => self.open(Kind::Seq(Vec::new()), anchor, pos),
            Event::MappingStart(anchor, _) => self.open(Kind::Map(Vec::new()), anchor, pos),
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return;
                };
                if frame.anchor > 0 {
                    self.anchors
                        .insert(frame.anchor, (frame.node.clone(), frame.size));
                }
                self.push_value(frame.node, frame.size);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((node, size)) => {
                    let (node, size) = (node.clone(), *size);
                    // Checked before the copy is made: the budget bounds memory, not just time.
                    if !self.spend(size, size.bytes, &pos) {
                        return;
                    }
                    self.push_value(node, size);
                }
                None => {
                    self.error = Some(YamlError {
                        pos,
                        msg: "alias refers to an unknown anchor".into(),
                    })
                }
            },
            _ => {}
        }
    }
}

fn scalar_len(kind: &Kind) -> usize {
    match kind {
        Kind::Str(s) | Kind::Unsafe(s) | Kind::Vault(s) => s.len(),
        _ => 0,
    }
}

/// YAML 1.1 resolution of a plain scalar, as PyYAML (and so Ansible) does it.
pub fn resolve_plain(text: &str) -> Kind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Kind::Bool(true);
        }
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Kind::Bool(false);
        }
        _ => {}
    }
    if let Some(i) = parse_int_yaml11(text) {
        return Kind::Int(i);
    }
    if let Some(f) = parse_float_yaml11(text) {
        return Kind::Float(f);
    }
    Kind::Str(text.to_string())
}

fn parse_int_yaml11(text: &str) -> Option<i64> {
    let (neg, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let body = body.replace('_', "");
    if body.is_empty() {
        return None;
    }
    let value = if let Some(hex) = body.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(bin) = body.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        // YAML 1.1: a leading zero means octal (mode: 0644).
        i64::from_str_radix(&body[1..], 8).ok()?
    } else if body.bytes().all(|b| b.is_ascii_digit()) {
        body.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -value } else { value })
}

fn parse_float_yaml11(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let bytes = text.as_bytes();
    // PyYAML's float pattern needs a dot: [-+]?([0-9][0-9_]*)?\.[0-9.]*([eE][-+][0-9]+)?
    if !text.contains('.') {
        return None;
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_digit() || b"._+-eE".contains(b))
    {
        return None;
    }
    if text == "." {
        return None;
    }
    text.replace('_', "").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Node {
        parse(s, Path::new("t.yml")).expect("parses")
    }

    #[test]
    fn yaml11_scalars() {
        let n = p("a: yes\nb: off\nc: 0644\nd: '0644'\ne: 1.5\nf: ~\ng: 0x1f\nh: 10\ni: 1.2.3\n");
        let j = n.to_json_plain().expect("json");
        assert_eq!(j["a"], Value::Bool(true));
        assert_eq!(j["b"], Value::Bool(false));
        assert_eq!(j["c"], Value::from(0o644));
        assert_eq!(j["d"], Value::from("0644"));
        assert_eq!(j["e"], Value::from(1.5));
        assert_eq!(j["f"], Value::Null);
        assert_eq!(j["g"], Value::from(31));
        assert_eq!(j["h"], Value::from(10));
        assert_eq!(j["i"], Value::from("1.2.3"));
    }

    #[test]
    fn anchors_and_merge_keys() {
        let n = p("base: &b\n  x: 1\n  y: 2\nchild:\n  <<: *b\n  y: 3\nlist: [*b]\n");
        let j = n.to_json_plain().expect("json");
        assert_eq!(j["child"]["x"], Value::from(1));
        assert_eq!(j["child"]["y"], Value::from(3));
        assert_eq!(j["list"][0]["y"], Value::from(2));
    }

    #[test]
    fn positions_are_one_based() {
        let n = p("first: 1\nsecond:\n  inner: x\n");
        let second = n.get("second").expect("second");
        let inner = second.get("inner").expect("inner");
        assert_eq!((inner.pos.line, inner.pos.col), (3, 10));
        let (k, _) = &second.as_map().expect("map")[0];
        assert_eq!((k.pos.line, k.pos.col), (3, 3));
    }

    #[test]
    fn vault_tag_is_kept() {
        let n = p("pw: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n");
        assert!(matches!(n.get("pw").map(|v| &v.kind), Some(Kind::Vault(_))));
        assert!(n.to_json_plain().is_err());
    }

    #[test]
    fn unquoted_template_is_an_error_at_its_position() {
        let e = parse("- debug:\n    msg: {{ x }}\n", Path::new("p.yml")).expect_err("unquoted");
        assert_eq!((e.pos.line, e.pos.col), (2, 10), "{}", e.msg);
        assert!(e.msg.contains("missing quotes"), "{}", e.msg);
        let e = parse("? [a]\n: 1\n", Path::new("p.yml")).expect_err("list key");
        assert!(e.msg.contains("cannot be a mapping key"), "{}", e.msg);
        assert!(parse("msg: \"{{ x }}\"\n", Path::new("p.yml")).is_ok());
    }

    #[test]
    fn syntax_error_has_position() {
        let e = parse("a: [1, 2\nb: 3\n", Path::new("bad.yml")).expect_err("must fail");
        assert!(e.to_string().starts_with("bad.yml:"), "{e}");
    }

    /// The 478-byte "billion laughs" of the review: nine levels of nine aliases each.
    fn alias_bomb() -> String {
        let mut s = String::from(
            "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for i in 1..9 {
            let p = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"
            ));
        }
        s
    }

    #[test]
    fn alias_bomb_is_refused_with_a_position() {
        let e = parse(&alias_bomb(), Path::new("bomb.yml")).expect_err("must be refused");
        let msg = e.to_string();
        assert!(msg.starts_with("bomb.yml:"), "{msg}");
        assert!(e.pos.line > 1 && e.pos.col > 1, "{msg}");
        assert!(msg.contains("alias bomb"), "{msg}");
    }

    #[test]
    fn aliased_long_text_is_bounded_too() {
        // Few values, each a megabyte: the byte budget catches what the value count would not.
        let mut s = format!("big: &b \"{}\"\nl:\n", "x".repeat(1 << 20));
        for _ in 0..40 {
            s.push_str("  - *b\n");
        }
        let e = parse(&s, Path::new("big.yml")).expect_err("must be refused");
        assert!(e.to_string().contains("alias bomb"), "{e}");
    }

    #[test]
    fn ordinary_aliases_still_work() {
        let mut s = String::from("base: &b {x: 1, y: [1, 2, 3]}\nl:\n");
        for _ in 0..1000 {
            s.push_str("  - *b\n");
        }
        let n = p(&s);
        assert_eq!(
            n.get("l").and_then(Node::as_seq).map(<[_]>::len),
            Some(1000)
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        for text in [
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
            format!("{}{}", "{a: ".repeat(10_000), "}".repeat(10_000)),
            (0..10_000)
                .map(|i| format!("{}- \n", "  ".repeat(i)))
                .collect(),
        ] {
            let e = parse(&text, Path::new("deep.yml")).expect_err("must be refused");
            let msg = e.to_string();
            assert!(msg.starts_with("deep.yml:"), "{msg}");
            // Flow collections hit the scanner's own limit (255) first.
            assert!(
                msg.contains("nested more than") || msg.contains("recursion limit"),
                "{msg}"
            );
        }
        // The limit itself still parses and converts.
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(p(&ok).to_json_plain().is_ok());
    }
}
