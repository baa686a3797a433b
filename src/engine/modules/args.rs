//! Ansible's loose argument types for typed module structs (`#[serde(deserialize_with = …)]`):
//! Ansible converts `"yes"` to a boolean, `"5"` to an integer, `"a,b"` to a list and `0644`
//! (YAML's integer 420) to a mode, so playbooks written for it rely on that. Each helper takes
//! the value as JSON first and says what it wanted and what it got; `null` (a key with no value)
//! is the same as leaving the argument out.

use serde::Deserialize;
use serde::de::{Deserializer, Error};
use serde_json::Value;

/// `yes`/`no`, `true`/`false`, `on`/`off`, `1`/`0`, booleans and numbers.
pub fn bool_loose<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => super::parse_bool(&v)
            .map(Some)
            .ok_or_else(|| D::Error::custom(wanted("a boolean (yes/no, true/false)", &v))),
    }
}

/// An integer, also written as text (`"5432"`, what a template gives).
pub fn int_loose<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| D::Error::custom(wanted("an integer", &Value::Number(n)))),
        Value::String(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom(wanted("an integer", &Value::String(s)))),
        v => Err(D::Error::custom(wanted("an integer", &v))),
    }
}

/// Text; numbers and booleans are taken as their text (`name: 2024` is the name "2024").
pub fn string_loose<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        v => Err(D::Error::custom(wanted("a string", &v))),
    }
}

/// A required argument's text (see [`string_loose`]); an empty value counts as missing.
pub fn string_required<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match string_loose(d)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(D::Error::custom("a required argument is empty")),
    }
}

/// A list of strings, or one comma-separated string (`privs: CONNECT,TEMPORARY`).
pub fn list_loose<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(s
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect()),
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => Ok(s),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(D::Error::custom(wanted("a list of strings", &other))),
            })
            .collect(),
        v => Err(D::Error::custom(wanted(
            "a list or a comma-separated string",
            &v,
        ))),
    }
}

/// A file mode as four octal digits (`0644`; YAML's unquoted `0644` arrives as the integer
/// 420), or a symbolic mode (`u=rw,g=r`) kept as written.
pub fn mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    const WANT: &str = "an octal mode such as '0644' or symbolic like 'u=rw,g=r'";
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_u64() {
            Some(m) if m <= 0o7777 => Ok(Some(format!("{m:04o}"))),
            _ => Err(D::Error::custom(wanted(WANT, &Value::Number(n)))),
        },
        Value::String(s) => {
            let t = s.trim();
            let digits = t.trim_start_matches("0o");
            if !digits.is_empty()
                && digits.len() <= 4
                && digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
            {
                let m = u32::from_str_radix(digits, 8).map_err(D::Error::custom)?;
                Ok(Some(format!("{m:04o}")))
            } else if !t.is_empty() && t.bytes().all(|b| b"ugoa+-=rwxXst,".contains(&b)) {
                Ok(Some(t.to_string()))
            } else {
                Err(D::Error::custom(wanted(WANT, &Value::String(s))))
            }
        }
        v => Err(D::Error::custom(wanted(WANT, &v))),
    }
}

/// "expected …, got …" with long text cut (it may be a templated secret or a whole file).
fn wanted(want: &str, got: &Value) -> String {
    let shown = match got {
        Value::String(s) if s.chars().count() > 60 => {
            format!("{:?}…", s.chars().take(60).collect::<String>())
        }
        other => other.to_string(),
    };
    format!("expected {want}, got {shown}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Loose {
        #[serde(default, deserialize_with = "bool_loose")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "int_loose")]
        i: Option<i64>,
        #[serde(default, deserialize_with = "string_loose")]
        s: Option<String>,
        #[serde(default, deserialize_with = "list_loose")]
        l: Vec<String>,
        #[serde(default, deserialize_with = "mode")]
        m: Option<String>,
    }

    fn parse(json: &str) -> Result<Loose, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn ansible_loose_values_are_accepted() {
        let l = parse(r#"{"b": "yes", "i": " 5 ", "s": 2024, "l": "a, b,,c", "m": 420}"#)
            .expect("loose values");
        assert_eq!(l.b, Some(true));
        assert_eq!(l.i, Some(5));
        assert_eq!(l.s.as_deref(), Some("2024"));
        assert_eq!(l.l, ["a", "b", "c"]);
        assert_eq!(l.m.as_deref(), Some("0644"));
        let l = parse(r#"{"b": "off", "i": 7.0, "l": ["x", 3], "m": "u=rw,g=r"}"#).expect("more");
        assert_eq!((l.b, l.i), (Some(false), Some(7)));
        assert_eq!(l.l, ["x", "3"]);
        assert_eq!(l.m.as_deref(), Some("u=rw,g=r"));
        let l = parse(r#"{"b": null, "i": null, "s": null, "l": null, "m": null}"#).expect("nulls");
        assert_eq!((l.b, l.i, l.s, l.l.len(), l.m), (None, None, None, 0, None));
    }

    #[test]
    fn wrong_values_say_what_was_wanted() {
        for (json, want) in [
            (
                r#"{"b": "maybe"}"#,
                "expected a boolean (yes/no, true/false), got \"maybe\"",
            ),
            (r#"{"i": "five"}"#, "expected an integer, got \"five\""),
            (r#"{"i": 1.5}"#, "expected an integer, got 1.5"),
            (r#"{"s": [1]}"#, "expected a string, got [1]"),
            (
                r#"{"l": {"a": 1}}"#,
                "expected a list or a comma-separated string",
            ),
            (r#"{"m": "0999"}"#, "expected an octal mode"),
        ] {
            let err = parse(json).expect_err(json);
            assert!(err.contains(want), "{json}: {err}");
        }
    }
}
