//! Set theory and combinations of `ansible.builtin`: `union`, `intersect`, `difference`,
//! `symmetric_difference`, `zip`, `zip_longest`, `product`; plus `comment` and `to_uuid`.
//!
//! Python builds the set results with `set()`, whose order is the hash order: random for strings
//! (per process), ascending for small integers. Here the order is first appearance, and integers
//! ascending when every item is one, so the usual integer cases read the same as Ansible's.

use minijinja::value::{Kwargs, Rest, ValueKind, ValueOrKwargs};
use minijinja::{State, Value};

use super::{Res, bind_args, fail, items_of, opt_str_arg, py_str, split_kwargs};

fn uniq(items: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for x in items {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    if !out.is_empty()
        && out
            .iter()
            .all(|v| v.kind() == ValueKind::Number && v.is_integer())
    {
        out.sort();
    }
    out
}

fn two(state: &State, what: &str, a: &Value, b: &Value) -> Res<(Vec<Value>, Vec<Value>)> {
    Ok((items_of(state, what, a)?, items_of(state, what, b)?))
}

pub(super) fn union(state: &State, a: &Value, b: &Value) -> Res<Value> {
    let (a, b) = two(state, "union", a, b)?;
    Ok(Value::from(uniq(a.into_iter().chain(b))))
}

pub(super) fn intersect(state: &State, a: &Value, b: &Value) -> Res<Value> {
    let (a, b) = two(state, "intersect", a, b)?;
    Ok(Value::from(uniq(a.into_iter().filter(|x| b.contains(x)))))
}

pub(super) fn difference(state: &State, a: &Value, b: &Value) -> Res<Value> {
    let (a, b) = two(state, "difference", a, b)?;
    Ok(Value::from(uniq(a.into_iter().filter(|x| !b.contains(x)))))
}

pub(super) fn symmetric_difference(state: &State, a: &Value, b: &Value) -> Res<Value> {
    let (a, b) = two(state, "symmetric_difference", a, b)?;
    let left = a.iter().filter(|x| !b.contains(x)).cloned();
    let right = b.iter().filter(|x| !a.contains(x)).cloned();
    Ok(Value::from(uniq(left.chain(right).collect::<Vec<_>>())))
}

/// A Python tuple (what zip and itertools.product give; `[1] != (1,)` in Jinja as in Python).
fn tuple(items: Vec<Value>) -> Value {
    Value::from(minijinja::value::Tuple::from(items))
}

/// The lists of `zip`/`product`: the filtered value, then the positional arguments.
fn lists(state: &State, what: &str, value: &Value, rest: &[Value]) -> Res<Vec<Vec<Value>>> {
    std::iter::once(value)
        .chain(rest)
        .map(|v| items_of(state, what, v))
        .collect()
}

/// `zip(*others)`: tuples as lists, as long as the shortest input.
pub(super) fn zip(state: &State, value: &Value, args: Rest<Value>) -> Res<Value> {
    let lists = lists(state, "zip", value, &args)?;
    let n = lists.iter().map(Vec::len).min().unwrap_or(0);
    Ok(Value::from(
        (0..n)
            .map(|i| tuple(lists.iter().map(|l| l[i].clone()).collect()))
            .collect::<Vec<_>>(),
    ))
}

/// `zip_longest(*others, fillvalue=None)`.
pub(super) fn zip_longest(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    let (pos, kwargs) = split_kwargs(args.into_values())?;
    let fill = match &kwargs {
        Some(k) => {
            let f: Option<Value> = k.get("fillvalue")?;
            k.assert_all_used()?;
            f.unwrap_or(Value::from(()))
        }
        None => Value::from(()),
    };
    let lists = lists(state, "zip_longest", value, &pos)?;
    let n = lists.iter().map(Vec::len).max().unwrap_or(0);
    Ok(Value::from(
        (0..n)
            .map(|i| {
                tuple(
                    lists
                        .iter()
                        .map(|l| l.get(i).cloned().unwrap_or_else(|| fill.clone()))
                        .collect(),
                )
            })
            .collect::<Vec<_>>(),
    ))
}

/// `product(*others, repeat=1)`: itertools.product, the last list varying fastest.
pub(super) fn product(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    let (pos, kwargs) = split_kwargs(args.into_values())?;
    let repeat = match &kwargs {
        Some(k) => {
            let r: Option<i64> = k.get("repeat")?;
            k.assert_all_used()?;
            r.unwrap_or(1)
        }
        None => 1,
    };
    let repeat = usize::try_from(repeat).map_err(|_| fail("product", "repeat must be >= 0"))?;
    let base = lists(state, "product", value, &pos)?;
    let lists: Vec<Vec<Value>> = std::iter::repeat_n(&base, repeat)
        .flatten()
        .cloned()
        .collect();
    let rows = crate::template::cartesian_rows(&lists).map_err(|e| fail("product", &e))?;
    Ok(Value::from(rows.into_iter().map(tuple).collect::<Vec<_>>()))
}

/// `comment(style='plain', **kw)`: the text as a comment block, as ansible.builtin.comment.
pub(super) fn comment(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
    const W: &str = "comment";
    let (pos, kwargs) = split_kwargs(args.into_values())?;
    if pos.len() > 1 {
        return Err(fail(W, "takes at most 1 positional argument (style)"));
    }
    let text = py_str(state, value)?;
    let style = opt_str_arg(W, "style", pos.first())?.unwrap_or_else(|| "plain".into());
    let (beginning, decoration, end) = match style.as_str() {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        other => {
            return Err(fail(
                W,
                format!("Invalid style '{other}'. Available styles: plain, erlang, c, cblock, xml"),
            ));
        }
    };
    let kw = |k: &Kwargs, key: &str| -> Res<Option<Value>> { k.get::<Option<Value>>(key) };
    let prepostfix = match &kwargs {
        Some(k) => kw(k, "decoration")?
            .map(|v| py_str(state, &v))
            .transpose()?
            .unwrap_or_else(|| decoration.to_string()),
        None => decoration.to_string(),
    };
    let mut p_newline = "\n".to_string();
    let mut p_beginning = beginning.to_string();
    let mut p_prefix = prepostfix.trim_end().to_string();
    let mut p_prefix_count = 1i64;
    let mut p_decoration = decoration.to_string();
    let mut p_postfix = prepostfix.trim_end().to_string();
    let mut p_postfix_count = 1i64;
    let mut p_end = end.to_string();
    if let Some(k) = &kwargs {
        let keys: Vec<String> = k.args().map(str::to_string).collect();
        for key in keys {
            let v: Value = k.get(&key)?;
            let s = || py_str(state, &v);
            let n = || -> Res<i64> {
                i64::try_from(v.clone()).map_err(|_| fail(W, format!("{key} must be an integer")))
            };
            match key.as_str() {
                "newline" => p_newline = s()?,
                "beginning" => p_beginning = s()?,
                "prefix" => p_prefix = s()?,
                "prefix_count" => p_prefix_count = n()?,
                "decoration" => p_decoration = s()?,
                "postfix" => p_postfix = s()?,
                "postfix_count" => p_postfix_count = n()?,
                "end" => p_end = s()?,
                other => return Err(fail(W, format!("unexpected keyword argument '{other}'"))),
            }
        }
    }
    let nl = &p_newline;
    let mut out = String::new();
    if !p_beginning.is_empty() {
        out.push_str(&format!("{p_beginning}{nl}"));
    }
    if !p_prefix.is_empty() {
        let unit = if p_prefix != *nl {
            format!("{p_prefix}{nl}")
        } else {
            nl.clone()
        };
        out.push_str(&unit.repeat(usize::try_from(p_prefix_count).unwrap_or(0)));
    }
    let body = format!(
        "{p_decoration}{}",
        text.replace(nl.as_str(), &format!("{nl}{p_decoration}"))
    )
    .replace(
        &format!("{p_decoration}{nl}"),
        &format!("{}{nl}", p_decoration.trim_end()),
    );
    out.push_str(&body);
    let count = usize::try_from(p_postfix_count).unwrap_or(0);
    let mut parts = vec![String::new()];
    parts.extend(std::iter::repeat_n(p_postfix.clone(), count));
    out.push_str(&parts.join(nl));
    if !p_end.is_empty() {
        out.push_str(&format!("{nl}{p_end}"));
    }
    Ok(out)
}

/// The namespace of Ansible's `to_uuid` (`UUID_NAMESPACE_ANSIBLE`).
const ANSIBLE_NS: &str = "361E6D51-FAEC-444A-9079-341386DA8E2E";

/// `to_uuid(namespace=UUID_NAMESPACE_ANSIBLE)`: uuid5 (SHA-1) of the text in the namespace.
pub(super) fn to_uuid(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<String> {
    let slots = bind_args("to_uuid", args.into_values(), &["namespace"], 0)?;
    let text = py_str(state, value)?;
    let ns = opt_str_arg("to_uuid", "namespace", slots[0].as_ref())?
        .unwrap_or_else(|| ANSIBLE_NS.into());
    let hex: String = ns
        .trim_start_matches("urn:")
        .trim_start_matches("uuid:")
        .chars()
        .filter(|c| !matches!(c, '-' | '{' | '}'))
        .collect();
    let ns_bytes = match hex::decode(&hex) {
        Ok(b) if b.len() == 16 => b,
        _ => {
            return Err(fail(
                "to_uuid",
                format!(
                    "Invalid value '{ns}' for 'namespace': badly formed hexadecimal UUID string"
                ),
            ));
        }
    };
    use sha1::Digest as _;
    let digest = sha1::Sha1::new()
        .chain_update(&ns_bytes)
        .chain_update(text.as_bytes())
        .finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{j, r};

    #[test]
    fn sets_zip_product() {
        assert_eq!(j("[3, 1, 2] | union([4, 1])"), "[1, 2, 3, 4]");
        assert_eq!(j("['b', 'a', 'b'] | union(['c'])"), r#"["b", "a", "c"]"#);
        assert_eq!(j("[1, 2, 3] | intersect([2, 3, 4])"), "[2, 3]");
        assert_eq!(j("[1, 2, 3] | difference([2])"), "[1, 3]");
        assert_eq!(j("[1, 2] | symmetric_difference([2, 3])"), "[1, 3]");
        assert_eq!(j("[1, 2, 3] | zip(['a', 'b'])"), r#"[[1, "a"], [2, "b"]]"#);
        assert_eq!(
            j("[1, 2] | zip_longest(['a'], fillvalue='-')"),
            r#"[[1, "a"], [2, "-"]]"#
        );
        assert_eq!(
            j("[1, 2] | product(['a', 'b'])"),
            r#"[[1, "a"], [1, "b"], [2, "a"], [2, "b"]]"#
        );
        assert_eq!(r("[0, 1] | product(repeat=2) | length"), "4");
    }

    #[test]
    fn comment_styles() {
        assert_eq!(r("'a\\nb' | comment"), "#\n# a\n# b\n#");
        assert_eq!(r("'x' | comment('c')"), "//\n// x\n//");
        assert_eq!(r("'x' | comment('cblock')"), "/*\n *\n * x\n *\n */");
        assert_eq!(r("'x' | comment('xml')"), "<!--\n -\n - x\n -\n-->");
        assert_eq!(r("'x' | comment(decoration='; ')"), ";\n; x\n;");
    }

    #[test]
    fn uuid5_like_python() {
        // Python: str(uuid.uuid5(uuid.UUID('361E6D51-FAEC-444A-9079-341386DA8E2E'), 'slm'))
        assert_eq!(r("'slm' | to_uuid"), "17d1eedd-1ccf-5a78-bbdd-113d8fc63d26");
    }
}
