//! The callback plugin's JSON lines → `RunEvent`s.

use std::collections::HashMap;
use std::time::Instant;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::engine::events::{Counts, FACTS_TASK_ID, RunEvent, Status, TaskResult};
use crate::engine::modules::Diff;
use crate::engine::run::LIVE_OUTPUT_PER_TASK;
use crate::transport::{CAPTURE_HALF, Capped, Stream};

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
    /// Bytes of output sent per host and task (loop items together), against
    /// [`LIVE_OUTPUT_PER_TASK`] as the native engine counts them.
    output_sent: HashMap<(String, usize), usize>,
    /// Tasks started per host and not ended by a result yet: (task, module).
    open: IndexMap<(String, usize), (String, String)>,
}

/// A result's stdout or stderr as the native engine keeps it: the first and last
/// [`CAPTURE_HALF`] bytes and the size of the rest.
fn head_tail(s: String) -> String {
    if s.len() <= 2 * CAPTURE_HALF {
        return s;
    }
    let mut c = Capped::new(Some(CAPTURE_HALF));
    c.push(s.as_bytes());
    c.into_string()
}

/// The same bounds in the registered result: `stdout`/`stderr` head and tail (their `_lines`
/// from that text), diff texts over [`MAX_DIFF_TEXT`](crate::engine::modules::MAX_DIFF_TEXT)
/// named by size.
fn bound_result(res: &mut Value) {
    let Some(m) = res.as_object_mut() else {
        return;
    };
    for key in ["stdout", "stderr"] {
        let long = matches!(m.get(key), Some(Value::String(s)) if s.len() > 2 * CAPTURE_HALF);
        if !long {
            continue;
        }
        let Some(Value::String(s)) = m.remove(key) else {
            continue;
        };
        let kept = head_tail(s);
        let lines_key = format!("{key}_lines");
        if m.contains_key(&lines_key) {
            let lines = kept.lines().map(|l| Value::String(l.into())).collect();
            m.insert(lines_key, Value::Array(lines));
        }
        m.insert(key.into(), Value::String(kept));
    }
    let bound_one = |d: &mut Value| {
        if let Some(d) = d.as_object_mut() {
            for k in ["before", "after", "prepared"] {
                if let Some(Value::String(s)) = d.get_mut(k) {
                    *s = Diff::bounded_text(s);
                }
            }
        }
    };
    match m.get_mut("diff") {
        Some(Value::Array(a)) => a.iter_mut().for_each(bound_one),
        Some(d) => bound_one(d),
        None => {}
    }
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
        // Over ansible's own max_diff_size a side is left out and its limit given instead.
        let side = |k: &str, larger: &str| match d.get(larger).and_then(Value::as_u64) {
            Some(n) => format!("(not shown: over {n} bytes, ansible's max_diff_size)\n"),
            None => s(k),
        };
        Some(Diff {
            before_header: s("before_header"),
            after_header: s("after_header"),
            before: side("before", "dst_larger"),
            after: side("after", "src_larger"),
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
                self.open
                    .insert((host.clone(), task_id), (task_name(ev), module(ev)));
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
                                marked_failed: false,
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
        if item.is_none() {
            self.open.shift_remove(&key);
        }
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
        let mut res = ev["res"].clone();
        bound_result(&mut res);
        let duration_ms = self
            .started
            .get(&key)
            .map_or(0, |t| t.elapsed().as_millis() as u64);
        let (msg, stdout, stderr, rc, diff) = if no_log {
            (Some(HIDDEN.to_string()), None, None, None, Vec::new())
        } else {
            (
                text(res.get("msg")),
                // Bounded by `bound_result` above.
                text(res.get("stdout")).filter(|s| !s.is_empty()),
                text(res.get("stderr")).filter(|s| !s.is_empty()),
                res.get("rc").and_then(Value::as_i64).map(|r| r as i32),
                diffs(res.get("diff")).iter().map(Diff::bounded).collect(),
            )
        };
        let mut out = Vec::new();
        let task = task_name(ev);
        for (stream, data) in [(Stream::Stdout, &stdout), (Stream::Stderr, &stderr)] {
            let Some(d) = data else {
                continue;
            };
            let sent = self.output_sent.entry(key.clone()).or_default();
            // Past the budget nothing more reaches the event stream (nor the journal); the
            // result keeps the output's head and tail.
            if *sent >= LIVE_OUTPUT_PER_TASK {
                if *sent != usize::MAX {
                    *sent = usize::MAX;
                    out.push(RunEvent::Warning {
                        msg: format!(
                            "[{host}] {task}: output beyond {} MiB is not shown or journalled \
                             (the result keeps its first and last {} KiB)",
                            LIVE_OUTPUT_PER_TASK >> 20,
                            CAPTURE_HALF >> 10
                        ),
                    });
                }
                continue;
            }
            let data = format!("{d}\n");
            *sent += data.len();
            out.push(RunEvent::Output {
                host: host.clone(),
                task_id,
                stream,
                data,
            });
        }
        out.push(RunEvent::TaskResult(Box::new(TaskResult {
            host,
            // The callback names the delegated host; its address is not passed on.
            delegated_to: ev["delegated"].as_str().map(str::to_string),
            delegated_address: None,
            task_id,
            task,
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

impl Translator {
    /// A failed result with `msg` for each task that started and never reported one (ansible
    /// was killed, or died): the run's record says what was running when it ended, as the
    /// native engine reports a killed command.
    pub fn unfinished(&mut self, msg: &str) -> Vec<RunEvent> {
        std::mem::take(&mut self.open)
            .into_iter()
            .map(|((host, task_id), (task, module))| {
                let duration_ms = self
                    .started
                    .get(&(host.clone(), task_id))
                    .map_or(0, |t| t.elapsed().as_millis() as u64);
                RunEvent::TaskResult(Box::new(TaskResult {
                    host,
                    task_id,
                    task,
                    module,
                    status: Status::Failed,
                    item: None,
                    msg: Some(msg.to_string()),
                    rc: None,
                    stdout: None,
                    stderr: None,
                    diff: Vec::new(),
                    ignored: false,
                    duration_ms,
                    delegated_to: None,
                    delegated_address: None,
                    result: serde_json::json!({ "failed": true, "msg": msg }),
                }))
            })
            .collect()
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

    /// Output, results and diffs are bounded as the native engine bounds them.
    #[test]
    fn tasks_without_a_result_are_reported_as_unfinished() {
        let mut tr = Translator::default();
        let start = |host: &str, uuid: &str, name: &str| serde_json::json!({"event": "task_start", "host": host, "uuid": uuid, "task": name, "action": "ansible.builtin.command"});
        let result = |host: &str, uuid: &str, name: &str| serde_json::json!({"event": "result", "host": host, "uuid": uuid, "task": name, "action": "ansible.builtin.command", "status": "ok", "res": {}});
        for l in [
            start("a", "t1", "First"),
            start("b", "t1", "First"),
            result("a", "t1", "First"),
            result("b", "t1", "First"),
            start("a", "t2", "Nap"),
        ] {
            tr.line(&l);
        }
        let evs = tr.unfinished("killed");
        let [RunEvent::TaskResult(t)] = evs.as_slice() else {
            panic!("{evs:?}")
        };
        assert_eq!((t.host.as_str(), t.task.as_str()), ("a", "Nap"));
        assert_eq!(t.status, Status::Failed);
        assert_eq!(t.msg.as_deref(), Some("killed"));
        assert!(tr.unfinished("again").is_empty());
    }

    #[test]
    fn output_results_and_diffs_are_bounded() {
        let mut t = Translator::default();
        let big = "y".repeat(3 * CAPTURE_HALF);
        let huge = "z".repeat(crate::engine::modules::MAX_DIFF_TEXT + 1);
        let ev = json!({"event":"result","status":"changed","host":"h","uuid":"u1","task":"Big","action":"shell","no_log":false,
            "res":{"changed":true,"stdout":big,"stdout_lines":[big],"stderr":"e","diff":[{"before":"","after":huge}]}});
        let out = t.line(&ev);
        let RunEvent::Output { data, .. } = &out[0] else {
            panic!("{out:?}")
        };
        assert!(data.len() < 2 * CAPTURE_HALF + 100 && data.contains("bytes omitted"));
        let Some(RunEvent::TaskResult(r)) = out.last() else {
            panic!("{out:?}")
        };
        let stdout = r.stdout.as_deref().unwrap_or_default();
        assert!(stdout.len() < 2 * CAPTURE_HALF + 100 && stdout.contains("bytes omitted"));
        assert_eq!(r.result["stdout"].as_str(), Some(stdout));
        assert_eq!(r.result["stdout_lines"].as_array().map(Vec::len), Some(3));
        assert_eq!(r.result["stderr"], "e");
        let shown = Diff::not_shown(huge.len() as u64);
        assert_eq!(r.diff[0].after, shown);
        assert_eq!(r.result["diff"][0]["after"].as_str(), Some(shown.as_str()));

        // Loop items share one budget per host and task; one warning when it is spent.
        let mut warnings = 0;
        let mut sent = 0;
        for i in 0..20 {
            let item = json!({"event":"result","status":"ok","host":"h","uuid":"u2","task":"Loop","action":"shell","item":i,"no_log":false,
                "res":{"stdout":"w".repeat(2 * CAPTURE_HALF)}});
            for ev in t.line(&item) {
                match ev {
                    RunEvent::Output { data, .. } => sent += data.len(),
                    RunEvent::Warning { msg } => {
                        assert!(msg.contains("[h] Loop: output beyond 1 MiB"), "{msg}");
                        warnings += 1;
                    }
                    _ => {}
                }
            }
        }
        assert_eq!(warnings, 1);
        assert!(
            (LIVE_OUTPUT_PER_TASK..LIVE_OUTPUT_PER_TASK + 2 * CAPTURE_HALF + 2).contains(&sent),
            "{sent}"
        );
    }
}
