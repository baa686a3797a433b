//! Which secret store belongs to a deployment (see [`DeploymentKey`]), including the stores of
//! the old per-inventory-file naming it takes over.

use std::path::{Path, PathBuf};

use super::PrepareError;
use crate::inventory::deployment::{DeploymentKey, deployment_id};
use crate::secrets::Secret;
use crate::secrets::store::{
    SecretStore, StoreError, legacy_inventory_key, legacy_store_path, secrets_dir,
};

/// Where the secrets of a deployment are kept (see [`DeploymentKey`]).
pub fn store_path(playbook: &Path, inventory: Option<&Path>) -> PathBuf {
    secrets_dir().join(format!("{}.yml", deployment_id(playbook, inventory)))
}

/// Where the secrets of a deployment are, wherever they are on disk: its store, or the store
/// of the old per-inventory-file naming while it has not been migrated yet.
pub fn existing_store_path(playbook: &Path, inventory: Option<&Path>) -> Option<PathBuf> {
    [
        store_path(playbook, inventory),
        legacy_store_path(playbook, inventory),
    ]
    .into_iter()
    .find(|p| p.exists())
}

/// Plain stores of the old naming for `playbook` whose inventory (named in their first line)
/// still exists and targets the hosts of `key`. Encrypted ones cannot say whose they are.
fn legacy_stores_of(
    playbook: &Path,
    key: &DeploymentKey,
    password: Option<&Secret>,
) -> Vec<PathBuf> {
    let Some(name) = playbook
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
    else {
        return Vec::new();
    };
    let prefix = format!("# slm-wizard secrets of playbook {name}, inventory ");
    let Ok(dir) = std::fs::read_dir(secrets_dir()) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = dir
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            n.ends_with(".yml") && !n.starts_with('.') && !n.ends_with(".rotating.yml")
        })
        .filter(|p| {
            let Ok(text) = std::fs::read_to_string(p) else {
                return false;
            };
            let Some(inv) = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix(&prefix))
                .and_then(|l| l.strip_suffix('.'))
            else {
                return false;
            };
            let inv = (inv != "<localhost>").then(|| PathBuf::from(inv));
            if inv.as_ref().is_some_and(|i| !i.is_file()) {
                return false;
            }
            DeploymentKey::load(playbook, inv.as_deref(), password).is_ok_and(|k| k == *key)
        })
        .collect();
    out.sort();
    out
}

impl SecretStore {
    /// Opens (or prepares) the store of a deployment in [`secrets_dir`] (see [`DeploymentKey`]).
    /// When it does not exist yet but the deployment's store of the old per-inventory-file naming
    /// does, its secrets are taken over (the store is dirty: [`save`](Self::save) writes them
    /// under the new name and renames the old file `*.yml.migrated`).
    pub fn for_deployment(
        playbook: &Path,
        inventory: Option<&Path>,
        password: Option<Secret>,
    ) -> Result<Self, PrepareError> {
        let key = DeploymentKey::load(playbook, inventory, password.as_ref())?;
        let path = secrets_dir().join(format!("{}.yml", key.id()));
        let mut store = Self::open(&path, password.clone())?;
        let name = playbook
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        store.comment = format!(
            "# slm-wizard secrets of playbook {name} on {} (last written with inventory {}).\n\
             # Generated passwords are kept here so re-runs reuse them; use with ansible-playbook -e @FILE.\n",
            key.describe(),
            legacy_inventory_key(inventory)
        );
        if !store.exists {
            store.take_over_legacy(playbook, inventory, &key)?;
        }
        Ok(store)
    }

    /// Takes over the secrets of the deployment's store(s) of the old per-inventory-file naming:
    /// the given inventory's, else any other of the same playbook whose inventory targets the
    /// same hosts (a copy). Stores that disagree are recorded in
    /// [`conflicting_stores`](Self::conflicting_stores): a real run must not pick one.
    fn take_over_legacy(
        &mut self,
        playbook: &Path,
        inventory: Option<&Path>,
        key: &DeploymentKey,
    ) -> Result<(), StoreError> {
        let own = legacy_store_path(playbook, inventory);
        let mut found: Vec<PathBuf> = Vec::new();
        if own != self.path && own.exists() {
            found.push(own.clone());
        }
        found.extend(
            legacy_stores_of(playbook, key, self.password.as_ref())
                .into_iter()
                .filter(|p| *p != own && *p != self.path),
        );
        let Some(first) = found.first().cloned() else {
            return Ok(());
        };
        let taken = Self::open(&first, self.password.clone())?.values;
        self.migrated_sources.push(first.clone());
        for other in &found[1..] {
            // Unreadable ones (another vault password) cannot be compared: left alone.
            match Self::open(other, self.password.clone()) {
                Ok(o) if o.values != taken => self.conflicts.push(other.clone()),
                Ok(_) => self.migrated_sources.push(other.clone()),
                Err(_) => {}
            }
        }
        if !self.conflicts.is_empty() {
            self.conflicts.insert(0, first.clone());
        }
        self.values = taken;
        self.dirty = !self.values.is_empty();
        self.migrated_from = Some(first);
        Ok(())
    }
}
