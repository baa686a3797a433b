//! What Jinja2 as Ansible uses it accepts and minijinja does not, rewritten before compiling;
//! and the filters, tests and lookups a template names, for the plan-time check.
//!
//! String literals first get Ansible's escapes (see `literals`). Then rewrites, on minijinja's
//! tokens (never inside string literals):
//! - `'fmt' % operand` (Python's printf formatting) → `('fmt' | __py_percent(operand))`, and
//!   `name % operand` when the operand can only be formatted (a string, list or dict literal, or a
//!   tuple): `name % 2` stays numeric, as the rewrite cannot know the variable's type;
//! - collection-qualified filter and test names (`| ansible.builtin.to_json`,
//!   `is ansible.builtin.match`) → the short name, as the collections named are the ones the
//!   engine implements.

use std::borrow::Cow;

use minijinja::machinery::{Span, Token, tokenize};
use minijinja::syntax::SyntaxConfig;

use super::literals::{self, Escapes};

/// The collections whose filter and test names are taken without their prefix.
const COLLECTIONS: &[&[&str]] = &[
    &["ansible", "builtin"],
    &["ansible", "legacy"],
    &["ansible", "utils"],
    &["ansible", "netcommon"],
    &["community", "general"],
];

/// What a name in a template is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Filter,
    Test,
    Lookup,
}

impl NameKind {
    pub fn word(self) -> &'static str {
        match self {
            NameKind::Filter => "filter",
            NameKind::Test => "test",
            NameKind::Lookup => "lookup",
        }
    }
}

/// A filter, test or lookup a template uses, with its 1-based line and column in the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedName {
    pub kind: NameKind,
    pub name: String,
    pub line: usize,
    pub col: usize,
}

fn tokens(src: &str, in_expr: bool) -> Option<Vec<(Token<'_>, Span)>> {
    tokenize(src, in_expr, SyntaxConfig::default())
        .collect::<Result<Vec<_>, _>>()
        .ok()
}

fn might_need_rewrite(src: &str) -> bool {
    src.contains('%') || src.contains("ansible.") || src.contains("community.")
}

/// The index after the bracket group opened at `i` (None: unbalanced).
fn after_group(toks: &[(Token<'_>, Span)], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, (t, _)) in toks.iter().enumerate().skip(i) {
        match t {
            Token::ParenOpen | Token::BracketOpen | Token::BraceOpen => depth += 1,
            Token::ParenClose | Token::BracketClose | Token::BraceClose => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            Token::VariableEnd | Token::BlockEnd => return None,
            _ => {}
        }
    }
    None
}

/// How many tokens a collection prefix (`ansible . builtin .`) takes at `i` (0: none).
fn prefix_len(toks: &[(Token<'_>, Span)], i: usize) -> usize {
    for coll in COLLECTIONS {
        let n = coll.len() * 2;
        let matches = coll.iter().enumerate().all(|(k, part)| {
            matches!(toks.get(i + 2 * k), Some((Token::Ident(x), _)) if x == part)
                && matches!(toks.get(i + 2 * k + 1), Some((Token::Dot, _)))
        });
        if matches && matches!(toks.get(i + n), Some((Token::Ident(_), _))) {
            return n;
        }
    }
    0
}

/// The index after the operand of `%` starting at `i`: a primary (literal, name or bracket
/// group) with its attributes, subscripts, calls and filters, which all bind tighter than `%`.
fn operand_end(toks: &[(Token<'_>, Span)], i: usize) -> Option<usize> {
    let mut j = match toks.get(i)?.0 {
        Token::ParenOpen | Token::BracketOpen | Token::BraceOpen => after_group(toks, i)?,
        Token::Str(_)
        | Token::String(_)
        | Token::Int(_)
        | Token::Int128(_)
        | Token::Float(_)
        | Token::Ident(_) => i + 1,
        _ => return None,
    };
    loop {
        match toks.get(j).map(|t| &t.0) {
            Some(Token::Dot) if matches!(toks.get(j + 1), Some((Token::Ident(_), _))) => j += 2,
            Some(Token::BracketOpen | Token::ParenOpen) => j = after_group(toks, j)?,
            Some(Token::Pipe) => {
                j += 1 + prefix_len(toks, j + 1);
                if !matches!(toks.get(j), Some((Token::Ident(_), _))) {
                    return None;
                }
                j += 1;
                if matches!(toks.get(j), Some((Token::ParenOpen, _))) {
                    j = after_group(toks, j)?;
                }
            }
            _ => return Some(j),
        }
    }
}

/// Words the lexer gives as names that cannot start a `%` left operand.
const KEYWORDS: &[&str] = &[
    "and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False", "None",
];

/// The index after a variable chain (`name`, `.attr`, `[i]`, `(args)`) starting at `i`, when it
/// is a left operand of `%` (not an attribute, filter or test name itself).
fn variable_end(toks: &[(Token<'_>, Span)], i: usize) -> Option<usize> {
    let Some((Token::Ident(name), _)) = toks.get(i) else {
        return None;
    };
    let prev = i.checked_sub(1).and_then(|p| toks.get(p)).map(|t| &t.0);
    if KEYWORDS.contains(name)
        || matches!(
            prev,
            Some(Token::Dot | Token::Pipe | Token::Ident("is" | "not"))
        )
    {
        return None;
    }
    let mut j = i + 1;
    loop {
        match toks.get(j).map(|t| &t.0) {
            Some(Token::Dot) if matches!(toks.get(j + 1), Some((Token::Ident(_), _))) => j += 2,
            Some(Token::BracketOpen | Token::ParenOpen) => j = after_group(toks, j)?,
            _ => return Some(j),
        }
    }
}

/// Whether the right operand at `i` can only mean formatting: a string, list or dict literal, or
/// a parenthesised tuple (a comma at its top level).
fn formatting_operand(toks: &[(Token<'_>, Span)], i: usize) -> bool {
    match toks.get(i).map(|t| &t.0) {
        Some(Token::Str(_) | Token::String(_) | Token::BracketOpen | Token::BraceOpen) => true,
        Some(Token::ParenOpen) => {
            let Some(end) = after_group(toks, i) else {
                return false;
            };
            let mut depth = 0usize;
            toks[i + 1..end - 1].iter().any(|(t, _)| {
                match t {
                    Token::ParenOpen | Token::BracketOpen | Token::BraceOpen => depth += 1,
                    Token::ParenClose | Token::BracketClose | Token::BraceClose => {
                        depth = depth.saturating_sub(1)
                    }
                    Token::Comma if depth == 0 => return true,
                    _ => {}
                }
                false
            })
        }
        _ => false,
    }
}

/// Unicode whitespace (a no-break space typed in an editor) inside `{{ }}` / `{% %}` (or the
/// whole source when `in_expr`), outside string literals, as ASCII spaces: Jinja2's lexer takes
/// any Unicode whitespace there (Python's `\s`), minijinja's only ASCII. One space per byte
/// keeps byte offsets; text outside tags is untouched.
fn ascii_tag_spaces(src: &str, in_expr: bool) -> Option<String> {
    if src.is_ascii() || !src.chars().any(|c| c.is_whitespace() && !c.is_ascii()) {
        return None;
    }
    let mut out = String::with_capacity(src.len());
    let mut in_tag = in_expr;
    let mut quote: Option<char> = None;
    let mut chars = src.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        if !in_tag {
            if c == '{' && matches!(next, Some('{') | Some('%')) {
                in_tag = true;
            }
            out.push(c);
            continue;
        }
        match quote {
            Some(q) => {
                if c == '\\' {
                    out.push(c);
                    if let Some((_, n)) = chars.next() {
                        out.push(n);
                    }
                    continue;
                }
                if c == q {
                    quote = None;
                }
                out.push(c);
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if !in_expr && matches!(c, '}' | '%') && next == Some('}') && i > 0 => {
                in_tag = false;
                out.push(c);
            }
            None if c.is_whitespace() && !c.is_ascii() => {
                out.extend(std::iter::repeat_n(' ', c.len_utf8()));
            }
            None => out.push(c),
        }
    }
    Some(out)
}

/// The source with the rewrites above (borrowed when there is nothing to rewrite or it does not
/// tokenize; the compiler then reports the error on the original).
pub fn rewrite(src: &str, in_expr: bool, escapes: Escapes) -> Cow<'_, str> {
    if let Some(unescaped) = literals::rewrite(src, in_expr, escapes) {
        return Cow::Owned(rewrite_spaced(&unescaped, in_expr).into_owned());
    }
    rewrite_spaced(src, in_expr)
}

fn rewrite_spaced(src: &str, in_expr: bool) -> Cow<'_, str> {
    if let Some(spaced) = ascii_tag_spaces(src, in_expr) {
        return Cow::Owned(rewrite_tokens(&spaced, in_expr).into_owned());
    }
    rewrite_tokens(src, in_expr)
}

fn rewrite_tokens(src: &str, in_expr: bool) -> Cow<'_, str> {
    if !might_need_rewrite(src) {
        return Cow::Borrowed(src);
    }
    let Some(toks) = tokens(src, in_expr) else {
        return Cow::Borrowed(src);
    };
    // (start, end, replacement) edits on byte offsets, in order, not overlapping.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let off = |s: &Span, start: bool| {
        if start {
            s.start_offset as usize
        } else {
            s.end_offset as usize
        }
    };
    let mut i = 0;
    while i < toks.len() {
        let (t, span) = &toks[i];
        let qualified = matches!(t, Token::Pipe)
            || matches!(t, Token::Ident("is"))
            || (matches!(t, Token::Ident("not"))
                && i > 0
                && matches!(toks[i - 1].0, Token::Ident("is")));
        if qualified {
            let n = prefix_len(&toks, i + 1);
            if n > 0 {
                let from = off(&toks[i + 1].1, true);
                let to = off(&toks[i + 1 + n].1, true);
                edits.push((from, to, String::new()));
                i += n + 1;
                continue;
            }
        }
        // The left operand ends before `lhs_end`: a string literal, or a variable chain whose
        // right operand can only be formatted.
        let lhs_end = match t {
            Token::Str(_) | Token::String(_) => Some(i + 1),
            _ => variable_end(&toks, i).filter(|&e| formatting_operand(&toks, e + 1)),
        };
        if let Some(m) = lhs_end
            && matches!(toks.get(m), Some((Token::Mod, _)))
            && let Some(end) = operand_end(&toks, m + 1)
            && end > m + 1
        {
            let lit = &src[off(span, true)..off(&toks[m - 1].1, false)];
            let rhs_from = off(&toks[m + 1].1, true);
            let rhs_to = off(&toks[end - 1].1, false);
            // The operand may itself hold a qualified filter name: rewrite it too.
            let rhs = rewrite_spaced(&src[rhs_from..rhs_to], true);
            edits.push((
                off(span, true),
                rhs_to,
                format!("({lit} | __py_percent({rhs}))"),
            ));
            i = end;
            continue;
        }
        i += 1;
    }
    if edits.is_empty() {
        return Cow::Borrowed(src);
    }
    let mut out = String::with_capacity(src.len() + 32);
    let mut at = 0;
    for (from, to, with) in edits {
        if from < at {
            continue;
        }
        out.push_str(&src[at..from]);
        out.push_str(&with);
        at = to;
    }
    out.push_str(&src[at..]);
    Cow::Owned(out)
}

/// The filters, tests and lookups `src` names (qualified names given short). Empty when it does
/// not tokenize (the syntax check reports that).
pub fn used_names(src: &str, in_expr: bool) -> Vec<UsedName> {
    let Some(toks) = tokens(src, in_expr) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut push = |kind, name: &str, span: &Span| {
        out.push(UsedName {
            kind,
            name: name.to_string(),
            line: usize::from(span.start_line),
            col: usize::from(span.start_col) + 1,
        })
    };
    for (i, (t, _)) in toks.iter().enumerate() {
        match t {
            Token::Pipe => {
                let j = i + 1 + prefix_len(&toks, i + 1);
                if let Some((Token::Ident(name), span)) = toks.get(j) {
                    push(NameKind::Filter, name, span);
                }
            }
            Token::Ident("is") => {
                let mut j = i + 1;
                if matches!(toks.get(j), Some((Token::Ident("not"), _))) {
                    j += 1;
                }
                j += prefix_len(&toks, j);
                if let Some((Token::Ident(name), span)) = toks.get(j) {
                    push(NameKind::Test, name, span);
                }
            }
            Token::Ident("lookup" | "query" | "q")
                if matches!(toks.get(i + 1), Some((Token::ParenOpen, _)))
                    && (i == 0 || !matches!(toks[i - 1].0, Token::Dot)) =>
            {
                if let Some((Token::Str(name), span)) = toks.get(i + 2) {
                    push(NameKind::Lookup, name, span);
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_and_qualified_names_are_rewritten() {
        assert_eq!(
            rewrite_spaced("{{ 'x-%s-%d' % (a, 3) }}", false),
            "{{ ('x-%s-%d' | __py_percent((a, 3))) }}"
        );
        assert_eq!(
            rewrite_spaced("'%s!' % name | upper ~ 'z'", true),
            "('%s!' | __py_percent(name | upper)) ~ 'z'"
        );
        assert_eq!(
            rewrite_spaced("x | ansible.builtin.to_json", true),
            "x | to_json"
        );
        assert_eq!(
            rewrite_spaced("x is not ansible.builtin.match('a')", true),
            "x is not match('a')"
        );
        assert_eq!(rewrite_spaced("'50%' ~ x", true), "'50%' ~ x");
        // A no-break space inside a tag is whitespace (as in Jinja2); in text and strings it stays.
        assert_eq!(
            rewrite_spaced("a\u{a0}{{\u{a0}x | default('\u{a0}') }}\u{a0}", false),
            "a\u{a0}{{  x | default('\u{a0}') }}\u{a0}"
        );
        assert_eq!(rewrite_spaced("x\u{a0}== 1", true), "x  == 1");
        assert_eq!(
            rewrite_spaced("{% if a %}b{% endif %}", false),
            "{% if a %}b{% endif %}"
        );
        assert_eq!(rewrite_spaced("a % 2", true), "a % 2");
        assert_eq!(
            rewrite_spaced("loop.index % 2 == 0", true),
            "loop.index % 2 == 0"
        );
    }

    #[test]
    fn a_variable_format_string_is_rewritten_when_the_operand_is_only_formattable() {
        assert_eq!(
            rewrite_spaced("{{ fmt % 'x' }}", false),
            "{{ (fmt | __py_percent('x')) }}"
        );
        assert_eq!(
            rewrite_spaced("cfg.fmt['a'] % (a, b) ~ z", true),
            "(cfg.fmt['a'] | __py_percent((a, b))) ~ z"
        );
        assert_eq!(
            rewrite_spaced("fmt % [1]", true),
            "(fmt | __py_percent([1]))"
        );
        // Not a tuple, a name or a number: the operator stays (it may be numeric).
        assert_eq!(rewrite_spaced("n % (2)", true), "n % (2)");
        assert_eq!(rewrite_spaced("n % m", true), "n % m");
        assert_eq!(rewrite_spaced("x | f % 'a'", true), "x | f % 'a'");
    }

    #[test]
    fn names_with_positions() {
        let n = used_names(
            "a\n{{ x | nope }} {{ y is ansible.builtin.foo }} {{ lookup('bad', 'z') }}",
            false,
        );
        let got: Vec<(NameKind, &str, usize, usize)> = n
            .iter()
            .map(|u| (u.kind, u.name.as_str(), u.line, u.col))
            .collect();
        assert_eq!(
            got,
            vec![
                (NameKind::Filter, "nope", 2, 8),
                (NameKind::Test, "foo", 2, 40),
                (NameKind::Lookup, "bad", 2, 57),
            ]
        );
    }
}
