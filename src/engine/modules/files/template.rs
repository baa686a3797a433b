//! `template`: a Jinja2 file from the playbook's `templates/`, rendered on the controller.

use serde::Deserialize;

use super::{
    Change, WriteOpts, apply_change, copy::dest_path, local_source, query_bytes, read_remote_at,
};
use crate::engine::modules::module::{self, Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult, args};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    #[serde(deserialize_with = "args::string")]
    src: String,
    #[serde(alias = "path", deserialize_with = "args::string")]
    dest: String,
    #[serde(default, deserialize_with = "args::opt_string")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    group: Option<String>,
    #[serde(default, deserialize_with = "args::opt_mode")]
    mode: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    backup: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_string")]
    validate: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    follow: Option<bool>,
}

super::owner_group_mode!(Template);

impl Module for Template {
    const NAME: &'static str = "template";
    const ANSIBLE_ONLY: &'static [&'static str] = &[
        "force",
        "newline_sequence",
        "trim_blocks",
        "lstrip_blocks",
        "unsafe_writes",
        "output_encoding",
        "variable_start_string",
        "variable_end_string",
        "block_start_string",
        "block_end_string",
        "comment_start_string",
        "comment_end_string",
        "seuser",
        "serole",
        "setype",
        "selevel",
        "attr",
        "attributes",
    ];
    type Pending = Change;
    const PATH_ARGS: &'static [&'static str] = &["dest"];

    /// Ansible's template action plugin renders the file and hands the remaining arguments on
    /// to `ansible.legacy.copy`, which reports them with its own list.
    fn unsupported(_: &str, unknown: &[&str]) -> String {
        module::unsupported_msg(
            "ansible.legacy.copy",
            unknown,
            &super::copy::copy_module_supported(),
        )
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Change>, ModuleError> {
        let dest = dest_path(&self.dest, Some(&self.src));
        let path = local_source(ctx, "templates", &self.src)?;
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ModuleError::Args(format!("cannot read template {}: {e}", path.display()))
        })?;
        let rendered = ctx
            .templar
            .render_text(&text, ctx.scope)
            .map_err(|e| ModuleError::Args(format!("template {}: {}", path.display(), e.msg)))?;
        let current = read_remote_at(ctx, &dest, self.follow.unwrap_or(false)).await?;
        query_bytes(ctx, &dest, &current, rendered.into_bytes(), &self.attrs()).await
    }

    async fn apply(&self, change: Change, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let attrs = self.attrs();
        let opts = WriteOpts {
            attrs: &attrs,
            backup: self.backup.unwrap_or(false),
            validate: self.validate.clone(),
        };
        apply_change(ctx, change, &opts).await
    }
}
