//! Snapshots of every screen at 80×24 and 160×48 (secrets masked).

use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::app::fixture::*;
use crate::app::state::State;
use crate::app::{Action, action::RunKind};

fn draw(state: &State, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| super::render(f, state)).expect("draw");
    t.backend().to_string()
}

fn check(name: &str, state: &State) {
    for (w, h) in [(80, 24), (160, 48)] {
        let text = draw(state, w, h);
        assert!(!text.contains(SECRET), "{name}: the secret is on screen");
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), text);
    }
}

#[test]
fn playbook_screen() {
    check("playbook", &state());
    let mut s = state();
    send(&mut s, key(KeyCode::Char('/')));
    typ(&mut s, "tiny");
    check("playbook_filtered", &s);
}

#[test]
fn variables_screen() {
    let mut s = state();
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, key(KeyCode::Tab));
    send(&mut s, key(KeyCode::Tab));
    typ(&mut s, SECRET);
    check("variables_secret", &s);
    // An invalid answer refused by Next.
    send(&mut s, key(KeyCode::BackTab));
    send(&mut s, key(KeyCode::BackTab));
    send(&mut s, ctrl('u'));
    typ(&mut s, "x");
    send(&mut s, ctrl('s'));
    check("variables_invalid", &s);
    // A variable the inventory sets for some hosts says so.
    let mut s = state();
    for (_, hosts) in &mut s.hosts.groups {
        for h in hosts.iter_mut().filter(|h| h.name == "redis") {
            h.vars
                .insert("clients".into(), serde_json::json!(["10.1.0.0/16"]));
        }
    }
    send(&mut s, key(KeyCode::Enter));
    while s.form.fields[s.form.focus].question.variable != "clients" {
        send(&mut s, key(KeyCode::Tab));
    }
    check("variables_inventory_value", &s);
}

#[test]
fn hosts_screen() {
    let mut s = at_review();
    send(&mut s, key(KeyCode::Esc));
    check("hosts", &s);
    send(&mut s, key(KeyCode::Char('T')));
    send(
        &mut s,
        Action::Tested {
            host: "localhost".into(),
            result: Ok("Linux 6.1.0-28-amd64 · psql (PostgreSQL) 15.10".into()),
        },
    );
    check("hosts_tested", &s);
    send(
        &mut s,
        Action::HostKeyUnknown {
            host: "redis".into(),
            fingerprint: "SHA256:n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg".into(),
            jump_host: None,
        },
    );
    check("hosts_trust_key", &s);
    send(&mut s, key(KeyCode::Char('n')));
    send(&mut s, key(KeyCode::Char('a')));
    typ(&mut s, "web1");
    check("hosts_add_form", &s);
    send(&mut s, ctrl('s'));
    check("hosts_unsaved", &s);
    // A session that remembers the last run marks the hosts that failed or drifted.
    let mut s = at_review();
    send(&mut s, key(KeyCode::Esc));
    use crate::app::state::LastRun;
    s.session
        .last_run
        .insert("localhost".into(), LastRun::Changed);
    s.session
        .last_run
        .insert("redis".into(), LastRun::Unreachable);
    check("hosts_last_run", &s);
}

#[test]
fn review_screen() {
    check("review_running", &at_review());
    let mut s = reviewed();
    check("review_done", &s);
    send(&mut s, key(KeyCode::Enter));
    check("review_confirm", &s);
    let mut s = reviewed_failing();
    send(&mut s, key(KeyCode::Enter));
    check("review_confirm_failed", &s);
}

#[test]
fn execute_screen() {
    let mut s = executing();
    check("execute_running", &s);
    send(&mut s, key(KeyCode::Char('c')));
    check("execute_cancel_dialog", &s);
    let mut s = executing();
    send(&mut s, done(RunKind::Real, false));
    check("execute_done", &s);
    let mut s = executing();
    send(&mut s, key(KeyCode::Char('/')));
    typ(&mut s, "hel");
    check("execute_filtering", &s);
    send(&mut s, key(KeyCode::Char('x')));
    send(&mut s, key(KeyCode::Enter));
    check("execute_filtered_out", &s);
    // The migrations phase after a deploying run.
    let mut s = executing();
    send(&mut s, done(RunKind::Real, false));
    use crate::app::state::{MigrationState, Migrations, Phase};
    s.exec.migrations = Migrations {
        phase: Some(Phase::Failed),
        rows: vec![
            ("slm".into(), MigrationState::AlreadyApplied(1)),
            (
                "slm_users".into(),
                MigrationState::Applied(vec!["0001_user_management".into()]),
            ),
            (
                "autobot_users".into(),
                MigrationState::Failed("no pg_hba.conf entry for host".into()),
            ),
        ],
        error: None,
    };
    check("execute_migrations", &s);
}

#[test]
fn health_screen() {
    let mut s = executing();
    send(&mut s, done(RunKind::Real, false));
    send(&mut s, key(KeyCode::Enter));
    check("health_probing", &s);
    send(&mut s, Action::HealthSnapshot(Box::new(health_snapshot())));
    check("health", &s);
    send(&mut s, key(KeyCode::Enter));
    check("health_detail_healthy", &s);
    send(&mut s, key(KeyCode::Esc));
    send(&mut s, key(KeyCode::Down));
    send(&mut s, key(KeyCode::Down));
    send(&mut s, key(KeyCode::Enter));
    check("health_detail", &s);
    send(&mut s, key(KeyCode::Char('G')));
    check("health_host_detail", &s);
    send(&mut s, key(KeyCode::Esc));
    send(
        &mut s,
        Action::HealthFailed("SLM_DATABASE_URL is not set".into()),
    );
    s.health.snapshot = None;
    check("health_unavailable", &s);
}

#[test]
fn help_overlay() {
    let mut s = state();
    send(&mut s, key(KeyCode::Enter));
    send(
        &mut s,
        Action::Key(crossterm::event::KeyEvent::from(KeyCode::F(1))),
    );
    check("help_variables", &s);
}

/// No help entry is cut: at 80×24 and at 100 columns each description's last word shows.
#[test]
fn help_lines_wrap_instead_of_being_cut() {
    use crate::app::state::Step;
    for step in Step::ALL {
        let mut s = state();
        s.step = step;
        s.help = true;
        for (w, h) in [(80, 24), (100, 40)] {
            let text = draw(&s, w, h);
            for (k, what) in super::help_lines(step) {
                let last = what.split_whitespace().last().unwrap_or_default();
                assert!(
                    text.contains(last),
                    "{step:?} at {w}x{h}: help for {k} cut (no {last:?}):\n{text}"
                );
            }
        }
    }
}

/// The key bar never ends mid-hint and always keeps help and quit.
#[test]
fn key_hints_fit_80_columns_on_every_screen() {
    use crate::app::state::Step;
    for step in Step::ALL {
        let mut s = state();
        s.step = step;
        let line = super::hint_line(&super::key_hints(&s), 80);
        let text: String = line.spans.iter().map(|sp| sp.content.as_ref()).collect();
        assert!(text.trim_end().chars().count() <= 80, "{step:?}: {text:?}");
        assert!(text.trim_end().ends_with("quit"), "{step:?}: {text:?}");
        assert!(text.contains("help"), "{step:?}: {text:?}");
    }
    // Too many hints for the width: tighter first, then the screen's own ones drop out whole.
    let many = [
        ("Enter", "detail"),
        ("+/-", "interval"),
        ("r", "repair"),
        ("m", "migrate"),
        ("Esc", "back"),
        ("F1/?", "help"),
        ("q", "quit"),
    ];
    let text: String = super::hint_line(&many, 40)
        .spans
        .iter()
        .map(|sp| sp.content.to_string())
        .collect();
    assert!(text.trim_end().chars().count() <= 40, "{text:?}");
    assert!(text.trim_end().ends_with("q quit"), "{text:?}");
}

/// A journal path longer than the screen keeps its file name (`~` for home, `…` for the cut).
#[test]
fn long_paths_keep_their_file_name() {
    let p =
        std::path::Path::new("/var/lib/slm-wizard/runs/20261206T080000Z-user-management-db.jsonl");
    let s = super::widgets::fit_path(p, 50);
    assert_eq!(s.chars().count(), 50);
    assert!(
        s.starts_with('…') && s.ends_with("20261206T080000Z-user-management-db.jsonl"),
        "{s}"
    );
}

/// An invalid list item's reason shows whole under the field at 80×24 (not only in the status
/// line after Ctrl-S).
#[test]
fn a_list_items_problem_shows_under_the_field() {
    let mut s = state();
    send(&mut s, key(KeyCode::Enter));
    while s.form.fields[s.form.focus].question.variable != "clients" {
        send(&mut s, key(KeyCode::Tab));
    }
    typ(&mut s, "10.0.0.300/8");
    send(&mut s, key(KeyCode::Enter));
    let e = s.form.fields[s.form.focus].error.clone().expect("invalid");
    assert!(s.message.is_none(), "not (only) in the status line");
    let screen: String = draw(&s, 80, 24)
        .lines()
        .map(|l| l.trim_matches('"').trim_matches('│').trim())
        .collect::<Vec<_>>()
        .join(" ");
    let words: String = e.split_whitespace().collect::<Vec<_>>().join(" ");
    let shown: String = screen.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        shown.contains(&words),
        "{e:?} not whole on screen:\n{}",
        draw(&s, 80, 24)
    );
}

/// The form of a playbook without survey, from its role's `meta/argument_specs.yml`.
#[test]
fn variables_derived_screen() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = derived_state(dir.path());
    let list = draw(&s, 80, 24);
    assert!(
        list.contains("site.yml  web/site.yml  (form from the playbook)"),
        "{list}"
    );
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, key(KeyCode::Tab));
    check("variables_derived", &s);
}
