//! `tempfile`: a new temporary file or directory (`mktemp`), its path returned. Like Ansible's
//! module it does not support check mode: there it is skipped.

use serde::Deserialize;
use serde_json::Value;

use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

#[derive(Deserialize, Clone, Copy, PartialEq, Default)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    File,
    Directory,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TempFile {
    #[serde(default)]
    state: State,
    #[serde(default, deserialize_with = "args::opt_string")]
    path: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    prefix: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    suffix: Option<String>,
}

/// Python's `os.path.basename`.
fn basename(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

impl Module for TempFile {
    const NAME: &'static str = "tempfile";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = ();

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        if ctx.check {
            let mut r =
                ModuleResult::ok().with_msg("remote module (tempfile) does not support check mode");
            r.skipped = true;
            return Ok(Query::done(r));
        }
        Ok(Query::change(ModuleResult::changed(true), ()))
    }

    async fn apply(&self, _: (), ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let prefix = self.prefix.as_deref().unwrap_or("ansible.");
        let suffix = self.suffix.as_deref().unwrap_or("");
        for (what, v) in [("prefix", prefix), ("suffix", suffix)] {
            if !v.is_empty() && v != basename(v) {
                return Ok(ModuleResult::fail(format!(
                    "{what} must be a valid file name component, got '{v}'"
                )));
            }
        }
        // Python's tempfile.gettempdir(): TMPDIR, TEMP, TMP, then /tmp, /var/tmp, /usr/tmp.
        let dir = match &self.path {
            Some(p) => format!("d={}\n", sh_quote(p)),
            None => "d=\nfor c in \"${TMPDIR:-}\" \"${TEMP:-}\" \"${TMP:-}\" /tmp /var/tmp /usr/tmp; do \
                     if [ -n \"$c\" ] && [ -d \"$c\" ] && [ -w \"$c\" ]; then d=$c; break; fi; done\n\
                     [ -n \"$d\" ] || d=$(pwd)\n"
                .to_string(),
        };
        // mktemp's template needs X's; the suffix follows them (--suffix).
        let script = format!(
            "{dir}p={}\ns={}\nexec mktemp {}--suffix=\"$s\" -- \"$d/${{p}}XXXXXXXX\"",
            sh_quote(prefix),
            sh_quote(suffix),
            if self.state == State::Directory {
                "-d "
            } else {
                ""
            }
        );
        let out = ctx.query(&script, None).await?;
        if out.rc != 0 {
            return Ok(ModuleResult::fail(out.stderr.trim().to_string()));
        }
        let mut r = ModuleResult::changed(true);
        r.extra.insert(
            "path".into(),
            Value::String(out.stdout.trim_end_matches('\n').to_string()),
        );
        Ok(r)
    }
}
