//! `slm-wizard ansible install|which`.

use std::process::ExitCode;

use super::{bad_input, print_line};
use crate::cli::{self};
use crate::engine;
use crate::error::InputError;

/// `slm-wizard ansible install|which`.
pub fn ansible_command(args: cli::AnsibleArgs) -> ExitCode {
    match args.command {
        cli::AnsibleCommand::Install => match engine::ansible::install() {
            Ok(p) => {
                eprintln!(
                    "installed {} ({})",
                    p.display(),
                    engine::ansible::ANSIBLE_PIN
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ERROR! {e}");
                ExitCode::from(1)
            }
        },
        cli::AnsibleCommand::Which => {
            let config = match crate::config::load() {
                Ok(c) => c,
                Err(e) => return bad_input(&e),
            };
            match engine::ansible::find_ansible_playbook(config.ansible_playbook.as_deref()) {
                Ok(p) => {
                    print_line(&p.display().to_string());
                    ExitCode::SUCCESS
                }
                Err(e) => bad_input(&InputError::new(e)),
            }
        }
    }
}
