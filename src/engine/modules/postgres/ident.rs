//! community.postgresql's `pg_quote_identifier` (module_utils/database.py): a dotted name split
//! into its parts, each double-quoted; parts already in quotes are kept and must double any
//! quote inside them.

/// `identifier` quoted, with at most `max_parts` dot-separated parts (a table: 3).
pub fn pg_quote_identifier(
    identifier: &str,
    max_parts: usize,
    kind: &str,
) -> Result<String, String> {
    let parts = parse(identifier)?;
    if parts.len() > max_parts {
        return Err(format!(
            "PostgreSQL does not support {kind} with more than {max_parts} dots"
        ));
    }
    Ok(parts.join("."))
}

/// Where the quoted part that `s` (after its opening quote) holds ends: the index of its
/// closing quote in `s`, skipping doubled quotes; None when it is never closed.
fn end_quote(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'"' {
            if b.get(i + 1) == Some(&b'"') {
                i += 2;
                continue;
            }
            return Some(i);
        }
        i += 1;
    }
    None
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn parse(identifier: &str) -> Result<Vec<String>, String> {
    if identifier.is_empty() {
        return Err("Identifier name unspecified or unquoted trailing dot".into());
    }
    if let Some(rest) = identifier.strip_prefix('"')
        && let Some(end) = end_quote(rest)
    {
        // `end` indexes `rest`; in `identifier` the closing quote is at end + 1.
        let close = end + 1;
        if close < identifier.len() - 1 {
            if identifier.as_bytes()[close + 1] == b'.' {
                let mut more = parse(&identifier[close + 2..])?;
                more.insert(0, identifier[..=close].to_string());
                return Ok(more);
            }
            return Err("User escaped identifiers must escape extra quotes".into());
        }
        return Ok(vec![identifier.to_string()]);
    }
    match identifier.find('.') {
        Some(dot) if dot > 0 && dot < identifier.len() - 1 => {
            let mut more = parse(&identifier[dot + 1..])?;
            more.insert(0, quote(&identifier[..dot]));
            Ok(more)
        }
        _ => Ok(vec![quote(identifier)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_the_collection() {
        let t = |s: &str| pg_quote_identifier(s, 3, "table");
        assert_eq!(t("test"), Ok("\"test\"".into()));
        assert_eq!(t("public.test"), Ok("\"public\".\"test\"".into()));
        assert_eq!(t("\"a.b\".c"), Ok("\"a.b\".\"c\"".into()));
        assert_eq!(t("a\"b"), Ok("\"a\"\"b\"".into()));
        assert_eq!(
            t("\"x\"; DROP"),
            Err("User escaped identifiers must escape extra quotes".into())
        );
        assert!(t("a.b.c.d").is_err());
        assert_eq!(
            pg_quote_identifier("\"hello.user.with.dots\"", 1, "role"),
            Ok("\"hello.user.with.dots\"".into())
        );
    }
}
