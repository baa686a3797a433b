//! `command` and `shell`: run a command, honouring `creates`/`removes`/`chdir`/`stdin`.

use serde_json::Value;

use super::{Args, Ctx, ModuleError, ModuleResult};
use crate::transport::sh_quote;

pub async fn run(module: &str, a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let text = match (
        a.opt_str("_raw_params")?,
        a.opt_str("cmd")?,
        a.map.get("argv"),
    ) {
        (Some(t), _, _) | (None, Some(t), _) => t,
        (None, None, Some(Value::Array(argv))) => argv
            .iter()
            .map(|v| match v {
                Value::String(s) => sh_quote(s),
                other => sh_quote(&other.to_string()),
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => {
            return Err(ModuleError::Args(format!(
                "{module}: no command given (free-form text, cmd or argv)"
            )));
        }
    };
    if text.trim().is_empty() {
        return Err(ModuleError::Args(format!("{module}: the command is empty")));
    }
    let mut script = String::new();
    if let Some(dir) = a.opt_str("chdir")? {
        script.push_str(&format!("cd -- {} || exit 1\n", sh_quote(&dir)));
    }
    // creates/removes are checked on the target in the same round trip as the command.
    let creates = a.opt_str("creates")?;
    let removes = a.opt_str("removes")?;
    // The skip marker is random per task: a command cannot print it to fake a skip.
    let skip = marker("SKIP");
    let mut guard = String::new();
    if let Some(c) = &creates {
        guard.push_str(&format!(
            "for f in {}; do [ -e \"$f\" ] && {{ echo {skip}; exit 0; }}; done\n",
            glob_word(c)
        ));
    }
    if let Some(r) = &removes {
        guard.push_str(&format!(
            "found=; for f in {}; do [ -e \"$f\" ] && found=1; done; [ -z \"$found\" ] && {{ echo {skip}; exit 0; }}\n",
            glob_word(r)
        ));
    }
    if ctx.check {
        if guard.is_empty() {
            let mut r = ModuleResult::ok()
                .with_msg("skipped in check mode: command/shell cannot be predicted");
            r.skipped = true;
            return Ok(r);
        }
        let would_run = marker("WOULD_RUN");
        let out = ctx
            .query(&format!("{script}{guard}echo {would_run}"), None)
            .await?;
        let mut r = ModuleResult::changed(out.stdout.contains(&would_run));
        if !r.changed {
            r.msg = Some(skip_msg(&creates, &removes));
        }
        return Ok(r);
    }
    script.push_str(&guard);
    if module == "shell" {
        let exe = a.str_or("executable", "/bin/sh")?;
        script.push_str(&format!("exec {} -c {}", sh_quote(&exe), sh_quote(&text)));
    } else {
        // `command` does not go through a shell: words are passed as-is (no pipes, no redirection).
        script.push_str(&format!("exec {}", command_words(&text)));
    }
    let stdin = match a.opt_str("stdin")? {
        Some(mut s) => {
            if a.bool("stdin_add_newline", true)? {
                s.push('\n');
            }
            Some(s.into_bytes())
        }
        None => None,
    };
    let out = ctx.sh(&script, stdin.as_deref()).await?;
    if !guard.is_empty() && out.rc == 0 && out.stdout.trim_end() == skip {
        return Ok(ModuleResult::ok().with_msg(skip_msg(&creates, &removes)));
    }
    let strip = a.bool("strip_empty_ends", true)?;
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
