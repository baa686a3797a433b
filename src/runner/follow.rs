//! ansible-runner events → our `RunEvent`s (`slm-wizard runner follow`).
//!
//! The events are those ansible-runner's display callback writes (`playbook_on_start`,
//! `playbook_on_play_start`, `playbook_on_task_start`, `runner_on_start`, `runner_on_ok`…,
//! `playbook_on_stats`), each with `uuid`, `counter`, `event_data` and the `stdout` ansible
//! printed; `status` lines say how the job went.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::engine::events::{Counts, FACTS_TASK_ID, TaskResult};
use crate::engine::modules::Diff;
use crate::engine::{RunEvent, Status};

/// Turns a stream of runner events into `RunEvent`s, keeping what it needs across events.
#[derive(Debug, Default)]
pub struct Follower {
    /// Task ids by `task_uuid`, numbered in the order tasks appear.
    task_ids: HashMap<String, usize>,
    /// Handler tasks (their start event says so).
    handlers: HashSet<String>,
    /// (host, task_uuid) that reported per-item results: their loop summary is not shown again.
    looped: HashSet<(String, String)>,
    /// The last `status` line (`successful`, `failed`, `error`, `canceled`, `timeout`).
    pub status: Option<String>,
    /// Why the job failed, as the status line explains it.
    pub explanation: Option<String>,
    /// The stats, once `playbook_on_stats` came.
    pub stats: Option<IndexMap<String, Counts>>,
    pub saw_eof: bool,
}

fn s(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

impl Follower {
    /// The `RunEvent`s one JSON line of the stream stands for (often none).
    pub fn translate(&mut self, line: &Value) -> Vec<RunEvent> {
        if line.get("eof").is_some() {
            self.saw_eof = true;
            return Vec::new();
        }
        if let Some(st) = line.get("status").and_then(Value::as_str) {
            self.status = Some(st.to_string());
            let explanation = s(line, "job_explanation");
            if !explanation.is_empty() {
                self.explanation = Some(explanation.clone());
            }
            return match st {
                "failed" | "error" | "canceled" | "timeout" => vec![RunEvent::Warning {
                    msg: if explanation.is_empty() {
                        format!("ansible-runner: the job ended with status {st}")
                    } else {
                        format!("ansible-runner: {st}: {explanation}")
                    },
                }],
                _ => Vec::new(),
            };
        }
        let event = s(line, "event");
        let empty = Value::Object(Map::new());
        let data = line.get("event_data").unwrap_or(&empty);
        match event.as_str() {
            "playbook_on_start" => vec![RunEvent::PlaybookStart {
                playbook: s(data, "playbook"),
                check: data.get("check").and_then(Value::as_bool).unwrap_or(false),
                diff: false,
                hosts: Vec::new(),
            }],
            "playbook_on_play_start" => vec![RunEvent::PlayStart {
                play: s(data, "name"),
                hosts: Vec::new(),
                tasks: 0,
            }],
            "playbook_on_task_start" | "playbook_on_handler_task_start" => {
                let uuid = s(data, "task_uuid");
                if event == "playbook_on_handler_task_start" {
                    self.handlers.insert(uuid.clone());
                }
                self.task_id(&uuid, data);
                Vec::new()
            }
            "runner_on_start" => {
                let uuid = s(data, "task_uuid");
                vec![RunEvent::TaskStart {
                    host: s(data, "host"),
                    task_id: self.task_id(&uuid, data),
                    task: s(data, "task"),
                    module: s(data, "task_action"),
                    handler: self.handlers.contains(&uuid),
                }]
            }
            "runner_on_ok"
            | "runner_on_failed"
            | "runner_on_skipped"
            | "runner_on_unreachable"
            | "runner_item_on_ok"
            | "runner_item_on_failed"
            | "runner_item_on_skipped" => {
                let item = event.starts_with("runner_item_");
                let key = (s(data, "host"), s(data, "task_uuid"));
                if item {
                    self.looped.insert(key);
                } else if self.looped.contains(&key) && event != "runner_on_unreachable" {
                    // The loop's summary after its items: ansible prints nothing new for it
                    // either, unless the task as a whole failed.
                    if event != "runner_on_failed" {
                        return Vec::new();
                    }
                }
                vec![self.result(&event, data, item)]
            }
            "warning" => vec![RunEvent::Warning {
                msg: data
                    .get("warning")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| strip_ansi(&s(line, "stdout"))),
            }],
            "error" => vec![RunEvent::Warning {
                msg: strip_ansi(&s(line, "stdout")),
            }],
            "verbose" => {
                // ansible-playbook's own messages; its errors ("ERROR! …") matter.
                let text = strip_ansi(&s(line, "stdout"));
                if text.trim_start().starts_with("ERROR!") {
                    vec![RunEvent::Warning {
                        msg: text.trim().to_string(),
                    }]
                } else {
                    Vec::new()
                }
            }
            "playbook_on_stats" => {
                let hosts = stats_of(data);
                self.stats = Some(hosts.clone());
                vec![RunEvent::Stats {
                    hosts,
                    cancelled: false,
                }]
            }
            _ => Vec::new(),
        }
    }

    fn task_id(&mut self, uuid: &str, data: &Value) -> usize {
        if s(data, "task") == "Gathering Facts" || s(data, "task_action").ends_with("setup") {
            return FACTS_TASK_ID;
        }
        let next = self.task_ids.len();
        *self.task_ids.entry(uuid.to_string()).or_insert(next)
    }

    fn result(&mut self, event: &str, data: &Value, item: bool) -> RunEvent {
        let empty = Value::Object(Map::new());
        let res = data.get("res").unwrap_or(&empty);
        let changed = res.get("changed").and_then(Value::as_bool).unwrap_or(false);
        let status = match event {
            "runner_on_failed" | "runner_item_on_failed" => Status::Failed,
            "runner_on_skipped" | "runner_item_on_skipped" => Status::Skipped,
            "runner_on_unreachable" => Status::Unreachable,
            _ if changed => Status::Changed,
            _ => Status::Ok,
        };
        let text = |k: &str| res.get(k).and_then(Value::as_str).map(str::to_string);
        let diff = diffs_of(res.get("diff"));
        let uuid = s(data, "task_uuid");
        RunEvent::TaskResult(Box::new(TaskResult {
            host: s(data, "host"),
            delegated_to: None,
            delegated_address: None,
            task_id: self.task_id(&uuid, data),
            task: s(data, "task"),
            module: s(data, "task_action"),
            status,
            item: if item {
                res.get("item")
                    .cloned()
                    .or_else(|| data.get("item").cloned())
            } else {
                None
            },
            msg: text("msg").filter(|m| !m.is_empty()),
            rc: res
                .get("rc")
                .and_then(Value::as_i64)
                .and_then(|r| i32::try_from(r).ok()),
            stdout: text("stdout"),
            stderr: text("stderr"),
            diff,
            ignored: data
                .get("ignore_errors")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                && status == Status::Failed,
            duration_ms: data
                .get("duration")
                .and_then(Value::as_f64)
                .map_or(0, |d| (d * 1000.0).max(0.0) as u64),
            result: res.clone(),
        }))
    }

    /// The exit code `slm-wizard run` would give: from the stats; without them, 0 only for a
    /// successful job, else 1.
    pub fn exit_code(&self) -> i32 {
        match &self.stats {
            Some(hosts) => crate::engine::RunSummary {
                hosts: hosts.clone(),
                cancelled: matches!(self.status.as_deref(), Some("canceled" | "timeout")),
            }
            .exit_code(),
            None if self.status.as_deref() == Some("successful") => 0,
            None => 1,
        }
    }
}

/// Ansible's diff entries (`before`/`after` with their headers), one or a list.
fn diffs_of(v: Option<&Value>) -> Vec<Diff> {
    let list: Vec<&Value> = match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => Vec::new(),
    };
    list.into_iter()
        .filter(|d| d.get("before").is_some() || d.get("after").is_some())
        .map(|d| {
            let text = |k: &str| match d.get(k) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            Diff {
                before_header: text("before_header"),
                after_header: text("after_header"),
                before: text("before"),
                after: text("after"),
            }
        })
        .collect()
}

type CountField = fn(&mut Counts) -> &mut u32;

/// Counts per host from `playbook_on_stats` (ansible's `ok` includes the changed ones, as ours).
fn stats_of(data: &Value) -> IndexMap<String, Counts> {
    let mut hosts: IndexMap<String, Counts> = IndexMap::new();
    let fields: [(&str, CountField); 7] = [
        ("ok", |c| &mut c.ok),
        ("changed", |c| &mut c.changed),
        ("failures", |c| &mut c.failed),
        ("dark", |c| &mut c.unreachable),
        ("skipped", |c| &mut c.skipped),
        ("rescued", |c| &mut c.rescued),
        ("ignored", |c| &mut c.ignored),
    ];
    if let Some(Value::Object(p)) = data.get("processed") {
        for h in p.keys() {
            hosts.entry(h.clone()).or_default();
        }
    }
    for (key, field) in fields {
        if let Some(Value::Object(m)) = data.get(key) {
            for (h, n) in m {
                let n = n.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
                *field(hosts.entry(h.clone()).or_default()) = n;
            }
        }
    }
    hosts
}

/// Text without terminal colour codes.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_and_stats_translate() {
        let mut f = Follower::default();
        let task = json!({"event": "playbook_on_task_start", "event_data": {"task": "say hi", "task_uuid": "t1", "task_action": "command"}});
        assert!(f.translate(&task).is_empty());
        let ok = json!({"event": "runner_on_ok", "event_data": {"host": "h1", "task": "say hi", "task_uuid": "t1", "task_action": "command", "res": {"changed": true, "rc": 0, "stdout": "hi"}, "duration": 0.5}});
        let ev = f.translate(&ok);
        let RunEvent::TaskResult(t) = &ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (t.status, t.rc, t.task_id, t.duration_ms),
            (Status::Changed, Some(0), 0, 500)
        );
        let stats = json!({"event": "playbook_on_stats", "event_data": {"ok": {"h1": 2}, "changed": {"h1": 1}, "failures": {"h2": 1}, "dark": {}, "processed": {"h1": 1, "h2": 1}}});
        f.translate(&stats);
        assert_eq!(f.exit_code(), 2);
        let c = &f.stats.as_ref().unwrap()["h1"];
        assert_eq!((c.ok, c.changed, c.failed), (2, 1, 0));
        f.translate(&json!({"status": "failed", "job_explanation": "boom"}));
        assert_eq!(f.explanation.as_deref(), Some("boom"));
    }

    #[test]
    fn without_stats_the_status_decides() {
        let mut f = Follower::default();
        f.translate(&json!({"status": "successful"}));
        assert_eq!(f.exit_code(), 0);
        let ev = f.translate(&json!({"status": "error", "job_explanation": "no zip"}));
        assert!(matches!(&ev[0], RunEvent::Warning { msg } if msg.contains("no zip")));
        assert_eq!(f.exit_code(), 1);
        assert_eq!(strip_ansi("\u{1b}[0;33mchanged\u{1b}[0m"), "changed");
    }
}
