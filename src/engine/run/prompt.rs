//! `vars_prompt` as ansible-core 2.19's PlaybookExecutor does it: when a play starts (after the
//! earlier plays, before its PLAY banner) its entries are templated with the extra vars and the
//! play's vars, and each variable the extra vars do not give is asked (`Display.do_var_prompt`):
//! an empty answer takes the default, stdin that is not a terminal asks nothing (one warning;
//! the default, or the text `None`), `encrypt` hashes the answer, and the value becomes a play
//! var (`unsafe: true`: never templated). A private answer is a secret: the redactor masks it
//! in every event, so neither the journal nor the screen nor an error shows it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Map, Value};

use super::Shared;
use crate::engine::events::RunEvent;
use crate::engine::prompt::{Answer, Ask, message};
use crate::playbook::vars_prompt::check_scheme;

/// ansible-core's `random_salt`/passlib rounds for `sha512_crypt` (its `implicit_rounds`).
const SHA512_ROUNDS: u32 = 656_000;
const SHA512_SALT: usize = 16;

/// What a play's prompts set: play vars, and those of `unsafe: true` (never templated).
#[derive(Debug, Default, Clone)]
pub(super) struct Prompted {
    pub vars: Map<String, Value>,
    pub literal: Map<String, Value>,
}

/// Asks play `idx`'s questions; Err stops the run (`ERROR! …`, as ansible-playbook would).
pub(super) async fn ask_play(shared: &Arc<Shared>, idx: usize) -> Result<Prompted, String> {
    let plan = &shared.plan;
    let play = &plan.playbook.plays[idx];
    let mut out = Prompted::default();
    if play.vars_prompt.is_empty() {
        return Ok(out);
    }
    // PlaybookExecutor templates the whole list once with the play's variables (no host).
    let mut scope = crate::template::Scope::new(plan.templar.clone());
    scope.layers.push(plan.extra.clone());
    scope.layers.push(play.role_vars.clone());
    scope.layers.push(plan.play_vars_files[idx].clone());
    scope.layers.push(Arc::new(play.common.vars.clone()));
    scope.layers.push(play.role_defaults.clone());
    let scope = scope.into_value();
    for p in &play.vars_prompt {
        let at = p.pos.to_string();
        let entry = plan
            .templar
            .render_value(&Value::Object(p.entry.clone()), &scope)
            .map_err(|e| format!("{at}: vars_prompt '{}': {e}", p.name))?;
        let field = |k: &str| entry.get(k).filter(|v| !v.is_null());
        let name = field("name").map(py_str).unwrap_or_default();
        if plan.extra.contains_key(&name) {
            continue;
        }
        let flag = |k: &str, dflt: bool| -> Result<bool, String> {
            field(k).map_or(Ok(dflt), |v| {
                boolean(v).ok_or_else(|| {
                    format!("{at}: vars_prompt '{name}': {k}: the value {v} is not a valid boolean")
                })
            })
        };
        let private = flag("private", true)?;
        let confirm = flag("confirm", false)?;
        let unsafe_ = flag("unsafe", false)?;
        // `prompt` defaults to the name; a null or empty one asks "input for NAME".
        let prompt = match entry.get("prompt") {
            None => Some(name.clone()),
            Some(v) => (!v.is_null()).then(|| py_str(v)),
        };
        let default = field("default").map(py_str);
        let encrypt = field("encrypt").map(py_str);
        if let Some(scheme) = &encrypt {
            check_scheme(scheme).map_err(|e| format!("{at}: {}", e.msg))?;
        }
        let ask = Ask {
            var: name.clone(),
            msg: message(&name, prompt.as_deref(), default.as_deref()),
            private,
            confirm,
        };
        let typed = match plan.request.prompter.clone() {
            // The wizard: plan time made sure such a question has a default.
            None => None,
            Some(prompter) => {
                // The prompt comes after what the earlier plays printed.
                shared.events.drained().await;
                let answer = tokio::task::spawn_blocking(move || prompter.ask(&ask))
                    .await
                    .map_err(|e| format!("{at}: vars_prompt '{name}': {e}"))?
                    .map_err(|e| format!("{at}: vars_prompt '{name}': {e}"))?;
                match answer {
                    Answer::Typed(s) => Some(s),
                    Answer::NotInteractive => {
                        // Display dedupes warnings: one per run.
                        if !shared.warned_not_interactive.swap(true, Ordering::SeqCst) {
                            shared.emit(RunEvent::Warning {
                                msg: "Not prompting as we are not in interactive mode".into(),
                            });
                        }
                        None
                    }
                }
            }
        };
        if private && let Some(s) = &typed {
            shared.plan.redactor.add(s);
        }
        let mut value = match (typed, &default) {
            (Some(s), _) if !s.is_empty() => s,
            (_, Some(d)) => d.clone(),
            (Some(s), None) => s,
            // to_text(None) in do_var_prompt.
            (None, None) => "None".to_string(),
        };
        if encrypt.is_some() {
            value = hash(&field("salt").map(py_str), field("salt_size"), &value)
                .map_err(|e| format!("{at}: vars_prompt '{name}': {e}"))?;
        }
        let into = if unsafe_ {
            &mut out.literal
        } else {
            &mut out.vars
        };
        into.insert(name, Value::String(value));
    }
    Ok(out)
}

/// `do_encrypt(value, 'sha512_crypt', salt_size=…, salt=…)` with passlib's settings.
fn hash(salt: &Option<String>, salt_size: Option<&Value>, value: &str) -> Result<String, String> {
    use crate::template::filters::crypt::{ITOA64, random_salt, sha512_crypt};
    let salt = match salt.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => {
            if let Some(bad) = s.bytes().find(|b| !ITOA64.contains(b)) {
                return Err(format!(
                    "Could not hash the secret: invalid character in salt: '{}' (valid: ./0-9A-Za-z)",
                    bad as char
                ));
            }
            s.to_string()
        }
        None => {
            let size = match salt_size {
                None => SHA512_SALT,
                Some(v) => v
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| (1..=SHA512_SALT).contains(n))
                    .ok_or_else(|| {
                        format!("salt_size must be an integer from 1 to {SHA512_SALT}, not {v}")
                    })?,
            };
            random_salt(size)
        }
    };
    Ok(sha512_crypt(value.as_bytes(), &salt, Some(SHA512_ROUNDS)))
}

/// Python's `str()` of a YAML value, as `"%s" % value` shows it.
fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => crate::compat::py::py_float_repr(f),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// ansible's `boolean()`: None when the value is not one.
fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" | "on" | "1" | "true" | "t" => Some(true),
            "n" | "no" | "off" | "0" | "false" | "f" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn booleans_as_ansible_reads_them() {
        assert_eq!(boolean(&json!("yes")), Some(true));
        assert_eq!(boolean(&json!("False")), Some(false));
        assert_eq!(boolean(&json!(1)), Some(true));
        assert_eq!(boolean(&json!("maybe")), None);
    }

    #[test]
    fn hash_with_a_given_salt_is_passlibs() {
        let h = hash(&Some("saltsalt".into()), None, "secret").unwrap_or_default();
        assert!(h.starts_with("$6$rounds=656000$saltsalt$"), "{h}");
        assert!(hash(&Some("bad salt".into()), None, "x").is_err());
        let r = hash(&None, Some(&json!(8)), "x").unwrap_or_default();
        assert_eq!(r.split('$').nth(3).map(str::len), Some(8), "{r}");
    }

    #[test]
    fn py_str_of_defaults() {
        assert_eq!(py_str(&json!(5)), "5");
        assert_eq!(py_str(&json!(true)), "True");
        assert_eq!(py_str(&json!("x")), "x");
    }
}
