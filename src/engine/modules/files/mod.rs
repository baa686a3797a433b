//! File modules: copy, template, lineinfile, blockinfile, replace, file, stat, slurp, fetch, find,
//! tempfile.
//! Content modules read the file once, compute the new text here, and write only when it differs —
//! atomically (temp file in the same directory, validate, rename), with an optional backup.

use std::path::{Path, PathBuf};

use serde_json::Value;

mod blockinfile;
mod copy;
mod fetch;
mod file;
mod find;
mod lineinfile;
mod lines;
mod replace;
mod slurp;
mod stat;
mod tempfile;
mod template;

pub use blockinfile::BlockInFile;
pub use copy::Copy;
pub use fetch::Fetch;
pub use file::File;
pub use find::Find;
pub use lineinfile::LineInFile;
pub use replace::Replace;
pub use slurp::Slurp;
pub use stat::Stat;
pub use tempfile::TempFile;
pub use template::Template;

use super::module::Query;
use super::{Ctx, Diff, ModuleError, ModuleResult};
use crate::transport::sh_quote;

/// A file as found on the target.
#[derive(Debug, Default)]
pub struct RemoteFile {
    pub exists: bool,
    pub is_file: bool,
    pub kind: String,
    /// Mode, owner and group: empty for a regular file read without its attributes.
    pub mode: String,
    pub owner: String,
    pub group: String,
    /// The content as text (invalid UTF-8 replaced), for callers that parse it.
    pub content: Option<String>,
    /// The content exactly as on the target.
    pub bytes: Option<Vec<u8>>,
    /// A symbolic link that was not followed: writing replaces the link itself.
    pub is_link: bool,
    /// The path that was read (a followed link's target); writes go there.
    pub path: String,
    /// A regular file's size in bytes.
    pub size: Option<u64>,
    /// A regular file larger than the reader asked to load: no content, compare by checksum.
    pub too_large: bool,
}

/// Reads a file's kind and (for regular files) its content in one round trip, and its owner,
/// group and mode when `attrs` names one to compare with. A symlink is followed: editing modules
/// (lineinfile, blockinfile, pg_hba) change what the link points at, as Ansible's do, and write
/// to the target, keeping the link.
pub async fn read_remote(
    ctx: &Ctx<'_>,
    path: &str,
    attrs: &Attrs,
) -> Result<RemoteFile, ModuleError> {
    let how = Read {
        follow: true,
        checksum: false,
        limit: None,
        attributes: attrs.any(),
    };
    probe(ctx, path, how).await
}

/// [`read_remote`] of a destination that is about to be replaced: without `follow`, a symlink
/// is reported as such and never read through (a planted link must not show another file's
/// content in a diff, nor lend it its mode); content over [`TEXT_LIMIT`] is not loaded (a small
/// file replacing a huge one must not pull the huge one into memory) but compared by checksum.
pub async fn read_remote_at(
    ctx: &Ctx<'_>,
    path: &str,
    follow: bool,
) -> Result<RemoteFile, ModuleError> {
    let how = Read {
        follow,
        checksum: false,
        limit: Some(TEXT_LIMIT),
        attributes: true,
    };
    probe(ctx, path, how).await
}

/// What [`probe`] reads of a path.
#[derive(Clone, Copy)]
pub(crate) struct Read {
    /// Through a symlink to what it points at.
    pub follow: bool,
    /// A regular file's SHA-256 in `content` instead of the content (files too large to move).
    pub checksum: bool,
    /// Content over this size is not loaded (`too_large`); needs the size, so `stat` runs.
    pub limit: Option<u64>,
    /// A regular file's owner, group, mode and size: one `stat` more on the target (a
    /// fork+exec, the costliest part of a converged check), so only when they are compared.
    pub attributes: bool,
}

impl Read {
    /// Attributes and the checksum of a file that is compared, not loaded (copy).
    pub(crate) fn checksum(follow: bool) -> Self {
        Read {
            follow,
            checksum: true,
            limit: None,
            attributes: true,
        }
    }
}

/// Attributes of `path` and, for a regular file, its content, as `how` says.
pub(crate) async fn probe(ctx: &Ctx<'_>, path: &str, how: Read) -> Result<RemoteFile, ModuleError> {
    let out = ctx.query(&probe_script(path, how), None).await?;
    if out.rc != 0 {
        return Err(ModuleError::Args(format!(
            "cannot read {path}: {}",
            out.stderr.trim()
        )));
    }
    Ok(parse_probe(path, &out.stdout_bytes, how))
}

/// The shell [`probe`] runs: one line saying what `path` is (`F`/`L`/`O` with the attributes
/// asked for, `A` for absent), a regular file's content after it; `R path\0` first when a
/// followed link was resolved.
fn probe_script(path: &str, how: Read) -> String {
    let Read {
        follow,
        checksum,
        limit,
        attributes,
    } = how;
    let p = sh_quote(path);
    let read = if checksum {
        "dd if=\"$p\" iflag=nofollow status=none | sha256sum | cut -d' ' -f1".to_string()
    } else if let Some(max) = limit {
        // The size is the header's last field: no second `stat`.
        format!("{{ [ \"${{h##* }}\" -gt {max} ] || dd if=\"$p\" iflag=nofollow status=none; }}")
    } else {
        "dd if=\"$p\" iflag=nofollow status=none".to_string()
    };
    let resolve = if follow {
        // NUL-terminated: any byte may be in a path.
        "if [ -L \"$p\" ]; then p=$(readlink -f -- \"$p\") && [ -n \"$p\" ] || \
         { echo \"the symlink cannot be resolved (its target's directory is missing)\" >&2; exit 1; }; \
         printf 'R %s\\0' \"$p\"; fi\n"
    } else {
        ""
    };
    // dd's nofollow: the file cannot be swapped for a link between the test and the read.
    let file_line = if attributes || limit.is_some() {
        "h=$(stat -c 'F %a %U %G %s' -- \"$p\") && printf '%s\\n' \"$h\""
    } else {
        "echo F"
    };
    format!(
        "p={p}\n{resolve}\
         if [ -L \"$p\" ]; then stat -c 'L %a %U %G' -- \"$p\"; \
         elif [ -f \"$p\" ]; then {file_line} && {read}; \
         elif [ -e \"$p\" ]; then stat -c 'O %a %U %G %F' -- \"$p\"; else echo A; fi"
    )
}

/// Parses what [`probe_script`] printed.
fn parse_probe(path: &str, stdout: &[u8], how: Read) -> RemoteFile {
    let Read {
        checksum, limit, ..
    } = how;
    let mut raw = stdout;
    let mut real = path.to_string();
    if let Some(rest) = raw.strip_prefix(b"R ")
        && let Some(end) = rest.iter().position(|&b| b == 0)
    {
        real = String::from_utf8_lossy(&rest[..end]).into_owned();
        raw = &rest[end + 1..];
    }
    let nl = raw.iter().position(|&b| b == b'\n').unwrap_or(raw.len());
    let header = String::from_utf8_lossy(&raw[..nl]).into_owned();
    let body = raw.get(nl + 1..).unwrap_or_default();
    let mut parts = header.split(' ');
    let tag = parts.next().unwrap_or("A");
    let mut f = RemoteFile {
        exists: tag != "A",
        is_file: tag == "F",
        is_link: tag == "L",
        path: real,
        ..Default::default()
    };
    if f.exists {
        f.mode = parts.next().unwrap_or("").to_string();
        f.owner = parts.next().unwrap_or("").to_string();
        f.group = parts.next().unwrap_or("").to_string();
        if tag == "F" {
            f.size = parts.next().and_then(|n| n.parse().ok());
        }
        f.kind = match tag {
            "F" => "regular file".into(),
            "L" => "symbolic link".into(),
            _ => parts.collect::<Vec<_>>().join(" "),
        };
    }
    if f.is_file && checksum {
        f.content = Some(String::from_utf8_lossy(body).trim().to_string());
    } else if f.is_file && limit.is_some_and(|max| f.size.is_some_and(|n| n > max)) {
        f.too_large = true;
    } else if f.is_file {
        f.content = Some(String::from_utf8_lossy(body).into_owned());
        f.bytes = Some(body.to_vec());
    }
    f
}

/// `attrs()` of a module struct with `owner`, `group` and `mode` fields (the file modules and
/// pg_hba), so the conversion is written once.
macro_rules! owner_group_mode {
    ($module:ty) => {
        impl $module {
            fn attrs(&self) -> $crate::engine::modules::files::Attrs {
                $crate::engine::modules::files::Attrs {
                    owner: self.owner.clone(),
                    group: self.group.clone(),
                    mode: self.mode.clone(),
                }
            }
        }
    };
}
pub(crate) use owner_group_mode;

pub struct Attrs {
    pub owner: Option<String>,
    pub group: Option<String>,
    pub mode: Option<String>,
}

impl Attrs {
    /// Whether any attribute is asked for.
    pub(crate) fn any(&self) -> bool {
        self.owner.is_some() || self.group.is_some() || self.mode.is_some()
    }

    /// Whether the existing file's attributes differ from these (symbolic modes: unknown, so yes).
    pub(crate) fn differ(&self, f: &RemoteFile) -> bool {
        let owner = self
            .owner
            .as_ref()
            .is_some_and(|o| o != &f.owner && !numeric_match(o, &f.owner));
        let group = self
            .group
            .as_ref()
            .is_some_and(|g| g != &f.group && !numeric_match(g, &f.group));
        let mode = self
            .mode
            .as_ref()
            .is_some_and(|m| match u32::from_str_radix(m, 8) {
                Ok(want) => u32::from_str_radix(&f.mode, 8).ok() != Some(want),
                Err(_) => true,
            });
        owner || group || mode
    }

    /// Shell lines applying the attributes to `$target`.
    pub(crate) fn script(&self, target: &str) -> String {
        let mut s = String::new();
        match (&self.owner, &self.group) {
            // `--`: an owner, group or mode from the playbook is never taken for an option.
            (Some(o), Some(g)) => s.push_str(&format!(
                "chown -- {}:{} {target}\n",
                sh_quote(o),
                sh_quote(g)
            )),
            (Some(o), None) => s.push_str(&format!("chown -- {} {target}\n", sh_quote(o))),
            (None, Some(g)) => s.push_str(&format!("chgrp -- {} {target}\n", sh_quote(g))),
            (None, None) => {}
        }
        if let Some(m) = &self.mode {
            s.push_str(&format!("chmod -- {} {target}\n", sh_quote(m)));
        }
        s
    }
}

fn numeric_match(want: &str, _have: &str) -> bool {
    // A numeric uid/gid cannot be compared with a name here; treat it as matching to stay idempotent.
    want.bytes().all(|b| b.is_ascii_digit())
}

pub struct WriteOpts<'a> {
    pub attrs: &'a Attrs,
    pub backup: bool,
    pub validate: Option<String>,
}

/// Atomically replaces `path` with `content`. Returns the backup file's path when one was made.
/// What to upload: text in memory, or a local file streamed in chunks.
pub enum Payload<'a> {
    Bytes(&'a [u8]),
    File(&'a Path),
}

pub async fn write_remote(
    ctx: &Ctx<'_>,
    path: &str,
    content: &[u8],
    opts: &WriteOpts<'_>,
) -> Result<Option<String>, ModuleError> {
    write_remote_payload(ctx, path, Payload::Bytes(content), opts).await
}

/// Writes `content` to `path` as it is: no attributes asked for (an existing file keeps its
/// owner and mode), no backup, no validation — how the system modules write their config files.
pub async fn write_plain(
    ctx: &Ctx<'_>,
    path: &str,
    content: &[u8],
) -> Result<Option<String>, ModuleError> {
    let attrs = Attrs {
        owner: None,
        group: None,
        mode: None,
    };
    let opts = WriteOpts {
        attrs: &attrs,
        backup: false,
        validate: None,
    };
    write_remote(ctx, path, content, &opts).await
}

pub async fn write_remote_payload(
    ctx: &Ctx<'_>,
    path: &str,
    payload: Payload<'_>,
    opts: &WriteOpts<'_>,
) -> Result<Option<String>, ModuleError> {
    let p = sh_quote(path);
    let mut s = String::from("set -e\n");
    s.push_str(&format!("dest={p}\nd=$(dirname -- \"$dest\")\n"));
    s.push_str(
        "[ -d \"$d\" ] || { echo \"Destination directory $d does not exist\" >&2; exit 2; }\n",
    );
    // mktemp creates the file 0600 and empty. It gets its final owner and mode while still
    // empty, the content last, so it is never readable by others with content it should not
    // show. It is opened for writing first: a final mode without the owner's write bit still
    // lets it be filled.
    s.push_str(
        // A cut connection closes the script's stdout/stderr: its next message would kill it
        // with SIGPIPE, which skips an EXIT trap; clean up on signals too.
        "tmp=$(mktemp \"$d/.slm-wizard.XXXXXXXX\")\ntrap 'rm -f \"$tmp\"' EXIT\n\
         trap 'rm -f \"$tmp\"; exit 129' HUP INT PIPE TERM\nexec 3>\"$tmp\"\n",
    );
    // Keep the old file's owner and mode unless told otherwise (never a symlink's target's: the
    // link is replaced); a new file gets 0644 like `umask 022`. Its ACL and other xattrs too, as
    // Ansible's atomic_move keeps them (shutil.copystat); where cp cannot, the rest still holds.
    let numeric_mode = opts
        .attrs
        .mode
        .as_deref()
        .is_some_and(|m| u32::from_str_radix(m, 8).is_ok());
    s.push_str(&format!(
        "if [ -f \"$dest\" ] && [ ! -L \"$dest\" ]; then chown --reference=\"$dest\" \"$tmp\" 2>/dev/null || true; \
         cp --attributes-only --preserve=mode,xattr -- \"$dest\" \"$tmp\" 2>/dev/null || true; {}",
        if numeric_mode {
            "fi\n"
        } else {
            "chmod --reference=\"$dest\" \"$tmp\"; else chmod 0644 \"$tmp\"; fi\n"
        }
    ));
    s.push_str(&opts.attrs.script("\"$tmp\""));
    s.push_str("cat >&3\nexec 3>&-\n");
    // A dropped connection looks like a normal end of input to `cat`: check the size before the rename.
    let expected = match &payload {
        Payload::Bytes(b) => b.len() as u64,
        Payload::File(f) => std::fs::metadata(f)
            .map(|m| m.len())
            .map_err(|e| ModuleError::Args(format!("cannot read {}: {e}", f.display())))?,
    };
    s.push_str(&format!(
        "[ \"$(wc -c < \"$tmp\")\" -eq {expected} ] || {{ echo \"upload incomplete (connection cut?); $dest left unchanged\" >&2; exit 4; }}\n"
    ));
    if let Some(v) = &opts.validate {
        if !v.contains("%s") {
            return Err(ModuleError::Args(format!(
                // Ansible's wording (lineinfile's upstream test matches it).
                "validate must contain %s: {v}"
            )));
        }
        let cmd = v.replace("%s", "\"$tmp\"");
        s.push_str(&format!(
            "if ! out=$( {cmd} 2>&1 ); then echo \"validation failed: $out\" >&2; exit 3; fi\n"
        ));
    }
    if opts.backup {
        // Ansible's name, created exclusively (noclobber: O_EXCL) and private before the copy,
        // so a file or link planted under the predictable name is never written through.
        s.push_str(&format!(
            "if [ -f \"$dest\" ] && [ ! -L \"$dest\" ]; then {BACKUP_PID}b=\"$dest.$slm_bp.$(date +%Y-%m-%d@%H:%M:%S)~\"; \
             ( umask 077; set -C; : > \"$b\" ) || {{ echo \"cannot create the backup file $b\" >&2; exit 5; }}; \
             cp -p -- \"$dest\" \"$b\"; echo \"BACKUP $b\"; fi\n"
        ));
    }
    // -T: a destination that is a link (to a directory, too) is replaced, not written into.
    s.push_str("mv -fT -- \"$tmp\" \"$dest\"\ntrap - EXIT\n");
    let out = match payload {
        Payload::Bytes(content) => ctx.query(&s, Some(content)).await?,
        Payload::File(file) => ctx.query_with_file(&s, file).await?,
    };
    if out.rc != 0 {
        return Err(ModuleError::Args(format!(
            "writing {path} failed: {}",
            out.stderr.trim()
        )));
    }
    Ok(out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("BACKUP ").map(str::to_string)))
}

/// What `apply` writes after a content query found a difference.
pub enum Write {
    /// New content for `target`.
    Bytes { target: String, bytes: Vec<u8> },
    /// A local file streamed to `target` (large or binary sources).
    File { target: String, src: PathBuf },
    /// Only owner, group or mode of `target`.
    Attrs { target: String },
}

/// A pending file change: what to write and the result to report once written.
pub struct Change {
    pub write: Write,
    pub result: ModuleResult,
}

/// Compares `new` (plus attributes) with what `path` holds: the shared query of
/// copy/template/lineinfile/blockinfile. A symlink that was not followed is replaced by the file.
pub async fn query_bytes(
    ctx: &Ctx<'_>,
    path: &str,
    current: &RemoteFile,
    new: Vec<u8>,
    attrs: &Attrs,
) -> Result<Query<Change>, ModuleError> {
    if current.exists && !current.is_file && !current.is_link {
        return Ok(Query::done(ModuleResult::fail(format!(
            "{path} exists but is a {}, not a regular file",
            current.kind
        ))));
    }
    let target = if current.path.is_empty() {
        path
    } else {
        current.path.as_str()
    };
    let old = current.bytes.as_deref().unwrap_or_default();
    let content_changed = if current.too_large {
        // Not loaded: the same size and checksum, or changed.
        current.size != Some(new.len() as u64) || {
            use sha2::Digest;
            let sum = probe(ctx, target, Read::checksum(false)).await?;
            sum.content.as_deref() != Some(hex::encode(sha2::Sha256::digest(&new)).as_str())
        }
    } else {
        !current.exists || current.is_link || old != new.as_slice()
    };
    let attrs_changed = current.exists && !current.is_link && attrs.differ(current);
    let mut r = ModuleResult::changed(content_changed || attrs_changed);
    if content_changed && ctx.diff {
        r.diff.push(Diff {
            before_header: if current.is_file {
                target.to_string()
            } else if current.is_link {
                format!("{path} (symbolic link, replaced; not read)")
            } else {
                "/dev/null".into()
            },
            after_header: target.to_string(),
            before: if current.too_large {
                Diff::not_shown(current.size.unwrap_or_default())
            } else {
                String::from_utf8_lossy(old).into_owned()
            },
            after: String::from_utf8_lossy(&new).into_owned(),
        });
    }
    r.extra
        .insert("dest".into(), Value::String(path.to_string()));
    if !r.changed {
        return Ok(Query::done(r));
    }
    let target = target.to_string();
    let write = if content_changed {
        Write::Bytes { target, bytes: new }
    } else {
        Write::Attrs { target }
    };
    Ok(Query::change(r.clone(), Change { write, result: r }))
}

/// Writes what [`query_bytes`] (or copy's large-file query) found.
pub async fn apply_change(
    ctx: &Ctx<'_>,
    change: Change,
    opts: &WriteOpts<'_>,
) -> Result<ModuleResult, ModuleError> {
    let mut r = change.result;
    let backup = match change.write {
        Write::Bytes { target, bytes } => write_remote(ctx, &target, &bytes, opts).await?,
        Write::File { target, src } => {
            write_remote_payload(ctx, &target, Payload::File(&src), opts).await?
        }
        Write::Attrs { target } => {
            let out = ctx
                .query(
                    &format!("set -e\n{}", opts.attrs.script(&sh_quote(&target))),
                    None,
                )
                .await?;
            if out.rc != 0 {
                let dest = r
                    .extra
                    .get("dest")
                    .and_then(Value::as_str)
                    .unwrap_or(&target);
                return Ok(ModuleResult::fail(format!(
                    "setting attributes of {dest}: {}",
                    out.stderr.trim()
                )));
            }
            None
        }
    };
    if let Some(b) = backup {
        r.extra.insert("backup_file".into(), Value::String(b));
    }
    Ok(r)
}

/// Files up to this size are compared and diffed as text; larger ones by checksum.
pub(crate) const TEXT_LIMIT: u64 = 1024 * 1024;

/// Sets `slm_bp` to the PID of the process running the script, the number in a backup's name
/// (`dest.PID.date~`, as Ansible names it after its module's PID). Not `$$`: commands on a kept
/// shell run in subshells of it, which share its `$$`; `read` is a builtin, so /proc/self is the
/// subshell itself.
pub(crate) const BACKUP_PID: &str = "read -r slm_bp _ 2>/dev/null </proc/self/stat || slm_bp=$$; ";

/// A controller-side file: absolute, or relative to the role's `sub/` dir and the role (for a
/// task in a role), then the playbook's `sub/` dir and the playbook dir.
pub(crate) fn local_source(ctx: &Ctx<'_>, sub: &str, src: &str) -> Result<PathBuf, ModuleError> {
    let p = Path::new(src);
    let candidates = if p.is_absolute() {
        vec![p.to_path_buf()]
    } else {
        // The engine sets `role_path` for a task in a role (Ansible's own name for the directory).
        let role = ctx
            .scope
            .get_attr("role_path")
            .ok()
            .and_then(|v| v.as_str().map(PathBuf::from));
        let mut c = Vec::new();
        if let Some(r) = role {
            c.extend([r.join(sub).join(p), r.join(p)]);
        }
        c.extend([ctx.playbook_dir.join(sub).join(p), ctx.playbook_dir.join(p)]);
        c
    };
    candidates
        .iter()
        .find(|c| c.is_file())
        .cloned()
        .ok_or_else(|| {
            ModuleError::Args(format!(
                "source file not found: {src} (looked in {})",
                candidates
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the probe script with the real `sh`, `stat` replaced by a function that fails.
    fn probe_without_stat(path: &str, how: Read) -> (Option<i32>, Vec<u8>) {
        let script = format!("stat() {{ exit 97; }}\n{}", probe_script(path, how));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh runs");
        (out.status.code(), out.stdout)
    }

    #[test]
    fn a_file_read_without_attributes_costs_no_stat() {
        let dir = ::tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("f.txt");
        std::fs::write(&file, b"one\ntwo, no newline").expect("write");
        let path = file.to_str().expect("utf-8 temp path");
        let content_only = Read {
            follow: true,
            checksum: false,
            limit: None,
            attributes: false,
        };
        let (rc, stdout) = probe_without_stat(path, content_only);
        assert_eq!(rc, Some(0), "{}", String::from_utf8_lossy(&stdout));
        let f = parse_probe(path, &stdout, content_only);
        assert!(f.exists && f.is_file && !f.too_large);
        assert_eq!(f.bytes.as_deref(), Some(&b"one\ntwo, no newline"[..]));
        assert_eq!((f.mode.as_str(), f.size), ("", None));
        // Asked for, the attributes do take a stat: the stand-in above is what stops it.
        let with_attrs = Read {
            attributes: true,
            ..content_only
        };
        assert_eq!(probe_without_stat(path, with_attrs).0, Some(97));
    }
}
