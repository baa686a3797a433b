//! Step 5, Execute: the real run (host lanes, task table, live output), then the schema
//! migrations of a deploying playbook.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::KeyEvent;
use tui_input::Input;

use super::health::{deployment_ref, enter_health};
use super::{bump, filter_key};
use crate::app::action::RunKind;
use crate::app::effects::{Effect, SecretsAction};
use crate::app::host_nav;
use crate::app::keymap::Intent;
use crate::app::state::{Dialog, Phase, State, Step};
use crate::engine::events::Counts;
use crate::engine::{RunEvent, RunSummary, Status};

/// Lines of live output kept per host (the journal has everything).
pub const OUTPUT_LINES_PER_HOST: usize = 1000;
/// Rows of the task table kept.
pub const TASK_ROWS: usize = 5000;

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

pub(crate) fn start_real_run(state: &mut State, limit: Option<String>) -> Vec<Effect> {
    start_real_run_with(state, limit, None)
}

pub(crate) fn start_real_run_with(
    state: &mut State,
    limit: Option<String>,
    secrets: Option<SecretsAction>,
) -> Vec<Effect> {
    let Some(mut req) = state.request(false) else {
        return Vec::new();
    };
    req.limit = limit;
    state.session = state.to_session();
    state.step = Step::Execute;
    state.exec = Exec {
        phase: Phase::Running,
        ..Default::default()
    };
    let start = match secrets {
        None => Effect::StartRun(RunKind::Real, Box::new(req)),
        Some(action) => Effect::StartRunWithSecrets(Box::new(req), action),
    };
    vec![Effect::SaveSession(state.session.clone()), start]
}

/// After a successful real run of a playbook that deploys the databases: apply their schema
/// migrations, so the run ends healthy rather than with pending migrations.
pub(crate) fn start_migrations_after_run(state: &mut State) -> Vec<Effect> {
    let deploys = state.chosen_playbook().is_some_and(|p| p.deploys_databases);
    let clean = state.exec.summary.as_ref().is_some_and(|s| {
        !s.cancelled
            && s.hosts
                .values()
                .all(|c| c.failed == 0 && c.unreachable == 0)
    });
    if !deploys || !clean {
        return Vec::new();
    }
    state.exec.migrations = Migrations {
        phase: Some(Phase::Running),
        ..Default::default()
    };
    vec![Effect::ApplyMigrations {
        from_health: false,
        deployment: deployment_ref(state),
        databases: Vec::new(),
        journal: state.exec.journal.clone(),
    }]
}

/// One database's migrations in words.
pub fn migration_text(db: &str, m: &MigrationState) -> String {
    match m {
        MigrationState::Running => format!("{db}: applying…"),
        MigrationState::Applied(names) => format!("{db}: applied {}", names.join(", ")),
        MigrationState::AlreadyApplied(0) => format!("{db}: no migrations"),
        MigrationState::AlreadyApplied(n) => format!("{db}: up to date ({n} applied before)"),
        MigrationState::Failed(why) => format!("{db}: failed — {why}"),
    }
}

/// Longest line the output pane keeps (the rest is cut, so the pane's memory stays bounded).
const MAX_PANE_LINE: usize = 2000;

fn push_output(lane: &mut Lane, text: &str) {
    for line in text.lines() {
        if lane.output.len() >= OUTPUT_LINES_PER_HOST {
            lane.output.pop_front();
        }
        // Target output drawn raw could drive the terminal (escape sequences): made visible.
        let line = crate::engine::output::sanitize_terminal(line);
        let line = match line.char_indices().nth(MAX_PANE_LINE) {
            Some((at, _)) => format!("{}…", &line[..at]),
            None => line.into_owned(),
        };
        lane.output.push_back(line);
    }
}

pub(crate) fn on_run_event(x: &mut Exec, ev: RunEvent) {
    match ev {
        RunEvent::PlaybookStart { hosts, .. } => {
            for h in hosts {
                x.lanes.entry(h.clone()).or_default();
                host_nav::add(&mut x.hosts, &h);
            }
        }
        RunEvent::PlayStart { hosts, tasks, .. } => {
            for h in hosts {
                x.lanes.entry(h.clone()).or_default().total += tasks;
                host_nav::add(&mut x.hosts, &h);
            }
        }
        RunEvent::TaskStart {
            host,
            task_id,
            task,
            handler,
            ..
        } => {
            if handler && !x.handler_ids.contains(&task_id) {
                x.handler_ids.push(task_id);
            }
            let lane = x.lanes.entry(host.clone()).or_default();
            lane.current = Some(task.clone());
            push_output(lane, &format!("TASK [{task}]"));
            if x.tasks.len() >= TASK_ROWS {
                x.tasks.pop_front();
            }
            x.tasks.push_back(TaskRow {
                task,
                host,
                status: None,
                duration_ms: 0,
                task_id,
            });
        }
        RunEvent::Output { host, data, .. } => {
            push_output(x.lanes.entry(host).or_default(), &data);
        }
        RunEvent::TaskResult(t) => {
            let handler = x.handler_ids.contains(&t.task_id);
            if let Some(row) = x
                .tasks
                .iter_mut()
                .rev()
                .find(|r| r.host == t.host && r.task_id == t.task_id)
            {
                row.status = Some(worst(row.status, t.status));
                row.duration_ms += t.duration_ms;
            }
            let lane = x.lanes.entry(t.host.clone()).or_default();
            bump(&mut lane.counts, t.status);
            // A task is done at its first result, skipped and loop items included.
            if !handler && lane.finished.insert(t.task_id) {
                lane.done = lane.finished.len().min(lane.total);
            }
            lane.current = None;
            let mut line = format!("{}: {}", t.status.label(), t.task);
            if let Some(m) = &t.msg {
                line.push_str(&format!(" — {m}"));
            }
            push_output(lane, &line);
        }
        RunEvent::HostStopped { host, reason } => {
            let lane = x.lanes.entry(host).or_default();
            push_output(lane, &format!("stopped: {reason}"));
            lane.stopped = Some(reason);
        }
        RunEvent::Warning { msg } => x.warnings.push(msg),
        RunEvent::Stats { .. } | RunEvent::Engine { .. } => {}
    }
}

fn worst(a: Option<Status>, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::Skipped => 0,
        Status::Ok => 1,
        Status::Changed => 2,
        Status::Failed => 3,
        Status::Unreachable => 4,
    };
    match a {
        Some(a) if rank(a) > rank(b) => a,
        _ => b,
    }
}

pub(crate) fn execute_key(state: &mut State, key: KeyEvent, intent: Option<Intent>) -> Vec<Effect> {
    let x = &mut state.exec;
    if x.filtering {
        filter_key(&mut x.filter, &mut x.filtering, key, intent);
        x.output_scroll = 0;
        return Vec::new();
    }
    match intent {
        Some(Intent::Filter) => {
            x.filtering = true;
            x.output_scroll = 0;
        }
        Some(Intent::Back) if !x.filter.value().is_empty() => x.filter = Input::default(),
        Some(Intent::CancelRun) if x.phase == Phase::Running => {
            if x.kill_requested {
                state.message = Some("already killing the running commands".into());
            } else if x.cancel_requested {
                state.dialog = Some(Dialog::ConfirmKill);
            } else {
                state.dialog = Some(Dialog::ConfirmCancel);
            }
        }
        Some(Intent::Next) if x.phase != Phase::Running => return enter_health(state),
        Some(Intent::Retry) if x.phase == Phase::Done => {
            if state.failed_hosts().is_empty() {
                state.message = Some("no host failed or was cancelled: nothing to retry".into());
            } else {
                state.dialog = Some(Dialog::ConfirmRetry);
            }
        }
        Some(Intent::Back) if x.phase != Phase::Running => state.step = Step::Review,
        Some(i @ (Intent::PrevHost | Intent::NextHost)) => {
            host_nav::key(i, x.hosts.len(), &mut x.selected_host, &mut x.output_scroll);
        }
        // The pane counts lines up from the end: 0 follows the output.
        Some(Intent::PageUp) => x.output_scroll = x.output_scroll.saturating_add(10),
        Some(Intent::PageDown) => x.output_scroll = x.output_scroll.saturating_sub(10),
        Some(Intent::Follow) => x.output_scroll = 0,
        Some(Intent::Up) => x.output_scroll = x.output_scroll.saturating_add(1),
        Some(Intent::Down) => x.output_scroll = x.output_scroll.saturating_sub(1),
        _ => state.dirty = false,
    }
    Vec::new()
}

/// What the engine a real run went to is, as a warning when it is not the native one.
pub(crate) fn on_engine(state: &mut State, name: String, reason: Option<String>) {
    if name != "native" {
        state.exec.warnings.push(match reason {
            Some(r) => format!("engine: {name} (the native engine refused: {r})"),
            None => format!("engine: {name}"),
        });
    }
}

/// The real run could not start.
pub(crate) fn on_failed(state: &mut State, msg: String) {
    state.exec.phase = Phase::Failed;
    state.exec.error = Some(msg);
}

/// The real run ended: lanes are closed, the last run per host is remembered, and a deploying
/// playbook's databases get their migrations.
pub(crate) fn on_done(
    state: &mut State,
    summary: RunSummary,
    journal: Option<PathBuf>,
) -> Vec<Effect> {
    state.exec.phase = Phase::Done;
    for (host, lane) in state.exec.lanes.iter_mut() {
        lane.current = None;
        // A host that went through every play without failing or stopping is
        // done, whatever was skipped or not listed (tags, false `when` blocks); one that no
        // task result counted for has no recap row (as in ansible-playbook) and failed nothing.
        let clean = summary
            .hosts
            .get(host)
            .is_none_or(|c| c.failed == 0 && c.unreachable == 0);
        if clean && lane.stopped.is_none() && !summary.cancelled {
            lane.done = lane.total;
        }
    }
    for (h, c) in &summary.hosts {
        state
            .session
            .last_run
            .insert(h.clone(), crate::app::state::LastRun::of(c));
    }
    state.exec.summary = Some(summary);
    state.exec.journal = journal;
    if state.dialog == Some(Dialog::ConfirmCancel) {
        state.dialog = None;
    }
    let session = state.to_session();
    state.session = session.clone();
    let mut fx = vec![Effect::SaveSession(session)];
    fx.extend(start_migrations_after_run(state));
    fx
}

/// The real run did not start: roles exist whose password is not stored.
pub(crate) fn on_roles_exist(state: &mut State, msg: String) {
    state.exec.phase = Phase::Failed;
    state.exec.error = Some(msg.clone());
    state.exec.roles_exist = Some(msg);
    state.dialog = Some(Dialog::ConfirmReplacePasswords);
}

/// One database of the migrations phase after a run.
pub(crate) fn on_migration(state: &mut State, db: String, m: MigrationState) {
    let rows = &mut state.exec.migrations.rows;
    match rows.iter_mut().find(|(d, _)| *d == db) {
        Some(row) => row.1 = m,
        None => rows.push((db, m)),
    }
}

/// The migrations phase after a run ended.
pub(crate) fn on_migrations_done(state: &mut State, result: Result<(), String>) {
    let m = &mut state.exec.migrations;
    let failed = m
        .rows
        .iter()
        .any(|(_, s)| matches!(s, MigrationState::Failed(_)));
    m.phase = Some(if result.is_err() || failed {
        Phase::Failed
    } else {
        Phase::Done
    });
    m.error = result.err();
}

/// A confirmed dialog of this step.
pub(crate) fn confirm(state: &mut State, d: Dialog) -> Vec<Effect> {
    match d {
        Dialog::ConfirmRetry => {
            let failed = state.failed_hosts();
            start_real_run(state, Some(failed.join(",")))
        }
        Dialog::ConfirmCancel => {
            state.exec.cancel_requested = true;
            state.message = Some("cancelling: no new tasks will start".into());
            vec![Effect::Cancel(RunKind::Real)]
        }
        Dialog::ConfirmKill => {
            state.exec.kill_requested = true;
            state.message = Some("killing the running commands".into());
            vec![Effect::Kill(RunKind::Real)]
        }
        Dialog::ConfirmReplacePasswords => {
            let limit = state.limit.clone();
            start_real_run_with(state, limit, Some(SecretsAction::ReplaceExisting))
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod pane_tests {
    use super::*;

    #[test]
    fn output_pane_shows_escape_sequences_as_text() {
        let mut lane = Lane::default();
        push_output(&mut lane, "\x1b]0;pwned\x07\x1b[2Jok\r\n\u{9b}31m\n");
        push_output(&mut lane, &"x".repeat(5000));
        assert_eq!(lane.output[0], "\\x1b]0;pwned\\x07\\x1b[2Jok");
        assert_eq!(lane.output[1], "\\x9b31m");
        assert!(lane.output.iter().all(|l| !l.chars().any(char::is_control)));
        assert_eq!(lane.output[2].chars().count(), MAX_PANE_LINE + 1);
    }
}
