//! slm-wizard: sets up and watches the PostgreSQL user-management databases of the SLM platform.
//! The library holds everything, the command layer (`cmd`) included, so tests link it;
//! `main.rs` only parses the command line and dispatches.

pub mod app;
pub mod cli;
pub mod cmd;
pub mod compat;
pub mod config;
pub mod db;
pub mod engine;
pub mod error;
pub mod fsutil;
pub mod health;
pub mod inventory;
pub mod lock;
pub mod paths;
pub mod playbook;
pub mod prepare;
pub mod process;
pub mod runner;
pub mod secrets;
pub mod template;
pub mod transport;
pub mod tui;
pub mod ui;
