//! PostgreSQL access: the databases of the spec, their URLs (environment variables or the env file
//! the playbook writes), pool settings, and the typed errors of everything database-related.
//!
//! URLs are accepted in the SLM backend's SQLAlchemy form (`postgresql+asyncpg://…`) and the libpq
//! forms (`postgresql://…`, `postgres://…`) and normalised to `postgres://`. A password is never
//! shown: error messages carry `user@host:port/db` or the URL with the password masked.

/// Connections, pools and the causes of a refused login.
mod connect;
pub mod migrate;
/// Database URLs: parsing, normalising and masking.
mod url;

pub use connect::{PoolSettings, Refusal, connect, connect_error, connect_with, pool};
pub use url::{DbUrl, mask_url};

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, PgConnection};

/// One of the spec's databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DbName {
    /// Main SLM operational database (SLM server).
    Slm,
    /// SLM admin users (SLM server).
    SlmUsers,
    /// AutoBot application users (Redis VM).
    AutobotUsers,
}

impl DbName {
    pub const ALL: [DbName; 3] = [DbName::Slm, DbName::SlmUsers, DbName::AutobotUsers];

    /// The database's name in the spec (also the folder of its migrations).
    pub fn as_str(self) -> &'static str {
        match self {
            DbName::Slm => "slm",
            DbName::SlmUsers => "slm_users",
            DbName::AutobotUsers => "autobot_users",
        }
    }

    /// The environment variable holding its URL.
    pub fn url_var(self) -> &'static str {
        match self {
            DbName::Slm => "SLM_DATABASE_URL",
            DbName::SlmUsers => "SLM_USERS_DATABASE_URL",
            DbName::AutobotUsers => "AUTOBOT_USERS_DATABASE_URL",
        }
    }

    /// The spec's default URL.
    pub fn default_url(self) -> &'static str {
        match self {
            DbName::Slm => "postgresql+asyncpg://slm_app@127.0.0.1:5432/slm",
            DbName::SlmUsers => "postgresql+asyncpg://slm_app@127.0.0.1:5432/slm_users",
            DbName::AutobotUsers => {
                "postgresql+asyncpg://autobot_app@172.16.168.23:5432/autobot_users"
            }
        }
    }

    pub fn from_name(name: &str) -> Option<DbName> {
        DbName::ALL.into_iter().find(|d| d.as_str() == name)
    }

    /// `slm`, `slm_users`, `autobot_users` or `all` (every database, in that order).
    pub fn parse_selection(s: &str) -> Result<Vec<DbName>, DbError> {
        match s.trim() {
            "all" => Ok(DbName::ALL.to_vec()),
            name => DbName::from_name(name).map(|d| vec![d]).ok_or_else(|| {
                DbError::BadInput(format!(
                    "unknown database '{name}'; valid: slm, slm_users, autobot_users, all"
                ))
            }),
        }
    }
}

impl fmt::Display for DbName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong with a database. `is_bad_input` tells the CLI's exit code 5
/// (wrong settings, found before connecting) from 1 (the database or a migration failed).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A URL that cannot be used; `masked` is the URL with its password replaced by `***`.
    #[error(
        "{var}: {problem} (in {masked}); expected postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DATABASE or postgres://…"
    )]
    BadUrl {
        var: String,
        masked: String,
        problem: String,
    },
    /// A pool setting that is not a valid number.
    #[error("{var}={value:?}: {problem}")]
    BadSetting {
        var: String,
        value: String,
        problem: String,
    },
    /// The env file cannot be read or has a malformed line (`line` 0 = the whole file).
    #[error("{}{}: {problem}", path.display(), if *line > 0 { format!(":{line}") } else { String::new() })]
    EnvFile {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    /// A migrations folder or file that cannot be used.
    #[error("{location}: {problem}")]
    BadMigrations { location: String, problem: String },
    /// Other bad input (e.g. an unknown database name).
    #[error("{0}")]
    BadInput(String),
    /// The server cannot be reached (refused, timeout, TLS, protocol).
    #[error("{database}: cannot connect to {target}: {message}")]
    Connect {
        database: String,
        target: String,
        message: String,
    },
    /// The server refused the user or the password.
    #[error("{database}: authentication failed for {target}: {message} ({hint})")]
    Auth {
        database: String,
        target: String,
        /// The variable holding the URL.
        var: String,
        message: String,
        /// What to check.
        hint: String,
    },
    /// The server answered but refused the login for another reason than the credentials:
    /// pg_hba.conf, a missing database, no free connection slot, no CONNECT privilege.
    #[error("{database}: {target} refused the login: {message} ({hint})")]
    Refused {
        database: String,
        target: String,
        refusal: Refusal,
        message: String,
        /// The real cause and what to do.
        hint: String,
    },
    /// An applied migration's file changed since it was applied.
    #[error(
        "{database}: {file} was changed after it was applied (recorded sha256 {recorded}, file now {actual}); refusing to migrate, nothing was applied — restore the file and put changes in a new migration"
    )]
    ChecksumMismatch {
        database: String,
        file: String,
        recorded: String,
        actual: String,
    },
    /// An applied migration's file is gone.
    #[error(
        "{database}: {file} is recorded as applied but is not among the migrations; refusing to migrate, nothing was applied — restore the file"
    )]
    MissingFile { database: String, file: String },
    /// A migration's SQL failed; its transaction was rolled back.
    #[error("{database}: {file}{}: {message}; the migration was rolled back, nothing of it was applied", line.map(|l| format!(":{l}")).unwrap_or_default())]
    MigrationSql {
        database: String,
        file: String,
        line: Option<usize>,
        message: String,
    },
    /// Another statement failed (bookkeeping, privileges, …).
    #[error("{database}: {context}: {message}")]
    Sql {
        database: String,
        context: String,
        message: String,
    },
    /// Another `slm-wizard migrate` holds the migration lock of this database.
    #[error(
        "{database}: another migration run holds the migration lock (waited {waited_s} s); try again when it has finished"
    )]
    Locked { database: String, waited_s: u64 },
}

impl DbError {
    /// Wrong settings or files, found before anything ran (exit code 5).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            DbError::BadUrl { .. }
                | DbError::BadSetting { .. }
                | DbError::EnvFile { .. }
                | DbError::BadMigrations { .. }
                | DbError::BadInput(_)
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Settings: process environment, optionally overlaid by an env file
// ---------------------------------------------------------------------------------------------

/// Where settings come from: the process environment, with the variables of an env file (when
/// one is given on the command line) taking precedence, since naming the file is explicit.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    vars: HashMap<String, String>,
}

impl Settings {
    /// The process environment.
    pub fn from_env() -> Self {
        Self {
            vars: std::env::vars().collect(),
        }
    }

    /// Exactly these variables (tests, or callers with their own source).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Overlays the variables of an env file (`KEY="VALUE"` lines, as
    /// `playbooks/templates/database.env.j2` writes them).
    pub fn with_env_file(mut self, path: &Path) -> Result<Self, DbError> {
        let text = std::fs::read_to_string(path).map_err(|e| DbError::EnvFile {
            path: path.to_path_buf(),
            line: 0,
            problem: format!("cannot read: {e}"),
        })?;
        self.vars.extend(parse_env_file(path, &text)?);
        Ok(self)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// The URL of `db`: its variable, else the spec's default.
    pub fn url(&self, db: DbName) -> Result<DbUrl, DbError> {
        match self.get(db.url_var()) {
            Some(v) if !v.trim().is_empty() => DbUrl::parse(db.url_var(), v.trim()),
            _ => DbUrl::parse(db.url_var(), db.default_url()),
        }
    }

    /// Whether any database URL is set (else every database takes the spec's default).
    pub fn has_urls(&self) -> bool {
        DbName::ALL
            .iter()
            .any(|db| self.get(db.url_var()).is_some_and(|v| !v.trim().is_empty()))
    }

    /// Pool settings from `SLM_DB_POOL_SIZE`, `SLM_DB_POOL_MAX_OVERFLOW`, `SLM_DB_POOL_RECYCLE`.
    pub fn pool(&self) -> Result<PoolSettings, DbError> {
        let int = |var: &str, default: i64| -> Result<i64, DbError> {
            match self.get(var).map(str::trim) {
                None | Some("") => Ok(default),
                Some(v) => v.parse::<i64>().map_err(|_| DbError::BadSetting {
                    var: var.into(),
                    value: v.into(),
                    problem: "not a whole number".into(),
                }),
            }
        };
        let bad = |var: &str, v: i64, problem: &str| DbError::BadSetting {
            var: var.into(),
            value: v.to_string(),
            problem: problem.into(),
        };
        let size = int("SLM_DB_POOL_SIZE", 20)?;
        if !(1..=10_000).contains(&size) {
            return Err(bad("SLM_DB_POOL_SIZE", size, "must be between 1 and 10000"));
        }
        let overflow = int("SLM_DB_POOL_MAX_OVERFLOW", 10)?;
        if !(0..=10_000).contains(&overflow) {
            return Err(bad(
                "SLM_DB_POOL_MAX_OVERFLOW",
                overflow,
                "must be between 0 and 10000",
            ));
        }
        let recycle = int("SLM_DB_POOL_RECYCLE", 3600)?;
        if recycle < -1 {
            return Err(bad(
                "SLM_DB_POOL_RECYCLE",
                recycle,
                "must be seconds (>= 1), or 0 / -1 for never",
            ));
        }
        Ok(PoolSettings {
            size: size as u32,
            max_overflow: overflow as u32,
            recycle: (recycle > 0).then(|| Duration::from_secs(recycle as u64)),
        })
    }
}

/// Parses `KEY=VALUE` lines: blank lines and `#` comments are skipped, an `export ` prefix is
/// allowed, values may be double-quoted (with `\"`, `\\`, `\n` escapes) or single-quoted (verbatim).
pub fn parse_env_file(path: &Path, text: &str) -> Result<Vec<(String, String)>, DbError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let err = |problem: &str| DbError::EnvFile {
            path: path.to_path_buf(),
            line: i + 1,
            problem: problem.into(),
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((key, value)) = line.split_once('=') else {
            return Err(err("expected KEY=\"VALUE\""));
        };
        let key = key.trim();
        let valid_key = !key.is_empty()
            && !key.starts_with(|c: char| c.is_ascii_digit())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_key {
            return Err(err(
                "the name before '=' must be letters, digits and '_' (e.g. SLM_DATABASE_URL)",
            ));
        }
        let value = value.trim();
        let value = if let Some(rest) = value.strip_prefix('"') {
            let mut s = String::new();
            let mut chars = rest.chars();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some(c) => s.push(c),
                        None => break,
                    },
                    c => s.push(c),
                }
            }
            let tail = chars.as_str().trim();
            if !closed {
                return Err(err("unterminated double quote"));
            }
            if !(tail.is_empty() || tail.starts_with('#')) {
                return Err(err("unexpected text after the closing quote"));
            }
            s
        } else if let Some(rest) = value.strip_prefix('\'') {
            let Some((s, tail)) = rest.split_once('\'') else {
                return Err(err("unterminated single quote"));
            };
            let tail = tail.trim();
            if !(tail.is_empty() || tail.starts_with('#')) {
                return Err(err("unexpected text after the closing quote"));
            }
            s.to_string()
        } else {
            // Unquoted: up to a " #" comment.
            match value.find(" #") {
                Some(p) => value[..p].trim_end().to_string(),
                None => value.to_string(),
            }
        };
        out.push((key.to_string(), value));
    }
    Ok(out)
}

/// Where the playbook writes the SLM backend's database settings on the SLM server.
pub const BACKEND_ENV_FILE: &str = "/etc/slm/database.env";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_specs() {
        let s = Settings::from_pairs(Vec::<(String, String)>::new());
        let u = s.url(DbName::SlmUsers).unwrap();
        assert_eq!(u.target(), "slm_app@127.0.0.1:5432/slm_users");
        assert!(!u.has_password());
        assert_eq!(u.var, "SLM_USERS_DATABASE_URL");
        assert_eq!(
            s.url(DbName::Slm).unwrap().target(),
            "slm_app@127.0.0.1:5432/slm"
        );
        assert_eq!(
            s.url(DbName::AutobotUsers).unwrap().target(),
            "autobot_app@172.16.168.23:5432/autobot_users"
        );
        assert_eq!(s.pool().unwrap(), PoolSettings::default());
        assert_eq!(PoolSettings::default().max_connections(), 30);
    }

    #[test]
    fn both_url_forms_normalise_to_postgres() {
        for raw in [
            "postgresql+asyncpg://slm_app:s%40cr%2Ft@db.example:6543/slm_users?sslmode=require",
            "postgres://slm_app:s%40cr%2Ft@db.example:6543/slm_users?sslmode=require",
            "postgresql://slm_app:s@cr/t@db.example:6543/slm_users?sslmode=require",
        ] {
            let u = DbUrl::parse("X", raw).unwrap();
            assert_eq!(u.user, "slm_app");
            assert_eq!(u.password(), Some("s@cr/t"));
            assert_eq!(u.host, "db.example");
            assert_eq!(u.port, 6543);
            assert_eq!(u.database, "slm_users");
            assert_eq!(u.query.as_deref(), Some("sslmode=require"));
            assert_eq!(
                u.connect_string(),
                "postgres://slm_app:s%40cr%2Ft@db.example:6543/slm_users?sslmode=require"
            );
            assert_eq!(
                u.to_string(),
                "postgres://slm_app:***@db.example:6543/slm_users?sslmode=require"
            );
            let o = u.connect_options().unwrap();
            assert_eq!(o.get_host(), "db.example");
            assert_eq!(o.get_port(), 6543);
            assert_eq!(o.get_username(), "slm_app");
            assert_eq!(o.get_database(), Some("slm_users"));
            assert!(!format!("{u:?}").contains("cr/t"));
        }
        let v6 = DbUrl::parse("X", "postgres://u:p@[::1]:5433/d").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("[::1]", 5433));
        let noport = DbUrl::parse("X", "postgres://u@h/d").unwrap();
        assert_eq!(noport.port, 5432);
    }

    #[test]
    fn bad_urls_name_the_variable_and_never_show_the_password() {
        let cases = [
            ("mysql://slm_app:TopSecret99@h/slm", "unsupported scheme"),
            ("postgres://slm_app:TopSecret99@h:99999/slm", "port"),
            ("postgres://slm_app:TopSecret99/slm", "no user name"),
            ("postgres://slm_app:TopSecret99@h", "no database"),
            ("postgres://slm_app:TopSecret99@/slm", "no host"),
            ("postgres://:TopSecret99@h/slm", "no user name"),
            ("postgres://slm_app:Top%zzSecret99@h/slm", "%-escape"),
            ("TopSecret99", "not a URL"),
            ("postgres://slm_app:TopSecret99@h/slm?sslmode=bogus", ""),
        ];
        for (raw, want) in cases {
            let e = DbUrl::parse("SLM_USERS_DATABASE_URL", raw).unwrap_err();
            let msg = e.to_string();
            assert!(e.is_bad_input(), "{msg}");
            assert!(msg.starts_with("SLM_USERS_DATABASE_URL: "), "{msg}");
            assert!(msg.contains(want), "{raw}: {msg}");
            assert!(!msg.contains("TopSecret99"), "{raw}: {msg}");
        }
    }

    #[test]
    fn mask_url_hides_passwords_in_any_shape() {
        assert_eq!(mask_url("postgres://u:pw@h:1/d"), "postgres://u:***@h:1/d");
        assert_eq!(mask_url("postgres://u:p@w@h/d"), "postgres://u:***@h/d");
        assert_eq!(mask_url("postgres://u@h:5432/d"), "postgres://u@h:5432/d");
        assert_eq!(mask_url("postgres://u:secret/d"), "postgres://u:***/d");
        assert_eq!(
            mask_url("postgres://[::1]:5432/d"),
            "postgres://[::1]:5432/d"
        );
        assert_eq!(
            mask_url("hunter22"),
            "a value that is not a URL (not shown)"
        );
        assert_eq!(
            mask_url("postgres://u@h/d?sslmode=require&password=qpw1&sslpassword=k"),
            "postgres://u@h/d?sslmode=require&password=***&sslpassword=***"
        );
        assert_eq!(
            mask_url("postgres://u:x@h/d?PassWord=qpw1"),
            "postgres://u:***@h/d?PassWord=***"
        );
    }

    #[test]
    fn env_file_as_the_template_writes_it() {
        let text = "# Managed by slm-wizard\n\
            SLM_DATABASE_URL=\"postgresql+asyncpg://slm_app:a%2Bb@127.0.0.1:5432/slm\"\n\
            \n\
            export SLM_DB_POOL_SIZE=5 # small\n\
            SLM_DB_POOL_MAX_OVERFLOW='3'\n\
            SLM_DB_POOL_RECYCLE=0\n\
            QUOTED=\"a \\\"b\\\" c\"\n";
        let vars = parse_env_file(Path::new("db.env"), text).unwrap();
        let s = Settings::from_pairs(vec![
            ("SLM_DATABASE_URL", "postgres://other@elsewhere/slm"),
            ("SLM_DB_POOL_SIZE", "50"),
        ]);
        let mut s = s;
        s.vars.extend(vars);
        assert_eq!(s.get("QUOTED"), Some("a \"b\" c"));
        let u = s.url(DbName::Slm).unwrap();
        assert_eq!(u.password(), Some("a+b"));
        assert_eq!(u.host, "127.0.0.1");
        let p = s.pool().unwrap();
        assert_eq!(
            p,
            PoolSettings {
                size: 5,
                max_overflow: 3,
                recycle: None
            }
        );
        assert_eq!(p.max_connections(), 8);
        let o = p.pool_options(Duration::from_secs(1));
        assert_eq!(o.get_max_connections(), 8);
        assert_eq!(o.get_max_lifetime(), None);
        assert_eq!(
            PoolSettings::default()
                .pool_options(Duration::from_secs(1))
                .get_max_lifetime(),
            Some(Duration::from_secs(3600))
        );
    }

    #[test]
    fn env_file_errors_have_a_line() {
        for (text, want) in [
            ("OK=1\nno equals sign\n", ":2: expected KEY"),
            ("A=\"open\n", ":1: unterminated double quote"),
            ("1A=x\n", ":1: the name"),
            ("A=\"x\" y\n", ":1: unexpected text"),
        ] {
            let e = parse_env_file(Path::new("/etc/slm/database.env"), text).unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with("/etc/slm/database.env:"), "{msg}");
            assert!(msg.contains(want), "{msg}");
            assert!(e.is_bad_input());
        }
        let e = Settings::default()
            .with_env_file(Path::new("/nonexistent/database.env"))
            .unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
    }

    #[test]
    fn bad_pool_settings() {
        for (k, v, want) in [
            ("SLM_DB_POOL_SIZE", "twenty", "not a whole number"),
            ("SLM_DB_POOL_SIZE", "0", "between 1"),
            ("SLM_DB_POOL_MAX_OVERFLOW", "-1", "between 0"),
            ("SLM_DB_POOL_RECYCLE", "-5", "never"),
        ] {
            let e = Settings::from_pairs(vec![(k, v)]).pool().unwrap_err();
            assert!(e.to_string().starts_with(&format!("{k}=")), "{e}");
            assert!(e.to_string().contains(want), "{e}");
        }
    }

    #[test]
    fn database_selection() {
        assert_eq!(
            DbName::parse_selection("all").unwrap(),
            DbName::ALL.to_vec()
        );
        assert_eq!(
            DbName::parse_selection("autobot_users").unwrap(),
            vec![DbName::AutobotUsers]
        );
        let e = DbName::parse_selection("users").unwrap_err();
        assert!(e.is_bad_input());
        assert!(e.to_string().contains("valid: slm, slm_users"), "{e}");
    }

    /// Each refusal of a new login names its own cause; only a password failure says "password".
    #[test]
    fn login_refusals_name_the_real_cause() {
        let url = DbUrl::parse(
            "SLM_USERS_DATABASE_URL",
            "postgres://slm_app:Sup3rSecret@10.0.0.5:5432/slm_users",
        )
        .unwrap();
        let cases = [
            (
                "28000",
                "no pg_hba.conf entry for host \"10.0.0.9\", user \"slm_app\", database \"slm_users\", no encryption",
                Refusal::Hba,
                "pg_hba.conf admits slm_app to slm_users",
            ),
            (
                "28000",
                "pg_hba.conf rejects connection for host \"10.0.0.9\"",
                Refusal::Hba,
                "reload PostgreSQL",
            ),
            (
                "28P01",
                "password authentication failed for user \"slm_app\"",
                Refusal::Password,
                "check the password in SLM_USERS_DATABASE_URL",
            ),
            (
                "28000",
                "role \"slm_app\" does not exist",
                Refusal::NoRole,
                "role slm_app does not exist on 10.0.0.5:5432",
            ),
            (
                "28000",
                "role \"slm_app\" is not permitted to log in",
                Refusal::NoLogin,
                "ALTER ROLE slm_app LOGIN",
            ),
            (
                "3D000",
                "database \"slm_users\" does not exist",
                Refusal::NoDatabase,
                "database slm_users does not exist on 10.0.0.5:5432",
            ),
            (
                "53300",
                "too many connections for role \"slm_app\"",
                Refusal::TooManyConnections,
                "CONNECTION LIMIT",
            ),
            (
                "53300",
                "sorry, too many clients already",
                Refusal::TooManyConnections,
                "max_connections",
            ),
            (
                "42501",
                "permission denied for database \"slm_users\"",
                Refusal::NoConnect,
                "GRANT CONNECT ON DATABASE slm_users TO slm_app",
            ),
        ];
        for (code, message, want, hint) in cases {
            let r = Refusal::classify(code, message);
            assert_eq!(r, Some(want), "{code} {message}");
            let text = want.hint(&url);
            assert!(text.contains(hint), "{want:?}: {text}");
            assert!(
                want == Refusal::Password || !text.contains("check the password"),
                "{want:?}: {text}"
            );
        }
        assert_eq!(
            Refusal::classify("57P03", "the database system is starting up"),
            None
        );
        assert_eq!(
            Refusal::classify("42501", "permission denied for table t"),
            None
        );
        let nopw = DbUrl::parse("X", "postgres://u@h/d").unwrap();
        assert!(Refusal::Password.hint(&nopw).contains("X has no password"));
    }

    #[test]
    fn redact_replaces_raw_and_encoded_password() {
        let u = DbUrl::parse("X", "postgres://u:p%40ssw0rd@h/d").unwrap();
        assert_eq!(u.redact("a p@ssw0rd b p%40ssw0rd c"), "a *** b *** c");
    }
}
