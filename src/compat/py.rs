//! Python's view of template values where Ansible's output depends on it: `repr(float)`,
//! `sorted()` of mapping keys, and the kind names error messages use.

use minijinja::Error;
use minijinja::value::{Value, ValueKind};

/// Python's type name of a JSON value (`native_type_name`), for messages that name it as Ansible's do.
pub fn py_type(v: &serde_json::Value) -> &'static str {
    use serde_json::Value as J;
    match v {
        J::Null => "NoneType",
        J::Bool(_) => "bool",
        J::Number(n) if n.is_f64() => "float",
        J::Number(_) => "int",
        J::String(_) => "str",
        J::Array(_) => "list",
        J::Object(_) => "dict",
    }
}

/// The kind of a value, as error messages name it.
pub fn kind_name(value: &Value) -> &'static str {
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

/// The `(key, value)` pairs of a mapping in their order.
pub fn map_pairs(value: &Value) -> Result<Vec<(Value, Value)>, Error> {
    let mut rv = Vec::new();
    for key in value.try_iter()? {
        let item = value.get_item(&key)?;
        rv.push((key, item));
    }
    Ok(rv)
}

/// Python's `repr(float)`.
pub fn py_float_repr(f: f64) -> String {
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

/// Sorts mapping pairs like Python's `sorted()` on their keys; keys of
/// different types cannot be ordered.
pub fn py_sort_pairs(pairs: &mut [(Value, Value)]) -> Result<(), String> {
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

/// `str(datetime)`: microseconds only when there are some, as Python prints them.
pub fn py_datetime<Tz: chrono::TimeZone>(t: &chrono::DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let micros = t.timestamp_subsec_micros();
    let base = t.format("%Y-%m-%d %H:%M:%S").to_string();
    if micros == 0 {
        base
    } else {
        format!("{base}.{micros:06}")
    }
}

/// `str(timedelta)` of a non-negative duration: `H:MM:SS[.ffffff]`, with `N day(s), ` before.
pub fn py_timedelta(d: chrono::TimeDelta) -> String {
    let micros = d.num_microseconds().unwrap_or(i64::MAX).max(0);
    let (secs, frac) = (micros / 1_000_000, micros % 1_000_000);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let clock = format!("{}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60);
    let clock = if frac == 0 {
        clock
    } else {
        format!("{clock}.{frac:06}")
    };
    match days {
        0 => clock,
        1 => format!("1 day, {clock}"),
        n => format!("{n} days, {clock}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn datetimes_and_deltas_print_as_python_str() {
        use chrono::TimeZone;
        let t = chrono::Utc
            .with_ymd_and_hms(2026, 12, 6, 23, 25, 7)
            .single()
            .expect("valid");
        assert_eq!(py_datetime(&t), "2026-12-06 23:25:07");
        let t2 = t + chrono::TimeDelta::microseconds(10_236);
        assert_eq!(py_datetime(&t2), "2026-12-06 23:25:07.010236");
        assert_eq!(py_timedelta(t2 - t), "0:00:00.010236");
        assert_eq!(
            py_timedelta(chrono::TimeDelta::seconds(90_061)),
            "1 day, 1:01:01"
        );
        assert_eq!(
            py_timedelta(chrono::TimeDelta::seconds(2 * 86_400)),
            "2 days, 0:00:00"
        );
    }
}
