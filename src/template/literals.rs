//! String literals in templates as ansible-core 2.19 reads them, rewritten into literals that
//! minijinja reads to the same value (minijinja's own escapes are JSON's, close to Python's
//! but not equal: `\/`, `\a`, `\v`, `\U…`, `\N{…}`, a backslash before a newline).
//!
//! Templates from the playbook (task arguments, vars) are compiled with Ansible's
//! `escape_backslashes`: a literal inside `{{ }}` keeps its backslashes as written (only YAML
//! unescaped them, in double quotes), so `regex_replace('(\d+)', '<\1>')` gets `\1`. Literals in
//! `{% %}`, in bare conditions (`when:`, `that:`) and in template files are Python's
//! `unicode_escape` (see [`crate::compat::pystr::unescape`]).

use crate::compat::pystr;

/// How a template's string literals are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escapes {
    /// A template from the playbook: raw inside `{{ }}`, Python's escapes in `{% %}`.
    Inline,
    /// A bare condition or a template file: Python's escapes everywhere.
    Python,
}

/// `src` with each literal that holds a backslash or a carriage return rewritten (None when
/// none does). `in_expr`: `src` is the inside of one `{{ }}` (Inline) or a bare expression. A
/// literal Python would refuse (`'\x4'`) is left as written, for minijinja to report.
pub fn rewrite(src: &str, in_expr: bool, escapes: Escapes) -> Option<String> {
    if !src.contains('\\') && !src.contains('\r') {
        return None;
    }
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut each = |from: usize, to: usize, raw: bool| {
        let text = &src[from + 1..to - 1];
        if !text.contains('\\') && !text.contains('\r') {
            return;
        }
        let value = if raw {
            Ok(pystr::normalize_newlines(text).into_owned())
        } else {
            pystr::unescape(text)
        };
        if let Ok(v) = value {
            edits.push((from, to, quote(&v, src.as_bytes()[from] as char)));
        }
    };
    if in_expr {
        for_literals(src, 0, src.len(), &mut |f, t| {
            each(f, t, escapes == Escapes::Inline)
        });
    } else {
        for (from, to, variable) in tags(src) {
            for_literals(src, from, to, &mut |f, t| {
                each(f, t, variable && escapes == Escapes::Inline)
            });
        }
    }
    if edits.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(src.len() + 16);
    let mut at = 0;
    for (from, to, with) in edits {
        out.push_str(&src[at..from]);
        out.push_str(&with);
        at = to;
    }
    out.push_str(&src[at..]);
    Some(out)
}

/// A minijinja literal whose value is `value`.
fn quote(value: &str, q: char) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push(q);
    for c in value.chars() {
        if c == '\\' || c == q {
            out.push('\\');
        }
        out.push(c);
    }
    out.push(q);
    out
}

/// The insides of the `{{ }}` and `{% %}` tags of a template, `(from, to, is_variable)`:
/// comments and `{% raw %}` blocks skipped, a closing `}}` inside a literal or brackets not taken
/// for the tag's end (as Jinja2's lexer balances them).
fn tags(src: &str) -> Vec<(usize, usize, bool)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] != b'{' || !matches!(b[i + 1], b'{' | b'%' | b'#') {
            i += 1;
            continue;
        }
        let open = b[i + 1];
        let start = i + 2;
        if open == b'#' {
            i = src[start..].find("#}").map_or(b.len(), |e| start + e + 2);
            continue;
        }
        let close = if open == b'{' { b'}' } else { b'%' };
        let end = tag_end(b, start, close);
        if open == b'%' && is_raw(&src[start..end]) {
            i = raw_end(src, end);
            continue;
        }
        out.push((start, end, open == b'{'));
        i = end + 2;
    }
    out
}

/// Where the tag begun before `from` ends (the offset of its closing `}}` / `%}`).
fn tag_end(b: &[u8], from: usize, close: u8) -> usize {
    let mut depth = 0usize;
    let mut i = from;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                i = literal_end(b, i, q).unwrap_or(b.len());
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' => depth = depth.saturating_sub(1),
            c if c == close && depth == 0 && b.get(i + 1) == Some(&b'}') => return i,
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// The offset after the literal opened by the quote at `at` (Jinja2's
/// `'([^'\\]*(?:\\.[^'\\]*)*)'`), or None when it does not close.
fn literal_end(b: &[u8], at: usize, q: u8) -> Option<usize> {
    let mut i = at + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == q => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Calls `f(from, to)` for each literal (quotes included) in `src[from..to]`.
fn for_literals(src: &str, from: usize, to: usize, f: &mut dyn FnMut(usize, usize)) {
    let b = &src.as_bytes()[..to];
    let mut i = from;
    while i < b.len() {
        if let q @ (b'\'' | b'"') = b[i] {
            match literal_end(b, i, q) {
                Some(end) => {
                    f(i, end);
                    i = end;
                }
                None => return,
            }
        } else {
            i += 1;
        }
    }
}

/// Whether a `{% %}` tag's inside is `raw` (with whitespace control).
fn is_raw(inside: &str) -> bool {
    inside.trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace()) == "raw"
}

/// The offset after the `{% endraw %}` that closes a raw block whose opening tag ends at `from`.
fn raw_end(src: &str, from: usize) -> usize {
    let mut i = from;
    while let Some(off) = src[i..].find("{%") {
        let start = i + off + 2;
        let end = tag_end(src.as_bytes(), start, b'%');
        if src[start..end].trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace())
            == "endraw"
        {
            return end + 2;
        }
        i = start;
    }
    src.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline(s: &str) -> String {
        rewrite(s, false, Escapes::Inline).unwrap_or_else(|| s.to_string())
    }

    #[test]
    fn variable_literals_keep_their_backslashes_statements_are_python() {
        assert_eq!(inline(r"{{ 'a\nb' }}"), r"{{ 'a\\nb' }}");
        assert_eq!(inline(r"{{ 'it\'s' }}"), r"{{ 'it\\\'s' }}");
        assert_eq!(
            inline(r#"{% set v = "a\/\x41" %}{{ v ~ "\d" }}"#),
            r#"{% set v = "a\\/A" %}{{ v ~ "\\d" }}"#
        );
        assert_eq!(inline("plain \\n {{ x }}"), "plain \\n {{ x }}");
        assert_eq!(
            inline(r"{# '\n' #}{% raw %}{{ '\n' }}{% endraw %}{{ {'a': '\t'} }}"),
            r"{# '\n' #}{% raw %}{{ '\n' }}{% endraw %}{{ {'a': '\\t'} }}"
        );
        assert_eq!(inline(r"{{ '}}\n' }}"), r"{{ '}}\\n' }}");
        assert_eq!(
            rewrite(r"'\x41' == x", true, Escapes::Python).as_deref(),
            Some("'A' == x")
        );
        assert_eq!(
            rewrite(r"x | regex_search('\d')", true, Escapes::Inline).as_deref(),
            Some(r"x | regex_search('\\d')")
        );
        // Python refuses it: left for minijinja to report.
        assert_eq!(rewrite(r"'\x4'", true, Escapes::Python), None);
        assert_eq!(rewrite("'a' ~ b", true, Escapes::Python), None);
    }
}
