//! Writing files so that a reader never sees a half-written one and the content is never more
//! readable than the file it replaces: secrets, the wizard's session, inventories.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A file written beside its destination under an exclusive random name, with its final mode
/// from the start; [`commit`](Self::commit) renames it into place. Dropped uncommitted, it is
/// removed.
pub struct PendingFile {
    tmp: PathBuf,
    target: PathBuf,
    dir: PathBuf,
    committed: bool,
}

impl PendingFile {
    /// Writes `bytes` (fsynced) to a new temporary file beside `target`, created with `mode`.
    pub fn write(target: &Path, bytes: &[u8], mode: u32) -> std::io::Result<Self> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let nonce = hex::encode(rand::random::<[u8; 6]>());
        let tmp = dir.join(format!(".{name}.tmp-{}-{nonce}", std::process::id()));
        let pending = Self {
            tmp,
            target: target.to_path_buf(),
            dir,
            committed: false,
        };
        let mut f = OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(mode)
            .open(&pending.tmp)?;
        // The umask may have narrowed `mode`; never widened: set it exactly.
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        Ok(pending)
    }

    /// The temporary file (to check its content before it replaces anything).
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Renames the file into place and syncs the directory.
    pub fn commit(mut self) -> std::io::Result<()> {
        std::fs::rename(&self.tmp, &self.target)?;
        self.committed = true;
        File::open(&self.dir)?.sync_all()
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Absolute, with `.` and `..` resolved textually: Ansible's `unfrackpath` without following
/// links (`os.path.normpath` of the absolute path).
pub fn unfrack(p: &Path) -> PathBuf {
    use std::path::Component;
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The mode a replacement of `path` gets: the existing file's permission bits, else `new_mode`.
pub fn mode_of_or(path: &Path, new_mode: u32) -> u32 {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(new_mode)
}

/// Replaces `path` atomically with `bytes` at `mode` (temp file + fsync + rename + fsync of the
/// directory).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    PendingFile::write(path, bytes, mode)?.commit()
}

/// Creates `dir` (and its parents) private to the user: 0700, also when it already existed with
/// wider permissions (logs and journals hold task names, hosts and results).
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_keeps_the_mode_asked_and_leaves_no_temp() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("inv.yml");
        std::fs::write(&p, "old").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let mode = mode_of_or(&p, 0o644);
        assert_eq!(mode, 0o600);
        write_atomic(&p, b"new", mode).expect("atomic");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "new");
        let m = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(m, 0o600);
        // An uncommitted pending file vanishes.
        let pending = PendingFile::write(&p, b"never", 0o600).expect("pending");
        let tmp = pending.path().to_path_buf();
        assert!(tmp.exists());
        drop(pending);
        assert!(!tmp.exists());
        assert_eq!(std::fs::read_dir(d.path()).expect("dir").count(), 1);
        assert_eq!(mode_of_or(&d.path().join("missing"), 0o644), 0o644);
    }

    #[test]
    fn private_dir_creates_and_tightens() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let new = tmp.path().join("a/b");
        private_dir(&new).expect("create");
        let mode = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0)
        };
        assert_eq!(mode(&new), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        let old = tmp.path().join("old");
        std::fs::create_dir(&old).expect("mkdir");
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        private_dir(&old).expect("tighten");
        assert_eq!(mode(&old), 0o700);
    }
}
