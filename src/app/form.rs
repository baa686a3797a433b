//! A survey as an editable form: the Variables step and the Hosts step's host form share it.

use std::path::{Path, PathBuf};

use crossterm::event::{Event, KeyEvent};
use serde_json::{Map, Value};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

use super::keymap::Intent;
use crate::playbook::survey::{self, DEFAULT_GENERATED_LENGTH, Question, QuestionType, Survey};

/// The editable value of one form field.
#[derive(Debug, Clone)]
pub enum FieldValue {
    Text(Input),
    Bool(bool),
    /// Index into the question's choices; `None` = no answer.
    Choice(Option<usize>),
    /// List items, the selected item, and the line a new item is typed into.
    List {
        items: Vec<String>,
        selected: usize,
        input: Input,
    },
}

/// One field of the Variables form.
#[derive(Debug, Clone)]
pub struct Field {
    pub question: Question,
    pub value: FieldValue,
    /// A secret's value is shown in clear.
    pub revealed: bool,
    /// The answer is empty and will be generated (or reused from the secret store) at run time.
    pub generated_later: bool,
    /// The validation message of the current value.
    pub error: Option<String>,
}

impl Field {
    pub fn new(question: &Question) -> Self {
        let d = question
            .default
            .clone()
            .or_else(|| question.playbook_default.clone());
        let text = |v: &Option<Value>| match v {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let value = match question.kind {
            QuestionType::Boolean => FieldValue::Bool(matches!(d, Some(Value::Bool(true)))),
            QuestionType::MultipleChoice => FieldValue::Choice(
                d.as_ref()
                    .and_then(|v| v.as_str())
                    .and_then(|s| question.choices.iter().position(|c| c == s)),
            ),
            QuestionType::List | QuestionType::MultiSelect => {
                let items: Vec<String> = match &d {
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string()))
                        .collect(),
                    _ => Vec::new(),
                };
                FieldValue::List {
                    selected: items.len().saturating_sub(1),
                    items,
                    input: Input::default(),
                }
            }
            _ => FieldValue::Text(Input::new(text(&d))),
        };
        let mut f = Self {
            question: question.clone(),
            value,
            revealed: false,
            generated_later: false,
            error: None,
        };
        f.revalidate();
        f
    }

    /// The answer as a JSON value (before validation).
    pub fn raw(&self) -> Value {
        match &self.value {
            FieldValue::Text(i) => Value::String(i.value().to_string()),
            FieldValue::Bool(b) => Value::Bool(*b),
            FieldValue::Choice(c) => c
                .and_then(|i| self.question.choices.get(i))
                .map(|s| Value::String(s.clone()))
                .unwrap_or(Value::Null),
            FieldValue::List { items, .. } => {
                Value::Array(items.iter().cloned().map(Value::String).collect())
            }
        }
    }

    /// True when the answer is empty and the question generates a value at run time.
    pub fn will_generate(&self) -> bool {
        self.question.generate.is_some()
            && matches!(&self.value, FieldValue::Text(i) if i.value().is_empty())
    }

    /// Validates the current answer with the survey's rules.
    pub fn revalidate(&mut self) {
        self.generated_later = self.will_generate();
        self.error = if self.generated_later {
            None
        } else {
            survey::validate(&self.question, &self.raw()).err()
        };
    }

    /// The validated answer, `None` when empty (or generated at run time).
    pub fn answer(&self) -> Option<Value> {
        if self.generated_later {
            return None;
        }
        match survey::validate(&self.question, &self.raw()) {
            Ok(Value::Null) | Err(_) => None,
            Ok(Value::String(s)) if s.is_empty() && !self.question.required => None,
            Ok(v) => Some(v),
        }
    }

    /// What the Review step shows for this answer (secrets masked).
    pub fn display(&self) -> String {
        if self.generated_later {
            return "(generated / reused from the secret store)".into();
        }
        match self.answer() {
            None => "(not set)".into(),
            Some(_) if self.question.secret => "••••••••".into(),
            Some(Value::String(s)) => s,
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string()))
                .collect::<Vec<_>>()
                .join(", "),
            Some(v) => v.to_string(),
        }
    }
}

impl Field {
    /// Sets the answer from a (saved) value; values that do not fit the field are ignored.
    pub fn set(&mut self, v: &Value) {
        let text = |v: &Value| v.as_str().map(str::to_string).unwrap_or(v.to_string());
        match (&mut self.value, v) {
            (FieldValue::Text(i), Value::String(_) | Value::Number(_)) => *i = Input::new(text(v)),
            (FieldValue::Bool(b), Value::Bool(x)) => *b = *x,
            (FieldValue::Choice(c), Value::String(s)) => {
                if let Some(i) = self.question.choices.iter().position(|x| x == s) {
                    *c = Some(i);
                }
            }
            (
                FieldValue::List {
                    items, selected, ..
                },
                Value::Array(a),
            ) => {
                *items = a.iter().map(text).collect();
                *selected = items.len().saturating_sub(1);
            }
            _ => return,
        }
        self.revalidate();
    }
}

/// The Variables form.
#[derive(Debug, Clone, Default)]
pub struct Form {
    pub fields: Vec<Field>,
    pub focus: usize,
    /// The playbook the form was built for (going back and forth keeps the answers).
    pub playbook: Option<PathBuf>,
}

impl Form {
    /// The form of a survey, with `answers` (of an earlier session) filled in; secrets never are.
    pub fn from_survey(
        survey: Option<&Survey>,
        playbook: &Path,
        answers: &Map<String, Value>,
    ) -> Self {
        let mut fields: Vec<Field> = survey
            .map(|s| s.questions.iter().map(Field::new).collect())
            .unwrap_or_default();
        for f in &mut fields {
            if !f.question.secret
                && let Some(v) = answers.get(&f.question.variable)
            {
                f.set(v);
            }
        }
        Self {
            fields,
            focus: 0,
            playbook: Some(playbook.to_path_buf()),
        }
    }

    /// The non-secret answers, to start the next session from.
    pub fn saved_answers(&self) -> Map<String, Value> {
        self.fields
            .iter()
            .filter(|f| !f.question.secret)
            .filter_map(|f| f.answer().map(|v| (f.question.variable.clone(), v)))
            .collect()
    }

    pub fn first_invalid(&self) -> Option<usize> {
        self.fields.iter().position(|f| f.error.is_some())
    }

    /// The answers to pass to the run: only those that differ from the survey's default (and are
    /// not empty lists), so values the inventory sets for a group are not overridden by the
    /// survey's defaults — `prepare_run` fills in defaults where nothing else defines a variable.
    /// The playbook's own defaults (of a derived form) are never passed either.
    pub fn values(&self) -> Map<String, Value> {
        self.fields
            .iter()
            .filter_map(|f| {
                let v = f.answer()?;
                if Some(&v) == f.question.default.as_ref()
                    || Some(&v) == f.question.playbook_default.as_ref()
                    || matches!(&v, Value::Array(a) if a.is_empty() && !f.question.required)
                {
                    return None;
                }
                Some((f.question.variable.clone(), v))
            })
            .collect()
    }
}

/// What a key did to a form.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FormKey {
    Stay,
    /// Ctrl-S, or Enter past the last field: the form is done (if valid).
    Submit,
}

/// Keys of a survey form (the Variables step and the host form): moving between fields, editing
/// the focused one, validating it as it changes.
/// Keys without an intent (and intents a field does not take) are typed into a text field.
pub(crate) fn form_key(
    form: &mut Form,
    key: KeyEvent,
    intent: Option<Intent>,
    message: &mut Option<String>,
) -> FormKey {
    let n = form.fields.len();
    match intent {
        Some(Intent::Submit) => return FormKey::Submit,
        Some(Intent::NextField) => {
            if form.focus + 1 < n {
                form.focus += 1;
            }
            return FormKey::Stay;
        }
        Some(Intent::PrevField) => {
            form.focus = form.focus.saturating_sub(1);
            return FormKey::Stay;
        }
        _ => {}
    }
    if n == 0 {
        return if intent == Some(Intent::Advance) {
            FormKey::Submit
        } else {
            FormKey::Stay
        };
    }
    let last = form.focus + 1 >= n;
    let Some(field) = form.fields.get_mut(form.focus) else {
        return FormKey::Stay;
    };
    let mut advance = false;
    match &mut field.value {
        FieldValue::Text(input) => match intent {
            Some(Intent::Advance) => advance = true,
            Some(Intent::Reveal) if field.question.secret => {
                field.revealed = !field.revealed;
            }
            Some(Intent::Generate) => {
                if field.question.secret || field.question.generate.is_some() {
                    let len = field
                        .question
                        .generate
                        .map(|g| g.length)
                        .unwrap_or(DEFAULT_GENERATED_LENGTH);
                    let s = crate::secrets::generate_password(len);
                    *input = Input::new(s.expose().to_string());
                    *message = Some(format!("generated a {len}-character password"));
                } else {
                    *message = Some("only secrets can be generated".into());
                }
            }
            _ => {
                if let Some(req) = to_input_request(&Event::Key(key)) {
                    input.handle(req);
                }
            }
        },
        FieldValue::Bool(b) => match intent {
            Some(Intent::ChoiceNext | Intent::ChoicePrev) => *b = !*b,
            Some(Intent::SetTrue) => *b = true,
            Some(Intent::SetFalse) => *b = false,
            Some(Intent::Advance) => advance = true,
            _ => {}
        },
        FieldValue::Choice(c) => {
            let len = field.question.choices.len();
            match intent {
                Some(Intent::ChoiceNext) if len > 0 => {
                    *c = Some(c.map(|i| (i + 1) % len).unwrap_or(0));
                }
                Some(Intent::ChoicePrev) if len > 0 => {
                    *c = Some(c.map(|i| (i + len - 1) % len).unwrap_or(len - 1));
                }
                Some(Intent::Advance) => advance = true,
                _ => {}
            }
        }
        FieldValue::List {
            items,
            selected,
            input,
        } => match intent {
            Some(Intent::Advance) if input.value().trim().is_empty() => advance = true,
            Some(Intent::Advance) => {
                let v = input.value().trim().to_string();
                items.push(v);
                *selected = items.len() - 1;
                *input = Input::default();
            }
            Some(Intent::ItemRemove) => {
                if *selected < items.len() {
                    items.remove(*selected);
                    *selected = (*selected).min(items.len().saturating_sub(1));
                }
            }
            Some(Intent::ItemEdit) => {
                if *selected < items.len() {
                    let v = items.remove(*selected);
                    *input = Input::new(v);
                    *selected = (*selected).min(items.len().saturating_sub(1));
                }
            }
            Some(Intent::ItemPrev) => *selected = selected.saturating_sub(1),
            Some(Intent::ItemNext) => {
                if *selected + 1 < items.len() {
                    *selected += 1;
                }
            }
            _ => {
                if let Some(req) = to_input_request(&Event::Key(key)) {
                    input.handle(req);
                }
            }
        },
    }
    field.revalidate();
    if advance {
        if last {
            return FormKey::Submit;
        }
        form.focus += 1;
    }
    FormKey::Stay
}

/// Whether every field is valid; else the first invalid one gets the focus and its message.
pub(crate) fn form_valid(form: &mut Form, message: &mut Option<String>) -> bool {
    for f in &mut form.fields {
        f.revalidate();
    }
    let Some(i) = form.first_invalid() else {
        return true;
    };
    form.focus = i;
    let f = &form.fields[i];
    *message = Some(format!(
        "{}: {}",
        f.question.name,
        f.error.clone().unwrap_or_default()
    ));
    false
}
