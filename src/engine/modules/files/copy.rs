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

