//! Consumers of the event stream: the Ansible-like printer, JSON lines, and the run journal.

use std::io::Write;
use std::path::PathBuf;

use super::diff::unified;
use super::events::{RunEvent, Status};

/// Prints a run the way ansible-playbook does.
pub struct Printer<W: Write> {
    out: W,
    color: bool,
    verbose: bool,
    show_diff: bool,
    last_task: Option<(usize, String)>,
}

impl<W: Write> Printer<W> {
    pub fn new(out: W, color: bool, verbose: bool, show_diff: bool) -> Self {
        Self {
            out,
            color,
            verbose,
            show_diff,
            last_task: None,
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    fn header(&mut self, kind: &str, name: &str) {
        let title = if name.is_empty() {
            format!("{kind} ")
        } else {
            format!("{kind} [{name}] ")
        };
        let stars = "*".repeat(79usize.saturating_sub(title.chars().count()).max(3));
        let _ = writeln!(self.out, "\n{title}{stars}");
    }

    pub fn handle(&mut self, ev: &RunEvent) {
        match ev {
            RunEvent::PlaybookStart { check, .. } => {
                if *check {
                    let _ = writeln!(
                        self.out,
                        "{}",
                        self.paint("36", "Check mode: nothing will be changed")
                    );
                }
            }
            RunEvent::PlayStart { play, .. } => {
                self.header("PLAY", play);
                self.last_task = None;
            }
            RunEvent::TaskStart {
                task_id,
                task,
                handler,
                ..
            } => {
                if self.verbose && self.last_task.as_ref().map(|(i, _)| *i) != Some(*task_id) {
                    self.header(if *handler { "RUNNING HANDLER" } else { "TASK" }, task);
                    self.last_task = Some((*task_id, task.clone()));
                }
            }
            RunEvent::Output { host, data, .. } => {
                if self.verbose {
                    for line in data.lines() {
                        let _ = writeln!(
                            self.out,
                            "{}",
                            self.paint("2", &format!("  [{host}] {line}"))
                        );
                    }
                }
            }
            RunEvent::TaskResult(t) => {
                if self.last_task.as_ref().map(|(i, _)| *i) != Some(t.task_id) {
                    self.header("TASK", &t.task);
                    self.last_task = Some((t.task_id, t.task.clone()));
                }
                let item = t
                    .item
                    .as_ref()
                    .map(|i| {
                        format!(
                            " => (item={})",
                            match i {
                                serde_json::Value::String(s) => s.clone(),
                                other => other.to_string(),
                            }
                        )
                    })
                    .unwrap_or_default();
                let line = match t.status {
                    Status::Ok => self.paint("32", &format!("ok: [{}]{item}", t.host)),
                    Status::Changed => self.paint("33", &format!("changed: [{}]{item}", t.host)),
                    Status::Skipped => self.paint("36", &format!("skipping: [{}]{item}", t.host)),
                    Status::Failed | Status::Unreachable => {
                        let what = if t.status == Status::Failed {
                            "FAILED!"
                        } else {
                            "UNREACHABLE!"
                        };
                        let mut detail = serde_json::Map::new();
                        if let Some(m) = &t.msg {
                            detail.insert("msg".into(), m.clone().into());
                        }
                        if let Some(rc) = t.rc {
                            detail.insert("rc".into(), rc.into());
                        }
                        if let Some(e) = t.stderr.as_ref().filter(|e| !e.is_empty()) {
                            detail.insert("stderr".into(), e.clone().into());
                        }
                        let mut s = self.paint(
                            "31",
                            &format!(
                                "fatal: [{}]{item}: {what} => {}",
                                t.host,
                                serde_json::Value::Object(detail)
                            ),
                        );
                        if t.ignored {
                            s.push_str(&self.paint("36", "\n...ignoring"));
                        }
                        s
                    }
                };
                let _ = writeln!(self.out, "{line}");
                if t.module == "debug"
                    && t.status == Status::Ok
                    && let serde_json::Value::Object(m) = &t.result
                {
                    let shown: serde_json::Map<_, _> = m
                        .iter()
                        .filter(|(k, _)| !matches!(k.as_str(), "changed" | "failed"))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    let _ = writeln!(
                        self.out,
                        "{}",
                        serde_json::to_string_pretty(&shown).unwrap_or_default()
                    );
                }
                if self.show_diff {
                    for d in &t.diff {
                        let text = unified(
                            &d.before,
                            &d.after,
                            &format!("before: {}", d.before_header),
                            &format!("after: {}", d.after_header),
                        );
                        for l in text.lines() {
                            let colored = match l.chars().next() {
                                Some('+') if !l.starts_with("+++") => self.paint("32", l),
                                Some('-') if !l.starts_with("---") => self.paint("31", l),
                                Some('@') => self.paint("36", l),
                                _ => l.to_string(),
                            };
                            let _ = writeln!(self.out, "{colored}");
                        }
                    }
                }
            }
            // `run` says on stderr when the engine is not the native one.
            RunEvent::HostStopped { .. } | RunEvent::Engine { .. } => {}
            RunEvent::Warning { msg } => {
                let _ = writeln!(
                    self.out,
                    "{}",
                    self.paint("35", &format!("[WARNING]: {msg}"))
                );
            }
            RunEvent::Stats { hosts, cancelled } => {
                self.header("PLAY RECAP", "");
                let width = hosts.keys().map(|h| h.len()).max().unwrap_or(0);
                for (h, c) in hosts {
                    let color = if c.failed > 0 || c.unreachable > 0 {
                        "31"
                    } else if c.changed > 0 {
                        "33"
                    } else {
                        "32"
                    };
                    let _ = writeln!(
                        self.out,
                        "{} : ok={:<4} changed={:<4} unreachable={:<4} failed={:<4} skipped={:<4} rescued={:<4} ignored={}",
                        self.paint(color, &format!("{h:<width$}")),
                        c.ok,
                        c.changed,
                        c.unreachable,
                        c.failed,
                        c.skipped,
                        c.rescued,
                        c.ignored
                    );
                }
                if *cancelled {
                    let _ = writeln!(
                        self.out,
                        "{}",
                        self.paint(
                            "31",
                            "Run cancelled: no new tasks were started after the cancel."
                        )
                    );
                }
            }
        }
        let _ = self.out.flush();
    }
}

/// The exit status of a command whose stdout reader went away: what a shell reports for a process
/// killed by SIGPIPE (128 + 13), which is how other CLIs end in `… | head -1`.
pub const EXIT_CLOSED_PIPE: u8 = 141;

/// Stdout for the headless commands. Rust ignores SIGPIPE, so a reader that went away (`| head`)
/// shows up as EPIPE on a write: `println!` panics on it (exit 101), and ignoring it would keep
/// `health --watch --json` writing forever. This writer ends the process quietly instead
/// ([`CliStdout::exiting`]), or notes it for a caller that must wind down first
/// ([`CliStdout::noting`]: a run stops starting tasks). Other write errors are returned as usual.
#[derive(Debug, Clone)]
pub struct CliStdout {
    closed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    exit: bool,
}

impl CliStdout {
    /// Exits with [`EXIT_CLOSED_PIPE`], without a message, at the first write the reader missed.
    pub fn exiting() -> Self {
        Self {
            closed: Default::default(),
            exit: true,
        }
    }

    /// Returns the EPIPE error and remembers it: see [`CliStdout::is_closed`].
    pub fn noting() -> Self {
        Self {
            closed: Default::default(),
            exit: false,
        }
    }

    /// Whether the reader went away (writes are dropped from then on).
    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Writes one line and flushes it (errors other than a closed pipe are ignored, as `println!`
    /// would have panicked on them without helping anyone).
    pub fn line(&mut self, line: &str) {
        let _ = writeln!(self, "{line}").and_then(|()| self.flush());
    }

    fn check<T>(&self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
            if self.exit {
                std::process::exit(i32::from(EXIT_CLOSED_PIPE));
            }
        }
        r
    }
}

impl Write for CliStdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.is_closed() {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        let r = std::io::stdout().write(buf);
        self.check(r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.is_closed() {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        let r = std::io::stdout().flush();
        self.check(r)
    }
}

/// One JSON object per line.
pub fn json_line(ev: &RunEvent) -> String {
    serde_json::to_string(ev).unwrap_or_else(|e| format!("{{\"event\":\"error\",\"msg\":\"{e}\"}}"))
}

/// The state directory (`$XDG_STATE_HOME/slm-wizard`, default `~/.local/state/slm-wizard`).
pub fn state_dir() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                .join(".local/state")
        });
    base.join("slm-wizard")
}

/// Appends every event of a run to `runs/<time>-<playbook>.jsonl` (mode 0600).
pub struct Journal {
    pub path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

impl Journal {
    pub fn create(playbook: &std::path::Path) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = state_dir().join("runs");
        std::fs::create_dir_all(&dir)?;
        let stem = playbook
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("run");
        let name = format!(
            "{}-{stem}-{}.jsonl",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            std::process::id()
        );
        let path = dir.join(name);
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&path)?;
        Ok(Self {
            path,
            file: std::io::BufWriter::new(file),
        })
    }

    pub fn record(&mut self, ev: &RunEvent) {
        let _ = writeln!(self.file, "{}", json_line(ev));
        if matches!(ev, RunEvent::Stats { .. } | RunEvent::PlayStart { .. }) {
            let _ = self.file.flush();
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.file.flush();
    }
}
