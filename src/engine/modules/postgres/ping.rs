use serde_json::{Map, Value};

use super::{Conn, mask_psql_stderr, psql};
use crate::engine::modules::{Args, Ctx, ModuleError, ModuleResult};

pub async fn ping(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let conn = Conn::from_args(a, "postgres")?;
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
