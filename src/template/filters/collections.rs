//! Data-structure filters: `dict2items`, `items2dict`, `combine`, `flatten`, `dict`, `map`, `sort`.

use super::*;

/// `dict2items(key_name='key', value_name='value')`.
pub(super) fn dict2items(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    const W: &str = "dict2items";
    let slots = bind_args(W, args.into_values(), &["key_name", "value_name"], 0)?;
    check_defined(state, value)?;
    if value.kind() != ValueKind::Map {
        return Err(fail(
            W,
            format!(
                "requires a dictionary, got {} {}",
                kind_name(value),
                repr(value)
            ),
        ));
    }
    let key_name = opt_str_arg(W, "key_name", slots[0].as_ref())?.unwrap_or_else(|| "key".into());
    let value_name =
        opt_str_arg(W, "value_name", slots[1].as_ref())?.unwrap_or_else(|| "value".into());
    let items: Vec<Value> = map_pairs(value)?
        .into_iter()
        .map(|(k, v)| Value::from_pairs([(key_name.as_str(), k), (value_name.as_str(), v)]))
        .collect();
    Ok(Value::from(items))
}

/// `items2dict(key_name='key', value_name='value')`.
pub(super) fn items2dict(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    const W: &str = "items2dict";
    let slots = bind_args(W, args.into_values(), &["key_name", "value_name"], 0)?;
    check_defined(state, value)?;
    if !is_list_like(value) {
        return Err(fail(
            W,
            format!("requires a list, got {} {}", kind_name(value), repr(value)),
        ));
    }
    let key_name =
        Value::from(opt_str_arg(W, "key_name", slots[0].as_ref())?.unwrap_or_else(|| "key".into()));
    let value_name = Value::from(
        opt_str_arg(W, "value_name", slots[1].as_ref())?.unwrap_or_else(|| "value".into()),
    );
    let mut pairs = Vec::new();
    for item in value.try_iter()? {
        if item.kind() != ValueKind::Map {
            return Err(fail(
                W,
                format!("requires a list of dictionaries, got item {}", repr(&item)),
            ));
        }
        let k = item.get_item(&key_name)?;
        let v = item.get_item(&value_name)?;
        if k.is_undefined() || v.is_undefined() {
            return Err(fail(
                W,
                format!(
                    "each dictionary must contain the keys {key_name:?} and {value_name:?}, got {}",
                    repr(&item)
                ),
            ));
        }
        pairs.push((k, v));
    }
    Ok(Value::from_pairs(pairs))
}

/// Ansible's `merge_hash(x, y, recursive, list_merge)`.
fn merge_hash(x: &Value, y: &Value, recursive: bool, list_merge: &str) -> Res<Value> {
    let x_pairs = map_pairs(x)?;
    let y_pairs = map_pairs(y)?;
    if x_pairs.is_empty() || x == y {
        return Ok(Value::from_pairs(y_pairs));
    }
    if y_pairs.is_empty() {
        return Ok(x.clone());
    }
    let mut result: Vec<(Value, Value)> = x_pairs;
    for (key, y_value) in y_pairs {
        let Some(slot) = result.iter_mut().find(|(k, _)| *k == key) else {
            result.push((key, y_value));
            continue;
        };
        let x_value = &slot.1;
        if x_value.kind() == ValueKind::Map && y_value.kind() == ValueKind::Map {
            slot.1 = if recursive {
                merge_hash(x_value, &y_value, recursive, list_merge)?
            } else {
                y_value
            };
            continue;
        }
        if is_list_like(x_value) && is_list_like(&y_value) {
            let xs: Vec<Value> = x_value.try_iter()?.collect();
            let ys: Vec<Value> = y_value.try_iter()?.collect();
            let merged: Vec<Value> = match list_merge {
                "replace" => ys,
                "keep" => xs,
                "append" => xs.into_iter().chain(ys).collect(),
                "prepend" => ys.into_iter().chain(xs).collect(),
                "append_rp" => xs
                    .iter()
                    .filter(|z| !ys.contains(z))
                    .cloned()
                    .chain(ys.iter().cloned())
                    .collect(),
                "prepend_rp" => ys
                    .iter()
                    .cloned()
                    .chain(xs.iter().filter(|z| !ys.contains(z)).cloned())
                    .collect(),
                _ => ys,
            };
            slot.1 = Value::from(merged);
            continue;
        }
        slot.1 = y_value;
    }
    Ok(Value::from_pairs(result))
}

/// `combine(*dicts, recursive=False, list_merge='replace')`.
pub(super) fn combine(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    const W: &str = "combine";
    let (pos, kwargs) = split_kwargs(args.into_values())?;
    let mut recursive = false;
    let mut list_merge = "replace".to_string();
    if let Some(kwargs) = kwargs {
        let keys: Vec<String> = kwargs.args().map(str::to_string).collect();
        for key in keys {
            let v: Value = kwargs.get(&key)?;
            match key.as_str() {
                "recursive" => recursive = v.is_true(),
                "list_merge" => list_merge = str_arg(W, "list_merge", Some(&v))?,
                _ => {
                    return Err(fail(
                        W,
                        format!(
                            "unexpected keyword argument '{key}': 'recursive' and 'list_merge' are the only valid ones"
                        ),
                    ));
                }
            }
        }
    }
    if ![
        "replace",
        "keep",
        "append",
        "prepend",
        "append_rp",
        "prepend_rp",
    ]
    .contains(&list_merge.as_str())
    {
        return Err(fail(
            W,
            format!(
                "list_merge must be 'replace', 'keep', 'append', 'prepend', 'append_rp' or 'prepend_rp', got '{list_merge}'"
            ),
        ));
    }
    // the terms are flattened one level and nulls are skipped
    let mut dicts = Vec::new();
    for term in std::iter::once(value).chain(pos.iter()) {
        check_defined(state, term)?;
        let items: Vec<Value> = if is_list_like(term) {
            term.try_iter()?.collect()
        } else {
            vec![term.clone()]
        };
        for item in items {
            if item.is_none() || item.as_str().is_some_and(|s| s == "None" || s == "null") {
                continue;
            }
            if item.kind() != ValueKind::Map {
                return Err(fail(
                    W,
                    format!("expected dicts, got {} {}", kind_name(&item), repr(&item)),
                ));
            }
            dicts.push(item);
        }
    }
    let Some(mut result) = dicts.pop() else {
        return Ok(Value::from_pairs(Vec::<(Value, Value)>::new()));
    };
    while let Some(lower) = dicts.pop() {
        result = merge_hash(&lower, &result, recursive, &list_merge)?;
    }
    Ok(result)
}

fn flatten_into(
    items: Vec<Value>,
    levels: Option<i64>,
    skip_nulls: bool,
    out: &mut Vec<Value>,
) -> Res<()> {
    for item in items {
        if skip_nulls
            && (item.is_none() || item.as_str().is_some_and(|s| s == "None" || s == "null"))
        {
            continue;
        }
        if is_list_like(&item) && levels.is_none_or(|l| l >= 1) {
            let inner: Vec<Value> = item.try_iter()?.collect();
            flatten_into(inner, levels.map(|l| l - 1), skip_nulls, out)?;
        } else {
            out.push(item);
        }
    }
    Ok(())
}

/// `flatten(levels=None, skip_nulls=True)`.
pub(super) fn flatten(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    let slots = bind_args("flatten", args.into_values(), &["levels", "skip_nulls"], 0)?;
    let items = items_of(state, "flatten", value)?;
    let levels = int_arg("flatten", "levels", slots[0].as_ref())?;
    let skip_nulls = slots[1].as_ref().is_none_or(Value::is_true);
    let mut out = Vec::new();
    flatten_into(items, levels, skip_nulls, &mut out)?;
    Ok(Value::from(out))
}

/// `dict`: Python's `dict()` of a mapping or of a list of pairs.
pub(super) fn dict_filter(state: &State, value: &Value) -> Res<Value> {
    check_defined(state, value)?;
    if value.kind() == ValueKind::Map {
        return Ok(Value::from_pairs(map_pairs(value)?));
    }
    let mut pairs = Vec::new();
    for item in items_of(state, "dict", value)? {
        let pair: Vec<Value> = if is_list_like(&item) || item.kind() == ValueKind::String {
            item.try_iter()?.collect()
        } else {
            Vec::new()
        };
        let [k, v] = pair.as_slice() else {
            return Err(fail(
                "dict",
                format!("items must be (key, value) pairs, got {}", repr(&item)),
            ));
        };
        pairs.push((k.clone(), v.clone()));
    }
    Ok(Value::from_pairs(pairs))
}

/// Jinja2's `map`: `map('filter', *args, **kwargs)` applies any registered
/// filter (keyword arguments are passed on), `map(attribute='a.b',
/// default=...)` looks up an attribute.
pub(super) fn map_filter(
    state: &mut State,
    value: &Value,
    args: Rest<ValueOrKwargs>,
) -> Res<Value> {
    const W: &str = "map";
    let (pos, kwargs) = split_kwargs(args.into_values())?;
    let items = items_of(state, W, value)?;
    if let Some(kwargs) = kwargs.as_ref().filter(|k| k.has("attribute")) {
        if !pos.is_empty() {
            return Err(fail(
                W,
                "either a filter name or attribute= can be given, not both",
            ));
        }
        let attribute: Value = kwargs.get("attribute")?;
        let default: Option<Value> = if kwargs.has("default") {
            Some(kwargs.get("default")?)
        } else {
            None
        };
        kwargs
            .assert_all_used()
            .map_err(|e| fail(W, e.detail().unwrap_or("unexpected keyword argument")))?;
        let mut rv = Vec::with_capacity(items.len());
        for item in items {
            let v = get_attr_path(&item, &attribute);
            rv.push(match (v.is_undefined(), &default) {
                (false, _) => v,
                (true, Some(d)) => d.clone(),
                (true, None) if is_strict(state) => {
                    return Err(fail(
                        W,
                        format!("{} has no attribute {}", repr(&item), repr(&attribute)),
                    ));
                }
                (true, None) => v,
            });
        }
        return Ok(Value::from(rv));
    }
    let Some(name) = pos.first() else {
        return Err(fail(W, "a filter name or attribute= is required"));
    };
    let Some(name) = name.as_str().map(str::to_string) else {
        return Err(fail(
            W,
            format!("the filter name must be a string, got {}", repr(name)),
        ));
    };
    let mut call_args: Vec<Value> = Vec::with_capacity(pos.len() + 1);
    call_args.push(Value::UNDEFINED);
    call_args.extend(pos.iter().skip(1).cloned());
    if let Some(kwargs) = kwargs {
        call_args.push(Value::from(kwargs));
    }
    let mut rv = Vec::with_capacity(items.len());
    for item in items {
        call_args[0] = item;
        rv.push(state.apply_filter(&name, &call_args).map_err(|e| {
            if e.kind() == ErrorKind::UnknownFilter {
                fail(W, format!("unknown filter '{name}'"))
            } else {
                e
            }
        })?);
    }
    Ok(Value::from(rv))
}

/// Jinja2's `sort(reverse=False, case_sensitive=False, attribute=None)`,
/// with positional arguments too.
pub(super) fn sort_filter(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<Value> {
    const W: &str = "sort";
    let slots = bind_args(
        W,
        args.into_values(),
        &["reverse", "case_sensitive", "attribute"],
        0,
    )?;
    let reverse = flag_arg(W, "reverse", slots[0].as_ref())?;
    let case_sensitive = flag_arg(W, "case_sensitive", slots[1].as_ref())?;
    let attribute = opt_str_arg(W, "attribute", slots[2].as_ref())?;
    let items = items_of(state, W, value)?;
    let fold = |v: Value| -> Value {
        match v.as_str() {
            Some(s) if !case_sensitive => Value::from(s.to_lowercase()),
            _ => v,
        }
    };
    let mut keyed: Vec<(Value, Value)> = items
        .into_iter()
        .map(|item| {
            let key = match &attribute {
                None => fold(item.clone()),
                Some(attr) => {
                    let parts: Vec<Value> = attr
                        .split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(|p| fold(get_attr_path(&item, &Value::from(p))))
                        .collect();
                    if parts.len() == 1 {
                        parts.into_iter().next().unwrap_or_default()
                    } else {
                        Value::from(parts)
                    }
                }
            };
            (key, item)
        })
        .collect();
    if reverse {
        keyed.sort_by(|a, b| b.0.cmp(&a.0));
    } else {
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
    }
    Ok(Value::from(
        keyed.into_iter().map(|(_, item)| item).collect::<Vec<_>>(),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn combine_like_ansible() {
        for (expr, want) in [
            (
                "d1|combine(d2)",
                r#"{"a": 1, "b": {"l": [3], "y": 2}, "c": null, "e": 5}"#,
            ),
            (
                "d1|combine(d2, recursive=true)",
                r#"{"a": 1, "b": {"l": [3], "x": 1, "y": 2}, "c": null, "e": 5}"#,
            ),
            (
                "d1|combine(d2, recursive=true, list_merge='append')",
                r#"{"a": 1, "b": {"l": [1, 2, 3], "x": 1, "y": 2}, "c": null, "e": 5}"#,
            ),
            (
                "d1|combine(d2, list_merge='append')",
                r#"{"a": 1, "b": {"l": [3], "y": 2}, "c": null, "e": 5}"#,
            ),
            (
                "d1|combine(d2, recursive=true, list_merge='prepend')",
                r#"{"a": 1, "b": {"l": [3, 1, 2], "x": 1, "y": 2}, "c": null, "e": 5}"#,
            ),
            (
                "{'l': [1,2,3]}|combine({'l': [2,4]}, list_merge='append_rp')",
                r#"{"l": [1, 3, 2, 4]}"#,
            ),
            (
                "{'l': [1,2,3]}|combine({'l': [2,4]}, list_merge='prepend_rp')",
                r#"{"l": [2, 4, 1, 3]}"#,
            ),
            (
                "{'l': [1,2,3]}|combine({'l': [2,4]}, list_merge='keep')",
                r#"{"l": [1, 2, 3]}"#,
            ),
            (
                "[d1, d2]|combine",
                r#"{"a": 1, "b": {"l": [3], "y": 2}, "c": null, "e": 5}"#,
            ),
            (
                "d1|combine([d2, {'z': 0}])",
                r#"{"a": 1, "b": {"l": [3], "y": 2}, "c": null, "e": 5, "z": 0}"#,
            ),
            ("{'a':1}|combine(none)", r#"{"a": 1}"#),
            ("{'a':1}|combine({'b':2}, {'a':3})", r#"{"a": 3, "b": 2}"#),
        ] {
            assert_eq!(j(expr), want, "{expr}");
        }
        assert_err(
            "{'a':1}|combine([1])",
            "combine: expected dicts, got number 1",
        );
        assert_err(
            "{'a':1}|combine({'b':2}, foo=1)",
            "unexpected keyword argument 'foo'",
        );
        assert_err(
            "{'a':1}|combine({'b':2}, list_merge='bogus')",
            "list_merge must be",
        );
    }

    #[test]
    fn dict2items_and_items2dict() {
        assert_eq!(
            j("{'a': 1, 'b': 2}|dict2items"),
            r#"[{"key": "a", "value": 1}, {"key": "b", "value": 2}]"#
        );
        assert_eq!(
            j("{'a': 1}|dict2items(key_name='k', value_name='v')"),
            r#"[{"k": "a", "v": 1}]"#
        );
        assert_eq!(
            j("{'a': 1}|dict2items('k', 'v')"),
            r#"[{"k": "a", "v": 1}]"#
        );
        assert_err(
            "[1]|dict2items",
            "dict2items: requires a dictionary, got list",
        );
        assert_eq!(
            j("[{'key': 'a', 'value': 1}, {'key': 'b', 'value': 2}]|items2dict"),
            r#"{"a": 1, "b": 2}"#
        );
        assert_eq!(
            j("[{'k': 'a', 'v': 1}]|items2dict(key_name='k', value_name='v')"),
            r#"{"a": 1}"#
        );
        assert_eq!(
            j("{'x': 1, 'y': 2}|dict2items|items2dict"),
            r#"{"x": 1, "y": 2}"#
        );
        assert_err("[{'x': 'a'}]|items2dict", "must contain the keys");
        assert_err(
            "'abc'|items2dict",
            "items2dict: requires a list, got string",
        );
    }

    #[test]
    fn flatten_like_ansible() {
        assert_eq!(
            j("[1, [2, [3, [4]]], none, 'None', 'null', 'x']|flatten"),
            r#"[1, 2, 3, 4, "x"]"#
        );
        assert_eq!(j("[1, [2, [3, [4]]]]|flatten(1)"), "[1, 2, [3, [4]]]");
        assert_eq!(
            j("[1, [2, [3, [4]]], none]|flatten(skip_nulls=false)"),
            "[1, 2, 3, 4, null]"
        );
        assert_eq!(
            j("[1, {'a': [2]}, ('x', 'y')]|flatten"),
            r#"[1, {"a": [2]}, "x", "y"]"#
        );
        assert_err("5|flatten", "flatten: expected a list");
    }

    #[test]
    fn dict_filter() {
        assert_eq!(j("[['a', 1], ['b', 2]]|dict"), r#"{"a": 1, "b": 2}"#);
        assert_eq!(j("['a', 'b']|zip([1, 2])|dict"), r#"{"a": 1, "b": 2}"#);
        assert_eq!(j("{'a': 1}|dict"), r#"{"a": 1}"#);
        assert_err("[1]|dict", "dict: items must be (key, value) pairs");
    }

    #[test]
    fn map_with_attribute_and_any_filter() {
        assert_eq!(j("users|map(attribute='name')|list"), r#"["bob", "Alice"]"#);
        assert_eq!(
            j("users|map(attribute='groups', default=[])|list"),
            r#"[["wheel"], []]"#
        );
        assert_eq!(
            j("users|map(attribute='groups.0', default='-')|list"),
            r#"["wheel", "-"]"#
        );
        assert_eq!(
            j("users|map(attribute='name')|map('upper')|list"),
            r#"["BOB", "ALICE"]"#
        );
        assert_eq!(j("['a', 'B']|map('lower')|list"), r#"["a", "b"]"#);
        assert_eq!(
            j(r"['a1', 'b2']|map('regex_replace', '(\\d)', '<\\1>')|list"),
            r#"["a<1>", "b<2>"]"#
        );
        assert_eq!(
            j("['A1', 'b2']|map('regex_replace', 'a', 'x', ignorecase=true)|list"),
            r#"["x1", "b2"]"#
        );
        assert_eq!(j("['0x1f', '10']|map('int', base=16)|list"), "[31, 16]");
        assert_eq!(
            j("[{'a': 1}, {'a': 2}]|map('combine', {'b': 0})|list"),
            r#"[{"a": 1, "b": 0}, {"a": 2, "b": 0}]"#
        );
        assert_err(
            "users|map(attribute='nope')|list",
            "has no attribute 'nope'",
        );
        assert_err(
            "[1]|map('nosuchfilter')|list",
            "map: unknown filter 'nosuchfilter'",
        );
    }

    #[test]
    fn select_reject_with_tests_and_args() {
        assert_eq!(
            j("['abc', 'xbc', 'ab']|select('match', '^a')|list"),
            r#"["abc", "ab"]"#
        );
        assert_eq!(
            j("['abc', 'xbc', 'ab']|reject('search', 'c$')|list"),
            r#"["ab"]"#
        );
        assert_eq!(
            j("['1.2', '1.10', '0.9']|select('version', '1.5', '>')|list"),
            r#"["1.10"]"#
        );
        assert_eq!(j("[0, 1, '', 'a']|select|list"), r#"[1, "a"]"#);
        assert_eq!(
            j("[res_ok, res_fail]|select('failed')|map(attribute='rc')|list"),
            "[2]"
        );
    }

    #[test]
    fn selectattr_rejectattr_builtins() {
        assert_eq!(
            j("users|selectattr('groups', 'defined')|map(attribute='name')|list"),
            r#"["bob"]"#
        );
        assert_eq!(
            j("users|rejectattr('groups', 'defined')|map(attribute='name')|list"),
            r#"["Alice"]"#
        );
        assert_eq!(
            j("users|selectattr('age', 'gt', 26)|map(attribute='name')|list"),
            r#"["bob"]"#
        );
        assert_eq!(
            j("users|selectattr('name', 'match', '^A')|map(attribute='age')|list"),
            "[25]"
        );
    }

    #[test]
    fn first_last_min_max_sum_builtins() {
        assert_eq!(j("[1, 2, 3]|first"), "1");
        assert_eq!(j("'abc'|first"), r#""a""#);
        assert_eq!(j("{'a': 1, 'b': 2}|first"), r#""a""#);
        assert_eq!(j("[1, 2, 3]|last"), "3");
        assert_eq!(j("[3, 1, 2]|min"), "1");
        assert_eq!(j("[3, 1, 2]|max"), "3");
        assert_eq!(
            j("users|max(attribute='age')"),
            r#"{"age": 30, "groups": ["wheel"], "name": "bob"}"#
        );
        assert_eq!(j("[1, 2, 3]|sum"), "6");
        assert_eq!(j("[[1], [2]]|sum(start=[])"), "[1, 2]");
        assert_eq!(j("users|sum(attribute='age')"), "55");
    }

    #[test]
    fn unique_list_zip_builtins() {
        assert_eq!(
            j("[{'a': 1}, {'a': 1}, {'a': 2}]|unique"),
            r#"[{"a": 1}, {"a": 2}]"#
        );
        assert_eq!(j("['a', 'A', 'b']|unique"), r#"["a", "b"]"#);
        assert_eq!(j("'abc'|list"), r#"["a", "b", "c"]"#);
        assert_eq!(j("{'a': 1}|list"), r#"["a"]"#);
        assert_eq!(j("[1, 2]|zip(['a', 'b'])|list"), r#"[[1, "a"], [2, "b"]]"#);
    }

    #[test]
    fn sort_with_positional_and_keyword_args() {
        assert_eq!(j("[3, 1, 2]|sort"), "[1, 2, 3]");
        assert_eq!(j("[3, 1, 2]|sort(true)"), "[3, 2, 1]");
        assert_eq!(j("[3, 1, 2]|sort(reverse=true)"), "[3, 2, 1]");
        assert_eq!(j("['b', 'A', 'c']|sort"), r#"["A", "b", "c"]"#);
        assert_eq!(
            j("['b', 'A', 'c']|sort(case_sensitive=true)"),
            r#"["A", "b", "c"]"#
        );
        assert_eq!(
            j("['b', 'a', 'C']|sort(case_sensitive=true)"),
            r#"["C", "a", "b"]"#
        );
        assert_eq!(
            j("users|sort(attribute='age')|map(attribute='name')|list"),
            r#"["Alice", "bob"]"#
        );
        assert_eq!(
            j("users|sort(attribute='name')|map(attribute='name')|list"),
            r#"["Alice", "bob"]"#
        );
        assert_eq!(
            j(
                "[{'a': 1, 'b': 2}, {'a': 1, 'b': 1}, {'a': 0, 'b': 3}]|sort(attribute='a,b')|map(attribute='b')|list"
            ),
            "[3, 1, 2]"
        );
    }
}
