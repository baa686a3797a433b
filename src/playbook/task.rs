//! The parser's tasks: keywords, the module and its arguments as written (checked against the
//! module at plan time), and free-form text.

use super::*;

impl Parser<'_> {
    pub(super) fn task(
        &mut self,
        node: &Node,
        entries: &[(Node, Node)],
        handlers: bool,
    ) -> Result<Task, InputError> {
        let mut common = Common::default();
        let mut module: Option<(String, &Node, &Node)> = None;
        let mut args_kw: Option<&Node> = None;
        let mut t = Task {
            pos: node.pos.clone(),
            common: Common::default(),
            module: String::new(),
            module_written: String::new(),
            args: Map::new(),
            loop_items: None,
            loop_var: "item".into(),
            loop_label: None,
            register: None,
            notify: Vec::new(),
            listen: Vec::new(),
            changed_when: None,
            failed_when: None,
            until: None,
            retries: None,
            delay: None,
            id: 0,
            args_src: ArgsSource::default(),
        };
        for (k, v) in entries {
            let key = k.key_string();
            if self.common(&mut common, &key, v)? {
                continue;
            }
            match key.as_str() {
                "loop" | "with_items" | "with_list" => {
                    if t.loop_items.is_some() {
                        return Err(InputError::at(
                            &k.pos,
                            "a task can have only one of loop / with_items / with_list",
                        ));
                    }
                    let mut items = self.json(v)?;
                    // with_items flattens one level, as Ansible does.
                    if key == "with_items"
                        && let Value::Array(list) = &items
                    {
                        let mut flat = Vec::new();
                        for i in list {
                            match i {
                                Value::Array(inner) => flat.extend(inner.iter().cloned()),
                                other => flat.push(other.clone()),
                            }
                        }
                        items = Value::Array(flat);
                    }
                    t.loop_items = Some(items);
                }
                "loop_control" => {
                    let Some(lc) = v.as_map() else {
                        return Err(InputError::at(&v.pos, "'loop_control' must be a mapping"));
                    };
                    for (lk, lv) in lc {
                        match lk.key_string().as_str() {
                            "loop_var" => t.loop_var = str_of(lv, "loop_var")?,
                            "label" => t.loop_label = Some(self.json(lv)?),
                            "index_var" | "pause" | "extended" => {}
                            other => {
                                return Err(InputError::at(
                                    &lk.pos,
                                    unknown_key(
                                        other,
                                        "loop_control",
                                        &["loop_var", "label", "index_var", "pause", "extended"],
                                    ),
                                ));
                            }
                        }
                    }
                }
                "register" => {
                    let r = str_of(v, "register")?;
                    if !is_identifier(&r) {
                        return Err(InputError::at(
                            &v.pos,
                            format!("register name '{r}' is not a valid variable name"),
                        ));
                    }
                    t.register = Some(r);
                }
                "notify" => t.notify = string_list(v, "notify")?,
                "listen" if handlers => t.listen = string_list(v, "listen")?,
                "listen" => {
                    return Err(InputError::at(
                        &k.pos,
                        "'listen' is only valid on handlers; use 'notify' on a task",
                    ));
                }
                "changed_when" => t.changed_when = Some(self.json(v)?),
                "failed_when" => t.failed_when = Some(self.json(v)?),
                "until" => t.until = Some(self.json(v)?),
                "retries" => t.retries = Some(self.json(v)?),
                "delay" => t.delay = Some(self.json(v)?),
                "args" => args_kw = Some(v),
                k2 if UNSUPPORTED_TASK_KEYS.contains(&k2) => {
                    return Err(InputError::at(
                        &k.pos,
                        format!(
                            "'{k2}' is not supported by slm-wizard's engine; run this playbook with ansible-playbook"
                        ),
                    )
                    .not_implemented());
                }
                _ => {
                    // Not a keyword: the module (which modules exist is the engine's to say, at
                    // plan time), unless it is a misspelled keyword.
                    if let Some(s) = crate::error::suggest(&key, TASK_KEYS.iter().copied()) {
                        return Err(InputError::at(
                            &k.pos,
                            format!("unknown key '{key}' in task; did you mean '{s}'?"),
                        ));
                    }
                    if let Some((prev, pk, _)) = &module {
                        return Err(InputError::at(
                            &k.pos,
                            format!(
                                "a task runs one module, but this one names two: '{}' (line {}) and '{key}' \
                                 (or '{key}' is not a task keyword: {})",
                                prev,
                                pk.pos.line,
                                TASK_KEYS.join(", ")
                            ),
                        ));
                    }
                    module = Some((key.clone(), k, v));
                }
            }
        }
        if let Some((written, mk, mv)) = module {
            let mut args = Map::new();
            t.args_src.module_pos = mk.pos.clone();
            t.args_src.pos = mv.pos.clone();
            match &mv.kind {
                Kind::Null => {}
                Kind::Map(entries) => {
                    args = self.map_of(mv, &written)?;
                    t.args_src
                        .keys
                        .extend(entries.iter().map(|(k, _)| (k.key_string(), k.pos.clone())));
                }
                // Text is split into free form and key=value once the module is known.
                Kind::Str(_) | Kind::Int(_) | Kind::Float(_) | Kind::Bool(_) => {
                    t.args_src.free_text = Some(self.json(mv)?);
                }
                _ => {
                    return Err(InputError::at(
                        &mv.pos,
                        format!(
                            "arguments of '{written}' must be a mapping or key=value text, not {}",
                            mv.type_name()
                        ),
                    ));
                }
            }
            if let Some(a) = args_kw {
                for (k, v) in self.map_of(a, "args")? {
                    args.entry(k).or_insert(v);
                }
                if let Some(entries) = a.as_map() {
                    for (k, _) in entries {
                        let name = k.key_string();
                        if !t.args_src.keys.iter().any(|(n, _)| *n == name) {
                            t.args_src.keys.push((name, k.pos.clone()));
                        }
                    }
                }
            }
            t.module = canonical_name(&written);
            t.module_written = written;
            t.args = args;
        }
        if handlers && common.name.is_none() && t.listen.is_empty() {
            return Err(InputError::at(
                &node.pos,
                "a handler needs a 'name:' (or 'listen:') so tasks can notify it",
            ));
        }
        t.common = common;
        t.id = self.next_id;
        self.next_id += 1;
        Ok(t)
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits `cmd arg k=v` free-form text into the free part and `k=v` pairs (for modules with a
/// free form only known keys are taken out, like Ansible's `creates=`/`chdir=`).
pub fn split_free_form(s: &str, free_form: bool) -> (String, Map<String, Value>) {
    const COMMAND_KV: &[&str] = &["creates", "removes", "chdir", "executable", "warn", "stdin"];
    let mut free = Vec::new();
    let mut kv = Map::new();
    for word in shell_words(s) {
        if let Some((k, v)) = word.split_once('=')
            && is_identifier(k)
            && (!free_form || COMMAND_KV.contains(&k))
        {
            kv.insert(k.to_string(), Value::String(unquote(v)));
            continue;
        }
        free.push(word);
    }
    (free.join(" "), kv)
}

fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// Words split on spaces outside quotes and `{{ }}`, quotes kept (the shell sees the text as written).
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut braces = 0usize;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' && chars.get(i + 1) == Some(&'{') {
            braces += 1;
        } else if c == '}' && chars.get(i + 1) == Some(&'}') && braces > 0 {
            braces -= 1;
        }
        match quote {
            Some(q) if c == q => quote = None,
            None if (c == '"' || c == '\'') && braces == 0 => quote = Some(c),
            None if c.is_whitespace() && braces == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        cur.push(c);
        i += 1;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn free_form_split() {
        let (free, kv) = split_free_form("echo 'a b' > /tmp/x creates=/tmp/x", true);
        assert_eq!(free, "echo 'a b' > /tmp/x");
        assert_eq!(kv["creates"], "/tmp/x");
        let (free, kv) = split_free_form("name=postgresql state=present", false);
        assert!(free.is_empty());
        assert_eq!(kv["state"], "present");
    }
}
