//! community.postgresql's common connection arguments beyond host/port/user/password, with its
//! 4.2.0 semantics (module_utils/postgres.py, database.py): `ssl_mode`, `ca_cert` (alias
//! `ssl_rootcert`), `ssl_cert`, `ssl_key` and `connect_params` become libpq conninfo keywords of
//! psql's `-d` (never secrets: a `password` in connect_params travels on stdin like
//! `login_password`); `session_role` is a `SET ROLE` before the task's SQL; `trust_input: false`
//! refuses values that look like SQL injection, with the collection's message.

use std::sync::LazyLock;

use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::{Map, Value};

use crate::engine::modules::ModuleResult;

/// libpq's sslmode values (community.postgresql's `ssl_mode` choices).
pub const SSL_MODES: &[&str] = &[
    "allow",
    "disable",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// `ssl_mode`: one of [`SSL_MODES`].
pub fn ssl_mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match crate::engine::modules::args::opt_string(d)? {
        None => Ok(None),
        Some(m) if SSL_MODES.contains(&m.as_str()) => Ok(Some(m)),
        Some(m) => Err(de::Error::custom(format!(
            "must be one of {}, got {m:?}",
            SSL_MODES.join(", ")
        ))),
    }
}

/// `connect_params`: a dict of libpq keywords (lowercase names) to scalar values, as text.
pub fn connect_params<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<(String, String)>>, D::Error> {
    let map = match Value::deserialize(d)? {
        Value::Null => return Ok(None),
        Value::Object(m) => m,
        other => {
            return Err(de::Error::custom(format!(
                "must be a dict of libpq connection parameters, got {other}"
            )));
        }
    };
    keywords(map).map(Some).map_err(de::Error::custom)
}

fn keywords(map: Map<String, Value>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (k, v) in map {
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(format!(
                "key {k:?} is not a libpq connection parameter name (lowercase letters and _)"
            ));
        }
        let text = match v {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            // psycopg hands a Python bool to libpq as its text; libpq's boolean-ish keywords
            // take 1/0.
            Value::Bool(b) => if b { "1" } else { "0" }.to_string(),
            Value::Null => continue,
            other => return Err(format!("value of {k:?} must be a scalar, got {other}")),
        };
        out.push((k, text));
    }
    Ok(out)
}

/// `key='value'` for a conninfo string (libpq quoting: `\` escapes `'` and `\`).
pub fn conninfo_pair(key: &str, value: &str) -> String {
    format!(
        "{key}='{}'",
        value.replace('\\', "\\\\").replace('\'', "\\'")
    )
}

/// The conninfo keywords (besides dbname) and the password they carry, from the TLS arguments
/// and `connect_params` (which, as in the collection, override the others).
pub fn extra_conninfo(
    ssl_mode: Option<&str>,
    ca_cert: Option<&str>,
    ssl_cert: Option<&str>,
    ssl_key: Option<&str>,
    params: Option<&[(String, String)]>,
) -> (Vec<(String, String)>, Option<String>) {
    let mut kw: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: &str| {
        kw.retain(|(have, _)| have != k);
        kw.push((k.to_string(), v.to_string()));
    };
    for (k, v) in [
        ("sslmode", ssl_mode),
        ("sslrootcert", ca_cert),
        ("sslcert", ssl_cert),
        ("sslkey", ssl_key),
    ] {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            set(k, v);
        }
    }
    let mut password = None;
    for (k, v) in params.unwrap_or_default() {
        if k == "password" {
            password = Some(v.clone());
        } else {
            set(k, v);
        }
    }
    (kw, password)
}

// database.py's patterns for is_input_dangerous.
static DANGEROUS: LazyLock<Vec<regex::Regex>> = LazyLock::new(|| {
    [
        r#"('|").*--"#,
        r"(?i)(UNION|INTERSECT|EXCEPT).*SELECT",
        r"(?i);.*(SELECT|UPDATE|INSERT|DELETE|DROP|TRUNCATE|ALTER)",
    ]
    .into_iter()
    .filter_map(|p| regex::Regex::new(p).ok())
    .collect()
});

/// community.postgresql's `is_input_dangerous`.
pub fn is_input_dangerous(s: &str) -> bool {
    !s.is_empty() && DANGEROUS.iter().any(|re| re.is_match(s))
}

/// A value `trust_input: false` checks: text, or a dict whose keys and values are checked.
pub enum Input<'a> {
    Text(Option<&'a str>),
    Dict(&'a [(String, String)]),
}

/// [`untrusted`] over text values only (the modules whose checked arguments are all text).
pub fn check_input(trust_input: Option<bool>, values: &[Option<&str>]) -> Option<ModuleResult> {
    let all: Vec<Input<'_>> = values.iter().map(|v| Input::Text(*v)).collect();
    untrusted(trust_input, &all)
}

/// With `trust_input: false`, the collection's failure for the values that look dangerous:
/// "Passed input 'a, b' is potentially dangerous". None when trusted or all are clean.
pub fn untrusted(trust_input: Option<bool>, values: &[Input<'_>]) -> Option<ModuleResult> {
    if trust_input != Some(false) {
        return None;
    }
    let mut bad: Vec<&str> = Vec::new();
    for v in values {
        match v {
            Input::Text(Some(s)) if is_input_dangerous(s) => bad.push(s),
            Input::Text(_) => {}
            Input::Dict(pairs) => {
                for (k, v) in pairs.iter() {
                    if is_input_dangerous(k) {
                        bad.push(k);
                    }
                    if is_input_dangerous(v) {
                        bad.push(v);
                    }
                }
            }
        }
    }
    if bad.is_empty() {
        return None;
    }
    Some(ModuleResult::fail(format!(
        "Passed input '{}' is potentially dangerous",
        bad.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dangerous_input_as_the_collection_sees_it() {
        let dangerous = r#"curious.anonymous"; SELECT * FROM information_schema.tables; --"#;
        assert!(is_input_dangerous(dangerous));
        assert!(is_input_dangerous("x UNION all select 1"));
        assert!(is_input_dangerous("a; drop table t"));
        for fine in [
            "hello.user.with.dots",
            "app_user",
            "Jan 31 2020",
            "",
            "it's",
        ] {
            assert!(!is_input_dangerous(fine), "{fine}");
        }
        let r = untrusted(Some(false), &[Input::Text(Some(dangerous))]).expect("refused");
        assert_eq!(
            r.msg.as_deref(),
            Some(format!("Passed input '{dangerous}' is potentially dangerous").as_str())
        );
        assert!(untrusted(None, &[Input::Text(Some(dangerous))]).is_none());
        assert!(untrusted(Some(true), &[Input::Text(Some(dangerous))]).is_none());
        let conf = [("k;1".to_string(), "16MB".to_string())];
        assert!(untrusted(Some(false), &[Input::Dict(&conf)]).is_none());
        let conf = [("k".to_string(), "'x' --".to_string())];
        assert!(untrusted(Some(false), &[Input::Dict(&conf)]).is_some());
    }

    #[test]
    fn conninfo_from_tls_arguments_and_connect_params() {
        let params = keywords(
            serde_json::from_str(
                r#"{"connect_timeout": 5, "sslmode": "require", "password": "pw", "keepalives": true}"#,
            )
            .expect("json"),
        )
        .expect("valid");
        let (kw, pw) = extra_conninfo(
            Some("verify-full"),
            Some("/etc/ca.crt"),
            None,
            Some(""),
            Some(&params),
        );
        assert_eq!(pw.as_deref(), Some("pw"));
        let mut kw: Vec<String> = kw.iter().map(|(k, v)| conninfo_pair(k, v)).collect();
        kw.sort();
        // connect_params' sslmode wins over ssl_mode, as kw.update() does in the collection.
        assert_eq!(
            kw,
            [
                "connect_timeout='5'",
                "keepalives='1'",
                "sslmode='require'",
                "sslrootcert='/etc/ca.crt'",
            ]
        );
        assert_eq!(conninfo_pair("sslkey", r"a'b\c"), r"sslkey='a\'b\\c'");
        assert!(keywords(serde_json::from_str(r#"{"host x": 1}"#).expect("json")).is_err());
    }
}
