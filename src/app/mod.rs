//! The wizard's core: state, actions, the pure `update` function and the effects it asks for.
//! See DESIGN.md §2: `update(&mut State, Action) -> Vec<Effect>` holds all wizard logic.

pub mod action;
pub mod effects;
#[cfg(test)]
pub mod fixture;
pub mod state;
pub mod update;

#[cfg(test)]
mod tests;

pub use action::Action;
pub use effects::Effect;
pub use state::{State, Step};
pub use update::update;
