//! Pure tests of the Playbook step: the list, its filter, -p and the session it resumes.

use crossterm::event::KeyCode;
use serde_json::json;

use crate::app::effects::Effect;
use crate::app::fixture::*;
use crate::app::state::Step;

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
    let s = crate::app::state::State::new(
        base.playbook_dir.clone(),
        base.playbooks.clone(),
        base.hosts.clone(),
        Some(std::path::Path::new("user-management-db.yml")),
    );
    assert_eq!(s.selected, 1);
    let s = crate::app::state::State::new(
        base.playbook_dir.clone(),
        base.playbooks.clone(),
        base.hosts.clone(),
        Some(std::path::Path::new("nope.yml")),
    );
    assert!(s.message.as_deref().unwrap_or("").contains("nope.yml"));
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
fn preselected_playbook_outside_the_list_is_added_and_selected() {
    let dir = tempfile::tempdir().expect("tmp");
    let pb = dir.path().join("elsewhere.yml");
    std::fs::write(&pb, "- name: Else\n  hosts: all\n  tasks: []\n").expect("write");
    let base = state();
    let s = crate::app::state::State::new(
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
