use serde_json::{Map, Value};

use super::{Conn, mask_psql_stderr, psql, quote_literal, sql_ok};
use crate::engine::modules::{Args, Ctx, ModuleError, ModuleResult};
use crate::transport::sh_quote;

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

pub async fn query(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let conn = Conn::from_args(a, "postgres")?;
    let text = match (a.opt_str("query")?, a.opt_str("path_to_script")?) {
        (Some(q), _) => q,
        (None, Some(p)) => {
            let out = ctx.query(&format!("cat -- {}", sh_quote(&p)), None).await?;
            if out.rc != 0 {
                return Ok(ModuleResult::fail(format!(
                    "cannot read {p}: {}",
                    out.stderr.trim()
                )));
            }
            out.stdout
        }
        _ => {
            return Err(ModuleError::Args(
                "postgresql_query: needs query or path_to_script".into(),
            ));
        }
    };
    let positional = match a.map.get("positional_args") {
        Some(Value::Array(v)) => v.clone(),
        _ => Vec::new(),
    };
    let named = match a.map.get("named_args") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
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
    // In check mode even a "read-only" statement runs in a read-only transaction that is rolled
    // back (as community.postgresql does): `EXPLAIN ANALYZE DELETE`, `SELECT nextval(…)` or a
    // function that writes must not change anything. The session default stays read-only too,
    // so a COMMIT inside the query cannot end the protection.
    let guard = |body: String| {
        if ctx.check {
            format!("SET default_transaction_read_only = on;\nBEGIN READ ONLY;\n{body}ROLLBACK;\n")
        } else {
            body
        }
    };
    // A statement refused by the read-only transaction writes: in check mode, a change not made.
    let writes = |fail: &ModuleResult| {
        ctx.check
            && fail
                .msg
                .as_deref()
                .is_some_and(|m| m.contains("read-only transaction"))
    };
    let would_write = |mut r: ModuleResult, fail: ModuleResult| {
        r.changed = true;
        r.msg = Some(format!(
            "check mode: the query writes, so the read-only transaction refused it and nothing changed ({})",
            fail.msg.unwrap_or_default()
        ));
        r
    };
    if read_only && first != "SHOW" && first != "EXPLAIN" {
        let wrapped = guard(format!(
            "SELECT coalesce(json_agg(t), '[]'::json) FROM ({sql}) t;\n"
        ));
        let out = match sql_ok(ctx, &conn, &conn.db, &wrapped).await? {
            Ok(out) => out,
            Err(fail) if writes(&fail) => return Ok(would_write(r, fail)),
            Err(fail) => return Ok(fail),
        };
        let rows: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Array(Vec::new()));
        let n = rows.as_array().map_or(0, Vec::len);
        r.extra.insert("query_result".into(), rows);
        r.extra.insert("rowcount".into(), n.into());
        return Ok(r);
    }
    if read_only {
        let out = match sql_ok(ctx, &conn, &conn.db, &guard(format!("{sql};\n"))).await? {
            Ok(out) => out,
            Err(fail) if writes(&fail) => return Ok(would_write(r, fail)),
            Err(fail) => return Ok(fail),
        };
        let rows: Vec<Value> = out.lines().map(|l| Value::String(l.to_string())).collect();
        r.extra.insert("rowcount".into(), rows.len().into());
        r.extra.insert("query_result".into(), Value::Array(rows));
        return Ok(r);
    }
    r.changed = true;
    if ctx.check {
        return Ok(r);
    }
    // Without -q psql prints the command tag ("INSERT 0 3"), which gives the row count.
    let out = psql(ctx, &conn, &conn.db, &format!("\\set QUIET off\n{sql};\n")).await?;
    if out.rc != 0 {
        let mut f = ModuleResult::fail(format!("psql: {}", mask_psql_stderr(out.stderr.trim())));
        f.rc = Some(out.rc);
        return Ok(f);
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
    if matches!(first.as_str(), "INSERT" | "UPDATE" | "DELETE" | "MERGE") {
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
