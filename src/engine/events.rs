//! The typed stream a run produces; every consumer (printer, JSON, journal, TUI) reads only this.

use indexmap::IndexMap;
use serde::Serialize;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
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
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    pub host: String,
    #[serde(skip_serializing_if = "is_facts_task")]
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<Diff>,
    pub ignored: bool,
    pub duration_ms: u64,
    /// The registered result, as a playbook would see it.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub result: Value,
}

#[derive(Debug, Clone, Serialize)]
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
        #[serde(skip_serializing_if = "is_facts_task")]
        task_id: usize,
        task: String,
        module: String,
        handler: bool,
    },
    Output {
        host: String,
        #[serde(skip_serializing_if = "is_facts_task")]
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
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl RunEvent {
    /// Masks every known secret in the event's text.
    pub fn redact(&mut self, r: &Redactor) {
        if r.is_empty() {
            return;
        }
        match self {
            RunEvent::Output { data, .. } => *data = r.redact(data),
            RunEvent::TaskResult(t) => {
                for s in [&mut t.msg, &mut t.stdout, &mut t.stderr]
                    .into_iter()
                    .flatten()
                {
                    *s = r.redact(s);
                }
                for d in &mut t.diff {
                    d.before = r.redact(&d.before);
                    d.after = r.redact(&d.after);
                }
                if let Some(i) = &mut t.item {
                    r.redact_json(i);
                }
                r.redact_json(&mut t.result);
            }
            RunEvent::HostStopped { reason, .. } => *reason = r.redact(reason),
            RunEvent::Warning { msg } => *msg = r.redact(msg),
            RunEvent::Engine {
                reason: Some(reason),
                ..
            } => *reason = r.redact(reason),
            _ => {}
        }
    }
}
