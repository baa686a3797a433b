//! PostgreSQL access: the databases of the spec, their URLs (environment variables or the env file
//! the playbook writes), pool settings, and the typed errors of everything database-related.
//!
//! URLs are accepted in the SLM backend's SQLAlchemy form (`postgresql+asyncpg://…`) and the libpq
//! forms (`postgresql://…`, `postgres://…`) and normalised to `postgres://`. A password is never
//! shown: error messages carry `user@host:port/db` or the URL with the password masked.

pub mod migrate;

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

// ---------------------------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------------------------

/// URL schemes accepted (all mean PostgreSQL); the SQLAlchemy driver suffix is dropped.
const SCHEMES: &[&str] = &[
    "postgresql+asyncpg",
    "postgresql+psycopg2",
    "postgresql+psycopg",
    "postgresql",
    "postgres",
];

/// A parsed database URL. The password is kept out of `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    /// The variable it came from (for messages).
    pub var: String,
    pub user: String,
    password: Option<String>,
    /// Host name, IPv4 address, or `[IPv6]`.
    pub host: String,
    pub port: u16,
    pub database: String,
    /// The query string (e.g. `sslmode=require`), without `?`.
    pub query: Option<String>,
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbUrl")
            .field("var", &self.var)
            .field("target", &self.target())
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("query", &self.query.as_deref().map(mask_query))
            .finish()
    }
}

impl fmt::Display for DbUrl {
    /// `postgres://user:***@host:port/db` — safe to print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "postgres://{}{}@{}:{}/{}",
            self.user,
            if self.password.is_some() { ":***" } else { "" },
            self.host,
            self.port,
            self.database
        )?;
        if let Some(q) = &self.query {
            write!(f, "?{}", mask_query(q))?;
        }
        Ok(())
    }
}

impl DbUrl {
    /// Parses `raw` (the value of variable `var`).
    pub fn parse(var: &str, raw: &str) -> Result<DbUrl, DbError> {
        let bad = |problem: String| DbError::BadUrl {
            var: var.to_string(),
            masked: mask_url(raw),
            problem,
        };
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err(bad("not a URL (no '://')".into()));
        };
        if !SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
            return Err(bad(format!(
                "unsupported scheme '{}' (accepted: {})",
                scheme.chars().take(40).collect::<String>(),
                SCHEMES.join(", ")
            )));
        }
        // The user info ends at the last '@' (a password may hold an unencoded '@' or '/').
        let (userinfo, hostpart) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let Some(userinfo) = userinfo else {
            return Err(bad("no user name (USER@HOST)".into()));
        };
        let (user_enc, password_enc) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        let user =
            percent_decode(user_enc).ok_or_else(|| bad("bad %-escape in the user name".into()))?;
        if user.is_empty() {
            return Err(bad("no user name (USER@HOST)".into()));
        }
        let password = match password_enc {
            None => None,
            Some(p) => {
                Some(percent_decode(p).ok_or_else(|| bad("bad %-escape in the password".into()))?)
            }
        };
        let (hostport, path_query) = match hostpart.find('/') {
            Some(p) => (&hostpart[..p], &hostpart[p + 1..]),
            None => (hostpart, ""),
        };
        let (path, query) = match path_query.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string()).filter(|q| !q.is_empty())),
            None => (path_query, None),
        };
        let (host, port) = split_host_port(hostport).map_err(bad)?;
        if host.is_empty() {
            return Err(bad("no host".into()));
        }
        let database =
            percent_decode(path).ok_or_else(|| bad("bad %-escape in the database name".into()))?;
        if database.is_empty() {
            return Err(bad("no database name (…/DATABASE)".into()));
        }
        if database.contains('/') {
            return Err(bad(format!("'{database}' is not a database name")));
        }
        let url = DbUrl {
            var: var.to_string(),
            user,
            password,
            host: host.to_string(),
            port,
            database,
            query,
        };
        // Let sqlx check the rest (query parameters) now, so that it is reported as bad input.
        url.connect_options()?;
        Ok(url)
    }

    /// `user@host:port/database`, for messages.
    pub fn target(&self) -> String {
        format!(
            "{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        )
    }

    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// The password, for the connection and for masking it in messages.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The `postgres://` URL with the password in it (never print this).
    fn connect_string(&self) -> String {
        let mut s = format!("postgres://{}", percent_encode(&self.user));
        if let Some(p) = &self.password {
            s.push(':');
            s.push_str(&percent_encode(p));
        }
        s.push('@');
        s.push_str(&self.host);
        s.push_str(&format!(
            ":{}/{}",
            self.port,
            percent_encode(&self.database)
        ));
        if let Some(q) = &self.query {
            s.push('?');
            s.push_str(q);
        }
        s
    }

    /// sqlx connection options (statement logging off: migrations are long).
    pub fn connect_options(&self) -> Result<PgConnectOptions, DbError> {
        PgConnectOptions::from_str(&self.connect_string())
            .map(|o| o.disable_statement_logging())
            .map_err(|e| DbError::BadUrl {
                var: self.var.clone(),
                masked: self.to_string(),
                problem: self.redact(&e.to_string()),
            })
    }

    /// `text` with this URL's password (if any, and not trivially short) and the values of
    /// password parameters in its query string (`?password=…`) replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        let query_secrets = self
            .query
            .iter()
            .flat_map(|q| q.split('&'))
            .filter_map(|kv| kv.split_once('='))
            .filter(|(k, _)| is_secret_param(k))
            .map(|(_, v)| v);
        for p in self.password.as_deref().into_iter().chain(query_secrets) {
            if p.len() >= 4 {
                out = out.replace(p, "***");
                out = out.replace(&percent_encode(p), "***");
                if let Some(d) = percent_decode(p) {
                    out = out.replace(&d, "***");
                }
            }
        }
        mask_url_queries(&out)
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` → (host, port), port 5432 when absent.
fn split_host_port(s: &str) -> Result<(&str, u16), String> {
    let (host, port) = if s.starts_with('[') {
        match s.find(']') {
            Some(end) => {
                let rest = &s[end + 1..];
                match rest.strip_prefix(':') {
                    Some(p) => (&s[..=end], Some(p)),
                    None if rest.is_empty() => (&s[..=end], None),
                    None => return Err("bad IPv6 address (expected [ADDRESS]:PORT)".into()),
                }
            }
            None => return Err("unterminated '[' in the host".into()),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None | Some("") => 5432,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            // Do not echo it: a URL with a forgotten '@' puts the password here.
            _ => return Err("the port is not a number between 1 and 65535".into()),
        },
    };
    if host.contains(|c: char| c.is_whitespace() || c == '@') {
        return Err("bad host name".into());
    }
    Ok((host, port))
}

/// The URL with any password replaced by `***` (works on malformed URLs too: when there is no
/// user info, whatever follows a ':' in the host part is masked unless it is a port number; a
/// value without `://` is not shown at all).
pub fn mask_url(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        // Not a URL at all: it could be anything (a password pasted into the wrong variable).
        // Not even its length: that narrows down a password.
        return "a value that is not a URL (not shown)".into();
    };
    let scheme = format!("{scheme}://");
    if let Some(at) = rest.rfind('@') {
        let (userinfo, tail) = (&rest[..at], &rest[at..]);
        return match userinfo.split_once(':') {
            Some((u, _)) => format!("{scheme}{u}:***{}", mask_tail_query(tail)),
            None => format!("{scheme}{userinfo}{}", mask_tail_query(tail)),
        };
    }
    let (hostport, tail) = match rest.find('/') {
        Some(p) => (&rest[..p], &rest[p..]),
        None => (rest, ""),
    };
    match hostport.rsplit_once(':') {
        Some((h, p)) if !p.chars().all(|c| c.is_ascii_digit()) && !hostport.ends_with(']') => {
            format!("{scheme}{h}:***{}", mask_tail_query(tail))
        }
        _ => format!("{scheme}{}", mask_tail_query(rest)),
    }
}

/// Whether a connection parameter holds a secret (`password`, `sslpassword`, …).
fn is_secret_param(key: &str) -> bool {
    let k = percent_decode(key)
        .unwrap_or_else(|| key.to_string())
        .to_ascii_lowercase();
    k.contains("pass") || crate::secrets::is_secret_name(&k)
}

/// A query string (`a=1&password=x`) with the values of secret parameters replaced by `***`.
fn mask_query(q: &str) -> String {
    q.split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if is_secret_param(k) => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `text` with the query string after the first '?' masked ([`mask_query`]).
fn mask_tail_query(text: &str) -> String {
    match text.split_once('?') {
        Some((head, q)) => format!("{head}?{}", mask_query(q)),
        None => text.to_string(),
    }
}

/// Every `?query` of a URL-ish word in free text (an error message) with secret parameters masked.
fn mask_url_queries(text: &str) -> String {
    if !text.contains('?') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('?') {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ')' | '`'))
            .unwrap_or(rest.len());
        out.push_str(&mask_query(&rest[..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Decodes `%XX` escapes; `None` for a malformed escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes everything but unreserved characters (RFC 3986).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Where the playbook writes the SLM backend's database settings on the SLM server.
pub const BACKEND_ENV_FILE: &str = "/etc/slm/database.env";

// ---------------------------------------------------------------------------------------------
// Connections and pools
// ---------------------------------------------------------------------------------------------

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
