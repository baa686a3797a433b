//! The pure update function: all wizard logic, no terminal, no IO (beyond the CSPRNG of "generate").
//! Keys and results go to the step they belong to (`steps/`); what is the same on every step
//! (quit, help, dialogs) is answered here.

use crossterm::event::{KeyCode, KeyEvent};

use super::action::{Action, RunKind};
use super::effects::Effect;
use super::keymap::{self, Intent};
use super::state::{Dialog, State, Step};
use super::steps::{execute, health, hosts, playbook, review, variables};

pub use super::steps::execute::migration_text;
pub use super::steps::health::{enter_health, hosts_serving};
pub use super::steps::review::enter_review;
pub use super::steps::variables::variables_next;

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
                RunKind::Check => review::on_check_event(&mut state.review, ev),
                RunKind::Real => execute::on_run_event(&mut state.exec, ev),
            }
            Vec::new()
        }
        Action::Engine { kind, name, reason } => {
            match kind {
                RunKind::Check => review::on_engine(state, name, reason),
                RunKind::Real => execute::on_engine(state, name, reason),
            }
            Vec::new()
        }
        Action::RunFailed(kind, msg) => {
            match kind {
                RunKind::Check => review::on_failed(state, msg),
                RunKind::Real => execute::on_failed(state, msg),
            }
            Vec::new()
        }
        Action::RunDone {
            kind,
            summary,
            journal,
        } => match kind {
            RunKind::Check => {
                review::on_done(state, summary);
                Vec::new()
            }
            RunKind::Real => execute::on_done(state, summary, journal),
        },
        Action::RolesExist(msg) => {
            execute::on_roles_exist(state, msg);
            Vec::new()
        }
        Action::Migration {
            from_health,
            db,
            state: m,
        } => {
            if from_health {
                health::on_migration(state, db, m);
            } else {
                execute::on_migration(state, db, m);
            }
            Vec::new()
        }
        Action::MigrationsDone {
            from_health,
            result,
        } => {
            if from_health {
                health::on_migrations_done(state, result);
            } else {
                execute::on_migrations_done(state, result);
            }
            Vec::new()
        }
        Action::Tested { host, result } => {
            hosts::on_tested(state, host, result);
            Vec::new()
        }
        Action::InventorySaved(result) => {
            hosts::on_saved(state, result);
            Vec::new()
        }
        Action::HostKeyUnknown {
            host,
            fingerprint,
            jump_host,
        } => {
            hosts::on_host_key_unknown(state, host, fingerprint, jump_host);
            Vec::new()
        }
        Action::HealthSnapshot(snap) => {
            health::on_snapshot(state, snap);
            Vec::new()
        }
        Action::HealthFailed(e) => {
            health::on_failed(state, e);
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

/// Quits, or asks first while a run is going.
pub(crate) fn quit(state: &mut State) -> Vec<Effect> {
    if state.run_active() {
        state.dialog = Some(Dialog::ConfirmQuit);
        Vec::new()
    } else {
        state.quit = true;
        vec![Effect::Quit]
    }
}

/// True when printable keys are typed into a text line on this screen.
pub fn typing(state: &State) -> bool {
    match state.step {
        Step::Playbook => state.filtering,
        Step::Variables => variables::typing(state),
        Step::Hosts => hosts::typing(&state.hosts),
        Step::Execute => state.exec.filtering,
        Step::Review | Step::Health => false,
    }
}

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if key.kind == crossterm::event::KeyEventKind::Release {
        state.dirty = false;
        return Vec::new();
    }
    let global = keymap::GLOBAL.intent(&key);
    if global == Some(Intent::Interrupt) {
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
    // While typing, printable keys are text: only F1 still opens the help.
    match global {
        Some(Intent::Help) if key.code == KeyCode::F(1) || !typing(state) => {
            state.help = true;
            return Vec::new();
        }
        Some(Intent::Quit) if !typing(state) => return quit(state),
        _ => {}
    }
    state.message = None;
    // The screen's keymap is the one its key bar shows.
    let intent = keymap::current(state).intent(&key);
    match state.step {
        Step::Playbook => playbook::playbook_key(state, key, intent),
        Step::Variables => variables::variables_key(state, key, intent),
        Step::Hosts => hosts::hosts_key(state, key, intent),
        Step::Review => review::review_key(state, intent),
        Step::Execute => execute::execute_key(state, key, intent),
        Step::Health => health::health_key(state, intent),
    }
}

fn on_dialog(state: &mut State, d: Dialog, key: KeyEvent) -> Vec<Effect> {
    // After a failed dry run only the deliberate "run anyway" key confirms, never y or Enter.
    let answer = keymap::DIALOG.intent(&key);
    let yes = if d == Dialog::ConfirmRunAnyway {
        answer == Some(Intent::RunAnyway)
    } else {
        answer == Some(Intent::Yes)
    };
    let no = answer == Some(Intent::No);
    if no {
        state.dialog = None;
        if d == Dialog::ConfirmMigrate {
            state.health.migrate_prompt = None;
        }
        if d == Dialog::TrustHostKey {
            hosts::decline_trust(state);
        }
        return Vec::new();
    }
    if !yes {
        if d == Dialog::ConfirmRunAnyway && answer == Some(Intent::Yes) {
            state.message = Some("the dry run failed: a runs anyway, n goes back".into());
            return Vec::new();
        }
        state.dirty = false;
        return Vec::new();
    }
    state.dialog = None;
    match d {
        Dialog::ConfirmRun | Dialog::ConfirmRunAnyway | Dialog::ConfirmRotate => {
            review::confirm(state, d)
        }
        Dialog::ConfirmRetry
        | Dialog::ConfirmCancel
        | Dialog::ConfirmKill
        | Dialog::ConfirmReplacePasswords => execute::confirm(state, d),
        Dialog::ConfirmQuit => {
            state.quit = true;
            vec![Effect::Cancel(RunKind::Real), Effect::Quit]
        }
        Dialog::ConfirmSave | Dialog::ConfirmRemoveHost | Dialog::TrustHostKey => {
            hosts::confirm(state, d)
        }
        Dialog::ConfirmMigrate => health::confirm_migrate(state),
    }
}
