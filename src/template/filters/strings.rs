//! String filters: `quote`, `split`, `splitlines`, `basename`/`dirname` and `urlencode`.

use std::fmt::Write as _;

use super::convert::py_is_space;
use super::*;

/// `quote`: POSIX shell quoting like Python's `shlex.quote`.
pub(super) fn quote(state: &State, value: &Value) -> Res<String> {
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

/// `split(sep=None, maxsplit=-1)`: Python's `str.split`.
pub(super) fn split(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
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
pub(super) fn splitlines(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
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
pub(super) fn basename(state: &State, value: &Value) -> Res<String> {
    let path = py_str(state, value)?;
    Ok(path.rsplit('/').next().unwrap_or_default().to_string())
}

/// `dirname`: Python's `os.path.dirname`.
pub(super) fn dirname(state: &State, value: &Value) -> Res<String> {
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
pub(super) fn urlencode(state: &State, value: &Value) -> Res<String> {
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

/// Python's `fmt % args`: a tuple gives the arguments, anything else (a list too) is the one
/// argument (a mapping serves `%(name)s`).
pub(super) fn py_percent(state: &State, fmt: &Value, args: &Value) -> Res<String> {
    let fmt = super::py_str(state, fmt)?;
    super::check_defined(state, args)?;
    let args: Vec<Value> = if args.is_tuple() {
        args.try_iter()?.collect()
    } else {
        vec![args.clone()]
    };
    minijinja::formatting::format(minijinja::formatting::FormatStyle::Printf, &fmt, &args)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

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
}
