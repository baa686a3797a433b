//! The parser's plays, blocks, includes and shared keywords.

use super::*;

impl Parser<'_> {
    pub(super) fn json(&self, node: &Node) -> Result<Value, InputError> {
        Ok(node.to_json(self.vault)?)
    }

    pub(super) fn map_of(&self, node: &Node, what: &str) -> Result<Map<String, Value>, InputError> {
        match &node.kind {
            Kind::Null => Ok(Map::new()),
            Kind::Map(_) => match self.json(node)? {
                Value::Object(m) => Ok(m),
                _ => Ok(Map::new()),
            },
            _ => Err(InputError::at(
                &node.pos,
                format!("'{what}' must be a mapping, not {}", node.type_name()),
            )),
        }
    }

    /// Fills the shared keywords; returns false when `key` is not one of them.
    pub(super) fn common(&self, c: &mut Common, key: &str, v: &Node) -> Result<bool, InputError> {
        match key {
            "name" => c.name = Some(str_of(v, key)?),
            "when" => c.when = Some(self.json(v)?),
            "become" => c.r#become = Some(flag_of(v, key)?),
            "become_user" => c.become_user = Some(str_of(v, key)?),
            "become_method" => {
                let m = str_of(v, key)?;
                // A templated method is checked once rendered (become.rs).
                if !crate::template::is_template(&m) && !matches!(m.as_str(), "sudo" | "su") {
                    return Err(InputError::at(
                        &v.pos,
                        format!("become_method '{m}' is not supported; valid: sudo, su"),
                    )
                    .not_implemented());
                }
                c.become_method = Some(m);
            }
            "vars" => c.vars = self.map_of(v, key)?,
            "tags" => c.tags = string_list(v, key)?,
            "ignore_errors" => c.ignore_errors = Some(flag_of(v, key)?),
            "ignore_unreachable" => c.ignore_unreachable = Some(flag_of(v, key)?),
            "no_log" => c.no_log = Some(self.json(v)?),
            "environment" => {
                // Static names are checked here, at their position; templated ones when the task
                // runs (a bad name would otherwise be shell code on the target).
                for (k, _) in v.as_map().unwrap_or_default() {
                    if let Some(name) = k.as_str()
                        && !crate::template::is_template(name)
                        && !crate::transport::valid_env_name(name)
                    {
                        return Err(InputError::at(
                            &k.pos,
                            format!(
                                "environment: {name:?} is not a valid variable name (letters, \
                                 digits and _, not starting with a digit)"
                            ),
                        ));
                    }
                }
                c.environment = Some(self.json(v)?)
            }
            "check_mode" => c.check_mode = Some(self.json(v)?),
            "diff" => c.diff = Some(self.json(v)?),
            "any_errors_fatal" => c.any_errors_fatal = Some(flag_of(v, key)?),
            "run_once" => c.run_once = Some(flag_of(v, key)?),
            "module_defaults" => c.module_defaults = Some(self.module_defaults(v)?),
            // Accepted for compatibility; they change nothing in this engine.
            "collections" | "timeout" => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `module_defaults`: a mapping of module names (or `group/…`) to mappings of arguments, or
    /// a list of such mappings, as Ansible accepts it.
    fn module_defaults(&self, v: &Node) -> Result<Value, InputError> {
        let value = self.json(v)?;
        // Group names are resolved when the playbook loads, as in Ansible.
        let dict_nodes = match v.as_map() {
            Some(m) => vec![m],
            None => v
                .as_seq()
                .map(|s| s.iter().filter_map(Node::as_map).collect())
                .unwrap_or_default(),
        };
        for (k, _) in dict_nodes.into_iter().flatten() {
            let key = k.key_string();
            if let Some(g) = key.strip_prefix("group/")
                && super::action_groups::members(g).is_none()
            {
                return Err(InputError::at(
                    &k.pos,
                    format!(
                        "Error loading module_defaults: could not resolve the module_defaults \
                         group {g} (known here: community.postgresql.all and ansible.builtin's)"
                    ),
                ));
            }
        }
        let dicts = match &value {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        for d in dicts {
            let ok = d
                .as_object()
                .is_some_and(|m| m.values().all(|args| args.is_object() || args.is_null()));
            if !ok {
                return Err(InputError::at(
                    &v.pos,
                    "module_defaults must be a mapping of module names (or group/NAME) to \
                     mappings of arguments, or a list of such mappings",
                ));
            }
        }
        Ok(value)
    }

    /// `delegate_to` / `delegate_facts`, which tasks and blocks have (plays do not).
    pub(super) fn delegation(&self, c: &mut Common, key: &str, v: &Node) -> Result<(), InputError> {
        match key {
            "delegate_to" => match &v.kind {
                // `delegate_to:` with no value delegates nowhere, as in Ansible.
                Kind::Null => c.delegate_to = None,
                _ => c.delegate_to = Some(str_of(v, key)?),
            },
            _ => c.delegate_facts = Some(flag_of(v, key)?),
        }
        Ok(())
    }

    pub(super) fn play(&mut self, node: &Node) -> Result<Play, InputError> {
        let Some(entries) = node.as_map() else {
            return Err(InputError::at(
                &node.pos,
                format!(
                    "a play must be a mapping with at least 'hosts:', not {}",
                    node.type_name()
                ),
            ));
        };
        let mut play = Play {
            pos: node.pos.clone(),
            hosts: String::new(),
            common: Common::default(),
            vars_pos: node
                .get("vars")
                .map(crate::inventory::value_positions)
                .unwrap_or_default(),
            gather_facts: true,
            gather_facts_given: false,
            vars_files: Vec::new(),
            vars_prompt: Vec::new(),
            pre_tasks: Vec::new(),
            tasks: Vec::new(),
            post_tasks: Vec::new(),
            handlers: Vec::new(),
            serial: None,
            max_fail_percentage: None,
            strategy: None,
            role_defaults: Default::default(),
            role_vars: Default::default(),
        };
        self.play_roles.clear();
        self.late_handlers.clear();
        self.handler_roles.clear();
        let mut role_items = Vec::new();
        let mut role_handlers = Vec::new();
        let mut has_hosts = false;
        for (k, v) in entries {
            let key = k.key_string();
            if self.common(&mut play.common, &key, v)? {
                continue;
            }
            match key.as_str() {
                "hosts" => {
                    has_hosts = true;
                    play.hosts = match &v.kind {
                        Kind::Seq(_) => string_list(v, "hosts")?.join(":"),
                        _ => str_of(v, "hosts")?,
                    };
                }
                "gather_facts" => {
                    play.gather_facts = bool_of(v, &key)?;
                    play.gather_facts_given = true;
                }
                "vars_files" => {
                    let items: Vec<&Node> = match &v.kind {
                        Kind::Seq(s) => s.iter().collect(),
                        Kind::Null => Vec::new(),
                        _ => vec![v],
                    };
                    for i in items {
                        play.vars_files
                            .push((str_of(i, "vars_files")?, i.pos.clone()));
                    }
                }
                "vars_prompt" => play.vars_prompt = self.vars_prompt(v)?,
                "pre_tasks" => play.pre_tasks = self.items(v, "pre_tasks", false)?,
                "tasks" => play.tasks = self.items(v, "tasks", false)?,
                "post_tasks" => play.post_tasks = self.items(v, "post_tasks", false)?,
                "handlers" => play.handlers = self.items(v, "handlers", true)?,
                "serial" => play.serial = Some(self.json(v)?),
                "max_fail_percentage" => {
                    play.max_fail_percentage = Some(match &v.kind {
                        Kind::Int(i) => *i as f64,
                        Kind::Float(f) => *f,
                        _ => {
                            return Err(InputError::at(
                                &v.pos,
                                "'max_fail_percentage' must be a number from 0 to 100",
                            ));
                        }
                    })
                }
                "strategy" => {
                    let s = str_of(v, "strategy")?;
                    if !crate::template::is_template(&s) {
                        check_strategy(&s)
                            .map_err(|e| InputError::at(&v.pos, e).not_implemented())?;
                    }
                    play.strategy = Some((s, v.pos.clone()));
                }
                "connection" => {
                    let c = str_of(v, "connection")?;
                    play.common
                        .vars
                        .insert("ansible_connection".into(), Value::String(c));
                }
                "remote_user" => {
                    let u = str_of(v, "remote_user")?;
                    play.common
                        .vars
                        .insert("ansible_user".into(), Value::String(u));
                }
                "roles" => match &v.kind {
                    Kind::Null => {}
                    Kind::Seq(entries) => {
                        for e in entries {
                            self.role_entry(e, &mut role_items, &mut role_handlers)?;
                        }
                    }
                    _ => {
                        return Err(InputError::at(
                            &v.pos,
                            format!("'roles' must be a list of roles, not {}", v.type_name()),
                        ));
                    }
                },
                "order" | "force_handlers" => {}
                other => {
                    return Err(unknown_keyword(&k.pos, other, "play", PLAY_KEYS));
                }
            }
        }
        if !has_hosts {
            return Err(InputError::at(
                &node.pos,
                "a play needs 'hosts:' (a host pattern such as all, a group or a host)",
            ));
        }
        if play.hosts.trim().is_empty() {
            return Err(InputError::at(
                &node.pos,
                "'hosts:' is empty; give a host pattern",
            ));
        }
        // Ansible runs the roles after pre_tasks and their handlers, before tasks, in the same
        // section; handlers of `roles:` come before the play's, those of included roles after.
        role_items.append(&mut play.tasks);
        play.tasks = role_items;
        role_handlers.append(&mut play.handlers);
        role_handlers.append(&mut self.late_handlers);
        play.handlers = role_handlers;
        let (mut defaults, mut vars) = (Map::new(), Map::new());
        for r in self.play_roles.drain(..) {
            defaults.extend(r.defaults.as_ref().clone());
            vars.extend(r.vars.as_ref().clone());
        }
        play.role_defaults = std::sync::Arc::new(defaults);
        play.role_vars = std::sync::Arc::new(vars);
        Ok(play)
    }

    pub(super) fn items(
        &mut self,
        node: &Node,
        what: &str,
        handlers: bool,
    ) -> Result<Vec<Item>, InputError> {
        match &node.kind {
            Kind::Null => Ok(Vec::new()),
            Kind::Seq(items) => {
                let mut out = Vec::new();
                for i in items {
                    self.item(i, handlers, &mut out)?;
                }
                Ok(out)
            }
            _ => Err(InputError::at(
                &node.pos,
                format!(
                    "'{what}' must be a list of tasks (each starting with '- name:'), not {}",
                    node.type_name()
                ),
            )),
        }
    }

    pub(super) fn item(
        &mut self,
        node: &Node,
        handlers: bool,
        out: &mut Vec<Item>,
    ) -> Result<(), InputError> {
        let Some(entries) = node.as_map() else {
            return Err(InputError::at(
                &node.pos,
                format!(
                    "a task must be a mapping (module name and arguments), not {}",
                    node.type_name()
                ),
            ));
        };
        if node.get("block").is_some() {
            out.push(Item::Block(Box::new(self.block(node, entries, handlers)?)));
            return Ok(());
        }
        for (k, v) in entries {
            let key = k.key_string();
            let short = canonical_name(&key);
            if matches!(short.as_str(), "import_tasks" | "include_tasks" | "include") {
                return self.include(node, entries, k, v, handlers, out);
            }
            if matches!(short.as_str(), "import_role" | "include_role") {
                return self.role_task(node, entries, k, v, handlers, out);
            }
        }
        out.push(Item::Task(Box::new(self.task(node, entries, handlers)?)));
        Ok(())
    }

    pub(super) fn include(
        &mut self,
        node: &Node,
        entries: &[(Node, Node)],
        key: &Node,
        value: &Node,
        handlers: bool,
        out: &mut Vec<Item>,
    ) -> Result<(), InputError> {
        let dynamic = canonical_name(&key.key_string()) != "import_tasks";
        let mut apply = None;
        let file = match &value.kind {
            Kind::Map(args) => {
                for (k, v) in args {
                    match k.key_string().as_str() {
                        "file" | "_raw_params" => {}
                        "apply" => apply = self.apply(&key.key_string(), dynamic, v)?,
                        other => {
                            return Err(InputError::at(
                                &k.pos,
                                unknown_key(other, &key.key_string(), &["file", "apply"]),
                            ));
                        }
                    }
                }
                match value.get("file").or_else(|| value.get("_raw_params")) {
                    Some(f) => str_of(f, "file")?,
                    None => return Err(InputError::at(&value.pos, "include needs 'file:'")),
                }
            }
            _ => str_of(value, &key.key_string())?,
        };
        if crate::template::is_template(&file) {
            return Err(InputError::at(
                &value.pos,
                format!(
                    "include of a templated file name ({file}) is not supported by slm-wizard; run with ansible-playbook"
                ),
            )
            .not_implemented());
        }
        let is_loop = |k: &str| k == "loop" || k == "loop_control" || k.starts_with("with_");
        let loop_key = entries.iter().find(|(k, _)| is_loop(&k.key_string()));
        if let Some((lk, _)) = loop_key
            && canonical_name(&key.key_string()) == "import_tasks"
        {
            return Err(InputError::at(
                &lk.pos,
                "import_tasks cannot loop (it is inlined when the playbook is read); use include_tasks",
            ));
        }
        // include_tasks is dynamic: the keywords Ansible judges on the include alone (its loop
        // per item, `when` once or per item, tags) go to a task that carries it; the rest (vars
        // included) to the block. import_tasks is inlined: its tasks inherit everything.
        let mut common = Common::default();
        let mut carrier: Vec<(Node, Node)> = vec![(key.clone(), value.clone())];
        for (k, v) in entries {
            if k == key {
                continue;
            }
            let kname = k.key_string();
            if dynamic && (is_loop(&kname) || matches!(kname.as_str(), "when" | "tags" | "name")) {
                carrier.push((k.clone(), v.clone()));
                continue;
            }
            if dynamic && kname == "vars" {
                carrier.push((k.clone(), v.clone()));
            }
            if !self.common(&mut common, &kname, v)? {
                return Err(unknown_keyword(&k.pos, &kname, "include", BLOCK_KEYS));
            }
        }
        let include = if dynamic {
            Some(Box::new(self.task(node, &carrier, handlers)?))
        } else {
            None
        };
        if self.include_depth > 20 {
            return Err(InputError::at(
                &node.pos,
                "includes nested more than 20 deep (an include loop?)",
            ));
        }
        // Inside a role, its tasks/ directory first, as Ansible looks.
        let mut candidates: Vec<PathBuf> = self
            .role_stack
            .last()
            .map(|r| r.join("tasks").join(&file))
            .into_iter()
            .collect();
        candidates.push(self.dir.join(&file));
        let Some(path) = candidates.iter().find(|c| c.is_file()).cloned() else {
            return Err(InputError::at(
                &value.pos,
                format!(
                    "included file not found: {}",
                    candidates
                        .iter()
                        .map(|c| c.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            ));
        };
        let me = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if let Some(cycle) = cycle_from(&self.includes, &me) {
            return Err(InputError::at(
                &value.pos,
                format!("include cycle: {cycle}"),
            ));
        }
        let included = yaml::load_file(&path)?;
        self.include_depth += 1;
        self.includes.push(me);
        let tasks = self.items(&included, "included tasks", handlers);
        self.includes.pop();
        self.include_depth -= 1;
        let mut tasks = tasks?;
        // `apply`: a block between the include and its tasks, as ansible-core's parent block.
        if let Some(mut apply) = apply {
            // The include's `vars` are its include parameters, above the apply block's.
            apply.vars.extend(common.vars.clone());
            tasks = vec![Item::Block(Box::new(Block {
                pos: node.pos.clone(),
                common: apply,
                block: tasks,
                rescue: Vec::new(),
                always: Vec::new(),
                include: None,
            }))];
        }
        out.push(Item::Block(Box::new(Block {
            pos: node.pos.clone(),
            common,
            block: tasks,
            rescue: Vec::new(),
            always: Vec::new(),
            include,
        })));
        Ok(())
    }

    pub(super) fn block(
        &mut self,
        node: &Node,
        entries: &[(Node, Node)],
        handlers: bool,
    ) -> Result<Block, InputError> {
        let mut b = Block {
            pos: node.pos.clone(),
            common: Common::default(),
            block: Vec::new(),
            rescue: Vec::new(),
            always: Vec::new(),
            include: None,
        };
        let mut notify = Vec::new();
        for (k, v) in entries {
            let key = k.key_string();
            if self.common(&mut b.common, &key, v)? {
                continue;
            }
            if handlers && matches!(key.as_str(), "block" | "rescue" | "always") {
                // A handler block's parts are handlers: ansible-core takes no block among them
                // (playbook/helpers.py), only at the top of the handlers.
                if let Some(inner) = v
                    .as_seq()
                    .into_iter()
                    .flatten()
                    .find(|i| i.get("block").is_some())
                {
                    return Err(InputError::at(
                        &inner.pos,
                        "Using a block as a handler is not supported.",
                    ));
                }
            }
            match key.as_str() {
                "block" => b.block = self.items(v, "block", handlers)?,
                "rescue" => b.rescue = self.items(v, "rescue", handlers)?,
                "always" => b.always = self.items(v, "always", handlers)?,
                "notify" => notify = string_list(v, "notify")?,
                "delegate_to" | "delegate_facts" => self.delegation(&mut b.common, &key, v)?,
                other => {
                    return Err(unknown_keyword(&k.pos, other, "block", BLOCK_KEYS));
                }
            }
        }
        // A block's notify is inherited by its tasks that name none of their own (inner blocks
        // applied theirs already), as Ansible's Notifiable attribute is.
        if !notify.is_empty() {
            for part in [&mut b.block, &mut b.rescue, &mut b.always] {
                inherit_notify(part, &notify);
            }
        }
        Ok(b)
    }
}

fn inherit_notify(items: &mut [Item], notify: &[String]) {
    for i in items {
        match i {
            Item::Task(t) if t.notify.is_empty() => t.notify = notify.to_vec(),
            Item::Task(_) => {}
            Item::Block(b) => {
                for part in [&mut b.block, &mut b.rescue, &mut b.always] {
                    inherit_notify(part, notify);
                }
            }
        }
    }
}
