//! `postgresql_ping`: whether the server answers, and its version. Reads only.

use serde_json::{Map, Value};

use super::{mask_psql_stderr, psql};
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult};

pg_args! {
    pub struct PostgresqlPing {
        /// The database psql connects to.
        #[serde(default, alias = "db", deserialize_with = "crate::engine::modules::args::opt_string")]
        pub login_db: Option<String>,
    }
}

impl Module for PostgresqlPing {
    const NAME: &'static str = "postgresql_ping";
    const ANSIBLE_ONLY: &'static [&'static str] = pg_ansible_only!();
    type Pending = ();

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        if let Some(refused) = self.untrusted(&[]) {
            return Ok(Query::done(refused));
        }
        Ok(Query::done(ping(self, ctx).await?))
    }

    async fn apply(&self, (): (), _: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        // `query` never leaves anything to do.
        Ok(ModuleResult::ok())
    }
}

async fn ping(a: &PostgresqlPing, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let conn = a.conn(a.login_db.as_deref().unwrap_or("postgres"));
    let out = psql(
        ctx,
        &conn,
        &conn.db,
        "SELECT current_setting('server_version');\n",
    )
    .await?;
    let mut r = ModuleResult::ok();
    let available = out.rc == 0;
    r.extra.insert("is_available".into(), available.into());
    if available {
        let v = out.stdout.trim().to_string();
        let mut sv = Map::new();
        let mut parts = v.split(|c: char| !c.is_ascii_digit());
        sv.insert(
            "major".into(),
            parts.next().and_then(|p| p.parse::<i64>().ok()).into(),
        );
        sv.insert(
            "minor".into(),
            parts.next().and_then(|p| p.parse::<i64>().ok()).into(),
        );
        sv.insert("full".into(), v.into());
        r.extra.insert("server_version".into(), Value::Object(sv));
    } else {
        r.extra.insert(
            "conn_err_msg".into(),
            mask_psql_stderr(out.stderr.trim()).into(),
        );
    }
    Ok(r)
}
