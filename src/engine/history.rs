//! The runs journaled so far (`runs/<time>-<playbook>-<pid>.jsonl`, see
//! [`Journal`](super::output::Journal)): a summary of each, and a journal's events read back.

use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::RunEvent;
use super::output::run_in_progress;
use super::run::RunSummary;
use crate::error::InputError;

/// One run as `slm-wizard runs` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunInfo {
    /// The journal's name without `.jsonl`; `runs show ID` takes it (or a unique prefix).
    pub id: String,
    #[serde(skip)]
    pub path: PathBuf,
    /// When it started (UTC, from the journal's name).
    pub started: String,
    pub playbook: String,
    /// `native` or `ansible`; empty when the journal does not say.
    pub engine: String,
    pub check: bool,
    /// ok, failed, unreachable, cancelled, running or interrupted.
    pub result: String,
}

/// How much of a journal's end is read for its last record (a `stats` line is small; a long
/// last output line only hides the result, which then reads "interrupted").
const TAIL_BYTES: u64 = 256 * 1024;

/// The runs in `dir`, newest first (none when the directory does not exist).
pub fn list(dir: &Path) -> std::io::Result<Vec<RunInfo>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut runs = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(".jsonl") else {
            continue;
        };
        // One unreadable journal must not hide the others.
        if let Ok(info) = summary(&entry.path(), id) {
            runs.push(info);
        }
    }
    runs.sort_by(|a, b| b.id.cmp(&a.id));
    Ok(runs)
}

fn summary(path: &Path, id: &str) -> std::io::Result<RunInfo> {
    let mut file = std::fs::File::open(path)?;
    let mut info = RunInfo {
        id: id.to_string(),
        path: path.to_path_buf(),
        started: started(id),
        playbook: String::new(),
        engine: String::new(),
        check: false,
        result: String::new(),
    };
    // playbook_start and engine are the first two records.
    for line in std::io::BufReader::new(&mut file).lines().take(2) {
        let Ok(v) = serde_json::from_str::<Value>(&line?) else {
            break;
        };
        match v["event"].as_str() {
            Some("playbook_start") => {
                info.playbook = v["playbook"].as_str().unwrap_or_default().to_string();
                info.check = v["check"].as_bool().unwrap_or(false);
            }
            Some("engine") => info.engine = v["name"].as_str().unwrap_or_default().to_string(),
            _ => {}
        }
    }
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
    let mut tail = Vec::new();
    file.take(TAIL_BYTES).read_to_end(&mut tail)?;
    let last = tail
        .split(|b| *b == b'\n')
        .rev()
        .find_map(|l| serde_json::from_slice::<Value>(l).ok());
    info.result = match last.as_ref().and_then(|v| v["event"].as_str()) {
        Some("stats") => last
            .and_then(|v| serde_json::from_value::<RunEvent>(v).ok())
            .map_or("interrupted", |ev| result_of(&ev))
            .to_string(),
        _ if run_in_progress(id) => "running".into(),
        _ => "interrupted".into(),
    };
    Ok(info)
}

/// A run's result from its `stats` record.
fn result_of(stats: &RunEvent) -> &'static str {
    let RunEvent::Stats { hosts, cancelled } = stats else {
        return "interrupted";
    };
    let summary = RunSummary {
        hosts: hosts.clone(),
        cancelled: *cancelled,
    };
    match summary.exit_code() {
        _ if *cancelled => "cancelled",
        4 => "unreachable",
        2 => "failed",
        _ => "ok",
    }
}

/// `20261206T114100.123Z-…` → `2026-12-06 11:41:00Z`.
fn started(id: &str) -> String {
    let stamp = id.split('-').next().unwrap_or_default();
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.3fZ")
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|_| stamp.to_string())
}

/// The journal of run `id` in `dir`: its full id, a unique prefix of it, or `last`.
pub fn find(dir: &Path, id: &str) -> Result<RunInfo, InputError> {
    let runs = list(dir).map_err(|e| InputError::new(format!("{}: {e}", dir.display())))?;
    if id == "last" {
        return runs
            .into_iter()
            .next()
            .ok_or_else(|| InputError::new(format!("no runs in {}", dir.display())));
    }
    if let Some(r) = runs.iter().find(|r| r.id == id) {
        return Ok(r.clone());
    }
    let mut matching: Vec<RunInfo> = runs.into_iter().filter(|r| r.id.starts_with(id)).collect();
    match matching.len() {
        1 => Ok(matching.remove(0)),
        0 => Err(InputError::new(format!(
            "no run '{id}' in {} (`slm-wizard runs` lists them; `last` is the newest)",
            dir.display()
        ))),
        n => Err(InputError::new(format!(
            "'{id}' matches {n} runs ({} …); give more of the id",
            matching
                .iter()
                .take(3)
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// One record of a journal.
pub enum Record {
    Event(RunEvent),
    /// A line that is not one of our events: the `interrupted` mark, or a line cut by a kill.
    Other(Value),
}

/// The records of a journal in order; `each` gets them one by one (a journal may be large).
pub fn replay(path: &Path, mut each: impl FnMut(&str, Record)) -> Result<(), InputError> {
    let file = std::fs::File::open(path)
        .map_err(|e| InputError::new(format!("{}: {e}", path.display())))?;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| InputError::new(format!("{}: {e}", path.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        let record = match serde_json::from_str::<RunEvent>(&line) {
            Ok(ev) => Record::Event(ev),
            Err(_) => Record::Other(serde_json::from_str(&line).unwrap_or(Value::Null)),
        };
        each(&line, record);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::events::Counts;
    use crate::engine::output::json_line;

    #[test]
    fn lists_runs_newest_first_with_their_result() {
        let d = tempfile::tempdir().unwrap();
        let write = |name: &str, events: &[RunEvent], extra: &str| {
            let mut text: String = events.iter().map(|e| json_line(e) + "\n").collect();
            text.push_str(extra);
            std::fs::write(d.path().join(name), text).unwrap();
        };
        let start = RunEvent::PlaybookStart {
            playbook: "site.yml".into(),
            check: false,
            diff: false,
            hosts: vec![],
        };
        let engine = RunEvent::Engine {
            name: "ansible".into(),
            reason: Some("x".into()),
        };
        let mut hosts = indexmap::IndexMap::new();
        hosts.insert(
            "h".to_string(),
            Counts {
                failed: 1,
                ..Default::default()
            },
        );
        let stats = RunEvent::Stats {
            hosts,
            cancelled: false,
        };
        // A dead pid: the run without stats was interrupted.
        write(
            "20261201T000000.000Z-site-999999999.jsonl",
            std::slice::from_ref(&start),
            "{\"event\":\"out",
        );
        write(
            "20261202T101112.345Z-site-1.jsonl",
            &[start, engine, stats],
            "",
        );
        std::fs::write(d.path().join("notes.txt"), "x").unwrap();
        let runs = list(d.path()).unwrap();
        let got: Vec<_> = runs
            .iter()
            .map(|r| {
                (
                    r.started.as_str(),
                    r.playbook.as_str(),
                    r.engine.as_str(),
                    r.result.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("2026-12-02 10:11:12Z", "site.yml", "ansible", "failed"),
                ("2026-12-01 00:00:00Z", "site.yml", "", "interrupted"),
            ]
        );
        assert_eq!(find(d.path(), "last").unwrap().id, runs[0].id);
        assert_eq!(
            find(d.path(), "20261201").unwrap().id,
            "20261201T000000.000Z-site-999999999"
        );
        assert!(find(d.path(), "2026").is_err());
        assert!(find(d.path(), "nope").is_err());
        let mut events = 0;
        let mut other = 0;
        replay(&runs[1].path, |_, r| match r {
            Record::Event(_) => events += 1,
            Record::Other(_) => other += 1,
        })
        .unwrap();
        assert_eq!((events, other), (1, 1));
        assert!(list(&d.path().join("none")).unwrap().is_empty());
    }
}
