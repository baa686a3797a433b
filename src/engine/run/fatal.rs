//! `any_errors_fatal` under the linear strategy, as ansible-core 2.19 does it: once every host
//! of the batch has the results of a task, a fatal failure (or unreachable host) there marks
//! every other host failed (`mark_host_failed`), even when the failing host's own failure is
//! rescued. A marked host goes on as if its own task had failed where it stands: into the
//! rescue or always of its enclosing blocks, else out of the play. The mark counts no failure
//! in the recap, sets no `ansible_failed_*`, and a rescue does not count it as rescued; the
//! host stays out of `ansible_play_hosts` and takes no part in later plays (it is in the
//! TaskQueueManager's failed hosts), rescued or not.

use std::sync::Arc;

use super::scope::{Inherited, build_scope, flag};
use super::{HostState, PlayCtx, Shared, set_removed};
use crate::playbook::Task;

/// A fatal failure: the step (lockstep key), the host that failed there, and whether it was a
/// `run_once` task (Ansible then marks the other hosts twice).
pub(super) type FatalStep = (Vec<u32>, String, bool);

/// The task that failed on this host is fatal to the batch: the others are marked at its step.
pub(super) fn record(shared: &Shared, pc: &PlayCtx<'_>, host: &str, run_once: bool) {
    shared
        .fatal_steps
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((pc.path.clone(), host.to_string(), run_once));
}

/// Whether the task's `any_errors_fatal` is true for this host. A value that is not a boolean
/// was reported where the task was judged; it is not fatal.
pub(super) fn is_fatal(
    shared: &Arc<Shared>,
    pc: &PlayCtx<'_>,
    state: &HostState,
    task: &Task,
    inh: &Inherited,
) -> bool {
    let scope = build_scope(shared, pc, state, inh, task, None);
    matches!(
        flag(
            &shared.plan.templar,
            "any_errors_fatal",
            &task.common.any_errors_fatal,
            &inh.any_errors_fatal,
            &scope,
        ),
        Ok(Some(true))
    )
}

/// After `task` ran on this host: when the task is fatal on failure (`any_errors_fatal`, or
/// `run_once`, which Ansible's linear strategy treats alike), waits until the batch has all of
/// its results and takes the mark if another host failed it fatally.
pub(super) async fn after_step(
    shared: &Arc<Shared>,
    pc: &mut PlayCtx<'_>,
    state: &HostState,
    task: &Task,
    inh: &Inherited,
    run_once: bool,
) {
    let Some(ls) = pc.lockstep.clone() else {
        return;
    };
    if state.stopped {
        return;
    }
    if !run_once {
        if task.common.any_errors_fatal.is_none() && inh.any_errors_fatal.is_none() {
            return;
        }
        if !is_fatal(shared, pc, state, task, inh) {
            return;
        }
    }
    ls.settle(&state.name, &pc.path, &mut pc.permit, &shared.progress)
        .await;
    let (failed_here, this_host_failed, twice) = {
        let steps = shared.fatal_steps.lock().unwrap_or_else(|e| e.into_inner());
        let here: Vec<&FatalStep> = steps.iter().filter(|(k, _, _)| *k == pc.path).collect();
        (
            !here.is_empty(),
            here.iter().any(|(_, h, _)| *h == state.name),
            here.iter().any(|(_, _, once)| *once),
        )
    };
    if failed_here && !this_host_failed {
        mark(shared, pc, &state.name, twice);
    }
}

/// Fails this host where it stands without a failed task of its own (`mark_host_failed`);
/// `twice` for a failed run_once task, which Ansible marks on every host and then again on
/// those that did not run it.
fn mark(shared: &Shared, pc: &mut PlayCtx<'_>, host: &str, twice: bool) {
    set_removed(shared, host, true);
    if !pc.failed {
        pc.failed = true;
        pc.failure_is_mark = true;
        pc.skip_section = twice;
    }
    pc.marked = true;
}
