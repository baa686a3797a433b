//! `run --syntax-check | --list-hosts | --list-tasks | --list-tags`: the plan printed as
//! ansible-playbook prints it, nothing run. The engine choice applies as for a run: the native
//! plan (its refusals are errors, exit 5, as for a run); with `--engine ansible`, or `auto` when
//! the native engine refuses what it does not implement, ansible-playbook itself answers.

use std::process::ExitCode;

use super::{bad_input, exit};
use crate::cli::RunArgs;
use crate::engine::RunRequest;
use crate::engine::choose::{self, ChoiceError, Chosen};
use crate::engine::listing::{Listing, render};

pub fn run(
    args: &RunArgs,
    mut request: RunRequest,
    choice: crate::config::Engine,
    config: &crate::config::Config,
) -> ExitCode {
    // ansible-playbook lists every task, whatever --start-at-task says.
    request.start_at_task = None;
    // As ansible-playbook: --list-tags without --tags/--skip-tags lists the `never` ones too.
    if args.list_tags && request.tags.is_empty() && request.skip_tags.is_empty() {
        request.tags = vec!["never".into(), "all".into()];
    }
    let what = Listing {
        hosts: args.list_hosts,
        tasks: args.list_tasks,
        tags: args.list_tags,
    };
    match choose::choose(choice, &request, config.ansible_playbook.as_deref(), &[]) {
        Ok(Chosen::Native(plan)) => {
            print!("{}", render(&plan, what));
            ExitCode::from(exit::OK)
        }
        Ok(Chosen::Ansible { path, reason }) => {
            if let Some(r) = reason {
                eprintln!("engine: ansible (the native engine refused the playbook: {r})");
            }
            ansible_playbook(&path, args)
        }
        Err(ChoiceError::Input(e)) => bad_input(&e),
        Err(e) => {
            eprintln!("ERROR! {e}");
            ExitCode::from(exit::BAD_INPUT)
        }
    }
}

/// The same question to ansible-playbook: the command line's own options, passed on as given
/// (nothing is added to its argv that was not already on ours).
fn ansible_playbook(path: &std::path::Path, args: &RunArgs) -> ExitCode {
    let mut cmd = std::process::Command::new(path);
    if let Some(i) = &args.inventory {
        cmd.arg("-i").arg(i);
    }
    for e in &args.extra_vars {
        cmd.arg("-e").arg(e);
    }
    if let Some(l) = &args.limit {
        cmd.arg("--limit").arg(l);
    }
    if !args.tags.is_empty() {
        cmd.arg("--tags").arg(args.tags.join(","));
    }
    if !args.skip_tags.is_empty() {
        cmd.arg("--skip-tags").arg(args.skip_tags.join(","));
    }
    if let Some(f) = &args.vault_password_file {
        cmd.arg("--vault-password-file").arg(f);
    }
    for (on, flag) in [
        (args.syntax_check, "--syntax-check"),
        (args.list_hosts, "--list-hosts"),
        (args.list_tasks, "--list-tasks"),
        (args.list_tags, "--list-tags"),
    ] {
        if on {
            cmd.arg(flag);
        }
    }
    cmd.arg(&args.playbook);
    match cmd.status() {
        Ok(s) => ExitCode::from(s.code().map_or(exit::FAILED, |c| c.clamp(0, 255) as u8)),
        Err(e) => {
            eprintln!("ERROR! cannot start {}: {e}", path.display());
            ExitCode::from(exit::FAILED)
        }
    }
}
