//! The wizard's state: everything the screens show, nothing that talks to the world.
//! What all steps share lives here (the step, dialogs, the session); each step's own part
//! lives in its module under `steps/`, re-exported here so callers name state from one place.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use tui_input::Input;

use crate::engine::RunRequest;
use crate::engine::events::Counts;

pub use super::form::{Field, FieldValue, Form};
pub use super::steps::execute::{
    Exec, Lane, MigrationState, Migrations, OUTPUT_LINES_PER_HOST, TASK_ROWS, TaskRow,
};
pub use super::steps::health::HealthView;
pub use super::steps::hosts::{ConnTest, HostEdit, HostRow, HostsView, SavedInventory};
pub use super::steps::playbook::PlaybookEntry;
pub use super::steps::review::{CheckItem, DryRunFailure, Review};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Idle,
    Running,
    Done,
    Failed,
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

    /// Hosts `r` runs again: those of the last real run that failed or were unreachable and,
    /// when it was cancelled, those that had not got through their tasks.
    pub fn failed_hosts(&self) -> Vec<String> {
        let Some(summary) = &self.exec.summary else {
            return Vec::new();
        };
        let mut hosts: Vec<String> = summary
            .hosts
            .iter()
            .filter(|(_, c)| c.failed + c.unreachable > 0)
            .map(|(h, _)| h.clone())
            .collect();
        if summary.cancelled {
            for h in summary.hosts.keys().chain(&self.exec.hosts) {
                let finished = self
                    .exec
                    .lanes
                    .get(h)
                    .is_some_and(|l| l.total > 0 && l.done >= l.total);
                if !finished && !hosts.contains(h) {
                    hosts.push(h.clone());
                }
            }
        }
        hosts
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
