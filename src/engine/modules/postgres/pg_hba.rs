use serde_json::{Map, Value};

use crate::engine::modules::{Args, Ctx, ModuleError, ModuleResult};

/// One pg_hba.conf rule.
#[derive(Debug, Clone, PartialEq)]
struct HbaRule {
    contype: String,
    databases: String,
    users: String,
    source: String,
    method: String,
    options: String,
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

pub async fn pg_hba(a: &Args<'_>, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
    let dest = a.str("dest")?;
    let state = a.choice("state", &["present", "absent"], "present")?;
    let contype = a.choice(
        "contype",
        &[
            "local",
            "host",
            "hostssl",
            "hostnossl",
            "hostgssenc",
            "hostnogssenc",
        ],
        "host",
    )?;
    // A line break in a field would add a rule of its own (e.g. `trust` for everyone).
    for key in [
        "databases",
        "users",
        "source",
        "address",
        "netmask",
        "options",
    ] {
        let values = match a.map.get(key) {
            Some(Value::Array(_)) => a.list(key)?,
            _ => a.opt_str(key)?.into_iter().collect(),
        };
        if values.iter().any(|v| v.contains(['\r', '\n'])) {
            return Err(ModuleError::Args(format!(
                "postgresql_pg_hba: '{key}' contains a line break (CR or LF); each pg_hba.conf \
                 rule is one line"
            )));
        }
    }
    let mut source = a
        .opt_str("source")?
        .or(a.opt_str("address")?)
        .unwrap_or_default();
    if let Some(mask) = a.opt_str("netmask")?
        && !source.contains('/')
    {
        source = format!("{source} {mask}");
    }
    if contype != "local" && source.is_empty() {
        return Err(ModuleError::Args(format!(
            "postgresql_pg_hba: contype {contype} needs 'source'"
        )));
    }
    let method = a.choice(
        "method",
        &[
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
        ],
        "md5",
    )?;
    let rule = HbaRule {
        contype: contype.clone(),
        databases: a
            .list("databases")?
            .join(",")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>(),
        users: a
            .list("users")?
            .join(",")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>(),
        source: if contype == "local" {
            String::new()
        } else {
            source
        },
        method,
        options: a.str_or("options", "")?,
    };
    let rule = HbaRule {
        databases: if rule.databases.is_empty() {
            "all".into()
        } else {
            rule.databases
        },
        users: if rule.users.is_empty() {
            "all".into()
        } else {
            rule.users
        },
        ..rule
    };
    let attrs = crate::engine::modules::files::Attrs::from_args(a)?;
    let opts = crate::engine::modules::files::WriteOpts {
        attrs: &attrs,
        backup: a.bool("backup", false)?,
        validate: None,
    };
    let current = crate::engine::modules::files::read_remote(ctx, &dest).await?;
    if !current.exists && !a.bool("create", false)? {
        return Ok(ModuleResult::fail(format!(
            "{dest} does not exist (set create: true to create it)"
        )));
    }
    let text = current.content.clone().unwrap_or_default();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let found = lines
        .iter()
        .position(|l| HbaRule::parse(l).is_some_and(|r| r.key() == rule.key()));
    match (state.as_str(), found) {
        ("present", Some(i)) if HbaRule::parse(&lines[i]).as_ref() != Some(&rule) => {
            lines[i] = rule.render();
        }
        ("present", Some(_)) => {}
        ("present", None) => lines.push(rule.render()),
        ("absent", Some(_)) => {
            lines.retain(|l| HbaRule::parse(l).is_none_or(|r| r.key() != rule.key()))
        }
        _ => {}
    }
    let new = if lines.iter().map(String::as_str).eq(text.lines()) {
        text.clone()
    } else {
        lines.join("\n") + "\n"
    };
    let mut r =
        crate::engine::modules::files::converge_content(ctx, &dest, &current, &new, &opts).await?;
    r.extra
        .insert("pg_hba".into(), Value::from(vec![rule_json(&rule)]));
    Ok(r)
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
