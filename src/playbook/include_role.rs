//! `include_role` / `import_role` as a task: their arguments (`tasks_from`, … `public`,
//! `apply`, `allow_duplicates`) and, for `include_role`, the task that carries the include (its
//! `when`, `tags`, `vars` and loop are judged on the include, once or per item, as ansible-core's
//! dynamic include does; its tasks inherit neither `when` nor `tags`).

use super::roles::{FromFiles, Invocation};
use super::*;

const INCLUDE_ROLE_ARGS: &[&str] = &[
    "name",
    "role",
    "tasks_from",
    "vars_from",
    "defaults_from",
    "handlers_from",
    "allow_duplicates",
    "public",
    "apply",
    "rolespec_validate",
];

/// Keys of the include task that go to the carrier (judged on the include alone).
fn on_the_include(key: &str) -> bool {
    key == "loop"
        || key == "loop_control"
        || key.starts_with("with_")
        || matches!(key, "when" | "tags" | "name" | "vars")
}

impl Parser<'_> {
    pub(super) fn role_task(
        &mut self,
        node: &Node,
        entries: &[(Node, Node)],
        key: &Node,
        value: &Node,
        handlers: bool,
        out: &mut Vec<Item>,
    ) -> Result<(), InputError> {
        let what = key.key_string();
        let dynamic = canonical_name(&what) == "include_role";
        if handlers {
            // ansible-core refuses it too (playbook/helpers.py), at the task.
            return Err(InputError::at(
                &node.pos,
                format!("Using '{what}' as a handler is not supported."),
            ));
        }
        let Some(args) = value.as_map() else {
            return Err(InputError::at(
                &value.pos,
                format!(
                    "'{what}' needs a mapping with 'name:' (the role), not {}",
                    value.type_name()
                ),
            ));
        };
        let mut name = None;
        let mut files = FromFiles::default();
        let mut allow_duplicates = true;
        // ansible-core: includes are private unless `public`, imports public unless `public: false`.
        let mut public = !dynamic;
        let mut apply = None;
        let mut validate = true;
        for (k, v) in args {
            let a = k.key_string();
            let file = |slot: &mut Option<String>| -> Result<(), InputError> {
                let f = str_of(v, &a)?;
                if crate::template::is_template(&f) {
                    return Err(InputError::at(
                        &v.pos,
                        format!(
                            "a templated '{a}' is not supported by slm-wizard's engine; give a file name"
                        ),
                    )
                    .not_implemented());
                }
                *slot = Some(f);
                Ok(())
            };
            match a.as_str() {
                // `role` is ansible-core's alias of `name`.
                "name" | "role" => name = Some((str_of(v, &a)?, v.pos.clone())),
                "tasks_from" => file(&mut files.tasks)?,
                "vars_from" => file(&mut files.vars)?,
                "defaults_from" => file(&mut files.defaults)?,
                "handlers_from" => file(&mut files.handlers)?,
                "allow_duplicates" => allow_duplicates = bool_of(v, &a)?,
                "public" => public = bool_of(v, &a)?,
                "apply" => apply = self.apply(&what, dynamic, v)?,
                "rolespec_validate" => validate = bool_of(v, &a)?,
                other => {
                    return Err(InputError::at(
                        &k.pos,
                        unknown_key(other, &what, INCLUDE_ROLE_ARGS),
                    ));
                }
            }
        }
        let Some((name, name_pos)) = name else {
            return Err(InputError::at(
                &value.pos,
                format!("'{what}' needs 'name:' (the role)"),
            ));
        };
        let mut common = Common::default();
        let mut entry_vars = Map::new();
        let mut carrier = vec![(key.clone(), value.clone())];
        for (k, v) in entries {
            if k == key {
                continue;
            }
            let kname = k.key_string();
            if dynamic && on_the_include(&kname) {
                carrier.push((k.clone(), v.clone()));
            }
            if kname == "loop" || kname == "loop_control" || kname.starts_with("with_") {
                if !dynamic {
                    // ansible-core's own message (playbook/helpers.py).
                    return Err(InputError::at(
                        &k.pos,
                        "You cannot use loops on 'import_role' statements. You should use 'include_role' instead.",
                    ));
                }
                continue;
            }
            if kname == "vars" {
                entry_vars = self.map_of(v, "vars")?;
                continue;
            }
            if !self.common(&mut common, &kname, v)? {
                return Err(InputError::at(
                    &k.pos,
                    unknown_key(&kname, &what, BLOCK_KEYS),
                ));
            }
        }
        // include_role is dynamic: a task of its own carries its result ("included").
        let carrier = if dynamic {
            let mut t = self.task(node, &carrier, false)?;
            // ansible-playbook's title for an unnamed one.
            if t.common.name.is_none() {
                t.common.name = Some(format!("{what} : {name}"));
            }
            Some(Box::new(t))
        } else {
            None
        };
        let at = out.len();
        self.role(
            Invocation {
                name,
                name_pos,
                common,
                entry_vars,
                params: Map::new(),
                files,
                allow_duplicates: Some(allow_duplicates),
                from_include: true,
                private: !public,
                dynamic,
                apply,
                validate,
                node,
            },
            out,
            &mut Vec::new(),
        )?;
        if let Some(Item::Block(b)) = out.get_mut(at) {
            if carrier.is_some() {
                // The include judges these; the role's tasks do not inherit them.
                b.common.when = None;
                b.common.tags = Vec::new();
            }
            b.include = carrier;
        }
        Ok(())
    }

    /// `apply:` of an include: block keywords its tasks inherit. Imports inherit the task's
    /// keywords directly, so ansible-core refuses it there.
    pub(super) fn apply(
        &self,
        what: &str,
        dynamic: bool,
        v: &Node,
    ) -> Result<Option<Common>, InputError> {
        if !dynamic {
            return Err(InputError::at(
                &v.pos,
                format!(
                    "Invalid options for {what}: apply (only includes take it; an import's tasks inherit the task's keywords)"
                ),
            ));
        }
        let Some(entries) = v.as_map() else {
            return Err(InputError::at(
                &v.pos,
                format!(
                    "'apply' must be a mapping of block keywords, not {}",
                    v.type_name()
                ),
            ));
        };
        let mut c = Common::default();
        for (k, val) in entries {
            let key = k.key_string();
            let is_part = matches!(key.as_str(), "block" | "rescue" | "always");
            if is_part || !self.common(&mut c, &key, val)? {
                return Err(unknown_keyword(&k.pos, &key, "apply", &BLOCK_KEYS[3..]));
            }
        }
        Ok(Some(c))
    }
}
