//! The command layer: the only code that prints for the user or picks exit codes. Each
//! subcommand has its file; library code below returns typed results and errors.

pub mod ansible;
pub mod doctor;
pub mod exit;
pub mod health;
pub mod inventory;
pub mod listing;
pub mod migrate;
pub mod prompt;
pub mod run;
pub mod runner;
pub mod runs;
pub mod secrets;
pub mod stdout;
pub mod wizard;

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::SourceArgs;
use crate::error::InputError;
use crate::health::source::SourceError;
use stdout::CliStdout;

/// Seconds given on the command line as a duration (at least `min` seconds).
pub fn seconds(s: f64, min: f64) -> Duration {
    Duration::from_secs_f64(if s.is_finite() { s.max(min) } else { min })
}

/// Where `health`, `doctor` and `migrate` find their databases.
pub fn source(args: SourceArgs) -> Result<health::DbSource, ExitCode> {
    let vault_password = vault_password(&args.vault_password_file).map_err(|e| bad_input(&e))?;
    Ok(health::DbSource {
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

pub fn vault_password(
    path: &Option<std::path::PathBuf>,
) -> Result<Option<crate::secrets::Secret>, InputError> {
    match path {
        None => Ok(None),
        Some(p) => crate::secrets::vault::read_password_file(p)
            .map(|b| {
                Some(crate::secrets::Secret::new(
                    String::from_utf8_lossy(&b).into_owned(),
                ))
            })
            .map_err(|e| InputError::new(format!("--vault-password-file {}: {e}", p.display()))),
    }
}

/// Reads a line from the terminal without echo (the terminal is restored even on error).
pub fn read_secret(prompt: &str) -> std::io::Result<String> {
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
pub fn print_line(line: &str) {
    CliStdout::exiting().line(line);
}

pub fn bad_input(e: &InputError) -> ExitCode {
    eprintln!("ERROR! {e}");
    ExitCode::from(exit::BAD_INPUT)
}

/// Why `health`, `doctor` or `migrate` found no databases, on `err`; returns the exit code.
pub fn source_error(e: &SourceError, err: &mut dyn std::io::Write) -> u8 {
    let _ = writeln!(err, "ERROR! {e}");
    exit::BAD_INPUT
}
