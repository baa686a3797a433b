//! The `version` test: LooseVersion, StrictVersion and SemVer comparisons.

use std::sync::OnceLock;

use ::regex::Regex;

use super::*;

/// A component of Python's `LooseVersion`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Loose {
    Num(String),
    Str(String),
}

/// `LooseVersion`: runs of digits, runs of lowercase letters and any other
/// text between them; dots separate and are dropped.
fn loose_parse(version: &str) -> Vec<Loose> {
    let mut parts = Vec::new();
    let mut other = String::new();
    let mut chars = version.chars().peekable();
    let flush = |other: &mut String, parts: &mut Vec<Loose>| {
        if !other.is_empty() {
            parts.push(Loose::Str(std::mem::take(other)));
        }
    };
    while let Some(&c) = chars.peek() {
        if c.is_ascii_digit() {
            flush(&mut other, &mut parts);
            let mut run = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                run.push(d);
                chars.next();
            }
            let trimmed = run.trim_start_matches('0');
            parts.push(Loose::Num(if trimmed.is_empty() {
                "0".into()
            } else {
                trimmed.into()
            }));
        } else if c.is_ascii_lowercase() {
            flush(&mut other, &mut parts);
            let mut run = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_lowercase()) {
                run.push(d);
                chars.next();
            }
            parts.push(Loose::Str(run));
        } else if c == '.' {
            flush(&mut other, &mut parts);
            chars.next();
        } else {
            other.push(c);
            chars.next();
        }
    }
    flush(&mut other, &mut parts);
    parts
}

fn loose_cmp(a: &str, b: &str) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering;
    let (pa, pb) = (loose_parse(a), loose_parse(b));
    if pa == pb {
        return Ok(Ordering::Equal);
    }
    for (x, y) in pa.iter().zip(pb.iter()) {
        let ord = match (x, y) {
            (Loose::Num(x), Loose::Num(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
            (Loose::Str(x), Loose::Str(y)) => x.cmp(y),
            (Loose::Num(n), Loose::Str(s)) | (Loose::Str(s), Loose::Num(n)) => {
                return Err(format!(
                    "cannot compare '{a}' with '{b}': loose version part '{s}' is not comparable with {n}"
                ));
            }
        };
        if ord != Ordering::Equal {
            return Ok(ord);
        }
    }
    Ok(pa.len().cmp(&pb.len()))
}

/// `StrictVersion`: `N.N[.N][{a|b}N]`.
/// The release numbers and the optional pre-release of a `StrictVersion`.
type StrictKey = (Vec<u64>, Option<(char, u64)>);

fn strict_key(version: &str) -> Result<StrictKey, String> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = RE
        .get_or_init(|| Regex::new(r"^(\d+)\.(\d+)(\.(\d+))?([ab](\d+))?$").ok())
        .as_ref()
        .ok_or("internal error")?;
    let invalid = || format!("invalid version number '{version}'");
    let caps = re.captures(version).ok_or_else(invalid)?;
    let num = |i: usize| -> Result<u64, String> {
        caps.get(i)
            .map_or(Ok(0), |m| m.as_str().parse::<u64>().map_err(|_| invalid()))
    };
    let pre = match caps.get(5) {
        Some(m) => Some((m.as_str().chars().next().unwrap_or('a'), num(6)?)),
        None => None,
    };
    Ok((vec![num(1)?, num(2)?, num(4)?], pre))
}

fn strict_cmp(a: &str, b: &str) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering;
    let (ka, kb) = (strict_key(a)?, strict_key(b)?);
    Ok(ka.0.cmp(&kb.0).then_with(|| match (ka.1, kb.1) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.cmp(&y),
    }))
}

/// Semantic versioning 2.0 precedence (build metadata is ignored).
fn semver_cmp(a: &str, b: &str) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering;
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = RE
        .get_or_init(|| {
            Regex::new(
                r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$",
            )
            .ok()
        })
        .as_ref()
        .ok_or("internal error")?;
    let parse = |v: &str| -> Result<(Vec<u64>, Vec<String>), String> {
        let caps = re
            .captures(v)
            .ok_or_else(|| format!("invalid semantic version '{v}'"))?;
        let core = (1..=3)
            .map(|i| caps.get(i).map_or(Ok(0), |m| m.as_str().parse::<u64>()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| format!("invalid semantic version '{v}'"))?;
        let pre = caps
            .get(4)
            .map(|m| m.as_str().split('.').map(str::to_string).collect())
            .unwrap_or_default();
        Ok((core, pre))
    };
    let (ca, pa) = parse(a)?;
    let (cb, pb) = parse(b)?;
    Ok(ca
        .cmp(&cb)
        .then_with(|| match (pa.is_empty(), pb.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                for (x, y) in pa.iter().zip(pb.iter()) {
                    let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                        (Ok(x), Ok(y)) => x.cmp(&y),
                        (Ok(_), Err(_)) => Ordering::Less,
                        (Err(_), Ok(_)) => Ordering::Greater,
                        (Err(_), Err(_)) => x.cmp(y),
                    };
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
                pa.len().cmp(&pb.len())
            }
        }))
}

/// `version(version, operator='eq', strict=None, version_type=None)`.
pub(super) fn is_version(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<bool> {
    use std::cmp::Ordering;
    const W: &str = "version";
    let slots = bind_args(
        W,
        args.into_values(),
        &["version", "operator", "strict", "version_type"],
        1,
    )?;
    let left = py_str(state, value)?;
    let right = match slots[0].as_ref() {
        Some(v) if !v.is_none() => py_str(state, v)?,
        _ => String::new(),
    };
    if left.is_empty() || value.is_none() {
        return Err(fail(W, "input version value cannot be empty"));
    }
    if right.is_empty() {
        return Err(fail(
            W,
            "version parameter to compare against cannot be empty",
        ));
    }
    let op = opt_str_arg(W, "operator", slots[1].as_ref())?.unwrap_or_else(|| "eq".into());
    let accept: &[Ordering] = match op.as_str() {
        "==" | "=" | "eq" => &[Ordering::Equal],
        "<" | "lt" => &[Ordering::Less],
        "<=" | "le" => &[Ordering::Less, Ordering::Equal],
        ">" | "gt" => &[Ordering::Greater],
        ">=" | "ge" => &[Ordering::Greater, Ordering::Equal],
        "!=" | "<>" | "ne" => &[Ordering::Less, Ordering::Greater],
        other => {
            return Err(fail(
                W,
                format!(
                    "invalid operator '{other}', must be one of ==, =, eq, <, lt, <=, le, >, gt, >=, ge, !=, <>, ne"
                ),
            ));
        }
    };
    let strict = slots[2].as_ref().is_some_and(|v| !v.is_none());
    let version_type = opt_str_arg(W, "version_type", slots[3].as_ref())?;
    if strict && version_type.is_some() {
        return Err(fail(W, "cannot specify both 'strict' and 'version_type'"));
    }
    let strict = slots[2].as_ref().is_some_and(Value::is_true);
    let kind = match (strict, version_type.as_deref()) {
        (true, _) => "strict",
        (false, None) => "loose",
        (false, Some(t)) => t,
    };
    let ord = match kind {
        "loose" => loose_cmp(&left, &right),
        "strict" => strict_cmp(&left, &right),
        "semver" | "semantic" => semver_cmp(&left, &right),
        "pep440" => return Err(fail(W, "version_type 'pep440' is not supported")),
        other => {
            return Err(fail(
                W,
                format!("invalid version type '{other}', must be one of 'loose', 'strict', 'semver', 'semantic'"),
            ));
        }
    }
    .map_err(|e| fail(W, e))?;
    Ok(accept.contains(&ord))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn version_tests_loose_strict_semver() {
        for (expr, want) in [
            ("'1.10' is version('1.9', '>')", "true"),
            ("'15' is version('9.6', '>')", "true"),
            ("'9.6' is version('15', 'lt')", "true"),
            ("'1.0.0' is version('1.0', '==')", "false"),
            ("'1.0' is version('1.0.0', '<')", "true"),
            ("'2.1-rc1' is version('2.1', '>')", "true"),
            ("'1.2.3' is version_compare('1.2.4', 'lt')", "true"),
            ("'1.2.3' is version('1.2.4', operator='lt')", "true"),
            ("'1.2.3' is version('1.2.3')", "true"),
            ("'1.2.3' is version('1.2.3', '=')", "true"),
            ("'1.2.3' is version('1.2.3', '!=')", "false"),
            ("'1.2.3' is version('1.2.4', '<>')", "true"),
            ("'1.2.3' is version('1.2.3', 'ge')", "true"),
            ("'1.2.3' is version('1.2.3', 'le')", "true"),
            ("'1.2.3' is version('1.2.3', 'eq', strict=true)", "true"),
            ("'1.2' is version('1.2b3', '>', strict=true)", "true"),
            (
                "'1.2.3-beta' is version('1.2.3', 'lt', version_type='semver')",
                "true",
            ),
            (
                "'1.0.0-alpha.1' is version('1.0.0-alpha.beta', '<', version_type='semver')",
                "true",
            ),
            ("9.6 is version('10', '<')", "true"),
            ("'RC1' is version('rc1', '<')", "true"),
            ("'007' is version('7', '==')", "true"),
        ] {
            assert_eq!(j(expr), want, "{expr}");
        }
        assert_err(
            "'1.a' is version('1.2', '<')",
            "version: cannot compare '1.a' with '1.2'",
        );
        assert_err("'1.a' is version('1.2', '==')", "cannot compare");
        assert_err("'1.0' is version('1.0', 'foo')", "invalid operator 'foo'");
        assert_err(
            "'' is version('1.0', '==')",
            "input version value cannot be empty",
        );
        assert_err(
            "'1.0' is version('', '==')",
            "version parameter to compare against cannot be empty",
        );
        assert_err(
            "'1' is version('1.0', '==', strict=true)",
            "invalid version number '1'",
        );
        assert_err(
            "'1.0' is version('1.0', version_type='pep440')",
            "'pep440' is not supported",
        );
    }
}
