//! The engine: plan (load + check) → run (hosts in parallel) → a stream of `RunEvent`s.

pub mod ansible;
pub mod channel;
pub mod choose;
pub mod connect;
pub mod diff;
pub mod events;
pub mod history;
pub mod listing;
pub mod modules;
pub mod output;
pub mod plan;
pub mod prompt;
pub mod run;

pub use channel::{EventReceiver, EventSender, event_channel};
pub use events::{RunEvent, Status};
pub use plan::{Plan, RunRequest, plan};
pub use run::{Cancel, RunSummary};
