//! Where health's targets come from: database URLs from the environment, an env file, or the
//! deployment (its playbook's template rendered with the inventory and the stored secrets),
//! routed through an SSH host where needed (`--via-ssh`, a remote SLM server); the hosts to
//! watch from the inventory; the backend's URL. Used by `health`, `doctor`, `migrate`, the
//! wizard's Health step and its migrations.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::host::HostTarget;
use super::{ProbeConfig, Target, Tunnel, ViaHost, deployment};
use crate::db::migrate::Source;
use crate::db::{DbName, Settings};
use crate::inventory::Inventory;
use crate::secrets::{Redactor, Secret};
use crate::transport::ssh::SshParams;

/// Which databases, and where their URLs come from (`health` and `doctor`).
#[derive(Debug, Clone)]
pub struct DbSource {
    /// `slm`, `slm_users`, `autobot_users` or `all`.
    pub database: String,
    pub env_file: Option<PathBuf>,
    pub migrations_dir: Option<PathBuf>,
    pub inventory: Option<PathBuf>,
    /// The deployment's playbook and `-e` values (the URLs come from them when none are given).
    pub playbook: PathBuf,
    pub extra_vars: Vec<String>,
    pub vault_password: Option<Secret>,
    /// Reach the databases through an SSH tunnel from this inventory host.
    pub via_ssh: Option<String>,
    pub accept_new_host_keys: bool,
}

impl Default for DbSource {
    fn default() -> Self {
        Self {
            database: "all".into(),
            env_file: None,
            migrations_dir: None,
            inventory: None,
            playbook: deployment::default_playbook(Path::new("playbooks")),
            extra_vars: Vec::new(),
            vault_password: None,
            via_ssh: None,
            accept_new_host_keys: false,
        }
    }
}

/// Why a [`DbSource`] gives no databases (bad input, exit 5).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    BadInput(String),
    /// No URLs were given and the deployment's settings could not be rendered (not run yet,
    /// no secrets stored, …); the inventory itself is fine.
    #[error("no database URLs given and none from the deployment: {0}")]
    Deployment(String),
}

/// The targets of `source` (routed through SSH where needed; a tunnel that cannot open is a
/// probe's failure, not bad input) and its inventory, loaded once.
pub async fn resolve(
    source: &DbSource,
    settings: Settings,
    timeout: Duration,
) -> Result<(Vec<Target>, Option<Inventory>), SourceError> {
    let bad_input = SourceError::BadInput;
    let inv = match &source.inventory {
        Some(p) => Some(load_inventory(p, source.vault_password.clone()).map_err(bad_input)?),
        None => None,
    };
    let mut via_ssh = source.via_ssh.clone();
    // On the SLM server itself, plain `health` watches what the backend uses.
    let env_file = source.env_file.clone().or_else(|| {
        let backend = Path::new(crate::db::BACKEND_ENV_FILE);
        (source.inventory.is_none() && !settings.has_urls() && backend.exists())
            .then(|| backend.to_path_buf())
    });
    let settings = match (&source.inventory, &source.env_file) {
        (Some(inventory), None) if !settings.has_urls() => {
            let d = load_deployment(deployment::DeploymentRef {
                playbook: source.playbook.clone(),
                inventory: inventory.clone(),
                extra_vars: source.extra_vars.clone(),
                answers: Default::default(),
                vault_password: source.vault_password.clone(),
            })
            .await
            .map_err(SourceError::Deployment)?;
            via_ssh = via_ssh.or(d.via);
            d.settings
        }
        _ => settings,
    };
    let mut targets = prepare(
        &source.database,
        env_file.as_deref(),
        source.migrations_dir.as_deref(),
        settings,
    )
    .map_err(bad_input)?;
    if let Some(host) = &via_ssh {
        let Some(inv) = &inv else {
            return Err(bad_input(format!(
                "--via-ssh {host} needs the inventory that describes the host (-i)"
            )));
        };
        if !inv.hosts.contains_key(host) {
            return Err(bad_input(format!(
                "--via-ssh: host '{host}' is not in the inventory"
            )));
        }
        route_via(
            &mut targets,
            inv,
            host,
            source.accept_new_host_keys,
            timeout,
        )
        .map_err(bad_input)?;
    }
    Ok((targets, inv))
}

/// The targets of the options (bad input as a message).
pub fn prepare(
    database: &str,
    env_file: Option<&Path>,
    migrations_dir: Option<&Path>,
    settings: Settings,
) -> Result<Vec<Target>, String> {
    let dbs = DbName::parse_selection(database).map_err(|e| e.to_string())?;
    let settings = match env_file {
        Some(f) => settings.with_env_file(f).map_err(|e| e.to_string())?,
        None => settings,
    };
    let source = match migrations_dir {
        Some(d) => Source::Dir(d.to_path_buf()),
        None => Source::Embedded,
    };
    super::targets(&settings, &dbs, &source).map_err(|e| e.to_string())
}

/// Loads an inventory (vault values decrypted with `password`).
pub fn load_inventory(path: &Path, password: Option<Secret>) -> Result<Inventory, String> {
    let vault = crate::engine::plan::make_vault_fn(password, Redactor::default());
    Inventory::load(path, &vault).map_err(|e| e.to_string())
}

/// SSH parameters of an inventory host (the connection variables the engine understands).
pub fn ssh_params(
    inv: &Inventory,
    host: &str,
    accept_new: bool,
    timeout: Duration,
) -> Result<SshParams, String> {
    if !inv.hosts.contains_key(host) {
        return Err(format!("host '{host}' is not in the inventory"));
    }
    let opts = crate::engine::connect::ConnectOptions {
        accept_new_host_keys: accept_new,
        connect_timeout: timeout,
    };
    crate::engine::connect::ssh_params(host, &inv.host_vars(host), &opts)
        .map_err(|e| format!("{host}: {e}"))
}

/// Routes the targets through `host`: one SSH connection, a forward per distinct database
/// server, both opened at the first probe and again after they dropped.
fn route_via(
    targets: &mut [Target],
    inv: &Inventory,
    host: &str,
    accept_new_host_keys: bool,
    timeout: Duration,
) -> Result<(), String> {
    let params = ssh_params(inv, host, accept_new_host_keys, timeout)?;
    let via = Arc::new(ViaHost::new(host.to_string(), params));
    let mut routed: Vec<(String, Arc<Tunnel>)> = Vec::new();
    for t in targets.iter_mut() {
        let server = t.server();
        if let Some((_, tunnel)) = routed.iter().find(|(s, _)| *s == server) {
            t.tunnel = Some(tunnel.clone());
            continue;
        }
        let host_only = t.url.host.trim_start_matches('[').trim_end_matches(']');
        let tunnel = Arc::new(Tunnel::new(via.clone(), host_only, t.url.port));
        t.tunnel = Some(tunnel.clone());
        routed.push((server, tunnel));
    }
    Ok(())
}

/// [`deployment::load`] off the async threads (files, vault decryption, planning).
async fn load_deployment(d: deployment::DeploymentRef) -> Result<deployment::Deployment, String> {
    tokio::task::spawn_blocking(move || deployment::load(&d))
        .await
        .map_err(|e| e.to_string())?
}

/// Every database of a deployment, as its backend reaches them (through the SLM server when that
/// is remote, over one SSH connection).
pub async fn deployment_targets(
    d: deployment::DeploymentRef,
    timeout: Duration,
) -> Result<Vec<Target>, String> {
    let inventory = d.inventory.clone();
    let password = d.vault_password.clone();
    let found = load_deployment(d).await?;
    let mut targets = prepare("all", None, None, found.settings)?;
    if let Some(host) = &found.via {
        let inv = load_inventory(&inventory, password)?;
        route_via(&mut targets, &inv, host, false, timeout)?;
    }
    Ok(targets)
}

/// Prepared health targets (settings, tunnels) and how to probe them.
#[derive(Debug, Clone)]
pub struct HealthSource {
    pub targets: Vec<Target>,
    pub cfg: ProbeConfig,
    /// The SLM backend's base URL, to probe its `/api/health` too.
    pub api_url: Option<String>,
}

/// The SLM backend's base URL from `SLM_API_URL`, to probe its health API too.
pub fn api_url_from_env() -> Option<String> {
    std::env::var("SLM_API_URL").ok().filter(|u| !u.is_empty())
}

/// What the Health step probes when the command line gave nothing: database URLs in the
/// environment; else the wizard's deployment (what its playbook wrote for the backend, through
/// the SLM server when that is remote); else `/etc/slm/database.env` on this machine.
pub async fn health_source(
    deployment: Option<deployment::DeploymentRef>,
) -> Result<HealthSource, String> {
    let cfg = ProbeConfig::default();
    let env = Settings::from_env();
    let from_deployment = match deployment {
        // Only a playbook that writes the backend's settings says where its databases are.
        Some(d) if !env.has_urls() && deployment::writes_backend_settings(&d.playbook) => {
            Some(deployment_targets(d, cfg.timeout).await)
        }
        _ => None,
    };
    let env_file = Path::new(crate::db::BACKEND_ENV_FILE);
    let targets = match from_deployment {
        Some(Ok(targets)) => targets,
        // Without a settings file the spec's defaults would only hide why.
        Some(Err(why)) if !env_file.exists() => {
            return Err(format!("the deployment's databases: {why}"));
        }
        fallback => {
            if let Some(Err(why)) = fallback {
                tracing::info!(
                    "using {}; the deployment's settings: {why}",
                    crate::db::BACKEND_ENV_FILE
                );
            }
            prepare("all", env_file.exists().then_some(env_file), None, env)?
        }
    };
    Ok(HealthSource {
        targets,
        cfg,
        api_url: api_url_from_env(),
    })
}

/// What the wizard's Health step watches: the command line's source, else [`health_source`];
/// when that finds no databases, no database (the backend still, from `SLM_API_URL`) and why,
/// so the step can show the reason above the hosts it still watches.
pub async fn step_source(
    explicit: Option<HealthSource>,
    deployment: Option<deployment::DeploymentRef>,
) -> (HealthSource, Option<String>) {
    let found = match explicit {
        Some(s) => Ok(s),
        None => health_source(deployment).await,
    };
    match found {
        Ok(s) => (s, None),
        Err(e) => (
            HealthSource {
                targets: Vec::new(),
                cfg: ProbeConfig::default(),
                api_url: api_url_from_env(),
            },
            Some(e),
        ),
    }
}

/// The inventory hosts the databases live on: those of the spec's groups (`slm_server`,
/// `redis_vm`), or every host when the inventory has neither (as the wizard's Hosts step
/// lists them for its Health step).
pub fn database_hosts(inv: &Inventory) -> Vec<HostTarget> {
    let spec = [deployment::SERVER_GROUP, "redis_vm"];
    let any_spec = inv.groups.keys().any(|g| spec.contains(&g.as_str()));
    let mut out: Vec<HostTarget> = Vec::new();
    for h in inv.hosts.keys() {
        let in_spec = inv.groups_of(h).iter().any(|g| spec.contains(&g.as_str()));
        if (in_spec || !any_spec) && !out.iter().any(|t| &t.name == h) {
            out.push(HostTarget {
                name: h.clone(),
                vars: inv.host_vars(h),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory(text: &str) -> Inventory {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("inv.yml");
        std::fs::write(&path, text).expect("write");
        load_inventory(&path, None).expect("inventory")
    }

    #[test]
    fn the_database_hosts_are_the_spec_groups_else_every_host() {
        let inv = inventory(
            "all:\n  hosts:\n    other: {}\n  children:\n    slm_server:\n      hosts:\n        slm: {ansible_host: 10.0.0.1}\n    redis_vm:\n      hosts:\n        redis: {}\n        slm: {}\n",
        );
        let names: Vec<_> = database_hosts(&inv).into_iter().map(|h| h.name).collect();
        assert_eq!(names, ["slm", "redis"]);
        assert_eq!(database_hosts(&inv)[0].vars["ansible_host"], "10.0.0.1");
        let inv = inventory("all:\n  hosts:\n    a: {}\n    b: {}\n");
        let names: Vec<_> = database_hosts(&inv).into_iter().map(|h| h.name).collect();
        assert_eq!(names, ["a", "b"]);
    }
}
