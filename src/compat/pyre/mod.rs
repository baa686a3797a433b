//! Python's `re` on top of the `regex` crate: the pattern syntax where the two differ
//! ([`translate`]), the replacement templates (`\1`, `\g<name>`, `\g<1>`, [`repl`]) and the
//! iteration rules of `re.finditer` / `re.subn`. What the `regex` crate cannot do
//! (backreferences, look-around, atomic groups, conditionals) is compiled by fancy-regex
//! instead, for those patterns only: the rest keep the `regex` crate's linear-time matching.
//! The regex filters and the modules that take a regular expression (`lineinfile`, `replace`,
//! `find`) all compile through here, so a pattern means the same everywhere.

mod repl;
mod translate;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Mutex, OnceLock};

pub use repl::ReplPiece;
pub use translate::translate_py_pattern;

/// Python's `re` flags that the callers use (`re.I`, `re.M`, `re.S`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags {
    pub ignorecase: bool,
    pub multiline: bool,
    pub dotall: bool,
}

/// What a pattern is matched against: text (templates) or bytes (file contents, which need
/// not be UTF-8). One implementation per kind binds the `regex` crate's type for it.
pub trait Hay: AsRef<[u8]> {
    /// Text (a str pattern), not bytes.
    #[doc(hidden)]
    const TEXT: bool;
    #[doc(hidden)]
    type Std: Clone;
    #[doc(hidden)]
    fn build_std(pattern: &str, flags: Flags) -> Result<Self::Std, regex::Error>;
    #[doc(hidden)]
    fn std_spans(re: &Self::Std, hay: &Self, pos: usize) -> Option<Spans>;
    #[doc(hidden)]
    fn std_names(re: &Self::Std) -> Vec<Option<String>>;
    #[doc(hidden)]
    fn fancy_spans(
        re: &fancy_regex::Regex,
        hay: &Self,
        pos: usize,
    ) -> fancy_regex::Result<Option<Spans>>;
}

/// Byte ranges of a match's groups (`None`: the group took no part in it).
type Spans = Vec<Option<(usize, usize)>>;

impl Hay for str {
    const TEXT: bool = true;
    type Std = regex::Regex;
    fn build_std(pattern: &str, flags: Flags) -> Result<regex::Regex, regex::Error> {
        regex::RegexBuilder::new(pattern)
            .case_insensitive(flags.ignorecase)
            .multi_line(flags.multiline)
            .dot_matches_new_line(flags.dotall)
            .build()
    }
    fn std_spans(re: &regex::Regex, hay: &str, pos: usize) -> Option<Spans> {
        let c = re.captures_at(hay, pos)?;
        Some(
            (0..c.len())
                .map(|i| c.get(i).map(|m| (m.start(), m.end())))
                .collect(),
        )
    }
    fn std_names(re: &regex::Regex) -> Vec<Option<String>> {
        re.capture_names().map(|n| n.map(str::to_string)).collect()
    }
    fn fancy_spans(
        re: &fancy_regex::Regex,
        hay: &str,
        pos: usize,
    ) -> fancy_regex::Result<Option<Spans>> {
        Ok(re.captures_from_pos(hay, pos)?.map(|c| {
            (0..c.len())
                .map(|i| c.get(i).map(|m| (m.start(), m.end())))
                .collect()
        }))
    }
}

impl Hay for [u8] {
    const TEXT: bool = false;
    type Std = regex::bytes::Regex;
    fn build_std(pattern: &str, flags: Flags) -> Result<regex::bytes::Regex, regex::Error> {
        regex::bytes::RegexBuilder::new(pattern)
            .case_insensitive(flags.ignorecase)
            .multi_line(flags.multiline)
            .dot_matches_new_line(flags.dotall)
            .build()
    }
    fn std_spans(re: &regex::bytes::Regex, hay: &[u8], pos: usize) -> Option<Spans> {
        let c = re.captures_at(hay, pos)?;
        Some(
            (0..c.len())
                .map(|i| c.get(i).map(|m| (m.start(), m.end())))
                .collect(),
        )
    }
    fn std_names(re: &regex::bytes::Regex) -> Vec<Option<String>> {
        re.capture_names().map(|n| n.map(str::to_string)).collect()
    }
    fn fancy_spans(
        re: &fancy_regex::Regex,
        hay: &[u8],
        pos: usize,
    ) -> fancy_regex::Result<Option<Spans>> {
        if let Ok(text) = std::str::from_utf8(hay) {
            return str::fancy_spans(re, text, pos);
        }
        // fancy-regex skips ahead past a byte that starts no UTF-8 character, so a match after
        // one is missed: match a text with one private-use character per such byte instead
        // and map the offsets back.
        let (text, to_text, to_hay) = lossless_text(hay);
        let at = to_text.get(pos).copied().unwrap_or(text.len());
        Ok(str::fancy_spans(re, &text, at)?.map(|spans| {
            spans
                .into_iter()
                .map(|g| g.map(|(s, e)| (to_hay[s], to_hay[e])))
                .collect()
        }))
    }
}

/// `hay` as text with each byte that is not UTF-8 as the private-use character U+10FF00 +
/// byte, and the offset maps hay → text and text → hay (at character boundaries).
fn lossless_text(hay: &[u8]) -> (String, Vec<usize>, Vec<usize>) {
    let mut text = String::with_capacity(hay.len() + 16);
    let mut to_text = vec![0; hay.len() + 1];
    let mut to_hay = Vec::with_capacity(hay.len() + 16);
    let mut at = 0;
    let mut push = |text: &mut String, c: char, len: usize, at: &mut usize| {
        for k in 0..len {
            to_text[*at + k] = text.len();
        }
        to_hay.resize(text.len() + 1, 0);
        to_hay[text.len()] = *at;
        text.push(c);
        *at += len;
    };
    for chunk in hay.utf8_chunks() {
        for c in chunk.valid().chars() {
            push(&mut text, c, c.len_utf8(), &mut at);
        }
        for &b in chunk.invalid() {
            let c = char::from_u32(0x10_FF00 + u32::from(b)).unwrap_or('\u{FFFD}');
            push(&mut text, c, 1, &mut at);
        }
    }
    to_text[hay.len()] = text.len();
    to_hay.resize(text.len() + 1, 0);
    to_hay[text.len()] = hay.len();
    (text, to_text, to_hay)
}

#[derive(Clone)]
enum Engine<S> {
    Std(S),
    Fancy(fancy_regex::Regex),
}

/// A compiled Python regular expression over text ([`Regex`]) or bytes ([`BytesRegex`]).
pub struct PyRegex<H: Hay + ?Sized> {
    pattern: String,
    engine: Engine<H::Std>,
    names: Vec<Option<String>>,
}

impl<H: Hay + ?Sized> Clone for PyRegex<H> {
    fn clone(&self) -> Self {
        PyRegex {
            pattern: self.pattern.clone(),
            engine: self.engine.clone(),
            names: self.names.clone(),
        }
    }
}

/// A Python regular expression over text.
pub type Regex = PyRegex<str>;
/// A Python regular expression over bytes (file lines that need not be UTF-8).
pub type BytesRegex = PyRegex<[u8]>;

/// The groups of one match.
pub struct Caps<'h, H: ?Sized> {
    hay: &'h H,
    spans: Spans,
}

impl<'h, H: Hay + ?Sized> Caps<'h, H> {
    /// The byte range of group `i` (0: the whole match), if it took part in the match.
    pub fn range(&self, i: usize) -> Option<Range<usize>> {
        self.spans.get(i).copied().flatten().map(|(s, e)| s..e)
    }

    /// The whole match's byte range.
    pub fn whole(&self) -> Range<usize> {
        self.range(0).unwrap_or_default()
    }

    fn group_bytes(&self, i: usize) -> Option<&'h [u8]> {
        let hay: &'h [u8] = self.hay.as_ref();
        self.range(i).and_then(|r| hay.get(r))
    }

    /// Python's `Match.expand(template)`: a group that took no part in the match is empty.
    pub fn expand(&self, template: &[ReplPiece]) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in template {
            match piece {
                ReplPiece::Literal(s) => out.extend_from_slice(s.as_bytes()),
                ReplPiece::Group(idx) => {
                    out.extend_from_slice(self.group_bytes(*idx).unwrap_or(b""))
                }
            }
        }
        out
    }
}

impl<'h> Caps<'h, str> {
    /// The text of group `i`, if it took part in the match.
    pub fn str(&self, i: usize) -> Option<&'h str> {
        self.range(i).and_then(|r| self.hay.get(r))
    }
}

impl<H: Hay + ?Sized> PyRegex<H> {
    /// The pattern as written (Python syntax).
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Compiles a Python pattern: the `regex` crate where it can, fancy-regex for what it
    /// cannot (backreferences, look-around). The error names the pattern and what is wrong.
    pub fn new(pattern: &str, flags: Flags) -> Result<Self, String> {
        let invalid = |why: String| format!("invalid pattern '{pattern}': {why}");
        let translated =
            translate_py_pattern(pattern, flags.multiline, H::TEXT).map_err(invalid)?;
        let (engine, names) = match H::build_std(&translated, flags) {
            Ok(re) => {
                let names = H::std_names(&re);
                (Engine::Std(re), names)
            }
            Err(std_err) => {
                // bytes are matched as text too (see `Hay::fancy_spans` for `[u8]`)
                let built = fancy_regex::RegexBuilder::new(&translated)
                    .case_insensitive(flags.ignorecase)
                    .multi_line(flags.multiline)
                    .dot_matches_new_line(flags.dotall)
                    .build();
                match built {
                    Ok(re) => {
                        let names = re.capture_names().map(|n| n.map(str::to_string)).collect();
                        (Engine::Fancy(re), names)
                    }
                    // the `regex` crate's message, unless it only says what it lacks
                    Err(e) if std_err.to_string().contains("not supported") => {
                        return Err(invalid(e.to_string()));
                    }
                    Err(_) => return Err(invalid(regex_error_text(&std_err))),
                }
            }
        };
        Ok(PyRegex {
            pattern: pattern.to_string(),
            engine,
            names,
        })
    }

    /// The groups' names, `[0]` being the whole match (no name).
    pub fn group_names(&self) -> Vec<Option<&str>> {
        self.names.iter().map(Option::as_deref).collect()
    }

    /// The number of groups, the whole match included (Python's `groups + 1`).
    pub fn captures_len(&self) -> usize {
        self.names.len()
    }

    /// The index of the group named `name`.
    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n.as_deref() == Some(name))
    }

    /// Parses a replacement template (`\1`, `\g<1>`, `\g<name>`, `\n`, …) against this
    /// pattern's groups.
    pub fn template(&self, template: &str) -> Result<Vec<ReplPiece>, String> {
        repl::parse_replacement(template, &self.group_names())
    }

    /// The first match starting at or after `pos` (anchors and look-behind see the whole
    /// haystack). An error: fancy-regex gave up (its backtracking limit).
    pub fn captures_at<'h>(&self, hay: &'h H, pos: usize) -> Result<Option<Caps<'h, H>>, String> {
        let spans = match &self.engine {
            Engine::Std(re) => H::std_spans(re, hay, pos),
            Engine::Fancy(re) => H::fancy_spans(re, hay, pos)
                .map_err(|e| format!("pattern '{}': {e}", self.pattern))?,
        };
        Ok(spans.map(|spans| Caps { hay, spans }))
    }

    /// Python's `re.search`.
    pub fn captures<'h>(&self, hay: &'h H) -> Result<Option<Caps<'h, H>>, String> {
        self.captures_at(hay, 0)
    }

    /// Whether the pattern matches anywhere in `hay`.
    pub fn is_match(&self, hay: &H) -> Result<bool, String> {
        Ok(self.captures(hay)?.is_some())
    }

    /// Python's `re.match`: a match that starts at the beginning.
    pub fn is_match_at_start(&self, hay: &H) -> Result<bool, String> {
        Ok(self.captures(hay)?.is_some_and(|c| c.whole().start == 0))
    }

    /// Python's `re.finditer`: an empty match right after a match is allowed; after an empty
    /// match the search moves on one character.
    pub fn captures_iter<'h>(&self, hay: &'h H) -> Result<Vec<Caps<'h, H>>, String> {
        let bytes: &[u8] = hay.as_ref();
        let mut rv = Vec::new();
        let mut pos = 0;
        let mut last_empty_at: Option<usize> = None;
        while pos <= bytes.len() {
            let Some(caps) = self.captures_at(hay, pos)? else {
                break;
            };
            let m = caps.whole();
            if m.is_empty() && last_empty_at == Some(m.start) {
                // no second empty match at the same place: move on one character
                if pos >= bytes.len() {
                    break;
                }
                pos += char_len(&bytes[pos..]);
                continue;
            }
            last_empty_at = m.is_empty().then_some(m.end);
            pos = m.end;
            rv.push(caps);
        }
        Ok(rv)
    }

    /// Python's `re.subn(pattern, template, hay, count)` (`count` 0: all) on the haystack's
    /// bytes: the new bytes and the number of replacements.
    pub fn subn_bytes(
        &self,
        template: &[ReplPiece],
        hay: &H,
        count: usize,
    ) -> Result<(Vec<u8>, usize), String> {
        let bytes: &[u8] = hay.as_ref();
        let mut out = Vec::with_capacity(bytes.len());
        let mut copied = 0;
        let mut n = 0;
        for caps in self.captures_iter(hay)? {
            if count > 0 && n >= count {
                break;
            }
            let m = caps.whole();
            out.extend_from_slice(&bytes[copied..m.start]);
            out.extend_from_slice(&caps.expand(template));
            copied = m.end;
            n += 1;
        }
        out.extend_from_slice(&bytes[copied.min(bytes.len())..]);
        Ok((out, n))
    }
}

impl Regex {
    /// Python's `re.subn` on text.
    pub fn subn(
        &self,
        template: &[ReplPiece],
        hay: &str,
        count: usize,
    ) -> Result<(String, usize), String> {
        let (out, n) = self.subn_bytes(template, hay, count)?;
        // pieces of a str and of the template's text: UTF-8 throughout
        let out = String::from_utf8(out).map_err(|e| e.to_string())?;
        Ok((out, n))
    }
}

/// Length of the UTF-8 character at the start of `b` (1 for a byte that starts none).
fn char_len(b: &[u8]) -> usize {
    let want = match b.first() {
        None => return 0,
        Some(&c) if c < 0x80 => return 1,
        Some(&c) if c >= 0xf0 => 4,
        Some(&c) if c >= 0xe0 => 3,
        Some(_) => 2,
    };
    if b.len() >= want && std::str::from_utf8(&b[..want]).is_ok() {
        want
    } else {
        1
    }
}

/// The essence of a `regex` crate error (its last line).
fn regex_error_text(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: ").map(str::to_string))
        .unwrap_or_else(|| text.lines().last().unwrap_or_default().trim().to_string())
}

/// Compiles a Python regular expression over text (cached: templates compile the same
/// pattern once per evaluation).
pub fn compile(pattern: &str, flags: Flags) -> Result<Regex, String> {
    type Cache = Mutex<HashMap<(String, Flags), Regex>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = (pattern.to_string(), flags);
    if let Ok(guard) = cache.lock()
        && let Some(re) = guard.get(&key)
    {
        return Ok(re.clone());
    }
    let re = Regex::new(pattern, flags)?;
    if let Ok(mut guard) = cache.lock() {
        if guard.len() >= 256 {
            guard.clear();
        }
        guard.insert(key, re.clone());
    }
    Ok(re)
}

/// Compiles a Python regular expression over bytes, as the file modules use it.
pub fn compile_bytes(pattern: &str, flags: Flags) -> Result<BytesRegex, String> {
    BytesRegex::new(pattern, flags)
}

#[cfg(test)]
mod tests;
