//! `copy`: content or a file (controller or target) to a destination, atomically.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    Attrs, Change, Read, TEXT_LIMIT, Write, WriteOpts, apply_change, local_source, probe,
    query_bytes, read_remote_at,
};
use crate::engine::modules::module::{self, Module, Query};
use crate::engine::modules::{Ctx, Diff, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Copy {
    #[serde(default, deserialize_with = "args::opt_string")]
    content: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    src: Option<String>,
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
    force: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    remote_src: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    follow: Option<bool>,
}

super::owner_group_mode!(Copy);

/// What `ansible.legacy.copy` lists as supported: the action plugin takes `decrypt` itself and
/// sets `_original_basename`; `path` (for `dest`) is the engine's alone.
pub(super) fn copy_module_supported() -> module::Supported {
    let mut s = module::supported::<Copy>();
    s.params.retain(|p| *p != "decrypt");
    s.aliases.retain(|a| *a != "path");
    s.params.insert(0, "_original_basename");
    s
}

impl Module for Copy {
    const NAME: &'static str = "copy";
    const ANSIBLE_ONLY: &'static [&'static str] = &[
        "directory_mode",
        "unsafe_writes",
        "decrypt",
        "local_follow",
        "checksum",
        "seuser",
        "serole",
        "setype",
        "selevel",
        "attributes",
        "attr",
    ];
    type Pending = Change;
    const PATH_ARGS: &'static [&'static str] = &["src", "dest"];

    /// `src` is on the controller (the action plugin expands it there) unless `remote_src`.
    fn path_args(args: &Map<String, Value>) -> &'static [&'static str] {
        match args.get("remote_src").and_then(args::parse_bool) {
            Some(true) => Self::PATH_ARGS,
            _ => &["dest"],
        }
    }

    /// Ansible's copy action plugin hands the arguments on to `ansible.legacy.copy`.
    fn unsupported(_: &str, unknown: &[&str]) -> String {
        module::unsupported_msg("ansible.legacy.copy", unknown, &copy_module_supported())
    }

    fn validate(&self) -> Result<(), ModuleError> {
        match (&self.content, &self.src) {
            (Some(_), Some(_)) => Err(ModuleError::Args(
                "copy: give either content or src, not both".into(),
            )),
            (None, None) => Err(ModuleError::Args("copy: needs content or src".into())),
            _ => Ok(()),
        }
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Change>, ModuleError> {
        let src = self.src.clone();
        let dest = dest_path(&self.dest, src.as_deref());
        let attrs = self.attrs();
        let force = self.force.unwrap_or(true);
        // Ansible's default: a destination that is a symlink is replaced, not written through.
        let follow = self.follow.unwrap_or(false);
        let content: Vec<u8> = match (&self.content, &src) {
            (Some(c), _) => c.clone().into_bytes(),
            (None, Some(s)) if self.remote_src.unwrap_or(false) => {
                let out = ctx.query(&format!("cat -- {}", sh_quote(s)), None).await?;
                if out.rc != 0 {
                    return Ok(Query::done(ModuleResult::fail(format!(
                        "remote source {s} cannot be read: {}",
                        out.stderr.trim()
                    ))));
                }
                // Bytes as they are: a binary file must arrive unchanged.
                out.stdout_bytes
            }
            (None, Some(s)) => {
                let path = local_source(ctx, "files", s)?;
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                let text = if size <= TEXT_LIMIT {
                    std::fs::read_to_string(&path).ok()
                } else {
                    None
                };
                match text {
                    Some(t) => t.into_bytes(),
                    // Large or binary: compare checksums and stream the file; never load it whole.
                    None => {
                        let dest = into_dir(ctx, dest, s, follow).await?;
                        return copy_large(ctx, &path, &dest, &attrs, force, follow).await;
                    }
                }
            }
            (None, None) => return Err(ModuleError::Args("copy: needs content or src".into())),
        };
        let mut dest = dest;
        let mut current = read_remote_at(ctx, &dest, follow).await?;
        // A source file copied onto an existing directory goes into it (the `dest: /etc/` rule
        // for a directory written without its slash), as Ansible's copy does.
        if let Some(s) = &src
            && current.kind == "directory"
        {
            dest = dest_path(&format!("{}/", dest.trim_end_matches('/')), Some(s));
            current = read_remote_at(ctx, &dest, follow).await?;
        }
        if current.exists && !force {
            return Ok(Query::done(
                ModuleResult::ok().with_msg("file exists and force=no"),
            ));
        }
        // Ansible's copy result names the content's SHA-1 and the destination's state.
        let checksum = {
            use sha1::Digest;
            hex::encode(sha1::Sha1::digest(&content))
        };
        let mut q = query_bytes(ctx, &dest, &current, content, &attrs).await?;
        for r in std::iter::once(&mut q.result).chain(q.pending.as_mut().map(|c| &mut c.result)) {
            if !r.failed {
                r.extra
                    .insert("checksum".into(), Value::String(checksum.clone()));
                r.extra.insert("state".into(), Value::String("file".into()));
            }
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

/// The destination path; a directory destination (`dest: /etc/`) gets the source's file name.
pub(super) fn dest_path(dest: &str, src: Option<&str>) -> String {
    match src {
        Some(s) if dest.ends_with('/') => {
            format!(
                "{dest}{}",
                Path::new(s)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or(s)
            )
        }
        _ => dest.to_string(),
    }
}

/// `dest` or, when it is an existing directory, the source's name in it (see `query`).
async fn into_dir(
    ctx: &Ctx<'_>,
    dest: String,
    src: &str,
    follow: bool,
) -> Result<String, ModuleError> {
    if dest.ends_with('/') {
        return Ok(dest);
    }
    let current = probe(ctx, &dest, Read::checksum(follow)).await?;
    Ok(if current.kind == "directory" {
        dest_path(&format!("{dest}/"), Some(src))
    } else {
        dest
    })
}

async fn copy_large(
    ctx: &Ctx<'_>,
    src: &Path,
    dest: &str,
    attrs: &Attrs,
    force: bool,
    follow: bool,
) -> Result<Query<Change>, ModuleError> {
    let local = sha256_file(src)
        .map_err(|e| ModuleError::Args(format!("cannot read {}: {e}", src.display())))?;
    let current = probe(ctx, dest, Read::checksum(follow)).await?;
    if current.exists && !current.is_file && !current.is_link {
        return Ok(Query::done(ModuleResult::fail(format!(
            "{dest} exists but is a {}, not a regular file",
            current.kind
        ))));
    }
    if current.exists && !force {
        return Ok(Query::done(
            ModuleResult::ok().with_msg("file exists and force=no"),
        ));
    }
    let target = current.path.clone();
    let content_changed = current.is_link || current.content.as_deref() != Some(local.as_str());
    let attrs_changed = current.exists && !current.is_link && attrs.differ(&current);
    let mut r = ModuleResult::changed(content_changed || attrs_changed);
    r.extra
        .insert("dest".into(), Value::String(dest.to_string()));
    r.extra.insert("checksum".into(), Value::String(local));
    if content_changed && ctx.diff {
        r.diff.push(Diff {
            before_header: dest.to_string(),
            after_header: dest.to_string(),
            before: String::new(),
            after: format!(
                "(large or binary file from {}; content not shown)\n",
                src.display()
            ),
        });
    }
    if !r.changed {
        return Ok(Query::done(r));
    }
    let write = if content_changed {
        Write::File {
            target,
            src: src.to_path_buf(),
        }
    } else {
        Write::Attrs { target }
    };
    Ok(Query::change(r.clone(), Change { write, result: r }))
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
