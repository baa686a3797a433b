//! The run loop: hosts in parallel (bounded by forks), tasks in order on each host, one connection
//! per host for the whole run. Each host proceeds at its own pace (no barrier between tasks), so a
//! slow host never holds the others back; plays are the synchronisation points.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use futures::future::BoxFuture;
use indexmap::IndexMap;
use minijinja::Value as JValue;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use serde_json::{Map, Value};
use tokio::sync::{OnceCell, Semaphore, mpsc};

use super::events::{Counts, RunEvent, Status, TaskResult};
use super::modules::{self, Ctx, ModuleError, ModuleResult, parse_bool};
use super::plan::Plan;
use crate::playbook::{Common, Item, Play, Task};
use crate::secrets::StreamRedactor;
use crate::template::{OMIT, Scope, TemplateError};
use crate::transport::{Become, BecomeMethod, Login, Transport, TransportError};

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
        } else if self.hosts.values().any(|c| c.failed > 0) || self.cancelled {
            2
        } else {
            0
        }
    }
}

/// Bytes of live output one task on one host may send to the event stream (printer, `--json`,
/// journal, TUI): a command printing without end must not fill memory or the disk.
pub const LIVE_OUTPUT_PER_TASK: usize = 1 << 20;

pub use modules::MAX_DIFF_TEXT;

fn bounded_diffs(diffs: &[modules::Diff]) -> Vec<modules::Diff> {
    let cap = |text: &str| {
        if text.len() > MAX_DIFF_TEXT {
            modules::Diff::not_shown(text.len() as u64)
        } else {
            text.to_string()
        }
    };
    diffs
        .iter()
        .map(|d| modules::Diff {
            before_header: d.before_header.clone(),
            after_header: d.after_header.clone(),
            before: cap(&d.before),
            after: cap(&d.after),
        })
        .collect()
}

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
    events: mpsc::UnboundedSender<RunEvent>,
    cancel: Cancel,
    connector: Connector,
    /// Facts and runtime vars per host, for `hostvars`.
    published: RwLock<HashMap<String, (VarsMap, VarsMap)>>,
    connections: tokio::sync::Mutex<HashMap<String, Arc<dyn Transport>>>,
    groups: Arc<Map<String, Value>>,
    run_once: Mutex<RunOnceCells>,
    abort_play: AtomicBool,
    failed_in_play: AtomicUsize,
    /// Output held back per (host, task, stream) so a secret split across chunks is masked.
    output_tails: Mutex<Vec<OutputTail>>,
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
    counts: Counts,
    /// Set once the host is unreachable or failed; it runs nothing more.
    stopped: bool,
    conn: Option<Arc<dyn Transport>>,
    /// Who `conn` logged in as (None: not connected yet, or the host did not say).
    login: Option<Login>,
}

/// Per-host state within one play.
struct PlayCtx<'a> {
    play: &'a Play,
    play_idx: usize,
    vars_files: Arc<Map<String, Value>>,
    play_vars: Arc<Map<String, Value>>,
    play_hosts: Arc<Vec<String>>,
    notified: Vec<String>,
    failed: bool,
    /// Whether this play's escalation needs were checked against the host's tools.
    become_checked: bool,
}

/// Inherited keywords along the block path down to a task.
#[derive(Clone, Default)]
struct Inherited {
    when: Vec<Value>,
    r#become: Option<bool>,
    become_user: Option<String>,
    become_method: Option<String>,
    vars: Vec<Arc<Map<String, Value>>>,
    tags: Vec<String>,
    ignore_errors: Option<bool>,
    ignore_unreachable: Option<bool>,
    no_log: Option<Value>,
    environment: Vec<Value>,
    check_mode: Option<Value>,
    diff: Option<Value>,
    any_errors_fatal: Option<bool>,
    run_once: Option<bool>,
}

impl Inherited {
    fn with(&self, c: &Common) -> Self {
        let mut n = self.clone();
        if let Some(w) = &c.when {
            n.when.push(w.clone());
        }
        n.r#become = c.r#become.or(n.r#become);
        n.become_user = c.become_user.clone().or(n.become_user);
        n.become_method = c.become_method.clone().or(n.become_method);
        if !c.vars.is_empty() {
            n.vars.push(Arc::new(c.vars.clone()));
        }
        n.tags.extend(c.tags.iter().cloned());
        n.ignore_errors = c.ignore_errors.or(n.ignore_errors);
        n.ignore_unreachable = c.ignore_unreachable.or(n.ignore_unreachable);
        n.no_log = c.no_log.clone().or(n.no_log);
        if let Some(e) = &c.environment {
            n.environment.push(e.clone());
        }
        n.check_mode = c.check_mode.clone().or(n.check_mode);
        n.diff = c.diff.clone().or(n.diff);
        n.any_errors_fatal = c.any_errors_fatal.or(n.any_errors_fatal);
        n.run_once = c.run_once.or(n.run_once);
        n
    }
}

/// `hostvars`: every host's variables, read live.
#[derive(Debug)]
struct HostVars {
    shared: Arc<SharedRef>,
}

/// A Debug-able handle for template objects.
struct SharedRef(Arc<Shared>);

impl std::fmt::Debug for SharedRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("hostvars")
    }
}

impl Object for HostVars {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let host = key.as_str()?;
        let shared = &self.shared.0;
        if !shared.plan.inventory.hosts.contains_key(host) {
            return None;
        }
        let (facts, runtime) = shared
            .published
            .read()
            .ok()
            .and_then(|p| p.get(host).cloned())
            .unwrap_or_default();
        let inv = Arc::new(shared.plan.inventory.host_vars(host));
        let mut scope = Scope::new(shared.plan.templar.clone());
        scope.layers = vec![
            shared.plan.extra.clone(),
            runtime,
            facts,
            inv,
            Arc::new(magic_for(shared, host)),
        ];
        scope.specials.push((
            "hostvars".into(),
            JValue::from_object(HostVars {
                shared: self.shared.clone(),
            }),
        ));
        Some(scope.into_value())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.shared
                .0
                .plan
                .inventory
                .hosts
                .keys()
                .map(|h| JValue::from(h.as_str()))
                .collect(),
        )
    }
}

fn magic_for(shared: &Shared, host: &str) -> Map<String, Value> {
    let plan = &shared.plan;
    let mut m = Map::new();
    m.insert("inventory_hostname".into(), host.into());
    m.insert(
        "inventory_hostname_short".into(),
        host.split('.').next().unwrap_or(host).into(),
    );
    let mut gn: Vec<String> = plan
        .inventory
        .groups_of(host)
        .into_iter()
        .filter(|g| g != "all")
        .collect();
    gn.sort();
    m.insert("group_names".into(), Value::from(gn));
    m.insert("groups".into(), Value::Object((*shared.groups).clone()));
    m.insert(
        "playbook_dir".into(),
        plan.playbook.dir.display().to_string().into(),
    );
    if let Some(inv) = &plan.request.inventory {
        m.insert("inventory_file".into(), inv.display().to_string().into());
        m.insert(
            "inventory_dir".into(),
            inv.parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
                .into(),
        );
    }
    m.insert("ansible_check_mode".into(), plan.request.check.into());
    m.insert("ansible_diff_mode".into(), plan.request.diff.into());
    m.insert("omit".into(), OMIT.into());
    m.insert(
        "ansible_run_tags".into(),
        Value::from(plan.request.tags.clone()),
    );
    m.insert(
        "ansible_skip_tags".into(),
        Value::from(plan.request.skip_tags.clone()),
    );
    let mut ver = Map::new();
    ver.insert("full".into(), "2.16.0".into());
    ver.insert(
        "string".into(),
        format!("slm-wizard {}", env!("CARGO_PKG_VERSION")).into(),
    );
    m.insert("ansible_version".into(), Value::Object(ver));
    m
}

/// Facts as `ansible_facts` plus the `ansible_*` aliases.
fn facts_layer(facts: &Map<String, Value>) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in facts {
        m.insert(format!("ansible_{k}"), v.clone());
    }
    m.insert("ansible_facts".into(), Value::Object(facts.clone()));
    m
}

pub async fn run(
    plan: Arc<Plan>,
    connector: Connector,
    events: mpsc::UnboundedSender<RunEvent>,
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
        connections: tokio::sync::Mutex::new(HashMap::new()),
        run_once: Mutex::new(HashMap::new()),
        abort_play: AtomicBool::new(false),
        failed_in_play: AtomicUsize::new(0),
        output_tails: Mutex::new(Vec::new()),
    });
    shared.emit(RunEvent::PlaybookStart {
        playbook: plan.request.playbook.display().to_string(),
        check: plan.request.check,
        diff: plan.request.diff,
        hosts: all_hosts.clone(),
    });
    let mut states: IndexMap<String, HostState> = all_hosts
        .iter()
        .map(|h| {
            (
                h.clone(),
                HostState {
                    name: h.clone(),
                    inventory_vars: Arc::new(plan.inventory.host_vars(h)),
                    facts: Arc::new(Map::new()),
                    facts_gathered: false,
                    runtime: Arc::new(Map::new()),
                    counts: Counts::default(),
                    stopped: false,
                    conn: None,
                    login: None,
                },
            )
        })
        .collect();
    for (idx, play) in plan.playbook.plays.iter().enumerate() {
        if cancel.is_cancelled() {
            break;
        }
        let hosts: Vec<String> = plan.play_hosts[idx]
            .iter()
            .filter(|h| states.get(*h).is_some_and(|s| !s.stopped))
            .cloned()
            .collect();
        let task_count = count_tasks(&play.pre_tasks)
            + count_tasks(&play.tasks)
            + count_tasks(&play.post_tasks)
            + usize::from(play.gather_facts);
        shared.emit(RunEvent::PlayStart {
            play: play
                .common
                .name
                .clone()
                .unwrap_or_else(|| play.hosts.clone()),
            hosts: hosts.clone(),
            tasks: task_count,
        });
        if hosts.is_empty() {
            shared.emit(RunEvent::Warning {
                msg: format!(
                    "play '{}': no hosts matched, skipping",
                    play.common.name.as_deref().unwrap_or(&play.hosts)
                ),
            });
            continue;
        }
        for batch in batches(&play.serial, &hosts) {
            shared.abort_play.store(false, Ordering::SeqCst);
            shared.failed_in_play.store(0, Ordering::SeqCst);
            let play_hosts = Arc::new(batch.clone());
            let sem = Arc::new(Semaphore::new(plan.request.forks.max(1)));
            let mut set = tokio::task::JoinSet::new();
            for h in &batch {
                let Some(state) = states.shift_remove(h) else {
                    continue;
                };
                let shared = shared.clone();
                let sem = sem.clone();
                let play_hosts = play_hosts.clone();
                set.spawn(async move {
                    let _permit = sem.acquire().await;
                    let mut state = state;
                    run_play_on_host(&shared, idx, play_hosts, &mut state).await;
                    state
                });
            }
            while let Some(res) = set.join_next().await {
                if let Ok(state) = res {
                    states.insert(state.name.clone(), state);
                }
            }
        }
    }
    // Close every connection cleanly.
    let conns: Vec<Arc<dyn Transport>> = shared
        .connections
        .lock()
        .await
        .drain()
        .map(|(_, c)| c)
        .collect();
    for c in conns {
        c.close().await;
    }
    let mut hosts = IndexMap::new();
    for h in &all_hosts {
        if let Some(s) = states.get(h) {
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

fn count_tasks(items: &[Item]) -> usize {
    items
        .iter()
        .map(|i| match i {
            Item::Task(_) => 1,
            Item::Block(b) => count_tasks(&b.block) + count_tasks(&b.always),
        })
        .sum()
}

/// `serial:` — a number, a percentage, or a list of them.
fn batches(serial: &Option<Value>, hosts: &[String]) -> Vec<Vec<String>> {
    let Some(serial) = serial else {
        return vec![hosts.to_vec()];
    };
    let sizes: Vec<Value> = match serial {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let size_of = |v: &Value| -> usize {
        let n = match v {
            Value::Number(n) => n.as_u64().unwrap_or(0) as usize,
            Value::String(s) if s.ends_with('%') => {
                let pct: f64 = s.trim_end_matches('%').parse().unwrap_or(100.0);
                ((hosts.len() as f64) * pct / 100.0).floor() as usize
            }
            Value::String(s) => s.parse().unwrap_or(0),
            _ => 0,
        };
        n.max(1)
    };
    let mut out = Vec::new();
    let mut i = 0;
    let mut k = 0;
    while i < hosts.len() {
        let size = size_of(&sizes[k.min(sizes.len() - 1)]);
        out.push(hosts[i..(i + size).min(hosts.len())].to_vec());
        i += size;
        k += 1;
    }
    out
}

async fn run_play_on_host(
    shared: &Arc<Shared>,
    idx: usize,
    play_hosts: Arc<Vec<String>>,
    state: &mut HostState,
) {
    let plan = shared.plan.clone();
    let play = &plan.playbook.plays[idx];
    let mut pc = PlayCtx {
        play,
        play_idx: idx,
        vars_files: plan.play_vars_files[idx].clone(),
        play_vars: Arc::new(play.common.vars.clone()),
        play_hosts,
        notified: Vec::new(),
        failed: false,
        become_checked: false,
    };
    let base = play_base(play);
    if play.gather_facts && !state.facts_gathered {
        let task = gather_task();
        run_task(shared, &mut pc, state, &task, &base, false).await;
        state.facts_gathered = true;
        if state.stopped {
            return;
        }
    }
    for section in [&play.pre_tasks, &play.tasks, &play.post_tasks] {
        run_items(shared, &mut pc, state, section, &base).await;
        if !state.stopped && !pc.failed {
            flush_handlers(shared, &mut pc, state, &base).await;
        }
        if state.stopped || pc.failed {
            break;
        }
    }
    // A host that failed in a play takes no part in the plays after it, as in Ansible.
    if pc.failed && !state.stopped {
        state.stopped = true;
        shared.emit(RunEvent::HostStopped {
            host: state.name.clone(),
            reason: "a task failed".into(),
        });
    }
}

/// What every task of a play inherits from the play's own keywords.
fn play_base(play: &Play) -> Inherited {
    Inherited::default().with(&Common {
        when: None,
        name: None,
        vars: Map::new(),
        ..play.common.clone()
    })
}

fn gather_task() -> Task {
    Task {
        pos: Default::default(),
        common: Common {
            name: Some("Gathering Facts".into()),
            ..Default::default()
        },
        module: "setup".into(),
        module_written: "setup".into(),
        args: Map::new(),
        loop_items: None,
        loop_var: "item".into(),
        loop_label: None,
        register: None,
        notify: Vec::new(),
        listen: Vec::new(),
        changed_when: None,
        failed_when: None,
        until: None,
        retries: None,
        delay: None,
        id: crate::engine::events::FACTS_TASK_ID,
        args_src: Default::default(),
    }
}

fn run_items<'a>(
    shared: &'a Arc<Shared>,
    pc: &'a mut PlayCtx<'_>,
    state: &'a mut HostState,
    items: &'a [Item],
    inh: &'a Inherited,
) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        for item in items {
            if state.stopped
                || pc.failed
                || shared.cancel.is_cancelled()
                || shared.abort_play.load(Ordering::SeqCst)
            {
                return;
            }
            match item {
                Item::Task(t) => {
                    if t.module == "meta" {
                        let action = t
                            .args
                            .get("_raw_params")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        match action {
                            "flush_handlers" => flush_handlers(shared, pc, state, inh).await,
                            "end_host" => {
                                state.stopped = true;
                                return;
                            }
                            "end_play" => {
                                shared.abort_play.store(true, Ordering::SeqCst);
                                return;
                            }
                            _ => {}
                        }
                        continue;
                    }
                    run_task(shared, pc, state, t, inh, false).await;
                }
                Item::Block(b) => {
                    let inner = inh.with(&b.common);
                    // A block whose condition is false skips all of it (conditions are inherited too).
                    run_items(shared, pc, state, &b.block, &inner).await;
                    if pc.failed && !state.stopped && !b.rescue.is_empty() {
                        pc.failed = false;
                        state.counts.failed = state.counts.failed.saturating_sub(1);
                        state.counts.rescued += 1;
                        run_items(shared, pc, state, &b.rescue, &inner).await;
                    }
                    if !state.stopped {
                        let was_failed = pc.failed;
                        pc.failed = false;
                        run_items(shared, pc, state, &b.always, &inner).await;
                        pc.failed |= was_failed;
                    }
                }
            }
        }
    })
}

async fn flush_handlers(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    inh: &Inherited,
) {
    if pc.notified.is_empty() {
        return;
    }
    let notified = std::mem::take(&mut pc.notified);
    let handlers: Vec<&Task> = flatten(&pc.play.handlers);
    for h in handlers {
        let name = h.common.name.clone().unwrap_or_default();
        let hit = notified.iter().any(|n| *n == name || h.listen.contains(n));
        if hit && !state.stopped && !pc.failed {
            run_task(shared, pc, state, h, inh, true).await;
        }
    }
}

fn flatten(items: &[Item]) -> Vec<&Task> {
    let mut out = Vec::new();
    for i in items {
        match i {
            Item::Task(t) => out.push(t.as_ref()),
            Item::Block(b) => {
                out.extend(flatten(&b.block));
                out.extend(flatten(&b.rescue));
                out.extend(flatten(&b.always));
            }
        }
    }
    out
}

/// Tag selection as Ansible does it (`always`, `never`, `all`).
fn selected_by_tags(shared: &Shared, tags: &[String]) -> bool {
    let req = &shared.plan.request;
    let has = |t: &str| tags.iter().any(|x| x == t);
    if req.skip_tags.iter().any(|s| has(s) || (s == "all")) {
        return false;
    }
    if has("never") && !req.tags.iter().any(|t| has(t) && t != "always") {
        return false;
    }
    if req.tags.is_empty() || req.tags.iter().any(|t| t == "all") {
        return true;
    }
    has("always")
        || req.tags.iter().any(|t| {
            has(t) || (t == "tagged" && !tags.is_empty()) || (t == "untagged" && tags.is_empty())
        })
}

fn build_scope(
    shared: &Arc<Shared>,
    pc: &PlayCtx<'_>,
    state: &HostState,
    inh: &Inherited,
    task: &Task,
    loop_layer: Option<Arc<Map<String, Value>>>,
) -> JValue {
    let mut scope = Scope::new(shared.plan.templar.clone());
    scope.layers.push(shared.plan.extra.clone());
    scope.layers.push(state.runtime.clone());
    if let Some(l) = loop_layer {
        scope.layers.push(l);
    }
    if !task.common.vars.is_empty() {
        scope.layers.push(Arc::new(task.common.vars.clone()));
    }
    for v in inh.vars.iter().rev() {
        scope.layers.push(v.clone());
    }
    scope.layers.push(pc.vars_files.clone());
    scope.layers.push(pc.play_vars.clone());
    scope.layers.push(state.facts.clone());
    scope.layers.push(state.inventory_vars.clone());
    let mut magic = magic_for(shared, &state.name);
    let hosts = Value::from(pc.play_hosts.as_ref().clone());
    magic.insert("ansible_play_hosts".into(), hosts.clone());
    magic.insert("ansible_play_hosts_all".into(), hosts.clone());
    magic.insert("ansible_play_batch".into(), hosts.clone());
    magic.insert("play_hosts".into(), hosts);
    scope.layers.push(Arc::new(magic));
    scope.specials.push((
        "hostvars".into(),
        JValue::from_object(HostVars {
            shared: Arc::new(SharedRef(shared.clone())),
        }),
    ));
    scope.into_value()
}

fn template_err(e: TemplateError) -> ModuleError {
    ModuleError::Args(e.msg)
}

/// Reads one variable through the scope (templated), as JSON.
fn var(scope: &JValue, name: &str) -> Option<Value> {
    let v = scope.get_attr(name).ok()?;
    if v.is_undefined() {
        return None;
    }
    crate::template::to_json(&v).ok()
}

fn var_str(scope: &JValue, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match var(scope, n)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

async fn connection(
    shared: &Arc<Shared>,
    state: &mut HostState,
    scope: &JValue,
) -> Result<Arc<dyn Transport>, TransportError> {
    if let Some(c) = &state.conn {
        return Ok(c.clone());
    }
    let mut vars = Map::new();
    for key in [
        "ansible_connection",
        "ansible_host",
        "ansible_port",
        "ansible_user",
        "ansible_ssh_private_key_file",
        "ansible_password",
        "ansible_ssh_pass",
        "ansible_ssh_common_args",
        "ansible_ssh_extra_args",
        "ansible_private_key_file",
        "ansible_ssh_host",
        "ansible_ssh_port",
        "ansible_ssh_user",
    ] {
        if let Some(v) = var(scope, key) {
            vars.insert(key.to_string(), v);
        }
    }
    let conn = (shared.connector)(state.name.clone(), vars).await?;
    // Who we are decides escalation (root needs no sudo), so learn it before any task runs.
    let probe = async {
        let whoami = crate::transport::whoami(conn.as_ref());
        match shared.plan.request.command_timeout {
            Some(limit) => tokio::time::timeout(limit, whoami)
                .await
                .unwrap_or(Err(TransportError::CommandTimeout(limit))),
            None => whoami.await,
        }
    };
    let login = tokio::select! {
        r = probe => r,
        _ = shared.cancel.killed() => Err(TransportError::Other("killed".into())),
    };
    state.login = match login {
        Ok(login) => login,
        Err(e) if e.is_unreachable() => {
            conn.close().await;
            return Err(e);
        }
        Err(_) => None,
    };
    shared
        .connections
        .lock()
        .await
        .insert(state.name.clone(), conn.clone());
    state.conn = Some(conn.clone());
    Ok(conn)
}

/// The escalation a task gets on this host: what its keywords ask for, adapted to who the
/// connection logged in as (see [`crate::transport::decide_become`]).
fn effective_become(
    t: &crate::template::Templar,
    inh: &Inherited,
    task: &Task,
    scope: &JValue,
    login: Option<&Login>,
) -> Result<Option<Become>, ModuleError> {
    match requested_become(t, inh, task, scope)? {
        None => Ok(None),
        Some(want) => crate::transport::decide_become(login, want).map_err(ModuleError::Args),
    }
}

/// The escalation a task's keywords and variables ask for.
fn requested_become(
    t: &crate::template::Templar,
    inh: &Inherited,
    task: &Task,
    scope: &JValue,
) -> Result<Option<Become>, ModuleError> {
    let enabled = task
        .common
        .r#become
        .or(inh.r#become)
        .or_else(|| var(scope, "ansible_become").as_ref().and_then(parse_bool))
        .unwrap_or(false);
    if !enabled {
        return Ok(None);
    }
    let user = task
        .common
        .become_user
        .clone()
        .or(inh.become_user.clone())
        .or_else(|| var_str(scope, &["ansible_become_user"]))
        .unwrap_or_else(|| "root".into());
    let user = render_plain(t, scope, &user)?;
    let method = task
        .common
        .become_method
        .clone()
        .or(inh.become_method.clone())
        .or_else(|| var_str(scope, &["ansible_become_method"]))
        .unwrap_or_else(|| "sudo".into());
    let method = match method.as_str() {
        "sudo" => BecomeMethod::Sudo,
        "su" => BecomeMethod::Su,
        other => {
            return Err(ModuleError::Args(format!(
                "become_method '{other}' is not supported; valid: sudo, su"
            )));
        }
    };
    let password = var_str(
        scope,
        &[
            "ansible_become_password",
            "ansible_become_pass",
            "ansible_sudo_pass",
        ],
    )
    .map(crate::secrets::Secret::new);
    Ok(Some(Become {
        method,
        user,
        password,
    }))
}

fn render_plain(
    t: &crate::template::Templar,
    scope: &JValue,
    s: &str,
) -> Result<String, ModuleError> {
    if !crate::template::is_template(s) {
        return Ok(s.to_string());
    }
    match t.render_str(s, scope).map_err(template_err)? {
        Value::String(s) => Ok(s),
        other => Ok(other.to_string()),
    }
}

fn no_log(shared: &Shared, inh: &Inherited, task: &Task, scope: &JValue) -> bool {
    let v = task.common.no_log.clone().or(inh.no_log.clone());
    match v {
        None => false,
        Some(v) => shared
            .plan
            .templar
            .render_value(&v, scope)
            .ok()
            .as_ref()
            .and_then(parse_bool)
            .unwrap_or(true),
    }
}

fn bool_kw(shared: &Shared, v: &Option<Value>, scope: &JValue) -> Option<bool> {
    let v = v.as_ref()?;
    shared
        .plan
        .templar
        .render_value(v, scope)
        .ok()
        .as_ref()
        .and_then(parse_bool)
}

/// Removes arguments equal to `omit`.
fn drop_omitted(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, x| x.as_str() != Some(OMIT));
        m.values_mut().for_each(drop_omitted);
    }
}

const CENSORED: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

async fn run_task(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    task: &Task,
    inh: &Inherited,
    handler: bool,
) {
    let mut tags = inh.tags.clone();
    tags.extend(task.common.tags.iter().cloned());
    if task.id != crate::engine::events::FACTS_TASK_ID && !selected_by_tags(shared, &tags) {
        return;
    }
    let scope = build_scope(shared, pc, state, inh, task, None);
    register_templated_secrets(shared, pc, state, inh, task, &scope);
    let run_once = task.common.run_once.or(inh.run_once).unwrap_or(false);
    if run_once
        && let Some(first) = pc.play_hosts.first()
        && *first != state.name
    {
        // The first host runs it; the others take its registered result.
        let cell = {
            let mut map = shared.run_once.lock().unwrap_or_else(|e| e.into_inner());
            map.entry((pc.play_idx, task.id)).or_default().clone()
        };
        if let Some(v) = cell.get()
            && let Some(reg) = &task.register
        {
            let mut rt = (*state.runtime).clone();
            rt.insert(reg.clone(), v.clone());
            state.runtime = Arc::new(rt);
        }
        return;
    }
    shared.emit(RunEvent::TaskStart {
        host: state.name.clone(),
        task_id: task.id,
        task: title(shared, task, &scope),
        module: task.module.clone(),
        handler,
    });
    let started = Instant::now();
    let hidden = no_log(shared, inh, task, &scope);
    let loop_items = match &task.loop_items {
        None => None,
        Some(spec) => match shared.plan.templar.render_value(spec, &scope) {
            Ok(Value::Array(items)) => Some(items),
            Ok(Value::Null) => Some(Vec::new()),
            bad => {
                let msg = match bad {
                    Ok(other) => format!("loop must be a list, got {}", short(&other.to_string())),
                    Err(e) => e.msg,
                };
                let r = ModuleResult::fail(msg);
                finish(
                    shared, pc, state, task, inh, &scope, r, None, started, hidden,
                );
                return;
            }
        },
    };
    let aggregate = match loop_items {
        None => {
            let r = run_once_item(shared, pc, state, task, inh, &scope, hidden).await;
            let Some(r) = r else { return };
            let reg = finish(
                shared, pc, state, task, inh, &scope, r, None, started, hidden,
            );
            if run_once {
                publish_run_once(shared, pc, task, reg);
            }
            return;
        }
        Some(items) => items,
    };
    for it in &aggregate {
        shared.plan.redactor.add_named(it, &|_| false);
    }
    let mut results = Vec::new();
    let mut any_changed = false;
    let mut any_failed = false;
    let mut all_skipped = !aggregate.is_empty();
    for (i, item) in aggregate.iter().enumerate() {
        if state.stopped || shared.cancel.is_cancelled() {
            break;
        }
        let mut layer = Map::new();
        layer.insert(task.loop_var.clone(), item.clone());
        layer.insert("ansible_loop_var".into(), task.loop_var.clone().into());
        let mut lp = Map::new();
        lp.insert("index".into(), (i + 1).into());
        lp.insert("index0".into(), i.into());
        lp.insert("first".into(), (i == 0).into());
        lp.insert("last".into(), (i + 1 == aggregate.len()).into());
        lp.insert("length".into(), aggregate.len().into());
        layer.insert("ansible_loop".into(), Value::Object(lp));
        let item_scope = build_scope(shared, pc, state, inh, task, Some(Arc::new(layer)));
        let label = match &task.loop_label {
            Some(l) => shared
                .plan
                .templar
                .render_value(l, &item_scope)
                .unwrap_or_else(|_| item.clone()),
            None => item.clone(),
        };
        let item_started = Instant::now();
        let Some(r) = run_once_item(shared, pc, state, task, inh, &item_scope, hidden).await else {
            return;
        };
        any_changed |= r.changed;
        all_skipped &= r.skipped;
        let mut reg = result_json(&r, hidden);
        if let Value::Object(m) = &mut reg {
            m.insert(
                task.loop_var.clone(),
                if hidden {
                    Value::String(CENSORED.into())
                } else {
                    item.clone()
                },
            );
            m.insert("ansible_loop_var".into(), task.loop_var.clone().into());
        }
        let (status, failed, ignored) = judge(shared, task, inh, &item_scope, &r, &mut reg);
        any_failed |= failed && !ignored;
        emit_result(
            shared,
            state,
            task,
            &scope,
            status,
            Some(label),
            &r,
            ignored,
            item_started,
            hidden,
            reg.clone(),
        );
        results.push(reg);
    }
    let mut agg = ModuleResult::changed(any_changed);
    agg.failed = any_failed;
    agg.skipped = all_skipped;
    let mut reg = result_json(&agg, hidden);
    if let Value::Object(m) = &mut reg {
        m.insert("results".into(), Value::Array(results));
        m.insert(
            "msg".into(),
            Value::String(if any_failed {
                "One or more items failed".into()
            } else {
                "All items completed".into()
            }),
        );
    }
    // The per-item events were emitted; count the task once, like Ansible's recap.
    let status = if aggregate.is_empty() || all_skipped {
        Status::Skipped
    } else if any_failed {
        Status::Failed
    } else if any_changed {
        Status::Changed
    } else {
        Status::Ok
    };
    let reg = account(shared, pc, state, task, inh, status, false, reg);
    if run_once {
        publish_run_once(shared, pc, task, reg);
    }
}

/// The task's name with its templates rendered (`Install PostgreSQL {{ version }}`), as Ansible shows it.
fn title(shared: &Shared, task: &Task, scope: &JValue) -> String {
    let name = task.display_name();
    if !crate::template::is_template(&name) {
        return name;
    }
    match shared.plan.templar.render_str(&name, scope) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => name,
    }
}

fn publish_run_once(shared: &Shared, pc: &PlayCtx<'_>, task: &Task, reg: Value) {
    let cell = {
        let mut map = shared.run_once.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((pc.play_idx, task.id)).or_default().clone()
    };
    let _ = cell.set(reg);
}

fn short(s: &str) -> String {
    if s.len() > 80 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(80).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s.to_string()
    }
}

/// Runs the module once (with `until` retries); None when the host became unreachable.
async fn run_once_item(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    task: &Task,
    inh: &Inherited,
    scope: &JValue,
    hidden: bool,
) -> Option<ModuleResult> {
    // when (inherited conditions first).
    let mut conds: Vec<Value> = inh.when.clone();
    if let Some(w) = &task.common.when {
        conds.push(w.clone());
    }
    for c in &conds {
        match shared.plan.templar.eval_bool(c, scope) {
            Ok(true) => {}
            Ok(false) => {
                let mut r = ModuleResult::ok();
                r.skipped = true;
                r.msg = Some("Conditional result was False".into());
                return Some(r);
            }
            Err(e) => {
                return Some(ModuleResult::fail(format!(
                    "The conditional check '{}' failed: {}",
                    cond_text(c),
                    e.msg
                )));
            }
        }
    }
    // set_fact is handled here: it changes the host's variables.
    if task.module == "set_fact" {
        let mut args = task.args.clone();
        args.remove("cacheable");
        return Some(
            match shared
                .plan
                .templar
                .render_value(&Value::Object(args), scope)
            {
                Ok(Value::Object(facts)) => {
                    let mut rt = (*state.runtime).clone();
                    shared.plan.redactor.add_named_map(&facts, &|_| false);
                    for (k, v) in &facts {
                        rt.insert(k.clone(), v.clone());
                    }
                    state.runtime = Arc::new(rt);
                    publish(shared, state);
                    let mut r = ModuleResult::ok();
                    r.extra.insert("ansible_facts".into(), Value::Object(facts));
                    r
                }
                Ok(_) => ModuleResult::fail("set_fact needs key: value pairs"),
                Err(e) => ModuleResult::fail(e.msg),
            },
        );
    }
    let conn = match connection(shared, state, scope).await {
        Ok(c) => c,
        Err(e) => {
            let mut r = ModuleResult::fail(e.to_string());
            r.extra.insert("unreachable".into(), Value::Bool(true));
            return Some(r);
        }
    };
    // A host that cannot escalate for this play fails once, at its first task, with the fix.
    if !pc.become_checked {
        pc.become_checked = true;
        if let Some(msg) = missing_escalation(shared, pc, state) {
            return Some(ModuleResult::fail(msg));
        }
    }
    let escalation =
        match effective_become(&shared.plan.templar, inh, task, scope, state.login.as_ref()) {
            Ok(b) => b,
            Err(e) => return Some(ModuleResult::fail(e.to_string())),
        };
    let args = if task.module == "assert" {
        task.args.clone()
    } else {
        let mut a = match shared
            .plan
            .templar
            .render_value(&Value::Object(task.args.clone()), scope)
        {
            Ok(v) => v,
            Err(e) => return Some(ModuleResult::fail(e.msg)),
        };
        drop_omitted(&mut a);
        let mut a = match a {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        if task.module == "debug"
            && let Some(Value::String(v)) = task.args.get("var")
        {
            let expr = format!("{{{{ {v} }}}}");
            let val = shared
                .plan
                .templar
                .render_str(&expr, scope)
                .unwrap_or_else(|e| Value::String(format!("VARIABLE IS NOT DEFINED! ({})", e.msg)));
            a.insert("__var_value".into(), val);
        }
        a
    };
    let check = match task.common.check_mode.clone().or(inh.check_mode.clone()) {
        Some(v) => shared
            .plan
            .templar
            .render_value(&v, scope)
            .ok()
            .as_ref()
            .and_then(parse_bool)
            .unwrap_or(shared.plan.request.check),
        None => shared.plan.request.check,
    };
    let diff = bool_kw(shared, &task.common.diff, scope)
        .or(bool_kw(shared, &inh.diff, scope))
        .unwrap_or(shared.plan.request.diff);
    let mut environment = Vec::new();
    for env in inh.environment.iter().chain(task.common.environment.iter()) {
        if let Ok(Value::Object(m)) = shared.plan.templar.render_value(env, scope) {
            for (k, v) in m {
                environment.push((
                    k,
                    match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    },
                ));
            }
        }
    }
    let events = shared.clone();
    let host = state.name.clone();
    let task_id = task.id;
    let task_name = task.display_name();
    let live = Mutex::new(LiveOutput::default());
    let sink: modules::Sink = Arc::new(move |stream, data: &[u8]| {
        if hidden {
            return;
        }
        let Ok(mut live) = live.lock() else {
            return;
        };
        let text = match stream {
            crate::transport::Stream::Stdout => live.stdout.decode(data),
            crate::transport::Stream::Stderr => live.stderr.decode(data),
        };
        // Past the budget nothing more reaches the event stream (nor the journal, nor memory);
        // the task's result still has the output's head, tail and size.
        if live.sent >= LIVE_OUTPUT_PER_TASK {
            if !live.noted {
                live.noted = true;
                events.emit(RunEvent::Warning {
                    msg: format!(
                        "[{host}] {task_name}: output beyond {} MiB is not shown or journalled \
                         (the result keeps its first and last {} KiB)",
                        LIVE_OUTPUT_PER_TASK >> 20,
                        crate::transport::CAPTURE_HALF >> 10
                    ),
                });
            }
            return;
        }
        live.sent += text.len();
        events.emit(RunEvent::Output {
            host: host.clone(),
            task_id,
            stream,
            data: text,
        });
    });
    let facts = state.facts_raw();
    let retries = task
        .retries
        .as_ref()
        .map(|r| {
            shared
                .plan
                .templar
                .render_value(r, scope)
                .ok()
                .and_then(|v| {
                    v.as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .unwrap_or(3)
        })
        .unwrap_or(if task.until.is_some() { 3 } else { 0 });
    let delay = task
        .delay
        .as_ref()
        .map(|r| {
            shared
                .plan
                .templar
                .render_value(r, scope)
                .ok()
                .and_then(|v| {
                    v.as_f64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .unwrap_or(5.0)
        })
        .unwrap_or(5.0);
    let mut attempt = 0;
    loop {
        let ctx = Ctx {
            host: &state.name,
            conn: conn.as_ref(),
            escalation: escalation.clone(),
            check,
            diff,
            templar: &shared.plan.templar,
            scope,
            playbook_dir: &shared.plan.playbook.dir,
            facts: &facts,
            environment: environment.clone(),
            sink: sink.clone(),
            command_timeout: shared.plan.request.command_timeout,
            cancel: shared.cancel.clone(),
        };
        let r = match modules::run(&task.module, &args, &ctx).await {
            Ok(r) => r,
            Err(ModuleError::Transport(e)) if e.is_unreachable() => {
                let mut r = ModuleResult::fail(e.to_string());
                r.extra.insert("unreachable".into(), Value::Bool(true));
                r
            }
            Err(e) => ModuleResult::fail(e.to_string()),
        };
        if task.module == "setup"
            && let Some(Value::Object(f)) = r.extra.get("ansible_facts")
        {
            let mut layer = facts_layer(f);
            layer.insert("__raw".into(), Value::Object(f.clone()));
            state.facts = Arc::new(layer);
            publish(shared, state);
        }
        let Some(until) = &task.until else {
            return Some(r);
        };
        if r.extra.contains_key("unreachable") {
            return Some(r);
        }
        attempt += 1;
        // `until` sees the result under the register name.
        let mut layer = Map::new();
        if let Some(reg) = &task.register {
            layer.insert(reg.clone(), result_json(&r, false));
        }
        let s2 = build_scope(shared, pc, state, inh, task, Some(Arc::new(layer)));
        let done = shared.plan.templar.eval_bool(until, &s2).unwrap_or(false);
        if done || attempt > retries || shared.cancel.is_cancelled() {
            let mut r = r;
            r.extra.insert("attempts".into(), attempt.into());
            if !done {
                r.failed = true;
                r.msg = Some(format!(
                    "Retried {attempt} times; the 'until' condition never became true"
                ));
            }
            return Some(r);
        }
        tokio::time::sleep(std::time::Duration::from_secs_f64(delay.max(0.0))).await;
    }
}

/// Why the play cannot run on this host when one of its tasks (fact gathering and handlers
/// included) would need an escalation tool the host lacks; None when all it asks for is possible
/// or cannot be known before the task runs (a become_user from a loop variable).
fn missing_escalation(shared: &Arc<Shared>, pc: &PlayCtx<'_>, state: &HostState) -> Option<String> {
    let login = state.login.as_ref()?;
    // Root can always escalate (a login with both tools is still checked: su with a password
    // cannot work and is refused here, before any task).
    if login.is_root() {
        return None;
    }
    let play = pc.play;
    let base = play_base(play);
    let check = |task: &Task, inh: &Inherited| -> Option<String> {
        // Tasks the run's --tags/--skip-tags leave out need nothing.
        let mut tags = inh.tags.clone();
        tags.extend(task.common.tags.iter().cloned());
        if task.id != crate::engine::events::FACTS_TASK_ID && !selected_by_tags(shared, &tags) {
            return None;
        }
        // A conditional task may never run on this host (e.g. `'redis_vm' in group_names`):
        // if it does, it fails on its own with the same message.
        if !inh.when.is_empty() || task.common.when.is_some() {
            return None;
        }
        let scope = build_scope(shared, pc, state, inh, task, None);
        let want = requested_become(&shared.plan.templar, inh, task, &scope).ok()??;
        crate::transport::decide_become(Some(login), want).err()
    };
    if play.gather_facts
        && let Some(msg) = check(&gather_task(), &base)
    {
        return Some(msg);
    }
    fn walk(
        items: &[Item],
        inh: &Inherited,
        check: &dyn Fn(&Task, &Inherited) -> Option<String>,
    ) -> Option<String> {
        items.iter().find_map(|item| match item {
            Item::Task(t) if t.module == "meta" || t.module == "set_fact" => None,
            Item::Task(t) => check(t, inh),
            Item::Block(b) => {
                let inner = inh.with(&b.common);
                walk(&b.block, &inner, check)
                    .or_else(|| walk(&b.rescue, &inner, check))
                    .or_else(|| walk(&b.always, &inner, check))
            }
        })
    }
    [
        &play.pre_tasks,
        &play.tasks,
        &play.post_tasks,
        &play.handlers,
    ]
    .into_iter()
    .find_map(|items| walk(items, &base, &check))
}

fn cond_text(c: &Value) -> String {
    match c {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Secret-named variables whose values are templates (`x_password: "{{ a ~ b }}"`, a lookup, a
/// nested `users[0].password`) are known only once rendered: render them for this host and
/// register the result before anything of the task is shown.
fn register_templated_secrets(
    shared: &Shared,
    pc: &PlayCtx<'_>,
    state: &HostState,
    inh: &Inherited,
    task: &Task,
    scope: &JValue,
) {
    let mut layers: Vec<&Map<String, Value>> = vec![
        &shared.plan.extra,
        &task.common.vars,
        &pc.vars_files,
        &pc.play_vars,
        &state.inventory_vars,
    ];
    layers.extend(inh.vars.iter().map(|v| v.as_ref()));
    for vars in layers {
        for (k, v) in vars {
            if holds_templated_secret(k, v)
                && let Some(rendered) = var(scope, k)
            {
                let mut m = Map::new();
                m.insert(k.clone(), rendered);
                shared.plan.redactor.add_named_map(&m, &|_| false);
            }
        }
    }
}

/// Whether a secret-named value under `k` (at any depth) is a template.
fn holds_templated_secret(k: &str, v: &Value) -> bool {
    match v {
        Value::String(s) => crate::secrets::is_secret_name(k) && crate::template::is_template(s),
        Value::Array(items) => items.iter().any(|x| holds_templated_secret(k, x)),
        Value::Object(m) => m.iter().any(|(k2, v2)| {
            holds_templated_secret(k2, v2)
                || (crate::secrets::is_secret_name(k) && holds_templated_secret(k, v2))
        }),
        _ => false,
    }
}

impl HostState {
    fn facts_raw(&self) -> Map<String, Value> {
        match self.facts.get("__raw") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        }
    }
}

fn publish(shared: &Shared, state: &HostState) {
    if let Ok(mut p) = shared.published.write() {
        p.insert(
            state.name.clone(),
            (state.facts.clone(), state.runtime.clone()),
        );
    }
}

/// The registered form of a result.
fn result_json(r: &ModuleResult, hidden: bool) -> Value {
    let mut m = Map::new();
    m.insert("changed".into(), r.changed.into());
    m.insert("failed".into(), r.failed.into());
    if r.skipped {
        m.insert("skipped".into(), true.into());
    }
    if hidden {
        m.insert("censored".into(), CENSORED.into());
        return Value::Object(m);
    }
    if let Some(msg) = &r.msg {
        m.insert("msg".into(), msg.clone().into());
    }
    if let Some(rc) = r.rc {
        m.insert("rc".into(), rc.into());
    }
    if let Some(s) = &r.stdout {
        m.insert("stdout".into(), s.clone().into());
        m.insert(
            "stdout_lines".into(),
            Value::from(s.lines().collect::<Vec<_>>()),
        );
    }
    if let Some(s) = &r.stderr {
        m.insert("stderr".into(), s.clone().into());
        m.insert(
            "stderr_lines".into(),
            Value::from(s.lines().collect::<Vec<_>>()),
        );
    }
    if !r.diff.is_empty() {
        m.insert(
            "diff".into(),
            serde_json::to_value(bounded_diffs(&r.diff)).unwrap_or(Value::Null),
        );
    }
    for (k, v) in &r.extra {
        m.insert(k.clone(), v.clone());
    }
    Value::Object(m)
}

/// Applies changed_when / failed_when / ignore_errors; returns (status, failed, ignored).
fn judge(
    shared: &Shared,
    task: &Task,
    inh: &Inherited,
    scope: &JValue,
    r: &ModuleResult,
    reg: &mut Value,
) -> (Status, bool, bool) {
    if r.extra.contains_key("unreachable") {
        return (
            Status::Unreachable,
            true,
            task.common
                .ignore_unreachable
                .or(inh.ignore_unreachable)
                .unwrap_or(false),
        );
    }
    if r.skipped {
        return (Status::Skipped, false, false);
    }
    let mut changed = r.changed;
    let mut failed = r.failed;
    let needs_eval = task.changed_when.is_some() || task.failed_when.is_some();
    if needs_eval {
        let mut layer = Map::new();
        if let Some(name) = &task.register {
            layer.insert(name.clone(), reg.clone());
        }
        // Ansible lets changed_when/failed_when read the result's fields through the register name only.
        let mut s = Scope::new(shared.plan.templar.clone());
        s.layers.push(Arc::new(layer));
        s.specials.push(("__parent".into(), scope.clone()));
        let merged = MergedScope {
            first: s.into_value(),
            second: scope.clone(),
        };
        let merged = JValue::from_object(merged);
        if let Some(c) = &task.changed_when {
            match shared.plan.templar.eval_bool(c, &merged) {
                Ok(v) => changed = v,
                Err(e) => {
                    failed = true;
                    set_msg(reg, &format!("changed_when: {}", e.msg));
                }
            }
        }
        if let Some(c) = &task.failed_when {
            match shared.plan.templar.eval_bool(c, &merged) {
                Ok(v) => {
                    failed = v;
                    if v && r.msg.is_none() {
                        set_msg(reg, "failed_when condition was true");
                    }
                }
                Err(e) => {
                    failed = true;
                    set_msg(reg, &format!("failed_when: {}", e.msg));
                }
            }
        }
        if let Value::Object(m) = reg {
            m.insert("changed".into(), changed.into());
            m.insert("failed".into(), failed.into());
        }
    }
    let ignored = failed
        && task
            .common
            .ignore_errors
            .or(inh.ignore_errors)
            .unwrap_or(false);
    let status = if failed {
        Status::Failed
    } else if changed {
        Status::Changed
    } else {
        Status::Ok
    };
    (status, failed, ignored)
}

fn set_msg(reg: &mut Value, msg: &str) {
    if let Value::Object(m) = reg {
        m.insert("msg".into(), msg.into());
    }
}

/// Two scopes read as one (the first wins).
#[derive(Debug)]
struct MergedScope {
    first: JValue,
    second: JValue,
}

impl Object for MergedScope {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let name = key.as_str()?;
        match self.first.get_attr(name) {
            Ok(v) if !v.is_undefined() && name != "__parent" => Some(v),
            _ => self
                .second
                .get_attr(name)
                .ok()
                .filter(|v| !v.is_undefined()),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn emit_result(
    shared: &Shared,
    state: &HostState,
    task: &Task,
    scope: &JValue,
    status: Status,
    item: Option<Value>,
    r: &ModuleResult,
    ignored: bool,
    started: Instant,
    hidden: bool,
    mut reg: Value,
) {
    // Implicit fact gathering feeds the host's variables, not the event stream (`--json`, the
    // journal); an explicit `setup` task shows its facts, masked.
    if task.id == super::events::FACTS_TASK_ID
        && let Value::Object(m) = &mut reg
    {
        m.remove("ansible_facts");
    }
    let (msg, stdout, stderr, diff) = if hidden {
        (Some(CENSORED.to_string()), None, None, Vec::new())
    } else {
        let msg = reg
            .get("msg")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or(r.msg.clone());
        (
            msg,
            r.stdout.clone(),
            r.stderr.clone(),
            bounded_diffs(&r.diff),
        )
    };
    shared.emit(RunEvent::TaskResult(Box::new(TaskResult {
        host: state.name.clone(),
        task_id: task.id,
        task: title(shared, task, scope),
        module: task.module.clone(),
        status,
        item: item.map(|i| {
            if hidden {
                Value::String("(censored due to no_log)".into())
            } else {
                i
            }
        }),
        msg,
        rc: r.rc,
        stdout,
        stderr,
        diff,
        ignored,
        duration_ms: started.elapsed().as_millis() as u64,
        result: reg,
    })));
}

/// Emits, registers and counts one non-loop result; returns the registered value.
#[allow(clippy::too_many_arguments)]
fn finish(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    task: &Task,
    inh: &Inherited,
    scope: &JValue,
    r: ModuleResult,
    item: Option<Value>,
    started: Instant,
    hidden: bool,
) -> Value {
    let mut reg = result_json(&r, hidden);
    let (status, _failed, ignored) = judge(shared, task, inh, scope, &r, &mut reg);
    emit_result(
        shared,
        state,
        task,
        scope,
        status,
        item,
        &r,
        ignored,
        started,
        hidden,
        reg.clone(),
    );
    account(shared, pc, state, task, inh, status, ignored, reg)
}

/// Counts the task, registers its result, queues handlers, and stops the host on failure.
#[allow(clippy::too_many_arguments)]
fn account(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    task: &Task,
    inh: &Inherited,
    status: Status,
    ignored: bool,
    reg: Value,
) -> Value {
    if let Some(name) = &task.register {
        let mut rt = (*state.runtime).clone();
        rt.insert(name.clone(), reg.clone());
        state.runtime = Arc::new(rt);
        publish(shared, state);
    }
    let c = &mut state.counts;
    match status {
        Status::Ok => c.ok += 1,
        Status::Changed => {
            c.ok += 1;
            c.changed += 1;
        }
        Status::Skipped => c.skipped += 1,
        Status::Failed if ignored => {
            c.ok += 1;
            c.ignored += 1;
        }
        Status::Failed => {
            c.failed += 1;
        }
        Status::Unreachable if ignored => c.skipped += 1,
        Status::Unreachable => c.unreachable += 1,
    }
    if status == Status::Changed && !task.notify.is_empty() {
        for n in &task.notify {
            if !pc.notified.contains(n) {
                pc.notified.push(n.clone());
            }
        }
    }
    match status {
        Status::Unreachable if !ignored => {
            state.stopped = true;
            shared.emit(RunEvent::HostStopped {
                host: state.name.clone(),
                reason: reg
                    .get("msg")
                    .and_then(Value::as_str)
                    .unwrap_or("unreachable")
                    .to_string(),
            });
            note_failure(shared, pc, task, inh);
        }
        Status::Failed if !ignored => {
            pc.failed = true;
            note_failure(shared, pc, task, inh);
        }
        _ => {}
    }
    reg
}

fn note_failure(shared: &Shared, pc: &PlayCtx<'_>, task: &Task, inh: &Inherited) {
    let n = shared.failed_in_play.fetch_add(1, Ordering::SeqCst) + 1;
    let fatal = task
        .common
        .any_errors_fatal
        .or(inh.any_errors_fatal)
        .unwrap_or(false);
    let over_pct = pc
        .play
        .max_fail_percentage
        .is_some_and(|pct| (n as f64) * 100.0 / (pc.play_hosts.len().max(1) as f64) > pct);
    if fatal || over_pct {
        shared.abort_play.store(true, Ordering::SeqCst);
    }
}
