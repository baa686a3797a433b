//! Step 1, Playbook: the playbooks found, filtered with `/`, one chosen.

use std::path::{Path, PathBuf};

use crossterm::event::KeyEvent;
use tui_input::Input;

use super::filter_key;
use crate::app::effects::Effect;
use crate::app::form::Form;
use crate::app::keymap::Intent;
use crate::app::state::{State, Step};
use crate::playbook::survey::{self, Survey};

/// A playbook found in `playbooks/`.
#[derive(Debug, Clone)]
pub struct PlaybookEntry {
    pub path: PathBuf,
    pub title: String,
    pub description: String,
    pub survey: Option<Survey>,
    /// Why the survey could not be read.
    pub error: Option<String>,
    /// It writes the SLM backend's database settings: its databases get their schema
    /// migrations after a successful run, and Health watches them.
    pub deploys_databases: bool,
}

impl PlaybookEntry {
    /// Reads the playbook's variable spec (its survey sidecar, else the form derived from the
    /// playbook) for its title, description and questions; without a sidecar the description
    /// names its plays.
    pub fn load(path: &Path) -> Self {
        let file = path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (survey, error) = match survey::load_for(path) {
            Ok(s) => (s, None),
            Err(e) => (None, Some(e.to_string())),
        };
        let title = survey
            .as_ref()
            .map(|s| s.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| file.clone());
        let description = match &survey {
            Some(s) => s.description.clone(),
            None => {
                let plays = crate::playbook::varspec::play_names(path);
                if plays.is_empty() {
                    String::new()
                } else {
                    format!("Plays: {}.", plays.join("; "))
                }
            }
        };
        Self {
            path: path.to_path_buf(),
            title,
            description,
            survey,
            error,
            deploys_databases: crate::health::deployment::writes_backend_settings(path),
        }
    }

    /// The playbooks directly in `dir` or below it (see [`Self::scan_dirs`]).
    pub fn scan(dir: &Path) -> Vec<Self> {
        Self::scan_dirs(&[dir.to_path_buf()])
    }

    /// The playbooks found recursively in `dirs` (`--playbooks`, the config's `playbook_dirs`):
    /// YAML lists of plays (`hosts:`) or `import_playbook:`s, not in roles/, group_vars/,
    /// host_vars/ or inventory directories, not surveys; sorted per directory.
    pub fn scan_dirs(dirs: &[PathBuf]) -> Vec<Self> {
        crate::playbook::varspec::find_playbooks(dirs)
            .iter()
            .map(|p| Self::load(p))
            .collect()
    }

    /// Whether the form comes from the playbook itself, not from a survey sidecar.
    pub fn derived(&self) -> bool {
        self.survey.as_ref().is_some_and(|s| s.derived)
    }
}

pub(crate) fn playbook_key(
    state: &mut State,
    key: KeyEvent,
    intent: Option<Intent>,
) -> Vec<Effect> {
    if state.filtering {
        filter_key(&mut state.filter, &mut state.filtering, key, intent);
        clamp_selection(state);
        return Vec::new();
    }
    let visible = state.visible_playbooks();
    let pos = visible.iter().position(|i| *i == state.selected);
    match intent {
        Some(Intent::Filter) => state.filtering = true,
        Some(Intent::Up) => {
            if let Some(p) = pos
                && p > 0
            {
                state.selected = visible[p - 1];
            }
        }
        Some(Intent::Down) => match pos {
            Some(p) if p + 1 < visible.len() => state.selected = visible[p + 1],
            None if !visible.is_empty() => state.selected = visible[0],
            _ => {}
        },
        Some(Intent::Next) => return choose_playbook(state),
        Some(Intent::Back) if !state.filter.value().is_empty() => state.filter = Input::default(),
        _ => state.dirty = false,
    }
    Vec::new()
}

fn clamp_selection(state: &mut State) {
    let visible = state.visible_playbooks();
    if !visible.contains(&state.selected)
        && let Some(first) = visible.first()
    {
        state.selected = *first;
    }
}

pub(crate) fn choose_playbook(state: &mut State) -> Vec<Effect> {
    let visible = state.visible_playbooks();
    if !visible.contains(&state.selected) {
        state.message = Some("no playbook selected".into());
        return Vec::new();
    }
    let Some(entry) = state.playbooks.get(state.selected) else {
        return Vec::new();
    };
    if let Some(e) = &entry.error {
        state.message = Some(format!("cannot use this playbook: {e}"));
        return Vec::new();
    }
    if state.form.playbook.as_deref() != Some(entry.path.as_path()) {
        let empty = serde_json::Map::new();
        let answers = if state.session.playbook.as_deref() == Some(entry.path.as_path()) {
            &state.session.answers
        } else {
            &empty
        };
        state.form = Form::from_survey(entry.survey.as_ref(), &entry.path, answers);
    }
    state.chosen = Some(state.selected);
    state.step = Step::Variables;
    Vec::new()
}
