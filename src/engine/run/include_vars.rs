//! `include_vars`, as ansible-core 2.19's action: a file (searched in the role's `vars/`, the
//! role, the task's directory, then the playbook's) or a directory (the role's `vars/<dir>`, or
//! beside the task's file) walked in name order with `depth`, `files_matching`, `ignore_files`,
//! `extensions`; vault-encrypted files through the run's vault password. The variables are the
//! host's (kept across plays), just below set_fact in precedence; `name` puts them under one
//! variable; `hash_behaviour: merge` merges mappings into the current values.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::Value as JValue;
use serde_json::{Map, Value};

use super::scope::Inherited;
use super::{HostState, Shared, publish};
use crate::engine::modules::ModuleResult;
use crate::playbook::Task;

/// Arguments that only make sense with `dir`, with `file`, and with either (ansible-core's lists).
pub const DIR_ARGS: &[&str] = &[
    "dir",
    "depth",
    "files_matching",
    "ignore_files",
    "extensions",
    "ignore_unknown_extensions",
];
pub const FILE_ARGS: &[&str] = &["file", "_raw_params"];
pub const ALL_ARGS: &[&str] = &["name", "hash_behaviour"];

/// Ansible's message for arguments of both kinds; None when they are consistent. Err names an
/// argument include_vars does not have.
pub fn check_arg_names<'a>(
    keys: impl Iterator<Item = &'a str>,
) -> Result<Option<&'static str>, String> {
    let (mut dirs, mut files) = (false, false);
    for k in keys {
        if DIR_ARGS.contains(&k) {
            dirs = true;
        } else if FILE_ARGS.contains(&k) {
            files = true;
        } else if !ALL_ARGS.contains(&k) {
            return Err(format!("{k} is not a valid option in include_vars"));
        }
    }
    Ok((dirs && files)
        .then_some("You are mixing file only and dir only arguments, these are incompatible"))
}

/// Runs `include_vars` for this host; the variables go to `to` instead with `delegate_facts`.
pub(super) fn include_vars(
    shared: &Shared,
    state: &mut HostState,
    inh: &Inherited,
    task: &Task,
    scope: &JValue,
    to: Option<&str>,
) -> ModuleResult {
    let args = match shared
        .plan
        .templar
        .render_value(&Value::Object(task.args.clone()), scope)
    {
        Ok(Value::Object(m)) => m,
        Ok(_) => Map::new(),
        Err(e) => return ModuleResult::fail(e.msg),
    };
    match check_arg_names(args.keys().map(String::as_str)) {
        Ok(None) => {}
        Ok(Some(msg)) => return ModuleResult::fail(msg),
        Err(msg) => return ModuleResult::fail(msg),
    }
    let role = inh.roles.last().map(|r| r.path.clone());
    let (vars, files) = match load(shared, &args, task, role.as_deref()) {
        Ok(x) => x,
        Err(msg) => {
            let mut r = ModuleResult::fail(msg.clone());
            r.extra.insert("message".into(), msg.into());
            return r;
        }
    };
    let mut vars = match args.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => {
            let mut m = Map::new();
            m.insert(name.to_string(), Value::Object(vars));
            m
        }
        _ => vars,
    };
    match args.get("hash_behaviour") {
        None | Some(Value::Null) => {}
        Some(Value::String(h)) if h == "replace" => {}
        Some(Value::String(h)) if h == "merge" => {
            for (k, v) in vars.iter_mut() {
                if let Some(current) = super::scope::var(scope, k) {
                    *v = merge(current, v.clone());
                }
            }
        }
        Some(other) => {
            return ModuleResult::fail(format!(
                "hash_behaviour: {other} is not one of replace, merge"
            ));
        }
    }
    shared.plan.redactor.add_named_map(&vars, &|_| false);
    match to {
        Some(to) => super::give(shared, to, |g| g.included.extend(vars.clone())),
        None => {
            let mut inc = (*state.included).clone();
            inc.extend(vars.clone());
            state.included = Arc::new(inc);
            publish(shared, state);
        }
    }
    let mut r = ModuleResult::ok();
    r.extra.insert(
        "ansible_included_var_files".into(),
        Value::from(
            files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>(),
        ),
    );
    r.extra.insert("ansible_facts".into(), Value::Object(vars));
    r
}

/// Ansible's `combine_vars(..., merge=True)`: mappings merged recursively, anything else replaced.
fn merge(current: Value, new: Value) -> Value {
    match (current, new) {
        (Value::Object(mut a), Value::Object(b)) => {
            for (k, v) in b {
                let merged = match a.remove(&k) {
                    Some(old) => merge(old, v),
                    None => v,
                };
                a.insert(k, merged);
            }
            Value::Object(a)
        }
        (_, new) => new,
    }
}

/// The variables of the file or directory the arguments name, and the files read (in order).
fn load(
    shared: &Shared,
    args: &Map<String, Value>,
    task: &Task,
    role: Option<&Path>,
) -> Result<(Map<String, Value>, Vec<PathBuf>), String> {
    let text = |k: &str| -> Option<String> {
        match args.get(k)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    };
    let task_dir = task
        .pos
        .file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .and_then(|d| std::path::absolute(d).ok())
        .unwrap_or_else(|| shared.plan.playbook.dir.clone());
    if let Some(dir) = text("dir") {
        let dir = match role {
            Some(r) if dir.split('/').next() == Some("vars") && r.join(&dir).exists() => {
                r.join(&dir)
            }
            Some(r) => r.join("vars").join(&dir),
            None => task_dir.join(&dir),
        };
        return load_dir(shared, args, &dir);
    }
    let Some(file) =
        text("file").or_else(|| text("_raw_params").map(|s| s.trim_end_matches('\n').to_string()))
    else {
        return Err("include_vars needs a file (file: or free-form) or a dir".into());
    };
    // The role's directories, then the task's, then the playbook's (Task.get_search_path).
    let mut search_path: Vec<PathBuf> = Vec::new();
    if let Some(r) = role {
        search_path.push(r.to_path_buf());
    }
    if !search_path.contains(&task_dir) {
        search_path.push(task_dir);
    }
    let ctx = crate::template::lookups::Context {
        search_path,
        basedir: shared.plan.playbook.dir.clone(),
        module: task.module_written.clone(),
        redactor: None,
    };
    let Some(path) = crate::template::lookups::find_in_search_path(&ctx, "vars", &file) else {
        let mut places: Vec<String> = ctx
            .search_path
            .iter()
            .chain(std::iter::once(&ctx.basedir))
            .flat_map(|d| [d.join("vars").join(&file), d.join(&file)])
            .map(|p| p.display().to_string())
            .collect();
        places.dedup();
        return Err(format!(
            "Could not find or access '{file}'\nSearched in:\n\t{}",
            places.join("\n\t")
        ));
    };
    let vars = load_file(shared, &path)?;
    Ok((vars, vec![path]))
}

fn load_file(shared: &Shared, path: &Path) -> Result<Map<String, Value>, String> {
    let vault = crate::engine::plan::make_vault_fn(
        shared.plan.request.vault_password.clone(),
        shared.plan.redactor.clone(),
    );
    crate::engine::plan::load_vars_file(path, &vault).map_err(|e| {
        let msg = e.to_string();
        if msg.contains("a vars file must be a mapping") {
            format!("{} must be stored as a dictionary/hash", path.display())
        } else {
            msg
        }
    })
}

fn load_dir(
    shared: &Shared,
    args: &Map<String, Value>,
    dir: &Path,
) -> Result<(Map<String, Value>, Vec<PathBuf>), String> {
    if !dir.exists() {
        return Err(format!("{} directory does not exist", dir.display()));
    }
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let depth = match args.get("depth") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .ok_or_else(|| format!("depth: {v} is not a number"))? as usize,
    };
    let matcher = match args.get("files_matching").and_then(Value::as_str) {
        Some(p) if !p.is_empty() => Some(
            regex::Regex::new(p)
                .map_err(|e| format!("files_matching: invalid regular expression: {e}"))?,
        ),
        _ => None,
    };
    let ignore: Vec<regex::Regex> = match args.get("ignore_files") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => strings_to_regexes(s.split_whitespace())?,
        Some(Value::Array(a)) => {
            strings_to_regexes(a.iter().map(|v| v.as_str().unwrap_or_default()))?
        }
        Some(other) => return Err(format!("{other} must be a list")),
    };
    // A string is a list of its characters in Python, as ansible-core then uses it.
    let extensions: Vec<String> = match args.get("extensions") {
        None | Some(Value::Null) => vec!["yaml".into(), "yml".into(), "json".into()],
        Some(Value::String(s)) => s.chars().map(String::from).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect(),
        Some(_) => return Err("Invalid type for \"extensions\" option, it must be a list".into()),
    };
    let ignore_unknown = args
        .get("ignore_unknown_extensions")
        .and_then(crate::engine::modules::parse_bool)
        .unwrap_or(false);
    let valid_ext = |name: &str| {
        Path::new(name)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.iter().any(|x| x == e))
    };
    let mut roots: Vec<(PathBuf, Vec<String>)> = Vec::new();
    walk(dir, &mut roots, 0);
    roots.sort_by(|a, b| a.0.cmp(&b.0));
    let mut vars = Map::new();
    let mut files = Vec::new();
    for (root, mut names) in roots {
        let level = root
            .strip_prefix(dir)
            .map(|r| r.components().count())
            .unwrap_or(0)
            + 1;
        if depth != 0 && level > depth {
            continue;
        }
        names.sort();
        for name in names {
            if matcher.as_ref().is_some_and(|m| !m.is_match(&name)) {
                continue;
            }
            if ignore.iter().any(|r| r.is_match(&name)) {
                continue;
            }
            if ignore_unknown && !valid_ext(&name) {
                continue;
            }
            let path = root.join(&name);
            if !valid_ext(&name) {
                return Err(format!(
                    "{} does not have a valid extension: {}",
                    path.display(),
                    extensions.join(", ")
                ));
            }
            vars.extend(load_file(shared, &path)?);
            files.push(path);
        }
    }
    Ok((vars, files))
}

/// `ignore_files` patterns, each matched at the end of a file name (`re.search(p + '$')`).
fn strings_to_regexes<'a>(
    pats: impl Iterator<Item = &'a str>,
) -> Result<Vec<regex::Regex>, String> {
    pats.filter(|p| !p.is_empty())
        .map(|p| {
            regex::Regex::new(&format!("(?:{p})$"))
                .map_err(|_| format!("Invalid regular expression: {p}"))
        })
        .collect()
}

/// Every directory under `dir` (itself included, links followed as `os.walk(followlinks=True)`)
/// with the names of its files.
fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<String>)>, level: usize) {
    // A link cycle must not recurse without end.
    if level > 64 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files = Vec::new();
    let mut subdirs = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            subdirs.push(path);
        } else {
            files.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out.push((dir.to_path_buf(), files));
    for d in subdirs {
        walk(&d, out, level + 1);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn argument_kinds_may_not_mix_and_unknown_ones_are_named() {
        assert_eq!(check_arg_names(["file", "name"].into_iter()), Ok(None));
        assert_eq!(
            check_arg_names(["dir", "depth", "hash_behaviour"].into_iter()),
            Ok(None)
        );
        assert!(
            check_arg_names(["file", "depth"].into_iter())
                .is_ok_and(|m| m.is_some_and(|m| m.contains("mixing")))
        );
        assert_eq!(
            check_arg_names(["files"].into_iter()),
            Err("files is not a valid option in include_vars".into())
        );
    }

    #[test]
    fn merge_combines_mappings_recursively_and_replaces_the_rest() {
        let a = json!({"a": {"x": 1, "y": [1]}, "b": 1});
        let b = json!({"a": {"y": [2], "z": 3}, "c": 2});
        assert_eq!(
            merge(a, b),
            json!({"a": {"x": 1, "y": [2], "z": 3}, "b": 1, "c": 2})
        );
        assert_eq!(merge(json!([1]), json!({"k": 1})), json!({"k": 1}));
    }

    #[test]
    fn ignore_patterns_match_at_the_end_of_the_name() {
        let r = strings_to_regexes(["bak", ""].into_iter()).unwrap_or_default();
        assert_eq!(r.len(), 1);
        assert!(r[0].is_match("x.yml.bak"));
        assert!(!r[0].is_match("bak.yml"));
        assert!(strings_to_regexes(["("].into_iter()).is_err());
    }
}
