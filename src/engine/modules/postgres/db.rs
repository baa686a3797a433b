use super::{Conn, finish_sql, quote_ident, quote_literal, sql_ok};
use crate::engine::modules::{Args, Ctx, ModuleError, ModuleResult};

pub async fn db(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let name = a.str("name")?;
    let state = a.choice("state", &["present", "absent"], "present")?;
    let maint = a.str_or("maintenance_db", "postgres")?;
    let conn = Conn::from_args(a, &maint)?;
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
    if state == "absent" {
        if exists {
            let force = if a.bool("force", false)? {
                " WITH (FORCE)"
            } else {
                ""
            };
            stmts.push(format!("DROP DATABASE {}{force};", quote_ident(&name)));
        }
    } else if !exists {
        let mut s = format!("CREATE DATABASE {}", quote_ident(&name));
        if let Some(o) = a.opt_str("owner")? {
            s.push_str(&format!(" OWNER {}", quote_ident(&o)));
        }
        if let Some(t) = a.opt_str("template")? {
            s.push_str(&format!(" TEMPLATE {}", quote_ident(&t)));
        }
        if let Some(e) = a.opt_str("encoding")? {
            s.push_str(&format!(" ENCODING {}", quote_literal(&e)));
        }
        if let Some(c) = a.opt_str("lc_collate")? {
            s.push_str(&format!(" LC_COLLATE {}", quote_literal(&c)));
        }
        if let Some(c) = a.opt_str("lc_ctype")? {
            s.push_str(&format!(" LC_CTYPE {}", quote_literal(&c)));
        }
        if let Some(l) = a.opt_int("conn_limit")? {
            s.push_str(&format!(" CONNECTION LIMIT {l}"));
        }
        stmts.push(format!("{s};"));
    } else {
        let get = |i: usize| fields.get(i).copied().unwrap_or("");
        for (arg, have, what) in [
            ("encoding", get(1), "encoding"),
            ("lc_collate", get(2), "LC_COLLATE"),
            ("lc_ctype", get(3), "LC_CTYPE"),
        ] {
            if let Some(want) = a.opt_str(arg)?
                && !want.eq_ignore_ascii_case(have)
                && !(arg == "encoding" && normalize_encoding(&want) == normalize_encoding(have))
            {
                return Ok(ModuleResult::fail(format!(
                    "database {name} exists with {what} {have}; changing it to {want} is not supported (drop and recreate it)"
                )));
            }
        }
        if let Some(o) = a.opt_str("owner")?
            && o != get(0)
        {
            stmts.push(format!(
                "ALTER DATABASE {} OWNER TO {};",
                quote_ident(&name),
                quote_ident(&o)
            ));
        }
        if let Some(l) = a.opt_int("conn_limit")?
            && l.to_string() != get(4)
        {
            stmts.push(format!(
                "ALTER DATABASE {} CONNECTION LIMIT {l};",
                quote_ident(&name)
            ));
        }
    }
    finish_sql(ctx, &conn, &maint, stmts, r, &format!("database {name}")).await
}

fn normalize_encoding(e: &str) -> String {
    e.to_ascii_uppercase().replace(['-', '_'], "")
}
