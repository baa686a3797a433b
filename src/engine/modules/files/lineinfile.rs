//! `lineinfile`: one line present (added, or replacing the line a regexp matches) or absent.

use serde::Deserialize;

use super::lines::{Line, contains};
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
        let re = regex("regexp", self.regexp.as_deref())?;
        let fail = |rc: Option<i32>, msg: String| {
            let mut r = ModuleResult::fail(msg);
            r.rc = rc;
            Ok(Query::done(r))
        };
        for (a, b) in [
            ("insertbefore", "insertafter"),
            ("regexp", "search_string"),
            ("backrefs", "search_string"),
        ] {
            if self.given(a) && self.given(b) {
                return fail(None, format!("parameters are mutually exclusive: {a}|{b}"));
            }
        }
        let current = read_remote(ctx, path, &self.attrs()).await?;
        if current.exists && current.kind == "directory" {
            return fail(Some(256), format!("Path {path} is a directory !"));
        }
        let (lines, edit) = if self.state == State::Absent {
            if re.is_none() && self.search_string.is_none() && self.line.is_none() {
                return fail(
                    None,
                    "one of line, search_string, or regexp is required with state=absent".into(),
                );
            }
            if !current.exists {
                return Ok(Query::done(ModuleResult::ok().with_msg("file not present")));
            }
            let lines = readlines(current.bytes.as_deref().unwrap_or_default());
            absent(
                lines,
                re.as_ref(),
                self.search_string.as_deref(),
                self.line.as_deref(),
            )?
        } else {
            let backrefs = self.backrefs.unwrap_or(false);
            if backrefs && re.is_none() {
                return fail(None, "regexp is required with backrefs=true".into());
            }
            let Some(line) = self.line.as_deref() else {
                return fail(None, "line is required with state=present".into());
            };
            if !current.exists && !self.create.unwrap_or(false) {
                return fail(Some(257), format!("Destination {path} does not exist !"));
            }
            let lines = readlines(current.bytes.as_deref().unwrap_or_default());
            let insertafter = match (&self.insertafter, &self.insertbefore) {
                (None, None) => Some("EOF"),
                (a, _) => a.as_deref(),
            };
            let want = Present {
                re: re.as_ref(),
                search: self.search_string.as_deref(),
                line,
                insertafter,
                insertbefore: self.insertbefore.as_deref(),
                backrefs,
                firstmatch: self.firstmatch.unwrap_or(false),
            };
            present(lines, &want)?
        };
        let new = lines.concat();
        let mut q = query_bytes(ctx, path, &current, new, &self.attrs()).await?;
        // ansible-core's check_file_attrs: what changed besides the content
        let attrs_changed = current.exists && self.attrs().differ(&current);
        let msg = match (edit.msg.is_empty(), attrs_changed) {
            (false, true) => format!("{} and {ATTRS_CHANGED}", edit.msg),
            (true, true) => ATTRS_CHANGED.to_string(),
            (_, false) => edit.msg.clone(),
        };
        let warning = self.empty_pattern_warning();
        for r in std::iter::once(&mut q.result).chain(q.pending.as_mut().map(|c| &mut c.result)) {
            r.msg = Some(msg.clone());
            if let Some(w) = &warning {
                r.extra.insert("warnings".into(), vec![w.clone()].into());
            }
            if let Some(found) = edit.found {
                r.extra.insert("found".into(), found.into());
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

/// ansible-core's message suffix when attributes changed (module_utils' check_file_attrs).
const ATTRS_CHANGED: &str = "ownership, perms or SE linux context changed";

impl LineInFile {
    /// ansible-core's warning for an empty `regexp` or `search_string` (it matches every line).
    fn empty_pattern_warning(&self) -> Option<String> {
        let regexp = self.regexp.as_deref() == Some("");
        if !regexp && self.search_string.as_deref() != Some("") {
            return None;
        }
        let mut msg = format!(
            "The {} is an empty string, which will match every line in the file. This may have \
             unintended consequences, such as replacing the last line in the file rather than \
             appending.",
            if regexp {
                "regular expression"
            } else {
                "search string"
            }
        );
        if regexp {
            msg.push_str(
                " If this is desired, use '^' to match every line in the file and avoid this \
                 warning.",
            );
        }
        Some(msg)
    }

    /// Whether the task gave `key` (Ansible's mutually_exclusive counts only given values).
    fn given(&self, key: &str) -> bool {
        match key {
            "insertbefore" => self.insertbefore.is_some(),
            "insertafter" => self.insertafter.is_some(),
            "regexp" => self.regexp.is_some(),
            "search_string" => self.search_string.is_some(),
            "backrefs" => self.backrefs.is_some(),
            _ => false,
        }
    }
}

/// Python's `f.readlines()` on bytes: each line keeps its `\n`.
fn readlines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// A line without its ending, as Ansible compares it (`rstrip(b'\r\n')`).
fn rstrip_eol(l: &[u8]) -> &[u8] {
    let end = l
        .iter()
        .rposition(|&b| b != b'\r' && b != b'\n')
        .map_or(0, |i| i + 1);
    &l[..end]
}

/// What an edit did: the message, and for `state=absent` the number of lines found.
struct Edit {
    msg: String,
    found: Option<usize>,
}

/// The arguments of `state=present`.
struct Present<'a> {
    re: Option<&'a pyre::BytesRegex>,
    search: Option<&'a str>,
    line: &'a str,
    insertafter: Option<&'a str>,
    insertbefore: Option<&'a str>,
    backrefs: bool,
    firstmatch: bool,
}

/// ansible-core's lineinfile `present()` on the file's lines (each with its ending).
fn present(mut lines: Vec<Vec<u8>>, p: &Present<'_>) -> Result<(Vec<Vec<u8>>, Edit), ModuleError> {
    const SEP: &[u8] = b"\n";
    let b_line = p.line.as_bytes();
    let ins_pattern = match (p.insertafter, p.insertbefore) {
        (Some(a), _) if a != "BOF" && a != "EOF" => Some(("insertafter", a)),
        (None, Some(b)) if b != "BOF" => Some(("insertbefore", b)),
        _ => None,
    };
    let bre_ins = match ins_pattern {
        Some((what, pat)) => Some(pyre::compile_bytes(pat, pyre::Flags::default()).map_err(
            |e| ModuleError::Args(format!("{what} is not a valid regular expression: {e}")),
        )?),
        None => None,
    };
    // index.0: the line the regexp, search string or exact line matched; index.1: where to
    // insert after/before the insertafter/insertbefore match
    let (mut index0, mut index1): (Option<usize>, Option<usize>) = (None, None);
    let mut matched: Option<Vec<u8>> = None;
    let mut found_any = false;
    let mut exact_line_match = false;
    if let Some(re) = p.re {
        for (n, l) in lines.iter().enumerate() {
            if let Some(caps) = re.captures(l).map_err(regex_failed)? {
                index0 = Some(n);
                found_any = true;
                matched = Some(if p.backrefs {
                    let pieces = re
                        .template(p.line)
                        .map_err(|e| ModuleError::Args(format!("lineinfile: line: {e}")))?;
                    caps.expand(&pieces)
                } else {
                    b_line.to_vec()
                });
                if p.firstmatch {
                    break;
                }
            }
        }
    }
    if let Some(s) = p.search {
        for (n, l) in lines.iter().enumerate() {
            if contains(l, s.as_bytes()) {
                index0 = Some(n);
                found_any = true;
                if p.firstmatch {
                    break;
                }
            }
        }
    }
    if !found_any {
        for (n, l) in lines.iter().enumerate() {
            if rstrip_eol(l) == b_line {
                index0 = Some(n);
                exact_line_match = true;
            } else if let Some(bre) = &bre_ins
                && bre.is_match(l).map_err(regex_failed)?
            {
                index1 = Some(if p.insertafter.is_some() { n + 1 } else { n });
                if p.firstmatch {
                    break;
                }
            }
        }
    }
    let mut msg = String::new();
    let added = |lines: &mut Vec<Vec<u8>>, at: usize, msg: &mut String| {
        lines.insert(at, [b_line, SEP].concat());
        *msg = "line added".into();
    };
    if let Some(i) = index0 {
        let mut new_line = match (&matched, p.backrefs) {
            (Some(m), true) => m.clone(),
            _ => b_line.to_vec(),
        };
        if !new_line.ends_with(SEP) {
            new_line.extend_from_slice(SEP);
        }
        if p.re.is_none() && p.search.is_none() && !exact_line_match {
            // unreachable in ansible-core as well: index.0 is set only by a match
        } else if lines[i] != new_line {
            lines[i] = new_line;
            msg = "line replaced".into();
        }
    } else if p.backrefs {
        // nothing: the line cannot be generated without the regexp's groups
    } else if p.insertbefore == Some("BOF") || p.insertafter == Some("BOF") {
        added(&mut lines, 0, &mut msg);
    } else if p.insertafter == Some("EOF") || index1.is_none() {
        if lines
            .last()
            .is_some_and(|l| !l.ends_with(b"\n") && !l.ends_with(b"\r"))
        {
            lines.push(SEP.to_vec());
        }
        let at = lines.len();
        added(&mut lines, at, &mut msg);
    } else if let Some(at) = index1 {
        if p.insertafter.is_some() {
            let neighbour = if at == lines.len() { at - 1 } else { at };
            if rstrip_eol(&lines[neighbour]) != b_line {
                added(&mut lines, at, &mut msg);
            }
        } else {
            added(&mut lines, at, &mut msg);
        }
    }
    Ok((lines, Edit { msg, found: None }))
}

/// ansible-core's lineinfile `absent()`: every line the regexp, search string or line matches
/// goes.
fn absent(
    lines: Vec<Vec<u8>>,
    re: Option<&pyre::BytesRegex>,
    search: Option<&str>,
    line: Option<&str>,
) -> Result<(Vec<Vec<u8>>, Edit), ModuleError> {
    let mut kept = Vec::with_capacity(lines.len());
    let mut found = 0;
    for l in lines {
        let hit = if let Some(re) = re {
            re.is_match(&l).map_err(regex_failed)?
        } else if let Some(s) = search {
            contains(&l, s.as_bytes())
        } else {
            // ansible-core compares with str(None) when no line is given either
            rstrip_eol(&l) == line.unwrap_or("None").as_bytes()
        };
        if hit {
            found += 1;
        } else {
            kept.push(l);
        }
    }
    let msg = if found > 0 {
        format!("{found} line(s) removed")
    } else {
        String::new()
    };
    Ok((
        kept,
        Edit {
            msg,
            found: Some(found),
        },
    ))
}
