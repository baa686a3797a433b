//! The pure update function: all wizard logic, no terminal, no IO (beyond the CSPRNG of "generate").

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

use super::action::{Action, RunKind};
use super::effects::{Effect, SecretsAction};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::state::{
    CheckItem, ConnTest, Dialog, Exec, FieldValue, Form, HealthView, HostEdit, Lane,
    MigrationState, Migrations, OUTPUT_LINES_PER_HOST, Phase, Review, State, Step, TASK_ROWS,
    TaskRow,
};
use crate::engine::{RunEvent, Status};
use crate::playbook::survey::DEFAULT_GENERATED_LENGTH;

/// Applies one action to the state and returns what must happen outside. `state.dirty` says
/// whether anything changed since the last frame: an action that changes nothing (an idle tick,
/// an unbound key) never clears what earlier actions of the same batch changed.
pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    let before = state.dirty;
    let effects = apply(state, action);
    state.dirty |= before;
    effects
}

fn apply(state: &mut State, action: Action) -> Vec<Effect> {
    state.dirty = true;
    match action {
        Action::Key(key) => on_key(state, key),
        // The wheel moves like the arrow keys, unless a dialog or the help is open.
        Action::Wheel { up } => {
            if state.dialog.is_some() || state.help {
                state.dirty = false;
                return Vec::new();
            }
            let code = if up { KeyCode::Up } else { KeyCode::Down };
            on_key(state, KeyEvent::from(code))
        }
        Action::Resize => Vec::new(),
        Action::Tick(d) => {
            if state.run_active() {
                state.exec.elapsed += d;
            } else {
                state.dirty = false;
            }
            Vec::new()
        }
        Action::Run(kind, ev) => {
            match kind {
                RunKind::Check => on_check_event(&mut state.review, ev),
                RunKind::Real => on_run_event(&mut state.exec, ev),
            }
            Vec::new()
        }
        Action::Engine { kind, name, reason } => {
            match kind {
                RunKind::Check => state.review.engine = Some((name, reason)),
                RunKind::Real if name != "native" => state.exec.warnings.push(match reason {
                    Some(r) => format!("engine: {name} (the native engine refused: {r})"),
                    None => format!("engine: {name}"),
                }),
                RunKind::Real => {}
            }
            Vec::new()
        }
        Action::RunFailed(kind, msg) => {
            match kind {
                RunKind::Check => {
                    state.review.phase = Phase::Failed;
                    state.review.error = Some(msg);
                }
                RunKind::Real => {
                    state.exec.phase = Phase::Failed;
                    state.exec.error = Some(msg);
                }
            }
            Vec::new()
        }
        Action::RunDone {
            kind,
            summary,
            journal,
        } => {
            match kind {
                RunKind::Check => {
                    for (h, c) in &summary.hosts {
                        state.review.counts.insert(h.clone(), c.clone());
                        if !state.review.hosts.contains(h) {
                            state.review.hosts.push(h.clone());
                        }
                    }
                    state.review.phase = Phase::Done;
                }
                RunKind::Real => {
                    state.exec.phase = Phase::Done;
                    for (host, lane) in state.exec.lanes.iter_mut() {
                        lane.current = None;
                        // A host that went through every play without failing or stopping is
                        // done, whatever was skipped or not listed (tags, false `when` blocks).
                        let clean = summary
                            .hosts
                            .get(host)
                            .is_some_and(|c| c.failed == 0 && c.unreachable == 0);
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
                    return fx;
                }
            }
            Vec::new()
        }
        Action::RolesExist(msg) => {
            state.exec.phase = Phase::Failed;
            state.exec.error = Some(msg.clone());
            state.exec.roles_exist = Some(msg);
            state.dialog = Some(Dialog::ConfirmReplacePasswords);
            Vec::new()
        }
        Action::Migration {
            from_health,
            db,
            state: m,
        } => {
            if from_health {
                if let MigrationState::Running = m {
                    state.message = Some(format!("{db}: applying migrations…"));
                } else {
                    state.message = Some(migration_text(&db, &m));
                }
            } else {
                let rows = &mut state.exec.migrations.rows;
                match rows.iter_mut().find(|(d, _)| *d == db) {
                    Some(row) => row.1 = m,
                    None => rows.push((db, m)),
                }
            }
            Vec::new()
        }
        Action::MigrationsDone {
            from_health,
            result,
        } => {
            if from_health {
                state.health.migrating = false;
                if let Err(e) = result {
                    state.message = Some(format!("migrations not applied: {e}"));
                }
            } else {
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
            Vec::new()
        }
        Action::Tested { host, result } => {
            let t = match result {
                Ok(s) => ConnTest::Ok(s),
                Err(e) => ConnTest::Failed(e),
            };
            state.hosts.tests.insert(host, t);
            Vec::new()
        }
        Action::InventorySaved(result) => {
            state.hosts.saving = false;
            match result {
                Ok(saved) => {
                    let tests = std::mem::take(&mut state.hosts.tests);
                    let selected = state.hosts.selected;
                    state.message = Some(match &saved.backup {
                        Some(b) => format!(
                            "saved {} (the previous version: {})",
                            saved.view.path.display(),
                            b.display()
                        ),
                        None => format!("saved {}", saved.view.path.display()),
                    });
                    state.hosts = saved.view;
                    state.hosts.tests = tests;
                    state.hosts.selected = selected;
                }
                Err(e) => state.message = Some(format!("not saved: {e}")),
            }
            Vec::new()
        }
        Action::HostKeyUnknown {
            host,
            fingerprint,
            jump_host,
        } => {
            // One question at a time: another host's prompt waits for its own test.
            if state.dialog.is_some() {
                state.hosts.tests.insert(
                    host,
                    ConnTest::Failed(format!(
                        "host key {fingerprint} is not known yet; test again to trust it"
                    )),
                );
                return Vec::new();
            }
            state.hosts.trust_prompt = Some((host, fingerprint));
            state.hosts.trust_jump = jump_host;
            state.dialog = Some(Dialog::TrustHostKey);
            Vec::new()
        }
        Action::HealthSnapshot(snap) => {
            let rows = snap.rows.len() + snap.hosts.len();
            state.health.selected = state.health.selected.min(rows.saturating_sub(1));
            state.health.snapshot = Some(snap);
            // Samples only matter while the dashboard is visible.
            state.dirty = state.step == Step::Health;
            Vec::new()
        }
        Action::HealthFailed(e) => {
            state.health.phase = Phase::Failed;
            state.health.error = Some(e);
            Vec::new()
        }
        Action::Quit => quit(state),
        Action::Terminate => {
            state.quit = true;
            vec![
                Effect::Cancel(RunKind::Check),
                Effect::Cancel(RunKind::Real),
                Effect::Quit,
            ]
        }
    }
}

fn quit(state: &mut State) -> Vec<Effect> {
    if state.run_active() {
        state.dialog = Some(Dialog::ConfirmQuit);
        Vec::new()
    } else {
        state.quit = true;
        vec![Effect::Quit]
    }
}

fn ctrl(key: &KeyEvent) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL)
}

/// True when printable keys are typed into a text line on this screen.
pub fn typing(state: &State) -> bool {
    if state.step == Step::Hosts {
        return state.hosts.save_as.is_some()
            || state.hosts.edit.as_ref().is_some_and(|e| {
                e.form.fields.get(e.form.focus).is_some_and(|f| {
                    matches!(f.value, FieldValue::Text(_) | FieldValue::List { .. })
                })
            });
    }
    match state.step {
        Step::Playbook => state.filtering,
        Step::Execute => state.exec.filtering,
        Step::Variables => state
            .form
            .fields
            .get(state.form.focus)
            .is_some_and(|f| matches!(f.value, FieldValue::Text(_) | FieldValue::List { .. })),
        _ => false,
    }
}

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if key.kind == crossterm::event::KeyEventKind::Release {
        state.dirty = false;
        return Vec::new();
    }
    if ctrl(&key) && key.code == KeyCode::Char('c') {
        if state.dialog.is_some() {
            state.dialog = None;
            return Vec::new();
        }
        return quit(state);
    }
    if let Some(d) = state.dialog {
        return on_dialog(state, d, key);
    }
    if state.help {
        state.help = false;
        return Vec::new();
    }
    if key.code == KeyCode::F(1) || (key.code == KeyCode::Char('?') && !typing(state)) {
        state.help = true;
        return Vec::new();
    }
    if key.code == KeyCode::Char('q') && !typing(state) && !ctrl(&key) {
        return quit(state);
    }
    state.message = None;
    match state.step {
        Step::Playbook => playbook_key(state, key),
        Step::Variables => variables_key(state, key),
        Step::Hosts => hosts_key(state, key),
        Step::Review => review_key(state, key),
        Step::Execute => execute_key(state, key),
        Step::Health => health_key(state, key),
    }
}

fn on_dialog(state: &mut State, d: Dialog, key: KeyEvent) -> Vec<Effect> {
    // After a failed dry run only the deliberate "run anyway" key confirms, never y or Enter.
    let yes = if d == Dialog::ConfirmRunAnyway {
        matches!(key.code, KeyCode::Char('a') | KeyCode::Char('A'))
    } else {
        matches!(
            key.code,
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter
        )
    };
    let no = matches!(
        key.code,
        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc
    );
    if no {
        state.dialog = None;
        if d == Dialog::ConfirmMigrate {
            state.health.migrate_prompt = None;
        }
        if d == Dialog::TrustHostKey
            && let Some((host, fp)) = state.hosts.trust_prompt.take()
        {
            state.hosts.trust_jump = None;
            state.hosts.tests.insert(
                host,
                ConnTest::Failed(format!("not trusted, not connected (host key {fp})")),
            );
        }
        return Vec::new();
    }
    if !yes {
        if d == Dialog::ConfirmRunAnyway
            && matches!(
                key.code,
                KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter
            )
        {
            state.message = Some("the dry run failed: a runs anyway, n goes back".into());
            return Vec::new();
        }
        state.dirty = false;
        return Vec::new();
    }
    state.dialog = None;
    match d {
        Dialog::ConfirmRun | Dialog::ConfirmRunAnyway => {
            let limit = state.limit.clone();
            start_real_run(state, limit)
        }
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
        Dialog::ConfirmQuit => {
            state.quit = true;
            vec![Effect::Cancel(RunKind::Real), Effect::Quit]
        }
        Dialog::ConfirmSave => {
            let to = state.hosts.path.clone();
            save_inventory(state, to)
        }
        Dialog::ConfirmRemoveHost => {
            let names = state.hosts.host_names();
            if let Some(host) = names.get(state.hosts.selected).cloned() {
                state
                    .hosts
                    .edit(crate::inventory::edit::Edit::Remove { host: host.clone() });
                state.message = Some(format!("{host} removed (not saved yet: s saves)"));
            }
            Vec::new()
        }
        Dialog::ConfirmReplacePasswords => {
            let limit = state.limit.clone();
            start_real_run_with(state, limit, Some(SecretsAction::ReplaceExisting))
        }
        Dialog::ConfirmRotate => {
            let limit = state.limit.clone();
            start_real_run_with(state, limit, Some(SecretsAction::Rotate))
        }
        Dialog::ConfirmMigrate => {
            let Some((db, _)) = state.health.migrate_prompt.take() else {
                return Vec::new();
            };
            state.health.migrating = true;
            state.message = Some(format!("{db}: applying migrations…"));
            vec![Effect::ApplyMigrations {
                from_health: true,
                deployment: deployment_ref(state),
                databases: vec![db],
                journal: None,
            }]
        }
        Dialog::TrustHostKey => {
            let Some((host, fingerprint)) = state.hosts.trust_prompt.take() else {
                return Vec::new();
            };
            let vars = state.hosts.vars_of(&host);
            state.hosts.tests.insert(host.clone(), ConnTest::Running);
            vec![Effect::TestConnection {
                host,
                vars,
                trust_new_key: true,
                approved: Some(crate::app::effects::ApprovedKey {
                    fingerprint,
                    jump_host: state.hosts.trust_jump.take(),
                }),
            }]
        }
    }
}

fn is_up(key: &KeyEvent) -> bool {
    matches!(key.code, KeyCode::Up | KeyCode::Char('k'))
}

fn is_down(key: &KeyEvent) -> bool {
    matches!(key.code, KeyCode::Down | KeyCode::Char('j'))
}

// ---- Playbook ----

fn playbook_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if state.filtering {
        filter_key(&mut state.filter, &mut state.filtering, key);
        clamp_selection(state);
        return Vec::new();
    }
    let visible = state.visible_playbooks();
    let pos = visible.iter().position(|i| *i == state.selected);
    match key.code {
        KeyCode::Char('/') => state.filtering = true,
        _ if is_up(&key) || key.code == KeyCode::BackTab => {
            if let Some(p) = pos
                && p > 0
            {
                state.selected = visible[p - 1];
            }
        }
        _ if is_down(&key) => match pos {
            Some(p) if p + 1 < visible.len() => state.selected = visible[p + 1],
            None if !visible.is_empty() => state.selected = visible[0],
            _ => {}
        },
        KeyCode::Enter | KeyCode::Tab | KeyCode::Right => return choose_playbook(state),
        KeyCode::Esc if !state.filter.value().is_empty() => state.filter = Input::default(),
        _ => state.dirty = false,
    }
    Vec::new()
}

/// Typing a `/` filter: Enter keeps it, Esc clears it, other keys edit it.
fn filter_key(filter: &mut Input, typing: &mut bool, key: KeyEvent) {
    match key.code {
        KeyCode::Enter => *typing = false,
        KeyCode::Esc => {
            *typing = false;
            *filter = Input::default();
        }
        _ => {
            if let Some(req) = to_input_request(&Event::Key(key)) {
                filter.handle(req);
            }
        }
    }
}

fn clamp_selection(state: &mut State) {
    let visible = state.visible_playbooks();
    if !visible.contains(&state.selected)
        && let Some(first) = visible.first()
    {
        state.selected = *first;
    }
}

fn choose_playbook(state: &mut State) -> Vec<Effect> {
    let visible = state.visible_playbooks();
    if !visible.contains(&state.selected) {
        state.message = Some("no playbook selected".into());
        return Vec::new();
    }
    let Some(entry) = state.playbooks.get(state.selected) else {
        return Vec::new();
    };
    if let Some(e) = &entry.error {
        state.message = Some(format!("cannot use this playbook: {e}"));
        return Vec::new();
    }
    if state.form.playbook.as_deref() != Some(entry.path.as_path()) {
        let empty = serde_json::Map::new();
        let answers = if state.session.playbook.as_deref() == Some(entry.path.as_path()) {
            &state.session.answers
        } else {
            &empty
        };
        state.form = Form::from_survey(entry.survey.as_ref(), &entry.path, answers);
    }
    state.chosen = Some(state.selected);
    state.step = Step::Variables;
    Vec::new()
}

// ---- Variables ----

fn variables_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if key.code == KeyCode::Esc {
        state.step = Step::Playbook;
        return Vec::new();
    }
    if form_key(&mut state.form, key, &mut state.message) == FormKey::Submit {
        return variables_next(state);
    }
    Vec::new()
}

/// What a key did to a form.
#[derive(Debug, PartialEq, Eq)]
enum FormKey {
    Stay,
    /// Ctrl-S, or Enter past the last field: the form is done (if valid).
    Submit,
}

/// Keys of a survey form (the Variables step and the host form): moving between fields, editing
/// the focused one, validating it as it changes.
fn form_key(form: &mut Form, key: KeyEvent, message: &mut Option<String>) -> FormKey {
    let n = form.fields.len();
    match key.code {
        KeyCode::Char('s') if ctrl(&key) => return FormKey::Submit,
        KeyCode::Tab | KeyCode::Down => {
            if form.focus + 1 < n {
                form.focus += 1;
            }
            return FormKey::Stay;
        }
        KeyCode::BackTab | KeyCode::Up => {
            form.focus = form.focus.saturating_sub(1);
            return FormKey::Stay;
        }
        _ => {}
    }
    if n == 0 {
        return if key.code == KeyCode::Enter {
            FormKey::Submit
        } else {
            FormKey::Stay
        };
    }
    let last = form.focus + 1 >= n;
    let Some(field) = form.fields.get_mut(form.focus) else {
        return FormKey::Stay;
    };
    let mut advance = false;
    match &mut field.value {
        FieldValue::Text(input) => match key.code {
            KeyCode::Enter => advance = true,
            KeyCode::Char('r') if ctrl(&key) && field.question.secret => {
                field.revealed = !field.revealed;
            }
            KeyCode::Char('g') if ctrl(&key) => {
                if field.question.secret || field.question.generate.is_some() {
                    let len = field
                        .question
                        .generate
                        .map(|g| g.length)
                        .unwrap_or(DEFAULT_GENERATED_LENGTH);
                    let s = crate::secrets::generate_password(len);
                    *input = Input::new(s.expose().to_string());
                    *message = Some(format!("generated a {len}-character password"));
                } else {
                    *message = Some("only secrets can be generated".into());
                }
            }
            _ => {
                if let Some(req) = to_input_request(&Event::Key(key)) {
                    input.handle(req);
                }
            }
        },
        FieldValue::Bool(b) => match key.code {
            KeyCode::Char(' ')
            | KeyCode::Left
            | KeyCode::Right
            | KeyCode::Char('h')
            | KeyCode::Char('l') => *b = !*b,
            KeyCode::Char('y') | KeyCode::Char('t') => *b = true,
            KeyCode::Char('n') | KeyCode::Char('f') => *b = false,
            KeyCode::Enter => advance = true,
            _ => {}
        },
        FieldValue::Choice(c) => {
            let len = field.question.choices.len();
            match key.code {
                KeyCode::Char(' ') | KeyCode::Right | KeyCode::Char('l') if len > 0 => {
                    *c = Some(c.map(|i| (i + 1) % len).unwrap_or(0));
                }
                KeyCode::Left | KeyCode::Char('h') if len > 0 => {
                    *c = Some(c.map(|i| (i + len - 1) % len).unwrap_or(len - 1));
                }
                KeyCode::Enter => advance = true,
                _ => {}
            }
        }
        FieldValue::List {
            items,
            selected,
            input,
        } => match key.code {
            KeyCode::Enter if input.value().trim().is_empty() => advance = true,
            KeyCode::Enter => {
                let v = input.value().trim().to_string();
                items.push(v);
                *selected = items.len() - 1;
                *input = Input::default();
            }
            KeyCode::Char('d') if ctrl(&key) => {
                if *selected < items.len() {
                    items.remove(*selected);
                    *selected = (*selected).min(items.len().saturating_sub(1));
                }
            }
            KeyCode::Char('e') if ctrl(&key) => {
                if *selected < items.len() {
                    let v = items.remove(*selected);
                    *input = Input::new(v);
                    *selected = (*selected).min(items.len().saturating_sub(1));
                }
            }
            KeyCode::PageUp => *selected = selected.saturating_sub(1),
            KeyCode::PageDown => {
                if *selected + 1 < items.len() {
                    *selected += 1;
                }
            }
            _ => {
                if let Some(req) = to_input_request(&Event::Key(key)) {
                    input.handle(req);
                }
            }
        },
    }
    field.revalidate();
    if advance {
        if last {
            return FormKey::Submit;
        }
        form.focus += 1;
    }
    FormKey::Stay
}

/// Whether every field is valid; else the first invalid one gets the focus and its message.
fn form_valid(form: &mut Form, message: &mut Option<String>) -> bool {
    for f in &mut form.fields {
        f.revalidate();
    }
    let Some(i) = form.first_invalid() else {
        return true;
    };
    form.focus = i;
    let f = &form.fields[i];
    *message = Some(format!(
        "{}: {}",
        f.question.name,
        f.error.clone().unwrap_or_default()
    ));
    false
}

/// "Next" on the Variables step: refused with the first invalid field focused.
pub fn variables_next(state: &mut State) -> Vec<Effect> {
    if form_valid(&mut state.form, &mut state.message) {
        state.step = Step::Hosts;
    }
    Vec::new()
}

// ---- Hosts ----

fn hosts_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if state.hosts.edit.is_some() {
        return host_form_key(state, key);
    }
    if state.hosts.save_as.is_some() {
        return save_as_key(state, key);
    }
    let names = state.hosts.host_names();
    let h = &mut state.hosts;
    match key.code {
        KeyCode::Esc | KeyCode::BackTab => state.step = Step::Variables,
        KeyCode::Enter | KeyCode::Tab => {
            if !h.pending.is_empty() {
                state.message = Some(
                    "the inventory has unsaved changes: s saves them (w: save as a new file)"
                        .into(),
                );
                return Vec::new();
            }
            // From the Hosts step the run covers the whole inventory (a repair's limit ends here).
            state.limit = None;
            return enter_review(state);
        }
        KeyCode::Char('a') if h.error.is_none() => open_host_form(state, None),
        KeyCode::Char('e') => match names.get(h.selected) {
            Some(n) => open_host_form(state, Some(n.clone())),
            None => state.message = Some("no host selected".into()),
        },
        KeyCode::Char('d') if names.get(h.selected).is_some() => {
            state.dialog = Some(Dialog::ConfirmRemoveHost);
        }
        KeyCode::Char('m') => {
            let Some(host) = names.get(h.selected).cloned() else {
                return Vec::new();
            };
            let choices = h.group_choices();
            let current = h.group_of(&host).unwrap_or_default();
            let next = choices
                .iter()
                .position(|g| *g == current)
                .map_or(0, |i| (i + 1) % choices.len());
            let to = choices[next].clone();
            h.edit(crate::inventory::edit::Edit::Move {
                host: host.clone(),
                to: to.clone(),
            });
            h.selected = h.host_names().iter().position(|n| *n == host).unwrap_or(0);
            state.message = Some(format!("{host} moved to {to} (not saved yet)"));
        }
        KeyCode::Char('s') if !h.pending.is_empty() => state.dialog = Some(Dialog::ConfirmSave),
        KeyCode::Char('s') => state.message = Some("nothing to save".into()),
        KeyCode::Char('w') if h.error.is_none() => {
            h.save_as = Some(Input::new(format!("{}.new.yml", h.path.display())));
        }
        KeyCode::Char('t') => {
            return names
                .get(h.selected)
                .map(|n| test_connection(state, n.clone()))
                .into_iter()
                .flatten()
                .collect();
        }
        KeyCode::Char('T') => {
            return names
                .into_iter()
                .flat_map(|n| test_connection(state, n))
                .collect();
        }
        KeyCode::PageUp => h.scroll = h.scroll.saturating_sub(10),
        KeyCode::PageDown => h.scroll = h.scroll.saturating_add(10),
        _ if is_up(&key) => h.selected = h.selected.saturating_sub(1),
        _ if is_down(&key) => {
            if h.selected + 1 < names.len() {
                h.selected += 1;
            }
        }
        _ => state.dirty = false,
    }
    Vec::new()
}

fn test_connection(state: &mut State, host: String) -> Vec<Effect> {
    if state.hosts.tests.get(&host) == Some(&ConnTest::Running) {
        return Vec::new();
    }
    state.hosts.tests.insert(host.clone(), ConnTest::Running);
    let vars = state.hosts.vars_of(&host);
    vec![Effect::TestConnection {
        host,
        vars,
        trust_new_key: false,
        approved: None,
    }]
}

/// The fields of the host form, as a survey (the form machinery of the Variables step).
const HOST_FORM: &str = r#"
name: Host
spec:
  - question_name: Name
    question_description: The inventory name of the host (what --limit and the journal use).
    variable: name
    type: text
    required: true
    pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$'
  - question_name: Group
    question_description: Which of the playbook's groups the host belongs to (←/→ to change).
    variable: group
    type: multiplechoice
    choices: [slm_server, redis_vm]
    required: true
  - question_name: Address
    question_description: Host name or IP address to connect to (ansible_host; empty = the name).
    variable: ansible_host
    type: text
    format: hostname
  - question_name: SSH port
    question_description: ansible_port.
    variable: ansible_port
    type: integer
    format: port
    default: 22
  - question_name: User
    question_description: The SSH login user (ansible_user; empty = inherited or yours).
    variable: ansible_user
    type: text
  - question_name: Key file
    question_description: Private key to log in with (ansible_ssh_private_key_file).
    variable: ansible_ssh_private_key_file
    type: text
  - question_name: Become (sudo)
    question_description: Run the tasks as root through sudo (ansible_become).
    variable: ansible_become
    type: boolean
    default: false
"#;

/// Opens the host form: empty for a new host, or filled with `host`'s settings.
fn open_host_form(state: &mut State, host: Option<String>) {
    let path = Path::new("host-form.survey.yml");
    let mut survey = match crate::playbook::survey::parse(HOST_FORM, path) {
        Ok(s) => s,
        Err(e) => {
            state.message = Some(format!("host form: {e}"));
            return;
        }
    };
    let h = &state.hosts;
    let choices = h.group_choices();
    if let Some(q) = survey.questions.iter_mut().find(|q| q.variable == "group") {
        q.choices = choices.clone();
    }
    let mut answers = serde_json::Map::new();
    let original = host.as_ref().map(|name| {
        let group = h.group_of(name).unwrap_or_else(|| choices[0].clone());
        (name.clone(), group)
    });
    answers.insert(
        "group".into(),
        original
            .as_ref()
            .map_or_else(|| choices[0].clone(), |(_, g)| g.clone())
            .into(),
    );
    if let Some((name, _)) = &original
        && let Some(r) = h
            .groups
            .iter()
            .flat_map(|(_, hs)| hs.iter())
            .find(|r| &r.name == name)
    {
        answers.insert("name".into(), name.clone().into());
        for k in [
            "ansible_host",
            "ansible_user",
            "ansible_ssh_private_key_file",
        ] {
            answers.insert(k.into(), r.var(k).into());
        }
        if let Ok(p) = r.var("ansible_port").parse::<u64>() {
            answers.insert("ansible_port".into(), p.into());
        }
        let become_ = matches!(r.var("ansible_become").as_str(), "true" | "True" | "yes");
        answers.insert("ansible_become".into(), become_.into());
    }
    let form = Form::from_survey(Some(&survey), path, &answers);
    let initial = form.values();
    state.hosts.edit = Some(HostEdit {
        form,
        original,
        initial,
    });
}

fn host_form_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(edit) = state.hosts.edit.as_mut() else {
        return Vec::new();
    };
    if key.code == KeyCode::Esc {
        state.hosts.edit = None;
        state.message = Some("host not changed".into());
        return Vec::new();
    }
    if form_key(&mut edit.form, key, &mut state.message) == FormKey::Submit {
        submit_host_form(state);
    }
    Vec::new()
}

/// Turns the host form into inventory edits (only what changed), refused while invalid.
fn submit_host_form(state: &mut State) {
    use crate::inventory::edit::Edit;
    let names = state.hosts.host_names();
    let Some(edit) = state.hosts.edit.as_mut() else {
        return;
    };
    if !form_valid(&mut edit.form, &mut state.message) {
        return;
    }
    let v = edit.form.values();
    let text = |k: &str| match v.get(k) {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let name = text("name");
    let group = text("group");
    let exists = |n: &str| names.iter().any(|h| h == n);
    let renamed_from = edit.original.as_ref().map(|(n, _)| n.clone());
    if renamed_from.as_deref() != Some(name.as_str()) && exists(&name) {
        state.message = Some(format!("a host named {name} exists already"));
        return;
    }
    let mut vars = Vec::new();
    for k in [
        "ansible_host",
        "ansible_port",
        "ansible_user",
        "ansible_ssh_private_key_file",
        "ansible_become",
    ] {
        let now = text(k);
        let before = edit.initial.get(k).cloned().unwrap_or(Value::Null);
        let changed = v.get(k).cloned().unwrap_or(Value::Null) != before;
        let default = matches!(
            (k, now.as_str()),
            ("ansible_port", "22") | ("ansible_become", "false")
        );
        if edit.original.is_none() {
            // A new host: what was typed, leaving the defaults out.
            if !now.is_empty() && !default {
                vars.push((k.to_string(), Some(now)));
            }
        } else if changed {
            vars.push((k.to_string(), (!now.is_empty() && !default).then_some(now)));
        }
    }
    let original = edit.original.clone();
    state.hosts.edit = None;
    let h = &mut state.hosts;
    if let Some((old, old_group)) = &original {
        if *old != name {
            h.edit(Edit::Rename {
                from: old.clone(),
                to: name.clone(),
            });
        }
        if *old_group != group {
            h.edit(Edit::Move {
                host: name.clone(),
                to: group.clone(),
            });
        }
    }
    h.edit(Edit::Upsert {
        group,
        host: name.clone(),
        vars,
    });
    h.selected = h.host_names().iter().position(|n| *n == name).unwrap_or(0);
    state.message = Some(format!(
        "{name} {} (not saved yet: s saves)",
        if original.is_some() {
            "changed"
        } else {
            "added"
        }
    ));
}

fn save_as_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(input) = state.hosts.save_as.as_mut() else {
        return Vec::new();
    };
    match key.code {
        KeyCode::Esc => state.hosts.save_as = None,
        KeyCode::Enter => {
            let path = PathBuf::from(input.value().trim());
            if path.as_os_str().is_empty() {
                state.message = Some("type the path of the new inventory file".into());
                return Vec::new();
            }
            state.hosts.save_as = None;
            return save_inventory(state, path);
        }
        _ => {
            if let Some(req) = to_input_request(&Event::Key(key)) {
                input.handle(req);
            }
        }
    }
    Vec::new()
}

/// Writes the pending edits: to the inventory itself (after its confirmation, with a backup)
/// or to a new file.
fn save_inventory(state: &mut State, to: PathBuf) -> Vec<Effect> {
    state.hosts.saving = true;
    state.message = Some(format!("saving {}…", to.display()));
    vec![Effect::SaveInventory {
        source: state.hosts.path.clone(),
        to,
        edits: state.hosts.pending.clone(),
    }]
}

/// Goes to Review and starts the check-mode dry run.
pub fn enter_review(state: &mut State) -> Vec<Effect> {
    if state.hosts.error.is_some() {
        state.message = Some("the inventory could not be read; fix it first".into());
        return Vec::new();
    }
    let Some(req) = state.request(true) else {
        state.message = Some("choose a playbook first".into());
        return Vec::new();
    };
    state.step = Step::Review;
    state.review = Review {
        phase: Phase::Running,
        ..Default::default()
    };
    vec![Effect::StartRun(RunKind::Check, Box::new(req))]
}

// ---- Review ----

fn review_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let r = &mut state.review;
    match key.code {
        KeyCode::Esc | KeyCode::BackTab => {
            let mut fx = Vec::new();
            if r.phase == Phase::Running {
                fx.push(Effect::Cancel(RunKind::Check));
            }
            if state.limit.is_some() {
                // A repair came from Health: back there, with the whole deployment again.
                state.limit = None;
                fx.extend(enter_health(state));
            } else {
                state.step = Step::Hosts;
            }
            return fx;
        }
        KeyCode::Enter => {
            if r.phase == Phase::Running {
                state.message = Some("the dry run is still going; wait for it".into());
            } else if r.failures().is_empty() {
                state.dialog = Some(Dialog::ConfirmRun);
            } else {
                state.dialog = Some(Dialog::ConfirmRunAnyway);
            }
        }
        KeyCode::Char('r') if r.phase != Phase::Running => return enter_review(state),
        KeyCode::Char('e') => {
            // Another engine: the dry run starts again with it.
            let mut fx = Vec::new();
            if r.phase == Phase::Running {
                fx.push(Effect::Cancel(RunKind::Check));
            }
            state.engine = state.engine.next();
            state.message = Some(format!("engine: {}", state.engine.name()));
            fx.extend(enter_review(state));
            return fx;
        }
        KeyCode::Char('R') if r.phase != Phase::Running => {
            // New passwords go to every host of the deployment (they are stored for all of
            // them), and only after a clean dry run.
            if state.limit.is_some() {
                state.message = Some(
                    "rotation runs on the whole deployment: leave the repair (Esc) first".into(),
                );
            } else if !r.failures().is_empty() {
                state.message = Some(
                    "the dry run failed: rotate after a clean dry run (r checks again)".into(),
                );
            } else {
                state.dialog = Some(Dialog::ConfirmRotate);
            }
        }
        KeyCode::Left | KeyCode::Char('h') => {
            r.selected_host = r.selected_host.saturating_sub(1);
            r.scroll = 0;
        }
        KeyCode::Right | KeyCode::Char('l') | KeyCode::Tab => {
            if r.selected_host + 1 < r.hosts.len() {
                r.selected_host += 1;
                r.scroll = 0;
            }
        }
        KeyCode::PageUp => r.scroll = r.scroll.saturating_sub(10),
        KeyCode::PageDown => r.scroll = r.scroll.saturating_add(10),
        _ if is_up(&key) => r.scroll = r.scroll.saturating_sub(1),
        _ if is_down(&key) => r.scroll = r.scroll.saturating_add(1),
        _ => state.dirty = false,
    }
    Vec::new()
}

fn start_real_run(state: &mut State, limit: Option<String>) -> Vec<Effect> {
    start_real_run_with(state, limit, None)
}

fn start_real_run_with(
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

fn diff_lines(d: &crate::engine::modules::Diff) -> Vec<String> {
    crate::engine::diff::unified(&d.before, &d.after, &d.before_header, &d.after_header)
        .lines()
        .map(str::to_string)
        .collect()
}

fn on_check_event(r: &mut Review, ev: RunEvent) {
    match ev {
        RunEvent::PlaybookStart { hosts, .. } => {
            for h in hosts {
                if !r.hosts.contains(&h) {
                    r.hosts.push(h);
                }
            }
        }
        RunEvent::TaskResult(t) => {
            let c = r.counts.entry(t.host.clone()).or_default();
            bump(c, t.status);
            if !r.hosts.contains(&t.host) {
                r.hosts.push(t.host.clone());
            }
            if matches!(
                t.status,
                Status::Changed | Status::Failed | Status::Unreachable
            ) {
                r.per_host
                    .entry(t.host.clone())
                    .or_default()
                    .push(CheckItem {
                        task: t.task.clone(),
                        status: t.status,
                        msg: t.msg.clone(),
                        diff: t.diff.iter().flat_map(diff_lines).collect(),
                    });
            }
        }
        RunEvent::HostStopped { host, reason } => {
            r.per_host.entry(host).or_default().push(CheckItem {
                task: "(host stopped)".into(),
                status: Status::Failed,
                msg: Some(reason),
                diff: Vec::new(),
            });
        }
        _ => {}
    }
}

fn bump(c: &mut crate::engine::events::Counts, s: Status) {
    match s {
        Status::Ok => c.ok += 1,
        Status::Changed => {
            // As ansible's recap: `ok` counts changed results too.
            c.ok += 1;
            c.changed += 1;
        }
        Status::Failed => c.failed += 1,
        Status::Skipped => c.skipped += 1,
        Status::Unreachable => c.unreachable += 1,
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

fn on_run_event(x: &mut Exec, ev: RunEvent) {
    match ev {
        RunEvent::PlaybookStart { hosts, .. } => {
            for h in hosts {
                x.lanes.entry(h.clone()).or_default();
                if !x.hosts.contains(&h) {
                    x.hosts.push(h);
                }
            }
        }
        RunEvent::PlayStart { hosts, tasks, .. } => {
            for h in hosts {
                x.lanes.entry(h.clone()).or_default().total += tasks;
                if !x.hosts.contains(&h) {
                    x.hosts.push(h);
                }
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

// ---- Execute ----

fn execute_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let x = &mut state.exec;
    if x.filtering {
        filter_key(&mut x.filter, &mut x.filtering, key);
        x.output_scroll = 0;
        return Vec::new();
    }
    match key.code {
        KeyCode::Char('/') => {
            x.filtering = true;
            x.output_scroll = 0;
        }
        KeyCode::Esc if !x.filter.value().is_empty() => x.filter = Input::default(),
        KeyCode::Char('c') if x.phase == Phase::Running => {
            if x.kill_requested {
                state.message = Some("already killing the running commands".into());
            } else if x.cancel_requested {
                state.dialog = Some(Dialog::ConfirmKill);
            } else {
                state.dialog = Some(Dialog::ConfirmCancel);
            }
        }
        KeyCode::Enter if x.phase != Phase::Running => return enter_health(state),
        KeyCode::Char('r') if x.phase == Phase::Done => {
            if state.failed_hosts().is_empty() {
                state.message = Some("no host failed: nothing to retry".into());
            } else {
                state.dialog = Some(Dialog::ConfirmRetry);
            }
        }
        KeyCode::Esc if x.phase != Phase::Running => state.step = Step::Review,
        KeyCode::Left | KeyCode::Char('h') | KeyCode::BackTab => {
            x.selected_host = x.selected_host.saturating_sub(1);
            x.output_scroll = 0;
        }
        KeyCode::Right | KeyCode::Char('l') | KeyCode::Tab => {
            if x.selected_host + 1 < x.hosts.len() {
                x.selected_host += 1;
                x.output_scroll = 0;
            }
        }
        KeyCode::PageUp => x.output_scroll = x.output_scroll.saturating_add(10),
        KeyCode::PageDown => x.output_scroll = x.output_scroll.saturating_sub(10),
        KeyCode::End | KeyCode::Char('G') => x.output_scroll = 0,
        _ if is_up(&key) => x.output_scroll = x.output_scroll.saturating_add(1),
        _ if is_down(&key) => x.output_scroll = x.output_scroll.saturating_sub(1),
        _ => state.dirty = false,
    }
    Vec::new()
}

// ---- Health ----

/// Goes to Health and starts the live probes (they stop when the step is left).
pub fn enter_health(state: &mut State) -> Vec<Effect> {
    state.step = Step::Health;
    if state.health.phase == Phase::Running {
        return Vec::new();
    }
    state.health.phase = Phase::Running;
    state.health.error = None;
    vec![Effect::StartHealth {
        interval: state.health.interval,
        hosts: state.hosts.database_hosts(),
        deployment: deployment_ref(state),
    }]
}

/// The wizard's deployment (its playbook, inventory and answers), as Health and the
/// migrations find its databases.
fn deployment_ref(state: &State) -> Option<crate::health::deployment::DeploymentRef> {
    state.request(false).and_then(|r| {
        Some(crate::health::deployment::DeploymentRef {
            playbook: r.playbook,
            inventory: r.inventory?,
            answers: r.extra_values,
            ..Default::default()
        })
    })
}

/// After a successful real run of a playbook that deploys the databases: apply their schema
/// migrations, so the run ends healthy rather than with pending migrations.
fn start_migrations_after_run(state: &mut State) -> Vec<Effect> {
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

/// `m`: apply the selected database's pending migrations, after a confirmation that lists them.
fn ask_migrate(state: &mut State) -> Vec<Effect> {
    let row = state
        .health
        .snapshot
        .as_ref()
        .and_then(|s| s.rows.get(state.health.selected));
    let Some(row) = row else {
        state.message = Some("select a database first".into());
        return Vec::new();
    };
    let Some(info) = row.migrations.as_ref() else {
        state.message = Some(format!("{}: migrations not known yet", row.key));
        return Vec::new();
    };
    if info.pending == 0 {
        state.message = Some(format!("{}: no pending migrations", row.key));
        return Vec::new();
    }
    if state.health.migrating || state.exec.migrations.phase == Some(Phase::Running) {
        state.message = Some("migrations are being applied; wait for them".into());
        return Vec::new();
    }
    state.health.migrate_prompt = Some((row.key.clone(), info.pending_names.clone()));
    state.dialog = Some(Dialog::ConfirmMigrate);
    Vec::new()
}

/// Leaves Health for `step`, stopping the probes.
fn leave_health(state: &mut State, step: Step) -> Vec<Effect> {
    state.step = step;
    state.health.phase = Phase::Idle;
    vec![Effect::StopHealth]
}

fn health_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let h = &mut state.health;
    let rows = h
        .snapshot
        .as_ref()
        .map_or(0, |s| s.rows.len() + s.hosts.len());
    match key.code {
        KeyCode::Esc | KeyCode::BackTab if h.detail => h.detail = false,
        // Opened as `health --watch`, there is no wizard behind the dashboard to go back to.
        KeyCode::Esc | KeyCode::BackTab if h.standalone => return quit(state),
        KeyCode::Esc | KeyCode::BackTab => return leave_health(state, Step::Execute),
        KeyCode::Enter | KeyCode::Char('d') => h.detail = !h.detail,
        KeyCode::Char('+') | KeyCode::Char('-') => {
            let next = if key.code == KeyCode::Char('+') {
                h.interval.saturating_mul(2)
            } else {
                h.interval / 2
            };
            h.interval = next.clamp(HealthView::MIN_INTERVAL, HealthView::MAX_INTERVAL);
            state.message = Some(format!(
                "probing every {}",
                crate::ui::widgets::human_secs(state.health.interval)
            ));
            return vec![Effect::SetHealthInterval(state.health.interval)];
        }
        KeyCode::Char('r') => return repair(state),
        KeyCode::Char('m') => return ask_migrate(state),
        KeyCode::Home | KeyCode::Char('g') => h.selected = 0,
        KeyCode::End | KeyCode::Char('G') => h.selected = rows.saturating_sub(1),
        _ if is_up(&key) => h.selected = h.selected.saturating_sub(1),
        _ if is_down(&key) => h.selected = (h.selected + 1).min(rows.saturating_sub(1)),
        _ => state.dirty = false,
    }
    Vec::new()
}

/// The inventory hosts that serve a database: the spec's group for it (`slm_server` for `slm`
/// and `slm_users`, `redis_vm` for `autobot_users`), narrowed to the host whose address is the
/// database server's when the group has several.
pub fn hosts_serving(state: &State, db: &str, server: &str) -> Vec<String> {
    let group = if db == "autobot_users" {
        "redis_vm"
    } else {
        "slm_server"
    };
    let Some((_, hosts)) = state.hosts.groups.iter().find(|(g, _)| g == group) else {
        return Vec::new();
    };
    if hosts.len() <= 1 {
        return hosts.iter().map(|h| h.name.clone()).collect();
    }
    let addr = server
        .split(" via ")
        .next()
        .unwrap_or(server)
        .rsplit_once(':')
        .map_or(server, |(h, _)| h)
        .trim_matches(['[', ']']);
    let matching: Vec<String> = hosts
        .iter()
        .filter(|h| h.address == addr || h.name == addr)
        .map(|h| h.name.clone())
        .collect();
    if matching.is_empty() {
        hosts.iter().map(|h| h.name.clone()).collect()
    } else {
        matching
    }
}

/// `r`: re-run the playbook on the selected database's host only, through Review (dry run
/// first, then the usual confirmation).
fn repair(state: &mut State) -> Vec<Effect> {
    let Some(snap) = state.health.snapshot.as_ref() else {
        state.message = Some("nothing probed yet".into());
        return Vec::new();
    };
    let sel = state.health.selected;
    // What is repaired, its state, and the hosts to run on.
    let (what, status, hosts) = if let Some(row) = snap.rows.get(sel) {
        let hosts = hosts_serving(state, &row.key, &row.server);
        (row.key.clone(), row.status, hosts)
    } else if let Some(h) = snap.hosts.get(sel - snap.rows.len()) {
        (h.host.clone(), h.status, vec![h.host.clone()])
    } else {
        state.message = Some("nothing selected".into());
        return Vec::new();
    };
    if status == Some(crate::health::Status::Healthy) {
        state.message = Some(format!("{what} is healthy: nothing to repair"));
        return Vec::new();
    }
    // Pending migrations are not the playbook's to fix: a re-run would change nothing.
    if let Some(row) = snap.rows.get(sel)
        && status == Some(crate::health::Status::Degraded)
        && row.migrations.as_ref().is_some_and(|m| m.pending > 0)
        && row
            .reason
            .split("; ")
            .all(|r| r.contains("pending migration"))
    {
        state.message = Some(format!(
            "{what}: only migrations are pending, which a re-run does not apply; m applies them"
        ));
        return Vec::new();
    }
    if state.chosen.is_none() {
        // Opened as `health --watch`: the databases come from the user-management playbook.
        let Some(i) = state.playbooks.iter().position(|p| {
            p.path
                .file_name()
                .is_some_and(|n| n == crate::health::deployment::PLAYBOOK)
        }) else {
            state.message = Some("choose the playbook to repair with first (step 1)".into());
            return Vec::new();
        };
        state.selected = i;
        choose_playbook(state);
        if state.chosen.is_none() {
            return Vec::new();
        }
    }
    if hosts.is_empty() {
        state.message = Some(format!(
            "no inventory host serves {what} (groups slm_server / redis_vm in {})",
            state.hosts.path.display()
        ));
        return Vec::new();
    }
    state.limit = Some(hosts.join(","));
    let mut fx = leave_health(state, Step::Review);
    fx.extend(enter_review(state));
    fx
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
