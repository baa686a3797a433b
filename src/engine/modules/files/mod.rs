//! File modules: copy, template, lineinfile, blockinfile, file, stat.
//! Content modules read the file once, compute the new text here, and write only when it differs —
//! atomically (temp file in the same directory, validate, rename), with an optional backup.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{Args, Ctx, Diff, ModuleError, ModuleResult};
use crate::transport::sh_quote;

/// A file as found on the target.
#[derive(Debug, Default)]
pub struct RemoteFile {
    pub exists: bool,
    pub is_file: bool,
    pub kind: String,
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

/// Reads a file's attributes and (for regular files) its content in one round trip. A symlink
/// is followed: editing modules (lineinfile, blockinfile, pg_hba) change what the link points
/// at, as Ansible's do, and write to the target, keeping the link.
pub async fn read_remote(ctx: &Ctx<'_>, path: &str) -> Result<RemoteFile, ModuleError> {
    probe(ctx, path, true, false, None).await
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
    probe(ctx, path, follow, false, Some(TEXT_LIMIT)).await
}

/// Attributes of `path` and, for a regular file, its content (or with `checksum`, its SHA-256
/// in `content`, for files too large to move).
async fn probe(
    ctx: &Ctx<'_>,
    path: &str,
    follow: bool,
    checksum: bool,
    limit: Option<u64>,
) -> Result<RemoteFile, ModuleError> {
    let p = sh_quote(path);
    let read = if checksum {
        "dd if=\"$p\" iflag=nofollow status=none | sha256sum | cut -d' ' -f1".to_string()
    } else if let Some(max) = limit {
        format!(
            "{{ [ \"$(stat -c %s -- \"$p\")\" -gt {max} ] || dd if=\"$p\" iflag=nofollow status=none; }}"
        )
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
    let script = format!(
        "p={p}\n{resolve}\
         if [ -L \"$p\" ]; then stat -c 'L %a %U %G' -- \"$p\"; \
         elif [ -f \"$p\" ]; then stat -c 'F %a %U %G %s' -- \"$p\" && {read}; \
         elif [ -e \"$p\" ]; then stat -c 'O %a %U %G %F' -- \"$p\"; else echo A; fi"
    );
    let out = ctx.query(&script, None).await?;
    if out.rc != 0 {
        return Err(ModuleError::Args(format!(
            "cannot read {path}: {}",
            out.stderr.trim()
        )));
    }
    let mut raw = out.stdout_bytes.as_slice();
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
    Ok(f)
}

pub struct Attrs {
    pub owner: Option<String>,
    pub group: Option<String>,
    pub mode: Option<String>,
}

impl Attrs {
    pub fn from_args(a: &Args<'_>) -> Result<Self, ModuleError> {
        Ok(Self {
            owner: a.opt_str("owner")?,
            group: a.opt_str("group")?,
            mode: a.mode("mode")?,
        })
    }

    /// Whether the existing file's attributes differ from these (symbolic modes: unknown, so yes).
    fn differ(&self, f: &RemoteFile) -> bool {
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
    fn script(&self, target: &str) -> String {
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
    // link is replaced); a new file gets 0644 like `umask 022`.
    let numeric_mode = opts
        .attrs
        .mode
        .as_deref()
        .is_some_and(|m| u32::from_str_radix(m, 8).is_ok());
    s.push_str(&format!(
        "if [ -f \"$dest\" ] && [ ! -L \"$dest\" ]; then chown --reference=\"$dest\" \"$tmp\" 2>/dev/null || true; {}",
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
                "validate must contain %s (the file to check), got {v:?}"
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
        s.push_str(
            "if [ -f \"$dest\" ] && [ ! -L \"$dest\" ]; then b=\"$dest.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; \
             ( umask 077; set -C; : > \"$b\" ) || { echo \"cannot create the backup file $b\" >&2; exit 5; }; \
             cp -p -- \"$dest\" \"$b\"; echo \"BACKUP $b\"; fi\n",
        );
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

/// Makes `path` hold `new` (plus attributes): the shared core of copy/template/lineinfile/blockinfile.
pub async fn converge_content(
    ctx: &Ctx<'_>,
    path: &str,
    current: &RemoteFile,
    new: &str,
    opts: &WriteOpts<'_>,
) -> Result<ModuleResult, ModuleError> {
    converge_bytes(ctx, path, current, new.as_bytes(), opts).await
}

/// [`converge_content`] for exact bytes. A symlink that was not followed is replaced by the file.
pub async fn converge_bytes(
    ctx: &Ctx<'_>,
    path: &str,
    current: &RemoteFile,
    new: &[u8],
    opts: &WriteOpts<'_>,
) -> Result<ModuleResult, ModuleError> {
    if current.exists && !current.is_file && !current.is_link {
        return Ok(ModuleResult::fail(format!(
            "{path} exists but is a {}, not a regular file",
            current.kind
        )));
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
            let sum = probe(ctx, target, false, true, None).await?;
            sum.content.as_deref() != Some(hex::encode(sha2::Sha256::digest(new)).as_str())
        }
    } else {
        !current.exists || current.is_link || old != new
    };
    let attrs_changed = current.exists && !current.is_link && opts.attrs.differ(current);
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
            after: String::from_utf8_lossy(new).into_owned(),
        });
    }
    r.extra
        .insert("dest".into(), Value::String(path.to_string()));
    if ctx.check || !r.changed {
        return Ok(r);
    }
    if content_changed {
        if let Some(b) = write_remote(ctx, target, new, opts).await? {
            r.extra.insert("backup_file".into(), Value::String(b));
        }
    } else {
        let out = ctx
            .query(
                &format!("set -e\n{}", opts.attrs.script(&sh_quote(target))),
                None,
            )
            .await?;
        if out.rc != 0 {
            return Ok(ModuleResult::fail(format!(
                "setting attributes of {path}: {}",
                out.stderr.trim()
            )));
        }
    }
    Ok(r)
}

fn write_opts<'a>(a: &Args<'_>, attrs: &'a Attrs) -> Result<WriteOpts<'a>, ModuleError> {
    Ok(WriteOpts {
        attrs,
        backup: a.bool("backup", false)?,
        validate: a.opt_str("validate")?,
    })
}

/// A controller-side file: absolute, or relative to the playbook's `sub/` dir, then the playbook dir.
fn local_source(ctx: &Ctx<'_>, sub: &str, src: &str) -> Result<PathBuf, ModuleError> {
    let p = Path::new(src);
    let candidates = if p.is_absolute() {
        vec![p.to_path_buf()]
    } else {
        vec![ctx.playbook_dir.join(sub).join(p), ctx.playbook_dir.join(p)]
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

/// The destination path; a directory destination (`dest: /etc/`) gets the source's file name.
fn dest_path(dest: &str, src: Option<&str>) -> String {
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

pub async fn copy(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let src = a.opt_str("src")?;
    let dest = dest_path(&a.str("dest")?, src.as_deref());
    let attrs = Attrs::from_args(a)?;
    let opts = write_opts(a, &attrs)?;
    // Ansible's default: a destination that is a symlink is replaced, not written through.
    let follow = a.bool("follow", false)?;
    let content: Vec<u8> = match (a.opt_str("content")?, &src) {
        (Some(c), None) => c.into_bytes(),
        (None, Some(s)) if a.bool("remote_src", false)? => {
            let out = ctx.query(&format!("cat -- {}", sh_quote(s)), None).await?;
            if out.rc != 0 {
                return Ok(ModuleResult::fail(format!(
                    "remote source {s} cannot be read: {}",
                    out.stderr.trim()
                )));
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
                    let force = a.bool("force", true)?;
                    return copy_large(ctx, &path, &dest, &opts, force, follow).await;
                }
            }
        }
        (Some(_), Some(_)) => {
            return Err(ModuleError::Args(
                "copy: give either content or src, not both".into(),
            ));
        }
        (None, None) => return Err(ModuleError::Args("copy: needs content or src".into())),
    };
    let current = read_remote_at(ctx, &dest, follow).await?;
    if current.exists && !a.bool("force", true)? {
        return Ok(ModuleResult::ok().with_msg("file exists and force=no"));
    }
    converge_bytes(ctx, &dest, &current, &content, &opts).await
}

/// Files up to this size are compared and diffed as text; larger ones by checksum.
const TEXT_LIMIT: u64 = 1024 * 1024;

async fn copy_large(
    ctx: &Ctx<'_>,
    src: &Path,
    dest: &str,
    opts: &WriteOpts<'_>,
    force: bool,
    follow: bool,
) -> Result<ModuleResult, ModuleError> {
    let local = sha256_file(src)
        .map_err(|e| ModuleError::Args(format!("cannot read {}: {e}", src.display())))?;
    let current = probe(ctx, dest, follow, true, None).await?;
    if current.exists && !current.is_file && !current.is_link {
        return Ok(ModuleResult::fail(format!(
            "{dest} exists but is a {}, not a regular file",
            current.kind
        )));
    }
    if current.exists && !force {
        return Ok(ModuleResult::ok().with_msg("file exists and force=no"));
    }
    let target = current.path.clone();
    let p = sh_quote(&target);
    let content_changed = current.is_link || current.content.as_deref() != Some(local.as_str());
    let attrs_changed = current.exists && !current.is_link && opts.attrs.differ(&current);
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
    if ctx.check || !r.changed {
        return Ok(r);
    }
    if content_changed {
        if let Some(b) = write_remote_payload(ctx, &target, Payload::File(src), opts).await? {
            r.extra.insert("backup_file".into(), Value::String(b));
        }
    } else {
        let out = ctx
            .query(&format!("set -e\n{}", opts.attrs.script(&p)), None)
            .await?;
        if out.rc != 0 {
            return Ok(ModuleResult::fail(format!(
                "setting attributes of {dest}: {}",
                out.stderr.trim()
            )));
        }
    }
    Ok(r)
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

pub async fn template(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let src = a.str("src")?;
    let dest = dest_path(&a.str("dest")?, Some(&src));
    let attrs = Attrs::from_args(a)?;
    let opts = write_opts(a, &attrs)?;
    let path = local_source(ctx, "templates", &src)?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ModuleError::Args(format!("cannot read template {}: {e}", path.display())))?;
    let rendered = ctx
        .templar
        .render_text(&text, ctx.scope)
        .map_err(|e| ModuleError::Args(format!("template {}: {}", path.display(), e.msg)))?;
    let current = read_remote_at(ctx, &dest, a.bool("follow", false)?).await?;
    converge_content(ctx, &dest, &current, &rendered, &opts).await
}

/// One line of a file as bytes, with its own ending (`\n`, `\r\n`, or none for a last line
/// without one): editing a line never re-encodes the file or changes the other lines' endings.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    body: Vec<u8>,
    end: &'static [u8],
}

impl Line {
    fn new(body: &[u8], end: &'static [u8]) -> Self {
        Self {
            body: body.to_vec(),
            end,
        }
    }
}

fn split_lines(bytes: &[u8]) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) if i > 0 && rest[i - 1] == b'\r' => {
                lines.push(Line::new(&rest[..i - 1], b"\r\n"));
                rest = &rest[i + 1..];
            }
            Some(i) => {
                lines.push(Line::new(&rest[..i], b"\n"));
                rest = &rest[i + 1..];
            }
            None => {
                lines.push(Line::new(rest, b""));
                rest = &[];
            }
        }
    }
    lines
}

fn join_lines(lines: &[Line]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(&l.body);
        out.extend_from_slice(l.end);
    }
    out
}

/// The ending for new lines: the file's own (CRLF if its first line has one).
fn line_ending(lines: &[Line]) -> &'static [u8] {
    match lines.first() {
        Some(l) if l.end == b"\r\n" => b"\r\n",
        _ => b"\n",
    }
}

/// Inserts `new` lines at `pos`, giving an unterminated line before them an ending first.
fn insert_lines(lines: &mut Vec<Line>, pos: usize, new: Vec<Line>) {
    let end = line_ending(lines);
    if pos > 0
        && let Some(prev) = lines.get_mut(pos - 1)
        && prev.end.is_empty()
    {
        prev.end = end;
    }
    lines.splice(pos..pos, new);
}

fn regex(a: &Args<'_>, key: &str) -> Result<Option<regex::bytes::Regex>, ModuleError> {
    match a.opt_str(key)? {
        None => Ok(None),
        Some(r) => regex::bytes::Regex::new(&r).map(Some).map_err(|e| {
            ModuleError::Args(format!(
                "{}: '{key}' is not a valid regular expression: {e}",
                a.module
            ))
        }),
    }
}

/// Python-style `\1` backreferences → the regex crate's `${1}`.
fn python_backrefs(repl: &str) -> String {
    let re = regex::Regex::new(r"\\(\d+)|\\g<(\w+)>").expect("static regex");
    re.replace_all(&repl.replace('$', "$$"), |c: &regex::Captures<'_>| {
        format!(
            "${{{}}}",
            c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str())
        )
    })
    .into_owned()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

pub async fn lineinfile(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let path = a.str("path")?;
    let state = a.choice("state", &["present", "absent"], "present")?;
    let re = regex(a, "regexp")?;
    let search = a.opt_str("search_string")?;
    let line = a.opt_str("line")?;
    let backrefs = a.bool("backrefs", false)?;
    let firstmatch = a.bool("firstmatch", false)?;
    let attrs = Attrs::from_args(a)?;
    let opts = write_opts(a, &attrs)?;
    let current = read_remote(ctx, &path).await?;
    if !current.exists {
        if state == "absent" {
            return Ok(ModuleResult::ok().with_msg("file not present"));
        }
        if !a.bool("create", false)? {
            return Ok(ModuleResult::fail(format!(
                "Destination {path} does not exist !"
            )));
        }
    }
    let mut lines = split_lines(current.bytes.as_deref().unwrap_or_default());
    let matches = |l: &[u8]| -> bool {
        if let Some(r) = &re {
            r.is_match(l)
        } else if let Some(s) = &search {
            contains(l, s.as_bytes())
        } else {
            Some(l) == line.as_deref().map(str::as_bytes)
        }
    };
    let mut msg = String::new();
    if state == "absent" {
        if re.is_none() && search.is_none() && line.is_none() {
            return Err(ModuleError::Args(
                "lineinfile: state=absent needs regexp, search_string or line".into(),
            ));
        }
        let before = lines.len();
        lines.retain(|l| !matches(&l.body));
        if lines.len() != before {
            msg = format!("{} line(s) removed", before - lines.len());
        }
    } else {
        let Some(line) = line.clone() else {
            return Err(ModuleError::Args(
                "lineinfile: state=present needs 'line'".into(),
            ));
        };
        let found: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| matches(&l.body))
            .map(|(i, _)| i)
            .collect();
        let target = if firstmatch {
            found.first()
        } else {
            found.last()
        };
        if let Some(&i) = target {
            let new_line = match (&re, backrefs) {
                (Some(r), true) => r
                    .replace(&lines[i].body, python_backrefs(&line).as_bytes())
                    .into_owned(),
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
            let pos = insert_position(a, &lines, firstmatch)?;
            let end = line_ending(&lines);
            insert_lines(&mut lines, pos, vec![Line::new(line.as_bytes(), end)]);
            msg = "line added".into();
        }
    }
    let new = join_lines(&lines);
    let mut r = converge_bytes(ctx, &path, &current, &new, &opts).await?;
    if !msg.is_empty() {
        r.msg = Some(msg);
    }
    Ok(r)
}

fn insert_position(a: &Args<'_>, lines: &[Line], firstmatch: bool) -> Result<usize, ModuleError> {
    if let Some(after) = a.opt_str("insertafter")? {
        if after == "EOF" {
            return Ok(lines.len());
        }
        let r = regex::bytes::Regex::new(&after).map_err(|e| {
            ModuleError::Args(format!(
                "insertafter is not a valid regular expression: {e}"
            ))
        })?;
        let hits: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| r.is_match(&l.body))
            .map(|(i, _)| i)
            .collect();
        let hit = if firstmatch {
            hits.first()
        } else {
            hits.last()
        };
        return Ok(hit.map_or(lines.len(), |i| i + 1));
    }
    if let Some(before) = a.opt_str("insertbefore")? {
        if before == "BOF" {
            return Ok(0);
        }
        let r = regex::bytes::Regex::new(&before).map_err(|e| {
            ModuleError::Args(format!(
                "insertbefore is not a valid regular expression: {e}"
            ))
        })?;
        let hits: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| r.is_match(&l.body))
            .map(|(i, _)| i)
            .collect();
        let hit = if firstmatch {
            hits.first()
        } else {
            hits.last()
        };
        return Ok(hit.copied().unwrap_or(lines.len()));
    }
    Ok(lines.len())
}

pub async fn blockinfile(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let path = a.str("path")?;
    let state = a.choice("state", &["present", "absent"], "present")?;
    let block = a.str_or("block", "")?;
    let marker = a.str_or("marker", "# {mark} ANSIBLE MANAGED BLOCK")?;
    let begin = marker.replace("{mark}", &a.str_or("marker_begin", "BEGIN")?);
    let end = marker.replace("{mark}", &a.str_or("marker_end", "END")?);
    let attrs = Attrs::from_args(a)?;
    let opts = write_opts(a, &attrs)?;
    let current = read_remote(ctx, &path).await?;
    if !current.exists && !a.bool("create", false)? {
        if state == "absent" {
            return Ok(ModuleResult::ok());
        }
        return Ok(ModuleResult::fail(format!("Path {path} does not exist !")));
    }
    let mut lines = split_lines(current.bytes.as_deref().unwrap_or_default());
    let eol = line_ending(&lines);
    let b = lines.iter().position(|l| l.body == begin.as_bytes());
    let e = lines.iter().position(|l| l.body == end.as_bytes());
    let mut new_block: Vec<Line> = Vec::new();
    if state == "present" && !block.is_empty() {
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
                let pos = insert_position(a, &lines, false)?;
                insert_lines(&mut lines, pos, new_block);
            }
        }
    }
    let new = join_lines(&lines);
    converge_bytes(ctx, &path, &current, &new, &opts).await
}

pub async fn file(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let path = a.str("path")?;
    let attrs = Attrs::from_args(a)?;
    let current = read_remote_meta(ctx, &path).await?;
    let default_state = if current.exists {
        if current.kind == "directory" {
            "directory"
        } else {
            "file"
        }
    } else {
        "file"
    };
    let state = a.choice(
        "state",
        &["file", "directory", "absent", "touch", "link", "hard"],
        default_state,
    )?;
    let p = sh_quote(&path);
    let (changed, script, msg) = match state.as_str() {
        "absent" => (current.exists, format!("rm -rf -- {p}\n"), None),
        "directory" => {
            if current.exists && current.kind != "directory" {
                return Ok(ModuleResult::fail(format!(
                    "{path} already exists as a {}",
                    current.kind
                )));
            }
            let recurse = a.bool("recurse", false)?;
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
                return Ok(ModuleResult::fail(format!(
                    "file ({path}) is absent, cannot continue (use state=touch to create it)"
                )));
            }
            (attrs.differ(&current), attrs.script(&p), None)
        }
        "touch" => (true, format!("touch -- {p}\n{}", attrs.script(&p)), None),
        "link" | "hard" => {
            let src = a.str("src")?;
            let flag = if state == "link" { "-sfn" } else { "-fn" };
            let out = ctx.query(&format!("readlink -- {p} || true"), None).await?;
            let same = state == "link" && out.stdout.trim_end() == src;
            (
                !same,
                format!("ln {flag} -- {} {p}\n", sh_quote(&src)),
                Some(format!("link to {src}")),
            )
        }
        _ => unreachable!("choice() validated the state"),
    };
    let mut r = ModuleResult::changed(changed);
    r.msg = msg;
    r.extra.insert("path".into(), Value::String(path.clone()));
    r.extra.insert("state".into(), Value::String(state.clone()));
    if ctx.diff && changed {
        r.diff.push(Diff {
            before_header: path.clone(),
            after_header: path.clone(),
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
    if changed && !ctx.check {
        let out = ctx.query(&format!("set -e\n{script}"), None).await?;
        if out.rc != 0 {
            return Ok(ModuleResult::fail(format!(
                "{state} {path}: {}",
                out.stderr.trim()
            )));
        }
    }
    Ok(r)
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

pub async fn stat(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let path = a.str("path")?;
    let p = sh_quote(&path);
    let follow = if a.bool("follow", false)? { "-L " } else { "" };
    let checksum = a.bool("get_checksum", true)?;
    let script = format!(
        "if [ -e {p} ] || [ -L {p} ]; then stat {follow}-c '%F|%a|%u|%g|%U|%G|%s|%Y|%i|%h' -- {p}; \
         {} [ -L {p} ] && readlink -- {p} || echo; else echo ABSENT; fi",
        if checksum {
            format!("[ -f {p} ] && [ -r {p} ] && sha1sum -- {p} | cut -d' ' -f1 || echo;")
        } else {
            "echo;".into()
        }
    );
    let out = ctx.query(&script, None).await?;
    let mut st = Map::new();
    let mut lines = out.stdout.lines();
    let first = lines.next().unwrap_or("ABSENT");
    if first == "ABSENT" {
        st.insert("exists".into(), Value::Bool(false));
    } else {
        let f: Vec<&str> = first.split('|').collect();
        let get = |i: usize| f.get(i).copied().unwrap_or("");
        let int = |i: usize| {
            get(i)
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or(Value::Null)
        };
        let kind = get(0);
        st.insert("exists".into(), Value::Bool(true));
        st.insert("path".into(), Value::String(path.clone()));
        st.insert("isreg".into(), Value::Bool(kind.starts_with("regular")));
        st.insert("isdir".into(), Value::Bool(kind == "directory"));
        st.insert("islnk".into(), Value::Bool(kind == "symbolic link"));
        st.insert("mode".into(), Value::String(format!("{:0>4}", get(1))));
        st.insert("uid".into(), int(2));
        st.insert("gid".into(), int(3));
        st.insert("pw_name".into(), Value::String(get(4).into()));
        st.insert("gr_name".into(), Value::String(get(5).into()));
        st.insert("size".into(), int(6));
        st.insert("mtime".into(), int(7));
        st.insert("inode".into(), int(8));
        st.insert("nlink".into(), int(9));
        if let Some(sum) = lines.next().filter(|s| !s.is_empty()) {
            st.insert("checksum".into(), Value::String(sum.to_string()));
        }
        if let Some(target) = lines.next().filter(|s| !s.is_empty()) {
            st.insert("lnk_source".into(), Value::String(target.to_string()));
        }
    }
    let mut r = ModuleResult::ok();
    r.extra.insert("stat".into(), Value::Object(st));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backrefs_translate() {
        assert_eq!(python_backrefs(r"a=\1 $x \g<name>"), "a=${1} $$x ${name}");
    }
}
