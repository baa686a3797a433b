//! Dynamic includes. `include_tasks`: the included tasks run once, or once per item with the
//! item's variables (the loop variable, `ansible_loop_var`, `index_var`, `ansible_loop`) set for
//! them, as ansible-core's dynamic include does; the include's `when` is judged once (per item
//! when it loops) and its tags select the include only (its tasks inherit neither).
//! `include_role` the same way (loops, `when` per item), the role's block run per pass; a role
//! that allows no duplicates runs once per host, a `public` one exports its defaults and vars to
//! the play. Either way the include itself is a result, as in ansible-playbook's recap: ok ("included") for each include (and each item of
//! a looped one) that runs, one skipped result when none does.

use std::sync::Arc;
use std::time::Instant;

use super::blocks::run_items;
use super::judge::finish;
use super::loops::{lookup_context, loop_items, loop_layer};
use super::scope::{Inherited, build_scope, selected_by_tags};
use super::task::{title, unmet_when};
use super::{HostState, PlayCtx, Shared};
use crate::engine::events::RunEvent;
use crate::engine::modules::ModuleResult;
use crate::playbook::{Block, Role, Task};
use minijinja::Value as JValue;

pub(super) async fn run_include(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    b: &Block,
    include: &Task,
    inh: &Inherited,
) {
    let mut tags = inh.tags.clone();
    tags.extend(include.common.tags.iter().cloned());
    if !selected_by_tags(&shared.plan.request, &tags) {
        return;
    }
    if !super::step(shared, pc, state).await {
        return;
    }
    let templar = &shared.plan.templar;
    let scope = build_scope(shared, pc, state, inh, include, None);
    start(shared, state, include, &scope).await;
    let ctx = lookup_context(shared, &inh.roles, include);
    let items = match loop_items(templar, include, &scope, &ctx) {
        Ok(items) => items,
        Err(msg) => {
            // The include fails on this host as a task would.
            report(
                shared,
                pc,
                state,
                include,
                inh,
                &scope,
                ModuleResult::fail(msg),
                None,
            );
            return;
        }
    };
    // Without a loop: one pass, no item variables.
    let passes = items.as_ref().map_or(1, Vec::len);
    for it in items.iter().flatten() {
        shared.plan.redactor.add_named(it, &|_| false);
    }
    let body = inh.with(&b.common);
    // As ansible-core's linear strategy: the include's results for every item come first (its
    // `when` judged per item before any included task runs), then each item's tasks in order.
    let mut included = Vec::new();
    for i in 0..passes {
        if state.stopped || pc.failed || shared.cancel.is_cancelled() {
            return;
        }
        let layer = items
            .as_ref()
            .map(|items| Arc::new(loop_layer(include, items, i)));
        let item = items.as_ref().map(|items| items[i].clone());
        let item_scope = build_scope(shared, pc, state, inh, include, layer.clone());
        if let Some(r) = unmet_when(templar, inh, include, &item_scope) {
            if r.failed {
                report(shared, pc, state, include, inh, &item_scope, r, item);
                return;
            }
            continue;
        }
        report(
            shared,
            pc,
            state,
            include,
            inh,
            &item_scope,
            ModuleResult::ok(),
            item,
        );
        included.push((i, layer, item_scope));
    }
    let ran = !included.is_empty();
    for (i, layer, item_scope) in included {
        if state.stopped || pc.failed || shared.cancel.is_cancelled() {
            return;
        }
        // include_role: a role that ran here with the same parameters and does not allow
        // duplicates is included but runs nothing (ansible-core skips its tasks).
        let role = b.common.role.as_ref();
        let once = role
            .filter(|r| !r.allow_duplicates)
            .map(|r| rendered_identity(templar, r, &item_scope));
        if once
            .as_ref()
            .is_some_and(|id| state.roles_done.contains(id))
        {
            continue;
        }
        if let Some(r) = role.filter(|r| r.public) {
            export(shared, pc, r);
        }
        // The item's variables sit above the include's vars, as in Ansible's included-file vars.
        let mut inner = body.clone();
        inner.vars.extend(layer);
        // Each item's tasks follow the include in the lockstep, item by item.
        pc.path.push(i as u32);
        run_items(shared, pc, state, &b.block, &inner).await;
        pc.path.pop();
        if let Some(id) = once
            && !pc.failed
            && !state.stopped
        {
            state.roles_done.insert(id);
        }
    }
    if !ran {
        let mut r = ModuleResult::ok();
        r.skipped = true;
        r.msg = Some(
            if passes == 0 {
                "No items in the list"
            } else {
                "Conditional result was False"
            }
            .into(),
        );
        report(shared, pc, state, include, inh, &scope, r, None);
    }
}

/// An included role's identity with its `vars` as rendered for this pass: ansible-core tells
/// duplicates apart by their values (a loop's items with `vars: {p: "{{ item }}"}` are distinct
/// roles, a repeated item a duplicate).
fn rendered_identity(templar: &crate::template::Templar, role: &Role, scope: &JValue) -> String {
    if role.entry_vars.is_empty() {
        return role.identity.clone();
    }
    let vars = serde_json::Value::Object(role.entry_vars.as_ref().clone());
    match templar.render_value(&vars, scope) {
        Ok(v) => format!("{}\0{v}", role.identity),
        Err(_) => role.identity.clone(),
    }
}

/// `include_role` with `public: true`: its defaults and vars become the play's for every host
/// from now on (ansible-core appends the loaded role to the play's roles, which all hosts' variables
/// are built from).
fn export(shared: &Shared, pc: &PlayCtx<'_>, role: &Arc<Role>) {
    let mut public = shared
        .public_roles
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if !public
        .iter()
        .any(|(p, r)| *p == pc.play_idx && r.identity == role.identity)
    {
        public.push((pc.play_idx, role.clone()));
    }
}

/// The include's start, as any task's (the execute screen's rows and progress).
pub(super) async fn start(shared: &Shared, state: &HostState, include: &Task, scope: &JValue) {
    shared.events.room().await;
    shared.emit(RunEvent::TaskStart {
        host: state.name.clone(),
        task_id: include.id,
        task: title(shared, include, scope),
        module: include.module.clone(),
        handler: false,
    });
}

/// One result of the include: counted, shown and journaled like a task's.
#[allow(clippy::too_many_arguments)]
pub(super) fn report(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    include: &Task,
    inh: &Inherited,
    scope: &JValue,
    r: ModuleResult,
    item: Option<serde_json::Value>,
) {
    finish(
        shared,
        pc,
        state,
        include,
        inh,
        scope,
        r,
        item,
        Instant::now(),
        false,
    );
}
