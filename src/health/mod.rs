//! Health of the spec's databases: probes (sqlx, as the application user), their hosts (SSH)
//! and the SLM backend (HTTP); a monitor that samples them with retention, the seed-format JSON
//! (`/api/health/database` per database plus an `/api/health` aggregate), a text table, and
//! `doctor` (the spec's troubleshooting section, automated).
//!
//! Data flows one way: [`source`] (what to watch) → [`monitor`] (one sampler per target, each on
//! its own cadence) → [`store::HealthStore`] (owned by the monitor alone: ring buffer per
//! database, pruned by age) → [`dashboard::Snapshot`] stream → the wizard's dashboard, the
//! `health --watch` lines, `--json`.
//!
//! States: **unhealthy** (unreachable, timeout, authentication or pg_hba refusal, missing database,
//! failed query, failed security check), **degraded** (slow connect or `SELECT 1`, connections
//! above 90 % of `max_connections`, pending or drifted migrations), else **healthy**. Every state
//! but healthy carries its reasons. No password ever reaches a sample: messages go through the
//! URL's redaction and show `user@host:port/db` only.

pub mod api;
pub mod dashboard;
pub mod deployment;
pub mod doctor;
pub mod host;
pub mod migrate;
pub mod monitor;
pub mod probe;
pub mod report;
pub mod source;
pub mod store;

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::migrate::{Migration, Source};
use crate::db::{DbError, DbName, DbUrl, PoolSettings, Settings};
use crate::transport::ssh::{ForwardGuard, SshParams, SshTransport};

/// A target's state; ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Healthy,
    Degraded,
    Unhealthy,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Unhealthy => "unhealthy",
        }
    }

    /// The state the reasons call for, with the reasons in one list, unhealthy ones first.
    pub fn judge(mut unhealthy: Vec<String>, degraded: Vec<String>) -> (Status, Vec<String>) {
        let status = if !unhealthy.is_empty() {
            Status::Unhealthy
        } else if !degraded.is_empty() {
            Status::Degraded
        } else {
            Status::Healthy
        };
        unhealthy.extend(degraded);
        (status, unhealthy)
    }

    /// The worst of several (healthy for none).
    pub fn worst(it: impl IntoIterator<Item = Status>) -> Status {
        it.into_iter().max().unwrap_or(Status::Healthy)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a reachable database counts as degraded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Connect or `SELECT 1` slower than this.
    pub slow: Duration,
    /// Connections used above this fraction of `max_connections`.
    pub connections_ratio: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            slow: Duration::from_millis(500),
            connections_ratio: 0.9,
        }
    }
}

/// How probes run.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// A whole probe (connect and queries) must finish within this; otherwise the target is
    /// unhealthy with a timeout reason.
    pub timeout: Duration,
    pub thresholds: Thresholds,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            thresholds: Thresholds::default(),
        }
    }
}

/// One SSH connection to the host the databases are reached through, shared by its tunnels and
/// opened again when it drops (a long watch outlives network blips and reboots).
pub struct ViaHost {
    pub name: String,
    params: SshParams,
    conn: tokio::sync::Mutex<Option<Arc<SshTransport>>>,
}

impl ViaHost {
    pub fn new(name: String, params: SshParams) -> Self {
        Self {
            name,
            params,
            conn: tokio::sync::Mutex::new(None),
        }
    }

    /// The live connection, connecting when there is none.
    async fn connection(&self) -> Result<Arc<SshTransport>, String> {
        let mut conn = self.conn.lock().await;
        if let Some(c) = conn.as_ref()
            && !c.is_closed()
        {
            return Ok(c.clone());
        }
        let fresh = Arc::new(
            SshTransport::connect(self.params.clone())
                .await
                .map_err(|e| format!("{}: {e}", self.name))?,
        );
        *conn = Some(fresh.clone());
        Ok(fresh)
    }
}

/// An SSH tunnel a target is reached through: connections go to `local()`, which the SSH
/// connection forwards to the database server as seen from the `via` host. Opened on first use
/// and again whenever its connection dropped.
pub struct Tunnel {
    pub via: String,
    host: Arc<ViaHost>,
    remote_host: String,
    remote_port: u16,
    open: std::sync::Mutex<Option<(SocketAddr, Arc<SshTransport>, ForwardGuard)>>,
    /// One (re)opening at a time: the targets sharing the tunnel probe concurrently.
    opening: tokio::sync::Mutex<()>,
}

impl Tunnel {
    pub fn new(host: Arc<ViaHost>, remote_host: &str, remote_port: u16) -> Self {
        Self {
            via: host.name.clone(),
            host,
            remote_host: remote_host.to_string(),
            remote_port,
            open: std::sync::Mutex::new(None),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    /// The local end, when open.
    pub fn local(&self) -> Option<SocketAddr> {
        self.open.lock().ok()?.as_ref().map(|(addr, _, _)| *addr)
    }

    /// Opens the forward when it is not open or its SSH connection is gone.
    pub async fn ensure(&self) -> Result<SocketAddr, String> {
        let _one = self.opening.lock().await;
        let live = self.open.lock().ok().and_then(|open| {
            open.as_ref()
                .filter(|(_, ssh, _)| !ssh.is_closed())
                .map(|(addr, _, _)| *addr)
        });
        if let Some(addr) = live {
            return Ok(addr);
        }
        let ssh = self.host.connection().await?;
        let (addr, guard) = ssh
            .forward_local(&self.remote_host, self.remote_port)
            .await
            .map_err(|e| {
                format!(
                    "{}: cannot forward to {}:{}: {e}",
                    self.via, self.remote_host, self.remote_port
                )
            })?;
        if let Ok(mut open) = self.open.lock() {
            *open = Some((addr, ssh, guard));
        }
        Ok(addr)
    }
}

impl fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tunnel")
            .field("via", &self.via)
            .field("local", &self.local())
            .finish()
    }
}

/// One database to watch.
#[derive(Debug, Clone)]
pub struct Target {
    pub db: DbName,
    pub url: DbUrl,
    /// The migrations the database should have.
    pub migrations: Arc<Vec<Migration>>,
    pub tunnel: Option<Arc<Tunnel>>,
    /// The application's pool settings (`SLM_DB_POOL_*`): the probe keeps its connections in a
    /// pool of this size, recycled as the app's are, and checks that the app's pools fit the server.
    pub pool_settings: PoolSettings,
    /// How many of the watched databases live on this target's server (their pools add up).
    pub pools_on_server: u32,
    /// Created at the first probe (after any tunnel is in place); shared by clones.
    pool: Arc<OnceLock<sqlx::PgPool>>,
}

impl Target {
    /// The store key and JSON key: the spec's database name.
    pub fn key(&self) -> &'static str {
        self.db.as_str()
    }

    /// `host:port` of the database server (the real one, not a tunnel's local end).
    pub fn server(&self) -> String {
        format!("{}:{}", self.url.host, self.url.port)
    }

    /// A target with no pool opened yet.
    pub fn new(
        db: DbName,
        url: DbUrl,
        migrations: Arc<Vec<Migration>>,
        pool: PoolSettings,
    ) -> Self {
        Self {
            db,
            url,
            migrations,
            tunnel: None,
            pool_settings: pool,
            pools_on_server: 1,
            pool: Arc::default(),
        }
    }

    /// The probe's pool (opening no connection by itself).
    pub fn pool(&self, acquire_timeout: Duration) -> Result<sqlx::PgPool, DbError> {
        if let Some(p) = self.pool.get() {
            return Ok(p.clone());
        }
        let pool = self
            .pool_settings
            .pool_options(acquire_timeout)
            .connect_lazy_with(probe::connect_options(self)?);
        Ok(self.pool.get_or_init(|| pool).clone())
    }

    /// Logs the pool's connections out (a goodbye to the server rather than a dropped socket).
    pub async fn close(&self) {
        if let Some(p) = self.pool.get() {
            let _ = tokio::time::timeout(Duration::from_secs(1), p.close()).await;
        }
    }
}

/// The targets of `dbs`: URLs from `settings`, migrations from `source`. Everything is checked
/// before any connection (errors are bad input).
pub fn targets(
    settings: &Settings,
    dbs: &[DbName],
    source: &Source,
) -> Result<Vec<Target>, DbError> {
    // The pool settings are part of the configuration; reject nonsense early, as the backend would.
    let pool = settings.pool()?;
    let mut targets = dbs
        .iter()
        .map(|&db| {
            Ok(Target::new(
                db,
                settings.url(db)?,
                Arc::new(source.load(db)?),
                pool,
            ))
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    let servers: Vec<String> = targets.iter().map(Target::server).collect();
    for t in &mut targets {
        let server = t.server();
        t.pools_on_server = servers.iter().filter(|s| **s == server).count() as u32;
    }
    Ok(targets)
}

/// Why a probe failed (drives the state and the doctor's advice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// No answer within the probe timeout.
    Timeout,
    /// Refused, no route, name not resolved, TLS or protocol failure.
    Unreachable,
    /// The server refused the user or the password.
    Auth,
    /// pg_hba.conf has no entry for this client (SQLSTATE 28000 "no pg_hba.conf entry").
    Hba,
    /// The database does not exist (SQLSTATE 3D000).
    NoDatabase,
    /// No free connection slot for a new login (SQLSTATE 53300: max_connections, or the role's
    /// or the database's connection limit).
    TooManyConnections,
    /// The user has no CONNECT privilege on the database (SQLSTATE 42501).
    NoConnect,
    /// Connected, but a health query failed.
    Query,
    /// The SSH tunnel could not be opened.
    Tunnel,
}

/// Migration counts of a database.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MigrationInfo {
    pub applied: usize,
    pub pending: usize,
    /// The last applied migration (by name).
    pub latest: Option<String>,
    /// Applied migrations whose file changed or vanished.
    pub drift: usize,
    /// The pending migrations by name (what `m` on the dashboard would apply).
    #[serde(skip)]
    pub pending_names: Vec<String>,
}

/// The security check: the app user is no superuser and PUBLIC cannot CONNECT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Security {
    pub ok: bool,
    pub superuser: bool,
    pub public_connect: bool,
}

/// The probe's own pool, which has the application's settings (`SLM_DB_POOL_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PoolUse {
    pub size: u32,
    pub max_overflow: u32,
    /// Connections are replaced after this long (none: never).
    pub recycle_seconds: Option<u64>,
    /// Connections the probe's pool holds open.
    pub open: u32,
    /// This sample used a connection an earlier sample opened (else it logged in now).
    pub reused: bool,
    /// Watched databases on the same server: their pools share its connections.
    pub pools_on_server: u32,
}

impl PoolUse {
    /// The most connections the application's pools may open on the server.
    pub fn app_max(&self) -> i64 {
        i64::from(self.pools_on_server) * i64::from(self.size + self.max_overflow)
    }
}

/// What one probe measured. Every field but `target` is optional: a failed probe fills what it got.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Details {
    /// `user@host:port/database` (no password).
    pub target: String,
    /// The SSH host the database is reached through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// The server answered (even if it refused the login).
    pub reachable: bool,
    /// Logged in as the app user.
    pub connected: bool,
    /// Time to a usable connection: a login, or a checkout when `pool.reused`.
    pub connect_ms: Option<f64>,
    /// This sample's fresh login (every sample logs in anew, so a refusal of new logins shows
    /// while pooled connections still work); none when it was refused.
    pub login_ms: Option<f64>,
    pub select1_ms: Option<f64>,
    pub server_version: Option<String>,
    pub uptime_seconds: Option<u64>,
    pub connections_used: Option<i64>,
    pub max_connections: Option<i64>,
    /// `superuser_reserved_connections`: slots the app can never use.
    pub reserved_connections: Option<i64>,
    pub pool: Option<PoolUse>,
    pub size_bytes: Option<i64>,
    pub migrations: Option<MigrationInfo>,
    pub ssl: Option<bool>,
    pub security: Option<Security>,
    pub failure: Option<Failure>,
    /// The failure's message (redacted).
    pub error: Option<String>,
    /// Why the status is not healthy (empty when healthy).
    pub reasons: Vec<String>,
    pub sampled_at: DateTime<Utc>,
    /// How long the probe took.
    pub probe_ms: f64,
}

/// One probe of one database.
#[derive(Debug, Clone, PartialEq)]
pub struct DbSample {
    pub db: DbName,
    /// `host:port` of the server.
    pub server: String,
    pub status: Status,
    pub details: Details,
}

impl DbSample {
    /// The seed's `/api/health/database` object plus `details`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "status": self.status,
            "database": "postgresql",
            "details": self.details,
        })
    }

    /// The reasons joined, or "ok".
    pub fn reason(&self) -> String {
        if self.details.reasons.is_empty() {
            "ok".into()
        } else {
            self.details.reasons.join("; ")
        }
    }
}

/// Sets `sample.status` and its reasons from the measurements.
pub fn classify(details: &mut Details, t: &Thresholds) -> Status {
    let mut unhealthy = Vec::new();
    let mut degraded = Vec::new();
    if let Some(f) = details.failure {
        let what = match f {
            Failure::Timeout => "timed out",
            Failure::Unreachable => "unreachable",
            Failure::Auth => "authentication failed",
            Failure::Hba => "refused by pg_hba.conf",
            Failure::NoDatabase => "database does not exist",
            Failure::TooManyConnections => "no connection slot for a new login",
            Failure::NoConnect => "no CONNECT privilege",
            Failure::Query => "health query failed",
            Failure::Tunnel => "SSH tunnel failed",
        };
        match &details.error {
            Some(e) => unhealthy.push(format!("{what}: {e}")),
            None => unhealthy.push(what.to_string()),
        }
    }
    if let Some(s) = &details.security {
        if s.superuser {
            unhealthy.push("security: the app user is a superuser".into());
        }
        if s.public_connect {
            unhealthy.push("security: PUBLIC has CONNECT on the database".into());
        }
    }
    let slow_ms = t.slow.as_secs_f64() * 1000.0;
    if let Some(ms) = details.connect_ms
        && ms > slow_ms
    {
        degraded.push(format!("slow connect: {ms:.0} ms > {slow_ms:.0} ms"));
    }
    if let Some(ms) = details.select1_ms
        && ms > slow_ms
    {
        degraded.push(format!("slow SELECT 1: {ms:.0} ms > {slow_ms:.0} ms"));
    }
    if let (Some(used), Some(max)) = (details.connections_used, details.max_connections)
        && max > 0
        && used as f64 > t.connections_ratio * max as f64
    {
        degraded.push(format!(
            "connections near the limit: {used} of max_connections {max}"
        ));
    }
    if let (Some(p), Some(max), Some(reserved)) = (
        &details.pool,
        details.max_connections,
        details.reserved_connections,
    ) && p.app_max() > max - reserved
    {
        let per_pool = format!("{} + {} overflow", p.size, p.max_overflow);
        degraded.push(format!(
            "the app's pools may open {} connections ({}) but the server takes {} \
             (max_connections {max} − {reserved} reserved)",
            p.app_max(),
            if p.pools_on_server > 1 {
                format!("{} databases × ({per_pool})", p.pools_on_server)
            } else {
                per_pool
            },
            max - reserved
        ));
    }
    if let Some(m) = &details.migrations {
        if m.pending > 0 {
            degraded.push(format!("{} pending migration(s)", m.pending));
        }
        if m.drift > 0 {
            degraded.push(format!(
                "{} applied migration(s) changed or missing",
                m.drift
            ));
        }
    }
    let (status, reasons) = Status::judge(unhealthy, degraded);
    details.reasons = reasons;
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wizard logs its options (targets included) at every start: the migrations show by
    /// name, not as their whole SQL on one line.
    #[test]
    fn a_targets_debug_names_the_migrations_without_their_sql() {
        let t =
            targets(&Settings::default(), &[DbName::SlmUsers], &Source::Embedded).expect("targets");
        let text = format!("{:?}", t[0]);
        assert!(text.contains("0001_user_management.sql"), "{text}");
        assert!(!text.contains("CREATE"), "{text}");
        assert!(text.len() < 1000, "{} bytes: {text}", text.len());
    }

    #[test]
    fn classification() {
        let t = Thresholds::default();
        let mut d = Details {
            reachable: true,
            connected: true,
            connect_ms: Some(3.0),
            select1_ms: Some(0.3),
            connections_used: Some(5),
            max_connections: Some(100),
            migrations: Some(MigrationInfo::default()),
            security: Some(Security {
                ok: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(classify(&mut d, &t), Status::Healthy);
        assert!(d.reasons.is_empty());
        d.connections_used = Some(91);
        assert_eq!(classify(&mut d, &t), Status::Degraded);
        assert!(d.reasons[0].contains("91 of max_connections 100"));
        d.connections_used = Some(90);
        d.select1_ms = Some(900.0);
        assert_eq!(classify(&mut d, &t), Status::Degraded);
        d.select1_ms = Some(1.0);
        d.migrations.as_mut().unwrap().pending = 1;
        assert_eq!(classify(&mut d, &t), Status::Degraded);
        d.security.as_mut().unwrap().public_connect = true;
        assert_eq!(classify(&mut d, &t), Status::Unhealthy);
        assert!(d.reasons[0].contains("PUBLIC"), "{:?}", d.reasons);
        assert!(d.reasons[1].contains("pending"), "{:?}", d.reasons);
        let mut f = Details {
            failure: Some(Failure::Auth),
            error: Some("bad".into()),
            ..Default::default()
        };
        assert_eq!(classify(&mut f, &t), Status::Unhealthy);
        assert_eq!(f.reasons, vec!["authentication failed: bad".to_string()]);

        // The app's pools must fit into what the server accepts from non-superusers.
        let mut p = Details {
            max_connections: Some(100),
            reserved_connections: Some(3),
            pool: Some(PoolUse {
                size: 20,
                max_overflow: 10,
                pools_on_server: 3,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(classify(&mut p, &t), Status::Healthy, "{:?}", p.reasons);
        p.pool.as_mut().unwrap().size = 22;
        assert_eq!(classify(&mut p, &t), Status::Healthy, "96 of 97");
        p.pool.as_mut().unwrap().size = 23;
        assert_eq!(classify(&mut p, &t), Status::Degraded);
        assert_eq!(
            p.reasons,
            [
                "the app's pools may open 99 connections (3 databases × (23 + 10 overflow)) \
              but the server takes 97 (max_connections 100 − 3 reserved)"
            ]
        );
        p.pool.as_mut().unwrap().pools_on_server = 1;
        assert_eq!(classify(&mut p, &t), Status::Healthy);
        assert_eq!(
            Status::worst([Status::Healthy, Status::Unhealthy, Status::Degraded]),
            Status::Unhealthy
        );
        assert_eq!(Status::worst([]), Status::Healthy);
    }
}
