//! `with_sequence`: `[start-]end[/stride][:format]` or `start= end= count= stride= format=`, the
//! numbers decimal (2.19 refuses `0x…` even though the short form's pattern admits it), each
//! item the number through a printf-style format (`%d` by default).

use serde_json::Value;

const FIELDS: &[&str] = &["start", "end", "count", "stride", "format"];

#[derive(Debug, Default)]
struct Spec {
    start: Option<String>,
    end: Option<String>,
    count: Option<String>,
    stride: Option<String>,
    format: Option<String>,
}

pub(super) fn run(terms: &[Value]) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for term in terms {
        let text = match term {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => {
                return Err(format!(
                    "unknown error parsing with_sequence arguments: {}",
                    super::py_repr(other)
                ));
            }
        };
        let spec = match shortcut(&text) {
            Some(s) => s,
            None => key_values(&text)?,
        };
        out.extend(generate(&spec)?.into_iter().map(Value::String));
    }
    Ok(out)
}

/// The short form; None when the text is not one.
fn shortcut(text: &str) -> Option<Spec> {
    let re = regex::Regex::new(
        r"(?i)^(?:(0?x?[0-9a-f]+)-)?(0?x?[0-9a-f]+)(?:/(0?x?[0-9a-f]+))?(?::(.+))?$",
    )
    .ok()?;
    let c = re.captures(text)?;
    let get = |i: usize| c.get(i).map(|m| m.as_str().to_string());
    Some(Spec {
        start: get(1),
        end: get(2),
        stride: get(3),
        format: get(4),
        count: None,
    })
}

fn key_values(text: &str) -> Result<Spec, String> {
    let (free, kv) = crate::playbook::split_free_form(text, false);
    let mut unknown: Vec<String> = kv
        .keys()
        .filter(|k| !FIELDS.contains(&k.as_str()))
        .map(|k| format!("'{k}'"))
        .collect();
    if !free.is_empty() {
        unknown.insert(0, "'_raw_params'".into());
    }
    if !unknown.is_empty() {
        return Err(format!(
            "unrecognized arguments to with_sequence: [{}]",
            unknown.join(", ")
        ));
    }
    let get = |k: &str| kv.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(Spec {
        start: get("start"),
        end: get("end"),
        count: get("count"),
        stride: get("stride"),
        format: get("format"),
    })
}

/// An integer option as Ansible's config converts it (`Decimal(value)` with no fraction).
fn integer(name: &str, v: &Option<String>, default: Option<i64>) -> Result<Option<i64>, String> {
    let Some(text) = v else { return Ok(default) };
    let t = text.trim();
    let whole = match t.split_once('.') {
        Some((w, frac)) if frac.chars().all(|c| c == '0') => w,
        _ => t,
    };
    whole.parse::<i64>().map(Some).map_err(|_| {
        format!(
            "Config '{name}' for 'sequence' lookup plugin from 'Direct' has an invalid value: \
             Invalid value provided for 'integer': '{text}'"
        )
    })
}

fn generate(spec: &Spec) -> Result<Vec<String>, String> {
    let start = integer("start", &spec.start, Some(1))?.unwrap_or(1);
    let stride = integer("stride", &spec.stride, Some(1))?.unwrap_or(1);
    let count = integer("count", &spec.count, None)?;
    let mut end = integer("end", &spec.end, None)?;
    let format = spec.format.clone().unwrap_or_else(|| "%d".into());
    match (count, end) {
        (None, None) => return Err("must specify count or end in with_sequence".into()),
        (Some(_), Some(_)) => {
            return Err("can't specify both count and end in with_sequence".into());
        }
        (Some(0), None) => return Ok(Vec::new()),
        (Some(c), None) => end = Some(start + c * stride - 1),
        (None, Some(_)) => {}
    }
    let end = end.unwrap_or(start);
    if stride > 0 && end < start {
        return Err("to count backwards make stride negative".into());
    }
    if stride < 0 && end > start {
        return Err("to count forward don't make stride negative".into());
    }
    if stride == 0 {
        return Ok(Vec::new());
    }
    if format.matches('%').count() != 1 {
        return Err(format!("bad formatting string: {format}"));
    }
    // Python's range(start, end + adjust, stride).
    let stop = if stride > 0 { end + 1 } else { end - 1 };
    let mut out = Vec::new();
    let mut i = start;
    while (stride > 0 && i < stop) || (stride < 0 && i > stop) {
        out.push(
            printf(&format, i).ok_or_else(|| format!("problem formatting {i} with '{format}'"))?,
        );
        i += stride;
    }
    Ok(out)
}

/// Python's `format % n` for a format with one conversion (`%d %i %u %x %X %o %s %r %c` with
/// flags, width and precision); None for what Python would refuse for an int.
fn printf(format: &str, n: i64) -> Option<String> {
    let at = format.find('%')?;
    let (head, spec) = (&format[..at], &format[at + 1..]);
    let flags_end = spec
        .find(|c: char| !"#0- +".contains(c))
        .unwrap_or(spec.len());
    let flags = &spec[..flags_end];
    let rest = &spec[flags_end..];
    let width_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let width: usize = rest[..width_end].parse().unwrap_or(0);
    let mut rest = &rest[width_end..];
    let mut precision = None;
    if let Some(p) = rest.strip_prefix('.') {
        let end = p.find(|c: char| !c.is_ascii_digit()).unwrap_or(p.len());
        precision = Some(p[..end].parse::<usize>().unwrap_or(0));
        rest = &p[end..];
    }
    let mut chars = rest.chars();
    let conv = chars.next()?;
    let tail = chars.as_str();
    let alt = flags.contains('#');
    let (digits, prefix) = match conv {
        'd' | 'i' | 'u' => (n.unsigned_abs().to_string(), ""),
        'x' => (
            format!("{:x}", n.unsigned_abs()),
            if alt { "0x" } else { "" },
        ),
        'X' => (
            format!("{:X}", n.unsigned_abs()),
            if alt { "0X" } else { "" },
        ),
        'o' => (
            format!("{:o}", n.unsigned_abs()),
            if alt { "0o" } else { "" },
        ),
        's' | 'r' => {
            let s = n.to_string();
            let s = match precision {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            };
            return Some(format!(
                "{head}{}{tail}",
                pad(&s, width, flags.contains('-'))
            ));
        }
        'c' => {
            let c = char::from_u32(u32::try_from(n).ok()?)?;
            return Some(format!(
                "{head}{}{tail}",
                pad(&c.to_string(), width, flags.contains('-'))
            ));
        }
        _ => return None,
    };
    let digits = match precision {
        Some(p) if digits.len() < p => format!("{}{digits}", "0".repeat(p - digits.len())),
        _ => digits,
    };
    let sign = if n < 0 {
        "-"
    } else if flags.contains('+') {
        "+"
    } else if flags.contains(' ') {
        " "
    } else {
        ""
    };
    let body_len = sign.len() + prefix.len() + digits.len();
    let body = if flags.contains('0') && !flags.contains('-') && width > body_len {
        format!("{sign}{prefix}{}{digits}", "0".repeat(width - body_len))
    } else {
        pad(
            &format!("{sign}{prefix}{digits}"),
            width,
            flags.contains('-'),
        )
    };
    Some(format!("{head}{body}{tail}"))
}

fn pad(s: &str, width: usize, left: bool) -> String {
    if left {
        format!("{s:<width$}")
    } else {
        format!("{s:>width$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seq(t: &str) -> Result<Vec<Value>, String> {
        run(&[json!(t)])
    }

    #[test]
    fn short_and_key_value_forms() {
        assert_eq!(
            seq("4:host%02d"),
            Ok(vec![
                json!("host01"),
                json!("host02"),
                json!("host03"),
                json!("host04")
            ])
        );
        assert_eq!(seq("2-10/4"), Ok(vec![json!("2"), json!("6"), json!("10")]));
        assert_eq!(
            seq("start=5 end=11 stride=2 format=0x%02x"),
            Ok(vec![
                json!("0x05"),
                json!("0x07"),
                json!("0x09"),
                json!("0x0b")
            ])
        );
        assert_eq!(
            seq("start=10 count=3 format=%04x"),
            Ok(vec![json!("000a"), json!("000b"), json!("000c")])
        );
        assert_eq!(
            seq("start=5 end=1 stride=-2"),
            Ok(vec![json!("5"), json!("3"), json!("1")])
        );
        assert_eq!(seq("count=0"), Ok(vec![]));
    }

    #[test]
    fn bad_sequences_say_why() {
        assert!(
            seq("start=0x0f00 count=4")
                .unwrap_err()
                .contains("'0x0f00'")
        );
        assert!(seq("start=1").unwrap_err().contains("count or end"));
        assert!(seq("end=3 count=2").unwrap_err().contains("both"));
        assert!(seq("start=5 end=1").unwrap_err().contains("backwards"));
        assert!(
            seq("end=3 format=%d%d")
                .unwrap_err()
                .contains("bad formatting")
        );
        assert!(seq("end=3 step=2").unwrap_err().contains("'step'"));
    }

    #[test]
    fn printf_is_pythons_percent_for_ints() {
        assert_eq!(printf("%5d|", 42).as_deref(), Some("   42|"));
        assert_eq!(printf("%-5d|", 42).as_deref(), Some("42   |"));
        assert_eq!(printf("%+.3d", 7).as_deref(), Some("+007"));
        assert_eq!(printf("%#06x", 255).as_deref(), Some("0x00ff"));
        assert_eq!(printf("n%o", 8).as_deref(), Some("n10"));
        assert_eq!(printf("%s!", -3).as_deref(), Some("-3!"));
        assert_eq!(printf("%q", 1), None);
    }
}
