//! Packages: `apt` (non-interactive, query dpkg first) and `package` (dispatch on the package manager).

use serde_json::Value;

use super::{Args, Ctx, ModuleError, ModuleResult};
use crate::transport::sh_quote;

const APT_GET: &str = "DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a apt-get -y -q \
    -o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold";

pub async fn package(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let mgr = match a.opt_str("use")? {
        Some(u) if u != "auto" => u,
        _ => ctx
            .facts
            .get("pkg_mgr")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    };
    match mgr.as_str() {
        "apt" => apt(a, ctx).await,
        "" => Ok(ModuleResult::fail(
            "package: the package manager is unknown (facts were not gathered); use the apt module or gather_facts: true",
        )),
        other => Ok(ModuleResult::fail(format!(
            "package: package manager '{other}' is not supported by slm-wizard yet (supported: apt)"
        ))),
    }
}

/// Installed version per package (None = not installed), in one dpkg-query.
async fn installed(ctx: &Ctx<'_>, names: &[String]) -> Result<Vec<Option<String>>, ModuleError> {
    let bare: Vec<String> = names
        .iter()
        .map(|n| n.split('=').next().unwrap_or(n).to_string())
        .collect();
    let words: Vec<String> = bare.iter().map(|n| sh_quote(n)).collect();
    let out = ctx
        .query(
            &format!("dpkg-query -W -f='${{Package}}\\t${{db:Status-Status}}\\t${{Version}}\\n' -- {} 2>/dev/null; true", words.join(" ")),
            None,
        )
        .await?;
    Ok(bare
        .iter()
        .map(|n| {
            out.stdout.lines().find_map(|l| {
                let mut f = l.split('\t');
                let (pkg, status, version) = (f.next()?, f.next()?, f.next()?);
                let pkg = pkg.split(':').next().unwrap_or(pkg);
                (pkg == n && status == "installed").then(|| version.to_string())
            })
        })
        .collect())
}

pub async fn apt(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let names = a.list("name")?;
    let state = a.choice(
        "state",
        &[
            "present",
            "installed",
            "absent",
            "removed",
            "latest",
            "build-dep",
            "fixed",
        ],
        "present",
    )?;
    let update_cache = a.bool("update_cache", false)?;
    let mut r = ModuleResult::ok();
    let mut log = Vec::new();
    if update_cache {
        let valid = a.opt_int("cache_valid_time")?.unwrap_or(0);
        let fresh = if valid > 0 {
            let out = ctx
                .query(
                    "s=/var/lib/apt/periodic/update-success-stamp; [ -e $s ] || s=/var/lib/apt/lists; \
                     echo $(( $(date +%s) - $(stat -c %Y $s 2>/dev/null || echo 0) ))",
                    None,
                )
                .await?;
            out.stdout
                .trim()
                .parse::<i64>()
                .map(|age| age < valid)
                .unwrap_or(false)
        } else {
            false
        };
        if !fresh {
            r.changed = true;
            log.push("cache updated".to_string());
            if !ctx.check {
                let out = ctx.sh(&format!("{APT_GET} update && mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/update-success-stamp"), None).await?;
                if out.rc != 0 {
                    return Ok(fail_with(out, "apt-get update failed"));
                }
            }
        }
    }
    if names.is_empty() {
        r.msg = Some(log.join("; "));
        return Ok(r);
    }
    let versions = installed(ctx, &names).await?;
    let (verb, todo): (&str, Vec<String>) = match state.as_str() {
        "present" | "installed" | "fixed" | "build-dep" => (
            "install",
            names
                .iter()
                .zip(&versions)
                .filter(|(n, v)| match (v, n.split_once('=')) {
                    (None, _) => true,
                    (Some(have), Some((_, want))) => !have.starts_with(want.trim_end_matches('*')),
                    (Some(_), None) => false,
                })
                .map(|(n, _)| n.clone())
                .collect(),
        ),
        "latest" => {
            let words: Vec<String> = names.iter().map(|n| sh_quote(n)).collect();
            let out = ctx
                .query(
                    &format!("LC_ALL=C apt-cache policy -- {}", words.join(" ")),
                    None,
                )
                .await?;
            let candidates = parse_policy(&out.stdout);
            (
                "install",
                names
                    .iter()
                    .zip(&versions)
                    .filter(|(n, v)| match v {
                        None => true,
                        Some(have) => candidates.iter().any(|(p, inst, cand)| {
                            p == *n
                                && inst.as_deref() == Some(have.as_str())
                                && cand.as_deref() != Some(have.as_str())
                        }),
                    })
                    .map(|(n, _)| n.clone())
                    .collect(),
            )
        }
        _ => (
            if a.bool("purge", false)? {
                "purge"
            } else {
                "remove"
            },
            names
                .iter()
                .zip(&versions)
                .filter(|(_, v)| v.is_some())
                .map(|(n, _)| n.clone())
                .collect(),
        ),
    };
    if todo.is_empty() {
        if log.is_empty() {
            r.msg = Some(format!(
                "{} already {}",
                names.join(", "),
                if verb == "install" {
                    "installed"
                } else {
                    "absent"
                }
            ));
        } else {
            r.msg = Some(log.join("; "));
        }
        return Ok(r);
    }
    r.changed = true;
    log.push(format!("{verb} {}", todo.join(" ")));
    r.msg = Some(log.join("; "));
    if ctx.diff {
        r.diff.push(super::Diff {
            before_header: "packages".into(),
            after_header: "packages".into(),
            before: String::new(),
            after: format!("{verb}: {}\n", todo.join(", ")),
        });
    }
    if ctx.check {
        return Ok(r);
    }
    let mut cmd = format!("{APT_GET} {verb}");
    if verb == "install" && !a.bool("install_recommends", true)? {
        cmd.push_str(" --no-install-recommends");
    }
    if let Some(rel) = a.opt_str("default_release")? {
        cmd.push_str(&format!(" -t {}", sh_quote(&rel)));
    }
    // Playbook values after `--`: a name is never taken for an option.
    cmd.push_str(" --");
    for n in &todo {
        cmd.push(' ');
        cmd.push_str(&sh_quote(n));
    }
    if a.bool("autoremove", false)? && verb != "install" {
        cmd.push_str(&format!(" && {APT_GET} autoremove"));
    }
    let out = ctx.sh(&cmd, None).await?;
    if out.rc != 0 {
        return Ok(fail_with(out, &format!("apt-get {verb} failed")));
    }
    r.stdout = Some(out.stdout);
    Ok(r)
}

fn fail_with(out: crate::transport::Output, what: &str) -> ModuleResult {
    let mut r = ModuleResult::fail(format!("{what}: {}", last_lines(&out.stderr, 5)));
    r.rc = Some(out.rc);
    r.stdout = Some(out.stdout);
    r.stderr = Some(out.stderr);
    r
}

fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// (package, installed, candidate) from `apt-cache policy` output.
fn parse_policy(text: &str) -> Vec<(String, Option<String>, Option<String>)> {
    let mut out = Vec::new();
    let mut cur: Option<(String, Option<String>, Option<String>)> = None;
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            if let Some(c) = cur.take() {
                out.push(c);
            }
            cur = Some((line.trim_end_matches(':').to_string(), None, None));
        } else if let Some(c) = cur.as_mut() {
            let t = line.trim();
            let val = |s: &str| {
                let v = s.trim();
                (v != "(none)").then(|| v.to_string())
            };
            if let Some(v) = t.strip_prefix("Installed:") {
                c.1 = val(v);
            } else if let Some(v) = t.strip_prefix("Candidate:") {
                c.2 = val(v);
            }
        }
    }
    if let Some(c) = cur {
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_parsing() {
        let p = parse_policy(
            "postgresql-15:\n  Installed: 15.1\n  Candidate: 15.2\n  Version table:\nfoo:\n  Installed: (none)\n  Candidate: 1\n",
        );
        assert_eq!(
            p[0],
            (
                "postgresql-15".into(),
                Some("15.1".into()),
                Some("15.2".into())
            )
        );
        assert_eq!(p[1].1, None);
    }
}
