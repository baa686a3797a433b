//! Connections and pools, and the causes of a refused login named in words.

use super::*;

/// Pool settings of the spec (SQLAlchemy's names): at most `size + max_overflow` connections,
/// each replaced after `recycle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    pub size: u32,
    pub max_overflow: u32,
    pub recycle: Option<Duration>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            size: 20,
            max_overflow: 10,
            recycle: Some(Duration::from_secs(3600)),
        }
    }
}

impl PoolSettings {
    pub fn max_connections(&self) -> u32 {
        self.size + self.max_overflow
    }

    pub fn pool_options(&self, acquire_timeout: Duration) -> PgPoolOptions {
        PgPoolOptions::new()
            .min_connections(0)
            .max_connections(self.max_connections())
            .max_lifetime(self.recycle)
            .acquire_timeout(acquire_timeout)
    }
}

/// One connection to `db` at `url`, within `timeout`.
pub async fn connect(db: DbName, url: &DbUrl, timeout: Duration) -> Result<PgConnection, DbError> {
    connect_with(db, url, url.connect_options()?, timeout).await
}

/// One connection to `db` with `opts` (`url`'s, perhaps pointed at a tunnel), within `timeout`;
/// errors name `url`'s target.
pub async fn connect_with(
    db: DbName,
    url: &DbUrl,
    opts: PgConnectOptions,
    timeout: Duration,
) -> Result<PgConnection, DbError> {
    match tokio::time::timeout(timeout, opts.connect()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(connect_error(db, url, &e)),
        Err(_) => Err(DbError::Connect {
            database: db.to_string(),
            target: url.target(),
            message: format!("no answer within {} s", timeout.as_secs()),
        }),
    }
}

/// A pool for `db` with the spec's settings; one connection is opened to check the settings.
pub async fn pool(
    db: DbName,
    url: &DbUrl,
    settings: &PoolSettings,
    timeout: Duration,
) -> Result<PgPool, DbError> {
    let opts = url.connect_options()?;
    settings
        .pool_options(timeout)
        .connect_with(opts)
        .await
        .map_err(|e| connect_error(db, url, &e))
}

/// Why a server that answered refused a new login (SQLSTATE and message, as PostgreSQL 15 words
/// them). Each has its own cause and fix; a "check the password" for a pg_hba refusal sends the
/// operator the wrong way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 28000 "no pg_hba.conf entry for host …" or "pg_hba.conf rejects connection …".
    Hba,
    /// 28P01 "password authentication failed": a wrong password, or (with password
    /// authentication) a role that does not exist — the server tells the client neither.
    Password,
    /// 28000 "role … does not exist" (said where no password is asked).
    NoRole,
    /// 28000 "role … is not permitted to log in".
    NoLogin,
    /// Another authentication failure (SQLSTATE class 28).
    Auth,
    /// 3D000 "database … does not exist".
    NoDatabase,
    /// 53300: max_connections, or the connection limit of the role or the database.
    TooManyConnections,
    /// 42501 "permission denied for database": no CONNECT privilege.
    NoConnect,
}

impl Refusal {
    /// The refusal an error's SQLSTATE and message describe (none: not a login refusal).
    pub fn classify(code: &str, message: &str) -> Option<Refusal> {
        let m = message.to_ascii_lowercase();
        Some(match code {
            "28000" if m.contains("pg_hba.conf") => Refusal::Hba,
            "28000" if m.starts_with("role ") && m.contains("does not exist") => Refusal::NoRole,
            "28000" if m.contains("not permitted to log in") => Refusal::NoLogin,
            "28P01" => Refusal::Password,
            c if c.starts_with("28") => Refusal::Auth,
            "3D000" => Refusal::NoDatabase,
            "53300" => Refusal::TooManyConnections,
            "42501" if m.contains("database") => Refusal::NoConnect,
            _ => return None,
        })
    }

    /// Refusals of the credentials themselves (the rest: the server's configuration).
    pub fn is_auth(self) -> bool {
        matches!(
            self,
            Refusal::Password | Refusal::NoRole | Refusal::NoLogin | Refusal::Auth
        )
    }

    /// The real cause and what to do, for the login of `url`.
    pub fn hint(self, url: &DbUrl) -> String {
        let (var, user, database) = (&url.var, &url.user, &url.database);
        let server = format!("{}:{}", url.host, url.port);
        match self {
            Refusal::Hba => format!(
                "no line of the server's pg_hba.conf admits {user} to {database} from this client: \
                 add one (list the client in postgresql_allowed_clients and re-run the playbook) \
                 and reload PostgreSQL; the password is not the problem"
            ),
            Refusal::Password | Refusal::Auth if !url.has_password() => format!(
                "{var} has no password: give USER:PASSWORD@ in it, or use --env-file {BACKEND_ENV_FILE}"
            ),
            Refusal::Password => format!(
                "check the password in {var}; the server answers the same when role {user} does \
                 not exist (its log says which)"
            ),
            Refusal::Auth => format!("check the user and password in {var}"),
            Refusal::NoRole => format!(
                "role {user} does not exist on {server}: create it by running the playbook, or fix the user in {var}"
            ),
            Refusal::NoLogin => format!(
                "role {user} may not log in: ALTER ROLE {user} LOGIN (the playbook creates it so)"
            ),
            Refusal::NoDatabase => format!(
                "database {database} does not exist on {server}: create it by running the \
                 playbook, or fix the database in {var}"
            ),
            Refusal::TooManyConnections => format!(
                "the server takes no new connection (max_connections, or the CONNECTION LIMIT of \
                 {user} or {database}): the app's new connections fail too; see pg_stat_activity"
            ),
            Refusal::NoConnect => format!(
                "{user} has no CONNECT privilege on {database}: GRANT CONNECT ON DATABASE {database} TO {user}"
            ),
        }
    }
}

/// Classifies a connection failure: a refused login (with the cause's hint) or anything else.
pub fn connect_error(db: DbName, url: &DbUrl, e: &sqlx::Error) -> DbError {
    if let Some(de) = e.as_database_error() {
        let code = de.code().map(|c| c.into_owned()).unwrap_or_default();
        let message = url.redact(de.message());
        match Refusal::classify(&code, de.message()) {
            Some(r) if r.is_auth() => {
                return DbError::Auth {
                    database: db.to_string(),
                    target: url.target(),
                    var: url.var.clone(),
                    message,
                    hint: r.hint(url),
                };
            }
            Some(r) => {
                return DbError::Refused {
                    database: db.to_string(),
                    target: url.target(),
                    refusal: r,
                    message,
                    hint: r.hint(url),
                };
            }
            None => {}
        }
        return DbError::Connect {
            database: db.to_string(),
            target: url.target(),
            message: format!("{message} (SQLSTATE {code})"),
        };
    }
    let message = match e {
        sqlx::Error::PoolTimedOut => "timed out waiting for a connection".to_string(),
        other => other.to_string(),
    };
    DbError::Connect {
        database: db.to_string(),
        target: url.target(),
        message: url.redact(&message),
    }
}
