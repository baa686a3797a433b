//! The typed stream a run produces; every consumer (printer, JSON, journal, TUI) reads only this.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::modules::Diff;
use crate::secrets::Redactor;
use crate::transport::Stream;

/// The id the engine gives fact gathering. It is no task of the playbook (their ids count the
/// playbook's tasks from 0), so serialized events (`--json`, the journal) leave `task_id` out for
/// it; tell it by `"module":"setup"` and its name "Gathering Facts".
pub const FACTS_TASK_ID: usize = usize::MAX;

/// Serde's test for leaving `task_id` out (see [`FACTS_TASK_ID`]).
fn is_facts_task(id: &usize) -> bool {
    *id == FACTS_TASK_ID
}

/// Serde's `task_id` when it was left out (a journal read back).
fn facts_task() -> usize {
    FACTS_TASK_ID
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Changed,
    Failed,
    Skipped,
    Unreachable,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::Failed => "failed",
            Status::Skipped => "skipping",
            Status::Unreachable => "unreachable",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub ok: u32,
    pub changed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub unreachable: u32,
    #[serde(skip)]
    pub rescued: u32,
    #[serde(skip)]
    pub ignored: u32,
    /// How many of `failed` a `meta: clear_host_errors` forgave: they stay in the recap but do
    /// not fail the run (ansible-playbook's exit status comes from the hosts still failed).
    #[serde(skip)]
    pub recovered: u32,
    /// The host failed the run without a failed task in the recap: another host's
    /// `any_errors_fatal` marked it failed and no rescue handled that, or a later play ran
    /// after the mark (ansible-playbook then counts it failed there).
    #[serde(skip)]
    pub marked_failed: bool,
}

impl Counts {
    /// Whether any result was counted: ansible-core's `AggregateStats.processed`, the hosts its
    /// recap lists.
    pub fn processed(&self) -> bool {
        self.ok
            + self.changed
            + self.failed
            + self.skipped
            + self.unreachable
            + self.rescued
            + self.ignored
            > 0
    }
}

// Deserialize: journals are read back (`slm-wizard runs show`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskResult {
    pub host: String,
    /// `delegate_to`: the host the task ran on for `host`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub delegated_to: Option<String>,
    /// The delegated host's `ansible_host` when it is not its name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub delegated_address: Option<String>,
    #[serde(skip_serializing_if = "is_facts_task", default = "facts_task")]
    pub task_id: usize,
    pub task: String,
    pub module: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rc: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub diff: Vec<Diff>,
    pub ignored: bool,
    pub duration_ms: u64,
    /// The registered result, as a playbook would see it.
    #[serde(skip_serializing_if = "Value::is_null", default)]
    pub result: Value,
}

impl TaskResult {
    /// The host as ansible-playbook shows it in a result line: `web1`, or `web1 -> db1` for a
    /// delegated task (`web1 -> db1(10.0.0.5)` when db1's `ansible_host` is not its name).
    pub fn shown_host(&self) -> String {
        match (&self.delegated_to, &self.delegated_address) {
            (Some(d), Some(a)) => format!("{} -> {d}({a})", self.host),
            (Some(d), None) => format!("{} -> {d}", self.host),
            _ => self.host.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    PlaybookStart {
        playbook: String,
        check: bool,
        diff: bool,
        hosts: Vec<String>,
    },
    PlayStart {
        play: String,
        hosts: Vec<String>,
        /// Tasks per host in this play (for progress), handlers excluded.
        tasks: usize,
    },
    TaskStart {
        host: String,
        #[serde(skip_serializing_if = "is_facts_task", default = "facts_task")]
        task_id: usize,
        task: String,
        module: String,
        handler: bool,
    },
    Output {
        host: String,
        #[serde(skip_serializing_if = "is_facts_task", default = "facts_task")]
        task_id: usize,
        stream: Stream,
        data: String,
    },
    TaskResult(Box<TaskResult>),
    /// The host stopped early (failure, unreachable or cancel) with this reason.
    HostStopped {
        host: String,
        reason: String,
    },
    Warning {
        msg: String,
    },
    Stats {
        hosts: IndexMap<String, Counts>,
        cancelled: bool,
    },
    /// The engine that runs the playbook (`native` or `ansible`), and why not native when
    /// `auto` chose ansible (the native engine's refusal, `file:line:col: reason`).
    Engine {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        reason: Option<String>,
    },
}

impl RunEvent {
    /// Masks every known secret in the event's text (names included: a task or play name can be
    /// templated with a secret), and in results anything that looks secret (values of
    /// secret-named keys, the password of a `scheme://user:password@` URL) even if unregistered.
    pub fn redact(&mut self, r: &Redactor) {
        if let RunEvent::TaskResult(t) = self {
            for s in [&mut t.msg, &mut t.stdout, &mut t.stderr]
                .into_iter()
                .flatten()
            {
                *s = mask_url_passwords(s);
            }
            if let Some(i) = &mut t.item {
                mask_secret_looking(i);
            }
            mask_secret_looking(&mut t.result);
        }
        if r.is_empty() {
            return;
        }
        match self {
            RunEvent::PlaybookStart { playbook, .. } => *playbook = r.redact(playbook),
            RunEvent::PlayStart { play, .. } => *play = r.redact(play),
            RunEvent::TaskStart { task, .. } => *task = r.redact(task),
            RunEvent::Output { data, .. } => *data = r.redact(data),
            RunEvent::TaskResult(t) => {
                t.task = r.redact(&t.task);
                for s in [&mut t.msg, &mut t.stdout, &mut t.stderr]
                    .into_iter()
                    .flatten()
                {
                    *s = r.redact(s);
                }
                for d in &mut t.diff {
                    d.before = r.redact(&d.before);
                    d.after = r.redact(&d.after);
                    d.before_header = r.redact(&d.before_header);
                    d.after_header = r.redact(&d.after_header);
                }
                if let Some(i) = &mut t.item {
                    r.redact_json(i);
                }
                r.redact_json(&mut t.result);
            }
            RunEvent::HostStopped { reason, .. } => *reason = r.redact(reason),
            RunEvent::Warning { msg } => *msg = r.redact(msg),
            RunEvent::Stats { .. } => {}
            RunEvent::Engine {
                reason: Some(reason),
                ..
            } => *reason = r.redact(reason),
            RunEvent::Engine { .. } => {}
        }
    }
}

impl RunEvent {
    /// One line for the debug log: the kind of event, host, task and status, never results,
    /// output or facts.
    pub fn summary(&self) -> String {
        match self {
            RunEvent::PlaybookStart { playbook, .. } => format!("playbook_start {playbook}"),
            RunEvent::PlayStart { play, hosts, .. } => {
                format!("play_start {play:?} on {} host(s)", hosts.len())
            }
            RunEvent::TaskStart { host, task, .. } => format!("task_start [{host}] {task:?}"),
            RunEvent::Output { host, data, .. } => {
                format!("output [{host}] {} bytes", data.len())
            }
            RunEvent::TaskResult(t) => format!(
                "task_result [{}] {:?} {} in {} ms",
                t.host,
                t.task,
                t.status.label(),
                t.duration_ms
            ),
            RunEvent::HostStopped { host, .. } => format!("host_stopped [{host}]"),
            RunEvent::Warning { msg } => format!("warning {msg}"),
            RunEvent::Stats { cancelled, .. } => format!("stats cancelled={cancelled}"),
            RunEvent::Engine { name, .. } => format!("engine {name}"),
        }
    }
}

/// The password of every `scheme://user:password@host` URL in `text`, masked.
pub fn mask_url_passwords(text: &str) -> String {
    static URL: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@").ok()
    });
    match URL.as_ref() {
        Some(re) if text.contains("://") => re
            .replace_all(text, |c: &regex::Captures<'_>| {
                format!("{}{}@", &c[1], crate::secrets::MASK)
            })
            .into_owned(),
        _ => text.to_string(),
    }
}

/// Masks the values of secret-named keys (at any depth) and URL passwords in a result.
fn mask_secret_looking(v: &mut Value) {
    match v {
        Value::String(s) if s.contains("://") => *s = mask_url_passwords(s),
        Value::Array(items) => items.iter_mut().for_each(mask_secret_looking),
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if crate::secrets::is_secret_name(k) && !matches!(x, Value::Bool(_) | Value::Null) {
                    *x = Value::String(crate::secrets::MASK.into());
                } else {
                    mask_secret_looking(x);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delegated_result_shows_both_hosts_as_ansible_does() {
        // As a journal holds it: the delegation fields are optional.
        let mut t: TaskResult = serde_json::from_value(serde_json::json!({
            "host": "web1", "task": "t", "module": "command", "status": "ok",
            "ignored": false, "duration_ms": 1
        }))
        .expect("a task result");
        assert_eq!(t.shown_host(), "web1");
        t.delegated_to = Some("db1".into());
        assert_eq!(t.shown_host(), "web1 -> db1");
        t.delegated_address = Some("10.0.0.5".into());
        assert_eq!(t.shown_host(), "web1 -> db1(10.0.0.5)");
    }

    #[test]
    fn log_summary_leaves_out_results_and_output() {
        let ev = RunEvent::TaskResult(Box::new(TaskResult {
            host: "h".into(),
            delegated_to: None,
            delegated_address: None,
            task_id: 0,
            task: "t".into(),
            module: "setup".into(),
            status: Status::Ok,
            item: None,
            msg: Some("m-secret".into()),
            rc: None,
            stdout: Some("out-secret".into()),
            stderr: None,
            diff: Vec::new(),
            ignored: false,
            duration_ms: 3,
            result: serde_json::json!({"ansible_facts": {"env": {"HOME": "/fact-secret"}}}),
        }));
        let s = ev.summary();
        assert_eq!(s, "task_result [h] \"t\" ok in 3 ms");
        let out = RunEvent::Output {
            host: "h".into(),
            task_id: 0,
            stream: crate::transport::Stream::Stdout,
            data: "out-secret".into(),
        };
        assert!(!out.summary().contains("secret"));
    }

    #[test]
    fn results_mask_secret_looking_values_without_registration() {
        let mut ev = RunEvent::TaskResult(Box::new(TaskResult {
            host: "h".into(),
            delegated_to: None,
            delegated_address: None,
            task_id: 0,
            task: "t".into(),
            module: "setup".into(),
            status: Status::Ok,
            item: None,
            msg: Some("see postgres://u:UrlPw1@h/db".into()),
            rc: None,
            stdout: None,
            stderr: None,
            diff: Vec::new(),
            ignored: false,
            duration_ms: 3,
            result: serde_json::json!({"env": {"PGPASSWORD": "EnvPw1", "HOME": "/root"}}),
        }));
        ev.redact(&Redactor::default());
        let j = serde_json::to_string(&ev).unwrap_or_default();
        assert!(!j.contains("UrlPw1") && !j.contains("EnvPw1"), "{j}");
        assert!(
            j.contains("/root") && j.contains("postgres://u:********@h/db"),
            "{j}"
        );
    }
}
