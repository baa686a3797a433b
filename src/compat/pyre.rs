//! Python's `re` for the `regex` crate: the pattern syntax where the two differ and the
//! replacement templates (`\1`, `\g<name>`, `\g<1>`). The regex filters and the modules that
//! take a regular expression (`lineinfile`) all compile through here, so a pattern means the
//! same in both.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::{Captures, Regex, RegexBuilder};

/// Turns a Python `re` pattern into one for the `regex` crate where the two
/// differ in syntax: `\Z`, `\<`/`\>`, braces that are no quantifier, and `[`,
/// `&`, `~` inside character classes.
pub fn translate_py_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            match chars.get(i + 1) {
                Some('Z') if !in_class => out.push_str(r"\z"),
                Some('<') => out.push('<'),
                Some('>') => out.push('>'),
                Some(&n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
            i += 2;
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
    out
}

/// The essence of a `regex` crate error (its last line).
fn regex_error_text(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: ").map(str::to_string))
        .unwrap_or_else(|| text.lines().last().unwrap_or_default().trim().to_string())
}

/// Compiles a Python regular expression (cached); the error names the pattern and what is
/// wrong with it.
pub fn compile(pattern: &str, ignorecase: bool, multiline: bool) -> Result<Regex, String> {
    type Cache = Mutex<HashMap<(String, bool, bool), Regex>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = (pattern.to_string(), ignorecase, multiline);
    if let Ok(guard) = cache.lock()
        && let Some(re) = guard.get(&key)
    {
        return Ok(re.clone());
    }
    let re = RegexBuilder::new(&translate_py_pattern(pattern))
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| format!("invalid pattern '{pattern}': {}", regex_error_text(&e)))?;
    if let Ok(mut guard) = cache.lock() {
        if guard.len() >= 256 {
            guard.clear();
        }
        guard.insert(key, re.clone());
    }
    Ok(re)
}

/// A Python pattern compiled for matching bytes (file lines that need not be UTF-8), as the
/// modules use it.
pub fn compile_bytes(pattern: &str) -> Result<regex::bytes::Regex, String> {
    regex::bytes::Regex::new(&translate_py_pattern(pattern))
        .map_err(|e| format!("invalid pattern '{pattern}': {}", regex_error_text(&e)))
}

/// A piece of a parsed replacement template.
pub enum ReplPiece {
    Literal(String),
    Group(usize),
}

/// Parses a Python replacement template (`\1`, `\g<1>`, `\g<name>`, `\n`, ...).
pub fn parse_py_replacement(template: &str, re: &Regex) -> Result<Vec<ReplPiece>, String> {
    parse_replacement(template, &re.capture_names().collect::<Vec<_>>())
}

/// [`parse_py_replacement`] for a pattern compiled by [`compile_bytes`].
pub fn parse_py_replacement_bytes(
    template: &str,
    re: &regex::bytes::Regex,
) -> Result<Vec<ReplPiece>, String> {
    parse_replacement(template, &re.capture_names().collect::<Vec<_>>())
}

/// Parses a replacement template against a pattern's groups (`names[0]` is the whole match).
fn parse_replacement(template: &str, names: &[Option<&str>]) -> Result<Vec<ReplPiece>, String> {
    let chars: Vec<char> = template.chars().collect();
    let groups = names.len().saturating_sub(1);
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    let push_group = |lit: &mut String, pieces: &mut Vec<ReplPiece>, idx: usize| {
        if !lit.is_empty() {
            pieces.push(ReplPiece::Literal(std::mem::take(lit)));
        }
        pieces.push(ReplPiece::Group(idx));
    };
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            lit.push(c);
            i += 1;
            continue;
        }
        let pos = i;
        let Some(&n) = chars.get(i + 1) else {
            return Err(format!("bad escape (end of pattern) at position {pos}"));
        };
        i += 2;
        match n {
            'g' => {
                if chars.get(i) != Some(&'<') {
                    return Err(format!("missing < at position {i}"));
                }
                let Some(end) = chars[i + 1..].iter().position(|c| *c == '>') else {
                    return Err(format!(
                        "missing >, unterminated name at position {}",
                        i + 1
                    ));
                };
                let name: String = chars[i + 1..i + 1 + end].iter().collect();
                i += end + 2;
                let idx = if name.is_empty() {
                    return Err(format!("missing group name at position {}", pos + 3));
                } else if name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_alphanumeric() || c == '_')
                {
                    names
                        .iter()
                        .position(|n| *n == Some(name.as_str()))
                        .ok_or_else(|| format!("unknown group name '{name}'"))?
                } else {
                    let idx: usize = name.parse().map_err(|_| {
                        format!(
                            "bad character in group name '{name}' at position {}",
                            pos + 3
                        )
                    })?;
                    if idx > groups {
                        return Err(format!(
                            "invalid group reference {idx} at position {}",
                            pos + 3
                        ));
                    }
                    idx
                };
                push_group(&mut lit, &mut pieces, idx);
            }
            '0' => {
                let mut val = 0u32;
                let mut len = 0;
                while len < 2 && chars.get(i).is_some_and(|c| ('0'..='7').contains(c)) {
                    val = val * 8 + chars[i].to_digit(8).unwrap_or(0);
                    i += 1;
                    len += 1;
                }
                lit.push(char::from_u32(val & 0xff).unwrap_or('\0'));
            }
            '1'..='9' => {
                let mut text = n.to_string();
                let mut octal = None;
                if let Some(&d2) = chars.get(i).filter(|c| c.is_ascii_digit()) {
                    text.push(d2);
                    i += 1;
                    let is_oct = |c: char| ('0'..='7').contains(&c);
                    if is_oct(n) && is_oct(d2) && chars.get(i).is_some_and(|c| is_oct(*c)) {
                        text.push(chars[i]);
                        i += 1;
                        let val = u32::from_str_radix(&text, 8).unwrap_or(0);
                        if val > 0o377 {
                            return Err(format!(
                                "octal escape value \\{text} outside of range 0-0o377 at position {pos}"
                            ));
                        }
                        octal = char::from_u32(val);
                    }
                }
                match octal {
                    Some(ch) => lit.push(ch),
                    None => {
                        let idx: usize = text.parse().unwrap_or(usize::MAX);
                        if idx > groups {
                            return Err(format!(
                                "invalid group reference {idx} at position {}",
                                pos + 1
                            ));
                        }
                        push_group(&mut lit, &mut pieces, idx);
                    }
                }
            }
            'a' => lit.push('\x07'),
            'b' => lit.push('\x08'),
            'f' => lit.push('\x0c'),
            'n' => lit.push('\n'),
            'r' => lit.push('\r'),
            't' => lit.push('\t'),
            'v' => lit.push('\x0b'),
            '\\' => lit.push('\\'),
            c if c.is_ascii_alphabetic() => {
                return Err(format!("bad escape \\{c} at position {pos}"));
            }
            c => {
                lit.push('\\');
                lit.push(c);
            }
        }
    }
    if !lit.is_empty() {
        pieces.push(ReplPiece::Literal(lit));
    }
    Ok(pieces)
}

/// Python's `Match.expand(template)` on bytes: the parsed template with its groups filled in
/// (a group that did not take part in the match is empty).
pub fn expand_bytes(pieces: &[ReplPiece], caps: &regex::bytes::Captures<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in pieces {
        match piece {
            ReplPiece::Literal(s) => out.extend_from_slice(s.as_bytes()),
            ReplPiece::Group(idx) => {
                if let Some(g) = caps.get(*idx) {
                    out.extend_from_slice(g.as_bytes());
                }
            }
        }
    }
    out
}

/// Iterates matches like Python's `re.finditer`: an empty match right after
/// a match is allowed, the search moves on one character after an empty match.
pub fn py_captures_iter<'h>(re: &Regex, hay: &'h str) -> Vec<Captures<'h>> {
    let mut rv = Vec::new();
    let mut pos = 0;
    let mut last_empty_at: Option<usize> = None;
    while pos <= hay.len() {
        let Some(caps) = re.captures_at(hay, pos) else {
            break;
        };
        let Some(m) = caps.get(0) else {
            break;
        };
        if m.start() == m.end() && last_empty_at == Some(m.start()) {
            // no second empty match at the same place: move on one char
            match hay[pos..].chars().next() {
                Some(c) => {
                    pos += c.len_utf8();
                    continue;
                }
                None => break,
            }
        }
        let (start, end) = (m.start(), m.end());
        rv.push(caps);
        last_empty_at = (start == end).then_some(end);
        pos = end;
    }
    rv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translate_py_pattern_cases() {
        assert_eq!(translate_py_pattern(r"a\Z"), r"a\z");
        assert_eq!(translate_py_pattern("{a}"), r"\{a\}");
        assert_eq!(translate_py_pattern("a{2,3}"), "a{2,3}");
        assert_eq!(translate_py_pattern("a{,3}"), "a{0,3}");
        assert_eq!(translate_py_pattern("[]a[]"), r"[\]a\[]");
        assert_eq!(translate_py_pattern("[a&&b]"), r"[a\&\&b]");
    }

    /// `\Z` (end of text) means the same in the filters and in `lineinfile`'s byte patterns.
    #[test]
    fn end_of_text_anchor_in_both_compilers() {
        let re = compile(r"x\Z", false, false).expect("compiles");
        assert!(re.is_match("ax"));
        assert!(!re.is_match("x\n"));
        let re = compile_bytes(r"x\Z").expect("compiles");
        assert!(re.is_match(b"ax"));
        assert!(!re.is_match(b"xa"));
        assert!(compile(r"(?P<n>a)\A", false, false).is_ok());
    }

    #[test]
    fn bad_pattern_names_it() {
        let e = compile_bytes("a(").expect_err("unbalanced");
        assert!(e.starts_with("invalid pattern 'a(': "), "{e}");
    }

    #[test]
    fn replacement_templates_on_bytes() {
        let re = compile_bytes(r"^port = (?P<n>\d+)$").expect("compiles");
        let caps = re.captures(b"port = 5432").expect("matches");
        for (template, want) in [
            (r"port = \1 # kept", "port = 5432 # kept"),
            (r"\g<n>-\g<1>\t$x", "5432-5432\t$x"),
        ] {
            let pieces = parse_py_replacement_bytes(template, &re).expect("parses");
            assert_eq!(expand_bytes(&pieces, &caps), want.as_bytes(), "{template}");
        }
        let bad = parse_py_replacement_bytes(r"\2", &re)
            .err()
            .unwrap_or_default();
        assert!(bad.starts_with("invalid group reference 2"), "{bad}");
        let bad = parse_py_replacement_bytes(r"\g<x>", &re)
            .err()
            .unwrap_or_default();
        assert_eq!(bad, "unknown group name 'x'");
    }
}
