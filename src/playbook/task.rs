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
        let mut t = Task::blank(node.pos.clone(), 0);
        for (k, v) in entries {
            let key = k.key_string();
            if self.common(&mut common, &key, v)? {
                continue;
            }
            match key.as_str() {
                k2 if k2 == "loop" || k2.starts_with("with_") => {
                    if t.loop_items.is_some() {
                        return Err(InputError::at(
                            &k.pos,
                            format!(
                                "a task can have only one of loop / with_<lookup>; '{k2}' is a second one"
                            ),
                        ));
                    }
                    if k2 != "loop" {
                        let Some(name) = with_lookup_name(k2) else {
                            return Err(InputError::at(
                                &k.pos,
                                format!(
                                    "'{k2}' is not supported by slm-wizard's engine (it implements with_{}); \
                                     run this playbook with ansible-playbook",
                                    WITH_LOOKUPS.join(", with_")
                                ),
                            )
.not_implemented());
                        };
                        if matches!(v.kind, Kind::Null) {
                            return Err(InputError::at(
                                &k.pos,
                                format!("you must specify a value when using {k2}"),
                            ));
                        }
                        t.loop_with = Some(name.to_string());
                    }
                    // The lookup runs on the rendered value at run time (with_items flattens
                    // what `{{ lists }}` gives too).
                    t.loop_items = Some(self.json(v)?);
                }
                "loop_control" => {
                    let Some(lc) = v.as_map() else {
                        return Err(InputError::at(&v.pos, "'loop_control' must be a mapping"));
                    };
                    for (lk, lv) in lc {
                        match lk.key_string().as_str() {
                            "loop_var" => t.loop_var = str_of(lv, "loop_var")?,
                            "label" => t.loop_label = Some(self.json(lv)?),
                            "index_var" => t.loop_index_var = Some(str_of(lv, "index_var")?),
                            "pause" => t.loop_pause = Some(self.json(lv)?),
                            // ansible_loop is always set (Ansible sets it with `extended`).
                            "extended" => {}
                            "extended_allitems" => {
                                t.loop_allitems = bool_of(lv, "extended_allitems")?
                            }
                            other => {
                                return Err(InputError::at(
                                    &lk.pos,
                                    unknown_key(
                                        other,
                                        "loop_control",
                                        &[
                                            "loop_var",
                                            "label",
                                            "index_var",
                                            "pause",
                                            "extended",
                                            "extended_allitems",
                                        ],
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
                "delegate_to" | "delegate_facts" => self.delegation(&mut common, &key, v)?,
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
                    // plan time). A second one means a misspelled keyword, or two modules; a lone
                    // one is the module even when it looks like a keyword (`dnf` vs `diff`).
                    if let Some((prev, pk, _)) = &module {
                        for (name, at) in [(prev.as_str(), &pk.pos), (key.as_str(), &k.pos)] {
                            if KEYWORD_LIKE_MODULES.contains(&canonical_name(name).as_str()) {
                                continue;
                            }
                            if let Some(s) = crate::error::suggest(name, TASK_KEYS.iter().copied())
                            {
                                return Err(InputError::at(
                                    at,
                                    format!("unknown key '{name}' in task; did you mean '{s}'?"),
                                ));
                            }
                        }
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

/// Splits `cmd arg k=v` free-form text into the free part and `k=v` pairs, as ansible-core's
/// `parse_kv` (for modules with a free form only command/shell's own keys are taken out, like
/// `creates=`/`chdir=`). The free part keeps its line breaks and runs of spaces, and a `\` at
/// the end of a line joins it to the next outside quotes (Ansible's `split_args`/`join_args`).
pub fn split_free_form(s: &str, free_form: bool) -> (String, Map<String, Value>) {
    const COMMAND_KV: &[&str] = &[
        "creates",
        "removes",
        "chdir",
        "executable",
        "warn",
        "stdin",
        "stdin_add_newline",
        "strip_empty_ends",
    ];
    let mut free: Vec<String> = Vec::new();
    let mut kv = Map::new();
    for word in split_args(s) {
        // the first `=` after the first character that is not escaped
        let eq = word
            .char_indices()
            .skip(1)
            .find(|&(i, c)| c == '=' && !word[..i].ends_with('\\'))
            .map(|(i, _)| i);
        if let Some(pos) = eq {
            let k = &word[..pos];
            if is_identifier(k.trim()) && (!free_form || COMMAND_KV.contains(&k)) {
                kv.insert(
                    k.trim().to_string(),
                    Value::String(unquote(word[pos + 1..].trim())),
                );
                continue;
            }
            free.push(word);
        } else if word.contains('=') {
            free.push(word.replace("\\=", "="));
        } else {
            free.push(word);
        }
    }
    let mut joined = String::new();
    for p in free {
        if !(joined.is_empty() || joined.ends_with('\n')) {
            joined.push(' ');
        }
        joined.push_str(&p);
    }
    (joined, kv)
}

/// Python's `unquote`: the same quote at both ends (the last one not escaped) is removed.
fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2
        && (b[0] == b'"' || b[0] == b'\'')
        && b[b.len() - 1] == b[0]
        && b[b.len() - 2] != b'\\'
    {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// ansible-core's `split_args`: words split on single spaces, re-joined across quotes and
/// `{{ }}`/`{% %}`/`{# #}` blocks; a word that ends a line carries its `\n` (unless the line
/// ends with a lone `\` outside quotes); runs of spaces stay on the previous word. Unbalanced
/// quotes or blocks (an error in Ansible) give the words read so far.
fn split_args(args: &str) -> Vec<String> {
    let mut params: Vec<String> = Vec::new();
    let mut quote: Option<char> = None;
    let (mut print, mut block, mut comment) = (0usize, 0usize, 0usize);
    let lines: Vec<&str> = args.split('\n').collect();
    for (li, line) in lines.iter().enumerate() {
        let mut continuation = false;
        for (idx, token) in line.split(' ').enumerate() {
            if token.is_empty() && idx != 0 {
                match params.last_mut() {
                    Some(last) => last.push(' '),
                    None => params.push(" ".into()),
                }
                continue;
            }
            let inside_before = quote.is_some();
            if token == "\\" && !inside_before {
                continuation = true;
                continue;
            }
            quote = quote_state(token, quote);
            let inside = quote.is_some();
            let in_block = print > 0 || block > 0 || comment > 0;
            let mut appended = false;
            if inside && !inside_before && !in_block {
                params.push(token.to_string());
                appended = true;
            } else if in_block || inside || inside_before {
                let last = match params.last_mut() {
                    Some(last) => last,
                    None => {
                        params.push(String::new());
                        params.last_mut().expect("just pushed")
                    }
                };
                if !(idx == 0 && inside_before) && idx > 0 {
                    last.push(' ');
                }
                last.push_str(token);
                appended = true;
            }
            for (depth, open, close) in [
                (&mut print, "{{", "}}"),
                (&mut block, "{%", "%}"),
                (&mut comment, "{#", "#}"),
            ] {
                let before = *depth;
                let (o, c) = (token.matches(open).count(), token.matches(close).count());
                if o != c {
                    *depth = (*depth + o).saturating_sub(c);
                }
                if *depth != before && !appended {
                    params.push(token.to_string());
                    appended = true;
                }
            }
            let in_block = print > 0 || block > 0 || comment > 0;
            if !in_block && !inside && !appended && !token.is_empty() {
                params.push(token.to_string());
            }
        }
        if lines.len() > 1 && li != lines.len() - 1 && !continuation {
            match params.last_mut() {
                Some(last) => last.push('\n'),
                None => params.push("\n".into()),
            }
        }
    }
    params
}

/// The quote still open after `token` (a quote preceded by a backslash does not count).
fn quote_state(token: &str, mut quote: Option<char>) -> Option<char> {
    let mut prev: Option<char> = None;
    for c in token.chars() {
        if (c == '"' || c == '\'') && prev != Some('\\') {
            match quote {
                Some(q) if q == c => quote = None,
                Some(_) => {}
                None => quote = Some(c),
            }
        }
        prev = Some(c);
    }
    quote
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

    #[test]
    fn free_form_keeps_lines_and_joins_continuations_like_ansible() {
        let text = "echo this is a \\\n\"multiline echo\" \\\n\"with a new line\nin quotes\" \\\n| cat\necho \"second\"\n";
        let (free, kv) = split_free_form(text, true);
        assert!(kv.is_empty());
        assert_eq!(
            free,
            "echo this is a \"multiline echo\" \"with a new line\nin quotes\" | cat\necho \"second\"\n"
        );
        let (free, kv) = split_free_form(
            "executable=/bin/bash\necho  a {{ x | default('a b') }}\n",
            true,
        );
        assert_eq!(kv["executable"], "/bin/bash");
        assert_eq!(free, "echo  a {{ x | default('a b') }}\n");
    }
}
