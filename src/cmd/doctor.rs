//! `slm-wizard doctor`: every check on its line as it is done, then the counts; exit 0 when
//! every check passed, 1 when one failed, 5 for bad input.

use std::io::Write;
use std::process::ExitCode;

use super::stdout::CliStdout;
use super::{exit, seconds, source};
use crate::cli::DoctorArgs;
use crate::db;
use crate::health::doctor::{DoctorOptions, Outcome, diagnose};

pub async fn doctor_command(args: DoctorArgs) -> ExitCode {
    let source = match source(args.source) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let opts = DoctorOptions {
        host: args.host,
        source,
        timeout: seconds(args.timeout, 0.1),
    };
    let mut out = CliStdout::exiting();
    let mut err = std::io::stderr();
    let result = diagnose(&opts, db::Settings::from_env(), &mut |check| {
        let _ = writeln!(out, "{}", check.render());
    })
    .await;
    let checks = match result {
        Ok(r) => r,
        // Every refusal (a source's too) is bad input.
        Err(e) => {
            let _ = writeln!(err, "ERROR! {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    let count = |o: Outcome| checks.iter().filter(|c| c.outcome == o).count();
    let (failed, passed) = (count(Outcome::Fail), count(Outcome::Pass));
    let skipped = checks.len() - failed - passed;
    let _ = writeln!(
        out,
        "\ndoctor: {passed} passed, {failed} failed, {skipped} skipped"
    );
    let _ = out.flush();
    ExitCode::from(exit::failed_if(failed > 0))
}
