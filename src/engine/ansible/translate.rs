//! The callback plugin's JSON lines → `RunEvent`s.

use std::collections::HashMap;
use std::time::Instant;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::engine::events::{Counts, FACTS_TASK_ID, RunEvent, Status, TaskResult};
use crate::engine::modules::Diff;
use crate::transport::Stream;

/// What ansible shows for a `no_log` result; the same words as the native engine's.
pub const HIDDEN: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

#[derive(Default)]
pub struct Translator {
    pub check: bool,
    pub diff: bool,
    task_ids: HashMap<String, usize>,
    /// When each host started its current task, for durations.
    started: HashMap<(String, usize), Instant>,
    /// Hosts and tasks whose loop items were reported (the aggregate result is then left out).
    looped: std::collections::HashSet<(String, usize)>,
    pub stats: Option<IndexMap<String, Counts>>,
    pub hosts_started: Vec<String>,
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => Some(
            a.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        other => Some(other.to_string()),
    }
}

fn diffs(v: Option<&Value>) -> Vec<Diff> {
    let one = |d: &Map<String, Value>| -> Option<Diff> {
        if let Some(p) = d.get("prepared").and_then(Value::as_str) {
            return Some(Diff {
                before_header: String::new(),
                after_header: String::new(),
                before: String::new(),
                after: p.to_string(),
            });
        }
        let s = |k: &str| match d.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => serde_json::to_string_pretty(other).unwrap_or_default() + "\n",
        };
        if !d.contains_key("before") && !d.contains_key("after") {
            return None;
        }
        Some(Diff {
            before_header: s("before_header"),
            after_header: s("after_header"),
            before: s("before"),
            after: s("after"),
        })
    };
    match v {
        Some(Value::Object(d)) => one(d).into_iter().collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_object)
            .filter_map(one)
            .collect(),
        _ => Vec::new(),
    }
}

impl Translator {
    fn task_id(&mut self, ev: &Value) -> usize {
        if is_facts(ev) {
            return FACTS_TASK_ID;
        }
        let uuid = ev["uuid"].as_str().unwrap_or_default().to_string();
        let next = self.task_ids.len();
        *self.task_ids.entry(uuid).or_insert(next)
    }

    /// The events of one line of the plugin (none for a line it does not know).
    pub fn line(&mut self, ev: &Value) -> Vec<RunEvent> {
        let s = |k: &str| ev[k].as_str().unwrap_or_default().to_string();
        let strings = |k: &str| -> Vec<String> {
            ev[k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        match ev["event"].as_str().unwrap_or_default() {
            "playbook_start" => vec![RunEvent::PlaybookStart {
                playbook: s("playbook"),
                check: self.check,
                diff: self.diff,
                hosts: Vec::new(),
            }],
            "play_start" => {
                let hosts = strings("hosts");
                for h in &hosts {
                    if !self.hosts_started.contains(h) {
                        self.hosts_started.push(h.clone());
                    }
                }
                vec![RunEvent::PlayStart {
                    play: s("play"),
                    hosts,
                    tasks: ev["tasks"].as_u64().unwrap_or(0) as usize,
                }]
            }
            "task_start" => {
                let task_id = self.task_id(ev);
                let host = s("host");
                self.started.insert((host.clone(), task_id), Instant::now());
                vec![RunEvent::TaskStart {
                    host,
                    task_id,
                    task: task_name(ev),
                    module: module(ev),
                    handler: ev["handler"].as_bool().unwrap_or(false),
                }]
            }
            "result" => self.result(ev),
            "warning" => vec![RunEvent::Warning { msg: s("msg") }],
            "stats" => {
                let mut hosts = IndexMap::new();
                if let Some(m) = ev["hosts"].as_object() {
                    for (h, c) in m {
                        let n = |k: &str| c[k].as_u64().unwrap_or(0) as u32;
                        hosts.insert(
                            h.clone(),
                            Counts {
                                ok: n("ok"),
                                changed: n("changed"),
                                failed: n("failed"),
                                skipped: n("skipped"),
                                unreachable: n("unreachable"),
                                rescued: n("rescued"),
                                ignored: n("ignored"),
                                recovered: 0,
                            },
                        );
                    }
                }
                self.stats = Some(hosts);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn result(&mut self, ev: &Value) -> Vec<RunEvent> {
        let task_id = self.task_id(ev);
        let host = ev["host"].as_str().unwrap_or_default().to_string();
        let item = ev.get("item").cloned();
        let key = (host.clone(), task_id);
        if item.is_some() {
            self.looped.insert(key.clone());
        } else if self.looped.remove(&key) && ev["status"] != "unreachable" {
            // The items were reported one by one; ansible's aggregate is left out as the
            // native engine leaves it out.
            return Vec::new();
        }
        let status = match ev["status"].as_str().unwrap_or_default() {
            "changed" => Status::Changed,
            "failed" => Status::Failed,
            "skipped" => Status::Skipped,
            "unreachable" => Status::Unreachable,
            _ => Status::Ok,
        };
        let no_log = ev["no_log"].as_bool().unwrap_or(false);
        let res = ev["res"].clone();
        let duration_ms = self
            .started
            .get(&key)
            .map_or(0, |t| t.elapsed().as_millis() as u64);
        let (msg, stdout, stderr, rc, diff) = if no_log {
            (Some(HIDDEN.to_string()), None, None, None, Vec::new())
        } else {
            (
                text(res.get("msg")),
                text(res.get("stdout")).filter(|s| !s.is_empty()),
                text(res.get("stderr")).filter(|s| !s.is_empty()),
                res.get("rc").and_then(Value::as_i64).map(|r| r as i32),
                diffs(res.get("diff")),
            )
        };
        let mut out = Vec::new();
        for (stream, data) in [(Stream::Stdout, &stdout), (Stream::Stderr, &stderr)] {
            if let Some(d) = data {
                out.push(RunEvent::Output {
                    host: host.clone(),
                    task_id,
                    stream,
                    data: format!("{d}\n"),
                });
            }
        }
        out.push(RunEvent::TaskResult(Box::new(TaskResult {
            host,
            task_id,
            task: task_name(ev),
            module: module(ev),
            status,
            item,
            msg,
            rc,
            stdout,
            stderr,
            diff,
            ignored: ev["ignored"].as_bool().unwrap_or(false),
            duration_ms,
            result: if no_log {
                serde_json::json!({ "censored": HIDDEN })
            } else {
                res
            },
        })));
        out
    }
}

fn is_facts(ev: &Value) -> bool {
    matches!(
        ev["action"].as_str(),
        Some("gather_facts" | "ansible.builtin.gather_facts")
    ) && ev["task"] == "Gathering Facts"
}

fn module(ev: &Value) -> String {
    if is_facts(ev) {
        return "setup".into();
    }
    let a = ev["action"].as_str().unwrap_or_default();
    a.strip_prefix("ansible.builtin.").unwrap_or(a).to_string()
}

fn task_name(ev: &Value) -> String {
    let t = ev["task"].as_str().unwrap_or_default();
    if t.is_empty() {
        module(ev)
    } else {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loop_items_replace_the_aggregate_and_no_log_is_hidden() {
        let mut t = Translator::default();
        let start = json!({"event":"task_start","host":"h","uuid":"u1","task":"Users","action":"ansible.builtin.user","handler":false});
        assert!(matches!(
            t.line(&start)[0],
            RunEvent::TaskStart { task_id: 0, .. }
        ));
        let item = json!({"event":"result","status":"changed","host":"h","uuid":"u1","task":"Users","action":"user","item":"a","no_log":false,"res":{"changed":true,"diff":{"before":"x\n","after":"y\n"}}});
        let ev = t.line(&item);
        let RunEvent::TaskResult(r) = &ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (r.status, r.item.clone(), r.diff.len()),
            (Status::Changed, Some(json!("a")), 1)
        );
        let agg = json!({"event":"result","status":"changed","host":"h","uuid":"u1","task":"Users","action":"user","no_log":false,"res":{"changed":true,"results":[]}});
        assert!(t.line(&agg).is_empty());
        let secret = json!({"event":"result","status":"ok","host":"h","uuid":"u2","task":"S","action":"shell","no_log":true,"res":{"stdout":"pw"}});
        let ev = t.line(&secret);
        let RunEvent::TaskResult(r) = &ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (r.task_id, r.msg.as_deref(), r.stdout.as_deref()),
            (1, Some(HIDDEN), None)
        );
        assert!(!r.result.to_string().contains("pw"));
    }
}
