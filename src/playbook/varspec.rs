//! Variable specs of a playbook that has no survey sidecar, derived from the playbook itself,
//! into the survey model ([`Survey`]/[`Question`]) so the form, `-e` validation and the check of
//! inventory values work the same for every playbook.
//!
//! Sources, in this order (the first that defines a variable wins):
//! 1. `vars_prompt` of the plays: `name` → variable, `prompt` → label, `private` (default true) →
//!    secret, `default` → the default answer; without a default the form requires an answer (the
//!    wizard never prompts during a run; a headless `run` asks these questions itself when their
//!    play starts, see `Question::prompted`). `confirm`, `salt_size` and `unsafe` are ignored; a
//!    prompt with `encrypt` is left out of the form with a note (its answer must be hashed, and a
//!    value given as `-e` skips the prompt unhashed).
//! 2. The roles' `meta/argument_specs.yml`, entry point `main`: options of type
//!    str/path/int/float/bool/list (of scalars), `choices`, `required`, `default`, `description`,
//!    `no_log` → secret. `dict`, `raw` and lists of dicts are left out with a note.
//! 3. The plays' `vars` and the roles' `defaults/main.yml`, typed by their values (text,
//!    integer, float, boolean, list of scalars); names with `password`, `secret` or `token` are
//!    secret. Mappings, nulls and empty lists are left out with a note.
//!
//! Defaults of sources 2 and 3 are the playbook's own: they prefill the form but are never passed
//! as answers (extra vars would override what the roles and plays set later). A templated default
//! (`{{ … }}`) is shown as its text in the description and the field starts empty: left empty, the
//! playbook computes it.
//!
//! Roles are found in `roles/` beside the playbook, on the engine's roles path
//! (`ANSIBLE_ROLES_PATH`, `roles_path` of `ansible.cfg`) and beside the playbook (from `roles:`, `include_role` and `import_role`); plays of `import_playbook` are
//! followed. Only metadata is read here; whether an engine can run the roles is its business.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::survey::{self, Question, QuestionType, Survey};
use crate::compat::yaml::{self, Kind, Node, Pos};
use crate::error::InputError;
use crate::template::is_template;

/// How deep `import_playbook` is followed.
const MAX_IMPORT_DEPTH: usize = 8;

/// Where a derived question comes from, lowest precedence last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Prompt,
    ArgSpec,
    Defaults,
}

#[derive(Default)]
struct Builder {
    /// The roles search path after `roles/` (see `roles::search_path`).
    roles_path: Vec<PathBuf>,
    notes: Vec<String>,
    plays: Vec<String>,
    roles_seen: HashSet<PathBuf>,
    files_seen: HashSet<PathBuf>,
    /// Per source, collected while walking; merged in precedence order at the end.
    prompts: Vec<Question>,
    specs: Vec<Question>,
    defaults: Vec<Question>,
    /// Variables the playbook passes to roles (role parameters, `vars:` of role entries and
    /// include/import_role tasks): a required option given so needs no answer.
    provided: HashSet<String>,
}

/// The variable spec of `playbook` derived from its plays and roles (see the module docs).
/// A YAML error or a malformed `argument_specs.yml` is an error with its file:line:col; what this
/// does not understand in the playbook is left to the engine that runs it.
pub fn derive(playbook: &Path) -> Result<Survey, InputError> {
    derive_with_roles_path(playbook, roles_path(playbook))
}

/// The roles search path the engine uses (`ANSIBLE_ROLES_PATH`, `ansible.cfg`, defaults).
fn roles_path(playbook: &Path) -> Vec<PathBuf> {
    let dir = std::path::absolute(playbook)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    super::roles::search_path(&dir)
}

fn derive_with_roles_path(playbook: &Path, roles_path: Vec<PathBuf>) -> Result<Survey, InputError> {
    let mut b = Builder {
        roles_path,
        ..Builder::default()
    };
    b.playbook(playbook, 0)?;
    let Builder {
        prompts,
        specs,
        defaults,
        mut notes,
        plays,
        provided,
        ..
    } = b;
    // Variables whose defaults disagree on their type: left out.
    let mut conflicting: HashSet<String> = HashSet::new();
    let mut questions: Vec<(Source, Question)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    // Variables whose value the playbook uses was taken from a play var or role default.
    let mut real_default: HashSet<String> = HashSet::new();
    let batches = [
        (Source::Prompt, prompts),
        (Source::ArgSpec, specs),
        (Source::Defaults, defaults),
    ];
    for (source, batch) in batches {
        for q in batch {
            match index.get(&q.variable) {
                None => {
                    index.insert(q.variable.clone(), questions.len());
                    questions.push((source, q));
                }
                Some(&i) => {
                    let (first_source, first) = &mut questions[i];
                    if source != Source::Defaults {
                        continue;
                    }
                    // A role default under an argument spec is the value the role really uses.
                    let Some(value) = q.playbook_default.clone() else {
                        continue;
                    };
                    match survey::validate(first, &value) {
                        Ok(v) if *first_source == Source::ArgSpec => {
                            // Walk order puts play vars before role defaults, as their
                            // precedence does.
                            if real_default.insert(q.variable.clone()) {
                                first.playbook_default = Some(v);
                            }
                            // The role's validation sees the variable: no answer is needed.
                            first.required = false;
                        }
                        Ok(_) => {}
                        Err(_) if *first_source == Source::Defaults => {
                            conflicting.insert(q.variable.clone());
                        }
                        Err(_) => {}
                    }
                }
            }
        }
    }
    let mut left_out: Vec<String> = conflicting
        .iter()
        .map(|v| format!("{v} (its defaults disagree on the type)"))
        .collect();
    left_out.sort();
    notes.extend(left_out);
    let questions = questions
        .into_iter()
        .map(|(source, mut q)| {
            if source == Source::ArgSpec && provided.contains(&q.variable) {
                q.required = false;
            }
            q
        })
        .filter(|q| !conflicting.contains(&q.variable))
        .collect();
    let mut description = String::new();
    if !plays.is_empty() {
        description.push_str(&format!("Plays: {}.", plays.join("; ")));
    }
    if !notes.is_empty() {
        description.push_str(&format!(
            " Not in the form (give them with -e or the inventory): {}.",
            notes.join(", ")
        ));
    }
    Ok(Survey {
        path: playbook.to_path_buf(),
        name: String::new(),
        description: description.trim().to_string(),
        questions,
        derived: true,
    })
}

/// The names of the plays of `playbook` (imports followed), for the Playbook step; unnamed plays
/// are shown by their hosts. Empty when the file cannot be read as a playbook.
pub fn play_names(playbook: &Path) -> Vec<String> {
    let mut b = Builder {
        roles_path: roles_path(playbook),
        ..Builder::default()
    };
    match b.playbook(playbook, 0) {
        Ok(()) => b.plays,
        Err(_) => Vec::new(),
    }
}

/// Whether the YAML document `root` is a playbook: a non-empty list whose items are mappings with
/// `hosts:` or `import_playbook:`.
pub fn is_playbook_node(root: &Node) -> bool {
    root.as_seq().is_some_and(|items| {
        !items.is_empty()
            && items.iter().all(|item| {
                item.get("hosts").is_some()
                    || item.get("import_playbook").is_some()
                    || item.get("ansible.builtin.import_playbook").is_some()
            })
    })
}

/// Directories that hold no playbooks (roles, variables, inventories) or are hidden.
fn skipped_dir(name: &str) -> bool {
    name.starts_with('.')
        || matches!(
            name,
            "roles"
                | "group_vars"
                | "host_vars"
                | "inventory"
                | "inventories"
                | "templates"
                | "files"
                | "collections"
                | "node_modules"
                | "target"
        )
}

/// The playbooks in `dirs`, recursively (see [`is_playbook_node`]): not in `roles/`,
/// `group_vars/`, `host_vars/`, inventory or hidden directories, not surveys. Sorted per
/// directory, each file once.
pub fn find_playbooks(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for dir in dirs {
        let mut found = Vec::new();
        walk(dir, 0, &mut found);
        found.sort();
        for p in found {
            let key = p.canonicalize().unwrap_or_else(|_| p.clone());
            if seen.insert(key) {
                out.push(p);
            }
        }
    }
    out
}

/// Directory levels searched below each playbook directory.
const MAX_SCAN_DEPTH: usize = 6;
/// Bigger YAML files are not playbooks anyone picks from a list (and would slow the scan).
const MAX_PLAYBOOK_BYTES: u64 = 1 << 20;

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            if depth < MAX_SCAN_DEPTH && !skipped_dir(&name) {
                walk(&path, depth + 1, out);
            }
            continue;
        }
        let yaml_name = name.ends_with(".yml") || name.ends_with(".yaml");
        if !yaml_name || name.contains(".survey.") || name.starts_with('.') {
            continue;
        }
        if e.metadata().map(|m| m.len()).unwrap_or(u64::MAX) > MAX_PLAYBOOK_BYTES {
            continue;
        }
        if yaml::load_file(&path).is_ok_and(|root| is_playbook_node(&root)) {
            out.push(path);
        }
    }
}

fn str_of(n: &Node) -> Option<String> {
    match &n.kind {
        Kind::Str(s) | Kind::Unsafe(s) => Some(s.clone()),
        _ => None,
    }
}

/// Whether a variable named so holds a secret.
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["password", "secret", "token"]
        .iter()
        .any(|w| n.contains(w))
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A scalar as text, for list items.
fn scalar_text(n: &Node) -> Option<String> {
    match &n.kind {
        Kind::Str(s) | Kind::Unsafe(s) => Some(s.clone()),
        Kind::Int(i) => Some(i.to_string()),
        Kind::Float(f) => Some(f.to_string()),
        Kind::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The question of a variable typed by its default `value` (play vars, role defaults), or why
/// it is left out.
fn typed_by_default(
    variable: &str,
    key_pos: &Pos,
    value: &Node,
    origin: &str,
) -> Result<Question, String> {
    let secret = secret_name(variable);
    let text_kind = if secret {
        QuestionType::Password
    } else {
        QuestionType::Text
    };
    let (kind, default, templated) = match &value.kind {
        Kind::Bool(b) => (QuestionType::Boolean, Some(Value::Bool(*b)), None),
        Kind::Int(i) => (QuestionType::Integer, Some(Value::from(*i)), None),
        Kind::Float(f) => (
            QuestionType::Float,
            serde_json::Number::from_f64(*f).map(Value::Number),
            None,
        ),
        Kind::Str(s) | Kind::Unsafe(s) if matches!(value.kind, Kind::Str(_)) && is_template(s) => {
            (text_kind, None, Some(s.clone()))
        }
        Kind::Str(s) | Kind::Unsafe(s) => (text_kind, Some(Value::String(s.clone())), None),
        Kind::Vault(_) => (QuestionType::Password, None, None),
        Kind::Seq(items) if !items.is_empty() => {
            let texts: Option<Vec<String>> = items.iter().map(scalar_text).collect();
            match texts {
                Some(t) if !t.iter().any(|s| is_template(s)) => (
                    QuestionType::List,
                    Some(Value::Array(t.into_iter().map(Value::String).collect())),
                    None,
                ),
                _ => return Err(format!("{variable} (a list of mappings or templates)")),
            }
        }
        Kind::Seq(_) => return Err(format!("{variable} (an empty list)")),
        Kind::Map(_) => return Err(format!("{variable} (a mapping)")),
        Kind::Null => return Err(format!("{variable} (no default value)")),
    };
    let mut q = Question::blank(variable, variable, kind, key_pos);
    q.secret |= secret;
    q.playbook_default = default;
    q.description = match (&templated, &value.kind) {
        (Some(t), _) => {
            format!("{origin}; default {t} (templated: left empty, the playbook computes it)")
        }
        (None, Kind::Vault(_)) => format!("{origin}; default vault-encrypted in the playbook"),
        _ => origin.to_string(),
    };
    Ok(q)
}

impl Builder {
    fn playbook(&mut self, path: &Path, depth: usize) -> Result<(), InputError> {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        // A missing import is the engine's error to report, where it is written.
        if depth > MAX_IMPORT_DEPTH
            || (depth > 0 && !path.is_file())
            || !self.files_seen.insert(key)
        {
            return Ok(());
        }
        let root = yaml::load_file(path)?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let Some(plays) = root.as_seq() else {
            return Ok(());
        };
        for play in plays {
            if play.as_map().is_none() {
                continue;
            }
            let import = play
                .get("import_playbook")
                .or_else(|| play.get("ansible.builtin.import_playbook"));
            if let Some(imp) = import {
                if let Some(f) = str_of(imp).filter(|f| !is_template(f)) {
                    self.playbook(&dir.join(f), depth + 1)?;
                }
                continue;
            }
            self.play(play, &dir)?;
        }
        Ok(())
    }

    fn play(&mut self, play: &Node, dir: &Path) -> Result<(), InputError> {
        let name = play.get("name").and_then(str_of);
        let hosts = play.get("hosts").and_then(scalar_text).unwrap_or_default();
        self.plays
            .push(name.clone().unwrap_or_else(|| format!("hosts: {hosts}")));
        let play_name = name.unwrap_or_else(|| format!("the play on {hosts}"));
        if let Some(prompts) = play.get("vars_prompt").and_then(Node::as_seq) {
            for p in prompts {
                self.prompt(p);
            }
        }
        if let Some(vars) = play.get("vars").and_then(Node::as_map) {
            for (k, v) in vars {
                let var = k.key_string();
                if !is_identifier(&var) {
                    continue;
                }
                match typed_by_default(&var, &k.pos, v, &format!("a var of '{play_name}'")) {
                    Ok(q) => self.defaults.push(q),
                    Err(note) => self.notes.push(note),
                }
            }
        }
        if let Some(roles) = play.get("roles").and_then(Node::as_seq) {
            for r in roles {
                let name = match &r.kind {
                    Kind::Map(entries) => {
                        for (k, v) in entries {
                            match k.key_string().as_str() {
                                "vars" => self.provide(v),
                                "role" | "name" | "when" | "tags" => {}
                                other => {
                                    self.provided.insert(other.to_string());
                                }
                            }
                        }
                        r.get("role").or_else(|| r.get("name")).and_then(str_of)
                    }
                    _ => str_of(r),
                };
                if let Some(name) = name {
                    self.role(&name, dir)?;
                }
            }
        }
        for section in ["pre_tasks", "tasks", "post_tasks", "handlers"] {
            if let Some(tasks) = play.get(section).and_then(Node::as_seq) {
                self.tasks(tasks, dir, 0)?;
            }
        }
        Ok(())
    }

    /// Roles included by tasks (`include_role`/`import_role`), in blocks too.
    fn tasks(&mut self, tasks: &[Node], dir: &Path, depth: usize) -> Result<(), InputError> {
        if depth > 8 {
            return Ok(());
        }
        for t in tasks {
            for key in ["block", "rescue", "always"] {
                if let Some(inner) = t.get(key).and_then(Node::as_seq) {
                    self.tasks(inner, dir, depth + 1)?;
                }
            }
            for module in [
                "include_role",
                "import_role",
                "ansible.builtin.include_role",
                "ansible.builtin.import_role",
            ] {
                if let Some(name) = t.get(module).and_then(|m| m.get("name")).and_then(str_of) {
                    if let Some(v) = t.get("vars") {
                        self.provide(v);
                    }
                    self.role(&name, dir)?;
                }
            }
        }
        Ok(())
    }

    /// The names of a `vars:` mapping given to a role.
    fn provide(&mut self, vars: &Node) {
        if let Some(entries) = vars.as_map() {
            self.provided
                .extend(entries.iter().map(|(k, _)| k.key_string()));
        }
    }

    fn prompt(&mut self, p: &Node) {
        let Some(var) = p.get("name").and_then(str_of) else {
            return;
        };
        if !is_identifier(&var) {
            return;
        }
        if p.get("encrypt").is_some() {
            self.notes.push(format!(
                "{var} (vars_prompt with encrypt: give its hash with -e)"
            ));
            return;
        }
        let private = !matches!(p.get("private").map(|n| &n.kind), Some(Kind::Bool(false)));
        let label = p
            .get("prompt")
            .and_then(str_of)
            .unwrap_or_else(|| var.clone());
        let kind = if private {
            QuestionType::Password
        } else {
            QuestionType::Text
        };
        let mut q = Question::blank(&var, &label, kind, &p.pos);
        q.description = "asked by vars_prompt".to_string();
        q.prompted = true;
        match p.get("default").and_then(scalar_text) {
            Some(d) if is_template(&d) => {
                q.description = format!(
                    "asked by vars_prompt; default {d} (templated: left empty, the playbook computes it)"
                );
            }
            Some(d) => q.default = Some(Value::String(d)),
            // Nothing prompts during a run: an answer is needed.
            None => q.required = true,
        }
        self.prompts.push(q);
    }

    /// Where role `name` is: a path, `roles/` beside the playbook, `ANSIBLE_ROLES_PATH`, or
    /// beside the playbook.
    fn find_role(&self, name: &str, dir: &Path) -> Option<PathBuf> {
        if name.contains('/') {
            let p = dir.join(name);
            return p.is_dir().then_some(p);
        }
        let mut candidates = vec![dir.join("roles").join(name)];
        candidates.extend(self.roles_path.iter().map(|p| p.join(name)));
        candidates.push(dir.join(name));
        candidates.into_iter().find(|p| p.is_dir())
    }

    fn role(&mut self, name: &str, dir: &Path) -> Result<(), InputError> {
        if is_template(name) {
            return Ok(());
        }
        let Some(role_dir) = self.find_role(name, dir) else {
            self.notes.push(format!(
                "the variables of role {name} (not found in roles/ or ANSIBLE_ROLES_PATH)"
            ));
            return Ok(());
        };
        let key = role_dir.canonicalize().unwrap_or_else(|_| role_dir.clone());
        if !self.roles_seen.insert(key) {
            return Ok(());
        }
        if let Some(specs) = super::argspec::load(&role_dir)? {
            self.argument_specs(&specs, name)?;
        }
        for file in ["main.yml", "main.yaml"] {
            let path = role_dir.join("defaults").join(file);
            if !path.is_file() {
                continue;
            }
            let root = yaml::load_file(&path)?;
            if let Some(vars) = root.as_map() {
                let origin = format!("a default of role {name}");
                for (k, v) in vars {
                    let var = k.key_string();
                    if !is_identifier(&var) {
                        continue;
                    }
                    match typed_by_default(&var, &k.pos, v, &origin) {
                        Ok(q) => self.defaults.push(q),
                        Err(note) => self.notes.push(note),
                    }
                }
            }
            break;
        }
        Ok(())
    }

    /// The options of entry point `main` (the spec is checked by [`super::argspec::load`]).
    fn argument_specs(
        &mut self,
        specs: &super::argspec::RoleSpecs,
        role: &str,
    ) -> Result<(), InputError> {
        let Some(options) = specs
            .specs
            .get("main")
            .and_then(|m| m.get("options"))
            .and_then(Node::as_map)
        else {
            return Ok(());
        };
        for (k, spec) in options {
            let var = k.key_string();
            if let Some(q) = option(&var, &k.pos, spec, role, &mut self.notes)? {
                self.specs.push(q);
            }
        }
        Ok(())
    }
}

/// One option of an argument spec, or `None` (with a note) when the form cannot take it.
fn option(
    var: &str,
    key_pos: &Pos,
    spec: &Node,
    role: &str,
    notes: &mut Vec<String>,
) -> Result<Option<Question>, InputError> {
    // The spec was checked by argspec::load: a mapping with a known type and list choices.
    let type_name = spec
        .get("type")
        .and_then(str_of)
        .unwrap_or_else(|| "str".to_string());
    let choices: Vec<String> = spec
        .get("choices")
        .and_then(Node::as_seq)
        .map(|items| items.iter().filter_map(scalar_text).collect())
        .unwrap_or_default();
    let elements = spec.get("elements").and_then(str_of);
    let secret =
        secret_name(var) || matches!(spec.get("no_log").map(|n| &n.kind), Some(Kind::Bool(true)));
    let kind = match (type_name.as_str(), choices.is_empty()) {
        ("list", _) if matches!(elements.as_deref(), Some("dict" | "list" | "raw")) => {
            notes.push(format!(
                "{var} (a list of {})",
                elements.unwrap_or_default()
            ));
            return Ok(None);
        }
        ("dict" | "raw", _) => {
            notes.push(format!("{var} (type {type_name})"));
            return Ok(None);
        }
        ("list", true) => QuestionType::List,
        ("list", false) => QuestionType::MultiSelect,
        (_, false) => QuestionType::MultipleChoice,
        ("int", true) => QuestionType::Integer,
        ("float", true) => QuestionType::Float,
        ("bool", true) => QuestionType::Boolean,
        (_, true) if secret => QuestionType::Password,
        (_, true) => QuestionType::Text,
    };
    let mut q = Question::blank(var, var, kind, key_pos);
    q.secret |= secret;
    q.choices = choices;
    q.description = match spec
        .get("description")
        .or_else(|| spec.get("short_description"))
    {
        Some(n) => match &n.kind {
            Kind::Seq(lines) => lines
                .iter()
                .filter_map(scalar_text)
                .collect::<Vec<_>>()
                .join(" "),
            _ => scalar_text(n).unwrap_or_default(),
        },
        None => String::new(),
    };
    if q.description.is_empty() {
        q.description = format!("an option of role {role}");
    }
    q.role_validated = true;
    q.required = matches!(
        spec.get("required").map(|n| &n.kind),
        Some(Kind::Bool(true))
    );
    if let Some(n) = spec.get("default").filter(|n| !n.is_null()) {
        let templated = match &n.kind {
            Kind::Str(s) if is_template(s) => Some(s.clone()),
            _ => None,
        };
        if let Some(t) = templated {
            q.description.push_str(&format!(
                " (default {t}: templated, left empty the role computes it)"
            ));
        } else {
            let value = n.to_json_plain()?;
            let v = survey::validate(&q, &value).map_err(|e| {
                InputError::at(
                    &n.pos,
                    format!("the default of option '{var}' is invalid: {e}"),
                )
            })?;
            q.playbook_default = Some(v).filter(|v| !v.is_null());
        }
    }
    Ok(Some(q))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    const SPECS: &str = "argument_specs:\n  main:\n    short_description: Web\n    options:\n      web_port:\n        type: int\n        default: 8080\n        description: The port.\n      web_mode:\n        type: str\n        choices: [dev, prod]\n        required: true\n      web_users:\n        type: list\n        elements: str\n      web_extra:\n        type: dict\n";

    #[test]
    fn argument_specs_prompts_and_defaults_become_questions() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        write(root, "roles/web/meta/argument_specs.yml", SPECS);
        write(
            root,
            "roles/web/defaults/main.yml",
            "web_port: 9090\nweb_api_token: abc\nweb_home: \"{{ base }}/web\"\nweb_opts: {a: 1}\n",
        );
        write(
            root,
            "site.yml",
            "- name: Web servers\n  hosts: web\n  vars_prompt:\n    - name: admin_name\n      prompt: Admin user\n      private: false\n    - name: hashed\n      prompt: Hash\n      encrypt: sha512_crypt\n  vars:\n    retries: 3\n    debug: false\n  roles:\n    - web\n",
        );
        let s = derive(&root.join("site.yml")).expect("derives");
        let vars: Vec<&str> = s.questions.iter().map(|q| q.variable.as_str()).collect();
        assert_eq!(
            vars,
            [
                "admin_name",
                "web_port",
                "web_mode",
                "web_users",
                "retries",
                "debug",
                "web_api_token",
                "web_home"
            ]
        );
        let q = s.question("admin_name").expect("prompt");
        assert_eq!(
            (q.name.as_str(), q.kind, q.required, q.secret),
            ("Admin user", QuestionType::Text, true, false)
        );
        let port = s.question("web_port").expect("port");
        assert_eq!(port.kind, QuestionType::Integer);
        // The role's defaults/main.yml is what the role uses; never passed as an answer.
        assert_eq!(port.playbook_default, Some(Value::from(9090)));
        assert_eq!(port.default, None);
        let mode = s.question("web_mode").expect("mode");
        assert_eq!(
            (mode.kind, mode.required),
            (QuestionType::MultipleChoice, true)
        );
        let e = survey::validate(mode, &Value::from("test")).expect_err("not a choice");
        assert!(e.contains("one of dev, prod"), "{e}");
        assert_eq!(
            s.question("web_users").expect("users").kind,
            QuestionType::List
        );
        assert!(s.question("web_api_token").expect("token").secret);
        let home = s.question("web_home").expect("home");
        assert_eq!(home.playbook_default, None);
        assert!(
            home.description.contains("{{ base }}/web"),
            "{}",
            home.description
        );
        assert_eq!(
            s.question("debug").expect("debug").kind,
            QuestionType::Boolean
        );
        assert!(
            s.description.starts_with("Plays: Web servers."),
            "{}",
            s.description
        );
        for left_out in [
            "web_extra (type dict)",
            "hashed (vars_prompt with encrypt",
            "web_opts (a mapping)",
        ] {
            assert!(
                s.description.contains(left_out),
                "{left_out}: {}",
                s.description
            );
        }
        // The spec's position is where the option is written.
        assert_eq!((port.pos.line, port.pos.col), (5, 7));
        assert!(port.pos.file.ends_with("roles/web/meta/argument_specs.yml"));
    }

    #[test]
    fn a_bad_argument_spec_is_pointed_at() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        write(
            root,
            "roles/web/meta/argument_specs.yml",
            "argument_specs:\n  main:\n    options:\n      p:\n        type: flaot\n",
        );
        write(
            root,
            "site.yml",
            "- hosts: all\n  tasks:\n    - include_role:\n        name: web\n",
        );
        let e = derive(&root.join("site.yml")).expect_err("bad type");
        let msg = e.to_string();
        assert!(msg.contains("argument_specs.yml:5:15:"), "{msg}");
        assert!(msg.contains("did you mean 'float'"), "{msg}");
    }

    #[test]
    fn roles_are_found_in_the_roles_path_and_missing_ones_noted() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        write(
            root,
            "shared/db/defaults/main.yml",
            "db_port: 5432\ndb_password: x\n",
        );
        write(
            root,
            "pb/site.yml",
            "- hosts: all\n  roles:\n    - role: db\n    - gone\n",
        );
        let s = derive_with_roles_path(&root.join("pb/site.yml"), vec![root.join("shared")])
            .expect("derives");
        let port = s.question("db_port").expect("from the roles path");
        assert_eq!(port.kind, QuestionType::Integer);
        assert_eq!(
            port.default, None,
            "a role default is not passed as an answer"
        );
        let pw = s.question("db_password").expect("password");
        assert!(pw.secret && pw.kind == QuestionType::Password);
        assert!(
            s.description.contains("role gone (not found"),
            "{}",
            s.description
        );
        let s = derive_with_roles_path(&root.join("pb/site.yml"), Vec::new()).expect("derives");
        assert!(s.question("db_port").is_none());
    }

    #[test]
    fn playbooks_are_found_recursively() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        let play = "- hosts: all\n  tasks: []\n";
        write(root, "a.yml", play);
        write(
            root,
            "sub/deeper/b.yaml",
            "- import_playbook: ../../a.yml\n",
        );
        write(root, "roles/r/tasks/main.yml", "- debug: msg=x\n");
        write(root, "group_vars/all.yml", "x: 1\n");
        write(root, "inventory/hosts.yml", "all:\n  hosts: {}\n");
        write(root, "sub/vars.yml", "- a\n- b\n");
        write(root, "a.survey.yml", "name: x\nspec: []\n");
        let found = find_playbooks(&[root.to_path_buf()]);
        let rel: Vec<String> = found
            .iter()
            .map(|p| {
                p.strip_prefix(root)
                    .expect("under root")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(rel, ["a.yml", "sub/deeper/b.yaml"]);
        assert_eq!(play_names(&root.join("sub/deeper/b.yaml")), ["hosts: all"]);
    }
}
