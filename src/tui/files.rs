//! What the wizard writes: its session (for the next start) and the inventory the Hosts step
//! edited, both through the one atomic write.

use super::*;

fn session_path() -> PathBuf {
    crate::paths::session_file()
}

/// The last session, if one was saved and is readable.
pub fn load_session() -> Option<Session> {
    let text = std::fs::read_to_string(session_path()).ok()?;
    serde_json::from_str(&text)
        .map_err(|e| tracing::warn!("ignoring {}: {e}", session_path().display()))
        .ok()
}

pub(super) fn save_session(session: &Session) {
    let path = session_path();
    let result = serde_json::to_vec_pretty(session)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            crate::fsutil::write_atomic(&path, &bytes, 0o600)
        });
    if let Err(e) = result {
        tracing::warn!("cannot save the session to {}: {e}", path.display());
    }
}

/// Applies the Hosts step's edits to `source` and writes `to`: checked by reading it back as an
/// inventory before it replaces anything, the old `to` kept as `to.bak-TIMESTAMP`, written
/// through a temporary file and a rename so a crash never leaves half a file.
pub(super) fn save_inventory(
    source: &Path,
    to: &Path,
    edits: &[crate::inventory::edit::Edit],
) -> Result<crate::app::state::SavedInventory, String> {
    let text = std::fs::read_to_string(source)
        .map_err(|e| format!("cannot read {}: {e}", source.display()))?;
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", source.display()))?;
    crate::inventory::edit::apply(&mut doc, edits)?;
    let out = serde_yaml::to_string(&doc).map_err(|e| e.to_string())?;
    let dir = to
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = to
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("inventory.yml");
    // Written beside the destination with the destination's mode (an inventory holding
    // passwords stays 0600), checked, then renamed into place.
    let mode = crate::fsutil::mode_of_or(to, crate::fsutil::mode_of_or(source, 0o600));
    let pending = crate::fsutil::PendingFile::write(to, out.as_bytes(), mode)
        .map_err(|e| format!("cannot write beside {}: {e}", to.display()))?;
    // Group and host variable files are looked up beside the inventory, so the check reads
    // the temporary file from the same directory.
    let vault = engine::plan::make_vault_fn(None, Redactor::default());
    let inv = Inventory::load(pending.path(), &vault)
        .map_err(|e| format!("the result would not be a valid inventory: {e}"))?;
    let backup = if to.exists() {
        let b = dir.join(format!(
            "{name}.bak-{}",
            chrono::Local::now().format("%Y%m%dT%H%M%S")
        ));
        std::fs::copy(to, &b).map_err(|e| format!("cannot keep a backup {}: {e}", b.display()))?;
        Some(b)
    } else {
        None
    };
    pending
        .commit()
        .map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    Ok(crate::app::state::SavedInventory {
        view: HostsView::from_inventory(to, &inv),
        backup,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::edit::Edit;

    #[test]
    fn saving_keeps_the_inventorys_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let inv = dir.path().join("secret-inv.yml");
        std::fs::write(
            &inv,
            "all:\n  hosts:\n    a: {ansible_host: 10.0.0.1, ansible_password: hunter22}\n",
        )
        .unwrap();
        std::fs::set_permissions(&inv, std::fs::Permissions::from_mode(0o600)).unwrap();
        let edit = Edit::Upsert {
            group: "redis_vm".into(),
            host: "b".into(),
            vars: vec![("ansible_host".into(), Some("10.0.0.2".into()))],
        };
        save_inventory(&inv, &inv, std::slice::from_ref(&edit)).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&inv), 0o600, "a 0600 inventory stays 0600");
        // Save as: the new file gets the source's mode, not the umask's.
        let other = dir.path().join("copy.yml");
        save_inventory(&inv, &other, std::slice::from_ref(&edit)).unwrap();
        assert_eq!(mode(&other), 0o600);
    }

    #[test]
    fn saving_keeps_a_backup_and_never_writes_an_invalid_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let inv = dir.path().join("inv.yml");
        let original = "all:\n  children:\n    slm_server:\n      hosts:\n        slm: {ansible_host: 10.0.0.1}\n";
        std::fs::write(&inv, original).unwrap();
        let add = Edit::Upsert {
            group: "redis_vm".into(),
            host: "redis".into(),
            vars: vec![("ansible_host".into(), Some("10.0.0.2".into()))],
        };
        let saved = save_inventory(&inv, &inv, std::slice::from_ref(&add)).unwrap();
        let backup = saved.backup.expect("a backup");
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), original);
        assert_eq!(saved.view.host_names(), ["slm", "redis"]);
        let vault = engine::plan::make_vault_fn(None, Redactor::default());
        let back = Inventory::load(&inv, &vault).unwrap();
        assert_eq!(back.host_vars("redis")["ansible_host"], "10.0.0.2");

        // A result the inventory loader refuses (here a misspelt group key the file already
        // had) is not written, and the file stays as it was.
        let broken = dir.path().join("broken.yml");
        let text = "all:\n  hostz:\n    a:\n";
        std::fs::write(&broken, text).unwrap();
        let e = save_inventory(&broken, &broken, std::slice::from_ref(&add)).unwrap_err();
        assert!(e.contains("would not be a valid inventory"), "{e}");
        assert_eq!(std::fs::read_to_string(&broken).unwrap(), text);
        // Save as: a new file, no backup, the source untouched.
        let other = dir.path().join("copy.yml");
        let saved = save_inventory(&inv, &other, &[Edit::Remove { host: "slm".into() }]).unwrap();
        assert!(saved.backup.is_none());
        assert_eq!(saved.view.host_names(), ["redis"]);
        assert!(std::fs::read_to_string(&inv).unwrap().contains("slm"));
        // No temporary files left behind.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names
                .iter()
                .any(|n| n.contains("slm-wizard-") || n.contains(".tmp-")),
            "{names:?}"
        );
        // A missing source is an error, not a panic.
        assert!(save_inventory(&dir.path().join("none.yml"), &other, &[]).is_err());
    }
}
