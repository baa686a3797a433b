//! Pure tests of the Health step: the dashboard keys, repair and migrations.

use crossterm::event::KeyCode;
use std::time::Duration;

use crate::app::action::{Action, RunKind};
use crate::app::effects::Effect;
use crate::app::fixture::*;
use crate::app::state::{Dialog, Phase, Step};

#[test]
fn end_of_run_goes_to_health_and_back() {
    let mut s = executing();
    // While running, Enter and Esc do not leave the step.
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, key(KeyCode::Esc));
    assert_eq!(s.step, Step::Execute);
    send(&mut s, done(RunKind::Real, false));
    assert!(s.exec.journal.is_some());
    let fx = send(&mut s, key(KeyCode::Enter));
    assert_eq!(s.step, Step::Health);
    assert!(matches!(fx.as_slice(), [Effect::StartHealth { .. }]));
    assert_eq!(s.health.phase, Phase::Running);
    send(
        &mut s,
        Action::HealthFailed("SLM_DATABASE_URL is not set".into()),
    );
    assert_eq!(s.health.phase, Phase::Failed);
    assert!(s.health.error.is_some());
    // Leaving stops the sampler; coming back starts it again.
    let fx = send(&mut s, key(KeyCode::Esc));
    assert_eq!(s.step, Step::Execute);
    assert!(matches!(fx.as_slice(), [Effect::StopHealth]));
    let fx = send(&mut s, key(KeyCode::Enter));
    assert!(matches!(fx.as_slice(), [Effect::StartHealth { .. }]));
    send(&mut s, Action::HealthSnapshot(Box::new(health_snapshot())));
    assert!(s.health.error.is_none());
    send(&mut s, key(KeyCode::Esc));
    assert_eq!(s.step, Step::Execute);
    send(&mut s, key(KeyCode::Esc));
    assert_eq!(s.step, Step::Review);
}

#[test]
fn health_dashboard_keys() {
    let mut s = executing();
    send(&mut s, done(RunKind::Real, false));
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, Action::HealthSnapshot(Box::new(health_snapshot())));
    // Selection stays within the rows.
    // Selection runs over the databases, then the hosts.
    for _ in 0..9 {
        send(&mut s, key(KeyCode::Down));
    }
    assert_eq!(s.health.selected, 4);
    send(&mut s, key(KeyCode::Char('k')));
    assert_eq!(s.health.selected, 3);
    send(&mut s, key(KeyCode::Char('k')));
    send(&mut s, key(KeyCode::Char('k')));
    // A smaller snapshot pulls the selection back in.
    let mut small = health_snapshot();
    small.rows.truncate(1);
    small.hosts.clear();
    send(&mut s, Action::HealthSnapshot(Box::new(small)));
    assert_eq!(s.health.selected, 0);
    send(&mut s, Action::HealthSnapshot(Box::new(health_snapshot())));
    // Detail view opens and Esc closes it before leaving the step.
    send(&mut s, key(KeyCode::Enter));
    assert!(s.health.detail);
    send(&mut s, key(KeyCode::Esc));
    assert!(!s.health.detail);
    assert_eq!(s.step, Step::Health);
    // The interval doubles and halves within 1 s ..= 300 s.
    let fx = send(&mut s, key(KeyCode::Char('+')));
    assert!(
        matches!(fx.as_slice(), [Effect::SetHealthInterval(d)] if *d == Duration::from_secs(10))
    );
    for _ in 0..10 {
        send(&mut s, key(KeyCode::Char('+')));
    }
    assert_eq!(s.health.interval, Duration::from_secs(300));
    for _ in 0..20 {
        send(&mut s, key(KeyCode::Char('-')));
    }
    assert_eq!(s.health.interval, Duration::from_secs(1));
}

#[test]
fn repair_from_health_reruns_the_failing_host_through_review() {
    let mut s = executing();
    send(&mut s, done(RunKind::Real, false));
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, Action::HealthSnapshot(Box::new(health_snapshot())));
    // A healthy database has nothing to repair.
    let fx = send(&mut s, key(KeyCode::Char('r')));
    assert!(fx.is_empty());
    assert_eq!(s.step, Step::Health);
    assert!(s.message.as_deref().unwrap_or("").contains("healthy"));
    // A host whose cluster is down is repaired on that host.
    send(&mut s, key(KeyCode::Char('G')));
    send(&mut s, key(KeyCode::Char('r')));
    assert_eq!(s.step, Step::Review);
    assert_eq!(s.limit.as_deref(), Some("redis"));
    // Esc from the repair's Review goes back to Health, watching the whole deployment again.
    let fx = send(&mut s, key(KeyCode::Esc));
    assert_eq!((s.step, s.limit.as_deref()), (Step::Health, None));
    // autobot_users lives on the Redis VM: of the two redis_vm hosts, the one with its address.
    assert!(
        matches!(&fx[..], [Effect::Cancel(RunKind::Check), Effect::StartHealth { hosts, .. }] if hosts.len() == 2),
        "{fx:?}"
    );
    send(&mut s, Action::HealthSnapshot(Box::new(health_snapshot())));
    s.health.selected = 2;
    let fx = send(&mut s, key(KeyCode::Char('r')));
    assert_eq!(s.step, Step::Review);
    assert_eq!(s.limit.as_deref(), Some("redis"));
    assert!(matches!(fx[0], Effect::StopHealth));
    let Effect::StartRun(RunKind::Check, req) = &fx[1] else {
        panic!("expected the dry run: {fx:?}");
    };
    assert_eq!(req.limit.as_deref(), Some("redis"));
    assert!(req.check);
    // Confirming runs for real on that host only.
    send(&mut s, done(RunKind::Check, false));
    send(&mut s, key(KeyCode::Enter));
    let fx = send(&mut s, key(KeyCode::Char('y')));
    let real = fx.iter().find_map(|e| match e {
        Effect::StartRun(RunKind::Real, r) => Some(r),
        _ => None,
    });
    assert_eq!(real.and_then(|r| r.limit.as_deref()), Some("redis"));
    // Going back from the repair (Execute → Review → Health) drops the limit: the next
    // dry run is of the whole deployment.
    send(&mut s, done(RunKind::Real, false));
    send(&mut s, key(KeyCode::Esc));
    send(&mut s, key(KeyCode::Esc));
    assert_eq!(s.step, Step::Health);
    assert!(s.limit.is_none());
    let fx = crate::app::update::enter_review(&mut s);
    assert!(
        matches!(&fx[0], Effect::StartRun(RunKind::Check, r) if r.limit.is_none()),
        "{fx:?}"
    );
}

#[test]
fn health_watch_on_its_own_leaves_on_esc_and_says_the_interval_as_the_header() {
    let mut s = state();
    s.health.standalone = true;
    crate::app::update::enter_health(&mut s);
    send(&mut s, Action::HealthSnapshot(Box::new(health_snapshot())));
    // `-` from 5 s: the status line says 2.5 s, as the header does.
    send(&mut s, key(KeyCode::Char('-')));
    assert_eq!(s.message.as_deref(), Some("probing every 2.5 s"));
    // Esc closes the detail view first, then leaves (no empty wizard screens behind it).
    send(&mut s, key(KeyCode::Enter));
    assert!(s.health.detail);
    let fx = send(&mut s, key(KeyCode::Esc));
    assert!(fx.is_empty() && !s.health.detail && s.step == Step::Health);
    let fx = send(&mut s, key(KeyCode::Esc));
    assert!(s.quit, "Esc on the dashboard of health --watch quits");
    assert!(matches!(fx.as_slice(), [Effect::Quit]), "{fx:?}");
}

/// A successful run of the deploying playbook applies the schema migrations as its own phase;
/// `m` on Health applies one database's pending migrations after a confirmation listing them.
#[test]
fn a_deploying_run_applies_the_migrations_and_health_offers_m() {
    use crate::app::state::MigrationState;
    let mut s = state();
    // Choose the user-management playbook (the second entry), run it through to Execute.
    send(&mut s, key(KeyCode::Down));
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, ctrl('s'));
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, done(RunKind::Check, false));
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, key(KeyCode::Char('y')));
    assert_eq!(s.step, Step::Execute);
    let fx = send(&mut s, done(RunKind::Real, false));
    let Some(Effect::ApplyMigrations {
        from_health: false,
        deployment: Some(d),
        databases,
        journal,
    }) = fx
        .iter()
        .find(|e| matches!(e, Effect::ApplyMigrations { .. }))
    else {
        panic!("no migrations after a successful deploy: {fx:?}");
    };
    assert!(databases.is_empty(), "all databases");
    assert!(d.playbook.ends_with("user-management-db.yml"));
    assert!(journal.is_some(), "the outcome goes into the run's journal");
    assert_eq!(s.exec.migrations.phase, Some(Phase::Running));
    for (db, st) in [
        ("slm", MigrationState::AlreadyApplied(1)),
        (
            "slm_users",
            MigrationState::Applied(vec!["0001_user_management".into()]),
        ),
        ("autobot_users", MigrationState::Failed("refused".into())),
    ] {
        send(
            &mut s,
            Action::Migration {
                from_health: false,
                db: db.into(),
                state: st,
            },
        );
    }
    // Health's `m` waits while the phase after the run is going.
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, Action::HealthSnapshot(Box::new(health_snapshot())));
    s.health.selected = 1;
    let fx = send(&mut s, key(KeyCode::Char('m')));
    assert!(fx.is_empty() && s.dialog.is_none(), "{fx:?}");
    assert!(s.message.as_deref().unwrap_or("").contains("wait"));
    send(
        &mut s,
        Action::MigrationsDone {
            from_health: false,
            result: Ok(()),
        },
    );
    assert_eq!(s.exec.migrations.rows.len(), 3);
    assert_eq!(s.exec.migrations.phase, Some(Phase::Failed), "one failed");

    // A failed or cancelled run, or a playbook that deploys no databases: no migrations.
    let mut s = executing();
    let fx = send(&mut s, done(RunKind::Real, false));
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::ApplyMigrations { .. }))
    );
    assert_eq!(s.exec.migrations.phase, None);

    // Health: `m` on a database without pending migrations says so; on one with, it asks.
    let mut s = executing();
    send(&mut s, done(RunKind::Real, false));
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, Action::HealthSnapshot(Box::new(health_snapshot())));
    s.health.selected = 0;
    let fx = send(&mut s, key(KeyCode::Char('m')));
    assert!(fx.is_empty() && s.dialog.is_none());
    assert!(s.message.as_deref().unwrap_or("").contains("no pending"));
    let i = s.health.snapshot.as_ref().map_or(0, |snap| {
        snap.rows
            .iter()
            .position(|r| r.key == "slm_users")
            .unwrap_or(0)
    });
    s.health.selected = i;
    send(&mut s, key(KeyCode::Char('m')));
    assert_eq!(s.dialog, Some(Dialog::ConfirmMigrate));
    assert_eq!(
        s.health.migrate_prompt,
        Some(("slm_users".into(), vec!["0002_sessions".into()]))
    );
    // `r` on a database whose only problem is pending migrations points at `m` instead of
    // a re-run that would change nothing.
    let mut r = s.clone();
    r.dialog = None;
    let fx = send(&mut r, key(KeyCode::Char('r')));
    assert!(fx.is_empty() && r.step == Step::Health, "{fx:?}");
    assert!(
        r.message
            .as_deref()
            .unwrap_or("")
            .contains("m applies them")
    );
    let fx = send(&mut s, key(KeyCode::Char('y')));
    assert!(
        matches!(fx.as_slice(), [Effect::ApplyMigrations { databases, from_health: true, .. }] if databases == &vec!["slm_users".to_string()]),
        "{fx:?}"
    );
    send(
        &mut s,
        Action::Migration {
            from_health: true,
            db: "slm_users".into(),
            state: MigrationState::Applied(vec!["0002_sessions".into()]),
        },
    );
    send(
        &mut s,
        Action::MigrationsDone {
            from_health: true,
            result: Ok(()),
        },
    );
    assert_eq!(
        s.message.as_deref(),
        Some("slm_users: applied 0002_sessions")
    );
    assert!(!s.health.migrating);
    assert_eq!(s.exec.migrations.rows.len(), 0, "not the Execute phase");
}
