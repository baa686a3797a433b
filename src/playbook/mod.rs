//! Playbooks as Ansible writes them: plays, tasks, blocks, handlers, includes — parsed into a
//! checked model with the position of everything, so a bad key is reported before any host is touched.

pub mod action_groups;
pub mod ansible_cfg;
pub mod argspec;
mod include_role;
mod parse;
pub mod roles;
pub mod start_at;
pub mod survey;
mod task;
pub mod vars_prompt;
pub mod varspec;

pub use roles::Role;
pub use task::split_free_form;
pub use vars_prompt::VarPrompt;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::compat::yaml::{self, Kind, Node, Pos};
use crate::error::{InputError, unknown_key};

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
    /// The boolean keywords hold `Value::Bool`, or a template rendered when the task runs.
    pub r#become: Option<Value>,
    pub become_user: Option<String>,
    pub become_method: Option<String>,
    pub vars: Map<String, Value>,
    pub tags: Vec<String>,
    pub ignore_errors: Option<Value>,
    pub ignore_unreachable: Option<Value>,
    pub no_log: Option<Value>,
    pub environment: Option<Value>,
    pub check_mode: Option<Value>,
    pub diff: Option<Value>,
    pub any_errors_fatal: Option<Value>,
    pub run_once: Option<Value>,
    /// `module_defaults`: a mapping of module name (or `group/…`) to default arguments, or a
    /// list of such mappings; values are templates rendered when the task runs.
    pub module_defaults: Option<Value>,
    /// `delegate_to` (tasks and blocks): the host the task runs on instead, a template rendered
    /// per item with the original host's variables.
    pub delegate_to: Option<String>,
    /// `delegate_facts`: facts a delegated task gathers or sets go to the delegated host.
    pub delegate_facts: Option<Value>,
    /// Set on the block a role expands to: the tasks inside run in its context.
    pub role: Option<std::sync::Arc<Role>>,
}

#[derive(Debug, Clone)]
pub struct Play {
    pub pos: Pos,
    pub hosts: String,
    pub common: Common,
    /// Where each of the play's `vars` is set (for the survey check at plan time).
    pub vars_pos: crate::inventory::VarPositions,
    pub gather_facts: bool,
    /// `gather_facts:` is written (ansible.cfg's `gathering = explicit` gathers only then).
    pub gather_facts_given: bool,
    pub vars_files: Vec<(String, Pos)>,
    /// `vars_prompt`: asked when the play starts, for the names the extra vars do not give.
    pub vars_prompt: Vec<VarPrompt>,
    pub pre_tasks: Vec<Item>,
    pub tasks: Vec<Item>,
    pub post_tasks: Vec<Item>,
    pub handlers: Vec<Item>,
    pub serial: Option<Value>,
    pub max_fail_percentage: Option<f64>,
    /// `strategy:` as written, with its position (a literal one is checked while parsing; plan
    /// time renders a templated one with `-e`, the play's vars and vars_files, as Ansible does).
    pub strategy: Option<(String, Pos)>,
    /// Defaults and vars of the play's static roles (`roles:`, `import_role`), which Ansible
    /// shows to every task of the play; merged in load order.
    pub role_defaults: std::sync::Arc<Map<String, Value>>,
    pub role_vars: std::sync::Arc<Map<String, Value>>,
}

/// The strategies this engine runs: `linear` (the default) runs each task on all the batch's
/// hosts before the next; under `free` hosts proceed at their own pace, and `host_pinned`
/// (Ansible's `free` with a worker per host) is `free` too.
pub const STRATEGIES: &[&str] = &["linear", "free", "host_pinned"];

/// Checks a rendered `strategy:` value; Err names what is valid.
pub fn check_strategy(s: &str) -> Result<(), String> {
    if STRATEGIES.contains(&s) {
        Ok(())
    } else {
        Err(format!(
            "strategy '{s}' is not supported by slm-wizard's engine; valid: {} (or run with --engine ansible)",
            STRATEGIES.join(", ")
        ))
    }
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
    /// A dynamic include as a task: `include_tasks` with its loop, `loop_control`, `when`, `tags`
    /// and `vars` (the block runs once per item with the item's variables; its `when` is judged
    /// once, or per item, and its tags select the include only), or `include_role` (its `when`
    /// and `tags` stay the role block's gate). Each include that runs is an ok "included" result,
    /// as ansible-playbook counts it. None for blocks, imports and `roles:`.
    pub include: Option<Box<Task>>,
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
    /// `with_<lookup>`: the lookup's short name (`dict`); None for `loop:`.
    pub loop_with: Option<String>,
    pub loop_var: String,
    pub loop_label: Option<Value>,
    /// `loop_control.index_var`: the variable holding the item's 0-based index.
    pub loop_index_var: Option<String>,
    /// `loop_control.pause`: seconds between items (may be templated).
    pub loop_pause: Option<Value>,
    /// `loop_control.extended_allitems` (default true): `ansible_loop.allitems` is set.
    pub loop_allitems: bool,
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
    let short = [
        "ansible.builtin.",
        "ansible.legacy.",
        "community.postgresql.",
        "community.general.",
        "ansible.posix.",
    ]
    .iter()
    .find_map(|p| name.strip_prefix(p))
    .unwrap_or(name);
    // Redirects apply to the written name with or without its collection.
    match short {
        "include" => "include_tasks".into(),
        "systemd_service" => "systemd".into(),
        // ansible-core 2.19 redirects yum to dnf (config/ansible_builtin_runtime.yml).
        "yum" => "dnf".into(),
        other => other.to_string(),
    }
}

impl Task {
    /// A task at `pos` with no module, arguments or keywords yet (one loop over nothing, as a
    /// parsed task starts); callers fill in what they have.
    pub fn blank(pos: Pos, id: usize) -> Task {
        Task {
            pos,
            common: Common::default(),
            module: String::new(),
            module_written: String::new(),
            args: Map::new(),
            loop_items: None,
            loop_with: None,
            loop_var: "item".into(),
            loop_label: None,
            loop_index_var: None,
            loop_pause: None,
            loop_allitems: true,
            register: None,
            notify: Vec::new(),
            listen: Vec::new(),
            changed_when: None,
            failed_when: None,
            until: None,
            retries: None,
            delay: None,
            id,
            args_src: ArgsSource::default(),
        }
    }

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
    "vars_prompt",
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
    "roles",
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
    "delegate_facts",
];

/// The lookups a `with_<name>` loop (and `lookup()`/`query()`) may name, implemented in
/// `template::lookups` (short names; `ansible.builtin.` and `community.general.` prefixes are
/// taken off first, see [`with_lookup_name`]).
pub const WITH_LOOKUPS: &[&str] = &[
    "items",
    "list",
    "dict",
    "together",
    "nested",
    "cartesian",
    "subelements",
    "sequence",
    "indexed_items",
    "fileglob",
    "first_found",
    "flattened",
    "random_choice",
    "file",
    "template",
    "env",
    "pipe",
    "lines",
    "password",
    "vars",
];

/// `with_ansible.builtin.dict` → `dict`; None when the engine does not implement the lookup.
pub fn with_lookup_name(with_key: &str) -> Option<&'static str> {
    let name = with_key.strip_prefix("with_")?;
    let short = ["ansible.builtin.", "ansible.legacy.", "community.general."]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name);
    WITH_LOOKUPS.iter().copied().find(|n| *n == short)
}

/// Module names one edit away from a task keyword (`dnf`/`diff`): never offered as the misspelled
/// keyword when a task names two unknown keys.
pub const KEYWORD_LIKE_MODULES: &[&str] = &["dnf"];

pub const TASK_KEYS: &[&str] = &[
    "name",
    "when",
    "loop",
    "with_items",
    "with_list",
    "with_dict",
    "with_together",
    "with_nested",
    "with_cartesian",
    "with_subelements",
    "with_sequence",
    "with_indexed_items",
    "with_fileglob",
    "with_first_found",
    "with_flattened",
    "with_random_choice",
    "with_file",
    "with_template",
    "with_env",
    "with_pipe",
    "with_lines",
    "with_password",
    "with_vars",
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

/// Play and block keywords of Ansible that this engine does not implement (the keywords it
/// has are in [`PLAY_KEYS`] and [`BLOCK_KEYS`]).
const ANSIBLE_PLAY_BLOCK_KEYS: &[&str] = &[
    "gather_subset",
    "gather_timeout",
    "fact_path",
    "port",
    "throttle",
    "timeout",
    "debugger",
    "become_exe",
    "become_flags",
    "connection",
    "remote_user",
    "module_defaults",
    "collections",
];

/// A key that is not one of `valid` in a play or block: Ansible's own keywords are refused as
/// not implemented (`auto` then runs ansible), anything else as a mistake.
fn unknown_keyword(pos: &Pos, key: &str, what: &str, valid: &[&str]) -> InputError {
    if ANSIBLE_PLAY_BLOCK_KEYS.contains(&key) {
        InputError::at(
            pos,
            format!("{what} keyword '{key}' is not implemented by slm-wizard's engine; run this playbook with ansible-playbook"),
        )
        .not_implemented()
    } else {
        InputError::at(pos, unknown_key(key, what, valid))
    }
}

/// Task keywords Ansible knows that this engine does not implement: a clear error, not a silent ignore.
const UNSUPPORTED_TASK_KEYS: &[&str] = &[
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
    /// Where roles are looked up after `roles/` beside the playbook.
    roles_path: Vec<PathBuf>,
    /// The directories of the roles being loaded, outermost first.
    role_stack: Vec<PathBuf>,
    /// How many `include_role`s are being loaded (their roles are private).
    private_depth: usize,
    /// This play's static roles so far (their defaults and vars are the play's).
    play_roles: Vec<std::sync::Arc<Role>>,
    /// Handlers of included/imported roles: they come after the play's own.
    late_handlers: Vec<Item>,
    /// Role invocations whose handlers were added (a role run twice has its handlers once).
    handler_roles: std::collections::HashSet<String>,
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
        roles_path: roles::search_path(&dir),
        role_stack: Vec::new(),
        private_depth: 0,
        play_roles: Vec::new(),
        late_handlers: Vec::new(),
        handler_roles: Default::default(),
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

/// A boolean keyword: a boolean, or a template (`"{{ flag }}"`) rendered when the task runs.
fn flag_of(node: &Node, what: &str) -> Result<Value, InputError> {
    if let Kind::Str(s) = &node.kind
        && crate::template::is_template(s)
    {
        return Ok(Value::String(s.clone()));
    }
    bool_of(node, what).map(Value::Bool)
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
