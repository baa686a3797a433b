//! `fetch`: a remote file copied to the controller — `dest/<inventory_hostname>/<src>`, or with
//! `flat` to `dest` itself — when its SHA-1 differs from the local copy's, as ansible-core's
//! fetch action does it (same keys, same messages). Not in check mode (Ansible skips it too).

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use sha1::Digest;

use super::slurp::slurp;
use crate::engine::modules::module::{Module, Query};
use crate::engine::modules::{Ctx, ModuleError, ModuleResult, args};
use crate::transport::sh_quote;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fetch {
    #[serde(deserialize_with = "args::string")]
    src: String,
    #[serde(deserialize_with = "args::string")]
    dest: String,
    #[serde(default, deserialize_with = "args::opt_bool")]
    flat: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    fail_on_missing: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_bool")]
    validate_checksum: Option<bool>,
}

/// What `apply` writes on the controller.
pub struct Pending {
    dest: PathBuf,
    bytes: Vec<u8>,
    remote_checksum: String,
}

fn sha1_hex(b: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(b))
}

fn md5_hex(b: &[u8]) -> String {
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(b))
}

/// Python's `os.path.normpath` (no file system access).
fn normpath(p: &str) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    out.iter().collect()
}

/// The missing directories of `dir`, made 0755 as ansible-playbook's `makedirs_safe` makes them
/// under the usual umask 022 (this process runs with a private umask for its own state).
fn make_dirs(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        make_dirs(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl Fetch {
    fn fail_on_missing(&self) -> bool {
        self.fail_on_missing.unwrap_or(true)
    }

    /// The controller path (Ansible: relative to the playbook's directory).
    fn local_dest(&self, ctx: &Ctx<'_>) -> Result<PathBuf, String> {
        let dwim = |p: &str| -> String {
            if p.starts_with('/') {
                p.to_string()
            } else {
                format!("{}/{p}", ctx.playbook_dir.display())
            }
        };
        let dest = if self.flat.unwrap_or(false) {
            let mut d = self.dest.clone();
            if Path::new(&d).is_dir() && !d.ends_with('/') {
                return Err("dest is an existing directory, use a trailing slash if you want to fetch src into that directory".into());
            }
            if d.ends_with('/') {
                let base = self.src.rsplit('/').next().unwrap_or(&self.src);
                d = format!("{d}{base}");
                if Path::new(&d).is_dir() {
                    return Err(format!(
                        "calculated dest '{d}' is an existing directory, use another path that does not point to an existing directory"
                    ));
                }
            }
            dwim(&d)
        } else {
            format!("{}/{}/{}", dwim(&self.dest), ctx.host, self.src)
        };
        Ok(normpath(&dest))
    }

    /// A missing remote file: failed, or with `fail_on_missing: false` just reported.
    fn missing(&self, msg: &str) -> ModuleResult {
        let mut r = if self.fail_on_missing() {
            ModuleResult::fail(msg)
        } else {
            let mut r = ModuleResult::ok().with_msg(msg);
            r.extra
                .insert("file".into(), Value::String(self.src.clone()));
            r
        };
        r.changed = false;
        r
    }
}

impl Module for Fetch {
    const NAME: &'static str = "fetch";
    const ANSIBLE_ONLY: &'static [&'static str] = &[];
    type Pending = Pending;
    const PATH_ARGS: &'static [&'static str] = &["src"];

    async fn query(&self, ctx: &Ctx<'_>) -> Result<Query<Pending>, ModuleError> {
        if ctx.check {
            let mut r =
                ModuleResult::ok().with_msg("check mode not (yet) supported for this module");
            r.skipped = true;
            return Ok(Query::done(r));
        }
        let p = sh_quote(&self.src);
        // Ansible's remote stat follows links; an unreadable file falls back to slurp.
        let probe = format!(
            "p={p}\nif [ -d \"$p\" ]; then echo D; elif [ -f \"$p\" ] && [ -r \"$p\" ]; then \
             sha1sum < \"$p\" | cut -d' ' -f1; else echo X; fi"
        );
        let out = ctx.query(&probe, None).await?;
        let remote = out.stdout.trim().to_string();
        if out.rc != 0 {
            return Ok(Query::done(ModuleResult::fail(format!(
                "Failed to get information on remote file ({}): {}",
                self.src,
                out.stderr.trim()
            ))));
        }
        if remote == "D" {
            let msg = "remote file is a directory, fetch cannot work on directories";
            if self.fail_on_missing() {
                return Ok(Query::done(ModuleResult::fail(msg)));
            }
            return Ok(Query::done(
                ModuleResult::ok().with_msg(format!("{msg}, not transferring, ignored")),
            ));
        }
        let dest = match self.local_dest(ctx) {
            Ok(d) => d,
            Err(msg) => return Ok(Query::done(ModuleResult::fail(msg))),
        };
        let local = std::fs::read(&dest).ok();
        let local_checksum = local.as_deref().map(sha1_hex);
        let mut data = None;
        let remote_checksum = if remote == "X" {
            match slurp(ctx, &self.src).await? {
                Ok(b) => {
                    let sum = sha1_hex(&b);
                    data = Some(b);
                    sum
                }
                Err(msg) if msg.contains("not found") => {
                    return Ok(Query::done(self.missing(
                        "the remote file does not exist, not transferring, ignored",
                    )));
                }
                Err(msg) => return Ok(Query::done(self.missing(&msg))),
            }
        } else {
            remote
        };
        let dest_s = dest.display().to_string();
        if local_checksum.as_deref() == Some(remote_checksum.as_str()) {
            let mut r = ModuleResult::ok();
            r.extra.insert(
                "md5sum".into(),
                local
                    .as_deref()
                    .map(md5_hex)
                    .map_or(Value::Null, Value::String),
            );
            r.extra
                .insert("file".into(), Value::String(self.src.clone()));
            r.extra.insert("dest".into(), Value::String(dest_s));
            r.extra
                .insert("checksum".into(), Value::String(remote_checksum));
            return Ok(Query::done(r));
        }
        let bytes = match data {
            Some(b) => b,
            None => match slurp(ctx, &self.src).await? {
                Ok(b) => b,
                Err(msg) => return Ok(Query::done(self.missing(&msg))),
            },
        };
        Ok(Query::change(
            ModuleResult::changed(true),
            Pending {
                dest,
                bytes,
                remote_checksum,
            },
        ))
    }

    async fn apply(&self, p: Pending, _: &Ctx<'_>) -> Result<ModuleResult, ModuleError> {
        let dest_s = p.dest.display().to_string();
        let new_checksum = sha1_hex(&p.bytes);
        let mut r = ModuleResult::changed(true);
        if self.validate_checksum.unwrap_or(true) && new_checksum != p.remote_checksum {
            r = ModuleResult::fail("checksum mismatch");
            r.extra
                .insert("file".into(), Value::String(self.src.clone()));
        } else {
            let write = || -> std::io::Result<()> {
                if let Some(parent) = p.dest.parent() {
                    make_dirs(parent)?;
                }
                let mode = crate::fsutil::mode_of_or(&p.dest, 0o644);
                crate::fsutil::write_atomic(&p.dest, &p.bytes, mode)
            };
            if let Err(e) = write() {
                return Ok(ModuleResult::fail(format!(
                    "Failed to fetch the file to {dest_s}: {e}"
                )));
            }
        }
        r.extra
            .insert("md5sum".into(), Value::String(md5_hex(&p.bytes)));
        r.extra.insert("dest".into(), Value::String(dest_s));
        r.extra.insert("remote_md5sum".into(), Value::Null);
        r.extra
            .insert("checksum".into(), Value::String(new_checksum));
        r.extra
            .insert("remote_checksum".into(), Value::String(p.remote_checksum));
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normpath_is_pythons() {
        assert_eq!(normpath("/a//b/./c/../d"), PathBuf::from("/a/b/d"));
        assert_eq!(normpath("/../x"), PathBuf::from("/x"));
    }
}
