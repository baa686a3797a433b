//! Applying the schema migrations to the databases health watches, from the same sources
//! (environment, `--env-file`, `/etc/slm/database.env` on the SLM server, or a deployment
//! through the SLM server): one per-target function that `slm-wizard migrate` and the wizard both
//! call, and the every-target runs `migrate` reports on (`cmd::migrate` prints them).

use std::time::Duration;

use sqlx::{Connection, PgConnection};

use super::Target;
use super::probe;
use crate::db::migrate::{self, Migration, State, StatusRow};
use crate::db::{self, DbError, DbName};

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
// Every target in turn, for `slm-wizard migrate` (which prints what this reports)
// ---------------------------------------------------------------------------------------------

/// One database's part of [`migrate_each`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetMigration {
    pub outcome: MigrateOutcome,
    /// Migrations committed now, before a failure too.
    pub applied: usize,
    /// The database's migrations in all (its migration files).
    pub total: usize,
}

/// What [`migrate_each`] reports as it goes.
#[derive(Debug)]
pub enum MigrateEvent<'a> {
    /// A migration was committed (a long one shows progress).
    Applied {
        db: DbName,
        migration: &'a Migration,
        took: Duration,
    },
    /// A database is done.
    Done(&'a TargetMigration),
}

/// What [`migrate_each`] did over all its databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrateSummary {
    pub databases: usize,
    /// Migrations committed now, on every database (failed ones included).
    pub applied: usize,
    /// Databases whose migration failed.
    pub failed: usize,
}

/// Applies the pending migrations of each target in turn; a failing database does not stop the
/// others. Every commit and every database's outcome is reported to `on_event` as it happens.
pub async fn migrate_each(
    targets: &[Target],
    timeout: Duration,
    on_event: &mut dyn FnMut(MigrateEvent<'_>),
) -> MigrateSummary {
    let mut summary = MigrateSummary {
        databases: targets.len(),
        applied: 0,
        failed: 0,
    };
    for t in targets {
        let db = t.db;
        let mut applied = 0usize;
        let outcome = migrate_target(t, timeout, |migration, took| {
            applied += 1;
            on_event(MigrateEvent::Applied {
                db,
                migration,
                took,
            });
        })
        .await;
        summary.applied += applied;
        if matches!(outcome.result, MigrateResult::Failed(_)) {
            summary.failed += 1;
        }
        on_event(MigrateEvent::Done(&TargetMigration {
            outcome,
            applied,
            total: t.migrations.len(),
        }));
    }
    summary
}

/// One database's migrations as recorded (`slm-wizard migrate --status`).
#[derive(Debug, Clone)]
pub struct DbStatus {
    pub db: DbName,
    /// Every migration's state, or why they could not be read (redacted).
    pub rows: Result<Vec<StatusRow>, String>,
}

impl DbStatus {
    /// Applied migrations whose file changed or is gone: `migrate` refuses to run until they
    /// are restored.
    pub fn drift(&self) -> usize {
        self.rows.as_ref().map_or(0, |rows| {
            rows.iter()
                .filter(|r| matches!(r.state, State::Changed | State::Missing))
                .count()
        })
    }
}

/// The state of every target's migrations, in order (read only).
pub async fn status_each(targets: &[Target], timeout: Duration) -> Vec<DbStatus> {
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        out.push(DbStatus {
            db: t.db,
            rows: status(t, timeout).await,
        });
    }
    out
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
