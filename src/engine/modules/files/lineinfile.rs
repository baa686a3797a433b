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

