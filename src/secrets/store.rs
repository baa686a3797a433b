//! The secret store: passwords slm-wizard generated for a deployment, kept so that a re-run reuses
//! them instead of rotating them silently.
//!
//! One file per deployment under `$XDG_STATE_HOME/slm-wizard/secrets/` (directory mode 0700). A
//! deployment is the playbook's name and the sorted addresses of the hosts its plays target (see
//! [`DeploymentKey`]), not the inventory's file: a renamed copy of the inventory finds the same
//! secrets. Stores named after the inventory file (older versions) are read when the new one is
//! missing and saved under the new name by the next real run. Dry runs (`RunRequest::check`)
//! never write; a real run that generates a password first checks that its role does not exist
//! ([`prepare_checked`]); rotation keeps new values in `<store>.rotating.yml` until the run that
//! sets them succeeded ([`start_rotation`], [`finish_rotation`]). The file is YAML `variable: value`;
//! with a vault password it is an Ansible Vault file (`$ANSIBLE_VAULT;1.1;AES256`), otherwise a
//! 0600 plain file — either way `ansible-playbook -e @FILE [--vault-password-file F]` reads it.
//! Writes are atomic (temp file + fsync + rename) under an exclusive lock, and a file that cannot
//! be decrypted or parsed is never overwritten.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::engine::plan::{RunRequest, make_vault_fn, parse_extra_vars};
use crate::error::InputError;
use crate::inventory::Inventory;
use crate::playbook::Item;
use crate::playbook::survey::{self, Question, Survey};
use crate::secrets::{MASK, Redactor, Secret, generate_password};
use crate::template::is_template;
use crate::yaml;

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

fn file_part(s: &str) -> String {
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
fn legacy_inventory_key(inventory: Option<&Path>) -> String {
    match inventory {
        None => "<localhost>".to_string(),
        Some(p) => std::fs::canonicalize(p)
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string(),
    }
}

fn playbook_name(playbook: &Path) -> String {
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
/// [`store_path`]).
pub fn legacy_store_path(playbook: &Path, inventory: Option<&Path>) -> PathBuf {
    secrets_dir().join(format!("{}.yml", legacy_deployment_id(playbook, inventory)))
}

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

/// The secrets of one deployment, loaded and locked (exclusively, until dropped).
pub struct SecretStore {
    path: PathBuf,
    password: Option<Secret>,
    values: BTreeMap<String, Secret>,
    /// The first line(s) of the file: what it belongs to.
    comment: String,
    exists: bool,
    encrypted: bool,
    dirty: bool,
    /// The old-named store whose secrets were taken over.
    migrated_from: Option<PathBuf>,
    /// Old-named stores of this deployment that disagree (see `conflicting_stores`).
    conflicts: Vec<PathBuf>,
    /// Old-named stores taken over, renamed `*.migrated` once saved here.
    migrated_sources: Vec<PathBuf>,
    _lock: File,
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

// ---------------------------------------------------------------------------------------------
// A survey's part of a run
// ---------------------------------------------------------------------------------------------

/// What a survey adds to a run.
#[derive(Debug, Default)]
pub struct Prepared {
    /// For `RunRequest::extra_values`: stored and generated secrets, `-e` answers converted to the
    /// question's type, and survey defaults of variables nothing else defines.
    pub values: Map<String, Value>,
    /// Every secret loaded, generated or given for a secret question: add them to the plan's
    /// redactor.
    pub secrets: Vec<Secret>,
    /// Variables generated by this call (saved unless [`stored`](Self::stored) is false).
    pub generated: Vec<String>,
    /// Whether the store was written (never for a dry run, `request.check`).
    pub stored: bool,
    /// The store used, if one was needed.
    pub store_path: Option<PathBuf>,
    /// Things worth one line to the user (never a value).
    pub notes: Vec<String>,
    /// The store with what this call added, until [`commit`](Self::commit) saves it.
    unsaved: Option<SecretStore>,
}

impl Prepared {
    /// Saves what the preparation generated or migrated (a no-op when there is nothing).
    fn commit(&mut self) -> Result<(), StoreError> {
        let Some(mut st) = self.unsaved.take() else {
            return Ok(());
        };
        let upgrading = st.is_dirty()
            && self.generated.is_empty()
            && st.exists()
            && st.migrated_from().is_none();
        let dirty = st.is_dirty();
        st.save()?;
        self.stored = dirty;
        if let Some(old) = st.migrated_from() {
            self.notes.push(format!(
                "moved the secrets of this deployment from {} to {} (stores now belong to the playbook and its hosts, not to the inventory's file name)",
                old.display(),
                st.path().display()
            ));
        }
        if upgrading {
            self.notes.push(format!(
                "encrypted the secret store {} with the vault password",
                st.path().display()
            ));
        }
        Ok(())
    }
}

/// A real run would generate a new password for a role that already exists on its host: the
/// password that role has was not generated by this deployment's store (a lost or other store,
/// or the role made by hand), and setting a new one would lock out whoever uses it. Nothing was
/// stored. Rotate on purpose with `slm-wizard secrets rotate`, or give the current password.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleExists {
    /// One entry per variable: the variable, the role, and the hosts where it exists.
    pub conflicts: Vec<RoleConflict>,
    /// Hosts that could not be asked (unreachable), with why: they may have the roles.
    pub unchecked: Vec<(String, String)>,
}

impl RoleExists {
    /// Whether the run must not go on with the generated passwords.
    pub fn blocks(&self) -> bool {
        !self.conflicts.is_empty() || !self.unchecked.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleConflict {
    pub variable: String,
    pub role: String,
    pub hosts: Vec<String>,
}

impl std::fmt::Display for RoleExists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list: Vec<String> = self
            .conflicts
            .iter()
            .map(|c| {
                format!(
                    "role '{}' already exists on {} but {} has no stored value",
                    c.role,
                    c.hosts.join(", "),
                    c.variable
                )
            })
            .collect();
        let mut list = list;
        for (host, why) in &self.unchecked {
            list.push(format!(
                "{host} could not be asked whether the roles exist ({why})"
            ));
        }
        let vars: Vec<&str> = self.conflicts.iter().map(|c| c.variable.as_str()).collect();
        write!(
            f,
            "{}; a new password could replace one in use, so nothing was run or stored. \
             Give the current password (-e {}=…), or change it on purpose with \
             `slm-wizard secrets rotate PLAYBOOK -i INVENTORY --name {}`",
            list.join("; "),
            vars.first().copied().unwrap_or("VAR"),
            vars.first().copied().unwrap_or("VAR"),
        )
    }
}

/// Why a survey's part of a run could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// A bad `-e` answer or a required variable without a value (exit code 5).
    #[error(transparent)]
    Input(#[from] InputError),
    /// The secret store could not be read or written (it is left untouched).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A new password for a role that exists already (exit code 5; the wizard asks).
    #[error("{0}")]
    RoleExists(RoleExists),
}

/// Options of [`prepare_run`]. Whether the run is a dry run comes from the request
/// (`RunRequest::check`): a dry run never writes the store — a password it would generate is
/// generated in memory for that run only, so the playbook's own checks pass.
#[derive(Debug, Clone, Copy)]
pub struct PrepareOptions {
    /// Generate (and store) passwords for unanswered `generate: password` questions. Without it,
    /// secrets already stored are still reused, but nothing new is created or written.
    pub generate: bool,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        Self { generate: true }
    }
}

/// Every variable name the inventory, the play vars and the vars_files define (for any host).
/// Values they give to secret questions are added to `secrets`.
fn defined_elsewhere(
    request: &RunRequest,
    survey: &Survey,
    secrets: &mut Vec<Secret>,
) -> Result<HashSet<String>, InputError> {
    let vault = make_vault_fn(request.vault_password.clone(), Redactor::default());
    let mut known = HashSet::new();
    let mut note = |vars: &Map<String, Value>, known: &mut HashSet<String>| {
        for (k, v) in vars {
            known.insert(k.clone());
            if let Value::String(s) = v
                && !is_template(s)
                && survey.question(k).is_some_and(|q| q.secret)
            {
                secrets.push(Secret::new(s.clone()));
            }
        }
    };
    if let Some(inv) = &request.inventory {
        let inv = Inventory::load(inv, &vault)?;
        for g in inv.groups.values() {
            note(&g.vars, &mut known);
        }
        for h in inv.hosts.values() {
            note(&h.vars, &mut known);
        }
    }
    let pb = crate::playbook::load(&request.playbook, &vault)?;
    for play in &pb.plays {
        note(&play.common.vars, &mut known);
        for items in [
            &play.pre_tasks,
            &play.tasks,
            &play.post_tasks,
            &play.handlers,
        ] {
            task_defined(items, &mut known);
        }
        for (f, _) in &play.vars_files {
            let path = pb.dir.join(f);
            if is_template(f) || !path.is_file() {
                continue; // the plan reports these
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let text = if crate::secrets::vault::is_vault(&text) {
                let pos = yaml::Pos {
                    file: std::sync::Arc::new(path.clone()),
                    line: 1,
                    col: 1,
                };
                vault(&text, &pos)?
            } else {
                text
            };
            if let Value::Object(vars) = yaml::parse(&text, &path)?.to_json(&vault)? {
                note(&vars, &mut known);
            }
        }
    }
    Ok(known)
}

/// Names tasks define for the rest of the play: `register` and `set_fact` keys (task and block
/// `vars:` are scoped to their task, so they do not count).
fn task_defined(items: &[Item], known: &mut HashSet<String>) {
    for item in items {
        match item {
            Item::Task(t) => {
                known.extend(t.register.iter().cloned());
                if t.module == "set_fact" {
                    known.extend(t.args.keys().cloned());
                }
            }
            Item::Block(b) => {
                for items in [&b.block, &b.rescue, &b.always] {
                    task_defined(items, known);
                }
            }
        }
    }
}

/// The survey's part of a run: checks `-e` answers against their questions (converting them to
/// the question's type), reuses stored secrets and generates the missing ones for unanswered
/// `generate: password` questions, fills survey defaults for variables nothing defines, and
/// insists on required answers. Put `values` into `RunRequest::extra_values` and add `secrets`
/// to the plan's redactor.
pub fn prepare_run(
    request: &RunRequest,
    survey: &Survey,
    opts: PrepareOptions,
) -> Result<Prepared, PrepareError> {
    let mut out = prepare_unsaved(request, survey, opts)?;
    if !request.check {
        out.commit()?;
    }
    Ok(out)
}

/// [`prepare_run`] for a run that is about to start, checking first (a real run that generates a
/// password) that the roles those passwords are for do not exist yet on the hosts: when one does,
/// [`PrepareError::RoleExists`] and nothing is stored. See [`crate::secrets::preflight`].
pub async fn prepare_checked(
    request: &RunRequest,
    survey: &Survey,
    opts: PrepareOptions,
) -> Result<Prepared, PrepareError> {
    let mut out = prepare_unsaved(request, survey, opts)?;
    if request.check {
        return Ok(out);
    }
    if !out.generated.is_empty() {
        let found =
            crate::secrets::preflight::existing_roles(request, &out.values, &out.generated).await;
        if found.blocks() {
            return Err(PrepareError::RoleExists(found));
        }
    }
    out.commit()?;
    Ok(out)
}

/// The survey's part of a run with nothing written yet (see [`Prepared::commit`]).
fn prepare_unsaved(
    request: &RunRequest,
    survey: &Survey,
    opts: PrepareOptions,
) -> Result<Prepared, PrepareError> {
    let mut out = Prepared::default();
    let vault = make_vault_fn(request.vault_password.clone(), Redactor::default());
    let mut given = parse_extra_vars(&request.extra_vars, &vault)?;
    given.extend(request.extra_values.clone());

    for (var, value) in &given {
        let Some(q) = survey.question(var) else {
            continue;
        };
        if let Value::String(s) = value
            && q.secret
        {
            out.secrets.push(Secret::new(s.clone()));
        }
        if value.as_str().is_some_and(is_template) {
            continue; // resolved on the host; nothing to check yet
        }
        match survey::validate(q, value) {
            Ok(Value::Null) => {
                return Err(InputError::new(format!(
                    "-e {var}: no value given; expected {} (survey question '{}' at {})",
                    q.expected(),
                    q.name,
                    q.pos
                ))
                .into());
            }
            Ok(v) => {
                if &v != value {
                    out.values.insert(var.clone(), v);
                }
            }
            Err(e) => {
                return Err(InputError::new(format!(
                    "-e {var}: {e} (survey question '{}' at {})",
                    q.name, q.pos
                ))
                .into());
            }
        }
    }

    let elsewhere = defined_elsewhere(request, survey, &mut out.secrets)?;
    let is_given = |var: &str| given.contains_key(var) || elsewhere.contains(var);

    let mut store: Option<SecretStore> = None;
    for q in &survey.questions {
        let Some(generate) = q.generate else { continue };
        if is_given(&q.variable) {
            continue;
        }
        if store.is_none() {
            let st = SecretStore::for_deployment(
                &request.playbook,
                request.inventory.as_deref(),
                request.vault_password.clone(),
            )?;
            if let [used, others @ ..] = st.conflicting_stores() {
                let msg = format!(
                    "stores of older versions of slm-wizard for this deployment (the same playbook and hosts) hold different passwords: {} and {}; the hosts have those of the one that ran last. Move the others out of {} and run again",
                    used.display(),
                    others
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    secrets_dir().display()
                );
                if !request.check {
                    return Err(InputError::new(msg).into());
                }
                out.notes.push(format!("warning: {msg}"));
            }
            store = Some(st);
        }
        let Some(st) = store.as_mut() else { continue };
        if let Some(s) = st.get(&q.variable) {
            let value = Value::String(s.expose().to_string());
            if let Err(e) = survey::validate(q, &value) {
                return Err(InputError::new(format!(
                    "the stored {} in {} no longer fits its survey question ({e}); give it with -e {}=… \
                     or remove it from the store (which rotates it)",
                    q.variable,
                    st.path().display(),
                    q.variable
                ))
                .into());
            }
            out.values.insert(q.variable.clone(), value);
            continue;
        }
        if !opts.generate {
            continue;
        }
        let secret = generate_valid(q, generate.length).ok_or_else(|| {
            InputError::at(
                &q.pos,
                format!(
                    "cannot generate a password for '{}' that fits the question ({}); give it with -e",
                    q.variable,
                    q.expected()
                ),
            )
        })?;
        out.values.insert(
            q.variable.clone(),
            Value::String(secret.expose().to_string()),
        );
        st.insert(&q.variable, secret);
        out.generated.push(q.variable.clone());
    }
    if let Some(st) = store {
        out.secrets.extend(st.iter().map(|(_, s)| s.clone()));
        out.store_path = Some(st.path().to_path_buf());
        if let Ok(p) = st.pending()
            && !p.is_empty()
        {
            out.notes.push(format!(
                "a rotation of {} did not finish (its new passwords are kept in {}); this run sets the stored ones; `slm-wizard secrets rotate` finishes it",
                p.keys().cloned().collect::<Vec<_>>().join(", "),
                st.pending_path().display()
            ));
        }
        // Without generation nothing new is written (not even a migration or an encryption).
        if opts.generate {
            out.unsaved = Some(st);
        }
    }

    for q in &survey.questions {
        if is_given(&q.variable) || out.values.contains_key(&q.variable) {
            continue;
        }
        if let Some(d) = &q.default {
            out.values.insert(q.variable.clone(), d.clone());
        } else if q.required {
            let how = if q.generate.is_some() {
                " (generation is off: --no-generate)"
            } else {
                ""
            };
            return Err(InputError::new(format!(
                "'{}' ({}) is required{how}; give it with -e {}=… — expected {} (survey question at {})",
                q.variable,
                q.name,
                q.variable,
                q.expected(),
                q.pos
            ))
            .into());
        }
    }
    Ok(out)
}

/// A rotation that started: the new passwords are recorded as pending (see
/// [`SecretStore::begin_rotation`]); run the playbook with [`values`](Self::values) in
/// `RunRequest::extra_values`, then [`finish_rotation`] once the run succeeded.
#[derive(Debug)]
pub struct Rotation {
    /// The variables rotated.
    pub variables: Vec<String>,
    /// Their new values (for `RunRequest::extra_values`).
    pub values: Map<String, Value>,
    /// The values they had (for a check that the old password is refused).
    pub old: Map<String, Value>,
    /// New and old values, for the plan's redactor.
    pub secrets: Vec<Secret>,
    /// Variables whose new value comes from an unfinished earlier rotation (reused, since it
    /// may already be set on some hosts).
    pub resumed: Vec<String>,
    pub store_path: PathBuf,
    pub pending_path: PathBuf,
}

/// Starts rotating `names` (none: every `generate: password` question of the survey) of the
/// deployment of `request`: each must be generated by the survey, stored already, and not set
/// anywhere else (inventory, play or `-e`: change it there). New values are generated (or taken
/// from an unfinished rotation) and written as pending before anything runs.
pub fn start_rotation(
    request: &RunRequest,
    survey: &Survey,
    names: &[String],
) -> Result<Rotation, PrepareError> {
    let generated: Vec<&Question> = survey
        .questions
        .iter()
        .filter(|q| q.generate.is_some())
        .collect();
    let valid = || {
        generated
            .iter()
            .map(|q| q.variable.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if generated.is_empty() {
        return Err(InputError::new(format!(
            "{}: its survey generates no password; nothing to rotate",
            request.playbook.display()
        ))
        .into());
    }
    let mut chosen: Vec<&Question> = Vec::new();
    for n in names {
        match generated.iter().find(|q| &q.variable == n) {
            Some(q) => {
                if !chosen.iter().any(|c| c.variable == q.variable) {
                    chosen.push(q);
                }
            }
            None => {
                return Err(InputError::new(format!(
                    "--name {n}: not a generated password of this playbook's survey; valid: {}",
                    valid()
                ))
                .into());
            }
        }
    }
    if chosen.is_empty() {
        chosen = generated.clone();
    }
    let vault = make_vault_fn(request.vault_password.clone(), Redactor::default());
    let mut given = parse_extra_vars(&request.extra_vars, &vault)?;
    // The wizard's answers count as given, as in `prepare_unsaved`.
    given.extend(request.extra_values.clone());
    let mut ignored = Vec::new();
    let elsewhere = defined_elsewhere(request, survey, &mut ignored)?;
    for q in &chosen {
        if given.contains_key(&q.variable) || elsewhere.contains(&q.variable) {
            return Err(InputError::new(format!(
                "{} is set by the inventory, the playbook or -e, not generated: change it there",
                q.variable
            ))
            .into());
        }
    }
    let st = SecretStore::for_deployment(
        &request.playbook,
        request.inventory.as_deref(),
        request.vault_password.clone(),
    )?;
    let pending = st.pending()?;
    let mut out = Rotation {
        variables: Vec::new(),
        values: Map::new(),
        old: Map::new(),
        secrets: Vec::new(),
        resumed: Vec::new(),
        store_path: st.path().to_path_buf(),
        pending_path: st.pending_path(),
    };
    let mut new = Vec::new();
    for q in &chosen {
        // No stored value (a lost store, a role made elsewhere): rotating is the explicit way
        // to give the existing role a new password, so the old one is simply unknown.
        let old = st.get(&q.variable).cloned();
        let secret = match pending.get(&q.variable) {
            Some(p) => {
                out.resumed.push(q.variable.clone());
                p.clone()
            }
            None => {
                let length = q.generate.map_or(32, |g| g.length);
                generate_valid(q, length).ok_or_else(|| {
                    InputError::at(
                        &q.pos,
                        format!(
                            "cannot generate a password for '{}' that fits the question ({})",
                            q.variable,
                            q.expected()
                        ),
                    )
                })?
            }
        };
        if let Some(old) = old {
            out.old
                .insert(q.variable.clone(), Value::String(old.expose().to_string()));
            out.secrets.push(old);
        }
        out.values.insert(
            q.variable.clone(),
            Value::String(secret.expose().to_string()),
        );
        out.secrets.push(secret.clone());
        out.variables.push(q.variable.clone());
        new.push((q.variable.clone(), secret));
    }
    st.begin_rotation(&new)?;
    Ok(out)
}

/// After the rotation's run succeeded: its new values become the stored ones.
pub fn finish_rotation(request: &RunRequest, rotation: &Rotation) -> Result<(), PrepareError> {
    let mut st = SecretStore::for_deployment(
        &request.playbook,
        request.inventory.as_deref(),
        request.vault_password.clone(),
    )?;
    st.finish_rotation(&rotation.variables)?;
    Ok(())
}

/// A generated password that passes the question's checks (a pattern may need a few draws).
fn generate_valid(q: &Question, length: usize) -> Option<Secret> {
    (0..1000).find_map(|_| {
        let s = generate_password(length);
        survey::validate(q, &Value::String(s.expose().to_string()))
            .is_ok()
            .then_some(s)
    })
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
