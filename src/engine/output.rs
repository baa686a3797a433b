//! Consumers of the event stream: the Ansible-like printer, JSON lines, and the run journal.

use std::io::Write;
use std::path::PathBuf;

use super::diff::unified;
use super::events::{RunEvent, Status};
use crate::template::filters::python_json;

/// Decodes a byte stream that arrives in chunks as UTF-8: a character cut between two chunks is
/// completed with the next one instead of becoming two U+FFFD.
#[derive(Debug, Default)]
pub struct Utf8Chunks {
    carry: Vec<u8>,
}

impl Utf8Chunks {
    pub fn decode(&mut self, data: &[u8]) -> String {
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(data);
        // An incomplete sequence (at most 3 bytes) at the end waits for the next chunk.
        let keep = incomplete_suffix(&bytes);
        self.carry = bytes.split_off(bytes.len() - keep);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Length of an incomplete (but so far valid) UTF-8 sequence ending `b`.
fn incomplete_suffix(b: &[u8]) -> usize {
    for n in 1..=3.min(b.len()) {
        let start = b[b.len() - n];
        let need = match start {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            0x80..=0xBF => continue,
            _ => return 0,
        };
        return if need > n { n } else { 0 };
    }
    0
}

/// Text from a target made safe for a terminal: escape sequences and other control characters
/// (which could set the window title, clear the screen or fake output) become visible `\x1b`
/// style escapes; newlines and tabs stay.
pub fn sanitize_terminal(s: &str) -> std::borrow::Cow<'_, str> {
    // Bidi overrides too: they reorder what the reader sees ("Trojan Source").
    let bad = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(bad) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            let n = u32::from(c);
            if n <= 0xff {
                out.push_str(&format!("\\x{n:02x}"));
            } else {
                out.push_str(&format!("\\u{{{n:x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// ansible-playbook's banner line without a terminal (Display.banner, 79 columns): the title,
/// a space and stars up to column 79, at least three. Names are stripped, as its default
/// callback strips them (a folded `name: >` ends in a newline).
pub fn banner(title: &str) -> String {
    let title = title.trim();
    let stars = 79usize.saturating_sub(title.chars().count()).max(3);
    format!("{title} {}", "*".repeat(stars))
}

/// One PLAY RECAP row as ansible-playbook's default callback prints it without colour:
/// the host padded to 26 columns, each counter padded to 4.
pub fn recap_row(host: &str, c: &crate::engine::events::Counts) -> (String, String) {
    (
        format!("{host:<26}"),
        format!(
            " : ok={:<4} changed={:<4} unreachable={:<4} failed={:<4} skipped={:<4} rescued={:<4} ignored={:<4}",
            c.ok, c.changed, c.unreachable, c.failed, c.skipped, c.rescued, c.ignored
        ),
    )
}

/// A result as the default callback's `_dump_results` shows it without `-vvv`: no
/// `invocation`, `diff`, `exception`, warnings or internal keys (2.19 shows no `failed` either).
fn shown_result(
    t: &crate::engine::events::TaskResult,
) -> serde_json::Map<String, serde_json::Value> {
    match &t.result {
        serde_json::Value::Object(m) => m
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "invocation" | "diff" | "exception" | "warnings" | "deprecations" | "failed"
                ) && !k.starts_with("_ansible")
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        _ => serde_json::Map::new(),
    }
}

/// The result ansible-playbook's default callback prints beside "ok" even when not verbose
/// (`_ansible_verbose_always`: debug, assert); debug's without `changed`.
fn verbose_always_result(t: &crate::engine::events::TaskResult) -> Option<serde_json::Value> {
    let m = shown_result(t);
    let keep: &dyn Fn(&str) -> bool = match t.module.as_str() {
        // `_clean_results`: debug's msg stands alone; with `var`, the bookkeeping goes.
        "debug" if m.contains_key("msg") => &|k| k == "msg",
        "debug" => &|k| {
            !matches!(
                k,
                "changed" | "failed" | "skipped" | "invocation" | "skip_reason"
            )
        },
        // A `quiet` assert has no message and shows nothing.
        "assert" if m.contains_key("msg") => &|_| true,
        _ => return None,
    };
    Some(serde_json::Value::Object(
        m.into_iter().filter(|(k, _)| keep(k)).collect(),
    ))
}

/// Prints a run the way ansible-playbook does.
pub struct Printer<W: Write> {
    out: W,
    color: bool,
    verbose: bool,
    show_diff: bool,
    last_task: Option<(usize, String)>,
    /// Per host and stream, the start of a line whose end has not arrived yet (`-v`): a line is
    /// printed whole, however the output was cut into chunks.
    partial: std::collections::HashMap<(String, bool), String>,
}

/// How long a line may get before it is printed without its end.
const MAX_PARTIAL_LINE: usize = 4096;

impl<W: Write> Printer<W> {
    pub fn new(out: W, color: bool, verbose: bool, show_diff: bool) -> Self {
        Self {
            out,
            color,
            verbose,
            show_diff,
            last_task: None,
            partial: Default::default(),
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
            kind.to_string()
        } else {
            format!("{kind} [{}]", sanitize_terminal(name.trim()))
        };
        let _ = writeln!(self.out, "\n{}", banner(&title));
    }

    /// Prints the unfinished last lines of `host` (all hosts: `None`).
    fn flush_partial(&mut self, host: Option<&str>) {
        let mut keys: Vec<(String, bool)> = self
            .partial
            .keys()
            .filter(|(h, _)| host.is_none_or(|want| h == want))
            .cloned()
            .collect();
        keys.sort();
        for key in keys {
            if let Some(rest) = self.partial.remove(&key) {
                self.output_line(&key.0, &rest);
            }
        }
    }

    fn output_line(&mut self, host: &str, line: &str) {
        let text = format!("  [{host}] {}", line.trim_end_matches('\r'));
        let _ = writeln!(self.out, "{}", self.paint("2", &sanitize_terminal(&text)));
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
            RunEvent::Output {
                host, data, stream, ..
            } => {
                if self.verbose {
                    let key = (host.clone(), *stream == crate::transport::Stream::Stderr);
                    let mut text = self.partial.remove(&key).unwrap_or_default();
                    text.push_str(data);
                    let complete = match text.rfind('\n') {
                        Some(at) => {
                            let rest = text.split_off(at + 1);
                            std::mem::replace(&mut text, rest)
                        }
                        None => String::new(),
                    };
                    for line in complete.lines() {
                        self.output_line(host, line);
                    }
                    if text.len() > MAX_PARTIAL_LINE {
                        self.output_line(host, &text);
                    } else if !text.is_empty() {
                        self.partial.insert(key, text);
                    }
                }
            }
            RunEvent::TaskResult(t) => {
                self.flush_partial(Some(&t.host));
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
                                serde_json::Value::String(s) => sanitize_terminal(s).into_owned(),
                                other => other.to_string(),
                            }
                        )
                    })
                    .unwrap_or_default();
                let shown = t.shown_host();
                let host = sanitize_terminal(&shown);
                let line = match t.status {
                    // ansible-playbook's word for an include's own result.
                    Status::Ok if matches!(t.module.as_str(), "include_tasks" | "include_role") => {
                        self.paint("36", &format!("included: [{host}]{item}"))
                    }
                    Status::Ok => {
                        let shown = verbose_always_result(t)
                            .map(|r| {
                                format!(" => {}", sanitize_terminal(&python_json(&r, Some(4))))
                            })
                            .unwrap_or_default();
                        self.paint("32", &format!("ok: [{host}]{item}{shown}"))
                    }
                    Status::Changed => self.paint("33", &format!("changed: [{host}]{item}")),
                    Status::Skipped => self.paint("36", &format!("skipping: [{host}]{item}")),
                    Status::Failed | Status::Unreachable => {
                        let what = if t.status == Status::Failed {
                            "FAILED!"
                        } else {
                            "UNREACHABLE!"
                        };
                        let mut detail = shown_result(t);
                        if t.status == Status::Unreachable {
                            detail.insert("unreachable".into(), true.into());
                        }
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
                                "fatal: [{host}]{item}: {what} => {}",
                                python_json(&serde_json::Value::Object(detail), None)
                            ),
                        );
                        if t.ignored {
                            s.push_str(&self.paint("36", "\n...ignoring"));
                        }
                        s
                    }
                };
                let _ = writeln!(self.out, "{line}");
                if self.show_diff {
                    for d in &t.diff {
                        let text = unified(
                            &d.before,
                            &d.after,
                            &format!("before: {}", d.before_header),
                            &format!("after: {}", d.after_header),
                        );
                        for l in text.lines() {
                            let l = &*sanitize_terminal(l);
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
            RunEvent::HostStopped { host, .. } => self.flush_partial(Some(host)),
            // `run` says on stderr when the engine is not the native one.
            RunEvent::Engine { .. } => {}
            RunEvent::Warning { msg } => {
                let _ = writeln!(
                    self.out,
                    "{}",
                    self.paint("35", &sanitize_terminal(&format!("[WARNING]: {msg}")))
                );
            }
            RunEvent::Stats { hosts, cancelled } => {
                self.flush_partial(None);
                self.header("PLAY RECAP", "");
                // Sorted by name, as the default callback prints `sorted(stats.processed)`.
                let mut sorted: Vec<_> = hosts.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(b.0));
                for (h, c) in sorted {
                    let color = if c.failed > 0 || c.unreachable > 0 {
                        "31"
                    } else if c.changed > 0 {
                        "33"
                    } else {
                        "32"
                    };
                    let (host, counters) = recap_row(&sanitize_terminal(h), c);
                    let _ = writeln!(self.out, "{}{counters}", self.paint(color, &host));
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

/// One JSON object per line.
pub fn json_line(ev: &RunEvent) -> String {
    serde_json::to_string(ev).unwrap_or_else(|e| format!("{{\"event\":\"error\",\"msg\":\"{e}\"}}"))
}

/// Appends every event of a run to `runs/<time>-<playbook>-<pid>.<start time>.jsonl` (mode
/// 0600; the process names the run in progress, see [`prune_journals`]).
pub struct Journal {
    pub path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

impl Journal {
    pub fn create(playbook: &std::path::Path) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = crate::paths::runs_dir();
        crate::fsutil::private_dir(&dir)?;
        let stem = playbook
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("run");
        let name = format!(
            "{}-{stem}-{}.jsonl",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            crate::process::ProcessRef::current().tag()
        );
        let path = dir.join(name);
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&path)?;
        // Best effort: a journal that cannot be pruned must not stop the run.
        let _ = prune_journals(&dir, &Retention::from_env(), Some(&path));
        Ok(Self {
            path,
            file: std::io::BufWriter::new(file),
        })
    }

    pub fn record(&mut self, ev: &RunEvent) {
        // Whole lines reach the file at once: a run killed mid-way leaves a journal of
        // complete JSON lines (the next run marks it interrupted, see `lock`).
        let mut line = json_line(ev);
        line.push('\n');
        let _ = self.file.write_all(line.as_bytes());
        let _ = self.file.flush();
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.file.flush();
    }
}

/// How many run journals (and how old) are kept; older and surplus ones are deleted when a run
/// starts. `SLM_WIZARD_KEEP_RUNS` (default 200) and `SLM_WIZARD_KEEP_DAYS` (default 90); 0 means
/// no limit of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub keep_runs: usize,
    pub keep_days: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            keep_runs: 200,
            keep_days: 90,
        }
    }
}

impl Retention {
    pub fn from_env() -> Self {
        let d = Self::default();
        let num = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Self {
            keep_runs: num("SLM_WIZARD_KEEP_RUNS").map_or(d.keep_runs, |n| n as usize),
            keep_days: num("SLM_WIZARD_KEEP_DAYS").unwrap_or(d.keep_days),
        }
    }
}

/// Deletes the journals in `dir` beyond `keep` (the newest by name, which starts with the start
/// time, are kept), except `current` and the journal of any run still in progress (its process,
/// named at the end of the file name, is alive). Returns how many were deleted.
pub fn prune_journals(
    dir: &std::path::Path,
    keep: &Retention,
    current: Option<&std::path::Path>,
) -> std::io::Result<usize> {
    let mut journals: Vec<(String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Only our own regular files: never follow a symlink planted in the directory.
        if name.ends_with(".jsonl") && entry.file_type().is_ok_and(|t| t.is_file()) {
            journals.push((name, entry.path()));
        }
    }
    journals.sort_by(|a, b| b.0.cmp(&a.0));
    let max_age = (keep.keep_days > 0)
        .then(|| std::time::Duration::from_secs(keep.keep_days.saturating_mul(86_400)));
    let now = std::time::SystemTime::now();
    let (mut removed, mut kept) = (0, 0);
    for (name, path) in &journals {
        if Some(path.as_path()) == current || run_in_progress(name) {
            kept += 1;
            continue;
        }
        let surplus = keep.keep_runs > 0 && kept >= keep.keep_runs;
        let too_old = max_age.is_some_and(|max| {
            std::fs::symlink_metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > max)
        });
        if surplus || too_old {
            if std::fs::remove_file(path).is_ok() {
                removed += 1;
            }
        } else {
            kept += 1;
        }
    }
    Ok(removed)
}

/// Whether the process that writes journal `name` (`<time>-<playbook>-<pid>.<start>.jsonl`, or
/// `…-<pid>.jsonl` from before start times were recorded) is alive.
pub fn run_in_progress(name: &str) -> bool {
    name.trim_end_matches(".jsonl")
        .rsplit('-')
        .next()
        .and_then(crate::process::ProcessRef::parse_tag)
        .is_some_and(|p| p.is_alive())
}

/// Starts a new log file when `path` grew past `max_bytes`: the old one becomes `<path>.1`
/// (replacing the previous `.1`), so logs take at most about twice `max_bytes`.
pub fn rotate_log(path: &std::path::Path, max_bytes: u64) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() > max_bytes) {
        let mut old = path.as_os_str().to_owned();
        old.push(".1");
        let _ = std::fs::rename(path, PathBuf::from(old));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_decoded_across_chunks() {
        let text = "café ☕ 𝄞 done";
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let mut d = Utf8Chunks::default();
            let mut out = d.decode(&bytes[..cut]);
            out.push_str(&d.decode(&bytes[cut..]));
            assert_eq!(out, text, "cut at {cut}");
        }
        // Invalid bytes are replaced, not held back forever.
        let mut d = Utf8Chunks::default();
        assert_eq!(d.decode(b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn verbose_output_prints_whole_lines_and_flushes_the_rest() {
        let mut buf = Vec::new();
        {
            let mut p = Printer::new(&mut buf, false, true, false);
            let out = |data: &str| RunEvent::Output {
                host: "h".into(),
                task_id: 1,
                stream: crate::transport::Stream::Stdout,
                data: data.into(),
            };
            p.handle(&out("one\ntw"));
            p.handle(&out("o\nthr"));
            p.handle(&RunEvent::HostStopped {
                host: "h".into(),
                reason: "gone".into(),
            });
        }
        let text = String::from_utf8(buf).expect("utf-8");
        assert_eq!(text, "  [h] one\n  [h] two\n  [h] thr\n");
    }

    #[test]
    fn banners_and_recap_rows_are_ansible_playbooks() {
        // Lines copied from ansible-core 2.19's output without a terminal.
        assert_eq!(
            banner("TASK [Stat the file again]"),
            "TASK [Stat the file again] *****************************************************"
        );
        assert_eq!(
            banner("PLAY RECAP"),
            "PLAY RECAP *********************************************************************"
        );
        let long = format!("TASK [{}]", "x".repeat(80));
        assert!(banner(&long).ends_with("x] ***"));
        let c = crate::engine::events::Counts {
            ok: 13,
            failed: 4,
            rescued: 2,
            ..Default::default()
        };
        let (host, counters) = recap_row("testhost", &c);
        assert_eq!(
            format!("{host}{counters}"),
            "testhost                   : ok=13   changed=0    unreachable=0    failed=4    skipped=0    rescued=2    ignored=0   "
        );
    }

    #[test]
    fn terminal_text_keeps_newlines_and_tabs_only() {
        assert_eq!(sanitize_terminal("a\tb\nc"), "a\tb\nc");
        assert_eq!(sanitize_terminal("\x1b[2J\u{7}"), "\\x1b[2J\\x07");
        assert_eq!(sanitize_terminal("x\u{202e}y"), "x\\u{202e}y");
    }

    fn journal(dir: &std::path::Path, name: &str, age_days: u64) -> PathBuf {
        let p = dir.join(name);
        let f = std::fs::File::create(&p).expect("create");
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(age_days * 86_400);
        f.set_modified(t).expect("set mtime");
        p
    }

    #[test]
    fn journals_are_pruned_by_count_and_age_but_never_a_live_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        // pid 1 is alive in any Linux system (a container's init too).
        let live = journal(d, "20200101T000000.000Z-old-live-1.jsonl", 4000);
        let me = crate::process::ProcessRef::current();
        let live_now = journal(
            d,
            &format!("20200101T000000.000Z-now-{}.jsonl", me.tag()),
            4000,
        );
        // A live pid, but another process: the run that wrote it ended (its pid was reused).
        let reused = crate::process::ProcessRef {
            start_time: me.start_time.map(|t| t + 1),
            ..me
        };
        let recycled = journal(
            d,
            &format!("20200101T000000.000Z-re-{}.jsonl", reused.tag()),
            4000,
        );
        let dead_pid = 999_999_999u32; // above pid_max
        let mut names = Vec::new();
        for i in 0..10 {
            names.push(journal(
                d,
                &format!("20261101T0000{i:02}.000Z-pb-{dead_pid}.jsonl"),
                i,
            ));
        }
        let old = journal(d, &format!("20261201T000000.000Z-pb-{dead_pid}.jsonl"), 100);
        let current = journal(d, &format!("20261202T000000.000Z-pb-{dead_pid}.jsonl"), 0);
        let other = d.join("notes.txt");
        std::fs::write(&other, "x").expect("write");
        let keep = Retention {
            keep_runs: 5,
            keep_days: 90,
        };
        let removed = prune_journals(d, &keep, Some(&current)).expect("prune");
        assert!(
            live.exists() && live_now.exists(),
            "the journal of a run in progress was deleted"
        );
        assert!(!recycled.exists(), "a reused pid kept an old journal");
        assert!(current.exists() && other.exists());
        assert!(!old.exists(), "older than 90 days");
        // Newest first: current, old (deleted for age), then names[9..] until 5 are kept.
        let kept: Vec<_> = names.iter().filter(|p| p.exists()).collect();
        assert_eq!(kept.len(), 4, "{kept:?}");
        assert!(names[9..].iter().all(|p| p.exists()) && names[6].exists());
        assert_eq!(removed, 8);
        // No limits: nothing more goes.
        let none = Retention {
            keep_runs: 0,
            keep_days: 0,
        };
        assert_eq!(prune_journals(d, &none, None).expect("prune"), 0);
    }

    #[test]
    fn a_big_log_is_rotated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("wizard.log");
        std::fs::write(&log, vec![b'x'; 2000]).expect("write");
        rotate_log(&log, 5000);
        assert!(log.exists());
        rotate_log(&log, 1000);
        assert!(!log.exists());
        assert!(dir.path().join("wizard.log.1").exists());
    }
}
