//! Applying the schema migrations to the databases health watches, from the same sources
//! (environment, `--env-file`, `/etc/slm/database.env` on the SLM server, or a deployment
//! through the SLM server): one per-target function that `slm-wizard migrate` and the wizard both
//! call, and the `migrate` command around it.

use std::io::Write;
use std::time::Duration;

use sqlx::{Connection, PgConnection};

use super::Target;
use super::probe;
use super::source::{DbSource, resolve};
use crate::db::migrate::{self, Migration, State, StatusRow};
use crate::db::{self, DbError, DbName, Settings};

/// What applying a database's migrations did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrateResult {
    /// These migrations were applied now, in order (others may have been applied before).
    Applied(Vec<String>),
    /// Nothing was pending; this many were applied before.
    AlreadyApplied(usize),
    /// Why it failed (no password in it); what was applied before the failure is named.
    Failed(String),
}

/// One database's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateOutcome {
    pub db: DbName,
    pub result: MigrateResult,
}

impl MigrateOutcome {
    /// One line for a progress view or a journal, e.g. `slm_users: 1 applied (0001_….sql)`.
    pub fn line(&self) -> String {
        match &self.result {
            MigrateResult::Applied(names) => {
                format!(
                    "{}: {} applied ({})",
                    self.db,
                    names.len(),
                    names.join(", ")
                )
            }
            MigrateResult::AlreadyApplied(0) => {
                format!("{}: nothing to do (no migrations)", self.db)
            }
            MigrateResult::AlreadyApplied(n) => {
                format!("{}: nothing to do ({n} already applied)", self.db)
            }
            MigrateResult::Failed(why) => format!("{}: failed: {why}", self.db),
        }
    }
}

/// Applies pending migrations to each target (through its tunnel when it has one), as the app user.
/// `on_event` is called per database with a line of progress (for a live view). Never panics.
pub async fn migrate_targets(
    targets: &[Target],
    timeout: Duration,
    on_event: &mut (dyn FnMut(&MigrateOutcome) + Send),
) -> Vec<MigrateOutcome> {
    let mut outcomes = Vec::with_capacity(targets.len());
    // One after the other: targets share a tunnel, and a log reads better in order.
    for t in targets {
        let outcome = migrate_target(t, timeout, |_, _| {}).await;
        on_event(&outcome);
        outcomes.push(outcome);
    }
    outcomes
}

/// Applies the pending migrations of one target; `on_applied` is called after each commit.
pub async fn migrate_target(
    t: &Target,
    timeout: Duration,
    mut on_applied: impl FnMut(&Migration, Duration),
) -> MigrateOutcome {
    let mut applied = Vec::new();
    let result = match connect(t, timeout).await {
        Err(e) => MigrateResult::Failed(e),
        Ok(mut conn) => {
            let r = migrate::apply(&mut conn, t.db, &t.migrations, |m, took| {
                applied.push(m.name.clone());
                on_applied(m, took);
            })
            .await;
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
            match r {
                Ok(report) if report.applied.is_empty() => {
                    MigrateResult::AlreadyApplied(report.already)
                }
                Ok(report) => MigrateResult::Applied(report.applied),
                Err(e) => {
                    let mut why = t.url.redact(&e.to_string());
                    if !applied.is_empty() {
                        why.push_str(&format!(
                            " (applied before the failure: {})",
                            applied.join(", ")
                        ));
                    }
                    MigrateResult::Failed(why)
                }
            }
        }
    };
    MigrateOutcome { db: t.db, result }
}

/// A connection as the target's app user, through its tunnel if it has one; the error is
/// printable (redacted, naming the database and the real server).
async fn connect(t: &Target, timeout: Duration) -> Result<PgConnection, String> {
    if let Some(tunnel) = &t.tunnel {
        tunnel.ensure().await.map_err(|e| {
            t.url.redact(&format!(
                "{}: cannot open the SSH tunnel via {}: {e}",
                t.db, tunnel.via
            ))
        })?;
    }
    let opts = probe::connect_options(t).map_err(|e| t.url.redact(&e.to_string()))?;
    db::connect_with(t.db, &t.url, opts, timeout)
        .await
        .map_err(|e| t.url.redact(&e.to_string()))
}

/// The state of every migration of one target (read only).
async fn status(t: &Target, timeout: Duration) -> Result<Vec<StatusRow>, String> {
    let mut conn = connect(t, timeout).await?;
    let r = migrate::status(&mut conn, t.db, &t.migrations)
        .await
        .map_err(|e: DbError| t.url.redact(&e.to_string()));
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
    r
}

// ---------------------------------------------------------------------------------------------
// The `slm-wizard migrate` command
// ---------------------------------------------------------------------------------------------

/// Options of `slm-wizard migrate`.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// Which databases and where their URLs come from, as for `health`.
    pub source: DbSource,
    /// Only list applied and pending migrations.
    pub status: bool,
    pub connect_timeout: Duration,
}

/// Exit codes of the command.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;

/// Runs `slm-wizard migrate`: every setting and file is checked first (exit 5), then each
/// database is migrated (or listed) in turn; a failing database does not stop the others (exit 1).
pub async fn run_migrate(
    opts: &MigrateOptions,
    settings: Settings,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let targets = match resolve(&opts.source, settings, opts.connect_timeout).await {
        Ok((targets, _)) => targets,
        Err(e) => return e.report(err),
    };
    let code = if opts.status {
        list(&targets, opts.connect_timeout, out, err).await
    } else {
        apply_all(&targets, opts.connect_timeout, out, err).await
    };
    futures::future::join_all(targets.iter().map(Target::close)).await;
    let _ = out.flush();
    code
}

async fn apply_all(
    targets: &[Target],
    timeout: Duration,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let mut failed = 0usize;
    let mut applied_total = 0usize;
    for t in targets {
        let db = t.db;
        // Each migration is printed as it commits (a long one shows progress).
        let mut applied_here = 0usize;
        let outcome = migrate_target(t, timeout, |m, took| {
            applied_here += 1;
            let _ = writeln!(out, "{db}: applied {} ({} ms)", m.name, took.as_millis());
            let _ = out.flush();
        })
        .await;
        match outcome.result {
            MigrateResult::Applied(names) => {
                applied_total += names.len();
                let total = names.len()
                    + t.migrations
                        .iter()
                        .filter(|m| !names.contains(&m.name))
                        .count();
                let _ = writeln!(out, "{db}: {} applied, {total} in total", names.len());
            }
            MigrateResult::AlreadyApplied(0) => {
                let _ = writeln!(out, "{db}: nothing to do (no migrations)");
            }
            MigrateResult::AlreadyApplied(n) => {
                let _ = writeln!(out, "{db}: nothing to do ({n} already applied)");
            }
            MigrateResult::Failed(why) => {
                applied_total += applied_here;
                failed += 1;
                let _ = writeln!(err, "ERROR! {why}");
            }
        }
        let _ = out.flush();
    }
    let n = targets.len();
    let dbs = if n == 1 { "database" } else { "databases" };
    let summary = if failed > 0 {
        format!("migrate: {applied_total} applied, {failed} of {n} {dbs} failed")
    } else if applied_total == 0 {
        format!("migrate: nothing to do ({n} {dbs} up to date)")
    } else {
        format!("migrate: {applied_total} applied ({n} {dbs} up to date)")
    };
    let _ = writeln!(out, "{summary}");
    if failed > 0 { EXIT_FAILED } else { EXIT_OK }
}

async fn list(
    targets: &[Target],
    timeout: Duration,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let mut failed = 0usize;
    let mut drift = 0usize;
    let mut table: Vec<[String; 4]> = Vec::new();
    for t in targets {
        let db = t.db;
        match status(t, timeout).await {
            Ok(rows) => {
                if rows.is_empty() {
                    table.push([
                        db.to_string(),
                        "(no migrations)".into(),
                        "-".into(),
                        "-".into(),
                    ]);
                }
                for r in &rows {
                    if matches!(r.state, State::Changed | State::Missing) {
                        drift += 1;
                    }
                    table.push([
                        db.to_string(),
                        r.name.clone(),
                        r.state.as_str().to_string(),
                        r.applied_at
                            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                            .unwrap_or_else(|| "-".into()),
                    ]);
                }
            }
            Err(e) => {
                failed += 1;
                let _ = writeln!(err, "ERROR! {e}");
            }
        }
    }
    if !table.is_empty() {
        print_table(out, &table);
    }
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
            targets.len()
        );
    }
    if failed + drift > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The wizard runs it on its runtime's worker threads.
    #[test]
    fn migrate_targets_is_send() {
        fn is_send<T: Send>(_: &T) {}
        let targets: Vec<Target> = Vec::new();
        let mut seen = |_: &MigrateOutcome| {};
        let fut = migrate_targets(&targets, Duration::from_secs(1), &mut seen);
        is_send(&fut);
    }

    #[test]
    fn outcome_lines() {
        let line = |result| {
            MigrateOutcome {
                db: DbName::SlmUsers,
                result,
            }
            .line()
        };
        assert_eq!(
            line(MigrateResult::Applied(vec!["0001_a.sql".into()])),
            "slm_users: 1 applied (0001_a.sql)"
        );
        assert_eq!(
            line(MigrateResult::AlreadyApplied(1)),
            "slm_users: nothing to do (1 already applied)"
        );
        assert_eq!(
            line(MigrateResult::Failed("boom".into())),
            "slm_users: failed: boom"
        );
    }
}
