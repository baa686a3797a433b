//! One task on one host: tags, `run_once`, loops and their items, `when`, `set_fact`, the
//! connection, arguments, retries with `until`; judging and accounting are in `judge`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use minijinja::Value as JValue;
use serde_json::{Map, Value};

use super::r#become::task_escalation;
use super::connect::{Reopened, adopt, connection, reconnector};
use super::judge::{finish, result_json};
use super::loops::{loop_items, run_loop};
use super::scope::{
    Inherited, bool_kw, build_scope, facts_layer, flag, no_log, register_templated_secrets,
    selected_by_tags,
};
use super::{HostState, LIVE_OUTPUT_PER_TASK, LiveOutput, PlayCtx, Shared, publish};
use crate::engine::events::RunEvent;
use crate::engine::modules::{self, Ctx, ModuleError, ModuleResult, parse_bool};
use crate::playbook::Task;
use crate::template::{OMIT, Templar};

/// Removes arguments equal to `omit`.
fn drop_omitted(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, x| x.as_str() != Some(OMIT));
        m.values_mut().for_each(drop_omitted);
    }
}

pub(super) async fn run_task(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    task: &Task,
    inh: &Inherited,
    handler: bool,
) {
    let mut tags = inh.tags.clone();
    tags.extend(task.common.tags.iter().cloned());
    if task.id != crate::engine::events::FACTS_TASK_ID
        && !selected_by_tags(&shared.plan.request, &tags)
    {
        return;
    }
    if !super::step(shared, pc, state).await {
        return;
    }
    let run_once = run_stepped(shared, pc, state, task, inh, handler).await;
    super::fatal::after_step(shared, pc, state, task, inh, run_once).await;
}

/// The task on this host, once the batch got to it; whether it was a run_once task.
async fn run_stepped(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    task: &Task,
    inh: &Inherited,
    handler: bool,
) -> bool {
    super::take_given(shared, state);
    let scope = build_scope(shared, pc, state, inh, task, None);
    register_templated_secrets(shared, pc, state, inh, task, &scope);
    let run_once = match flag(
        &shared.plan.templar,
        "run_once",
        &task.common.run_once,
        &inh.run_once,
        &scope,
    ) {
        Ok(b) => b.unwrap_or(false),
        Err(msg) => {
            let r = ModuleResult::fail(msg);
            let hidden = no_log(shared, inh, task, &scope);
            finish(
                shared,
                pc,
                state,
                task,
                inh,
                &scope,
                r,
                None,
                Instant::now(),
                hidden,
            );
            return false;
        }
    };
    if !run_once {
        run_here(shared, pc, state, task, inh, &scope, handler).await;
        return false;
    }
    // The batch's first host runs a run_once task, as in Ansible (under `linear` the first of
    // those at this task); the others wait for its result and register it too (under `free`
    // the first may be late). When it does not run it after all, or when fewer forks than hosts
    // could leave it waiting for a slot a waiting host holds, the first host to get here runs it.
    let cell = run_once_cell(shared, pc, task);
    let first = match &pc.lockstep {
        Some(ls) => ls.first_at(&pc.path),
        None => pc.play_hosts.first().cloned(),
    };
    if shared.plan.forks >= pc.play_hosts.len()
        && let Some(first) = first
        && first != state.name
    {
        let at = pc.lockstep.as_deref().map(|ls| (ls, &pc.path));
        wait_for_run_once(shared, &cell, &first, at).await;
    }
    let mut ran = false;
    {
        let (pc, ran) = (&mut *pc, &mut ran);
        let state = &mut *state;
        let scope = &scope;
        cell.get_or_init(move || async move {
            *ran = true;
            run_here(shared, pc, state, task, inh, scope, handler)
                .await
                .unwrap_or(Value::Null)
        })
        .await;
    }
    if ran {
        // Its failure fails every host of the batch, as in Ansible's strategy.
        if pc.failed && pc.lockstep.is_some() {
            super::fatal::record(shared, pc, &state.name, true);
        }
        shared.progress.notify_waiters();
    } else {
        let delegated_facts = flag(
            &shared.plan.templar,
            "delegate_facts",
            &task.common.delegate_facts,
            &inh.delegate_facts,
            &scope,
        )
        .ok()
        .flatten()
        .unwrap_or(false)
            && (task.common.delegate_to.is_some() || inh.delegate_to.is_some());
        take_run_once_result(shared, state, task, cell.get(), !delegated_facts);
    }
    true
}

/// Waits until the run_once result is in, or `first` is done with the play (under `linear`:
/// with this task, `at`), or the run is cancelled.
async fn wait_for_run_once(
    shared: &Shared,
    cell: &tokio::sync::OnceCell<Value>,
    first: &str,
    at: Option<(&super::lockstep::Lockstep, &super::lockstep::Key)>,
) {
    loop {
        let woken = shared.progress.notified();
        tokio::pin!(woken);
        // Registered before the checks, so a wake-up between them is not lost.
        woken.as_mut().enable();
        let first_done = match at {
            Some((ls, key)) => !ls.is_at(first, key),
            None => shared
                .play_done
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(first),
        };
        if cell.initialized() || first_done || shared.cancel.is_cancelled() {
            return;
        }
        woken.await;
    }
}

/// Runs the task on this host: its start, its items or its one call, its result; returns the
/// registered value (None when the host became unreachable or the loop could not start).
async fn run_here(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    task: &Task,
    inh: &Inherited,
    scope: &JValue,
    handler: bool,
) -> Option<Value> {
    // Back-pressure: a consumer behind by more than the channel's budget holds the run here.
    shared.events.room().await;
    shared.emit(RunEvent::TaskStart {
        host: state.name.clone(),
        task_id: task.id,
        task: title(shared, task, scope),
        module: task.module.clone(),
        handler,
    });
    let started = Instant::now();
    let hidden = no_log(shared, inh, task, scope);
    let ctx = super::loops::lookup_context(shared, &inh.roles, task);
    match loop_items(&shared.plan.templar, task, scope, &ctx) {
        Err(msg) => {
            let r = ModuleResult::fail(msg);
            finish(
                shared, pc, state, task, inh, scope, r, None, started, hidden,
            );
            None
        }
        Ok(None) => {
            let r = run_once_item(shared, pc, state, task, inh, scope, hidden).await?;
            Some(finish(
                shared, pc, state, task, inh, scope, r, None, started, hidden,
            ))
        }
        Ok(Some(items)) => run_loop(shared, pc, state, task, inh, scope, &items, hidden).await,
    }
}

fn run_once_cell(
    shared: &Shared,
    pc: &PlayCtx<'_>,
    task: &Task,
) -> Arc<tokio::sync::OnceCell<Value>> {
    let mut map = shared.run_once.lock().unwrap_or_else(|e| e.into_inner());
    map.entry((pc.play_idx, task.id)).or_default().clone()
}

/// `run_once` on a host that did not run it: it takes the registered result of the host that did
/// (when that host got one), and, as ansible-core's strategy does for every host of the play, the
/// variables a `set_fact`, `include_vars` or a module's `ansible_facts` set (unless `delegate_facts` sent them to
/// the delegated host).
fn take_run_once_result(
    shared: &Shared,
    state: &mut HostState,
    task: &Task,
    result: Option<&Value>,
    with_facts: bool,
) {
    let Some(v) = result.filter(|v| !v.is_null()) else {
        return;
    };
    if let Some(reg) = &task.register {
        let mut rt = (*state.runtime).clone();
        rt.insert(reg.clone(), v.clone());
        state.runtime = Arc::new(rt);
    }
    if let (true, Some(Value::Object(f))) = (with_facts, v.get("ansible_facts")) {
        let f = f.clone();
        match task.module.as_str() {
            "set_fact" => super::give(shared, &state.name, |g| g.runtime.extend(f)),
            "include_vars" => super::give(shared, &state.name, |g| g.included.extend(f)),
            _ => super::give(shared, &state.name, |g| g.facts.extend(host_facts(&f))),
        }
        super::take_given(shared, state);
        publish(shared, state);
    }
}

/// A module's `ansible_facts` as the host keeps them: without the `ansible_` prefix (under
/// `ansible_facts` Ansible shows `hostname` for a module's `ansible_hostname`; `ansible_local`
/// keeps its name, as in ansible-core's namespace_facts).
fn host_facts(f: &Map<String, Value>) -> Map<String, Value> {
    f.iter()
        .map(|(k, v)| {
            let k = match k.strip_prefix("ansible_") {
                Some(bare) if k != "ansible_local" => bare,
                _ => k.as_str(),
            };
            (k.to_string(), v.clone())
        })
        .collect()
}

/// The task's name with its templates rendered (`Install PostgreSQL {{ version }}`), as Ansible shows it.
/// A task in a role is shown as `role : name`, as Ansible shows it (the engine sets
/// `ansible_role_name` only for tasks in a role).
pub(super) fn title(shared: &Shared, task: &Task, scope: &JValue) -> String {
    let name = task.display_name();
    let name = if !crate::template::is_template(&name) {
        name
    } else {
        match shared.plan.templar.render_str(&name, scope) {
            Ok(Value::String(s)) => s,
            Ok(other) => other.to_string(),
            Err(_) => name,
        }
    };
    match super::scope::var_str(scope, &["ansible_role_name"]) {
        Some(role) => format!("{role} : {name}"),
        None => name,
    }
}

pub(super) fn short(s: &str) -> String {
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
pub(super) async fn run_once_item(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    task: &Task,
    inh: &Inherited,
    scope: &JValue,
    hidden: bool,
) -> Option<ModuleResult> {
    if let Some(r) = unmet_when(&shared.plan.templar, inh, task, scope) {
        return Some(r);
    }
    let delegation = match super::delegate::resolve(shared, pc, inh, task, scope) {
        Ok(d) => d,
        Err(msg) => return Some(ModuleResult::fail(msg)),
    };
    let d = delegation.as_ref();
    // Where facts a task sets or gathers go: the delegated host with `delegate_facts`.
    let facts_to = d.filter(|d| d.facts).map(|d| d.name.as_str());
    // set_fact and include_vars are handled here: they change the host's variables.
    if task.module == "set_fact" {
        let r = super::set_fact::set_fact(shared, state, task, scope, facts_to);
        return Some(super::delegate::mark(r, d));
    }
    if task.module == "include_vars" {
        let r = super::include_vars::include_vars(shared, state, inh, task, scope, facts_to);
        return Some(super::delegate::mark(r, d));
    }
    let on_controller = d.is_none() && modules::runs_on_controller(&task.module);
    let opened = match d {
        None if on_controller => {
            let conn = state.conn.clone();
            Ok((
                conn.unwrap_or_else(|| Arc::new(crate::transport::Detached)),
                state.login.clone(),
            ))
        }
        Some(d) => super::delegate::connect(shared, d).await,
        None => {
            let then = super::warm::facts_with_login(shared, inh, task, scope);
            connection(shared, state, scope, then.as_deref())
                .await
                .map(|c| (c, state.login.clone()))
        }
    };
    // Only the task that opened the connection may use what its login check gathered.
    let early = state.early_facts.take();
    let (mut conn, login) = match opened {
        Ok(x) => x,
        Err(e) => {
            let mut r = ModuleResult::fail(e.to_string());
            r.extra.insert("unreachable".into(), Value::Bool(true));
            return Some(super::delegate::mark(r, d));
        }
    };
    let escalation = match d {
        // Nothing runs on the host, so nothing escalates there.
        None if on_controller => Ok(None),
        // The delegated host's login and become variables; the keywords are the task's.
        Some(d) => super::r#become::effective_become(
            &shared.plan.templar,
            &shared.plan.ansible_cfg,
            inh,
            task,
            &d.scope,
            login.as_ref(),
        )
        .map_err(|e| e.to_string()),
        None => task_escalation(shared, pc, state, inh, task, scope),
    };
    let escalation = match escalation {
        Ok(b) => b,
        Err(msg) => return Some(super::delegate::mark(ModuleResult::fail(msg), d)),
    };
    let args = match module_args(&shared.plan.templar, task, scope)
        .and_then(|a| super::defaults::with_defaults(&shared.plan.templar, task, inh, scope, a))
    {
        Ok(a) => a,
        Err(msg) => return Some(ModuleResult::fail(msg)),
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
    let environment = task_environment(&shared.plan.templar, inh, task, scope);
    let mut early = super::warm::early_facts(early, task, &args, escalation.as_ref(), &environment);
    let sink = live_sink(shared, state, task, hidden);
    let facts = state.facts_raw();
    let (retries, delay) = retry_policy(&shared.plan.templar, task, scope);
    // A module that replaces the connection (reboot) leaves the new one here.
    let reopened: Reopened = Arc::new(std::sync::Mutex::new(None));
    let reconnect = reconnector(shared, &state.name, scope, &reopened);
    let mut attempt = 0;
    loop {
        let ctx = Ctx {
            host: &state.name,
            action: &task.module_written,
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
            reconnect: if d.is_none() {
                Some(reconnect.as_ref())
            } else {
                None
            },
        };
        let ran = match early.take() {
            Some(r) => Ok(r),
            None => modules::run(&task.module, &args, &ctx).await,
        };
        let r = match ran {
            Ok(r) => r,
            Err(ModuleError::Transport(e)) if e.is_unreachable() => {
                let mut r = ModuleResult::fail(e.to_string());
                r.extra.insert("unreachable".into(), Value::Bool(true));
                r
            }
            Err(e) => ModuleResult::fail(e.to_string()),
        };
        let new_conn = reopened.lock().ok().and_then(|mut g| g.take());
        if let Some((c, new_login)) = new_conn {
            adopt(shared, state, c.clone(), new_login).await;
            conn = c;
        }
        // Any module's `ansible_facts` become host facts (setup, service_facts, hostname …),
        // merged over the ones the host has, as ansible-core's set_host_facts does.
        if let (false, false, Some(Value::Object(f))) =
            (r.failed, r.skipped, r.extra.get("ansible_facts"))
        {
            let f = host_facts(f);
            match facts_to {
                Some(to) => super::give(shared, to, |g| g.facts.extend(f)),
                None => {
                    let mut raw = state.facts_raw();
                    raw.extend(f);
                    let mut layer = facts_layer(&raw, shared.plan.ansible_cfg.inject_facts_as_vars);
                    layer.insert("__raw".into(), Value::Object(raw));
                    state.facts = Arc::new(layer);
                    publish(shared, state);
                }
            }
        }
        let r = super::delegate::mark(r, d);
        let Some(until) = &task.until else {
            return Some(r);
        };
        if r.extra.contains_key("unreachable") {
            return Some(r);
        }
        attempt += 1;
        let done = until_met(shared, pc, state, inh, task, until, &r);
        if done || attempt > retries || shared.cancel.is_cancelled() {
            return Some(settle_until(r, attempt, done));
        }
        tokio::time::sleep(std::time::Duration::from_secs_f64(delay.max(0.0))).await;
    }
}

/// The task's `when` with the inherited conditions first: a skipped result at the first false
/// one, a failed one when a condition cannot be evaluated, None when all hold.
pub(super) fn unmet_when(
    templar: &Templar,
    inh: &Inherited,
    task: &Task,
    scope: &JValue,
) -> Option<ModuleResult> {
    let mut conds: Vec<Value> = inh.when.clone();
    if let Some(w) = &task.common.when {
        conds.push(w.clone());
    }
    for c in &conds {
        match templar.eval_bool(c, scope) {
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
    None
}

/// The module's arguments, rendered (`assert`'s are conditions: they stay text), with `omit`
/// values dropped; `debug: var=` also gets the variable's value.
pub(super) fn module_args(
    templar: &Templar,
    task: &Task,
    scope: &JValue,
) -> Result<Map<String, Value>, String> {
    if task.module == "assert" {
        return Ok(task.args.clone());
    }
    let mut a = templar
        .render_value(&Value::Object(task.args.clone()), scope)
        .map_err(|e| e.msg)?;
    drop_omitted(&mut a);
    let mut a = match a {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if task.module == "validate_argument_spec"
        && let Some(Value::Object(spec)) = a.get("argument_spec")
    {
        a.insert(
            "__task_vars".into(),
            Value::Object(super::spec_vars::spec_vars(templar, spec, scope)),
        );
    }
    if task.module == "debug"
        && let Some(Value::String(v)) = task.args.get("var")
    {
        let val = templar
            .eval_expression(v, scope)
            .unwrap_or_else(|e| Value::String(format!("VARIABLE IS NOT DEFINED! ({})", e.msg)));
        a.insert("__var_value".into(), val);
    }
    Ok(a)
}

/// `environment:` along the block path, then the task's own; later entries win in the shell.
fn task_environment(
    templar: &Templar,
    inh: &Inherited,
    task: &Task,
    scope: &JValue,
) -> Vec<(String, String)> {
    let mut environment = Vec::new();
    for env in inh.environment.iter().chain(task.common.environment.iter()) {
        if let Ok(Value::Object(m)) = templar.render_value(env, scope) {
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
    environment
}

/// Where the module's live output goes: the event stream, masked, up to
/// [`LIVE_OUTPUT_PER_TASK`] bytes; nothing for a `no_log` task.
fn live_sink(shared: &Arc<Shared>, state: &HostState, task: &Task, hidden: bool) -> modules::Sink {
    let events = shared.clone();
    let host = state.name.clone();
    let task_id = task.id;
    let task_name = task.display_name();
    let live = Mutex::new(LiveOutput::default());
    Arc::new(move |stream, data: &[u8]| {
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
    })
}

/// `(retries, delay in seconds)`: 3 retries by default with `until` (0 without), 5 s between
/// attempts; a value that does not render to a number takes the default.
fn retry_policy(templar: &Templar, task: &Task, scope: &JValue) -> (i64, f64) {
    let retries = task
        .retries
        .as_ref()
        .map(|r| {
            templar
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
            templar
                .render_value(r, scope)
                .ok()
                .and_then(|v| {
                    v.as_f64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .unwrap_or(5.0)
        })
        .unwrap_or(5.0);
    (retries, delay)
}

/// Whether `until` holds for this attempt's result (which it sees under the register name); a
/// condition that cannot be evaluated does not hold.
fn until_met(
    shared: &Arc<Shared>,
    pc: &PlayCtx<'_>,
    state: &HostState,
    inh: &Inherited,
    task: &Task,
    until: &Value,
    r: &ModuleResult,
) -> bool {
    let mut layer = Map::new();
    if let Some(reg) = &task.register {
        layer.insert(reg.clone(), result_json(r, false));
    }
    let s2 = build_scope(shared, pc, state, inh, task, Some(Arc::new(layer)));
    shared.plan.templar.eval_bool(until, &s2).unwrap_or(false)
}

/// The last attempt's result: `attempts` recorded, failed when `until` never held.
fn settle_until(mut r: ModuleResult, attempt: i64, done: bool) -> ModuleResult {
    r.extra.insert("attempts".into(), attempt.into());
    if !done {
        r.failed = true;
        r.msg = Some(format!(
            "Retried {attempt} times; the 'until' condition never became true"
        ));
    }
    r
}

fn cond_text(c: &Value) -> String {
    match c {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testutil::{scope, task};
    use super::*;

    #[test]
    fn when_conditions_inherited_first_skip_or_fail() {
        let tp = Templar::new();
        let s = scope(json!({"x": 1}));
        let mut t = task("command");
        t.common.when = Some(json!("x == 1"));
        assert!(unmet_when(&tp, &Inherited::default(), &t, &s).is_none());
        let inh = Inherited {
            when: vec![json!("x == 2")],
            ..Default::default()
        };
        let r = unmet_when(&tp, &inh, &t, &s).expect("skipped");
        assert!(r.skipped && !r.failed);
        assert_eq!(r.msg.as_deref(), Some("Conditional result was False"));
        t.common.when = Some(json!("nope is defined and nope.x"));
        let inh = Inherited {
            when: vec![json!("undefined_var == 1")],
            ..Default::default()
        };
        let r = unmet_when(&tp, &inh, &t, &s).expect("failed");
        assert!(r.failed);
        let msg = r.msg.unwrap_or_default();
        assert!(
            msg.starts_with("The conditional check 'undefined_var == 1' failed: "),
            "the inherited condition is checked first: {msg}"
        );
    }

    #[test]
    fn retries_default_to_three_with_until_and_delay_to_five_seconds() {
        let tp = Templar::new();
        let s = scope(json!({"n": "4"}));
        assert_eq!(retry_policy(&tp, &task("command"), &s), (0, 5.0));
        let mut t = task("command");
        t.until = Some(json!("out is success"));
        assert_eq!(retry_policy(&tp, &t, &s), (3, 5.0));
        t.retries = Some(json!("{{ n }}"));
        t.delay = Some(json!(0.5));
        assert_eq!(retry_policy(&tp, &t, &s), (4, 0.5));
        t.retries = Some(json!("lots"));
        t.delay = Some(json!("soon"));
        assert_eq!(retry_policy(&tp, &t, &s), (3, 5.0));
    }

    #[test]
    fn until_outcome_records_attempts_and_fails_when_never_met() {
        let r = settle_until(ModuleResult::changed(true), 2, true);
        assert!(!r.failed);
        assert_eq!(r.extra["attempts"], json!(2));
        let r = settle_until(ModuleResult::ok(), 4, false);
        assert!(r.failed);
        assert_eq!(
            r.msg.as_deref(),
            Some("Retried 4 times; the 'until' condition never became true")
        );
    }

    #[test]
    fn module_args_are_rendered_without_omitted_ones() {
        let tp = Templar::new();
        let s = scope(json!({"name": "slm", "omit": OMIT}));
        let mut t = task("postgresql_db");
        t.args = json!({"name": "{{ name }}", "owner": "{{ omit }}",
                        "nested": {"a": OMIT, "b": 1}})
        .as_object()
        .cloned()
        .unwrap_or_default();
        let a = module_args(&tp, &t, &s).unwrap_or_default();
        assert_eq!(Value::Object(a), json!({"name": "slm", "nested": {"b": 1}}));
        let mut t = task("assert");
        t.args = json!({"that": ["{{ name }} == 'x'"]})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            module_args(&tp, &t, &s).unwrap_or_default(),
            t.args,
            "assert's stay text"
        );
        t.module = "debug".into();
        t.args = json!({"var": "name"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let a = module_args(&tp, &t, &s).unwrap_or_default();
        assert_eq!(a["__var_value"], json!("slm"));
        t.args = json!({"var": "nope"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let a = module_args(&tp, &t, &s).unwrap_or_default();
        let shown = a["__var_value"].as_str().unwrap_or_default();
        assert!(shown.starts_with("VARIABLE IS NOT DEFINED!"), "{shown}");
        t.module = "command".into();
        t.args = json!({"cmd": "{{ nope }}"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(module_args(&tp, &t, &s).is_err());
    }

    #[test]
    fn environment_is_inherited_first_and_values_become_text() {
        let tp = Templar::new();
        let s = scope(json!({"lang": "C.UTF-8"}));
        let inh = Inherited {
            environment: vec![json!({"LANG": "{{ lang }}"}), json!("not a map")],
            ..Default::default()
        };
        let mut t = task("command");
        t.common.environment = Some(json!({"PGPORT": 5432, "LANG": "C"}));
        assert_eq!(
            task_environment(&tp, &inh, &t, &s),
            vec![
                ("LANG".to_string(), "C.UTF-8".to_string()),
                ("PGPORT".into(), "5432".into()),
                ("LANG".into(), "C".into()),
            ]
        );
    }

    #[test]
    fn short_cuts_at_80_characters_on_a_char_boundary() {
        assert_eq!(short("abc"), "abc");
        let long = "é".repeat(100);
        let s = short(&long);
        assert_eq!(s.chars().count(), 81);
        assert!(s.ends_with('…'));
    }
}
