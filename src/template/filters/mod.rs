//! Ansible's filters and tests on top of minijinja's builtins.
//!
//! [`register`] adds the filters and tests of `ansible.builtin` that
//! templates commonly use, and replaces the minijinja builtins whose
//! behaviour differs from Jinja2/Ansible (`default`, `bool`, `int`, `float`,
//! `map`, `sort`, `split`, `urlencode` and the `sequence`/`iterable` tests).
//! Builtins that already behave like Jinja2 (`lower`, `upper`, `join`,
//! `length`, `first`, `select`, `unique`, ...) are left alone.
//!
//! The values follow Ansible 2.19 (ansible-core) with Jinja2 3.1: regular
//! expressions use Python's `re` syntax and replacement templates (`\1`,
//! `\g<name>`), `to_json` is Python's `json.dumps`, and `to_yaml` is
//! PyYAML's `yaml.dump` with libyaml's emitter, as Ansible uses it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use base64::Engine as _;
use minijinja::value::{Kwargs, Rest, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior, Value};
use regex::{Captures, Regex, RegexBuilder};

type Res<T> = Result<T, Error>;

/// Registers Ansible's filters and tests in `env`.
pub fn register(env: &mut Environment<'static>) {
    // defaults and conversions
    env.add_filter("default", default_filter);
    env.add_filter("d", default_filter);
    env.add_filter("mandatory", mandatory);
    env.add_filter("ternary", ternary);
    env.add_filter("bool", bool_filter);
    env.add_filter("int", int_filter);
    env.add_filter("float", float_filter);
    env.add_filter("type_debug", type_debug);

    // serialisation
    env.add_filter("to_json", to_json);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("from_json", from_json);
    env.add_filter("to_yaml", to_yaml);
    env.add_filter("to_nice_yaml", to_nice_yaml);
    env.add_filter("from_yaml", from_yaml);
    env.add_filter("from_yaml_all", from_yaml_all);

    // strings
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_filter("regex_findall", regex_findall);
    env.add_filter("regex_escape", regex_escape);
    env.add_filter("quote", quote);
    env.add_filter("b64encode", b64encode);
    env.add_filter("b64decode", b64decode);
    env.add_filter("hash", hash_filter);
    env.add_filter("md5", md5_filter);
    env.add_filter("sha1", sha1_filter);
    env.add_filter("checksum", sha1_filter);
    env.add_filter("split", split);
    env.add_filter("splitlines", splitlines);
    env.add_filter("basename", basename);
    env.add_filter("dirname", dirname);
    env.add_filter("urlencode", urlencode);

    // data structures
    env.add_filter("dict2items", dict2items);
    env.add_filter("items2dict", items2dict);
    env.add_filter("combine", combine);
    env.add_filter("flatten", flatten);
    env.add_filter("dict", dict_filter);
    env.add_filter("map", map_filter);
    env.add_filter("sort", sort_filter);

    // tests
    env.add_test("sequence", is_sequence);
    env.add_test("iterable", is_iterable);
    env.add_test("failed", is_failed);
    env.add_test("failure", is_failed);
    env.add_test("succeeded", is_succeeded);
    env.add_test("success", is_succeeded);
    env.add_test("successful", is_succeeded);
    env.add_test("changed", is_changed);
    env.add_test("change", is_changed);
    env.add_test("skipped", is_skipped);
    env.add_test("skip", is_skipped);
    env.add_test("unreachable", is_unreachable);
    env.add_test("reachable", is_reachable);
    env.add_test("match", is_match);
    env.add_test("search", is_search);
    env.add_test("regex", is_regex);
    env.add_test("version", is_version);
    env.add_test("version_compare", is_version);
    env.add_test("truthy", is_truthy);
    env.add_test("falsy", is_falsy);
    env.add_test("contains", is_contains);
    env.add_test("subset", is_subset);
    env.add_test("issubset", is_subset);
    env.add_test("superset", is_superset);
    env.add_test("issuperset", is_superset);
    env.add_test("abs", is_abs);
    env.add_test("is_abs", is_abs);
    env.add_test("any", is_any);
    env.add_test("all", is_all);
    env.add_test("nan", is_nan);
    env.add_test("isnan", is_nan);
}

// ---------------------------------------------------------------------------
// helpers

/// An error of `what` (a filter or test name) about its input.
fn fail(what: &str, msg: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("{what}: {msg}"))
}

/// The engine's own error for an undefined value.
///
/// Looking up an item of an undefined value fails with the same error the
/// engine raises, including where the value came from when debug info is on.
fn undefined_error(value: &Value) -> Error {
    match value.get_item(&Value::from(0)) {
        Err(err) => err,
        Ok(_) => Error::from(ErrorKind::UndefinedError),
    }
}

fn is_strict(state: &State) -> bool {
    matches!(
        state.undefined_behavior(),
        UndefinedBehavior::Strict | UndefinedBehavior::SemiStrict
    )
}

/// Fails for an undefined value where the undefined behaviour is strict.
fn check_defined(state: &State, value: &Value) -> Res<()> {
    if value.is_undefined() && is_strict(state) {
        Err(undefined_error(value))
    } else {
        Ok(())
    }
}

/// Python's `str(value)`; an undefined value is an error when strict.
fn py_str(state: &State, value: &Value) -> Res<String> {
    check_defined(state, value)?;
    Ok(match value.as_str() {
        Some(s) => s.to_string(),
        None => value.to_string(),
    })
}

/// A short Python-like `repr` of a value for error messages.
fn repr(value: &Value) -> String {
    let s = format!("{value:?}");
    if s.chars().count() > 200 {
        let cut: String = s.chars().take(200).collect();
        format!("{cut}...")
    } else {
        s
    }
}

fn kind_name(value: &Value) -> &'static str {
    match value.kind() {
        ValueKind::Undefined => "undefined",
        ValueKind::None => "none",
        ValueKind::Bool => "bool",
        ValueKind::Number => "number",
        ValueKind::String => "string",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq => "list",
        ValueKind::Map => "dict",
        ValueKind::Iterable => "iterable",
        _ => "object",
    }
}

/// Splits a filter's trailing arguments into positional and keyword ones.
fn split_kwargs(args: Vec<Value>) -> Res<(Vec<Value>, Option<Kwargs>)> {
    let mut args = args;
    if args.last().is_some_and(Value::is_kwargs)
        && let Some(last) = args.pop()
    {
        let kwargs = Kwargs::try_from(last)?;
        return Ok((args, Some(kwargs)));
    }
    Ok((args, None))
}

/// Binds positional and keyword arguments to the parameter `names` like
/// Python does.  The first `required` parameters must be given.
fn bind_args(
    what: &str,
    args: Vec<Value>,
    names: &[&str],
    required: usize,
) -> Res<Vec<Option<Value>>> {
    let (pos, kwargs) = split_kwargs(args)?;
    if pos.len() > names.len() {
        return Err(fail(
            what,
            format!(
                "takes at most {} argument(s), got {}",
                names.len(),
                pos.len()
            ),
        ));
    }
    let mut slots: Vec<Option<Value>> = vec![None; names.len()];
    for (slot, value) in slots.iter_mut().zip(pos) {
        *slot = Some(value);
    }
    if let Some(kwargs) = kwargs {
        let keys: Vec<String> = kwargs.args().map(str::to_string).collect();
        for key in keys {
            let Some(idx) = names.iter().position(|n| *n == key) else {
                return Err(fail(what, format!("unexpected keyword argument '{key}'")));
            };
            if slots[idx].is_some() {
                return Err(fail(
                    what,
                    format!("got multiple values for argument '{key}'"),
                ));
            }
            slots[idx] = Some(kwargs.get::<Value>(&key)?);
        }
    }
    for (idx, name) in names.iter().enumerate().take(required) {
        if slots[idx].is_none() {
            return Err(fail(what, format!("missing required argument '{name}'")));
        }
    }
    Ok(slots)
}

/// A string argument; `none` and a missing argument give `None`.
fn opt_str_arg(what: &str, name: &str, value: Option<&Value>) -> Res<Option<String>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) if v.is_undefined() => Err(fail(what, format!("argument '{name}' is undefined"))),
        Some(v) => match v.as_str() {
            Some(s) => Ok(Some(s.to_string())),
            None => Err(fail(
                what,
                format!(
                    "argument '{name}' must be a string, got {} {}",
                    kind_name(v),
                    repr(v)
                ),
            )),
        },
    }
}

fn str_arg(what: &str, name: &str, value: Option<&Value>) -> Res<String> {
    opt_str_arg(what, name, value)?.ok_or_else(|| {
        fail(
            what,
            format!("argument '{name}' must be a string, got none"),
        )
    })
}

/// A flag argument, judged by Python's truthiness like Ansible does.
fn flag_arg(what: &str, name: &str, value: Option<&Value>) -> Res<bool> {
    match value {
        None => Ok(false),
        Some(v) if v.is_undefined() => Err(fail(what, format!("argument '{name}' is undefined"))),
        Some(v) => Ok(v.is_true()),
    }
}

fn int_arg(what: &str, name: &str, value: Option<&Value>) -> Res<Option<i64>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => match v.kind() {
            ValueKind::Number | ValueKind::Bool
                if v.is_integer() || v.kind() == ValueKind::Bool =>
            {
                i64::try_from(v.clone())
                    .map(Some)
                    .map_err(|_| fail(what, format!("argument '{name}' is out of range: {v}")))
            }
            _ => Err(fail(
                what,
                format!(
                    "argument '{name}' must be an integer, got {} {}",
                    kind_name(v),
                    repr(v)
                ),
            )),
        },
    }
}

/// Collects the items of an iterable value (the keys of a mapping).
fn items_of(state: &State, what: &str, value: &Value) -> Res<Vec<Value>> {
    check_defined(state, value)?;
    if value.is_none() || value.is_undefined() {
        return Err(fail(
            what,
            format!("expected a list, got {}", kind_name(value)),
        ));
    }
    let iter = value.try_iter().map_err(|_| {
        fail(
            what,
            format!("expected a list, got {} {}", kind_name(value), repr(value)),
        )
    })?;
    Ok(iter.collect())
}

/// The `(key, value)` pairs of a mapping in their order.
fn map_pairs(value: &Value) -> Res<Vec<(Value, Value)>> {
    let mut rv = Vec::new();
    for key in value.try_iter()? {
        let item = value.get_item(&key)?;
        rv.push((key, item));
    }
    Ok(rv)
}

/// Python's `list`/`tuple` check (strings and mappings are not sequences).
fn is_list_like(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable)
}

/// Looks up a dotted attribute path like Jinja2's `make_attrgetter`:
/// numeric parts index sequences.
fn get_attr_path(value: &Value, path: &Value) -> Value {
    let Some(path) = path.as_str() else {
        return value.get_item(path).unwrap_or(Value::UNDEFINED);
    };
    let mut rv = value.clone();
    for part in path.split('.') {
        let key = match part.parse::<i64>() {
            Ok(idx) if part.bytes().all(|b| b.is_ascii_digit()) => Value::from(idx),
            _ => Value::from(part),
        };
        rv = match rv.get_item(&key) {
            Ok(v) => v,
            Err(_) => return Value::UNDEFINED,
        };
        if rv.is_undefined() {
            return rv;
        }
    }
    rv
}

// ---------------------------------------------------------------------------
// defaults and conversions

/// `default(default_value='', boolean=false)`, Jinja2/Ansible semantics.
fn default_filter(value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    let slots = bind_args(
        "default",
        args.into_values(),
        &["default_value", "boolean"],
        0,
    )?;
    let boolean = match &slots[1] {
        None => false,
        Some(v) => match v.kind() {
            ValueKind::Bool => v.is_true(),
            _ => {
                return Err(fail(
                    "default",
                    format!(
                        "the 'boolean' argument must be a bool, got {} {}",
                        kind_name(v),
                        repr(v)
                    ),
                ));
            }
        },
    };
    if value.is_undefined() || (boolean && !value.is_true()) {
        Ok(slots[0].clone().unwrap_or_else(|| Value::from("")))
    } else {
        Ok(value.clone())
    }
}

/// `mandatory(msg=None)`: fails for an undefined value.
fn mandatory(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    let slots = bind_args("mandatory", args.into_values(), &["msg"], 0)?;
    if !value.is_undefined() {
        return Ok(value.clone());
    }
    if let Some(msg) = slots[0]
        .as_ref()
        .filter(|m| !m.is_none() && !m.is_undefined())
    {
        return Err(Error::new(ErrorKind::UndefinedError, py_str(state, msg)?));
    }
    let msg = match mandatory_name(state) {
        Some(name) => format!("Mandatory variable '{name}' not defined."),
        None => "Mandatory variable not defined.".to_string(),
    };
    Err(Error::new(ErrorKind::UndefinedError, msg))
}

/// Guesses the name of the variable given to `mandatory` from the source of
/// the current template.  minijinja's undefined values carry no name, so this
/// is only answered when it is unambiguous: the template is known to the
/// environment and either applies `mandatory` once, to a plain (dotted)
/// variable, or applies it only to plain variables of which exactly one
/// cannot be resolved.  Like Ansible, the last part of a dotted name is used.
fn mandatory_name(state: &State) -> Option<String> {
    static ANY: OnceLock<Option<Regex>> = OnceLock::new();
    static SIMPLE: OnceLock<Option<Regex>> = OnceLock::new();
    let any = ANY
        .get_or_init(|| Regex::new(r"\|\s*mandatory\b").ok())
        .as_ref()?;
    let simple = SIMPLE
        .get_or_init(|| {
            Regex::new(r#"(?:^|[^\w.\])'"])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\|\s*mandatory\b"#)
                .ok()
        })
        .as_ref()?;
    let template = state.env().get_template(state.name()).ok()?;
    let source = template.source();
    let total = any.find_iter(source).count();
    let candidates: Vec<&str> = simple
        .captures_iter(source)
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
        .collect();
    if total == 0 || candidates.len() != total {
        return None;
    }
    let chosen = if candidates.len() == 1 {
        candidates[0]
    } else {
        let unresolved: Vec<&str> = candidates
            .iter()
            .copied()
            .filter(|path| {
                let mut parts = path.split('.');
                let Some(root) = parts.next().and_then(|r| state.lookup(r)) else {
                    return true;
                };
                let mut cur = root;
                for part in parts {
                    cur = cur.get_item(&Value::from(part)).unwrap_or(Value::UNDEFINED);
                }
                cur.is_undefined()
            })
            .collect();
        let first = *unresolved.first()?;
        if unresolved.iter().any(|p| *p != first) {
            return None;
        }
        first
    };
    chosen.rsplit('.').next().map(str::to_string)
}

/// `ternary(true_val, false_val, none_val=None)`.
fn ternary(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    let slots = bind_args(
        "ternary",
        args.into_values(),
        &["true_val", "false_val", "none_val"],
        2,
    )?;
    check_defined(state, value)?;
    let pick = |idx: usize| slots[idx].clone().unwrap_or(Value::from(()));
    if value.is_none()
        && let Some(none_val) = slots[2].as_ref().filter(|v| !v.is_none())
    {
        return Ok(none_val.clone());
    }
    Ok(if value.is_true() { pick(0) } else { pick(1) })
}

/// Ansible's `bool`: yes/no/on/off/true/false/1/0 in any case, 1 and 0.
fn bool_filter(state: &State, value: &Value) -> Res<bool> {
    check_defined(state, value)?;
    Ok(match value.kind() {
        ValueKind::Bool => value.is_true(),
        ValueKind::String => {
            let s = value.as_str().unwrap_or_default().to_lowercase();
            matches!(s.as_str(), "yes" | "on" | "true" | "1")
        }
        // anything else is `value == 1`, as Ansible's fallback does
        ValueKind::Number => f64::try_from(value.clone()).is_ok_and(|f| f == 1.0),
        _ => false,
    })
}

/// Python's `int(s, base)` for strings.
fn parse_py_int(s: &str, base: u32) -> Option<i128> {
    let s = s.trim_matches(py_is_space);
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = rest.to_ascii_lowercase();
    let (base, digits) = match base {
        0 => {
            if let Some(d) = lower.strip_prefix("0x") {
                (16, d.to_string())
            } else if let Some(d) = lower.strip_prefix("0o") {
                (8, d.to_string())
            } else if let Some(d) = lower.strip_prefix("0b") {
                (2, d.to_string())
            } else {
                // base 0 does not allow leading zeros in decimals
                if lower.len() > 1
                    && lower.starts_with('0')
                    && lower.bytes().any(|b| b != b'0' && b != b'_')
                {
                    return None;
                }
                (10, lower)
            }
        }
        16 => (
            16,
            lower
                .strip_prefix("0x")
                .map(str::to_string)
                .unwrap_or(lower),
        ),
        8 => (
            8,
            lower
                .strip_prefix("0o")
                .map(str::to_string)
                .unwrap_or(lower),
        ),
        2 => (
            2,
            lower
                .strip_prefix("0b")
                .map(str::to_string)
                .unwrap_or(lower),
        ),
        b @ 2..=36 => (b, lower),
        _ => return None,
    };
    // underscores are allowed between digits (and right after a prefix)
    let digits = digits
        .strip_prefix('_')
        .filter(|_| base != 10)
        .unwrap_or(&digits);
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if clean.starts_with(['+', '-']) {
        return None;
    }
    let n = i128::from_str_radix(&clean, base).ok()?;
    Some(if neg { -n } else { n })
}

/// Python's `float(s)` for strings.
fn parse_py_float(s: &str) -> Option<f64> {
    let s = s.trim_matches(py_is_space);
    if s.is_empty() || s.starts_with('_') || s.ends_with('_') || s.contains("__") {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if matches!(body, "inf" | "infinity" | "nan") {
        return lower.parse::<f64>().ok();
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || b"._e+-".contains(&b))
    {
        return None;
    }
    let clean: String = s.chars().filter(|c| *c != '_').collect();
    clean.parse::<f64>().ok()
}

fn py_is_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// An integer value, stored as `i64` where it fits.
fn int_value(n: i128) -> Value {
    i64::try_from(n).map_or_else(|_| Value::from(n), Value::from)
}

/// Jinja2's `int(default=0, base=10)`: unconvertible values give `default`.
fn int_filter(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    let slots = bind_args("int", args.into_values(), &["default", "base"], 0)?;
    check_defined(state, value)?;
    let default = slots[0].clone().unwrap_or(Value::from(0));
    let base = int_arg("int", "base", slots[1].as_ref())?.unwrap_or(10);
    let base = u32::try_from(base)
        .ok()
        .filter(|b| *b == 0 || (2..=36).contains(b))
        .ok_or_else(|| {
            fail(
                "int",
                format!("base must be 0 or between 2 and 36, got {base}"),
            )
        })?;
    let from_float = |f: f64| -> Res<Value> {
        if f.is_nan() {
            Ok(default.clone())
        } else if f.is_infinite() {
            Err(fail("int", "cannot convert float infinity to integer"))
        } else {
            Ok(int_value(f.trunc() as i128))
        }
    };
    match value.kind() {
        ValueKind::Bool => Ok(Value::from(i64::from(value.is_true()))),
        ValueKind::Number if value.is_integer() => Ok(value.clone()),
        ValueKind::Number => from_float(f64::try_from(value.clone()).unwrap_or(f64::NAN)),
        ValueKind::String => {
            let s = value.as_str().unwrap_or_default();
            if let Some(n) = parse_py_int(s, base) {
                Ok(int_value(n))
            } else if let Some(f) = parse_py_float(s) {
                from_float(f)
            } else {
                Ok(default)
            }
        }
        _ => Ok(default),
    }
}

/// Jinja2's `float(default=0.0)`.
fn float_filter(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    let slots = bind_args("float", args.into_values(), &["default"], 0)?;
    check_defined(state, value)?;
    let default = slots[0].clone().unwrap_or(Value::from(0.0));
    Ok(match value.kind() {
        ValueKind::Bool => Value::from(if value.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number => f64::try_from(value.clone())
            .map(Value::from)
            .unwrap_or(default),
        ValueKind::String => parse_py_float(value.as_str().unwrap_or_default())
            .map(Value::from)
            .unwrap_or(default),
        _ => default,
    })
}

/// Ansible's `type_debug`: the Python type name of the value.
fn type_debug(value: &Value) -> &'static str {
    match value.kind() {
        ValueKind::Undefined => "UndefinedMarker",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if value.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

// ---------------------------------------------------------------------------
// JSON

/// Python's `repr(float)`.
fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sci = format!("{f:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mant) = match mant.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mant),
    };
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            let mut int_part = digits.chars().take(int_len).collect::<String>();
            while int_part.len() < int_len {
                int_part.push('0');
            }
            let frac: String = digits.chars().skip(int_len).collect();
            let frac = if frac.is_empty() {
                "0".to_string()
            } else {
                frac
            };
            format!("{sign}{int_part}.{frac}")
        } else {
            let zeros = "0".repeat((-exp - 1) as usize);
            format!("{sign}0.{zeros}{digits}")
        }
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let mant = if rest.is_empty() {
            first.to_string()
        } else {
            format!("{first}.{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mant}e{esign}{:02}", exp.unsigned_abs())
    }
}

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

/// Sorts mapping pairs like Python's `sorted()` on their keys; keys of
/// different types cannot be ordered.
fn py_sort_pairs(pairs: &mut [(Value, Value)]) -> Result<(), String> {
    let all_str = pairs.iter().all(|(k, _)| k.kind() == ValueKind::String);
    let all_num = pairs
        .iter()
        .all(|(k, _)| matches!(k.kind(), ValueKind::Number | ValueKind::Bool));
    if !all_str && !all_num {
        return Err("cannot sort keys of different types".into());
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(())
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
fn to_json(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
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
fn to_nice_json(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
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

fn json_to_value(v: serde_json::Value) -> Value {
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
fn from_json(state: &State, value: &Value) -> Res<Value> {
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
fn from_yaml(state: &State, value: &Value) -> Res<Value> {
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
fn from_yaml_all(state: &State, value: &Value) -> Res<Value> {
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
    let opts = yaml::DumpOptions {
        indent,
        width,
        default_flow_style: flow_style,
        sort_keys,
        explicit_start: flag_arg(what, "explicit_start", slots[4].as_ref())?,
        explicit_end: flag_arg(what, "explicit_end", slots[5].as_ref())?,
    };
    yaml::dump(value, &opts).map_err(|e| fail(what, e))
}

/// `to_yaml(indent=2, width=80, default_flow_style=None, sort_keys=True)`.
fn to_yaml(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
    yaml_dump("to_yaml", state, value, args.into_values(), false)
}

/// `to_nice_yaml(indent=4, default_flow_style=False, ...)`.
fn to_nice_yaml(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
    yaml_dump("to_nice_yaml", state, value, args.into_values(), true)
}

// ---------------------------------------------------------------------------
// regular expressions

/// Turns a Python `re` pattern into one for the `regex` crate where the two
/// differ in syntax: `\Z`, `\<`/`\>`, braces that are no quantifier, and `[`,
/// `&`, `~` inside character classes.
fn translate_py_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            match chars.get(i + 1) {
                Some('Z') if !in_class => out.push_str(r"\z"),
                Some('<') => out.push('<'),
                Some('>') => out.push('>'),
                Some(&n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
            i += 2;
            continue;
        }
        if in_class {
            match c {
                ']' => {
                    in_class = false;
                    out.push(']');
                }
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                }
                _ => out.push(c),
            }
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // a `]` right after the opening bracket is a literal
                if chars.get(i) == Some(&']') {
                    out.push_str(r"\]");
                    i += 1;
                }
            }
            '{' => {
                // a quantifier is `{m}`, `{m,}`, `{m,n}` or `{,n}`
                let body: Option<String> = chars[i + 1..]
                    .iter()
                    .position(|c| *c == '}')
                    .map(|end| chars[i + 1..i + 1 + end].iter().collect());
                let quant = body.filter(|body| {
                    let (lo, hi) = body.split_once(',').unwrap_or((body.as_str(), ""));
                    !body.is_empty()
                        && body.as_str() != ","
                        && lo.bytes().all(|b| b.is_ascii_digit())
                        && hi.bytes().all(|b| b.is_ascii_digit())
                });
                match quant {
                    Some(body) => {
                        i += body.chars().count() + 2;
                        out.push('{');
                        if body.starts_with(',') {
                            out.push('0');
                        }
                        out.push_str(&body);
                        out.push('}');
                    }
                    None => {
                        out.push_str(r"\{");
                        i += 1;
                    }
                }
            }
            '}' => {
                out.push_str(r"\}");
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The essence of a `regex` crate error (its last line).
fn regex_error_text(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: ").map(str::to_string))
        .unwrap_or_else(|| text.lines().last().unwrap_or_default().trim().to_string())
}

/// Compiles a Python regular expression (cached).
fn py_regex(what: &str, pattern: &str, ignorecase: bool, multiline: bool) -> Res<Regex> {
    type Cache = Mutex<HashMap<(String, bool, bool), Regex>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = (pattern.to_string(), ignorecase, multiline);
    if let Ok(guard) = cache.lock()
        && let Some(re) = guard.get(&key)
    {
        return Ok(re.clone());
    }
    let re = RegexBuilder::new(&translate_py_pattern(pattern))
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| {
            fail(
                what,
                format!("invalid pattern '{pattern}': {}", regex_error_text(&e)),
            )
        })?;
    if let Ok(mut guard) = cache.lock() {
        if guard.len() >= 256 {
            guard.clear();
        }
        guard.insert(key, re.clone());
    }
    Ok(re)
}

enum ReplPiece {
    Literal(String),
    Group(usize),
}

/// Parses a Python replacement template (`\1`, `\g<1>`, `\g<name>`, `\n`, ...).
fn parse_py_replacement(template: &str, re: &Regex) -> Result<Vec<ReplPiece>, String> {
    let chars: Vec<char> = template.chars().collect();
    let groups = re.captures_len() - 1;
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    let push_group = |lit: &mut String, pieces: &mut Vec<ReplPiece>, idx: usize| {
        if !lit.is_empty() {
            pieces.push(ReplPiece::Literal(std::mem::take(lit)));
        }
        pieces.push(ReplPiece::Group(idx));
    };
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            lit.push(c);
            i += 1;
            continue;
        }
        let pos = i;
        let Some(&n) = chars.get(i + 1) else {
            return Err(format!("bad escape (end of pattern) at position {pos}"));
        };
        i += 2;
        match n {
            'g' => {
                if chars.get(i) != Some(&'<') {
                    return Err(format!("missing < at position {i}"));
                }
                let Some(end) = chars[i + 1..].iter().position(|c| *c == '>') else {
                    return Err(format!(
                        "missing >, unterminated name at position {}",
                        i + 1
                    ));
                };
                let name: String = chars[i + 1..i + 1 + end].iter().collect();
                i += end + 2;
                let idx = if name.is_empty() {
                    return Err(format!("missing group name at position {}", pos + 3));
                } else if name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_alphanumeric() || c == '_')
                {
                    re.capture_names()
                        .position(|n| n == Some(name.as_str()))
                        .ok_or_else(|| format!("unknown group name '{name}'"))?
                } else {
                    let idx: usize = name.parse().map_err(|_| {
                        format!(
                            "bad character in group name '{name}' at position {}",
                            pos + 3
                        )
                    })?;
                    if idx > groups {
                        return Err(format!(
                            "invalid group reference {idx} at position {}",
                            pos + 3
                        ));
                    }
                    idx
                };
                push_group(&mut lit, &mut pieces, idx);
            }
            '0' => {
                let mut val = 0u32;
                let mut len = 0;
                while len < 2 && chars.get(i).is_some_and(|c| ('0'..='7').contains(c)) {
                    val = val * 8 + chars[i].to_digit(8).unwrap_or(0);
                    i += 1;
                    len += 1;
                }
                lit.push(char::from_u32(val & 0xff).unwrap_or('\0'));
            }
            '1'..='9' => {
                let mut text = n.to_string();
                let mut octal = None;
                if let Some(&d2) = chars.get(i).filter(|c| c.is_ascii_digit()) {
                    text.push(d2);
                    i += 1;
                    let is_oct = |c: char| ('0'..='7').contains(&c);
                    if is_oct(n) && is_oct(d2) && chars.get(i).is_some_and(|c| is_oct(*c)) {
                        text.push(chars[i]);
                        i += 1;
                        let val = u32::from_str_radix(&text, 8).unwrap_or(0);
                        if val > 0o377 {
                            return Err(format!(
                                "octal escape value \\{text} outside of range 0-0o377 at position {pos}"
                            ));
                        }
                        octal = char::from_u32(val);
                    }
                }
                match octal {
                    Some(ch) => lit.push(ch),
                    None => {
                        let idx: usize = text.parse().unwrap_or(usize::MAX);
                        if idx > groups {
                            return Err(format!(
                                "invalid group reference {idx} at position {}",
                                pos + 1
                            ));
                        }
                        push_group(&mut lit, &mut pieces, idx);
                    }
                }
            }
            'a' => lit.push('\x07'),
            'b' => lit.push('\x08'),
            'f' => lit.push('\x0c'),
            'n' => lit.push('\n'),
            'r' => lit.push('\r'),
            't' => lit.push('\t'),
            'v' => lit.push('\x0b'),
            '\\' => lit.push('\\'),
            c if c.is_ascii_alphabetic() => {
                return Err(format!("bad escape \\{c} at position {pos}"));
            }
            c => {
                lit.push('\\');
                lit.push(c);
            }
        }
    }
    if !lit.is_empty() {
        pieces.push(ReplPiece::Literal(lit));
    }
    Ok(pieces)
}

/// Iterates matches like Python's `re.finditer`: an empty match right after
/// a match is allowed, the search moves on one character after an empty match.
fn py_captures_iter<'h>(re: &Regex, hay: &'h str) -> Vec<Captures<'h>> {
    let mut rv = Vec::new();
    let mut pos = 0;
    let mut last_empty_at: Option<usize> = None;
    while pos <= hay.len() {
        let Some(caps) = re.captures_at(hay, pos) else {
            break;
        };
        let Some(m) = caps.get(0) else {
            break;
        };
        if m.start() == m.end() && last_empty_at == Some(m.start()) {
            // no second empty match at the same place: move on one char
            match hay[pos..].chars().next() {
                Some(c) => {
                    pos += c.len_utf8();
                    continue;
                }
                None => break,
            }
        }
        let (start, end) = (m.start(), m.end());
        rv.push(caps);
        last_empty_at = (start == end).then_some(end);
        pos = end;
    }
    rv
}

/// `regex_replace(pattern, replacement='', ignorecase=False, multiline=False,
/// count=0, mandatory_count=0)`: Python's `re.sub`.
fn regex_replace(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
    const W: &str = "regex_replace";
    let slots = bind_args(
        W,
        args.into_values(),
        &[
            "pattern",
            "replacement",
            "ignorecase",
            "multiline",
            "count",
            "mandatory_count",
        ],
        0,
    )?;
    let text = py_str(state, value)?;
    let pattern = opt_str_arg(W, "pattern", slots[0].as_ref())?.unwrap_or_default();
    let replacement = opt_str_arg(W, "replacement", slots[1].as_ref())?.unwrap_or_default();
    let re = py_regex(
        W,
        &pattern,
        flag_arg(W, "ignorecase", slots[2].as_ref())?,
        flag_arg(W, "multiline", slots[3].as_ref())?,
    )?;
    let count = int_arg(W, "count", slots[4].as_ref())?.unwrap_or(0);
    let mandatory_count = int_arg(W, "mandatory_count", slots[5].as_ref())?.unwrap_or(0);
    let pieces = parse_py_replacement(&replacement, &re)
        .map_err(|e| fail(W, format!("invalid replacement '{replacement}': {e}")))?;
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut subs = 0i64;
    for caps in py_captures_iter(&re, &text) {
        if count > 0 && subs >= count {
            break;
        }
        let Some(m) = caps.get(0) else { continue };
        out.push_str(&text[last..m.start()]);
        for piece in &pieces {
            match piece {
                ReplPiece::Literal(s) => out.push_str(s),
                ReplPiece::Group(idx) => {
                    if let Some(g) = caps.get(*idx) {
                        out.push_str(g.as_str());
                    }
                }
            }
        }
        last = m.end();
        subs += 1;
    }
    out.push_str(&text[last..]);
    if mandatory_count != 0 && mandatory_count != subs {
        return Err(fail(
            W,
            format!(
                "'{pattern}' should match {mandatory_count} times, but matches {subs} times in '{text}'"
            ),
        ));
    }
    Ok(out)
}

/// `regex_findall(regex, multiline=False, ignorecase=False)`: Python's
/// `re.findall` (groups give a list of group values or of lists).
fn regex_findall(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    const W: &str = "regex_findall";
    let slots = bind_args(
        W,
        args.into_values(),
        &["regex", "multiline", "ignorecase"],
        1,
    )?;
    let text = py_str(state, value)?;
    let pattern = str_arg(W, "regex", slots[0].as_ref())?;
    let re = py_regex(
        W,
        &pattern,
        flag_arg(W, "ignorecase", slots[2].as_ref())?,
        flag_arg(W, "multiline", slots[1].as_ref())?,
    )?;
    let groups = re.captures_len() - 1;
    let group_str =
        |caps: &Captures<'_>, idx: usize| Value::from(caps.get(idx).map_or("", |m| m.as_str()));
    let rv: Vec<Value> = py_captures_iter(&re, &text)
        .iter()
        .map(|caps| match groups {
            0 => group_str(caps, 0),
            1 => group_str(caps, 1),
            n => Value::from((1..=n).map(|i| group_str(caps, i)).collect::<Vec<_>>()),
        })
        .collect();
    Ok(Value::from(rv))
}

/// `regex_search(regex, *groups, ignorecase=False, multiline=False)`: the
/// match, the list of the groups named by `'\1'` / `'\g<name>'`, or none.
fn regex_search(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    const W: &str = "regex_search";
    let (pos, kwargs) = split_kwargs(args.into_values())?;
    let mut ignorecase = false;
    let mut multiline = false;
    if let Some(kwargs) = kwargs {
        let keys: Vec<String> = kwargs.args().map(str::to_string).collect();
        for key in keys {
            let v: Value = kwargs.get(&key)?;
            match key.as_str() {
                "ignorecase" => ignorecase = v.is_true(),
                "multiline" => multiline = v.is_true(),
                _ => return Err(fail(W, format!("unexpected keyword argument '{key}'"))),
            }
        }
    }
    let text = py_str(state, value)?;
    let pattern = str_arg(W, "regex", pos.first())?;
    let re = py_regex(W, &pattern, ignorecase, multiline)?;
    enum Ref {
        Index(usize),
        Name(String),
    }
    let mut refs = Vec::new();
    for arg in pos.iter().skip(1) {
        let Some(s) = arg.as_str() else {
            return Err(fail(
                W,
                format!(
                    "unknown argument {}: expected '\\N' or '\\g<name>'",
                    repr(arg)
                ),
            ));
        };
        if let Some(rest) = s.strip_prefix("\\g") {
            let name = rest
                .strip_prefix('<')
                .and_then(|r| r.split_once('>'))
                .map(|(n, _)| n)
                .filter(|n| !n.is_empty() && !n.contains(char::is_whitespace))
                .ok_or_else(|| {
                    fail(
                        W,
                        format!("invalid group argument '{s}': expected '\\g<name>'"),
                    )
                })?;
            refs.push(Ref::Name(name.to_string()));
        } else if let Some(rest) = s.strip_prefix('\\') {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let idx = digits
                .parse::<usize>()
                .map_err(|_| fail(W, format!("invalid group argument '{s}': expected '\\N'")))?;
            refs.push(Ref::Index(idx));
        } else {
            return Err(fail(
                W,
                format!("unknown argument '{s}': expected '\\N' or '\\g<name>'"),
            ));
        }
    }
    let Some(caps) = re.captures(&text) else {
        return Ok(Value::from(()));
    };
    if refs.is_empty() {
        return Ok(Value::from(caps.get(0).map_or("", |m| m.as_str())));
    }
    let mut rv = Vec::new();
    for r in refs {
        let idx = match r {
            Ref::Index(idx) if idx < re.captures_len() => idx,
            Ref::Index(idx) => return Err(fail(W, format!("no such group {idx} in '{pattern}'"))),
            Ref::Name(name) => re
                .capture_names()
                .position(|n| n == Some(name.as_str()))
                .ok_or_else(|| fail(W, format!("no such group '{name}' in '{pattern}'")))?,
        };
        rv.push(
            caps.get(idx)
                .map_or(Value::from(()), |m| Value::from(m.as_str())),
        );
    }
    Ok(Value::from(rv))
}

/// `regex_escape(re_type='python')`: Python's `re.escape`, or the escaping
/// of POSIX basic regular expressions.
fn regex_escape(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
    const W: &str = "regex_escape";
    let slots = bind_args(W, args.into_values(), &["re_type"], 0)?;
    let text = py_str(state, value)?;
    let re_type = opt_str_arg(W, "re_type", slots[0].as_ref())?.unwrap_or_else(|| "python".into());
    let special: &[char] = match re_type.as_str() {
        "python" => &[
            '(', ')', '[', ']', '{', '}', '?', '*', '+', '-', '|', '^', '$', '\\', '.', '&', '~',
            '#', ' ', '\t', '\n', '\r', '\x0b', '\x0c',
        ],
        "posix_basic" => &[']', '.', '[', '^', '$', '*', '\\'],
        "posix_extended" => return Err(fail(W, "regex type 'posix_extended' is not implemented")),
        other => return Err(fail(W, format!("invalid regex type '{other}'"))),
    };
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(out)
}

fn regex_test(
    what: &str,
    state: &State,
    value: &Value,
    args: Vec<Value>,
    default_type: &str,
) -> Res<bool> {
    let names: &[&str] = if default_type == "search" && what == "regex" {
        &["pattern", "ignorecase", "multiline", "match_type"]
    } else {
        &["pattern", "ignorecase", "multiline"]
    };
    let slots = bind_args(what, args, names, 0)?;
    let text = py_str(state, value)?;
    let pattern = opt_str_arg(what, "pattern", slots[0].as_ref())?.unwrap_or_default();
    let re = py_regex(
        what,
        &pattern,
        flag_arg(what, "ignorecase", slots[1].as_ref())?,
        flag_arg(what, "multiline", slots[2].as_ref())?,
    )?;
    let match_type = match slots.get(3) {
        Some(v) => {
            opt_str_arg(what, "match_type", v.as_ref())?.unwrap_or_else(|| default_type.into())
        }
        None => default_type.into(),
    };
    Ok(match match_type.as_str() {
        "match" => re.find(&text).is_some_and(|m| m.start() == 0),
        "fullmatch" => py_regex(
            what,
            &format!("(?:{pattern})\\Z"),
            flag_arg(what, "ignorecase", slots[1].as_ref())?,
            flag_arg(what, "multiline", slots[2].as_ref())?,
        )?
        .find(&text)
        .is_some_and(|m| m.start() == 0),
        "search" => re.is_match(&text),
        other => return Err(fail(what, format!("invalid match_type '{other}'"))),
    })
}

fn is_match(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<bool> {
    regex_test("match", state, value, args.into_values(), "match")
}

fn is_search(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<bool> {
    regex_test("search", state, value, args.into_values(), "search")
}

fn is_regex(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<bool> {
    regex_test("regex", state, value, args.into_values(), "search")
}

// ---------------------------------------------------------------------------
// other string filters

/// `quote`: POSIX shell quoting like Python's `shlex.quote`.
fn quote(state: &State, value: &Value) -> Res<String> {
    let text = if value.is_none() {
        String::new()
    } else {
        py_str(state, value)?
    };
    if text.is_empty() {
        return Ok("''".into());
    }
    let safe = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if safe {
        Ok(text)
    } else {
        Ok(format!("'{}'", text.replace('\'', "'\"'\"'")))
    }
}

fn encode_text(what: &str, text: &str, encoding: &str) -> Res<Vec<u8>> {
    let enc = encoding.to_ascii_lowercase().replace('_', "-");
    match enc.as_str() {
        "utf-8" | "utf8" => Ok(text.as_bytes().to_vec()),
        "utf-16-le" | "utf-16le" => Ok(text.encode_utf16().flat_map(u16::to_le_bytes).collect()),
        "utf-16-be" | "utf-16be" => Ok(text.encode_utf16().flat_map(u16::to_be_bytes).collect()),
        "ascii" | "us-ascii" | "latin-1" | "latin1" | "iso-8859-1" => {
            let max = if enc.contains("ascii") { 0x7f } else { 0xff };
            text.chars()
                .map(|c| {
                    u8::try_from(c as u32)
                        .ok()
                        .filter(|b| u32::from(*b) <= max)
                        .ok_or_else(|| {
                            fail(
                                what,
                                format!("character {c:?} cannot be encoded as {encoding}"),
                            )
                        })
                })
                .collect()
        }
        _ => Err(fail(what, format!("unsupported encoding '{encoding}'"))),
    }
}

fn decode_bytes(what: &str, bytes: Vec<u8>, encoding: &str) -> Res<String> {
    let enc = encoding.to_ascii_lowercase().replace('_', "-");
    let utf16 = |le: bool| -> Res<String> {
        if !bytes.len().is_multiple_of(2) {
            return Err(fail(
                what,
                format!("decoded data is not valid {encoding} (odd length)"),
            ));
        }
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units)
            .map_err(|_| fail(what, format!("decoded data is not valid {encoding}")))
    };
    match enc.as_str() {
        "utf-8" | "utf8" => String::from_utf8(bytes)
            .map_err(|e| fail(what, format!("decoded data is not valid UTF-8: {e}"))),
        "utf-16-le" | "utf-16le" => utf16(true),
        "utf-16-be" | "utf-16be" => utf16(false),
        "latin-1" | "latin1" | "iso-8859-1" => Ok(bytes.into_iter().map(char::from).collect()),
        "ascii" | "us-ascii" => {
            if bytes.is_ascii() {
                Ok(bytes.into_iter().map(char::from).collect())
            } else {
                Err(fail(what, "decoded data is not valid ASCII"))
            }
        }
        _ => Err(fail(what, format!("unsupported encoding '{encoding}'"))),
    }
}

/// `b64encode(encoding='utf-8', urlsafe=False)`.
fn b64encode(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
    const W: &str = "b64encode";
    let slots = bind_args(W, args.into_values(), &["encoding", "urlsafe"], 0)?;
    let text = py_str(state, value)?;
    let encoding = opt_str_arg(W, "encoding", slots[0].as_ref())?.unwrap_or_else(|| "utf-8".into());
    let bytes = encode_text(W, &text, &encoding)?;
    Ok(if flag_arg(W, "urlsafe", slots[1].as_ref())? {
        base64::engine::general_purpose::URL_SAFE.encode(bytes)
    } else {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    })
}

/// `b64decode(encoding='utf-8', urlsafe=False)`; like Python, characters
/// outside the alphabet (whitespace) are skipped, the padding is checked.
fn b64decode(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
    const W: &str = "b64decode";
    let slots = bind_args(W, args.into_values(), &["encoding", "urlsafe"], 0)?;
    let text = py_str(state, value)?;
    let encoding = opt_str_arg(W, "encoding", slots[0].as_ref())?.unwrap_or_else(|| "utf-8".into());
    let urlsafe = flag_arg(W, "urlsafe", slots[1].as_ref())?;
    let mut data = String::with_capacity(text.len());
    let mut pads = 0;
    for c in text.chars() {
        let c = match c {
            '-' if urlsafe => '+',
            '_' if urlsafe => '/',
            c => c,
        };
        if c == '=' {
            pads += 1;
        } else if c.is_ascii_alphanumeric() || c == '+' || c == '/' {
            if pads > 0 {
                // data after padding: Python stops at a complete quantum
                break;
            }
            data.push(c);
        }
    }
    match data.len() % 4 {
        1 => {
            return Err(fail(
                W,
                format!(
                    "invalid base64 input {}: 1 more character than a multiple of 4",
                    repr(value)
                ),
            ));
        }
        2 | 3 if pads < 4 - data.len() % 4 => {
            return Err(fail(
                W,
                format!("invalid base64 input {}: incorrect padding", repr(value)),
            ));
        }
        _ => {}
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
    );
    let bytes = engine
        .decode(data.as_bytes())
        .map_err(|e| fail(W, format!("invalid base64 input {}: {e}", repr(value))))?;
    decode_bytes(W, bytes, &encoding)
}

fn hash_hex(what: &str, algo: &str, data: &[u8]) -> Res<String> {
    let digest = match algo.to_ascii_lowercase().as_str() {
        "md5" => digest::md5(data).to_vec(),
        "sha1" => digest::sha1(data).to_vec(),
        "sha256" => digest::sha256(data).to_vec(),
        _ => {
            return Err(fail(
                what,
                format!("unsupported hash type '{algo}' (supported: md5, sha1, sha256)"),
            ));
        }
    };
    Ok(digest
        .iter()
        .fold(String::with_capacity(digest.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        }))
}

/// `hash(hashtype='sha1')`: the hex digest of the UTF-8 text.
fn hash_filter(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
    let slots = bind_args("hash", args.into_values(), &["hashtype"], 0)?;
    let text = py_str(state, value)?;
    let algo = opt_str_arg("hash", "hashtype", slots[0].as_ref())?.unwrap_or_else(|| "sha1".into());
    hash_hex("hash", &algo, text.as_bytes())
}

fn md5_filter(state: &State, value: &Value) -> Res<String> {
    hash_hex("md5", "md5", py_str(state, value)?.as_bytes())
}

fn sha1_filter(state: &State, value: &Value) -> Res<String> {
    hash_hex("sha1", "sha1", py_str(state, value)?.as_bytes())
}

/// `split(sep=None, maxsplit=-1)`: Python's `str.split`.
fn split(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    const W: &str = "split";
    let slots = bind_args(W, args.into_values(), &["sep", "maxsplit"], 0)?;
    check_defined(state, value)?;
    let Some(text) = value.as_str() else {
        return Err(fail(
            W,
            format!(
                "expected a string, got {} {}",
                kind_name(value),
                repr(value)
            ),
        ));
    };
    let sep = opt_str_arg(W, "sep", slots[0].as_ref())?;
    let maxsplit = int_arg(W, "maxsplit", slots[1].as_ref())?.unwrap_or(-1);
    let maxsplit = usize::try_from(maxsplit).ok();
    let parts: Vec<Value> = match sep {
        Some(sep) if sep.is_empty() => return Err(fail(W, "empty separator")),
        Some(sep) => match maxsplit {
            Some(n) => text.splitn(n + 1, sep.as_str()).map(Value::from).collect(),
            None => text.split(sep.as_str()).map(Value::from).collect(),
        },
        None => {
            let mut parts = Vec::new();
            let mut rest = text.trim_start_matches(py_is_space);
            while !rest.is_empty() {
                if maxsplit.is_some_and(|n| parts.len() >= n) {
                    parts.push(Value::from(rest));
                    break;
                }
                let end = rest.find(py_is_space).unwrap_or(rest.len());
                parts.push(Value::from(&rest[..end]));
                rest = rest[end..].trim_start_matches(py_is_space);
            }
            parts
        }
    };
    Ok(Value::from(parts))
}

/// `splitlines(keepends=False)`: Python's `str.splitlines` (not an Ansible
/// filter, but the method templates call on strings).
fn splitlines(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    let slots = bind_args("splitlines", args.into_values(), &["keepends"], 0)?;
    check_defined(state, value)?;
    let Some(text) = value.as_str() else {
        return Err(fail(
            "splitlines",
            format!(
                "expected a string, got {} {}",
                kind_name(value),
                repr(value)
            ),
        ));
    };
    let keepends = flag_arg("splitlines", "keepends", slots[0].as_ref())?;
    let is_break = |c: char| {
        matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        )
    };
    let mut lines = Vec::new();
    let mut start = 0;
    let mut iter = text.char_indices().peekable();
    while let Some((idx, c)) = iter.next() {
        if !is_break(c) {
            continue;
        }
        let mut end = idx + c.len_utf8();
        if c == '\r' && iter.peek().is_some_and(|(_, n)| *n == '\n') {
            iter.next();
            end += 1;
        }
        lines.push(Value::from(if keepends {
            &text[start..end]
        } else {
            &text[start..idx]
        }));
        start = end;
    }
    if start < text.len() {
        lines.push(Value::from(&text[start..]));
    }
    Ok(Value::from(lines))
}

/// `basename`: Python's `os.path.basename`.
fn basename(state: &State, value: &Value) -> Res<String> {
    let path = py_str(state, value)?;
    Ok(path.rsplit('/').next().unwrap_or_default().to_string())
}

/// `dirname`: Python's `os.path.dirname`.
fn dirname(state: &State, value: &Value) -> Res<String> {
    let path = py_str(state, value)?;
    let head = match path.rfind('/') {
        Some(idx) => &path[..=idx],
        None => "",
    };
    if !head.is_empty() && !head.chars().all(|c| c == '/') {
        Ok(head.trim_end_matches('/').to_string())
    } else {
        Ok(head.to_string())
    }
}

/// Jinja2's `url_quote`: percent-encoding of the UTF-8 text.
fn url_quote(text: &str, for_qs: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(b))
            }
            b'/' if !for_qs => out.push('/'),
            b' ' if for_qs => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Jinja2's `urlencode`: a string is quoted as a path, a mapping or a list of
/// pairs as a query string.
fn urlencode(state: &State, value: &Value) -> Res<String> {
    check_defined(state, value)?;
    let pair_str = |v: &Value| -> Res<String> { py_str(state, v) };
    match value.kind() {
        ValueKind::Map => {
            let mut parts = Vec::new();
            for (k, v) in map_pairs(value)? {
                parts.push(format!(
                    "{}={}",
                    url_quote(&pair_str(&k)?, true),
                    url_quote(&pair_str(&v)?, true)
                ));
            }
            Ok(parts.join("&"))
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let mut parts = Vec::new();
            for item in value.try_iter()? {
                let pair: Vec<Value> = if is_list_like(&item) {
                    item.try_iter()?.collect()
                } else {
                    Vec::new()
                };
                let [k, v] = pair.as_slice() else {
                    return Err(fail(
                        "urlencode",
                        format!("list items must be (key, value) pairs, got {}", repr(&item)),
                    ));
                };
                parts.push(format!(
                    "{}={}",
                    url_quote(&pair_str(k)?, true),
                    url_quote(&pair_str(v)?, true)
                ));
            }
            Ok(parts.join("&"))
        }
        _ => Ok(url_quote(&py_str(state, value)?, false)),
    }
}

// ---------------------------------------------------------------------------
// data structures

/// `dict2items(key_name='key', value_name='value')`.
fn dict2items(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    const W: &str = "dict2items";
    let slots = bind_args(W, args.into_values(), &["key_name", "value_name"], 0)?;
    check_defined(state, value)?;
    if value.kind() != ValueKind::Map {
        return Err(fail(
            W,
            format!(
                "requires a dictionary, got {} {}",
                kind_name(value),
                repr(value)
            ),
        ));
    }
    let key_name = opt_str_arg(W, "key_name", slots[0].as_ref())?.unwrap_or_else(|| "key".into());
    let value_name =
        opt_str_arg(W, "value_name", slots[1].as_ref())?.unwrap_or_else(|| "value".into());
    let items: Vec<Value> = map_pairs(value)?
        .into_iter()
        .map(|(k, v)| Value::from_pairs([(key_name.as_str(), k), (value_name.as_str(), v)]))
        .collect();
    Ok(Value::from(items))
}

/// `items2dict(key_name='key', value_name='value')`.
fn items2dict(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    const W: &str = "items2dict";
    let slots = bind_args(W, args.into_values(), &["key_name", "value_name"], 0)?;
    check_defined(state, value)?;
    if !is_list_like(value) {
        return Err(fail(
            W,
            format!("requires a list, got {} {}", kind_name(value), repr(value)),
        ));
    }
    let key_name =
        Value::from(opt_str_arg(W, "key_name", slots[0].as_ref())?.unwrap_or_else(|| "key".into()));
    let value_name = Value::from(
        opt_str_arg(W, "value_name", slots[1].as_ref())?.unwrap_or_else(|| "value".into()),
    );
    let mut pairs = Vec::new();
    for item in value.try_iter()? {
        if item.kind() != ValueKind::Map {
            return Err(fail(
                W,
                format!("requires a list of dictionaries, got item {}", repr(&item)),
            ));
        }
        let k = item.get_item(&key_name)?;
        let v = item.get_item(&value_name)?;
        if k.is_undefined() || v.is_undefined() {
            return Err(fail(
                W,
                format!(
                    "each dictionary must contain the keys {key_name:?} and {value_name:?}, got {}",
                    repr(&item)
                ),
            ));
        }
        pairs.push((k, v));
    }
    Ok(Value::from_pairs(pairs))
}

/// Ansible's `merge_hash(x, y, recursive, list_merge)`.
fn merge_hash(x: &Value, y: &Value, recursive: bool, list_merge: &str) -> Res<Value> {
    let x_pairs = map_pairs(x)?;
    let y_pairs = map_pairs(y)?;
    if x_pairs.is_empty() || x == y {
        return Ok(Value::from_pairs(y_pairs));
    }
    if y_pairs.is_empty() {
        return Ok(x.clone());
    }
    let mut result: Vec<(Value, Value)> = x_pairs;
    for (key, y_value) in y_pairs {
        let Some(slot) = result.iter_mut().find(|(k, _)| *k == key) else {
            result.push((key, y_value));
            continue;
        };
        let x_value = &slot.1;
        if x_value.kind() == ValueKind::Map && y_value.kind() == ValueKind::Map {
            slot.1 = if recursive {
                merge_hash(x_value, &y_value, recursive, list_merge)?
            } else {
                y_value
            };
            continue;
        }
        if is_list_like(x_value) && is_list_like(&y_value) {
            let xs: Vec<Value> = x_value.try_iter()?.collect();
            let ys: Vec<Value> = y_value.try_iter()?.collect();
            let merged: Vec<Value> = match list_merge {
                "replace" => ys,
                "keep" => xs,
                "append" => xs.into_iter().chain(ys).collect(),
                "prepend" => ys.into_iter().chain(xs).collect(),
                "append_rp" => xs
                    .iter()
                    .filter(|z| !ys.contains(z))
                    .cloned()
                    .chain(ys.iter().cloned())
                    .collect(),
                "prepend_rp" => ys
                    .iter()
                    .cloned()
                    .chain(xs.iter().filter(|z| !ys.contains(z)).cloned())
                    .collect(),
                _ => ys,
            };
            slot.1 = Value::from(merged);
            continue;
        }
        slot.1 = y_value;
    }
    Ok(Value::from_pairs(result))
}

/// `combine(*dicts, recursive=False, list_merge='replace')`.
fn combine(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    const W: &str = "combine";
    let (pos, kwargs) = split_kwargs(args.into_values())?;
    let mut recursive = false;
    let mut list_merge = "replace".to_string();
    if let Some(kwargs) = kwargs {
        let keys: Vec<String> = kwargs.args().map(str::to_string).collect();
        for key in keys {
            let v: Value = kwargs.get(&key)?;
            match key.as_str() {
                "recursive" => recursive = v.is_true(),
                "list_merge" => list_merge = str_arg(W, "list_merge", Some(&v))?,
                _ => {
                    return Err(fail(
                        W,
                        format!(
                            "unexpected keyword argument '{key}': 'recursive' and 'list_merge' are the only valid ones"
                        ),
                    ));
                }
            }
        }
    }
    if ![
        "replace",
        "keep",
        "append",
        "prepend",
        "append_rp",
        "prepend_rp",
    ]
    .contains(&list_merge.as_str())
    {
        return Err(fail(
            W,
            format!(
                "list_merge must be 'replace', 'keep', 'append', 'prepend', 'append_rp' or 'prepend_rp', got '{list_merge}'"
            ),
        ));
    }
    // the terms are flattened one level and nulls are skipped
    let mut dicts = Vec::new();
    for term in std::iter::once(value).chain(pos.iter()) {
        check_defined(state, term)?;
        let items: Vec<Value> = if is_list_like(term) {
            term.try_iter()?.collect()
        } else {
            vec![term.clone()]
        };
        for item in items {
            if item.is_none() || item.as_str().is_some_and(|s| s == "None" || s == "null") {
                continue;
            }
            if item.kind() != ValueKind::Map {
                return Err(fail(
                    W,
                    format!("expected dicts, got {} {}", kind_name(&item), repr(&item)),
                ));
            }
            dicts.push(item);
        }
    }
    let Some(mut result) = dicts.pop() else {
        return Ok(Value::from_pairs(Vec::<(Value, Value)>::new()));
    };
    while let Some(lower) = dicts.pop() {
        result = merge_hash(&lower, &result, recursive, &list_merge)?;
    }
    Ok(result)
}

fn flatten_into(
    items: Vec<Value>,
    levels: Option<i64>,
    skip_nulls: bool,
    out: &mut Vec<Value>,
) -> Res<()> {
    for item in items {
        if skip_nulls
            && (item.is_none() || item.as_str().is_some_and(|s| s == "None" || s == "null"))
        {
            continue;
        }
        if is_list_like(&item) && levels.is_none_or(|l| l >= 1) {
            let inner: Vec<Value> = item.try_iter()?.collect();
            flatten_into(inner, levels.map(|l| l - 1), skip_nulls, out)?;
        } else {
            out.push(item);
        }
    }
    Ok(())
}

/// `flatten(levels=None, skip_nulls=True)`.
fn flatten(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    let slots = bind_args("flatten", args.into_values(), &["levels", "skip_nulls"], 0)?;
    let items = items_of(state, "flatten", value)?;
    let levels = int_arg("flatten", "levels", slots[0].as_ref())?;
    let skip_nulls = slots[1].as_ref().is_none_or(Value::is_true);
    let mut out = Vec::new();
    flatten_into(items, levels, skip_nulls, &mut out)?;
    Ok(Value::from(out))
}

/// `dict`: Python's `dict()` of a mapping or of a list of pairs.
fn dict_filter(state: &State, value: &Value) -> Res<Value> {
    check_defined(state, value)?;
    if value.kind() == ValueKind::Map {
        return Ok(Value::from_pairs(map_pairs(value)?));
    }
    let mut pairs = Vec::new();
    for item in items_of(state, "dict", value)? {
        let pair: Vec<Value> = if is_list_like(&item) || item.kind() == ValueKind::String {
            item.try_iter()?.collect()
        } else {
            Vec::new()
        };
        let [k, v] = pair.as_slice() else {
            return Err(fail(
                "dict",
                format!("items must be (key, value) pairs, got {}", repr(&item)),
            ));
        };
        pairs.push((k.clone(), v.clone()));
    }
    Ok(Value::from_pairs(pairs))
}

/// Jinja2's `map`: `map('filter', *args, **kwargs)` applies any registered
/// filter (keyword arguments are passed on), `map(attribute='a.b',
/// default=...)` looks up an attribute.
fn map_filter(state: &mut State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    const W: &str = "map";
    let (pos, kwargs) = split_kwargs(args.into_values())?;
    let items = items_of(state, W, value)?;
    if let Some(kwargs) = kwargs.as_ref().filter(|k| k.has("attribute")) {
        if !pos.is_empty() {
            return Err(fail(
                W,
                "either a filter name or attribute= can be given, not both",
            ));
        }
        let attribute: Value = kwargs.get("attribute")?;
        let default: Option<Value> = if kwargs.has("default") {
            Some(kwargs.get("default")?)
        } else {
            None
        };
        kwargs
            .assert_all_used()
            .map_err(|e| fail(W, e.detail().unwrap_or("unexpected keyword argument")))?;
        let mut rv = Vec::with_capacity(items.len());
        for item in items {
            let v = get_attr_path(&item, &attribute);
            rv.push(match (v.is_undefined(), &default) {
                (false, _) => v,
                (true, Some(d)) => d.clone(),
                (true, None) if is_strict(state) => {
                    return Err(fail(
                        W,
                        format!("{} has no attribute {}", repr(&item), repr(&attribute)),
                    ));
                }
                (true, None) => v,
            });
        }
        return Ok(Value::from(rv));
    }
    let Some(name) = pos.first() else {
        return Err(fail(W, "a filter name or attribute= is required"));
    };
    let Some(name) = name.as_str().map(str::to_string) else {
        return Err(fail(
            W,
            format!("the filter name must be a string, got {}", repr(name)),
        ));
    };
    let mut call_args: Vec<Value> = Vec::with_capacity(pos.len() + 1);
    call_args.push(Value::UNDEFINED);
    call_args.extend(pos.iter().skip(1).cloned());
    if let Some(kwargs) = kwargs {
        call_args.push(Value::from(kwargs));
    }
    let mut rv = Vec::with_capacity(items.len());
    for item in items {
        call_args[0] = item;
        rv.push(state.apply_filter(&name, &call_args).map_err(|e| {
            if e.kind() == ErrorKind::UnknownFilter {
                fail(W, format!("unknown filter '{name}'"))
            } else {
                e
            }
        })?);
    }
    Ok(Value::from(rv))
}

/// Jinja2's `sort(reverse=False, case_sensitive=False, attribute=None)`,
/// with positional arguments too.
fn sort_filter(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    const W: &str = "sort";
    let slots = bind_args(
        W,
        args.into_values(),
        &["reverse", "case_sensitive", "attribute"],
        0,
    )?;
    let reverse = flag_arg(W, "reverse", slots[0].as_ref())?;
    let case_sensitive = flag_arg(W, "case_sensitive", slots[1].as_ref())?;
    let attribute = opt_str_arg(W, "attribute", slots[2].as_ref())?;
    let items = items_of(state, W, value)?;
    let fold = |v: Value| -> Value {
        match v.as_str() {
            Some(s) if !case_sensitive => Value::from(s.to_lowercase()),
            _ => v,
        }
    };
    let mut keyed: Vec<(Value, Value)> = items
        .into_iter()
        .map(|item| {
            let key = match &attribute {
                None => fold(item.clone()),
                Some(attr) => {
                    let parts: Vec<Value> = attr
                        .split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(|p| fold(get_attr_path(&item, &Value::from(p))))
                        .collect();
                    if parts.len() == 1 {
                        parts.into_iter().next().unwrap_or_default()
                    } else {
                        Value::from(parts)
                    }
                }
            };
            (key, item)
        })
        .collect();
    if reverse {
        keyed.sort_by(|a, b| b.0.cmp(&a.0));
    } else {
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
    }
    Ok(Value::from(
        keyed.into_iter().map(|(_, item)| item).collect::<Vec<_>>(),
    ))
}

// ---------------------------------------------------------------------------
// tests

/// Jinja2's `sequence`: anything with a length and items (strings and
/// mappings too).
fn is_sequence(state: &State, value: &Value) -> Res<bool> {
    check_defined(state, value)?;
    Ok(matches!(
        value.kind(),
        ValueKind::Seq | ValueKind::Map | ValueKind::String | ValueKind::Bytes
    ) || (value.kind() == ValueKind::Iterable && value.len().is_some()))
}

/// Jinja2's `iterable`: strings and mappings are iterable, none is not.
fn is_iterable(state: &State, value: &Value) -> Res<bool> {
    check_defined(state, value)?;
    Ok(matches!(
        value.kind(),
        ValueKind::Seq
            | ValueKind::Map
            | ValueKind::String
            | ValueKind::Bytes
            | ValueKind::Iterable
    ))
}

fn result_dict<'a>(what: &str, state: &State, value: &'a Value) -> Res<&'a Value> {
    check_defined(state, value)?;
    if value.kind() == ValueKind::Map {
        Ok(value)
    } else {
        Err(fail(
            what,
            format!(
                "the '{what}' test expects a dictionary, got {} {}",
                kind_name(value),
                repr(value)
            ),
        ))
    }
}

fn result_flag(result: &Value, key: &str) -> bool {
    result
        .get_item(&Value::from(key))
        .is_ok_and(|v| v.is_true())
}

/// `failed`: the registered result has a true `failed` key.
fn is_failed(state: &State, value: &Value) -> Res<bool> {
    Ok(result_flag(result_dict("failed", state, value)?, "failed"))
}

fn is_succeeded(state: &State, value: &Value) -> Res<bool> {
    Ok(!result_flag(
        result_dict("succeeded", state, value)?,
        "failed",
    ))
}

/// `changed`: the `changed` key, or any changed item of a loop's `results`.
fn is_changed(state: &State, value: &Value) -> Res<bool> {
    let result = result_dict("changed", state, value)?;
    let changed = result.get_item(&Value::from("changed")).unwrap_or_default();
    if !changed.is_undefined() {
        return Ok(changed.is_true());
    }
    let results = result.get_item(&Value::from("results")).unwrap_or_default();
    if is_list_like(&results) {
        for item in results.try_iter()? {
            if item.kind() == ValueKind::Map && result_flag(&item, "changed") {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn is_skipped(state: &State, value: &Value) -> Res<bool> {
    Ok(result_flag(
        result_dict("skipped", state, value)?,
        "skipped",
    ))
}

fn is_unreachable(state: &State, value: &Value) -> Res<bool> {
    Ok(result_flag(
        result_dict("unreachable", state, value)?,
        "unreachable",
    ))
}

fn is_reachable(state: &State, value: &Value) -> Res<bool> {
    Ok(!result_flag(
        result_dict("reachable", state, value)?,
        "unreachable",
    ))
}

fn truthy_impl(what: &str, state: &State, value: &Value, args: Vec<Value>) -> Res<bool> {
    let slots = bind_args(what, args, &["convert_bool"], 0)?;
    check_defined(state, value)?;
    if flag_arg(what, "convert_bool", slots[0].as_ref())? {
        // Ansible's boolean(): known strings and numbers, else plain truth
        let known = match value.kind() {
            ValueKind::Bool => Some(value.is_true()),
            ValueKind::String | ValueKind::Number => {
                let s = match value.as_str() {
                    Some(s) => s.trim().to_lowercase(),
                    None => value.to_string(),
                };
                match s.as_str() {
                    "y" | "yes" | "on" | "1" | "true" | "t" | "1.0" => Some(true),
                    "n" | "no" | "off" | "0" | "false" | "f" | "0.0" => Some(false),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(b) = known {
            return Ok(b);
        }
    }
    Ok(value.is_true())
}

fn is_truthy(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<bool> {
    truthy_impl("truthy", state, value, args.into_values())
}

fn is_falsy(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<bool> {
    truthy_impl("falsy", state, value, args.into_values()).map(|b| !b)
}

/// Python's `needle in haystack`.
fn py_contains(what: &str, haystack: &Value, needle: &Value) -> Res<bool> {
    match haystack.kind() {
        ValueKind::String => match needle.as_str() {
            Some(n) => Ok(haystack.as_str().unwrap_or_default().contains(n)),
            None => Err(fail(
                what,
                format!("'in <string>' requires a string, got {}", kind_name(needle)),
            )),
        },
        ValueKind::Map => Ok(!haystack.get_item(needle).unwrap_or_default().is_undefined()),
        ValueKind::Seq | ValueKind::Iterable => Ok(haystack.try_iter()?.any(|v| v == *needle)),
        _ => Err(fail(
            what,
            format!(
                "{} {} is not a container",
                kind_name(haystack),
                repr(haystack)
            ),
        )),
    }
}

/// `contains(value)`: the tested container holds the value.
fn is_contains(state: &State, value: &Value, needle: &Value) -> Res<bool> {
    check_defined(state, value)?;
    py_contains("contains", value, needle)
}

fn set_items(what: &str, state: &State, value: &Value) -> Res<Vec<Value>> {
    items_of(state, what, value)
}

fn is_subset(state: &State, value: &Value, other: &Value) -> Res<bool> {
    let a = set_items("subset", state, value)?;
    let b = set_items("subset", state, other)?;
    Ok(a.iter().all(|x| b.contains(x)))
}

fn is_superset(state: &State, value: &Value, other: &Value) -> Res<bool> {
    let a = set_items("superset", state, value)?;
    let b = set_items("superset", state, other)?;
    Ok(b.iter().all(|x| a.contains(x)))
}

/// `abs`: the path is absolute (`os.path.isabs`).
fn is_abs(state: &State, value: &Value) -> Res<bool> {
    Ok(py_str(state, value)?.starts_with('/'))
}

fn is_any(state: &State, value: &Value) -> Res<bool> {
    Ok(items_of(state, "any", value)?.iter().any(Value::is_true))
}

fn is_all(state: &State, value: &Value) -> Res<bool> {
    Ok(items_of(state, "all", value)?.iter().all(Value::is_true))
}

fn is_nan(value: &Value) -> bool {
    value.kind() == ValueKind::Number
        && !value.is_integer()
        && f64::try_from(value.clone()).is_ok_and(f64::is_nan)
}

// ---------------------------------------------------------------------------
// version comparison

/// A component of Python's `LooseVersion`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Loose {
    Num(String),
    Str(String),
}

/// `LooseVersion`: runs of digits, runs of lowercase letters and any other
/// text between them; dots separate and are dropped.
fn loose_parse(version: &str) -> Vec<Loose> {
    let mut parts = Vec::new();
    let mut other = String::new();
    let mut chars = version.chars().peekable();
    let flush = |other: &mut String, parts: &mut Vec<Loose>| {
        if !other.is_empty() {
            parts.push(Loose::Str(std::mem::take(other)));
        }
    };
    while let Some(&c) = chars.peek() {
        if c.is_ascii_digit() {
            flush(&mut other, &mut parts);
            let mut run = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                run.push(d);
                chars.next();
            }
            let trimmed = run.trim_start_matches('0');
            parts.push(Loose::Num(if trimmed.is_empty() {
                "0".into()
            } else {
                trimmed.into()
            }));
        } else if c.is_ascii_lowercase() {
            flush(&mut other, &mut parts);
            let mut run = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_lowercase()) {
                run.push(d);
                chars.next();
            }
            parts.push(Loose::Str(run));
        } else if c == '.' {
            flush(&mut other, &mut parts);
            chars.next();
        } else {
            other.push(c);
            chars.next();
        }
    }
    flush(&mut other, &mut parts);
    parts
}

fn loose_cmp(a: &str, b: &str) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering;
    let (pa, pb) = (loose_parse(a), loose_parse(b));
    if pa == pb {
        return Ok(Ordering::Equal);
    }
    for (x, y) in pa.iter().zip(pb.iter()) {
        let ord = match (x, y) {
            (Loose::Num(x), Loose::Num(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
            (Loose::Str(x), Loose::Str(y)) => x.cmp(y),
            (Loose::Num(n), Loose::Str(s)) | (Loose::Str(s), Loose::Num(n)) => {
                return Err(format!(
                    "cannot compare '{a}' with '{b}': loose version part '{s}' is not comparable with {n}"
                ));
            }
        };
        if ord != Ordering::Equal {
            return Ok(ord);
        }
    }
    Ok(pa.len().cmp(&pb.len()))
}

/// `StrictVersion`: `N.N[.N][{a|b}N]`.
/// The release numbers and the optional pre-release of a `StrictVersion`.
type StrictKey = (Vec<u64>, Option<(char, u64)>);

fn strict_key(version: &str) -> Result<StrictKey, String> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = RE
        .get_or_init(|| Regex::new(r"^(\d+)\.(\d+)(\.(\d+))?([ab](\d+))?$").ok())
        .as_ref()
        .ok_or("internal error")?;
    let invalid = || format!("invalid version number '{version}'");
    let caps = re.captures(version).ok_or_else(invalid)?;
    let num = |i: usize| -> Result<u64, String> {
        caps.get(i)
            .map_or(Ok(0), |m| m.as_str().parse::<u64>().map_err(|_| invalid()))
    };
    let pre = match caps.get(5) {
        Some(m) => Some((m.as_str().chars().next().unwrap_or('a'), num(6)?)),
        None => None,
    };
    Ok((vec![num(1)?, num(2)?, num(4)?], pre))
}

fn strict_cmp(a: &str, b: &str) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering;
    let (ka, kb) = (strict_key(a)?, strict_key(b)?);
    Ok(ka.0.cmp(&kb.0).then_with(|| match (ka.1, kb.1) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.cmp(&y),
    }))
}

/// Semantic versioning 2.0 precedence (build metadata is ignored).
fn semver_cmp(a: &str, b: &str) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering;
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = RE
        .get_or_init(|| {
            Regex::new(
                r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$",
            )
            .ok()
        })
        .as_ref()
        .ok_or("internal error")?;
    let parse = |v: &str| -> Result<(Vec<u64>, Vec<String>), String> {
        let caps = re
            .captures(v)
            .ok_or_else(|| format!("invalid semantic version '{v}'"))?;
        let core = (1..=3)
            .map(|i| caps.get(i).map_or(Ok(0), |m| m.as_str().parse::<u64>()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| format!("invalid semantic version '{v}'"))?;
        let pre = caps
            .get(4)
            .map(|m| m.as_str().split('.').map(str::to_string).collect())
            .unwrap_or_default();
        Ok((core, pre))
    };
    let (ca, pa) = parse(a)?;
    let (cb, pb) = parse(b)?;
    Ok(ca
        .cmp(&cb)
        .then_with(|| match (pa.is_empty(), pb.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                for (x, y) in pa.iter().zip(pb.iter()) {
                    let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                        (Ok(x), Ok(y)) => x.cmp(&y),
                        (Ok(_), Err(_)) => Ordering::Less,
                        (Err(_), Ok(_)) => Ordering::Greater,
                        (Err(_), Err(_)) => x.cmp(y),
                    };
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
                pa.len().cmp(&pb.len())
            }
        }))
}

/// `version(version, operator='eq', strict=None, version_type=None)`.
fn is_version(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<bool> {
    use std::cmp::Ordering;
    const W: &str = "version";
    let slots = bind_args(
        W,
        args.into_values(),
        &["version", "operator", "strict", "version_type"],
        1,
    )?;
    let left = py_str(state, value)?;
    let right = match slots[0].as_ref() {
        Some(v) if !v.is_none() => py_str(state, v)?,
        _ => String::new(),
    };
    if left.is_empty() || value.is_none() {
        return Err(fail(W, "input version value cannot be empty"));
    }
    if right.is_empty() {
        return Err(fail(
            W,
            "version parameter to compare against cannot be empty",
        ));
    }
    let op = opt_str_arg(W, "operator", slots[1].as_ref())?.unwrap_or_else(|| "eq".into());
    let accept: &[Ordering] = match op.as_str() {
        "==" | "=" | "eq" => &[Ordering::Equal],
        "<" | "lt" => &[Ordering::Less],
        "<=" | "le" => &[Ordering::Less, Ordering::Equal],
        ">" | "gt" => &[Ordering::Greater],
        ">=" | "ge" => &[Ordering::Greater, Ordering::Equal],
        "!=" | "<>" | "ne" => &[Ordering::Less, Ordering::Greater],
        other => {
            return Err(fail(
                W,
                format!(
                    "invalid operator '{other}', must be one of ==, =, eq, <, lt, <=, le, >, gt, >=, ge, !=, <>, ne"
                ),
            ));
        }
    };
    let strict = slots[2].as_ref().is_some_and(|v| !v.is_none());
    let version_type = opt_str_arg(W, "version_type", slots[3].as_ref())?;
    if strict && version_type.is_some() {
        return Err(fail(W, "cannot specify both 'strict' and 'version_type'"));
    }
    let strict = slots[2].as_ref().is_some_and(Value::is_true);
    let kind = match (strict, version_type.as_deref()) {
        (true, _) => "strict",
        (false, None) => "loose",
        (false, Some(t)) => t,
    };
    let ord = match kind {
        "loose" => loose_cmp(&left, &right),
        "strict" => strict_cmp(&left, &right),
        "semver" | "semantic" => semver_cmp(&left, &right),
        "pep440" => return Err(fail(W, "version_type 'pep440' is not supported")),
        other => {
            return Err(fail(
                W,
                format!("invalid version type '{other}', must be one of 'loose', 'strict', 'semver', 'semantic'"),
            ));
        }
    }
    .map_err(|e| fail(W, e))?;
    Ok(accept.contains(&ord))
}

// ---------------------------------------------------------------------------
// YAML emitter

/// `yaml.dump` as Ansible calls it: PyYAML's representer (YAML 1.1 implicit
/// types, sorted keys, flow style for collections of scalars) and libyaml's
/// emitter (`CSafeDumper`) with `allow_unicode=True`.
mod yaml {
    use super::{kind_name, map_pairs, py_float_repr, py_sort_pairs};
    use minijinja::value::{Value, ValueKind};
    use regex::Regex;
    use std::sync::OnceLock;

    pub struct DumpOptions {
        pub indent: Option<i64>,
        pub width: Option<i64>,
        pub default_flow_style: Option<bool>,
        pub sort_keys: bool,
        pub explicit_start: bool,
        pub explicit_end: bool,
    }

    enum Node {
        /// text and whether it may be written plain (resolves to its type)
        Scalar(String, bool),
        Seq(Vec<Node>, bool),
        Map(Vec<(Node, Node)>, bool),
    }

    /// Whether a plain scalar `s` would be read back as a non-string by the
    /// YAML 1.1 resolver of PyYAML.
    fn resolves_to_non_str(s: &str) -> bool {
        static RES: OnceLock<Vec<Regex>> = OnceLock::new();
        let res = RES.get_or_init(|| {
            [
                r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)\n?\z",
                r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\n?\z",
                r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)\n?\z",
                r"^(?:<<)\n?\z",
                r"^(?:~|null|Null|NULL|)\n?\z",
                r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)\n?\z",
                r"^(?:=)\n?\z",
                r"^(?:!|&|\*)\n?\z",
            ]
            .iter()
            .filter_map(|p| Regex::new(p).ok())
            .collect()
        });
        if s.is_empty() {
            return true;
        }
        res.iter().any(|re| re.is_match(s))
    }

    fn yaml_float(f: f64) -> String {
        if f.is_nan() {
            return ".nan".into();
        }
        if f.is_infinite() {
            return if f > 0.0 {
                ".inf".into()
            } else {
                "-.inf".into()
            };
        }
        let r = py_float_repr(f).to_lowercase();
        if !r.contains('.') && r.contains('e') {
            r.replacen('e', ".0e", 1)
        } else {
            r
        }
    }

    fn represent(value: &Value, opts: &DumpOptions) -> Result<Node, String> {
        Ok(match value.kind() {
            ValueKind::Undefined => return Err("value is undefined".into()),
            ValueKind::None => Node::Scalar("null".into(), true),
            ValueKind::Bool => Node::Scalar(
                (if value.is_true() { "true" } else { "false" }).into(),
                true,
            ),
            ValueKind::Number if value.is_integer() => Node::Scalar(value.to_string(), true),
            ValueKind::Number => Node::Scalar(
                yaml_float(f64::try_from(value.clone()).unwrap_or(f64::NAN)),
                true,
            ),
            ValueKind::String | ValueKind::Bytes => {
                let s = value.to_string();
                let plain = !resolves_to_non_str(&s);
                Node::Scalar(s, plain)
            }
            ValueKind::Seq | ValueKind::Iterable => {
                let items = value
                    .try_iter()
                    .map_err(|e| e.to_string())?
                    .map(|v| represent(&v, opts))
                    .collect::<Result<Vec<_>, _>>()?;
                let flow = opts
                    .default_flow_style
                    .unwrap_or_else(|| items.iter().all(|n| matches!(n, Node::Scalar(..))));
                Node::Seq(items, flow)
            }
            ValueKind::Map => {
                let mut pairs = map_pairs(value).map_err(|e| e.to_string())?;
                if opts.sort_keys {
                    // like PyYAML, keys that cannot be ordered stay unsorted
                    let _ = py_sort_pairs(&mut pairs);
                }
                let pairs = pairs
                    .iter()
                    .map(|(k, v)| Ok((represent(k, opts)?, represent(v, opts)?)))
                    .collect::<Result<Vec<_>, String>>()?;
                let flow = opts.default_flow_style.unwrap_or_else(|| {
                    pairs.iter().all(|(k, v)| {
                        matches!(k, Node::Scalar(..)) && matches!(v, Node::Scalar(..))
                    })
                });
                Node::Map(pairs, flow)
            }
            _ => {
                return Err(format!(
                    "cannot represent an object of type {}",
                    kind_name(value)
                ));
            }
        })
    }

    struct Analysis {
        multiline: bool,
        flow_plain: bool,
        block_plain: bool,
        single_quoted: bool,
    }

    fn is_printable(c: char) -> bool {
        let c = c as u32;
        c == 0x0a
            || (0x20..=0x7e).contains(&c)
            || (0xa0..=0xd7ff).contains(&c)
            || ((0xe000..=0xfffd).contains(&c) && c != 0xfeff)
    }

    fn is_break(c: char) -> bool {
        matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
    }

    fn is_blankz(c: Option<char>) -> bool {
        match c {
            None | Some('\0') | Some(' ') | Some('\t') => true,
            Some(c) => is_break(c),
        }
    }

    /// libyaml's `yaml_emitter_analyze_scalar`.
    fn analyze(s: &str) -> Analysis {
        if s.is_empty() {
            return Analysis {
                multiline: false,
                flow_plain: false,
                block_plain: true,
                single_quoted: true,
            };
        }
        let chars: Vec<char> = s.chars().collect();
        let (mut block_ind, mut flow_ind, mut line_breaks, mut special) =
            (false, false, false, false);
        let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
            (false, false, false, false);
        let (mut break_space, mut space_break, mut prev_space, mut prev_break) =
            (false, false, false, false);
        if s.starts_with("---") || s.starts_with("...") {
            block_ind = true;
            flow_ind = true;
        }
        let mut preceded_by_ws = true;
        let mut followed_by_ws = is_blankz(chars.get(1).copied());
        let last = chars.len() - 1;
        for (i, &c) in chars.iter().enumerate() {
            if i == 0 {
                if "#,[]{}&*!|>'\"%@`".contains(c) {
                    flow_ind = true;
                    block_ind = true;
                }
                if c == '?' || c == ':' {
                    flow_ind = true;
                    if followed_by_ws {
                        block_ind = true;
                    }
                }
                if c == '-' && followed_by_ws {
                    flow_ind = true;
                    block_ind = true;
                }
            } else {
                if ",?[]{}".contains(c) {
                    flow_ind = true;
                }
                if c == ':' {
                    flow_ind = true;
                    if followed_by_ws {
                        block_ind = true;
                    }
                }
                if c == '#' && preceded_by_ws {
                    flow_ind = true;
                    block_ind = true;
                }
            }
            if !is_printable(c) {
                special = true;
            }
            if is_break(c) {
                line_breaks = true;
            }
            if c == ' ' {
                if i == 0 {
                    leading_space = true;
                }
                if i == last {
                    trailing_space = true;
                }
                if prev_break {
                    break_space = true;
                }
                prev_space = true;
                prev_break = false;
            } else if is_break(c) {
                if i == 0 {
                    leading_break = true;
                }
                if i == last {
                    trailing_break = true;
                }
                if prev_space {
                    space_break = true;
                }
                prev_space = false;
                prev_break = true;
            } else {
                prev_space = false;
                prev_break = false;
            }
            preceded_by_ws = is_blankz(Some(c));
            if i < last {
                followed_by_ws = is_blankz(chars.get(i + 2).copied());
            }
        }
        let mut a = Analysis {
            multiline: line_breaks,
            flow_plain: true,
            block_plain: true,
            single_quoted: true,
        };
        if leading_space || leading_break || trailing_space || trailing_break {
            a.flow_plain = false;
            a.block_plain = false;
        }
        if break_space {
            a.flow_plain = false;
            a.block_plain = false;
            a.single_quoted = false;
        }
        if space_break || special {
            a.flow_plain = false;
            a.block_plain = false;
            a.single_quoted = false;
        }
        if line_breaks {
            a.flow_plain = false;
            a.block_plain = false;
        }
        if flow_ind {
            a.flow_plain = false;
        }
        if block_ind {
            a.block_plain = false;
        }
        a
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Style {
        Plain,
        Single,
        Double,
    }

    struct Emitter {
        out: String,
        indents: Vec<i64>,
        indent: i64,
        flow_level: usize,
        mapping_context: bool,
        simple_key_context: bool,
        column: i64,
        whitespace: bool,
        indention: bool,
        best_indent: i64,
        best_width: i64,
    }

    impl Emitter {
        fn put(&mut self, c: char) {
            self.out.push(c);
            self.column += 1;
        }

        fn put_break(&mut self) {
            self.out.push('\n');
            self.column = 0;
        }

        fn write_break(&mut self, c: char) {
            if c == '\n' {
                self.put_break();
            } else {
                self.out.push(c);
                self.column = 0;
            }
        }

        fn write_indicator(&mut self, ind: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
            if need_ws && !self.whitespace {
                self.put(' ');
            }
            for c in ind.chars() {
                self.put(c);
            }
            self.whitespace = is_ws;
            self.indention = self.indention && is_indention;
        }

        fn write_indent(&mut self) {
            let indent = self.indent.max(0);
            if !self.indention
                || self.column > indent
                || (self.column == indent && !self.whitespace)
            {
                self.put_break();
            }
            while self.column < indent {
                self.put(' ');
            }
            self.whitespace = true;
            self.indention = true;
        }

        fn increase_indent(&mut self, flow: bool, indentless: bool) {
            self.indents.push(self.indent);
            if self.indent < 0 {
                self.indent = if flow { self.best_indent } else { 0 };
            } else if !indentless {
                self.indent += self.best_indent;
            }
        }

        fn pop_indent(&mut self) {
            self.indent = self.indents.pop().unwrap_or(-1);
        }

        fn check_simple_key(node: &Node) -> bool {
            match node {
                Node::Scalar(s, _) => !analyze(s).multiline && s.len() <= 128,
                Node::Seq(items, _) => items.is_empty(),
                Node::Map(pairs, _) => pairs.is_empty(),
            }
        }

        fn node(&mut self, node: &Node, mapping: bool, simple_key: bool) {
            self.mapping_context = mapping;
            self.simple_key_context = simple_key;
            match node {
                Node::Scalar(s, plain) => self.scalar(s, *plain),
                Node::Seq(items, flow) => {
                    if self.flow_level > 0 || *flow || items.is_empty() {
                        self.flow_sequence(items);
                    } else {
                        self.block_sequence(items);
                    }
                }
                Node::Map(pairs, flow) => {
                    if self.flow_level > 0 || *flow || pairs.is_empty() {
                        self.flow_mapping(pairs);
                    } else {
                        self.block_mapping(pairs);
                    }
                }
            }
        }

        fn flow_sequence(&mut self, items: &[Node]) {
            self.write_indicator("[", true, true, false);
            self.increase_indent(true, false);
            self.flow_level += 1;
            for (idx, item) in items.iter().enumerate() {
                if idx > 0 {
                    self.write_indicator(",", false, false, false);
                }
                if self.column > self.best_width {
                    self.write_indent();
                }
                self.node(item, false, false);
            }
            self.flow_level -= 1;
            self.pop_indent();
            self.write_indicator("]", false, false, false);
        }

        fn flow_mapping(&mut self, pairs: &[(Node, Node)]) {
            self.write_indicator("{", true, true, false);
            self.increase_indent(true, false);
            self.flow_level += 1;
            for (idx, (key, value)) in pairs.iter().enumerate() {
                if idx > 0 {
                    self.write_indicator(",", false, false, false);
                }
                if self.column > self.best_width {
                    self.write_indent();
                }
                if Self::check_simple_key(key) {
                    self.node(key, true, true);
                    self.write_indicator(":", false, false, false);
                } else {
                    self.write_indicator("?", true, false, false);
                    self.node(key, true, false);
                    if self.column > self.best_width {
                        self.write_indent();
                    }
                    self.write_indicator(":", true, false, false);
                }
                self.node(value, true, false);
            }
            self.flow_level -= 1;
            self.pop_indent();
            self.write_indicator("}", false, false, false);
        }

        fn block_sequence(&mut self, items: &[Node]) {
            let indentless = self.mapping_context && !self.indention;
            self.increase_indent(false, indentless);
            for item in items {
                self.write_indent();
                self.write_indicator("-", true, false, true);
                self.node(item, false, false);
            }
            self.pop_indent();
        }

        fn block_mapping(&mut self, pairs: &[(Node, Node)]) {
            self.increase_indent(false, false);
            for (key, value) in pairs {
                self.write_indent();
                if Self::check_simple_key(key) {
                    self.node(key, true, true);
                    self.write_indicator(":", false, false, false);
                } else {
                    self.write_indicator("?", true, false, true);
                    self.node(key, true, false);
                    self.write_indent();
                    self.write_indicator(":", true, false, true);
                }
                self.node(value, true, false);
            }
            self.pop_indent();
        }

        fn scalar(&mut self, text: &str, plain_implicit: bool) {
            let a = analyze(text);
            let mut style = Style::Plain;
            if self.simple_key_context && a.multiline {
                style = Style::Double;
            }
            if style == Style::Plain {
                if (self.flow_level > 0 && !a.flow_plain)
                    || (self.flow_level == 0 && !a.block_plain)
                {
                    style = Style::Single;
                }
                if text.is_empty() && (self.flow_level > 0 || self.simple_key_context) {
                    style = Style::Single;
                }
                if !plain_implicit {
                    style = Style::Single;
                }
            }
            if style == Style::Single && !a.single_quoted {
                style = Style::Double;
            }
            self.increase_indent(true, false);
            let breaks = !self.simple_key_context;
            match style {
                Style::Plain => self.write_plain(text, breaks),
                Style::Single => self.write_single(text, breaks),
                Style::Double => self.write_double(text, breaks),
            }
            self.pop_indent();
        }

        fn write_plain(&mut self, text: &str, allow_breaks: bool) {
            if !self.whitespace && (!text.is_empty() || self.flow_level > 0) {
                self.put(' ');
            }
            let chars: Vec<char> = text.chars().collect();
            let (mut spaces, mut breaks) = (false, false);
            for (i, &c) in chars.iter().enumerate() {
                if c == ' ' {
                    if allow_breaks
                        && !spaces
                        && self.column > self.best_width
                        && chars.get(i + 1) != Some(&' ')
                    {
                        self.write_indent();
                    } else {
                        self.put(c);
                    }
                    spaces = true;
                } else if is_break(c) {
                    if !breaks && c == '\n' {
                        self.put_break();
                    }
                    self.write_break(c);
                    self.indention = true;
                    breaks = true;
                } else {
                    if breaks {
                        self.write_indent();
                    }
                    self.put(c);
                    self.indention = false;
                    spaces = false;
                    breaks = false;
                }
            }
            self.whitespace = false;
            self.indention = false;
        }

        fn write_single(&mut self, text: &str, allow_breaks: bool) {
            self.write_indicator("'", true, false, false);
            let chars: Vec<char> = text.chars().collect();
            let last = chars.len().saturating_sub(1);
            let (mut spaces, mut breaks) = (false, false);
            for (i, &c) in chars.iter().enumerate() {
                if c == ' ' {
                    if allow_breaks
                        && !spaces
                        && self.column > self.best_width
                        && i != 0
                        && i != last
                        && chars.get(i + 1) != Some(&' ')
                    {
                        self.write_indent();
                    } else {
                        self.put(c);
                    }
                    spaces = true;
                } else if is_break(c) {
                    if !breaks && c == '\n' {
                        self.put_break();
                    }
                    self.write_break(c);
                    self.indention = true;
                    breaks = true;
                } else {
                    if breaks {
                        self.write_indent();
                    }
                    if c == '\'' {
                        self.put('\'');
                    }
                    self.put(c);
                    self.indention = false;
                    spaces = false;
                    breaks = false;
                }
            }
            if breaks {
                self.write_indent();
            }
            self.write_indicator("'", false, false, false);
            self.whitespace = false;
            self.indention = false;
        }

        fn write_double(&mut self, text: &str, allow_breaks: bool) {
            self.write_indicator("\"", true, false, false);
            let chars: Vec<char> = text.chars().collect();
            let last = chars.len().saturating_sub(1);
            let mut spaces = false;
            for (i, &c) in chars.iter().enumerate() {
                if !is_printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                    self.put('\\');
                    let esc = match c {
                        '\0' => Some('0'),
                        '\x07' => Some('a'),
                        '\x08' => Some('b'),
                        '\t' => Some('t'),
                        '\n' => Some('n'),
                        '\x0b' => Some('v'),
                        '\x0c' => Some('f'),
                        '\r' => Some('r'),
                        '\x1b' => Some('e'),
                        '"' => Some('"'),
                        '\\' => Some('\\'),
                        '\u{85}' => Some('N'),
                        '\u{a0}' => Some('_'),
                        '\u{2028}' => Some('L'),
                        '\u{2029}' => Some('P'),
                        _ => None,
                    };
                    match esc {
                        Some(e) => self.put(e),
                        None => {
                            let v = c as u32;
                            let (prefix, width) = if v <= 0xff {
                                ('x', 2)
                            } else if v <= 0xffff {
                                ('u', 4)
                            } else {
                                ('U', 8)
                            };
                            self.put(prefix);
                            for ch in format!("{v:0width$X}").chars() {
                                self.put(ch);
                            }
                        }
                    }
                    spaces = false;
                } else if c == ' ' {
                    if allow_breaks
                        && !spaces
                        && self.column > self.best_width
                        && i != 0
                        && i != last
                    {
                        self.write_indent();
                        if chars.get(i + 1) == Some(&' ') {
                            self.put('\\');
                        }
                    } else {
                        self.put(c);
                    }
                    spaces = true;
                } else {
                    self.put(c);
                    spaces = false;
                }
            }
            self.write_indicator("\"", false, false, false);
            self.whitespace = false;
            self.indention = false;
        }
    }

    pub fn dump(value: &Value, opts: &DumpOptions) -> Result<String, String> {
        let root = represent(value, opts)?;
        let best_indent = opts.indent.filter(|i| (2..=9).contains(i)).unwrap_or(2);
        let best_width = match opts.width {
            Some(w) if w < 0 => i64::MAX,
            Some(w) if w > best_indent * 2 => w,
            _ => 80,
        };
        let mut e = Emitter {
            out: String::new(),
            indents: Vec::new(),
            indent: -1,
            flow_level: 0,
            mapping_context: false,
            simple_key_context: false,
            column: 0,
            whitespace: true,
            indention: true,
            best_indent,
            best_width,
        };
        if opts.explicit_start {
            e.write_indent();
            e.write_indicator("---", true, false, false);
        }
        e.node(&root, false, false);
        e.write_indent();
        if opts.explicit_end {
            e.write_indicator("...", true, false, false);
            e.write_indent();
        }
        Ok(e.out)
    }
}

// ---------------------------------------------------------------------------
// message digests

/// MD5, SHA-1 and SHA-256 for the `hash` filter (no dependency has them).
pub(crate) mod digest {
    fn pad(data: &[u8], big_endian: bool) -> Vec<u8> {
        let bits = (data.len() as u64).wrapping_mul(8);
        let mut msg = data.to_vec();
        msg.push(0x80);
        while msg.len() % 64 != 56 {
            msg.push(0);
        }
        if big_endian {
            msg.extend_from_slice(&bits.to_be_bytes());
        } else {
            msg.extend_from_slice(&bits.to_le_bytes());
        }
        msg
    }

    pub fn md5(data: &[u8]) -> [u8; 16] {
        const S: [u32; 64] = [
            7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20,
            5, 9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
            6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
        ];
        let k: Vec<u32> = (0..64)
            .map(|i: i32| ((f64::from(i + 1)).sin().abs() * 4_294_967_296.0) as u32)
            .collect();
        let mut h: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
        for chunk in pad(data, false).chunks_exact(64) {
            let m: Vec<u32> = chunk
                .chunks_exact(4)
                .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect();
            let [mut a, mut b, mut c, mut d] = h;
            for i in 0..64 {
                let (f, g) = match i / 16 {
                    0 => ((b & c) | (!b & d), i),
                    1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                    2 => (b ^ c ^ d, (3 * i + 5) % 16),
                    _ => (c ^ (b | !d), (7 * i) % 16),
                };
                let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
                a = d;
                d = c;
                c = b;
                b = b.wrapping_add(f.rotate_left(S[i]));
            }
            for (x, y) in h.iter_mut().zip([a, b, c, d]) {
                *x = x.wrapping_add(y);
            }
        }
        let mut out = [0u8; 16];
        for (o, w) in out.chunks_exact_mut(4).zip(h) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    pub fn sha1(data: &[u8]) -> [u8; 20] {
        let mut h: [u32; 5] = [
            0x6745_2301,
            0xefcd_ab89,
            0x98ba_dcfe,
            0x1032_5476,
            0xc3d2_e1f0,
        ];
        for chunk in pad(data, true).chunks_exact(64) {
            let mut w = [0u32; 80];
            for (i, word) in chunk.chunks_exact(4).enumerate() {
                w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
            }
            for i in 16..80 {
                w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
            }
            let [mut a, mut b, mut c, mut d, mut e] = h;
            for (i, wi) in w.iter().enumerate() {
                let (f, k) = match i / 20 {
                    0 => ((b & c) | (!b & d), 0x5a82_7999),
                    1 => (b ^ c ^ d, 0x6ed9_eba1),
                    2 => ((b & c) | (b & d) | (c & d), 0x8f1b_bcdc),
                    _ => (b ^ c ^ d, 0xca62_c1d6),
                };
                let t = a
                    .rotate_left(5)
                    .wrapping_add(f)
                    .wrapping_add(e)
                    .wrapping_add(k)
                    .wrapping_add(*wi);
                e = d;
                d = c;
                c = b.rotate_left(30);
                b = a;
                a = t;
            }
            for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
                *x = x.wrapping_add(y);
            }
        }
        let mut out = [0u8; 20];
        for (o, w) in out.chunks_exact_mut(4).zip(h) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }

    pub fn sha256(data: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(data).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::{Environment, UndefinedBehavior, Value};

    /// The variables of the Ansible playbook the expectations come from
    /// (Ansible saw them with sorted keys).
    fn ctx() -> Value {
        json_to_value(serde_json::json!({
            "d1": {"a": 1, "b": {"l": [1, 2], "x": 1}, "c": "z"},
            "d2": {"b": {"l": [3], "y": 2}, "c": null, "e": 5},
            "users": [
                {"age": 30, "groups": ["wheel"], "name": "bob"},
                {"age": 25, "name": "Alice"}
            ],
            "res_ok": {"changed": false, "failed": false, "rc": 0},
            "res_fail": {"changed": true, "failed": true, "rc": 2},
            "res_skip": {"changed": false, "skipped": true},
            "res_rc": {"rc": 3},
            "res_loop": {"results": [{"changed": false}, {"changed": true}]},
            "nested": {
                "a": [1, "two", {"e": [], "k": "v"}],
                "colon": "a: b",
                "empty": "",
                "f": 1.5,
                "long": "word ".repeat(25),
                "m": {},
                "multi": "line1\nline2",
                "n": null,
                "num": "123",
                "q": "it's",
                "s": "yes",
                "t": true,
                "z": 1
            },
            "unicode": {"ctl": "a\tb\u{1}", "k": "ü€😀"}
        }))
    }

    fn env() -> Environment<'static> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        register(&mut env);
        env
    }

    fn try_render(template: &str) -> Result<String, Error> {
        env().render_str(template, ctx())
    }

    /// Renders a template.
    #[track_caller]
    fn render(template: &str) -> String {
        match try_render(template) {
            Ok(s) => s,
            Err(e) => panic!("{template}: {e:#}"),
        }
    }

    /// Renders an expression.
    #[track_caller]
    fn r(expr: &str) -> String {
        render(&format!("{{{{ {expr} }}}}"))
    }

    /// The value of an expression as Python's `json.dumps` prints it.
    #[track_caller]
    fn j(expr: &str) -> String {
        render(&format!("{{{{ ({expr})|to_json(ensure_ascii=false) }}}}"))
    }

    /// The error message of an expression that must fail.
    #[track_caller]
    fn err(expr: &str) -> String {
        match try_render(&format!("{{{{ {expr} }}}}")) {
            Ok(s) => panic!("{expr} should fail, gave {s:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[track_caller]
    fn assert_err(expr: &str, needle: &str) {
        let msg = err(expr);
        assert!(
            msg.contains(needle),
            "{expr}: error {msg:?} lacks {needle:?}"
        );
    }

    // --- default / d -----------------------------------------------------

    #[test]
    fn default_filter_jinja2_semantics() {
        assert_eq!(r("undefined_var|default('dflt')"), "dflt");
        assert_eq!(r("d1.nope|default('dflt')"), "dflt");
        assert_eq!(j("''|default('dflt')"), r#""""#);
        assert_eq!(r("''|default('dflt', true)"), "dflt");
        assert_eq!(r("''|default('dflt', boolean=true)"), "dflt");
        assert_eq!(r("0|d('dflt', true)"), "dflt");
        assert_eq!(j("none|default('dflt')"), "null");
        assert_eq!(j("undefined_var|default"), r#""""#);
        assert_eq!(r("d1.a|d(5)"), "1");
        assert_err("''|default('dflt', 1)", "'boolean' argument must be a bool");
        assert_err("''|default('a', true, 3)", "takes at most 2 argument(s)");
    }

    #[test]
    fn strict_undefined_still_errors_without_default() {
        assert!(try_render("{{ undefined_var }}").is_err());
        assert!(try_render("{{ undefined_var|upper }}").is_err());
    }

    // --- bool / int / float / string ----------------------------------------

    #[test]
    fn bool_filter_ansible_strings() {
        for (expr, want) in [
            ("'yes'|bool", "true"),
            ("'On'|bool", "true"),
            ("'TRUE'|bool", "true"),
            ("'1'|bool", "true"),
            ("'no'|bool", "false"),
            ("'off'|bool", "false"),
            ("'0'|bool", "false"),
            ("' yes'|bool", "false"),
            ("'maybe'|bool", "false"),
            ("2|bool", "false"),
            ("1|bool", "true"),
            ("1.0|bool", "true"),
            ("0|bool", "false"),
            ("none|bool", "false"),
            ("true|bool", "true"),
        ] {
            assert_eq!(j(expr), want, "{expr}");
        }
        assert!(try_render("{{ undefined_var|bool }}").is_err());
    }

    #[test]
    fn int_filter_jinja2_semantics() {
        for (expr, want) in [
            ("'42'|int", "42"),
            ("'0x1F'|int", "0"),
            ("'0x1F'|int(base=16)", "31"),
            ("'1F'|int(base=16)", "31"),
            ("'0b101'|int(0, 2)", "5"),
            ("' 42 '|int", "42"),
            ("'42.7'|int", "42"),
            ("'1e3'|int", "1000"),
            ("'1_000'|int", "1000"),
            ("'-17'|int", "-17"),
            ("'abc'|int", "0"),
            ("'abc'|int(7)", "7"),
            ("'abc'|int(default=-1)", "-1"),
            ("none|int", "0"),
            ("true|int", "1"),
            ("-3.9|int", "-3"),
            ("'nan'|int", "0"),
            ("'010'|int(base=0)", "10"),
            ("'0o17'|int(base=0)", "15"),
            ("[1]|int", "0"),
        ] {
            assert_eq!(j(expr), want, "{expr}");
        }
        assert_err("'1'|int(base=1)", "base must be 0 or between 2 and 36");
        assert_err("'inf'|int", "cannot convert float infinity");
    }

    #[test]
    fn float_filter_jinja2_semantics() {
        assert_eq!(j("'3.5'|float"), "3.5");
        assert_eq!(j("'abc'|float"), "0.0");
        assert_eq!(j("'abc'|float(1.5)"), "1.5");
        assert_eq!(j("2|float"), "2.0");
    }

    #[test]
    fn string_lower_upper_builtins() {
        assert_eq!(
            r("[1, 'a', true, none, {'k': 1.5}]|string"),
            "[1, 'a', True, None, {'k': 1.5}]"
        );
        assert_eq!(r("true|string"), "True");
        assert_eq!(r("none|string"), "None");
        assert_eq!(r("'AbC'|lower"), "abc");
        assert_eq!(r("'AbC'|upper"), "ABC");
        assert_eq!(r("true|lower"), "true");
    }

    #[test]
    fn join_length_count_builtins() {
        assert_eq!(r("[1, 2]|join(',')"), "1,2");
        assert_eq!(r("[true, none]|join(',')"), "True,None");
        assert_eq!(r("users|join(', ', attribute='name')"), "bob, Alice");
        assert_eq!(r("[1,2,3]|length"), "3");
        assert_eq!(r("'héllo'|length"), "5");
        assert_eq!(r("{'a': 1}|count"), "1");
    }

    #[test]
    fn type_debug_python_type_names() {
        for (expr, want) in [
            ("'x'|type_debug", "str"),
            ("1|type_debug", "int"),
            ("1.5|type_debug", "float"),
            ("true|type_debug", "bool"),
            ("none|type_debug", "NoneType"),
            ("[1]|type_debug", "list"),
            ("{}|type_debug", "dict"),
            ("[1]|zip([2])|type_debug", "list"),
            ("undefined_var|type_debug", "UndefinedMarker"),
        ] {
            assert_eq!(r(expr), want, "{expr}");
        }
    }

    // --- mandatory / ternary --------------------------------------------------

    /// Renders a template registered in the environment (so that its
    /// source is known to `mandatory`).
    fn render_named(source: &str) -> Result<String, Error> {
        let mut env = env();
        env.add_template_owned("t.j2", source.to_string())?;
        env.get_template("t.j2")?.render(ctx())
    }

    #[test]
    fn mandatory_filter() {
        assert_eq!(r("5|mandatory"), "5");
        assert_eq!(r("d1.c|mandatory"), "z");
        assert_err("undefined_var|mandatory", "Mandatory variable not defined.");
        assert_err("undefined_var|mandatory('custom msg')", "custom msg");
        assert_err("undefined_var|mandatory(msg='custom msg')", "custom msg");
        let msg = render_named("{{ undefined_var|mandatory }}")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.contains("Mandatory variable 'undefined_var' not defined."),
            "{msg}"
        );
        let msg = render_named("x={{ d1.nope | mandatory }}")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.contains("Mandatory variable 'nope' not defined."),
            "{msg}"
        );
    }

    #[test]
    fn mandatory_names_the_unresolved_variable_among_several() {
        let out = render_named("{{ d1.a|mandatory }} {{ nothere|mandatory }} {{ d1.c|mandatory }}");
        let msg = out.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("Mandatory variable 'nothere' not defined."),
            "{msg}"
        );
    }

    #[test]
    fn mandatory_without_a_knowable_name() {
        // one application is not to a plain variable: no guessing
        let out = render_named("{{ x1|default(none)|mandatory }}{{ x2|mandatory }}");
        let msg = out.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("Mandatory variable not defined."), "{msg}");
        // two unresolvable variables
        let out = render_named("{{ x1|mandatory }}{{ x2|mandatory }}");
        let msg = out.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("Mandatory variable not defined."), "{msg}");
    }

    #[test]
    fn ternary_filter() {
        assert_eq!(r("true|ternary('y', 'n')"), "y");
        assert_eq!(r("none|ternary('y', 'n')"), "n");
        assert_eq!(r("none|ternary('y', 'n', 'null')"), "null");
        assert_eq!(r("''|ternary('y', 'n', 'null')"), "n");
        assert_eq!(r("0|ternary('y', 'n')"), "n");
        assert_eq!(r("[1]|ternary(true_val='y', false_val='n')"), "y");
        assert_err("true|ternary('y')", "missing required argument 'false_val'");
        assert!(try_render("{{ undefined_var|ternary(1, 2) }}").is_err());
    }

    // --- JSON -----------------------------------------------------------------

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

    // --- regular expressions ----------------------------------------------------

    #[test]
    fn regex_replace_python_backrefs() {
        for (expr, want) in [
            (r"'abc'|regex_replace('(b)', '[\\1]')", "a[b]c"),
            (r"'abc'|regex_replace('(?P<x>b)', '<\\g<x>>')", "a<b>c"),
            (r"'abc'|regex_replace('(b)', '\\g<1>0')", "ab0c"),
            (r"'abc'|regex_replace('(x)?b', '[\\1]')", "a[]c"),
            (r"'abc'|regex_replace('b', '\\.')", r"a\.c"),
            (r"'abc'|regex_replace('b', '\\\\')", r"a\c"),
            (r"'abc'|regex_replace('b', '$1')", "a$1c"),
            (r"'abxd'|regex_replace('x*', '-')", "-a-b--d-"),
            (r"'ABC'|regex_replace('b', 'x', ignorecase=true)", "AxC"),
            (r"'aaa'|regex_replace('a', 'b', count=2)", "bba"),
            (r"'x{a}'|regex_replace('{a}', 'b')", "xb"),
            (r"'aXb'|regex_replace('\\Z', '!')", "aXb!"),
            (r"'1.2.3'|regex_replace('\\.', '-')", "1-2-3"),
            (r"'a<b'|regex_replace('\\<', '>')", "a>b"),
            (r"'a[b'|regex_replace('[[]', '(')", "a(b"),
            (
                r"'foo bar'|regex_replace('^(\\w+) (\\w+)$', '\\2 \\1')",
                "bar foo",
            ),
            (r"'a1'|regex_replace('(?P<n>\\d)', '\\g<n>\\g<0>')", "a11"),
            (r"'aaa'|regex_replace('a{2}', 'b')", "ba"),
            (r"'aaa'|regex_replace('a{,2}', 'b')", "bbb"),
        ] {
            assert_eq!(r(expr), want, "{expr}");
        }
        assert_eq!(j(r"'abc'|regex_replace('b', '\\n')"), r#""a\nc""#);
        assert_eq!(
            j(r"'a\nb'|regex_replace('^', '>', multiline=true)"),
            r#"">a\n>b""#
        );
    }

    #[test]
    fn regex_replace_errors_name_the_input() {
        assert_err(
            "'abc'|regex_replace('(', 'x')",
            "regex_replace: invalid pattern '(': ",
        );
        assert_err(
            r"'abc'|regex_replace('b', '\\2')",
            "invalid group reference 2 at position 1",
        );
        assert_err(
            r"'abc'|regex_replace('(b)', '\\10')",
            "invalid group reference 10",
        );
        assert_err(
            r"'abc'|regex_replace('b', '\\q')",
            r"bad escape \q at position 0",
        );
        assert_err(
            r"'abc'|regex_replace('b', '\\g<x>')",
            "unknown group name 'x'",
        );
        assert_err(
            "'abc'|regex_replace('a', 'b', mandatory_count=2)",
            "should match 2 times, but matches 1 times",
        );
        assert_err(
            "'abc'|regex_replace(1, 'b')",
            "argument 'pattern' must be a string",
        );
        assert!(try_render("{{ undefined_var|regex_replace('a', 'b') }}").is_err());
    }

    #[test]
    fn regex_search_returns_match_groups_or_none() {
        assert_eq!(
            j(r"'foo=1 bar=2'|regex_search('bar=(\\d)', '\\1')"),
            r#"["2"]"#
        );
        assert_eq!(
            j(r"'foo=1 bar=2'|regex_search('(?P<k>\\w+)=(\\d)', '\\g<k>', '\\2')"),
            r#"["foo", "1"]"#
        );
        assert_eq!(j(r"'foo=1'|regex_search('(\\w+)=(x)?', '\\2')"), "[null]");
        assert_eq!(j(r"'foo'|regex_search('x', '\\1')"), "null");
        assert_eq!(j("'foo'|regex_search('x')"), "null");
        assert_eq!(r("'foo'|regex_search('o+')"), "oo");
        assert_eq!(r("'FOO'|regex_search('o+', ignorecase=true)"), "OO");
        assert_err("'foo'|regex_search('o', 'x')", "unknown argument 'x'");
        assert_err(r"'foo'|regex_search('(o)', '\\3')", "no such group 3");
    }

    #[test]
    fn regex_findall_python_semantics() {
        assert_eq!(
            j(r"'a1b22'|regex_findall('(\\w)(\\d)')"),
            r#"[["a", "1"], ["b", "2"]]"#
        );
        assert_eq!(j(r"'a1b22'|regex_findall('\\d+')"), r#"["1", "22"]"#);
        assert_eq!(j(r"'a1b22'|regex_findall('[a-z](\\d)')"), r#"["1", "2"]"#);
        assert_eq!(
            j(r"'a1b22'|regex_findall('([a-z])(x)?')"),
            r#"[["a", ""], ["b", ""]]"#
        );
        assert_eq!(j("'baa'|regex_findall('a*')"), r#"["", "aa", ""]"#);
        assert_eq!(
            j("'Aa'|regex_findall('a', ignorecase=true)"),
            r#"["A", "a"]"#
        );
    }

    #[test]
    fn regex_escape_python_and_posix() {
        assert_eq!(r("'a.b*c'|regex_escape"), r"a\.b\*c");
        assert_eq!(r("'a b-c#d~e&f'|regex_escape"), r"a\ b\-c\#d\~e\&f");
        assert_eq!(r("'a.b*c'|regex_escape('posix_basic')"), r"a\.b\*c");
        assert_err("'a'|regex_escape('perl')", "invalid regex type 'perl'");
    }

    // --- other strings --------------------------------------------------------

    #[test]
    fn quote_is_shlex_quote() {
        assert_eq!(r("\"it's\"|quote"), r#"'it'"'"'s'"#);
        assert_eq!(r("''|quote"), "''");
        assert_eq!(r("'abc'|quote"), "abc");
        assert_eq!(r("'a b'|quote"), "'a b'");
        assert_eq!(r("'/a/b-c.d:e@f%g+h=i,j'|quote"), "/a/b-c.d:e@f%g+h=i,j");
        assert_eq!(r("none|quote"), "''");
        assert_eq!(r("true|quote"), "True");
        assert_eq!(r("['a b', 'c']|quote"), r#"'['"'"'a b'"'"', '"'"'c'"'"']'"#);
        assert_eq!(r("'héllo'|quote"), "'héllo'");
        assert_eq!(r("'$HOME'|quote"), "'$HOME'");
    }

    #[test]
    fn base64_filters() {
        assert_eq!(r("'héllo'|b64encode"), "aMOpbGxv");
        assert_eq!(r("'aGVsbG8='|b64decode"), "hello");
        assert_eq!(r("'a GVs bG8='|b64decode"), "hello");
        assert_eq!(r("'a'|b64encode(encoding='utf-16-le')"), "YQA=");
        assert_eq!(r("'YQA='|b64decode(encoding='utf-16-le')"), "a");
        assert_eq!(r("'??>'|b64encode(urlsafe=true)"), "Pz8-");
        assert_eq!(r("'Pz8-'|b64decode(urlsafe=true)"), "??>");
        assert_err("'aGVsbG8'|b64decode", "incorrect padding");
        assert_err("'/w=='|b64decode", "not valid UTF-8");
    }

    #[test]
    fn hash_filters() {
        assert_eq!(
            r("'hello'|hash('sha1')"),
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
        );
        assert_eq!(
            r("'hello'|hash"),
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
        );
        assert_eq!(r("'hello'|hash('md5')"), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(
            r("'hello'|hash('sha256')"),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(r("'hello'|md5"), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(
            r("'hello'|sha1"),
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
        );
        assert_eq!(
            r("'hello'|checksum"),
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
        );
        assert_err(
            "'hello'|hash('sha512')",
            "hash: unsupported hash type 'sha512'",
        );
    }

    #[test]
    fn digests_match_reference_vectors() {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(hex(&digest::md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            hex(&digest::sha1(b"")),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert_eq!(
            hex(&digest::sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let long = vec![b'a'; 1000];
        assert_eq!(hex(&digest::md5(&long)), "cabe45dcc9ae5b66ba86600cca6b8ba8");
        assert_eq!(
            hex(&digest::sha1(&long)),
            "291e9a6c66994949b57ba5e650361e98fc36b1ba"
        );
        assert_eq!(
            hex(&digest::sha256(&long)),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        );
    }

    #[test]
    fn split_is_python_str_split() {
        assert_eq!(j("'a,b,,c'|split(',')"), r#"["a", "b", "", "c"]"#);
        assert_eq!(j("'  a  b c '|split"), r#"["a", "b", "c"]"#);
        assert_eq!(j("'a,b,c'|split(',', 1)"), r#"["a", "b,c"]"#);
        assert_eq!(j("' a b c '|split(none, 1)"), r#"["a", "b c "]"#);
        assert_eq!(j("'a b'|split(maxsplit=0)"), r#"["a b"]"#);
        assert_eq!(j("''|split(',')"), r#"[""]"#);
        assert_eq!(j("''|split"), "[]");
        assert_eq!(j("('1.2.3'|split('.'))[-1]"), r#""3""#);
        assert_err("'abc'|split('')", "split: empty separator");
        assert_err("42|split", "split: expected a string");
    }

    #[test]
    fn splitlines_is_python_str_splitlines() {
        assert_eq!(j("'a\\nb\\r\\nc'|splitlines"), r#"["a", "b", "c"]"#);
        assert_eq!(j("'a\\n\\nb\\n'|splitlines"), r#"["a", "", "b"]"#);
        assert_eq!(j("'a\\nb\\n'|splitlines(true)"), r#"["a\n", "b\n"]"#);
        assert_eq!(j("''|splitlines"), "[]");
    }

    #[test]
    fn trim_and_replace_builtins() {
        assert_eq!(r("'  x  '|trim"), "x");
        assert_eq!(r("'xxaxx'|trim('x')"), "a");
        assert_eq!(r("'aaa'|replace('a', 'b', 2)"), "bba");
        assert_eq!(r("'aaa'|replace('a', 'b')"), "bbb");
    }

    #[test]
    fn basename_dirname_are_os_path() {
        for (expr, want) in [
            ("'/a/b/c.txt'|basename", "c.txt"),
            ("'/a/b/'|basename", ""),
            ("'c'|basename", "c"),
            ("'/a/b'|dirname", "/a"),
            ("'/a/b/'|dirname", "/a/b"),
            ("'a'|dirname", ""),
            ("'/a'|dirname", "/"),
            ("'//a'|dirname", "//"),
            ("'/'|dirname", "/"),
            ("'a//b'|dirname", "a"),
            ("'x/'|dirname", "x"),
        ] {
            assert_eq!(j(expr), format!("{:?}", want), "{expr}");
        }
    }

    #[test]
    fn urlencode_is_jinja2() {
        assert_eq!(
            r("{'q': 'a b/c~', 'n': none, 'k&': 1}|urlencode"),
            "q=a+b%2Fc~&n=None&k%26=1"
        );
        assert_eq!(r("'a b/c~&é'|urlencode"), "a%20b/c~%26%C3%A9");
        assert_eq!(r("[['a', 'b c']]|urlencode"), "a=b+c");
        assert_eq!(r("42|urlencode"), "42");
        assert_eq!(r("none|urlencode"), "None");
        assert_err("['abc']|urlencode", "(key, value) pairs");
    }

    // --- data structures ----------------------------------------------------

    #[test]
    fn combine_like_ansible() {
        for (expr, want) in [
            (
                "d1|combine(d2)",
                r#"{"a": 1, "b": {"l": [3], "y": 2}, "c": null, "e": 5}"#,
            ),
            (
                "d1|combine(d2, recursive=true)",
                r#"{"a": 1, "b": {"l": [3], "x": 1, "y": 2}, "c": null, "e": 5}"#,
            ),
            (
                "d1|combine(d2, recursive=true, list_merge='append')",
                r#"{"a": 1, "b": {"l": [1, 2, 3], "x": 1, "y": 2}, "c": null, "e": 5}"#,
            ),
            (
                "d1|combine(d2, list_merge='append')",
                r#"{"a": 1, "b": {"l": [3], "y": 2}, "c": null, "e": 5}"#,
            ),
            (
                "d1|combine(d2, recursive=true, list_merge='prepend')",
                r#"{"a": 1, "b": {"l": [3, 1, 2], "x": 1, "y": 2}, "c": null, "e": 5}"#,
            ),
            (
                "{'l': [1,2,3]}|combine({'l': [2,4]}, list_merge='append_rp')",
                r#"{"l": [1, 3, 2, 4]}"#,
            ),
            (
                "{'l': [1,2,3]}|combine({'l': [2,4]}, list_merge='prepend_rp')",
                r#"{"l": [2, 4, 1, 3]}"#,
            ),
            (
                "{'l': [1,2,3]}|combine({'l': [2,4]}, list_merge='keep')",
                r#"{"l": [1, 2, 3]}"#,
            ),
            (
                "[d1, d2]|combine",
                r#"{"a": 1, "b": {"l": [3], "y": 2}, "c": null, "e": 5}"#,
            ),
            (
                "d1|combine([d2, {'z': 0}])",
                r#"{"a": 1, "b": {"l": [3], "y": 2}, "c": null, "e": 5, "z": 0}"#,
            ),
            ("{'a':1}|combine(none)", r#"{"a": 1}"#),
            ("{'a':1}|combine({'b':2}, {'a':3})", r#"{"a": 3, "b": 2}"#),
        ] {
            assert_eq!(j(expr), want, "{expr}");
        }
        assert_err(
            "{'a':1}|combine([1])",
            "combine: expected dicts, got number 1",
        );
        assert_err(
            "{'a':1}|combine({'b':2}, foo=1)",
            "unexpected keyword argument 'foo'",
        );
        assert_err(
            "{'a':1}|combine({'b':2}, list_merge='bogus')",
            "list_merge must be",
        );
    }

    #[test]
    fn dict2items_and_items2dict() {
        assert_eq!(
            j("{'a': 1, 'b': 2}|dict2items"),
            r#"[{"key": "a", "value": 1}, {"key": "b", "value": 2}]"#
        );
        assert_eq!(
            j("{'a': 1}|dict2items(key_name='k', value_name='v')"),
            r#"[{"k": "a", "v": 1}]"#
        );
        assert_eq!(
            j("{'a': 1}|dict2items('k', 'v')"),
            r#"[{"k": "a", "v": 1}]"#
        );
        assert_err(
            "[1]|dict2items",
            "dict2items: requires a dictionary, got list",
        );
        assert_eq!(
            j("[{'key': 'a', 'value': 1}, {'key': 'b', 'value': 2}]|items2dict"),
            r#"{"a": 1, "b": 2}"#
        );
        assert_eq!(
            j("[{'k': 'a', 'v': 1}]|items2dict(key_name='k', value_name='v')"),
            r#"{"a": 1}"#
        );
        assert_eq!(
            j("{'x': 1, 'y': 2}|dict2items|items2dict"),
            r#"{"x": 1, "y": 2}"#
        );
        assert_err("[{'x': 'a'}]|items2dict", "must contain the keys");
        assert_err(
            "'abc'|items2dict",
            "items2dict: requires a list, got string",
        );
    }

    #[test]
    fn flatten_like_ansible() {
        assert_eq!(
            j("[1, [2, [3, [4]]], none, 'None', 'null', 'x']|flatten"),
            r#"[1, 2, 3, 4, "x"]"#
        );
        assert_eq!(j("[1, [2, [3, [4]]]]|flatten(1)"), "[1, 2, [3, [4]]]");
        assert_eq!(
            j("[1, [2, [3, [4]]], none]|flatten(skip_nulls=false)"),
            "[1, 2, 3, 4, null]"
        );
        assert_eq!(
            j("[1, {'a': [2]}, ('x', 'y')]|flatten"),
            r#"[1, {"a": [2]}, "x", "y"]"#
        );
        assert_err("5|flatten", "flatten: expected a list");
    }

    #[test]
    fn dict_filter() {
        assert_eq!(j("[['a', 1], ['b', 2]]|dict"), r#"{"a": 1, "b": 2}"#);
        assert_eq!(j("['a', 'b']|zip([1, 2])|dict"), r#"{"a": 1, "b": 2}"#);
        assert_eq!(j("{'a': 1}|dict"), r#"{"a": 1}"#);
        assert_err("[1]|dict", "dict: items must be (key, value) pairs");
    }

    #[test]
    fn map_with_attribute_and_any_filter() {
        assert_eq!(j("users|map(attribute='name')|list"), r#"["bob", "Alice"]"#);
        assert_eq!(
            j("users|map(attribute='groups', default=[])|list"),
            r#"[["wheel"], []]"#
        );
        assert_eq!(
            j("users|map(attribute='groups.0', default='-')|list"),
            r#"["wheel", "-"]"#
        );
        assert_eq!(
            j("users|map(attribute='name')|map('upper')|list"),
            r#"["BOB", "ALICE"]"#
        );
        assert_eq!(j("['a', 'B']|map('lower')|list"), r#"["a", "b"]"#);
        assert_eq!(
            j(r"['a1', 'b2']|map('regex_replace', '(\\d)', '<\\1>')|list"),
            r#"["a<1>", "b<2>"]"#
        );
        assert_eq!(
            j("['A1', 'b2']|map('regex_replace', 'a', 'x', ignorecase=true)|list"),
            r#"["x1", "b2"]"#
        );
        assert_eq!(j("['0x1f', '10']|map('int', base=16)|list"), "[31, 16]");
        assert_eq!(
            j("[{'a': 1}, {'a': 2}]|map('combine', {'b': 0})|list"),
            r#"[{"a": 1, "b": 0}, {"a": 2, "b": 0}]"#
        );
        assert_err(
            "users|map(attribute='nope')|list",
            "has no attribute 'nope'",
        );
        assert_err(
            "[1]|map('nosuchfilter')|list",
            "map: unknown filter 'nosuchfilter'",
        );
    }

    #[test]
    fn select_reject_with_tests_and_args() {
        assert_eq!(
            j("['abc', 'xbc', 'ab']|select('match', '^a')|list"),
            r#"["abc", "ab"]"#
        );
        assert_eq!(
            j("['abc', 'xbc', 'ab']|reject('search', 'c$')|list"),
            r#"["ab"]"#
        );
        assert_eq!(
            j("['1.2', '1.10', '0.9']|select('version', '1.5', '>')|list"),
            r#"["1.10"]"#
        );
        assert_eq!(j("[0, 1, '', 'a']|select|list"), r#"[1, "a"]"#);
        assert_eq!(
            j("[res_ok, res_fail]|select('failed')|map(attribute='rc')|list"),
            "[2]"
        );
    }

    #[test]
    fn selectattr_rejectattr_builtins() {
        assert_eq!(
            j("users|selectattr('groups', 'defined')|map(attribute='name')|list"),
            r#"["bob"]"#
        );
        assert_eq!(
            j("users|rejectattr('groups', 'defined')|map(attribute='name')|list"),
            r#"["Alice"]"#
        );
        assert_eq!(
            j("users|selectattr('age', 'gt', 26)|map(attribute='name')|list"),
            r#"["bob"]"#
        );
        assert_eq!(
            j("users|selectattr('name', 'match', '^A')|map(attribute='age')|list"),
            "[25]"
        );
    }

    #[test]
    fn first_last_min_max_sum_builtins() {
        assert_eq!(j("[1, 2, 3]|first"), "1");
        assert_eq!(j("'abc'|first"), r#""a""#);
        assert_eq!(j("{'a': 1, 'b': 2}|first"), r#""a""#);
        assert_eq!(j("[1, 2, 3]|last"), "3");
        assert_eq!(j("[3, 1, 2]|min"), "1");
        assert_eq!(j("[3, 1, 2]|max"), "3");
        assert_eq!(
            j("users|max(attribute='age')"),
            r#"{"age": 30, "groups": ["wheel"], "name": "bob"}"#
        );
        assert_eq!(j("[1, 2, 3]|sum"), "6");
        assert_eq!(j("[[1], [2]]|sum(start=[])"), "[1, 2]");
        assert_eq!(j("users|sum(attribute='age')"), "55");
    }

    #[test]
    fn unique_list_zip_builtins() {
        assert_eq!(
            j("[{'a': 1}, {'a': 1}, {'a': 2}]|unique"),
            r#"[{"a": 1}, {"a": 2}]"#
        );
        assert_eq!(j("['a', 'A', 'b']|unique"), r#"["a", "b"]"#);
        assert_eq!(j("'abc'|list"), r#"["a", "b", "c"]"#);
        assert_eq!(j("{'a': 1}|list"), r#"["a"]"#);
        assert_eq!(j("[1, 2]|zip(['a', 'b'])|list"), r#"[[1, "a"], [2, "b"]]"#);
    }

    #[test]
    fn sort_with_positional_and_keyword_args() {
        assert_eq!(j("[3, 1, 2]|sort"), "[1, 2, 3]");
        assert_eq!(j("[3, 1, 2]|sort(true)"), "[3, 2, 1]");
        assert_eq!(j("[3, 1, 2]|sort(reverse=true)"), "[3, 2, 1]");
        assert_eq!(j("['b', 'A', 'c']|sort"), r#"["A", "b", "c"]"#);
        assert_eq!(
            j("['b', 'A', 'c']|sort(case_sensitive=true)"),
            r#"["A", "b", "c"]"#
        );
        assert_eq!(
            j("['b', 'a', 'C']|sort(case_sensitive=true)"),
            r#"["C", "a", "b"]"#
        );
        assert_eq!(
            j("users|sort(attribute='age')|map(attribute='name')|list"),
            r#"["Alice", "bob"]"#
        );
        assert_eq!(
            j("users|sort(attribute='name')|map(attribute='name')|list"),
            r#"["Alice", "bob"]"#
        );
        assert_eq!(
            j(
                "[{'a': 1, 'b': 2}, {'a': 1, 'b': 1}, {'a': 0, 'b': 3}]|sort(attribute='a,b')|map(attribute='b')|list"
            ),
            "[3, 1, 2]"
        );
    }

    // --- tests ------------------------------------------------------------------

    #[test]
    fn defined_undefined_none_tests() {
        assert_eq!(j("undefined_var is defined"), "false");
        assert_eq!(j("undefined_var is undefined"), "true");
        assert_eq!(j("d1.nope is defined"), "false");
        assert_eq!(j("d1.a is defined"), "true");
        assert_eq!(j("none is none"), "true");
        assert_eq!(j("undefined_var is none"), "false");
    }

    #[test]
    fn result_tests() {
        for (expr, want) in [
            ("res_ok is succeeded", "true"),
            ("res_ok is success", "true"),
            ("res_ok is successful", "true"),
            ("res_ok is failed", "false"),
            ("res_fail is failed", "true"),
            ("res_fail is failure", "true"),
            ("res_fail is succeeded", "false"),
            ("res_fail is changed", "true"),
            ("res_fail is change", "true"),
            ("res_ok is changed", "false"),
            ("res_skip is skipped", "true"),
            ("res_skip is skip", "true"),
            ("res_ok is skipped", "false"),
            ("res_rc is failed", "false"),
            ("res_loop is changed", "true"),
            ("res_ok is reachable", "true"),
            ("res_ok is unreachable", "false"),
        ] {
            assert_eq!(j(expr), want, "{expr}");
        }
        assert_err("'x' is failed", "the 'failed' test expects a dictionary");
    }

    #[test]
    fn match_search_regex_tests() {
        for (expr, want) in [
            ("'abc' is match('b')", "false"),
            ("'abc' is match('a')", "true"),
            ("'abc' is search('b')", "true"),
            ("'ABC' is search('b', ignorecase=true)", "true"),
            ("'abc' is regex('c$')", "true"),
            ("'abc' is regex('^b', match_type='match')", "false"),
            ("'abc' is regex('a|ab', match_type='fullmatch')", "false"),
            ("'ab' is regex('a|ab', match_type='fullmatch')", "true"),
            ("'a\\nb' is search('^b', multiline=true)", "true"),
            ("'a\\nb' is search('^b')", "false"),
        ] {
            assert_eq!(j(expr), want, "{expr}");
        }
        assert_err("'abc' is match('(')", "match: invalid pattern '('");
    }

    #[test]
    fn version_tests_loose_strict_semver() {
        for (expr, want) in [
            ("'1.10' is version('1.9', '>')", "true"),
            ("'15' is version('9.6', '>')", "true"),
            ("'9.6' is version('15', 'lt')", "true"),
            ("'1.0.0' is version('1.0', '==')", "false"),
            ("'1.0' is version('1.0.0', '<')", "true"),
            ("'2.1-rc1' is version('2.1', '>')", "true"),
            ("'1.2.3' is version_compare('1.2.4', 'lt')", "true"),
            ("'1.2.3' is version('1.2.4', operator='lt')", "true"),
            ("'1.2.3' is version('1.2.3')", "true"),
            ("'1.2.3' is version('1.2.3', '=')", "true"),
            ("'1.2.3' is version('1.2.3', '!=')", "false"),
            ("'1.2.3' is version('1.2.4', '<>')", "true"),
            ("'1.2.3' is version('1.2.3', 'ge')", "true"),
            ("'1.2.3' is version('1.2.3', 'le')", "true"),
            ("'1.2.3' is version('1.2.3', 'eq', strict=true)", "true"),
            ("'1.2' is version('1.2b3', '>', strict=true)", "true"),
            (
                "'1.2.3-beta' is version('1.2.3', 'lt', version_type='semver')",
                "true",
            ),
            (
                "'1.0.0-alpha.1' is version('1.0.0-alpha.beta', '<', version_type='semver')",
                "true",
            ),
            ("9.6 is version('10', '<')", "true"),
            ("'RC1' is version('rc1', '<')", "true"),
            ("'007' is version('7', '==')", "true"),
        ] {
            assert_eq!(j(expr), want, "{expr}");
        }
        assert_err(
            "'1.a' is version('1.2', '<')",
            "version: cannot compare '1.a' with '1.2'",
        );
        assert_err("'1.a' is version('1.2', '==')", "cannot compare");
        assert_err("'1.0' is version('1.0', 'foo')", "invalid operator 'foo'");
        assert_err(
            "'' is version('1.0', '==')",
            "input version value cannot be empty",
        );
        assert_err(
            "'1.0' is version('', '==')",
            "version parameter to compare against cannot be empty",
        );
        assert_err(
            "'1' is version('1.0', '==', strict=true)",
            "invalid version number '1'",
        );
        assert_err(
            "'1.0' is version('1.0', version_type='pep440')",
            "'pep440' is not supported",
        );
    }

    #[test]
    fn type_tests() {
        for (expr, want) in [
            ("'abc' is sequence", "true"),
            ("{'a': 1} is sequence", "true"),
            ("[1] is sequence", "true"),
            ("5 is sequence", "false"),
            ("none is sequence", "false"),
            ("'abc' is iterable", "true"),
            ("{'a':1} is iterable", "true"),
            ("5 is iterable", "false"),
            ("none is iterable", "false"),
            ("true is number", "true"),
            ("1.5 is number", "true"),
            ("'1' is number", "false"),
            ("'x' is string", "true"),
            ("1 is string", "false"),
            ("{} is mapping", "true"),
            ("[] is mapping", "false"),
        ] {
            assert_eq!(j(expr), want, "{expr}");
        }
        assert!(try_render("{{ undefined_var is sequence }}").is_err());
    }

    #[test]
    fn truthy_falsy_tests() {
        for (expr, want) in [
            ("'yes' is truthy", "true"),
            ("'no' is truthy", "true"),
            ("'no' is truthy(convert_bool=true)", "false"),
            ("'no' is falsy(convert_bool=true)", "true"),
            ("[] is falsy", "true"),
            ("'maybe' is truthy(convert_bool=true)", "true"),
            ("0 is falsy", "true"),
        ] {
            assert_eq!(j(expr), want, "{expr}");
        }
    }

    #[test]
    fn contains_in_subset_superset_tests() {
        for (expr, want) in [
            ("[1,2] is contains(2)", "true"),
            ("'abc' is contains('b')", "true"),
            ("{'a':1} is contains('a')", "true"),
            ("[1,2] is contains(3)", "false"),
            ("2 in [1,2]", "true"),
            ("2 is in([1,2])", "true"),
            ("'b' is in('abc')", "true"),
            ("[1,2] is subset([1,2,3])", "true"),
            ("[1,2,3] is superset([1,2])", "true"),
            ("[1,4] is subset([1,2,3])", "false"),
            ("[1,2] is issubset([2,1])", "true"),
        ] {
            assert_eq!(j(expr), want, "{expr}");
        }
        assert_eq!(
            j(
                "users|selectattr('groups', 'defined')|selectattr('groups', 'contains', 'wheel')|map(attribute='name')|list"
            ),
            r#"["bob"]"#
        );
    }

    #[test]
    fn abs_any_all_nan_tests() {
        assert_eq!(j("'/etc' is abs"), "true");
        assert_eq!(j("'etc' is abs"), "false");
        assert_eq!(j("[true, false] is any"), "true");
        assert_eq!(j("[true, false] is all"), "false");
        assert_eq!(j("('nan'|float) is nan"), "true");
        assert_eq!(j("1.5 is nan"), "false");
    }

    #[test]
    fn abs_filter_builtin() {
        assert_eq!(r("-3|abs"), "3");
        assert_eq!(r("-1.5|abs"), "1.5");
    }

    // --- helpers ------------------------------------------------------------------

    #[test]
    fn py_float_repr_matches_python() {
        for (f, want) in [
            (1.0, "1.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (123456789.123, "123456789.123"),
            (1.5e300, "1.5e+300"),
            (-0.0, "-0.0"),
        ] {
            assert_eq!(py_float_repr(f), want, "{f}");
        }
    }

    #[test]
    fn translate_py_pattern_cases() {
        assert_eq!(translate_py_pattern(r"a\Z"), r"a\z");
        assert_eq!(translate_py_pattern("{a}"), r"\{a\}");
        assert_eq!(translate_py_pattern("a{2,3}"), "a{2,3}");
        assert_eq!(translate_py_pattern("a{,3}"), "a{0,3}");
        assert_eq!(translate_py_pattern("[]a[]"), r"[\]a\[]");
        assert_eq!(translate_py_pattern("[a&&b]"), r"[a\&\&b]");
    }
}
