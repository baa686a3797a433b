//! The host form of the Hosts step (add or edit a host): a survey, filled in and turned into
//! inventory edits.

use std::path::Path;

use crossterm::event::KeyEvent;
use serde_json::Value;

use crate::app::effects::Effect;
use crate::app::form::{Form, FormKey, form_key, form_valid};
use crate::app::keymap::Intent;
use crate::app::state::{HostEdit, State};

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
pub(crate) fn open_host_form(state: &mut State, host: Option<String>) {
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

pub(crate) fn host_form_key(
    state: &mut State,
    key: KeyEvent,
    intent: Option<Intent>,
) -> Vec<Effect> {
    let Some(edit) = state.hosts.edit.as_mut() else {
        return Vec::new();
    };
    if intent == Some(Intent::Back) {
        state.hosts.edit = None;
        state.message = Some("host not changed".into());
        return Vec::new();
    }
    if form_key(&mut edit.form, key, intent, &mut state.message) == FormKey::Submit {
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
