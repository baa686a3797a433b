//! `postgresql_user`: a role, its attributes, password, expiry, connection limit, comment and
//! per-role configuration, with community.postgresql 4.2.0's decisions (what changes, the
//! `queries` it reports, its messages). Passwords never reach the server in plain text: a
//! plain-text password is stored as the verifier computed here for the server's
//! `password_encryption` (SCRAM-SHA-256, or md5 when the server hashes with md5).

use serde_json::{Map, Value};

use super::connargs::Input;
use super::ident::pg_quote_identifier;
use super::scram::{md5_verifier, password_matches, scram_verifier};
use super::{
    Change, Conn, State, mask_psql_stderr, psql, quote_ident, quote_literal, redact_sql, sql_ok,
};
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, Diff, ModuleError, ModuleResult};

pg_args! {
    pub struct PostgresqlUser {
        #[serde(alias = "user", deserialize_with = "crate::engine::modules::args::string")]
        pub name: String,
        #[serde(default)]
        pub state: State,
        /// Plain text (stored as a verifier computed here), or an md5/SCRAM verifier as
        /// PostgreSQL stores it; `''` removes the password.
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub password: Option<String>,
        /// `false` asks for a plain-text stored password, which PostgreSQL 10+ refuses.
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_bool")]
        pub encrypted: Option<bool>,
        /// `LOGIN,NOSUPERUSER` (a list is taken too).
        #[serde(default, deserialize_with = "crate::engine::modules::args::list")]
        pub role_attr_flags: Vec<String>,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub expires: Option<String>,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_bool")]
        pub no_password_changes: Option<bool>,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_int")]
        pub conn_limit: Option<i64>,
        /// `COMMENT ON ROLE`; `''` removes it.
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub comment: Option<String>,
        /// `false`: a role that cannot be dropped (it owns objects) is reported, not a failure.
        #[serde(default, alias = "fail_on_role", deserialize_with = "crate::engine::modules::args::opt_bool")]
        pub fail_on_user: Option<bool>,
        /// `ALTER ROLE … SET key TO value` defaults.
        #[serde(default)]
        pub configuration: Option<Map<String, Value>>,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_bool")]
        pub reset_unspecified_configuration: Option<bool>,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_bool")]
        pub quote_configuration_values: Option<bool>,
        /// The database psql connects to.
        #[serde(default, alias = "db", deserialize_with = "crate::engine::modules::args::opt_string")]
        pub login_db: Option<String>,
    }
}

impl PostgresqlUser {
    pub(super) fn login_db(&self) -> &str {
        self.login_db
            .as_deref()
            .filter(|d| !d.is_empty())
            .unwrap_or("postgres")
    }
}

/// What `apply` runs.
pub enum Pending {
    /// psql could not reach the server while reading.
    Unreachable(ModuleResult),
    /// Statements run in one transaction; `result` is the success; `dropping` marks a DROP
    /// whose failure is reported per `fail_on_user`.
    Run {
        stmts: Vec<String>,
        result: ModuleResult,
        dropping: bool,
    },
}

impl Module for PostgresqlUser {
    const NAME: &'static str = "postgresql_user";
    const ANSIBLE_ONLY: &'static [&'static str] = pg_ansible_only!("priv", "groups");
    type Pending = Pending;

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Pending>, ModuleError> {
        read(self, ctx).await
    }

    async fn apply(&self, pending: Pending, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let (stmts, result, dropping) = match pending {
            Pending::Unreachable(failed) => return Ok(failed),
            Pending::Run {
                stmts,
                result,
                dropping,
            } => (stmts, result, dropping),
        };
        let conn = self.conn(self.login_db());
        let sql = format!("BEGIN;\n{}\nCOMMIT;\n", stmts.join("\n"));
        let out = psql(ctx, &conn, &conn.db, &sql).await?;
        if out.rc == 0 {
            return Ok(result);
        }
        let error = server_error(&out.stderr);
        if dropping {
            if self.fail_on_user.unwrap_or(true) {
                return Ok(ModuleResult::fail(format!(
                    "Unable to remove user: {error}"
                )));
            }
            let mut r = result;
            r.changed = false;
            r.extra.insert("user_removed".into(), Value::Bool(false));
            return Ok(r);
        }
        let mut r = ModuleResult::fail(error);
        r.rc = Some(out.rc);
        Ok(r)
    }
}

/// The server's message in psql's stderr without psql's prefix (`psql:<stdin>:3: ERROR:  `), as
/// the collection reports it (psycopg's primary message), with its DETAIL lines; masked.
fn server_error(stderr: &str) -> String {
    let masked = mask_psql_stderr(stderr.trim());
    let text = match masked.find("ERROR:  ") {
        Some(at) => &masked[at + "ERROR:  ".len()..],
        None => masked.as_str(),
    };
    text.lines()
        .filter(|l| !l.starts_with("LINE ") && !l.trim_start().starts_with('^'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The role attributes community.postgresql knows, with their pg_authid column index in the
/// read below.
const ROLE_FLAGS: &[(&str, usize)] = &[
    ("SUPERUSER", 0),
    ("CREATEDB", 1),
    ("CREATEROLE", 2),
    ("INHERIT", 3),
    ("LOGIN", 4),
    ("REPLICATION", 5),
    ("BYPASSRLS", 6),
];

/// `parse_role_attrs`: upper-cased, each once; an unknown one fails with the collection's message.
fn parse_flags(flags: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    let mut invalid: Vec<String> = Vec::new();
    for f in flags {
        let f = f.to_ascii_uppercase();
        let bare = f.strip_prefix("NO").unwrap_or(&f);
        let known =
            ROLE_FLAGS.iter().any(|(n, _)| *n == bare) || ROLE_FLAGS.iter().any(|(n, _)| *n == f);
        let list = if known { &mut out } else { &mut invalid };
        if !list.contains(&f) {
            list.push(f);
        }
    }
    if invalid.is_empty() {
        Ok(out)
    } else {
        Err(format!(
            "Invalid role_attr_flags specified: {}",
            invalid.join(" ")
        ))
    }
}

/// The collection's `_pg_quote_user`: a role name quoted whole (dots are part of it); a name
/// already in double quotes is taken as quoted, and then must double any quote inside it.
pub fn quote_user(user: &str) -> Result<String, String> {
    let (starts, ends) = (user.starts_with('"'), user.ends_with('"'));
    if !starts && !ends {
        return pg_quote_identifier(&format!("\"{user}\""), 1, "role");
    }
    if starts != ends || user.len() < 2 {
        return Err(
            "The value of the user-field can't contain a double-quote in the end if it doesn't \
             start with one and vice-versa."
                .into(),
        );
    }
    pg_quote_identifier(user, 1, "role")
}

fn fail(msg: impl Into<String>) -> Result<Query<Pending>, ModuleError> {
    Ok(Query::done(ModuleResult::fail(msg.into())))
}

/// The role as read: `None` when it does not exist.
struct Current {
    flags: Vec<bool>,
    conn_limit: String,
    /// pg_authid.rolpassword (None: NULL); `********` when pg_authid is not readable.
    password: Option<String>,
    /// `expires` differs from rolvaliduntil (as timestamptz).
    expires_differs: bool,
    password_encryption: String,
    comment: String,
    config: Vec<String>,
}

/// One read: the role's attributes from pg_authid when this login may read it (its password),
/// else from pg_roles (password unknown), as the collection falls back.
fn read_sql(name: &str, expires: Option<&str>) -> String {
    let lit = quote_literal(name);
    let expires = match expires {
        Some(e) => format!(
            "({}::timestamptz IS DISTINCT FROM r.rolvaliduntil)",
            quote_literal(e)
        ),
        None => "false".into(),
    };
    let cols = |pw: &str, config: &str| {
        format!(
            "SELECT r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolinherit, r.rolcanlogin, \
             r.rolreplication, r.rolbypassrls, r.rolconnlimit, {expires}, {pw} IS NULL, \
             coalesce({pw}, ''), current_setting('password_encryption'), \
             coalesce(pg_catalog.shobj_description(r.oid, 'pg_authid'), ''), \
             coalesce(array_to_json({config})::text, '[]')"
        )
    };
    format!(
        "SELECT has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS slm_can_authid \\gset\n\
         \\if :slm_can_authid\n{} FROM pg_catalog.pg_authid r WHERE r.rolname = {lit};\n\
         \\else\n{} FROM pg_catalog.pg_roles r WHERE r.rolname = {lit};\n\\endif\n",
        cols(
            "r.rolpassword",
            "(SELECT s.rolconfig FROM pg_catalog.pg_roles s WHERE s.oid = r.oid)"
        ),
        cols("r.rolpassword", "r.rolconfig"),
    )
}

fn parse_current(row: &str) -> Option<Current> {
    let line = row.lines().find(|l| !l.is_empty())?;
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() < 14 {
        return None;
    }
    let config: Vec<String> = serde_json::from_str(f[13]).unwrap_or_default();
    Some(Current {
        flags: f[..7].iter().map(|v| *v == "t").collect(),
        conn_limit: f[7].to_string(),
        expires_differs: f[8] == "t",
        password: (f[9] != "t").then(|| f[10].to_string()),
        password_encryption: f[11].to_string(),
        comment: f[12].to_string(),
        config,
    })
}

fn is_md5(p: &str) -> bool {
    p.starts_with("md5") && p.len() == 35
}

fn is_scram(p: &str) -> bool {
    static RE: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$",
        )
        .ok()
    });
    RE.as_ref().is_some_and(|re| re.is_match(p))
}

/// `user_should_we_change_password`.
fn password_changes(cur: &Current, user: &str, password: &str, encrypted: bool) -> bool {
    let current = cur.password.as_deref();
    if password.is_empty() {
        return current.is_some();
    }
    if is_scram(password) {
        return Some(password) != current;
    }
    if let Some(stored) = current.filter(|c| is_scram(c)) {
        return !password_matches(stored, password, user);
    }
    if is_md5(password) || !encrypted {
        return Some(password) != current;
    }
    match cur.password_encryption.as_str() {
        "md5" => current != Some(md5_verifier(password, user).as_str()),
        _ => true,
    }
}

/// What the server stores for `password`: verifiers as given, plain text hashed here the way
/// the server's `password_encryption` would.
fn stored_form(password: &str, user: &str, password_encryption: &str) -> String {
    if is_scram(password) || is_md5(password) {
        password.to_string()
    } else if password_encryption == "md5" {
        md5_verifier(password, user)
    } else {
        scram_verifier(password)
    }
}

/// A statement to run and the form the collection reports it in (`queries`).
struct Stmt {
    run: String,
    shown: String,
}

/// A statement built in words twice: what runs (with the password's stored form) and what the
/// result shows (the collection's `%(password)s` placeholders).
struct StmtParts {
    run: Vec<String>,
    shown: Vec<String>,
}

impl StmtParts {
    fn new(head: String) -> Self {
        Self {
            run: vec![head.clone()],
            shown: vec![head],
        }
    }

    fn both(&mut self, words: String) {
        self.shown.push(words.clone());
        self.run.push(words);
    }

    fn pair(&mut self, run: String, shown: String) {
        self.run.push(run);
        self.shown.push(shown);
    }

    fn expires_and_limit(&mut self, expires: Option<&str>, limit: Option<&str>) {
        if let Some(e) = expires {
            self.pair(
                format!("VALID UNTIL {}", quote_literal(e)),
                "VALID UNTIL %(expires)s".into(),
            );
        }
        if let Some(l) = limit {
            self.both(l.to_string());
        }
    }

    fn into_stmt(self) -> Stmt {
        Stmt {
            run: self.run.join(" ").trim_end().to_string() + ";",
            shown: self.shown.join(" "),
        }
    }
}

async fn read(a: &PostgresqlUser, ctx: &Ctx<'_>) -> Result<Query<Pending>, ModuleError> {
    let name = a.name.as_str();
    let flags_text = a.role_attr_flags.join(",");
    let config: Vec<(String, String)> = a
        .configuration
        .iter()
        .flatten()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect();
    if let Some(refused) = a.untrusted(&[
        Input::Text(Some(name)),
        Input::Text(a.password.as_deref()),
        Input::Text(a.expires.as_deref()),
        Input::Text(Some(&flags_text)),
        Input::Text(a.comment.as_deref()),
        Input::Dict(&config),
    ]) {
        return Ok(Query::done(refused));
    }
    let quote_values = a.quote_configuration_values.unwrap_or(true);
    let mut config = config;
    if quote_values {
        for (k, v) in &mut config {
            if k.contains('"') || k.contains('\'') {
                return fail("The key of a configuration may not contain single or double quotes");
            }
            *v = v.replace('\'', "''");
        }
    }
    let flags = match parse_flags(&a.role_attr_flags) {
        Ok(f) => f,
        Err(msg) => return fail(msg),
    };
    let db = a.login_db().to_string();
    let conn: Conn = a.conn(&db);
    let expires = if a.state == State::Present {
        a.expires.as_deref()
    } else {
        None
    };
    let row = match sql_ok(ctx, &conn, &db, &read_sql(name, expires)).await? {
        Ok(row) => row,
        Err(q) => {
            return Ok(Query {
                result: q.result,
                pending: q.pending.map(|c| match c {
                    Change::Unreachable(failed) => Pending::Unreachable(failed),
                    Change::Sql { result, .. } => Pending::Unreachable(result),
                }),
            });
        }
    };
    let current = parse_current(&row);
    let mut r = ModuleResult::ok();
    r.extra.insert("user".into(), name.into());
    let mut stmts: Vec<Stmt> = Vec::new();
    let ident = || quote_user(name);
    let mut dropping = false;
    if a.state == State::Absent {
        if current.is_some() {
            let q = match ident() {
                Ok(q) => q,
                Err(msg) => return fail(msg),
            };
            let s = format!("DROP USER {q}");
            stmts.push(Stmt {
                run: format!("{s};"),
                shown: s,
            });
            dropping = true;
            r.extra.insert("user_removed".into(), Value::Bool(true));
        }
    } else {
        match plan_present(a, current.as_ref(), &flags, &config, quote_values) {
            Ok(s) => stmts = s,
            Err(msg) => return fail(msg),
        }
    }
    r.extra.insert(
        "queries".into(),
        Value::from(stmts.iter().map(|s| s.shown.clone()).collect::<Vec<_>>()),
    );
    if stmts.is_empty() {
        return Ok(Query::done(r));
    }
    r.changed = true;
    if ctx.diff {
        r.diff.push(Diff {
            before_header: format!("role {name}"),
            after_header: format!("role {name}"),
            before: String::new(),
            after: stmts.iter().map(|s| redact_sql(&s.run) + "\n").collect(),
        });
    }
    Ok(Query::change(
        r.clone(),
        Pending::Run {
            stmts: stmts.into_iter().map(|s| s.run).collect(),
            result: r,
            dropping,
        },
    ))
}

/// `state: present`: CREATE or ALTER, then the comment, then the configuration (the
/// collection's order), each only when it differs.
fn plan_present(
    a: &PostgresqlUser,
    cur: Option<&Current>,
    flags: &[String],
    config: &[(String, String)],
    quote_values: bool,
) -> Result<Vec<Stmt>, String> {
    let name = a.name.as_str();
    let encrypted = a.encrypted.unwrap_or(true);
    let crypt = if encrypted {
        "ENCRYPTED"
    } else {
        "UNENCRYPTED"
    };
    let flag_text = flags.join(" ");
    let password = a.password.as_deref();
    let pw_encryption = cur.map_or("scram-sha-256", |c| c.password_encryption.as_str());
    // PostgreSQL 10+ stores no plain-text password: the statement would fail there with this
    // message; it is never sent (it would carry the password in clear).
    let unencrypted = |pw: &str| -> Result<String, String> {
        if !encrypted && !pw.is_empty() && !is_md5(pw) && !is_scram(pw) {
            return Err("UNENCRYPTED PASSWORD is no longer supported".into());
        }
        Ok(quote_literal(&stored_form(pw, name, pw_encryption)))
    };
    let mut out = Vec::new();
    let mut quoted: Option<String> = None;
    let mut q = || -> Result<String, String> {
        if quoted.is_none() {
            quoted = Some(quote_user(name)?);
        }
        Ok(quoted.clone().unwrap_or_default())
    };
    let limit = a.conn_limit.map(|l| format!("CONNECTION LIMIT {l}"));
    match cur {
        None => {
            let mut sql = StmtParts::new(format!("CREATE USER {}", q()?));
            if let Some(pw) = password.filter(|p| !p.is_empty()) {
                sql.pair(
                    format!("WITH ENCRYPTED PASSWORD {}", unencrypted(pw)?),
                    format!("WITH {crypt} PASSWORD %(password)s"),
                );
            }
            sql.expires_and_limit(a.expires.as_deref(), limit.as_deref());
            sql.both(flag_text.clone());
            out.push(sql.into_stmt());
        }
        Some(cur) => {
            let no_pw_changes = a.no_password_changes.unwrap_or(false);
            let flags_change = flags.iter().any(|f| {
                let (on, bare) = match f.strip_prefix("NO") {
                    Some(b) if ROLE_FLAGS.iter().any(|(n, _)| *n == b) => (false, b),
                    _ => (true, f.as_str()),
                };
                ROLE_FLAGS
                    .iter()
                    .find(|(n, _)| *n == bare)
                    .is_some_and(|(_, i)| cur.flags.get(*i).copied() != Some(on))
            });
            if !no_pw_changes
                && (password.is_some()
                    || !flags.is_empty()
                    || a.expires.is_some()
                    || a.conn_limit.is_some())
            {
                let pw_change =
                    password.is_some_and(|pw| password_changes(cur, name, pw, encrypted));
                let limit_change = a
                    .conn_limit
                    .is_some_and(|l| l.to_string() != cur.conn_limit);
                if pw_change || flags_change || cur.expires_differs || limit_change {
                    let mut sql = StmtParts::new(format!("ALTER USER {}", q()?));
                    if pw_change {
                        match password {
                            Some(pw) if !pw.is_empty() => sql.pair(
                                format!("WITH ENCRYPTED PASSWORD {}", unencrypted(pw)?),
                                format!("WITH {crypt} PASSWORD %(password)s"),
                            ),
                            _ => sql.both("WITH PASSWORD NULL".into()),
                        }
                        sql.both(flag_text.clone());
                    } else if !flags.is_empty() {
                        sql.both(format!("WITH {flag_text}"));
                    }
                    sql.expires_and_limit(a.expires.as_deref(), limit.as_deref());
                    out.push(sql.into_stmt());
                }
            } else if no_pw_changes && !flags.is_empty() && flags_change {
                let s = format!("ALTER USER {} WITH {flag_text}", q()?);
                out.push(Stmt {
                    run: format!("{s};"),
                    shown: s,
                });
            }
        }
    }
    if let Some(comment) = &a.comment
        && cur.map_or("", |c| c.comment.as_str()) != comment
    {
        let lit = quote_literal(comment);
        out.push(Stmt {
            run: format!("COMMENT ON ROLE {} IS {lit};", quote_ident(name)),
            shown: format!("COMMENT ON ROLE \"{name}\" IS {lit}"),
        });
    }
    let have: Vec<(&str, &str)> = cur
        .map(|c| c.config.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let reset_unspecified = a.reset_unspecified_configuration.unwrap_or(false);
    for (k, _) in &have {
        if reset_unspecified && !config.iter().any(|(ck, _)| ck == k) {
            let user = q()?;
            out.push(Stmt {
                run: format!("ALTER ROLE {user} RESET {};", quote_ident(k)),
                shown: format!("ALTER ROLE {user} RESET \"{k}\";"),
            });
        }
    }
    for (k, v) in config {
        if have.iter().any(|(hk, hv)| hk == k && hv == v) {
            continue;
        }
        let user = q()?;
        let value = if quote_values {
            format!("'{v}'")
        } else {
            v.clone()
        };
        out.push(Stmt {
            run: format!("ALTER ROLE {user} SET {} TO {value};", quote_ident(k)),
            shown: format!("ALTER ROLE {user} SET \"{k}\" TO {value};"),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_quoted_as_the_collection_does() {
        assert_eq!(
            quote_user("hello.user.with.dots"),
            Ok("\"hello.user.with.dots\"".into())
        );
        assert_eq!(quote_user("\"a\"\"b\""), Ok("\"a\"\"b\"".into()));
        let dangerous = r#"curious.anonymous"; SELECT * FROM information_schema.tables; --"#;
        assert_eq!(
            quote_user(dangerous),
            Err("User escaped identifiers must escape extra quotes".into())
        );
        assert!(quote_user("\"abc").is_err());
    }

    #[test]
    fn flags_are_checked_and_upper_cased() {
        let f = |s: &str| parse_flags(&s.split(',').map(str::to_string).collect::<Vec<_>>());
        assert_eq!(
            f("login,noinherit,LOGIN"),
            Ok(vec!["LOGIN".into(), "NOINHERIT".into()])
        );
        assert_eq!(
            f("NOLOGIN,INVALID"),
            Err("Invalid role_attr_flags specified: INVALID".into())
        );
    }

    #[test]
    fn password_decisions_follow_the_collection() {
        let cur = |pw: Option<&str>, enc: &str| Current {
            flags: vec![false; 7],
            conn_limit: "-1".into(),
            password: pw.map(str::to_string),
            expires_differs: false,
            password_encryption: enc.into(),
            comment: String::new(),
            config: Vec::new(),
        };
        let scram = scram_verifier("pw");
        assert!(!password_changes(
            &cur(Some(&scram), "scram-sha-256"),
            "u",
            "pw",
            true
        ));
        assert!(password_changes(
            &cur(Some(&scram), "scram-sha-256"),
            "u",
            "other",
            true
        ));
        assert!(!password_changes(
            &cur(None, "scram-sha-256"),
            "u",
            "",
            true
        ));
        assert!(password_changes(
            &cur(Some("x"), "scram-sha-256"),
            "u",
            "",
            true
        ));
        let md5 = md5_verifier("pw", "u");
        assert!(!password_changes(&cur(Some(&md5), "md5"), "u", "pw", true));
        assert!(!password_changes(&cur(Some(&md5), "md5"), "u", &md5, true));
        // An md5 password while the server hashes with SCRAM: set again (collection issue 688).
        assert!(password_changes(
            &cur(Some(&md5), "scram-sha-256"),
            "u",
            "pw",
            true
        ));
        assert!(stored_form("pw", "u", "md5") == md5);
        assert!(stored_form("pw", "u", "scram-sha-256").starts_with("SCRAM-SHA-256$4096:"));
    }

    #[test]
    fn server_errors_lose_psql_prefixes() {
        assert_eq!(
            server_error(
                "psql:<stdin>:2: ERROR:  cannot execute ALTER ROLE in a read-only transaction\n"
            ),
            "cannot execute ALTER ROLE in a read-only transaction"
        );
        assert_eq!(
            server_error(
                "psql:<stdin>:2: ERROR:  role \"h\" cannot be dropped because some objects depend on it\nDETAIL:  owner of table test"
            ),
            "role \"h\" cannot be dropped because some objects depend on it\nDETAIL:  owner of table test"
        );
    }
}
