//! `postgresql_set`: a server parameter through `ALTER SYSTEM` and a reload, with
//! community.postgresql 4.2.0's decisions: check mode compares the value with the current one
//! (sizes in bytes), a real run sets it when the text differs and reports a change when the
//! setting read again on a new connection differs (parameters that need a restart: when set).

use serde_json::{Value, json};

use super::connargs::Input;
use super::{mask_psql_stderr, psql, psql_failed, quote_literal, sql_ok};
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult};

pg_args! {
    pub struct PostgresqlSet {
        #[serde(deserialize_with = "crate::engine::modules::args::string")]
        pub name: String,
        /// The value; `default` removes it from postgresql.auto.conf.
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub value: Option<String>,
        /// Back to the cluster's boot value.
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_bool")]
        pub reset: Option<bool>,
        /// The database psql connects to.
        #[serde(default, alias = "db", deserialize_with = "crate::engine::modules::args::opt_string")]
        pub login_db: Option<String>,
    }
}

/// What `apply` runs.
pub struct Pending {
    statement: String,
    before: Setting,
    result: ModuleResult,
}

/// A row of pg_settings as the collection reads it.
#[derive(Clone)]
struct Setting {
    /// `SHOW name`.
    current: String,
    raw: String,
    unit: String,
    boot: String,
    context: String,
}

impl PostgresqlSet {
    fn login_db(&self) -> &str {
        self.login_db
            .as_deref()
            .filter(|d| !d.is_empty())
            .unwrap_or("postgres")
    }

    /// The value as the collection normalises it (`32mb` → `32MB`, `True` → `on`).
    fn value(&self) -> Option<String> {
        let v = self.value.clone()?;
        let digits = |s: Option<&str>| {
            s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        };
        let n = v.len();
        let size = n > 2
            && digits(v.get(..n - 2))
            && v.get(n - 2..)
                .is_some_and(|u| ["mb", "gb", "tb"].contains(&u));
        let bytes = n > 1 && v.ends_with('b') && digits(v.get(..n - 1));
        let v = if size || bytes { v.to_uppercase() } else { v };
        Some(match v.as_str() {
            "True" => "on".into(),
            "False" => "off".into(),
            _ => v,
        })
    }
}

impl Module for PostgresqlSet {
    const NAME: &'static str = "postgresql_set";
    const ANSIBLE_ONLY: &'static [&'static str] = pg_ansible_only!();
    type Pending = Pending;

    fn validate(&self) -> Result<(), ModuleError> {
        let reset = self.reset.unwrap_or(false);
        let msg = match (&self.value, reset) {
            (Some(_), true) => "value and reset params are mutually exclusive",
            (None, false) => "at least one of value or reset param must be specified",
            _ if self.name == "shared_preload_libraries" && self.value.as_deref() == Some("") => {
                "setting shared_preload_libraries to an empty string is not supported (a \
                 PostgreSQL bug); use value: default or reset: true"
            }
            _ if !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
                || self.name.is_empty() =>
            {
                "not a parameter name (letters, digits, _ and .)"
            }
            _ => return Ok(()),
        };
        Err(ModuleError::Args(format!(
            "postgresql_set: {}: {msg}",
            self.name
        )))
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Pending>, ModuleError> {
        if let Some(refused) = self.untrusted(&[
            Input::Text(Some(&self.name)),
            Input::Text(self.value.as_deref()),
        ]) {
            return Ok(Query::done(refused));
        }
        let before = match read_setting(self, ctx).await? {
            Ok(s) => s,
            Err(failed) => return Ok(Query::done(failed)),
        };
        let mut r = ModuleResult::ok();
        r.extra.insert("name".into(), self.name.clone().into());
        r.extra.insert("restart_required".into(), false.into());
        r.extra
            .insert("prev_val_pretty".into(), before.current.clone().into());
        r.extra
            .insert("value_pretty".into(), before.current.clone().into());
        r.extra
            .insert("context".into(), before.context.clone().into());
        r.extra.insert(
            "value".into(),
            json!({"value": before.raw, "unit": before.unit}),
        );
        r.extra.insert("queries".into(), Value::Array(Vec::new()));
        if before.context == "internal" {
            return Ok(Query::done(ModuleResult::fail(format!(
                "{}: cannot be changed (internal context). See \
                 https://www.postgresql.org/docs/current/runtime-config-preset.html",
                self.name
            ))));
        }
        let restart = before.context == "postmaster";
        let value = self.value();
        let statement = match &value {
            Some(v) if *v != before.current => Some(if v == "default" {
                format!("ALTER SYSTEM SET {} = DEFAULT", self.name)
            } else {
                set_statement(&self.name, v)
            }),
            Some(_) => None,
            None if before.raw == before.boot => None,
            None => Some(format!("ALTER SYSTEM RESET {}", self.name)),
        };
        let Some(statement) = statement else {
            return Ok(Query::done(r));
        };
        // What check mode reports (the collection compares sizes in bytes there).
        let mut check = r.clone();
        check
            .extra
            .insert("restart_required".into(), restart.into());
        if let Some(v) = &value {
            check.changed = to_bytes(v) != to_bytes(&before.current);
            if check.changed {
                check.extra.insert("value_pretty".into(), v.clone().into());
            }
        } else {
            check.changed = true;
        }
        r.extra.insert("restart_required".into(), restart.into());
        r.extra
            .insert("queries".into(), Value::from(vec![statement.clone()]));
        if let Some(v) = &value {
            r.extra.insert("value_pretty".into(), v.clone().into());
        }
        Ok(Query::change(
            check,
            Pending {
                statement,
                before,
                result: r,
            },
        ))
    }

    async fn apply(&self, p: Pending, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let mut conn = self.conn(self.login_db());
        // ALTER SYSTEM cannot run in a transaction block, and the re-read below must be a new
        // server session to see the reloaded value.
        conn.one_shot = true;
        let reload = if p.before.context == "postmaster" {
            ""
        } else {
            "SELECT pg_reload_conf();\n"
        };
        let sql = format!("{};\n{reload}", p.statement);
        let out = psql(ctx, &conn, &conn.db, &sql).await?;
        if out.rc != 0 {
            let mut failed = psql_failed(&out);
            failed.msg = Some(format!(
                "Unable to set {} value due to : {}",
                self.name,
                mask_psql_stderr(out.stderr.trim())
            ));
            return Ok(failed);
        }
        let mut r = p.result;
        r.changed = true;
        let rereads = [
            "sighup",
            "superuser-backend",
            "backend",
            "superuser",
            "user",
        ];
        if rereads.contains(&p.before.context.as_str()) {
            let after = match read_setting(self, ctx).await? {
                Ok(s) => s,
                Err(failed) => return Ok(failed),
            };
            r.changed = after.raw != p.before.raw;
            r.extra
                .insert("value_pretty".into(), after.current.clone().into());
            r.extra.insert(
                "value".into(),
                json!({"value": after.raw, "unit": p.before.unit}),
            );
        }
        Ok(r)
    }
}

/// `ALTER SYSTEM SET name = 'value'`; a value with commas is a list of quoted elements (but
/// for `*_command` / `*_prefix` parameters, which may hold commas).
fn set_statement(name: &str, value: &str) -> String {
    if value.contains(',') && !name.ends_with("_command") && !name.ends_with("_prefix") {
        let items: Vec<String> = value.split(',').map(|e| quote_literal(e.trim())).collect();
        format!("ALTER SYSTEM SET {name} = {}", items.join(","))
    } else {
        format!("ALTER SYSTEM SET {name} = {}", quote_literal(value))
    }
}

/// The collection's `pretty_to_bytes`: `16MB` → 16777216; numbers as numbers; else the text.
fn to_bytes(v: &str) -> String {
    let Some(first) = v.chars().next() else {
        return String::new();
    };
    if !first.is_ascii_digit() {
        return v.to_string();
    }
    if !v.chars().last().is_some_and(|c| c.is_alphabetic()) {
        return v
            .parse::<i64>()
            .map(|n| n.to_string())
            .or_else(|_| v.parse::<f64>().map(|f| f.to_string()))
            .unwrap_or_else(|_| v.to_string());
    }
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    let n: i64 = digits.parse().unwrap_or(0);
    let tail = v.get(v.len().saturating_sub(2)..).unwrap_or("");
    let mult: i64 = if tail.contains("kB") {
        1024
    } else if tail.contains("MB") {
        1024 * 1024
    } else if tail.contains("GB") {
        1024 * 1024 * 1024
    } else if tail.contains("TB") {
        1024_i64.pow(4)
    } else if v.ends_with('B') {
        1
    } else {
        return v.to_string();
    };
    (n * mult).to_string()
}

/// pg_settings' row and `SHOW` for the parameter, sizes in bytes as the collection returns them.
async fn read_setting(
    a: &PostgresqlSet,
    ctx: &Ctx<'_>,
) -> Result<Result<Setting, ModuleResult>, ModuleError> {
    let mut conn = a.conn(a.login_db());
    conn.one_shot = true;
    let lit = quote_literal(&a.name);
    let sql = format!(
        "SELECT setting, coalesce(unit, ''), context, coalesce(boot_val, ''), \
         current_setting(name) FROM pg_catalog.pg_settings WHERE name = {lit};\n"
    );
    let row = match sql_ok(ctx, &conn, &conn.db, &sql).await? {
        Ok(row) => row,
        Err(q) => return Ok(Err(q.result)),
    };
    let f: Vec<&str> = row.trim_end_matches('\n').split('\t').collect();
    if row.trim().is_empty() || f.len() < 5 {
        return Ok(Err(ModuleResult::fail(format!(
            "No such parameter: {}. Please check its spelling or presence in your PostgreSQL \
             version (https://www.postgresql.org/docs/current/runtime-config.html)",
            a.name
        ))));
    }
    let (mut raw, mut unit, mut boot) = (f[0].to_string(), f[1].to_string(), f[3].to_string());
    let scale = match unit.as_str() {
        "kB" => 1024,
        "MB" => 1024 * 1024,
        _ => 0,
    };
    if scale > 0 {
        let times = |s: &str| match s.parse::<i64>() {
            Ok(n) if n > 0 => (n * scale).to_string(),
            _ => s.to_string(),
        };
        raw = times(&raw);
        boot = times(&boot);
        unit = "b".into();
    }
    Ok(Ok(Setting {
        current: f[4].to_string(),
        raw,
        unit,
        boot,
        context: f[2].to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_normalised_as_the_collection_does() {
        let set = |v: &str| PostgresqlSet {
            value: Some(v.into()),
            ..serde_json::from_value(json!({"name": "work_mem"})).expect("parses")
        };
        assert_eq!(set("32mb").value().as_deref(), Some("32MB"));
        assert_eq!(set("8b").value().as_deref(), Some("8B"));
        assert_eq!(set("True").value().as_deref(), Some("on"));
        assert_eq!(set("aéa").value().as_deref(), Some("aéa"));
        assert_eq!(set("é").value().as_deref(), Some("é"));
    }

    #[test]
    fn sizes_and_statements_as_the_collection_has_them() {
        assert_eq!(to_bytes("16MB"), "16777216");
        assert_eq!(to_bytes("16384kB"), "16777216");
        assert_eq!(to_bytes("on"), "on");
        assert_eq!(to_bytes("100"), "100");
        assert_eq!(to_bytes("1中"), "1中");
        assert_eq!(
            set_statement("default_transaction_read_only", "on"),
            "ALTER SYSTEM SET default_transaction_read_only = 'on'"
        );
        assert_eq!(
            set_statement("search_path", "a, b"),
            "ALTER SYSTEM SET search_path = 'a','b'"
        );
    }
}
