//! `slm-wizard` without a subcommand: the wizard in this terminal.

use std::io::IsTerminal;
use std::process::ExitCode;

use super::bad_input;
use crate::engine;

/// `slm-wizard` without a subcommand: the interactive wizard.
pub fn wizard(
    inventory: Option<std::path::PathBuf>,
    playbook: Option<std::path::PathBuf>,
    playbook_dirs: Vec<std::path::PathBuf>,
    engine: Option<crate::config::Engine>,
    runtime: &tokio::runtime::Runtime,
) -> ExitCode {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        eprintln!(
            "slm-wizard: the wizard needs a terminal. Run a playbook headless instead, e.g.:\n  \
             slm-wizard run playbooks/user-management-db.yml -i playbooks/inventory/local.yml"
        );
        return ExitCode::from(2);
    }
    let config = match crate::config::load() {
        Ok(c) => c,
        Err(e) => return bad_input(&e),
    };
    engine::ansible::remove_stale_dirs();
    let defaults = crate::tui::Options::default();
    let playbook_dir = playbook
        .as_deref()
        .and_then(|p| p.parent())
        .filter(|d| !d.as_os_str().is_empty() && d.is_dir())
        .map_or(defaults.playbook_dir, |d| d.to_path_buf());
    // --playbooks wins over the config file's playbook_dirs.
    let playbook_dirs = if playbook_dirs.is_empty() {
        config.playbook_dirs.clone()
    } else {
        playbook_dirs
    };
    let opts = crate::tui::Options {
        playbook_dir,
        playbook_dirs,
        inventory,
        playbook,
        engine: engine.or(config.engine).unwrap_or_default(),
        ..defaults
    };
    match runtime.block_on(crate::tui::run(opts)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("slm-wizard: {e:#}");
            ExitCode::from(1)
        }
    }
}
