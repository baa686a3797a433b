//! `postgresql_schema`: a schema in a database, its owner.

use super::{Change, State, apply_sql, check_input, plan_sql, quote_ident, quote_literal, sql_ok};
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult};

pg_args! {
    pub struct PostgresqlSchema {
        #[serde(alias = "schema", deserialize_with = "crate::engine::modules::args::string")]
        pub name: String,
        #[serde(default)]
        pub state: State,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub owner: Option<String>,
        /// `DROP SCHEMA … CASCADE`: its objects go too.
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_bool")]
        pub cascade_drop: Option<bool>,
        #[serde(default, alias = "db", alias = "database", deserialize_with = "crate::engine::modules::args::opt_string")]
        pub login_db: Option<String>,
    }
}

impl PostgresqlSchema {
    fn db(&self) -> String {
        self.login_db.clone().unwrap_or_else(|| "postgres".into())
    }
}

impl Module for PostgresqlSchema {
    const NAME: &'static str = "postgresql_schema";
    const ANSIBLE_ONLY: &'static [&'static str] = pg_ansible_only!("comment");
    type Pending = Change;

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Change>, ModuleError> {
        if let Some(failed) = check_input(
            self.trust_input,
            &[
                Some(&self.name),
                self.owner.as_deref(),
                self.session_role.as_deref(),
            ],
        ) {
            return Ok(Query::done(failed));
        }
        let db = self.db();
        let conn = self.conn(&db);
        let row = try_sql!(
            sql_ok(
                ctx,
                &conn,
                &db,
                &format!(
                    "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = {};\n",
                    quote_literal(&self.name)
                ),
            )
            .await
        );
        let mut r = ModuleResult::ok();
        r.extra.insert("schema".into(), self.name.clone().into());
        let name = quote_ident(&self.name);
        let owner = self.owner.as_deref().filter(|o| !o.is_empty());
        let mut stmts = Vec::new();
        let have = row.trim_end_matches('\n');
        match (self.state, !row.trim().is_empty()) {
            (State::Absent, true) => {
                let cascade = if self.cascade_drop.unwrap_or(false) {
                    " CASCADE"
                } else {
                    ""
                };
                stmts.push(format!("DROP SCHEMA {name}{cascade};"));
            }
            (State::Present, false) => match owner {
                Some(o) => stmts.push(format!(
                    "CREATE SCHEMA {name} AUTHORIZATION {};",
                    quote_ident(o)
                )),
                None => stmts.push(format!("CREATE SCHEMA {name};")),
            },
            (State::Present, true) => {
                if let Some(o) = owner
                    && o != have
                {
                    stmts.push(format!("ALTER SCHEMA {name} OWNER TO {};", quote_ident(o)));
                }
            }
            (State::Absent, false) => {}
        }
        Ok(plan_sql(
            ctx,
            &db,
            stmts,
            r,
            &format!("schema {}", self.name),
        ))
    }

    async fn apply(&self, change: Change, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        apply_sql(ctx, &self.conn(&self.db()), change).await
    }
}
