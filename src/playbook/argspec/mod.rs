//! Roles' argument specs (`meta/argument_specs.yml`, or `argument_specs:` in `meta/main.yml`),
//! read once for both users: the wizard's form (`varspec`) and the engine's implicit
//! "Validating arguments against arg spec" task that ansible-core 2.19 prepends to a role's
//! tasks (`Role._prepend_validation_task`). A spec that is itself wrong (unknown type, a
//! non-list `choices`, `required` with a `default` …) is refused at plan time with its
//! file:line:col; values are validated when the role runs ([`validate`]).

pub mod types;
pub mod validate;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::compat::yaml::{self, Kind, Node, Pos};
use crate::error::InputError;

/// The types an option may have (`DEFAULT_TYPE_VALIDATORS`).
pub const OPTION_TYPES: &[&str] = &[
    "str", "path", "int", "float", "bool", "list", "dict", "raw", "bytes", "bits", "json",
    "jsonarg",
];

/// A role's argument specs as loaded: the file and its `argument_specs` node.
pub struct RoleSpecs {
    pub file: PathBuf,
    /// The `argument_specs:` mapping (entry point → spec); checked by [`load`].
    pub specs: Node,
}

/// One entry point's spec, as the validation task takes it.
pub struct EntryPoint {
    pub name: String,
    pub short_description: Option<String>,
    /// `options` as JSON (`argument_spec` of validate_argument_spec).
    pub options: Map<String, Value>,
    pub pos: Pos,
}

impl RoleSpecs {
    /// The spec of entry point `name` (the `tasks_from` file, else `main`), if it has one.
    pub fn entry_point(&self, name: &str) -> Result<Option<EntryPoint>, InputError> {
        let Some(ep) = self.specs.get(name).filter(|n| !n.is_null()) else {
            return Ok(None);
        };
        let options = match ep.get("options") {
            Some(o) if !o.is_null() => match o.to_json_plain()? {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            _ => Map::new(),
        };
        let short_description = ep.get("short_description").and_then(|n| match &n.kind {
            Kind::Str(s) | Kind::Unsafe(s) => Some(s.clone()),
            _ => n.to_json_plain().ok().map(|v| types::py_str(&v)),
        });
        Ok(Some(EntryPoint {
            name: name.to_string(),
            short_description,
            options,
            pos: ep.pos.clone(),
        }))
    }
}

impl EntryPoint {
    /// Ansible's name for the implicit task.
    pub fn task_name(&self) -> String {
        let mut n = format!("Validating arguments against arg spec '{}'", self.name);
        if let Some(d) = &self.short_description {
            n.push_str(&format!(" - {d}"));
        }
        n
    }

    /// The arguments of the implicit `validate_argument_spec` task.
    pub fn task_args(
        &self,
        role_name: &str,
        role_path: &Path,
        params: &Map<String, Value>,
    ) -> Map<String, Value> {
        let mut a = Map::new();
        a.insert("argument_spec".into(), Value::Object(self.options.clone()));
        a.insert("provided_arguments".into(), Value::Object(params.clone()));
        a.insert(
            "validate_args_context".into(),
            json!({
                "type": "role",
                "name": role_name,
                "argument_spec_name": self.name,
                "path": role_path.display().to_string(),
            }),
        );
        a
    }
}

/// The role's argument specs: `meta/argument_specs{,.yml,.yaml,.json}` first, else
/// `argument_specs:` of `meta/main`, as `Role._get_role_argspecs` looks; checked statically.
pub fn load(role_dir: &Path) -> Result<Option<RoleSpecs>, InputError> {
    let meta = role_dir.join("meta");
    for ext in ["", ".yml", ".yaml", ".json"] {
        let file = meta.join(format!("argument_specs{ext}"));
        if !file.is_file() {
            continue;
        }
        let root = yaml::load_file(&file)?;
        let specs = match &root.kind {
            Kind::Null => return Ok(None),
            Kind::Map(_) => match root.get("argument_specs") {
                Some(s) => s.clone(),
                // Ansible reads no spec from such a file.
                None => return Ok(None),
            },
            _ => {
                return Err(InputError::at(
                    &root.pos,
                    "a role's argument_specs file must be a mapping with 'argument_specs:' (entry points such as 'main:' with 'options:')",
                ));
            }
        };
        check_specs(&specs)?;
        return Ok(Some(RoleSpecs { file, specs }));
    }
    for ext in [".yml", ".yaml", ".json", ""] {
        let file = meta.join(format!("main{ext}"));
        if !file.is_file() {
            continue;
        }
        let root = yaml::load_file(&file)?;
        let Some(specs) = root.get("argument_specs").cloned() else {
            return Ok(None);
        };
        check_specs(&specs)?;
        return Ok(Some(RoleSpecs { file, specs }));
    }
    Ok(None)
}

/// `argument_specs`: entry points mapped to specs whose `options` are well-formed.
fn check_specs(specs: &Node) -> Result<(), InputError> {
    let Some(eps) = specs.as_map() else {
        if specs.is_null() {
            return Ok(());
        }
        return Err(InputError::at(
            &specs.pos,
            format!(
                "'argument_specs' must map entry points (main, …) to their specs, not {}",
                specs.type_name()
            ),
        ));
    };
    for (k, ep) in eps {
        if ep.is_null() {
            continue;
        }
        if ep.as_map().is_none() {
            return Err(InputError::at(
                &ep.pos,
                format!(
                    "entry point '{}' must be a mapping (short_description, options), not {}",
                    k.key_string(),
                    ep.type_name()
                ),
            ));
        }
        if let Some(options) = ep.get("options") {
            check_options(options)?;
        }
    }
    Ok(())
}

/// An `options:` mapping, recursively.
fn check_options(options: &Node) -> Result<(), InputError> {
    let Some(entries) = options.as_map() else {
        if options.is_null() {
            return Ok(());
        }
        return Err(InputError::at(
            &options.pos,
            format!(
                "'options' must map option names to their specs, not {}",
                options.type_name()
            ),
        ));
    };
    for (k, spec) in entries {
        check_option(&k.key_string(), &k.pos, spec)?;
    }
    Ok(())
}

fn text(n: &Node) -> Option<&str> {
    match &n.kind {
        Kind::Str(s) | Kind::Unsafe(s) => Some(s),
        _ => None,
    }
}

/// A type name (`type`, `elements`) Ansible has a checker for.
fn check_type(var: &str, key: &str, n: &Node) -> Result<String, InputError> {
    let Some(t) = text(n) else {
        return Err(InputError::at(
            &n.pos,
            format!("'{key}' must be text, not {}", n.type_name()),
        ));
    };
    if OPTION_TYPES.contains(&t) {
        return Ok(t.to_string());
    }
    let what = if key == "type" {
        format!("unknown type '{t}' of option '{var}'")
    } else {
        format!("unknown elements type '{t}' of option '{var}'")
    };
    Err(InputError::at(
        &n.pos,
        match crate::error::suggest(t, OPTION_TYPES.iter().copied()) {
            Some(s) => format!("{what}; did you mean '{s}'?"),
            None => format!("{what}; valid types: {}", OPTION_TYPES.join(", ")),
        },
    ))
}

/// One option's spec (the checks Ansible would only trip over when a value arrives, or never).
pub fn check_option(var: &str, key_pos: &Pos, spec: &Node) -> Result<(), InputError> {
    if spec.as_map().is_none() {
        return Err(InputError::at(
            &spec.pos,
            format!(
                "option '{var}' must be a mapping (type, required, default, choices, description), not {}",
                spec.type_name()
            ),
        ));
    }
    let _ = key_pos;
    if let Some(n) = spec.get("type") {
        check_type(var, "type", n)?;
    }
    if let Some(n) = spec.get("elements") {
        check_type(var, "elements", n)?;
    }
    if let Some(n) = spec.get("choices").filter(|n| !n.is_null()) {
        let Some(items) = n.as_seq() else {
            return Err(InputError::at(
                &n.pos,
                format!("'choices' must be a list, not {}", n.type_name()),
            ));
        };
        for i in items {
            if matches!(i.kind, Kind::Seq(_) | Kind::Map(_)) {
                return Err(InputError::at(
                    &i.pos,
                    format!("a choice must be a scalar, not {}", i.type_name()),
                ));
            }
        }
    }
    let required = match spec.get("required") {
        None => false,
        Some(n) => match n.kind {
            Kind::Bool(b) => b,
            Kind::Null => false,
            _ => {
                return Err(InputError::at(
                    &n.pos,
                    format!(
                        "'required' must be a boolean (true or false), not {}",
                        n.type_name()
                    ),
                ));
            }
        },
    };
    if let Some(d) = spec.get("default").filter(|n| !n.is_null())
        && required
    {
        return Err(InputError::at(
            &d.pos,
            format!(
                "option '{var}' is required and has a default: Ansible refuses that (required and default are mutually exclusive)"
            ),
        ));
    }
    if let Some(n) = spec.get("aliases").filter(|n| !n.is_null()) {
        let ok = n
            .as_seq()
            .is_some_and(|items| items.iter().all(|i| text(i).is_some()));
        if !ok {
            return Err(InputError::at(
                &n.pos,
                "'aliases' must be a list of option names",
            ));
        }
    }
    // ansible-core reads each entry's `name` when the option's parameters are validated (a
    // deprecation it does not show for a role): anything else there fails that task.
    if let Some(n) = spec.get("deprecated_aliases").filter(|n| !n.is_null()) {
        let Some(items) = n.as_seq() else {
            return Err(InputError::at(
                &n.pos,
                format!(
                    "'deprecated_aliases' must be a list of mappings with 'name' (and 'version' or 'date', 'collection_name'), not {}",
                    n.type_name()
                ),
            ));
        };
        for i in items {
            let Some(entries) = i.as_map() else {
                return Err(InputError::at(
                    &i.pos,
                    format!(
                        "a deprecated alias must be a mapping with 'name' (and 'version' or 'date', 'collection_name'), not {}",
                        i.type_name()
                    ),
                ));
            };
            for (k, v) in entries {
                let key = k.key_string();
                if !matches!(
                    key.as_str(),
                    "name" | "version" | "date" | "collection_name"
                ) {
                    return Err(InputError::at(
                        &k.pos,
                        crate::error::unknown_key(
                            &key,
                            "a deprecated alias",
                            &["name", "version", "date", "collection_name"],
                        ),
                    ));
                }
                if key == "name" && text(v).is_none() {
                    return Err(InputError::at(
                        &v.pos,
                        format!(
                            "'name' of a deprecated alias must be an alias name, not {}",
                            v.type_name()
                        ),
                    ));
                }
            }
            if i.get("name").is_none() {
                return Err(InputError::at(
                    &i.pos,
                    "a deprecated alias needs 'name' (an alias listed in 'aliases')",
                ));
            }
        }
    }
    for key in [
        "mutually_exclusive",
        "required_together",
        "required_one_of",
        "required_if",
    ] {
        if let Some(n) = spec.get(key).filter(|n| !n.is_null())
            && n.as_seq().is_none()
        {
            return Err(InputError::at(
                &n.pos,
                format!(
                    "'{key}' must be a list of lists of option names, not {}",
                    n.type_name()
                ),
            ));
        }
    }
    if let Some(n) = spec.get("required_by").filter(|n| !n.is_null())
        && n.as_map().is_none()
    {
        return Err(InputError::at(
            &n.pos,
            format!(
                "'required_by' must map an option to the options it needs, not {}",
                n.type_name()
            ),
        ));
    }
    if let Some(o) = spec.get("options") {
        check_options(o)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    #[test]
    fn specs_come_from_argument_specs_then_meta_main() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "meta/main.yml",
            "argument_specs:\n  main:\n    short_description: From meta\n    options:\n      a: {type: int}\n",
        );
        let s = load(dir.path()).expect("valid").expect("specs");
        let ep = s.entry_point("main").expect("ok").expect("main");
        assert_eq!(
            ep.task_name(),
            "Validating arguments against arg spec 'main' - From meta"
        );
        assert!(s.entry_point("other").expect("ok").is_none());
        write(
            dir.path(),
            "meta/argument_specs.yml",
            "argument_specs:\n  setup:\n    options:\n      b: {}\n",
        );
        let s = load(dir.path()).expect("valid").expect("specs");
        assert!(s.entry_point("main").expect("ok").is_none());
        let ep = s.entry_point("setup").expect("ok").expect("setup");
        assert_eq!(
            ep.task_name(),
            "Validating arguments against arg spec 'setup'"
        );
        assert!(ep.options.contains_key("b"));
    }

    #[test]
    fn a_wrong_spec_is_pointed_at() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (text, at, want) in [
            (
                "argument_specs:\n  main:\n    options:\n      p:\n        type: dict\n        options:\n          q: {elements: strr}\n",
                ":7:25:",
                "unknown elements type 'strr'",
            ),
            (
                "argument_specs:\n  main:\n    options:\n      p: {required: true, default: 1}\n",
                ":4:36:",
                "required and has a default",
            ),
            (
                "argument_specs:\n  main:\n    options:\n      p: {choices: a}\n",
                ":4:20:",
                "'choices' must be a list",
            ),
        ] {
            write(dir.path(), "meta/argument_specs.yml", text);
            let e = load(dir.path()).err().expect("refused").to_string();
            assert!(e.contains(at) && e.contains(want), "{e}");
        }
    }
}
