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

