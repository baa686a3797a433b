//! `slm-wizard runner export|follow|worker` (the ansible-runner protocol, src/runner/).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use super::{bad_input, print_line, seconds, vault_password};
use crate::cli::{RunnerArgs, RunnerCommand};
use crate::error::InputError;

/// `slm-wizard runner export|follow|worker` (src/runner/).
pub async fn runner_command(args: RunnerArgs) -> ExitCode {
    use crate::runner;
    match args.command {
        RunnerCommand::Export {
            dir,
            playbook,
            inventory,
            extra_vars,
            vault_password_file,
            no_generate,
        } => {
            let vault_password = match vault_password(&vault_password_file) {
                Ok(p) => p,
                Err(e) => return bad_input(&e),
            };
            let opts = runner::export::ExportOptions {
                dir: dir.clone(),
                playbook: playbook.clone(),
                inventory,
                extra_vars,
                vault_password,
                no_generate,
            };
            match runner::export::export(&opts).await {
                Ok(done) => {
                    for n in &done.notes {
                        eprintln!("{n}");
                    }
                    let name = playbook.file_name().unwrap_or_default().to_string_lossy();
                    print_line(&format!(
                        "exported to {} ({} secret variables vault-encrypted in project/{}, vault password in {}); run it with:\n  ansible-runner run {} -p {name}",
                        dir.display(),
                        done.secret_vars.len(),
                        runner::export::SECRETS_FILE,
                        dir.join(runner::export::VAULT_PASSWORD_FILE).display(),
                        dir.display(),
                    ));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ERROR! {}", e.msg);
                    ExitCode::from(e.code)
                }
            }
        }
        RunnerCommand::Follow {
            file,
            json,
            text,
            verbose,
        } => {
            let file = file.filter(|f| f.as_os_str() != "-");
            if !json && !text && std::io::stdout().is_terminal() {
                let input: Box<dyn std::io::BufRead + Send> = match &file {
                    Some(f) => match std::fs::File::open(f) {
                        Ok(file) => Box::new(std::io::BufReader::new(file)),
                        Err(e) => {
                            return bad_input(&InputError::new(format!("{}: {e}", f.display())));
                        }
                    },
                    None => Box::new(std::io::BufReader::new(std::io::stdin())),
                };
                return match crate::tui::follow::follow_in_terminal(input).await {
                    Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
                    Err(e) => {
                        eprintln!("slm-wizard: {e:#}");
                        ExitCode::from(1)
                    }
                };
            }
            let opts = runner::FollowOptions {
                json,
                color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
                verbose,
            };
            let code = match file {
                Some(f) => match std::fs::File::open(&f) {
                    Ok(file) => runner::follow(std::io::BufReader::new(file), opts),
                    Err(e) => {
                        return bad_input(&InputError::new(format!("{}: {e}", f.display())));
                    }
                },
                None => runner::follow(std::io::stdin().lock(), opts),
            };
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        RunnerCommand::Worker {
            connect_timeout,
            keepalive_seconds,
        } => {
            let opts = runner::worker::WorkerOptions {
                connect_timeout: Duration::from_secs(connect_timeout),
                keepalive: (keepalive_seconds.is_finite() && keepalive_seconds > 0.0)
                    .then(|| seconds(keepalive_seconds, 0.1)),
            };
            let input = std::io::BufReader::new(std::io::stdin());
            let code = runner::worker::run_worker(input, std::io::stdout(), opts).await;
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}
