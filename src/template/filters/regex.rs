//! The regular-expression filters and tests (`regex_replace`, `regex_search`, `regex_findall`,
//! `regex_escape`, `match`/`search`/`regex`); Python's `re` syntax comes from `compat::pyre`.

use super::*;
use crate::compat::pyre::{self, Caps, Flags, Regex};

/// Compiles a Python regular expression for the filter `what`.
fn py_regex(what: &str, pattern: &str, ignorecase: bool, multiline: bool) -> Res<Regex> {
    let flags = Flags {
        ignorecase,
        multiline,
        dotall: false,
    };
    pyre::compile(pattern, flags).map_err(|e| fail(what, e))
}

/// `regex_replace(pattern, replacement='', ignorecase=False, multiline=False,
/// count=0, mandatory_count=0)`: Python's `re.sub`.
pub(super) fn regex_replace(
    state: &State,
    value: &Value,
    args: Rest<ValueOrKwargs>,
) -> Res<String> {
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
    let pieces = re
        .template(&replacement)
        .map_err(|e| fail(W, format!("invalid replacement '{replacement}': {e}")))?;
    let (out, subs) = re
        .subn(&pieces, &text, usize::try_from(count).unwrap_or(0))
        .map_err(|e| fail(W, e))?;
    let subs = i64::try_from(subs).unwrap_or(i64::MAX);
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
pub(super) fn regex_findall(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
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
    let group_str = |caps: &Caps<'_, str>, idx: usize| Value::from(caps.str(idx).unwrap_or(""));
    let rv: Vec<Value> = re
        .captures_iter(&text)
        .map_err(|e| fail(W, e))?
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
pub(super) fn regex_search(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
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
    let Some(caps) = re.captures(&text).map_err(|e| fail(W, e))? else {
        return Ok(Value::from(()));
    };
    if refs.is_empty() {
        return Ok(Value::from(caps.str(0).unwrap_or("")));
    }
    let mut rv = Vec::new();
    for r in refs {
        let idx = match r {
            Ref::Index(idx) if idx < re.captures_len() => idx,
            Ref::Index(idx) => return Err(fail(W, format!("no such group {idx} in '{pattern}'"))),
            Ref::Name(name) => re
                .group_index(&name)
                .ok_or_else(|| fail(W, format!("no such group '{name}' in '{pattern}'")))?,
        };
        rv.push(caps.str(idx).map_or(Value::from(()), Value::from));
    }
    Ok(Value::from(rv))
}

/// `regex_escape(re_type='python')`: Python's `re.escape`, or the escaping
/// of POSIX basic regular expressions.
pub(super) fn regex_escape(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
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
        "match" => re.is_match_at_start(&text).map_err(|e| fail(what, e))?,
        "fullmatch" => py_regex(
            what,
            &format!("(?:{pattern})\\Z"),
            flag_arg(what, "ignorecase", slots[1].as_ref())?,
            flag_arg(what, "multiline", slots[2].as_ref())?,
        )?
        .is_match_at_start(&text)
        .map_err(|e| fail(what, e))?,
        "search" => re.is_match(&text).map_err(|e| fail(what, e))?,
        other => return Err(fail(what, format!("invalid match_type '{other}'"))),
    })
}

pub(super) fn is_match(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<bool> {
    regex_test("match", state, value, args.into_values(), "match")
}

pub(super) fn is_search(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<bool> {
    regex_test("search", state, value, args.into_values(), "search")
}

pub(super) fn is_regex(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<bool> {
    regex_test("regex", state, value, args.into_values(), "search")
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

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

    /// Python's `\Z` is the end of the text (the `regex` crate's `\z`), the same as in
    /// `lineinfile` (both compile through `compat::pyre`).
    #[test]
    fn regex_replace_end_of_text_anchor() {
        assert_eq!(r(r"'ax'|regex_replace('x\\Z', 'y')"), "ay");
        assert_eq!(r(r"'x\nx'|regex_replace('x\\Z', 'y')"), "x\ny");
        assert_eq!(r(r"'x\n'|regex_replace('x\\Z', 'y')"), "x\n");
    }
}
