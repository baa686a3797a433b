//! Pure tests of the Hosts step: connection tests, host keys, edits and saving.

use crossterm::event::KeyCode;
use serde_json::json;

use crate::app::action::{Action, RunKind};
use crate::app::effects::Effect;
use crate::app::fixture::*;
use crate::app::state::{ConnTest, Dialog, Phase, Step};

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
