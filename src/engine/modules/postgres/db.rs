//! `postgresql_db`: a database, its owner and connection limit.

use super::{Change, State, apply_sql, plan_sql, quote_ident, quote_literal, sql_ok};
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult};

pg_args! {
    pub struct PostgresqlDb {
        #[serde(alias = "db", alias = "datname", deserialize_with = "crate::engine::modules::args::string")]
        pub name: String,
        #[serde(default)]
        pub state: State,
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
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_int")]
        pub conn_limit: Option<i64>,
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
}

impl Module for PostgresqlDb {
    const NAME: &'static str = "postgresql_db";
    const ANSIBLE_ONLY: &'static [&'static str] = pg_ansible_only!(
        "icu_locale",
        "locale_provider",
        "tablespace",
        "comment",
        "target",
        "target_opts",
        "dump_extra_args"
    );
    type Pending = Change;

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Change>, ModuleError> {
        use super::connargs::Input::Text;
        let limit = self.conn_limit.map(|l| l.to_string());
        let checked = [
            Text(self.owner.as_deref()),
            Text(limit.as_deref()),
            Text(self.encoding.as_deref()),
            Text(Some(&self.name)),
            Text(self.template.as_deref()),
        ];
        if let Some(refused) = self.untrusted(&checked) {
            return Ok(Query::done(refused));
        }
        read(self, ctx).await
    }

    async fn apply(&self, change: Change, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        apply_sql(ctx, &self.conn(self.maintenance_db()), change).await
    }
}

async fn read(a: &PostgresqlDb, ctx: &Ctx<'_>) -> Result<Query<Change>, ModuleError> {
    let name = a.name.clone();
    let maint = a.maintenance_db().to_string();
    let conn = a.conn(&maint);
    let row = try_sql!(sql_ok(
        ctx,
        &conn,
        &maint,
        &format!(
            "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype, datconnlimit \
             FROM pg_database WHERE datname = {};\n",
            quote_literal(&name)
        )
    )
    .await);
    let fields: Vec<&str> = row.trim_end_matches('\n').split('\t').collect();
    let exists = !row.trim().is_empty();
    let mut r = ModuleResult::ok();
    r.extra.insert("db".into(), name.clone().into());
    let mut stmts = Vec::new();
    if a.state == State::Absent {
        if exists {
            let force = if a.force.unwrap_or(false) {
                " WITH (FORCE)"
            } else {
                ""
            };
            stmts.push(format!("DROP DATABASE {}{force};", quote_ident(&name)));
        }
    } else if !exists {
        let mut s = format!("CREATE DATABASE {}", quote_ident(&name));
        if let Some(o) = &a.owner {
            s.push_str(&format!(" OWNER {}", quote_ident(o)));
        }
        if let Some(t) = &a.template {
            s.push_str(&format!(" TEMPLATE {}", quote_ident(t)));
        }
        if let Some(e) = &a.encoding {
            s.push_str(&format!(" ENCODING {}", quote_literal(e)));
        }
        if let Some(c) = &a.lc_collate {
            s.push_str(&format!(" LC_COLLATE {}", quote_literal(c)));
        }
        if let Some(c) = &a.lc_ctype {
            s.push_str(&format!(" LC_CTYPE {}", quote_literal(c)));
        }
        if let Some(l) = a.conn_limit {
            s.push_str(&format!(" CONNECTION LIMIT {l}"));
        }
        stmts.push(format!("{s};"));
    } else {
        let get = |i: usize| fields.get(i).copied().unwrap_or("");
        for (arg, wanted, have, what) in [
            ("encoding", &a.encoding, get(1), "encoding"),
            ("lc_collate", &a.lc_collate, get(2), "LC_COLLATE"),
            ("lc_ctype", &a.lc_ctype, get(3), "LC_CTYPE"),
        ] {
            if let Some(want) = wanted
                && !want.eq_ignore_ascii_case(have)
                && !(arg == "encoding" && normalize_encoding(want) == normalize_encoding(have))
            {
                return Ok(Query::done(ModuleResult::fail(format!(
                    "database {name} exists with {what} {have}; changing it to {want} is not supported (drop and recreate it)"
                ))));
            }
        }
        if let Some(o) = &a.owner
            && o != get(0)
        {
            stmts.push(format!(
                "ALTER DATABASE {} OWNER TO {};",
                quote_ident(&name),
                quote_ident(o)
            ));
        }
        if let Some(l) = a.conn_limit
            && l.to_string() != get(4)
        {
            stmts.push(format!(
                "ALTER DATABASE {} CONNECTION LIMIT {l};",
                quote_ident(&name)
            ));
        }
    }
    Ok(plan_sql(ctx, &maint, stmts, r, &format!("database {name}")))
}

fn normalize_encoding(e: &str) -> String {
    e.to_ascii_uppercase().replace(['-', '_'], "")
}
