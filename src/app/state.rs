//! The wizard's state: everything the screens show, nothing that talks to the world.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};
use tui_input::Input;

use crate::engine::events::Counts;
use crate::engine::{RunRequest, RunSummary, Status};
use crate::inventory::Inventory;
use crate::playbook::survey::{self, Question, QuestionType, Survey};

/// Lines of live output kept per host (the journal has everything).
pub const OUTPUT_LINES_PER_HOST: usize = 1000;
/// Rows of the task table kept.
pub const TASK_ROWS: usize = 5000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Playbook,
    Variables,
    Hosts,
    Review,
    Execute,
    Health,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Playbook,
        Step::Variables,
        Step::Hosts,
        Step::Review,
        Step::Execute,
        Step::Health,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Step::Playbook => "Playbook",
            Step::Variables => "Variables",
            Step::Hosts => "Hosts",
            Step::Review => "Review",
            Step::Execute => "Execute",
            Step::Health => "Health",
        }
    }

    pub fn index(self) -> usize {
        Step::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// A playbook found in `playbooks/`.
#[derive(Debug, Clone)]
pub struct PlaybookEntry {
    pub path: PathBuf,
    pub title: String,
    pub description: String,
    pub survey: Option<Survey>,
    /// Why the survey could not be read.
    pub error: Option<String>,
    /// It writes the SLM backend's database settings: its databases get their schema
    /// migrations after a successful run, and Health watches them.
    pub deploys_databases: bool,
}

impl PlaybookEntry {
    /// Reads the playbook's variable spec (its survey sidecar, else the form derived from the
    /// playbook) for its title, description and questions; without a sidecar the description
    /// names its plays.
    pub fn load(path: &Path) -> Self {
        let file = path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (survey, error) = match survey::load_for(path) {
            Ok(s) => (s, None),
            Err(e) => (None, Some(e.to_string())),
        };
        let title = survey
            .as_ref()
            .map(|s| s.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| file.clone());
        let description = match &survey {
            Some(s) => s.description.clone(),
            None => {
                let plays = crate::playbook::varspec::play_names(path);
                if plays.is_empty() {
                    String::new()
                } else {
                    format!("Plays: {}.", plays.join("; "))
                }
            }
        };
        Self {
            path: path.to_path_buf(),
            title,
            description,
            survey,
            error,
            deploys_databases: crate::health::deployment::writes_backend_settings(path),
        }
    }

    /// The playbooks directly in `dir` or below it (see [`Self::scan_dirs`]).
    pub fn scan(dir: &Path) -> Vec<Self> {
        Self::scan_dirs(&[dir.to_path_buf()])
    }

    /// The playbooks found recursively in `dirs` (`--playbooks`, the config's `playbook_dirs`):
    /// YAML lists of plays (`hosts:`) or `import_playbook:`s, not in roles/, group_vars/,
    /// host_vars/ or inventory directories, not surveys; sorted per directory.
    pub fn scan_dirs(dirs: &[PathBuf]) -> Vec<Self> {
        crate::playbook::varspec::find_playbooks(dirs)
            .iter()
            .map(|p| Self::load(p))
            .collect()
    }

    /// Whether the form comes from the playbook itself, not from a survey sidecar.
    pub fn derived(&self) -> bool {
        self.survey.as_ref().is_some_and(|s| s.derived)
    }
}

/// The editable value of one form field.
#[derive(Debug, Clone)]
pub enum FieldValue {
    Text(Input),
    Bool(bool),
    /// Index into the question's choices; `None` = no answer.
    Choice(Option<usize>),
    /// List items, the selected item, and the line a new item is typed into.
    List {
        items: Vec<String>,
        selected: usize,
        input: Input,
    },
}

/// One field of the Variables form.
#[derive(Debug, Clone)]
pub struct Field {
    pub question: Question,
    pub value: FieldValue,
    /// A secret's value is shown in clear.
    pub revealed: bool,
    /// The answer is empty and will be generated (or reused from the secret store) at run time.
    pub generated_later: bool,
    /// The validation message of the current value.
    pub error: Option<String>,
}

impl Field {
    pub fn new(question: &Question) -> Self {
        let d = question
            .default
            .clone()
            .or_else(|| question.playbook_default.clone());
        let text = |v: &Option<Value>| match v {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let value = match question.kind {
            QuestionType::Boolean => FieldValue::Bool(matches!(d, Some(Value::Bool(true)))),
            QuestionType::MultipleChoice => FieldValue::Choice(
                d.as_ref()
                    .and_then(|v| v.as_str())
                    .and_then(|s| question.choices.iter().position(|c| c == s)),
            ),
            QuestionType::List | QuestionType::MultiSelect => {
                let items: Vec<String> = match &d {
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string()))
                        .collect(),
                    _ => Vec::new(),
                };
                FieldValue::List {
                    selected: items.len().saturating_sub(1),
                    items,
                    input: Input::default(),
                }
            }
            _ => FieldValue::Text(Input::new(text(&d))),
        };
        let mut f = Self {
            question: question.clone(),
            value,
            revealed: false,
            generated_later: false,
            error: None,
        };
        f.revalidate();
        f
    }

    /// The answer as a JSON value (before validation).
    pub fn raw(&self) -> Value {
        match &self.value {
            FieldValue::Text(i) => Value::String(i.value().to_string()),
            FieldValue::Bool(b) => Value::Bool(*b),
            FieldValue::Choice(c) => c
                .and_then(|i| self.question.choices.get(i))
                .map(|s| Value::String(s.clone()))
                .unwrap_or(Value::Null),
            FieldValue::List { items, .. } => {
                Value::Array(items.iter().cloned().map(Value::String).collect())
            }
        }
    }

    /// True when the answer is empty and the question generates a value at run time.
    pub fn will_generate(&self) -> bool {
        self.question.generate.is_some()
            && matches!(&self.value, FieldValue::Text(i) if i.value().is_empty())
    }

    /// Validates the current answer with the survey's rules.
    pub fn revalidate(&mut self) {
        self.generated_later = self.will_generate();
        self.error = if self.generated_later {
            None
        } else {
            survey::validate(&self.question, &self.raw()).err()
        };
    }

    /// The validated answer, `None` when empty (or generated at run time).
    pub fn answer(&self) -> Option<Value> {
        if self.generated_later {
            return None;
        }
        match survey::validate(&self.question, &self.raw()) {
            Ok(Value::Null) | Err(_) => None,
            Ok(Value::String(s)) if s.is_empty() && !self.question.required => None,
            Ok(v) => Some(v),
        }
    }

    /// What the Review step shows for this answer (secrets masked).
    pub fn display(&self) -> String {
        if self.generated_later {
            return "(generated / reused from the secret store)".into();
        }
        match self.answer() {
            None => "(not set)".into(),
            Some(_) if self.question.secret => "••••••••".into(),
            Some(Value::String(s)) => s,
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string()))
                .collect::<Vec<_>>()
                .join(", "),
            Some(v) => v.to_string(),
        }
    }
}

/// What the next wizard session starts from: the last playbook, inventory and non-secret answers.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub playbook: Option<PathBuf>,
    pub inventory: Option<PathBuf>,
    #[serde(default)]
    pub answers: Map<String, Value>,
    /// How the last real run ended on each host, shown in the Hosts step of the next session.
    #[serde(default)]
    pub last_run: std::collections::BTreeMap<String, LastRun>,
}

/// A host's outcome in the last real run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LastRun {
    /// Nothing needed changing.
    Ok,
    /// Something had drifted and was changed.
    Changed,
    Failed,
    Unreachable,
}

impl LastRun {
    pub fn of(c: &Counts) -> Self {
        if c.unreachable > 0 {
            LastRun::Unreachable
        } else if c.failed > 0 {
            LastRun::Failed
        } else if c.changed > 0 {
            LastRun::Changed
        } else {
            LastRun::Ok
        }
    }
}

impl Field {
    /// Sets the answer from a (saved) value; values that do not fit the field are ignored.
    pub fn set(&mut self, v: &Value) {
        let text = |v: &Value| v.as_str().map(str::to_string).unwrap_or(v.to_string());
        match (&mut self.value, v) {
            (FieldValue::Text(i), Value::String(_) | Value::Number(_)) => *i = Input::new(text(v)),
            (FieldValue::Bool(b), Value::Bool(x)) => *b = *x,
            (FieldValue::Choice(c), Value::String(s)) => {
                if let Some(i) = self.question.choices.iter().position(|x| x == s) {
                    *c = Some(i);
                }
            }
            (
                FieldValue::List {
                    items, selected, ..
                },
                Value::Array(a),
            ) => {
                *items = a.iter().map(text).collect();
                *selected = items.len().saturating_sub(1);
            }
            _ => return,
        }
        self.revalidate();
    }
}

/// The Variables form.
#[derive(Debug, Clone, Default)]
pub struct Form {
    pub fields: Vec<Field>,
    pub focus: usize,
    /// The playbook the form was built for (going back and forth keeps the answers).
    pub playbook: Option<PathBuf>,
}

impl Form {
    /// The form of a survey, with `answers` (of an earlier session) filled in; secrets never are.
    pub fn from_survey(
        survey: Option<&Survey>,
        playbook: &Path,
        answers: &Map<String, Value>,
    ) -> Self {
        let mut fields: Vec<Field> = survey
            .map(|s| s.questions.iter().map(Field::new).collect())
            .unwrap_or_default();
        for f in &mut fields {
            if !f.question.secret
                && let Some(v) = answers.get(&f.question.variable)
            {
                f.set(v);
            }
        }
        Self {
            fields,
            focus: 0,
            playbook: Some(playbook.to_path_buf()),
        }
    }

    /// The non-secret answers, to start the next session from.
    pub fn saved_answers(&self) -> Map<String, Value> {
        self.fields
            .iter()
            .filter(|f| !f.question.secret)
            .filter_map(|f| f.answer().map(|v| (f.question.variable.clone(), v)))
            .collect()
    }

    pub fn first_invalid(&self) -> Option<usize> {
        self.fields.iter().position(|f| f.error.is_some())
    }

    /// The answers to pass to the run: only those that differ from the survey's default (and are
    /// not empty lists), so values the inventory sets for a group are not overridden by the
    /// survey's defaults — `prepare_run` fills in defaults where nothing else defines a variable.
    /// The playbook's own defaults (of a derived form) are never passed either.
    pub fn values(&self) -> Map<String, Value> {
        self.fields
            .iter()
            .filter_map(|f| {
                let v = f.answer()?;
                if Some(&v) == f.question.default.as_ref()
                    || Some(&v) == f.question.playbook_default.as_ref()
                    || matches!(&v, Value::Array(a) if a.is_empty() && !f.question.required)
                {
                    return None;
                }
                Some((f.question.variable.clone(), v))
            })
            .collect()
    }
}

/// One host of the inventory, as the Hosts step shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRow {
    pub name: String,
    /// The host's variables (connection settings), for "test connection".
    pub vars: Map<String, Value>,
    pub address: String,
    pub connection: String,
    pub user: String,
}

fn row(inv: &Inventory, h: &str) -> HostRow {
    HostRow::new(h, inv.host_vars(h))
}

impl HostRow {
    pub fn new(name: &str, vars: Map<String, Value>) -> Self {
        let mut r = HostRow {
            name: name.to_string(),
            vars,
            address: String::new(),
            connection: String::new(),
            user: String::new(),
        };
        r.refresh();
        r
    }

    /// A variable as text ("" when unset).
    pub fn var(&self, k: &str) -> String {
        self.vars
            .get(k)
            .map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string()))
            .unwrap_or_default()
    }

    /// Recomputes the shown columns from the variables.
    fn refresh(&mut self) {
        let or = |v: String, d: &str| if v.is_empty() { d.to_string() } else { v };
        self.address = or(self.var("ansible_host"), &self.name);
        self.connection = or(self.var("ansible_connection"), "ssh");
        self.user = self.var("ansible_user");
    }
}

/// An inventory written by the Hosts step, read back.
#[derive(Debug, Clone)]
pub struct SavedInventory {
    pub view: HostsView,
    /// Where the previous version was kept.
    pub backup: Option<PathBuf>,
}

/// The host form of the Hosts step (add or edit).
#[derive(Debug, Clone)]
pub struct HostEdit {
    pub form: Form,
    /// The host being edited (None: a new host) and the group it was shown in.
    pub original: Option<(String, String)>,
    /// The form's answers when it opened: only what the operator changed is written.
    pub initial: Map<String, Value>,
}

/// The inventory of the Hosts step, with edits not saved yet.
#[derive(Debug, Clone, Default)]
pub struct HostsView {
    pub path: PathBuf,
    /// Groups with their hosts (direct and through children), in file order.
    pub groups: Vec<(String, Vec<HostRow>)>,
    pub error: Option<String>,
    pub scroll: u16,
    /// The selected host (index into `host_names()`).
    pub selected: usize,
    /// Results of "test connection" per host.
    pub tests: HashMap<String, ConnTest>,
    /// The host and SHA256 fingerprint of a key met for the first time, awaiting trust.
    pub trust_prompt: Option<(String, String)>,
    /// The ProxyJump host whose key `trust_prompt` shows, when it is not the host's own.
    pub trust_jump: Option<String>,
    /// Edits shown here but not written to the file yet, in order.
    pub pending: Vec<crate::inventory::edit::Edit>,
    /// The add/edit form, while open.
    pub edit: Option<HostEdit>,
    /// The path typed for "save as", while typing.
    pub save_as: Option<Input>,
    /// A save is being written.
    pub saving: bool,
}

/// The state of a "test connection".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnTest {
    Running,
    /// Connected: what the host said (OS, PostgreSQL client).
    Ok(String),
    Failed(String),
}

impl HostsView {
    /// The hosts the databases live on: those of the spec's groups (`slm_server`, `redis_vm`),
    /// or every host when the inventory has neither.
    pub fn database_hosts(&self) -> Vec<crate::health::host::HostTarget> {
        let spec = ["slm_server", "redis_vm"];
        let any_spec = self.groups.iter().any(|(g, _)| spec.contains(&g.as_str()));
        let mut out: Vec<crate::health::host::HostTarget> = Vec::new();
        for (g, hosts) in &self.groups {
            if any_spec && !spec.contains(&g.as_str()) {
                continue;
            }
            for h in hosts {
                if !out.iter().any(|t| t.name == h.name) {
                    out.push(crate::health::host::HostTarget {
                        name: h.name.clone(),
                        vars: h.vars.clone(),
                    });
                }
            }
        }
        out
    }

    /// The values the inventory gives `var`, each with the hosts that get it (host and group
    /// variables merged, as the run sees them).
    pub fn inventory_values(&self, var: &str) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for r in self.groups.iter().flat_map(|(_, hs)| hs.iter()) {
            if seen.contains(&r.name.as_str()) {
                continue;
            }
            seen.push(&r.name);
            let Some(v) = r.vars.get(var) else { continue };
            let text = v.to_string();
            match out.iter_mut().find(|(t, _)| *t == text) {
                Some((_, hosts)) => hosts.push(r.name.clone()),
                None => out.push((text, vec![r.name.clone()])),
            }
        }
        out
    }

    /// Applies an edit to what the step shows and queues it for the next save.
    pub fn edit(&mut self, e: crate::inventory::edit::Edit) {
        use crate::inventory::edit::Edit;
        match &e {
            Edit::Upsert { group, host, vars } => {
                if !self.groups.iter().any(|(g, _)| g == group) {
                    self.groups.push((group.clone(), Vec::new()));
                }
                // The host's variables as shown elsewhere (it may be listed in several groups).
                let known = self
                    .groups
                    .iter()
                    .flat_map(|(_, hs)| hs.iter())
                    .find(|r| &r.name == host)
                    .map(|r| r.vars.clone())
                    .unwrap_or_default();
                for (g, hosts) in &mut self.groups {
                    let listed = hosts.iter().any(|r| &r.name == host);
                    if g == group && !listed {
                        hosts.push(HostRow::new(host, known.clone()));
                    }
                    for r in hosts.iter_mut().filter(|r| &r.name == host) {
                        for (k, v) in vars {
                            match v {
                                Some(v) => {
                                    r.vars.insert(k.clone(), Value::from(v.clone()));
                                }
                                None => {
                                    r.vars.remove(k);
                                }
                            }
                        }
                        r.refresh();
                    }
                }
            }
            Edit::Remove { host } => {
                for (_, hosts) in &mut self.groups {
                    hosts.retain(|r| &r.name != host);
                }
            }
            Edit::Rename { from, to } => {
                for (_, hosts) in &mut self.groups {
                    for r in hosts.iter_mut().filter(|r| &r.name == from) {
                        r.name = to.clone();
                        r.refresh();
                    }
                }
                if let Some(t) = self.tests.remove(from) {
                    self.tests.insert(to.clone(), t);
                }
            }
            Edit::Move { host, to } => {
                let mut moved = None;
                for (_, hosts) in &mut self.groups {
                    if let Some(i) = hosts.iter().position(|r| &r.name == host) {
                        moved.get_or_insert(hosts.remove(i));
                    }
                }
                if let Some(r) = moved {
                    match self.groups.iter_mut().find(|(g, _)| g == to) {
                        Some((_, hosts)) => hosts.push(r),
                        None => self.groups.push((to.clone(), vec![r])),
                    }
                }
            }
        }
        self.pending.push(e);
        let n = self.host_names().len();
        self.selected = self.selected.min(n.saturating_sub(1));
    }

    /// The group a host is shown in first.
    pub fn group_of(&self, host: &str) -> Option<String> {
        self.groups
            .iter()
            .find(|(_, hs)| hs.iter().any(|r| r.name == host))
            .map(|(g, _)| g.clone())
    }

    /// The groups a host can be put in: the inventory's, and the spec's two.
    pub fn group_choices(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .groups
            .iter()
            .map(|(g, _)| g.clone())
            .filter(|g| g != "ungrouped")
            .collect();
        for g in ["slm_server", "redis_vm"] {
            if !out.iter().any(|o| o == g) {
                out.push(g.into());
            }
        }
        out
    }

    /// Each host once, in the order the groups show them.
    pub fn host_names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, hosts) in &self.groups {
            for h in hosts {
                if !out.contains(&h.name) {
                    out.push(h.name.clone());
                }
            }
        }
        out
    }

    pub fn vars_of(&self, host: &str) -> Map<String, Value> {
        self.groups
            .iter()
            .flat_map(|(_, hs)| hs.iter())
            .find(|h| h.name == host)
            .map(|h| h.vars.clone())
            .unwrap_or_default()
    }

    pub fn from_inventory(path: &Path, inv: &Inventory) -> Self {
        let mut groups = Vec::new();
        for name in inv.groups.keys() {
            if name == "all" || name == "ungrouped" {
                continue;
            }
            let mut hosts: Vec<HostRow> = Vec::new();
            for h in inv.hosts.keys() {
                if inv.groups_of(h).iter().any(|g| g == name) {
                    hosts.push(row(inv, h));
                }
            }
            if !hosts.is_empty() || name != "ungrouped" {
                groups.push((name.clone(), hosts));
            }
        }
        let listed = |h: &str| groups.iter().any(|(_, hs)| hs.iter().any(|r| r.name == h));
        let rest: Vec<HostRow> = inv
            .hosts
            .keys()
            .filter(|h| !listed(h))
            .map(|h| row(inv, h))
            .collect();
        if !rest.is_empty() {
            groups.push(("ungrouped".into(), rest));
        }
        Self {
            path: path.to_path_buf(),
            groups,
            ..Default::default()
        }
    }

    pub fn failed(path: &Path, error: String) -> Self {
        Self {
            path: path.to_path_buf(),
            error: Some(error),
            ..Default::default()
        }
    }
}

/// A task the dry run says would change (or failed).
#[derive(Debug, Clone)]
pub struct CheckItem {
    pub task: String,
    pub status: Status,
    pub msg: Option<String>,
    /// Unified-diff-like lines.
    pub diff: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Idle,
    Running,
    Done,
    Failed,
}

/// The Review step's dry run.
#[derive(Debug, Clone)]
pub struct Review {
    pub phase: Phase,
    pub hosts: Vec<String>,
    pub per_host: HashMap<String, Vec<CheckItem>>,
    pub counts: HashMap<String, Counts>,
    pub selected_host: usize,
    pub scroll: u16,
    pub error: Option<String>,
    /// The engine of the dry run (`ansible`/`native`) and why not native, once known.
    pub engine: Option<(String, Option<String>)>,
}

/// A failure of the dry run, as the confirm dialog lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRunFailure {
    pub host: String,
    pub task: String,
    pub reason: String,
    /// An earlier task on the same host that check mode could not apply (it would change): the
    /// failure may only follow from it (e.g. a service of a package not installed yet).
    pub after_unapplied: Option<String>,
}

impl Review {
    /// What failed in the dry run, per host in order; the dry run that could not start at all
    /// is one failure without a host.
    pub fn failures(&self) -> Vec<DryRunFailure> {
        let mut out = Vec::new();
        if self.phase == Phase::Failed {
            out.push(DryRunFailure {
                host: String::new(),
                task: "(dry run)".into(),
                reason: self.error.clone().unwrap_or_default(),
                after_unapplied: None,
            });
        }
        for host in &self.hosts {
            let mut first_change: Option<&str> = None;
            for it in self
                .per_host
                .get(host)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                match it.status {
                    Status::Changed => {
                        first_change.get_or_insert(it.task.as_str());
                    }
                    Status::Failed | Status::Unreachable => out.push(DryRunFailure {
                        host: host.clone(),
                        task: it.task.clone(),
                        reason: it.msg.clone().unwrap_or_default(),
                        after_unapplied: first_change
                            .filter(|_| it.status == Status::Failed)
                            .map(str::to_string),
                    }),
                    _ => {}
                }
            }
        }
        out
    }
}

impl Default for Review {
    fn default() -> Self {
        Self {
            phase: Phase::Idle,
            hosts: Vec::new(),
            per_host: HashMap::new(),
            counts: HashMap::new(),
            selected_host: 0,
            scroll: 0,
            error: None,
            engine: None,
        }
    }
}

/// Where one database's schema migrations are (the phase after a deploying run, or `m` on Health).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationState {
    Running,
    /// Applied now, by name.
    Applied(Vec<String>),
    /// Nothing pending: this many were applied before.
    AlreadyApplied(usize),
    Failed(String),
}

/// The migrations phase of the Execute step.
#[derive(Debug, Clone, Default)]
pub struct Migrations {
    pub phase: Option<Phase>,
    /// Per database, in the order they were reported.
    pub rows: Vec<(String, MigrationState)>,
    /// Why the databases could not be reached at all (no settings).
    pub error: Option<String>,
}

/// A host's lane in the Execute step.
#[derive(Debug, Clone, Default)]
pub struct Lane {
    pub done: usize,
    /// Task ids that reported a result (a loop reports one per item).
    pub finished: std::collections::HashSet<usize>,
    pub total: usize,
    pub counts: Counts,
    pub current: Option<String>,
    pub stopped: Option<String>,
    pub output: VecDeque<String>,
}

#[derive(Debug, Clone)]
pub struct TaskRow {
    pub task: String,
    pub host: String,
    pub status: Option<Status>,
    pub duration_ms: u64,
    pub task_id: usize,
}

/// The Execute step's run.
#[derive(Debug, Clone)]
pub struct Exec {
    pub phase: Phase,
    pub hosts: Vec<String>,
    pub lanes: HashMap<String, Lane>,
    pub tasks: VecDeque<TaskRow>,
    pub handler_ids: Vec<usize>,
    pub selected_host: usize,
    /// Lines scrolled up from the end of the output pane (0 = follow).
    pub output_scroll: u16,
    pub elapsed: Duration,
    pub cancel_requested: bool,
    /// The second `c`: running commands are being killed.
    pub kill_requested: bool,
    /// `/` in the output pane: only lines containing this (case-insensitive) are shown.
    pub filter: Input,
    pub filtering: bool,
    pub summary: Option<RunSummary>,
    pub journal: Option<PathBuf>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    /// The schema migrations applied after a successful run of a deploying playbook.
    pub migrations: Migrations,
    /// The run did not start: roles exist whose password is not stored (which, where).
    pub roles_exist: Option<String>,
}

impl Default for Exec {
    fn default() -> Self {
        Self {
            phase: Phase::Idle,
            hosts: Vec::new(),
            lanes: HashMap::new(),
            tasks: VecDeque::new(),
            handler_ids: Vec::new(),
            selected_host: 0,
            output_scroll: 0,
            elapsed: Duration::ZERO,
            cancel_requested: false,
            kill_requested: false,
            filter: Input::default(),
            filtering: false,
            summary: None,
            journal: None,
            error: None,
            warnings: Vec::new(),
            migrations: Migrations::default(),
            roles_exist: None,
        }
    }
}

impl Exec {
    pub fn totals(&self) -> Counts {
        let mut c = Counts::default();
        for l in self.lanes.values() {
            c.ok += l.counts.ok;
            c.changed += l.counts.changed;
            c.failed += l.counts.failed;
            c.skipped += l.counts.skipped;
            c.unreachable += l.counts.unreachable;
        }
        c
    }
}

/// The Health step: the live dashboard fed by a background sampler while the step is shown.
#[derive(Debug, Clone)]
pub struct HealthView {
    /// Running while the sampler is on.
    pub phase: Phase,
    pub snapshot: Option<Box<crate::health::dashboard::Snapshot>>,
    /// Why the probes could not start.
    pub error: Option<String>,
    pub selected: usize,
    pub detail: bool,
    pub interval: Duration,
    pub retention: Duration,
    /// Opened as `health --watch`: Esc leaves instead of walking into an empty wizard.
    pub standalone: bool,
    /// `m`: the database and its pending migrations, waiting for a confirmation.
    pub migrate_prompt: Option<(String, Vec<String>)>,
    /// A migration started with `m` is going.
    pub migrating: bool,
}

impl HealthView {
    pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
    pub const MAX_INTERVAL: Duration = Duration::from_secs(300);
}

impl Default for HealthView {
    fn default() -> Self {
        Self {
            phase: Phase::Idle,
            snapshot: None,
            error: None,
            selected: 0,
            detail: false,
            interval: Duration::from_secs(5),
            retention: Duration::from_secs(600),
            standalone: false,
            migrate_prompt: None,
            migrating: false,
        }
    }
}

/// A modal question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialog {
    /// Start the real run?
    ConfirmRun,
    /// Start the real run although the dry run failed? (a different key than a plain confirm)
    ConfirmRunAnyway,
    /// Cancel the running playbook?
    ConfirmCancel,
    /// Quit while a run is going?
    ConfirmQuit,
    /// Run again on the hosts that failed?
    ConfirmRetry,
    /// Kill the commands still running after a cancel?
    ConfirmKill,
    /// Write the inventory's pending edits to its file (a backup is kept)?
    ConfirmSave,
    /// Remove the selected host from the inventory?
    ConfirmRemoveHost,
    /// Trust the host key shown (`HostsView::trust_prompt`) and record it in known_hosts?
    TrustHostKey,
    /// Apply the pending migrations listed (`HealthView::migrate_prompt`)?
    ConfirmMigrate,
    /// Set new passwords on roles that exist already (`Exec::roles_exist` says which)?
    ConfirmReplacePasswords,
    /// Rotate the deployment's generated passwords?
    ConfirmRotate,
}

/// The wizard's whole state.
#[derive(Debug, Clone)]
pub struct State {
    pub step: Step,
    pub playbooks: Vec<PlaybookEntry>,
    pub playbook_dir: PathBuf,
    /// Every directory the playbooks were found in (`playbook_dir` first).
    pub playbook_dirs: Vec<PathBuf>,
    /// Index into `playbooks` of the highlighted entry (of the filtered list).
    pub selected: usize,
    pub filter: Input,
    pub filtering: bool,
    /// The chosen playbook (index into `playbooks`).
    pub chosen: Option<usize>,
    pub form: Form,
    pub hosts: HostsView,
    pub review: Review,
    pub exec: Exec,
    pub health: HealthView,
    /// Hosts the next dry run and run are limited to (a repair from Health), or all.
    pub limit: Option<String>,
    /// The engine choice (`e` on Review cycles it).
    pub engine: crate::config::Engine,
    /// Where the last session left off (answers are applied to its playbook's form).
    pub session: Session,
    pub dialog: Option<Dialog>,
    pub help: bool,
    /// A one-line message for the status bar.
    pub message: Option<String>,
    pub quit: bool,
    /// Something changed since the last frame.
    pub dirty: bool,
}

impl State {
    pub fn new(
        playbook_dir: PathBuf,
        playbooks: Vec<PlaybookEntry>,
        hosts: HostsView,
        preselect: Option<&Path>,
    ) -> Self {
        let mut s = Self {
            step: Step::Playbook,
            playbooks,
            playbook_dirs: vec![playbook_dir.clone()],
            playbook_dir,
            selected: 0,
            filter: Input::default(),
            filtering: false,
            chosen: None,
            form: Form::default(),
            hosts,
            review: Review::default(),
            exec: Exec::default(),
            health: HealthView::default(),
            limit: None,
            engine: crate::config::Engine::default(),
            session: Session::default(),
            dialog: None,
            help: false,
            message: None,
            quit: false,
            dirty: true,
        };
        if let Some(p) = preselect {
            s.preselect(p);
        }
        s
    }

    /// Selects `-p`'s playbook: one of the list, else the file itself, added to the top.
    fn preselect(&mut self, p: &Path) {
        let canonical = |q: &Path| q.canonicalize().ok();
        let wanted = canonical(p);
        let found = self
            .playbooks
            .iter()
            .position(|e| e.path == p || (wanted.is_some() && canonical(&e.path) == wanted))
            // A bare name (not a file here) picks the listed playbook of that name.
            .or_else(|| {
                let name = p.file_name().filter(|_| !p.is_file())?;
                self.playbooks
                    .iter()
                    .position(|e| e.path.file_name() == Some(name))
            });
        if let Some(i) = found {
            self.selected = i;
        } else if p.is_file() {
            self.playbooks.insert(0, PlaybookEntry::load(p));
            self.selected = 0;
        } else {
            self.message = Some(format!("-p {}: no such playbook file", p.display()));
        }
    }

    /// Starts from an earlier session: its playbook is selected (unless `-p` chose one).
    pub fn resume(&mut self, session: Session, preselected: bool) {
        if !preselected
            && let Some(p) = &session.playbook
            && let Some(i) = self.playbooks.iter().position(|e| &e.path == p)
        {
            self.selected = i;
        }
        self.session = session;
    }

    /// What to remember for the next session.
    pub fn to_session(&self) -> Session {
        Session {
            playbook: self.chosen_playbook().map(|p| p.path.clone()),
            inventory: Some(self.hosts.path.clone()),
            answers: self.form.saved_answers(),
            last_run: self.session.last_run.clone(),
        }
    }

    /// Indices into `playbooks` that match the filter.
    pub fn visible_playbooks(&self) -> Vec<usize> {
        let f = self.filter.value().to_lowercase();
        self.playbooks
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                f.is_empty()
                    || p.title.to_lowercase().contains(&f)
                    || p.description.to_lowercase().contains(&f)
                    || p.path.to_string_lossy().to_lowercase().contains(&f)
            })
            .map(|(i, _)| i)
            .collect()
    }

    pub fn chosen_playbook(&self) -> Option<&PlaybookEntry> {
        self.chosen.and_then(|i| self.playbooks.get(i))
    }

    /// Hosts of the last real run that failed or were unreachable.
    pub fn failed_hosts(&self) -> Vec<String> {
        self.exec
            .summary
            .iter()
            .flat_map(|s| s.hosts.iter())
            .filter(|(_, c)| c.failed + c.unreachable > 0)
            .map(|(h, _)| h.clone())
            .collect()
    }

    pub fn run_active(&self) -> bool {
        self.exec.phase == Phase::Running
    }

    /// The engine request for the chosen playbook with the form's answers.
    pub fn request(&self, check: bool) -> Option<RunRequest> {
        let pb = self.chosen_playbook()?;
        Some(RunRequest {
            playbook: pb.path.clone(),
            inventory: Some(self.hosts.path.clone()),
            extra_values: self.form.values(),
            check,
            diff: true,
            limit: self.limit.clone(),
            engine: self.engine,
            ..Default::default()
        })
    }
}
