//! One task on one host: tags, `run_once`, loops and their items, `when`, `set_fact`, the
//! connection, arguments, retries with `until`; judging and accounting are in `judge`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use minijinja::Value as JValue;
use serde_json::{Map, Value};

use super::r#become::{effective_become, missing_escalation};
use super::judge::{CENSORED, account, emit_result, finish, judge, result_json};
use super::scope::{
    Inherited, bool_kw, build_scope, facts_layer, no_log, register_templated_secrets,
    selected_by_tags, var,
};
use super::{HostState, LIVE_OUTPUT_PER_TASK, LiveOutput, PlayCtx, Shared, publish};
use crate::engine::events::{RunEvent, Status};
use crate::engine::modules::{self, Ctx, ModuleError, ModuleResult, parse_bool};
use crate::playbook::Task;
use crate::template::OMIT;
use crate::transport::{Transport, TransportError};

pub(super) async fn connection(
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

/// Removes arguments equal to `omit`.
pub(super) fn drop_omitted(v: &mut Value) {
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
pub(super) fn title(shared: &Shared, task: &Task, scope: &JValue) -> String {
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

pub(super) fn publish_run_once(shared: &Shared, pc: &PlayCtx<'_>, task: &Task, reg: Value) {
    let cell = {
        let mut map = shared.run_once.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((pc.play_idx, task.id)).or_default().clone()
    };
    let _ = cell.set(reg);
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

pub(super) fn cond_text(c: &Value) -> String {
    match c {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
