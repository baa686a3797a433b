//! `meta` tasks on one host, as ansible-core's strategy runs them (`_execute_meta`): their own
//! `when` and the inherited conditions decide whether the action happens, tags select them like
//! any task, and they never count in the recap (ansible's stats see no meta task).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::Value;

use super::blocks::flush_handlers;
use super::scope::{Inherited, build_scope, selected_by_tags};
use super::task::unmet_when;
use super::{HostState, PlayCtx, Shared, set_removed, step};
use crate::playbook::Task;

/// What the host does after a meta task.
pub(super) enum After {
    Continue,
    /// Stop running this list (the host or the play ended).
    Return,
}

/// Plan-time check of a meta action: Ok for those the native engine runs; else the message and
/// whether ansible-core has the action (then it is only not implemented here).
pub fn meta_action_check(action: &str) -> Result<(), (String, bool)> {
    const IMPLEMENTED: &[&str] = &[
        "flush_handlers",
        "end_host",
        "end_play",
        "clear_host_errors",
        "noop",
    ];
    const ANSIBLE_ONLY: &[&str] = &[
        "end_batch",
        "end_role",
        "clear_facts",
        "reset_connection",
        "refresh_inventory",
    ];
    if IMPLEMENTED.contains(&action) {
        Ok(())
    } else if ANSIBLE_ONLY.contains(&action) {
        Err((
            format!("meta action '{action}' is not implemented by the native engine"),
            true,
        ))
    } else {
        let mut valid: Vec<&str> = IMPLEMENTED.iter().chain(ANSIBLE_ONLY).copied().collect();
        valid.sort_unstable();
        Err((
            format!(
                "invalid meta action '{action}'; valid: {}",
                valid.join(", ")
            ),
            false,
        ))
    }
}

pub(super) async fn run_meta(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &mut HostState,
    t: &Task,
    inh: &Inherited,
) -> After {
    let mut tags = inh.tags.clone();
    tags.extend(t.common.tags.iter().cloned());
    if !selected_by_tags(&shared.plan.request, &tags) {
        return After::Continue;
    }
    if !step(shared, pc, state).await {
        return After::Return;
    }
    let action = t
        .args
        .get("_raw_params")
        .and_then(Value::as_str)
        .unwrap_or("");
    // `noop` takes no condition (ansible warns and runs it); the others skip when one is false.
    if action != "noop" {
        let scope = build_scope(shared, pc, state, inh, t, None);
        if let Some(r) = unmet_when(&shared.plan.templar, inh, t, &scope) {
            if r.failed {
                // ansible-playbook stops the whole run on a condition it cannot evaluate here;
                // the native engine fails the host at this task, naming the condition.
                super::judge::finish(
                    shared,
                    pc,
                    state,
                    t,
                    inh,
                    &scope,
                    r,
                    None,
                    Instant::now(),
                    false,
                );
                return After::Return;
            }
            return After::Continue;
        }
    }
    match action {
        "flush_handlers" => flush_handlers(shared, pc, state, inh).await,
        "end_host" => {
            set_removed(shared, &state.name, true);
            state.stopped = true;
            return After::Return;
        }
        "end_play" => {
            shared.abort_play.store(true, Ordering::SeqCst);
            return After::Return;
        }
        // This host's failure no longer counts against the play (the recap keeps it), as
        // Ansible's clear_host_errors does.
        "clear_host_errors" => {
            pc.failed = false;
            pc.fatal = false;
            pc.failure_is_mark = false;
            pc.errors_cleared += 1;
            state.counts.recovered = state.counts.failed;
        }
        _ => {}
    }
    After::Continue
}
