//! Our `RunEvent`s → ansible-runner events (`slm-wizard runner worker`), with the `stdout` lines
//! ansible's default callback would print, so `ansible-runner process` shows a familiar log and
//! writes the usual `job_events/` files.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::stream::uuid4;
use crate::engine::events::TaskResult;
use crate::engine::output::{banner, recap_row};
use crate::engine::{RunEvent, Status};

/// Numbers the events and keeps the ids that tie them together (play, task, playbook).
pub struct Emitter {
    ident: String,
    counter: u64,
    line: u64,
    playbook: String,
    playbook_uuid: String,
    play: String,
    play_uuid: String,
    /// (task id, handler) → uuid of the task in the current play.
    task_uuids: std::collections::HashMap<(usize, bool), String>,
    announced: HashSet<(usize, bool)>,
    /// Everything written as `stdout`, for the artifacts' `stdout` file.
    pub stdout: String,
}

impl Emitter {
    pub fn new(ident: &str, playbook: &str) -> Self {
        Self {
            ident: ident.to_string(),
            counter: 0,
            line: 0,
            playbook: playbook.to_string(),
            playbook_uuid: uuid4(),
            play: String::new(),
            play_uuid: String::new(),
            task_uuids: Default::default(),
            announced: HashSet::new(),
            stdout: String::new(),
        }
    }

    /// One runner event: the common fields around `event_data`.
    pub fn event(&mut self, event: &str, stdout: &str, mut data: Map<String, Value>) -> Value {
        self.counter += 1;
        let lines = if stdout.is_empty() {
            0
        } else {
            stdout.split("\r\n").count() as u64
        };
        let uuid = data
            .get("uuid")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(uuid4);
        data.insert("uuid".into(), uuid.clone().into());
        data.insert("playbook".into(), self.playbook.clone().into());
        data.insert("playbook_uuid".into(), self.playbook_uuid.clone().into());
        let v = json!({
            "uuid": uuid,
            "counter": self.counter,
            "stdout": stdout,
            "start_line": self.line,
            "end_line": self.line + lines,
            "runner_ident": self.ident,
            "event": event,
            "pid": std::process::id(),
            "created": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
            "event_data": data,
        });
        self.line += lines;
        if !stdout.is_empty() {
            self.stdout.push_str(stdout);
            self.stdout.push_str("\r\n");
        }
        v
    }

    fn play_data(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("play".into(), self.play.clone().into());
        m.insert("play_uuid".into(), self.play_uuid.clone().into());
        m.insert("play_pattern".into(), self.play.clone().into());
        m
    }

    fn task_data(
        &mut self,
        task_id: usize,
        handler: bool,
        task: &str,
        module: &str,
    ) -> Map<String, Value> {
        let mut m = self.play_data();
        let uuid = self
            .task_uuids
            .entry((task_id, handler))
            .or_insert_with(uuid4)
            .clone();
        m.insert("task".into(), task.into());
        m.insert("task_uuid".into(), uuid.into());
        m.insert("task_action".into(), module.into());
        m.insert("resolved_action".into(), module.into());
        m.insert("task_args".into(), "".into());
        m
    }

    /// The runner events for one of our events (a task's first host start adds its task start).
    pub fn translate(&mut self, ev: &RunEvent) -> Vec<Value> {
        match ev {
            RunEvent::PlaybookStart { check, diff, .. } => {
                let mut d = Map::new();
                d.insert("check".into(), (*check).into());
                d.insert("diff".into(), (*diff).into());
                d.insert("uuid".into(), self.playbook_uuid.clone().into());
                vec![self.event("playbook_on_start", "", d)]
            }
            RunEvent::PlayStart { play, .. } => {
                self.play = play.clone();
                self.play_uuid = uuid4();
                self.task_uuids.clear();
                self.announced.clear();
                let mut d = self.play_data();
                d.insert("name".into(), play.clone().into());
                d.insert("pattern".into(), play.clone().into());
                d.insert("uuid".into(), self.play_uuid.clone().into());
                let out = format!("\r\n{}", banner(&format!("PLAY [{play}]")));
                vec![self.event("playbook_on_play_start", &out, d)]
            }
            RunEvent::TaskStart {
                host,
                task_id,
                task,
                module,
                handler,
            } => {
                let mut out = Vec::new();
                let mut d = self.task_data(*task_id, *handler, task, module);
                if self.announced.insert((*task_id, *handler)) {
                    let (kind, event) = if *handler {
                        ("RUNNING HANDLER", "playbook_on_handler_task_start")
                    } else {
                        ("TASK", "playbook_on_task_start")
                    };
                    let mut t = d.clone();
                    t.insert("name".into(), task.clone().into());
                    t.insert("is_conditional".into(), false.into());
                    t.insert("uuid".into(), d["task_uuid"].clone());
                    let text = format!("\r\n{}", banner(&format!("{kind} [{task}]")));
                    out.push(self.event(event, &text, t));
                }
                d.insert("host".into(), host.clone().into());
                out.push(self.event("runner_on_start", "", d));
                out
            }
            RunEvent::TaskResult(t) => vec![self.result(t)],
            // The worker is the native engine; ansible-runner has no event for it.
            RunEvent::Engine { .. } => Vec::new(),
            RunEvent::Warning { msg } => {
                let mut d = Map::new();
                d.insert("warning".into(), msg.clone().into());
                let text = format!("[WARNING]: {msg}");
                vec![self.event("warning", &text, d)]
            }
            RunEvent::Stats { hosts, .. } => {
                let mut d = Map::new();
                let pick = |f: fn(&crate::engine::events::Counts) -> u32| -> Value {
                    Value::Object(
                        hosts
                            .iter()
                            .filter(|(_, c)| f(c) > 0)
                            .map(|(h, c)| (h.clone(), f(c).into()))
                            .collect(),
                    )
                };
                d.insert("ok".into(), pick(|c| c.ok));
                d.insert("changed".into(), pick(|c| c.changed));
                d.insert("failures".into(), pick(|c| c.failed));
                d.insert("dark".into(), pick(|c| c.unreachable));
                d.insert("skipped".into(), pick(|c| c.skipped));
                d.insert("rescued".into(), pick(|c| c.rescued));
                d.insert("ignored".into(), pick(|c| c.ignored));
                d.insert(
                    "processed".into(),
                    Value::Object(hosts.keys().map(|h| (h.clone(), 1.into())).collect()),
                );
                d.insert("artifact_data".into(), json!({}));
                let mut text = format!("\r\n{}", banner("PLAY RECAP"));
                let mut sorted: Vec<_> = hosts.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(b.0));
                for (h, c) in sorted {
                    let (host, counters) = recap_row(h, c);
                    text.push_str(&format!("\r\n{host}{counters}"));
                }
                vec![self.event("playbook_on_stats", &text, d)]
            }
            // Live output and early stops have no runner event of their own; results and
            // the stats carry what they mean.
            RunEvent::Output { .. } | RunEvent::HostStopped { .. } => Vec::new(),
        }
    }

    fn result(&mut self, t: &TaskResult) -> Value {
        let handler = self.announced.contains(&(t.task_id, true))
            && !self.announced.contains(&(t.task_id, false));
        let mut d = self.task_data(t.task_id, handler, &t.task, &t.module);
        d.insert("host".into(), t.host.clone().into());
        d.insert("remote_addr".into(), t.host.clone().into());
        let mut res = match &t.result {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        res.insert("changed".into(), (t.status == Status::Changed).into());
        for (k, v) in [
            ("msg", &t.msg),
            ("stdout", &t.stdout),
            ("stderr", &t.stderr),
        ] {
            if let Some(v) = v {
                res.entry(k).or_insert_with(|| v.clone().into());
            }
        }
        if let Some(rc) = t.rc {
            res.entry("rc").or_insert_with(|| rc.into());
        }
        if !t.diff.is_empty() {
            res.insert(
                "diff".into(),
                Value::Array(
                    t.diff
                        .iter()
                        .map(|d| {
                            json!({"before_header": d.before_header, "after_header": d.after_header,
                                   "before": d.before, "after": d.after})
                        })
                        .collect(),
                ),
            );
        }
        let item = t.item.as_ref();
        if let Some(i) = item {
            res.insert("item".into(), i.clone());
        }
        d.insert("ignore_errors".into(), t.ignored.into());
        d.insert("duration".into(), (t.duration_ms as f64 / 1000.0).into());
        let item_text = item
            .map(|i| match i {
                Value::String(s) => format!(" => (item={s})"),
                other => format!(" => (item={other})"),
            })
            .unwrap_or_default();
        let host = t.shown_host();
        let (event, text) = match t.status {
            Status::Ok => ("ok", format!("ok: [{host}]{item_text}")),
            Status::Changed => ("ok", format!("changed: [{host}]{item_text}")),
            Status::Skipped => ("skipped", format!("skipping: [{host}]{item_text}")),
            Status::Failed => (
                "failed",
                format!(
                    "fatal: [{}]{item_text}: FAILED! => {}{}",
                    host,
                    Value::Object(res.clone()),
                    if t.ignored { "\r\n...ignoring" } else { "" }
                ),
            ),
            Status::Unreachable => (
                "unreachable",
                format!(
                    "fatal: [{}]: UNREACHABLE! => {}",
                    host,
                    Value::Object(res.clone())
                ),
            ),
        };
        d.insert("res".into(), Value::Object(res));
        let name = if item.is_some() && t.status != Status::Unreachable {
            format!("runner_item_on_{event}")
        } else {
            format!("runner_on_{event}")
        };
        self.event(&name, &text, d)
    }

    /// A message of the worker itself (e.g. why the native engine refuses the playbook), as
    /// ansible-runner reports ansible-playbook's own messages.
    pub fn verbose(&mut self, text: &str) -> Value {
        self.event("verbose", text, Map::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::follow::Follower;

    #[test]
    fn what_we_emit_follows_back() {
        let mut e = Emitter::new("id", "p.yml");
        let mut f = Follower::default();
        let evs = [
            RunEvent::PlayStart {
                play: "db".into(),
                hosts: vec!["h1".into()],
                tasks: 1,
            },
            RunEvent::TaskStart {
                host: "h1".into(),
                task_id: 0,
                task: "t".into(),
                module: "command".into(),
                handler: false,
            },
        ];
        let mut back = Vec::new();
        for ev in &evs {
            for v in e.translate(ev) {
                assert!(v["counter"].as_u64().unwrap() > 0 && v["uuid"].is_string());
                back.extend(f.translate(&v));
            }
        }
        assert!(matches!(&back[0], RunEvent::PlayStart { play, .. } if play == "db"));
        assert!(matches!(&back[1], RunEvent::TaskStart { host, task_id: 0, .. } if host == "h1"));
        assert!(e.stdout.contains("TASK [t] ****"));
    }
}
