//! `postgresql_ping`: whether the server answers, and its version. Reads only.

use serde_json::{Map, Value};

use super::{check_input, mask_psql_stderr, psql};
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

/// community.postgresql 4.2.0's result: `is_available`, `server_version` (`{}` when not
/// available; `major`, `minor`, `full`, `raw`, and `patch` when the version has one) and
/// `conn_err_msg` (`""` when connected). A server that cannot be reached is not a failure; a
/// `session_role` that cannot be taken is ("Could not switch role").
async fn ping(a: &PostgresqlPing, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    if let Some(failed) = check_input(a.trust_input, &[a.session_role.as_deref()]) {
        return Ok(failed);
    }
    let conn = a.conn(a.login_db.as_deref().unwrap_or("postgres"));
    let out = psql(ctx, &conn, &conn.db, "SELECT version();\n").await?;
    let mut r = ModuleResult::ok();
    // psql's exit status 2: no connection; 3: a statement (the SET ROLE) failed.
    if out.rc == 3 && conn.session_role.is_some() {
        let msg = mask_psql_stderr(out.stderr.trim());
        return Ok(ModuleResult::fail(format!("Could not switch role: {msg}")));
    }
    let available = out.rc == 0;
    r.extra.insert("is_available".into(), available.into());
    if available {
        r.extra
            .insert("server_version".into(), server_version(out.stdout.trim()));
        r.extra.insert("conn_err_msg".into(), "".into());
    } else {
        r.extra
            .insert("server_version".into(), Value::Object(Map::new()));
        let msg = mask_psql_stderr(out.stderr.trim());
        let msg = msg.strip_prefix("psql: error: ").unwrap_or(&msg);
        r.extra.insert("conn_err_msg".into(), msg.into());
    }
    Ok(r)
}

/// `version()` ("PostgreSQL 15.8 (Debian 15.8-0+deb12u1) on x86_64…") as the module splits it.
fn server_version(raw: &str) -> Value {
    let mut sv = Map::new();
    let full = raw.split_whitespace().nth(1).unwrap_or("");
    let mut nums = full
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<i64>().ok());
    if let (Some(Some(major)), Some(Some(minor))) = (nums.next(), nums.next()) {
        sv.insert("major".into(), major.into());
        sv.insert("minor".into(), minor.into());
        if let Some(Some(patch)) = nums.next() {
            sv.insert("patch".into(), patch.into());
        }
    }
    sv.insert("full".into(), full.into());
    sv.insert("raw".into(), raw.into());
    Value::Object(sv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_as_the_module_splits_it() {
        let v = server_version("PostgreSQL 15.8 (Debian 15.8-0+deb12u1) on x86_64-pc-linux-gnu");
        assert_eq!(v["major"], 15);
        assert_eq!(v["minor"], 8);
        assert!(v.get("patch").is_none());
        assert_eq!(v["full"], "15.8");
        let v = server_version("PostgreSQL 9.6.24 on x86_64");
        assert_eq!(
            (&v["major"], &v["minor"], &v["patch"]),
            (&9.into(), &6.into(), &24.into())
        );
    }
}
