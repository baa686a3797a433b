//! Pure tests of `update`: every step transition, validation, secrets, lists, runs, cancel, quit.

use crossterm::event::KeyCode;
use serde_json::json;
use std::time::Duration;

use super::action::{Action, RunKind};
use super::effects::Effect;
use super::fixture::*;
use super::state::{ConnTest, Dialog, FieldValue, OUTPUT_LINES_PER_HOST, Phase, Step};
use crate::engine::{RunEvent, Status};

#[test]
fn playbook_enter_builds_the_form_and_goes_to_variables() {
    let mut s = state();
    assert_eq!(s.step, Step::Playbook);
    let fx = send(&mut s, key(KeyCode::Enter));
    assert!(fx.is_empty());
    assert_eq!(s.step, Step::Variables);
    assert_eq!(s.chosen, Some(0));
    let vars: Vec<&str> = s
        .form
        .fields
        .iter()
        .map(|f| f.question.variable.as_str())
        .collect();
    assert_eq!(
        vars,
        [
            "greeting",
            "repeat",
            "api_token",
            "loud",
            "colour",
            "clients"
        ]
    );
    // Defaults are filled in and valid; the generated secret is left for run time.
    assert!(s.form.first_invalid().is_none());
    assert!(s.form.fields[2].generated_later);
}

#[test]
fn playbook_list_moves_and_filters() {
    let mut s = state();
    send(&mut s, key(KeyCode::Char('j')));
    assert_eq!(s.selected, 1);
    send(&mut s, key(KeyCode::Up));
    assert_eq!(s.selected, 0);
    send(&mut s, key(KeyCode::Char('/')));
    assert!(s.filtering);
    typ(&mut s, "management");
    assert_eq!(s.visible_playbooks(), vec![1]);
    assert_eq!(s.selected, 1, "the selection follows the filter");
    send(&mut s, key(KeyCode::Enter));
    assert!(!s.filtering);
    send(&mut s, key(KeyCode::Enter));
    assert_eq!(s.step, Step::Variables);
    assert!(s.form.fields.is_empty(), "no survey: an empty form");
    // Esc clears a filter.
    let mut s = state();
    send(&mut s, key(KeyCode::Char('/')));
    typ(&mut s, "zzz");
    assert!(s.visible_playbooks().is_empty());
    send(&mut s, key(KeyCode::Esc));
    assert_eq!(s.visible_playbooks().len(), 2);
}

#[test]
fn preselected_playbook() {
    let base = state();
    let s = super::state::State::new(
        base.playbook_dir.clone(),
        base.playbooks.clone(),
        base.hosts.clone(),
        Some(std::path::Path::new("user-management-db.yml")),
    );
    assert_eq!(s.selected, 1);
    let s = super::state::State::new(
        base.playbook_dir.clone(),
        base.playbooks.clone(),
        base.hosts.clone(),
        Some(std::path::Path::new("nope.yml")),
    );
    assert!(s.message.as_deref().unwrap_or("").contains("nope.yml"));
}

#[test]
fn inline_validation_and_next_refused_with_first_invalid_focused() {
    let mut s = state();
    send(&mut s, key(KeyCode::Enter));
    // Greeting: clear it and type one character: too short.
    send(&mut s, ctrl('u'));
    typ(&mut s, "x");
    let e = s.form.fields[0].error.clone().expect("invalid");
    assert!(e.contains("shorter than the minimum 2"), "{e}");
    // Repeat: 11 is above the maximum.
    send(&mut s, key(KeyCode::Tab));
    send(&mut s, ctrl('u'));
    typ(&mut s, "11");
    assert!(
        s.form.fields[1]
            .error
            .as_deref()
            .unwrap()
            .contains("above the maximum")
    );
    // Next is refused and the first invalid field is focused.
    send(&mut s, key(KeyCode::Tab));
    send(&mut s, key(KeyCode::Tab));
    send(&mut s, ctrl('s'));
    assert_eq!(s.step, Step::Variables);
    assert_eq!(s.form.focus, 0);
    assert!(s.message.as_deref().unwrap().starts_with("Greeting:"));
    // Fix both, then Next goes on to Hosts.
    typ(&mut s, "ey");
    assert!(s.form.fields[0].error.is_none());
    send(&mut s, ctrl('s'));
    assert_eq!(s.form.focus, 1, "still refused: Repeat");
    send(&mut s, key(KeyCode::Backspace));
    send(&mut s, ctrl('s'));
    assert_eq!(s.step, Step::Hosts);
    assert_eq!(s.form.values()["greeting"], json!("xey"));
    assert_eq!(s.form.values()["repeat"], json!(1));
}

#[test]
fn secrets_are_masked_revealed_and_generated() {
    let mut s = state();
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, key(KeyCode::Down));
    send(&mut s, key(KeyCode::Down));
    assert_eq!(s.form.focus, 2);
    typ(&mut s, "short");
    assert!(s.form.fields[2].error.is_some(), "min 16");
    send(&mut s, ctrl('g'));
    let f = &s.form.fields[2];
    let FieldValue::Text(i) = &f.value else {
        panic!("text")
    };
    assert_eq!(i.value().chars().count(), 20);
    assert!(f.error.is_none());
    assert_eq!(f.display(), "••••••••");
    assert!(!f.revealed);
    send(&mut s, ctrl('r'));
    assert!(s.form.fields[2].revealed);
    send(&mut s, ctrl('r'));
    assert!(!s.form.fields[2].revealed);
    // Typing 'q' or '?' into a text field types them; it does not quit or open help.
    send(&mut s, key(KeyCode::Char('q')));
    send(&mut s, key(KeyCode::Char('?')));
    assert!(!s.quit && !s.help);
}

#[test]
fn booleans_choices_and_lists() {
    let mut s = state();
    send(&mut s, key(KeyCode::Enter));
    for _ in 0..3 {
        send(&mut s, key(KeyCode::Tab));
    }
    send(&mut s, key(KeyCode::Char(' ')));
    assert_eq!(s.form.fields[3].raw(), json!(true));
    send(&mut s, key(KeyCode::Tab));
    assert_eq!(s.form.fields[4].raw(), json!("green"));
    send(&mut s, key(KeyCode::Right));
    assert_eq!(s.form.fields[4].raw(), json!("blue"));
    send(&mut s, key(KeyCode::Right));
    assert_eq!(s.form.fields[4].raw(), json!("red"));
    send(&mut s, key(KeyCode::Left));
    assert_eq!(s.form.fields[4].raw(), json!("blue"));
    send(&mut s, key(KeyCode::Tab));
    // The list: add an item, an invalid one, edit it, remove one.
    typ(&mut s, "10.0.0.0/8");
    send(&mut s, key(KeyCode::Enter));
    assert_eq!(
        s.form.fields[5].raw(),
        json!(["127.0.0.1/32", "10.0.0.0/8"])
    );
    typ(&mut s, "10.1.2.3");
    send(&mut s, key(KeyCode::Enter));
    assert!(
        s.form.fields[5]
            .error
            .as_deref()
            .unwrap()
            .contains("item 3")
    );
    send(&mut s, ctrl('e'));
    assert!(s.form.fields[5].error.is_none());
    typ(&mut s, "/32");
    send(&mut s, key(KeyCode::Enter));
    assert_eq!(
        s.form.fields[5].raw(),
        json!(["127.0.0.1/32", "10.0.0.0/8", "10.1.2.3/32"])
    );
    send(&mut s, key(KeyCode::PageUp));
    send(&mut s, key(KeyCode::PageUp));
    send(&mut s, ctrl('d'));
    assert_eq!(s.form.fields[5].raw(), json!(["10.0.0.0/8", "10.1.2.3/32"]));
    // Enter on an empty item line of the last field = Next.
    send(&mut s, key(KeyCode::Enter));
    assert_eq!(s.step, Step::Hosts);
    let v = s.form.values();
    assert_eq!(v["loud"], json!(true));
    assert_eq!(v["colour"], json!("blue"));
    assert!(!v.contains_key("api_token"), "generated at run time");
}

#[test]
fn going_back_and_forth_keeps_the_answers() {
    let mut s = state();
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, ctrl('u'));
    typ(&mut s, "hi there");
    send(&mut s, ctrl('s'));
    assert_eq!(s.step, Step::Hosts);
    send(&mut s, key(KeyCode::Esc));
    assert_eq!(s.step, Step::Variables);
    send(&mut s, key(KeyCode::Esc));
    assert_eq!(s.step, Step::Playbook);
    send(&mut s, key(KeyCode::Enter));
    assert_eq!(s.form.values()["greeting"], json!("hi there"));
}

#[test]
fn hosts_to_review_starts_the_dry_run() {
    let mut s = state();
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, ctrl('s'));
    assert_eq!(s.step, Step::Hosts);
    let fx = send(&mut s, key(KeyCode::Enter));
    assert_eq!(s.step, Step::Review);
    assert_eq!(s.review.phase, Phase::Running);
    let [Effect::StartRun(RunKind::Check, req)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert!(req.check && req.diff);
    assert_eq!(req.playbook, std::path::Path::new("playbooks/tiny.yml"));
    assert_eq!(
        req.inventory.as_deref(),
        Some(std::path::Path::new("playbooks/inventory/local.yml"))
    );
    // Untouched defaults are left to the survey/inventory (not forced as extra vars).
    assert!(!req.extra_values.contains_key("greeting"));
    assert!(!req.extra_values.contains_key("clients"));
    // Enter while the dry run is going is refused.
    send(&mut s, key(KeyCode::Enter));
    assert_eq!(s.dialog, None);
    // Esc during the dry run goes back and cancels it.
    let fx = send(&mut s, key(KeyCode::Esc));
    assert_eq!(s.step, Step::Hosts);
    assert!(matches!(fx.as_slice(), [Effect::Cancel(RunKind::Check)]));
}

#[test]
fn test_connection_per_host_and_for_all() {
    let mut s = state();
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, ctrl('s'));
    assert_eq!(s.hosts.host_names(), ["localhost", "redis"]);
    send(&mut s, key(KeyCode::Char('j')));
    let fx = send(&mut s, key(KeyCode::Char('t')));
    let [Effect::TestConnection { host, vars, .. }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(host, "redis");
    assert_eq!(vars["ansible_connection"], json!("ssh"));
    assert_eq!(s.hosts.tests["redis"], ConnTest::Running);
    // All: only the hosts not already being tested.
    let fx = send(&mut s, key(KeyCode::Char('T')));
    assert_eq!(fx.len(), 1);
    send(
        &mut s,
        Action::Tested {
            host: "redis".into(),
            result: Err("unreachable: connection refused".into()),
        },
    );
    send(
        &mut s,
        Action::Tested {
            host: "localhost".into(),
            result: Ok("Linux 6.1".into()),
        },
    );
    assert_eq!(s.hosts.tests["localhost"], ConnTest::Ok("Linux 6.1".into()));
    assert!(matches!(s.hosts.tests["redis"], ConnTest::Failed(_)));
    assert_eq!(s.step, Step::Hosts);
}

#[test]
fn a_new_host_key_is_trusted_only_when_confirmed() {
    let mut s = state();
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, ctrl('s'));
    send(&mut s, key(KeyCode::Char('T')));
    let fp = "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    send(
        &mut s,
        Action::HostKeyUnknown {
            host: "redis".into(),
            fingerprint: fp.into(),
            jump_host: None,
        },
    );
    assert_eq!(s.dialog, Some(Dialog::TrustHostKey));
    // A second unknown key while the first question is open: asked on its next test.
    send(
        &mut s,
        Action::HostKeyUnknown {
            host: "localhost".into(),
            fingerprint: "SHA256:other".into(),
            jump_host: None,
        },
    );
    assert!(matches!(&s.hosts.tests["localhost"], ConnTest::Failed(m) if m.contains("test again")));
    // Trusting retests with the key recorded.
    let fx = send(&mut s, key(KeyCode::Char('y')));
    assert!(
        matches!(fx.as_slice(), [Effect::TestConnection { host, trust_new_key: true, .. }] if host == "redis"),
        "{fx:?}"
    );
    assert_eq!(s.hosts.tests["redis"], ConnTest::Running);
    assert!(s.hosts.trust_prompt.is_none());
    // Refusing does not connect.
    send(
        &mut s,
        Action::HostKeyUnknown {
            host: "redis".into(),
            fingerprint: fp.into(),
            jump_host: None,
        },
    );
    let fx = send(&mut s, key(KeyCode::Char('n')));
    assert!(fx.is_empty());
    assert!(
        matches!(&s.hosts.tests["redis"], ConnTest::Failed(m) if m.contains("not trusted") && m.contains(fp))
    );
}

/// At the Hosts step of the fixture (groups slm_server: localhost; redis_vm: localhost, redis).
fn at_hosts() -> crate::app::State {
    let mut s = state();
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, ctrl('s'));
    assert_eq!(s.step, Step::Hosts);
    s
}

#[test]
fn hosts_are_added_edited_moved_removed_and_saved() {
    use crate::inventory::edit::Edit;
    let mut s = at_hosts();
    // Add: the form refuses an invalid answer, then adds only what was typed.
    send(&mut s, key(KeyCode::Char('a')));
    assert!(s.hosts.edit.is_some());
    typ(&mut s, "bad name");
    send(&mut s, ctrl('s'));
    assert!(s.hosts.edit.is_some(), "an invalid name is refused");
    assert!(s.message.as_deref().unwrap_or("").starts_with("Name"));
    send(&mut s, ctrl('u'));
    typ(&mut s, "redis2");
    send(&mut s, key(KeyCode::Tab));
    send(&mut s, key(KeyCode::Right)); // group: slm_server → redis_vm
    send(&mut s, key(KeyCode::Tab));
    typ(&mut s, "10.0.0.9");
    send(&mut s, key(KeyCode::Tab));
    send(&mut s, ctrl('u'));
    typ(&mut s, "2222");
    send(&mut s, ctrl('s'));
    assert!(s.hosts.edit.is_none(), "{:?}", s.message);
    assert_eq!(
        s.hosts.pending,
        vec![Edit::Upsert {
            group: "redis_vm".into(),
            host: "redis2".into(),
            vars: vec![
                ("ansible_host".into(), Some("10.0.0.9".into())),
                ("ansible_port".into(), Some("2222".into())),
            ],
        }]
    );
    assert_eq!(s.hosts.host_names(), ["localhost", "redis", "redis2"]);
    assert_eq!(s.hosts.host_names()[s.hosts.selected], "redis2");
    // A name that exists is refused.
    send(&mut s, key(KeyCode::Char('a')));
    typ(&mut s, "redis");
    send(&mut s, ctrl('s'));
    assert!(
        s.message
            .as_deref()
            .unwrap_or("")
            .contains("exists already")
    );
    send(&mut s, key(KeyCode::Esc));
    assert!(s.hosts.edit.is_none());
    // Edit: only the changed user is written; Enter to Review is refused while unsaved.
    send(&mut s, key(KeyCode::Char('e')));
    for _ in 0..4 {
        send(&mut s, key(KeyCode::Tab));
    }
    typ(&mut s, "deploy");
    send(&mut s, ctrl('s'));
    assert_eq!(
        s.hosts.pending.last(),
        Some(&Edit::Upsert {
            group: "redis_vm".into(),
            host: "redis2".into(),
            vars: vec![("ansible_user".into(), Some("deploy".into()))],
        })
    );
    let fx = send(&mut s, key(KeyCode::Enter));
    assert!(fx.is_empty());
    assert_eq!(s.step, Step::Hosts);
    assert!(s.message.as_deref().unwrap_or("").contains("unsaved"));
    // Move cycles through the groups; remove asks first.
    send(&mut s, key(KeyCode::Char('m')));
    assert_eq!(s.hosts.group_of("redis2").as_deref(), Some("slm_server"));
    send(&mut s, key(KeyCode::Char('d')));
    assert_eq!(s.dialog, Some(Dialog::ConfirmRemoveHost));
    send(&mut s, key(KeyCode::Char('y')));
    assert!(!s.hosts.host_names().contains(&"redis2".to_string()));
    // Save: asks, then writes all pending edits in order.
    send(&mut s, key(KeyCode::Char('s')));
    assert_eq!(s.dialog, Some(Dialog::ConfirmSave));
    let fx = send(&mut s, key(KeyCode::Char('y')));
    let [Effect::SaveInventory { source, to, edits }] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    assert_eq!(source, to);
    assert_eq!(edits.len(), 4);
    assert!(matches!(edits[3], Edit::Remove { .. }));
    // A failed save keeps the edits; a good one replaces the view.
    send(&mut s, Action::InventorySaved(Err("disk full".into())));
    assert_eq!(s.hosts.pending.len(), 4);
    let mut view = s.hosts.clone();
    view.pending.clear();
    send(
        &mut s,
        Action::InventorySaved(Ok(Box::new(crate::app::state::SavedInventory {
            view,
            backup: Some("inv.yml.bak-1".into()),
        }))),
    );
    assert!(s.hosts.pending.is_empty());
    assert!(s.message.as_deref().unwrap_or("").contains("inv.yml.bak-1"));
    // Save as: a new path, typed.
    send(&mut s, key(KeyCode::Char('m')));
    send(&mut s, key(KeyCode::Char('w')));
    assert!(s.hosts.save_as.is_some());
    send(&mut s, ctrl('u'));
    typ(&mut s, "new.yml");
    let fx = send(&mut s, key(KeyCode::Enter));
    assert!(
        matches!(fx.as_slice(), [Effect::SaveInventory { to, .. }] if to == std::path::Path::new("new.yml"))
    );
}

#[test]
fn hosts_with_a_broken_inventory_cannot_go_on() {
    let mut s = state();
    s.hosts.error = Some("bad inventory".into());
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, ctrl('s'));
    let fx = send(&mut s, key(KeyCode::Enter));
    assert!(fx.is_empty());
    assert_eq!(s.step, Step::Hosts);
}

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

#[test]
fn execute_tracks_progress_tasks_and_output() {
    let mut s = executing();
    let lane = &s.exec.lanes["localhost"];
    assert_eq!((lane.done, lane.total), (1, 2));
    assert_eq!(lane.current.as_deref(), Some("Say it"));
    assert_eq!(lane.counts.changed, 1);
    assert_eq!(s.exec.tasks.len(), 2);
    assert_eq!(s.exec.tasks[0].status, Some(Status::Changed));
    assert_eq!(s.exec.tasks[1].status, None);
    assert!(lane.output.iter().any(|l| l == "hello"));
    assert_eq!(s.exec.elapsed.as_secs(), 3);
    // The output of a chatty host stays bounded.
    for i in 0..(OUTPUT_LINES_PER_HOST + 500) {
        send(
            &mut s,
            Action::Run(
                RunKind::Real,
                RunEvent::Output {
                    host: "localhost".into(),
                    task_id: 1,
                    stream: crate::transport::Stream::Stdout,
                    data: format!("line {i}\n"),
                },
            ),
        );
    }
    let out = &s.exec.lanes["localhost"].output;
    assert_eq!(out.len(), OUTPUT_LINES_PER_HOST);
    assert_eq!(
        out.back().unwrap(),
        &format!("line {}", OUTPUT_LINES_PER_HOST + 499)
    );
    // Scrolling up stops following; End follows again.
    send(&mut s, key(KeyCode::PageUp));
    assert_eq!(s.exec.output_scroll, 10);
    send(&mut s, key(KeyCode::End));
    assert_eq!(s.exec.output_scroll, 0);
}

#[test]
fn cancel_asks_first_then_cancels_the_engine() {
    let mut s = executing();
    let fx = send(&mut s, key(KeyCode::Char('c')));
    assert!(fx.is_empty());
    assert_eq!(s.dialog, Some(Dialog::ConfirmCancel));
    let fx = send(&mut s, key(KeyCode::Esc));
    assert!(fx.is_empty());
    assert_eq!(s.dialog, None);
    assert!(!s.exec.cancel_requested);
    send(&mut s, key(KeyCode::Char('c')));
    let fx = send(&mut s, key(KeyCode::Char('y')));
    assert!(matches!(fx.as_slice(), [Effect::Cancel(RunKind::Real)]));
    assert!(s.exec.cancel_requested);
    // A second `c` offers to kill what still runs; n leaves them running.
    send(&mut s, key(KeyCode::Char('c')));
    assert_eq!(s.dialog, Some(Dialog::ConfirmKill));
    let fx = send(&mut s, key(KeyCode::Char('n')));
    assert!(fx.is_empty());
    assert!(!s.exec.kill_requested);
    send(&mut s, key(KeyCode::Char('c')));
    let fx = send(&mut s, key(KeyCode::Char('y')));
    assert!(matches!(fx.as_slice(), [Effect::Kill(RunKind::Real)]));
    assert!(s.exec.kill_requested);
    // Nothing more to ask.
    let fx = send(&mut s, key(KeyCode::Char('c')));
    assert!(fx.is_empty());
    assert_eq!(s.dialog, None);
    send(&mut s, done(RunKind::Real, true));
    assert_eq!(s.exec.phase, Phase::Done);
    assert!(s.exec.summary.as_ref().unwrap().cancelled);
}

#[test]
fn output_filter_keeps_matching_lines_and_takes_typed_keys() {
    let mut s = executing();
    send(&mut s, key(KeyCode::Char('/')));
    assert!(s.exec.filtering);
    // While typing, q and ? are text, not quit and help.
    typ(&mut s, "q?");
    assert!(!s.quit && !s.help);
    assert_eq!(s.exec.filter.value(), "q?");
    send(&mut s, ctrl('u'));
    typ(&mut s, "HEL");
    send(&mut s, key(KeyCode::Enter));
    assert!(!s.exec.filtering);
    assert_eq!(s.exec.filter.value(), "HEL");
    // Esc clears a kept filter first, and only then leaves the step (after the run).
    send(&mut s, key(KeyCode::Esc));
    assert_eq!(s.exec.filter.value(), "");
    assert_eq!(s.step, Step::Execute);
}

#[test]
fn the_wheel_moves_like_the_arrows() {
    let mut s = state();
    assert_eq!(s.selected, 0);
    send(&mut s, Action::Wheel { up: false });
    assert_eq!(s.selected, 1);
    send(&mut s, Action::Wheel { up: true });
    assert_eq!(s.selected, 0);
    // Not under a dialog.
    let mut s = executing();
    send(&mut s, key(KeyCode::Char('c')));
    send(&mut s, Action::Wheel { up: true });
    assert_eq!(s.exec.output_scroll, 0);
    send(&mut s, key(KeyCode::Char('n')));
    send(&mut s, Action::Wheel { up: true });
    assert_eq!(s.exec.output_scroll, 1);
}

#[test]
fn the_last_run_per_host_is_remembered_and_shown_next_time() {
    use crate::app::state::LastRun;
    let mut s = executing();
    let fx = send(&mut s, done(RunKind::Real, false));
    let [Effect::SaveSession(session)] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    assert_eq!(session.last_run.get("localhost"), Some(&LastRun::Changed));
    // The next session starts with it (the Hosts step marks the host).
    let mut next = state();
    next.resume(session.clone(), false);
    assert_eq!(
        next.session.last_run.get("localhost"),
        Some(&LastRun::Changed)
    );
    assert_eq!(next.to_session().last_run, session.last_run);
    let mut c = crate::engine::events::Counts::default();
    assert_eq!(LastRun::of(&c), LastRun::Ok);
    c.failed = 1;
    assert_eq!(LastRun::of(&c), LastRun::Failed);
    c.unreachable = 1;
    assert_eq!(LastRun::of(&c), LastRun::Unreachable);
}

#[test]
fn quit_asks_while_a_run_is_going() {
    let mut s = executing();
    let fx = send(&mut s, key(KeyCode::Char('q')));
    assert!(fx.is_empty());
    assert_eq!(s.dialog, Some(Dialog::ConfirmQuit));
    send(&mut s, key(KeyCode::Char('n')));
    assert!(!s.quit);
    send(&mut s, ctrl('c'));
    assert_eq!(s.dialog, Some(Dialog::ConfirmQuit));
    let fx = send(&mut s, key(KeyCode::Char('y')));
    assert!(s.quit);
    assert!(matches!(
        fx.as_slice(),
        [Effect::Cancel(RunKind::Real), Effect::Quit]
    ));
    // SIGTERM / SIGHUP: cancel and leave without asking.
    let mut s = executing();
    let fx = send(&mut s, Action::Terminate);
    assert!(s.quit);
    assert!(matches!(fx.last(), Some(Effect::Quit)));
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Cancel(RunKind::Real)))
    );
    // Without a run, q quits at once.
    let mut s = state();
    let fx = send(&mut s, key(KeyCode::Char('q')));
    assert!(s.quit);
    assert!(matches!(fx.as_slice(), [Effect::Quit]));
}

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
fn retry_runs_again_on_the_failed_hosts_only() {
    let mut s = executing();
    send(&mut s, done(RunKind::Real, false));
    // Nothing failed: nothing to retry.
    send(&mut s, key(KeyCode::Char('r')));
    assert_eq!(s.dialog, None);
    let summary = s.exec.summary.as_mut().unwrap();
    summary.hosts.insert(
        "db2".into(),
        crate::engine::events::Counts {
            failed: 1,
            ..Default::default()
        },
    );
    summary.hosts.insert(
        "db3".into(),
        crate::engine::events::Counts {
            unreachable: 1,
            ..Default::default()
        },
    );
    send(&mut s, key(KeyCode::Char('r')));
    assert_eq!(s.dialog, Some(Dialog::ConfirmRetry));
    let fx = send(&mut s, key(KeyCode::Char('y')));
    let [Effect::SaveSession(_), Effect::StartRun(RunKind::Real, req)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(req.limit.as_deref(), Some("db2,db3"));
    assert_eq!(s.exec.phase, Phase::Running);
    assert!(s.exec.summary.is_none());
}

#[test]
fn a_session_resumes_playbook_and_non_secret_answers() {
    let mut s = reviewed();
    send(&mut s, key(KeyCode::Enter));
    let fx = send(&mut s, key(KeyCode::Char('y')));
    let Some(Effect::SaveSession(saved)) = fx.first() else {
        panic!("{fx:?}")
    };
    assert_eq!(
        saved.playbook.as_deref(),
        Some(std::path::Path::new("playbooks/tiny.yml"))
    );
    assert!(
        !saved.answers.contains_key("api_token"),
        "secrets are not saved"
    );
    // The next session: a changed answer comes back; the secret does not.
    let mut saved = saved.clone();
    saved
        .answers
        .insert("greeting".into(), json!("welcome back"));
    saved.answers.insert("loud".into(), json!(true));
    saved.playbook = Some("playbooks/user-management-db.yml".into());
    let mut next = state();
    next.resume(saved.clone(), false);
    assert_eq!(next.selected, 1, "the last playbook is selected");
    saved.playbook = Some("playbooks/tiny.yml".into());
    let mut next = state();
    next.resume(saved, false);
    assert_eq!(next.selected, 0);
    send(&mut next, key(KeyCode::Enter));
    let v = next.form.values();
    assert_eq!(v["greeting"], json!("welcome back"));
    assert_eq!(v["loud"], json!(true));
    assert!(next.form.fields[2].generated_later);
}

#[test]
fn a_run_that_cannot_start_is_reported() {
    let mut s = reviewed();
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, key(KeyCode::Char('y')));
    send(
        &mut s,
        Action::RunFailed(RunKind::Real, "store locked".into()),
    );
    assert_eq!(s.exec.phase, Phase::Failed);
    assert!(!s.run_active());
    send(&mut s, key(KeyCode::Char('q')));
    assert!(s.quit);
}

#[test]
fn help_overlay_opens_and_closes() {
    let mut s = state();
    send(&mut s, key(KeyCode::Char('?')));
    assert!(s.help);
    send(&mut s, key(KeyCode::Char('x')));
    assert!(!s.help);
    send(&mut s, key(KeyCode::F(1)));
    assert!(s.help);
    // A key that closes help does nothing else.
    send(&mut s, key(KeyCode::Char('q')));
    assert!(!s.help && !s.quit);
}

#[test]
fn idle_ticks_do_not_redraw() {
    let mut s = state();
    s.dirty = false;
    send(&mut s, Action::Tick(std::time::Duration::from_secs(1)));
    assert!(!s.dirty);
    send(&mut s, key(KeyCode::Down));
    assert!(s.dirty);
    // An idle tick right after a change (same batch) keeps the frame due.
    send(&mut s, Action::Tick(std::time::Duration::from_secs(1)));
    assert!(s.dirty);
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

#[test]
fn progress_counts_skipped_tasks_and_loops_and_ends_full_on_success() {
    let mut s = executing();
    // Task 1 runs as a loop whose items are skipped: one task done, not one per item.
    for _ in 0..3 {
        let RunEvent::TaskResult(mut r) = result("localhost", 1, "Say it", Status::Skipped, false)
        else {
            unreachable!()
        };
        r.item = Some(json!("x"));
        send(&mut s, Action::Run(RunKind::Real, RunEvent::TaskResult(r)));
    }
    let lane = &s.exec.lanes["localhost"];
    assert_eq!((lane.done, lane.total), (2, 2));
    // A clean run ends at total even when a task never reported (tags, a skipped block).
    let mut s = executing();
    send(&mut s, done(RunKind::Real, false));
    let lane = &s.exec.lanes["localhost"];
    assert_eq!((lane.done, lane.total), (2, 2));
    // A cancelled one does not.
    let mut s = executing();
    send(&mut s, done(RunKind::Real, true));
    assert_eq!(s.exec.lanes["localhost"].done, 1);
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

#[test]
fn a_jump_hosts_key_is_named_as_such_and_trust_approves_exactly_that_key() {
    let mut s = state();
    send(&mut s, key(KeyCode::Enter));
    send(&mut s, ctrl('s'));
    let fp = "SHA256:jumpjumpjumpjumpjumpjumpjumpjumpjumpjump012";
    send(
        &mut s,
        Action::HostKeyUnknown {
            host: "redis".into(),
            fingerprint: fp.into(),
            jump_host: Some("bastion".into()),
        },
    );
    assert_eq!(s.dialog, Some(Dialog::TrustHostKey));
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 48)).unwrap();
    t.draw(|f| crate::ui::render(f, &s)).unwrap();
    let screen = t.backend().to_string();
    assert!(
        screen.contains("ProxyJump host bastion") && screen.contains("The key of bastion"),
        "{screen}"
    );
    let fx = send(&mut s, key(KeyCode::Char('y')));
    match fx.as_slice() {
        [
            Effect::TestConnection {
                host,
                trust_new_key: true,
                approved: Some(a),
                ..
            },
        ] => {
            assert_eq!(host, "redis");
            assert_eq!(a.fingerprint, fp);
            assert_eq!(a.jump_host.as_deref(), Some("bastion"));
        }
        other => panic!("{other:?}"),
    }
    assert!(s.hosts.trust_jump.is_none());
}

#[test]
fn a_roles_argument_specs_give_the_form_of_a_playbook_without_survey() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = derived_state(dir.path());
    assert_eq!(s.playbooks.len(), 1, "only the playbook is listed");
    let p = &s.playbooks[0];
    assert!(p.derived());
    assert!(
        p.description.contains("Plays: Web servers."),
        "{}",
        p.description
    );
    send(&mut s, key(KeyCode::Enter));
    assert_eq!(s.step, Step::Variables);
    let vars: Vec<&str> = s
        .form
        .fields
        .iter()
        .map(|f| f.question.variable.as_str())
        .collect();
    assert_eq!(vars, ["web_mode", "web_port", "web_users"]);
    // The role's defaults prefill the form and are valid.
    assert!(matches!(
        s.form.fields[0].value,
        FieldValue::Choice(Some(0))
    ));
    assert!(s.form.first_invalid().is_none());
    // An item that is not one of the choices is refused, saying what is valid.
    send(&mut s, key(KeyCode::Tab));
    send(&mut s, key(KeyCode::Tab));
    typ(&mut s, "carol");
    send(&mut s, key(KeyCode::Enter));
    let e = s.form.fields[2].error.clone().expect("refused");
    assert!(e.contains("\"carol\" is not one of the choices"), "{e}");
    assert!(e.contains("alice, bob"), "{e}");
    send(&mut s, ctrl('s'));
    assert_eq!(s.step, Step::Variables, "Next is refused");
    // Fixed, the run gets only what differs from the role's own defaults.
    send(&mut s, ctrl('d'));
    typ(&mut s, "bob");
    send(&mut s, key(KeyCode::Enter));
    assert!(
        s.form.first_invalid().is_none(),
        "{:?}",
        s.form.fields[2].error
    );
    let values = s.form.values();
    assert_eq!(values.get("web_users"), Some(&json!(["bob"])));
    assert!(
        !values.contains_key("web_port"),
        "the role's default is not forced"
    );
}

#[test]
fn preselected_playbook_outside_the_list_is_added_and_selected() {
    let dir = tempfile::tempdir().expect("tmp");
    let pb = dir.path().join("elsewhere.yml");
    std::fs::write(&pb, "- name: Else\n  hosts: all\n  tasks: []\n").expect("write");
    let base = state();
    let s = super::state::State::new(
        base.playbook_dir.clone(),
        base.playbooks.clone(),
        base.hosts.clone(),
        Some(&pb),
    );
    assert_eq!(s.message, None);
    assert_eq!(s.playbooks.len(), 3);
    assert_eq!(s.selected, 0);
    assert_eq!(s.playbooks[0].path, pb);
    assert_eq!(s.playbooks[0].description, "Plays: Else.");
}
