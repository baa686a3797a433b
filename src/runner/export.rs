//! `slm-wizard runner export`: the deployment as an ansible-runner private data dir.
//!
//! ```text
//! DIR/project/            the playbook, its survey sidecar, roles/, templates/, files/, vars/ …
//! DIR/project/slm-wizard-secrets.yml   the secret answers, vault-encrypted (Vault 1.1)
//! DIR/inventory/hosts.yml the inventory (and its group_vars/, host_vars/)
//! DIR/env/extravars       the non-secret answers
//! DIR/env/vault_password  the vault password of the secrets file (0600) — the only place a
//!                         vault password is ever written; the export is as secret as the store
//! DIR/env/cmdline         --vault-password-file ../env/vault_password -e @slm-wizard-secrets.yml
//! DIR/env/envvars         host key checking on (and our known_hosts when the inventory names none)
//! DIR/env/settings
//! ```
//! ansible-runner starts ansible-playbook in `project/`, so the paths of `cmdline` are relative
//! to it.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::engine::plan::{RunRequest, is_secret_name, make_vault_fn, parse_extra_vars};
use crate::error::InputError;
use crate::playbook::survey;
use crate::prepare::{self, PrepareError, PrepareOptions};
use crate::secrets::{Redactor, Secret};

/// The secrets file in `project/`.
pub const SECRETS_FILE: &str = "slm-wizard-secrets.yml";
/// The vault password file, relative to the export.
pub const VAULT_PASSWORD_FILE: &str = "env/vault_password";

/// Directories next to a playbook that belong to it.
const PROJECT_DIRS: &[&str] = &[
    "roles",
    "templates",
    "files",
    "vars",
    "tasks",
    "handlers",
    "group_vars",
    "host_vars",
    "library",
    "module_utils",
    "filter_plugins",
    "collections",
];

pub struct ExportOptions {
    pub dir: PathBuf,
    pub playbook: PathBuf,
    pub inventory: Option<PathBuf>,
    pub extra_vars: Vec<String>,
    pub vault_password: Option<Secret>,
    pub no_generate: bool,
}

/// What the export did (for the lines the command prints; never a value).
#[derive(Debug, Default)]
pub struct Exported {
    pub secret_vars: Vec<String>,
    pub extra_vars: Vec<String>,
    pub notes: Vec<String>,
}

/// Why an export failed (the command layer picks the exit code from `kind`).
#[derive(Debug)]
pub struct ExportError {
    pub msg: String,
    pub kind: ExportFailure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFailure {
    /// The playbook, inventory, answers or an existing role refuse it.
    BadInput,
    /// Another run of the deployment holds its lock.
    Locked,
    /// Anything else (reading or writing files).
    Failed,
}

impl From<InputError> for ExportError {
    fn from(e: InputError) -> Self {
        Self {
            msg: e.to_string(),
            kind: ExportFailure::BadInput,
        }
    }
}

fn io_err(what: &Path) -> impl Fn(std::io::Error) -> ExportError + '_ {
    move |e| ExportError {
        msg: format!("{}: {e}", what.display()),
        kind: ExportFailure::Failed,
    }
}

pub async fn export(opts: &ExportOptions) -> Result<Exported, ExportError> {
    if opts
        .dir
        .read_dir()
        .is_ok_and(|mut entries| entries.next().is_some())
    {
        return Err(InputError::new(format!(
            "{}: exists and is not empty (give a new directory)",
            opts.dir.display()
        ))
        .into());
    }
    if !opts.playbook.is_file() {
        return Err(
            InputError::new(format!("{}: no such playbook", opts.playbook.display())).into(),
        );
    }
    // The answers first: a refusal (bad -e, a role that exists) leaves no directory behind.
    let request = RunRequest {
        playbook: opts.playbook.clone(),
        inventory: opts.inventory.clone(),
        extra_vars: opts.extra_vars.clone(),
        vault_password: opts.vault_password.clone(),
        ..Default::default()
    };
    let vault = make_vault_fn(opts.vault_password.clone(), Redactor::default());
    let mut values = parse_extra_vars(&opts.extra_vars, &vault)?;
    let mut secret_names: Vec<String> = Vec::new();
    let mut out = Exported::default();
    // Storing generated secrets (or reading them while a rotation writes them) is part of a
    // real run of the deployment: one at a time, like `run`. Held until the export is written.
    let _run_lock =
        crate::lock::acquire("runner export", &opts.playbook, opts.inventory.as_deref()).map_err(
            |e| ExportError {
                kind: match e {
                    crate::lock::LockError::Busy { .. } => ExportFailure::Locked,
                    crate::lock::LockError::Io(_) => ExportFailure::Failed,
                },
                msg: e.to_string(),
            },
        )?;
    if let Some(survey) = survey::load_for(&opts.playbook)? {
        let prep = prepare::prepare_checked(
            &request,
            &survey,
            PrepareOptions {
                generate: !opts.no_generate,
            },
        )
        .await
        .map_err(|e| match e {
            PrepareError::Input(e) => e.into(),
            PrepareError::RoleExists(e) => ExportError {
                msg: e.to_string(),
                kind: ExportFailure::BadInput,
            },
            PrepareError::Store(e) => ExportError {
                msg: e.to_string(),
                kind: ExportFailure::Failed,
            },
        })?;
        secret_names.extend(
            survey
                .questions
                .iter()
                .filter(|q| q.secret)
                .map(|q| q.variable.clone()),
        );
        if let Some(path) = &prep.store_path {
            for v in &prep.generated {
                out.notes
                    .push(format!("generated {v} (stored in {})", path.display()));
            }
        }
        out.notes.extend(prep.notes);
        values.extend(prep.values);
    }
    // A value holding a secret-named key anywhere (`users[0].password`) goes to the vault too.
    let (secrets, plain): (Map<String, Value>, Map<String, Value>) = values
        .into_iter()
        .partition(|(k, v)| secret_names.contains(k) || is_secret_name(k) || holds_secret_name(v));

    let dir = &opts.dir;
    for sub in ["", "project", "inventory", "env"] {
        let d = dir.join(sub);
        if !d.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&d)
                .map_err(io_err(&d))?;
        }
    }
    copy_project(&opts.playbook, &dir.join("project"))?;
    let inventory_text = copy_inventory(opts.inventory.as_deref(), &dir.join("inventory"))?;

    let mut cmdline = Vec::new();
    if !secrets.is_empty() || opts.vault_password.is_some() {
        let password = match &opts.vault_password {
            // Theirs: vaulted values of the inventory or vars files decrypt with it too.
            Some(p) => p.expose().to_string(),
            None => {
                let mut b = [0u8; 32];
                rand::Rng::fill_bytes(&mut rand::rng(), &mut b);
                hex::encode(b)
            }
        };
        write_new(
            &dir.join(VAULT_PASSWORD_FILE),
            format!("{password}\n").as_bytes(),
        )?;
        cmdline.push(format!("--vault-password-file ../{VAULT_PASSWORD_FILE}"));
        if !secrets.is_empty() {
            let yaml = serde_yaml::to_string(&Value::Object(secrets.clone())).map_err(|e| {
                ExportError {
                    msg: format!("cannot write the secrets: {e}"),
                    kind: ExportFailure::Failed,
                }
            })?;
            let text = crate::secrets::vault::encrypt(yaml.as_bytes(), password.as_bytes(), None);
            write_new(&dir.join("project").join(SECRETS_FILE), text.as_bytes())?;
            cmdline.push(format!("-e @{SECRETS_FILE}"));
        }
    }
    out.secret_vars = secrets.keys().cloned().collect();
    out.extra_vars = plain.keys().cloned().collect();
    let json = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".into());
    write_new(
        &dir.join("env/extravars"),
        format!("{}\n", json(&Value::Object(plain))).as_bytes(),
    )?;
    if !cmdline.is_empty() {
        write_new(
            &dir.join("env/cmdline"),
            format!("{}\n", cmdline.join(" ")).as_bytes(),
        )?;
    }
    let mut envvars = Map::new();
    envvars.insert("ANSIBLE_HOST_KEY_CHECKING".into(), "True".into());
    // Our known_hosts: the inventory's UserKnownHostsFile when it names one (it stays in the
    // copied inventory), else ~/.ssh/known_hosts, copied into the export.
    if !inventory_text.contains("UserKnownHostsFile") {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        if let Some(kh) = home
            .map(|h| h.join(".ssh/known_hosts"))
            .filter(|p| p.is_file())
        {
            let bytes = std::fs::read(&kh).map_err(io_err(&kh))?;
            write_new(&dir.join("env/known_hosts"), &bytes)?;
            envvars.insert(
                "ANSIBLE_SSH_ARGS".into(),
                "-C -o ControlMaster=auto -o ControlPersist=60s -o StrictHostKeyChecking=yes \
                 -o UserKnownHostsFile=../env/known_hosts"
                    .into(),
            );
        }
    }
    write_new(
        &dir.join("env/envvars"),
        format!("{}\n", json(&Value::Object(envvars))).as_bytes(),
    )?;
    write_new(
        &dir.join("env/settings"),
        // Not suppress_ansible_output: `ansible-runner worker` needs it on (its stdout is the
        // event stream), and a setting here would win over it.
        b"# ansible-runner settings of this export (written by slm-wizard runner export):\n\
          # no time limits of its own; the fleet sets its own.\n\
          job_timeout: 0\n\
          idle_timeout: 0\n",
    )?;
    Ok(out)
}

/// Creates a file that must not exist yet, mode 0600.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))
}

/// The playbook, the YAML and templates beside it (survey sidecar, imported files) and the
/// directories that belong to it.
fn copy_project(playbook: &Path, project: &Path) -> Result<(), ExportError> {
    let src = playbook
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let entries = std::fs::read_dir(src).map_err(io_err(src))?;
    for e in entries.filter_map(Result::ok) {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() && PROJECT_DIRS.contains(&name.as_str()) {
            copy_tree(&path, &project.join(&name))?;
        } else if path.is_file()
            && (path == playbook
                || [".yml", ".yaml", ".j2", ".cfg"]
                    .iter()
                    .any(|x| name.ends_with(x)))
        {
            copy_file(&path, &project.join(&name))?;
        }
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), ExportError> {
    std::fs::create_dir_all(to).map_err(io_err(to))?;
    for e in std::fs::read_dir(from)
        .map_err(io_err(from))?
        .filter_map(Result::ok)
    {
        let path = e.path();
        let target = to.join(e.file_name());
        let meta = std::fs::symlink_metadata(&path).map_err(io_err(&path))?;
        if meta.is_dir() {
            copy_tree(&path, &target)?;
        } else if meta.is_file() || path.is_file() {
            copy_file(&path, &target)?;
        }
    }
    Ok(())
}

fn copy_file(from: &Path, to: &Path) -> Result<(), ExportError> {
    std::fs::copy(from, to).map(|_| ()).map_err(io_err(from))
}

/// The inventory as `inventory/hosts.yml` with its group_vars/ and host_vars/; without one, the
/// local host. Returns the inventory's text.
fn copy_inventory(inventory: Option<&Path>, to: &Path) -> Result<String, ExportError> {
    let Some(inv) = inventory else {
        let text = "# written by slm-wizard runner export: the local host\nall:\n  hosts:\n    localhost:\n      ansible_connection: local\n      ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n";
        write_new(&to.join("hosts.yml"), text.as_bytes())?;
        return Ok(text.into());
    };
    let text = std::fs::read_to_string(inv).map_err(io_err(inv))?;
    write_new(&to.join("hosts.yml"), text.as_bytes())?;
    if let Some(dir) = inv.parent() {
        for sub in ["group_vars", "host_vars"] {
            if dir.join(sub).is_dir() {
                copy_tree(&dir.join(sub), &to.join(sub))?;
            }
        }
    }
    Ok(text)
}

/// Whether a secret-named key appears anywhere inside `v`.
fn holds_secret_name(v: &Value) -> bool {
    match v {
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| is_secret_name(k) || holds_secret_name(v)),
        Value::Array(items) => items.iter().any(holds_secret_name),
        _ => false,
    }
}

#[cfg(test)]
mod secret_split_tests {
    use super::*;

    #[test]
    fn nested_secret_names_are_found() {
        let v = serde_json::json!([{"name": "a", "password": "x"}]);
        assert!(holds_secret_name(&v));
        assert!(!holds_secret_name(
            &serde_json::json!({"name": "a", "port": 1})
        ));
    }
}
