//! `postgresql_table`: a table (`schema.table`) with its columns, or its removal.

use super::{Change, State, apply_sql, check_input, plan_sql, quote_ident, quote_literal, sql_ok};
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult};

pg_args! {
    pub struct PostgresqlTable {
        #[serde(alias = "table", deserialize_with = "crate::engine::modules::args::string")]
        pub name: String,
        #[serde(default)]
        pub state: State,
        /// Column definitions as SQL (`id bigserial primary key`), used when creating it.
        #[serde(default, deserialize_with = "crate::engine::modules::args::list")]
        pub columns: Vec<String>,
        /// `DROP TABLE … CASCADE`.
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_bool")]
        pub cascade: Option<bool>,
        #[serde(default, alias = "db", deserialize_with = "crate::engine::modules::args::opt_string")]
        pub login_db: Option<String>,
    }
}

impl PostgresqlTable {
    fn db(&self) -> String {
        self.login_db.clone().unwrap_or_else(|| "postgres".into())
    }

    /// `schema.table` quoted part by part, as the module's `pg_quote_identifier`.
    fn quoted(&self) -> String {
        self.name
            .split('.')
            .map(quote_ident)
            .collect::<Vec<_>>()
            .join(".")
    }
}

impl Module for PostgresqlTable {
    const NAME: &'static str = "postgresql_table";
    const ANSIBLE_ONLY: &'static [&'static str] = pg_ansible_only!(
        "tablespace",
        "owner",
        "unlogged",
        "like",
        "including",
        "storage_params",
        "rename",
        "truncate",
        "comment"
    );
    type Pending = Change;

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Change>, ModuleError> {
        let cols = self.columns.join(",");
        if let Some(failed) = check_input(
            self.trust_input,
            &[Some(&self.name), Some(&cols), self.session_role.as_deref()],
        ) {
            return Ok(Query::done(failed));
        }
        let db = self.db();
        let conn = self.conn(&db);
        let (schema, table) = match self.name.rsplit_once('.') {
            Some((s, t)) => (s.to_string(), t.to_string()),
            None => ("public".to_string(), self.name.clone()),
        };
        let row = try_sql!(
            sql_ok(
                ctx,
                &conn,
                &db,
                &format!(
                    "SELECT 1 FROM pg_tables WHERE schemaname = {} AND tablename = {};\n",
                    quote_literal(&schema),
                    quote_literal(&table)
                ),
            )
            .await
        );
        let mut r = ModuleResult::ok();
        r.extra.insert("table".into(), self.name.clone().into());
        let exists = !row.trim().is_empty();
        let mut stmts = Vec::new();
        match (self.state, exists) {
            (State::Absent, true) => {
                let cascade = if self.cascade.unwrap_or(false) {
                    " CASCADE"
                } else {
                    ""
                };
                stmts.push(format!("DROP TABLE {}{cascade};", self.quoted()));
            }
            (State::Present, false) => {
                stmts.push(format!(
                    "CREATE TABLE {} ({});",
                    self.quoted(),
                    self.columns.join(",")
                ));
            }
            _ => {}
        }
        Ok(plan_sql(
            ctx,
            &db,
            stmts,
            r,
            &format!("table {}", self.name),
        ))
    }

    async fn apply(&self, change: Change, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        apply_sql(ctx, &self.conn(&self.db()), change).await
    }
}
