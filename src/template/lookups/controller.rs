//! The lookups that read the controller: `file`, `template`, `env`, `pipe`, `lines`, `vars`
//! (and `password`, see [`super::password`]), with ansible-core 2.19's options and messages.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use minijinja::Value as JValue;
use serde_json::{Map, Value};

use super::files::find_in_search_path;
use super::{Call, py_type};

/// One lookup result: None is Ansible's undefined marker (`env` of an unset variable, `vars` of
/// a missing one), which `default(...)` can still replace.
pub type Out = Option<Value>;

fn term_str<'v>(name: &str, term: &'v Value) -> Result<&'v str, String> {
    term.as_str().ok_or_else(|| {
        format!(
            "the '{name}' lookup expects strings, got {} {}",
            py_type(term),
            super::py_repr(term)
        )
    })
}

/// Refuses options the lookup does not have (Ansible: "Invalid option(s)").
pub(super) fn check_opts(
    name: &str,
    opts: &Map<String, Value>,
    valid: &[&str],
) -> Result<(), String> {
    match opts.keys().find(|k| !valid.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(format!(
            "unknown option '{k}' for the '{name}' lookup (valid: {})",
            if valid.is_empty() {
                "none".to_string()
            } else {
                valid.join(", ")
            }
        )),
    }
}

fn opt_bool(opts: &Map<String, Value>, key: &str, default: bool) -> bool {
    opts.get(key).map_or(default, super::truthy_value)
}

/// `file`: each term found under `files/` along the search path, its text stripped at the end
/// (`rstrip`, default true) and at the start (`lstrip`, default false).
pub(super) fn file(
    terms: &[Value],
    opts: &Map<String, Value>,
    call: &Call<'_>,
) -> Result<Vec<Out>, String> {
    check_opts("file", opts, &["lstrip", "rstrip"])?;
    let (lstrip, rstrip) = (
        opt_bool(opts, "lstrip", false),
        opt_bool(opts, "rstrip", true),
    );
    let mut out = Vec::new();
    for t in terms {
        let term = term_str("file", t)?;
        let text = find_in_search_path(call.ctx, "files", term)
            .and_then(|p| std::fs::read_to_string(p).ok())
            .ok_or_else(|| {
                format!(
                    "Unable to access the file '{term}': File not found (searched {}).",
                    searched(call, "files")
                )
            })?;
        let text = if lstrip { text.trim_start() } else { &text };
        let text = if rstrip { text.trim_end() } else { text };
        out.push(Some(Value::String(text.to_string())));
    }
    Ok(out)
}

fn searched(call: &Call<'_>, subdir: &str) -> String {
    let mut dirs: Vec<String> = Vec::new();
    for d in call
        .ctx
        .search_path
        .iter()
        .chain(std::iter::once(&call.ctx.basedir))
    {
        for p in [d.join(subdir), d.clone()] {
            let s = p.display().to_string();
            if !dirs.contains(&s) {
                dirs.push(s);
            }
        }
    }
    dirs.join(", ")
}

/// `template`: each term found under `templates/`, rendered with the task's variables plus
/// `template_vars`.
pub(super) fn template(
    terms: &[Value],
    opts: &Map<String, Value>,
    call: &Call<'_>,
) -> Result<Vec<Out>, String> {
    check_opts("template", opts, &["template_vars", "convert_data"])?;
    let extra = match opts.get("template_vars") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            return Err(format!(
                "the template lookup's template_vars must be a mapping, got {}",
                py_type(other)
            ));
        }
    };
    let root = if extra.is_empty() {
        call.scope.clone()
    } else {
        minijinja::value::merge_maps([
            JValue::from(minijinja::value::Serde(&extra)),
            call.scope.clone(),
        ])
    };
    let mut out = Vec::new();
    for t in terms {
        let term = term_str("template", t)?;
        let path = find_in_search_path(call.ctx, "templates", term).ok_or_else(|| {
            format!(
                "the template file {term} could not be found for the lookup (searched {})",
                searched(call, "templates")
            )
        })?;
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let rendered = call
            .env
            // A template file: Python's escapes in every literal, as the template module.
            .render_str(
                &super::super::syntax::rewrite(
                    &text,
                    false,
                    super::super::literals::Escapes::Python,
                ),
                root.clone(),
            )
            .map_err(|e| format!("{}: {}", path.display(), super::super::detail(&e)))?;
        out.push(Some(Value::String(rendered)));
    }
    Ok(out)
}

/// `env`: each term's first word as an environment variable; unset gives `default` or undefined.
pub(super) fn env(terms: &[Value], opts: &Map<String, Value>) -> Result<Vec<Out>, String> {
    check_opts("env", opts, &["default"])?;
    let mut out = Vec::new();
    for t in terms {
        let term = term_str("env", t)?;
        let var = term.split_whitespace().next().unwrap_or_default();
        out.push(match std::env::var(var) {
            Ok(v) => Some(Value::String(v)),
            // 2.19's `default` option defaults to the empty string.
            Err(_) => Some(
                opts.get("default")
                    .cloned()
                    .unwrap_or_else(|| Value::String(String::new())),
            ),
        });
    }
    Ok(out)
}

/// `pipe` and `lines`: each term run by `/bin/sh -c` in the playbook's directory; `pipe` gives
/// the output stripped at the end, `lines` its lines. A non-zero exit is an error.
pub(super) fn shell(
    name: &str,
    terms: &[Value],
    opts: &Map<String, Value>,
    call: &Call<'_>,
) -> Result<Vec<Out>, String> {
    check_opts(name, opts, &[])?;
    let mut out = Vec::new();
    for t in terms {
        let term = match t {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let cwd: PathBuf = call.ctx.basedir.clone();
        let res = Command::new("/bin/sh")
            .arg("-c")
            .arg(&term)
            .current_dir(&cwd)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("lookup_plugin.{name}({term}): {e}"))?;
        if !res.status.success() {
            return Err(format!(
                "lookup_plugin.{name}({term}) returned {}",
                res.status.code().unwrap_or(-1)
            ));
        }
        let text = String::from_utf8_lossy(&res.stdout);
        if name == "pipe" {
            out.push(Some(Value::String(text.trim_end().to_string())));
        } else {
            out.extend(text.lines().map(|l| Some(Value::String(l.to_string()))));
        }
    }
    Ok(out)
}

/// `vars`: each term a variable's name, its value templated; a missing one gives `default` or
/// undefined.
pub(super) fn vars(
    terms: &[Value],
    opts: &Map<String, Value>,
    call: &Call<'_>,
) -> Result<Vec<Out>, String> {
    check_opts("vars", opts, &["default"])?;
    let mut out = Vec::new();
    for t in terms {
        let Value::String(name) = t else {
            return Err(format!("Variable name must be 'str' not '{}'.", py_type(t)));
        };
        let v = call
            .scope
            .get_attr(name)
            .map_err(|e| super::super::detail(&e))?;
        if v.is_undefined() {
            // Without a default: Ansible's undefined marker ("No variable named 'x' was found.").
            out.push(opts.get("default").filter(|d| !d.is_null()).cloned());
        } else {
            out.push(Some(
                super::super::to_json(&v).map_err(|e| super::super::detail(&e))?,
            ));
        }
    }
    Ok(out)
}
