//! One module per wizard step.

pub mod execute;
pub mod health;
pub mod hosts;
pub mod playbooks;
pub mod review;
pub mod variables;
