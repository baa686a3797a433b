//! Checking one answer against its question and converting it to the question's type.

use super::*;

/// Checks an answer and converts it to the question's type: text from `-e k=v` or a form field
/// becomes an integer, a float, a boolean or a list as the question says. `Null` (and, except for
/// text, an empty string) means "no answer": an error if the question is required, else `Null`.
/// The message says what is wrong and what would be valid; for secret questions it never
/// contains the value.
pub fn validate(q: &Question, value: &Value) -> Result<Value, String> {
    let empty = match value {
        Value::Null => true,
        Value::String(s) => s.is_empty() && !q.kind.is_text(),
        _ => false,
    };
    if empty {
        return if q.required {
            Err(format!("a value is required; expected {}", q.expected()))
        } else {
            Ok(Value::Null)
        };
    }
    check(q, value).map_err(|problem| format!("{problem}; expected {}", q.expected()))
}

/// What the value is, for messages; secrets are described, not shown.
fn shown(q: &Question, v: &Value) -> String {
    if q.secret {
        "the value".to_string()
    } else {
        show(v)
    }
}

fn check(q: &Question, value: &Value) -> Result<Value, String> {
    match q.kind {
        QuestionType::Text | QuestionType::Textarea | QuestionType::Password => {
            let s = scalar_text(value).ok_or_else(|| format!("{} is not text", type_of(value)))?;
            if q.required && s.is_empty() {
                return Err("a value is required".into());
            }
            check_text(q, &s, &shown(q, value))?;
            Ok(Value::String(s))
        }
        QuestionType::Integer => {
            let i = match value {
                Value::Number(n) => n
                    .as_i64()
                    .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| format!("{} is not an integer", shown(q, value)))?;
            if q.format == Some(Format::Port) && !(1..=65535).contains(&i) {
                return Err(format!("{i} is not a port number"));
            }
            check_bounds(q, i as f64, &i.to_string())?;
            Ok(Value::from(i))
        }
        QuestionType::Float => {
            let f = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            }
            .filter(|f| f.is_finite())
            .ok_or_else(|| format!("{} is not a number", shown(q, value)))?;
            check_bounds(q, f, &num(f))?;
            Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| "not a finite number".to_string())
        }
        QuestionType::Boolean => match value {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::Number(n) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                Ok(Value::Bool(n.as_i64() == Some(1)))
            }
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" | "y" => Ok(Value::Bool(true)),
                "false" | "no" | "off" | "0" | "n" => Ok(Value::Bool(false)),
                _ => Err(format!("{} is not a boolean", shown(q, value))),
            },
            _ => Err(format!("{} is not a boolean", type_of(value))),
        },
        QuestionType::MultipleChoice => {
            let s = scalar_text(value)
                .ok_or_else(|| format!("{} is not one of the choices", type_of(value)))?;
            if !q.choices.contains(&s) {
                return Err(format!("{} is not one of the choices", shown(q, value)));
            }
            Ok(Value::String(s))
        }
        QuestionType::MultiSelect => {
            let items = list_items(value)?;
            let mut out = Vec::new();
            for item in &items {
                let s = scalar_text(item)
                    .ok_or_else(|| format!("{} is not one of the choices", type_of(item)))?;
                if !q.choices.contains(&s) {
                    return Err(format!("{} is not one of the choices", show(item)));
                }
                out.push(Value::String(s));
            }
            check_count(q, out.len())?;
            Ok(Value::Array(out))
        }
        QuestionType::List => {
            let items = list_items(value)?;
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let s = scalar_text(item)
                    .ok_or_else(|| format!("item {} is {}, not text", i + 1, type_of(item)))?;
                let what = if q.secret {
                    format!("item {}", i + 1)
                } else {
                    format!("item {} ({})", i + 1, show(item))
                };
                check_text_format(q, &s, &what)?;
                out.push(Value::String(s));
            }
            check_count(q, out.len())?;
            Ok(Value::Array(out))
        }
    }
}

/// The first item of a list answer that fails its question on its own (not text, not of the
/// format, not matching the pattern, not one of the choices), to point at it; `None` when the list
/// is wrong only as a whole (too few or too many items) or the question takes no list.
pub fn bad_item(q: &Question, items: &[Value]) -> Option<usize> {
    items.iter().position(|item| {
        let text = scalar_text(item);
        match q.kind {
            QuestionType::List => text.is_none_or(|s| check_text_format(q, &s, "").is_err()),
            QuestionType::MultiSelect => text.is_none_or(|s| !q.choices.contains(&s)),
            _ => false,
        }
    })
}

/// Strings and numbers as text.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A list answer: a list, a YAML/JSON flow list as text (`[a, b]`), or text separated by commas
/// or new lines.
fn list_items(value: &Value) -> Result<Vec<Value>, String> {
    match value {
        Value::Array(items) => Ok(items.clone()),
        Value::String(s) if s.trim_start().starts_with('[') => {
            let node = yaml::parse(s, Path::new("<answer>"))
                .map_err(|e| format!("not a valid list: {}", e.msg))?;
            match node.to_json_plain() {
                Ok(Value::Array(items)) => Ok(items),
                _ => Err("not a valid list".into()),
            }
        }
        Value::String(s) => Ok(s
            .split([',', '\n'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| Value::String(t.to_string()))
            .collect()),
        other => Err(format!("{} is not a list", type_of(other))),
    }
}

fn check_text(q: &Question, s: &str, what: &str) -> Result<(), String> {
    if s.is_empty() && !q.required {
        return Ok(());
    }
    let len = s.chars().count();
    let bounds = |limit: f64| num(limit);
    if let Some(lo) = q.min
        && (len as f64) < lo
    {
        return Err(format!(
            "{what} is {len} characters long, shorter than the minimum {}",
            bounds(lo)
        ));
    }
    if let Some(hi) = q.max
        && (len as f64) > hi
    {
        return Err(format!(
            "{what} is {len} characters long, longer than the maximum {}",
            bounds(hi)
        ));
    }
    check_text_format(q, s, what)
}

fn check_text_format(q: &Question, s: &str, what: &str) -> Result<(), String> {
    if let Some(f) = q.format
        && !f.check(s)
    {
        return Err(format!("{what} is not {}", f.describe()));
    }
    if let Some(p) = &q.pattern
        && !p.is_match(s)
    {
        return Err(match &q.pattern_hint {
            Some(_) => format!("{what} is not allowed here"),
            None => format!("{what} does not match {}", p.as_str()),
        });
    }
    Ok(())
}

fn check_bounds(q: &Question, v: f64, shown: &str) -> Result<(), String> {
    if let Some(lo) = q.min
        && v < lo
    {
        return Err(format!("{shown} is below the minimum {}", num(lo)));
    }
    if let Some(hi) = q.max
        && v > hi
    {
        return Err(format!("{shown} is above the maximum {}", num(hi)));
    }
    Ok(())
}

fn check_count(q: &Question, n: usize) -> Result<(), String> {
    if q.required && n == 0 {
        return Err("at least one item is required".into());
    }
    if let Some(lo) = q.min
        && (n as f64) < lo
    {
        return Err(format!("{n} items are fewer than the minimum {}", num(lo)));
    }
    if let Some(hi) = q.max
        && (n as f64) > hi
    {
        return Err(format!("{n} items are more than the maximum {}", num(hi)));
    }
    Ok(())
}
