//! slm-wizard: sets up and watches the PostgreSQL user-management databases of the SLM platform.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use cli::{
    Cli, Command, DoctorArgs, HealthArgs, InventoryArgs, MigrateArgs, RotateArgs, RunArgs,
    RunnerArgs, RunnerCommand, SecretsArgs, SecretsCommand, SourceArgs,
};
use slm_wizard::engine::output::{CliStdout, EXIT_CLOSED_PIPE, Journal, Printer, json_line};
use slm_wizard::error::InputError;
use slm_wizard::secrets::store::{self, PrepareError, PrepareOptions, SecretStore};
use slm_wizard::{db, engine, health, inventory, playbook, secrets, vault};

/// ansible-playbook's code for bad input.
const EXIT_BAD_INPUT: u8 = 5;

fn main() -> ExitCode {
    slm_wizard::secrets::harden_process();
    slm_wizard::tui::mark_process_start();
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        return wizard(cli.inventory, cli.playbook, cli.playbook_dirs, cli.engine);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("slm-wizard: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match command {
        Command::Run(args) => runtime.block_on(run(args)),
        Command::Inventory(args) => inventory(args),
        Command::Migrate(args) => runtime.block_on(migrate(args)),
        Command::Secrets(args) => secrets_command(args, &runtime),
        Command::Health(args) => runtime.block_on(health_command(args)),
        Command::Doctor(args) => runtime.block_on(doctor_command(args)),
        Command::Ansible(args) => ansible_command(args),
        Command::Runner(args) => runtime.block_on(runner_command(args)),
    }
}

/// `slm-wizard runner export|follow|worker` (src/runner/).
async fn runner_command(args: RunnerArgs) -> ExitCode {
    use slm_wizard::runner;
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
                return match runner::view::follow_in_terminal(input).await {
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

/// Seconds given on the command line as a duration (at least `min` seconds).
fn seconds(s: f64, min: f64) -> Duration {
    Duration::from_secs_f64(if s.is_finite() { s.max(min) } else { min })
}

/// Where `health`, `doctor` and `migrate` find their databases.
fn source(args: SourceArgs) -> Result<health::command::DbSource, ExitCode> {
    let vault_password = vault_password(&args.vault_password_file).map_err(|e| bad_input(&e))?;
    Ok(health::command::DbSource {
        database: args.database,
        env_file: args.env_file,
        migrations_dir: args.migrations_dir,
        inventory: args.inventory,
        playbook: args.playbook,
        extra_vars: args.extra_vars,
        vault_password,
        via_ssh: args.via_ssh,
        accept_new_host_keys: args.accept_new_host_keys,
    })
}

async fn health_command(args: HealthArgs) -> ExitCode {
    let source = match source(args.source) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let opts = health::command::HealthOptions {
        source,
        json: args.json,
        watch: args.watch,
        interval: seconds(args.interval, 0.2),
        timeout: seconds(args.timeout, 0.1),
        slow: Duration::from_millis(args.slow_ms),
        retention: Duration::from_secs(args.retention.max(1)),
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        api_url: args.api_url,
        dashboard: args.watch && std::io::stdout().is_terminal() && std::io::stdin().is_terminal(),
    };
    let mut out = CliStdout::exiting();
    let mut err = std::io::stderr();
    let code =
        health::command::run_health(&opts, db::Settings::from_env(), &mut out, &mut err).await;
    ExitCode::from(code)
}

async fn doctor_command(args: DoctorArgs) -> ExitCode {
    let source = match source(args.source) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let opts = health::doctor::DoctorOptions {
        host: args.host,
        source,
        timeout: seconds(args.timeout, 0.1),
    };
    let mut out = CliStdout::exiting();
    let mut err = std::io::stderr();
    let code =
        health::doctor::run_doctor(&opts, db::Settings::from_env(), &mut out, &mut err).await;
    ExitCode::from(code)
}

/// `slm-wizard` without a subcommand: the interactive wizard.
fn wizard(
    inventory: Option<std::path::PathBuf>,
    playbook: Option<std::path::PathBuf>,
    playbook_dirs: Vec<std::path::PathBuf>,
    engine: Option<slm_wizard::config::Engine>,
) -> ExitCode {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        eprintln!(
            "slm-wizard: the wizard needs a terminal. Run a playbook headless instead, e.g.:\n  \
             slm-wizard run playbooks/user-management-db.yml -i playbooks/inventory/local.yml"
        );
        return ExitCode::from(2);
    }
    let config = match slm_wizard::config::load() {
        Ok(c) => c,
        Err(e) => return bad_input(&e),
    };
    engine::ansible::remove_stale_dirs();
    let defaults = slm_wizard::tui::Options::default();
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
    let opts = slm_wizard::tui::Options {
        playbook_dir,
        playbook_dirs,
        inventory,
        playbook,
        engine: engine.or(config.engine).unwrap_or_default(),
        ..defaults
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("slm-wizard: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(slm_wizard::tui::run(opts)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("slm-wizard: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn vault_password(
    path: &Option<std::path::PathBuf>,
) -> Result<Option<secrets::Secret>, InputError> {
    match path {
        None => Ok(None),
        Some(p) => vault::read_password_file(p)
            .map(|b| {
                Some(secrets::Secret::new(
                    String::from_utf8_lossy(&b).into_owned(),
                ))
            })
            .map_err(|e| InputError::new(format!("--vault-password-file {}: {e}", p.display()))),
    }
}

/// Reads a line from the terminal without echo (the terminal is restored even on error).
fn read_secret(prompt: &str) -> std::io::Result<String> {
    use std::io::{BufRead, Write};
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let stty = |arg: &str| -> std::io::Result<()> {
        let input = tty.try_clone()?;
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(input)
            .status()
            .map(|_| ())
    };
    let mut out = tty.try_clone()?;
    write!(out, "{prompt}")?;
    out.flush()?;
    stty("-echo")?;
    let mut line = String::new();
    let read = std::io::BufReader::new(tty.try_clone()?).read_line(&mut line);
    let restored = stty("echo");
    writeln!(out)?;
    read?;
    restored?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Prints one line to stdout; a closed pipe (`| head`) ends the process quietly.
fn print_line(line: &str) {
    CliStdout::exiting().line(line);
}

fn bad_input(e: &InputError) -> ExitCode {
    eprintln!("ERROR! {e}");
    ExitCode::from(EXIT_BAD_INPUT)
}

fn inventory(args: InventoryArgs) -> ExitCode {
    let pw = match vault_password(&args.vault_password_file) {
        Ok(p) => p,
        Err(e) => return bad_input(&e),
    };
    let vault = engine::plan::make_vault_fn(pw, secrets::Redactor::default());
    let inv = match inventory::Inventory::load(&args.inventory, &vault) {
        Ok(i) => i,
        Err(e) => return bad_input(&e),
    };
    let value = match &args.host {
        Some(h) if inv.hosts.contains_key(h) => serde_json::Value::Object(inv.host_vars(h)),
        Some(h) => {
            return bad_input(&InputError::new(format!(
                "host '{h}' is not in the inventory"
            )));
        }
        None => inv.to_list_json(),
    };
    if !args.list && args.host.is_none() {
        return bad_input(&InputError::new("give --list or --host NAME"));
    }
    print_line(&serde_json::to_string_pretty(&value).unwrap_or_default());
    ExitCode::SUCCESS
}

async fn migrate(args: MigrateArgs) -> ExitCode {
    let source = match source(args.source) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let opts = health::migrate::MigrateOptions {
        source,
        status: args.status,
        connect_timeout: Duration::from_secs(args.connect_timeout.max(1)),
    };
    let mut out = CliStdout::exiting();
    let mut err = std::io::stderr();
    let code =
        health::migrate::run_migrate(&opts, db::Settings::from_env(), &mut out, &mut err).await;
    ExitCode::from(code)
}

async fn run(args: RunArgs) -> ExitCode {
    let config = match slm_wizard::config::load() {
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
    // An encrypted key without a passphrase is unlocked by asking, as OpenSSH does.
    if std::io::stdin().is_terminal() {
        slm_wizard::transport::ssh::set_passphrase_prompt(|path| {
            read_secret(&format!("Enter passphrase for key '{}': ", path.display())).ok()
        });
    }
    // Asked once up front, as ansible-playbook does: hosts connect in parallel afterwards.
    for (wanted, var, prompt) in [
        (args.ask_pass, "ansible_password", "SSH password: "),
        (
            args.ask_become_pass,
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
        match slm_wizard::lock::acquire("run", &args.playbook, args.inventory.as_deref()) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("ERROR! {e}");
                return ExitCode::from(slm_wizard::lock::EXIT_LOCKED);
            }
        }
    };
    let survey_secrets = match apply_survey(&mut request, args.no_generate).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let chosen = match choose_engine(engine_choice, &request, &config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
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
                accept_new_host_keys: args.accept_new_host_keys,
                connect_timeout: Duration::from_secs(args.connect_timeout),
            });
            tokio::spawn(async move {
                Ok::<_, InputError>(engine::run::run(plan, connector, tx, cancel).await)
            })
        }
        Chosen::Ansible { path, reason } => {
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
        return ExitCode::from(EXIT_CLOSED_PIPE);
    }
    if let Some(j) = &journal
        && !args.json
    {
        eprintln!("journal: {}", j.path.display());
    }
    ExitCode::from(summary.exit_code() as u8)
}

/// The engine a run goes to.
enum Chosen {
    Native(Arc<engine::Plan>),
    /// `reason`: the native engine's refusal when `auto` fell back to ansible.
    Ansible {
        path: std::path::PathBuf,
        reason: Option<String>,
    },
}

/// `native`: the native plan or its refusal (exit 5). `auto`: the native plan when it passes,
/// else ansible with the refusal as the reason. `ansible`: ansible. A missing ansible-playbook
/// says how to get it (exit 5).
fn choose_engine(
    choice: slm_wizard::config::Engine,
    request: &engine::RunRequest,
    config: &slm_wizard::config::Config,
) -> Result<Chosen, ExitCode> {
    use slm_wizard::config::Engine;
    let reason = if choice == Engine::Ansible {
        None
    } else {
        match engine::plan(request.clone()) {
            Ok(p) => return Ok(Chosen::Native(Arc::new(p))),
            Err(e) if choice == Engine::Native => return Err(bad_input(&e)),
            Err(e) => Some(e.to_string()),
        }
    };
    match engine::ansible::find_ansible_playbook(config.ansible_playbook.as_deref()) {
        Ok(path) => Ok(Chosen::Ansible { path, reason }),
        Err(hint) => {
            if let Some(r) = &reason {
                eprintln!("ERROR! {r}");
                eprintln!(
                    "the native engine cannot run this playbook; the ansible engine could: {hint}"
                );
                Err(ExitCode::from(EXIT_BAD_INPUT))
            } else {
                Err(bad_input(&InputError::new(hint)))
            }
        }
    }
}

/// `slm-wizard ansible install|which`.
fn ansible_command(args: cli::AnsibleArgs) -> ExitCode {
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
            let config = match slm_wizard::config::load() {
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

/// The survey's part of a run: checks `-e` answers, reuses or generates the secrets of
/// `generate: password` questions (stored per deployment; never by a dry run) and adds them to
/// `extra_values`. A real run that would give an existing role a new password stops here (exit 5).
/// Returns every secret involved, for the plan's redactor; errors are already reported.
async fn apply_survey(
    request: &mut engine::RunRequest,
    no_generate: bool,
) -> Result<Vec<secrets::Secret>, ExitCode> {
    let survey = match playbook::survey::load_for(&request.playbook) {
        Ok(Some(s)) => s,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => return Err(bad_input(&e)),
    };
    let opts = PrepareOptions {
        generate: !no_generate,
    };
    match store::prepare_checked(request, &survey, opts).await {
        Ok(p) => {
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
            request.extra_values.extend(p.values);
            Ok(p.secrets)
        }
        Err(PrepareError::Input(e)) => Err(bad_input(&e)),
        Err(PrepareError::RoleExists(e)) => {
            eprintln!("ERROR! {e}");
            Err(ExitCode::from(EXIT_BAD_INPUT))
        }
        Err(PrepareError::Store(e)) => {
            eprintln!("ERROR! {e}");
            Err(ExitCode::from(1))
        }
    }
}

/// The inventory of a `secrets` command: `-i`, else the wizard's default one when it exists
/// (so `secrets show PLAYBOOK` finds what a deploy with the defaults stored), else none.
fn secrets_inventory(
    playbook: &std::path::Path,
    inventory: Option<&std::path::Path>,
) -> Option<std::path::PathBuf> {
    if let Some(i) = inventory {
        return Some(i.to_path_buf());
    }
    let beside = playbook
        .parent()
        .map(|d| d.join("inventory/local.yml"))
        .filter(|p| p.is_file());
    let default = slm_wizard::tui::default_inventory();
    let found = if default.is_file() {
        Some(default.to_path_buf())
    } else {
        beside
    };
    if let Some(f) = &found {
        eprintln!(
            "inventory: {} (the default; give another with -i)",
            f.display()
        );
    }
    found
}

fn secrets_command(args: SecretsArgs, runtime: &tokio::runtime::Runtime) -> ExitCode {
    let (target, action) = match &args.command {
        SecretsCommand::Path(t) => (t, None),
        SecretsCommand::Show { target, reveal } => (target, Some(Ok(*reveal))),
        SecretsCommand::Export { target, output } => (target, Some(Err(output))),
        SecretsCommand::Rotate(r) => return runtime.block_on(secrets_rotate(r)),
    };
    let Some(playbook) = &target.playbook else {
        if action.is_none() {
            print_line(&store::secrets_dir().display().to_string());
            return ExitCode::SUCCESS;
        }
        return bad_input(&InputError::new(
            "give the PLAYBOOK (and -i INVENTORY) of the deployment",
        ));
    };
    let inventory = secrets_inventory(playbook, target.inventory.as_deref());
    let pw = match vault_password(&target.vault_password_file) {
        Ok(p) => p,
        Err(e) => return bad_input(&e),
    };
    let st = match SecretStore::for_deployment(playbook, inventory.as_deref(), pw.clone()) {
        Ok(s) => s,
        Err(PrepareError::Input(e)) if inventory.is_none() => {
            return bad_input(&InputError::new(format!(
                "{e} (no -i given and no default inventory found: give the deployment's inventory with -i)"
            )));
        }
        Err(PrepareError::Input(e)) => return bad_input(&e),
        Err(e) => {
            eprintln!("ERROR! {e}");
            return ExitCode::from(1);
        }
    };
    let path = st.path().to_path_buf();
    if let [used, others @ ..] = st.conflicting_stores() {
        eprintln!(
            "warning: older stores of this deployment disagree: showing {}; also {} (a run refuses until only one is left)",
            used.display(),
            others
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(old) = st.migrated_from() {
        eprintln!(
            "note: the secrets are still in {} (the old per-inventory name); the next run moves them to {}",
            old.display(),
            path.display()
        );
    }
    let Some(action) = action else {
        print_line(&path.display().to_string());
        return ExitCode::SUCCESS;
    };
    match action {
        Ok(reveal) => {
            if !st.exists() && st.migrated_from().is_none() {
                eprintln!("no secrets stored for this deployment ({})", path.display());
            }
            for line in st.show_lines(reveal) {
                print_line(&line);
            }
        }
        Err(output) => {
            if let Err(e) = st.export(output, pw.as_ref()) {
                eprintln!("ERROR! cannot write {}: {e}", output.display());
                return ExitCode::from(1);
            }
            let how = if pw.is_some() {
                "vault-encrypted"
            } else {
                "plain, mode 0600"
            };
            eprintln!(
                "exported {} secret(s) to {} ({how})",
                st.iter().count(),
                output.display()
            );
        }
    }
    ExitCode::SUCCESS
}

/// `secrets rotate`: new values recorded as pending, a journaled run that sets them, the store
/// updated once it succeeded, then a login with the new values (when the playbook writes the
/// backend's database settings).
async fn secrets_rotate(args: &RotateArgs) -> ExitCode {
    let Some(playbook) = &args.target.playbook else {
        return bad_input(&InputError::new(
            "give the PLAYBOOK (and -i INVENTORY) of the deployment to rotate",
        ));
    };
    let inventory = secrets_inventory(playbook, args.target.inventory.as_deref());
    let vault_password = match vault_password(&args.target.vault_password_file) {
        Ok(p) => p,
        Err(e) => return bad_input(&e),
    };
    let survey = match playbook::survey::load_for(playbook) {
        Ok(Some(s)) => s,
        Ok(None) => {
            return bad_input(&InputError::new(format!(
                "{}: no survey (PLAYBOOK.survey.yml), so no generated passwords to rotate",
                playbook.display()
            )));
        }
        Err(e) => return bad_input(&e),
    };
    let connect_timeout = Duration::from_secs(args.connect_timeout);
    let mut request = engine::RunRequest {
        playbook: playbook.clone(),
        inventory: inventory.clone(),
        extra_vars: args.extra_vars.clone(),
        vault_password: vault_password.clone(),
        accept_new_host_keys: args.accept_new_host_keys,
        connect_timeout,
        ..Default::default()
    };
    let report = |e: PrepareError| match e {
        PrepareError::Input(e) => bad_input(&e),
        PrepareError::RoleExists(e) => {
            eprintln!("ERROR! {e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
        PrepareError::Store(e) => {
            eprintln!("ERROR! {e}");
            ExitCode::from(1)
        }
    };
    // A rotation is a real run of the deployment: one at a time, like `run`.
    let mut run_lock =
        match slm_wizard::lock::acquire("secrets rotate", playbook, inventory.as_deref()) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("ERROR! {e}");
                return ExitCode::from(slm_wizard::lock::EXIT_LOCKED);
            }
        };
    let rotation = match store::start_rotation(&request, &survey, &args.names) {
        Ok(r) => r,
        Err(e) => return report(e),
    };
    for v in &rotation.resumed {
        eprintln!(
            "{v}: finishing an earlier rotation with its pending password ({})",
            rotation.pending_path.display()
        );
    }
    request.extra_values.extend(rotation.values.clone());
    let survey_secrets =
        match store::prepare_checked(&request, &survey, PrepareOptions::default()).await {
            Ok(p) => {
                for n in &p.notes {
                    eprintln!("{n}");
                }
                request.extra_values.extend(p.values);
                p.secrets
            }
            Err(e) => return report(e),
        };
    let plan = match engine::plan(request.clone()) {
        Ok(p) => Arc::new(p),
        Err(e) => return bad_input(&e),
    };
    for s in survey_secrets.iter().chain(&rotation.secrets) {
        plan.redactor.add(s.expose());
    }
    let connector = engine::connect::connector(engine::connect::ConnectOptions {
        accept_new_host_keys: args.accept_new_host_keys,
        connect_timeout,
    });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = engine::Cancel::default();
    let ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nslm-wizard: cancelling (no new tasks will start)…");
            ctrl_c.cancel();
        }
    });
    let handle = tokio::spawn(engine::run::run(plan.clone(), connector, tx, cancel));
    let mut journal = Journal::create(playbook)
        .map_err(|e| eprintln!("slm-wizard: journal disabled: {e}"))
        .ok();
    if let Some(j) = journal.as_ref() {
        run_lock.set_journal(&j.path);
    }
    {
        let stdout = std::io::stdout();
        let color = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let mut printer = Printer::new(stdout.lock(), color, args.verbose, false);
        while let Some(ev) = rx.recv().await {
            if let Some(j) = journal.as_mut() {
                j.record(&ev);
            }
            if args.json {
                print_line(&json_line(&ev));
            } else {
                printer.handle(&ev);
            }
        }
    }
    let summary = match handle.await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("slm-wizard: the run stopped unexpectedly: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(j) = &journal {
        eprintln!("journal: {}", j.path.display());
    }
    let code = summary.exit_code();
    let vars = rotation.variables.join(", ");
    if code != 0 {
        eprintln!(
            "ERROR! the rotation of {vars} did not finish: the new password(s) may be set on some hosts \
             already; they are kept in {} (the store still has the old ones). Fix the cause and run \
             `slm-wizard secrets rotate` again: it reuses them.",
            rotation.pending_path.display()
        );
        return ExitCode::from(code as u8);
    }
    if let Err(e) = store::finish_rotation(&request, &rotation) {
        eprintln!(
            "ERROR! the run set the new password(s) of {vars}, but the store could not be updated: {e}; \
             they are in {}",
            rotation.pending_path.display()
        );
        return ExitCode::from(1);
    }
    eprintln!(
        "rotated {vars} (stored in {})",
        rotation.store_path.display()
    );
    prove_rotation(
        playbook,
        inventory.as_deref(),
        args,
        vault_password,
        &rotation,
    )
    .await
}

/// Logs in to the deployment's databases as its backend does, with the new passwords (must
/// work) and with the old ones (reported).
async fn prove_rotation(
    playbook: &std::path::Path,
    inventory: Option<&std::path::Path>,
    args: &RotateArgs,
    vault_password: Option<secrets::Secret>,
    rotation: &store::Rotation,
) -> ExitCode {
    let Some(inventory) = inventory else {
        eprintln!("no login check: no inventory");
        return ExitCode::SUCCESS;
    };
    if !health::deployment::writes_backend_settings(playbook) {
        eprintln!(
            "no login check: the playbook has no {}",
            health::deployment::ENV_TEMPLATE
        );
        return ExitCode::SUCCESS;
    }
    let timeout = Duration::from_secs(args.connect_timeout.max(1));
    let deployment =
        |answers: serde_json::Map<String, serde_json::Value>| health::deployment::DeploymentRef {
            playbook: playbook.to_path_buf(),
            inventory: inventory.to_path_buf(),
            extra_vars: args.extra_vars.clone(),
            answers,
            vault_password: vault_password.clone(),
        };
    let targets =
        match health::command::deployment_targets(deployment(Default::default()), timeout).await {
            Ok(t) => t,
            Err(e) => {
                eprintln!("ERROR! cannot check the new password(s) with a login: {e}");
                return ExitCode::from(1);
            }
        };
    let mut failed = false;
    for t in &targets {
        match health::probe::connect(t, timeout).await {
            Ok(_) => eprintln!("login {}: ok", t.url.target()),
            Err(f) => {
                failed = true;
                eprintln!(
                    "ERROR! login {} with the new password failed: {}",
                    t.url.target(),
                    f.message
                );
            }
        }
        t.close().await;
    }
    // Without stored old values (a lost store) there is no old password to try.
    let old_targets = if rotation.old.is_empty() {
        Err(String::new())
    } else {
        health::command::deployment_targets(deployment(rotation.old.clone()), timeout).await
    };
    if let Ok(old) = old_targets {
        for t in &old {
            let verdict = match health::probe::connect(t, timeout).await {
                Ok(_) => "still accepted (its password was not rotated)",
                Err(f) if f.failure == health::Failure::Auth => "refused",
                Err(_) => "not checked (no answer)",
            };
            eprintln!("old password {}: {verdict}", t.url.target());
            t.close().await;
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
