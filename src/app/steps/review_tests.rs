//! Pure tests of the Review step: the dry run, the confirmations, rotation.

use crossterm::event::KeyCode;
use serde_json::json;

use crate::app::action::{Action, RunKind};
use crate::app::effects::Effect;
use crate::app::fixture::*;
use crate::app::state::{Dialog, Phase, Step};
use crate::engine::Status;

#[test]
fn dry_run_results_per_host_and_confirm_starts_the_real_run() {
    let mut s = reviewed();
    assert_eq!(s.review.phase, Phase::Done);
    let items = &s.review.per_host["localhost"];
    assert_eq!(items.len(), 1, "only what would change");
    assert_eq!(items[0].status, Status::Changed);
    assert!(items[0].diff.iter().any(|l| l == "+hello x3 127.0.0.1/32"));
    assert_eq!(s.review.counts["localhost"].changed, 1);
    // The real run's secret is the typed one, passed as a value.
    send(&mut s, key(KeyCode::Enter));
    assert_eq!(s.dialog, Some(Dialog::ConfirmRun));
    let fx = send(&mut s, key(KeyCode::Char('n')));
    assert!(fx.is_empty());
    assert_eq!((s.dialog, s.step), (None, Step::Review));
    send(&mut s, key(KeyCode::Enter));
    let fx = send(&mut s, key(KeyCode::Char('y')));
    assert_eq!(s.step, Step::Execute);
    assert_eq!(s.exec.phase, Phase::Running);
    let [Effect::SaveSession(_), Effect::StartRun(RunKind::Real, req)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert!(!req.check);
    assert_eq!(req.extra_values["api_token"], json!(SECRET));
}

#[test]
fn a_real_run_after_a_failed_dry_run_needs_run_anyway() {
    let mut s = reviewed_failing();
    let failures = s.review.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].host, "localhost");
    assert_eq!(failures[0].task, "Say it");
    assert_eq!(
        failures[0].after_unapplied.as_deref(),
        Some("Write the greeting"),
        "labelled as following from a task check mode could not apply"
    );
    send(&mut s, key(KeyCode::Enter));
    assert_eq!(s.dialog, Some(Dialog::ConfirmRunAnyway));
    // The plain confirm keys do not start it.
    for k in [KeyCode::Char('y'), KeyCode::Enter] {
        let fx = send(&mut s, key(k));
        assert!(fx.is_empty(), "{k:?} started the run: {fx:?}");
        assert_eq!(
            (s.dialog, s.step),
            (Some(Dialog::ConfirmRunAnyway), Step::Review)
        );
    }
    let fx = send(&mut s, key(KeyCode::Char('a')));
    assert_eq!(s.step, Step::Execute);
    assert!(matches!(
        fx.as_slice(),
        [Effect::SaveSession(_), Effect::StartRun(RunKind::Real, _)]
    ));
    // A dry run that could not start at all is a failure too.
    let mut s = at_review();
    send(
        &mut s,
        Action::RunFailed(RunKind::Check, "tiny.yml:3:5: bad".into()),
    );
    send(&mut s, key(KeyCode::Enter));
    assert_eq!(s.dialog, Some(Dialog::ConfirmRunAnyway));
    send(&mut s, key(KeyCode::Char('n')));
    assert_eq!((s.dialog, s.step), (None, Step::Review));
}

#[test]
fn a_failed_dry_run_is_shown_and_can_be_repeated() {
    let mut s = at_review();
    send(
        &mut s,
        Action::RunFailed(RunKind::Check, "tiny.yml:3:5: bad".into()),
    );
    assert_eq!(s.review.phase, Phase::Failed);
    let fx = send(&mut s, key(KeyCode::Char('r')));
    assert!(matches!(
        fx.as_slice(),
        [Effect::StartRun(RunKind::Check, _)]
    ));
    assert_eq!(s.review.phase, Phase::Running);
    assert!(s.review.error.is_none());
}

/// A real run that would set a new password on an existing role asks first; `R` on Review
/// rotates after a confirmation.
#[test]
fn existing_roles_are_asked_about_and_rotation_is_explicit() {
    use crate::app::effects::SecretsAction;
    let mut s = reviewed();
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, key(KeyCode::Char('y')));
    assert_eq!(s.step, Step::Execute);
    send(
        &mut s,
        Action::RolesExist("role 'slm_app' already exists on slm".into()),
    );
    assert_eq!(s.dialog, Some(Dialog::ConfirmReplacePasswords));
    assert_eq!(s.exec.phase, Phase::Failed);
    // No: nothing runs.
    let fx = send(&mut s, key(KeyCode::Char('n')));
    assert!(fx.is_empty() && s.dialog.is_none());
    // Yes: the run starts again, setting the new passwords.
    send(
        &mut s,
        Action::RolesExist("role 'slm_app' already exists on slm".into()),
    );
    let fx = send(&mut s, key(KeyCode::Char('y')));
    assert!(
        matches!(
            fx.as_slice(),
            [Effect::SaveSession(_), Effect::StartRunWithSecrets(r, SecretsAction::ReplaceExisting)] if !r.check
        ),
        "{fx:?}"
    );
    // Rotation is refused after a failed dry run and on a repair's limited hosts.
    let mut s = reviewed_failing();
    send(&mut s, key(KeyCode::Char('R')));
    assert_eq!(s.dialog, None);
    assert!(s.message.as_deref().unwrap_or("").contains("clean dry run"));
    let mut s = reviewed();
    s.limit = Some("redis".into());
    send(&mut s, key(KeyCode::Char('R')));
    assert_eq!(s.dialog, None);
    assert!(
        s.message
            .as_deref()
            .unwrap_or("")
            .contains("whole deployment")
    );
    // Rotation from Review.
    let mut s = reviewed();
    send(&mut s, key(KeyCode::Char('R')));
    assert_eq!(s.dialog, Some(Dialog::ConfirmRotate));
    let fx = send(&mut s, key(KeyCode::Char('y')));
    assert!(
        matches!(
            fx.as_slice(),
            [
                Effect::SaveSession(_),
                Effect::StartRunWithSecrets(_, SecretsAction::Rotate)
            ]
        ),
        "{fx:?}"
    );
    assert_eq!(s.step, Step::Execute);
}
