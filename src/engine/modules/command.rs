//! `command` and `shell`: run a command, honouring `creates`/`removes`/`chdir`/`stdin`, and for
//! `command` `expand_argument_vars` (`$VAR` and `~user` expanded on the target, as ansible-core's
//! run_command does) and `executable` (ignored with Ansible's warning).
//! A command's effect cannot be predicted: `query` reports it skipped (or, with
//! `creates`/`removes`, whether it would run) — what check mode shows; `apply` runs it.

use serde::Deserialize;
use serde_json::Value;

use super::module::{self, Module, Query};
use super::{Ctx, ModuleError, ModuleResult, args, expand};
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
    /// Accepted and ignored with a warning, as ansible-core does for `command`.
    #[serde(default, deserialize_with = "args::opt_string")]
    executable: Option<String>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    expand_argument_vars: Option<bool>,
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

/// What runs: `shell`'s script text for an interpreter, or `command`'s words (no shell).
enum Program {
    Shell { text: String, exe: String },
    Words { words: Vec<String>, expand: bool },
}

/// What both modules run: the program and its options.
struct Run<'a> {
    module: &'static str,
    program: Program,
    /// Warnings for the result (Ansible's `warnings`).
    warnings: Vec<String>,
    chdir: Option<&'a str>,
    creates: Option<&'a str>,
    removes: Option<&'a str>,
    stdin: Option<&'a str>,
    stdin_add_newline: bool,
    strip_empty_ends: bool,
}

impl Command {
    fn run(&self) -> Result<Run<'_>, ModuleError> {
        let words = match (&self.raw_params, &self.cmd, &self.argv) {
            (Some(t), None, None) | (None, Some(t), None) => split_words(t),
            (None, None, Some(argv)) => argv
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
            (None, None, None) => {
                return Err(ModuleError::Args(
                    "command: one of the following is required: _raw_params, cmd, argv".into(),
                ));
            }
            _ => {
                return Err(ModuleError::Args(
                    "command: parameters are mutually exclusive: _raw_params|cmd|argv".into(),
                ));
            }
        };
        let warnings = self
            .executable
            .iter()
            .map(|exe| {
                format!(
                    "As of Ansible 2.4, the parameter 'executable' is no longer supported with \
                     the 'command' module. Not using '{exe}'."
                )
            })
            .collect();
        Ok(Run {
            module: "command",
            program: Program::Words {
                words,
                expand: self.expand_argument_vars.unwrap_or(true),
            },
            warnings,
            chdir: self.chdir.as_deref(),
            creates: self.creates.as_deref(),
            removes: self.removes.as_deref(),
            stdin: self.stdin.as_deref(),
            stdin_add_newline: self.stdin_add_newline.unwrap_or(true),
            strip_empty_ends: self.strip_empty_ends.unwrap_or(true),
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
            program: Program::Shell {
                text,
                exe: self.executable.clone().unwrap_or_else(|| "/bin/sh".into()),
            },
            warnings: Vec::new(),
            chdir: self.chdir.as_deref(),
            creates: self.creates.as_deref(),
            removes: self.removes.as_deref(),
            stdin: self.stdin.as_deref(),
            stdin_add_newline: self.stdin_add_newline.unwrap_or(true),
            strip_empty_ends: self.strip_empty_ends.unwrap_or(true),
        })
    }
}

/// ansible-core 2.19's command module (which also runs `shell`): its argument spec and the name
/// its action plugins hand it on as, for the "Unsupported parameters" message.
const ANSIBLE_COMMAND: &str = "ansible.legacy.command";
const ANSIBLE_COMMAND_ARGS: &[&str] = &[
    "_raw_params",
    "_uses_shell",
    "argv",
    "chdir",
    "cmd",
    "creates",
    "executable",
    "expand_argument_vars",
    "removes",
    "stdin",
    "stdin_add_newline",
    "strip_empty_ends",
];

impl Module for Command {
    const NAME: &'static str = "command";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = ();
    const PATH_ARGS: &'static [&'static str] = &["chdir", "creates", "removes"];

    fn unsupported(_: &str, unknown: &[&str]) -> String {
        module::unsupported_msg(
            ANSIBLE_COMMAND,
            unknown,
            &module::Supported::plain(ANSIBLE_COMMAND_ARGS),
        )
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        self.run()?.query(ctx).await
    }

    async fn apply(&self, _: (), ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        self.run()?.apply(ctx).await
    }
}

impl Module for Shell {
    const NAME: &'static str = "shell";
    /// The command module takes `argv` for shell too (quoted and joined into the script).
    const ANSIBLE_ONLY: &'static [&'static str] = &["argv"];
    type Pending = ();
    const PATH_ARGS: &'static [&'static str] = &["chdir", "creates", "removes"];

    /// ansible-core's shell action plugin refuses command's `expand_argument_vars` itself, before
    /// the module sees anything (so without the supported list).
    fn action_refuses(action: &str, unknown: &[&str]) -> Option<String> {
        unknown
            .contains(&"expand_argument_vars")
            .then(|| format!("Unsupported parameters for ({action}) module: expand_argument_vars"))
    }

    fn unsupported(_: &str, unknown: &[&str]) -> String {
        module::unsupported_msg(
            ANSIBLE_COMMAND,
            unknown,
            &module::Supported::plain(ANSIBLE_COMMAND_ARGS),
        )
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        self.run()?.query(ctx).await
    }

    async fn apply(&self, _: (), ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        self.run()?.apply(ctx).await
    }
}

impl Run<'_> {
    fn checked(&self) -> Result<(), ModuleError> {
        let empty = match &self.program {
            Program::Shell { text, .. } => text.trim().is_empty(),
            Program::Words { words, .. } => words.is_empty(),
        };
        if empty {
            return Err(ModuleError::Args(format!(
                "{}: the command is empty",
                self.module
            )));
        }
        Ok(())
    }

    /// `cd` to `chdir`; on failure prints `fail` and exits 1 (Ansible reports no cd message).
    /// Physical (`-P`): Python's os.chdir leaves no logical $PWD for the command to see.
    fn chdir_script(&self, fail: &str) -> String {
        match self.chdir {
            Some(dir) => format!(
                "cd -P -- {} 2>/dev/null || {{ echo {fail}; exit 1; }}\n",
                sh_quote(dir)
            ),
            None => String::new(),
        }
    }

    /// creates/removes, checked on the target in the same round trip as the command: prints
    /// `skip` and `C` (creates exists) or `R` (removes does not) and exits when the command is
    /// not to run.
    fn guard(&self, skip: &str) -> String {
        let mut guard = String::new();
        if let Some(c) = self.creates {
            guard.push_str(&format!(
                "for __slm_f in {}; do [ -e \"$__slm_f\" ] && {{ echo {skip}C; exit 0; }}; done\n",
                glob_word(c)
            ));
        }
        if let Some(r) = self.removes {
            guard.push_str(&format!(
                "__slm_found=; for __slm_f in {}; do [ -e \"$__slm_f\" ] && __slm_found=1; done; [ -z \"$__slm_found\" ] && {{ echo {skip}R; exit 0; }}\n",
                glob_word(r)
            ));
        }
        guard
    }

    /// The result when creates/removes stopped the command, as Ansible words it (`would`: check mode).
    fn skipped(&self, out: &str, skip: &str, would: bool) -> Option<ModuleResult> {
        let verb = if would { "Would" } else { "Did" };
        let (msg, stdout) = match out.trim_end().strip_prefix(skip)? {
            "C" => {
                let c = self.creates?;
                (
                    format!("{verb} not run command since '{c}' exists"),
                    format!("skipped, since {c} exists"),
                )
            }
            "R" => {
                let r = self.removes?;
                (
                    format!("{verb} not run command since '{r}' does not exist"),
                    format!("skipped, since {r} does not exist"),
                )
            }
            _ => return None,
        };
        let mut r = ModuleResult::ok().with_msg(msg);
        r.stdout = Some(stdout);
        r.rc = Some(0);
        Some(r)
    }

    fn chdir_failed(&self) -> ModuleResult {
        let mut r = ModuleResult::fail("Unable to change directory before execution.");
        r.stdout = Some(String::new());
        r.stderr = Some(String::new());
        r.extra.insert("cmd".into(), self.cmd_value());
        r
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        self.checked()?;
        const WOULD: &str = "Command would have run if not in check mode";
        let skip = marker("SKIP");
        let guard = self.guard(&skip);
        if guard.is_empty() && self.chdir.is_none() {
            let mut r = ModuleResult::ok().with_msg(WOULD);
            r.rc = Some(0);
            r.skipped = true;
            return Ok(Query::change(r, ()));
        }
        let would_run = marker("WOULD_RUN");
        let chdir_failed = marker("CHDIR");
        let out = ctx
            .query(
                &format!(
                    "{}{guard}echo {would_run}",
                    self.chdir_script(&chdir_failed)
                ),
                None,
            )
            .await?;
        if out.stdout.trim_end() == would_run {
            // Without creates/removes Ansible reports the command skipped, not changed.
            let mut r = ModuleResult::changed(!guard.is_empty()).with_msg(WOULD);
            r.rc = Some(0);
            r.skipped = guard.is_empty();
            return Ok(Query::change(r, ()));
        }
        if out.stdout.trim_end() == chdir_failed {
            return Ok(Query::done(self.chdir_failed()));
        }
        match self.skipped(&out.stdout, &skip, true) {
            Some(r) => Ok(Query::done(r)),
            // The probe failed otherwise: running the command reports why.
            None => Ok(Query::change(ModuleResult::changed(false), ())),
        }
    }

    async fn apply(&self, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        self.checked()?;
        let chdir_failed = marker("CHDIR");
        let mut script = self.chdir_script(&chdir_failed);
        // The skip marker is random per task: a command cannot print it to fake a skip.
        let skip = marker("SKIP");
        let guard = self.guard(&skip);
        script.push_str(&guard);
        let missing = marker("MISSING");
        match &self.program {
            Program::Shell { text, exe } => {
                script.push_str(&format!("exec {} -c {}", sh_quote(exe), sh_quote(text)))
            }
            // `command` does not go through a shell: words are passed as they are (no pipes, no
            // redirection); a program that is not there fails as Python's exec does (rc 2, no output).
            Program::Words { words, expand } => script.push_str(&format!(
                "{}command -v \"$1\" >/dev/null 2>&1 || {{ echo {missing}; exit 2; }}\nexec \"$@\"",
                expand::sh_set_words(words, *expand)
            )),
        }
        let stdin = self.stdin.map(|s| {
            let mut s = s.to_string();
            if self.stdin_add_newline {
                s.push('\n');
            }
            s.into_bytes()
        });
        let started = chrono::Local::now();
        let out = ctx.sh(&script, stdin.as_deref()).await?;
        let ended = chrono::Local::now();
        if !guard.is_empty()
            && out.rc == 0
            && let Some(r) = self.skipped(&out.stdout, &skip, false)
        {
            return Ok(r);
        }
        if self.chdir.is_some() && out.rc == 1 && out.stdout.trim_end() == chdir_failed {
            return Ok(self.chdir_failed());
        }
        if let Program::Words { words, .. } = &self.program
            && out.rc == 2
            && out.stdout.trim_end() == missing
        {
            // ansible-core 2.19's run_command: a generic message and the command as one string.
            let mut r = ModuleResult::fail("Error executing command.");
            r.rc = Some(2);
            r.stdout = Some(String::new());
            r.stderr = Some(String::new());
            r.extra.insert(
                "cmd".into(),
                Value::String(
                    words
                        .iter()
                        .map(|w| py_quote(w))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
            );
            return Ok(r);
        }
        let strip = self.strip_empty_ends;
        let mut r = ModuleResult::changed(true);
        r.rc = Some(out.rc);
        r.stdout = Some(if strip {
            out.stdout.trim_end_matches(['\r', '\n']).to_string()
        } else {
            out.stdout
        });
        r.stderr = Some(if strip {
            out.stderr.trim_end_matches(['\r', '\n']).to_string()
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
        r.extra.insert("cmd".into(), self.cmd_value());
        // As the module registers them, from the controller's clock (the target's would cost a
        // `date` per command); `delta` is what playbooks read.
        r.extra.insert(
            "start".into(),
            crate::compat::py::py_datetime(&started).into(),
        );
        r.extra
            .insert("end".into(), crate::compat::py::py_datetime(&ended).into());
        r.extra.insert(
            "delta".into(),
            crate::compat::py::py_timedelta(ended - started).into(),
        );
        if !self.warnings.is_empty() {
            r.extra
                .insert("warnings".into(), self.warnings.clone().into());
        }
        Ok(r)
    }

    /// The result's `cmd`: `shell`'s text, `command`'s argument list (as Ansible registers them).
    fn cmd_value(&self) -> Value {
        match &self.program {
            Program::Shell { text, .. } => Value::String(text.clone()),
            Program::Words { words, .. } => words.clone().into(),
        }
    }
}

/// `__SLM_<WHAT>_<random hex>__`.
fn marker(what: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("__SLM_{what}_{}__", hex::encode(bytes))
}

/// A path that may contain a glob: quote everything except glob characters.
fn glob_word(p: &str) -> String {
    if p.contains(['*', '?', '[']) {
        p.split('*').map(sh_quote).collect::<Vec<_>>().join("*")
    } else {
        sh_quote(p)
    }
}

/// Python's `shlex.quote`: safe words as they are, others in single quotes.
fn py_quote(w: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !w.is_empty() && w.chars().all(safe) {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\"'\"'"))
    }
}

/// `command`'s text split into words like a shell would (quotes respected, operators stay
/// literal words), as Ansible's `shlex.split`.
fn split_words(text: &str) -> Vec<String> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_words_keep_operators_literal() {
        assert_eq!(split_words("echo 'a b' | x"), ["echo", "a b", "|", "x"]);
        assert_eq!(
            split_words(r#"printf "%s\n" hi"#),
            ["printf", r"%s\n", "hi"]
        );
    }

    /// shell's action plugin refuses `expand_argument_vars` in its own words; anything else
    /// unknown is the command module's (which runs both) message.
    #[test]
    fn unsupported_arguments_are_worded_as_ansible_core_2_19() {
        assert_eq!(
            Shell::action_refuses("ansible.builtin.shell", &["bogus", "expand_argument_vars"])
                .as_deref(),
            Some("Unsupported parameters for (ansible.builtin.shell) module: expand_argument_vars")
        );
        assert_eq!(Shell::action_refuses("shell", &["bogus"]), None);
        let want = "Unsupported parameters for (ansible.legacy.command) module: bogus, warn. \
                    Supported parameters include: _raw_params, _uses_shell, argv, chdir, cmd, \
                    creates, executable, expand_argument_vars, removes, stdin, stdin_add_newline, \
                    strip_empty_ends.";
        assert_eq!(Shell::unsupported("shell", &["bogus", "warn"]), want);
        assert_eq!(Command::unsupported("command", &["bogus", "warn"]), want);
    }

    #[test]
    fn py_quote_is_shlex_quote() {
        assert_eq!(py_quote("a-b/c.d:e"), "a-b/c.d:e");
        assert_eq!(py_quote(""), "''");
        assert_eq!(py_quote("it's"), r#"'it'"'"'s'"#);
    }
}
