//! `postgresql_db`: a database (owner, encoding, locales, ICU, tablespace, connection limit,
//! comment), its removal, renaming, and dump/restore through pg_dump / pg_restore / psql, with
//! community.postgresql 4.2.0's statements (`executed_commands`) and messages.

use serde_json::Value;

use super::{Conn, check_input, psql, psql_failed, quote_ident, quote_literal, sql_ok};
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult};

#[path = "db_dump.rs"]
mod dump;

/// `state:`.
#[derive(serde::Deserialize, Clone, Copy, PartialEq, Eq, Default, Debug)]
#[serde(rename_all = "lowercase")]
pub enum DbState {
    #[default]
    Present,
    Absent,
    Dump,
    Restore,
    Rename,
}

pg_args! {
    pub struct PostgresqlDb {
        #[serde(alias = "db", alias = "datname", deserialize_with = "crate::engine::modules::args::string")]
        pub name: String,
        #[serde(default)]
        pub state: DbState,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub owner: Option<String>,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub template: Option<String>,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub encoding: Option<String>,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub lc_collate: Option<String>,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub lc_ctype: Option<String>,
        /// PostgreSQL 15+ (ignored by older servers, as the module does).
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub icu_locale: Option<String>,
        /// `icu` or `libc`; PostgreSQL 15+.
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub locale_provider: Option<String>,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_int")]
        pub conn_limit: Option<i64>,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub tablespace: Option<String>,
        /// `""` removes the comment; unset leaves it.
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub comment: Option<String>,
        /// The dump file (dump/restore) or the new name (rename).
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub target: Option<String>,
        /// Options appended to the pg_dump / pg_restore / psql command line.
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub target_opts: Option<String>,
        /// Options appended to the pg_dump command line.
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub dump_extra_args: Option<String>,
        /// The database psql connects to (the one changed cannot be).
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub maintenance_db: Option<String>,
        /// `DROP DATABASE … WITH (FORCE)`: ends the sessions connected to it.
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_bool")]
        pub force: Option<bool>,
    }
}

impl PostgresqlDb {
    pub(super) fn maintenance_db(&self) -> &str {
        self.maintenance_db.as_deref().unwrap_or("postgres")
    }

    fn set(v: &Option<String>) -> Option<&str> {
        v.as_deref().filter(|s| !s.is_empty())
    }
}

/// What `query` leaves for `apply`.
pub enum Pending {
    /// Statements in the maintenance database, reported as `executed_commands`.
    Sql(Vec<String>),
    /// A shell script (pg_dump / pg_restore / psql) and the command line it reports.
    Shell { script: String, cmd: String },
}

impl Module for PostgresqlDb {
    const NAME: &'static str = "postgresql_db";
    const ANSIBLE_ONLY: &'static [&'static str] = pg_ansible_only!();
    type Pending = Pending;
    const PATH_ARGS: &'static [&'static str] = &["target", "tablespace"];

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Pending>, ModuleError> {
        read(self, ctx).await
    }

    async fn apply(&self, pending: Pending, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        match pending {
            Pending::Sql(stmts) => {
                let conn = self.conn(self.maintenance_db());
                let sql: String = stmts.iter().map(|s| format!("{s};\n")).collect();
                let out = psql(ctx, &conn, &conn.db, &sql).await?;
                if out.rc != 0 {
                    return Ok(psql_failed(&out));
                }
                Ok(result(&self.name, true, &stmts))
            }
            Pending::Shell { script, cmd } => dump::run(self, ctx, &script, &cmd).await,
        }
    }
}

/// The module's result: `db` and the statements run (none in check mode).
fn result(db: &str, changed: bool, executed: &[String]) -> ModuleResult {
    let mut r = ModuleResult::changed(changed);
    r.extra.insert("db".into(), db.into());
    r.extra
        .insert("executed_commands".into(), Value::from(executed.to_vec()));
    r
}

/// What the server says about a database (`get_db_info`).
#[derive(Default)]
struct Info {
    owner: String,
    encoding: String,
    encoding_id: String,
    lc_collate: String,
    lc_ctype: String,
    icu_locale: Option<String>,
    locale_provider: Option<String>,
    conn_limit: String,
    tablespace: String,
    comment: String,
}

/// The server version (`server_version_num`), the id of the wanted encoding, and the databases
/// named `names` that exist.
async fn read_info(
    a: &PostgresqlDb,
    ctx: &Ctx<'_>,
    conn: &Conn,
    names: &[&str],
) -> Result<Result<(i64, String, Vec<(String, Info)>), Query<Pending>>, ModuleError> {
    let enc = quote_literal(PostgresqlDb::set(&a.encoding).unwrap_or(""));
    let list: Vec<String> = names.iter().map(|n| quote_literal(n)).collect();
    // to_jsonb: daticulocale (15, 16) became datlocale (17); both absent before 15.
    let sql = format!(
        "SELECT current_setting('server_version_num'), pg_char_to_encoding({enc});\n\
         SELECT d.datname, r.rolname, pg_encoding_to_char(d.encoding), d.encoding, d.datcollate, d.datctype, \
         coalesce(to_jsonb(d)->>'datlocale', to_jsonb(d)->>'daticulocale'), \
         CASE to_jsonb(d)->>'datlocprovider' WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' END, \
         d.datconnlimit, t.spcname, coalesce(pg_catalog.shobj_description(d.oid, 'pg_database'), '') \
         FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba \
         JOIN pg_tablespace t ON t.oid = d.dattablespace WHERE d.datname IN ({});\n",
        list.join(", ")
    );
    let out = match sql_ok(ctx, conn, &conn.db, &sql).await? {
        Ok(out) => out,
        Err(q) => return Ok(Err(db_query(a, ctx, q))),
    };
    let mut lines = out.lines();
    let head: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    let version = head.first().and_then(|v| v.parse().ok()).unwrap_or(0);
    let enc_id = head.get(1).copied().unwrap_or("").to_string();
    let mut found = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let get = |i: usize| f.get(i).copied().unwrap_or("").to_string();
        let opt = |i: usize| Some(get(i)).filter(|s| !s.is_empty());
        found.push((
            get(0),
            Info {
                owner: get(1),
                encoding: get(2),
                encoding_id: get(3),
                lc_collate: get(4),
                lc_ctype: get(5),
                icu_locale: opt(6),
                locale_provider: opt(7),
                conn_limit: get(8),
                tablespace: get(9),
                comment: get(10),
            },
        ));
    }
    Ok(Ok((version, enc_id, found)))
}

/// A failed read. A server not running yet (check mode on a fresh host, where earlier tasks
/// would start it) is a change in check mode; a real run fails as psql did.
fn db_query(a: &PostgresqlDb, ctx: &Ctx<'_>, q: Query<super::Change>) -> Query<Pending> {
    let mut r = match q.pending {
        Some(super::Change::Unreachable(failed)) if !ctx.check => failed,
        _ => q.result,
    };
    r.extra.insert("db".into(), a.name.clone().into());
    Query::done(r)
}

/// Nothing to apply: `changed` as the module reports it, no statements run.
fn done(a: &PostgresqlDb, changed: bool) -> Query<Pending> {
    Query::done(result(&a.name, changed, &[]))
}

fn fail(a: &PostgresqlDb, msg: impl Into<String>) -> Query<Pending> {
    let mut r = ModuleResult::fail(msg);
    r.extra.insert("db".into(), a.name.clone().into());
    Query::done(r)
}

/// Statements to run: check mode reports `changed` with none run.
fn change(a: &PostgresqlDb, ctx: &Ctx<'_>, stmts: Vec<String>) -> Query<Pending> {
    if stmts.is_empty() {
        return done(a, false);
    }
    let mut r = result(&a.name, true, &[]);
    if ctx.diff {
        r.diff.push(crate::engine::modules::Diff {
            before_header: format!("database {}", a.name),
            after_header: format!("database {}", a.name),
            before: String::new(),
            after: stmts.iter().map(|s| format!("{s}\n")).collect(),
        });
    }
    Query::change(r, Pending::Sql(stmts))
}

async fn read(a: &PostgresqlDb, ctx: &Ctx<'_>) -> Result<Query<Pending>, ModuleError> {
    let set = PostgresqlDb::set;
    let name = a.name.as_str();
    let target = set(&a.target);
    if a.state == DbState::Rename {
        let Some(target) = target else {
            return Ok(fail(
                a,
                r#"The "target" option must be defined when the "rename" option is used."#,
            ));
        };
        if target == name {
            return Ok(fail(
                a,
                r#"The "name/db" option and the "target" option cannot be the same."#,
            ));
        }
        if a.maintenance_db() == name {
            return Ok(fail(
                a,
                r#"The "maintenance_db" option and the "name/db" option cannot be the same."#,
            ));
        }
    }
    let conn_limit = a.conn_limit.map(|l| l.to_string());
    if let Some(failed) = check_input(
        a.trust_input,
        &[
            set(&a.owner),
            conn_limit.as_deref(),
            set(&a.encoding),
            Some(name),
            set(&a.template),
            set(&a.tablespace),
            a.session_role.as_deref(),
            a.comment.as_deref(),
        ],
    ) {
        return Ok(Query::done(failed));
    }
    if matches!(a.state, DbState::Dump | DbState::Restore) {
        // check mode: the module reports no change and runs nothing.
        let (script, cmd) = dump::script(a, ctx);
        return Ok(Query::change(
            result(name, false, &[]),
            Pending::Shell { script, cmd },
        ));
    }
    let conn = a.conn(a.maintenance_db());
    let mut names = vec![name];
    if let (DbState::Rename, Some(t)) = (a.state, target) {
        names.push(t);
    }
    let (version, enc_id, found) = match read_info(a, ctx, &conn, &names).await? {
        Ok(v) => v,
        Err(q) => return Ok(q),
    };
    let info = |n: &str| found.iter().find(|(d, _)| d == n).map(|(_, i)| i);
    let db = quote_ident(name);
    match a.state {
        DbState::Absent => {
            if info(name).is_none() {
                return Ok(done(a, false));
            }
            let force = if a.force.unwrap_or(false) {
                if version < 130000 {
                    return Ok(fail(
                        a,
                        "force: DROP DATABASE … WITH (FORCE) needs PostgreSQL 13 or later",
                    ));
                }
                " WITH (FORCE)"
            } else {
                ""
            };
            Ok(change(a, ctx, vec![format!("DROP DATABASE {db}{force}")]))
        }
        DbState::Rename => {
            let target = target.unwrap_or_default();
            match (info(name).is_some(), info(target).is_some()) {
                (true, true) => Ok(fail(a, "Both the source and the target databases exist.")),
                (false, true) => Ok(done(a, false)),
                (false, false) => Ok(fail(a, "The source and the target databases do not exist.")),
                (true, false) => Ok(change(
                    a,
                    ctx,
                    vec![format!(
                        "ALTER DATABASE {db} RENAME TO {}",
                        quote_ident(target)
                    )],
                )),
            }
        }
        _ => match info(name) {
            None => Ok(change(a, ctx, create(a, version >= 150000))),
            Some(have) => Ok(update(a, ctx, have, &enc_id)),
        },
    }
}

/// `CREATE DATABASE` with the module's clause order, then the comment.
fn create(a: &PostgresqlDb, icu_supported: bool) -> Vec<String> {
    let set = PostgresqlDb::set;
    let mut s = format!("CREATE DATABASE {}", quote_ident(&a.name));
    if let Some(o) = set(&a.owner) {
        s.push_str(&format!(" OWNER {}", quote_ident(o)));
    }
    if let Some(t) = set(&a.template) {
        s.push_str(&format!(" TEMPLATE {}", quote_ident(t)));
    }
    for (clause, v, supported) in [
        ("ENCODING", &a.encoding, true),
        ("LC_COLLATE", &a.lc_collate, true),
        ("LC_CTYPE", &a.lc_ctype, true),
        ("ICU_LOCALE", &a.icu_locale, icu_supported),
        ("LOCALE_PROVIDER", &a.locale_provider, icu_supported),
    ] {
        if let (Some(v), true) = (set(v), supported) {
            s.push_str(&format!(" {clause} {}", quote_literal(v)));
        }
    }
    if let Some(t) = set(&a.tablespace) {
        s.push_str(&format!(" TABLESPACE {}", quote_ident(t)));
    }
    if let Some(l) = a.conn_limit {
        s.push_str(&format!(" CONNECTION LIMIT {l}"));
    }
    let mut stmts = vec![s];
    if let Some(c) = set(&a.comment) {
        stmts.push(comment_on(&a.name, c));
    }
    stmts
}

fn comment_on(db: &str, comment: &str) -> String {
    format!(
        "COMMENT ON DATABASE {} IS {}",
        quote_ident(db),
        quote_literal(comment)
    )
}

/// An existing database: encoding, locales and provider cannot change (a failure; check mode
/// reports a change, as the module's `db_matches` does); owner, connection limit, tablespace
/// and comment are altered.
fn update(a: &PostgresqlDb, ctx: &Ctx<'_>, have: &Info, enc_id: &str) -> Query<Pending> {
    let set = PostgresqlDb::set;
    let differs =
        |want: &Option<String>, have: Option<&str>| set(want).is_some_and(|w| Some(w) != have);
    let fixed = if set(&a.encoding).is_some() && enc_id != have.encoding_id {
        Some(format!(
            "Changing database encoding is not supported. Current encoding: {}",
            have.encoding
        ))
    } else if differs(&a.lc_collate, Some(&have.lc_collate)) {
        Some(format!(
            "Changing LC_COLLATE is not supported. Current LC_COLLATE: {}",
            have.lc_collate
        ))
    } else if differs(&a.lc_ctype, Some(&have.lc_ctype)) {
        Some(format!(
            "Changing LC_CTYPE is not supported.Current LC_CTYPE: {}",
            have.lc_ctype
        ))
    } else if differs(&a.icu_locale, have.icu_locale.as_deref()) {
        Some(format!(
            "Changing ICU_LOCALE is not supported.Current ICU_LOCALE: {}",
            have.icu_locale.as_deref().unwrap_or("None")
        ))
    } else if differs(&a.locale_provider, have.locale_provider.as_deref()) {
        Some(format!(
            "Changing LOCALE_PROVIDER is not supported.Current LOCALE_PROVIDER: {}",
            have.locale_provider.as_deref().unwrap_or("None")
        ))
    } else {
        None
    };
    if let Some(msg) = fixed {
        return if ctx.check {
            done(a, true)
        } else {
            fail(a, msg)
        };
    }
    let db = quote_ident(&a.name);
    let mut stmts = Vec::new();
    if let Some(o) = set(&a.owner)
        && o != have.owner
    {
        stmts.push(format!("ALTER DATABASE {db} OWNER TO {}", quote_ident(o)));
    }
    if let Some(l) = a.conn_limit
        && l.to_string() != have.conn_limit
    {
        stmts.push(format!("ALTER DATABASE {db} CONNECTION LIMIT {l}"));
    }
    if let Some(t) = set(&a.tablespace)
        && t != have.tablespace
    {
        stmts.push(format!(
            "ALTER DATABASE {db} SET TABLESPACE {}",
            quote_ident(t)
        ));
    }
    if let Some(c) = &a.comment
        && *c != have.comment
    {
        stmts.push(comment_on(&a.name, c));
    }
    change(a, ctx, stmts)
}
