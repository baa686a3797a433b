//! `postgresql_pg_hba`: one rule of a pg_hba.conf, added, updated in place or removed; the
//! file's other lines and comments are kept. (No server connection: it edits a file.)

use serde_json::{Map, Value};

use super::State;
use crate::engine::modules::files::{self, Attrs, WriteOpts};
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresqlPgHba {
    #[serde(deserialize_with = "crate::engine::modules::args::string")]
    pub dest: String,
    #[serde(default)]
    pub state: State,
    #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
    pub contype: Option<String>,
    #[serde(
        default,
        alias = "db",
        deserialize_with = "crate::engine::modules::args::list"
    )]
    pub databases: Vec<String>,
    #[serde(
        default,
        alias = "user",
        deserialize_with = "crate::engine::modules::args::list"
    )]
    pub users: Vec<String>,
    #[serde(
        default,
        alias = "src",
        alias = "address",
        deserialize_with = "crate::engine::modules::args::opt_string"
    )]
    pub source: Option<String>,
    #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
    pub netmask: Option<String>,
    #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
    pub method: Option<String>,
    #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
    pub options: Option<String>,
    #[serde(default, deserialize_with = "crate::engine::modules::args::opt_bool")]
    pub create: Option<bool>,
    #[serde(default, deserialize_with = "crate::engine::modules::args::opt_bool")]
    pub backup: Option<bool>,
    #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
    pub owner: Option<String>,
    #[serde(default, deserialize_with = "crate::engine::modules::args::opt_string")]
    pub group: Option<String>,
    #[serde(default, deserialize_with = "crate::engine::modules::args::opt_mode")]
    pub mode: Option<String>,
}

const CONTYPES: &[&str] = &[
    "local",
    "host",
    "hostssl",
    "hostnossl",
    "hostgssenc",
    "hostnogssenc",
];

const METHODS: &[&str] = &[
    "trust",
    "reject",
    "md5",
    "password",
    "scram-sha-256",
    "gss",
    "sspi",
    "ident",
    "peer",
    "pam",
    "ldap",
    "radius",
    "cert",
];

/// `value` (or `default`) when it is one of `choices`.
fn choice(
    key: &str,
    value: &Option<String>,
    choices: &[&str],
    default: &str,
) -> Result<String, ModuleError> {
    let v = value.clone().unwrap_or_else(|| default.to_string());
    if choices.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(ModuleError::Args(format!(
            "postgresql_pg_hba: argument '{key}' is {v:?}; valid: {}",
            choices.join(", ")
        )))
    }
}

impl PostgresqlPgHba {
    /// The rule the arguments describe.
    pub(super) fn rule(&self) -> Result<HbaRule, ModuleError> {
        let contype = choice("contype", &self.contype, CONTYPES, "host")?;
        // A line break in a field would add a rule of its own (e.g. `trust` for everyone).
        let one = |v: &Option<String>| v.iter().cloned().collect::<Vec<_>>();
        for (key, values) in [
            ("databases", self.databases.clone()),
            ("users", self.users.clone()),
            ("source", one(&self.source)),
            ("netmask", one(&self.netmask)),
            ("options", one(&self.options)),
        ] {
            if values.iter().any(|v| v.contains(['\r', '\n'])) {
                return Err(ModuleError::Args(format!(
                    "postgresql_pg_hba: '{key}' contains a line break (CR or LF); each pg_hba.conf \
                     rule is one line"
                )));
            }
        }
        let mut source = self.source.clone().unwrap_or_default();
        if let Some(mask) = &self.netmask
            && !source.contains('/')
        {
            source = format!("{source} {mask}");
        }
        if contype != "local" && source.is_empty() {
            return Err(ModuleError::Args(format!(
                "postgresql_pg_hba: contype {contype} needs 'source'"
            )));
        }
        let method = choice("method", &self.method, METHODS, "md5")?;
        let field = |items: &[String]| {
            let joined: String = items
                .join(",")
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            if joined.is_empty() {
                "all".to_string()
            } else {
                joined
            }
        };
        Ok(HbaRule {
            databases: field(&self.databases),
            users: field(&self.users),
            source: if contype == "local" {
                String::new()
            } else {
                source
            },
            contype,
            method,
            options: self.options.clone().unwrap_or_default(),
        })
    }
}

files::owner_group_mode!(PostgresqlPgHba);

impl Module for PostgresqlPgHba {
    const NAME: &'static str = "postgresql_pg_hba";
    const ANSIBLE_ONLY: &'static [&'static str] = &[
        "backup_file",
        "comment",
        "keep_comments_at_rules",
        "overwrite",
        "rules",
        "rules_behavior",
        "sort_rules",
        "attr",
        "attributes",
        "seuser",
        "serole",
        "setype",
        "selevel",
        "unsafe_writes",
    ];
    /// The write that makes the file hold the rule.
    type Pending = files::Change;
    const PATH_ARGS: &'static [&'static str] = &["dest"];

    fn validate(&self) -> Result<(), ModuleError> {
        self.rule().map(|_| ())
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Self::Pending>, ModuleError> {
        let rule = self.rule()?;
        let dest = &self.dest;
        let current = files::read_remote(ctx, dest, &self.attrs()).await?;
        if !current.exists && !self.create.unwrap_or(false) {
            return Ok(Query::done(ModuleResult::fail(format!(
                "{dest} does not exist (set create: true to create it)"
            ))));
        }
        let new = edited(
            current.content.as_deref().unwrap_or_default(),
            &rule,
            self.state,
        );
        let found =
            files::query_bytes(ctx, dest, &current, new.into_bytes(), &self.attrs()).await?;
        Ok(match found.pending {
            Some(mut change) => {
                change.result = with_rule(change.result, &rule);
                let result = change.result.clone();
                Query::change(result, change)
            }
            None => Query::done(with_rule(found.result, &rule)),
        })
    }

    async fn apply(
        &self,
        change: Self::Pending,
        ctx: &Ctx<'_>,
    ) -> Result<ModuleResult, ModuleError> {
        let attrs = self.attrs();
        files::apply_change(ctx, change, &self.write_opts(&attrs)).await
    }
}

impl PostgresqlPgHba {
    fn write_opts<'a>(&self, attrs: &'a Attrs) -> WriteOpts<'a> {
        WriteOpts {
            attrs,
            backup: self.backup.unwrap_or(false),
            validate: None,
        }
    }
}

/// `text` with `rule` added, updated in place or removed; unchanged text stays byte for byte.
fn edited(text: &str, rule: &HbaRule, state: State) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let found = lines
        .iter()
        .position(|l| HbaRule::parse(l).is_some_and(|r| r.key() == rule.key()));
    match (state, found) {
        (State::Present, Some(i)) if HbaRule::parse(&lines[i]).as_ref() != Some(rule) => {
            lines[i] = rule.render();
        }
        (State::Present, Some(_)) => {}
        (State::Present, None) => lines.push(rule.render()),
        (State::Absent, Some(_)) => {
            lines.retain(|l| HbaRule::parse(l).is_none_or(|r| r.key() != rule.key()))
        }
        (State::Absent, None) => {}
    }
    if lines.iter().map(String::as_str).eq(text.lines()) {
        text.to_string()
    } else {
        lines.join("\n") + "\n"
    }
}

fn with_rule(mut r: ModuleResult, rule: &HbaRule) -> ModuleResult {
    r.extra
        .insert("pg_hba".into(), Value::from(vec![rule_json(rule)]));
    r
}

/// One pg_hba.conf rule.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct HbaRule {
    pub(super) contype: String,
    pub(super) databases: String,
    pub(super) users: String,
    pub(super) source: String,
    pub(super) method: String,
    pub(super) options: String,
}

impl HbaRule {
    fn key(&self) -> (String, String, String, String) {
        (
            self.contype.clone(),
            self.databases.clone(),
            self.users.clone(),
            self.source.clone(),
        )
    }

    fn parse(line: &str) -> Option<Self> {
        let t = line.split('#').next()?.trim();
        let words: Vec<&str> = t.split_whitespace().collect();
        let contype = *words.first()?;
        if !matches!(
            contype,
            "local" | "host" | "hostssl" | "hostnossl" | "hostgssenc" | "hostnogssenc"
        ) {
            return None;
        }
        let (source, rest) = if contype == "local" {
            (String::new(), words.get(3..)?)
        } else {
            let addr = words.get(3)?;
            // "address netmask" form: fold to CIDR-less key including the mask.
            if words
                .get(4)
                .is_some_and(|w| w.contains('.') && !w.contains('='))
                && !addr.contains('/')
            {
                (format!("{addr} {}", words[4]), words.get(5..)?)
            } else {
                (addr.to_string(), words.get(4..)?)
            }
        };
        Some(Self {
            contype: contype.to_string(),
            databases: words.get(1)?.to_string(),
            users: words.get(2)?.to_string(),
            source,
            method: rest.first()?.to_string(),
            options: rest.get(1..).map(|r| r.join(" ")).unwrap_or_default(),
        })
    }

    fn render(&self) -> String {
        let mut s = format!(
            "{:<8}{:<16}{:<16}",
            self.contype, self.databases, self.users
        );
        if self.contype != "local" {
            s.push_str(&format!("{:<24}", self.source));
        } else {
            s.push_str(&format!("{:<24}", ""));
        }
        s.push_str(&self.method);
        if !self.options.is_empty() {
            s.push(' ');
            s.push_str(&self.options);
        }
        s.trim_end().to_string()
    }
}

fn rule_json(r: &HbaRule) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), r.contype.clone().into());
    m.insert("db".into(), r.databases.clone().into());
    m.insert("usr".into(), r.users.clone().into());
    if !r.source.is_empty() {
        m.insert("src".into(), r.source.clone().into());
    }
    m.insert("method".into(), r.method.clone().into());
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hba_rule_parsing() {
        let r = HbaRule::parse("host  slm  slm_app  10.0.0.0/24  scram-sha-256 # x").expect("rule");
        assert_eq!(r.source, "10.0.0.0/24");
        assert_eq!(r.method, "scram-sha-256");
        assert!(HbaRule::parse("# comment").is_none());
        assert_eq!(HbaRule::parse(&r.render()).as_ref(), Some(&r));
    }
}
