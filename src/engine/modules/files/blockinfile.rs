//! `blockinfile`: a block of lines between marker lines, inserted, replaced or removed.

use serde::Deserialize;

use super::lineinfile::{State, insert_position};
use super::lines::{Line, insert_lines, join_lines, line_ending, split_lines};
use super::{Change, WriteOpts, apply_change, query_bytes, read_remote};
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult, args};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockInFile {
    #[serde(
        alias = "dest",
        alias = "destfile",
        alias = "name",
        deserialize_with = "args::string"
    )]
    path: String,
    #[serde(default, alias = "content", deserialize_with = "args::opt_string")]
    block: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    marker: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    marker_begin: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    marker_end: Option<String>,
    #[serde(default)]
    state: State,
    #[serde(default, deserialize_with = "args::opt_string")]
    insertafter: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    insertbefore: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    create: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    backup: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_string")]
    validate: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    group: Option<String>,
    #[serde(default, deserialize_with = "args::opt_mode")]
    mode: Option<String>,
}

super::owner_group_mode!(BlockInFile);

impl Module for BlockInFile {
    const NAME: &'static str = "blockinfile";
    const ANSIBLE_ONLY: &'static [&'static str] = &[
        "append_newline",
        "prepend_newline",
        "unsafe_writes",
        "attr",
        "attributes",
        "seuser",
        "serole",
        "setype",
        "selevel",
    ];
    type Pending = Change;
    const PATH_ARGS: &'static [&'static str] = &["path", "dest", "destfile", "name"];

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Change>, ModuleError> {
        let path = &self.path;
        let block = self.block.clone().unwrap_or_default();
        let marker = self
            .marker
            .clone()
            .unwrap_or_else(|| "# {mark} ANSIBLE MANAGED BLOCK".into());
        let begin = marker.replace("{mark}", self.marker_begin.as_deref().unwrap_or("BEGIN"));
        let end = marker.replace("{mark}", self.marker_end.as_deref().unwrap_or("END"));
        let current = read_remote(ctx, path, &self.attrs()).await?;
        if !current.exists && !self.create.unwrap_or(false) {
            if self.state == State::Absent {
                return Ok(Query::done(ModuleResult::ok()));
            }
            return Ok(Query::done(ModuleResult::fail(format!(
                "Path {path} does not exist !"
            ))));
        }
        let mut lines = split_lines(current.bytes.as_deref().unwrap_or_default());
        let eol = line_ending(&lines);
        let b = lines.iter().position(|l| l.body == begin.as_bytes());
        let e = lines.iter().position(|l| l.body == end.as_bytes());
        let mut new_block: Vec<Line> = Vec::new();
        if self.state == State::Present && !block.is_empty() {
            new_block.push(Line::new(begin.as_bytes(), eol));
            new_block.extend(
                block
                    .trim_end_matches('\n')
                    .lines()
                    .map(|l| Line::new(l.as_bytes(), eol)),
            );
            new_block.push(Line::new(end.as_bytes(), eol));
        }
        match (b, e) {
            (Some(b), Some(e)) if b < e => {
                // The end marker keeps its own ending (none at the end of a file without one).
                if let (Some(last), Some(old_end)) = (new_block.last_mut(), lines.get(e)) {
                    last.end = old_end.end;
                }
                lines.splice(b..=e, new_block);
            }
            _ => {
                if !new_block.is_empty() {
                    let pos = insert_position(
                        self.insertafter.as_deref(),
                        self.insertbefore.as_deref(),
                        &lines,
                        false,
                    )?;
                    insert_lines(&mut lines, pos, new_block);
                }
            }
        }
        let new = join_lines(&lines);
        query_bytes(ctx, path, &current, new, &self.attrs()).await
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
