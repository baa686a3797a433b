//! The secret store: passwords slm-wizard generated for a deployment, kept so that a re-run reuses
//! them instead of rotating them silently.
//!
//! One file per deployment under `$XDG_STATE_HOME/slm-wizard/secrets/` (directory mode 0700). A
//! deployment is the playbook's name and the sorted addresses of the hosts its plays target (see
//! [`DeploymentKey`]), not the inventory's file: a renamed copy of the inventory finds the same
//! secrets. Stores named after the inventory file (older versions) are read when the new one is
//! missing and saved under the new name by the next real run. Dry runs (`RunRequest::check`)
//! never write; a real run that generates a password first checks that its role does not exist
//! (run preparation, `prepare.rs`, above this layer); rotation keeps new values in
//! `<store>.rotating.yml` until the run that sets them succeeded. The file is YAML `variable: value`;
//! with a vault password it is an Ansible Vault file (`$ANSIBLE_VAULT;1.1;AES256`), otherwise a
//! 0600 plain file — either way `ansible-playbook -e @FILE [--vault-password-file F]` reads it.
//! Writes are atomic (temp file + fsync + rename) under an exclusive lock, and a file that cannot
//! be decrypted or parsed is never overwritten.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::compat::yaml;
use crate::secrets::{MASK, Secret};

/// A secret store that could not be read or written. The file, if any, is left as it was.
#[derive(Debug, thiserror::Error)]
#[error("secret store {}: {msg}", path.display())]
pub struct StoreError {
    pub path: PathBuf,
    pub msg: String,
}

impl StoreError {
    fn new(path: &Path, msg: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            msg: msg.into(),
        }
    }
}

pub use crate::paths::secrets_dir;

pub fn file_part(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.trim_start_matches('.').chars().take(60).collect()
}

/// The inventory path as store names used it before stores belonged to the deployment:
/// canonical, or `<localhost>`.
pub fn legacy_inventory_key(inventory: Option<&Path>) -> String {
    match inventory {
        None => "<localhost>".to_string(),
        Some(p) => std::fs::canonicalize(p)
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string(),
    }
}

pub fn playbook_name(playbook: &Path) -> String {
    playbook
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "playbook".into())
}

/// The id stores had before they belonged to the deployment: `<playbook>-<inventory>-<hash>`,
/// the hash over the playbook name and the canonical inventory path. Only read, to migrate.
pub fn legacy_deployment_id(playbook: &Path, inventory: Option<&Path>) -> String {
    use sha2::Digest;
    let name = playbook_name(playbook);
    let inv = legacy_inventory_key(inventory);
    let inv_name = inventory
        .and_then(Path::file_stem)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "localhost".into());
    let digest = sha2::Sha256::digest(format!("{name}\0{inv}").as_bytes());
    format!(
        "{}-{}-{}",
        file_part(&name),
        file_part(&inv_name),
        hex::encode(&digest[..8])
    )
}

/// Where a store keyed by the inventory's path was kept (read once, then saved under
/// the deployment's store path, `prepare::store_path`).
pub fn legacy_store_path(playbook: &Path, inventory: Option<&Path>) -> PathBuf {
    secrets_dir().join(format!("{}.yml", legacy_deployment_id(playbook, inventory)))
}

/// The secrets of one deployment, loaded and locked (exclusively, until dropped).
pub struct SecretStore {
    pub(crate) path: PathBuf,
    pub(crate) password: Option<Secret>,
    pub(crate) values: BTreeMap<String, Secret>,
    /// The first line(s) of the file: what it belongs to.
    pub(crate) comment: String,
    pub(crate) exists: bool,
    pub(crate) encrypted: bool,
    pub(crate) dirty: bool,
    /// The old-named store whose secrets were taken over.
    pub(crate) migrated_from: Option<PathBuf>,
    /// Old-named stores of this deployment that disagree (see `conflicting_stores`).
    pub(crate) conflicts: Vec<PathBuf>,
    /// Old-named stores taken over, renamed `*.migrated` once saved here.
    pub(crate) migrated_sources: Vec<PathBuf>,
    pub(crate) _lock: File,
}

impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStore")
            .field("path", &self.path)
            .field("variables", &self.values.keys().collect::<Vec<_>>())
            .field("encrypted", &self.encrypted)
            .finish()
    }
}

use crate::fsutil::private_dir;

impl SecretStore {
    /// Stores of the old naming that belong to this deployment but hold other values than the
    /// one taken over (the first is the one taken over): the hosts have the passwords of
    /// whichever ran last, which only the operator knows.
    pub fn conflicting_stores(&self) -> &[PathBuf] {
        &self.conflicts
    }

    /// The store of the old naming whose secrets this store took over (not saved yet, or just).
    pub fn migrated_from(&self) -> Option<&Path> {
        self.migrated_from.as_deref()
    }

    /// The file of a rotation that has not finished: `<store>.rotating.yml`.
    pub fn pending_path(&self) -> PathBuf {
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "secrets".into());
        self.path.with_file_name(format!("{stem}.rotating.yml"))
    }

    /// The new passwords of a rotation that started but did not finish (they may already be set
    /// on some hosts, so they are kept until a rotation finishes).
    pub fn pending(&self) -> Result<BTreeMap<String, Secret>, StoreError> {
        let p = self.pending_path();
        if !p.exists() {
            return Ok(BTreeMap::new());
        }
        Ok(Self::open(&p, self.password.clone())?.values)
    }

    /// Records `new` values as pending (before the run that sets them): a run that fails half-way
    /// never loses a password that is now on a server. Other pending values are kept.
    pub fn begin_rotation(&self, new: &[(String, Secret)]) -> Result<(), StoreError> {
        let mut pending = Self::open(&self.pending_path(), self.password.clone())?;
        pending.comment = format!(
            "# slm-wizard: new passwords of an unfinished rotation of {}.\n\
             # They may already be set on some hosts; `slm-wizard secrets rotate` finishes it.\n",
            self.path.display()
        );
        for (k, v) in new {
            pending.values.insert(k.clone(), v.clone());
        }
        pending.dirty = true;
        pending.save()
    }

    /// After a successful run: the pending values of `vars` become the stored ones (saved), and
    /// leave the pending file (removed once empty). Returns the variables rotated.
    pub fn finish_rotation(&mut self, vars: &[String]) -> Result<Vec<String>, StoreError> {
        let pending_path = self.pending_path();
        let mut pending = Self::open(&pending_path, self.password.clone())?;
        let mut done = Vec::new();
        for v in vars {
            if let Some(s) = pending.values.remove(v) {
                self.values.insert(v.clone(), s);
                done.push(v.clone());
            }
        }
        if done.is_empty() {
            return Ok(done);
        }
        self.dirty = true;
        self.save()?;
        if pending.values.is_empty() {
            std::fs::remove_file(&pending_path)
                .map_err(|e| StoreError::new(&pending_path, format!("cannot remove it: {e}")))?;
        } else {
            pending.dirty = true;
            pending.save()?;
        }
        Ok(done)
    }

    /// Opens the store file at `path` (missing = empty): takes the lock, reads and decrypts it.
    pub fn open(path: &Path, password: Option<Secret>) -> Result<Self, StoreError> {
        let err = |msg: String| StoreError::new(path, msg);
        let dir = path.parent().unwrap_or(Path::new("."));
        private_dir(dir).map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
        let name = path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let lock_path = dir.join(format!(".{name}.lock"));
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| err(format!("cannot open the lock {}: {e}", lock_path.display())))?;
        lock.lock()
            .map_err(|e| err(format!("cannot lock {}: {e}", lock_path.display())))?;
        let mut store = Self {
            path: path.to_path_buf(),
            password,
            values: BTreeMap::new(),
            comment: "# slm-wizard secrets; use with ansible-playbook -e @FILE.\n".into(),
            exists: false,
            encrypted: false,
            dirty: false,
            migrated_from: None,
            conflicts: Vec::new(),
            migrated_sources: Vec::new(),
            _lock: lock,
        };
        let text = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(store),
            Err(e) => return Err(err(format!("cannot read it: {e}"))),
        };
        store.exists = true;
        let untouched = "it was left untouched; fix it, give the right vault password, or move it away (its secrets are then lost)";
        let text =
            String::from_utf8(text).map_err(|_| err(format!("is not UTF-8 text; {untouched}")))?;
        let plain = if crate::secrets::vault::is_vault(&text) {
            store.encrypted = true;
            let Some(pw) = &store.password else {
                return Err(err(
                    "is encrypted with Ansible Vault; give its password with --vault-password-file"
                        .into(),
                ));
            };
            let bytes = crate::secrets::vault::decrypt(&text, pw.expose().as_bytes())
                .map_err(|e| err(format!("cannot be decrypted: {e}; {untouched}")))?;
            String::from_utf8(bytes).map_err(|_| {
                err(format!(
                    "decrypts to something that is not text; {untouched}"
                ))
            })?
        } else {
            text
        };
        let node = yaml::parse(&plain, path).map_err(|e| {
            err(format!(
                "cannot be parsed ({}:{}: {}); {untouched}",
                e.pos.line, e.pos.col, e.msg
            ))
        })?;
        let json = node
            .to_json_plain()
            .map_err(|e| err(format!("cannot be parsed: {}; {untouched}", e.msg)))?;
        let map = match json {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => {
                return Err(err(format!(
                    "must be a mapping of variable: secret, not {}; {untouched}",
                    json_type(&other)
                )));
            }
        };
        for (k, v) in map {
            let s = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                other => {
                    return Err(err(format!(
                        "the value of '{k}' is {}, not a string; {untouched}",
                        json_type(&other)
                    )));
                }
            };
            store.values.insert(k, Secret::new(s));
        }
        // A plain store is encrypted as soon as a vault password is configured.
        store.dirty = store.password.is_some() && !store.encrypted && !store.values.is_empty();
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file exists on disk.
    pub fn exists(&self) -> bool {
        self.exists
    }

    /// Whether the file on disk is vault-encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    /// Whether [`save`](Self::save) would write something.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    pub fn get(&self, variable: &str) -> Option<&Secret> {
        self.values.get(variable)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Variables and secrets, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Secret)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Adds a secret that is not stored yet; an existing one is never replaced (returns false).
    pub fn insert(&mut self, variable: &str, secret: Secret) -> bool {
        if self.values.contains_key(variable) {
            return false;
        }
        self.values.insert(variable.to_string(), secret);
        self.dirty = true;
        true
    }

    /// Writes the store if something changed: vault-encrypted with a password, else plain 0600.
    pub fn save(&mut self) -> Result<(), StoreError> {
        if !self.dirty {
            return Ok(());
        }
        write_secrets_file(
            &self.path,
            &self.comment,
            self.values.iter().map(|(k, v)| (k.as_str(), v)),
            self.password.as_ref(),
        )
        .map_err(|e| StoreError::new(&self.path, format!("cannot write it: {e}")))?;
        self.exists = true;
        self.encrypted = self.password.is_some();
        self.dirty = false;
        // The old-named copies are renamed, so a stale one is never taken over again (e.g.
        // after a rotation, should this store be lost).
        for old in std::mem::take(&mut self.migrated_sources) {
            let mut done = old.clone().into_os_string();
            done.push(".migrated");
            std::fs::rename(&old, &done).map_err(|e| {
                StoreError::new(
                    &old,
                    format!(
                        "saved under {}, but cannot rename it: {e}",
                        self.path.display()
                    ),
                )
            })?;
        }
        Ok(())
    }

    /// Writes every secret to `out` (vault-encrypted with `password`, else plain 0600), usable with
    /// `ansible-playbook -e @out`.
    pub fn export(&self, out: &Path, password: Option<&Secret>) -> std::io::Result<()> {
        write_secrets_file(
            out,
            &self.comment,
            self.values.iter().map(|(k, v)| (k.as_str(), v)),
            password,
        )
    }

    /// `variable: value` lines, values masked unless `reveal`.
    pub fn show_lines(&self, reveal: bool) -> Vec<String> {
        self.values
            .iter()
            .map(|(k, v)| {
                if reveal {
                    format!("{}: {}", yaml_key(k), yaml_string(v.expose()))
                } else {
                    format!("{}: {MASK}", yaml_key(k))
                }
            })
            .collect()
    }
}

fn json_type(v: &Value) -> String {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
    .to_string()
}

/// A key as YAML: plain when it reads back as the same string, else quoted.
fn yaml_key(k: &str) -> String {
    let plain_ok = !k.is_empty()
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && matches!(yaml::resolve_plain(k), yaml::Kind::Str(_));
    if plain_ok {
        k.to_string()
    } else {
        yaml_string(k)
    }
}

/// A double-quoted YAML scalar (JSON string syntax is valid YAML).
fn yaml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The YAML text of a secrets file.
pub fn render<'a>(comment: &str, values: impl Iterator<Item = (&'a str, &'a Secret)>) -> String {
    let mut out = comment.to_string();
    let mut any = false;
    for (k, v) in values {
        any = true;
        out.push_str(&format!("{}: {}\n", yaml_key(k), yaml_string(v.expose())));
    }
    if !any {
        out.push_str("{}\n");
    }
    out
}

/// Writes a secrets file atomically, mode 0600: vault-encrypted with `password`, else plain YAML.
pub fn write_secrets_file<'a>(
    path: &Path,
    comment: &str,
    values: impl Iterator<Item = (&'a str, &'a Secret)>,
    password: Option<&Secret>,
) -> std::io::Result<()> {
    let plain = render(comment, values);
    let text = match password {
        Some(pw) => crate::secrets::vault::encrypt(plain.as_bytes(), pw.expose().as_bytes(), None),
        None => plain,
    };
    write_atomic(path, text.as_bytes())
}

/// Secrets are written whole and 0600, never briefly more readable (see [`crate::fsutil`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::fsutil::write_atomic(path, bytes, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keys_and_values_are_valid_yaml() {
        let a = Secret::new("p\"w: #1\n");
        let b = Secret::new("plain");
        let text = render("# c\n", [("yes", &a), ("db_password", &b)].into_iter());
        let j = yaml::parse(&text, Path::new("x"))
            .expect("yaml")
            .to_json_plain()
            .expect("json");
        assert_eq!(j["yes"], Value::from("p\"w: #1\n"));
        assert_eq!(j["db_password"], Value::from("plain"));
    }

    #[test]
    fn saved_secrets_reload_are_never_replaced_and_can_be_encrypted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secrets/x.yml");
        let mut st = SecretStore::open(&path, None).expect("open");
        assert!(!st.exists());
        assert!(st.insert("a_password", Secret::new("first-value-123")));
        st.save().expect("save");
        drop(st);
        assert_eq!(
            std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(path.parent().expect("dir"))
                .expect("meta")
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        let mut st = SecretStore::open(&path, None).expect("reopen");
        assert_eq!(
            st.get("a_password").map(Secret::expose),
            Some("first-value-123")
        );
        assert!(!st.insert("a_password", Secret::new("another-value")));
        assert!(!st.is_dirty());
        drop(st);

        let pw = Secret::new("vault-pw");
        let mut st = SecretStore::open(&path, Some(pw.clone())).expect("open with pw");
        assert!(
            st.is_dirty(),
            "a plain store is encrypted once a password is given"
        );
        st.save().expect("save");
        drop(st);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
        let e = SecretStore::open(&path, None).expect_err("needs the password");
        assert!(e.msg.contains("--vault-password-file"), "{e}");
        let e = SecretStore::open(&path, Some(Secret::new("wrong"))).expect_err("wrong pw");
        assert!(e.msg.contains("left untouched"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
        let st = SecretStore::open(&path, Some(pw)).expect("open with pw");
        assert_eq!(
            st.get("a_password").map(Secret::expose),
            Some("first-value-123")
        );
        // No temp files are left behind.
        let names: Vec<String> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
    }

    #[test]
    fn legacy_deployment_ids_differ_by_inventory() {
        let a = legacy_deployment_id(Path::new("pb/x.yml"), Some(Path::new("/a/inv.yml")));
        let b = legacy_deployment_id(Path::new("pb/x.yml"), Some(Path::new("/b/inv.yml")));
        let c = legacy_deployment_id(Path::new("other/x.yml"), Some(Path::new("/a/inv.yml")));
        assert_ne!(a, b);
        assert_eq!(a, c);
        assert!(a.starts_with("x-inv-"), "{a}");
    }
}
