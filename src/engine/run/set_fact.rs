//! `set_fact`: pairs rendered into the host's runtime variables. Keys may be templates (`"{{ name
//! }}": value`, a rare place where Ansible templates a key); each rendered key must be a valid
//! variable name, as ansible-core's `validate_variable_name` checks.

use std::sync::Arc;

use minijinja::Value as JValue;
use serde_json::{Map, Value};

use super::{HostState, Shared, publish};
use crate::engine::modules::ModuleResult;
use crate::template::{Templar, is_template};

/// Names Jinja resolves itself, so no variable can have them (ansible-core's `JINJA_KEYWORDS`).
const JINJA_KEYWORDS: &[&str] = &["true", "false", "none", "True", "False", "None", "not"];

/// Renders the task's pairs (masking secret-named values) and sets them on the host, or on
/// `to` (`delegate_facts`).
pub(super) fn set_fact(
    shared: &Shared,
    state: &mut HostState,
    task: &crate::playbook::Task,
    scope: &JValue,
    to: Option<&str>,
) -> ModuleResult {
    let mut args = task.args.clone();
    args.remove("cacheable");
    if args.is_empty() {
        return ModuleResult::fail(
            "No key/value pairs provided, at least one is required for this action to succeed",
        );
    }
    let facts = match render_facts(&shared.plan.templar, &args, scope) {
        Ok(f) => f,
        Err(msg) => return ModuleResult::fail(msg),
    };
    shared.plan.redactor.add_named_map(&facts, &|_| false);
    match to {
        Some(to) => super::give(shared, to, |g| g.runtime.extend(facts.clone())),
        None => {
            let mut rt = (*state.runtime).clone();
            for (k, v) in &facts {
                rt.insert(k.clone(), v.clone());
            }
            state.runtime = Arc::new(rt);
            publish(shared, state);
        }
    }
    let mut r = ModuleResult::ok();
    r.extra.insert("ansible_facts".into(), Value::Object(facts));
    r
}

/// The pairs with keys and values rendered; Err(message) on a bad name or a template error.
fn render_facts(
    templar: &Templar,
    args: &Map<String, Value>,
    scope: &JValue,
) -> Result<Map<String, Value>, String> {
    let mut facts = Map::new();
    for (k, v) in args {
        let key = if is_template(k) {
            templar.render_str(k, scope).map_err(|e| e.msg)?
        } else {
            Value::String(k.clone())
        };
        let name = valid_name(&key)?;
        let value = templar.render_value(v, scope).map_err(|e| e.msg)?;
        facts.insert(name, value);
    }
    Ok(facts)
}

/// The key as a variable name, or ansible-core's message for it.
fn valid_name(key: &Value) -> Result<String, String> {
    if let Value::String(s) = key
        && is_identifier(s)
        && !JINJA_KEYWORDS.contains(&s.as_str())
    {
        return Ok(s.clone());
    }
    // Python's repr of the key and its type name, as Ansible shows them.
    let (shown, type_name) = match key {
        Value::String(s) => (s.clone(), None),
        Value::Number(n) if n.is_f64() => (n.to_string(), Some("float")),
        Value::Number(n) => (n.to_string(), Some("int")),
        Value::Bool(b) => (if *b { "True" } else { "False" }.to_string(), Some("bool")),
        Value::Null => ("None".to_string(), Some("NoneType")),
        Value::Array(_) => (String::new(), Some("list")),
        Value::Object(_) => (String::new(), Some("dict")),
    };
    let mut desc = match key {
        Value::Array(_) | Value::Object(_) => "name".to_string(),
        _ => format!("name '{shown}'"),
    };
    if let Some(t) = type_name {
        desc.push_str(&format!(" of type '{t}'"));
    }
    Err(format!(
        "Invalid variable {desc}. Variable names must be strings starting with a letter or \
         underscore character, and contain only letters, numbers and underscores."
    ))
}

/// ASCII letters, digits and `_`, not starting with a digit.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::scope;
    use super::*;

    fn render(args: Value, vars: Value) -> Result<Map<String, Value>, String> {
        let args = args.as_object().cloned().unwrap_or_default();
        render_facts(&Templar::new(), &args, &scope(vars))
    }

    #[test]
    fn templated_keys_are_rendered() {
        let facts = render(
            json!({"{{ k }}": "{{ v }}", "plain": 1}),
            json!({"k": "my_key", "v": "my_value"}),
        );
        assert_eq!(
            facts.map(Value::Object),
            Ok(json!({"my_key": "my_value", "plain": 1}))
        );
    }

    #[test]
    fn bad_names_are_refused_with_ansibles_message() {
        let err = |args: Value| render(args, json!({})).err().unwrap_or_default();
        assert!(err(json!({"{{ 'true' }}": 1})).starts_with("Invalid variable name 'true'."));
        assert!(err(json!({"{{ 1 }}": 1})).starts_with("Invalid variable name '1' of type 'int'."));
        assert!(err(json!({"a-b": 1})).starts_with("Invalid variable name 'a-b'."));
        assert!(err(json!({"{{ [1] }}": 1})).starts_with("Invalid variable name of type 'list'."));
        assert!(
            err(json!({"{{ nope }}": 1})).contains("nope"),
            "a template error"
        );
    }
}
