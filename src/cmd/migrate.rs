//! `slm-wizard migrate`.

use std::process::ExitCode;
use std::time::Duration;

use super::source;
use crate::cli::MigrateArgs;
use crate::engine::output::CliStdout;
use crate::{db, health};

pub async fn migrate(args: MigrateArgs) -> ExitCode {
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
