//! One module per wizard step: its part of the state and how it answers keys and actions.

use crossterm::event::{Event, KeyEvent};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;

use super::keymap::Intent;
use crate::engine::Status;

pub mod execute;
pub mod health;
pub mod host_form;
pub mod hosts;
pub mod playbook;
pub mod review;
pub mod variables;

/// Typing a `/` filter: Enter keeps it, Esc clears it, other keys edit it.
pub(crate) fn filter_key(
    filter: &mut Input,
    typing: &mut bool,
    key: KeyEvent,
    intent: Option<Intent>,
) {
    match intent {
        Some(Intent::Keep) => *typing = false,
        Some(Intent::Back) => {
            *typing = false;
            *filter = Input::default();
        }
        _ => {
            if let Some(req) = to_input_request(&Event::Key(key)) {
                filter.handle(req);
            }
        }
    }
}

/// Counts one result into a recap.
pub(crate) fn bump(c: &mut crate::engine::events::Counts, s: Status) {
    match s {
        Status::Ok => c.ok += 1,
        Status::Changed => {
            // As ansible's recap: `ok` counts changed results too.
            c.ok += 1;
            c.changed += 1;
        }
        Status::Failed => c.failed += 1,
        Status::Skipped => c.skipped += 1,
        Status::Unreachable => c.unreachable += 1,
    }
}

#[cfg(test)]
mod execute_tests;
#[cfg(test)]
mod health_tests;
#[cfg(test)]
mod hosts_tests;
#[cfg(test)]
mod playbook_tests;
#[cfg(test)]
mod review_tests;
#[cfg(test)]
mod variables_tests;
