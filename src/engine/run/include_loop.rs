//! A looped `include_tasks`: the included tasks run once per item, with the item's variables
//! (the loop variable, `ansible_loop_var`, `index_var`, `ansible_loop`) set for them, as
//! ansible-core's dynamic include does. The include's `when` is judged per item and its tags
//! select the include only (its tasks do not inherit them).

use std::sync::Arc;
use std::time::Instant;

use super::blocks::run_items;
use super::judge::finish;
use super::loops::{lookup_context, loop_items, loop_layer};
use super::scope::{Inherited, build_scope, selected_by_tags};
use super::task::unmet_when;
use super::{HostState, PlayCtx, Shared};
use crate::engine::modules::ModuleResult;
use crate::playbook::{Block, Task};

pub(super) async fn run_include_loop(
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
    let ctx = lookup_context(shared, &inh.roles, include);
    let items = match loop_items(templar, include, &scope, &ctx) {
        Ok(items) => items.unwrap_or_default(),
        Err(msg) => {
            // The include fails on this host as a task would.
            let r = ModuleResult::fail(msg);
            finish(
                shared,
                pc,
                state,
                include,
                inh,
                &scope,
                r,
                None,
                Instant::now(),
                false,
            );
            return;
        }
    };
    for it in &items {
        shared.plan.redactor.add_named(it, &|_| false);
    }
    let body = inh.with(&b.common);
    for i in 0..items.len() {
        if state.stopped || pc.failed || shared.cancel.is_cancelled() {
            return;
        }
        let layer = Arc::new(loop_layer(include, &items, i));
        let item_scope = build_scope(shared, pc, state, inh, include, Some(layer.clone()));
        if let Some(r) = unmet_when(templar, &Inherited::default(), include, &item_scope) {
            if r.failed {
                finish(
                    shared,
                    pc,
                    state,
                    include,
                    inh,
                    &item_scope,
                    r,
                    Some(items[i].clone()),
                    Instant::now(),
                    false,
                );
                return;
            }
            continue;
        }
        // The item's variables sit above the include's vars, as in Ansible's included-file vars.
        let mut inner = body.clone();
        inner.vars.push(layer);
        // Each item's tasks follow the include in the lockstep, item by item.
        pc.path.push(i as u32);
        run_items(shared, pc, state, &b.block, &inner).await;
        pc.path.pop();
    }
}
