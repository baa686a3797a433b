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
    const PATH_ARGS: &'static [&'static str] = &["path"];

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
        // mktemp's template needs X's; the suffix follows them (--suffix). Then the path's
        // attributes, which Ansible adds to every result with a `path` (add_path_info).
        let script = format!(
            "{dir}p={}\ns={}\nt=$(mktemp {}--suffix=\"$s\" -- \"$d/${{p}}XXXXXXXX\") || exit 1\n\
             printf '%s\\0' \"$t\"; stat -c '%u %g %U %G %a %s %h %F' -- \"$t\"",
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
        let (path, attrs) = out.stdout.split_once('\0').unwrap_or((&out.stdout, ""));
        let mut r = ModuleResult::changed(true);
        r.extra
            .insert("path".into(), Value::String(path.to_string()));
        let f: Vec<&str> = attrs.trim_end().splitn(8, ' ').collect();
        if let [uid, gid, owner, group, mode, size, links, kind] = f[..] {
            let num = |s: &str| s.parse::<u64>().map_or(Value::Null, Value::from);
            r.extra.insert("uid".into(), num(uid));
            r.extra.insert("gid".into(), num(gid));
            r.extra.insert("owner".into(), owner.into());
            r.extra.insert("group".into(), group.into());
            let mode = u32::from_str_radix(mode, 8).unwrap_or(0);
            r.extra.insert("mode".into(), format!("0{mode:03o}").into());
            let state = match kind {
                "directory" => "directory",
                _ if links != "1" => "hard",
                _ => "file",
            };
            r.extra.insert("state".into(), state.into());
            r.extra.insert("size".into(), num(size));
        }
        Ok(r)
    }
}
