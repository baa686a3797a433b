//! Defaults and conversions: `default`, `mandatory`, `ternary`, `bool`, `int`, `float`, `type_debug`.

use std::sync::OnceLock;

use ::regex::Regex;

use super::*;

/// `default(default_value='', boolean=false)`, Jinja2/Ansible semantics.
pub(super) fn default_filter(value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
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
pub(super) fn mandatory(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
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
pub(super) fn ternary(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
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
pub(super) fn bool_filter(state: &State, value: &Value) -> Res<bool> {
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

pub(super) fn py_is_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// An integer value, stored as `i64` where it fits.
fn int_value(n: i128) -> Value {
    i64::try_from(n).map_or_else(|_| Value::from(n), Value::from)
}

/// Jinja2's `int(default=0, base=10)`: unconvertible values give `default`.
pub(super) fn int_filter(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
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
pub(super) fn float_filter(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
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
pub(super) fn type_debug(value: &Value) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

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
}
