//! `module_defaults` as ansible-core 2.19 applies them (`get_action_args_with_defaults`): the
//! mappings from the play, blocks, roles and the task, outermost first, merged by module name
//! (an inner entry for a module replaces an outer one whole), rendered, then the entries of the
//! action groups the module is in, then the module's own entry (by its short name or FQCN),
//! then the task's arguments over them all. An argument the module does not take fails the
//! task as any unsupported argument does, as in Ansible.

use minijinja::Value as JValue;
use serde_json::{Map, Value};

use super::scope::Inherited;
use crate::playbook::{Task, canonical_name};
use crate::template::Templar;

/// Whether `module` (canonical) is in the action group `group` (as written after `group/`).
fn in_group(group: &str, module: &str) -> bool {
    crate::playbook::action_groups::members(group).is_some_and(|m| m.contains(&module))
}

/// `args` (rendered) over the task's module defaults.
pub(super) fn with_defaults(
    templar: &Templar,
    task: &Task,
    inh: &Inherited,
    scope: &JValue,
    args: Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let layers = inh
        .module_defaults
        .iter()
        .chain(&task.common.module_defaults);
    let mut merged = Map::new();
    for layer in layers {
        let dicts = match layer {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        for d in dicts.into_iter().filter_map(Value::as_object) {
            // Ansible resolves the names first: `file` and `ansible.builtin.file` are one entry.
            for (k, v) in d {
                let key = match k.strip_prefix("group/") {
                    Some(_) => k.clone(),
                    None => canonical_name(k),
                };
                merged.insert(key, v.clone());
            }
        }
    }
    if merged.is_empty() {
        return Ok(args);
    }
    // Only the entries that apply are rendered (Ansible renders them all; an entry for another
    // module that does not render would fail there too, rarely worth the difference).
    let mut applied = Map::new();
    for (k, v) in &merged {
        if let Some(g) = k.strip_prefix("group/")
            && in_group(g, &task.module)
        {
            extend(&mut applied, v);
        }
    }
    for (k, v) in &merged {
        if !k.starts_with("group/") && *k == task.module {
            extend(&mut applied, v);
        }
    }
    if applied.is_empty() {
        return Ok(args);
    }
    let rendered = templar
        .render_value(&Value::Object(applied), scope)
        .map_err(|e| format!("module_defaults: {}", e.msg))?;
    let mut out = match rendered {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    out.retain(|_, v| v.as_str() != Some(crate::template::OMIT));
    out.extend(args);
    Ok(out)
}

fn extend(into: &mut Map<String, Value>, v: &Value) {
    if let Value::Object(m) = v {
        into.extend(m.clone());
    }
}
