//! Serialisation: `to_json`/`from_json` as Python's `json`, `to_yaml`/`from_yaml` as PyYAML (the
//! emitter itself is `compat::pyyaml`).

use std::fmt::Write as _;

use super::*;
use crate::compat::py::{py_float_repr, py_sort_pairs};
use crate::compat::pyyaml;

struct JsonOpts {
    indent: Option<String>,
    sort_keys: bool,
    ensure_ascii: bool,
    item_sep: String,
    key_sep: String,
}

fn json_escape_str(s: &str, ensure_ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ensure_ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_number(value: &Value) -> String {
    if value.is_integer() {
        value.to_string()
    } else {
        let f = f64::try_from(value.clone()).unwrap_or(f64::NAN);
        if f.is_nan() {
            "NaN".into()
        } else if f.is_infinite() {
            if f > 0.0 {
                "Infinity".into()
            } else {
                "-Infinity".into()
            }
        } else {
            py_float_repr(f)
        }
    }
}

fn json_write(
    value: &Value,
    opts: &JsonOpts,
    level: usize,
    out: &mut String,
) -> Result<(), String> {
    let newline = |out: &mut String, level: usize| {
        if let Some(ind) = &opts.indent {
            out.push('\n');
            for _ in 0..level {
                out.push_str(ind);
            }
        }
    };
    match value.kind() {
        ValueKind::Undefined => return Err("value is undefined".into()),
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&json_number(value)),
        ValueKind::String | ValueKind::Bytes => {
            let s = value.to_string();
            json_escape_str(&s, opts.ensure_ascii, out);
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter().map_err(|e| e.to_string())?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (idx, item) in items.iter().enumerate() {
                if idx > 0 {
                    out.push_str(&opts.item_sep);
                }
                newline(out, level + 1);
                json_write(item, opts, level + 1, out)?;
            }
            newline(out, level);
            out.push(']');
        }
        ValueKind::Map => {
            let mut pairs = map_pairs(value).map_err(|e| e.to_string())?;
            if pairs.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if opts.sort_keys {
                py_sort_pairs(&mut pairs)?;
            }
            out.push('{');
            for (idx, (key, item)) in pairs.iter().enumerate() {
                if idx > 0 {
                    out.push_str(&opts.item_sep);
                }
                newline(out, level + 1);
                let key = match key.kind() {
                    ValueKind::String => key.as_str().unwrap_or_default().to_string(),
                    ValueKind::None => "null".into(),
                    ValueKind::Bool => (if key.is_true() { "true" } else { "false" }).into(),
                    ValueKind::Number => json_number(key),
                    _ => {
                        return Err(format!(
                            "keys must be str, int, float, bool or None, not {}",
                            kind_name(key)
                        ));
                    }
                };
                json_escape_str(&key, opts.ensure_ascii, out);
                out.push_str(&opts.key_sep);
                json_write(item, opts, level + 1, out)?;
            }
            newline(out, level);
            out.push('}');
        }
        _ => {
            return Err(format!(
                "object of type {} is not JSON serializable",
                kind_name(value)
            ));
        }
    }
    Ok(())
}

/// `json.dumps(value, sort_keys=True, ensure_ascii=False, indent=indent)` as ansible-playbook's
/// default callback prints results (`_dump_results`).
pub(crate) fn python_json(value: &serde_json::Value, indent: Option<usize>) -> String {
    let opts = JsonOpts {
        indent: indent.map(|n| " ".repeat(n)),
        sort_keys: true,
        ensure_ascii: false,
        item_sep: if indent.is_some() { "," } else { ", " }.to_string(),
        key_sep: ": ".to_string(),
    };
    let mut out = String::new();
    match json_write(&json_to_value(value.clone()), &opts, 0, &mut out) {
        Ok(()) => out,
        // Not reachable for JSON input (every JSON value has a Python form); still printable.
        Err(_) => value.to_string(),
    }
}

fn json_dumps(
    what: &str,
    state: &State,
    value: &Value,
    slots: &[Option<Value>],
    indent_default: Option<i64>,
    sort_default: bool,
) -> Res<String> {
    // slots: indent, sort_keys, ensure_ascii, separators
    check_defined(state, value)?;
    let indent = match slots[0].as_ref() {
        None => indent_default.map(|n| " ".repeat(n.max(0) as usize)),
        Some(v) if v.is_none() => None,
        Some(v) if v.kind() == ValueKind::String => v.as_str().map(str::to_string),
        Some(v) => int_arg(what, "indent", Some(v))?.map(|n| " ".repeat(n.max(0) as usize)),
    };
    let sort_keys = match slots[1].as_ref() {
        None => sort_default,
        Some(v) => v.is_true(),
    };
    let ensure_ascii = slots[2].as_ref().is_none_or(Value::is_true);
    let (mut item_sep, key_sep) = if indent.is_some() {
        (",".to_string(), ": ".to_string())
    } else {
        (", ".to_string(), ": ".to_string())
    };
    let mut key_sep = key_sep;
    if let Some(seps) = slots[3].as_ref().filter(|v| !v.is_none()) {
        let parts: Vec<Value> = seps.try_iter().map(Iterator::collect).unwrap_or_default();
        match (
            parts.first().and_then(Value::as_str),
            parts.get(1).and_then(Value::as_str),
        ) {
            (Some(a), Some(b)) if parts.len() == 2 => {
                item_sep = a.to_string();
                key_sep = b.to_string();
            }
            _ => {
                return Err(fail(
                    what,
                    format!("separators must be a pair of strings, got {}", repr(seps)),
                ));
            }
        }
    }
    let opts = JsonOpts {
        indent,
        sort_keys,
        ensure_ascii,
        item_sep,
        key_sep,
    };
    let mut out = String::new();
    json_write(value, &opts, 0, &mut out).map_err(|e| fail(what, e))?;
    Ok(out)
}

/// `to_json(indent=None, sort_keys=False, ensure_ascii=True, separators=None)`,
/// Python's `json.dumps`.
pub(super) fn to_json(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
    let slots = bind_args(
        "to_json",
        args.into_values(),
        &["indent", "sort_keys", "ensure_ascii", "separators"],
        0,
    )?;
    json_dumps("to_json", state, value, &slots, None, false)
}

/// `to_nice_json(indent=4, sort_keys=True)` like Ansible: always the
/// `(',', ': ')` separators.
pub(super) fn to_nice_json(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
    let mut slots = bind_args(
        "to_nice_json",
        args.into_values(),
        &["indent", "sort_keys", "ensure_ascii", "separators"],
        0,
    )?;
    // Ansible drops `separators` and forces the pretty ones
    slots[3] = Some(Value::from(vec![Value::from(","), Value::from(": ")]));
    json_dumps("to_nice_json", state, value, &slots, Some(4), true)
}

pub(super) fn json_to_value(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::from(s),
        serde_json::Value::Array(items) => {
            Value::from(items.into_iter().map(json_to_value).collect::<Vec<_>>())
        }
        serde_json::Value::Object(map) => {
            Value::from_pairs(map.into_iter().map(|(k, v)| (k, json_to_value(v))))
        }
    }
}

/// `from_json`: parses a JSON document.
pub(super) fn from_json(state: &State, value: &Value) -> Res<Value> {
    check_defined(state, value)?;
    let Some(text) = value.as_str() else {
        return Err(fail(
            "from_json",
            format!(
                "expected a string, got {} {}",
                kind_name(value),
                repr(value)
            ),
        ));
    };
    serde_json::from_str::<serde_json::Value>(text)
        .map(json_to_value)
        .map_err(|e| fail("from_json", format!("invalid JSON: {e}")))
}

// ---------------------------------------------------------------------------
// YAML

fn yaml_to_value(v: serde_yaml::Value) -> Result<Value, String> {
    Ok(match v {
        serde_yaml::Value::Null => Value::from(()),
        serde_yaml::Value::Bool(b) => Value::from(b),
        serde_yaml::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_yaml::Value::String(s) => Value::from(s),
        serde_yaml::Value::Sequence(items) => Value::from(
            items
                .into_iter()
                .map(yaml_to_value)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        serde_yaml::Value::Mapping(map) => {
            // merge keys (`<<`) like PyYAML: merged pairs come first, the
            // mapping's own pairs override them, and of several merged
            // mappings the first one wins
            let mut merged = Vec::new();
            let mut own = Vec::new();
            for (k, v) in map {
                if k.as_str() != Some("<<") {
                    own.push((yaml_to_value(k)?, yaml_to_value(v)?));
                    continue;
                }
                let subs = match v {
                    serde_yaml::Value::Sequence(subs) => subs,
                    other => vec![other],
                };
                for sub in subs.into_iter().rev() {
                    match yaml_to_value(sub)? {
                        m if m.kind() == ValueKind::Map => {
                            merged.extend(map_pairs(&m).map_err(|e| e.to_string())?);
                        }
                        _ => {
                            return Err("expected a mapping or list of mappings for merging".into());
                        }
                    }
                }
            }
            Value::from_pairs(merged.into_iter().chain(own))
        }
        // local tags like `!unsafe` or `!vault` keep their value
        serde_yaml::Value::Tagged(tagged) => yaml_to_value(tagged.value)?,
    })
}

fn parse_yaml_doc(what: &str, doc: serde_yaml::Value) -> Res<Value> {
    yaml_to_value(doc).map_err(|e| fail(what, format!("invalid YAML: {e}")))
}

/// `from_yaml`: parses a YAML document (`none` stays `none`).
pub(super) fn from_yaml(state: &State, value: &Value) -> Res<Value> {
    check_defined(state, value)?;
    if value.is_none() {
        return Ok(Value::from(()));
    }
    let Some(text) = value.as_str() else {
        // Ansible passes non-strings through (with a deprecation warning)
        return Ok(value.clone());
    };
    let doc = serde_yaml::from_str::<serde_yaml::Value>(text)
        .map_err(|e| fail("from_yaml", format!("invalid YAML: {e}")))?;
    parse_yaml_doc("from_yaml", doc)
}

/// `from_yaml_all`: parses a multi-document YAML stream into a list.
pub(super) fn from_yaml_all(state: &State, value: &Value) -> Res<Value> {
    use serde::Deserialize as _;
    check_defined(state, value)?;
    if value.is_none() {
        return Ok(Value::from(Vec::<Value>::new()));
    }
    let Some(text) = value.as_str() else {
        return Ok(value.clone());
    };
    let mut docs = Vec::new();
    for de in serde_yaml::Deserializer::from_str(text) {
        let doc = serde_yaml::Value::deserialize(de)
            .map_err(|e| fail("from_yaml_all", format!("invalid YAML: {e}")))?;
        docs.push(parse_yaml_doc("from_yaml_all", doc)?);
    }
    Ok(Value::from(docs))
}

fn yaml_dump(
    what: &str,
    state: &State,
    value: &Value,
    args: Vec<Value>,
    nice: bool,
) -> Res<String> {
    let slots = bind_args(
        what,
        args,
        &[
            "indent",
            "width",
            "default_flow_style",
            "sort_keys",
            "explicit_start",
            "explicit_end",
        ],
        0,
    )?;
    check_defined(state, value)?;
    let indent = int_arg(what, "indent", slots[0].as_ref())?.or(if nice { Some(4) } else { None });
    let width = int_arg(what, "width", slots[1].as_ref())?;
    let flow_style = match slots[2].as_ref() {
        None if nice => Some(false),
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => Some(v.is_true()),
    };
    let sort_keys = slots[3].as_ref().is_none_or(Value::is_true);
    let opts = pyyaml::DumpOptions {
        indent,
        width,
        default_flow_style: flow_style,
        sort_keys,
        explicit_start: flag_arg(what, "explicit_start", slots[4].as_ref())?,
        explicit_end: flag_arg(what, "explicit_end", slots[5].as_ref())?,
    };
    pyyaml::dump(value, &opts).map_err(|e| fail(what, e))
}

/// `to_yaml(indent=2, width=80, default_flow_style=None, sort_keys=True)`.
pub(super) fn to_yaml(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
    yaml_dump("to_yaml", state, value, args.into_values(), false)
}

/// `to_nice_yaml(indent=4, default_flow_style=False, ...)`.
pub(super) fn to_nice_yaml(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
    yaml_dump("to_nice_yaml", state, value, args.into_values(), true)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn to_json_is_python_json_dumps() {
        assert_eq!(
            r("nested|to_json"),
            r#"{"a": [1, "two", {"e": [], "k": "v"}], "colon": "a: b", "empty": "", "f": 1.5, "long": "word word word word word word word word word word word word word word word word word word word word word word word word word ", "m": {}, "multi": "line1\nline2", "n": null, "num": "123", "q": "it's", "s": "yes", "t": true, "z": 1}"#
        );
        assert_eq!(
            r("unicode|to_json"),
            r#"{"ctl": "a\tb\u0001", "k": "\u00fc\u20ac\ud83d\ude00"}"#
        );
        assert_eq!(
            r("{'b':1,'a':2}|to_json(sort_keys=true)"),
            r#"{"a": 2, "b": 1}"#
        );
        assert_eq!(r("{'b':1,'a':2}|to_json"), r#"{"b": 1, "a": 2}"#);
        assert_eq!(
            r("[1.0, 1e16, 1e-5, 0.1, 123456789.123]|to_json"),
            "[1.0, 1e+16, 1e-05, 0.1, 123456789.123]"
        );
        assert_eq!(r("{1: 'a', 'b': true}|to_json"), r#"{"1": "a", "b": true}"#);
        assert_eq!(
            r("{'b':1,'a':[1,{}]}|to_json(indent=2)"),
            "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    {}\n  ]\n}"
        );
        assert_err("undefined_var|to_json", "undefined");
    }

    #[test]
    fn to_nice_json_indents_by_4_and_sorts_keys() {
        assert_eq!(
            r("nested|to_nice_json"),
            "{\n    \"a\": [\n        1,\n        \"two\",\n        {\n            \"e\": [],\n            \"k\": \"v\"\n        }\n    ],\n    \"colon\": \"a: b\",\n    \"empty\": \"\",\n    \"f\": 1.5,\n    \"long\": \"word word word word word word word word word word word word word word word word word word word word word word word word word \",\n    \"m\": {},\n    \"multi\": \"line1\\nline2\",\n    \"n\": null,\n    \"num\": \"123\",\n    \"q\": \"it's\",\n    \"s\": \"yes\",\n    \"t\": true,\n    \"z\": 1\n}"
        );
        assert_eq!(
            r("{'b':1,'a':[]}|to_nice_json"),
            "{\n    \"a\": [],\n    \"b\": 1\n}"
        );
        assert_eq!(
            r("unicode|to_nice_json(ensure_ascii=false)"),
            "{\n    \"ctl\": \"a\\tb\\u0001\",\n    \"k\": \"ü€😀\"\n}"
        );
        assert_eq!(
            r("{'b':1,'a':2}|to_nice_json(sort_keys=false, indent=2)"),
            "{\n  \"b\": 1,\n  \"a\": 2\n}"
        );
    }

    #[test]
    fn from_json_parses_and_reports_errors() {
        assert_eq!(
            j(r#"'{"a": 1, "b": [true, null], "c": 1.5}'|from_json"#),
            r#"{"a": 1, "b": [true, null], "c": 1.5}"#
        );
        assert_eq!(j(r#"'{"z": 1, "a": 2}'|from_json"#), r#"{"z": 1, "a": 2}"#);
        assert_err("'[1, 2'|from_json", "from_json: invalid JSON");
        assert_err("5|from_json", "from_json: expected a string");
    }

    // --- YAML -----------------------------------------------------------------

    #[test]
    fn to_yaml_matches_pyyaml() {
        assert_eq!(
            r("nested|to_yaml"),
            "a:\n- 1\n- two\n- e: []\n  k: v\ncolon: 'a: b'\nempty: ''\nf: 1.5\nlong: 'word word word word word word word word word word word word word word word\n  word word word word word word word word word word '\nm: {}\nmulti: 'line1\n\n  line2'\nn: null\nnum: '123'\nq: it's\ns: 'yes'\nt: true\nz: 1\n"
        );
        assert_eq!(
            r("unicode|to_yaml"),
            "{ctl: \"a\\tb\\x01\", k: \"ü€\\U0001F600\"}\n"
        );
        assert_eq!(r("'foo'|to_yaml"), "foo\n");
        assert_eq!(r("''|to_yaml"), "''\n");
        assert_eq!(r("none|to_yaml"), "null\n");
        assert_eq!(r("42|to_yaml"), "42\n");
        assert_eq!(r("[]|to_yaml"), "[]\n");
        assert_eq!(r("{'b':1,'a':2}|to_yaml"), "{a: 2, b: 1}\n");
        assert_eq!(
            r("{'b':1,'a':2}|to_yaml(sort_keys=false)"),
            "{b: 1, a: 2}\n"
        );
        assert_eq!(
            r("[1,[2,3],{'a':[4]}]|to_yaml"),
            "- 1\n- [2, 3]\n- a: [4]\n"
        );
        assert_eq!(
            r("{'a': [{'x': 1, 'y': 2}, {'z': [3]}]}|to_yaml"),
            "a:\n- {x: 1, y: 2}\n- z: [3]\n"
        );
        assert_eq!(
            r("[1.5, 1e16, 1e-5, -0.0, 3]|to_yaml"),
            "[1.5, 1.0e+16, 1.0e-05, -0.0, 3]\n"
        );
    }

    #[test]
    fn to_yaml_quotes_like_the_yaml_1_1_resolver() {
        assert_eq!(
            r(
                "['yes', 'no', 'on', '1.0', '0755', '~', 'null', '2001-01-01', '=', '<<', '-', '- a', 'a #b', 'a#b', '#x', ': x', 'x:', '@x', '`x', '1_0', '0x1f', '.inf', 'True', 'y', 'n', '12:30']|to_yaml"
            ),
            "['yes', 'no', 'on', '1.0', '0755', '~', 'null', '2001-01-01', '=', '<<', '-', '- a',\n  'a #b', a#b, '#x', ': x', 'x:', '@x', '`x', '1_0', '0x1f', '.inf', 'True', y, n,\n  '12:30']\n"
        );
    }

    #[test]
    fn to_yaml_wraps_long_scalars_at_80_columns() {
        assert_eq!(
            r("{'k': 'x' * 100}|to_yaml"),
            format!("{{k: {}}}\n", "x".repeat(100))
        );
        assert_eq!(
            r("[('word ' * 30)|trim]|to_yaml"),
            "[word word word word word word word word word word word word word word word word word\n    word word word word word word word word word word word word word]\n"
        );
        assert_eq!(
            r("{'k': ('word ' * 30)|trim}|to_yaml(width=1000)"),
            format!("{{k: {}}}\n", "word ".repeat(30).trim())
        );
    }

    #[test]
    fn to_nice_yaml_matches_pyyaml() {
        assert_eq!(
            r("nested|to_nice_yaml"),
            "a:\n- 1\n- two\n-   e: []\n    k: v\ncolon: 'a: b'\nempty: ''\nf: 1.5\nlong: 'word word word word word word word word word word word word word word word\n    word word word word word word word word word word '\nm: {}\nmulti: 'line1\n\n    line2'\nn: null\nnum: '123'\nq: it's\ns: 'yes'\nt: true\nz: 1\n"
        );
        assert_eq!(
            r("unicode|to_nice_yaml"),
            "ctl: \"a\\tb\\x01\"\nk: \"ü€\\U0001F600\"\n"
        );
        assert_eq!(r("'foo'|to_nice_yaml"), "foo\n");
        assert_eq!(r("{}|to_nice_yaml"), "{}\n");
        assert_eq!(
            r("[1,[2,3],{'a':[4]}]|to_nice_yaml"),
            "- 1\n-   - 2\n    - 3\n-   a:\n    - 4\n"
        );
        assert_eq!(
            r("{'k': ('word ' * 30)|trim}|to_nice_yaml"),
            "k: word word word word word word word word word word word word word word word word\n    word word word word word word word word word word word word word word\n"
        );
        assert_eq!(
            r("{'k': ('a' * 130)}|to_nice_yaml"),
            format!("k: {}\n", "a".repeat(130))
        );
        assert_eq!(
            r("{('k' * 130): 1}|to_nice_yaml"),
            format!("? {}\n: 1\n", "k".repeat(130))
        );
        assert_eq!(
            r(
                "{'multi': 'a\\nb\\n', 'sp': ' lead', 'tr': 'trail ', 'q': \"'\", 'dq': '\"'}|to_nice_yaml"
            ),
            "dq: '\"'\nmulti: 'a\n\n    b\n\n    '\nq: ''''\nsp: ' lead'\ntr: 'trail '\n"
        );
        assert_eq!(
            r("{'a': {'b': {'c': [1,2]}}}|to_nice_yaml(indent=2)"),
            "a:\n  b:\n    c:\n    - 1\n    - 2\n"
        );
        assert_eq!(
            r("{'a': {'b': {'c': [1,2]}}}|to_nice_yaml"),
            "a:\n    b:\n        c:\n        - 1\n        - 2\n"
        );
        assert_eq!(
            r("{'a': [{'x': 1, 'y': 2}, {'z': [3]}]}|to_nice_yaml"),
            "a:\n-   x: 1\n    y: 2\n-   z:\n    - 3\n"
        );
    }

    #[test]
    fn from_yaml_parses_documents() {
        assert_eq!(
            j(r#"'a: 1\nb: [1, 2]\ne: ~\nf: 1.5\ng: "yes"\nh: &x {k: v}\ni: *x'|from_yaml"#),
            r#"{"a": 1, "b": [1, 2], "e": null, "f": 1.5, "g": "yes", "h": {"k": "v"}, "i": {"k": "v"}}"#
        );
        assert_eq!(
            j("'base: &b {x: 1}\\nover:\\n  <<: *b\\n  y: 2'|from_yaml"),
            r#"{"base": {"x": 1}, "over": {"x": 1, "y": 2}}"#
        );
        assert_eq!(j("none|from_yaml"), "null");
        assert_eq!(
            j("'a: 1\\n---\\nb: 2'|from_yaml_all"),
            r#"[{"a": 1}, {"b": 2}]"#
        );
        assert_err("'a: [1'|from_yaml", "from_yaml: invalid YAML");
    }
}
