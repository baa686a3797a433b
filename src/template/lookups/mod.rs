//! Ansible's lookups, one implementation for `lookup()`/`query()` in templates and for
//! `with_<lookup>` loops, with ansible-core 2.19's item shapes and messages. Python semantics
//! are kept where a playbook can see them (a string term iterates by characters in
//! `with_together`, `with_subelements` takes the sub-list out of the parent, `with_nested`
//! flattens one level).

mod controller;
mod files;
mod password;
mod sequence;

use std::path::PathBuf;

use minijinja::{Environment, Value as JValue};
use serde_json::{Map, Value};

use super::Templar;
use crate::compat::py::py_type;
pub use crate::playbook::{WITH_LOOKUPS, with_lookup_name};
/// Ansible's `path_dwim_relative_stack`, also used by `include_vars`.
pub use files::find_in_search_path;

/// Where the file lookups look (Ansible's `ansible_search_path`): the task's roles' directories
/// (innermost first), the directory of the task's file, then `basedir`, the playbook's directory
/// (also where `pipe`/`lines` run and `password` paths are relative to).
#[derive(Clone, Default)]
pub struct Context {
    pub search_path: Vec<PathBuf>,
    pub basedir: PathBuf,
    /// The task's module as written: `first_found` searches `templates/`, `vars/` or `files/`
    /// by it.
    pub module: String,
    /// Where generated secrets (`password`) are registered for masking.
    pub redactor: Option<crate::secrets::Redactor>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("search_path", &self.search_path)
            .field("basedir", &self.basedir)
            .field("module", &self.module)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// The context of a template rendered outside a task: the working directory.
    pub fn here() -> Self {
        let cwd = std::env::current_dir().unwrap_or_default();
        Self {
            search_path: vec![cwd.clone()],
            basedir: cwd,
            ..Self::default()
        }
    }
}

/// What a lookup may read besides its terms: the files around the task, the template
/// environment and the task's variables.
pub struct Call<'a> {
    pub ctx: &'a Context,
    pub env: &'a Environment<'a>,
    pub scope: &'a JValue,
    /// Run for a `with_<lookup>` loop (`first_found` searches differently then).
    pub as_with: bool,
}

/// The lookups [`run`] implements: every lookup works both in `lookup()`/`query()` and as a
/// `with_<lookup>` loop, so this is the one list the playbook parser checks `with_` keys against.
pub const LOOKUPS: &[&str] = WITH_LOOKUPS;

/// `ansible.builtin.file` → `file` (the collections whose lookups these are).
pub fn short_name(name: &str) -> &str {
    ["ansible.builtin.", "ansible.legacy.", "community.general."]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name)
}

/// Runs lookup `name` (its short name) on `terms` with its keyword options. Ok: one entry per
/// result, None where Ansible gives an undefined value. Err: the plugin's message.
pub fn run(
    name: &str,
    terms: Vec<Value>,
    opts: &Map<String, Value>,
    call: &Call<'_>,
) -> Result<Vec<Option<Value>>, String> {
    let loop_only = |items: Result<Vec<Value>, String>| -> Result<Vec<Option<Value>>, String> {
        controller::check_opts(name, opts, &[])?;
        Ok(items?.into_iter().map(Some).collect())
    };
    match name {
        "file" => controller::file(&terms, opts, call),
        "template" => controller::template(&terms, opts, call),
        "env" => controller::env(&terms, opts),
        "pipe" | "lines" => controller::shell(name, &terms, opts, call),
        "vars" => controller::vars(&terms, opts, call),
        "password" => password::run(&terms, opts, call),
        "first_found" => Ok(files::first_found(&terms, call.ctx, call.as_with, opts)?
            .into_iter()
            .map(Some)
            .collect()),
        _ => loop_only(loop_items(name, terms, call.ctx)),
    }
}

/// The items of `with_<name>` over `terms` (the loop value rendered; a value that is not a list is
/// one term), `scope` being the task's variables. Err: the lookup's message, as Ansible words it.
pub fn items(
    name: &str,
    terms: Vec<Value>,
    ctx: &Context,
    templar: &Templar,
    scope: &JValue,
) -> Result<Vec<Value>, String> {
    let call = Call {
        ctx,
        env: &templar.env,
        scope,
        as_with: true,
    };
    let fail = |e: String| format!("The lookup plugin '{name}' failed: {e}");
    run(name, terms, &Map::new(), &call)
        .map_err(fail)?
        .into_iter()
        .map(|v| v.ok_or_else(|| format!("The lookup plugin '{name}' gave an undefined value")))
        .collect()
}

fn loop_items(name: &str, terms: Vec<Value>, ctx: &Context) -> Result<Vec<Value>, String> {
    match name {
        "items" => Ok(flatten(&terms)),
        "list" => Ok(terms),
        "dict" => dict(&terms),
        "together" => together(&terms),
        "nested" => nested(&terms),
        "cartesian" => cartesian(&terms),
        "subelements" => subelements(terms),
        "sequence" => sequence::run(&terms),
        "indexed_items" => Ok(flatten(&terms)
            .into_iter()
            .enumerate()
            .map(|(i, v)| Value::Array(vec![i.into(), v]))
            .collect()),
        "fileglob" => files::fileglob(&terms, ctx),
        "flattened" => Ok(flattened(&terms)),
        "random_choice" => Ok(random_choice(terms)),
        other => Err(format!(
            "lookup '{other}' is not supported by slm-wizard's engine (supported: {}); run this playbook with ansible-playbook",
            LOOKUPS.join(", ")
        )),
    }
}

/// The value as Python would show it in a message (`{'a': 1}`, `None`).
fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{s}'"),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("'{k}': {}", py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `for x in value` in Python: a list's elements, a string's characters, a dict's keys.
fn iterate(v: &Value) -> Result<Vec<Value>, String> {
    match v {
        Value::Array(a) => Ok(a.clone()),
        Value::String(s) => Ok(s.chars().map(|c| Value::String(c.into())).collect()),
        Value::Object(o) => Ok(o.keys().map(|k| Value::String(k.clone())).collect()),
        other => Err(format!("'{}' object is not iterable", py_type(other))),
    }
}

/// LookupBase._flatten: lists are spliced in, one level.
fn flatten(terms: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for t in terms {
        match t {
            Value::Array(a) => out.extend(a.iter().cloned()),
            other => out.push(other.clone()),
        }
    }
    out
}

/// `with_dict`: each term a mapping, each entry `{key, value}`.
fn dict(terms: &[Value]) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for t in terms {
        let Value::Object(m) = t else {
            return Err(format!(
                "the 'dict' lookup plugin expects a dictionary, got '{}' of type <class '{}'>)",
                py_repr(t),
                py_type(t)
            ));
        };
        for (k, v) in m {
            let mut e = Map::new();
            e.insert("key".into(), Value::String(k.clone()));
            e.insert("value".into(), v.clone());
            out.push(Value::Object(e));
        }
    }
    Ok(out)
}

/// `with_together`: the terms transposed, short ones padded with None.
fn together(terms: &[Value]) -> Result<Vec<Value>, String> {
    if terms.is_empty() {
        return Err("with_together requires at least one element in each list".into());
    }
    let lists = terms.iter().map(iterate).collect::<Result<Vec<_>, _>>()?;
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    Ok((0..longest)
        .map(|i| {
            let row: Vec<Value> = lists
                .iter()
                .map(|l| l.get(i).cloned().unwrap_or(Value::Null))
                .collect();
            Value::Array(flatten(&row))
        })
        .collect())
}

/// `with_nested`: every combination, the first term varying slowest; each flattened one level.
fn nested(terms: &[Value]) -> Result<Vec<Value>, String> {
    let Some((first, rest)) = terms.split_first() else {
        return Err("with_nested requires at least one element in the nested list".into());
    };
    let mut result = iterate(first)?;
    for next in rest {
        let b = iterate(next)?;
        let mut combined = Vec::new();
        for x in &result {
            for y in &b {
                combined.push(Value::Array(flatten(&[x.clone(), y.clone()])));
            }
        }
        result = combined;
    }
    result
        .iter()
        .map(|x| iterate(x).map(|l| Value::Array(flatten(&l))))
        .collect()
}

/// `with_cartesian` (community.general): the product of the terms, a string term being one item.
fn cartesian(terms: &[Value]) -> Result<Vec<Value>, String> {
    if terms.is_empty() {
        return Err("with_cartesian requires at least one element in each list".into());
    }
    let lists = terms
        .iter()
        .map(|t| match t {
            Value::String(_) => Ok(vec![t.clone()]),
            other => iterate(other),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let rows = crate::template::cartesian_rows(&lists)?;
    Ok(rows
        .into_iter()
        .map(|r| Value::Array(flatten(&r)))
        .collect())
}

/// `with_subelements: [parents, "a.b", {skip_missing: bool}]` → `[parent, sub]` per sub-element;
/// the parent is given without the sub-list (Ansible pops it), parents marked `skipped` are left
/// out.
fn subelements(mut terms: Vec<Value>) -> Result<Vec<Value>, String> {
    let usage =
        |msg: &str| format!("subelements lookup expects a list of two or three items, {msg}");
    if !(2..=3).contains(&terms.len()) {
        return Err(usage(""));
    }
    let flags = if terms.len() == 3 { terms.pop() } else { None };
    let (Some(Value::String(path)), Some(parents)) = (terms.pop(), terms.pop()) else {
        return Err(usage(
            "first a dict or a list, second a string pointing to the subkey",
        ));
    };
    let parents = match parents {
        Value::Object(m) => {
            if m.get("skipped").is_some_and(|s| *s != Value::Bool(false)) {
                return Ok(Vec::new());
            }
            m.into_iter().map(|(_, v)| v).collect()
        }
        Value::Array(a) => a,
        _ => {
            return Err(usage(
                "first a dict or a list, second a string pointing to the subkey",
            ));
        }
    };
    let skip_missing = match &flags {
        None => false,
        Some(Value::Object(f)) => {
            if let Some(k) = f.keys().find(|k| *k != "skip_missing") {
                return Err(usage(&format!(
                    "the optional third item must be a dict with flags ('skip_missing',), not '{k}'"
                )));
            }
            f.get("skip_missing").is_some_and(truthy)
        }
        Some(_) => {
            return Err(usage(
                "the optional third item must be a dict with flags ('skip_missing',)",
            ));
        }
    };
    let keys: Vec<&str> = path.split('.').collect();
    let mut out = Vec::new();
    for parent in parents {
        let Value::Object(mut parent) = parent else {
            return Err(format!(
                "subelements lookup expects a dictionary, got '{}'",
                py_repr(&parent)
            ));
        };
        if parent
            .get("skipped")
            .is_some_and(|s| *s != Value::Bool(false))
        {
            continue;
        }
        let sublist = take_sublist(&mut parent, &keys, skip_missing)?;
        let parent = Value::Object(parent);
        out.extend(
            sublist
                .into_iter()
                .map(|s| Value::Array(vec![parent.clone(), s])),
        );
    }
    Ok(out)
}

/// Walks `keys` from the parent and takes the list at the last one out of it. A missing key (or
/// an inner key that is not a mapping) with skip_missing is passed over, as the plugin's loop does.
fn take_sublist(
    parent: &mut Map<String, Value>,
    keys: &[&str],
    skip_missing: bool,
) -> Result<Vec<Value>, String> {
    let mut at: &mut Map<String, Value> = parent;
    for (i, key) in keys.iter().enumerate() {
        let last = i + 1 == keys.len();
        let Some(v) = at.get(*key) else {
            if skip_missing {
                continue;
            }
            return Err(format!(
                "could not find '{key}' key in iterated item '{}'",
                py_repr(&Value::Object(at.clone()))
            ));
        };
        if !last {
            if !v.is_object() {
                if skip_missing {
                    continue;
                }
                return Err(format!(
                    "the key {key} should point to a dictionary, got '{}'",
                    py_repr(v)
                ));
            }
            let Some(Value::Object(inner)) = at.get_mut(*key) else {
                return Ok(Vec::new());
            };
            at = inner;
        } else {
            if !v.is_array() {
                return Err(format!(
                    "the key {key} should point to a list, got '{}'",
                    py_repr(v)
                ));
            }
            if let Some(Value::Array(l)) = at.shift_remove(*key) {
                return Ok(l);
            }
        }
    }
    Ok(Vec::new())
}

/// Python's truthiness of an option's value, with Ansible's boolean words for text.
fn truthy_value(v: &Value) -> bool {
    match v {
        Value::String(_) => truthy(v),
        other => super::truthy_json(other),
    }
}

/// Ansible's `boolean(x, strict=False)`.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() == Some(1.0),
        Value::String(s) => matches!(
            s.to_ascii_lowercase().as_str(),
            "y" | "yes" | "on" | "1" | "true" | "t"
        ),
        _ => false,
    }
}

/// `with_flattened` (community.general): flattened all the way down; a list of one list is its
/// element, and a `None`/`null` string term ends the list (the plugin breaks there).
fn flattened(terms: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for t in terms {
        let mut t = t;
        while let Value::Array(a) = t
            && a.len() == 1
        {
            t = &a[0];
        }
        if matches!(t, Value::String(s) if s == "None" || s == "null") {
            break;
        }
        match t {
            Value::Array(a) => out.extend(flattened(a)),
            other => out.push(other.clone()),
        }
    }
    out
}

/// `with_random_choice`: one term picked at random (none from none).
fn random_choice(mut terms: Vec<Value>) -> Vec<Value> {
    if terms.is_empty() {
        return terms;
    }
    let i = rand::random_range(0..terms.len());
    vec![terms.swap_remove(i)]
}
