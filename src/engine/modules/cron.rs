//! `cron`: a named job (`#Ansible: NAME` above it) or an environment line in a user's crontab
//! (through `crontab -l` / `crontab -`) or in a file under /etc/cron.d (`cron_file`, written
//! directly), changed as Ansible's module changes it. Unlike Ansible's module, a `cron_file`
//! does not need the `crontab` program on the target.

use serde::Deserialize;
use serde_json::Value;

use super::files::write_plain;
use super::module::{Module, Query};
use super::{Ctx, Diff, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

const MARK: &str = "#Ansible: ";
const SPECIAL: &[&str] = &[
    "reboot", "yearly", "annually", "monthly", "weekly", "daily", "hourly",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cron {
    #[serde(deserialize_with = "args::string")]
    name: String,
    #[serde(default, deserialize_with = "args::opt_string")]
    user: Option<String>,
    #[serde(default, alias = "value", deserialize_with = "args::opt_string")]
    job: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    cron_file: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    backup: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_string")]
    minute: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    hour: Option<String>,
    #[serde(default, alias = "dom", deserialize_with = "args::opt_string")]
    day: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    month: Option<String>,
    #[serde(default, alias = "dow", deserialize_with = "args::opt_string")]
    weekday: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    special_time: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    disabled: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    env: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_string")]
    insertafter: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    insertbefore: Option<String>,
}

/// The crontab's new text (None: remove the cron_file) and its old one (for `backup`).
pub struct CronChange {
    text: Option<String>,
    old: String,
    result: ModuleResult,
}

impl Module for Cron {
    const NAME: &'static str = "cron";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = CronChange;
    const PATH_ARGS: &'static [&'static str] = &["cron_file"];

    fn validate(&self) -> Result<(), ModuleError> {
        super::args::choice(
            "cron",
            "state",
            self.state.as_deref(),
            &["present", "absent"],
        )?;
        if let Some(s) = &self.special_time
            && !SPECIAL.contains(&s.as_str())
        {
            return Err(ModuleError::Args(format!(
                "cron: argument 'special_time' is {s:?}; valid: {}",
                SPECIAL.join(", ")
            )));
        }
        if self.insertafter.is_some() && self.insertbefore.is_some() {
            return Err(ModuleError::Args(
                "parameters are mutually exclusive: insertafter|insertbefore".into(),
            ));
        }
        if self.user.as_deref().is_some_and(|u| u.starts_with('-')) {
            return Err(ModuleError::Args(
                "cron: argument 'user' may not start with '-'".into(),
            ));
        }
        Ok(())
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<CronChange>, ModuleError> {
        let fail = |m: &str| Ok(Query::done(ModuleResult::fail(m)));
        let install = self.state.as_deref().unwrap_or("present") == "present";
        let cron_file = self.cron_file.as_ref().map(|f| {
            if f.starts_with('/') {
                f.clone()
            } else {
                format!("/etc/cron.d/{f}")
            }
        });
        if cron_file.as_deref() == Some("/etc/crontab") {
            return fail("Will not manage /etc/crontab via cron_file, see documentation.");
        }
        let times = [
            &self.minute,
            &self.hour,
            &self.day,
            &self.month,
            &self.weekday,
        ]
        .map(|t| t.clone().unwrap_or_else(|| "*".into()));
        if self.special_time.is_some() && times.iter().any(|t| t != "*") {
            return fail(
                "You cannot combine special_time with any of the time or day/date parameters.",
            );
        }
        let env = self.env.unwrap_or(false);
        if install {
            if cron_file.is_some() && self.user.is_none() {
                return fail("To use cron_file=... parameter you must specify user=... as well");
            }
            if self.job.is_none() {
                return fail("You must specify 'job' to install a new cron job or variable");
            }
            if (self.insertafter.is_some() || self.insertbefore.is_some()) && !env {
                return fail("Insertafter and insertbefore parameters are valid only with env=yes");
            }
        }
        let (existing, mut lines) = match self.read(ctx, cron_file.as_deref()).await? {
            Ok(x) => x,
            Err(msg) => return fail(&msg),
        };
        let before = render(&lines);
        let name = self.name.as_str();
        let mut changed = false;
        let mut r = ModuleResult::ok();
        if env {
            if name.contains(' ') {
                return fail("Invalid name for environment variable");
            }
            let decl = format!("{name}=\"{}\"", self.job.as_deref().unwrap_or(""));
            let prefix = format!("{name}=");
            let old = lines.iter().position(|l| l.starts_with(&prefix));
            match (install, old) {
                (true, None) => {
                    let at = match (&self.insertafter, &self.insertbefore) {
                        (None, None) => Some(0),
                        (a, b) => {
                            let other = a.as_ref().or(b.as_ref()).cloned().unwrap_or_default();
                            let p = format!("{other}=");
                            match lines.iter().position(|l| l.starts_with(&p)) {
                                Some(i) if a.is_some() => Some(i + 1),
                                Some(i) => Some(i),
                                None => {
                                    return fail(&format!("Variable named '{other}' not found."));
                                }
                            }
                        }
                    };
                    lines.insert(at.unwrap_or(0), decl);
                    changed = true;
                }
                (true, Some(i)) if lines[i] != decl => {
                    lines = lines
                        .into_iter()
                        .map(|l| {
                            if l.starts_with(&prefix) {
                                decl.clone()
                            } else {
                                l
                            }
                        })
                        .collect();
                    changed = true;
                }
                (false, Some(_)) => {
                    lines.retain(|l| !l.starts_with(&prefix));
                    changed = true;
                }
                _ => {}
            }
        } else if install {
            let job = self.cron_line(cron_file.is_some(), &times);
            let old = find_job(&mut lines, name, Some(&job));
            if old.is_empty() {
                lines.push(format!("{MARK}{name}"));
                lines.push(job);
                changed = true;
            } else if old[1] != job || old.len() > 2 {
                lines = update_job(&lines, name, Some(&job));
                changed = true;
            }
        } else if !find_job(&mut lines, name, None).is_empty() {
            lines = update_job(&lines, name, None);
            changed = true;
            if let Some(f) = &cron_file
                && lines.iter().all(|l| l.trim().is_empty())
            {
                let mut r = ModuleResult::changed(true);
                r.extra
                    .insert("cron_file".into(), self.cron_file.clone().into());
                r.extra.insert("state".into(), "absent".into());
                if ctx.diff {
                    r.diff.push(Diff {
                        before_header: f.clone(),
                        after_header: "/dev/null".into(),
                        before: existing.clone(),
                        after: String::new(),
                    });
                }
                return Ok(Query::change(
                    r.clone(),
                    CronChange {
                        text: None,
                        old: before,
                        result: r,
                    },
                ));
            }
        }
        // A crontab without a final newline is rewritten with one.
        if !changed && !existing.is_empty() && !existing.ends_with(['\n', '\r']) {
            changed = true;
        }
        r.changed = changed;
        r.extra.insert(
            "jobs".into(),
            serde_json::json!(
                lines
                    .iter()
                    .filter_map(|l| l.strip_prefix(MARK))
                    .collect::<Vec<_>>()
            ),
        );
        r.extra.insert(
            "envs".into(),
            serde_json::json!(
                lines
                    .iter()
                    .filter(|l| {
                        l.split_once('=')
                            .is_some_and(|(k, _)| !k.is_empty() && !k.contains(char::is_whitespace))
                    })
                    .map(|l| l.split('=').next().unwrap_or(""))
                    .collect::<Vec<_>>()
            ),
        );
        if let Some(f) = &self.cron_file {
            r.extra.insert("cron_file".into(), f.clone().into());
        }
        if !changed {
            return Ok(Query::done(r));
        }
        let after = render(&lines);
        if ctx.diff {
            let header = match (&cron_file, &self.user) {
                (Some(f), _) => f.clone(),
                (None, Some(u)) => format!("crontab for user \"{u}\""),
                (None, None) => "crontab".into(),
            };
            r.diff.push(Diff {
                before_header: header.clone(),
                after_header: header,
                before: existing,
                after: after.clone(),
            });
        }
        Ok(Query::change(
            r.clone(),
            CronChange {
                text: Some(after),
                old: before,
                result: r,
            },
        ))
    }

    async fn apply(&self, c: CronChange, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let mut r = c.result;
        if self.backup.unwrap_or(false) {
            let out = ctx
                .query(
                    "f=$(mktemp \"${TMPDIR:-/tmp}/crontabXXXXXXXX\") && cat > \"$f\" && echo \"$f\"",
                    Some(c.old.as_bytes()),
                )
                .await?;
            if out.rc != 0 {
                return Ok(ModuleResult::fail(format!(
                    "cannot write the crontab backup: {}",
                    out.stderr.trim()
                )));
            }
            r.extra
                .insert("backup_file".into(), Value::from(out.stdout.trim()));
        }
        let cron_file = self.cron_file.as_ref().map(|f| {
            if f.starts_with('/') {
                f.clone()
            } else {
                format!("/etc/cron.d/{f}")
            }
        });
        match (&cron_file, c.text) {
            (Some(f), None) => {
                let out = ctx.query(&format!("rm -- {}", sh_quote(f)), None).await?;
                r.changed = out.rc == 0;
            }
            (Some(f), Some(text)) => {
                write_plain(ctx, f, text.as_bytes()).await?;
            }
            (None, text) => {
                let out = ctx
                    .query(
                        &format!("crontab {}-", self.user_opt()),
                        Some(text.unwrap_or_default().as_bytes()),
                    )
                    .await?;
                if out.rc != 0 {
                    let mut f = ModuleResult::fail("Failed to install new cronfile");
                    f.rc = Some(out.rc);
                    f.stderr = Some(out.stderr);
                    f.stdout = Some(out.stdout);
                    return Ok(f);
                }
            }
        }
        Ok(r)
    }
}

impl Cron {
    /// `-u USER ` when the crontab is another user's than the login's.
    fn user_opt(&self) -> String {
        match &self.user {
            Some(u) => format!(
                "$([ \"$(id -un)\" = {q} ] || printf -- '-u %s ' {q})",
                q = sh_quote(u)
            ),
            None => String::new(),
        }
    }

    /// (the text as read, its lines) of the cron_file or the user's crontab; Err: what failed.
    async fn read(
        &self,
        ctx: &Ctx<'_>,
        cron_file: Option<&str>,
    ) -> Result<Result<(String, Vec<String>), String>, ModuleError> {
        if let Some(f) = cron_file {
            let out = ctx
                .query(&format!("cat -- {} 2>/dev/null; true", sh_quote(f)), None)
                .await?;
            let text = out.stdout;
            let lines = text.lines().map(str::to_string).collect();
            return Ok(Ok((text, lines)));
        }
        let out = ctx
            .query(
                &format!(
                    "command -v crontab >/dev/null 2>&1 || {{ echo 'the crontab program is missing on the target (install cron, or use cron_file)' >&2; exit 127; }}; \
                     crontab {}-l",
                    self.user_opt()
                ),
                None,
            )
            .await?;
        if out.rc == 127 {
            return Ok(Err(format!("cron: {}", out.stderr.trim())));
        }
        if out.rc != 0 && out.rc != 1 {
            return Ok(Err("Unable to read crontab".into()));
        }
        // crontab -l's own header (at most the first three lines) is not part of the crontab.
        let mut text = out.stdout.clone();
        let mut lines = Vec::new();
        for (i, l) in out.stdout.lines().enumerate() {
            let header = i <= 2
                && (l.starts_with("# DO NOT EDIT THIS FILE - edit the master and reinstall.")
                    || (l.starts_with("# (/tmp/") && l.contains("installed on"))
                    || (l.starts_with("# (") && l.contains("version")));
            if header {
                text = text.replacen(&format!("{l}\n"), "", 1);
            } else {
                lines.push(l.to_string());
            }
        }
        Ok(Ok((text, lines)))
    }

    fn cron_line(&self, in_file: bool, times: &[String; 5]) -> String {
        let job = self.job.as_deref().unwrap_or("").trim_matches(['\r', '\n']);
        let prefix = if self.disabled.unwrap_or(false) {
            "#"
        } else {
            ""
        };
        let user = match (in_file, &self.user) {
            (true, Some(u)) => format!("{u} "),
            _ => String::new(),
        };
        match &self.special_time {
            Some(s) => format!("{prefix}@{s} {user}{job}"),
            None => format!("{prefix}{} {user}{job}", times.join(" ")),
        }
    }
}

/// Ansible's `find_job`: [mark, job] of the named job; or, when `job` is found without a mark
/// above it, the mark inserted and [mark, job, true] (a change).
fn find_job(lines: &mut Vec<String>, name: &str, job: Option<&str>) -> Vec<String> {
    let mut comment: Option<String> = None;
    for l in lines.iter() {
        if let Some(c) = &comment {
            if c == name {
                return vec![format!("{MARK}{c}"), l.clone()];
            }
            comment = None;
        } else if let Some(c) = l.strip_prefix(MARK) {
            comment = Some(c.to_string());
        }
    }
    if let Some(job) = job {
        for i in 0..lines.len() {
            if lines[i] == job {
                let prev = if i > 0 { lines[i - 1].as_str() } else { "" };
                if !prev.starts_with(MARK) {
                    lines.insert(i, format!("{MARK}{name}"));
                    return vec![lines[i].clone(), job.to_string(), "true".into()];
                } else if prev == format!("{MARK}None") {
                    lines[i - 1] = format!("{MARK}{name}");
                    return vec![lines[i - 1].clone(), job.to_string(), "true".into()];
                }
            }
        }
    }
    Vec::new()
}

/// Ansible's `_update_job`: the line after the named mark replaced by `job` (with its mark) or,
/// for None, both removed.
fn update_job(lines: &[String], name: &str, job: Option<&str>) -> Vec<String> {
    let mark = format!("{MARK}{name}");
    let mut out = Vec::new();
    let mut pending = false;
    for l in lines {
        if pending {
            if let Some(j) = job {
                out.push(mark.clone());
                out.push(j.to_string());
            }
            pending = false;
        } else if *l == mark {
            pending = true;
        } else {
            out.push(l.clone());
        }
    }
    out
}

fn render(lines: &[String]) -> String {
    let text = lines.join("\n");
    if text.is_empty() {
        text
    } else {
        format!("{}\n", text.trim_end_matches(['\r', '\n']))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn jobs_found_updated_and_removed_as_ansible() {
        let mut lines = v(&["#Ansible: a", "* * * * * x", "0 1 * * * y"]);
        assert_eq!(
            find_job(&mut lines, "a", None),
            v(&["#Ansible: a", "* * * * * x"])
        );
        // An unmarked identical job gets the mark.
        let found = find_job(&mut lines, "b", Some("0 1 * * * y"));
        assert_eq!(found.len(), 3);
        assert_eq!(lines[2], "#Ansible: b");
        assert_eq!(
            update_job(&lines, "a", Some("5 * * * * z")),
            v(&["#Ansible: a", "5 * * * * z", "#Ansible: b", "0 1 * * * y"])
        );
        assert_eq!(
            update_job(&lines, "a", None),
            v(&["#Ansible: b", "0 1 * * * y"])
        );
        assert_eq!(render(&v(&["a", "b"])), "a\nb\n");
    }
}
