//! `slm-wizard secrets path|show|export|rotate`.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::{bad_input, exit, print_line, vault_password};
use crate::cli::{RotateArgs, SecretsArgs, SecretsCommand};
use crate::engine::output::{Journal, Printer, json_line};
use crate::error::InputError;
use crate::prepare::{self, PrepareError, PrepareOptions};
use crate::secrets::store::{self, SecretStore};
use crate::{engine, health, playbook, secrets};

/// The inventory of a `secrets` command: `-i`, else the wizard's default one when it exists
/// (so `secrets show PLAYBOOK` finds what a deploy with the defaults stored), else none.
pub fn secrets_inventory(
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
    let default = crate::tui::default_inventory();
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

pub fn secrets_command(args: SecretsArgs, runtime: &tokio::runtime::Runtime) -> ExitCode {
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
pub async fn secrets_rotate(args: &RotateArgs) -> ExitCode {
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
            ExitCode::from(exit::BAD_INPUT)
        }
        PrepareError::Store(e) => {
            eprintln!("ERROR! {e}");
            ExitCode::from(1)
        }
    };
    // A rotation is a real run of the deployment: one at a time, like `run`.
    let mut run_lock = match crate::lock::acquire("secrets rotate", playbook, inventory.as_deref())
    {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ERROR! {e}");
            return ExitCode::from(exit::LOCKED);
        }
    };
    let rotation = match prepare::start_rotation(&request, &survey, &args.names) {
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
        match prepare::prepare_checked(&request, &survey, PrepareOptions::default()).await {
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
    let (tx, mut rx) = crate::engine::event_channel();
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
    if let Err(e) = prepare::finish_rotation(&request, &rotation) {
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
pub async fn prove_rotation(
    playbook: &std::path::Path,
    inventory: Option<&std::path::Path>,
    args: &RotateArgs,
    vault_password: Option<secrets::Secret>,
    rotation: &prepare::Rotation,
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
        match super::health::deployment_targets(deployment(Default::default()), timeout).await {
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
        super::health::deployment_targets(deployment(rotation.old.clone()), timeout).await
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
