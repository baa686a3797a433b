//! The wizard's core: state, actions, the pure `update` function and the effects it asks for.
//! See DESIGN.md §2: `update(&mut State, Action) -> Vec<Effect>` holds all wizard logic.
//!
//! One module per wizard step (`steps/`): its sub-state and how it answers keys and actions.
//! `state` holds what all steps share (the step, dialogs, the session); `update` routes each
//! action to the step it belongs to.

pub mod action;
pub mod effects;
#[cfg(test)]
pub mod fixture;
pub mod form;
pub mod host_nav;
pub mod keymap;
pub mod state;
pub mod steps;
pub mod update;

pub use action::Action;
pub use effects::Effect;
pub use state::{State, Step};
pub use update::update;

#[cfg(test)]
mod tests;
