//! `slm-wizard doctor`.

use std::process::ExitCode;

use super::{seconds, source};
use crate::cli::DoctorArgs;
use crate::engine::output::CliStdout;
use crate::{db, health};

pub async fn doctor_command(args: DoctorArgs) -> ExitCode {
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
