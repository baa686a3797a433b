//! Ansible's loose argument types for the modules' serde structs, in one place: booleans written
//! yes/no/on/1, integers written as strings, file modes as `0644` or the integer YAML makes of it,
//! lists as comma-separated text. Use with `#[serde(default, deserialize_with = "args::…")]`.

use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::Value;

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() > 60 => {
            format!("{:?}…", s.chars().take(60).collect::<String>())
        }
        other => other.to_string(),
    }
}

fn bad<E: de::Error>(want: &str, got: &Value) -> E {
    E::custom(format!("must be {want}, got {}", shown(got)))
}

/// A string argument with a fixed set of values: the value, or the first valid one when absent
/// (Ansible's default); anything else names the module, the argument and what would be valid.
pub fn choice<'a>(
    module: &str,
    arg: &str,
    value: Option<&'a str>,
    valid: &[&'a str],
) -> Result<&'a str, super::ModuleError> {
    let first = valid.first().copied().unwrap_or_default();
    match value {
        None => Ok(first),
        Some(v) if valid.contains(&v) => Ok(v),
        Some(v) => Err(super::ModuleError::Args(format!(
            "{module}: argument '{arg}' is {v:?}; valid: {}",
            valid.join(", ")
        ))),
    }
}

/// yes/no, true/false, on/off, 1/0 (Ansible's booleans).
pub fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_f64().unwrap_or(0.0) != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" | "y" | "t" => Some(true),
            "no" | "false" | "off" | "0" | "n" | "f" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => parse_bool(&v)
            .map(Some)
            .ok_or_else(|| bad("a boolean (yes/no, true/false)", &v)),
    }
}

/// A string; numbers and booleans are taken as their text (YAML makes `5432` a number).
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err(bad("a string", &other)),
    }
}

/// [`opt_string`] for a required argument.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    opt_string(d)?.ok_or_else(|| <D::Error as de::Error>::custom("must be a string, got null"))
}

/// An integer, also written as a string (`"30"`).
pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| bad("an integer", &Value::Number(n))),
        Value::String(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| bad("an integer", &Value::String(s))),
        other => Err(bad("an integer", &other)),
    }
}

/// A list of strings, or one comma-separated string.
pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
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
                other => Err(bad("a list of strings", &other)),
            })
            .collect(),
        other => Err(bad("a list or a comma-separated string", &other)),
    }
}

/// A file mode as octal text (`0644`); YAML's `0644` arrives as the integer 420. Symbolic modes
/// (`u=rw,g=r`) are kept as written.
pub fn opt_mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_u64() {
            Some(m) if m <= 0o7777 => Ok(Some(format!("{m:04o}"))),
            _ => Err(bad("an octal mode such as '0644'", &Value::Number(n))),
        },
        Value::String(s) => {
            let t = s.trim();
            let digits = t.trim_start_matches("0o");
            if !digits.is_empty()
                && digits.len() <= 4
                && digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
            {
                let m = u32::from_str_radix(digits, 8).unwrap_or(0);
                Ok(Some(format!("{m:04o}")))
            } else if !t.is_empty() && t.bytes().all(|b| b"ugoa+-=rwxXst,".contains(&b)) {
                Ok(Some(t.to_string()))
            } else {
                Err(bad(
                    "an octal mode such as '0644' or symbolic like 'u=rw,g=r'",
                    &Value::String(s),
                ))
            }
        }
        other => Err(bad("an octal mode such as '0644'", &other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct T {
        #[serde(default, deserialize_with = "opt_bool")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "opt_int")]
        i: Option<i64>,
        #[serde(default, deserialize_with = "opt_mode")]
        m: Option<String>,
        #[serde(default, deserialize_with = "list")]
        l: Vec<String>,
    }

    fn t(v: serde_json::Value) -> Result<T, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn choice_defaults_to_the_first_and_names_the_valid_values() {
        let valid = ["present", "absent"];
        assert_eq!(choice("cron", "state", None, &valid).ok(), Some("present"));
        assert_eq!(
            choice("cron", "state", Some("absent"), &valid).ok(),
            Some("absent")
        );
        let e = choice("cron", "state", Some("gone"), &valid).expect_err("not valid");
        assert_eq!(
            e.to_string(),
            "cron: argument 'state' is \"gone\"; valid: present, absent"
        );
    }

    #[test]
    fn loose_types() {
        let x = t(serde_json::json!({"b": "yes", "i": "30", "m": 420, "l": "a, b"})).unwrap();
        assert_eq!(x.b, Some(true));
        assert_eq!(x.i, Some(30));
        assert_eq!(x.m.as_deref(), Some("0644"));
        assert_eq!(x.l, ["a", "b"]);
        assert_eq!(
            t(serde_json::json!({"m": "0755"})).unwrap().m.as_deref(),
            Some("0755")
        );
        let e = t(serde_json::json!({"b": "maybe"})).unwrap_err();
        assert!(e.contains("must be a boolean"), "{e}");
        let e = t(serde_json::json!({"m": "rwxrwxrwx9"})).unwrap_err();
        assert!(e.contains("octal mode"), "{e}");
    }
}
