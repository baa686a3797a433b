//! slm-wizard: sets up and watches the PostgreSQL user-management databases of the SLM platform.
//! Parses the command line, builds the one async runtime and hands over to `cmd`.

use std::process::ExitCode;

use clap::Parser;

use slm_wizard::cli::{Cli, Command};
use slm_wizard::cmd;

fn main() -> ExitCode {
    slm_wizard::secrets::harden_process();
    slm_wizard::tui::mark_process_start();
    let cli = Cli::parse();
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
    let Some(command) = cli.command else {
        return cmd::wizard::wizard(
            cli.inventory,
            cli.playbook,
            cli.playbook_dirs,
            cli.engine,
            &runtime,
        );
    };
    match command {
        Command::Run(args) => runtime.block_on(cmd::run::run(args)),
        Command::Inventory(args) => cmd::inventory::inventory(args),
        Command::Migrate(args) => runtime.block_on(cmd::migrate::migrate(args)),
        Command::Secrets(args) => cmd::secrets::secrets_command(args, &runtime),
        Command::Health(args) => runtime.block_on(cmd::health::health_command(args)),
        Command::Doctor(args) => runtime.block_on(cmd::doctor::doctor_command(args)),
        Command::Ansible(args) => cmd::ansible::ansible_command(args),
        Command::Runner(args) => runtime.block_on(cmd::runner::runner_command(args)),
        Command::Runs(args) => cmd::runs::runs_command(args),
    }
}
