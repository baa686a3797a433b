//! Playbooks as Ansible writes them: plays, tasks, blocks, handlers, includes — parsed into a
//! checked model with the position of everything, so a bad key is reported before any host is touched.

pub mod survey;
pub mod varspec;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{InputError, unknown_key};
use crate::yaml::{self, Kind, Node, Pos};

pub type VaultFn<'a> = crate::inventory::VaultFn<'a>;

#[derive(Debug, Clone)]
pub struct Playbook {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub plays: Vec<Play>,
}

/// Keywords that plays, blocks and tasks share.
#[derive(Debug, Clone, Default)]
pub struct Common {
    pub name: Option<String>,
    pub when: Option<Value>,
    pub r#become: Option<bool>,
    pub become_user: Option<String>,
    pub become_method: Option<String>,
    pub vars: Map<String, Value>,
    pub tags: Vec<String>,
    pub ignore_errors: Option<bool>,
    pub ignore_unreachable: Option<bool>,
    pub no_log: Option<Value>,
    pub environment: Option<Value>,
    pub check_mode: Option<Value>,
    pub diff: Option<Value>,
    pub any_errors_fatal: Option<bool>,
    pub run_once: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Play {
    pub pos: Pos,
    pub hosts: String,
    pub common: Common,
    /// Where each of the play's `vars` is set (for the survey check at plan time).
    pub vars_pos: crate::inventory::VarPositions,
    pub gather_facts: bool,
    pub vars_files: Vec<(String, Pos)>,
    pub pre_tasks: Vec<Item>,
    pub tasks: Vec<Item>,
    pub post_tasks: Vec<Item>,
    pub handlers: Vec<Item>,
    pub serial: Option<Value>,
    pub max_fail_percentage: Option<f64>,
}

#[derive(Debug, Clone)]
pub enum Item {
    Task(Box<Task>),
    Block(Box<Block>),
}

#[derive(Debug, Clone)]
pub struct Block {
    pub pos: Pos,
    pub common: Common,
    pub block: Vec<Item>,
    pub rescue: Vec<Item>,
    pub always: Vec<Item>,
}

#[derive(Debug, Clone)]
pub struct Task {
    pub pos: Pos,
    pub common: Common,
    /// Canonical short module name (`apt`, `postgresql_db`, `meta`).
    pub module: String,
    /// The name as written (`ansible.builtin.apt`), for messages.
    pub module_written: String,
    pub args: Map<String, Value>,
    pub loop_items: Option<Value>,
    pub loop_var: String,
    pub loop_label: Option<Value>,
    pub register: Option<String>,
    pub notify: Vec<String>,
    pub listen: Vec<String>,
    pub changed_when: Option<Value>,
    pub failed_when: Option<Value>,
    pub until: Option<Value>,
    pub retries: Option<Value>,
    pub delay: Option<Value>,
    /// A stable id within the playbook (index in parse order), used by events and the TUI.
    pub id: usize,
    pub args_src: ArgsSource,
}

/// Where a task's module and arguments were written, for the checks at plan time.
#[derive(Debug, Clone, Default)]
pub struct ArgsSource {
    /// The module's key.
    pub module_pos: Pos,
    /// The module's value (its arguments).
    pub pos: Pos,
    /// Each argument key as written (aliases are not renamed), with its position.
    pub keys: Vec<(String, Pos)>,
    /// Arguments given as text (`command: ls -l`, `apt: name=x`) or a scalar (`pause: 5`):
    /// how to split them depends on the module, so plan time does it.
    pub free_text: Option<Value>,
}

/// `ansible.builtin.copy` → `copy`; `community.postgresql.postgresql_db` → `postgresql_db`.
pub fn canonical_name(name: &str) -> String {
    for prefix in [
        "ansible.builtin.",
        "ansible.legacy.",
        "community.postgresql.",
        "community.general.",
        "ansible.posix.",
    ] {
        if let Some(rest) = name.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    match name {
        "include" => "include_tasks".into(),
        "systemd_service" => "systemd".into(),
        other => other.to_string(),
    }
}

impl Task {
    pub fn display_name(&self) -> String {
        match &self.common.name {
            Some(n) => n.clone(),
            None => self.module_written.clone(),
        }
    }
}

const PLAY_KEYS: &[&str] = &[
    "name",
    "hosts",
    "become",
    "become_user",
    "become_method",
    "gather_facts",
    "vars",
    "vars_files",
    "pre_tasks",
    "tasks",
    "post_tasks",
    "handlers",
    "serial",
    "any_errors_fatal",
    "max_fail_percentage",
    "tags",
    "environment",
    "no_log",
    "ignore_errors",
    "ignore_unreachable",
    "check_mode",
    "diff",
    "remote_user",
    "connection",
    "strategy",
    "collections",
    "module_defaults",
    "order",
    "force_handlers",
    "when",
    "run_once",
];

const BLOCK_KEYS: &[&str] = &[
    "block",
    "rescue",
    "always",
    "name",
    "when",
    "become",
    "become_user",
    "become_method",
    "vars",
    "tags",
    "ignore_errors",
    "ignore_unreachable",
    "no_log",
    "environment",
    "check_mode",
    "diff",
    "any_errors_fatal",
    "run_once",
    "notify",
    "collections",
    "module_defaults",
    "delegate_to",
];

pub const TASK_KEYS: &[&str] = &[
    "name",
    "when",
    "loop",
    "with_items",
    "with_list",
    "loop_control",
    "register",
    "notify",
    "listen",
    "changed_when",
    "failed_when",
    "ignore_errors",
    "ignore_unreachable",
    "no_log",
    "tags",
    "become",
    "become_user",
    "become_method",
    "check_mode",
    "diff",
    "environment",
    "until",
    "retries",
    "delay",
    "vars",
    "args",
    "any_errors_fatal",
    "run_once",
    "timeout",
    "collections",
    "module_defaults",
    "debugger",
    "delegate_to",
    "delegate_facts",
    "local_action",
    "action",
    "async",
    "poll",
    "throttle",
];

/// Task keywords Ansible knows that this engine does not implement: a clear error, not a silent ignore.
const UNSUPPORTED_TASK_KEYS: &[&str] = &[
    "delegate_to",
    "delegate_facts",
    "local_action",
    "action",
    "async",
    "poll",
    "throttle",
    "debugger",
];

struct Parser<'a> {
    dir: PathBuf,
    vault: VaultFn<'a>,
    next_id: usize,
    include_depth: usize,
    /// The task files being included, outermost first (to name an include cycle).
    includes: Vec<PathBuf>,
}

/// "a.yml → b.yml → a.yml" when `next` is already in `chain`.
fn cycle_from(chain: &[PathBuf], next: &Path) -> Option<String> {
    let start = chain.iter().position(|p| p == next)?;
    let names: Vec<String> = chain[start..]
        .iter()
        .chain(std::iter::once(&next.to_path_buf()))
        .map(|p| p.display().to_string())
        .collect();
    Some(names.join(" → "))
}

pub fn load(path: &Path, vault: VaultFn<'_>) -> Result<Playbook, InputError> {
    load_imported(path, vault, &mut Vec::new())
}

/// `chain`: the playbooks importing this one, outermost first (an import cycle is an error, not
/// a stack overflow).
fn load_imported(
    path: &Path,
    vault: VaultFn<'_>,
    chain: &mut Vec<PathBuf>,
) -> Result<Playbook, InputError> {
    let root = yaml::load_file(path)?;
    // playbook_dir must be absolute: `pb.yml` has an empty parent, and "{{ playbook_dir }}/x" would be "/x".
    let dir = std::path::absolute(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    if chain.is_empty() {
        chain.push(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
    }
    let mut p = Parser {
        dir: dir.clone(),
        vault,
        next_id: 0,
        include_depth: 0,
        includes: Vec::new(),
    };
    let plays_nodes = match &root.kind {
        Kind::Seq(items) => items,
        Kind::Null => {
            return Err(InputError::at(
                &root.pos,
                "the playbook is empty; it must be a list of plays",
            ));
        }
        _ => {
            return Err(InputError::at(
                &root.pos,
                format!(
                    "a playbook must be a list of plays (each starting with '- hosts:'), not {}",
                    root.type_name()
                ),
            ));
        }
    };
    let mut plays = Vec::new();
    for node in plays_nodes {
        if let Some(imp) = node
            .get("import_playbook")
            .or_else(|| node.get("ansible.builtin.import_playbook"))
        {
            let file = str_of(imp, "import_playbook")?;
            let path = dir.join(file);
            if !path.is_file() {
                return Err(InputError::at(
                    &imp.pos,
                    format!("imported playbook not found: {}", path.display()),
                ));
            }
            let me = std::fs::canonicalize(path.as_path()).unwrap_or_else(|_| path.clone());
            let sub = if let Some(cycle) = cycle_from(chain, &me) {
                return Err(InputError::at(
                    &imp.pos,
                    format!("import_playbook cycle: {cycle}"),
                ));
            } else {
                chain.push(me);
                let sub = load_imported(&path, vault, chain);
                chain.pop();
                sub?
            };
            plays.extend(sub.plays);
            continue;
        }
        plays.push(p.play(node)?);
    }
    Ok(Playbook {
        path: path.to_path_buf(),
        dir,
        plays,
    })
}

fn str_of(node: &Node, what: &str) -> Result<String, InputError> {
    match &node.kind {
        Kind::Str(s) | Kind::Unsafe(s) => Ok(s.clone()),
        Kind::Int(_) | Kind::Float(_) | Kind::Bool(_) => Ok(node.key_string()),
        _ => Err(InputError::at(
            &node.pos,
            format!("'{what}' must be a string, not {}", node.type_name()),
        )),
    }
}

fn bool_of(node: &Node, what: &str) -> Result<bool, InputError> {
    match &node.kind {
        Kind::Bool(b) => Ok(*b),
        Kind::Str(s) => match s.to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" | "y" => Ok(true),
            "no" | "false" | "off" | "0" | "n" => Ok(false),
            _ => Err(InputError::at(
                &node.pos,
                format!("'{what}' must be a boolean (yes/no, true/false), not {s:?}"),
            )),
        },
        Kind::Int(i) => Ok(*i != 0),
        _ => Err(InputError::at(
            &node.pos,
            format!(
                "'{what}' must be a boolean (yes/no, true/false), not {}",
                node.type_name()
            ),
        )),
    }
}

fn string_list(node: &Node, what: &str) -> Result<Vec<String>, InputError> {
    match &node.kind {
        Kind::Null => Ok(Vec::new()),
        Kind::Seq(items) => items.iter().map(|i| str_of(i, what)).collect(),
        Kind::Str(s) => Ok(s
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect()),
        _ => Err(InputError::at(
            &node.pos,
            format!(
                "'{what}' must be a string or a list of strings, not {}",
                node.type_name()
            ),
        )),
    }
}

impl Parser<'_> {
    fn json(&self, node: &Node) -> Result<Value, InputError> {
        Ok(node.to_json(self.vault)?)
    }

    fn map_of(&self, node: &Node, what: &str) -> Result<Map<String, Value>, InputError> {
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
    fn common(&self, c: &mut Common, key: &str, v: &Node) -> Result<bool, InputError> {
        match key {
            "name" => c.name = Some(str_of(v, key)?),
            "when" => c.when = Some(self.json(v)?),
            "become" => c.r#become = Some(bool_of(v, key)?),
            "become_user" => c.become_user = Some(str_of(v, key)?),
            "become_method" => {
                let m = str_of(v, key)?;
                if !matches!(m.as_str(), "sudo" | "su") {
                    return Err(InputError::at(
                        &v.pos,
                        format!("become_method '{m}' is not supported; valid: sudo, su"),
                    ));
                }
                c.become_method = Some(m);
            }
            "vars" => c.vars = self.map_of(v, key)?,
            "tags" => c.tags = string_list(v, key)?,
            "ignore_errors" => c.ignore_errors = Some(bool_of(v, key)?),
            "ignore_unreachable" => c.ignore_unreachable = Some(bool_of(v, key)?),
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
            "any_errors_fatal" => c.any_errors_fatal = Some(bool_of(v, key)?),
            "run_once" => c.run_once = Some(bool_of(v, key)?),
            // Accepted for compatibility; they change nothing in this engine.
            "collections" | "module_defaults" | "timeout" => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn play(&mut self, node: &Node) -> Result<Play, InputError> {
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
            vars_files: Vec::new(),
            pre_tasks: Vec::new(),
            tasks: Vec::new(),
            post_tasks: Vec::new(),
            handlers: Vec::new(),
            serial: None,
            max_fail_percentage: None,
        };
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
                "gather_facts" => play.gather_facts = bool_of(v, &key)?,
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
                    if s != "linear" && s != "free" {
                        return Err(InputError::at(
                            &v.pos,
                            format!("strategy '{s}' is not supported; valid: linear, free"),
                        ));
                    }
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
                "order" | "force_handlers" => {}
                other => {
                    return Err(InputError::at(
                        &k.pos,
                        unknown_key(other, "play", PLAY_KEYS),
                    ));
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
        Ok(play)
    }

    fn items(&mut self, node: &Node, what: &str, handlers: bool) -> Result<Vec<Item>, InputError> {
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

    fn item(&mut self, node: &Node, handlers: bool, out: &mut Vec<Item>) -> Result<(), InputError> {
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
        }
        out.push(Item::Task(Box::new(self.task(node, entries, handlers)?)));
        Ok(())
    }

    fn include(
        &mut self,
        node: &Node,
        entries: &[(Node, Node)],
        key: &Node,
        value: &Node,
        handlers: bool,
        out: &mut Vec<Item>,
    ) -> Result<(), InputError> {
        let file = match &value.kind {
            Kind::Map(_) => match value.get("file") {
                Some(f) => str_of(f, "file")?,
                None => return Err(InputError::at(&value.pos, "include needs 'file:'")),
            },
            _ => str_of(value, &key.key_string())?,
        };
        if crate::template::is_template(&file) {
            return Err(InputError::at(
                &value.pos,
                format!(
                    "include of a templated file name ({file}) is not supported by slm-wizard; run with ansible-playbook"
                ),
            ));
        }
        let mut common = Common::default();
        for (k, v) in entries {
            if k == key {
                continue;
            }
            let kname = k.key_string();
            if kname == "loop" || kname.starts_with("with_") {
                return Err(InputError::at(
                    &k.pos,
                    "a loop over include_tasks is not supported by slm-wizard; loop inside the included tasks instead",
                ));
            }
            if !self.common(&mut common, &kname, v)? {
                return Err(InputError::at(
                    &k.pos,
                    unknown_key(&kname, "include", BLOCK_KEYS),
                ));
            }
        }
        if self.include_depth > 20 {
            return Err(InputError::at(
                &node.pos,
                "includes nested more than 20 deep (an include loop?)",
            ));
        }
        let path = self.dir.join(&file);
        if !path.is_file() {
            return Err(InputError::at(
                &value.pos,
                format!("included file not found: {}", path.display()),
            ));
        }
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
        out.push(Item::Block(Box::new(Block {
            pos: node.pos.clone(),
            common,
            block: tasks?,
            rescue: Vec::new(),
            always: Vec::new(),
        })));
        Ok(())
    }

    fn block(
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
        };
        for (k, v) in entries {
            let key = k.key_string();
            if self.common(&mut b.common, &key, v)? {
                continue;
            }
            match key.as_str() {
                "block" => b.block = self.items(v, "block", handlers)?,
                "rescue" => b.rescue = self.items(v, "rescue", handlers)?,
                "always" => b.always = self.items(v, "always", handlers)?,
                "delegate_to" | "notify" => {
                    return Err(InputError::at(
                        &k.pos,
                        format!("'{key}' on a block is not supported by slm-wizard"),
                    ));
                }
                other => {
                    return Err(InputError::at(
                        &k.pos,
                        unknown_key(other, "block", BLOCK_KEYS),
                    ));
                }
            }
        }
        Ok(b)
    }

    fn task(
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
                    ));
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
    fn free_form_split() {
        let (free, kv) = split_free_form("echo 'a b' > /tmp/x creates=/tmp/x", true);
        assert_eq!(free, "echo 'a b' > /tmp/x");
        assert_eq!(kv["creates"], "/tmp/x");
        let (free, kv) = split_free_form("name=postgresql state=present", false);
        assert!(free.is_empty());
        assert_eq!(kv["state"], "present");
    }
}
