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

