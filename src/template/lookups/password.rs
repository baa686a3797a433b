//! `password`: `path [length=N] [chars=…] [encrypt=sha512_crypt]` — the password stored in
//! `path` (relative to the playbook's directory) or, when the file is missing, a new random one
//! written there (mode 0600, its directory created 0700) and reused afterwards, as ansible-core
//! 2.19 does. Every password it gives is registered with the redactor, so it is masked in all
//! output.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::controller::{Out, check_opts};
use super::{Call, py_type};
use crate::template::filters::{random_salt, sha512_crypt};

const VALID: &[&str] = &["length", "encrypt", "chars", "ident", "seed"];
const DEFAULT_CHARS: &[&str] = &["ascii_letters", "digits", ".,:-_"];

pub(super) fn run(
    terms: &[Value],
    opts: &Map<String, Value>,
    call: &Call<'_>,
) -> Result<Vec<Out>, String> {
    check_opts("password", opts, VALID)?;
    let mut out = Vec::new();
    for t in terms {
        let Value::String(term) = t else {
            return Err(format!(
                "the password lookup expects a path, got {}",
                py_type(t)
            ));
        };
        let (relpath, params) = parse_term(term, opts)?;
        if params.contains_key("seed") {
            return Err("the password lookup's 'seed' is not supported by slm-wizard".into());
        }
        let path = if Path::new(&relpath).is_absolute() {
            PathBuf::from(&relpath)
        } else {
            call.ctx.basedir.join(&relpath)
        };
        let length = match params.get("length") {
            None => 20,
            Some(v) => as_int(v).ok_or_else(|| {
                format!("the password lookup's length must be an integer, got {v}")
            })?,
        };
        let chars = candidate_chars(params.get("chars"))?;
        let encrypt = params
            .get("encrypt")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(e) = &encrypt
            && !matches!(e.as_str(), "sha512_crypt")
        {
            return Err(format!(
                "the password lookup's encrypt={e} is not supported by slm-wizard (supported: sha512_crypt)"
            ));
        }
        let dev_null = path == Path::new("/dev/null");
        let stored = if dev_null {
            None
        } else {
            std::fs::read_to_string(&path)
                .ok()
                .map(|c| c.trim_end().to_string())
        };
        let (mut changed, password, mut salt) = match &stored {
            None => (true, random_password(length, &chars)?, None),
            Some(content) => {
                let (p, s) = parse_content(content);
                (false, p, s)
            }
        };
        if encrypt.is_some() && salt.is_none() {
            changed = true;
            salt = Some(random_salt(16));
        }
        if changed && !dev_null {
            let content = match &salt {
                Some(s) => format!("{password} salt={s}"),
                None => password.clone(),
            };
            write_file(&path, &content)
                .map_err(|e| format!("the password lookup cannot write {}: {e}", path.display()))?;
        }
        if let Some(r) = &call.ctx.redactor {
            r.add(&password);
        }
        out.push(Some(Value::String(match (&encrypt, &salt) {
            (Some(_), Some(s)) => sha512_crypt(password.as_bytes(), s, None),
            _ => password,
        })));
    }
    Ok(out)
}

fn as_int(v: &Value) -> Option<usize> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The term's path and its `key=value` parameters, over the lookup's keyword options.
fn parse_term(
    term: &str,
    opts: &Map<String, Value>,
) -> Result<(String, Map<String, Value>), String> {
    let mut params = opts.clone();
    let (relpath, rest) = match term.split_once(' ') {
        Some((p, r)) => (p.to_string(), r),
        None => (term.to_string(), ""),
    };
    for word in rest.split_whitespace() {
        let Some((k, v)) = word.split_once('=') else {
            return Err(
                "Unrecognized value after key=value parameters given to password lookup".into(),
            );
        };
        if !VALID.contains(&k) {
            return Err(format!(
                "Unrecognized parameter(s) given to password lookup: {k}"
            ));
        }
        params.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok((relpath, params))
}

/// The characters to draw from: each spec a name of Python's `string` module or literal
/// characters; a text spec is split on `,` (`,,` is a comma). Quotes are never used.
fn candidate_chars(spec: Option<&Value>) -> Result<Vec<char>, String> {
    let specs: Vec<String> = match spec {
        None | Some(Value::Null) => DEFAULT_CHARS.iter().map(|s| s.to_string()).collect(),
        Some(Value::String(s)) => {
            let mut v = Vec::new();
            if s.contains(",,") {
                v.push(",".to_string());
            }
            v.extend(
                s.replace(",,", ",")
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
            );
            v
        }
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!(
                    "the password lookup's chars must be strings, got {other}"
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "the password lookup's chars must be a list, got {other}"
            ));
        }
    };
    let mut chars = String::new();
    for s in specs {
        chars.push_str(match s.as_str() {
            "ascii_letters" => "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "ascii_lowercase" => "abcdefghijklmnopqrstuvwxyz",
            "ascii_uppercase" => "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "digits" => "0123456789",
            "hexdigits" => "0123456789abcdefABCDEF",
            "octdigits" => "01234567",
            "punctuation" => "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
            other => other,
        });
    }
    let chars: Vec<char> = chars.chars().filter(|c| *c != '"' && *c != '\'').collect();
    if chars.is_empty() {
        return Err("the password lookup has no characters to choose from (chars is empty)".into());
    }
    Ok(chars)
}

fn random_password(length: usize, chars: &[char]) -> Result<String, String> {
    if length == 0 {
        return Err("the password lookup's length must be at least 1".into());
    }
    Ok((0..length)
        .map(|_| chars[rand::random_range(0..chars.len())])
        .collect())
}

/// `password salt=… [ident=…]` → the password and its salt.
fn parse_content(content: &str) -> (String, Option<String>) {
    match content.rfind(" salt=") {
        None => (content.to_string(), None),
        Some(i) => {
            let rest = &content[i + " salt=".len()..];
            let salt = rest.rsplit_once(" ident=").map_or(rest, |(s, _)| s);
            (content[..i].to_string(), Some(salt.to_string()))
        }
    }
}

fn write_file(path: &Path, content: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(format!("{content}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn term_and_chars() {
        let (p, params) = parse_term("creds/x length=8 chars=digits,,", &Map::new()).expect("ok");
        assert_eq!(p, "creds/x");
        assert_eq!(params["length"], Value::String("8".into()));
        let c = candidate_chars(params.get("chars")).expect("chars");
        assert!(c.contains(&',') && c.contains(&'7') && !c.contains(&'a'));
        assert!(parse_term("x bogus=1", &Map::new()).is_err());
        assert_eq!(
            parse_content("pw salt=abc"),
            ("pw".into(), Some("abc".into()))
        );
        assert_eq!(parse_content("p w"), ("p w".into(), None));
    }
}
