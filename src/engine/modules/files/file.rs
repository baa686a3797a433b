//! `file`: a path's state (file, directory, absent, touch, link, hard) and attributes.

use serde::Deserialize;
use serde_json::Value;

use super::{Attrs, RemoteFile};
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, Diff, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

const STATES: &[&str] = &["file", "directory", "absent", "touch", "link", "hard"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(alias = "dest", alias = "name", deserialize_with = "args::string")]
    path: String,
    #[serde(default, deserialize_with = "args::opt_string")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    group: Option<String>,
    #[serde(default, deserialize_with = "args::opt_mode")]
    mode: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    recurse: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_string")]
    src: Option<String>,
}

impl Module for File {
    const NAME: &'static str = "file";
    const ANSIBLE_ONLY: &'static [&'static str] = &[
        "force",
        "follow",
        "access_time",
        "access_time_format",
        "modification_time",
        "modification_time_format",
        "attr",
        "attributes",
        // Set by the copy and template action plugins; Ansible lists them.
        "_diff_peek",
        "_original_basename",
        "unsafe_writes",
        "seuser",
        "serole",
        "setype",
        "selevel",
    ];
    /// The script that makes the change, and the result to report.
    type Pending = (String, ModuleResult);
    const PATH_ARGS: &'static [&'static str] = &["path", "dest", "name", "src"];

    fn validate(&self) -> Result<(), ModuleError> {
        match &self.state {
            Some(s) if !STATES.contains(&s.as_str()) => Err(ModuleError::Args(format!(
                "file: argument 'state' is {s:?}; valid: {}",
                STATES.join(", ")
            ))),
            Some(s) if (s == "link" || s == "hard") && self.src.is_none() => {
                Err(ModuleError::Args(format!("file: state={s} needs 'src'")))
            }
            _ => Ok(()),
        }
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Self::Pending>, ModuleError> {
        let path = self.path.as_str();
        let attrs = Attrs {
            owner: self.owner.clone(),
            group: self.group.clone(),
            mode: self.mode.clone(),
        };
        let current = read_remote_meta(ctx, path).await?;
        let default_state = if current.exists && current.kind == "directory" {
            "directory"
        } else {
            "file"
        };
        let state = self
            .state
            .clone()
            .unwrap_or_else(|| default_state.to_string());
        let p = sh_quote(path);
        let (changed, script, msg) = match state.as_str() {
            "absent" => (current.exists, format!("rm -rf -- {p}\n"), None),
            "directory" => {
                if current.exists && current.kind != "directory" {
                    return Ok(Query::done(ModuleResult::fail(format!(
                        "{path} already exists as a {}",
                        current.kind
                    ))));
                }
                let recurse = self.recurse.unwrap_or(false);
                let mut s = format!("mkdir -p -- {p}\n");
                if recurse {
                    let mut r = String::new();
                    if let (Some(o), g) = (&attrs.owner, &attrs.group) {
                        r.push_str(&format!(
                            "chown -R -- {}{} {p}\n",
                            sh_quote(o),
                            g.as_ref()
                                .map(|g| format!(":{}", sh_quote(g)))
                                .unwrap_or_default()
                        ));
                    }
                    if let Some(m) = &attrs.mode {
                        r.push_str(&format!("chmod -R -- {} {p}\n", sh_quote(m)));
                    }
                    s.push_str(&r);
                } else {
                    s.push_str(&attrs.script(&p));
                }
                (
                    !current.exists
                        || attrs.differ(&current)
                        || recurse && (attrs.owner.is_some() || attrs.mode.is_some()),
                    s,
                    None,
                )
            }
            "file" => {
                if !current.exists {
                    return Ok(Query::done(ModuleResult::fail(format!(
                        "file ({path}) is absent, cannot continue (use state=touch to create it)"
                    ))));
                }
                (attrs.differ(&current), attrs.script(&p), None)
            }
            "touch" => (true, format!("touch -- {p}\n{}", attrs.script(&p)), None),
            "link" | "hard" => {
                let Some(src) = self.src.clone() else {
                    return Err(ModuleError::Args(format!(
                        "file: state={state} needs 'src'"
                    )));
                };
                let flag = if state == "link" { "-sfn" } else { "-fn" };
                let out = ctx.query(&format!("readlink -- {p} || true"), None).await?;
                let same = state == "link" && out.stdout.trim_end() == src;
                (
                    !same,
                    format!("ln {flag} -- {} {p}\n", sh_quote(&src)),
                    Some(format!("link to {src}")),
                )
            }
            _ => {
                return Err(ModuleError::Args(format!(
                    "file: argument 'state' is {state:?}; valid: {}",
                    STATES.join(", ")
                )));
            }
        };
        let mut r = ModuleResult::changed(changed);
        r.msg = msg;
        r.extra
            .insert("path".into(), Value::String(path.to_string()));
        r.extra.insert("state".into(), Value::String(state.clone()));
        if ctx.diff && changed {
            r.diff.push(Diff {
                before_header: path.to_string(),
                after_header: path.to_string(),
                before: format!(
                    "state: {}\n",
                    if current.exists {
                        current.kind.as_str()
                    } else {
                        "absent"
                    }
                ),
                after: format!("state: {state}\n"),
            });
        }
        if !changed {
            return Ok(Query::done(r));
        }
        Ok(Query::change(r.clone(), (script, r)))
    }

    async fn apply(
        &self,
        (script, r): Self::Pending,
        ctx: &Ctx<'_>,
    ) -> Result<ModuleResult, ModuleError> {
        let out = ctx.query(&format!("set -e\n{script}"), None).await?;
        if out.rc != 0 {
            let state = r.extra.get("state").and_then(Value::as_str).unwrap_or("");
            return Ok(ModuleResult::fail(format!(
                "{state} {}: {}",
                self.path,
                out.stderr.trim()
            )));
        }
        Ok(r)
    }
}

/// Attributes only (no content), for `file`.
async fn read_remote_meta(ctx: &Ctx<'_>, path: &str) -> Result<RemoteFile, ModuleError> {
    let p = sh_quote(path);
    let out = ctx
        .query(
            &format!(
                "if [ -e {p} ] || [ -L {p} ]; then stat -c '%a %U %G %F' -- {p}; else echo A; fi"
            ),
            None,
        )
        .await?;
    let line = out.stdout.trim_end();
    if line == "A" || line.is_empty() {
        return Ok(RemoteFile::default());
    }
    let mut parts = line.splitn(4, ' ');
    let mode = parts.next().unwrap_or("").to_string();
    let owner = parts.next().unwrap_or("").to_string();
    let group = parts.next().unwrap_or("").to_string();
    let kind = parts.next().unwrap_or("").to_string();
    Ok(RemoteFile {
        exists: true,
        is_file: kind.starts_with("regular"),
        kind: if kind.starts_with("regular") {
            "file".into()
        } else {
            kind
        },
        mode,
        owner,
        group,
        path: path.to_string(),
        ..Default::default()
    })
}
