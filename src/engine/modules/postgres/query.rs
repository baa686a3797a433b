//! `postgresql_query`: one statement, with psycopg-style arguments. What it reads is its
//! result; a statement that writes is the change.

use serde_json::{Map, Value};

use super::{Change, apply_sql, psql, psql_failed, quote_literal, sql_ok};
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult};
use crate::transport::sh_quote;

pg_args! {
    pub struct PostgresqlQuery {
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub query: Option<String>,
        /// A file on the target holding the statement (when `query` is not given).
        #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
        pub path_to_script: Option<String>,
        #[serde(default)]
        pub positional_args: Option<Vec<Value>>,
        #[serde(default)]
        pub named_args: Option<Map<String, Value>>,
        /// The database psql connects to.
        #[serde(default, alias = "db", deserialize_with = "crate::engine::modules::args::opt_string")]
        pub login_db: Option<String>,
    }
}

/// What `apply` runs.
pub enum Pending {
    /// psql could not reach the server while reading.
    Unreachable(Change),
    /// A statement that looks like a read but writes (the read-only transaction refused it):
    /// run for its rows, `result` holding what it reports besides them.
    Rows {
        sql: String,
        json: bool,
        result: ModuleResult,
    },
    /// A statement that writes; `first` is its first keyword.
    Write {
        sql: String,
        first: String,
        result: ModuleResult,
    },
}

impl Module for PostgresqlQuery {
    const NAME: &'static str = "postgresql_query";
    const ANSIBLE_ONLY: &'static [&'static str] =
        pg_ansible_only!("as_single_query", "autocommit", "encoding", "search_path");
    type Pending = Pending;

    fn validate(&self) -> Result<(), ModuleError> {
        if self.query.is_none() && self.path_to_script.is_none() {
            return Err(ModuleError::Args(
                "postgresql_query: needs query or path_to_script".into(),
            ));
        }
        Ok(())
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Pending>, ModuleError> {
        if let Some(failed) = super::check_input(self.trust_input, &[self.session_role.as_deref()])
        {
            return Ok(Query::done(failed));
        }
        read(self, ctx).await
    }

    async fn apply(&self, pending: Pending, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let conn = self.one_shot_conn();
        match pending {
            Pending::Unreachable(change) => apply_sql(ctx, &conn, change).await,
            Pending::Rows { sql, json, result } => {
                let out = psql(ctx, &conn, &conn.db, &sql).await?;
                if out.rc != 0 {
                    return Ok(psql_failed(&out));
                }
                Ok(with_rows(result, &out.stdout, json))
            }
            Pending::Write { sql, first, result } => write(ctx, &conn, &sql, &first, result).await,
        }
    }
}

impl PostgresqlQuery {
    pub(super) fn login_db(&self) -> &str {
        self.login_db.as_deref().unwrap_or("postgres")
    }

    /// A user's SQL runs on a psql of its own: it may change the session (`SET`, the guard's
    /// read-only default, `\set QUIET`) or leave a quote open that would swallow the kept
    /// session's end markers.
    fn one_shot_conn(&self) -> super::Conn {
        let mut conn = self.conn(self.login_db());
        conn.one_shot = true;
        conn
    }
}

/// psycopg-style `%s` / `%(name)s` placeholders, filled with quoted literals.
fn bind(
    query: &str,
    positional: &[Value],
    named: &Map<String, Value>,
) -> Result<String, ModuleError> {
    let lit = |v: &Value| match v {
        Value::Null => "NULL".to_string(),
        Value::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote_literal(s),
        other => quote_literal(&other.to_string()),
    };
    let mut out = String::new();
    let mut pos = 0;
    let mut rest = query;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("%%") {
            out.push('%');
            rest = t;
        } else if let Some(t) = tail.strip_prefix("%s") {
            let v = positional.get(pos).ok_or_else(|| {
                ModuleError::Args(format!(
                    "postgresql_query: placeholder %s #{} has no positional_args value",
                    pos + 1
                ))
            })?;
            out.push_str(&lit(v));
            pos += 1;
            rest = t;
        } else if let Some(t) = tail.strip_prefix("%(") {
            let Some(end) = t.find(")s") else {
                return Err(ModuleError::Args(
                    "postgresql_query: unterminated %(name)s placeholder".into(),
                ));
            };
            let name = &t[..end];
            let v = named.get(name).ok_or_else(|| {
                ModuleError::Args(format!("postgresql_query: named_args has no '{name}'"))
            })?;
            out.push_str(&lit(v));
            rest = &t[end + 2..];
        } else {
            out.push('%');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

async fn read(a: &PostgresqlQuery, ctx: &Ctx<'_>) -> Result<Query<Pending>, ModuleError> {
    let conn = a.one_shot_conn();
    let text = match (&a.query, &a.path_to_script) {
        (Some(q), _) => q.clone(),
        (None, Some(p)) => {
            let out = ctx.query(&format!("cat -- {}", sh_quote(p)), None).await?;
            if out.rc != 0 {
                return Ok(Query::done(ModuleResult::fail(format!(
                    "cannot read {p}: {}",
                    out.stderr.trim()
                ))));
            }
            out.stdout
        }
        (None, None) => {
            return Err(ModuleError::Args(
                "postgresql_query: needs query or path_to_script".into(),
            ));
        }
    };
    let positional = a.positional_args.clone().unwrap_or_default();
    let named = a.named_args.clone().unwrap_or_default();
    let sql = bind(text.trim().trim_end_matches(';'), &positional, &named)?;
    let first = sql
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    let read_only = matches!(
        first.as_str(),
        "SELECT" | "SHOW" | "TABLE" | "VALUES" | "EXPLAIN"
    ) || (first == "WITH"
        && !sql.to_ascii_uppercase().contains("INSERT")
        && !sql.to_ascii_uppercase().contains("UPDATE")
        && !sql.to_ascii_uppercase().contains("DELETE"));
    let mut r = ModuleResult::ok();
    r.extra.insert("query".into(), Value::String(sql.clone()));
    if !read_only {
        r.changed = true;
        return Ok(Query::change(
            r.clone(),
            Pending::Write {
                sql,
                first,
                result: r,
            },
        ));
    }
    // Even a "read-only" statement is read in a read-only transaction that is rolled back (as
    // community.postgresql does in check mode): `EXPLAIN ANALYZE DELETE`, `SELECT nextval(…)`
    // or a function that writes must not change anything here. The session default stays
    // read-only too, so a COMMIT inside the query cannot end the protection.
    let guard = |body: &str| {
        format!("SET default_transaction_read_only = on;\nBEGIN READ ONLY;\n{body}ROLLBACK;\n")
    };
    let json = first != "SHOW" && first != "EXPLAIN";
    let body = if json {
        format!("SELECT coalesce(json_agg(t), '[]'::json) FROM ({sql}) t;\n")
    } else {
        format!("{sql};\n")
    };
    match sql_ok(ctx, &conn, &conn.db, &guard(&body)).await? {
        Ok(out) => Ok(Query::done(with_rows(r, &out, json))),
        // Refused by the read-only transaction: it writes. Check mode reports a change not
        // made; a real run runs it for its rows.
        Err(q) if q.pending.is_none() && refused_write(&q.result) => {
            let mut would = r.clone();
            would.changed = true;
            would.msg = Some(format!(
                "check mode: the query writes, so the read-only transaction refused it and nothing changed ({})",
                q.result.msg.unwrap_or_default()
            ));
            Ok(Query::change(
                would,
                Pending::Rows {
                    sql: body,
                    json,
                    result: r,
                },
            ))
        }
        Err(q) => Ok(Query {
            result: q.result,
            pending: q.pending.map(Pending::Unreachable),
        }),
    }
}

fn refused_write(fail: &ModuleResult) -> bool {
    fail.msg
        .as_deref()
        .is_some_and(|m| m.contains("read-only transaction"))
}

/// `result` with the rows psql printed: one JSON array (`json`), or one text row per line.
fn with_rows(mut r: ModuleResult, out: &str, json: bool) -> ModuleResult {
    if json {
        let rows: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Array(Vec::new()));
        let n = rows.as_array().map_or(0, Vec::len);
        r.extra.insert("query_result".into(), rows);
        r.extra.insert("rowcount".into(), n.into());
    } else {
        let rows: Vec<Value> = out.lines().map(|l| Value::String(l.to_string())).collect();
        r.extra.insert("rowcount".into(), rows.len().into());
        r.extra.insert("query_result".into(), Value::Array(rows));
    }
    r
}

/// Runs a statement that writes; INSERT/UPDATE/DELETE/MERGE changed something only when
/// they touched rows.
async fn write(
    ctx: &Ctx<'_>,
    conn: &super::Conn,
    sql: &str,
    first: &str,
    mut r: ModuleResult,
) -> Result<ModuleResult, ModuleError> {
    // Without -q psql prints the command tag ("INSERT 0 3"), which gives the row count.
    let out = psql(ctx, conn, &conn.db, &format!("\\set QUIET off\n{sql};\n")).await?;
    if out.rc != 0 {
        return Ok(psql_failed(&out));
    }
    let tag = out
        .stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string();
    let count = tag
        .split_whitespace()
        .last()
        .and_then(|n| n.parse::<i64>().ok());
    if matches!(first, "INSERT" | "UPDATE" | "DELETE" | "MERGE") {
        r.changed = count.unwrap_or(0) > 0;
    }
    r.extra.insert("rowcount".into(), count.unwrap_or(0).into());
    r.extra.insert("statusmessage".into(), Value::String(tag));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::modules::postgres::{quote_ident, redact_sql};

    #[test]
    fn sql_quoting_and_binding() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        let q = bind(
            "SELECT %s, %(n)s, 100%%",
            &[Value::from("x'y")],
            &serde_json::from_str(r#"{"n": 3}"#).expect("json"),
        )
        .expect("binds");
        assert_eq!(q, "SELECT 'x''y', 3, 100%");
        assert_eq!(
            redact_sql("ALTER ROLE \"a\" LOGIN PASSWORD 'SCRAM-x';"),
            "ALTER ROLE \"a\" LOGIN PASSWORD '********';"
        );
    }
}
