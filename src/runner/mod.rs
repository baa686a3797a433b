//! Fleets: ansible-runner's private data dirs and streaming protocol (`slm-wizard runner …`).
//! See README "Fleets" for what was tested against the real ansible-runner.

pub mod emit;
pub mod export;
pub mod follow;
pub mod stream;
pub mod worker;
