//! Probing one database as its application user, and one round over several at once.

use std::time::{Duration, Instant};

use chrono::Utc;
use futures::future::join_all;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool, Postgres};
use tokio::sync::mpsc::UnboundedSender;

use super::{
    DbSample, Details, Failure, MigrationInfo, PoolUse, ProbeConfig, Security, Target, classify,
};
use crate::db::migrate::{self, State};
use crate::db::{self, DbError, Refusal};

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The connection options of a target (through its tunnel, if any and open).
pub fn connect_options(target: &Target) -> Result<PgConnectOptions, DbError> {
    let opts = target.url.connect_options()?;
    Ok(match target.tunnel.as_ref().and_then(|t| t.local()) {
        Some(local) => opts.host(&local.ip().to_string()).port(local.port()),
        None => opts,
    })
}

/// Opens the target's tunnel if it is not (or no longer) open, and points `pool` at its current
/// local end.
async fn through_tunnel(target: &Target, pool: Option<&PgPool>) -> Result<(), ConnectFailure> {
    let Some(tunnel) = &target.tunnel else {
        return Ok(());
    };
    let local = tunnel.ensure().await.map_err(|message| ConnectFailure {
        failure: Failure::Tunnel,
        message: target.url.redact(&message),
        code: None,
    })?;
    let points_there = |o: &PgConnectOptions| {
        o.get_port() == local.port() && o.get_host() == local.ip().to_string()
    };
    if let Some(pool) = pool
        && !points_there(&pool.connect_options())
        && let Ok(opts) = connect_options(target)
    {
        pool.set_connect_options(opts);
    }
    Ok(())
}

/// The target's pool, its tunnel open and the pool pointed at it: done once per sample,
/// before the probe's clock starts (an SSH login may take longer than a probe may, and one cut
/// short would only start over at the next sample).
async fn ready_pool(target: &Target, timeout: Duration) -> Result<PgPool, ConnectFailure> {
    let pool = target.pool(timeout).map_err(|e| bad_url(target, &e))?;
    through_tunnel(target, Some(&pool)).await?;
    Ok(pool)
}

/// A failed connection attempt, classified; the message is safe to print.
#[derive(Debug, Clone)]
pub struct ConnectFailure {
    pub failure: Failure,
    pub message: String,
    /// SQLSTATE, when the server answered with an error.
    pub code: Option<String>,
}

impl ConnectFailure {
    /// The server answered and refused the login (not: no answer, no route, no tunnel).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self.failure,
            Failure::Auth
                | Failure::Hba
                | Failure::NoDatabase
                | Failure::TooManyConnections
                | Failure::NoConnect
        )
    }

    /// Records the failure in a sample: a server that refused the login did answer.
    fn apply(self, d: &mut Details) {
        d.reachable = matches!(
            self.failure,
            Failure::Auth
                | Failure::Hba
                | Failure::NoDatabase
                | Failure::TooManyConnections
                | Failure::NoConnect
        );
        d.failure = Some(self.failure);
        d.error = Some(self.message);
    }
}

/// A URL that yields no connection options.
fn bad_url(target: &Target, e: &DbError) -> ConnectFailure {
    ConnectFailure {
        failure: Failure::Unreachable,
        message: target.url.redact(&e.to_string()),
        code: None,
    }
}

/// Classifies a connection error (the message comes from [`db::connect_error`]: redacted, with
/// the hint of the refusal's real cause).
pub fn classify_connect(target: &Target, e: &sqlx::Error) -> ConnectFailure {
    let code = e
        .as_database_error()
        .and_then(|d| d.code().map(|c| c.into_owned()));
    let raw = e
        .as_database_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    let failure = match code.as_deref().and_then(|c| Refusal::classify(c, &raw)) {
        Some(Refusal::Hba) => Failure::Hba,
        Some(Refusal::NoDatabase) => Failure::NoDatabase,
        Some(Refusal::TooManyConnections) => Failure::TooManyConnections,
        Some(Refusal::NoConnect) => Failure::NoConnect,
        Some(_) => Failure::Auth,
        None => Failure::Unreachable,
    };
    let message = match db::connect_error(target.db, &target.url, e) {
        // The error's own text repeats database and target; keep the server's words and the hint.
        DbError::Auth { message, hint, .. } | DbError::Refused { message, hint, .. } => {
            format!("{message} ({hint})")
        }
        DbError::Connect { message, .. } => message,
        other => target.url.redact(&other.to_string()),
    };
    ConnectFailure {
        failure,
        message,
        code,
    }
}

/// Connects as the app user within `timeout` (opening its tunnel first, if any); returns the
/// connection and how long it took.
pub async fn connect(
    target: &Target,
    timeout: Duration,
) -> Result<(PgConnection, Duration), ConnectFailure> {
    through_tunnel(target, None).await?;
    login(target, timeout).await
}

/// Logs in as the app user within `timeout`, through the tunnel as it is.
async fn login(
    target: &Target,
    timeout: Duration,
) -> Result<(PgConnection, Duration), ConnectFailure> {
    let opts = connect_options(target).map_err(|e| bad_url(target, &e))?;
    let t0 = Instant::now();
    match tokio::time::timeout(timeout, opts.connect()).await {
        Ok(Ok(c)) => Ok((c, t0.elapsed())),
        Ok(Err(e)) => Err(classify_connect(target, &e)),
        Err(_) => Err(timed_out(timeout)),
    }
}

/// Everything one query reads (one round trip).
const STATS_SQL: &str = "SELECT current_setting('server_version'),
        EXTRACT(EPOCH FROM now() - pg_postmaster_start_time())::float8,
        (SELECT COALESCE(sum(numbackends), 0) FROM pg_stat_database)::int8,
        current_setting('max_connections')::int8,
        current_setting('superuser_reserved_connections')::int8,
        pg_database_size(current_database())::int8,
        COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false),
        COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false),
        EXISTS (SELECT 1 FROM pg_database d,
                       aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a
                 WHERE d.datname = current_database()
                   AND a.grantee = 0 AND a.privilege_type = 'CONNECT')";

type StatsRow = (String, f64, i64, i64, i64, i64, bool, bool, bool);

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
    let finish = |mut details: Details| {
        details.probe_ms = ms(started.elapsed());
        let status = classify(&mut details, &cfg.thresholds);
        DbSample {
            db: target.db,
            server: target.server(),
            status,
            details,
        }
    };
    let pool = match ready_pool(target, cfg.timeout).await {
        Ok(p) => p,
        Err(f) => {
            f.apply(&mut details);
            return finish(details);
        }
    };
    // The measurements land in `details` as they come, so a timeout keeps what was measured.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Update>();
    let deadline = tokio::time::Instant::now() + cfg.timeout;
    // `measure` keeps its own deadline so it can drop a stuck connection instead of returning it
    // to the pool; this one is the backstop.
    let backstop = deadline + Duration::from_millis(250);
    let finished = tokio::time::timeout_at(backstop, measure(target, &pool, deadline, tx))
        .await
        .unwrap_or(false);
    while let Ok(apply) = rx.try_recv() {
        apply(&mut details);
    }
    if !finished && details.failure.is_none() {
        details.failure = Some(Failure::Timeout);
        details.error = Some(format!(
            "the probe did not finish within {:.1} s",
            cfg.timeout.as_secs_f64()
        ));
    }
    finish(details)
}

type Update = Box<dyn FnOnce(&mut Details) + Send>;

type Pooled = PoolConnection<Postgres>;

/// A connection from the target's pool, logged in now when the pool holds none idle; with the
/// time it took and whether it was reused.
async fn checkout(
    target: &Target,
    pool: &PgPool,
    deadline: tokio::time::Instant,
) -> Result<(Pooled, Duration, bool), ConnectFailure> {
    let t0 = Instant::now();
    // The last sample's connection may still be on its way back: the pool pings a connection
    // before it takes it back. Wait for it briefly (a hung one is left to its fate).
    let wait_until = deadline.min(tokio::time::Instant::now() + Duration::from_millis(250));
    loop {
        if let Some(conn) = pool.try_acquire() {
            return Ok((conn, t0.elapsed(), true));
        }
        let returning = pool.size() > pool.num_idle() as u32;
        if !returning || tokio::time::Instant::now() >= wait_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Log in directly first: the pool retries a refused connection until its own timeout and
    // then only says "timed out", where a direct login says why. Once per recycle, so cheap.
    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
    let (direct, took) = login(target, remaining).await?;
    let _ = tokio::time::timeout_at(deadline, direct.close()).await;
    match tokio::time::timeout_at(deadline, pool.acquire()).await {
        Ok(Ok(conn)) => Ok((conn, took, false)),
        Ok(Err(e)) => Err(classify_connect(target, &e)),
        Err(_) => Err(timed_out(remaining)),
    }
}

fn timed_out(after: Duration) -> ConnectFailure {
    ConnectFailure {
        failure: Failure::Timeout,
        message: format!("no answer within {:.1} s", after.as_secs_f64()),
        code: None,
    }
}

/// Runs one query on a pooled connection before `deadline`. A connection whose query failed or
/// timed out is closed, not returned: it may be mid-answer, and a released connection is pinged,
/// which would hang on a server that stopped answering.
async fn query<T, E>(
    conn: &mut Option<Pooled>,
    deadline: tokio::time::Instant,
    run: impl AsyncFnOnce(&mut PgConnection) -> Result<T, E>,
) -> Option<Result<T, E>> {
    let c = conn.as_mut()?;
    let res = tokio::time::timeout_at(deadline, run(&mut **c)).await;
    if !matches!(res, Ok(Ok(_))) {
        // Detached, the connection is just dropped (its socket closed); the pool may open another.
        drop(conn.take().map(PoolConnection::detach));
    }
    res.ok()
}

/// Measures into `tx`; false when the deadline cut it short.
async fn measure(
    target: &Target,
    pool: &PgPool,
    deadline: tokio::time::Instant,
    tx: UnboundedSender<Update>,
) -> bool {
    // Sends an update; true, so a failure can end the measurement as finished.
    let send = |f: Update| {
        let _ = tx.send(f);
        true
    };
    let fail = |f: ConnectFailure| -> Update { Box::new(move |d| f.apply(d)) };
    let query_failed = |what: &str, e: &dyn std::fmt::Display| -> Update {
        let msg = target.url.redact(&format!("{what}: {e}"));
        Box::new(move |d| {
            // A refused fresh login came first and is the cause (e.g. no CONNECT privilege
            // also fails pg_database_size).
            if d.failure.is_none() {
                d.failure = Some(Failure::Query);
                d.error = Some(msg);
            }
        })
    };
    // A reused connection may have died since the last sample (server restarted): then log in
    // again within this sample rather than report the dead connection.
    let mut conn;
    let mut took_select1;
    let mut reused;
    let mut took;
    loop {
        let (c, t, r) = match checkout(target, pool, deadline).await {
            Ok(x) => x,
            Err(f) => return send(fail(f)),
        };
        (conn, took, reused) = (Some(c), t, r);
        let t0 = Instant::now();
        let res = query(&mut conn, deadline, async |c| {
            sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(c).await
        })
        .await;
        took_select1 = t0.elapsed();
        match res {
            Some(Ok(_)) => break,
            Some(Err(_)) if reused => continue,
            Some(Err(e)) => return send(query_failed("SELECT 1", &e)),
            None => return false,
        }
    }
    // A pooled connection was authenticated when it was opened: pg_hba.conf, the password, the
    // role, the database and the free slots are checked at new logins only. So every sample also
    // logs in anew, as the app's pool does after a recycle, and a refusal of new logins shows at
    // the next sample. (Without a reused connection, `checkout` just logged in.)
    let fresh_login = if reused {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        match login(target, remaining).await {
            Ok((fresh, t)) => {
                let _ = tokio::time::timeout_at(deadline, fresh.close()).await;
                Some(t)
            }
            // A refusal of new logins is the point of this login; keep measuring over the
            // pooled connection: latency and pool figures still tell.
            Err(f) if f.is_refusal() => {
                let _ = send(fail(f));
                None
            }
            // No answer in what was left of the sample's time says nothing the pooled
            // connection did not: not a failure of this sample.
            Err(f) => {
                tracing::debug!(
                    "fresh login of {} not finished: {}",
                    target.key(),
                    f.message
                );
                None
            }
        }
    } else {
        Some(took)
    };
    let use_ = PoolUse {
        size: target.pool_settings.size,
        max_overflow: target.pool_settings.max_overflow,
        recycle_seconds: target.pool_settings.recycle.map(|r| r.as_secs()),
        open: pool.size(),
        reused,
        pools_on_server: target.pools_on_server,
    };
    let _ = send(Box::new(move |d| {
        d.reachable = true;
        d.connected = true;
        d.connect_ms = Some(ms(took));
        d.login_ms = fresh_login.map(ms);
        d.select1_ms = Some(ms(took_select1));
        d.pool = Some(use_);
    }));
    match query(&mut conn, deadline, async |c| {
        sqlx::query_as::<_, StatsRow>(STATS_SQL).fetch_one(c).await
    })
    .await
    {
        Some(Ok((version, uptime, used, max, reserved, size, ssl, superuser, public_connect))) => {
            let _ = send(Box::new(move |d| {
                d.server_version = Some(version);
                d.uptime_seconds = Some(uptime.max(0.0) as u64);
                d.connections_used = Some(used);
                d.max_connections = Some(max);
                d.reserved_connections = Some(reserved);
                d.size_bytes = Some(size);
                d.ssl = Some(ssl);
                d.security = Some(Security {
                    ok: !superuser && !public_connect,
                    superuser,
                    public_connect,
                });
            }));
        }
        Some(Err(e)) => return send(query_failed("statistics", &e)),
        None => return false,
    }
    let migrations = &target.migrations;
    match query(&mut conn, deadline, async |c| {
        migrate::status(c, target.db, migrations).await
    })
    .await
    {
        Some(Ok(rows)) => {
            let info = migration_info(&rows);
            send(Box::new(move |d| d.migrations = Some(info)))
        }
        Some(Err(e)) => send(query_failed("migrations", &e)),
        None => false,
    }
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
        pending_names: rows
            .iter()
            .filter(|r| r.state == State::Pending)
            .map(|r| r.name.clone())
            .collect(),
    }
}

/// One probe of every target, all at once; completes within the probe timeout (plus a little),
/// whatever the targets do. Samples come back in the order of `targets`.
pub async fn round(targets: &[Target], cfg: &ProbeConfig) -> Vec<DbSample> {
    join_all(targets.iter().map(|t| probe(t, cfg))).await
}
