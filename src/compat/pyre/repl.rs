//! Python replacement templates (`re.sub`, `Match.expand`): `\1`, `\g<1>`, `\g<name>` and the
//! character escapes, parsed once against a pattern's groups.

/// A piece of a parsed replacement template.
pub enum ReplPiece {
    Literal(String),
    Group(usize),
}

/// Parses a replacement template against a pattern's groups (`names[0]` is the whole match).
pub(super) fn parse_replacement(
    template: &str,
    names: &[Option<&str>],
) -> Result<Vec<ReplPiece>, String> {
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
