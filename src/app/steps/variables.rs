//! Step 2, Variables: the playbook's form (its survey, or the variables derived from it).

use crossterm::event::KeyEvent;

use crate::app::effects::Effect;
use crate::app::form::{FieldValue, FormKey, form_key, form_valid};
use crate::app::keymap::Intent;
use crate::app::state::{State, Step};

pub(crate) fn variables_key(
    state: &mut State,
    key: KeyEvent,
    intent: Option<Intent>,
) -> Vec<Effect> {
    if intent == Some(Intent::Back) {
        state.step = Step::Playbook;
        return Vec::new();
    }
    if form_key(&mut state.form, key, intent, &mut state.message) == FormKey::Submit {
        return variables_next(state);
    }
    Vec::new()
}

/// "Next" on the Variables step: refused with the first invalid field focused.
pub fn variables_next(state: &mut State) -> Vec<Effect> {
    if form_valid(&mut state.form, &mut state.message) {
        state.step = Step::Hosts;
    }
    Vec::new()
}

/// True when printable keys are typed into the focused field.
pub(crate) fn typing(state: &State) -> bool {
    state
        .form
        .fields
        .get(state.form.focus)
        .is_some_and(|f| matches!(f.value, FieldValue::Text(_) | FieldValue::List { .. }))
}
