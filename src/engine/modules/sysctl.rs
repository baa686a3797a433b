//! `sysctl` (ansible.posix): a kernel parameter in a sysctl file (`/etc/sysctl.conf` unless
//! `sysctl_file`), and — with `sysctl_set` or `reload` — in the running kernel, decided as the
//! collection's module decides it: the file line first, the running value second; the file
//! rewritten with one `key=value` line per key; `sysctl -p FILE` after any change.

use serde::Deserialize;

use super::files::write_plain;
use super::module::{Module, Query};
use super::{Ctx, Diff, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sysctl {
    #[serde(alias = "key", deserialize_with = "args::string")]
    name: String,
    #[serde(default, alias = "val", deserialize_with = "args::opt_string")]
    value: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    reload: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    sysctl_set: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    ignoreerrors: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_string")]
    sysctl_file: Option<String>,
}

/// What `apply` does, in the module's order: set the running value, write the file, reload.
pub struct SysctlChange {
    set_proc: bool,
    /// The file (symlinks resolved) and its new text.
    write: Option<(String, String)>,
    reload: bool,
    value: String,
}

impl Module for Sysctl {
    const NAME: &'static str = "sysctl";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = SysctlChange;
    const PATH_ARGS: &'static [&'static str] = &["sysctl_file"];

    fn validate(&self) -> Result<(), ModuleError> {
        let state = super::args::choice(
            "sysctl",
            "state",
            self.state.as_deref(),
            &["present", "absent"],
        )?;
        if self.name.trim().is_empty() {
            return Err(ModuleError::Args("name cannot be blank".into()));
        }
        if self.name.trim().starts_with('-') {
            return Err(ModuleError::Args(
                "sysctl: argument 'name' may not start with '-'".into(),
            ));
        }
        if state == "present" {
            match &self.value {
                None => return Err(ModuleError::Args("value cannot be None".into())),
                Some(v) if v.is_empty() => {
                    return Err(ModuleError::Args("value cannot be blank".into()));
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<SysctlChange>, ModuleError> {
        let name = self.name.trim().to_string();
        let value = parse_value(self.value.as_deref());
        let present = self.state.as_deref().unwrap_or("present") == "present";
        let reload = self.reload.unwrap_or(true);
        let file = self.sysctl_file.as_deref().unwrap_or("/etc/sysctl.conf");
        let out = ctx
            .query(
                &format!(
                    "if v=$(LC_ALL=C sysctl -e -n -- {} 2>/dev/null); then printf 'P%s\\n' \"$v\"; fi\n\
                     f=$(readlink -f -- {f} 2>/dev/null) || f={f}; printf 'F%s\\n' \"$f\"\n\
                     [ -f \"$f\" ] && sed 's/^/L/' \"$f\"; true",
                    sh_quote(&name),
                    f = sh_quote(file),
                ),
                None,
            )
            .await?;
        let mut proc_value: Option<String> = None;
        let mut real = file.to_string();
        let mut lines: Vec<String> = Vec::new();
        for l in out.stdout.lines() {
            if let Some(v) = l.strip_prefix('P') {
                proc_value = Some(v.to_string());
            } else if let Some(f) = l.strip_prefix('F') {
                real = f.to_string();
            } else if let Some(t) = l.strip_prefix('L') {
                lines.push(t.trim().to_string());
            }
        }
        let file_value = lines.iter().rev().find_map(|l| {
            let (k, v) = key_value(l)?;
            (k == name).then(|| v.to_string())
        });
        let mut changed = false;
        let mut write_file = false;
        let mut set_proc = false;
        match (&file_value, present) {
            (None, true) => (changed, write_file) = (true, true),
            (None, false) => {}
            (Some(v), false) if !v.is_empty() => (changed, write_file) = (true, true),
            (Some(v), _) if *v != value => (changed, write_file) = (true, true),
            _ if reload => {
                changed = !proc_value
                    .as_deref()
                    .is_some_and(|p| values_equal(p, &value));
            }
            _ => {}
        }
        if self.sysctl_set.unwrap_or(false) && present {
            match &proc_value {
                None => changed = true,
                Some(p) if !values_equal(p, &value) => (changed, set_proc) = (true, true),
                _ => {}
            }
        }
        let mut r = ModuleResult::changed(changed);
        if !changed {
            return Ok(Query::done(r));
        }
        let old = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        let new = fixed_lines(&lines, &name, present.then_some(value.as_str()));
        if write_file && ctx.diff {
            r.diff.push(Diff {
                before_header: real.clone(),
                after_header: real.clone(),
                before: old,
                after: new.clone(),
            });
        }
        Ok(Query::change(
            r,
            SysctlChange {
                set_proc,
                write: write_file.then_some((real, new)),
                reload,
                value,
            },
        ))
    }

    async fn apply(&self, c: SysctlChange, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let name = self.name.trim();
        let e = if self.ignoreerrors.unwrap_or(false) {
            " -e"
        } else {
            ""
        };
        if c.set_proc {
            let out = ctx
                .query(
                    &format!(
                        "LC_ALL=C sysctl{e} -w -- {}",
                        sh_quote(&format!("{name}={}", c.value))
                    ),
                    None,
                )
                .await?;
            if out.rc != 0 || stderr_failed(&out.stderr) {
                return Ok(ModuleResult::fail(format!(
                    "setting {name} failed: {}{}",
                    out.stdout, out.stderr
                )));
            }
        }
        if let Some((file, text)) = &c.write {
            write_plain(ctx, file, text.as_bytes()).await?;
        }
        if c.reload {
            let file = self.sysctl_file.as_deref().unwrap_or("/etc/sysctl.conf");
            let out = ctx
                .query(&format!("LC_ALL=C sysctl{e} -p {}", sh_quote(file)), None)
                .await?;
            if out.rc != 0 || stderr_failed(&out.stderr) {
                return Ok(ModuleResult::fail(format!(
                    "Failed to reload sysctl: {}{}",
                    out.stdout, out.stderr
                )));
            }
        }
        Ok(ModuleResult::changed(true))
    }
}

/// `yes`/`no` and the like become 1/0; other values are trimmed (the module's `_parse_value`).
fn parse_value(v: Option<&str>) -> String {
    let Some(v) = v else {
        return String::new();
    };
    match v.to_ascii_lowercase().as_str() {
        "y" | "yes" | "on" | "1" | "true" | "t" => "1".into(),
        "n" | "no" | "off" | "0" | "false" | "f" => "0".into(),
        _ => v.trim().to_string(),
    }
}

/// Whitespace-separated values compared word by word (`1024 65000` = `1024\t65000`).
fn values_equal(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// `key = value` of a setting line; None for blank lines, comments and other text.
fn key_value(line: &str) -> Option<(&str, &str)> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
        return None;
    }
    let (k, v) = t.split_once('=')?;
    Some((k.trim(), v.trim()))
}

/// The file as the module rewrites it: comments kept, each key once as `key=value` (its first
/// line wins, ours replaced or dropped), a new key appended.
fn fixed_lines(lines: &[String], name: &str, value: Option<&str>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = String::new();
    for l in lines {
        let Some((k, v)) = key_value(l) else {
            out.push_str(l.trim());
            out.push('\n');
            continue;
        };
        if seen.contains(&k) {
            continue;
        }
        seen.push(k);
        if k == name {
            if let Some(val) = value {
                out.push_str(&format!("{k}={val}\n"));
            }
        } else {
            out.push_str(&format!("{k}={v}\n"));
        }
    }
    if let Some(val) = value
        && !seen.contains(&name)
    {
        out.push_str(&format!("{name}={val}\n"));
    }
    out
}

/// sysctl exits 0 on some failures; its message says so.
fn stderr_failed(err: &str) -> bool {
    err.lines().any(|l| {
        l.starts_with("sysctl: setting key \"")
            && (l.ends_with("\": Invalid argument") || l.ends_with("\": Read-only file system"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_rewritten_as_the_module_does() {
        let lines: Vec<String> = ["# c", "a = 1", "b=2", "a=3", "", "; x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            fixed_lines(&lines, "b", Some("5")),
            "# c\na=1\nb=5\n\n; x\n"
        );
        assert_eq!(fixed_lines(&lines, "b", None), "# c\na=1\n\n; x\n");
        assert_eq!(
            fixed_lines(&lines, "n", Some("1")),
            "# c\na=1\nb=2\n\n; x\nn=1\n"
        );
        assert_eq!(parse_value(Some("Yes")), "1");
        assert!(values_equal("1024\t65000\n", "1024 65000"));
    }
}
