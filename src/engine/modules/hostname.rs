//! `hostname` on Debian-family targets, with Ansible's two strategies there: `systemd` (when
//! systemd runs: `hostnamectl` sets the transient and the static name) and `debian` (otherwise:
//! `/etc/hostname` only — Ansible's file strategy leaves the running name alone).

use serde::Deserialize;
use serde_json::{Map, Value};

use super::files::write_plain;
use super::module::{Module, Query};
use super::{Ctx, Diff, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hostname {
    #[serde(deserialize_with = "args::string")]
    name: String,
    #[serde(default, rename = "use", deserialize_with = "args::opt_string")]
    use_: Option<String>,
}

/// Which names to set: (transient, static) with hostnamectl, or the file.
pub struct Rename {
    systemd: bool,
    current: bool,
    permanent: bool,
    result: ModuleResult,
}

impl Module for Hostname {
    const NAME: &'static str = "hostname";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = Rename;

    fn validate(&self) -> Result<(), ModuleError> {
        match self.use_.as_deref() {
            None | Some("systemd") | Some("debian") => Ok(()),
            Some(other) => Err(ModuleError::Args(format!(
                "hostname: use={other} is not implemented by the native engine (it has systemd and debian); {}",
                super::catalog::USE_ANSIBLE
            ))),
        }
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Rename>, ModuleError> {
        let out = ctx
            .query(
                "if [ -d /run/systemd/system ] && command -v hostnamectl >/dev/null 2>&1; then echo S; \
                 echo \"T $(hostnamectl --transient 2>/dev/null || hostnamectl --transient status)\"; \
                 echo \"P $(hostnamectl --static 2>/dev/null || hostnamectl --static status)\"; \
                 else echo F; [ -f /etc/hostname ] && echo \"P $(cat /etc/hostname)\"; fi; \
                 echo \"Q $(hostname -f 2>/dev/null || hostname)\"",
                None,
            )
            .await?;
        let systemd = match self.use_.as_deref() {
            Some("systemd") => true,
            Some(_) => false,
            None => out.stdout.lines().next() == Some("S"),
        };
        let field = |tag: &str| {
            out.stdout
                .lines()
                .find_map(|l| l.strip_prefix(tag))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let permanent = field("P ");
        // The file strategy's running name is the file's (Ansible's BaseStrategy).
        let current = if systemd {
            field("T ")
        } else {
            permanent.clone()
        };
        let fqdn = field("Q ");
        let name = &self.name;
        let set_current = systemd && current != *name;
        let set_permanent = permanent != *name;
        let mut r = ModuleResult::changed(set_current || set_permanent);
        r.extra.insert("name".into(), name.clone().into());
        let mut facts = Map::new();
        facts.insert(
            "ansible_hostname".into(),
            name.split('.').next().unwrap_or("").into(),
        );
        facts.insert("ansible_nodename".into(), name.clone().into());
        let domain = fqdn.split_once('.').map(|(_, d)| d).unwrap_or("");
        facts.insert("ansible_domain".into(), domain.into());
        facts.insert("ansible_fqdn".into(), fqdn.clone().into());
        r.extra.insert("ansible_facts".into(), Value::Object(facts));
        if !r.changed {
            return Ok(Query::done(r));
        }
        if ctx.diff {
            let before = if *name != current {
                &current
            } else {
                &permanent
            };
            r.diff.push(Diff {
                before_header: "hostname".into(),
                after_header: "hostname".into(),
                before: format!("hostname = {before}\n"),
                after: format!("hostname = {name}\n"),
            });
        }
        Ok(Query::change(
            r.clone(),
            Rename {
                systemd,
                current: set_current,
                permanent: set_permanent,
                result: r,
            },
        ))
    }

    async fn apply(&self, c: Rename, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let name = sh_quote(&self.name);
        if c.systemd {
            for (want, flag) in [(c.current, "--transient"), (c.permanent, "--static")] {
                if !want {
                    continue;
                }
                let out = ctx
                    .query(&format!("hostnamectl {flag} set-hostname -- {name}"), None)
                    .await?;
                if out.rc != 0 {
                    return Ok(ModuleResult::fail(format!(
                        "Command failed rc={}, out={}, err={}",
                        out.rc, out.stdout, out.stderr
                    )));
                }
            }
        } else if c.permanent {
            let text = format!("{}\n", self.name);
            if let Err(e) = write_plain(ctx, "/etc/hostname", text.as_bytes()).await {
                return Ok(ModuleResult::fail(format!(
                    "failed to update hostname: {e}"
                )));
            }
        }
        Ok(c.result)
    }
}
