//! Jinja tests (`is failed`, `is changed`, `is truthy`, `is subset`, ...).

use super::*;

/// Jinja2's `sequence`: anything with a length and items (strings and
/// mappings too).
pub(super) fn is_sequence(state: &State, value: &Value) -> Res<bool> {
    check_defined(state, value)?;
    Ok(matches!(
        value.kind(),
        ValueKind::Seq | ValueKind::Map | ValueKind::String | ValueKind::Bytes
    ) || (value.kind() == ValueKind::Iterable && value.len().is_some()))
}

/// Jinja2's `iterable`: strings and mappings are iterable, none is not.
pub(super) fn is_iterable(state: &State, value: &Value) -> Res<bool> {
    check_defined(state, value)?;
    Ok(matches!(
        value.kind(),
        ValueKind::Seq
            | ValueKind::Map
            | ValueKind::String
            | ValueKind::Bytes
            | ValueKind::Iterable
    ))
}

fn result_dict<'a>(what: &str, state: &State, value: &'a Value) -> Res<&'a Value> {
    check_defined(state, value)?;
    if value.kind() == ValueKind::Map {
        Ok(value)
    } else {
        Err(fail(
            what,
            format!(
                "the '{what}' test expects a dictionary, got {} {}",
                kind_name(value),
                repr(value)
            ),
        ))
    }
}

fn result_flag(result: &Value, key: &str) -> bool {
    result
        .get_item(&Value::from(key))
        .is_ok_and(|v| v.is_true())
}

/// `failed`: the registered result has a true `failed` key.
pub(super) fn is_failed(state: &State, value: &Value) -> Res<bool> {
    Ok(result_flag(result_dict("failed", state, value)?, "failed"))
}

pub(super) fn is_succeeded(state: &State, value: &Value) -> Res<bool> {
    Ok(!result_flag(
        result_dict("succeeded", state, value)?,
        "failed",
    ))
}

/// `changed`: the `changed` key, or any changed item of a loop's `results`.
pub(super) fn is_changed(state: &State, value: &Value) -> Res<bool> {
    let result = result_dict("changed", state, value)?;
    let changed = result.get_item(&Value::from("changed")).unwrap_or_default();
    if !changed.is_undefined() {
        return Ok(changed.is_true());
    }
    let results = result.get_item(&Value::from("results")).unwrap_or_default();
    if is_list_like(&results) {
        for item in results.try_iter()? {
            if item.kind() == ValueKind::Map && result_flag(&item, "changed") {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

pub(super) fn is_skipped(state: &State, value: &Value) -> Res<bool> {
    Ok(result_flag(
        result_dict("skipped", state, value)?,
        "skipped",
    ))
}

pub(super) fn is_unreachable(state: &State, value: &Value) -> Res<bool> {
    Ok(result_flag(
        result_dict("unreachable", state, value)?,
        "unreachable",
    ))
}

pub(super) fn is_reachable(state: &State, value: &Value) -> Res<bool> {
    Ok(!result_flag(
        result_dict("reachable", state, value)?,
        "unreachable",
    ))
}

fn truthy_impl(what: &str, state: &State, value: &Value, args: Vec<Value>) -> Res<bool> {
    let slots = bind_args(what, args, &["convert_bool"], 0)?;
    check_defined(state, value)?;
    if flag_arg(what, "convert_bool", slots[0].as_ref())? {
        // Ansible's boolean(): known strings and numbers, else plain truth
        let known = match value.kind() {
            ValueKind::Bool => Some(value.is_true()),
            ValueKind::String | ValueKind::Number => {
                let s = match value.as_str() {
                    Some(s) => s.trim().to_lowercase(),
                    None => value.to_string(),
                };
                match s.as_str() {
                    "y" | "yes" | "on" | "1" | "true" | "t" | "1.0" => Some(true),
                    "n" | "no" | "off" | "0" | "false" | "f" | "0.0" => Some(false),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(b) = known {
            return Ok(b);
        }
    }
    Ok(value.is_true())
}

pub(super) fn is_truthy(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<bool> {
    truthy_impl("truthy", state, value, args.into_values())
}

pub(super) fn is_falsy(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Res<bool> {
    truthy_impl("falsy", state, value, args.into_values()).map(|b| !b)
}

/// Python's `needle in haystack`.
fn py_contains(what: &str, haystack: &Value, needle: &Value) -> Res<bool> {
    match haystack.kind() {
        ValueKind::String => match needle.as_str() {
            Some(n) => Ok(haystack.as_str().unwrap_or_default().contains(n)),
            None => Err(fail(
                what,
                format!("'in <string>' requires a string, got {}", kind_name(needle)),
            )),
        },
        ValueKind::Map => Ok(!haystack.get_item(needle).unwrap_or_default().is_undefined()),
        ValueKind::Seq | ValueKind::Iterable => Ok(haystack.try_iter()?.any(|v| v == *needle)),
        _ => Err(fail(
            what,
            format!(
                "{} {} is not a container",
                kind_name(haystack),
                repr(haystack)
            ),
        )),
    }
}

/// `contains(value)`: the tested container holds the value.
pub(super) fn is_contains(state: &State, value: &Value, needle: &Value) -> Res<bool> {
    check_defined(state, value)?;
    py_contains("contains", value, needle)
}

fn set_items(what: &str, state: &State, value: &Value) -> Res<Vec<Value>> {
    items_of(state, what, value)
}

pub(super) fn is_subset(state: &State, value: &Value, other: &Value) -> Res<bool> {
    let a = set_items("subset", state, value)?;
    let b = set_items("subset", state, other)?;
    Ok(a.iter().all(|x| b.contains(x)))
}

pub(super) fn is_superset(state: &State, value: &Value, other: &Value) -> Res<bool> {
    let a = set_items("superset", state, value)?;
    let b = set_items("superset", state, other)?;
    Ok(b.iter().all(|x| a.contains(x)))
}

/// `abs`: the path is absolute (`os.path.isabs`).
pub(super) fn is_abs(state: &State, value: &Value) -> Res<bool> {
    Ok(py_str(state, value)?.starts_with('/'))
}

pub(super) fn is_any(state: &State, value: &Value) -> Res<bool> {
    Ok(items_of(state, "any", value)?.iter().any(Value::is_true))
}

pub(super) fn is_all(state: &State, value: &Value) -> Res<bool> {
    Ok(items_of(state, "all", value)?.iter().all(Value::is_true))
}

pub(super) fn is_nan(value: &Value) -> bool {
    value.kind() == ValueKind::Number
        && !value.is_integer()
        && f64::try_from(value.clone()).is_ok_and(f64::is_nan)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn defined_undefined_none_tests() {
        assert_eq!(j("undefined_var is defined"), "false");
        assert_eq!(j("undefined_var is undefined"), "true");
        assert_eq!(j("d1.nope is defined"), "false");
        assert_eq!(j("d1.a is defined"), "true");
        assert_eq!(j("none is none"), "true");
        assert_eq!(j("undefined_var is none"), "false");
    }

    #[test]
    fn result_tests() {
        for (expr, want) in [
            ("res_ok is succeeded", "true"),
            ("res_ok is success", "true"),
            ("res_ok is successful", "true"),
            ("res_ok is failed", "false"),
            ("res_fail is failed", "true"),
            ("res_fail is failure", "true"),
            ("res_fail is succeeded", "false"),
            ("res_fail is changed", "true"),
            ("res_fail is change", "true"),
            ("res_ok is changed", "false"),
            ("res_skip is skipped", "true"),
            ("res_skip is skip", "true"),
            ("res_ok is skipped", "false"),
            ("res_rc is failed", "false"),
            ("res_loop is changed", "true"),
            ("res_ok is reachable", "true"),
            ("res_ok is unreachable", "false"),
        ] {
            assert_eq!(j(expr), want, "{expr}");
        }
        assert_err("'x' is failed", "the 'failed' test expects a dictionary");
    }

    #[test]
    fn type_tests() {
        for (expr, want) in [
            ("'abc' is sequence", "true"),
            ("{'a': 1} is sequence", "true"),
            ("[1] is sequence", "true"),
            ("5 is sequence", "false"),
            ("none is sequence", "false"),
            ("'abc' is iterable", "true"),
            ("{'a':1} is iterable", "true"),
            ("5 is iterable", "false"),
            ("none is iterable", "false"),
            ("true is number", "true"),
            ("1.5 is number", "true"),
            ("'1' is number", "false"),
            ("'x' is string", "true"),
            ("1 is string", "false"),
            ("{} is mapping", "true"),
            ("[] is mapping", "false"),
        ] {
            assert_eq!(j(expr), want, "{expr}");
        }
        assert!(try_render("{{ undefined_var is sequence }}").is_err());
    }

    #[test]
    fn truthy_falsy_tests() {
        for (expr, want) in [
            ("'yes' is truthy", "true"),
            ("'no' is truthy", "true"),
            ("'no' is truthy(convert_bool=true)", "false"),
            ("'no' is falsy(convert_bool=true)", "true"),
            ("[] is falsy", "true"),
            ("'maybe' is truthy(convert_bool=true)", "true"),
            ("0 is falsy", "true"),
        ] {
            assert_eq!(j(expr), want, "{expr}");
        }
    }

    #[test]
    fn contains_in_subset_superset_tests() {
        for (expr, want) in [
            ("[1,2] is contains(2)", "true"),
            ("'abc' is contains('b')", "true"),
            ("{'a':1} is contains('a')", "true"),
            ("[1,2] is contains(3)", "false"),
            ("2 in [1,2]", "true"),
            ("2 is in([1,2])", "true"),
            ("'b' is in('abc')", "true"),
            ("[1,2] is subset([1,2,3])", "true"),
            ("[1,2,3] is superset([1,2])", "true"),
            ("[1,4] is subset([1,2,3])", "false"),
            ("[1,2] is issubset([2,1])", "true"),
        ] {
            assert_eq!(j(expr), want, "{expr}");
        }
        assert_eq!(
            j(
                "users|selectattr('groups', 'defined')|selectattr('groups', 'contains', 'wheel')|map(attribute='name')|list"
            ),
            r#"["bob"]"#
        );
    }

    #[test]
    fn abs_any_all_nan_tests() {
        assert_eq!(j("'/etc' is abs"), "true");
        assert_eq!(j("'etc' is abs"), "false");
        assert_eq!(j("[true, false] is any"), "true");
        assert_eq!(j("[true, false] is all"), "false");
        assert_eq!(j("('nan'|float) is nan"), "true");
        assert_eq!(j("1.5 is nan"), "false");
    }

    #[test]
    fn abs_filter_builtin() {
        assert_eq!(r("-3|abs"), "3");
        assert_eq!(r("-1.5|abs"), "1.5");
    }
}
