//! Probing one database as its application user, and one round over several at once.

use std::time::{Duration, Instant};

use chrono::Utc;
use futures::future::join_all;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

use super::{DbSample, Details, Failure, MigrationInfo, ProbeConfig, Security, Target, classify};
use crate::db::migrate::{self, State};
use crate::db::{self, DbError};

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The connection options of a target (through its tunnel, if any).
pub fn connect_options(target: &Target) -> Result<PgConnectOptions, DbError> {
    let opts = target.url.connect_options()?;
    Ok(match &target.tunnel {
        Some(t) => opts.host(&t.local.ip().to_string()).port(t.local.port()),
        None => opts,
    })
}

/// A failed connection attempt, classified; the message is safe to print.
#[derive(Debug, Clone)]
pub struct ConnectFailure {
    pub failure: Failure,
    pub message: String,
    /// SQLSTATE, when the server answered with an error.
    pub code: Option<String>,
}

/// Classifies a connection error (the message comes from [`db::connect_error`]: redacted).
pub fn classify_connect(target: &Target, e: &sqlx::Error) -> ConnectFailure {
    let code = e
        .as_database_error()
        .and_then(|d| d.code().map(|c| c.into_owned()));
    let raw = e
        .as_database_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    let failure = match code.as_deref() {
        Some("28000") if raw.contains("pg_hba.conf") => Failure::Hba,
        Some(c) if c.starts_with("28") => Failure::Auth,
        Some("3D000") => Failure::NoDatabase,
        Some(_) => Failure::Unreachable,
        None => Failure::Unreachable,
    };
    let message = match db::connect_error(target.db, &target.url, e) {
        // The error's own text repeats database and target; keep the server's words and the hint.
        DbError::Auth { message, hint, .. } => format!("{message} ({hint})"),
        DbError::Connect { message, .. } => message,
        other => target.url.redact(&other.to_string()),
    };
    ConnectFailure {
        failure,
        message,
        code,
    }
}

/// Connects as the app user within `timeout`; returns the connection and how long it took.
pub async fn connect(
    target: &Target,
    timeout: Duration,
) -> Result<(PgConnection, Duration), ConnectFailure> {
    let opts = connect_options(target).map_err(|e| ConnectFailure {
        failure: Failure::Unreachable,
        message: target.url.redact(&e.to_string()),
        code: None,
    })?;
    let t0 = Instant::now();
    match tokio::time::timeout(timeout, opts.connect()).await {
        Ok(Ok(c)) => Ok((c, t0.elapsed())),
        Ok(Err(e)) => Err(classify_connect(target, &e)),
        Err(_) => Err(ConnectFailure {
            failure: Failure::Timeout,
            message: format!("no answer within {:.1} s", timeout.as_secs_f64()),
            code: None,
        }),
    }
}

/// Everything one query reads (one round trip).
const STATS_SQL: &str = "SELECT current_setting('server_version'),
        EXTRACT(EPOCH FROM now() - pg_postmaster_start_time())::float8,
        (SELECT COALESCE(sum(numbackends), 0) FROM pg_stat_database)::int8,
        current_setting('max_connections')::int8,
        pg_database_size(current_database())::int8,
        COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false),
        COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false),
        EXISTS (SELECT 1 FROM pg_database d,
                       aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a
                 WHERE d.datname = current_database()
                   AND a.grantee = 0 AND a.privilege_type = 'CONNECT')";

type StatsRow = (String, f64, i64, i64, i64, bool, bool, bool);

/// Probes one database; never takes (much) longer than `cfg.timeout`, never fails: a failure
/// is a sample with status unhealthy and its reason.
pub async fn probe(target: &Target, cfg: &ProbeConfig) -> DbSample {
    let started = Instant::now();
    let sampled_at = Utc::now();
    let mut details = Details {
        target: target.url.target(),
        via: target.tunnel.as_ref().map(|t| t.via.clone()),
        sampled_at,
        ..Default::default()
    };
    // The measurements land in `details` as they come, so a timeout keeps what was measured.
    let (tx, mut rx) =
        tokio::sync::mpsc::unbounded_channel::<Box<dyn FnOnce(&mut Details) + Send>>();
    let timed_out = tokio::time::timeout(cfg.timeout, measure(target, cfg.timeout, tx))
        .await
        .is_err();
    while let Ok(apply) = rx.try_recv() {
        apply(&mut details);
    }
    if timed_out && details.failure.is_none() {
        details.failure = Some(Failure::Timeout);
        details.error = Some(format!(
            "the probe did not finish within {:.1} s",
            cfg.timeout.as_secs_f64()
        ));
    }
    details.probe_ms = ms(started.elapsed());
    let status = classify(&mut details, &cfg.thresholds);
    DbSample {
        db: target.db,
        server: target.server(),
        status,
        details,
    }
}

type Update = Box<dyn FnOnce(&mut Details) + Send>;

async fn measure(
    target: &Target,
    timeout: Duration,
    tx: tokio::sync::mpsc::UnboundedSender<Update>,
) {
    let send = |f: Update| {
        let _ = tx.send(f);
    };
    let (mut conn, took) = match connect(target, timeout).await {
        Ok(c) => c,
        Err(f) => {
            send(Box::new(move |d| {
                d.reachable = matches!(
                    f.failure,
                    Failure::Auth | Failure::Hba | Failure::NoDatabase
                );
                d.failure = Some(f.failure);
                d.error = Some(f.message);
            }));
            return;
        }
    };
    send(Box::new(move |d| {
        d.reachable = true;
        d.connected = true;
        d.connect_ms = Some(ms(took));
    }));
    let query_failed = |what: &str, e: &dyn std::fmt::Display| -> Update {
        let msg = target.url.redact(&format!("{what}: {e}"));
        Box::new(move |d| {
            d.failure = Some(Failure::Query);
            d.error = Some(msg);
        })
    };
    let t0 = Instant::now();
    match sqlx::query_scalar::<_, i32>("SELECT 1")
        .fetch_one(&mut conn)
        .await
    {
        Ok(_) => {
            let took = t0.elapsed();
            send(Box::new(move |d| d.select1_ms = Some(ms(took))));
        }
        Err(e) => {
            send(query_failed("SELECT 1", &e));
            return;
        }
    }
    match sqlx::query_as::<_, StatsRow>(STATS_SQL)
        .fetch_one(&mut conn)
        .await
    {
        Ok((version, uptime, used, max, size, ssl, superuser, public_connect)) => {
            send(Box::new(move |d| {
                d.server_version = Some(version);
                d.uptime_seconds = Some(uptime.max(0.0) as u64);
                d.connections_used = Some(used);
                d.max_connections = Some(max);
                d.size_bytes = Some(size);
                d.ssl = Some(ssl);
                d.security = Some(Security {
                    ok: !superuser && !public_connect,
                    superuser,
                    public_connect,
                });
            }))
        }
        Err(e) => {
            send(query_failed("statistics", &e));
            return;
        }
    }
    match migrate::status(&mut conn, target.db, &target.migrations).await {
        Ok(rows) => {
            let info = migration_info(&rows);
            send(Box::new(move |d| d.migrations = Some(info)));
        }
        Err(e) => send(query_failed("migrations", &e)),
    }
    let _ = conn.close().await;
}

/// Counts of a migration status listing.
pub fn migration_info(rows: &[migrate::StatusRow]) -> MigrationInfo {
    MigrationInfo {
        applied: rows.iter().filter(|r| r.state != State::Pending).count(),
        pending: rows.iter().filter(|r| r.state == State::Pending).count(),
        latest: rows
            .iter()
            .filter(|r| r.state != State::Pending)
            .map(|r| r.name.clone())
            .max(),
        drift: rows
            .iter()
            .filter(|r| matches!(r.state, State::Changed | State::Missing))
            .count(),
    }
}

/// One probe of every target, all at once; completes within the probe timeout (plus a little),
/// whatever the targets do. Samples come back in the order of `targets`.
pub async fn round(targets: &[Target], cfg: &ProbeConfig) -> Vec<DbSample> {
    join_all(targets.iter().map(|t| probe(t, cfg))).await
}
