//! One real run at a time per deployment.
//!
//! A deployment (the playbook and the hosts it targets, the same identity as its secret store,
//! see [`crate::inventory::deployment::DeploymentKey`]) has a lock file under
//! `$XDG_STATE_HOME/slm-wizard/locks/<id>.lock`. A real run (`slm-wizard run`, the wizard's real
//! run; never a dry run) holds an exclusive `flock` on it for its whole duration: the kernel
//! releases it when the process ends, however it ends, so a killed run never leaves a lock
//! that blocks the next one. Beside it, `<id>.json` says who holds it (user, terminal, SSH
//! client, what runs, since when, its journal) for the refusal message. A record found while
//! the flock is free was left by a run that was killed: it is taken over, and that run's
//! journal, when it has no end record, gets an `{"event":"interrupted"}` line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long a refused acquisition keeps trying: covers another process briefly holding the
/// lock to look at it (the stale-record sweep), never a real run.
const BUSY_RETRY: Duration = Duration::from_millis(600);

/// Who holds (or held) a deployment's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    pub pid: u32,
    /// Field 22 of `/proc/PID/stat` (clock ticks after boot): tells a reused pid apart.
    pub start_time: Option<u64>,
    pub user: String,
    pub tty: Option<String>,
    /// `IP port` of the SSH client the holder was started from (`SSH_CLIENT`/`SSH_CONNECTION`).
    pub ssh_client: Option<String>,
    /// `run` (headless) or `wizard`.
    pub mode: String,
    pub playbook: String,
    pub inventory: Option<String>,
    /// The deployment's hosts, for messages.
    pub hosts: String,
    pub since: chrono::DateTime<chrono::Utc>,
    pub journal: Option<PathBuf>,
}

impl LockRecord {
    /// A record for this process.
    pub fn current(mode: &str, playbook: &Path, inventory: Option<&Path>, hosts: &str) -> Self {
        let pid = std::process::id();
        Self {
            pid,
            start_time: crate::process::start_time(pid),
            user: current_user(),
            tty: current_tty(),
            ssh_client: ssh_client(),
            mode: mode.into(),
            playbook: playbook.display().to_string(),
            inventory: inventory.map(|p| p.display().to_string()),
            hosts: hosts.into(),
            since: chrono::Utc::now(),
            journal: None,
        }
    }

    /// Whether the process that wrote the record still runs (same pid and start time).
    pub fn is_alive(&self) -> bool {
        self.process().is_alive()
    }

    /// The process that wrote the record.
    pub fn process(&self) -> crate::process::ProcessRef {
        crate::process::ProcessRef {
            pid: self.pid,
            start_time: self.start_time,
        }
    }

    /// One line each: what, who from where, since when, the playbook and inventory (short
    /// lines: the wizard shows them in a narrow panel).
    fn describe(&self) -> Vec<String> {
        let mut who = format!(
            "slm-wizard {}, pid {}, user {}",
            self.mode, self.pid, self.user
        );
        if let Some(t) = &self.tty {
            who.push_str(&format!(" on {t}"));
        }
        let mut lines = vec![who];
        if let Some(c) = &self.ssh_client {
            lines.push(format!("from SSH client {c}"));
        }
        lines.push(format!("since {}", self.since_text()));
        lines.push(format!("playbook {}", self.playbook));
        lines.push(format!(
            "inventory {}",
            self.inventory.as_deref().unwrap_or("none (localhost)")
        ));
        lines
    }

    fn since_text(&self) -> String {
        let ago = (chrono::Utc::now() - self.since).num_seconds().max(0);
        let ago = if ago < 120 {
            format!("{ago} s ago")
        } else {
            format!("{} min ago", ago / 60)
        };
        format!("{} ({ago})", self.since.format("%Y-%m-%d %H:%M:%S UTC"))
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum LockError {
    /// Another run holds the lock; its record when it could be read.
    #[error("{}", busy_message(.hosts, .holder.as_deref(), .path))]
    Busy {
        hosts: String,
        holder: Option<Box<LockRecord>>,
        path: PathBuf,
    },
    #[error("cannot lock the deployment: {0}")]
    Io(String),
}

fn busy_message(hosts: &str, holder: Option<&LockRecord>, path: &Path) -> String {
    match holder {
        Some(h) => format!(
            "another run of this deployment ({hosts}) is in progress:\n  {}\n\
             wait for it to end, or stop it (kill {}), then run again",
            h.describe().join("\n  "),
            h.pid
        ),
        None => format!(
            "another run of this deployment ({hosts}) is in progress (it holds {}); wait for it \
             to end, then run again",
            path.display()
        ),
    }
}

/// The lock of one deployment, held until dropped.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    record_path: PathBuf,
    record: LockRecord,
    /// The record of a killed run this one took over.
    pub taken_over: Option<LockRecord>,
}

pub use crate::paths::locks_dir;

/// Takes the lock of the deployment of `playbook` + `inventory` (keyed like its secret store)
/// for a real run; `mode` is `run` or `wizard`. Refused with the holder's record when another
/// run holds it. Also marks the journals of every killed run as interrupted.
pub fn acquire(
    mode: &str,
    playbook: &Path,
    inventory: Option<&Path>,
) -> Result<RunLock, LockError> {
    use crate::inventory::deployment as store;
    let (id, hosts) = match store::DeploymentKey::load(playbook, inventory, None) {
        Ok(k) => (k.id(), k.describe()),
        // The run reports the real error; the lock still keeps two such runs apart.
        Err(_) => (
            store::deployment_id(playbook, inventory),
            "hosts not readable".into(),
        ),
    };
    let dir = locks_dir();
    sweep_stale(&dir);
    acquire_in(
        &dir,
        &id,
        LockRecord::current(mode, playbook, inventory, &hosts),
    )
}

/// [`acquire`] in `dir` under the id `id`, with `record` as this run's record.
pub fn acquire_in(dir: &Path, id: &str, record: LockRecord) -> Result<RunLock, LockError> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| LockError::Io(format!("cannot create {}: {e}", dir.display())))?;
    }
    let lock_path = dir.join(format!("{id}.lock"));
    let record_path = dir.join(format!("{id}.json"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| LockError::Io(format!("cannot open {}: {e}", lock_path.display())))?;
    let deadline = std::time::Instant::now() + BUSY_RETRY;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LockError::Busy {
                    hosts: record.hosts.clone(),
                    holder: read_record(&record_path).map(Box::new),
                    path: lock_path,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(LockError::Io(format!(
                    "cannot lock {}: {e}",
                    lock_path.display()
                )));
            }
        }
    }
    // The flock is ours, so a record left here belongs to a run that ended without removing
    // it: it was killed.
    let taken_over = read_record(&record_path);
    if let Some(old) = &taken_over {
        tracing::warn!(
            pid = old.pid,
            alive = old.is_alive(),
            since = %old.since,
            "taking over the lock left by a run that was killed"
        );
        if let Some(j) = &old.journal {
            mark_interrupted(j, old);
        }
    }
    let lock = RunLock {
        _file: file,
        record_path,
        record,
        taken_over,
    };
    lock.write_record()?;
    Ok(lock)
}

impl RunLock {
    /// Names the run's journal in the record (so a killed run's journal can be marked).
    pub fn set_journal(&mut self, journal: &Path) {
        self.record.journal = Some(journal.to_path_buf());
        if let Err(e) = self.write_record() {
            tracing::warn!("{e}");
        }
    }

    pub fn record(&self) -> &LockRecord {
        &self.record
    }

    fn write_record(&self) -> Result<(), LockError> {
        let text = serde_json::to_vec_pretty(&self.record)
            .map_err(|e| LockError::Io(format!("cannot encode the lock record: {e}")))?;
        crate::fsutil::write_atomic(&self.record_path, &text, 0o600)
            .map_err(|e| LockError::Io(format!("cannot write {}: {e}", self.record_path.display())))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while the flock is still held (the file closes after this), so the next
        // run never mistakes a finished run for a killed one.
        let _ = std::fs::remove_file(&self.record_path);
    }
}

fn read_record(path: &Path) -> Option<LockRecord> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text)
        .map_err(|e| tracing::warn!("ignoring the lock record {}: {e}", path.display()))
        .ok()
}

/// Marks the journals of killed runs of any deployment: a record whose flock is free.
fn sweep_stale(dir: &Path) {
    sweep_stale_with(dir, &mut mark_interrupted);
}

/// [`sweep_stale`] with `mark` for the journals. Each lock is held only to read and remove the
/// record (a run of that deployment starting meanwhile waits for that, see [`BUSY_RETRY`]);
/// the journal, maybe large, is read and marked after the lock is let go.
fn sweep_stale_with(dir: &Path, mark: &mut dyn FnMut(&Path, &LockRecord)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let old = {
            let Ok(file) = OpenOptions::new()
                .write(true)
                .open(path.with_extension("lock"))
            else {
                continue;
            };
            if file.try_lock().is_err() {
                continue; // held: a live run
            }
            // Removed under the lock: once it is let go, a record here is the next holder's.
            let old = read_record(&path);
            if old.is_some() {
                let _ = std::fs::remove_file(&path);
            }
            old
            // `file` closes here: the flock is released before the journal is touched.
        };
        if let Some(old) = old
            && let Some(j) = &old.journal
        {
            mark(j, &old);
        }
    }
}

/// Appends `{"event":"interrupted"}` to the journal of a killed run, unless it ended (a `stats`
/// record) or was marked already. A last line cut by the kill is closed first, so every line
/// stays one JSON value or a recognisable fragment.
pub fn mark_interrupted(journal: &Path, holder: &LockRecord) {
    let Ok(text) = std::fs::read(journal) else {
        return;
    };
    let ended = text.split(|b| *b == b'\n').any(|line| {
        serde_json::from_slice::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_string))
            .is_some_and(|e| e == "stats" || e == "interrupted")
    });
    if ended {
        return;
    }
    let line = serde_json::json!({
        "event": "interrupted",
        "pid": holder.pid,
        "since": holder.since,
        "detected": chrono::Utc::now(),
        "msg": "the run was killed before it ended (found at the start of a later run)",
    });
    let mut out = Vec::new();
    if !text.is_empty() && !text.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(line.to_string().as_bytes());
    out.push(b'\n');
    match OpenOptions::new().append(true).open(journal) {
        Ok(mut f) => {
            if let Err(e) = f.write_all(&out) {
                tracing::warn!("cannot mark {} interrupted: {e}", journal.display());
            }
        }
        Err(e) => tracing::warn!("cannot mark {} interrupted: {e}", journal.display()),
    }
}

fn current_user() -> String {
    // The real uid from /proc, its name from /etc/passwd; $USER only as a fallback.
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(str::to_string))
        });
    if let Some(uid) = &uid
        && let Ok(passwd) = std::fs::read_to_string("/etc/passwd")
        && let Some(name) = passwd.lines().find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            (f.nth(1)? == uid).then(|| name.to_string())
        })
    {
        return name;
    }
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| uid.map(|u| format!("uid {u}")))
        .unwrap_or_else(|| "unknown".into())
}

fn current_tty() -> Option<String> {
    (0..3).find_map(|fd| {
        let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
        let s = target.display().to_string();
        (s.starts_with("/dev/pts/") || s.starts_with("/dev/tty")).then_some(s)
    })
}

fn ssh_client() -> Option<String> {
    // SSH_CLIENT is "IP PORT LOCALPORT"; SSH_CONNECTION "IP PORT LOCALIP LOCALPORT".
    ["SSH_CLIENT", "SSH_CONNECTION"].iter().find_map(|v| {
        let value = std::env::var(v).ok()?;
        let mut f = value.split_whitespace();
        let ip = f.next()?;
        Some(match f.next() {
            Some(port) => format!("{ip} port {port}"),
            None => ip.to_string(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pid: u32) -> LockRecord {
        let mut r = LockRecord::current("run", Path::new("/p/site.yml"), None, "db1, db2");
        r.pid = pid;
        r
    }

    #[test]
    fn second_holder_is_refused_naming_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire_in(dir.path(), "d1", record(std::process::id())).unwrap();
        let err = acquire_in(dir.path(), "d1", record(1)).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, LockError::Busy { .. }), "{err:?}");
        for want in [
            "another run of this deployment (db1, db2)",
            &format!("pid {}", std::process::id()),
            "/p/site.yml",
            &format!("user {}", first.record().user),
            "since ",
            "UTC",
        ] {
            assert!(msg.contains(want), "{want:?} not in {msg}");
        }
        // Another deployment is not affected.
        acquire_in(dir.path(), "d2", record(2)).unwrap();
        drop(first);
        let again = acquire_in(dir.path(), "d1", record(3)).unwrap();
        assert!(
            again.taken_over.is_none(),
            "an ended run is not a killed one"
        );
    }

    #[test]
    fn a_left_record_is_taken_over_and_its_journal_marked() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("run.jsonl");
        std::fs::write(
            &journal,
            "{\"event\":\"playbook_start\"}\n{\"event\":\"task_st",
        )
        .unwrap();
        let mut dead = record(u32::MAX - 7);
        dead.journal = Some(journal.clone());
        std::fs::write(
            dir.path().join("d1.json"),
            serde_json::to_vec(&dead).unwrap(),
        )
        .unwrap();
        assert!(!dead.is_alive());
        let lock = acquire_in(dir.path(), "d1", record(std::process::id())).unwrap();
        assert_eq!(lock.taken_over.as_ref().map(|r| r.pid), Some(dead.pid));
        let text = std::fs::read_to_string(&journal).unwrap();
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(last["event"], "interrupted", "{text}");
        // Marked once only.
        mark_interrupted(&journal, &dead);
        assert_eq!(std::fs::read_to_string(&journal).unwrap(), text);
    }

    #[test]
    fn a_journal_that_ended_is_not_marked() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("run.jsonl");
        let text = "{\"event\":\"stats\",\"hosts\":{},\"cancelled\":false}\n";
        std::fs::write(&journal, text).unwrap();
        mark_interrupted(&journal, &record(1));
        assert_eq!(std::fs::read_to_string(&journal).unwrap(), text);
    }

    #[test]
    fn start_time_tells_a_live_process() {
        assert!(crate::process::start_time(std::process::id()).is_some());
        assert!(record(std::process::id()).is_alive());
        let mut reused = record(std::process::id());
        reused.start_time = reused.start_time.map(|t| t + 1);
        assert!(
            !reused.is_alive(),
            "same pid, other start time: another process"
        );
    }

    #[test]
    fn the_sweep_does_not_hold_a_lock_while_it_marks_a_journal() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("run.jsonl");
        std::fs::write(&journal, "{\"event\":\"playbook_start\"}\n").unwrap();
        let mut dead = record(u32::MAX - 7);
        dead.journal = Some(journal.clone());
        std::fs::write(
            dir.path().join("d1.json"),
            serde_json::to_vec(&dead).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.path().join("d1.lock"), "").unwrap();
        let mut marked = 0;
        sweep_stale_with(dir.path(), &mut |j, old| {
            // A run of that deployment starting while the sweep marks: it gets the lock at
            // once (not after the sweep), and the record it writes is not the killed run's.
            let file = OpenOptions::new()
                .write(true)
                .open(dir.path().join("d1.lock"))
                .unwrap();
            assert!(file.try_lock().is_ok(), "the sweep still holds the lock");
            assert!(!dir.path().join("d1.json").exists());
            mark_interrupted(j, old);
            marked += 1;
        });
        assert_eq!(marked, 1);
        let text = std::fs::read_to_string(&journal).unwrap();
        assert!(text.contains("\"interrupted\""), "{text}");
        // Nothing left to sweep.
        sweep_stale_with(dir.path(), &mut |_, _| panic!("swept twice"));
    }
}
