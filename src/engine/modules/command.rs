//! `command` and `shell`: run a command, honouring `creates`/`removes`/`chdir`/`stdin`.
//! A command's effect cannot be predicted: `query` reports it skipped (or, with
//! `creates`/`removes`, whether it would run) — what check mode shows; `apply` runs it.

use serde::Deserialize;
use serde_json::Value;

use super::module::{Module, Query};
use super::{Ctx, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    #[serde(default, rename = "_raw_params", deserialize_with = "args::opt_string")]
    raw_params: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    cmd: Option<String>,
    #[serde(default)]
    argv: Option<Vec<Value>>,
    #[serde(default, deserialize_with = "args::opt_string")]
    chdir: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    creates: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    removes: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    stdin: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    stdin_add_newline: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    strip_empty_ends: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shell {
    #[serde(default, rename = "_raw_params", deserialize_with = "args::opt_string")]
    raw_params: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    cmd: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    chdir: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    creates: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    removes: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    stdin: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    stdin_add_newline: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    strip_empty_ends: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_string")]
    executable: Option<String>,
}

/// What both modules run: the command text and its options.
struct Run<'a> {
    module: &'static str,
    text: String,
    chdir: Option<&'a str>,
    creates: Option<&'a str>,
    removes: Option<&'a str>,
    stdin: Option<&'a str>,
    stdin_add_newline: bool,
    strip_empty_ends: bool,
    /// `shell`'s interpreter; `None` for `command` (no shell: words passed as they are).
    shell: Option<String>,
}

impl Command {
    fn run(&self) -> Result<Run<'_>, ModuleError> {
        let text = match (&self.raw_params, &self.cmd, &self.argv) {
            (Some(t), _, _) | (None, Some(t), _) => t.clone(),
            (None, None, Some(argv)) => argv
                .iter()
                .map(|v| match v {
                    Value::String(s) => sh_quote(s),
                    other => sh_quote(&other.to_string()),
                })
                .collect::<Vec<_>>()
                .join(" "),
            _ => {
                return Err(ModuleError::Args(
                    "command: no command given (free-form text, cmd or argv)".into(),
                ));
            }
        };
        Ok(Run {
            module: "command",
            text,
            chdir: self.chdir.as_deref(),
            creates: self.creates.as_deref(),
            removes: self.removes.as_deref(),
            stdin: self.stdin.as_deref(),
            stdin_add_newline: self.stdin_add_newline.unwrap_or(true),
            strip_empty_ends: self.strip_empty_ends.unwrap_or(true),
            shell: None,
        })
    }
}

impl Shell {
    fn run(&self) -> Result<Run<'_>, ModuleError> {
        let Some(text) = self.raw_params.clone().or_else(|| self.cmd.clone()) else {
            return Err(ModuleError::Args(
                "shell: no command given (free-form text or cmd)".into(),
            ));
        };
        Ok(Run {
            module: "shell",
            text,
            chdir: self.chdir.as_deref(),
            creates: self.creates.as_deref(),
            removes: self.removes.as_deref(),
            stdin: self.stdin.as_deref(),
            stdin_add_newline: self.stdin_add_newline.unwrap_or(true),
            strip_empty_ends: self.strip_empty_ends.unwrap_or(true),
            shell: Some(self.executable.clone().unwrap_or_else(|| "/bin/sh".into())),
        })
    }
}

impl Module for Command {
    const NAME: &'static str = "command";
    const ANSIBLE_ONLY: &'static [&'static str] = &["executable", "expand_argument_vars", "warn"];
    type Pending = ();

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        self.run()?.query(ctx).await
    }

    async fn apply(&self, _: (), ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        self.run()?.apply(ctx).await
    }
}

impl Module for Shell {
    const NAME: &'static str = "shell";
    const ANSIBLE_ONLY: &'static [&'static str] = &["warn"];
    type Pending = ();

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        self.run()?.query(ctx).await
    }

    async fn apply(&self, _: (), ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        self.run()?.apply(ctx).await
    }
}

impl Run<'_> {
    fn checked_text(&self) -> Result<&str, ModuleError> {
        if self.text.trim().is_empty() {
            return Err(ModuleError::Args(format!(
                "{}: the command is empty",
                self.module
            )));
        }
        Ok(&self.text)
    }

    fn chdir_script(&self) -> String {
        match self.chdir {
            Some(dir) => format!("cd -- {} || exit 1\n", sh_quote(dir)),
            None => String::new(),
        }
    }

    /// creates/removes, checked on the target in the same round trip as the command: prints
    /// `skip` and exits when the command is not to run.
    fn guard(&self, skip: &str) -> String {
        let mut guard = String::new();
        if let Some(c) = self.creates {
            guard.push_str(&format!(
                "for f in {}; do [ -e \"$f\" ] && {{ echo {skip}; exit 0; }}; done\n",
                glob_word(c)
            ));
        }
        if let Some(r) = self.removes {
            guard.push_str(&format!(
                "found=; for f in {}; do [ -e \"$f\" ] && found=1; done; [ -z \"$found\" ] && {{ echo {skip}; exit 0; }}\n",
                glob_word(r)
            ));
        }
        guard
    }

    fn skip_msg(&self) -> String {
        skip_msg(
            &self.creates.map(str::to_string),
            &self.removes.map(str::to_string),
        )
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        self.checked_text()?;
        let guard = self.guard(&marker("SKIP"));
        if guard.is_empty() {
            let mut r = ModuleResult::ok()
                .with_msg("skipped in check mode: command/shell cannot be predicted");
            r.skipped = true;
            return Ok(Query::change(r, ()));
        }
        let would_run = marker("WOULD_RUN");
        let out = ctx
            .query(
                &format!("{}{guard}echo {would_run}", self.chdir_script()),
                None,
            )
            .await?;
        if out.stdout.contains(&would_run) {
            return Ok(Query::change(ModuleResult::changed(true), ()));
        }
        if out.rc != 0 {
            // The probe failed (chdir): running the command reports why.
            return Ok(Query::change(ModuleResult::changed(false), ()));
        }
        Ok(Query::done(
            ModuleResult::changed(false).with_msg(self.skip_msg()),
        ))
    }

    async fn apply(&self, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let text = self.checked_text()?.to_string();
        let mut script = self.chdir_script();
        // The skip marker is random per task: a command cannot print it to fake a skip.
        let skip = marker("SKIP");
        let guard = self.guard(&skip);
        script.push_str(&guard);
        match &self.shell {
            Some(exe) => script.push_str(&format!("exec {} -c {}", sh_quote(exe), sh_quote(&text))),
            // `command` does not go through a shell: words are passed as-is (no pipes, no redirection).
            None => script.push_str(&format!("exec {}", command_words(&text))),
        }
        let stdin = self.stdin.map(|s| {
            let mut s = s.to_string();
            if self.stdin_add_newline {
                s.push('\n');
            }
            s.into_bytes()
        });
        let out = ctx.sh(&script, stdin.as_deref()).await?;
        if !guard.is_empty() && out.rc == 0 && out.stdout.trim_end() == skip {
            return Ok(ModuleResult::ok().with_msg(self.skip_msg()));
        }
        let strip = self.strip_empty_ends;
        let mut r = ModuleResult::changed(true);
        r.rc = Some(out.rc);
        r.stdout = Some(if strip {
            out.stdout.trim_end_matches('\n').to_string()
        } else {
            out.stdout
        });
        r.stderr = Some(if strip {
            out.stderr.trim_end_matches('\n').to_string()
        } else {
            out.stderr
        });
        if let Some(sig) = out.signal {
            r.failed = true;
            r.msg = Some(format!("killed by {sig}"));
        } else if out.rc != 0 {
            r.failed = true;
            r.msg = Some("non-zero return code".into());
        }
        r.extra.insert("cmd".into(), Value::String(text));
        Ok(r)
    }
}

/// `__SLM_<WHAT>_<random hex>__`.
fn marker(what: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("__SLM_{what}_{}__", hex::encode(bytes))
}

fn skip_msg(creates: &Option<String>, removes: &Option<String>) -> String {
    match (creates, removes) {
        (Some(c), _) => format!("Did not run command since '{c}' exists"),
        (_, Some(r)) => format!("Did not run command since '{r}' does not exist"),
        _ => String::new(),
    }
}

/// A path that may contain a glob: quote everything except glob characters.
fn glob_word(p: &str) -> String {
    if p.contains(['*', '?', '[']) {
        p.split('*').map(sh_quote).collect::<Vec<_>>().join("*")
    } else {
        sh_quote(p)
    }
}

/// `command` words: split like a shell would (quotes respected), then each quoted again, so that
/// shell operators in the text stay literal arguments as Ansible's command module does.
fn command_words(text: &str) -> String {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            // Inside double quotes a backslash only escapes $ ` " \ and newline, as in sh.
            Some('"') if c == '\\' => match chars.peek() {
                Some(&n) if "$`\"\\\n".contains(n) => {
                    cur.push(n);
                    chars.next();
                }
                _ => cur.push(c),
            },
            Some(_) => cur.push(c),
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    in_word = true;
                }
                '\\' => {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                        in_word = true;
                    }
                }
                c if c.is_whitespace() => {
                    if in_word {
                        words.push(std::mem::take(&mut cur));
                        in_word = false;
                    }
                }
                c => {
                    cur.push(c);
                    in_word = true;
                }
            },
        }
    }
    if in_word {
        words.push(cur);
    }
    words
        .iter()
        .map(|w| sh_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_words_keep_operators_literal() {
        assert_eq!(command_words("echo 'a b' | x"), "echo 'a b' '|' x");
        assert_eq!(command_words(r#"printf "%s\n" hi"#), r"printf '%s\n' hi");
    }
}
