//! `group`: a local group present (with its gid) or absent.

use serde::Deserialize;
use serde_json::Value;

use super::{Accounts, run_argv};
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult, args};

#[derive(Deserialize, Clone, Copy, PartialEq, Default)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Present,
    Absent,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Present => "present",
            State::Absent => "absent",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    #[serde(deserialize_with = "args::string")]
    name: String,
    #[serde(default)]
    state: State,
    #[serde(default, deserialize_with = "args::opt_int")]
    gid: Option<i64>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    system: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    force: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    non_unique: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_int")]
    gid_min: Option<i64>,
    #[serde(default, deserialize_with = "args::opt_int")]
    gid_max: Option<i64>,
}

/// What `apply` runs.
pub enum Pending {
    Add,
    Mod,
    Del,
}

impl Group {
    fn base(&self) -> ModuleResult {
        let mut r = ModuleResult::ok();
        r.extra
            .insert("name".into(), Value::String(self.name.clone()));
        r.extra.insert("state".into(), self.state.as_str().into());
        r
    }

    /// Ansible's result keys for a group that exists: `system` (the argument) and `gid`.
    fn present(&self, mut r: ModuleResult, gid: u32) -> ModuleResult {
        r.extra
            .insert("system".into(), self.system.unwrap_or(false).into());
        r.extra.insert("gid".into(), gid.into());
        r
    }

    fn argv(&self, pending: &Pending) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let gid = |a: &mut Vec<String>| {
            if let Some(g) = self.gid {
                a.extend(["-g".into(), g.to_string()]);
                if self.non_unique.unwrap_or(false) {
                    a.push("-o".into());
                }
            }
        };
        match pending {
            Pending::Add => {
                a.push("groupadd".into());
                gid(&mut a);
                if self.system.unwrap_or(false) {
                    a.push("-r".into());
                }
                for (key, v) in [("GID_MIN", self.gid_min), ("GID_MAX", self.gid_max)] {
                    if let Some(v) = v {
                        a.extend(["-K".into(), format!("{key}={v}")]);
                    }
                }
            }
            Pending::Mod => {
                a.push("groupmod".into());
                gid(&mut a);
            }
            Pending::Del => {
                a.push("groupdel".into());
                if self.force.unwrap_or(false) {
                    a.push("-f".into());
                }
            }
        }
        a.push("--".into());
        a.push(self.name.clone());
        a
    }
}

impl Module for Group {
    const NAME: &'static str = "group";
    const ANSIBLE_ONLY: &'static [&'static str] = &["local"];
    type Pending = Pending;

    fn validate(&self) -> Result<(), ModuleError> {
        if self.non_unique.unwrap_or(false) && self.gid.is_none() {
            return Err(ModuleError::Args(
                "group: non_unique is True but all of the following are missing: gid".into(),
            ));
        }
        Ok(())
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Pending>, ModuleError> {
        let db = Accounts::read(ctx, None).await?;
        let found = db.groups.iter().find(|g| g.name == self.name);
        let r = self.base();
        Ok(match (self.state, found) {
            (State::Absent, None) => Query::done(r),
            // Ansible's check mode reports only `changed` for an add or a delete.
            (State::Absent, Some(_)) => Query::change(ModuleResult::changed(true), Pending::Del),
            (State::Present, None) => Query::change(ModuleResult::changed(true), Pending::Add),
            (State::Present, Some(g)) => {
                let r = self.present(r, g.gid);
                match self.gid {
                    Some(want) if i64::from(g.gid) != want => {
                        let mut c = r;
                        c.changed = true;
                        Query::change(c, Pending::Mod)
                    }
                    _ => Query::done(r),
                }
            }
        })
    }

    async fn apply(&self, pending: Pending, ctx: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let out = run_argv(ctx, &self.argv(&pending), "", None).await?;
        if out.rc != 0 {
            let mut r = ModuleResult::fail(out.stderr.trim_end().to_string());
            r.extra
                .insert("name".into(), Value::String(self.name.clone()));
            return Ok(r);
        }
        let mut r = self.base();
        r.changed = true;
        if !out.stdout.is_empty() {
            r.stdout = Some(out.stdout.clone());
        }
        if !out.stderr.is_empty() {
            r.stderr = Some(out.stderr.clone());
        }
        if self.state == State::Present {
            let db = Accounts::read(ctx, None).await?;
            if let Some(g) = db.groups.iter().find(|g| g.name == self.name) {
                r = self.present(r, g.gid);
            }
        }
        Ok(r)
    }
}
