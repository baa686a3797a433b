//! PostgreSQL modules through `psql` on the target, as the `postgres` OS user (peer auth) unless a
//! login host/user is given. SQL and secrets travel on stdin, never in argv. Passwords are set as
//! SCRAM-SHA-256 verifiers computed here, and compared by verifying against the stored verifier.

use serde_json::Value;

use super::module::Query;
use super::{Ctx, Diff, ModuleError, ModuleResult};
use crate::transport::{Output, sh_quote};

pub use connargs::check_input;
pub use db::PostgresqlDb;
pub use membership::PostgresqlMembership;
pub use pg_hba::PostgresqlPgHba;
pub use ping::PostgresqlPing;
pub use privs::PostgresqlPrivs;
pub use query::PostgresqlQuery;
pub use schema::PostgresqlSchema;
pub use scram::{md5_verifier, password_matches, scram_verifier};
pub use set::PostgresqlSet;
pub use table::PostgresqlTable;
pub use tablespace::PostgresqlTablespace;
pub use user::PostgresqlUser;

pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// How to reach the server.
#[derive(Clone)]
pub struct Conn {
    pub db: String,
    pub port: Option<i64>,
    pub socket: Option<String>,
    pub host: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    /// libpq conninfo keywords besides dbname (TLS settings, `connect_params`); no secrets.
    pub conninfo: Vec<(String, String)>,
    /// `SET ROLE` to this before the task's SQL (`session_role`).
    pub session_role: Option<String>,
    /// A psql of its own rather than the kept session: for SQL that changes the session
    /// (`SET`, `\set`) or may not be complete (a user's query).
    pub one_shot: bool,
}

/// `state:` of the modules that make something exist or not.
#[derive(serde::Deserialize, Clone, Copy, PartialEq, Eq, Default, Debug)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Present,
    Absent,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Present => "present",
            State::Absent => "absent",
        }
    }
}

/// Declares a module's argument struct with the connection arguments every `postgresql_*`
/// module (but pg_hba) takes appended. A macro rather than `#[serde(flatten)]`: serde cannot
/// combine `flatten` with `deny_unknown_fields`, and deserializing twice (module fields, then
/// connection fields) would need the unknown-field check done by hand and would hide the
/// connection names from `accepted_args`. Here serde sees one flat struct: unknown arguments
/// are refused and every name, aliases included, is listed.
macro_rules! pg_args {
    ($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($body)*
            #[serde(default, alias = "port", deserialize_with = "crate::engine::modules::args::opt_int")]
            pub login_port: Option<i64>,
            #[serde(default, alias = "unix_socket", deserialize_with = "crate::engine::modules::args::opt_string")]
            pub login_unix_socket: Option<String>,
            #[serde(default, alias = "host", deserialize_with = "crate::engine::modules::args::opt_string")]
            pub login_host: Option<String>,
            #[serde(default, alias = "login", deserialize_with = "crate::engine::modules::args::opt_string")]
            pub login_user: Option<String>,
            #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
            pub login_password: Option<String>,
            #[serde(default, deserialize_with = "crate::engine::modules::postgres::connargs::ssl_mode")]
            pub ssl_mode: Option<String>,
            #[serde(default, alias = "ssl_rootcert", deserialize_with = "crate::engine::modules::args::opt_string")]
            pub ca_cert: Option<String>,
            #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
            pub ssl_cert: Option<String>,
            #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
            pub ssl_key: Option<String>,
            #[serde(default, deserialize_with = "crate::engine::modules::postgres::connargs::connect_params")]
            pub connect_params: Option<Vec<(String, String)>>,
            #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
            pub session_role: Option<String>,
            /// `false`: values that look like SQL injection fail the task (see `untrusted`).
            #[serde(default, deserialize_with = "crate::engine::modules::args::opt_bool")]
            pub trust_input: Option<bool>,
        }

        impl $name {
            /// How to reach the server, connected to `db`; empty values are unset (libpq's defaults).
            pub(super) fn conn(&self, db: &str) -> $crate::engine::modules::postgres::Conn {
                let set = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
                let (conninfo, params_password) =
                    $crate::engine::modules::postgres::connargs::extra_conninfo(
                        self.ssl_mode.as_deref(),
                        self.ca_cert.as_deref(),
                        self.ssl_cert.as_deref(),
                        self.ssl_key.as_deref(),
                        self.connect_params.as_deref(),
                    );
                $crate::engine::modules::postgres::Conn {
                    db: db.to_string(),
                    port: self.login_port,
                    socket: set(&self.login_unix_socket),
                    host: set(&self.login_host),
                    user: set(&self.login_user),
                    // connect_params override the other arguments (kw.update in the collection).
                    password: params_password.filter(|p| !p.is_empty()).or_else(|| set(&self.login_password)),
                    conninfo,
                    session_role: set(&self.session_role),
                    one_shot: false,
                }
            }

            /// With `trust_input: false`: the task's failure when `session_role` or one of
            /// `values` looks like SQL injection (community.postgresql's check_input). Modules
            /// that check `session_role` elsewhere in their list use [`check_input`] instead.
            #[allow(dead_code)]
            pub(super) fn untrusted(
                &self,
                values: &[$crate::engine::modules::postgres::connargs::Input<'_>],
            ) -> Option<$crate::engine::modules::ModuleResult> {
                use $crate::engine::modules::postgres::connargs::{Input, untrusted};
                let mut all = vec![Input::Text(self.session_role.as_deref())];
                all.extend(values.iter().map(|v| match v {
                    Input::Text(t) => Input::Text(*t),
                    Input::Dict(d) => Input::Dict(d),
                }));
                untrusted(self.trust_input, &all)
            }
        }
    };
}

/// A module's `ANSIBLE_ONLY`: the module's arguments only ansible-playbook implements (every
/// common connection argument is implemented, see [`connargs`]).
macro_rules! pg_ansible_only {
    ($($extra:literal),* $(,)?) => {
        &[$($extra),*]
    };
}

/// `dbname='…'` (libpq quoting: backslash-escaped `'` and `\`).
fn dbname_conninfo(db: &str) -> String {
    connargs::conninfo_pair("dbname", db)
}

/// Starts the kept psql session a task of `module` with these (rendered) arguments will use,
/// ahead of it (see [`session::warm`]); nothing for other modules or arguments that do not
/// deserialize (the task reports those).
pub fn warm_session(
    module: &str,
    args: &serde_json::Map<String, Value>,
    transport: std::sync::Arc<dyn crate::transport::Transport>,
    escalation: Option<crate::transport::Become>,
    command_timeout: Option<std::time::Duration>,
) {
    fn parse<T: serde::de::DeserializeOwned>(args: &serde_json::Map<String, Value>) -> Option<T> {
        serde_json::from_value(Value::Object(args.clone())).ok()
    }
    let conn = match module {
        "postgresql_user" => parse::<PostgresqlUser>(args).map(|a| a.conn(a.login_db())),
        "postgresql_db" => parse::<PostgresqlDb>(args).map(|a| a.conn(a.maintenance_db())),
        "postgresql_privs" => parse::<PostgresqlPrivs>(args).map(|a| a.conn(a.database())),
        _ => None,
    };
    if let Some(conn) = conn {
        let db = conn.db.clone();
        session::warm(transport, escalation, &conn, &db, command_timeout);
    }
}

/// Runs SQL (stdin) through psql as the task's user: on the host's kept psql session for this
/// connection when it can (see [`session`]), else a psql of its own. Unaligned, tuples only,
/// tab-separated, stop on the first error either way.
pub async fn psql(ctx: &Ctx<'_>, conn: &Conn, db: &str, sql: &str) -> Result<Output, ModuleError> {
    if session::suits(ctx, conn) {
        return session::run(ctx, conn, db, &with_role(conn, sql)).await;
    }
    psql_once(ctx, conn, db, sql).await
}

/// `session_role`: `SET ROLE` on the SQL's first line (psql's line numbers stay the task's),
/// on every task: a `\connect` to another database starts a new server session.
fn with_role(conn: &Conn, sql: &str) -> String {
    match &conn.session_role {
        Some(role) => format!("SET ROLE {}; {sql}", quote_ident(role)),
        None => sql.to_string(),
    }
}

/// psql's options: output format, error handling and how to reach the server.
fn psql_args(conn: &Conn, db: &str) -> String {
    // A literal tab: `$(printf '\t')` cost the host a fork per psql start.
    let mut args = String::from("\"$slm_psql\" -X -q -A -t -v ON_ERROR_STOP=1 -F '\t'");
    if let Some(p) = conn.port {
        args.push_str(&format!(" -p {p}"));
    }
    if let Some(h) = conn.host.as_ref().or(conn.socket.as_ref()) {
        args.push_str(&format!(" -h {}", sh_quote(h)));
    }
    if let Some(u) = &conn.user {
        args.push_str(&format!(" -U {}", sh_quote(u)));
    }
    // Always a database name: a value with `=` or a URI prefix would otherwise be read as a
    // whole connection string (another host, user or sslmode).
    let mut conninfo = dbname_conninfo(db);
    for (k, v) in &conn.conninfo {
        conninfo.push(' ');
        conninfo.push_str(&connargs::conninfo_pair(k, v));
    }
    args.push_str(&format!(" -d {} -f -", sh_quote(&conninfo)));
    args
}

/// The script that starts psql for `conn` and reads SQL from stdin: as `postgres` for root
/// with peer authentication (no login host or user). With a login password psql asks for it
/// (`-W`) and, without a controlling terminal (`setsid`; a local run's or a `use_pty` sudo's
/// would be asked), reads it from the first line of stdin: never in argv or the environment.
fn psql_command(conn: &Conn, db: &str) -> String {
    // The effective uid from /proc with the shell's builtins (`id` where there is none).
    let run_as = if conn.host.is_none() && conn.user.is_none() {
        "slm_i=\nwhile read -r slm_k _ slm_v _; do [ \"$slm_k\" = Uid: ] && { slm_i=$slm_v; break; }; done 2>/dev/null </proc/self/status\n\
         [ -n \"$slm_i\" ] || slm_i=$(id -u)\n\
         if [ \"$slm_i\" = 0 ]; then set -- runuser -u postgres --; else set --; fi\n"
    } else {
        "set --\n"
    };
    let pick = if conn.port.is_some() || conn.host.is_some() || conn.socket.is_some() {
        PSQL_DIRECT
    } else {
        "slm_psql=psql\n"
    };
    let args = psql_args(conn, db);
    let (setsid, prompt) = match conn.password {
        Some(_) => (" setsid -w", " -W"),
        None => ("", ""),
    };
    format!("unset PGPASSWORD\n{pick}{run_as}cd / && exec \"$@\"{setsid} {args}{prompt}")
}

/// Which psql to start, with the shell's builtins only. Debian's `psql` is `pg_wrapper`, a Perl
/// program that costs the host ~60 ms of CPU before it execs the newest installed
/// `/usr/lib/postgresql/V/bin/psql` (issue 19: most of a no-op's host CPU). With an explicit
/// port or host it does nothing else but default `PGSYSCONFDIR` (and, for V < 13, preload
/// readline; with `PGCLUSTER` set it picks that cluster's socket): then, when the `psql` found
/// on PATH is pg_wrapper and exactly one version is installed, that binary is started directly.
/// Anything else starts `psql` as before.
const PSQL_DIRECT: &str = "slm_psql=psql
if [ -z \"${PGCLUSTER+x}\" ]; then
slm_f= slm_o=$IFS; IFS=:
for slm_d in $PATH; do [ -f \"${slm_d:-.}/psql\" ] && [ -x \"${slm_d:-.}/psql\" ] && { slm_f=${slm_d:-.}/psql; break; }; done
IFS=$slm_o
if [ -n \"$slm_f\" ] && [ \"$slm_f\" -ef /usr/share/postgresql-common/pg_wrapper ]; then
set -- /usr/lib/postgresql/*/bin/psql
if [ $# = 1 ] && [ -f \"$1\" ] && [ -x \"$1\" ]; then
case ${1#/usr/lib/postgresql/} in
1[3-9]/bin/psql|[2-9][0-9]/bin/psql) slm_psql=$1; export PGSYSCONFDIR=\"${PGSYSCONFDIR-/etc/postgresql-common}\" ;;
esac
fi
fi
fi
";

/// psql's stderr without the password prompt `-W` printed there.
fn strip_prompt(stderr: &str) -> String {
    static PROMPT: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"^Password(?: for user [^:\n]*)?: ").ok());
    match PROMPT.as_ref() {
        Some(p) => p.replace(stderr, "").into_owned(),
        None => stderr.to_string(),
    }
}

/// One psql for this SQL alone.
pub async fn psql_once(
    ctx: &Ctx<'_>,
    conn: &Conn,
    db: &str,
    sql: &str,
) -> Result<Output, ModuleError> {
    session::release_others(ctx, db);
    let mut input = Vec::new();
    if let Some(pw) = &conn.password {
        input.extend_from_slice(format!("{pw}\n").as_bytes());
    }
    input.extend_from_slice(with_role(conn, sql).as_bytes());
    let mut out = ctx.query(&psql_command(conn, db), Some(&input)).await?;
    out.stderr = strip_prompt(&out.stderr);
    Ok(out)
}

/// What a PostgreSQL module's `query` leaves for `apply`.
pub enum Change {
    /// Statements to run in `db`; `result` is what the run reports when they succeed.
    Sql {
        db: String,
        stmts: Vec<String>,
        result: ModuleResult,
    },
    /// psql could not reach the server while reading; a real run fails with this result.
    Unreachable(ModuleResult),
}

/// psql's failure as the task's result (its message masked).
fn psql_failed(out: &Output) -> ModuleResult {
    let mut r = ModuleResult::fail(format!("psql: {}", mask_psql_stderr(out.stderr.trim())));
    r.rc = Some(out.rc);
    r
}

/// Runs SQL that reads; on error the module's query ends with psql's message. A server that
/// is not running (a dry run on a fresh host, where earlier tasks would start it) is a change
/// a real run would make after it starts: check mode reports that, a real run fails as psql did.
async fn sql_ok(
    ctx: &Ctx<'_>,
    conn: &Conn,
    db: &str,
    sql: &str,
) -> Result<Result<String, Query<Change>>, ModuleError> {
    let out = psql(ctx, conn, db, sql).await?;
    if out.rc == 0 {
        return Ok(Ok(out.stdout));
    }
    let failed = psql_failed(&out);
    if server_not_running(&out.stderr) {
        let r = ModuleResult::changed(true).with_msg(
            "PostgreSQL is not running yet; in a real run this would be applied after it starts",
        );
        return Ok(Err(Query::change(r, Change::Unreachable(failed))));
    }
    Ok(Err(Query::done(failed)))
}

macro_rules! try_sql {
    ($e:expr) => {
        match $e? {
            Ok(v) => v,
            Err(query) => return Ok(query),
        }
    };
}

// After the macros, which they use.
pub mod connargs;
mod db;
mod ident;
mod membership;
mod pg_hba;
mod ping;
mod privs;
mod query;
mod schema;
mod scram;
mod session;
mod set;
mod table;
mod tablespace;
mod user;

#[cfg(test)]
mod args_tests;

fn server_not_running(stderr: &str) -> bool {
    stderr.contains("No such file or directory") && stderr.contains("connection to server")
        || stderr.contains("Connection refused")
        || stderr.contains("psql: not found")
        || stderr.contains("psql: command not found")
        || stderr.contains("runuser: user postgres does not exist")
}

/// The statements that would bring the server to the wanted state, reported as the change
/// (redacted) and the diff; nothing to do when there are none.
fn plan_sql(
    ctx: &Ctx<'_>,
    db: &str,
    stmts: Vec<String>,
    mut r: ModuleResult,
    what: &str,
) -> Query<Change> {
    if stmts.is_empty() {
        return Query::done(r);
    }
    r.changed = true;
    r.extra.insert(
        "queries".into(),
        Value::from(stmts.iter().map(|s| redact_sql(s)).collect::<Vec<_>>()),
    );
    if ctx.diff {
        r.diff.push(Diff {
            before_header: what.to_string(),
            after_header: what.to_string(),
            before: String::new(),
            after: stmts.iter().map(|s| redact_sql(s) + "\n").collect(),
        });
    }
    Query::change(
        r.clone(),
        Change::Sql {
            db: db.to_string(),
            stmts,
            result: r,
        },
    )
}

/// Runs the statements [`plan_sql`] found.
async fn apply_sql(
    ctx: &Ctx<'_>,
    conn: &Conn,
    change: Change,
) -> Result<ModuleResult, ModuleError> {
    match change {
        Change::Unreachable(failed) => Ok(failed),
        Change::Sql { db, stmts, result } => {
            let sql = stmts.join("\n") + "\n";
            let out = psql(ctx, conn, &db, &sql).await?;
            Ok(if out.rc == 0 {
                result
            } else {
                psql_failed(&out)
            })
        }
    }
}

/// psql's error messages quote the failing statement ("LINE 1: ALTER ROLE … PASSWORD
/// 'SCRAM-SHA-256$4096:…'"): password literals, SCRAM and md5 verifiers and `password=` conninfo
/// values are masked before they reach a result, the screen or the journal.
pub fn mask_psql_stderr(s: &str) -> String {
    static PATTERNS: std::sync::LazyLock<Vec<(regex::Regex, &'static str)>> =
        std::sync::LazyLock::new(|| {
            [
                (r"(?i)(PASSWORD\s+)'(?:[^']|'')*'?", "${1}'********'"),
                (r"SCRAM-SHA-256\$[^\s'\x22]*", "SCRAM-SHA-256$********"),
                (r"\bmd5[0-9a-fA-F]{32}\b", "md5********"),
                (
                    r"(?i)(\bpassword\s*=\s*)('(?:[^']|\\')*'|\S+)",
                    "${1}********",
                ),
            ]
            .into_iter()
            .filter_map(|(re, with)| regex::Regex::new(re).ok().map(|r| (r, with)))
            .collect()
        });
    // psql quotes a window of the statement ("LINE 1: ...2V5c3Rv=:c2Vy' SYNTAX ERR..."), which
    // can start inside a verifier: long base64/hex runs on those lines are masked whole.
    static QUOTED_TOKEN: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"[A-Za-z0-9+/=$:]{16,}").ok());
    let mut out = s.to_string();
    for (re, with) in PATTERNS.iter() {
        out = re.replace_all(&out, *with).into_owned();
    }
    match QUOTED_TOKEN.as_ref() {
        Some(token) => out
            .split('\n')
            .map(|line| match line.find("LINE ") {
                Some(at) if line[at..].split_once(':').is_some() => {
                    token.replace_all(line, "********").into_owned()
                }
                _ => line.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        None => out,
    }
}

/// Statements are shown to people; a PASSWORD clause never is.
fn redact_sql(s: &str) -> String {
    match s.find(" PASSWORD '") {
        Some(i) => {
            let rest = &s[i + 11..];
            let end = rest.find("'").map_or(rest.len(), |e| e + 1);
            format!("{} PASSWORD '********'{}", &s[..i], &rest[end..])
        }
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psql_messages_are_masked() {
        let v = "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVka2V5c3RvcmVka2V5:c2VydmVya2V5c2VydmVy";
        let err = format!(
            "psql:<stdin>:2: ERROR:  syntax error at or near \"X\"\nLINE 1: ALTER ROLE a PASSWORD '{v}' X\n"
        );
        let m = mask_psql_stderr(&err);
        assert!(
            !m.contains("c3RvcmVka2V5") && !m.contains("c2VydmVy"),
            "{m}"
        );
        assert!(m.contains("syntax error") && m.contains("LINE 1: ALTER ROLE a PASSWORD"));
        // A window that starts inside the verifier.
        let m = mask_psql_stderr("LINE 1: ...2V5c3RvcmVka2V5c3RvcmU=:c2VydmVya2V5' SYNTAX ERR...");
        assert!(!m.contains("c2VydmVya2V5"), "{m}");
        let m = mask_psql_stderr("x md5d41d8cd98f00b204e9800998ecf8427e y password=hunter2 z");
        assert_eq!(m, "x md5******** y password=******** z");
    }

    /// What PSQL_DIRECT picks under `sh` with PATH and PGCLUSTER as given.
    fn picked(path: &str, pgcluster: Option<&str>) -> String {
        let mut c = std::process::Command::new("sh");
        c.arg("-c")
            .arg(format!(
                "{PSQL_DIRECT}printf '%s|%s' \"$slm_psql\" \"$PGSYSCONFDIR\""
            ))
            .env("PATH", path)
            .env_remove("PGSYSCONFDIR")
            .env_remove("PGCLUSTER");
        if let Some(v) = pgcluster {
            c.env("PGCLUSTER", v);
        }
        let out = c.output().expect("sh runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn psql_skips_pg_wrapper_only_where_it_would_change_nothing() {
        let versions = std::fs::read_dir("/usr/lib/postgresql")
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().join("bin/psql").is_file())
                    .count()
            })
            .unwrap_or(0);
        let wrapper = std::path::Path::new("/usr/share/postgresql-common/pg_wrapper");
        let on_path = std::fs::canonicalize("/usr/bin/psql").ok();
        if versions != 1 || on_path.as_deref() != Some(wrapper) {
            eprintln!("skipped: needs Debian's pg_wrapper as /usr/bin/psql and one PostgreSQL");
            return;
        }
        let direct = picked("/usr/bin:/bin", None);
        assert!(
            direct.starts_with("/usr/lib/postgresql/")
                && direct.ends_with("/bin/psql|/etc/postgresql-common"),
            "{direct}"
        );
        // pg_wrapper would pick PGCLUSTER's socket; another psql first on PATH is that one.
        assert_eq!(picked("/usr/bin:/bin", Some("15/main")), "psql|");
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = dir.path().join("psql");
        std::fs::write(&fake, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let path = format!("{}:/usr/bin:/bin", dir.path().display());
        assert_eq!(picked(&path, None), "psql|");
    }

    #[test]
    fn psql_start_forks_nothing_for_its_tab_or_uid() {
        let conn = Conn {
            db: "postgres".into(),
            port: Some(5432),
            socket: None,
            host: None,
            user: None,
            password: None,
            conninfo: Vec::new(),
            session_role: None,
            one_shot: false,
        };
        let cmd = psql_command(&conn, "postgres");
        assert!(!cmd.contains("$(printf"), "{cmd}");
        assert!(cmd.contains("</proc/self/status"), "{cmd}");
        assert!(cmd.contains("-F '\t'"), "{cmd}");
    }
}
