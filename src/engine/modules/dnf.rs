//! `dnf` (and `yum`, which ansible-core 2.19 redirects to `dnf`): known to plan time so that a
//! play written for several distributions — a `dnf` task under `when: ansible_os_family ==
//! 'RedHat'` — plans and runs on Debian-family targets, where the task is skipped. The native
//! engine manages packages with apt only, so a `dnf` task that does run fails with a message
//! that says so, naming the target's OS family.

use serde::Deserialize;

use super::module::{Module, Query};
use super::{Ctx, ModuleError, ModuleResult, args};

const STATES: &[&str] = &["absent", "installed", "latest", "present", "removed"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dnf {
    #[serde(default, alias = "pkg", deserialize_with = "args::list")]
    name: Vec<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_string")]
    list: Option<String>,
    #[serde(default, alias = "expire-cache", deserialize_with = "args::opt_bool")]
    update_cache: Option<bool>,
}

impl Module for Dnf {
    const NAME: &'static str = "dnf";
    // The rest of ansible-core 2.19's yumdnf argument spec.
    const ANSIBLE_ONLY: &'static [&'static str] = &[
        "allow_downgrade",
        "allowerasing",
        "autoremove",
        "best",
        "bugfix",
        "cacheonly",
        "conf_file",
        "disable_excludes",
        "disable_gpg_check",
        "disable_plugin",
        "disablerepo",
        "download_only",
        "download_dir",
        "enable_plugin",
        "enablerepo",
        "exclude",
        "installroot",
        "install_repoquery",
        "install_weak_deps",
        "nobest",
        "releasever",
        "security",
        "skip_broken",
        "update_only",
        "validate_certs",
        "sslverify",
        "lock_timeout",
        "use_backend",
    ];
    type Pending = ();

    fn validate(&self) -> Result<(), ModuleError> {
        if let Some(s) = self.state.as_deref()
            && !STATES.contains(&s)
        {
            return Err(ModuleError::Args(format!(
                "dnf: argument 'state' is {s:?}; valid: {}",
                STATES.join(", ")
            )));
        }
        if self.name.is_empty() && self.list.is_none() && self.update_cache.is_none() {
            return Err(ModuleError::Args(
                "dnf: one of the arguments 'name', 'list' or 'update_cache' is required".into(),
            ));
        }
        if !self.name.is_empty() && self.list.is_some() {
            return Err(ModuleError::Args(
                "dnf: the arguments 'name' and 'list' are mutually exclusive".into(),
            ));
        }
        Ok(())
    }

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<()>, ModuleError> {
        Ok(Query::done(ModuleResult::fail(scope_message(
            ctx.os_family(),
        ))))
    }

    async fn apply(&self, _: (), _: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        Ok(ModuleResult::ok())
    }
}

/// Why a `dnf`/`yum` task that runs fails here: the engine's package scope, and the way out.
fn scope_message(os_family: &str) -> String {
    let target = match os_family {
        "" => "this target's OS family is unknown (facts were not gathered)".to_string(),
        f => format!("this target's OS family is {f}"),
    };
    let hint = if os_family == "Debian" {
        "use apt or package here, or guard the task with `when: ansible_os_family == 'RedHat'`"
    } else {
        "run this playbook with --engine ansible (ansible-playbook)"
    };
    format!(
        "dnf/yum: slm-wizard's native engine manages packages on Debian-family targets only \
         (apt, package with apt); {target}; {hint}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_engine_scope_and_the_target_family() {
        let m = scope_message("Debian");
        assert!(m.contains("Debian-family targets only"), "{m}");
        assert!(m.contains("OS family is Debian"), "{m}");
        assert!(scope_message("RedHat").contains("--engine ansible"));
        assert!(scope_message("").contains("facts were not gathered"));
    }
}
