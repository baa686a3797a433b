//! `replace`: every match of a Python regular expression (MULTILINE) replaced, optionally only in
//! the section between `after` and `before` (DOTALL), as ansible-core's replace does it. The
//! file is handled as bytes: what is not replaced stays byte for byte.

use serde::Deserialize;

use super::{Change, WriteOpts, apply_change, query_bytes, read_remote};
use crate::compat::pyre;
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult, args};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replace {
    #[serde(
        alias = "dest",
        alias = "destfile",
        alias = "name",
        deserialize_with = "args::string"
    )]
    path: String,
    #[serde(deserialize_with = "args::string")]
    regexp: String,
    #[serde(default, deserialize_with = "args::opt_string")]
    replace: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    after: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    before: Option<String>,
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

super::owner_group_mode!(Replace);

/// Ansible's message suffix when only attributes changed (module_utils' check_file_attrs).
const ATTRS_CHANGED: &str = "ownership, perms or SE linux context changed";

fn compile(pattern: &str, multiline: bool, dotall: bool) -> Result<pyre::BytesRegex, String> {
    let flags = pyre::Flags {
        ignorecase: false,
        multiline,
        dotall,
    };
    pyre::compile_bytes(pattern, flags)
}

impl Module for Replace {
    const NAME: &'static str = "replace";
    const ANSIBLE_ONLY: &'static [&'static str] = &[
        "encoding",
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
        let current = read_remote(ctx, path, &self.attrs()).await?;
        let fail = |rc: i32, msg: String| {
            let mut r = ModuleResult::fail(msg);
            r.rc = Some(rc);
            Ok(Query::done(r))
        };
        if current.exists && current.kind == "directory" {
            return fail(256, format!("Path {path} is a directory !"));
        }
        if !current.exists {
            return fail(257, format!("Path {path} does not exist !"));
        }
        if !current.is_file {
            return fail(
                1,
                format!("Path {path} is a {}, not a regular file", current.kind),
            );
        }
        let contents = current.bytes.clone().unwrap_or_default();
        let section_pattern = match (self.after.as_deref(), self.before.as_deref()) {
            (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => {
                Some(format!("{a}(?P<subsection>.*?){b}"))
            }
            (Some(a), _) if !a.is_empty() => Some(format!("{a}(?P<subsection>.*)")),
            (_, Some(b)) if !b.is_empty() => Some(format!("(?P<subsection>.*){b}")),
            _ => None,
        };
        let (start, end) = match &section_pattern {
            None => (0, contents.len()),
            Some(p) => {
                let re = compile(p, false, true)
                    .map_err(|e| ModuleError::Args(format!("replace: after/before: {e}")))?;
                let caps = re.captures(&contents).map_err(ModuleError::Args)?;
                let group = re.group_index("subsection").unwrap_or(1);
                match caps.and_then(|c| c.range(group)) {
                    Some(m) => (m.start, m.end),
                    None => {
                        let mut r = ModuleResult::ok().with_msg(format!(
                            "Pattern for before/after params did not match the given file: {p}"
                        ));
                        r.rc = Some(0);
                        return Ok(Query::done(r));
                    }
                }
            }
        };
        let re = compile(&self.regexp, true, false)
            .map_err(|e| ModuleError::Args(format!("replace: regexp: {e}")))?;
        let pieces = re
            .template(self.replace.as_deref().unwrap_or(""))
            .map_err(|e| {
                ModuleError::Args(format!("Unable to process replace due to error: {e}"))
            })?;
        let section = &contents[start..end];
        let (replaced, n) = re
            .subn_bytes(&pieces, section, 0)
            .map_err(ModuleError::Args)?;
        let content_changed = n > 0 && replaced != section;
        let new = if content_changed {
            let mut v = contents[..start].to_vec();
            v.extend_from_slice(&replaced);
            v.extend_from_slice(&contents[end..]);
            v
        } else {
            contents.clone()
        };
        let mut q = query_bytes(ctx, path, &current, new, &self.attrs()).await?;
        let msg = match (content_changed, q.result.changed) {
            (true, _) if current.exists && self.attrs().differ(&current) => {
                format!("{n} replacements made and {ATTRS_CHANGED}")
            }
            (true, _) => format!("{n} replacements made"),
            (false, true) => ATTRS_CHANGED.to_string(),
            (false, false) => String::new(),
        };
        for r in std::iter::once(&mut q.result).chain(q.pending.as_mut().map(|c| &mut c.result)) {
            r.extra.remove("dest");
            r.msg = Some(msg.clone());
            r.rc = Some(0);
        }
        Ok(q)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(pattern: &str, repl: &str, hay: &str) -> (String, usize) {
        let re = compile(pattern, true, false).expect("compiles");
        let pieces = re.template(repl).expect("template");
        let (out, n) = re.subn_bytes(&pieces, hay.as_bytes(), 0).expect("sub");
        (String::from_utf8(out).expect("utf-8"), n)
    }

    /// Python 3.7+: `re.subn('x*', '-', 'abxd')` is `('-a-b--d-', 5)`.
    #[test]
    fn subn_follows_python_for_empty_matches() {
        assert_eq!(sub("x*", "-", "abxd"), ("-a-b--d-".into(), 5));
        assert_eq!(sub("^", "# ", "a\nb\n"), ("# a\n# b\n# ".into(), 3));
        assert_eq!(
            sub(r"(\w+)=(\d+)", r"\2=\1", "a=1 b=2"),
            ("1=a 2=b".into(), 2)
        );
        assert_eq!(sub("é", "e", "café"), ("cafe".into(), 1));
        // backreferences and look-around (fancy-regex), MULTILINE as the module compiles
        assert_eq!(
            sub(r"^(\w+) \1$", r"\g<1>", "a a\nb c\nd d"),
            ("a\nb c\nd".into(), 2)
        );
        assert_eq!(sub(r"(?<=#)\s*", "", "#  x\n# y"), ("#x\n#y".into(), 2));
    }

    #[test]
    fn bytes_outside_matches_are_kept() {
        let re = compile("b", true, false).expect("compiles");
        let pieces = re.template("B").expect("template");
        let (out, n) = re.subn_bytes(&pieces, b"\xff a b\r\n\xfe", 0).expect("sub");
        assert_eq!((out.as_slice(), n), (&b"\xff a B\r\n\xfe"[..], 1));
    }
}
