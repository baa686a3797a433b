//! Python `re` pattern syntax → the syntax the `regex` crate and fancy-regex share: the escapes
//! Python knows (octal, `\b` in a class, group references), `\Z`, braces that are no quantifier,
//! and `[`, `&`, `~` inside character classes. Escapes Python rejects are rejected here with
//! Python's message, so that neither engine accepts an extension Python does not have (`\K`,
//! `\p{..}`, `\h`).

/// Letters Python accepts after a backslash outside a character class (`\N{..}` aside: a name).
const ESCAPES: &str = "abfnrtvxuUAZbBdDsSwW";
/// … and inside one (`\b` is a backspace there).
const CLASS_ESCAPES: &str = "abfnrtvxuUdDsSwW";

/// Turns a Python `re` pattern into one for the `regex` crate (and fancy-regex, which reads the
/// same text for what the `regex` crate lacks: backreferences, look-around). An error is
/// Python's message for an escape it rejects. Without `multiline`, Python's `$` also matches
/// before a newline that ends the text (a look-ahead: such patterns go to fancy-regex). `text`:
/// a str pattern (a bytes pattern has no `\N{name}`).
pub fn translate_py_pattern(pattern: &str, multiline: bool, text: bool) -> Result<String, String> {
    let multiline = multiline || inline_multiline(pattern);
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            i = escape(&chars, i, in_class, text, &mut out)?;
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
            '$' if !multiline => {
                out.push_str(r"(?:\z|(?=\n\z))");
                i += 1;
            }
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
    Ok(out)
}

/// Whether the pattern turns MULTILINE on with leading inline flags (`(?m)`, `(?im)`).
fn inline_multiline(pattern: &str) -> bool {
    pattern
        .strip_prefix("(?")
        .and_then(|rest| rest.split_once(')'))
        .is_some_and(|(flags, _)| {
            flags.chars().all(|c| c.is_ascii_alphabetic()) && flags.contains('m')
        })
}

/// Translates the escape at `chars[at]` (a backslash) as Python's `sre_parse` reads it;
/// returns the index after it.
fn escape(
    chars: &[char],
    at: usize,
    in_class: bool,
    text: bool,
    out: &mut String,
) -> Result<usize, String> {
    let Some(&n) = chars.get(at + 1) else {
        return Err(format!("bad escape (end of pattern) at position {at}"));
    };
    let octal = |c: Option<&char>| c.is_some_and(|c| ('0'..='7').contains(c));
    let mut i = at + 2;
    match n {
        // `\0`, `\0o`, `\0oo`: an octal character
        '0' => {
            let mut val = 0;
            while i < at + 4 && octal(chars.get(i)) {
                val = val * 8 + chars[i].to_digit(8).unwrap_or(0);
                i += 1;
            }
            push_char(out, val);
        }
        '1'..='9' => {
            let three_octal = octal(Some(&n)) && octal(chars.get(i)) && octal(chars.get(i + 1));
            if in_class || three_octal {
                // an octal escape: up to three digits in a class, exactly three outside one
                if !octal(Some(&n)) {
                    return Err(format!("bad escape \\{n} at position {at}"));
                }
                let mut val = n.to_digit(8).unwrap_or(0);
                while i < at + 4 && octal(chars.get(i)) {
                    val = val * 8 + chars[i].to_digit(8).unwrap_or(0);
                    i += 1;
                }
                if val > 0o377 {
                    let text: String = chars[at + 1..i].iter().collect();
                    return Err(format!(
                        "octal escape value \\{text} outside of range 0-0o377 at position {at}"
                    ));
                }
                push_char(out, val);
            } else {
                // a group reference: one or two digits
                let mut group = n.to_string();
                if let Some(&d) = chars.get(i).filter(|c| c.is_ascii_digit()) {
                    group.push(d);
                    i += 1;
                }
                if chars.get(i).is_some_and(char::is_ascii_digit) {
                    // keep a following digit out of the reference
                    out.push_str(&format!(r"(?:\{group})"));
                } else {
                    out.push('\\');
                    out.push_str(&group);
                }
            }
        }
        'Z' if !in_class => out.push_str(r"\z"),
        'b' if in_class => out.push_str(r"\x08"),
        'N' if !text => return Err(format!("bad escape \\N at position {at}")),
        'N' => {
            // `\N{NAME}`: a character by its Unicode name (unicodedata.lookup), as its code.
            if chars.get(i) != Some(&'{') {
                return Err(format!("missing {{ at position {}", at + 2));
            }
            let Some(len) = chars[i + 1..].iter().position(|&c| c == '}') else {
                return Err(format!(
                    "missing }}, unterminated name at position {}",
                    at + 3
                ));
            };
            if len == 0 {
                return Err(format!("missing character name at position {}", at + 3));
            }
            let name: String = chars[i + 1..i + 1 + len].iter().collect();
            let Some(c) = crate::compat::pystr::unicode_lookup(&name) else {
                return Err(format!(
                    "undefined character name '{name}' at position {at}"
                ));
            };
            push_char(out, c as u32);
            i += len + 2;
        }
        c if c.is_ascii_alphabetic() => {
            let known = if in_class { CLASS_ESCAPES } else { ESCAPES };
            if !known.contains(c) {
                return Err(format!("bad escape \\{c} at position {at}"));
            }
            out.push('\\');
            out.push(c);
        }
        // `\<`, `\>` are literals in Python (word boundaries in fancy-regex)
        '<' | '>' => out.push(n),
        c => {
            out.push('\\');
            out.push(c);
        }
    }
    Ok(i)
}

/// A character given by its code (octal escapes), as an escape both engines read.
fn push_char(out: &mut String, val: u32) {
    out.push_str(&format!(r"\x{{{val:x}}}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: &str) -> String {
        translate_py_pattern(p, true, true).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn syntax_where_python_and_the_regex_crate_differ() {
        assert_eq!(t(r"a\Z"), r"a\z");
        assert_eq!(t("{a}"), r"\{a\}");
        assert_eq!(t("a{2,3}"), "a{2,3}");
        assert_eq!(t("a{,3}"), "a{0,3}");
        assert_eq!(t("[]a[]"), r"[\]a\[]");
        assert_eq!(t("[a&&b]"), r"[a\&\&b]");
        assert_eq!(t(r"\<a\>"), "<a>");
    }

    /// Python's `$` (no MULTILINE) is the end or just before a newline that ends the text.
    #[test]
    fn dollar_without_multiline() {
        let dollar = r"(?:\z|(?=\n\z))";
        assert_eq!(
            translate_py_pattern("a$", false, true),
            Ok(format!("a{dollar}"))
        );
        assert_eq!(
            translate_py_pattern("[$]$", false, true),
            Ok(format!("[$]{dollar}"))
        );
        assert_eq!(
            translate_py_pattern(r"a\$", false, true),
            Ok(r"a\$".to_string())
        );
        assert_eq!(translate_py_pattern("a$", true, true), Ok("a$".to_string()));
        assert_eq!(
            translate_py_pattern("(?im)a$", false, true),
            Ok("(?im)a$".to_string())
        );
    }

    #[test]
    fn group_references_and_octal_escapes() {
        assert_eq!(t(r"^(REF) .* \1$"), r"^(REF) .* \1$");
        assert_eq!(t(r"(a)\10"), r"(a)\10");
        // Python reads at most two digits as a group number
        assert_eq!(t(r"(a)\123"), r"(a)\x{53}");
        assert_eq!(t(r"(a)\189"), r"(a)(?:\18)9");
        assert_eq!(t(r"\0"), r"\x{0}");
        assert_eq!(t(r"\012x"), r"\x{a}x");
        assert_eq!(t(r"[\1\b]"), r"[\x{1}\x08]");
        assert_eq!(t(r"(?P<n>a)(?P=n)"), r"(?P<n>a)(?P=n)");
    }

    #[test]
    fn escapes_python_rejects_are_errors() {
        for (p, want) in [
            (r"a\K", r"bad escape \K at position 1"),
            (r"\p{L}", r"bad escape \p at position 0"),
            (r"[\A]", r"bad escape \A at position 1"),
            (r"[\8]", r"bad escape \8 at position 1"),
            (
                r"\777",
                r"octal escape value \777 outside of range 0-0o377 at position 0",
            ),
            ("a\\", "bad escape (end of pattern) at position 1"),
        ] {
            assert_eq!(
                translate_py_pattern(p, true, true).err().as_deref(),
                Some(want),
                "{p}"
            );
        }
    }
}
