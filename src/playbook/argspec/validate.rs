//! ansible-core 2.19's `ArgumentSpecValidator.validate` (module_utils/common/arg_spec.py and
//! parameters.py) over JSON values: aliases, unsupported parameters, defaults, required, type
//! conversion (and `elements`), choices, and nested `options` with their own
//! `mutually_exclusive` / `required_*` checks, in Ansible's order and with its messages. The
//! top-level `mutually_exclusive` and `required_*` are not passed by the role validation task
//! (only `options` is), so only nested ones are checked, as in Ansible.

use serde_json::{Map, Value};

use super::types::{
    BOOLEANS_FALSE, BOOLEANS_TRUE, boolean, convert, py_eq, py_str, py_type, tagged_name,
};

/// The outcome: the converted parameters (defaults applied) and Ansible's error messages, with
/// the values of `no_log` options masked in them.
pub struct Validated {
    pub parameters: Map<String, Value>,
    pub errors: Vec<String>,
    /// The validation could not run (ansible-core's task fails with this, no argument errors):
    /// a `fallback` it would call for a missing option (see [`fallback_failure`]).
    pub fatal: Option<String>,
}

/// What AnsibleModule's `remove_values` puts in place of a `no_log` value in a message.
pub const NO_LOG_MASK: &str = "********";

/// Validates `parameters` against the option specs `spec` (`name → {type, default, …}`).
pub fn validate(spec: &Map<String, Value>, parameters: Map<String, Value>) -> Validated {
    if let Some(fatal) = fallback_failure(spec, &parameters) {
        return Validated {
            parameters,
            errors: Vec::new(),
            fatal: Some(fatal),
        };
    }
    let mut secrets = Vec::new();
    no_log_values(spec, &parameters, &mut secrets);
    let mut v = validate_unmasked(spec, parameters);
    no_log_values(spec, &v.parameters, &mut secrets);
    // Longest first, so a value that contains another is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for e in &mut v.errors {
        for secret in &secrets {
            *e = e.replace(secret.as_str(), NO_LOG_MASK);
        }
    }
    v
}

/// `set_fallbacks` for an option the parameters leave out: ansible-core calls the spec's
/// `fallback[0]`, which in a role's spec (YAML) is never a Python function, so its task fails
/// with Python's error (`env_fallback` works in a module's spec only). Nested options too.
pub fn fallback_failure(spec: &Map<String, Value>, params: &Map<String, Value>) -> Option<String> {
    for (k, s) in spec {
        if !params.contains_key(k)
            && let Some(f) = s.get("fallback")
        {
            let crash = match f {
                Value::Null => Some("'NoneType' object is not subscriptable".to_string()),
                Value::Array(a) if a.is_empty() => Some("list index out of range".to_string()),
                Value::Array(a) if a[0].is_null() => None,
                Value::Array(a) => Some(format!("'{}' object is not callable", tagged_name(&a[0]))),
                Value::String(t) if t.is_empty() => Some("string index out of range".to_string()),
                Value::String(_) => Some("'str' object is not callable".to_string()),
                Value::Object(_) => Some("0".to_string()),
                other => Some(format!("'{}' object is not subscriptable", py_type(other))),
            };
            if let Some(c) = crash {
                return Some(format!(
                    "Task failed: {c} (the fallback of option '{k}': a role's argument spec cannot name a Python function)"
                ));
            }
        }
        let Some(sub_spec) = opt(s, "options").and_then(Value::as_object) else {
            continue;
        };
        let items = match params.get(k) {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(v @ Value::Object(_)) => vec![v],
            _ => Vec::new(),
        };
        for item in items {
            if let Value::Object(m) = item
                && let Some(c) = fallback_failure(sub_spec, m)
            {
                return Some(c);
            }
        }
    }
    None
}

/// `_list_no_log_values`: the text of each `no_log` option's value (every leaf of a list or
/// mapping), nested options included; what does not fit the spec is left to the validation.
fn no_log_values(spec: &Map<String, Value>, params: &Map<String, Value>, out: &mut Vec<String>) {
    fn leaves(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Null | Value::Bool(_) => {}
            Value::String(s) if s.is_empty() => {}
            Value::String(s) => out.push(s.clone()),
            Value::Number(n) => out.push(py_str(&Value::Number(n.clone()))),
            Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
            Value::Object(m) => m.values().for_each(|x| leaves(x, out)),
        }
    }
    for (k, s) in spec {
        let value = params.get(k);
        if opt(s, "no_log").is_some_and(truthy)
            && let Some(v) = value
        {
            leaves(v, out);
        }
        if let Some(sub_spec) = opt(s, "options").and_then(Value::as_object) {
            let items = match value {
                Some(Value::Array(a)) => a.iter().collect(),
                Some(v @ Value::Object(_)) => vec![v],
                _ => Vec::new(),
            };
            for item in items {
                if let Value::Object(m) = item {
                    no_log_values(sub_spec, m, out);
                }
            }
        }
    }
}

fn validate_unmasked(spec: &Map<String, Value>, parameters: Map<String, Value>) -> Validated {
    let mut params = parameters;
    let mut errors = Vec::new();
    let aliases = match handle_aliases(spec, &mut params) {
        Ok(a) => a,
        Err(e) => {
            errors.push(e);
            Vec::new()
        }
    };
    if let Err(e) = no_log_walk(spec, &params) {
        errors.push(e);
    }
    let mut unsupported: Vec<(Vec<String>, Vec<String>, Vec<String>)> = Vec::new();
    collect_unsupported(spec, &params, &aliases, &[], &mut unsupported);
    set_defaults(spec, &mut params, false);
    if let Err(e) = check_required(spec, &params, &[]) {
        errors.push(e);
    }
    validate_types(spec, &mut params, &[], &mut errors);
    validate_values(spec, &mut params, &[], &mut errors);
    set_defaults(spec, &mut params, true);
    let mut context = Vec::new();
    validate_sub_spec(
        spec,
        &mut params,
        &mut context,
        &mut errors,
        &mut unsupported,
    );
    if !unsupported.is_empty() {
        let mut names: Vec<String> = unsupported.iter().map(|(n, _, _)| n.join(".")).collect();
        names.sort();
        // Ansible lists the supported names of the last unsupported one of a set (an order
        // Python's string hashing makes random when several are nested): top level first.
        let (_, mut supported, mut alias_names) = unsupported
            .iter()
            .min_by_key(|(n, _, _)| (n.len(), n.join(".")))
            .cloned()
            .unwrap_or_default();
        supported.sort();
        alias_names.sort();
        let mut s = supported.join(", ");
        if !alias_names.is_empty() {
            s.push_str(&format!(" ({})", alias_names.join(", ")));
        }
        errors.push(format!(
            "{}. Supported parameters include: {s}.",
            names.join(", ")
        ));
    }
    Validated {
        parameters: params,
        errors,
        fatal: None,
    }
}

fn opt<'a>(spec: &'a Value, key: &str) -> Option<&'a Value> {
    spec.get(key).filter(|v| !v.is_null())
}

fn is_required(spec: &Value) -> bool {
    opt(spec, "required").is_some_and(truthy)
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `_handle_aliases`: each alias given sets its option; returns the alias names.
fn handle_aliases(
    spec: &Map<String, Value>,
    params: &mut Map<String, Value>,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (k, v) in spec {
        if opt(v, "default").is_some() && is_required(v) {
            return Err(format!(
                "internal error: required and default are mutually exclusive for {k}"
            ));
        }
        let Some(aliases) = opt(v, "aliases") else {
            continue;
        };
        let Some(list) = aliases.as_array() else {
            return Err("internal error: aliases must be a list or tuple".into());
        };
        for a in list {
            let a = py_str(a);
            if let Some(val) = params.get(&a).cloned() {
                params.insert(k.clone(), val);
            }
            out.push(a);
        }
    }
    Ok(out)
}

/// `_get_unsupported_parameters`, with what Ansible would list as supported.
fn collect_unsupported(
    spec: &Map<String, Value>,
    params: &Map<String, Value>,
    aliases: &[String],
    context: &[String],
    out: &mut Vec<(Vec<String>, Vec<String>, Vec<String>)>,
) {
    for k in params.keys() {
        if spec.contains_key(k) || aliases.contains(k) {
            continue;
        }
        let mut name = context.to_vec();
        name.push(k.clone());
        let supported: Vec<String> = spec
            .keys()
            .filter(|s| !aliases.contains(s))
            .cloned()
            .collect();
        out.push((name, supported, aliases.to_vec()));
    }
}

/// `_set_defaults`: a missing option gets its default (with `all`, also `None`).
fn set_defaults(spec: &Map<String, Value>, params: &mut Map<String, Value>, all: bool) {
    for (k, v) in spec {
        let default = opt(v, "default");
        if !params.contains_key(k) && (default.is_some() || all) {
            params.insert(k.clone(), default.cloned().unwrap_or(Value::Null));
        }
    }
}

fn found_in(msg: String, context: &[String]) -> String {
    if context.is_empty() {
        msg
    } else {
        format!("{msg} found in {}", context.join(" -> "))
    }
}

fn check_required(
    spec: &Map<String, Value>,
    params: &Map<String, Value>,
    context: &[String],
) -> Result<(), String> {
    let mut missing: Vec<&str> = spec
        .iter()
        .filter(|(k, v)| is_required(v) && !params.contains_key(*k))
        .map(|(k, _)| k.as_str())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    missing.sort();
    Err(found_in(
        format!("missing required arguments: {}", missing.join(", ")),
        context,
    ))
}

/// `_list_no_log_values`' walk of sub-options, which fails on the first element that is not a
/// mapping (the no_log values themselves only matter for Ansible's output masking).
fn no_log_walk(spec: &Map<String, Value>, params: &Map<String, Value>) -> Result<(), String> {
    for (k, s) in spec {
        let Some(sub_spec) = opt(s, "options").and_then(Value::as_object) else {
            continue;
        };
        let Some(sub) = params.get(k).filter(|v| !v.is_null()) else {
            continue;
        };
        let wanted = type_of(s);
        let elements = opt(s, "elements").and_then(Value::as_str);
        if !(wanted == "dict" || (wanted == "list" && elements == Some("dict"))) {
            continue;
        }
        let items = match sub {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        };
        for item in items {
            let item = match &item {
                Value::String(_) => convert("dict", &item)?,
                _ => item,
            };
            let Value::Object(m) = &item else {
                return Err(format!(
                    "Value '{}' in the sub parameter field '{k}' must be a {wanted}, not '{}'",
                    py_str(&item),
                    tagged_name(&item)
                ));
            };
            no_log_walk(sub_spec, m)?;
        }
    }
    Ok(())
}

fn type_of(spec: &Value) -> String {
    opt(spec, "type")
        .and_then(Value::as_str)
        .unwrap_or("str")
        .to_string()
}

/// `_validate_argument_types` (with `_validate_elements`).
fn validate_types(
    spec: &Map<String, Value>,
    params: &mut Map<String, Value>,
    context: &[String],
    errors: &mut Vec<String>,
) {
    for (k, s) in spec {
        let Some(value) = params.get(k).cloned() else {
            continue;
        };
        if value.is_null() && !is_required(s) && opt(s, "default").is_none() {
            continue;
        }
        let wanted = type_of(s);
        match convert(&wanted, &value) {
            Ok(converted) => {
                params.insert(k.clone(), converted.clone());
                let Some(el) = opt(s, "elements").and_then(Value::as_str) else {
                    continue;
                };
                let items: Vec<Value> = match &converted {
                    Value::Array(a) => a.clone(),
                    other => {
                        let mut msg =
                            format!("Invalid type {wanted} for option '{}'", py_str(other));
                        if !context.is_empty() {
                            msg.push_str(&format!(" found in '{}'.", context.join(" -> ")));
                        }
                        msg.push_str(", elements value check is supported only with 'list' type");
                        errors.push(msg);
                        match other {
                            Value::String(t) => {
                                t.chars().map(|c| Value::String(c.into())).collect()
                            }
                            Value::Object(o) => {
                                o.keys().map(|k| Value::String(k.clone())).collect()
                            }
                            _ => Vec::new(),
                        }
                    }
                };
                let mut out = Vec::new();
                for item in items {
                    match convert(el, &item) {
                        Ok(c) => out.push(c),
                        Err(e) => {
                            let mut msg = format!("Elements value for option '{k}'");
                            if !context.is_empty() {
                                msg.push_str(&format!(" found in '{}'", context.join(" -> ")));
                            }
                            msg.push_str(&format!(
                                " is of type {} and we were unable to convert to {el}: {e}",
                                py_type(&item)
                            ));
                            errors.push(msg);
                        }
                    }
                }
                params.insert(k.clone(), Value::Array(out));
            }
            Err(e) => {
                let mut msg = format!("argument '{k}' is of type {}", py_type(&value));
                if !context.is_empty() {
                    msg.push_str(&format!(" found in '{}'.", context.join(" -> ")));
                }
                msg.push_str(&format!(" and we were unable to convert to {wanted}: {e}"));
                errors.push(msg);
            }
        }
    }
}

/// `_validate_argument_values`: `choices`.
fn validate_values(
    spec: &Map<String, Value>,
    params: &mut Map<String, Value>,
    context: &[String],
    errors: &mut Vec<String>,
) {
    for (k, s) in spec {
        let Some(choices) = opt(s, "choices") else {
            continue;
        };
        let Some(choices) = choices.as_array() else {
            errors.push(found_in(
                format!(
                    "internal error: choices for argument {k} are not iterable: {}",
                    py_str(choices)
                ),
                context,
            ));
            continue;
        };
        let Some(value) = params.get(k).cloned() else {
            continue;
        };
        let listed = choices.iter().map(py_str).collect::<Vec<_>>().join(", ");
        let within = |v: &Value| choices.iter().any(|c| py_eq(c, v));
        if let Value::Array(items) = &value {
            let diff: Vec<String> = items.iter().filter(|i| !within(i)).map(py_str).collect();
            if !diff.is_empty() {
                errors.push(found_in(
                    format!(
                        "value of {k} must be one or more of: {listed}. Got no match for: {}",
                        diff.join(", ")
                    ),
                    context,
                ));
            }
            continue;
        }
        if within(&value) {
            continue;
        }
        // PyYAML's booleans turned back into the one choice they can stand for.
        let mut value = value;
        for (text, words) in [("False", BOOLEANS_FALSE), ("True", BOOLEANS_TRUE)] {
            if value.as_str() == Some(text) {
                let overlap: Vec<&Value> = choices
                    .iter()
                    .filter(|c| {
                        c.as_str().is_some_and(|s| words.contains(&s))
                            || (!c.is_string() && boolean(c).ok() == Some(text == "True"))
                    })
                    .collect();
                if let [one] = overlap.as_slice() {
                    value = (*one).clone();
                    params.insert(k.clone(), value.clone());
                }
            }
        }
        if !within(&value) {
            errors.push(found_in(
                format!(
                    "value of {k} must be one of: {listed}, got: {}",
                    py_str(&value)
                ),
                context,
            ));
        }
    }
}

/// Terms of `mutually_exclusive` & co.: a list of names or a list of lists of names.
fn term_groups(v: Option<&Value>) -> Vec<Vec<String>> {
    let Some(Value::Array(items)) = v else {
        return Vec::new();
    };
    items
        .iter()
        .map(|i| match i {
            Value::Array(names) => names.iter().map(py_str).collect(),
            other => vec![py_str(other)],
        })
        .collect()
}

fn count(terms: &[String], params: &Map<String, Value>) -> usize {
    let mut seen: Vec<&String> = terms.iter().filter(|t| params.contains_key(*t)).collect();
    seen.dedup();
    seen.len()
}

/// The checks a nested option carries for its sub-options (`_ADDITIONAL_CHECKS`).
fn additional_checks(
    spec: &Value,
    params: &Map<String, Value>,
    context: &[String],
    errors: &mut Vec<String>,
) {
    for t in term_groups(opt(spec, "required_together")) {
        let counts: Vec<usize> = t
            .iter()
            .map(|f| count(std::slice::from_ref(f), params))
            .collect();
        if counts.iter().any(|c| *c > 0) && counts.contains(&0) {
            errors.push(found_in(
                format!("parameters are required together: {}", t.join(", ")),
                context,
            ));
            break;
        }
    }
    for t in term_groups(opt(spec, "required_one_of")) {
        if count(&t, params) == 0 {
            errors.push(found_in(
                format!("one of the following is required: {}", t.join(", ")),
                context,
            ));
            break;
        }
    }
    if let Some(Value::Array(reqs)) = opt(spec, "required_if") {
        for r in reqs {
            let Some(r) = r.as_array() else { continue };
            let (Some(key), Some(val), Some(needed)) = (r.first(), r.get(1), r.get(2)) else {
                continue;
            };
            let key = py_str(key);
            let any = r.get(3).is_some_and(truthy);
            let needed: Vec<String> = match needed {
                Value::Array(a) => a.iter().map(py_str).collect(),
                other => vec![py_str(other)],
            };
            let mut missing = Vec::new();
            if params.get(&key).is_some_and(|v| py_eq(v, val)) {
                missing = needed
                    .iter()
                    .filter(|n| !params.contains_key(*n))
                    .cloned()
                    .collect();
            }
            let max_missing = if any { needed.len() } else { 0 };
            if !missing.is_empty() && missing.len() >= max_missing {
                errors.push(found_in(
                    format!(
                        "{key} is {} but {} of the following are missing: {}",
                        py_str(val),
                        if any { "any" } else { "all" },
                        missing.join(", ")
                    ),
                    context,
                ));
                break;
            }
        }
    }
    if let Some(Value::Object(reqs)) = opt(spec, "required_by") {
        for (key, needed) in reqs {
            if params.get(key).is_none_or(Value::is_null) {
                continue;
            }
            let needed: Vec<String> = match needed {
                Value::Array(a) => a.iter().map(py_str).collect(),
                other => vec![py_str(other)],
            };
            let missing: Vec<String> = needed
                .into_iter()
                .filter(|n| params.get(n).is_none_or(Value::is_null))
                .collect();
            if !missing.is_empty() {
                errors.push(found_in(
                    format!(
                        "missing parameter(s) required by '{key}': {}",
                        missing.join(", ")
                    ),
                    context,
                ));
                break;
            }
        }
    }
}

/// `_validate_sub_spec`: options of `dict` options and of lists of dicts, recursively.
fn validate_sub_spec(
    spec: &Map<String, Value>,
    params: &mut Map<String, Value>,
    context: &mut Vec<String>,
    errors: &mut Vec<String>,
    unsupported: &mut Vec<(Vec<String>, Vec<String>, Vec<String>)>,
) {
    for (k, s) in spec {
        let wanted = type_of(s);
        let elements = opt(s, "elements").and_then(Value::as_str);
        if !(wanted == "dict" || (wanted == "list" && elements == Some("dict"))) {
            continue;
        }
        let sub_spec = opt(s, "options").and_then(Value::as_object);
        if opt(s, "apply_defaults").is_some_and(truthy) {
            if sub_spec.is_none() {
                continue;
            }
            if params.get(k).is_none_or(Value::is_null) {
                params.insert(k.clone(), Value::Object(Map::new()));
            }
        } else if sub_spec.is_none() || params.get(k).is_none_or(Value::is_null) {
            continue;
        }
        let Some(sub_spec) = sub_spec else { continue };
        context.push(k.clone());
        let value = params.get(k).cloned().unwrap_or(Value::Null);
        let (mut elements, is_list) = match value {
            Value::Array(a) => (a, true),
            other => (vec![other], false),
        };
        for el in elements.iter_mut() {
            let Value::Object(sub) = el else {
                errors.push(format!(
                    "value of '{k}' must be of type dict or list of dicts"
                ));
                continue;
            };
            let aliases = match handle_aliases(sub_spec, sub) {
                Ok(a) => a,
                Err(e) => {
                    errors.push(e);
                    Vec::new()
                }
            };
            if let Err(e) = no_log_walk(sub_spec, sub) {
                errors.push(e);
            }
            collect_unsupported(sub_spec, sub, &aliases, context, unsupported);
            let exclusive: Vec<String> = term_groups(opt(s, "mutually_exclusive"))
                .into_iter()
                .filter(|t| count(t, sub) > 1)
                .map(|t| t.join("|"))
                .collect();
            if !exclusive.is_empty() {
                errors.push(found_in(
                    format!(
                        "parameters are mutually exclusive: {}",
                        exclusive.join(", ")
                    ),
                    context,
                ));
            }
            set_defaults(sub_spec, sub, false);
            if let Err(e) = check_required(sub_spec, sub, context) {
                errors.push(e);
            }
            validate_types(sub_spec, sub, context, errors);
            validate_values(sub_spec, sub, context, errors);
            additional_checks(s, sub, context, errors);
            set_defaults(sub_spec, sub, true);
            validate_sub_spec(sub_spec, sub, context, errors, unsupported);
        }
        let new = if is_list {
            Value::Array(elements)
        } else {
            elements.pop().unwrap_or(Value::Null)
        };
        params.insert(k.clone(), new);
        context.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(spec: Value, params: Value) -> Validated {
        let (Value::Object(s), Value::Object(p)) = (spec, params) else {
            panic!("objects")
        };
        validate(&s, p)
    }

    #[test]
    fn no_log_values_are_masked_whole_in_messages() {
        let v = run(
            json!({"a": {"type": "int", "no_log": true}, "b": {"type": "int", "no_log": true},
                   "c": {"type": "dict", "options": {"d": {"type": "int", "no_log": true}}}}),
            json!({"a": "pw", "b": "pwpw", "c": {"d": ["x1"]}}),
        );
        let text = v.errors.join("\n");
        assert!(!text.contains("pw") && !text.contains("x1"), "{text}");
        assert!(text.contains(NO_LOG_MASK), "{text}");
        assert!(v.fatal.is_none());
    }

    #[test]
    fn a_fallback_is_called_only_for_a_missing_option() {
        let spec = json!({"o": {"type": "dict", "options": {"p": {"fallback": ["env_fallback", ["HOME"]]}}},
                          "q": {"fallback": [null]}});
        let v = run(spec.clone(), json!({"o": {"p": "given"}}));
        assert!(v.fatal.is_none() && v.errors.is_empty(), "{:?}", v.errors);
        let v = run(spec, json!({"o": {}}));
        let fatal = v.fatal.expect("fatal");
        assert!(
            fatal.starts_with("Task failed: '_AnsibleTaggedStr' object is not callable")
                && fatal.contains("option 'p'"),
            "{fatal}"
        );
    }

    #[test]
    fn conversions_and_defaults_as_ansible() {
        let v = run(
            json!({"port": {"type": "int", "default": 80}, "on": {"type": "bool"},
                   "names": {"type": "list", "elements": "str"}, "mode": {"choices": ["dev", "prod"]}}),
            json!({"on": "yes", "names": "a,b", "mode": "dev"}),
        );
        assert!(v.errors.is_empty(), "{:?}", v.errors);
        assert_eq!(v.parameters["port"], json!(80));
        assert_eq!(v.parameters["on"], json!(true));
        assert_eq!(v.parameters["names"], json!(["a", "b"]));
    }

    #[test]
    fn messages_as_ansible() {
        let v = run(
            json!({"port": {"type": "int"}, "mode": {"choices": ["dev", "prod"]},
                   "need": {"required": true}, "f": {"type": "float"},
                   "l": {"type": "list", "elements": "int"}}),
            json!({"port": "abc", "mode": "x", "extra": 1, "f": [1], "l": ["1", "z"]}),
        );
        assert_eq!(
            v.errors,
            [
                "missing required arguments: need",
                "argument 'port' is of type str and we were unable to convert to int: \"'abc'\" cannot be converted to an int",
                "argument 'f' is of type list and we were unable to convert to float: <class 'ansible.module_utils._internal._datatag._AnsibleTaggedList'> cannot be converted to a float",
                "Elements value for option 'l' is of type str and we were unable to convert to int: \"'z'\" cannot be converted to an int",
                "value of mode must be one of: dev, prod, got: x",
                "extra. Supported parameters include: f, l, mode, need, port.",
            ]
        );
    }

    #[test]
    fn nested_options_carry_their_context() {
        let v = run(
            json!({"db": {"type": "dict", "options": {"name": {"required": true}, "a": {}, "b": {}},
                          "mutually_exclusive": [["a", "b"]]}}),
            json!({"db": {"a": 1, "b": 2, "zz": 3}}),
        );
        assert_eq!(
            v.errors,
            [
                "parameters are mutually exclusive: a|b found in db",
                "missing required arguments: name found in db",
                "db.zz. Supported parameters include: a, b, name.",
            ]
        );
    }
}
