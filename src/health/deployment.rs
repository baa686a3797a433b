//! The databases of a deployment as its SLM backend sees them, without any URL given: the
//! playbook's own `templates/database.env.j2` (what the play writes to `/etc/slm/database.env`
//! on the SLM server) rendered with the values a run would use — play vars, the inventory, `-e`
//! answers, the survey's defaults and the deployment's stored secrets. One template decides what
//! the backend and the health probes connect to.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::db::{Settings, parse_env_file};
use crate::engine::plan::{Plan, RunRequest, plan};
use crate::playbook::survey;
use crate::prepare::{PrepareError, PrepareOptions, prepare_run, store_path};
use crate::secrets::Secret;
use crate::template::Scope;

/// The playbook's template of the backend's database settings, relative to the playbook.
pub const ENV_TEMPLATE: &str = "templates/database.env.j2";

/// The inventory group whose (first) host runs the SLM backend.
pub const SERVER_GROUP: &str = "slm_server";

/// Where a deployment's databases are, as the SLM backend sees them.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The rendered settings (URLs with passwords, pool settings).
    pub settings: Settings,
    /// The SLM server's inventory name.
    pub server: String,
    /// The SLM server when it is not this machine: the URLs are as seen from it (its 127.0.0.1,
    /// the Redis VM's pg_hba admitting it alone), so probes go through it.
    pub via: Option<String>,
}

/// What identifies a deployment.
#[derive(Clone, Default)]
pub struct DeploymentRef {
    pub playbook: PathBuf,
    pub inventory: PathBuf,
    /// `-e` values, as the command line gives them.
    pub extra_vars: Vec<String>,
    /// Values set by the wizard (its answers).
    pub answers: Map<String, Value>,
    pub vault_password: Option<Secret>,
}

impl std::fmt::Debug for DeploymentRef {
    // The answers may hold passwords: their names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeploymentRef")
            .field("playbook", &self.playbook)
            .field("inventory", &self.inventory)
            .field("answers", &self.answers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Loads the deployment's values (never generating or storing a secret) and renders its
/// database settings.
pub fn load(d: &DeploymentRef) -> Result<Deployment, String> {
    let mut request = RunRequest {
        playbook: d.playbook.clone(),
        inventory: Some(d.inventory.clone()),
        extra_vars: d.extra_vars.clone(),
        extra_values: d.answers.clone(),
        vault_password: d.vault_password.clone(),
        ..Default::default()
    };
    if let Some(s) = survey::load_for(&request.playbook).map_err(|e| e.to_string())? {
        let prepared = prepare_run(&request, &s, PrepareOptions { generate: false });
        match prepared {
            Ok(p) => request.extra_values.extend(p.values),
            Err(PrepareError::Input(_))
                if !store_path(&d.playbook, Some(&d.inventory)).exists() =>
            {
                return Err(format!(
                    "no secrets are stored for this deployment yet ({}): run it first \
                     (slm-wizard run {} -i {}), or give its passwords with -e",
                    store_path(&d.playbook, Some(&d.inventory)).display(),
                    d.playbook.display(),
                    d.inventory.display()
                ));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    let plan = plan(request).map_err(|e| e.to_string())?;
    render(&plan)
}

/// Renders the settings for the first host of [`SERVER_GROUP`] with the variables it gets in
/// the play that deploys it.
pub fn render(plan: &Plan) -> Result<Deployment, String> {
    let inv = &plan.inventory;
    let server = inv
        .select(SERVER_GROUP)
        .ok()
        .and_then(|h| h.into_iter().next())
        .ok_or_else(|| {
            format!(
                "{}: no host in group '{SERVER_GROUP}' (the SLM server, where the backend's database settings live)",
                inv.path
                    .as_deref()
                    .map_or_else(|| "the inventory".into(), |p| p.display().to_string())
            )
        })?;
    let play = plan
        .play_hosts
        .iter()
        .position(|hosts| hosts.contains(&server))
        .ok_or_else(|| format!("no play of the playbook runs on {server}"))?;

    let mut magic = Map::new();
    magic.insert("inventory_hostname".into(), server.clone().into());
    let mut group_names: Vec<String> = inv
        .groups_of(&server)
        .into_iter()
        .filter(|g| g != "all")
        .collect();
    group_names.sort();
    magic.insert("group_names".into(), group_names.into());
    magic.insert("groups".into(), Value::Object(inv.groups_map()));
    magic.insert(
        "playbook_dir".into(),
        plan.playbook.dir.display().to_string().into(),
    );
    // Without facts, a host's address is what the inventory says, else its name (as SSH uses it).
    let hostvars: Map<String, Value> = inv
        .hosts
        .keys()
        .map(|h| {
            let mut vars = inv.host_vars(h);
            let address = vars
                .entry("ansible_host")
                .or_insert_with(|| h.clone().into())
                .clone();
            vars.entry("ansible_default_ipv4")
                .or_insert_with(|| serde_json::json!({ "address": address }));
            vars.insert("inventory_hostname".into(), h.clone().into());
            (h.clone(), Value::Object(vars))
        })
        .collect();

    magic.insert("hostvars".into(), Value::Object(hostvars));
    let mut scope = Scope::new(plan.templar.clone());
    scope.layers = vec![
        plan.extra.clone(),
        plan.play_vars_files[play].clone(),
        Arc::new(plan.playbook.plays[play].common.vars.clone()),
        Arc::new(inv.host_vars(&server)),
        Arc::new(magic),
    ];
    let path = plan.playbook.dir.join(ENV_TEMPLATE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let rendered = plan
        .templar
        .render_text(&text, &scope.into_value())
        .map_err(|e| {
            format!(
                "{}: {} (the deployment's values: play vars, inventory, -e, stored secrets)",
                path.display(),
                plan.redactor.redact(&e.msg)
            )
        })?;
    let pairs =
        parse_env_file(&path, &rendered).map_err(|e| plan.redactor.redact(&e.to_string()))?;
    let local = inv
        .host_vars(&server)
        .get("ansible_connection")
        .and_then(Value::as_str)
        == Some("local");
    Ok(Deployment {
        settings: Settings::from_pairs(pairs),
        via: (!local).then(|| server.clone()),
        server,
    })
}

/// Whether `playbook` comes with the template of the backend's database settings.
pub fn writes_backend_settings(playbook: &Path) -> bool {
    playbook
        .parent()
        .is_some_and(|dir| dir.join(ENV_TEMPLATE).is_file())
}

/// The file name of the bundled playbook that deploys the databases.
pub const PLAYBOOK: &str = "user-management-db.yml";

/// The bundled playbook in `playbook_dir`.
pub fn default_playbook(playbook_dir: &Path) -> PathBuf {
    playbook_dir.join(PLAYBOOK)
}
