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

