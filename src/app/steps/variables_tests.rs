//! Pure tests of the Variables step: validation, secrets, booleans, choices and lists.

use crossterm::event::KeyCode;
use serde_json::json;

use crate::app::fixture::*;
use crate::app::state::{FieldValue, Step};

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
