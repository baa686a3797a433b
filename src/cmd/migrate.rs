//! `slm-wizard migrate`: every setting and file is checked first (exit 5), then each database is
//! migrated (or listed with `--status`) in turn; a failing database does not stop the others
//! (exit 1). What is done is `health::migrate`; this prints it.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use futures::future::join_all;

use super::exit;
use super::source;
use super::stdout::CliStdout;
use crate::cli::MigrateArgs;
use crate::db::{self, DbName};
use crate::health::migrate::{
    DbStatus, MigrateEvent, MigrateResult, MigrateSummary, migrate_each, status_each,
};
use crate::health::{Target, source::resolve};

pub async fn migrate(args: MigrateArgs) -> ExitCode {
    let source = match source(args.source) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let timeout = Duration::from_secs(args.connect_timeout.max(1));
    let mut out = CliStdout::exiting();
    let mut err = std::io::stderr();
    let targets = match resolve(&source, db::Settings::from_env(), timeout).await {
        Ok((targets, _)) => targets,
        Err(e) => return ExitCode::from(super::source_error(&e, &mut err)),
    };
    let code = if args.status {
        let statuses = status_each(&targets, timeout).await;
        print_status(&statuses, &mut out, &mut err)
    } else {
        let summary = migrate_each(&targets, timeout, &mut |ev| {
            print_event(&ev, &mut out, &mut err)
        })
        .await;
        print_summary(&summary, &mut out)
    };
    join_all(targets.iter().map(Target::close)).await;
    let _ = out.flush();
    ExitCode::from(code)
}

fn print_event(ev: &MigrateEvent<'_>, out: &mut dyn Write, err: &mut dyn Write) {
    match ev {
        MigrateEvent::Applied {
            db,
            migration,
            took,
        } => {
            let _ = writeln!(
                out,
                "{db}: applied {} ({} ms)",
                migration.name,
                took.as_millis()
            );
        }
        MigrateEvent::Done(done) => {
            let db = done.outcome.db;
            let _ = match &done.outcome.result {
                MigrateResult::Applied(names) => {
                    writeln!(
                        out,
                        "{db}: {} applied, {} in total",
                        names.len(),
                        done.total
                    )
                }
                MigrateResult::AlreadyApplied(0) => {
                    writeln!(out, "{db}: nothing to do (no migrations)")
                }
                MigrateResult::AlreadyApplied(n) => {
                    writeln!(out, "{db}: nothing to do ({n} already applied)")
                }
                MigrateResult::Failed(why) => writeln!(err, "ERROR! {why}"),
            };
        }
    }
    let _ = out.flush();
}

fn print_summary(s: &MigrateSummary, out: &mut dyn Write) -> u8 {
    let (applied, failed, n) = (s.applied, s.failed, s.databases);
    let dbs = if n == 1 { "database" } else { "databases" };
    let summary = if failed > 0 {
        format!("migrate: {applied} applied, {failed} of {n} {dbs} failed")
    } else if applied == 0 {
        format!("migrate: nothing to do ({n} {dbs} up to date)")
    } else {
        format!("migrate: {applied} applied ({n} {dbs} up to date)")
    };
    let _ = writeln!(out, "{summary}");
    exit::failed_if(failed > 0)
}

/// `--status`: a table of every migration of every database; unreadable databases and drift on
/// stderr.
fn print_status(statuses: &[DbStatus], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let mut failed = 0usize;
    let mut table: Vec<[String; 4]> = Vec::new();
    for s in statuses {
        match &s.rows {
            Ok(rows) => table.extend(status_rows(s.db, rows)),
            Err(e) => {
                failed += 1;
                let _ = writeln!(err, "ERROR! {e}");
            }
        }
    }
    if !table.is_empty() {
        print_table(out, &table);
    }
    let drift: usize = statuses.iter().map(DbStatus::drift).sum();
    if drift > 0 {
        let _ = writeln!(
            err,
            "migrate --status: {drift} applied migration(s) changed or missing; `slm-wizard migrate` refuses to run until the files are restored"
        );
    }
    if failed > 0 {
        let _ = writeln!(
            err,
            "migrate --status: {failed} of {} database(s) could not be read",
            statuses.len()
        );
    }
    exit::failed_if(failed + drift > 0)
}

fn status_rows(db: DbName, rows: &[db::migrate::StatusRow]) -> Vec<[String; 4]> {
    if rows.is_empty() {
        return vec![[
            db.to_string(),
            "(no migrations)".into(),
            "-".into(),
            "-".into(),
        ]];
    }
    rows.iter()
        .map(|r| {
            [
                db.to_string(),
                r.name.clone(),
                r.state.as_str().to_string(),
                r.applied_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect()
}

fn print_table(out: &mut dyn Write, rows: &[[String; 4]]) {
    let header = ["DATABASE", "NAME", "STATE", "APPLIED_AT"].map(String::from);
    let mut width = header.clone().map(|h| h.len());
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in std::iter::once(&header).chain(rows) {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = width[0],
            w1 = width[1],
            w2 = width[2]
        );
    }
}
