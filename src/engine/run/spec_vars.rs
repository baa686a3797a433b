//! The variables a role's validation task reads (`validate_argument_spec`).

use minijinja::Value as JValue;
use serde_json::{Map, Value};

use crate::template::Templar;

/// validate_argument_spec's `get_args_from_task_vars`: each option of the spec that is a
/// variable of the task, rendered.
pub(super) fn spec_vars(
    templar: &Templar,
    spec: &Map<String, Value>,
    scope: &JValue,
) -> Map<String, Value> {
    let mut out = Map::new();
    for name in spec.keys() {
        let ident = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ident {
            continue;
        }
        let defined = templar
            .render_str(&format!("{{{{ {name} is defined }}}}"), scope)
            .is_ok_and(|v| v == Value::Bool(true));
        if !defined {
            continue;
        }
        if let Ok(v) = templar.render_str(&format!("{{{{ {name} }}}}"), scope) {
            out.insert(name.clone(), v);
        }
    }
    out
}
