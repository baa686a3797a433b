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

