//! `lineinfile`: one line present (added, or replacing the line a regexp matches) or absent.

use serde::Deserialize;

use super::lines::{Line, contains, insert_lines, join_lines, line_ending, split_lines};
use super::{Change, WriteOpts, apply_change, query_bytes, read_remote};
use crate::compat::pyre;
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

#[derive(Deserialize, Clone, Copy, PartialEq, Default)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Present,
    Absent,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineInFile {
    #[serde(
        alias = "dest",
        alias = "destfile",
        alias = "name",
        deserialize_with = "args::string"
    )]
    path: String,
    #[serde(default, alias = "regex", deserialize_with = "args::opt_string")]
    regexp: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    search_string: Option<String>,
    #[serde(default, alias = "value", deserialize_with = "args::opt_string")]
    line: Option<String>,
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
    #[serde(default, deserialize_with = "args::opt_bool")]
    backrefs: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    firstmatch: Option<bool>,
}

super::owner_group_mode!(LineInFile);

impl Module for LineInFile {
    const NAME: &'static str = "lineinfile";
    const ANSIBLE_ONLY: &'static [&'static str] = &[
        "unsafe_writes",
        "attributes",
        "seuser",
        "serole",
        "setype",
        "selevel",
    ];
    type Pending = Change;

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Change>, ModuleError> {
        let path = &self.path;
        let re = regex("regexp", self.regexp.as_deref())?;
        let search = self.search_string.clone();
        let line = self.line.clone();
        let backrefs = self.backrefs.unwrap_or(false);
        let firstmatch = self.firstmatch.unwrap_or(false);
        let current = read_remote(ctx, path).await?;
        if !current.exists {
            if self.state == State::Absent {
                return Ok(Query::done(ModuleResult::ok().with_msg("file not present")));
            }
            if !self.create.unwrap_or(false) {
                return Ok(Query::done(ModuleResult::fail(format!(
                    "Destination {path} does not exist !"
                ))));
            }
        }
        let mut lines = split_lines(current.bytes.as_deref().unwrap_or_default());
        let matches = |l: &[u8]| -> Result<bool, ModuleError> {
            Ok(if let Some(r) = &re {
                r.is_match(l).map_err(regex_failed)?
            } else if let Some(s) = &search {
                contains(l, s.as_bytes())
            } else {
                Some(l) == line.as_deref().map(str::as_bytes)
            })
        };
        let mut msg = String::new();
        if self.state == State::Absent {
            if re.is_none() && search.is_none() && line.is_none() {
                return Err(ModuleError::Args(
                    "lineinfile: state=absent needs regexp, search_string or line".into(),
                ));
            }
            let before = lines.len();
            let mut kept = Vec::with_capacity(lines.len());
            for l in lines {
                if !matches(&l.body)? {
                    kept.push(l);
                }
            }
            lines = kept;
            if lines.len() != before {
                msg = format!("{} line(s) removed", before - lines.len());
            }
        } else {
            let Some(line) = line.clone() else {
                return Err(ModuleError::Args(
                    "lineinfile: state=present needs 'line'".into(),
                ));
            };
            let mut found = Vec::new();
            for (i, l) in lines.iter().enumerate() {
                if matches(&l.body)? {
                    found.push(i);
                }
            }
            let target = if firstmatch {
                found.first()
            } else {
                found.last()
            };
            if let Some(&i) = target {
                let new_line = match (&re, backrefs) {
                    // Ansible: `new_line = match.expand(line)` — the whole line becomes
                    // the template with the groups filled in, not a substitution inside it.
                    (Some(r), true) => match r.captures(&lines[i].body).map_err(regex_failed)? {
                        Some(caps) => {
                            let pieces = r
                                .template(&line)
                                .map_err(|e| ModuleError::Args(format!("lineinfile: line: {e}")))?;
                            caps.expand(&pieces)
                        }
                        None => line.clone().into_bytes(),
                    },
                    _ => line.clone().into_bytes(),
                };
                if lines[i].body != new_line {
                    lines[i].body = new_line;
                    msg = "line replaced".into();
                }
            } else if backrefs {
                // With backrefs and no match Ansible leaves the file alone.
            } else if re.is_some() && lines.iter().any(|l| l.body == line.as_bytes()) {
                // The line is already there (the regexp did not match it): nothing to add.
            } else {
                let pos = insert_position(
                    self.insertafter.as_deref(),
                    self.insertbefore.as_deref(),
                    &lines,
                    firstmatch,
                )?;
                let end = line_ending(&lines);
                insert_lines(&mut lines, pos, vec![Line::new(line.as_bytes(), end)]);
                msg = "line added".into();
            }
        }
        let new = join_lines(&lines);
        let mut q = query_bytes(ctx, path, &current, new, &self.attrs()).await?;
        if !msg.is_empty() {
            q.result.msg = Some(msg.clone());
            if let Some(c) = q.pending.as_mut() {
                c.result.msg = Some(msg);
            }
        }
        Ok(q)
    }

    async fn apply(&self, change: Change, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        // Ansible's lineinfile creates the missing parent directories of a file it creates.
        if self.create.unwrap_or(false)
            && let super::Write::Bytes { target, .. } = &change.write
        {
            let out = ctx
                .sh(
                    &format!(
                        "d=$(dirname -- {})\n[ -d \"$d\" ] || mkdir -p -- \"$d\"",
                        sh_quote(target)
                    ),
                    None,
                )
                .await?;
            if out.rc != 0 {
                return Ok(ModuleResult::fail(format!(
                    "lineinfile: cannot create the directory of {target}: {}",
                    out.stderr.trim()
                )));
            }
        }
        let attrs = self.attrs();
        let opts = WriteOpts {
            attrs: &attrs,
            backup: self.backup.unwrap_or(false),
            validate: self.validate.clone(),
        };
        let mut r = apply_change(ctx, change, &opts).await?;
        // lineinfile names its backup `backup` (copy and template say `backup_file`).
        if let Some(b) = r.extra.remove("backup_file") {
            r.extra.insert("backup".into(), b);
        }
        Ok(r)
    }
}

pub(super) fn insert_position(
    insertafter: Option<&str>,
    insertbefore: Option<&str>,
    lines: &[Line],
    firstmatch: bool,
) -> Result<usize, ModuleError> {
    if let Some(after) = insertafter {
        if after == "EOF" {
            return Ok(lines.len());
        }
        let hit = matching_line("insertafter", after, lines, firstmatch)?;
        return Ok(hit.map_or(lines.len(), |i| i + 1));
    }
    if let Some(before) = insertbefore {
        if before == "BOF" {
            return Ok(0);
        }
        let hit = matching_line("insertbefore", before, lines, firstmatch)?;
        return Ok(hit.unwrap_or(lines.len()));
    }
    Ok(lines.len())
}

/// The first (`firstmatch`) or last line that `pattern` (Python re) matches.
fn matching_line(
    what: &str,
    pattern: &str,
    lines: &[Line],
    firstmatch: bool,
) -> Result<Option<usize>, ModuleError> {
    let r = pyre::compile_bytes(pattern, pyre::Flags::default())
        .map_err(|e| ModuleError::Args(format!("{what} is not a valid regular expression: {e}")))?;
    let mut hit = None;
    for (i, l) in lines.iter().enumerate() {
        if r.is_match(&l.body).map_err(regex_failed)? {
            hit = Some(i);
            if firstmatch {
                break;
            }
        }
    }
    Ok(hit)
}

/// A pattern that fancy-regex gave up on (its backtracking limit) while matching.
fn regex_failed(e: String) -> ModuleError {
    ModuleError::Args(format!("lineinfile: {e}"))
}

/// `regexp` compiled (Python syntax as far as the regex crate shares it).
fn regex(key: &str, re: Option<&str>) -> Result<Option<pyre::BytesRegex>, ModuleError> {
    match re {
        None => Ok(None),
        Some(r) => pyre::compile_bytes(r, pyre::Flags::default())
            .map(Some)
            .map_err(|e| {
                ModuleError::Args(format!(
                    "lineinfile: '{key}' is not a valid regular expression: {e}"
                ))
            }),
    }
}
