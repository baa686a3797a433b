//! slm-wizard: sets up and watches the PostgreSQL user-management databases of the SLM platform.
//! The library holds everything; `main.rs` is the command line on top.

pub mod app;
pub mod compat;
pub mod config;
pub mod db;
pub mod engine;
pub mod error;
pub mod fsutil;
pub mod health;
pub mod inventory;
pub mod lock;
pub mod playbook;
pub mod runner;
pub mod secrets;
pub mod template;
pub mod transport;
pub mod tui;
pub mod ui;
pub mod vault;
