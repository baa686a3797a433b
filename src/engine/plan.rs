//! Plan time: load the playbook, inventory and vars files, and check everything that can be checked
//! before a host is touched (syntax, keys, module arguments, host patterns, template syntax, undefined
//! variables), so bad input fails fast with file:line:col.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::compat::yaml::{self, Pos, YamlError};
use crate::error::InputError;
use crate::inventory::{self, Inventory, LocatedVars, VarPositions};
use crate::playbook::ansible_cfg::{self, AnsibleCfg};
use crate::playbook::survey::{self, Survey};
use crate::playbook::{self, Item, Playbook, Task};
use crate::secrets::{Redactor, Secret};
use crate::template::{Templar, is_template};

/// What to run, as the CLI or the wizard asks for it.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub playbook: PathBuf,
    pub inventory: Option<PathBuf>,
    /// `-e` values in order: `k=v` text, `@file`, or inline YAML/JSON.
    pub extra_vars: Vec<String>,
    /// Values set programmatically (the wizard's answers), above `-e`.
    pub extra_values: Map<String, Value>,
    pub limit: Option<String>,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    /// `--start-at-task NAME`: the run starts at the first task NAME matches.
    pub start_at_task: Option<String>,
    pub check: bool,
    pub diff: bool,
    /// `-f`; without it `ANSIBLE_FORKS`, `forks` of ansible.cfg, else [`DEFAULT_FORKS`].
    pub forks: Option<usize>,
    pub vault_password: Option<Secret>,
    pub accept_new_host_keys: bool,
    pub connect_timeout: Duration,
    pub command_timeout: Option<Duration>,
    /// Which engine runs it (the wizard's choice; `run` decides before planning).
    pub engine: crate::config::Engine,
    /// Who asks `vars_prompt` questions (`run` on its terminal); None (the wizard, served
    /// sessions, runner workers): nothing is asked, and a question without an answer or a
    /// default is refused at plan time.
    pub prompter: Option<super::prompt::Prompter>,
}

impl Default for RunRequest {
    fn default() -> Self {
        Self {
            playbook: PathBuf::new(),
            inventory: None,
            extra_vars: Vec::new(),
            extra_values: Map::new(),
            limit: None,
            tags: Vec::new(),
            skip_tags: Vec::new(),
            start_at_task: None,
            check: false,
            diff: false,
            forks: None,
            vault_password: None,
            accept_new_host_keys: false,
            connect_timeout: Duration::from_secs(10),
            command_timeout: None,
            engine: crate::config::Engine::Auto,
            prompter: None,
        }
    }
}

/// Hosts at once when neither `-f` nor ansible's configuration says (ansible's own default is 5;
/// ours stays 50 as documented, and the ansible engine gets it as `--forks`).
pub const DEFAULT_FORKS: usize = 50;

/// A checked, ready-to-run plan.
pub struct Plan {
    pub request: RunRequest,
    pub playbook: Playbook,
    pub inventory: Inventory,
    pub extra: Arc<Map<String, Value>>,
    /// vars_files per play, loaded.
    pub play_vars_files: Vec<Arc<Map<String, Value>>>,
    /// Hosts per play after `--limit`.
    pub play_hosts: Vec<Vec<String>>,
    /// Per play: whether its hosts go in lockstep (the `linear` strategy, the default) rather
    /// than each at its own pace (`free`, `host_pinned`).
    pub play_lockstep: Vec<bool>,
    pub templar: Templar,
    pub redactor: Redactor,
    /// Hosts at once (`-f`, else ansible's configuration, else [`DEFAULT_FORKS`]).
    pub forks: usize,
    /// Ansible's configuration (ansible.cfg and `ANSIBLE_*`) as the playbook sees it.
    pub ansible_cfg: Arc<AnsibleCfg>,
}

impl Plan {
    pub fn all_hosts(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for hosts in &self.play_hosts {
            for h in hosts {
                if !out.contains(h) {
                    out.push(h.clone());
                }
            }
        }
        out
    }
}

/// Variable names that look like they hold secrets; their values are masked in all output.
pub fn is_secret_name(name: &str) -> bool {
    crate::secrets::is_secret_name(name)
}

/// Registers the values of secret-named variables, at any depth and of any type; templated ones
/// are registered by the engine once rendered.
fn collect_secrets(vars: &Map<String, Value>, r: &Redactor) {
    r.add_named_map(vars, &|s: &str| is_template(s));
}

/// Used by every layer that reads YAML which may hold vaulted values; it lives with the vault.
pub use crate::secrets::vault::make_vault_fn;

/// Reads a whole file that may be vault-encrypted (vars files, `-e @file`).
pub(crate) fn load_vars_file(
    path: &Path,
    vault: &dyn Fn(&str, &Pos) -> Result<String, YamlError>,
) -> Result<Map<String, Value>, InputError> {
    load_vars_file_at(path, vault).map(|(vars, _)| vars)
}

/// [`load_vars_file`] with where each variable is set (in the decrypted text of a vault file).
fn load_vars_file_at(
    path: &Path,
    vault: &dyn Fn(&str, &Pos) -> Result<String, YamlError>,
) -> Result<LocatedVars, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::new(format!("{}: cannot read vars file: {e}", path.display())))?;
    let text = if crate::secrets::vault::is_vault(&text) {
        vault(
            &text,
            &Pos {
                file: Arc::new(path.to_path_buf()),
                line: 1,
                col: 1,
            },
        )?
    } else {
        text
    };
    let node = yaml::parse(&text, path)?;
    match node.to_json(vault)? {
        Value::Object(m) => Ok((m, inventory::value_positions(&node))),
        Value::Null => Ok((Map::new(), VarPositions::new())),
        _ => Err(InputError::at(
            &node.pos,
            format!(
                "a vars file must be a mapping of variables, not {}",
                node.type_name()
            ),
        )),
    }
}

/// `-e` values: `@file`, inline YAML/JSON mapping, or `k=v k2=v2`.
pub fn parse_extra_vars(
    items: &[String],
    vault: &dyn Fn(&str, &Pos) -> Result<String, YamlError>,
) -> Result<Map<String, Value>, InputError> {
    let mut out = Map::new();
    for item in items {
        let item = item.trim();
        if let Some(file) = item.strip_prefix('@') {
            out.extend(load_vars_file(Path::new(file), vault)?);
        } else if item.starts_with('{') || item.starts_with("---") {
            let node = yaml::parse(item, Path::new("<-e>"))?;
            match node.to_json(vault)? {
                Value::Object(m) => out.extend(m),
                _ => {
                    return Err(InputError::new(format!(
                        "-e {item:?}: inline extra vars must be a mapping"
                    )));
                }
            }
        } else {
            let (free, kv) = playbook::split_free_form(item, false);
            if !free.trim().is_empty() {
                return Err(InputError::new(format!(
                    "-e {item:?}: expected key=value pairs, @file.yml, or a YAML/JSON mapping"
                )));
            }
            for (k, v) in kv {
                // `-e port=5432` stays a string in Ansible; so it does here.
                out.insert(k, v);
            }
        }
    }
    Ok(out)
}

/// With nobody to ask (the wizard), a `vars_prompt` question with neither an answer (an extra
/// var: the form's answers are) nor a default is refused before anything runs.
fn check_unanswered(playbook: &Playbook, extra: &Map<String, Value>) -> Result<(), InputError> {
    let missing = playbook
        .plays
        .iter()
        .flat_map(|p| &p.vars_prompt)
        .find(|p| !is_template(&p.name) && !p.has_default() && !extra.contains_key(&p.name));
    match missing {
        Some(p) => Err(unanswered(&p.pos, &p.name)),
        None => Ok(()),
    }
}

/// For a run the ansible engine takes: ansible-playbook runs without a terminal (it would answer
/// an unasked question with the text `None`), so a `vars_prompt` question needs an answer or a
/// default before it starts.
pub fn check_prompts_answered(request: &RunRequest) -> Result<(), InputError> {
    let vault = make_vault_fn(request.vault_password.clone(), Redactor::default());
    let mut extra = parse_extra_vars(&request.extra_vars, &vault)?;
    extra.extend(request.extra_values.clone());
    match playbook::vars_prompt::first_unanswered(&request.playbook, &|n| extra.contains_key(n)) {
        Some((pos, name)) => Err(unanswered(&pos, &name)),
        None => Ok(()),
    }
}

fn unanswered(pos: &Pos, name: &str) -> InputError {
    InputError::at(
        pos,
        format!(
            "vars_prompt '{name}' has no answer and no default, and nothing can prompt here (the wizard, or the ansible engine): answer it in the Variables step or give it with -e {name}=…"
        ),
    )
}

pub fn plan(mut request: RunRequest) -> Result<Plan, InputError> {
    let cfg = ansible_cfg::load_for(&request.playbook)?;
    if let Some(e) = cfg.unsupported.first() {
        return Err(e.clone());
    }
    // What ansible-playbook would read without -i: the configured inventory.
    if request.inventory.is_none() {
        request.inventory = cfg.inventory.clone();
    }
    let forks = request.forks.or(cfg.forks).unwrap_or(DEFAULT_FORKS);
    let redactor = Redactor::default();
    if let Some(pw) = &request.vault_password {
        redactor.add(pw.expose());
    }
    let vault = make_vault_fn(request.vault_password.clone(), redactor.clone());
    let mut playbook = playbook::load(&request.playbook, &vault)?;
    apply_play_defaults(&mut playbook, &cfg);
    crate::engine::modules::catalog::check_playbook(&mut playbook)?;
    let inventory = match &request.inventory {
        Some(p) => Inventory::load(p, &vault)?,
        None => Inventory::localhost(),
    };
    let mut extra = parse_extra_vars(&request.extra_vars, &vault)?;
    extra.extend(request.extra_values.clone());
    collect_secrets(&extra, &redactor);
    if request.prompter.is_none() {
        check_unanswered(&playbook, &extra)?;
    }
    for h in inventory.hosts.keys() {
        let vars = inventory.host_vars(h);
        collect_secrets(&vars, &redactor);
        for key in [
            "ansible_password",
            "ansible_become_password",
            "ansible_become_pass",
            "ansible_ssh_pass",
            "ansible_sudo_pass",
        ] {
            if let Some(Value::String(s)) = vars.get(key) {
                redactor.add(s);
            }
        }
    }
    let templar = Templar::new();
    let limit_hosts = match &request.limit {
        Some(l) => Some(
            inventory
                .select(l)
                .map_err(|e| InputError::new(format!("--limit: {e}")))?,
        ),
        None => None,
    };
    let mut play_vars_files = Vec::new();
    // Where the vars files set each variable, for the survey check.
    let mut vars_file_pos: Vec<LocatedVars> = Vec::new();
    let mut play_hosts = Vec::new();
    let mut play_lockstep = Vec::new();
    for play in &playbook.plays {
        let pattern = play.hosts.clone();
        if is_template(&pattern) {
            return Err(InputError::at(
                &play.pos,
                "templated 'hosts:' patterns are not supported; give a literal pattern",
            )
            .not_implemented());
        }
        let mut hosts = select_play_hosts(&inventory, &pattern)
            .map_err(|e| InputError::at(&play.pos, format!("hosts: {e}")))?;
        if let Some(limit) = &limit_hosts {
            hosts.retain(|h| limit.contains(h));
        }
        collect_secrets(&play.common.vars, &redactor);
        let mut files = Map::new();
        for (f, pos) in &play.vars_files {
            if is_template(f) {
                return Err(InputError::at(
                    pos,
                    "templated vars_files names are not supported; give a path",
                )
                .not_implemented());
            }
            let path = playbook.dir.join(f);
            if !path.is_file() {
                return Err(InputError::at(
                    pos,
                    format!("vars file not found: {}", path.display()),
                ));
            }
            let (vars, pos) = load_vars_file_at(&path, &vault)?;
            files.extend(vars.clone());
            vars_file_pos.push((vars, pos));
        }
        collect_secrets(&files, &redactor);
        let strategy = match &play.strategy {
            Some((expr, pos)) if is_template(expr) => {
                render_strategy(&templar, expr, pos, &extra, &files, &play.common.vars)?
            }
            Some((name, _)) => name.clone(),
            None => cfg.strategy.clone().unwrap_or_else(|| "linear".into()),
        };
        play_lockstep.push(strategy == "linear");
        play_vars_files.push(Arc::new(files));
        play_hosts.push(hosts);
    }
    if let Some(survey) = survey::load_for(&request.playbook)? {
        let mut sources: Vec<(&Map<String, Value>, &VarPositions)> = Vec::new();
        sources.extend(inventory.groups.values().map(|g| (&g.vars, &g.var_pos)));
        sources.extend(inventory.hosts.values().map(|h| (&h.vars, &h.var_pos)));
        sources.extend(playbook.plays.iter().map(|p| (&p.common.vars, &p.vars_pos)));
        sources.extend(vars_file_pos.iter().map(|(v, p)| (v, p)));
        check_survey_values(&survey, &sources, &redactor)?;
    }
    let plan = Plan {
        request,
        playbook,
        inventory,
        extra: Arc::new(extra),
        play_vars_files,
        play_hosts,
        play_lockstep,
        templar,
        redactor,
        forks,
        ansible_cfg: Arc::new(cfg),
    };
    check_templates(&plan)?;
    // After the checks: a task before the start may define what a later one uses.
    let mut plan = plan;
    if let Some(name) = &plan.request.start_at_task {
        playbook::start_at::apply(&mut plan.playbook, name)?;
    }
    Ok(plan)
}

/// ansible.cfg's `gathering = explicit`: plays that do not say `gather_facts` gather nothing.
/// (Its `become*` defaults are the engine's, below keywords and variables: `requested_become`.)
fn apply_play_defaults(playbook: &mut Playbook, cfg: &AnsibleCfg) {
    for play in &mut playbook.plays {
        if cfg.gathering == ansible_cfg::Gathering::Explicit && !play.gather_facts_given {
            play.gather_facts = false;
        }
    }
}

/// The hosts a play's pattern selects. `localhost`, `127.0.0.1` or `::1` as a term of its own,
/// when the inventory has no such host, is ansible-core's implicit localhost: the host
/// `localhost` on a local connection, in no group (so not in `all`).
fn select_play_hosts(inventory: &Inventory, pattern: &str) -> Result<Vec<String>, String> {
    let implicit = |t: &str| {
        crate::engine::run::LOCALHOST_NAMES.contains(&t) && !inventory.hosts.contains_key(t)
    };
    let terms: Vec<&str> = pattern
        .split([':', ','])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if !terms.iter().any(|t| implicit(t)) {
        return inventory.select(pattern);
    }
    let rest: Vec<&str> = terms.iter().copied().filter(|t| !implicit(t)).collect();
    let mut hosts = if rest.iter().any(|t| !t.starts_with(['&', '!'])) {
        inventory.select(&rest.join(":"))?
    } else {
        Vec::new()
    };
    if !hosts.iter().any(|h| h == "localhost") {
        hosts.push("localhost".into());
    }
    Ok(hosts)
}

/// A templated `strategy:` rendered as Ansible does, with no host: `-e`, then the play's
/// vars_files and vars; the result must be a strategy the engine runs.
fn render_strategy(
    templar: &Templar,
    expr: &str,
    pos: &Pos,
    extra: &Map<String, Value>,
    files: &Map<String, Value>,
    play_vars: &Map<String, Value>,
) -> Result<String, InputError> {
    let mut scope = crate::template::Scope::new(templar.clone());
    for layer in [extra, files, play_vars] {
        scope.layers.push(Arc::new(layer.clone()));
    }
    let rendered = templar
        .render_str(expr, &scope.into_value())
        .map_err(|e| InputError::at(pos, format!("strategy '{expr}': {}", e.msg)))?;
    let name = match rendered {
        Value::String(s) => s,
        other => other.to_string(),
    };
    playbook::check_strategy(&name).map_err(|e| InputError::at(pos, e))?;
    Ok(name)
}

/// Survey variables set outside `-e`: every value the inventory (group and host vars, group_vars/
/// and host_vars/ files), a play's `vars` or its vars_files give a survey variable must pass its
/// question, as `-e` answers must in `prepare_run` — also where a higher source overrides it, since
/// a file that holds a bad value is wrong either way. Templates are resolved per host while
/// running, so they are not checked here. The message names the value's file:line:col and what is
/// valid.
fn check_survey_values(
    survey: &Survey,
    sources: &[(&Map<String, Value>, &VarPositions)],
    redactor: &Redactor,
) -> Result<(), InputError> {
    for (vars, positions) in sources {
        for (var, value) in *vars {
            let Some(q) = survey.question(var) else {
                continue;
            };
            if has_template(value) {
                continue;
            }
            // In a file a list is a YAML list: a string would reach the playbook's templates as
            // text (Ansible loops over its characters), whatever `-e k=a,b` converts.
            let checked = if q.kind == survey::QuestionType::List && value.is_string() {
                Err("a text, not a YAML list; write it as a list, e.g. [10.0.0.5/32]".to_string())
            } else {
                survey::validate(q, value).map(drop)
            };
            if let Err(e) = checked {
                // A vault-encrypted value of a question not marked secret is still masked.
                let msg = redactor.redact(&format!(
                    "{var}: {e} (survey question '{}' at {})",
                    q.name, q.pos
                ));
                // A list is located at its first bad item, when one is bad on its own.
                let at = positions.get(var).map(|at| match value {
                    Value::Array(items) => survey::bad_item(q, items)
                        .and_then(|i| at.items.get(i))
                        .unwrap_or(&at.pos),
                    _ => &at.pos,
                });
                return Err(match at {
                    Some(pos) => InputError::at(pos, msg),
                    None => InputError::new(msg),
                });
            }
        }
    }
    Ok(())
}

/// Whether a value holds a template anywhere (a list item may be one).
fn has_template(v: &Value) -> bool {
    let mut found = false;
    visit_strings(v, &mut |s| found |= is_template(s));
    found
}

/// Names every template may use without defining them.
const MAGIC: &[&str] = &[
    "inventory_hostname",
    "inventory_hostname_short",
    "hostvars",
    "groups",
    "group_names",
    "ansible_play_hosts",
    "ansible_play_hosts_all",
    "ansible_play_batch",
    "ansible_check_mode",
    "ansible_diff_mode",
    "playbook_dir",
    "inventory_dir",
    "inventory_file",
    "omit",
    "ansible_facts",
    "ansible_loop",
    "ansible_loop_var",
    "ansible_version",
    "play_hosts",
    "ansible_run_tags",
    "ansible_skip_tags",
    "role_path",
    "role_name",
    "ansible_role_name",
    "ansible_playbook_python",
    "environment",
    // Jinja globals and our functions.
    "range",
    "dict",
    "namespace",
    "lookup",
    "query",
    "q",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
    "loop",
    "debug",
    "cycler",
    "joiner",
];

/// Every variable name some source defines (any host), for the undefined-variable check.
fn known_names(plan: &Plan) -> HashSet<String> {
    let mut known: HashSet<String> = MAGIC.iter().map(|s| s.to_string()).collect();
    known.extend(plan.extra.keys().cloned());
    for g in plan.inventory.groups.values() {
        known.extend(g.vars.keys().cloned());
    }
    for h in plan.inventory.hosts.values() {
        known.extend(h.vars.keys().cloned());
    }
    for (play, files) in plan.playbook.plays.iter().zip(&plan.play_vars_files) {
        known.extend(play.common.vars.keys().cloned());
        known.extend(play.vars_prompt.iter().map(|p| p.name.clone()));
        known.extend(files.keys().cloned());
        known.extend(play.role_defaults.keys().cloned());
        known.extend(play.role_vars.keys().cloned());
        for items in [
            &play.pre_tasks,
            &play.tasks,
            &play.post_tasks,
            &play.handlers,
        ] {
            let mut block_vars: Vec<String> = Vec::new();
            walk(
                items,
                &mut |t| {
                    known.extend(t.common.vars.keys().cloned());
                    if let Some(r) = &t.register {
                        known.insert(r.clone());
                    }
                    known.insert(t.loop_var.clone());
                    known.extend(t.loop_index_var.iter().cloned());
                    if t.module == "set_fact" {
                        for k in t.args.keys() {
                            known.insert(set_fact_name(plan, play, files, t, k));
                        }
                    }
                    // A role's validation task fails first when a required option is missing
                    // (Ansible's message, at run time).
                    if t.module == "validate_argument_spec"
                        && let Some(Value::Object(spec)) = t.args.get("argument_spec")
                    {
                        known.extend(
                            spec.iter()
                                .filter(|(_, o)| o.get("required") == Some(&Value::Bool(true)))
                                .map(|(k, _)| k.clone()),
                        );
                    }
                    // include_vars defines what its files hold, known when it runs (unless
                    // `name:` puts it all under one variable).
                    if t.module == "include_vars" {
                        match t.args.get("name").and_then(Value::as_str) {
                            Some(n) if !is_template(n) => known.insert(n.to_string()),
                            _ => known.insert(ANY_NAME.to_string()),
                        };
                    }
                },
                &mut |b| {
                    block_vars.extend(b.vars.keys().cloned());
                    if let Some(r) = &b.role {
                        for m in [&r.defaults, &r.vars, &r.entry_vars, &r.params] {
                            block_vars.extend(m.keys().cloned());
                        }
                    }
                },
            );
            known.extend(block_vars);
        }
    }
    known
}

/// Any name: a set_fact key whose template cannot be rendered before the run defines a name
/// known only then, so the undefined-variable check stands down.
const ANY_NAME: &str = "*";

/// The name a set_fact key defines: the key, or its template rendered with what plan time knows
/// (`-e`, the play's vars and vars_files, the task's vars); [`ANY_NAME`] when that is not enough.
fn set_fact_name(
    plan: &Plan,
    play: &playbook::Play,
    files: &Map<String, Value>,
    t: &Task,
    key: &str,
) -> String {
    if !is_template(key) {
        return key.to_string();
    }
    let mut scope = crate::template::Scope::new(plan.templar.clone());
    for layer in [
        plan.extra.as_ref(),
        &t.common.vars,
        files,
        &play.common.vars,
    ] {
        scope.layers.push(Arc::new(layer.clone()));
    }
    match plan.templar.render_str(key, &scope.into_value()) {
        Ok(Value::String(name)) => name,
        _ => ANY_NAME.to_string(),
    }
}

fn walk(
    items: &[Item],
    on_task: &mut dyn FnMut(&Task),
    on_block: &mut dyn FnMut(&playbook::Common),
) {
    for i in items {
        match i {
            Item::Task(t) => on_task(t),
            Item::Block(b) => {
                // A looped include's loop, `when` and item variables are a task's.
                if let Some(t) = &b.include {
                    on_task(t);
                }
                on_block(&b.common);
                walk(&b.block, on_task, on_block);
                walk(&b.rescue, on_task, on_block);
                walk(&b.always, on_task, on_block);
            }
        }
    }
}

/// An expression that guards its own undefined variables (`default`, `is defined` …).
fn guarded(s: &str) -> bool {
    [
        "default(",
        "d(",
        "is defined",
        "is not defined",
        "is undefined",
        "is none",
        "| d ",
        "|d ",
        "| default",
        "|default",
    ]
    .iter()
    .any(|g| s.contains(g))
}

fn check_templates(plan: &Plan) -> Result<(), InputError> {
    let known = known_names(plan);
    let t = &plan.templar;
    let mut first_err: Option<InputError> = None;
    let mut check = |task: &Task, s: &str, bare: bool, what: &str| {
        if first_err.is_some() {
            return;
        }
        let syntax = if bare {
            t.check_expr(s)
        } else {
            t.check_syntax(s)
        };
        if let Err(e) = syntax {
            let err = InputError::at(
                &task.pos,
                format!("task '{}', {what}: {}", task.display_name(), e.msg),
            );
            // An unknown filter/test/lookup is the engine's gap: `auto` hands the run over.
            first_err = Some(if e.unknown_name {
                err.not_implemented()
            } else {
                err
            });
            return;
        }
        // with_first_found leaves undefined terms out at run time, as Ansible does.
        if guarded(s) || known.contains(ANY_NAME) || what == "with_first_found" {
            return;
        }
        let facts_like = |n: &str| n.starts_with("ansible_");
        let mut unknown: Vec<String> = t
            .variables_of(s, bare)
            .into_iter()
            .filter(|v| !known.contains(v) && !facts_like(v))
            .collect();
        unknown.sort();
        if let Some(v) = unknown.first() {
            first_err = Some(InputError::at(
                &task.pos,
                format!(
                    "task '{}', {what}: '{v}' is undefined (not set in the inventory, play vars, vars_files, -e, \
                     a register or set_fact); define it or guard it with | default(...)",
                    task.display_name()
                ),
            ));
        }
    };
    for play in &plan.playbook.plays {
        for items in [
            &play.pre_tasks,
            &play.tasks,
            &play.post_tasks,
            &play.handlers,
        ] {
            walk(
                items,
                &mut |task| {
                    visit_strings(&Value::Object(task.args.clone()), &mut |s| {
                        if task.module != "assert" {
                            check(task, s, false, "argument")
                        }
                    });
                    if task.module == "assert"
                        && let Some(that) = task.args.get("that")
                    {
                        visit_strings(that, &mut |s| check(task, s, true, "assert"));
                    }
                    for (cond, what) in [
                        (&task.common.when, "when"),
                        (&task.changed_when, "changed_when"),
                        (&task.failed_when, "failed_when"),
                        (&task.until, "until"),
                    ] {
                        if let Some(c) = cond {
                            visit_strings(c, &mut |s| check(task, s, true, what));
                        }
                    }
                    if let Some(l) = &task.loop_items {
                        let what = match task.loop_with.as_deref() {
                            Some("first_found") => "with_first_found",
                            _ => "loop",
                        };
                        visit_strings(l, &mut |s| check(task, s, false, what));
                    }
                },
                &mut |_| {},
            );
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn visit_strings(v: &Value, f: &mut dyn FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| visit_strings(x, f)),
        Value::Object(o) => o.values().for_each(|x| visit_strings(x, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wizard's runs and health's deployment plan through here too, not only the CLI's.
    #[test]
    fn survey_values_set_in_the_inventory_are_checked_by_plan() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).expect("write");
            p
        };
        let playbook = write("pb.yml", "- hosts: all\n  gather_facts: no\n  tasks: []\n");
        let survey = write(
            "pb.survey.yml",
            "name: t\nspec:\n  - {variable: port, type: integer, format: port}\n",
        );
        let request = |inventory: &str| RunRequest {
            playbook: playbook.clone(),
            inventory: Some(write("hosts.yml", inventory)),
            ..Default::default()
        };
        let inv = "all:\n  hosts:\n    h:\n      ansible_connection: local\n      port: ";
        match plan(request(&format!("{inv}70000\n"))) {
            Ok(_) => panic!("port 70000 was accepted"),
            Err(e) => {
                let hosts = dir.path().join("hosts.yml");
                let want = format!(
                    "{}:5:13: port: 70000 is not a port number; expected a port number 1-65535 \
                     (survey question 'port' at {}:3:5)",
                    hosts.display(),
                    survey.display()
                );
                assert_eq!(e.to_string(), want);
            }
        }
        for ok in ["5432", "\"{{ 5000 + 432 }}\""] {
            if let Err(e) = plan(request(&format!("{inv}{ok}\n"))) {
                panic!("{ok}: {e}");
            }
        }
    }
}
