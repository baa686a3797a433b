//! `slurp`: a remote file's bytes, base64-encoded (`content`, `encoding`, `source`), as
//! ansible-core's slurp returns them. Reads only, so check mode runs it too.

use serde::Deserialize;
use serde_json::Value;

use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slurp {
    #[serde(alias = "path", deserialize_with = "args::string")]
    src: String,
}

/// The script's exit codes for the failures Ansible names (errno ENOENT, EISDIR, EACCES).
const NOT_FOUND: i32 = 20;
const IS_DIR: i32 = 21;
const NOT_READABLE: i32 = 22;

/// The file's bytes, or the result Ansible fails with (its messages).
pub(super) async fn slurp(
    ctx: &Ctx<'_>,
    src: &str,
) -> Result<Result<Vec<u8>, String>, ModuleError> {
    let script = format!(
        "p={}\n[ -e \"$p\" ] || exit {NOT_FOUND}\n[ -d \"$p\" ] && exit {IS_DIR}\n\
         [ -r \"$p\" ] || exit {NOT_READABLE}\nexec cat -- \"$p\"",
        sh_quote(src)
    );
    let out = ctx.query(&script, None).await?;
    Ok(match out.rc {
        0 => Ok(out.stdout_bytes),
        NOT_FOUND => Err(format!("File not found: {src}")),
        IS_DIR => Err(format!("Source is a directory and must be a file: {src}")),
        NOT_READABLE => Err(format!("File is not readable: {src}")),
        _ => Err(format!("Unable to slurp file: {src}")),
    })
}

impl Module for Slurp {
    const NAME: &'static str = "slurp";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = ();
    const PATH_ARGS: &'static [&'static str] = &["src", "path"];

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        use base64::Engine;
        let bytes = match slurp(ctx, &self.src).await? {
            Ok(b) => b,
            Err(msg) => return Ok(Query::done(ModuleResult::fail(msg))),
        };
        let mut r = ModuleResult::ok();
        r.extra.insert(
            "content".into(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
        );
        r.extra
            .insert("source".into(), Value::String(self.src.clone()));
        r.extra.insert("encoding".into(), "base64".into());
        Ok(Query::done(r))
    }

    async fn apply(&self, _: (), _: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        Ok(ModuleResult::ok())
    }
}
