//! `slm-wizard runner export|follow|worker` (the ansible-runner protocol, src/runner/).

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;

use super::exit;
use super::stdout::CliStdout;
use super::{bad_input, print_line, seconds, vault_password};
use crate::cli::{RunnerArgs, RunnerCommand};
use crate::engine::RunEvent;
use crate::engine::output::{Printer, json_line};
use crate::error::InputError;
use crate::runner::stream::{Frame, Reader};

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
                    ExitCode::from(match e.kind {
                        runner::export::ExportFailure::BadInput => exit::BAD_INPUT,
                        runner::export::ExportFailure::Locked => exit::LOCKED,
                        runner::export::ExportFailure::Failed => exit::FAILED,
                    })
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
                    Ok(end) => {
                        if let Some(w) = end.why {
                            eprintln!("slm-wizard: {w}");
                        }
                        for line in &end.recap {
                            print_line(line);
                        }
                        ExitCode::from(u8::try_from(end.code).unwrap_or(1))
                    }
                    Err(e) => {
                        eprintln!("slm-wizard: {e:#}");
                        ExitCode::from(1)
                    }
                };
            }
            let opts = FollowOptions {
                json,
                color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
                verbose,
            };
            let code = match file {
                Some(f) => match std::fs::File::open(&f) {
                    Ok(file) => follow(std::io::BufReader::new(file), opts),
                    Err(e) => {
                        return bad_input(&InputError::new(format!("{}: {e}", f.display())));
                    }
                },
                None => follow(std::io::stdin().lock(), opts),
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

/// How `runner follow` shows the stream.
#[derive(Debug, Clone, Copy)]
pub struct FollowOptions {
    pub json: bool,
    pub color: bool,
    pub verbose: bool,
}

/// Reads an ansible-runner event stream and shows it as `slm-wizard run` shows a run (the text
/// printer, or our events as JSON lines). Returns the exit code `run` would give.
pub fn follow<R: BufRead>(input: R, opts: FollowOptions) -> i32 {
    let mut out = CliStdout::noting();
    let mut printer = Printer::new(out.clone(), opts.color, opts.verbose, true);
    let mut follower = crate::runner::follow::Follower::default();
    let mut reader = Reader::new(input);
    let mut show = |ev: &RunEvent, out: &mut CliStdout| {
        if opts.json {
            out.line(&json_line(ev));
        } else {
            printer.handle(ev);
        }
    };
    loop {
        match reader.next_frame() {
            Ok(Some(Frame::Json(v))) => {
                for ev in follower.translate(&v) {
                    show(&ev, &mut out);
                }
                if follower.saw_eof {
                    break;
                }
            }
            // The artifacts: what they hold came as events already.
            Ok(Some(Frame::Zip(_))) => {}
            Ok(None) => {
                show(
                    &RunEvent::Warning {
                        msg:
                            "the stream ended before its {\"eof\": true} line (the worker stopped?)"
                                .into(),
                    },
                    &mut out,
                );
                break;
            }
            Err(e) => {
                eprintln!("slm-wizard: {e}");
                return 5;
            }
        }
        if out.is_closed() {
            return exit::CLOSED_PIPE.into();
        }
    }
    if follower.stats.is_none()
        && let Some(st) = &follower.status
        && st != "successful"
    {
        eprintln!(
            "slm-wizard: the job ended with status {st}{}",
            follower
                .explanation
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
    if !follower.saw_eof && follower.stats.is_none() {
        return 1;
    }
    follower.exit_code()
}
