//! What a deployment is: a playbook and the hosts its plays target in an inventory. Its secrets
//! and its run lock are keyed by it.

use std::path::Path;

use serde_json::Value;

use crate::compat::yaml;
use crate::error::InputError;
use crate::inventory::Inventory;
use crate::secrets::store::{file_part, legacy_deployment_id, playbook_name};
use crate::secrets::vault::make_vault_fn;
use crate::secrets::{Redactor, Secret};

/// What a deployment is, for its secrets: the playbook's name (its file name without `.yml`) and
/// the sorted set of the addresses of the hosts its plays target (without `--limit`). An address
/// is the host's `ansible_host`, else its inventory name, with `:PORT` when `ansible_port` is set
/// and not 22; `localhost`, `127.0.0.1` and `::1` all count as `localhost` (so the default
/// inventory and a run without `-i` are one deployment). A copy of the inventory under another
/// name, or the wizard's "save as", is therefore the same deployment; other hosts (or another
/// playbook) are another one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentKey {
    pub playbook: String,
    pub targets: Vec<String>,
}

impl DeploymentKey {
    /// Reads the playbook's host patterns and the inventory (none: implicit localhost). Vaulted
    /// values are decrypted with `vault_password`; without it they count as opaque text (only
    /// `ansible_host`/`ansible_port` matter here).
    pub fn load(
        playbook: &Path,
        inventory: Option<&Path>,
        vault_password: Option<&Secret>,
    ) -> Result<Self, InputError> {
        let vault = make_vault_fn(vault_password.cloned(), Redactor::default());
        let lenient = |text: &str, pos: &yaml::Pos| {
            if vault_password.is_some() {
                vault(text, pos)
            } else {
                Ok("<vault>".to_string())
            }
        };
        let pb = crate::playbook::load(playbook, &lenient)?;
        let inv = match inventory {
            Some(p) => Inventory::load(p, &lenient)?,
            None => Inventory::localhost(),
        };
        let mut targets = Vec::new();
        for play in &pb.plays {
            let hosts = inv
                .select(&play.hosts)
                .map_err(|e| InputError::at(&play.pos, format!("hosts: {e}")))?;
            for h in hosts {
                let vars = inv.host_vars(&h);
                let address = match vars.get("ansible_host") {
                    Some(Value::String(a)) if !a.trim().is_empty() => a.trim().to_string(),
                    _ => h.clone(),
                };
                let mut address = address.to_ascii_lowercase();
                if matches!(address.as_str(), "127.0.0.1" | "::1" | "[::1]") {
                    address = "localhost".into();
                }
                let port = match vars.get("ansible_port") {
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::String(s)) => s.trim().to_string(),
                    _ => String::new(),
                };
                if !port.is_empty() && port != "22" {
                    address = format!("{address}:{port}");
                }
                targets.push(address);
            }
        }
        targets.sort();
        targets.dedup();
        Ok(Self {
            playbook: playbook_name(playbook),
            targets,
        })
    }

    /// `<playbook>-<first host>-<hash>`, the hash over the playbook name and every address.
    pub fn id(&self) -> String {
        use sha2::Digest;
        let mut text = format!("deployment\0{}", self.playbook);
        for t in &self.targets {
            text.push('\0');
            text.push_str(t);
        }
        let digest = sha2::Sha256::digest(text.as_bytes());
        let first = self.targets.first().map_or("nohosts", String::as_str);
        format!(
            "{}-{}-{}",
            file_part(&self.playbook),
            file_part(first),
            hex::encode(&digest[..8])
        )
    }

    /// The hosts, for messages.
    pub fn describe(&self) -> String {
        if self.targets.is_empty() {
            "no hosts".into()
        } else {
            self.targets.join(", ")
        }
    }
}

/// The id of a deployment (see [`DeploymentKey`]); a playbook or inventory that cannot be read
/// falls back to the old per-inventory-file id (the run reports the real error).
pub fn deployment_id(playbook: &Path, inventory: Option<&Path>) -> String {
    match DeploymentKey::load(playbook, inventory, None) {
        Ok(k) => k.id(),
        Err(_) => legacy_deployment_id(playbook, inventory),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_is_its_playbook_and_the_addresses_it_targets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).expect("write");
            p
        };
        let pb = w("site.yml", "- hosts: db\n  tasks: []\n");
        let inv = "all:\n  children:\n    db:\n      hosts:\n        b:\n          ansible_host: 10.0.0.2\n        a:\n          ansible_host: 10.0.0.1\n          ansible_port: 2222\n    other:\n      hosts:\n        c: {}\n";
        let one = w("one.yml", inv);
        let copy = w("copy.yml", inv);
        // Other host names, same addresses and order changed: the same deployment.
        let renamed = w(
            "renamed.yml",
            "all:\n  children:\n    db:\n      hosts:\n        x:\n          ansible_host: 10.0.0.1\n          ansible_port: 2222\n        y:\n          ansible_host: 10.0.0.2\n",
        );
        let moved = w("moved.yml", &inv.replace("10.0.0.2", "10.0.0.3"));
        let key = |i: &Path| DeploymentKey::load(&pb, Some(i), None).expect("key");
        let k = key(&one);
        assert_eq!(k.playbook, "site");
        assert_eq!(k.targets, ["10.0.0.1:2222", "10.0.0.2"]);
        assert_eq!(k.id(), key(&copy).id());
        assert_eq!(k.id(), key(&renamed).id());
        assert_ne!(k.id(), key(&moved).id());
        let other_pb = w("other.yml", "- hosts: db\n  tasks: []\n");
        assert_ne!(
            k.id(),
            DeploymentKey::load(&other_pb, Some(&one), None)
                .expect("key")
                .id()
        );
        // Loopback names are one machine: the implicit localhost and an inventory's 127.0.0.1.
        let all = w("all.yml", "- hosts: all\n  tasks: []\n");
        let local = w(
            "local.yml",
            "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n      ansible_host: 127.0.0.1\n",
        );
        assert_eq!(
            DeploymentKey::load(&all, None, None).expect("key").id(),
            DeploymentKey::load(&all, Some(&local), None)
                .expect("key")
                .id()
        );
    }
}
