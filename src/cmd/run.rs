//! `slm-wizard run`: a playbook headless, events printed as text or JSON and journaled.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use super::exit;
use super::stdout::CliStdout;
use super::{bad_input, read_secret, vault_password};
use crate::cli::RunArgs;
use crate::engine::choose::{ChoiceError, Chosen};
use crate::engine::output::{Journal, Printer, json_line};
use crate::error::InputError;
use crate::prepare::{self, PrepareError, PrepareOptions};
use crate::{engine, secrets};

pub async fn run(args: RunArgs) -> ExitCode {
    let config = match crate::config::load() {
        Ok(c) => c,
        Err(e) => return bad_input(&e),
    };
    let engine_choice = args.engine.or(config.engine).unwrap_or_default();
    engine::ansible::remove_stale_dirs();
    let vault_password = match vault_password(&args.vault_password_file) {
        Ok(p) => p,
        Err(e) => return bad_input(&e),
    };
    let mut request = engine::RunRequest {
        playbook: args.playbook.clone(),
        inventory: args.inventory.clone(),
        extra_vars: args.extra_vars.clone(),
        limit: args.limit.clone(),
        tags: args.tags.clone(),
        skip_tags: args.skip_tags.clone(),
        start_at_task: args.start_at_task.clone(),
        check: args.check,
        diff: args.diff,
        forks: args.forks,
        vault_password,
        accept_new_host_keys: args.accept_new_host_keys,
        connect_timeout: Duration::from_secs(args.connect_timeout),
        command_timeout: (args.command_timeout > 0)
            .then(|| Duration::from_secs(args.command_timeout)),
        ..Default::default()
    };
    // Listings ask nothing (they run no play); the native engine asks on the terminal (the
    // ansible engine's ansible-playbook has none: its questions must be answered up front).
    if engine_choice != crate::config::Engine::Ansible {
        request.prompter = Some(super::prompt::terminal(args.json));
    }
    if args.syntax_check || args.list_hosts || args.list_tasks || args.list_tags {
        return super::listing::run(&args, request, engine_choice, &config);
    }
    // An encrypted key without a passphrase is unlocked by asking, as OpenSSH does.
    if std::io::stdin().is_terminal() {
        crate::transport::ssh::set_passphrase_prompt(|path| {
            read_secret(&format!("Enter passphrase for key '{}': ", path.display())).ok()
        });
    }
    // Asked once up front, as ansible-playbook does: hosts connect in parallel afterwards.
    // ansible.cfg's ask_pass / become_ask_pass ask as -k / -K do.
    let cfg = match crate::playbook::ansible_cfg::load_for(&args.playbook) {
        Ok(c) => c,
        Err(e) => return bad_input(&e),
    };
    for (wanted, var, prompt) in [
        (
            args.ask_pass || cfg.ask_pass,
            "ansible_password",
            "SSH password: ",
        ),
        (
            args.ask_become_pass || cfg.become_ask_pass,
            "ansible_become_password",
            "BECOME password: ",
        ),
    ] {
        if !wanted {
            continue;
        }
        match read_secret(prompt) {
            Ok(pw) => {
                request
                    .extra_values
                    .insert(var.into(), serde_json::Value::String(pw));
            }
            Err(e) => {
                return bad_input(&InputError::new(format!(
                    "{}: {e}",
                    prompt.trim_end_matches(": ")
                )));
            }
        }
    }
    // One real run per deployment at a time (a dry run changes nothing and takes no lock);
    // taken before the survey, which may store generated secrets.
    let mut run_lock = if args.check {
        None
    } else {
        match crate::lock::acquire("run", &args.playbook, args.inventory.as_deref()) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("ERROR! {e}");
                return ExitCode::from(exit::LOCKED);
            }
        }
    };
    let survey_secrets = match apply_survey(&mut request, args.no_generate).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let chosen = match choose_engine(engine_choice, &request, &config, &survey_secrets) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (tx, mut rx) = crate::engine::event_channel();
    let cancel = engine::Cancel::default();
    let ctrl_c = cancel.clone();
    let pipe_closed = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nslm-wizard: cancelling (no new tasks will start)…");
            ctrl_c.cancel();
            // A second Ctrl-C kills what runs (the ansible engine's process group).
            if tokio::signal::ctrl_c().await.is_ok() {
                ctrl_c.kill();
            }
        }
    });
    let mut out = CliStdout::noting();
    // Sent right after playbook_start (the journal and --json begin with it).
    let mut engine_event;
    let handle = match chosen {
        Chosen::Native(plan) => {
            for s in &survey_secrets {
                plan.redactor.add(s.expose());
            }
            engine_event = Some(engine::RunEvent::Engine {
                name: "native".into(),
                reason: None,
            });
            let connector = engine::connect::connector(engine::connect::ConnectOptions {
                // host_key_checking = False: new keys are recorded unverified (the run warns).
                accept_new_host_keys: args.accept_new_host_keys
                    || !plan.ansible_cfg.host_key_checking,
                connect_timeout: Duration::from_secs(args.connect_timeout),
            });
            tokio::spawn(async move {
                Ok::<_, InputError>(engine::run::run(plan, connector, tx, cancel).await)
            })
        }
        Chosen::Ansible { path, reason } => {
            if request.prompter.is_some()
                && let Err(e) = engine::plan::check_prompts_answered(&request)
            {
                return bad_input(&e);
            }
            engine_event = Some(engine::RunEvent::Engine {
                name: "ansible".into(),
                reason: reason.clone(),
            });
            if let Some(r) = &reason {
                eprintln!("engine: ansible (the native engine refused the playbook: {r})");
            }
            let opts = engine::ansible::AnsibleOptions {
                ansible_playbook: path,
                secrets: survey_secrets,
            };
            tokio::spawn(engine::ansible::run(request, opts, tx, cancel))
        }
    };
    let mut journal = Journal::create(&args.playbook)
        .map_err(|e| eprintln!("slm-wizard: journal disabled: {e}"))
        .ok();
    if let (Some(l), Some(j)) = (run_lock.as_mut(), journal.as_ref()) {
        l.set_journal(&j.path);
    }
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    // A closed stdout (`| head -1`) cancels the run as Ctrl-C does: the running tasks end, no new
    // ones start, the journal keeps every event, and the exit is quiet.
    let mut printer = Printer::new(out.clone(), color, args.verbose, args.diff);
    while let Some(ev) = rx.recv().await {
        let started = matches!(ev, engine::RunEvent::PlaybookStart { .. });
        let engine_ev = if started { engine_event.take() } else { None };
        for ev in std::iter::once(ev).chain(engine_ev) {
            if let Some(j) = journal.as_mut() {
                j.record(&ev);
            }
            if out.is_closed() {
                continue;
            }
            if args.json {
                out.line(&json_line(&ev));
            } else {
                printer.handle(&ev);
            }
            if out.is_closed() {
                pipe_closed.cancel();
            }
        }
    }
    let summary = match handle.await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            // ansible refused the input before the playbook started: say which engine did.
            if let (Some(ev), true) = (engine_event.take(), args.json) {
                out.line(&json_line(&ev));
            }
            return bad_input(&e);
        }
        Err(e) => {
            eprintln!("slm-wizard: the run stopped unexpectedly: {e}");
            return ExitCode::from(1);
        }
    };
    if out.is_closed() {
        return ExitCode::from(exit::CLOSED_PIPE);
    }
    if let Some(j) = &journal
        && !args.json
    {
        eprintln!("journal: {}", j.path.display());
    }
    ExitCode::from(summary.exit_code() as u8)
}

/// [`engine::choose::choose`], its refusals printed (exit 5).
fn choose_engine(
    choice: crate::config::Engine,
    request: &engine::RunRequest,
    config: &crate::config::Config,
    secrets: &[secrets::Secret],
) -> Result<Chosen, ExitCode> {
    let configured = config.ansible_playbook.as_deref();
    match engine::choose::choose(choice, request, configured, secrets) {
        Ok(c) => Ok(c),
        Err(ChoiceError::Input(e)) => Err(bad_input(&e)),
        Err(ChoiceError::NoAnsible {
            refusal: Some(r),
            hint,
        }) => {
            eprintln!("ERROR! {r}");
            eprintln!(
                "the native engine cannot run this playbook; the ansible engine could: {hint}"
            );
            Err(ExitCode::from(exit::BAD_INPUT))
        }
        Err(ChoiceError::NoAnsible {
            refusal: None,
            hint,
        }) => Err(bad_input(&InputError::new(hint))),
    }
}

/// The survey's part of a run: checks `-e` answers, reuses or generates the secrets of
/// `generate: password` questions (stored per deployment; never by a dry run) and adds them to
/// `extra_values`. A real run that would give an existing role a new password stops here (exit 5).
/// Returns every secret involved, for the plan's redactor; errors are already reported.
pub async fn apply_survey(
    request: &mut engine::RunRequest,
    no_generate: bool,
) -> Result<Vec<secrets::Secret>, ExitCode> {
    let opts = PrepareOptions {
        generate: !no_generate,
    };
    match prepare::apply_survey(request, opts, None, true).await {
        Ok(None) => Ok(Vec::new()),
        Ok(Some(applied)) => {
            let p = &applied.prepared;
            if let Some(path) = &p.store_path {
                for v in &p.generated {
                    if p.stored {
                        eprintln!("generated {v} (stored in {})", path.display());
                    } else {
                        eprintln!("generated {v} for this dry run only (nothing stored)");
                    }
                }
            }
            for n in &p.notes {
                eprintln!("{n}");
            }
            Ok(applied.secrets)
        }
        Err(PrepareError::Input(e)) => Err(bad_input(&e)),
        Err(PrepareError::RoleExists(e)) => {
            eprintln!("ERROR! {e}");
            Err(ExitCode::from(exit::BAD_INPUT))
        }
        Err(PrepareError::Store(e)) => {
            eprintln!("ERROR! {e}");
            Err(ExitCode::from(1))
        }
    }
}
