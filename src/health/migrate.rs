//! Applying the schema migrations of watched databases: what `migrate -i`, the wizard's phase
//! after a deploying run and `m` on the dashboard share (same targets, tunnels and credentials as
//! the health probes).

use std::time::Duration;

use crate::db::DbName;
use crate::db::migrate;
use sqlx::Connection;

use super::Target;
use super::probe;

/// How one database's migrations ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrateResult {
    /// Applied by this call, in order.
    Applied(Vec<String>),
    /// Nothing pending; this many were applied before.
    AlreadyApplied(usize),
    /// Why not (never with a password in it).
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateOutcome {
    pub db: DbName,
    pub result: MigrateResult,
}

/// Applies pending migrations to each target (through its tunnel when it has one), as the app
/// user. `on_event` is called per database when it is done (for a live view). Never panics.
pub async fn migrate_targets(
    targets: &[Target],
    timeout: Duration,
    on_event: &mut (dyn FnMut(&MigrateOutcome) + Send),
) -> Vec<MigrateOutcome> {
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        let result = match probe::connect(t, timeout).await {
            Err(f) => MigrateResult::Failed(f.message),
            Ok((mut conn, _)) => {
                let r = migrate::apply(&mut conn, t.db, &t.migrations, |_, _| {}).await;
                let _ = conn.close().await;
                match r {
                    Ok(r) if r.applied.is_empty() => MigrateResult::AlreadyApplied(r.already),
                    Ok(r) => MigrateResult::Applied(r.applied),
                    Err(e) => MigrateResult::Failed(t.url.redact(&e.to_string())),
                }
            }
        };
        let outcome = MigrateOutcome { db: t.db, result };
        on_event(&outcome);
        out.push(outcome);
    }
    out
}
