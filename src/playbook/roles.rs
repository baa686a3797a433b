//! Roles: found on the search path, loaded from their layout (tasks, handlers, defaults, vars,
//! meta dependencies) and expanded into the play's item tree as blocks that carry the role, whose
//! defaults, vars and params the engine layers in Ansible's precedence.
//!
//! Expansion is static; an `include_role` block is marked `dynamic` so the engine evaluates its
//! `when` and `tags` once, as Ansible does for the include, instead of passing them to its tasks.
//! Duplicates (`roles:` and meta
//! dependencies with the same parameters) are skipped per host at run time, unless the role
//! allows them; `include_role` / `import_role` allow them by default, as in Ansible.

use std::sync::Arc;

use super::*;

/// One loaded role invocation (a role with its parameters).
#[derive(Debug)]
pub struct Role {
    pub name: String,
    /// The role's directory (absolute).
    pub path: PathBuf,
    /// Its dependencies' defaults, then its own `defaults/` (lowest precedence).
    pub defaults: Arc<Map<String, Value>>,
    /// Its dependencies' vars, then its own `vars/` (above play vars_files).
    pub vars: Arc<Map<String, Value>>,
    /// The `vars:` keyword of the invocation (above the role's `vars/`).
    pub entry_vars: Arc<Map<String, Value>>,
    /// Inline parameters of a `roles:` entry or meta dependency (above set_fact).
    pub params: Arc<Map<String, Value>>,
    pub allow_duplicates: bool,
    /// `include_role`: its `when` and `tags` decide once whether it runs and are not inherited by
    /// its tasks, as with Ansible's dynamic includes.
    pub dynamic: bool,
    /// `include_role` with `public: true`: once included, its defaults and vars are the play's
    /// (on every host, as ansible-core appends it to the play's roles).
    pub public: bool,
    /// What makes two invocations the same role run (path, params, when, tags, vars, files).
    pub identity: String,
}

/// Which files of the role an `include_role`/`import_role` asks for.
#[derive(Default)]
pub(super) struct FromFiles {
    pub tasks: Option<String>,
    pub vars: Option<String>,
    pub defaults: Option<String>,
    pub handlers: Option<String>,
}

/// How one invocation asks for a role.
pub(super) struct Invocation<'n> {
    pub name: String,
    pub name_pos: Pos,
    pub common: Common,
    pub entry_vars: Map<String, Value>,
    pub params: Map<String, Value>,
    pub files: FromFiles,
    /// `allow_duplicates` of an include/import (true by default there); None: the role's meta.
    pub allow_duplicates: Option<bool>,
    /// `include_role`/`import_role` (its handlers go after the play's, the rest before).
    pub from_include: bool,
    /// Its defaults and vars stay with its own tasks: `include_role` unless `public: true`,
    /// `import_role` with `public: false`.
    pub private: bool,
    /// `include_role` (dynamic: its gate is judged once, by the include).
    pub dynamic: bool,
    /// `include_role`'s `apply`: keywords its tasks and handlers inherit.
    pub apply: Option<Common>,
    /// Validate its arguments against the role's spec (`rolespec_validate`, default true).
    pub validate: bool,
    pub node: &'n Node,
}

/// Roles are searched after `roles/` beside the playbook: `ANSIBLE_ROLES_PATH`, else `roles_path`
/// of the configuration file (see [`super::ansible_cfg`]), else Ansible's default directories;
/// then the playbook's directory itself.
pub fn search_path(playbook_dir: &Path) -> Vec<PathBuf> {
    // A configuration that cannot be read is reported by the plan; here it means the defaults.
    let cfg = super::ansible_cfg::load(super::ansible_cfg::find(playbook_dir).as_deref()).ok();
    if let Some(p) = cfg.and_then(|c| c.roles_path) {
        return p;
    }
    let home = std::env::var_os("ANSIBLE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ansible")));
    let mut out: Vec<PathBuf> = home.map(|h| h.join("roles")).into_iter().collect();
    out.push("/usr/share/ansible/roles".into());
    out.push("/etc/ansible/roles".into());
    out
}

/// Keys of a `roles:` entry (or meta dependency) that are keywords; every other key is a
/// parameter of the role.
const ROLE_ENTRY_KEYWORDS: &[&str] = &[
    "role",
    "name",
    "vars",
    "when",
    "tags",
    "become",
    "become_user",
    "become_method",
    "module_defaults",
];

/// Keywords Ansible accepts on a role that this engine does not implement.
const UNSUPPORTED_ROLE_KEYWORDS: &[&str] = &[
    "delegate_to",
    "delegate_facts",
    "connection",
    "remote_user",
    "port",
    "public",
    "apply",
    "throttle",
    "debugger",
    "async",
    "poll",
];

const META_KEYS: &[&str] = &[
    "dependencies",
    "allow_duplicates",
    "galaxy_info",
    "collections",
    "argument_specs",
];

impl Parser<'_> {
    /// A `roles:` entry or meta dependency: a name, or a mapping with `role:`/`name:`.
    pub(super) fn role_entry(
        &mut self,
        node: &Node,
        out: &mut Vec<Item>,
        handlers: &mut Vec<Item>,
    ) -> Result<(), InputError> {
        let inv = match &node.kind {
            Kind::Str(_) => Invocation {
                name: str_of(node, "role")?,
                name_pos: node.pos.clone(),
                common: Common::default(),
                entry_vars: Map::new(),
                params: Map::new(),
                files: FromFiles::default(),
                allow_duplicates: None,
                from_include: false,
                private: false,
                dynamic: false,
                apply: None,
                validate: true,
                node,
            },
            Kind::Map(entries) => {
                let mut name = None;
                let mut common = Common::default();
                let mut entry_vars = Map::new();
                let mut params = Map::new();
                for (k, v) in entries {
                    let key = k.key_string();
                    match key.as_str() {
                        "role" | "name" => name = Some((str_of(v, &key)?, v.pos.clone())),
                        "vars" => entry_vars = self.map_of(v, "vars")?,
                        "when" | "tags" | "become" | "become_user" | "become_method"
                        | "module_defaults" => {
                            self.common(&mut common, &key, v)?;
                        }
                        k2 if UNSUPPORTED_ROLE_KEYWORDS.contains(&k2) => {
                            return Err(InputError::at(
                                &k.pos,
                                format!(
                                    "'{k2}' on a role is not supported by slm-wizard's engine; run this playbook with ansible-playbook"
                                ),
                            )
.not_implemented());
                        }
                        _ => {
                            // Other keywords Ansible knows on a role would silently become
                            // parameters here: refuse them instead.
                            let mut probe = Common::default();
                            if self.common(&mut probe, &key, v)? {
                                return Err(InputError::at(
                                    &k.pos,
                                    format!(
                                        "'{key}' on a role is not supported by slm-wizard's engine (valid keywords: {}); \
                                         set it on the role's tasks or run with ansible-playbook",
                                        ROLE_ENTRY_KEYWORDS.join(", ")
                                    ),
                                )
.not_implemented());
                            }
                            params.insert(key, self.json(v)?);
                        }
                    }
                }
                let Some((name, name_pos)) = name else {
                    return Err(InputError::at(
                        &node.pos,
                        "a role entry needs 'role:' (the role's name or path)",
                    ));
                };
                Invocation {
                    name,
                    name_pos,
                    common,
                    entry_vars,
                    params,
                    files: FromFiles::default(),
                    allow_duplicates: None,
                    from_include: false,
                    private: false,
                    dynamic: false,
                    apply: None,
                    validate: true,
                    node,
                }
            }
            _ => {
                return Err(InputError::at(
                    &node.pos,
                    format!(
                        "a role entry must be a role name or a mapping with 'role:', not {}",
                        node.type_name()
                    ),
                ));
            }
        };
        self.role(inv, out, handlers)
    }

    pub(super) fn find_role(&self, name: &str, at: &Pos) -> Result<PathBuf, InputError> {
        if crate::template::is_template(name) {
            return Err(InputError::at(
                at,
                format!(
                    "a templated role name ({name}) is not supported by slm-wizard's engine; give the name"
                ),
            )
.not_implemented());
        }
        let mut candidates = Vec::new();
        if name.contains('/') {
            candidates.push(self.dir.join(name));
        } else {
            candidates.push(self.dir.join("roles").join(name));
            candidates.extend(self.roles_path.iter().map(|p| p.join(name)));
            candidates.push(self.dir.join(name));
        }
        match candidates.iter().find(|c| c.is_dir()) {
            Some(c) => Ok(std::path::absolute(c).unwrap_or_else(|_| c.clone())),
            None => Err(InputError::at(
                at,
                format!(
                    "role '{name}' not found (looked in {})",
                    candidates
                        .iter()
                        .map(|c| c.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// Loads a role invocation and appends its block to `out` (and its handlers to `handlers`,
    /// or to the play's late handlers for an include/import).
    pub(super) fn role(
        &mut self,
        inv: Invocation<'_>,
        out: &mut Vec<Item>,
        handlers: &mut Vec<Item>,
    ) -> Result<(), InputError> {
        let path = self.find_role(&inv.name, &inv.name_pos)?;
        if let Some(cycle) = cycle_from(&self.role_stack, &path) {
            return Err(InputError::at(
                &inv.name_pos,
                format!("role dependency cycle: {cycle}"),
            ));
        }
        if self.role_stack.len() > 20 {
            return Err(InputError::at(
                &inv.name_pos,
                "roles nested more than 20 deep",
            ));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or(inv.name.clone());
        // Ansible prepends the entry point's validation task (the spec is checked here, once).
        let validation = match inv.validate {
            true => super::argspec::load(&path)?,
            false => None,
        }
        .map(|specs| specs.entry_point(inv.files.tasks.as_deref().unwrap_or("main")))
        .transpose()?
        .flatten()
        .map(|ep| self.validation_task(&ep, &name, &path, &inv.params, &inv.name_pos));
        let meta = role_file(&path, "meta", None, &inv.name_pos)?
            .map(|p| yaml::load_file(&p))
            .transpose()?;
        let mut allow_duplicates = false;
        let mut deps: Vec<&Node> = Vec::new();
        if let Some(m) = &meta {
            match &m.kind {
                Kind::Null => {}
                Kind::Map(entries) => {
                    for (k, v) in entries {
                        match k.key_string().as_str() {
                            "dependencies" => match &v.kind {
                                Kind::Null => {}
                                Kind::Seq(items) => deps.extend(items.iter()),
                                _ => {
                                    return Err(InputError::at(
                                        &v.pos,
                                        "meta 'dependencies' must be a list of roles",
                                    ));
                                }
                            },
                            "allow_duplicates" => {
                                allow_duplicates = bool_of(v, "allow_duplicates")?
                            }
                            // argument_specs: read by argspec::load.
                            "argument_specs" | "galaxy_info" | "collections" => {}
                            other => {
                                return Err(InputError::at(
                                    &k.pos,
                                    unknown_key(other, "role meta", META_KEYS),
                                ));
                            }
                        }
                    }
                }
                _ => {
                    return Err(InputError::at(
                        &m.pos,
                        format!(
                            "a role's meta/main.yml must be a mapping, not {}",
                            m.type_name()
                        ),
                    ));
                }
            }
        }
        let allow_duplicates = inv.allow_duplicates.unwrap_or(allow_duplicates);
        let mut defaults = Map::new();
        let mut vars = Map::new();
        // Dependencies run first, inside this role's block (they inherit its conditions and see
        // its vars, as Ansible's dependency chain does).
        self.role_stack.push(path.clone());
        self.private_depth += usize::from(inv.private || inv.dynamic);
        let mut items = Vec::new();
        let mut dep_handlers = Vec::new();
        let deps_result: Result<(), InputError> = deps
            .iter()
            .try_for_each(|d| self.role_entry(d, &mut items, &mut dep_handlers));
        let body = deps_result.and_then(|()| {
            for i in &items {
                if let Item::Block(b) = i
                    && let Some(r) = &b.common.role
                {
                    defaults.extend(r.defaults.as_ref().clone());
                    vars.extend(r.vars.as_ref().clone());
                }
            }
            defaults.extend(self.role_vars_file(
                &path,
                "defaults",
                inv.files.defaults.as_deref(),
                &inv.name_pos,
            )?);
            vars.extend(self.role_vars_file(
                &path,
                "vars",
                inv.files.vars.as_deref(),
                &inv.name_pos,
            )?);
            let mut tasks: Vec<Item> = validation.map(Item::Task).into_iter().collect();
            if let Some(p) = role_file(&path, "tasks", inv.files.tasks.as_deref(), &inv.name_pos)? {
                tasks.extend(self.items(&yaml::load_file(&p)?, "role tasks", false)?);
            }
            let handlers = match role_file(
                &path,
                "handlers",
                inv.files.handlers.as_deref(),
                &inv.name_pos,
            )? {
                Some(p) => self.items(&yaml::load_file(&p)?, "role handlers", true)?,
                None => Vec::new(),
            };
            Ok((tasks, handlers))
        });
        self.role_stack.pop();
        self.private_depth -= usize::from(inv.private || inv.dynamic);
        let (tasks, own_handlers) = body?;
        let identity = serde_json::json!([
            path.display().to_string(),
            inv.params,
            inv.entry_vars,
            inv.common.when,
            inv.common.tags,
            [
                &inv.files.tasks,
                &inv.files.vars,
                &inv.files.defaults,
                &inv.files.handlers
            ],
            inv.from_include,
        ])
        .to_string();
        let role = Arc::new(Role {
            name,
            path,
            defaults: Arc::new(defaults),
            vars: Arc::new(vars),
            entry_vars: Arc::new(inv.entry_vars),
            params: Arc::new(inv.params),
            allow_duplicates,
            dynamic: inv.dynamic,
            public: inv.dynamic && !inv.private,
            identity,
        });
        // Static roles (roles:, import_role unless `public: false`, their dependencies) export
        // their defaults and vars to the whole play when it is read; include_role keeps them to
        // its own tasks, or exports them once included (`public`, at run time).
        if !inv.private && !inv.dynamic && self.private_depth == 0 {
            self.play_roles.push(role.clone());
        }
        let mut common = inv.common;
        common.role = Some(role.clone());
        items.extend(tasks);
        dep_handlers.extend(own_handlers);
        // `apply`: a block between the include and the role's tasks and handlers, as
        // ansible-core's parent block of the include.
        if let Some(mut apply) = inv.apply {
            // The include's `vars` are its include parameters, above the apply block's.
            apply.vars.extend(role.entry_vars.as_ref().clone());
            let wrap = |items: Vec<Item>| {
                vec![Item::Block(Box::new(Block {
                    pos: inv.node.pos.clone(),
                    common: apply.clone(),
                    block: items,
                    rescue: Vec::new(),
                    always: Vec::new(),
                    include: None,
                }))]
            };
            items = wrap(items);
            if !dep_handlers.is_empty() {
                dep_handlers = wrap(dep_handlers);
            }
        }
        if !dep_handlers.is_empty() && self.handler_roles.insert(role.identity.clone()) {
            let mut hc = common.clone();
            if role.dynamic {
                (hc.when, hc.tags) = (None, Vec::new());
            }
            let h = Item::Block(Box::new(Block {
                pos: inv.node.pos.clone(),
                common: hc,
                block: dep_handlers,
                rescue: Vec::new(),
                always: Vec::new(),
                include: None,
            }));
            if inv.from_include {
                self.late_handlers.push(h);
            } else {
                handlers.push(h);
            }
        }
        out.push(Item::Block(Box::new(Block {
            pos: inv.node.pos.clone(),
            common,
            block: items,
            rescue: Vec::new(),
            always: Vec::new(),
            include: None,
        })));
        Ok(())
    }

    /// ansible-core's implicit first task of a role with an argument spec for its entry point
    /// (`Role._create_validation_task`): always tagged, it validates the role's parameters and
    /// the variables named in the spec.
    fn validation_task(
        &mut self,
        ep: &super::argspec::EntryPoint,
        role: &str,
        path: &Path,
        params: &Map<String, Value>,
        at: &Pos,
    ) -> Box<Task> {
        let common = Common {
            name: Some(ep.task_name()),
            tags: vec!["always".into()],
            ..Common::default()
        };
        let task = Task {
            common,
            module: "validate_argument_spec".into(),
            module_written: "ansible.builtin.validate_argument_spec".into(),
            args: ep.task_args(role, path, params),
            args_src: ArgsSource {
                module_pos: ep.pos.clone(),
                pos: ep.pos.clone(),
                ..ArgsSource::default()
            },
            ..Task::blank(at.clone(), self.next_id)
        };
        self.next_id += 1;
        Box::new(task)
    }

    /// A role's `defaults/` or `vars/` file (`main` unless `*_from` names another).
    fn role_vars_file(
        &self,
        role: &Path,
        sub: &str,
        from: Option<&str>,
        at: &Pos,
    ) -> Result<Map<String, Value>, InputError> {
        let Some(p) = role_file(role, sub, from, at)? else {
            return Ok(Map::new());
        };
        let node = yaml::load_file(&p)?;
        match &node.kind {
            Kind::Null => Ok(Map::new()),
            Kind::Map(_) => self.map_of(&node, sub),
            _ => Err(InputError::at(
                &node.pos,
                format!(
                    "a role's {sub} file must be a mapping of variables, not {}",
                    node.type_name()
                ),
            )),
        }
    }
}

/// `role/sub/name` with Ansible's extensions (`main` when no name is given); a named file that is
/// missing is an error, a missing `main` is not.
fn role_file(
    role: &Path,
    sub: &str,
    from: Option<&str>,
    at: &Pos,
) -> Result<Option<PathBuf>, InputError> {
    let dir = role.join(sub);
    let name = from.unwrap_or("main");
    let candidates: Vec<PathBuf> = ["", ".yml", ".yaml", ".json"]
        .iter()
        .map(|e| dir.join(format!("{name}{e}")))
        .collect();
    if let Some(found) = candidates.iter().find(|c| c.is_file()) {
        return Ok(Some(found.clone()));
    }
    if dir.join(name).is_dir() {
        return Err(InputError::at(
            at,
            format!(
                "{} is a directory of files; slm-wizard's engine reads one file there (main.yml)",
                dir.join(name).display()
            ),
        ));
    }
    match from {
        None => Ok(None),
        Some(f) => Err(InputError::at(
            at,
            format!("{sub} file '{f}' not found in {}", dir.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_role_file_must_exist_but_main_may_be_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("tasks")).expect("mkdir");
        std::fs::write(dir.path().join("tasks/setup.yaml"), "[]").expect("write");
        let at = Pos::default();
        assert_eq!(
            role_file(dir.path(), "tasks", Some("setup"), &at).expect("found"),
            Some(dir.path().join("tasks/setup.yaml"))
        );
        assert_eq!(
            role_file(dir.path(), "tasks", None, &at).expect("no main"),
            None
        );
        let e = role_file(dir.path(), "vars", Some("x"), &at).expect_err("missing");
        assert!(e.to_string().contains("vars file 'x' not found"), "{e}");
    }
}
