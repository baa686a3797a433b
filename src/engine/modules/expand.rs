//! Ansible's `type='path'` arguments: AnsibleModule turns each into
//! `os.path.expanduser(os.path.expandvars(value))` on the target, as the module's user (after
//! become, with sudo -H's HOME). [`expand_paths`] does the same for the arguments a module
//! declares ([`super::module::Module::PATH_ARGS`]) before the module sees them: `$VAR`/`${VAR}`
//! from the environment the module would run in (task `environment:` included; an unset variable
//! stays as written), then `~`, `~/x` (HOME, else the passwd entry of the uid) and `~user/x`
//! (the passwd entry; an unknown user stays as written). Values that need neither cost nothing;
//! the others one round trip (two only when a variable expands into a `~user` prefix). Nothing
//! from the task is evaluated by the shell: names are quoted arguments of `printenv`/`getent`.
//! `command`'s own `expand_argument_vars` is the same expansion done by sh ([`sh_set_words`]).

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::{Ctx, ModuleError};
use crate::transport::sh_quote;

/// `args` with the path-typed arguments among `names` expanded; None when none needs it. Those
/// among `lists` are lists of paths: a string is split at commas first (Ansible's `type='list'`;
/// pieces trimmed, as `args::list` reads them).
pub async fn expand_paths(
    args: &Map<String, Value>,
    names: &[&str],
    lists: &[&str],
    ctx: &Ctx<'_>,
) -> Result<Option<Map<String, Value>>, ModuleError> {
    let values: Vec<&str> = names
        .iter()
        .filter_map(|n| args.get(*n).map(|v| (n, v)))
        .flat_map(|(n, v)| match v {
            Value::String(s) if lists.contains(n) => split_list(s),
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        })
        .filter(|s| s.starts_with('~') || !var_names(s).is_empty())
        .collect();
    if values.is_empty() {
        return Ok(None);
    }
    let vars: BTreeSet<String> = values.iter().flat_map(|s| var_names(s)).collect();
    let users: BTreeSet<String> = values
        .iter()
        .filter_map(|s| tilde_user(s))
        .filter(|u| !u.contains('$'))
        .map(str::to_string)
        .collect();
    let mut env = lookup(ctx, &vars, &users).await?;
    // A variable that expanded into a `~user` prefix: that user's home, one more trip.
    let late: BTreeSet<String> = values
        .iter()
        .map(|s| expandvars(s, &env.vars))
        .filter_map(|s| tilde_user(&s).map(str::to_string))
        .filter(|u| !env.homes.contains_key(u))
        .collect();
    if !late.is_empty() {
        env.homes
            .extend(lookup(ctx, &BTreeSet::new(), &late).await?.homes);
    }
    let expand = |s: &str| expanduser(&expandvars(s, &env.vars), &env.homes);
    let mut out = args.clone();
    for name in names {
        match out.get_mut(*name) {
            Some(v @ Value::String(_)) if lists.contains(name) => {
                let pieces = split_list(v.as_str().unwrap_or_default());
                *v = Value::Array(pieces.into_iter().map(|p| expand(p).into()).collect());
            }
            Some(Value::String(s)) => *s = expand(s),
            Some(Value::Array(items)) => {
                for item in items {
                    if let Value::String(s) = item {
                        *s = expand(s);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(Some(out))
}

fn split_list(s: &str) -> Vec<&str> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// What the target's environment and passwd say: variable → value (None: unset), user → home
/// ("" is the module's own user; None: unknown).
struct Env {
    vars: HashMap<String, Option<String>>,
    homes: HashMap<String, Option<String>>,
}

async fn lookup(
    ctx: &Ctx<'_>,
    vars: &BTreeSet<String>,
    users: &BTreeSet<String>,
) -> Result<Env, ModuleError> {
    // One NUL-terminated record per name: `S<value>\n` (printenv's newline), `U` (unset),
    // `P<passwd line>\n` or `P` (no such user).
    let mut script = String::new();
    for v in vars {
        let q = sh_quote(v);
        script.push_str(&format!(
            "if printenv -- {q} >/dev/null; then printf S; printenv -- {q}; else printf U; fi; printf '\\0'\n"
        ));
    }
    for u in users {
        if u.is_empty() {
            script.push_str(
                "if printenv HOME >/dev/null; then printf S; printenv HOME; \
                 else printf P; getent passwd -- \"$(id -u)\"; fi; printf '\\0'\n",
            );
        } else {
            script.push_str(&format!(
                "printf P; getent passwd -- {}; printf '\\0'\n",
                sh_quote(u)
            ));
        }
    }
    script.push_str("exit 0\n");
    let out = ctx.query(&script, None).await?;
    let records: Vec<&[u8]> = out.stdout_bytes.split(|b| *b == 0).collect();
    if out.rc != 0 || records.len() != vars.len() + users.len() + 1 {
        return Err(ModuleError::Args(format!(
            "could not read the target's environment to expand a path argument (rc {}): {}",
            out.rc,
            out.stderr.trim()
        )));
    }
    let text = |r: &[u8]| {
        let s = String::from_utf8_lossy(&r[1.min(r.len())..]).into_owned();
        s.strip_suffix('\n').map(str::to_string).unwrap_or(s)
    };
    let mut env = Env {
        vars: HashMap::new(),
        homes: HashMap::new(),
    };
    for (v, r) in vars.iter().zip(&records) {
        let value = (r.first() == Some(&b'S')).then(|| text(r));
        env.vars.insert(v.clone(), value);
    }
    for (u, r) in users.iter().zip(&records[vars.len()..]) {
        let home = match r.first() {
            Some(b'S') => Some(text(r)),
            Some(b'P') => passwd_home(&text(r), u),
            _ => None,
        };
        env.homes.insert(u.clone(), home);
    }
    Ok(env)
}

/// The home field of a passwd line, when it is `user`'s (getent also answers a uid; Python's
/// getpwnam does not). `user` "" takes any line (it was looked up by uid).
fn passwd_home(line: &str, user: &str) -> Option<String> {
    let fields: Vec<&str> = line.split(':').collect();
    (fields.len() >= 7 && (user.is_empty() || fields[0] == user)).then(|| fields[5].to_string())
}

/// The user a `~` prefix names ("" for the module's own user), or None without one.
fn tilde_user(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('~')?;
    Some(rest.split('/').next().unwrap_or(""))
}

/// The variables Python's `posixpath.expandvars` would look up (`\$(\w+|\{[^}]*\})`, ASCII).
fn var_names(s: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut i = 0;
    while let Some((name, _, end)) = next_var(s, i) {
        names.push(name.to_string());
        i = end;
    }
    names
}

/// The next `$name` / `${name}` at or after byte `from`: (name, start, end).
fn next_var(s: &str, from: usize) -> Option<(&str, usize, usize)> {
    let bytes = s.as_bytes();
    let mut i = from;
    while let Some(off) = s.get(i..)?.find('$') {
        let start = i + off;
        let after = start + 1;
        if bytes.get(after) == Some(&b'{') {
            if let Some(close) = s[after..].find('}') {
                return Some((&s[after + 1..after + close], start, after + close + 1));
            }
        } else {
            let len = s[after..]
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            if len > 0 {
                return Some((&s[after..after + len], start, after + len));
            }
        }
        i = after;
    }
    None
}

/// sh that sets `"$@"` to `words`, for `command` (no shell of its own, so one round trip is
/// the command's): with `expand`, each word becomes what ansible-core's run_command passes with
/// `expand_user_and_vars` — the same idea as [`expand_paths`], evaluated by sh on the target
/// in the command's environment instead of looked up first: a leading `~` / `~user` as sh's
/// tilde expansion (an unknown user stays), then each `$NAME` / `${NAME}` ([`next_var`]) when
/// set, left as written when not. (A name that is no sh identifier, `$1` or `${a b}`, stays
/// literal; Python would look it up in the environment.)
pub(super) fn sh_set_words(words: &[String], expand: bool) -> String {
    let literal = |script: &mut String, lit: &str| {
        if !lit.is_empty() {
            script.push_str(&format!("__slm_a=\"$__slm_a\"{}\n", sh_quote(lit)));
        }
    };
    let mut s = String::from("set --\n");
    for w in words {
        s.push_str("__slm_a=''\n");
        let mut rest = w.as_str();
        if expand
            && let Some(user) = tilde_user(w)
            && user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !user.starts_with('-')
        {
            // Unquoted in an assignment: sh expands the tilde prefix.
            s.push_str(&format!("__slm_a=~{user}\n"));
            rest = &w[1 + user.len()..];
        }
        let mut lit_from = 0;
        let mut search = 0;
        while expand && let Some((name, start, end)) = next_var(rest, search) {
            search = end;
            if !is_sh_name(name) {
                continue;
            }
            literal(&mut s, &rest[lit_from..start]);
            s.push_str(&format!(
                "if [ \"${{{name}+x}}\" ]; then __slm_a=\"$__slm_a${name}\"; else __slm_a=\"$__slm_a\"{}; fi\n",
                sh_quote(&rest[start..end])
            ));
            lit_from = end;
        }
        literal(&mut s, &rest[lit_from..]);
        s.push_str("set -- \"$@\" \"$__slm_a\"\n");
    }
    s
}

/// Whether sh can expand `$name`.
fn is_sh_name(name: &str) -> bool {
    let mut cs = name.chars();
    cs.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Python's `posixpath.expandvars`: set variables replaced, the value not rescanned.
fn expandvars(s: &str, vars: &HashMap<String, Option<String>>) -> String {
    let mut out = s.to_string();
    let mut i = 0;
    while let Some((name, start, end)) = next_var(&out, i) {
        match vars.get(name) {
            Some(Some(value)) => {
                let value = value.clone();
                out.replace_range(start..end, &value);
                i = start + value.len();
            }
            _ => i = end,
        }
    }
    out
}

/// Python's `posixpath.expanduser` with the homes looked up on the target.
fn expanduser(s: &str, homes: &HashMap<String, Option<String>>) -> String {
    let Some(user) = tilde_user(s) else {
        return s.to_string();
    };
    let Some(Some(home)) = homes.get(user) else {
        return s.to_string();
    };
    let joined = format!("{}{}", home.trim_end_matches('/'), &s[1 + user.len()..]);
    if joined.is_empty() {
        "/".to_string()
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, Option<&str>)]) -> HashMap<String, Option<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn finds_variables_as_python_does() {
        assert_eq!(var_names("$HOME/x/${A B}/$/$1a/${x"), ["HOME", "A B", "1a"]);
        assert!(var_names("/plain/path").is_empty());
        assert_eq!(var_names("a$é$_b"), ["_b"]);
    }

    #[test]
    fn expands_set_variables_only() {
        let vars = env(&[("HOME", Some("/root")), ("NOPE", None), ("E", Some(""))]);
        assert_eq!(expandvars("$HOME/x", &vars), "/root/x");
        assert_eq!(expandvars("${HOME}x$NOPE/$E.", &vars), "/rootx$NOPE/.");
        assert_eq!(expandvars("$UNSEEN", &vars), "$UNSEEN");
        // The value is not scanned again.
        let vars = env(&[("A", Some("$B")), ("B", Some("no"))]);
        assert_eq!(expandvars("$A$B", &vars), "$Bno");
    }

    #[test]
    fn expands_tilde_as_python_does() {
        let homes = env(&[
            ("", Some("/home/me/")),
            ("root", Some("/root")),
            ("x", None),
        ]);
        assert_eq!(expanduser("~", &homes), "/home/me");
        assert_eq!(expanduser("~/a/b", &homes), "/home/me/a/b");
        assert_eq!(expanduser("~root", &homes), "/root");
        assert_eq!(expanduser("~root/.ssh", &homes), "/root/.ssh");
        assert_eq!(expanduser("~x/y", &homes), "~x/y");
        assert_eq!(expanduser("/a/~", &homes), "/a/~");
        let homes = env(&[("", Some("/"))]);
        assert_eq!(expanduser("~", &homes), "/");
        assert_eq!(expanduser("~/a", &homes), "/a");
    }

    #[test]
    fn reads_home_from_passwd() {
        let line = "root:x:0:0:root:/root:/bin/bash";
        assert_eq!(passwd_home(line, "root").as_deref(), Some("/root"));
        assert_eq!(passwd_home(line, "0"), None);
        assert_eq!(passwd_home(line, "").as_deref(), Some("/root"));
        assert_eq!(passwd_home("", "root"), None);
    }

    /// Runs `sh_set_words` in sh with `env` and prints each resulting argument on its own line.
    fn expand(words: &[&str], expand: bool, env: &[(&str, &str)]) -> Vec<String> {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        let script = format!("{}printf '%s\\n' \"$@\"", sh_set_words(&words, expand));
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .env_clear()
            .env("HOME", "/home/test")
            .envs(env.iter().copied())
            .output()
            .expect("run sh");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn argument_vars_expand_like_python() {
        let env = [("T", "z"), ("E", "")];
        assert_eq!(
            expand(
                &[
                    r#"echo "\$T""#,
                    "${T}x$Tx",
                    "$UNSET ${UNSET}",
                    "$1 ${a b} $",
                    "'q'$E",
                    "${a $T}$T"
                ],
                true,
                &env
            ),
            [
                r#"echo "\z""#,
                "zx$Tx",
                "$UNSET ${UNSET}",
                "$1 ${a b} $",
                "'q'",
                "${a $T}z"
            ]
        );
        assert_eq!(
            expand(&["~/a b", "~root/x", "~nosuchuser1/x", "a~"], true, &env)[..2],
            ["/home/test/a b", "/root/x"]
        );
        assert_eq!(
            expand(&["~nosuchuser1/x", "a~", ""], true, &env),
            ["~nosuchuser1/x", "a~", ""]
        );
        assert_eq!(expand(&["$T", "~/x"], false, &env), ["$T", "~/x"]);
    }
}
