//! ansible-core 2.19's type checkers (module_utils/common/validation.py `check_type_*`) and the
//! Python views of values its messages print (`str()`, `repr()`, type and class names).

use serde_json::{Map, Value};

pub use crate::compat::py::py_type;

/// `repr()` of a value.
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::String(s) => {
            if s.contains('\'') && !s.contains('"') {
                format!("\"{s}\"")
            } else {
                format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
            }
        }
        other => py_str(other),
    }
}

/// `str()` of a value.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => crate::compat::py::py_float_repr(f),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}: {}", py_repr(&Value::String(k.clone())), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The class name of a value as ansible-core 2.19 holds it: what comes from the playbook is a
/// tagged subclass (`_AnsibleTaggedStr`), which its messages show; bools and None cannot be.
pub(super) fn tagged_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "_AnsibleTaggedFloat",
        Value::Number(_) => "_AnsibleTaggedInt",
        Value::String(_) => "_AnsibleTaggedStr",
        Value::Array(_) => "_AnsibleTaggedList",
        Value::Object(_) => "_AnsibleTaggedDict",
    }
}

/// `type(value)` in a message.
pub(super) fn class(v: &Value) -> String {
    match v {
        Value::Null | Value::Bool(_) => format!("<class '{}'>", py_type(v)),
        _ => format!(
            "<class 'ansible.module_utils._internal._datatag.{}'>",
            tagged_name(v)
        ),
    }
}

/// Python's `==` between JSON values (`1 == 1.0 == True`).
pub(super) fn py_eq(a: &Value, b: &Value) -> bool {
    let num = |v: &Value| match v {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Number(n) => n.as_f64(),
        _ => None,
    };
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

pub(super) const BOOLEANS_TRUE: &[&str] = &["y", "yes", "on", "1", "true", "t"];
pub(super) const BOOLEANS_FALSE: &[&str] = &["n", "no", "off", "0", "false", "f"];

/// `boolean()` of convert_bool.py.
pub(super) fn boolean(v: &Value) -> Result<bool, String> {
    let t = match v {
        Value::Bool(b) => return Ok(*b),
        Value::String(s) => s.trim().to_lowercase(),
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => return Ok(true),
            Some(0.0) => return Ok(false),
            _ => String::new(),
        },
        _ => String::new(),
    };
    if BOOLEANS_TRUE.contains(&t.as_str()) {
        return Ok(true);
    }
    if BOOLEANS_FALSE.contains(&t.as_str()) {
        return Ok(false);
    }
    // Python's frozenset: 1.0 and True fold into 1 (0.0 and False into 0); its order is the
    // hash order, random per process for the strings.
    let all: Vec<String> = BOOLEANS_TRUE
        .iter()
        .chain(BOOLEANS_FALSE)
        .map(|s| format!("'{s}'"))
        .chain(["1", "0"].map(String::from))
        .collect();
    Err(format!(
        "The value '{}' is not a valid boolean. Valid booleans include: {}",
        py_str(v),
        all.join(", ")
    ))
}

/// Python's `int(Decimal(text))` when the text holds a whole number.
pub(super) fn decimal_int(s: &str) -> Option<Value> {
    let t = s.trim().replace('_', "");
    if let Ok(i) = t.parse::<i64>() {
        return Some(Value::from(i));
    }
    let f: f64 = t.parse().ok().filter(|f: &f64| f.is_finite())?;
    (f.fract() == 0.0 && f.abs() < 9.0e15).then(|| Value::from(f as i64))
}

/// `human_to_bytes` of module_utils/common/text/formatters.py, for `bytes` and `bits`: a number
/// (of the text `str()` gives) and an optional unit (`K`, `KB`/`Kb`, `kilobyte`/`kilobit`).
pub(super) fn human_to_bytes(v: &Value, bits: bool) -> Option<Value> {
    const UNITS: &[(char, u32, &str, &str)] = &[
        ('B', 0, "byte", "bit"),
        ('K', 10, "kilobyte", "kilobit"),
        ('M', 20, "megabyte", "megabit"),
        ('G', 30, "gigabyte", "gigabit"),
        ('T', 40, "terabyte", "terabit"),
        ('P', 50, "petabyte", "petabit"),
        ('E', 60, "exabyte", "exabit"),
    ];
    let text = py_str(v);
    let t = text.trim_end();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = (&t[..split], t[split..].trim_start());
    if num.is_empty() || num.ends_with('.') || num.matches('.').count() > 1 {
        return None;
    }
    let num: f64 = num.parse().ok()?;
    if unit.is_empty() {
        return Some(Value::from(num.round() as i64));
    }
    if !unit.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let key = unit.chars().next()?.to_ascii_uppercase();
    let &(_, shift, byte_word, bit_word) = UNITS.iter().find(|u| u.0 == key)?;
    if unit.chars().count() > 1 {
        let (word, short) = match bits {
            false => (byte_word, format!("{key}B")),
            true => (bit_word, format!("{key}b")),
        };
        let short = if key == 'B' {
            (if bits { "b" } else { "B" }).to_string()
        } else {
            short
        };
        if unit.to_lowercase() != word && unit != short {
            return None;
        }
    }
    Some(Value::from(
        (num * f64::from(2u32).powi(shift as i32)).round() as i64,
    ))
}

/// The type checkers of `DEFAULT_TYPE_VALIDATORS`: the converted value or the reason.
pub(super) fn convert(wanted: &str, v: &Value) -> Result<Value, String> {
    match wanted {
        "str" | "path" => Ok(match v {
            Value::String(_) => v.clone(),
            Value::Null => Value::String(String::new()),
            other => Value::String(py_str(other)),
        }),
        "list" => match v {
            Value::Array(_) => Ok(v.clone()),
            Value::String(s) => Ok(Value::Array(
                s.split(',').map(|p| Value::String(p.into())).collect(),
            )),
            Value::Number(_) | Value::Bool(_) => Ok(Value::Array(vec![Value::String(py_str(v))])),
            other => Err(format!("{} cannot be converted to a list", class(other))),
        },
        "dict" => match v {
            Value::Object(_) => Ok(v.clone()),
            Value::String(s) if s.starts_with('{') => match serde_json::from_str::<Value>(s) {
                Ok(d @ Value::Object(_)) => Ok(d),
                _ => Err("unable to evaluate string as dictionary".into()),
            },
            Value::String(s) if s.contains('=') => kv_dict(s),
            Value::String(_) => {
                Err("dictionary requested, could not parse JSON or key=value".into())
            }
            other => Err(format!("{} cannot be converted to a dict", class(other))),
        },
        "bool" => match v {
            Value::Bool(_) | Value::String(_) | Value::Number(_) => boolean(v).map(Value::Bool),
            other => Err(format!("{} cannot be converted to a bool", class(other))),
        },
        "int" => match v {
            Value::Number(n) if !n.is_f64() => Ok(v.clone()),
            Value::Bool(_) => Ok(v.clone()),
            Value::Number(n) => n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.is_finite())
                .map(|f| Value::from(f as i64))
                .ok_or_else(|| format!("\"{}\" cannot be converted to an int", py_repr(v))),
            Value::String(s) => decimal_int(s)
                .ok_or_else(|| format!("\"{}\" cannot be converted to an int", py_repr(v))),
            other => Err(format!(
                "\"{}\" cannot be converted to an int",
                py_repr(other)
            )),
        },
        "float" => {
            let f = match v {
                Value::Number(n) => n.as_f64(),
                Value::Bool(b) => Some(f64::from(u8::from(*b))),
                Value::String(s) => py_float(s),
                _ => None,
            };
            f.and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("{} cannot be converted to a float", class(v)))
        }
        "raw" => Ok(v.clone()),
        "json" | "jsonarg" => match v {
            Value::String(s) => Ok(Value::String(s.trim().into())),
            Value::Array(_) | Value::Object(_) => Ok(Value::String(v.to_string())),
            other => Err(format!(
                "{} cannot be converted to a json string",
                class(other)
            )),
        },
        "bytes" => human_to_bytes(v, false)
            .ok_or_else(|| format!("{} cannot be converted to a Byte value", class(v))),
        "bits" => human_to_bytes(v, true)
            .ok_or_else(|| format!("{} cannot be converted to a Bit value", class(v))),
        // A type Ansible has no checker for fails when a value is given (refused at plan time
        // for role specs).
        _ => Err("'NoneType' object is not callable".into()),
    }
}

/// Python's `float(text)`.
pub(super) fn py_float(s: &str) -> Option<f64> {
    let t = s.trim().replace('_', "").to_lowercase();
    match t.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => t
            .parse()
            .ok()
            .filter(|f: &f64| !f.is_nan() || t.contains("nan")),
    }
}

/// `k1=v1, k2=v2` or `k1=v1 k2=v2` as check_type_dict splits it.
pub(super) fn kv_dict(s: &str) -> Result<Value, String> {
    let mut fields = Vec::new();
    let mut buf = String::new();
    let mut quote: Option<char> = None;
    let mut escape = false;
    for c in s.trim().chars() {
        if escape {
            buf.push(c);
            escape = false;
        } else if c == '\\' {
            escape = true;
        } else if quote.is_none() && (c == '\'' || c == '"') {
            quote = Some(c);
        } else if quote == Some(c) {
            quote = None;
        } else if quote.is_none() && (c == ',' || c == ' ') {
            if !buf.is_empty() {
                fields.push(std::mem::take(&mut buf));
            }
        } else {
            buf.push(c);
        }
    }
    if !buf.is_empty() {
        fields.push(buf);
    }
    let mut out = Map::new();
    for f in fields {
        let Some((k, v)) = f.split_once('=') else {
            return Err(
                "unable to evaluate string in the \"key=value\" format as dictionary".into(),
            );
        };
        out.insert(k.into(), Value::String(v.into()));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bytes_and_bits_as_human_to_bytes() {
        let b = |v: Value, bits| human_to_bytes(&v, bits);
        assert_eq!(b(json!("2K"), false), Some(json!(2048)));
        assert_eq!(b(json!("1 MB"), false), Some(json!(1_048_576)));
        assert_eq!(b(json!("1Mb"), false), None);
        assert_eq!(b(json!("1Mb"), true), Some(json!(1_048_576)));
        assert_eq!(b(json!("3 kilobytes"), false), None);
        assert_eq!(b(json!(10), false), Some(json!(10)));
        assert_eq!(b(json!("x"), false), None);
    }
}
