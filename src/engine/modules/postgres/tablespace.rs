//! `postgresql_tablespace`: a tablespace at a location, and its owner.

use super::{Change, State, apply_sql, check_input, plan_sql, quote_ident, quote_literal, sql_ok};
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult};

pg_args! {
    pub struct PostgresqlTablespace {
        #[serde(alias = "tablespace", deserialize_with = "crate::engine::modules::args::string")]
        pub name: String,
        #[serde(default)]
        pub state: State,
        /// The directory (must exist, owned by postgres); needed to create it.
        #[serde(default, alias = "path", alias = "location_path", deserialize_with = "crate::engine::modules::args::opt_string")]
        pub location: Option<String>,
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub owner: Option<String>,
        #[serde(default, alias = "db", deserialize_with = "crate::engine::modules::args::opt_string")]
        pub login_db: Option<String>,
    }
}

impl Module for PostgresqlTablespace {
    const NAME: &'static str = "postgresql_tablespace";
    const ANSIBLE_ONLY: &'static [&'static str] = pg_ansible_only!("set", "rename_to", "comment");
    type Pending = Change;
    const PATH_ARGS: &'static [&'static str] = &["location", "path"];

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Change>, ModuleError> {
        if let Some(failed) = check_input(
            self.trust_input,
            &[
                Some(&self.name),
                self.location.as_deref(),
                self.owner.as_deref(),
                self.session_role.as_deref(),
            ],
        ) {
            return Ok(Query::done(failed));
        }
        let db = self.login_db.clone().unwrap_or_else(|| "postgres".into());
        let conn = self.conn(&db);
        let row = try_sql!(sql_ok(
            ctx,
            &conn,
            &db,
            &format!(
                "SELECT pg_get_userbyid(spcowner), pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = {};\n",
                quote_literal(&self.name)
            ),
        )
        .await);
        let mut r = ModuleResult::ok();
        r.extra
            .insert("tablespace".into(), self.name.clone().into());
        r.extra.insert("state".into(), self.state.as_str().into());
        let name = quote_ident(&self.name);
        let mut stmts = Vec::new();
        let exists = !row.trim().is_empty();
        match (self.state, exists) {
            (State::Absent, true) => stmts.push(format!("DROP TABLESPACE {name};")),
            (State::Present, false) => {
                let Some(loc) = self.location.as_deref().filter(|l| !l.is_empty()) else {
                    return Ok(Query::done(ModuleResult::fail(format!(
                        "postgresql_tablespace: tablespace {} does not exist; 'location' is needed to create it",
                        self.name
                    ))));
                };
                let mut s = format!("CREATE TABLESPACE {name}");
                if let Some(o) = self.owner.as_deref().filter(|o| !o.is_empty()) {
                    s.push_str(&format!(" OWNER {}", quote_ident(o)));
                }
                stmts.push(format!("{s} LOCATION {};", quote_literal(loc)));
            }
            (State::Present, true) => {
                let owner = row.trim_end_matches('\n').split('\t').next().unwrap_or("");
                if let Some(o) = self.owner.as_deref().filter(|o| !o.is_empty())
                    && o != owner
                {
                    stmts.push(format!(
                        "ALTER TABLESPACE {name} OWNER TO {};",
                        quote_ident(o)
                    ));
                }
            }
            (State::Absent, false) => {}
        }
        Ok(plan_sql(
            ctx,
            &db,
            stmts,
            r,
            &format!("tablespace {}", self.name),
        ))
    }

    async fn apply(&self, change: Change, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let db = self.login_db.clone().unwrap_or_else(|| "postgres".into());
        apply_sql(ctx, &self.conn(&db), change).await
    }
}
