//! The run loop: hosts in parallel (bounded by forks), tasks in order on each host, one connection
//! per host for the whole run. Under the `linear` strategy (the default) a task runs on all the
//! batch's hosts before the next starts (`lockstep`); under `free` each host proceeds at its own
//! pace and plays are the synchronisation points.
//!
//! Here: the entry and the state the parts share. `plays`: plays, `serial` batches, forks.
//! `blocks`: block/rescue/always, `meta`, handlers. `task`: one task on one host (tags,
//! `run_once`, loops, `when`, the module call, retries with `until`). `judge`: a result's
//! registered form, changed_when/failed_when/ignore_errors, the recap. `scope`: inherited
//! keywords and the variable layers. `become`: escalation.

mod r#become;
mod blocks;
mod connect;
mod defaults;
mod delegate;
mod fatal;
mod include_vars;
mod includes;
mod judge;
mod lockstep;
mod loops;
mod meta;
mod plays;
mod prompt;
mod scope;
mod set_fact;
mod spec_vars;
mod task;
mod warm;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures::future::BoxFuture;
use indexmap::IndexMap;
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use super::events::{Counts, RunEvent};
use super::modules;
use super::plan::Plan;
use crate::playbook::Play;
use crate::secrets::StreamRedactor;
use crate::transport::{Login, Transport, TransportError};

pub use delegate::LOCALHOST_NAMES;
pub use include_vars::check_arg_names as include_vars_arg_check;

/// Cancels a run: no new tasks start; with `kill`, running commands are killed too.
#[derive(Clone)]
pub struct Cancel {
    stop: Arc<AtomicBool>,
    kill: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for Cancel {
    fn default() -> Self {
        Self {
            stop: Arc::new(AtomicBool::new(false)),
            kill: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }
}

impl Cancel {
    pub fn cancel(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
    /// Cancels and kills the commands running now.
    pub fn kill(&self) {
        self.cancel();
        self.kill.send_replace(true);
    }
    /// Resolves once `kill` was called.
    pub async fn killed(&self) {
        let mut rx = self.kill.subscribe();
        let _ = rx.wait_for(|k| *k).await;
    }
}

/// Opens a connection to a host from its (templated) connection variables.
pub type Connector = Arc<
    dyn Fn(
            String,
            Map<String, Value>,
        ) -> BoxFuture<'static, Result<Arc<dyn Transport>, TransportError>>
        + Send
        + Sync,
>;

/// The outcome of a whole run.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub hosts: IndexMap<String, Counts>,
    pub cancelled: bool,
}

impl RunSummary {
    /// ansible-playbook's exit codes: 0 ok, 2 a host failed, 4 a host unreachable.
    pub fn exit_code(&self) -> i32 {
        if self.hosts.values().any(|c| c.unreachable > 0) {
            4
        } else if self
            .hosts
            .values()
            .any(|c| c.failed > c.recovered || c.marked_failed)
            || self.cancelled
        {
            2
        } else {
            0
        }
    }
}

/// Bytes of live output one task on one host may send to the event stream (printer, `--json`,
/// journal, TUI): a command printing without end must not fill memory or the disk.
pub const LIVE_OUTPUT_PER_TASK: usize = 1 << 20;

pub use meta::meta_action_check;
pub use modules::MAX_DIFF_TEXT;
pub use scope::selected_by_tags;

/// The live output of one task on one host so far.
#[derive(Default)]
struct LiveOutput {
    stdout: super::output::Utf8Chunks,
    stderr: super::output::Utf8Chunks,
    sent: usize,
    noted: bool,
}

type VarsMap = Arc<Map<String, Value>>;
type RunOnceCells = HashMap<(usize, usize), Arc<OnceCell<Value>>>;

struct Shared {
    plan: Arc<Plan>,
    events: crate::engine::channel::EventSender,
    cancel: Cancel,
    connector: Connector,
    /// Facts and runtime vars per host, for `hostvars`.
    published: RwLock<HashMap<String, Published>>,
    /// Variables a delegated task gave another host (`delegate_facts`, `run_once`), which that
    /// host takes into its own state at its next task.
    given: Mutex<HashMap<String, Given>>,
    /// Connections to the hosts tasks are delegated to, one per host, opened on first use.
    delegated: tokio::sync::Mutex<HashMap<String, delegate::Slot>>,
    connections: tokio::sync::Mutex<HashMap<String, Arc<dyn Transport>>>,
    groups: Arc<Map<String, Value>>,
    run_once: Mutex<RunOnceCells>,
    /// Hosts of the current batch that are done with the play, and a wake-up for hosts waiting
    /// on a run_once result (a result published or a host done).
    play_done: Mutex<std::collections::HashSet<String>>,
    progress: tokio::sync::Notify,
    abort_play: AtomicBool,
    /// `any_errors_fatal` or `max_fail_percentage` ended a play: ansible-playbook runs no
    /// further play either.
    abort_run: AtomicBool,
    failed_in_play: AtomicUsize,
    /// Steps of the batch (lockstep keys) where a host failed a task fatally
    /// (`any_errors_fatal`), with that host: the others are marked failed there.
    fatal_steps: Mutex<Vec<fatal::FatalStep>>,
    /// Hosts of the play that failed (not rescued), became unreachable or ended: out of
    /// `ansible_play_hosts` and `ansible_play_batch` for the others (Ansible's `_removed_hosts`).
    removed: Mutex<std::collections::HashSet<String>>,
    /// Output held back per (host, task, stream) so a secret split across chunks is masked.
    output_tails: Mutex<Vec<OutputTail>>,
    /// Roles of `include_role … public: true` included so far, with their play's index, in
    /// include order: their defaults and vars are the play's from then on.
    public_roles: Mutex<Vec<(usize, Arc<crate::playbook::Role>)>>,
    /// What each play's `vars_prompt` set, by play index (asked as the play starts).
    prompted: Mutex<HashMap<usize, Arc<prompt::Prompted>>>,
    /// "Not prompting …" was shown (ansible-playbook shows a warning once).
    warned_not_interactive: AtomicBool,
}

/// A host's variables as `hostvars` shows them to the others.
#[derive(Clone, Default)]
struct Published {
    facts: VarsMap,
    /// `include_vars`.
    included: VarsMap,
    /// set_fact and registered results.
    runtime: VarsMap,
}

/// Variables given to a host by another host's task, not yet in its state.
#[derive(Default)]
struct Given {
    /// Gathered facts (without the `ansible_` prefix), as `setup` returns them.
    facts: Map<String, Value>,
    included: Map<String, Value>,
    runtime: Map<String, Value>,
}

type OutputTail = ((String, usize, crate::transport::Stream), StreamRedactor);

impl Shared {
    fn emit(&self, mut ev: RunEvent) {
        match &mut ev {
            RunEvent::Output {
                host,
                task_id,
                stream,
                data,
            } => {
                let key = (host.clone(), *task_id, *stream);
                let mut tails = self.output_tails.lock().unwrap_or_else(|e| e.into_inner());
                let i = match tails.iter().position(|(k, _)| *k == key) {
                    Some(i) => i,
                    None => {
                        tails.push((key, StreamRedactor::new(self.plan.redactor.clone())));
                        tails.len() - 1
                    }
                };
                *data = tails[i].1.push(data);
                if data.is_empty() {
                    return;
                }
            }
            // A task's output ends before its result; the run's before the recap.
            RunEvent::TaskResult(t) => self.flush_output(Some(&t.host)),
            RunEvent::Stats { .. } => self.flush_output(None),
            _ => {}
        }
        ev.redact(&self.plan.redactor);
        let _ = self.events.send(ev);
    }

    /// Sends the held-back output of `host` (all hosts: None), masked.
    fn flush_output(&self, host: Option<&str>) {
        let mut tails = self.output_tails.lock().unwrap_or_else(|e| e.into_inner());
        let mut kept = Vec::new();
        for ((h, task_id, stream), mut tail) in tails.drain(..) {
            if host.is_some_and(|x| x != h) {
                kept.push(((h, task_id, stream), tail));
                continue;
            }
            let data = tail.finish();
            if !data.is_empty() {
                let _ = self.events.send(RunEvent::Output {
                    host: h,
                    task_id,
                    stream,
                    data,
                });
            }
        }
        *tails = kept;
    }
}

/// Per-host state that lives across plays.
struct HostState {
    name: String,
    inventory_vars: Arc<Map<String, Value>>,
    facts: Arc<Map<String, Value>>,
    facts_gathered: bool,
    runtime: Arc<Map<String, Value>>,
    /// Variables from `include_vars`: host-level, kept across plays, below set_fact.
    included: Arc<Map<String, Value>>,
    counts: Counts,
    /// Set once the host is unreachable or failed; it runs nothing more.
    stopped: bool,
    conn: Option<Arc<dyn Transport>>,
    /// Who `conn` logged in as (None: not connected yet, or the host did not say).
    login: Option<Login>,
    /// Facts gathered with the login check on opening `conn`, for the gather task that opened
    /// it (see `warm::facts_with_login`).
    early_facts: Option<crate::transport::Output>,
    /// Role invocations that ran here (`Role::identity`); a duplicate is skipped.
    roles_done: std::collections::HashSet<String>,
    /// Another host's `any_errors_fatal` marked this one failed and a rescue handled it.
    marked_rescued: bool,
}

/// Per-host state within one play.
struct PlayCtx<'a> {
    play: &'a Play,
    play_idx: usize,
    vars_files: Arc<Map<String, Value>>,
    play_vars: Arc<Map<String, Value>>,
    /// `vars_prompt` answers of `unsafe: true`: play vars that are never templated.
    play_literal: Arc<Map<String, Value>>,
    /// The batch's hosts, and all the play's.
    play_hosts: Arc<Vec<String>>,
    play_hosts_all: Arc<Vec<String>>,
    /// The lockstep gate of the batch (None under `free`), the place of the task at hand in
    /// the play (`lockstep::Key`), and the fork slot held while it runs.
    lockstep: Option<Arc<lockstep::Lockstep>>,
    path: lockstep::Key,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Ids of the handlers notified and not yet run, in first-notified order.
    notified: Vec<usize>,
    failed: bool,
    /// The last task that failed on this host and its result, for `ansible_failed_task` and
    /// `ansible_failed_result` in a rescue.
    last_failure: Option<(Value, Value)>,
    /// Bumped by `meta: clear_host_errors`, so an always section that cleared errors does not
    /// restore the failure of its block.
    errors_cleared: u32,
    /// The failure being handled is fatal to the play (`any_errors_fatal`) unless rescued.
    fatal: bool,
    /// Another host's `any_errors_fatal` failure marked this host failed (`fatal`): it takes
    /// no part in later plays, even when a rescue handles the mark.
    marked: bool,
    /// The failure being handled is such a mark, not a failed task: a rescue of it counts
    /// nothing and sets no `ansible_failed_*`.
    failure_is_mark: bool,
    /// The mark skips the section it sends the host to (a rescue, else an always), as the
    /// second of the two marks a failed `run_once` task gives the other hosts in Ansible.
    skip_section: bool,
    /// Whether this play's escalation needs were checked against the host's tools.
    become_checked: bool,
}

/// Runs a plan on its hosts, sending the run's events to `events`, and returns the recap.
pub async fn run(
    plan: Arc<Plan>,
    connector: Connector,
    events: crate::engine::channel::EventSender,
    cancel: Cancel,
) -> RunSummary {
    let all_hosts = plan.all_hosts();
    let shared = Arc::new(Shared {
        groups: Arc::new(plan.inventory.groups_map()),
        plan: plan.clone(),
        events,
        cancel: cancel.clone(),
        connector,
        published: RwLock::new(HashMap::new()),
        given: Mutex::new(HashMap::new()),
        delegated: tokio::sync::Mutex::new(HashMap::new()),
        connections: tokio::sync::Mutex::new(HashMap::new()),
        run_once: Mutex::new(HashMap::new()),
        play_done: Mutex::new(Default::default()),
        progress: tokio::sync::Notify::new(),
        abort_play: AtomicBool::new(false),
        abort_run: AtomicBool::new(false),
        failed_in_play: AtomicUsize::new(0),
        fatal_steps: Mutex::new(Vec::new()),
        removed: Mutex::new(Default::default()),
        output_tails: Mutex::new(Vec::new()),
        public_roles: Mutex::new(Vec::new()),
        prompted: Mutex::new(HashMap::new()),
        warned_not_interactive: AtomicBool::new(false),
    });
    shared.emit(RunEvent::PlaybookStart {
        playbook: plan.request.playbook.display().to_string(),
        check: plan.request.check,
        diff: plan.request.diff,
        hosts: all_hosts.clone(),
    });
    if let Some(msg) = crate::playbook::ansible_cfg::host_key_warning(&plan.ansible_cfg) {
        shared.emit(RunEvent::Warning { msg });
    }
    let mut states: IndexMap<String, HostState> = all_hosts
        .iter()
        .map(|h| {
            (
                h.clone(),
                HostState {
                    name: h.clone(),
                    inventory_vars: Arc::new(delegate::host_vars(&plan.inventory, h)),
                    facts: Arc::new(Map::new()),
                    facts_gathered: false,
                    runtime: Arc::new(Map::new()),
                    included: Arc::new(Map::new()),
                    counts: Counts::default(),
                    stopped: false,
                    conn: None,
                    login: None,
                    early_facts: None,
                    roles_done: Default::default(),
                    marked_rescued: false,
                },
            )
        })
        .collect();
    plays::run_plays(&shared, &mut states).await;
    // Close every connection cleanly.
    let conns: Vec<Arc<dyn Transport>> = shared
        .connections
        .lock()
        .await
        .drain()
        .map(|(_, c)| c)
        .collect();
    let delegated: Vec<delegate::Slot> = shared
        .delegated
        .lock()
        .await
        .drain()
        .map(|(_, c)| c)
        .collect();
    for slot in delegated {
        if let Some((c, _)) = slot.lock().await.take() {
            c.close().await;
        }
    }
    for c in conns {
        c.close().await;
    }
    let mut hosts = IndexMap::new();
    // As ansible's `stats.processed`: only hosts that some task result counted for (a host
    // whose plays had no task for it, or that only met meta tasks, has no recap row). A
    // host marked failed without a result of its own always comes with a host that failed.
    for h in &all_hosts {
        if let Some(s) = states.get(h)
            && s.counts.processed()
        {
            hosts.insert(h.clone(), s.counts.clone());
        }
    }
    let summary = RunSummary {
        hosts: hosts.clone(),
        cancelled: cancel.is_cancelled(),
    };
    shared.emit(RunEvent::Stats {
        hosts,
        cancelled: summary.cancelled,
    });
    summary
}

impl HostState {
    fn facts_raw(&self) -> Map<String, Value> {
        match self.facts.get("__raw") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        }
    }
}

/// The gate before a task on this host: under `linear`, waits until the batch gets to it.
/// False when the play ended for every host meanwhile (`any_errors_fatal`,
/// `max_fail_percentage`, `end_play`) or the run was cancelled: the task does not run.
async fn step(shared: &Shared, pc: &mut PlayCtx<'_>, state: &HostState) -> bool {
    if let Some(ls) = pc.lockstep.clone() {
        ls.step(&state.name, &pc.path, &mut pc.permit, &shared.progress)
            .await;
    }
    !(shared.abort_play.load(Ordering::SeqCst) || shared.cancel.is_cancelled())
}

/// Takes the host out of (`out`) or back into the play's hosts other hosts' tasks see.
fn set_removed(shared: &Shared, host: &str, out: bool) {
    let mut removed = shared.removed.lock().unwrap_or_else(|e| e.into_inner());
    if out {
        removed.insert(host.to_string());
    } else {
        removed.remove(host);
    }
}

fn publish(shared: &Shared, state: &HostState) {
    if let Ok(mut p) = shared.published.write() {
        let mut shown = Published {
            facts: state.facts.clone(),
            included: state.included.clone(),
            runtime: state.runtime.clone(),
        };
        // What other hosts gave this one and it has not taken yet stays visible.
        if let Some(g) = shared
            .given
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&state.name)
        {
            g.apply(&mut shown, shared.plan.ansible_cfg.inject_facts_as_vars);
        }
        p.insert(state.name.clone(), shown);
    }
}

impl Given {
    /// These variables on top of `p` (facts also as `ansible_*` when `inject`).
    fn apply(&self, p: &mut Published, inject: bool) {
        if !self.facts.is_empty() {
            let mut raw = match p.facts.get("__raw") {
                Some(Value::Object(m)) => m.clone(),
                _ => Map::new(),
            };
            raw.extend(self.facts.clone());
            let mut layer = scope::facts_layer(&raw, inject);
            layer.insert("__raw".into(), Value::Object(raw));
            p.facts = Arc::new(layer);
        }
        for (dst, src) in [
            (&mut p.included, &self.included),
            (&mut p.runtime, &self.runtime),
        ] {
            if !src.is_empty() {
                let mut m = (**dst).clone();
                m.extend(src.clone());
                *dst = Arc::new(m);
            }
        }
    }
}

/// Gives `host` variables from another host's task: `hostvars` shows them at once, the host
/// takes them into its state at its next task ([`take_given`]).
fn give(shared: &Shared, host: &str, add: impl FnOnce(&mut Given)) {
    let mut given = shared.given.lock().unwrap_or_else(|e| e.into_inner());
    let g = given.entry(host.to_string()).or_default();
    add(g);
    if let Ok(mut p) = shared.published.write() {
        let shown = p.entry(host.to_string()).or_default();
        g.apply(shown, shared.plan.ansible_cfg.inject_facts_as_vars);
    }
}

/// Takes into the host's state what other hosts' tasks gave it.
fn take_given(shared: &Shared, state: &mut HostState) {
    let Some(g) = shared
        .given
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&state.name)
    else {
        return;
    };
    let mut p = Published {
        facts: state.facts.clone(),
        included: state.included.clone(),
        runtime: state.runtime.clone(),
    };
    g.apply(&mut p, shared.plan.ansible_cfg.inject_facts_as_vars);
    state.facts = p.facts;
    state.included = p.included;
    state.runtime = p.runtime;
}

/// Builders the unit tests of the run's parts share.
#[cfg(test)]
mod testutil {
    use std::sync::Arc;

    use minijinja::Value as JValue;
    use serde_json::Value;

    use crate::playbook::{Common, Task};
    use crate::template::{Scope, Templar};

    /// A task of `module` with no keywords.
    pub(super) fn task(module: &str) -> Task {
        Task {
            common: Common::default(),
            module: module.into(),
            module_written: module.into(),
            id: 1,
            ..super::plays::gather_task()
        }
    }

    /// A template scope holding `vars` (a JSON object).
    pub(super) fn scope(vars: Value) -> JValue {
        let mut s = Scope::new(Templar::new());
        if let Value::Object(m) = vars {
            s.layers.push(Arc::new(m));
        }
        s.into_value()
    }
}
