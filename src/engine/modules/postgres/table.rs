//! `postgresql_table`: a table exists (with columns and an owner) or not, with
//! community.postgresql 4.2.0's statements and result (`table`, `state`, `owner`, `queries`).

use serde_json::Value;

use super::connargs::Input;
use super::ident::pg_quote_identifier;
use super::{Change, State, apply_sql, plan_sql, quote_ident, quote_literal, sql_ok};
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult};

pg_args! {
    pub struct PostgresqlTable {
        #[serde(alias = "name", deserialize_with = "crate::engine::modules::args::string")]
        pub table: String,
        #[serde(default)]
        pub state: State,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub owner: Option<String>,
        /// Column definitions (`id int`), joined with commas into CREATE TABLE.
        #[serde(default, deserialize_with = "crate::engine::modules::args::list")]
        pub columns: Vec<String>,
        /// `DROP TABLE … CASCADE` (state: absent).
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_bool")]
        pub cascade: Option<bool>,
        /// The database psql connects to.
        #[serde(default, alias = "db", deserialize_with = "crate::engine::modules::args::opt_string")]
        pub login_db: Option<String>,
    }
}

impl PostgresqlTable {
    fn login_db(&self) -> &str {
        self.login_db
            .as_deref()
            .filter(|d| !d.is_empty())
            .unwrap_or("postgres")
    }
}

impl Module for PostgresqlTable {
    const NAME: &'static str = "postgresql_table";
    const ANSIBLE_ONLY: &'static [&'static str] = pg_ansible_only!(
        "tablespace",
        "unlogged",
        "like",
        "including",
        "rename",
        "truncate",
        "storage_params"
    );
    type Pending = Change;

    fn validate(&self) -> Result<(), ModuleError> {
        if self.state == State::Absent && (self.owner.is_some() || !self.columns.is_empty()) {
            return Err(ModuleError::Args(format!(
                "{}: state=absent is mutually exclusive with: truncate, rename, columns, \
                 tablespace, including, like, storage_params, unlogged, owner",
                self.table
            )));
        }
        Ok(())
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Change>, ModuleError> {
        let columns = self.columns.join(",");
        if let Some(refused) = self.untrusted(&[
            Input::Text(Some(&self.table)),
            Input::Text(self.owner.as_deref()),
            Input::Text(Some(&columns)),
        ]) {
            return Ok(Query::done(refused));
        }
        read(self, ctx).await
    }

    async fn apply(&self, change: Change, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        apply_sql(ctx, &self.conn(self.login_db()), change).await
    }
}

async fn read(a: &PostgresqlTable, ctx: &Ctx<'_>) -> Result<Query<Change>, ModuleError> {
    let db = a.login_db().to_string();
    let conn = a.conn(&db);
    // As the collection looks it up: the last two dotted parts, else schema public.
    let parts: Vec<&str> = a.table.split('.').collect();
    let (schema, name) = match parts.as_slice() {
        [.., s, t] => (*s, *t),
        _ => ("public", a.table.as_str()),
    };
    let row = try_sql!(
        sql_ok(
            ctx,
            &conn,
            &db,
            &format!(
                "SELECT tableowner, coalesce(tablespace, '') FROM pg_catalog.pg_tables \
                 WHERE schemaname = {} AND tablename = {};\n",
                quote_literal(schema),
                quote_literal(name)
            ),
        )
        .await
    );
    let exists = !row.trim().is_empty();
    let owner = row.split('\t').next().unwrap_or("").trim().to_string();
    let quoted = match pg_quote_identifier(&a.table, 3, "table") {
        Ok(q) => q,
        Err(msg) => return Ok(Query::done(ModuleResult::fail(msg))),
    };
    let mut r = ModuleResult::ok();
    r.extra.insert("table".into(), a.table.clone().into());
    r.extra
        .insert("state".into(), if exists { "present" } else { "" }.into());
    if exists {
        r.extra.insert("owner".into(), owner.clone().into());
    }
    let mut stmts = Vec::new();
    match a.state {
        State::Absent if exists => {
            let cascade = if a.cascade.unwrap_or(false) {
                " CASCADE"
            } else {
                ""
            };
            stmts.push(format!("DROP TABLE {quoted}{cascade}"));
            r.extra.insert("state".into(), "absent".into());
        }
        State::Absent => {}
        State::Present => {
            if !exists {
                stmts.push(format!("CREATE TABLE {quoted} ({})", a.columns.join(",")));
                r.extra.insert("state".into(), "present".into());
            }
            if let Some(o) = &a.owner
                && (!exists || &owner != o)
            {
                stmts.push(format!("ALTER TABLE {quoted} OWNER TO {}", quote_ident(o)));
                r.extra.insert("owner".into(), o.clone().into());
            }
        }
    }
    // The collection's `queries` are the statements without a terminator.
    let shown = Value::from(stmts.clone());
    r.extra.insert("queries".into(), shown.clone());
    let stmts = stmts.into_iter().map(|s| s + ";").collect();
    let mut q = plan_sql(ctx, &db, stmts, r, &format!("table {}", a.table));
    q.result.extra.insert("queries".into(), shown.clone());
    if let Some(Change::Sql { result, .. }) = q.pending.as_mut() {
        result.extra.insert("queries".into(), shown);
    }
    Ok(q)
}
