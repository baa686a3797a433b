use serde_json::Value;

use super::scram::{password_matches, scram_verifier};
use super::{Conn, finish_sql, quote_ident, quote_literal, sql_ok};
use crate::engine::modules::{Args, Ctx, ModuleError, ModuleResult};

const ROLE_FLAGS: &[(&str, usize)] = &[
    ("SUPERUSER", 0),
    ("CREATEDB", 1),
    ("CREATEROLE", 2),
    ("INHERIT", 3),
    ("LOGIN", 4),
    ("REPLICATION", 5),
    ("BYPASSRLS", 6),
];

pub async fn user(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let name = a.str("name")?;
    let state = a.choice("state", &["present", "absent"], "present")?;
    let conn = Conn::from_args(a, "postgres")?;
    let db = conn.db.clone();
    let row = try_sql!(sql_ok(
        ctx,
        &conn,
        &db,
        &format!(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolcanlogin, rolreplication, rolbypassrls, \
             rolconnlimit, coalesce(rolvaliduntil::text, ''), coalesce(rolpassword, '') FROM pg_authid WHERE rolname = {};\n",
            quote_literal(&name)
        )
    )
    .await);
    let fields: Vec<&str> = row.trim_end_matches('\n').split('\t').collect();
    let exists = !row.trim().is_empty();
    let mut r = ModuleResult::ok();
    r.extra.insert("user".into(), name.clone().into());
    let ident = quote_ident(&name);
    let mut stmts = Vec::new();
    if state == "absent" {
        if exists {
            stmts.push(format!("DROP ROLE {ident};"));
        }
        return finish_sql(ctx, &conn, &db, stmts, r, &format!("role {name}")).await;
    }
    let mut wanted: Vec<String> = Vec::new();
    for flag in a
        .list("role_attr_flags")?
        .iter()
        .flat_map(|f| f.split(':').map(str::to_string).collect::<Vec<_>>())
    {
        let f = flag.trim().to_ascii_uppercase();
        let bare = f.strip_prefix("NO").unwrap_or(&f);
        if !ROLE_FLAGS.iter().any(|(n, _)| *n == bare) {
            return Err(ModuleError::Args(format!(
                "postgresql_user: unknown role_attr_flags value {flag:?}; valid: [NO]{}",
                ROLE_FLAGS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", [NO]")
            )));
        }
        wanted.push(f);
    }
    let password = a.opt_str("password")?.filter(|p| !p.is_empty());
    let mut clauses: Vec<String> = Vec::new();
    if exists {
        for f in &wanted {
            let (on, bare) = match f.strip_prefix("NO") {
                Some(b) => (false, b),
                None => (true, f.as_str()),
            };
            let idx = ROLE_FLAGS
                .iter()
                .find(|(n, _)| *n == bare)
                .map_or(0, |(_, i)| *i);
            let have = fields.get(idx).copied() == Some("t");
            if have != on {
                clauses.push(f.clone());
            }
        }
    } else {
        clauses.extend(wanted.iter().cloned());
        if !wanted.iter().any(|f| f == "LOGIN" || f == "NOLOGIN") {
            // postgresql_user creates login roles (CREATE USER), as community.postgresql does.
            clauses.push("LOGIN".into());
        }
    }
    if let Some(limit) = a.opt_int("conn_limit")?
        && (!exists || fields.get(7).copied() != Some(limit.to_string().as_str()))
    {
        clauses.push(format!("CONNECTION LIMIT {limit}"));
    }
    if let Some(exp) = a.opt_str("expires")? {
        let have = fields.get(8).copied().unwrap_or("");
        if !exists || !same_timestamp(have, &exp) {
            clauses.push(format!("VALID UNTIL {}", quote_literal(&exp)));
        }
    }
    let mut password_changed = false;
    if let Some(pw) = &password {
        let stored = fields.get(9).copied().unwrap_or("");
        let matches = exists && password_matches(stored, pw, &name);
        let no_changes = a.bool("no_password_changes", false)?;
        if !matches && (!exists || !no_changes) {
            password_changed = true;
            let verifier =
                if pw.starts_with("SCRAM-SHA-256$") || (pw.starts_with("md5") && pw.len() == 35) {
                    pw.clone()
                } else {
                    scram_verifier(pw)
                };
            clauses.push(format!("PASSWORD {}", quote_literal(&verifier)));
        }
    }
    if !exists {
        stmts.push(format!("CREATE ROLE {ident} {};", clauses.join(" ")).replace(" ;", ";"));
    } else if !clauses.is_empty() {
        stmts.push(format!("ALTER ROLE {ident} {};", clauses.join(" ")));
    }
    if password_changed {
        r.extra.insert("password_changed".into(), Value::Bool(true));
    }
    finish_sql(ctx, &conn, &db, stmts, r, &format!("role {name}")).await
}

fn same_timestamp(have: &str, want: &str) -> bool {
    let norm = |s: &str| {
        s.replace('T', " ")
            .trim_end_matches("+00")
            .trim_end_matches("+00:00")
            .to_string()
    };
    have == want
        || norm(have).starts_with(&norm(want))
        || (want.eq_ignore_ascii_case("infinity") && have == "infinity")
}
