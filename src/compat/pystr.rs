//! Python's backslash escapes in string literals, as Jinja2 reads them: the `unicode_escape`
//! codec (`\n`, `\x41`, `\101`, `\u00e9`, `\U0001F600`, `\N{BULLET}`, an unknown escape kept
//! as written), and `unicodedata.lookup` for `\N{name}` (Python's `re` takes it too).

/// The character Python's `unicodedata.lookup(name)` returns: a character's name in any case,
/// or the alias of a control character (`BACKSPACE`, `NULL`). The table (unicode_names2)
/// matches more loosely than Python (UAX44-LM2: `latinsmalllettera`), so a hit is confirmed
/// against the character's own name; the aliases of named characters are not known here.
pub fn unicode_lookup(name: &str) -> Option<char> {
    let c = unicode_names2::character(name)?;
    match unicode_names2::name(c) {
        Some(canonical) => canonical
            .to_string()
            .eq_ignore_ascii_case(name)
            .then_some(c),
        None => name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-')
            .then_some(c),
    }
}

/// A Jinja2 string literal's text (between the quotes) as Jinja2 3.1's lexer turns it into the
/// value: newlines normalized, non-ASCII characters written as escapes
/// (`encode("ascii", "backslashreplace")`), then `decode("unicode-escape")`. The error is
/// Python's message for a malformed escape.
pub fn unescape(text: &str) -> Result<String, String> {
    let text = normalize_newlines(text);
    let mut ascii = String::with_capacity(text.len());
    for c in text.chars() {
        match c as u32 {
            0..=0x7f => ascii.push(c),
            n @ 0x80..=0xff => ascii.push_str(&format!("\\x{n:02x}")),
            n @ 0x100..=0xffff => ascii.push_str(&format!("\\u{n:04x}")),
            n => ascii.push_str(&format!("\\U{n:08x}")),
        }
    }
    let b = ascii.as_bytes();
    let mut out = String::with_capacity(ascii.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i] as char);
            i += 1;
            continue;
        }
        let at = i;
        let Some(&e) = b.get(i + 1) else {
            return Err(format!("\\ at end of string at position {at}"));
        };
        i += 2;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e as char),
            b'a' => out.push('\x07'),
            b'b' => out.push('\x08'),
            b'f' => out.push('\x0c'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'v' => out.push('\x0b'),
            b'0'..=b'7' => {
                let digits = b[i - 1..]
                    .iter()
                    .take(3)
                    .take_while(|d| (b'0'..=b'7').contains(*d))
                    .count();
                let n = u32::from_str_radix(&ascii[i - 1..i - 1 + digits], 8).unwrap_or(0);
                out.push(char::from_u32(n).unwrap_or('\u{fffd}'));
                i += digits - 1;
            }
            b'x' | b'u' | b'U' => {
                let len = match e {
                    b'x' => 2,
                    b'u' => 4,
                    _ => 8,
                };
                let hex = ascii
                    .get(i..i + len)
                    .filter(|h| h.len() == len && h.bytes().all(|d| d.is_ascii_hexdigit()));
                let Some(hex) = hex else {
                    let what = ["", "", "\\xXX", "", "\\uXXXX", "", "", "", "\\UXXXXXXXX"][len];
                    return Err(format!("truncated {what} escape at position {at}"));
                };
                let n = u32::from_str_radix(hex, 16).unwrap_or(u32::MAX);
                if n > 0x10ffff {
                    return Err(format!("illegal Unicode character at position {at}"));
                }
                // A lone surrogate (`\ud800`) is no Rust char; Python would fail later, when
                // the text is encoded.
                out.push(char::from_u32(n).unwrap_or('\u{fffd}'));
                i += len;
            }
            b'N' => {
                let name = ascii
                    .get(i..)
                    .and_then(|r| r.strip_prefix('{'))
                    .and_then(|r| r.find('}').map(|end| &r[..end]))
                    .filter(|n| !n.is_empty());
                let Some(name) = name else {
                    return Err(format!("malformed \\N character escape at position {at}"));
                };
                let Some(c) = unicode_lookup(name) else {
                    return Err(format!("unknown Unicode character name at position {at}"));
                };
                out.push(c);
                i += name.len() + 2;
            }
            _ => {
                // Python keeps an unknown escape as written (with a DeprecationWarning).
                out.push('\\');
                i -= 1;
            }
        }
    }
    Ok(out)
}

/// Jinja2's `_normalize_newlines`: `\r\n` and `\r` become `\n`.
pub fn normalize_newlines(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\r') {
        std::borrow::Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each case checked with Python 3.11: `s.encode("ascii", "backslashreplace")
    /// .decode("unicode-escape")`.
    #[test]
    fn unescapes_as_python_unicode_escape() {
        let cases: &[(&str, &str)] = &[
            (r"a\nb\tc", "a\nb\tc"),
            (r"\a\b\f\v\r", "\x07\x08\x0c\x0b\r"),
            (r#"\\ \' \""#, r#"\ ' ""#),
            (r"\x41\101\0\12\777", "AA\0\n\u{1ff}"),
            (r"\u00e9\U0001F600", "é😀"),
            (r"\N{BULLET}\N{latin small letter e with acute}", "•é"),
            (r"\N{BACKSPACE}", "\x08"),
            (r"\d+\.\/\q", r"\d+\.\/\q"),
            ("\\é", r"\xe9"),
            ("line\\\ncont", "linecont"),
            ("a\r\nb\rc", "a\nb\nc"),
            (r"\8\9", r"\8\9"),
        ];
        for (text, want) in cases {
            assert_eq!(unescape(text).as_deref(), Ok(*want), "{text:?}");
        }
    }

    #[test]
    fn malformed_escapes_get_pythons_message() {
        assert_eq!(
            unescape(r"ab\x4"),
            Err("truncated \\xXX escape at position 2".into())
        );
        assert_eq!(
            unescape(r"\u12"),
            Err("truncated \\uXXXX escape at position 0".into())
        );
        assert_eq!(
            unescape(r"\U00110000"),
            Err("illegal Unicode character at position 0".into())
        );
        assert_eq!(
            unescape(r"\N{NO SUCH NAME}"),
            Err("unknown Unicode character name at position 0".into())
        );
        assert_eq!(
            unescape(r"\N{}"),
            Err("malformed \\N character escape at position 0".into())
        );
        assert_eq!(
            unescape(r"\Nx"),
            Err("malformed \\N character escape at position 0".into())
        );
    }

    #[test]
    fn names_are_looked_up_as_unicodedata_does() {
        assert_eq!(unicode_lookup("BULLET"), Some('•'));
        assert_eq!(unicode_lookup("snowman"), Some('☃'));
        assert_eq!(unicode_lookup("NULL"), Some('\0'));
        assert_eq!(unicode_lookup("CJK UNIFIED IDEOGRAPH-4E00"), Some('一'));
        assert_eq!(unicode_lookup("HANGUL SYLLABLE GA"), Some('가'));
        // UAX44-LM2's loose forms are not Python's.
        assert_eq!(unicode_lookup("latinsmalllettera"), None);
        assert_eq!(unicode_lookup("LATIN_SMALL_LETTER_A"), None);
        assert_eq!(unicode_lookup("NO SUCH NAME"), None);
    }
}
